// oneclass/detectors/gmm.hpp - Gaussian mixture model as a one-class detector.
//
// k full-covariance components fitted by EM (Dempster et al. 1977), initialised by seeded
// k-means++ (Arthur and Vassilvitskii 2007, greedy variant with 2 + ln k candidates per centre)
// followed by Lloyd iterations, as sklearn's init_params="kmeans". The paper (Sohn et al. 2021)
// names richer density models as future work; this is that. Score (an anomaly score: HIGHER =
// MORE ANOMALOUS) is the negative log-likelihood under the mixture:
//
//     s(x) = -log sum_k pi_k N(x | mu_k, Sigma_k + reg_covar I)
//
// EM stops when the mean log-likelihood changes by less than `tol` (sklearn's rule) or after
// `max_iter` iterations; the fit report says which.
//
//     oneclass::gmm<float> det({.components = 4, .seed = 7});
//     auto report = det.fit(train);   // report.converged, report.iterations, report.objective
//
// Complexity: per EM iteration O(k n d^2 + k d^3). Double precision inside.
#pragma once

#include <oneclass/core/rng.hpp>
#include <oneclass/detectors/detail/gaussian_component.hpp>
#include <oneclass/detectors/detector.hpp>
#include <oneclass/linalg/distance.hpp>
#include <oneclass/parallel/parallel.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace oneclass {

template <class T>
struct gmm_params {
    std::size_t components = 2;                   ///< k
    double reg_covar = 1e-6;                      ///< added to every covariance diagonal
    double tol = 1e-3;                            ///< EM stops when mean log-likelihood changes less
    std::size_t max_iter = 100;                   ///< EM iteration cap
    std::size_t kmeans_iter = 100;                ///< Lloyd iterations after k-means++
    std::uint64_t seed = 0;                       ///< k-means++ seed
    normalization normalize = normalization::l2;  ///< applied to train and test rows
    std::size_t block_rows = 256;
};

template <class T>
class gmm {
public:
    using value_type = T;
    using params_type = gmm_params<T>;
    static constexpr const char* kind = "gmm";

    gmm() = default;
    explicit gmm(params_type p) : p_(p) {
        require(p.components >= 1, "gmm", "components must be >= 1, got ", p.components);
        require(std::isfinite(p.reg_covar) && p.reg_covar >= 0, "gmm", "reg_covar must be >= 0, got ", p.reg_covar);
        require(p.tol > 0 && p.max_iter >= 1, "gmm", "tol must be > 0 and max_iter >= 1");
    }
    static std::vector<setting<params_type>> settings() {
        return {{"components", "number of components (default 2)", true, 1, 10000, false,
                 [](params_type& p, double, std::uint64_t w) { p.components = std::size_t(w); }},
                {"seed", "k-means++ seed (default 0)", true, 0, 18446744073709551615.0, false,
                 [](params_type& p, double, std::uint64_t w) { p.seed = w; }}};
    }
    std::string summary() const { return "components=" + std::to_string(weights_.size()); }

