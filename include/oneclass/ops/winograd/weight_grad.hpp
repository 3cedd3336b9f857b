// oneclass/ops/winograd/weight_grad.hpp - the Winograd weight gradient: output-gradient tiles lifted
// to the a x a domain, the a^2 products (output channels in the lanes on AVX-512, an AVX2 NT
// kernel, or OpenBLAS), and dw = G^T dU G, over fixed image groups (deterministic).
#pragma once

#include <oneclass/ops/winograd/tiles.hpp>
#include <oneclass/simd/avx2.hpp>
#include <oneclass/simd/avx512.hpp>

namespace oneclass::ops {

namespace detail {

/// E[xi][k][l] = (A e A^T)[xi] for the block's M x M output-gradient tiles e (zero beyond P x Q),
/// at row stride ld: the gradient lifted to the a x a Winograd domain (taps as in the input block).
template <std::size_t M, std::size_t NB, class T>
void winograd_gradient_block(const T* dy, const conv_shape& g, const winograd_lane<M>* lanes, const winograd_taps<M * M, NB, T>& tp,
                             T* E, std::size_t plane, std::size_t ld) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    const std::size_t K = g.K, Q = g.Q(), PQ = g.P() * Q;
    alignas(64) T e[M * M][NB];  // gathered gradient tiles, one lane per tile
    // whole tiles side by side are read row-wise and transposed (simd::sse::load_quad); with a
    // vector gather, only when every lane of the block is in such a quad
    const std::uint32_t quads = winograd_quads<M, NB, T>(lanes);
    const bool all_quads = quads == (NB / 4 >= 32 ? ~0u : (std::uint32_t(1) << (NB / 4)) - 1);
    for (std::size_t k = 0; k < K; ++k) {
        if (simd::vector_gather<T> && !all_quads) {
            tp.gather(dy + k * PQ, e);
        } else {
            for (std::size_t l = 0; l < NB; ++l) {
                if ((quads >> (l / 4)) & 1) {
                    if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && simd::sse::quad_stores)
                        simd::sse::load_quad<M, NB>(dy + lanes[l].out + k * PQ, Q, e, l);
                    l += 3;
                    continue;
                }
                const winograd_lane<M>& L = lanes[l];
                const T* src = dy + L.out + k * PQ;
                if (L.rows == M && L.cols == M) {
#pragma GCC unroll 4
                    for (std::size_t rp = 0; rp < M; ++rp)
#pragma GCC unroll 4
                        for (std::size_t qp = 0; qp < M; ++qp) e[rp * M + qp][l] = src[rp * Q + qp];
                } else {  // cropped tile or block tail (rows == 0)
                    for (std::size_t rp = 0; rp < M; ++rp)
                        for (std::size_t qp = 0; qp < M; ++qp)
                            e[rp * M + qp][l] = rp < L.rows && qp < L.cols ? src[rp * Q + qp] : T(0);
                }
            }
        }
        winograd_sandwich<A, M, A, M, winograd_lift<M>::A, winograd_lift<M>::A, NB, T>(
            [&](std::size_t rp, std::size_t qp) { return e[rp * M + qp]; },
            [&](std::size_t r, std::size_t s2) { return E + (r * A + s2) * plane + k * ld; });
    }
}

#if defined(__AVX512F__)
// ---- weight gradient with output channels in the lanes (AVX-512, float) ----
//
// dU[xi] = E[xi] V[xi]^T sums over the tiles. With the output gradient lifted with 16 output
// channels in the lanes, E'[xi][t][k] (four whole tiles side by side: rows transposed in
// registers; other tiles: one gather per tap), dU[xi]^T = V[xi] E'[xi] is an outer-product sum:
// a broadcast of V[c][t] times a vector of E' per step, MR x NV accumulators held over all
// tiles, no packing and no horizontal sums (faster than OpenBLAS on these small products:
// docs/benchmarks.md, "Convolution algorithm choice").

