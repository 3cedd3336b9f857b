// oneclass/explain/attribution.hpp - why a one-class detector fired, as a map over the image
// (Sohn et al. 2021, sections 3.2.1 and 5.4): the anomaly score is differentiated through the
// network to the pixels.
//
//   gradient   saliency: d s / d x (Simonyan et al. 2014);
//   ig         integrated gradients (Sundararajan et al. 2017): (x - x') * integral over a in
//              [0, 1] of d s / d x at x' + a (x - x'), by an m-point midpoint (Riemann) or
//              Gauss-Legendre rule, from a baseline x' (black, blurred or mean image); by
//              completeness the attributions sum to s(x) - s(x'), and the gap is reported;
//   gradcam    GradCAM (Selvaraju et al. 2017): the activation A of an encoder stage weighted
//              per channel by the spatial mean of d s / d A, summed, ReLU, bilinearly upsampled.
//
// What is explained is a `target`: any map from N images on the tape to N anomaly scores
// (explain/targets.hpp builds them from a representation and a detector, or the proxy's own
// score). Each method returns the raw attributions and a heat map per image (N x H x W): the sum
// over channels of |attribution| for gradient and ig, the upsampled CAM for gradcam.
//
//     auto t = oneclass::explain::detector_target(rep, kde);             // s(x) = kde(f(x))
//     auto a = oneclass::explain::integrated_gradients(t, images, {.steps = 32});
//     // a.map: N x H x W; a.completeness_gap[i] = |sum a.values[i] - (s(x_i) - s(x'_i))|
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/autograd/functions.hpp>
#include <oneclass/autograd/nn_functions.hpp>

#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

