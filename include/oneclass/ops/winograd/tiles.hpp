// oneclass/ops/winograd/tiles.hpp - moving tiles in and out of the Winograd domain: the lanes of a
// block, gather tables, input tiles (gathered, as whole rows, or as quads of whole tiles), and
// the output transform back to y (whole rows, quads or lane by lane).
#pragma once

#include <oneclass/ops/winograd/kernel.hpp>
#include <oneclass/simd/avx512.hpp>
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
    using vf = simd::batch<float>;
    static constexpr std::size_t A = S2 ? 5 : M + 2;
    simd::avx512::pair_permute taps[A];  // tap j's 16 lanes from a pair of groups' rows
    std::size_t tq, in[8] = {};  // tiles per row; per tile row of the block: image offset in x,
    std::ptrdiff_t h0[8] = {};    // first input row (may lie in the padding),
    bool ok[8] = {};              // and whether the tile row exists (not past the last tile)
    std::uint32_t load0, load1;

    template <class Lane>
    winograd_input_rows(const conv_shape& g, const Lane* lanes, std::size_t tiles_per_row = 0)
        : tq(tiles_per_row ? tiles_per_row : (g.Q() + M - 1) / M) {
        const std::ptrdiff_t Wd = std::ptrdiff_t(g.W), w0 = lanes[0].w0;  // lane 0 is always a tile, at column 0
        for (std::size_t t = 0; t < 32 / tq; ++t) {
            const Lane& L = lanes[t * tq];
            ok[t] = L.rows > 0, in[t] = L.in, h0[t] = L.h0;
        }
        for (std::size_t j = 0; j < A; ++j) {
            std::int32_t id[16];
            std::uint32_t m = 0;
            for (std::size_t l = 0; l < 16; ++l) {
                const std::size_t sub = (l % 8) / tq, tc = l % tq;  // which of the group's rows, which tile
                const std::ptrdiff_t col = w0 + std::ptrdiff_t(M * tc + j);
                const bool in_row = col >= 0 && col < Wd;
                id[l] = in_row ? std::int32_t(sub * 16 + std::size_t(col)) : 0;
                if (in_row) m |= 1u << l;
            }
            taps[j] = simd::avx512::pair_permute(id, m);
        }
        load0 = g.W >= 16 ? 0xFFFFu : (1u << g.W) - 1u;
        load1 = g.W > 16 ? (1u << (g.W - 16)) - 1u : 0u;
    }

    /// Row i of tile row t's taps, columns [16 half, 16 half + 16), zero outside the plane.
    vf row(const float* x, std::size_t c, std::size_t HW, std::size_t H, std::size_t Wd, std::size_t t, std::size_t i,
           std::size_t half) const {
        const std::ptrdiff_t h = h0[t] + std::ptrdiff_t(i);
        if (!ok[t] || h < 0 || h >= std::ptrdiff_t(H)) return vf(0.0f);
        return simd::avx512::load_masked(x + in[t] + c * HW + std::size_t(h) * Wd + 16 * half, half ? load1 : load0);
    }

    /// B^T d B on registers: one row or column of a x a taps (rows of 16 lanes) to its transform.
    static void bt(const vf (&d)[A], vf (&t)[A]) {
        if constexpr (S2) {  // rows {0 1 0 0 0}, {0 0 0 1 0}, {1 0 -1 0 0}, {0 0 1 0 0}, {0 0 -1 0 1}
            t[0] = d[1];
            t[1] = d[3];
            t[2] = d[0] - d[2];
            t[3] = d[2];
            t[4] = d[4] - d[2];
        } else if constexpr (M == 4) {  // the factored form of winograd_apply_f4
            const vf s12 = d[1] + d[2], s34 = d[3] + d[4];
            const vf m12 = d[1] - d[2], m43 = d[4] - d[3];
            const vf m13 = d[1] - d[3], m42 = d[4] - d[2];
            const vf four(4.0f), five(5.0f), two(2.0f);
            t[0] = xsimd::fma(four, d[0], xsimd::fnma(five, d[2], d[4]));
            t[1] = xsimd::fnma(four, s12, s34);
            t[2] = xsimd::fma(four, m12, m43);
            t[3] = xsimd::fnma(two, m13, m42);
            t[4] = xsimd::fma(two, m13, m42);
            t[5] = xsimd::fma(four, d[1], xsimd::fnma(five, d[3], d[5]));
        } else {  // F(2x2): rows {1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}
            t[0] = d[0] - d[2];
            t[1] = d[1] + d[2];
            t[2] = d[2] - d[1];
            t[3] = d[1] - d[3];
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
                vf a[2], b[2];
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
                vf d[A], t[A];
#pragma GCC unroll 8
                for (std::size_t j = 0; j < A; ++j) d[j] = taps[j](a[0], b[0], a[1], b[1]);
                bt(d, t);
#pragma GCC unroll 8
                for (std::size_t u = 0; u < A; ++u) t[u].store_aligned(z[i][u]);
            }
#pragma GCC unroll 8
            for (std::size_t u = 0; u < A; ++u) {
                vf d[A], t[A];
#pragma GCC unroll 8
                for (std::size_t i = 0; i < A; ++i) d[i] = vf::load_aligned(z[i][u]);
                bt(d, t);
#pragma GCC unroll 8
                for (std::size_t r = 0; r < A; ++r) t[r].store_aligned(V + (r * A + u) * plane + c * ld + 16 * v);
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
    using vf = simd::batch<float>;
    std::size_t tq;              // tiles per row: 8 or 4
    std::size_t out[8] = {};     // offset in y of each tile row's first output (channel 0)

    static void at(const vf (&m)[6], vf (&o)[4]) {  // the factored A^T of winograd_apply_f4
        const vf s12 = m[1] + m[2], d12 = m[1] - m[2];
        const vf s34 = m[3] + m[4], d34 = m[3] - m[4];
        o[0] = (m[0] + s12) + s34;
        o[1] = xsimd::fma(vf(2.0f), d34, d12);
        o[2] = xsimd::fma(vf(4.0f), s34, s12);
        o[3] = xsimd::fma(vf(8.0f), d34, d12) + m[5];
    }

    static void store(float* d, const vf& v, bool accumulate) {
        (accumulate ? v + vf::load_unaligned(d) : v).store_unaligned(d);
    }

    /// y (+)= A^T m A for output channels [k0, k1): m[xi] = Mb[xi plane + k 32 .. + 32).
    void apply(const float* Mb, std::size_t plane, std::size_t k0, std::size_t k1, std::size_t Q, std::size_t PQ, float* y,
               bool accumulate) const {
        for (std::size_t k = k0; k < k1; ++k)
            for (std::size_t v = 0; v < 2; ++v) {
                const float* src = Mb + k * 32 + 16 * v;
                vf z[4][6];  // A^T m, down the columns
#pragma GCC unroll 6
                for (std::size_t s = 0; s < 6; ++s) {
                    vf m[6], o[4];
#pragma GCC unroll 6
                    for (std::size_t r = 0; r < 6; ++r) m[r] = vf::load_aligned(src + (r * 6 + s) * plane);
                    at(m, o);
#pragma GCC unroll 4
                    for (std::size_t p = 0; p < 4; ++p) z[p][s] = o[p];
                }
#pragma GCC unroll 4
                for (std::size_t p = 0; p < 4; ++p) {
                    vf o[4], r[4];
                    at(z[p], o);  // row p of the 16 tiles' outputs, one vector per column
                    simd::avx512::transpose4x16(o, r);  // r[j]: the 16 outputs of tiles 4 j .. 4 j + 3 in row p
                    float* base = y + k * PQ + p * Q;
                    if (tq == 8) {  // two tile rows of 8 per vector: r0 r1 one row, r2 r3 the next
                        store(base + out[2 * v], r[0], accumulate), store(base + out[2 * v] + 16, r[1], accumulate);
                        store(base + out[2 * v + 1], r[2], accumulate), store(base + out[2 * v + 1] + 16, r[3], accumulate);
                    } else {  // four tile rows of 4
                        store(base + out[4 * v], r[0], accumulate), store(base + out[4 * v + 1], r[1], accumulate);
                        store(base + out[4 * v + 2], r[2], accumulate), store(base + out[4 * v + 3], r[3], accumulate);
                    }
                }
            }
    }
};

/// The same for F(2x2) on 16 x 16 and 8 x 8 maps (tile rows of 8 or 4 tiles of 2 x 2 outputs):
/// A^T down the columns and along the rows in registers, then one two-source permute interleaves
/// the two column vectors of an output row into whole tile rows (16 or 8 values).
struct winograd_output_rows2 {
    using vf = simd::batch<float>;
    std::size_t tq;
    std::size_t out[8] = {};

    static void at(const vf (&m)[4], vf (&o)[2]) {  // A^T = {1, 1, 1, 0}, {0, 1, -1, -1}
        o[0] = (m[0] + m[1]) + m[2];
        o[1] = (m[1] - m[2]) - m[3];
    }

    void apply(const float* Mb, std::size_t plane, std::size_t k0, std::size_t k1, std::size_t Q, std::size_t PQ, float* y,
               bool accumulate) const {
        for (std::size_t k = k0; k < k1; ++k)
            for (std::size_t v = 0; v < 2; ++v) {
                const float* src = Mb + k * 32 + 16 * v;
                vf z[2][4];
#pragma GCC unroll 4
                for (std::size_t s = 0; s < 4; ++s) {
                    vf m[4], o[2];
#pragma GCC unroll 4
                    for (std::size_t r = 0; r < 4; ++r) m[r] = vf::load_aligned(src + (r * 4 + s) * plane);
                    at(m, o);
                    z[0][s] = o[0], z[1][s] = o[1];
                }
#pragma GCC unroll 2
                for (std::size_t p = 0; p < 2; ++p) {
                    vf o[2], a, b;
                    at(z[p], o);
                    simd::avx512::interleave(o[0], o[1], a, b);
                    float* base = y + k * PQ + p * Q;
                    if (tq == 8) {  // lanes 0-7 / 8-15: tile rows 2 v, 2 v + 1
                        winograd_output_rows::store(base + out[2 * v], a, accumulate);
                        winograd_output_rows::store(base + out[2 * v + 1], b, accumulate);
                    } else {  // lanes 4 j .. 4 j + 3: tile row 4 v + j
                        simd::avx512::store_halves(base + out[4 * v], base + out[4 * v + 1], a, accumulate);
                        simd::avx512::store_halves(base + out[4 * v + 2], base + out[4 * v + 3], b, accumulate);
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
