// oneclass/simd/simd.hpp - the only place xsimd is included.
//
// Loops over contiguous float/double arrays in the "scalar head, SIMD body, scalar tail" shape.
// Everything else in the library calls these, so an xsimd upgrade touches this file only. The
// instruction set is the best one the translation unit is compiled for (-march=native gives AVX2
// + FMA on the machines we target; without flags, SSE2).
//
// Summation order is fixed (lane-wise partial sums, then the lanes in order, then the tail), so
// results are bit-identical from run to run and independent of threading.
#pragma once

#include <oneclass/core/intrinsics.hpp>
#include <oneclass/core/isa.hpp>

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace oneclass::simd {

template <class T>
using batch = xsimd::batch<T>;

template <class T>
inline constexpr std::size_t width = batch<T>::size;

namespace detail {
template <class T>
T lanes_sum(const batch<T>& b) noexcept {
    alignas(64) T tmp[width<T>];
    b.store_aligned(tmp);
    T s = 0;
    for (std::size_t k = 0; k < width<T>; ++k) s += tmp[k];
    return s;
}
template <class T>
T lanes_max(const batch<T>& b) noexcept {
    alignas(64) T tmp[width<T>];
    b.store_aligned(tmp);
    T m = tmp[0];
    for (std::size_t k = 1; k < width<T>; ++k) m = std::max(m, tmp[k]);
    return m;
}
}  // namespace detail

/// The sum of a vector's lanes, added in lane order (the reductions below end with it).
template <class T>
T lanes_sum(const batch<T>& b) noexcept {
    return detail::lanes_sum(b);
}

/// x a + b, rounded once where the machine has FMA (as xsimd::fma on a batch) and twice where it
/// has not (as xsimd::fma's emulation): the scalar and vector forms agree bit for bit, so a value
/// computed by one can be recomputed by the other (batch norm's ReLU mask, see below), and the
/// scalar tails of the dot products below round alike whatever the compiler contracts.
template <class T>
inline T affine(T x, T a, T b) noexcept {
#if defined(__FMA__)
    return std::fma(x, a, b);
#else
    return x * a + b;
#endif
}
template <class T>
inline batch<T> affine(const batch<T>& x, const batch<T>& a, const batch<T>& b) noexcept {
    return xsimd::fma(x, a, b);
}

/// sum_i a[i] * b[i]
template <class T>
T dot(const T* a, const T* b, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc0(T(0)), acc1(T(0));
        for (; i + 2 * W <= n; i += 2 * W) {
            acc0 = xsimd::fma(batch<T>::load_unaligned(a + i), batch<T>::load_unaligned(b + i), acc0);
            acc1 = xsimd::fma(batch<T>::load_unaligned(a + i + W), batch<T>::load_unaligned(b + i + W), acc1);
        }
        if (i + W <= n) {  // one more single vector: short rows (4 x 4 planes) stay off the scalar tail
            acc0 = xsimd::fma(batch<T>::load_unaligned(a + i), batch<T>::load_unaligned(b + i), acc0);
            i += W;
        }
        s = detail::lanes_sum(acc0 + acc1);
    }
    for (; i < n; ++i) s = affine(a[i], b[i], s);
    return s;
}

/// sum_i a[i]
template <class T>
T sum(const T* a, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc0(T(0)), acc1(T(0));
        for (; i + 2 * W <= n; i += 2 * W) {
            acc0 += batch<T>::load_unaligned(a + i);
            acc1 += batch<T>::load_unaligned(a + i + W);
        }
        if (i + W <= n) {
            acc0 += batch<T>::load_unaligned(a + i);
            i += W;
        }
        s = detail::lanes_sum(acc0 + acc1);
    }
    for (; i < n; ++i) s += a[i];
    return s;
}

