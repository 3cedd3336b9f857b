// oneclass/eval/one_vs_rest.hpp - the one-vs-rest protocol of one-class benchmarks.
//
// Inlier class c: train on the training rows of class c only; test on the whole test split,
// label 1 (anomaly) for every other class and 0 for class c. AUC over that split is the
// per-class number papers report (Sohn et al. 2021, Sec. 4).
#pragma once

#include <oneclass/core/error.hpp>

#include <cstddef>
#include <vector>

namespace oneclass {

struct one_vs_rest_split {
    std::vector<std::size_t> train_rows;  ///< rows of the train split with label == inlier
    std::vector<int> test_labels;         ///< per test row: 1 = anomaly (label != inlier), 0 = normal
};

inline one_vs_rest_split one_vs_rest(const std::vector<int>& train_labels, const std::vector<int>& test_labels,
                                     int inlier) {
    one_vs_rest_split s;
    for (std::size_t i = 0; i < train_labels.size(); ++i)
        if (train_labels[i] == inlier) s.train_rows.push_back(i);
    s.test_labels.resize(test_labels.size());
    std::size_t normal = 0;
    for (std::size_t i = 0; i < test_labels.size(); ++i) {
        s.test_labels[i] = test_labels[i] == inlier ? 0 : 1;
        normal += test_labels[i] == inlier;
    }
    require(s.train_rows.size() >= 2, "one_vs_rest", "inlier class ", inlier, " has ", s.train_rows.size(),
            " training rows (need at least 2)");
    require(normal > 0 && normal < test_labels.size(), "one_vs_rest", "test split needs rows of class ", inlier,
            " and of other classes");
    return s;
}

}  // namespace oneclass
