// tests/test_nn.cpp - nn/: ResNet shapes and parameter counts (closed forms against torchvision's
// layout), parameter ids, module gradient checks, SGD (PyTorch's update rule), the cosine
// schedule, weight files (round trip, every mismatch named).
#include "test_util.hpp"

#include <oneclass/nn/optim.hpp>
#include <oneclass/nn/resnet.hpp>
#include <oneclass/nn/serialize.hpp>
#include <oneclass/testing/check_gradients.hpp>

#include <tbb/global_control.h>

#include <filesystem>
#include <fstream>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
template <class T>
std::size_t count_params(nn::module<T>& m) {
    std::size_t n = 0;
    for (auto& p : m.parameters()) n += p.var.value().size();
    return n;
}
template <class T>
tensor<T> rand_t(shape_t s, std::uint64_t seed) {
    tensor<T> t(std::move(s));
    rng r(seed);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T(r.normal());
    return t;
}
}  // namespace

TEST_CASE("resnet18 (CIFAR stem) has torchvision's parameter count without fc, and 512-d features") {
    rng r(0);
    nn::resnet<float> f({.depth = 18}, r);
    // torchvision resnet18: 11,689,512 incl. fc (513,000) and a 7x7 stem (9,408); ours: 3x3 stem (1,728)
    REQUIRE(count_params(f) == 11689512 - 513000 - 9408 + 1728);
    REQUIRE(f.feature_dim() == 512);
    const auto ids = f.parameters();
    REQUIRE(ids.front().id == "conv1.weight");
    bool has_down = false;
    for (auto& p : ids) has_down = has_down || p.id == "layer2.0.downsample.0.weight";
    REQUIRE(has_down);
    REQUIRE(f.buffers().front().id == "bn1.running_mean");
    nn::resnet<float> small({.depth = 10, .width = 0.125, .stem_kind = nn::stem::cifar, .in_channels = 1}, r);
    const auto y = small.forward(variable<float>(rand_t<float>({2, 1, 28, 28}, 1)));
    REQUIRE(y.shape() == shape_t{2, 64});
    nn::resnet<float> im({.depth = 10, .width = 0.125, .stem_kind = nn::stem::imagenet}, r);
    REQUIRE(im.forward(variable<float>(rand_t<float>({1, 3, 64, 64}, 2))).shape() == shape_t{1, 64});
    REQUIRE_THROWS_WITH(nn::resnet<float>({.depth = 20}, r), Catch::Contains("depth must be 10, 18 or 34"));
    REQUIRE_THROWS_WITH(small.forward(variable<float>(rand_t<float>({2, 3, 28, 28}, 1))),
                        Catch::Contains("expects N x 1 x H x W, got [2, 3, 28, 28]"));
    nn::resnet<float> r34({.depth = 34}, r);
    REQUIRE(count_params(r34) == 21797672 - 513000 - 9408 + 1728);  // torchvision resnet34: 21,797,672
}

TEST_CASE("module gradient checks: basic blocks (identity and downsampling), MLP head, tiny ResNet") {
    rng r(3);
    nn::basic_block<double> id(3, 3, 1, r), down(2, 4, 2, r);
    for (auto* b : {&id, &down}) {
        const auto rep = testing::check_module_gradients(*b, rand_t<double>({2, b == &id ? 3u : 2u, 5, 5}, 4));
        INFO(rep.worst);
        REQUIRE(rep.ok);
    }
    nn::mlp_head<double> g(6, {5, 4}, 3, r);
    const auto rep = testing::check_module_gradients(g, rand_t<double>({4, 6}, 5));
    INFO(rep.worst);
    REQUIRE(rep.ok);
    nn::resnet<double> tiny({.depth = 10, .width = 1.0 / 32, .in_channels = 1}, r);
    // eps 3e-6, nearer the optimum cbrt(machine epsilon) of a central difference: at 1e-6 the
    // difference quotient's rounding noise (~1e-8 here, batch norm over 2 values in layer4) sat
    // at the tolerance and the check passed or failed with the compiler's FMA contraction
    const auto rt = testing::check_module_gradients(tiny, rand_t<double>({2, 1, 8, 8}, 6), 3e-6);
    INFO(rt.worst);
    REQUIRE(rt.ok);
    tiny.train(false);  // eval mode: running statistics
    const auto re = testing::check_module_gradients(tiny, rand_t<double>({2, 1, 8, 8}, 7), 3e-6);
    INFO(re.worst);
    REQUIRE(re.ok);
}

