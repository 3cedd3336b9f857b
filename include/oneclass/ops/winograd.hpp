// oneclass/ops/winograd.hpp - Winograd F(m x m, 3 x 3) convolution for 3x3 stride-1 layers, in
// all three passes (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//
// Each m x m output tile is Y = A^T [ (G g G^T) .* (B^T d B) ] A over an a x a input tile d
// (a = m + 2): a^2 multiplies per tile and channel pair instead of 9 m^2, i.e. 2.25x fewer for
// F(2x2) (16 vs 36) and 4x fewer for F(4x4) (36 vs 144). The a^2 element-wise products summed
// over channels are a^2 GEMMs of (K x C) by (C x tiles). F(4x4) also moves less data per output
// (36 transformed values per 16 outputs against 16 per 4) but its transforms have larger
// constants (up to 8 and 1/24), so its float rounding is about 5x that of F(2x2); both are tested
// against the direct reference.
//
//   forward          y = conv(x, w)
//   backward-data    dx = conv(dy, rot180(w) with channels swapped), padding 2 - pad: the same routine
//   backward-weights dU[xi] = sum over tiles (A e A^T)[xi] (B^T d B)[xi]^T, then dw = G^T dU G
//
// Forward and backward-data are fused per block of tiles (transform, multiply in our own
// register-blocked kernel, inverse-transform while the block is in cache; see below). The weight
// gradient works on fixed image groups, each group's products added to the sum in group order, so
// results do not depend on the thread count; its products are our outer-product kernel with the
// output channels in the lanes (AVX-512, up to 128 x 128 channels) or OpenBLAS. Every transform
// is one `winograd_sandwich` with its constant matrices unrolled at compile time (F(4x4)'s B^T
// and A^T hand-factored), or on AVX-512 the same arithmetic in registers. On maps of 8 or 4 tiles
// per row (32 x 32 and 16 x 16 with F(4x4), 16 x 16 and 8 x 8 with F(2x2)) the input tiles' taps
// are read as whole rows and spread over the lanes by AVX-512 permutes (winograd_input_rows), and
// the outputs are stored as whole rows (winograd_output_rows); elsewhere with AVX-512 masked
// gathers through a table built once per block and used for every channel (winograd_taps), lane
// by lane without AVX-512 (AVX2's gather loses to scalar loads on Zen 1); four whole tiles side
// by side are stored (and, for the gradient, read) through SSE transposes.
#pragma once

#include <oneclass/core/intrinsics.hpp>
#include <oneclass/ops/conv.hpp>
#include <oneclass/simd/simd.hpp>

#include <tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace oneclass::ops {

/// Whether the Winograd path applies to this convolution (3x3, stride 1, padding <= 2, and input
/// and output tensors under 2^31 values, less a few rows: the tile gathers use 32-bit offsets,
/// also for the taps of border tiles that fall a few rows past the tensor and are masked off).
inline bool winograd_applies(const conv_shape& g) {
    const std::size_t limit = (std::size_t(1) << 31) - 8 * (g.W + g.Q() + 8);
    return g.R == 3 && g.S == 3 && g.stride == 1 && g.pad <= 2 && g.N * g.C * g.H * g.W < limit &&
           g.N * g.K * g.P() * g.Q() < limit;
}

/// Whether the float weight gradient runs with output channels in the lanes (AVX-512 builds, up to
/// 128 x 128 channels; see conv2d_backward_weights_winograd).
constexpr bool winograd_channel_lanes(std::size_t C, std::size_t K) {
#if defined(__AVX512F__)
    return C * K <= 128 * 128;
#else
    (void)C, (void)K;
    return false;
#endif
}

