// oneclass/ops/winograd_s2.hpp - Winograd convolution for 3x3 stride-2 layers (padding 1): the
// down-sampling convolutions of a ResNet, which the stride-1 algorithms of ops/winograd.hpp do
// not take.
//
// In one dimension a stride-2 output reads y[p] = w0 x[2p-1] + w1 x[2p] + w2 x[2p+1]: the middle
// tap sees the even inputs, the outer two taps the odd ones, a 2-tap stride-1 convolution of the
// odd sequence. Two outputs from the five inputs d = x[2p-1 .. 2p+3] then take the even part
// directly (w1 d1, w1 d3: two multiplies) and the odd part by Winograd's F(2, 2) (three: w0 (d0 -
// d2), (w0 + w2) d2, w2 (d4 - d2)): five multiplies instead of six,
//   B^T = [0 1 0 0 0; 0 0 0 1 0; 1 0 -1 0 0; 0 0 1 0 0; 0 0 -1 0 1]   (input, 5 x 5)
//   G   = [0 1 0; 0 1 0; 1 0 0; 1 0 1; 0 0 1]                         (filter, 5 x 3)
//   A^T = [1 0 1 1 0; 0 1 0 1 1]                                      (output, 2 x 5)
// (the decomposable Winograd method; Huang et al., "DWM: A Decomposable Winograd Method for
// Convolution Acceleration", AAAI 2020). Nested in two dimensions, a 2 x 2 output tile is
// Y = A^T [ (G g G^T) .* (B^T d B) ] A over its 5 x 5 input patch (patches 4 apart, one row and
// column shared with the next): 25 multiplies per tile and channel pair instead of 36. Every
// coefficient is 0 or +-1, so the transforms round no worse than the direct sum.
//
// The forward pass is the fused block scheme of ops/winograd.hpp (blocks of NB tiles across the
// batch: input transform, our register-blocked kernel per Winograd coordinate, output transform
// while the block is in L2); the weight gradient is dU = sum over tiles (A e A^T) .* (B^T d B)
// in fixed image groups, then dw = G^T dU G. The backward-data pass is the same decomposition
// run backwards (winograd_s2_backward_matrices): a 4 x 4 tile of dx from a 3 x 3 patch of dy,
// 25 multiplies instead of 36, fused per block as the forward pass. Every output is summed by
// one task in an order that depends on the shape only, so results do not depend on the number
// of threads. The direct double-precision twin is ops/ref/conv.hpp.
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/core/scratch.hpp>
#include <oneclass/ops/winograd.hpp>
#include <oneclass/parallel/parallel.hpp>