/// E'[(r a + s) plane + t ldk + k] = (A e A^T)[r][s] of tile `first + t` of the batch (t < nt)
/// for output channels k < K (zero up to the next multiple of 16, <= ldk): the output-gradient
/// tiles e, zero beyond P x Q, gathered 16 channels at a time. A and L: the lift (a x M) of
/// another algorithm on the same M x M output tiles (ops/winograd_s2.hpp).
template <std::size_t M, std::size_t A = M + 2, const auto& L = winograd_lift<M>::A>
void winograd_gradient_channels(const float* dy, const conv_shape& g, const winograd_tiling<M>& tl, std::size_t first,
                                std::size_t nt, float* Ep, std::size_t plane, std::size_t ldk) {
    const std::size_t K = g.K, Kp = (K + 15) / 16 * 16, P = g.P(), Q = g.Q(), PQ = P * Q, tiles = tl.tiles();
    using B = simd::batch<float>;  // 16 lanes: this is the AVX-512 build
    static_assert(simd::width<float> == 16);
    alignas(64) std::int32_t idx[16];
    for (std::size_t l = 0; l < 16; ++l) idx[l] = std::int32_t(l * PQ);
    // y[i] = sum_j L[i][j] x[j] in registers; the zero and unit coefficients fold away
    const auto lift = [](const B (&x)[M], B (&y)[A]) {
#pragma GCC unroll 6
        for (std::size_t i = 0; i < A; ++i) {
            B acc(0.0f);
            bool any = false;
#pragma GCC unroll 4
            for (std::size_t j = 0; j < M; ++j) {
                const float c = float(L[i][j]);
                if (c == 0) continue;
                acc = !any ? (c == 1 ? x[j] : B(c) * x[j]) : (c == 1 ? acc + x[j] : c == -1 ? acc - x[j] : xsimd::fma(B(c), x[j], acc));
                any = true;
            }
            y[i] = acc;
        }
    };
    // the lift of tap rows x[rp][qp] (16 channels each) of tile t into E'
    const auto lift_tile = [&](const B (&x)[M][M], std::size_t t, std::size_t k0) {
        B z[A][M];  // the lift down the columns
#pragma GCC unroll 4
        for (std::size_t qp = 0; qp < M; ++qp) {
            B c[M], y[A];
#pragma GCC unroll 4
            for (std::size_t rp = 0; rp < M; ++rp) c[rp] = x[rp][qp];
            lift(c, y);
#pragma GCC unroll 6
            for (std::size_t r = 0; r < A; ++r) z[r][qp] = y[r];
        }
#pragma GCC unroll 6
        for (std::size_t r = 0; r < A; ++r) {  // and along the rows, stored
            B y[A];
            lift(z[r], y);
#pragma GCC unroll 6
            for (std::size_t s2 = 0; s2 < A; ++s2) y[s2].store_aligned(Ep + (r * A + s2) * plane + t * ldk + k0);
        }
    };
    for (std::size_t t = 0; t < nt; ++t) {
        const std::size_t tt = first + t, n = tt / tiles, ta = (tt % tiles) / tl.tw, tb = (tt % tiles) % tl.tw;
        const std::size_t rows = std::min(M, P - M * ta), cols = std::min(M, Q - M * tb);
        const float* base = dy + n * K * PQ + M * ta * Q + M * tb;
        if constexpr (M == 4) {
            // four whole tiles side by side (F(4x4)): each tap row of the four is one 16-float row
            // of dy per channel; 16 channels' rows are transposed in registers (64 shuffles for
            // 256 values) instead of 64 gathers across 16 planes
            if (t + 4 <= nt && tb + 4 <= tl.tw && rows == 4 && 4 * (tb + 4) <= Q) {
                for (std::size_t k0 = 0; k0 < Kp; k0 += 16) {
                    alignas(64) float e[4][4][4][16];  // [tile][rp][qp][channel]
                    for (std::size_t rp = 0; rp < 4; ++rp) {
                        B r[16];
#pragma GCC unroll 16
                        for (std::size_t i = 0; i < 16; ++i)
                            r[i] = k0 + i < K ? B::load_unaligned(base + (k0 + i) * PQ + rp * Q) : B(0.0f);
                        simd::transpose16(r);  // r[4 tile + qp][channel]
#pragma GCC unroll 16
                        for (std::size_t j = 0; j < 16; ++j) r[j].store_aligned(e[j / 4][rp][j % 4]);
                    }
                    for (std::size_t q = 0; q < 4; ++q) {
                        B x[M][M];
#pragma GCC unroll 4
                        for (std::size_t rp = 0; rp < 4; ++rp)
#pragma GCC unroll 4
                            for (std::size_t qp = 0; qp < 4; ++qp) x[rp][qp] = B::load_aligned(e[q][rp][qp]);
                        lift_tile(x, t + q, k0);
                    }
                }
                t += 3;
                continue;
            }
        }
        for (std::size_t k0 = 0; k0 < Kp; k0 += 16) {
            const std::uint32_t lanes = K - k0 >= 16 ? 0xFFFFu : (1u << (K - k0)) - 1u;
            const float* b = base + k0 * PQ;
            B x[M][M];
            alignas(64) float gathered[16];
#pragma GCC unroll 4
            for (std::size_t rp = 0; rp < M; ++rp)
#pragma GCC unroll 4
                for (std::size_t qp = 0; qp < M; ++qp) {
                    if (rp < rows && qp < cols) {
                        simd::masked_gather(b + rp * Q + qp, idx, lanes, gathered);
                        x[rp][qp] = B::load_aligned(gathered);
                    } else {
                        x[rp][qp] = B(0.0f);
                    }
                }
            lift_tile(x, t, k0);
        }
    }
}

