// tests/test_linalg.cpp - linalg/: blocked squared distances against the brute-force double
// reference (linalg/ref/distance.hpp) and every gemm variant against a naive product.
#include "test_util.hpp"

#include <oneclass/linalg/distance.hpp>
#include <oneclass/linalg/gemm.hpp>
#include <oneclass/linalg/ref/distance.hpp>

using namespace oneclass;

TEMPLATE_TEST_CASE("blocked squared distances equal the brute-force double reference", "", float, double) {
    using T = TestType;
    for (auto [b, n, d] : {std::tuple{1, 1, 1}, {5, 7, 3}, {17, 33, 9}, {64, 100, 128}, {3, 513, 31}}) {
        const auto Q = test::random_matrix<T>(std::size_t(b), std::size_t(d), test::seed() + 1);
        const auto R = test::random_matrix<T>(std::size_t(n), std::size_t(d), test::seed() + 2);
        const auto qn = linalg::row_squared_norms<T>(Q.view());
        const auto rn = linalg::row_squared_norms<T>(R.view());
        matrix<T> D(static_cast<std::size_t>(b), static_cast<std::size_t>(n));
        linalg::squared_distances<T>(Q.view(), qn.data(), R.view(), rn.data(), D.view());
        std::vector<double> ref, got;
        for (int i = 0; i < b; ++i)
            for (int j = 0; j < n; ++j) {
                ref.push_back(linalg::ref::squared_distance(Q.row(std::size_t(i)), R.row(std::size_t(j)), std::size_t(d)));
                got.push_back(double(D(std::size_t(i), std::size_t(j))));
            }
        const double tol = std::is_same_v<T, float> ? 2e-5 * d : 1e-12 * d;
        INFO("b=" << b << " n=" << n << " d=" << d);
        REQUIRE_ALLCLOSE(got, ref, 0.0, tol);
        for (double v : got) REQUIRE(v >= 0.0);
    }
}

TEST_CASE("gemm variants agree with a naive product") {
    const auto A = test::random_matrix<double>(4, 3, 1), B = test::random_matrix<double>(5, 3, 2);
    matrix<double> C(4, 5), Ct(3, 3);
    linalg::gemm_nt<double>(A.view(), B.view(), C.view(), 1.0, 0.0);
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 5; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < 3; ++k) s += A(i, k) * B(j, k);
            REQUIRE(std::abs(C(i, j) - s) < 1e-12);
        }
    linalg::gemm_tn<double>(A.view(), A.view(), Ct.view(), 2.0, 0.0);
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            double s = 0;
            for (std::size_t k = 0; k < 4; ++k) s += 2 * A(k, i) * A(k, j);
            REQUIRE(std::abs(Ct(i, j) - s) < 1e-12);
        }
    matrix<double> S(3, 3);
    linalg::syrk_tn<double>(A.view(), S.view(), 2.0);
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 3; ++j) REQUIRE(std::abs(S(i, j) - Ct(i, j)) < 1e-12);
    matrix<double> U(3, 3, 0.0), Bm = A;  // B (4 x 3) * U (upper)
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = i; j < 3; ++j) U(i, j) = double(1 + i + 2 * j);
    linalg::trmm_right_upper<double>(Bm.view(), U.view());
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            double s = 0;
            for (std::size_t k = 0; k <= j; ++k) s += A(i, k) * U(k, j);
            REQUIRE(std::abs(Bm(i, j) - s) < 1e-12);
        }
    std::vector<double> y(4);
    linalg::gemv<double>(A.view(), B.row(0), y.data());
    for (std::size_t i = 0; i < 4; ++i) REQUIRE(std::abs(y[i] - C(i, 0)) < 1e-12);
}
