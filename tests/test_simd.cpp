// tests/test_simd.cpp - the vector kernels of simd/ against scalar double references, over
// lengths with every SIMD tail.
#include "test_util.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include <oneclass/simd/avx512.hpp>
#include <oneclass/simd/simd.hpp>

using namespace oneclass;

TEMPLATE_TEST_CASE("simd reductions match scalar references for every tail length", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    for (std::size_t n : {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 257}) {
        std::vector<T> a(n), b(n), w(n);
        for (std::size_t i = 0; i < n; ++i) a[i] = T(r.normal()), b[i] = T(r.normal()), w[i] = T(r.uniform());
        double dot = 0, mx = -INFINITY, mn = INFINITY, se = 0, wse = 0;
        for (std::size_t i = 0; i < n; ++i) {
            dot += double(a[i]) * double(b[i]);
            mx = std::max(mx, double(a[i]));
            mn = std::min(mn, double(a[i]));
            se += std::exp(-0.7 * (double(a[i]) - 0.3));
            wse += double(w[i]) * std::exp(-0.7 * double(a[i]));
        }
        const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
        INFO("n = " << n);
        CHECK(std::abs(double(simd::dot(a.data(), b.data(), n)) - dot) <= tol * (1 + std::abs(dot)) * 4);
        if (n) {
            CHECK(double(simd::max(a.data(), n)) == mx);
            CHECK(double(simd::min(a.data(), n)) == mn);
        }
        CHECK(std::abs(double(simd::sum_exp_shifted(a.data(), n, T(0.3), T(-0.7))) - se) <= tol * (1 + se) * 4);
        CHECK(std::abs(double(simd::weighted_sum_exp(w.data(), a.data(), n, T(-0.7))) - wse) <= tol * (1 + wse) * 4);
        std::vector<T> e = a;
        simd::exp_affine_inplace(e.data(), n, T(-0.7), T(0.2));
        for (std::size_t i = 0; i < n; ++i)
            CHECK(std::abs(double(e[i]) - std::exp(-0.7 * double(a[i]) + 0.2)) <= tol * std::exp(-0.7 * double(a[i]) + 0.2) * 4);
    }
}

TEMPLATE_TEST_CASE("masked_sum_dot equals sum and dot of the masked gradient, bit for bit", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    for (std::size_t n : {0, 1, 7, 16, 17, 33, 64, 257}) {
        std::vector<T> g(n), y(n), x(n), gm(n);
        for (std::size_t i = 0; i < n; ++i) {
            g[i] = T(r.normal()), y[i] = T(r.normal()), x[i] = T(r.normal());
            if (i % 5 == 0) y[i] = T(0);  // y == 0 is masked, like relu's gradient at 0
            gm[i] = y[i] > T(0) ? g[i] : T(0);
        }
        INFO("n = " << n);
        T s, d;
        simd::masked_sum_dot(g.data(), y.data(), x.data(), n, s, d);
        CHECK(s == simd::sum(gm.data(), n));
        CHECK(d == simd::dot(gm.data(), x.data(), n));
        // with an output: the masked gradient itself (relu_mask_mul's), the sums unchanged
        std::vector<T> out(n + 1, T(-3)), want(n);
        T s2, d2;
        simd::masked_sum_dot(g.data(), y.data(), x.data(), n, s2, d2, out.data());
        simd::relu_mask_mul(g.data(), y.data(), n, want.data());
        CHECK(s2 == s);
        CHECK(d2 == d);
        CHECK(std::equal(want.begin(), want.end(), out.begin()));
        CHECK(out[n] == T(-3));
        simd::masked_sum_dot(g.data(), static_cast<const T*>(nullptr), x.data(), n, s, d);  // no mask
        CHECK(s == simd::sum(g.data(), n));
        CHECK(d == simd::dot(g.data(), x.data(), n));
        double ref = 0;
        for (std::size_t i = 0; i < n; ++i) ref += double(gm[i]) * double(x[i]);
        CHECK(std::abs(double(simd::dot(gm.data(), x.data(), n)) - ref) <= (std::is_same_v<T, float> ? 1e-4 : 1e-12) * (1 + std::abs(ref)));
    }
}

