// oneclass/detectors/ocsvm.hpp - nu one-class SVM (Schoelkopf et al. 2001), solved by our SMO.
//
// Score (an anomaly score: HIGHER = MORE ANOMALOUS):
//
//     s(x) = rho - sum_i alpha_i K(x_i, x)
//
// i.e. the negated libsvm / sklearn decision function (positive outside the estimated support).
// alpha solves min 0.5 a^T K a, 0 <= a_i <= 1, sum a_i = nu l (detectors/detail/smo.hpp);
// nu upper-bounds the fraction of training outliers and lower-bounds that of support vectors.
// Kernels: RBF K = exp(-gamma ||x - y||^2) and linear K = x.y (which keeps the primal
// w = sum_i alpha_i x_i, so scoring is O(d)).
//
//     oneclass::ocsvm<float> det({.nu = 0.5});   // RBF, gamma = 10 / (d Var), L2 normalisation
//     auto report = det.fit(train);               // report.iterations, report.objective
//     auto s = det.score(test);
//     det.rho(); det.support_vectors(); det.dual_coef();
//
// Complexity: fit is O(iterations x l) plus O(l d) per kernel row computed (LRU-cached, up to
// cache_mb); RBF scoring is a blocked GEMM against the support vectors.
#pragma once

#include <oneclass/linalg/blocked.hpp>
#include <oneclass/detectors/detail/kernel_cache.hpp>
#include <oneclass/detectors/detail/smo.hpp>
#include <oneclass/detectors/detector.hpp>
#include <oneclass/linalg/gemm.hpp>
#include <oneclass/parallel/parallel.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <cmath>
#include <vector>

namespace oneclass {

enum class svm_kernel : std::uint8_t { rbf = 0, linear = 1 };

template <class T>
struct ocsvm_params {
    double nu = 0.5;                              ///< in (0, 1]
    T gamma = 0;                                  ///< RBF width; 0 = 10 / (d * Var(train))
    svm_kernel kernel = svm_kernel::rbf;
    normalization normalize = normalization::l2;  ///< applied to train and test rows
    double tol = 1e-3;                            ///< SMO stopping tolerance (libsvm's -e)
    std::size_t max_iter = 0;                     ///< 0 = max(10^7, 100 l)
    bool shrinking = true;                        ///< libsvm's -h
    double cache_mb = 200;                        ///< kernel-row cache limit (libsvm's -m)
    std::size_t block_rows = 128;                 ///< queries per GEMM block when scoring
};

template <class T>
class ocsvm {
public:
    using value_type = T;
    using params_type = ocsvm_params<T>;
    static constexpr const char* kind = "ocsvm";

    ocsvm() = default;
    explicit ocsvm(params_type p) : p_(p) {
        require(p.nu > 0 && p.nu <= 1, "ocsvm", "nu must be in (0, 1], got ", p.nu);
        detail::check_gamma(p.gamma, "ocsvm");
        require(p.tol > 0, "ocsvm", "tol must be > 0, got ", p.tol);
        require(p.cache_mb > 0, "ocsvm", "cache_mb must be > 0, got ", p.cache_mb);
    }

    /// ocsvm is the RBF kernel, ocsvm-linear the linear one (detectors/registry.hpp).
    static constexpr std::array<const char*, 2> variants{"ocsvm", "ocsvm-linear"};
    static params_type variant_params(std::string_view v) {
        params_type p;
        p.kernel = v == "ocsvm-linear" ? svm_kernel::linear : svm_kernel::rbf;
        return p;
    }
    std::string variant() const { return p_.kernel == svm_kernel::linear ? "ocsvm-linear" : "ocsvm"; }
    static std::vector<setting<params_type>> settings() {
        return {{"nu", "ocsvm nu in (0, 1] (default 0.5)", false, 0, 1, true, [](params_type& p, double x, std::uint64_t) { p.nu = x; }},
                {"gamma", "RBF kernel width (default 10 / (d Var(train)))", false, 1e-30, 1e30, false,
                 [](params_type& p, double x, std::uint64_t) { p.gamma = T(x); }, "ocsvm"}};
    }
    /// What SMO found, one line.
    std::string summary() const {
        char b[200];
        std::snprintf(b, sizeof b, "rho=%.9g n_support=%zu iterations=%zu objective=%.9g kernel_rows=%zu", rho(), n_support(),
                      iterations(), objective(), kernel_rows_computed());
        return b;
    }

