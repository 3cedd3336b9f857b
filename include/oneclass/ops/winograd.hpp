// oneclass/ops/winograd.hpp - Winograd F(m x m, 3 x 3) convolution for 3x3 stride-1 layers, in
// all three passes (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//
// Each m x m output tile is Y = A^T [ (G g G^T) .* (B^T d B) ] A over an a x a input tile d
// (a = m + 2): a^2 multiplies per tile and channel pair instead of 9 m^2, i.e. 2.25x fewer for
// F(2x2) (16 vs 36) and 4x fewer for F(4x4) (36 vs 144). The a^2 element-wise products summed
// over channels are a^2 GEMMs of (K x C) by (C x tiles), so the bulk of the work runs in the BLAS
// micro-kernel. F(4x4) also moves less data per output (36 transformed values per 16 outputs
// against 16 per 4) but its transforms have larger constants (up to 8 and 1/24), so its float
// rounding is about 10x that of F(2x2); both are tested against the direct reference.
//
//   forward          y = conv(x, w)
//   backward-data    dx = conv(dy, rot180(w) with channels swapped), padding 2 - pad: the same routine
//   backward-weights dU[xi] = sum over tiles (A e A^T)[xi] (B^T d B)[xi]^T, then dw = G^T dU G
//
// Transforms run per tile row: the vertical half over whole zero-padded rows (contiguous loops),
// the horizontal half over the row's tiles, with the constant matrices unrolled at compile time.
// Work is split into fixed image groups and partial weight gradients are added in group order, so
// results do not depend on the thread count.
#pragma once

#include <oneclass/ops/conv.hpp>

#include <algorithm>
#include <vector>

namespace oneclass::ops {

/// Whether the Winograd path applies to this convolution (3x3, stride 1, padding <= 2).
inline bool winograd_applies(const conv_shape& g) { return g.R == 3 && g.S == 3 && g.stride == 1 && g.pad <= 2; }

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

/// Tiles of a P x Q output: th x tw of M x M.
template <std::size_t M>
struct winograd_tiling {
    std::size_t th, tw;
    explicit winograd_tiling(const conv_shape& g) : th((g.P() + M - 1) / M), tw((g.Q() + M - 1) / M) {}
    std::size_t tiles() const { return th * tw; }
};

/// U[xi][k][c] = (G w_kc G^T)[xi].
template <std::size_t M, class T>
void winograd_filter_transform(const T* w, std::size_t K, std::size_t C, T* U) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t c = 0; c < C; ++c) {
            const T* g = w + (k * C + c) * 9;
            T t[A][3];  // G g
            for (std::size_t i = 0; i < A; ++i)
                for (std::size_t j = 0; j < 3; ++j)
                    t[i][j] = T(W::G[i][0]) * g[j] + T(W::G[i][1]) * g[3 + j] + T(W::G[i][2]) * g[6 + j];
            for (std::size_t i = 0; i < A; ++i)
                for (std::size_t j = 0; j < A; ++j)
                    U[((i * A + j) * K + k) * C + c] = t[i][0] * T(W::G[j][0]) + t[i][1] * T(W::G[j][1]) + t[i][2] * T(W::G[j][2]);
        }
}

/// V[xi][c][t] = (B^T d B)[xi] for the a x a input tiles d of images n0 .. n0 + nb (t = image x
/// tile). `rows` is scratch.
template <std::size_t M, class T>
void winograd_input_transform(const T* x, const conv_shape& g, std::size_t n0, std::size_t nb,
                              const winograd_tiling<M>& tl, T* V, scratch_vec<T>& rows) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    const std::size_t C = g.C, tw = tl.tw, tiles = tl.tiles(), T_ = nb * tiles;
    const std::size_t Wp = M * tw + 2, Hp = M * tl.th + 2;  // padded plane covering every tile
    rows.resize(std::max(rows.size(), Hp * Wp + A * Wp));
    T* plane = rows.data();
    T* t = plane + Hp * Wp;  // B^T d for one tile row: A rows of Wp
    for (std::size_t j = 0; j < nb; ++j)
        for (std::size_t c = 0; c < C; ++c) {
            const T* xc = x + ((n0 + j) * C + c) * g.H * g.W;
            std::fill_n(plane, Hp * Wp, T(0));
            const std::size_t n_rows = std::min(g.H, Hp - g.pad), n_cols = std::min(g.W, Wp - g.pad);
            for (std::size_t h = 0; h < n_rows; ++h) std::copy_n(xc + h * g.W, n_cols, plane + (h + g.pad) * Wp + g.pad);
            for (std::size_t ta = 0; ta < tl.th; ++ta) {
                const T* d = plane + M * ta * Wp;
#pragma GCC unroll 8
                for (std::size_t r = 0; r < A; ++r) {  // (B^T d)[r] = sum_q BT[r][q] d[q]
                    T* tr = t + r * Wp;
                    for (std::size_t i = 0; i < Wp; ++i) {
                        T acc = 0;
#pragma GCC unroll 8
                        for (std::size_t q = 0; q < A; ++q)
                            if (W::BT[r][q] != 0) acc += T(W::BT[r][q]) * d[q * Wp + i];
                        tr[i] = acc;
                    }
                }
                const std::size_t col0 = j * tiles + ta * tw;
                for (std::size_t r = 0; r < A; ++r) {
                    const T* tr = t + r * Wp;
                    T* v = V + ((r * A) * C + c) * T_ + col0;  // xi = r * A + s at stride C * T_
#pragma GCC unroll 8
                    for (std::size_t s = 0; s < A; ++s) {
                        T* vs = v + s * C * T_;
                        for (std::size_t bq = 0; bq < tw; ++bq) {
                            const T* e = tr + M * bq;
                            T acc = 0;
#pragma GCC unroll 8
                            for (std::size_t q = 0; q < A; ++q)
                                if (W::BT[s][q] != 0) acc += T(W::BT[s][q]) * e[q];
                            vs[bq] = acc;
                        }
                    }
                }
            }
        }
}

