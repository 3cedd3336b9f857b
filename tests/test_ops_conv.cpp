// tests/test_ops_conv.cpp - every convolution algorithm of ops/ (im2col, Winograd F(2x2) and
// F(4x4), the fused block driver, implicit GEMM, phase-split and stride-2 Winograd, the automatic
// choice) against the direct double reference of ops/ref/conv.hpp, in all three passes, and the
// same bits on 1 and 2 threads.
#include "test_util.hpp"

#include <oneclass/ops/convolution.hpp>
#include <oneclass/ops/ref/conv.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <tbb/global_control.h>

#include <limits>

using namespace oneclass;

namespace {
template <class T = double>
tensor<T> rand_t(shape_t s, std::uint64_t seed, double scale = 1.0) {
    return test::random_tensor<T>(std::move(s), seed, scale);
}
}  // namespace

TEMPLATE_TEST_CASE("conv2d forward equals the direct reference", "", float, double) {
    using T = TestType;
    for (auto [N, C, H, W, K, R, stride, pad] : {std::tuple{1, 1, 5, 5, 1, 3, 1, 0}, {2, 3, 7, 6, 4, 3, 2, 1},
                                                 {3, 2, 8, 8, 5, 1, 2, 0}, {2, 4, 9, 7, 3, 3, 1, 1}, {1, 3, 11, 11, 2, 5, 2, 2}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), std::size_t(R),
                          std::size_t(R), std::size_t(stride), std::size_t(pad)};
        const auto x = rand_t<T>({g.N, g.C, g.H, g.W}, 1), w = rand_t<T>({g.K, g.C, g.R, g.S}, 2), b = rand_t<T>({g.K}, 3);
        tensor<T> y({g.N, g.K, g.P(), g.Q()});
        ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y.data());
        const auto ref = ops::ref::conv2d_forward<T>(x.data(), w.data(), b.data(), g);
        const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
        std::vector<double> got(y.data(), y.data() + y.size());
        INFO("N C H W K R stride pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << R << " " << stride << " " << pad);
        REQUIRE_ALLCLOSE(got, ref, tol, tol);
    }
}

TEMPLATE_TEST_CASE("im2col backward-data equals the direct reference (strides 1-3, odd sizes, rows no tap reaches)", "", float, double) {
    // the patch-matrix gradient (col2im) onto every kind of row, fresh and added
    using T = TestType;
    for (auto [N, C, H, W, K, R, stride, pad] : {std::tuple{2, 3, 7, 6, 4, 3, 2, 1}, {2, 2, 9, 9, 3, 3, 2, 1},
                                                 {3, 2, 8, 7, 5, 1, 2, 0}, {1, 3, 11, 10, 2, 5, 2, 2}, {2, 2, 10, 11, 3, 3, 3, 1},
                                                 {1, 2, 8, 8, 2, 2, 3, 0}, {2, 3, 6, 5, 2, 3, 1, 1}, {1, 2, 7, 9, 3, 5, 1, 2},
                                                 // even maps: the stride-2 rows written once (3 x 3 / pad 1 and 1 x 1)
                                                 {2, 3, 8, 6, 4, 3, 2, 1}, {1, 2, 2, 2, 3, 3, 2, 1}, {2, 2, 6, 10, 3, 1, 2, 0},
                                                 {1, 2, 4, 8, 3, 2, 2, 0},
                                                 // AVX-512's 16 positions at a time across output rows (P Q % 16 == 0 and
                                                 // Q = 4, 8 or a multiple of 16; several images per patch matrix)
                                                 {3, 2, 8, 8, 3, 3, 2, 1}, {3, 2, 16, 16, 2, 3, 2, 1}, {2, 3, 4, 16, 2, 3, 2, 1},
                                                 {2, 2, 8, 32, 3, 3, 2, 1}, {2, 2, 4, 64, 2, 3, 2, 1}, {2, 2, 2, 32, 2, 3, 2, 1},
                                                 {3, 2, 8, 8, 3, 1, 2, 0}, {2, 2, 16, 16, 2, 1, 2, 0}, {2, 2, 4, 64, 3, 1, 2, 0}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), std::size_t(R),
                          std::size_t(R), std::size_t(stride), std::size_t(pad)};
        INFO("N C H W K R stride pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << R << " " << stride << " " << pad);
        const auto w = rand_t<T>({g.K, g.C, g.R, g.S}, 5), dy = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 6);
        const auto base = rand_t<T>({g.N, g.C, g.H, g.W}, 7);
        const auto ref = ops::ref::conv2d_backward_data<T>(dy.data(), w.data(), g);
        const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
        std::vector<T> fresh(base.size(), std::numeric_limits<T>::quiet_NaN()), added(base.data(), base.data() + base.size());
        ops::conv2d_backward_data<T>(dy.data(), w.data(), g, fresh.data(), ops::conv_algo::im2col, false);
        ops::conv2d_backward_data<T>(dy.data(), w.data(), g, added.data(), ops::conv_algo::im2col, true);
        std::vector<double> ref_added(ref);
        for (std::size_t i = 0; i < ref.size(); ++i) ref_added[i] += double(base.data()[i]);
        REQUIRE_ALLCLOSE(std::vector<double>(fresh.begin(), fresh.end()), ref, tol, tol);
        REQUIRE_ALLCLOSE(std::vector<double>(added.begin(), added.end()), ref_added, tol, tol);
    }
}

