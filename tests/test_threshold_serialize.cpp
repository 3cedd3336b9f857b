// tests/test_threshold_serialize.cpp - thresholds (numpy quantiles) and model files of every
// detector: exact round trip; truncated, corrupted, wrong-kind, wrong-version files throw.
#include "test_util.hpp"
#include "golden/golden_values.hpp"

#include <oneclass/detectors.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

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

namespace {
// A detector written outside the library: the squared distance to the training mean, shrunk
// toward the origin by the setting "shrink". It joins the built-in list for names, settings,
// construction by name and loading.
template <class T>
struct centroid_params {
    double shrink = 0;  ///< in [0, 1): the mean is scaled by 1 - shrink
};

template <class T>
class centroid {
public:
    using value_type = T;
    using params_type = centroid_params<T>;
    static constexpr const char* kind = "centroid";
    centroid() = default;
    explicit centroid(params_type p) : p_(p) {}
    static std::vector<setting<params_type>> settings() {
        return {{"shrink", "pull the mean toward 0 by this fraction (default 0)", false, 0, 0.99, false,
                 [](params_type& p, double x, std::uint64_t) { p.shrink = x; }}};
    }
    fit_report fit(matrix_view<const T> X) {
        mean_.assign(X.cols(), 0);
        for (std::size_t i = 0; i < X.rows(); ++i)
            for (std::size_t j = 0; j < X.cols(); ++j) mean_[j] += double(X(i, j)) / double(X.rows());
        for (double& m : mean_) m *= 1 - p_.shrink;
        return {};
    }
    std::vector<T> score(matrix_view<const T> X) const {
        if (!fitted()) fail<not_fitted>("centroid::score", "not fitted");
        require(X.cols() == dim(), "centroid::score", "expects ", dim(), " columns, got ", X.cols());
        std::vector<T> s(X.rows());
        for (std::size_t i = 0; i < X.rows(); ++i) {
            double d = 0;
            for (std::size_t j = 0; j < X.cols(); ++j) d += (double(X(i, j)) - mean_[j]) * (double(X(i, j)) - mean_[j]);
            s[i] = T(d);
        }
        return s;
    }
    bool fitted() const { return !mean_.empty(); }
    std::size_t dim() const { return mean_.size(); }
    void save_payload(binary_writer& w) const {
        w.put<double>(p_.shrink);
        w.put_vector(mean_);
    }
    static centroid load_payload(binary_reader& r) {
        centroid c({.shrink = r.get<double>()});
        c.mean_ = r.get_vector<double>();
        return c;
    }

private:
    params_type p_{};
    std::vector<double> mean_;
};
static_assert(SerializableDetector<centroid<float>>);
using my_detectors = detector_list_append<builtin_detectors, centroid>;
}  // namespace

TEST_CASE("one detector list: names, settings and help, construction by name, loading; a user's detector joins it") {
    REQUIRE(builtin_detectors::choices() == "kde, ocsvm, ocsvm-linear, gde, gmm, knn");
    REQUIRE(my_detectors::choices() == "kde, ocsvm, ocsvm-linear, gde, gmm, knn, centroid");
    std::vector<std::string> flags;
    for (const auto& s : my_detectors::settings()) flags.push_back(s.name);
    REQUIRE(flags == std::vector<std::string>{"gamma", "nu", "components", "seed", "k", "shrink"});
    REQUIRE(my_detectors::applies_to("gamma", "kde"));
    REQUIRE(my_detectors::applies_to("gamma", "ocsvm"));
    REQUIRE_FALSE(my_detectors::applies_to("gamma", "ocsvm-linear"));
    REQUIRE(my_detectors::applies_to("nu", "ocsvm-linear"));
    REQUIRE(my_detectors::applies_to("shrink", "centroid"));
    REQUIRE_FALSE(my_detectors::applies_to("shrink", "kde"));

    // construction by name: the variant's own parameters, then the settings
    const auto lin = builtin_detectors::make<float>("ocsvm-linear", {.real = {{"nu", 0.2}}});
    REQUIRE(std::get<ocsvm<float>>(lin).params().kernel == svm_kernel::linear);
    REQUIRE(std::get<ocsvm<float>>(lin).params().nu == 0.2);
    REQUIRE(builtin_detectors::variant_name(lin) == "ocsvm-linear");
    const auto g = builtin_detectors::make<float>("gmm", {.whole = {{"components", 3}, {"seed", 18446744073709551615ull}}});
    REQUIRE(std::get<gmm<float>>(g).params().components == 3);
    REQUIRE(std::get<gmm<float>>(g).params().seed == 18446744073709551615ull);
    REQUIRE_THROWS_WITH(builtin_detectors::make<float>("ocsvm", {.real = {{"nu", 0.0}}}), Catch::Contains("--nu must be in (0, 1], got 0"));
    REQUIRE_THROWS_WITH(builtin_detectors::make<float>("kde", {.real = {{"gamma", 1e31}}}), Catch::Contains("--gamma must be in [1e-30, 1e30]"));
    REQUIRE_THROWS_WITH(builtin_detectors::make<float>("ocsvm-linear", {.real = {{"gamma", 1.0}}}),
                        Catch::Contains("--gamma does not apply to detector ocsvm-linear"));
    REQUIRE_THROWS_WITH(builtin_detectors::make<float>("parzen", {}), Catch::Contains("unknown detector 'parzen' (kde, ocsvm"));

    // the user's detector: built by name, fitted, saved, loaded through the extended list
    const fs::path dir = fs::temp_directory_path() / ("oneclass_registry_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto any = my_detectors::make<float>("centroid", {.real = {{"shrink", 0.5}}});
    const auto X = test::random_matrix<float>(50, 3, 7, 1.0, 2.0);
    (void)std::visit([&](auto& d) { return d.fit(X.view()); }, any);
    const auto& c = std::get<centroid<float>>(any);
    save_model(c, dir / "c.ocm");
    const auto back = my_detectors::load<float>(dir / "c.ocm");
    REQUIRE(std::holds_alternative<centroid<float>>(back));
    REQUIRE(std::get<centroid<float>>(back).score(X.view()) == c.score(X.view()));
    REQUIRE(std::isnan(my_detectors::gamma(back)));
    REQUIRE_THROWS_WITH(load_any_model<float>(dir / "c.ocm"), Catch::Contains("unknown model kind 'centroid'"));
    // and the built-in kinds load through it too
    kde<float> k({.gamma = 0.25f});
    (void)k.fit(X.view());
    save_model(k, dir / "k.ocm");
    const auto kb = my_detectors::load<float>(dir / "k.ocm");
    REQUIRE(my_detectors::gamma(kb) == 0.25);
    fs::remove_all(dir);
}
