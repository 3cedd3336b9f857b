// tools/cli_run.hpp - the two-stage pipeline from the command line:
//
//   oneclass train  one class, one seed -> a model file (representation + its configuration)
//   oneclass eval --model MODEL         fit detectors on the model's features of that class
//   oneclass run    train + eval over --classes and --seeds, AUC table with mean +- std
//
// For each inlier class and seed: train a representation on that class's training images only
// (pipeline::representation), extract L2-normalised features of the class's training images and
// of the whole test split, fit each detector on the former, score the latter, report AUC. The
// proxy's own scores (RotNet's, the autoencoder's reconstruction error) are reported as well.
#pragma once

#include "cli_common.hpp"
#include "cli_plots.hpp"
#include "cli_train.hpp"

#include <oneclass/eval.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace oneclass::cli {

struct run_args {
    std::string dataset = "fashion-mnist", root, classes = "all", attribute = "Eyeglasses";
    std::string detectors = "kde,ocsvm", features = "f", out_dir = "results", baseline;
    std::string views = "none";  ///< the view sets the detectors see, a list (view_codes)
    std::string stages = "4";    ///< the encoder stages they see, a list (stage_list)
    std::size_t seeds = 1, image_size = 0;
    double contamination = 0;              ///< share of other classes' images mixed into the training set
    std::optional<std::size_t> detector_train;  ///< the detector fits on this many clean images only
    bool ensemble = false;
    std::string plots;  ///< a folder for the per-class AUC bars and each class's ROC curves
    double validate = 0;  ///< share of the class's training images held out as validation normals
    train_options train;
};

/// An ensemble per detector name (eval/ensemble.hpp: members standardised by their own scores on
/// their training features).
using ensemble_sums = std::map<std::string, score_ensemble>;

/// The views a detector sees (--views): none (the image as it is), hflip (and its mirror), rot (its
/// four rotations), rot+hflip (all eight), as augment::distribution_shift codes.
inline std::vector<int> view_codes(const std::string& v) {
    if (v == "none") return {0};
    if (v == "hflip") return {0, 1};
    if (v == "rot") return {0, 2, 4, 6};
    if (v == "rot+hflip") return {0, 1, 2, 3, 4, 5, 6, 7};
    fail("cli", "--views must list none, hflip, rot or rot+hflip, got '", v, "'");
}
inline std::vector<std::string> parse_views(const std::string& s) {
    auto v = split_list(s, "--views");
    for (std::size_t i = 0; i < v.size(); ++i) {
        (void)view_codes(v[i]);
        require(std::find(v.begin(), v.begin() + std::ptrdiff_t(i), v[i]) == v.begin() + std::ptrdiff_t(i), "cli", "--views lists ",
                v[i], " twice");
    }
    return v;
}
/// The encoder stages a detector sees (--stages): "4" (f, the default) or stages joined by '+'
/// ("3+4"), ascending, each pooled and normalised on its own (representation::stage_features).
/// "4" gives the empty list: f itself.
inline std::vector<int> stage_list(const std::string& s) {
    std::vector<int> out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t end = std::min(s.find('+', pos), s.size());
        const std::string part = s.substr(pos, end - pos);
        require(part.size() == 1 && part[0] >= '1' && part[0] <= '4', "cli", "--stages entries are stages 1..4 joined by '+' (e.g. 4, 3+4), got '",
                s, "'");
        require(out.empty() || part[0] - '0' > out.back(), "cli", "--stages '", s, "': stages must be ascending without repeats");
        out.push_back(part[0] - '0');
        if (end == s.size()) break;
        pos = end + 1;
    }
    return out == std::vector<int>{4} ? std::vector<int>{} : out;
}

/// One column's features: a view set (view_codes) and encoder stages (stage_list).
struct feature_set {
    std::string view = "none", stages = "4";
};
/// Every view set under every stage list: the columns each detector gets.
inline std::vector<feature_set> feature_sets(const std::string& views, const std::string& stages, const std::string& features) {
    const auto v = parse_views(views);
    const auto st = split_list(stages, "--stages");
    for (std::size_t i = 0; i < st.size(); ++i) {
        (void)stage_list(st[i]);
        require(std::find(st.begin(), st.begin() + std::ptrdiff_t(i), st[i]) == st.begin() + std::ptrdiff_t(i), "cli", "--stages lists ",
                st[i], " twice");
        require(features == "f" || stage_list(st[i]).empty(), "cli", "--stages ", st[i], " needs --features f (the head's g(f) has no stages)");
    }
    std::vector<feature_set> out;
    for (const auto& view : v)
        for (const auto& s : st) out.push_back({view, s});
    return out;
}