TEMPLATE_TEST_CASE("stride-2 im2col (split rows, shifted taps) equals the generic loop on every ResNet map width", "", float, double) {
    using T = TestType;
    for (auto [C, H, W, R] : {std::tuple{2, 8, 8, 3}, {3, 16, 16, 3}, {2, 32, 32, 3}, {2, 4, 16, 3}, {2, 8, 32, 3}, {2, 2, 32, 3},
                              {1, 2, 2, 3}, {2, 6, 10, 3}, {1, 4, 64, 3}, {2, 8, 8, 1}, {2, 16, 16, 1}, {3, 4, 64, 1}, {2, 6, 10, 1}}) {
        const ops::conv_shape g{1, std::size_t(C), std::size_t(H), std::size_t(W), 1, std::size_t(R), std::size_t(R), 2, R == 3 ? 1u : 0u};
        INFO("C H W R = " << C << " " << H << " " << W << " " << R);
        REQUIRE(ops::detail::col2im_stride2_applies(g));
        const std::size_t ld = g.P() * g.Q() + 5;  // a row stride past the taps, as with several images
        const auto x = rand_t<T>({g.C * g.H * g.W}, 83);
        std::vector<T> got(g.crs() * ld, T(-7)), want(g.crs() * ld, T(-7));
        ops::detail::im2col_stride2(x.data(), g, got.data(), ld);
        ops::detail::im2col_generic(x.data(), g, want.data(), ld);
        for (std::size_t i = 0; i < got.size(); ++i) {
            INFO("at " << i);
            REQUIRE(got[i] == want[i]);
        }
    }
}

#if defined(__AVX2__)
TEST_CASE("AVX2 stride-2 col2im equals the scalar loop (every ResNet map width, fresh and added, last rows and columns)") {
    // called directly: on AVX-512 builds the dispatch takes the 16-lane version instead
    for (auto [C, H, W, R] : {std::tuple{2, 8, 8, 3}, {3, 16, 16, 3}, {2, 32, 32, 3}, {2, 4, 16, 3}, {2, 8, 32, 3}, {2, 2, 32, 3},
                              {1, 4, 64, 3}, {2, 8, 8, 1}, {2, 16, 16, 1}, {3, 4, 64, 1}, {2, 2, 16, 1}}) {
        const ops::conv_shape g{1, std::size_t(C), std::size_t(H), std::size_t(W), 1, std::size_t(R), std::size_t(R), 2, R == 3 ? 1u : 0u};
        INFO("C H W R = " << C << " " << H << " " << W << " " << R);
        REQUIRE(ops::detail::col2im_stride2_applies(g));
        REQUIRE(ops::detail::col2im_stride2_avx2_applies(g));
        const std::size_t PQ = g.P() * g.Q(), ld = PQ + 8;  // a row stride past the taps, as with several images
        const auto col = rand_t<float>({g.crs() * ld}, 81);
        const auto base = rand_t<float>({g.C * g.H * g.W}, 82);
        for (bool accumulate : {false, true}) {
            tensor<float> got = base.clone(), want = base.clone();
            ops::detail::col2im_stride2_avx2(col.data(), g, got.data(), ld, accumulate);
            ops::detail::col2im_stride2_scalar(col.data(), g, want.data(), ld, accumulate);
            for (std::size_t i = 0; i < got.size(); ++i) {
                INFO("accumulate " << accumulate << " at " << i);
                REQUIRE(got.data()[i] == want.data()[i]);
            }
        }
    }
}
#endif

