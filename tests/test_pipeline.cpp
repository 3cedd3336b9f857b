// tests/test_pipeline.cpp - the representation stage end to end on generated one-class data:
// train a tiny ResNet for a few steps on "normal" images only, extract features, fit KDE, and
// beat chance AUC on held-out normal vs anomalous images; same seed, same model.
#include "pipeline_fixture.hpp"
#include "test_util.hpp"

#include <oneclass/data/npy.hpp>
#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <atomic>
#include <filesystem>
#include <limits>
#include <map>
#include <unistd.h>

using namespace oneclass;
using test::bars;
using test::tiny;

namespace {
tensor<float> tensor_cat(const tensor<float>& a, const tensor<float>& b) {
    tensor<float> t({a.shape(0) + b.shape(0), a.shape(1), a.shape(2), a.shape(3)});
    std::copy_n(a.data(), a.size(), t.data());
    std::copy_n(b.data(), b.size(), t.data() + a.size());
    return t;
}

/// A rotation model after one epoch on 32 images of normal bars drawn with `seed`.
pipeline::representation rotation_after_one_epoch(std::uint64_t seed) {
    auto cfg = tiny("rotation");
    cfg.epochs = 1;
    pipeline::representation rep(cfg, 1);
    rep.fit(bars(32, false, seed));
    return rep;
}
}  // namespace

TEST_CASE("rotation-prediction training on normal data: loss falls, features separate anomalies") {
    const auto train = bars(64, false, 1), test_normal = bars(40, false, 2), test_anomal = bars(40, true, 3);
    pipeline::representation rep(tiny("rotation"), 1);
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
    const auto rs = rep.proxy_scores(test, "rotnet-sum");
    REQUIRE(rs.size() == 80);
    REQUIRE(roc_auc(rs, y) > 0.75);
    pipeline::representation sim(tiny("simclr"), 1);
    REQUIRE_THROWS_WITH(sim.proxy_scores(test, "rotnet-sum"), Catch::Contains("a simclr model has no score 'rotnet-sum' (its proxy has none)"));
}

