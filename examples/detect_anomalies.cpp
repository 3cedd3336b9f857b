// examples/detect_anomalies.cpp - the detector stage on your own features, end to end.
//
// Fits each detector on "normal" feature rows, calibrates a threshold on held-out normal rows
// (5% false alarms), flags anomalies, reports the AUC, and saves / reloads a model.
//
//     ./build/examples/detect_anomalies
#include <oneclass/oneclass.hpp>

#include <cstdio>

int main() {
    using namespace oneclass;
    rng gen(2021);
    // Normal data: points near a 16-d ring; anomalies: the same ring, shifted and widened.
    auto sample = [&](std::size_t n, double shift, double noise) {
        matrix<float> X(n, 16);
        for (std::size_t i = 0; i < n; ++i) {
            const double t = 6.283185307179586 * gen.uniform();
            for (std::size_t j = 0; j < 16; ++j)
                X(i, j) = float((j % 2 ? std::sin(t + double(j)) : std::cos(t + double(j))) + shift * double(j % 3) +
                                noise * gen.normal());
        }
        return X;
    };
    const matrix<float> train = sample(2000, 0.0, 0.1), held_out = sample(500, 0.0, 0.1);
    const matrix<float> test_normal = sample(500, 0.0, 0.1), test_anomal = sample(500, 0.05, 0.2);
    matrix<float> test(1000, 16);
    std::copy_n(test_normal.data(), test_normal.size(), test.data());
    std::copy_n(test_anomal.data(), test_anomal.size(), test.data() + test_normal.size());
    std::vector<int> labels(1000, 0);
    std::fill(labels.begin() + 500, labels.end(), 1);

    auto report = [&](const char* name, const auto& det) {
        const auto scores = det.score(test.view());  // higher = more anomalous
        const auto thr = fit_threshold(det, held_out.view(), 0.95);
        const auto flags = predict<float>(scores, thr);
        std::size_t caught = 0, false_alarms = 0;
        for (std::size_t i = 0; i < flags.size(); ++i) (labels[i] ? caught : false_alarms) += std::size_t(flags[i]);
        std::printf("%-6s auc=%.4f  threshold=%.4g  anomalies caught %zu/500, false alarms %zu/500\n", name,
                    roc_auc(scores, labels), thr.value, caught, false_alarms);
    };
    kde<float> k;
    (void)k.fit(train.view());
    report("kde", k);
    ocsvm<float> s({.nu = 0.1});
    const auto fr = s.fit(train.view());
    std::printf("ocsvm: %zu support vectors, %zu SMO iterations, rho %.4f\n", s.n_support(), fr.iterations, s.rho());
    report("ocsvm", s);
    gde<float> g;
    (void)g.fit(train.view());
    report("gde", g);
    knn<float> nn;
    (void)nn.fit(train.view());
    report("knn", nn);

    save_model(k, "kde-example.ocm");
    const auto k2 = load_model<kde<float>>("kde-example.ocm");
    std::printf("reloaded kde gives identical scores: %s\n", k2.score(test.view()) == k.score(test.view()) ? "yes" : "no");
    return 0;
}
