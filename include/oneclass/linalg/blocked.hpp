// oneclass/linalg/blocked.hpp - the blocked "queries against the training set" loop
// shared by KDE, kNN and the RBF OC-SVM's scoring.
//
// Queries are taken `block` rows at a time (in parallel over blocks): each block is copied and
// preprocessed into a per-thread buffer, its squared distances to all reference rows computed by
// one GEMM, and `row_fn(global_row, distances_row)` reduces each row to a score. Memory is
// O(block x n_ref) per thread; blocks are independent, so results do not depend on threads.
// for_each_weighted_row is its gradient companion: the distances become weights over the
// references, and a second GEMM gives each query's weighted sum of reference rows.
#pragma once

#include <oneclass/core/intrinsics.hpp>  // first: before any header that pulls in <immintrin.h>

#include <oneclass/linalg/distance.hpp>
#include <oneclass/parallel/parallel.hpp>

#include <tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace oneclass::linalg {

namespace detail {
template <class T>
struct block_scratch {
    std::vector<T> q, qn, d, wr;
};
/// Rows [lo, hi) of the queries, preprocessed, into s.q (b x dim), and their squared distances to
/// the references into s.d (b x n).
template <class T>
void distance_block(matrix_view<const T> queries, bool l2_rows, matrix_view<const T> refs, const std::vector<T>& ref_norms,
                    std::size_t lo, std::size_t hi, block_scratch<T>& s) {
    const std::size_t b = hi - lo, n = refs.rows(), dim = refs.cols();
    s.q.resize(b * dim);
    s.qn.resize(b);
    s.d.resize(b * n);
    matrix_view<T> Q(s.q.data(), b, dim);
    for (std::size_t i = 0; i < b; ++i) std::copy_n(queries.row(lo + i), dim, Q.row(i));
    if (l2_rows) l2_normalize_rows(Q);
    for (std::size_t i = 0; i < b; ++i) s.qn[i] = simd::squared_norm(Q.row(i), dim);
    squared_distances<T>(Q, s.qn.data(), refs, ref_norms.data(), matrix_view<T>(s.d.data(), b, n));
}
}  // namespace detail

template <class T, class RowFn>
void for_each_distance_row(matrix_view<const T> queries, bool l2_rows, matrix_view<const T> refs,
                           const std::vector<T>& ref_norms, std::size_t block, RowFn&& row_fn) {
    tbb::enumerable_thread_specific<detail::block_scratch<T>> tls;
    const std::size_t n = refs.rows();
    parallel::for_chunks(0, queries.rows(), std::max<std::size_t>(1, block), [&](std::size_t lo, std::size_t hi) {
        detail::block_scratch<T>& s = tls.local();
        detail::distance_block(queries, l2_rows, refs, ref_norms, lo, hi, s);
        for (std::size_t i = 0; i < hi - lo; ++i) row_fn(lo + i, s.d.data() + i * n);
    });
}

/// As for_each_distance_row, for scores whose gradient is a weighted sum of reference rows (KDE,
/// the RBF OC-SVM): `weight_fn(global_row, d2w)` reduces the row of squared distances to the score
/// and overwrites it with weights w_j, then `finish_fn(global_row, u, wr)` gets the preprocessed
/// query u and wr = sum_j w_j r_j (one GEMM per block).
template <class T, class WeightFn, class FinishFn>
void for_each_weighted_row(matrix_view<const T> queries, bool l2_rows, matrix_view<const T> refs,
                           const std::vector<T>& ref_norms, std::size_t block, WeightFn&& weight_fn, FinishFn&& finish_fn) {
    tbb::enumerable_thread_specific<detail::block_scratch<T>> tls;
    const std::size_t n = refs.rows(), dim = refs.cols();
    parallel::for_chunks(0, queries.rows(), std::max<std::size_t>(1, block), [&](std::size_t lo, std::size_t hi) {
        detail::block_scratch<T>& s = tls.local();
        detail::distance_block(queries, l2_rows, refs, ref_norms, lo, hi, s);
        const std::size_t b = hi - lo;
        for (std::size_t i = 0; i < b; ++i) weight_fn(lo + i, s.d.data() + i * n);
        s.wr.resize(b * dim);
        gemm_nn<T>(matrix_view<const T>(s.d.data(), b, n), refs, matrix_view<T>(s.wr.data(), b, dim), T(1), T(0));
        for (std::size_t i = 0; i < b; ++i)
            finish_fn(lo + i, static_cast<const T*>(s.q.data() + i * dim), static_cast<const T*>(s.wr.data() + i * dim));
    });
}

}  // namespace oneclass::linalg
