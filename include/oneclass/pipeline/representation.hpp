// oneclass/pipeline/representation.hpp - the paper's first stage: learn a representation from
// normal images with a self-supervised proxy task, then extract L2-normalised features.
//
//     oneclass::pipeline::representation_config cfg;           // method, network, optimiser
//     cfg.method = oneclass::pipeline::proxy_method::distaug;
//     oneclass::pipeline::representation rep(cfg, channels);
//     rep.fit(normal_images);                                   // N x C x H x W in [0, 1]
//     auto f = rep.features(test_images);                       // pooled encoder f, L2-normalised
//     // ... then any detector: oneclass::kde<float> det; det.fit(f_train); det.score(f)
//
// Methods: rotation prediction (4-way cross-entropy on rot90 copies, classifier on g(f)), SimCLR
// (NT-Xent between two augmented views), DistAug (NT-Xent over the union of rot90 / hflip shifted
// copies, each a new instance). SGD with momentum, weight decay and a cosine schedule over all
// steps; batches are drawn by a seeded shuffle, so the same seed gives the same model.
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/losses/losses.hpp>
#include <oneclass/nn/optim.hpp>
#include <oneclass/nn/resnet.hpp>

#include <oneclass/core/binary_io.hpp>

#include <filesystem>
#include <functional>
#include <numeric>
#include <vector>

namespace oneclass::pipeline {

enum class proxy_method { rotation, simclr, distaug };

struct representation_config {
    proxy_method method = proxy_method::distaug;
    nn::resnet_config net{.depth = 18, .width = 1.0};
    std::vector<std::size_t> head_hidden = std::vector<std::size_t>(8, 512);  ///< the paper's [512 x 8, 128]
    std::size_t head_out = 128;
    std::size_t epochs = 1, batch = 32;
    double lr = 0.01, momentum = 0.9, weight_decay = 3e-4, temperature = 0.2;
    std::vector<int> distaug_shifts{0, 2, 4, 6};  ///< rot0 / 90 / 180 / 270 (see augment::distribution_shift)
    augment::simclr_params views{};
    std::uint64_t seed = 0;
    std::filesystem::path checkpoint;  ///< if set: written atomically every checkpoint_every epochs
    std::size_t checkpoint_every = 1;
};

/// One optimisation step's record.
struct step_log {
    std::size_t epoch, step;
    double loss, lr;
};

class representation {
public:
    representation(representation_config c, std::size_t in_channels) : c_(std::move(c)), gen_(c_.seed) {
        c_.net.in_channels = in_channels;
        require(c_.batch >= 2 && c_.epochs >= 1, "representation", "batch must be >= 2 and epochs >= 1");
        f_ = std::make_shared<nn::resnet<float>>(c_.net, gen_);
        g_ = std::make_shared<nn::mlp_head<float>>(f_->feature_dim(), c_.head_hidden, c_.head_out, gen_);
        if (c_.method == proxy_method::rotation) cls_ = std::make_shared<nn::linear<float>>(c_.head_out, 4, true, gen_);
    }

