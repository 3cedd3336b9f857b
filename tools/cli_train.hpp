// tools/cli_train.hpp - training a representation from the command line: flags to a
// configuration, dataset images, the progress display / JSON-lines metrics, Ctrl-C handling.
//
// Progress goes to stderr: a one-line bar redrawn in place on a terminal (epoch, step, loss, lr,
// images/s, ETA), plain log lines otherwise (each tenth of an epoch and at each epoch's end).
// --metrics writes one JSON object per step and per epoch; it is written to FILE.tmp and renamed
// when training ends (also when it is interrupted), so a reader never sees a half-written line.
// Ctrl-C finishes the current step, writes the checkpoint and exits with status 130; `--resume`
// continues bit for bit. A second Ctrl-C exits at once.
#pragma once

#include "cli_common.hpp"

#include <oneclass/eval.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <unistd.h>

namespace oneclass::cli {

// ---- Ctrl-C --------------------------------------------------------------------------------------
inline std::atomic<bool>& stop_requested() {
    static std::atomic<bool> flag{false};
    return flag;
}

extern "C" inline void oneclass_on_sigint(int) {
    if (stop_requested().exchange(true)) std::_Exit(130);  // second Ctrl-C: leave now
    static const char msg[] = "\noneclass: stopping after this step (Ctrl-C again to quit at once)\n";
    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
}

inline void install_sigint_handler() {
    stop_requested() = false;
    std::signal(SIGINT, oneclass_on_sigint);
    std::signal(SIGTERM, oneclass_on_sigint);
}

// ---- configuration from flags ----------------------------------------------------------------------
struct train_options {
    std::string method = "distaug", preset = "quick", arch, progress = "auto", metrics, distaug;
    // unset: the preset's (or the dataset's channels, all of the class's images); a value given
    // is checked, never taken for "unset"
    std::optional<std::size_t> epochs, batch, channels, train_limit;
    std::optional<double> width, lr;
    std::uint64_t seed = 0;
    bool augment = false;  ///< rotation: augmented images (rotation_augment)
};

/// The presets: `quick` trains one Fashion-MNIST class in minutes on 2 cores, `standard` (a deeper
/// network, more epochs) aims at the paper's accuracy in 20-30 minutes per class, `paper` is the
/// paper's recipe for bigger machines.
inline pipeline::representation_config preset_config(const std::string& name) {
    pipeline::representation_config c;
    if (name == "quick") {
        c.net = {.depth = 10, .width = 0.25};
        c.head_hidden = {64, 64};
        c.head_out = 32;
        c.epochs = 3;
        c.batch = 32;
        c.lr = 0.05;
    } else if (name == "standard") {
        // sized by measurement: ResNet-18 at width 1/4 trains ~216 images/s on one thread here
        // (ResNet-10 at 1/4: ~440, ResNet-18 at 1/2: ~91), so 8 DistAug epochs of 6000 images
        // (each step 32 x 4 shifts x 2 views) take about 20-30 minutes on two cores
        c.net = {.depth = 18, .width = 0.25};
        c.head_hidden = {128, 128};
        c.head_out = 64;
        c.epochs = 8;
        c.batch = 32;
        c.lr = 0.05;
    } else if (name == "paper") {
        c.net = {.depth = 18, .width = 1.0};
        c.head_hidden = std::vector<std::size_t>(8, 512);
        c.head_out = 128;
        c.epochs = 2048;
        c.batch = 32;
        c.lr = 0.01;
        c.weight_decay = 3e-4;
        c.temperature = 0.2;
    } else {
        fail("cli", "--preset must be quick, standard or paper, got '", name, "'");
    }
    return c;
}

/// The distributions DistAug contrasts: rot (the four rotations), hflip (the image and its
/// mirror), rot+hflip (all eight), or a list of the official code's shift codes 0..7 (rotation
/// (s / 2) x 90 degrees, then a horizontal flip if s is odd), e.g. 0,2,4,6.
inline std::vector<int> distaug_shifts_of(const std::string& s) {
    if (s == "rot") return {0, 2, 4, 6};
    if (s == "hflip") return {0, 1};
    if (s == "rot+hflip") return {0, 1, 2, 3, 4, 5, 6, 7};
    std::vector<int> out;
    for (const auto& item : split_list(s, "--distaug")) {
        const bool digit = item.size() == 1 && item[0] >= '0' && item[0] <= '7';
        require(digit, "cli", "--distaug must be rot, hflip, rot+hflip or shift codes 0..7 such as 0,2,4,6, got '", s, "'");
        const int v = item[0] - '0';
        require(std::find(out.begin(), out.end(), v) == out.end(), "cli", "--distaug lists shift ", v, " twice");
        out.push_back(v);
    }
    require(out.size() >= 2, "cli", "--distaug needs at least two distributions, got '", s, "'");
    return out;
}

inline pipeline::representation_config build_config(const train_options& o) {
    auto cfg = preset_config(o.preset);
    pipeline::builtin_proxies::check(o.method, "cli");
    cfg.method = o.method;
    if (o.epochs) {
        require(*o.epochs >= 1 && *o.epochs <= 1000000, "cli", "--epochs must be in 1..1000000, got ", *o.epochs);
        cfg.epochs = *o.epochs;
    }
    if (o.batch) {
        require(*o.batch >= 2 && *o.batch <= 65536, "cli", "--batch must be in 2..65536, got ", *o.batch);
        cfg.batch = *o.batch;
    }
    if (o.lr) {
        require(std::isfinite(*o.lr) && *o.lr > 0 && *o.lr <= 100, "cli", "--lr must be in (0, 100], got ", *o.lr);
        cfg.lr = *o.lr;
    }
    if (!o.arch.empty()) {
        if (o.arch == "resnet10") cfg.net.depth = 10;
        else if (o.arch == "resnet18") cfg.net.depth = 18;
        else if (o.arch == "resnet34") cfg.net.depth = 34;
        else fail("cli", "--arch must be resnet10, resnet18 or resnet34, got '", o.arch, "'");
    }
    if (o.width) {
        require(*o.width > 0 && *o.width <= 4, "cli", "--width must be in (0, 4], got ", *o.width);
        cfg.net.width = *o.width;
    }
    if (o.channels) require(*o.channels == 1 || *o.channels == 3, "cli", "--channels must be 1 or 3, got ", *o.channels);
    if (o.train_limit) require(*o.train_limit >= 1, "cli", "--train-limit must be >= 1, got ", *o.train_limit);
    require(o.progress == "auto" || o.progress == "bar" || o.progress == "log" || o.progress == "none", "cli",
            "--progress must be auto, bar, log or none, got '", o.progress, "'");
    if (o.augment) {
        // the official code's rotation augmentation: crops of half the area or more (its cnr0.5)
        require(o.method == "rotation", "cli", "--augment applies to --method rotation");
        cfg.rotation_augment = true;
        cfg.views.min_area = 0.5;
    }
    if (!o.distaug.empty()) {
        require(o.method == "distaug", "cli", "--distaug applies to --method distaug");
        cfg.distaug_shifts = distaug_shifts_of(o.distaug);
    }
    cfg.seed = o.seed;
    return cfg;
}

/// Images of a dataset as N x C x S x S floats in [0, 1]; Fashion-MNIST is zero-padded from 28 to
/// 32 as the official code does and replicated to `channels` (1 or 3) channels.
inline tensor<float> dataset_images(const image_dataset& ds, const std::vector<std::size_t>& rows, std::size_t channels) {
    const bool pad = ds.height == 28 && ds.width == 28;
    const std::size_t S = pad ? 32 : ds.height, off = pad ? 2 : 0;
    require(channels == ds.channels || (ds.channels == 1 && channels == 3), "cli", "--channels ", channels,
            " does not fit a ", ds.channels, "-channel dataset");
    tensor<float> t({rows.size(), channels, S, pad ? S : ds.width});
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::uint8_t* px = ds.pixels.row(rows[i]);
        for (std::size_t c = 0; c < channels; ++c) {
            const std::size_t sc = ds.channels == 1 ? 0 : c;
            for (std::size_t h = 0; h < ds.height; ++h)
                for (std::size_t w = 0; w < ds.width; ++w)
                    t(i, c, h + off, w + off) = float(px[(sc * ds.height + h) * ds.width + w]) / 255.0f;
        }
    }
    return t;
}