    [[nodiscard]] fit_report fit(matrix_view<const T> X) {
        detail::check_fit_input(X, "ocsvm::fit");
        const matrix<T> Xp = detail::preprocess(X, p_.normalize);
        const std::size_t l = Xp.rows(), d = Xp.cols();
        gamma_ = p_.kernel == svm_kernel::rbf ? (p_.gamma > 0 ? double(p_.gamma) : default_gamma<T>(Xp.view())) : 0.0;
        const std::vector<T> norms = linalg::row_squared_norms<T>(Xp.view());
        std::vector<double> QD(l);
        for (std::size_t i = 0; i < l; ++i) QD[i] = p_.kernel == svm_kernel::rbf ? 1.0 : double(norms[i]);

        const bool rbf = p_.kernel == svm_kernel::rbf;
        const T g = T(gamma_);
        const matrix_view<const T> XV = Xp.view();
        // Kernel rows: one row is a GEMV (memory-bound); a batch (the initial gradient needs every
        // row with a_i > 0) is a GEMM (compute-bound). Both are chunked over the columns in fixed
        // chunks, so results do not depend on the number of threads.
        const std::size_t col_chunk = std::max<std::size_t>(256, (1u << 20) / std::max<std::size_t>(d, 1));
        auto kernel_map = [&](const std::size_t* rows, std::size_t count, T* const* outs, std::size_t lo, std::size_t hi) {
            for (std::size_t k = 0; k < count; ++k) {
                T* out = outs[k];
                if (rbf) linalg::rbf_from_dots(out, lo, hi, norms[rows[k]], norms.data(), g);
            }
        };
        std::vector<T> block_a, block_c;
        detail::kernel_cache<T> cache(l, static_cast<std::size_t>(p_.cache_mb * 1024 * 1024),
                                      [&](const std::size_t* rows, std::size_t count, T* const* outs) {
            if (count == 1) {
                parallel::for_chunks(0, l, col_chunk, [&](std::size_t lo, std::size_t hi) {
                    linalg::gemv<T>(XV.middle_rows(lo, hi - lo), XV.row(rows[0]), outs[0] + lo);
                    kernel_map(rows, 1, outs, lo, hi);
                });
                return;
            }
            block_a.resize(count * d);
            block_c.resize(count * l);
            for (std::size_t k = 0; k < count; ++k) std::copy_n(XV.row(rows[k]), d, block_a.data() + k * d);
            const matrix_view<const T> A(block_a.data(), count, d);
            parallel::for_chunks(0, l, std::max<std::size_t>(256, col_chunk / count), [&](std::size_t lo, std::size_t hi) {
                linalg::gemm_nt<T>(A, XV.middle_rows(lo, hi - lo), matrix_view<T>(block_c.data() + lo, count, hi - lo, l),
                                T(1), T(0));
                for (std::size_t k = 0; k < count; ++k) std::copy(block_c.data() + k * l + lo, block_c.data() + k * l + hi, outs[k] + lo);
                kernel_map(rows, count, outs, lo, hi);
            });
        });
        // When the whole kernel matrix fits in the cache, compute it up front in GEMM batches:
        // SMO touches most rows anyway, and a batched row costs a fraction of a GEMV'd one.
        if (cache.capacity_rows() >= l) {
            std::vector<std::size_t> rows(l);
            for (std::size_t i = 0; i < l; ++i) rows[i] = i;
            for (std::size_t b = 0; b < l; b += 64) cache.prefetch(rows.data() + b, std::min<std::size_t>(64, l - b));
        }
        auto sol = detail::solve_one_class<T>(cache, QD, p_.nu, {.eps = p_.tol, .max_iter = p_.max_iter,
                                                                 .shrinking = p_.shrinking});
        kernel_rows_computed_ = cache.misses();
        rho_ = sol.rho;
        objective_ = sol.objective;
        iterations_ = sol.iterations;
        sv_index_.clear();
        for (std::size_t i = 0; i < l; ++i)
            if (sol.alpha[i] > 0) sv_index_.push_back(i);
        sv_ = matrix<T>(sv_index_.size(), d);
        coef_.resize(sv_index_.size());
        for (std::size_t k = 0; k < sv_index_.size(); ++k) {
            std::copy_n(Xp.row(sv_index_[k]), d, sv_.row(k));
            coef_[k] = sol.alpha[sv_index_[k]];
        }
        finish_fit();
        fit_report rep;
        rep.converged = sol.converged;
        rep.iterations = sol.iterations;
        rep.objective = sol.objective;
        if (!sol.converged) rep.message = detail::concat("SMO reached max_iter = ", sol.iterations, " before tol");
        return rep;
    }

