// tests/test_eval.cpp - eval/: ROC AUC (closed forms, sklearn golden values with ties), one-vs-rest.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/eval.hpp>

using namespace oneclass;

TEST_CASE("roc_auc closed forms") {
    REQUIRE(roc_auc(std::vector<double>{1, 2, 3, 4}, std::vector<int>{0, 0, 1, 1}) == 1.0);
    REQUIRE(roc_auc(std::vector<double>{4, 3, 2, 1}, std::vector<int>{0, 0, 1, 1}) == 0.0);
    REQUIRE(roc_auc(std::vector<double>{5, 5, 5, 5}, std::vector<int>{0, 1, 0, 1}) == 0.5);
    // one tie between classes among 2 x 2 pairs: (1 + 1 + 0.5 + 1) / 4
    REQUIRE(roc_auc(std::vector<double>{1, 2, 2, 3}, std::vector<int>{0, 0, 1, 1}) == 0.875);
}

TEST_CASE("roc_auc equals sklearn's roc_auc_score to 1e-12, with and without ties") {
    REQUIRE(std::abs(roc_auc(golden::auc_ties_scores, golden::auc_ties_labels) - golden::auc_ties) < 1e-12);
    REQUIRE(std::abs(roc_auc(golden::auc_cont_scores, golden::auc_cont_labels) - golden::auc_cont) < 1e-12);
}

TEST_CASE("roc_auc rejects bad input with a clear message") {
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, 2}, std::vector<int>{0}), Catch::Contains("2 scores but 1 labels"));
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, 2}, std::vector<int>{1, 1}), Catch::Contains("both classes"));
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, 2}, std::vector<int>{0, 2}), Catch::Contains("0 or 1"));
    REQUIRE_THROWS_WITH(roc_auc(std::vector<double>{1, NAN}, std::vector<int>{0, 1}), Catch::Contains("non-finite"));
}

TEST_CASE("one_vs_rest: train rows of the inlier class, label 1 for every other class") {
    const std::vector<int> tr{0, 1, 2, 1, 1, 0}, te{2, 1, 0, 1};
    const auto s = one_vs_rest(tr, te, 1);
    REQUIRE(s.train_rows == std::vector<std::size_t>{1, 3, 4});
    REQUIRE(s.test_labels == std::vector<int>{1, 0, 1, 0});
    REQUIRE_THROWS_WITH(one_vs_rest(tr, te, 2), Catch::Contains("1 training rows"));
    REQUIRE_THROWS_AS(one_vs_rest(tr, std::vector<int>{1, 1}, 1), invalid_input);
}
