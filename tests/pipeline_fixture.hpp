// tests/pipeline_fixture.hpp - the generated one-class images and the tiny network the pipeline
// tests train (test_pipeline, test_mpi_train).
#pragma once

#include <oneclass/core/rng.hpp>
#include <oneclass/pipeline/config.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <algorithm>
#include <string>

namespace test {

/// Normal: a bright horizontal bar at a random height; anomalous: a vertical bar. Noise on both.
inline oneclass::tensor<float> bars(std::size_t n, bool vertical, std::uint64_t seed) {
    oneclass::tensor<float> t({n, 1, 16, 16});
    oneclass::rng r(seed);
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

/// ResNet-10 at width 1/16 with a 16 -> 8 head: trains in milliseconds per step on 16 x 16 images.
inline oneclass::pipeline::representation_config tiny(const std::string& method) {
    oneclass::pipeline::representation_config c;
    c.method = method;
    c.net = {.depth = 10, .width = 1.0 / 16};
    c.head_hidden = {16};
    c.head_out = 8;
    c.epochs = 3;
    c.batch = 16;
    c.lr = 0.05;
    c.seed = 3;
    return c;
}

}  // namespace test
