// oneclass/ops/conv.hpp - 2-D convolution kernels (NCHW) by im2col + GEMM, forward and both
// backward passes. ops/convolution.hpp picks between these and Winograd (ops/winograd.hpp).
//
// im2col + GEMM: for each image, the (C R S) x (P Q) patch matrix is built once and multiplied by
// the K x (C R S) weight matrix. Images run in parallel (TBB) with per-thread buffers; the weight
// gradient is summed over fixed groups of images in a fixed order, so it is bit-identical on any
// number of threads. The scalar twin in ops/ref/conv.hpp is the test oracle.
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/profile.hpp>
#include <oneclass/core/scratch.hpp>
#include <oneclass/ops/conv_shape.hpp>
#include <oneclass/linalg/gemm.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/simd/simd.hpp>

#include <oneclass/simd/avx2.hpp>
#include <oneclass/simd/avx512.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace oneclass::ops {

namespace detail {
/// Output columns q whose input column q*stride - pad + s lies inside [0, W): [q0, q1).
inline void valid_columns(const conv_shape& g, std::size_t s, std::size_t Q, std::size_t& q0, std::size_t& q1) {
    const std::ptrdiff_t off = std::ptrdiff_t(s) - std::ptrdiff_t(g.pad), st = std::ptrdiff_t(g.stride);
    // first q with q*st + off >= 0, and first q with q*st + off >= W
    const std::ptrdiff_t lo = off >= 0 ? 0 : (-off + st - 1) / st;
    const std::ptrdiff_t hi = std::ptrdiff_t(g.W) - off <= 0 ? 0 : (std::ptrdiff_t(g.W) - off + st - 1) / st;
    q0 = std::size_t(std::min<std::ptrdiff_t>(lo, std::ptrdiff_t(Q)));
    q1 = std::size_t(std::clamp<std::ptrdiff_t>(hi, std::ptrdiff_t(q0), std::ptrdiff_t(Q)));
}

/// col[(c r s), (p q)] = x[c, p*stride - pad + r, q*stride - pad + s] (0 outside). The valid
/// column range of each tap is computed once, so the inner loop is a branch-free copy.
template <class T>
void im2col_generic(const T* x, const conv_shape& g, T* col, std::size_t ld) {
    const std::size_t P = g.P(), Q = g.Q();
    for (std::size_t c = 0; c < g.C; ++c)
        for (std::size_t r = 0; r < g.R; ++r)
            for (std::size_t s = 0; s < g.S; ++s) {
                T* row = col + ((c * g.R + r) * g.S + s) * ld;
                std::size_t q0, q1;
                valid_columns(g, s, Q, q0, q1);
                const std::ptrdiff_t off = std::ptrdiff_t(s) - std::ptrdiff_t(g.pad);
                for (std::size_t p = 0; p < P; ++p) {
                    const std::ptrdiff_t h = std::ptrdiff_t(p * g.stride + r) - std::ptrdiff_t(g.pad);
                    T* out = row + p * Q;
                    if (h < 0 || h >= std::ptrdiff_t(g.H)) {
                        std::fill_n(out, Q, T(0));
                        continue;
                    }
                    const T* xin = x + (c * g.H + std::size_t(h)) * g.W;
                    std::fill(out, out + q0, T(0));
                    if (g.stride == 1) {
                        std::copy(xin + (std::ptrdiff_t(q0) + off), xin + (std::ptrdiff_t(q1) + off), out + q0);
                    } else if (g.stride == 2) {
                        if (q1 > q0) simd::take_even(xin + (std::ptrdiff_t(2 * q0) + off), q1 - q0, out + q0);
                    } else {
                        for (std::size_t q = q0; q < q1; ++q) out[q] = xin[std::ptrdiff_t(q * g.stride) + off];
                    }
                    std::fill(out + q1, out + Q, T(0));
                }
            }
}

/// im2col for the stride-2 layers of a ResNet (col2im_stride2_applies: 3 x 3 with padding 1, or
/// 1 x 1, on even maps). Each input row is split once into its even and odd columns, straight
/// into the patch rows of the middle taps (r = 1 from the even rows 2p, r = 2 from the odd rows
/// 2p + 1; s = 1 the even columns, s = 2 the odd ones); the other five taps are those rows
/// shifted as whole P Q runs: r = 0 by one map row (row 2p - 1 is row 2(p - 1) + 1), s = 0 by one
/// position with the first of every row zeroed (column 2q - 1 is the odd column of q - 1). The
/// generic loop copied 4 to 16 strided values per tap and row, 31% of small.down3's and down4's
/// weight gradient on AVX2.
template <class T>
void im2col_stride2(const T* x, const conv_shape& g, T* col, std::size_t ld) {
    const std::size_t P = g.P(), Q = g.Q(), PQ = P * Q, W = g.W;
    for (std::size_t c = 0; c < g.C; ++c) {
        const T* xc = x + c * g.H * W;
        if (g.R == 1) {
            for (std::size_t p = 0; p < P; ++p) simd::take_even(xc + 2 * p * W, Q, col + c * ld + p * Q);
            continue;
        }
        const auto row = [&](std::size_t r, std::size_t s) { return col + ((c * 3 + r) * 3 + s) * ld; };
        for (std::size_t p = 0; p < P; ++p) {
            simd::deinterleave2(xc + 2 * p * W, Q, row(1, 1) + p * Q, row(1, 2) + p * Q);
            simd::deinterleave2(xc + (2 * p + 1) * W, Q, row(2, 1) + p * Q, row(2, 2) + p * Q);
        }
        for (std::size_t s = 1; s < 3; ++s) {
            std::fill_n(row(0, s), Q, T(0));
            std::copy_n(row(2, s), PQ - Q, row(0, s) + Q);
        }
        for (std::size_t r = 0; r < 3; ++r) {
            T* d = row(r, 0);
            std::copy_n(row(r, 2), PQ - 1, d + 1);
            for (std::size_t p = 0; p < P; ++p) d[p * Q] = T(0);
        }
    }
}

/// dx[c, h, w] += col[(c r s), (p q)] over all taps that read (h, w).
template <class T>
void col2im_add(const T* col, const conv_shape& g, T* dx, std::size_t ld) {
    const std::size_t P = g.P(), Q = g.Q();
    for (std::size_t c = 0; c < g.C; ++c)
        for (std::size_t r = 0; r < g.R; ++r)
            for (std::size_t s = 0; s < g.S; ++s) {
                const T* row = col + ((c * g.R + r) * g.S + s) * ld;
                std::size_t q0, q1;
                valid_columns(g, s, Q, q0, q1);
                const std::ptrdiff_t off = std::ptrdiff_t(s) - std::ptrdiff_t(g.pad);
                for (std::size_t p = 0; p < P; ++p) {
                    const std::ptrdiff_t h = std::ptrdiff_t(p * g.stride + r) - std::ptrdiff_t(g.pad);
                    if (h < 0 || h >= std::ptrdiff_t(g.H)) continue;
                    T* dxin = dx + (c * g.H + std::size_t(h)) * g.W;
                    const T* in = row + p * Q;
                    if (g.stride == 1) {
                        T* d = dxin + (std::ptrdiff_t(q0) + off);
                        for (std::size_t q = q0; q < q1; ++q) d[q - q0] += in[q];
                    } else {
                        for (std::size_t q = q0; q < q1; ++q) dxin[std::ptrdiff_t(q * g.stride) + off] += in[q];
                    }
                }
            }
}

/// col2im for the stride-2 layers of a ResNet (3 x 3 with padding 1, or 1 x 1 without, on even
/// maps: H = 2P, W = 2Q): each dx row is written once, its even and odd columns interleaved
/// from the taps that reach it, so there is no zero fill and no per-tap read-modify-write pass
/// (the generic col2im_add scatters every tap with a stride-2 store). dx = (accumulate: +=).
inline bool col2im_stride2_applies(const conv_shape& g) {
    return g.stride == 2 && g.H == 2 * g.P() && g.W == 2 * g.Q() &&
           ((g.R == 3 && g.S == 3 && g.pad == 1) || (g.R == 1 && g.S == 1 && g.pad == 0));
}
#if defined(__AVX512F__)
/// Whether simd::avx512::col2im_stride2 takes the shape: P Q % 16 == 0 with Q = 4, Q = 8 or
/// Q % 16 == 0 (the ResNet maps).
inline bool col2im_stride2_vector_applies(const conv_shape& g) {
    const std::size_t Q = g.Q();
    return (g.P() * Q) % 16 == 0 && (Q == 4 || Q == 8 || Q % 16 == 0);
}
#endif

#if defined(__AVX2__)
/// Whether simd::avx2::col2im_stride2 takes the shape: P Q % 8 == 0, Q = 4 or Q % 8 == 0.
inline bool col2im_stride2_avx2_applies(const conv_shape& g) {
    const std::size_t Q = g.Q();
    return (g.P() * Q) % 8 == 0 && (Q == 4 || Q % 8 == 0);
}
inline void col2im_stride2_avx2(const float* col, const conv_shape& g, float* dx, std::size_t ld, bool accumulate) {
    simd::avx2::col2im_stride2(col, g.C, g.H, g.W, g.P(), g.Q(), g.R == 1, dx, ld, accumulate);
}
#endif

/// The scalar col2im_stride2 (the other builds and shapes, and the vector versions' twin).
template <class T>
void col2im_stride2_scalar(const T* col, const conv_shape& g, T* dx, std::size_t ld, bool accumulate) {
    const std::size_t P = g.P(), Q = g.Q(), W = g.W;
    // row[2q] = e[q], row[2q + 1] = o[q] (+ the row's old values when accumulating)
    const auto put = [&](T* row, std::size_t q, T e, T o) {
        if (accumulate) row[2 * q] += e, row[2 * q + 1] += o;
        else row[2 * q] = e, row[2 * q + 1] = o;
    };
    for (std::size_t c = 0; c < g.C; ++c) {
        if (g.R == 1) {  // 1 x 1: even rows and columns only
            const T* a = col + c * ld;
            for (std::size_t p = 0; p < P; ++p) {
                T* even = dx + (c * g.H + 2 * p) * W;
                T* odd = even + W;
                for (std::size_t q = 0; q < Q; ++q) put(even, q, a[p * Q + q], T(0));
                if (!accumulate) std::fill_n(odd, W, T(0));
            }
            continue;
        }
        // 3 x 3, padding 1: tap (r, s) of output (p, q) reads (2p + r - 1, 2q + s - 1), so column
        // 2q gets tap s = 1 of q, column 2q + 1 taps s = 2 of q and s = 0 of q + 1; row 2p gets
        // r = 1 of p, row 2p + 1 r = 2 of p and r = 0 of p + 1
        const auto tap = [&](std::size_t r, std::size_t s, std::size_t p) { return col + ((c * 3 + r) * 3 + s) * ld + p * Q; };
        for (std::size_t p = 0; p < P; ++p) {
            T* even = dx + (c * g.H + 2 * p) * W;
            T* odd = even + W;
            {
                const T *a0 = tap(1, 0, p), *a1 = tap(1, 1, p), *a2 = tap(1, 2, p);
                for (std::size_t q = 0; q + 1 < Q; ++q) put(even, q, a1[q], a2[q] + a0[q + 1]);
                put(even, Q - 1, a1[Q - 1], a2[Q - 1]);
            }
            const T *b0 = tap(2, 0, p), *b1 = tap(2, 1, p), *b2 = tap(2, 2, p);
            if (p + 1 < P) {
                const T *d0 = tap(0, 0, p + 1), *d1 = tap(0, 1, p + 1), *d2 = tap(0, 2, p + 1);
                for (std::size_t q = 0; q + 1 < Q; ++q)
                    put(odd, q, b1[q] + d1[q], (b2[q] + b0[q + 1]) + (d2[q] + d0[q + 1]));
                put(odd, Q - 1, b1[Q - 1] + d1[Q - 1], b2[Q - 1] + d2[Q - 1]);
            } else {
                for (std::size_t q = 0; q + 1 < Q; ++q) put(odd, q, b1[q], b2[q] + b0[q + 1]);
                put(odd, Q - 1, b1[Q - 1], b2[Q - 1]);
            }
        }
    }
}

template <class T>
void col2im_stride2(const T* col, const conv_shape& g, T* dx, std::size_t ld, bool accumulate) {
    if constexpr (std::is_same_v<T, float>) {
#if defined(__AVX512F__)
        if (col2im_stride2_vector_applies(g)) return simd::avx512::col2im_stride2(col, g.C, g.H, g.W, g.P(), g.Q(), g.R == 1, dx, ld, accumulate);
#endif
#if defined(__AVX2__)
        if (col2im_stride2_avx2_applies(g)) return col2im_stride2_avx2(col, g, dx, ld, accumulate);
#endif
    }
    col2im_stride2_scalar(col, g, dx, ld, accumulate);
}

template <class T>
void im2col(const T* x, const conv_shape& g, T* col, std::size_t ld) {
    if (col2im_stride2_applies(g) && g.R == 3) return im2col_stride2(x, g, col, ld);  // 1 x 1: the same row copies as the loop
    im2col_generic(x, g, col, ld);
}
}  // namespace detail