/// dUT[xi][c][k] (+)= sum_{t < nt} V[xi plane_v + c ld + t] E'[xi plane_e + t ldk + k] for the a^2
/// planes xi in [lo, hi): blocks of 8 input channels x 32 output channels, a last block of 16
/// output channels by 16 x 16.
template <std::size_t LD>
void winograd_channel_products(const float* V, std::size_t vplane, std::size_t ld, const float* Ep, std::size_t eplane,
                               std::size_t ldk, std::size_t C, std::size_t K, std::size_t nt, float* dUT, bool first,
                               std::size_t lo, std::size_t hi) {
    const std::size_t Kp = (K + 15) / 16 * 16;
    for (std::size_t xi = lo; xi < hi; ++xi) {
        const float* v = V + xi * vplane;
        const float* e = Ep + xi * eplane;
        float* d = dUT + xi * K * C;
        std::size_t k0 = 0;
        for (; k0 + 32 <= Kp; k0 += 32)
            for (std::size_t c0 = 0; c0 < C; c0 += 8)
                simd::avx512::outer_product_block<8, 2, LD>(v + c0 * ld, ld, e + k0, ldk, nt, d + c0 * K + k0, K, std::min<std::size_t>(8, C - c0),
                                                  std::min<std::size_t>(32, K - k0), first);
        if (k0 < Kp)
            for (std::size_t c0 = 0; c0 < C; c0 += 16)
                simd::avx512::outer_product_block<16, 1, LD>(v + c0 * ld, ld, e + k0, ldk, nt, d + c0 * K + k0, K,
                                                   std::min<std::size_t>(16, C - c0), K - k0, first);
    }
}

/// winograd_channel_products with V's row stride fixed at compile time for the common group
/// sizes (32, 64 and 128 tiles: the MR row addresses then need no registers of their own).
inline void winograd_channel_products_ld(const float* V, std::size_t vplane, std::size_t ld, const float* Ep, std::size_t eplane,
                                         std::size_t ldk, std::size_t C, std::size_t K, std::size_t nt, float* dUT, bool first,
                                         std::size_t lo, std::size_t hi) {
    if (ld == 32) winograd_channel_products<32>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dUT, first, lo, hi);
    else if (ld == 64) winograd_channel_products<64>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dUT, first, lo, hi);
    else if (ld == 128) winograd_channel_products<128>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dUT, first, lo, hi);
    else winograd_channel_products<0>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dUT, first, lo, hi);
}
#endif
/// out[l sv + e] (+)= (G^T dU G)[e] for the n <= one SIMD vector of filters whose a x a domain
/// gradients start at d (lane l at d + l, plane x at d + x plane): the a^2 values in registers.
template <std::size_t A, const auto& G, class T>
void winograd_filters_from_dU(const T* d, std::size_t plane, std::size_t n, T* out, std::size_t sv, bool accumulate) {
    using B = simd::batch<T>;
    constexpr std::size_t W = B::size;
    B v[A * A];
    alignas(64) T part[W];
#pragma GCC unroll 36
    for (std::size_t x = 0; x < A * A; ++x) {
        const T* src = d + x * plane;
        if (n == W) {
            v[x] = B::load_unaligned(src);
        } else {  // a partial vector: its missing lanes are zero and not stored
            for (std::size_t l = 0; l < W; ++l) part[l] = l < n ? src[l] : T(0);
            v[x] = B::load_aligned(part);
        }
    }
    B t[3][A];  // G^T dU
#pragma GCC unroll 3
    for (std::size_t i = 0; i < 3; ++i)
#pragma GCC unroll 8
        for (std::size_t b = 0; b < A; ++b) {
            B acc(T(0));
#pragma GCC unroll 8
            for (std::size_t a = 0; a < A; ++a)
                if (G[a][i] != 0) acc = xsimd::fma(B(T(G[a][i])), v[a * A + b], acc);
            t[i][b] = acc;
        }
    alignas(64) T o[9][W];  // (G^T dU) G
#pragma GCC unroll 3
    for (std::size_t i = 0; i < 3; ++i)
#pragma GCC unroll 3
        for (std::size_t j = 0; j < 3; ++j) {
            B acc(T(0));
#pragma GCC unroll 8
            for (std::size_t b = 0; b < A; ++b)
                if (G[b][j] != 0) acc = xsimd::fma(t[i][b], B(T(G[b][j])), acc);
            acc.store_aligned(o[i * 3 + j]);
        }
    for (std::size_t l = 0; l < n; ++l)
        for (std::size_t e = 0; e < 9; ++e) out[l * sv + e] = accumulate ? out[l * sv + e] + o[e][l] : o[e][l];
}

