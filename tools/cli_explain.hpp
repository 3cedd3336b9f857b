// tools/cli_explain.hpp - `oneclass explain`: why a detector on a trained representation finds
// images anomalous, as heat maps (explain/).
//
//   oneclass explain --model M --dataset fashion-mnist [--which anomalous|normal|all] [--count 16]
//                    --detector kde,gde,ocsvm,proxy --method gradient,ig,gradcam [--steps 32]
//                    [--baseline black|blur|mean] [--rule riemann|gauss-legendre] [--stage 4]
//                    [--features f|gf] [--pointing-game SIDE] --out DIR
//   oneclass explain --model M --images DIR (--train DIR | --dataset D) ... --out DIR
//
// Detectors are fitted on the features of the model's training class (or of --train's images);
// `proxy` is the proxy's own score (RotNet's -p(y = 0 | x), the autoencoder's error). With
// --pointing-game SIDE, held-out normal test images get a SIDE x SIDE noise square pasted at a
// random place and the hit rates of each explanation are reported against chance.
//
// Writes DIR/<detector>-<method>.npy (N x H x W float32 maps), DIR/images/<i>-<detector>-<method>.png
// (input | heat map | overlay, normalised per image to [0, its 99.5th percentile]), DIR/grid.png
// (one row per image, the first 16: the input, then one overlay per detector and method, in the
// order of --detector and --method) and DIR/explain.csv
// (per image: score, IG's baseline score and completeness gap, pointing-game hits, seconds).
#pragma once

#include "cli_common.hpp"
#include "cli_mvtec.hpp"
#include "cli_run.hpp"

#include <oneclass/data/image_source.hpp>
#include <oneclass/data/npy.hpp>
#include <oneclass/explain/pointing_game.hpp>
#include <oneclass/explain/targets.hpp>
#include <oneclass/viz/heatmap.hpp>

#include <chrono>
#include <cstdio>

namespace oneclass::cli {

struct explain_args {
    std::string model, dataset, root, images, train, attribute = "Eyeglasses", out;
    std::string detectors = "kde", methods = "gradient,ig,gradcam", baseline = "black", rule = "riemann", features = "f",
                which = "anomalous";
    std::size_t steps = 32, count = 16, stage = 4, pointing_game = 0, batch = 32;
    std::uint64_t seed = 0;
};

namespace explain_detail {
/// Image n of an N x C x H x W tensor in [0, 1] as 8-bit pixels.
inline image_u8 tensor_image(const tensor<float>& x, std::size_t n) {
    const std::size_t C = x.shape(1), H = x.shape(2), W = x.shape(3);
    image_u8 img{H, W, C, std::vector<std::uint8_t>(H * W * C)};
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t p = 0; p < H * W; ++p)
            img.pixels[p * C + c] = std::uint8_t(std::lround(255.0 * std::clamp(double(x.data()[(n * C + c) * H * W + p]), 0.0, 1.0)));
    return img;
}

inline image_u8 square_mask(std::size_t H, std::size_t W, const explain::pasted_square& s) {
    image_u8 m{H, W, 1, std::vector<std::uint8_t>(H * W)};
    for (std::size_t y = 0; y < H; ++y)
        for (std::size_t x = 0; x < W; ++x) m.pixels[y * W + x] = s.contains(y, x) ? 255 : 0;
    return m;
}

/// `count` indices of [0, n) whose `pick` holds, in a seeded random order.
template <class F>
std::vector<std::size_t> pick_rows(std::size_t n, std::size_t count, std::uint64_t seed, F&& pick) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < n; ++i)
        if (pick(i)) rows.push_back(i);
    rng r(seed);
    for (std::size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[r.below(i)]);
    if (rows.size() > count) rows.resize(count);
    std::sort(rows.begin(), rows.end());
    return rows;
}
}  // namespace explain_detail