TEST_CASE("SimCLR and DistAug train with finite losses; the same seed gives the same features") {
    const auto train = bars(32, false, 4);
    for (std::string m : {"simclr", "distaug"}) {
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
    pipeline::representation r(tiny("simclr"), 1);
    REQUIRE_THROWS_WITH(r.fit(bars(8, false, 1)), Catch::Contains("at least batch = 16"));
    REQUIRE_THROWS_WITH(r.features(tensor<float>({2, 3, 16, 16})), Catch::Contains("expects N x 1 x H x W"));
}

TEST_CASE("checkpoint + resume continues bit for bit as if never interrupted") {
    const auto train = bars(32, false, 5);
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_ckpt_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto cfg = tiny("distaug");
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
    auto cfg = tiny("dae");
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
    const auto rs = rep.proxy_scores(test, "dae-recon");
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
    REQUIRE_THROWS_WITH(rep.proxy_scores(test, "rotnet-p0"), Catch::Contains("a dae model has no score 'rotnet-p0' (it has dae-recon)"));
    pipeline::representation odd(cfg, 1);
    REQUIRE_THROWS_WITH(odd.fit(tensor<float>({16, 1, 12, 12})), Catch::Contains("multiples of 8"));
}

TEST_CASE("a stop request mid-epoch writes a checkpoint; resuming is bit-for-bit the uninterrupted run") {
    const auto train = bars(48, false, 21);  // 3 steps per epoch
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_stop_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (std::string m : {"simclr", "dae"}) {
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
    auto cfg = tiny("rotation");
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
    auto cfg = tiny("rotation");
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
    REQUIRE(rep.proxy_scores(train, "rotnet-sum") == back.proxy_scores(train, "rotnet-sum"));
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
    for (std::string m : {"rotation", "simclr", "distaug", "dae"}) {
        auto c = tiny(m);
        c.views.droc_compat = true;
        c.views.hue = 0.123456789012345;
        c.distaug_shifts = {0, 1, 5};
        c.net.in_channels = 3;
        REQUIRE(pipeline::describe(pipeline::config_from_fields(pipeline::describe(c), "x")) == pipeline::describe(c));
    }
    std::filesystem::remove_all(dir);
}

namespace {
// A proxy written outside the library: predict whether an image was turned by 90 degrees (2-way,
// classifier on g(f(x))), its loss scaled by the option "proxy.weight". It has its own score.
class quarter_turn_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "quarter-turn";
    quarter_turn_proxy(std::size_t head_out, float weight, rng& r)
        : cls_(std::make_shared<nn::linear<float>>(head_out, 2, true, r)), weight_(weight) {}
    static quarter_turn_proxy make(const pipeline::representation_config& c, const nn::resnet<float>&, rng& r) {
        float weight = 1;
        for (const auto& [k, v] : c.proxy_options)
            if (k == "weight") weight = std::stof(v);
        return quarter_turn_proxy(c.head_out, weight, r);
    }
    variable<float> loss(const pipeline::network_ref& net, const tensor<float>& x, std::uint64_t) {
        auto [turned, labels] = batch(x);
        return fn::scale(fn::cross_entropy(cls_->forward(net.embed(turned)), labels), weight_);
    }
    static std::vector<std::string> score_names() { return {"turn-p0"}; }
    std::vector<double> scores(const pipeline::network_ref& net, const tensor<float>& x, const std::string&) {
        const auto logits = cls_->forward(net.embed(x)).value();
        std::vector<double> s(x.shape(0));
        for (std::size_t i = 0; i < s.size(); ++i)
            s[i] = -1.0 / (1.0 + std::exp(double(logits(i, 1)) - double(logits(i, 0))));  // -p(not turned)
        return s;
    }
    std::vector<nn::named_variable<float>> parameters() {
        std::vector<nn::named_variable<float>> ps;
        for (auto& p : cls_->parameters()) ps.push_back({"turn." + p.id, p.var, p.no_weight_decay});
        return ps;
    }
    std::vector<nn::named_buffer<float>> buffers() { return {}; }
    void train(bool on) { cls_->train(on); }

private:
    static std::pair<tensor<float>, std::vector<int>> batch(const tensor<float>& x) {
        std::vector<int> labels(2 * x.shape(0));
        for (std::size_t i = x.shape(0); i < labels.size(); ++i) labels[i] = 1;
        return {losses::distaug_batch(x, {0, 2}), labels};
    }
    std::shared_ptr<nn::linear<float>> cls_;
    float weight_;
};
static_assert(pipeline::ScoringProxy<quarter_turn_proxy> && pipeline::BuildableProxy<quarter_turn_proxy>);

using my_proxies = pipeline::proxy_list_append<pipeline::builtin_proxies, quarter_turn_proxy>;
using my_representation = pipeline::basic_representation<my_proxies>;
}  // namespace

TEST_CASE("a proxy defined outside the library trains, scores, saves and loads through the public API") {
    const auto train = bars(64, false, 51), test_normal = bars(30, false, 52), test_anomal = bars(30, true, 53);
    REQUIRE(my_proxies::choices() == "rotation, simclr, distaug, dae, cutpaste, quarter-turn");
    auto cfg = tiny("quarter-turn");
    cfg.proxy_options = {{"weight", "0.5"}};
    my_representation rep(cfg, 1);
    std::vector<double> losses;
    rep.fit(train, [&](const pipeline::step_log& s) { losses.push_back(s.loss); });
    REQUIRE(losses.size() == 12);
    REQUIRE(losses.back() < losses.front());
    const auto test = tensor_cat(test_normal, test_anomal);
    REQUIRE(rep.proxy_score_names() == std::vector<std::string>{"turn-p0"});
    const auto s = rep.proxy_scores(test, "turn-p0");
    REQUIRE(s.size() == 60);

    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_user_proxy_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    rep.save(dir / "q.ocm");
    auto back = my_representation::load(dir / "q.ocm");
    REQUIRE(back.config().method == "quarter-turn");
    REQUIRE(back.config().proxy_options == pipeline::config_fields{{"weight", "0.5"}});
    REQUIRE(pipeline::describe(back.config()) == pipeline::describe(rep.config()));
    const auto fa = rep.features(test, true), fb = back.features(test, true);
    REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin()));
    REQUIRE(back.proxy_scores(test, "turn-p0") == s);
    // the built-in list does not know it, and says which it knows
    REQUIRE_THROWS_WITH(pipeline::representation::load(dir / "q.ocm"),
                        Catch::Contains("unknown method 'quarter-turn' (rotation, simclr, distaug, dae, cutpaste)"));
    REQUIRE_THROWS_WITH(pipeline::representation(cfg, 1), Catch::Contains("unknown method 'quarter-turn'"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("trainer: hooks run after backward (before the update), after each step and at each epoch's end") {
    const auto train = bars(48, false, 61);
    rng r(5);
    nn::resnet<float> f({.depth = 10, .width = 1.0 / 16, .in_channels = 1}, r);
    nn::mlp_head<float> g(f.feature_dim(), {16}, 8, r);
    auto proxy = quarter_turn_proxy(8, 1.0f, r);
    std::vector<nn::named_variable<float>> params;
    for (auto& p : pipeline::detail::prefixed_parameters(f, "f.")) params.push_back(p);
    for (auto& p : pipeline::detail::prefixed_parameters(g, "g.")) params.push_back(p);
    for (auto& p : proxy.parameters()) params.push_back(p);
    const auto before = [&] {
        std::vector<std::vector<float>> v;
        for (auto& p : params) v.emplace_back(p.var.value().data(), p.var.value().data() + p.var.value().size());
        return v;
    }();

    // weight decay 0 and every gradient cleared by the hook: the update must change nothing
    pipeline::trainer t({.epochs = 2, .batch = 16, .lr = 0.1, .seed = 1}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0});
    std::size_t backward_calls = 0, steps = 0;
    std::vector<std::size_t> epochs;
    double grad_norm = 0;
    pipeline::train_hooks h;
    h.after_backward = [&](const std::vector<nn::named_variable<float>>& ps, const pipeline::step_log& s) {
        REQUIRE(s.step == steps);
        ++backward_calls;
        for (auto p : ps) {
            const auto& gr = p.var.grad();
            if (!gr.defined()) continue;
            for (std::size_t i = 0; i < gr.size(); ++i) grad_norm += double(gr.data()[i]) * gr.data()[i];
            p.var.zero_grad();
        }
    };
    h.after_step = [&](const pipeline::step_log& s) {
        REQUIRE(s.steps_per_epoch == 3);
        REQUIRE(s.total_steps == 6);
        ++steps;
    };
    h.at_epoch_end = [&](std::size_t e) { epochs.push_back(e); };
    t.fit({f, g}, proxy, tensor_source(train), params, h);
    REQUIRE(backward_calls == 6);
    REQUIRE(steps == 6);
    REQUIRE(epochs == std::vector<std::size_t>{0, 1});
    REQUIRE(grad_norm > 0);  // the hook saw real gradients ...
    for (std::size_t k = 0; k < params.size(); ++k) {  // ... and the step after it used the cleared ones
        const auto& v = params[k].var.value();
        REQUIRE(std::equal(before[k].begin(), before[k].end(), v.data()));
    }
    REQUIRE(t.next_step() == 6);

    // a stop request: on_stop runs, then training_interrupted
    std::atomic<bool> stop{true};
    pipeline::trainer t2({.epochs = 2, .batch = 16, .lr = 0.1, .seed = 1});
    bool stopped = false;
    REQUIRE_THROWS_AS(t2.fit({f, g}, proxy, tensor_source(train), params, {.on_stop = [&] { stopped = true; }, .stop = &stop}),
                      pipeline::training_interrupted);
    REQUIRE(stopped);
    REQUIRE(t2.next_step() == 1);
}

TEST_CASE("embed: the features on the tape, differentiable in the input") {
    auto rep = rotation_after_one_epoch(71);
    const tensor<float> x = bars(2, true, 72);
    for (bool head : {false, true}) {
        const auto want = rep.features(x, head);
        const auto got = rep.embed(variable<float>(x), head).value();
        // the same forward as features(), on the tape instead of under no_grad
        REQUIRE(test::allclose(std::vector<float>(got.data(), got.data() + got.size()), want.values(), 0, 1e-6));
    }
    // d/dx of s(x) = sum(w . embed(x)) against central differences along random directions. Eval
    // mode is piecewise linear in x up to the final normalisation, but this tiny net's ReLU kinks
    // are dense: steps of 1e-4 and more cross some (the quotient drifts by 10-25 %), steps of
    // 1e-5 down to 3e-6 agree with the analytic value within 0.7 %; a wrong backward (a missing
    // normalisation or batch-norm scale) is off by far more than the 3 % allowed.
    rng r(9);
    tensor<float> w({2, rep.encoder().feature_dim()});
    for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = float(r.normal());
    auto s_of = [&](const tensor<float>& in) {
        no_grad ng;
        const auto e = rep.embed(variable<float>(in)).value();
        double s = 0;
        for (std::size_t i = 0; i < e.size(); ++i) s += double(e.data()[i]) * w.data()[i];
        return s;
    };
    auto xv = variable<float>::parameter(x.clone());
    auto s = fn::sum(fn::mul(rep.embed(xv), variable<float>(w)));
    backward(s);
    const tensor<float>& grad = xv.grad();
    REQUIRE(grad.defined());
    for (int k = 0; k < 3; ++k) {
        tensor<float> d(x.shape());
        double along = 0;
        for (std::size_t i = 0; i < d.size(); ++i) {
            d.data()[i] = float(r.normal());
            along += double(grad.data()[i]) * d.data()[i];
        }
        const double h = 1e-5;
        tensor<float> up = x.clone(), down = x.clone();
        for (std::size_t i = 0; i < d.size(); ++i) {
            up.data()[i] += float(h * d.data()[i]);
            down.data()[i] -= float(h * d.data()[i]);
        }
        const double numeric = (s_of(up) - s_of(down)) / (2 * h);
        INFO("direction " << k << ": analytic " << along << ", numeric " << numeric);
        REQUIRE(std::abs(numeric - along) <= 0.03 * std::abs(along));
    }
}

TEST_CASE("view_features: each view's features side by side, scaled to unit rows; bad views named") {
    auto rep = rotation_after_one_epoch(73);
    const tensor<float> x = bars(5, true, 74);
    const std::size_t N = x.shape(0);
    for (bool head : {false, true}) {
        const std::vector<int> views = {0, 3, 6};
        // one batch of all N images throughout, so each view's forward is the very computation of
        // features() on the shifted images; the only difference is the rounding of the 1/sqrt(3) scale
        const auto got = rep.view_features(x, views, head, N);
        const std::size_t d = head ? rep.config().head_out : rep.encoder().feature_dim();
        REQUIRE(got.rows() == N);
        REQUIRE(got.cols() == views.size() * d);
        for (std::size_t v = 0; v < views.size(); ++v) {
            const auto want = rep.features(augment::distribution_shift(x, views[v]), head, N);
            for (std::size_t i = 0; i < N; ++i)
                for (std::size_t j = 0; j < d; ++j)
                    REQUIRE(got(i, v * d + j) == Approx(want(i, j) / std::sqrt(3.0)).margin(1e-7));
        }
        for (std::size_t i = 0; i < N; ++i) {
            double n2 = 0;
            for (std::size_t j = 0; j < got.cols(); ++j) n2 += double(got(i, j)) * got(i, j);
            REQUIRE(n2 == Approx(1.0).margin(1e-5));
        }
        // the single identity view is features() itself
        const auto one = rep.view_features(x, {0}, head, N), plain = rep.features(x, head, N);
        REQUIRE(std::equal(one.values().begin(), one.values().end(), plain.values().begin(), plain.values().end()));
    }
    REQUIRE_THROWS_WITH(rep.view_features(x, {}), Catch::Contains("no views"));
    REQUIRE_THROWS_WITH(rep.view_features(x, {0, 8}), Catch::Contains("view codes are 0..7, got 8"));
    REQUIRE_THROWS_WITH(rep.view_features(x, {0, 2, 2}), Catch::Contains("view 2 is listed twice"));
    REQUIRE_THROWS_WITH(rep.view_features(tensor<float>({2, 1, 16, 12}), {0, 2}), Catch::Contains("need square images, got 16 x 12"));
    REQUIRE(rep.view_features(tensor<float>({2, 1, 16, 12}), {0}).rows() == 2);  // no rotation: any shape
}

TEST_CASE("stage_features: each stage pooled and normalised on its own, against the captured maps") {
    auto rep = rotation_after_one_epoch(75);
    const tensor<float> x = bars(4, true, 76);
    const std::size_t N = x.shape(0);
    auto& f = rep.encoder();
    // the reference: each stage's map captured during a plain forward, pooled and normalised in double
    std::map<int, std::size_t> positions;  // H x W of each stage's map, for the tolerance
    const auto pooled = [&](const tensor<float>& images, int stage) {
        variable<float> map;
        f.capture_stage(std::size_t(stage), &map);
        {
            no_grad ng;
            (void)rep.embed(variable<float>(images));
        }
        f.capture_stage(0, nullptr);
        const auto& m = map.value();
        const std::size_t C = m.shape(1), HW = m.shape(2) * m.shape(3);
        positions[stage] = HW;
        std::vector<std::vector<double>> out(images.shape(0), std::vector<double>(C));
        for (std::size_t i = 0; i < out.size(); ++i) {
            double n2 = 0;
            for (std::size_t c = 0; c < C; ++c) {
                double sum = 0;
                for (std::size_t p = 0; p < HW; ++p) sum += m.data()[(i * C + c) * HW + p];
                out[i][c] = sum / double(HW);
                n2 += out[i][c] * out[i][c];
            }
            for (auto& v : out[i]) v /= std::sqrt(n2);
        }
        return out;
    };
    const std::vector<int> views = {0, 2}, stages = {2, 4};
    const auto got = rep.stage_features(x, views, stages, N);
    const std::size_t d2 = f.stage_dim(2), d4 = f.stage_dim(4);
    REQUIRE(d2 == nn::resnet_width(rep.config().net, 128));
    REQUIRE(got.cols() == views.size() * (d2 + d4));
    const double scale = 1 / std::sqrt(4.0);  // four blocks: two views x two stages
    for (std::size_t v = 0; v < views.size(); ++v) {
        const tensor<float> xv = views[v] == 0 ? x : augment::distribution_shift(x, views[v]);
        const auto p2 = pooled(xv, 2), p4 = pooled(xv, 4);
        // the same map values on both sides: only the float mean over HW non-negative (post-ReLU)
        // positions (relative error <= HW eps in any order), the float norm over C channels (<= C eps)
        // and the division and scale (a few eps) differ; every component is at most `scale`
        const auto tol = [&](int stage, std::size_t C) {
            return double(positions.at(stage) + C + 4) * std::numeric_limits<float>::epsilon() * scale;
        };
        for (std::size_t i = 0; i < N; ++i) {
            for (std::size_t j = 0; j < d2; ++j) REQUIRE(got(i, v * (d2 + d4) + j) == Approx(p2[i][j] * scale).margin(tol(2, d2)));
            for (std::size_t j = 0; j < d4; ++j) REQUIRE(got(i, v * (d2 + d4) + d2 + j) == Approx(p4[i][j] * scale).margin(tol(4, d4)));
        }
    }
    // stage 4 alone is f, bit for bit
    const auto four = rep.stage_features(x, {0}, {4}, N), plain = rep.features(x, false, N);
    REQUIRE(std::equal(four.values().begin(), four.values().end(), plain.values().begin(), plain.values().end()));
    REQUIRE_THROWS_WITH(rep.stage_features(x, {0}, {3, 2}), Catch::Contains("stages must be ascending values in 1..4, got 2 after 3"));
    REQUIRE_THROWS_WITH(rep.stage_features(x, {0}, {5}), Catch::Contains("got 5"));
    REQUIRE_THROWS_WITH(rep.stage_features(x, {0}, {0, 4}), Catch::Contains("got 0"));
    REQUIRE_THROWS_WITH(rep.stage_features(x, {0}, {}), Catch::Contains("no stages"));
    REQUIRE_THROWS_WITH(rep.stage_features(x, {0, 0}, {4}), Catch::Contains("view 0 is listed twice"));
}

TEST_CASE("rotation on augmented images: the classifier sees the seeded views' rotations; the flag trains and round-trips") {
    const auto x = bars(6, false, 81);
    augment::simclr_params views;
    views.min_area = 0.5;
    rng init(5);
    nn::resnet<float> f({.depth = 10, .width = 1.0 / 16, .in_channels = 1}, init);
    nn::mlp_head<float> g(f.feature_dim(), {16}, 8, init);
    const pipeline::network_ref net{f, g};
    rng ra(9), rb(9);  // the same classifier weights
    pipeline::rotation_proxy with(8, ra, views), without(8, rb);
    for (std::uint64_t seed : {3u, 4u}) {
        const float got = with.loss(net, x, seed).value().data()[0];
        const float want = without.loss(net, augment::simclr(views)(x, seed), 0).value().data()[0];
        REQUIRE(got == want);  // the same computation on the same batch
    }
    REQUIRE(with.loss(net, x, 3).value().data()[0] != without.loss(net, x, 3).value().data()[0]);

    const auto train = bars(32, false, 82);
    auto cfg = tiny("rotation");
    cfg.epochs = 1;
    cfg.rotation_augment = true;
    cfg.views = views;
    pipeline::representation a(cfg, 1), b(cfg, 1);
    a.fit(train), b.fit(train);
    const auto fa = a.features(train), fb = b.features(train);
    REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin(), fb.values().end()));
    auto plain_cfg = cfg;
    plain_cfg.rotation_augment = false;
    pipeline::representation c(plain_cfg, 1);
    c.fit(train);
    const auto fc = c.features(train);
    REQUIRE_FALSE(std::equal(fa.values().begin(), fa.values().end(), fc.values().begin(), fc.values().end()));
    const auto fields = pipeline::describe(cfg);
    REQUIRE(std::find(fields.begin(), fields.end(), std::pair<std::string, std::string>{"rotation_augment", "1"}) != fields.end());
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_rotaug_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    a.save(dir / "a.ocm");
    const auto back = pipeline::representation::load(dir / "a.ocm");
    REQUIRE(back.config().rotation_augment);
    std::filesystem::remove_all(dir);
}

