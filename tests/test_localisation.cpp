// tests/test_localisation.cpp - defect localisation: the patch grid and its Gaussian upsampling
// against the double oracle, pixel ROC AUC and PRO against brute force and a hand-computed
// curve, dense patch features against one forward pass per patch, the MVTec AD reader and its
// errors, the pictures, and the whole chain on a generated MVTec-layout set.
#include "mvtec_fixture.hpp"
#include "test_util.hpp"

#include <oneclass/data/mvtec.hpp>
#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/eval/localisation.hpp>
#include <oneclass/eval/roc_auc.hpp>
#include <oneclass/ops/patch_map.hpp>
#include <oneclass/ops/ref/patch_map.hpp>
#include <oneclass/pipeline/localisation.hpp>
#include <oneclass/pipeline/patch_model.hpp>
#include <oneclass/pipeline/representation.hpp>
#include <oneclass/viz/heatmap.hpp>

#include <tbb/global_control.h>

#include <filesystem>
#include <unistd.h>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
using test::temp_dir;
}  // namespace

TEST_CASE("gaussian_upsample equals the 2-D definition, ragged borders included") {
    struct shape {
        std::size_t H, W, P, S;
    };
    // exact grids (256 / 32 / 4 scaled down), ragged ones ((H - P) % S != 0), one patch, stride = P
    for (const shape sh : {shape{40, 40, 8, 4}, shape{37, 45, 8, 3}, shape{16, 23, 16, 4}, shape{24, 24, 8, 8}, shape{33, 20, 5, 2}}) {
        const ops::patch_grid g{sh.H, sh.W, sh.P, sh.S};
        INFO(sh.H << " x " << sh.W << ", P " << sh.P << ", S " << sh.S);
        const auto m = test::random_tensor<double>({g.rows(), g.cols()}, 7);
        std::vector<double> map(m.data(), m.data() + m.size());
        for (const double sigma : {double(sh.P) / 4, 1.5}) {
            std::vector<double> got(sh.H * sh.W);
            ops::gaussian_upsample(map.data(), g, sigma, got.data());
            const auto want = ops::ref::gaussian_upsample(map, sh.H, sh.W, sh.P, sh.S, sigma);
            // both sum at most (P/S)^2 terms of size <= max|map| in double: 1e-12 is ~100x the rounding
            std::string why;
            CHECK(test::allclose(got, want, 1e-12, 1e-12, &why));
            INFO(why);
        }
    }
}

TEST_CASE("gaussian_upsample: a constant map stays constant on every pixel; a hot patch lands where it was") {
    const ops::patch_grid g{37, 45, 8, 3};
    std::vector<float> map(g.count(), 2.5f), out(g.H * g.W);
    ops::gaussian_upsample(map.data(), g, 2.0, out.data());
    for (const float v : out) REQUIRE(v == Approx(2.5f).epsilon(1e-6));

    std::fill(map.begin(), map.end(), 0.0f);
    const std::size_t i = 4, j = 7;  // patch at (12, 21), its centre (15.5, 24.5)
    map[i * g.cols() + j] = 1.0f;
    ops::gaussian_upsample(map.data(), g, 2.0, out.data());
    const auto peak = std::size_t(std::max_element(out.begin(), out.end()) - out.begin());
    const std::size_t py = peak / g.W, px = peak % g.W;
    CHECK((py == 15 || py == 16));
    CHECK((px == 24 || px == 25));
    for (std::size_t y = 0; y < g.H; ++y)  // nothing outside the hot patch's own pixels
        for (std::size_t x = 0; x < g.W; ++x)
            if (y < 12 || y >= 20 || x < 21 || x >= 29) REQUIRE(out[y * g.W + x] == 0.0f);
}

