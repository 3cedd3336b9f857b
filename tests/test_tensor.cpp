// tests/test_tensor.cpp - tensor/: shapes, views sharing storage, reshape / slice checks,
// zero-copy xtensor and Eigen interop.
#include "test_util.hpp"

#include <oneclass/tensor/tensor.hpp>

#include <xtensor/xarray.hpp>
#include <xtensor/xview.hpp>

using namespace oneclass;

TEMPLATE_TEST_CASE("tensor: NCHW storage, indexing, views share storage", "", float, double) {
    tensor<TestType> x({2, 3, 4, 5});
    REQUIRE(x.size() == 120);
    REQUIRE(x.strides() == shape_t{60, 20, 5, 1});
    REQUIRE(reinterpret_cast<std::uintptr_t>(x.data()) % 64 == 0);
    x(1, 2, 3, 4) = TestType(7);
    REQUIRE(x.data()[60 + 40 + 15 + 4] == TestType(7));
    auto b = x.slice(1, 2);
    REQUIRE(b.shape() == shape_t{1, 3, 4, 5});
    REQUIRE(b.shares_storage(x));
    REQUIRE(b(0, 2, 3, 4) == TestType(7));
    b(0, 0, 0, 0) = TestType(3);
    REQUIRE(x(1, 0, 0, 0) == TestType(3));
    auto c = x.clone();
    REQUIRE_FALSE(c.shares_storage(x));
    c(1, 0, 0, 0) = TestType(9);
    REQUIRE(x(1, 0, 0, 0) == TestType(3));
    auto flat = x.reshape({2, 60});
    REQUIRE(flat(1, 0) == TestType(3));
    REQUIRE(flat.as_matrix()(1, 59) == TestType(7));
}

TEST_CASE("tensor: bad shapes and ranges name both shapes") {
    tensor<float> x({4, 6});
    REQUIRE_THROWS_WITH(x.reshape({5, 5}), Catch::Contains("cannot reshape [4, 6] to [5, 5]"));
    REQUIRE_THROWS_WITH(x.slice(2, 5), Catch::Contains("out of range for shape [4, 6]"));
    REQUIRE_THROWS_WITH(tensor<float>({2, 2}, std::span<const float>(std::vector<float>(3))),
                        Catch::Contains("needs 4 values, got 3"));
    tensor<float> y({4, 5});
    REQUIRE_THROWS_WITH(require_same_shape(x, y, "add"), Catch::Contains("add: shape mismatch: [4, 6] vs [4, 5]"));
    REQUIRE_THROWS_AS(tensor<float>({2, 3, 4}).as_matrix(), invalid_input);
}

TEST_CASE("tensor: zero-copy xtensor and Eigen views") {
    tensor<float> x({3, 4});
    for (std::size_t i = 0; i < 12; ++i) x.data()[i] = float(i);
    auto xa = as_xtensor(x);
    REQUIRE(xa.shape()[0] == 3);
    REQUIRE(xa(2, 1) == 9.0f);
    xa(0, 0) = -1.0f;
    REQUIRE(x(0, 0) == -1.0f);
    auto rows = x.slice(1, 3);
    auto xs = as_xtensor(rows);
    REQUIRE(xs(0, 0) == 4.0f);
    REQUIRE(xt::sum(xs)() == Approx(4 + 5 + 6 + 7 + 8 + 9 + 10 + 11));
    auto E = as_eigen(x);
    E(2, 3) = 42.0f;
    REQUIRE(x(2, 3) == 42.0f);
    REQUIRE(E.rows() == 3);
}
