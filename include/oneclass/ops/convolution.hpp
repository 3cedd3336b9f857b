// oneclass/ops/convolution.hpp - the convolution entry points: choose the algorithm per shape.
//
// `automatic` picks, per pass, Winograd F(2x2, 3x3) or F(4x4, 3x3) (ops/winograd.hpp) for 3x3
// stride-1 layers where it measured faster (winograd_tile); for the others (stride 2, 1 x 1) the
// stride-2 Winograd F_s2(2x2, 3x3) (ops/winograd_s2.hpp: the 3x3 down-sampling layers' forward
// pass), the phase-split direct convolution (ops/phase_direct.hpp: narrow stride-2 layers on large
// maps, the other passes), the implicit GEMM (ops/implicit_gemm.hpp: forward and weight gradient, AVX-512 only)
// where they measured faster, and im2col + GEMM otherwise (the stems, most backward-data). Winograd's transforms
// are memory-bound, so it pays off with enough channels and pixels. The choice depends only on
// the shape, the request and the build's instruction set, so results are reproducible on one
// machine. The direct double-precision twin is ops/ref/conv.hpp.
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/ops/conv.hpp>
#include <oneclass/ops/dispatch.hpp>
#include <oneclass/ops/implicit_gemm.hpp>
#include <oneclass/ops/phase_direct.hpp>
#include <oneclass/ops/winograd.hpp>
#include <oneclass/ops/winograd_s2.hpp>

namespace oneclass::ops {

/// The Winograd tile size for one pass (0: not Winograd). Explicit requests are honoured (and
/// checked). `automatic`: Winograd needs enough channels for its products to outweigh the
/// memory-bound transforms, F(4x4) large maps; measurements in docs/benchmarks.md ("Convolution
/// algorithm choice").
inline std::size_t winograd_tile(const conv_shape& g, conv_algo a, conv_pass pass) {
    if (a == conv_algo::winograd || a == conv_algo::winograd4) {
        require(winograd_applies(g), "conv2d", "Winograd needs a 3x3 kernel, stride 1, padding <= 2 and input and output tensors under 2^31 values");
        return a == conv_algo::winograd4 ? 4 : 2;
    }
    if (a != conv_algo::automatic || !winograd_applies(g)) return 0;  // im2col, implicit_gemm or not 3x3 stride 1
    const std::size_t HW = g.H * g.W, C = g.C;
    if (C < 16 || g.K < 16 || HW < 16) return 0;
    // the weight gradient also takes F(4x4) on 4 x 4 maps of up to 128 x 128 channels
    if (pass == conv_pass::backward_weights) return HW >= 64 || C * g.K <= 128 * 128 ? 4 : 2;
    return HW >= 64 ? 4 : 2;
}

/// Whether `automatic` takes the phase-split convolution (all passes): 3 x 3 layers of 16-32
/// input channels with 16 x 16 outputs or more, where a block's framed rows stay in L1; AVX-512
/// only (without a vector gather im2col is ahead).
inline bool phase_direct_preferred(const conv_shape& g, conv_pass pass) {
    if (!simd::vector_gather<float> || !phase_direct_applies(g) || g.R != 3 || g.C < 16 || g.C > 32) return false;
    (void)pass;
    return g.P() * g.Q() >= 256;
}

/// Whether `automatic` takes the stride-2 Winograd path for a pass: with a vector gather from 16
/// input channels (backward data from 32); without one, the forward pass only, on 32-128-channel
/// layers with small outputs, where reading its patches lane by lane still pays.
inline bool winograd_s2_preferred(const conv_shape& g, conv_pass pass) {
    if (!winograd_s2_applies(g) || g.K < 16) return false;
    if (pass == conv_pass::backward_weights) return simd::vector_gather<float> && g.C >= 16;
    if (pass == conv_pass::backward_data) return simd::vector_gather<float> && g.C >= 32;
    if constexpr (simd::vector_gather<float>) return g.C >= 16;
    return g.C >= 32 && g.C * g.K <= 128 * 128 && g.P() * g.Q() <= 64;
}

/// The one choice of algorithm for a pass: an explicit request (checked by the algorithm where it
/// has preconditions), or for `automatic` the first of Winograd (stride 1), Winograd stride 2,
/// phase-split and implicit GEMM that is preferred for this shape, else im2col. Never automatic;
/// winograd / winograd4 carry the tile size. Backward data has no implicit GEMM (im2col runs).
template <class T>
conv_algo choose_conv_algo(const conv_shape& g, conv_algo a, conv_pass pass) {
    if (const std::size_t m = winograd_tile(g, a, pass)) return m == 4 ? conv_algo::winograd4 : conv_algo::winograd;
    const bool aut = a == conv_algo::automatic;
    if (a == conv_algo::winograd_s2 || (aut && winograd_s2_preferred(g, pass))) return conv_algo::winograd_s2;
    if (a == conv_algo::phase || (aut && phase_direct_preferred(g, pass))) return conv_algo::phase;
    if (pass == conv_pass::backward_data) return conv_algo::im2col;
    const bool implicit = pass == conv_pass::forward ? implicit_gemm_preferred<T>(g) : implicit_gemm_weights_preferred<T>(g);
    if (a == conv_algo::implicit_gemm || (aut && implicit)) return conv_algo::implicit_gemm;
    return conv_algo::im2col;
}

/// y[n][k] += bias[k] over the output planes.
template <class T>
void add_bias(const T* bias, const conv_shape& g, T* y) {
    const std::size_t PQ = g.P() * g.Q();
    for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t k = 0; k < g.K; ++k)
            for (std::size_t i = 0; i < PQ; ++i) y[(n * g.K + k) * PQ + i] += bias[k];
}

