// oneclass/eval/roc_auc.hpp - area under the ROC curve, exact, with ties.
//
// AUC = P(score of a random anomaly > score of a random normal) + 0.5 P(equal), computed from
// mid-ranks (the Mann-Whitney U statistic): sort once, give tied scores their average rank,
//     AUC = (sum of anomaly ranks - n1 (n1 + 1) / 2) / (n0 n1).
// This equals sklearn's roc_auc_score (trapezoidal rule over all thresholds) exactly in exact
// arithmetic; sums of ranks are integers / halves, so double gives it to ~1e-15.
//
//     double auc = oneclass::roc_auc(scores, labels);   // labels: 1 = anomaly, 0 = normal
#pragma once

#include <oneclass/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <span>
#include <vector>

namespace oneclass {

/// ROC AUC of anomaly scores (higher = more anomalous) against labels (1 anomaly, 0 normal).
template <class S, class L>
double roc_auc(std::span<const S> scores, std::span<const L> labels) {
    require(scores.size() == labels.size(), "roc_auc", "got ", scores.size(), " scores but ", labels.size(), " labels");
    const std::size_t n = scores.size();
    std::size_t n1 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        require(labels[i] == L(0) || labels[i] == L(1), "roc_auc", "labels must be 0 or 1, got ", double(labels[i]),
                " at index ", i);
        require(std::isfinite(double(scores[i])), "roc_auc", "non-finite score ", double(scores[i]), " at index ", i);
        n1 += labels[i] == L(1);
    }
    const std::size_t n0 = n - n1;
    require(n0 > 0 && n1 > 0, "roc_auc", "needs both classes, got ", n0, " normal and ", n1, " anomalous");
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
    double rank_sum = 0;  // sum of 1-based mid-ranks of the anomalies
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        std::size_t pos = 0;
        while (j < n && scores[idx[j]] == scores[idx[i]]) pos += labels[idx[j++]] == L(1);
        const double mid = 0.5 * double(i + 1 + j);  // average of ranks i+1 .. j
        rank_sum += mid * double(pos);
        i = j;
    }
    return (rank_sum - 0.5 * double(n1) * double(n1 + 1)) / (double(n0) * double(n1));
}

template <class S, class L>
double roc_auc(const std::vector<S>& scores, const std::vector<L>& labels) {
    return roc_auc(std::span<const S>(scores), std::span<const L>(labels));
}

/// The ROC curve: one point (false positive rate, true positive rate) per distinct threshold,
/// from (0, 0) (nothing flagged) to (1, 1), tied scores moving together (as sklearn's roc_curve
/// with drop_intermediate = false). The trapezoids under it sum to roc_auc.
struct roc_point {
    double fpr, tpr;
};
template <class S, class L>
std::vector<roc_point> roc_curve(const std::vector<S>& scores, const std::vector<L>& labels) {
    (void)roc_auc(scores, labels);  // the same checks
    const std::size_t n = scores.size();
    std::size_t n1 = 0;
    for (const auto l : labels) n1 += l == L(1);
    const double n0 = double(n - n1);
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
    std::vector<roc_point> pts{{0.0, 0.0}};
    std::size_t tp = 0, fp = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i;
        while (j < n && scores[idx[j]] == scores[idx[i]]) (labels[idx[j++]] == L(1) ? tp : fp)++;
        pts.push_back({double(fp) / n0, double(tp) / double(n1)});
        i = j;
    }
    return pts;
}

}  // namespace oneclass
