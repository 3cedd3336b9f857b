// oneclass/data/mvtec.hpp - the MVTec AD layout: defect detection and localisation data sets.
//
//   ROOT/<category>/train/good/*.png                    normal training images
//   ROOT/<category>/test/good/*.png                     normal test images
//   ROOT/<category>/test/<defect>/*.png                 anomalous test images, one folder per defect type
//   ROOT/<category>/ground_truth/<defect>/<name>_mask.png   their masks, 255 = defect (any non-zero counts)
//
// Images are resized to image_size x image_size (INTER_AREA, as the paper's 256 x 256; MVTec's
// images are square), masks the same way and thresholded at half (a pixel is a defect when at
// least half of its area was). Channels: 3 replicates the grey categories (grid, screw, zipper),
// 1 makes every image grey, 0 keeps each category's own (the first training image's).
// Everything is listed and checked when a category is opened: an unknown category, an empty
// train/good or test folder, a defect image without its mask, or a mask whose size differs
// from its image (read from the PNG header, nothing decoded) throws io_error naming the path;
// images are decoded when read.
//
//     oneclass::mvtec_category bottle(root, "bottle", {.image_size = 256});
//     oneclass::patch_sampler patches(bottle.train(), {.side = 32, .count = 50000, .seed = 1});
//     for (std::size_t i = 0; i < bottle.test().size(); ++i) { auto img = bottle.test().decode(i); ... }
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/data/image_codecs.hpp>
#include <oneclass/data/images.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oneclass {

struct mvtec_options {
    std::size_t image_size = 256;  ///< images and masks are resized to image_size x image_size
    std::size_t channels = 3;      ///< 3, 1, or 0 = the category's own
};

/// The fifteen MVTec AD categories: five textures, ten objects (the paper averages over each).
inline constexpr std::array<std::string_view, 5> mvtec_textures{"carpet", "grid", "leather", "tile", "wood"};
inline constexpr std::array<std::string_view, 10> mvtec_objects{"bottle", "cable",  "capsule", "hazelnut", "metal_nut",
                                                                "pill",   "screw", "toothbrush", "transistor", "zipper"};
inline bool mvtec_is_texture(std::string_view category) {
    return std::find(mvtec_textures.begin(), mvtec_textures.end(), category) != mvtec_textures.end();
}

namespace detail {
/// Height and width from a PNG's IHDR chunk (the 16 bytes after the signature), without decoding;
/// nullopt for anything that is not a PNG.
inline std::optional<std::pair<std::size_t, std::size_t>> png_size(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    unsigned char b[24];
    if (!in.read(reinterpret_cast<char*>(b), 24)) return std::nullopt;
    if (!has_png_signature(std::string_view(reinterpret_cast<const char*>(b), 8)) || std::string_view(reinterpret_cast<const char*>(b + 12), 4) != "IHDR")
        return std::nullopt;
    const auto be32 = [&](int o) { return std::size_t(b[o]) << 24 | std::size_t(b[o + 1]) << 16 | std::size_t(b[o + 2]) << 8 | b[o + 3]; };
    return std::pair{be32(20), be32(16)};  // IHDR holds width, then height
}

/// The image's size as stored: from the PNG header, or by decoding anything else.
inline std::pair<std::size_t, std::size_t> stored_size(const std::filesystem::path& p) {
    if (auto s = png_size(p)) return *s;
    const image_u8 img = load_image(p, 1);
    return {img.height, img.width};
}
}  // namespace detail

/// The images of one split of a category, with their defect type and mask: a LargeImageSource
/// (decode(i) gives the resized image), label 1 for a defect, 0 for good.
class mvtec_split {
public:
    struct item {
        std::filesystem::path image, mask;  ///< mask empty for good images
        std::string defect;                 ///< "good" or the defect folder's name
    };

    mvtec_split() = default;
    mvtec_split(std::vector<item> items, std::size_t image_size, std::size_t channels)
        : items_(std::move(items)), size_(image_size), channels_(channels) {}

    std::size_t size() const { return items_.size(); }
    std::size_t channels() const { return channels_; }
    std::size_t image_size() const { return size_; }
    image_u8 decode(std::size_t i) const {
        return resize_area(load_image(at(i).image, channels_), size_, size_);
    }
    int label(std::size_t i) const { return at(i).defect == "good" ? 0 : 1; }
    const item& operator[](std::size_t i) const { return at(i); }

    /// The mask, image_size x image_size, 1 channel, 0 or 255 (all 0 for a good image).
    image_u8 mask(std::size_t i) const {
        const item& it = at(i);
        if (it.mask.empty()) return {size_, size_, 1, std::vector<std::uint8_t>(size_ * size_, 0)};
        image_u8 m = load_image(it.mask, 1);
        for (auto& v : m.pixels) v = v ? 255 : 0;  // any non-zero is defect, before the area average
        m = resize_area(m, size_, size_);
        for (auto& v : m.pixels) v = v >= 128 ? 255 : 0;
        return m;
    }

private:
    const item& at(std::size_t i) const {
        require(i < items_.size(), "mvtec", "image ", i, " out of range (", items_.size(), " images)");
        return items_[i];
    }
    std::vector<item> items_;
    std::size_t size_ = 0, channels_ = 3;
};

