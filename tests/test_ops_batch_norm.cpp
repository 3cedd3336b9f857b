// tests/test_ops_batch_norm.cpp - ops/batch_norm.hpp against the double oracle of
// ops/ref/batch_norm.hpp: every form (plain, fused ReLU, residual add + ReLU), training and
// evaluation, plane sizes on both summation paths (vertical vector sums for small planes of whole
// vectors, horizontal ones otherwise) and with SIMD tails; synchronised statistics over two
// replicas (threads standing in for the ranks of a data-parallel run) against the whole batch.
#include "test_util.hpp"

#include <oneclass/ops/batch_norm.hpp>
#include <oneclass/ops/ref/batch_norm.hpp>

#include <tbb/global_control.h>

#include <array>
#include <barrier>
#include <thread>

using namespace oneclass;

namespace {
// Tolerance: per-plane SIMD sums in T (at most 256 terms before the double accumulation) bound
// the statistics' relative error by about 256 eps_T; every output is an O(1) combination of them
// and of x (|values| < 8 here), so 512 eps_T of the larger of 1 and |reference| covers it with
// margin. Entries whose pre-activation lies within that of 0 may take the other side of the ReLU
// in T and in double; they are skipped (at most a handful, counted).
template <class T>
double tol() {
    return 512 * double(std::numeric_limits<T>::epsilon());
}

template <class T, class V>
void require_close(const V& got, const std::vector<double>& want, const std::vector<bool>& skip, const char* what) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (!skip.empty() && skip[i]) continue;
        INFO(what << " index " << i << ": " << double(got[i]) << " vs " << want[i]);
        REQUIRE(std::abs(double(got[i]) - want[i]) <= tol<T>() * std::max(1.0, std::abs(want[i])));
    }
}
/// Random inputs of a batch-norm layer on N x C x HW planes (x, residual, incoming gradient, the
/// layer's parameters and running statistics).
template <class T>
struct bn_inputs {
    std::vector<T> x, res, dy, gamma, beta, rm, rv;
    bn_inputs(rng& r, std::size_t N, std::size_t C, std::size_t HW) : x(N * C * HW), res(x.size()), dy(x.size()), gamma(C), beta(C), rm(C), rv(C) {
        for (auto& v : x) v = T(1.5 * r.normal() + 0.5);
        for (auto& v : res) v = T(r.normal());
        for (auto& v : dy) v = T(r.normal());
        for (std::size_t c = 0; c < C; ++c)
            gamma[c] = T(0.5 + r.uniform()), beta[c] = T(r.normal() * 0.3), rm[c] = T(r.normal() * 0.2), rv[c] = T(0.5 + r.uniform());
    }
};

/// Entries at the ReLU's edge (pre-activation within tolerance of 0, by the double definition)
/// and their channels: not compared, as T and double may put them on either side (the
/// backward pass skips their channels, whose sums they enter).
struct relu_edges {
    std::vector<bool> entry, channel, skip;  ///< skip: every entry of an edge channel
    std::size_t count = 0;
};
template <class T>
relu_edges find_relu_edges(const bn_inputs<T>& in, const ops::ref::batch_norm_result& want, std::size_t C, std::size_t HW,
                           bool relu, bool residual) {
    const std::size_t n = in.x.size();
    relu_edges e{std::vector<bool>(n, false), std::vector<bool>(C, false), std::vector<bool>(n, false)};
    if (relu || residual)
        for (std::size_t j = 0; j < n; ++j) {
            const std::size_t c = (j / HW) % C;
            const double z = double(in.gamma[c]) * (double(in.x[j]) - want.mean[c]) / std::sqrt(want.var[c] + 1e-5) + double(in.beta[c]) +
                             (residual ? double(in.res[j]) : 0.0);
            if (std::abs(z) <= 2 * tol<T>()) e.entry[j] = e.channel[c] = true, ++e.count;
        }
    for (std::size_t j = 0; j < n; ++j) e.skip[j] = e.channel[(j / HW) % C];
    return e;
}
}  // namespace

