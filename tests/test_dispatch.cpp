// tests/test_dispatch.cpp - the kernel library's levels (ops/dispatch.hpp), each forced through
// set_kernel_isa in this one binary: every convolution algorithm in all three passes and the
// batch-norm kernels against the double references of ops/ref, on shapes with ragged channel
// blocks and SIMD tails; the level detection against the compiler's own CPU checks; the override's
// refusals; the profiler the kernels borrow from the program.
#include "test_util.hpp"

#include <oneclass/core/isa.hpp>
#include <oneclass/ops/batch_norm.hpp>
#include <oneclass/ops/convolution.hpp>
#include <oneclass/ops/dispatch.hpp>
#include <oneclass/ops/ref/batch_norm.hpp>
#include <oneclass/ops/ref/conv.hpp>
#include <oneclass/simd/simd.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <limits>
#include <tuple>

using namespace oneclass;

namespace {

/// The levels this CPU runs, each set for the duration of a loop body; the starting level restored.
struct each_level {
    isa before = kernel_isa();
    ~each_level() { set_kernel_isa(before); }
    template <class F>
    void operator()(F&& f) const {
        for (isa l : isa_levels) {
            if (int(l) > int(cpu_isa_level())) break;
            if (!kernel_level_built(l)) continue;  // the library's ONECLASS_KERNEL_LEVELS
            set_kernel_isa(l);
            INFO("kernels at " << isa_name(l));
            REQUIRE(ops::kernels().level == l);
            f(l);
        }
    }
};

template <class T>
tensor<T> rand_t(shape_t s, std::uint64_t seed) {
    return test::random_tensor<T>(std::move(s), seed, 1.0);
}

template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
    return {v.begin(), v.end()};
}

bool applies(ops::conv_algo a, const ops::conv_shape& g) {
    switch (a) {
        case ops::conv_algo::winograd:
        case ops::conv_algo::winograd4: return ops::winograd_applies(g);
        case ops::conv_algo::phase: return ops::phase_direct_applies(g);
        case ops::conv_algo::winograd_s2: return ops::winograd_s2_applies(g);
        default: return true;
    }
}

}  // namespace

TEST_CASE("the detected level agrees with the compiler's CPU checks and with this test's own -march") {
    const isa cpu = cpu_isa_level();
    REQUIRE(int(cpu) >= int(compiled_isa_level()));  // this binary runs, so the CPU has its instructions
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
    CHECK((int(cpu) >= 3) == avx2);
    CHECK((int(cpu) >= 4) == (avx2 && avx512));
    CHECK((int(cpu) >= 2) == (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("ssse3")));
}

TEST_CASE("levels are named as the x86-64 psABI names them, and misuse is refused by name") {
    for (isa l : isa_levels) REQUIRE(parse_isa(isa_name(l)) == l);
    REQUIRE(parse_isa("x86-64-v1") == isa::x86_64);
    REQUIRE_THROWS_WITH(parse_isa("avx2"), Catch::Contains("unknown instruction-set level 'avx2'"));
    REQUIRE_THROWS_WITH(parse_isa(""), Catch::Contains("unknown instruction-set level"));
    if (cpu_isa_level() != isa::x86_64_v4)
        REQUIRE_THROWS_WITH(set_kernel_isa(isa::x86_64_v4), Catch::Contains("this CPU supports up to"));
    for (isa l : isa_levels)  // a level the CPU runs but the library lacks (x86-64-v2 by default)
        if (int(l) <= int(cpu_isa_level()) && !kernel_level_built(l))
            REQUIRE_THROWS_WITH(set_kernel_isa(l), Catch::Contains("is not built into this program's kernel library"));
    REQUIRE(kernel_level_built(best_kernel_level(isa::x86_64_v4)));
    REQUIRE(int(best_kernel_level(isa::x86_64_v4)) <= int(cpu_isa_level()));
    REQUIRE_NOTHROW(set_kernel_isa(kernel_isa()));
}

