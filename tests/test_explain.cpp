// Explanations across their floors: the detectors' analytic score gradients (detectors/), the
// score on the tape and through a network (explain/targets.hpp), and the attribution methods
// (explain/attribution.hpp), each against finite differences, closed forms or a hand computation.
#include "test_util.hpp"

#include <oneclass/detectors/registry.hpp>
#include <oneclass/explain/attribution.hpp>
#include <oneclass/explain/pointing_game.hpp>
#include <oneclass/explain/targets.hpp>

using namespace oneclass;

namespace {

/// Central differences of the detector's score, every component of every row.
template <class D>
matrix<double> fd_gradient(const D& det, const matrix<double>& X, double h) {
    matrix<double> G(X.rows(), X.cols());
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.cols(); ++j) {
            matrix<double> row(1, X.cols(), std::span<const double>(X.row(i), X.cols()));
            row(0, j) = X(i, j) + h;
            const double up = det.score(row.view())[0];
            row(0, j) = X(i, j) - h;
            const double dn = det.score(row.view())[0];
            G(i, j) = (up - dn) / (2 * h);
        }
    return G;
}

/// The analytic gradient equals finite differences to tol relative to the row's largest entry;
/// the scores equal score()'s.
template <class D>
void check_gradient(const D& det, const matrix<double>& X, double h, double tol) {
    const auto sg = det.score_gradient(X.view());
    const auto s = det.score(X.view());
    const auto fd = fd_gradient(det, X, h);
    for (std::size_t i = 0; i < X.rows(); ++i) {
        CHECK(sg.score[i] == Approx(s[i]).epsilon(1e-12));
        double scale = 0;
        for (std::size_t j = 0; j < X.cols(); ++j) scale = std::max(scale, std::abs(fd(i, j)));
        for (std::size_t j = 0; j < X.cols(); ++j) {
            INFO(D::kind << " row " << i << " col " << j << " analytic " << sg.gradient(i, j) << " fd " << fd(i, j));
            CHECK(std::abs(sg.gradient(i, j) - fd(i, j)) <= tol * (1 + scale));
        }
    }
}

/// Queries near the training rows (a row plus 1e-3 noise) and far from them (10x farther out).
matrix<double> near_and_far(const matrix<double>& train, std::uint64_t s) {
    const auto noise = test::random_matrix<double>(6, train.cols(), s);
    matrix<double> Q(6, train.cols());
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < train.cols(); ++j) Q(i, j) = train(i, j) + 1e-3 * noise(i, j);
    for (std::size_t i = 3; i < 6; ++i)
        for (std::size_t j = 0; j < train.cols(); ++j) Q(i, j) = 10 * noise(i, j);
    return Q;
}

}  // namespace

// Error analysis for the tolerances: a central difference errs by h^2 |s'''| / 6 plus rounding
// eps |s| / h. With h = 1e-5, scores of order 1-100 and third derivatives of order gamma^2 (for
// gamma <= 10), both terms stay below 1e-7; tol = 1e-6 leaves an order of magnitude.
TEST_CASE("detector score gradients equal finite differences (float64), with and without L2 normalisation") {
    const auto train = test::random_matrix<double>(40, 5, test::seed(1), 1.0, 0.3);
    const auto Q = near_and_far(train, test::seed(2));
    for (auto n : {normalization::none, normalization::l2}) {
        INFO("normalize " << to_string(n));
        const double gamma = n == normalization::l2 ? 2.0 : 0.2;
        kde<double> k({.gamma = gamma, .normalize = n});
        (void)k.fit(train.view());
        check_gradient(k, Q, 1e-5, 1e-6);
        gde<double> g({.normalize = n});
        (void)g.fit(train.view());
        check_gradient(g, Q, 1e-5, 1e-6);
        gmm<double> m({.components = 2, .seed = 4, .normalize = n});
        (void)m.fit(train.view());
        check_gradient(m, Q, 1e-5, 1e-6);
        ocsvm<double> o({.nu = 0.3, .gamma = gamma, .normalize = n});
        (void)o.fit(train.view());
        check_gradient(o, Q, 1e-5, 1e-6);
        ocsvm<double> lin({.nu = 0.3, .kernel = svm_kernel::linear, .normalize = n});
        (void)lin.fit(train.view());
        check_gradient(lin, Q, 1e-5, 1e-6);
    }
}