inline std::vector<std::size_t> all_rows(std::size_t n) {
    std::vector<std::size_t> r(n);
    for (std::size_t i = 0; i < n; ++i) r[i] = i;
    return r;
}

// ---- progress and metrics --------------------------------------------------------------------------
inline std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const long t = long(s + 0.5);
    char b[32];
    if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
    else std::snprintf(b, sizeof b, "%lds", t);
    return b;
}

/// Receives every step_log; draws the bar or writes log lines, and the JSON-lines metrics.
class progress_reporter {
public:
    using clock = std::chrono::steady_clock;

    /// `label` prefixes each line (e.g. "class 3 seed 0"); `extra` is added to every metrics object.
    progress_reporter(std::string mode, const std::string& metrics_path, std::string label,
                      nlohmann::ordered_json extra = nlohmann::ordered_json::object())
        : label_(std::move(label)), metrics_path_(metrics_path), extra_(std::move(extra)) {
        bar_ = mode == "bar" || (mode == "auto" && ::isatty(2));
        quiet_ = mode == "none";
        if (!metrics_path_.empty()) {
            metrics_.open(metrics_path_ + ".tmp", std::ios::app);
            require(bool(metrics_), "cli", "cannot write --metrics file '", metrics_path_, ".tmp'");
        }
        t0_ = last_ = clock::now();
    }
    progress_reporter(const progress_reporter&) = delete;
    ~progress_reporter() { finish(); }

