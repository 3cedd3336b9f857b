// oneclass/detectors/gaussian.hpp - Gaussian density estimation (GDE) as a one-class detector.
//
// One full-covariance Gaussian N(mu, Sigma + reg_covar I) fitted by maximum likelihood (the
// biased covariance, 1/n, as sklearn's GaussianMixture(n_components=1, 'full')). Score (an
// anomaly score: HIGHER = MORE ANOMALOUS) is the negative log-likelihood
//
//     s(x) = 0.5 * (d log(2 pi) + log det Sigma + (x - mu)^T Sigma^{-1} (x - mu))
//
// Fit throws oneclass::error if Sigma + reg_covar I is not positive definite.
//
//     oneclass::gde<float> det({.reg_covar = 1e-6});
//     (void)det.fit(train);
//     auto s = det.score(test);
//
// Gradient (score_gradient): ds/dx = Sigma^{-1} (x - mu) = W W^T (x - mu), from the scoring's
// z = (x - mu) W by one more GEMM.
//
// Complexity: fit O(n d^2 + d^3); score O(n_test d^2) (one GEMM per block). Double precision inside.
#pragma once

#include <oneclass/detectors/detail/gaussian_component.hpp>
#include <oneclass/detectors/detector.hpp>
#include <oneclass/parallel/parallel.hpp>

#include <vector>

namespace oneclass {

template <class T>
struct gde_params {
    double reg_covar = 1e-6;                      ///< added to the covariance diagonal (sklearn's default)
    normalization normalize = normalization::l2;  ///< applied to train and test rows
    std::size_t block_rows = 256;                 ///< queries per GEMM block
};

template <class T>
class gde {
public:
    using value_type = T;
    using params_type = gde_params<T>;
    static constexpr const char* kind = "gde";

    gde() = default;
    explicit gde(params_type p) : p_(p) {
        require(std::isfinite(p.reg_covar) && p.reg_covar >= 0, "gde", "reg_covar must be >= 0, got ", p.reg_covar);
    }

    fit_report fit(matrix_view<const T> X) {
        detail::check_fit_input(X, "gde::fit");
        matrix<double> Xd;
        detail::rows_as_double(X, 0, X.rows(), p_.normalize == normalization::l2, Xd);
        g_ = detail::gaussian_component::fit(Xd.view(), nullptr, p_.reg_covar, "gde::fit");
        return {};
    }

    /// Anomaly scores (higher = more anomalous): negative log-likelihood, one per row of X.
    std::vector<T> score(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "gde::score");
        std::vector<T> out(X.rows());
        parallel::for_chunks(0, X.rows(), p_.block_rows, [&](std::size_t lo, std::size_t hi) {
            matrix<double> Xd, scratch;
            std::vector<double> ll(hi - lo);
            detail::rows_as_double(X, lo, hi, p_.normalize == normalization::l2, Xd);
            g_.log_density(Xd.view(), ll.data(), scratch);
            for (std::size_t i = lo; i < hi; ++i) out[i] = T(-ll[i - lo]);
        });
        return out;
    }

    /// Scores as score() and their gradients with respect to the rows of X.
    score_gradients<T> score_gradient(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "gde::score_gradient");
        const std::size_t d = dim();
        score_gradients<T> out{std::vector<T>(X.rows()), matrix<T>(X.rows(), d)};
        const bool l2 = p_.normalize == normalization::l2;
        parallel::for_chunks(0, X.rows(), p_.block_rows, [&](std::size_t lo, std::size_t hi) {
            matrix<double> Xd, Z, G(hi - lo, d);
            std::vector<double> ll(hi - lo);
            detail::rows_as_double(X, lo, hi, l2, Xd);
            g_.log_density(Xd.view(), ll.data(), Z);  // leaves z = (x - mu) W in Z
            linalg::gemm_nt<double>(Z.view(), g_.W.view(), G.view(), 1.0, 0.0);
            for (std::size_t i = lo; i < hi; ++i) {
                out.score[i] = T(-ll[i - lo]);
                T* gr = out.gradient.row(i);
                for (std::size_t j = 0; j < d; ++j) gr[j] = T(G(i - lo, j));
                if (l2) detail::chain_l2(X.row(i), gr, d);
            }
        });
        return out;
    }

    bool fitted() const noexcept { return g_.dim() > 0; }
    std::size_t dim() const noexcept { return g_.dim(); }
    const std::vector<double>& mean() const noexcept { return g_.mean; }
    double log_det_covariance() const noexcept { return g_.log_det; }
    const params_type& params() const noexcept { return p_; }

    void save_payload(binary_writer& w) const {
        detail::put_common(w, p_.normalize, dim());
        w.put<double>(p_.reg_covar);
        w.put<std::uint64_t>(p_.block_rows);
        g_.save(w);
    }
    static gde load_payload(binary_reader& r) {
        gde m;
        std::size_t d;
        detail::get_common(r, m.p_.normalize, d);
        m.p_.reg_covar = r.get<double>();
        m.p_.block_rows = detail::get_block_rows(r);
        m.g_ = detail::gaussian_component::load(r);
        if (m.g_.dim() != d) fail<io_error>("load", r.what(), " holds an inconsistent gde model");
        return m;
    }

private:
    params_type p_{};
    detail::gaussian_component g_;
};

static_assert(SerializableDetector<gde<float>> && DifferentiableDetector<gde<float>>);
static_assert(SerializableDetector<gde<double>>);

}  // namespace oneclass