/// dw (+)= G^T dU G for every (u, v) filter of an a x a domain gradient dU[xi][u][v] (the
/// contiguous axis v; xi planes of KC values), filter (u, v) at dw + u su + v sv, a SIMD vector
/// of v at a time. When the v filters lie far apart in dw (sv > su: the channel-lane
/// dU[xi][c][k], dw[k][c]), u runs innermost, so that each of a vector's filter rows dw[k][.] is
/// written in order; one filter at a time, scattered, this pass took 14% of the small ResNet's
/// stride-1 weight gradients.
template <std::size_t A, const auto& G, class T>
void winograd_weights_from_dU(const T* dU, std::size_t U, std::size_t Vn, std::size_t KC, std::size_t su, std::size_t sv, T* dw,
                              bool accumulate) {
    constexpr std::size_t W = simd::width<T>;
    const std::size_t VB = (Vn + W - 1) / W;
    const auto filters = [&](std::size_t u, std::size_t vb) {
        const std::size_t v0 = vb * W;
        winograd_filters_from_dU<A, G>(dU + u * Vn + v0, KC, std::min(W, Vn - v0), dw + u * su + v0 * sv, sv, accumulate);
    };
    if (sv > su)
        parallel::for_chunks(0, VB, 1, [&](std::size_t lo, std::size_t hi) {
            for (std::size_t vb = lo; vb < hi; ++vb)
                for (std::size_t u = 0; u < U; ++u) filters(u, vb);
        });
    else
        parallel::for_chunks(0, U, 16, [&](std::size_t lo, std::size_t hi) {
            for (std::size_t u = lo; u < hi; ++u)
                for (std::size_t vb = 0; vb < VB; ++vb) filters(u, vb);
        });
}

#if defined(__AVX512F__)
/// The channel-lane products and G^T dU G of a single image group in one pass: per block of
/// 32 output x 8 input channels, the a^2 products dU[xi] (over all nt tiles) go to an L1 buffer
/// and are turned into the block's filters at once, so dU (36 K C floats for F(4x4), 2.4 MB on
/// 128 channels) is never written out and read back. Each filter is summed by one task, in the
/// same order as the separate passes.
template <std::size_t A, const auto& G, std::size_t LD>
void winograd_channel_filters_impl(const float* V, std::size_t vplane, std::size_t ld, const float* Ep, std::size_t eplane,
                                   std::size_t ldk, std::size_t C, std::size_t K, std::size_t nt, float* dw, bool accumulate) {
    const std::size_t KB = (K + 31) / 32, CB = (C + 7) / 8;
    parallel::for_chunks(0, KB * CB, 1, [&](std::size_t lo, std::size_t hi) {
        alignas(64) float blk[A * A][8][32];  // dU[xi][c][k] of the block
        for (std::size_t bi = lo; bi < hi; ++bi) {
            const std::size_t k0 = (bi / CB) * 32, c0 = (bi % CB) * 8;
            const std::size_t kn = std::min<std::size_t>(32, K - k0), cn = std::min<std::size_t>(8, C - c0);
            for (std::size_t xi = 0; xi < A * A; ++xi)
                simd::avx512::outer_product_block<8, 2, LD>(V + xi * vplane + c0 * ld, ld, Ep + xi * eplane + k0, ldk, nt, &blk[xi][0][0], 32, cn, kn,
                                                  true);
            for (std::size_t c = 0; c < cn; ++c)
                for (std::size_t kv = 0; kv < kn; kv += 16)
                    winograd_filters_from_dU<A, G>(&blk[0][c][kv], 8 * 32, std::min<std::size_t>(16, kn - kv), dw + ((k0 + kv) * C + c0 + c) * 9,
                                                   C * 9, accumulate);
        }
    });
}

