// tests/test_eval.cpp - eval/: ROC AUC (closed forms, sklearn golden values with ties), one-vs-rest.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/eval.hpp>

#include <tbb/global_control.h>

using namespace oneclass;

TEST_CASE("roc_auc closed forms") {
    REQUIRE(roc_auc(std::vector<double>{1, 2, 3, 4}, std::vector<int>{0, 0, 1, 1}) == 1.0);
    REQUIRE(roc_auc(std::vector<double>{4, 3, 2, 1}, std::vector<int>{0, 0, 1, 1}) == 0.0);
    REQUIRE(roc_auc(std::vector<double>{5, 5, 5, 5}, std::vector<int>{0, 1, 0, 1}) == 0.5);
    // one tie between classes among 2 x 2 pairs: (1 + 1 + 0.5 + 1) / 4
    REQUIRE(roc_auc(std::vector<double>{1, 2, 2, 3}, std::vector<int>{0, 0, 1, 1}) == 0.875);
}

TEST_CASE("roc_auc equals sklearn's roc_auc_score to 1e-12, with and without ties") {
    REQUIRE(std::abs(roc_auc(golden::auc_ties_scores, golden::auc_ties_labels) - golden::auc_ties) < 1e-12);
    REQUIRE(std::abs(roc_auc(golden::auc_cont_scores, golden::auc_cont_labels) - golden::auc_cont) < 1e-12);
}

TEST_CASE("roc_auc rejects bad input with a clear message") {
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, 2}, std::vector<int>{0}), Catch::Contains("2 scores but 1 labels"));
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, 2}, std::vector<int>{1, 1}), Catch::Contains("both classes"));
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, 2}, std::vector<int>{0, 2}), Catch::Contains("0 or 1"));
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, NAN}, std::vector<int>{0, 1}), Catch::Contains("non-finite"));
}

TEST_CASE("one_vs_rest: train rows of the inlier class, label 1 for every other class") {
    const std::vector<int> tr{0, 1, 2, 1, 1, 0}, te{2, 1, 0, 1};
    const auto s = one_vs_rest(tr, te, 1);
    REQUIRE(s.train_rows == std::vector<std::size_t>{1, 3, 4});
    REQUIRE(s.test_labels == std::vector<int>{1, 0, 1, 0});
    REQUIRE_THROWS_WITH(one_vs_rest(tr, te, 2), Catch::Contains("1 training rows"));
    REQUIRE_THROWS_AS(one_vs_rest(tr, std::vector<int>{1, 1}, 1), invalid_input);
}

namespace {
long double brute_uniformity(const matrix<double>& X) {
    const std::size_t n = X.rows(), d = X.cols();
    std::vector<long double> u(n * d);
    for (std::size_t i = 0; i < n; ++i) {
        long double nrm = 0;
        for (std::size_t j = 0; j < d; ++j) nrm += (long double)X(i, j) * X(i, j);
        for (std::size_t j = 0; j < d; ++j) u[i * d + j] = X(i, j) / std::sqrt(nrm);
    }
    long double s = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = i + 1; k < n; ++k) {
            long double d2 = 0;
            for (std::size_t j = 0; j < d; ++j) d2 += (u[i * d + j] - u[k * d + j]) * (u[i * d + j] - u[k * d + j]);
            s += std::exp(-2 * d2);
        }
    return std::log(s / (n * (n - 1) / 2.0L));
}
long double brute_mmd2(const matrix<double>& X, const matrix<double>& Y, double sigma) {
    auto k = [&](const double* a, const double* b) {
        long double d2 = 0;
        for (std::size_t j = 0; j < X.cols(); ++j) d2 += ((long double)a[j] - b[j]) * ((long double)a[j] - b[j]);
        return std::exp(-d2 / (2.0L * sigma * sigma));
    };
    const long double n = X.rows(), m = Y.rows();
    long double xx = 0, yy = 0, xy = 0;
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.rows(); ++j)
            if (i != j) xx += k(X.row(i), X.row(j));
    for (std::size_t i = 0; i < Y.rows(); ++i)
        for (std::size_t j = 0; j < Y.rows(); ++j)
            if (i != j) yy += k(Y.row(i), Y.row(j));
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < Y.rows(); ++j) xy += k(X.row(i), Y.row(j));
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - 2 * xy / (n * m);
}
}  // namespace

