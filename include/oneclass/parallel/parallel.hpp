// oneclass/parallel/parallel.hpp - thin wrappers over oneTBB.
//
// The library never creates a global scheduler: work runs in whatever task arena the caller is
// in, so `tbb::global_control(max_allowed_parallelism, 1)` or a `tbb::task_arena` bounds the
// threads. TBB workers sleep when idle (no spin-waiting, which the 2-vCPU machines we target punish
// badly). Small ranges run inline: below `grain` items no task is spawned.
#pragma once

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

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

}  // namespace oneclass::parallel
