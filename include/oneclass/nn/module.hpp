// oneclass/nn/module.hpp - the Module concept and the layers networks are built from.
//
// Requirements of `Module<M>`:
//   1. `m.forward(variable<T>)` returns a variable<T> (the layer's output).
//   2. `m.parameters()` lists the trainable parameters as (stable id, variable) pairs in a fixed
//      order; ids are hierarchical names ("layer1.0.conv1.weight") that do not depend on memory
//      addresses, so optimiser state and model files are keyed by them.
//   3. `m.buffers()` lists non-trained state (batch-norm running statistics) the same way.
//   4. `m.train(bool)` switches training / evaluation behaviour; `m.name()` names the module.
// The layers here derive from `module<T>` (virtual forward) so that containers such as
// `sequential` can hold any of them; user modules need only satisfy the concept.
//
//     oneclass::nn::sequential<float> net;
//     net.add(std::make_shared<oneclass::nn::linear<float>>(16, 8, true, rng));
//     auto y = net.forward(x);
#pragma once

#include <oneclass/autograd/nn_functions.hpp>
#include <oneclass/core/rng.hpp>

#include <cmath>
#include <concepts>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace oneclass::nn {

template <class T>
struct named_variable {
    std::string id;
    variable<T> var;
    bool no_weight_decay = false;  ///< batch-norm scale / shift and biases (optionally excluded)
};

template <class T>
struct named_buffer {
    std::string id;
    std::vector<T>* values;
};

template <class M>
concept Module = requires(M m, const M cm, variable<typename M::value_type> x) {
    typename M::value_type;
    { m.forward(x) } -> std::same_as<variable<typename M::value_type>>;
    { m.parameters() } -> std::same_as<std::vector<named_variable<typename M::value_type>>>;
    { m.buffers() } -> std::same_as<std::vector<named_buffer<typename M::value_type>>>;
    m.train(true);
    { cm.training() } -> std::same_as<bool>;
    { cm.name() } -> std::convertible_to<std::string>;
};

/// Base of the built-in layers.
template <class T>
class module {
public:
    using value_type = T;
    virtual ~module() = default;
    virtual variable<T> forward(const variable<T>& x) = 0;
    virtual std::string name() const = 0;

    std::vector<named_variable<T>> parameters() {
        std::vector<named_variable<T>> out;
        collect_parameters("", out);
        return out;
    }
    std::vector<named_buffer<T>> buffers() {
        std::vector<named_buffer<T>> out;
        collect_buffers("", out);
        return out;
    }
    void train(bool on) {
        training_ = on;
        for (auto& [n, c] : children_) c->train(on);
    }
    bool training() const { return training_; }
    void zero_grad() {
        for (auto& p : parameters()) p.var.zero_grad();
    }

    virtual void collect_parameters(const std::string& prefix, std::vector<named_variable<T>>& out) {
        for (auto& p : own_params_) out.push_back({prefix + p.id, p.var, p.no_weight_decay});
        for (auto& [n, c] : children_) c->collect_parameters(prefix + n + ".", out);
    }
    virtual void collect_buffers(const std::string& prefix, std::vector<named_buffer<T>>& out) {
        for (auto& b : own_buffers_) out.push_back({prefix + b.id, b.values});
        for (auto& [n, c] : children_) c->collect_buffers(prefix + n + ".", out);
    }

protected:
    variable<T> register_parameter(const std::string& id, tensor<T> init, bool no_weight_decay = false) {
        auto v = variable<T>::parameter(std::move(init), id);
        own_params_.push_back({id, v, no_weight_decay});
        return v;
    }
    void register_buffer(const std::string& id, std::vector<T>* values) { own_buffers_.push_back({id, values}); }
    template <class M>
    std::shared_ptr<M> register_child(const std::string& id, std::shared_ptr<M> m) {
        children_.emplace_back(id, m);
        return m;
    }

private:
    std::vector<named_variable<T>> own_params_;
    std::vector<named_buffer<T>> own_buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<module<T>>>> children_;
    bool training_ = true;
};

namespace init {
/// He (Kaiming) normal with fan-out, as torchvision's ResNets: std = sqrt(2 / fan_out).
template <class T>
tensor<T> he_normal_fan_out(shape_t s, std::size_t fan_out, rng& r) {
    tensor<T> t(std::move(s));
    const double sd = std::sqrt(2.0 / double(fan_out));
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T(r.normal() * sd);
    return t;
}
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear weights and biases.
template <class T>
tensor<T> uniform_fan_in(shape_t s, std::size_t fan_in, rng& r) {
    tensor<T> t(std::move(s));
    const double b = 1.0 / std::sqrt(double(fan_in));
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = T((2 * r.uniform() - 1) * b);
    return t;
}
}  // namespace init