TEST_CASE("model files of format 2 (before the field table) still load and give the same features and scores") {
    // tests/data/models/make_models.cpp wrote them at 4297544; the .npy files hold what that build
    // computed. Tolerance: 8x PyTorch's own float32 error of an eval forward (z_eval in
    // tests/data/torch/float_tolerance.txt, 4.4e-7 of the largest value), as the golden test uses.
    const std::string dir = std::string(ONECLASS_TEST_DATA) + "/models/v2/";
    const tensor<float> probe = bars(6, true, 5);
    for (const std::string method : {"rotation", "dae"}) {
        INFO(method);
        auto rep = pipeline::representation::load(dir + method + ".ocm");
        REQUIRE(rep.config().method == method);
        REQUIRE(rep.config().net.depth == 10);
        REQUIRE(rep.config().head_hidden == std::vector<std::size_t>{16});
        REQUIRE(rep.config().lr == 0.05);
        REQUIRE(rep.config().seed == 3);
        REQUIRE(rep.metadata("dataset") == std::optional<std::string>("bars"));
        REQUIRE(rep.steps_done() == 2);
        const auto want_f = load_npy_matrix<float>(dir + method + "_f.npy");
        const auto got_f = rep.features(probe);
        const double tol = 8 * 4.402559e-07;
        double fmax = 0;
        for (float v : want_f.values()) fmax = std::max(fmax, double(std::abs(v)));
        REQUIRE(test::allclose(got_f.values(), want_f.values(), 0, tol * fmax));
        const auto want_s = load_npy_matrix<double>(dir + method + "_scores.npy");
        const auto got_s = rep.proxy_scores(probe, method == "dae" ? "dae-recon" : "rotnet-sum");
        double smax = 0;
        for (double v : want_s.values()) smax = std::max(smax, std::abs(v));
        REQUIRE(test::allclose(got_s, want_s.values(), 0, tol * smax));
        // written again, it is a format-3 file that loads to the same model
        const auto out = std::filesystem::temp_directory_path() / ("oneclass_v3_" + std::to_string(::getpid()) + ".ocm");
        rep.save(out, rep.metadata());
        REQUIRE(read_file_bytes(out, "test").substr(8, 4) == std::string("\x03\0\0\0", 4));
        auto again = pipeline::representation::load(out);
        const auto f3 = again.features(probe);
        REQUIRE(std::equal(f3.values().begin(), f3.values().end(), got_f.values().begin()));
        std::filesystem::remove(out);
    }
}

