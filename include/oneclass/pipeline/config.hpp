// oneclass/pipeline/config.hpp - a representation's configuration and its text form.
//
// Model files and checkpoints store the configuration as ordered (name, value) text fields, so
// that a mismatch is reported by name. Every field is written and read through one table
// (`config_field_table`); a field that does not shape the network's weights is optional: a file
// without it (an older format, a hand-written one) gets the default. A user proxy's own settings
// travel in `proxy_options`, stored as "proxy.<name>" fields.
//
// Format versions of representation files and checkpoints (the frame's version):
//   2  the configuration fields of the first representation files (all required)
//   3  the same fields through the table (optional ones may be absent), "proxy.*" fields, and
//      any proxy name of the representation's proxy list
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/nn/resnet.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace oneclass::pipeline {

inline constexpr std::uint32_t representation_format_version = 3;

/// A configuration as ordered (name, value) text pairs. Doubles are written with 17 digits (exact).
using config_fields = std::vector<std::pair<std::string, std::string>>;

struct representation_config {
    std::string method = "distaug";  ///< a proxy's name (pipeline/proxies.hpp: builtin_proxies)
    nn::resnet_config net{.depth = 18, .width = 1.0};
    std::vector<std::size_t> head_hidden = std::vector<std::size_t>(8, 512);  ///< the paper's [512 x 8, 128]
    std::size_t head_out = 128;
    std::size_t epochs = 1, batch = 32;
    double lr = 0.01, momentum = 0.9, weight_decay = 3e-4, temperature = 0.2;
    std::vector<int> distaug_shifts{0, 2, 4, 6};  ///< rot0 / 90 / 180 / 270 (see augment::distribution_shift)
    augment::simclr_params views{};
    /// Rotation prediction on augmented images (`views`, then the four rotations), as the
    /// official code trains it; off, the task sees each image as it is.
    bool rotation_augment = false;
    double dae_noise = 0.1;  ///< std of the gaussian noise the autoencoder removes
    std::uint64_t seed = 0;
    config_fields proxy_options;       ///< a user proxy's settings (names without the "proxy." prefix)
    std::filesystem::path checkpoint;  ///< if set: written atomically every checkpoint_every epochs and on stop
    std::size_t checkpoint_every = 1;
};

namespace detail {
inline std::string exact(double v) {
    char b[40];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}
template <class V>
std::string join(const V& v) {
    std::ostringstream s;
    for (std::size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
    return s.str();
}

/// Parses one field's text, throwing io_error that names the source and the field.
class field_reader {
public:
    field_reader(std::string key, const std::string& text, const std::string& source)
        : key_(std::move(key)), text_(text), source_(source) {}
    const std::string& text() const { return text_; }
    [[noreturn]] void bad(const std::string& why = "malformed") const {
        fail<io_error>("representation", source_, ": field '", key_, "' is ", why);
    }
    std::vector<double> list() const {
        std::vector<double> out;
        std::stringstream ss(text_);
        std::string item;
        while (std::getline(ss, item, ',')) {
            std::size_t pos = 0;
            double d = 0;
            try {
                d = std::stod(item, &pos);
            } catch (...) {
                pos = 0;
            }
            if (pos != item.size() || item.empty() || !std::isfinite(d)) bad();
            out.push_back(d);
        }
        return out;
    }
    double one() const {
        const auto v = list();
        if (v.size() != 1) bad();
        return v[0];
    }
    // A size read from a file sizes allocations: it must be a whole number in the range any
    // training run could have written, checked before anything is built.
    std::size_t whole(double v, double lo, double hi) const {
        if (!(v >= lo && v <= hi && v == std::floor(v)))
            bad(to_text(v) + " (expected a whole number in " + to_text(lo) + ".." + to_text(hi) + ")");
        return std::size_t(v);
    }
    std::size_t size(double lo, double hi) const { return whole(one(), lo, hi); }
    double real(double lo, double hi) const {
        const double v = one();
        if (!(v >= lo && v <= hi)) bad(to_text(v) + " (expected " + to_text(lo) + ".." + to_text(hi) + ")");
        return v;
    }
    std::uint64_t u64() const {
        std::size_t pos = 0;
        std::uint64_t v = 0;
        try {
            v = std::stoull(text_, &pos);
        } catch (...) {
            pos = 0;
        }
        if (pos == 0 || pos != text_.size() || text_[0] == '-') bad();
        return v;
    }

private:
    static std::string to_text(double v) {
        std::ostringstream s;
        s << v;
        return s.str();
    }
    std::string key_;
    const std::string& text_;
    const std::string& source_;
};
}  // namespace detail

/// One configuration field: its name, whether a file must hold it (the fields that shape the
/// weights), and how it is written and read.
struct config_field {
    const char* name;
    bool required;
    std::string (*write)(const representation_config&);
    void (*read)(representation_config&, const detail::field_reader&);
};

inline const auto& config_field_table() {
    using C = representation_config;
    using R = detail::field_reader;
    using detail::exact;
    static const std::array<config_field, 18> table{{
        {"method", true, [](const C& c) { return c.method; },
         [](C& c, const R& r) {
             if (r.text().empty()) r.bad("empty");
             c.method = r.text();
         }},
        {"depth", true, [](const C& c) { return std::to_string(c.net.depth); },
         [](C& c, const R& r) {
             c.net.depth = int(r.size(10, 34));
             if (c.net.depth != 10 && c.net.depth != 18 && c.net.depth != 34)
                 r.bad(std::to_string(c.net.depth) + " (expected 10, 18 or 34)");
         }},
        {"width", true, [](const C& c) { return exact(c.net.width); }, [](C& c, const R& r) { c.net.width = r.real(1.0 / 64, 16); }},
        {"stem", true, [](const C& c) { return std::string(c.net.stem_kind == nn::stem::cifar ? "cifar" : "imagenet"); },
         [](C& c, const R& r) {
             if (r.text() != "imagenet" && r.text() != "cifar") r.bad("'" + r.text() + "'");
             c.net.stem_kind = r.text() == "imagenet" ? nn::stem::imagenet : nn::stem::cifar;
         }},
        {"in_channels", true, [](const C& c) { return std::to_string(c.net.in_channels); },
         [](C& c, const R& r) { c.net.in_channels = r.size(1, 64); }},
        {"head_hidden", true, [](const C& c) { return detail::join(c.head_hidden); },
         [](C& c, const R& r) {
             const auto hidden = r.list();
             if (hidden.size() > 16) r.bad(std::to_string(hidden.size()) + " layers (at most 16)");
             c.head_hidden.clear();
             for (double d : hidden) c.head_hidden.push_back(r.whole(d, 1, 1 << 16));
         }},
        {"head_out", true, [](const C& c) { return std::to_string(c.head_out); }, [](C& c, const R& r) { c.head_out = r.size(1, 1 << 16); }},
        {"epochs", false, [](const C& c) { return std::to_string(c.epochs); }, [](C& c, const R& r) { c.epochs = r.size(1, 1e9); }},
        {"batch", false, [](const C& c) { return std::to_string(c.batch); }, [](C& c, const R& r) { c.batch = r.size(2, 1 << 20); }},
        {"lr", false, [](const C& c) { return exact(c.lr); }, [](C& c, const R& r) { c.lr = r.real(0, 1e6); }},
        {"momentum", false, [](const C& c) { return exact(c.momentum); }, [](C& c, const R& r) { c.momentum = r.real(0, 1); }},
        {"weight_decay", false, [](const C& c) { return exact(c.weight_decay); },
         [](C& c, const R& r) { c.weight_decay = r.real(0, 1e6); }},
        {"temperature", false, [](const C& c) { return exact(c.temperature); },
         [](C& c, const R& r) { c.temperature = r.real(1e-6, 1e6); }},
        {"distaug_shifts", false, [](const C& c) { return detail::join(c.distaug_shifts); },
         [](C& c, const R& r) {
             c.distaug_shifts.clear();
             for (double d : r.list()) c.distaug_shifts.push_back(int(r.whole(d, 0, 7)));
         }},
        {"dae_noise", false, [](const C& c) { return exact(c.dae_noise); }, [](C& c, const R& r) { c.dae_noise = r.real(0, 1e6); }},
        {"seed", false, [](const C& c) { return std::to_string(c.seed); }, [](C& c, const R& r) { c.seed = r.u64(); }},
        {"views", false,
         [](const C& c) {
             const auto& v = c.views;
             std::string s;
             for (double x : {v.min_area, v.max_area, v.min_ratio, v.max_ratio, v.hflip_p, v.jitter_p, v.brightness,
                              v.contrast, v.saturation, v.hue, v.grayscale_p, v.blur_p, v.blur_sigma_min, v.blur_sigma_max})
                 s += exact(x) + ",";
             return s + (v.droc_compat ? "1" : "0");
         },
         [](C& c, const R& r) {
             const auto v = r.list();
             if (v.size() != 15) r.bad();
             c.views = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14] != 0};
         }},
        {"rotation_augment", false, [](const C& c) { return std::string(c.rotation_augment ? "1" : "0"); },
         [](C& c, const R& r) {
             if (r.text() != "0" && r.text() != "1") r.bad("'" + r.text() + "' (expected 0 or 1)");
             c.rotation_augment = r.text() == "1";
         }},
    }};
    return table;
}