TEMPLATE_TEST_CASE("every level's convolutions equal the direct reference in all three passes", "", float, double) {
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    // forward and backward data: sums of C R S products of unit normals; the weight gradient sums
    // N P Q of them. The tolerances of test_ops_conv: F(4x4)'s transform constants (up to 8 and
    // 1/24) cost about a decimal digit in float, and `automatic` may take it.
    const auto tol_of = [](ops::conv_algo a) {
        if (!std::is_same_v<T, float>) return 1e-11;
        return a == ops::conv_algo::winograd4 || a == ops::conv_algo::automatic ? 1e-3 : 1e-4;
    };
    using A = ops::conv_algo;
    const std::vector<ops::conv_shape> shapes{
        {2, 5, 9, 7, 6, 3, 3, 1, 1},     {3, 16, 8, 8, 17, 3, 3, 1, 1},  {2, 5, 8, 6, 6, 3, 3, 2, 1},   {3, 16, 8, 8, 17, 1, 1, 2, 0},
        {5, 20, 4, 4, 19, 3, 3, 2, 1},   {2, 9, 10, 14, 13, 3, 3, 2, 1}, {1, 3, 11, 11, 2, 5, 5, 2, 2}, {4, 16, 32, 32, 32, 3, 3, 2, 1},
        {2, 32, 16, 16, 32, 3, 3, 1, 1}, {1, 1, 5, 5, 1, 3, 3, 1, 0}};
    each_level()([&](isa level) {
        for (const auto& g : shapes)
            for (A a : {A::automatic, A::im2col, A::winograd, A::winograd4, A::implicit_gemm, A::phase, A::winograd_s2}) {
                if (!applies(a, g)) continue;
                const double tol = tol_of(a);
                INFO("N C H W K R stride pad = " << g.N << " " << g.C << " " << g.H << " " << g.W << " " << g.K << " " << g.R << " "
                                                 << g.stride << " " << g.pad << ", algorithm " << int(a));
                const auto x = rand_t<T>({g.N, g.C, g.H, g.W}, 1), w = rand_t<T>({g.K, g.C, g.R, g.S}, 2), b = rand_t<T>({g.K}, 3);
                const auto dy = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 4);
                std::vector<T> y(dy.size(), nan), dx(x.size(), nan), dw(w.size(), nan);
                if (a == A::implicit_gemm && level != isa::x86_64_v4) {  // it needs AVX-512's vector gather
                    REQUIRE_THROWS_WITH(ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y.data(), a), Catch::Contains("implicit GEMM"));
                    continue;
                }
                ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y.data(), a);
                REQUIRE_ALLCLOSE(as_double(y), ops::ref::conv2d_forward<T>(x.data(), w.data(), b.data(), g), tol, tol);
                if (a != A::implicit_gemm) {  // its backward data is im2col's
                    ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx.data(), a, false);
                    REQUIRE_ALLCLOSE(as_double(dx), ops::ref::conv2d_backward_data<T>(dy.data(), w.data(), g), tol, tol);
                }
                ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw.data(), nullptr, a, false);
                REQUIRE_ALLCLOSE(as_double(dw), ops::ref::conv2d_backward_weights<T>(x.data(), dy.data(), g), tol, 10 * tol);
            }
    });
}

TEMPLATE_TEST_CASE("every level's batch norm equals the double definition (training and evaluation, SIMD tails)", "", float, double) {
    using T = TestType;
    // the bound of test_ops_batch_norm: per-plane sums in T of at most 256 terms, O(1) outputs
    const double tol = 512 * double(std::numeric_limits<T>::epsilon());
    const auto close = [&](const std::vector<T>& got, const std::vector<double>& want, const char* what) {
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            INFO(what << " index " << i << ": " << double(got[i]) << " vs " << want[i]);
            REQUIRE(std::abs(double(got[i]) - want[i]) <= tol * std::max(1.0, std::abs(want[i])));
        }
    };
    each_level()([&](isa) {
        rng r(test::seed());
        for (std::size_t HW : {1, 7, 16, 100})
            for (bool training : {true, false}) {
                INFO("HW " << HW << " training " << training);
                const std::size_t N = 3, C = 5, n = N * C * HW;
                std::vector<T> x(n), dy(n), gamma(C), beta(C), rm(C), rv(C);
                for (auto& v : x) v = T(1.5 * r.normal() + 0.5);
                for (auto& v : dy) v = T(r.normal());
                for (std::size_t c = 0; c < C; ++c)
                    gamma[c] = T(0.5 + r.uniform()), beta[c] = T(0.3 * r.normal()), rm[c] = T(0.2 * r.normal()), rv[c] = T(0.5 + r.uniform());
                const auto want = ops::ref::batch_norm_forward<T>(x.data(), nullptr, N, C, HW, gamma.data(), beta.data(), rm.data(), rv.data(),
                                                               0.1, 1e-5, training, false);
                std::vector<T> y(n), mean(C), inv_std(C), scale(C), shift(C), rm2 = rm, rv2 = rv;
                ops::batch_norm_forward<T>(x.data(), nullptr, N, C, HW, gamma.data(), beta.data(), rm2.data(), rv2.data(), 0.1, 1e-5,
                                           training, false, y.data(), mean.data(), inv_std.data(), scale.data(), shift.data());
                close(y, want.y, "y");
                close(rm2, want.running_mean, "running_mean");
                close(rv2, want.running_var, "running_var");
                const auto g = ops::ref::batch_norm_backward(x.data(), dy.data(), N, C, HW, gamma.data(), want, 1e-5, training, false, false);
                std::vector<T> dx(n), dgamma(C, T(0)), dbeta(C, T(0));
                ops::batch_norm_backward<T>(x.data(), dy.data(), nullptr, nullptr, gamma.data(), mean.data(), inv_std.data(), scale.data(),
                                            shift.data(), N, C, HW, training, false, dx.data(), false, dgamma.data(), dbeta.data());
                close(dx, g.dx, "dx");
                close(dgamma, g.dgamma, "dgamma");
                close(dbeta, g.dbeta, "dbeta");
            }
    });
}