namespace oneclass::explain {

/// A differentiable anomaly score of images: `score(x, activation)` returns the N scores of the
/// N x C x H x W images x on the tape (higher = more anomalous); when `activation` is not null it
/// also stores there the feature map GradCAM weighs (N x K x h x w, on the tape). `release`, if
/// set, runs after each backward pass (e.g. to drop the network's parameter gradients).
struct target {
    std::function<variable<float>(const variable<float>& x, variable<float>* activation)> score;
    std::string name;
    std::function<void()> release = {};
};

enum class method { gradient, integrated_gradients, gradcam };
enum class baseline { black, blur, mean };
enum class quadrature { riemann, gauss_legendre };

inline const char* method_name(method m) {
    return m == method::gradient ? "gradient" : m == method::integrated_gradients ? "ig" : "gradcam";
}
inline method parse_method(const std::string& s) {
    if (s == "gradient") return method::gradient;
    if (s == "ig") return method::integrated_gradients;
    if (s == "gradcam") return method::gradcam;
    fail("explain", "unknown method '", s, "' (gradient, ig, gradcam)");
}
inline baseline parse_baseline(const std::string& s) {
    if (s == "black") return baseline::black;
    if (s == "blur") return baseline::blur;
    if (s == "mean") return baseline::mean;
    fail("explain", "unknown baseline '", s, "' (black, blur, mean)");
}

struct ig_params {
    std::size_t steps = 32;
    quadrature rule = quadrature::riemann;
    explain::baseline from = baseline::black;
    double blur_sigma = 0;                 ///< blur baseline: Gaussian sigma in pixels, 0 = min(H, W) / 8 (augment::gaussian_blur)
    std::vector<float> channel_mean = {};  ///< mean baseline: per-channel values (empty: each image's own)
    std::size_t batch = 64;                ///< path points per forward/backward pass
};

/// What a method found for N images.
struct attribution {
    tensor<float> values;                  ///< N x C x H x W (gradient, ig); N x 1 x H x W (gradcam)
    tensor<float> map;                     ///< N x H x W, the heat map
    std::vector<double> score;             ///< s(x) per image
    std::vector<double> baseline_score;    ///< ig: s(x')
    std::vector<double> completeness_gap;  ///< ig: |sum of attributions - (s(x) - s(x'))|
};

/// Nodes and weights of an m-point rule on [0, 1]: midpoints with weights 1/m, or Gauss-Legendre
/// (exact for polynomials of degree 2m - 1; nodes by Newton's method on the Legendre polynomial).
inline std::pair<std::vector<double>, std::vector<double>> quadrature_rule(std::size_t m, quadrature q) {
    require(m >= 1 && m <= 4096, "explain::quadrature_rule", "steps must be in 1..4096, got ", m);
    std::vector<double> a(m), w(m);
    if (q == quadrature::riemann) {
        for (std::size_t k = 0; k < m; ++k) a[k] = (double(k) + 0.5) / double(m), w[k] = 1.0 / double(m);
        return {a, w};
    }
    // P_m(t) and P_m'(t) by the three-term recurrence
    auto legendre = [m](double t) {
        double p0 = 1, p1 = t;
        for (std::size_t j = 2; j <= m; ++j) {
            const double p2 = ((2.0 * double(j) - 1) * t * p1 - (double(j) - 1) * p0) / double(j);
            p0 = p1, p1 = p2;
        }
        return std::pair{p1, double(m) * (t * p1 - p0) / (t * t - 1)};
    };
    for (std::size_t k = 0; k < m; ++k) {
        double t = std::cos(std::numbers::pi * (double(k) + 0.75) / (double(m) + 0.5));
        for (int it = 0; it < 100; ++it) {
            const auto [p, dp] = legendre(t);
            const double dt = p / dp;
            t -= dt;
            if (std::abs(dt) < 1e-15) break;
        }
        const double dp = legendre(t).second;  // at the converged node, for the weight 2 / ((1 - t^2) P_m'(t)^2)
        a[m - 1 - k] = 0.5 * (t + 1);  // [-1, 1] -> [0, 1], ascending
        w[m - 1 - k] = 1.0 / ((1 - t * t) * dp * dp);
    }
    return {a, w};
}

namespace detail {

inline void check_images(const tensor<float>& x, const char* where) {
    require(x.ndim() == 4 && x.shape(0) >= 1, where, "expects N x C x H x W images, got ", to_string(x.shape()));
    for (std::size_t i = 0; i < x.size(); ++i)
        require(std::isfinite(x.data()[i]), where, "image ", i / (x.size() / x.shape(0)), " holds a non-finite value");
}

/// The scores of x and d sum(scores) / d x, one forward and one backward pass.
inline std::vector<double> scores_and_gradient(const target& t, const tensor<float>& x, tensor<float>& grad,
                                               variable<float>* activation = nullptr) {
    variable<float> in = variable<float>::parameter(x);
    variable<float> s = t.score(in, activation);
    require(s.value().size() == x.shape(0), "explain", "target '", t.name, "' returned ", s.value().size(), " scores for ",
            x.shape(0), " images");
    std::vector<double> out(s.value().data(), s.value().data() + s.value().size());
    if (activation) activation->retain_grad();
    variable<float> total = fn::sum(s);
    backward(total);
    grad = in.grad().defined() ? in.grad() : tensor<float>(x.shape());
    if (t.release) t.release();
    return out;
}

inline std::vector<double> scores_only(const target& t, const tensor<float>& x) {
    no_grad ng;
    const variable<float> s = t.score(variable<float>(x), nullptr);
    return {s.value().data(), s.value().data() + s.value().size()};
}

/// N x H x W: sum over channels of |a|.
inline tensor<float> abs_channel_sum(const tensor<float>& a) {
    const std::size_t N = a.shape(0), C = a.shape(1), HW = a.shape(2) * a.shape(3);
    tensor<float> m({N, a.shape(2), a.shape(3)});
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t i = 0; i < HW; ++i) m.data()[n * HW + i] += std::abs(a.data()[(n * C + c) * HW + i]);
    return m;
}

}  // namespace detail

