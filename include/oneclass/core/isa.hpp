// oneclass/core/isa.hpp - instruction-set levels: which the CPU has, which the kernels run at.
//
// The hot kernels (convolution, batch norm: ops/dispatch.hpp) are compiled once per x86-64 level
// into the oneclass_kernels library that the CMake target oneclass::oneclass links; a program
// built with the compiler's default flags then runs the best level this CPU supports and the
// library holds (x86-64, x86-64-v3 and x86-64-v4 unless built otherwise), chosen once at
// the first kernel call:
//
//     ONECLASS_ISA=x86-64-v3 ./program          # force a level (testing, reproducing results)
//     oneclass::set_kernel_isa(oneclass::isa::x86_64);
//
// A level is one of x86-64-v1..v4 (psABI's names; v1 is the SSE2 baseline). One level gives the
// same bits on every machine that runs it; two levels may differ in the last bits (FMA, vector
// width and summation lanes differ).
#pragma once

#include <oneclass/core/error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

// 1 where the program calls the kernel library's levels (the CMake target defines
// ONECLASS_DISPATCH=1); 0 inside the library's own objects and in programs without it.
#if defined(ONECLASS_DISPATCH) && ONECLASS_DISPATCH && !defined(ONECLASS_KERNEL_TU)
#define ONECLASS_DISPATCHED 1
#else
#define ONECLASS_DISPATCHED 0
#endif

#if ONECLASS_DISPATCHED
/// Bit l set: the kernel library holds level l (its ONECLASS_KERNEL_LEVELS); defined by the library.
extern "C" unsigned oneclass_kernel_levels();
#endif

namespace oneclass {

enum class isa : int { x86_64 = 1, x86_64_v2 = 2, x86_64_v3 = 3, x86_64_v4 = 4 };

inline constexpr isa isa_levels[] = {isa::x86_64, isa::x86_64_v2, isa::x86_64_v3, isa::x86_64_v4};

constexpr const char* isa_name(isa l) {
    switch (l) {
        case isa::x86_64: return "x86-64";
        case isa::x86_64_v2: return "x86-64-v2";
        case isa::x86_64_v3: return "x86-64-v3";
        case isa::x86_64_v4: return "x86-64-v4";
    }
    return "?";
}

/// "x86-64" (or "x86-64-v1"), "x86-64-v2", "x86-64-v3", "x86-64-v4"; throws on anything else.
inline isa parse_isa(std::string_view s) {
    if (s == "x86-64-v1") return isa::x86_64;
    for (isa l : isa_levels)
        if (s == isa_name(l)) return l;
    fail("isa", "unknown instruction-set level '", s, "' (x86-64, x86-64-v2, x86-64-v3 or x86-64-v4)");
}

/// The level the including translation unit is compiled for (its -march).
constexpr isa compiled_isa_level() {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512CD__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX2__) && defined(__FMA__) && defined(__BMI2__)
    return isa::x86_64_v4;
#elif defined(__AVX2__) && defined(__FMA__) && defined(__BMI2__) && defined(__F16C__)
    return isa::x86_64_v3;
#elif defined(__SSE4_2__) && defined(__POPCNT__) && defined(__SSSE3__)
    return isa::x86_64_v2;
#else
    return isa::x86_64;
#endif
}

namespace detail {
/// The highest level whose instructions this CPU has and whose registers the OS saves (XCR0).
inline isa detect_isa() {
#if defined(__x86_64__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return isa::x86_64;
    const unsigned c1 = c;
    const auto bit = [](unsigned r, int k) { return (r >> k & 1u) != 0; };
    const bool v2 = bit(c1, 0) && bit(c1, 9) && bit(c1, 13) && bit(c1, 19) && bit(c1, 20) && bit(c1, 23);  // SSE3 SSSE3 CX16 SSE4.1/4.2 POPCNT
    if (!v2) return isa::x86_64;
    if (!bit(c1, 27)) return isa::x86_64_v2;  // no OSXSAVE: no AVX state
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6u) != 0x6u) return isa::x86_64_v2;  // XMM and YMM state
    unsigned b7 = 0;
    if (!__get_cpuid_count(7, 0, &a, &b7, &c, &d)) return isa::x86_64_v2;
    unsigned ext_c = 0;
    if (__get_cpuid(0x80000001u, &a, &b, &ext_c, &d) == 0) ext_c = 0;
    const bool v3 = bit(c1, 12) && bit(c1, 22) && bit(c1, 28) && bit(c1, 29) &&  // FMA MOVBE AVX F16C
                    bit(b7, 3) && bit(b7, 5) && bit(b7, 8) && bit(ext_c, 5);     // BMI1 AVX2 BMI2 LZCNT
    if (!v3) return isa::x86_64_v2;
    const bool v4 = (xcr0_lo & 0xE0u) == 0xE0u &&                                 // opmask and ZMM state
                    bit(b7, 16) && bit(b7, 17) && bit(b7, 28) && bit(b7, 30) && bit(b7, 31);  // F DQ CD BW VL
    return v4 ? isa::x86_64_v4 : isa::x86_64_v3;