/// A detector's column: its name, then the views after a colon unless they are `none` (kde:rot),
/// then the stages after a colon unless they are the last (kde:s3+4, kde:rot:s3+4).
inline std::string detector_column(const std::string& detector, const feature_set& f) {
    return detector + (f.view == "none" ? "" : ":" + f.view) + (stage_list(f.stages).empty() ? "" : ":s" + f.stages);
}

/// d's scores of the rows of X; under mpirun each rank scores its block of them (parallel().split).
template <class D>
std::vector<double> split_scores(const D& d, matrix_view<const float> X) {
    return parallel().split(X.rows(), [&](std::size_t lo, std::size_t hi) {
        const auto s = d.score(X.middle_rows(lo, hi - lo));
        return std::vector<double>(s.begin(), s.end());
    });
}

/// A set of images a trained model is scored on (the test split, a validation split): its rows
/// carry `suffix` after the detector's name; ensemble / kept collect its scores when set.
struct scored_split {
    const tensor<float>* images;
    const std::vector<int>* labels;
    std::string suffix;
    ensemble_sums* ensemble = nullptr;
    std::vector<std::pair<std::string, std::vector<double>>>* kept = nullptr;
};

/// Fits every detector once on the features of `train_images` and scores every split; appends,
/// split after split, one row per detector and per built-in proxy score.
inline void evaluate_representation(pipeline::representation& rep, const tensor<float>& train_images,
                                    const std::vector<scored_split>& splits, int cls, const std::string& class_name,
                                    const std::vector<std::string>& names, const detector_options& det_opts,
                                    const std::string& features, const std::vector<feature_set>& views, std::int64_t seed,
                                    double train_s, std::vector<eval_row>& rows) {
    using clock = std::chrono::steady_clock;
    const bool head = features == "gf";
    std::vector<std::vector<eval_row>> out(splits.size());
    for (std::size_t k = 0; k < splits.size(); ++k)
        for (const auto& name : rep.proxy_score_names()) {
            const scored_split& sp = splits[k];
            const auto scores = rep.proxy_scores(*sp.images, name);
            out[k].push_back({cls, class_name, name + sp.suffix, roc_auc(scores, *sp.labels), 0.0, 0.0,
                              std::numeric_limits<double>::quiet_NaN(), true, seed, train_s});
            if (sp.kept) sp.kept->push_back({name + sp.suffix, scores});
        }
    const bool ensembles = std::any_of(splits.begin(), splits.end(), [](const scored_split& sp) { return sp.ensemble != nullptr; });
    for (const auto& view : views) {
        const std::vector<int> codes = view_codes(view.view), stages = stage_list(view.stages);
        const auto features_of = [&](const tensor<float>& images) {
            return stages.empty() ? rep.view_features(images, codes, head) : rep.stage_features(images, codes, stages);
        };
        const matrix<float> ftr = features_of(train_images);
        std::vector<matrix<float>> fte;
        for (const auto& sp : splits) fte.push_back(features_of(*sp.images));
        for (const auto& detector : names) {
            const std::string name = detector_column(detector, view);
            auto det = make_detector(with_name(det_opts, detector));
            const auto t1 = clock::now();
            const fit_report rep_fit = std::visit([&](auto& d) { return d.fit(ftr.view()); }, det);
            const double fit_s = std::chrono::duration<double>(clock::now() - t1).count();
            // the training rows' own scores standardise the ensembles' members
            const std::vector<double> own =
                ensembles ? std::visit([&](const auto& d) { return split_scores(d, ftr.view()); }, det) : std::vector<double>{};
            for (std::size_t k = 0; k < splits.size(); ++k) {
                const scored_split& sp = splits[k];
                const auto t2 = clock::now();
                const auto scores = std::visit([&](const auto& d) { return split_scores(d, fte[k].view()); }, det);
                const double score_s = std::chrono::duration<double>(clock::now() - t2).count();
                out[k].push_back({cls, class_name, name + sp.suffix, roc_auc(scores, *sp.labels), fit_s, score_s, gamma_of(det),
                                  rep_fit.converged, seed, train_s});
                if (sp.kept) sp.kept->push_back({name + sp.suffix, scores});
                if (sp.ensemble) (*sp.ensemble)[name].add(own, scores);
            }
        }
    }
    for (auto& part : out)
        for (auto& r : part) {
            std::fprintf(stderr, "  %s: auc=%.4f\n", r.detector.c_str(), r.auc);
            rows.push_back(std::move(r));
        }
}

