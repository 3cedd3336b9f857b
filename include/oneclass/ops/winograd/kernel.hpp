// oneclass/ops/winograd/kernel.hpp - the register-blocked panel kernel (MR output channels x NV
// vectors of tiles, accumulators held in registers over the channel loop), shared by the Winograd
// products and the phase-split convolution (ops/phase_direct.hpp), and the packed filter transform.
#pragma once

#include <oneclass/ops/winograd/transforms.hpp>
#include <oneclass/parallel/parallel.hpp>

namespace oneclass::ops {

namespace detail {

// ---- fused forward: transform, multiply and inverse-transform one block of NB tiles at a time ----
//
// The forward (and backward-data) pass works on blocks of NB = winograd_nv SIMD vectors of tiles
// taken in (image, tile row, tile column) order across the whole batch. For each block the input
// transform writes V[xi][c][0..NB), our register-blocked kernel multiplies it by the packed
// filter transform, and the output transform reads the products straight back: the block's
// buffers (a^2 (C + K) NB floats) stay in L2, where the old layout (a^2 planes over whole image
// groups, through OpenBLAS, which packs its operands again) streamed them through memory three
// times. Every output element is computed by one block with the same arithmetic, so the result
// does not depend on how blocks are shared between threads.

/// Register blocking of the Winograd-domain GEMM: MR output channels x NV vectors of tiles per
/// kernel call, sized to the register file (AVX2's 16 vector registers: 12 accumulators, 2 tile
/// vectors and a broadcast; AVX-512's 32: 16 accumulators).
#if defined(__AVX512F__)
inline constexpr std::size_t winograd_mr = 8;
#else
inline constexpr std::size_t winograd_mr = 6;
#endif
inline constexpr std::size_t winograd_nv = 2;

/// out[i][0..NB) = sum_c u[c][i] v[c][0..NB) for the first `rows` of MR output channels, where u
/// is an MR-row panel of the packed filter transform and v one block of transformed tiles
/// (NB = NV vectors). The MR x NV accumulators stay in registers for the whole channel loop.
///
/// The loop itself is panel_kernel: row(c) gives the NB values of step c (here the c-th row of
/// the packed block; the phase-split convolution reads shifted rows of its framed input).
template <std::size_t MR, std::size_t NV, class T, class Row>
void panel_kernel(const T* __restrict u, Row&& row, std::size_t E, T* __restrict out, std::size_t rows) {
    using B = simd::batch<T>;
    constexpr std::size_t W = B::size, NB = W * NV;
    B acc[MR][NV];
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (std::size_t j = 0; j < NV; ++j) acc[i][j] = B(T(0));
    for (std::size_t e = 0; e < E; ++e, u += MR) {
        const T* v = row(e);
        B vv[NV];
#pragma GCC unroll 4
        for (std::size_t j = 0; j < NV; ++j) vv[j] = B::load_unaligned(v + j * W);
#pragma GCC unroll 16
        for (std::size_t i = 0; i < MR; ++i) {
            const B ui(u[i]);
#pragma GCC unroll 4
            for (std::size_t j = 0; j < NV; ++j) acc[i][j] = xsimd::fma(ui, vv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i)
        if (i < rows)
#pragma GCC unroll 4
            for (std::size_t j = 0; j < NV; ++j) acc[i][j].store_aligned(out + i * NB + j * W);
}

template <std::size_t MR, std::size_t NV, class T>
void winograd_kernel(const T* __restrict u, const T* __restrict v, std::size_t C, T* __restrict out, std::size_t rows) {
    constexpr std::size_t NB = simd::width<T> * NV;
    panel_kernel<MR, NV>(u, [v](std::size_t c) { return v + c * NB; }, C, out, rows);
}

/// Up[xi][kb][c][i] = (G w_{kb MR + i, c} G^T)[xi], zero for rows past K: the filter transform in
/// the kernel's panel order. `transposed`: the filter of the transposed convolution (backward
/// data), w'[k][c] = rot180(w[c][k]) read from the original C' = K x K' = C weights in place.
template <std::size_t M, std::size_t MR, class T>
void winograd_filter_pack(const T* w, std::size_t K, std::size_t C, bool transposed, T* Up) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a, VW = simd::width<T>;
    const std::size_t KB = (K + MR - 1) / MR;
    // one filter's taps: e of filter (k, c)
    const auto tap = [&](std::size_t k, std::size_t c, std::size_t e) -> std::size_t {
        return transposed ? (c * K + k) * 9 + 8 - e : (k * C + c) * 9 + e;
    };
    // with a vector gather, a vector's lanes are NC = VW / MR consecutive channels c of one panel
    // (lane = c_off MR + i), exactly the packed order: the taps come in 9 gathers, G g G^T is one
    // sandwich, and each transformed value is one contiguous vector store
    constexpr std::size_t NC = simd::vector_gather<T> && VW % MR == 0 ? VW / MR : 0;
    parallel::for_chunks(0, KB, 1, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t kb = lo; kb < hi; ++kb) {
            std::size_t c = 0;
            if constexpr (NC > 0) {
                alignas(64) std::int32_t idx[9][VW];
                std::uint32_t mask = 0;
                for (std::size_t l = 0; l < VW; ++l) {
                    const std::size_t co = l / MR, k = kb * MR + l % MR;
                    if (k < K) mask |= std::uint32_t(1) << l;
                    for (std::size_t e = 0; e < 9; ++e) idx[e][l] = k < K ? std::int32_t(tap(k, co, e)) : 0;
                }
                alignas(64) T gq[9][VW];
                for (; c + NC <= C; c += NC) {
                    const T* base = w + (tap(0, c, 0) - tap(0, 0, 0));  // channel c's offset; idx holds the rest
                    for (std::size_t e = 0; e < 9; ++e) simd::masked_gather(base, idx[e], mask, gq[e]);
                    winograd_sandwich<A, 3, A, 3, W::G, W::G, VW, T>(
                        [&](std::size_t q, std::size_t j) { return gq[q * 3 + j]; },
                        [&](std::size_t a, std::size_t b) { return Up + (((a * A + b) * KB + kb) * C + c) * MR; });
                }
            }
            for (; c < C; ++c) {  // lane = output channel (all channels without a vector gather)
                T gq[9][MR];  // the MR filters' taps
                for (std::size_t i = 0; i < MR; ++i) {
                    const std::size_t k = kb * MR + i;
                    for (std::size_t e = 0; e < 9; ++e) gq[e][i] = k < K ? w[tap(k, c, e)] : T(0);
                }
                T t[A][3][MR];  // G g
#pragma GCC unroll 8
                for (std::size_t a = 0; a < A; ++a)
                    for (std::size_t j = 0; j < 3; ++j)
                        for (std::size_t i = 0; i < MR; ++i)
                            t[a][j][i] = T(W::G[a][0]) * gq[j][i] + T(W::G[a][1]) * gq[3 + j][i] + T(W::G[a][2]) * gq[6 + j][i];
#pragma GCC unroll 8
                for (std::size_t a = 0; a < A; ++a)
#pragma GCC unroll 8
                    for (std::size_t b = 0; b < A; ++b) {
                        T* dst = Up + (((a * A + b) * KB + kb) * C + c) * MR;
                        for (std::size_t i = 0; i < MR; ++i)
                            dst[i] = t[a][0][i] * T(W::G[b][0]) + t[a][1][i] * T(W::G[b][1]) + t[a][2][i] * T(W::G[b][2]);
                    }
            }
        }
    });
}

}  // namespace detail

}  // namespace oneclass::ops
