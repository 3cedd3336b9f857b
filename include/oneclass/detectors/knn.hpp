// oneclass/detectors/knn.hpp - k-nearest-neighbour distance as a one-class detector.
//
// Score (an anomaly score: HIGHER = MORE ANOMALOUS): the distance from x to its k-th nearest
// training row. With metric::cosine the distance is 1 - cos(x, y) (rows are L2-normalised
// internally, so 1 - cos = ||x - y||^2 / 2); k = 1 with cosine is what the official DROC code
// reports. metric::euclidean gives ||x - y|| on the (optionally normalised) rows.
//
//     oneclass::knn<float> det({.k = 1, .metric = oneclass::knn_metric::cosine});
//     (void)det.fit(train);
//     auto s = det.score(test);
//
// Sharded training sets (mpi/sharded.hpp): each shard's k smallest squared distances per query
// (partial_nearest) merge into the whole set's k-th (merge_nearest): exact, no rounding involved.
//
// Complexity: as KDE (blocked GEMM), plus an O(n) selection per query.
#pragma once

#include <oneclass/linalg/blocked.hpp>
#include <oneclass/detectors/detector.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace oneclass {

enum class knn_metric : std::uint8_t { cosine = 0, euclidean = 1 };

template <class T>
struct knn_params {
    std::size_t k = 1;                             ///< which neighbour's distance is the score
    knn_metric metric = knn_metric::cosine;        ///< cosine: 1 - cos; euclidean: L2 distance
    normalization normalize = normalization::l2;   ///< for euclidean; cosine always normalises
    std::size_t block_rows = 128;
};

template <class T>
class knn {
public:
    using value_type = T;
    using params_type = knn_params<T>;
    static constexpr const char* kind = "knn";

    knn() = default;
    explicit knn(params_type p) : p_(p) { require(p.k >= 1, "knn", "k must be >= 1, got ", p.k); }
    static std::vector<setting<params_type>> settings() {
        return {{"k", "which neighbour's distance is the score (default 1)", true, 1, 1e6, false,
                 [](params_type& p, double, std::uint64_t w) { p.k = std::size_t(w); }}};
    }

    fit_report fit(matrix_view<const T> X) {
        detail::check_fit_input(X, "knn::fit", 1);
        require(X.rows() >= p_.k, "knn::fit", "k = ", p_.k, " needs at least ", p_.k, " training rows, got ",
                X.rows());
        train_ = detail::preprocess(X, effective_norm());
        norms_ = linalg::row_squared_norms<T>(train_.view());
        return {};
    }

    /// Anomaly scores (higher = more anomalous): k-th nearest distance, one per row of X.
    std::vector<T> score(matrix_view<const T> X) const {
        detail::check_score_input(X, fitted(), dim(), "knn::score");
        std::vector<T> out(X.rows());
        const std::size_t n = train_.rows(), k = p_.k;
        const bool cosine = p_.metric == knn_metric::cosine;
        linalg::for_each_distance_row<T>(X, effective_norm() == normalization::l2, train_.view(), norms_, p_.block_rows,
                                         [&](std::size_t i, T* d2) {
                                             T v;
                                             if (k == 1) {
                                                 v = simd::min(d2, n);  // the default: one SIMD pass
                                             } else if (k <= 16) {
                                                 v = kth_smallest_small(d2, n, k);
                                             } else {
                                                 std::nth_element(d2, d2 + (k - 1), d2 + n);
                                                 v = d2[k - 1];
                                             }
                                             out[i] = cosine ? v / T(2) : std::sqrt(v);
                                         });
        return out;
    }