TEMPLATE_TEST_CASE("masked_sum_dot_affine recomputes the ReLU mask of affine(x) exactly", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    for (std::size_t n : {0, 1, 7, 16, 17, 33, 64, 257}) {
        std::vector<T> g(n), x(n), y(n);
        const T a = T(0.7 + r.uniform()), b = T(r.normal() * 0.3);
        for (std::size_t i = 0; i < n; ++i) {
            g[i] = T(r.normal()), x[i] = T(r.normal());
            if (i % 7 == 3) x[i] = -b / a;  // on the kink: affine(x) is 0 or a rounding away from it
        }
        // the vector form of affine() rounds as the scalar form: batch norm's forward computes y
        // with one, its backward recomputes the mask with the other
        constexpr std::size_t W = simd::width<T>;
        for (std::size_t i = 0; i + W <= n; i += W) {
            alignas(64) T v[W];
            simd::affine(simd::batch<T>::load_unaligned(x.data() + i), simd::batch<T>(a), simd::batch<T>(b)).store_aligned(v);
            for (std::size_t l = 0; l < W; ++l) CHECK(v[l] == simd::affine(x[i + l], a, b));
        }
        for (std::size_t i = 0; i < n; ++i) {
            const T v = simd::affine(x[i], a, b);
            y[i] = v < T(0) ? T(0) : v;
        }
        INFO("n = " << n);
        T s0, d0, s1, d1;
        simd::masked_sum_dot(g.data(), y.data(), x.data(), n, s0, d0);
        simd::masked_sum_dot_affine(g.data(), x.data(), a, b, n, s1, d1);
        CHECK(s0 == s1);
        CHECK(d0 == d1);
    }
}

TEMPLATE_TEST_CASE("masked_gather reads the masked lanes' offsets and zeroes the others", "", float, double) {
    using T = TestType;
    constexpr std::size_t W = simd::width<T>;
    rng r(test::seed());
    std::vector<T> base(1000);
    for (auto& v : base) v = T(r.normal()) + T(3);  // never 0, so a zeroed lane is visible
    for (int trial = 0; trial < 50; ++trial) {
        alignas(64) std::int32_t idx[W];
        alignas(64) T out[W];
        std::uint32_t mask = 0;
        for (std::size_t l = 0; l < W; ++l) {
            const bool on = r.uniform() < 0.6;
            idx[l] = on ? std::int32_t(r.uniform() * 999.0) : 0;  // a masked-off lane's offset is 0
            if (on) mask |= 1u << l;
        }
        if (trial == 0) mask = 0;
        if (trial == 1) {
            mask = (1u << W) - 1;
            for (std::size_t l = 0; l < W; ++l) idx[l] = std::int32_t(999 - 7 * l);
        }
        simd::masked_gather(base.data(), idx, mask, out);
        for (std::size_t l = 0; l < W; ++l) {
            INFO("trial " << trial << " lane " << l);
            CHECK(out[l] == ((mask >> l) & 1u ? base[std::size_t(idx[l])] : T(0)));
        }
    }
}

#if defined(__AVX512F__)
TEST_CASE("transpose16 transposes a 16 x 16 float matrix in registers") {
    alignas(64) float a[16][16], b[16][16];
    for (std::size_t i = 0; i < 16; ++i)
        for (std::size_t j = 0; j < 16; ++j) a[i][j] = float(i * 16 + j);
    __m512 r[16];
    for (std::size_t i = 0; i < 16; ++i) r[i] = _mm512_load_ps(a[i]);
    simd::transpose16(r);
    for (std::size_t i = 0; i < 16; ++i) _mm512_store_ps(b[i], r[i]);
    for (std::size_t i = 0; i < 16; ++i)
        for (std::size_t j = 0; j < 16; ++j) REQUIRE(b[i][j] == a[j][i]);
}

