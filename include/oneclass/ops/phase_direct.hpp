// oneclass/ops/phase_direct.hpp - stride-2 convolutions as direct products on phase planes.
//
// A stride-2 layer reads its input at every other row and column. Split x into its four
// phases, x_pq[a][b] = x[2a + p][2b + q], and each tap (r, s) of a 3 x 3 / padding 1 filter reads
// one phase at a fixed shift of at most one row and one column: y[i][j] += w[r][s] x_pq[i + da]
// [j + db], with p = (r - 1) mod 2 and da = floor((r - 1) / 2) in {-1, 0} (the same for s). The
// phases are stored in a *frame*: each image's P x Q plane followed by one zero column and one
// zero row (row length ld = Q + 1), images one after the other, zero guards before and after.
// In the frame a shift is a constant offset of the linear index (da ld + db) for every output,
// across rows and images alike (a shifted read off the plane lands in a zero), so a block of
// NB consecutive frame positions reads each tap as NV contiguous vector loads: no gather, no
// patch matrix, no bounds tests. The price is the frame's zero row and column, computed and
// dropped: (P + 1)(Q + 1) / (P Q) more work (1.13x on 16 x 16 outputs, 1.27x on 8 x 8, 1.56x on
// 4 x 4), which is why `automatic` takes this only where bench_conv measured it faster.
//
// All three passes use the frame:
// - forward: y[k][o] = sum_(c, tap) w[k][c][tap] X[c][phase(tap)][o + shift(tap)], MR output
//   channels x NB positions in registers (the kernel is the Winograd one, reading through an
//   offset list instead of a packed panel);
// - backward-data: each phase of dx is a direct product of the framed dy with the taps of
//   that phase, dx_pq[c][o] = sum_(k, tap in pq) w[k][c][tap] dY[k][o - shift(tap)]; the four
//   phases of a block are interleaved into dx rows as they are stored (each dx value written once);
// - weight gradient: dw[k][c][tap] = sum_o dY[k][o] X[c][phase(tap)][o + shift(tap)], dot
//   products along the frame (its zeros in dY drop the frame's extra positions), MW x NW of them
//   in vector registers over chunks of the frame that stay in L2.
// Every output value is summed by one task in a fixed order, so the results do not depend on
// the number of threads. The direct double-precision twin is ops/ref/conv.hpp.
#pragma once

#include <oneclass/core/scratch.hpp>
#include <oneclass/ops/conv.hpp>
#include <oneclass/ops/winograd.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/simd/simd.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace oneclass::ops {

/// The layers this handles: stride 2, 3 x 3 with padding 1 or 1 x 1 without, even H and W (the
/// down-sampling convolutions and shortcuts of a ResNet).
inline bool phase_direct_applies(const conv_shape& g) {
    return g.stride == 2 && g.H % 2 == 0 && g.W % 2 == 0 && g.H >= 2 && g.W >= 2 &&
           ((g.R == 3 && g.S == 3 && g.pad == 1) || (g.R == 1 && g.S == 1 && g.pad == 0));
}

