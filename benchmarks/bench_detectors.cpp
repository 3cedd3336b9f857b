// benchmarks/bench_detectors.cpp - microbenchmarks of the detector stage's hot paths, each next to
// its scalar reference twin and to raw OpenBLAS GEMM throughput, on the shapes we meet
// (n_train 6000, d 128-784). Counters: items/s = scored rows per second; FLOP/s where it applies.
//
//     ./build/benchmarks/bench_detectors --benchmark_filter=kde
#include <oneclass/detectors.hpp>
#include <oneclass/linalg/distance.hpp>
#include <oneclass/linalg/ref/distance.hpp>

#include <benchmark/benchmark.h>

#include <cmath>

using namespace oneclass;

namespace {
matrix<float> normal_rows(std::size_t n, std::size_t d, std::uint64_t seed) {
    rng r(seed);
    matrix<float> m(n, d);
    for (auto& v : m.values()) v = float(r.normal());
    linalg::l2_normalize_rows(m.view());
    return m;
}

void BM_gemm_nt(benchmark::State& st) {  // the roofline: what the distance GEMM could reach
    const auto n = std::size_t(st.range(0)), d = std::size_t(st.range(1));
    const auto A = normal_rows(128, d, 1), B = normal_rows(n, d, 2);
    matrix<float> C(128, n);
    for (auto _ : st) linalg::gemm_nt<float>(A.view(), B.view(), C.view(), 1.0f, 0.0f);
    st.counters["FLOP/s"] = benchmark::Counter(2.0 * 128 * double(n) * double(d), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_gemm_nt)->Args({6000, 128})->Args({6000, 512})->Args({6000, 784})->Unit(benchmark::kMillisecond);

void BM_kde_score(benchmark::State& st) {
    const auto d = std::size_t(st.range(0)), m = std::size_t(st.range(1));
    const auto X = normal_rows(6000, d, 3), Q = normal_rows(m, d, 4);
    kde<float> det({.gamma = 10.0f, .normalize = normalization::none});
    (void)det.fit(X.view());
    for (auto _ : st) benchmark::DoNotOptimize(det.score(Q.view()));
    st.SetItemsProcessed(std::int64_t(st.iterations() * m));
    st.counters["FLOP/s"] = benchmark::Counter(2.0 * 6000 * double(m) * double(d), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_kde_score)->Args({128, 2000})->Args({512, 2000})->Unit(benchmark::kMillisecond);

// Reference twin: double, term-by-term distances and a plain logsumexp.
void BM_kde_score_reference(benchmark::State& st) {
    const auto d = std::size_t(st.range(0)), m = std::size_t(st.range(1));
    const auto X = normal_rows(6000, d, 3), Q = normal_rows(m, d, 4);
    std::vector<double> out(m), v(6000);
    for (auto _ : st) {
        for (std::size_t i = 0; i < m; ++i) {
            double mx = -INFINITY;
            for (std::size_t j = 0; j < 6000; ++j) mx = std::max(mx, v[j] = -10.0 * linalg::ref::squared_distance(Q.row(i), X.row(j), d));
            double s = 0;
            for (double x : v) s += std::exp(x - mx);
            out[i] = -(mx + std::log(s)) / 10.0;
        }
        benchmark::DoNotOptimize(out.data());
    }
    st.SetItemsProcessed(std::int64_t(st.iterations() * m));
}
BENCHMARK(BM_kde_score_reference)->Args({128, 200})->Args({512, 100})->Unit(benchmark::kMillisecond);

void BM_knn_score(benchmark::State& st) {
    const auto d = std::size_t(st.range(0));
    const auto X = normal_rows(6000, d, 5), Q = normal_rows(2000, d, 6);
    knn<float> det({.k = std::size_t(st.range(1))});
    (void)det.fit(X.view());
    for (auto _ : st) benchmark::DoNotOptimize(det.score(Q.view()));
    st.SetItemsProcessed(std::int64_t(st.iterations() * 2000));
}
BENCHMARK(BM_knn_score)->Args({128, 1})->Args({128, 5})->Args({512, 1})->Unit(benchmark::kMillisecond);

void BM_ocsvm_fit(benchmark::State& st) {
    const auto d = std::size_t(st.range(0));
    const auto X = normal_rows(std::size_t(st.range(1)), d, 7);
    for (auto _ : st) {
        ocsvm<float> det({.nu = 0.5, .normalize = normalization::none});
        benchmark::DoNotOptimize(det.fit(X.view()));
    }
}
BENCHMARK(BM_ocsvm_fit)->Args({128, 2000})->Args({128, 6000})->Unit(benchmark::kMillisecond);

void BM_ocsvm_score(benchmark::State& st) {
    const auto X = normal_rows(6000, 128, 8), Q = normal_rows(2000, 128, 9);
    ocsvm<float> det({.nu = 0.5, .normalize = normalization::none});
    (void)det.fit(X.view());
    for (auto _ : st) benchmark::DoNotOptimize(det.score(Q.view()));
    st.SetItemsProcessed(std::int64_t(st.iterations() * 2000));
    st.counters["n_sv"] = double(det.n_support());
}
BENCHMARK(BM_ocsvm_score)->Unit(benchmark::kMillisecond);

void BM_gde_fit_score(benchmark::State& st) {
    const auto d = std::size_t(st.range(0));
    rng r(10);
    matrix<float> X(6000, d), Q(2000, d);
    for (auto& v : X.values()) v = float(r.uniform());
    for (auto& v : Q.values()) v = float(r.uniform());
    for (auto _ : st) {
        gde<float> det;
        (void)det.fit(X.view());
        benchmark::DoNotOptimize(det.score(Q.view()));
    }
}
BENCHMARK(BM_gde_fit_score)->Arg(128)->Arg(784)->Unit(benchmark::kMillisecond);
}  // namespace

#include "bench_main.hpp"