TEST_CASE("load_masked reads the mask's lanes only: a prefix ending at a protected page does not fault") {
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    REQUIRE(mprotect(static_cast<char*>(mem) + page, page, PROT_NONE) == 0);
    float* end = reinterpret_cast<float*>(static_cast<char*>(mem) + page);
    alignas(64) float out[16];
    for (std::size_t n = 0; n <= 16; ++n) {
        float* src = end - n;  // n readable floats, then the protected page
        for (std::size_t i = 0; i < n; ++i) src[i] = float(i) + 0.25f;
        const std::uint32_t mask = n == 16 ? 0xFFFFu : (1u << n) - 1u;
        simd::avx512::load_masked(src, mask).store_aligned(out);
        for (std::size_t l = 0; l < 16; ++l) CHECK(out[l] == (l < n ? float(l) + 0.25f : 0.0f));
    }
    float* src = end - 16;  // a sparse mask picks scattered lanes
    for (std::size_t i = 0; i < 16; ++i) src[i] = float(i) + 1.0f;
    simd::avx512::load_masked(src, 0xA5C3u).store_aligned(out);
    for (std::size_t l = 0; l < 16; ++l) CHECK(out[l] == ((0xA5C3u >> l) & 1u ? float(l) + 1.0f : 0.0f));
    munmap(mem, 2 * page);
}

TEST_CASE("pair_permute picks lanes 0-7 from (a0, b0) and 8-15 from (a1, b1) by one table, zero off the mask") {
    using vf = simd::batch<float>;
    alignas(64) float src[4][16], out[16];
    for (std::size_t v = 0; v < 4; ++v)
        for (std::size_t l = 0; l < 16; ++l) src[v][l] = float(100 * v + l);
    const auto cat = [&](std::size_t pair, std::int32_t i) { return i < 16 ? src[2 * pair][i] : src[2 * pair + 1][i - 16]; };
    std::mt19937 rng(7);
    for (int trial = 0; trial < 50; ++trial) {
        std::int32_t idx[16];
        for (auto& i : idx) i = std::int32_t(rng() % 32);
        const std::uint32_t mask = rng() & 0xFFFFu;
        const simd::avx512::pair_permute perm(idx, mask);
        perm(vf::load_aligned(src[0]), vf::load_aligned(src[1]), vf::load_aligned(src[2]), vf::load_aligned(src[3]))
            .store_aligned(out);
        for (std::size_t l = 0; l < 16; ++l) CHECK(out[l] == ((mask >> l) & 1u ? cat(l / 8, idx[l]) : 0.0f));
    }
}

TEST_CASE("transpose4x16, interleave and store_halves move every element to its transposed place") {
    using vf = simd::batch<float>;
    alignas(64) float m[4][16], r[4][16];
    for (std::size_t c = 0; c < 4; ++c)
        for (std::size_t l = 0; l < 16; ++l) m[c][l] = float(16 * c + l);
    vf o[4], t[4];
    for (std::size_t c = 0; c < 4; ++c) o[c] = vf::load_aligned(m[c]);
    simd::avx512::transpose4x16(o, t);
    for (std::size_t j = 0; j < 4; ++j) t[j].store_aligned(r[j]);
    const float* flat = &r[0][0];  // the 16 x 4 row-major transpose
    for (std::size_t l = 0; l < 16; ++l)
        for (std::size_t c = 0; c < 4; ++c) CHECK(flat[4 * l + c] == m[c][l]);

    vf lo, hi;
    simd::avx512::interleave(o[0], o[1], lo, hi);
    lo.store_aligned(r[0]), hi.store_aligned(r[1]);
    for (std::size_t l = 0; l < 16; ++l) {
        CHECK(flat[2 * l] == m[0][l]);
        CHECK(flat[2 * l + 1] == m[1][l]);
    }

    float d[18];
    std::fill(d, d + 18, 1.0f);
    simd::avx512::store_halves(d, d + 9, o[2], false);
    for (std::size_t l = 0; l < 8; ++l) {
        CHECK(d[l] == m[2][l]);
        CHECK(d[9 + l] == m[2][8 + l]);
    }
    CHECK(d[8] == 1.0f);  // nothing between or after the halves
    CHECK(d[17] == 1.0f);
    simd::avx512::store_halves(d, d + 9, o[3], true);
    for (std::size_t l = 0; l < 8; ++l) {
        CHECK(d[l] == m[2][l] + m[3][l]);
        CHECK(d[9 + l] == m[2][8 + l] + m[3][8 + l]);
    }
    CHECK(d[8] == 1.0f);
    CHECK(d[17] == 1.0f);
}
#endif