/// s = sum_i g[i] m[i] and d = sum_i g[i] m[i] x[i] in one pass, with m[i] = [y[i] > 0] when y is
/// given (the gradient of a fused ReLU, masked on the fly) and 1 otherwise; out, when given,
/// receives g[i] m[i] (as relu_mask_mul). Same lane grouping as sum() and dot(), so the results
/// equal sum(g m) and dot(g m, x) bit for bit.
template <class T>
void masked_sum_dot(const T* g, const T* y, const T* x, std::size_t n, T& s, T& d, T* out = nullptr) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    s = 0;
    d = 0;
    const auto gm = [&](std::size_t j) {
        const batch<T> gv = batch<T>::load_unaligned(g + j);
        if (!y) return gv;
        return gv * xsimd::select(batch<T>::load_unaligned(y + j) > batch<T>(T(0)), batch<T>(T(1)), batch<T>(T(0)));
    };
    if (n >= W) {
        batch<T> s0(T(0)), s1(T(0)), d0(T(0)), d1(T(0));
        for (; i + 2 * W <= n; i += 2 * W) {
            const batch<T> a0 = gm(i), a1 = gm(i + W);
            if (out) a0.store_unaligned(out + i), a1.store_unaligned(out + i + W);
            s0 += a0;
            s1 += a1;
            d0 = xsimd::fma(a0, batch<T>::load_unaligned(x + i), d0);
            d1 = xsimd::fma(a1, batch<T>::load_unaligned(x + i + W), d1);
        }
        if (i + W <= n) {
            const batch<T> a0 = gm(i);
            if (out) a0.store_unaligned(out + i);
            s0 += a0;
            d0 = xsimd::fma(a0, batch<T>::load_unaligned(x + i), d0);
            i += W;
        }
        s = detail::lanes_sum(s0 + s1);
        d = detail::lanes_sum(d0 + d1);
    }
    for (; i < n; ++i) {
        const T a = y ? g[i] * T(y[i] > T(0)) : g[i];
        if (out) out[i] = a;
        s += a;
        d = affine(a, x[i], d);
    }
}

/// masked_sum_dot with the mask recomputed from x: m[i] = [affine(x[i], a, b) > 0], i.e. the
/// mask of relu(affine(x)) (a fused batch norm + ReLU), without reading the saved output. Equal
/// to masked_sum_dot(g, y, x) with y = relu(affine(x)) bit for bit.
template <class T>
void masked_sum_dot_affine(const T* g, const T* x, T a, T b, std::size_t n, T& s, T& d) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    s = 0;
    d = 0;
    const batch<T> va(a), vb(b), zero(T(0)), one(T(1));
    const auto gm = [&](const batch<T>& xv, std::size_t j) {
        return batch<T>::load_unaligned(g + j) * xsimd::select(affine(xv, va, vb) > zero, one, zero);
    };
    if (n >= W) {
        batch<T> s0(zero), s1(zero), d0(zero), d1(zero);
        for (; i + 2 * W <= n; i += 2 * W) {
            const batch<T> x0 = batch<T>::load_unaligned(x + i), x1 = batch<T>::load_unaligned(x + i + W);
            const batch<T> a0 = gm(x0, i), a1 = gm(x1, i + W);
            s0 += a0;
            s1 += a1;
            d0 = xsimd::fma(a0, x0, d0);
            d1 = xsimd::fma(a1, x1, d1);
        }
        if (i + W <= n) {
            const batch<T> x0 = batch<T>::load_unaligned(x + i), a0 = gm(x0, i);
            s0 += a0;
            d0 = xsimd::fma(a0, x0, d0);
            i += W;
        }
        s = detail::lanes_sum(s0 + s1);
        d = detail::lanes_sum(d0 + d1);
    }
    for (; i < n; ++i) {
        const T v = g[i] * T(affine(x[i], a, b) > T(0));
        s += v;
        d = affine(v, x[i], d);
    }
}

/// out[i] = g[i] [y[i] > 0]: a ReLU's gradient from its output. Multiplied rather than selected,
/// so a NaN or infinite gradient stays visible where it is masked (as the scalar g * [y > 0]);
/// written with explicit vectors because the bool-to-float product does not auto-vectorise on AVX2.
template <class T>
void relu_mask_mul_here(const T* g, const T* y, std::size_t n, T* out) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    const batch<T> zero(T(0)), one(T(1));
    for (; i + W <= n; i += W)
        (batch<T>::load_unaligned(g + i) * xsimd::select(batch<T>::load_unaligned(y + i) > zero, one, zero)).store_unaligned(out + i);
    for (; i < n; ++i) out[i] = g[i] * T(y[i] > T(0));
}

