// oneclass/linalg/ref/distance.hpp - scalar double-precision twins of linalg/distance.hpp (test oracles).
#pragma once

#include <oneclass/tensor/matrix.hpp>

#include <cstddef>

namespace oneclass::linalg::ref {

/// ||a - b||^2 accumulated in double, term by term (no norm expansion, so no cancellation).
template <class T>
double squared_distance(const T* a, const T* b, std::size_t d) {
    double s = 0;
    for (std::size_t k = 0; k < d; ++k) {
        const double t = double(a[k]) - double(b[k]);
        s += t * t;
    }
    return s;
}

}  // namespace oneclass::linalg::ref
