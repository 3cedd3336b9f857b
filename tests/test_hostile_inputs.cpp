// tests/test_hostile_inputs.cpp - regressions for the fuzzing and bad-input campaign (issue 21):
// each test holds the input that once crashed, overflowed, allocated gigabytes or answered
// silently wrong, and asserts the clean refusal (or right answer) it gets now.
#include "test_util.hpp"
#include "fuzz/shapes.hpp"

#include <oneclass/core/binary_io.hpp>
#include <oneclass/data.hpp>
#include <oneclass/detectors.hpp>
#include <oneclass/pipeline/representation.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
const fs::path dir = fs::temp_directory_path() / ("oneclass_hostile_" + std::to_string(::getpid()));

struct scratch {
    scratch() {
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~scratch() { fs::remove_all(dir); }
};

void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

/// A KDE model file with a valid checksum whose stored matrix claims rows x cols.
std::string kde_model(std::uint64_t rows, std::uint64_t cols, std::uint64_t block_rows, std::vector<float> values) {
    binary_writer w;
    w.put<std::uint8_t>(sizeof(float));
    w.put<std::uint8_t>(0);  // normalization none
    w.put<std::uint64_t>(cols);
    w.put<double>(0.5);  // gamma
    w.put<std::uint64_t>(block_rows);
    w.put<std::uint64_t>(rows);
    w.put<std::uint64_t>(cols);
    w.put_vector(values);
    return frame_payload(model_format_version, "kde", w.bytes());
}
}  // namespace

TEST_CASE("size products that wrap are refused before anything is allocated") {
    scratch s;
    // 2^32 x 2^32 wraps to 0 in size_t: an 85-byte model once loaded as a huge matrix over 0 bytes
    const std::string wrap = kde_model(std::uint64_t(1) << 32, std::uint64_t(1) << 32, 128, {});
    REQUIRE(wrap.size() < 100);
    write_bytes(dir / "wrap.ocm", wrap);
    REQUIRE_THROWS_AS(load_model<kde<float>>(dir / "wrap.ocm"), io_error);
    REQUIRE_THROWS_WITH(load_any_model<float>(dir / "wrap.ocm"), Catch::Contains("wrap.ocm") || Catch::Contains("too large"));
    // a consistent model still loads; block_rows far beyond any fit's is refused, not trusted
    write_bytes(dir / "ok.ocm", kde_model(2, 2, 128, {1, 0, 0, 1}));
    REQUIRE(load_model<kde<float>>(dir / "ok.ocm").fitted());
    write_bytes(dir / "blocks.ocm", kde_model(2, 2, std::uint64_t(1) << 40, {1, 0, 0, 1}));
    REQUIRE_THROWS_WITH(load_model<kde<float>>(dir / "blocks.ocm"), Catch::Contains("block_rows"));
    write_bytes(dir / "nan.ocm", kde_model(2, 2, 128, {1, 0, std::numeric_limits<float>::quiet_NaN(), 1}));
    REQUIRE_THROWS_WITH(load_model<kde<float>>(dir / "nan.ocm"), Catch::Contains("non-finite"));

    // a 16-byte IDX file whose four dimensions multiply to 2^64
    std::string idx{char(0), char(0), char(8), char(4)};
    for (int d = 0; d < 4; ++d) idx += std::string{char(0), char(1), char(0), char(0)};  // 65536 each
    REQUIRE(idx.size() == 20);
    write_bytes(dir / "wrap.idx", idx);
    REQUIRE_THROWS_WITH(load_idx(dir / "wrap.idx"), Catch::Contains("wrap.idx") && Catch::Contains("too large"));

    // .npy: shape (2, 2^63) once gave a 2 x 2^63 matrix with a null data pointer
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 9223372036854775808), }";
    std::string npy("\x93NUMPY\x01\x00", 8);
    npy.push_back(char(dict.size()));
    npy.push_back(0);
    write_bytes(dir / "wrap.npy", npy + dict);
    REQUIRE_THROWS_AS(load_npy_matrix<float>(dir / "wrap.npy"), io_error);

    // the containers themselves
    REQUIRE_THROWS_WITH(matrix<float>(std::size_t(1) << 32, std::size_t(1) << 32), Catch::Contains("too large"));
    REQUIRE_THROWS_WITH(matrix<double>(std::size_t(1) << 30, std::size_t(1) << 30), Catch::Contains("bytes"));
    REQUIRE_THROWS_WITH(tensor<float>({std::size_t(1) << 32, std::size_t(1) << 32}), Catch::Contains("more elements"));
    REQUIRE_THROWS_AS(checked_mul(std::size_t(-1), 2, "t", "x"), invalid_input);
    REQUIRE(checked_mul(std::size_t(1) << 31, std::size_t(1) << 32, "t", "x") == std::size_t(1) << 63);
}

