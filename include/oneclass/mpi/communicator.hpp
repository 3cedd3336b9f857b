// oneclass/mpi/communicator.hpp - the few MPI collectives oneclass uses, over a communicator it
// does not own (MPI_COMM_WORLD by default), with errors as exceptions.
//
// Everything here is an all-gather in rank order or a broadcast: a reduction is always finished
// by every rank itself, summing the gathered parts in rank order, so that its result does not
// depend on the order in which MPI's own reduction trees combine them (MPI_Allreduce on floats
// gives no such promise).
//
//     oneclass::mpi::environment env(argc, argv);      // MPI_Init / MPI_Finalize
//     oneclass::mpi::communicator comm;                // MPI_COMM_WORLD
//     auto parts = comm.all_gather(std::vector<double>{x});   // parts[r] = rank r's vector
//
// Needs <mpi.h>: a program that includes it links MPI::MPI_CXX (CMake: ONECLASS_WITH_MPI).
#pragma once

#include <oneclass/core/error.hpp>

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

namespace oneclass::mpi {

namespace detail {
inline void check(int rc, const char* what) {
    if (rc == MPI_SUCCESS) return;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fail("mpi", what, " failed: ", std::string(msg, std::size_t(len)));
}
}  // namespace detail

/// MPI_Init on construction (unless MPI is already initialised), MPI_Finalize on destruction.
class environment {
public:
    environment(int& argc, char**& argv) {
        int done = 0;
        MPI_Initialized(&done);
        if (!done) {
            detail::check(MPI_Init(&argc, &argv), "MPI_Init");
            owner_ = true;
        }
    }
    environment(const environment&) = delete;
    environment& operator=(const environment&) = delete;
    ~environment() {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (owner_ && !finalized) MPI_Finalize();
    }

private:
    bool owner_ = false;
};

class communicator {
public:
    explicit communicator(MPI_Comm c = MPI_COMM_WORLD) : c_(c) {
        // errors come back as codes (thrown here) instead of aborting every rank
        detail::check(MPI_Comm_set_errhandler(c_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        detail::check(MPI_Comm_rank(c_, &rank_), "MPI_Comm_rank");
        detail::check(MPI_Comm_size(c_, &size_), "MPI_Comm_size");
    }
    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }
    MPI_Comm native() const noexcept { return c_; }

    /// Every rank's vector (any length, any trivially copyable T), on every rank, in rank order.
    template <class T>
    std::vector<std::vector<T>> all_gather(const std::vector<T>& mine) const {
        static_assert(std::is_trivially_copyable_v<T>);
        const std::size_t P = static_cast<std::size_t>(size_);
        const long long bytes = static_cast<long long>(mine.size() * sizeof(T));
        std::vector<long long> sizes(P, 0);
        detail::check(MPI_Allgather(&bytes, 1, MPI_LONG_LONG, sizes.data(), 1, MPI_LONG_LONG, c_), "MPI_Allgather");
        std::vector<int> counts(P, 0), offsets(P, 0);
        long long total = 0;
        for (std::size_t r = 0; r < P; ++r) {
            require(sizes[r] % static_cast<long long>(sizeof(T)) == 0 && total + sizes[r] < (1LL << 31), "mpi::all_gather", "rank ",
                    r, " sent ", sizes[r], " bytes (the gather is limited to 2 GiB)");
            counts[r] = static_cast<int>(sizes[r]);
            offsets[r] = static_cast<int>(total);
            total += sizes[r];
        }
        std::vector<unsigned char> all(static_cast<std::size_t>(total) + 1);
        detail::check(MPI_Allgatherv(mine.data(), static_cast<int>(bytes), MPI_BYTE, all.data(), counts.data(), offsets.data(),
                                     MPI_BYTE, c_),
                      "MPI_Allgatherv");
        std::vector<std::vector<T>> out(P);
        for (std::size_t r = 0; r < P; ++r) {
            out[r].resize(static_cast<std::size_t>(counts[r]) / sizeof(T));
            if (counts[r] > 0) std::memcpy(out[r].data(), all.data() + offsets[r], static_cast<std::size_t>(counts[r]));
        }
        return out;
    }

    /// Rank `root`'s vector on every rank.
    template <class T>
    std::vector<T> broadcast(std::vector<T> v, int root = 0) const {
        static_assert(std::is_trivially_copyable_v<T>);
        long long n = (long long)v.size();
        detail::check(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, c_), "MPI_Bcast");
        v.resize(std::size_t(n));
        if (n > 0) detail::check(MPI_Bcast(v.data(), int(std::size_t(n) * sizeof(T)), MPI_BYTE, root, c_), "MPI_Bcast");
        return v;
    }

