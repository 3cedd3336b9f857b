// oneclass/pipeline/representation.hpp - the paper's first stage: learn a representation from
// normal images with a self-supervised proxy task, then extract L2-normalised features.
//
//     oneclass::pipeline::representation_config cfg;           // method, network, optimiser
//     cfg.method = "distaug";                                   // any name of builtin_proxies
//     oneclass::pipeline::representation rep(cfg, channels);
//     rep.fit(normal_images);                                   // N x C x H x W in [0, 1], or any ImageSource
//     auto f = rep.features(test_images);                       // pooled encoder f, L2-normalised
//     rep.save("model.ocm", {{"dataset", "fashion-mnist"}});    // config + weights, atomic
//     // ... then any detector: oneclass::kde<float> det; det.fit(f_train); det.score(f)
//
// A representation owns the encoder f, the projection head g and the proxy its configuration
// names, trains them with pipeline::trainer, checkpoints (every N epochs, or when a stop is
// requested, e.g. on Ctrl-C) so that a resumed run is bit for bit the uninterrupted one, and
// saves / loads them (pipeline/config.hpp: the configuration's fields and format versions). A
// non-finite loss stops training before the update and leaves the last good checkpoint in place.
//
// basic_representation<List> works over any proxy_list: a user's proxy joins the built-in ones
// with basic_representation<proxy_list_append<builtin_proxies, my_proxy>>.
#pragma once

#include <oneclass/pipeline/config.hpp>
#include <oneclass/pipeline/proxies.hpp>
#include <oneclass/pipeline/trainer.hpp>

#include <oneclass/core/binary_io.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>
#include <optional>
#include <variant>
#include <vector>

namespace oneclass::pipeline {

template <class List>
class basic_representation {
public:
    using proxies = List;
    using proxy_variant = typename List::variant;

    basic_representation(representation_config c, std::size_t in_channels)
        : c_(std::move(c)), gen_(c_.seed),
          trainer_({.epochs = c_.epochs, .batch = c_.batch, .lr = c_.lr, .seed = c_.seed},
                   {.lr = c_.lr, .momentum = c_.momentum, .weight_decay = c_.weight_decay}) {
        c_.net.in_channels = in_channels;
        List::check(c_.method, "representation");
        f_ = std::make_shared<nn::resnet<float>>(c_.net, gen_);
        g_ = std::make_shared<nn::mlp_head<float>>(f_->feature_dim(), c_.head_hidden, c_.head_out, gen_);
        proxy_.emplace(List::make(c_, *f_, gen_));
    }

    /// Trains on normal images (N x C x H x W, values in [0, 1]), continuing from a loaded
    /// checkpoint if there is one; calls on_step after each step. If `stop` becomes true, the
    /// current step finishes, the checkpoint is written and training_interrupted is thrown.
    void fit(const tensor<float>& images, const std::function<void(const step_log&)>& on_step = {},
             const std::atomic<bool>* stop = nullptr) {
        check_images(images, "representation::fit");
        const std::size_t N = images.shape(0);
        for (std::size_t i = 0; i < images.size(); ++i)
            require(std::isfinite(images.data()[i]), "representation::fit", "image ", i / (images.size() / N),
                    " holds a non-finite value (NaN or Inf)");
        fit(tensor_source(images), on_step, stop);
    }

