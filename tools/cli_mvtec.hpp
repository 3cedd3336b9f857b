// tools/cli_mvtec.hpp - defect detection and localisation on MVTec AD from the command line:
//
//   oneclass train --dataset mvtec --root R --category C --patch 32 --method M --preset P --out MODEL
//   oneclass eval  --dataset mvtec --root R --category C --model MODEL --detector kde,gde [--heatmaps DIR]
//   oneclass eval  --dataset mvtec --root R --category C --features raw     (1-NN on raw patch pixels)
//   oneclass run   --dataset mvtec --root R --categories all|c1,c2 --method M --preset P --out-dir D
//   oneclass localize --model MODEL --detector-model DET --images DIR --out DIR
//
// A representation is trained on P x P patches drawn at random from the category's normal
// training images (resized to --image-size); each detector is fitted on the features of
// --fit-patches seeded training patches and scores every patch of each test image at --stride;
// the image's score is its map's maximum, the pixel map the map's Gaussian upsampling
// (pipeline/localisation.hpp). Reported per category and detector: image ROC AUC, pixel ROC AUC
// and PRO (eval/localisation.hpp), then their means over textures, objects and all categories.
#pragma once

#include "cli_common.hpp"
#include "cli_train.hpp"

#include <oneclass/data/mvtec.hpp>
#include <oneclass/eval/localisation.hpp>
#include <oneclass/pipeline/localisation.hpp>
#include <oneclass/pipeline/patch_model.hpp>
#include <oneclass/pipeline/representation.hpp>
#include <oneclass/viz/heatmap.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>

