// oneclass/detectors/detail/kernel_cache.hpp - LRU cache of kernel-matrix rows for SMO.
//
// SMO touches two rows of the l x l kernel matrix per iteration, and the same rows again and
// again near the end; computing a row costs O(l d). The cache keeps whole rows (length l, in the
// training order) up to a byte limit and evicts the least recently used one. The two most
// recently returned rows always stay valid (capacity >= 2), which is what one SMO step needs.
// `prefetch` computes many missing rows in one call (the owner turns that into a GEMM, which runs
// at compute speed where row-by-row GEMVs are bound by memory bandwidth).
#pragma once

#include <oneclass/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

namespace oneclass::detail {

template <class T>
class kernel_cache {
public:
    /// Computes rows[0..count) of the kernel matrix into outs[0..count) (each of length l).
    using compute_fn = std::function<void(const std::size_t* rows, std::size_t count, T* const* outs)>;

    kernel_cache(std::size_t l, std::size_t max_bytes, compute_fn compute)
        : l_(l), compute_(std::move(compute)), slot_of_(l, npos) {
        const std::size_t row_bytes = std::max<std::size_t>(1, l * sizeof(T));
        capacity_ = std::clamp<std::size_t>(max_bytes / row_bytes, 2, std::max<std::size_t>(l, 2));
    }

    /// Row i of the kernel matrix (length l). Valid until two further calls have evicted it.
    const T* row(std::size_t i) {
        std::size_t s = slot_of_[i];
        if (s != npos) {
            ++hits_;
            touch(s);
            return data_[s].get();
        }
        s = take_slot(i);
        T* out = data_[s].get();
        compute_(&i, 1, &out);
        return out;
    }

    /// Makes rows[0..count) resident, computing the missing ones in one batch. count must not
    /// exceed capacity_rows(); all of them stay valid until further rows are requested.
    void prefetch(const std::size_t* rows, std::size_t count) {
        if (count > capacity_) fail("kernel_cache::prefetch", "batch of ", count, " rows exceeds the capacity ", capacity_);
        for (std::size_t k = 0; k < count; ++k)
            if (slot_of_[rows[k]] != npos) touch(slot_of_[rows[k]]);
        std::vector<std::size_t> missing;
        std::vector<T*> outs;
        for (std::size_t k = 0; k < count; ++k) {
            if (slot_of_[rows[k]] != npos) continue;
            const std::size_t s = take_slot(rows[k]);
            missing.push_back(rows[k]);
            outs.push_back(data_[s].get());
        }
        if (!missing.empty()) compute_(missing.data(), missing.size(), outs.data());
    }

    std::size_t capacity_rows() const noexcept { return capacity_; }
    std::size_t hits() const noexcept { return hits_; }
    std::size_t misses() const noexcept { return misses_; }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    /// A slot for row i (new while below capacity, else the least recently used), at the front.
    std::size_t take_slot(std::size_t i) {
        ++misses_;
        std::size_t s;
        if (data_.size() < capacity_) {
            s = data_.size();
            data_.emplace_back(new T[l_]);
            owner_.push_back(npos);
            prev_.push_back(npos);
            next_.push_back(npos);
        } else {
            s = tail_;
            unlink(s);
            slot_of_[owner_[s]] = npos;
        }
        owner_[s] = i;
        slot_of_[i] = s;
        push_front(s);
        return s;
    }

    void unlink(std::size_t s) {
        if (prev_[s] != npos) next_[prev_[s]] = next_[s]; else head_ = next_[s];
        if (next_[s] != npos) prev_[next_[s]] = prev_[s]; else tail_ = prev_[s];
        prev_[s] = next_[s] = npos;
    }
    void push_front(std::size_t s) {
        prev_[s] = npos;
        next_[s] = head_;
        if (head_ != npos) prev_[head_] = s;
        head_ = s;
        if (tail_ == npos) tail_ = s;
    }
    void touch(std::size_t s) {
        if (head_ == s) return;
        unlink(s);
        push_front(s);
    }

    std::size_t l_, capacity_;
    compute_fn compute_;
    std::vector<std::size_t> slot_of_;                 // row -> slot or npos
    std::vector<std::unique_ptr<T[]>> data_;           // slot -> row values
    std::vector<std::size_t> owner_, prev_, next_;     // slot -> row, LRU links
    std::size_t head_ = npos, tail_ = npos;            // most / least recently used
    std::size_t hits_ = 0, misses_ = 0;
};

}  // namespace oneclass::detail