TEMPLATE_TEST_CASE("batch-norm kernels equal the double definition in every form and on both summation paths", "", float, double) {
    using T = TestType;
    rng r(test::seed());
    for (std::size_t HW : {1, 7, 16, 64, 100, 300})
        for (int form = 0; form < 3; ++form)  // 0 plain, 1 fused ReLU, 2 residual add + ReLU
            for (bool training : {true, false}) {
                const std::size_t N = 3, C = 5, n = N * C * HW;
                const bool relu = form == 1, residual = form == 2;
                const bn_inputs<T> in(r, N, C, HW);
                const auto& [x, res, dy, gamma, beta, rm, rv] = in;
                INFO("HW " << HW << " form " << form << " training " << training);
                const auto want = ops::ref::batch_norm_forward(x.data(), residual ? res.data() : nullptr, N, C, HW, gamma.data(),
                                                               beta.data(), rm.data(), rv.data(), 0.1, 1e-5, training, relu);
                std::vector<T> y(n), mean(C), inv_std(C), scale(C), shift(C), rm2 = rm, rv2 = rv;
                ops::batch_norm_forward<T>(x.data(), residual ? res.data() : nullptr, N, C, HW, gamma.data(), beta.data(),
                                           rm2.data(), rv2.data(), 0.1, 1e-5, training, relu, y.data(), mean.data(),
                                           inv_std.data(), scale.data(), shift.data());
                const relu_edges edges = find_relu_edges(in, want, C, HW, relu, residual);
                REQUIRE(edges.count * 100 <= n);
                require_close<T>(y, want.y, edges.entry, "y");
                require_close<T>(rm2, want.running_mean, {}, "running_mean");
                require_close<T>(rv2, want.running_var, {}, "running_var");
                require_close<T>(mean, want.mean, {}, "mean");

                const auto g = ops::ref::batch_norm_backward(x.data(), dy.data(), N, C, HW, gamma.data(), want, 1e-5, training,
                                                             relu, residual);
                std::vector<T> dx(n, T(0.25)), dgamma(C, T(0)), dbeta(C, T(0)), masked(n);
                ops::batch_norm_backward<T>(x.data(), dy.data(), residual ? y.data() : nullptr, residual ? masked.data() : nullptr,
                                            gamma.data(), mean.data(), inv_std.data(), scale.data(), shift.data(), N, C, HW,
                                            training, relu, dx.data(), true, dgamma.data(), dbeta.data());
                std::vector<double> want_dx(g.dx);
                for (auto& v : want_dx) v += 0.25;  // accumulate: dx += ...
                require_close<T>(dx, want_dx, edges.skip, "dx");
                require_close<T>(dgamma, g.dgamma, edges.channel, "dgamma");
                require_close<T>(dbeta, g.dbeta, edges.channel, "dbeta");
                if (residual) require_close<T>(masked, g.dresidual, edges.entry, "dresidual");
            }
}

TEST_CASE("batch-norm kernels give the same bits on 1 and 2 threads") {
    rng r(5);
    const std::size_t N = 8, C = 48, HW = 64, n = N * C * HW;
    std::vector<float> x(n), dy(n), gamma(C, 1.0f), beta(C, 0.1f);
    for (auto& v : x) v = float(r.normal());
    for (auto& v : dy) v = float(r.normal());
    auto run = [&](int threads) {
        tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
        std::vector<float> rm(C, 0.0f), rv(C, 1.0f), y(n), mean(C), inv(C), sc(C), sh(C), dx(n), dg(C, 0.0f), db(C, 0.0f);
        ops::batch_norm_forward<float>(x.data(), nullptr, N, C, HW, gamma.data(), beta.data(), rm.data(), rv.data(), 0.1, 1e-5,
                                       true, true, y.data(), mean.data(), inv.data(), sc.data(), sh.data());
        ops::batch_norm_backward<float>(x.data(), dy.data(), nullptr, nullptr, gamma.data(), mean.data(), inv.data(), sc.data(),
                                        sh.data(), N, C, HW, true, true, dx.data(), false, dg.data(), db.data());
        y.insert(y.end(), dx.begin(), dx.end());
        y.insert(y.end(), dg.begin(), dg.end());
        y.insert(y.end(), rv.begin(), rv.end());
        return y;
    };
    REQUIRE(run(1) == run(2));
}