namespace oneclass::cli {

struct mvtec_args {
    std::string root, category, categories = "all", model, detectors = "kde,gde", features = "f", out_dir = "results";
    std::string heatmaps, save_detectors, save_models, out, grayscale = "replicate", textures = "carpet,grid,leather,tile,wood";
    std::optional<std::size_t> patch, image_size, patches, fit_patches;
    std::size_t stride = 4;
    train_options train;
};

/// The patch presets (per epoch: `patches` random patches of the category's training images).
/// quick trains a category in minutes on 2 cores (ResNet-10 at width 1/4, 96k patches), standard
/// a ResNet-18 at 1/4 on 320k, paper is the paper's network and schedule for bigger machines (2048
/// epochs of one random patch per training image: our reading of its recipe).
struct patch_preset {
    pipeline::representation_config config;
    std::size_t patches = 0, fit_patches = 10000;  ///< patches: 0 = one per training image
};

inline patch_preset patch_preset_of(const std::string& name) {
    patch_preset p{preset_config(name)};
    if (name == "quick") {
        p.config.epochs = 6;
        p.patches = 16000;
        p.fit_patches = 10000;
    } else if (name == "standard") {
        p.config.epochs = 10;
        p.patches = 32000;
        p.fit_patches = 20000;
    } else {
        p.patches = 0;
        p.fit_patches = 50000;
    }
    return p;
}

/// A whole-number record of a model file ("patch", "image_size"), or a one-line error naming it.
inline std::size_t model_record(const std::string& model, const char* key, const std::optional<std::string>& v) {
    std::size_t n = 0;
    const bool ok = v && !v->empty() && std::from_chars(v->data(), v->data() + v->size(), n).ptr == v->data() + v->size();
    require(ok && n > 0, "cli", "--model '", model, "': record '", key, "' is ", v ? "'" + *v + "'" : std::string("missing"),
            ", not a positive whole number");
    return n;
}

inline std::size_t mvtec_channels(const std::string& grayscale) {
    require(grayscale == "replicate" || grayscale == "keep", "cli", "--grayscale must be replicate or keep, got '", grayscale, "'");
    return grayscale == "keep" ? 0 : 3;
}

inline localisation_params patch_params_of(std::size_t patch, std::size_t stride, std::size_t image_size) {
    require(patch >= 8 && patch <= image_size, "cli", "--patch must be in 8..--image-size (", image_size, "), got ", patch);
    require(stride >= 1 && stride <= patch, "cli", "--stride must be in 1..--patch (", patch, "), got ", stride);
    require(image_size % stride == 0, "cli", "--image-size ", image_size, " must be a multiple of --stride ", stride);
    return {.patch = patch, .stride = stride};
}

// ---- train ----------------------------------------------------------------------------------------
/// Trains a patch representation on one category; returns the seconds spent.
inline double train_mvtec(pipeline::representation& rep, const mvtec_category& cat, std::size_t patch, std::size_t patches,
                          std::uint64_t seed, const train_options& t, const std::string& label) {
    const patch_sampler<mvtec_split> sampler(cat.train(), {.side = patch, .count = patches, .seed = seed});
    const bool writer = parallel().writer;  // under mpirun: rank 0
    progress_reporter progress(writer ? t.progress : "none", writer ? t.metrics : "", label, {{"category", cat.name()}, {"seed", seed}});
    return train_with_progress(rep, sampler, progress);
}

struct mvtec_setup {
    pipeline::representation_config config;
    std::size_t patch, image_size, patches, fit_patches;
};

inline mvtec_setup mvtec_setup_of(const mvtec_args& a, std::size_t train_images) {
    auto pp = patch_preset_of(a.train.preset);
    train_options t = a.train;
    auto cfg = build_config(t);  // the method, overrides and checks of every train command
    cfg.epochs = a.train.epochs.value_or(pp.config.epochs);
    const std::size_t image_size = a.image_size.value_or(256), patch = a.patch.value_or(32);
    require(image_size >= 16 && image_size <= 4096, "cli", "--image-size must be in 16..4096, got ", image_size);
    (void)patch_params_of(patch, a.stride, image_size);
    const std::size_t patches = a.patches.value_or(pp.patches ? pp.patches : train_images);
    require(patches >= 1, "cli", "--patches must be >= 1");
    const std::size_t fit = a.fit_patches.value_or(pp.fit_patches);
    require(fit >= 2, "cli", "--fit-patches must be >= 2, got ", fit);
    return {cfg, patch, image_size, patches, fit};
}

inline int run_mvtec_train(const mvtec_args& a) {
    require(!a.out.empty(), "cli", "--out MODEL is required");
    require(!a.category.empty(), "cli", "--category is required with --dataset mvtec");
    check_output_file(a.out, "--out");
    check_output_file(a.train.metrics, "--metrics");
    const mvtec_category cat(a.root, a.category, {.image_size = a.image_size.value_or(256), .channels = mvtec_channels(a.grayscale)});
    const mvtec_setup s = mvtec_setup_of(a, cat.train().size());
    pipeline::representation rep(s.config, cat.channels());
    if (!a.train.metrics.empty()) fs::remove(a.train.metrics + ".tmp");
    install_sigint_handler();
    const double train_s = train_mvtec(rep, cat, s.patch, s.patches, s.config.seed, a.train, a.category);
    if (!parallel().writer) return 0;
    rep.save(a.out, {{"dataset", "mvtec"},
                     {"category", a.category},
                     {"patch", std::to_string(s.patch)},
                     {"image_size", std::to_string(s.image_size)},
                     {"patches_per_epoch", std::to_string(s.patches)},
                     {"preset", a.train.preset},
                     {"train_s", json_number(train_s).dump()}});
    std::printf("model=%s method=%s category=%s patch=%zu epochs=%zu patches_per_epoch=%zu train_s=%.1f\n", a.out.c_str(),
                s.config.method.c_str(), a.category.c_str(), s.patch, s.config.epochs, s.patches, train_s);
    return 0;
}

// ---- evaluation -------------------------------------------------------------------------------------
struct mvtec_row {
    std::string category, detector;
    double image_auc, pixel_auc, pro, fit_s, score_s, train_s = NAN;
};

/// The display range of a set of maps: their smallest and largest pixel (one range per category
/// and detector, so that pictures of one test set compare).
inline std::pair<double, double> map_range(const std::vector<anomaly_map>& maps) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& m : maps)
        for (const float v : m.pixels) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
    return {lo, hi};
}

