// oneclass/detectors/kde.hpp - Gaussian kernel density estimation as a one-class detector.
//
// Score (an anomaly score: HIGHER = MORE ANOMALOUS), with y_j the n training rows:
//
//     s(x) = -(1/gamma) * log sum_j exp(-gamma * ||x - y_j||^2)
//
// i.e. a soft minimum of squared distances to the training set (Sohn et al. 2021, Sec. 3.2; it is
// the negative log of an unnormalised KDE, scaled so that s -> min_j ||x - y_j||^2 as gamma grows).
// Computed per block of queries: one GEMM for the distances, SIMD exp, and a logsumexp shifted
// by the row minimum before scaling (exp(-gamma (d - min)): the largest term is exactly 1), so it
// stays finite for any finite gamma, with neither underflow to log 0 nor overflow.
//
//     oneclass::kde<float> det;                  // gamma from the paper's rule, L2 normalisation
//     (void)det.fit(train);
//     auto s = det.score(test);
//
// Gradient (score_gradient, for explanations): with w_j = softmax_j(-gamma ||x - y_j||^2),
//     ds/dx = sum_j w_j 2 (x - y_j) = 2 (x - sum_j w_j y_j),
// the weights from the same shifted exponentials as the score, the weighted sum by one GEMM.
//
// Sharded training sets (mpi/sharded.hpp): a model fitted on one shard gives, per query, the
// row minimum m and the shifted sum s = sum_j exp(-gamma (d_j - m)) (partial_score); over shards
// r with M = min_r m_r the whole set's score is M - log(sum_r s_r exp(-gamma (m_r - M))) / gamma
// (merge_partials), the same identity the single-model loop uses, up to summation order.
//
// Complexity: fit O(n d); score O(n_test n d) flops, memory O(block n) per thread.
#pragma once

#include <oneclass/linalg/blocked.hpp>
#include <oneclass/detectors/detector.hpp>

#include <cmath>
#include <vector>

namespace oneclass {

template <class T>
struct kde_params {
    T gamma = 0;                                      ///< kernel width; 0 = 10 / (d * Var(train))
    normalization normalize = normalization::l2;      ///< applied to train and test rows
    std::size_t block_rows = 128;                     ///< queries per GEMM block
};

/// One shard's part of the KDE score of each query (kde::partial_score).
template <class T>
struct kde_partial {
    std::vector<T> min;        ///< min_j ||x - y_j||^2 over the shard
    std::vector<double> sum;   ///< sum_j exp(-gamma (||x - y_j||^2 - min)), >= 1
};

template <class T>
class kde {
public:
    using value_type = T;
    using params_type = kde_params<T>;
    static constexpr const char* kind = "kde";

    kde() = default;
    explicit kde(params_type p) : p_(p) { detail::check_gamma(p.gamma, "kde"); }
    static std::vector<setting<params_type>> settings() {
        return {{"gamma", "RBF kernel width (default 10 / (d Var(train)))", false, 1e-30, 1e30, false,
                 [](params_type& p, double x, std::uint64_t) { p.gamma = T(x); }}};
    }

    fit_report fit(matrix_view<const T> X) {
        // the default width needs a variance (two rows); a given one works on a single row (a shard)
        detail::check_fit_input(X, "kde::fit", p_.gamma > 0 ? 1 : 2);
        train_ = detail::preprocess(X, p_.normalize);
        gamma_ = p_.gamma > 0 ? double(p_.gamma) : default_gamma<T>(train_.view());
        norms_ = linalg::row_squared_norms<T>(train_.view());
        return {};
    }

    /// Anomaly scores (higher = more anomalous), one per row of X.
    std::vector<T> score(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "kde::score");
        std::vector<T> out(X.rows());
        const std::size_t n = train_.rows();
        const T g = T(gamma_);
        linalg::for_each_distance_row<T>(X, p_.normalize == normalization::l2, train_.view(), norms_, p_.block_rows,
                                         [&](std::size_t i, const T* d2) {
                                             const T m = simd::min(d2, n);
                                             const T s = simd::sum_exp_shifted(d2, n, m, -g);  // >= 1
                                             out[i] = T(double(m) - std::log(double(s)) / gamma_);
                                         });
        return out;
    }