template <class T>
class conv2d : public module<T> {
public:
    conv2d(std::size_t in, std::size_t out, std::size_t k, std::size_t stride, std::size_t pad, bool bias, rng& r)
        : stride_(stride), pad_(pad) {
        w_ = this->register_parameter("weight", init::he_normal_fan_out<T>({out, in, k, k}, out * k * k, r));
        if (bias) b_ = this->register_parameter("bias", tensor<T>({out}), true);
    }
    variable<T> forward(const variable<T>& x) override { return fn::conv2d(x, w_, b_, stride_, pad_); }
    std::string name() const override { return "conv2d"; }
    variable<T>& weight() { return w_; }

private:
    variable<T> w_, b_;
    std::size_t stride_, pad_;
};

/// Transposed convolution (PyTorch ConvTranspose2d layout: weight Cin x Cout x k x k), the
/// decoder's upsampling layer; k = 4, stride 2, pad 1 exactly doubles H and W.
template <class T>
class conv_transpose2d : public module<T> {
public:
    conv_transpose2d(std::size_t in, std::size_t out, std::size_t k, std::size_t stride, std::size_t pad, bool bias, rng& r)
        : stride_(stride), pad_(pad) {
        w_ = this->register_parameter("weight", init::he_normal_fan_out<T>({in, out, k, k}, out * k * k, r));
        if (bias) b_ = this->register_parameter("bias", tensor<T>({out}), true);
    }
    variable<T> forward(const variable<T>& x) override { return fn::conv_transpose2d(x, w_, b_, stride_, pad_); }
    std::string name() const override { return "conv_transpose2d"; }

private:
    variable<T> w_, b_;
    std::size_t stride_, pad_;
};

/// Batch norm over channels (2-D N x C or 4-D N x C x H x W input); gamma = 1, beta = 0.
template <class T>
class batch_norm : public module<T> {
public:
    explicit batch_norm(std::size_t channels) : st_(channels) {
        gamma_ = this->register_parameter("weight", tensor<T>({channels}, T(1)), true);
        beta_ = this->register_parameter("bias", tensor<T>({channels}), true);
        this->register_buffer("running_mean", &st_.running_mean);
        this->register_buffer("running_var", &st_.running_var);
    }
    variable<T> forward(const variable<T>& x) override { return fn::batch_norm(x, gamma_, beta_, st_, this->training()); }
    /// relu(forward(x)) fused into one pass (fn::batch_norm_relu).
    variable<T> forward_relu(const variable<T>& x) { return fn::batch_norm_relu(x, gamma_, beta_, st_, this->training()); }
    /// relu(forward(x) + residual) fused into one pass (fn::batch_norm_add_relu).
    variable<T> forward_add_relu(const variable<T>& x, const variable<T>& residual) {
        return fn::batch_norm_add_relu(x, gamma_, beta_, st_, this->training(), residual);
    }
    std::string name() const override { return "batch_norm"; }
    fn::batch_norm_state<T>& state() { return st_; }

private:
    variable<T> gamma_, beta_;
    fn::batch_norm_state<T> st_;
};

template <class T>
class relu : public module<T> {
public:
    variable<T> forward(const variable<T>& x) override { return fn::relu(x); }
    std::string name() const override { return "relu"; }
};

template <class T>
class linear : public module<T> {
public:
    linear(std::size_t in, std::size_t out, bool bias, rng& r) {
        w_ = this->register_parameter("weight", init::uniform_fan_in<T>({out, in}, in, r));
        if (bias) b_ = this->register_parameter("bias", init::uniform_fan_in<T>({out}, in, r), true);
    }
    variable<T> forward(const variable<T>& x) override { return fn::linear(x, w_, b_); }
    std::string name() const override { return "linear"; }

private:
    variable<T> w_, b_;
};

/// Applies its children in order; child i is named "i".
template <class T>
class sequential : public module<T> {
public:
    template <class M>
    std::shared_ptr<M> add(std::shared_ptr<M> m) {
        layers_.push_back(m);
        return this->register_child(std::to_string(layers_.size() - 1), m);
    }
    variable<T> forward(const variable<T>& x) override {
        variable<T> h = x;
        for (auto& l : layers_) h = l->forward(h);
        return h;
    }
    std::string name() const override { return "sequential"; }
    std::size_t size() const { return layers_.size(); }

private:
    std::vector<std::shared_ptr<module<T>>> layers_;
};

static_assert(Module<sequential<float>>);
static_assert(Module<conv2d<double>>);
static_assert(Module<conv_transpose2d<float>>);

}  // namespace oneclass::nn