/// DIR/<category>/<detector>/: one panel per test image (input | map | overlay, ground truth
/// outlined), grid.png (the three highest-, median- and lowest-scoring images, top to bottom),
/// maps.npy (N x H x W float32) and scores.csv.
inline void write_heatmaps(const fs::path& dir, const mvtec_category& cat, const std::vector<anomaly_map>& maps) {
    fs::create_directories(dir);
    const auto [lo, hi] = map_range(maps);
    const std::size_t N = maps.size(), H = maps[0].height, W = maps[0].width;
    std::vector<float> all(N * H * W);
    std::string csv = "file,defect,label,score\n";
    std::vector<image_u8> panels(N);
    for (std::size_t i = 0; i < N; ++i) {
        const image_u8 img = cat.test().decode(i), mask = cat.test().mask(i);
        panels[i] = viz::localisation_panel(img, maps[i].pixels.data(), lo, hi, cat.test().label(i) ? &mask : nullptr);
        const auto& it = cat.test()[i];
        save_png(dir / (it.defect + "_" + it.image.stem().string() + ".png"), panels[i]);
        std::copy(maps[i].pixels.begin(), maps[i].pixels.end(), all.begin() + std::ptrdiff_t(i * H * W));
        char b[64];
        std::snprintf(b, sizeof b, "%.9g", maps[i].score);
        csv += csv_quoted(fs::relative(it.image, fs::path(it.image).parent_path().parent_path()).string()) + "," +
               csv_quoted(it.defect) + "," + std::to_string(cat.test().label(i)) + "," + b + "\n";
    }
    std::vector<std::size_t> order(N);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return maps[x].score > maps[y].score; });
    std::vector<std::size_t> pick;
    const auto add = [&](std::size_t from) {
        for (std::size_t k = from; k < std::min(N, from + 3); ++k)
            if (std::find(pick.begin(), pick.end(), order[k]) == pick.end()) pick.push_back(order[k]);
    };
    add(0), add(N > 3 ? N / 2 - 1 : 0), add(N > 3 ? N - 3 : 0);
    std::vector<image_u8> rows;
    for (const std::size_t k : pick) rows.push_back(panels[k]);
    save_png(dir / "grid.png", viz::stack(rows, 8));
    save_npy(dir / "maps.npy", all.data(), {N, H, W});
    write_file_atomic(dir / "scores.csv", csv, "cli");
}

