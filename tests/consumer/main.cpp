// Fits a KDE on two clusters and checks that a far point scores as more anomalous; runs a
// convolution through the kernels (the kernel library's, chosen at run time, when the package
// was built with ONECLASS_DISPATCH) against the direct reference.
#include <oneclass/detectors.hpp>
#include <oneclass/eval.hpp>
#include <oneclass/ops/convolution.hpp>
#include <oneclass/ops/ref/conv.hpp>

#include <cmath>
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

    const oneclass::ops::conv_shape g{2, 16, 8, 8, 16, 3, 3, 1, 1};
    std::vector<float> x(g.N * g.C * g.H * g.W), w(g.K * g.crs()), y(g.N * g.K * g.P() * g.Q());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(double(i)));
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(std::cos(double(3 * i)));
    oneclass::ops::conv2d_forward<float>(x.data(), w.data(), nullptr, g, y.data());
    const auto want = oneclass::ops::ref::conv2d_forward<float>(x.data(), w.data(), nullptr, g);
    double worst = 0;  // sums of 144 products of values in [-1, 1]
    for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(double(y[i]) - want[i]));
    std::printf("kernels: %s; convolution's largest error %g\n", oneclass::ops::kernel_description().c_str(), worst);
    return (s[1] > s[0] && auc == 1.0 && worst < 1e-3) ? 0 : 1;
}