namespace detail {

/// Register blocking: MR channels x NV vectors of frame positions (as the Winograd kernel), and
/// for the weight gradient MW output channels x NW (input channel, tap) pairs of vector partial sums.
inline constexpr std::size_t phase_nv = 2;
#if defined(__AVX512F__)
inline constexpr std::size_t phase_mr = 8, phase_mw = 4, phase_nw = 6;
#else
inline constexpr std::size_t phase_mr = 6, phase_mw = 3, phase_nw = 4;
#endif

/// The frame of the P x Q phase planes of N images (see the file comment).
struct phase_frame {
    std::size_t P, Q, ld, F, guard, span, blocks, len;
    phase_frame(std::size_t N, std::size_t P_, std::size_t Q_, std::size_t NB)
        : P(P_), Q(Q_), ld(Q_ + 1), F((P_ + 1) * (Q_ + 1)), guard((Q_ + 2 + 15) / 16 * 16), span(N * F), blocks((span + NB - 1) / NB) {
        // the guard (>= the largest shift, ld + 1) is whole lines: unshifted rows load aligned
        // room for the last block's loads at the largest shift (ld + 1), rounded to whole lines
        len = (guard + blocks * NB + ld + 1 + 15) / 16 * 16;
    }
    /// Frame index (before the guard) of position (a, b) of image n.
    std::size_t at(std::size_t n, std::size_t a, std::size_t b) const { return n * F + a * ld + b; }
};

/// One tap of a stride-2 filter: its phase (p, q) and shift (da, db), from input row 2i + r - pad.
struct phase_tap {
    std::size_t phase;  // 2 p + q
    std::ptrdiff_t shift;
};
inline phase_tap tap_of(const conv_shape& g, const phase_frame& f, std::size_t r, std::size_t s) {
    const std::ptrdiff_t hr = std::ptrdiff_t(r) - std::ptrdiff_t(g.pad), hs = std::ptrdiff_t(s) - std::ptrdiff_t(g.pad);
    const std::ptrdiff_t p = hr & 1, q = hs & 1, da = (hr - p) / 2, db = (hs - q) / 2;
    return {std::size_t(p * 2 + q), da * std::ptrdiff_t(f.ld) + db};
}

/// Frames channel c of images [n0, n0 + f's N) of src ([N][C][H][W] planes) with `step` phases
/// per axis (`phases` = step^2, or 1 for the (0, 0) phase alone):
/// out[ph len + guard + at(n - n0, a, b)] = src[n][c][a step + p][b step + q], zeros elsewhere in
/// each of the phase rows of length len.
template <class T>
void frame_channel(const T* src, std::size_t n0, std::size_t C, std::size_t H, std::size_t W, std::size_t step,
                   const phase_frame& f, std::size_t phases, std::size_t c, T* out) {
    const std::size_t nb = f.span / f.F;
    for (std::size_t ph = 0; ph < phases; ++ph) {
        std::fill_n(out + ph * f.len, f.guard, T(0));
        std::fill(out + ph * f.len + f.guard + f.span, out + (ph + 1) * f.len, T(0));
    }
    for (std::size_t p = 0; p < (phases == 4 ? 2 : 1); ++p) {
        T* d0 = out + (p * 2) * f.len + f.guard;  // phase (p, 0); (p, 1) follows at + len
        for (std::size_t n = 0; n < nb; ++n) {
            const T* plane = src + ((n0 + n) * C + c) * H * W;
            T* d = d0 + n * f.F;
            for (std::size_t a = 0; a < f.P; ++a, d += f.ld) {
                const T* row = plane + (a * step + p) * W;
                if (step == 1) std::copy_n(row, f.Q, d);
                else if (phases == 4) {
                    simd::deinterleave2(row, f.Q, d, d + f.len);
                    d[f.len + f.Q] = T(0);
                } else
                    for (std::size_t b = 0; b < f.Q; ++b) d[b] = row[2 * b];
                d[f.Q] = T(0);
            }
            std::fill_n(d, f.ld, T(0));  // the zero row
            if (phases == 4) std::fill_n(d + f.len, f.ld, T(0));
        }
    }
}

/// Images per group: the group's framed rows (rows per image x F) stay within `budget` floats of
/// L2, and their number is a multiple of min_groups (where N allows: groups run in parallel, and
/// 7 groups on 2 threads would leave one idle an eighth of the time). Depends on the shape only.
inline std::size_t phase_group(std::size_t N, std::size_t rows, std::size_t F, std::size_t budget, std::size_t min_groups) {
    const std::size_t per = rows * F;
    std::size_t groups = std::max<std::size_t>((N * per + budget - 1) / budget, 1);
    groups = std::min(N, (groups + min_groups - 1) / min_groups * min_groups);
    return (N + groups - 1) / groups;
}

/// out[i][0..NB) = sum_e u[e][i] base[offs[e] + 0..NB) for MR rows: the Winograd kernel's
/// register blocking with each step's NV vectors loaded from an offset of `base`.
template <std::size_t MR, std::size_t NV, class T>
void phase_kernel(const T* __restrict u, const T* __restrict base, const std::size_t* __restrict offs, std::size_t E,
                  T* __restrict out) {
    panel_kernel<MR, NV>(u, [base, offs](std::size_t e) { return base + offs[e]; }, E, out, MR);
}

/// A run of a block's lanes that are consecutive valid positions of one plane row.
struct phase_run {
    std::size_t lane, count, n, a, b;
};
/// The runs of block [o0, o0 + NB) of the frame.
inline std::size_t phase_runs(const phase_frame& f, std::size_t N, std::size_t o0, std::size_t NB, phase_run* runs) {
    std::size_t m = 0;
    for (std::size_t l = 0; l < NB;) {
        const std::size_t o = o0 + l, n = o / f.F, a = (o % f.F) / f.ld, b = o % f.ld;
        if (n >= N) break;
        if (a >= f.P || b >= f.Q) {  // the zero column or row: skip to the next row's start
            l += f.ld - b;
            continue;
        }
        const std::size_t cnt = std::min(f.Q - b, NB - l);
        runs[m++] = {l, cnt, n, a, b};
        l += cnt;
    }
    return m;
}

/// Per-thread scratch, kept between calls: a group's framed operand(s) and a block's products.
template <class T>
struct phase_scratch {
    scratch_vec<T> X, D, out;
    std::vector<phase_run> runs;
    std::vector<std::size_t> offs;  // the group's offset list (its frame length varies)
};
/// The calling thread's: packed filter, offsets and partial sums, shared by the workers.
template <class T>
struct phase_call_scratch {
    scratch_vec<T> Wp, part;
    std::vector<std::size_t> offs;
};

/// offs[c RS + tap] = the framed input row of tap (r, s) of channel c at its shift, for a frame
/// with `phases` rows per channel.
inline void phase_input_offsets(const conv_shape& g, const phase_frame& f, std::size_t phases, std::size_t count,
                                std::vector<std::size_t>& offs) {
    const std::size_t RS = g.R * g.S, CRS = g.C * RS;
    offs.resize(count);
    for (std::size_t e = 0; e < count; ++e) {  // past CRS: repeat the last (callers drop those sums)
        const std::size_t ee = std::min(e, CRS - 1), c = ee / RS, r = (ee % RS) / g.S, s = ee % g.S;
        const phase_tap t = tap_of(g, f, r, s);
        offs[e] = std::size_t(std::ptrdiff_t((c * phases + t.phase) * f.len + f.guard) + t.shift);
    }
}

inline void phase_require(const conv_shape& g) {
    require(phase_direct_applies(g), "conv2d",
            "the phase-split convolution needs stride 2, a 3x3 / pad 1 or 1x1 / pad 0 kernel and even H and W, got ", g.R, "x",
            g.S, " stride ", g.stride, " pad ", g.pad, " on ", g.H, "x", g.W);
}

}  // namespace detail

