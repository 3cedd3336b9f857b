// oneclass/pipeline/trainer.hpp - the training loop: any ProxyLoss, any ImageSource, SGD with
// momentum, weight decay and a cosine schedule over all steps, and hooks where a caller adds
// what a run needs.
//
//     pipeline::trainer t({.epochs = 10, .batch = 32, .lr = 0.05, .seed = 1}, {.momentum = 0.9});
//     t.fit(network_ref{f, g}, my_proxy, tensor_source(images), params, {
//         .after_backward = [&](const auto& params, const step_log&) { /* clip, inspect gradients */ },
//         .after_step = [&](const step_log& s) { /* log, progress */ },
//         .at_epoch_end = [&](std::size_t epoch) { /* checkpoint */ }});
//
// Batches come from a seeded shuffle per epoch and augmentations from a seed per step, so the
// same seed gives the same model on any thread count, and state() (step reached, momentum) is
// all a resumed run needs to repeat an uninterrupted one bit for bit. A non-finite loss throws
// training_diverged before the update; a stop request finishes the step, calls on_stop and
// throws training_interrupted.
//
// Data-parallel (set_data_parallel; mpi::data_parallel builds the functions over MPI): each rank
// trains on its rows of every global batch, with augmentations seeded by the images' global
// indices, and one fused sum per step makes the ranks' gradients, loss and stop requests every
// rank's, so all ranks apply the same update, diverge together and stop together.
#pragma once

#include <oneclass/core/shard.hpp>
#include <oneclass/data/image_source.hpp>
#include <oneclass/nn/optim.hpp>
#include <oneclass/pipeline/proxy.hpp>

#include <atomic>
#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
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

/// How the ranks of a data-parallel run share each step (mpi::data_parallel(comm) makes one over
/// MPI; left empty, the trainer is one process). Rank r takes rows shard_rows(B, r, P) of every
/// global batch of B; after backward, one sum over the ranks (`sum`, fused into one buffer)
/// carries the gradients, the loss and the stop requests; every rank applies the same update.
struct data_parallel {
    std::size_t rank = 0, size = 1;
    /// Element-wise sum over the ranks, in place; the same bits on every rank and every run.
    std::function<void(std::vector<float>&)> sum = {};
    std::function<void(std::vector<double>&)> sum_double = {};  ///< the same for doubles (synchronised batch norm)
    /// Every rank's vector, in rank order (the gathered embeddings of contrastive losses).
    std::function<std::vector<std::vector<float>>(const std::vector<float>&)> all_gather = {};
    /// false: each rank normalises by its own rows' statistics and the running statistics are rank
    /// 0's (PyTorch DDP's default; the paper's TF MirroredStrategy also keeps per-replica
    /// statistics). true: the statistics of the global batch (fn::sync_batch_norm_scope), which
    /// makes P ranks train what one process does with batch B.
    bool sync_batch_norm = false;
    bool enabled() const { return bool(sum); }
};

class trainer {
public:
    explicit trainer(train_schedule s, nn::sgd_params opt = {}) : s_(s), opt_(opt) {
        require(s.batch >= 2 && s.epochs >= 1, "trainer", "batch must be >= 2 and epochs >= 1");
    }

