// oneclass/ops/implicit_gemm.hpp - convolution forward and weight gradient as implicit GEMMs, for
// the layers Winograd does not take (stride 2, 1 x 1) on machines with a vector gather (AVX-512).
//
// Forward:
// y[k][pixels] = W[k][(c r s)] col[(c r s)][pixels], one block of NB output pixels at a time (taken
// across the batch in (image, row, column) order): the block's patch columns are gathered
// straight from x with AVX-512 masked gathers, through a table of the R S taps' offsets built
// once per block and shared by all channels, into an L2-resident (C R S) x NB panel; the
// Winograd register-blocked kernel multiplies it by the packed filter; the K x NB products are
// stored to y. Against im2col + OpenBLAS this skips the whole patch matrix (written, then packed
// again by the GEMM) and the copy of grouped outputs back to NCHW. Every output is computed by
// one block with a fixed summation order (c r s ascending), so results do not depend on the
// number of threads. The weight gradient is the same product transposed (see its comment).
// Backward-data stays on im2col: both implicit forms tried (scatter-add, polyphase) were no faster
// (the narrow stride-2 layers on large maps take ops/phase_direct.hpp in all three passes).
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

/// The same for the weight gradient, which also needs the K x C R S gradient to stay in L2 (it is
/// read and written once per image group) and kernels up to 5 x 5 (its lane-mask table has 2^(R+S)
/// patterns): 1.1-1.5x faster than im2col + OpenBLAS on layer2.down,
/// the small ResNet's downs and the 1 x 1 shortcuts, 1.2x slower on layer4.down (4.7 MB of dw).
template <class T>
bool implicit_gemm_weights_preferred(const conv_shape& g) {
    return implicit_gemm_preferred<T>(g) && g.R <= 5 && g.S <= 5 && g.K * g.crs() <= (std::size_t(1) << 18);
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

/// dw += d conv / d w (accumulate = false: dw = ...) by the implicit GEMM: images in fixed groups
/// (>= 256 output pixels); for each group the transposed patch matrix colT[pixel][(c r s)] is
/// gathered straight from x (one vector gather per 16 consecutive (c r s) of a pixel), then
/// dw[k][(c r s)] += sum over the group's pixels dy[k][pixel] colT[pixel][(c r s)], MR x NB
/// blocks of dw held in registers over all of the group's pixels. With several groups, up to 4
/// fixed slots (parallel::for_slots) each own a partial dw: slot s gathers and multiplies groups
/// s, s + slots, ... on one thread (two fork-joins per group scaled 1.2-1.3x on 2 threads), slot
/// 0 into dw itself, and the other partials are added to it in slot order. Each sum has a fixed
/// order that depends on the shape only: the same bits on any number of threads.
template <class T>
void conv2d_backward_weights_implicit_gemm(const T* x, const T* dy, const conv_shape& g, T* dw, bool accumulate = true) {
    require(implicit_gemm_applies<T>(g), "conv2d", "the implicit GEMM needs AVX-512 gathers and tensors under 2^31 values");
    using B = simd::batch<T>;
    constexpr std::size_t MR = detail::winograd_mr, NV = detail::winograd_nv, VW = simd::width<T>, NB = VW * NV;
    const std::size_t K = g.K, C = g.C, R = g.R, S = g.S, RS = R * S, CRS = C * RS, KB = (K + MR - 1) / MR;
    require(R <= 5 && S <= 5, "conv2d", "the implicit GEMM weight gradient takes kernels up to 5 x 5");
    const std::size_t CRSp = (CRS + NB - 1) / NB * NB, chunks = CRSp / VW, CBN = CRSp / NB;
    const std::size_t P = g.P(), Q = g.Q(), PQ = P * Q, HW = g.H * g.W, CHW = C * HW;
    const std::size_t G = images_per_gemm(g), groups = (g.N + G - 1) / G;
    // lane offsets of (c r s) from a pixel's top-left tap, and the lane masks of each chunk for
    // each pattern of valid filter rows (bits 0..R) and columns (bits 0..S)
    transient_buffer<std::int32_t> cidx(CRSp);  // 64-byte aligned, for the vector loads of the gather
    std::fill_n(cidx.data(), CRSp, 0);
    for (std::size_t e = 0; e < CRS; ++e) {
        const std::size_t c = e / RS, r = (e % RS) / S, s2 = e % S;
        cidx[e] = std::int32_t(c * HW + r * g.W + s2);
    }
    // per chunk, the lanes of each filter row and column; a pattern's mask is then a few ORs
    // (this table used to be built lane by lane, with divisions, in 20% of a small layer's time)
    std::vector<std::uint32_t> row_lanes(chunks * R, 0), col_lanes(chunks * S, 0);
    for (std::size_t e = 0; e < CRS; ++e) {
        const std::size_t ch = e / VW, bit = e % VW, r = (e % RS) / S, s2 = e % S;
        row_lanes[ch * R + r] |= std::uint32_t(1) << bit;
        col_lanes[ch * S + s2] |= std::uint32_t(1) << bit;
    }
    std::vector<std::uint32_t> masks(chunks << (R + S));
    for (std::size_t pat = 0; pat < (std::size_t(1) << (R + S)); ++pat)
        for (std::size_t ch = 0; ch < chunks; ++ch) {
            std::uint32_t rows = 0, cols = 0;
            for (std::size_t r = 0; r < R; ++r)
                if ((pat >> r) & 1) rows |= row_lanes[ch * R + r];
            for (std::size_t s2 = 0; s2 < S; ++s2)
                if ((pat >> (R + s2)) & 1) cols |= col_lanes[ch * S + s2];
            masks[(pat * chunks) + ch] = rows & cols;
        }
    struct scratch {  // the calling thread's: shared by the workers, kept between calls
        scratch_vec<T> partial;
    };
    struct group_scratch {  // one group's patch matrix and output gradient: the caller's (one group) or each slot's thread's
        scratch_vec<T> colT, dy;
    };
    // colT rows [lo, hi) of group gi (its pixels, from image n0)
    const auto gather = [&](std::size_t n0, T* ct, std::size_t lo, std::size_t hi) {
        for (std::size_t t = lo; t < hi; ++t) {
            const std::size_t n = n0 + t / PQ, p = (t % PQ) / Q, q = t % Q;
            const std::ptrdiff_t h0 = std::ptrdiff_t(p * g.stride) - std::ptrdiff_t(g.pad);
            const std::ptrdiff_t w0 = std::ptrdiff_t(q * g.stride) - std::ptrdiff_t(g.pad);
            std::size_t pat = 0;
            for (std::size_t r = 0; r < R; ++r)
                if (h0 + std::ptrdiff_t(r) >= 0 && h0 + std::ptrdiff_t(r) < std::ptrdiff_t(g.H)) pat |= std::size_t(1) << r;
            for (std::size_t s2 = 0; s2 < S; ++s2)
                if (w0 + std::ptrdiff_t(s2) >= 0 && w0 + std::ptrdiff_t(s2) < std::ptrdiff_t(g.W)) pat |= std::size_t(1) << (R + s2);
            // the gather's base is the pixel's top-left tap, which may lie in the padding before x:
            // its address is formed as an integer (no out-of-range pointer arithmetic); the
            // masked gather reads only the taps inside the image
            const std::intptr_t off = std::intptr_t(h0 * std::ptrdiff_t(g.W) + w0) * std::intptr_t(sizeof(T));
            const T* base = reinterpret_cast<const T*>(reinterpret_cast<std::uintptr_t>(x + n * CHW) + std::uintptr_t(off));
            const std::uint32_t* pm = masks.data() + pat * chunks;
            T* row = ct + t * CRSp;
            for (std::size_t ch = 0; ch < chunks; ++ch) simd::masked_gather(base, cidx.data() + ch * VW, pm[ch], row + ch * VW);
        }
    };
    // dst (K x CRS) = or += the products of MR x NB blocks u in [lo, hi) over a group's npix
    // pixels: dyg is the group's output gradient as one K x npix matrix (detail::gather_dy), so
    // the pixel loop runs over the whole group (per image, 4 x 4 maps gave it 16 steps between
    // recomputed row addresses)
    const auto product = [&](const T* dyg, std::size_t npix, const T* ct, T* dst_base, bool add, std::size_t lo, std::size_t hi) {
        for (std::size_t u = lo; u < hi; ++u) {
            // column-slice major: consecutive tasks reuse one slice of colT (pixels x NB) from cache
            const std::size_t cb = u / KB, kb = u % KB, rows = std::min(MR, K - kb * MR);
            B acc[MR][NV];
            for (std::size_t i = 0; i < MR; ++i)
                for (std::size_t j = 0; j < NV; ++j) acc[i][j] = B(T(0));
            const T* dyr[MR];
            for (std::size_t i = 0; i < MR; ++i) dyr[i] = dyg + (kb * MR + std::min(i, rows - 1)) * npix;
            const T* cr = ct + cb * NB;
            for (std::size_t t = 0; t < npix; ++t, cr += CRSp) {
                B v[NV];
#pragma GCC unroll 4
                for (std::size_t j = 0; j < NV; ++j) v[j] = B::load_aligned(cr + j * VW);
#pragma GCC unroll 16
                for (std::size_t i = 0; i < MR; ++i) {
                    const B d(dyr[i][t]);
#pragma GCC unroll 4
                    for (std::size_t j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(d, v[j], acc[i][j]);
                }
            }
            for (std::size_t i = 0; i < rows; ++i) {
                alignas(64) T o[NB];
                for (std::size_t j = 0; j < NV; ++j) acc[i][j].store_aligned(o + j * VW);
                T* dst = dst_base + (kb * MR + i) * CRS + cb * NB;
                const std::size_t cols = std::min(NB, CRS - cb * NB);
                for (std::size_t l = 0; l < cols; ++l) dst[l] = add ? dst[l] + o[l] : o[l];
            }
        }
    };
    const std::size_t slots = parallel::slot_count(groups), KCRS = K * CRS;
    const auto images = [&](std::size_t gi) { return std::min(g.N, (gi + 1) * G) - gi * G; };
    if (slots == 1) {
        group_scratch& gs = thread_scratch<group_scratch>();
        gs.colT.resize(images(0) * PQ * CRSp);
        T* ct = gs.colT.data();
        parallel::for_chunks(0, images(0) * PQ, 16, [&](std::size_t lo, std::size_t hi) { gather(0, ct, lo, hi); });
        const T* dyg = detail::gather_dy(dy, g, 0, images(0), gs.dy);
        parallel::for_chunks(0, KB * CBN, 1, [&](std::size_t lo, std::size_t hi) { product(dyg, images(0) * PQ, ct, dw, accumulate, lo, hi); });
        return;
    }
    // slot 0 sums into dw itself (onto its values when accumulating), the others into partials
    scratch_vec<T>& partial = thread_scratch<scratch>().partial;
    partial.resize((slots - 1) * KCRS);
    parallel::for_slots(groups, [&](std::size_t s, std::size_t gi) {
        group_scratch& gs = thread_scratch<group_scratch>();
        const std::size_t n0 = gi * G, nb = images(gi);
        gs.colT.resize(nb * PQ * CRSp);
        gather(n0, gs.colT.data(), 0, nb * PQ);
        const T* dyg = detail::gather_dy(dy, g, n0, nb, gs.dy);
        T* dst = s == 0 ? dw : partial.data() + (s - 1) * KCRS;
        product(dyg, nb * PQ, gs.colT.data(), dst, gi != s || (s == 0 && accumulate), 0, KB * CBN);
    });
    parallel::add_in_order(dw, partial.data(), slots - 1, KCRS);  // dw += slot 1 + slot 2 + ..., in that order
}

}  // namespace oneclass::ops
