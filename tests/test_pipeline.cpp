// tests/test_pipeline.cpp - the representation stage end to end on generated one-class data:
// train a tiny ResNet for a few steps on "normal" images only, extract features, fit KDE, and
// beat chance AUC on held-out normal vs anomalous images; same seed, same model.
#include "test_util.hpp"

#include <oneclass/detectors/kde.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <filesystem>
#include <unistd.h>

using namespace oneclass;

namespace {
// Normal: a bright horizontal bar at a random height; anomalous: a vertical bar. Noise on both.
tensor<float> bars(std::size_t n, bool vertical, std::uint64_t seed) {
    tensor<float> t({n, 1, 16, 16});
    rng r(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = 2 + r.below(12);
        for (std::size_t h = 0; h < 16; ++h)
            for (std::size_t w = 0; w < 16; ++w) {
                const bool on = vertical ? (w == at || w == at + 1) : (h == at || h == at + 1);
                t(i, 0, h, w) = float(std::clamp((on ? 0.9 : 0.1) + 0.05 * r.normal(), 0.0, 1.0));
            }
    }
    return t;
}

pipeline::representation_config tiny(pipeline::proxy_method m) {
    pipeline::representation_config c;
    c.method = m;
    c.net = {.depth = 10, .width = 1.0 / 16};
    c.head_hidden = {16};
    c.head_out = 8;
    c.epochs = 3;
    c.batch = 16;
    c.lr = 0.05;
    c.seed = 3;
    return c;
}
}  // namespace

TEST_CASE("rotation-prediction training on normal data: loss falls, features separate anomalies") {
    const auto train = bars(64, false, 1), test_normal = bars(40, false, 2), test_anomal = bars(40, true, 3);
    pipeline::representation rep(tiny(pipeline::proxy_method::rotation), 1);
    std::vector<double> losses;
    rep.fit(train, [&](const pipeline::step_log& s) { losses.push_back(s.loss); });
    REQUIRE(losses.size() == 12);  // 3 epochs x 64 / 16
    for (double l : losses) REQUIRE(std::isfinite(l));
    REQUIRE(losses.back() < losses.front());
    const auto ftr = rep.features(train);
    REQUIRE(ftr.cols() == rep.encoder().feature_dim());
    for (std::size_t i = 0; i < ftr.rows(); ++i) {
        double n = 0;
        for (std::size_t k = 0; k < ftr.cols(); ++k) n += double(ftr(i, k)) * ftr(i, k);
        REQUIRE(n == Approx(1.0).epsilon(1e-5));  // every row L2-normalised
    }
    tensor<float> test({80, 1, 16, 16});
    std::copy_n(test_normal.data(), test_normal.size(), test.data());
    std::copy_n(test_anomal.data(), test_anomal.size(), test.data() + test_normal.size());
    std::vector<int> y(80, 0);
    std::fill(y.begin() + 40, y.end(), 1);
    kde<float> det;
    (void)det.fit(ftr.view());
    const double auc = roc_auc(det.score(rep.features(test).view()), y);
    WARN("rotation features + KDE: AUC " << auc << ", loss " << losses.front() << " -> " << losses.back());
    REQUIRE(auc > 0.75);
    // RotNet's own score: vertical bars look like rotated normal images, so they score high
    const auto rs = rep.rotation_scores(test, true);
    REQUIRE(rs.size() == 80);
    REQUIRE(roc_auc(rs, y) > 0.75);
    pipeline::representation sim(tiny(pipeline::proxy_method::simclr), 1);
    REQUIRE_THROWS_WITH(sim.rotation_scores(test, true), Catch::Contains("not trained with rotation"));
}

TEST_CASE("SimCLR and DistAug train with finite losses; the same seed gives the same features") {
    const auto train = bars(32, false, 4);
    for (auto m : {pipeline::proxy_method::simclr, pipeline::proxy_method::distaug}) {
        auto cfg = tiny(m);
        cfg.epochs = 1;
        pipeline::representation a(cfg, 1), b(cfg, 1);
        std::vector<double> la, lb;
        a.fit(train, [&](const pipeline::step_log& s) { la.push_back(s.loss); });
        b.fit(train, [&](const pipeline::step_log& s) { lb.push_back(s.loss); });
        REQUIRE(la == lb);
        for (double l : la) REQUIRE(std::isfinite(l));
        const auto fa = a.features(train, true), fb = b.features(train, true);
        REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin()));
    }
    pipeline::representation r(tiny(pipeline::proxy_method::simclr), 1);
    REQUIRE_THROWS_WITH(r.fit(bars(8, false, 1)), Catch::Contains("at least batch = 16"));
    REQUIRE_THROWS_WITH(r.features(tensor<float>({2, 3, 16, 16})), Catch::Contains("expects N x 1 x H x W"));
}

TEST_CASE("checkpoint + resume continues bit for bit as if never interrupted") {
    const auto train = bars(32, false, 5);
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_ckpt_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto cfg = tiny(pipeline::proxy_method::distaug);
    cfg.epochs = 2;
    pipeline::representation straight(cfg, 1);
    straight.fit(train);

    auto first = cfg;
    first.checkpoint = dir / "run.ckpt";
    pipeline::representation a(first, 1);
    std::size_t steps = 0;
    // stop after epoch 1 by training a copy configured for 2 epochs but interrupted: run epoch 1,
    // then discard the object (as a crash would) and resume from the file in a new one
    struct stop {};
    try {
        a.fit(train, [&](const pipeline::step_log& l) {
            if (l.epoch == 1) throw stop{};
            ++steps;
        });
    } catch (const stop&) {
    }
    REQUIRE(steps == 2);
    pipeline::representation b(cfg, 1);
    b.load_checkpoint(dir / "run.ckpt");
    REQUIRE(b.epochs_done() == 1);
    b.fit(train);
    const auto pa = straight.parameters(), pb = b.parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].id);
        REQUIRE(std::equal(pa[i].var.value().data(), pa[i].var.value().data() + pa[i].var.value().size(),
                           pb[i].var.value().data()));
    }
    const auto fa = straight.features(train), fb = b.features(train);
    REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin()));
    auto other = cfg;
    other.seed = 99;
    pipeline::representation c(other, 1);
    REQUIRE_THROWS_WITH(c.load_checkpoint(dir / "run.ckpt"), Catch::Contains("seed 3"));
    std::filesystem::remove_all(dir);
}
