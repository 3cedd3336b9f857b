// tests/mpi_fixture.hpp - what the tests run under mpirun share: the world communicator and a
// Catch2 main that fails the job when any rank fails.
#pragma once

#include <catch2/catch.hpp>

#include <oneclass/mpi/communicator.hpp>

namespace test {

inline oneclass::mpi::communicator& world() {
    static oneclass::mpi::communicator c;
    return c;
}

/// The body of main(): MPI up, Catch2's tests, and exit status 1 on every rank if any failed.
inline int mpi_test_main(int argc, char** argv) {
    oneclass::mpi::environment env(argc, argv);
    const int failed = Catch::Session().run(argc, argv);
    const double any = world().sum(failed ? 1.0 : 0.0);
    return any > 0 ? 1 : 0;
}

}  // namespace test