    /// This model's part of each query's score, to merge with other shards' (merge_partials).
    kde_partial<T> partial_score(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "kde::partial_score");
        kde_partial<T> out{std::vector<T>(X.rows()), std::vector<double>(X.rows())};
        const std::size_t n = train_.rows();
        const T g = T(gamma_);
        linalg::for_each_distance_row<T>(X, p_.normalize == normalization::l2, train_.view(), norms_, p_.block_rows,
                                         [&](std::size_t i, const T* d2) {
                                             out.min[i] = simd::min(d2, n);
                                             out.sum[i] = double(simd::sum_exp_shifted(d2, n, out.min[i], -g));
                                         });
        return out;
    }

    /// The scores over the union of the shards whose partial_score are `parts` (all with the same
    /// gamma and queries), merged in the order given.
    static std::vector<T> merge_partials(const std::vector<kde_partial<T>>& parts, double gamma) {
        require(!parts.empty(), "kde::merge_partials", "no parts");
        require(gamma > 0 && std::isfinite(gamma), "kde::merge_partials", "gamma must be positive and finite, got ", gamma);
        const std::size_t m = parts[0].min.size();
        for (const auto& p : parts)
            require(p.min.size() == m && p.sum.size() == m, "kde::merge_partials", "parts of ", m, " and ", p.min.size(),
                    " queries");
        std::vector<T> out(m);
        for (std::size_t i = 0; i < m; ++i) {
            double M = double(parts[0].min[i]);
            for (const auto& p : parts) M = std::min(M, double(p.min[i]));
            double s = 0;
            for (const auto& p : parts) s += p.sum[i] * std::exp(-gamma * (double(p.min[i]) - M));
            out[i] = T(M - std::log(s) / gamma);
        }
        return out;
    }

    /// Scores as score() and their gradients with respect to the rows of X.
    score_gradients<T> score_gradient(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "kde::score_gradient");
        score_gradients<T> out{std::vector<T>(X.rows()), matrix<T>(X.rows(), dim())};
        const std::size_t n = train_.rows(), d = dim();
        const T g = T(gamma_);
        linalg::for_each_weighted_row<T>(
            X, p_.normalize == normalization::l2, train_.view(), norms_, p_.block_rows,
            [&](std::size_t i, T* d2) {
                const T m = simd::min(d2, n);
                const T s = simd::sum_exp_shifted(d2, n, m, -g);
                out.score[i] = T(double(m) - std::log(double(s)) / gamma_);
                simd::exp_shifted_inplace(d2, n, m, -g);
                const T inv = T(1) / s;
                for (std::size_t j = 0; j < n; ++j) d2[j] *= inv;
            },
            [&](std::size_t i, const T* u, const T* wy) {
                T* gr = out.gradient.row(i);
                for (std::size_t j = 0; j < d; ++j) gr[j] = T(2) * (u[j] - wy[j]);
                if (p_.normalize == normalization::l2) detail::chain_l2(X.row(i), gr, d);
            });
        return out;
    }

    bool fitted() const noexcept { return !train_.empty(); }
    std::size_t dim() const noexcept { return train_.cols(); }
    double gamma() const noexcept { return gamma_; }
    const params_type& params() const noexcept { return p_; }

    void save_payload(binary_writer& w) const {
        detail::put_common(w, p_.normalize, dim());
        w.put<double>(gamma_);
        w.put<std::uint64_t>(p_.block_rows);
        detail::put_matrix(w, train_);
    }
    static kde load_payload(binary_reader& r) {
        kde k;
        std::size_t d;
        detail::get_common(r, k.p_.normalize, d);
        k.gamma_ = r.get<double>();
        k.p_.gamma = T(k.gamma_);
        k.p_.block_rows = detail::get_block_rows(r);
        k.train_ = detail::get_matrix<T>(r);
        if (k.train_.cols() != d || k.train_.rows() < 1 || !(k.gamma_ > 0 && std::isfinite(k.gamma_)))
            fail<io_error>("load", r.what(), " holds an inconsistent kde model");
        k.norms_ = linalg::row_squared_norms<T>(k.train_.view());
        return k;
    }

private:
    params_type p_{};
    matrix<T> train_;
    std::vector<T> norms_;
    double gamma_ = 0;
};

static_assert(SerializableDetector<kde<float>> && DifferentiableDetector<kde<float>>);
static_assert(SerializableDetector<kde<double>>);

}  // namespace oneclass
