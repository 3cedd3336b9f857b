// oneclass/simd/dispatch.hpp - the row functions of simd.hpp that the detectors, distances and
// autograd call (exp sums, minima, norms), one copy per x86-64 level in the kernel library (as
// ops/dispatch.hpp's kernels; src/kernels.cpp fills both tables).
#pragma once

#include <oneclass/core/isa.hpp>

#include <cstddef>
#include <type_traits>

namespace oneclass::simd {

template <class T>
struct row_fns {
    T (*squared_norm)(const T* a, std::size_t n) noexcept;
    T (*min)(const T* a, std::size_t n) noexcept;
    T (*sum_exp_shifted)(const T* a, std::size_t n, T offset, T scale) noexcept;
    T (*weighted_sum_exp)(const T* w, const T* a, std::size_t n, T scale) noexcept;
    void (*exp_affine_inplace)(T* a, std::size_t n, T scale, T shift) noexcept;
    void (*exp_shifted_inplace)(T* a, std::size_t n, T offset, T scale) noexcept;
    void (*relu_mask_mul)(const T* g, const T* y, std::size_t n, T* out) noexcept;
    void (*add_norms_clamp)(T* c, const T* b, T a, std::size_t n) noexcept;
};

struct row_table {
    static constexpr int current_abi = 1;  ///< bumped whenever row_fns changes
    int abi;
    std::size_t size;
    isa level;
    row_fns<float> f32;
    row_fns<double> f64;
};

}  // namespace oneclass::simd

extern "C" const oneclass::simd::row_table* oneclass_simd_x86_64_v1();
extern "C" const oneclass::simd::row_table* oneclass_simd_x86_64_v2();
extern "C" const oneclass::simd::row_table* oneclass_simd_x86_64_v3();
extern "C" const oneclass::simd::row_table* oneclass_simd_x86_64_v4();

#if ONECLASS_DISPATCHED
namespace oneclass::simd {

/// The row functions of kernel_isa()'s level.
template <class T>
const row_fns<T>& row_fns_for() {
    const row_table& t = oneclass::detail::table_for_level<row_table>([](isa l) -> const row_table* {
        switch (l) {
            case isa::x86_64: return oneclass_simd_x86_64_v1();
            case isa::x86_64_v2: return oneclass_simd_x86_64_v2();
            case isa::x86_64_v3: return oneclass_simd_x86_64_v3();
            case isa::x86_64_v4: return oneclass_simd_x86_64_v4();
        }
        return nullptr;
    });
    if constexpr (std::is_same_v<T, float>) return t.f32;
    else return t.f64;
}

}  // namespace oneclass::simd
#endif
