// oneclass/core/error.hpp - the library's exception types.
//
// Misuse and bad input never lead to undefined behaviour: every public entry point checks its
// arguments and throws one of the types below with a message that names the function and the
// offending values, e.g.
//     "[oneclass] kde::score: expected 128 features, got 64"
// Numerical outcomes that are not errors (an iteration cap reached, say) are reported in fit
// reports instead, so that callers decide.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

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

}  // namespace oneclass
