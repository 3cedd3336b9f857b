// oneclass/pipeline/representation.hpp - the paper's first stage: learn a representation from
// normal images with a self-supervised proxy task, then extract L2-normalised features.
//
//     oneclass::pipeline::representation_config cfg;           // method, network, optimiser
//     cfg.method = oneclass::pipeline::proxy_method::distaug;
//     oneclass::pipeline::representation rep(cfg, channels);
//     rep.fit(normal_images);                                   // N x C x H x W in [0, 1]
//     auto f = rep.features(test_images);                       // pooled encoder f, L2-normalised
//     rep.save("model.ocm", {{"dataset", "fashion-mnist"}});    // config + weights, atomic
//     // ... then any detector: oneclass::kde<float> det; det.fit(f_train); det.score(f)
//
// Methods (pipeline/proxies.hpp): rotation prediction, SimCLR, DistAug, denoising autoencoder.
// SGD with momentum, weight decay and a cosine schedule over all steps; batches come from a
// seeded shuffle per epoch and augmentations from a seed per step, so the same seed gives the
// same model, and a checkpoint (written every N epochs, or when a stop is requested, e.g. on
// Ctrl-C) resumes mid-epoch bit for bit. A non-finite loss stops training before the update and
// leaves the last good checkpoint in place.
#pragma once

#include <oneclass/pipeline/proxies.hpp>
#include <oneclass/nn/optim.hpp>

#include <oneclass/core/binary_io.hpp>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <numeric>
#include <optional>
#include <sstream>
#include <variant>
#include <vector>

