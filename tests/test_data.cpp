// tests/test_data.cpp - data/: .npy (files written by numpy), CSV, IDX (plain and gzip),
// Fashion-MNIST folders and CIFAR-10/100 binaries generated here in their exact formats.
#include "test_util.hpp"

#include <oneclass/data.hpp>

#include <zlib.h>

#include <filesystem>
#include <fstream>

using namespace oneclass;
namespace fs = std::filesystem;

namespace {
const fs::path data_dir = ONECLASS_TEST_DATA;

using test::temp_dir;

void write_bytes(const fs::path& p, const std::string& b) {
    std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size()));
}
void write_gz(const fs::path& p, const std::string& b) {
    gzFile f = gzopen(p.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, b.data(), unsigned(b.size())) == int(b.size()));
    gzclose(f);
}
std::string idx_bytes(const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& data) {
    std::string b{char(0), char(0), char(0x08), char(dims.size())};
    for (auto d : dims)
        for (int s = 24; s >= 0; s -= 8) b.push_back(char((d >> s) & 0xff));
    b.append(data.begin(), data.end());
    return b;
}
double m34(std::size_t i, std::size_t j) { return double(i * 4 + j) * 0.5 - 1.25; }
}  // namespace

TEST_CASE("npy: reads what numpy wrote (f4, Fortran f8, big-endian f8, v2.0, u1, i8 vector)") {
    for (const char* f : {"f4_c.npy", "f8_fortran.npy", "f8_bigendian.npy", "f4_v2.npy"}) {
        INFO(f);
        const auto m = load_npy_matrix<double>(data_dir / f);
        REQUIRE(m.rows() == 3);
        REQUIRE(m.cols() == 4);
        for (std::size_t i = 0; i < 3; ++i)
            for (std::size_t j = 0; j < 4; ++j) REQUIRE(m(i, j) == m34(i, j));
    }
    const auto u = load_npy_matrix<float>(data_dir / "u1_matrix.npy");
    REQUIRE(u(2, 3) == 220.0f);
    REQUIRE(load_npy_vector<double>(data_dir / "i8_vector.npy") == std::vector<double>{0, 1, 1, 0, 1});
}

TEMPLATE_TEST_CASE("npy: save then load round-trips exactly", "", float, double) {
    temp_dir t("npy");
    const auto m = test::random_matrix<TestType>(7, 5, test::seed());
    save_npy<TestType>(t / "m.npy", m.view());
    const auto back = load_npy_matrix<TestType>(t / "m.npy");
    REQUIRE(std::equal(m.values().begin(), m.values().end(), back.values().begin(), back.values().end()));
    const std::string bytes = read_file_bytes(t / "m.npy", "t");
    REQUIRE((bytes.size() - m.size() * sizeof(TestType)) % 64 == 0);  // header padded like numpy's
    std::vector<TestType> v{1, 2, 3};
    save_npy(t / "v.npy", v);
    REQUIRE(load_npy_vector<TestType>(t / "v.npy") == v);
}

TEST_CASE("npy: corrupt header, truncated data, wrong rank throw io_error naming the file") {
    temp_dir t("npybad");
    const std::string good = read_file_bytes(data_dir / "f4_c.npy", "t");
    write_bytes(t / "trunc.npy", good.substr(0, good.size() - 3));
    REQUIRE_THROWS_WITH(load_npy_matrix<float>(t / "trunc.npy"), Catch::Contains("trunc.npy") && Catch::Contains("truncated"));
    std::string bad = good;
    bad[1] = 'X';
    write_bytes(t / "magic.npy", bad);
    REQUIRE_THROWS_WITH(load_npy_matrix<float>(t / "magic.npy"), Catch::Contains("bad magic"));
    std::string hdr = good;
    const auto p = hdr.find("descr");
    hdr.replace(p, 5, "dxxxx");
    write_bytes(t / "hdr.npy", hdr);
    REQUIRE_THROWS_WITH(load_npy_matrix<float>(t / "hdr.npy"), Catch::Contains("descr"));
    std::string dt = good;
    dt.replace(dt.find("<f4"), 3, "<c8");
    write_bytes(t / "dtype.npy", dt);
    REQUIRE_THROWS_WITH(load_npy_matrix<float>(t / "dtype.npy"), Catch::Contains("unsupported dtype"));
    write_bytes(t / "empty.npy", "");
    REQUIRE_THROWS_AS(load_npy_matrix<float>(t / "empty.npy"), io_error);
    REQUIRE_THROWS_WITH(load_npy_vector<float>(data_dir / "f4_c.npy"), Catch::Contains("vector"));
    REQUIRE_THROWS_WITH(load_npy_matrix<float>(t / "missing.npy"), Catch::Contains("cannot open"));
}

