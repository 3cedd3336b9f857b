// tests/test_nn_functions.cpp - the differentiable functions of autograd/nn_functions.hpp: conv2d
// by finite differences (stride 2, padding, odd sizes), batch norm (training and eval, PyTorch's
// running-statistics rule, fused forms), pooling, upsampling, flatten, batch concat / slice. The
// kernels underneath are tested against their oracles in test_ops_*.cpp.
#include "test_util.hpp"

#include <oneclass/autograd/nn_functions.hpp>
#include <oneclass/ops/ref/conv.hpp>
#include <oneclass/testing/check_gradients.hpp>

#include <tbb/global_control.h>

#include <limits>

using namespace oneclass;
using V = variable<double>;
using fn::batch_norm_state;

namespace {
template <class T = double>
tensor<T> rand_t(shape_t s, std::uint64_t seed, double scale = 1.0) {
    return test::random_tensor<T>(std::move(s), seed, scale);
}
template <class F, class... Ts>
void check_grads(F f, const Ts&... inputs) {
    const auto rep = testing::check_gradients(f, {inputs...});
    INFO(rep.worst);
    REQUIRE(rep.ok);
}
// a macro so that lambdas with braced lists inside pass through (they are re-joined by __VA_ARGS__)
#define CHECK_GRADS(...) check_grads(__VA_ARGS__)
}  // namespace

TEST_CASE("conv2d gradients (input, weight, bias) by finite differences") {
    CHECK_GRADS([](std::vector<V>& v) { return fn::conv2d(v[0], v[1], v[2], 1, 1); }, rand_t({2, 3, 5, 4}, 4),
                rand_t({2, 3, 3, 3}, 5), rand_t({2}, 6));
    CHECK_GRADS([](std::vector<V>& v) { return fn::conv2d(v[0], v[1], V(), 2, 1); }, rand_t({3, 2, 7, 7}, 7),
                rand_t({4, 2, 3, 3}, 8));
    CHECK_GRADS([](std::vector<V>& v) { return fn::conv2d(v[0], v[1], V(), 2, 0); }, rand_t({5, 3, 6, 5}, 9),
                rand_t({2, 3, 1, 1}, 10));
    // P Q = 64: images go 4 to a GEMM, so 5 images make a full and a partial group
    REQUIRE(ops::images_per_gemm({5, 2, 8, 8, 2, 3, 3, 1, 1}) == 4);
    CHECK_GRADS([](std::vector<V>& v) { return fn::conv2d(v[0], v[1], v[2], 1, 1); }, rand_t({5, 2, 8, 8}, 26),
                rand_t({2, 2, 3, 3}, 27), rand_t({2}, 28));
}

TEST_CASE("conv2d: a bias-only gradient skips the weight gradient and is still right") {
    const auto x = rand_t({2, 3, 5, 5}, 50), w = rand_t({4, 3, 3, 3}, 51);
    CHECK_GRADS([&](std::vector<V>& v) { return fn::conv2d(V(x), V(w), v[0], 1, 1); }, rand_t({4}, 52));
}

TEST_CASE("conv2d weight gradient is bit-identical on 1 and 2 threads") {
    const auto x = rand_t<float>({9, 3, 8, 8}, 11), w = rand_t<float>({4, 3, 3, 3}, 12);
    auto grad = [&] {
        auto xv = variable<float>(x), wv = variable<float>::parameter(w.clone());
        auto loss = fn::sum(fn::mul(fn::conv2d(xv, wv, {}, 1, 1), fn::conv2d(xv, wv, {}, 1, 1)));
        backward(loss);
        return std::vector<float>(wv.grad().data(), wv.grad().data() + wv.grad().size());
    };
    std::vector<float> one;
    {
        tbb::global_control g(tbb::global_control::max_allowed_parallelism, 1);
        one = grad();
    }
    REQUIRE(grad() == one);
}