namespace oneclass::pipeline {

enum class proxy_method { rotation, simclr, distaug, dae };

inline const char* method_name(proxy_method m) {
    switch (m) {
        case proxy_method::rotation: return "rotation";
        case proxy_method::simclr: return "simclr";
        case proxy_method::distaug: return "distaug";
        case proxy_method::dae: return "dae";
    }
    return "?";
}

inline proxy_method parse_method(const std::string& m) {
    for (auto k : {proxy_method::rotation, proxy_method::simclr, proxy_method::distaug, proxy_method::dae})
        if (m == method_name(k)) return k;
    fail("pipeline", "unknown method '", m, "' (rotation, simclr, distaug, dae)");
}

struct representation_config {
    proxy_method method = proxy_method::distaug;
    nn::resnet_config net{.depth = 18, .width = 1.0};
    std::vector<std::size_t> head_hidden = std::vector<std::size_t>(8, 512);  ///< the paper's [512 x 8, 128]
    std::size_t head_out = 128;
    std::size_t epochs = 1, batch = 32;
    double lr = 0.01, momentum = 0.9, weight_decay = 3e-4, temperature = 0.2;
    std::vector<int> distaug_shifts{0, 2, 4, 6};  ///< rot0 / 90 / 180 / 270 (see augment::distribution_shift)
    augment::simclr_params views{};
    double dae_noise = 0.1;  ///< std of the gaussian noise the autoencoder removes
    std::uint64_t seed = 0;
    std::filesystem::path checkpoint;  ///< if set: written atomically every checkpoint_every epochs and on stop
    std::size_t checkpoint_every = 1;
};

/// A configuration as ordered (name, value) text pairs: what model files and checkpoints store,
/// so that a mismatch can be reported by name. Doubles are written with 17 digits (exact).
using config_fields = std::vector<std::pair<std::string, std::string>>;

namespace detail {
inline std::string exact(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}
template <class V>
std::string join(const V& v) {
    std::ostringstream s;
    for (std::size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
    return s.str();
}
}  // namespace detail

inline config_fields describe(const representation_config& c) {
    using detail::exact;
    const auto& v = c.views;
    return {{"method", method_name(c.method)},
            {"depth", std::to_string(c.net.depth)},
            {"width", exact(c.net.width)},
            {"stem", c.net.stem_kind == nn::stem::cifar ? "cifar" : "imagenet"},
            {"in_channels", std::to_string(c.net.in_channels)},
            {"head_hidden", detail::join(c.head_hidden)},
            {"head_out", std::to_string(c.head_out)},
            {"epochs", std::to_string(c.epochs)},
            {"batch", std::to_string(c.batch)},
            {"lr", exact(c.lr)},
            {"momentum", exact(c.momentum)},
            {"weight_decay", exact(c.weight_decay)},
            {"temperature", exact(c.temperature)},
            {"distaug_shifts", detail::join(c.distaug_shifts)},
            {"dae_noise", exact(c.dae_noise)},
            {"seed", std::to_string(c.seed)},
            {"views", exact(v.min_area) + "," + exact(v.max_area) + "," + exact(v.min_ratio) + "," + exact(v.max_ratio) +
                          "," + exact(v.hflip_p) + "," + exact(v.jitter_p) + "," + exact(v.brightness) + "," +
                          exact(v.contrast) + "," + exact(v.saturation) + "," + exact(v.hue) + "," +
                          exact(v.grayscale_p) + "," + exact(v.blur_p) + "," + exact(v.blur_sigma_min) + "," +
                          exact(v.blur_sigma_max) + "," + (v.droc_compat ? "1" : "0")}};
}

/// Inverse of describe(); throws io_error naming `source` and the field on anything malformed.
inline representation_config config_from_fields(const config_fields& f, const std::string& source) {
    auto get = [&](const char* key) -> const std::string& {
        for (const auto& [k, v] : f)
            if (k == key) return v;
        fail<io_error>("representation", source, " has no '", key, "' field");
    };
    auto list = [&](const char* key) {
        std::vector<double> out;
        std::stringstream ss(get(key));
        std::string item;
        while (std::getline(ss, item, ',')) {
            std::size_t pos = 0;
            double d = 0;
            try {
                d = std::stod(item, &pos);
            } catch (...) {
                pos = 0;
            }
            if (pos != item.size() || item.empty()) fail<io_error>("representation", source, ": field '", key, "' is malformed");
            out.push_back(d);
        }
        return out;
    };
    auto one = [&](const char* key) {
        const auto v = list(key);
        if (v.size() != 1 || !std::isfinite(v[0])) fail<io_error>("representation", source, ": field '", key, "' is malformed");
        return v[0];
    };
    // A size read from a file sizes allocations: it must be a whole number in the range any
    // training run could have written, checked before anything is built.
    auto whole = [&](const char* key, double v, double lo, double hi) {
        if (!(v >= lo && v <= hi && v == std::floor(v)))
            fail<io_error>("representation", source, ": field '", key, "' is ", v, " (expected a whole number in ", lo,
                           "..", hi, ")");
        return std::size_t(v);
    };
    auto size = [&](const char* key, double lo, double hi) { return whole(key, one(key), lo, hi); };
    auto real = [&](const char* key, double lo, double hi) {
        const double v = one(key);
        if (!(v >= lo && v <= hi)) fail<io_error>("representation", source, ": field '", key, "' is ", v, " (expected ", lo, "..", hi, ")");
        return v;
    };
    representation_config c;
    try {
        c.method = parse_method(get("method"));
    } catch (const invalid_input&) {
        fail<io_error>("representation", source, ": unknown method '", get("method"), "'");
    }
    c.net.depth = int(size("depth", 10, 34));
    if (c.net.depth != 10 && c.net.depth != 18 && c.net.depth != 34)
        fail<io_error>("representation", source, ": field 'depth' is ", c.net.depth, " (expected 10, 18 or 34)");
    c.net.width = real("width", 1.0 / 64, 16);
    const std::string& stem = get("stem");
    if (stem != "imagenet" && stem != "cifar") fail<io_error>("representation", source, ": field 'stem' is '", stem, "'");
    c.net.stem_kind = stem == "imagenet" ? nn::stem::imagenet : nn::stem::cifar;
    c.net.in_channels = size("in_channels", 1, 64);
    c.head_hidden.clear();
    const auto hidden = list("head_hidden");
    if (hidden.size() > 16) fail<io_error>("representation", source, ": field 'head_hidden' has ", hidden.size(), " layers");
    for (double d : hidden) c.head_hidden.push_back(whole("head_hidden", d, 1, 1 << 16));
    c.head_out = size("head_out", 1, 1 << 16);
    c.epochs = size("epochs", 1, 1e9);
    c.batch = size("batch", 2, 1 << 20);
    c.lr = real("lr", 0, 1e6);
    c.momentum = real("momentum", 0, 1);
    c.weight_decay = real("weight_decay", 0, 1e6);
    c.temperature = real("temperature", 1e-6, 1e6);
    c.distaug_shifts.clear();
    for (double d : list("distaug_shifts")) c.distaug_shifts.push_back(int(whole("distaug_shifts", d, 0, 7)));
    c.dae_noise = real("dae_noise", 0, 1e6);
    {
        const std::string& sd = get("seed");
        std::size_t pos = 0;
        try {
            c.seed = std::stoull(sd, &pos);
        } catch (...) {
            pos = 0;
        }
        if (pos == 0 || pos != sd.size() || sd[0] == '-') fail<io_error>("representation", source, ": field 'seed' is malformed");
    }
    const auto v = list("views");
    if (v.size() != 15 || !std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }))
        fail<io_error>("representation", source, ": field 'views' is malformed");
    c.views = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14] != 0};
    return c;
}