TEST_CASE("npy: load_npy_rows reads a block of rows, only those bytes, with the whole-file checks") {
    temp_dir t("npyrows");
    const auto m = test::random_matrix<float>(11, 6, test::seed() + 1);
    save_npy<float>(t / "m.npy", m.view());
    for (auto [lo, hi] : std::vector<std::pair<std::size_t, std::size_t>>{{0, 11}, {0, 0}, {3, 7}, {10, 11}, {4, 99}}) {
        std::size_t rows = 0;
        const auto b = load_npy_rows<float>(t / "m.npy", lo, hi, &rows);
        INFO(lo << ".." << hi);
        REQUIRE(rows == 11);
        REQUIRE(b.rows() == std::min<std::size_t>(hi, 11) - lo);
        REQUIRE(b.cols() == 6);
        for (std::size_t i = 0; i < b.rows(); ++i)
            for (std::size_t j = 0; j < 6; ++j) REQUIRE(b(i, j) == m(lo + i, j));
    }
    // what numpy wrote: big-endian f8, format 2.0, a 1-D vector (n x 1)
    for (const char* f : {"f8_bigendian.npy", "f4_v2.npy"}) {
        const auto b = load_npy_rows<double>(data_dir / f, 1, 3);
        REQUIRE(b.rows() == 2);
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 4; ++j) REQUIRE(b(i, j) == m34(i + 1, j));
    }
    REQUIRE(load_npy_rows<double>(data_dir / "i8_vector.npy", 2, 5).values()[0] == 1.0);
    REQUIRE_THROWS_WITH(load_npy_rows<double>(data_dir / "f8_fortran.npy", 0, 1), Catch::Contains("Fortran order"));
    REQUIRE_THROWS_WITH(load_npy_rows<float>(t / "m.npy", 5, 2), Catch::Contains("rows [5, 2)"));
    const std::string good = read_file_bytes(t / "m.npy", "t");
    write_bytes(t / "trunc.npy", good.substr(0, good.size() - 3));
    REQUIRE_THROWS_WITH(load_npy_rows<float>(t / "trunc.npy", 0, 2), Catch::Contains("trunc.npy") && Catch::Contains("truncated"));
    write_bytes(t / "long.npy", good + "xyzw");
    REQUIRE_THROWS_WITH(load_npy_rows<float>(t / "long.npy", 0, 2), Catch::Contains("trailing bytes"));
    for (std::size_t cut : {0, 5, 11, 40}) {
        write_bytes(t / "head.npy", good.substr(0, cut));
        REQUIRE_THROWS_AS(load_npy_rows<float>(t / "head.npy", 0, 1), io_error);
    }
    REQUIRE_THROWS_WITH(load_npy_rows<float>(t / "missing.npy", 0, 1), Catch::Contains("cannot open"));
}

TEST_CASE("csv: header detection, CRLF, blank lines; errors name line and column") {
    temp_dir t("csv");
    write_bytes(t / "a.csv", "x,y,z\r\n1, 2.5 ,-3e2\r\n\r\n4,5,6\n");
    const auto m = load_csv_matrix<double>(t / "a.csv");
    REQUIRE(m.rows() == 2);
    REQUIRE(m.cols() == 3);
    REQUIRE(m(0, 1) == 2.5);
    REQUIRE(m(0, 2) == -300.0);
    write_bytes(t / "nohdr.csv", "1,2\n3,4\n");
    REQUIRE(load_csv_matrix<float>(t / "nohdr.csv").rows() == 2);
    write_bytes(t / "ragged.csv", "1,2\n3\n");
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(t / "ragged.csv"), Catch::Contains("line 2 has 1 fields, expected 2"));
    write_bytes(t / "word.csv", "a,b\n1,2\n3,x\n");
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(t / "word.csv"), Catch::Contains("line 3, column 2: 'x'"));
    write_bytes(t / "nan.csv", "1,nan\n");
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(t / "nan.csv"), Catch::Contains("not finite"));
    write_bytes(t / "empty.csv", "");
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(t / "empty.csv"), Catch::Contains("no data rows"));
    write_bytes(t / "hdronly.csv", "score\n");
    REQUIRE_THROWS_WITH(load_csv_matrix<float>(t / "hdronly.csv"), Catch::Contains("no data rows"));
    const std::vector<float> s{0.1f, -2.5f, 1e-7f};
    save_csv_column(t / "s.csv", "score", s);
    REQUIRE(load_csv_vector<float>(t / "s.csv") == s);
}

