// tests/test_ocsvm.cpp - nu OC-SVM by our SMO against sklearn's OneClassSVM and libsvm's
// svm-train (rho, number of SVs, scores), optimality conditions, cache / shrinking invariance.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/detectors/ocsvm.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/testing/check_detector.hpp>

#include <tbb/global_control.h>

#include <numeric>

using namespace oneclass;

namespace {
struct golden_case {
    const char* name;
    double nu, gamma;
    svm_kernel kernel;
    bool l2;
    double shift;
    const std::vector<double>* scores;
    double rho, libsvm_rho;
    std::size_t nsv, libsvm_nsv;
};
std::vector<golden_case> cases() {
    using namespace golden;
    return {
        {"raw_nu05", ocsvm_raw_nu05_nu, ocsvm_raw_nu05_gamma, svm_kernel::rbf, false, 0, &ocsvm_raw_nu05_scores,
         ocsvm_raw_nu05_rho, ocsvm_raw_nu05_libsvm_rho, ocsvm_raw_nu05_nsv, ocsvm_raw_nu05_libsvm_nsv},
        {"raw_nu01", ocsvm_raw_nu01_nu, ocsvm_raw_nu01_gamma, svm_kernel::rbf, false, 0, &ocsvm_raw_nu01_scores,
         ocsvm_raw_nu01_rho, ocsvm_raw_nu01_libsvm_rho, ocsvm_raw_nu01_nsv, ocsvm_raw_nu01_libsvm_nsv},
        {"raw_nu09", ocsvm_raw_nu09_nu, ocsvm_raw_nu09_gamma, svm_kernel::rbf, false, 0, &ocsvm_raw_nu09_scores,
         ocsvm_raw_nu09_rho, ocsvm_raw_nu09_libsvm_rho, ocsvm_raw_nu09_nsv, ocsvm_raw_nu09_libsvm_nsv},
        {"l2_nu05", ocsvm_l2_nu05_nu, ocsvm_l2_nu05_gamma, svm_kernel::rbf, true, 0, &ocsvm_l2_nu05_scores,
         ocsvm_l2_nu05_rho, ocsvm_l2_nu05_libsvm_rho, ocsvm_l2_nu05_nsv, ocsvm_l2_nu05_libsvm_nsv},
        {"lin_nu033", ocsvm_lin_nu033_nu, 0, svm_kernel::linear, false, 3.0, &ocsvm_lin_nu033_scores,
         ocsvm_lin_nu033_rho, ocsvm_lin_nu033_libsvm_rho, ocsvm_lin_nu033_nsv, ocsvm_lin_nu033_libsvm_nsv},
    };
}
template <class T>
matrix<T> shifted(const std::vector<double>& v, std::size_t r, std::size_t c, double s) {
    auto m = test::from_golden<T>(v, r, c);
    for (auto& x : m.values()) x += T(s);
    return m;
}
}  // namespace

TEMPLATE_TEST_CASE("ocsvm reaches sklearn's and libsvm's solution", "", float, double) {
    using T = TestType;
    for (const auto& c : cases()) {
        INFO("case " << c.name);
        const auto X = shifted<T>(golden::A_train, golden::A_rows, golden::A_dim, c.shift);
        const auto Q = shifted<T>(golden::A_test, golden::A_test_rows, golden::A_dim, c.shift);
        ocsvm<T> det({.nu = c.nu, .gamma = T(c.gamma), .kernel = c.kernel,
                      .normalize = c.l2 ? normalization::l2 : normalization::none});
        const auto rep = det.fit(X.view());
        REQUIRE(rep.converged);
        REQUIRE(rep.iterations > 0);
        // the acceptance bar is 1e-3 relative; double precision gets far closer
        const double rtol = std::is_same_v<T, float> ? 1e-4 : 1e-5;
        REQUIRE(std::abs(det.rho() - c.rho) <= rtol * std::abs(c.rho));
        REQUIRE(std::abs(det.rho() - c.libsvm_rho) <= 1e-3 * std::abs(c.libsvm_rho));
        REQUIRE(det.n_support() == c.nsv);
        REQUIRE(det.n_support() == c.libsvm_nsv);
        const auto s = det.score(Q.view());
        const double scale = 1 + std::abs(c.rho);
        REQUIRE_ALLCLOSE(s, *c.scores, 0.0, rtol * scale * 10);
        // same ranking => same AUC against any labelling
        std::vector<int> y(s.size());
        for (std::size_t i = 0; i < y.size(); ++i) y[i] = i >= 40;
        REQUIRE(std::abs(roc_auc(s, y) - roc_auc(*c.scores, y)) <= 1e-4);
        const double asum = std::accumulate(det.dual_coef().begin(), det.dual_coef().end(), 0.0);
        REQUIRE(asum == Approx(c.nu * double(golden::A_rows)).epsilon(1e-12));
    }
}

