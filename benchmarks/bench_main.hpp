// benchmarks/bench_main.hpp - main() of the Google Benchmark binaries: says once, before any
// figure, when OpenBLAS runs generic kernels on this CPU (their timings would mislead), then runs.
#pragma once

#include <oneclass/core/platform.hpp>
#include <oneclass/ops/dispatch.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>

int main(int argc, char** argv) {
    if (const auto w = oneclass::blas_kernel_warning()) std::fprintf(stderr, "warning: %s\n", w->c_str());
    benchmark::AddCustomContext("oneclass.compiled_for", oneclass::compiled_isa());
    benchmark::AddCustomContext("oneclass.kernels", oneclass::ops::kernel_description());
    benchmark::AddCustomContext("oneclass.blas_kernels", oneclass::blas().core);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