TEST_CASE("KDE gradient at a huge gamma stays finite and is the nearest-neighbour gradient 2 (x - y_nn)") {
    const auto train = test::random_matrix<double>(30, 4, test::seed(3));
    const auto Q = near_and_far(train, test::seed(4));
    kde<double> k({.gamma = 1e8, .normalize = normalization::none});
    (void)k.fit(train.view());
    const auto sg = k.score_gradient(Q.view());
    for (std::size_t i = 0; i < Q.rows(); ++i) {
        std::size_t nn = 0;
        double best = 1e300;
        for (std::size_t r = 0; r < train.rows(); ++r) {
            double d = 0;
            for (std::size_t j = 0; j < Q.cols(); ++j) d += (Q(i, j) - train(r, j)) * (Q(i, j) - train(r, j));
            if (d < best) best = d, nn = r;
        }
        CHECK(sg.score[i] == Approx(best).epsilon(1e-6).margin(1e-9));
        for (std::size_t j = 0; j < Q.cols(); ++j) {
            REQUIRE(std::isfinite(sg.gradient(i, j)));
            CHECK(sg.gradient(i, j) == Approx(2 * (Q(i, j) - train(nn, j))).epsilon(1e-6).margin(1e-9));
        }
    }
}

TEST_CASE("score gradients: unfitted and wrong-width inputs throw; kNN has none and the variant says so") {
    kde<double> k;
    const auto X = test::random_matrix<double>(3, 4, 5);
    CHECK_THROWS_AS(k.score_gradient(X.view()), not_fitted);
    (void)k.fit(test::random_matrix<double>(10, 4, 6).view());
    CHECK_THROWS_AS(k.score_gradient(test::random_matrix<double>(3, 5, 7).view()), invalid_input);
    auto any = builtin_detectors::make<double>("knn", {});
    std::visit([&](auto& d) { (void)d.fit(test::random_matrix<double>(10, 4, 6).view()); }, any);
    CHECK_THROWS_WITH(builtin_detectors::score_gradient<double>(any, X.view()), Catch::Contains("knn has no score gradient"));
    CHECK(builtin_detectors::differentiable("kde"));
    CHECK_FALSE(builtin_detectors::differentiable("knn"));
}

namespace {
/// A small network in double: conv 3x3 (2 -> 3 channels) -> ReLU -> global average pool ->
/// linear (3 -> 4) -> L2 normalisation; its weights from rng(s).
struct small_net {
    variable<double> w, W, b;
    explicit small_net(std::uint64_t s)
        : w(test::random_tensor<double>({3, 2, 3, 3}, s, 0.5)), W(test::random_tensor<double>({4, 3}, s + 1)),
          b(test::random_tensor<double>({4}, s + 2)) {}
    variable<double> features(const variable<double>& x) const {
        auto h = fn::relu(fn::conv2d(x, w, {}, 1, 1));
        return fn::l2_normalize(fn::linear(fn::global_avg_pool(h), W, b));
    }
};
}  // namespace

TEST_CASE("d kde(f(x)) / dx through a small network equals finite differences end to end (float64)") {
    const small_net net(test::seed(7));
    tensor<double> train_x = test::random_tensor<double>({20, 2, 5, 5}, test::seed(8));
    matrix<double> F(20, 4);
    {
        no_grad ng;
        const auto f = net.features(variable<double>(train_x));
        std::copy_n(f.value().data(), f.value().size(), F.data());
    }
    for (const char* name : {"kde", "gde", "ocsvm"}) {
        INFO(name);
        auto det = builtin_detectors::make<double>(name, {.normalize = normalization::none});
        std::visit([&](auto& d) { (void)d.fit(F.view()); }, det);
        const tensor<double> x0 = test::random_tensor<double>({2, 2, 5, 5}, test::seed(9));
        auto x = variable<double>::parameter(x0);
        auto s = explain::detector_score(net.features(x), det);
        auto total = fn::sum(s);
        backward(total);
        const tensor<double> g = x.grad();
        auto score_at = [&](const tensor<double>& xi) {
            no_grad ng;
            const auto sv = explain::detector_score(net.features(variable<double>(xi)), det);
            return sv.value().data()[0] + sv.value().data()[1];
        };
        const double h = 1e-6;
        for (std::size_t i = 0; i < x0.size(); ++i) {
            tensor<double> up = x0.clone(), dn = x0.clone();
            up.data()[i] += h;
            dn.data()[i] -= h;
            const double fd = (score_at(up) - score_at(dn)) / (2 * h);
            INFO("pixel " << i);
            CHECK(g.data()[i] == Approx(fd).epsilon(1e-5).margin(1e-7));
        }
    }
}

