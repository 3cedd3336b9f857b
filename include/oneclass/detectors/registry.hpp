// oneclass/detectors/registry.hpp - one list of detectors, from which the saved-model variant,
// the model loader, and the names, settings and help of a command line follow.
//
//     using my_detectors = oneclass::detector_list_append<oneclass::builtin_detectors, my_detector>;
//     auto any = my_detectors::load<float>("model.ocm");          // std::variant of every detector
//     auto det = my_detectors::make<float>("ocsvm-linear", {{"nu", 0.1}});
//
// What a detector may declare for the list (all optional; a bare SerializableDetector works):
//   static constexpr std::array<const char*, N> variants   names it is built under (default: {kind}),
//                                                          e.g. ocsvm and ocsvm-linear
//   static params_type variant_params(std::string_view)    the parameters a variant name starts from
//   std::string variant() const                            the variant a built detector is
//   static std::vector<setting<params_type>> settings()    what a user may set by name (CLI flags)
//   std::string summary() const                            what fit found, one "key=value ..." line
#pragma once

#include <oneclass/detectors/gaussian.hpp>
#include <oneclass/detectors/gmm.hpp>
#include <oneclass/detectors/kde.hpp>
#include <oneclass/detectors/knn.hpp>
#include <oneclass/detectors/ocsvm.hpp>
#include <oneclass/detectors/serialize.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace oneclass {

namespace detail {
template <class D>
concept has_variants = requires { D::variants; D::variant_params(std::string_view()); };
template <class D>
concept has_settings = requires { D::settings(); };
template <class D>
concept has_variant_name = requires(const D d) { { d.variant() } -> std::convertible_to<std::string>; };
template <class D>
concept has_summary = requires(const D d) { { d.summary() } -> std::convertible_to<std::string>; };
template <class D>
concept has_gamma = requires(const D d) { { d.gamma() } -> std::convertible_to<double>; };
}  // namespace detail

/// The variant names detector D is built under.
template <class D>
std::vector<std::string> variant_names() {
    if constexpr (detail::has_variants<D>) return {D::variants.begin(), D::variants.end()};
    else return {D::kind};
}

/// The variant a built detector is (its kind unless it declares variants).
template <class D>
std::string variant_of(const D& d) {
    if constexpr (detail::has_variant_name<D>) return d.variant();
    else return D::kind;
}

/// The settings a user may give detector D by name, with D's own declarations.
template <class D>
std::vector<setting<typename D::params_type>> settings_of() {
    if constexpr (detail::has_settings<D>) return D::settings();
    else return {};
}

/// Whether setting `s` applies to variant `v` of its detector.
template <class P>
bool applies(const setting<P>& s, std::string_view v) {
    return s.only == nullptr || v == s.only;
}

/// A setting as the list documents it: which variants take it, and its help text.
struct setting_doc {
    std::string name, help;
    bool whole = false;
    double lo = 0, hi = 0;
    bool lo_open = false;
    std::vector<std::string> variants;
};

/// Values given by name (a real or a whole number each, as the setting declares).
struct setting_values {
    std::map<std::string, double> real = {};
    std::map<std::string, std::uint64_t> whole = {};
    normalization normalize = normalization::l2;
};

template <template <class> class... D>
struct detector_list {
    template <class T>
    using variant = std::variant<D<T>...>;

    /// Every variant name, in list order: "kde, ocsvm, ocsvm-linear, ...".
    static std::vector<std::string> names() {
        std::vector<std::string> n;
        (append(n, variant_names<D<float>>()), ...);
        return n;
    }
    static std::string choices(const char* sep = ", ") {
        std::string s;
        for (const auto& n : names()) s += (s.empty() ? "" : sep) + n;
        return s;
    }
    static bool contains(std::string_view name) {
        for (const auto& n : names())
            if (n == name) return true;
        return false;
    }
    static void check(std::string_view name, const char* where) {
        require(contains(name), where, "unknown detector '", name, "' (", choices(), ")");
    }

    /// Every setting of every detector, merged by name (a name means one thing everywhere).
    static std::vector<setting_doc> settings() {
        std::vector<setting_doc> out;
        (merge<D<float>>(out), ...);
        return out;
    }
    /// Whether setting `name` applies to variant `variant`.
    static bool applies_to(std::string_view name, std::string_view variant) {
        for (const auto& s : settings())
            if (s.name == name)
                for (const auto& v : s.variants)
                    if (v == variant) return true;
        return false;
    }

    /// Builds variant `name` with the given settings; a value a setting refuses (range) and a
    /// setting that does not apply to `name` are named in the error.
    template <class T>
    static variant<T> make(std::string_view name, const setting_values& v) {
        check(name, "make_detector");
        std::optional<variant<T>> out;
        (build<D<T>>(name, v, out), ...);
        return std::move(*out);
    }

    /// Loads whichever detector of the list the file holds.
    template <class T>
    static variant<T> load(const std::filesystem::path& path) {
        return naming_file(path, "load_model", [&] { return from_bytes<T>(read_file_bytes(path, "load_model"), path.string()); });
    }
    /// The same from the bytes of a model file (model_bytes), e.g. one embedded in another file.
    template <class T>
    static variant<T> from_bytes(std::string_view bytes, const std::string& source) {
        const std::string kind = unframe(bytes, model_format_version, source).kind;
        std::optional<variant<T>> out;
        ((kind == D<T>::kind ? (void)out.emplace(model_from_bytes<D<T>>(bytes, source)) : (void)0), ...);
        if (!out) fail<io_error>("load_model", "'", source, "' holds an unknown model kind '", kind, "'");
        return std::move(*out);
    }