namespace {
/// PRO by definition: every distinct threshold, FPR and mean region overlap counted directly,
/// the trapezoid integrated to max_fpr with the crossing segment interpolated.
double pro_brute(const std::vector<double>& s, const std::vector<std::uint8_t>& m, std::size_t H, std::size_t W, double max_fpr) {
    const std::size_t HW = H * W, N = s.size() / HW;
    std::vector<std::vector<std::size_t>> regions;
    std::vector<bool> normal(s.size());
    for (std::size_t n = 0; n < N; ++n) {
        const auto r = connected_regions(std::span<const std::uint8_t>(m).subspan(n * HW, HW), H, W);
        const std::size_t base = regions.size();
        regions.resize(base + r.count);
        for (std::size_t p = 0; p < HW; ++p) {
            if (r.label[p]) regions[base + r.label[p] - 1].push_back(n * HW + p);
            normal[n * HW + p] = r.label[p] == 0;
        }
    }
    std::vector<double> t(s.begin(), s.end());
    std::sort(t.rbegin(), t.rend());
    t.erase(std::unique(t.begin(), t.end()), t.end());
    std::vector<std::pair<double, double>> curve{{0.0, 0.0}};
    for (const double th : t) {
        std::size_t fp = 0, nn = 0;
        for (std::size_t i = 0; i < s.size(); ++i)
            if (normal[i]) ++nn, fp += s[i] >= th;
        double pro = 0;
        for (const auto& reg : regions) {
            std::size_t hit = 0;
            for (const std::size_t i : reg) hit += s[i] >= th;
            pro += double(hit) / double(reg.size());
        }
        curve.push_back({double(fp) / double(nn), pro / double(regions.size())});
    }
    double a = 0;
    for (std::size_t k = 1; k < curve.size(); ++k) {
        const auto [x0, y0] = curve[k - 1];
        auto [x1, y1] = curve[k];
        if (x1 >= max_fpr) {
            y1 = x1 > x0 ? y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0) : y1;
            return (a + 0.5 * (max_fpr - x0) * (y0 + y1)) / max_fpr;
        }
        a += 0.5 * (x1 - x0) * (y0 + y1);
    }
    return a / max_fpr;
}
}  // namespace

