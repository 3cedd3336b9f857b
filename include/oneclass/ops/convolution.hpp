// oneclass/ops/convolution.hpp - the convolution entry points: choose the algorithm per shape.
//
// `automatic` picks Winograd F(2x2, 3x3) (ops/winograd.hpp) for 3x3 stride-1 layers with at least
// 16 input channels and 8 x 8 pixels, and im2col + GEMM otherwise; the same rule holds in all
// three passes (forward, backward-data, backward-weights). Measured per layer (benchmarks/bench_conv.cpp, ResNet-18 CIFAR shapes, batch 32,
// one thread): Winograd is 1.2-1.3x faster at 32 x 32 and 16 x 16 with 64-128 channels, even at
// 8 x 8, and 1.7-2.3x slower at 4 x 4 (2-tile rows) and on the 3-channel stem. The choice depends
// only on the shape and the request, so results are reproducible. The direct double-precision
// twin is ops/ref/conv.hpp.
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/ops/conv.hpp>
#include <oneclass/ops/winograd.hpp>

namespace oneclass::ops {

enum class conv_algo { automatic, im2col, winograd };

inline bool use_winograd(const conv_shape& g, conv_algo a) {
    if (a == conv_algo::winograd) {
        require(winograd_applies(g), "conv2d", "Winograd needs a 3x3 kernel, stride 1 and padding <= 2");
        return true;
    }
    // automatic: Winograd where it measured faster (bench_conv, ResNet-18 shapes at batch 32):
    // enough input channels for its GEMMs and enough 2x2 tiles per image for its transforms.
    return a == conv_algo::automatic && winograd_applies(g) && g.C >= 16 && g.H * g.W >= 64;
}

/// y = conv(x, w) (+ bias).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, const conv_shape& g, T* y, conv_algo a = conv_algo::automatic) {
    ONECLASS_PROFILE_SCOPE("conv.forward");
    g.validate("conv2d");
    if (!use_winograd(g, a)) return conv2d_forward_im2col(x, w, bias, g, y);
    conv2d_winograd(x, w, g, y, false);
    if (bias) {
        const std::size_t PQ = g.P() * g.Q();
        for (std::size_t n = 0; n < g.N; ++n)
            for (std::size_t k = 0; k < g.K; ++k)
                for (std::size_t i = 0; i < PQ; ++i) y[(n * g.K + k) * PQ + i] += bias[k];
    }
}

/// dx += d conv / d x applied to dy.
template <class T>
void conv2d_backward_data(const T* dy, const T* w, const conv_shape& g, T* dx, conv_algo a = conv_algo::automatic) {
    ONECLASS_PROFILE_SCOPE("conv.backward_data");
    if (use_winograd(g, a)) return conv2d_backward_data_winograd(dy, w, g, dx);
    conv2d_backward_data_im2col(dy, w, g, dx);
}

/// dw += d conv / d w and dbias += d conv / d bias applied to dy (either may be nullptr).
template <class T>
void conv2d_backward_weights(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias,
                             conv_algo a = conv_algo::automatic) {
    ONECLASS_PROFILE_SCOPE("conv.backward_weights");
    if (dw && use_winograd(g, a)) {
        conv2d_backward_weights_winograd(x, dy, g, dw);
        dw = nullptr;  // only the bias is left for the im2col routine
    }
    if (dw || dbias) conv2d_backward_weights_im2col(x, dy, g, dw, dbias);
}

}  // namespace oneclass::ops
