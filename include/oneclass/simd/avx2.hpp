// oneclass/simd/avx2.hpp - kernels written in AVX2 intrinsics (float), for the loops whose
// shape xsimd's portable batches cannot express (masked loads, unpack + cross-lane permutes).
// Empty below AVX2; callers pick them under `#if defined(__AVX2__)`, with a scalar twin beside
// them that the tests compare against.
#pragma once

#include <oneclass/simd/simd.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

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

#if defined(__AVX2__) && defined(__FMA__)
/// dU[k][c] (+)= sum_t E[k][t] V[c][t] for an MR x NR block (rows ldu apart): MR NR vector
/// partial sums along the tiles t (8 at a time; n a multiple of 8), each reduced to a scalar once
/// at the end, in a fixed order.
template <std::size_t MR, std::size_t NR>
inline void nt_block(const float* E, const float* V, std::size_t ld, std::size_t n, float* dU, std::size_t ldu, bool first) {
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
            alignas(32) float lanes[8];  // the 8 lanes summed in order, as simd::lanes_sum does
            _mm256_store_ps(lanes, acc[i][j]);
            float s = 0;
            for (float l : lanes) s += l;
            float& d = dU[i * ldu + j];
            d = first ? s : d + s;
        }
}

/// dU (K x C, row-major) (+)= E V^T with E: K x n and V: C x n (rows ld apart, n a multiple of
/// 8): the weight gradient's per-frequency products on few channels without OpenBLAS, whose
/// packing of both operands and per-call cost outweighed products this small (16 x 16 x 128).
/// Blocks of 4 x 2 outputs: 8 accumulators, 6 loads per 8 FMAs.
inline void products_nt(const float* E, const float* V, std::size_t K, std::size_t C, std::size_t ld, std::size_t n,
                              float* dU, bool first) {
    std::size_t k = 0;
    const auto row = [&](auto mr) {
        constexpr std::size_t MR = decltype(mr)::value;
        std::size_t c = 0;
        for (; c + 2 <= C; c += 2) nt_block<MR, 2>(E + k * ld, V + c * ld, ld, n, dU + k * C + c, C, first);
        if (c < C) nt_block<MR, 1>(E + k * ld, V + c * ld, ld, n, dU + k * C + c, C, first);
        k += MR;
    };
    while (k + 4 <= K) row(std::integral_constant<std::size_t, 4>{});
    if (K - k == 3) row(std::integral_constant<std::size_t, 3>{});
    else if (K - k == 2) row(std::integral_constant<std::size_t, 2>{});
    else if (K - k == 1) row(std::integral_constant<std::size_t, 1>{});
}
#endif

}  // namespace oneclass::simd::avx2