    /// The same from any ImageSource (decoded on demand: an image folder, sampled patches).
    template <ImageSource D>
    void fit(const D& data, const std::function<void(const step_log&)>& on_step = {}, const std::atomic<bool>* stop = nullptr) {
        const auto shape = data.shape();
        require(shape[0] == c_.net.in_channels, "representation::fit", "expects ", c_.net.in_channels,
                "-channel images, the source has ", shape[0]);
        require(data.size() >= c_.batch, "representation::fit", "needs at least batch = ", c_.batch, " images, got ", data.size());
        const data_parallel& dp = trainer_.parallelism();
        if (trainer_.next_step() > 0) {
            const auto ranks = metadata("replicas"), sync = metadata("sync_batch_norm");
            require(ranks.value_or("1") == std::to_string(dp.size) && sync.value_or("0") == (dp.sync_batch_norm ? "1" : "0"),
                    "representation::fit", "the checkpoint was written by a run of ", ranks.value_or("1"), " rank(s)",
                    sync.value_or("0") == "1" ? " with synchronised batch norm" : "", ", this run has ", dp.size,
                    dp.sync_batch_norm ? " with synchronised batch norm" : "", ": resume it as it was started, to continue bit for bit");
        }
        std::size_t saved_at = std::size_t(-1);
        auto checkpoint = [&] {
            if (c_.checkpoint.empty() || saved_at == trainer_.next_step()) return;
            // rank 0 writes; every rank learns whether it could, so that none waits for a failed one
            std::string failed;
            if (dp.rank == 0) try {
                    save_checkpoint(c_.checkpoint);
                } catch (const std::exception& e) {
                    failed = e.what();
                }
            if (dp.enabled()) {
                std::vector<float> flag{failed.empty() ? 0.0f : 1.0f};
                dp.sum(flag);
                if (flag[0] > 0 && failed.empty()) failed = "rank 0 could not write the checkpoint '" + c_.checkpoint.string() + "'";
            }
            if (!failed.empty()) fail<io_error>("representation::fit", failed);
            last_checkpoint_ = c_.checkpoint;
            saved_at = trainer_.next_step();
        };
        train_hooks h;
        h.after_step = on_step;
        h.at_epoch_end = [&](std::size_t e) {
            if ((e + 1) % std::max<std::size_t>(1, c_.checkpoint_every) == 0 || e + 1 == c_.epochs) checkpoint();
        };
        h.on_stop = checkpoint;
        h.stop = stop;
        try {
            std::visit([&](auto& p) { trainer_.fit(net(), p, data, trained_parameters(), h); }, *proxy_);
        } catch (const training_diverged& e) {
            throw training_diverged(std::string(e.what()) + "; " +
                                    (c_.checkpoint.empty()      ? std::string("no checkpoint was configured")
                                     : last_checkpoint_.empty() ? "no checkpoint had been written yet"
                                                                : "the last good checkpoint '" + last_checkpoint_.string() + "' is kept"));
        } catch (const training_interrupted& e) {
            throw training_interrupted(std::string(e.what()) +
                                       (c_.checkpoint.empty() ? std::string() : "; checkpoint '" + c_.checkpoint.string() + "'"));
        }
        fitted_ = true;
        set_train(false);
    }

    /// Writes configuration, weights, batch-norm statistics, momentum buffers and the step
    /// reached, atomically; load_checkpoint into a model built with the same configuration
    /// continues training exactly as if never interrupted.
    void save_checkpoint(const std::filesystem::path& path) {
        const data_parallel& dp = trainer_.parallelism();
        write(path, "checkpoint", true,
              {{"replicas", std::to_string(dp.size)}, {"sync_batch_norm", dp.sync_batch_norm ? "1" : "0"}});
        last_checkpoint_ = path;
    }

    /// Makes fit train as one rank of a data-parallel run (pipeline::data_parallel;
    /// mpi::data_parallel over MPI). Every rank builds the model alike and passes the same
    /// images; rank 0 writes the checkpoints, which record the rank count and the batch-norm
    /// mode, and a resumed run must have the same. With more than one rank, features,
    /// view_features and proxy_scores become collectives: every rank passes the same images,
    /// extracts its block of rows (shard_rows) and receives every rank's.
    void set_data_parallel(data_parallel dp) { trainer_.set_data_parallel(std::move(dp)); }

    /// Restores what save_checkpoint wrote; throws io_error naming the file and the first
    /// mismatch (a configuration field, a parameter name or shape).
    void load_checkpoint(const std::filesystem::path& path) {
        const std::string bytes = read_file_bytes(path, "load_checkpoint");
        naming_file(path, "load_checkpoint", [&] {
            read(unframe(bytes, representation_format_version, path.string()), path, "checkpoint", true);
        });
        last_checkpoint_ = path;
    }

    /// Writes the trained model (configuration, weights, batch-norm statistics) and free-form
    /// metadata (the CLI records dataset, class, image size) atomically.
    void save(const std::filesystem::path& path, const config_fields& metadata = {}) { write(path, "representation", false, metadata); }

    /// Builds the model a file written by save() describes.
    static basic_representation load(const std::filesystem::path& path) {
        return naming_file(path, "representation::load", [&] { return load_unchecked(path); });
    }