inline int run_explain(const explain_args& a, const detector_options& det_opts) {
    using clock = std::chrono::steady_clock;
    require(!a.model.empty() && !a.out.empty(), "cli", "explain needs --model and --out");
    require(!a.dataset.empty() || !a.images.empty(), "cli", "explain needs --dataset or --images");
    require(a.images.empty() || !a.dataset.empty() || !a.train.empty(), "cli",
            "--images: give --train DIR (normal images to fit the detectors on) or the model's --dataset");
    require(a.train.empty() || !a.images.empty(), "cli", "--train applies with --images");
    require(a.pointing_game == 0 || a.images.empty(), "cli", "--pointing-game pastes squares into the dataset's normal test images; drop --images");
    require(a.which == "anomalous" || a.which == "normal" || a.which == "all", "cli", "--which must be anomalous, normal or all, got '",
            a.which, "'");
    require(a.features == "f" || a.features == "gf", "cli", "--features must be f or gf, got '", a.features, "'");
    require(a.count >= 1, "cli", "--count must be >= 1");
    std::vector<explain::method> methods;
    for (const auto& m : split_list(a.methods, "--method")) methods.push_back(explain::parse_method(m));
    explain::ig_params ig;
    ig.steps = a.steps;
    ig.from = explain::parse_baseline(a.baseline);
    require(a.rule == "riemann" || a.rule == "gauss-legendre", "cli", "--rule must be riemann or gauss-legendre, got '", a.rule, "'");
    ig.rule = a.rule == "riemann" ? explain::quadrature::riemann : explain::quadrature::gauss_legendre;
    ig.batch = a.batch;
    (void)explain::quadrature_rule(a.steps, ig.rule);  // checks --steps before any work
    const auto names = split_list(a.detectors, "--detector");
    for (const auto& n : names)
        if (n != "proxy") {
            check_detector_name(n);
            require(builtin_detectors::differentiable(n), "cli", "--detector ", n, " has no score gradient (",
                    [] {
                        std::string s;
                        for (const auto& d : builtin_detectors::differentiable_names()) s += d + ", ";
                        return s + "proxy";
                    }(),
                    ")");
        }
    check_output_dir(a.out, "--out");

    auto rep = pipeline::representation::load(a.model);
    const bool head = a.features == "gf";
    require(!head || rep.uses_head(), "cli", "--features gf: a ", rep.config().method, " model has no projection head");
    require(a.stage >= 1 && a.stage <= rep.encoder().stages(), "cli", "--stage must be 1..", rep.encoder().stages(), ", got ", a.stage);
    const std::size_t channels = rep.config().net.in_channels;
    std::string proxy_score;
    for (const auto& n : names)
        if (n == "proxy") {
            const auto ps = rep.proxy_score_names();
            require(!ps.empty(), "cli", "--detector proxy: a ", rep.config().method, " model has no score of its own");
            proxy_score = ps.front();
        }

    // the images to explain, and the normal images to fit the detectors on
    tensor<float> fit_images, images;
    std::vector<std::string> labels;  // per image, for the CSV
    std::vector<explain::pasted_square> squares;
    tensor<float> clean;  // the pointing game's images before the squares went in
    if (!a.images.empty()) {
        const auto size = rep.metadata("image_size");
        const std::size_t S = model_record(a.model, "image_size", size);
        const image_folder_source src(a.images, S, channels);
        images = gather_range(src, 0, std::min(src.size(), a.count));
        for (std::size_t i = 0; i < images.shape(0); ++i) labels.push_back("image");
        if (!a.train.empty()) {
            const image_folder_source tr(a.train, S, channels);
            fit_images = gather_range(tr, 0, tr.size());
        }
    }
    if (!a.dataset.empty()) {
        model_data md = load_model_data(rep, a.model, a.dataset, a.root, 0, a.attribute, "");
        if (fit_images.size() == 0) fit_images = std::move(md.cd.train_images);
        if (images.size() == 0) {
            const auto& y = md.cd.test_labels;
            const std::string which = a.pointing_game ? "normal" : a.which;
            const auto rows = explain_detail::pick_rows(y.size(), a.count, a.seed, [&](std::size_t i) {
                return which == "all" || (which == "anomalous") == (y[i] == 1);
            });
            require(!rows.empty(), "cli", "the test split has no ", which, " images");
            images = dataset_images(md.data.test, rows, channels);
            for (const auto r : rows) labels.push_back(y[r] ? "anomalous" : "normal");
            if (a.pointing_game) {
                clean = images.clone();
                squares = explain::paste_noise_squares(images, a.pointing_game, a.seed);
                for (auto& l : labels) l = "pasted";
            }
        }
    }
    require(images.shape(2) == fit_images.shape(2) && images.shape(3) == fit_images.shape(3), "cli", "images are ",
            images.shape(2), " px, the detectors' training images ", fit_images.shape(2), " px");
    const std::size_t N = images.shape(0), H = images.shape(2), W = images.shape(3);
    if (ig.from == explain::baseline::mean) {  // the training images' channel means
        ig.channel_mean.assign(channels, 0.0f);
        const std::size_t HW = H * W, M = fit_images.shape(0);
        for (std::size_t c = 0; c < channels; ++c) {
            double s = 0;
            for (std::size_t n = 0; n < M; ++n)
                for (std::size_t p = 0; p < HW; ++p) s += fit_images.data()[(n * channels + c) * HW + p];
            ig.channel_mean[c] = float(s / double(M * HW));
        }
    }

    // the detectors, fitted on the features of the normal images
    std::vector<any_detector<float>> dets;
    dets.reserve(names.size());
    const matrix<float> F = rep.features(fit_images, head);
    std::vector<explain::target> targets;
    for (const auto& n : names) {
        if (n == "proxy") {
            targets.push_back(explain::proxy_target(rep, proxy_score, a.stage));
            continue;
        }
        dets.push_back(make_detector(with_name(det_opts, n)));
        const fit_report fr = std::visit([&](auto& d) { return d.fit(F.view()); }, dets.back());
        if (!fr.converged) std::fprintf(stderr, "oneclass: %s: %s\n", n.c_str(), fr.message.c_str());
        targets.push_back(explain::detector_target(rep, dets.back(), head, a.stage));
    }

    fs::create_directories(fs::path(a.out) / "images");
    const std::size_t k = std::max<std::size_t>(1, (112 + std::max(H, W) - 1) / std::max(H, W));  // shown >= 112 px
    // each image as shown (enlarged), its square's mask, and the input framed by that outline: once
    std::vector<image_u8> shown(N), masks(squares.empty() ? 0 : N), framed(N);
    for (std::size_t n = 0; n < N; ++n) {
        shown[n] = viz::enlarge(explain_detail::tensor_image(images, n), k);
        framed[n] = viz::as_rgb(shown[n]);
        if (!squares.empty()) {
            masks[n] = viz::enlarge(explain_detail::square_mask(H, W, squares[n]), k);
            viz::draw_contour(framed[n], masks[n]);
        }
    }
    std::vector<std::vector<image_u8>> grid(std::min<std::size_t>(N, 16));  // the grid shows the first 16 images
    for (std::size_t n = 0; n < grid.size(); ++n) grid[n].push_back(framed[n]);
    std::string csv = "image,kind,detector,method,score,baseline_score,completeness_gap,hit_max,mass_inside,seconds_per_image\n";
    struct hits {
        std::string det, method;
        double hit_max = 0, hit_mass = 0, mass = 0, seconds = 0, auc = 0;
    };
    std::vector<hits> summary;
    for (std::size_t d = 0; d < names.size(); ++d) {
        double auc = 0;
        if (!squares.empty()) {  // whether the detector sees the squares at all: pasted against clean images
            std::vector<double> s = explain::detail::scores_only(targets[d], images);
            const auto sc = explain::detail::scores_only(targets[d], clean);
            s.insert(s.end(), sc.begin(), sc.end());
            std::vector<int> y(N, 1);
            y.resize(2 * N, 0);
            auc = roc_auc(s, y);
        }
        for (const auto m : methods) {
            const auto t0 = clock::now();
            const explain::attribution at = explain::explain(targets[d], images, m, ig);
            const double per_image = std::chrono::duration<double>(clock::now() - t0).count() / double(N);
            const std::string tag = names[d] + "-" + explain::method_name(m);
            save_npy(fs::path(a.out) / (tag + ".npy"), at.map.data(), {N, H, W});
            hits h{names[d], explain::method_name(m), 0, 0, 0, per_image, auc};
            for (std::size_t n = 0; n < N; ++n) {
                const float* map = at.map.data() + n * H * W;
                const double hi = viz::upper_quantile(map, H * W, 0.995);
                std::vector<float> big(H * W * k * k);
                for (std::size_t y = 0; y < H * k; ++y)
                    for (std::size_t x = 0; x < W * k; ++x) big[y * W * k + x] = map[(y / k) * W + x / k];
                image_u8 ov = viz::overlay(shown[n], big.data(), 0.0, hi);
                if (!squares.empty()) viz::draw_contour(ov, masks[n]);
                save_png(fs::path(a.out) / "images" / (std::to_string(n) + "-" + tag + ".png"),
                         viz::panel({framed[n], viz::colorize(big.data(), H * k, W * k, 0.0, hi), ov}));
                if (n < grid.size()) grid[n].push_back(std::move(ov));
                explain::pointing_result pg;
                if (!squares.empty()) {
                    pg = explain::pointing_game(map, H, W, squares[n]);
                    h.hit_max += pg.hit_max, h.hit_mass += pg.hit_mass, h.mass += pg.mass_inside;
                }
                char b[512];
                const bool is_ig = m == explain::method::integrated_gradients;
                std::snprintf(b, sizeof b, "%zu,%s,%s,%s,%.9g,%s,%s,%s,%s,%.6g\n", n, labels[n].c_str(), names[d].c_str(),
                              explain::method_name(m), at.score[n], is_ig ? std::to_string(at.baseline_score[n]).c_str() : "",
                              is_ig ? std::to_string(at.completeness_gap[n]).c_str() : "",
                              squares.empty() ? "" : (pg.hit_max ? "1" : "0"),
                              squares.empty() ? "" : std::to_string(pg.mass_inside).c_str(), per_image);
                csv += b;
            }
            if (m == explain::method::integrated_gradients) {
                double worst = 0, worst_rel = 0;
                for (std::size_t n = 0; n < N; ++n) {
                    worst = std::max(worst, at.completeness_gap[n]);
                    const double delta = std::abs(at.score[n] - at.baseline_score[n]);
                    if (delta > 0) worst_rel = std::max(worst_rel, at.completeness_gap[n] / delta);
                }
                std::printf("%s %s: %.3f s per image, completeness gap max %.3g (%.2g %% of |s(x) - s(baseline)|)\n",
                            names[d].c_str(), explain::method_name(m), per_image, worst, 100 * worst_rel);
            } else {
                std::printf("%s %s: %.3f s per image\n", names[d].c_str(), explain::method_name(m), per_image);
            }
            summary.push_back(h);
        }
    }
    std::vector<image_u8> rows;
    for (const auto& r : grid) rows.push_back(viz::panel(r));
    save_png(fs::path(a.out) / "grid.png", viz::stack(rows));
    write_file_atomic(fs::path(a.out) / "explain.csv", csv, "cli");
    if (!squares.empty()) {
        const double chance = double(a.pointing_game * a.pointing_game) / double(H * W);
        std::printf("pointing game: %zu images, %zu x %zu noise squares, chance (area share) %.3f\n", N, a.pointing_game,
                    a.pointing_game, chance);
        std::printf("%-10s %-9s %8s %9s %12s %18s\n", "detector", "method", "hit_max", "hit_mass", "mass_inside",
                    "auc_pasted_clean");
        for (const auto& h : summary)
            std::printf("%-10s %-9s %8.3f %9.3f %12.3f %18.3f\n", h.det.c_str(), h.method.c_str(), h.hit_max / double(N),
                        h.hit_mass / double(N), h.mass / double(N), h.auc);
    }
    std::printf("images=%zu out=%s\n", N, a.out.c_str());
    return 0;
}

}  // namespace oneclass::cli