/// y (+)= A^T Mt A for every tile of images n0 .. n0 + nb, cropped to P x Q.
template <std::size_t M, class T>
void winograd_output_transform(const T* Mt, const conv_shape& g, std::size_t n0, std::size_t nb,
                               const winograd_tiling<M>& tl, T* y, bool accumulate, scratch_vec<T>& rows) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    const std::size_t K = g.K, P = g.P(), Q = g.Q(), tw = tl.tw, tiles = tl.tiles(), T_ = nb * tiles;
    rows.resize(std::max(rows.size(), M * A * tw + M * tw));
    T* u = rows.data();     // (A^T Mt) rows r' = 0..M-1, columns s = 0..A-1, each tw long
    T* o = u + M * A * tw;  // outputs of one row r': M columns q', each tw long
    const std::size_t full = std::min(tw, Q / M);  // tiles that lie wholly inside the Q columns
    for (std::size_t j = 0; j < nb; ++j)
        for (std::size_t k = 0; k < K; ++k) {
            T* yk = y + ((n0 + j) * K + k) * P * Q;
            for (std::size_t ta = 0; ta < tl.th; ++ta) {
                const T* m = Mt + k * T_ + j * tiles + ta * tw;  // element xi at m + xi * K * T_
                const std::size_t xs = K * T_;
#pragma GCC unroll 8
                for (std::size_t s = 0; s < A; ++s)
#pragma GCC unroll 4
                    for (std::size_t rp = 0; rp < M; ++rp) {
                        T* ur = u + (rp * A + s) * tw;
                        for (std::size_t bq = 0; bq < tw; ++bq) {
                            T acc = 0;
#pragma GCC unroll 8
                            for (std::size_t r = 0; r < A; ++r)
                                if (W::AT[rp][r] != 0) acc += T(W::AT[rp][r]) * m[(r * A + s) * xs + bq];
                            ur[bq] = acc;
                        }
                    }
                for (std::size_t rp = 0; rp < M; ++rp) {
                    const std::size_t p = M * ta + rp;
                    if (p >= P) break;
                    const T* urow = u + rp * A * tw;
#pragma GCC unroll 4
                    for (std::size_t qp = 0; qp < M; ++qp) {
                        T* oq = o + qp * tw;
                        for (std::size_t bq = 0; bq < tw; ++bq) {
                            T acc = 0;
#pragma GCC unroll 8
                            for (std::size_t s2 = 0; s2 < A; ++s2)
                                if (W::AT[qp][s2] != 0) acc += T(W::AT[qp][s2]) * urow[s2 * tw + bq];
                            oq[bq] = acc;
                        }
                    }
                    T* row = yk + p * Q;
                    if (accumulate) {
                        for (std::size_t bq = 0; bq < full; ++bq)
#pragma GCC unroll 4
                            for (std::size_t qp = 0; qp < M; ++qp) row[M * bq + qp] += o[qp * tw + bq];
                    } else {
                        for (std::size_t bq = 0; bq < full; ++bq)
#pragma GCC unroll 4
                            for (std::size_t qp = 0; qp < M; ++qp) row[M * bq + qp] = o[qp * tw + bq];
                    }
                    for (std::size_t bq = full; bq < tw; ++bq)  // the cropped last tile
                        for (std::size_t qp = 0; qp < M && M * bq + qp < Q; ++qp) {
                            if (accumulate) row[M * bq + qp] += o[qp * tw + bq];
                            else row[M * bq + qp] = o[qp * tw + bq];
                        }
                }
            }
        }
}