    /// What save() writes, as bytes (to embed the model in another file).
    std::string bytes(const config_fields& metadata = {}) { return serialize("representation", false, metadata); }

    /// The model of bytes() or of a file's contents; `source` names it in errors.
    static basic_representation from_bytes(std::string_view bytes, const std::string& source) {
        const framed_file f = unframe(bytes, representation_format_version, source);
        if (f.kind != "representation")
            fail<io_error>("representation::load", "'", source, "' is a ", f.kind, " file, not a trained representation");
        binary_reader r(f.payload, "'" + source + "'");
        const auto cfg = config_from_fields(get_fields(r), "'" + source + "'");
        if (!List::contains(cfg.method))
            fail<io_error>("representation::load", "'", source, "': unknown method '", cfg.method, "' (", List::choices(), ")");
        // The configuration decides how much the model allocates; the file must at least hold the
        // weights it describes (4 bytes each) before any of it is built.
        const double weights = double(nn::resnet_weight_count(cfg.net)) + double(head_weight_count(cfg));
        if (weights * 4 > double(r.remaining()))
            fail<io_error>("representation::load", "'", source, "' describes a network of ", weights,
                           " weights but holds only ", r.remaining(), " bytes");
        basic_representation rep(cfg, cfg.net.in_channels);
        rep.read(f, source, "representation", false);
        rep.fitted_ = true;
        return rep;
    }

private:
    static basic_representation load_unchecked(const std::filesystem::path& path) {
        return from_bytes(read_file_bytes(path, "representation::load"), path.string());
    }

public:

    const config_fields& metadata() const { return meta_; }
    std::optional<std::string> metadata(const std::string& key) const {
        for (const auto& [k, v] : meta_)
            if (k == key) return v;
        return std::nullopt;
    }

    std::size_t steps_done() const { return trainer_.next_step(); }
    /// Whole epochs completed (by fit or a loaded checkpoint).
    std::size_t epochs_done() const {
        const std::size_t per_epoch = trainer_.trained_on() / c_.batch;
        return per_epoch ? trainer_.next_step() / per_epoch : 0;
    }

