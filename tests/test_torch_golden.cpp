// tests/test_torch_golden.cpp - ResNet-18 (CIFAR stem, width 1/8) + MLP head against PyTorch 1.13:
// forward in train and eval mode, the loss, every parameter gradient, the batch-norm running
// statistics and one SGD step. Golden files: scripts/make_torch_golden.py; float tolerances:
// scripts/calibrate_torch_golden.py (tests need no Python).
#include "test_util.hpp"

#include <oneclass/nn/optim.hpp>
#include <oneclass/nn/resnet.hpp>
#include <oneclass/nn/serialize.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

using namespace oneclass;

namespace {
const std::string torch_dir = std::string(ONECLASS_TEST_DATA) + "/torch/";

struct golden_array {
    shape_t shape;
    std::vector<double> values;
};

std::map<std::string, golden_array> read_arrays(const std::string& file) {
    const std::string bytes = read_file_bytes(torch_dir + file, "golden");
    const framed_file f = unframe(bytes, 1, file);
    binary_reader r(f.payload, file);
    REQUIRE(r.get<std::uint8_t>() == 8);
    std::map<std::string, golden_array> out;
    const auto n = r.get<std::uint64_t>();
    for (std::uint64_t k = 0; k < n; ++k) {
        std::string id = r.get_string();
        const auto shape = r.get_vector<std::uint64_t>();
        out[id] = {shape_t(shape.begin(), shape.end()), r.get_vector<double>()};
    }
    return out;
}

std::map<std::string, std::vector<double>> read_golden() {
    std::map<std::string, std::vector<double>> out;
    for (auto& [k, v] : read_arrays("golden.ocg")) out[k] = v.values;
    return out;
}

template <class T>
class encoder_head : public nn::module<T> {
public:
    explicit encoder_head(rng& r) {
        f = this->register_child("f", std::make_shared<nn::resnet<T>>(nn::resnet_config{.depth = 18, .width = 0.125}, r));
        g = this->register_child("g", std::make_shared<nn::mlp_head<T>>(64, std::vector<std::size_t>{32, 32}, 16, r));
    }
    variable<T> forward(const variable<T>& x) override { return g->forward(f->forward(x)); }
    std::string name() const override { return "encoder_head"; }
    std::shared_ptr<nn::resnet<T>> f;
    std::shared_ptr<nn::mlp_head<T>> g;
};

double max_abs(const std::vector<double>& v) {
    double s = 0;
    for (double a : v) s = std::max(s, std::abs(a));
    return s;
}

template <class T>
tensor<T> golden_tensor(const std::map<std::string, std::vector<double>>& G, const std::string& key, const shape_t& shape) {
    INFO(key);
    const auto& v = G.at(key);
    tensor<T> t(shape);
    REQUIRE(v.size() == t.size());
    std::transform(v.begin(), v.end(), t.data(), [](double a) { return T(a); });
    return t;
}

/// float_tolerance.txt: "<array> <PyTorch float32 error>" lines, '#' comments.
std::map<std::string, double> read_tolerances() {
    std::ifstream in(torch_dir + "float_tolerance.txt");
    REQUIRE(in);
    std::map<std::string, double> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string key;
        double e = -1;
        ls >> key >> e;
        REQUIRE(e >= 0);
        out[key] = e;
    }
    return out;
}

template <class T>
std::vector<double> as_doubles(const tensor<T>& t) {
    return std::vector<double>(t.data(), t.data() + t.size());
}
}  // namespace

