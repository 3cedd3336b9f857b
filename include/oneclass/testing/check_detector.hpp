// oneclass/testing/check_detector.hpp - contract checks a user can run on their own Detector.
//
//     auto problems = oneclass::testing::check_detector([] { return my_detector<float>{}; });
//     assert(problems.empty());   // each entry says which requirement failed
//
// It checks the semantic rules of the Detector concept that the compiler cannot: score before
// fit throws not_fitted; a wrong column count and NaN input throw invalid_input; scores are
// finite; a far outlier scores higher (more anomalous) than the training centre; fitting twice
// gives identical scores; concurrent score calls on one const detector agree with a serial call.
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/rng.hpp>
#include <oneclass/detectors/detector.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace oneclass::testing {

template <class Make>
std::vector<std::string> check_detector(Make make, std::size_t n = 64, std::size_t d = 5, std::uint64_t seed = 1) {
    using D = decltype(make());
    static_assert(Detector<D>, "check_detector: the factory must return a Detector");
    using T = typename D::value_type;
    std::vector<std::string> problems;
    rng r(seed);
    matrix<T> X(n, d), Q(3, d);
    for (auto& v : X.values()) v = T(1.0 + 0.3 * r.normal());
    for (std::size_t j = 0; j < d; ++j) Q(0, j) = T(1.0), Q(1, j) = T(j % 2 ? 40.0 : -40.0), Q(2, j) = T(1.1);

    auto expect_throw = [&](auto&& f, auto tag, const char* what) {
        using E = decltype(tag);
        try {
            f();
            problems.push_back(std::string(what) + ": did not throw");
        } catch (const E&) {
        } catch (const std::exception& e) {
            problems.push_back(std::string(what) + ": threw the wrong type: " + e.what());
        }
    };
    {
        const D fresh = make();
        expect_throw([&] { (void)fresh.score(Q.view()); }, not_fitted("x"), "score before fit");
    }
    D det = make();
    (void)det.fit(X.view());
    if (!det.fitted()) problems.push_back("fitted() is false after fit");
    if (det.dim() != d) problems.push_back("dim() differs from the training columns");
    matrix<T> wrong(2, d + 1, T(1));
    expect_throw([&] { (void)det.score(wrong.view()); }, invalid_input("x"), "score with a wrong column count");
    matrix<T> bad = Q;
    bad(1, 0) = std::numeric_limits<T>::quiet_NaN();
    expect_throw([&] { (void)det.score(bad.view()); }, invalid_input("x"), "score with NaN input");
    const auto s = det.score(Q.view());
    for (T v : s)
        if (!std::isfinite(double(v))) problems.push_back("non-finite score");
    if (s.size() == 3 && !(s[1] > s[0])) problems.push_back("a far outlier does not score higher than the centre");
    D again = make();
    (void)again.fit(X.view());
    if (again.score(Q.view()) != s) problems.push_back("fitting twice on the same data gives different scores");
    std::vector<std::vector<T>> par(2);
    {
        std::thread a([&] { par[0] = det.score(Q.view()); }), b([&] { par[1] = det.score(Q.view()); });
        a.join();
        b.join();
    }
    if (par[0] != s || par[1] != s) problems.push_back("concurrent score calls disagree with a serial call");
    return problems;
}

}  // namespace oneclass::testing