/// The first n images (all when n is 0 or at least their count).
inline tensor<float> first_images(const tensor<float>& x, std::size_t n) {
    return n == 0 || n >= x.shape(0) ? x : x.slice(0, n).clone();
}

inline tensor<float> concat_images(const tensor<float>& a, const tensor<float>& b) {
    if (b.size() == 0) return a;
    shape_t s = a.shape();
    s[0] += b.shape(0);
    tensor<float> out(s, uninitialized);
    std::copy_n(a.data(), a.size(), out.data());
    std::copy_n(b.data(), b.size(), out.data() + a.size());
    return out;
}

/// round(rate x n) training images of the other classes, a seeded draw: the contamination of
/// section 5.3 (unlabelled anomalies among n normal training images). The draw is one seeded
/// order, so a smaller n takes a subset of a larger one's images.
inline tensor<float> contaminating_images(const labelled_split& data, int c, std::size_t n, double rate, std::size_t channels,
                                          std::uint64_t seed) {
    const std::size_t k = std::size_t(std::llround(rate * double(n)));
    if (k == 0) return {};
    std::vector<std::size_t> others;
    for (std::size_t i = 0; i < data.train.labels.size(); ++i)
        if (data.train.labels[i] != c) others.push_back(i);
    require(others.size() >= k, "cli", "--contamination ", rate, " needs ", k, " images of other classes, there are ", others.size());
    rng r(seed ^ 0xc0117a1117a7e5ull);
    for (std::size_t i = 0; i < k; ++i) std::swap(others[i], others[i + r.below(others.size() - i)]);
    others.resize(k);
    std::sort(others.begin(), others.end());
    return dataset_images(data.train, others, channels);
}

/// Per class: mean +- std over seeds of each column; then the means over classes.
inline void print_seed_table(const std::vector<eval_row>& rows, const std::vector<std::string>& cols,
                             const std::vector<int>& classes, const std::string& features, const std::string& method) {
    std::printf("%-6s %-14s", "class", "name");
    for (const auto& d : cols) std::printf(" %18s", d.c_str());
    std::printf("\n");
    std::vector<double> means(cols.size(), 0.0);
    for (int c : classes) {
        std::string cname;
        for (const auto& r : rows)
            if (r.cls == c) cname = r.class_name;
        std::printf("%-6d %-14s", c, cname.c_str());
        for (std::size_t k = 0; k < cols.size(); ++k) {
            double s = 0, ss = 0;
            int n = 0;
            for (const auto& r : rows)
                if (r.cls == c && r.detector == cols[k]) s += r.auc, ss += r.auc * r.auc, ++n;
            const double m = s / n, sd = n > 1 ? std::sqrt(std::max(0.0, (ss - n * m * m) / (n - 1))) : 0.0;
            means[k] += m / double(classes.size());
            std::printf("    %.4f +- %.4f", m, sd);
        }
        std::printf("\n");
    }
    std::printf("%-6s %-14s", "mean", "");
    for (double m : means) std::printf(" %18.4f", m);
    std::printf("\n");
    for (std::size_t k = 0; k < cols.size(); ++k) {
        const auto dash = cols[k].find('-');
        if (dash != std::string::npos && cols[k].rfind("raw-", 0) == 0)  // a baseline column
            std::printf("detector=%s features=raw mean_auc=%.6f\n", cols[k].substr(dash + 1).c_str(), means[k]);
        else
            std::printf("detector=%s features=%s method=%s mean_auc=%.6f\n", cols[k].c_str(), features.c_str(),
                        method.c_str(), means[k]);
    }
}

inline void check_eval_flags(const std::vector<std::string>& names, const detector_options& det_opts,
                             const std::string& features) {
    for (const auto& n : names) (void)make_detector(with_name(det_opts, n));
    require(features == "f" || features == "gf", "cli", "--features must be f or gf, got '", features, "'");
}

