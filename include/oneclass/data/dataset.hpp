// oneclass/data/dataset.hpp - a labelled image set in memory, as the readers return it.
//
// Pixels are uint8, one image per row, stored channel-major (C x H x W, as CIFAR's binary files
// and PyTorch's tensors are). `as_features` turns them into a float matrix scaled to [0, 1], the
// "raw pixel" features of the paper's baselines.
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace oneclass {

struct image_dataset {
    matrix<std::uint8_t> pixels;  ///< n x (channels * height * width), CHW per row
    std::vector<int> labels;      ///< one per row, in [0, class_names.size())
    std::size_t channels = 0, height = 0, width = 0;
    std::vector<std::string> class_names;

    std::size_t size() const noexcept { return labels.size(); }
    std::size_t num_classes() const noexcept { return class_names.size(); }
};

/// Rows of `pixels` as T in [0, 1] (x / 255).
template <class T>
matrix<T> as_features(const image_dataset& ds) {
    matrix<T> out(ds.pixels.rows(), ds.pixels.cols());
    const auto src = ds.pixels.values();
    auto dst = out.values();
    for (std::size_t i = 0; i < src.size(); ++i) dst[i] = T(src[i]) / T(255);
    return out;
}

/// Copy of the rows of X listed in `rows`.
template <class T>
matrix<T> gather_rows(matrix_view<const T> X, const std::vector<std::size_t>& rows) {
    matrix<T> out(rows.size(), X.cols());
    for (std::size_t k = 0; k < rows.size(); ++k) {
        require(rows[k] < X.rows(), "gather_rows", "row ", rows[k], " out of range (", X.rows(), " rows)");
        std::copy_n(X.row(rows[k]), X.cols(), out.row(k));
    }
    return out;
}

}  // namespace oneclass
