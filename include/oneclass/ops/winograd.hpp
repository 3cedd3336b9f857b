// oneclass/ops/winograd.hpp - Winograd F(m x m, 3 x 3) convolution for 3x3 stride-1 layers, in
// all three passes (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//
// Each m x m output tile is Y = A^T [ (G g G^T) .* (B^T d B) ] A over an a x a input tile d
// (a = m + 2): a^2 multiplies per tile and channel pair instead of 9 m^2, i.e. 2.25x fewer for
// F(2x2) (16 vs 36) and 4x fewer for F(4x4) (36 vs 144). The a^2 element-wise products summed
// over channels are a^2 GEMMs of (K x C) by (C x tiles). F(4x4) also moves less data per output
// (36 transformed values per 16 outputs against 16 per 4) but its transforms have larger
// constants (up to 8 and 1/24), so its float rounding is about 5x that of F(2x2); both are tested
// against the direct reference.
//
//   forward          y = conv(x, w)
//   backward-data    dx = conv(dy, rot180(w) with channels swapped), padding 2 - pad: the same routine
//   backward-weights dU[xi] = sum over tiles (A e A^T)[xi] (B^T d B)[xi]^T, then dw = G^T dU G
//
// Forward and backward-data are fused per block of tiles (transform, multiply in our own
// register-blocked kernel, inverse-transform while the block is in cache; ops/winograd/kernel.hpp). The weight
// gradient works on fixed image groups, each group's products added to the sum in group order, so
// results do not depend on the thread count; its products are our outer-product kernel with the
// output channels in the lanes (AVX-512, up to 128 x 128 channels) or OpenBLAS. Every transform
// is one `winograd_sandwich` with its constant matrices unrolled at compile time (F(4x4)'s B^T
// and A^T hand-factored), or on AVX-512 the same arithmetic in registers. On maps of 8 or 4 tiles
// per row (32 x 32 and 16 x 16 with F(4x4), 16 x 16 and 8 x 8 with F(2x2)) the input tiles' taps
// are read as whole rows and spread over the lanes by AVX-512 permutes (winograd_input_rows), and
// the outputs are stored as whole rows (winograd_output_rows); elsewhere with AVX-512 masked
// gathers through a table built once per block and used for every channel (winograd_taps), lane
// by lane without AVX-512 (AVX2's gather loses to scalar loads on Zen 1); four whole tiles side
// by side are stored (and, for the gradient, read) through SSE transposes.
#pragma once

#include <oneclass/ops/winograd/fused.hpp>
#include <oneclass/ops/winograd/tiles.hpp>
#include <oneclass/ops/winograd/weight_grad.hpp>

namespace oneclass::ops {

/// y = conv(x, w) (+= into y when accumulate) for 3x3 stride-1 convolutions with any padding,
/// by F(M x M, 3 x 3), M = 2 or 4, fused per block of tiles (see above). `transposed_filter`:
/// w is the C x K filter of the convolution this one transposes (backward data).
template <std::size_t M = 2, class T>
void conv2d_winograd(const T* x, const T* w, const conv_shape& g, T* y, bool accumulate, bool transposed_filter = false) {
    constexpr std::size_t A = detail::winograd_matrices<M>::a, A2 = A * A;
    constexpr std::size_t MR = detail::winograd_mr, NB = simd::width<T> * detail::winograd_nv;
    const detail::winograd_tiling<M> tl(g);
    const std::size_t K = g.K, C = g.C, KB = (K + MR - 1) / MR;
    const std::size_t blocks = (g.N * tl.tiles() + NB - 1) / NB;
    // the packed filter transform is shared by the workers; it lives in the calling thread's
    // scratch, so that the steady state does not fault in tens of fresh megabytes per call
    struct filter_scratch {
        scratch_vec<T> Up;
    };
    scratch_vec<T>& Up = thread_scratch<filter_scratch>().Up;
    Up.resize(A2 * KB * C * MR);
    {
        ONECLASS_PROFILE_SCOPE("winograd.filter");
        detail::winograd_filter_pack<M, MR>(w, K, C, transposed_filter, Up.data());
    }
    struct path {
        const T* x;
        const conv_shape& g;
        const detail::winograd_tiling<M>& tl;
        T* y;
        bool accumulate;
        struct state {
            detail::winograd_lane<M> lanes[NB];
            detail::winograd_taps<A2, NB, T> taps;
        };
        state make_state() const { return {}; }
        void input(state& st, std::size_t b, T* V, std::size_t vplane) const {
            detail::winograd_lanes<M, T>(g, tl, b * NB, g.N * tl.tiles(), NB, st.lanes);
            if constexpr (simd::vector_gather<T>)
                if (!detail::winograd_rows_apply<M, T, NB>(g)) detail::winograd_input_taps<M, NB>(g, st.lanes, st.taps);
            detail::winograd_input_block<M, NB>(x, g, st.lanes, st.taps, V, vplane, NB);
        }
        static std::size_t plane_of(std::size_t xi) { return xi; }
        void output(state& st, const T* Mb, std::size_t mplane, std::size_t k0, std::size_t k1) const {
            detail::winograd_output_block<M, NB>(Mb, mplane, g, st.lanes, k0, k1, y, accumulate);
        }
    };
    detail::winograd_fused_blocks<A2>(blocks, K, C, Up.data(), A2, path{x, g, tl, y, accumulate});
}

/// dx += conv_transpose(dy, w) (accumulate = false: dx = ...) for 3x3 stride-1 convolutions: a
/// Winograd convolution of dy with w'[c][k] = rot180(w[k][c]) and padding 2 - pad (the filter is
/// read transposed in place).
template <std::size_t M = 2, class T>
void conv2d_backward_data_winograd(const T* dy, const T* w, const conv_shape& g, T* dx, bool accumulate = true) {
    const conv_shape gt{g.N, g.K, g.P(), g.Q(), g.C, 3, 3, 1, 2 - g.pad};
    conv2d_winograd<M, T>(dy, w, gt, dx, accumulate, true);
}


}  // namespace oneclass::ops