    void operator()(const pipeline::step_log& l) {
        const auto now = clock::now();
        const double dt = std::chrono::duration<double>(now - last_).count();
        last_ = now;
        ++seen_;
        // the first step of a process pays for warm-up: keep it out of the rate
        rate_ = seen_ == 1 ? 0.0 : (rate_ == 0.0 ? dt : 0.9 * rate_ + 0.1 * dt);
        const double ips = rate_ > 0 ? double(l.images) / rate_ : 0.0;
        const double elapsed = std::chrono::duration<double>(now - t0_).count();
        const double eta = rate_ > 0 ? rate_ * double(l.total_steps - l.step - 1) : NAN;
        epoch_loss_ += l.loss;
        ++epoch_steps_;
        const std::size_t in_epoch = l.step % l.steps_per_epoch + 1;
        const std::size_t epochs = l.total_steps / l.steps_per_epoch;
        if (metrics_) {
            auto j = event("step");
            j["epoch"] = l.epoch + 1;
            j["step"] = l.step + 1;
            j["loss"] = json_number(l.loss);
            j["lr"] = json_number(l.lr);
            j["images_per_s"] = json_number(ips);
            j["elapsed_s"] = json_number(elapsed);
            metrics_ << j.dump() << "\n";
        }
        if (in_epoch == l.steps_per_epoch) {
            const double mean = epoch_loss_ / double(epoch_steps_);
            if (metrics_) {
                auto j = event("epoch");
                j["epoch"] = l.epoch + 1;
                j["mean_loss"] = json_number(mean);
                j["elapsed_s"] = json_number(elapsed);
                metrics_ << j.dump() << "\n";
            }
            if (!quiet_) {
                if (bar_) std::fprintf(stderr, "\r\033[K");
                std::fprintf(stderr, "%s epoch %zu/%zu done: mean loss %.4f, lr %.4g, %.1f img/s, elapsed %s, ETA %s\n",
                             label_.c_str(), l.epoch + 1, epochs, mean, l.lr, ips, format_duration(elapsed).c_str(),
                             format_duration(eta).c_str());
            }
            epoch_loss_ = 0;
            epoch_steps_ = 0;
            return;
        }
        if (quiet_) return;
        if (bar_) {
            const double since = std::chrono::duration<double>(now - drawn_).count();
            if (since < 0.2) return;  // redraw at most five times a second
            drawn_ = now;
            const int width = 20, filled = int(double(width) * double(in_epoch) / double(l.steps_per_epoch));
            std::string bar(std::size_t(filled), '#');
            bar.resize(width, '.');
            std::fprintf(stderr, "\r\033[K%s epoch %zu/%zu [%s] step %zu/%zu loss %.4f lr %.4g %.1f img/s ETA %s",
                         label_.c_str(), l.epoch + 1, epochs, bar.c_str(), in_epoch, l.steps_per_epoch, l.loss, l.lr, ips,
                         format_duration(eta).c_str());
            std::fflush(stderr);
        } else if (l.steps_per_epoch >= 10 && in_epoch % ((l.steps_per_epoch + 9) / 10) == 0) {
            std::fprintf(stderr, "%s epoch %zu/%zu step %zu/%zu loss %.4f lr %.4g %.1f img/s ETA %s\n", label_.c_str(),
                         l.epoch + 1, epochs, in_epoch, l.steps_per_epoch, l.loss, l.lr, ips, format_duration(eta).c_str());
        }
    }

