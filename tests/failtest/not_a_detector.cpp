// Must NOT compile: a type without score/fit is not a Detector, so fit_threshold rejects it with a
// concept error naming Detector (checked by the failtest_not_a_detector ctest entry).
#include <oneclass/detectors/threshold.hpp>

struct not_a_detector {
    using value_type = float;
};

int main() {
    not_a_detector d;
    oneclass::matrix<float> X(2, 2);
    (void)oneclass::fit_threshold(d, X.view(), 0.9);
}