TEST_CASE("configuration fields: optional ones take their default, required and unknown ones are named") {
    auto c = tiny("simclr");
    c.temperature = 0.7;
    auto fields = pipeline::describe(c);
    auto without = [&](const std::string& key) {
        auto f = fields;
        std::erase_if(f, [&](const auto& kv) { return kv.first == key; });
        return f;
    };
    const pipeline::representation_config defaults;
    REQUIRE(pipeline::config_from_fields(without("temperature"), "x").temperature == defaults.temperature);
    REQUIRE(pipeline::config_from_fields(without("views"), "x").views.min_area == defaults.views.min_area);
    REQUIRE(pipeline::config_from_fields(without("dae_noise"), "x").lr == c.lr);
    REQUIRE_THROWS_WITH(pipeline::config_from_fields(without("depth"), "'m.ocm'"), Catch::Contains("'m.ocm' has no 'depth' field"));
    auto extra = fields;
    extra.emplace_back("colour", "blue");
    REQUIRE_THROWS_WITH(pipeline::config_from_fields(extra, "'m.ocm'"), Catch::Contains("unknown field 'colour'"));
    extra.back() = {"proxy.colour", "blue"};
    REQUIRE(pipeline::config_from_fields(extra, "x").proxy_options == pipeline::config_fields{{"colour", "blue"}});
    auto bad = fields;
    for (auto& [k, v] : bad)
        if (k == "depth") v = "12";
    REQUIRE_THROWS_WITH(pipeline::config_from_fields(bad, "'m.ocm'"), Catch::Contains("field 'depth' is 12 (expected 10, 18 or 34)"));
}

