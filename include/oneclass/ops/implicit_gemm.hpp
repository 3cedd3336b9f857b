// oneclass/ops/implicit_gemm.hpp - forward convolution as an implicit GEMM, for the layers
// Winograd does not take (stride 2, 1 x 1, the stem) on machines with a vector gather.
//
// y[k][pixels] = W[k][(c r s)] col[(c r s)][pixels], one block of NB output pixels at a time (taken
// across the batch in (image, row, column) order): the block's patch columns are gathered
// straight from x with AVX-512 masked gathers, through a table of the R S taps' offsets built
// once per block and shared by all channels, into an L2-resident (C R S) x NB panel; the
// Winograd register-blocked kernel multiplies it by the packed filter; the K x NB products are
// stored to y. Against im2col + OpenBLAS this skips the whole patch matrix (written, then packed
// again by the GEMM) and the copy of grouped outputs back to NCHW. Every output is computed by
// one block with a fixed summation order (c r s ascending), so results do not depend on the
// number of threads.
#pragma once

#include <oneclass/ops/winograd.hpp>

namespace oneclass::ops {

/// Whether the implicit GEMM can run: it needs the vector gather (AVX-512; without it the per-lane
/// loads lose to im2col + OpenBLAS) and tensors under 2^31 values (32-bit gather offsets).
template <class T>
bool implicit_gemm_applies(const conv_shape& g) {
    constexpr std::size_t limit = std::size_t(1) << 31;
    return simd::vector_gather<T> && g.N * g.C * g.H * g.W < limit && g.N * g.K * g.P() * g.Q() < limit;
}

/// Whether `automatic` takes it: where bench_conv measured it faster than im2col + OpenBLAS (the
/// stride-2 3 x 3 layers 1.1-1.6x, the wide 1 x 1 shortcuts 1.2x). Each block builds a table of
/// R S x NB offsets, which a few input channels do not repay: the stems (C = 1, 3) and a 16-channel
/// 1 x 1 were 1.5-5x slower.
template <class T>
bool implicit_gemm_preferred(const conv_shape& g) {
    return implicit_gemm_applies<T>(g) && g.C >= 16 && g.crs() >= 64;
}

namespace detail {
/// Wp[kb][crs][i] = w[kb MR + i][crs] (zero rows past K): the filter in the kernel's panel order.
template <std::size_t MR, class T>
void implicit_gemm_filter_pack(const T* w, std::size_t K, std::size_t CRS, T* Wp) {
    const std::size_t KB = (K + MR - 1) / MR;
    for (std::size_t kb = 0; kb < KB; ++kb)
        for (std::size_t e = 0; e < CRS; ++e)
            for (std::size_t i = 0; i < MR; ++i) {
                const std::size_t k = kb * MR + i;
                Wp[(kb * CRS + e) * MR + i] = k < K ? w[k * CRS + e] : T(0);
            }
}
}  // namespace detail

/// y = conv(x, w) (+ bias) by the implicit GEMM; any kernel size, stride and padding. Requires
/// implicit_gemm_applies (checked).
template <class T>
void conv2d_forward_implicit_gemm(const T* x, const T* w, const T* bias, const conv_shape& g, T* y) {
    require(implicit_gemm_applies<T>(g), "conv2d", "the implicit GEMM needs AVX-512 gathers and tensors under 2^31 values");
    constexpr std::size_t MR = detail::winograd_mr, NV = detail::winograd_nv, VW = simd::width<T>, NB = VW * NV;
    const std::size_t K = g.K, C = g.C, RS = g.R * g.S, CRS = C * RS, KB = (K + MR - 1) / MR;
    const std::size_t P = g.P(), Q = g.Q(), PQ = P * Q, HW = g.H * g.W, total = g.N * PQ;
    const std::size_t blocks = (total + NB - 1) / NB;
    struct filter_scratch {
        scratch_vec<T> Wp;
    };
    scratch_vec<T>& Wp = thread_scratch<filter_scratch>().Wp;  // the caller's: shared by the workers
    Wp.resize(KB * CRS * MR);
    detail::implicit_gemm_filter_pack<MR>(w, K, CRS, Wp.data());
    struct scratch {
        scratch_vec<T> V, Y;
        std::vector<detail::winograd_taps<1, NB, T>> taps;  // one per (r, s)
    };
    parallel::for_chunks(0, blocks, 1, [&](std::size_t lo, std::size_t hi) {
        scratch& sc = thread_scratch<scratch>();
        sc.V.resize(CRS * NB);
        sc.Y.resize(KB * MR * NB);
        sc.taps.resize(RS);
        std::size_t out[NB];  // each lane's offset of output channel 0 in y
        for (std::size_t b = lo; b < hi; ++b) {
            const std::size_t first = b * NB, lanes = std::min(NB, total - first);
            for (auto& tp : sc.taps) std::fill(&tp.mask[0][0], &tp.mask[0][0] + tp.NV, 0u);
            for (std::size_t l = 0; l < NB; ++l) {
                const std::size_t t = first + l, n = t / PQ, p = (t % PQ) / Q, q = t % Q;
                out[l] = n * K * PQ + p * Q + q;
                for (std::size_t r = 0; r < g.R; ++r)
                    for (std::size_t s = 0; s < g.S; ++s) {
                        const std::ptrdiff_t h = std::ptrdiff_t(p * g.stride + r) - std::ptrdiff_t(g.pad);
                        const std::ptrdiff_t wc = std::ptrdiff_t(q * g.stride + s) - std::ptrdiff_t(g.pad);
                        const bool in = l < lanes && h >= 0 && h < std::ptrdiff_t(g.H) && wc >= 0 && wc < std::ptrdiff_t(g.W);
                        sc.taps[r * g.S + s].set(0, l, in, in ? n * C * HW + std::size_t(h) * g.W + std::size_t(wc) : 0);
                    }
            }
            T* V = sc.V.data();
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t rs = 0; rs < RS; ++rs)
                    sc.taps[rs].gather(x + c * HW, reinterpret_cast<T(*)[NB]>(V + (c * RS + rs) * NB));
            for (std::size_t kb = 0; kb < KB; ++kb)
                detail::winograd_kernel<MR, NV>(Wp.data() + kb * CRS * MR, V, CRS, sc.Y.data() + kb * MR * NB,
                                                std::min(MR, K - kb * MR));
            // the block's pixels are consecutive within an image when it does not cross one
            const bool run = lanes == NB && out[NB - 1] == out[0] + NB - 1;
            for (std::size_t k = 0; k < K; ++k) {
                const T* src = sc.Y.data() + k * NB;
                const T bk = bias ? bias[k] : T(0);
                if (run) {
                    T* dst = y + out[0] + k * PQ;
                    for (std::size_t l = 0; l < NB; ++l) dst[l] = src[l] + bk;
                } else {
                    for (std::size_t l = 0; l < lanes; ++l) y[out[l] + k * PQ] = src[l] + bk;
                }
            }
        }
    });
}

}  // namespace oneclass::ops