TEMPLATE_TEST_CASE("every level's row functions (exp sums, minima, norms) equal their double definitions, tails included", "", float,
                   double) {
    using T = TestType;
    const double eps = double(std::numeric_limits<T>::epsilon());
    each_level()([&](isa) {
        rng r(test::seed() + 7);
        for (std::size_t n : {0, 1, 3, 7, 16, 17, 33, 100, 1000}) {
            INFO("n = " << n);
            std::vector<T> a(n), w(n), b(n);
            for (std::size_t i = 0; i < n; ++i) a[i] = T(3 * r.uniform()), w[i] = T(r.uniform()), b[i] = T(r.normal());
            double sq = 0, mn = HUGE_VAL;
            for (T v : a) sq += double(v) * v, mn = std::min(mn, double(v));
            // sums of n positive terms: n roundings; each exp within a few ulps (xsimd's and libm's)
            REQUIRE(std::abs(simd::squared_norm(a.data(), n) - sq) <= (n + 2) * eps * sq);
            REQUIRE(double(simd::min(a.data(), n)) == (n ? mn : double(std::numeric_limits<T>::infinity())));
            const T off = n ? T(mn) : T(0), scale = T(-1.7);
            double se = 0, swe = 0;
            for (std::size_t i = 0; i < n; ++i)
                se += std::exp(double(scale) * (double(a[i]) - off)), swe += double(w[i]) * std::exp(double(scale) * double(a[i]));
            // the exponent's own rounding scales with it (|scale (a - off)| <= 5.1 here)
            REQUIRE(std::abs(simd::sum_exp_shifted(a.data(), n, off, scale) - se) <= (n + 12) * eps * se);
            REQUIRE(std::abs(simd::weighted_sum_exp(w.data(), a.data(), n, scale) - swe) <= (n + 12) * eps * swe);
            std::vector<T> e1 = a, e2 = a, m(n), c = b;
            simd::exp_affine_inplace(e1.data(), n, scale, T(0.5));
            simd::exp_shifted_inplace(e2.data(), n, off, scale);
            simd::relu_mask_mul(w.data(), b.data(), n, m.data());
            simd::add_norms_clamp(c.data(), w.data(), T(-0.25), n);
            for (std::size_t i = 0; i < n; ++i) {
                const double x1 = double(scale) * a[i] + 0.5, x2 = double(scale) * (double(a[i]) - off);
                REQUIRE(std::abs(e1[i] - std::exp(x1)) <= (std::abs(x1) + 4) * eps * std::exp(x1));
                REQUIRE(std::abs(e2[i] - std::exp(x2)) <= (std::abs(x2) + 4) * eps * std::exp(x2));
                REQUIRE(m[i] == (b[i] > 0 ? w[i] : T(0)));
                const double want = std::max(0.0, double(b[i]) + double(w[i]) - 0.25);
                REQUIRE(std::abs(c[i] - want) <= 2 * eps * (std::abs(double(b[i])) + 1.25));
            }
        }
    });
}

TEST_CASE("the kernels time their scopes into the program's profiler at every level") {
    const ops::conv_shape g{2, 16, 8, 8, 16, 3, 3, 1, 1};
    std::vector<float> x(g.N * g.C * g.H * g.W, 1.0f), w(g.K * g.crs(), 0.5f), y(g.N * g.K * g.P() * g.Q());
    each_level()([&](isa) {
        profile::reset();
        profile::enable(true);
        ops::conv2d_forward<float>(x.data(), w.data(), nullptr, g, y.data());
        profile::enable(false);
        const auto s = profile::snapshot();
        REQUIRE(s.count("conv.forward") == 1);
    });
    profile::reset();
}
