// oneclass/augment/augment.hpp - image augmentations for self-supervised training (NCHW, [0, 1]).
//
// SimCLR views (Chen et al. 2020, as torchvision composes them): random resized crop (area
// 0.08-1, aspect 3/4-4/3, bilinear), horizontal flip (0.5), colour jitter (brightness, contrast,
// saturation, hue; probability 0.8; the four in random order), random grayscale (0.2) and a
// Gaussian blur (probability 0.5, kernel about H/10, sigma in [0.1, 2]) that really runs (the
// official DROC code's blur is a no-op). `droc_compat` reproduces the official pipeline: a square
// crop of side [0.5 H, H], jitter with probability 1, no blur.
//
// Distribution augmentations for DistAug (Sohn et al. 2021): rot90 by k, hflip, vflip and the
// official ordered combinations 0..7 = rot0, rot0+hflip, rot90, rot90+hflip, rot180, ... Each
// transformed copy is a new instance (a negative of its source).
//
// Every random choice comes from an rng seeded per image (seed, image index), so a batch is
// augmented identically on any number of threads.
//
//     oneclass::augment::simclr views;   // or views({.droc_compat = true})
//     auto v1 = views(batch, 2 * step), v2 = views(batch, 2 * step + 1);
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/rng.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <span>
#include <vector>

namespace oneclass::augment {

// ---- geometry ----------------------------------------------------------------------------------

/// dst = src rotated by k * 90 degrees counter-clockwise (as numpy.rot90 / torch.rot90 on the
/// last two axes). src C x H x W; dst C x W x H for odd k, C x H x W for even k.
template <class T>
void rot90(const T* src, std::size_t C, std::size_t H, std::size_t W, int k, T* dst) {
    k = ((k % 4) + 4) % 4;
    const std::size_t Ho = (k % 2) ? W : H, Wo = (k % 2) ? H : W;
    for (std::size_t c = 0; c < C; ++c) {
        const T* s = src + c * H * W;
        T* d = dst + c * H * W;
        for (std::size_t i = 0; i < Ho; ++i)
            for (std::size_t j = 0; j < Wo; ++j) {
                std::size_t si, sj;  // source of output (i, j)
                switch (k) {
                    case 0: si = i, sj = j; break;
                    case 1: si = j, sj = W - 1 - i; break;
                    case 2: si = H - 1 - i, sj = W - 1 - j; break;
                    default: si = H - 1 - j, sj = i; break;
                }
                d[i * Wo + j] = s[si * W + sj];
            }
    }
}

template <class T>
void hflip(const T* src, std::size_t C, std::size_t H, std::size_t W, T* dst) {
    for (std::size_t ch = 0; ch < C * H; ++ch)
        for (std::size_t j = 0; j < W; ++j) dst[ch * W + j] = src[ch * W + W - 1 - j];
}

template <class T>
void vflip(const T* src, std::size_t C, std::size_t H, std::size_t W, T* dst) {
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < H; ++i) std::copy_n(src + (c * H + H - 1 - i) * W, W, dst + (c * H + i) * W);
}

/// The official DistAug ordering: shift s in 0..7 = rotation (s / 2) * 90 degrees, then a
/// horizontal flip if s is odd. Square images (rotations keep the shape).
template <class T>
tensor<T> distribution_shift(const tensor<T>& batch, int s) {
    require(batch.ndim() == 4 && batch.shape(2) == batch.shape(3), "augment::distribution_shift",
            "expects N x C x H x H images, got ", to_string(batch.shape()));
    require(s >= 0 && s < 8, "augment::distribution_shift", "shift must be in 0..7, got ", s);
    const tensor<T> x = batch.contiguous_copy();
    const std::size_t N = x.shape(0), C = x.shape(1), H = x.shape(2), img = C * H * H;
    tensor<T> out(x.shape(), uninitialized);
    std::vector<T> tmp(img);
    for (std::size_t n = 0; n < N; ++n) {
        rot90(x.data() + n * img, C, H, H, s / 2, (s % 2) ? tmp.data() : out.data() + n * img);
        if (s % 2) hflip(tmp.data(), C, H, H, out.data() + n * img);
    }
    return out;
}

// ---- SimCLR views ------------------------------------------------------------------------------