/// out[i] (+)= affine(g[i] [affine(x[i], sa, sb) > 0], a, affine(x[i], b, k)): batch norm's input
/// gradient a dz + b x + k, with the fused ReLU's mask recomputed from x (as masked_sum_dot_affine),
/// in explicit vectors (the masked product does not auto-vectorise on AVX2); the scalar tail
/// rounds the same way.
template <class T>
void bn_relu_input_grad(const T* g, const T* x, T sa, T sb, T a, T b, T k, std::size_t n, T* out, bool accumulate) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    const batch<T> vsa(sa), vsb(sb), va(a), vb(b), vk(k), zero(T(0)), one(T(1));
    for (; i + W <= n; i += W) {
        const batch<T> xv = batch<T>::load_unaligned(x + i);
        const batch<T> dz = batch<T>::load_unaligned(g + i) * xsimd::select(affine(xv, vsa, vsb) > zero, one, zero);
        batch<T> r = affine(dz, va, affine(xv, vb, vk));
        if (accumulate) r += batch<T>::load_unaligned(out + i);
        r.store_unaligned(out + i);
    }
    for (; i < n; ++i) {
        const T dz = g[i] * T(affine(x[i], sa, sb) > T(0));
        const T r = affine(dz, a, affine(x[i], b, k));
        out[i] = accumulate ? out[i] + r : r;
    }
}

/// out[i] (+)= affine(g[i], a, affine(x[i], b, k)): batch norm's input gradient a dz + b x + k
/// without a ReLU (bn_relu_input_grad's arithmetic with the mask all ones).
template <class T>
void bn_input_grad(const T* g, const T* x, T a, T b, T k, std::size_t n, T* out, bool accumulate) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    const batch<T> va(a), vb(b), vk(k);
    for (; i + W <= n; i += W) {
        batch<T> r = affine(batch<T>::load_unaligned(g + i), va, affine(batch<T>::load_unaligned(x + i), vb, vk));
        if (accumulate) r += batch<T>::load_unaligned(out + i);
        r.store_unaligned(out + i);
    }
    for (; i < n; ++i) {
        const T r = affine(g[i], a, affine(x[i], b, k));
        out[i] = accumulate ? out[i] + r : r;
    }
}

/// y[i] = affine(x[i], a, b) (+ r[i] when r is given), then max(0, .) when relu, NaN kept (as
/// fn::relu): batch norm's normalisation, with its fused ReLU or residual add + ReLU, in full-width
/// vectors (auto-vectorised, these loops took half-width vectors on AVX-512).
template <class T>
void affine_relu(const T* x, const T* r, std::size_t n, T a, T b, bool relu, T* y) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    const batch<T> va(a), vb(b), zero(T(0));
    for (; i + W <= n; i += W) {
        batch<T> v = affine(batch<T>::load_unaligned(x + i), va, vb);
        if (r) v += batch<T>::load_unaligned(r + i);
        if (relu) v = xsimd::select(v < zero, zero, v);
        v.store_unaligned(y + i);
    }
    for (; i < n; ++i) {
        T v = affine(x[i], a, b);
        if (r) v += r[i];
        y[i] = relu && v < T(0) ? T(0) : v;
    }
}

/// sum_i (a[i] - c)^2
template <class T>
T sum_squared_deviation(const T* a, std::size_t n, T c) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vc(c);
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc(T(0));
        for (; i + W <= n; i += W) {
            const batch<T> d = batch<T>::load_unaligned(a + i) - vc;
            acc = xsimd::fma(d, d, acc);
        }
        s = detail::lanes_sum(acc);
    }
    for (; i < n; ++i) s += (a[i] - c) * (a[i] - c);
    return s;
}

/// sum_i a[i]^2
template <class T>
T squared_norm_here(const T* a, std::size_t n) noexcept {
    return dot(a, a, n);
}

/// max_i a[i]; -inf for n == 0.
template <class T>
T max(const T* a, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    T m = -std::numeric_limits<T>::infinity();
    if (n >= W) {
        batch<T> acc = batch<T>::load_unaligned(a);
        for (i = W; i + W <= n; i += W) acc = xsimd::max(acc, batch<T>::load_unaligned(a + i));
        m = detail::lanes_max(acc);
    }
    for (; i < n; ++i) m = std::max(m, a[i]);
    return m;
}

/// min_i a[i]; +inf for n == 0.
template <class T>
T min_here(const T* a, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    T m = std::numeric_limits<T>::infinity();
    if (n >= W) {
        batch<T> acc = batch<T>::load_unaligned(a);
        for (i = W; i + W <= n; i += W) acc = xsimd::min(acc, batch<T>::load_unaligned(a + i));
        m = -detail::lanes_max(-acc);
    }
    for (; i < n; ++i) m = std::min(m, a[i]);
    return m;
}