namespace detail {

/// The transform matrices of F(M x M, 3 x 3): BT (a x a), G (a x 3), AT (M x a), a = M + 2.
template <std::size_t M>
struct winograd_matrices;

template <>
struct winograd_matrices<2> {
    static constexpr std::size_t a = 4;
    static constexpr double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};

template <>
struct winograd_matrices<4> {  // interpolation points 0, 1, -1, 2, -2
    static constexpr std::size_t a = 6;
    static constexpr double BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                        {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    static constexpr double G[6][3] = {{1.0 / 4, 0, 0},
                                       {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                       {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                       {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                       {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                       {0, 0, 1}};
    static constexpr double AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

/// F(4x4)'s B^T and A^T have hand-factored forms (winograd_apply_f4, below), which share the sums
/// and differences of symmetric pairs of rows (d1 +- d2, d3 +- d4): 14 operations per lane for B^T
/// instead of 22, 10 for A^T instead of 18 (forward and backward-data 4-8% faster). The lift's
/// factored form was measured slower in the weight gradient (its rows are far apart) and is not used.
template <const auto& L>
inline constexpr bool winograd_factored = false;
template <const auto& L, std::size_t NB, class T, class In, class Out>
void winograd_apply_f4(In&& in, Out&& out);

/// acc + c v for a constant coefficient c, the first term of a sum taken as it is (0 + v is not
/// folded to v without -ffast-math: it would turn -0 into +0) and +-1 as an add or a subtract:
/// the transforms' coefficients are mostly 0 and +-1, so most of their arithmetic was these.
template <class T>
inline T winograd_term(T acc, double c, T v, bool& first) {
    if (first) {
        first = false;
        return c == 1 ? v : c == -1 ? -v : T(c) * v;
    }
    return c == 1 ? acc + v : c == -1 ? acc - v : acc + T(c) * v;
}

/// Y = L X R^T on NB lanes at once (one lane per tile), for the constant matrices L (P x Q) and
/// R (U x S): the loops unroll and the zero coefficients drop out at compile time (F(4x4)'s
/// matrices: their factored forms). x(q, s) and y(p, u) give a row of NB lanes of X (Q x S) and
/// Y (P x U). Every transform of this file is one of these: B^T d B, A^T m A, and the lift
/// (A^T)^T e A^T of the output gradient.
template <std::size_t P, std::size_t Q, std::size_t U, std::size_t S, const auto& L, const auto& R, std::size_t NB, class T,
          class In, class Out>
void winograd_sandwich(In&& x, Out&& y) {
    alignas(64) T z[P * S][NB];  // L X
    if constexpr (winograd_factored<L>) {
#pragma GCC unroll 8
        for (std::size_t s = 0; s < S; ++s)
            winograd_apply_f4<L, NB, T>([&](std::size_t q) -> const T* { return x(q, s); }, [&](std::size_t p) { return z[p * S + s]; });
    } else {
#pragma GCC unroll 8
        for (std::size_t p = 0; p < P; ++p)
#pragma GCC unroll 8
            for (std::size_t s = 0; s < S; ++s) {
                for (std::size_t l = 0; l < NB; ++l) {
                    T acc = 0;
                    bool first = true;
#pragma GCC unroll 8
                    for (std::size_t q = 0; q < Q; ++q)
                        if (L[p][q] != 0) acc = winograd_term<T>(acc, L[p][q], x(q, s)[l], first);
                    z[p * S + s][l] = acc;
                }
            }
    }
    if constexpr (winograd_factored<R>) {
#pragma GCC unroll 8
        for (std::size_t p = 0; p < P; ++p)
            winograd_apply_f4<R, NB, T>([&](std::size_t s) -> const T* { return z[p * S + s]; }, [&](std::size_t u) { return y(p, u); });
    } else {
#pragma GCC unroll 8
        for (std::size_t p = 0; p < P; ++p)
#pragma GCC unroll 8
            for (std::size_t u = 0; u < U; ++u) {
                T* out = y(p, u);
                for (std::size_t l = 0; l < NB; ++l) {
                    T acc = 0;
                    bool first = true;
#pragma GCC unroll 8
                    for (std::size_t s = 0; s < S; ++s)
                        if (R[u][s] != 0) acc = winograd_term<T>(acc, R[u][s], z[p * S + s][l], first);
                    out[l] = acc;
                }
            }
    }
}

/// (A^T)^T, a x M: lifts an M x M output-gradient tile to the a x a Winograd domain.
template <std::size_t M>
struct winograd_lift {
    static constexpr std::size_t a = winograd_matrices<M>::a;
    static constexpr auto A = [] {
        std::array<std::array<double, M>, a> t{};
        for (std::size_t i = 0; i < a; ++i)
            for (std::size_t j = 0; j < M; ++j) t[i][j] = winograd_matrices<M>::AT[j][i];
        return t;
    }();
};

/// Whether two constant matrices are the same object (by template argument identity: comparing
/// their addresses is not a constant expression under -fsanitize=address / undefined).
template <const auto& X, const auto& Y>
inline constexpr bool same_matrix = false;
template <const auto& X>
inline constexpr bool same_matrix<X, X> = true;
static_assert(same_matrix<winograd_matrices<4>::BT, winograd_matrices<4>::BT> && !same_matrix<winograd_matrices<4>::BT, winograd_matrices<4>::AT>);

/// F(4x4)'s B^T (6 x 6) and A^T (4 x 6), factored (see winograd_factored).
template <const auto& L, std::size_t NB, class T, class In, class Out>
void winograd_apply_f4(In&& in, Out&& out) {
    using W = winograd_matrices<4>;
    if constexpr (same_matrix<L, W::BT>) {
        const T *__restrict d0 = in(0), *__restrict d1 = in(1), *__restrict d2 = in(2), *__restrict d3 = in(3),
                *__restrict d4 = in(4), *__restrict d5 = in(5);
        T *__restrict t0 = out(0), *__restrict t1 = out(1), *__restrict t2 = out(2), *__restrict t3 = out(3),
          *__restrict t4 = out(4), *__restrict t5 = out(5);
ONECLASS_IVDEP
        for (std::size_t l = 0; l < NB; ++l) {
            const T s12 = d1[l] + d2[l], s34 = d3[l] + d4[l], m12 = d1[l] - d2[l], m43 = d4[l] - d3[l];
            const T m13 = d1[l] - d3[l], m42 = d4[l] - d2[l];
            t0[l] = T(4) * d0[l] + (d4[l] - T(5) * d2[l]);
            t1[l] = s34 - T(4) * s12;
            t2[l] = m43 + T(4) * m12;
            t3[l] = m42 - T(2) * m13;
            t4[l] = m42 + T(2) * m13;
            t5[l] = T(4) * d1[l] + (d5[l] - T(5) * d3[l]);
        }
    } else if constexpr (same_matrix<L, W::AT>) {
        const T *__restrict m0 = in(0), *__restrict m1 = in(1), *__restrict m2 = in(2), *__restrict m3 = in(3),
                *__restrict m4 = in(4), *__restrict m5 = in(5);
        T *__restrict o0 = out(0), *__restrict o1 = out(1), *__restrict o2 = out(2), *__restrict o3 = out(3);
ONECLASS_IVDEP
        for (std::size_t l = 0; l < NB; ++l) {
            const T s12 = m1[l] + m2[l], d12 = m1[l] - m2[l], s34 = m3[l] + m4[l], d34 = m3[l] - m4[l];
            o0[l] = m0[l] + s12 + s34;
            o1[l] = d12 + T(2) * d34;
            o2[l] = s12 + T(4) * s34;
            o3[l] = (d12 + T(8) * d34) + m5[l];
        }
    }
}

template <>
inline constexpr bool winograd_factored<winograd_matrices<4>::BT> = true;
template <>
inline constexpr bool winograd_factored<winograd_matrices<4>::AT> = true;

/// Tiles of a P x Q output: th x tw of M x M.
template <std::size_t M>
struct winograd_tiling {
    std::size_t th, tw;
    explicit winograd_tiling(const conv_shape& g) : th((g.P() + M - 1) / M), tw((g.Q() + M - 1) / M) {}
    std::size_t tiles() const { return th * tw; }
};

/// The stride between the a^2 planes of a Winograd-domain buffer of `rows` rows of ld values: one
/// cache line more than rows * ld. A transform writes (or reads) one row in each of the a^2 planes
/// per channel; when rows * ld floats are a multiple of 2-4 KB (16 channels and more at 32 tiles)
/// those a^2 rows all fell into one or two L1 sets and evicted each other (the 16-channel input
/// transform ran 20-25% faster with the extra line).
template <class T>
constexpr std::size_t winograd_plane(std::size_t rows, std::size_t ld) {
    return rows * ld + 64 / sizeof(T);
}

/// Into how many chunks of output-channel panels (of KB) a fused pass over `blocks` tile blocks
/// splits each block: with fewer blocks than twice the threads (small maps) the channels are
/// split too. The split changes who computes an output, never how.
inline std::size_t winograd_kchunks(std::size_t blocks, std::size_t KB) {
    const std::size_t threads = std::size_t(std::max(1, tbb::this_task_arena::max_concurrency()));
    return blocks >= 2 * threads || threads == 1 ? 1 : std::min(KB, (2 * threads + blocks - 1) / blocks);
}

/// Images per group: enough that a group's GEMMs see at least `min_cols` tile columns.
inline std::size_t winograd_group(std::size_t tiles, std::size_t N, std::size_t min_cols) {
    return std::clamp<std::size_t>((min_cols + tiles - 1) / tiles, 1, std::max<std::size_t>(N, 1));
}
}  // namespace detail

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

/// Where one tile of a block reads its input and writes its output.
template <std::size_t M>
struct winograd_lane {
    std::size_t in = 0, out = 0;  ///< offsets of image n's channel 0 in x, and of the tile's first output in y
    std::ptrdiff_t h0 = 0, w0 = 0;  ///< input coordinates of the tile's top-left tap (may lie in the padding)
    std::size_t rows = 0, cols = 0;  ///< output extent after cropping to P x Q; rows == 0: no tile (block tail)
    // without a vector gather (simd::vector_gather), taps are read lane by lane:
    bool inside = false;  ///< the whole a x a input tile lies inside the image
    std::int32_t tap[(M + 2) * (M + 2)] = {};  ///< tiles that touch the padding: h W + w of each tap, -1 in the padding
};

/// A block's gather table for E taps per tile: idx[e][l], the offset of lane l's tap e from the
/// start of channel plane 0 of the tensor (the lane's image included), and mask[e][v], the lanes
/// of vector v whose tap lies inside the image (the rest read 0: padding, cropped or missing
/// tiles). Built once per block, used for every channel: offsets are 32-bit, so winograd_applies
/// requires tensors under 2^31 values. Only for vector gathers (simd::vector_gather): grid()
/// leaves the offsets of masked-off lanes unspecified.
template <std::size_t E, std::size_t NB, class T>
struct winograd_taps {
    static constexpr std::size_t W = simd::width<T>, NV = NB / W;
    static_assert(NB <= 64, "lane masks are 64-bit");
    alignas(64) std::int32_t idx[E][NB];
    std::uint32_t mask[E][NV];

    void set(std::size_t e, std::size_t l, bool inside, std::size_t offset) {
        idx[e][l] = inside ? std::int32_t(offset) : 0;
        if (inside) mask[e][l / W] |= std::uint32_t(1) << (l % W);
    }
    /// Taps on a rows x cols grid (e = i cols + j): idx = base[l] + i stride + j, inside where lane
    /// l's bit is set in both rowok[i] and colok[j]. One vector add per tap instead of a bounds
    /// check per lane and tap (the table cost as much as the gathers at 16 channels).
    void grid(const std::int32_t* base, const std::uint64_t* rowok, const std::uint64_t* colok, std::size_t rows,
              std::size_t cols, std::int32_t stride) {
        for (std::size_t i = 0; i < rows; ++i)
            for (std::size_t j = 0; j < cols; ++j) {
                const std::size_t e = i * cols + j;
                const std::int32_t off = std::int32_t(i) * stride + std::int32_t(j);
                for (std::size_t l = 0; l < NB; ++l) idx[e][l] = base[l] + off;
                const std::uint64_t m = rowok[i] & colok[j];
                for (std::size_t v = 0; v < NV; ++v) mask[e][v] = std::uint32_t((m >> (v * W)) & ((std::uint64_t(1) << W) - 1));
            }
    }
    /// dst[e][0..NB) = the taps of plane `base` (64-byte aligned rows of NB)
    template <std::size_t LD>
    void gather(const T* base, T (*dst)[LD]) const {
#pragma GCC unroll 8
        for (std::size_t e = 0; e < E; ++e)
#pragma GCC unroll 4
            for (std::size_t v = 0; v < NV; ++v) simd::masked_gather(base, idx[e] + v * W, mask[e][v], dst[e] + v * W);
    }
};

template <std::size_t M, class T>
void winograd_lanes(const conv_shape& g, const winograd_tiling<M>& tl, std::size_t first, std::size_t end, std::size_t nb,
                    winograd_lane<M>* lanes) {
    constexpr std::size_t A = M + 2;
    const std::size_t tiles = tl.tiles(), total = std::min(end, g.N * tiles), P = g.P(), Q = g.Q();
    for (std::size_t l = 0; l < nb; ++l) {
        winograd_lane<M>& L = lanes[l];
        L = winograd_lane<M>{};
        const std::size_t t = first + l;
        if (t >= total) continue;
        const std::size_t n = t / tiles, ta = (t % tiles) / tl.tw, tb = (t % tiles) % tl.tw;
        L.in = n * g.C * g.H * g.W;
        L.out = n * g.K * P * Q + M * ta * Q + M * tb;
        L.h0 = std::ptrdiff_t(M * ta) - std::ptrdiff_t(g.pad);
        L.w0 = std::ptrdiff_t(M * tb) - std::ptrdiff_t(g.pad);
        L.rows = std::min(M, P - M * ta);
        L.cols = std::min(M, Q - M * tb);
        if constexpr (simd::vector_gather<T>) continue;  // the block's winograd_taps replace these
        L.inside = L.h0 >= 0 && L.w0 >= 0 && L.h0 + std::ptrdiff_t(A) <= std::ptrdiff_t(g.H) &&
                   L.w0 + std::ptrdiff_t(A) <= std::ptrdiff_t(g.W);
        if (L.inside) continue;
        for (std::size_t i = 0; i < A; ++i)
            for (std::size_t j = 0; j < A; ++j) {
                const std::ptrdiff_t h = L.h0 + std::ptrdiff_t(i), w = L.w0 + std::ptrdiff_t(j);
                const bool in = h >= 0 && h < std::ptrdiff_t(g.H) && w >= 0 && w < std::ptrdiff_t(g.W);
                L.tap[i * A + j] = in ? std::int32_t(h * std::ptrdiff_t(g.W) + w) : -1;
            }
    }
}

/// The A x A input taps of the block's tiles (lanes with in, h0, w0, rows: winograd_lane or
/// F_s2's winograd_s2_lane), zero in the padding and for empty lanes.
template <std::size_t A, std::size_t NB, class T, class Lane>
void winograd_patch_taps(const conv_shape& g, const Lane* lanes, winograd_taps<A * A, NB, T>& tp) {
    alignas(64) std::int32_t base[NB];
    std::uint64_t rowok[A] = {}, colok[A] = {};
    const std::ptrdiff_t H = std::ptrdiff_t(g.H), Wd = std::ptrdiff_t(g.W);
    for (std::size_t l = 0; l < NB; ++l) {
        const Lane& L = lanes[l];
        base[l] = std::int32_t(std::ptrdiff_t(L.in) + L.h0 * Wd + L.w0);  // may be negative: only taps inside are read
        if (L.rows == 0) continue;
        for (std::size_t i = 0; i < A; ++i) {
            const std::ptrdiff_t h = L.h0 + std::ptrdiff_t(i), w = L.w0 + std::ptrdiff_t(i);
            if (h >= 0 && h < H) rowok[i] |= std::uint64_t(1) << l;
            if (w >= 0 && w < Wd) colok[i] |= std::uint64_t(1) << l;
        }
    }
    tp.grid(base, rowok, colok, A, A, std::int32_t(Wd));
}

/// The a x a input taps of the block's tiles, zero in the padding.
template <std::size_t M, std::size_t NB, class T>
void winograd_input_taps(const conv_shape& g, const winograd_lane<M>* lanes, winograd_taps<(M + 2) * (M + 2), NB, T>& tp) {
    winograd_patch_taps<M + 2, NB>(g, lanes, tp);
}

/// The M x M output taps of the block's tiles (relative to output channel 0), zero beyond P x Q.
template <std::size_t M, std::size_t NB, class T>
void winograd_output_taps(const conv_shape& g, const winograd_lane<M>* lanes, winograd_taps<M * M, NB, T>& tp) {
    alignas(64) std::int32_t base[NB];
    std::uint64_t rowok[M] = {}, colok[M] = {};
    for (std::size_t l = 0; l < NB; ++l) {
        const winograd_lane<M>& L = lanes[l];
        base[l] = std::int32_t(L.out);
        for (std::size_t i = 0; i < M; ++i) {
            if (i < L.rows) rowok[i] |= std::uint64_t(1) << l;
            if (i < L.cols) colok[i] |= std::uint64_t(1) << l;
        }
    }
    tp.grid(base, rowok, colok, M, M, std::int32_t(g.Q()));
}

/// Bit q: lanes 4q..4q+3 are four tiles side by side in one tile row of one image (input side;
/// they may touch the padding). For the lane-by-lane gather without a vector gather (x86, float).
template <std::size_t M, std::size_t NB, class T>
std::uint32_t winograd_input_quads(const winograd_lane<M>* lanes) {
    std::uint32_t quads = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && !simd::vector_gather<T>)
        for (std::size_t l = 0; l + 4 <= NB; l += 4) {
            bool ok = true;
            for (std::size_t j = 0; j < 4; ++j)
                ok = ok && lanes[l + j].rows > 0 && lanes[l + j].in == lanes[l].in && lanes[l + j].h0 == lanes[l].h0 &&
                     lanes[l + j].w0 == lanes[l].w0 + std::ptrdiff_t(j * M);
            if (ok) quads |= std::uint32_t(1) << (l / 4);
        }
#endif
    return quads;
}

#if defined(__SSE2__)
/// d[i A + j][l..l+3] = the a x a input taps of four tiles side by side (lanes l..l+3) whose first
/// tile's top-left tap is (h0, w0) of plane xc: each input row's 4 M + 2 values are read once
/// (copied with zeros where they cross the padding) and spread over the lanes by SSE transposes
/// (F4: two 4 x 4 transposes per row, F2: even / odd shuffles) instead of 36 scalar loads and
/// stores per tile.
template <std::size_t M, std::size_t NB>
inline void winograd_gather_quad(const float* xc, std::ptrdiff_t h0, std::ptrdiff_t w0, std::ptrdiff_t H, std::ptrdiff_t Wd,
                                 float (*d)[NB], std::size_t l) {
    constexpr std::size_t A = M + 2, span = 3 * M + A;
    const bool inside_cols = w0 >= 0 && w0 + std::ptrdiff_t(span) <= Wd;
    alignas(16) float buf[span];
    for (std::size_t i = 0; i < A; ++i) {
        const std::ptrdiff_t h = h0 + std::ptrdiff_t(i);
        if (h < 0 || h >= H) {
            for (std::size_t j = 0; j < A; ++j) _mm_storeu_ps(d[i * A + j] + l, _mm_setzero_ps());
            continue;
        }
        const float* row = xc + h * Wd;
#if defined(__AVX__)
        // the row's 4 M + 2 values straight into vectors; one that crosses the padding is a
        // masked load (its lanes off the row are neither read nor faulted on). The bounded copy
        // into buf (below, without AVX) compiled to 8-wide masked loads and stores that the
        // vector loads then re-read: in the AVX2 build the hottest spot of the input transform
        (void)buf, (void)inside_cols;
        const auto part = [&](std::ptrdiff_t k) -> __m128 {
            const std::ptrdiff_t w = w0 + k;
            if (w >= 0 && w + 4 <= Wd) return _mm_loadu_ps(row + w);
            const __m128i i = _mm_add_epi32(_mm_set1_epi32(int(w)), _mm_setr_epi32(0, 1, 2, 3));
            const __m128i in = _mm_andnot_si128(_mm_cmpgt_epi32(_mm_setzero_si128(), i), _mm_cmpgt_epi32(_mm_set1_epi32(int(Wd)), i));
            return _mm_maskload_ps(row + w, in);
        };
        const auto at = [&](std::ptrdiff_t k) {
            const std::ptrdiff_t w = w0 + k;
            return w >= 0 && w < Wd ? row[w] : 0.0f;
        };
#else
        if (!inside_cols)  // a plain bounded loop: measured faster here than a copy of the inside range
            for (std::size_t k = 0; k < span; ++k) {
                const std::ptrdiff_t w = w0 + std::ptrdiff_t(k);
                buf[k] = w >= 0 && w < Wd ? row[w] : 0.0f;
            }
        const float* src = inside_cols ? row + w0 : buf;
        const auto part = [src](std::ptrdiff_t k) { return _mm_loadu_ps(src + k); };
        const auto at = [src](std::ptrdiff_t k) { return src[k]; };
#endif
        if constexpr (M == 4) {
            __m128 r0 = part(0), r1 = part(4), r2 = part(8), r3 = part(12);
            __m128 q0 = r1, q1 = r2, q2 = r3, q3 = _mm_setr_ps(at(16), at(17), 0.0f, 0.0f);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r_j = taps j of the four tiles
            _MM_TRANSPOSE4_PS(q0, q1, q2, q3);  // q_0, q_1 = taps 4, 5
            _mm_storeu_ps(d[i * A + 0] + l, r0), _mm_storeu_ps(d[i * A + 1] + l, r1);
            _mm_storeu_ps(d[i * A + 2] + l, r2), _mm_storeu_ps(d[i * A + 3] + l, r3);
            _mm_storeu_ps(d[i * A + 4] + l, q0), _mm_storeu_ps(d[i * A + 5] + l, q1);
        } else {
            (void)at;
            const __m128 a = part(0), b = part(4), a2 = part(2), b2 = part(6);
            _mm_storeu_ps(d[i * A + 0] + l, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm_storeu_ps(d[i * A + 1] + l, _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
            _mm_storeu_ps(d[i * A + 2] + l, _mm_shuffle_ps(a2, b2, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm_storeu_ps(d[i * A + 3] + l, _mm_shuffle_ps(a2, b2, _MM_SHUFFLE(3, 1, 3, 1)));
        }
    }
}
#else
template <std::size_t M, std::size_t NB>
inline void winograd_gather_quad(const float*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, float (*)[NB],
                                 std::size_t) {}
#endif

/// V[xi plane + c ld][l] = (B^T d B)[xi] for the block's NB tiles d (lane l) (plane: winograd_plane); the taps
/// come from tp where the vector gather is one instruction, lane by lane otherwise.
/// Whether the input transform reads its taps by rows (winograd_input_rows) instead of gathers:
/// AVX-512 float blocks of 32 tiles over maps of exactly 8 tiles per row at most 32 columns wide
/// (32 x 32 maps with F(4x4), 16 x 16 with F(2x2)) or 4 tiles per row at most 16 wide (16 x 16
/// with F(4x4), 8 x 8 with F(2x2)).
template <std::size_t M, class T, std::size_t NB>
bool winograd_rows_apply(const conv_shape& g) {
    if (!(simd::vector_gather<T> && std::is_same_v<T, float> && NB == 32 && simd::width<T> == 16)) return false;
    const std::size_t tw = (g.Q() + M - 1) / M;
    return (tw == 8 && g.W <= 32) || (tw == 4 && g.W <= 16);
}

#if defined(__AVX512F__)
/// d[e][0..32) = the a x a taps of a block's 32 tiles for one channel plane, when
/// winograd_rows_apply. Each group of 8 lanes is one tile row of 8 tiles or two of 4, and the two
/// sources of a permute hold the group's input row (two vectors, up to 32 columns) or its two
/// input rows (one vector each, up to 16 columns); a tap's 8 lanes are one masked two-source
/// permute of them, two groups are blended into a vector. 2 a^2 gathers per channel become
/// 2 a^2 (2 permutes + a blend) from 4 a row loads; the lanes get the same values (zero in the
/// padding and for missing tiles), and transform() applies B^T d B to them in registers.
/// S2: the 5 x 5 patches of the stride-2 algorithm (ops/winograd_s2.hpp), 4 apart as F(4x4)'s
/// (M = 4), with its B^T; tiles_per_row then gives the tile grid (0: F(M x M)'s over the output).
template <std::size_t M, bool S2 = false>
struct winograd_input_rows {
    static constexpr std::size_t A = S2 ? 5 : M + 2;
    __m512i idx[A];
    __mmask16 cols[A];
    std::size_t tq, in[8] = {};  // tiles per row; per tile row of the block: image offset in x,
    std::ptrdiff_t h0[8] = {};    // first input row (may lie in the padding),
    bool ok[8] = {};              // and whether the tile row exists (not past the last tile)
    __mmask16 load0, load1;

    template <class Lane>
    winograd_input_rows(const conv_shape& g, const Lane* lanes, std::size_t tiles_per_row = 0)
        : tq(tiles_per_row ? tiles_per_row : (g.Q() + M - 1) / M) {
        const std::ptrdiff_t Wd = std::ptrdiff_t(g.W), w0 = lanes[0].w0;  // lane 0 is always a tile, at column 0
        for (std::size_t t = 0; t < 32 / tq; ++t) {
            const Lane& L = lanes[t * tq];
            ok[t] = L.rows > 0, in[t] = L.in, h0[t] = L.h0;
        }
        for (std::size_t j = 0; j < A; ++j) {
            alignas(64) std::int32_t id[16];
            std::uint32_t m = 0;
            for (std::size_t l = 0; l < 16; ++l) {
                const std::size_t sub = (l % 8) / tq, tc = l % tq;  // which of the group's rows, which tile
                const std::ptrdiff_t col = w0 + std::ptrdiff_t(M * tc + j);
                const bool in_row = col >= 0 && col < Wd;
                id[l] = in_row ? std::int32_t(sub * 16 + std::size_t(col)) : 0;
                if (in_row) m |= 1u << l;
            }
            idx[j] = _mm512_load_si512(id);
            cols[j] = __mmask16(m);
        }
        load0 = __mmask16(g.W >= 16 ? 0xFFFFu : (1u << g.W) - 1u);
        load1 = __mmask16(g.W > 16 ? (1u << (g.W - 16)) - 1u : 0u);
    }

    /// Row i of tile row t's taps, columns [16 half, 16 half + 16), zero outside the plane.
    __m512 row(const float* x, std::size_t c, std::size_t HW, std::size_t H, std::size_t Wd, std::size_t t, std::size_t i,
               std::size_t half) const {
        const std::ptrdiff_t h = h0[t] + std::ptrdiff_t(i);
        if (!ok[t] || h < 0 || h >= std::ptrdiff_t(H)) return _mm512_setzero_ps();
        return _mm512_maskz_loadu_ps(half ? load1 : load0, x + in[t] + c * HW + std::size_t(h) * Wd + 16 * half);
    }

    /// B^T d B on registers: one row or column of a x a taps (rows of 16 lanes) to its transform.
    static void bt(const __m512 (&d)[A], __m512 (&t)[A]) {
        if constexpr (S2) {  // rows {0 1 0 0 0}, {0 0 0 1 0}, {1 0 -1 0 0}, {0 0 1 0 0}, {0 0 -1 0 1}
            t[0] = d[1];
            t[1] = d[3];
            t[2] = _mm512_sub_ps(d[0], d[2]);
            t[3] = d[2];
            t[4] = _mm512_sub_ps(d[4], d[2]);
        } else if constexpr (M == 4) {  // the factored form of winograd_apply_f4
            const __m512 s12 = _mm512_add_ps(d[1], d[2]), s34 = _mm512_add_ps(d[3], d[4]);
            const __m512 m12 = _mm512_sub_ps(d[1], d[2]), m43 = _mm512_sub_ps(d[4], d[3]);
            const __m512 m13 = _mm512_sub_ps(d[1], d[3]), m42 = _mm512_sub_ps(d[4], d[2]);
            const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
            t[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
            t[1] = _mm512_fnmadd_ps(four, s12, s34);
            t[2] = _mm512_fmadd_ps(four, m12, m43);
            t[3] = _mm512_fnmadd_ps(two, m13, m42);
            t[4] = _mm512_fmadd_ps(two, m13, m42);
            t[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
        } else {  // F(2x2): rows {1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}
            t[0] = _mm512_sub_ps(d[0], d[2]);
            t[1] = _mm512_add_ps(d[1], d[2]);
            t[2] = _mm512_sub_ps(d[2], d[1]);
            t[3] = _mm512_sub_ps(d[1], d[3]);
        }
    }

    /// V[(r a + s) plane + c ld][0..32) = (B^T d B)[r][s] of channel c's 32 tiles straight from the loaded
    /// rows: each input row's a taps are permuted out into registers and transformed along the
    /// row (d B), the a rows' results are staged once in L1, then transformed down the columns
    /// (B^T .). Against taps() + winograd_sandwich this skips the store and reload of the taps
    /// (the store port bounded the input transform); the rounding differs from the column-first
    /// sandwich only in the order of the two passes.
    void transform(const float* x, std::size_t c, std::size_t HW, std::size_t H, std::size_t Wd, float* V, std::size_t plane,
                   std::size_t ld) const {
        alignas(64) float z[A][A][16];
        for (std::size_t v = 0; v < 2; ++v) {
            for (std::size_t i = 0; i < A; ++i) {
                __m512 a[2], b[2];
                for (std::size_t s = 0; s < 2; ++s) {
                    const std::size_t grp = 2 * v + s;
                    if (tq == 8) {
                        a[s] = row(x, c, HW, H, Wd, grp, i, 0);
                        b[s] = row(x, c, HW, H, Wd, grp, i, 1);
                    } else {
                        a[s] = row(x, c, HW, H, Wd, 2 * grp, i, 0);
                        b[s] = row(x, c, HW, H, Wd, 2 * grp + 1, i, 0);
                    }
                }
                __m512 d[A], t[A];
#pragma GCC unroll 8
                for (std::size_t j = 0; j < A; ++j) {
                    const __m512 lo = _mm512_maskz_permutex2var_ps(__mmask16(cols[j] & 0x00FFu), a[0], idx[j], b[0]);
                    const __m512 hi = _mm512_maskz_permutex2var_ps(__mmask16(cols[j] & 0xFF00u), a[1], idx[j], b[1]);
                    d[j] = _mm512_mask_mov_ps(lo, __mmask16(0xFF00u), hi);
                }
                bt(d, t);
#pragma GCC unroll 8
                for (std::size_t u = 0; u < A; ++u) _mm512_store_ps(z[i][u], t[u]);
            }
#pragma GCC unroll 8
            for (std::size_t u = 0; u < A; ++u) {
                __m512 d[A], t[A];
#pragma GCC unroll 8
                for (std::size_t i = 0; i < A; ++i) d[i] = _mm512_load_ps(z[i][u]);
                bt(d, t);
#pragma GCC unroll 8
                for (std::size_t r = 0; r < A; ++r) _mm512_store_ps(V + (r * A + u) * plane + c * ld + 16 * v, t[r]);
            }
        }
    }
};
#endif

template <std::size_t M, std::size_t NB, class T>
void winograd_input_block(const T* x, const conv_shape& g, const winograd_lane<M>* lanes,
                          const winograd_taps<(M + 2) * (M + 2), NB, T>& tp, T* V, std::size_t plane, std::size_t ld) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    const std::size_t C = g.C, Wd = g.W, HW = g.H * Wd;
    alignas(64) T d[A * A][NB];  // gathered taps, one lane per tile
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && NB == 32) {
        if (winograd_rows_apply<M, T, NB>(g)) {
            const winograd_input_rows<M> rows(g, lanes);
            for (std::size_t c = 0; c < C; ++c) rows.transform(x, c, HW, g.H, Wd, V, plane, ld);
            return;
        }
    }
#endif
    const std::uint32_t quads = winograd_input_quads<M, NB, T>(lanes);
    for (std::size_t c = 0; c < C; ++c) {
        if constexpr (simd::vector_gather<T>) {
            tp.gather(x + c * HW, d);
        } else {
            for (std::size_t l = 0; l < NB; ++l) {
                const winograd_lane<M>& L = lanes[l];
                if ((quads >> (l / 4)) & 1) {
                    if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4))
                        winograd_gather_quad<M, NB>(x + L.in + c * HW, L.h0, L.w0, std::ptrdiff_t(g.H), std::ptrdiff_t(Wd), d, l);
                    l += 3;
                } else if (L.rows == 0) {
                    for (std::size_t e = 0; e < A * A; ++e) d[e][l] = T(0);
                } else if (L.inside) {
                    const T* p = x + L.in + c * HW + std::size_t(L.h0) * Wd + std::size_t(L.w0);
#pragma GCC unroll 8
                    for (std::size_t i = 0; i < A; ++i)
#pragma GCC unroll 8
                        for (std::size_t j = 0; j < A; ++j) d[i * A + j][l] = p[i * Wd + j];
                } else {  // branch-free: a tap in the padding loads the plane's first element and drops it
                    const T* xc = x + L.in + c * HW;
                    // unrolled whole: left a loop, GCC vectorised it into AVX2 gathers of 8 taps
#pragma GCC unroll 36
                    for (std::size_t e = 0; e < A * A; ++e) {
                        const std::int32_t o = L.tap[e];
                        const T v = xc[std::max<std::int32_t>(o, 0)];
                        d[e][l] = o >= 0 ? v : T(0);
                    }
                }
            }
        }
        winograd_sandwich<A, A, A, A, W::BT, W::BT, NB, T>([&](std::size_t q, std::size_t j) { return d[q * A + j]; },
                                                          [&](std::size_t r, std::size_t s) { return V + (r * A + s) * plane + c * ld; });
    }
}

#if defined(__SSE2__)
inline constexpr bool winograd_quad_stores = true;
/// The M output rows of lanes l..l+3, four whole tiles side by side: row rp of the four is 4 M
/// contiguous values at dst + rp Q, the transpose of o[rp M + qp][l..l+3].
template <std::size_t M, std::size_t NB>
inline void winograd_store_quad(const float (*o)[NB], std::size_t l, float* dst, std::size_t Q, bool accumulate) {
    const auto put = [&](float* p, __m128 v) { _mm_storeu_ps(p, accumulate ? _mm_add_ps(_mm_loadu_ps(p), v) : v); };
    for (std::size_t rp = 0; rp < M; ++rp) {
        float* row = dst + rp * Q;
        if constexpr (M == 4) {
            __m128 r0 = _mm_loadu_ps(o[rp * 4 + 0] + l), r1 = _mm_loadu_ps(o[rp * 4 + 1] + l);
            __m128 r2 = _mm_loadu_ps(o[rp * 4 + 2] + l), r3 = _mm_loadu_ps(o[rp * 4 + 3] + l);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            put(row, r0), put(row + 4, r1), put(row + 8, r2), put(row + 12, r3);
        } else {
            const __m128 a = _mm_loadu_ps(o[rp * 2 + 0] + l), b = _mm_loadu_ps(o[rp * 2 + 1] + l);
            put(row, _mm_unpacklo_ps(a, b)), put(row + 4, _mm_unpackhi_ps(a, b));
        }
    }
}
/// The inverse: e[rp M + qp][l..l+3] = the four tiles' values, read row by row from src.
template <std::size_t M, std::size_t NB>
inline void winograd_load_quad(const float* src, std::size_t Q, float (*e)[NB], std::size_t l) {
    for (std::size_t rp = 0; rp < M; ++rp) {
        const float* row = src + rp * Q;
        if constexpr (M == 4) {
            __m128 r0 = _mm_loadu_ps(row), r1 = _mm_loadu_ps(row + 4), r2 = _mm_loadu_ps(row + 8), r3 = _mm_loadu_ps(row + 12);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(e[rp * 4 + 0] + l, r0), _mm_storeu_ps(e[rp * 4 + 1] + l, r1);
            _mm_storeu_ps(e[rp * 4 + 2] + l, r2), _mm_storeu_ps(e[rp * 4 + 3] + l, r3);
        } else {
            const __m128 a = _mm_loadu_ps(row), b = _mm_loadu_ps(row + 4);  // tiles l, l+1 | l+2, l+3
            _mm_storeu_ps(e[rp * 2 + 0] + l, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm_storeu_ps(e[rp * 2 + 1] + l, _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
        }
    }
}
#else
inline constexpr bool winograd_quad_stores = false;
template <std::size_t M, std::size_t NB>
inline void winograd_store_quad(const float (*)[NB], std::size_t, float*, std::size_t, bool) {}
template <std::size_t M, std::size_t NB>
inline void winograd_load_quad(const float*, std::size_t, float (*)[NB], std::size_t) {}
#endif

/// Bit q: lanes 4q..4q+3 are four whole tiles side by side in one tile row (float, x86 only).
template <std::size_t M, std::size_t NB, class T>
std::uint32_t winograd_quads(const winograd_lane<M>* lanes) {
    std::uint32_t quads = 0;
    if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && winograd_quad_stores)
        for (std::size_t l = 0; l + 4 <= NB; l += 4) {
            bool ok = true;
            for (std::size_t j = 0; j < 4; ++j)
                ok = ok && lanes[l + j].rows == M && lanes[l + j].cols == M && lanes[l + j].out == lanes[l].out + j * M;
            if (ok) quads |= std::uint32_t(1) << (l / 4);
        }
    return quads;
}

#if defined(__AVX512F__)
/// Whether a block of 32 lanes is whole tile rows for the output transforms in registers: maps of
/// exactly 8 or 4 tiles of M x M per row, every lane a whole tile, each run of tq lanes one tile
/// row (consecutive tiles of one image); then tq and each tile row's first output offset in y.
template <std::size_t M>
bool winograd_whole_rows(const conv_shape& g, const winograd_lane<M>* lanes, std::size_t& tq, std::size_t (&out)[8]) {
    const std::size_t Q = g.Q();
    tq = (Q + M - 1) / M;
    if (!((tq == 8 || tq == 4) && Q == tq * M) || g.P() % M != 0) return false;
    for (std::size_t t = 0; t < 32 / tq; ++t) {
        const winograd_lane<M>& L0 = lanes[t * tq];
        if (L0.rows != M || L0.w0 != lanes[0].w0) return false;
        for (std::size_t j = 1; j < tq; ++j)
            if (lanes[t * tq + j].rows != M || lanes[t * tq + j].out != L0.out + M * j) return false;
        out[t] = L0.out;
    }
    return true;
}

/// F(4x4)'s output transform in registers, for blocks of 32 whole tiles in whole tile rows of 8
/// (32 x 32 maps) or 4 (16 x 16 maps), AVX-512 float: per output channel and 16 lanes, A^T down
/// the columns of m (6 rows of loads to 4 rows in registers), A^T along the rows, then an in-lane
/// 4 x 4 transpose and 128-bit block shuffles turn the 4 column vectors of an output row into the
/// tiles' contiguous output rows, stored whole. Against winograd_sandwich (which stages L m and
/// the result in L1) and the 4 x 4 SSE transposes of winograd_store_quad, no value goes through
/// memory between the products and y.
struct winograd_output_rows {
    std::size_t tq;              // tiles per row: 8 or 4
    std::size_t out[8] = {};     // offset in y of each tile row's first output (channel 0)

    static void at(const __m512 (&m)[6], __m512 (&o)[4]) {  // the factored A^T of winograd_apply_f4
        const __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
        const __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
        o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
        o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12);
        o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, s12);
        o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, d12), m[5]);
    }

    void store(float* d, __m512 v, bool accumulate) const {
        _mm512_storeu_ps(d, accumulate ? _mm512_add_ps(v, _mm512_loadu_ps(d)) : v);
    }

    /// y (+)= A^T m A for output channels [k0, k1): m[xi] = Mb[xi plane + k 32 .. + 32).
    void apply(const float* Mb, std::size_t plane, std::size_t k0, std::size_t k1, std::size_t Q, std::size_t PQ, float* y,
               bool accumulate) const {
        for (std::size_t k = k0; k < k1; ++k)
            for (std::size_t v = 0; v < 2; ++v) {
                const float* src = Mb + k * 32 + 16 * v;
                __m512 z[4][6];  // A^T m, down the columns
#pragma GCC unroll 6
                for (std::size_t s = 0; s < 6; ++s) {
                    __m512 m[6], o[4];
#pragma GCC unroll 6
                    for (std::size_t r = 0; r < 6; ++r) m[r] = _mm512_load_ps(src + (r * 6 + s) * plane);
                    at(m, o);
#pragma GCC unroll 4
                    for (std::size_t p = 0; p < 4; ++p) z[p][s] = o[p];
                }
#pragma GCC unroll 4
                for (std::size_t p = 0; p < 4; ++p) {
                    __m512 o[4];
                    at(z[p], o);  // row p of the 16 tiles' outputs, one vector per column
                    // in each 128-bit lane j, T_c = tile 4 j + c's four values of this row
                    const __m512 a01 = _mm512_unpacklo_ps(o[0], o[1]), b01 = _mm512_unpackhi_ps(o[0], o[1]);
                    const __m512 a23 = _mm512_unpacklo_ps(o[2], o[3]), b23 = _mm512_unpackhi_ps(o[2], o[3]);
                    const __m512 t0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a01), _mm512_castps_pd(a23)));
                    const __m512 t1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a01), _mm512_castps_pd(a23)));
                    const __m512 t2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(b01), _mm512_castps_pd(b23)));
                    const __m512 t3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(b01), _mm512_castps_pd(b23)));
                    // tiles 4 j .. 4 j + 3 side by side: lane j of t0, t1, t2, t3
                    const __m512 p01 = _mm512_shuffle_f32x4(t0, t1, 0x44), q23 = _mm512_shuffle_f32x4(t2, t3, 0x44);  // lanes 0, 1
                    const __m512 p01h = _mm512_shuffle_f32x4(t0, t1, 0xEE), q23h = _mm512_shuffle_f32x4(t2, t3, 0xEE);  // lanes 2, 3
                    const __m512 r0 = _mm512_shuffle_f32x4(p01, q23, 0x88), r1 = _mm512_shuffle_f32x4(p01, q23, 0xDD);
                    const __m512 r2 = _mm512_shuffle_f32x4(p01h, q23h, 0x88), r3 = _mm512_shuffle_f32x4(p01h, q23h, 0xDD);
                    // r_j: the 16 outputs of tiles 4 j .. 4 j + 3 (16 v + ...) in row p
                    float* base = y + k * PQ + p * Q;
                    if (tq == 8) {  // two tile rows of 8 per vector: r0 r1 one row, r2 r3 the next
                        store(base + out[2 * v], r0, accumulate), store(base + out[2 * v] + 16, r1, accumulate);
                        store(base + out[2 * v + 1], r2, accumulate), store(base + out[2 * v + 1] + 16, r3, accumulate);
                    } else {  // four tile rows of 4
                        store(base + out[4 * v], r0, accumulate), store(base + out[4 * v + 1], r1, accumulate);
                        store(base + out[4 * v + 2], r2, accumulate), store(base + out[4 * v + 3], r3, accumulate);
                    }
                }
            }
    }
};