TEST_CASE("PRO: a hand-computed curve, 8-connected regions, and brute force on random masks") {
    // one 1 x 6 image: region A = pixels 0-1, region B = pixel 5, defect-free 2-4. Sorted scores:
    // 0.9 A, 0.8 N, 0.7 B, 0.3 A, 0.2 N, 0.1 N give the curve (0, 0) (0, 1/4) (1/3, 1/4) (1/3, 3/4)
    // (1/3, 1) (2/3, 1) (1, 1): area to 0.5 is 1/3 * 1/4 + 1/6 * 1 = 1/4, normalised 1/2; to 0.3,
    // 0.3 * 1/4 / 0.3 = 1/4.
    const std::vector<double> s{0.9, 0.3, 0.8, 0.1, 0.2, 0.7};
    const std::vector<std::uint8_t> m{255, 255, 0, 0, 0, 255};
    CHECK(pro_auc(s, m, 1, 6, 0.5) == Approx(0.5).epsilon(1e-12));
    CHECK(pro_auc(s, m, 1, 6, 0.3) == Approx(0.25).epsilon(1e-12));

    // diagonal neighbours are one region; pixels two apart are two
    const std::vector<std::uint8_t> diag{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    REQUIRE(connected_regions(diag, 3, 4).count == 2);  // (0, 0) above (1, 0); (2, 3) alone
    const std::vector<std::uint8_t> diag2{1, 0, 0, 0, 1, 0, 0, 0, 1};
    REQUIRE(connected_regions(diag2, 3, 3).count == 1);

    rng r(test::seed());
    for (int trial = 0; trial < 20; ++trial) {
        const std::size_t H = 5 + r.below(6), W = 5 + r.below(6), N = 1 + r.below(3);
        std::vector<double> sc(N * H * W);
        std::vector<std::uint8_t> mk(N * H * W, 0);
        for (std::size_t n = 0; n < N; ++n)  // a few rectangles of different sizes per image
            for (std::size_t k = 0; k < 1 + r.below(3); ++k) {
                const std::size_t h = 1 + r.below(3), w = 1 + r.below(4), y = r.below(H - h + 1), x = r.below(W - w + 1);
                for (std::size_t a = y; a < y + h; ++a)
                    for (std::size_t b = x; b < x + w; ++b) mk[n * H * W + a * W + b] = 255;
            }
        for (std::size_t i = 0; i < sc.size(); ++i) sc[i] = double(r.below(12)) + (mk[i] ? 2.0 : 0.0);  // ties on purpose
        if (std::count(mk.begin(), mk.end(), 0) == 0) continue;
        for (const double f : {0.3, 0.05, 1.0}) {
            INFO("trial " << trial << " max_fpr " << f);
            CHECK(pro_auc(sc, mk, H, W, f) == Approx(pro_brute(sc, mk, H, W, f)).margin(1e-12));
        }
    }
    // a perfect map scores 1; errors name what is wrong
    std::vector<double> perfect(m.begin(), m.end());
    CHECK(pro_auc(perfect, m, 1, 6) == Approx(1.0));
    REQUIRE_THROWS_WITH(pro_auc(s, std::vector<std::uint8_t>(6, 0), 1, 6), Catch::Contains("no defect pixel"));
    REQUIRE_THROWS_WITH(pro_auc(s, m, 2, 6), Catch::Contains("not whole 2 x 6 images"));
    REQUIRE_THROWS_WITH(pro_auc(std::vector<double>{0.1, NAN, 0, 0, 0, 0}, m, 1, 6), Catch::Contains("non-finite"));
}

TEST_CASE("pixel ROC AUC equals the pair count over all pixels of all images") {
    rng r(test::seed());
    std::vector<float> s(3 * 40);
    std::vector<std::uint8_t> m(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) m[i] = r.below(4) == 0 ? 255 : 0, s[i] = float(r.below(10)) + (m[i] ? 1.5f : 0.f);
    double wins = 0, pairs = 0;
    for (std::size_t i = 0; i < s.size(); ++i)
        for (std::size_t j = 0; j < s.size(); ++j)
            if (m[i] && !m[j]) pairs += 1, wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
    CHECK(pixel_roc_auc(s, m) == Approx(wins / pairs).epsilon(1e-12));
}

namespace {
pipeline::representation_config patch_config() {
    pipeline::representation_config c;
    c.method = "rotation";
    c.net = {.depth = 10, .width = 1.0 / 16};
    c.head_hidden = {16};
    c.head_out = 8;
    c.epochs = 2;
    c.batch = 32;
    c.lr = 0.05;
    c.seed = 5;
    return c;
}
}  // namespace

TEST_CASE("dense patch features equal one forward pass per extracted patch, ragged grids included") {
    pipeline::representation rep(patch_config(), 3);
    const tensor<float> imgs = [] {
        auto t = test::random_tensor<float>({2, 3, 27, 22}, 11, 0.2);
        for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = std::clamp(t.data()[i] + 0.5f, 0.0f, 1.0f);
        return t;
    }();
    const localisation_params lp{.patch = 16, .stride = 4, .batch = 7};  // (27-16) % 4 = 3, (22-16) % 4 = 2: ragged
    const ops::patch_grid g = lp.grid(27, 22);
    REQUIRE(g.rows() == 3);
    REQUIRE(g.cols() == 2);
    const matrix<float> dense = dense_features(rep, imgs, lp);
    REQUIRE(dense.rows() == 2 * g.count());
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t i = 0; i < g.rows(); ++i)
            for (std::size_t j = 0; j < g.cols(); ++j) {
                tensor<float> one({1, 3, 16, 16});
                for (std::size_t c = 0; c < 3; ++c)
                    for (std::size_t y = 0; y < 16; ++y)
                        for (std::size_t x = 0; x < 16; ++x) one(0, c, y, x) = imgs(n, c, i * 4 + y, j * 4 + x);
                const matrix<float> f = rep.features(one);
                const std::size_t row = n * g.count() + i * g.cols() + j;
                // batch 7 against batch 1: the same kernels, summed in other block orders; the
                // features are unit vectors, so 1e-5 absolute is ~100 float roundings of a sum
                for (std::size_t k = 0; k < f.cols(); ++k) REQUIRE(dense(row, k) == Approx(f(0, k)).margin(1e-5));
            }
}