TEST_CASE("representation files: every field is validated against the file before the network is built") {
    scratch s;
    pipeline::representation_config cfg;
    cfg.net = {.depth = 10, .width = 1.0 / 16};
    cfg.head_hidden = {8};
    cfg.head_out = 4;
    pipeline::representation rep(cfg, 1);
    rep.save(dir / "good.ocm");
    REQUIRE(pipeline::representation::load(dir / "good.ocm").fitted());

    // rewrite one configuration field, keep a valid frame and checksum
    auto with_field = [&](const std::string& key, const std::string& value) {
        const fs::path p = dir / ("bad_" + key + ".ocm");
        write_bytes(p, fuzz_shapes::with_field(read_file_bytes(dir / "good.ocm", "t"), key, value));
        return p;
    };
    // in_channels -1 once overflowed a heap buffer in the conv2d constructor
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("in_channels", "-1")),
                        Catch::Contains("'in_channels' is -1"));
    // head_hidden 10^8 once requested 12.8 GB before checking anything
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("head_hidden", "100000000")),
                        Catch::Contains("'head_hidden'"));
    // a plausible but bigger network than the file holds: refused by the weight count
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("head_hidden", "60000")),
                        Catch::Contains("weights but holds only"));
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("width", "1e300")), Catch::Contains("'width'"));
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("width", "nan")), Catch::Contains("'width'"));
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("depth", "50")), Catch::Contains("'depth'"));
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("batch", "2.5")), Catch::Contains("'batch'"));
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("seed", "-4")), Catch::Contains("'seed'"));
    REQUIRE_THROWS_WITH(pipeline::representation::load(with_field("stem", "resnext")), Catch::Contains("'stem'"));

    // a field count read from the file once sized a vector first (54 bytes -> 2.1 GB)
    binary_writer w;
    w.put<std::uint64_t>(std::uint64_t(1) << 40);
    write_bytes(dir / "count.ocm", frame_payload(2, "representation", w.bytes()));
    REQUIRE_THROWS_WITH(pipeline::representation::load(dir / "count.ocm"),
                        Catch::Contains("count.ocm") && Catch::Contains("configuration fields"));
}

