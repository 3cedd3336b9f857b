// Fits a KDE on two clusters and checks that a far point scores as more anomalous.
#include <oneclass/detectors.hpp>
#include <oneclass/eval.hpp>

#include <cstdio>
#include <vector>

int main() {
    std::vector<float> train, test;
    for (int i = 0; i < 40; ++i) {
        const float t = float(i) / 40.0f;
        train.insert(train.end(), {t, 1.0f - t, 0.5f});
    }
    test.insert(test.end(), {0.5f, 0.5f, 0.5f, 9.0f, -9.0f, 3.0f});
    oneclass::kde<float> det({.normalize = oneclass::normalization::none});
    (void)det.fit(oneclass::matrix_view<const float>(train.data(), 40, 3));
    const auto s = det.score(oneclass::matrix_view<const float>(test.data(), 2, 3));
    const double auc = oneclass::roc_auc(s, std::vector<int>{0, 1});
    std::printf("normal=%g far=%g auc=%g\n", double(s[0]), double(s[1]), auc);
    return (s[1] > s[0] && auc == 1.0) ? 0 : 1;
}