TEMPLATE_TEST_CASE("take_even reads the even elements for every length, and nothing past the last one", "", float, double) {
    using T = TestType;
    // the source ends at element 2 n - 2, the last one of a page whose next page is protected:
    // a read of the odd element after it would fault
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    REQUIRE(mprotect(static_cast<char*>(mem) + page, page, PROT_NONE) == 0);
    T* end = reinterpret_cast<T*>(static_cast<char*>(mem) + page);
    for (std::size_t n = 1; n <= 50; ++n) {
        INFO("n " << n);
        T* src = end - (2 * n - 1);
        for (std::size_t i = 0; i + 1 < 2 * n; ++i) src[i] = T(i) + T(0.5);
        std::vector<T> out(n + 1, T(-7));
        simd::take_even(src, n, out.data());
        for (std::size_t i = 0; i < n; ++i) CHECK(out[i] == T(2 * i) + T(0.5));
        CHECK(out[n] == T(-7));  // nothing written past n
    }
    munmap(mem, 2 * page);
}

TEMPLATE_TEST_CASE("deinterleave2 and interleave2 split and merge even and odd elements for every length", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    for (std::size_t n = 0; n <= 40; ++n) {
        INFO("pairs " << n);
        // one element of sentinel on each side: nothing outside [0, n) / [0, 2n) is touched
        std::vector<T> src(2 * n + 2), even(n + 2, T(-9)), odd(n + 2, T(-9));
        for (auto& v : src) v = T(r.normal());
        simd::deinterleave2(src.data() + 1, n, even.data() + 1, odd.data() + 1);
        CHECK(even[0] == T(-9));
        CHECK(odd[n + 1] == T(-9));
        for (std::size_t i = 0; i < n; ++i) {
            CHECK(even[i + 1] == src[1 + 2 * i]);
            CHECK(odd[i + 1] == src[2 + 2 * i]);
        }
        std::vector<T> dst(2 * n + 2, T(-9)), acc(2 * n + 2);
        for (auto& v : acc) v = T(r.normal());
        const std::vector<T> acc0 = acc;
        simd::interleave2(even.data() + 1, odd.data() + 1, n, dst.data() + 1, false);
        simd::interleave2(even.data() + 1, odd.data() + 1, n, acc.data() + 1, true);
        CHECK(dst.front() == T(-9));
        CHECK(dst.back() == T(-9));
        CHECK(acc.front() == acc0.front());
        CHECK(acc.back() == acc0.back());
        for (std::size_t i = 0; i < 2 * n; ++i) {
            CHECK(dst[i + 1] == src[i + 1]);
            CHECK(acc[i + 1] == acc0[i + 1] + src[i + 1]);
        }
    }
}

