// oneclass/ops/ref/patch_map.hpp - the Gaussian upsampling of a patch map in double, from its
// definition (the oracle for ops/patch_map.hpp): for each pixel, every patch that covers it and
// the 2-D kernel weight, no separation into passes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace oneclass::ops::ref {

inline std::vector<double> gaussian_upsample(const std::vector<double>& map, std::size_t H, std::size_t W, std::size_t P,
                                             std::size_t S, double sigma) {
    const std::size_t R = (H - P) / S + 1, C = (W - P) / S + 1;
    const std::size_t Hc = (R - 1) * S + P, Wc = (C - 1) * S + P;  // covered pixels
    const double c = 0.5 * double(P - 1);
    const auto G = [&](std::size_t u, std::size_t v) {
        const double du = double(u) - c, dv = double(v) - c;
        return std::exp(-(du * du + dv * dv) / (2 * sigma * sigma));
    };
    std::vector<double> out(H * W);
    for (std::size_t y = 0; y < H; ++y)
        for (std::size_t x = 0; x < W; ++x) {
            const std::size_t yc = std::min(y, Hc - 1), xc = std::min(x, Wc - 1);  // the nearest covered pixel
            double num = 0, den = 0;
            for (std::size_t i = 0; i < R; ++i)
                for (std::size_t j = 0; j < C; ++j) {
                    if (yc < i * S || yc >= i * S + P || xc < j * S || xc >= j * S + P) continue;
                    const double w = G(yc - i * S, xc - j * S);
                    num += w * map[i * C + j];
                    den += w;
                }
            out[y * W + x] = num / den;
        }
    return out;
}

}  // namespace oneclass::ops::ref
