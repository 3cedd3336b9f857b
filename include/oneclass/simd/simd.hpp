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

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

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

/// The sum of one batch's lanes (a fixed shuffle tree: deterministic). xsimd 8 calls it hadd,
/// later versions reduce_add.
template <class T>
T reduce_add(const batch<T>& b) noexcept {
    return xsimd::hadd(b);
}

/// sum_i a[i] * b[i]
template <class T>
T dot(const T* a, const T* b, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    T s = 0;
    if (n >= 2 * W) {
        batch<T> acc0(T(0)), acc1(T(0));
        for (; i + 2 * W <= n; i += 2 * W) {
            acc0 = xsimd::fma(batch<T>::load_unaligned(a + i), batch<T>::load_unaligned(b + i), acc0);
            acc1 = xsimd::fma(batch<T>::load_unaligned(a + i + W), batch<T>::load_unaligned(b + i + W), acc1);
        }
        s = detail::lanes_sum(acc0 + acc1);
    }
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

/// sum_i a[i]
template <class T>
T sum(const T* a, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    std::size_t i = 0;
    T s = 0;
    if (n >= 2 * W) {
        batch<T> acc0(T(0)), acc1(T(0));
        for (; i + 2 * W <= n; i += 2 * W) {
            acc0 += batch<T>::load_unaligned(a + i);
            acc1 += batch<T>::load_unaligned(a + i + W);
        }
        s = detail::lanes_sum(acc0 + acc1);
    }
    for (; i < n; ++i) s += a[i];
    return s;
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
T squared_norm(const T* a, std::size_t n) noexcept {
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
T min(const T* a, std::size_t n) noexcept {
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

/// a[i] = exp(scale * a[i] + shift), in place.
template <class T>
void exp_affine_inplace(T* a, std::size_t n, T scale, T shift) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale), vh(shift);
    std::size_t i = 0;
    for (; i + W <= n; i += W) xsimd::exp(xsimd::fma(batch<T>::load_unaligned(a + i), vs, vh)).store_unaligned(a + i);
    for (; i < n; ++i) a[i] = std::exp(scale * a[i] + shift);
}

/// sum_i exp(scale * a[i] + shift), a unchanged.
template <class T>
T sum_exp_affine(const T* a, std::size_t n, T scale, T shift) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale), vh(shift);
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc(T(0));
        for (; i + W <= n; i += W) acc += xsimd::exp(xsimd::fma(batch<T>::load_unaligned(a + i), vs, vh));
        s = detail::lanes_sum(acc);
    }
    for (; i < n; ++i) s += std::exp(scale * a[i] + shift);
    return s;
}

/// sum_i w[i] * exp(scale * a[i]), a unchanged.
template <class T>
T weighted_sum_exp(const T* w, const T* a, std::size_t n, T scale) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> vs(scale);
    std::size_t i = 0;
    T s = 0;
    if (n >= W) {
        batch<T> acc(T(0));
        for (; i + W <= n; i += W)
            acc = xsimd::fma(batch<T>::load_unaligned(w + i), xsimd::exp(batch<T>::load_unaligned(a + i) * vs), acc);
        s = detail::lanes_sum(acc);
    }
    for (; i < n; ++i) s += w[i] * std::exp(scale * a[i]);
    return s;
}

/// out[i] = max(0, a + b[i] + c[i]) (squared distances from norms and -2 x.y).
template <class T>
void add_norms_clamp(T* c, const T* b, T a, std::size_t n) noexcept {
    constexpr std::size_t W = width<T>;
    const batch<T> va(a), zero(T(0));
    std::size_t i = 0;
    for (; i + W <= n; i += W)
        xsimd::max(batch<T>::load_unaligned(c + i) + batch<T>::load_unaligned(b + i) + va, zero).store_unaligned(c + i);
    for (; i < n; ++i) c[i] = std::max(T(0), c[i] + b[i] + a);
}

}  // namespace oneclass::simd