TEMPLATE_TEST_CASE("Winograd F(2x2, 3x3) forward, backward-data and backward-weights equal the references", "", float, double) {
    using T = TestType;
    for (auto [N, C, H, W, K, pad] : {std::tuple{1, 1, 4, 4, 1, 1}, {2, 3, 7, 6, 4, 1}, {3, 5, 5, 9, 2, 0}, {2, 4, 6, 6, 3, 2}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), 3, 3, 1, std::size_t(pad)};
        const auto x = rand_t<T>({g.N, g.C, g.H, g.W}, 41), w = rand_t<T>({g.K, g.C, 3, 3}, 42), b = rand_t<T>({g.K}, 43);
        tensor<T> y({g.N, g.K, g.P(), g.Q()});
        ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y.data(), ops::conv_algo::winograd);
        const auto ref = ops::ref::conv2d_forward<T>(x.data(), w.data(), b.data(), g);
        const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
        INFO("N C H W K pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << pad);
        REQUIRE_ALLCLOSE(std::vector<double>(y.data(), y.data() + y.size()), ref, tol, tol);
        const auto dy = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 44);
        tensor<T> dx_w({g.N, g.C, g.H, g.W}), dx_i({g.N, g.C, g.H, g.W});
        ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx_w.data(), ops::conv_algo::winograd);
        ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx_i.data(), ops::conv_algo::im2col);
        REQUIRE_ALLCLOSE(std::vector<double>(dx_w.data(), dx_w.data() + dx_w.size()),
                         std::vector<double>(dx_i.data(), dx_i.data() + dx_i.size()), tol, tol);
        // weight gradient in the Winograd domain (accumulating into dw) against im2col
        const auto w0 = rand_t<T>({g.K, g.C, 3, 3}, 45);
        tensor<T> dw_w = w0.clone(), dw_i = w0.clone();
        ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw_w.data(), nullptr, ops::conv_algo::winograd);
        ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw_i.data(), nullptr, ops::conv_algo::im2col);
        REQUIRE_ALLCLOSE(std::vector<double>(dw_w.data(), dw_w.data() + dw_w.size()),
                         std::vector<double>(dw_i.data(), dw_i.data() + dw_i.size()), tol, tol);
    }
    {  // many image groups (1024 tiles per group): partial sums in group order, same on any thread count
        ops::conv_shape g{40, 3, 12, 10, 2, 3, 3, 1, 1};
        const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 46), dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 47);
        tensor<float> a({g.K, g.C, 3, 3}), b({g.K, g.C, 3, 3}), ref({g.K, g.C, 3, 3});
        ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, a.data(), nullptr, ops::conv_algo::winograd);
        {
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, b.data(), nullptr, ops::conv_algo::winograd);
        }
        REQUIRE(std::equal(a.data(), a.data() + a.size(), b.data()));
        ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, ref.data(), nullptr, ops::conv_algo::im2col);
        REQUIRE_ALLCLOSE(std::vector<double>(a.data(), a.data() + a.size()),
                         std::vector<double>(ref.data(), ref.data() + ref.size()), 1e-4, 1e-4);
    }
    ops::conv_shape s2{1, 1, 8, 8, 1, 3, 3, 2, 1};
    REQUIRE_THROWS_WITH(ops::winograd_tile(s2, ops::conv_algo::winograd, ops::conv_pass::forward), Catch::Contains("stride 1"));
    REQUIRE(ops::winograd_tile(s2, ops::conv_algo::automatic, ops::conv_pass::forward) == 0);  // stride 2: im2col
}

TEMPLATE_TEST_CASE("Winograd F(4x4, 3x3) forward, backward-data and backward-weights equal the references", "", float,
                   double) {
    using T = TestType;
    // odd sizes crop the last tile; sizes below 4 are a single cropped tile
    for (auto [N, C, H, W, K, pad] : {std::tuple{1, 1, 4, 4, 1, 1}, {2, 3, 7, 6, 4, 1}, {3, 5, 5, 9, 2, 0},
                                      {2, 4, 6, 6, 3, 2}, {1, 16, 13, 11, 8, 1}, {2, 2, 3, 3, 2, 1}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), 3, 3, 1, std::size_t(pad)};
        INFO("N C H W K pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << pad);
        const auto x = rand_t<T>({g.N, g.C, g.H, g.W}, 51), w = rand_t<T>({g.K, g.C, 3, 3}, 52);
        tensor<T> y({g.N, g.K, g.P(), g.Q()});
        ops::conv2d_winograd<4, T>(x.data(), w.data(), g, y.data(), false);
        const auto ref = ops::ref::conv2d_forward<T>(x.data(), w.data(), nullptr, g);
        // F(4x4)'s transform constants (up to 8 and 1/24) cost about a decimal digit in float
        const double tol = std::is_same_v<T, float> ? 1e-3 : 1e-11;
        REQUIRE_ALLCLOSE(std::vector<double>(y.data(), y.data() + y.size()), ref, tol, tol);
        const auto dy = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 53);
        tensor<T> dx_w({g.N, g.C, g.H, g.W}), dx_i({g.N, g.C, g.H, g.W});
        ops::conv2d_backward_data_winograd<4, T>(dy.data(), w.data(), g, dx_w.data());
        ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx_i.data(), ops::conv_algo::im2col);
        REQUIRE_ALLCLOSE(std::vector<double>(dx_w.data(), dx_w.data() + dx_w.size()),
                         std::vector<double>(dx_i.data(), dx_i.data() + dx_i.size()), tol, tol);
        tensor<T> dw_w({g.K, g.C, 3, 3}), dw_i({g.K, g.C, 3, 3});
        ops::conv2d_backward_weights_winograd<4, T>(x.data(), dy.data(), g, dw_w.data());
        ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw_i.data(), nullptr, ops::conv_algo::im2col);
        REQUIRE_ALLCLOSE(std::vector<double>(dw_w.data(), dw_w.data() + dw_w.size()),
                         std::vector<double>(dw_i.data(), dw_i.data() + dw_i.size()), tol, tol);
    }
}