// Tolerances: the pair terms are exp of GEMM-expanded squared distances in double, each off by a
// few ulps of the norms (|x|^2 = 1 after normalisation); sums of 10^4-10^5 such terms then carry
// relative errors near 1e-13, far inside 1e-10.
TEST_CASE("uniformity and MMD^2 against brute-force long-double references, closed forms, any thread count") {
    const auto X = test::random_matrix<double>(150, 9, test::seed(31), 1.0, 0.5);
    const auto Y = test::random_matrix<double>(120, 9, test::seed(32), 0.7, -0.2);
    CHECK(uniformity<double>(X.view()) == Approx(double(brute_uniformity(X))).epsilon(1e-10));
    CHECK(mmd2_unbiased<double>(X.view(), Y.view(), 1.3) == Approx(double(brute_mmd2(X, Y, 1.3))).epsilon(1e-10));
    // closed forms: identical rows -> 0; two antipodal rows -> log exp(-2 * 4) = -8
    matrix<double> same(5, 3, 1.0);
    CHECK(uniformity<double>(same.view()) == Approx(0).margin(1e-12));
    matrix<double> anti(2, 3, 0.0);
    anti(0, 1) = 2, anti(1, 1) = -5;
    CHECK(uniformity<double>(anti.view()) == Approx(-8).epsilon(1e-12));
    // MMD^2 by hand: X = {0, 1}, Y = {0, 2} in one dimension, sigma = 1:
    // e^-0.5 + e^-2 - (1 + e^-2 + 2 e^-0.5) / 2 = (e^-2 - 1) / 2
    matrix<double> a(2, 1), b(2, 1);
    a(1, 0) = 1, b(1, 0) = 2;
    CHECK(mmd2_unbiased<double>(a.view(), b.view(), 1.0) == Approx((std::exp(-2.0) - 1) / 2).epsilon(1e-12));
    // features from the sphere itself sit near 0; features bunched around one direction far from it
    const auto S = sphere_samples(400, 16, 5);
    CHECK(std::abs(mmd2_to_sphere<double>(S.view(), 1.0, 6)) < 0.01);
    auto bunched = test::random_matrix<double>(400, 16, 7, 0.1);
    for (std::size_t i = 0; i < 400; ++i) bunched(i, 0) += 1;
    CHECK(mmd2_to_sphere<double>(bunched.view(), 1.0, 6) > 0.3);
    CHECK(uniformity<double>(bunched.view()) > uniformity<double>(S.view()) + 2);
    // the same numbers on one thread
    const double u = uniformity<double>(X.view()), m = mmd2_to_sphere<double>(X.view(), 0.8, 3);
    {
        tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
        CHECK(uniformity<double>(X.view()) == u);
        CHECK(mmd2_to_sphere<double>(X.view(), 0.8, 3) == m);
    }
    CHECK_THROWS_WITH(uniformity<double>(matrix<double>(1, 3).view()), Catch::Contains("at least 2 rows"));
    CHECK_THROWS_WITH(mmd2_unbiased<double>(X.view(), test::random_matrix<double>(5, 4, 1).view()), Catch::Contains("9 and 4 columns"));
    CHECK_THROWS_WITH(mmd2_to_sphere<double>(X.view(), 0.0), Catch::Contains("sigma must be > 0"));
    matrix<double> bad = X;
    bad(3, 3) = std::nan("");
    CHECK_THROWS(uniformity<double>(bad.view()));
}

TEST_CASE("score ensemble: each member standardised by its own normal scores, then averaged") {
    score_ensemble e;
    // member a: normal scores 1, 3 (mean 2, sd sqrt(2)); member b: 10, 20, 30 (mean 20, sd 10)
    e.add(std::vector<double>{1, 3}, std::vector<double>{2, 2 + std::sqrt(2.0)});
    e.add(std::vector<float>{10, 20, 30}, std::vector<float>{40, 20});
    const auto s = e.scores();
    REQUIRE(s.size() == 2);
    CHECK(s[0] == Approx((0.0 + 2.0) / 2));
    CHECK(s[1] == Approx((1.0 + 0.0) / 2));
    CHECK(e.members() == 2);
    CHECK_THROWS_WITH(e.add(std::vector<double>{1, 2}, std::vector<double>{1, 2, 3}), Catch::Contains("scores 3 test rows, the others 2"));
    CHECK_THROWS_WITH(e.add(std::vector<double>{1}, std::vector<double>{1, 2}), Catch::Contains("at least 2 normal scores"));
    CHECK_THROWS_WITH(score_ensemble().scores(), Catch::Contains("no members"));
    // a scale change of one member does not change the ensemble
    score_ensemble f, g;
    f.add(std::vector<double>{1, 2, 4}, std::vector<double>{3, 5});
    g.add(std::vector<double>{100, 200, 400}, std::vector<double>{300, 500});
    CHECK(f.scores()[1] == Approx(g.scores()[1]));
}

TEST_CASE("ROC curve: hand case with ties, and its trapezoids sum to the AUC") {
    // scores 0.9 (a), 0.8 (n), 0.8 (a), 0.3 (n): thresholds above 0.9, at 0.8 (a tie), at 0.3
    const std::vector<double> s{0.9, 0.8, 0.8, 0.3};
    const std::vector<int> y{1, 0, 1, 0};
    const auto c = roc_curve(s, y);
    REQUIRE(c.size() == 4);
    CHECK((c[0].fpr == 0 && c[0].tpr == 0));
    CHECK((c[1].fpr == 0 && c[1].tpr == 0.5));
    CHECK((c[2].fpr == 0.5 && c[2].tpr == 1));
    CHECK((c[3].fpr == 1 && c[3].tpr == 1));
    rng r(9);
    std::vector<double> sc(300);
    std::vector<int> lab(300);
    for (std::size_t i = 0; i < 300; ++i) lab[i] = int(i % 3 == 0), sc[i] = std::round(10 * (r.normal() + lab[i])) / 10;
    const auto curve = roc_curve(sc, lab);
    double area = 0;
    for (std::size_t i = 1; i < curve.size(); ++i) area += (curve[i].fpr - curve[i - 1].fpr) * (curve[i].tpr + curve[i - 1].tpr) / 2;
    CHECK(area == Approx(roc_auc(sc, lab)).epsilon(1e-12));
}
