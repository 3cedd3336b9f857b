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
#include <oneclass/ops/implicit_gemm.hpp>
#include <oneclass/ops/phase_direct.hpp>
#include <oneclass/ops/winograd.hpp>
#include <oneclass/ops/winograd_s2.hpp>

namespace oneclass::ops {

/// winograd = F(2x2, 3x3), winograd4 = F(4x4, 3x3), implicit_gemm: forward and weights (backward-data: im2col),
/// phase: the phase-split direct convolution of stride-2 layers (ops/phase_direct.hpp), all passes;
/// winograd_s2: F_s2(2x2, 3x3) for 3x3 stride-2 padding-1 layers (ops/winograd_s2.hpp), forward and
/// weights (backward-data: im2col)
enum class conv_algo { automatic, im2col, winograd, winograd4, implicit_gemm, phase, winograd_s2 };

enum class conv_pass { forward, backward_data, backward_weights };

/// The Winograd tile size for one pass (0 = im2col + GEMM). Explicit requests are honoured (and
/// checked); `automatic` follows what bench_conv measured on the ResNet-18 and quick-preset shapes
/// at batch 32, one thread (docs/benchmarks.md): the transforms are memory-bound, so Winograd
/// needs enough channels for its GEMMs to dominate, and F(4x4) needs large maps.
inline std::size_t winograd_tile(const conv_shape& g, conv_algo a, conv_pass pass) {
    if (a == conv_algo::winograd || a == conv_algo::winograd4) {
        require(winograd_applies(g), "conv2d", "Winograd needs a 3x3 kernel, stride 1, padding <= 2 and input and output tensors under 2^31 values");
        return a == conv_algo::winograd4 ? 4 : 2;
    }
    if (a != conv_algo::automatic || !winograd_applies(g)) return 0;  // im2col, implicit_gemm or not 3x3 stride 1
    const std::size_t HW = g.H * g.W, C = g.C;
    switch (pass) {
        case conv_pass::forward:  // F(2x2) from 4 x 4 and 16 channels, F(4x4) from 8 x 8 maps:
            // 1.2-2.2x faster there (bench_conv, AVX2: small.layer2 1.82 -> 0.84 ms, ResNet-18
            // layer2 14.8 -> 7.6). Its rounding error per layer is about 7x F(2x2)'s (float32,
            // the larger transform coefficients: intrinsic to the points 0, +-1, +-2, not to
            // any one transform's rounding), and in the forward pass it compounds through the
            // network: the PyTorch golden comparison's eval-mode output, the most sensitive value
            // there, moves from under 0.21 of its 1e-4 limit to 0.44 (AVX-512) / 0.81 (AVX2
            // build); PyTorch's own float32 run of the same model lands at 0.51 of it
            if (C < 16 || g.K < 16 || HW < 16) return 0;
            return HW >= 64 ? 4 : 2;
        case conv_pass::backward_data:  // F(4x4) from 8 x 8: its rounding does not compound through
            // the forward pass, and the golden gradients' worst error stays at 0.21 of the limit, as
            // with F(2x2) (measured)
            if (C < 16 || g.K < 16 || HW < 16) return 0;
            return HW >= 64 ? 4 : 2;
        case conv_pass::backward_weights:  // from 4 x 4 and 16 channels; F(4x4) from 8 x 8, and on
            // 4 x 4 maps (one tile per image) of up to 128 x 128 channels: small.layer4 0.97 ->
            // 0.82 ms (AVX-512, channel-lane products), 1.16 -> 0.91 (AVX2, OpenBLAS's products;
            // 2 threads 0.76 -> 0.66). On 512 channels (ResNet-18's layer4) it won on one thread
            // (16.0 -> 14.3 ms) and lost on two (8.8 -> 9.9): F(2x2) stays there
            if (C < 16 || g.K < 16 || HW < 16) return 0;
            return HW >= 64 || C * g.K <= 128 * 128 ? 4 : 2;
    }
    return 0;
}

/// Whether `automatic` takes the phase-split convolution for a pass: where bench_conv measured it
/// faster than the implicit GEMM and im2col + OpenBLAS (one thread, batch 32). It won on 3 x 3
/// layers with 16-32 input channels on AVX-512 in all three passes on 16 x 16 outputs
/// (small.down2, 1.2-1.4x). On smaller outputs the frame's zero row and column cost more (1.27x
/// the work on 8 x 8, 1.56x on 4 x 4); with 64 channels and more a block's framed rows leave L1
/// (ResNet-18's layer2.down: 1.2x slower); the 1 x 1 shortcuts lost to im2col (1.2x). On AVX2 (no
/// implicit GEMM there) it had won the forward pass from 8 x 8 outputs and the weight gradient on
/// 16 x 16 until im2col split its rows once (detail::im2col_stride2): since then im2col is ahead
/// in every pass (small.down2 forward 1.16 against 1.45 ms, weight gradient 1.39 against 1.87,
/// small.down3 forward 1.01 against 1.18).
inline bool phase_direct_preferred(const conv_shape& g, conv_pass pass) {
    if (!simd::vector_gather<float> || !phase_direct_applies(g) || g.R != 3 || g.C < 16 || g.C > 32) return false;
    (void)pass;  // all three passes, from 16 x 16 outputs
    return g.P() * g.Q() >= 256;
}

/// Whether `automatic` takes the stride-2 Winograd path: the forward pass, on AVX-512 from 16
/// input channels. bench_conv (one thread, batch 32, ms) measured it against the implicit GEMM
/// and the phase-split convolution: small.down3 0.52-0.61 against 0.71-0.77, small.down4
/// 0.55-0.60 against 0.59-0.73, ResNet-18's layer2.down 8.0 against 11.5, layer3.down 6.8-7.5
/// against 8.5-8.9; small.down2 (16 channels) tied with the phase split there (0.84-0.87 /
/// 0.86-0.88) and won inside the training step (A/B +2%, no framing copy of its input). Its
/// weight gradient, 5-22% faster in bench_conv (Zen 4, inputs out of L2: small.down2 1.41
/// against 1.78, down3 0.96 against 1.23, down4 0.94 against 0.99, ResNet-18's downs 12-13.5
/// against 14-16), is taken on AVX-512 from 16 input channels: sequential A/Bs of the step could
/// not resolve it (ties, or 2-2.5% either way), A/Bs with both builds running at once, one per
/// vCPU and swapped every round, gave +3.2% and +2.6% (geometric means of 10 rounds each, 9 of
/// the second 10 won; the same build against itself: +1.1%).
///
/// Without a vector gather (AVX2: the patches are read lane by lane) it won on the small
/// ResNet's 32-64-channel layers with 8 x 8 and 4 x 4 outputs (forward small.down3 1.05 against
/// 1.11-1.13, small.down4 0.82 against 1.02-1.06; the AVX2 step +2.9%, A/B medians of 12 pairs,
/// 10 won) and lost on 16 channels (small.down2 1.85 against 1.37) and on ResNet-18's wider
/// layers (layer2.down 13-14 against 12). Its weight gradient there (small.down4 0.89-0.94
/// against 1.07-1.09 in bench_conv) did not speed the step up: 808 -> 793 img/s on top of the
/// forward pass (A/B medians of 12 pairs), and -0.7% in a concurrent A/B (10 rounds, 3 won).
///
/// Its backward-data pass (4 x 4 tiles of dx from 3 x 3 patches of dy) is taken on AVX-512 from
/// 32 input channels: bench_conv (one thread, inputs out of L2, ms, against im2col, which
/// `automatic` ran there) small.down3 0.79 against 1.05, small.down4 0.83 against 0.88,
/// ResNet-18's layer2.down 11.7 against 13.6, layer3.down 10.0 against 14.6, layer4.down 14.7
/// against 15.6 (AMD Zen 4); small.down2 (16 channels) lost, 1.45 against 1.38. Without a vector
/// gather (AVX2, its patches read by runs of tiles) it won in bench_conv from 32 channels up to
/// ResNet-18's layer3.down (medians of 3: small.down3 1.20 against 1.25, small.down4 1.02
/// against 1.09, layer2.down 14.4 against 15.5, layer3.down 12.0 against 14.9) and lost on
/// layer4.down (24 against 16: 2 x 2 tiles per image, so each block of 16 re-reads the 13 MB
/// filter transform) and on small.down2 (1.9 against 1.4); taking it on the small ResNet's
/// down3 / down4 cut the AVX2 step's instructions by 1.6% (callgrind) but its time by nothing
/// measurable (concurrent A/Bs: -1% and -2% in the medians of 10 rounds, within their noise), so
/// `automatic` leaves AVX2 on im2col there.
inline bool winograd_s2_preferred(const conv_shape& g, conv_pass pass) {
    if (!winograd_s2_applies(g) || g.K < 16) return false;
    if (pass == conv_pass::backward_weights) return simd::vector_gather<float> && g.C >= 16;
    if (pass == conv_pass::backward_data) return simd::vector_gather<float> && g.C >= 32;
    if constexpr (simd::vector_gather<float>) return g.C >= 16;
    return g.C >= 32 && g.C * g.K <= 128 * 128 && g.P() * g.Q() <= 64;
}

/// y[n][k] += bias[k] over the output planes.
template <class T>
void add_bias(const T* bias, const conv_shape& g, T* y) {
    const std::size_t PQ = g.P() * g.Q();
    for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t k = 0; k < g.K; ++k)
            for (std::size_t i = 0; i < PQ; ++i) y[(n * g.K + k) * PQ + i] += bias[k];
}

