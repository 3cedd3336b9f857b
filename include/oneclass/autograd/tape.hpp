// oneclass/autograd/tape.hpp - tape-based reverse-mode automatic differentiation.
//
// Every differentiable op appends one closure to the current thread's tape as it runs forward,
// so tape order is a topological order of the graph; `backward(loss)` seeds d loss / d loss = 1
// and runs the tape in reverse (no recursive graph walk), accumulating gradients with +=, then
// frees the tape. An op's output gradient is freed as soon as its backward has run (leaves, i.e.
// parameters and inputs made with variable::parameter, keep theirs, and so does an output marked
// with variable::retain_grad); gradient buffers may be
// shared between inputs and are copied before any write while shared (var_node::own_grad).
// Inside a `no_grad` scope nothing is recorded (inference, feature extraction).
//
//     auto w = oneclass::variable<double>::parameter(tensor<double>({3, 2}), "w");
//     auto y = ops::mean(ops::relu(ops::matmul(x, w)));
//     oneclass::backward(y);          // w.grad() now holds d y / d w
//
// Thread-local: each thread has its own tape and no_grad flag.
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/profile.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace oneclass {

template <class T>
struct var_node {
    tensor<T> value;
    tensor<T> grad;  ///< allocated (zeros) on first accumulation
    bool requires_grad = false;
    bool retain_grad = false;  ///< an op output that keeps its gradient after backward (variable::retain_grad)
    std::string name;

    /// grad += g. On first use grad shares g's buffer when it is contiguous in this shape
    /// (copy-on-write, see own_grad), else a copy.
    void accumulate(const tensor<T>& g) {
        if (!grad.defined()) {
            grad = g.contiguous() && g.shape() == value.shape() ? g : g.clone();
            return;
        }
        own_grad();
        T* d = grad.data();
        const T* s = g.data();
        parallel::for_elements(grad.size(), [&](std::size_t lo, std::size_t hi) {
            for (std::size_t i = lo; i < hi; ++i) d[i] += s[i];
        });
    }
    /// grad[i] += f(i) for every i; on first use grad[i] = f(i) into fresh, unzeroed memory
    /// (one pass instead of a zero fill plus an add).
    template <class F>
    void accumulate_each(F&& f) {
        const std::size_t n = value.size();
        const bool fresh = !grad.defined();  // f reads its inputs by index only: chunks are independent
        if (fresh) grad = tensor<T>(value.shape(), uninitialized);
        else own_grad();
        T* d = grad.data();
        parallel::for_elements(n, [&](std::size_t lo, std::size_t hi) {
            if (fresh)
                for (std::size_t i = lo; i < hi; ++i) d[i] = f(i);
            else
                for (std::size_t i = lo; i < hi; ++i) d[i] += f(i);
        });
    }
    /// The gradient buffer, allocated without zeroing when new: only for callers that then
    /// write every element (and add when it already existed: check grad.defined() first).
    tensor<T>& grad_buffer_uninitialized() {
        if (!grad.defined()) grad = tensor<T>(value.shape(), uninitialized);
        own_grad();
        return grad;
    }
    tensor<T>& grad_buffer() {
        if (!grad.defined()) grad = tensor<T>(value.shape());
        own_grad();
        return grad;
    }
    /// An op may hand one gradient buffer to several inputs (fn::add_relu: both get the same
    /// masked gradient, no copy); every writer above first takes a private copy while the buffer is
    /// still shared (copy-on-write), so sharing never shows.
    void own_grad() {
        if (grad.defined() && !grad.unique_storage()) grad = grad.clone();
    }
};

/// A value in the graph: a handle (copies share the node).
template <class T>
class variable {
public:
    variable() = default;
    /// A constant (no gradient).
    explicit variable(tensor<T> v) : n_(std::make_shared<var_node<T>>()) { n_->value = std::move(v); }
    /// A leaf that collects gradients (a parameter or an input being differentiated).
    static variable parameter(tensor<T> v, std::string name = {}) {
        variable x(std::move(v));
        x.n_->requires_grad = true;
        x.n_->name = std::move(name);
        return x;
    }

    const tensor<T>& value() const { return n_->value; }
    tensor<T>& value() { return n_->value; }
    const tensor<T>& grad() const { return n_->grad; }
    bool requires_grad() const { return n_ && n_->requires_grad; }
    const shape_t& shape() const { return n_->value.shape(); }
    const std::string& name() const { return n_->name; }
    void zero_grad() { n_->grad = tensor<T>(); }
    /// Keeps this op output's gradient after backward (by default it is freed once used), e.g.
    /// the gradient of a feature map for a saliency map; leaves keep theirs anyway.
    void retain_grad() { n_->retain_grad = true; }
    std::shared_ptr<var_node<T>> node() const { return n_; }
    bool defined() const { return n_ != nullptr; }

private:
    std::shared_ptr<var_node<T>> n_;
};

namespace detail {
inline bool& grad_enabled_flag() {
    thread_local bool enabled = true;
    return enabled;
}
template <class T>
std::vector<std::function<void()>>& tape_of_thread() {
    thread_local std::vector<std::function<void()>> t;
    return t;
}
}  // namespace detail

/// Whether ops record onto the tape in this thread.
inline bool grad_enabled() { return detail::grad_enabled_flag(); }

/// RAII scope in which nothing is recorded.
class no_grad {
public:
    no_grad() : prev_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = false; }
    ~no_grad() { detail::grad_enabled_flag() = prev_; }
    no_grad(const no_grad&) = delete;
    no_grad& operator=(const no_grad&) = delete;

private:
    bool prev_;
};