namespace detail {
/// xsimd::exp, for double with x clamped from below where exp is 0 anyway (exp(-746) = 0): xsimd
/// converts the scaled argument to int64, which AVX2 and SSE do in scalar code, undefined for
/// arguments like -1e30 (UBSan found one from a kernel width of 1e30). Float converts to int32 by
/// a vector instruction on every path, defined for any input, and KDE's inner loop keeps its speed.
template <class T>
batch<T> exp0(const batch<T>& x) noexcept {
    if constexpr (std::is_same_v<T, double>) return xsimd::exp(xsimd::max(x, batch<T>(T(-746))));
    else return xsimd::exp(x);
}
}  // namespace detail

/// a[i] = exp(scale * a[i] + shift), in place.
template <class T>
void exp_affine_inplace_here(T* a, std::size_t n, T scale, T shift) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale), vh(shift);
    std::size_t i = 0;
    for (; i + W <= n; i += W) detail::exp0(xsimd::fma(batch<T>::load_unaligned(a + i), vs, vh)).store_unaligned(a + i);
    for (; i < n; ++i) a[i] = std::exp(scale * a[i] + shift);
}

/// sum_i exp(scale * (a[i] - offset)), a unchanged. The shift comes first: with offset = min a and
/// scale < 0 (a log-sum-exp), every exponent is <= 0 and the largest is exactly 0 for any scale;
/// the affine form scale * a + scale * offset carries |scale * offset| * eps of rounding, which
/// overflows exp once scale is large (KDE with gamma 1e30).
template <class T>
T sum_exp_shifted_here(const T* a, std::size_t n, T offset, T scale) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale), vo(offset);
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc(T(0));
        for (; i + W <= n; i += W) acc += detail::exp0((batch<T>::load_unaligned(a + i) - vo) * vs);
        s = detail::lanes_sum(acc);
    }
    for (; i < n; ++i) s += std::exp(scale * (a[i] - offset));
    return s;
}

/// a[i] = exp(scale * (a[i] - offset)), in place: the terms sum_exp_shifted adds (KDE's weights).
template <class T>
void exp_shifted_inplace_here(T* a, std::size_t n, T offset, T scale) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale), vo(offset);
    std::size_t i = 0;
    for (; i + W <= n; i += W) detail::exp0((batch<T>::load_unaligned(a + i) - vo) * vs).store_unaligned(a + i);
    for (; i < n; ++i) a[i] = std::exp(scale * (a[i] - offset));
}

/// sum_i w[i] * exp(scale * a[i]), a unchanged.
template <class T>
T weighted_sum_exp_here(const T* w, const T* a, std::size_t n, T scale) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale);
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc(T(0));
        for (; i + W <= n; i += W)
            acc = xsimd::fma(batch<T>::load_unaligned(w + i), detail::exp0(batch<T>::load_unaligned(a + i) * vs), acc);
        s = detail::lanes_sum(acc);
    }
    for (; i < n; ++i) s += w[i] * std::exp(scale * a[i]);
    return s;
}

/// out[i] = max(0, a + b[i] + c[i]) (squared distances from norms and -2 x.y).
template <class T>
void add_norms_clamp_here(T* c, const T* b, T a, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> va(a), zero(T(0));
    std::size_t i = 0;
    for (; i + W <= n; i += W)
        xsimd::max(batch<T>::load_unaligned(c + i) + batch<T>::load_unaligned(b + i) + va, zero).store_unaligned(c + i);
    for (; i < n; ++i) c[i] = std::max(T(0), c[i] + b[i] + a);
}

/// Whether masked_gather is one instruction (AVX-512) rather than scalar loads: callers with a
/// faster scalar layout of their own (constant offsets) keep it where it is not.
template <class T>
inline constexpr bool vector_gather =
#if defined(__AVX512F__)
    (std::is_same_v<T, float> && width<T> == 16) || (std::is_same_v<T, double> && width<T> == 8);
#else
    false;
#endif

/// out[l] = base[idx[l]] for the lanes l whose bit is set in mask, 0 for the others, over one
/// vector (width<T> lanes; idx and out 64-byte aligned). The idx of a masked-off lane must still be
/// a valid offset (0 will do): the scalar path loads it and drops it, branch-free. AVX-512's gather
/// does the vector in one instruction; elsewhere scalar loads (AVX2's gather is slower than them
/// on Zen 1).
template <class T>
inline void masked_gather(const T* base, const std::int32_t* idx, std::uint32_t mask, T* out) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && width<T> == 16) {
        const __m512i vi = _mm512_load_si512(reinterpret_cast<const void*>(idx));
        _mm512_store_ps(out, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(mask), vi, base, 4));
        return;
    } else if constexpr (std::is_same_v<T, double> && width<T> == 8) {
        const __m256i vi = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
        _mm512_store_pd(out, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), __mmask8(mask), vi, base, 8));
        return;
    }