/// The same for F(2x2) on 16 x 16 and 8 x 8 maps (tile rows of 8 or 4 tiles of 2 x 2 outputs):
/// A^T down the columns and along the rows in registers, then one two-source permute interleaves
/// the two column vectors of an output row into whole tile rows (16 or 8 values).
struct winograd_output_rows2 {
    std::size_t tq;
    std::size_t out[8] = {};

    static void at(const __m512 (&m)[4], __m512 (&o)[2]) {  // A^T = {1, 1, 1, 0}, {0, 1, -1, -1}
        o[0] = _mm512_add_ps(_mm512_add_ps(m[0], m[1]), m[2]);
        o[1] = _mm512_sub_ps(_mm512_sub_ps(m[1], m[2]), m[3]);
    }

    void apply(const float* Mb, std::size_t plane, std::size_t k0, std::size_t k1, std::size_t Q, std::size_t PQ, float* y,
               bool accumulate) const {
        const __m512i lo = simd::detail::zip_lo_index(), hi = simd::detail::zip_hi_index();
        const auto store16 = [&](float* d, __m512 v) { _mm512_storeu_ps(d, accumulate ? _mm512_add_ps(v, _mm512_loadu_ps(d)) : v); };
        const auto store8 = [&](float* d, __m256 v) { _mm256_storeu_ps(d, accumulate ? _mm256_add_ps(v, _mm256_loadu_ps(d)) : v); };
        const auto half = [](__m512 v, int h) {
            return h == 0 ? _mm512_castps512_ps256(v) : _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        };
        for (std::size_t k = k0; k < k1; ++k)
            for (std::size_t v = 0; v < 2; ++v) {
                const float* src = Mb + k * 32 + 16 * v;
                __m512 z[2][4];
#pragma GCC unroll 4
                for (std::size_t s = 0; s < 4; ++s) {
                    __m512 m[4], o[2];
#pragma GCC unroll 4
                    for (std::size_t r = 0; r < 4; ++r) m[r] = _mm512_load_ps(src + (r * 4 + s) * plane);
                    at(m, o);
                    z[0][s] = o[0], z[1][s] = o[1];
                }
#pragma GCC unroll 2
                for (std::size_t p = 0; p < 2; ++p) {
                    __m512 o[2];
                    at(z[p], o);
                    const __m512 a = _mm512_permutex2var_ps(o[0], lo, o[1]), b = _mm512_permutex2var_ps(o[0], hi, o[1]);
                    float* base = y + k * PQ + p * Q;
                    if (tq == 8) {  // lanes 0-7 / 8-15: tile rows 2 v, 2 v + 1
                        store16(base + out[2 * v], a), store16(base + out[2 * v + 1], b);
                    } else {  // lanes 4 j .. 4 j + 3: tile row 4 v + j
                        store8(base + out[4 * v], half(a, 0)), store8(base + out[4 * v + 1], half(a, 1));
                        store8(base + out[4 * v + 2], half(b, 0)), store8(base + out[4 * v + 3], half(b, 1));
                    }
                }
            }
    }
};
#endif

