// oneclass/data/image_source.hpp - where training and feature extraction read images from: a
// size, the i-th image (decoded on demand, possibly from disk) and its label.
//
//   ImageSource            size(), shape() = {C, H, W}, read(i, dst) writes C*H*W floats in [0, 1], label(i)
//   tensor_source          an N x C x H x W float tensor in memory
//   dataset_source         an image_dataset (uint8 rows) in memory, converted per image on read
//   image_folder_source    root/<class>/<file>.png|jpg, listed up front, decoded when read; with a
//                          side: resized and centre-cropped as load_image_folder does; without
//                          one (side 0): native size, for a patch_sampler
//   patch_sampler          P x P patches of large images, n per epoch; patch i is a function of
//                          (seed, i) only, so the same seed gives the same patches in any order
//                          and on any number of threads (it refers to its source: keep that alive)
//
//     oneclass::image_folder_source normal(root / "train", 0, 3);           // MVTec-style, native size
//     oneclass::patch_sampler patches(normal, {.side = 32, .count = 20000, .seed = 1});
//     rep.fit(patches);                                                     // pipeline::representation
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/rng.hpp>
#include <oneclass/data/dataset.hpp>
#include <oneclass/data/images.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <array>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace oneclass {

using image_shape = std::array<std::size_t, 3>;  ///< C, H, W

template <class S>
concept ImageSource = requires(const S& s, std::size_t i, float* dst) {
    { s.size() } -> std::convertible_to<std::size_t>;
    { s.shape() } -> std::convertible_to<image_shape>;
    s.read(i, dst);  ///< C x H x W floats in [0, 1]
    { s.label(i) } -> std::convertible_to<int>;
};

/// A source of images of any size, decoded whole (interleaved 8-bit): what patches are cut from.
template <class S>
concept LargeImageSource = requires(const S& s, std::size_t i) {
    { s.size() } -> std::convertible_to<std::size_t>;
    { s.decode(i) } -> std::same_as<image_u8>;
    { s.label(i) } -> std::convertible_to<int>;
    { s.channels() } -> std::convertible_to<std::size_t>;
};

/// Images `idx` of `src`, stacked into an N x C x H x W tensor (in parallel: each image is read
/// into its own slot, so the result does not depend on the thread count).
template <ImageSource S>
tensor<float> gather(const S& src, const std::vector<std::size_t>& idx) {
    const auto [C, H, W] = src.shape();
    const std::size_t img = C * H * W;
    tensor<float> out({idx.size(), C, H, W}, uninitialized);
    for (std::size_t i : idx) require(i < src.size(), "image source", "image ", i, " out of range (", src.size(), " images)");
    parallel::for_chunks(0, idx.size(), 1, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t k = lo; k < hi; ++k) src.read(idx[k], out.data() + k * img);
    });
    return out;
}

/// Images [lo, hi) of `src` as a tensor.
template <ImageSource S>
tensor<float> gather_range(const S& src, std::size_t lo, std::size_t hi) {
    std::vector<std::size_t> idx(hi - lo);
    for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = lo + k;
    return gather(src, idx);
}

/// Images [lo, lo + n) of another source (a reference: `src` must outlive it), as a source of n.
template <ImageSource S>
class row_block_source {
public:
    row_block_source(const S& src, std::size_t lo, std::size_t n) : s_(&src), lo_(lo), n_(n) {
        require(lo + n <= src.size(), "row_block_source", "rows [", lo, ", ", lo + n, ") of ", src.size(), " images");
    }
    std::size_t size() const { return n_; }
    image_shape shape() const { return s_->shape(); }
    void read(std::size_t i, float* dst) const { s_->read(lo_ + i, dst); }
    int label(std::size_t i) const { return s_->label(lo_ + i); }

private:
    const S* s_;
    std::size_t lo_, n_;
};

/// An N x C x H x W float tensor (shared, not copied) and optional labels (default 0).
class tensor_source {
public:
    explicit tensor_source(tensor<float> images, std::vector<int> labels = {})
        : x_(images.contiguous_copy()), labels_(std::move(labels)) {
        require(x_.ndim() == 4, "tensor_source", "expects N x C x H x W images, got ", to_string(x_.shape()));
        require(labels_.empty() || labels_.size() == x_.shape(0), "tensor_source", labels_.size(), " labels for ",
                x_.shape(0), " images");
    }
    std::size_t size() const { return x_.shape(0); }
    image_shape shape() const { return {x_.shape(1), x_.shape(2), x_.shape(3)}; }
    void read(std::size_t i, float* dst) const {
        const std::size_t img = x_.shape(1) * x_.shape(2) * x_.shape(3);
        std::copy_n(x_.data() + i * img, img, dst);
    }
    int label(std::size_t i) const { return labels_.empty() ? 0 : labels_[i]; }
    const tensor<float>& images() const { return x_; }

private:
    tensor<float> x_;
    std::vector<int> labels_;
};

