// tests/fuzz/make_corpus.cpp - writes the seed corpora of the fuzz harnesses: small valid files of
// every format the library reads, made by the library's own writers (tests/fuzz/corpus/<reader>/),
// and the inputs that once crashed or exhausted a reader (tests/fuzz/regressions/<reader>/), which
// scripts/fuzz.sh replays before fuzzing (tests/test_hostile_inputs.cpp holds them too).
//   usage: make_corpus tests/fuzz
#include <oneclass/core/binary_io.hpp>
#include <oneclass/data.hpp>
#include <oneclass/detectors.hpp>
#include <oneclass/nn/resnet.hpp>
#include <oneclass/nn/serialize.hpp>
#include <oneclass/pipeline/representation.hpp>

#include "shapes.hpp"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
void put(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    write_file_atomic(p, bytes, "make_corpus");
}
std::string gzip(const std::string& b) {
    uLongf n = compressBound(uLong(b.size())) + 32;
    std::string out(n, '\0');
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);  // 31: gzip wrapper
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data()));
    z.avail_in = uInt(b.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_corpus tests/fuzz\n");
        return 2;
    }
    const fs::path root = fs::path(argv[1]) / "corpus", regress = fs::path(argv[1]) / "regressions";
    const auto tmp = fs::temp_directory_path() / "oneclass_make_corpus";
    fs::create_directories(tmp);
    rng r(7);
    matrix<float> X(12, 3);
    for (auto& v : X.values()) v = float(r.normal());

    for (const char* sub : {"npy", "csv", "idx", "cifar", "image", "model", "weights", "representation"})
        fs::create_directories(root / sub);
    save_npy<float>(root / "npy" / "matrix_f4.npy", X.view());
    save_npy<double>(root / "npy" / "vector_f8.npy", std::vector<double>{1, 0, 1, 1});
    {  // a big-endian int16 Fortran-order array, written by hand
        const std::string dict = "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }          \n";
        std::string b("\x93NUMPY\x01\x00", 8);
        b.push_back(char(dict.size()));
        b.push_back(0);
        put(root / "npy" / "fortran_i2.npy", b + dict + std::string("\x00\x01\x00\x02\x00\x03\xff\xff\x00\x05\x00\x06", 12));
    }
    put(root / "csv" / "header.csv", "a,b,c\n1,2,3\n4.5,-6e3,7\n");
    put(root / "csv" / "plain.csv", "\xEF\xBB\xBF" "0.25\r\n1\r\n\r\n-3\r\n");
    {
        std::string idx{char(0), char(0), char(8), char(3), 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
        for (int i = 0; i < 24; ++i) idx.push_back(char(i * 10));
        put(root / "idx" / "images.idx", idx);
        put(root / "idx" / "images.idx.gz", gzip(idx));
        put(root / "idx" / "labels.idx", std::string{0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 9});
    }
    {
        std::string rec;
        for (int k = 0; k < 2; ++k) {
            rec.push_back(char(k));
            rec.push_back(char(k + 3));
            for (int i = 0; i < 3072; ++i) rec.push_back(char((i * 7 + k) & 0xff));
        }
        put(root / "cifar" / "two_records.bin", rec.substr(0, 2 * 3073));  // CIFAR-10 records
        put(root / "cifar" / "cifar100_record.bin", rec.substr(0, 3074));
    }
    {
        image_u8 rgb{6, 5, 3, {}}, grey{4, 7, 1, {}};
        for (int i = 0; i < 90; ++i) rgb.pixels.push_back(std::uint8_t(i * 3));
        for (int i = 0; i < 28; ++i) grey.pixels.push_back(std::uint8_t(i * 9));
        put(root / "image" / "rgb.png", encode_png(rgb));
        put(root / "image" / "grey.png", encode_png(grey));
        put(root / "image" / "rgb.jpg", encode_jpeg(rgb, 80));
        put(root / "image" / "grey.jpg", encode_jpeg(grey, 80));
    }
    {
        auto save = [&](const auto& det, const char* name) { put(root / "model" / name, model_bytes(det)); };
        kde<float> k;
        (void)k.fit(X.view());
        save(k, "kde.ocm");
        ocsvm<float> s({.nu = 0.5});
        (void)s.fit(X.view());
        save(s, "ocsvm.ocm");
        ocsvm<float> sl({.nu = 0.5, .kernel = svm_kernel::linear});
        (void)sl.fit(X.view());
        save(sl, "ocsvm_linear.ocm");
        gde<float> g;
        (void)g.fit(X.view());
        save(g, "gde.ocm");
        gmm<float> m({.components = 2});
        (void)m.fit(X.view());
        save(m, "gmm.ocm");
        knn<float> n({.k = 2});
        (void)n.fit(X.view());
        save(n, "knn.ocm");
    }
    {
        rng wr(1);
        nn::resnet<float> net({.depth = 10, .width = 1.0 / 64, .in_channels = 1}, wr);
        put(root / "weights" / "resnet10.ocw", nn::weights_bytes(net));
    }
    {
        const auto c = fuzz_shapes::tiny_representation();
        pipeline::representation rep(c, 1);
        rep.save(tmp / "rep.ocm", {{"dataset", "fuzz"}});
        rep.save_checkpoint(tmp / "rep.ckpt");
        put(root / "representation" / "model.ocm", read_file_bytes(tmp / "rep.ocm", "make_corpus"));
        put(root / "representation" / "checkpoint.ckpt", read_file_bytes(tmp / "rep.ckpt", "make_corpus"));
    }
    // ---- regressions: the findings of issue 21's fuzzing campaign, rebuilt from their description
    auto frame_kde = [](std::uint64_t rows, std::uint64_t cols, std::uint64_t block_rows) {
        binary_writer w;
        w.put<std::uint8_t>(4);
        w.put<std::uint8_t>(0);
        w.put<std::uint64_t>(cols);
        w.put<double>(0.5);
        w.put<std::uint64_t>(block_rows);
        w.put<std::uint64_t>(rows);
        w.put<std::uint64_t>(cols);
        w.put<std::uint64_t>(rows * cols <= 4 ? rows * cols : 0);
        for (std::uint64_t i = 0; i < rows * cols && rows * cols <= 4; ++i) w.put<float>(float(i));
        return frame_payload(model_format_version, "kde", w.bytes());
    };
    put(regress / "model" / "kde_dims_wrap_to_zero.ocm", frame_kde(std::uint64_t(1) << 32, std::uint64_t(1) << 32, 128));
    put(regress / "model" / "kde_block_rows_2e40.ocm", frame_kde(2, 2, std::uint64_t(1) << 40));
    {
        std::string idx{0, 0, 8, 4};
        for (int d = 0; d < 4; ++d) idx += std::string{0, 1, 0, 0};
        put(regress / "idx" / "dims_product_2e64.idx", idx);
    }
    {
        const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 9223372036854775808), }";
        std::string b("\x93NUMPY\x01\x00", 8);
        b.push_back(char(dict.size()));
        b.push_back(0);
        put(regress / "npy" / "shape_2_by_2e63.npy", b + dict);
    }
    {
        const std::string good = read_file_bytes(root / "representation" / "model.ocm", "make_corpus");
        put(regress / "representation" / "in_channels_minus_1.ocm", fuzz_shapes::with_field(good, "in_channels", "-1"));
        put(regress / "representation" / "head_hidden_1e8.ocm", fuzz_shapes::with_field(good, "head_hidden", "100000000"));
        binary_writer w;
        w.put<std::uint64_t>(std::uint64_t(1) << 40);
        put(regress / "representation" / "field_count_2e40.ocm", frame_payload(2, "representation", w.bytes()));
    }
    {
        std::string png = encode_png(image_u8{1, 1, 1, {0}});
        auto be32 = [&](std::size_t at, std::uint32_t v) {
            for (int k = 0; k < 4; ++k) png[at + std::size_t(k)] = char((v >> (24 - 8 * k)) & 0xff);
        };
        be32(16, 100000);
        be32(20, 100000);
        be32(29, std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17)));
        put(regress / "image" / "header_100000_squared.png", png);
        image_u8 tall{65535, 1, 1, std::vector<std::uint8_t>(65535, 7)};
        put(regress / "image" / "one_by_65535.png", encode_png(tall));
        const std::string jpg = read_file_bytes(root / "image" / "rgb.jpg", "make_corpus");
        put(regress / "image" / "truncated.jpg", jpg.substr(0, jpg.size() / 2));
    }
    fs::remove_all(tmp);
    std::printf("corpus and regressions written under %s\n", argv[1]);
    return 0;
}