TEST_CASE("training reads any ImageSource: bytes in memory train the model their float tensor trains; patches train") {
    const auto train = bars(32, false, 81);
    image_dataset ds;
    ds.channels = 1, ds.height = ds.width = 16;
    ds.pixels = matrix<std::uint8_t>(32, 256);
    ds.labels.assign(32, 0);
    ds.class_names = {"bars"};
    tensor<float> as_float({32, 1, 16, 16});
    for (std::size_t i = 0; i < train.size(); ++i) {
        ds.pixels.data()[i] = std::uint8_t(std::lround(train.data()[i] * 255));
        as_float.data()[i] = float(ds.pixels.data()[i]) / 255.0f;
    }
    auto cfg = tiny("simclr");
    cfg.epochs = 2;
    pipeline::representation a(cfg, 1), b(cfg, 1);
    a.fit(as_float);
    b.fit(dataset_source(ds));
    const auto fa = a.features(as_float), fb = b.features(dataset_source(ds));
    REQUIRE(std::equal(fa.values().begin(), fa.values().end(), fb.values().begin()));

    // 8 x 8 patches of 16 x 16 images (the patch pipeline's way in), seeded
    std::vector<image_u8> big;
    for (std::size_t i = 0; i < 4; ++i) {
        image_u8 im{16, 16, 1, {}};
        im.pixels.assign(ds.pixels.row(i), ds.pixels.row(i) + 256);
        big.push_back(std::move(im));
    }
    const image_list_source src(big);
    const patch_sampler patches(src, {.side = 8, .count = 64, .seed = 2});
    auto pc = tiny("rotation");
    pc.epochs = 1;
    pipeline::representation p1(pc, 1), p2(pc, 1);
    std::vector<double> l1, l2;
    p1.fit(patches, [&](const pipeline::step_log& s) { l1.push_back(s.loss); });
    p2.fit(patches, [&](const pipeline::step_log& s) { l2.push_back(s.loss); });
    REQUIRE(l1.size() == 4);
    REQUIRE(l1 == l2);
    REQUIRE(p1.features(patches).rows() == 64);
    REQUIRE_THROWS_WITH(p1.fit(patch_sampler(src, {.side = 8, .count = 8, .seed = 2})),
                        Catch::Contains("needs at least batch = 16 images, got 8"));
}