inline int run_pipeline(const run_args& a, const detector_options& det_opts) {
    const auto names = split_list(a.detectors, "--detector");
    check_eval_flags(names, det_opts, a.features);
    const auto views = feature_sets(a.views, a.stages, a.features);
    // the detectors' columns, each detector under each view set and stage list
    std::vector<std::string> det_cols;
    for (const auto& n : names)
        for (const auto& v : views) det_cols.push_back(detector_column(n, v));
    require(a.seeds >= 1, "cli", "--seeds must be >= 1");
    require(std::isfinite(a.contamination) && a.contamination >= 0 && a.contamination <= 0.5, "cli",
            "--contamination must be in [0, 0.5], got ", a.contamination);
    require(!a.detector_train || *a.detector_train >= 2, "cli", "--detector-train must be >= 2");
    require(std::isfinite(a.validate) && a.validate >= 0 && a.validate <= 0.5, "cli", "--validate must be in [0, 0.5], got ", a.validate);
    check_output_dir(a.out_dir, "--out-dir");
    if (!a.plots.empty()) check_output_dir(a.plots, "--plots");
    check_output_file(a.train.metrics, "--metrics");
    const auto methods = split_list(a.train.method, "--method");
    require(methods.size() == 1 || a.ensemble, "cli", "several --method values are an ensemble: add --ensemble");
    std::vector<pipeline::representation_config> cfgs;
    require(a.train.distaug.empty() || std::find(methods.begin(), methods.end(), "distaug") != methods.end(), "cli",
            "--distaug applies to --method distaug");
    require(!a.train.augment || std::find(methods.begin(), methods.end(), "rotation") != methods.end(), "cli",
            "--augment applies to --method rotation");
    for (const auto& m : methods) {
        train_options t = a.train;
        t.method = m;
        if (m != "distaug") t.distaug.clear();  // in a list of methods, --distaug is the DistAug member's
        if (m != "rotation") t.augment = false;  // and --augment the rotation member's
        cfgs.push_back(build_config(t));
        require(a.features == "f" || pipeline::builtin_proxies::uses_head(m), "cli", "--features gf: the ", m,
                " method trains no projection head");
    }
    require(!a.ensemble || methods.size() * a.seeds >= 2, "cli", "--ensemble needs several members: --seeds K >= 2 or several --method");
    const std::vector<eval_row> baseline = a.baseline.empty() ? std::vector<eval_row>{} : read_eval_results_csv(a.baseline);
    const labelled_split data = load_dataset(a.dataset, a.root, a.image_size, a.attribute);
    const auto classes = parse_classes(a.classes, data.train.num_classes());
    fs::create_directories(a.out_dir);
    const bool writer = parallel().writer;  // under mpirun: rank 0 writes, every rank computes
    if (!a.plots.empty() && writer) fs::create_directories(a.plots);
    if (!a.train.metrics.empty()) fs::remove(a.train.metrics + ".tmp");
    const std::size_t channels = a.train.channels.value_or(data.train.channels);
    const tensor<float> test_images = dataset_images(data.test, all_rows(data.test.size()), channels);
    install_sigint_handler();

    std::vector<eval_row> rows;
    for (int c : classes) {
        class_data cd = class_images(data, c, channels, 0);
        // --validate: the class's last images become validation normals, as many other-class
        // training images the validation anomalies; nothing of them trains or fits anything
        tensor<float> val_images;
        std::vector<int> val_labels;
        if (a.validate > 0) {
            const std::size_t n = cd.train_images.shape(0), nv = std::size_t(std::llround(a.validate * double(n)));
            require(nv >= 1 && nv + 2 <= n, "cli", "--validate ", a.validate, " leaves no validation or no training images of class ", c);
            const tensor<float> normals = cd.train_images.slice(n - nv, n).clone();
            cd.train_images = first_images(cd.train_images, n - nv);
            val_images = concat_images(normals, contaminating_images(data, c, nv, 1.0, channels, a.train.seed + 0x5a1d));
            val_labels.assign(nv, 0);
            val_labels.resize(2 * nv, 1);
        }
        ensemble_sums sums, val_sums;
        std::vector<std::pair<std::string, std::vector<double>>> kept;
        for (std::size_t mi = 0; mi < methods.size(); ++mi)
            for (std::size_t s = 0; s < a.seeds; ++s) {
                auto cfg = cfgs[mi];
                cfg.seed = a.train.seed + s;
                // the representation's training set: --train-limit of the class, plus the contamination;
                // the detector's: the whole class (contaminated alike), or --detector-train clean images
                const tensor<float> clean = first_images(cd.train_images, a.train.train_limit.value_or(0));
                const tensor<float> dirt = contaminating_images(data, c, clean.shape(0), a.contamination, channels, cfg.seed);
                const tensor<float> rep_images = concat_images(clean, dirt);
                const tensor<float> det_images =
                    a.detector_train                                  ? first_images(cd.train_images, *a.detector_train)
                    : clean.shape(0) == cd.train_images.shape(0) ? rep_images  // the same set: drawn once
                        : concat_images(cd.train_images,
                                        contaminating_images(data, c, cd.train_images.shape(0), a.contamination, channels, cfg.seed));
                pipeline::representation rep(cfg, channels);
                const std::string label = "class " + std::to_string(c) + (methods.size() > 1 ? " " + methods[mi] : "") + " seed " +
                                          std::to_string(cfg.seed);
                progress_reporter progress(a.train.progress, a.train.metrics, label, {{"class", c}, {"seed", cfg.seed}});
                const double train_s = train_with_progress(rep, rep_images, progress);
                std::fprintf(stderr, "%s: trained %zu epochs on %zu images (%zu of other classes) in %.1f s\n", label.c_str(),
                             cfg.epochs, rep_images.shape(0), dirt.size() ? dirt.shape(0) : std::size_t(0), train_s);
                // the test split, and the validation split: one fit of each detector serves both
                const std::string suffix = methods.size() > 1 ? "@" + methods[mi] : "";
                std::vector<scored_split> splits{{&test_images, &cd.test_labels, suffix, a.ensemble ? &sums : nullptr, s == 0 ? &kept : nullptr}};
                if (a.validate > 0) splits.push_back({&val_images, &val_labels, suffix + "[val]", a.ensemble ? &val_sums : nullptr});
                evaluate_representation(rep, det_images, splits, c, cd.class_name, names, det_opts, a.features, views,
                                        std::int64_t(cfg.seed), train_s, rows);
            }
        for (const auto& [name, ens] : val_sums)  // selected on these, reported beside the test split's
            rows.push_back({c, cd.class_name, "ensemble-" + name + "[val]", roc_auc(ens.scores(), val_labels), 0.0, 0.0,
                            std::numeric_limits<double>::quiet_NaN(), true, -1, std::numeric_limits<double>::quiet_NaN()});
        for (const auto& [name, ens] : sums) {
            rows.push_back({c, cd.class_name, "ensemble-" + name, roc_auc(ens.scores(), cd.test_labels), 0.0, 0.0,
                            std::numeric_limits<double>::quiet_NaN(), true, -1, std::numeric_limits<double>::quiet_NaN()});
            std::fprintf(stderr, "  %s: auc=%.4f (%zu members)\n", rows.back().detector.c_str(), rows.back().auc,
                         methods.size() * a.seeds);
            kept.push_back({"ensemble-" + name, ens.scores()});
        }
        if (!a.plots.empty() && writer) {
            std::vector<std::string> kn;
            std::vector<std::vector<double>> ks;
            for (auto& [n, v] : kept) kn.push_back(n), ks.push_back(v);
            roc_plot(fs::path(a.plots) / ("roc-class" + std::to_string(c) + ".png"),
                     "ROC, class " + std::to_string(c) + " (" + cd.class_name + ")" + (a.seeds > 1 ? ", seed " + std::to_string(a.train.seed) : ""),
                     kn, ks, cd.test_labels);
        }
    }
    std::vector<std::string> cols;
    for (const auto& m : methods) {
        const std::string suffix = methods.size() > 1 ? "@" + m : "";
        for (const auto& n : det_cols) cols.push_back(n + suffix);
        for (const auto& n : pipeline::builtin_proxies::score_names(m)) cols.push_back(n + suffix);
    }
    if (a.ensemble)
        for (const auto& n : det_cols) cols.push_back("ensemble-" + n);
    if (a.validate > 0)
        for (const auto& m : methods) {
            const std::string suffix = (methods.size() > 1 ? "@" + m : "") + "[val]";
            for (const auto& n : det_cols) cols.push_back(n + suffix);
            for (const auto& n : pipeline::builtin_proxies::score_names(m)) cols.push_back(n + suffix);
        }
    if (a.validate > 0 && a.ensemble)
        for (const auto& n : det_cols) cols.push_back("ensemble-" + n + "[val]");
    // baseline columns (e.g. raw-ocsvm, raw-kde) for the classes of this run, printed alongside
    std::vector<eval_row> shown = rows;
    std::vector<std::string> shown_cols = cols;
    for (const auto& b : baseline)
        if (std::find(classes.begin(), classes.end(), b.cls) != classes.end()) {
            shown.push_back(b);
            if (std::find(shown_cols.begin(), shown_cols.end(), b.detector) == shown_cols.end())
                shown_cols.push_back(b.detector);
        }
    std::string method_name;
    for (const auto& m : methods) method_name += (method_name.empty() ? "" : "+") + m;
    print_seed_table(shown, shown_cols, classes, a.features, method_name);
    if (!a.plots.empty() && writer) {
        std::vector<std::string> groups;
        for (int c : classes) groups.push_back(std::to_string(c));
        std::vector<plot_series> bars;
        for (const auto& col : shown_cols) {
            plot_series s{col, {}, {}};
            for (int c : classes) {
                double sum = 0;
                int n = 0;
                for (const auto& r : shown)
                    if (r.cls == c && r.detector == col) sum += r.auc, ++n;
                s.y.push_back(n ? sum / n : 0.0);
            }
            bars.push_back(std::move(s));
        }
        bar_plot(fs::path(a.plots) / "auc-per-class.png", "ROC AUC per class (" + method_name + ", " + a.train.preset + ")", "ROC AUC",
                 groups, bars, 0.5, 1.0);
        std::printf("plots=%s\n", a.plots.c_str());
    }
    const auto stem = fs::path(a.out_dir) / ("run-" + a.dataset + "-" + method_name + "-" + a.train.preset + (a.ensemble ? "-ensemble" : ""));
    if (writer) write_eval_results(stem, a.dataset, method_name + "/" + a.features, det_opts, rows, cols);
    std::printf("results=%s.{json,csv}\n", stem.string().c_str());
    return 0;
}