namespace oneclass::ops {

/// Whether the stride-2 Winograd path applies: 3x3, stride 2, padding 1, tensors under 2^31
/// values (32-bit gather offsets, with room for the masked taps of border patches).
inline bool winograd_s2_applies(const conv_shape& g) {
    const std::size_t limit = (std::size_t(1) << 31) - 8 * (g.W + g.Q() + 8);
    return g.R == 3 && g.S == 3 && g.stride == 2 && g.pad == 1 && g.N * g.C * g.H * g.W < limit && g.N * g.K * g.P() * g.Q() < limit;
}

namespace detail {

struct winograd_s2_matrices {
    static constexpr std::size_t m = 2, a = 5;
    static constexpr double BT[5][5] = {{0, 1, 0, 0, 0}, {0, 0, 0, 1, 0}, {1, 0, -1, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, -1, 0, 1}};
    static constexpr double G[5][3] = {{0, 1, 0}, {0, 1, 0}, {1, 0, 0}, {1, 0, 1}, {0, 0, 1}};
    static constexpr double AT[2][5] = {{1, 0, 1, 1, 0}, {0, 1, 0, 1, 1}};
    static constexpr double LT[5][2] = {{1, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 1}};  // (A^T)^T: lifts a 2 x 2 output-gradient tile
};

/// One tile of a block: its image's input offset, the patch's top-left input coordinate (may lie
/// in the padding), its first output's offset and its extent after cropping (rows == 0: no tile).
struct winograd_s2_lane {
    std::size_t in = 0, out = 0, rows = 0, cols = 0;
    std::ptrdiff_t h0 = 0, w0 = 0;
};

/// Tiles of 2 x 2 outputs over the batch, in (image, tile row, tile column) order.
struct winograd_s2_tiling {
    std::size_t th, tw;
    explicit winograd_s2_tiling(const conv_shape& g) : th((g.P() + 1) / 2), tw((g.Q() + 1) / 2) {}
    std::size_t tiles() const { return th * tw; }
    /// lanes[0..nb) = tiles first, first + 1, ... (past `end` or the batch: empty lanes)
    void lanes(const conv_shape& g, std::size_t first, std::size_t end, std::size_t nb, winograd_s2_lane* out) const {
        const std::size_t per = tiles(), total = std::min(end, g.N * per), P = g.P(), Q = g.Q();
        for (std::size_t l = 0; l < nb; ++l) {
            winograd_s2_lane& L = out[l];
            L = winograd_s2_lane{};
            const std::size_t t = first + l;
            if (t >= total) continue;
            const std::size_t n = t / per, ta = (t % per) / tw, tb = (t % per) % tw;
            L.in = n * g.C * g.H * g.W;
            L.out = n * g.K * P * Q + 2 * ta * Q + 2 * tb;
            L.h0 = std::ptrdiff_t(4 * ta) - 1;
            L.w0 = std::ptrdiff_t(4 * tb) - 1;
            L.rows = std::min<std::size_t>(2, P - 2 * ta);
            L.cols = std::min<std::size_t>(2, Q - 2 * tb);
        }
    }
};

/// d[i 5 + j][l] = tap (i, j) of lane l's 5 x 5 input patch of channel plane xc (relative to the
/// lane's image), zero in the padding and for empty lanes: through the block's gather table
/// where the machine has a vector gather, lane by lane otherwise.
template <std::size_t NB, class T>
struct winograd_s2_input {
    winograd_taps<25, NB, T> taps;
    void build(const conv_shape& g, const winograd_s2_lane* lanes) {
        if constexpr (simd::vector_gather<T>) winograd_patch_taps<5, NB>(g, lanes, taps);
    }
    void gather(const T* x, std::size_t c, const conv_shape& g, const winograd_s2_lane* lanes, T (*d)[NB]) const {
        const std::size_t HW = g.H * g.W;
        if constexpr (simd::vector_gather<T>) {
            taps.gather(x + c * HW, d);
        } else {
            const std::ptrdiff_t H = std::ptrdiff_t(g.H), Wd = std::ptrdiff_t(g.W);
            for (std::size_t l = 0; l < NB; ++l) {
                const winograd_s2_lane& L = lanes[l];
                const T* xc = x + L.in + c * HW;
                for (std::size_t i = 0; i < 5; ++i)
                    for (std::size_t j = 0; j < 5; ++j) {
                        const std::ptrdiff_t h = L.h0 + std::ptrdiff_t(i), w = L.w0 + std::ptrdiff_t(j);
                        const bool in = L.rows != 0 && h >= 0 && h < H && w >= 0 && w < Wd;
                        d[i * 5 + j][l] = in ? xc[h * Wd + w] : T(0);
                    }
            }
        }
    }
    /// V[(i 5 + j) plane + c ld][0..NB) = (B^T d B)[i][j] of the block's patches for every input
    /// channel c: by rows through F(4x4)'s permutes (by_rows: winograd_s2_rows_apply), otherwise
    /// gathered and transformed by winograd_sandwich.
    void transform(const T* x, const conv_shape& g, const winograd_s2_tiling& tl, const winograd_s2_lane* lanes, bool by_rows, T* V,
                   std::size_t plane, std::size_t ld) {
        using W = winograd_s2_matrices;
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float> && NB == 32)
            if (by_rows) {
                const winograd_input_rows<4, true> rows(g, lanes, tl.tw);
                for (std::size_t c = 0; c < g.C; ++c) rows.transform(x, c, g.H * g.W, g.H, g.W, V, plane, ld);
                return;
            }
#endif
        (void)tl, (void)by_rows;
        build(g, lanes);
        alignas(64) T d[25][NB];
        for (std::size_t c = 0; c < g.C; ++c) {
            gather(x, c, g, lanes, d);
            winograd_sandwich<5, 5, 5, 5, W::BT, W::BT, NB, T>([&](std::size_t i, std::size_t j) { return d[i * 5 + j]; },
                                                             [&](std::size_t i, std::size_t j) { return V + (i * 5 + j) * plane + c * ld; });
        }
    }
};

/// A run of a block's lanes that are consecutive tiles of one tile row: their outputs are
/// `len` consecutive values of each of `rows` output rows.
struct winograd_s2_run {
    std::size_t lane, len, rows, out;
};
inline std::size_t winograd_s2_runs(const winograd_s2_lane* lanes, std::size_t nb, winograd_s2_run* runs) {
    std::size_t m = 0;
    for (std::size_t l = 0; l < nb;) {
        const winograd_s2_lane& L = lanes[l];
        if (L.rows == 0) break;  // empty lanes come last
        std::size_t e = l + 1, len = L.cols;
        while (e < nb && lanes[e].rows == L.rows && lanes[e].in == L.in && lanes[e].out == L.out + 2 * (e - l) && lanes[e - 1].cols == 2) {
            len += lanes[e].cols;
            ++e;
        }
        runs[m++] = {l, len, L.rows, L.out};
        l = e;
    }
    return m;
}

/// z[r][2 l + s] = o[2 r + s][l]: a block's 2 x 2 output tiles interleaved into its output rows.
template <std::size_t NB, class T>
void winograd_s2_interleave(const T (&o)[4][NB], T (&z)[2][2 * NB]) {
    for (std::size_t r = 0; r < 2; ++r) simd::interleave2(o[2 * r], o[2 * r + 1], NB, z[r], false);
}

/// Whether the input patches are read by rows (F(4x4)'s winograd_input_rows, whose patches are
/// 4 apart too) instead of gathered: AVX-512 float blocks of 32 tiles, 8 tiles per row of at most
/// 32 input columns (32 x 32 inputs) or 4 of at most 16 (16 x 16).
template <class T, std::size_t NB>
bool winograd_s2_rows_apply(const conv_shape& g, const winograd_s2_tiling& tl) {
    if (!(simd::vector_gather<T> && std::is_same_v<T, float> && NB == 32 && simd::width<T> == 16)) return false;
    return (tl.tw == 8 && g.W <= 32) || (tl.tw == 4 && g.W <= 16);
}

/// Up[xi][kb][c][i] = (G w_{kb MR + i, c} G^T)[xi] (zero rows past K): the filter transform in the
/// kernel's panel order. G's coefficients are 0 and 1, so each value is a sum of 1-4 taps.
/// `transposed` (the backward-data pass, G its F): the panels run over the input channels and the
/// sum over the output channels, Up[xi][cb][k][i] = (F w_{k, cb MR + i} F^T)[xi].
template <std::size_t MR, const auto& Gm = winograd_s2_matrices::G, bool transposed = false, class T>
void winograd_s2_filter_pack(const T* w, std::size_t K, std::size_t C, T* Up) {
    const std::size_t rows = transposed ? C : K, inner = transposed ? K : C, RB = (rows + MR - 1) / MR;
    parallel::for_chunks(0, RB, 1, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t rb = lo; rb < hi; ++rb)
            for (std::size_t c = 0; c < inner; ++c) {
                T gq[9][MR];
                for (std::size_t i = 0; i < MR; ++i) {
                    const std::size_t r = rb * MR + i, wi = transposed ? c * C + r : r * C + c;
                    for (std::size_t e = 0; e < 9; ++e) gq[e][i] = r < rows ? w[wi * 9 + e] : T(0);
                }
                winograd_sandwich<5, 3, 5, 3, Gm, Gm, MR, T>([&](std::size_t q, std::size_t j) { return gq[q * 3 + j]; },
                                                           [&](std::size_t a, std::size_t b) {
                                                               return Up + (((a * 5 + b) * RB + rb) * inner + c) * MR;
                                                           });
            }
    });
}