TEST_CASE("MVTec reader: layout, resizing, masks, channels, and one-line errors") {
    temp_dir t("mvtec");
    test::make_mvtec(t.path, "stripes", {.train = 3, .test_good = 2, .test_defect = 2, .size = 40, .channels = 1});
    REQUIRE(mvtec_category::categories(t.path) == std::vector<std::string>{"stripes"});
    const mvtec_category cat(t.path, "stripes", {.image_size = 20, .channels = 0});
    CHECK(cat.channels() == 1);  // grey files, kept grey
    CHECK(cat.train().size() == 3);
    REQUIRE(cat.test().size() == 4);
    CHECK(cat.defect_types() == std::vector<std::string>{"good", "square"});
    CHECK(cat.test().label(0) == 0);
    CHECK(cat.test().label(3) == 1);
    const image_u8 img = cat.test().decode(3), mask = cat.test().mask(3), good = cat.test().mask(0);
    CHECK((img.height == 20 && img.width == 20 && img.channels == 1));
    CHECK((mask.height == 20 && mask.channels == 1));
    const auto on = std::count(mask.pixels.begin(), mask.pixels.end(), 255);
    CHECK((on >= 36 && on <= 49));  // the 12 x 12 square at 40 px: 6 x 6 at 20, 7 a side where it straddles (half-covered pixels count)
    CHECK(std::count(good.pixels.begin(), good.pixels.end(), 0) == 400);
    CHECK(mvtec_category(t.path, "stripes", {.image_size = 20, .channels = 3}).test().decode(0).channels == 3);

    REQUIRE_THROWS_WITH(mvtec_category(t.path, "bottle"), Catch::Contains("unknown category 'bottle'") && Catch::Contains("categories: stripes"));
    fs::remove(t.path / "stripes/ground_truth/square/001_mask.png");
    REQUIRE_THROWS_WITH(mvtec_category(t.path, "stripes"), Catch::Contains("missing mask") && Catch::Contains("001_mask.png"));
    save_png(t.path / "stripes/ground_truth/square/001_mask.png", image_u8{30, 40, 1, std::vector<std::uint8_t>(1200, 255)});
    REQUIRE_THROWS_WITH(mvtec_category(t.path, "stripes"), Catch::Contains("is 30 x 40 but its image") && Catch::Contains("40 x 40"));
    for (const auto& e : fs::directory_iterator(t.path / "stripes/train/good")) fs::remove(e.path());
    REQUIRE_THROWS_WITH(mvtec_category(t.path, "stripes"), Catch::Contains("empty category"));
}

TEST_CASE("viz: inferno's ends, contours on the mask's outline, panels side by side") {
    const viz::rgb lo = viz::inferno(0), hi = viz::inferno(1), mid = viz::inferno(0.5);
    CHECK((lo.r == 0 && lo.g == 0 && lo.b == 4));
    CHECK((hi.r == 0xfc && hi.g == 0xff && hi.b == 0xa4));
    CHECK((mid.r == 0xbc && mid.g == 0x37 && mid.b == 0x54));
    const viz::rgb nan = viz::inferno(std::nan(""));
    CHECK((nan.r == 0 && nan.b == 4));
    // luminance rises along the map (what makes it readable in grey)
    double prev = -1;
    for (int k = 0; k <= 20; ++k) {
        const viz::rgb c = viz::inferno(k / 20.0);
        const double l = 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b;
        CHECK(l > prev);
        prev = l;
    }
    // a 2 x 3 block inside a 6 x 6 image, and a 1 x 2 block on its right border
    image_u8 img{6, 6, 3, std::vector<std::uint8_t>(108, 100)}, mask{6, 6, 1, std::vector<std::uint8_t>(36, 0)};
    for (std::size_t y = 2; y < 4; ++y)
        for (std::size_t x = 1; x < 4; ++x) mask.pixels[y * 6 + x] = 255;
    mask.pixels[0 * 6 + 5] = mask.pixels[0 * 6 + 4] = 255;
    viz::draw_contour(img, mask, {1, 2, 3});
    const char* want[6] = {"...oXX",  // X: outlined, o: outline outside; block pixels inside stay untouched (-)
                           ".ooooo",  //
                           "o---o.",  //
                           "o---o.",  //
                           ".ooo..",  //
                           "......"};
    for (std::size_t y = 0; y < 6; ++y)
        for (std::size_t x = 0; x < 6; ++x) {
            const char w = want[y][x];
            INFO("pixel " << y << ", " << x);
            CHECK(img.pixels[(y * 6 + x) * 3] == (w == 'o' || w == 'X' ? 1 : 100));
        }
    const image_u8 p = viz::panel({img, image_u8{4, 3, 1, std::vector<std::uint8_t>(12, 0)}}, true, 2);
    CHECK((p.height == 6 && p.width == 11 && p.channels == 3));
    CHECK(p.pixels[(0 * 11 + 8) * 3] == 0);     // the grey image, at x = 6 + 2
    CHECK(p.pixels[(5 * 11 + 8) * 3] == 255);   // below it: background
}

