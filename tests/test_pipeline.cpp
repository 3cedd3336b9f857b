// tests/test_pipeline.cpp - the representation stage end to end on generated one-class data:
// train a tiny ResNet for a few steps on "normal" images only, extract features, fit KDE, and
// beat chance AUC on held-out normal vs anomalous images; same seed, same model.
#include "test_util.hpp"

#include <oneclass/detectors/kde.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <atomic>
#include <filesystem>
#include <limits>
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

TEST_CASE("denoising autoencoder: reconstruction loss falls, features and reconstruction error separate anomalies") {
    const auto train = bars(64, false, 11);
    auto cfg = tiny(pipeline::proxy_method::dae);
    cfg.epochs = 6;
    cfg.lr = 0.02;
    pipeline::representation rep(cfg, 1);
    REQUIRE_FALSE(rep.uses_head());
    std::vector<double> losses;
    rep.fit(train, [&](const pipeline::step_log& s) { losses.push_back(s.loss); });
    REQUIRE(losses.size() == 24);
    REQUIRE(losses.back() < 0.5 * losses.front());
    // the head is not trained by the autoencoder: its parameters keep their initial values
    pipeline::representation fresh(cfg, 1);
    const auto pr = rep.parameters(), pf = fresh.parameters();
    bool head_same = true, enc_changed = false;
    for (std::size_t i = 0; i < pr.size(); ++i) {
        const bool same = std::equal(pr[i].var.value().data(), pr[i].var.value().data() + pr[i].var.value().size(),
                                     pf[i].var.value().data());
        if (pr[i].id.rfind("g.", 0) == 0) head_same = head_same && same;
        if (pr[i].id.rfind("f.", 0) == 0) enc_changed = enc_changed || !same;
    }
    REQUIRE(head_same);
    REQUIRE(enc_changed);
    tensor<float> test({60, 1, 16, 16});
    const auto tn = bars(30, false, 12), tv = bars(30, true, 13);
    auto ta = tv.clone();  // anomalies: crosses (a vertical bar over a horizontal one)
    for (std::size_t i = 0; i < 30; ++i)
        for (std::size_t k = 0; k < 256; ++k) ta.data()[i * 256 + k] = std::max(tv.data()[i * 256 + k], tn.data()[i * 256 + k]);
    std::copy_n(tn.data(), tn.size(), test.data());
    std::copy_n(ta.data(), ta.size(), test.data() + tn.size());
    std::vector<int> y(60, 0);
    std::fill(y.begin() + 30, y.end(), 1);
    const auto rs = rep.reconstruction_scores(test);
    REQUIRE(rs.size() == 60);
    const double auc_rec = roc_auc(rs, y);
    kde<float> det;
    (void)det.fit(rep.features(train).view());
    const double auc_f = roc_auc(det.score(rep.features(test).view()), y);
    WARN("DAE: loss " << losses.front() << " -> " << losses.back() << ", reconstruction AUC " << auc_rec
                      << ", f + KDE AUC " << auc_f);
    REQUIRE(auc_rec > 0.75);
    REQUIRE(auc_f > 0.6);
    REQUIRE_THROWS_WITH(rep.features(test, true), Catch::Contains("no trained projection head"));
    REQUIRE_THROWS_WITH(rep.rotation_scores(test, false), Catch::Contains("not trained with rotation"));
    pipeline::representation odd(cfg, 1);
    REQUIRE_THROWS_WITH(odd.fit(tensor<float>({16, 1, 12, 12})), Catch::Contains("multiples of 8"));
}