/// The packed filter transform (winograd_s2_filter_pack) in the calling thread's scratch, shared
/// by its workers and kept between calls (no fresh megabytes faulted in per call).
template <std::size_t MR, const auto& Gm, bool transposed, class T>
const T* winograd_s2_packed_filter(const T* w, std::size_t K, std::size_t C) {
    struct filter_scratch {
        scratch_vec<T> Up;
    };
    scratch_vec<T>& Up = thread_scratch<filter_scratch>().Up;
    const std::size_t rows = transposed ? C : K, inner = transposed ? K : C;
    Up.resize(25 * ((rows + MR - 1) / MR) * MR * inner);
    ONECLASS_PROFILE_SCOPE("winograd.filter");
    winograd_s2_filter_pack<MR, Gm, transposed>(w, K, C, Up.data());
    return Up.data();
}

// ---- backward data ----
//
// dx[i] = sum_p w[i - 2 p + 1] dy[p]: an even input takes the middle tap alone, dx[2m] = w1 dy[m],
// an odd one the outer two, dx[2m+1] = w2 dy[m] + w0 dy[m+1], a 2-tap stride-1 convolution of dy.
// Four outputs dx[2m .. 2m+3] from the three gradients e = dy[m .. m+2] then take the even pair
// directly (w1 e0, w1 e1) and the odd pair by F(2, 2) (w2 (e0 - e1), (w0 + w2) e1, w0 (e2 - e1)):
// five multiplies instead of six, every coefficient 0 or +-1. Nested: a 4 x 4 tile of dx from a
// 3 x 3 patch of dy (patches 2 apart), 25 multiplies per tile and channel pair instead of 36, and
// the tiles of dx do not overlap, so each value is written once by one block.
struct winograd_s2_backward_matrices {
    // D^T's rows e0, e1, e0 - e1, e1, e2 - e1: the second and fourth are equal, so only the four
    // distinct ones (D4) are transformed and stored, 16 planes instead of 25 (plane_of)
    static constexpr double D4[4][3] = {{1, 0, 0}, {0, 1, 0}, {1, -1, 0}, {0, -1, 1}};
    static constexpr std::size_t row_of[5] = {0, 1, 2, 1, 3};
    static constexpr double F[5][3] = {{0, 1, 0}, {0, 1, 0}, {0, 0, 1}, {1, 0, 1}, {1, 0, 0}};
    static constexpr double OT[4][5] = {{1, 0, 0, 0, 0}, {0, 0, 1, 1, 0}, {0, 1, 0, 0, 0}, {0, 0, 0, 1, 1}};
    static constexpr std::size_t plane_of(std::size_t xi) { return row_of[xi / 5] * 4 + row_of[xi % 5]; }
};

