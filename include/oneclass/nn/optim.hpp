// oneclass/nn/optim.hpp - SGD with momentum (optionally Nesterov) and weight decay, and the
// cosine learning-rate schedule with linear warm-up.
//
// The update is PyTorch's torch.optim.SGD (dampening 0): g = grad + wd * p;
// buf = momentum * buf + g (buf = g at the first step); g = nesterov ? g + momentum * buf : buf;
// p -= lr * g. Momentum buffers are keyed by parameter id, never by address, so they survive
// rebuilding a model and can be saved with it.
//
//     oneclass::nn::sgd<float> opt({.lr = 0.01, .momentum = 0.9, .weight_decay = 3e-4});
//     backward(loss); opt.step(model.parameters()); model.zero_grad();
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/nn/module.hpp>
#include <oneclass/parallel/parallel.hpp>

#include <cmath>
#include <map>
#include <numbers>
#include <string>
#include <vector>

namespace oneclass::nn {

struct sgd_params {
    double lr = 0.01;
    double momentum = 0.9;
    double weight_decay = 0.0;
    bool nesterov = false;
    bool decay_batch_norm = true;  ///< false: no weight decay on BN scale/shift and biases
};

template <class T>
class sgd {
public:
    explicit sgd(sgd_params p = {}) : p_(p) {
        require(p.lr >= 0 && p.momentum >= 0 && p.weight_decay >= 0, "sgd", "lr, momentum and weight_decay must be >= 0");
        require(!p.nesterov || p.momentum > 0, "sgd", "Nesterov momentum needs momentum > 0");
    }

    void set_lr(double lr) { p_.lr = lr; }
    double lr() const { return p_.lr; }
    const sgd_params& params() const { return p_; }

    /// One update of every parameter that has a gradient.
    void step(const std::vector<named_variable<T>>& params) {
        ONECLASS_PROFILE_SCOPE("sgd.step");
        for (const auto& np : params) {
            auto node = np.var.node();
            if (!node->grad.defined()) continue;
            T* w = node->value.data();
            const T* g0 = node->grad.data();
            const std::size_t n = node->value.size();
            const double wd = (np.no_weight_decay && !p_.decay_batch_norm) ? 0.0 : p_.weight_decay;
            auto [it, fresh] = momentum_.try_emplace(np.id);
            std::vector<T>& buf = it->second;
            if (fresh) buf.assign(n, T(0));
            require(buf.size() == n, "sgd::step", "parameter '", np.id, "' changed size");
            T* b = buf.data();
            // the settings as local constants and one branch-free loop per case, so that each
            // vectorises (read through p_ inside the loop, they were reloaded per element)
            const T decay = T(wd), mu = T(p_.momentum), lr = T(p_.lr);
            const bool momentum = p_.momentum > 0, nesterov = p_.nesterov, first = fresh;
            parallel::for_elements(n, [&](std::size_t lo, std::size_t hi) {  // elementwise: any thread count
                if (!momentum) {
                    for (std::size_t i = lo; i < hi; ++i) w[i] -= lr * (g0[i] + decay * w[i]);
                    return;
                }
                if (first)
                    for (std::size_t i = lo; i < hi; ++i) b[i] = g0[i] + decay * w[i];
                else
                    for (std::size_t i = lo; i < hi; ++i) b[i] = mu * b[i] + (g0[i] + decay * w[i]);
                if (nesterov)
                    for (std::size_t i = lo; i < hi; ++i) w[i] -= lr * ((g0[i] + decay * w[i]) + mu * b[i]);
                else
                    for (std::size_t i = lo; i < hi; ++i) w[i] -= lr * b[i];
            });
        }
    }

    /// Momentum buffers by parameter id (for checkpoints).
    std::map<std::string, std::vector<T>>& state() { return momentum_; }

private:
    sgd_params p_;
    std::map<std::string, std::vector<T>> momentum_;
};

/// lr(step) = base * 0.5 * (1 + cos(pi * (step - warmup) / (total - warmup))) after a linear
/// warm-up from base / warmup to base over the first `warmup` steps.
inline double cosine_lr(double base, std::size_t step, std::size_t total, std::size_t warmup = 0) {
    require(total > 0 && warmup <= total, "cosine_lr", "need 0 <= warmup <= total, total > 0");
    if (step < warmup) return base * double(step + 1) / double(warmup);
    if (total == warmup) return base;
    const double t = double(std::min(step, total) - warmup) / double(total - warmup);
    return base * 0.5 * (1.0 + std::cos(std::numbers::pi * t));
}

}  // namespace oneclass::nn
