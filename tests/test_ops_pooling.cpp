// tests/test_ops_pooling.cpp - ops/pooling.hpp against the double oracles of ops/ref/pooling.hpp:
// max and average pooling over windows, strides and paddings, global average pooling, nearest
// and bilinear upsampling, forward and backward (the transposed maps).
#include "test_util.hpp"

#include <oneclass/ops/pooling.hpp>
#include <oneclass/ops/ref/pooling.hpp>

using namespace oneclass;

namespace {
// A pooled or upsampled value combines at most k^2 <= 9 inputs (4 for bilinear) with weights in
// [0, 1]: its float error is under (terms + 2) eps_T of the sum of |terms|, <= 16 eps_T of
// max(1, |inputs|) here; the backward sums at most (k / s)^2 <= 9 such contributions.
template <class T>
double tol() {
    return 32 * double(std::numeric_limits<T>::epsilon());
}
template <class T, class V>
void require_close(const V& got, const std::vector<double>& want, double scale, const char* what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO(what << " index " << i << ": " << double(got[i]) << " vs " << want[i]);
        REQUIRE(std::abs(double(got[i]) - want[i]) <= tol<T>() * scale);
    }
}
}  // namespace

TEMPLATE_TEST_CASE("pooling kernels equal the double definitions, forward and backward", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    for (auto [H, W, k, s, pad] : {std::tuple<std::size_t, std::size_t, std::size_t, std::size_t, std::size_t>{6, 7, 2, 2, 0},
                                   {7, 5, 3, 2, 1}, {5, 5, 3, 1, 1}, {9, 8, 3, 3, 0}, {4, 4, 1, 1, 0}}) {
        const std::size_t NC = 6, n = NC * H * W;
        std::vector<T> x(n);
        for (auto& v : x) v = T(r.normal());
        const ops::pool_shape g{NC, H, W, k, s, pad};
        const std::size_t no = NC * g.P() * g.Q();
        std::vector<T> dy(no);
        for (auto& v : dy) v = T(r.normal());
        INFO("H " << H << " W " << W << " k " << k << " s " << s << " pad " << pad);
        for (int kind : {0, 1}) {
            const auto want = ops::ref::pool2d(x.data(), NC, H, W, k, s, pad, kind);
            std::vector<T> y(no), dx(n, T(0));
            if (kind == 0) {
                std::vector<std::size_t> arg(no);
                ops::max_pool2d_forward(x.data(), g, y.data(), arg.data());
                ops::max_pool2d_backward(arg.data(), dy.data(), no, dx.data());
                for (std::size_t i = 0; i < no; ++i) REQUIRE(double(y[i]) == want.y[i]);  // a max is exact
            } else {
                ops::avg_pool2d_forward(x.data(), g, y.data());
                ops::avg_pool2d_backward(dy.data(), g, dx.data());
                require_close<T>(y, want.y, 4, "avg y");
            }
            require_close<T>(dx, want.transpose_apply(dy.data(), n), 4 * 9, kind ? "avg dx" : "max dx");
        }
    }
    // global average pooling: the average of each plane, the gradient spread back evenly
    const std::size_t NC = 5, HW = 37;
    std::vector<T> x(NC * HW), y(NC), dy(NC), dx(NC * HW, T(1));
    for (auto& v : x) v = T(r.normal());
    for (auto& v : dy) v = T(r.normal());
    ops::global_avg_pool_forward(x.data(), NC, HW, y.data());
    ops::global_avg_pool_backward(dy.data(), NC, HW, dx.data());
    for (std::size_t c = 0; c < NC; ++c) {
        double s = 0;
        for (std::size_t i = 0; i < HW; ++i) s += double(x[c * HW + i]);
        REQUIRE(std::abs(double(y[c]) - s / HW) <= tol<T>());
        for (std::size_t i = 0; i < HW; ++i) REQUIRE(std::abs(double(dx[c * HW + i]) - (1 + double(dy[c]) / HW)) <= tol<T>() * 4);
    }
}

TEMPLATE_TEST_CASE("upsampling kernels equal PyTorch's formula per pixel, forward and backward", "", float, double) {
    using T = TestType;
    rng r(test::seed() + 1);
    for (auto [H, W, f] : {std::tuple<std::size_t, std::size_t, std::size_t>{3, 4, 2}, {2, 5, 3}, {1, 1, 4}, {4, 4, 1}})
        for (bool bilinear : {false, true}) {
            const std::size_t NC = 3, n = NC * H * W, no = n * f * f;
            std::vector<T> x(n), dy(no);
            for (auto& v : x) v = T(r.normal());
            for (auto& v : dy) v = T(r.normal());
            const auto mode = bilinear ? ops::upsample_mode::bilinear : ops::upsample_mode::nearest;
            const auto th = ops::upsample_taps<T>(H, f, mode), tw = ops::upsample_taps<T>(W, f, mode);
            std::vector<T> y(no), dx(n, T(0));
            ops::upsample2d_forward(x.data(), NC, H, W, th, tw, y.data());
            ops::upsample2d_backward(dy.data(), NC, H, W, th, tw, dx.data());
            const auto want = ops::ref::upsample2d(x.data(), NC, H, W, f, bilinear);
            INFO("H " << H << " W " << W << " factor " << f << (bilinear ? " bilinear" : " nearest"));
            require_close<T>(y, want.y, 4, "y");
            require_close<T>(dx, want.transpose_apply(dy.data(), n), 4 * double(f * f), "dx");
        }
}