/// The block's tiles of dx: 4 x 4 values each, read from the 3 x 3 patch of dy at (2 ta, 2 tb).
/// in: the image's offset in dy; h0, w0: the patch's coordinates in dy; out, rows, cols: the
/// tile's first value in dx and its extent after cropping to H x W (rows == 0: no tile).
template <class T>
void winograd_s2_backward_lanes(const conv_shape& g, const winograd_tiling<4>& tl, std::size_t first, std::size_t nb,
                                winograd_lane<4>* lanes) {
    const std::size_t tiles = tl.tiles(), total = g.N * tiles, PQ = g.P() * g.Q();
    for (std::size_t l = 0; l < nb; ++l) {
        winograd_lane<4>& L = lanes[l];
        L = winograd_lane<4>{};
        const std::size_t t = first + l;
        if (t >= total) continue;
        const std::size_t n = t / tiles, ta = (t % tiles) / tl.tw, tb = (t % tiles) % tl.tw;
        L.in = n * g.K * PQ;
        L.out = n * g.C * g.H * g.W + 4 * ta * g.W + 4 * tb;
        L.h0 = std::ptrdiff_t(2 * ta);
        L.w0 = std::ptrdiff_t(2 * tb);
        L.rows = std::min<std::size_t>(4, g.H - 4 * ta);
        L.cols = std::min<std::size_t>(4, g.W - 4 * tb);
    }
}