/// conv2d_forward compiled in the including translation unit (the kernel library's levels, or a
/// program without ONECLASS_DISPATCH); the same for the two below.
template <class T>
void conv2d_forward_here(const T* x, const T* w, const T* bias, const conv_shape& g, T* y, conv_algo a) {
    ONECLASS_PROFILE_SCOPE("conv.forward");
    g.validate("conv2d");
    switch (choose_conv_algo<T>(g, a, conv_pass::forward)) {
        case conv_algo::winograd4: conv2d_winograd<4>(x, w, g, y, false); break;
        case conv_algo::winograd: conv2d_winograd<2>(x, w, g, y, false); break;
        case conv_algo::winograd_s2: {
            ONECLASS_PROFILE_SCOPE("conv.winograd_s2_forward");
            conv2d_winograd_s2(x, w, g, y, false);
            break;
        }
        case conv_algo::phase: {
            ONECLASS_PROFILE_SCOPE("conv.phase_forward");
            return conv2d_forward_phase(x, w, bias, g, y);
        }
        case conv_algo::implicit_gemm: {
            ONECLASS_PROFILE_SCOPE("conv.implicit_gemm_forward");
            return conv2d_forward_implicit_gemm(x, w, bias, g, y);
        }
        default: {
            ONECLASS_PROFILE_SCOPE("conv.im2col_forward");
            return conv2d_forward_im2col(x, w, bias, g, y);
        }
    }
    if (bias) add_bias(bias, g, y);  // the Winograd paths compute the convolution only
}