namespace {
/// Two replicas in two threads: sync sums their vectors element-wise, replica 0's first (what
/// a data-parallel run's communicator does across processes).
struct two_replicas {
    std::barrier<> meet{2};
    std::array<std::vector<double>*, 2> slot{};
    ops::batch_norm_sync sync_for(int r) {
        return [this, r](std::vector<double>& v) {
            slot[std::size_t(r)] = &v;
            meet.arrive_and_wait();
            std::vector<double> sum(*slot[0]);
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += (*slot[1])[i];
            meet.arrive_and_wait();  // both have read both
            v = sum;
            meet.arrive_and_wait();  // neither vector is touched again before both are written
        };
    }
};
}  // namespace

TEST_CASE("synchronised batch norm over two replicas' rows equals the double definition on the whole batch") {
    using T = float;
    rng r(test::seed() + 1);
    for (std::size_t HW : {7, 16, 100})
        for (int form = 0; form < 3; ++form) {
            INFO("HW " << HW << " form " << form);
            const std::size_t N = 5, N0 = 3, C = 4, n = N * C * HW, img = C * HW;  // rows 0-2 on replica 0, 3-4 on 1
            const bool relu = form == 1, residual = form == 2;
            const bn_inputs<T> in(r, N, C, HW);
            // references, not a structured binding: Clang 14 cannot capture bindings in the lambda below
            const auto &x = in.x, &res = in.res, &dy = in.dy, &gamma = in.gamma, &beta = in.beta, &rm = in.rm, &rv = in.rv;
            const auto want = ops::ref::batch_norm_forward(x.data(), residual ? res.data() : nullptr, N, C, HW, gamma.data(), beta.data(),
                                                           rm.data(), rv.data(), 0.1, 1e-5, true, relu);
            const auto g = ops::ref::batch_norm_backward(x.data(), dy.data(), N, C, HW, gamma.data(), want, 1e-5, true, relu, residual);
            std::vector<T> y(n), dx(n), masked(n);
            std::array<std::vector<T>, 2> rms{rm, rm}, rvs{rv, rv}, dgs{std::vector<T>(C), std::vector<T>(C)}, dbs = dgs;
            two_replicas rep;
            auto replica = [&](int k) {
                const std::size_t first = k == 0 ? 0 : N0, rows = k == 0 ? N0 : N - N0, off = first * img;
                const ops::batch_norm_sync sync = rep.sync_for(k);
                std::vector<T> mean(C), inv_std(C), scale(C), shift(C);
                ops::batch_norm_forward<T>(x.data() + off, residual ? res.data() + off : nullptr, rows, C, HW, gamma.data(), beta.data(),
                                           rms[std::size_t(k)].data(), rvs[std::size_t(k)].data(), 0.1, 1e-5, true, relu, y.data() + off,
                                           mean.data(), inv_std.data(), scale.data(), shift.data(), &sync);
                ops::batch_norm_backward<T>(x.data() + off, dy.data() + off, residual ? y.data() + off : nullptr,
                                            residual ? masked.data() + off : nullptr, gamma.data(), mean.data(), inv_std.data(),
                                            scale.data(), shift.data(), rows, C, HW, true, relu, dx.data() + off, false,
                                            dgs[std::size_t(k)].data(), dbs[std::size_t(k)].data(), &sync);
            };
            std::thread other(replica, 1);
            replica(0);
            other.join();
            const relu_edges edges = find_relu_edges(in, want, C, HW, relu, residual);
            require_close<T>(y, want.y, edges.entry, "y");
            for (int k : {0, 1}) {
                require_close<T>(rms[std::size_t(k)], want.running_mean, {}, "running_mean");  // the global batch's, on both
                require_close<T>(rvs[std::size_t(k)], want.running_var, {}, "running_var");
            }
            require_close<T>(dx, g.dx, edges.skip, "dx");
            // dgamma and dbeta stay each replica's share: their sum is the whole batch's
            std::vector<double> dg(C), db(C);
            for (std::size_t c = 0; c < C; ++c) dg[c] = double(dgs[0][c]) + dgs[1][c], db[c] = double(dbs[0][c]) + dbs[1][c];
            require_close<T>(dg, g.dgamma, edges.channel, "dgamma");
            require_close<T>(db, g.dbeta, edges.channel, "dbeta");
            if (residual) require_close<T>(masked, g.dresidual, edges.entry, "dresidual");
        }
}
