// oneclass/ops/dispatch.hpp - the hot kernels compiled once per instruction-set level, chosen at
// run time.
//
// The oneclass_kernels library compiles src/kernels.cpp once per x86-64 level (ONECLASS_KERNEL_LEVELS:
// v1, v3 and v4 by default) with that level's -march; each copy fills a kernel_table with its convolution and batch-norm entry points.
// A program that links it (the CMake target oneclass::oneclass does, and defines
// ONECLASS_DISPATCH=1) calls them through the table of kernel_isa()'s level (core/isa.hpp), so a
// build with the compiler's default flags still runs AVX2 or AVX-512 kernels where the CPU has
// them, and its own translation units never compile the kernels (they see these declarations).
// Without ONECLASS_DISPATCH (a plain include path) the kernels are compiled inline for the
// including code's -march, as before.
//
// Each level's object is self-contained: its copies of inline functions and templates are made
// local when the library is built (ld -r --force-group-allocation, objcopy --keep-global-symbol),
// so no AVX-512 copy of a shared inline function can stand in for the program's own. The state
// the kernels share with the program (the profiler) is passed in by pointer (kernel_host).
#pragma once

#include <oneclass/core/isa.hpp>
#include <oneclass/core/platform.hpp>
#include <oneclass/core/profile.hpp>
#include <oneclass/ops/conv_shape.hpp>
#include <oneclass/simd/dispatch.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>


namespace oneclass::ops {

/// Sums per-channel statistics across the replicas of a data-parallel run, element-wise and in
/// place (the same bits on every replica): synchronised batch norm. The vector ends with the
/// count of values per channel, summed like the rest.
using batch_norm_sync = std::function<void(std::vector<double>&)>;

/// The entry points of one level for one precision (the signatures of conv2d_forward etc.).
template <class T>
struct kernel_fns {
    void (*conv2d_forward)(const T* x, const T* w, const T* bias, const conv_shape& g, T* y, conv_algo a);
    void (*conv2d_backward_data)(const T* dy, const T* w, const conv_shape& g, T* dx, conv_algo a, bool accumulate);
    void (*conv2d_backward_weights)(const T* x, const T* dy, const conv_shape& g, T* dw, T* dbias, conv_algo a, bool accumulate);
    void (*batch_norm_forward)(const T* x, const T* residual, std::size_t N, std::size_t C, std::size_t HW, const T* gamma,
                               const T* beta, T* running_mean, T* running_var, double momentum, double eps, bool training,
                               bool fuse_relu, T* y, T* mean, T* inv_std, T* scale, T* shift, const batch_norm_sync* sync);
    void (*batch_norm_backward)(const T* x, const T* g_in, const T* y_out, T* masked, const T* gamma, const T* mean,
                                const T* inv_std, const T* scale, const T* shift, std::size_t N, std::size_t C, std::size_t HW,
                                bool training, bool fuse_relu, T* dx, bool accumulate, T* dgamma, T* dbeta,
                                const batch_norm_sync* sync);
};

struct kernel_table {
    static constexpr int current_abi = 1;  ///< bumped whenever kernel_fns or kernel_host change
    int abi;
    std::size_t size;  ///< sizeof(kernel_table) where it was compiled
    isa level;         ///< the -march its kernels were compiled for
    kernel_fns<float> f32;
    kernel_fns<double> f64;
};

/// What the program lends the kernels: its profiler's switch and totals.
struct kernel_host {
    std::atomic<bool>* profiling;
    profile::detail::registry* profile;
};

}  // namespace oneclass::ops

// One per level, defined by oneclass_kernels (src/kernels.cpp); the only global symbols of their objects.
extern "C" const oneclass::ops::kernel_table* oneclass_kernels_x86_64_v1(const oneclass::ops::kernel_host*);
extern "C" const oneclass::ops::kernel_table* oneclass_kernels_x86_64_v2(const oneclass::ops::kernel_host*);
extern "C" const oneclass::ops::kernel_table* oneclass_kernels_x86_64_v3(const oneclass::ops::kernel_host*);
extern "C" const oneclass::ops::kernel_table* oneclass_kernels_x86_64_v4(const oneclass::ops::kernel_host*);

#if ONECLASS_DISPATCHED
namespace oneclass::ops {

/// The kernels of kernel_isa()'s level.
inline const kernel_table& kernels() {
    return oneclass::detail::table_for_level<kernel_table>([](isa l) -> const kernel_table* {
        static const kernel_host host{&profile::detail::enabled_flag(), &profile::detail::registry::instance()};
        switch (l) {
            case isa::x86_64: return oneclass_kernels_x86_64_v1(&host);
            case isa::x86_64_v2: return oneclass_kernels_x86_64_v2(&host);
            case isa::x86_64_v3: return oneclass_kernels_x86_64_v3(&host);
            case isa::x86_64_v4: return oneclass_kernels_x86_64_v4(&host);
        }
        return nullptr;
    });
}

template <class T>
const kernel_fns<T>& kernels_for() {
    if constexpr (std::is_same_v<T, float>) return kernels().f32;
    else return kernels().f64;
}

}  // namespace oneclass::ops
#endif

namespace oneclass::ops {

/// Chooses the kernels' level now (ONECLASS_ISA, the CPU, the library's levels) and loads its
/// tables, so that a bad setting is reported where the caller can say so; returns the level.
inline isa kernels_ready() {
#if ONECLASS_DISPATCHED
    (void)kernels();
    (void)simd::row_fns_for<float>();
    return kernel_isa();
#else
    return compiled_isa_level();
#endif
}

/// What runs the kernels, for --version and the benchmarks: the level chosen at run time, or the
/// including code's own instruction set when the kernels are compiled inline. Never throws: a bad
/// ONECLASS_ISA is described instead.
inline std::string kernel_description() {
#if ONECLASS_DISPATCHED
    try {
        return std::string(isa_name(kernels_ready())) + " (oneclass_kernels, chosen at run time; ONECLASS_ISA forces a level)";
    } catch (const error& e) {
        return std::string("none: ") + e.what();
    }
#else
    return std::string("compiled inline for ") + compiled_isa() + " (no oneclass_kernels: ONECLASS_DISPATCH off)";
#endif
}

}  // namespace oneclass::ops