TEST_CASE("a stop request mid-epoch writes a checkpoint; resuming is bit-for-bit the uninterrupted run") {
    const auto train = bars(48, false, 21);  // 3 steps per epoch
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_stop_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (auto m : {pipeline::proxy_method::simclr, pipeline::proxy_method::dae}) {
        auto cfg = tiny(m);
        cfg.epochs = 2;
        pipeline::representation straight(cfg, 1);
        std::vector<double> ls, li;
        straight.fit(train, [&](const pipeline::step_log& l) { ls.push_back(l.loss); });
        REQUIRE(ls.size() == 6);

        cfg.checkpoint = dir / "stop.ckpt";
        cfg.checkpoint_every = 100;  // only the stop request writes it
        std::atomic<bool> stop{false};
        pipeline::representation a(cfg, 1);
        REQUIRE_THROWS_AS(a.fit(train,
                                [&](const pipeline::step_log& l) {
                                    li.push_back(l.loss);
                                    if (l.step == 3) stop = true;  // epoch 2, its first step
                                },
                                &stop),
                          pipeline::training_interrupted);
        REQUIRE(li.size() == 4);
        pipeline::representation b(cfg, 1);
        b.load_checkpoint(cfg.checkpoint);
        REQUIRE(b.steps_done() == 4);
        REQUIRE(b.epochs_done() == 1);
        b.fit(train, [&](const pipeline::step_log& l) { li.push_back(l.loss); });
        REQUIRE(li == ls);
        const auto fa = straight.features(train), fb = b.features(train);
        REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin()));
        REQUIRE_THROWS_WITH(b.fit(bars(32, false, 1)), Catch::Contains("written for 48"));
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("a NaN loss stops training before the update and keeps the last good checkpoint") {
    auto train = bars(32, false, 31);
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_nan_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto cfg = tiny(pipeline::proxy_method::rotation);
    cfg.epochs = 3;
    cfg.checkpoint = dir / "nan.ckpt";
    pipeline::representation a(cfg, 1);
    std::atomic<bool> stop{false};
    REQUIRE_THROWS_AS(a.fit(train, [&](const pipeline::step_log& l) { stop = l.step == 1; }, &stop),
                      pipeline::training_interrupted);  // after epoch 1: checkpoint at step 2
    const std::string good = read_file_bytes(cfg.checkpoint, "test");
    pipeline::representation b(cfg, 1);
    b.load_checkpoint(cfg.checkpoint);
    const auto before = b.parameters()[0].var.value().clone();
    // a diverged weight (here: the rotation classifier's, set by hand) makes the loss NaN
    auto ps = b.parameters();
    REQUIRE(ps.back().id.rfind("cls.", 0) == 0);
    ps.back().var.value().data()[0] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(b.fit(train), Catch::Contains("loss is NaN at epoch 2 step 1") &&
                                          Catch::Contains("last good checkpoint"));
    REQUIRE(read_file_bytes(cfg.checkpoint, "test") == good);
    const auto after = b.parameters()[0].var.value();
    REQUIRE(std::equal(before.data(), before.data() + before.size(), after.data()));  // no update applied
    // non-finite input is rejected up front, by image index
    train.data()[5 * 256 + 7] = std::numeric_limits<float>::infinity();
    pipeline::representation c(cfg, 1);
    REQUIRE_THROWS_WITH(c.fit(train), Catch::Contains("image 5 holds a non-finite value"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("model files: save / load reproduces features; mismatches and damage are named") {
    const auto train = bars(32, false, 41);
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_model_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto cfg = tiny(pipeline::proxy_method::rotation);
    cfg.epochs = 1;
    pipeline::representation rep(cfg, 1);
    rep.fit(train);
    rep.save(dir / "m.ocm", {{"dataset", "bars"}, {"class", "0"}});
    auto back = pipeline::representation::load(dir / "m.ocm");
    REQUIRE(back.fitted());
    REQUIRE(back.metadata("dataset") == std::optional<std::string>("bars"));
    REQUIRE_FALSE(back.metadata("missing").has_value());
    REQUIRE(pipeline::describe(back.config()) == pipeline::describe(rep.config()));
    const auto fa = rep.features(train, true), fb = back.features(train, true);
    REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin()));
    REQUIRE(rep.rotation_scores(train, true) == back.rotation_scores(train, true));
    // a checkpoint is not a model file and the other way round
    cfg.checkpoint = dir / "c.ckpt";
    pipeline::representation ck(cfg, 1);
    ck.fit(train);
    REQUIRE_THROWS_WITH(pipeline::representation::load(dir / "c.ckpt"), Catch::Contains("not a trained representation"));
    REQUIRE_THROWS_WITH(ck.load_checkpoint(dir / "m.ocm"), Catch::Contains("not a checkpoint"));
    // another configuration names the first differing field
    auto other = cfg;
    other.lr = 0.5;
    pipeline::representation o(other, 1);
    REQUIRE_THROWS_WITH(o.load_checkpoint(dir / "c.ckpt"), Catch::Contains("written for lr 0.05"));
    // truncation and corruption
    const std::string bytes = read_file_bytes(dir / "m.ocm", "test");
    write_file_atomic(dir / "t.ocm", bytes.substr(0, bytes.size() / 2), "test");
    REQUIRE_THROWS_AS(pipeline::representation::load(dir / "t.ocm"), io_error);
    std::string bad = bytes;
    bad[bad.size() / 2] ^= 0x5a;
    write_file_atomic(dir / "b.ocm", bad, "test");
    REQUIRE_THROWS_AS(pipeline::representation::load(dir / "b.ocm"), io_error);
    REQUIRE_THROWS_AS(pipeline::representation::load(dir / "none.ocm"), io_error);
    // every method's configuration survives the text round trip
    for (auto m : {pipeline::proxy_method::rotation, pipeline::proxy_method::simclr, pipeline::proxy_method::distaug,
                   pipeline::proxy_method::dae}) {
        auto c = tiny(m);
        c.views.droc_compat = true;
        c.views.hue = 0.123456789012345;
        c.distaug_shifts = {0, 1, 5};
        c.net.in_channels = 3;
        REQUIRE(pipeline::describe(pipeline::config_from_fields(pipeline::describe(c), "x")) == pipeline::describe(c));
    }
    std::filesystem::remove_all(dir);
}