    /// Pooled encoder features f (or the head's g(f) when `head`), L2-normalised, in batches,
    /// evaluation mode, no gradient.
    matrix<float> features(const tensor<float>& images, bool head = false, std::size_t batch = 256) {
        check_images(images, "representation::features");
        return features(tensor_source(images), head, batch);
    }
    template <ImageSource D>
    matrix<float> features(const D& data, bool head = false, std::size_t batch = 256) {
        check_source(data, "representation::features");
        if (split()) return split_rows(data, [&](const auto& block) { return features_here(block, head, batch); });
        return features_here(data, head, batch);
    }

private:
    template <ImageSource D>
    matrix<float> features_here(const D& data, bool head, std::size_t batch) {
        require(!head || uses_head(), "representation::features", "a ", c_.method,
                " model has no trained projection head; use the encoder features f");
        no_grad ng;
        const std::size_t N = data.size(), d = head ? c_.head_out : f_->feature_dim();
        matrix<float> out(N, d);
        for (std::size_t lo = 0; lo < N; lo += batch) {
            const std::size_t hi = std::min(N, lo + batch);
            const variable<float> h = embed(variable<float>(gather_range(data, lo, hi)), head);
            std::copy_n(h.value().data(), (hi - lo) * d, out.row(lo));
        }
        return out;
    }

public:
    /// Features of several views of each image side by side: for each code s of `views`
    /// (augment::distribution_shift: rotation (s / 2) x 90 degrees, then a flip if s is odd) the
    /// L2-normalised features of the shifted image, scaled by 1 / sqrt(k) so that a row of the
    /// N x (k d) result is again unit length. A rotation-trained encoder maps the four rotations of
    /// an image to four different points; a detector on the joint vector sees all of them (with
    /// an RBF kernel, the product of the per-view kernels). views = {0} is `features`.
    template <ImageSource D>
    matrix<float> view_features(const D& data, const std::vector<int>& views, bool head = false, std::size_t batch = 256) {
        check_source(data, "representation::view_features");
        if (split()) return split_rows(data, [&](const auto& block) { return view_features_here(block, views, {}, head, batch); });
        return view_features_here(data, views, {}, head, batch);
    }
    /// As view_features of the encoder, with its pooled stages `stages` (ascending, 1..4) side by
    /// side within each view: every (view, stage) block is L2-normalised on its own and all are
    /// scaled by 1 / sqrt(blocks), so that a row is unit length and each block weighs the same in
    /// a distance. Stages {4} are f.
    template <ImageSource D>
    matrix<float> stage_features(const D& data, const std::vector<int>& views, const std::vector<int>& stages,
                                 std::size_t batch = 256) {
        check_source(data, "representation::stage_features");
        require(!stages.empty(), "representation::stage_features", "no stages");
        if (split()) return split_rows(data, [&](const auto& block) { return view_features_here(block, views, stages, false, batch); });
        return view_features_here(data, views, stages, false, batch);
    }

private:
    template <ImageSource D>
    matrix<float> view_features_here(const D& data, const std::vector<int>& views, const std::vector<int>& stages, bool head,
                                     std::size_t batch) {
        require(!views.empty(), "representation::view_features", "no views");
        for (std::size_t i = 0; i < views.size(); ++i) {
            require(views[i] >= 0 && views[i] < 8, "representation::view_features", "view codes are 0..7, got ", views[i]);
            require(std::find(views.begin(), views.begin() + std::ptrdiff_t(i), views[i]) == views.begin() + std::ptrdiff_t(i),
                    "representation::view_features", "view ", views[i], " is listed twice");
        }
        const auto shape = data.shape();
        require(views == std::vector<int>{0} || shape[1] == shape[2], "representation::view_features",
                "rotated views need square images, got ", shape[1], " x ", shape[2]);
        require(!head || uses_head(), "representation::view_features", "a ", c_.method,
                " model has no trained projection head; use the encoder features f");
        std::vector<std::size_t> dims;  // widths of a view's blocks
        if (stages.empty())
            dims.push_back(head ? c_.head_out : f_->feature_dim());
        else
            for (int st : stages) dims.push_back(f_->stage_dim(st));
        const std::size_t per_view = std::accumulate(dims.begin(), dims.end(), std::size_t(0));
        no_grad ng;
        const std::size_t N = data.size(), k = views.size() * dims.size();
        const float scale = 1.0f / std::sqrt(float(k));
        matrix<float> out(N, views.size() * per_view);
        for (std::size_t lo = 0; lo < N; lo += batch) {
            const std::size_t hi = std::min(N, lo + batch);
            const tensor<float> x = gather_range(data, lo, hi);
            for (std::size_t v = 0; v < views.size(); ++v) {
                const variable<float> xv(views[v] == 0 ? x : augment::distribution_shift(x, views[v]));
                std::vector<variable<float>> blocks;
                if (stages.empty()) {
                    blocks.push_back(embed(xv, head));
                } else {
                    set_train(false);
                    for (const auto& b : f_->forward_pooled_stages(xv, stages)) blocks.push_back(fn::l2_normalize(b));
                }
                std::size_t col = v * per_view;
                for (std::size_t b = 0; b < blocks.size(); col += dims[b], ++b)
                    for (std::size_t i = 0; i < hi - lo; ++i) {
                        const float* src = blocks[b].value().data() + i * dims[b];
                        float* dst = out.row(lo + i) + col;
                        for (std::size_t j = 0; j < dims[b]; ++j) dst[j] = k == 1 ? src[j] : src[j] * scale;
                    }
            }
        }
        return out;
    }
public:
    matrix<float> view_features(const tensor<float>& images, const std::vector<int>& views, bool head = false,
                                std::size_t batch = 256) {
        check_images(images, "representation::view_features");
        return view_features(tensor_source(images), views, head, batch);
    }
    matrix<float> stage_features(const tensor<float>& images, const std::vector<int>& views, const std::vector<int>& stages,
                                 std::size_t batch = 256) {
        check_images(images, "representation::stage_features");
        return stage_features(tensor_source(images), views, stages, batch);
    }

    /// The features of `x` on the tape (evaluation mode): f(x), or g(f(x)) when `head`, L2-
    /// normalised unless `normalize` is false. Gradients flow back to x when x requires them: the
    /// path from an input to a detector's score that explanations differentiate.
    variable<float> embed(const variable<float>& x, bool head = false, bool normalize = true) {
        require(x.value().ndim() == 4 && x.shape()[1] == c_.net.in_channels, "representation::embed", "expects N x ",
                c_.net.in_channels, " x H x W images, got ", to_string(x.shape()));
        require(!head || uses_head(), "representation::embed", "a ", c_.method, " model has no trained projection head");
        set_train(false);
        variable<float> h = f_->forward(x);
        if (head) h = g_->forward(h);
        return normalize ? fn::l2_normalize(h) : h;
    }