TEST_CASE("batch norm: training normalises and updates running stats as PyTorch; eval uses them") {
    // 3 x 3 planes are summed plane by plane; 4 x 4 ones vertically (bn_vertical), here over 11
    // images (flushed after 8 and at the end) and 18 channels (a block of 16 and a rest)
    for (auto [N, C, H] : {std::tuple{4, 2, 3}, {11, 18, 4}}) {
        const std::size_t HW = std::size_t(H * H), M = std::size_t(N) * HW;
        INFO("N C H = " << N << " " << C << " " << H);
        batch_norm_state<double> st{std::size_t(C)};
        const auto x = rand_t({std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(H)}, 13, 2.0);
        auto y = fn::batch_norm(V(x), V(tensor<double>({std::size_t(C)}, 1.0)), V(tensor<double>({std::size_t(C)}, 0.0)), st, true);
        for (std::size_t c = 0; c < std::size_t(C); ++c) {
            double s = 0, ss = 0, xs = 0, xss = 0;
            for (std::size_t n = 0; n < std::size_t(N); ++n)
                for (std::size_t i = 0; i < HW; ++i) {
                    const double v = y.value().data()[(n * C + c) * HW + i], u = x.data()[(n * C + c) * HW + i];
                    s += v, ss += v * v, xs += u, xss += u * u;
                }
            REQUIRE(std::abs(s / double(M)) < 1e-12);
            const double var = xss / double(M) - (xs / double(M)) * (xs / double(M));
            REQUIRE(ss / double(M) == Approx(var / (var + 1e-5)).epsilon(1e-9));
            REQUIRE(st.running_mean[c] == Approx(0.1 * xs / double(M)).epsilon(1e-12));
            REQUIRE(st.running_var[c] == Approx(0.9 + 0.1 * var * double(M) / double(M - 1)).epsilon(1e-12));  // unbiased
        }
    }
    batch_norm_state<double> st(2);
    const auto x = rand_t({4, 2, 3, 3}, 13, 2.0);
    auto y = fn::batch_norm(V(x), V(tensor<double>({2}, 1.0)), V(tensor<double>({2}, 0.0)), st, true);
    auto e = fn::batch_norm(V(x), V(tensor<double>({2}, 2.0)), V(tensor<double>({2}, 0.5)), st, false);
    REQUIRE(e.value()(1, 1, 2, 2) ==
            Approx((x(1, 1, 2, 2) - st.running_mean[1]) / std::sqrt(st.running_var[1] + 1e-5) * 2.0 + 0.5));
}

TEST_CASE("batch norm gradients in training and eval mode, 4-D and 2-D") {
    for (bool training : {true, false}) {
        INFO("training " << training);
        CHECK_GRADS(
            [training](std::vector<V>& v) {
                batch_norm_state<double> st(3);
                st.running_mean = {0.1, -0.2, 0.3};
                st.running_var = {1.5, 0.7, 2.0};
                return fn::batch_norm(v[0], v[1], v[2], st, training);
            },
            rand_t({3, 3, 2, 3}, 14), rand_t({3}, 15), rand_t({3}, 16));
        CHECK_GRADS(
            [training](std::vector<V>& v) {
                batch_norm_state<double> st(4);
                return fn::batch_norm(v[0], v[1], v[2], st, training);
            },
            rand_t({5, 4}, 17), rand_t({4}, 18), rand_t({4}, 19));
        CHECK_GRADS(  // the fused batch_norm_relu
            [training](std::vector<V>& v) {
                batch_norm_state<double> st(3);
                st.running_mean = {0.1, -0.2, 0.3};
                st.running_var = {1.5, 0.7, 2.0};
                return fn::batch_norm_relu(v[0], v[1], v[2], st, training);
            },
            rand_t({3, 3, 2, 3}, 20), rand_t({3}, 21), rand_t({3}, 22));
        for (bool relu : {false, true}) {  // 4 x 4 planes: summed vertically, over 11 images and 18 channels
            INFO("relu " << relu);
            // 2816 outputs in the projected sum: its rounding, divided by eps, is ~1e-8 (atol 1e-7)
            const auto rep = testing::check_gradients(
                [training, relu](std::vector<V>& v) {
                    batch_norm_state<double> st(18);
                    return relu ? fn::batch_norm_relu(v[0], v[1], v[2], st, training) : fn::batch_norm(v[0], v[1], v[2], st, training);
                },
                {rand_t({11, 18, 4, 4}, 23), rand_t({18}, 24), rand_t({18}, 25)}, 1e-6, 1e-5, 1e-7);
            INFO(rep.worst);
            REQUIRE(rep.ok);
        }
    }
}

