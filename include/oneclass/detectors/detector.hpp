// oneclass/detectors/detector.hpp - the Detector concept and what every detector shares.
//
// A detector is fitted on normal data only and then scores new samples:
//
//     oneclass::kde<float> det({.gamma = 0, .normalize = oneclass::normalization::l2});
//     auto report = det.fit(train);           // train: n x d, normal samples only
//     std::vector<float> s = det.score(test); // anomaly scores: HIGHER = MORE ANOMALOUS
//
// Requirements of `Detector<D>` (the compiler checks 1-4; 5-8 are the semantic contract):
//   1. `D::value_type` is float or double; `D::params_type` an aggregate of documented defaults.
//   2. `d.fit(matrix_view<const value_type>)` fits on normal samples and returns a fit_report.
//   3. `cd.score(matrix_view<const value_type>)` on a const D returns one score per row.
//   4. `cd.fitted()`, `cd.dim()` and the static `D::kind` (a short stable name).
//   5. score is an anomaly score: higher = more anomalous, for every detector.
//   6. score is const and thread-safe after fit: concurrent calls on one detector are fine.
//   7. score before fit throws not_fitted; wrong column count, NaN/Inf throw invalid_input.
//   8. fit never keeps a reference to its input; the same inputs and seed give the same scores.
// Free functions derived from `score` (thresholds, predict) live in detectors/threshold.hpp.
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/binary_io.hpp>
#include <oneclass/linalg/distance.hpp>
#include <oneclass/simd/simd.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace oneclass {

/// How features are preprocessed before fitting and scoring (the same for both).
enum class normalization : std::uint8_t {
    none = 0,
    l2 = 1,  ///< each row divided by its L2 norm (the paper's default; zero rows stay zero)
};

inline const char* to_string(normalization n) { return n == normalization::l2 ? "l2" : "none"; }

/// A setting a user may give a detector by name (a CLI flag --<name>): its range, help text and
/// how it changes the parameters. `only`: the one variant name it applies to (nullptr: all).
template <class P>
struct setting {
    const char* name;
    const char* help;
    bool whole;  ///< a whole number (applied through `w`), else a real (through `x`)
    double lo, hi;
    bool lo_open;
    void (*apply)(P& p, double x, std::uint64_t w);
    const char* only = nullptr;
};

/// What fit found. Numerical outcomes (iteration cap hit, ...) are reported here, not thrown.
struct fit_report {
    bool converged = true;
    std::size_t iterations = 0;
    double objective = std::numeric_limits<double>::quiet_NaN();
    std::string message;  ///< empty when converged
};

// ---- the concept, from named parts -------------------------------------------------------------
template <class D>
concept detector_types = requires {
    typename D::value_type;
    typename D::params_type;
    { D::kind } -> std::convertible_to<const char*>;
} && (std::same_as<typename D::value_type, float> || std::same_as<typename D::value_type, double>);

template <class D>
concept fittable = requires(D d, matrix_view<const typename D::value_type> X) {
    { d.fit(X) } -> std::same_as<fit_report>;
};

template <class D>
concept scorer = requires(const D cd, matrix_view<const typename D::value_type> X) {
    { cd.score(X) } -> std::same_as<std::vector<typename D::value_type>>;
    { cd.fitted() } -> std::same_as<bool>;
    { cd.dim() } -> std::same_as<std::size_t>;
};

template <class D>
concept Detector = detector_types<D> && fittable<D> && scorer<D>;

/// Scores and their gradients with respect to the rows they were computed from (before the
/// detector's own normalisation: the chain through it is included).
template <class T>
struct score_gradients {
    std::vector<T> score;
    matrix<T> gradient;  ///< rows x dim: d score_i / d X(i, :)
};

/// A detector whose score is differentiable in its input: the optional capability explanations
/// need (explain/), so that d score(f(x)) / dx flows through the network.
template <class D>
concept DifferentiableDetector = Detector<D> && requires(const D cd, matrix_view<const typename D::value_type> X) {
    { cd.score_gradient(X) } -> std::same_as<score_gradients<typename D::value_type>>;
};

/// A detector that can be written to and read from a model file (detectors/serialize.hpp).
template <class D>
concept SerializableDetector = Detector<D> && requires(const D cd, D d, binary_writer& w, binary_reader& r) {
    cd.save_payload(w);
    { D::load_payload(r) } -> std::same_as<D>;
};

