// tests/test_mpi_train.cpp - data-parallel training under mpirun (part of test_mpi, which ctest
// runs on 1, 2 and 3 ranks): P = 1 equals the plain trainer bit for bit; P ranks with synchronised batch norm equal one
// process with the same global batch up to the rounding of the sums (bound below); runs repeat
// bit for bit, resume bit for bit, and a rank's bad input or a non-finite loss stops every rank.
#include <catch2/catch.hpp>

#include "pipeline_fixture.hpp"
#include "mpi_fixture.hpp"
#include "test_util.hpp"

#include <oneclass/mpi/training.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <unistd.h>

using namespace oneclass;

namespace {
using test::world;

tensor<float> bars(std::size_t n, std::uint64_t seed) { return test::bars(n, false, seed); }

pipeline::representation_config tiny(const std::string& m) {
    auto c = test::tiny(m);
    c.epochs = 2;
    return c;
}

std::vector<float> flat_parameters(pipeline::representation& rep) {
    std::vector<float> v;
    for (const auto& p : rep.parameters()) v.insert(v.end(), p.var.value().data(), p.var.value().data() + p.var.value().size());
    for (const auto& b : rep.buffers()) v.insert(v.end(), b.values->begin(), b.values->end());
    return v;
}

// Every rank holds the same vector, bit for bit.
bool same_on_every_rank(const std::vector<float>& v) {
    const auto all = world().all_gather(v);
    for (const auto& other : all)
        if (other.size() != v.size() || !std::equal(v.begin(), v.end(), other.begin())) return false;
    return true;
}

std::filesystem::path scratch(const std::string& name) {
    // rank 0's process id names the directory every rank uses
    const auto pid = world().broadcast(std::vector<long long>{(long long)::getpid()})[0];
    const auto dir = std::filesystem::temp_directory_path() / ("oneclass_mpi_train_" + std::to_string(pid));
    if (world().rank() == 0) std::filesystem::create_directories(dir);
    world().sum(0);  // the directory exists before anyone uses it
    return dir / name;
}
}  // namespace

TEST_CASE("sum_in_place: the ring all-reduce gives every rank the same sum") {
    const auto& c = world();
    for (std::size_t n : {0, 1, 2, 5, 1000, 4099}) {
        std::vector<float> v(n);
        rng r(17 + std::uint64_t(c.rank()));
        for (auto& x : v) x = float(r.normal());
        // the reference in double, from every rank's values
        const auto parts = c.all_gather(v);
        std::vector<float> got = v;
        c.sum_in_place(got);
        REQUIRE(same_on_every_rank(got));
        for (std::size_t i = 0; i < n; ++i) {
            double want = 0, mag = 0;
            for (const auto& p : parts) want += p[i], mag += std::abs(p[i]);
            // P - 1 float additions, each rounding by at most half an ulp of the partial sum
            REQUIRE(std::abs(got[i] - want) <= double(c.size()) * 0x1p-24 * mag);
        }
        // small integers sum exactly
        std::vector<double> w(n, double(c.rank() + 1));
        c.sum_in_place(w);
        for (double x : w) REQUIRE(x == double(c.size() * (c.size() + 1) / 2));
    }
    std::vector<float> mismatched(std::size_t(3 + c.rank() % 2));
    if (c.size() > 1) REQUIRE_THROWS_WITH(c.sum_in_place(mismatched), Catch::Contains("every rank sums vectors of one length"));
}