    /// Anomaly scores (higher = more anomalous): rho - sum_i alpha_i K(x_i, x).
    std::vector<T> score(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "ocsvm::score");
        std::vector<T> out(X.rows());
        const std::size_t d = dim();
        if (p_.kernel == svm_kernel::linear) {
            parallel::for_chunks(0, X.rows(), p_.block_rows, [&](std::size_t lo, std::size_t hi) {
                std::vector<T> r(d);
                for (std::size_t i = lo; i < hi; ++i) {
                    std::copy_n(X.row(i), d, r.data());
                    if (p_.normalize == normalization::l2) linalg::l2_normalize_rows(matrix_view<T>(r.data(), 1, d));
                    double s = 0;
                    for (std::size_t j = 0; j < d; ++j) s += w_[j] * double(r[j]);
                    out[i] = T(rho_ - s);
                }
            });
            return out;
        }
        const std::size_t nsv = sv_.rows();
        const T g = T(gamma_);
        linalg::for_each_distance_row<T>(X, p_.normalize == normalization::l2, sv_.view(), sv_norms_, p_.block_rows,
                                         [&](std::size_t i, const T* d2) {
                                             out[i] = T(rho_ - double(simd::weighted_sum_exp(coef_t_.data(), d2, nsv, -g)));
                                         });
        return out;
    }