/// Fits each detector on sampled training patches and scores the category's test set; one row
/// per detector (pictures under heatmaps/<category>/<detector>/ when heatmaps is set, detectors
/// saved under save_detectors/<category>-<detector>.ocm, and whole patch models, representation
/// and detector in one file, under save_models/<category>-<detector>.ocp).
/// Under mpirun (a data-parallel representation) every rank runs all of this: the features of
/// the fitting patches and of each pass of test images are extracted split across the ranks
/// (representation::features), the rest is the same on every rank, and rank 0 writes.
template <class Rep>
void evaluate_mvtec(Rep& rep, const mvtec_category& cat, const localisation_params& lp, std::size_t fit_patches, std::uint64_t seed,
                    const std::vector<std::string>& names, const detector_options& det_opts, const std::string& heatmaps,
                    const std::string& save_detectors, const std::string& save_models, std::vector<mvtec_row>& rows) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const matrix<float> X = sample_patch_features(rep, cat.train(), fit_patches, seed, lp);
    const double feat_s = std::chrono::duration<double>(clock::now() - t0).count();
    std::vector<any_detector<float>> dets;
    std::vector<double> fit_s;
    for (const auto& name : names) {
        dets.push_back(make_detector(with_name(det_opts, name)));
        const auto t1 = clock::now();
        const fit_report r = std::visit([&](auto& d) { return d.fit(X.view()); }, dets.back());
        if (!r.converged) std::fprintf(stderr, "oneclass: warning: %s: %s\n", name.c_str(), r.message.c_str());
        fit_s.push_back(feat_s + std::chrono::duration<double>(clock::now() - t1).count());
    }
    std::vector<const any_detector<float>*> ptrs;
    for (const auto& d : dets) ptrs.push_back(&d);
    const auto t2 = clock::now();
    const auto maps = localize(rep, ptrs, cat.test(), lp);
    const double score_s = std::chrono::duration<double>(clock::now() - t2).count();
    std::vector<int> labels;
    std::vector<std::uint8_t> masks;
    for (std::size_t i = 0; i < cat.test().size(); ++i) {
        labels.push_back(cat.test().label(i));
        const image_u8 m = cat.test().mask(i);
        masks.insert(masks.end(), m.pixels.begin(), m.pixels.end());
    }
    const std::size_t S = cat.image_size();
    for (std::size_t d = 0; d < names.size(); ++d) {
        std::vector<double> image_scores;
        std::vector<float> pixels;
        pixels.reserve(masks.size());
        for (const auto& m : maps[d]) {
            image_scores.push_back(m.score);
            pixels.insert(pixels.end(), m.pixels.begin(), m.pixels.end());
        }
        const bool both = std::count(labels.begin(), labels.end(), 1) && std::count(labels.begin(), labels.end(), 0);
        mvtec_row r{cat.name(), names[d], both ? roc_auc(image_scores, labels) : NAN,
                    both ? pixel_roc_auc(pixels, masks) : NAN, both ? pro_auc(pixels, masks, S, S) : NAN, fit_s[d], score_s};
        std::fprintf(stderr, "%s %s: image_auc=%.4f pixel_auc=%.4f pro=%.4f (fit %.1fs, score %.1fs for %zu images)\n",
                     r.category.c_str(), r.detector.c_str(), r.image_auc, r.pixel_auc, r.pro, r.fit_s, r.score_s,
                     cat.test().size());
        rows.push_back(r);
        if (!parallel().writer) continue;  // under mpirun: every rank computed the maps, rank 0 writes
        if (!heatmaps.empty()) write_heatmaps(fs::path(heatmaps) / cat.name() / names[d], cat, maps[d]);
        if (!save_detectors.empty()) {
            fs::create_directories(save_detectors);
            std::visit([&](const auto& x) { save_model(x, fs::path(save_detectors) / (cat.name() + "-" + names[d] + ".ocm")); },
                       dets[d]);
        }
        if constexpr (requires { rep.bytes(); })
            if (!save_models.empty()) {
                fs::create_directories(save_models);
                pipeline::patch_model::write(fs::path(save_models) / (cat.name() + "-" + names[d] + ".ocp"), rep, dets[d], lp, S);
            }
    }
}

inline double mean_of(const std::vector<mvtec_row>& rows, const std::string& det, double mvtec_row::*field, int texture,
                      const std::vector<std::string>& textures) {
    double s = 0;
    int n = 0;
    for (const auto& r : rows) {
        const bool is_texture = std::find(textures.begin(), textures.end(), r.category) != textures.end();
        if (r.detector == det && (texture < 0 || is_texture == bool(texture))) s += r.*field, ++n;
    }
    return n ? s / n : NAN;
}

