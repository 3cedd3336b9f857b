// oneclass-bench - throughput of the CNN core on the shapes we train.
//
//   oneclass-bench train-step --arch resnet18 --input 32x32x3 --batch 32 --steps 5 --threads 1
//   oneclass-bench infer      --arch resnet18 --input 32x32x3 --batch 32 --steps 5
//   oneclass-bench dense      --arch resnet10 --width 0.25 --input 256x256x3 --patch 32 --stride 4 --images 2
//
// train-step = forward of backbone + MLP head, cross-entropy on the head's output, backward and
// an SGD update; infer = backbone forward under no_grad (feature extraction). Prints
// images_per_s=<median over steps>, peak_rss_mb=<peak resident memory> and weights=<trained
// weights>. The first step is a warm-up and is not counted. benchmarks/compare_torch.py runs
// the same in PyTorch.
// dense = the localisation's dense scoring path (pipeline::dense_features: every P x P patch of
// --images images at --stride through the encoder, L2-normalised, --batch patches per pass);
// prints patches_per_s and seconds_per_image (medians over steps);
// benchmarks/compare_torch_dense.py runs PyTorch over the same unfolded patches.
//
// --seconds S keeps stepping past --steps until S seconds of timed steps have run, and
// --start-at T (Unix time, seconds) sleeps until T before the warm-up: compare_torch.py
// --concurrent uses both to run us and PyTorch over the same wall-clock window, one per vCPU.
#include <oneclass/core/platform.hpp>
#include <oneclass/core/profile.hpp>
#include <oneclass/nn/optim.hpp>
#include <oneclass/nn/resnet.hpp>
#include <oneclass/pipeline/localisation.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <CLI/CLI.hpp>
#include <tbb/global_control.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sys/resource.h>
#include <thread>

using namespace oneclass;

