// tests/mvtec_fixture.hpp - small data sets in the MVTec AD layout, written as PNG files, whose
// defects are obvious: normal images are noisy horizontal stripes; a defect is a square of a
// foreign colour at a random place, and its mask is exactly that square.
#pragma once

#include <oneclass/core/rng.hpp>
#include <oneclass/data/images.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

namespace test {

struct mvtec_spec {
    std::size_t train = 12, test_good = 6, test_defect = 6, size = 48, channels = 3, defect_side = 12;
    std::uint64_t seed = 1;
};

/// A normal stripe image; with a defect, the square [y, y + side) x [x, x + side) in magenta.
inline oneclass::image_u8 stripes(const mvtec_spec& s, oneclass::rng& r, bool defect, std::size_t& y, std::size_t& x) {
    const std::size_t S = s.size, C = s.channels;
    oneclass::image_u8 img{S, S, C, std::vector<std::uint8_t>(S * S * C)};
    const double phase = r.uniform() * 8.0;
    y = x = 0;
    if (defect) y = r.below(S - s.defect_side + 1), x = r.below(S - s.defect_side + 1);
    for (std::size_t h = 0; h < S; ++h)
        for (std::size_t w = 0; w < S; ++w) {
            const double v = 0.5 + 0.3 * std::sin((double(h) + phase) * 2 * 3.14159265358979 / 8.0) + 0.04 * r.normal();
            const bool in = defect && h >= y && h < y + s.defect_side && w >= x && w < x + s.defect_side;
            for (std::size_t c = 0; c < C; ++c) {
                const double val = in ? (C == 1 ? 1.0 : (c == 1 ? 0.0 : 1.0)) : v;
                img.pixels[(h * S + w) * C + c] = std::uint8_t(std::clamp(std::lround(255 * val), 0L, 255L));
            }
        }
    return img;
}

/// Writes root/<category>/{train/good, test/good, test/square, ground_truth/square}.
inline void make_mvtec(const std::filesystem::path& root, const std::string& category, const mvtec_spec& s) {
    namespace fs = std::filesystem;
    const fs::path d = root / category;
    for (const char* sub : {"train/good", "test/good", "test/square", "ground_truth/square"}) fs::create_directories(d / sub);
    oneclass::rng r(s.seed);
    std::size_t y, x;
    const auto name = [](std::size_t i) {
        char b[32];
        std::snprintf(b, sizeof b, "%03zu", i);
        return std::string(b);
    };
    for (std::size_t i = 0; i < s.train; ++i) oneclass::save_png(d / "train/good" / (name(i) + ".png"), stripes(s, r, false, y, x));
    for (std::size_t i = 0; i < s.test_good; ++i) oneclass::save_png(d / "test/good" / (name(i) + ".png"), stripes(s, r, false, y, x));
    for (std::size_t i = 0; i < s.test_defect; ++i) {
        oneclass::save_png(d / "test/square" / (name(i) + ".png"), stripes(s, r, true, y, x));
        oneclass::image_u8 m{s.size, s.size, 1, std::vector<std::uint8_t>(s.size * s.size, 0)};
        for (std::size_t h = y; h < y + s.defect_side; ++h)
            for (std::size_t w = x; w < x + s.defect_side; ++w) m.pixels[h * s.size + w] = 255;
        oneclass::save_png(d / "ground_truth/square" / (name(i) + "_mask.png"), m);
    }
}

}  // namespace test