/// The table (category x detector: image_auc pixel_auc pro), the means over textures, objects
/// and all, and STEM.csv / STEM.json.
inline void report_mvtec(const std::vector<mvtec_row>& rows, const std::vector<std::string>& names, const fs::path& stem,
                         const std::string& features, const detector_options& o, const std::string& texture_list) {
    const auto textures = split_list(texture_list, "--textures");
    std::printf("%-12s %-10s %9s %9s %9s\n", "category", "detector", "image_auc", "pixel_auc", "pro");
    for (const auto& r : rows)
        std::printf("%-12s %-10s %9.4f %9.4f %9.4f\n", r.category.c_str(), r.detector.c_str(), r.image_auc, r.pixel_auc, r.pro);
    nlohmann::ordered_json js;
    js["dataset"] = "mvtec";
    js["features"] = features;
    js["normalize"] = o.normalize;
    js["means"] = nlohmann::ordered_json::object();
    for (const auto& d : names)
        for (const auto& [group, t] : {std::pair<const char*, int>{"textures", 1}, {"objects", 0}, {"all", -1}}) {
            const double ia = mean_of(rows, d, &mvtec_row::image_auc, t, textures),
                         pa = mean_of(rows, d, &mvtec_row::pixel_auc, t, textures), pr = mean_of(rows, d, &mvtec_row::pro, t, textures);
            if (std::isnan(ia) && t >= 0) continue;
            std::printf("mean_%s %-10s %9.4f %9.4f %9.4f\n", group, d.c_str(), ia, pa, pr);
            js["means"][d][group] = {{"image_auc", json_number(ia)}, {"pixel_auc", json_number(pa)}, {"pro", json_number(pr)}};
        }
    std::string csv = "category,detector,image_auc,pixel_auc,pro,fit_s,score_s,train_s\n";
    js["results"] = nlohmann::ordered_json::array();
    const auto num = [](double v) -> std::string {
        if (!std::isfinite(v)) return "null";
        char b[64];
        std::snprintf(b, sizeof b, "%.10g", v);
        return b;
    };
    for (const auto& r : rows) {
        csv += csv_quoted(r.category) + "," + csv_quoted(r.detector) + "," + num(r.image_auc) + "," + num(r.pixel_auc) + "," +
               num(r.pro) + "," + num(r.fit_s) + "," + num(r.score_s) + "," + num(r.train_s) + "\n";
        js["results"].push_back({{"category", r.category},
                                 {"detector", r.detector},
                                 {"image_auc", json_number(r.image_auc)},
                                 {"pixel_auc", json_number(r.pixel_auc)},
                                 {"pro", json_number(r.pro)},
                                 {"fit_s", json_number(r.fit_s)},
                                 {"score_s", json_number(r.score_s)},
                                 {"train_s", json_number(r.train_s)}});
    }
    if (parallel().writer) {  // under mpirun: rank 0
        write_file_atomic(stem.string() + ".json", js.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "cli");
        write_file_atomic(stem.string() + ".csv", csv, "cli");
    }
    std::printf("results=%s.{json,csv}\n", stem.string().c_str());
}

inline std::vector<std::string> mvtec_category_list(const std::string& root, const std::string& list) {
    const auto known = mvtec_category::categories(root);
    if (list == "all") {
        require(!known.empty(), "cli", "--root '", root, "' holds no MVTec categories (folders with train/good)");
        return known;
    }
    return split_list(list, "--categories");
}

inline void check_mvtec_eval_flags(const mvtec_args& a, const std::vector<std::string>& names, const detector_options& det_opts) {
    for (const auto& n : names) (void)make_detector(with_name(det_opts, n));
    check_output_dir(a.out_dir, "--out-dir");
    if (!a.heatmaps.empty()) check_output_dir(a.heatmaps, "--heatmaps");
    if (!a.save_detectors.empty()) check_output_dir(a.save_detectors, "--save-detectors");
    if (!a.save_models.empty()) check_output_dir(a.save_models, "--save-models");
    require(a.save_models.empty() || a.features != "raw", "cli", "--save-models: raw pixels are not a patch model");
}