/// One category of an MVTec AD root, listed and checked on construction.
class mvtec_category {
public:
    mvtec_category(const std::filesystem::path& root, const std::string& category, mvtec_options o = {})
        : name_(category) {
        namespace fs = std::filesystem;
        require(o.image_size >= 8, "mvtec", "image size must be >= 8, got ", o.image_size);
        require(o.channels <= 3 && o.channels != 2, "mvtec", "channels must be 0 (the category's own), 1 or 3, got ", o.channels);
        const fs::path dir = root / category;
        if (!fs::is_directory(dir)) {
            std::string known;
            if (fs::is_directory(root))
                for (const auto& c : categories(root)) known += (known.empty() ? "" : ", ") + c;
            fail<io_error>("mvtec", "unknown category '", category, "': '", dir.string(), "' is not a folder",
                           known.empty() ? std::string(" (no categories under '" + root.string() + "')")
                                         : " (categories: " + known + ")");
        }
        const auto train_files = listed(dir / "train" / "good", "training images");
        std::size_t channels = o.channels;
        if (channels == 0) channels = is_grey(train_files.front()) ? 1 : 3;
        std::vector<mvtec_split::item> train, test;
        for (const auto& f : train_files) train.push_back({f, {}, "good"});
        if (!fs::is_directory(dir / "test")) fail<io_error>("mvtec", "'", (dir / "test").string(), "' is not a folder");
        std::vector<std::string> defects;
        for (const auto& e : fs::directory_iterator(dir / "test"))
            if (e.is_directory()) defects.push_back(e.path().filename().string());
        std::sort(defects.begin(), defects.end());
        for (const auto& d : defects)
            for (const auto& f : detail::sorted_images(dir / "test" / d)) {
                mvtec_split::item it{f, {}, d};
                if (d != "good") {
                    it.mask = dir / "ground_truth" / d / (f.stem().string() + "_mask.png");
                    if (!fs::is_regular_file(it.mask))
                        fail<io_error>("mvtec", "missing mask '", it.mask.string(), "' for '", f.string(), "'");
                    const auto si = detail::stored_size(f), sm = detail::stored_size(it.mask);
                    if (si != sm)
                        fail<io_error>("mvtec", "mask '", it.mask.string(), "' is ", sm.first, " x ", sm.second, " but its image '",
                                       f.string(), "' is ", si.first, " x ", si.second);
                }
                test.push_back(std::move(it));
            }
        if (test.empty()) fail<io_error>("mvtec", "'", (dir / "test").string(), "' holds no test images");
        train_ = mvtec_split(std::move(train), o.image_size, channels);
        test_ = mvtec_split(std::move(test), o.image_size, channels);
        defects_ = std::move(defects);
    }

    /// The categories under root: its sub-folders that hold train/good, in name order.
    static std::vector<std::string> categories(const std::filesystem::path& root) {
        if (!std::filesystem::is_directory(root)) fail<io_error>("mvtec", "'", root.string(), "' is not a folder");
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(root))
            if (e.is_directory() && std::filesystem::is_directory(e.path() / "train" / "good"))
                out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }

    const std::string& name() const { return name_; }
    bool texture() const { return mvtec_is_texture(name_); }
    const mvtec_split& train() const { return train_; }
    const mvtec_split& test() const { return test_; }
    const std::vector<std::string>& defect_types() const { return defects_; }  ///< test folders, "good" included
    std::size_t channels() const { return train_.channels(); }
    std::size_t image_size() const { return train_.image_size(); }

private:
    static std::vector<std::filesystem::path> listed(const std::filesystem::path& d, const char* what) {
        if (!std::filesystem::is_directory(d)) fail<io_error>("mvtec", "'", d.string(), "' is not a folder (", what, ")");
        auto files = detail::sorted_images(d);
        if (files.empty()) fail<io_error>("mvtec", "empty category: '", d.string(), "' holds no ", what);
        return files;
    }
    /// Whether a file holds a grey picture: stored with one channel, or as RGB with R = G = B
    /// everywhere (how some grey categories are stored).
    static bool is_grey(const std::filesystem::path& f) {
        const image_u8 img = decode_image(read_file_bytes(f, "mvtec"), f.string());
        if (img.channels == 1) return true;
        for (std::size_t p = 0; p < img.height * img.width; ++p)
            if (img.pixels[3 * p] != img.pixels[3 * p + 1] || img.pixels[3 * p] != img.pixels[3 * p + 2]) return false;
        return true;
    }
    std::string name_;
    mvtec_split train_, test_;
    std::vector<std::string> defects_;
};

}  // namespace oneclass