#endif
    for (std::size_t l = 0; l < width<T>; ++l) {
        const T v = base[idx[l]];
        out[l] = (mask >> l) & 1u ? v : T(0);
    }
}

#if defined(__AVX512F__)
namespace detail {
/// Two-source permute indices that interleave a and b: [a0 b0 a1 b1 .. a7 b7], [a8 b8 .. a15 b15].
inline __m512i zip_lo_index() noexcept { return _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); }
inline __m512i zip_hi_index() noexcept { return _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); }
/// The lanes of the two 16-float vectors that hold m < 16 pairs (2 m floats): the first, the second.
inline __mmask16 pair_mask_lo(std::size_t m) noexcept { return __mmask16(m >= 8 ? 0xFFFFu : (1u << (2 * m)) - 1u); }
inline __mmask16 pair_mask_hi(std::size_t m) noexcept { return __mmask16(m > 8 ? (1u << (2 * (m - 8))) - 1u : 0u); }
}  // namespace detail
#endif

#if defined(__AVX512F__)
/// Transposes a 16 x 16 float matrix held as 16 rows in registers (r[i][j] -> r[j][i]): in-lane
/// unpacks of pairs, then of 64-bit pairs, then two rounds of 128-bit block shuffles, 64 ops.
inline void transpose16(__m512 (&r)[16]) noexcept {
    __m512 t[16], u[16];
    for (std::size_t i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (std::size_t i = 0; i < 4; ++i) {  // u[4 i + c], 128-bit lane L: rows 4 i .. 4 i + 3 of column 4 L + c
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (std::size_t c = 0; c < 4; ++c) {  // column 4 L + c = lane L of u[c], u[4 + c], u[8 + c], u[12 + c]
        const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        const __m512 w0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44), w1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v0, w0, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v1, w1, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
}
/// The same on 16 float batches (the AVX-512 build's batch<float> is one register).
inline void transpose16(batch<float> (&r)[16]) noexcept {
    static_assert(width<float> == 16);
    __m512 m[16];
    for (std::size_t i = 0; i < 16; ++i) m[i] = r[i];
    transpose16(m);
    for (std::size_t i = 0; i < 16; ++i) r[i] = m[i];
}
#endif

/// out[i] = s[2 i] for i < n, reading s[0 .. 2 n - 2] only (not the odd element after the last):
/// the columns a stride-2 layer's patch rows take. float on AVX-512 by a two-source permute of
/// two loads (masked at the end), 16 at a time; otherwise element by element (an AVX2 version
/// with masked loads and stores was measured slower on the 1 x 1 shortcuts' rows of 4-16).
template <class T>
inline void take_even(const T* s, std::size_t n, T* out) noexcept {
    std::size_t i = 0;
    if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (; i < n; i += 16) {
            const std::size_t m = 2 * std::min<std::size_t>(16, n - i) - 1;  // elements to read
            const __mmask16 ma = __mmask16(m >= 16 ? 0xFFFFu : (1u << m) - 1u), mb = __mmask16(m > 16 ? (1u << (m - 16)) - 1u : 0u);
            const __m512 a = _mm512_maskz_loadu_ps(ma, s + 2 * i), b = _mm512_maskz_loadu_ps(mb, s + 2 * i + 16);
            const std::size_t k = std::min<std::size_t>(16, n - i);
            _mm512_mask_storeu_ps(out + i, __mmask16(k >= 16 ? 0xFFFFu : (1u << k) - 1u), _mm512_permutex2var_ps(a, ie, b));
        }
        return;
#endif
    }
    for (; i < n; ++i) out[i] = s[2 * i];
}

/// even[i] = s[2 i], odd[i] = s[2 i + 1] for i < n: splits a row into its even and odd columns
/// (the phases of a stride-2 layer's input). float on AVX-512 / AVX2 by two-source permutes,
/// 16 / 8 pairs at a time; the rest element by element.
template <class T>
inline void deinterleave2(const T* s, std::size_t n, T* even, T* odd) noexcept {
    std::size_t i = 0;
    if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (; i + 16 <= n; i += 16) {
            const __m512 a = _mm512_loadu_ps(s + 2 * i), b = _mm512_loadu_ps(s + 2 * i + 16);
            _mm512_storeu_ps(even + i, _mm512_permutex2var_ps(a, ie, b));
            _mm512_storeu_ps(odd + i, _mm512_permutex2var_ps(a, io, b));
        }
        if (i < n) {  // the last 1-15 pairs by masked loads and stores
            const std::size_t m = n - i;
            const __mmask16 lo = detail::pair_mask_lo(m), hi = detail::pair_mask_hi(m), out = __mmask16((1u << m) - 1u);
            const __m512 a = _mm512_maskz_loadu_ps(lo, s + 2 * i), b = _mm512_maskz_loadu_ps(hi, s + 2 * i + 16);
            _mm512_mask_storeu_ps(even + i, out, _mm512_permutex2var_ps(a, ie, b));
            _mm512_mask_storeu_ps(odd + i, out, _mm512_permutex2var_ps(a, io, b));
            return;
        }
#elif defined(__AVX2__)
        for (; i + 8 <= n; i += 8) {
            const __m256 a = _mm256_loadu_ps(s + 2 * i), b = _mm256_loadu_ps(s + 2 * i + 8);
            // within 128-bit lanes: a0 a2 b0 b2 | a4 a6 b4 b6, then the 64-bit pairs in order
            const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
            _mm256_storeu_ps(even + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
            _mm256_storeu_ps(odd + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8)));
        }
        if (i + 4 <= n) {  // 4 pairs (the rows of 8 x 8 maps): one load, the halves of its shuffles
            const __m256 a = _mm256_loadu_ps(s + 2 * i);
            const __m256 e = _mm256_shuffle_ps(a, a, _MM_SHUFFLE(2, 0, 2, 0)), o = _mm256_shuffle_ps(a, a, _MM_SHUFFLE(3, 1, 3, 1));
            _mm_storeu_ps(even + i, _mm_shuffle_ps(_mm256_castps256_ps128(e), _mm256_extractf128_ps(e, 1), _MM_SHUFFLE(1, 0, 1, 0)));
            _mm_storeu_ps(odd + i, _mm_shuffle_ps(_mm256_castps256_ps128(o), _mm256_extractf128_ps(o, 1), _MM_SHUFFLE(1, 0, 1, 0)));
            i += 4;
        }
#endif
    }
    for (; i < n; ++i) even[i] = s[2 * i], odd[i] = s[2 * i + 1];
}