/// Images per GEMM: enough that the GEMM's n = images x P x Q is >= 256 (late ResNet stages
/// have P Q = 16; one image at a time would leave the GEMM starved). Depends on the shape only,
/// so the summation order, and hence the result, never depends on the number of threads.
inline std::size_t images_per_gemm(const conv_shape& g) {
    const std::size_t PQ = g.P() * g.Q();
    return std::clamp<std::size_t>((256 + PQ - 1) / PQ, 1, std::max<std::size_t>(g.N, 1));
}

namespace detail {
/// Runs f(group, n0, nb, ld, scratch) over the image groups [n0, n0 + nb) in parallel, with
/// per-thread scratch; ld = nb P Q is the row stride of the group's patch matrix.
template <class Scratch, class F>
void for_image_groups(const conv_shape& g, F&& f) {
    const std::size_t PQ = g.P() * g.Q(), G = images_per_gemm(g), groups = (g.N + G - 1) / G;
    parallel::for_chunks(0, groups, 1, [&](std::size_t glo, std::size_t ghi) {
        Scratch& sc = thread_scratch<Scratch>();  // kept between calls, never zero-filled
        for (std::size_t gi = glo; gi < ghi; ++gi) {
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0;
            f(gi, n0, nb, nb * PQ, sc);
        }
    });
}

/// The (C R S) x (nb P Q) patch matrix of images [n0, n0 + nb).
template <class T>
void im2col_images(const T* x, const conv_shape& g, std::size_t n0, std::size_t nb, scratch_vec<T>& col) {
    const std::size_t PQ = g.P() * g.Q(), ld = nb * PQ;
    col.resize(g.crs() * ld);
    for (std::size_t j = 0; j < nb; ++j) im2col(x + (n0 + j) * g.C * g.H * g.W, g, col.data() + j * PQ, ld);
}

/// dy of images [n0, n0 + nb) as one K x (nb P Q) matrix.
template <class T>
const T* gather_dy(const T* dy, const conv_shape& g, std::size_t n0, std::size_t nb, scratch_vec<T>& buf) {
    const std::size_t PQ = g.P() * g.Q();
    if (nb == 1) return dy + n0 * g.K * PQ;
    buf.resize(g.K * nb * PQ);
    for (std::size_t j = 0; j < nb; ++j)
        for (std::size_t k = 0; k < g.K; ++k)
            std::copy_n(dy + ((n0 + j) * g.K + k) * PQ, PQ, buf.data() + k * nb * PQ + j * PQ);
    return buf.data();
}

template <class T>
struct conv_scratch {
    scratch_vec<T> col, buf;
};
}  // namespace detail