    /// Makes this trainer one rank of a data-parallel run (before fit).
    void set_data_parallel(data_parallel dp) {
        require(!dp.enabled() || (dp.size >= 1 && dp.rank < dp.size && dp.all_gather && (!dp.sync_batch_norm || dp.sum_double)),
                "trainer::set_data_parallel", "rank ", dp.rank, " of ", dp.size, " needs sum, all_gather (and sum_double to sync batch norm)");
        dp_ = std::move(dp);
    }
    const data_parallel& parallelism() const { return dp_; }

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
        require(dp_.size <= s_.batch, "trainer::fit", dp_.size, " ranks cannot share a batch of ", s_.batch,
                " (each needs an image of every batch)");
        const std::size_t per_epoch = N / s_.batch, total = per_epoch * s_.epochs;
        set_train(net, proxy, true);
        const row_range mine = dp_.enabled() ? shard_rows(s_.batch, int(dp_.rank), int(dp_.size)) : row_range{0, s_.batch};
        const batch_shard shard{mine.lo, mine.hi - mine.lo, s_.batch, dp_.rank, dp_.size > 1 ? dp_.all_gather : nullptr};
        std::vector<nn::named_buffer<float>> buffers;  // the batch-norm statistics, kept equal on every rank
        if (dp_.enabled()) {
            for (nn::module<float>* m : {static_cast<nn::module<float>*>(&net.f), static_cast<nn::module<float>*>(&net.g)})
                for (auto& b : m->buffers()) buffers.push_back(b);
            for (auto& b : proxy.buffers()) buffers.push_back(b);
        }
        std::vector<std::size_t> order(N), idx(mine.hi - mine.lo);
        std::size_t shuffled_for = std::size_t(-1);
        for (std::size_t step = next_step_; step < total; ++step) {
            const std::size_t e = step / per_epoch, s = step % per_epoch;
            if (shuffled_for != e) {
                std::iota(order.begin(), order.end(), std::size_t{0});
                rng shuffle(s_.seed * 1000003 + e);
                for (std::size_t i = N; i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
                shuffled_for = e;
            }
            std::copy_n(order.begin() + std::ptrdiff_t(s * s_.batch + mine.lo), idx.size(), idx.begin());
            const tensor<float> x = gather(data, idx);
            std::optional<std::size_t> bad;  // the first image holding NaN or Inf
            for (std::size_t i = 0; i < x.size() && !bad; ++i)
                if (!std::isfinite(x.data()[i])) bad = idx[i / (x.size() / idx.size())];
            const auto check_images = [&](bool elsewhere) {
                require(!bad, "trainer::fit", "image ", bad.value_or(0), " holds a non-finite value (NaN or Inf)");
                require(!elsewhere, "trainer::fit", "an image of another rank's rows holds a non-finite value (NaN or Inf)");
            };
            if (!dp_.enabled()) check_images(false);
            const double lr = nn::cosine_lr(s_.lr, step, total);
            opt_.set_lr(lr);
            const std::uint64_t seed = (s_.seed << 32) ^ (std::uint64_t(step) * 2);
            bool stop = false;  // data-parallel: the ranks' verdict, agreed in the step's sum
            double value;
            if (!dp_.enabled()) {
                auto loss = proxy.loss(net, x, seed);
                value = double(loss.value().data()[0]);
                check_finite(value, e, s);
                backward(loss);
            } else {
                loss_part part = [&] {
                    std::optional<fn::sync_batch_norm_scope> sync;
                    if (dp_.sync_batch_norm) sync.emplace(dp_.sum_double);
                    return data_parallel_loss(net, proxy, x, seed, shard);
                }();
                // a non-finite loss part sends no gradients; the sum below makes its NaN every rank's
                if (std::isfinite(part.loss.value().data()[0])) backward(part.loss);
                const auto agreed = all_reduce(params, buffers, part, h.stop && h.stop->load(), bool(bad));
                check_images(agreed.bad_images);
                value = agreed.loss;
                stop = agreed.stop;
                check_finite(value, e, s);
            }
            const step_log log{e, step, per_epoch, total, s_.batch, value, lr};
            if (h.after_backward) h.after_backward(params, log);
            opt_.step(params);
            for (auto p : params) p.var.zero_grad();  // a copy of the handle: the node is shared
            next_step_ = step + 1;
            if (h.after_step) h.after_step(log);
            if (s + 1 == per_epoch && h.at_epoch_end) h.at_epoch_end(e);
            if (!dp_.enabled()) stop = h.stop && h.stop->load();
            if (stop && next_step_ < total) {
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
    static void check_finite(double value, std::size_t e, std::size_t s) {
        if (!std::isfinite(value))
            fail<training_diverged>("trainer::fit", "loss is ", std::isnan(value) ? "NaN" : "Inf", " at epoch ", e + 1, " step ", s + 1,
                                    " (lower the learning rate?)");
    }

    template <class P>
    loss_part data_parallel_loss(const network_ref& net, P& proxy, const tensor<float>& x, std::uint64_t seed, const batch_shard& shard) {
        if constexpr (DataParallelProxy<P>) {
            return proxy.loss(net, x, seed, shard);
        } else {
            require(shard.is_whole(), "trainer::fit", "proxy '", P::name, "' cannot train data-parallel (it has no loss over a rank's ",
                    "rows of the batch: see DataParallelProxy)");
            return {proxy.loss(net, x, seed), false};
        }
    }

    struct agreed_step {
        double loss;
        bool stop, bad_images;
    };
    /// One sum over the ranks of [gradients, batch-norm statistics, loss, flags]: every rank's
    /// gradients added; rank 0's running statistics (the other ranks send zeros, so the sum is
    /// rank 0's values exactly) unless batch norm is synchronised, which keeps them equal
    /// already; the loss of the global batch; whether any rank was asked to stop or met a
    /// non-finite image.
    agreed_step all_reduce(const std::vector<nn::named_variable<float>>& params, const std::vector<nn::named_buffer<float>>& buffers,
                           const loss_part& part, bool stop, bool bad_images) {
        // every parameter has its slot (zeros where this rank has no gradient) and a count of the
        // ranks that had one: a parameter no rank reached keeps no gradient, as in one process.
        // The buffer is the trainer's, reused step after step (it is the size of the model)
        std::vector<float>& flat = flat_;
        flat.clear();
        for (const auto& p : params) {
            const auto& g = p.var.grad();
            if (g.defined()) flat.insert(flat.end(), g.data(), g.data() + g.size());
            else flat.resize(flat.size() + p.var.value().size(), 0.0f);
            flat.push_back(g.defined() ? 1.0f : 0.0f);
        }
        const bool share_buffers = !dp_.sync_batch_norm;
        if (share_buffers)
            for (const auto& b : buffers)
                for (float v : *b.values) flat.push_back(dp_.rank == 0 ? v : 0.0f);
        const float value = part.loss.value().data()[0];
        flat.push_back(part.replicated && dp_.rank != 0 ? 0.0f : value);
        flat.push_back(stop ? 1.0f : 0.0f);
        flat.push_back(bad_images ? 1.0f : 0.0f);
        dp_.sum(flat);
        std::size_t at = 0;
        for (const auto& p : params) {
            const std::size_t n = p.var.value().size();
            if (flat[at + n] > 0) std::copy_n(flat.data() + at, n, p.var.node()->grad_buffer().data());
            at += n + 1;
        }
        if (share_buffers)
            for (const auto& b : buffers) {
                std::copy_n(flat.data() + at, b.values->size(), b.values->data());
                at += b.values->size();
            }
        return {double(flat[at]), flat[at + 1] > 0, flat[at + 2] > 0};
    }

    template <class P>
    static void set_train(const network_ref& net, P& proxy, bool on) {
        net.f.train(on);
        net.g.train(on);
        proxy.train(on);
    }
    train_schedule s_;
    nn::sgd<float> opt_;
    data_parallel dp_;
    std::vector<float> flat_;  ///< data-parallel: the step's fused sum
    std::size_t next_step_ = 0, trained_on_ = 0;
};

}  // namespace oneclass::pipeline