inline constexpr const char* proxy_option_prefix = "proxy.";

inline config_fields describe(const representation_config& c) {
    config_fields f;
    for (const auto& field : config_field_table()) f.emplace_back(field.name, field.write(c));
    for (const auto& [k, v] : c.proxy_options) f.emplace_back(proxy_option_prefix + k, v);
    return f;
}

/// Inverse of describe(); a missing optional field takes its default; throws io_error naming
/// `source` and the field on anything malformed, missing or unknown.
inline representation_config config_from_fields(const config_fields& fields, const std::string& source) {
    representation_config c;
    const auto& table = config_field_table();
    for (const auto& [k, v] : fields) {
        if (k.rfind(proxy_option_prefix, 0) == 0) {
            c.proxy_options.emplace_back(k.substr(std::string(proxy_option_prefix).size()), v);
            continue;
        }
        const std::string& key = k;  // not captured by structured binding (clang < 16)
        if (std::none_of(table.begin(), table.end(), [&](const config_field& f) { return key == f.name; }))
            fail<io_error>("representation", source, " has an unknown field '", k, "'");
    }
    for (const auto& field : table) {
        const auto it = std::find_if(fields.begin(), fields.end(), [&](const auto& kv) { return kv.first == field.name; });
        if (it == fields.end()) {
            if (field.required) fail<io_error>("representation", source, " has no '", field.name, "' field");
            continue;
        }
        field.read(c, detail::field_reader(field.name, it->second, source));
    }
    return c;
}

/// Weights of the projection head `c` describes (linear weights, batch-norm scale and shift, the
/// output bias), in double: see nn::resnet_weight_count.
inline double head_weight_count(const representation_config& c) {
    double d = double(nn::resnet_width(c.net, 512)), n = 0;
    for (std::size_t h : c.head_hidden) {
        n += d * double(h) + 2 * double(h);
        d = double(h);
    }
    return n + d * double(c.head_out) + double(c.head_out);
}

}  // namespace oneclass::pipeline
