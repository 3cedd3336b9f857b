// tests/test_core.cpp - core/: errors, rng, matrix views, binary framing, atomic writes; parallel/.
#include "test_util.hpp"

#include <oneclass/core/platform.hpp>

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/buffer_pool.hpp>
#include <oneclass/core/scratch.hpp>
#include <oneclass/tensor/tensor.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/core/rng.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <tbb/global_control.h>

#include <filesystem>

using namespace oneclass;
namespace fs = std::filesystem;

TEST_CASE("rng is deterministic per seed and has the right moments") {
    rng a(42), b(42), c(43);
    for (int i = 0; i < 100; ++i) {
        const auto x = a();
        REQUIRE(x == b());
        (void)c();
    }
    REQUIRE(rng(42)() != rng(43)());
    rng r(test::seed());
    double s = 0, ss = 0, us = 0;
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
        const double z = r.normal();
        s += z;
        ss += z * z;
        const double u = r.uniform();
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
        us += u;
        REQUIRE(r.below(7) < 7);
    }
    CHECK(std::abs(s / n) < 0.01);
    CHECK(std::abs(ss / n - 1.0) < 0.01);
    CHECK(std::abs(us / n - 0.5) < 0.005);
}

TEST_CASE("matrix owns aligned storage, views are zero-copy, Eigen maps share memory") {
    matrix<float> m(3, 5, 1.5f);
    REQUIRE(reinterpret_cast<std::uintptr_t>(m.data()) % 64 == 0);
    m(2, 4) = 7.0f;
    matrix_view<const float> v = m;
    REQUIRE(v(2, 4) == 7.0f);
    REQUIRE(v.middle_rows(1, 2)(1, 4) == 7.0f);
    auto E = as_eigen(m.view());
    E(0, 0) = -2.0f;
    REQUIRE(m(0, 0) == -2.0f);
    matrix<float> copy = m;
    copy(0, 0) = 3.0f;
    REQUIRE(m(0, 0) == -2.0f);
    REQUIRE_THROWS_AS(matrix<float>(2, 2, std::span<const float>(std::vector<float>(3))), invalid_input);
    eigen_row_matrix<double> em(2, 3);
    em << 1, 2, 3, 4, 5, 6;
    REQUIRE(view_of(em)(1, 2) == 6.0);
}

TEST_CASE("require_finite names the row and column") {
    matrix<double> m(2, 3, 0.0);
    m(1, 2) = std::nan("");
    try {
        require_finite<double>(m.view(), "kde::fit", "training data");
        FAIL("no throw");
    } catch (const invalid_input& e) {
        REQUIRE_THAT(e.what(), Catch::Contains("kde::fit") && Catch::Contains("row 1, column 2"));
    }
}

TEST_CASE("framed files: round trip, and every corruption is detected") {
    const std::string f = frame_payload(1, "kde", "hello payload");
    const auto back = unframe(f, 1, "mem");
    REQUIRE(back.kind == "kde");
    REQUIRE(back.payload == "hello payload");
    REQUIRE(back.version == 1);

    REQUIRE_THROWS_WITH(unframe("", 1, "x"), Catch::Contains("bad magic"));
    REQUIRE_THROWS_WITH(unframe("NOTAFILE and more bytes here........", 1, "x"), Catch::Contains("bad magic"));
    for (std::size_t cut : {std::size_t(9), f.size() / 2, f.size() - 1})
        REQUIRE_THROWS_AS(unframe(std::string_view(f).substr(0, cut), 1, "x"), io_error);
    std::string flipped = f;
    flipped[flipped.size() - 8] ^= 0x20;
    REQUIRE_THROWS_WITH(unframe(flipped, 1, "x"), Catch::Contains("checksum"));
    const std::string v2 = frame_payload(2, "kde", "p");
    REQUIRE_THROWS_WITH(unframe(v2, 1, "x"), Catch::Contains("format version 2"));
}

TEST_CASE("binary_reader refuses to read past the end") {
    binary_writer w;
    w.put<std::uint32_t>(7);
    w.put_string("abc");
    w.put_vector(std::vector<double>{1, 2, 3});
    binary_reader r(w.bytes(), "buf");
    REQUIRE(r.get<std::uint32_t>() == 7);
    REQUIRE(r.get_string() == "abc");
    REQUIRE(r.get_vector<double>() == std::vector<double>{1, 2, 3});
    REQUIRE_THROWS_AS(r.get<std::uint8_t>(), io_error);
    std::string cut = w.bytes().substr(0, w.bytes().size() - 4);
    binary_reader r2(cut, "buf");
    (void)r2.get<std::uint32_t>();
    (void)r2.get_string();
    REQUIRE_THROWS_WITH(r2.get_vector<double>(), Catch::Contains("truncated"));
}