TEMPLATE_TEST_CASE("relu_mask_mul and bn_relu_input_grad equal their scalar formulas for every tail length", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (std::size_t n = 0; n <= 40; ++n) {
        INFO("n " << n);
        std::vector<T> g(n), y(n), x(n), out(n), acc(n);
        for (std::size_t i = 0; i < n; ++i) g[i] = T(r.normal()), y[i] = T(r.normal()), x[i] = T(r.normal()), acc[i] = T(r.normal());
        if (n > 3) g[3] = nan, y[3] = T(-1);  // a NaN gradient where the mask is off stays NaN (multiplied, not selected)
        simd::relu_mask_mul(g.data(), y.data(), n, out.data());
        for (std::size_t i = 0; i < n; ++i) {
            const T want = y[i] > T(0) ? g[i] : g[i] * T(0);
            if (std::isnan(want)) CHECK(std::isnan(out[i]));
            else CHECK(out[i] == want);
        }
        const T sa = T(0.7), sb = T(-0.1), a = T(1.3), b = T(-0.25), k = T(0.05);
        std::vector<T> fresh(n, nan), added = acc;
        simd::bn_relu_input_grad(g.data(), x.data(), sa, sb, a, b, k, n, fresh.data(), false);
        simd::bn_relu_input_grad(g.data(), x.data(), sa, sb, a, b, k, n, added.data(), true);
        for (std::size_t i = 0; i < n; ++i) {
            const double m = double(simd::affine(x[i], sa, sb)) > 0 ? 1.0 : 0.0;
            const double want = double(a) * (double(g[i]) * m) + double(b) * double(x[i]) + double(k);
            if (std::isnan(want)) {
                CHECK(std::isnan(fresh[i]));
                continue;
            }
            CHECK(double(fresh[i]) == Approx(want).margin(1e-6));
            CHECK(double(added[i]) == Approx(want + double(acc[i])).margin(1e-6));
        }
    }
}

TEMPLATE_TEST_CASE("bn_input_grad and affine_relu equal their scalar formulas for every tail length", "", float, double) {
    using T = TestType;
    rng r(test::seed() + 7);
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const T a = T(1.3), b = T(-0.25), k = T(0.05);
    for (std::size_t n = 0; n <= 40; ++n) {
        INFO("n " << n);
        std::vector<T> g(n), x(n), res(n), acc(n);
        for (std::size_t i = 0; i < n; ++i) g[i] = T(r.normal()), x[i] = T(r.normal()), res[i] = T(r.normal()), acc[i] = T(r.normal());
        if (n > 5) x[5] = nan;  // NaN passes through the normalisation and its ReLU
        std::vector<T> fresh(n, nan), added = acc;
        simd::bn_input_grad(g.data(), x.data(), a, b, k, n, fresh.data(), false);
        simd::bn_input_grad(g.data(), x.data(), a, b, k, n, added.data(), true);
        std::vector<T> plain(n, nan), relu(n, nan), withres(n, nan);
        simd::affine_relu(x.data(), static_cast<const T*>(nullptr), n, a, b, false, plain.data());
        simd::affine_relu(x.data(), static_cast<const T*>(nullptr), n, a, b, true, relu.data());
        simd::affine_relu(x.data(), res.data(), n, a, b, true, withres.data());
        for (std::size_t i = 0; i < n; ++i) {
            const double want = double(a) * double(g[i]) + double(b) * double(x[i]) + double(k);
            const double v = double(x[i]) * double(a) + double(b), vr = v + double(res[i]);
            if (std::isnan(double(x[i]))) {
                CHECK(std::isnan(fresh[i]));
                CHECK(std::isnan(plain[i]));
                CHECK(std::isnan(relu[i]));
                CHECK(std::isnan(withres[i]));
                continue;
            }
            CHECK(double(fresh[i]) == Approx(want).margin(1e-6));
            CHECK(double(added[i]) == Approx(want + double(acc[i])).margin(1e-6));
            CHECK(plain[i] == simd::affine(x[i], a, b));  // the scalar form's rounding, bit for bit
            CHECK(double(relu[i]) == Approx(std::max(0.0, v)).margin(1e-6));
            CHECK(double(withres[i]) == Approx(std::max(0.0, vr)).margin(1e-6));
            if (v < 0) CHECK(relu[i] == T(0));
        }
    }
}
