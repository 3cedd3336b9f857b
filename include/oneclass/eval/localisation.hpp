// oneclass/eval/localisation.hpp - how well anomaly maps find the defects: pixel-level ROC AUC and
// PRO (per-region overlap), the two localisation metrics of MVTec AD.
//
// Both take N maps of H x W scores (higher = more anomalous) and N ground-truth masks of the same
// size (non-zero = defect), flattened image after image.
//   pixel_roc_auc   ROC AUC over every pixel of every image (roc_auc.hpp's exact, tie-aware form).
//   pro_auc         Bergmann et al. (MVTec AD, IJCV 2021): the defect regions are the 8-connected
//                   components of each mask; at a threshold t a region's overlap is the share of
//                   its pixels scoring >= t, PRO(t) the mean over all regions of all images, and
//                   FPR(t) the share of defect-free pixels (of all images) scoring >= t. PRO is
//                   integrated over FPR from 0 to `max_fpr` (0.3) by the trapezoidal rule over
//                   every distinct threshold, the last segment cut at max_fpr by linear
//                   interpolation, and divided by max_fpr: 1 is perfect, a random map gives about
//                   max_fpr / 2. Exact: one sort of all pixels, no threshold grid.
//
//     double pauc = oneclass::pixel_roc_auc(maps, masks);
//     double pro = oneclass::pro_auc(maps, masks, H, W);
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/eval/roc_auc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <vector>

namespace oneclass {

/// The 8-connected components of a mask (non-zero = in): label[i] = 0 outside, 1..count inside.
struct region_labels {
    std::vector<std::uint32_t> label;
    std::uint32_t count = 0;
};

inline region_labels connected_regions(std::span<const std::uint8_t> mask, std::size_t H, std::size_t W) {
    require(mask.size() == H * W, "connected_regions", "mask has ", mask.size(), " pixels, expected ", H, " x ", W);
    region_labels r;
    r.label.assign(H * W, 0);
    std::vector<std::size_t> stack;
    for (std::size_t s = 0; s < H * W; ++s) {
        if (!mask[s] || r.label[s]) continue;
        const std::uint32_t id = ++r.count;
        r.label[s] = id;
        stack.push_back(s);
        while (!stack.empty()) {  // flood fill; an explicit stack, as a region may be the whole image
            const std::size_t p = stack.back();
            stack.pop_back();
            const std::ptrdiff_t y = std::ptrdiff_t(p / W), x = std::ptrdiff_t(p % W);
            for (std::ptrdiff_t dy = -1; dy <= 1; ++dy)
                for (std::ptrdiff_t dx = -1; dx <= 1; ++dx) {
                    const std::ptrdiff_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || xx < 0 || yy >= std::ptrdiff_t(H) || xx >= std::ptrdiff_t(W)) continue;
                    const std::size_t q = std::size_t(yy) * W + std::size_t(xx);
                    if (mask[q] && !r.label[q]) r.label[q] = id, stack.push_back(q);
                }
        }
    }
    return r;
}

namespace detail {
template <class S>
void check_maps(const char* who, std::span<const S> maps, std::span<const std::uint8_t> masks) {
    require(maps.size() == masks.size(), who, "got ", maps.size(), " map pixels but ", masks.size(), " mask pixels");
    require(!maps.empty(), who, "no pixels");
    for (std::size_t i = 0; i < maps.size(); ++i)
        require(std::isfinite(double(maps[i])), who, "non-finite map value ", double(maps[i]), " at pixel ", i);
}
}  // namespace detail

/// ROC AUC of every pixel's score against its mask (non-zero = defect), over all images at once.
template <class S>
double pixel_roc_auc(std::span<const S> maps, std::span<const std::uint8_t> masks) {
    detail::check_maps("pixel_roc_auc", maps, masks);
    std::vector<std::uint8_t> labels(masks.size());
    for (std::size_t i = 0; i < masks.size(); ++i) labels[i] = masks[i] != 0;
    return roc_auc(maps, std::span<const std::uint8_t>(labels));
}

/// Normalised area under the PRO curve up to max_fpr (see the top of this file); maps and masks
/// hold N images of H x W each. Needs at least one defect pixel and one defect-free pixel.
template <class S>
double pro_auc(std::span<const S> maps, std::span<const std::uint8_t> masks, std::size_t H, std::size_t W,
               double max_fpr = 0.3) {
    detail::check_maps("pro_auc", maps, masks);
    require(H > 0 && W > 0 && maps.size() % (H * W) == 0, "pro_auc", maps.size(), " pixels are not whole ", H, " x ", W,
            " images");
    require(max_fpr > 0 && max_fpr <= 1, "pro_auc", "max_fpr must be in (0, 1], got ", max_fpr);
    const std::size_t HW = H * W, N = maps.size() / HW;
    // region of every pixel across images (0: defect-free), and each region's size
    std::vector<std::uint32_t> region(maps.size(), 0);
    std::vector<std::size_t> area(1, 0);
    for (std::size_t n = 0; n < N; ++n) {
        const region_labels r = connected_regions(masks.subspan(n * HW, HW), H, W);
        const std::uint32_t base = std::uint32_t(area.size() - 1);
        area.resize(area.size() + r.count, 0);
        for (std::size_t p = 0; p < HW; ++p)
            if (r.label[p]) ++area[base + r.label[p]], region[n * HW + p] = base + r.label[p];
    }
    const std::size_t regions = area.size() - 1;
    std::size_t normal = 0;
    for (const std::uint32_t g : region) normal += g == 0;
    require(regions > 0, "pro_auc", "the masks hold no defect pixel");
    require(normal > 0, "pro_auc", "the masks hold no defect-free pixel");

    std::vector<std::size_t> order(maps.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return maps[a] > maps[b]; });
    // lower the threshold one distinct score at a time: the curve's points (fpr, pro)
    double area_under = 0, fpr0 = 0, pro0 = 0, pro_sum = 0;
    std::size_t fp = 0;
    for (std::size_t i = 0; i < order.size();) {
        std::size_t j = i;
        for (; j < order.size() && maps[order[j]] == maps[order[i]]; ++j) {
            const std::uint32_t g = region[order[j]];
            if (g == 0)
                ++fp;
            else
                pro_sum += 1.0 / double(area[g]);
        }
        i = j;
        const double fpr = double(fp) / double(normal), pro = pro_sum / double(regions);
        if (fpr >= max_fpr) {  // the segment that crosses max_fpr, cut there
            const double t = fpr > fpr0 ? (max_fpr - fpr0) / (fpr - fpr0) : 1.0;
            area_under += 0.5 * (max_fpr - fpr0) * (pro0 + (pro0 + t * (pro - pro0)));
            return area_under / max_fpr;
        }
        area_under += 0.5 * (fpr - fpr0) * (pro0 + pro);
        fpr0 = fpr, pro0 = pro;
    }
    return area_under / max_fpr;  // unreachable: the last threshold takes every pixel, fpr = 1
}

template <class S>
double pixel_roc_auc(const std::vector<S>& maps, const std::vector<std::uint8_t>& masks) {
    return pixel_roc_auc(std::span<const S>(maps), std::span<const std::uint8_t>(masks));
}
template <class S>
double pro_auc(const std::vector<S>& maps, const std::vector<std::uint8_t>& masks, std::size_t H, std::size_t W,
               double max_fpr = 0.3) {
    return pro_auc(std::span<const S>(maps), std::span<const std::uint8_t>(masks), H, W, max_fpr);
}

}  // namespace oneclass
