// oneclass/core/error.hpp - the library's exception types.
//
// Misuse and bad input never lead to undefined behaviour: every public entry point checks its
// arguments and throws one of the types below with a message that names the function and the
// offending values, e.g.
//     "[oneclass] kde::score: expected 128 features, got 64"
// Numerical outcomes that are not errors (an iteration cap reached, say) are reported in fit
// reports instead, so that callers decide.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <unistd.h>

namespace oneclass {

/// Base of every exception the library throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Wrong shapes, non-finite values, out-of-range parameters, malformed files' contents.
class invalid_input : public error {
public:
    using error::error;
};

/// A detector (or model) was used before `fit` or `load`.
class not_fitted : public error {
public:
    using error::error;
};

/// A file could not be opened, read or written, or is truncated / corrupt / of a wrong version.
class io_error : public error {
public:
    using error::error;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
    std::ostringstream os;
    os.precision(10);
    (os << ... << std::forward<Args>(args));
    return os.str();
}
}  // namespace detail

/// Throws `E` with the message "[oneclass] <where>: <pieces...>".
template <class E = invalid_input, class... Args>
[[noreturn]] void fail(const char* where, Args&&... pieces) {
    throw E(detail::concat("[oneclass] ", where, ": ", std::forward<Args>(pieces)...));
}

/// `if (!cond) fail<E>(where, pieces...)`, for argument checks that read as a requirement.
template <class E = invalid_input, class... Args>
void require(bool cond, const char* where, Args&&... pieces) {
    if (!cond) fail<E>(where, std::forward<Args>(pieces)...);
}

/// a * b, or E naming `where` and `what` when the product does not fit in size_t. Sizes read from
/// files or computed from shapes go through this, so that a product that wraps (to 0, say) can
/// never pass a consistency check and leave an object with huge dimensions over a small buffer.
template <class E = invalid_input>
std::size_t checked_mul(std::size_t a, std::size_t b, const char* where, const char* what) {
    std::size_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        fail<E>(where, what, " is too large: ", a, " x ", b, " overflows a 64-bit size");
    return r;
}

/// The product of `dims` with checked_mul; 1 for none.
template <class E = invalid_input, class Range>
std::size_t checked_product(const Range& dims, const char* where, const char* what) {
    std::size_t r = 1;
    for (const auto d : dims) r = checked_mul<E>(r, static_cast<std::size_t>(d), where, what);
    return r;
}

/// Physical memory of this machine in bytes (0 when unknown).
inline std::size_t physical_memory_bytes() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) : 0;
}

/// Refuses (E) `bytes` that exceed this machine's physical memory: a size read from a file header
/// is checked here before anything that large is allocated or read.
template <class E = invalid_input>
void check_fits_memory(std::size_t bytes, const char* where, const char* what) {
    const std::size_t mem = physical_memory_bytes();
    if (mem && bytes > mem)
        fail<E>(where, what, " needs ", bytes, " bytes, more than this machine's memory (", mem, " bytes)");
}

/// `count` elements of `elem_size` bytes as a byte count, refused when it cannot be allocated at
/// all (more than half the address space); what fits here can still fail with bad_alloc.
template <class E = invalid_input>
std::size_t checked_bytes(std::size_t count, std::size_t elem_size, const char* where, const char* what) {
    const std::size_t b = checked_mul<E>(count, elem_size, where, what);
    if (b > std::numeric_limits<std::size_t>::max() / 2)
        fail<E>(where, what, " needs ", b, " bytes, more than any machine can allocate");
    return b;
}

}  // namespace oneclass