TEST_CASE("csv: quoted fields (RFC 4180) in headers and data; malformed quotes name the line") {
    temp_dir t("csvq");
    // a header whose fields hold commas, doubled quotes and a line break; quoted numbers; a blank line
    write_bytes(t / "q.csv", "\"width, mm\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"1.5\", 2 ,\"-3\"\n\n4,5,6\n7,8,x\n");
    REQUIRE_THROWS_WITH(load_csv_matrix<double>(t / "q.csv"), Catch::Contains("line 6, column 3: 'x'"));
    write_bytes(t / "q.csv", "\"width, mm\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"1.5\", 2 ,\"-3\"\n\n4,5,6\n");
    const auto m = load_csv_matrix<double>(t / "q.csv");
    REQUIRE(m.rows() == 2);
    REQUIRE(m.cols() == 3);
    REQUIRE(m(0, 0) == 1.5);
    REQUIRE(m(0, 1) == 2.0);
    REQUIRE(m(0, 2) == -3.0);
    REQUIRE(m(1, 2) == 6.0);

    const auto records = parse_csv("a,\"b,c\"\r\n\n\"d\"\"e\",f\n\"g\nh\",i");
    REQUIRE(records.size() == 3);
    REQUIRE(records[0].fields == std::vector<std::string>{"a", "b,c"});
    REQUIRE(records[0].line == 1);
    REQUIRE(records[1].fields == std::vector<std::string>{"d\"e", "f"});
    REQUIRE(records[1].line == 3);
    REQUIRE(records[2].fields == std::vector<std::string>{"g\nh", "i"});
    REQUIRE(records[2].line == 5);  // the record spans lines 4-5; the last line without a newline

    REQUIRE_THROWS_WITH(parse_csv("1,2\n3,\"4\n5,6\n", "open.csv"), Catch::Contains("'open.csv' line 4: malformed CSV"));
    REQUIRE_THROWS_WITH(parse_csv("1,2\n3,4\"x\n", "stray.csv"), Catch::Contains("'stray.csv' line 2: malformed CSV"));

    // quoting on write: only the fields that need it, and they read back as written
    REQUIRE(csv_quoted("score") == "score");
    REQUIRE(csv_quoted("a,b") == "\"a,b\"");
    REQUIRE(csv_quoted("say \"hi\"") == "\"say \"\"hi\"\"\"");
    REQUIRE(csv_quoted(" pad") == "\" pad\"");
    const std::vector<double> v{1.0, 2.0};
    save_csv_column(t / "h.csv", "score, higher = more anomalous", v);
    const auto back = parse_csv(read_file_bytes(t / "h.csv", "test"));
    REQUIRE(back.front().fields == std::vector<std::string>{"score, higher = more anomalous"});
    REQUIRE(load_csv_vector<double>(t / "h.csv") == v);
}

TEST_CASE("idx: plain and gzip files, truncation and bad magic") {
    temp_dir t("idx");
    std::vector<std::uint8_t> px(2 * 3 * 4);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = std::uint8_t(i * 7);
    const std::string b = idx_bytes({2, 3, 4}, px);
    write_bytes(t / "a.idx", b);
    write_gz(t / "a.idx.gz", b);
    for (const char* f : {"a.idx", "a.idx.gz"}) {
        const auto a = load_idx(t / f);
        REQUIRE(a.dims == std::vector<std::size_t>{2, 3, 4});
        REQUIRE(a.data == px);
    }
    write_bytes(t / "short.idx", b.substr(0, b.size() - 1));
    REQUIRE_THROWS_WITH(load_idx(t / "short.idx"), Catch::Contains("truncated"));
    write_gz(t / "short.idx.gz", b.substr(0, b.size() - 5));
    REQUIRE_THROWS_WITH(load_idx(t / "short.idx.gz"), Catch::Contains("truncated"));
    // a gzip stream cut in the middle (not a shorter valid stream)
    write_gz(t / "full.gz", std::string(5000, 'x') + b);
    const std::string gz = read_file_bytes(t / "full.gz", "t");
    write_bytes(t / "cut.gz", gz.substr(0, gz.size() / 2));
    REQUIRE_THROWS_AS(load_idx(t / "cut.gz"), io_error);
    write_bytes(t / "magic.idx", "\x01\x02\x08\x01" + std::string(8, '\0'));
    REQUIRE_THROWS_WITH(load_idx(t / "magic.idx"), Catch::Contains("bad magic"));
}