// ---- shared preprocessing and checks -----------------------------------------------------------
namespace detail {

/// Copy of X, L2-normalised per row if asked.
template <class T>
matrix<T> preprocess(matrix_view<const T> X, normalization n) {
    matrix<T> out(X);
    if (n == normalization::l2) linalg::l2_normalize_rows(out.view());
    return out;
}

/// Checks shared by every fit: at least two rows, at least one column, finite values.
template <class T>
void check_fit_input(matrix_view<const T> X, const char* where, std::size_t min_rows = 2) {
    require(X.rows() >= min_rows, where, "needs at least ", min_rows, " training rows, got ", X.rows());
    require(X.cols() >= 1, where, "training data has no columns");
    require_finite(X, where, "training data");
}

/// Checks shared by every score call.
template <class T>
void check_score_input(matrix_view<const T> X, bool fitted, std::size_t dim, const char* where) {
    if (!fitted) fail<not_fitted>(where, "the detector is not fitted (call fit or load first)");
    require(X.cols() == dim, where, "expected ", dim, " features, got ", X.cols());
    require_finite(X, where, "test data");
}

/// g (the gradient with respect to u = x / |x|) becomes the gradient with respect to x:
/// (g - u (u . g)) / |x|, the Jacobian of the L2 normalisation (symmetric) applied to g. A zero
/// row, which normalisation leaves unchanged, keeps g.
template <class T>
void chain_l2(const T* x, T* g, std::size_t d) {
    const double nrm = std::sqrt(double(simd::squared_norm(x, d)));
    if (!(nrm > 0)) return;
    double ug = 0;
    for (std::size_t j = 0; j < d; ++j) ug += double(x[j]) * double(g[j]);
    ug /= nrm;
    for (std::size_t j = 0; j < d; ++j) g[j] = T((double(g[j]) - double(x[j]) / nrm * ug) / nrm);
}

template <class T>
void check_gamma(T gamma, const char* where) {
    require(std::isfinite(double(gamma)) && gamma >= T(0), where, "gamma must be > 0 (or 0 for the default rule), got ",
            gamma);
}

}  // namespace detail

/// The paper's default RBF / KDE bandwidth: gamma = 10 / (d * Var(X)), Var over all entries of
/// the (preprocessed) training matrix, computed in double with a fixed summation order.
template <class T>
double default_gamma(matrix_view<const T> X) {
    const double n = double(X.rows()) * double(X.cols());
    double sum = 0;
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.cols(); ++j) sum += X(i, j);
    const double mean = sum / n;
    double ss = 0;
    for (std::size_t i = 0; i < X.rows(); ++i)
        for (std::size_t j = 0; j < X.cols(); ++j) {
            const double t = X(i, j) - mean;
            ss += t * t;
        }
    const double var = ss / n;
    // Variance at float rounding level (e.g. identical images after L2 normalisation) would give a
    // gamma of 1e13 and scores that are rounding noise: refuse rather than answer silently.
    require(var > 1e-10 * (mean * mean + var), "default_gamma", "the training rows are (numerically) identical ",
            "(variance ", var, "); pass gamma explicitly or check the features");
    return 10.0 / (double(X.cols()) * var);
}

namespace detail {
/// Common part of every model payload: preprocessing, dimension.
inline void put_common(binary_writer& w, normalization n, std::size_t dim) {
    w.put<std::uint8_t>(static_cast<std::uint8_t>(n));
    w.put<std::uint64_t>(dim);
}
inline void get_common(binary_reader& r, normalization& n, std::size_t& dim) {
    const auto nv = r.get<std::uint8_t>();
    if (nv > 1) fail<io_error>("load", r.what(), " has an unknown normalization code ", int(nv));
    n = static_cast<normalization>(nv);
    dim = r.get<std::uint64_t>();
    if (dim == 0) fail<io_error>("load", r.what(), " has dimension 0");
}
/// Queries per scoring block, as a model file stores it: scoring memory grows with it, so a value
/// no fit would choose is refused rather than trusted.
inline constexpr std::size_t max_block_rows = std::size_t(1) << 16;
inline std::size_t get_block_rows(binary_reader& r) {
    const auto b = r.get<std::uint64_t>();
    if (b < 1 || b > max_block_rows)
        fail<io_error>("load", r.what(), " has block_rows ", b, " (expected 1..", max_block_rows, ")");
    return std::size_t(b);
}
template <class T>
void put_matrix(binary_writer& w, const matrix<T>& m) {
    w.put<std::uint64_t>(m.rows());
    w.put<std::uint64_t>(m.cols());
    w.put_array(m.data(), m.size());
}
template <class T>
matrix<T> get_matrix(binary_reader& r) {
    const auto rows = r.get<std::uint64_t>();
    const auto cols = r.get<std::uint64_t>();
    const std::size_t count = checked_mul<io_error>(rows, cols, "load", "a stored matrix");
    if (count > r.remaining() / sizeof(T))
        fail<io_error>("load", r.what(), " claims a ", rows, " x ", cols, " matrix but holds only ", r.remaining(), " more bytes");
    auto v = r.get_vector<T>();
    if (v.size() != count) fail<io_error>("load", r.what(), " has a matrix of inconsistent size");
    for (std::size_t i = 0; i < v.size(); ++i)  // every stored matrix passed fit's finiteness check
        if (!std::isfinite(double(v[i]))) fail<io_error>("load", r.what(), " has a non-finite value in a stored matrix");
    return matrix<T>(rows, cols, std::span<const T>(v));
}
}  // namespace detail

}  // namespace oneclass