template <class T>
void conv2d_backward_data_here(const T* dy, const T* w, const conv_shape& g, T* dx, conv_algo a, bool accumulate) {
    ONECLASS_PROFILE_SCOPE("conv.backward_data");
    switch (choose_conv_algo<T>(g, a, conv_pass::backward_data)) {
        case conv_algo::winograd4: return conv2d_backward_data_winograd<4>(dy, w, g, dx, accumulate);
        case conv_algo::winograd: return conv2d_backward_data_winograd<2>(dy, w, g, dx, accumulate);
        case conv_algo::winograd_s2: {
            ONECLASS_PROFILE_SCOPE("conv.winograd_s2_backward_data");
            return conv2d_backward_data_winograd_s2(dy, w, g, dx, accumulate);
        }
        case conv_algo::phase: {
            ONECLASS_PROFILE_SCOPE("conv.phase_backward_data");
            return conv2d_backward_data_phase(dy, w, g, dx, accumulate);
        }
        default: {
            ONECLASS_PROFILE_SCOPE("conv.im2col_backward_data");
            return conv2d_backward_data_im2col(dy, w, g, dx, accumulate);
        }
    }
}

template <class T>
void conv2d_backward_weights_here(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias, conv_algo a, bool accumulate) {
    ONECLASS_PROFILE_SCOPE("conv.backward_weights");
    const conv_algo algo = dw ? choose_conv_algo<T>(g, a, conv_pass::backward_weights) : conv_algo::im2col;
    switch (algo) {
        case conv_algo::winograd4: conv2d_backward_weights_winograd<4>(x, dy, g, dw, accumulate); break;
        case conv_algo::winograd: conv2d_backward_weights_winograd<2>(x, dy, g, dw, accumulate); break;
        case conv_algo::winograd_s2: {
            ONECLASS_PROFILE_SCOPE("conv.winograd_s2_backward_weights");
            conv2d_backward_weights_winograd_s2(x, dy, g, dw, accumulate);
            break;
        }
        case conv_algo::phase: {
            ONECLASS_PROFILE_SCOPE("conv.phase_backward_weights");
            conv2d_backward_weights_phase(x, dy, g, dw, accumulate);
            break;
        }
        case conv_algo::implicit_gemm: {
            ONECLASS_PROFILE_SCOPE("conv.implicit_gemm_backward_weights");
            conv2d_backward_weights_implicit_gemm(x, dy, g, dw, accumulate);
            break;
        }
        default: {
            ONECLASS_PROFILE_SCOPE("conv.im2col_backward_weights");
            return conv2d_backward_weights_im2col(x, dy, g, dw, dbias, accumulate);
        }
    }
    if (dbias) {  // dw is done: only the bias is left for the im2col routine
        ONECLASS_PROFILE_SCOPE("conv.im2col_backward_weights");
        conv2d_backward_weights_im2col<T>(x, dy, g, nullptr, dbias, accumulate);
    }
}

/// y = conv(x, w) (+ bias).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, const conv_shape& g, T* y, conv_algo a = conv_algo::automatic) {
#if ONECLASS_DISPATCHED
    kernels_for<T>().conv2d_forward(x, w, bias, g, y, a);
#else
    conv2d_forward_here(x, w, bias, g, y, a);
#endif
}

/// dx += d conv / d x applied to dy (accumulate = false: dx = ..., into memory that need not be
/// zeroed first).
template <class T>
void conv2d_backward_data(const T* dy, const T* w, const conv_shape& g, T* dx, conv_algo a = conv_algo::automatic,
                          bool accumulate = true) {
#if ONECLASS_DISPATCHED
    kernels_for<T>().conv2d_backward_data(dy, w, g, dx, a, accumulate);
#else
    conv2d_backward_data_here(dy, w, g, dx, a, accumulate);
#endif
}

/// dw += d conv / d w and dbias += d conv / d bias applied to dy (either may be nullptr;
/// accumulate = false: = instead of +=). The bias gradient is im2col's (a sum over dy).
template <class T>
void conv2d_backward_weights(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias,
                             conv_algo a = conv_algo::automatic, bool accumulate = true) {
#if ONECLASS_DISPATCHED
    kernels_for<T>().conv2d_backward_weights(x, dy, g, dw, dbias, a, accumulate);
#else
    conv2d_backward_weights_here(x, dy, g, dw, dbias, a, accumulate);
#endif
}

}  // namespace oneclass::ops