/// y = conv(x, w) (+ bias per output channel if bias != nullptr).
template <class T>
void conv2d_forward_im2col(const T* x, const T* w, const T* bias, const conv_shape& g, T* y) {
    g.validate("conv2d");
    const std::size_t PQ = g.P() * g.Q(), CRS = g.crs();
    detail::for_image_groups<detail::conv_scratch<T>>(g, [&](std::size_t, std::size_t n0, std::size_t nb, std::size_t ld,
                                                             detail::conv_scratch<T>& sc) {
        detail::im2col_images(x, g, n0, nb, sc.col);
        T* out = y + n0 * g.K * PQ;  // one image: straight into y
        if (nb > 1) {
            sc.buf.resize(g.K * ld);
            out = sc.buf.data();
        }
        linalg::gemm_nn<T>(matrix_view<const T>(w, g.K, CRS), matrix_view<const T>(sc.col.data(), CRS, ld),
                   matrix_view<T>(out, g.K, ld), T(1), T(0));
        for (std::size_t j = 0; j < nb; ++j) {
            T* yn = y + (n0 + j) * g.K * PQ;
            for (std::size_t k = 0; k < g.K; ++k) {
                if (nb > 1) std::copy_n(out + k * ld + j * PQ, PQ, yn + k * PQ);
                if (bias)
                    for (std::size_t i = 0; i < PQ; ++i) yn[k * PQ + i] += bias[k];
            }
        }
    });
}