    /// Per query the k smallest squared distances (of the metric's rows) to this model's training
    /// rows, ascending; +inf where the model holds fewer than k rows. Q x k.
    matrix<T> partial_nearest(matrix_view<const T> X, std::size_t k) const {
        detail::check_score_input(X, fitted(), dim(), "knn::partial_nearest");
        require(k >= 1, "knn::partial_nearest", "k must be >= 1");
        matrix<T> out(X.rows(), k);
        const std::size_t n = train_.rows(), have = std::min(n, k);
        linalg::for_each_distance_row<T>(X, effective_norm() == normalization::l2, train_.view(), norms_, p_.block_rows,
                                         [&](std::size_t i, T* d2) {
                                             T* o = out.row(i);
                                             std::partial_sort_copy(d2, d2 + n, o, o + have);
                                             std::fill(o + have, o + k, std::numeric_limits<T>::infinity());
                                         });
        return out;
    }

    /// The scores over the union of the shards whose partial_nearest(X, params.k) are `parts`.
    static std::vector<T> merge_nearest(const std::vector<matrix<T>>& parts, const params_type& p) {
        require(!parts.empty(), "knn::merge_nearest", "no parts");
        const std::size_t m = parts[0].rows(), k = p.k;
        for (const auto& q : parts)
            require(q.rows() == m && q.cols() == k, "knn::merge_nearest", "parts must be ", m, " x ", k, ", got ", q.rows(),
                    " x ", q.cols());
        std::vector<T> out(m), all(parts.size() * k);
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t r = 0; r < parts.size(); ++r) std::copy_n(parts[r].row(i), k, all.begin() + std::ptrdiff_t(r * k));
            std::nth_element(all.begin(), all.begin() + std::ptrdiff_t(k - 1), all.end());
            const T v = all[k - 1];
            require(std::isfinite(v), "knn::merge_nearest", "the shards hold fewer than k = ", k, " training rows");
            out[i] = p.metric == knn_metric::cosine ? v / T(2) : std::sqrt(v);
        }
        return out;
    }

    bool fitted() const noexcept { return !train_.empty(); }
    std::size_t dim() const noexcept { return train_.cols(); }
    const params_type& params() const noexcept { return p_; }

    void save_payload(binary_writer& w) const {
        detail::put_common(w, p_.normalize, dim());
        w.put<std::uint64_t>(p_.k);
        w.put<std::uint8_t>(static_cast<std::uint8_t>(p_.metric));
        w.put<std::uint64_t>(p_.block_rows);
        detail::put_matrix(w, train_);
    }
    static knn load_payload(binary_reader& r) {
        knn m;
        std::size_t d;
        detail::get_common(r, m.p_.normalize, d);
        m.p_.k = r.get<std::uint64_t>();
        const auto metric = r.get<std::uint8_t>();
        m.p_.block_rows = detail::get_block_rows(r);
        m.train_ = detail::get_matrix<T>(r);
        if (metric > 1 || m.p_.k < 1 || m.train_.cols() != d || m.train_.rows() < m.p_.k)
            fail<io_error>("load", r.what(), " holds an inconsistent knn model");
        m.p_.metric = static_cast<knn_metric>(metric);
        m.norms_ = linalg::row_squared_norms<T>(m.train_.view());
        return m;
    }

private:
    /// k-th smallest of v[0..n) for small k: keep the k smallest sorted; most values fail the
    /// single comparison against the current k-th and cost nothing more.
    static T kth_smallest_small(const T* v, std::size_t n, std::size_t k) {
        T best[16];
        std::size_t have = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const T x = v[i];
            if (have == k && !(x < best[k - 1])) continue;
            std::size_t j = have < k ? have++ : k - 1;
            while (j > 0 && best[j - 1] > x) {
                best[j] = best[j - 1];
                --j;
            }
            best[j] = x;
        }
        return best[k - 1];
    }

    normalization effective_norm() const noexcept {
        return p_.metric == knn_metric::cosine ? normalization::l2 : p_.normalize;
    }
    params_type p_{};
    matrix<T> train_;
    std::vector<T> norms_;
};

static_assert(SerializableDetector<knn<float>>);
static_assert(SerializableDetector<knn<double>>);

}  // namespace oneclass
