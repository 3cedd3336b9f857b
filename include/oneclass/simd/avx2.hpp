// oneclass/simd/avx2.hpp - kernels written in AVX2 intrinsics (float), for the loops whose
// shape xsimd's portable batches cannot express (masked loads, unpack + cross-lane permutes).
// Empty below AVX2; callers pick them under `#if defined(__AVX2__)`, with a scalar twin beside
// them that the tests compare against.
#pragma once

#include <oneclass/simd/simd.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace oneclass::simd::avx2 {

#if defined(__AVX2__)
/// col2im of the stride-2 layers (see simd::avx512::col2im_stride2) on 8 positions at a time:
/// P Q % 8 == 0, Q = 4 or Q % 8 == 0. The shifted taps are masked loads (_mm256_maskload_ps reads
/// no masked lane), the phases are interleaved by unpack + cross-lane permutes, the rounding
/// order is the scalar loop's (the same bits).
inline void col2im_stride2(const float* col, std::size_t C, std::size_t H, std::size_t W, std::size_t P, std::size_t Q,
                           bool one_by_one, float* dx, std::size_t ld, bool accumulate) {
    const std::size_t PQ = P * Q;
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // lanes whose position q + 1 is still in the row: Q = 4 every 4th lane is a row end, Q >= 8
    // only lane 7 of a vector that closes a row
    const __m256i all = _mm256_set1_epi32(-1);
    const __m256i qrow = Q == 4 ? _mm256_setr_epi32(-1, -1, -1, 0, -1, -1, -1, 0) : all;
    const __m256i qend = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0);
    const auto store = [&](float* d, __m256 v) {
        _mm256_storeu_ps(d, accumulate ? _mm256_add_ps(_mm256_loadu_ps(d), v) : v);
    };
    // even / odd dx rows from a vector of positions: e, o the even and odd columns' values
    const auto put = [&](float* d, __m256 e, __m256 o) {
        const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);  // [e0 o0 e1 o1 | e4 o4 e5 o5], ...
        store(d, _mm256_permute2f128_ps(lo, hi, 0x20));  // positions 0-3 interleaved
        // Q = 4: positions 4-7 are the next map row, two dx rows down; else the same row, 8 on
        store(d + (Q == 4 ? 2 * W : 8), _mm256_permute2f128_ps(lo, hi, 0x31));
    };
    for (std::size_t c = 0; c < C; ++c) {
        float* dxc = dx + c * H * W;
        if (one_by_one) {  // 1 x 1: even rows and columns only
            const float* a = col + c * ld;
            const __m256 z = _mm256_setzero_ps();
            for (std::size_t i0 = 0; i0 < PQ; i0 += 8) {
                float* d = dxc + 2 * (i0 / Q) * W + 2 * (i0 % Q);
                put(d, _mm256_loadu_ps(a + i0), z);
                if (!accumulate) put(d + W, z, z);
            }
            continue;
        }
        const auto tap = [&](std::size_t r, std::size_t s) { return col + ((c * 3 + r) * 3 + s) * ld; };
        const float *a0 = tap(1, 0), *a1 = tap(1, 1), *a2 = tap(1, 2), *b0 = tap(2, 0), *b1 = tap(2, 1), *b2 = tap(2, 2);
        const float *d0 = tap(0, 0), *d1 = tap(0, 1), *d2 = tap(0, 2);
        for (std::size_t i0 = 0; i0 < PQ; i0 += 8) {
            const __m256i kq = Q > 4 && (i0 + 8) % Q == 0 ? qend : qrow;
            const std::ptrdiff_t below = std::ptrdiff_t(PQ - Q) - std::ptrdiff_t(i0);  // lanes with a p + 1: the first `below`
            const __m256i kp = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<std::ptrdiff_t>(below, 0, 8))), iota);
            const __m256i kpq = _mm256_and_si256(kq, kp);
            const __m256 ee = _mm256_loadu_ps(a1 + i0);
            const __m256 eo = _mm256_add_ps(_mm256_loadu_ps(a2 + i0), _mm256_maskload_ps(a0 + i0 + 1, kq));
            const __m256 oe = _mm256_add_ps(_mm256_loadu_ps(b1 + i0), _mm256_maskload_ps(d1 + i0 + Q, kp));
            const __m256 oo = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(b2 + i0), _mm256_maskload_ps(b0 + i0 + 1, kq)),
                                            _mm256_add_ps(_mm256_maskload_ps(d2 + i0 + Q, kp), _mm256_maskload_ps(d0 + i0 + Q + 1, kpq)));
            float* d = dxc + 2 * (i0 / Q) * W + 2 * (i0 % Q);
            put(d, ee, eo);
            put(d + W, oe, oo);
        }
    }
}
#endif

}  // namespace oneclass::simd::avx2
