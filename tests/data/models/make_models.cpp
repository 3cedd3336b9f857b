// tests/data/models/make_models.cpp - writes the representation model files that test_pipeline
// loads to prove that files of an earlier format still load and give the same features.
//
// The committed *.ocm files under tests/data/models/v2/ were written by this program compiled
// against commit 4297544 (model format 2, before the field table); their *.npy outputs are what
// that build computed from the loaded model. Rebuilding this program against newer headers
// writes files of the newer format: do not overwrite the v2 fixtures with them.
//
//     g++ -std=c++20 -O2 -march=x86-64-v2 -I include -I /usr/include/eigen3 tests/data/models/make_models.cpp -o /tmp/mm \
//         -lopenblas -ltbb -lpng -ljpeg -lz && /tmp/mm tests/data/models/v2
#include <oneclass/data/npy.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <algorithm>
#include <cstdio>

using namespace oneclass;

// The images of test_pipeline's `bars`: normal horizontal, anomalous vertical bars with noise.
static tensor<float> bars(std::size_t n, bool vertical, std::uint64_t seed) {
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

int main(int argc, char** argv) {
    if (argc != 2) return std::fprintf(stderr, "usage: make_models OUT_DIR\n"), 2;
    const std::filesystem::path out = argv[1];
    std::filesystem::create_directories(out);
    const auto train = bars(32, false, 41), probe = bars(6, true, 5);
    for (const char* method : {"rotation", "dae"}) {
        pipeline::representation_config c;
        c.method = pipeline::parse_method(method);
        c.net = {.depth = 10, .width = 1.0 / 16};
        c.head_hidden = {16};
        c.head_out = 8;
        c.epochs = 1;
        c.batch = 16;
        c.lr = 0.05;
        c.seed = 3;
        pipeline::representation rep(c, 1);
        rep.fit(train);
        const std::string stem = (out / method).string();
        rep.save(stem + ".ocm", {{"dataset", "bars"}, {"class", "0"}});
        // what the saved file gives, read back through load (the test's reference)
        auto back = pipeline::representation::load(stem + ".ocm");
        save_npy<float>(stem + "_f.npy", back.features(probe).view());
        std::vector<double> s = std::string(method) == "dae" ? back.reconstruction_scores(probe)
                                                              : back.rotation_scores(probe, true);
        matrix<double> sm(s.size(), 1);
        std::copy(s.begin(), s.end(), sm.values().begin());
        save_npy<double>(stem + "_scores.npy", sm.view());
    }
}
