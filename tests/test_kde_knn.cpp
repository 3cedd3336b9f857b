// tests/test_kde_knn.cpp - KDE and kNN: sklearn golden values, brute-force double references
// over shapes with SIMD tails, large-gamma stability, the Detector contract, bad input.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/detectors/kde.hpp>
#include <oneclass/detectors/knn.hpp>
#include <oneclass/linalg/ref/distance.hpp>
#include <oneclass/testing/check_detector.hpp>

#include <tbb/global_control.h>

using namespace oneclass;

namespace {
// -(1/g) log sum_j exp(-g ||x - y_j||^2), in double, directly.
template <class T>
std::vector<double> kde_reference(const matrix<T>& X, const matrix<T>& Q, double g) {
    std::vector<double> out;
    for (std::size_t i = 0; i < Q.rows(); ++i) {
        std::vector<double> v;
        for (std::size_t j = 0; j < X.rows(); ++j) v.push_back(-g * linalg::ref::squared_distance(Q.row(i), X.row(j), X.cols()));
        const double m = *std::max_element(v.begin(), v.end());
        double s = 0;
        for (double x : v) s += std::exp(x - m);
        out.push_back(-(m + std::log(s)) / g);
    }
    return out;
}
}  // namespace

TEMPLATE_TEST_CASE("kde matches sklearn KernelDensity (converted to our score)", "", float, double) {
    using T = TestType;
    const auto X = test::from_golden<T>(golden::A_train, golden::A_rows, golden::A_dim);
    const auto Q = test::from_golden<T>(golden::A_test, golden::A_test_rows, golden::A_dim);
    const double rtol = std::is_same_v<T, float> ? 2e-5 : 1e-9;
    {
        kde<T> det({.gamma = T(0.15), .normalize = normalization::none});
        (void)det.fit(X.view());
        REQUIRE_ALLCLOSE(det.score(Q.view()), golden::kde_raw_g015, rtol, rtol);
    }
    {
        kde<T> det;  // defaults: L2 normalisation, gamma from the paper's rule
        (void)det.fit(X.view());
        REQUIRE(det.gamma() == Approx(golden::A_gamma_rule_l2).epsilon(1e-6));
        REQUIRE_ALLCLOSE(det.score(Q.view()), golden::kde_l2_rule, rtol * 10, rtol * 10);
    }
    {
        kde<T> det({.gamma = T(500), .normalize = normalization::none});  // exp(-500 d2) underflows without the shift
        (void)det.fit(X.view());
        const auto s = det.score(Q.view());
        for (T v : s) REQUIRE(std::isfinite(double(v)));
        REQUIRE_ALLCLOSE(s, golden::kde_raw_g500, rtol * 10, 1e-4);
    }
}

TEMPLATE_TEST_CASE("kde fast path equals the brute-force reference over SIMD tails and blocks", "", float, double) {
    using T = TestType;
    for (auto [n, m, d, block] : {std::tuple{2, 1, 1, 1}, {7, 5, 3, 2}, {33, 17, 9, 4}, {130, 67, 31, 16}, {50, 300, 128, 128}}) {
        const auto X = test::random_matrix<T>(std::size_t(n), std::size_t(d), test::seed() + 3);
        const auto Q = test::random_matrix<T>(std::size_t(m), std::size_t(d), test::seed() + 4, 1.5);
        for (double g : {0.01, 0.3, 50.0}) {
            kde<T> det({.gamma = T(g), .normalize = normalization::none, .block_rows = std::size_t(block)});
            (void)det.fit(X.view());
            INFO("n=" << n << " m=" << m << " d=" << d << " gamma=" << g);
            const double tol = std::is_same_v<T, float> ? 3e-5 * d : 1e-10 * d;
            REQUIRE_ALLCLOSE(det.score(Q.view()), kde_reference(X, Q, g), tol, tol);
        }
    }
}