    template <class T>
    static std::string variant_name(const variant<T>& d) {
        return std::visit([](const auto& x) { return variant_of(x); }, d);
    }
    /// The kernel width the detector fitted with, or NaN for one without (or a variant that takes none).
    template <class T>
    static double gamma(const variant<T>& d) {
        return std::visit(
            [](const auto& x) {
                using X = std::decay_t<decltype(x)>;
                if constexpr (detail::has_gamma<X>)
                    if (applies_to("gamma", variant_of(x))) return double(x.gamma());
                return std::numeric_limits<double>::quiet_NaN();
            },
            d);
    }
    template <class T>
    static std::string summary(const variant<T>& d) {
        return std::visit(
            [](const auto& x) -> std::string {
                if constexpr (detail::has_summary<std::decay_t<decltype(x)>>) return x.summary();
                else return {};
            },
            d);
    }

    /// The variant names whose detectors are differentiable (DifferentiableDetector).
    static std::vector<std::string> differentiable_names() {
        std::vector<std::string> n;
        ((DifferentiableDetector<D<float>> ? append(n, variant_names<D<float>>()) : void()), ...);
        return n;
    }
    static bool differentiable(std::string_view name) {
        for (const auto& n : differentiable_names())
            if (n == name) return true;
        return false;
    }
    /// Scores and their input gradients; invalid_input for a detector without them.
    template <class T>
    static score_gradients<T> score_gradient(const variant<T>& d, matrix_view<const T> X) {
        return std::visit(
            [&](const auto& x) -> score_gradients<T> {
                using X_ = std::decay_t<decltype(x)>;
                if constexpr (DifferentiableDetector<X_>) return x.score_gradient(X);
                else fail("score_gradient", "detector ", variant_of(x), " has no score gradient (differentiable: ",
                          join(differentiable_names()), ")");
            },
            d);
    }

private:
    static std::string join(const std::vector<std::string>& v) {
        std::string s;
        for (const auto& n : v) s += (s.empty() ? "" : ", ") + n;
        return s;
    }
    /// 1e30 as "1e30", 0.5 as "0.5": bounds as a user writes them.
    static std::string bound(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.6g", v);
        std::string t = b;
        if (const auto e = t.find("e+"); e != std::string::npos) t.erase(e + 1, 1);
        return t;
    }
    static void append(std::vector<std::string>& a, const std::vector<std::string>& b) { a.insert(a.end(), b.begin(), b.end()); }

    template <class X>
    static void merge(std::vector<setting_doc>& out) {
        for (const auto& s : settings_of<X>()) {
            auto it = std::find_if(out.begin(), out.end(), [&](const setting_doc& d) { return d.name == s.name; });
            if (it == out.end()) {
                out.push_back({s.name, s.help, s.whole, s.lo, s.hi, s.lo_open, {}});
                it = out.end() - 1;
            } else if (it->help.find(s.help) == std::string::npos) {
                it->help += "; " + std::string(s.help);
            }
            for (const auto& v : variant_names<X>())
                if (applies(s, v)) it->variants.push_back(v);
        }
    }

    template <class X, class V>
    static void build(std::string_view name, const setting_values& v, std::optional<V>& out) {
        const auto vs = variant_names<X>();
        if (std::find(vs.begin(), vs.end(), name) == vs.end()) return;
        typename X::params_type p{};
        if constexpr (detail::has_variants<X>) p = X::variant_params(name);
        if constexpr (requires { p.normalize; }) p.normalize = v.normalize;
        const auto known = settings_of<X>();
        auto find = [&](const std::string& key) -> const setting<typename X::params_type>* {
            for (const auto& s : known)
                if (key == s.name && applies(s, name)) return &s;
            fail("make_detector", "--", key, " does not apply to detector ", name);
        };
        for (const auto& [key, value] : v.real) {
            const auto* s = find(key);
            const bool ok = std::isfinite(value) && (s->lo_open ? value > s->lo : value >= s->lo) && value <= s->hi;
            require(ok, "make_detector", "--", key, " must be in ", s->lo_open ? "(" : "[", bound(s->lo), ", ", bound(s->hi), "], got ", value);
            s->apply(p, value, 0);
        }
        for (const auto& [key, value] : v.whole) {
            const auto* s = find(key);
            require(double(value) >= s->lo && double(value) <= s->hi, "make_detector", "--", key, " must be a whole number in ",
                    bound(s->lo), "..", bound(s->hi), ", got ", value);
            s->apply(p, 0, value);
        }
        out.emplace(std::in_place_type<X>, X(p));
    }
};

template <class List, template <class> class... More>
struct detector_list_append_t;
template <template <class> class... D, template <class> class... More>
struct detector_list_append_t<detector_list<D...>, More...> {
    using type = detector_list<D..., More...>;
};
/// The list `List` with `More` detectors after its own.
template <class List, template <class> class... More>
using detector_list_append = typename detector_list_append_t<List, More...>::type;

/// The built-in detectors, in the order the CLI lists them.
using builtin_detectors = detector_list<kde, ocsvm, gde, gmm, knn>;

template <class T>
using any_detector = builtin_detectors::variant<T>;

/// Loads whichever built-in detector the file holds.
template <class T>
any_detector<T> load_any_model(const std::filesystem::path& path) {
    return builtin_detectors::load<T>(path);
}

}  // namespace oneclass
