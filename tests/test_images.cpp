// tests/test_images.cpp - image files, INTER_AREA resizing (closed forms), numpy's permutation
// (golden values from numpy), and the image-folder / cat-vs-dog / CelebA readers on generated files.
#include "test_util.hpp"

#include "golden/numpy_permutation.hpp"

#include <oneclass/data/images.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
const fs::path dir = fs::temp_directory_path() / ("oneclass_images_" + std::to_string(::getpid()));

image_u8 solid(std::size_t h, std::size_t w, std::array<std::uint8_t, 3> rgb) {
    image_u8 im{h, w, 3, {}};
    for (std::size_t p = 0; p < h * w; ++p) im.pixels.insert(im.pixels.end(), rgb.begin(), rgb.end());
    return im;
}

void save_jpg(const fs::path& p, const image_u8& im) { save_jpeg(p, im, 95); }

template <std::size_t N>
std::vector<std::size_t> vec(const std::size_t (&a)[N]) {
    return {a, a + N};
}
std::size_t weighted(const std::vector<std::size_t>& p) {
    std::size_t s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) s += i * p[i];
    return s;
}
}  // namespace

TEST_CASE("numpy RandomState permutation is reproduced exactly (golden values from numpy)") {
    using namespace golden::numpy_perm;
    numpy_random_state a(0);
    REQUIRE(a.permutation(10) == vec(seed0_p10));
    REQUIRE(a.permutation(7) == vec(seed0_then_p7));  // the stream continues
    numpy_random_state b(0);
    const auto cats = b.permutation(12500), dogs = b.permutation(12500);
    REQUIRE(std::vector<std::size_t>(cats.begin(), cats.begin() + 16) == vec(cats_head));
    REQUIRE(std::vector<std::size_t>(cats.end() - 16, cats.end()) == vec(cats_tail));
    REQUIRE(std::vector<std::size_t>(dogs.begin(), dogs.begin() + 16) == vec(dogs_head));
    REQUIRE(weighted(cats) == cats_weighted);
    REQUIRE(weighted(dogs) == dogs_weighted);
    numpy_random_state c(12345);
    const auto big = c.permutation(100000);
    REQUIRE(std::vector<std::size_t>(big.begin(), big.begin() + 16) == vec(big_head));
    REQUIRE(weighted(big) == big_weighted);
}

TEST_CASE("resize_area: block means, fractional weights, bilinear enlargement, centre crop geometry") {
    image_u8 g{4, 4, 1, {}};
    for (int i = 0; i < 16; ++i) g.pixels.push_back(std::uint8_t(i * 10));
    const auto half = resize_area(g, 2, 2);  // exact 2x2 block means
    REQUIRE(half.pixels == std::vector<std::uint8_t>{25, 45, 105, 125});
    REQUIRE(resize_area(g, 4, 4).pixels == g.pixels);  // identity
    // 3 -> 2 along x: out0 = (p0 + 0.5 p1) / 1.5, out1 = (0.5 p1 + p2) / 1.5
    image_u8 r{1, 3, 1, {30, 60, 90}};
    const auto r2 = resize_area(r, 1, 2);
    REQUIRE(int(r2.pixels[0]) == 40);
    REQUIRE(int(r2.pixels[1]) == 80);
    // enlarging 2 -> 4 is bilinear with half-pixel centres: 0, 0.25, 0.75, 1 of the way
    image_u8 e{1, 2, 1, {0, 200}};
    REQUIRE(resize_area(e, 1, 4).pixels == std::vector<std::uint8_t>{0, 50, 150, 200});
    // a constant image stays constant in every channel
    const auto c = resize_area(solid(37, 23, {10, 128, 250}), 11, 17);
    for (std::size_t p = 0; p < 11 * 17; ++p) {
        REQUIRE(int(c.pixels[p * 3]) == 10);
        REQUIRE(int(c.pixels[p * 3 + 2]) == 250);
    }
    // shorter side to 20, then the centre: a 40 x 60 image with a marked central column
    image_u8 w{40, 60, 1, std::vector<std::uint8_t>(2400, 0)};
    for (std::size_t y = 0; y < 40; ++y) w.pixels[y * 60 + 30] = w.pixels[y * 60 + 31] = 255;
    const auto cc = resize_and_center_crop(w, 20);
    REQUIRE(cc.height == 20);
    REQUIRE(cc.width == 20);
    REQUIRE(int(cc.pixels[10 * 20 + 10]) == 255);  // column 30-31 of 60 -> 15 of 30 -> 10 after the crop of 5
    REQUIRE(int(cc.pixels[10 * 20 + 9]) == 0);
    REQUIRE_THROWS_AS(resize_area(image_u8{0, 0, 1, {}}, 2, 2), invalid_input);
}