// ---- train ---------------------------------------------------------------------------------------
struct train_args {
    std::string dataset = "fashion-mnist", root, out, checkpoint, attribute = "Eyeglasses";
    int cls = -1;
    std::size_t checkpoint_every = 1, image_size = 0;
    bool resume = false;
    train_options train;
};

inline int run_train(const train_args& a) {
    require(!a.out.empty(), "cli", "--out MODEL is required");
    require(a.cls >= 0, "cli", "--class is required (the inlier class to train on)");
    auto cfg = build_config(a.train);
    cfg.checkpoint = a.checkpoint.empty() ? fs::path(a.out + ".ckpt") : fs::path(a.checkpoint);
    require(a.checkpoint_every >= 1, "cli", "--checkpoint-every must be >= 1");
    cfg.checkpoint_every = a.checkpoint_every;
    require(!a.resume || fs::exists(cfg.checkpoint), "cli", "--resume: no checkpoint '", cfg.checkpoint.string(), "'");
    check_output_file(a.out, "--out");
    check_output_file(cfg.checkpoint.string(), "--checkpoint");
    check_output_file(a.train.metrics, "--metrics");
    const labelled_split data = load_dataset(a.dataset, a.root, a.image_size, a.attribute);
    require(std::size_t(a.cls) < data.train.num_classes(), "cli", "--class ", a.cls, " is not a class in 0..",
            data.train.num_classes() - 1);
    const std::size_t channels = a.train.channels.value_or(data.train.channels);
    const class_data cd = class_images(data, a.cls, channels, a.train.train_limit.value_or(0));
    pipeline::representation rep(cfg, channels);
    if (a.resume) {
        rep.load_checkpoint(cfg.checkpoint);
        if (parallel().writer)
            std::fprintf(stderr, "resuming from '%s' at step %zu (epoch %zu done)\n", cfg.checkpoint.string().c_str(),
                     rep.steps_done(), rep.epochs_done());
    }
    if (!a.train.metrics.empty() && parallel().writer) {  // a resumed run appends to the interrupted run's metrics
        fs::remove(a.train.metrics + ".tmp");
        if (a.resume && fs::exists(a.train.metrics)) fs::rename(a.train.metrics, a.train.metrics + ".tmp");
    }
    install_sigint_handler();
    const std::string label = "class " + std::to_string(a.cls);
    const bool writer = parallel().writer;  // under mpirun: rank 0
    double train_s = 0;
    {
        progress_reporter progress(writer ? a.train.progress : "none", writer ? a.train.metrics : "", label,
                                   {{"class", a.cls}, {"seed", cfg.seed}});
        train_s = train_with_progress(rep, cd.train_images, progress);
    }
    if (!writer) return 0;
    rep.save(a.out, {{"dataset", a.dataset},
                     {"attribute", a.attribute},
                     {"class", std::to_string(a.cls)},
                     {"class_name", cd.class_name},
                     {"image_size", std::to_string(cd.train_images.shape(2))},
                     {"train_images", std::to_string(cd.train_images.shape(0))},
                     {"train_limit", std::to_string(a.train.train_limit.value_or(0))},
                     {"preset", a.train.preset},
                     {"train_s", json_number(train_s).dump()}});  // a number, or null
    std::error_code ec;
    fs::remove(cfg.checkpoint, ec);  // the model file supersedes it
    std::printf("model=%s method=%s class=%d epochs=%zu train_images=%zu train_s=%.1f\n", a.out.c_str(),
                a.train.method.c_str(), a.cls, cfg.epochs, cd.train_images.shape(0), train_s);
    return 0;
}

