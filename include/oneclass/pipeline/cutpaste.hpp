// oneclass/pipeline/cutpaste.hpp - the CutPaste proxy (Li, Sohn, Yoon and Pfister, "CutPaste:
// Self-Supervised Learning for Anomaly Detection and Localization", CVPR 2021): a 3-way classifier
// on g(f(x)) tells normal images from two synthetic defects,
//
//   cut_paste  a rectangle of 2-15 % of the image, aspect ratio log-uniform in [0.3, 3.3], cut at
//              one place, colour-jittered and pasted at another;
//   scar       a thin rectangle (width 2-16, length 10-25 px at 256 px, scaled with the image),
//              cut, colour-jittered, rotated by -45..45 degrees and pasted,
//
// the "3-way" variant of the paper. Its detector is the detector stage's (GDE on f in the paper).
// Each synthetic image is a function of (seed, kind, image index) only.
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/losses/losses.hpp>
#include <oneclass/pipeline/proxy.hpp>

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

namespace oneclass::pipeline {

struct cutpaste_params {
    double area_min = 0.02, area_max = 0.15;  ///< cut_paste: fraction of the image
    double ratio_min = 0.3, ratio_max = 3.3;  ///< cut_paste: aspect ratio (width / height), log-uniform
    double scar_width_min = 2, scar_width_max = 16, scar_length_min = 10, scar_length_max = 25;  ///< at 256 px
    double scar_min_side = 0;                 ///< scars scale as max(min(H, W), scar_min_side) / 256 (docs/results.md: ablation)
    double scar_angle = 45;                   ///< degrees, either way
    double jitter = 0.1;                      ///< brightness, contrast, saturation and hue of the pasted piece
};

namespace detail {
/// The h x w box of src at (y0, x0), colour-jittered (C x h x w).
template <class T>
std::vector<T> jittered_piece(const T* src, std::size_t C, std::size_t H, std::size_t W, std::size_t y0, std::size_t x0,
                              std::size_t h, std::size_t w, double jitter, rng& r) {
    std::vector<T> piece(C * h * w);
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t x = 0; x < w; ++x) piece[(c * h + y) * w + x] = src[(c * H + y0 + y) * W + x0 + x];
    augment::simclr_params p;
    p.brightness = p.contrast = p.saturation = p.hue = jitter;
    if (jitter > 0) augment::color_jitter(piece.data(), C, h * w, p, r);
    return piece;
}
}  // namespace detail

/// dst = src with a jittered rectangle of itself pasted elsewhere; mask (H x W, optional) marks
/// the pasted pixels.
template <class T>
void cut_paste(const T* src, std::size_t C, std::size_t H, std::size_t W, const cutpaste_params& p, rng& r, T* dst,
               std::uint8_t* mask = nullptr) {
    const double area = double(H * W) * (p.area_min + (p.area_max - p.area_min) * r.uniform());
    const double ratio = std::exp(std::log(p.ratio_min) + (std::log(p.ratio_max) - std::log(p.ratio_min)) * r.uniform());
    const std::size_t w = std::clamp<std::size_t>(std::size_t(std::lround(std::sqrt(area * ratio))), 1, W);
    const std::size_t h = std::clamp<std::size_t>(std::size_t(std::lround(std::sqrt(area / ratio))), 1, H);
    const std::size_t y0 = r.below(H - h + 1), x0 = r.below(W - w + 1);
    const std::vector<T> piece = detail::jittered_piece(src, C, H, W, y0, x0, h, w, p.jitter, r);
    const std::size_t y1 = r.below(H - h + 1), x1 = r.below(W - w + 1);
    std::copy_n(src, C * H * W, dst);
    if (mask) std::fill_n(mask, H * W, std::uint8_t(0));
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) {
            for (std::size_t c = 0; c < C; ++c) dst[(c * H + y1 + y) * W + x1 + x] = piece[(c * h + y) * w + x];
            if (mask) mask[(y1 + y) * W + x1 + x] = 1;
        }
}

