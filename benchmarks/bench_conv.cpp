// benchmarks/bench_conv.cpp - the CNN core's convolution passes on the real ResNet-18 (CIFAR
// stem) layer shapes at batch 32 and on the quick preset's small ResNet (width 1/4): im2col +
// sgemm, Winograd F(2x2, 3x3) and F(4x4, 3x3), what `automatic` picks, the direct reference twin
// (batch 1, it is slow), raw sgemm throughput on the same GEMM for comparison, and for scale one
// core's FMA peak and streaming bandwidth.
// Counter FLOP/s counts the direct convolution's 2 N K C R S P Q flops.
//
//     OPENBLAS_NUM_THREADS=1 ./build-test/benchmarks/bench_conv --benchmark_filter=layer1
//     ONECLASS_BENCH_THREADS=2 ...   (the convolution passes on 2 threads; default 1)
//     ONECLASS_BENCH_COLD=1 ...      (inputs and outputs out of L2, as inside a network)
#include <oneclass/core/rng.hpp>
#include <oneclass/ops/convolution.hpp>
#include <oneclass/ops/ref/conv.hpp>
#include <oneclass/simd/simd.hpp>

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include <cstdlib>
#include <iterator>
#include <vector>

using namespace oneclass;

namespace {
struct layer {
    const char* name;
    ops::conv_shape g;
};
// name, N, C, H, W, K, R, S, stride, pad
const layer layers[] = {
    {"stem", {32, 3, 32, 32, 64, 3, 3, 1, 1}},       {"layer1", {32, 64, 32, 32, 64, 3, 3, 1, 1}},
    {"layer2.down", {32, 64, 32, 32, 128, 3, 3, 2, 1}}, {"layer2", {32, 128, 16, 16, 128, 3, 3, 1, 1}},
    {"layer3", {32, 256, 8, 8, 256, 3, 3, 1, 1}},    {"layer4", {32, 512, 4, 4, 512, 3, 3, 1, 1}},
    // the small ResNet (width 1/4) of the quick preset, 32 x 32 x 1 input
    {"small.layer1", {32, 16, 32, 32, 16, 3, 3, 1, 1}}, {"small.layer2", {32, 32, 16, 16, 32, 3, 3, 1, 1}},
    {"small.layer3", {32, 64, 8, 8, 64, 3, 3, 1, 1}},   {"small.layer4", {32, 128, 4, 4, 128, 3, 3, 1, 1}},
    // the layers Winograd does not apply to: stride-2 3 x 3 and 1 x 1 shortcuts, and the small stem
    {"layer3.down", {32, 128, 16, 16, 256, 3, 3, 2, 1}}, {"layer4.down", {32, 256, 8, 8, 512, 3, 3, 2, 1}},
    {"layer2.short", {32, 64, 32, 32, 128, 1, 1, 2, 0}}, {"layer4.short", {32, 256, 8, 8, 512, 1, 1, 2, 0}},
    {"small.stem", {32, 1, 32, 32, 16, 3, 3, 1, 1}},    {"small.down2", {32, 16, 32, 32, 32, 3, 3, 2, 1}},
    {"small.down3", {32, 32, 16, 16, 64, 3, 3, 2, 1}},  {"small.down4", {32, 64, 8, 8, 128, 3, 3, 2, 1}},
    {"small.short2", {32, 16, 32, 32, 32, 1, 1, 2, 0}}, {"small.short4", {32, 64, 8, 8, 128, 1, 1, 2, 0}},
};

std::vector<float> filled(std::size_t n, std::uint64_t seed) {
    rng r(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = float(r.normal());
    return v;
}
/// One thread unless ONECLASS_BENCH_THREADS says otherwise (the convolution passes only).
std::size_t bench_threads() {
    const char* e = std::getenv("ONECLASS_BENCH_THREADS");
    return e && std::atoi(e) > 0 ? std::size_t(std::atoi(e)) : 1;
}
double flops(const ops::conv_shape& g) { return 2.0 * double(g.N * g.K * g.crs() * g.P() * g.Q()); }

template <int Pass, ops::conv_algo Algo>
void BM_conv(benchmark::State& st) {
    tbb::global_control threads(tbb::global_control::max_allowed_parallelism, bench_threads());
    const auto& L = layers[st.range(0)];
    const auto& g = L.g;
    if ((Algo == ops::conv_algo::winograd || Algo == ops::conv_algo::winograd4) && !ops::winograd_applies(g)) {
        st.SkipWithError("Winograd does not apply (stride 2)");
        return;
    }
    if (Algo == ops::conv_algo::winograd_s2 && !ops::winograd_s2_applies(g)) {
        st.SkipWithError("the stride-2 Winograd path does not apply");
        return;
    }
    if (Algo == ops::conv_algo::phase && !ops::phase_direct_applies(g)) {
        st.SkipWithError("the phase-split convolution does not apply (stride 1)");
        return;
    }
    // ONECLASS_BENCH_COLD=1: each iteration works on the next of 8 copies of the tensors (the
    // last layer's data has left L2, as inside a network); default: one copy, warm in cache
    const std::size_t copies = std::getenv("ONECLASS_BENCH_COLD") ? 8 : 1;
    std::vector<std::vector<float>> xs, dys, ys, dxs;
    for (std::size_t i = 0; i < copies; ++i) {
        xs.push_back(filled(g.N * g.C * g.H * g.W, 1 + 10 * i));
        dys.push_back(filled(g.N * g.K * g.P() * g.Q(), 3 + 10 * i));
        ys.emplace_back(dys.back().size());
        dxs.emplace_back(xs.back().size());
    }
    const auto w = filled(g.K * g.crs(), 2);
    std::vector<float> dw(w.size());
    std::size_t it = 0;
    for (auto _ : st) {
        const std::size_t i = it++ % copies;
        const auto &x = xs[i], &dy = dys[i];
        auto &y = ys[i], &dx = dxs[i];
        if (Pass == 0) ops::conv2d_forward<float>(x.data(), w.data(), nullptr, g, y.data(), Algo);
        if (Pass == 1) ops::conv2d_backward_data<float>(dy.data(), w.data(), g, dx.data(), Algo);
        if (Pass == 2) ops::conv2d_backward_weights<float>(x.data(), dy.data(), g, dw.data(), nullptr, Algo);
        benchmark::ClobberMemory();
    }
    st.SetLabel(L.name);
    st.counters["FLOP/s"] = benchmark::Counter(flops(g), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_conv_reference(benchmark::State& st) {
    auto g = layers[st.range(0)].g;
    g.N = 1;
    const auto x = filled(g.C * g.H * g.W, 1), w = filled(g.K * g.crs(), 2);
    for (auto _ : st) benchmark::DoNotOptimize(ops::ref::conv2d_forward<float>(x.data(), w.data(), nullptr, g));
    st.SetLabel(layers[st.range(0)].name);
    st.counters["FLOP/s"] = benchmark::Counter(flops(g), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_sgemm_same_shape(benchmark::State& st) {  // the forward GEMM of one image, as a roofline
    const auto& g = layers[st.range(0)].g;
    const std::size_t M = g.K, K = g.crs(), N = g.P() * g.Q() * 32;
    const auto A = filled(M * K, 1), B = filled(K * N, 2);
    std::vector<float> C(M * N);
    for (auto _ : st)
        linalg::gemm_nn<float>(matrix_view<const float>(A.data(), M, K), matrix_view<const float>(B.data(), K, N),
                            matrix_view<float>(C.data(), M, N), 1.0f, 0.0f);
    st.SetLabel(layers[st.range(0)].name);
    st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(M * K * N), benchmark::Counter::kIsIterationInvariantRate);
}

#define LAYERS ->DenseRange(0, int(std::size(layers)) - 1)->Unit(benchmark::kMillisecond)
BENCHMARK(BM_conv<0, ops::conv_algo::automatic>)->Name("forward/automatic") LAYERS;
BENCHMARK(BM_conv<0, ops::conv_algo::im2col>)->Name("forward/im2col") LAYERS;
BENCHMARK(BM_conv<0, ops::conv_algo::implicit_gemm>)->Name("forward/implicit_gemm") LAYERS;
BENCHMARK(BM_conv<0, ops::conv_algo::phase>)->Name("forward/phase") LAYERS;
BENCHMARK(BM_conv<0, ops::conv_algo::winograd_s2>)->Name("forward/winograd_s2") LAYERS;
BENCHMARK(BM_conv<0, ops::conv_algo::winograd>)->Name("forward/winograd") LAYERS;
BENCHMARK(BM_conv<0, ops::conv_algo::winograd4>)->Name("forward/winograd4") LAYERS;
BENCHMARK(BM_conv<1, ops::conv_algo::automatic>)->Name("backward_data/automatic") LAYERS;
BENCHMARK(BM_conv<1, ops::conv_algo::im2col>)->Name("backward_data/im2col") LAYERS;
BENCHMARK(BM_conv<1, ops::conv_algo::phase>)->Name("backward_data/phase") LAYERS;
BENCHMARK(BM_conv<1, ops::conv_algo::winograd_s2>)->Name("backward_data/winograd_s2") LAYERS;
BENCHMARK(BM_conv<1, ops::conv_algo::winograd>)->Name("backward_data/winograd") LAYERS;
BENCHMARK(BM_conv<1, ops::conv_algo::winograd4>)->Name("backward_data/winograd4") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::automatic>)->Name("backward_weights/automatic") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::im2col>)->Name("backward_weights/im2col") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::implicit_gemm>)->Name("backward_weights/implicit_gemm") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::phase>)->Name("backward_weights/phase") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::winograd_s2>)->Name("backward_weights/winograd_s2") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::winograd>)->Name("backward_weights/winograd") LAYERS;
BENCHMARK(BM_conv<2, ops::conv_algo::winograd4>)->Name("backward_weights/winograd4") LAYERS;
BENCHMARK(BM_conv_reference)->Name("forward/reference_batch1") LAYERS;
BENCHMARK(BM_sgemm_same_shape)->Name("sgemm/forward_shape_batch32") LAYERS;

