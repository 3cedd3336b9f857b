// oneclass/eval/uniformity.hpp - how uniformly features cover the unit sphere (Sohn et al. 2021,
// section 5.1: contrastive features are near uniform, which hurts one-class detection; DistAug and
// smaller batches make them less so).
//
//   uniformity(X)            Wang and Isola's log mean_{i<j} exp(-t ||x_i - x_j||^2), t = 2, over
//                            the L2-normalised rows: 0 when all rows coincide, lower = more uniform
//                            (about -3.8 for uniform points on a high-dimensional sphere)
//   mmd2_to_sphere(X, sigma) the unbiased MMD^2 between the normalised rows and as many seeded
//                            samples drawn uniformly on the unit sphere, Gaussian kernel
//                            exp(-||x - y||^2 / (2 sigma^2)): near 0 for uniform features
//   mmd2_unbiased(X, Y, s)   the same between any two samples
//
// Exact and deterministic: all pair terms in double, blocks of rows against all rows by GEMM (never
// n x n in memory), each row's sum kept apart and the rows added in order, so the result does not
// depend on the thread count. O(n^2 d) flops.
#pragma once

#include <oneclass/core/rng.hpp>
#include <oneclass/linalg/blocked.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <cmath>
#include <vector>

namespace oneclass {

namespace detail {
/// X as double, rows L2-normalised if asked (zero rows stay zero).
template <class T>
matrix<double> as_double(matrix_view<const T> X, bool l2) {
    matrix<double> D(X.rows(), X.cols());
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.cols(); ++j) D(i, j) = double(X(i, j));
    if (l2) linalg::l2_normalize_rows(D.view());
    return D;
}

/// sum over i of sum over j (j != i when `same`) of f(||a_i - b_j||^2), deterministically.
template <class F>
double pair_sum(const matrix<double>& A, const matrix<double>& B, bool same, F&& f) {
    const auto bn = linalg::row_squared_norms<double>(B.view());
    std::vector<double> per_row(A.rows(), 0.0);
    const std::size_t m = B.rows();
    linalg::for_each_distance_row<double>(A.view(), false, B.view(), bn, 64, [&](std::size_t i, const double* d2) {
        double s = 0;
        for (std::size_t j = 0; j < m; ++j)
            if (!same || j != i) s += f(d2[j]);
        per_row[i] = s;
    });
    double total = 0;
    for (double v : per_row) total += v;
    return total;
}

template <class T>
void check_rows(matrix_view<const T> X, std::size_t min_rows, const char* where) {
    require(X.rows() >= min_rows, where, "needs at least ", min_rows, " rows, got ", X.rows());
    require(X.cols() >= 1, where, "the rows have no columns");
    require_finite(X, where, "the features");
}
}  // namespace detail

/// Wang and Isola's uniformity of the L2-normalised rows of X: log of the mean of
/// exp(-t ||x_i - x_j||^2) over the pairs i < j.
template <class T>
double uniformity(matrix_view<const T> X, double t = 2.0) {
    detail::check_rows(X, 2, "uniformity");
    require(std::isfinite(t) && t > 0, "uniformity", "t must be > 0, got ", t);
    const matrix<double> D = detail::as_double(X, true);
    const double n = double(X.rows());
    // both orders of each pair are summed, hence n (n - 1) terms for the n (n - 1) / 2 pairs
    const double s = detail::pair_sum(D, D, true, [t](double d2) { return std::exp(-t * d2); });
    return std::log(s / (n * (n - 1)));
}

/// The unbiased estimate of MMD^2 between samples X and Y (rows; used as given), Gaussian kernel
/// of width sigma.
template <class T>
double mmd2_unbiased(matrix_view<const T> X, matrix_view<const T> Y, double sigma = 1.0) {
    detail::check_rows(X, 2, "mmd2_unbiased");
    detail::check_rows(Y, 2, "mmd2_unbiased");
    require(X.cols() == Y.cols(), "mmd2_unbiased", "the samples have ", X.cols(), " and ", Y.cols(), " columns");
    require(std::isfinite(sigma) && sigma > 0, "mmd2_unbiased", "sigma must be > 0, got ", sigma);
    const matrix<double> A = detail::as_double(X, false), B = detail::as_double(Y, false);
    const double g = 1.0 / (2 * sigma * sigma), n = double(A.rows()), m = double(B.rows());
    auto k = [g](double d2) { return std::exp(-g * d2); };
    const double xx = detail::pair_sum(A, A, true, k), yy = detail::pair_sum(B, B, true, k), xy = detail::pair_sum(A, B, false, k);
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m);
}

/// n points uniform on the unit sphere in R^d: normal vectors, normalised (seeded).
inline matrix<double> sphere_samples(std::size_t n, std::size_t d, std::uint64_t seed) {
    require(d >= 1, "sphere_samples", "dimension must be >= 1");
    matrix<double> S(n, d);
    rng r(seed);
    for (std::size_t i = 0; i < n; ++i) {
        double nrm = 0;
        do {
            nrm = 0;
            for (std::size_t j = 0; j < d; ++j) nrm += (S(i, j) = r.normal()) * S(i, j);
        } while (nrm == 0);
        for (std::size_t j = 0; j < d; ++j) S(i, j) /= std::sqrt(nrm);
    }
    return S;
}

/// MMD^2 (unbiased) between the L2-normalised rows of X and as many uniform samples on the sphere.
template <class T>
double mmd2_to_sphere(matrix_view<const T> X, double sigma = 1.0, std::uint64_t seed = 0) {
    detail::check_rows(X, 2, "mmd2_to_sphere");
    const matrix<double> D = detail::as_double(X, true);
    const matrix<double> S = sphere_samples(X.rows(), X.cols(), seed);
    return mmd2_unbiased<double>(D.view(), S.view(), sigma);
}

}  // namespace oneclass