TEMPLATE_TEST_CASE_SIG("Winograd on maps of 8 or 4 tiles per row (the AVX-512 row-permute taps): all passes equal the references", "",
                       ((std::size_t M), M), 2, 4) {
    // 8 tiles per row on at most 32 columns, or 4 on at most 16: the input transform reads rows and
    // permutes them (AVX-512) instead of gathering; full and cropped last tiles, padding 0-2, blocks
    // of 32 tiles that span images, tile rows cropped at the bottom, channel counts off the panels
    for (std::size_t tq : {std::size_t(8), std::size_t(4)}) {
        const std::size_t wmax = tq * M;
        std::size_t ran = 0;
        for (auto [N, C, H, W, K, pad] : {std::tuple{std::size_t(3), std::size_t(5), std::size_t(9), wmax, std::size_t(7), std::size_t(1)},
                                          {2, 3, 2 * M + 1, wmax - 1, 4, 1}, {1, 17, wmax, wmax, 9, 1}, {2, 4, 7, wmax, 3, 0},
                                          {2, 4, 6, wmax - 2, 5, 2}, {1, 2, 3, wmax - 3, 2, 1}, {5, 3, 3, wmax, 2, 1},
                                          // whole blocks of whole tile rows: F(4x4)'s output transform in registers
                                          {2, 3, wmax, wmax, 5, 1}, {3, 2, wmax, wmax, 4, 1}}) {
            ops::conv_shape g{N, C, H, W, K, 3, 3, 1, pad};
            INFO("F(" << M << ") N C H W K pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << pad);
            if ((g.Q() + M - 1) / M != tq) continue;  // e.g. F(2x2) without padding: 16 columns give 7 tiles
            ++ran;
            const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 111), w = rand_t<float>({g.K, g.C, 3, 3}, 112);
            const auto dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 113);
            const double tol = M == 4 ? 1e-3 : 1e-4;
            tensor<float> y({g.N, g.K, g.P(), g.Q()}), dx({g.N, g.C, g.H, g.W}), dw({g.K, g.C, 3, 3});
            ops::conv2d_winograd<M, float>(x.data(), w.data(), g, y.data(), false);
            REQUIRE_ALLCLOSE(std::vector<double>(y.data(), y.data() + y.size()),
                             ops::ref::conv2d_forward<float>(x.data(), w.data(), nullptr, g), tol, tol);
            ops::conv2d_backward_data_winograd<M, float>(dy.data(), w.data(), g, dx.data(), false);
            REQUIRE_ALLCLOSE(std::vector<double>(dx.data(), dx.data() + dx.size()),
                             ops::ref::conv2d_backward_data<float>(dy.data(), w.data(), g), tol, tol);
            ops::conv2d_backward_weights_winograd<M, float>(x.data(), dy.data(), g, dw.data(), false);
            REQUIRE_ALLCLOSE(std::vector<double>(dw.data(), dw.data() + dw.size()),
                             ops::ref::conv2d_backward_weights<float>(x.data(), dy.data(), g), tol, 10 * tol);
        }
        CHECK(ran >= 5);
    }
}

TEMPLATE_TEST_CASE_SIG("Winograd kernel: register-blocked panel product equals the plain sum", "", ((std::size_t MR, std::size_t NV, class T), MR, NV, T),
                       (3, 1, double), (6, 2, float), (8, 2, float), (12, 2, float), (4, 3, double)) {
    constexpr std::size_t NB = simd::width<T> * NV;
    const std::size_t C = 37;
    rng r(61);
    std::vector<T> u(C * MR);
    for (auto& e : u) e = T(r.normal());
    scratch_vec<T> v, out;
    v.resize(C * NB);
    out.resize(MR * NB);
    for (std::size_t i = 0; i < C * NB; ++i) v.data()[i] = T(r.normal());
    for (std::size_t rows : {MR, MR - 1, std::size_t(1)}) {
        std::fill_n(out.data(), MR * NB, T(-7));
        ops::detail::winograd_kernel<MR, NV, T>(u.data(), v.data(), C, out.data(), rows);
        for (std::size_t i = 0; i < MR; ++i)
            for (std::size_t l = 0; l < NB; ++l) {
                double ref = 0;
                for (std::size_t c = 0; c < C; ++c) ref += double(u[c * MR + i]) * double(v.data()[c * NB + l]);
                if (i < rows) REQUIRE(double(out.data()[i * NB + l]) == Approx(ref).margin(1e-4));
                else REQUIRE(out.data()[i * NB + l] == T(-7));  // rows past the panel's end are not written
            }
    }
}

#if defined(__AVX2__) && defined(__FMA__)  // the AVX2 kernel runs (and is tested) on AVX-512 machines too
TEST_CASE("Winograd weight-gradient products (AVX2): dU (+)= E V^T equals the plain sums, ragged channel blocks") {
    // 4 x 2 blocks with the horizontal-add epilogue, and the 3-, 2-, 1-row and 1-column tails
    rng r(63);
    for (auto [K, C, n] : {std::tuple{std::size_t(16), std::size_t(16), std::size_t(128)}, {7, 5, 8}, {9, 3, 24}, {2, 1, 16}, {1, 2, 8}, {4, 2, 64}}) {
        INFO("K C n = " << K << " " << C << " " << n);
        const std::size_t ld = n + 8;  // rows padded past n: the padding must not be read
        std::vector<float> E(K * ld, std::numeric_limits<float>::quiet_NaN()), V(C * ld, std::numeric_limits<float>::quiet_NaN());
        for (std::size_t k = 0; k < K; ++k)
            for (std::size_t t = 0; t < n; ++t) E[k * ld + t] = float(r.normal());
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t t = 0; t < n; ++t) V[c * ld + t] = float(r.normal());
        for (bool first : {true, false}) {
            std::vector<float> dU(K * C, 0.5f);
            simd::avx2::products_nt(E.data(), V.data(), K, C, ld, n, dU.data(), first);
            for (std::size_t k = 0; k < K; ++k)
                for (std::size_t c = 0; c < C; ++c) {
                    double ref = first ? 0.0 : 0.5;
                    for (std::size_t t = 0; t < n; ++t) ref += double(E[k * ld + t]) * double(V[c * ld + t]);
                    REQUIRE(double(dU[k * C + c]) == Approx(ref).margin(1e-4));
                }
        }
    }
}
#endif

