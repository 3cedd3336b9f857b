// The one Catch2 main of the test suite (compiled once into a static library).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <oneclass/core/isa.hpp>

#include <cstdlib>

namespace {
// The tests compile their instruction-set-dependent expectations (which algorithms apply, which
// path a kernel takes) for this build's -march, so the dispatched kernels run at that level (or
// the best below it the kernel library holds) unless ONECLASS_ISA asks for another
// (test_dispatch goes through every level itself).
const bool kernels_at_compiled_level = [] {
    if (const char* e = std::getenv("ONECLASS_ISA"); !e || !*e)
        oneclass::set_kernel_isa(oneclass::best_kernel_level(oneclass::compiled_isa_level()));
    return true;
}();
}  // namespace