/// y (+)= A^T m A for output channels [k0, k1) of the block's tiles, m[xi] = Mb[xi][k][0..NB),
/// cropped to P x Q. (AVX-512's masked scatter was measured slower here than these stores.) AT:
/// the M x A output transform of another algorithm with M x M output tiles (the stride-2
/// Winograd's backward-data pass, ops/winograd_s2.hpp).
template <std::size_t M, std::size_t NB, class T, std::size_t A = M + 2, const auto& AT = winograd_matrices<M>::AT>
void winograd_output_block(const T* Mb, std::size_t plane, const conv_shape& g, const winograd_lane<M>* lanes, std::size_t k0,
                           std::size_t k1, T* y, bool accumulate) {
    const std::size_t Q = g.Q(), PQ = g.P() * Q;
#if defined(__AVX512F__)
    if constexpr (same_matrix<AT, winograd_matrices<M>::AT> && M == 4 && NB == 32 && std::is_same_v<T, float>) {
        winograd_output_rows rows;
        if (winograd_whole_rows<4>(g, lanes, rows.tq, rows.out)) return rows.apply(Mb, plane, k0, k1, Q, PQ, y, accumulate);
    }
    if constexpr (same_matrix<AT, winograd_matrices<M>::AT> && M == 2 && NB == 32 && std::is_same_v<T, float>) {
        winograd_output_rows2 rows;
        if (winograd_whole_rows<2>(g, lanes, rows.tq, rows.out)) return rows.apply(Mb, plane, k0, k1, Q, PQ, y, accumulate);
    }
#endif
    alignas(64) T o[M * M][NB];  // A^T m A
    // groups of 4 lanes that are 4 whole tiles side by side in one tile row: their M output rows
    // are 4 M contiguous values each, stored from a 4 x 4 (or 2 x 4) transpose instead of value by
    // value (float, x86)
    const std::uint32_t quads = winograd_quads<M, NB, T>(lanes);
    for (std::size_t k = k0; k < k1; ++k) {
        winograd_sandwich<M, A, M, A, AT, AT, NB, T>(
            [&](std::size_t r, std::size_t s) { return Mb + (r * A + s) * plane + k * NB; },
            [&](std::size_t rp, std::size_t qp) { return o[rp * M + qp]; });
        for (std::size_t l = 0; l < NB; ++l) {
            if ((quads >> (l / 4)) & 1) {
                if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && winograd_quad_stores)
                    winograd_store_quad<M, NB>(o, l, y + lanes[l].out + k * PQ, Q, accumulate);
                l += 3;
                continue;
            }
            const winograd_lane<M>& L = lanes[l];
            if (L.rows == 0) continue;
            T* dst = y + L.out + k * PQ;
            if (L.rows == M && L.cols == M) {
#pragma GCC unroll 4
                for (std::size_t rp = 0; rp < M; ++rp)
#pragma GCC unroll 4
                    for (std::size_t qp = 0; qp < M; ++qp) {
                        if (accumulate) dst[rp * Q + qp] += o[rp * M + qp][l];
                        else dst[rp * Q + qp] = o[rp * M + qp][l];
                    }
            } else {
                for (std::size_t rp = 0; rp < L.rows; ++rp)
                    for (std::size_t qp = 0; qp < L.cols; ++qp) {
                        if (accumulate) dst[rp * Q + qp] += o[rp * M + qp][l];
                        else dst[rp * Q + qp] = o[rp * M + qp][l];
                    }
            }
        }
    }
}

