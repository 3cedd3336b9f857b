// The kernel library's translation unit, compiled once per level (CMakeLists.txt:
// oneclass_kernels): -march=x86-64-vN -DONECLASS_KERNEL_LEVEL=N. It instantiates the kernels of
// ops/dispatch.hpp's and simd/dispatch.hpp's tables for this level and exports only their getters.
#define ONECLASS_KERNEL_TU 1

#include <oneclass/ops/batch_norm.hpp>
#include <oneclass/ops/convolution.hpp>
#include <oneclass/simd/simd.hpp>

#ifndef ONECLASS_KERNEL_LEVEL
#error "compile with -DONECLASS_KERNEL_LEVEL=1..4 and the matching -march"
#endif

namespace {

using namespace oneclass;
using namespace oneclass::ops;

constexpr isa level = isa(ONECLASS_KERNEL_LEVEL);
static_assert(compiled_isa_level() >= level, "this object is compiled for a lower -march than its level says");

template <class T>
constexpr kernel_fns<T> fns() {
    return {&conv2d_forward_here<T>, &conv2d_backward_data_here<T>, &conv2d_backward_weights_here<T>,
            &batch_norm_forward_here<T>, &batch_norm_backward_here<T>};
}

constexpr kernel_table table{kernel_table::current_abi, sizeof(kernel_table), level, fns<float>(), fns<double>()};

template <class T>
constexpr simd::row_fns<T> row_fns() {
    using namespace oneclass::simd;
    return {&squared_norm_here<T>,       &min_here<T>,           &sum_exp_shifted_here<T>, &weighted_sum_exp_here<T>,
            &exp_affine_inplace_here<T>, &exp_shifted_inplace_here<T>, &relu_mask_mul_here<T>,   &add_norms_clamp_here<T>};
}

constexpr simd::row_table rows{simd::row_table::current_abi, sizeof(simd::row_table), level, row_fns<float>(), row_fns<double>()};

const kernel_table* get(const kernel_host* host) {
    auto& p = profile::detail::lent();
    p.on = host->profiling;
    p.totals = host->profile;
    return &table;
}

}  // namespace

#define ONECLASS_KERNEL_GETTER2(prefix, n) prefix##n
#define ONECLASS_KERNEL_GETTER(prefix, n) ONECLASS_KERNEL_GETTER2(prefix, n)
extern "C" const kernel_table* ONECLASS_KERNEL_GETTER(oneclass_kernels_x86_64_v, ONECLASS_KERNEL_LEVEL)(const kernel_host* host) {
    return get(host);
}
extern "C" const simd::row_table* ONECLASS_KERNEL_GETTER(oneclass_simd_x86_64_v, ONECLASS_KERNEL_LEVEL)() { return &rows; }