/// dst = src with a thin jittered strip of itself, rotated, pasted elsewhere (nearest-neighbour
/// rotation about the strip's centre); mask (optional) marks the pasted pixels.
template <class T>
void scar(const T* src, std::size_t C, std::size_t H, std::size_t W, const cutpaste_params& p, rng& r, T* dst,
          std::uint8_t* mask = nullptr) {
    const double s = std::max(double(std::min(H, W)), p.scar_min_side) / 256.0;
    auto draw = [&](double lo, double hi) { return std::max<std::size_t>(1, std::size_t(std::lround(s * (lo + (hi - lo) * r.uniform())))); };
    const std::size_t w = std::min(W, draw(p.scar_width_min, p.scar_width_max));
    const std::size_t h = std::min(H, draw(p.scar_length_min, p.scar_length_max));
    const std::size_t y0 = r.below(H - h + 1), x0 = r.below(W - w + 1);
    const std::vector<T> piece = detail::jittered_piece(src, C, H, W, y0, x0, h, w, p.jitter, r);
    const double a = (2 * r.uniform() - 1) * p.scar_angle * 3.14159265358979323846 / 180.0;
    const double ca = std::cos(a), sa = std::sin(a);
    // the rotated strip's bounding box, and its centre in the image
    const double hw = 0.5 * double(w), hh = 0.5 * double(h);
    const double ex = std::abs(ca) * hw + std::abs(sa) * hh, ey = std::abs(sa) * hw + std::abs(ca) * hh;
    const double cx = ex + (double(W) - 2 * ex) * r.uniform(), cy = ey + (double(H) - 2 * ey) * r.uniform();
    std::copy_n(src, C * H * W, dst);
    if (mask) std::fill_n(mask, H * W, std::uint8_t(0));
    const long ylo = std::max(0L, long(std::floor(cy - ey))), yhi = std::min(long(H) - 1, long(std::ceil(cy + ey)));
    const long xlo = std::max(0L, long(std::floor(cx - ex))), xhi = std::min(long(W) - 1, long(std::ceil(cx + ex)));
    for (long y = ylo; y <= yhi; ++y)
        for (long x = xlo; x <= xhi; ++x) {
            // the pixel centre in the strip's frame (the inverse rotation)
            const double dx = double(x) + 0.5 - cx, dy = double(y) + 0.5 - cy;
            const double u = ca * dx + sa * dy + hw, v = -sa * dx + ca * dy + hh;
            if (u < 0 || v < 0 || u >= double(w) || v >= double(h)) continue;
            const std::size_t pu = std::size_t(u), pv = std::size_t(v);
            for (std::size_t c = 0; c < C; ++c) dst[(c * H + std::size_t(y)) * W + std::size_t(x)] = piece[(c * h + pv) * w + pu];
            if (mask) mask[std::size_t(y) * W + std::size_t(x)] = 1;
        }
}

/// The 3-way CutPaste proxy: normal (0), cut_paste (1), scar (2), a linear classifier on g(f(x)).
class cutpaste_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "cutpaste";
    cutpaste_proxy(std::size_t head_out, rng& r, cutpaste_params p = {})
        : cls_(std::make_shared<nn::linear<float>>(head_out, 3, true, r)), p_(p) {}
    static cutpaste_proxy make(const representation_config& c, const nn::resnet<float>&, rng& r) {
        return cutpaste_proxy(c.head_out, r);
    }
    /// The batch of 3N images (the N originals, their cut_paste and their scar versions) and
    /// labels; image n's are seeded by (seed, first + n), its index in the global batch.
    std::pair<tensor<float>, std::vector<int>> batch(const tensor<float>& x, std::uint64_t seed, std::size_t first = 0) const {
        require(x.ndim() == 4, "cutpaste_proxy", "expects N x C x H x W images, got ", to_string(x.shape()));
        const std::size_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3), img = C * H * W;
        tensor<float> out({3 * N, C, H, W}, uninitialized);
        std::vector<int> labels(3 * N);
        std::copy_n(x.data(), x.size(), out.data());
        for (std::size_t n = 0; n < N; ++n) {
            labels[N + n] = 1, labels[2 * N + n] = 2;
            const std::size_t i = first + n;
            rng a(seed * 0x9e3779b97f4a7c15ull ^ (2 * i + 1)), b(seed * 0x9e3779b97f4a7c15ull ^ (2 * i + 2));
            cut_paste(x.data() + n * img, C, H, W, p_, a, out.data() + (N + n) * img);
            scar(x.data() + n * img, C, H, W, p_, b, out.data() + (2 * N + n) * img);
        }
        return {std::move(out), std::move(labels)};
    }
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return loss(net, x, seed, batch_shard::whole(x.shape(0))).loss;
    }
    loss_part loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s) {
        auto [xb, labels] = batch(x, seed, s.first);
        return share_of_mean(fn::cross_entropy(cls_->forward(net.embed(xb)), labels), s);
    }
    std::vector<nn::named_variable<float>> parameters() {
        std::vector<nn::named_variable<float>> ps;
        for (auto& q : cls_->parameters()) ps.push_back({"cls." + q.id, q.var, q.no_weight_decay});
        return ps;
    }
    std::vector<nn::named_buffer<float>> buffers() { return {}; }
    void train(bool on) { cls_->train(on); }

private:
    std::shared_ptr<nn::linear<float>> cls_;
    cutpaste_params p_;
};

}  // namespace oneclass::pipeline
