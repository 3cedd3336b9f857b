// examples/train_representation.cpp - the two-stage pipeline through the library API, without
// the CLI: train a rotation-prediction representation on the normal images of an image folder,
// save it, reload it, fit a KDE on its features and score new images.
//
//   train_representation <root> <normal-class-name> [epochs]
//
// <root> holds train/<class>/*.png|jpg and test/<class>/...; images are resized to 32 x 32.
#include <oneclass/data/images.hpp>
#include <oneclass/detectors.hpp>
#include <oneclass/eval.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <cstdio>
#include <string>

using namespace oneclass;

namespace {
// uint8 CHW rows -> N x C x S x S floats in [0, 1]
tensor<float> to_tensor(const image_dataset& ds, const std::vector<std::size_t>& rows) {
    tensor<float> t({rows.size(), ds.channels, ds.height, ds.width});
    const std::size_t n = ds.pixels.cols();
    for (std::size_t i = 0; i < rows.size(); ++i)
        for (std::size_t k = 0; k < n; ++k) t.data()[i * n + k] = float(ds.pixels(rows[i], k)) / 255.0f;
    return t;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <root> <normal-class-name> [epochs]\n", argv[0]);
        return 2;
    }
    try {
        const auto train = load_image_folder(argv[1], "train", 32), test = load_image_folder(argv[1], "test", 32);
        const auto it = std::find(train.class_names.begin(), train.class_names.end(), std::string(argv[2]));
        require(it != train.class_names.end(), "example", "no class folder '", argv[2], "'");
        const int normal = int(it - train.class_names.begin());
        const auto split = one_vs_rest(train.labels, test.labels, normal);
        std::vector<std::size_t> all(test.size());
        for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
        const tensor<float> x_train = to_tensor(train, split.train_rows), x_test = to_tensor(test, all);

        pipeline::representation_config cfg;  // a small network for a quick run
        cfg.method = "rotation";
        cfg.net = {.depth = 10, .width = 0.25};
        cfg.head_hidden = {64};
        cfg.head_out = 32;
        cfg.epochs = argc > 3 ? std::stoul(argv[3]) : 5;
        cfg.batch = std::min<std::size_t>(32, x_train.shape(0));
        cfg.lr = 0.05;
        pipeline::representation rep(cfg, train.channels);
        rep.fit(x_train, [](const pipeline::step_log& l) {
            if ((l.step + 1) % l.steps_per_epoch == 0) std::printf("epoch %zu loss %.4f\n", l.epoch + 1, l.loss);
        });
        rep.save("representation.ocm", {{"normal_class", argv[2]}});

        auto loaded = pipeline::representation::load("representation.ocm");
        kde<float> det;                           // gamma = 10 / (d Var), L2-normalised features
        (void)det.fit(loaded.features(x_train).view());
        const auto scores = det.score(loaded.features(x_test).view());  // higher = more anomalous
        std::printf("test images: %zu, AUC (normal = %s): %.4f\n", scores.size(), argv[2],
                    roc_auc(scores, split.test_labels));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}
