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

template <class T, class RowFn>
void for_each_distance_row(matrix_view<const T> queries, bool l2_rows, matrix_view<const T> refs,
                           const std::vector<T>& ref_norms, std::size_t block, RowFn&& row_fn) {
    struct scratch {
        std::vector<T> q, qn, d;
    };
    tbb::enumerable_thread_specific<scratch> tls;
    const std::size_t n = refs.rows(), dim = refs.cols();
    block = std::max<std::size_t>(1, block);
    parallel::for_chunks(0, queries.rows(), block, [&](std::size_t lo, std::size_t hi) {
        scratch& s = tls.local();
        const std::size_t b = hi - lo;
        s.q.resize(b * dim);
        s.qn.resize(b);
        s.d.resize(b * n);
        matrix_view<T> Q(s.q.data(), b, dim);
        for (std::size_t i = 0; i < b; ++i) std::copy_n(queries.row(lo + i), dim, Q.row(i));
        if (l2_rows) l2_normalize_rows(Q);
        for (std::size_t i = 0; i < b; ++i) s.qn[i] = simd::squared_norm(Q.row(i), dim);
        matrix_view<T> D(s.d.data(), b, n);
        squared_distances<T>(Q, s.qn.data(), refs, ref_norms.data(), D);
        for (std::size_t i = 0; i < b; ++i) row_fn(lo + i, D.row(i));
    });
}

/// As for_each_distance_row, for scores whose gradient is a weighted sum of reference rows (KDE,
/// the RBF OC-SVM): `weight_fn(global_row, d2w)` reduces the row of squared distances to the score
/// and overwrites it with weights w_j, then `finish_fn(global_row, u, wr)` gets the preprocessed
/// query u and wr = sum_j w_j r_j (one GEMM per block).
template <class T, class WeightFn, class FinishFn>
void for_each_weighted_row(matrix_view<const T> queries, bool l2_rows, matrix_view<const T> refs,
                           const std::vector<T>& ref_norms, std::size_t block, WeightFn&& weight_fn, FinishFn&& finish_fn) {
    struct scratch {
        std::vector<T> q, qn, d, wr;
    };
    tbb::enumerable_thread_specific<scratch> tls;
    const std::size_t n = refs.rows(), dim = refs.cols();
    block = std::max<std::size_t>(1, block);
    parallel::for_chunks(0, queries.rows(), block, [&](std::size_t lo, std::size_t hi) {
        scratch& s = tls.local();
        const std::size_t b = hi - lo;
        s.q.resize(b * dim);
        s.qn.resize(b);
        s.d.resize(b * n);
        s.wr.resize(b * dim);
        matrix_view<T> Q(s.q.data(), b, dim);
        for (std::size_t i = 0; i < b; ++i) std::copy_n(queries.row(lo + i), dim, Q.row(i));
        if (l2_rows) l2_normalize_rows(Q);
        for (std::size_t i = 0; i < b; ++i) s.qn[i] = simd::squared_norm(Q.row(i), dim);
        matrix_view<T> D(s.d.data(), b, n);
        squared_distances<T>(Q, s.qn.data(), refs, ref_norms.data(), D);
        for (std::size_t i = 0; i < b; ++i) weight_fn(lo + i, D.row(i));
        matrix_view<T> WR(s.wr.data(), b, dim);
        gemm_nn<T>(D, refs, WR, T(1), T(0));
        for (std::size_t i = 0; i < b; ++i) finish_fn(lo + i, static_cast<const T*>(Q.row(i)), static_cast<const T*>(WR.row(i)));
    });
}

}  // namespace oneclass::linalg