/// Lanes [l0, l0 + len) of a block that are consecutive tiles of one tile row of one image: row
/// i of their patches is the single stretch dy[h0 + i][w0 .. w0 + 2 len] (each patch 2 values on
/// from the last), read once and split into the taps by even and odd positions.
struct winograd_s2_backward_run {
    std::size_t l0 = 0, len = 0, in = 0, h0 = 0, w0 = 0;
};

/// The block's runs (lanes without a tile belong to none); returns their number.
template <std::size_t NB>
std::size_t winograd_s2_backward_runs(const winograd_lane<4>* lanes, winograd_s2_backward_run* runs) {
    std::size_t n = 0;
    for (std::size_t l = 0; l < NB; ++l) {
        const winograd_lane<4>& L = lanes[l];
        if (L.rows == 0) continue;
        if (n > 0) {  // the next tile of the last run?
            winograd_s2_backward_run& r = runs[n - 1];
            if (r.l0 + r.len == l && r.in == L.in && r.h0 == std::size_t(L.h0) && r.w0 + 2 * r.len == std::size_t(L.w0)) {
                ++r.len;
                continue;
            }
        }
        runs[n++] = {l, 1, L.in, std::size_t(L.h0), std::size_t(L.w0)};
    }
    return n;
}

/// V[plane_of(xi) plane + k ld][0..NB) = (D^T e D)[xi] for every output-gradient channel k: the
/// 3 x 3 patches e of dy (zero past P x Q), through the block's gather table where the machine
/// has a vector gather, by runs of tiles otherwise (winograd_s2_backward_run: three contiguous
/// row reads per run instead of nine checked loads per lane).
template <std::size_t NB, class T>
void winograd_s2_backward_input(const T* dy, const conv_shape& g, const winograd_lane<4>* lanes, T* V, std::size_t plane) {
    using W = winograd_s2_backward_matrices;
    const std::size_t P = g.P(), Q = g.Q(), PQ = P * Q;
    alignas(64) T e[9][NB] = {};  // lanes without a tile stay zero
    [[maybe_unused]] winograd_taps<9, NB, T> taps;
    [[maybe_unused]] winograd_s2_backward_run runs[NB];
    [[maybe_unused]] std::size_t nruns = 0, active = 0;
    if constexpr (simd::vector_gather<T>) {
        const conv_shape gy{g.N, g.K, P, Q, g.C, 3, 3, 1, 0};  // dy as the input: H x W = P x Q
        winograd_patch_taps<3, NB>(gy, lanes, taps);
    } else {
        nruns = winograd_s2_backward_runs<NB>(lanes, runs);
        for (std::size_t l = 0; l < NB; ++l) active += lanes[l].rows != 0;
    }
    // runs of under 4 tiles (maps of 8 x 8 and less) cost more in loop overhead than they save
    // (callgrind, AVX2: small.down4 +3% instructions by runs, small.down2 -30%, small.down3 -14%)
    [[maybe_unused]] const bool by_runs = 4 * nruns <= active;
    for (std::size_t k = 0; k < g.K; ++k) {
        if constexpr (simd::vector_gather<T>) {
            taps.gather(dy + k * PQ, e);
        } else if (!by_runs) {
            for (std::size_t l = 0; l < NB; ++l) {
                const winograd_lane<4>& L = lanes[l];
                if (L.rows == 0) continue;
                const T* src = dy + L.in + k * PQ;
                for (std::size_t i = 0; i < 3; ++i)
                    for (std::size_t j = 0; j < 3; ++j) {
                        const std::size_t h = std::size_t(L.h0) + i, w = std::size_t(L.w0) + j;
                        e[i * 3 + j][l] = h < P && w < Q ? src[h * Q + w] : T(0);
                    }
            }
        } else {
            for (std::size_t ri = 0; ri < nruns; ++ri) {
                const winograd_s2_backward_run& r = runs[ri];
                const std::size_t avail = std::min(2 * r.len + 1, Q - r.w0);  // the stretch, cropped at the right edge
                for (std::size_t i = 0; i < 3; ++i) {
                    T* e0 = e[i * 3] + r.l0;
                    T* e1 = e[i * 3 + 1] + r.l0;
                    T* e2 = e[i * 3 + 2] + r.l0;
                    if (r.h0 + i >= P) {  // below the last row: zero taps
                        std::fill_n(e0, r.len, T(0)), std::fill_n(e1, r.len, T(0)), std::fill_n(e2, r.len, T(0));
                        continue;
                    }
                    const T* src = dy + r.in + k * PQ + (r.h0 + i) * Q + r.w0;
                    const std::size_t whole = (avail - 1) / 2;  // lanes with all three taps inside
                    for (std::size_t l = 0; l < whole; ++l) e0[l] = src[2 * l], e1[l] = src[2 * l + 1], e2[l] = src[2 * l + 2];
                    for (std::size_t l = whole; l < r.len; ++l) {  // the last tile of a row (may touch the edge)
                        const std::size_t j = 2 * l;
                        e0[l] = j < avail ? src[j] : T(0);
                        e1[l] = j + 1 < avail ? src[j + 1] : T(0);
                        e2[l] = j + 2 < avail ? src[j + 2] : T(0);
                    }
                }
            }
        }
        winograd_sandwich<4, 3, 4, 3, W::D4, W::D4, NB, T>([&](std::size_t i, std::size_t j) { return e[i * 3 + j]; },
                                                         [&](std::size_t i, std::size_t j) { return V + (i * 4 + j) * plane + k * NB; });
    }
}

}  // namespace detail