TEST_CASE("write_file_atomic replaces the file and leaves no temporary behind") {
    const fs::path dir = fs::temp_directory_path() / ("oneclass_core_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path p = dir / "out.bin";
    write_file_atomic(p, "first", "test");
    write_file_atomic(p, "second", "test");
    REQUIRE(read_file_bytes(p, "test") == "second");
    std::size_t files = 0;
    for (auto& e : fs::directory_iterator(dir)) (void)e, ++files;
    REQUIRE(files == 1);
    REQUIRE_THROWS_AS(write_file_atomic(dir / "no" / "such" / "dir.bin", "x", "test"), io_error);
    REQUIRE_THROWS_AS(read_file_bytes(dir / "missing", "test"), io_error);
    fs::remove_all(dir);
}

TEST_CASE("deterministic_reduce gives bit-identical sums on 1 and 2 threads") {
    std::vector<double> v(100003);
    rng r(test::seed());
    for (auto& x : v) x = r.normal() * 1e3;
    auto sum = [&] {
        return parallel::deterministic_reduce(
            0, v.size(), 1000, 0.0,
            [&](std::size_t lo, std::size_t hi) {
                double s = 0;
                for (std::size_t i = lo; i < hi; ++i) s += v[i];
                return s;
            },
            [](double a, double b) { return a + b; });
    };
    double one, two;
    {
        tbb::global_control g(tbb::global_control::max_allowed_parallelism, 1);
        one = sum();
    }
    {
        tbb::global_control g(tbb::global_control::max_allowed_parallelism, 2);
        two = sum();
    }
    REQUIRE(one == two);
    REQUIRE(sum() == one);
    std::vector<int> hit(5000, 0);
    parallel::for_chunks(0, hit.size(), 64, [&](std::size_t lo, std::size_t hi) {
        REQUIRE(hi - lo <= 64);
        for (std::size_t i = lo; i < hi; ++i) ++hit[i];
    });
    for (int h : hit) REQUIRE(h == 1);
}

TEST_CASE("buffer_pool reuses large blocks by exact size, respects its capacity; tensors use it") {
    buffer_pool pool;
    void* a = pool.allocate(1 << 20);
    REQUIRE(reinterpret_cast<std::uintptr_t>(a) % buffer_pool::alignment == 0);
    pool.deallocate(a, 1 << 20);
    REQUIRE(pool.idle_bytes() == (1u << 20));
    void* b = pool.allocate(1 << 20);  // the same block comes back
    REQUIRE(b == a);
    REQUIRE(pool.reuses() == 1);
    REQUIRE(pool.idle_bytes() == 0);
    void* c = pool.allocate((1 << 20) + 64);  // another size: a fresh block
    REQUIRE(c != a);
    pool.deallocate(b, 1 << 20);
    pool.deallocate(c, (1 << 20) + 64);
    pool.release();
    REQUIRE(pool.idle_bytes() == 0);
    pool.set_capacity(1 << 20);  // beyond the capacity blocks are freed, not kept
    void* d = pool.allocate(1 << 20);
    void* e = pool.allocate(1 << 20);
    pool.deallocate(d, 1 << 20);
    pool.deallocate(e, 1 << 20);
    REQUIRE(pool.idle_bytes() == (1u << 20));
    void* small = pool.allocate(100);  // small blocks bypass the pool
    pool.deallocate(small, 100);
    REQUIRE(pool.idle_bytes() == (1u << 20));
    pool.release();
    // blocks of 1 MB and more start on a 2 MB boundary (whole transparent huge pages) and take all
    // of their bytes
    for (std::size_t bytes : {std::size_t(1) << 20, (std::size_t(3) << 20) + 64}) {
        auto* h = static_cast<unsigned char*>(pool.allocate(bytes));
        REQUIRE(reinterpret_cast<std::uintptr_t>(h) % buffer_pool::huge_alignment == 0);
        for (std::size_t i = 0; i < bytes; i += 4096) h[i] = 1;
        h[bytes - 1] = 1;
        pool.deallocate(h, bytes);
    }
    pool.release();
    // a training step's buffers come back: the second of two equal-shaped tensors reuses the first's
    const std::size_t before = buffer_pool::global().reuses();
    const float* first = nullptr;
    {
        tensor<float> t({64, 1024}, uninitialized);
        first = t.data();
    }
    tensor<float> t2({64, 1024}, 0.0f);
    REQUIRE(buffer_pool::global().reuses() > before);
    REQUIRE(t2.data() == first);
    REQUIRE(t2(63, 1023) == 0.0f);  // the fill constructor still fills
    scratch_vec<double> sv;
    sv.resize(10);
    double* p = sv.data();
    sv.resize(5);  // shrinking keeps the storage
    REQUIRE(sv.data() == p);
    REQUIRE(sv.size() == 5);
    sv.resize(1000);
    REQUIRE(sv.size() == 1000);
}

TEST_CASE("platform: OpenBLAS's generic kernels on an AVX2 / AVX-512 CPU are reported with the fix") {
    using oneclass::detail::kernel_warning;
    const auto w = kernel_warning("Prescott", true, true, false, "AVX-512");
    REQUIRE(w.has_value());
    REQUIRE_THAT(*w, Catch::Contains("'Prescott'") && Catch::Contains("OPENBLAS_CORETYPE=SkylakeX"));
    REQUIRE_THAT(*kernel_warning("Nehalem", true, false, false, "AVX2"), Catch::Contains("OPENBLAS_CORETYPE=Haswell"));
    REQUIRE_FALSE(kernel_warning("Prescott", true, true, true, "AVX-512"));   // OPENBLAS_CORETYPE set: deliberate
    REQUIRE_FALSE(kernel_warning("Prescott", false, false, false, "SSE4.2"));  // nothing better to run
    for (const char* fast : {"Haswell", "SkylakeX", "Zen", "Cooperlake", "SapphireRapids"}) REQUIRE_FALSE(kernel_warning(fast, true, true, false, "x"));
    REQUIRE(std::string(oneclass::compiled_isa()).size() > 0);
    REQUIRE(std::string(oneclass::cpu_isa()).size() > 0);
}