TEST_CASE("implicit-GEMM forward and weight gradient equal the references (stride 2, 1 x 1, padding, bias, ragged blocks)") {
    for (auto [N, C, H, W, K, R, stride, pad] :
         {std::tuple{2, 5, 9, 7, 6, 3, 2, 1}, {3, 16, 8, 8, 17, 1, 2, 0}, {1, 3, 11, 13, 9, 3, 1, 1}, {2, 4, 9, 9, 3, 5, 2, 2},
          {5, 20, 4, 4, 19, 3, 2, 1},
          // several image groups (>= 256 output pixels each): the weight gradient's slots, one of
          // them taking several groups, and a short last group
          {23, 3, 32, 32, 5, 3, 2, 1}, {9, 3, 16, 16, 4, 1, 2, 0}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), std::size_t(R),
                          std::size_t(R), std::size_t(stride), std::size_t(pad)};
        INFO("N C H W K R stride pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << R << " " << stride << " " << pad);
        const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 91), w = rand_t<float>({g.K, g.C, g.R, g.S}, 92);
        const auto b = rand_t<float>({g.K}, 93);
        std::vector<float> y(g.N * g.K * g.P() * g.Q(), std::numeric_limits<float>::quiet_NaN());
        if (!ops::implicit_gemm_applies<float>(g)) {  // no vector gather in this build: a clear refusal
            REQUIRE_THROWS_WITH(ops::conv2d_forward<float>(x.data(), w.data(), b.data(), g, y.data(), ops::conv_algo::implicit_gemm),
                                Catch::Contains("implicit GEMM"));
            continue;
        }
        ops::conv2d_forward<float>(x.data(), w.data(), b.data(), g, y.data(), ops::conv_algo::implicit_gemm);
        const auto ref = ops::ref::conv2d_forward<float>(x.data(), w.data(), b.data(), g);
        std::vector<double> got(y.begin(), y.end());
        REQUIRE_ALLCLOSE(got, ref, 1e-4, 1e-4);
        std::vector<float> y2(y.size());  // one thread against the default arena's two: the same bits
        {
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_forward<float>(x.data(), w.data(), b.data(), g, y2.data(), ops::conv_algo::implicit_gemm);
        }
        CHECK(y == y2);
        // weight gradient: against im2col (itself checked by finite differences), accumulating and
        // overwriting garbage, and the same bits on one and two threads
        const auto dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 94), dw0 = rand_t<float>({g.K, g.C, g.R, g.S}, 95);
        std::vector<float> dwi(dw0.size(), 0.0f), dwa(dw0.data(), dw0.data() + dw0.size()), dwn(dw0.size(), std::numeric_limits<float>::quiet_NaN());
        ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dwi.data(), nullptr, ops::conv_algo::im2col);
        ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dwa.data(), nullptr, ops::conv_algo::implicit_gemm);
        ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dwn.data(), nullptr, ops::conv_algo::implicit_gemm, false);
        std::vector<double> want(dwi.begin(), dwi.end()), added(dwa.size()), written(dwn.begin(), dwn.end());
        for (std::size_t i = 0; i < dwa.size(); ++i) added[i] = double(dwa[i]) - double(dw0.data()[i]);
        REQUIRE_ALLCLOSE(written, want, 1e-4, 1e-3);  // dw sums N P Q products of unit normals
        REQUIRE_ALLCLOSE(added, want, 1e-4, 1e-3);
        std::vector<float> dw2(dw0.size(), std::numeric_limits<float>::quiet_NaN());
        {
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dw2.data(), nullptr, ops::conv_algo::implicit_gemm, false);
        }
        CHECK(dwn == dw2);
    }
}

/// pass(out, accumulate) run over NaN (written) and onto random values (added): both equal the
/// reference `want` (REQUIRE_ALLCLOSE's rtol, atol); returns the written result.
template <class T, class Pass>
static std::vector<T> require_written_and_added(Pass&& pass, std::size_t n, const std::vector<double>& want, double rtol, double atol,
                                                std::uint64_t seed) {
    const auto base = rand_t<T>({n}, seed);
    std::vector<T> written(n, std::numeric_limits<T>::quiet_NaN()), added(base.data(), base.data() + n);
    pass(written.data(), false);
    pass(added.data(), true);
    std::vector<double> diff(n);
    for (std::size_t i = 0; i < n; ++i) diff[i] = double(added[i]) - double(base.data()[i]);
    REQUIRE_ALLCLOSE(std::vector<double>(written.begin(), written.end()), want, rtol, atol);
    REQUIRE_ALLCLOSE(diff, want, rtol, atol);
    return written;
}

/// Each shape is outside `applies`, and conv2d_forward and conv2d_backward_data asked for `algo`
/// on it throw a message containing `what`.
static void require_refused(ops::conv_algo algo, std::initializer_list<ops::conv_shape> shapes, bool (*applies)(const ops::conv_shape&),
                     const char* what) {
    for (const auto& g : shapes) {
        REQUIRE_FALSE(applies(g));
        std::vector<float> x(g.N * g.C * g.H * g.W), w(g.K * g.crs()), y(g.N * g.K * g.P() * g.Q());
        REQUIRE_THROWS_WITH(ops::conv2d_forward<float>(x.data(), w.data(), nullptr, g, y.data(), algo), Catch::Contains(what));
        REQUIRE_THROWS_WITH(ops::conv2d_backward_data<float>(y.data(), w.data(), g, x.data(), algo), Catch::Contains(what));
    }
}

