// oneclass/data/images.hpp - image files (PNG / JPEG), resizing, and the image-folder data sets:
// a generic class-per-folder layout, Kaggle's cat-vs-dog with the official DROC split, CelebA
// with one attribute as the anomaly.
//
//   load_image(path)                    PNG or JPEG, decoded by libpng / libjpeg-turbo
//                                       (data/image_codecs.hpp: why not stb_image)
//   resize_area / resize_and_center_crop
//                                       OpenCV INTER_AREA semantics (box average with fractional
//                                       weights when shrinking, bilinear when enlarging), then the
//                                       official prepare script's shorter-side resize + centre crop
//                                       (only the kept window is computed: a 1 x 65535 image costs
//                                       what a 32 x 32 one does)
//   save_png(path, ...), save_jpeg      atomic (a heatmap or a test fixture)
//   load_image_folder(root, "train", S) root/train/<class>/*.png|jpg..., classes sorted by name
//   load_cat_vs_dog(root, S)            cat.*.jpg / dog.*.jpg; cat = 0, dog = 1; per class the
//                                       numpy permutation of seed 0 (MT19937, RandomState.permutation)
//                                       puts the first 80% (10000 of 12500) in train, as DROC does
//   load_celeba(root, "Eyeglasses", S)  img_align_celeba/, list_attr_celeba.txt and
//                                       list_eval_partition.txt; label 1 = has the attribute
//
// Every failure (missing folder, unreadable or undecodable image, malformed list file) throws
// io_error naming the file.
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/data/dataset.hpp>
#include <oneclass/data/image_codecs.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace oneclass {

/// The same image with 1 (grey) or 3 (RGB) channels: grey is replicated; RGB becomes grey by
/// (77 R + 150 G + 29 B) / 256, the integer luma stb_image and earlier versions of this reader used.
inline image_u8 convert_channels(image_u8 img, std::size_t channels) {
    require(channels == 1 || channels == 3, "convert_channels", "channels must be 1 or 3, got ", channels);
    if (img.channels == channels) return img;
    const std::size_t n = img.height * img.width;
    std::vector<std::uint8_t> out(n * channels);
    if (channels == 3)
        for (std::size_t p = 0; p < n; ++p) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = img.pixels[p];
    else
        for (std::size_t p = 0; p < n; ++p)
            out[p] = std::uint8_t((img.pixels[3 * p] * 77u + img.pixels[3 * p + 1] * 150u + img.pixels[3 * p + 2] * 29u) >> 8);
    return {img.height, img.width, channels, std::move(out)};
}

/// Decodes a PNG or JPEG file to `channels` (1 = grey, 3 = RGB) channels.
inline image_u8 load_image(const std::filesystem::path& path, std::size_t channels = 3) {
    require(channels == 1 || channels == 3, "load_image", "channels must be 1 or 3, got ", channels);
    return convert_channels(decode_image(read_file_bytes(path, "load_image"), path.string()), channels);
}

/// Writes an interleaved 8-bit image (1, 3 or 4 channels) as PNG, atomically.
inline void save_png(const std::filesystem::path& path, const image_u8& img) {
    write_file_atomic(path, encode_png(img), "save_png");
}

/// Writes an interleaved 8-bit grey or RGB image as JPEG (quality 1..100), atomically.
inline void save_jpeg(const std::filesystem::path& path, const image_u8& img, int quality = 95) {
    write_file_atomic(path, encode_jpeg(img, quality), "save_jpeg");
}