namespace {
/// A smooth float target: s(x) = sum_i v_i exp(a * x_i) per image (so every path integral is
/// exact in closed form), and its pieces for GradCAM.
explain::target exp_target(const tensor<float>& v, float a) {
    explain::target t;
    t.name = "exp";
    t.score = [v, a](const variable<float>& x, variable<float>*) {
        const std::size_t N = x.shape()[0], img = x.value().size() / N;
        const variable<float> e = fn::exp(fn::scale(fn::flatten(x), a));
        return fn::reshape(fn::matmul(e, variable<float>(v.clone().reshape({img, 1}))), {N});
    };
    return t;
}
}  // namespace

TEST_CASE("integrated gradients: completeness gap shrinks with the steps; Gauss-Legendre beats midpoints") {
    const tensor<float> x = test::random_tensor<float>({2, 1, 4, 4}, test::seed(10), 0.5);
    const tensor<float> v = test::random_tensor<float>({16}, test::seed(11));
    const auto t = exp_target(v, 1.5f);
    double prev = 1e300;
    for (std::size_t m : {2, 8, 32}) {
        const auto a = explain::integrated_gradients(t, x, {.steps = m, .from = explain::baseline::blur});
        const double gap = std::max(a.completeness_gap[0], a.completeness_gap[1]);
        INFO("steps " << m << " gap " << gap);
        CHECK(gap < prev);
        prev = gap;
        // The midpoint rule errs by at most max|f''| / (24 m^2) on [0, 1]; pixel i's integrand
        // f(t) = D v_i a exp(a (x'_i + t D)), D = x_i - x'_i, has |f''| <= |D v_i| a^3 D^2
        // exp(a max(x_i, x'_i)). Float32 sums of scores of size |s| add about 1e-6 |s| more.
        const tensor<float> base = explain::baseline_images(x, {.from = explain::baseline::blur});
        for (std::size_t n = 0; n < 2; ++n) {
            double bound = 0;
            for (std::size_t i = 0; i < 16; ++i) {
                const double xi = x.data()[n * 16 + i], bi = base.data()[n * 16 + i], D = xi - bi;
                bound += std::abs(D * v.data()[i]) * 1.5 * 1.5 * 1.5 * D * D * std::exp(1.5 * std::max(xi, bi));
            }
            bound /= 24.0 * double(m * m);
            CHECK(a.completeness_gap[n] <= bound + 1e-5 * (1 + std::abs(a.score[n]) + std::abs(a.baseline_score[n])));
        }
    }
    const auto gl = explain::integrated_gradients(t, x, {.steps = 8, .rule = explain::quadrature::gauss_legendre});
    const auto mid = explain::integrated_gradients(t, x, {.steps = 8});
    CHECK(gl.completeness_gap[0] < mid.completeness_gap[0]);
    // 8 Gauss-Legendre points integrate this integrand to ~1e-9; what is left is float32 rounding
    CHECK(gl.completeness_gap[0] < 1e-5 * (1 + std::abs(gl.score[0]) + std::abs(gl.baseline_score[0])));
}