TEST_CASE("data-parallel training equals one process with the same global batch") {
    const auto& c = world();
    const auto train = bars(32, 7);
    const auto largest_difference = [](const std::vector<float>& a, const std::vector<float>& b) {
        double worst = 0;
        for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])) / (1 + std::abs(a[i])));
        return worst;
    };
    for (std::string m : {"rotation", "distaug", "simclr", "dae", "cutpaste"}) {
        INFO(m << " on " << c.size() << " rank(s)");
        const auto cfg = tiny(m);
        pipeline::representation one(cfg, 1), parallel(cfg, 1);
        std::vector<double> l1, lp;
        one.fit(train, [&](const pipeline::step_log& s) { l1.push_back(s.loss); });
        parallel.set_data_parallel(mpi::data_parallel(c, /*sync_batch_norm=*/true));
        parallel.fit(train, [&](const pipeline::step_log& s) { lp.push_back(s.loss); });
        const auto a = flat_parameters(one), b = flat_parameters(parallel);
        REQUIRE(same_on_every_rank(b));
        REQUIRE(a.size() == b.size());
        REQUIRE(lp.size() == l1.size());
        if (c.size() == 1) {
            // one rank runs the same arithmetic as the plain trainer (the sums over one rank are copies)
            REQUIRE(lp == l1);
            REQUIRE(a == b);
            continue;
        }
        // The first step's loss is computed from the same weights: it differs only by the order of
        // the sums in the batch-norm statistics and the loss (float, ~1e-7 relative each), while
        // a wrong augmentation seed or a missing negative would move it by ~1e-2.
        REQUIRE(std::abs(lp[0] - l1[0]) <= 1e-6 * std::abs(l1[0]));
        // After it, the ranks' gradients are sums in another order: a perturbation at the rounding
        // level in every step, which training amplifies by an amount of its own (a contrastive loss
        // on this tiny network more than rotation). The bound is calibrated on the same run: one
        // process whose every step's summed gradient and batch-norm sums are moved by one rounding
        // each (a one-rank "all-reduce" that perturbs instead of copying); two twins of their own
        // noise, as one can happen to land near the unperturbed run.
        double rounding = 0;
        for (std::uint64_t seed : {99, 100}) {
            pipeline::representation perturbed(cfg, 1);
            rng noise(seed);
            pipeline::data_parallel twin;
            twin.sum = [&](std::vector<float>& v) {
                for (auto& x : v)  // zeros stay (the flags' "no" among them)
                    if (x != 0) x = std::nextafter(x, noise.uniform() < 0.5 ? -HUGE_VALF : HUGE_VALF);
            };
            twin.sum_double = [&](std::vector<double>& v) {
                for (auto& x : v)
                    if (x != 0) x = std::nextafter(x, noise.uniform() < 0.5 ? -HUGE_VAL : HUGE_VAL);
            };
            twin.all_gather = [](const std::vector<float>& v) { return std::vector<std::vector<float>>{v}; };
            twin.sync_batch_norm = true;
            perturbed.set_data_parallel(twin);
            perturbed.fit(train);
            rounding = std::max(rounding, largest_difference(a, flat_parameters(perturbed)));
        }
        const double ranks = largest_difference(a, b);
        if (c.rank() == 0)
            WARN(m << ": largest weight difference, " << c.size() << " ranks against one process " << ranks << ", one process against its perturbed twin "
                   << rounding << " (relative to 1 + |w|)");
        REQUIRE(ranks <= 10 * rounding + 1e-6);
    }
}

TEST_CASE("data-parallel runs repeat bit for bit, with per-rank batch norm too") {
    const auto& c = world();
    const auto train = bars(32, 8);
    for (bool sync : {false, true}) {
        INFO((sync ? "synchronised" : "per-rank") << " batch norm");
        auto cfg = tiny("distaug");
        pipeline::representation a(cfg, 1), b(cfg, 1);
        a.set_data_parallel(mpi::data_parallel(c, sync));
        b.set_data_parallel(mpi::data_parallel(c, sync));
        a.fit(train);
        b.fit(train);
        const auto pa = flat_parameters(a);
        REQUIRE(pa == flat_parameters(b));
        REQUIRE(same_on_every_rank(pa));  // every rank holds the one model (rank 0's running statistics)
        const auto fa = a.features(train);
        REQUIRE(same_on_every_rank(std::vector<float>(fa.values().begin(), fa.values().end())));
    }
}

TEST_CASE("a data-parallel run stopped and resumed from rank 0's checkpoint is the uninterrupted run") {
    const auto& c = world();
    const auto train = bars(48, 9);  // 3 steps per epoch
    auto cfg = tiny("simclr");
    pipeline::representation straight(cfg, 1);
    straight.set_data_parallel(mpi::data_parallel(c, true));
    std::vector<double> ls, li;
    straight.fit(train, [&](const pipeline::step_log& l) { ls.push_back(l.loss); });

    cfg.checkpoint = scratch("resume.ckpt");
    cfg.checkpoint_every = 100;  // only the stop request writes it
    std::atomic<bool> stop{false};
    pipeline::representation a(cfg, 1);
    a.set_data_parallel(mpi::data_parallel(c, true));
    // asked on the last rank only: the ranks agree on it in the next step's sum
    REQUIRE_THROWS_AS(a.fit(train,
                            [&](const pipeline::step_log& l) {
                                li.push_back(l.loss);
                                if (l.step == 2 && c.rank() == c.size() - 1) stop = true;
                            },
                            &stop),
                      pipeline::training_interrupted);
    REQUIRE(li.size() == 4);
    pipeline::representation b(cfg, 1);
    b.load_checkpoint(cfg.checkpoint);
    REQUIRE(b.steps_done() == 4);
    b.set_data_parallel(mpi::data_parallel(c, true));
    b.fit(train, [&](const pipeline::step_log& l) { li.push_back(l.loss); });
    REQUIRE(li == ls);
    REQUIRE(flat_parameters(b) == flat_parameters(straight));

    // another batch-norm mode (or rank count) is refused, on every rank
    pipeline::representation other(cfg, 1);
    other.load_checkpoint(cfg.checkpoint);
    other.set_data_parallel(mpi::data_parallel(c, false));
    REQUIRE_THROWS_WITH(other.fit(train), Catch::Contains("written by a run of " + std::to_string(c.size()) +
                                                          " rank(s) with synchronised batch norm"));
    pipeline::representation plain(cfg, 1);
    plain.load_checkpoint(cfg.checkpoint);
    if (c.size() > 1) REQUIRE_THROWS_WITH(plain.fit(train), Catch::Contains("this run has 1"));
    world().sum(0);
    if (c.rank() == 0) std::filesystem::remove_all(cfg.checkpoint.parent_path());
}