/// One core's bandwidth past L2 for the streaming passes (batch norm's): y = 2 x over
/// range(0) MB, 8 rotating copies; counter bytes_per_second counts the bytes read and written.
void BM_stream(benchmark::State& st) {
    const std::size_t n = std::size_t(st.range(0)) << 18, copies = 8;  // floats
    std::vector<std::vector<float>> x(copies, std::vector<float>(n, 1.0f)), y(copies, std::vector<float>(n));
    std::size_t i = 0;
    for (auto _ : st) {
        const float* a = x[i % copies].data();
        float* b = y[i % copies].data();
        for (std::size_t j = 0; j < n; ++j) b[j] = 2.0f * a[j];
        benchmark::DoNotOptimize(b);
        ++i;
    }
    st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(2 * n * sizeof(float)));
}
BENCHMARK(BM_stream)->Name("memory/stream_scale_MB")->Arg(1)->Arg(4)->Arg(16);

/// The FP32 FMA peak of one core at the build's vector width: 12 independent chains of fused
/// multiply-adds on registers (counter FLOP/s, 2 per lane and FMA).
void BM_fma_peak(benchmark::State& st) {
    using B = simd::batch<float>;
    B a[12];
    for (std::size_t i = 0; i < 12; ++i) a[i] = B(1.0f + 1e-3f * float(i));
    const B m(0.999999f), c(1e-7f);
    constexpr std::int64_t inner = 1 << 16;
    for (auto _ : st) {
        for (std::int64_t it = 0; it < inner; ++it)
            for (auto& v : a) v = xsimd::fma(v, m, c);
        for (auto& v : a) benchmark::DoNotOptimize(v);
    }
    st.counters["FLOP/s"] = benchmark::Counter(double(st.iterations()) * inner * 12 * 2 * double(B::size), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_fma_peak)->Name("cpu/fma_peak");
}  // namespace

#include "bench_main.hpp"