/// y = conv(x, w) for 3x3 stride-2 padding-1 convolutions (winograd_s2_applies, checked), by
/// F_s2(2x2, 3x3), fused per block of tiles; accumulate: y +=.
template <class T>
void conv2d_winograd_s2(const T* x, const T* w, const conv_shape& g, T* y, bool accumulate) {
    require(winograd_s2_applies(g), "conv2d", "the stride-2 Winograd path needs a 3x3 kernel, stride 2, padding 1 and tensors under 2^31 values");
    using W = detail::winograd_s2_matrices;
    constexpr std::size_t A2 = 25, MR = detail::winograd_mr, NV = detail::winograd_nv, NB = simd::width<T> * NV;
    const detail::winograd_s2_tiling tl(g);
    const std::size_t K = g.K, C = g.C, Q = g.Q(), PQ = g.P() * Q;
    const std::size_t total = g.N * tl.tiles(), blocks = (total + NB - 1) / NB;
    const T* Up = detail::winograd_s2_packed_filter<MR, W::G, false>(w, K, C);
    struct path {
        const T* x;
        const conv_shape& g;
        const detail::winograd_s2_tiling& tl;
        T* y;
        bool accumulate, by_rows;
        std::size_t total, Q, PQ;
        struct state {
            detail::winograd_s2_lane lanes[NB];
            detail::winograd_s2_run runs[NB];
            detail::winograd_s2_input<NB, T> in;
            alignas(64) T o[4][NB];
            alignas(64) T z[2][2 * NB];
        };
        state make_state() const { return {}; }
        void input(state& st, std::size_t b, T* V, std::size_t vplane) const {
            tl.lanes(g, b * NB, total, NB, st.lanes);
            st.in.transform(x, g, tl, st.lanes, by_rows, V, vplane, NB);
        }
        static std::size_t plane_of(std::size_t xi) { return xi; }
        void output(state& st, const T* Mb, std::size_t mplane, std::size_t k0, std::size_t k1) const {
            const std::size_t nruns = detail::winograd_s2_runs(st.lanes, NB, st.runs);
            for (std::size_t k = k0; k < k1; ++k) {
                detail::winograd_sandwich<2, 5, 2, 5, W::AT, W::AT, NB, T>(
                    [&](std::size_t r, std::size_t s) { return Mb + (r * 5 + s) * mplane + k * NB; },
                    [&](std::size_t r, std::size_t s) { return st.o[r * 2 + s]; });
                detail::winograd_s2_interleave<NB, T>(st.o, st.z);
                for (std::size_t u = 0; u < nruns; ++u) {  // each run's output rows, stored whole
                    const detail::winograd_s2_run& R = st.runs[u];
                    for (std::size_t r = 0; r < R.rows; ++r) {
                        const T* src = st.z[r] + 2 * R.lane;
                        T* dst = y + R.out + k * PQ + r * Q;
                        if (accumulate)
                            for (std::size_t i = 0; i < R.len; ++i) dst[i] += src[i];
                        else
                            for (std::size_t i = 0; i < R.len; ++i) dst[i] = src[i];
                    }
                }
            }
        }
    };
    const bool by_rows = detail::winograd_s2_rows_apply<T, NB>(g, tl);
    detail::winograd_fused_blocks<A2>(blocks, K, C, Up, A2, path{x, g, tl, y, accumulate, by_rows, total, Q, PQ});
}

