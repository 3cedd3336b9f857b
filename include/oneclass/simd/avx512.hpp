// oneclass/simd/avx512.hpp - kernels written in AVX-512 intrinsics (float), for the loops whose
// shape xsimd's portable batches cannot express (two-source permutes, masked loads, 128-bit lane
// shuffles). Empty below AVX-512; callers pick them under `#if defined(__AVX512F__)`, with a
// scalar or AVX2 twin beside them that the tests compare against.
#pragma once

#include <oneclass/simd/simd.hpp>

#include <cstddef>
#include <algorithm>
#include <cstdint>

namespace oneclass::simd::avx512 {

#if defined(__AVX512F__)
/// col2im of the stride-2 layers of a ResNet (3 x 3 padding 1, or 1 x 1 when one_by_one) for C
/// channels of H x W = 2P x 2Q, 16 output positions (p, q) of a channel at a time, across output
/// rows: the small maps of late stages have rows of only 4-8 outputs, too short to fill a vector
/// row by row. Each vector of positions gives the four phases of dx (even / odd rows and columns)
/// as sums of taps, the shifted taps (q + 1, p + 1) by masked loads (the lanes past the row or map
/// end are masked, so nothing past the tensor is read), with the scalar loop's rounding order;
/// two-source permutes interleave the columns, and the rows are stored whole. dx = (accumulate: +=).
/// P Q % 16 == 0 with Q = 4, Q = 8 or Q % 16 == 0.
inline void col2im_stride2(const float* col, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t Q,
                           bool one_by_one, float* dx, std::size_t ld, bool accumulate) {
    const std::size_t PQ = P * Q;
    const __m512i lo = detail::zip_lo_index(), hi = detail::zip_hi_index();
    // lanes whose position q + 1 is still in the row (Q <= 16: the same pattern in every vector)
    std::uint32_t qmask = 0xFFFFu;
    if (Q <= 16)
        for (std::size_t l = Q - 1; l < 16; l += Q) qmask &= ~(1u << l);
    // dx rows from a vector's interleaved phases: e0 / e1 the even rows' first / second 16
    // values (positions 0-7 / 8-15 of the vector), o0 / o1 the odd rows'
    const auto store = [&](float* d, __m512 v) {
        _mm512_storeu_ps(d, accumulate ? _mm512_add_ps(v, _mm512_loadu_ps(d)) : v);
    };
    const auto put = [&](float* dxc, std::size_t i0, __m512 e0, __m512 e1, __m512 o0, __m512 o1) {
        const std::size_t p0 = i0 / Q, q0 = i0 % Q;
        float* d = dxc + 2 * p0 * W + 2 * q0;
        if (Q == 4) {  // 4 map rows: 8 dx rows of 8, in order 2p, 2p + 1, ... (two rows per vector)
            store(d, _mm512_shuffle_f32x4(e0, o0, 0x44));
            store(d + 16, _mm512_shuffle_f32x4(e0, o0, 0xEE));
            store(d + 32, _mm512_shuffle_f32x4(e1, o1, 0x44));
            store(d + 48, _mm512_shuffle_f32x4(e1, o1, 0xEE));
        } else if (Q == 8) {  // 2 map rows: 4 dx rows of 16
            store(d, e0), store(d + 16, o0), store(d + 32, e1), store(d + 48, o1);
        } else {  // 16 positions of one map row: 32 values of its even and of its odd dx row
            store(d, e0), store(d + 16, e1), store(d + W, o0), store(d + W + 16, o1);
        }
    };
    for (std::size_t c = 0; c < C; ++c) {
        float* dxc = dx + c * H * W;
        if (one_by_one) {  // 1 x 1: even rows and columns only
            const float* a = col + c * ld;
            const __m512 z = _mm512_setzero_ps();
            for (std::size_t i0 = 0; i0 < PQ; i0 += 16) {
                const __m512 e = _mm512_loadu_ps(a + i0);
                put(dxc, i0, _mm512_permutex2var_ps(e, lo, z), _mm512_permutex2var_ps(e, hi, z), z, z);
            }
            continue;
        }
        const auto tap = [&](std::size_t r, std::size_t s) { return col + ((c * 3 + r) * 3 + s) * ld; };
        const float *a0 = tap(1, 0), *a1 = tap(1, 1), *a2 = tap(1, 2), *b0 = tap(2, 0), *b1 = tap(2, 1), *b2 = tap(2, 2);
        const float *d0 = tap(0, 0), *d1 = tap(0, 1), *d2 = tap(0, 2);
        for (std::size_t i0 = 0; i0 < PQ; i0 += 16) {
            std::uint32_t mq = qmask;
            if (Q > 16 && (i0 + 16) % Q == 0) mq = 0x7FFFu;  // the row's last position has no q + 1
            const std::size_t below = PQ - Q > i0 ? std::min<std::size_t>(16, PQ - Q - i0) : 0;  // lanes with a p + 1
            const __mmask16 kq = __mmask16(mq), kp = __mmask16((1u << below) - 1u), kpq = __mmask16(mq & ((1u << below) - 1u));
            const __m512 ee = _mm512_loadu_ps(a1 + i0);
            const __m512 eo = _mm512_add_ps(_mm512_loadu_ps(a2 + i0), _mm512_maskz_loadu_ps(kq, a0 + i0 + 1));
            const __m512 oe = _mm512_add_ps(_mm512_loadu_ps(b1 + i0), _mm512_maskz_loadu_ps(kp, d1 + i0 + Q));
            const __m512 oo = _mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(b2 + i0), _mm512_maskz_loadu_ps(kq, b0 + i0 + 1)),
                                            _mm512_add_ps(_mm512_maskz_loadu_ps(kp, d2 + i0 + Q), _mm512_maskz_loadu_ps(kpq, d0 + i0 + Q + 1)));
            put(dxc, i0, _mm512_permutex2var_ps(ee, lo, eo), _mm512_permutex2var_ps(ee, hi, eo), _mm512_permutex2var_ps(oe, lo, oo),
                _mm512_permutex2var_ps(oe, hi, oo));
        }
    }
}

