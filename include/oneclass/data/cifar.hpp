// oneclass/data/cifar.hpp - CIFAR-10 and CIFAR-100 binary batches (the "binary version").
//
// CIFAR-10: data_batch_1..5.bin (train) and test_batch.bin, records of 1 label byte + 3072
// pixel bytes (1024 R, 1024 G, 1024 B, row-major 32 x 32). CIFAR-100: train.bin and test.bin,
// records of a coarse label byte (20 superclasses, the "CIFAR-20" of one-class papers), a fine
// label byte (100 classes) and 3072 pixel bytes. `root` is the folder holding the files, or its
// parent containing cifar-10-batches-bin / cifar-100-binary. A file whose size is not a whole
// number of records, or a label out of range, throws io_error naming the file.
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/data/dataset.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace oneclass {

enum class cifar100_labels { coarse, fine };

inline std::vector<std::string> cifar10_classes() {
    return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}
inline std::vector<std::string> cifar100_coarse_classes() {
    return {"aquatic mammals", "fish", "flowers", "food containers", "fruit and vegetables", "household electrical devices",
            "household furniture", "insects", "large carnivores", "large man-made outdoor things",
            "large natural outdoor scenes", "large omnivores and herbivores", "medium-sized mammals",
            "non-insect invertebrates", "people", "reptiles", "small mammals", "trees", "vehicles 1", "vehicles 2"};
}

namespace detail {
inline std::filesystem::path cifar_dir(const std::filesystem::path& root, const char* sub) {
    return std::filesystem::is_directory(root / sub) ? root / sub : root;
}

/// Appends the records of one batch file. label_bytes = 1 (CIFAR-10) or 2 (CIFAR-100);
/// label_index picks which label byte to keep; num_classes bounds it.
inline void read_cifar_file(const std::filesystem::path& p, std::size_t label_bytes, std::size_t label_index,
                            int num_classes, std::vector<std::uint8_t>& pixels, std::vector<int>& labels) {
    constexpr std::size_t image_bytes = 3 * 32 * 32;
    const std::size_t rec = label_bytes + image_bytes;
    if (!std::filesystem::exists(p)) fail<io_error>("load_cifar", "missing file '", p.string(), "'");
    const std::string b = read_file_bytes(p, "load_cifar");
    if (b.empty() || b.size() % rec != 0)
        fail<io_error>("load_cifar", "'", p.string(), "' is truncated or not a CIFAR batch: ", b.size(),
                       " bytes is not a whole number of ", rec, "-byte records");
    const std::size_t n = b.size() / rec;
    for (std::size_t i = 0; i < n; ++i) {
        const int lab = static_cast<unsigned char>(b[i * rec + label_index]);
        if (lab >= num_classes)
            fail<io_error>("load_cifar", "'", p.string(), "' record ", i, " has label ", lab, " (expected < ",
                           num_classes, ")");
        labels.push_back(lab);
        pixels.insert(pixels.end(), b.begin() + std::ptrdiff_t(i * rec + label_bytes),
                      b.begin() + std::ptrdiff_t((i + 1) * rec));
    }
}

inline image_dataset make_cifar(std::vector<std::uint8_t>&& px, std::vector<int>&& labels, std::vector<std::string> names) {
    image_dataset ds;
    ds.channels = 3;
    ds.height = ds.width = 32;
    ds.class_names = std::move(names);
    ds.pixels = matrix<std::uint8_t>(labels.size(), 3 * 32 * 32, std::span<const std::uint8_t>(px));
    ds.labels = std::move(labels);
    return ds;
}
}  // namespace detail

/// CIFAR-10 split "train" (the five data batches) or "test".
inline image_dataset load_cifar10(const std::filesystem::path& root, const std::string& split) {
    const auto dir = detail::cifar_dir(root, "cifar-10-batches-bin");
    std::vector<std::uint8_t> px;
    std::vector<int> labels;
    if (split == "train") {
        for (int b = 1; b <= 5; ++b)
            detail::read_cifar_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), 1, 0, 10, px, labels);
    } else if (split == "test") {
        detail::read_cifar_file(dir / "test_batch.bin", 1, 0, 10, px, labels);
    } else {
        fail("load_cifar10", "split must be 'train' or 'test', got '", split, "'");
    }
    return detail::make_cifar(std::move(px), std::move(labels), cifar10_classes());
}

/// CIFAR-100 split "train" or "test", labelled by the 20 superclasses (coarse) or 100 classes.
inline image_dataset load_cifar100(const std::filesystem::path& root, const std::string& split,
                                   cifar100_labels which = cifar100_labels::coarse) {
    const auto dir = detail::cifar_dir(root, "cifar-100-binary");
    if (split != "train" && split != "test") fail("load_cifar100", "split must be 'train' or 'test', got '", split, "'");
    std::vector<std::uint8_t> px;
    std::vector<int> labels;
    const bool coarse = which == cifar100_labels::coarse;
    detail::read_cifar_file(dir / (split + ".bin"), 2, coarse ? 0 : 1, coarse ? 20 : 100, px, labels);
    std::vector<std::string> names;
    if (coarse) names = cifar100_coarse_classes();
    else for (int c = 0; c < 100; ++c) names.push_back("class " + std::to_string(c));
    return detail::make_cifar(std::move(px), std::move(labels), std::move(names));
}

}  // namespace oneclass