TEST_CASE("sgd follows torch.optim.SGD (momentum, Nesterov, weight decay, BN exclusion)") {
    auto run = [](nn::sgd_params p, bool bn) {
        nn::named_variable<double> v{"w", variable<double>::parameter(tensor<double>({1}, 1.0)), bn};
        nn::sgd<double> opt(p);
        std::vector<double> out;
        for (double g : {0.5, -0.25, 1.0}) {
            v.var.node()->grad = tensor<double>({1}, g);
            opt.step({v});
            out.push_back(v.var.value().data()[0]);
        }
        return out;
    };
    // hand-computed with buf_1 = g_1, buf_t = m buf + g_t, p -= lr buf (lr 0.1, m 0.9, wd 0.01)
    double p = 1, buf = 0;
    std::vector<double> ref;
    const double gs[] = {0.5, -0.25, 1.0};
    for (int t = 0; t < 3; ++t) {
        const double g = gs[t] + 0.01 * p;
        buf = t == 0 ? g : 0.9 * buf + g;
        p -= 0.1 * buf;
        ref.push_back(p);
    }
    REQUIRE_ALLCLOSE(run({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}, false), ref, 1e-15, 0);
    p = 1, buf = 0, ref.clear();
    for (int t = 0; t < 3; ++t) {
        const double g = gs[t];
        buf = t == 0 ? g : 0.9 * buf + g;
        p -= 0.1 * (g + 0.9 * buf);
        ref.push_back(p);
    }
    REQUIRE_ALLCLOSE(run({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true, .decay_batch_norm = false},
                         true),
                     ref, 1e-15, 0);
    p = 1, ref.clear();  // no momentum: p -= lr (g + wd p)
    for (int t = 0; t < 3; ++t) {
        p -= 0.1 * (gs[t] + 0.01 * p);
        ref.push_back(p);
    }
    REQUIRE_ALLCLOSE(run({.lr = 0.1, .momentum = 0.0, .weight_decay = 0.01}, false), ref, 1e-15, 0);
    REQUIRE_THROWS_AS(nn::sgd<double>({.lr = 0.1, .momentum = 0.0, .nesterov = true}), invalid_input);
}

TEST_CASE("training is bit-identical on 1 and 2 threads for the same seed") {
    auto train = [](int threads) {
        tbb::global_control gc(tbb::global_control::max_allowed_parallelism, std::size_t(threads));
        rng r(test::seed());
        // 32 x 32 at width 1/4: large enough that the elementwise, batch-norm and Winograd (fused
        // F(4x4) and F(2x2), weight-gradient groups) passes all split their work between threads
        nn::resnet<float> f({.depth = 10, .width = 0.25, .in_channels = 1}, r);
        nn::mlp_head<float> g(f.feature_dim(), {16}, 4, r);
        nn::sgd<float> opt({.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
        auto params = f.parameters();
        for (auto& p : g.parameters()) params.push_back(p);
        const auto x = rand_t<float>({9, 1, 32, 32}, 77);
        for (int step = 0; step < 3; ++step) {
            auto loss = fn::cross_entropy(g.forward(f.forward(variable<float>(x))), {0, 1, 2, 3, 0, 1, 2, 3, 0});
            backward(loss);
            opt.step(params);
            for (auto& p : params) p.var.zero_grad();
        }
        std::vector<float> all;
        for (auto& p : params) all.insert(all.end(), p.var.value().data(), p.var.value().data() + p.var.value().size());
        return all;
    };
    const auto one = train(1);
    REQUIRE(train(2) == one);
    REQUIRE(train(1) == one);
}

TEST_CASE("cosine schedule with warm-up") {
    REQUIRE(nn::cosine_lr(0.1, 0, 100) == Approx(0.1));
    REQUIRE(nn::cosine_lr(0.1, 50, 100) == Approx(0.05));
    REQUIRE(nn::cosine_lr(0.1, 100, 100) == Approx(0.0).margin(1e-15));
    REQUIRE(nn::cosine_lr(0.1, 0, 100, 10) == Approx(0.01));
    REQUIRE(nn::cosine_lr(0.1, 9, 100, 10) == Approx(0.1));
    REQUIRE(nn::cosine_lr(0.1, 55, 100, 10) == Approx(0.05));
}

TEST_CASE("weights: round trip with BN statistics; mismatches and damage are named") {
    const fs::path dir = fs::temp_directory_path() / ("oneclass_nn_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    rng r(9);
    nn::resnet<float> a({.depth = 10, .width = 0.125, .in_channels = 1}, r);
    const auto x = variable<float>(rand_t<float>({3, 1, 12, 12}, 10));
    (void)a.forward(x);  // training mode: updates running statistics
    a.train(false);
    const auto ya = a.forward(x);
    nn::save_weights(a, dir / "a.ocw");
    rng r2(99);
    nn::resnet<float> b({.depth = 10, .width = 0.125, .in_channels = 1}, r2);
    b.train(false);
    nn::load_weights(b, dir / "a.ocw");
    const auto yb = b.forward(x);
    REQUIRE(std::equal(ya.value().data(), ya.value().data() + ya.value().size(), yb.value().data()));
    nn::resnet<float> wide({.depth = 10, .width = 0.25, .in_channels = 1}, r2);
    REQUIRE_THROWS_WITH(nn::load_weights(wide, dir / "a.ocw"),
                        Catch::Contains("'conv1.weight' has shape [8, 1, 3, 3], the model expects [16, 1, 3, 3]"));
    nn::resnet<float> deeper({.depth = 18, .width = 0.125, .in_channels = 1}, r2);
    REQUIRE_THROWS_WITH(nn::load_weights(deeper, dir / "a.ocw"), Catch::Contains("has no 'layer1.1.conv1.weight'"));
    const std::string bytes = read_file_bytes(dir / "a.ocw", "t");
    std::ofstream(dir / "cut.ocw", std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
    REQUIRE_THROWS_AS(nn::load_weights(b, dir / "cut.ocw"), io_error);
    fs::remove_all(dir);
}