    fit_report fit(matrix_view<const T> X) {
        detail::check_fit_input(X, "gmm::fit");
        const std::size_t n = X.rows(), k = p_.components;
        require(n >= k, "gmm::fit", "components = ", k, " needs at least ", k, " training rows, got ", n);
        matrix<double> Xd;
        detail::rows_as_double(X, 0, n, p_.normalize == normalization::l2, Xd);

        // Initial responsibilities: hard k-means assignment.
        matrix<double> resp(n, k, 0.0);
        const auto labels = kmeans(Xd.view());
        for (std::size_t i = 0; i < n; ++i) resp(i, labels[i]) = 1.0;

        fit_report rep;
        rep.converged = false;
        double prev = -std::numeric_limits<double>::infinity();
        std::vector<double> w(n), ll(n);
        matrix<double> logp(n, k);
        for (std::size_t it = 1; it <= p_.max_iter; ++it) {
            m_step(Xd.view(), resp, w);
            // E step
            for (std::size_t c_ = 0; c_ < k; ++c_) {
                std::vector<double> col(n);
                comps_[c_].log_density_parallel(Xd.view(), col.data());
                for (std::size_t i = 0; i < n; ++i) logp(i, c_) = col[i] + std::log(weights_[c_]);
            }
            double mean_ll = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const double lse = logsumexp(logp.row(i), k);
                mean_ll += lse;
                for (std::size_t c_ = 0; c_ < k; ++c_) resp(i, c_) = std::exp(logp(i, c_) - lse);
            }
            mean_ll /= double(n);
            rep.iterations = it;
            rep.objective = mean_ll;
            if (std::abs(mean_ll - prev) < p_.tol) {
                rep.converged = true;
                break;
            }
            prev = mean_ll;
        }
        // Final M step so the parameters match the last responsibilities (as sklearn does).
        m_step(Xd.view(), resp, w);
        if (!rep.converged)
            rep.message = detail::concat("EM did not converge in ", p_.max_iter, " iterations (tol ", p_.tol, ")");
        return rep;
    }

    /// Anomaly scores (higher = more anomalous): negative log-likelihood under the mixture.
    std::vector<T> score(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "gmm::score");
        std::vector<T> out(X.rows());
        const std::size_t k = comps_.size();
        parallel::for_chunks(0, X.rows(), p_.block_rows, [&](std::size_t lo, std::size_t hi) {
            const std::size_t b = hi - lo;
            matrix<double> Xd, scratch, lp(b, k);
            std::vector<double> col(b);
            detail::rows_as_double(X, lo, hi, p_.normalize == normalization::l2, Xd);
            for (std::size_t c_ = 0; c_ < k; ++c_) {
                comps_[c_].log_density(Xd.view(), col.data(), scratch);
                for (std::size_t i = 0; i < b; ++i) lp(i, c_) = col[i] + std::log(weights_[c_]);
            }
            for (std::size_t i = 0; i < b; ++i) out[lo + i] = T(-logsumexp(lp.row(i), k));
        });
        return out;
    }

    /// Scores as score() and their gradients with respect to the rows of X: the responsibility-
    /// weighted sum of the components' Mahalanobis gradients, sum_c r_c Sigma_c^{-1} (x - mu_c).
    score_gradients<T> score_gradient(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "gmm::score_gradient");
        const std::size_t k = comps_.size(), d = dim();
        score_gradients<T> out{std::vector<T>(X.rows()), matrix<T>(X.rows(), d)};
        const bool l2 = p_.normalize == normalization::l2;
        parallel::for_chunks(0, X.rows(), p_.block_rows, [&](std::size_t lo, std::size_t hi) {
            const std::size_t b = hi - lo;
            matrix<double> Xd, lp(b, k), G(b, d), acc(b, d);
            std::vector<matrix<double>> Z(k);
            std::vector<double> col(b);
            detail::rows_as_double(X, lo, hi, l2, Xd);
            for (std::size_t c_ = 0; c_ < k; ++c_) {
                comps_[c_].log_density(Xd.view(), col.data(), Z[c_]);
                for (std::size_t i = 0; i < b; ++i) lp(i, c_) = col[i] + std::log(weights_[c_]);
            }
            std::vector<double> lse(b);
            for (std::size_t i = 0; i < b; ++i) out.score[lo + i] = T(-(lse[i] = logsumexp(lp.row(i), k)));
            for (std::size_t c_ = 0; c_ < k; ++c_) {
                linalg::gemm_nt<double>(Z[c_].view(), comps_[c_].W.view(), G.view(), 1.0, 0.0);
                for (std::size_t i = 0; i < b; ++i) {
                    const double r = std::exp(lp(i, c_) - lse[i]);  // responsibility
                    for (std::size_t j = 0; j < d; ++j) acc(i, j) += r * G(i, j);
                }
            }
            for (std::size_t i = 0; i < b; ++i) {
                T* gr = out.gradient.row(lo + i);
                for (std::size_t j = 0; j < d; ++j) gr[j] = T(acc(i, j));
                if (l2) detail::chain_l2(X.row(lo + i), gr, d);
            }
        });
        return out;
    }

    bool fitted() const noexcept { return !comps_.empty(); }
    std::size_t dim() const noexcept { return comps_.empty() ? 0 : comps_[0].dim(); }
    const std::vector<double>& weights() const noexcept { return weights_; }
    const std::vector<double>& mean(std::size_t c) const { return comps_.at(c).mean; }
    const params_type& params() const noexcept { return p_; }

    void save_payload(binary_writer& w) const {
        detail::put_common(w, p_.normalize, dim());
        w.put<double>(p_.reg_covar);
        w.put<std::uint64_t>(p_.block_rows);
        w.put_vector(weights_);
        for (const auto& c : comps_) c.save(w);
    }
    static gmm load_payload(binary_reader& r) {
        gmm m;
        std::size_t d;
        detail::get_common(r, m.p_.normalize, d);
        m.p_.reg_covar = r.get<double>();
        m.p_.block_rows = detail::get_block_rows(r);
        m.weights_ = r.get_vector<double>();
        if (m.weights_.empty()) fail<io_error>("load", r.what(), " holds a gmm with no components");
        for (std::size_t c = 0; c < m.weights_.size(); ++c) {
            m.comps_.push_back(detail::gaussian_component::load(r));
            if (m.comps_.back().dim() != d || !(m.weights_[c] > 0))
                fail<io_error>("load", r.what(), " holds an inconsistent gmm model");
        }
        m.p_.components = m.weights_.size();
        return m;
    }

