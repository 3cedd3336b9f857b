// oneclass/ops/ref/pooling.hpp - pooling and upsampling in double, from their definitions (the
// oracles for ops/pooling.hpp): each output computed by itself, the upsampling's source
// coordinate per output pixel from PyTorch's formula (no tap tables), the backward passes as the
// transposes of the forward maps, built entry by entry.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace oneclass::ops::ref {

/// y[(nc, p, q)] and, for each, the list of (input index, weight) it is a linear combination of
/// (max pooling: the one winning input, weight 1).
struct linear_map {
    std::vector<double> y;
    std::vector<std::vector<std::pair<std::size_t, double>>> terms;

    /// dx = map^T dy.
    template <class T>
    std::vector<double> transpose_apply(const T* dy, std::size_t n_in) const {
        std::vector<double> dx(n_in, 0.0);
        for (std::size_t o = 0; o < terms.size(); ++o)
            for (const auto& [i, w] : terms[o]) dx[i] += w * double(dy[o]);
        return dx;
    }
};

/// kind 0: max, 1: average (zero padding counted), over k x k windows, stride s, padding pad.
template <class T>
linear_map pool2d(const T* x, std::size_t NC, std::size_t H, std::size_t W, std::size_t k, std::size_t s, std::size_t pad, int kind) {
    const std::size_t P = (H + 2 * pad - k) / s + 1, Q = (W + 2 * pad - k) / s + 1;
    linear_map m;
    for (std::size_t nc = 0; nc < NC; ++nc)
        for (std::size_t p = 0; p < P; ++p)
            for (std::size_t q = 0; q < Q; ++q) {
                double best = -std::numeric_limits<double>::infinity(), sum = 0;
                std::size_t arg = 0;
                std::vector<std::pair<std::size_t, double>> t;
                for (std::size_t r = 0; r < k; ++r)
                    for (std::size_t c = 0; c < k; ++c) {
                        const long h = long(p * s + r) - long(pad), w = long(q * s + c) - long(pad);
                        if (h < 0 || w < 0 || h >= long(H) || w >= long(W)) continue;
                        const std::size_t i = (nc * H + std::size_t(h)) * W + std::size_t(w);
                        if (double(x[i]) > best) best = double(x[i]), arg = i;
                        sum += double(x[i]);
                        t.push_back({i, 1.0 / double(k * k)});
                    }
                if (kind == 0) t = {{arg, 1.0}};
                m.y.push_back(kind == 0 ? best : sum / double(k * k));
                m.terms.push_back(std::move(t));
            }
    return m;
}

/// Upsampling by `factor`, nearest or (bilinear) align_corners = false.
template <class T>
linear_map upsample2d(const T* x, std::size_t NC, std::size_t H, std::size_t W, std::size_t factor, bool bilinear) {
    linear_map m;
    auto axis = [&](std::size_t d, std::size_t in) {  // (i0, i1, weight of i1)
        if (!bilinear) return std::tuple<std::size_t, std::size_t, double>{d / factor, d / factor, 0.0};
        const double src = std::max(0.0, (double(d) + 0.5) / double(factor) - 0.5);
        const std::size_t i0 = std::min(in - 1, std::size_t(std::floor(src)));
        return std::tuple<std::size_t, std::size_t, double>{i0, std::min(i0 + 1, in - 1), src - double(i0)};
    };
    for (std::size_t nc = 0; nc < NC; ++nc)
        for (std::size_t h = 0; h < H * factor; ++h)
            for (std::size_t w = 0; w < W * factor; ++w) {
                const auto [h0, h1, a] = axis(h, H);
                const auto [w0, w1, b] = axis(w, W);
                std::vector<std::pair<std::size_t, double>> t{{(nc * H + h0) * W + w0, (1 - a) * (1 - b)},
                                                              {(nc * H + h0) * W + w1, (1 - a) * b},
                                                              {(nc * H + h1) * W + w0, a * (1 - b)},
                                                              {(nc * H + h1) * W + w1, a * b}};
                double y = 0;
                for (const auto& [i, wt] : t) y += wt * double(x[i]);
                m.y.push_back(y);
                m.terms.push_back(std::move(t));
            }
    return m;
}

}  // namespace oneclass::ops::ref