namespace detail {
/// One output index's taps along an axis: (source index, weight), weights summing to 1.
using taps = std::vector<std::vector<std::pair<std::size_t, double>>>;

/// OpenCV INTER_AREA along one axis, for output indices [first, first + count) of a resize from
/// `src` to `dst`: shrinking averages the source interval [i * s, (i + 1) * s) with fractional
/// end weights; enlarging is bilinear with half-pixel centres.
inline taps area_taps(std::size_t src, std::size_t dst, std::size_t first = 0, std::size_t count = std::size_t(-1)) {
    count = std::min(count, dst - first);
    taps t(count);
    const double s = double(src) / double(dst);
    for (std::size_t j = 0; j < count; ++j) {
        const std::size_t i = first + j;
        if (s >= 1.0) {
            const double lo = double(i) * s, hi = std::min(double(src), lo + s);
            for (auto k = std::size_t(std::floor(lo)); double(k) < hi; ++k) {
                const double w = std::min(hi, double(k + 1)) - std::max(lo, double(k));
                if (w > 1e-12) t[j].push_back({k, w / s});
            }
        } else {
            const double x = (double(i) + 0.5) * s - 0.5;
            const double fl = std::floor(x);
            const double f = x - fl;
            const auto clampi = [&](double v) { return std::size_t(std::clamp(v, 0.0, double(src - 1))); };
            t[j].push_back({clampi(fl), 1.0 - f});
            if (f > 0) t[j].push_back({clampi(fl + 1), f});
        }
    }
    return t;
}

/// The window [oy, oy + h) x [ox, ox + w) of src resized to height x width (INTER_AREA, separable,
/// rounded to nearest at the end); only the source rows the window reads are visited.
inline image_u8 resize_area_window(const image_u8& src, std::size_t height, std::size_t width, std::size_t oy,
                                   std::size_t ox, std::size_t h, std::size_t w) {
    require(src.height && src.width && height && width && oy + h <= height && ox + w <= width &&
                src.pixels.size() == src.height * src.width * src.channels,
            "resize_area", "cannot resize ", src.height, " x ", src.width, " to ", height, " x ", width);
    const std::size_t C = src.channels;
    const auto tx = area_taps(src.width, width, ox, w), ty = area_taps(src.height, height, oy, h);
    std::size_t y0 = src.height, y1 = 0;  // source rows the vertical taps read
    for (const auto& t : ty)
        for (const auto& [k, wt] : t) y0 = std::min(y0, k), y1 = std::max(y1, k + 1);
    std::vector<double> rows((y1 - y0) * w * C, 0.0);  // horizontal pass
    for (std::size_t y = y0; y < y1; ++y)
        for (std::size_t x = 0; x < w; ++x)
            for (const auto& [k, wt] : tx[x])
                for (std::size_t c = 0; c < C; ++c)
                    rows[((y - y0) * w + x) * C + c] += wt * src.pixels[(y * src.width + k) * C + c];
    image_u8 out{h, w, C, std::vector<std::uint8_t>(h * w * C)};
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x)
            for (std::size_t c = 0; c < C; ++c) {
                double v = 0;
                for (const auto& [k, wt] : ty[y]) v += wt * rows[((k - y0) * w + x) * C + c];
                out.pixels[(y * w + x) * C + c] = std::uint8_t(std::clamp(std::lround(v), 0L, 255L));
            }
    return out;
}
}  // namespace detail

/// Resizes with OpenCV's INTER_AREA semantics (separable; rounded to nearest at the end).
inline image_u8 resize_area(const image_u8& src, std::size_t height, std::size_t width) {
    return detail::resize_area_window(src, height, width, 0, 0, height, width);
}

/// The official prepare script: resize the shorter side to `side` (INTER_AREA, the longer side
/// int(side * long / short)), then crop the centre side x side. Only the crop is computed, with
/// the arithmetic of the full resize.
inline image_u8 resize_and_center_crop(const image_u8& img, std::size_t side) {
    require(img.height && img.width && side, "resize_and_center_crop", "cannot resize ", img.height, " x ", img.width,
            " to ", side);
    std::size_t nh = side, nw = side;
    if (img.height > img.width) nh = std::size_t(double(side) * double(img.height) / double(img.width));
    else nw = std::size_t(double(side) * double(img.width) / double(img.height));
    return detail::resize_area_window(img, nh, nw, (nh - side) / 2, (nw - side) / 2, side, side);
}