/// E[xi][k][t] = (A e A^T)[xi] for the M x M output-gradient tiles e (zero beyond P x Q).
template <std::size_t M, class T>
void winograd_gradient_transform(const T* dy, const conv_shape& g, std::size_t n0, std::size_t nb,
                                 const winograd_tiling<M>& tl, T* E, scratch_vec<T>& rows) {
    using W = winograd_matrices<M>;
    constexpr std::size_t A = W::a;
    const std::size_t K = g.K, P = g.P(), Q = g.Q(), tw = tl.tw, tiles = tl.tiles(), T_ = nb * tiles;
    const std::size_t Wm = M * tw;
    rows.resize(std::max(rows.size(), M * Wm + A * Wm));
    T* e = rows.data();       // M gradient rows, zero-padded to M tw
    T* cv = e + M * Wm;       // A e: A rows
    for (std::size_t j = 0; j < nb; ++j)
        for (std::size_t k = 0; k < K; ++k) {
            const T* dk = dy + ((n0 + j) * K + k) * P * Q;
            for (std::size_t ta = 0; ta < tl.th; ++ta) {
                std::fill_n(e, M * Wm, T(0));
                for (std::size_t rp = 0; rp < M && M * ta + rp < P; ++rp) std::copy_n(dk + (M * ta + rp) * Q, Q, e + rp * Wm);
#pragma GCC unroll 8
                for (std::size_t r = 0; r < A; ++r) {  // (A e)[r] = sum_r' AT[r'][r] e[r']
                    T* cr = cv + r * Wm;
                    std::fill_n(cr, Wm, T(0));
#pragma GCC unroll 8
                    for (std::size_t rp = 0; rp < M; ++rp) {
                        if (W::AT[rp][r] == 0) continue;
                        const T coef = T(W::AT[rp][r]);
                        for (std::size_t i = 0; i < Wm; ++i) cr[i] += coef * e[rp * Wm + i];
                    }
                }
                const std::size_t col0 = j * tiles + ta * tw;
                for (std::size_t r = 0; r < A; ++r) {
                    const T* cr = cv + r * Wm;
#pragma GCC unroll 8
                    for (std::size_t s = 0; s < A; ++s) {
                        T* out = E + ((r * A + s) * K + k) * T_ + col0;
                        for (std::size_t bq = 0; bq < tw; ++bq) {
                            T acc = 0;
#pragma GCC unroll 8
                            for (std::size_t qp = 0; qp < M; ++qp)
                                if (W::AT[qp][s] != 0) acc += T(W::AT[qp][s]) * cr[M * bq + qp];
                            out[bq] = acc;
                        }
                    }
                }
            }
        }
}

/// Images per group: enough that a group's GEMMs see at least `min_cols` tile columns.
inline std::size_t winograd_group(std::size_t tiles, std::size_t N, std::size_t min_cols) {
    return std::clamp<std::size_t>((min_cols + tiles - 1) / tiles, 1, std::max<std::size_t>(N, 1));
}
}  // namespace detail

/// y = conv(x, w) (+= into y when accumulate) for 3x3 stride-1 convolutions with any padding,
/// by F(M x M, 3 x 3), M = 2 or 4.
template <std::size_t M = 2, class T>
void conv2d_winograd(const T* x, const T* w, const conv_shape& g, T* y, bool accumulate) {
    constexpr std::size_t A = detail::winograd_matrices<M>::a, A2 = A * A;
    const detail::winograd_tiling<M> tl(g);
    const std::size_t K = g.K, C = g.C, tiles = tl.tiles();
    transient_buffer<T> U(A2 * K * C);
    detail::winograd_filter_transform<M>(w, K, C, U.data());
    const std::size_t G = detail::winograd_group(tiles, g.N, 256), groups = (g.N + G - 1) / G;
    struct scratch {
        scratch_vec<T> V, Mt, rows;
    };
    parallel::for_chunks(0, groups, 1, [&](std::size_t glo, std::size_t ghi) {
        scratch& sc = thread_scratch<scratch>();  // kept between calls, never zero-filled
        for (std::size_t gi = glo; gi < ghi; ++gi) {
            ONECLASS_PROFILE_SCOPE("winograd.group");  // transforms + GEMMs of one image group
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0, T_ = nb * tiles;
            sc.V.resize(A2 * C * T_);
            sc.Mt.resize(A2 * K * T_);
            detail::winograd_input_transform<M>(x, g, n0, nb, tl, sc.V.data(), sc.rows);
            {
                ONECLASS_PROFILE_SCOPE("winograd.gemm");
                for (std::size_t xi = 0; xi < A2; ++xi)
                    gemm_nn<T>(matrix_view<const T>(U.data() + xi * K * C, K, C),
                               matrix_view<const T>(sc.V.data() + xi * C * T_, C, T_),
                               matrix_view<T>(sc.Mt.data() + xi * K * T_, K, T_), T(1), T(0));
            }
            detail::winograd_output_transform<M>(sc.Mt.data(), g, n0, nb, tl, y, accumulate, sc.rows);
        }
    });
}

