// oneclass/ops/winograd/transforms.hpp - the Winograd F(m x m, 3 x 3) algebra: when it applies,
// the transform matrices B^T, G, A^T and the lift, the compile-time unrolled sandwich L X R^T,
// the tiling of an output map, and the grouping of images (ops/winograd.hpp says how it is used).
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

}  // namespace oneclass::ops