template <std::size_t A, const auto& G>
void winograd_channel_filters(const float* V, std::size_t vplane, std::size_t ld, const float* Ep, std::size_t eplane, std::size_t ldk,
                              std::size_t C, std::size_t K, std::size_t nt, float* dw, bool accumulate) {
    if (ld == 32) winograd_channel_filters_impl<A, G, 32>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dw, accumulate);
    else if (ld == 64) winograd_channel_filters_impl<A, G, 64>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dw, accumulate);
    else if (ld == 128) winograd_channel_filters_impl<A, G, 128>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dw, accumulate);
    else winograd_channel_filters_impl<A, G, 0>(V, vplane, ld, Ep, eplane, ldk, C, K, nt, dw, accumulate);
}
#endif
}  // namespace detail

namespace detail {
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
/// Whether the weight gradient's products take simd::avx2::products_nt instead of OpenBLAS: up to
/// 32 x 32 channels, where it measured faster; OpenBLAS's blocked product wins above.
constexpr bool wgrad_products_own(std::size_t C, std::size_t K) { return C * K <= 32 * 32; }

#endif

/// The image groups and buffer layout of a Winograd weight gradient, shared by F(m x m) and
/// F_s2(2x2) (ops/winograd_s2.hpp), for `tiles` tiles per image.
template <class T>
struct winograd_wgrad_plan {
    std::size_t N, C, K, KC, tiles, G, groups, slots, ldk;
    bool channel_lanes;
    winograd_wgrad_plan(const conv_shape& g, std::size_t tiles_per_image) : N(g.N), C(g.C), K(g.K), KC(g.K * g.C), tiles(tiles_per_image) {
        // groups of >= 64 tiles on small maps (under 64 tiles per image) of up to 128 x 128
        // channels, so that the batch makes several groups for the slots to run in parallel;
        // >= 128 tiles elsewhere
        const std::size_t min_cols = C * K <= 128 * 128 && tiles < 64 ? 64 : 128;
        G = winograd_group(tiles, N, min_cols), groups = (N + G - 1) / G;
        slots = parallel::slot_count(groups);
        // output channels in the lanes of the lifted gradient and in the products (see
        // winograd_gradient_channels; dU is then stored transposed, dU[xi][c][k]) up to 128 x 128
        // channels: on ResNet-18's 512-channel layer4 OpenBLAS's blocked product won (13 vs 18
        // ms), on 256 channels they tied
        channel_lanes = std::is_same_v<T, float> && winograd_channel_lanes(C, K);
        // E' rows of ldk: one cache line more than the padded channels beyond 32 (rows of 512 B
        // and more a power of two apart shared a few L1 sets: ResNet-18's layer4 ran 1.45x slower)
        const std::size_t Kp = (K + 15) / 16 * 16;
        ldk = Kp > 32 ? Kp + 16 : Kp;
    }
    std::size_t vplane(std::size_t ld) const { return winograd_plane<T>(C, ld); }
    std::size_t eplane(std::size_t ld) const { return channel_lanes ? winograd_plane<T>(ld, ldk) : winograd_plane<T>(K, ld); }
    std::size_t group_tiles(std::size_t gi) const { return (std::min(N, (gi + 1) * G) - gi * G) * tiles; }
};

/// The products and the final G^T dU G of a Winograd weight gradient (a x a domain, filter
/// transform Gm), shared by F(m x m) and F_s2(2x2): transforms(gi, V, E, ld, lo, hi) fills blocks
/// [lo, hi) of group gi's V and E' (ld tiles per row, whole blocks); dU[xi] = E[xi] V[xi]^T sums
/// over the groups, one group on the calling thread's buffers or fixed slots (parallel::for_slots,
/// up to 4) each owning a partial dU, added in slot order; dw (+)= G^T dU G. Every sum has an
/// order that depends on the shape only.
template <std::size_t A, const auto& Gm, class T, class Transforms>
void winograd_wgrad_products(const winograd_wgrad_plan<T>& p, Transforms&& transforms, T* dw, bool accumulate) {
    constexpr std::size_t A2 = A * A, NB = simd::width<T> * winograd_nv;
    const std::size_t C = p.C, K = p.K, KC = p.KC, groups = p.groups, slots = p.slots;
    [[maybe_unused]] const std::size_t ldk = p.ldk;  // AVX-512 only
    const bool channel_lanes = p.channel_lanes;
    const auto vplane = [&](std::size_t ld) { return p.vplane(ld); };
    const auto eplane = [&](std::size_t ld) { return p.eplane(ld); };
    const auto group_tiles = [&](std::size_t gi) { return p.group_tiles(gi); };
    struct scratch {  // the calling thread's: shared by the workers, kept between calls
        scratch_vec<T> dU;
    };
    struct group_scratch {  // one group's transforms: the caller's (one group) or each slot's thread's
        scratch_vec<T> V, E;
    };
    scratch& sc = thread_scratch<scratch>();
    sc.dU.resize(slots * A2 * KC);
    // the a^2 products [lo, hi) of a group into dU (added to it unless first), each on one thread
    const auto products = [&](std::size_t gi, const T* V, const T* E, std::size_t ld, T* dU, bool first, std::size_t lo, std::size_t hi) {
        ONECLASS_PROFILE_SCOPE("winograd.weights_products");
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
            if (channel_lanes) {
                winograd_channel_products_ld(V, vplane(ld), ld, E, eplane(ld), ldk, C, K, group_tiles(gi), dU, first, lo, hi);
                return;
            }
#endif
        (void)gi;
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
            if (wgrad_products_own(C, K)) {
                for (std::size_t xi = lo; xi < hi; ++xi)
                    simd::avx2::products_nt(E + xi * eplane(ld), V + xi * vplane(ld), K, C, ld, ld, dU + xi * KC, first);
                return;
            }
#endif
        for (std::size_t xi = lo; xi < hi; ++xi)
            linalg::gemm_nt<T>(matrix_view<const T>(E + xi * eplane(ld), K, ld), matrix_view<const T>(V + xi * vplane(ld), C, ld),
                       matrix_view<T>(dU + xi * KC, K, C), T(1), first ? T(0) : T(1));
    };
    const auto group_blocks = [&](std::size_t gi) { return (group_tiles(gi) + NB - 1) / NB; };
    if (slots == 1) {
        group_scratch& gs = thread_scratch<group_scratch>();
        const std::size_t blocks = group_blocks(0), ld = blocks * NB;
        gs.V.resize(A2 * vplane(ld));
        gs.E.resize(A2 * eplane(ld));
        T *V = gs.V.data(), *E = gs.E.data();
        parallel::for_chunks(0, blocks, 1, [&](std::size_t lo, std::size_t hi) { transforms(0, V, E, ld, lo, hi); });
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
            // products and G^T dU G in one pass, where it measured faster: from 64 output channels
            // (its blocks of 32 are half empty on 16) and up to 64 tiles (each block reads all of E')
            if (channel_lanes && K >= 64 && group_tiles(0) <= 64) {
                ONECLASS_PROFILE_SCOPE("winograd.weights_products");
                return winograd_channel_filters<A, Gm>(V, vplane(ld), ld, E, eplane(ld), ldk, C, K, group_tiles(0), dw, accumulate);
            }
#endif
        // a^2 independent products, each summed by one task: a measured alternative, our own
        // dot-product kernel over the tiles, lost on short tile counts (4 x 4 maps)
        parallel::for_chunks(0, A2, 1, [&](std::size_t lo, std::size_t hi) { products(0, V, E, ld, sc.dU.data(), true, lo, hi); });
    } else {
        parallel::for_slots(groups, [&](std::size_t s, std::size_t gi) {
            group_scratch& gs = thread_scratch<group_scratch>();
            const std::size_t blocks = group_blocks(gi), ld = blocks * NB;
            gs.V.resize(A2 * vplane(ld));
            gs.E.resize(A2 * eplane(ld));
            transforms(gi, gs.V.data(), gs.E.data(), ld, 0, blocks);
            products(gi, gs.V.data(), gs.E.data(), ld, sc.dU.data() + s * A2 * KC, gi == s, 0, A2);
        });
        // dU = slot 0 + slot 1 + ..., in that order
        parallel::add_in_order(sc.dU.data(), sc.dU.data() + A2 * KC, slots - 1, A2 * KC);
    }
    // dU[xi][k][c] (channel lanes: dU[xi][c][k]); outer index u (k or c), runs over the other
    if (channel_lanes) winograd_weights_from_dU<A, Gm>(sc.dU.data(), C, K, K * C, 9, C * 9, dw, accumulate);
    else winograd_weights_from_dU<A, Gm>(sc.dU.data(), K, C, K * C, C * 9, 9, dw, accumulate);
}
}  // namespace detail