/// dx += conv_transpose(dy, w) for 3x3 stride-1 convolutions: a Winograd convolution of dy with
/// w'[c][k] = rot180(w[k][c]) and padding 2 - pad.
template <std::size_t M = 2, class T>
void conv2d_backward_data_winograd(const T* dy, const T* w, const conv_shape& g, T* dx) {
    transient_buffer<T> wf(g.C * g.K * 9);
    for (std::size_t k = 0; k < g.K; ++k)
        for (std::size_t c = 0; c < g.C; ++c)
            for (std::size_t i = 0; i < 9; ++i) wf[(c * g.K + k) * 9 + (8 - i)] = w[(k * g.C + c) * 9 + i];
    const conv_shape gt{g.N, g.K, g.P(), g.Q(), g.C, 3, 3, 1, 2 - g.pad};
    conv2d_winograd<M, T>(dy, wf.data(), gt, dx, true);
}

/// dw += d conv / d w for 3x3 stride-1 convolutions, in the Winograd domain: with V = B^T d B
/// the input tiles and E = A e A^T the output-gradient tiles lifted to a x a, dU[xi] = sum over
/// tiles E[xi] V[xi]^T is a^2 GEMMs (K x tiles) by (tiles x C), and dw = G^T dU G.
template <std::size_t M = 2, class T>
void conv2d_backward_weights_winograd(const T* x, const T* dy, const conv_shape& g, T* dw) {
    using W = detail::winograd_matrices<M>;
    constexpr std::size_t A = W::a, A2 = A * A;
    const detail::winograd_tiling<M> tl(g);
    const std::size_t K = g.K, C = g.C, KC = K * C, tiles = tl.tiles();
    // the GEMMs' inner dimension is a group's tile count: at least 256 (measured: 1024 made the V / E buffers spill from L2 and lost to im2col)
    const std::size_t G = detail::winograd_group(tiles, g.N, 256), groups = (g.N + G - 1) / G;
    transient_buffer<T> partial(groups * A2 * KC);  // every element is written by a GEMM (beta = 0)
    struct scratch {
        scratch_vec<T> V, E, rows;
    };
    parallel::for_chunks(0, groups, 1, [&](std::size_t glo, std::size_t ghi) {
        scratch& sc = thread_scratch<scratch>();  // kept between calls, never zero-filled
        for (std::size_t gi = glo; gi < ghi; ++gi) {
            ONECLASS_PROFILE_SCOPE("winograd.weights_group");
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0, T_ = nb * tiles;
            sc.V.resize(A2 * C * T_);
            sc.E.resize(A2 * K * T_);
            detail::winograd_input_transform<M>(x, g, n0, nb, tl, sc.V.data(), sc.rows);
            detail::winograd_gradient_transform<M>(dy, g, n0, nb, tl, sc.E.data(), sc.rows);
            for (std::size_t xi = 0; xi < A2; ++xi)
                gemm_nt<T>(matrix_view<const T>(sc.E.data() + xi * K * T_, K, T_),
                           matrix_view<const T>(sc.V.data() + xi * C * T_, C, T_),
                           matrix_view<T>(partial.data() + (gi * A2 + xi) * KC, K, C), T(1), T(0));
        }
    });
    for (std::size_t gi = 1; gi < groups; ++gi)
        for (std::size_t i = 0; i < A2 * KC; ++i) partial[i] += partial[gi * A2 * KC + i];
    for (std::size_t k = 0; k < K; ++k)  // dw = G^T dU G
        for (std::size_t c = 0; c < C; ++c) {
            T t[3][A];  // G^T dU
            for (std::size_t i = 0; i < 3; ++i)
                for (std::size_t b = 0; b < A; ++b) {
                    T s = 0;
                    for (std::size_t a = 0; a < A; ++a) s += T(W::G[a][i]) * partial[((a * A + b) * K + k) * C + c];
                    t[i][b] = s;
                }
            T* out = dw + (k * C + c) * 9;
            for (std::size_t i = 0; i < 3; ++i)
                for (std::size_t j = 0; j < 3; ++j) {
                    T s = 0;
                    for (std::size_t b = 0; b < A; ++b) s += t[i][b] * T(W::G[b][j]);
                    out[i * 3 + j] += s;
                }
        }
}

}  // namespace oneclass::ops