/// The baseline images x' of `x` for integrated gradients.
inline tensor<float> baseline_images(const tensor<float>& x, const ig_params& p) {
    detail::check_images(x, "explain::baseline_images");
    const std::size_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3), HW = H * W;
    tensor<float> b(x.shape());
    if (p.from == baseline::black) return b;
    if (p.from == baseline::blur) {
        const double sigma = p.blur_sigma > 0 ? p.blur_sigma : double(std::min(H, W)) / 8.0;
        require(std::isfinite(sigma), "explain::baseline_images", "blur_sigma must be finite");
        std::copy_n(x.data(), x.size(), b.data());
        const std::size_t taps = 2 * std::size_t(std::ceil(3 * sigma)) + 1;
        for (std::size_t n = 0; n < N; ++n) augment::gaussian_blur(b.data() + n * C * HW, C, H, W, taps, sigma);
        return b;
    }
    require(p.channel_mean.empty() || p.channel_mean.size() == C, "explain::baseline_images", "channel_mean has ",
            p.channel_mean.size(), " values for ", C, "-channel images");
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t c = 0; c < C; ++c) {
            const float* s = x.data() + (n * C + c) * HW;
            double m = 0;
            if (p.channel_mean.empty())
                for (std::size_t i = 0; i < HW; ++i) m += s[i] / double(HW);
            else m = p.channel_mean[c];
            std::fill_n(b.data() + (n * C + c) * HW, HW, float(m));
        }
    return b;
}

/// Saliency: d s / d x for each image, `batch` images per pass.
inline attribution gradient(const target& t, const tensor<float>& x, std::size_t batch = 32) {
    detail::check_images(x, "explain::gradient");
    const std::size_t N = x.shape(0), img = x.size() / N;
    attribution a;
    a.values = tensor<float>(x.shape(), uninitialized);
    for (std::size_t lo = 0; lo < N; lo += std::max<std::size_t>(1, batch)) {
        const std::size_t hi = std::min(N, lo + std::max<std::size_t>(1, batch));
        tensor<float> g;
        const auto s = detail::scores_and_gradient(t, x.slice(lo, hi).clone(), g);
        a.score.insert(a.score.end(), s.begin(), s.end());
        std::copy_n(g.data(), (hi - lo) * img, a.values.data() + lo * img);
    }
    a.map = detail::abs_channel_sum(a.values);
    return a;
}

/// Integrated gradients along the straight path from the baseline to each image.
inline attribution integrated_gradients(const target& t, const tensor<float>& x, const ig_params& p = {}) {
    detail::check_images(x, "explain::integrated_gradients");
    const auto [alpha, weight] = quadrature_rule(p.steps, p.rule);
    const std::size_t N = x.shape(0), img = x.size() / N, m = alpha.size();
    const tensor<float> base = baseline_images(x, p);
    attribution a;
    a.values = tensor<float>(x.shape());
    a.score = detail::scores_only(t, x);
    a.baseline_score = detail::scores_only(t, base);
    // the path points of all images, `batch` at a time: point (n, k) = x'_n + alpha_k (x_n - x'_n)
    const std::size_t total = N * m, per = std::max<std::size_t>(1, p.batch);
    shape_t bs = x.shape();
    for (std::size_t lo = 0; lo < total; lo += per) {
        const std::size_t hi = std::min(total, lo + per);
        bs[0] = hi - lo;
        tensor<float> pts(bs, uninitialized);
        for (std::size_t q = lo; q < hi; ++q) {
            const std::size_t n = q / m, k = q % m;
            const float* xs = x.data() + n * img;
            const float* b0 = base.data() + n * img;
            float* o = pts.data() + (q - lo) * img;
            for (std::size_t i = 0; i < img; ++i) o[i] = b0[i] + float(alpha[k]) * (xs[i] - b0[i]);
        }
        tensor<float> g;
        (void)detail::scores_and_gradient(t, pts, g);
        for (std::size_t q = lo; q < hi; ++q) {
            const std::size_t n = q / m, k = q % m;
            const float* gs = g.data() + (q - lo) * img;
            float* o = a.values.data() + n * img;
            for (std::size_t i = 0; i < img; ++i) o[i] += float(weight[k]) * gs[i];
        }
    }
    a.completeness_gap.resize(N);
    for (std::size_t n = 0; n < N; ++n) {
        double sum = 0;
        float* o = a.values.data() + n * img;
        for (std::size_t i = 0; i < img; ++i) {
            o[i] *= x.data()[n * img + i] - base.data()[n * img + i];
            sum += o[i];
        }
        a.completeness_gap[n] = std::abs(sum - (a.score[n] - a.baseline_score[n]));
    }
    a.map = detail::abs_channel_sum(a.values);
    return a;
}

