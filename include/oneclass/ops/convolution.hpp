// oneclass/ops/convolution.hpp - the convolution entry points: choose the algorithm per shape.
//
// `automatic` picks Winograd (ops/winograd.hpp) for 3x3 stride-1 layers with at least 16 input
// channels and 8 x 8 pixels - F(4x4, 3x3) from 32 x 32 outputs up, F(2x2, 3x3) below - and
// im2col + GEMM otherwise; the same rule holds in all three passes (forward, backward-data,
// backward-weights). Measured per layer (benchmarks/bench_conv.cpp, ResNet-18 CIFAR shapes, batch 32,
// one thread): Winograd is 1.2-1.3x faster at 32 x 32 and 16 x 16 with 64-128 channels, even at
// 8 x 8, and 1.7-2.3x slower at 4 x 4 (2-tile rows) and on the 3-channel stem. The choice depends
// only on the shape and the request, so results are reproducible. The direct double-precision
// twin is ops/ref/conv.hpp.
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/ops/conv.hpp>
#include <oneclass/ops/winograd.hpp>

namespace oneclass::ops {

enum class conv_algo { automatic, im2col, winograd, winograd4 };  ///< winograd = F(2x2, 3x3), winograd4 = F(4x4, 3x3)

inline bool use_winograd(const conv_shape& g, conv_algo a) {
    if (a == conv_algo::winograd || a == conv_algo::winograd4) {
        require(winograd_applies(g), "conv2d", "Winograd needs a 3x3 kernel, stride 1 and padding <= 2");
        return true;
    }
    // automatic: Winograd where it measured faster (bench_conv, ResNet-18 shapes at batch 32):
    // enough input channels for its GEMMs and enough 2x2 tiles per image for its transforms.
    return a == conv_algo::automatic && winograd_applies(g) && g.C >= 16 && g.H * g.W >= 64;
}

/// The Winograd tile: F(4x4) when asked for, or (automatic) where it measured faster: on 32 x 32
/// maps (bench_conv, ResNet-18 layer1 at batch 32, one thread: forward 1.07x, backward-data 1.18x,
/// backward-weights 1.05x faster than F(2x2)); at 16 x 16 and below F(2x2) wins (fewer, wider
/// tiles per row make F(4x4)'s larger transforms the bottleneck).
inline bool use_winograd4(const conv_shape& g, conv_algo a) {
    if (a == conv_algo::winograd4) return true;
    return a == conv_algo::automatic && g.P() * g.Q() >= 1024;
}

/// y = conv(x, w) (+ bias).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, const conv_shape& g, T* y, conv_algo a = conv_algo::automatic) {
    ONECLASS_PROFILE_SCOPE("conv.forward");
    g.validate("conv2d");
    if (!use_winograd(g, a)) return conv2d_forward_im2col(x, w, bias, g, y);
    if (use_winograd4(g, a)) conv2d_winograd<4>(x, w, g, y, false);
    else conv2d_winograd<2>(x, w, g, y, false);
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
    if (use_winograd(g, a)) {
        if (use_winograd4(g, a)) return conv2d_backward_data_winograd<4>(dy, w, g, dx);
        return conv2d_backward_data_winograd<2>(dy, w, g, dx);
    }
    conv2d_backward_data_im2col(dy, w, g, dx);
}

/// dw += d conv / d w and dbias += d conv / d bias applied to dy (either may be nullptr).
template <class T>
void conv2d_backward_weights(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias,
                             conv_algo a = conv_algo::automatic) {
    ONECLASS_PROFILE_SCOPE("conv.backward_weights");
    if (dw && use_winograd(g, a)) {
        if (use_winograd4(g, a)) conv2d_backward_weights_winograd<4>(x, dy, g, dw);
        else conv2d_backward_weights_winograd<2>(x, dy, g, dw);
        dw = nullptr;  // only the bias is left for the im2col routine
    }
    if (dw || dbias) conv2d_backward_weights_im2col(x, dy, g, dw, dbias);
}

}  // namespace oneclass::ops
