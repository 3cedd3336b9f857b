// examples/localize_defects.cpp - where is the defect: the patch pipeline through the library API.
//
//   localize_defects <mvtec-root> <category> [out-dir]
//
// Trains a rotation-prediction representation on 32 x 32 patches of the category's normal
// training images (resized to 256 x 256), fits a Gaussian density (GDE) on the features of 5000
// training patches, scores every patch of each test image at stride 4, and reports image ROC AUC,
// pixel ROC AUC and PRO; writes one picture per test image (input | anomaly map | overlay, the
// ground truth outlined) into out-dir. The same as
//   oneclass run --dataset mvtec --root R --categories C --method rotation --detector gde --heatmaps D
// with a short schedule.
#include <oneclass/data/mvtec.hpp>
#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/eval/localisation.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/pipeline/localisation.hpp>
#include <oneclass/pipeline/representation.hpp>
#include <oneclass/viz/heatmap.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace oneclass;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MVTEC_ROOT CATEGORY [OUT_DIR]\n", argv[0]);
        return 2;
    }
    try {
        const mvtec_category cat(argv[1], argv[2], {.image_size = 256});
        const std::filesystem::path out = argc > 3 ? argv[3] : "localize_defects";

        // 1. a representation of 32 x 32 patches, learned from normal images only
        pipeline::representation_config cfg;
        cfg.method = "rotation";
        cfg.net = {.depth = 10, .width = 0.25};
        cfg.head_hidden = {64, 64};
        cfg.head_out = 32;
        cfg.epochs = 3;
        pipeline::representation rep(cfg, cat.channels());
        const patch_sampler<mvtec_split> patches(cat.train(), {.side = 32, .count = 8000, .seed = 1});
        rep.fit(patches, [](const pipeline::step_log& l) {
            if ((l.step + 1) % l.steps_per_epoch == 0) std::printf("epoch %zu: loss %.4f\n", l.epoch + 1, l.loss);
        });

        // 2. a detector on the features of normal patches; 3. every patch of each test image
        const localisation_params lp{.patch = 32, .stride = 4};
        gde<float> det;
        det.fit(sample_patch_features(rep, cat.train(), 5000, 2, lp).view());
        const std::vector<anomaly_map> maps = localize(rep, det, cat.test(), lp);

        // 4. metrics over the test set, and pictures on one colour range
        std::vector<double> scores;
        std::vector<int> labels;
        std::vector<float> pixels;
        std::vector<std::uint8_t> masks;
        double lo = INFINITY, hi = -INFINITY;
        for (std::size_t i = 0; i < maps.size(); ++i) {
            scores.push_back(maps[i].score);
            labels.push_back(cat.test().label(i));
            pixels.insert(pixels.end(), maps[i].pixels.begin(), maps[i].pixels.end());
            const image_u8 m = cat.test().mask(i);
            masks.insert(masks.end(), m.pixels.begin(), m.pixels.end());
            for (const float v : maps[i].pixels) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
        }
        std::printf("%s: image AUROC %.4f, pixel AUROC %.4f, PRO %.4f\n", argv[2], roc_auc(scores, labels),
                    pixel_roc_auc(pixels, masks), pro_auc(pixels, masks, 256, 256));
        std::filesystem::create_directories(out);
        for (std::size_t i = 0; i < maps.size(); ++i) {
            const image_u8 mask = cat.test().mask(i);
            const auto& item = cat.test()[i];
            save_png(out / (item.defect + "_" + item.image.stem().string() + ".png"),
                     viz::localisation_panel(cat.test().decode(i), maps[i].pixels.data(), lo, hi, labels[i] ? &mask : nullptr));
        }
        std::printf("pictures in %s\n", out.string().c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "localize_defects: %s\n", e.what());
        return 2;
    }
    return 0;
}