/// Weights of the projection head `c` describes (linear weights, batch-norm scale and shift, the
/// output bias), in double: see nn::resnet_weight_count.
inline double head_weight_count(const representation_config& c) {
    double d = double(nn::resnet_width(c.net, 512)), n = 0;
    for (std::size_t h : c.head_hidden) {
        n += d * double(h) + 2 * double(h);
        d = double(h);
    }
    return n + d * double(c.head_out) + double(c.head_out);
}

/// One optimisation step's record.
struct step_log {
    std::size_t epoch, step;                   ///< 0-based; step counts over all epochs
    std::size_t steps_per_epoch, total_steps;
    std::size_t images;                        ///< source images in the batch
    double loss, lr;
};

/// Thrown by fit when a stop was requested; the checkpoint (if configured) is already written.
class training_interrupted : public error {
public:
    using error::error;
};

/// Thrown by fit when the loss is NaN or Inf (the update is not applied).
class training_diverged : public error {
public:
    using error::error;
};

class representation {
public:
    using proxy_variant = std::variant<rotation_proxy, simclr_proxy, distaug_proxy, dae_proxy>;

    representation(representation_config c, std::size_t in_channels) : c_(std::move(c)), gen_(c_.seed) {
        c_.net.in_channels = in_channels;
        require(c_.batch >= 2 && c_.epochs >= 1, "representation", "batch must be >= 2 and epochs >= 1");
        f_ = std::make_shared<nn::resnet<float>>(c_.net, gen_);
        g_ = std::make_shared<nn::mlp_head<float>>(f_->feature_dim(), c_.head_hidden, c_.head_out, gen_);
        proxy_.emplace(make_proxy());
    }