    /// Names of the proxy's own anomaly scores (RotNet's, the reconstruction error; empty for
    /// proxies without one).
    std::vector<std::string> proxy_score_names() const { return List::score_names(c_.method); }

    /// The proxy's own anomaly score `name` (higher = more anomalous), evaluation mode, batched.
    template <ImageSource D>
    std::vector<double> proxy_scores(const D& data, const std::string& name, std::size_t batch = 128) {
        check_score_name(name, "representation::proxy_scores");
        check_source(data, "representation::proxy_scores");
        if (split()) {
            // doubles travel as the float pairs of their bits: the gather copies bytes
            const matrix<float> bits = split_rows(data, [&](const auto& block) {
                const auto s = proxy_scores_here(block, name, batch);
                matrix<float> m(s.size(), 2);
                if (!s.empty()) std::memcpy(m.row(0), s.data(), s.size() * sizeof(double));
                return m;
            });
            std::vector<double> out(bits.rows());
            if (!out.empty()) std::memcpy(out.data(), bits.row(0), out.size() * sizeof(double));
            return out;
        }
        return proxy_scores_here(data, name, batch);
    }

private:
    template <ImageSource D>
    std::vector<double> proxy_scores_here(const D& data, const std::string& name, std::size_t batch) {
        no_grad ng;
        set_train(false);
        std::vector<double> out;
        for (std::size_t lo = 0; lo < data.size(); lo += batch) {
            const std::size_t hi = std::min(data.size(), lo + batch);
            const tensor<float> x = gather_range(data, lo, hi);
            const auto s = std::visit(
                [&](auto& p) -> std::vector<double> {
                    if constexpr (ScoringProxy<std::decay_t<decltype(p)>>) return p.scores(net(), x, name);
                    else return {};
                },
                *proxy_);
            out.insert(out.end(), s.begin(), s.end());
        }
        return out;
    }
public:
    std::vector<double> proxy_scores(const tensor<float>& images, const std::string& name, std::size_t batch = 128) {
        check_images(images, "representation::proxy_scores");
        return proxy_scores(tensor_source(images), name, batch);
    }

    /// The proxy's own anomaly score `name` on the tape (evaluation mode): N scores,
    /// differentiable in x, for explanations. Throws for a proxy or score without a gradient.
    variable<float> proxy_score_variable(const variable<float>& x, const std::string& name) {
        check_score_name(name, "representation::proxy_score_variable");
        require(x.value().ndim() == 4 && x.shape()[1] == c_.net.in_channels, "representation::proxy_score_variable",
                "expects N x ", c_.net.in_channels, " x H x W images, got ", to_string(x.shape()));
        set_train(false);
        return std::visit(
            [&](auto& p) -> variable<float> {
                if constexpr (DifferentiableScoringProxy<std::decay_t<decltype(p)>>) return p.score_variable(net(), x, name);
                else fail("representation::proxy_score_variable", "the ", c_.method, " proxy's scores have no gradient");
            },
            *proxy_);
    }

    /// Every parameter (encoder "f.", head "g.", proxy's own "cls." / "dec.") with a stable id.
    std::vector<nn::named_variable<float>> parameters() {
        auto ps = detail::prefixed_parameters(*f_, "f.");
        for (auto& p : detail::prefixed_parameters(*g_, "g.")) ps.push_back(p);
        for (auto& p : std::visit([](auto& x) { return x.parameters(); }, *proxy_)) ps.push_back(p);
        return ps;
    }
    std::vector<nn::named_buffer<float>> buffers() {
        auto bs = detail::prefixed_buffers(*f_, "f.");
        for (auto& b : detail::prefixed_buffers(*g_, "g.")) bs.push_back(b);
        for (auto& b : std::visit([](auto& x) { return x.buffers(); }, *proxy_)) bs.push_back(b);
        return bs;
    }
    nn::resnet<float>& encoder() { return *f_; }
    nn::mlp_head<float>& head() { return *g_; }
    const representation_config& config() const { return c_; }
    bool fitted() const { return fitted_; }
    bool uses_head() const { return List::uses_head(c_.method); }