/// dst[2 i] = even[i], dst[2 i + 1] = odd[i] for i < n (accumulate: +=): the inverse of
/// deinterleave2, for writing the phases of a stride-2 layer's input gradient.
template <class T>
inline void interleave2(const T* even, const T* odd, std::size_t n, T* dst, bool accumulate) noexcept {
    std::size_t i = 0;
    if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
        const __m512i lo = detail::zip_lo_index(), hi = detail::zip_hi_index();
        for (; i + 16 <= n; i += 16) {
            const __m512 e = _mm512_loadu_ps(even + i), o = _mm512_loadu_ps(odd + i);
            __m512 a = _mm512_permutex2var_ps(e, lo, o), b = _mm512_permutex2var_ps(e, hi, o);
            if (accumulate) {
                a = _mm512_add_ps(a, _mm512_loadu_ps(dst + 2 * i));
                b = _mm512_add_ps(b, _mm512_loadu_ps(dst + 2 * i + 16));
            }
            _mm512_storeu_ps(dst + 2 * i, a);
            _mm512_storeu_ps(dst + 2 * i + 16, b);
        }
        if (i < n) {  // the last 1-15 pairs by masked loads and stores
            const std::size_t m = n - i;
            const __mmask16 in = __mmask16((1u << m) - 1u), ma = detail::pair_mask_lo(m), mb = detail::pair_mask_hi(m);
            const __m512 e = _mm512_maskz_loadu_ps(in, even + i), o = _mm512_maskz_loadu_ps(in, odd + i);
            __m512 a = _mm512_permutex2var_ps(e, lo, o), b = _mm512_permutex2var_ps(e, hi, o);
            if (accumulate) {
                a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(ma, dst + 2 * i));
                b = _mm512_add_ps(b, _mm512_maskz_loadu_ps(mb, dst + 2 * i + 16));
            }
            _mm512_mask_storeu_ps(dst + 2 * i, ma, a);
            _mm512_mask_storeu_ps(dst + 2 * i + 16, mb, b);
            return;
        }
