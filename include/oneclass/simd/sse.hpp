// oneclass/simd/sse.hpp - kernels written in SSE intrinsics (float): four Winograd tiles side by
// side moved between their rows in memory and the tile-per-lane layout of a block (d[tap][lane])
// by 4 x 4 transposes and shuffles. Empty stubs without SSE2; callers check quad_stores.
#pragma once

#include <oneclass/simd/simd.hpp>

#include <cstddef>
#include <cstdint>

namespace oneclass::simd::sse {

#if defined(__SSE2__)
/// d[i A + j][l..l+3] = the a x a input taps of four tiles side by side (lanes l..l+3) whose first
/// tile's top-left tap is (h0, w0) of plane xc: each input row's 4 M + 2 values are read once
/// (copied with zeros where they cross the padding) and spread over the lanes by SSE transposes
/// (F4: two 4 x 4 transposes per row, F2: even / odd shuffles) instead of 36 scalar loads and
/// stores per tile.
template <std::size_t M, std::size_t NB>
inline void gather_quad(const float* xc, std::ptrdiff_t h0, std::ptrdiff_t w0, std::ptrdiff_t H, std::ptrdiff_t Wd,
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
inline void gather_quad(const float*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, float (*)[NB],
                                 std::size_t) {}
#endif

#if defined(__SSE2__)
inline constexpr bool quad_stores = true;
/// The M output rows of lanes l..l+3, four whole tiles side by side: row rp of the four is 4 M
/// contiguous values at dst + rp Q, the transpose of o[rp M + qp][l..l+3].
template <std::size_t M, std::size_t NB>
inline void store_quad(const float (*o)[NB], std::size_t l, float* dst, std::size_t Q, bool accumulate) {
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
inline void load_quad(const float* src, std::size_t Q, float (*e)[NB], std::size_t l) {
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
inline constexpr bool quad_stores = false;
template <std::size_t M, std::size_t NB>
inline void store_quad(const float (*)[NB], std::size_t, float*, std::size_t, bool) {}
template <std::size_t M, std::size_t NB>
inline void load_quad(const float*, std::size_t, float (*)[NB], std::size_t) {}
#endif

}  // namespace oneclass::simd::sse