/// The CAM of one image from its activation A (K x h x w) and dA = d s / d A: ReLU(sum_k w_k A_k)
/// with w_k the spatial mean of dA_k, bilinearly resized to H x W (half-pixel centres).
inline std::vector<float> gradcam_map(const float* A, const float* dA, std::size_t K, std::size_t h, std::size_t w,
                                      std::size_t H, std::size_t W) {
    std::vector<float> cam(h * w, 0.0f), out(H * W);
    for (std::size_t k = 0; k < K; ++k) {
        double wk = 0;
        for (std::size_t i = 0; i < h * w; ++i) wk += dA[k * h * w + i];
        wk /= double(h * w);
        for (std::size_t i = 0; i < h * w; ++i) cam[i] += float(wk * A[k * h * w + i]);
    }
    for (auto& v : cam) v = std::max(v, 0.0f);
    augment::resized_crop(cam.data(), 1, h, w, augment::crop_box{0, 0, h, w}, H, W, out.data());
    return out;
}

/// GradCAM at the activation the target stores (an encoder stage), `batch` images per pass.
inline attribution gradcam(const target& t, const tensor<float>& x, std::size_t batch = 32) {
    detail::check_images(x, "explain::gradcam");
    const std::size_t N = x.shape(0), H = x.shape(2), W = x.shape(3);
    attribution a;
    a.values = tensor<float>({N, 1, H, W}, uninitialized);
    for (std::size_t lo = 0; lo < N; lo += std::max<std::size_t>(1, batch)) {
        const std::size_t hi = std::min(N, lo + std::max<std::size_t>(1, batch));
        variable<float> act;
        tensor<float> g;
        const auto s = detail::scores_and_gradient(t, x.slice(lo, hi).clone(), g, &act);
        require(act.defined() && act.value().ndim() == 4 && act.shape()[0] == hi - lo, "explain::gradcam", "target '", t.name,
                "' stored no N x K x h x w activation");
        a.score.insert(a.score.end(), s.begin(), s.end());
        const tensor<float> A = act.value().contiguous_copy();
        const tensor<float> dA = act.grad().defined() ? act.grad().contiguous_copy() : tensor<float>(A.shape());
        const std::size_t K = A.shape(1), h = A.shape(2), w = A.shape(3);
        for (std::size_t n = lo; n < hi; ++n) {
            const auto cam = gradcam_map(A.data() + (n - lo) * K * h * w, dA.data() + (n - lo) * K * h * w, K, h, w, H, W);
            std::copy(cam.begin(), cam.end(), a.values.data() + n * H * W);
        }
    }
    a.map = a.values.clone().reshape({N, H, W});
    return a;
}

/// Any method by name.
inline attribution explain(const target& t, const tensor<float>& x, method m, const ig_params& p = {}) {
    switch (m) {
        case method::gradient: return gradient(t, x, p.batch);
        case method::integrated_gradients: return integrated_gradients(t, x, p);
        case method::gradcam: return gradcam(t, x, p.batch);
    }
    fail("explain", "unknown method");
}

}  // namespace oneclass::explain
