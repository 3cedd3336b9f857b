// oneclass/detectors/threshold.hpp - from scores to decisions, calibrated on normal data only.
//
// A one-class detector has no anomalies to tune on, so the threshold is a quantile of scores of
// held-out *normal* samples: with q = 0.95, about 5% of normal data is flagged (the false-alarm
// rate the user chooses). Scores are anomaly scores (higher = more anomalous); predict gives 1
// for "anomaly" (score > threshold) and 0 for "normal".
//
//     auto thr = oneclass::fit_threshold(det, held_out_normal, 0.95);
//     std::vector<int> y = oneclass::predict(det, test, thr);
#pragma once

#include <oneclass/detectors/detector.hpp>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

namespace oneclass {

/// The q-quantile of `values` with linear interpolation between order statistics (numpy's
/// default "linear" method, type 7 of Hyndman and Fan).
template <class T>
double quantile(std::span<const T> values, double q) {
    require(!values.empty(), "quantile", "no values");
    require(q >= 0 && q <= 1, "quantile", "q must be in [0, 1], got ", q);
    std::vector<double> v(values.begin(), values.end());
    for (double x : v) require(std::isfinite(x), "quantile", "non-finite value ", x);
    std::sort(v.begin(), v.end());
    const double pos = q * double(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

/// A threshold on anomaly scores.
struct score_threshold {
    double value = 0;
    double quantile = 0;  ///< the quantile of held-out normal scores it was set at
};

/// Threshold at the q-quantile of the detector's scores on held-out normal rows.
template <Detector D>
score_threshold fit_threshold(const D& det, matrix_view<const typename D::value_type> held_out_normal, double q = 0.95) {
    require(held_out_normal.rows() >= 1, "fit_threshold", "needs at least one held-out normal row");
    const auto s = det.score(held_out_normal);
    return {quantile<typename D::value_type>(s, q), q};
}

/// 1 = anomaly (score > threshold), 0 = normal, for precomputed scores.
template <class T>
std::vector<int> predict(std::span<const T> scores, score_threshold thr) {
    std::vector<int> y(scores.size());
    for (std::size_t i = 0; i < scores.size(); ++i) y[i] = double(scores[i]) > thr.value ? 1 : 0;
    return y;
}

/// 1 = anomaly, 0 = normal, one per row of X.
template <Detector D>
std::vector<int> predict(const D& det, matrix_view<const typename D::value_type> X, score_threshold thr) {
    const auto s = det.score(X);
    return predict<typename D::value_type>(s, thr);
}

}  // namespace oneclass
