// oneclass/ops/ref/conv.hpp - direct 2-D convolution and its input and weight gradients in double
// (the oracles for ops/conv.hpp and the fast convolution paths).
#pragma once

#include <oneclass/ops/conv_shape.hpp>

#include <vector>

namespace oneclass::ops::ref {

/// Calls f(x index, w index, y index) for every (input value, weight, output value) triple of the
/// convolution: the direct sum over images, output channels and pixels, input channels and taps.
template <class F>
void for_each_tap(const conv_shape& g, F&& f) {
    const std::size_t P = g.P(), Q = g.Q();
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
                                f(((n * g.C + c) * g.H + std::size_t(h)) * g.W + std::size_t(v), ((k * g.C + c) * g.R + r) * g.S + t,
                                  ((n * g.K + k) * P + p) * Q + q);
                            }
}

/// y[n, k, p, q] = bias[k] + sum over c, r, t of x[n, c, p stride + r - pad, q stride + t - pad] w[k, c, r, t].
template <class T>
std::vector<double> conv2d_forward(const T* x, const T* w, const T* bias, const conv_shape& g) {
    const std::size_t PQ = g.P() * g.Q();
    std::vector<double> y(g.N * g.K * PQ, 0.0);
    if (bias)
        for (std::size_t i = 0; i < y.size(); ++i) y[i] = double(bias[(i / PQ) % g.K]);
    for_each_tap(g, [&](std::size_t xi, std::size_t wi, std::size_t yi) { y[yi] += double(x[xi]) * double(w[wi]); });
    return y;
}

/// dx = the adjoint of conv2d_forward (without bias) applied to dy, scattered tap by tap.
template <class T>
std::vector<double> conv2d_backward_data(const T* dy, const T* w, const conv_shape& g) {
    std::vector<double> dx(g.N * g.C * g.H * g.W, 0.0);
    for_each_tap(g, [&](std::size_t xi, std::size_t wi, std::size_t yi) { dx[xi] += double(dy[yi]) * double(w[wi]); });
    return dx;
}

/// dw = the weight gradient of conv2d_forward applied to dy: dw[k, c, r, t] = sum of dy x over
/// the outputs the tap reaches.
template <class T>
std::vector<double> conv2d_backward_weights(const T* x, const T* dy, const conv_shape& g) {
    std::vector<double> dw(g.K * g.crs(), 0.0);
    for_each_tap(g, [&](std::size_t xi, std::size_t wi, std::size_t yi) { dw[wi] += double(dy[yi]) * double(x[xi]); });
    return dw;
}

}  // namespace oneclass::ops::ref
