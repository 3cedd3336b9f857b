// oneclass/detectors/detail/gaussian_component.hpp - one full-covariance Gaussian, fitted from
// (weighted) rows and evaluated by GEMM. Shared by GDE (one component) and GMM (k components).
//
// With Sigma = L L^T (Cholesky) and W = L^{-T}, the log density of a row x is
//     log N(x) = -0.5 * (d log(2 pi) + log det Sigma + ||(x - mu) W||^2)
// so scoring a block of rows is one GEMM against W plus row norms (as sklearn's
// GaussianMixture does with its "precisions_cholesky"). Everything is double precision: pixel
// features have near-zero variances, where float Mahalanobis distances lose all their digits.
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/binary_io.hpp>
#include <oneclass/linalg/gemm.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/simd/simd.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <oneclass/core/intrinsics.hpp>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <cmath>
#include <numbers>
#include <vector>

namespace oneclass::detail {

struct gaussian_component {
    std::vector<double> mean;   // d
    matrix<double> W;           // d x d, upper triangular: L^{-T}
    double log_det = 0;         // log det Sigma

    std::size_t dim() const noexcept { return mean.size(); }

    /// Fits mean and covariance from the rows of X (n x d) with weights w (nullptr = all 1),
    /// adding reg_covar to the diagonal. Throws oneclass::error if Sigma is not positive definite.
    static gaussian_component fit(matrix_view<const double> X, const double* w, double reg_covar, const char* where) {
        const std::size_t n = X.rows(), d = X.cols();
        gaussian_component g;
        g.mean.assign(d, 0.0);
        double wsum = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double wi = w ? w[i] : 1.0;
            wsum += wi;
            const double* r = X.row(i);
            for (std::size_t j = 0; j < d; ++j) g.mean[j] += wi * r[j];
        }
        wsum += 10 * std::numeric_limits<double>::epsilon();  // as sklearn: keeps empty components finite
        for (auto& m : g.mean) m /= wsum;
        // Sigma = sum_i w_i (x_i - mu)(x_i - mu)^T / wsum, via one GEMM on sqrt(w)-scaled rows.
        matrix<double> C(n, d);
        for (std::size_t i = 0; i < n; ++i) {
            const double s = w ? std::sqrt(std::max(w[i], 0.0)) : 1.0;
            const double* r = X.row(i);
            double* c = C.row(i);
            for (std::size_t j = 0; j < d; ++j) c[j] = s * (r[j] - g.mean[j]);
        }
        matrix<double> S(d, d);
        linalg::syrk_tn<double>(C.view(), S.view(), 1.0 / wsum);  // symmetric: one triangle, mirrored
        for (std::size_t j = 0; j < d; ++j) S(j, j) += reg_covar;
        g.set_covariance(S, reg_covar, where);
        return g;
    }

    void set_covariance(const matrix<double>& S, double reg_covar, const char* where) {
        const std::size_t d = S.rows();
        Eigen::LLT<Eigen::MatrixXd> llt(as_eigen(S.view()));
        if (llt.info() != Eigen::Success)
            fail<error>(where, "the covariance is not positive definite after adding reg_covar = ", reg_covar,
                        " to its diagonal (features are collinear or constant; increase reg_covar)");
        const Eigen::MatrixXd L = llt.matrixL();
        log_det = 0;
        for (std::size_t j = 0; j < d; ++j) log_det += 2.0 * std::log(L(Eigen::Index(j), Eigen::Index(j)));
        // W = L^{-T}: solve L^T W = I (upper triangular).
        Eigen::MatrixXd Wm = Eigen::MatrixXd::Identity(Eigen::Index(d), Eigen::Index(d));
        L.transpose().triangularView<Eigen::Upper>().solveInPlace(Wm);
        W = matrix<double>(d, d);
        as_eigen(W.view()) = Wm;
    }

    /// out[i] = log N(x_i) for the rows of X (double, already preprocessed), blocks in parallel.
    void log_density_parallel(matrix_view<const double> X, double* out, std::size_t block = 256) const {
        parallel::for_chunks(0, X.rows(), block, [&](std::size_t lo, std::size_t hi) {
            matrix<double> scratch;
            log_density(X.middle_rows(lo, hi - lo), out + lo, scratch);
        });
    }

    /// out[i] = log N(x_i) for the rows of X (double, already preprocessed), serially; scratch is
    /// left holding z = (x - mu) W, row by row (GDE's gradient continues from it).
    void log_density(matrix_view<const double> X, double* out, matrix<double>& scratch) const {
        const std::size_t n = X.rows(), d = dim();
        if (scratch.rows() != n || scratch.cols() != d) scratch = matrix<double>(n, d);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < d; ++j) scratch(i, j) = X(i, j) - mean[j];
        linalg::trmm_right_upper<double>(scratch.view(), W.view());  // z = (x - mu) W, W = L^{-T} upper triangular
        const matrix<double>& Z = scratch;
        const double c0 = double(d) * std::log(2.0 * std::numbers::pi) + log_det;
        for (std::size_t i = 0; i < n; ++i) {
            const double* z = Z.row(i);
            double q = 0;
            for (std::size_t j = 0; j < d; ++j) q += z[j] * z[j];
            out[i] = -0.5 * (c0 + q);
        }
    }

    void save(binary_writer& w) const {
        w.put_vector(mean);
        w.put<double>(log_det);
        w.put_array(W.data(), W.size());
    }
    static gaussian_component load(binary_reader& r) {
        gaussian_component g;
        g.mean = r.get_vector<double>();
        g.log_det = r.get<double>();
        auto wv = r.get_vector<double>();
        const std::size_t d = g.mean.size();
        if (d == 0 || wv.size() != d * d || !std::isfinite(g.log_det))
            fail<io_error>("load", r.what(), " holds an inconsistent Gaussian component");
        g.W = matrix<double>(d, d, std::span<const double>(wv));
        return g;
    }
};

/// Copy of rows [lo, hi) of X as double, L2-normalised in T first if asked (exactly as
/// linalg::l2_normalize_rows does, so GDE/GMM see the same numbers as the other detectors).
template <class T>
void rows_as_double(matrix_view<const T> X, std::size_t lo, std::size_t hi, bool l2, matrix<double>& out) {
    const std::size_t b = hi - lo, d = X.cols();
    if (out.rows() != b || out.cols() != d) out = matrix<double>(b, d);
    for (std::size_t i = 0; i < b; ++i) {
        const T* r = X.row(lo + i);
        double* o = out.row(i);
        const double nrm = l2 ? std::sqrt(double(simd::squared_norm(r, d))) : 0.0;
        if (nrm > 0) {
            const T inv = T(1.0 / nrm);
            for (std::size_t j = 0; j < d; ++j) o[j] = double(r[j] * inv);
        } else {
            for (std::size_t j = 0; j < d; ++j) o[j] = double(r[j]);
        }
    }
}

}  // namespace oneclass::detail