int main(int argc, char** argv) {
    CLI::App app{"oneclass-bench: CNN core throughput"};
    app.require_subcommand(1);
    std::string arch = "resnet18", input = "32x32x3";
    std::size_t batch = 32, steps = 5, threads = 1, head_depth = 8, head_width = 512, head_out = 128;
    double width = 1.0, seconds = 0.0, start_at = 0.0;
    bool profile = false;
    std::size_t patch = 32, stride = 4, images = 2;
    auto* dense = app.add_subcommand("dense", "dense patch features of whole images (the localisation path)");
    dense->add_option("--patch", patch)->check(CLI::PositiveNumber);
    dense->add_option("--stride", stride)->check(CLI::PositiveNumber);
    dense->add_option("--images", images, "images per step")->check(CLI::PositiveNumber);
    for (auto* cmd : {app.add_subcommand("train-step", "forward + backward + SGD step"),
                      app.add_subcommand("infer", "backbone forward, no_grad"), dense}) {
        cmd->add_option("--arch", arch, "resnet10|resnet18|resnet34")->check(CLI::IsMember({"resnet10", "resnet18", "resnet34"}));
        cmd->add_option("--input", input, "HxWxC, e.g. 32x32x3, 28x28x1, 64x64x3");
        cmd->add_option("--batch", batch)->check(CLI::PositiveNumber);
        cmd->add_option("--steps", steps, "timed steps (after one warm-up)")->check(CLI::PositiveNumber);
        cmd->add_option("--threads", threads)->check(CLI::PositiveNumber);
        cmd->add_option("--width", width, "width multiplier of 64-128-256-512");
        cmd->add_option("--head-depth", head_depth, "hidden Linear-BN-ReLU blocks of the head (paper: 8)");
        cmd->add_option("--head-width", head_width, "(paper: 512)");
        cmd->add_option("--head-out", head_out, "(paper: 128)");
        cmd->add_option("--seconds", seconds, "keep stepping until this many seconds of timed steps")->check(CLI::NonNegativeNumber);
        cmd->add_option("--start-at", start_at, "sleep until this Unix time (s) before the warm-up")->check(CLI::NonNegativeNumber);
        cmd->add_flag("--profile", profile, "print where the time goes (timed steps only)");
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        std::size_t H = 0, W = 0, C = 0;
        if (std::sscanf(input.c_str(), "%zux%zux%zu", &H, &W, &C) != 3 || !H || !W || !C)
            fail("oneclass-bench", "--input must be HxWxC, got '", input, "'");
        if (const auto w = blas_kernel_warning()) std::fprintf(stderr, "oneclass-bench: warning: %s\n", w->c_str());
        tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
        if (dense->parsed()) {
            pipeline::representation_config cfg;
            cfg.method = "rotation";
            cfg.net = {.depth = std::stoi(arch.substr(6)), .width = width};
            cfg.head_hidden = std::vector<std::size_t>(head_depth, head_width);
            cfg.head_out = head_out;
            pipeline::representation rep(cfg, C);
            tensor<float> x({images, C, H, W});
            rng r(0);
            for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(r.uniform());
            const localisation_params lp{.patch = patch, .stride = stride, .batch = batch};
            std::vector<double> secs;
            std::size_t n = 0;
            double timed = 0;
            for (std::size_t s = 0; s <= steps || timed < seconds; ++s) {
                const auto t0 = std::chrono::steady_clock::now();
                n = dense_features(rep, x, lp).rows();
                const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                if (s > 0) secs.push_back(dt), timed += dt;
            }
            std::sort(secs.begin(), secs.end());
            rusage ru{};
            getrusage(RUSAGE_SELF, &ru);
            const double med = secs[secs.size() / 2];
            std::printf("kernels=%s\n", oneclass::ops::kernel_description().c_str());
            std::printf("mode=dense arch=%s input=%s patch=%zu stride=%zu images=%zu patches=%zu batch=%zu threads=%zu width=%g\n",
                        arch.c_str(), input.c_str(), patch, stride, images, n, batch, threads, width);
            std::printf("patches_per_s=%.3f\nseconds_per_image=%.4f\npeak_rss_mb=%.1f\n", double(n) / med, med / double(images),
                        double(ru.ru_maxrss) / 1024.0);
            return 0;
        }
        rng r(0);
        nn::resnet<float> f({.depth = std::stoi(arch.substr(6)), .width = width, .stem_kind = nn::stem::cifar, .in_channels = C}, r);
        nn::mlp_head<float> g(f.feature_dim(), std::vector<std::size_t>(head_depth, head_width), head_out, r);
        nn::sgd<float> opt({.lr = 0.01, .momentum = 0.9, .weight_decay = 3e-4});
        tensor<float> x({batch, C, H, W});
        for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = float(r.normal());
        std::vector<int> labels(batch);
        for (auto& l : labels) l = int(r.below(head_out));
        const bool train = app.get_subcommand("train-step")->parsed();
        auto params = f.parameters();
        for (auto& p : g.parameters()) params.push_back(p);
        std::vector<double> secs;
        if (start_at > 0)  // a sleep, not a spin: the peer on the other vCPU is starting up
            std::this_thread::sleep_until(std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(start_at))));
        double timed = 0;
        for (std::size_t s = 0; s <= steps || timed < seconds; ++s) {
            const auto t0 = std::chrono::steady_clock::now();
            if (train) {
                auto loss = fn::cross_entropy(g.forward(f.forward(variable<float>(x))), labels);
                backward(loss);
                opt.step(params);
                for (auto& p : params) p.var.zero_grad();
            } else {
                no_grad ng;
                f.train(false);
                (void)f.forward(variable<float>(x));
            }
            const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (s > 0) {
                secs.push_back(dt);
                timed += dt;
            }
            if (s == 0) {
                oneclass::profile::reset();
                oneclass::profile::enable(profile);
            }
        }
        std::sort(secs.begin(), secs.end());
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::printf("mode=%s arch=%s input=%s batch=%zu threads=%zu width=%g\nkernels=%s\n", train ? "train-step" : "infer",
                    arch.c_str(), input.c_str(), batch, threads, width, oneclass::ops::kernel_description().c_str());
        std::size_t weights = 0;  // what a data-parallel step all-reduces (docs/scaling.md)
        for (const auto& p : params) weights += p.var.value().size();
        std::printf("images_per_s=%.3f\npeak_rss_mb=%.1f\nweights=%zu\n", double(batch) / secs[secs.size() / 2],
                    double(ru.ru_maxrss) / 1024.0, weights);
        if (profile) {
            double total = 0;
            for (double v : secs) total += v;
            std::printf("profile over %zu steps, %.3f s (scopes overlap: backward.total contains the backward ones)\n",
                        secs.size(), total);
            for (const auto& [name, sec] : oneclass::profile::snapshot())
                std::printf("  %-24s %8.3f s  %5.1f%%\n", name.c_str(), sec, 100.0 * sec / total);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "oneclass-bench: error: %s\n", e.what());
        return 2;
    }
}
