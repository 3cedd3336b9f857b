// oneclass/mpi/sharded.hpp - detectors over a training set split across the ranks of a
// communicator, and scoring split across ranks.
//
// * sharded_kde_scores / sharded_knn_scores: every rank holds a disjoint shard of the training
//   rows (so the set may exceed one machine's memory) and the same queries; each scores the
//   queries against its shard (kde::partial_score, knn::partial_nearest), the parts are gathered
//   and merged in rank order on every rank. kNN is exact; KDE equals the single-model score up to
//   the order of its sums (the shards' exponential sums are added after rescaling to the common
//   minimum: a few float roundings of the score, see tests/test_mpi.cpp).
// * split_scores: every rank holds the whole detector and scores its block of the queries
//   (shard_rows); the blocks are gathered, so every rank gets all scores: one process's, up to
//   the rounding a BLAS may give the same rows in a GEMM of another shape.
// * split_rows: any per-row computation split the same way (the CLI's detectors of any type).
// * shard_rows: the contiguous block of n rows a rank holds, a function of (n, rank, size) only.
//
//     oneclass::mpi::communicator comm;
//     auto [lo, hi] = oneclass::mpi::shard_rows(n, comm.rank(), comm.size());
//     auto s = oneclass::mpi::sharded_kde_scores<float>(comm, train.view().middle_rows(lo, hi - lo), test.view());
#pragma once

#include <oneclass/core/shard.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/detectors/knn.hpp>
#include <oneclass/mpi/communicator.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace oneclass::mpi {

using oneclass::row_range;
using oneclass::shard_rows;

namespace detail {
/// Every rank must pass queries of one shape and a training shard of their width (checked on
/// every rank alike: one rank's mismatch is every rank's exception).
template <class T>
void check_shapes(const communicator& comm, matrix_view<const T> local_train, matrix_view<const T> queries, const char* who) {
    comm.agree([&] {
        require(local_train.rows() == 0 || local_train.cols() == queries.cols(), who, "the training shard has ",
                local_train.cols(), " columns, the queries ", queries.cols());
    });
    const auto shapes = comm.all_gather(std::vector<std::uint64_t>{queries.rows(), queries.cols(), local_train.rows()});
    std::uint64_t total = 0;
    for (int r = 0; r < comm.size(); ++r) {
        const auto& s = shapes[std::size_t(r)];
        require(s[0] == queries.rows() && s[1] == queries.cols(), who, "rank ", r, " holds ", s[0], " x ", s[1],
                " queries, rank ", comm.rank(), " ", queries.rows(), " x ", queries.cols(), " (every rank scores the same queries)");
        total += s[2];
    }
    require(total >= 1, who, "no rank holds a training row");
}

template <class T>
std::vector<T> concat(const std::vector<std::vector<T>>& parts) {
    std::vector<T> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
}  // namespace detail

/// The paper's default kernel width 10 / (d Var) over the union of every rank's rows, after the
/// normalisation `n` (as default_gamma computes it on one machine): the mean, then the squared
/// deviations, each summed per rank and then across ranks in rank order.
template <class T>
double sharded_default_gamma(const communicator& comm, matrix_view<const T> local_train, normalization n) {
    const matrix<T> X = local_train.rows() ? oneclass::detail::preprocess(local_train, n) : matrix<T>();
    double sum = 0, ss = 0;
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.cols(); ++j) sum += X(i, j);
    const double entries = comm.sum(double(X.rows()) * double(X.cols()));
    require(entries > 0, "mpi::sharded_default_gamma", "no rank holds a training row");
    const double mean = comm.sum(sum) / entries;
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.cols(); ++j) ss += (X(i, j) - mean) * (X(i, j) - mean);
    const double var = comm.sum(ss) / entries;
    const auto widths = comm.all_gather(std::vector<std::uint64_t>{X.cols()});
    std::uint64_t d = 0;
    for (const auto& w : widths) d = std::max(d, w[0]);
    require(var > 1e-10 * (mean * mean + var), "mpi::sharded_default_gamma", "the training rows are (numerically) identical ",
            "(variance ", var, "); pass gamma explicitly or check the features");
    return 10.0 / (double(d) * var);
}

