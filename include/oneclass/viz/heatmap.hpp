// oneclass/viz/heatmap.hpp - pictures of anomaly maps: a perceptual colour map, overlays on the
// input, ground-truth contours, and panels / grids of them (8-bit RGB images for save_png).
//
//   inferno(t)                       matplotlib's inferno at t in [0, 1] (dark = normal, bright =
//                                    anomalous; perceptually uniform, readable in grey print), by
//                                    linear interpolation between its values at t = 0, 0.1, .. 1
//   colorize(map, H, W, lo, hi)      the map through inferno, lo..hi mapped to 0..1 (clamped): one
//                                    range for a whole test set, so pictures compare
//   overlay(img, map, lo, hi)        the input with the colour blended in where the map is high
//   draw_contour(img, mask, colour)  the outline of the mask's regions (just outside them)
//   panel({a, b, c}) / stack({..})   images side by side / one above another, on white
//   localisation_panel(...)          input | map | overlay, contour on the first and the last
//   enlarge(img, k)                  each pixel a k x k block (small images shown readably)
//   upper_quantile(map, n, q)        the map's q-quantile: a per-image top of the range that one
//                                    extreme pixel cannot set alone (explanations)
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/data/image_codecs.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace oneclass::viz {

struct rgb {
    std::uint8_t r, g, b;
};

/// matplotlib's inferno (t in [0, 1], clamped).
inline rgb inferno(double t) {
    static constexpr std::array<std::array<std::uint8_t, 3>, 11> anchors{{{0x00, 0x00, 0x04},
                                                                         {0x16, 0x0b, 0x39},
                                                                         {0x42, 0x0a, 0x68},
                                                                         {0x6a, 0x17, 0x6e},
                                                                         {0x93, 0x26, 0x67},
                                                                         {0xbc, 0x37, 0x54},
                                                                         {0xdd, 0x51, 0x3a},
                                                                         {0xf3, 0x78, 0x19},
                                                                         {0xfc, 0xa5, 0x0a},
                                                                         {0xf6, 0xd7, 0x46},
                                                                         {0xfc, 0xff, 0xa4}}};
    if (!(t > 0)) t = 0;  // NaN too
    t = std::min(t, 1.0) * 10.0;
    const std::size_t i = std::min<std::size_t>(std::size_t(t), 9);
    const double f = t - double(i);
    const auto mix = [&](int c) { return std::uint8_t(std::lround((1 - f) * anchors[i][c] + f * anchors[i + 1][c])); };
    return {mix(0), mix(1), mix(2)};
}

/// v in lo..hi as 0..1, clamped (a flat range gives 0).
inline double normalised(double v, double lo, double hi) { return hi > lo ? std::clamp((v - lo) / (hi - lo), 0.0, 1.0) : 0.0; }

/// The H x W map as an RGB picture through inferno.
template <class T>
image_u8 colorize(const T* map, std::size_t H, std::size_t W, double lo, double hi) {
    image_u8 out{H, W, 3, std::vector<std::uint8_t>(H * W * 3)};
    for (std::size_t p = 0; p < H * W; ++p) {
        const rgb c = inferno(normalised(double(map[p]), lo, hi));
        out.pixels[3 * p] = c.r, out.pixels[3 * p + 1] = c.g, out.pixels[3 * p + 2] = c.b;
    }
    return out;
}

/// An RGB copy of a grey or RGB image.
inline image_u8 as_rgb(const image_u8& img) {
    require(img.channels == 1 || img.channels == 3, "viz", "expects a grey or RGB image, got ", img.channels, " channels");
    if (img.channels == 3) return img;
    image_u8 out{img.height, img.width, 3, std::vector<std::uint8_t>(img.height * img.width * 3)};
    for (std::size_t p = 0; p < img.height * img.width; ++p)
        out.pixels[3 * p] = out.pixels[3 * p + 1] = out.pixels[3 * p + 2] = img.pixels[p];
    return out;
}

/// The input with the map's colour blended in, weight max_alpha at the top of the range and 0
/// at its bottom: normal areas stay the input, anomalies glow.
template <class T>
image_u8 overlay(const image_u8& img, const T* map, double lo, double hi, double max_alpha = 0.6) {
    image_u8 out = as_rgb(img);
    for (std::size_t p = 0; p < img.height * img.width; ++p) {
        const double t = normalised(double(map[p]), lo, hi), a = max_alpha * t;
        const rgb c = inferno(t);
        const std::uint8_t col[3] = {c.r, c.g, c.b};
        for (std::size_t k = 0; k < 3; ++k)
            out.pixels[3 * p + k] = std::uint8_t(std::lround((1 - a) * out.pixels[3 * p + k] + a * col[k]));
    }
    return out;
}

/// Outlines the mask's regions in `colour`: the pixels just outside them (a 4-neighbour in the
/// mask), so that a thin defect (a scratch) stays visible inside its outline, and the mask's own
/// pixels on the image border, where there is no outside.
inline void draw_contour(image_u8& img, const image_u8& mask, rgb colour = {0x00, 0xff, 0x7f}) {
    require(img.channels == 3 && mask.channels == 1 && img.height == mask.height && img.width == mask.width, "draw_contour",
            "needs an RGB image and a 1-channel mask of its size, got ", img.height, " x ", img.width, " x ", img.channels,
            " and ", mask.height, " x ", mask.width, " x ", mask.channels);
    const std::size_t H = img.height, W = img.width;
    const auto in = [&](std::size_t y, std::size_t x) { return mask.pixels[y * W + x] != 0; };
    for (std::size_t y = 0; y < H; ++y)
        for (std::size_t x = 0; x < W; ++x) {
            const bool edge = in(y, x) ? (y == 0 || x == 0 || y + 1 == H || x + 1 == W)
                                       : ((y > 0 && in(y - 1, x)) || (y + 1 < H && in(y + 1, x)) || (x > 0 && in(y, x - 1)) ||
                                          (x + 1 < W && in(y, x + 1)));
            if (edge) {
                std::uint8_t* px = img.pixels.data() + 3 * (y * W + x);
                px[0] = colour.r, px[1] = colour.g, px[2] = colour.b;
            }
        }
}

/// Images side by side (horizontal) or one above another, `gap` white pixels apart, top- /
/// left-aligned on white; grey images become RGB.
inline image_u8 panel(const std::vector<image_u8>& parts, bool horizontal = true, std::size_t gap = 4) {
    require(!parts.empty(), "viz::panel", "no images");
    std::size_t H = 0, W = 0;
    for (const auto& p : parts) {
        if (horizontal) H = std::max(H, p.height), W += p.width;
        else W = std::max(W, p.width), H += p.height;
    }
    (horizontal ? W : H) += gap * (parts.size() - 1);
    image_u8 out{H, W, 3, std::vector<std::uint8_t>(H * W * 3, 255)};
    std::size_t at = 0;
    for (const auto& part : parts) {
        const image_u8 p = as_rgb(part);
        const std::size_t oy = horizontal ? 0 : at, ox = horizontal ? at : 0;
        for (std::size_t y = 0; y < p.height; ++y)
            std::copy_n(p.pixels.data() + y * p.width * 3, p.width * 3, out.pixels.data() + ((oy + y) * W + ox) * 3);
        at += (horizontal ? p.width : p.height) + gap;
    }
    return out;
}
inline image_u8 stack(const std::vector<image_u8>& rows, std::size_t gap = 4) { return panel(rows, false, gap); }

/// input | anomaly map | overlay, the mask's contour (when given) on the input and the overlay.
template <class T>
image_u8 localisation_panel(const image_u8& input, const T* map, double lo, double hi, const image_u8* mask = nullptr) {
    image_u8 a = as_rgb(input), c = overlay(input, map, lo, hi);
    if (mask) draw_contour(a, *mask), draw_contour(c, *mask);
    return panel({a, colorize(map, input.height, input.width, lo, hi), c});
}

/// Each pixel repeated into a k x k block.
inline image_u8 enlarge(const image_u8& img, std::size_t k) {
    require(k >= 1, "viz::enlarge", "the factor must be >= 1");
    image_u8 out{img.height * k, img.width * k, img.channels, std::vector<std::uint8_t>(img.pixels.size() * k * k)};
    for (std::size_t y = 0; y < out.height; ++y)
        for (std::size_t x = 0; x < out.width; ++x)
            std::copy_n(img.pixels.data() + ((y / k) * img.width + x / k) * img.channels, img.channels,
                        out.pixels.data() + (y * out.width + x) * img.channels);
    return out;
}

/// The q-quantile (q in [0, 1], nearest rank) of n values.
template <class T>
double upper_quantile(const T* map, std::size_t n, double q) {
    require(n >= 1 && q >= 0 && q <= 1, "viz::upper_quantile", "needs values and q in [0, 1]");
    std::vector<T> v(map, map + n);
    const std::size_t k = std::min(n - 1, std::size_t(q * double(n - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
    return double(v[k]);
}

}  // namespace oneclass::viz