TEST_CASE("batch_norm_add_relu equals relu(batch_norm(x) + r): values, gradients of all four inputs, shape errors") {
    for (bool training : {true, false}) {
        INFO("training " << training);
        CHECK_GRADS(
            [training](std::vector<V>& v) {
                batch_norm_state<double> st(3);
                st.running_mean = {0.1, -0.2, 0.3};
                st.running_var = {1.5, 0.7, 2.0};
                return fn::batch_norm_add_relu(v[0], v[1], v[2], st, training, v[3]);
            },
            rand_t({3, 3, 2, 3}, 60), rand_t({3}, 61), rand_t({3}, 62), rand_t({3, 3, 2, 3}, 63));
        // against the composition in float, on 4 x 4 planes (summed vertically) and 5 x 5 ones
        for (auto [N, C, H] : {std::tuple{4, 3, 5}, {11, 18, 4}}) {
            const shape_t sh{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(H)};
            const auto x = rand_t<float>(sh, 64), r = rand_t<float>(sh, 65), dy = rand_t<float>(sh, 66);
            const auto g = rand_t<float>({std::size_t(C)}, 67), b = rand_t<float>({std::size_t(C)}, 68);
            fn::batch_norm_state<float> s1{std::size_t(C)}, s2{std::size_t(C)};
            using P = variable<float>;
            auto x1 = P::parameter(x), g1 = P::parameter(g), b1 = P::parameter(b), r1 = P::parameter(r);
            auto x2 = P::parameter(x.clone()), g2 = P::parameter(g.clone()), b2 = P::parameter(b.clone()), r2 = P::parameter(r.clone());
            auto y1 = fn::batch_norm_add_relu(x1, g1, b1, s1, training, r1);
            const tensor<float> v1 = y1.value().clone();
            auto l1 = fn::sum(fn::mul(y1, variable<float>(dy)));
            backward(l1);
            auto y2 = fn::add_relu(fn::batch_norm(x2, g2, b2, s2, training), r2);
            REQUIRE(std::equal(v1.data(), v1.data() + v1.size(), y2.value().data()));
            REQUIRE(s1.running_mean == s2.running_mean);
            auto l2 = fn::sum(fn::mul(y2, variable<float>(dy)));
            backward(l2);
            for (auto [p, q] : {std::pair{&x1, &x2}, {&g1, &g2}, {&b1, &b2}, {&r1, &r2}})
                REQUIRE_ALLCLOSE(std::vector<double>(p->grad().data(), p->grad().data() + p->grad().size()),
                                 std::vector<double>(q->grad().data(), q->grad().data() + q->grad().size()), 1e-6, 1e-6);
        }
    }
    batch_norm_state<double> st(3);
    REQUIRE_THROWS_WITH(fn::batch_norm_add_relu(V(rand_t({2, 3, 4, 4}, 69)), V(tensor<double>({3}, 1.0)), V(tensor<double>({3})), st,
                                                true, V(rand_t({2, 3, 4, 5}, 70))),
                        Catch::Contains("fn::batch_norm_add_relu") && Catch::Contains("[2, 3, 4, 4]") && Catch::Contains("[2, 3, 4, 5]"));
}

TEST_CASE("fused batch_norm_relu and add_relu equal their unfused compositions, values and gradients") {
    for (bool training : {true, false}) {
        const auto x = rand_t<float>({4, 3, 5, 5}, 23), g = rand_t<float>({3}, 24), b = rand_t<float>({3}, 25);
        const auto dy = rand_t<float>({4, 3, 5, 5}, 26);
        fn::batch_norm_state<float> s1(3), s2(3);
        using P = variable<float>;
        auto x1 = P::parameter(x), g1 = P::parameter(g), b1 = P::parameter(b);
        auto x2 = P::parameter(x.clone()), g2 = P::parameter(g.clone()), b2 = P::parameter(b.clone());
        // one graph at a time: backward consumes the tape
        auto y1 = fn::batch_norm_relu(x1, g1, b1, s1, training);
        const tensor<float> v1 = y1.value().clone();
        auto l1 = fn::sum(fn::mul(y1, variable<float>(dy)));
        backward(l1);
        auto y2 = fn::relu(fn::batch_norm(x2, g2, b2, s2, training));
        REQUIRE(std::equal(v1.data(), v1.data() + v1.size(), y2.value().data()));
        REQUIRE(s1.running_var == s2.running_var);
        auto l2 = fn::sum(fn::mul(y2, variable<float>(dy)));
        backward(l2);
        for (auto [p, q] : {std::pair{&x1, &x2}, {&g1, &g2}, {&b1, &b2}})
            REQUIRE_ALLCLOSE(std::vector<double>(p->grad().data(), p->grad().data() + p->grad().size()),
                             std::vector<double>(q->grad().data(), q->grad().data() + q->grad().size()), 1e-6, 1e-6);
    }
    const auto a = rand_t<float>({3, 7}, 27), c = rand_t<float>({3, 7}, 28);
    using P = variable<float>;
    auto a1 = P::parameter(a), c1 = P::parameter(c), a2 = P::parameter(a.clone()), c2 = P::parameter(c.clone());
    auto r1 = fn::add_relu(a1, c1);
    const tensor<float> w1 = r1.value().clone();
    auto s1 = fn::sum(r1);
    backward(s1);
    auto r2 = fn::relu(fn::add(a2, c2));
    REQUIRE(std::equal(w1.data(), w1.data() + 21, r2.value().data()));
    auto s2 = fn::sum(r2);
    backward(s2);
    REQUIRE(std::equal(a1.grad().data(), a1.grad().data() + 21, a2.grad().data()));
    REQUIRE(std::equal(c1.grad().data(), c1.grad().data() + 21, c2.grad().data()));
    // NaN propagates through ReLU (as in PyTorch), so a diverging network shows a NaN loss
    tensor<float> n({2}, std::numeric_limits<float>::quiet_NaN());
    REQUIRE(std::isnan(fn::relu(variable<float>(n)).value().data()[0]));
    REQUIRE(std::isnan(fn::add_relu(variable<float>(n), variable<float>(n)).value().data()[1]));
}