/// dx += conv_transpose(dy, w): the gradient with respect to the input (accumulate = false:
/// dx = ..., dx may hold garbage).
template <class T>
void conv2d_backward_data_im2col(const T* dy, const T* w, const conv_shape& g, T* dx, bool accumulate = true) {
    const std::size_t PQ = g.P() * g.Q(), CRS = g.crs();
    const bool stride2 = detail::col2im_stride2_applies(g);
    if (!accumulate && !stride2) std::fill_n(dx, g.N * g.C * g.H * g.W, T(0));  // col2im_add adds overlapping taps
    detail::for_image_groups<detail::conv_scratch<T>>(g, [&](std::size_t, std::size_t n0, std::size_t nb, std::size_t ld,
                                                             detail::conv_scratch<T>& sc) {
        const T* dyg = detail::gather_dy(dy, g, n0, nb, sc.buf);
        sc.col.resize(CRS * ld);
        linalg::gemm_tn<T>(matrix_view<const T>(w, g.K, CRS), matrix_view<const T>(dyg, g.K, ld),
                   matrix_view<T>(sc.col.data(), CRS, ld), T(1), T(0));
        for (std::size_t j = 0; j < nb; ++j) {
            T* dxn = dx + (n0 + j) * g.C * g.H * g.W;
            if (stride2) detail::col2im_stride2(sc.col.data() + j * PQ, g, dxn, ld, accumulate);
            else detail::col2im_add(sc.col.data() + j * PQ, g, dxn, ld);
        }
    });
}