/// KDE scores of `queries` (the same on every rank) against the union of the ranks' training
/// shards, on every rank. gamma 0 in `p`: the default over the whole set (sharded_default_gamma).
template <class T>
std::vector<T> sharded_kde_scores(const communicator& comm, matrix_view<const T> local_train, matrix_view<const T> queries,
                                  kde_params<T> p = {}) {
    detail::check_shapes(comm, local_train, queries, "mpi::sharded_kde_scores");
    if (queries.rows() == 0) return {};
    const double gamma = p.gamma > 0 ? double(p.gamma) : sharded_default_gamma(comm, local_train, p.normalize);
    kde_partial<T> mine{std::vector<T>(queries.rows(), std::numeric_limits<T>::infinity()), std::vector<double>(queries.rows(), 0.0)};
    if (local_train.rows() > 0) {  // an empty shard adds nothing: min +inf, sum 0
        p.gamma = T(gamma);
        kde<T> det(p);
        (void)det.fit(local_train);
        mine = det.partial_score(queries);
    }
    const auto mins = comm.all_gather(mine.min);
    const auto sums = comm.all_gather(mine.sum);
    std::vector<kde_partial<T>> parts;
    for (int r = 0; r < comm.size(); ++r)
        if (sums[std::size_t(r)].size() && sums[std::size_t(r)][0] > 0) parts.push_back({mins[std::size_t(r)], sums[std::size_t(r)]});
    return kde<T>::merge_partials(parts, gamma);
}

/// kNN scores of `queries` (the same on every rank) against the union of the ranks' training
/// shards, on every rank; exact.
template <class T>
std::vector<T> sharded_knn_scores(const communicator& comm, matrix_view<const T> local_train, matrix_view<const T> queries,
                                  knn_params<T> p = {}) {
    detail::check_shapes(comm, local_train, queries, "mpi::sharded_knn_scores");
    require(p.k >= 1, "mpi::sharded_knn_scores", "k must be >= 1");
    const std::uint64_t total = std::uint64_t(comm.sum(double(local_train.rows())));
    require(total >= p.k, "mpi::sharded_knn_scores", "k = ", p.k, " needs at least ", p.k, " training rows, the ranks hold ", total);
    std::vector<T> mine(queries.rows() * p.k, std::numeric_limits<T>::infinity());
    if (local_train.rows() > 0) {
        auto local = p;
        local.k = 1;  // a shard may hold fewer than k rows; partial_nearest pads with +inf
        knn<T> det(local);
        (void)det.fit(local_train);
        const matrix<T> near = det.partial_nearest(queries, p.k);
        std::copy_n(near.data(), mine.size(), mine.begin());
    }
    const auto gathered = comm.all_gather(mine);
    std::vector<matrix<T>> parts;
    for (const auto& g : gathered) {
        matrix<T> m(queries.rows(), p.k);
        std::copy(g.begin(), g.end(), m.data());
        parts.push_back(std::move(m));
    }
    return knn<T>::merge_nearest(parts, p);
}

/// One value per row of n, each rank computing its block: f(lo, hi) gives rows [lo, hi)
/// (shard_rows); the blocks are gathered in order, so every rank gets all n.
template <class T, class F>
std::vector<T> split_rows(const communicator& comm, std::size_t n, F&& f) {
    const auto [lo, hi] = shard_rows(n, comm.rank(), comm.size());
    std::vector<T> mine;
    if (hi > lo) {  // a rank with no rows (fewer than ranks) still takes part in the gather
        const auto s = f(lo, hi);
        mine.assign(s.begin(), s.end());
    }
    auto all = detail::concat(comm.all_gather(mine));
    require(all.size() == n, "mpi::split_rows", "the ranks computed ", all.size(), " rows of ", n,
            " (every rank must pass the same rows)");
    return all;
}

/// Scores of all `queries` by a detector every rank holds whole, each rank scoring its block
/// (split_rows), on every rank.
template <Detector D>
std::vector<typename D::value_type> split_scores(const communicator& comm, const D& det,
                                                 matrix_view<const typename D::value_type> queries) {
    comm.agree([&] {
        require(det.fitted() && queries.cols() == det.dim(), "mpi::split_scores", "queries of ", queries.cols(),
                " columns for a ", det.fitted() ? "" : "un", "fitted detector of ", det.dim());
    });
    return split_rows<typename D::value_type>(
        comm, queries.rows(), [&](std::size_t lo, std::size_t hi) { return det.score(queries.middle_rows(lo, hi - lo)); });
}

}  // namespace oneclass::mpi