/// y = conv(x, w) (+ bias) for phase_direct_applies shapes (checked). Image groups run in
/// parallel; each thread frames its group's x into its own L2-resident buffer and multiplies it.
template <class T>
void conv2d_forward_phase(const T* x, const T* w, const T* bias, const conv_shape& g, T* y) {
    detail::phase_require(g);
    constexpr std::size_t MR = detail::phase_mr, NV = detail::phase_nv, NB = simd::width<T> * NV;
    const std::size_t K = g.K, C = g.C, CRS = g.crs(), KB = (K + MR - 1) / MR, P = g.P(), Q = g.Q(), PQ = P * Q;
    const std::size_t phases = g.R == 1 ? 1 : 4;
    const std::size_t G = detail::phase_group(g.N, C * phases, (P + 1) * (Q + 1), std::size_t(96) << 10, 4), groups = (g.N + G - 1) / G;
    auto& cs = thread_scratch<detail::phase_call_scratch<T>>();
    cs.Wp.resize(KB * CRS * MR);
    for (std::size_t kb = 0; kb < KB; ++kb)  // Wp[kb][e][i] = w[kb MR + i][e]
        for (std::size_t e = 0; e < CRS; ++e)
            for (std::size_t i = 0; i < MR; ++i) {
                const std::size_t k = kb * MR + i;
                cs.Wp[(kb * CRS + e) * MR + i] = k < K ? w[k * CRS + e] : T(0);
            }
    // the offsets depend on the frame's length: the same for all full groups, the last may differ
    const T* Wp = cs.Wp.data();
    parallel::for_chunks(0, groups, 1, [&](std::size_t lo, std::size_t hi) {
        auto& sc = thread_scratch<detail::phase_scratch<T>>();
        std::vector<std::size_t>& offs = sc.offs;
        sc.out.resize(MR * NB);
        sc.runs.resize(NB);
        for (std::size_t gi = lo; gi < hi; ++gi) {
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0;
            const detail::phase_frame f(nb, P, Q, NB);
            sc.X.resize(C * phases * f.len);
            for (std::size_t c = 0; c < C; ++c) detail::frame_channel(x, n0, C, g.H, g.W, 2, f, phases, c, sc.X.data() + c * phases * f.len);
            detail::phase_input_offsets(g, f, phases, CRS, offs);
            for (std::size_t blk = 0; blk < f.blocks; ++blk) {
                const std::size_t o0 = blk * NB, m = detail::phase_runs(f, nb, o0, NB, sc.runs.data());
                for (std::size_t kb = 0; kb < KB; ++kb) {
                    detail::phase_kernel<MR, NV>(Wp + kb * CRS * MR, sc.X.data() + o0, offs.data(), CRS, sc.out.data());
                    const std::size_t rows = std::min(MR, K - kb * MR);
                    for (std::size_t u = 0; u < m; ++u) {
                        const detail::phase_run& rn = sc.runs[u];
                        for (std::size_t i = 0; i < rows; ++i) {
                            const std::size_t k = kb * MR + i;
                            const T bk = bias ? bias[k] : T(0);
                            const T* src = sc.out.data() + i * NB + rn.lane;
                            T* dst = y + ((n0 + rn.n) * K + k) * PQ + rn.a * Q + rn.b;
                            for (std::size_t t = 0; t < rn.count; ++t) dst[t] = src[t] + bk;
                        }
                    }
                }
            }
        }
    });
}

