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
#endif

}  // namespace oneclass::simd::avx512
