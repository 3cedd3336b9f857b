// tools/cli_run.hpp - `oneclass run`: the two-stage pipeline over a dataset's classes.
//
// For each inlier class and seed: train a representation on that class's training images only
// (pipeline::representation), extract L2-normalised features of the class's training images and
// of the whole test split, fit each detector on the former, score the latter, report AUC.
#pragma once

#include "cli_common.hpp"

#include <oneclass/eval.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace oneclass::cli {

struct run_args {
    std::string dataset = "fashion-mnist", root, classes = "all", method = "distaug", preset = "quick";
    std::string detectors = "kde,ocsvm", features = "f", out_dir = "results";
    std::size_t epochs = 0, batch = 0, seeds = 1, train_limit = 0, channels = 1;
    std::uint64_t seed = 0;
};

/// The presets: `quick` trains one Fashion-MNIST class in minutes on 2 cores, `standard` aims at
/// the paper's accuracy within about 20 minutes per class, `paper` is the paper's recipe.
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
        c.net = {.depth = 18, .width = 0.5};
        c.head_hidden = {256, 256};
        c.head_out = 128;
        c.epochs = 10;
        c.batch = 32;
        c.lr = 0.02;
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


/// Images of a dataset as N x C x S x S floats in [0, 1]; Fashion-MNIST is zero-padded from 28 to
/// 32 as the official code does and replicated to `channels` (1 or 3) channels.
inline tensor<float> dataset_images(const image_dataset& ds, const std::vector<std::size_t>& rows, std::size_t channels) {
    const bool pad = ds.height == 28 && ds.width == 28;
    const std::size_t S = pad ? 32 : ds.height, off = pad ? 2 : 0;
    require(channels == ds.channels || (ds.channels == 1 && channels == 3), "cli", "--channels ", channels,
            " does not fit a ", ds.channels, "-channel dataset");
    tensor<float> t({rows.size(), channels, S, S});
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

inline int run_pipeline(const run_args& a, const detector_options& det_opts) {
    using clock = std::chrono::steady_clock;
    const auto names = split_list(a.detectors, "--detector");
    for (const auto& n : names) (void)make_detector(with_name(det_opts, n));
    require(a.features == "f" || a.features == "gf", "cli", "--features must be f or gf, got '", a.features, "'");
    require(a.seeds >= 1, "cli", "--seeds must be >= 1");
    require(a.channels == 1 || a.channels == 3, "cli", "--channels must be 1 or 3");
    auto cfg = preset_config(a.preset);
    cfg.method = pipeline::parse_method(a.method);
    if (a.epochs) cfg.epochs = a.epochs;
    if (a.batch) cfg.batch = a.batch;
    const labelled_split data = load_dataset(a.dataset, a.root);
    const auto classes = parse_classes(a.classes, data.train.num_classes());
    std::filesystem::create_directories(a.out_dir);
    std::vector<std::size_t> all_test(data.test.size());
    for (std::size_t i = 0; i < all_test.size(); ++i) all_test[i] = i;
    const tensor<float> test_images = dataset_images(data.test, all_test, a.channels);

    std::vector<eval_row> rows;
    for (int c : classes) {
        auto split = one_vs_rest(data.train.labels, data.test.labels, c);
        if (a.train_limit && split.train_rows.size() > a.train_limit) split.train_rows.resize(a.train_limit);
        const tensor<float> train_images = dataset_images(data.train, split.train_rows, a.channels);
        for (std::size_t s = 0; s < a.seeds; ++s) {
            cfg.seed = a.seed + s;
            pipeline::representation rep(cfg, a.channels);
            const auto t0 = clock::now();
            double last_loss = 0;
            rep.fit(train_images, [&](const pipeline::step_log& l) {
                last_loss = l.loss;
                if (!std::isfinite(l.loss))
                    fail("run", "training diverged at epoch ", l.epoch, " step ", l.step, " (loss ", l.loss, ")");
            });
            const double train_s = std::chrono::duration<double>(clock::now() - t0).count();
            const bool head = a.features == "gf";
            const matrix<float> ftr = rep.features(train_images, head), fte = rep.features(test_images, head);
            std::fprintf(stderr, "class %d seed %llu: trained %zu epochs on %zu images in %.1f s (last loss %.4f)\n", c,
                         static_cast<unsigned long long>(cfg.seed), cfg.epochs, train_images.shape(0), train_s, last_loss);
            if (cfg.method == pipeline::proxy_method::rotation)
                for (const bool all : {false, true}) {  // RotNet's own scores, next to the detectors
                    const std::string name = all ? "rotnet-sum" : "rotnet-p0";
                    const auto scores = rep.rotation_scores(test_images, all);
                    rows.push_back({c, data.train.class_names[std::size_t(c)], name, roc_auc(scores, split.test_labels),
                                    0.0, 0.0, std::numeric_limits<double>::quiet_NaN(), true});
                    std::fprintf(stderr, "  %s: auc=%.4f\n", name.c_str(), rows.back().auc);
                }
            for (const auto& name : names) {
                auto det = make_detector(with_name(det_opts, name));
                const auto t1 = clock::now();
                const fit_report rep_fit = std::visit([&](auto& d) { return d.fit(ftr.view()); }, det);
                const double fit_s = std::chrono::duration<double>(clock::now() - t1).count();
                const auto t2 = clock::now();
                const auto scores = std::visit([&](const auto& d) { return d.score(fte.view()); }, det);
                const double score_s = std::chrono::duration<double>(clock::now() - t2).count();
                rows.push_back({c, data.train.class_names[std::size_t(c)], name, roc_auc(scores, split.test_labels),
                                fit_s, score_s, gamma_of(det), rep_fit.converged});
                std::fprintf(stderr, "  %s: auc=%.4f\n", name.c_str(), rows.back().auc);
            }
        }
    }
    std::vector<std::string> columns = names;
    if (cfg.method == pipeline::proxy_method::rotation) columns.insert(columns.end(), {"rotnet-p0", "rotnet-sum"});
    const std::vector<std::string>& cols = columns;
    // per class: mean and std over seeds
    std::printf("%-6s %-14s", "class", "name");
    for (const auto& d : cols) std::printf(" %18s", d.c_str());
    std::printf("\n");
    std::vector<double> det_means(cols.size(), 0.0);
    for (int c : classes) {
        std::string cname;
        std::printf("%-6d", c);
        for (const auto& r : rows)
            if (r.cls == c) cname = r.class_name;
        std::printf(" %-14s", cname.c_str());
        for (std::size_t k = 0; k < cols.size(); ++k) {
            double s = 0, ss = 0;
            int n = 0;
            for (const auto& r : rows)
                if (r.cls == c && r.detector == cols[k]) s += r.auc, ss += r.auc * r.auc, ++n;
            const double m = s / n, sd = n > 1 ? std::sqrt(std::max(0.0, (ss - n * m * m) / (n - 1))) : 0.0;
            det_means[k] += m / double(classes.size());
            std::printf("    %.4f +- %.4f", m, sd);
        }
        std::printf("\n");
    }
    for (std::size_t k = 0; k < cols.size(); ++k)
        std::printf("detector=%s features=%s method=%s mean_auc=%.6f\n", cols[k].c_str(), a.features.c_str(),
                    a.method.c_str(), det_means[k]);
    const auto stem = std::filesystem::path(a.out_dir) / ("run-" + a.dataset + "-" + a.method + "-" + a.preset);
    write_eval_results(stem, a.dataset, a.method + "/" + a.features, det_opts, rows, cols);
    std::printf("results=%s.{json,csv}\n", stem.string().c_str());
    return 0;
}

}  // namespace oneclass::cli
