// oneclass/core/shard.hpp - how n rows are split among the ranks of a run: the training shard of a
// sharded detector, the block of queries a rank scores, a rank's rows of a data-parallel batch.
#pragma once

#include <oneclass/core/error.hpp>

#include <algorithm>
#include <cstddef>

namespace oneclass {

struct row_range {
    std::size_t lo = 0, hi = 0;
};

/// Rank `rank` of `size` holds rows [lo, hi) of n: contiguous blocks in rank order whose sizes
/// differ by at most one (the first n % size ranks hold one more).
inline row_range shard_rows(std::size_t n, int rank, int size) {
    require(size >= 1 && rank >= 0 && rank < size, "shard_rows", "rank ", rank, " of ", size);
    const std::size_t P = std::size_t(size), r = std::size_t(rank), base = n / P, extra = n % P;
    const std::size_t lo = r * base + std::min(r, extra);
    return {lo, lo + base + (r < extra ? 1 : 0)};
}

}  // namespace oneclass