#elif defined(__AVX2__)
        for (; i + 8 <= n; i += 8) {
            const __m256 e = _mm256_loadu_ps(even + i), o = _mm256_loadu_ps(odd + i);
            // within 128-bit lanes: e0 o0 e1 o1 | e4 o4 e5 o5 and e2 o2 e3 o3 | e6 o6 e7 o7
            const __m256 l = _mm256_unpacklo_ps(e, o), h = _mm256_unpackhi_ps(e, o);
            __m256 a = _mm256_permute2f128_ps(l, h, 0x20), b = _mm256_permute2f128_ps(l, h, 0x31);
            if (accumulate) {
                a = _mm256_add_ps(a, _mm256_loadu_ps(dst + 2 * i));
                b = _mm256_add_ps(b, _mm256_loadu_ps(dst + 2 * i + 8));
            }
            _mm256_storeu_ps(dst + 2 * i, a);
            _mm256_storeu_ps(dst + 2 * i + 8, b);
        }
#endif
    }
    for (; i < n; ++i) {
        if (accumulate) dst[2 * i] += even[i], dst[2 * i + 1] += odd[i];
        else dst[2 * i] = even[i], dst[2 * i + 1] = odd[i];
    }
}

// ---- the row functions the rest of the library calls, dispatched ------------------------------
// Where the program links the kernel library (ONECLASS_DISPATCH) and kernel_isa() is another
// level than the one this translation unit is compiled for, the call goes to that level's copy
// (simd/dispatch.hpp); at its own level it runs inline. Not noexcept there: the first call may
// read a malformed ONECLASS_ISA and say so.

}  // namespace oneclass::simd

#include <oneclass/simd/dispatch.hpp>

namespace oneclass::simd {

#if ONECLASS_DISPATCHED
#define ONECLASS_SIMD_ROUTE(name, ...)                                                              \
    if (kernel_isa() != compiled_isa_level()) return row_fns_for<T>().name(__VA_ARGS__); \
    return name##_here(__VA_ARGS__)
#define ONECLASS_SIMD_NOEXCEPT
#else
#define ONECLASS_SIMD_ROUTE(name, ...) return name##_here(__VA_ARGS__)
#define ONECLASS_SIMD_NOEXCEPT noexcept
#endif

/// sum_i a[i]^2
template <class T>
T squared_norm(const T* a, std::size_t n) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(squared_norm, a, n);
}
/// min_i a[i]; +inf for n == 0.
template <class T>
T min(const T* a, std::size_t n) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(min, a, n);
}
/// sum_i exp(scale * (a[i] - offset)), a unchanged (sum_exp_shifted_here says why the shift comes first).
template <class T>
T sum_exp_shifted(const T* a, std::size_t n, T offset, T scale) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(sum_exp_shifted, a, n, offset, scale);
}
/// sum_i w[i] * exp(scale * a[i]), a unchanged.
template <class T>
T weighted_sum_exp(const T* w, const T* a, std::size_t n, T scale) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(weighted_sum_exp, w, a, n, scale);
}
/// a[i] = exp(scale * a[i] + shift), in place.
template <class T>
void exp_affine_inplace(T* a, std::size_t n, T scale, T shift) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(exp_affine_inplace, a, n, scale, shift);
}
/// a[i] = exp(scale * (a[i] - offset)), in place.
template <class T>
void exp_shifted_inplace(T* a, std::size_t n, T offset, T scale) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(exp_shifted_inplace, a, n, offset, scale);
}
/// out[i] = g[i] [y[i] > 0] (relu_mask_mul_here says why multiplied).
template <class T>
void relu_mask_mul(const T* g, const T* y, std::size_t n, T* out) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(relu_mask_mul, g, y, n, out);
}
/// c[i] = max(0, a + b[i] + c[i]) (squared distances from norms and -2 x.y).
template <class T>
void add_norms_clamp(T* c, const T* b, T a, std::size_t n) ONECLASS_SIMD_NOEXCEPT {
    ONECLASS_SIMD_ROUTE(add_norms_clamp, c, b, a, n);
}

#undef ONECLASS_SIMD_ROUTE
#undef ONECLASS_SIMD_NOEXCEPT

}  // namespace oneclass::simd