/// Rows `rows` of an image_dataset (all of them when empty), kept as bytes; x / 255 on read.
class dataset_source {
public:
    explicit dataset_source(const image_dataset& ds, std::vector<std::size_t> rows = {}) : ds_(&ds), rows_(std::move(rows)) {
        for (std::size_t r : rows_) require(r < ds.size(), "dataset_source", "row ", r, " out of range (", ds.size(), " images)");
    }
    std::size_t size() const { return rows_.empty() ? ds_->size() : rows_.size(); }
    image_shape shape() const { return {ds_->channels, ds_->height, ds_->width}; }
    void read(std::size_t i, float* dst) const {
        const std::uint8_t* p = ds_->pixels.row(row(i));
        for (std::size_t k = 0; k < ds_->pixels.cols(); ++k) dst[k] = float(p[k]) / 255.0f;
    }
    int label(std::size_t i) const { return ds_->labels[row(i)]; }

private:
    std::size_t row(std::size_t i) const { return rows_.empty() ? i : rows_[i]; }
    const image_dataset* ds_;
    std::vector<std::size_t> rows_;
};

/// root/<class>/<images>, classes in name order (label = class index), files in name order,
/// listed when constructed and decoded when read. `side` > 0: resized (shorter side) and centre-
/// cropped to side x side, exactly as load_image_folder; 0: native size (decode() only, for
/// patch_sampler). A root with images and no class folders is one class, "".
class image_folder_source {
public:
    image_folder_source(const std::filesystem::path& root, std::size_t side, std::size_t channels = 3)
        : side_(side), channels_(channels) {
        require(channels == 1 || channels == 3, "image_folder_source", "channels must be 1 or 3, got ", channels);
        require(side == 0 || side >= 8, "image_folder_source", "side must be 0 (native) or >= 8, got ", side);
        if (!std::filesystem::is_directory(root)) fail<io_error>("image_folder_source", "'", root.string(), "' is not a folder");
        for (const auto& e : std::filesystem::directory_iterator(root))
            if (e.is_directory()) names_.push_back(e.path().filename().string());
        std::sort(names_.begin(), names_.end());
        if (names_.empty()) names_.push_back("");
        for (std::size_t c = 0; c < names_.size(); ++c)
            for (auto& f : detail::sorted_images(root / names_[c])) {
                files_.push_back(std::move(f));
                labels_.push_back(int(c));
            }
        if (files_.empty()) fail<io_error>("image_folder_source", "'", root.string(), "' holds no image files");
    }
    std::size_t size() const { return files_.size(); }
    std::size_t channels() const { return channels_; }
    image_shape shape() const {
        require(side_ > 0, "image_folder_source", "native-size images have no common shape; give a side, or cut patches");
        return {channels_, side_, side_};
    }
    image_u8 decode(std::size_t i) const {
        at(i);
        return side_ ? detail::load_resized(files_[i], side_, channels_) : load_image(files_[i], channels_);
    }
    void read(std::size_t i, float* dst) const {
        const image_u8 img = decode(i);
        const auto [C, H, W] = shape();
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t p = 0; p < H * W; ++p) dst[c * H * W + p] = float(img.pixels[p * C + c]) / 255.0f;
    }
    int label(std::size_t i) const { return labels_[at(i)]; }
    const std::filesystem::path& file(std::size_t i) const { return files_[at(i)]; }
    const std::vector<std::string>& class_names() const { return names_; }

private:
    std::size_t at(std::size_t i) const {
        require(i < files_.size(), "image_folder_source", "image ", i, " out of range (", files_.size(), " images)");
        return i;
    }
    std::size_t side_, channels_;
    std::vector<std::string> names_;
    std::vector<std::filesystem::path> files_;
    std::vector<int> labels_;
};

