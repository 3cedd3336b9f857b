// The control for the failtest: the same call with a real detector compiles.
#include <oneclass/detectors/kde.hpp>
#include <oneclass/detectors/threshold.hpp>

int main() {
    oneclass::kde<float> d;
    oneclass::matrix<float> X(2, 2);
    (void)oneclass::fit_threshold(d, X.view(), 0.9);
}