TEST_CASE("fashion-mnist: a generated folder in the real file names and layout") {
    temp_dir t("fmnist");
    const std::uint32_t n = 5;
    std::vector<std::uint8_t> img(n * 28 * 28), lab{3, 0, 9, 3, 1};
    for (std::size_t i = 0; i < img.size(); ++i) img[i] = std::uint8_t(i % 251);
    write_gz(t / "train-images-idx3-ubyte.gz", idx_bytes({n, 28, 28}, img));
    write_gz(t / "train-labels-idx1-ubyte.gz", idx_bytes({n}, lab));
    write_bytes(t / "t10k-images-idx3-ubyte", idx_bytes({n, 28, 28}, img));  // plain works too
    write_bytes(t / "t10k-labels-idx1-ubyte", idx_bytes({n}, lab));
    const auto ds = load_fashion_mnist(t.path, "train");
    REQUIRE(ds.size() == n);
    REQUIRE(ds.channels == 1);
    REQUIRE(ds.height == 28);
    REQUIRE(ds.labels == std::vector<int>{3, 0, 9, 3, 1});
    REQUIRE(ds.pixels(1, 0) == img[784]);
    REQUIRE(ds.class_names[9] == "Ankle boot");
    const auto f = as_features<float>(ds);
    REQUIRE(f(0, 250) == Approx(250.0f / 255.0f));
    REQUIRE(load_fashion_mnist(t.path, "test").size() == n);
    write_bytes(t / "t10k-labels-idx1-ubyte", idx_bytes({4}, {1, 2, 3, 4}));
    REQUIRE_THROWS_WITH(load_fashion_mnist(t.path, "test"), Catch::Contains("5 images but 4 labels"));
    write_bytes(t / "t10k-labels-idx1-ubyte", idx_bytes({n}, {1, 2, 3, 10, 4}));
    REQUIRE_THROWS_WITH(load_fashion_mnist(t.path, "test"), Catch::Contains("out of range"));
    REQUIRE_THROWS_WITH(load_fashion_mnist(t / "nowhere", "train"), Catch::Contains("dataset-fashion-mnist"));
}

TEST_CASE("cifar-10 and cifar-100 binaries, generated in the exact record layout") {
    temp_dir t("cifar");
    fs::create_directories(t / "cifar-10-batches-bin");
    auto record = [](std::vector<std::uint8_t> labels, std::uint8_t fill) {
        std::string r(labels.begin(), labels.end());
        for (int c = 0; c < 3; ++c) r.append(1024, char(fill + c));  // R plane, G plane, B plane
        return r;
    };
    for (int b = 1; b <= 5; ++b)
        write_bytes(t / "cifar-10-batches-bin" / ("data_batch_" + std::to_string(b) + ".bin"),
                    record({std::uint8_t(b)}, 10) + record({std::uint8_t(b + 4)}, 20));
    write_bytes(t / "cifar-10-batches-bin" / "test_batch.bin", record({7}, 30));
    const auto tr = load_cifar10(t.path, "train");
    REQUIRE(tr.size() == 10);
    REQUIRE(tr.labels[0] == 1);
    REQUIRE(tr.labels[9] == 9);
    REQUIRE(tr.channels == 3);
    REQUIRE(tr.pixels(0, 0) == 10);
    REQUIRE(tr.pixels(0, 1024) == 11);  // channel-major: G plane starts at 1024
    REQUIRE(tr.pixels(1, 2048) == 22);
    REQUIRE(load_cifar10(t / "cifar-10-batches-bin", "test").labels == std::vector<int>{7});
    write_bytes(t / "cifar-10-batches-bin" / "test_batch.bin", record({7}, 30).substr(0, 3000));
    REQUIRE_THROWS_WITH(load_cifar10(t.path, "test"), Catch::Contains("truncated"));
    write_bytes(t / "cifar-10-batches-bin" / "test_batch.bin", record({12}, 30));
    REQUIRE_THROWS_WITH(load_cifar10(t.path, "test"), Catch::Contains("label 12"));
    fs::remove(t / "cifar-10-batches-bin" / "data_batch_3.bin");
    REQUIRE_THROWS_WITH(load_cifar10(t.path, "train"), Catch::Contains("data_batch_3.bin"));

    fs::create_directories(t / "cifar-100-binary");
    write_bytes(t / "cifar-100-binary" / "train.bin", record({4, 99}, 1) + record({19, 0}, 2));
    write_bytes(t / "cifar-100-binary" / "test.bin", record({0, 50}, 3));
    const auto coarse = load_cifar100(t.path, "train", cifar100_labels::coarse);
    REQUIRE(coarse.labels == std::vector<int>{4, 19});
    REQUIRE(coarse.num_classes() == 20);
    REQUIRE(load_cifar100(t.path, "train", cifar100_labels::fine).labels == std::vector<int>{99, 0});
    REQUIRE(coarse.pixels(1, 1024) == 3);
    write_bytes(t / "cifar-100-binary" / "test.bin", record({20, 50}, 3));
    REQUIRE_THROWS_WITH(load_cifar100(t.path, "test"), Catch::Contains("label 20"));
}