    /// Closes the metrics file and renames it into place (idempotent).
    void finish() {
        if (bar_ && !quiet_ && seen_ && !finished_) std::fprintf(stderr, "\r\033[K");
        if (metrics_.is_open()) {
            metrics_.close();
            std::error_code ec;
            fs::rename(metrics_path_ + ".tmp", metrics_path_, ec);
        }
        finished_ = true;
    }

private:
    /// {"event": kind, then the run's extra fields (class, seed)}
    nlohmann::ordered_json event(const char* kind) const {
        nlohmann::ordered_json j;
        j["event"] = kind;
        for (const auto& [k, v] : extra_.items()) j[k] = v;
        return j;
    }
    std::string label_, metrics_path_;
    nlohmann::ordered_json extra_;
    std::ofstream metrics_;
    bool bar_ = false, quiet_ = false, finished_ = false;
    clock::time_point t0_, last_, drawn_{};
    std::size_t seen_ = 0, epoch_steps_ = 0;
    double rate_ = 0, epoch_loss_ = 0;
};

/// How this process trains when it is one rank of an MPI job (`mpirun ... oneclass train`): the
/// setup makes a representation data-parallel; only the writer (rank 0) reports and writes files.
struct parallel_training {
    std::function<void(pipeline::representation&)> setup;
    /// split(n, f): the scores of n rows, where f(lo, hi) scores rows [lo, hi); under mpirun each
    /// rank computes its block and all get all
    std::function<std::vector<double>(std::size_t, const std::function<std::vector<double>(std::size_t, std::size_t)>&)> split =
        [](std::size_t n, const auto& f) { return f(0, n); };
    bool writer = true;
};
inline parallel_training& parallel() {
    static parallel_training p;
    return p;
}

/// Trains `rep` on `images` (a tensor or any ImageSource) with the reporter and the Ctrl-C flag;
/// returns the seconds spent. On Ctrl-C the representation has written its checkpoint (when it has
/// one) and training_interrupted propagates.
template <class Images>
double train_with_progress(pipeline::representation& rep, const Images& images, progress_reporter& progress) {
    const auto t0 = std::chrono::steady_clock::now();
    // Test hook: ONECLASS_TEST_SIGINT_AT_STEP=K raises a real SIGINT after global step K, so that
    // the Ctrl-C path (handler, checkpoint, exit status, --resume) is tested deterministically.
    const char* hook = std::getenv("ONECLASS_TEST_SIGINT_AT_STEP");
    const std::size_t sigint_at = hook ? std::size_t(std::strtoull(hook, nullptr, 10)) : 0;
    // ONECLASS_TEST_KILL_AT_STEP=K: under mpirun, every rank but rank 0 dies (SIGKILL) after step
    // K, as a crashed machine would; the job must end and the last checkpoint stay usable.
    const char* kill_hook = std::getenv("ONECLASS_TEST_KILL_AT_STEP");
    const std::size_t kill_at = kill_hook && !parallel().writer ? std::size_t(std::strtoull(kill_hook, nullptr, 10)) : 0;
    if (parallel().setup) parallel().setup(rep);
    try {
        rep.fit(images,
                [&](const pipeline::step_log& l) {
                    progress(l);
                    if (sigint_at && l.step + 1 == sigint_at) std::raise(SIGINT);
                    if (kill_at && l.step + 1 == kill_at) std::raise(SIGKILL);
                },
                &stop_requested());
    } catch (...) {
        progress.finish();
        throw;
    }
    progress.finish();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// A labelled split and the images of one inlier class, ready for training and testing.
struct class_data {
    tensor<float> train_images;
    std::vector<int> test_labels;  ///< 1 = anomaly (any other class)
    std::string class_name;
};

inline class_data class_images(const labelled_split& data, int c, std::size_t channels, std::size_t train_limit) {
    auto split = one_vs_rest(data.train.labels, data.test.labels, c);
    require(!split.train_rows.empty(), "cli", "class ", c, " has no training images");
    if (train_limit && split.train_rows.size() > train_limit) split.train_rows.resize(train_limit);
    return {dataset_images(data.train, split.train_rows, channels), split.test_labels, data.train.class_names[std::size_t(c)]};
}

}  // namespace oneclass::cli