TEMPLATE_TEST_CASE("kde and knn over disjoint shards: the merged parts are the whole set's scores", "", float, double) {
    using T = TestType;
    const std::size_t d = 19;
    const auto X = test::random_matrix<T>(230, d, test::seed() + 11);
    const auto Q = test::random_matrix<T>(41, d, test::seed() + 12, 1.5);
    // unequal shards, one of a single row (fewer than k below): [0, 120), [120, 121), [121, 230)
    const std::vector<std::pair<std::size_t, std::size_t>> shards{{0, 120}, {120, 1}, {121, 109}};
    for (double g : {0.05, 0.7, 40.0}) {
        const kde_params<T> p{.gamma = T(g), .normalize = normalization::l2, .block_rows = 16};
        kde<T> whole(p);
        (void)whole.fit(X.view());
        std::vector<kde_partial<T>> parts;
        for (auto [lo, n] : shards) {
            kde<T> part(p);
            (void)part.fit(X.view().middle_rows(lo, n));
            parts.push_back(part.partial_score(Q.view()));
        }
        const auto merged = kde<T>::merge_partials(parts, g);
        // against the double reference with the single-model test's tolerance (above): the merge
        // only regroups the same sum
        matrix<T> Xn = detail::preprocess(X.view(), normalization::l2), Qn = detail::preprocess(Q.view(), normalization::l2);
        const double tol = std::is_same_v<T, float> ? 3e-5 * d : 1e-10 * d;
        INFO("gamma=" << g);
        REQUIRE_ALLCLOSE(merged, kde_reference(Xn, Qn, g), tol, tol);
        REQUIRE_ALLCLOSE(merged, whole.score(Q.view()), 2 * tol, 2 * tol);
    }
    REQUIRE_THROWS_WITH(kde<T>::merge_partials({}, 1.0), Catch::Contains("no parts"));
    for (auto metric : {knn_metric::cosine, knn_metric::euclidean})
        for (std::size_t k : {std::size_t(1), std::size_t(3), std::size_t(20)}) {
            const knn_params<T> p{.k = k, .metric = metric};
            knn<T> whole(p);
            (void)whole.fit(X.view());
            std::vector<matrix<T>> parts;
            for (auto [lo, n] : shards) {
                knn<T> part({.k = 1, .metric = metric});
                (void)part.fit(X.view().middle_rows(lo, n));
                parts.push_back(part.partial_nearest(Q.view(), k));
            }
            INFO("k=" << k);
            // the selection is exact; the distances come from GEMMs over other blocks of reference
            // rows, which a BLAS may round differently: the sklearn comparison's tolerance (above)
            const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-7;
            REQUIRE_ALLCLOSE(knn<T>::merge_nearest(parts, p), whole.score(Q.view()), tol, tol);
            if (k > 1)
                REQUIRE_THROWS_WITH(knn<T>::merge_nearest({parts[1]}, p), Catch::Contains("fewer than k = " + std::to_string(k)));
        }
}

TEST_CASE("kde and knn scores do not depend on the thread count") {
    const auto X = test::random_matrix<float>(500, 40, 5), Q = test::random_matrix<float>(999, 40, 6);
    kde<float> k({.block_rows = 32});
    knn<float> n({.k = 3, .block_rows = 32});
    (void)k.fit(X.view());
    (void)n.fit(X.view());
    std::vector<float> k1, n1;
    {
        tbb::global_control g(tbb::global_control::max_allowed_parallelism, 1);
        k1 = k.score(Q.view());
        n1 = n.score(Q.view());
    }
    REQUIRE(k.score(Q.view()) == k1);
    REQUIRE(n.score(Q.view()) == n1);
}

TEMPLATE_TEST_CASE("knn matches sklearn NearestNeighbors (cosine and euclidean, k = 1 and 5)", "", float, double) {
    using T = TestType;
    const auto X = test::from_golden<T>(golden::A_train, golden::A_rows, golden::A_dim);
    const auto Q = test::from_golden<T>(golden::A_test, golden::A_test_rows, golden::A_dim);
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-7;  // float cosine: 1 - cos from ||x - y||^2 / 2
    auto run = [&](std::size_t k, knn_metric m) {
        knn<T> det({.k = k, .metric = m, .normalize = normalization::none});
        (void)det.fit(X.view());
        return det.score(Q.view());
    };
    REQUIRE_ALLCLOSE(run(1, knn_metric::cosine), golden::knn_cos_k1, tol, tol);
    REQUIRE_ALLCLOSE(run(5, knn_metric::cosine), golden::knn_cos_k5, tol, tol);
    REQUIRE_ALLCLOSE(run(1, knn_metric::euclidean), golden::knn_euc_k1, tol, tol);
    REQUIRE_ALLCLOSE(run(5, knn_metric::euclidean), golden::knn_euc_k5, tol, tol);
}