TEMPLATE_TEST_CASE("phase-split stride-2 convolution: all three passes equal the direct references", "", float, double) {
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    // 2 x 2 inputs (one output), frames whose blocks span images and end ragged, channel counts
    // that are not multiples of the register panels, 1 x 1 shortcuts
    for (auto [N, C, H, W, K, R] : {std::tuple{1, 1, 2, 2, 1, 3}, {2, 5, 8, 6, 6, 3}, {3, 16, 8, 8, 17, 1}, {5, 20, 4, 4, 19, 3},
                                    {2, 9, 10, 14, 13, 3}, {4, 3, 16, 16, 9, 1}, {1, 7, 2, 6, 3, 1}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), std::size_t(R),
                          std::size_t(R), 2, std::size_t(R / 2)};
        INFO("N C H W K R = " << N << " " << C << " " << H << " " << W << " " << K << " " << R);
        REQUIRE(ops::phase_direct_applies(g));
        const auto x = rand_t<T>({g.N, g.C, g.H, g.W}, 101), w = rand_t<T>({g.K, g.C, g.R, g.S}, 102);
        const auto b = rand_t<T>({g.K}, 103), dy = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 104);
        std::vector<T> y(dy.size(), nan), y2(dy.size(), nan);
        ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y.data(), ops::conv_algo::phase);
        REQUIRE_ALLCLOSE(std::vector<double>(y.begin(), y.end()), ops::ref::conv2d_forward<T>(x.data(), w.data(), b.data(), g), tol, tol);
        // backward-data: written over NaN, and added onto existing values
        std::vector<T> dx2(x.size(), nan);
        const auto dxn = require_written_and_added<T>(
            [&](T* dx, bool acc) { ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx, ops::conv_algo::phase, acc); }, x.size(),
            ops::ref::conv2d_backward_data<T>(dy.data(), w.data(), g), tol, tol, 105);
        // weight gradient: the same two ways
        std::vector<T> dw2(w.size(), nan);
        const auto dwn = require_written_and_added<T>(  // atol 10 tol: sums of N P Q products
            [&](T* dw, bool acc) { ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw, nullptr, ops::conv_algo::phase, acc); },
            w.size(), ops::ref::conv2d_backward_weights<T>(x.data(), dy.data(), g), tol, 10 * tol, 106);
        {  // one thread against the default arena's two: the same bits in every pass
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y2.data(), ops::conv_algo::phase);
            ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx2.data(), ops::conv_algo::phase, false);
            ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw2.data(), nullptr, ops::conv_algo::phase, false);
        }
        CHECK(y == y2);
        CHECK(dxn == dx2);
        CHECK(dwn == dw2);
    }
    // shapes it does not take are refused by name
    require_refused(ops::conv_algo::phase, {{1, 2, 8, 8, 2, 3, 3, 1, 1}, {1, 2, 7, 8, 2, 3, 3, 2, 1}, {1, 2, 8, 8, 2, 5, 5, 2, 2}},
                    ops::phase_direct_applies, "phase-split");
}