/// Decoded images in memory (interleaved 8-bit, any sizes): a LargeImageSource for tests and for
/// images produced by code rather than files.
class image_list_source {
public:
    explicit image_list_source(std::vector<image_u8> images, std::vector<int> labels = {})
        : images_(std::move(images)), labels_(std::move(labels)) {
        require(!images_.empty(), "image_list_source", "no images");
        for (const auto& im : images_)
            require(im.channels == images_[0].channels, "image_list_source", "images have ", images_[0].channels, " and ",
                    im.channels, " channels");
        require(labels_.empty() || labels_.size() == images_.size(), "image_list_source", labels_.size(), " labels for ",
                images_.size(), " images");
    }
    std::size_t size() const { return images_.size(); }
    std::size_t channels() const { return images_[0].channels; }
    image_u8 decode(std::size_t i) const { return images_.at(i); }
    int label(std::size_t i) const { return labels_.empty() ? 0 : labels_.at(i); }

private:
    std::vector<image_u8> images_;
    std::vector<int> labels_;
};

struct patch_params {
    std::size_t side = 32;         ///< P: patches are P x P
    std::size_t count = 10000;     ///< patches per epoch (the source's size)
    std::uint64_t seed = 0;
    std::size_t cache_bytes = std::size_t(512) << 20;  ///< decoded images kept (least recently used first out)
};

/// Patch i: image i mod n (every image equally often), at a position drawn uniformly from rng
/// (seed, i). Decoded images are cached up to cache_bytes; the cache changes speed, never content.
template <LargeImageSource S>
class patch_sampler {
public:
    patch_sampler(const S& src, patch_params p) : src_(&src), p_(p), cache_(std::make_shared<cache>()) {
        require(p.side >= 1 && p.count >= 1, "patch_sampler", "side and count must be >= 1");
        require(src.size() >= 1, "patch_sampler", "the source holds no images");
    }
    std::size_t size() const { return p_.count; }
    image_shape shape() const { return {src_->channels(), p_.side, p_.side}; }
    int label(std::size_t i) const { return src_->label(i % src_->size()); }

    /// Where patch i comes from: the image and the patch's top-left corner.
    struct origin {
        std::size_t image, y, x;
    };
    origin where(std::size_t i) const { return place(i, *image(i % src_->size())); }
    void read(std::size_t i, float* dst) const {
        const auto img = image(i % src_->size());  // fetched once: place() needs only its size
        const origin o = place(i, *img);
        const std::size_t C = img->channels, P = p_.side;
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < P; ++y)
                for (std::size_t x = 0; x < P; ++x)
                    dst[(c * P + y) * P + x] = float(img->pixels[((o.y + y) * img->width + o.x + x) * C + c]) / 255.0f;
    }

private:
    origin place(std::size_t i, const image_u8& img) const {
        const std::size_t k = i % src_->size();
        require(img.height >= p_.side && img.width >= p_.side, "patch_sampler", "image ", k, " is ", img.height, " x ",
                img.width, ", smaller than a ", p_.side, " px patch");
        rng r(p_.seed * 0x9e3779b97f4a7c15ull ^ (std::uint64_t(i) + 1) * 0xbf58476d1ce4e5b9ull);
        const std::size_t y = r.below(img.height - p_.side + 1), x = r.below(img.width - p_.side + 1);
        return {k, y, x};
    }
    struct cache {
        std::mutex m;
        std::list<std::size_t> order;  ///< most recently used first
        std::unordered_map<std::size_t, std::shared_ptr<const image_u8>> images;
        std::size_t bytes = 0;
    };
    std::shared_ptr<const image_u8> image(std::size_t k) const {
        {
            std::lock_guard lock(cache_->m);
            if (auto it = cache_->images.find(k); it != cache_->images.end()) {
                cache_->order.remove(k);
                cache_->order.push_front(k);
                return it->second;
            }
        }
        auto img = std::make_shared<const image_u8>(src_->decode(k));  // decoded outside the lock
        std::lock_guard lock(cache_->m);
        if (cache_->images.emplace(k, img).second) {
            cache_->order.push_front(k);
            cache_->bytes += img->pixels.size();
            while (cache_->bytes > p_.cache_bytes && cache_->order.size() > 1) {
                const std::size_t old = cache_->order.back();
                cache_->order.pop_back();
                cache_->bytes -= cache_->images[old]->pixels.size();
                cache_->images.erase(old);
            }
        }
        return img;
    }
    const S* src_;
    patch_params p_;
    std::shared_ptr<cache> cache_;
};

static_assert(ImageSource<tensor_source>);
static_assert(ImageSource<dataset_source>);
static_assert(ImageSource<image_folder_source>);
static_assert(LargeImageSource<image_folder_source>);
static_assert(ImageSource<patch_sampler<image_folder_source>>);

}  // namespace oneclass