    /// The proxy, e.g. std::get<rotation_proxy>(rep.proxy()).
    proxy_variant& proxy() { return *proxy_; }
    /// The trainer (its schedule, optimiser and position): for a caller's own loop over f and g.
    trainer& training() { return trainer_; }

private:
    network_ref net() { return {*f_, *g_}; }

    std::vector<nn::named_variable<float>> trained_parameters() {
        std::vector<nn::named_variable<float>> ps;
        const bool head = uses_head();
        for (auto& p : parameters())
            if (head || p.id.rfind("g.", 0) != 0) ps.push_back(p);
        return ps;
    }

    void set_train(bool on) {
        f_->train(on);
        g_->train(on);
        std::visit([&](auto& p) { p.train(on); }, *proxy_);
    }

    /// Whether extraction is split across the ranks of a data-parallel run.
    bool split() const {
        const data_parallel& dp = trainer_.parallelism();
        return dp.enabled() && dp.size > 1;
    }
    /// Rank r computes rows shard_rows(N, r, P) of `data` (compute(block) -> a matrix of its
    /// rows); the blocks are gathered in rank order, so every rank gets every row.
    template <ImageSource D, class F>
    matrix<float> split_rows(const D& data, F&& compute) {
        const data_parallel& dp = trainer_.parallelism();
        const auto [lo, hi] = shard_rows(data.size(), int(dp.rank), int(dp.size));
        const matrix<float> mine = compute(row_block_source<D>(data, lo, hi - lo));
        // a rank with no rows does not know the width: every rank sends it alongside
        std::vector<float> sent(mine.values().begin(), mine.values().end());
        sent.push_back(float(mine.cols()));
        const auto parts = dp.all_gather(sent);
        std::size_t cols = 0, rows = 0;
        for (const auto& p : parts) cols = std::max(cols, std::size_t(p.back()));
        for (const auto& p : parts) rows += cols ? (p.size() - 1) / cols : 0;
        matrix<float> out(rows, cols);
        std::size_t at = 0;
        for (const auto& p : parts) {
            std::copy(p.begin(), p.end() - 1, out.values().begin() + std::ptrdiff_t(at));
            at += p.size() - 1;
        }
        return out;
    }

    void check_score_name(const std::string& name, const char* where) const {
        const auto names = proxy_score_names();
        require(std::find(names.begin(), names.end(), name) != names.end(), where, "a ", c_.method, " model has no score '", name,
                "'", names.empty() ? std::string(" (its proxy has none)") : " (it has " + detail::join(names) + ")");
    }

    void check_images(const tensor<float>& images, const char* where) const {
        require(images.ndim() == 4 && images.shape(1) == c_.net.in_channels, where, "expects N x ", c_.net.in_channels,
                " x H x W images, got ", to_string(images.shape()));
    }
    template <ImageSource D>
    void check_source(const D& data, const char* where) const {
        require(data.shape()[0] == c_.net.in_channels, where, "expects ", c_.net.in_channels, "-channel images, the source has ",
                data.shape()[0]);
    }

    static config_fields get_fields(binary_reader& r) {
        const auto n = r.get<std::uint64_t>();
        if (n > r.remaining() / 16)  // each field holds at least its two 8-byte lengths
            fail<io_error>("representation", r.what(), " claims ", n, " configuration fields in ", r.remaining(), " bytes");
        config_fields f(n);
        for (auto& [k, v] : f) {
            k = r.get_string();
            v = r.get_string();
        }
        return f;
    }
    static void put_fields(binary_writer& w, const config_fields& f) {
        w.put<std::uint64_t>(f.size());
        for (const auto& [k, v] : f) {
            w.put_string(k);
            w.put_string(v);
        }
    }

    void write(const std::filesystem::path& path, const char* kind, bool optimizer, const config_fields& metadata) {
        write_file_atomic(path, serialize(kind, optimizer, metadata),
                          kind == std::string("checkpoint") ? "save_checkpoint" : "representation::save");
    }