TEMPLATE_TEST_CASE("stride-2 Winograd convolution: forward, backward data and weight gradient equal the direct references", "", float, double) {
    using T = TestType;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    // one output, odd maps (cropped tiles, patches past the border), blocks spanning images and
    // ending ragged, channel counts off the register panels, the small ResNet's down-sampling shapes
    for (auto [N, C, H, W, K] : {std::tuple{1, 1, 2, 2, 1}, {2, 5, 7, 9, 6}, {3, 16, 8, 8, 17}, {5, 20, 4, 4, 19}, {2, 9, 10, 14, 13},
                                 {1, 3, 1, 5, 2}, {4, 16, 32, 32, 32}, {3, 32, 16, 16, 64}, {2, 64, 8, 8, 128}, {1, 130, 4, 4, 129}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), 3, 3, 2, 1};
        INFO("N C H W K = " << N << " " << C << " " << H << " " << W << " " << K);
        REQUIRE(ops::winograd_s2_applies(g));
        const auto x = rand_t<T>({g.N, g.C, g.H, g.W}, 111), w = rand_t<T>({g.K, g.C, g.R, g.S}, 112);
        const auto b = rand_t<T>({g.K}, 113), y0 = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 114);
        std::vector<T> y(y0.size(), nan), ya(y0.data(), y0.data() + y0.size()), y2(y0.size(), nan);
        ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y.data(), ops::conv_algo::winograd_s2);
        const auto want = ops::ref::conv2d_forward<T>(x.data(), w.data(), b.data(), g);
        REQUIRE_ALLCLOSE(std::vector<double>(y.begin(), y.end()), want, tol, tol);
        ops::conv2d_winograd_s2<T>(x.data(), w.data(), g, ya.data(), true);  // accumulating (no bias)
        const auto plain = ops::ref::conv2d_forward<T>(x.data(), w.data(), nullptr, g);
        std::vector<double> added(ya.size());
        for (std::size_t i = 0; i < ya.size(); ++i) added[i] = double(ya[i]) - double(y0.data()[i]);
        REQUIRE_ALLCLOSE(added, plain, tol, tol);
        // weight gradient: written over NaN, and added onto existing values
        const auto dy = rand_t<T>({g.N, g.K, g.P(), g.Q()}, 115);
        std::vector<T> dw2(w.size(), nan), dx2(x.size(), nan);
        const auto dwn = require_written_and_added<T>(  // atol 10 tol: sums of N P Q products
            [&](T* dw, bool acc) { ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw, nullptr, ops::conv_algo::winograd_s2, acc); },
            w.size(), ops::ref::conv2d_backward_weights<T>(x.data(), dy.data(), g), tol, 10 * tol, 116);
        // backward data: written over NaN, and added onto existing values
        const auto dxn = require_written_and_added<T>(
            [&](T* dx, bool acc) { ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx, ops::conv_algo::winograd_s2, acc); },
            x.size(), ops::ref::conv2d_backward_data<T>(dy.data(), w.data(), g), tol, tol, 117);
        {  // one thread against the default arena's two: the same bits
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_forward<T>(x.data(), w.data(), b.data(), g, y2.data(), ops::conv_algo::winograd_s2);
            ops::conv2d_backward_data<T>(dy.data(), w.data(), g, dx2.data(), ops::conv_algo::winograd_s2, false);
            ops::conv2d_backward_weights<T>(x.data(), dy.data(), g, dw2.data(), nullptr, ops::conv_algo::winograd_s2, false);
        }
        CHECK(y == y2);
        CHECK(dxn == dx2);
        CHECK(dwn == dw2);
    }
    // shapes it does not take are refused by name
    require_refused(ops::conv_algo::winograd_s2, {{1, 2, 8, 8, 2, 3, 3, 1, 1}, {1, 2, 8, 8, 2, 3, 3, 2, 0}, {1, 2, 8, 8, 2, 1, 1, 2, 0}},
                    ops::winograd_s2_applies, "stride-2 Winograd");
}

TEST_CASE("automatic convolution takes a 7 x 7 kernel's weight gradient (the implicit GEMM's stops at 5 x 5)") {
    ops::conv_shape g{2, 16, 12, 12, 8, 7, 7, 1, 3};
    const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 96), w = rand_t<float>({g.K, g.C, g.R, g.S}, 97);
    const auto dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 98);
    std::vector<float> dw(w.size(), 0.0f), dwi(w.size(), 0.0f);
    REQUIRE_NOTHROW(ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dw.data(), nullptr));
    ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dwi.data(), nullptr, ops::conv_algo::im2col);
    CHECK(dw == dwi);
    // asked for explicitly, it refuses with a clear error (kernel size, or no vector gather)
    REQUIRE_THROWS_WITH(ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dw.data(), nullptr, ops::conv_algo::implicit_gemm),
                        Catch::Contains("implicit GEMM"));
}

TEST_CASE("conv backward passes with accumulate = false overwrite the buffer: same values as adding to zeros") {
    // a first gradient is written straight into unzeroed memory; NaN there must not leak through
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (auto algo : {ops::conv_algo::im2col, ops::conv_algo::winograd, ops::conv_algo::winograd4}) {
        for (auto [N, C, H, W, K, stride] : {std::tuple{2, 5, 9, 7, 6, 1}, {3, 16, 8, 8, 17, 1}, {2, 4, 9, 9, 3, 2}, {2, 4, 8, 6, 3, 2}}) {
            if (stride != 1 && algo != ops::conv_algo::im2col) continue;
            ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), 3, 3,
                              std::size_t(stride), 1};
            INFO("algo " << int(algo) << " N C H W K stride = " << N << " " << C << " " << H << " " << W << " " << K << " " << stride);
            const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 81), w = rand_t<float>({g.K, g.C, 3, 3}, 82);
            const auto dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 83);
            std::vector<float> dx0(x.size(), 0.0f), dx1(x.size(), nan), dw0(w.size(), 0.0f), dw1(w.size(), nan);
            std::vector<float> db0(g.K, 0.0f), db1(g.K, nan);
            ops::conv2d_backward_data<float>(dy.data(), w.data(), g, dx0.data(), algo, true);
            ops::conv2d_backward_data<float>(dy.data(), w.data(), g, dx1.data(), algo, false);
            CHECK(dx0 == dx1);
            ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dw0.data(), db0.data(), algo, true);
            ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dw1.data(), db1.data(), algo, false);
            CHECK(dw0 == dw1);
            CHECK(db0 == db1);
        }
    }
}

