// tests/fuzz/make_corpus.cpp - writes the seed corpora of the fuzz harnesses: small valid files of
// every format the library reads, made by the library's own writers (tests/fuzz/corpus/<reader>/).
//   usage: make_corpus <corpus folder>
#include <oneclass/core/binary_io.hpp>
#include <oneclass/data.hpp>
#include <oneclass/detectors.hpp>
#include <oneclass/nn/resnet.hpp>
#include <oneclass/nn/serialize.hpp>
#include <oneclass/pipeline/representation.hpp>

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
        std::fprintf(stderr, "usage: make_corpus <corpus folder>\n");
        return 2;
    }
    const fs::path root = argv[1];
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
        pipeline::representation_config c;
        c.net = {.depth = 10, .width = 1.0 / 64};
        c.head_hidden = {4};
        c.head_out = 2;
        c.epochs = 1;
        c.batch = 4;
        pipeline::representation rep(c, 1);
        rep.save(tmp / "rep.ocm", {{"dataset", "fuzz"}});
        rep.save_checkpoint(tmp / "rep.ckpt");
        put(root / "representation" / "model.ocm", read_file_bytes(tmp / "rep.ocm", "make_corpus"));
        put(root / "representation" / "checkpoint.ckpt", read_file_bytes(tmp / "rep.ckpt", "make_corpus"));
    }
    fs::remove_all(tmp);
    std::printf("corpus written to %s\n", root.c_str());
    return 0;
}