inline int run_mvtec_eval(const mvtec_args& a, const detector_options& det_opts) {
    require(!a.category.empty(), "cli", "--category is required with --dataset mvtec");
    const auto names = split_list(a.detectors, "--detector");
    check_mvtec_eval_flags(a, names, det_opts);
    std::vector<mvtec_row> rows;
    std::string features = a.features, tag = "raw";
    if (a.model.empty()) {  // the raw-pixel baseline
        require(a.features == "raw", "cli", "--features ", a.features, " needs --model (a file from 'oneclass train --dataset mvtec')");
        const mvtec_category cat(a.root, a.category, {.image_size = a.image_size.value_or(256), .channels = mvtec_channels(a.grayscale)});
        const localisation_params lp = patch_params_of(a.patch.value_or(32), a.stride, cat.image_size());
        fs::create_directories(a.out_dir);
        raw_pixels raw;
        evaluate_mvtec(raw, cat, lp, a.fit_patches.value_or(10000), a.train.seed, names, det_opts, a.heatmaps, a.save_detectors, a.save_models, rows);
    } else {
        auto rep = pipeline::representation::load(a.model);
        const auto meta = [&](const char* k) {
            const auto v = rep.metadata(k);
            require(v.has_value(), "cli", "--model '", a.model, "' has no '", k, "' record (not from 'oneclass train --dataset mvtec'?)");
            return *v;
        };
        require(meta("dataset") == "mvtec", "cli", "--model '", a.model, "' was trained on ", meta("dataset"), ", not mvtec");
        require(a.features == "f" || a.features == "gf", "cli", "--features must be f, gf or raw, got '", a.features, "'");
        require(a.features == "f" || rep.uses_head(), "cli", "--features gf: a ", rep.config().method, " model has no projection head");
        if (parallel().setup) parallel().setup(rep);  // under mpirun: the patches' features extracted split across ranks
        const std::size_t patch = model_record(a.model, "patch", meta("patch")),
                          size = model_record(a.model, "image_size", meta("image_size"));
        require(!a.patch || *a.patch == patch, "cli", "--patch ", *a.patch, ": the model was trained on ", patch, " px patches");
        require(!a.image_size || *a.image_size == size, "cli", "--image-size ", *a.image_size, ": the model was trained at ", size);
        const std::size_t channels = rep.config().net.in_channels;
        const mvtec_category cat(a.root, a.category, {.image_size = size, .channels = channels});
        localisation_params lp = patch_params_of(patch, a.stride, size);
        lp.head = a.features == "gf";
        fs::create_directories(a.out_dir);
        evaluate_mvtec(rep, cat, lp, a.fit_patches.value_or(patch_preset_of(meta("preset")).fit_patches), rep.config().seed, names,
                       det_opts, a.heatmaps, a.save_detectors, a.save_models, rows);
        features = rep.config().method + "/" + a.features;
        tag = rep.config().method + "-" + a.features;
    }
    report_mvtec(rows, names, fs::path(a.out_dir) / ("eval-mvtec-" + a.category + "-" + tag), features, det_opts, a.textures);
    return 0;
}

inline int run_mvtec_pipeline(const mvtec_args& a, const detector_options& det_opts) {
    const auto names = split_list(a.detectors, "--detector");
    check_mvtec_eval_flags(a, names, det_opts);
    check_output_file(a.train.metrics, "--metrics");
    require(a.features == "f" || a.features == "gf", "cli", "--features must be f or gf with run, got '", a.features, "'");
    const auto categories = mvtec_category_list(a.root, a.categories);
    std::vector<mvtec_category> cats;  // every category opened and checked before any training
    for (const auto& c : categories)
        cats.emplace_back(a.root, c, mvtec_options{.image_size = a.image_size.value_or(256), .channels = mvtec_channels(a.grayscale)});
    std::vector<mvtec_setup> setups;
    for (const auto& cat : cats) setups.push_back(mvtec_setup_of(a, cat.train().size()));
    require(a.features == "f" || pipeline::builtin_proxies::uses_head(setups[0].config.method), "cli", "--features gf: the ",
            setups[0].config.method, " method trains no projection head");
    fs::create_directories(a.out_dir);
    if (!a.train.metrics.empty()) fs::remove(a.train.metrics + ".tmp");
    install_sigint_handler();
    std::vector<mvtec_row> rows;
    for (std::size_t k = 0; k < cats.size(); ++k) {
        const mvtec_setup& s = setups[k];
        pipeline::representation rep(s.config, cats[k].channels());
        const double train_s = train_mvtec(rep, cats[k], s.patch, s.patches, s.config.seed, a.train, cats[k].name());
        std::fprintf(stderr, "%s: trained %zu epochs of %zu patches in %.1f s\n", cats[k].name().c_str(), s.config.epochs, s.patches,
                     train_s);
        localisation_params lp = patch_params_of(s.patch, a.stride, s.image_size);
        lp.head = a.features == "gf";
        const std::size_t first = rows.size();
        evaluate_mvtec(rep, cats[k], lp, s.fit_patches, s.config.seed, names, det_opts, a.heatmaps, a.save_detectors, a.save_models, rows);
        for (std::size_t i = first; i < rows.size(); ++i) rows[i].train_s = train_s;
    }
    report_mvtec(rows, names, fs::path(a.out_dir) / ("run-mvtec-" + a.train.method + "-" + a.train.preset),
                 a.train.method + "/" + a.features, det_opts, a.textures);
    return 0;
}