    std::string serialize(const char* kind, bool optimizer, const config_fields& metadata) {
        binary_writer w;
        put_fields(w, describe(c_));
        put_fields(w, metadata);
        w.put<std::uint64_t>(trainer_.next_step());
        w.put<std::uint64_t>(trainer_.trained_on());
        const auto ps = parameters();
        w.put<std::uint64_t>(ps.size());
        for (const auto& p : ps) {
            w.put_string(p.id);
            w.put_array(p.var.value().data(), p.var.value().size());
            const auto it = trainer_.optimizer().state().find(p.id);
            if (!optimizer || it == trainer_.optimizer().state().end()) w.put<std::uint64_t>(0);  // no momentum: an empty array
            else w.put_vector(it->second);
        }
        const auto bs = buffers();
        w.put<std::uint64_t>(bs.size());
        for (const auto& b : bs) {
            w.put_string(b.id);
            w.put_vector(*b.values);
        }
        return frame_payload(representation_format_version, kind, w.bytes());
    }

    /// Reads what write() produced (already unframed) into this model, all or nothing.
    void read(const framed_file& f, const std::filesystem::path& path, const char* kind, bool optimizer) {
        const std::string src = "'" + path.string() + "'";
        const char* where = optimizer ? "load_checkpoint" : "representation::load";
        if (f.kind != kind) fail<io_error>(where, src, " is a ", f.kind, " file, not a ", kind);
        binary_reader r(f.payload, src);
        // compared through the table, so that an optional field a file lacks compares as its default
        const auto stored = describe(config_from_fields(get_fields(r), src)), mine = describe(c_);
        for (const auto& kv_mine : mine) {
            const std::string& k = kv_mine.first;  // not a structured binding: the lambda captures it (clang < 16)
            const std::string& v = kv_mine.second;
            const auto it = std::find_if(stored.begin(), stored.end(), [&](const auto& kv) { return kv.first == k; });
            if (it == stored.end()) fail<io_error>(where, src, " has no '", k, "' field");
            if (it->second != v) fail<io_error>(where, src, " was written for ", k, " ", it->second, ", this run has ", k, " ", v);
        }
        config_fields meta = get_fields(r);
        const auto step = r.get<std::uint64_t>(), n = r.get<std::uint64_t>();
        auto ps = parameters();
        if (r.get<std::uint64_t>() != ps.size()) fail<io_error>(where, src, " holds another network (parameter count differs)");
        std::vector<std::vector<float>> values, moms;
        for (auto& p : ps) {
            const std::string id = r.get_string();
            values.push_back(r.get_vector<float>());
            moms.push_back(r.get_vector<float>());
            if (id != p.id || values.back().size() != p.var.value().size() ||
                (!moms.back().empty() && moms.back().size() != p.var.value().size()))
                fail<io_error>(where, src, ": '", id, "' does not match the model's '", p.id, "'");
        }
        auto bs = buffers();
        if (r.get<std::uint64_t>() != bs.size()) fail<io_error>(where, src, " buffer count differs");
        std::vector<std::vector<float>> bufs;
        for (auto& b : bs) {
            const std::string id = r.get_string();
            bufs.push_back(r.get_vector<float>());
            if (id != b.id || bufs.back().size() != b.values->size())
                fail<io_error>(where, src, ": '", id, "' does not match the model's '", b.id, "'");
        }
        if (r.remaining() != 0) fail<io_error>(where, src, " has trailing bytes");
        for (std::size_t i = 0; i < ps.size(); ++i) {
            std::copy(values[i].begin(), values[i].end(), ps[i].var.value().data());
            if (optimizer && !moms[i].empty()) trainer_.optimizer().state()[ps[i].id] = moms[i];
        }
        for (std::size_t i = 0; i < bs.size(); ++i) *bs[i].values = bufs[i];
        trainer_.resume_at(step, n);
        meta_ = std::move(meta);
    }

    representation_config c_;
    rng gen_;
    std::shared_ptr<nn::resnet<float>> f_;
    std::shared_ptr<nn::mlp_head<float>> g_;
    std::optional<proxy_variant> proxy_;  ///< optional: built after f, which the decoder is sized from
    trainer trainer_;
    config_fields meta_;
    std::filesystem::path last_checkpoint_;  ///< written or loaded by this object: what a divergence leaves
    bool fitted_ = false;
};

/// The representation over the built-in proxies.
using representation = basic_representation<builtin_proxies>;

}  // namespace oneclass::pipeline