struct crop_box {
    std::size_t top = 0, left = 0, height = 0, width = 0;
};

struct simclr_params {
    double min_area = 0.08, max_area = 1.0;           ///< random resized crop, fraction of the image
    double min_ratio = 3.0 / 4.0, max_ratio = 4.0 / 3.0;
    double hflip_p = 0.5;
    double jitter_p = 0.8;
    double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1;
    double grayscale_p = 0.2;
    double blur_p = 0.5;
    double blur_sigma_min = 0.1, blur_sigma_max = 2.0;
    bool droc_compat = false;  ///< official pipeline: square crop [0.5 H, H], jitter p = 1, no blur
};

/// torchvision's RandomResizedCrop.get_params: up to 10 tries of (area, log-uniform aspect),
/// then the central crop clamped to the allowed ratios.
inline crop_box sample_crop(rng& r, std::size_t H, std::size_t W, const simclr_params& p) {
    const double area = double(H) * double(W);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const double target = area * (p.min_area + (p.max_area - p.min_area) * r.uniform());
        const double log_ratio = std::log(p.min_ratio) + (std::log(p.max_ratio) - std::log(p.min_ratio)) * r.uniform();
        const double ratio = std::exp(log_ratio);
        const auto w = std::size_t(std::lround(std::sqrt(target * ratio)));
        const auto h = std::size_t(std::lround(std::sqrt(target / ratio)));
        if (w >= 1 && h >= 1 && w <= W && h <= H)
            return {std::size_t(r.below(H - h + 1)), std::size_t(r.below(W - w + 1)), h, w};
    }
    const double in_ratio = double(W) / double(H);
    std::size_t w = W, h = H;
    if (in_ratio < p.min_ratio) h = std::size_t(std::lround(double(w) / p.min_ratio));
    else if (in_ratio > p.max_ratio) w = std::size_t(std::lround(double(h) * p.max_ratio));
    return {(H - h) / 2, (W - w) / 2, h, w};
}

/// The official DROC crop: a square of side uniform in [0.5 H, H] at a uniform position.
inline crop_box sample_square_crop(rng& r, std::size_t H, std::size_t W) {
    const std::size_t lo = std::max<std::size_t>(1, H / 2), hi = std::min(H, W);
    const std::size_t side = lo + std::size_t(r.below(hi - lo + 1));
    return {std::size_t(r.below(H - side + 1)), std::size_t(r.below(W - side + 1)), side, side};
}

/// dst (C x Ho x Wo) = the box of src resized with bilinear interpolation (half-pixel centres,
/// as torchvision / F.interpolate with align_corners = false).
template <class T>
void resized_crop(const T* src, std::size_t C, std::size_t H, std::size_t W, crop_box b, std::size_t Ho, std::size_t Wo,
                  T* dst) {
    const double sy = double(b.height) / double(Ho), sx = double(b.width) / double(Wo);
    for (std::size_t i = 0; i < Ho; ++i) {
        const double y = std::clamp((double(i) + 0.5) * sy - 0.5, 0.0, double(b.height - 1));
        const std::size_t y0 = std::size_t(y), y1 = std::min(y0 + 1, b.height - 1);
        const double ly = y - double(y0);
        for (std::size_t j = 0; j < Wo; ++j) {
            const double x = std::clamp((double(j) + 0.5) * sx - 0.5, 0.0, double(b.width - 1));
            const std::size_t x0 = std::size_t(x), x1 = std::min(x0 + 1, b.width - 1);
            const double lx = x - double(x0);
            for (std::size_t c = 0; c < C; ++c) {
                const T* s = src + c * H * W + b.top * W + b.left;
                const double v = (1 - ly) * ((1 - lx) * s[y0 * W + x0] + lx * s[y0 * W + x1]) +
                                 ly * ((1 - lx) * s[y1 * W + x0] + lx * s[y1 * W + x1]);
                dst[(c * Ho + i) * Wo + j] = T(v);
            }
        }
    }
}

/// ITU-R 601 luma, as torchvision's rgb_to_grayscale.
inline constexpr std::array<double, 3> luma_weights{0.299, 0.587, 0.114};

