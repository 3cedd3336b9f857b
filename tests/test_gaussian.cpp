// tests/test_gaussian.cpp - GDE and GMM against sklearn's GaussianMixture; closed forms.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/detectors/gmm.hpp>
#include <oneclass/testing/check_detector.hpp>

#include <numbers>

using namespace oneclass;

TEMPLATE_TEST_CASE("gde matches sklearn GaussianMixture(1, full)", "", float, double) {
    using T = TestType;
    const auto X = test::from_golden<T>(golden::A_train, golden::A_rows, golden::A_dim);
    const auto Q = test::from_golden<T>(golden::A_test, golden::A_test_rows, golden::A_dim);
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-9;
    gde<T> raw({.normalize = normalization::none});
    (void)raw.fit(X.view());
    REQUIRE_ALLCLOSE(raw.score(Q.view()), golden::gde_raw, tol, tol);
    gde<T> l2;
    (void)l2.fit(X.view());
    REQUIRE_ALLCLOSE(l2.score(Q.view()), golden::gde_l2, tol * 10, tol * 10);
}

TEST_CASE("gde closed form: 1-D Gaussian negative log-likelihood") {
    matrix<double> X(4, 1);
    X(0, 0) = 1, X(1, 0) = 2, X(2, 0) = 3, X(3, 0) = 6;  // mean 3, biased variance 3.5
    gde<double> det({.reg_covar = 0, .normalize = normalization::none});
    (void)det.fit(X.view());
    matrix<double> q(1, 1, 5.0);
    const double var = 3.5;
    const double nll = 0.5 * (std::log(2 * std::numbers::pi * var) + (5.0 - 3.0) * (5.0 - 3.0) / var);
    REQUIRE(det.score(q.view())[0] == Approx(nll).epsilon(1e-13));
}

TEST_CASE("gde: a singular covariance with reg_covar = 0 is a clear error") {
    matrix<double> X(5, 2);
    for (std::size_t i = 0; i < 5; ++i) X(i, 0) = double(i), X(i, 1) = 2.0 * double(i);  // collinear
    gde<double> det({.reg_covar = 0, .normalize = normalization::none});
    REQUIRE_THROWS_WITH(det.fit(X.view()), Catch::Contains("not positive definite"));
    gde<double> reg({.reg_covar = 1e-6, .normalize = normalization::none});
    REQUIRE_NOTHROW(reg.fit(X.view()));
}

TEMPLATE_TEST_CASE("gmm finds sklearn's optimum on separated blobs", "", float, double) {
    using T = TestType;
    const auto X = test::from_golden<T>(golden::B_train, golden::B_rows, golden::B_dim);
    const auto Q = test::from_golden<T>(golden::B_test, golden::B_test_rows, golden::B_dim);
    for (std::uint64_t seed : {0u, 1u, 7u}) {
        gmm<T> det({.components = 3, .tol = 1e-10, .max_iter = 1000, .seed = seed, .normalize = normalization::none});
        const auto rep = det.fit(X.view());
        INFO("seed " << seed);
        REQUIRE(rep.converged);
        const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-6;
        REQUIRE_ALLCLOSE(det.score(Q.view()), golden::gmm_B_k3, tol, tol);
        auto w = det.weights();
        std::sort(w.begin(), w.end());
        REQUIRE_ALLCLOSE(w, golden::gmm_B_k3_weights_sorted, 1e-6, 1e-6);
    }
}

TEST_CASE("gmm with one component equals gde; same seed gives the same model") {
    const auto X = test::random_matrix<double>(200, 5, test::seed());
    const auto Q = test::random_matrix<double>(20, 5, test::seed() + 1);
    gmm<double> one({.components = 1});
    (void)one.fit(X.view());
    gde<double> g;
    (void)g.fit(X.view());
    REQUIRE_ALLCLOSE(one.score(Q.view()), g.score(Q.view()), 1e-9, 1e-9);
    gmm<double> a({.components = 4, .seed = 3}), b({.components = 4, .seed = 3});
    (void)a.fit(X.view());
    (void)b.fit(X.view());
    REQUIRE(a.score(Q.view()) == b.score(Q.view()));
}

TEST_CASE("gaussian detectors satisfy the Detector contract; bad parameters throw") {
    REQUIRE(testing::check_detector([] { return gde<float>(); }).empty());
    REQUIRE(testing::check_detector([] { return gmm<double>({.components = 2, .normalize = normalization::none}); }).empty());
    REQUIRE_THROWS_WITH(gmm<float>({.components = 0}), Catch::Contains("components must be >= 1"));
    REQUIRE_THROWS_WITH(gde<float>({.reg_covar = -1}), Catch::Contains("reg_covar"));
    gmm<float> many({.components = 10});
    REQUIRE_THROWS_WITH(many.fit(test::random_matrix<float>(5, 2, 1).view()), Catch::Contains("at least 10 training rows"));
    gmm<double> capped({.components = 2, .max_iter = 1, .normalize = normalization::none});
    const auto rep = capped.fit(test::random_matrix<double>(50, 3, 2).view());
    REQUIRE_FALSE(rep.converged);
    REQUIRE_THAT(rep.message, Catch::Contains("did not converge"));
}