// ---- eval --model --------------------------------------------------------------------------------
struct model_eval_args {
    std::string dataset, root, model, detectors, features, out_dir, classes, attribute, views = "none", stages = "4";
    std::size_t image_size = 0;
    bool uniformity = false;
    double mmd_sigma = 1.0;
};

/// A trained class-level model and the data it was trained on: its class, that class's training
/// images and the test split, after checking the model's records against the flags.
struct model_data {
    int cls = 0;
    class_data cd;
    labelled_split data;
};

inline model_data load_model_data(pipeline::representation& rep, const std::string& model, const std::string& dataset,
                                  const std::string& root, std::size_t image_size, const std::string& attribute,
                                  const std::string& classes) {
    const auto meta = [&](const char* k) {
        const auto v = rep.metadata(k);
        require(v.has_value(), "cli", "--model '", model, "' has no '", k, "' record (not written by oneclass train?)");
        return *v;
    };
    const auto meta_number = [&](const char* k) {  // a malformed record is named, not a bare "stod"
        const std::string v = meta(k);
        std::size_t pos = 0;
        double d = 0;
        try {
            d = std::stod(v, &pos);
        } catch (const std::exception&) {
            pos = 0;
        }
        require(pos == v.size() && !v.empty() && d >= 0, "cli", "--model '", model, "': record '", k, "' = '", v,
                "' is not a number");
        return d;
    };
    require(meta("dataset") == dataset, "cli", "--model '", model, "' was trained on ", meta("dataset"), ", not --dataset ",
            dataset);
    model_data m;
    m.cls = int(meta_number("class"));
    require(classes.empty() || classes == meta("class"), "cli", "--model '", model, "' was trained on class ", m.cls,
            ", not --classes ", classes);
    const std::size_t channels = rep.config().net.in_channels;
    require(meta("attribute") == attribute, "cli", "--model '", model, "' was trained with --attribute ", meta("attribute"),
            ", not ", attribute);
    const bool resizable = dataset == "folder" || dataset == "cat-vs-dog" || dataset == "celeba";
    m.data = load_dataset(dataset, root, image_size ? image_size : resizable ? std::size_t(meta_number("image_size")) : 0,
                          attribute);
    require(std::size_t(m.cls) < m.data.train.num_classes(), "cli", "--model class ", m.cls, " is not in this dataset");
    (void)meta_number("train_limit");  // checked; the detector fits on the whole class (the representation saw at most that many)
    m.cd = class_images(m.data, m.cls, channels, 0);
    require(m.cd.train_images.shape(2) == std::size_t(meta_number("image_size")), "cli", "--model '", model,
            "' was trained on ", meta("image_size"), " px images, this dataset gives ", m.cd.train_images.shape(2));
    return m;
}

