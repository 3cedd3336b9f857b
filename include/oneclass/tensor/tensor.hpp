// oneclass/tensor/tensor.hpp - owning, aligned N-d storage with shape/strides and cheap views.
//
// A `tensor<T>` is a handle on shared, 64-byte aligned storage plus (offset, shape, strides), all
// in elements. Copying a tensor copies the handle (a view of the same storage, like a PyTorch
// tensor); `clone()` copies the data. Images are NCHW: the layout our conv kernels read best
// (im2col / Winograd tiles walk one channel plane at a time) and the one PyTorch checkpoints use.
//
//     oneclass::tensor<float> x({32, 3, 32, 32});          // zeros
//     auto first = x.slice(0, 8);                         // batch rows 0..7, no copy
//     auto xt = oneclass::as_xtensor(first);              // zero-copy xtensor adaptor
//     auto m = oneclass::as_eigen(x.reshape({32, 3072})); // zero-copy Eigen::Map (2-D)
//
// Shape mismatches throw invalid_input naming the operation and both shapes.
#pragma once

#include <oneclass/core/intrinsics.hpp>
#include <oneclass/core/buffer_pool.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <xtensor/xadapt.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace oneclass {

using shape_t = std::vector<std::size_t>;

inline std::string to_string(const shape_t& s) {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << ']';
    return os.str();
}

inline std::size_t numel(const shape_t& s) {
    return std::accumulate(s.begin(), s.end(), std::size_t{1}, std::multiplies<>());
}

/// numel, refusing (invalid_input) a shape whose element count does not fit in size_t.
inline std::size_t checked_numel(const shape_t& s) {
    std::size_t r = 1;
    for (std::size_t d : s) {
        if (__builtin_mul_overflow(r, d, &r)) fail("tensor", "shape ", to_string(s), " has more elements than a 64-bit size holds");
    }
    return r;
}

inline shape_t contiguous_strides(const shape_t& s) {
    shape_t st(s.size());
    std::size_t acc = 1;
    for (std::size_t i = s.size(); i-- > 0;) {
        st[i] = acc;
        acc *= s[i];
    }
    return st;
}

/// Marker for the constructor that leaves values uninitialised (outputs that are fully written).
struct uninitialized_t {};
inline constexpr uninitialized_t uninitialized{};

template <class T>
class tensor {
    static_assert(std::is_floating_point_v<T>, "tensor<T>: float or double");

public:
    using value_type = T;

    tensor() = default;
    /// Zero-filled tensor of the given shape.
    explicit tensor(shape_t shape, T fill = T(0)) : shape_(std::move(shape)), strides_(contiguous_strides(shape_)) {
        allocate(checked_numel(shape_));
        std::fill_n(storage_.get(), size(), fill);
    }
    tensor(std::initializer_list<std::size_t> shape) : tensor(shape_t(shape)) {}
    /// Tensor whose values are left uninitialised: for outputs that are written in full.
    tensor(shape_t shape, uninitialized_t) : shape_(std::move(shape)), strides_(contiguous_strides(shape_)) {
        allocate(checked_numel(shape_));
    }
    /// Copies `values` (row-major).
    tensor(shape_t shape, std::span<const T> values) : shape_(std::move(shape)), strides_(contiguous_strides(shape_)) {
        require(values.size() == checked_numel(shape_), "tensor", "shape ", to_string(shape_), " needs ", numel(shape_),
                " values, got ", values.size());
        allocate(values.size());
        std::copy(values.begin(), values.end(), storage_.get());
    }

    std::size_t ndim() const noexcept { return shape_.size(); }
    const shape_t& shape() const noexcept { return shape_; }
    std::size_t shape(std::size_t axis) const { return shape_.at(axis); }
    const shape_t& strides() const noexcept { return strides_; }
    std::size_t size() const noexcept { return shape_.empty() && !storage_ ? 0 : numel(shape_); }
    bool empty() const noexcept { return size() == 0; }
    bool defined() const noexcept { return storage_ != nullptr; }
    bool contiguous() const noexcept { return strides_ == contiguous_strides(shape_); }
    /// True if both handles view the same storage.
    bool shares_storage(const tensor& o) const noexcept { return storage_ == o.storage_; }
    /// True if no other handle views this storage (an undefined tensor counts as unique).
    bool unique_storage() const noexcept { return storage_.use_count() <= 1; }

    T* data() noexcept { return storage_.get() + offset_; }
    const T* data() const noexcept { return storage_.get() + offset_; }

    template <class... I>
    T& operator()(I... idx) noexcept {
        return data()[index_of({std::size_t(idx)...})];
    }
    template <class... I>
    const T& operator()(I... idx) const noexcept {
        return data()[index_of({std::size_t(idx)...})];
    }