/// y = conv(x, w) (+ bias).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* bias, const conv_shape& g, T* y, conv_algo a = conv_algo::automatic) {
    ONECLASS_PROFILE_SCOPE("conv.forward");
    g.validate("conv2d");
    const std::size_t m = winograd_tile(g, a, conv_pass::forward);
    if (m == 0) {
        if (a == conv_algo::winograd_s2 || (a == conv_algo::automatic && winograd_s2_preferred(g, conv_pass::forward))) {
            ONECLASS_PROFILE_SCOPE("conv.winograd_s2_forward");
            conv2d_winograd_s2(x, w, g, y, false);
            if (bias) add_bias(bias, g, y);
            return;
        }
        if (a == conv_algo::phase || (a == conv_algo::automatic && phase_direct_preferred(g, conv_pass::forward))) {
            ONECLASS_PROFILE_SCOPE("conv.phase_forward");
            return conv2d_forward_phase(x, w, bias, g, y);
        }
        if (a == conv_algo::implicit_gemm || (a == conv_algo::automatic && implicit_gemm_preferred<T>(g))) {
            ONECLASS_PROFILE_SCOPE("conv.implicit_gemm_forward");
            return conv2d_forward_implicit_gemm(x, w, bias, g, y);
        }
        ONECLASS_PROFILE_SCOPE("conv.im2col_forward");
        return conv2d_forward_im2col(x, w, bias, g, y);
    }
    if (m == 4) conv2d_winograd<4>(x, w, g, y, false);
    else conv2d_winograd<2>(x, w, g, y, false);
    if (bias) add_bias(bias, g, y);
}