TEST_CASE("Gauss-Legendre rule: weights sum to 1 and integrate x^(2m-1) exactly") {
    for (std::size_t m : {1, 2, 5, 16}) {
        const auto [a, w] = explain::quadrature_rule(m, explain::quadrature::gauss_legendre);
        double sw = 0, sp = 0;
        for (std::size_t k = 0; k < m; ++k) sw += w[k], sp += w[k] * std::pow(a[k], double(2 * m - 1));
        CHECK(sw == Approx(1).epsilon(1e-13));
        CHECK(sp == Approx(1.0 / double(2 * m)).epsilon(1e-12));
        for (std::size_t k = 1; k < m; ++k) CHECK(a[k] > a[k - 1]);
    }
    CHECK_THROWS(explain::quadrature_rule(0, explain::quadrature::riemann));
}

TEST_CASE("integrated gradients on a linear score are (x - x') * w exactly; zero where x equals the baseline") {
    const tensor<float> w = test::random_tensor<float>({12}, test::seed(12));
    explain::target lin;
    lin.name = "linear";
    lin.score = [w](const variable<float>& x, variable<float>*) {
        return fn::reshape(fn::matmul(fn::flatten(x), variable<float>(w.clone().reshape({12, 1}))), {x.shape()[0]});
    };
    tensor<float> x = test::random_tensor<float>({3, 3, 2, 2}, test::seed(13));
    for (std::size_t i = 0; i < x.size(); i += 5) x.data()[i] = 0;  // equal to the black baseline there
    for (auto rule : {explain::quadrature::riemann, explain::quadrature::gauss_legendre}) {
        const auto a = explain::integrated_gradients(lin, x, {.steps = 3, .rule = rule});
        for (std::size_t n = 0; n < 3; ++n)
            for (std::size_t i = 0; i < 12; ++i) {
                const float xi = x.data()[n * 12 + i];
                CHECK(a.values.data()[n * 12 + i] == Approx(xi * w.data()[i]).epsilon(1e-5).margin(1e-6));
                if (xi == 0) CHECK(a.values.data()[n * 12 + i] == 0.0f);
            }
        for (double g : a.completeness_gap) CHECK(g < 1e-5);
    }
}

TEST_CASE("saliency equals the analytic gradient of the smooth target") {
    const tensor<float> x = test::random_tensor<float>({2, 1, 3, 3}, test::seed(14), 0.5);
    const tensor<float> v = test::random_tensor<float>({9}, test::seed(15));
    const auto a = explain::gradient(exp_target(v, 0.7f), x);
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t i = 0; i < 9; ++i) {
            const double expect = v.data()[i] * 0.7 * std::exp(0.7 * x.data()[n * 9 + i]);
            CHECK(a.values.data()[n * 9 + i] == Approx(expect).epsilon(1e-5));
            CHECK(a.map.data()[n * 9 + i] == Approx(std::abs(expect)).epsilon(1e-5));
        }
}

TEST_CASE("GradCAM on a hand-computed network") {
    // x: 1 x 1 x 2 x 2 = [[1, 2], [3, 4]]; A = conv1x1(x) with channel weights (1, -1): A_0 = x,
    // A_1 = -x; s = sum(V * A) with V_0 = [[1, 1], [1, 1]], V_1 = [[2, 0], [0, 0]], so dA_0 = V_0
    // (mean 1) and dA_1 = V_1 (mean 0.5): cam = ReLU(1 * x + 0.5 * (-x)) = 0.5 x.
    tensor<float> x({1, 1, 2, 2});
    for (int i = 0; i < 4; ++i) x.data()[i] = float(i + 1);
    tensor<float> k({2, 1, 1, 1});
    k.data()[0] = 1, k.data()[1] = -1;
    tensor<float> V({8, 1});
    for (int i = 0; i < 4; ++i) V.data()[i] = 1;
    V.data()[4] = 2;
    explain::target t;
    t.name = "hand";
    t.score = [k, V](const variable<float>& in, variable<float>* act) {
        const variable<float> A = fn::conv2d(in, variable<float>(k));
        if (act) *act = A;
        return fn::reshape(fn::matmul(fn::flatten(A), variable<float>(V)), {in.shape()[0]});
    };
    const auto cam = explain::gradcam(t, x);
    REQUIRE(cam.map.shape() == shape_t{1, 2, 2});
    for (int i = 0; i < 4; ++i) CHECK(cam.map.data()[i] == Approx(0.5 * (i + 1)));
    CHECK(cam.score[0] == Approx(10 - 2));  // sum(x) - 2 x_00
    // upsampled to 4 x 4 (half-pixel centres): corners keep the corner values, the middle averages
    const std::vector<float> A{1, 2, 3, 4}, dA{1, 1, 1, 1};
    const auto up = explain::gradcam_map(A.data(), dA.data(), 1, 2, 2, 4, 4);
    CHECK(up[0] == Approx(1));
    CHECK(up[15] == Approx(4));
    CHECK(up[1] == Approx(1.25));  // x = 0.25 between columns 0 and 1
    CHECK(up[5] == Approx(1.75));  // (0.25, 0.25): 1 + 0.25 * 1 + 0.25 * 2
}

