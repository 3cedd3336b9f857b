// oneclass/ops/convolution.hpp - the convolution entry points: choose the algorithm per shape.
//
// `automatic` is im2col + GEMM everywhere for now: measured on the ResNet-18 CIFAR step, the
// Winograd F(2x2, 3x3) path (ops/winograd.hpp: forward and backward-data of 3x3 stride-1 layers)
// runs at the same speed as im2col + OpenBLAS sgemm (26.8 against 26.9 images/s): its GEMMs
// take half the time of im2col's, but the row-wise transforms eat the saving, worst in the late
// layers' 2-tile rows. It is available on request (conv_algo::winograd) and becomes the automatic
// choice for 3x3 stride-1 layers once tile-major vectorised transforms beat im2col. The choice depends only on the shape and the
// request, so results are reproducible. The direct double-precision twin is ops/ref/conv.hpp.
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
    return false;  // automatic: im2col (see the header comment)
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

}  // namespace oneclass::ops
