// examples/explain_detector.cpp - why is this image anomalous: explanations through the library API.
//
//   explain_detector [fashion-mnist-dir] [class] [out-dir]
//
// Trains three representations on one Fashion-MNIST class (28 x 28 images, zero-padded to 32) with
// a short schedule: rotation prediction (RotNet with an MLP head), DistAug (contrastive) and a
// denoising autoencoder; fits a KDE on the features f of the first two; then explains the scores
// of anomalous test images (the paper's section 5.4 and figure 6: the explanation of a KDE on
// learned features points at what differs from the normal class, RotNet's own score often at
// background). Writes, one row per image,
//   out-dir/comparison.png  input | RotNet: gradient, ig, gradcam | RotNet + KDE: the same three
//   out-dir/figure6.png     input | then ig and gradcam for each of DistAug + KDE ("ours"),
//                           RotNet, RotNet + KDE, DAE (its reconstruction error)
// About five minutes on two cores.
#include <oneclass/data/idx.hpp>
#include <oneclass/data/image_source.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/eval/one_vs_rest.hpp>
#include <oneclass/explain/targets.hpp>
#include <oneclass/viz/heatmap.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace oneclass;

namespace {
/// Rows of a 28 x 28 dataset as N x 1 x 32 x 32 images in [0, 1], zero-padded by 2.
tensor<float> padded(const image_dataset& ds, const std::vector<std::size_t>& rows) {
    tensor<float> t({rows.size(), 1, 32, 32});
    for (std::size_t i = 0; i < rows.size(); ++i)
        for (std::size_t y = 0; y < 28; ++y)
            for (std::size_t x = 0; x < 28; ++x) t(i, 0, y + 2, x + 2) = float(ds.pixels(rows[i], y * 28 + x)) / 255.0f;
    return t;
}

image_u8 grey(const tensor<float>& x, std::size_t n) {
    image_u8 img{32, 32, 1, std::vector<std::uint8_t>(32 * 32)};
    for (std::size_t p = 0; p < 32 * 32; ++p) img.pixels[p] = std::uint8_t(std::lround(255 * x.data()[n * 32 * 32 + p]));
    return img;
}
}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string root = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
        const int cls = argc > 2 ? std::stoi(argv[2]) : 0;
        const std::filesystem::path out = argc > 3 ? argv[3] : "explain_detector";
        const image_dataset train = load_fashion_mnist(root, "train"), test = load_fashion_mnist(root, "test");
        const auto split = one_vs_rest(train.labels, test.labels, cls);

        // 1. representations of the normal class, a short schedule each
        const tensor<float> normal = padded(train, split.train_rows);
        auto trained = [&](const char* method) {
            pipeline::representation_config cfg;
            cfg.method = method;
            cfg.net = {.depth = 10, .width = 0.25};
            cfg.head_hidden = {64, 64};
            cfg.head_out = 32;
            cfg.epochs = 3;
            pipeline::representation rep(cfg, 1);
            rep.fit(normal, [&](const pipeline::step_log& l) {
                if ((l.step + 1) % l.steps_per_epoch == 0) std::printf("%s epoch %zu: loss %.4f\n", method, l.epoch + 1, l.loss);
            });
            return rep;
        };
        pipeline::representation rot = trained("rotation"), ours = trained("distaug"), dae = trained("dae");

        // 2. a KDE on the features f of the normal images, for RotNet's and DistAug's f
        kde<float> rot_kde, ours_kde;
        (void)rot_kde.fit(rot.features(normal).view());
        (void)ours_kde.fit(ours.features(normal).view());

        // 3. eight anomalous test images, explained
        std::vector<std::size_t> rows;
        for (std::size_t i = 0; i < test.size() && rows.size() < 8; i += 97)
            if (split.test_labels[i] == 1) rows.push_back(i);
        const tensor<float> x = padded(test, rows);
        std::filesystem::create_directories(out);
        auto figure = [&](const std::vector<explain::target>& targets, const std::vector<explain::method>& methods,
                          const std::string& file) {
            std::vector<std::vector<image_u8>> cells(rows.size());
            for (std::size_t n = 0; n < rows.size(); ++n) cells[n].push_back(viz::enlarge(grey(x, n), 4));
            for (const auto& t : targets)
                for (const auto m : methods) {
                    const auto t0 = std::chrono::steady_clock::now();
                    const explain::attribution a = explain::explain(t, x, m, {.steps = 32, .from = explain::baseline::blur});
                    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    std::printf("%-12s %-9s %.4f s per image\n", t.name.c_str(), explain::method_name(m), s / double(rows.size()));
                    for (std::size_t n = 0; n < rows.size(); ++n) {
                        const float* map = a.map.data() + n * 32 * 32;
                        const double hi = viz::upper_quantile(map, 32 * 32, 0.995);
                        cells[n].push_back(viz::enlarge(viz::overlay(grey(x, n), map, 0.0, hi), 4));
                    }
                }
            std::vector<image_u8> lines;
            for (const auto& c : cells) lines.push_back(viz::panel(c));
            save_png(out / file, viz::stack(lines));
            std::printf("wrote %s\n", (out / file).string().c_str());
        };
        using explain::method;
        explain::target rotnet = explain::proxy_target(rot, "rotnet-p0"), rotnet_kde = explain::detector_target(rot, rot_kde),
                        ours_t = explain::detector_target(ours, ours_kde), dae_t = explain::proxy_target(dae, "dae-recon");
        rotnet.name = "RotNet", rotnet_kde.name = "RotNet+KDE", ours_t.name = "DistAug+KDE", dae_t.name = "DAE";
        figure({rotnet, rotnet_kde}, {method::gradient, method::integrated_gradients, method::gradcam}, "comparison.png");
        figure({ours_t, rotnet, rotnet_kde, dae_t}, {method::integrated_gradients, method::gradcam}, "figure6.png");
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "explain_detector: %s\n", e.what());
        return 1;
    }
}
