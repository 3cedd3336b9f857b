// oneclass/eval/ensemble.hpp - one anomaly score from several models (Sohn et al. 2021, appendix
// A.2.2: ensembles over seeds and methods). Members score on different scales (a KDE's squared
// distances, a GDE's log-likelihoods, another network's features), so each member's test scores
// are standardised by the mean and standard deviation of its own scores on normal training data
// before they are averaged:
//
//     oneclass::score_ensemble e;
//     e.add(det_a.score(train_a), det_a.score(test_a));   // per member: normal training scores, test scores
//     e.add(det_b.score(train_b), det_b.score(test_b));
//     std::vector<double> s = e.scores();                 // higher = more anomalous
#pragma once

#include <oneclass/core/error.hpp>

#include <cmath>
#include <span>
#include <vector>

namespace oneclass {

class score_ensemble {
public:
    /// Adds a member. `normal` are its scores on normal training data (at least 2), `test` its
    /// scores on the test rows (the same rows, in the same order, for every member).
    template <class T, class U>
    void add(std::span<const T> normal, std::span<const U> test) {
        require(normal.size() >= 2, "score_ensemble", "a member needs at least 2 normal scores, got ", normal.size());
        require(sum_.empty() || test.size() == sum_.size(), "score_ensemble", "a member scores ", test.size(),
                " test rows, the others ", sum_.size());
        double m = 0, ss = 0;
        for (const auto v : normal) m += double(v);
        m /= double(normal.size());
        for (const auto v : normal) ss += (double(v) - m) * (double(v) - m);
        const double sd = std::sqrt(ss / double(normal.size() - 1));
        require(std::isfinite(m) && std::isfinite(sd), "score_ensemble", "a member's normal scores are not finite");
        const double inv = sd > 0 ? 1.0 / sd : 1.0;  // constant normal scores: centred only
        sum_.resize(test.size(), 0.0);
        for (std::size_t i = 0; i < test.size(); ++i) {
            require(std::isfinite(double(test[i])), "score_ensemble", "test score ", i, " is not finite");
            sum_[i] += (double(test[i]) - m) * inv;
        }
        ++members_;
    }
    template <class T, class U>
    void add(const std::vector<T>& normal, const std::vector<U>& test) {
        add(std::span<const T>(normal), std::span<const U>(test));
    }
    /// The mean of the members' standardised scores, per test row.
    std::vector<double> scores() const {
        require(members_ > 0, "score_ensemble", "no members");
        std::vector<double> s(sum_);
        for (auto& v : s) v /= double(members_);
        return s;
    }
    std::size_t members() const noexcept { return members_; }

private:
    std::vector<double> sum_;
    std::size_t members_ = 0;
};

}  // namespace oneclass
