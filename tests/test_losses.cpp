// tests/test_losses.cpp - losses/: NT-Xent against a double-precision loop reference and a closed
// form, gradient checks, DistAug and rotation batches, RotNet scores.
#include "test_util.hpp"

#include <oneclass/losses/losses.hpp>
#include <oneclass/testing/check_gradients.hpp>

using namespace oneclass;
using V = variable<double>;

namespace {
tensor<double> rand_t(shape_t s, std::uint64_t seed) {
    tensor<double> t(std::move(s));
    rng r(seed);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = r.normal();
    return t;
}
// Symmetric NT-Xent by definition: 2N normalised embeddings, positives i <-> i + N.
double nt_xent_reference(const tensor<double>& a, const tensor<double>& b, double tau) {
    const std::size_t N = a.shape(0), d = a.shape(1);
    std::vector<std::vector<double>> z;
    for (const auto* t : {&a, &b})
        for (std::size_t i = 0; i < N; ++i) {
            std::vector<double> v(d);
            double n = 0;
            for (std::size_t j = 0; j < d; ++j) n += (*t)(i, j) * (*t)(i, j);
            for (std::size_t j = 0; j < d; ++j) v[j] = (*t)(i, j) / std::sqrt(n);
            z.push_back(v);
        }
    double loss = 0;
    for (std::size_t i = 0; i < 2 * N; ++i) {
        const std::size_t pos = (i + N) % (2 * N);
        double denom = 0, num = 0;
        for (std::size_t k = 0; k < 2 * N; ++k) {
            if (k == i) continue;
            double s = 0;
            for (std::size_t j = 0; j < d; ++j) s += z[i][j] * z[k][j];
            denom += std::exp(s / tau);
            if (k == pos) num = s / tau;
        }
        loss += -(num - std::log(denom));
    }
    return loss / double(2 * N);
}
}  // namespace

TEST_CASE("NT-Xent equals its definition and a closed form") {
    const auto a = rand_t({6, 5}, 1), b = rand_t({6, 5}, 2);
    for (double tau : {0.2, 0.5, 1.0}) {
        const auto l = losses::nt_xent(V(a), V(b), tau);
        REQUIRE(l.value().data()[0] == Approx(nt_xent_reference(a, b, tau)).epsilon(1e-12));
    }
    // identical views of N orthonormal embeddings: s = 1 for the positive, 0 for the 2N - 2 others
    tensor<double> e({4, 4});
    for (std::size_t i = 0; i < 4; ++i) e(i, i) = 3.0;
    const double tau = 0.2;
    const double closed = -std::log(std::exp(1 / tau) / (std::exp(1 / tau) + 6.0));
    REQUIRE(losses::nt_xent(V(e), V(e), tau).value().data()[0] == Approx(closed).epsilon(1e-12));
    // the one-way loss averages view a's anchors only; the symmetric one is the mean of both ways
    const double ab = losses::nt_xent_one_way(V(a), V(b), 0.2).value().data()[0];
    const double ba = losses::nt_xent_one_way(V(b), V(a), 0.2).value().data()[0];
    REQUIRE(losses::nt_xent(V(a), V(b), 0.2).value().data()[0] == Approx(0.5 * (ab + ba)).epsilon(1e-14));
}

TEST_CASE("NT-Xent gradients by finite differences; bad input") {
    const auto rep = testing::check_gradients([](std::vector<V>& v) { return losses::nt_xent(v[0], v[1], 0.3); },
                                              {rand_t({4, 3}, 3), rand_t({4, 3}, 4)});
    INFO(rep.worst);
    REQUIRE(rep.ok);
    REQUIRE_THROWS_WITH(losses::nt_xent(V(rand_t({4, 3}, 1)), V(rand_t({5, 3}, 2)), 0.2), Catch::Contains("N x d"));
    REQUIRE_THROWS_WITH(losses::nt_xent(V(rand_t({4, 3}, 1)), V(rand_t({4, 3}, 2)), 0.0), Catch::Contains("temperature"));
    REQUIRE_THROWS_WITH(losses::nt_xent(V(rand_t({1, 3}, 1)), V(rand_t({1, 3}, 2)), 0.2), Catch::Contains("at least 2"));
}

TEST_CASE("DistAug and rotation batches; RotNet surrogate scores") {
    tensor<float> x({2, 1, 3, 3});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(i);
    const auto d = losses::distaug_batch(x, {0, 1, 2});
    REQUIRE(d.shape() == shape_t{6, 1, 3, 3});
    REQUIRE(std::equal(x.data(), x.data() + x.size(), d.data()));  // shift 0 first: the originals
    REQUIRE(d(2, 0, 0, 0) == x(0, 0, 0, 2));                        // shift 1: hflip of image 0
    auto [rb, labels] = losses::rotation_batch(x);
    REQUIRE(rb.shape() == shape_t{8, 1, 3, 3});
    REQUIRE(labels == std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3});
    REQUIRE(rb(2, 0, 0, 0) == x(0, 0, 0, 2));  // rot90 counter-clockwise: top-left comes from top-right
    tensor<double> logits({8, 4});  // image 0: confident and right; image 1: uniform
    for (std::size_t k = 0; k < 4; ++k) logits(2 * k, k) = 10.0;
    const auto s0 = losses::rotation_scores(logits, false), sa = losses::rotation_scores(logits, true);
    REQUIRE(s0[0] < s0[1]);
    REQUIRE(s0[1] == Approx(-0.25));
    REQUIRE(sa[1] == Approx(4 * std::log(4.0)));
    REQUIRE(sa[0] < sa[1]);
    REQUIRE(losses::rotation_loss(V(tensor<double>({4, 4})), {0, 1, 2, 3}).value().data()[0] == Approx(std::log(4.0)));
    const auto noisy = losses::add_noise(tensor<double>({1000}), 0.5, 9);
    double ss = 0;
    for (std::size_t i = 0; i < 1000; ++i) ss += noisy.data()[i] * noisy.data()[i];
    REQUIRE(std::sqrt(ss / 1000) == Approx(0.5).epsilon(0.1));
}