TEST_CASE("single ops match PyTorch: conv_transpose2d, bilinear / nearest upsampling, avg_pool2d (values and gradients)") {
    const auto A = read_arrays("ops.ocg");
    auto in = [&](const std::string& name, int i) {
        const auto& a = A.at(name + ".in" + std::to_string(i));
        return variable<double>::parameter(tensor<double>(a.shape, std::span<const double>(a.values)));
    };
    auto check = [&](const std::string& name, std::vector<variable<double>> inputs, variable<double> out) {
        INFO(name);
        const auto& want = A.at(name + ".out");
        REQUIRE(out.shape() == want.shape);
        REQUIRE_ALLCLOSE(as_doubles(out.value()), want.values, 1e-10, 1e-10);
        const auto& r = A.at(name + ".r");
        auto loss = fn::sum(fn::mul(out, variable<double>(tensor<double>(r.shape, std::span<const double>(r.values)))));
        backward(loss);
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            INFO("gradient of input " << i);
            REQUIRE_ALLCLOSE(as_doubles(inputs[i].grad()), A.at(name + ".grad" + std::to_string(i)).values, 1e-10, 1e-10);
        }
    };
    {
        auto x = in("convT", 0), w = in("convT", 1), b = in("convT", 2);
        check("convT", {x, w, b}, fn::conv_transpose2d(x, w, b, 2, 1, 1));
    }
    {
        auto x = in("convT1", 0), w = in("convT1", 1);
        check("convT1", {x, w}, fn::conv_transpose2d(x, w));
    }
    for (auto [name, f, mode] : {std::tuple{"bilinear", 2, fn::upsample_mode::bilinear},
                                 {"bilinear3", 3, fn::upsample_mode::bilinear}, {"nearest", 2, fn::upsample_mode::nearest}}) {
        auto x = in(name, 0);
        check(name, {x}, fn::upsample2d(x, std::size_t(f), mode));
    }
    auto x = in("avgpool", 0);
    check("avgpool", {x}, fn::avg_pool2d(x, 3, 2, 1));
}

// Double precision: the whole chain at once, forward -> backward -> step -> eval forward; float64
// rounding (1e-16) leaves 1e-9 of the largest magnitude far above any summation-order effect.
TEST_CASE("ResNet-18 + MLP head match PyTorch in double: forward, loss, gradients, BN stats, SGD step, eval") {
    using T = double;
    const auto G = read_golden();
    const double rtol = 1e-9;
    rng r(1);
    encoder_head<T> m(r);
    nn::load_weights(m, torch_dir + "weights.ocw");
    const tensor<T> x = golden_tensor<T>(G, "input", {4, 3, 32, 32});
    std::vector<int> labels;
    for (double v : G.at("labels")) labels.push_back(int(v));

    m.train(true);
    const auto feat = m.f->forward(variable<T>(x));
    auto z = m.g->forward(feat);
    auto loss = fn::cross_entropy(z, labels);
    // relative to the tensor's largest magnitude, so near-zero entries do not dominate
    auto check = [&](const std::vector<double>& got, const std::string& key) {
        INFO(key);
        const auto& want = G.at(key);
        REQUIRE_ALLCLOSE(got, want, 0.0, rtol * std::max(1e-12, max_abs(want)));
    };
    check(as_doubles(feat.value()), "f_train");
    check(as_doubles(z.value()), "z_train");
    check(as_doubles(loss.value()), "loss");
    backward(loss);
    for (auto& p : m.parameters()) check(as_doubles(p.var.grad()), "grad." + p.id);
    for (auto& b : m.buffers()) check(std::vector<double>(b.values->begin(), b.values->end()), "after_forward." + b.id);

    nn::sgd<T> opt({.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4});
    opt.step(m.parameters());
    for (auto& p : m.parameters()) check(as_doubles(p.var.value()), "after_step." + p.id);

    m.train(false);
    no_grad ng;
    check(as_doubles(m.forward(variable<T>(x)).value()), "z_eval");
}