TEST_CASE("a non-finite loss or image on one rank stops every rank; the last good checkpoint is kept") {
    const auto& c = world();
    auto train = bars(32, 10);
    auto cfg = tiny("rotation");
    cfg.epochs = 3;
    cfg.checkpoint = scratch("nan.ckpt");
    pipeline::representation a(cfg, 1);
    a.set_data_parallel(mpi::data_parallel(c));
    a.fit(train);  // checkpoints at each epoch's end
    const std::string good = read_file_bytes(cfg.checkpoint, "test");

    // a NaN weight on the last rank only: its loss part is NaN, so the global loss is
    auto nan_cfg = cfg;
    nan_cfg.checkpoint = scratch("nan2.ckpt");
    pipeline::representation b(nan_cfg, 1);
    b.set_data_parallel(mpi::data_parallel(c));
    auto ps = b.parameters();
    REQUIRE(ps.back().id.rfind("cls.", 0) == 0);
    if (c.rank() == c.size() - 1) ps.back().var.value().data()[0] = std::numeric_limits<float>::quiet_NaN();
    const auto before = ps.front().var.value().clone();
    REQUIRE_THROWS_WITH(b.fit(train), Catch::Contains("loss is NaN at epoch 1 step 1") && Catch::Contains("no checkpoint had been written"));
    REQUIRE(std::equal(before.data(), before.data() + before.size(), b.parameters().front().var.value().data()));
    REQUIRE(read_file_bytes(cfg.checkpoint, "test") == good);

    // an image with an Inf in a source decoded on demand (a corrupt file): only the rank whose
    // rows hold it reads it, and every rank stops
    struct poisoned {
        const tensor<float>* images;
        std::size_t size() const { return images->shape(0); }
        image_shape shape() const { return {1, 16, 16}; }
        void read(std::size_t i, float* out) const {
            std::copy_n(images->data() + i * 256, 256, out);
            if (i == 5) out[7] = std::numeric_limits<float>::infinity();
        }
        int label(std::size_t) const { return 0; }
    } src{&train};
    static_assert(ImageSource<poisoned>);
    pipeline::representation d(tiny("rotation"), 1);
    d.set_data_parallel(mpi::data_parallel(c));
    std::string why;
    try {
        d.fit(src);
    } catch (const invalid_input& e) {
        why = e.what();
    }
    const auto stop_step = [&] {  // the rank holding image 5 names it; the others point to it
        return why.find("image 5 holds a non-finite value") != std::string::npos ||
               why.find("another rank's rows holds a non-finite value") != std::string::npos;
    };
    REQUIRE(stop_step());
    const auto named = c.all_gather(std::vector<int>{why.find("image 5") != std::string::npos ? 1 : 0});
    int namers = 0;
    for (const auto& n : named) namers += n[0];
    REQUIRE(namers == 1);
    world().sum(0);
    if (c.rank() == 0) std::filesystem::remove_all(cfg.checkpoint.parent_path());
}

TEST_CASE("a data-parallel representation extracts features and proxy scores split across the ranks") {
    const auto& c = world();
    const auto train = bars(32, 11), test = bars(37, 12);  // 37 rows: blocks of 19 and 18 on two ranks
    auto cfg = tiny("rotation");
    cfg.epochs = 1;
    pipeline::representation rep(cfg, 1);
    rep.fit(train);
    const auto whole = rep.features(test), views = rep.view_features(test, {0, 2});
    const auto rot = rep.proxy_scores(test, "rotnet-sum");
    rep.set_data_parallel(mpi::data_parallel(c));
    const auto split = rep.features(test), split_views = rep.view_features(test, {0, 2});
    const auto split_rot = rep.proxy_scores(test, "rotnet-sum");
    REQUIRE(split.rows() == 37);
    REQUIRE(same_on_every_rank(std::vector<float>(split.values().begin(), split.values().end())));
    // each row is computed alone in evaluation mode; only a GEMM of another height may round
    // differently (a few float ulps of unit-length rows)
    REQUIRE_ALLCLOSE(split.values(), whole.values(), 1e-5, 1e-6);
    REQUIRE_ALLCLOSE(split_views.values(), views.values(), 1e-5, 1e-6);
    REQUIRE_ALLCLOSE(split_rot, rot, 1e-5, 1e-6);
    // more ranks than a batch has images: extraction still splits, training is refused
    auto small = cfg;
    small.batch = 2;
    pipeline::representation narrow(small, 1);
    auto many = mpi::data_parallel(c);
    many.size = 3, many.rank = std::min<std::size_t>(many.rank, 2);  // as if three ranks held the model
    narrow.set_data_parallel(many);
    REQUIRE_THROWS_WITH(narrow.fit(train), Catch::Contains("3 ranks cannot share a batch of 2"));
}

