// tests/test_autograd.cpp - autograd/: tape semantics (accumulation, no_grad, freeing, NaN loss)
// and finite-difference gradient checks of every function on odd shapes.
#include "test_util.hpp"

#include <oneclass/autograd/functions.hpp>
#include <oneclass/testing/check_gradients.hpp>

using namespace oneclass;
using V = variable<double>;

namespace {
tensor<double> rand_t(shape_t s, std::uint64_t seed, double shift = 0) {
    tensor<double> t(std::move(s));
    rng r(seed);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = r.normal() + shift;
    return t;
}
#define CHECK_GRADS(f, ...)                                              \
    do {                                                                 \
        const auto rep_ = testing::check_gradients(f, {__VA_ARGS__});    \
        INFO(rep_.worst);                                                \
        REQUIRE(rep_.ok);                                                \
        REQUIRE(rep_.checked > 0);                                       \
    } while (0)
}  // namespace

TEST_CASE("gradient checks: elementwise, reductions, matmul, linear") {
    const auto a = rand_t({3, 5}, 1), b = rand_t({3, 5}, 2), pos = rand_t({3, 5}, 3, 4.0);
    CHECK_GRADS([](std::vector<V>& v) { return fn::add(v[0], v[1]); }, a, b);
    CHECK_GRADS([](std::vector<V>& v) { return fn::sub(v[0], v[1]); }, a, b);
    CHECK_GRADS([](std::vector<V>& v) { return fn::mul(v[0], v[1]); }, a, b);
    CHECK_GRADS([](std::vector<V>& v) { return fn::scale(v[0], -2.5); }, a);
    CHECK_GRADS([](std::vector<V>& v) { return fn::relu(v[0]); }, a);
    CHECK_GRADS([](std::vector<V>& v) { return fn::add_relu(v[0], v[1]); }, a, b);
    // add_relu's backward runs after mul's here, so it adds to existing gradients; and one input twice
    CHECK_GRADS([](std::vector<V>& v) { return fn::add(fn::add_relu(v[0], v[1]), fn::mul(v[0], v[1])); }, a, b);
    CHECK_GRADS([](std::vector<V>& v) { return fn::add_relu(v[0], v[0]); }, a);
    CHECK_GRADS([](std::vector<V>& v) { return fn::exp(v[0]); }, a);
    CHECK_GRADS([](std::vector<V>& v) { return fn::log(v[0]); }, pos);
    CHECK_GRADS([](std::vector<V>& v) { return fn::sum(v[0]); }, a);
    CHECK_GRADS([](std::vector<V>& v) { return fn::mean(v[0]); }, a);
    CHECK_GRADS([](std::vector<V>& v) { return fn::mse_loss(v[0], v[1]); }, a, b);
    CHECK_GRADS([](std::vector<V>& v) { return fn::matmul(v[0], v[1]); }, rand_t({3, 4}, 4), rand_t({4, 7}, 5));
    CHECK_GRADS([](std::vector<V>& v) { return fn::linear(v[0], v[1], v[2]); }, rand_t({5, 3}, 6), rand_t({2, 3}, 7),
                rand_t({2}, 8));
    CHECK_GRADS([](std::vector<V>& v) { return fn::linear(v[0], v[1]); }, rand_t({1, 9}, 9), rand_t({4, 9}, 10));
}

TEST_CASE("the gradient checker catches a wrong backward") {
    // y = x^2 with the backward of y = x (gradient 1 instead of 2x)
    auto wrong_square = [](std::vector<V>& v) {
        auto nx = v[0].node();
        tensor<double> y(v[0].shape());
        for (std::size_t i = 0; i < y.size(); ++i) y.data()[i] = v[0].value().data()[i] * v[0].value().data()[i];
        return make_result<double>(std::move(y), {&v[0]}, [nx](var_node<double>& o) { nx->accumulate(o.grad); });
    };
    const auto rep = testing::check_gradients(wrong_square, {rand_t({2, 3}, 30, 3.0)});
    REQUIRE_FALSE(rep.ok);
    REQUIRE_THAT(rep.worst, Catch::Contains("input 0"));
    REQUIRE(rep.checked == 6);
}

TEST_CASE("gradient checks: log_softmax, cross_entropy, l2_normalize, a composed graph") {
    CHECK_GRADS([](std::vector<V>& v) { return fn::log_softmax(v[0]); }, rand_t({4, 6}, 11));
    CHECK_GRADS([](std::vector<V>& v) { return fn::cross_entropy(v[0], {0, 3, 5, 1}); }, rand_t({4, 6}, 12));
    CHECK_GRADS([](std::vector<V>& v) { return fn::l2_normalize(v[0]); }, rand_t({3, 7}, 13));
    // a two-layer MLP with a reused weight: gradients from both uses must add up
    CHECK_GRADS(
        [](std::vector<V>& v) {
            auto h = fn::relu(fn::linear(v[0], v[1]));
            auto z = fn::linear(h, v[2]);
            return fn::add(fn::cross_entropy(z, {1, 0, 2}), fn::mean(fn::mul(v[1], v[1])));
        },
        rand_t({3, 5}, 14), rand_t({8, 5}, 15), rand_t({3, 8}, 16));
}