    /// Trains on normal images (N x C x H x W, values in [0, 1]); calls on_step after each step.
    void fit(const tensor<float>& images, const std::function<void(const step_log&)>& on_step = {}) {
        require(images.ndim() == 4 && images.shape(1) == c_.net.in_channels, "representation::fit", "expects N x ",
                c_.net.in_channels, " x H x W images, got ", to_string(images.shape()));
        const std::size_t N = images.shape(0);
        require(N >= c_.batch, "representation::fit", "needs at least batch = ", c_.batch, " images, got ", N);
        const std::size_t per_epoch = N / c_.batch, total = per_epoch * c_.epochs, img = images.size() / N;
        auto params = parameters();
        augment::simclr views(c_.views);
        f_->train(true);
        g_->train(true);
        std::vector<std::size_t> order(N);
        std::size_t step = next_epoch_ * per_epoch;
        for (std::size_t e = next_epoch_; e < c_.epochs; ++e) {
            std::iota(order.begin(), order.end(), std::size_t{0});
            rng shuffle(c_.seed * 1000003 + e);
            for (std::size_t i = N; i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
            for (std::size_t s = 0; s < per_epoch; ++s, ++step) {
                tensor<float> x({c_.batch, images.shape(1), images.shape(2), images.shape(3)}, uninitialized);
                for (std::size_t b = 0; b < c_.batch; ++b)
                    std::copy_n(images.data() + order[s * c_.batch + b] * img, img, x.data() + b * img);
                const double lr = nn::cosine_lr(c_.lr, step, total);
                opt_.set_lr(lr);
                auto loss = step_loss(x, views, step);
                backward(loss);
                opt_.step(params);
                for (auto& p : params) p.var.zero_grad();
                if (on_step) on_step({e, step, double(loss.value().data()[0]), lr});
            }
            next_epoch_ = e + 1;
            if (!c_.checkpoint.empty() && (next_epoch_ % std::max<std::size_t>(1, c_.checkpoint_every) == 0 || next_epoch_ == c_.epochs))
                save_checkpoint(c_.checkpoint);
        }
        fitted_ = true;
    }

    /// Writes weights, batch-norm statistics, momentum buffers and the next epoch atomically; a
    /// model restored with load_checkpoint continues training exactly as if never interrupted
    /// (shuffles, augmentations and the learning rate depend only on the seed and the step).
    void save_checkpoint(const std::filesystem::path& path) {
        binary_writer w;
        w.put<std::uint64_t>(next_epoch_);
        w.put<std::uint64_t>(c_.seed);
        w.put<std::uint64_t>(c_.epochs);
        const auto ps = parameters();
        w.put<std::uint64_t>(ps.size());
        for (const auto& p : ps) {
            w.put_string(p.id);
            w.put_array(p.var.value().data(), p.var.value().size());
            const auto it = opt_.state().find(p.id);
            if (it == opt_.state().end()) w.put_array<float>(nullptr, 0);
            else w.put_vector(it->second);
        }
        const auto bs = buffers();
        w.put<std::uint64_t>(bs.size());
        for (const auto& b : bs) {
            w.put_string(b.id);
            w.put_vector(*b.values);
        }
        write_file_atomic(path, frame_payload(1, "checkpoint", w.bytes()), "save_checkpoint");
    }

    /// Restores what save_checkpoint wrote into a model built with the same configuration;
    /// throws io_error naming the file and the first mismatch.
    void load_checkpoint(const std::filesystem::path& path) {
        const std::string bytes = read_file_bytes(path, "load_checkpoint");
        const framed_file f = unframe(bytes, 1, path.string());
        if (f.kind != "checkpoint") fail<io_error>("load_checkpoint", "'", path.string(), "' is a ", f.kind, " file");
        binary_reader r(f.payload, "'" + path.string() + "'");
        const auto epoch = r.get<std::uint64_t>(), seed = r.get<std::uint64_t>(), epochs = r.get<std::uint64_t>();
        if (seed != c_.seed || epochs != c_.epochs || epoch > epochs)
            fail<io_error>("load_checkpoint", "'", path.string(), "' was written for seed ", seed, " and ", epochs,
                           " epochs, this run has seed ", c_.seed, " and ", c_.epochs);
        auto ps = parameters();
        if (r.get<std::uint64_t>() != ps.size())
            fail<io_error>("load_checkpoint", "'", path.string(), "' holds another network (parameter count differs)");
        std::vector<std::vector<float>> values, moms;
        for (auto& p : ps) {
            const std::string id = r.get_string();
            values.push_back(r.get_vector<float>());
            moms.push_back(r.get_vector<float>());
            if (id != p.id || values.back().size() != p.var.value().size() ||
                (!moms.back().empty() && moms.back().size() != p.var.value().size()))
                fail<io_error>("load_checkpoint", "'", path.string(), "': '", id, "' does not match the model's '", p.id, "'");
        }
        auto bs = buffers();
        if (r.get<std::uint64_t>() != bs.size()) fail<io_error>("load_checkpoint", "'", path.string(), "' buffer count differs");
        std::vector<std::vector<float>> bufs;
        for (auto& b : bs) {
            const std::string id = r.get_string();
            bufs.push_back(r.get_vector<float>());
            if (id != b.id || bufs.back().size() != b.values->size())
                fail<io_error>("load_checkpoint", "'", path.string(), "': '", id, "' does not match the model's '", b.id, "'");
        }
        for (std::size_t i = 0; i < ps.size(); ++i) {
            std::copy(values[i].begin(), values[i].end(), ps[i].var.value().data());
            if (!moms[i].empty()) opt_.state()[ps[i].id] = moms[i];
        }
        for (std::size_t i = 0; i < bs.size(); ++i) *bs[i].values = bufs[i];
        next_epoch_ = epoch;
    }

    /// Epochs completed (by fit or a loaded checkpoint).
    std::size_t epochs_done() const { return next_epoch_; }

    /// Pooled encoder features f (or the head's g(f) when `head`), L2-normalised, in batches,
    /// evaluation mode, no gradient.
    matrix<float> features(const tensor<float>& images, bool head = false, std::size_t batch = 256) {
        require(images.ndim() == 4 && images.shape(1) == c_.net.in_channels, "representation::features",
                "expects N x ", c_.net.in_channels, " x H x W images, got ", to_string(images.shape()));
        no_grad ng;
        f_->train(false);
        g_->train(false);
        const std::size_t N = images.shape(0), d = head ? c_.head_out : f_->feature_dim();
        matrix<float> out(N, d);
        for (std::size_t lo = 0; lo < N; lo += batch) {
            const std::size_t hi = std::min(N, lo + batch);
            variable<float> h = f_->forward(variable<float>(images.slice(lo, hi).contiguous_copy()));
            if (head) h = g_->forward(h);
            h = fn::l2_normalize(h);
            std::copy_n(h.value().data(), (hi - lo) * d, out.row(lo));
        }
        return out;
    }

    /// RotNet's built-in anomaly scores (higher = more anomalous) for a rotation-trained model:
    /// `all` = false: -p(y = 0 | x); true: -sum_k log p(k | rot_k(x)). Evaluation mode, batched.
    std::vector<double> rotation_scores(const tensor<float>& images, bool all, std::size_t batch = 128) {
        require(cls_ != nullptr, "representation::rotation_scores", "the model was not trained with rotation prediction");
        no_grad ng;
        f_->train(false);
        g_->train(false);
        std::vector<double> out;
        for (std::size_t lo = 0; lo < images.shape(0); lo += batch) {
            const std::size_t hi = std::min(images.shape(0), lo + batch);
            auto [rx, labels] = losses::rotation_batch(images.slice(lo, hi).contiguous_copy());
            const auto logits = cls_->forward(embed(rx));
            const auto s = losses::rotation_scores(logits.value(), all);
            out.insert(out.end(), s.begin(), s.end());
        }
        return out;
    }

    std::vector<nn::named_variable<float>> parameters() {
        std::vector<nn::named_variable<float>> ps;
        for (auto& p : f_->parameters()) ps.push_back({"f." + p.id, p.var, p.no_weight_decay});
        for (auto& p : g_->parameters()) ps.push_back({"g." + p.id, p.var, p.no_weight_decay});
        if (cls_)
            for (auto& p : cls_->parameters()) ps.push_back({"cls." + p.id, p.var, p.no_weight_decay});
        return ps;
    }
    std::vector<nn::named_buffer<float>> buffers() {
        std::vector<nn::named_buffer<float>> bs;
        for (auto& b : f_->buffers()) bs.push_back({"f." + b.id, b.values});
        for (auto& b : g_->buffers()) bs.push_back({"g." + b.id, b.values});
        return bs;
    }
    nn::resnet<float>& encoder() { return *f_; }
    nn::mlp_head<float>& head() { return *g_; }
    const representation_config& config() const { return c_; }
    bool fitted() const { return fitted_; }

private:
    variable<float> embed(const tensor<float>& x) { return g_->forward(f_->forward(variable<float>(x))); }

    variable<float> step_loss(const tensor<float>& x, const augment::simclr& views, std::size_t step) {
        const float tau = float(c_.temperature);
        const std::uint64_t seed = (c_.seed << 32) ^ (std::uint64_t(step) * 2);
        switch (c_.method) {
            case proxy_method::rotation: {
                auto [rx, labels] = losses::rotation_batch(x);
                return losses::rotation_loss(cls_->forward(embed(rx)), labels);
            }
            case proxy_method::simclr:
                return losses::nt_xent(embed(views(x, seed)), embed(views(x, seed + 1)), tau);
            case proxy_method::distaug: {
                const auto u = losses::distaug_batch(x, c_.distaug_shifts);
                return losses::nt_xent(embed(views(u, seed)), embed(views(u, seed + 1)), tau);
            }
        }
        fail("representation", "unknown proxy method");
    }

    representation_config c_;
    rng gen_;
    std::shared_ptr<nn::resnet<float>> f_;
    std::shared_ptr<nn::mlp_head<float>> g_;
    std::shared_ptr<nn::linear<float>> cls_;
    nn::sgd<float> opt_{{.lr = c_.lr, .momentum = c_.momentum, .weight_decay = c_.weight_decay}};
    std::size_t next_epoch_ = 0;
    bool fitted_ = false;
};

}  // namespace oneclass::pipeline