TEST_CASE("CutPaste: synthetic defects are exact pastes of a piece of the image, seeded, and the proxy trains") {
    // a ramp image: every pixel distinct, so a pasted pixel shows where it came from
    const std::size_t C = 3, H = 64, W = 80;
    std::vector<float> img(C * H * W), out(img.size());
    for (std::size_t i = 0; i < img.size(); ++i) img[i] = float(i % 997) / 997.0f;
    std::vector<std::uint8_t> mask(H * W);
    pipeline::cutpaste_params p;
    p.jitter = 0;  // pasted pixels are then copies of source pixels
    std::size_t min_area = H * W, max_area = 0;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        rng r(seed);
        pipeline::cut_paste(img.data(), C, H, W, p, r, out.data(), mask.data());
        std::size_t area = 0, y_min = H, y_max = 0, x_min = W, x_max = 0;
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x) {
                const std::size_t k = y * W + x;
                if (!mask[k]) {
                    for (std::size_t c = 0; c < C; ++c) REQUIRE(out[c * H * W + k] == img[c * H * W + k]);
                    continue;
                }
                ++area, y_min = std::min(y_min, y), y_max = std::max(y_max, y), x_min = std::min(x_min, x), x_max = std::max(x_max, x);
            }
        // one solid rectangle of 2-15 % of the image (up to rounding of its sides), aspect in [0.3, 3.3]
        const std::size_t h = y_max - y_min + 1, w = x_max - x_min + 1;
        REQUIRE(area == h * w);
        REQUIRE(double(area) >= 0.02 * H * W * 0.8);
        REQUIRE(double(area) <= 0.15 * H * W * 1.2);
        REQUIRE(double(w) / double(h) >= 0.3 * 0.7);
        REQUIRE(double(w) / double(h) <= 3.3 / 0.7);
        min_area = std::min(min_area, area), max_area = std::max(max_area, area);
        // the pasted block is a block of the source (the same offsets in every channel)
        const float first = out[y_min * W + x_min];
        std::size_t src = 0;
        while (img[src] != first) ++src;
        const std::size_t sy = src / W, sx = src % W;
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x)
                    REQUIRE(out[(c * H + y_min + y) * W + x_min + x] == img[(c * H + sy + y) * W + sx + x]);
    }
    REQUIRE(max_area > 2 * min_area);  // the area is drawn, not fixed
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        rng r(seed);
        pipeline::scar(img.data(), C, H, W, p, r, out.data(), mask.data());
        std::size_t area = 0;
        for (std::size_t k = 0; k < H * W; ++k) {
            area += mask[k];
            if (!mask[k])
                for (std::size_t c = 0; c < C; ++c) REQUIRE(out[c * H * W + k] == img[c * H * W + k]);
        }
        // a strip of 1-4 x 2-6 px at this size (0.25 of 256), rotated: its area up to rounding
        REQUIRE(area >= 1);
        REQUIRE(area <= 4 * 6 * 2);
    }
    // the proxy's batch: originals, then cut_paste, then scar versions; seeded
    const auto x = bars(4, false, 91);
    auto cfg = tiny("cutpaste");
    rng r(1);
    pipeline::cutpaste_proxy proxy(cfg.head_out, r);
    const auto [b1, labels] = proxy.batch(x, 7);
    const auto [b2, labels2] = proxy.batch(x, 7);
    const auto [b3, labels3] = proxy.batch(x, 8);
    REQUIRE(b1.shape() == shape_t{12, 1, 16, 16});
    REQUIRE(labels == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
    REQUIRE(std::equal(b1.data(), b1.data() + b1.size(), b2.data()));
    REQUIRE_FALSE(std::equal(b1.data(), b1.data() + b1.size(), b3.data()));
    REQUIRE(std::equal(x.data(), x.data() + x.size(), b1.data()));
    // it trains through the built-in list, and GDE on f tells vertical bars from horizontal ones
    const auto train = bars(64, false, 92), test_normal = bars(30, false, 93), test_anomal = bars(30, true, 94);
    pipeline::representation rep(cfg, 1);
    std::vector<double> losses;
    rep.fit(train, [&](const pipeline::step_log& s) { losses.push_back(s.loss); });
    REQUIRE(losses.back() < losses.front());
    gde<float> det;
    (void)det.fit(rep.features(train).view());
    std::vector<int> y(60, 0);
    std::fill(y.begin() + 30, y.end(), 1);
    const double auc = roc_auc(det.score(rep.features(tensor_cat(test_normal, test_anomal)).view()), y);
    WARN("CutPaste: loss " << losses.front() << " -> " << losses.back() << ", f + GDE AUC " << auc);
    REQUIRE(auc > 0.75);
}