namespace detail {
template <class T>
void grayscale_inplace(T* img, std::size_t HW) {
    for (std::size_t i = 0; i < HW; ++i) {
        const T l = T(luma_weights[0] * img[i] + luma_weights[1] * img[HW + i] + luma_weights[2] * img[2 * HW + i]);
        img[i] = img[HW + i] = img[2 * HW + i] = l;
    }
}
template <class T>
T clamp01(double v) {
    return T(std::clamp(v, 0.0, 1.0));
}
/// Hue rotation by h (fraction of a turn) through HSV, as torchvision's adjust_hue.
template <class T>
void hue_inplace(T* img, std::size_t HW, double h) {
    for (std::size_t i = 0; i < HW; ++i) {
        const double r = img[i], g = img[HW + i], b = img[2 * HW + i];
        const double mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
        double hh = 0;
        if (d > 0) {
            if (mx == r) hh = std::fmod((g - b) / d + 6.0, 6.0);
            else if (mx == g) hh = (b - r) / d + 2.0;
            else hh = (r - g) / d + 4.0;
            hh /= 6.0;
        }
        const double s = mx > 0 ? d / mx : 0.0, v = mx;
        hh = std::fmod(hh + h + 1.0, 1.0);
        const double f6 = hh * 6.0;
        const int sector = int(f6) % 6;
        const double f = f6 - std::floor(f6), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
        double o[3];
        switch (sector) {
            case 0: o[0] = v, o[1] = t, o[2] = p; break;
            case 1: o[0] = q, o[1] = v, o[2] = p; break;
            case 2: o[0] = p, o[1] = v, o[2] = t; break;
            case 3: o[0] = p, o[1] = q, o[2] = v; break;
            case 4: o[0] = t, o[1] = p, o[2] = v; break;
            default: o[0] = v, o[1] = p, o[2] = q; break;
        }
        img[i] = T(o[0]), img[HW + i] = T(o[1]), img[2 * HW + i] = T(o[2]);
    }
}
}  // namespace detail

/// Colour jitter with factors drawn from r: brightness b in [1 - B, 1 + B] scales; contrast blends
/// with the mean luma; saturation blends with the per-pixel luma; hue rotates by [-H, H] turns.
/// The four run in a random order. Grayscale (1-channel) images get brightness and contrast only.
template <class T>
void color_jitter(T* img, std::size_t C, std::size_t HW, const simclr_params& p, rng& r) {
    int order[4] = {0, 1, 2, 3};
    for (int i = 3; i > 0; --i) std::swap(order[i], order[int(r.below(std::uint64_t(i + 1)))]);
    const double fb = 1 + p.brightness * (2 * r.uniform() - 1), fc = 1 + p.contrast * (2 * r.uniform() - 1);
    const double fs = 1 + p.saturation * (2 * r.uniform() - 1), fh = p.hue * (2 * r.uniform() - 1);
    for (int op : order) {
        if (op == 0) {
            for (std::size_t i = 0; i < C * HW; ++i) img[i] = detail::clamp01<T>(img[i] * fb);
        } else if (op == 1) {
            double mean = 0;
            if (C == 3)
                for (std::size_t i = 0; i < HW; ++i)
                    mean += luma_weights[0] * img[i] + luma_weights[1] * img[HW + i] + luma_weights[2] * img[2 * HW + i];
            else
                for (std::size_t i = 0; i < HW; ++i) mean += img[i];
            mean /= double(HW);
            for (std::size_t i = 0; i < C * HW; ++i) img[i] = detail::clamp01<T>(fc * img[i] + (1 - fc) * mean);
        } else if (op == 2 && C == 3) {
            for (std::size_t i = 0; i < HW; ++i) {
                const double l = luma_weights[0] * img[i] + luma_weights[1] * img[HW + i] + luma_weights[2] * img[2 * HW + i];
                for (std::size_t c = 0; c < 3; ++c) img[c * HW + i] = detail::clamp01<T>(fs * img[c * HW + i] + (1 - fs) * l);
            }
        } else if (op == 3 && C == 3) {
            detail::hue_inplace(img, HW, fh);
        }
    }
}