TEST_CASE("ocsvm solution satisfies the KKT conditions within tol") {
    const auto X = test::random_matrix<double>(300, 8, test::seed());
    ocsvm<double> det({.nu = 0.2, .gamma = 0.1, .normalize = normalization::none, .tol = 1e-6});
    (void)det.fit(X.view());
    // f(x_i) = sum_j a_j K(x_j, x_i) - rho = -score: >= 0 where a_i = 0, <= 0 where a_i = 1.
    const auto s = det.score(X.view());
    std::vector<double> alpha(300, 0.0);
    for (std::size_t k = 0; k < det.n_support(); ++k) alpha[det.support_indices()[k]] = det.dual_coef()[k];
    for (std::size_t i = 0; i < 300; ++i) {
        const double f = -s[i];
        if (alpha[i] == 0) REQUIRE(f >= -1e-5);
        else if (alpha[i] == 1) REQUIRE(f <= 1e-5);
        else REQUIRE(std::abs(f) <= 1e-5);
    }
    // nu bounds: fraction of margin errors <= nu <= fraction of SVs
    std::size_t bound = 0;
    for (double a : alpha) bound += a == 1.0;
    REQUIRE(double(bound) / 300 <= 0.2 + 1e-12);
    REQUIRE(double(det.n_support()) / 300 >= 0.2 - 1e-12);
}

TEST_CASE("ocsvm: a tiny cache and no shrinking reach the same solution") {
    const auto X = test::random_matrix<float>(400, 10, test::seed() + 1);
    ocsvm<float> big({.nu = 0.3});
    (void)big.fit(X.view());
    ocsvm<float> tiny({.nu = 0.3, .cache_mb = 0.001});  // two rows
    (void)tiny.fit(X.view());
    // rows come from GEMMs of other batch sizes, so float rounding differs, not the solution
    REQUIRE(std::abs(tiny.rho() - big.rho()) <= 1e-5 * std::abs(big.rho()));
    REQUIRE(tiny.kernel_rows_computed() > big.kernel_rows_computed());
    const auto Q = test::random_matrix<float>(50, 10, test::seed() + 2);
    REQUIRE_ALLCLOSE(tiny.score(Q.view()), big.score(Q.view()), 0.0, 1e-4);
    ocsvm<float> noshrink({.nu = 0.3, .shrinking = false});
    (void)noshrink.fit(X.view());
    REQUIRE(std::abs(noshrink.rho() - big.rho()) <= 1e-3 * std::abs(big.rho()));
}

TEST_CASE("ocsvm fit is bit-identical across runs and thread counts") {
    const auto X = test::random_matrix<float>(700, 20, test::seed() + 3);
    auto fit = [&] {
        ocsvm<float> d({.nu = 0.3});
        (void)d.fit(X.view());
        return d;
    };
    const auto a = fit();
    ocsvm<float> one;
    {
        tbb::global_control g(tbb::global_control::max_allowed_parallelism, 1);
        one = fit();
    }
    REQUIRE(fit().rho() == a.rho());
    REQUIRE(one.rho() == a.rho());
    REQUIRE(one.dual_coef() == a.dual_coef());
}

TEST_CASE("ocsvm linear keeps the primal w and scores with it") {
    const auto X = test::random_matrix<double>(120, 6, 9, 1.0, 2.0);
    ocsvm<double> det({.nu = 0.4, .kernel = svm_kernel::linear, .normalize = normalization::none});
    (void)det.fit(X.view());
    const auto Q = test::random_matrix<double>(5, 6, 10);
    const auto s = det.score(Q.view());
    for (std::size_t i = 0; i < 5; ++i) {
        double k = 0;  // the dual form, term by term
        for (std::size_t j = 0; j < det.n_support(); ++j)
            for (std::size_t c = 0; c < 6; ++c) k += det.dual_coef()[j] * det.support_vectors()(j, c) * Q(i, c);
        REQUIRE(s[i] == Approx(det.rho() - k).epsilon(1e-12).margin(1e-12));
    }
}

TEST_CASE("ocsvm reports an iteration cap instead of throwing") {
    const auto X = test::random_matrix<double>(200, 5, 11);
    ocsvm<double> det({.nu = 0.5, .max_iter = 3});
    const auto rep = det.fit(X.view());
    REQUIRE_FALSE(rep.converged);
    REQUIRE(rep.iterations == 3);
    REQUIRE_THAT(rep.message, Catch::Contains("max_iter"));
    REQUIRE(det.fitted());
}

TEST_CASE("ocsvm satisfies the Detector contract; bad parameters throw") {
    REQUIRE(testing::check_detector([] { return ocsvm<float>(); }).empty());
    REQUIRE(testing::check_detector([] { return ocsvm<double>({.nu = 0.1, .normalize = normalization::none}); }).empty());
    REQUIRE_THROWS_WITH(ocsvm<float>({.nu = 0.0}), Catch::Contains("nu must be in (0, 1]"));
    REQUIRE_THROWS_WITH(ocsvm<float>({.nu = 1.5}), Catch::Contains("nu must be in (0, 1], got 1.5"));
    REQUIRE_THROWS_WITH(ocsvm<float>({.gamma = -2.0f}), Catch::Contains("gamma"));
    ocsvm<float> all({.nu = 1.0});  // every point a bound SV
    (void)all.fit(test::random_matrix<float>(20, 3, 1).view());
    REQUIRE(all.n_support() == 20);
}
