// oneclass/ops/ref/conv.hpp - direct 2-D convolution and its input gradient in double (the
// oracles for ops/conv.hpp).
#pragma once

#include <oneclass/ops/convolution.hpp>

#include <vector>

namespace oneclass::ops::ref {

template <class T>
std::vector<double> conv2d_forward(const T* x, const T* w, const T* bias, const conv_shape& g) {
    const std::size_t P = g.P(), Q = g.Q();
    std::vector<double> y(g.N * g.K * P * Q, 0.0);
    for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t k = 0; k < g.K; ++k)
            for (std::size_t p = 0; p < P; ++p)
                for (std::size_t q = 0; q < Q; ++q) {
                    double s = bias ? double(bias[k]) : 0.0;
                    for (std::size_t c = 0; c < g.C; ++c)
                        for (std::size_t r = 0; r < g.R; ++r)
                            for (std::size_t t = 0; t < g.S; ++t) {
                                const std::ptrdiff_t h = std::ptrdiff_t(p * g.stride + r) - std::ptrdiff_t(g.pad);
                                const std::ptrdiff_t v = std::ptrdiff_t(q * g.stride + t) - std::ptrdiff_t(g.pad);
                                if (h < 0 || v < 0 || h >= std::ptrdiff_t(g.H) || v >= std::ptrdiff_t(g.W)) continue;
                                s += double(x[((n * g.C + c) * g.H + std::size_t(h)) * g.W + std::size_t(v)]) *
                                     double(w[((k * g.C + c) * g.R + r) * g.S + t]);
                            }
                    y[((n * g.K + k) * P + p) * Q + q] = s;
                }
    return y;
}

/// dx[n, c, h, v] = sum over k, p, q, r, t with h = p stride + r - pad, v = q stride + t - pad of
/// dy[n, k, p, q] w[k, c, r, t]: the adjoint of conv2d_forward (without bias), scattered tap by tap.
template <class T>
std::vector<double> conv2d_backward_data(const T* dy, const T* w, const conv_shape& g) {
    const std::size_t P = g.P(), Q = g.Q();
    std::vector<double> dx(g.N * g.C * g.H * g.W, 0.0);
    for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t k = 0; k < g.K; ++k)
            for (std::size_t p = 0; p < P; ++p)
                for (std::size_t q = 0; q < Q; ++q)
                    for (std::size_t c = 0; c < g.C; ++c)
                        for (std::size_t r = 0; r < g.R; ++r)
                            for (std::size_t t = 0; t < g.S; ++t) {
                                const std::ptrdiff_t h = std::ptrdiff_t(p * g.stride + r) - std::ptrdiff_t(g.pad);
                                const std::ptrdiff_t v = std::ptrdiff_t(q * g.stride + t) - std::ptrdiff_t(g.pad);
                                if (h < 0 || v < 0 || h >= std::ptrdiff_t(g.H) || v >= std::ptrdiff_t(g.W)) continue;
                                dx[((n * g.C + c) * g.H + std::size_t(h)) * g.W + std::size_t(v)] +=
                                    double(dy[((n * g.K + k) * P + p) * Q + q]) * double(w[((k * g.C + c) * g.R + r) * g.S + t]);
                            }
    return dx;
}

}  // namespace oneclass::ops::ref
