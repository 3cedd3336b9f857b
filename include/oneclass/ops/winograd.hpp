// oneclass/ops/winograd.hpp - Winograd F(2x2, 3x3) convolution for 3x3 stride-1 layers
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//
// Each 2x2 output tile is Y = A^T [ (G g G^T) .* (B^T d B) ] A over a 4x4 input tile d: 16
// multiplies per tile and channel pair instead of 36 (2.25x fewer). The 16 element-wise products
// summed over channels are 16 GEMMs of (K x C) by (C x tiles), so the bulk of the work still runs
// in the BLAS micro-kernel. The backward-data pass of a 3x3 stride-1 convolution is itself such a
// convolution (of dy with the flipped, channel-transposed filter), so it uses the same routine.
// Results differ from im2col only by float rounding (tested against the direct reference).
#pragma once

#include <oneclass/ops/conv.hpp>

#include <algorithm>
#include <vector>

namespace oneclass::ops {

/// Whether the Winograd path applies to this convolution (3x3, stride 1, padding <= 2).
inline bool winograd_applies(const conv_shape& g) { return g.R == 3 && g.S == 3 && g.stride == 1 && g.pad <= 2; }

namespace detail {
/// U[xi][k][c] = (G w_kc G^T)[xi], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
template <class T>
void winograd_filter_transform(const T* w, std::size_t K, std::size_t C, T* U) {
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t c = 0; c < C; ++c) {
            const T* g = w + (k * C + c) * 9;
            T t[4][3];  // G g
            for (int j = 0; j < 3; ++j) {
                t[0][j] = g[j];
                t[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; ++i) {
                const T u[4] = {t[i][0], T(0.5) * (t[i][0] + t[i][1] + t[i][2]), T(0.5) * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (int j = 0; j < 4; ++j) U[(std::size_t(i * 4 + j) * K + k) * C + c] = u[j];
            }
        }
}
/// V[xi][c][t] = (B^T d B)[xi] for the 4x4 input tiles d of images n0 .. n0 + nb (t = image x
/// tile), B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Per tile row: the vertical transform runs
/// over whole (zero-padded) rows, the horizontal one over the tiles of the row; both are
/// contiguous loops the compiler vectorises. `rows` is scratch.
template <class T>
void winograd_input_transform(const T* x, const conv_shape& g, std::size_t n0, std::size_t nb, std::size_t th,
                              std::size_t tw, T* V, std::vector<T>& rows) {
    const std::size_t C = g.C, tiles = th * tw, T_ = nb * tiles;
    const std::size_t Wp = 2 * tw + 2, Hp = 2 * th + 2;  // padded plane covering every tile
    rows.resize(std::max(rows.size(), Hp * Wp + 4 * Wp));
    T* plane = rows.data();
    T* t = plane + Hp * Wp;  // B^T d for one tile row, 4 rows
    for (std::size_t j = 0; j < nb; ++j)
        for (std::size_t c = 0; c < C; ++c) {
            const T* xc = x + ((n0 + j) * C + c) * g.H * g.W;
            std::fill_n(plane, Hp * Wp, T(0));
            const std::size_t n_rows = std::min(g.H, Hp - g.pad), n_cols = std::min(g.W, Wp - g.pad);
            for (std::size_t h = 0; h < n_rows; ++h) std::copy_n(xc + h * g.W, n_cols, plane + (h + g.pad) * Wp + g.pad);
            for (std::size_t a = 0; a < th; ++a) {
                const T* d = plane + 2 * a * Wp;
                for (std::size_t i = 0; i < Wp; ++i) {
                    t[i] = d[i] - d[2 * Wp + i];
                    t[Wp + i] = d[Wp + i] + d[2 * Wp + i];
                    t[2 * Wp + i] = d[2 * Wp + i] - d[Wp + i];
                    t[3 * Wp + i] = d[Wp + i] - d[3 * Wp + i];
                }
                const std::size_t col0 = j * tiles + a * tw;
                for (std::size_t r = 0; r < 4; ++r) {
                    const T* tr = t + r * Wp;
                    T* v0 = V + (std::size_t(r * 4 + 0) * C + c) * T_ + col0;
                    T* v1 = V + (std::size_t(r * 4 + 1) * C + c) * T_ + col0;
                    T* v2 = V + (std::size_t(r * 4 + 2) * C + c) * T_ + col0;
                    T* v3 = V + (std::size_t(r * 4 + 3) * C + c) * T_ + col0;
                    for (std::size_t bq = 0; bq < tw; ++bq) {
                        const T e0 = tr[2 * bq], e1 = tr[2 * bq + 1], e2 = tr[2 * bq + 2], e3 = tr[2 * bq + 3];
                        v0[bq] = e0 - e2;
                        v1[bq] = e1 + e2;
                        v2[bq] = e2 - e1;
                        v3[bq] = e1 - e3;
                    }
                }
            }
        }
}
}  // namespace detail

/// y = conv(x, w) (+= into y when accumulate) for 3x3 stride-1 convolutions with any padding.
template <class T>
void conv2d_winograd(const T* x, const T* w, const conv_shape& g, T* y, bool accumulate) {
    const std::size_t P = g.P(), Q = g.Q(), th = (P + 1) / 2, tw = (Q + 1) / 2, tiles = th * tw;
    const std::size_t K = g.K, C = g.C;
    std::vector<T> U(16 * K * C);
    detail::winograd_filter_transform(w, K, C, U.data());
    // images per GEMM so that n = images x tiles >= 256, fixed by the shape (deterministic)
    const std::size_t G = std::clamp<std::size_t>((256 + tiles - 1) / tiles, 1, std::max<std::size_t>(g.N, 1));
    const std::size_t groups = (g.N + G - 1) / G;
    struct scratch {
        std::vector<T> V, M, rows;
    };
    tbb::enumerable_thread_specific<scratch> tls;
    parallel::for_chunks(0, groups, 1, [&](std::size_t glo, std::size_t ghi) {
        scratch& sc = tls.local();
        for (std::size_t gi = glo; gi < ghi; ++gi) {
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0, T_ = nb * tiles;
            sc.V.resize(16 * C * T_);
            sc.M.resize(16 * K * T_);
            ONECLASS_PROFILE_SCOPE("winograd.group");  // transforms + GEMMs of one image group
            detail::winograd_input_transform(x, g, n0, nb, th, tw, sc.V.data(), sc.rows);
            {
            ONECLASS_PROFILE_SCOPE("winograd.gemm");
            for (std::size_t xi = 0; xi < 16; ++xi)
                gemm_nn<T>(matrix_view<const T>(U.data() + xi * K * C, K, C), matrix_view<const T>(sc.V.data() + xi * C * T_, C, T_),
                           matrix_view<T>(sc.M.data() + xi * K * T_, K, T_), T(1), T(0));
            }
            // Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], per tile row over all its tiles; the last
            // row / column of odd sizes is cropped.
            sc.rows.resize(std::max<std::size_t>(sc.rows.size(), 8 * tw + 4 * tw));
            T* u = sc.rows.data();  // 8 rows of tw: (A^T M) for output rows 0, 1 and columns s = 0..3
            T* o = u + 8 * tw;      // 4 rows of tw: outputs (row 0 even/odd, row 1 even/odd)
            for (std::size_t j = 0; j < nb; ++j)
                for (std::size_t k = 0; k < K; ++k) {
                    T* yk = y + ((n0 + j) * K + k) * P * Q;
                    for (std::size_t a = 0; a < th; ++a) {
                        const std::size_t col0 = j * tiles + a * tw;
                        auto m = [&](int r, int s_) { return sc.M.data() + (std::size_t(r * 4 + s_) * K + k) * T_ + col0; };
                        for (int s_ = 0; s_ < 4; ++s_) {
                            const T *m0 = m(0, s_), *m1 = m(1, s_), *m2 = m(2, s_), *m3 = m(3, s_);
                            T* u0 = u + std::size_t(s_) * tw;
                            T* u1 = u + std::size_t(4 + s_) * tw;
                            for (std::size_t bq = 0; bq < tw; ++bq) {
                                u0[bq] = m0[bq] + m1[bq] + m2[bq];
                                u1[bq] = m1[bq] - m2[bq] - m3[bq];
                            }
                        }
                        for (std::size_t r = 0; r < 2; ++r) {
                            const std::size_t p = 2 * a + r;
                            if (p >= P) break;
                            const T* ur = u + r * 4 * tw;
                            T* ev = o;
                            T* od = o + tw;
                            for (std::size_t bq = 0; bq < tw; ++bq) {
                                ev[bq] = ur[bq] + ur[tw + bq] + ur[2 * tw + bq];
                                od[bq] = ur[tw + bq] - ur[2 * tw + bq] - ur[3 * tw + bq];
                            }
                            T* row = yk + p * Q;
                            if (accumulate) {
                                for (std::size_t bq = 0; bq < tw; ++bq) {
                                    row[2 * bq] += ev[bq];
                                    if (2 * bq + 1 < Q) row[2 * bq + 1] += od[bq];
                                }
                            } else {
                                for (std::size_t bq = 0; bq < tw; ++bq) {
                                    row[2 * bq] = ev[bq];
                                    if (2 * bq + 1 < Q) row[2 * bq + 1] = od[bq];
                                }
                            }
                        }
                    }
                }
        }
    });
}

/// dx += conv_transpose(dy, w) for 3x3 stride-1 convolutions: a Winograd convolution of dy with
/// w'[c][k] = rot180(w[k][c]) and padding 2 - pad.
template <class T>
void conv2d_backward_data_winograd(const T* dy, const T* w, const conv_shape& g, T* dx) {
    std::vector<T> wf(g.C * g.K * 9);
    for (std::size_t k = 0; k < g.K; ++k)
        for (std::size_t c = 0; c < g.C; ++c)
            for (std::size_t i = 0; i < 9; ++i) wf[(c * g.K + k) * 9 + (8 - i)] = w[(k * g.C + c) * 9 + i];
    const conv_shape gt{g.N, g.K, g.P(), g.Q(), g.C, 3, 3, 1, 2 - g.pad};
    conv2d_winograd<T>(dy, wf.data(), gt, dx, true);
}

/// dw += d conv / d w for 3x3 stride-1 convolutions, in the Winograd domain: with V = B^T d B
/// the input tiles and E = A e A^T the 2x2 output-gradient tiles e lifted to 4x4 (A = [1 0; 1 1;
/// 1 -1; 0 -1], entries beyond the output are zero), dU[xi] = sum over tiles E[xi] V[xi]^T is 16
/// GEMMs (K x tiles) by (tiles x C), and dw = G^T dU G. Partial sums per image group are added in
/// group order, so the result does not depend on the thread count.
template <class T>
void conv2d_backward_weights_winograd(const T* x, const T* dy, const conv_shape& g, T* dw) {
    const std::size_t P = g.P(), Q = g.Q(), th = (P + 1) / 2, tw = (Q + 1) / 2, tiles = th * tw;
    const std::size_t K = g.K, C = g.C, KC = K * C;
    // images per group so that the GEMMs' inner dimension (images x tiles) is >= 1024
    const std::size_t G = std::clamp<std::size_t>((1024 + tiles - 1) / tiles, 1, std::max<std::size_t>(g.N, 1));
    const std::size_t groups = (g.N + G - 1) / G;
    std::vector<T> partial(groups * 16 * KC);
    struct scratch {
        std::vector<T> V, E, rows;
    };
    tbb::enumerable_thread_specific<scratch> tls;
    parallel::for_chunks(0, groups, 1, [&](std::size_t glo, std::size_t ghi) {
        scratch& sc = tls.local();
        for (std::size_t gi = glo; gi < ghi; ++gi) {
            ONECLASS_PROFILE_SCOPE("winograd.weights_group");
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0, T_ = nb * tiles;
            sc.V.resize(16 * C * T_);
            sc.E.resize(16 * K * T_);
            detail::winograd_input_transform(x, g, n0, nb, th, tw, sc.V.data(), sc.rows);
            // E = A e A^T per tile row: the vertical half over whole (zero-padded) rows, then the
            // horizontal half over the row's tiles, four contiguous output streams at a time
            const std::size_t W2 = 2 * tw;
            sc.rows.resize(std::max(sc.rows.size(), 6 * W2));
            T* e0 = sc.rows.data();  // the two gradient rows, zero-padded to 2 tw
            T* e1 = e0 + W2;
            T* cv = e1 + W2;         // A e: e0, e0 + e1, e0 - e1, -e1
            for (std::size_t j = 0; j < nb; ++j)
                for (std::size_t k = 0; k < K; ++k) {
                    const T* e = dy + ((n0 + j) * K + k) * P * Q;
                    for (std::size_t a = 0; a < th; ++a) {
                        std::fill_n(e0, 2 * W2, T(0));
                        std::copy_n(e + 2 * a * Q, Q, e0);
                        if (2 * a + 1 < P) std::copy_n(e + (2 * a + 1) * Q, Q, e1);
                        for (std::size_t i = 0; i < W2; ++i) {
                            cv[i] = e0[i];
                            cv[W2 + i] = e0[i] + e1[i];
                            cv[2 * W2 + i] = e0[i] - e1[i];
                            cv[3 * W2 + i] = -e1[i];
                        }
                        const std::size_t col0 = j * tiles + a * tw;
                        for (std::size_t r = 0; r < 4; ++r) {
                            const T* c = cv + r * W2;
                            T* o0 = sc.E.data() + ((r * 4 + 0) * K + k) * T_ + col0;
                            T* o1 = sc.E.data() + ((r * 4 + 1) * K + k) * T_ + col0;
                            T* o2 = sc.E.data() + ((r * 4 + 2) * K + k) * T_ + col0;
                            T* o3 = sc.E.data() + ((r * 4 + 3) * K + k) * T_ + col0;
                            for (std::size_t bq = 0; bq < tw; ++bq) {
                                const T x0 = c[2 * bq], x1 = c[2 * bq + 1];
                                o0[bq] = x0;
                                o1[bq] = x0 + x1;
                                o2[bq] = x0 - x1;
                                o3[bq] = -x1;
                            }
                        }
                    }
                }
            for (std::size_t xi = 0; xi < 16; ++xi)
                gemm_nt<T>(matrix_view<const T>(sc.E.data() + xi * K * T_, K, T_),
                           matrix_view<const T>(sc.V.data() + xi * C * T_, C, T_),
                           matrix_view<T>(partial.data() + (gi * 16 + xi) * KC, K, C), T(1), T(0));
        }
    });
    for (std::size_t gi = 1; gi < groups; ++gi)
        for (std::size_t i = 0; i < 16 * KC; ++i) partial[i] += partial[gi * 16 * KC + i];
    // dw = G^T dU G, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
    static constexpr T Gm[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (std::size_t k = 0; k < K; ++k)
        for (std::size_t c = 0; c < C; ++c) {
            T u[4][4];
            for (int a = 0; a < 4; ++a)
                for (int b = 0; b < 4; ++b) u[a][b] = partial[(std::size_t(a * 4 + b) * K + k) * C + c];
            T t[3][4];  // G^T dU
            for (int i = 0; i < 3; ++i)
                for (int b = 0; b < 4; ++b) t[i][b] = Gm[0][i] * u[0][b] + Gm[1][i] * u[1][b] + Gm[2][i] * u[2][b] + Gm[3][i] * u[3][b];
            T* out = dw + (k * C + c) * 9;
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j)
                    out[i * 3 + j] += t[i][0] * Gm[0][j] + t[i][1] * Gm[1][j] + t[i][2] * Gm[2][j] + t[i][3] * Gm[3][j];
        }
}

}  // namespace oneclass::ops
