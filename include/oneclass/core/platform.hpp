// oneclass/core/platform.hpp - what this build runs on: the library version, the instruction set
// the including code was compiled for, the running CPU's, and the BLAS with its kernel choice.
//
// A header-only library is compiled with the consumer's flags: the same source runs its SSE2,
// AVX2 or AVX-512 kernels depending on -march (docs/benchmarks.md gives the cost of each). And
// Debian 12's OpenBLAS 0.3.21 does not know the newest CPUs (a Xeon of family 6 model 207, say)
// and silently runs its generic "Prescott" kernels there; `blas_kernel_warning()` notices and
// names the fix, OPENBLAS_CORETYPE. `oneclass --version` prints all of it.
#pragma once

#include <oneclass/core/intrinsics.hpp>  // first: before any header that pulls in <immintrin.h>

#include <cblas.h>

#include <cstdlib>
#include <optional>
#include <string>

// Weak: resolved when the BLAS is OpenBLAS, null with any other CBLAS.
extern "C" char* openblas_get_corename(void) __attribute__((weak));
extern "C" char* openblas_get_config(void) __attribute__((weak));

namespace oneclass {

/// The library's version (CMakeLists.txt checks that its project() version says the same).
inline constexpr const char* version_string = "0.1.0";

/// The instruction set of the translation unit that includes this (the consumer's -march).
constexpr const char* compiled_isa() {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
    return "AVX-512 (F/BW/DQ/VL) + FMA";
#elif defined(__AVX2__) && defined(__FMA__)
    return "AVX2 + FMA";
#elif defined(__AVX__)
    return "AVX";
#elif defined(__SSE4_2__)
    return "SSE4.2";
#elif defined(__SSE2__)
    return "SSE2 (baseline x86-64)";
#else
    return "scalar";
#endif
}

/// The best of those instruction sets the running CPU supports.
inline const char* cpu_isa() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "AVX-512 (F/BW/DQ/VL) + FMA";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "AVX2 + FMA";
    if (__builtin_cpu_supports("avx")) return "AVX";
    if (__builtin_cpu_supports("sse4.2")) return "SSE4.2";
    return "SSE2 (baseline x86-64)";
#else
    return "unknown (not x86)";
#endif
}

struct blas_info {
    std::string name;    ///< "OpenBLAS 0.3.21 ..." (its build configuration) or "CBLAS"
    std::string core;    ///< the kernel set OpenBLAS chose at run time ("" for another BLAS)
    bool openblas = false;
};

inline blas_info blas() {
    blas_info b{"CBLAS (not OpenBLAS: kernel choice unknown)", "", false};
    if (&openblas_get_config != nullptr && &openblas_get_corename != nullptr) {
        b.openblas = true;
        b.name = openblas_get_config();
        b.core = openblas_get_corename();
        while (!b.name.empty() && b.name.back() == ' ') b.name.pop_back();
    }
    return b;
}

namespace detail {
/// The rule of blas_kernel_warning, apart from the machine: OpenBLAS core `core` on a CPU with (or
/// without) AVX2 + FMA and AVX-512; `chosen`: the user set OPENBLAS_CORETYPE, so it is deliberate.
inline std::optional<std::string> kernel_warning(const std::string& core, bool avx2_fma, bool avx512, bool chosen,
                                                 const std::string& cpu) {
    if (chosen || !avx2_fma || core.empty()) return std::nullopt;
    for (const char* fast : {"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator"})
        if (core == fast) return std::nullopt;
    return "OpenBLAS runs its generic '" + core + "' kernels on this " + cpu +
           " CPU (this OpenBLAS does not know the model), several times slower for matrix products; set "
           "OPENBLAS_CORETYPE=" + (avx512 ? "SkylakeX" : "Haswell") + " in the environment";
}
}  // namespace detail

/// A line saying that OpenBLAS runs kernels below what this CPU can do, with the fix; nothing when
/// its choice fits, was set by OPENBLAS_CORETYPE, or the BLAS is not OpenBLAS.
inline std::optional<std::string> blas_kernel_warning() {
#if defined(__x86_64__)
    const blas_info b = blas();
    if (!b.openblas) return std::nullopt;
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return detail::kernel_warning(b.core, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), avx512,
                                  std::getenv("OPENBLAS_CORETYPE") != nullptr, cpu_isa());
#else
    return std::nullopt;
#endif
}

}  // namespace oneclass