TEST_CASE("transposed conv, average pooling and upsampling: finite-difference gradients") {
    CHECK_GRADS([](std::vector<V>& v) { return fn::conv_transpose2d(v[0], v[1], v[2], 2, 1, 1); }, rand_t({2, 2, 3, 4}, 30),
                rand_t({2, 3, 3, 3}, 31), rand_t({3}, 32));
    CHECK_GRADS([](std::vector<V>& v) { return fn::avg_pool2d(v[0], 2, 2); }, rand_t({1, 2, 5, 4}, 33));
    CHECK_GRADS([](std::vector<V>& v) { return fn::upsample2d(v[0], 2, fn::upsample_mode::bilinear); }, rand_t({1, 2, 3, 4}, 34));
    CHECK_GRADS([](std::vector<V>& v) { return fn::upsample2d(v[0], 3, fn::upsample_mode::nearest); }, rand_t({2, 1, 2, 3}, 35));
    REQUIRE(fn::conv_transpose2d(V(rand_t({1, 4, 8, 8}, 1)), V(rand_t({4, 2, 4, 4}, 2)), V(), 2, 1).shape() ==
            shape_t{1, 2, 16, 16});  // the decoder's 2x upsampling layer
    REQUIRE_THROWS_WITH(fn::conv_transpose2d(V(rand_t({1, 4, 8, 8}, 1)), V(rand_t({3, 2, 4, 4}, 2))),
                        Catch::Contains("has 4 channels but weight [3, 2, 4, 4] expects 3"));
}

TEST_CASE("pooling, flatten, concat and slice: values and gradients") {
    tensor<double> x({1, 1, 4, 4});
    for (std::size_t i = 0; i < 16; ++i) x.data()[i] = double((i * 7) % 16);
    const auto mp = fn::max_pool2d(V(x), 2, 2);
    REQUIRE(mp.shape() == shape_t{1, 1, 2, 2});
    REQUIRE(mp.value()(0, 0, 0, 0) == 12.0);  // max of {0, 7, 12, 3}
    REQUIRE(fn::global_avg_pool(V(x)).value()(0, 0) == Approx(7.5));
    CHECK_GRADS([](std::vector<V>& v) { return fn::max_pool2d(v[0], 3, 2, 1); }, rand_t({2, 2, 5, 5}, 20));
    CHECK_GRADS([](std::vector<V>& v) { return fn::global_avg_pool(v[0]); }, rand_t({2, 3, 3, 2}, 21));
    CHECK_GRADS([](std::vector<V>& v) { return fn::flatten(v[0]); }, rand_t({2, 3, 2, 2}, 22));
    CHECK_GRADS([](std::vector<V>& v) { return fn::concat_batch<double>({v[0], v[1], v[0]}); }, rand_t({2, 3}, 23),
                rand_t({1, 3}, 24));
    CHECK_GRADS([](std::vector<V>& v) { return fn::slice_batch(v[0], 1, 3); }, rand_t({4, 2, 2}, 25));
    REQUIRE_THROWS_WITH(fn::conv2d(V(rand_t({1, 3, 5, 5}, 1)), V(rand_t({2, 4, 3, 3}, 2))),
                        Catch::Contains("has 3 channels but weight [2, 4, 3, 3] expects 4"));
    REQUIRE_THROWS_WITH(fn::concat_batch<double>({V(rand_t({1, 3}, 1)), V(rand_t({1, 4}, 2))}),
                        Catch::Contains("shapes differ beyond the batch axis"));
}