TEMPLATE_TEST_CASE_SIG("fused Winograd: many tile blocks, channel remainders, accumulation, same bits on 1 and 2 threads", "",
                       ((std::size_t M), M), 2, 4) {
    // 5 x 9 x 11 gives tile blocks that span images and a ragged last block; K = 13 and 19 are not
    // multiples of the kernel's row panel; 4 x 4 maps give fewer blocks than threads (the output
    // channels are split instead)
    // 16 x 16 and 32 x 32 maps: whole blocks of whole tile rows (F(4x4)'s output transform in registers);
    // 14 x 14 with padding 2: rows of four tiles side by side that cross the padding at both ends
    // (AVX2: their input rows read by masked loads)
    for (auto [N, C, H, W, K, pad] : {std::tuple{5, 7, 9, 11, 13, 1}, {3, 20, 4, 4, 19, 1}, {2, 17, 8, 8, 33, 0}, {2, 4, 8, 8, 5, 1}, {2, 5, 16, 16, 6, 1},
                                      {2, 3, 32, 32, 4, 1}, {2, 3, 14, 14, 5, 2}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), 3, 3, 1, std::size_t(pad)};
        INFO("F(" << M << ") N C H W K pad = " << N << " " << C << " " << H << " " << W << " " << K << " " << pad);
        const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 71), w = rand_t<float>({g.K, g.C, 3, 3}, 72);
        const auto y0 = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 73);
        tensor<float> y = y0.clone(), y1 = y0.clone();
        ops::conv2d_winograd<M, float>(x.data(), w.data(), g, y.data(), true);  // accumulates onto y0
        {
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_winograd<M, float>(x.data(), w.data(), g, y1.data(), true);
        }
        REQUIRE(std::equal(y.data(), y.data() + y.size(), y1.data()));
        auto ref = ops::ref::conv2d_forward<float>(x.data(), w.data(), nullptr, g);
        for (std::size_t i = 0; i < ref.size(); ++i) ref[i] += y0.data()[i];
        const double tol = M == 4 ? 1e-3 : 1e-4;
        REQUIRE_ALLCLOSE(std::vector<double>(y.data(), y.data() + y.size()), ref, tol, tol);
        const auto dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 74);
        tensor<float> dx_w({g.N, g.C, g.H, g.W}), dx_1({g.N, g.C, g.H, g.W}), dx_i({g.N, g.C, g.H, g.W});
        ops::conv2d_backward_data_winograd<M, float>(dy.data(), w.data(), g, dx_w.data());
        {
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_backward_data_winograd<M, float>(dy.data(), w.data(), g, dx_1.data());
        }
        REQUIRE(std::equal(dx_w.data(), dx_w.data() + dx_w.size(), dx_1.data()));
        ops::conv2d_backward_data<float>(dy.data(), w.data(), g, dx_i.data(), ops::conv_algo::im2col);
        REQUIRE_ALLCLOSE(std::vector<double>(dx_w.data(), dx_w.data() + dx_w.size()),
                         std::vector<double>(dx_i.data(), dx_i.data() + dx_i.size()), tol, tol);
    }
}

TEMPLATE_TEST_CASE_SIG("Winograd weight gradient: groups summed in slots, ragged last group, same bits on 1 and 2 threads", "",
                       ((std::size_t M), M), 2, 4) {
    // 43 images make 2-6 groups of tiles depending on the map (a slot takes several, the last
    // group is short); 3 images on 4 x 4 maps make one group (transforms in parallel over blocks);
    // 70 input channels: the final G^T dU G runs over 64 channels at a time and a rest; 40 output
    // channels: the channel-lane products (AVX-512) take blocks of 32 and of 16 (masked); one
    // group of at most 64 tiles and 64 output channels or more: products and G^T dU G fused per
    // 32 x 8 channel block (ragged in both, and the small ResNet's layer4)
    for (auto [N, C, H, W, K] : {std::tuple{43, 5, 8, 8, 6}, {43, 3, 16, 16, 4}, {11, 4, 9, 7, 5}, {3, 20, 4, 4, 19}, {2, 70, 4, 4, 3}, {9, 6, 8, 8, 40},
                                 {3, 20, 8, 8, 70}, {32, 128, 4, 4, 128}}) {
        ops::conv_shape g{std::size_t(N), std::size_t(C), std::size_t(H), std::size_t(W), std::size_t(K), 3, 3, 1, 1};
        INFO("F(" << M << ") N C H W K = " << N << " " << C << " " << H << " " << W << " " << K);
        const auto x = rand_t<float>({g.N, g.C, g.H, g.W}, 75), dy = rand_t<float>({g.N, g.K, g.P(), g.Q()}, 76);
        const auto dw0 = rand_t<float>({g.K, g.C, 3, 3}, 77);
        std::vector<float> dw(dw0.size(), std::numeric_limits<float>::quiet_NaN()), dw1 = dw;
        std::vector<float> dwa(dw0.data(), dw0.data() + dw0.size());
        ops::conv2d_backward_weights_winograd<M, float>(x.data(), dy.data(), g, dw.data(), false);
        ops::conv2d_backward_weights_winograd<M, float>(x.data(), dy.data(), g, dwa.data(), true);
        {
            tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
            ops::conv2d_backward_weights_winograd<M, float>(x.data(), dy.data(), g, dw1.data(), false);
        }
        CHECK(dw == dw1);
        const auto ref = ops::ref::conv2d_backward_weights<float>(x.data(), dy.data(), g);
        std::vector<double> added(dwa.size());
        for (std::size_t i = 0; i < dwa.size(); ++i) added[i] = double(dwa[i]) - double(dw0.data()[i]);
        const double tol = M == 4 ? 2e-3 : 2e-4;  // sums of N P Q products
        REQUIRE_ALLCLOSE(std::vector<double>(dw.begin(), dw.end()), ref, tol, tol);
        REQUIRE_ALLCLOSE(added, ref, tol, tol);
    }
}