/// dx += d conv / d x applied to dy (accumulate = false: dx = ...) for winograd_s2_applies shapes
/// (checked): 4 x 4 tiles of dx from 3 x 3 patches of dy (winograd_s2_backward_matrices), fused
/// per block of tiles as the forward pass, each value of dx written once by one task.
template <class T>
void conv2d_backward_data_winograd_s2(const T* dy, const T* w, const conv_shape& g, T* dx, bool accumulate = true) {
    require(winograd_s2_applies(g), "conv2d", "the stride-2 Winograd path needs a 3x3 kernel, stride 2, padding 1 and tensors under 2^31 values");
    using W = detail::winograd_s2_backward_matrices;
    constexpr std::size_t A2 = 25, MR = detail::winograd_mr, NV = detail::winograd_nv, NB = simd::width<T> * NV;
    const conv_shape gx{g.N, g.K, g.H, g.W, g.C, 1, 1, 1, 0};  // dx as the output: P x Q = H x W, C channels
    const detail::winograd_tiling<4> tl(gx);
    const std::size_t K = g.K, C = g.C;
    const std::size_t total = g.N * tl.tiles(), blocks = (total + NB - 1) / NB;
    const T* Up = detail::winograd_s2_packed_filter<MR, W::F, true>(w, K, C);
    struct path {
        const T* dy;
        const conv_shape& g;
        const conv_shape& gx;
        const detail::winograd_tiling<4>& tl;
        T* dx;
        bool accumulate;
        struct state {
            detail::winograd_lane<4> lanes[NB];
        };
        state make_state() const { return {}; }
        void input(state& st, std::size_t b, T* V, std::size_t vplane) const {
            detail::winograd_s2_backward_lanes<T>(g, tl, b * NB, NB, st.lanes);
            detail::winograd_s2_backward_input<NB>(dy, g, st.lanes, V, vplane);
        }
        static std::size_t plane_of(std::size_t xi) { return W::plane_of(xi); }
        void output(state& st, const T* Mb, std::size_t mplane, std::size_t c0, std::size_t c1) const {
            detail::winograd_output_block<4, NB, T, 5, W::OT>(Mb, mplane, gx, st.lanes, c0, c1, dx, accumulate);
        }
    };
    detail::winograd_fused_blocks<A2>(blocks, C, K, Up, 16, path{dy, g, gx, tl, dx, accumulate});
}

