// tests/test_util.hpp - helpers shared by the test binaries.
#pragma once

#include <oneclass/core/rng.hpp>
#include <oneclass/tensor/matrix.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace test {

/// A fresh folder under the system's temporary directory (tag and process id in its name),
/// removed with everything in it when the object goes.
struct temp_dir {
    std::filesystem::path path;
    explicit temp_dir(const std::string& tag)
        : path(std::filesystem::temp_directory_path() / ("oneclass_" + tag + "_" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    temp_dir(const temp_dir&) = delete;
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::filesystem::path operator/(const std::string& s) const { return path / s; }
};

/// Seed for randomised tests: ONECLASS_TEST_SEED overrides the fixed default; printed on failure.
inline std::uint64_t seed(std::uint64_t fallback = 12345) {
    if (const char* s = std::getenv("ONECLASS_TEST_SEED")) return std::strtoull(s, nullptr, 10);
    return fallback;
}

template <class T>
oneclass::matrix<T> random_matrix(std::size_t rows, std::size_t cols, std::uint64_t s, double scale = 1.0,
                                  double shift = 0.0) {
    oneclass::rng r(s);
    oneclass::matrix<T> m(rows, cols);
    for (auto& v : m.values()) v = T(r.normal() * scale + shift);
    return m;
}

/// An N-d tensor of N(0, scale^2) values from rng(s) (double by default).
template <class T = double>
oneclass::tensor<T> random_tensor(oneclass::shape_t shape, std::uint64_t s, double scale = 1.0) {
    oneclass::tensor<T> t(std::move(shape));
    oneclass::rng r(s);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T(r.normal() * scale);
    return t;
}

template <class T>
oneclass::matrix<T> from_golden(const std::vector<double>& v, std::size_t rows, std::size_t cols) {
    REQUIRE(v.size() == rows * cols);
    oneclass::matrix<T> m(rows, cols);
    for (std::size_t i = 0; i < v.size(); ++i) m.data()[i] = T(v[i]);
    return m;
}

/// |a_i - b_i| <= atol + rtol |b_i| for all i; reports the first bad index and both values.
template <class A, class B>
bool allclose(const A& a, const B& b, double rtol, double atol, std::string* why = nullptr) {
    if (a.size() != b.size()) {
        if (why) *why = "sizes differ: " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = double(a[i]), y = double(b[i]);
        if (!(std::abs(x - y) <= atol + rtol * std::abs(y))) {
            if (why) {
                std::ostringstream os;
                os.precision(17);
                os << "first mismatch at index " << i << ": " << x << " vs " << y << " (|diff| " << std::abs(x - y)
                   << ")";
                *why = os.str();
            }
            return false;
        }
    }
    return true;
}

}  // namespace test

#define REQUIRE_ALLCLOSE(a, b, rtol, atol)                       \
    do {                                                         \
        std::string why_;                                        \
        const bool ok_ = test::allclose((a), (b), rtol, atol, &why_); \
        INFO(why_);                                              \
        REQUIRE(ok_);                                            \
    } while (0)