/// Separable Gaussian blur with an odd kernel of `size` taps and reflect padding.
template <class T>
void gaussian_blur(T* img, std::size_t C, std::size_t H, std::size_t W, std::size_t size, double sigma) {
    require(size % 2 == 1 && sigma > 0, "augment::gaussian_blur", "kernel size must be odd and sigma > 0");
    const std::ptrdiff_t r = std::ptrdiff_t(size / 2);
    std::vector<double> k(size);
    double s = 0;
    for (std::ptrdiff_t i = -r; i <= r; ++i) s += k[std::size_t(i + r)] = std::exp(-double(i * i) / (2 * sigma * sigma));
    for (auto& v : k) v /= s;
    auto reflect = [](std::ptrdiff_t i, std::ptrdiff_t n) {
        if (n == 1) return std::ptrdiff_t(0);
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        return i;
    };
    std::vector<T> tmp(H * W);
    for (std::size_t c = 0; c < C; ++c) {
        T* p = img + c * H * W;
        for (std::size_t i = 0; i < H; ++i)
            for (std::size_t j = 0; j < W; ++j) {
                double a = 0;
                for (std::ptrdiff_t t = -r; t <= r; ++t) a += k[std::size_t(t + r)] * p[i * W + std::size_t(reflect(std::ptrdiff_t(j) + t, std::ptrdiff_t(W)))];
                tmp[i * W + j] = T(a);
            }
        for (std::size_t i = 0; i < H; ++i)
            for (std::size_t j = 0; j < W; ++j) {
                double a = 0;
                for (std::ptrdiff_t t = -r; t <= r; ++t) a += k[std::size_t(t + r)] * tmp[std::size_t(reflect(std::ptrdiff_t(i) + t, std::ptrdiff_t(H))) * W + j];
                p[i * W + j] = T(a);
            }
    }
}

/// The SimCLR view pipeline over a batch; image n uses rng(seed, ids[n]) only (ids empty: n), so
/// that a rank of a data-parallel run augments its rows as one process augments the whole batch.
class simclr {
public:
    explicit simclr(simclr_params p = {}) : p_(p) {
        require(p.min_area > 0 && p.min_area <= p.max_area && p.max_area <= 1, "augment::simclr", "bad crop area range");
        require(p.min_ratio > 0 && p.min_ratio <= p.max_ratio, "augment::simclr", "bad crop ratio range");
    }

    tensor<float> operator()(const tensor<float>& batch, std::uint64_t seed, std::span<const std::size_t> ids = {}) const {
        require(batch.ndim() == 4 && (batch.shape(1) == 1 || batch.shape(1) == 3), "augment::simclr",
                "expects N x 1 or N x 3 x H x W images, got ", to_string(batch.shape()));
        const tensor<float> x = batch.contiguous_copy();
        const std::size_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3), img = C * H * W;
        require(ids.empty() || ids.size() == N, "augment::simclr", ids.size(), " image indices for ", N, " images");
        tensor<float> out(x.shape(), uninitialized);
        parallel::for_chunks(0, N, 1, [&](std::size_t lo, std::size_t hi) {
            std::vector<float> tmp(img);
            for (std::size_t n = lo; n < hi; ++n) {
                rng r(seed * 0x9E3779B97F4A7C15ULL + (ids.empty() ? n : ids[n]) + 1);
                float* o = out.data() + n * img;
                const crop_box b = p_.droc_compat ? sample_square_crop(r, H, W) : sample_crop(r, H, W, p_);
                resized_crop(x.data() + n * img, C, H, W, b, H, W, tmp.data());
                if (r.uniform() < p_.hflip_p) hflip(tmp.data(), C, H, W, o);
                else std::copy(tmp.begin(), tmp.end(), o);
                if (r.uniform() < (p_.droc_compat ? 1.0 : p_.jitter_p)) color_jitter(o, C, H * W, p_, r);
                if (C == 3 && r.uniform() < p_.grayscale_p) detail::grayscale_inplace(o, H * W);
                if (!p_.droc_compat && r.uniform() < p_.blur_p) {
                    const std::size_t size = std::max<std::size_t>(3, (H / 10) | 1);  // odd, about H / 10
                    gaussian_blur(o, C, H, W, size, p_.blur_sigma_min + (p_.blur_sigma_max - p_.blur_sigma_min) * r.uniform());
                }
            }
        });
        return out;
    }
    const simclr_params& params() const { return p_; }

private:
    simclr_params p_;
};

}  // namespace oneclass::augment