TEST_CASE("explanations through a representation: proxy scores on the tape equal proxy_scores; targets refuse misuse") {
    pipeline::representation_config c;
    c.method = "rotation";
    c.net = {.depth = 10, .width = 1.0 / 16};
    c.head_hidden = {16};
    c.head_out = 8;
    c.seed = 5;
    pipeline::representation rep(c, 1);
    const tensor<float> x = test::random_tensor<float>({3, 1, 16, 16}, test::seed(16), 0.3);
    const auto ref = rep.proxy_scores(x, "rotnet-p0");
    {
        no_grad ng;
        const auto s = rep.proxy_score_variable(variable<float>(x), "rotnet-p0");
        for (std::size_t i = 0; i < 3; ++i) CHECK(s.value().data()[i] == Approx(ref[i]).epsilon(1e-5));
    }
    CHECK_THROWS_WITH(rep.proxy_score_variable(variable<float>(x), "rotnet-sum"), Catch::Contains("only rotnet-p0"));
    // a detector on f: saliency's directional derivative matches the score's change along it
    const matrix<float> F = rep.features(test::random_tensor<float>({30, 1, 16, 16}, test::seed(17), 0.3));
    kde<float> k;
    (void)k.fit(F.view());
    const auto t = explain::detector_target(rep, k);
    const auto a = explain::gradient(t, x);
    const auto s0 = rep.features(x);
    double gn = 0;
    for (std::size_t i = 0; i < 256; ++i) gn += double(a.values.data()[i]) * a.values.data()[i];
    gn = std::sqrt(gn);
    REQUIRE(gn > 0);
    const double h = 1e-2;
    tensor<float> up = x.slice(0, 1).clone(), dn = x.slice(0, 1).clone();
    for (std::size_t i = 0; i < 256; ++i) up.data()[i] += float(h * a.values.data()[i] / gn), dn.data()[i] -= float(h * a.values.data()[i] / gn);
    const double su = k.score(rep.features(up).view())[0], sd = k.score(rep.features(dn).view())[0];
    // The central difference along the gradient errs by h^2 |s'''| / 6 (0.7 % here, the same under the
    // Prescott and SkylakeX kernels) plus float noise of 1e-7 |s| / h (3e-6 relative); 5 % leaves
    // room for a ReLU kink crossed within h, and still fails on a gradient of the wrong size.
    CHECK((su - sd) / (2 * h) == Approx(gn).epsilon(0.05));
    // GradCAM through the encoder: one map per image, non-negative, at the image's size
    const auto cam = explain::gradcam(t, x);
    REQUIRE(cam.map.shape() == shape_t{3, 16, 16});
    for (std::size_t i = 0; i < cam.map.size(); ++i) CHECK(cam.map.data()[i] >= 0);
    CHECK_THROWS_WITH(explain::detector_target(rep, k, false, 5), Catch::Contains("stage must be 1..4"));
    auto knn_any = builtin_detectors::make<float>("knn", {});
    CHECK_THROWS_WITH(explain::detector_target(rep, knn_any), Catch::Contains("knn has no score gradient"));
    CHECK_THROWS_WITH(explain::proxy_target(rep, "dae-recon"), Catch::Contains("no score 'dae-recon'"));
    CHECK_THROWS_WITH(explain::parse_method("lime"), Catch::Contains("unknown method 'lime'"));
    // images the model cannot take: three channels for a one-channel model, a NaN
    CHECK_THROWS_WITH(explain::gradient(t, tensor<float>({2, 3, 16, 16})), Catch::Contains("expects N x 1 x H x W"));
    tensor<float> nan_img({1, 1, 16, 16});
    nan_img.data()[7] = std::nanf("");
    CHECK_THROWS_WITH(explain::integrated_gradients(t, nan_img), Catch::Contains("non-finite"));
}