    /// The sum of one double per rank, added in rank order on every rank (the same bits everywhere
    /// and on every run).
    double sum(double mine) const {
        double s = 0;
        for (const auto& part : all_gather(std::vector<double>{mine})) s += part[0];
        return s;
    }

    /// Element-wise sum of every rank's `v` (the same length on every rank), in place, the same
    /// bits on every rank and on every run: a ring all-reduce (each of P chunks is summed along
    /// the ring starting at the rank of its index, ((v_c + v_c+1) + v_c+2) + ..., then passed
    /// round), so each rank sends and receives 2 (P - 1) / P of the buffer, and the order of every
    /// sum is fixed by P alone, never by timing.
    template <class T>
    void sum_in_place(std::vector<T>& v) const {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
        const MPI_Datatype type = std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
        const std::size_t P = std::size_t(size_), r = std::size_t(rank_);
        const auto lengths = all_gather(std::vector<std::uint64_t>{v.size()});
        for (std::size_t q = 0; q < P; ++q)
            require(lengths[q][0] == v.size(), "mpi::sum_in_place", "rank ", q, " holds ", lengths[q][0], " values, rank ", r,
                    " ", v.size(), " (every rank sums vectors of one length)");
        if (P == 1 || v.empty()) return;
        const std::size_t n = v.size();
        auto chunk = [&](std::size_t c) {  // chunk c of P: [lo, hi)
            c %= P;
            return std::pair{c * n / P, (c + 1) * n / P};
        };
        thread_local std::vector<T> in;  // reused: a training step sums a model-sized buffer every step
        in.resize((n + P - 1) / P + 1);
        const int next = int((r + 1) % P), prev = int((r + P - 1) % P);
        auto exchange = [&](std::size_t send_c, std::size_t recv_c) {
            const auto [slo, shi] = chunk(send_c);
            const auto [rlo, rhi] = chunk(recv_c);
            detail::check(MPI_Sendrecv(v.data() + slo, int(shi - slo), type, next, 71, in.data(), int(rhi - rlo), type,
                                       prev, 71, c_, MPI_STATUS_IGNORE),
                          "MPI_Sendrecv");
            return std::pair{rlo, rhi};
        };
        // reduce-scatter: at step s rank r passes on its partial sum of chunk r - s and adds its
        // own values to the partial of chunk r - s - 1 (the received sum first, in ring order)
        for (std::size_t s = 0; s + 1 < P; ++s) {
            const auto [lo, hi] = exchange(r + P - s, r + P - s - 1);
            for (std::size_t i = lo; i < hi; ++i) v[i] = in[i - lo] + v[i];
        }
        // rank r now holds the full sum of chunk r + 1; all-gather the finished chunks round the ring
        for (std::size_t s = 0; s + 1 < P; ++s) {
            const auto [lo, hi] = exchange(r + 1 + P - s, r + P - s);
            std::copy(in.begin(), in.begin() + std::ptrdiff_t(hi - lo), v.begin() + std::ptrdiff_t(lo));
        }
    }

    /// Runs `f` on every rank; if it throws on any rank, every rank throws the message of the
    /// lowest such rank. Checks of a rank's own input (its shard's width, its values) go through
    /// this before a collective, so that one rank's error never leaves the others waiting in it.
    template <class F>
    void agree(F&& f) const {
        std::string why;
        bool failed = false;
        try {
            f();
        } catch (const std::exception& e) {
            failed = true;
            why = e.what();
        }
        const auto all = all_gather(std::vector<char>(why.begin(), why.end()));
        const auto flags = all_gather(std::vector<int>{failed ? 1 : 0});
        for (int r = 0; r < size_; ++r)
            if (flags[std::size_t(r)][0])
                fail("mpi", "rank ", r, ": ", std::string(all[std::size_t(r)].begin(), all[std::size_t(r)].end()));
    }

private:
    MPI_Comm c_;
    int rank_ = 0, size_ = 1;
};

}  // namespace oneclass::mpi