// ---- localize: a user's own images -----------------------------------------------------------------
struct localize_args {
    std::string model, detector_model, images, out, range;
    std::size_t stride = 4;
    std::string features = "f";
    bool features_given = false, stride_given = false;
};

/// The patch model of --model: a bundle (.ocp from --save-models), or a representation from
/// 'train --dataset mvtec' with --detector-model.
inline pipeline::patch_model localize_model(const localize_args& a) {
    const std::string bytes = read_file_bytes(a.model, "cli");
    if (unframe(bytes, std::max(pipeline::patch_model_format_version, pipeline::representation_format_version), a.model).kind ==
        "patch-model") {
        require(a.detector_model.empty(), "cli", "--model '", a.model, "' is a patch model with its detector: drop --detector-model");
        require(!a.features_given && !a.stride_given, "cli", "--features / --stride: the patch model '", a.model,
                "' records its own");
        return pipeline::patch_model::load(a.model);
    }
    require(!a.detector_model.empty(), "cli", "--detector-model is required with a representation model (or give a .ocp patch model)");
    auto rep = pipeline::representation::load(a.model);
    const auto patch_meta = rep.metadata("patch"), size_meta = rep.metadata("image_size");
    require(patch_meta && size_meta && rep.metadata("dataset") == std::optional<std::string>("mvtec"), "cli", "--model '", a.model,
            "' is not a patch model (from 'oneclass train --dataset mvtec')");
    const std::size_t patch = model_record(a.model, "patch", patch_meta), size = model_record(a.model, "image_size", size_meta);
    require(a.features == "f" || a.features == "gf", "cli", "--features must be f or gf, got '", a.features, "'");
    localisation_params lp = patch_params_of(patch, a.stride, size);
    lp.head = a.features == "gf";
    return pipeline::patch_model(std::move(rep), load_any_model<float>(a.detector_model), lp, size);
}

inline int run_localize(const localize_args& a) {
    require(!a.model.empty() && !a.images.empty() && !a.out.empty(), "cli", "localize needs --model, --images and --out");
    check_output_dir(a.out, "--out");
    auto model = localize_model(a);
    const auto files = detail::sorted_images(a.images);
    require(!files.empty(), "cli", "--images '", a.images, "' holds no PNG or JPEG files");
    std::vector<image_u8> imgs;
    for (const auto& f : files) imgs.push_back(load_image(f, model.channels()));
    const image_list_source src(imgs);
    const auto maps = model.localize(src);  // resized to the model's size; the detector checks the feature dimension
    std::pair<double, double> range = map_range(maps);
    if (!a.range.empty()) {
        const auto parts = split_list(a.range, "--range");
        const bool numbers = parts.size() == 2 && detail::parse_double(parts[0], range.first) &&
                             detail::parse_double(parts[1], range.second) && std::isfinite(range.first) && std::isfinite(range.second);
        require(numbers && range.first < range.second, "cli", "--range must be LO,HI with finite LO < HI, got '", a.range, "'");
    }
    fs::create_directories(a.out);
    const std::size_t S = model.image_size();
    std::string csv = "file,score\n";
    std::vector<float> all;
    for (std::size_t i = 0; i < files.size(); ++i) {
        const image_u8 shown = resize_area(imgs[i], S, S);
        save_png(fs::path(a.out) / (files[i].stem().string() + ".png"),
                 viz::localisation_panel(shown, maps[i].pixels.data(), range.first, range.second));
        char b[64];
        std::snprintf(b, sizeof b, "%.9g", maps[i].score);
        csv += csv_quoted(files[i].filename().string()) + "," + b + "\n";
        all.insert(all.end(), maps[i].pixels.begin(), maps[i].pixels.end());
        std::printf("%s score=%s\n", files[i].filename().string().c_str(), b);
    }
    save_npy(fs::path(a.out) / "maps.npy", all.data(), {files.size(), S, S});
    write_file_atomic(fs::path(a.out) / "scores.csv", csv, "cli");
    std::printf("images=%zu out=%s\n", files.size(), a.out.c_str());
    return 0;
}

}  // namespace oneclass::cli
