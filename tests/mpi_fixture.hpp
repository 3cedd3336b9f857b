// tests/mpi_fixture.hpp - what the test files of test_mpi (run under mpirun) share: the world
// communicator.
#pragma once

#include <oneclass/mpi/communicator.hpp>

namespace test {

inline oneclass::mpi::communicator& world() {
    static oneclass::mpi::communicator c;
    return c;
}

}  // namespace test
