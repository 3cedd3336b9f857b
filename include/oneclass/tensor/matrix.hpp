// oneclass/tensor/matrix.hpp - a 2-D row-major matrix (rows = samples) and non-owning views.
//
// The detector stage works on feature matrices: n samples x d features, row-major, contiguous.
// `matrix<T>` owns 64-byte aligned storage (so SIMD loads of a row start aligned when d is a
// multiple of 16); `matrix_view<T>` / `matrix_view<const T>` are cheap views that every
// detector accepts, so features can come from anywhere without a copy:
//
//     std::vector<float> buf = ...;                        // n * d values, row-major
//     oneclass::matrix_view<const float> X(buf.data(), n, d);
//     auto E = oneclass::as_eigen(X);                      // zero-copy Eigen::Map
//
// The N-d tensor of the CNN core lives beside this file; this header stays dependency-free
// except for Eigen's Map.
#pragma once

#include <oneclass/core/error.hpp>

#include <oneclass/core/intrinsics.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <vector>

namespace oneclass {

/// Non-owning row-major view: `rows x cols`, row stride `stride` (>= cols) in elements.
template <class T>
class matrix_view {
public:
    using value_type = std::remove_const_t<T>;

    constexpr matrix_view() noexcept = default;
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
        : data_(data), rows_(rows), cols_(cols), stride_(cols) {}
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::size_t stride) noexcept
        : data_(data), rows_(rows), cols_(cols), stride_(stride) {}
    /// A mutable view converts to a const one.
    template <class U>
        requires(std::is_const_v<T> && std::is_same_v<const U, T>)
    constexpr matrix_view(matrix_view<U> other) noexcept
        : data_(other.data()), rows_(other.rows()), cols_(other.cols()), stride_(other.stride()) {}

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t rows() const noexcept { return rows_; }
    constexpr std::size_t cols() const noexcept { return cols_; }
    constexpr std::size_t stride() const noexcept { return stride_; }
    constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }
    constexpr bool contiguous() const noexcept { return stride_ == cols_; }

    constexpr T* row(std::size_t i) const noexcept { return data_ + i * stride_; }
    constexpr T& operator()(std::size_t i, std::size_t j) const noexcept { return data_[i * stride_ + j]; }

    /// Rows [first, first + count).
    constexpr matrix_view middle_rows(std::size_t first, std::size_t count) const noexcept {
        return matrix_view(data_ + first * stride_, count, cols_, stride_);
    }

private:
    T* data_ = nullptr;
    std::size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

namespace detail {
template <class T>
struct aligned_deleter {
    void operator()(T* p) const noexcept { ::operator delete[](p, std::align_val_t{64}); }
};
}  // namespace detail

/// Owning row-major matrix with 64-byte aligned, contiguous storage; value-semantic.
template <class T>
class matrix {
    static_assert(std::is_arithmetic_v<T>, "matrix<T>: T must be an arithmetic type");

public:
    using value_type = T;

    matrix() = default;
    matrix(std::size_t rows, std::size_t cols, T fill = T{}) : rows_(rows), cols_(cols) {
        allocate();
        std::fill_n(data_.get(), size(), fill);
    }
    /// Copies `values` (row-major, rows * cols of them).
    matrix(std::size_t rows, std::size_t cols, std::span<const T> values) : rows_(rows), cols_(cols) {
        require(values.size() == checked_mul(rows, cols, "matrix", "a matrix's element count"), "matrix", "expected ", rows * cols, " values for a ", rows,
                " x ", cols, " matrix, got ", values.size());
        allocate();
        std::copy(values.begin(), values.end(), data_.get());
    }
    /// Deep copy of any view (converting the element type).
    template <class U>
    explicit matrix(matrix_view<U> v) : rows_(v.rows()), cols_(v.cols()) {
        allocate();
        for (std::size_t i = 0; i < rows_; ++i)
            for (std::size_t j = 0; j < cols_; ++j) data_[i * cols_ + j] = static_cast<T>(v(i, j));
    }
    matrix(const matrix& o) : matrix(o.view()) {}
    matrix& operator=(const matrix& o) {
        if (this != &o) *this = matrix(o);
        return *this;
    }
    matrix(matrix&&) noexcept = default;
    matrix& operator=(matrix&&) noexcept = default;

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    std::size_t size() const noexcept { return rows_ * cols_; }
    bool empty() const noexcept { return size() == 0; }
    T* data() noexcept { return data_.get(); }
    const T* data() const noexcept { return data_.get(); }
    T* row(std::size_t i) noexcept { return data_.get() + i * cols_; }
    const T* row(std::size_t i) const noexcept { return data_.get() + i * cols_; }
    T& operator()(std::size_t i, std::size_t j) noexcept { return data_[i * cols_ + j]; }
    const T& operator()(std::size_t i, std::size_t j) const noexcept { return data_[i * cols_ + j]; }
    std::span<T> values() noexcept { return {data_.get(), size()}; }
    std::span<const T> values() const noexcept { return {data_.get(), size()}; }

    matrix_view<T> view() noexcept { return {data_.get(), rows_, cols_}; }
    matrix_view<const T> view() const noexcept { return {data_.get(), rows_, cols_}; }
    operator matrix_view<T>() noexcept { return view(); }
    operator matrix_view<const T>() const noexcept { return view(); }

private:
    void allocate() {
        const std::size_t bytes = checked_bytes(checked_mul(rows_, cols_, "matrix", "a matrix's element count"),
                                                sizeof(T), "matrix", "a matrix");
        if (bytes > 0) data_.reset(static_cast<T*>(::operator new[](bytes, std::align_val_t{64})));
    }
    std::unique_ptr<T[], detail::aligned_deleter<T>> data_;
    std::size_t rows_ = 0, cols_ = 0;
};

template <class T>
using eigen_row_matrix = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Zero-copy Eigen view of a matrix_view (row-major, outer stride = the view's stride).
template <class T>
auto as_eigen(matrix_view<T> v) {
    using M = std::conditional_t<std::is_const_v<T>, const eigen_row_matrix<T>, eigen_row_matrix<T>>;
    return Eigen::Map<M, Eigen::Unaligned, Eigen::OuterStride<>>(
        v.data(), static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols()),
        Eigen::OuterStride<>(static_cast<Eigen::Index>(v.stride())));
}

/// View of a contiguous row-major Eigen matrix (no copy).
template <class Derived>
auto view_of(Eigen::PlainObjectBase<Derived>& m) {
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1, "view_of: needs a row-major Eigen matrix");
    return matrix_view<typename Derived::Scalar>(m.data(), static_cast<std::size_t>(m.rows()),
                                                 static_cast<std::size_t>(m.cols()));
}
template <class Derived>
auto view_of(const Eigen::PlainObjectBase<Derived>& m) {
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1, "view_of: needs a row-major Eigen matrix");
    return matrix_view<const typename Derived::Scalar>(m.data(), static_cast<std::size_t>(m.rows()),
                                                       static_cast<std::size_t>(m.cols()));
}

/// Throws invalid_input naming `where` if any entry is NaN or infinite.
template <class T>
void require_finite(matrix_view<const T> m, const char* where, const char* what = "input") {
    for (std::size_t i = 0; i < m.rows(); ++i) {
        const T* r = m.row(i);
        for (std::size_t j = 0; j < m.cols(); ++j)
            if (!std::isfinite(static_cast<double>(r[j])))
                fail(where, what, " has a non-finite value (", r[j], ") at row ", i, ", column ", j);
    }
}

}  // namespace oneclass