TEST_CASE("closed forms: cross-entropy of uniform logits is log c; log_softmax rows sum to 1 in exp") {
    auto z = V::parameter(tensor<double>({2, 4}));
    auto ce = fn::cross_entropy(z, {0, 3});
    REQUIRE(ce.value().data()[0] == Approx(std::log(4.0)).epsilon(1e-14));
    backward(ce);
    // d/dz_j = (softmax_j - onehot_j) / n = (1/4 - [j == y]) / 2
    REQUIRE(z.grad()(0, 0) == Approx(-0.375));
    REQUIRE(z.grad()(0, 1) == Approx(0.125));
    auto big = V(tensor<double>({1, 3}, std::span<const double>(std::vector<double>{1000, 1001, 1002})));
    const auto lp = fn::log_softmax(big);
    double s = 0;
    for (int j = 0; j < 3; ++j) s += std::exp(lp.value()(0, j));
    REQUIRE(s == Approx(1.0).epsilon(1e-12));  // stable for huge logits
}

TEST_CASE("tape: gradients accumulate, no_grad records nothing, the tape is freed, NaN loss is reported") {
    auto w = V::parameter(rand_t({2, 2}, 20), "w");
    const auto x = V(rand_t({3, 2}, 21));
    for (int step = 0; step < 2; ++step) {
        auto loss = fn::sum(fn::matmul(x, w));
        backward(loss);
        REQUIRE(tape_size<double>() == 0);
    }
    // d sum(x w) / d w_ij = sum_r x_ri, twice
    for (std::size_t i = 0; i < 2; ++i) {
        const double col = x.value()(0, i) + x.value()(1, i) + x.value()(2, i);
        REQUIRE(w.grad()(i, 0) == Approx(2 * col));
    }
    w.zero_grad();
    {
        no_grad ng;
        auto y = fn::relu(fn::matmul(x, w));
        REQUIRE_FALSE(y.requires_grad());
        REQUIRE(tape_size<double>() == 0);
    }
    auto c = fn::sum(x);
    REQUIRE_THROWS_WITH(backward(c), Catch::Contains("does not depend on any parameter"));
}

TEST_CASE("tape: a gradient buffer shared by two inputs is copied before either is written (copy-on-write)") {
    // add_relu hands one masked gradient to both inputs. b is used again by an op recorded
    // earlier, whose backward runs later and adds to b's gradient: a's must not change with it.
    const auto av = rand_t({3, 4}, 40), bv = rand_t({3, 4}, 41), cv = rand_t({3, 4}, 42);
    auto a = V::parameter(av, "a"), b = V::parameter(bv, "b");
    const auto c = V(cv);
    auto z = fn::mul(b, c);
    auto y = fn::add_relu(a, b);
    auto loss = fn::add(fn::sum(y), fn::sum(z));
    backward(loss);
    REQUIRE_FALSE(a.grad().shares_storage(b.grad()));
    for (std::size_t i = 0; i < av.size(); ++i) {
        const double mask = av.data()[i] + bv.data()[i] > 0 ? 1.0 : 0.0;
        REQUIRE(a.grad().data()[i] == mask);
        REQUIRE(b.grad().data()[i] == mask + cv.data()[i]);
    }
    // the same input twice: the second accumulation adds to a private copy of the first
    auto d = V::parameter(av, "d");
    auto l2 = fn::sum(fn::add(d, d));
    backward(l2);
    for (std::size_t i = 0; i < av.size(); ++i) REQUIRE(d.grad().data()[i] == 2.0);
    // an op's output gradient is freed once its backward ran (as PyTorch frees non-leaf ones),
    // unless it was marked to be kept
    REQUIRE_FALSE(y.grad().defined());
    REQUIRE_FALSE(loss.grad().defined());
    auto e = V::parameter(av, "e");
    auto h = fn::mul(e, e);
    h.retain_grad();
    auto l3 = fn::sum(fn::mul(h, V(cv)));
    backward(l3);
    REQUIRE(h.grad().defined());
    for (std::size_t i = 0; i < av.size(); ++i) {
        REQUIRE(h.grad().data()[i] == cv.data()[i]);  // d sum(h c) / d h = c
        REQUIRE(e.grad().data()[i] == Approx(2 * av.data()[i] * cv.data()[i]));
    }
}

TEST_CASE("tape: a non-finite loss throws and clears the tape; shape errors name both shapes") {
    auto w = V::parameter(tensor<double>({1}, 1000.0));
    auto big = fn::exp(w);  // exp(1000) = inf
    auto loss = fn::sum(big);
    REQUIRE_THROWS_WITH(backward(loss), Catch::Contains("not finite"));
    REQUIRE(tape_size<double>() == 0);
    auto a = V::parameter(tensor<double>({2, 3})), b = V::parameter(tensor<double>({4, 2}));
    REQUIRE_THROWS_WITH(fn::matmul(a, b), Catch::Contains("[2, 3] x [4, 2]"));
    REQUIRE_THROWS_WITH(fn::add(a, b), Catch::Contains("fn::add: shape mismatch: [2, 3] vs [4, 2]"));
    REQUIRE_THROWS_WITH(fn::cross_entropy(a, {0, 3}), Catch::Contains("label 3"));
    REQUIRE_THROWS_WITH(fn::linear(a, b), Catch::Contains("does not match weight"));
    clear_tape<double>();
}