TEST_CASE("knn: every selection path (k = 1, small k, k > 16) equals brute force") {
    const auto X = test::random_matrix<double>(300, 9, test::seed() + 7), Q = test::random_matrix<double>(40, 9, test::seed() + 8);
    for (std::size_t k : {1, 2, 5, 16, 17, 40}) {
        knn<double> det({.k = k, .metric = knn_metric::euclidean, .normalize = normalization::none, .block_rows = 16});
        (void)det.fit(X.view());
        std::vector<double> ref;
        for (std::size_t i = 0; i < Q.rows(); ++i) {
            std::vector<double> d;
            for (std::size_t j = 0; j < X.rows(); ++j) d.push_back(std::sqrt(linalg::ref::squared_distance(Q.row(i), X.row(j), 9)));
            std::sort(d.begin(), d.end());
            ref.push_back(d[k - 1]);
        }
        INFO("k = " << k);
        REQUIRE_ALLCLOSE(det.score(Q.view()), ref, 1e-9, 1e-9);
    }
}

TEST_CASE("kde and knn satisfy the Detector contract") {
    REQUIRE(testing::check_detector([] { return kde<float>(); }).empty());
    REQUIRE(testing::check_detector([] { return kde<double>({.normalize = normalization::none}); }).empty());
    REQUIRE(testing::check_detector([] { return knn<float>({.k = 2, .metric = knn_metric::euclidean, .normalize = normalization::none}); }).empty());
}

TEST_CASE("kde / knn bad input: clear exceptions") {
    const auto X = test::random_matrix<float>(10, 4, 1);
    REQUIRE_THROWS_WITH(kde<float>({.gamma = -1.0f}), Catch::Contains("gamma must be > 0"));
    kde<float> k;
    REQUIRE_THROWS_WITH(k.score(X.view()), Catch::Contains("not fitted"));
    REQUIRE_THROWS_WITH(k.fit(X.view().middle_rows(0, 1)), Catch::Contains("at least 2 training rows, got 1"));
    REQUIRE_THROWS_WITH(k.fit(matrix_view<const float>()), Catch::Contains("at least 2 training rows, got 0"));
    kde<float> given({.gamma = 2.0f});  // a given width needs no variance: one row is a model
    REQUIRE_NOTHROW(given.fit(X.view().middle_rows(0, 1)));
    REQUIRE_THROWS_WITH(given.fit(matrix_view<const float>()), Catch::Contains("at least 1 training rows, got 0"));
    (void)k.fit(X.view());
    const auto W = test::random_matrix<float>(3, 5, 2);
    REQUIRE_THROWS_WITH(k.score(W.view()), Catch::Contains("kde::score: expected 4 features, got 5"));
    matrix<float> same(5, 3, 1.0f);
    kde<float> raw({.normalize = normalization::none});
    REQUIRE_THROWS_WITH(raw.fit(same.view()), Catch::Contains("numerically) identical"));
    // constant rows of different scale are one direction after L2 normalisation: equal up to rounding
    matrix<float> scaled(6, 300);
    for (std::size_t i = 0; i < 6; ++i)
        for (std::size_t j = 0; j < 300; ++j) scaled(i, j) = 0.7f + 0.1f * float(i);
    kde<float> l2;
    REQUIRE_THROWS_WITH(l2.fit(scaled.view()), Catch::Contains("numerically) identical"));
    REQUIRE_THROWS_WITH(knn<float>({.k = 0}), Catch::Contains("k must be >= 1"));
    knn<float> k20({.k = 20});
    REQUIRE_THROWS_WITH(k20.fit(X.view()), Catch::Contains("at least 20 training rows"));
}