    /// Rows [first, last) along the batch axis (axis 0): a view, no copy.
    tensor slice(std::size_t first, std::size_t last) const {
        require(ndim() >= 1 && first <= last && last <= shape_[0], "tensor::slice", "rows [", first, ", ", last,
                ") out of range for shape ", to_string(shape_));
        tensor v = *this;
        v.offset_ += first * strides_[0];
        v.shape_[0] = last - first;
        return v;
    }

    /// Same data, new shape (sizes must agree; the tensor must be contiguous): a view.
    tensor reshape(shape_t s) const {
        require(numel(s) == size(), "tensor::reshape", "cannot reshape ", to_string(shape_), " to ", to_string(s));
        require(contiguous(), "tensor::reshape", "needs a contiguous tensor (call contiguous() first)");
        tensor v = *this;
        v.shape_ = std::move(s);
        v.strides_ = contiguous_strides(v.shape_);
        return v;
    }

    /// A deep copy with contiguous layout.
    tensor clone() const {
        tensor out(shape_, uninitialized);
        copy_to(out.data());
        return out;
    }
    /// This tensor if contiguous, otherwise a contiguous copy.
    tensor contiguous_copy() const { return contiguous() ? *this : clone(); }

    /// 2-D contiguous tensor as a matrix view (rows x cols).
    matrix_view<T> as_matrix() {
        require(ndim() == 2 && contiguous(), "tensor::as_matrix", "needs a contiguous 2-D tensor, got shape ",
                to_string(shape_));
        return {data(), shape_[0], shape_[1]};
    }
    matrix_view<const T> as_matrix() const {
        require(ndim() == 2 && contiguous(), "tensor::as_matrix", "needs a contiguous 2-D tensor, got shape ",
                to_string(shape_));
        return {data(), shape_[0], shape_[1]};
    }

    std::span<T> values() {
        require(contiguous(), "tensor::values", "needs a contiguous tensor");
        return {data(), size()};
    }
    std::span<const T> values() const {
        require(contiguous(), "tensor::values", "needs a contiguous tensor");
        return {data(), size()};
    }

private:
    void allocate(std::size_t n) {
        // large blocks come from (and go back to) the buffer pool: a training step's buffers are
        // reused by the next step instead of being faulted in and zeroed again
        const std::size_t bytes = checked_bytes(std::max<std::size_t>(n, 1), sizeof(T), "tensor", "a tensor");
        T* p = static_cast<T*>(buffer_pool::global().allocate(bytes));
        storage_ = std::shared_ptr<T[]>(p, [bytes](T* q) { buffer_pool::global().deallocate(q, bytes); });
    }
    std::size_t index_of(std::initializer_list<std::size_t> idx) const noexcept {
        std::size_t off = 0, k = 0;
        for (std::size_t i : idx) off += i * strides_[k++];
        return off;
    }
    void copy_to(T* out) const {
        // Walk the index space in row-major order (works for any strides).
        const std::size_t n = size();
        if (contiguous()) {
            std::copy_n(data(), n, out);
            return;
        }
        shape_t idx(ndim(), 0);
        for (std::size_t e = 0; e < n; ++e) {
            std::size_t off = 0;
            for (std::size_t a = 0; a < ndim(); ++a) off += idx[a] * strides_[a];
            out[e] = data()[off];
            for (std::size_t a = ndim(); a-- > 0;) {
                if (++idx[a] < shape_[a]) break;
                idx[a] = 0;
            }
        }
    }

    std::shared_ptr<T[]> storage_;
    std::size_t offset_ = 0;
    shape_t shape_, strides_;
};

/// Throws invalid_input naming `where` unless a and b have the same shape.
template <class A, class B>
void require_same_shape(const A& a, const B& b, const char* where) {
    require(a.shape() == b.shape(), where, "shape mismatch: ", to_string(a.shape()), " vs ", to_string(b.shape()));
}

/// Zero-copy xtensor adaptor over a tensor's elements (shape and strides kept).
template <class T>
auto as_xtensor(tensor<T>& t) {
    std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
    std::vector<std::ptrdiff_t> strides(t.strides().begin(), t.strides().end());
    std::size_t extent = 1;  // elements spanned, for the adaptor's size
    for (std::size_t a = 0; a < t.ndim(); ++a) extent += (t.shape(a) ? t.shape(a) - 1 : 0) * t.strides()[a];
    return xt::adapt(t.data(), extent, xt::no_ownership(), shape, strides);
}

/// Zero-copy Eigen row-major map of a contiguous 2-D tensor.
template <class T>
auto as_eigen(tensor<T>& t) {
    return as_eigen(t.as_matrix());
}

}  // namespace oneclass