private:
    static double logsumexp(const double* v, std::size_t k) {
        const double m = *std::max_element(v, v + k);
        if (!std::isfinite(m)) return m;
        double s = 0;
        for (std::size_t c = 0; c < k; ++c) s += std::exp(v[c] - m);
        return m + std::log(s);
    }

    void m_step(matrix_view<const double> X, const matrix<double>& resp, std::vector<double>& w) {
        const std::size_t n = X.rows(), k = p_.components;
        comps_.clear();
        weights_.assign(k, 0.0);
        for (std::size_t c = 0; c < k; ++c) {
            double nk = 0;
            for (std::size_t i = 0; i < n; ++i) nk += (w[i] = resp(i, c));
            weights_[c] = (nk + 10 * std::numeric_limits<double>::epsilon()) / double(n);
            comps_.push_back(detail::gaussian_component::fit(X, w.data(), p_.reg_covar, "gmm::fit"));
        }
        double tot = 0;
        for (double v : weights_) tot += v;
        for (double& v : weights_) v /= tot;
    }

    /// Seeded greedy k-means++ then Lloyd; returns a label per row, every cluster non-empty.
    std::vector<std::size_t> kmeans(matrix_view<const double> X) const {
        const std::size_t n = X.rows(), d = X.cols(), k = p_.components;
        rng gen(p_.seed);
        matrix<double> centers(k, d);
        std::vector<double> closest(n), cand(n);
        auto d2 = [&](const double* a, const double* b) {
            double s = 0;
            for (std::size_t j = 0; j < d; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
            return s;
        };
        std::size_t first = gen.below(n);
        std::copy_n(X.row(first), d, centers.row(0));
        for (std::size_t i = 0; i < n; ++i) closest[i] = d2(X.row(i), centers.row(0));
        const std::size_t trials = 2 + std::size_t(std::log(double(k)));
        for (std::size_t c = 1; c < k; ++c) {
            double pot = 0;
            for (double v : closest) pot += v;
            std::size_t best = 0;
            double best_pot = std::numeric_limits<double>::infinity();
            for (std::size_t t = 0; t < trials; ++t) {
                // sample proportional to squared distance (uniformly if all are 0)
                std::size_t pick = n - 1;
                if (pot > 0) {
                    double u = gen.uniform() * pot, acc = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        acc += closest[i];
                        if (acc > u) {
                            pick = i;
                            break;
                        }
                    }
                } else {
                    pick = gen.below(n);
                }
                double p = 0;
                for (std::size_t i = 0; i < n; ++i) p += (cand[i] = std::min(closest[i], d2(X.row(i), X.row(pick))));
                if (p < best_pot) {
                    best_pot = p;
                    best = pick;
                }
            }
            std::copy_n(X.row(best), d, centers.row(c));
            for (std::size_t i = 0; i < n; ++i) closest[i] = std::min(closest[i], d2(X.row(i), centers.row(c)));
        }
        std::vector<std::size_t> label(n, 0);
        std::vector<double> cnt(k);
        for (std::size_t it = 0; it < std::max<std::size_t>(1, p_.kmeans_iter); ++it) {
            bool changed = false;
            for (std::size_t i = 0; i < n; ++i) {
                std::size_t b = 0;
                double bd = std::numeric_limits<double>::infinity();
                for (std::size_t c = 0; c < k; ++c) {
                    const double v = d2(X.row(i), centers.row(c));
                    if (v < bd) {
                        bd = v;
                        b = c;
                    }
                }
                closest[i] = bd;
                if (label[i] != b) {
                    label[i] = b;
                    changed = true;
                }
            }
            // Re-seat empty clusters on the row farthest from its centre.
            std::fill(cnt.begin(), cnt.end(), 0.0);
            for (std::size_t i = 0; i < n; ++i) cnt[label[i]] += 1;
            for (std::size_t c = 0; c < k; ++c)
                if (cnt[c] == 0) {
                    const std::size_t far = std::size_t(std::max_element(closest.begin(), closest.end()) - closest.begin());
                    cnt[label[far]] -= 1;
                    label[far] = c;
                    cnt[c] = 1;
                    closest[far] = 0;
                    changed = true;
                }
            if (it > 0 && !changed) break;
            std::fill(centers.values().begin(), centers.values().end(), 0.0);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < d; ++j) centers(label[i], j) += X(i, j);
            for (std::size_t c = 0; c < k; ++c)
                for (std::size_t j = 0; j < d; ++j) centers(c, j) /= cnt[c];
        }
        return label;
    }

    params_type p_{};
    std::vector<detail::gaussian_component> comps_;
    std::vector<double> weights_;
};

static_assert(SerializableDetector<gmm<float>> && DifferentiableDetector<gmm<float>>);
static_assert(SerializableDetector<gmm<double>>);

}  // namespace oneclass
