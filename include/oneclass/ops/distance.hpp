// oneclass/ops/distance.hpp - blocked squared Euclidean distances for the detectors' hot paths.
//
//     ||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y
//
// The cross term of a block of query rows against all reference rows is one GEMM; the norms are
// added and the result clamped at 0 (cancellation can make it slightly negative). Callers walk
// the queries in blocks, so memory stays O(block x n_ref), never O(n_query x n_ref). The scalar
// twin in ops/ref/distance.hpp is the test oracle.
#pragma once

#include <oneclass/ops/gemm.hpp>
#include <oneclass/simd/simd.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <cstddef>
#include <vector>

namespace oneclass::ops {

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

}  // namespace oneclass::ops