TEST_CASE("image folders, cat-vs-dog and CelebA readers on generated files") {
    fs::remove_all(dir);
    fs::create_directories(dir);
    // PNG round trip, grey and colour; undecodable and missing files are named
    image_u8 px{3, 5, 3, {}};
    for (int i = 0; i < 45; ++i) px.pixels.push_back(std::uint8_t(i * 5));
    save_png(dir / "x.png", px);
    REQUIRE(load_image(dir / "x.png").pixels == px.pixels);
    const auto grey = load_image(dir / "x.png", 1);
    REQUIRE(grey.channels == 1);
    REQUIRE(grey.pixels.size() == 15);
    std::ofstream(dir / "bad.png") << "not an image";
    REQUIRE_THROWS_WITH(load_image(dir / "bad.png"), Catch::Contains("bad.png") && Catch::Contains("cannot be decoded"));
    REQUIRE_THROWS_WITH(load_image(dir / "none.png"), Catch::Contains("none.png"));

    // generic folder: root/train/<class>/..., classes in name order, each image a solid colour
    for (const char* split : {"train", "test"})
        for (int c = 0; c < 2; ++c) {
            const auto d = dir / "folder" / split / (c ? "screws_bad" : "screws_good");
            fs::create_directories(d);
            for (int i = 0; i < 3; ++i)
                save_png(d / ("img" + std::to_string(i) + ".png"), solid(40, 50, {std::uint8_t(c * 100 + i * 10), 0, 0}));
        }
    std::ofstream(dir / "folder/train/screws_good/notes.txt") << "ignored";
    const auto f = load_image_folder(dir / "folder", "train", 32);
    REQUIRE(f.class_names == std::vector<std::string>{"screws_bad", "screws_good"});
    REQUIRE(f.size() == 6);
    REQUIRE(f.labels == std::vector<int>{0, 0, 0, 1, 1, 1});
    REQUIRE(f.channels == 3);
    REQUIRE(f.height == 32);
    REQUIRE(int(f.pixels(1, 0)) == 110);  // screws_bad/img1: red 100 + 10, CHW row starts with red
    REQUIRE(int(f.pixels(3, 32 * 32)) == 0);
    REQUIRE_THROWS_WITH(load_image_folder(dir / "folder", "val", 32), Catch::Contains("is not a folder"));

    // cat-vs-dog: 10 cats and 10 dogs, the shade encodes the file index
    const auto cd = dir / "dogs-vs-cats" / "train";
    fs::create_directories(cd);
    for (int i = 0; i < 10; ++i) {
        save_jpg(cd / ("cat." + std::to_string(i) + ".jpg"), solid(48, 64, {std::uint8_t(20 * i), 0, 0}));
        save_jpg(cd / ("dog." + std::to_string(i) + ".jpg"), solid(64, 48, {0, std::uint8_t(20 * i), 0}));
    }
    const auto cvd = load_cat_vs_dog(dir / "dogs-vs-cats", 16);
    REQUIRE(cvd.train.size() == 16);  // 80% of each class
    REQUIRE(cvd.test.size() == 4);
    REQUIRE(cvd.train.class_names == std::vector<std::string>{"cat", "dog"});
    numpy_random_state rs(0);
    const auto pc = rs.permutation(10), pd = rs.permutation(10);
    for (std::size_t k = 0; k < 8; ++k) {
        INFO(k);
        REQUIRE(cvd.train.labels[k] == 0);
        REQUIRE(std::abs(int(cvd.train.pixels(k, 0)) - int(20 * pc[k])) <= 3);  // red shade = cat index
        REQUIRE(cvd.train.labels[8 + k] == 1);
        REQUIRE(std::abs(int(cvd.train.pixels(8 + k, 256)) - int(20 * pd[k])) <= 3);  // green = dog index
    }
    REQUIRE(std::abs(int(cvd.test.pixels(0, 0)) - int(20 * pc[8])) <= 3);
    REQUIRE(cvd.test.labels == std::vector<int>{0, 0, 1, 1});
    fs::create_directories(dir / "nocats");
    REQUIRE_THROWS_WITH(load_cat_vs_dog(dir / "nocats"), Catch::Contains("needs cat.*.jpg"));

    // CelebA: 6 images; partitions 0 0 0 1 2 2; Eyeglasses on images 2 and 6
    const auto ce = dir / "celeba";
    fs::create_directories(ce / "img_align_celeba");
    std::ofstream attr(ce / "list_attr_celeba.txt"), part(ce / "list_eval_partition.txt");
    attr << "6\n5_o_Clock_Shadow Eyeglasses Smiling \n";
    const int glasses[6] = {-1, 1, -1, -1, -1, 1}, parts[6] = {0, 0, 0, 1, 2, 2};
    for (int i = 0; i < 6; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "%06d.jpg", i + 1);
        save_jpg(ce / "img_align_celeba" / name, solid(218, 178, {std::uint8_t(40 * i), 50, 60}));
        attr << name << "  -1 " << (glasses[i] == 1 ? " 1" : "-1") << "  1\n";
        part << name << " " << parts[i] << "\n";
    }
    attr.close();
    part.close();
    const auto cel = load_celeba(ce, "Eyeglasses", 32);
    REQUIRE(cel.train.labels == std::vector<int>{0, 1, 0});
    REQUIRE(cel.test.labels == std::vector<int>{0, 1});
    REQUIRE(cel.train.class_names == std::vector<std::string>{"no Eyeglasses", "Eyeglasses"});
    REQUIRE(std::abs(int(cel.test.pixels(1, 0)) - 200) <= 3);
    REQUIRE(load_celeba(ce, "Smiling", 32).train.labels == std::vector<int>{1, 1, 1});
    REQUIRE(load_celeba(ce, "Eyeglasses", 32, 2).train.size() == 2);
    REQUIRE_THROWS_WITH(load_celeba(ce, "Wings", 32), Catch::Contains("unknown attribute 'Wings'"));
    {
        std::ofstream a(ce / "list_attr_celeba.txt", std::ios::app);
        a << "000007.jpg -1 1\n";  // one value short
    }
    REQUIRE_THROWS_WITH(load_celeba(ce, "Eyeglasses", 32), Catch::Contains("line 9 has 2 values for 3 attributes"));
    REQUIRE_THROWS_WITH(load_celeba(dir / "folder", "Eyeglasses", 32), Catch::Contains("list_attr_celeba.txt"));
    fs::remove_all(dir);
}