/// dx += d conv / d x applied to dy (accumulate = false: dx = ..., into memory that need not be
/// zeroed first) for phase_direct_applies shapes (checked). Image groups run in parallel, as in
/// the forward pass, with dy framed.
template <class T>
void conv2d_backward_data_phase(const T* dy, const T* w, const conv_shape& g, T* dx, bool accumulate = true) {
    detail::phase_require(g);
    constexpr std::size_t MR = detail::phase_mr, NV = detail::phase_nv, NB = simd::width<T> * NV;
    const std::size_t K = g.K, C = g.C, R = g.R, S = g.S, RS = R * S, CB = (C + MR - 1) / MR, H = g.H, W = g.W;
    const std::size_t P = g.P(), Q = g.Q();
    const std::size_t G = detail::phase_group(g.N, K, (P + 1) * (Q + 1), std::size_t(96) << 10, 4), groups = (g.N + G - 1) / G;
    // each phase's taps; Wp[phase][cb][(k, tap)][i] = w[k][cb MR + i][tap]
    std::size_t first[5] = {0, 0, 0, 0, 0};
    struct tap_list {  // at most 9 taps per phase: no allocation
        std::size_t v[9], n = 0;
        void push_back(std::size_t x) { v[n++] = x; }
        std::size_t size() const { return n; }
        std::size_t operator[](std::size_t i) const { return v[i]; }
    } taps[4];
    {
        const detail::phase_frame f0(1, P, Q, NB);
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t s = 0; s < S; ++s) taps[detail::tap_of(g, f0, r, s).phase].push_back(r * S + s);
    }
    for (std::size_t ph = 0; ph < 4; ++ph) first[ph + 1] = first[ph] + K * taps[ph].size();
    auto& cs = thread_scratch<detail::phase_call_scratch<T>>();
    cs.Wp.resize(CB * first[4] * MR);
    for (std::size_t ph = 0; ph < 4; ++ph) {
        const std::size_t E = K * taps[ph].size();
        for (std::size_t k = 0; k < K; ++k)
            for (std::size_t t = 0; t < taps[ph].size(); ++t)
                for (std::size_t cb = 0; cb < CB; ++cb)
                    for (std::size_t i = 0; i < MR; ++i) {
                        const std::size_t c = cb * MR + i, e = k * taps[ph].size() + t;
                        cs.Wp[(first[ph] * CB + cb * E + e) * MR + i] = c < C ? w[(k * C + c) * RS + taps[ph][t]] : T(0);
                    }
    }
    const T* Wp = cs.Wp.data();
    parallel::for_chunks(0, groups, 1, [&](std::size_t lo, std::size_t hi) {
        auto& sc = thread_scratch<detail::phase_scratch<T>>();
        std::vector<std::size_t>& offs = sc.offs;
        offs.resize(first[4]);
        sc.out.resize(4 * MR * NB);
        sc.runs.resize(NB);
        T* out = sc.out.data();
        for (std::size_t gi = lo; gi < hi; ++gi) {
            const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0;
            const detail::phase_frame f(nb, P, Q, NB);
            sc.D.resize(K * f.len);
            for (std::size_t k = 0; k < K; ++k) detail::frame_channel(dy, n0, K, P, Q, 1, f, 1, k, sc.D.data() + k * f.len);
            // dY row k at minus the tap's shift
            for (std::size_t ph = 0; ph < 4; ++ph)
                for (std::size_t k = 0; k < K; ++k)
                    for (std::size_t t = 0; t < taps[ph].size(); ++t) {
                        const detail::phase_tap tp = detail::tap_of(g, f, taps[ph][t] / S, taps[ph][t] % S);
                        offs[first[ph] + k * taps[ph].size() + t] = std::size_t(std::ptrdiff_t(k * f.len + f.guard) - tp.shift);
                    }
            const T* D = sc.D.data();
            for (std::size_t blk = 0; blk < f.blocks; ++blk) {
                const std::size_t o0 = blk * NB, m = detail::phase_runs(f, nb, o0, NB, sc.runs.data());
                for (std::size_t cb = 0; cb < CB; ++cb) {
                    for (std::size_t ph = 0; ph < 4; ++ph) {
                        const std::size_t E = first[ph + 1] - first[ph];
                        if (E == 0) continue;  // 1 x 1: only phase (0, 0) has a tap
                        detail::phase_kernel<MR, NV>(Wp + (first[ph] * CB + cb * E) * MR, D + o0, offs.data() + first[ph], E,
                                                     out + ph * MR * NB);
                    }
                    const std::size_t rows = std::min(MR, C - cb * MR);
                    for (std::size_t u = 0; u < m; ++u) {
                        const detail::phase_run& rn = sc.runs[u];
                        for (std::size_t i = 0; i < rows; ++i) {
                            T* even = dx + (((n0 + rn.n) * C + cb * MR + i) * H + 2 * rn.a) * W + 2 * rn.b;
                            T* odd = even + W;
                            const T* e0 = out + (0 * MR + i) * NB + rn.lane;
                            const T* e1 = out + (1 * MR + i) * NB + rn.lane;
                            const T* o0p = out + (2 * MR + i) * NB + rn.lane;
                            const T* o1 = out + (3 * MR + i) * NB + rn.lane;
                            if (R == 1) {
                                for (std::size_t t = 0; t < rn.count; ++t) {
                                    even[2 * t] = accumulate ? even[2 * t] + e0[t] : e0[t];
                                    if (!accumulate) even[2 * t + 1] = odd[2 * t] = odd[2 * t + 1] = T(0);
                                }
                            } else {
                                simd::interleave2(e0, e1, rn.count, even, accumulate);
                                simd::interleave2(o0p, o1, rn.count, odd, accumulate);
                            }
                        }
                    }
                }
            }
        }
    });
}