/// numpy's legacy RandomState(seed).permutation(n) (MT19937, masked rejection sampling), so that
/// a split published as numpy code is reproduced exactly. Call repeatedly on one generator to
/// continue the same stream, as consecutive np.random.permutation calls do.
class numpy_random_state {
public:
    explicit numpy_random_state(std::uint32_t seed) {
        mt_[0] = seed;
        for (std::size_t i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + std::uint32_t(i);
    }
    std::uint32_t next_u32() {
        if (pos_ == 624) twist();
        std::uint32_t y = mt_[pos_++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }
    /// Uniform in [0, max] (numpy's random_interval, for max < 2^32).
    std::uint32_t interval(std::uint32_t max) {
        if (max == 0) return 0;
        std::uint32_t mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        std::uint32_t v;
        while ((v = next_u32() & mask) > max) {
        }
        return v;
    }
    std::vector<std::size_t> permutation(std::size_t n) {
        require(n < (std::size_t(1) << 32), "numpy_random_state::permutation", "n must be < 2^32");
        std::vector<std::size_t> p(n);
        for (std::size_t i = 0; i < n; ++i) p[i] = i;
        for (std::size_t i = n; i-- > 1;) std::swap(p[i], p[interval(std::uint32_t(i))]);
        return p;
    }

private:
    void twist() {
        for (std::size_t i = 0; i < 624; ++i) {
            const std::uint32_t y = (mt_[i] & 0x80000000u) | (mt_[(i + 1) % 624] & 0x7fffffffu);
            mt_[i] = mt_[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        pos_ = 0;
    }
    std::array<std::uint32_t, 624> mt_{};
    std::size_t pos_ = 624;
};

namespace detail {
inline bool is_image_file(const std::filesystem::path& p) {
    std::string e = p.extension().string();
    for (auto& ch : e) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    for (const char* k : {".png", ".jpg", ".jpeg"})
        if (e == k) return true;
    return false;
}

/// Image files of a folder in byte-wise name order (Python's sorted(os.listdir())).
inline std::vector<std::filesystem::path> sorted_images(const std::filesystem::path& dir) {
    if (!std::filesystem::is_directory(dir)) fail<io_error>("image folder", "'", dir.string(), "' is not a folder");
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.filename().string() < b.filename().string(); });
    return files;
}

/// Appends one decoded, resized image as a CHW row.
inline void append_image(const image_u8& img, std::vector<std::uint8_t>& buf) {
    const std::size_t S = img.height, C = img.channels;
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t p = 0; p < S * S; ++p) buf.push_back(img.pixels[p * C + c]);
}

inline image_dataset make_dataset(std::vector<std::uint8_t> buf, std::vector<int> labels, std::size_t channels,
                                  std::size_t side, std::vector<std::string> names) {
    image_dataset ds;
    ds.channels = channels;
    ds.height = ds.width = side;
    ds.labels = std::move(labels);
    ds.class_names = std::move(names);
    ds.pixels = matrix<std::uint8_t>(ds.labels.size(), channels * side * side);
    std::copy(buf.begin(), buf.end(), ds.pixels.data());
    return ds;
}

inline image_u8 load_resized(const std::filesystem::path& p, std::size_t side, std::size_t channels) {
    return resize_and_center_crop(load_image(p, channels), side);
}
}  // namespace detail

/// root/<split>/<class>/<images>: one class per sub-folder, classes in name order, images
/// resized (shorter side) and centre-cropped to side x side.
inline image_dataset load_image_folder(const std::filesystem::path& root, const std::string& split, std::size_t side,
                                       std::size_t channels = 3) {
    require(side >= 8, "load_image_folder", "side must be >= 8, got ", side);
    const auto dir = root / split;
    if (!std::filesystem::is_directory(dir))
        fail<io_error>("load_image_folder", "'", dir.string(), "' is not a folder (expected <root>/", split, "/<class>/...)");
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.is_directory()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    if (names.empty()) fail<io_error>("load_image_folder", "'", dir.string(), "' has no class sub-folders");
    std::vector<std::uint8_t> buf;
    std::vector<int> labels;
    for (std::size_t c = 0; c < names.size(); ++c)
        for (const auto& f : detail::sorted_images(dir / names[c])) {
            detail::append_image(detail::load_resized(f, side, channels), buf);
            labels.push_back(int(c));
        }
    if (labels.empty()) fail<io_error>("load_image_folder", "'", dir.string(), "' holds no image files");
    return detail::make_dataset(std::move(buf), std::move(labels), channels, side, std::move(names));
}

struct image_split {
    image_dataset train, test;
};

/// Kaggle dogs-vs-cats training images (cat.<i>.jpg, dog.<i>.jpg in `root` or `root/train`):
/// cat = class 0, dog = class 1, files in sorted-name order as the official prepare script lists
/// them; per class a numpy permutation (seed 0, cats first) sends the first 80% to train.
inline image_split load_cat_vs_dog(const std::filesystem::path& root, std::size_t side = 64) {
    const auto dir = std::filesystem::is_directory(root / "train") ? root / "train" : root;
    std::array<std::vector<std::filesystem::path>, 2> files;
    for (const auto& f : detail::sorted_images(dir)) {
        const std::string n = f.filename().string();
        if (n.rfind("cat", 0) == 0) files[0].push_back(f);
        else if (n.rfind("dog", 0) == 0) files[1].push_back(f);
    }
    if (files[0].size() < 2 || files[1].size() < 2)
        fail<io_error>("load_cat_vs_dog", "'", dir.string(), "' needs cat.*.jpg and dog.*.jpg files (found ", files[0].size(),
                       " cats, ", files[1].size(), " dogs)");
    numpy_random_state rs(0);
    std::vector<std::uint8_t> tr, te;
    std::vector<int> ltr, lte;
    for (int c = 0; c < 2; ++c) {
        const auto perm = rs.permutation(files[std::size_t(c)].size());
        const std::size_t n_train = files[std::size_t(c)].size() * 4 / 5;
        for (std::size_t k = 0; k < perm.size(); ++k) {
            const bool train = k < n_train;
            detail::append_image(detail::load_resized(files[std::size_t(c)][perm[k]], side, 3), train ? tr : te);
            (train ? ltr : lte).push_back(c);
        }
    }
    const std::vector<std::string> names{"cat", "dog"};
    return {detail::make_dataset(std::move(tr), std::move(ltr), 3, side, names),
            detail::make_dataset(std::move(te), std::move(lte), 3, side, names)};
}

/// The 40 CelebA attribute names in list_attr_celeba.txt order.
inline std::vector<std::string> read_celeba_attribute_names(const std::filesystem::path& attr_file) {
    std::ifstream in(attr_file);
    if (!in) fail<io_error>("load_celeba", "cannot open '", attr_file.string(), "'");
    std::string line;
    std::getline(in, line);
    std::getline(in, line);
    std::stringstream ss(line);
    std::vector<std::string> names;
    for (std::string n; ss >> n;) names.push_back(n);
    if (names.empty()) fail<io_error>("load_celeba", "'", attr_file.string(), "' has no attribute names on line 2");
    return names;
}

/// CelebA (aligned images): train = partition 0, test = partition 2 of list_eval_partition.txt;
/// label 1 = the image has `attribute` (e.g. Eyeglasses), 0 = it does not. The one-class
/// protocol trains on class 0 of train and scores the whole test split. `limit` > 0 keeps only
/// the first `limit` images of each split (the full set is 162770 + 19962 images).
inline image_split load_celeba(const std::filesystem::path& root, const std::string& attribute = "Eyeglasses",
                               std::size_t side = 64, std::size_t limit = 0) {
    const auto attr_file = root / "list_attr_celeba.txt", part_file = root / "list_eval_partition.txt";
    const auto img_dir = std::filesystem::is_directory(root / "img_align_celeba") ? root / "img_align_celeba" : root;
    const auto names = read_celeba_attribute_names(attr_file);
    const auto it = std::find(names.begin(), names.end(), attribute);
    if (it == names.end()) fail("load_celeba", "unknown attribute '", attribute, "' (e.g. Eyeglasses, Smiling, Male)");
    const std::size_t col = std::size_t(it - names.begin());
    std::ifstream pin(part_file);
    if (!pin) fail<io_error>("load_celeba", "cannot open '", part_file.string(), "'");
    std::vector<std::pair<std::string, int>> parts;
    for (std::string f; pin >> f;) {
        int p = -1;
        if (!(pin >> p) || p < 0 || p > 2)
            fail<io_error>("load_celeba", "'", part_file.string(), "' line ", parts.size() + 1, " is malformed");
        parts.push_back({f, p});
    }
    std::ifstream ain(attr_file);
    std::string line;
    std::getline(ain, line);
    std::size_t declared = 0;
    try {
        declared = std::stoul(line);
    } catch (...) {
        fail<io_error>("load_celeba", "'", attr_file.string(), "' line 1 is not the image count");
    }
    std::getline(ain, line);
    std::vector<std::uint8_t> tr, te;
    std::vector<int> ltr, lte;
    std::size_t row = 0;
    for (; std::getline(ain, line); ++row) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) break;
        std::stringstream ss(line);
        std::string f;
        ss >> f;
        std::vector<int> v;
        for (int x; ss >> x;) v.push_back(x);
        if (v.size() != names.size() || (v[col] != 1 && v[col] != -1))
            fail<io_error>("load_celeba", "'", attr_file.string(), "' line ", row + 3, " has ", v.size(), " values for ",
                           names.size(), " attributes");
        if (row >= parts.size() || parts[row].first != f)
            fail<io_error>("load_celeba", "'", part_file.string(), "' does not list '", f, "' at line ", row + 1);
        const int p = parts[row].second;
        if (p == 1) continue;  // validation split: unused by the protocol
        auto& buf = p == 0 ? tr : te;
        auto& lab = p == 0 ? ltr : lte;
        if (limit && lab.size() >= limit) continue;
        detail::append_image(detail::load_resized(img_dir / f, side, 3), buf);
        lab.push_back(v[col] == 1 ? 1 : 0);
    }
    if (row != declared)
        fail<io_error>("load_celeba", "'", attr_file.string(), "' declares ", declared, " images but lists ", row);
    if (ltr.empty() || lte.empty()) fail<io_error>("load_celeba", "'", part_file.string(), "' leaves train or test empty");
    const std::vector<std::string> classes{"no " + attribute, attribute};
    return {detail::make_dataset(std::move(tr), std::move(ltr), 3, side, classes),
            detail::make_dataset(std::move(te), std::move(lte), 3, side, classes)};
}

}  // namespace oneclass