inline int run_eval_model(const model_eval_args& a, const detector_options& det_opts) {
    require(std::isfinite(a.mmd_sigma) && a.mmd_sigma > 0, "cli", "--mmd-sigma must be > 0, got ", a.mmd_sigma);
    const auto names = split_list(a.detectors, "--detector");
    check_eval_flags(names, det_opts, a.features);
    const auto views = feature_sets(a.views, a.stages, a.features);
    check_output_dir(a.out_dir, "--out-dir");
    auto rep = pipeline::representation::load(a.model);
    require(a.features == "f" || rep.uses_head(), "cli", "--features gf: a ", rep.config().method,
            " model has no projection head");
    if (parallel().setup) parallel().setup(rep);  // under mpirun: features extracted split across ranks
    const model_data md = load_model_data(rep, a.model, a.dataset, a.root, a.image_size, a.attribute, a.classes);
    const int cls = md.cls;
    const class_data& cd = md.cd;
    const labelled_split& data = md.data;
    const std::size_t channels = rep.config().net.in_channels;
    fs::create_directories(a.out_dir);
    const tensor<float> test_images = dataset_images(data.test, all_rows(data.test.size()), channels);
    // the training time is informational: absent or "null" in the model file reads as unknown
    const auto ts = rep.metadata("train_s");
    double train_seconds = std::numeric_limits<double>::quiet_NaN();
    if (ts && *ts != "null")
        require(detail::parse_double(*ts, train_seconds) && train_seconds >= 0, "cli", "--model '", a.model, "': record 'train_s' = '",
                *ts, "' is not a number");
    std::vector<eval_row> rows;
    evaluate_representation(rep, cd.train_images, {{&test_images, &cd.test_labels, ""}}, cls, cd.class_name, names, det_opts,
                            a.features, views, std::int64_t(rep.config().seed), train_seconds, rows);
    std::vector<std::string> cols;
    for (const auto& n : rep.proxy_score_names()) cols.push_back(n);
    for (const auto& n : names)
        for (const auto& v : views) cols.push_back(detector_column(n, v));
    print_table(rows, cols, {cls});
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
    if (a.uniformity) {
        // section 5.1: how uniformly the class's training features cover the sphere, f and g(f)
        for (const bool head : {false, true}) {
            if (head && !rep.uses_head()) continue;
            const matrix<float> F = rep.features(cd.train_images, head);
            const double u = uniformity<float>(F.view()), m = mmd2_to_sphere<float>(F.view(), a.mmd_sigma, rep.config().seed);
            const char* name = head ? "gf" : "f";
            std::printf("features=%s uniformity=%.6f mmd2=%.6g\n", name, u, m);
            extra["uniformity"][name] = {{"uniformity", json_number(u)}, {"mmd2", json_number(m)}, {"mmd_sigma", a.mmd_sigma},
                                        {"rows", F.rows()}};
        }
    }
    const std::string& method = rep.config().method;
    const auto stem = fs::path(a.out_dir) / ("eval-" + a.dataset + "-" + method + "-" + a.features + "-class" + std::to_string(cls));
    if (parallel().writer) write_eval_results(stem, a.dataset, method + "/" + a.features, det_opts, rows, cols, extra);
    std::printf("results=%s.{json,csv}\n", stem.string().c_str());
    return 0;
}

}  // namespace oneclass::cli

