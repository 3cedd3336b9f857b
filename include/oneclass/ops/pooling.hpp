// oneclass/ops/pooling.hpp - pooling and upsampling kernels on N x C x H x W planes (the planes
// of all images and channels, NC of them, one after another): k x k max and average pooling with
// stride and padding, global average pooling, and nearest / bilinear upsampling by an integer
// factor, each with its backward pass. autograd's fn:: functions wrap them; the double oracles
// are in ops/ref/pooling.hpp.
#pragma once

#include <oneclass/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

namespace oneclass::ops {

/// A k x k pooling window with stride s and padding pad over H x W planes; output P x Q.
struct pool_shape {
    std::size_t NC, H, W, k, s, pad;
    std::size_t P() const { return (H + 2 * pad - k) / s + 1; }
    std::size_t Q() const { return (W + 2 * pad - k) / s + 1; }
    void validate(const char* where) const {
        require(k >= 1 && s >= 1 && pad * 2 <= k, where, "bad window ", k, ", stride ", s, ", padding ", pad);
        require(H + 2 * pad >= k && W + 2 * pad >= k, where, "window ", k, " larger than the ", H, " x ", W, " input");
    }
    /// f(offset within the plane) for every in-image position of output (p, q)'s window.
    template <class F>
    void window(std::size_t p, std::size_t q, F&& f) const {
        for (std::size_t r = 0; r < k; ++r)
            for (std::size_t t = 0; t < k; ++t) {
                const std::ptrdiff_t h = std::ptrdiff_t(p * s + r) - std::ptrdiff_t(pad);
                const std::ptrdiff_t w = std::ptrdiff_t(q * s + t) - std::ptrdiff_t(pad);
                if (h >= 0 && w >= 0 && h < std::ptrdiff_t(H) && w < std::ptrdiff_t(W)) f(std::size_t(h) * W + std::size_t(w));
            }
    }
};

/// y = the window maxima (padded positions never win); arg = each maximum's index in x (the
/// first of equal values), for the backward pass.
template <class T>
void max_pool2d_forward(const T* x, const pool_shape& g, T* y, std::size_t* arg) {
    const std::size_t P = g.P(), Q = g.Q(), HW = g.H * g.W;
    for (std::size_t nc = 0; nc < g.NC; ++nc)
        for (std::size_t p = 0; p < P; ++p)
            for (std::size_t q = 0; q < Q; ++q) {
                T best = -std::numeric_limits<T>::infinity();
                std::size_t bi = 0;
                g.window(p, q, [&](std::size_t i) {
                    if (x[nc * HW + i] > best) best = x[nc * HW + i], bi = nc * HW + i;
                });
                const std::size_t o = (nc * P + p) * Q + q;
                y[o] = best;
                arg[o] = bi;
            }
}

/// dx[arg[i]] += dy[i] over the n outputs.
template <class T>
void max_pool2d_backward(const std::size_t* arg, const T* dy, std::size_t n, T* dx) {
    for (std::size_t i = 0; i < n; ++i) dx[arg[i]] += dy[i];
}

/// y = window sums / k^2: zero padding counts in the divisor (PyTorch's count_include_pad=True).
template <class T>
void avg_pool2d_forward(const T* x, const pool_shape& g, T* y) {
    const std::size_t P = g.P(), Q = g.Q(), HW = g.H * g.W;
    const T inv = T(1) / T(g.k * g.k);
    for (std::size_t nc = 0; nc < g.NC; ++nc)
        for (std::size_t p = 0; p < P; ++p)
            for (std::size_t q = 0; q < Q; ++q) {
                T acc = 0;
                g.window(p, q, [&](std::size_t i) { acc += x[nc * HW + i]; });
                y[(nc * P + p) * Q + q] = acc * inv;
            }
}

template <class T>
void avg_pool2d_backward(const T* dy, const pool_shape& g, T* dx) {
    const std::size_t P = g.P(), Q = g.Q(), HW = g.H * g.W;
    const T inv = T(1) / T(g.k * g.k);
    for (std::size_t nc = 0; nc < g.NC; ++nc)
        for (std::size_t p = 0; p < P; ++p)
            for (std::size_t q = 0; q < Q; ++q) {
                const T d = dy[(nc * P + p) * Q + q] * inv;
                g.window(p, q, [&](std::size_t i) { dx[nc * HW + i] += d; });
            }
}

/// y[nc] = mean of plane nc (summed in double).
template <class T>
void global_avg_pool_forward(const T* x, std::size_t NC, std::size_t HW, T* y) {
    for (std::size_t nc = 0; nc < NC; ++nc) {
        double s = 0;
        for (std::size_t i = 0; i < HW; ++i) s += x[nc * HW + i];
        y[nc] = T(s / double(HW));
    }
}

template <class T>
void global_avg_pool_backward(const T* dy, std::size_t NC, std::size_t HW, T* dx) {
    for (std::size_t nc = 0; nc < NC; ++nc)
        for (std::size_t i = 0; i < HW; ++i) dx[nc * HW + i] += dy[nc] / T(HW);
}

enum class upsample_mode { nearest, bilinear };

/// One output row's (or column's) two source indices and the weight l of the second.
template <class T>
struct upsample_tap {
    std::size_t i0, i1;
    T l;
};

/// The taps of an axis of `in` values upsampled to `in * factor`: nearest, or bilinear with
/// align_corners = false (PyTorch's F.interpolate: source = (dst + 0.5) / factor - 0.5, clamped at 0).
template <class T>
std::vector<upsample_tap<T>> upsample_taps(std::size_t in, std::size_t factor, upsample_mode mode) {
    std::vector<upsample_tap<T>> t(in * factor);
    for (std::size_t d = 0; d < t.size(); ++d) {
        if (mode == upsample_mode::nearest) {
            t[d] = {d / factor, d / factor, T(0)};
            continue;
        }
        const double src = std::max(0.0, (double(d) + 0.5) / double(factor) - 0.5);
        const std::size_t i0 = std::min(in - 1, std::size_t(src));
        t[d] = {i0, std::min(i0 + 1, in - 1), T(src - double(i0))};
    }
    return t;
}

/// y (NC planes of th.size() x tw.size()) from x (NC planes of H x W) through the row and column taps.
template <class T>
void upsample2d_forward(const T* x, std::size_t NC, std::size_t H, std::size_t W, const std::vector<upsample_tap<T>>& th,
                        const std::vector<upsample_tap<T>>& tw, T* y) {
    const std::size_t Ho = th.size(), Wo = tw.size();
    for (std::size_t nc = 0; nc < NC; ++nc) {
        const T* src = x + nc * H * W;
        for (std::size_t h = 0; h < Ho; ++h)
            for (std::size_t w = 0; w < Wo; ++w) {
                const auto& a = th[h];
                const auto& b = tw[w];
                const T top = src[a.i0 * W + b.i0] * (1 - b.l) + src[a.i0 * W + b.i1] * b.l;
                const T bot = src[a.i1 * W + b.i0] * (1 - b.l) + src[a.i1 * W + b.i1] * b.l;
                y[(nc * Ho + h) * Wo + w] = top * (1 - a.l) + bot * a.l;
            }
    }
}

template <class T>
void upsample2d_backward(const T* dy, std::size_t NC, std::size_t H, std::size_t W, const std::vector<upsample_tap<T>>& th,
                         const std::vector<upsample_tap<T>>& tw, T* dx) {
    const std::size_t Ho = th.size(), Wo = tw.size();
    for (std::size_t nc = 0; nc < NC; ++nc) {
        T* dst = dx + nc * H * W;
        for (std::size_t h = 0; h < Ho; ++h)
            for (std::size_t w = 0; w < Wo; ++w) {
                const T d = dy[(nc * Ho + h) * Wo + w];
                const auto& a = th[h];
                const auto& b = tw[w];
                dst[a.i0 * W + b.i0] += d * (1 - a.l) * (1 - b.l);
                dst[a.i0 * W + b.i1] += d * (1 - a.l) * b.l;
                dst[a.i1 * W + b.i0] += d * a.l * (1 - b.l);
                dst[a.i1 * W + b.i1] += d * a.l * b.l;
            }
    }
}

}  // namespace oneclass::ops
