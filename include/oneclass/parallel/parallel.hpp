// oneclass/parallel/parallel.hpp - thin wrappers over oneTBB.
//
// The library never creates a global scheduler: work runs in whatever task arena the caller is
// in, so `tbb::global_control(max_allowed_parallelism, 1)` or a `tbb::task_arena` bounds the
// threads. TBB workers sleep when idle (no spin-waiting, which the 2-vCPU machines we target punish
// badly). Small ranges run inline: below `grain` items no task is spawned.
#pragma once

#include <oneclass/core/intrinsics.hpp>  // first: before any header that pulls in <immintrin.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <cstddef>
#include <utility>

namespace oneclass::parallel {

/// Calls f(lo, hi) over disjoint chunks covering [begin, end), each at most `grain` long.
/// Chunks are independent, so results do not depend on the number of threads.
template <class F>
void for_chunks(std::size_t begin, std::size_t end, std::size_t grain, F&& f) {
    if (end <= begin) return;
    if (grain == 0) grain = 1;
    if (end - begin <= grain) {
        f(begin, end);
        return;
    }
    tbb::parallel_for(
        tbb::blocked_range<std::size_t>(begin, end, grain),
        [&](const tbb::blocked_range<std::size_t>& r) { f(r.begin(), r.end()); }, tbb::simple_partitioner());
}

/// Calls f(lo, hi) over chunks of an elementwise loop of n items, each `items_per_task` long:
/// small loops run inline, large ones on the worker threads. Elementwise work writes disjoint
/// ranges, so the result is the same on any number of threads.
template <class F>
void for_elements(std::size_t n, F&& f, std::size_t items_per_task = 1 << 15) {
    for_chunks(0, n, items_per_task, std::forward<F>(f));
}

/// Deterministic reduction: the split tree depends only on (begin, end, grain), never on
/// scheduling, so the floating-point result is the same on 1 or N threads.
template <class V, class F, class Combine>
V deterministic_reduce(std::size_t begin, std::size_t end, std::size_t grain, V identity, F&& f, Combine&& combine) {
    if (end <= begin) return identity;
    if (grain == 0) grain = 1;
    return tbb::parallel_deterministic_reduce(
        tbb::blocked_range<std::size_t>(begin, end, grain),
        identity, [&](const tbb::blocked_range<std::size_t>& r, V acc) { return combine(acc, f(r.begin(), r.end())); },
        combine, tbb::simple_partitioner());
}

/// Deterministic sums over many groups (the image groups of a weight gradient): at most
/// `max_slots` fixed slots, slot s taking groups s, s + slots, ... in order on one thread, each
/// into its own partial, which the caller then adds in slot order (add_in_order). The split
/// depends on the number of groups only, never on the number of threads.
inline constexpr std::size_t max_slots = 4;
inline std::size_t slot_count(std::size_t groups) { return std::min(groups, max_slots); }

/// f(slot, group) for every group, slot by slot in parallel (slot_count(groups) slots).
template <class F>
void for_slots(std::size_t groups, F&& f) {
    const std::size_t slots = slot_count(groups);
    for_chunks(0, slots, 1, [&](std::size_t slo, std::size_t shi) {
        for (std::size_t s = slo; s < shi; ++s)
            for (std::size_t gi = s; gi < groups; gi += slots) f(s, gi);
    });
}

/// dst[i] += parts[0][i] + parts[1][i] + ... (count parts of n values each, one after the other),
/// added in that order for every i: the same bits on any number of threads.
template <class T>
void add_in_order(T* dst, const T* parts, std::size_t count, std::size_t n) {
    for_elements(n, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t s = 0; s < count; ++s) {
            const T* p = parts + s * n;
            for (std::size_t i = lo; i < hi; ++i) dst[i] += p[i];
        }
    });
}

}  // namespace oneclass::parallel