/// dx += d conv / d x applied to dy (accumulate = false: dx = ..., into memory that need not be
/// zeroed first).
template <class T>
void conv2d_backward_data(const T* dy, const T* w, const conv_shape& g, T* dx, conv_algo a = conv_algo::automatic,
                          bool accumulate = true) {
    ONECLASS_PROFILE_SCOPE("conv.backward_data");
    const std::size_t m = winograd_tile(g, a, conv_pass::backward_data);
    if (m == 4) return conv2d_backward_data_winograd<4>(dy, w, g, dx, accumulate);
    if (m == 2) return conv2d_backward_data_winograd<2>(dy, w, g, dx, accumulate);
    if (a == conv_algo::winograd_s2 || (a == conv_algo::automatic && winograd_s2_preferred(g, conv_pass::backward_data))) {
        ONECLASS_PROFILE_SCOPE("conv.winograd_s2_backward_data");
        return conv2d_backward_data_winograd_s2(dy, w, g, dx, accumulate);
    }
    if (a == conv_algo::phase || (a == conv_algo::automatic && phase_direct_preferred(g, conv_pass::backward_data))) {
        ONECLASS_PROFILE_SCOPE("conv.phase_backward_data");
        return conv2d_backward_data_phase(dy, w, g, dx, accumulate);
    }
    ONECLASS_PROFILE_SCOPE("conv.im2col_backward_data");
    conv2d_backward_data_im2col(dy, w, g, dx, accumulate);
}

/// dw += d conv / d w and dbias += d conv / d bias applied to dy (either may be nullptr;
/// accumulate = false: = instead of +=).
template <class T>
void conv2d_backward_weights(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias,
                             conv_algo a = conv_algo::automatic, bool accumulate = true) {
    ONECLASS_PROFILE_SCOPE("conv.backward_weights");
    const std::size_t m = dw ? winograd_tile(g, a, conv_pass::backward_weights) : 0;
    if (m) {
        if (m == 4) conv2d_backward_weights_winograd<4>(x, dy, g, dw, accumulate);
        else conv2d_backward_weights_winograd<2>(x, dy, g, dw, accumulate);
        dw = nullptr;  // only the bias is left for the im2col routine
    }
    if (dw && (a == conv_algo::winograd_s2 || (a == conv_algo::automatic && winograd_s2_preferred(g, conv_pass::backward_weights)))) {
        ONECLASS_PROFILE_SCOPE("conv.winograd_s2_backward_weights");
        conv2d_backward_weights_winograd_s2(x, dy, g, dw, accumulate);
        dw = nullptr;
    }
    if (dw && (a == conv_algo::phase || (a == conv_algo::automatic && phase_direct_preferred(g, conv_pass::backward_weights)))) {
        ONECLASS_PROFILE_SCOPE("conv.phase_backward_weights");
        conv2d_backward_weights_phase(x, dy, g, dw, accumulate);
        dw = nullptr;
    }
    if (dw && (a == conv_algo::implicit_gemm || (a == conv_algo::automatic && implicit_gemm_weights_preferred<T>(g)))) {
        ONECLASS_PROFILE_SCOPE("conv.implicit_gemm_backward_weights");
        conv2d_backward_weights_implicit_gemm(x, dy, g, dw, accumulate);
        dw = nullptr;  // only the bias is left for the im2col routine
    }
    if (dw || dbias) {
        ONECLASS_PROFILE_SCOPE("conv.im2col_backward_weights");
        conv2d_backward_weights_im2col(x, dy, g, dw, dbias, accumulate);
    }
}

}  // namespace oneclass::ops