/// E[xi][k][l] = (A e A^T)[xi] for the block's M x M output-gradient tiles e (zero beyond P x Q),
/// at row stride ld: the gradient lifted to the a x a Winograd domain (taps as in the input block).
template <std::size_t M, std::size_t NB, class T>
void winograd_gradient_block(const T* dy, const conv_shape& g, const winograd_lane<M>* lanes, const winograd_taps<M * M, NB, T>& tp,
                             T* E, std::size_t plane, std::size_t ld) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    const std::size_t K = g.K, Q = g.Q(), PQ = g.P() * Q;
    alignas(64) T e[M * M][NB];  // gathered gradient tiles, one lane per tile
    // whole tiles side by side are read row-wise and transposed (winograd_load_quad); with a
    // vector gather, only when every lane of the block is in such a quad
    const std::uint32_t quads = winograd_quads<M, NB, T>(lanes);
    const bool all_quads = quads == (NB / 4 >= 32 ? ~0u : (std::uint32_t(1) << (NB / 4)) - 1);
    for (std::size_t k = 0; k < K; ++k) {
        if (simd::vector_gather<T> && !all_quads) {
            tp.gather(dy + k * PQ, e);
        } else {
            for (std::size_t l = 0; l < NB; ++l) {
                if ((quads >> (l / 4)) & 1) {
                    if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && winograd_quad_stores)
                        winograd_load_quad<M, NB>(dy + lanes[l].out + k * PQ, Q, e, l);
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
// dU[xi] = E[xi] V[xi]^T sums over the tiles, which are the lanes of both V and E. OpenBLAS ran
// these a^2 small products (16-128 channels by 64-128 tiles) at 70-100 GFLOP/s. With the output
// gradient lifted with 16 output channels in the lanes instead, E'[xi][t][k] (four whole tiles
// side by side: their rows transposed in registers; other tiles: one gather per tap), dU[xi]^T = V[xi] E'[xi] is an outer-product sum: a broadcast of V[c][t] times a vector of
// E' per step, MR x NV accumulators held over all tiles, no packing and no horizontal sums
// (small.layer1's products 0.48 -> 0.25 ms; the lift costs about 10% more than lanes of tiles).

/// E'[(r a + s) plane + t ldk + k] = (A e A^T)[r][s] of tile `first + t` of the batch (t < nt)
/// for output channels k < K (zero up to the next multiple of 16, <= ldk): the output-gradient
/// tiles e, zero beyond P x Q, gathered 16 channels at a time. A and L: the lift (a x M) of
/// another algorithm on the same M x M output tiles (ops/winograd_s2.hpp).
template <std::size_t M, std::size_t A = M + 2, const auto& L = winograd_lift<M>::A>
void winograd_gradient_channels(const float* dy, const conv_shape& g, const winograd_tiling<M>& tl, std::size_t first,
                                std::size_t nt, float* Ep, std::size_t plane, std::size_t ldk) {
    const std::size_t K = g.K, Kp = (K + 15) / 16 * 16, P = g.P(), Q = g.Q(), PQ = P * Q, tiles = tl.tiles();
    alignas(64) std::int32_t idx[16];
    for (std::size_t l = 0; l < 16; ++l) idx[l] = std::int32_t(l * PQ);
    const __m512i vi = _mm512_load_si512(idx);
    // y[i] = sum_j L[i][j] x[j] in registers; the zero and unit coefficients fold away
    const auto lift = [](const __m512 (&x)[M], __m512 (&y)[A]) {
#pragma GCC unroll 6
        for (std::size_t i = 0; i < A; ++i) {
            __m512 acc = _mm512_setzero_ps();
            bool any = false;
#pragma GCC unroll 4
            for (std::size_t j = 0; j < M; ++j) {
                const float c = float(L[i][j]);
                if (c == 0) continue;
                acc = !any ? (c == 1 ? x[j] : _mm512_mul_ps(_mm512_set1_ps(c), x[j]))
                           : (c == 1 ? _mm512_add_ps(acc, x[j]) : c == -1 ? _mm512_sub_ps(acc, x[j]) : _mm512_fmadd_ps(_mm512_set1_ps(c), x[j], acc));
                any = true;
            }
            y[i] = acc;
        }
    };
    // the lift of tap rows x[rp][qp] (16 channels each) of tile t into E'
    const auto lift_tile = [&](const __m512 (&x)[M][M], std::size_t t, std::size_t k0) {
        __m512 z[A][M];  // the lift down the columns
#pragma GCC unroll 4
        for (std::size_t qp = 0; qp < M; ++qp) {
            __m512 c[M], y[A];
#pragma GCC unroll 4
            for (std::size_t rp = 0; rp < M; ++rp) c[rp] = x[rp][qp];
            lift(c, y);
#pragma GCC unroll 6
            for (std::size_t r = 0; r < A; ++r) z[r][qp] = y[r];
        }
#pragma GCC unroll 6
        for (std::size_t r = 0; r < A; ++r) {  // and along the rows, stored
            __m512 y[A];
            lift(z[r], y);
#pragma GCC unroll 6
            for (std::size_t s2 = 0; s2 < A; ++s2) _mm512_store_ps(Ep + (r * A + s2) * plane + t * ldk + k0, y[s2]);
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
                        __m512 r[16];
#pragma GCC unroll 16
                        for (std::size_t i = 0; i < 16; ++i)
                            r[i] = k0 + i < K ? _mm512_loadu_ps(base + (k0 + i) * PQ + rp * Q) : _mm512_setzero_ps();
                        simd::transpose16(r);  // r[4 tile + qp][channel]
#pragma GCC unroll 16
                        for (std::size_t j = 0; j < 16; ++j) _mm512_store_ps(e[j / 4][rp][j % 4], r[j]);
                    }
                    for (std::size_t q = 0; q < 4; ++q) {
                        __m512 x[M][M];
#pragma GCC unroll 4
                        for (std::size_t rp = 0; rp < 4; ++rp)
#pragma GCC unroll 4
                            for (std::size_t qp = 0; qp < 4; ++qp) x[rp][qp] = _mm512_load_ps(e[q][rp][qp]);
                        lift_tile(x, t + q, k0);
                    }
                }
                t += 3;
                continue;
            }
        }
        for (std::size_t k0 = 0; k0 < Kp; k0 += 16) {
            const __mmask16 lanes = __mmask16(K - k0 >= 16 ? 0xFFFFu : (1u << (K - k0)) - 1u);
            const float* b = base + k0 * PQ;
            __m512 x[M][M];
#pragma GCC unroll 4
            for (std::size_t rp = 0; rp < M; ++rp)
#pragma GCC unroll 4
                for (std::size_t qp = 0; qp < M; ++qp)
                    x[rp][qp] = rp < rows && qp < cols ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, vi, b + rp * Q + qp, 4)
                                                       : _mm512_setzero_ps();
            lift_tile(x, t, k0);
        }
    }
}