/// dw += d conv / d w (accumulate = false: dw = ...) for 3x3 stride-1 convolutions, in the Winograd domain: with V = B^T d B
/// the input tiles and E = A e A^T the output-gradient tiles lifted to a x a, dU[xi] = sum over
/// tiles E[xi] V[xi]^T is a^2 products (K x tiles) by (tiles x C), and dw = G^T dU G.
///
/// Images are taken in fixed groups of at least 128 tiles, 64 on small maps of few channels
/// (padded with zero tiles to whole blocks; smaller groups keep V and E nearer the cache).
/// With several groups, a fixed number of slots (parallel::for_slots, up to 4) each own a partial
/// dU: slot s transforms and multiplies groups s, s + slots, ... in its own L2 (no synchronisation between
/// groups; parallel within each group, on 32 x 32 maps of 16 channels, it ran slower on 2 threads
/// than on 1), and the partials are added in slot order. A single group runs its transforms in
/// parallel over blocks of tiles and its products in parallel over xi. Either way each sum has a

/// fixed order that depends on the shape only: the result is the same on any number of threads.
template <std::size_t M = 2, class T>
void conv2d_backward_weights_winograd(const T* x, const T* dy, const conv_shape& g, T* dw, bool accumulate = true) {
    using W = detail::winograd_matrices<M>;
    constexpr std::size_t A = W::a, A2 = A * A;
    constexpr std::size_t NB = simd::width<T> * detail::winograd_nv;
    const detail::winograd_tiling<M> tl(g);
    const detail::winograd_wgrad_plan<T> p(g, tl.tiles());
    const std::size_t G = p.G, tiles = p.tiles;
    [[maybe_unused]] const std::size_t ldk = p.ldk;  // AVX-512 only
    const bool channel_lanes = p.channel_lanes;
    const auto vplane = [&](std::size_t ld) { return p.vplane(ld); };
    const auto eplane = [&](std::size_t ld) { return p.eplane(ld); };
    // the transforms of blocks [lo, hi) of group gi
    const auto transforms = [&](std::size_t gi, T* V, T* E, std::size_t ld, std::size_t lo, std::size_t hi) {
        ONECLASS_PROFILE_SCOPE("winograd.weights_transforms");
        const std::size_t first = gi * G * tiles, end = std::min(g.N, (gi + 1) * G) * tiles;
        detail::winograd_lane<M> lanes[NB];
        detail::winograd_taps<A2, NB, T> in_taps;
        detail::winograd_taps<M * M, NB, T> out_taps;
        for (std::size_t b = lo; b < hi; ++b) {
            detail::winograd_lanes<M, T>(g, tl, first + b * NB, end, NB, lanes);
            if constexpr (simd::vector_gather<T>) {
                if (!detail::winograd_rows_apply<M, T, NB>(g)) detail::winograd_input_taps<M, NB>(g, lanes, in_taps);
                if (!channel_lanes) detail::winograd_output_taps<M, NB>(g, lanes, out_taps);
            }
            detail::winograd_input_block<M, NB>(x, g, lanes, in_taps, V + b * NB, vplane(ld), ld);
            if (!channel_lanes) detail::winograd_gradient_block<M, NB>(dy, g, lanes, out_taps, E + b * NB, eplane(ld), ld);
        }
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
            if (channel_lanes) {
                const std::size_t t0 = lo * NB, t1 = std::min(hi * NB, p.group_tiles(gi));
                if (t1 > t0) detail::winograd_gradient_channels<M>(dy, g, tl, first + t0, t1 - t0, E + t0 * ldk, eplane(ld), ldk);
            }
#endif
    };
    detail::winograd_wgrad_products<A, W::G>(p, transforms, dw, accumulate);
}

}  // namespace oneclass::ops
