// oneclass/core/intrinsics.hpp - <immintrin.h> without GCC 12's false uninitialised warnings; ONECLASS_IVDEP.
//
// GCC 12's AVX / AVX-512 headers make their "undefined" vectors by self-initialisation
// (`__m512d __Y = __Y;`, GCC bug 105593, fixed in GCC 13), and every use inlined into Eigen's or
// our kernels then reports -Wmaybe-uninitialized: hundreds of lines that would bury a real one.
// Middle-end warnings are silenced by the pragma state at the warning's location, which for these
// is inside the intrinsic headers, so the headers are included once here between push and pop
// and the warning stays on for every line of ours. Include this before Eigen, xsimd or xtensor.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// "The iterations of the next loop are independent" for GCC (ivdep). Clang reads the same from the
// loops' __restrict pointers; its assume_safety pragma warns wherever it cannot vectorise (under
// the sanitizers, say), so it is not used.
#if defined(__GNUC__) && !defined(__clang__)
#define ONECLASS_IVDEP _Pragma("GCC ivdep")
#else
#define ONECLASS_IVDEP
#endif