    /// Trains on normal images (N x C x H x W, values in [0, 1]), continuing from a loaded
    /// checkpoint if there is one; calls on_step after each step. If `stop` becomes true, the
    /// current step finishes, the checkpoint is written and training_interrupted is thrown.
    void fit(const tensor<float>& images, const std::function<void(const step_log&)>& on_step = {},
             const std::atomic<bool>* stop = nullptr) {
        require(images.ndim() == 4 && images.shape(1) == c_.net.in_channels, "representation::fit", "expects N x ",
                c_.net.in_channels, " x H x W images, got ", to_string(images.shape()));
        const std::size_t N = images.shape(0);
        require(N >= c_.batch, "representation::fit", "needs at least batch = ", c_.batch, " images, got ", N);
        for (std::size_t i = 0; i < images.size(); ++i)
            require(std::isfinite(images.data()[i]), "representation::fit", "image ", i / (images.size() / N),
                    " holds a non-finite value (NaN or Inf)");
        require(next_step_ == 0 || N == trained_on_, "representation::fit", "resumed on ", N,
                " images, the checkpoint was written for ", trained_on_);
        trained_on_ = N;
        const std::size_t per_epoch = N / c_.batch, total = per_epoch * c_.epochs, img = images.size() / N;
        auto params = trained_parameters();
        set_train(true);
        const network_ref net{*f_, *g_};
        std::vector<std::size_t> order(N);
        std::size_t shuffled_for = std::size_t(-1);
        for (std::size_t step = next_step_; step < total; ++step) {
            const std::size_t e = step / per_epoch, s = step % per_epoch;
            if (shuffled_for != e) {
                std::iota(order.begin(), order.end(), std::size_t{0});
                rng shuffle(c_.seed * 1000003 + e);
                for (std::size_t i = N; i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
                shuffled_for = e;
            }
            tensor<float> x({c_.batch, images.shape(1), images.shape(2), images.shape(3)}, uninitialized);
            for (std::size_t b = 0; b < c_.batch; ++b)
                std::copy_n(images.data() + order[s * c_.batch + b] * img, img, x.data() + b * img);
            const double lr = nn::cosine_lr(c_.lr, step, total);
            opt_.set_lr(lr);
            const std::uint64_t seed = (c_.seed << 32) ^ (std::uint64_t(step) * 2);
            auto loss = std::visit([&](auto& p) { return p.loss(net, x, seed); }, *proxy_);
            const double value = double(loss.value().data()[0]);
            if (!std::isfinite(value))
                fail<training_diverged>("representation::fit", "loss is ", std::isnan(value) ? "NaN" : "Inf", " at epoch ", e + 1, " step ", s + 1,
                                        " (lower the learning rate?); ",
                                        c_.checkpoint.empty()      ? std::string("no checkpoint was configured")
                                        : last_checkpoint_.empty() ? "no checkpoint had been written yet"
                                                                   : "the last good checkpoint '" + last_checkpoint_.string() +
                                                                         "' is kept");
            backward(loss);
            opt_.step(params);
            for (auto& p : params) p.var.zero_grad();
            next_step_ = step + 1;
            if (on_step) on_step({e, step, per_epoch, total, c_.batch, value, lr});
            const bool epoch_end = s + 1 == per_epoch;
            const bool due = epoch_end && ((e + 1) % std::max<std::size_t>(1, c_.checkpoint_every) == 0 || e + 1 == c_.epochs);
            const bool stopping = stop && stop->load() && next_step_ < total;
            if (!c_.checkpoint.empty() && (due || stopping)) save_checkpoint(c_.checkpoint);
            if (stopping)
                fail<training_interrupted>("representation::fit", "stopped at epoch ", e + 1, " step ", s + 1, " of ",
                                           per_epoch, c_.checkpoint.empty() ? std::string()
                                                                            : "; checkpoint '" + c_.checkpoint.string() + "'");
        }
        fitted_ = true;
        set_train(false);
    }

    /// Writes configuration, weights, batch-norm statistics, momentum buffers and the step
    /// reached, atomically; load_checkpoint into a model built with the same configuration
    /// continues training exactly as if never interrupted.
    void save_checkpoint(const std::filesystem::path& path) {
        write(path, "checkpoint", true, {});
        last_checkpoint_ = path;
    }

    /// Restores what save_checkpoint wrote; throws io_error naming the file and the first
    /// mismatch (a configuration field, a parameter name or shape).
    void load_checkpoint(const std::filesystem::path& path) {
        const std::string bytes = read_file_bytes(path, "load_checkpoint");
        naming_file(path, "load_checkpoint", [&] { read(unframe(bytes, 2, path.string()), path, "checkpoint", true); });
        last_checkpoint_ = path;
    }

    /// Writes the trained model (configuration, weights, batch-norm statistics) and free-form
    /// metadata (the CLI records dataset, class, image size) atomically.
    void save(const std::filesystem::path& path, const config_fields& metadata = {}) { write(path, "representation", false, metadata); }

    /// Builds the model a file written by save() describes.
    static representation load(const std::filesystem::path& path) {
        return naming_file(path, "representation::load", [&] { return load_unchecked(path); });
    }

private:
    static representation load_unchecked(const std::filesystem::path& path) {
        const std::string bytes = read_file_bytes(path, "representation::load");
        const framed_file f = unframe(bytes, 2, path.string());
        if (f.kind != "representation")
            fail<io_error>("representation::load", "'", path.string(), "' is a ", f.kind, " file, not a trained representation");
        binary_reader r(f.payload, "'" + path.string() + "'");
        const auto cfg = config_from_fields(get_fields(r), "'" + path.string() + "'");
        // The configuration decides how much the model allocates; the file must at least hold the
        // weights it describes (4 bytes each) before any of it is built.
        const double weights = double(nn::resnet_weight_count(cfg.net)) + double(head_weight_count(cfg));
        if (weights * 4 > double(r.remaining()))
            fail<io_error>("representation::load", "'", path.string(), "' describes a network of ", weights,
                           " weights but holds only ", r.remaining(), " bytes");
        representation rep(cfg, cfg.net.in_channels);
        rep.read(f, path, "representation", false);
        rep.fitted_ = true;
        return rep;
    }

public:

    const config_fields& metadata() const { return meta_; }
    std::optional<std::string> metadata(const std::string& key) const {
        for (const auto& [k, v] : meta_)
            if (k == key) return v;
        return std::nullopt;
    }

    std::size_t steps_done() const { return next_step_; }
    /// Whole epochs completed (by fit or a loaded checkpoint).
    std::size_t epochs_done() const {
        const std::size_t per_epoch = trained_on_ / c_.batch;
        return per_epoch ? next_step_ / per_epoch : 0;
    }

    /// Pooled encoder features f (or the head's g(f) when `head`), L2-normalised, in batches,
    /// evaluation mode, no gradient.
    matrix<float> features(const tensor<float>& images, bool head = false, std::size_t batch = 256) {
        check_images(images, "representation::features");
        require(!head || uses_head(), "representation::features", "a ", method_name(c_.method),
                " model has no trained projection head; use the encoder features f");
        no_grad ng;
        set_train(false);
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
        auto* rot = std::get_if<rotation_proxy>(&*proxy_);
        require(rot != nullptr, "representation::rotation_scores", "the model was not trained with rotation prediction");
        check_images(images, "representation::rotation_scores");
        no_grad ng;
        set_train(false);
        std::vector<double> out;
        for (std::size_t lo = 0; lo < images.shape(0); lo += batch) {
            const std::size_t hi = std::min(images.shape(0), lo + batch);
            const auto logits = rot->logits({*f_, *g_}, images.slice(lo, hi).contiguous_copy());
            const auto s = losses::rotation_scores(logits.value(), all);
            out.insert(out.end(), s.begin(), s.end());
        }
        return out;
    }

    /// The denoising autoencoder's own anomaly score (higher = more anomalous): the mean squared
    /// reconstruction error of each clean image. Evaluation mode, batched.
    std::vector<double> reconstruction_scores(const tensor<float>& images, std::size_t batch = 128) {
        auto* dae = std::get_if<dae_proxy>(&*proxy_);
        require(dae != nullptr, "representation::reconstruction_scores", "the model is not a denoising autoencoder");
        check_images(images, "representation::reconstruction_scores");
        no_grad ng;
        set_train(false);
        std::vector<double> out;
        const std::size_t img = images.size() / std::max<std::size_t>(1, images.shape(0));
        for (std::size_t lo = 0; lo < images.shape(0); lo += batch) {
            const std::size_t hi = std::min(images.shape(0), lo + batch);
            const tensor<float> x = images.slice(lo, hi).contiguous_copy();
            const auto rec = dae->reconstruct({*f_, *g_}, x);
            require(rec.value().size() == x.size(), "representation::reconstruction_scores", "image sides must be multiples of ",
                    f_->map_stride(), ", got ", to_string(x.shape()));
            for (std::size_t i = 0; i < hi - lo; ++i) {
                double se = 0;
                for (std::size_t k = 0; k < img; ++k) {
                    const double d = double(rec.value().data()[i * img + k]) - x.data()[i * img + k];
                    se += d * d;
                }
                out.push_back(se / double(img));
            }
        }
        return out;
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
    bool uses_head() const { return std::visit([](const auto& p) { return p.uses_head; }, *proxy_); }

private:
    proxy_variant make_proxy() {
        const float tau = float(c_.temperature);
        switch (c_.method) {
            case proxy_method::rotation: return rotation_proxy(c_.head_out, gen_);
            case proxy_method::simclr: return simclr_proxy(c_.views, tau);
            case proxy_method::distaug: return distaug_proxy(c_.views, tau, c_.distaug_shifts);
            case proxy_method::dae: return dae_proxy(*f_, c_.dae_noise, gen_);
        }
        fail("representation", "unknown proxy method");
    }

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

    void check_images(const tensor<float>& images, const char* where) const {
        require(images.ndim() == 4 && images.shape(1) == c_.net.in_channels, where, "expects N x ", c_.net.in_channels,
                " x H x W images, got ", to_string(images.shape()));
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
        binary_writer w;
        put_fields(w, describe(c_));
        put_fields(w, metadata);
        w.put<std::uint64_t>(next_step_);
        w.put<std::uint64_t>(trained_on_);
        const auto ps = parameters();
        w.put<std::uint64_t>(ps.size());
        for (const auto& p : ps) {
            w.put_string(p.id);
            w.put_array(p.var.value().data(), p.var.value().size());
            const auto it = opt_.state().find(p.id);
            if (!optimizer || it == opt_.state().end()) w.put<std::uint64_t>(0);  // no momentum: an empty array
            else w.put_vector(it->second);
        }
        const auto bs = buffers();
        w.put<std::uint64_t>(bs.size());
        for (const auto& b : bs) {
            w.put_string(b.id);
            w.put_vector(*b.values);
        }
        write_file_atomic(path, frame_payload(2, kind, w.bytes()), kind == std::string("checkpoint") ? "save_checkpoint" : "representation::save");
    }

    /// Reads what write() produced (already unframed) into this model, all or nothing.
    void read(const framed_file& f, const std::filesystem::path& path, const char* kind, bool optimizer) {
        const std::string src = "'" + path.string() + "'";
        const char* where = optimizer ? "load_checkpoint" : "representation::load";
        if (f.kind != kind) fail<io_error>(where, src, " is a ", f.kind, " file, not a ", kind);
        binary_reader r(f.payload, src);
        const auto stored = get_fields(r), mine = describe(c_);
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
            if (optimizer && !moms[i].empty()) opt_.state()[ps[i].id] = moms[i];
        }
        for (std::size_t i = 0; i < bs.size(); ++i) *bs[i].values = bufs[i];
        next_step_ = step;
        trained_on_ = n;
        meta_ = std::move(meta);
    }

    representation_config c_;
    rng gen_;
    std::shared_ptr<nn::resnet<float>> f_;
    std::shared_ptr<nn::mlp_head<float>> g_;
    std::optional<proxy_variant> proxy_;
    nn::sgd<float> opt_{{.lr = c_.lr, .momentum = c_.momentum, .weight_decay = c_.weight_decay}};
    std::size_t next_step_ = 0, trained_on_ = 0;
    config_fields meta_;
    std::filesystem::path last_checkpoint_;  ///< written or loaded by this object: what a divergence leaves
    bool fitted_ = false;
};

}  // namespace oneclass::pipeline