namespace oneclass::cli {

// ---- features --------------------------------------------------------------------------------------
struct features_args {
    std::string model, dataset = "fashion-mnist", root, attribute = "Eyeglasses", classes, split = "test", features = "f", out, labels;
};

/// The L2-normalised features of the model's class's training images (--split train) or of the
/// whole test split (labels: 1 = anomaly, any other class), as .npy.
inline int run_features(const features_args& a) {
    require(a.split == "train" || a.split == "test", "cli", "--split must be train or test, got '", a.split, "'");
    require(a.features == "f" || a.features == "gf", "cli", "--features must be f or gf, got '", a.features, "'");
    require(extension_of(a.out) == ".npy", "cli", "--out '", a.out, "' must be a .npy file");
    check_output_file(a.out, "--out");
    if (!a.labels.empty()) {
        require(extension_of(a.labels) == ".npy", "cli", "--labels '", a.labels, "' must be a .npy file");
        check_output_file(a.labels, "--labels");
    }
    auto rep = pipeline::representation::load(a.model);
    require(a.features == "f" || rep.uses_head(), "cli", "--features gf: a ", rep.config().method, " model has no projection head");
    if (parallel().setup) parallel().setup(rep);  // under mpirun: extracted split across ranks, written by rank 0
    const model_data md = load_model_data(rep, a.model, a.dataset, a.root, 0, a.attribute, a.classes);
    const std::size_t channels = rep.config().net.in_channels;
    const bool train = a.split == "train";
    const tensor<float> images = train ? md.cd.train_images : dataset_images(md.data.test, all_rows(md.data.test.size()), channels);
    const matrix<float> F = rep.features(images, a.features == "gf");
    std::vector<double> y = train ? std::vector<double>(F.rows(), 0.0) : std::vector<double>(md.cd.test_labels.begin(), md.cd.test_labels.end());
    if (parallel().writer) {
        save_npy<float>(a.out, F.view());
        if (!a.labels.empty()) save_npy(a.labels, y);
    }
    std::printf("features=%s rows=%zu dim=%zu class=%d split=%s out=%s\n", a.features.c_str(), F.rows(), F.cols(), md.cls,
                a.split.c_str(), a.out.c_str());
    return 0;
}

}  // namespace oneclass::cli