TEST_CASE("end to end on a generated MVTec set: the maps find the squares, images and pixels well above chance") {
    temp_dir t("mvtec_e2e");
    test::make_mvtec(t.path, "stripes", {.train = 10, .test_good = 6, .test_defect = 6, .size = 48, .channels = 3, .seed = 4});
    const mvtec_category cat(t.path, "stripes", {.image_size = 48});
    pipeline::representation rep(patch_config(), 3);
    const patch_sampler<mvtec_split> patches(cat.train(), {.side = 16, .count = 256, .seed = 2});
    rep.fit(patches);
    const localisation_params lp{.patch = 16, .stride = 4};
    const matrix<float> X = sample_patch_features(rep, cat.train(), 400, 3, lp);
    kde<float> det;
    det.fit(X.view());
    const auto maps = localize(rep, det, cat.test(), lp);
    REQUIRE(maps.size() == cat.test().size());
    std::vector<double> image_scores;
    std::vector<int> labels;
    std::vector<float> pixels;
    std::vector<std::uint8_t> masks;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        REQUIRE((maps[i].rows == 9 && maps[i].cols == 9 && maps[i].height == 48 && maps[i].width == 48));
        image_scores.push_back(maps[i].score);
        labels.push_back(cat.test().label(i));
        pixels.insert(pixels.end(), maps[i].pixels.begin(), maps[i].pixels.end());
        const image_u8 m = cat.test().mask(i);
        masks.insert(masks.end(), m.pixels.begin(), m.pixels.end());
    }
    {  // the same maps on one thread: batches and reductions do not depend on the thread count
        tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
        const auto serial = localize(rep, det, cat.test(), lp);
        for (std::size_t i = 0; i < maps.size(); ++i) REQUIRE(serial[i].pixels == maps[i].pixels);
    }
    const double iauc = roc_auc(image_scores, labels), pauc = pixel_roc_auc(pixels, masks), pro = pro_auc(pixels, masks, 48, 48);
    INFO("image AUROC " << iauc << ", pixel AUROC " << pauc << ", PRO " << pro);
    CHECK(iauc >= 0.9);
    CHECK(pauc >= 0.85);
    CHECK(pro >= 0.5);
}

TEST_CASE("patch_model: fit, save, load, and the same maps from the file; any image size; damaged files are named") {
    temp_dir t("patch_model");
    test::make_mvtec(t.path, "stripes", {.train = 6, .test_good = 2, .test_defect = 2, .size = 48, .channels = 3, .seed = 8});
    const mvtec_category cat(t.path, "stripes", {.image_size = 48});
    pipeline::representation rep(patch_config(), 3);
    rep.fit(patch_sampler<mvtec_split>(cat.train(), {.side = 16, .count = 128, .seed = 2}));
    const localisation_params lp{.patch = 16, .stride = 4};
    auto model = pipeline::patch_model::fit(std::move(rep), gde<float>{}, cat.train(), lp, 48, 300, 3);
    const auto maps = model.localize(cat.test());
    model.save(t / "m.ocp");
    auto back = pipeline::patch_model::load(t / "m.ocp");
    CHECK((back.image_size() == 48 && back.params().patch == 16 && back.params().stride == 4));
    const auto again = back.localize(cat.test());
    REQUIRE(again.size() == maps.size());
    for (std::size_t i = 0; i < maps.size(); ++i) REQUIRE(again[i].pixels == maps[i].pixels);  // the same weights: bit for bit
    CHECK(again[3].score > again[0].score);  // a defect above a good image

    // an image of another size and channel count is resized and converted first
    const image_u8 big = resize_area(convert_channels(cat.test().decode(3), 1), 96, 96);
    const anomaly_map m = back.localize(big);
    CHECK((m.height == 48 && m.width == 48));

    std::string bytes = read_file_bytes(t / "m.ocp", "test");
    write_file_atomic(t / "cut.ocp", bytes.substr(0, bytes.size() / 2), "test");
    REQUIRE_THROWS_WITH(pipeline::patch_model::load(t / "cut.ocp"), Catch::Contains("cut.ocp"));
    bytes[bytes.size() / 2] ^= 0x40;
    write_file_atomic(t / "flip.ocp", bytes, "test");
    REQUIRE_THROWS_WITH(pipeline::patch_model::load(t / "flip.ocp"), Catch::Contains("flip.ocp"));
    rep = pipeline::representation(patch_config(), 3);  // untrained
    REQUIRE_THROWS_WITH(pipeline::patch_model(std::move(rep), back.detector(), lp, 48), Catch::Contains("not trained"));
}
