// oneclass/ops/winograd/fused.hpp - the fused block driver every Winograd path runs: blocks of NB
// tiles taken across the batch, each transformed, multiplied by the packed filter transform in
// the panel kernel and transformed back while its buffers are still in L2 (a^2 (C + K) NB floats).
//
// The work units are (block, chunk of output-channel panels): with few blocks, the channels are
// split too, so that both threads have work. A `Path` says what differs between algorithms:
//
//   struct Path {
//       struct state;                                  per task: lanes, gather tables, staging
//       state make_state() const;
//       void input(state&, std::size_t block, T* V, std::size_t vplane) const;   V[plane][c][NB]
//       std::size_t plane_of(std::size_t xi) const;   which V plane product xi reads
//       void output(state&, const T* Mb, std::size_t mplane, std::size_t k0, std::size_t k1) const;
//   };
//
// Every output element is computed by one unit with the same arithmetic, so the result does not
// depend on how units are shared between threads.
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/core/scratch.hpp>
#include <oneclass/ops/winograd/kernel.hpp>
#include <oneclass/parallel/parallel.hpp>

#include <algorithm>
#include <cstddef>

namespace oneclass::ops::detail {

/// Runs `path` over `blocks` blocks of NB tiles: A2 products per block of (Kout x Cin) panels of
/// the packed filter transform Up by the block's Cin transformed channels (`v_planes` planes of V).
template <std::size_t A2, class T, class Path>
void winograd_fused_blocks(std::size_t blocks, std::size_t Kout, std::size_t Cin, const T* Up, std::size_t v_planes,
                           const Path& path) {
    constexpr std::size_t MR = winograd_mr, NV = winograd_nv, NB = simd::width<T> * NV;
    const std::size_t KB = (Kout + MR - 1) / MR, kchunks = winograd_kchunks(blocks, KB);
    const std::size_t vplane = winograd_plane<T>(Cin, NB), mplane = winograd_plane<T>(Kout, NB);
    struct scratch {
        scratch_vec<T> V, Mb;
    };
    parallel::for_chunks(0, blocks * kchunks, 1, [&](std::size_t lo, std::size_t hi) {
        scratch& sc = thread_scratch<scratch>();  // kept between calls, never zero-filled
        sc.V.resize(v_planes * vplane);
        sc.Mb.resize(A2 * mplane);
        auto st = path.make_state();
        for (std::size_t unit = lo; unit < hi; ++unit) {
            ONECLASS_PROFILE_SCOPE("winograd.block");  // transforms + products of one block of tiles
            const std::size_t b = unit / kchunks, kc = unit % kchunks;
            const std::size_t kb0 = KB * kc / kchunks, kb1 = KB * (kc + 1) / kchunks;
            {
                ONECLASS_PROFILE_SCOPE("winograd.input");
                path.input(st, b, sc.V.data(), vplane);
            }
            {
                ONECLASS_PROFILE_SCOPE("winograd.gemm");
                for (std::size_t xi = 0; xi < A2; ++xi)
                    for (std::size_t kb = kb0; kb < kb1; ++kb)
                        winograd_kernel<MR, NV>(Up + (xi * KB + kb) * Cin * MR, sc.V.data() + path.plane_of(xi) * vplane, Cin,
                                                sc.Mb.data() + xi * mplane + kb * MR * NB, std::min(MR, Kout - kb * MR));
            }
            ONECLASS_PROFILE_SCOPE("winograd.output");
            path.output(st, sc.Mb.data(), mplane, kb0 * MR, std::min(Kout, kb1 * MR));
        }
    });
}

}  // namespace oneclass::ops::detail
