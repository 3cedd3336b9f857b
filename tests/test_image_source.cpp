// tests/test_image_source.cpp - the streaming data sources: in memory, image folders decoded on
// demand (identical to the eager reader), and seeded random patches of large images.
#include "test_util.hpp"

#include <oneclass/data/image_source.hpp>

#include <tbb/global_control.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
const fs::path dir = fs::temp_directory_path() / ("oneclass_sources_" + std::to_string(::getpid()));

// A w x h RGB image whose pixel (y, x, c) is (y * 7 + x * 3 + c * 50 + salt) mod 256: every
// position distinguishable, so a patch names where it was cut from.
image_u8 ramp(std::size_t h, std::size_t w, std::size_t salt) {
    image_u8 im{h, w, 3, {}};
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x)
            for (std::size_t c = 0; c < 3; ++c) im.pixels.push_back(std::uint8_t((y * 7 + x * 3 + c * 50 + salt) % 256));
    return im;
}

template <ImageSource S>
std::vector<float> read_all(const S& s, const std::vector<std::size_t>& order) {
    const auto [C, H, W] = s.shape();
    std::vector<float> out(order.size() * C * H * W);
    for (std::size_t k = 0; k < order.size(); ++k) s.read(order[k], out.data() + k * C * H * W);
    return out;
}
}  // namespace

TEST_CASE("image_folder_source decodes on demand exactly what load_image_folder reads eagerly") {
    fs::remove_all(dir);
    for (int c = 0; c < 2; ++c) {
        const auto d = dir / "train" / (c ? "b" : "a");
        fs::create_directories(d);
        for (int i = 0; i < 3; ++i) save_png(d / ("img" + std::to_string(i) + ".png"), ramp(40 + 7 * i, 50, c * 20 + i));
    }
    std::ofstream(dir / "train/a/readme.txt") << "not an image";
    const auto eager = load_image_folder(dir, "train", 24);
    const image_folder_source lazy(dir / "train", 24);
    REQUIRE(lazy.size() == eager.size());
    REQUIRE(lazy.class_names() == eager.class_names);
    REQUIRE(lazy.shape() == image_shape{3, 24, 24});
    const dataset_source mem(eager);
    std::vector<float> a(3 * 24 * 24), b(a.size());
    for (std::size_t i = 0; i < lazy.size(); ++i) {
        REQUIRE(lazy.label(i) == eager.labels[i]);
        REQUIRE(mem.label(i) == eager.labels[i]);
        lazy.read(i, a.data());
        mem.read(i, b.data());
        REQUIRE(a == b);
        for (std::size_t k = 0; k < a.size(); ++k) REQUIRE(b[k] == float(eager.pixels(i, k)) / 255.0f);
    }
    // a subset of rows, and the stacked batch
    const dataset_source sub(eager, {4, 1});
    REQUIRE(sub.size() == 2);
    REQUIRE(sub.label(0) == 1);
    const auto t = gather(sub, {1, 0});
    REQUIRE(t.shape() == shape_t{2, 3, 24, 24});
    REQUIRE(std::equal(t.data(), t.data() + a.size(), read_all(mem, {1}).begin()));
    // misuse is named
    REQUIRE_THROWS_WITH(lazy.read(6, a.data()), Catch::Contains("image 6 out of range (6 images)"));
    REQUIRE_THROWS_WITH(image_folder_source(dir / "none", 24), Catch::Contains("is not a folder"));
    REQUIRE_THROWS_WITH(image_folder_source(dir / "train", 0).shape(), Catch::Contains("no common shape"));
    REQUIRE_THROWS_WITH(dataset_source(eager, {9}), Catch::Contains("row 9 out of range"));
    // a folder of images with no class folders is one class
    const image_folder_source flat(dir / "train/b", 16, 1);
    REQUIRE(flat.size() == 3);
    REQUIRE(flat.class_names() == std::vector<std::string>{""});
    fs::remove_all(dir);
}

TEST_CASE("patch_sampler: seeded patches that are exact crops, the same in any order, cache size and thread count") {
    std::vector<image_u8> imgs{ramp(60, 80, 0), ramp(45, 50, 9), ramp(33, 90, 17)};
    const image_list_source src(imgs, {0, 0, 1});
    const patch_sampler ps(src, {.side = 16, .count = 300, .seed = 7});
    REQUIRE(ps.size() == 300);
    REQUIRE(ps.shape() == image_shape{3, 16, 16});
    std::vector<float> p(3 * 16 * 16);
    std::set<std::pair<std::size_t, std::size_t>> positions;
    std::size_t per_image[3] = {0, 0, 0};
    for (std::size_t i = 0; i < ps.size(); ++i) {
        const auto o = ps.where(i);
        REQUIRE(o.image == i % 3);
        REQUIRE(ps.label(i) == (o.image == 2 ? 1 : 0));
        ++per_image[o.image];
        const auto& im = imgs[o.image];
        REQUIRE(o.y + 16 <= im.height);
        REQUIRE(o.x + 16 <= im.width);
        if (o.image == 0) positions.insert({o.y, o.x});
        ps.read(i, p.data());
        for (std::size_t c = 0; c < 3; ++c)
            for (std::size_t y = 0; y < 16; ++y)
                for (std::size_t x = 0; x < 16; ++x)
                    REQUIRE(p[(c * 16 + y) * 16 + x] == float(im.pixels[((o.y + y) * im.width + o.x + x) * 3 + c]) / 255.0f);
    }
    REQUIRE(per_image[0] == 100);
    REQUIRE(per_image[2] == 100);
    REQUIRE(positions.size() > 80);  // 100 draws over 45 x 65 positions: nearly all distinct
    // the same seed: the same patches, read forwards, backwards, without a cache, on 1 or 2 threads
    std::vector<std::size_t> fwd(ps.size()), bwd(ps.size());
    for (std::size_t i = 0; i < ps.size(); ++i) fwd[i] = i, bwd[i] = ps.size() - 1 - i;
    const auto a = read_all(ps, fwd);
    const patch_sampler uncached(src, {.side = 16, .count = 300, .seed = 7, .cache_bytes = 0});
    auto b = read_all(uncached, bwd);
    std::vector<float> b_fwd(b.size());
    const std::size_t n = 3 * 16 * 16;
    for (std::size_t k = 0; k < ps.size(); ++k) std::copy_n(b.begin() + (ps.size() - 1 - k) * n, n, b_fwd.begin() + k * n);
    REQUIRE(a == b_fwd);
    for (int threads : {1, 2}) {
        tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
        const auto t = gather(ps, fwd);
        REQUIRE(std::equal(t.data(), t.data() + t.size(), a.begin()));
    }
    // another seed, other positions
    const patch_sampler other(src, {.side = 16, .count = 300, .seed = 8});
    REQUIRE(read_all(other, fwd) != a);
    // a patch larger than an image is named
    const patch_sampler big(src, {.side = 40, .count = 3});
    REQUIRE_THROWS_WITH(big.read(2, p.data()), Catch::Contains("image 2 is 33 x 90, smaller than a 40 px patch"));
    REQUIRE_THROWS_WITH(image_list_source({}), Catch::Contains("no images"));
}