TEST_CASE("write_file_atomic: symlinks, devices, FIFOs and existing permissions") {
    scratch s;
    // a symlink is followed: the link stays, its target gets the new content
    write_bytes(dir / "target.txt", "old");
    fs::create_symlink("target.txt", dir / "link.txt");
    write_file_atomic(dir / "link.txt", "new", "test");
    REQUIRE(fs::is_symlink(dir / "link.txt"));
    REQUIRE(read_file_bytes(dir / "target.txt", "t") == "new");
    // a dangling symlink: its target is created
    fs::create_symlink("made.txt", dir / "dangling.txt");
    write_file_atomic(dir / "dangling.txt", "x", "test");
    REQUIRE(fs::is_symlink(dir / "dangling.txt"));
    REQUIRE(read_file_bytes(dir / "made.txt", "t") == "x");
    // an existing file keeps its mode (0600 once became 0644)
    write_bytes(dir / "private.txt", "secret");
    fs::permissions(dir / "private.txt", fs::perms::owner_read | fs::perms::owner_write);
    write_file_atomic(dir / "private.txt", "still secret", "test");
    REQUIRE((fs::status(dir / "private.txt").permissions() & fs::perms::all) ==
            (fs::perms::owner_read | fs::perms::owner_write));
    // a FIFO is written in place (renaming over it would replace the node with a file)
    REQUIRE(::mkfifo((dir / "pipe").c_str(), 0600) == 0);
    std::string got;
    std::thread reader([&] {
        std::ifstream in(dir / "pipe", std::ios::binary);
        got.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    });
    write_file_atomic(dir / "pipe", "through the pipe", "test");
    reader.join();
    REQUIRE(got == "through the pipe");
    REQUIRE(fs::is_fifo(dir / "pipe"));
    // a full device reports the error and stays a device
    if (fs::exists("/dev/full")) {
        REQUIRE_THROWS_WITH(write_file_atomic("/dev/full", "data", "test"), Catch::Contains("/dev/full"));
        REQUIRE(fs::is_character_file("/dev/full"));
    }
    // a directory is refused by name, also when read
    fs::create_directories(dir / "sub");
    REQUIRE_THROWS_WITH(write_file_atomic(dir / "sub", "x", "test"), Catch::Contains("is a directory"));
    REQUIRE_THROWS_WITH(read_file_bytes(dir / "sub", "test"), Catch::Contains("is a directory"));
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(dir / "sub"), Catch::Contains("is a directory"));
    REQUIRE_THROWS_WITH(load_idx(dir / "sub"), Catch::Contains("is a directory"));
    // no temporary file is left behind anywhere
    for (const auto& e : fs::directory_iterator(dir)) REQUIRE(e.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("CSV: a header is a line with no number in it; a byte-order mark is not data") {
    scratch s;
    write_bytes(dir / "typo.csv", "1,2,3,x\n4,5,6,7\n");  // once taken for a header: 1 row silently lost
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(dir / "typo.csv"), Catch::Contains("line 1, column 4: 'x'"));
    write_bytes(dir / "bom.csv", "\xEF\xBB\xBF" "1,2\n3,4\n");  // once dropped the first row
    const auto m = load_csv_matrix<double>(dir / "bom.csv");
    REQUIRE(m.rows() == 2);
    REQUIRE(m(0, 0) == 1.0);
    write_bytes(dir / "bomhead.csv", "\xEF\xBB\xBF" "a,b\n1,2\n");
    REQUIRE(load_csv_matrix<double>(dir / "bomhead.csv").rows() == 1);
    write_bytes(dir / "header.csv", "x,y\n1,2\n");
    REQUIRE(load_csv_matrix<double>(dir / "header.csv").rows() == 1);
}

TEST_CASE("images: crafted headers and shapes cost nothing; truncated data is an error") {
    scratch s;
    // a 1 x 65535 PNG once cost 400 MB and 6.5 s: only the kept window is resized now
    image_u8 tall{65535, 1, 1, std::vector<std::uint8_t>(65535)};
    for (std::size_t i = 0; i < tall.pixels.size(); ++i) tall.pixels[i] = std::uint8_t(i * 7);
    save_png(dir / "tall.png", tall);
    const auto img = load_image(dir / "tall.png", 1);
    REQUIRE(img.height == 65535);
    const auto c = resize_and_center_crop(img, 32);
    REQUIRE((c.height == 32 && c.width == 32));
    // the window equals the full resize, cropped (same arithmetic), on a shape that can be checked
    image_u8 odd{7, 300, 3, {}};
    rng r(3);
    for (std::size_t i = 0; i < 7 * 300 * 3; ++i) odd.pixels.push_back(std::uint8_t(r.below(256)));
    const std::size_t side = 5, nw = std::size_t(double(side) * 300 / 7);
    const auto full = resize_area(odd, side, nw), win = resize_and_center_crop(odd, side);
    const std::size_t ox = (nw - side) / 2;
    for (std::size_t y = 0; y < side; ++y)
        for (std::size_t x = 0; x < side * 3; ++x) REQUIRE(win.pixels[y * side * 3 + x] == full.pixels[(y * nw + ox) * 3 + x]);

    // a PNG header claiming 100000 x 100000 pixels is refused before any allocation
    std::string png = encode_png(image_u8{1, 1, 1, {0}});
    auto put_be32 = [&](std::size_t at, std::uint32_t v) {
        for (int k = 0; k < 4; ++k) png[at + std::size_t(k)] = char((v >> (24 - 8 * k)) & 0xff);
    };
    put_be32(16, 100000);
    put_be32(20, 100000);
    const auto crc = crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17);  // IHDR type + data
    put_be32(29, std::uint32_t(crc));
    write_bytes(dir / "huge.png", png);
    REQUIRE_THROWS_WITH(load_image(dir / "huge.png"), Catch::Contains("huge.png") && Catch::Contains("more than"));

    // a JPEG cut in half: libjpeg would fill the rest with grey; we refuse it
    image_u8 grad{64, 64, 3, {}};
    for (std::size_t i = 0; i < 64 * 64 * 3; ++i) grad.pixels.push_back(std::uint8_t(r.below(256)));
    const std::string jpg = encode_jpeg(grad, 90);
    write_bytes(dir / "whole.jpg", jpg);
    REQUIRE(load_image(dir / "whole.jpg").height == 64);
    write_bytes(dir / "half.jpg", jpg.substr(0, jpg.size() / 2));
    REQUIRE_THROWS_WITH(load_image(dir / "half.jpg"), Catch::Contains("half.jpg") && Catch::Contains("cannot be decoded"));
    // neither PNG nor JPEG
    write_bytes(dir / "x.bmp", "BM not supported");
    REQUIRE_THROWS_WITH(load_image(dir / "x.bmp"), Catch::Contains("not a PNG or JPEG"));
    // grey and colour conversions keep the luma rule of earlier versions
    const auto g = convert_channels(image_u8{1, 1, 3, {200, 100, 50}}, 1);
    REQUIRE(int(g.pixels[0]) == (200 * 77 + 100 * 150 + 50 * 29) >> 8);
}

