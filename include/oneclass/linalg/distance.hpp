// oneclass/linalg/distance.hpp - blocked squared Euclidean distances, row normalisation and the RBF
// kernel: what the detectors' hot paths are made of.
//
//     ||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y
//
// The cross term of a block of query rows against all reference rows is one GEMM; the norms are
// added and the result clamped at 0 (cancellation can make it slightly negative). Callers walk
// the queries in blocks, so memory stays O(block x n_ref), never O(n_query x n_ref). The scalar
// twin in linalg/ref/distance.hpp is the test oracle.
#pragma once

#include <oneclass/linalg/gemm.hpp>
#include <oneclass/simd/simd.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace oneclass::linalg {

/// Squared L2 norm of every row.
template <class T>
std::vector<T> row_squared_norms(matrix_view<const T> X) {
    std::vector<T> out(X.rows());
    for (std::size_t i = 0; i < X.rows(); ++i) out[i] = simd::squared_norm(X.row(i), X.cols());
    return out;
}

/// D(i, j) = ||q_i - r_j||^2 for a block of queries Q (b x d) against references R (n x d).
/// `q_norms` / `r_norms` are the rows' squared norms; D must be b x n.
template <class T>
void squared_distances(matrix_view<const T> Q, const T* q_norms, matrix_view<const T> R, const T* r_norms,
                       matrix_view<T> D) {
    gemm_nt<T>(Q, R, D, T(-2), T(0));
    for (std::size_t i = 0; i < Q.rows(); ++i) simd::add_norms_clamp(D.row(i), r_norms, q_norms[i], R.rows());
}

/// Each row divided by its L2 norm (zero rows stay zero).
template <class T>
void l2_normalize_rows(matrix_view<T> X) {
    for (std::size_t i = 0; i < X.rows(); ++i) {
        T* r = X.row(i);
        const double n = std::sqrt(double(simd::squared_norm(r, X.cols())));
        if (n > 0) {
            const T inv = T(1.0 / n);
            for (std::size_t j = 0; j < X.cols(); ++j) r[j] *= inv;
        }
    }
}

/// The RBF kernel from dot products, in place: out[t] = exp(-gamma max(0, ni + norms[t] - 2 out[t]))
/// for t in [lo, hi), where out holds x_i . x_t and ni, norms the squared norms.
template <class T>
void rbf_from_dots(T* out, std::size_t lo, std::size_t hi, T ni, const T* norms, T gamma) {
    for (std::size_t t = lo; t < hi; ++t) out[t] = std::max(T(0), ni + norms[t] - T(2) * out[t]);
    simd::exp_affine_inplace(out + lo, hi - lo, -gamma, T(0));
}

}  // namespace oneclass::linalg