#else
    return isa::x86_64;
#endif
}

/// 0: not chosen yet; else the level the dispatched kernels run (an isa value).
inline std::atomic<int>& chosen_isa() {
    static std::atomic<int> level{0};
    return level;
}
}  // namespace detail

/// The best level this CPU supports (computed once).
inline isa cpu_isa_level() {
    static const isa l = detail::detect_isa();
    return l;
}

/// Whether the kernels can run at level `l` in this program: the kernel library holds it (every
/// level where the kernels are compiled inline).
inline bool kernel_level_built(isa l) {
#if ONECLASS_DISPATCHED
    return (oneclass_kernel_levels() >> int(l) & 1u) != 0;
#else
    (void)l;
    return true;
#endif
}

namespace detail {
inline std::string built_levels() {
    std::string s;
    for (isa l : isa_levels)
        if (kernel_level_built(l)) s += (s.empty() ? "" : ", ") + std::string(isa_name(l));
    return s;
}
/// `l` checked for the CPU and the kernel library; `who` names the request in the message.
inline void require_runnable(isa l, const char* who) {
    require(int(l) <= int(cpu_isa_level()), who, "this CPU supports up to ", isa_name(cpu_isa_level()), ", not ", isa_name(l));
    require(kernel_level_built(l), who, isa_name(l), " is not built into this program's kernel library (it holds ", built_levels(),
            "; CMake option ONECLASS_KERNEL_LEVELS)");
}
}  // namespace detail

/// The highest level at most `cap` that the CPU runs and the kernel library holds.
inline isa best_kernel_level(isa cap) {
    for (int l = std::min(int(cap), int(cpu_isa_level())); l >= 1; --l)
        if (kernel_level_built(isa(l))) return isa(l);
    fail("oneclass_kernels", "the kernel library holds no level this CPU runs (it holds ", detail::built_levels(), "; this CPU: ",
         isa_name(cpu_isa_level()), ")");
}

/// Makes the dispatched kernels run at level `l` from the next kernel call on; a level above the
/// CPU's (its instructions would fault) or one the kernel library lacks is refused.
inline void set_kernel_isa(isa l) {
    detail::require_runnable(l, "set_kernel_isa");
    detail::chosen_isa().store(int(l), std::memory_order_relaxed);
}

/// The level the dispatched kernels run at: set_kernel_isa's, else ONECLASS_ISA's (read at the
/// first call), else the best the CPU and the library have.
inline isa kernel_isa() {
    int l = detail::chosen_isa().load(std::memory_order_relaxed);
    if (l != 0) return isa(l);
    isa want = isa::x86_64_v4;
    if (const char* env = std::getenv("ONECLASS_ISA"); env && *env) {
        try {
            want = parse_isa(env);
        } catch (const error&) {
            fail("ONECLASS_ISA", "unknown level '", env, "' (x86-64, x86-64-v2, x86-64-v3 or x86-64-v4)");
        }
        detail::require_runnable(want, "ONECLASS_ISA");
    } else {
        want = best_kernel_level(want);
    }
    int expected = 0;
    detail::chosen_isa().compare_exchange_strong(expected, int(want), std::memory_order_relaxed);
    return isa(detail::chosen_isa().load(std::memory_order_relaxed));
}

namespace detail {
/// The table of kernel_isa()'s level, loaded once per level by load(level) (one getter per level
/// of the kernel library), then read with one atomic load.
template <class Table, class Load>
const Table& table_for_level(Load&& load) {
    static std::array<std::atomic<const Table*>, 5> loaded{};
    static std::mutex loading;
    const isa l = kernel_isa();
    auto& slot = loaded[std::size_t(l)];
    const Table* t = slot.load(std::memory_order_acquire);
    if (!t) {
        std::lock_guard<std::mutex> g(loading);
        t = slot.load(std::memory_order_relaxed);
        if (!t) {
            t = load(l);
            require(t != nullptr && t->abi == Table::current_abi && t->size == sizeof(Table) && t->level == l, "oneclass_kernels",
                    "the kernel library was built from other headers than this program's (rebuild it with them)");
            slot.store(t, std::memory_order_release);
        }
    }
    return *t;
}
}  // namespace detail

}  // namespace oneclass
