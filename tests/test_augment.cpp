// tests/test_augment.cpp - augment/: geometry (rot90 / flips / DistAug shifts as numpy defines
// them), crop boxes, colour operations, blur, and seeded, thread-independent SimCLR views.
#include "test_util.hpp"

#include <oneclass/augment/augment.hpp>

#include <tbb/global_control.h>

using namespace oneclass;
namespace aug = oneclass::augment;

namespace {
tensor<float> random_images(std::size_t n, std::size_t c, std::size_t h, std::size_t w, std::uint64_t seed) {
    tensor<float> t({n, c, h, w});
    rng r(seed);
    for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = float(r.uniform());
    return t;
}
}  // namespace

TEST_CASE("rot90 matches numpy.rot90; four turns and two flips are the identity") {
    const std::vector<float> a{1, 2, 3, 4, 5, 6};  // [[1 2 3] [4 5 6]]
    std::vector<float> o(6);
    aug::rot90(a.data(), 1, 2, 3, 1, o.data());
    REQUIRE(o == std::vector<float>{3, 6, 2, 5, 1, 4});  // numpy.rot90: [[3 6] [2 5] [1 4]]
    aug::rot90(a.data(), 1, 2, 3, 2, o.data());
    REQUIRE(o == std::vector<float>{6, 5, 4, 3, 2, 1});
    aug::rot90(a.data(), 1, 2, 3, 3, o.data());
    REQUIRE(o == std::vector<float>{4, 1, 5, 2, 6, 3});
    const auto x = random_images(1, 3, 5, 5, 1);
    std::vector<float> p(x.values().begin(), x.values().end()), q(p.size());
    for (int k = 0; k < 4; ++k) {
        aug::rot90(p.data(), 3, 5, 5, 1, q.data());
        p.swap(q);
    }
    REQUIRE(std::equal(p.begin(), p.end(), x.data()));
    aug::hflip(x.data(), 3, 5, 5, q.data());
    REQUIRE(q[4] == x.data()[0]);
    aug::hflip(q.data(), 3, 5, 5, p.data());
    REQUIRE(std::equal(p.begin(), p.end(), x.data()));
    aug::vflip(x.data(), 3, 5, 5, q.data());
    REQUIRE(q[0] == x.data()[20]);
}

TEST_CASE("DistAug shifts: s = 2 r + f is rot90 by r then hflip if f") {
    const auto x = random_images(2, 3, 6, 6, 2);
    const auto id = aug::distribution_shift(x, 0);
    REQUIRE(std::equal(id.data(), id.data() + id.size(), x.data()));
    const auto s3 = aug::distribution_shift(x, 3);
    std::vector<float> r(3 * 36), f(3 * 36);
    aug::rot90(x.data() + 108, 3, 6, 6, 1, r.data());
    aug::hflip(r.data(), 3, 6, 6, f.data());
    REQUIRE(std::equal(f.begin(), f.end(), s3.data() + 108));
    REQUIRE_THROWS_WITH(aug::distribution_shift(x, 8), Catch::Contains("0..7"));
    REQUIRE_THROWS_WITH(aug::distribution_shift(random_images(1, 1, 4, 5, 1), 1), Catch::Contains("H x H"));
}

TEST_CASE("random resized crop boxes stay inside, with the area and aspect ranges of torchvision") {
    rng r(test::seed());
    aug::simclr_params p;
    for (int i = 0; i < 2000; ++i) {
        const auto b = aug::sample_crop(r, 32, 32, p);
        REQUIRE(b.height >= 1);
        REQUIRE(b.width >= 1);
        REQUIRE(b.top + b.height <= 32);
        REQUIRE(b.left + b.width <= 32);
        const double area = double(b.height * b.width) / 1024.0, ratio = double(b.width) / double(b.height);
        REQUIRE(area >= 0.08 * 0.8);  // rounding of the sides to whole pixels
        REQUIRE(ratio >= 0.75 * 0.8);
        REQUIRE(ratio <= 4.0 / 3.0 * 1.25);
        const auto s = aug::sample_square_crop(r, 32, 32);
        REQUIRE(s.height == s.width);
        REQUIRE(s.height >= 16);
        REQUIRE(s.top + s.height <= 32);
    }
    const auto x = random_images(1, 3, 8, 8, 3);
    std::vector<float> o(x.size());
    aug::resized_crop(x.data(), 3, 8, 8, {0, 0, 8, 8}, 8, 8, o.data());  // the full box is the identity
    for (std::size_t i = 0; i < o.size(); ++i) REQUIRE(o[i] == Approx(x.data()[i]).margin(1e-6));
}

