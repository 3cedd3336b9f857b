// oneclass/ops/winograd/tiles.hpp - moving tiles in and out of the Winograd domain: the lanes of a
// block, gather tables, input tiles (gathered, as whole rows, or as quads of whole tiles), and
// the output transform back to y (whole rows, quads or lane by lane).
#pragma once

#include <oneclass/ops/winograd/kernel.hpp>
#include <oneclass/simd/sse.hpp>

namespace oneclass::ops {

namespace detail {

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
                        simd::sse::gather_quad<M, NB>(x + L.in + c * HW, L.h0, L.w0, std::ptrdiff_t(g.H), std::ptrdiff_t(Wd), d, l);
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


/// Bit q: lanes 4q..4q+3 are four whole tiles side by side in one tile row (float, x86 only).
template <std::size_t M, std::size_t NB, class T>
std::uint32_t winograd_quads(const winograd_lane<M>* lanes) {
    std::uint32_t quads = 0;
    if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && simd::sse::quad_stores)
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
/// the result in L1) and the 4 x 4 SSE transposes of simd::sse::store_quad, no value goes through
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
                if constexpr (std::is_same_v<T, float> && (M == 2 || M == 4) && simd::sse::quad_stores)
                    simd::sse::store_quad<M, NB>(o, l, y + lanes[l].out + k * PQ, Q, accumulate);
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

}  // namespace detail

}  // namespace oneclass::ops