/// Number of closures on this thread's tape (for tests and diagnostics).
template <class T>
std::size_t tape_size() {
    return detail::tape_of_thread<T>().size();
}

/// Drops the tape without running it (e.g. after a forward pass whose loss was not used).
template <class T>
void clear_tape() {
    detail::tape_of_thread<T>().clear();
}

/// Output variable of an op whose inputs need a gradient iff `needs`. The backward closure is
/// recorded only then (and while recording is on); it receives the output node.
template <class T, class Backward>
variable<T> make_result_if(tensor<T> value, bool needs, Backward&& bw) {
    variable<T> out(std::move(value));
    if (!needs || !grad_enabled()) return out;
    auto node = out.node();
    node->requires_grad = true;
    std::weak_ptr<var_node<T>> weak = node;  // the tape must not keep outputs alive by itself
    detail::tape_of_thread<T>().push_back([weak, bw = std::forward<Backward>(bw)]() mutable {
        if (auto o = weak.lock(); o && o->grad.defined()) {
            bw(*o);
            // tape order: nothing adds to an op's output gradient after its backward ran, so it is
            // freed here (as PyTorch frees non-leaf gradients): the buffer goes back to the pool
            // while it is hot, peak memory drops, and a gradient it shared becomes private again
            if (!o->retain_grad) o->grad = tensor<T>();
        }
    });
    return out;
}

/// Output variable of an op: requires grad if any input does (and recording is on).
template <class T, class Backward>
variable<T> make_result(tensor<T> value, std::initializer_list<const variable<T>*> inputs, Backward&& bw) {
    bool needs = false;
    for (const auto* in : inputs) needs = needs || in->requires_grad();
    return make_result_if<T>(std::move(value), needs, std::forward<Backward>(bw));
}

/// Reverse pass from a scalar loss; frees the tape. Throws if the loss is not a scalar or not
/// finite (a NaN/Inf loss is reported, not propagated).
template <class T>
void backward(variable<T>& loss) {
    require(loss.defined() && loss.value().size() == 1, "backward", "the loss must be a scalar, got shape ",
            loss.defined() ? to_string(loss.shape()) : std::string("(undefined)"));
    const double v = double(loss.value().data()[0]);
    if (!std::isfinite(v)) {
        clear_tape<T>();
        fail("backward", "the loss is not finite (", v, ")");
    }
    require(loss.requires_grad(), "backward", "the loss does not depend on any parameter");
    auto node = loss.node();
    node->grad_buffer().data()[0] += T(1);
    auto& tape = detail::tape_of_thread<T>();
    {
        ONECLASS_PROFILE_SCOPE("backward.total");
        for (std::size_t k = tape.size(); k-- > 0;) tape[k]();
    }
    tape.clear();
}

}  // namespace oneclass
