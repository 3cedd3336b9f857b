// oneclass/core/scratch.hpp - per-thread scratch memory that survives between calls.
//
// Convolution kernels need large temporary buffers (patch matrices, Winograd tiles). Allocating
// them per call costs page faults and, with std::vector, zero-filling megabytes that are about to
// be overwritten. `scratch_vec` grows but never shrinks and never initialises; `thread_scratch<S>()`
// is one S per thread for the life of the thread, so the steady state of training allocates
// nothing here. A kernel must not call another kernel that uses the same S while holding it
// (ours do not nest).
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>

namespace oneclass {

namespace detail {
/// Deleter of blocks from ::operator new(n, std::align_val_t{64}).
struct free_aligned64 {
    void operator()(void* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
};
}  // namespace detail

template <class T>
class scratch_vec {
public:
    /// Makes room for n elements; the contents are unspecified after growth.
    void resize(std::size_t n) {
        if (n > cap_) {
            p_.reset(static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})));
            cap_ = n;
        }
        size_ = n;
    }
    T& operator[](std::size_t i) noexcept { return p_.get()[i]; }
    const T& operator[](std::size_t i) const noexcept { return p_.get()[i]; }
    T* data() noexcept { return p_.get(); }
    const T* data() const noexcept { return p_.get(); }
    std::size_t size() const noexcept { return size_; }

private:
    std::unique_ptr<T, detail::free_aligned64> p_;
    std::size_t size_ = 0, cap_ = 0;
};

/// A buffer for one call: uninitialised, freed at the end of the call (for large per-call
/// results such as partial sums, which should not stay resident between calls).
template <class T>
class transient_buffer {
public:
    explicit transient_buffer(std::size_t n) : p_(static_cast<T*>(::operator new(std::max<std::size_t>(n, 1) * sizeof(T), std::align_val_t{64}))) {}
    T& operator[](std::size_t i) noexcept { return p_.get()[i]; }
    T* data() noexcept { return p_.get(); }

private:
    std::unique_ptr<T, detail::free_aligned64> p_;
};

/// This thread's instance of S, kept between calls.
template <class S>
S& thread_scratch() {
    thread_local S s;
    return s;
}

}  // namespace oneclass