/// dw += d conv / d w (accumulate = false: dw = ...) for phase_direct_applies shapes (checked).
/// Image groups in order (their size depends on the shape only); in each, x and dy are framed
/// (in parallel over channels) and every MW x NW block of dw adds the group's dot products to its
/// vector partial sums, in frame order; the lanes are summed at the end. The same bits on any
/// number of threads.
template <class T>
void conv2d_backward_weights_phase(const T* x, const T* dy, const conv_shape& g, T* dw, bool accumulate = true) {
    detail::phase_require(g);
    using B = simd::batch<T>;
    constexpr std::size_t MW = detail::phase_mw, NW = detail::phase_nw, VW = B::size, NB = VW * detail::phase_nv;
    const std::size_t K = g.K, C = g.C, CRS = g.crs(), KB = (K + MW - 1) / MW, EB = (CRS + NW - 1) / NW, P = g.P(), Q = g.Q();
    const std::size_t phases = g.R == 1 ? 1 : 4;
    // groups as large as L2 allows (about 1.25 MB of frames): each group loads and stores every
    // block's partial sums once, which short frames (4 x 4 maps) would not repay
    const std::size_t G = detail::phase_group(g.N, C * phases + K, (P + 1) * (Q + 1), std::size_t(320) << 10, 1);
    const std::size_t groups = (g.N + G - 1) / G;
    auto& cs = thread_scratch<detail::phase_call_scratch<T>>();
    auto& sc = thread_scratch<detail::phase_scratch<T>>();  // the groups' frames, shared by the workers
    const std::size_t tasks = EB * KB;
    cs.part.resize(tasks * MW * NW * VW);
    T* part = cs.part.data();
    for (std::size_t gi = 0; gi < groups; ++gi) {
        const std::size_t n0 = gi * G, nb = std::min(g.N, n0 + G) - n0;
        const detail::phase_frame f(nb, P, Q, NB);
        sc.X.resize(C * phases * f.len);
        sc.D.resize(K * f.len);
        parallel::for_chunks(0, C + K, 4, [&](std::size_t lo, std::size_t hi) {
            for (std::size_t c = lo; c < hi; ++c)
                if (c < C) detail::frame_channel(x, n0, C, g.H, g.W, 2, f, phases, c, sc.X.data() + c * phases * f.len);
                else detail::frame_channel(dy, n0, K, P, Q, 1, f, 1, c - C, sc.D.data() + (c - C) * f.len);
        });
        detail::phase_input_offsets(g, f, phases, EB * NW, cs.offs);
        const T* X = sc.X.data();
        const T* D = sc.D.data();
        const std::size_t* offs = cs.offs.data();
        const std::size_t total = f.blocks * NB;
        // one task per block of NW (channel, tap) rows: its rows of the group's frame stay in L1
        // while it walks over the output channels, whose framed dY (K rows) stays in L2
        parallel::for_chunks(0, EB, 1, [&](std::size_t lo, std::size_t hi) {
            for (std::size_t eb = lo; eb < hi; ++eb)
                for (std::size_t kb = 0; kb < KB; ++kb) {
                    const std::size_t u = eb * KB + kb, rows = std::min(MW, K - kb * MW);
                    const T* dr[MW];
                    const T* xr[NW];
                    for (std::size_t i = 0; i < MW; ++i) dr[i] = D + (kb * MW + std::min(i, rows - 1)) * f.len + f.guard;
                    for (std::size_t j = 0; j < NW; ++j) xr[j] = X + offs[eb * NW + j];
                    B acc[MW][NW];
                    T* pu = part + u * MW * NW * VW;
                    for (std::size_t i = 0; i < MW; ++i)
                        for (std::size_t j = 0; j < NW; ++j) acc[i][j] = gi == 0 ? B(T(0)) : B::load_aligned(pu + (i * NW + j) * VW);
                    for (std::size_t o = 0; o < total; o += VW) {
                        B d[MW];
#pragma GCC unroll 8
                        for (std::size_t i = 0; i < MW; ++i) d[i] = B::load_unaligned(dr[i] + o);
#pragma GCC unroll 8
                        for (std::size_t j = 0; j < NW; ++j) {
                            const B v = B::load_unaligned(xr[j] + o);
#pragma GCC unroll 8
                            for (std::size_t i = 0; i < MW; ++i) acc[i][j] = xsimd::fma(d[i], v, acc[i][j]);
                        }
                    }
                    for (std::size_t i = 0; i < MW; ++i)
                        for (std::size_t j = 0; j < NW; ++j) acc[i][j].store_aligned(pu + (i * NW + j) * VW);
                }
        });
    }
    parallel::for_chunks(0, tasks, 64, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t u = lo; u < hi; ++u) {
            const std::size_t eb = u / KB, kb = u % KB, rows = std::min(MW, K - kb * MW), cols = std::min(NW, CRS - eb * NW);
            const T* pu = part + u * MW * NW * VW;
            for (std::size_t i = 0; i < rows; ++i)
                for (std::size_t j = 0; j < cols; ++j) {
                    const T* lanes = pu + (i * NW + j) * VW;
                    T s = 0;
                    for (std::size_t l = 0; l < VW; ++l) s += lanes[l];
                    T& d = dw[(kb * MW + i) * CRS + eb * NW + j];
                    d = accumulate ? d + s : s;
                }
        }
    });
}

}  // namespace oneclass::ops