TEST_CASE("pointing game: hand cases for the maximum and the top-5 % mass") {
    std::vector<float> map(100, 0.0f);
    const explain::pasted_square sq{2, 3, 4};  // rows 2..5, columns 3..6
    map[3 * 10 + 4] = 5;                       // inside
    map[9 * 10 + 9] = 4;                       // outside
    auto r = explain::pointing_game(map.data(), 10, 10, sq);
    CHECK(r.hit_max);
    CHECK(r.mass_inside == Approx(5.0 / 9.0));  // top 5 of 100 pixels: 5, 4, then zeros
    CHECK(r.hit_mass);
    map[9 * 10 + 9] = 6;
    r = explain::pointing_game(map.data(), 10, 10, sq);
    CHECK_FALSE(r.hit_max);
    CHECK(r.mass_inside == Approx(5.0 / 11.0));
    CHECK_FALSE(r.hit_mass);
    tensor<float> x({3, 2, 10, 10});
    const auto s1 = explain::paste_noise_squares(x, 4, 7);
    tensor<float> y({3, 2, 10, 10});
    const auto s2 = explain::paste_noise_squares(y, 4, 7);
    for (std::size_t n = 0; n < 3; ++n) {
        CHECK((s1[n].top == s2[n].top && s1[n].left == s2[n].left));  // seeded
        CHECK(s1[n].top + 4 <= 10);
        CHECK(s1[n].left + 4 <= 10);
        for (std::size_t c = 0; c < 2; ++c)
            for (std::size_t i = 0; i < 100; ++i)
                CHECK((x.data()[(n * 2 + c) * 100 + i] != 0) == s1[n].contains(i / 10, i % 10));
    }
    CHECK_THROWS(explain::paste_noise_squares(x, 11, 1));
}

TEST_CASE("pointing game on raw pixels: explanations of a KDE find pasted squares far above chance") {
    // Normal images: smooth ramps in random directions (16 x 16). A KDE on the raw pixels scores
    // an image with a pasted noise square by its distance to the nearest ramps, so an explanation
    // that is wired right (image, row and column order, batch) points into the square.
    auto ramps = [](std::size_t n, std::uint64_t s) {
        tensor<float> t({n, 1, 16, 16});
        rng r(s);
        for (std::size_t i = 0; i < n; ++i) {
            const double a = 6.283185307179586 * r.uniform(), c = 0.3 + 0.4 * r.uniform();
            for (std::size_t y = 0; y < 16; ++y)
                for (std::size_t x = 0; x < 16; ++x)
                    t.data()[i * 256 + y * 16 + x] = float(c + 0.02 * (std::cos(a) * (double(x) - 7.5) + std::sin(a) * (double(y) - 7.5)));
        }
        return t;
    };
    const tensor<float> train = ramps(200, test::seed(20));
    tensor<float> test_x = ramps(40, test::seed(21));
    const auto squares = explain::paste_noise_squares(test_x, 4, test::seed(22));
    kde<float> k({.gamma = 0, .normalize = normalization::none});
    (void)k.fit(matrix_view<const float>(train.data(), 200, 256));
    explain::target t;
    t.name = "kde on pixels";
    t.score = [&k](const variable<float>& x, variable<float>*) { return explain::detector_score(fn::flatten(x), k); };
    for (auto m : {explain::method::gradient, explain::method::integrated_gradients}) {
        const auto a = explain::explain(t, test_x, m, {.steps = 16, .from = explain::baseline::blur});
        std::size_t hits = 0;
        for (std::size_t n = 0; n < 40; ++n) hits += explain::pointing_game(a.map.data() + n * 256, 16, 16, squares[n]).hit_max;
        INFO(explain::method_name(m) << " hits " << hits << " of 40 (chance 16 / 256 = 0.0625)");
        CHECK(hits >= 32);
    }
}
