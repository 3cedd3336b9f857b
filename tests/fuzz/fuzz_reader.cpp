// tests/fuzz/fuzz_reader.cpp - libFuzzer harness for one reader of the library, chosen at compile
// time by ONECLASS_FUZZ_<READER> (tests/fuzz/CMakeLists.txt builds one binary per reader).
//
// The contract under test: any byte string either loads, or throws oneclass::error naming what was
// wrong. A crash, a sanitizer report, any other exception (bad_alloc, length_error), a leak or an
// allocation above libFuzzer's -malloc_limit_mb is a finding. What loads is also used (a model
// scores rows, an image is resized), so that a file that passes the checks but lies is caught too.
// scripts/fuzz.sh runs each harness from its committed seed corpus (tests/fuzz/corpus/<reader>).
#include <oneclass/core/binary_io.hpp>
#if defined(ONECLASS_FUZZ_NPY)
#include <oneclass/data/npy.hpp>
#elif defined(ONECLASS_FUZZ_CSV)
#include <oneclass/data/csv.hpp>
#elif defined(ONECLASS_FUZZ_IDX)
#include <oneclass/data/idx.hpp>
#elif defined(ONECLASS_FUZZ_CIFAR)
#include <oneclass/data/cifar.hpp>
#elif defined(ONECLASS_FUZZ_IMAGE)
#include <oneclass/data/images.hpp>
#elif defined(ONECLASS_FUZZ_MODEL)
#include <oneclass/detectors.hpp>
#elif defined(ONECLASS_FUZZ_WEIGHTS)
#include <oneclass/nn/resnet.hpp>
#include <oneclass/nn/serialize.hpp>
#else
#include "shapes.hpp"
#endif

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>

namespace {
using namespace oneclass;

/// The readers that take a path read this file, rewritten for every input.
const std::filesystem::path& scratch_file() {
    static const std::filesystem::path p =
        std::filesystem::temp_directory_path() / ("oneclass_fuzz_" + std::to_string(::getpid()) + ".bin");
    return p;
}
[[maybe_unused]] void write_scratch(std::string_view bytes) {
    std::FILE* f = std::fopen(scratch_file().c_str(), "wb");
    if (!f) std::abort();
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
    std::fclose(f);
}

void run(std::string_view bytes) {
#if defined(ONECLASS_FUZZ_NPY)
    write_scratch(bytes);
    const auto m = load_npy_matrix<float>(scratch_file());
    (void)load_npy_vector<double>(scratch_file());
    if (m.size() && m.data()[m.size() - 1] == 12345.f) std::puts("");  // touch the last element
#elif defined(ONECLASS_FUZZ_CSV)
    write_scratch(bytes);
    const auto m = load_csv_matrix<double>(scratch_file());
    if (m.rows() == 0 || m.cols() == 0) std::abort();  // "no data rows" must have been thrown
#elif defined(ONECLASS_FUZZ_IDX)
    write_scratch(bytes);
    const idx_array a = load_idx(scratch_file());
    std::size_t n = 1;
    for (std::size_t d : a.dims) n *= d;
    if (n != a.data.size()) std::abort();
#elif defined(ONECLASS_FUZZ_CIFAR)
    write_scratch(bytes);
    std::vector<std::uint8_t> px;
    std::vector<int> labels;
    detail::read_cifar_file(scratch_file(), 1, 0, 10, px, labels);
    detail::read_cifar_file(scratch_file(), 2, 1, 100, px, labels);
    if (px.size() != labels.size() * 3072) std::abort();
#elif defined(ONECLASS_FUZZ_IMAGE)
    const image_u8 img = decode_image(bytes, "fuzz");
    if (img.pixels.size() != img.height * img.width * img.channels) std::abort();
    const image_u8 grey = convert_channels(img, 1);
    (void)resize_and_center_crop(grey, 16);
#elif defined(ONECLASS_FUZZ_MODEL)
    write_scratch(bytes);
    auto det = load_any_model<float>(scratch_file());
    const std::size_t d = std::visit([](const auto& x) { return x.dim(); }, det);
    if (d <= 4096) {  // what loads must also score (or refuse cleanly)
        const matrix<float> X(3, d, 0.5f);
        (void)std::visit([&](const auto& x) { return x.score(X.view()); }, det);
    }
#elif defined(ONECLASS_FUZZ_WEIGHTS)
    static rng r(1);
    static nn::resnet<float> net({.depth = 10, .width = 1.0 / 64, .in_channels = 1}, r);
    nn::load_weights_from_bytes(net, bytes, "fuzz");
#elif defined(ONECLASS_FUZZ_REPRESENTATION)
    write_scratch(bytes);
    try {
        auto rep = pipeline::representation::load(scratch_file());
        (void)rep.features(tensor<float>({1, rep.config().net.in_channels, 16, 16}, 0.5f));
    } catch (const error&) {
    }
    static pipeline::representation rep(fuzz_shapes::tiny_representation(), 1);
    rep.load_checkpoint(scratch_file());
#else
#error "define one of ONECLASS_FUZZ_{NPY,CSV,IDX,CIFAR,IMAGE,MODEL,WEIGHTS,REPRESENTATION}"
#endif
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        run(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const oneclass::error&) {
        // a clean refusal: what every malformed input must get
    }
    return 0;
}