// Float: each stage from its own golden inputs (the step from the golden gradients, the eval
// forward from the golden post-step weights), so no check inherits an earlier stage's error. The
// tolerance of array k is float_safety * cal_k, where cal_k is PyTorch's own float32 error on k over
// 1 and N threads, both its convolution algorithms, both memory formats and inputs perturbed by one
// float rounding (scripts/calibrate_torch_golden.py -> float_tolerance.txt). Summation orders that
// PyTorch does not take (OpenBLAS's generic kernels, our Winograd transforms) may differ by a small
// factor; docs/benchmarks.md lists our err / tolerance under every OpenBLAS core and ISA build.
// The floor covers the step's elementwise arithmetic: a few roundings of the largest term.
TEST_CASE("ResNet-18 + MLP head match PyTorch in float, stage by stage, within calibrated tolerances") {
    using T = float;
    constexpr double float_safety = 8;
    const double floor = 16 * double(std::numeric_limits<float>::epsilon()) / 2;
    const auto G = read_golden();
    const auto cal = read_tolerances();
    std::vector<std::pair<double, std::string>> ratios;  // err / tolerance per array, printed at the end
    auto check = [&](const std::vector<double>& got, const std::string& key) {
        INFO(key);
        REQUIRE(cal.count(key) == 1);
        const auto& want = G.at(key);
        REQUIRE(got.size() == want.size());
        const double scale = std::max(1e-300, max_abs(want));
        double err = 0;
        for (std::size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(got[i] - want[i]));
        REQUIRE(std::isfinite(err));
        const double tol = std::max(float_safety * cal.at(key), floor);
        ratios.emplace_back(err / scale / tol, key);
        REQUIRE_ALLCLOSE(got, want, 0.0, tol * scale);
    };
    const tensor<T> x = golden_tensor<T>(G, "input", {4, 3, 32, 32});
    rng r(1);

    SECTION("train: forward, loss, backward and running statistics from the initial weights") {
        encoder_head<T> m(r);
        nn::load_weights(m, torch_dir + "weights.ocw");
        std::vector<int> labels;
        for (double v : G.at("labels")) labels.push_back(int(v));
        m.train(true);
        const auto feat = m.f->forward(variable<T>(x));
        auto z = m.g->forward(feat);
        auto loss = fn::cross_entropy(z, labels);
        check(as_doubles(feat.value()), "f_train");
        check(as_doubles(z.value()), "z_train");
        check(as_doubles(loss.value()), "loss");
        backward(loss);
        for (auto& p : m.parameters()) check(as_doubles(p.var.grad()), "grad." + p.id);
        for (auto& b : m.buffers())
            check(std::vector<double>(b.values->begin(), b.values->end()), "after_forward." + b.id);
    }
    SECTION("step: one SGD step from the initial weights and the golden gradients") {
        encoder_head<T> m(r);
        nn::load_weights(m, torch_dir + "weights.ocw");
        for (auto& p : m.parameters()) p.var.node()->accumulate(golden_tensor<T>(G, "grad." + p.id, p.var.shape()));
        nn::sgd<T> opt({.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4});
        opt.step(m.parameters());
        for (auto& p : m.parameters()) check(as_doubles(p.var.value()), "after_step." + p.id);
    }
    SECTION("eval: forward from the golden post-step weights and running statistics") {
        encoder_head<T> m(r);
        for (auto& p : m.parameters()) p.var.value() = golden_tensor<T>(G, "after_step." + p.id, p.var.shape());
        for (auto& b : m.buffers()) {
            const auto& v = G.at("after_forward." + b.id);
            REQUIRE(v.size() == b.values->size());
            std::transform(v.begin(), v.end(), b.values->begin(), [](double a) { return T(a); });
        }
        m.train(false);
        no_grad ng;
        check(as_doubles(m.forward(variable<T>(x)).value()), "z_eval");
    }
    std::sort(ratios.rbegin(), ratios.rend());
    std::ostringstream os;
    os << "float golden, err / tolerance (worst first):";
    for (const auto& [q, k] : ratios) os << "\n  " << std::fixed << std::setprecision(3) << q << "  " << k;
    std::cout << os.str() << "\n";
}