/// dw += d conv / d w (accumulate = false: dw = ...) for winograd_s2_applies shapes (checked):
/// with V = B^T d B the input patches and E = A e A^T the 2 x 2 output-gradient tiles lifted to
/// 5 x 5, dU[xi] = sum over tiles E[xi] V[xi]^T, then dw = G^T dU G: the stride-1 weight
/// gradient's groups, slots and products (detail::winograd_wgrad_products, ops/winograd.hpp),
/// with AVX-512 (up to 128 x 128 channels) the output channels in the lanes of E and of the
/// products; the sums' order depends on the shape only.
template <class T>
void conv2d_backward_weights_winograd_s2(const T* x, const T* dy, const conv_shape& g, T* dw, bool accumulate = true) {
    require(winograd_s2_applies(g), "conv2d", "the stride-2 Winograd path needs a 3x3 kernel, stride 2, padding 1 and tensors under 2^31 values");
    using W = detail::winograd_s2_matrices;
    constexpr std::size_t NB = simd::width<T> * detail::winograd_nv;
    const detail::winograd_s2_tiling tl(g);
    const detail::winograd_tiling<2> out_tiles(g);  // the same 2 x 2 output tiles
    const std::size_t K = g.K, tiles = tl.tiles(), Q = g.Q(), PQ = g.P() * Q;
    const detail::winograd_wgrad_plan<T> p(g, tiles);
    const std::size_t G = p.G;
    [[maybe_unused]] const std::size_t ldk = p.ldk;  // AVX-512 only
    const bool channel_lanes = p.channel_lanes;
    const auto vplane = [&](std::size_t ld) { return p.vplane(ld); };
    const auto eplane = [&](std::size_t ld) { return p.eplane(ld); };
    const bool by_rows = detail::winograd_s2_rows_apply<T, NB>(g, tl);
    // the transforms of blocks [lo, hi) of group gi
    const auto transforms = [&](std::size_t gi, T* V, T* E, std::size_t ld, std::size_t lo, std::size_t hi) {
        ONECLASS_PROFILE_SCOPE("winograd.weights_transforms");
        const std::size_t first = gi * G * tiles, end = std::min(g.N, (gi + 1) * G) * tiles;
        detail::winograd_s2_lane lanes[NB];
        detail::winograd_s2_input<NB, T> in;
        alignas(64) T e[4][NB];
        for (std::size_t b = lo; b < hi; ++b) {
            tl.lanes(g, first + b * NB, end, NB, lanes);
            in.transform(x, g, tl, lanes, by_rows, V + b * NB, vplane(ld), ld);
            if (channel_lanes) continue;
            for (std::size_t k = 0; k < K; ++k) {  // E[xi][k][tile], lane by lane
                for (std::size_t l = 0; l < NB; ++l) {
                    const detail::winograd_s2_lane& L = lanes[l];
                    for (std::size_t r = 0; r < 2; ++r)
                        for (std::size_t q = 0; q < 2; ++q)
                            e[r * 2 + q][l] = r < L.rows && q < L.cols ? dy[L.out + k * PQ + r * Q + q] : T(0);
                }
                detail::winograd_sandwich<5, 2, 5, 2, W::LT, W::LT, NB, T>([&](std::size_t r, std::size_t q) { return e[r * 2 + q]; },
                                                                         [&](std::size_t i, std::size_t j) {
                                                                             return E + (i * 5 + j) * eplane(ld) + k * ld + b * NB;
                                                                         });
            }
        }
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>)
            if (channel_lanes) {
                const std::size_t t0 = lo * NB, t1 = std::min(hi * NB, p.group_tiles(gi));
                if (t1 > t0)
                    detail::winograd_gradient_channels<2, 5, W::LT>(dy, g, out_tiles, first + t0, t1 - t0, E + t0 * ldk, eplane(ld), ldk);
            }
#endif
    };
    detail::winograd_wgrad_products<5, W::G>(p, transforms, dw, accumulate);
}

}  // namespace oneclass::ops