TEST_CASE("grayscale uses ITU-R 601 weights; hue rotation by a third turns red into green") {
    std::vector<float> px{1, 0, 0};  // one red pixel, CHW with H W = 1
    aug::detail::grayscale_inplace(px.data(), 1);
    REQUIRE(px[0] == Approx(0.299f));
    REQUIRE(px[1] == px[0]);
    std::vector<float> red{1, 0, 0};
    aug::detail::hue_inplace(red.data(), 1, 1.0 / 3.0);
    REQUIRE(red[0] == Approx(0.0f).margin(1e-6));
    REQUIRE(red[1] == Approx(1.0f));
    REQUIRE(red[2] == Approx(0.0f).margin(1e-6));
}

TEST_CASE("colour jitter with brightness only scales every pixel by one factor in [0.6, 1.4]") {
    aug::simclr_params p;
    p.contrast = p.saturation = p.hue = 0;
    rng r(5);
    for (int t = 0; t < 50; ++t) {
        std::vector<float> img(3 * 4, 0.5f);
        aug::color_jitter(img.data(), 3, 4, p, r);
        const float f = img[0] / 0.5f;
        REQUIRE(f >= 0.6f - 1e-6f);
        REQUIRE(f <= 1.4f + 1e-6f);
        for (float v : img) REQUIRE(v == Approx(img[0]));
    }
}

TEST_CASE("gaussian blur keeps constants and total mass; normalised symmetric kernel") {
    std::vector<float> c(2 * 7 * 9, 0.25f);
    aug::gaussian_blur(c.data(), 2, 7, 9, 3, 1.3);
    for (float v : c) REQUIRE(v == Approx(0.25f));
    std::vector<float> d(11 * 11, 0.0f);
    d[5 * 11 + 5] = 1.0f;  // an impulse far from the border spreads symmetrically, mass kept
    aug::gaussian_blur(d.data(), 1, 11, 11, 5, 0.8);
    double mass = 0;
    for (float v : d) mass += v;
    REQUIRE(mass == Approx(1.0).epsilon(1e-6));
    REQUIRE(d[5 * 11 + 4] == Approx(d[5 * 11 + 6]));
    REQUIRE(d[4 * 11 + 5] == Approx(d[6 * 11 + 5]));
    REQUIRE(d[5 * 11 + 5] > d[5 * 11 + 6]);
    REQUIRE_THROWS_AS(aug::gaussian_blur(d.data(), 1, 11, 11, 4, 1.0), invalid_input);
}

TEST_CASE("SimCLR views: seeded, thread-independent, in [0, 1], and they actually change the image") {
    const auto x = random_images(6, 3, 32, 32, 7);
    aug::simclr views;
    const auto a = views(x, 11);
    const auto b = views(x, 11);
    REQUIRE(std::equal(a.data(), a.data() + a.size(), b.data()));
    const auto c = views(x, 12);
    REQUIRE_FALSE(std::equal(a.data(), a.data() + a.size(), c.data()));
    tensor<float> one;
    {
        tbb::global_control g(tbb::global_control::max_allowed_parallelism, 1);
        one = views(x, 11);
    }
    REQUIRE(std::equal(a.data(), a.data() + a.size(), one.data()));
    for (std::size_t i = 0; i < a.size(); ++i) {
        REQUIRE(a.data()[i] >= 0.0f);
        REQUIRE(a.data()[i] <= 1.0f);
    }
    REQUIRE_FALSE(std::equal(a.data(), a.data() + a.size(), x.data()));
    aug::simclr droc({.droc_compat = true});
    const auto g1 = random_images(2, 1, 32, 32, 8);
    REQUIRE(droc(g1, 3).shape() == g1.shape());
    REQUIRE_THROWS_WITH(views(random_images(1, 2, 8, 8, 1), 1), Catch::Contains("N x 1 or N x 3"));
}