TEST_CASE("kde: any finite gamma gives finite, right scores (1e30 once gave infinite ones)") {
    // The log-sum-exp now shifts by the nearest distance before scaling, so the largest exponent is
    // exactly 0 whatever gamma is. With gamma this large the sum is 1 and the score is the nearest
    // squared distance: checked against brute force, in float and double, on every SIMD path.
    const auto X = test::random_matrix<float>(50, 4, 1), Y = test::random_matrix<float>(20, 4, 2);
    kde<float> k({.gamma = 1e30f, .normalize = normalization::none});
    (void)k.fit(X.view());
    const auto s = k.score(Y.view());
    kde<double> kd({.gamma = 1e30, .normalize = normalization::none});
    (void)kd.fit(matrix<double>(X.view()).view());
    const auto sd = kd.score(matrix<double>(Y.view()).view());
    for (std::size_t i = 0; i < Y.rows(); ++i) {
        double best = INFINITY;
        for (std::size_t j = 0; j < X.rows(); ++j) {
            double d2 = 0;
            for (std::size_t c = 0; c < 4; ++c) d2 += (double(Y(i, c)) - X(j, c)) * (double(Y(i, c)) - X(j, c));
            best = std::min(best, d2);
        }
        INFO("row " << i);
        REQUIRE(std::isfinite(double(s[i])));
        // float distances via norms and a dot product: error a few eps times the squared norms
        REQUIRE(std::abs(double(s[i]) - best) <= 1e-5 * (1 + best) * 16);
        REQUIRE(std::abs(sd[i] - best) <= 1e-12 * (1 + best) * 16);
    }
}

TEST_CASE("a loss that diverges before the first checkpoint says that none exists") {
    scratch s;
    pipeline::representation_config cfg;
    cfg.method = "rotation";
    cfg.net = {.depth = 10, .width = 1.0 / 16};
    cfg.head_hidden = {8};
    cfg.head_out = 4;
    cfg.epochs = 2;
    cfg.batch = 4;
    cfg.checkpoint = dir / "never.ckpt";
    pipeline::representation rep(cfg, 1);
    auto ps = rep.parameters();
    ps.back().var.value().data()[0] = std::numeric_limits<float>::quiet_NaN();  // diverged from the start
    tensor<float> images({8, 1, 16, 16}, 0.5f);
    REQUIRE_THROWS_WITH(rep.fit(images), Catch::Contains("loss is NaN at epoch 1 step 1") &&
                                             Catch::Contains("no checkpoint had been written yet") &&
                                             !Catch::Contains("is kept"));
    REQUIRE_FALSE(fs::exists(dir / "never.ckpt"));
}

TEST_CASE("an allocation failure inside a reader names the file") {
    const fs::path p = "/data/features.npy";
    REQUIRE_THROWS_WITH(naming_file(p, "load_npy", []() -> int { throw std::bad_alloc(); }),
                        Catch::Contains("load_npy") && Catch::Contains("/data/features.npy") &&
                            Catch::Contains("more memory than is available"));
    REQUIRE_THROWS_AS(naming_file(p, "load_npy", []() -> int { throw std::length_error("vector"); }), io_error);
    REQUIRE(naming_file(p, "load_npy", [] { return 7; }) == 7);
    // a claim beyond this machine's memory is refused before anything is read
    REQUIRE_THROWS_WITH(check_fits_memory<io_error>(std::size_t(1) << 62, "load_idx", "'x.idx' data"),
                        Catch::Contains("more than this machine's memory"));
}