/// dw += sum_n dy_n col_n^T and dbias += sum over n, p, q of dy (either may be nullptr: that
/// gradient is skipped; accumulate = false: = instead of +=). Images are summed in groups fixed by
/// the shape (images_per_gemm) and the groups in order: bit-identical on any number of threads.
template <class T>
void conv2d_backward_weights_im2col(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias, bool accumulate = true) {
    const std::size_t PQ = g.P() * g.Q(), CRS = g.crs(), KCRS = g.K * CRS;
    if (dw) {
        const std::size_t G = images_per_gemm(g), groups = (g.N + G - 1) / G;
        transient_buffer<T> partial(groups * KCRS);  // each group's block is written by a GEMM (beta = 0)
        detail::for_image_groups<detail::conv_scratch<T>>(g, [&](std::size_t gi, std::size_t n0, std::size_t nb, std::size_t ld,
                                                                 detail::conv_scratch<T>& sc) {
            detail::im2col_images(x, g, n0, nb, sc.col);
            const T* dyg = detail::gather_dy(dy, g, n0, nb, sc.buf);
            linalg::gemm_nt<T>(matrix_view<const T>(dyg, g.K, ld), matrix_view<const T>(sc.col.data(), CRS, ld),
                       matrix_view<T>(partial.data() + gi * KCRS, g.K, CRS), T(1), T(0));
        });
        if (!accumulate) std::fill_n(dw, KCRS, T(0));
        for (std::size_t gi = 0; gi < groups; ++gi)
            for (std::size_t i = 0; i < KCRS; ++i) dw[i] += partial[gi * KCRS + i];
    }
    if (dbias)
        for (std::size_t k = 0; k < g.K; ++k) {
            T s = 0;
            for (std::size_t n = 0; n < g.N; ++n)
                for (std::size_t i = 0; i < PQ; ++i) s += dy[(n * g.K + k) * PQ + i];
            dbias[k] = accumulate ? dbias[k] + s : s;
        }
}

}  // namespace oneclass::ops
