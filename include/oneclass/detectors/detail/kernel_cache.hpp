// oneclass/detectors/detail/kernel_cache.hpp - LRU cache of kernel-matrix rows for SMO.
//
// SMO touches two rows of the l x l kernel matrix per iteration, and the same rows again and
// again near the end; computing a row costs O(l d). The cache keeps whole rows (length l, in the
// training order) up to a byte limit and evicts the least recently used one. The two most
// recently returned rows always stay valid (capacity >= 2), which is what one SMO step needs.
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
    using compute_fn = std::function<void(std::size_t row, T* out)>;

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
        ++misses_;
        if (data_.size() < capacity_) {
            s = data_.size();
            data_.emplace_back(new T[l_]);
            owner_.push_back(npos);
            prev_.push_back(npos);
            next_.push_back(npos);
        } else {
            s = tail_;  // least recently used
            unlink(s);
            slot_of_[owner_[s]] = npos;
        }
        compute_(i, data_[s].get());
        owner_[s] = i;
        slot_of_[i] = s;
        push_front(s);
        return data_[s].get();
    }

    std::size_t capacity_rows() const noexcept { return capacity_; }
    std::size_t hits() const noexcept { return hits_; }
    std::size_t misses() const noexcept { return misses_; }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

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
