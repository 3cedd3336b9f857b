// tests/test_threshold_serialize.cpp - thresholds (numpy quantiles) and model files of every
// detector: exact round trip; truncated, corrupted, wrong-kind, wrong-version files throw.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/detectors.hpp>

#include <filesystem>
#include <fstream>

using namespace oneclass;
namespace fs = std::filesystem;

TEST_CASE("quantile equals numpy.quantile (linear)") {
    const std::span<const double> v(golden::quantile_values);
    REQUIRE(quantile(v, 0.0) == Approx(golden::quantile_0_0).epsilon(1e-14));
    REQUIRE(quantile(v, 0.5) == Approx(golden::quantile_0_5).epsilon(1e-14));
    REQUIRE(quantile(v, 0.9) == Approx(golden::quantile_0_9).epsilon(1e-14));
    REQUIRE(quantile(v, 0.95) == Approx(golden::quantile_0_95).epsilon(1e-14));
    REQUIRE(quantile(v, 1.0) == Approx(golden::quantile_1_0).epsilon(1e-14));
    REQUIRE_THROWS_WITH(quantile(v, 1.5), Catch::Contains("q must be in [0, 1]"));
    REQUIRE_THROWS_AS(quantile(std::span<const double>(), 0.5), invalid_input);
}

TEST_CASE("fit_threshold flags about 1 - q of held-out normal data, and far outliers") {
    const auto X = test::random_matrix<float>(500, 4, test::seed());
    const auto held = test::random_matrix<float>(1000, 4, test::seed() + 1);
    kde<float> det({.normalize = normalization::none});
    (void)det.fit(X.view());
    const auto thr = fit_threshold(det, held.view(), 0.9);
    REQUIRE(thr.quantile == 0.9);
    const auto y = predict(det, held.view(), thr);
    const double rate = std::accumulate(y.begin(), y.end(), 0.0) / double(y.size());
    REQUIRE(rate == Approx(0.1).margin(0.002));  // exactly the tail above the interpolated quantile
    const auto far = test::random_matrix<float>(50, 4, 3, 1.0, 10.0);
    for (int v : predict(det, far.view(), thr)) REQUIRE(v == 1);
}

namespace {
template <class D>
void round_trip(D det, const fs::path& dir) {
    using T = typename D::value_type;
    const auto X = test::random_matrix<T>(120, 7, test::seed() + 5);
    const auto Q = test::random_matrix<T>(30, 7, test::seed() + 6, 2.0);
    REQUIRE_THROWS_AS(save_model(det, dir / "unfitted.ocm"), not_fitted);
    (void)det.fit(X.view());
    const fs::path p = dir / (std::string(D::kind) + std::to_string(sizeof(T)) + ".ocm");
    save_model(det, p);
    const D back = load_model<D>(p);
    REQUIRE(back.score(Q.view()) == det.score(Q.view()));
    const auto any = load_any_model<T>(p);
    REQUIRE(std::holds_alternative<D>(any));

    const std::string bytes = read_file_bytes(p, "t");
    for (std::size_t cut : {std::size_t(0), std::size_t(5), std::size_t(40), bytes.size() / 2, bytes.size() - 1}) {
        std::ofstream(dir / "cut.ocm", std::ios::binary).write(bytes.data(), std::streamsize(cut));
        INFO(D::kind << " truncated at " << cut);
        REQUIRE_THROWS_AS(load_model<D>(dir / "cut.ocm"), io_error);
    }
    std::string bad = bytes;
    bad[bad.size() / 2] ^= 0x01;
    std::ofstream(dir / "bad.ocm", std::ios::binary).write(bad.data(), std::streamsize(bad.size()));
    REQUIRE_THROWS_WITH(load_model<D>(dir / "bad.ocm"), Catch::Contains("checksum"));
}
}  // namespace

TEST_CASE("every detector round-trips through a model file; damage is detected") {
    const fs::path dir = fs::temp_directory_path() / ("oneclass_models_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    round_trip(kde<float>(), dir);
    round_trip(kde<double>({.gamma = 0.3, .normalize = normalization::none}), dir);
    round_trip(ocsvm<float>({.nu = 0.2}), dir);
    round_trip(ocsvm<double>({.nu = 0.4, .kernel = svm_kernel::linear}), dir);
    round_trip(gde<float>(), dir);
    round_trip(gmm<double>({.components = 3, .seed = 2}), dir);
    round_trip(knn<float>({.k = 3}), dir);
    round_trip(knn<double>({.k = 1, .metric = knn_metric::euclidean}), dir);

    // wrong kind, wrong precision, wrong version
    REQUIRE_THROWS_WITH(load_model<gde<float>>(dir / "kde4.ocm"), Catch::Contains("holds a kde model, expected gde"));
    REQUIRE_THROWS_WITH(load_model<kde<float>>(dir / "kde8.ocm"), Catch::Contains("64-bit floats, expected 32"));
    const std::string bytes = read_file_bytes(dir / "kde4.ocm", "t");
    const framed_file f = unframe(bytes, 1, "kde4");
    write_file_atomic(dir / "v9.ocm", frame_payload(9, f.kind, f.payload), "t");
    REQUIRE_THROWS_WITH(load_model<kde<float>>(dir / "v9.ocm"), Catch::Contains("format version 9"));
    REQUIRE_THROWS_WITH(load_model<kde<float>>(dir / "nope.ocm"), Catch::Contains("cannot open"));
    // no temporaries left behind by the atomic writes
    for (auto& e : fs::directory_iterator(dir)) REQUIRE(e.path().string().find(".tmp.") == std::string::npos);
    fs::remove_all(dir);
}