    /// Scores as score() and their gradients with respect to the rows of X: for the RBF kernel
    /// ds/dx = 2 gamma sum_i alpha_i K(x_i, x) (x - x_i), for the linear one -w.
    score_gradients<T> score_gradient(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "ocsvm::score_gradient");
        const std::size_t d = dim(), nsv = sv_.rows();
        score_gradients<T> out{std::vector<T>(X.rows()), matrix<T>(X.rows(), d)};
        const bool l2 = p_.normalize == normalization::l2;
        if (p_.kernel == svm_kernel::linear) {
            out.score = score(X);
            for (std::size_t i = 0; i < X.rows(); ++i) {
                T* gr = out.gradient.row(i);
                for (std::size_t j = 0; j < d; ++j) gr[j] = T(-w_[j]);
                if (l2) detail::chain_l2(X.row(i), gr, d);
            }
            return out;
        }
        const T g = T(gamma_);
        std::vector<T> ksum(X.rows());
        linalg::for_each_weighted_row<T>(
            X, l2, sv_.view(), sv_norms_, p_.block_rows,
            [&](std::size_t i, T* d2) {
                out.score[i] = T(rho_ - double(simd::weighted_sum_exp(coef_t_.data(), d2, nsv, -g)));  // as score()
                simd::exp_affine_inplace(d2, nsv, -g, T(0));
                double s = 0;
                for (std::size_t j = 0; j < nsv; ++j) s += double(d2[j] *= coef_t_[j]);
                ksum[i] = T(s);
            },
            [&](std::size_t i, const T* u, const T* wx) {
                T* gr = out.gradient.row(i);
                for (std::size_t j = 0; j < d; ++j) gr[j] = T(2) * g * (u[j] * ksum[i] - wx[j]);
                if (l2) detail::chain_l2(X.row(i), gr, d);
            });
        return out;
    }

    bool fitted() const noexcept { return sv_.rows() > 0; }
    std::size_t dim() const noexcept { return sv_.cols(); }
    double rho() const noexcept { return rho_; }
    double gamma() const noexcept { return gamma_; }
    double objective() const noexcept { return objective_; }
    std::size_t iterations() const noexcept { return iterations_; }
    std::size_t n_support() const noexcept { return sv_.rows(); }
    /// Kernel rows computed during the last fit (cache misses): to size cache_mb.
    std::size_t kernel_rows_computed() const noexcept { return kernel_rows_computed_; }
    const matrix<T>& support_vectors() const noexcept { return sv_; }   ///< preprocessed rows
    const std::vector<double>& dual_coef() const noexcept { return coef_; }
    const std::vector<std::size_t>& support_indices() const noexcept { return sv_index_; }
    const std::vector<double>& primal_w() const noexcept { return w_; }  ///< linear kernel only
    const params_type& params() const noexcept { return p_; }

    void save_payload(binary_writer& w) const {
        detail::put_common(w, p_.normalize, dim());
        w.put<std::uint8_t>(static_cast<std::uint8_t>(p_.kernel));
        w.put<double>(p_.nu);
        w.put<double>(gamma_);
        w.put<double>(rho_);
        w.put<double>(objective_);
        w.put<std::uint64_t>(iterations_);
        w.put<std::uint64_t>(p_.block_rows);
        w.put_vector(coef_);
        w.put_vector(std::vector<std::uint64_t>(sv_index_.begin(), sv_index_.end()));
        detail::put_matrix(w, sv_);
    }
    static ocsvm load_payload(binary_reader& r) {
        ocsvm m;
        std::size_t d;
        detail::get_common(r, m.p_.normalize, d);
        const auto k = r.get<std::uint8_t>();
        m.p_.nu = r.get<double>();
        m.gamma_ = r.get<double>();
        m.rho_ = r.get<double>();
        m.objective_ = r.get<double>();
        m.iterations_ = r.get<std::uint64_t>();
        m.p_.block_rows = detail::get_block_rows(r);
        m.coef_ = r.get_vector<double>();
        const auto idx = r.get_vector<std::uint64_t>();
        m.sv_index_.assign(idx.begin(), idx.end());
        m.sv_ = detail::get_matrix<T>(r);
        if (k > 1 || m.sv_.cols() != d || m.sv_.rows() == 0 || m.coef_.size() != m.sv_.rows() ||
            m.sv_index_.size() != m.sv_.rows() || !std::isfinite(m.rho_) || (k == 0 && !(m.gamma_ > 0 && std::isfinite(m.gamma_))) ||
            !std::all_of(m.coef_.begin(), m.coef_.end(), [](double c) { return std::isfinite(c); }))
            fail<io_error>("load", r.what(), " holds an inconsistent ocsvm model");
        m.p_.kernel = static_cast<svm_kernel>(k);
        m.p_.gamma = T(m.gamma_);
        m.finish_fit();
        return m;
    }

private:
    void finish_fit() {
        sv_norms_ = linalg::row_squared_norms<T>(sv_.view());
        coef_t_.assign(coef_.begin(), coef_.end());
        w_.assign(p_.kernel == svm_kernel::linear ? sv_.cols() : 0, 0.0);
        if (p_.kernel == svm_kernel::linear)
            for (std::size_t k = 0; k < sv_.rows(); ++k)
                for (std::size_t j = 0; j < sv_.cols(); ++j) w_[j] += coef_[k] * double(sv_(k, j));
    }

    params_type p_{};
    matrix<T> sv_;
    std::vector<T> sv_norms_, coef_t_;
    std::vector<double> coef_, w_;
    std::vector<std::size_t> sv_index_;
    double rho_ = 0, gamma_ = 0, objective_ = 0;
    std::size_t iterations_ = 0, kernel_rows_computed_ = 0;
};

static_assert(SerializableDetector<ocsvm<float>> && DifferentiableDetector<ocsvm<float>>);
static_assert(SerializableDetector<ocsvm<double>>);

}  // namespace oneclass
