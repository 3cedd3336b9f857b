// tests/test_mpi.cpp - the MPI parts under mpirun (ctest runs it on 1, 2 and 3 ranks): sharded
// KDE and kNN equal one model on the whole training set, split scoring equals one process,
// collectives gather in rank order, and a mismatch between ranks is an exception on every rank
// (never a hang).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "mpi_fixture.hpp"
#include "test_util.hpp"

#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/mpi/sharded.hpp>

using namespace oneclass;

using test::world;

TEST_CASE("shard_rows: contiguous blocks in rank order that cover every row once") {
    for (std::size_t n : {0, 1, 2, 7, 100})
        for (int P : {1, 2, 3, 8}) {
            std::size_t next = 0, biggest = 0, smallest = n;
            for (int r = 0; r < P; ++r) {
                const auto [lo, hi] = mpi::shard_rows(n, r, P);
                REQUIRE(lo == next);
                next = hi;
                biggest = std::max(biggest, hi - lo), smallest = std::min(smallest, hi - lo);
            }
            REQUIRE(next == n);
            REQUIRE(biggest - smallest <= 1);
        }
    REQUIRE_THROWS_WITH(mpi::shard_rows(5, 2, 2), Catch::Contains("rank 2 of 2"));
}

TEST_CASE("all_gather: every rank's vector, of any length, in rank order, on every rank") {
    const auto& c = world();
    std::vector<int> mine(std::size_t(c.rank()), c.rank() * 10);  // rank r sends r copies of 10 r
    const auto all = c.all_gather(mine);
    REQUIRE(int(all.size()) == c.size());
    for (int r = 0; r < c.size(); ++r) REQUIRE(all[std::size_t(r)] == std::vector<int>(std::size_t(r), r * 10));
    REQUIRE(c.sum(double(c.rank() + 1)) == double(c.size() * (c.size() + 1) / 2));
    REQUIRE(c.broadcast(std::vector<double>{double(c.rank()) + 0.5}) == std::vector<double>{0.5});
}

TEST_CASE("sharded KDE and kNN: every rank's shard merged equals one model on the whole set") {
    const auto& c = world();
    // every rank draws the same data and keeps its block, as a real job reads its part of a file
    const std::size_t n = 301, d = 24;
    const auto X = test::random_matrix<float>(n, d, 21), Q = test::random_matrix<float>(57, d, 22, 1.3);
    const auto [lo, hi] = mpi::shard_rows(n, c.rank(), c.size());
    const auto shard = X.view().middle_rows(lo, hi - lo);

    // the default kernel width over the whole set: the same moments, summed per rank first
    const double g_whole = default_gamma<float>(detail::preprocess(X.view(), normalization::l2).view());
    const double g_sharded = mpi::sharded_default_gamma<float>(c, shard, normalization::l2);
    REQUIRE(g_sharded == Approx(g_whole).epsilon(1e-12));

    kde<float> whole;
    (void)whole.fit(X.view());
    REQUIRE(whole.gamma() == Approx(g_sharded).epsilon(1e-12));
    // the tolerance of the merge test in test_kde_knn (float, 3e-5 per dimension against double,
    // so twice that between two float answers)
    const double tol = 2 * 3e-5 * double(d);
    REQUIRE_ALLCLOSE(mpi::sharded_kde_scores<float>(c, shard, Q.view()), whole.score(Q.view()), tol, tol);
    REQUIRE_ALLCLOSE(mpi::sharded_kde_scores<float>(c, shard, Q.view(), {.gamma = 3.0f}),
                     [&] {
                         kde<float> k({.gamma = 3.0f});
                         (void)k.fit(X.view());
                         return k.score(Q.view());
                     }(),
                     tol, tol);

    for (std::size_t k : {std::size_t(1), std::size_t(4)}) {
        knn<float> kw({.k = k});
        (void)kw.fit(X.view());
        REQUIRE_ALLCLOSE(mpi::sharded_knn_scores<float>(c, shard, Q.view(), {.k = k}), kw.score(Q.view()), 2e-5, 2e-5);
    }
    // a set smaller than the ranks: some shards are empty, the merge still answers
    const auto [l2, h2] = mpi::shard_rows(2, c.rank(), c.size());
    knn<float> two({.k = 2});
    (void)two.fit(X.view().middle_rows(0, 2));
    REQUIRE_ALLCLOSE(mpi::sharded_knn_scores<float>(c, X.view().middle_rows(l2, h2 - l2), Q.view(), {.k = 2}), two.score(Q.view()),
                     2e-5, 2e-5);
    REQUIRE_THROWS_WITH(mpi::sharded_knn_scores<float>(c, X.view().middle_rows(l2, h2 - l2), Q.view(), {.k = 3}),
                        Catch::Contains("needs at least 3 training rows, the ranks hold 2"));
}

TEST_CASE("split_scores: each rank scores its block of the queries, every rank gets them all") {
    const auto& c = world();
    const auto X = test::random_matrix<float>(200, 12, 31), Q = test::random_matrix<float>(77, 12, 32);
    gde<float> g;
    (void)g.fit(X.view());
    REQUIRE_ALLCLOSE(mpi::split_scores(c, g, Q.view()), g.score(Q.view()), 1e-5, 1e-5);
    kde<float> k;
    (void)k.fit(X.view());
    REQUIRE_ALLCLOSE(mpi::split_scores(c, k, Q.view()), k.score(Q.view()), 1e-5, 1e-5);
    // fewer queries than ranks: the ranks without a row still take part
    REQUIRE(mpi::split_scores(c, k, Q.view().middle_rows(0, 1)).size() == 1);
}

TEST_CASE("ranks that disagree on the queries: an exception on every rank, not a hang") {
    const auto& c = world();
    if (c.size() < 2) return;
    const auto X = test::random_matrix<float>(50, 8, 41);
    const auto Q = test::random_matrix<float>(c.rank() == 0 ? 5 : 6, 8, 42);
    const auto [lo, hi] = mpi::shard_rows(50, c.rank(), c.size());
    REQUIRE_THROWS_WITH(mpi::sharded_kde_scores<float>(c, X.view().middle_rows(lo, hi - lo), Q.view()),
                        Catch::Contains("every rank scores the same queries"));
}

TEST_CASE("agree: an exception on one rank is the same exception on every rank") {
    const auto& c = world();
    REQUIRE_NOTHROW(c.agree([] {}));
    const int last = c.size() - 1;
    REQUIRE_THROWS_WITH(c.agree([&] {
        if (c.rank() == last) fail("test", "bad rows on the last rank");
    }),
                        Catch::Contains("rank " + std::to_string(last) + ": ") && Catch::Contains("bad rows on the last rank"));
    // a training shard of the wrong width on one rank only: every rank hears of it
    const auto X = test::random_matrix<float>(40, c.rank() == last ? 7 : 8, 51), Q = test::random_matrix<float>(5, 8, 52);
    REQUIRE_THROWS_WITH(mpi::sharded_kde_scores<float>(c, X.view(), Q.view()), Catch::Contains("the training shard has 7 columns"));
    kde<float> k;
    (void)k.fit(X.view());
    // queries of the wrong width: every rank throws, those without a row to score too
    REQUIRE_THROWS_WITH(mpi::split_scores(c, k, test::random_matrix<float>(1, 9, 53).view()), Catch::Contains("queries of 9 columns"));
}

int main(int argc, char** argv) {
    mpi::environment env(argc, argv);
    const int failed = Catch::Session().run(argc, argv);
    // the job fails if any rank failed
    const double any = world().sum(failed ? 1.0 : 0.0);
    return any > 0 ? 1 : 0;
}