/// out[i][k] (+)= sum_{t < nt} v[i LD + t] e[t ldk + k], for rows < MR of v and 16 NV columns k
/// (`cols` of them stored), MR x NV accumulators; LD != 0 fixes v's row stride at compile time
/// (runtime ld otherwise): the MR row addresses then need no registers of their own.
template <std::size_t MR, std::size_t NV, std::size_t LD>
void winograd_channel_kernel(const float* v, std::size_t ld, const float* e, std::size_t ldk, std::size_t nt, float* out,
                             std::size_t ldo, std::size_t rows, std::size_t cols, bool first) {
    if constexpr (LD != 0) ld = LD;
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (std::size_t j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
    for (std::size_t t = 0; t < nt; ++t) {
        __m512 ev[NV];
#pragma GCC unroll 2
        for (std::size_t j = 0; j < NV; ++j) ev[j] = _mm512_load_ps(e + t * ldk + 16 * j);
#pragma GCC unroll 16
        for (std::size_t i = 0; i < MR; ++i) {
            const __m512 b = _mm512_set1_ps(v[std::min(i, rows - 1) * ld + t]);
#pragma GCC unroll 2
            for (std::size_t j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(b, ev[j], acc[i][j]);
        }
    }
    for (std::size_t i = 0; i < std::min(MR, rows); ++i)
        for (std::size_t j = 0; j < NV && 16 * j < cols; ++j) {
            const __mmask16 m = __mmask16(cols - 16 * j >= 16 ? 0xFFFFu : (1u << (cols - 16 * j)) - 1u);
            float* d = out + i * ldo + 16 * j;
            _mm512_mask_storeu_ps(d, m, first ? acc[i][j] : _mm512_add_ps(acc[i][j], _mm512_maskz_loadu_ps(m, d)));
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
                winograd_channel_kernel<8, 2, LD>(v + c0 * ld, ld, e + k0, ldk, nt, d + c0 * K + k0, K, std::min<std::size_t>(8, C - c0),
                                                  std::min<std::size_t>(32, K - k0), first);
        if (k0 < Kp)
            for (std::size_t c0 = 0; c0 < C; c0 += 16)
                winograd_channel_kernel<16, 1, LD>(v + c0 * ld, ld, e + k0, ldk, nt, d + c0 * K + k0, K,
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
                winograd_channel_kernel<8, 2, LD>(V + xi * vplane + c0 * ld, ld, Ep + xi * eplane + k0, ldk, nt, &blk[xi][0][0], 32, cn, kn,
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

/// y = conv(x, w) (+= into y when accumulate) for 3x3 stride-1 convolutions with any padding,
/// by F(M x M, 3 x 3), M = 2 or 4, fused per block of tiles (see above). `transposed_filter`:
/// w is the C x K filter of the convolution this one transposes (backward data).
template <std::size_t M = 2, class T>
void conv2d_winograd(const T* x, const T* w, const conv_shape& g, T* y, bool accumulate, bool transposed_filter = false) {
    constexpr std::size_t A = detail::winograd_matrices<M>::a, A2 = A * A;
    constexpr std::size_t MR = detail::winograd_mr, NB = simd::width<T> * detail::winograd_nv;
    const detail::winograd_tiling<M> tl(g);
    const std::size_t K = g.K, C = g.C, KB = (K + MR - 1) / MR;
    const std::size_t blocks = (g.N * tl.tiles() + NB - 1) / NB;
    // the packed filter transform is shared by the workers; it lives in the calling thread's
    // scratch, so that the steady state does not fault in tens of fresh megabytes per call
    struct filter_scratch {
        scratch_vec<T> Up;
    };
    scratch_vec<T>& Up = thread_scratch<filter_scratch>().Up;
    Up.resize(A2 * KB * C * MR);
    {
        ONECLASS_PROFILE_SCOPE("winograd.filter");
        detail::winograd_filter_pack<M, MR>(w, K, C, transposed_filter, Up.data());
    }
    const std::size_t kchunks = detail::winograd_kchunks(blocks, KB);
    struct scratch {
        scratch_vec<T> V, Mb;
    };
    const std::size_t vplane = detail::winograd_plane<T>(C, NB), mplane = detail::winograd_plane<T>(K, NB);
    parallel::for_chunks(0, blocks * kchunks, 1, [&](std::size_t lo, std::size_t hi) {
        scratch& sc = thread_scratch<scratch>();  // kept between calls, never zero-filled
        sc.V.resize(A2 * vplane);
        sc.Mb.resize(A2 * mplane);
        detail::winograd_lane<M> lanes[NB];
        detail::winograd_taps<A2, NB, T> taps;
        for (std::size_t unit = lo; unit < hi; ++unit) {
            ONECLASS_PROFILE_SCOPE("winograd.block");  // transforms + products of one block of tiles
            const std::size_t b = unit / kchunks, kc = unit % kchunks;
            const std::size_t kb0 = KB * kc / kchunks, kb1 = KB * (kc + 1) / kchunks;
            detail::winograd_lanes<M, T>(g, tl, b * NB, g.N * tl.tiles(), NB, lanes);
            {
                ONECLASS_PROFILE_SCOPE("winograd.input");
                if constexpr (simd::vector_gather<T>)
                    if (!detail::winograd_rows_apply<M, T, NB>(g)) detail::winograd_input_taps<M, NB>(g, lanes, taps);
                detail::winograd_input_block<M, NB>(x, g, lanes, taps, sc.V.data(), vplane, NB);
            }
            {
                ONECLASS_PROFILE_SCOPE("winograd.gemm");
                for (std::size_t xi = 0; xi < A2; ++xi)
                    for (std::size_t kb = kb0; kb < kb1; ++kb)
                        detail::winograd_kernel<MR, detail::winograd_nv>(Up.data() + (xi * KB + kb) * C * MR,
                                                                         sc.V.data() + xi * vplane, C,
                                                                         sc.Mb.data() + xi * mplane + kb * MR * NB,
                                                                         std::min(MR, K - kb * MR));
            }
            ONECLASS_PROFILE_SCOPE("winograd.output");
            detail::winograd_output_block<M, NB>(sc.Mb.data(), mplane, g, lanes, kb0 * MR, std::min(K, kb1 * MR), y, accumulate);
        }
    });
}

/// dx += conv_transpose(dy, w) (accumulate = false: dx = ...) for 3x3 stride-1 convolutions: a
/// Winograd convolution of dy with w'[c][k] = rot180(w[k][c]) and padding 2 - pad (the filter is
/// read transposed in place).
template <std::size_t M = 2, class T>
void conv2d_backward_data_winograd(const T* dy, const T* w, const conv_shape& g, T* dx, bool accumulate = true) {
    const conv_shape gt{g.N, g.K, g.P(), g.Q(), g.C, 3, 3, 1, 2 - g.pad};
    conv2d_winograd<M, T>(dy, w, gt, dx, accumulate, true);
}

namespace detail {
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
/// dU[k][c] (+)= sum_t E[k][t] V[c][t] for an MR x NR block (rows ldu apart): MR NR vector
/// partial sums along the tiles t (8 at a time; n a multiple of 8), each reduced to a scalar once
/// at the end, in a fixed order.
template <std::size_t MR, std::size_t NR>
inline void wgrad_nt_block(const float* E, const float* V, std::size_t ld, std::size_t n, float* dU, std::size_t ldu, bool first) {
    __m256 acc[MR][NR];
    for (auto& row : acc)
        for (auto& a : row) a = _mm256_setzero_ps();
    for (std::size_t t = 0; t < n; t += 8) {
        __m256 v[NR];
        for (std::size_t j = 0; j < NR; ++j) v[j] = _mm256_loadu_ps(V + j * ld + t);
        for (std::size_t i = 0; i < MR; ++i) {
            const __m256 e = _mm256_loadu_ps(E + i * ld + t);
            for (std::size_t j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(e, v[j], acc[i][j]);
        }
    }
    if constexpr (MR == 4 && NR == 2) {
        // the 8 sums at once (a transpose by horizontal adds): [k0c0 k0c1 k1c0 k1c1 | k2c0 ... k3c1]
        const __m256 z = _mm256_hadd_ps(_mm256_hadd_ps(acc[0][0], acc[0][1]), _mm256_hadd_ps(acc[1][0], acc[1][1]));
        const __m256 w = _mm256_hadd_ps(_mm256_hadd_ps(acc[2][0], acc[2][1]), _mm256_hadd_ps(acc[3][0], acc[3][1]));
        const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(z, w, 0x20), _mm256_permute2f128_ps(z, w, 0x31));
        alignas(32) float out[8];
        _mm256_store_ps(out, sums);
        for (std::size_t i = 0; i < 4; ++i)
            for (std::size_t j = 0; j < 2; ++j) {
                float& d = dU[i * ldu + j];
                d = first ? out[2 * i + j] : d + out[2 * i + j];
            }
        return;
    }
    for (std::size_t i = 0; i < MR; ++i)
        for (std::size_t j = 0; j < NR; ++j) {  // the tail blocks: one sum at a time
            const float s = simd::lanes_sum(simd::batch<float>(acc[i][j]));
            float& d = dU[i * ldu + j];
            d = first ? s : d + s;
        }
}

/// Whether the weight gradient's products take wgrad_products_nt instead of OpenBLAS: up to
/// 32 x 32 channels. bench_conv (AVX2, one thread, batch 32, ms, min of 12): small.layer1 (16
/// channels) 2.05 -> 1.78, small.layer2 (32) 1.18 -> 1.10; on 64 and 128 channels OpenBLAS's
/// blocked product won (small.layer3 1.08 against 1.16, layer4 1.03 against 1.16).
constexpr bool wgrad_products_own(std::size_t C, std::size_t K) { return C * K <= 32 * 32; }

/// dU (K x C, row-major) (+)= E V^T with E: K x n and V: C x n (rows ld apart, n a multiple of
/// 8): the weight gradient's per-frequency products on few channels without OpenBLAS, whose
/// packing of both operands and per-call cost outweighed products this small (16 x 16 x 128).
/// Blocks of 4 x 2 outputs: 8 accumulators, 6 loads per 8 FMAs.
inline void wgrad_products_nt(const float* E, const float* V, std::size_t K, std::size_t C, std::size_t ld, std::size_t n,
                              float* dU, bool first) {
    std::size_t k = 0;
    const auto row = [&](auto mr) {
        constexpr std::size_t MR = decltype(mr)::value;
        std::size_t c = 0;
        for (; c + 2 <= C; c += 2) wgrad_nt_block<MR, 2>(E + k * ld, V + c * ld, ld, n, dU + k * C + c, C, first);
        if (c < C) wgrad_nt_block<MR, 1>(E + k * ld, V + c * ld, ld, n, dU + k * C + c, C, first);
        k += MR;
    };
    while (k + 4 <= K) row(std::integral_constant<std::size_t, 4>{});
    if (K - k == 3) row(std::integral_constant<std::size_t, 3>{});
    else if (K - k == 2) row(std::integral_constant<std::size_t, 2>{});
    else if (K - k == 1) row(std::integral_constant<std::size_t, 1>{});
}
#endif

/// The image groups and buffer layout of a Winograd weight gradient, shared by F(m x m) and
/// F_s2(2x2) (ops/winograd_s2.hpp), for `tiles` tiles per image.
template <class T>
struct winograd_wgrad_plan {
    std::size_t N, C, K, KC, tiles, G, groups, slots, ldk;
    bool channel_lanes;
    winograd_wgrad_plan(const conv_shape& g, std::size_t tiles_per_image) : N(g.N), C(g.C), K(g.K), KC(g.K * g.C), tiles(tiles_per_image) {
        // groups of >= 64 tiles on small maps (under 64 tiles per image) of up to 128 x 128
        // channels: the batch then makes several groups, which the slots run in parallel
        // (measured: the small ResNet's 64- and 128-channel layers 6-22% faster on 2 threads,
        // equal or better on 1, ResNet-18's 128-channel layer2 10% faster on 1); >= 128 tiles elsewhere
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
                    wgrad_products_nt(E + xi * eplane(ld), V + xi * vplane(ld), K, C, ld, ld, dU + xi * KC, first);
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
            // products and G^T dU G in one pass: small.layer4 (32 tiles, 128 channels) 0.69 -> 0.5
            // ms. Kept to what was measured, from 64 output channels (its blocks of 32 are half
            // empty on 16) and up to 64 tiles (each block reads all of E'); the same fusion per
            // image group into per-slot partial filters was no faster on small.layer3 and slower
            // on ResNet-18's layer2 (7.5 -> 8.5 ms), so several groups keep the separate passes
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
/// (padded with zero tiles to whole blocks; smaller groups keep V and E nearer the cache: 128
/// measured 5-15% faster than 512).
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