/// out[i][k] (+)= sum_{t < nt} v[i LD + t] e[t ldk + k], for rows < MR of v and 16 NV columns k
/// (`cols` of them stored), MR x NV accumulators; LD != 0 fixes v's row stride at compile time
/// (runtime ld otherwise): the MR row addresses then need no registers of their own.
template <std::size_t MR, std::size_t NV, std::size_t LD>
void outer_product_block(const float* v, std::size_t ld, const float* e, std::size_t ldk, std::size_t nt, float* out,
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

/// v[l] = p[l] for the lanes set in mask, 0 elsewhere; the clear lanes' addresses are not read
/// (a row's end, the padding of a map).
inline batch<float> load_masked(const float* p, std::uint32_t mask) noexcept { return _mm512_maskz_loadu_ps(__mmask16(mask), p); }

/// One index table over two pairs of sources: lane l < 8 = (a0 ++ b0)[idx[l]], lane l >= 8 =
/// (a1 ++ b1)[idx[l]] (32-lane concatenations, idx < 32), 0 where bit l of mask is clear. Two
/// masked two-source permutes and a blend: how the Winograd input rows pick each tile's taps out
/// of two groups' loaded image rows.
class pair_permute {
public:
    pair_permute() = default;
    pair_permute(const std::int32_t (&idx)[16], std::uint32_t mask) noexcept
        : idx_(_mm512_loadu_si512(idx)), lo_(__mmask16(mask & 0x00FFu)), hi_(__mmask16(mask & 0xFF00u)) {}

    batch<float> operator()(const batch<float>& a0, const batch<float>& b0, const batch<float>& a1,
                            const batch<float>& b1) const noexcept {
        const __m512 lo = _mm512_maskz_permutex2var_ps(lo_, a0, idx_, b0);
        const __m512 hi = _mm512_maskz_permutex2var_ps(hi_, a1, idx_, b1);
        return _mm512_mask_mov_ps(lo, __mmask16(0xFF00u), hi);
    }

private:
    __m512i idx_ = _mm512_setzero_si512();
    __mmask16 lo_ = 0, hi_ = 0;
};

/// r = the transpose of the 4 x 16 matrix o, as a 16 x 4 row-major matrix in four vectors
/// (r[j] = rows 4 j .. 4 j + 3): o[c][l] is column c of tile l, r[j] tiles 4 j .. 4 j + 3 side by
/// side. In-lane unpacks make each 128-bit lane a 4 x 4 transpose, then 128-bit block shuffles
/// gather lane j of the four results.
inline void transpose4x16(const batch<float> (&o)[4], batch<float> (&r)[4]) noexcept {
    const __m512 a01 = _mm512_unpacklo_ps(o[0], o[1]), b01 = _mm512_unpackhi_ps(o[0], o[1]);
    const __m512 a23 = _mm512_unpacklo_ps(o[2], o[3]), b23 = _mm512_unpackhi_ps(o[2], o[3]);
    const __m512 t0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a01), _mm512_castps_pd(a23)));
    const __m512 t1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a01), _mm512_castps_pd(a23)));
    const __m512 t2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(b01), _mm512_castps_pd(b23)));
    const __m512 t3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(b01), _mm512_castps_pd(b23)));
    const __m512 p01 = _mm512_shuffle_f32x4(t0, t1, 0x44), q23 = _mm512_shuffle_f32x4(t2, t3, 0x44);  // lanes 0, 1
    const __m512 p01h = _mm512_shuffle_f32x4(t0, t1, 0xEE), q23h = _mm512_shuffle_f32x4(t2, t3, 0xEE);  // lanes 2, 3
    r[0] = _mm512_shuffle_f32x4(p01, q23, 0x88), r[1] = _mm512_shuffle_f32x4(p01, q23, 0xDD);
    r[2] = _mm512_shuffle_f32x4(p01h, q23h, 0x88), r[3] = _mm512_shuffle_f32x4(p01h, q23h, 0xDD);
}

/// lo = [a0 b0 a1 b1 .. a7 b7], hi = [a8 b8 .. a15 b15]: the 2 x 16 matrix (a; b) transposed.
inline void interleave(const batch<float>& a, const batch<float>& b, batch<float>& lo, batch<float>& hi) noexcept {
    lo = _mm512_permutex2var_ps(a, detail::zip_lo_index(), b);
    hi = _mm512_permutex2var_ps(a, detail::zip_hi_index(), b);
}

/// d0[0..8) (+)= v[0..8), d1[0..8) (+)= v[8..16) (accumulate: +=).
inline void store_halves(float* d0, float* d1, const batch<float>& v, bool accumulate) noexcept {
    const __m256 lo = _mm512_castps512_ps256(v), hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    _mm256_storeu_ps(d0, accumulate ? _mm256_add_ps(lo, _mm256_loadu_ps(d0)) : lo);
    _mm256_storeu_ps(d1, accumulate ? _mm256_add_ps(hi, _mm256_loadu_ps(d1)) : hi);
}
#endif

}  // namespace oneclass::simd::avx512
