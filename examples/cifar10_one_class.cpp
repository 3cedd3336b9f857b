// examples/cifar10_one_class.cpp - the whole two-stage method on CIFAR-10, through the library.
//
//   cifar10_one_class CIFAR_ROOT [class] [epochs] [train_limit]
//
// CIFAR_ROOT holds the binary version (cifar-10-batches-bin/data_batch_1..5.bin, test_batch.bin,
// or those files directly). One class is normal: a DistAug representation (rotations as the
// distribution shifts, NT-Xent on the augmented views) is trained on that class's training
// images only, KDE and OC-SVM are fitted on its L2-normalised features f, and the whole test
// split is scored: ROC AUC of that class against the nine others (the paper's one-vs-rest
// protocol), beside the same detectors on raw pixels. On the real set, e.g.
//
//   ./build/examples/cifar10_one_class ~/data/cifar-10-batches-bin 3 30
//
// (the paper trains 2048 epochs on accelerators; 30 epochs of a ResNet-10 at width 1/4 take about
// an hour on two cores). The test suite runs it on generated files in the same record format.
#include <oneclass/data/cifar.hpp>
#include <oneclass/data/image_source.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/detectors/ocsvm.hpp>
#include <oneclass/eval/one_vs_rest.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace oneclass;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CIFAR_ROOT [class 0..9] [epochs] [train_limit]\n", argv[0]);
        return 2;
    }
    try {
        const int cls = argc > 2 ? std::stoi(argv[2]) : 0;
        const std::size_t epochs = argc > 3 ? std::stoul(argv[3]) : 3, limit = argc > 4 ? std::stoul(argv[4]) : 0;
        require(cls >= 0 && cls <= 9, "cifar10_one_class", "class must be 0..9, got ", cls);
        const image_dataset train = load_cifar10(argv[1], "train"), test = load_cifar10(argv[1], "test");
        auto split = one_vs_rest(train.labels, test.labels, cls);
        if (limit && split.train_rows.size() > limit) split.train_rows.resize(limit);
        std::printf("class %d (%s): %zu training images, %zu test images\n", cls, train.class_names[std::size_t(cls)].c_str(),
                    split.train_rows.size(), test.size());

        // 1. the representation, from the normal class only
        const dataset_source normal_src(train, split.train_rows), test_src(test);
        const tensor<float> normal = gather_range(normal_src, 0, normal_src.size()), test_x = gather_range(test_src, 0, test_src.size());
        pipeline::representation_config cfg;
        cfg.method = "distaug";
        cfg.net = {.depth = 10, .width = 0.25};
        cfg.head_hidden = {64, 64};
        cfg.head_out = 32;
        cfg.epochs = epochs;
        cfg.batch = std::min<std::size_t>(32, split.train_rows.size());
        pipeline::representation rep(cfg, 3);
        const auto t0 = std::chrono::steady_clock::now();
        rep.fit(normal, [](const pipeline::step_log& l) {
            if ((l.step + 1) % l.steps_per_epoch == 0) std::printf("epoch %zu: loss %.4f\n", l.epoch + 1, l.loss);
        });
        std::printf("trained in %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        // 2. detectors on the features f, and on raw pixels for comparison
        const matrix<float> f_train = rep.features(normal), f_test = rep.features(test_x);
        const matrix<float> raw_train(normal.shape(0), normal.size() / normal.shape(0), std::span<const float>(normal.data(), normal.size()));
        const matrix<float> raw_test(test_x.shape(0), test_x.size() / test_x.shape(0), std::span<const float>(test_x.data(), test_x.size()));
        auto report = [&](const char* name, auto det, const matrix<float>& tr, const matrix<float>& te) {
            (void)det.fit(tr.view());
            std::printf("%-16s auc=%.4f\n", name, roc_auc(det.score(te.view()), split.test_labels));
        };
        report("distaug + kde", kde<float>{}, f_train, f_test);
        report("distaug + ocsvm", ocsvm<float>{}, f_train, f_test);
        report("raw + kde", kde<float>{}, raw_train, raw_test);
        report("raw + ocsvm", ocsvm<float>{}, raw_train, raw_test);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cifar10_one_class: %s\n", e.what());
        return 1;
    }
}
