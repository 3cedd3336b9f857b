// oneclass/data/idx.hpp - IDX files (MNIST / Fashion-MNIST), plain or gzip-compressed.
//
// IDX: two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then each
// dimension as a big-endian uint32, then the data. zlib's gzread reads .gz and plain files alike.
// A wrong magic, an unsupported type, a truncated or corrupt stream throws io_error naming the file.
//
//     auto train = oneclass::load_fashion_mnist("/usr/share/datasets/fashion-mnist", "train");
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/data/dataset.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace oneclass {

struct idx_array {
    std::vector<std::size_t> dims;
    std::vector<std::uint8_t> data;
};

namespace detail {
/// A gzip (or plain) stream read in pieces, so that memory follows the bytes actually present.
class gz_reader {
public:
    gz_reader(const std::filesystem::path& path, const char* where) : path_(path), where_(where) {
        f_ = gzopen(path.c_str(), "rb");
        if (!f_) fail<io_error>(where, "cannot open '", path.string(), "'");
    }
    ~gz_reader() { gzclose(f_); }
    gz_reader(const gz_reader&) = delete;
    gz_reader& operator=(const gz_reader&) = delete;

    /// Appends up to n bytes to `out` (a string or byte vector); returns how many were read (fewer
    /// only at the end).
    template <class Bytes>
    std::size_t read(std::size_t n, Bytes& out) {
        std::size_t got = 0;
        char buf[1 << 16];
        while (got < n) {
            const int k = gzread(f_, buf, unsigned(std::min<std::size_t>(sizeof buf, n - got)));
            if (k < 0) {
                int errnum = 0;
                fail<io_error>(where_, "'", path_.string(), "' is corrupt (", gzerror(f_, &errnum), ")");
            }
            if (k == 0) break;
            out.insert(out.end(), buf, buf + k);
            got += std::size_t(k);
        }
        int errnum = 0;
        const char* msg = gzerror(f_, &errnum);
        if (errnum != Z_OK && errnum != Z_STREAM_END)
            fail<io_error>(where_, "'", path_.string(), "' is truncated or corrupt (", msg, ")");
        return got;
    }

private:
    std::filesystem::path path_;
    const char* where_;
    gzFile f_ = nullptr;
};
}  // namespace detail

/// Reads an IDX file (plain or gzip). The header's element count is checked (no overflow, no more
/// than this machine's memory) before the data is read, and the data is read in pieces: a header
/// that claims more than the file holds costs only what the file holds.
inline idx_array load_idx(const std::filesystem::path& path) {
    constexpr const char* where = "load_idx";
    const std::string src = path.string();
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail<io_error>(where, "'", src, "' is a directory, not a file");
    detail::gz_reader in(path, where);
    std::string b;
    if (in.read(4, b) < 4 || b[0] != 0 || b[1] != 0) fail<io_error>(where, "'", src, "' is not an IDX file (bad magic)");
    if (static_cast<unsigned char>(b[2]) != 0x08)
        fail<io_error>(where, "'", src, "' has IDX type 0x", std::hex, int(static_cast<unsigned char>(b[2])),
                       "; only unsigned bytes (0x08) are supported");
    const std::size_t nd = static_cast<unsigned char>(b[3]);
    if (nd == 0 || in.read(4 * nd, b) < 4 * nd) fail<io_error>(where, "'", src, "' is truncated in its header");
    idx_array a;
    for (std::size_t k = 0; k < nd; ++k) {
        std::size_t v = 0;
        for (int j = 0; j < 4; ++j) v = (v << 8) | static_cast<unsigned char>(b[4 + 4 * k + std::size_t(j)]);
        a.dims.push_back(v);
    }
    const std::size_t count = checked_product<io_error>(a.dims, where, ("'" + src + "' dimensions").c_str());
    check_fits_memory<io_error>(count, where, ("'" + src + "' data").c_str());
    const std::size_t got = naming_file(path, where, [&] { return in.read(count, a.data); });
    if (got < count) fail<io_error>(where, "'", src, "' is truncated: expected ", count, " data bytes, found ", got);
    std::string extra;
    if (in.read(1, extra) > 0) fail<io_error>(where, "'", src, "' has trailing bytes after its ", count, " data bytes");
    return a;
}

/// Fashion-MNIST's ten class names, in label order.
inline std::vector<std::string> fashion_mnist_classes() {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

/// Loads split "train" or "test" (alias "t10k") from `root`, which holds
/// {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Images are 1 x 28 x 28.
inline image_dataset load_fashion_mnist(const std::filesystem::path& root, const std::string& split) {
    std::string prefix;
    if (split == "train") prefix = "train";
    else if (split == "test" || split == "t10k") prefix = "t10k";
    else fail("load_fashion_mnist", "split must be 'train' or 'test', got '", split, "'");
    auto find = [&](const std::string& stem) {
        for (const char* ext : {".gz", ""}) {
            const auto p = root / (prefix + stem + ext);
            if (std::filesystem::exists(p)) return p;
        }
        fail<io_error>("load_fashion_mnist", "no '", (root / (prefix + stem)).string(),
                       "[.gz]' (install the Debian package dataset-fashion-mnist, or pass the folder)");
    };
    const auto imgs = load_idx(find("-images-idx3-ubyte"));
    const auto labs = load_idx(find("-labels-idx1-ubyte"));
    if (imgs.dims.size() != 3) fail<io_error>("load_fashion_mnist", "image file is not 3-D (n x rows x cols)");
    if (labs.dims.size() != 1) fail<io_error>("load_fashion_mnist", "label file is not 1-D");
    if (imgs.dims[0] != labs.dims[0])
        fail<io_error>("load_fashion_mnist", imgs.dims[0], " images but ", labs.dims[0], " labels");
    image_dataset ds;
    ds.channels = 1;
    ds.height = imgs.dims[1];
    ds.width = imgs.dims[2];
    ds.class_names = fashion_mnist_classes();
    ds.pixels = matrix<std::uint8_t>(imgs.dims[0], ds.height * ds.width, std::span<const std::uint8_t>(imgs.data));
    ds.labels.resize(labs.dims[0]);
    for (std::size_t i = 0; i < ds.labels.size(); ++i) {
        if (labs.data[i] >= 10) fail<io_error>("load_fashion_mnist", "label ", int(labs.data[i]), " at index ", i, " is out of range 0..9");
        ds.labels[i] = labs.data[i];
    }
    return ds;
}

}  // namespace oneclass
