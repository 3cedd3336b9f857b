// oneclass/pipeline/trainer.hpp - the training loop: any ProxyLoss, any ImageSource, SGD with
// momentum, weight decay and a cosine schedule over all steps, and hooks where a caller adds
// what a run needs.
//
//     pipeline::trainer t({.epochs = 10, .batch = 32, .lr = 0.05, .seed = 1}, {.momentum = 0.9});
//     t.fit(network_ref{f, g}, my_proxy, tensor_source(images), params, {
//         .after_backward = [&](const auto& params, const step_log&) { /* all-reduce gradients */ },
//         .after_step = [&](const step_log& s) { /* log, progress */ },
//         .at_epoch_end = [&](std::size_t epoch) { /* checkpoint */ }});
//
// Batches come from a seeded shuffle per epoch and augmentations from a seed per step, so the
// same seed gives the same model on any thread count, and state() (step reached, momentum) is
// all a resumed run needs to repeat an uninterrupted one bit for bit. A non-finite loss throws
// training_diverged before the update; a stop request finishes the step, calls on_stop and
// throws training_interrupted.
#pragma once

#include <oneclass/data/image_source.hpp>
#include <oneclass/nn/optim.hpp>
#include <oneclass/pipeline/proxy.hpp>

#include <atomic>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

namespace oneclass::pipeline {

/// One optimisation step's record.
struct step_log {
    std::size_t epoch, step;                   ///< 0-based; step counts over all epochs
    std::size_t steps_per_epoch, total_steps;
    std::size_t images;                        ///< source images in the batch
    double loss, lr;
};

/// Thrown by fit when a stop was requested; on_stop (a checkpoint) has already run.
class training_interrupted : public error {
public:
    using error::error;
};

/// Thrown by fit when the loss is NaN or Inf (the update is not applied).
class training_diverged : public error {
public:
    using error::error;
};

struct train_schedule {
    std::size_t epochs = 1, batch = 32;
    double lr = 0.01;  ///< peak learning rate of the cosine schedule
    std::uint64_t seed = 0;
};

struct train_hooks {
    /// After backward, before the optimiser step: the gradients are in the parameters.
    std::function<void(const std::vector<nn::named_variable<float>>&, const step_log&)> after_backward = {};
    std::function<void(const step_log&)> after_step = {};
    std::function<void(std::size_t epoch)> at_epoch_end = {};  ///< 0-based epoch just completed
    std::function<void()> on_stop = {};                        ///< a stop was requested; before the throw
    const std::atomic<bool>* stop = nullptr;              ///< checked after every step
};

class trainer {
public:
    explicit trainer(train_schedule s, nn::sgd_params opt = {}) : s_(s), opt_(opt) {
        require(s.batch >= 2 && s.epochs >= 1, "trainer", "batch must be >= 2 and epochs >= 1");
    }

    /// Trains `params` (those of f, g and the proxy that the run updates) on `data`, continuing
    /// from step state().next_step.
    template <ProxyLoss P, ImageSource D>
    void fit(const network_ref& net, P& proxy, const D& data, const std::vector<nn::named_variable<float>>& params,
             const train_hooks& h = {}) {
        const std::size_t N = data.size();
        require(N >= s_.batch, "trainer::fit", "needs at least batch = ", s_.batch, " images, got ", N);
        require(next_step_ == 0 || N == trained_on_, "trainer::fit", "resumed on ", N,
                " images, the checkpoint was written for ", trained_on_);
        trained_on_ = N;
        const std::size_t per_epoch = N / s_.batch, total = per_epoch * s_.epochs;
        set_train(net, proxy, true);
        std::vector<std::size_t> order(N), idx(s_.batch);
        std::size_t shuffled_for = std::size_t(-1);
        for (std::size_t step = next_step_; step < total; ++step) {
            const std::size_t e = step / per_epoch, s = step % per_epoch;
            if (shuffled_for != e) {
                std::iota(order.begin(), order.end(), std::size_t{0});
                rng shuffle(s_.seed * 1000003 + e);
                for (std::size_t i = N; i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
                shuffled_for = e;
            }
            std::copy_n(order.begin() + std::ptrdiff_t(s * s_.batch), s_.batch, idx.begin());
            const tensor<float> x = gather(data, idx);
            for (std::size_t i = 0; i < x.size(); ++i)
                require(std::isfinite(x.data()[i]), "trainer::fit", "image ", idx[i / (x.size() / s_.batch)],
                        " holds a non-finite value (NaN or Inf)");
            const double lr = nn::cosine_lr(s_.lr, step, total);
            opt_.set_lr(lr);
            const std::uint64_t seed = (s_.seed << 32) ^ (std::uint64_t(step) * 2);
            auto loss = proxy.loss(net, x, seed);
            const double value = double(loss.value().data()[0]);
            if (!std::isfinite(value))
                fail<training_diverged>("trainer::fit", "loss is ", std::isnan(value) ? "NaN" : "Inf", " at epoch ", e + 1,
                                        " step ", s + 1, " (lower the learning rate?)");
            const step_log log{e, step, per_epoch, total, s_.batch, value, lr};
            backward(loss);
            if (h.after_backward) h.after_backward(params, log);
            opt_.step(params);
            for (auto p : params) p.var.zero_grad();  // a copy of the handle: the node is shared
            next_step_ = step + 1;
            if (h.after_step) h.after_step(log);
            if (s + 1 == per_epoch && h.at_epoch_end) h.at_epoch_end(e);
            if (h.stop && h.stop->load() && next_step_ < total) {
                if (h.on_stop) h.on_stop();
                fail<training_interrupted>("trainer::fit", "stopped at epoch ", e + 1, " step ", s + 1, " of ", per_epoch);
            }
        }
        set_train(net, proxy, false);
    }

    const train_schedule& schedule() const { return s_; }
    nn::sgd<float>& optimizer() { return opt_; }
    std::size_t next_step() const { return next_step_; }
    std::size_t trained_on() const { return trained_on_; }  ///< images per epoch of the run so far
    /// Restores the position of a checkpointed run (its momentum goes through optimizer().state()).
    void resume_at(std::size_t next_step, std::size_t trained_on) {
        next_step_ = next_step;
        trained_on_ = trained_on;
    }

private:
    template <class P>
    static void set_train(const network_ref& net, P& proxy, bool on) {
        net.f.train(on);
        net.g.train(on);
        proxy.train(on);
    }
    train_schedule s_;
    nn::sgd<float> opt_;
    std::size_t next_step_ = 0, trained_on_ = 0;
};

}  // namespace oneclass::pipeline
