// tools/cli_common.hpp - the pieces of the oneclass CLI: detector construction from flags,
// feature/label file loading by extension, datasets, and result tables / files.
// String-keyed dispatch of detectors lives here, at the top, and nowhere in the library.
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/platform.hpp>
#include <oneclass/data.hpp>
#include <oneclass/ops/dispatch.hpp>
#include <oneclass/detectors.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

namespace oneclass::cli {

namespace fs = std::filesystem;

/// Detector flags as given: one optional value per setting of builtin_detectors (--gamma,
/// --nu, ...), filled by add_detector_flags.
struct detector_options {
    std::string name;
    std::map<std::string, std::optional<double>> real;
    std::map<std::string, std::optional<std::uint64_t>> whole;
    std::string normalize = "l2";
};

inline detector_options with_name(detector_options o, const std::string& name) {
    o.name = name;
    return o;
}

inline std::vector<std::string> detector_names() { return builtin_detectors::names(); }

/// Whether flag "--x" applies to detector `det` (flags that are not detector settings always do).
inline bool flag_applies(const std::string& flag, const std::string& det) {
    for (const auto& s : builtin_detectors::settings())
        if (flag == "--" + s.name) return builtin_detectors::applies_to(s.name, det);
    return true;
}

inline std::vector<std::string> detector_flags() {
    std::vector<std::string> f;
    for (const auto& s : builtin_detectors::settings()) f.push_back("--" + s.name);
    return f;
}

/// What `oneclass --version` prints: the library, what this binary was compiled for, the CPU it
/// runs on, and the BLAS with the kernels it picked.
inline std::string version_text() {
    const blas_info b = blas();
    std::string s = std::string("oneclass ") + version_string + "\ncompiled for: " + compiled_isa() +
                    "\nthis CPU:     " + cpu_isa() + " (" + isa_name(cpu_isa_level()) + ")\nkernels:      " +
                    ops::kernel_description() + "\nBLAS:         " + b.name;
    if (b.openblas) s += "\nBLAS kernels: " + b.core;
    if (const auto w = blas_kernel_warning()) s += "\nwarning: " + *w;
    return s;
}

/// CLI11 check: a whole number in lo..hi, read as written, so that "-1" is refused instead of
/// wrapping to 2^64 - 1 in an unsigned option and "0" is never taken for "unset".
inline CLI::Validator whole_number(std::uint64_t lo, std::uint64_t hi) {
    return CLI::Validator(
        [lo, hi](std::string& s) -> std::string {
            std::uint64_t v = 0;
            const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
            if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
                return "must be a whole number in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + s + "'";
            return {};
        },
        "UINT:" + std::to_string(lo) + ".." + std::to_string(hi));
}

/// Refuses an output file that cannot be written before any work starts: a directory, a
/// missing or unwritable folder. Writes go through write_file_atomic (a temp file beside it).
inline void check_output_file(const std::string& path, const char* flag) {
    if (path.empty()) return;
    std::error_code ec;
    require(!fs::is_directory(path, ec), "cli", flag, " '", path, "' is a directory, not a file");
    const fs::file_status st = fs::status(path, ec);
    if (fs::exists(st) && !fs::is_regular_file(st)) return;  // a device or FIFO is written in place
    const fs::path dir = fs::absolute(path).parent_path();
    require(fs::is_directory(dir, ec), "cli", flag, " '", path, "': folder '", dir.string(), "' does not exist");
    require(::access(dir.c_str(), W_OK) == 0, "cli", flag, " '", path, "': cannot write in folder '", dir.string(),
            "': ", std::strerror(errno));
}

/// The same for an output folder (created later if missing): not a file, and its nearest
/// existing ancestor writable.
inline void check_output_dir(const std::string& path, const char* flag) {
    std::error_code ec;
    fs::path p = fs::absolute(path);
    require(!fs::exists(p, ec) || fs::is_directory(p, ec), "cli", flag, " '", path, "' is a file, not a folder");
    while (!fs::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
    require(fs::is_directory(p, ec), "cli", flag, " '", path, "': '", p.string(), "' is not a folder");
    require(::access(p.c_str(), W_OK) == 0, "cli", flag, " '", path, "': cannot write in '", p.string(), "': ",
            std::strerror(errno));
}

inline std::vector<std::string> split_list(const std::string& s, const char* flag) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    require(!out.empty(), "cli", flag, " is empty");
    return out;
}

inline void check_detector_name(const std::string& n) { builtin_detectors::check(n, "cli"); }

inline void reject_unused_flags_list(const std::string& list, CLI::App* cmd) {
    const auto names = split_list(list, "--detector");
    for (const auto& n : names) check_detector_name(n);
    for (const auto& f : detector_flags()) {
        if (f == "--seed" && cmd->get_name() == "run") continue;  // run's --seed is the training seed
        if (cmd->count(f) == 0) continue;
        bool any = false;
        for (const auto& n : names) any = any || flag_applies(f, n);
        require(any, "cli", f, " does not apply to detector ", list);
    }
}

inline void reject_unused_flags(const detector_options& o, CLI::App* cmd) {
    if (o.name.empty()) return;  // --load-model without --detector
    reject_unused_flags_list(o.name, cmd);
}

inline void reject_fit_flags_with_load(CLI::App* cmd) {
    std::vector<std::string> flags = detector_flags();
    flags.insert(flags.end(), {"--train", "--normalize"});
    for (const auto& f : flags)
        require(cmd->count(f) == 0, "cli", f, " cannot be combined with --load-model (the model file fixes it)");
}

inline normalization parse_normalization(const std::string& s) {
    if (s == "l2") return normalization::l2;
    if (s == "none") return normalization::none;
    fail("cli", "--normalize must be l2 or none, got '", s, "'");
}

/// Builds detector o.name from the flags that apply to it (reject_unused_flags refuses the others).
inline any_detector<float> make_detector(const detector_options& o) {
    check_detector_name(o.name);
    setting_values v;
    v.normalize = parse_normalization(o.normalize);
    for (const auto& [k, x] : o.real)
        if (x && builtin_detectors::applies_to(k, o.name)) v.real[k] = *x;
    for (const auto& [k, x] : o.whole)
        if (x && builtin_detectors::applies_to(k, o.name)) v.whole[k] = *x;
    try {
        return builtin_detectors::make<float>(o.name, v);
    } catch (const invalid_input& e) {  // "[oneclass] make_detector: --nu must be ..." as a CLI error
        const std::string m = e.what();
        const auto at = m.find("--");
        fail("cli", at == std::string::npos ? m : m.substr(at));
    }
}

inline std::string kind_of(const any_detector<float>& d) { return builtin_detectors::variant_name(d); }

inline double gamma_of(const any_detector<float>& d) { return builtin_detectors::gamma(d); }

inline void print_model_summary(const any_detector<float>& d) {
    const double g = gamma_of(d);
    if (!std::isnan(g)) std::printf("gamma=%.9g\n", g);
    const std::string s = builtin_detectors::summary(d);
    if (!s.empty()) std::printf("%s\n", s.c_str());
}

inline std::string extension_of(const std::string& path) {
    std::string e = fs::path(path).extension().string();
    for (auto& ch : e) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return e;
}

inline matrix<float> load_features(const std::string& path, const char* flag) {
    const std::string e = extension_of(path);
    matrix<float> X;
    if (e == ".npy") X = load_npy_matrix<float>(path);
    else if (e == ".csv") X = load_csv_matrix<float>(path);
    else fail("cli", flag, " '", path, "' must be a .npy or .csv file");
    require(!X.empty(), "cli", flag, " '", path, "' holds no values");
    require_finite<float>(X.view(), "cli", (std::string(flag) + " '" + path + "'").c_str());
    return X;
}

inline std::vector<double> load_labels(const std::string& path) {
    const std::string e = extension_of(path);
    std::vector<double> y;
    if (e == ".npy") y = load_npy_vector<double>(path);
    else if (e == ".csv") y = load_csv_vector<double>(path);
    else fail("cli", "--labels '", path, "' must be a .npy or .csv file");
    for (std::size_t i = 0; i < y.size(); ++i)
        require(y[i] == 0 || y[i] == 1, "cli", "--labels '", path, "' value ", y[i], " at row ", i,
                " is not 0 (normal) or 1 (anomaly)");
    return y;
}

struct labelled_split {
    image_dataset train, test;
};

/// The datasets the CLI knows. Fashion-MNIST, CIFAR-10 and CIFAR-20 are 32 px (Fashion-MNIST
/// padded later); folder / cat-vs-dog / celeba images are resized to `image_size` (default 32 for
/// a folder, 64 for cat-vs-dog and CelebA, the paper's sizes).
inline labelled_split load_dataset(const std::string& name, std::string root, std::size_t image_size = 0,
                                   const std::string& attribute = "Eyeglasses") {
    const bool resizable = name == "folder" || name == "cat-vs-dog" || name == "celeba";
    require(resizable || image_size == 0 || image_size == 32, "cli",
            "--image-size applies to folder, cat-vs-dog and celeba (", name, " images are 32 px)");
    require(!resizable || image_size == 0 || (image_size >= 16 && image_size % 8 == 0 && image_size <= 256), "cli",
            "--image-size must be a multiple of 8 in 16..256, got ", image_size);
    require(name == "celeba" || attribute == "Eyeglasses", "cli", "--attribute applies to --dataset celeba only");
    if (name == "fashion-mnist") {
        if (root.empty()) root = "/usr/share/datasets/fashion-mnist";
        return {load_fashion_mnist(root, "train"), load_fashion_mnist(root, "test")};
    }
    require(!root.empty(), "cli", "--root is required for --dataset ", name, " (the folder with its files)");
    if (name == "cifar10") return {load_cifar10(root, "train"), load_cifar10(root, "test")};
    if (name == "cifar20")
        return {load_cifar100(root, "train", cifar100_labels::coarse), load_cifar100(root, "test", cifar100_labels::coarse)};
    if (name == "folder") {
        const std::size_t S = image_size ? image_size : 32;
        labelled_split d{load_image_folder(root, "train", S), load_image_folder(root, "test", S)};
        require(d.train.class_names == d.test.class_names, "cli", "--root '", root,
                "': train/ and test/ must hold the same class folders");
        return d;
    }
    if (name == "cat-vs-dog") {
        auto d = load_cat_vs_dog(root, image_size ? image_size : 64);
        return {std::move(d.train), std::move(d.test)};
    }
    if (name == "celeba") {
        auto d = load_celeba(root, attribute, image_size ? image_size : 64);
        return {std::move(d.train), std::move(d.test)};
    }
    fail("cli", "unknown dataset '", name, "' (fashion-mnist, cifar10, cifar20, folder, cat-vs-dog, celeba)");
}

inline std::vector<int> parse_classes(const std::string& s, std::size_t num_classes) {
    std::vector<int> out;
    if (s == "all") {
        for (std::size_t c = 0; c < num_classes; ++c) out.push_back(int(c));
        return out;
    }
    for (const auto& item : split_list(s, "--classes")) {
        int c = -1;
        std::size_t pos = 0;
        try {
            c = std::stoi(item, &pos);
        } catch (...) {
            pos = 0;
        }
        require(pos == item.size() && c >= 0 && std::size_t(c) < num_classes, "cli", "--classes: '", item,
                "' is not a class in 0..", num_classes - 1);
        out.push_back(c);
    }
    return out;
}

struct eval_row {
    int cls;
    std::string class_name, detector;
    double auc, fit_s, score_s, gamma;
    bool converged;
    std::int64_t seed = -1;  ///< training seed of the representation (-1: none, raw features)
    double train_s = std::numeric_limits<double>::quiet_NaN();
};

/// Reads back the CSV that write_eval_results wrote (a baseline to print next to new results);
/// each row's detector becomes "<features>-<detector>", e.g. "raw-ocsvm".
inline std::vector<eval_row> read_eval_results_csv(const std::string& path) {
    std::vector<csv_record> records;
    try {
        records = parse_csv(read_file_bytes(path, "cli"), path);
    } catch (const io_error& e) {
        fail("cli", "--baseline: ", e.what());
    }
    require(!records.empty() && records.front().fields.size() >= 5 && records.front().fields[0] == "dataset" &&
                records.front().fields[3] == "class" && records.front().fields[4] == "class_name",
            "cli", "--baseline '", path, "' is not a results CSV written by oneclass eval");
    std::vector<eval_row> rows;
    for (std::size_t no = 1; no < records.size(); ++no) {
        const auto& f = records[no].fields;
        eval_row r{};
        try {
            require(f.size() >= 7, "cli", "short");
            r.cls = std::stoi(f[3]);
            r.class_name = f[4];
            r.detector = f[1] + "-" + f[2];
            r.auc = std::stod(f.size() >= 12 ? f[6] : f[5]);
        } catch (const std::exception&) {
            fail("cli", "--baseline '", path, "' line ", records[no].line, " is malformed");
        }
        rows.push_back(r);
    }
    require(!rows.empty(), "cli", "--baseline '", path, "' holds no results");
    return rows;
}

inline double mean_auc(const std::vector<eval_row>& rows, const std::string& det) {
    double s = 0;
    int n = 0;
    for (const auto& r : rows)
        if (r.detector == det) s += r.auc, ++n;
    return n ? s / n : std::numeric_limits<double>::quiet_NaN();
}

inline void print_table(const std::vector<eval_row>& rows, const std::vector<std::string>& dets,
                        const std::vector<int>& classes) {
    std::printf("%-6s %-14s", "class", "name");
    for (const auto& d : dets) std::printf(" %12s", d.c_str());
    std::printf("\n");
    for (int c : classes) {
        std::string name;
        for (const auto& r : rows)
            if (r.cls == c) name = r.class_name;
        std::printf("%-6d %-14s", c, name.c_str());
        for (const auto& d : dets)
            for (const auto& r : rows)
                if (r.cls == c && r.detector == d) std::printf(" %12.4f", r.auc);
        std::printf("\n");
    }
    std::printf("%-6s %-14s", "mean", "");
    for (const auto& d : dets) std::printf(" %12.4f", mean_auc(rows, d));
    std::printf("\n");
    for (const auto& d : dets) std::printf("detector=%s mean_auc=%.6f\n", d.c_str(), mean_auc(rows, d));
}

/// A JSON number, or null for NaN / Inf (nlohmann writes those as null too).
inline nlohmann::ordered_json json_number(double v) {
    if (!std::isfinite(v)) return nullptr;
    return v;
}

/// `extra`: more top-level JSON fields (e.g. the uniformity of the features).
inline void write_eval_results(const fs::path& stem, const std::string& dataset, const std::string& features,
                               const detector_options& o, const std::vector<eval_row>& rows,
                               const std::vector<std::string>& dets, const nlohmann::ordered_json& extra = {}) {
    auto num = [](double v) -> std::string {
        if (!std::isfinite(v)) return "null";
        char b[64];
        std::snprintf(b, sizeof b, "%.10g", v);
        return b;
    };
    std::string csv = "dataset,features,detector,class,class_name,seed,auc,fit_s,score_s,gamma,converged,train_s\n";
    for (const auto& r : rows)
        csv += csv_quoted(dataset) + "," + csv_quoted(features) + "," + csv_quoted(r.detector) + "," + std::to_string(r.cls) +
               "," + csv_quoted(r.class_name) + "," + (r.seed < 0 ? std::string() : std::to_string(r.seed)) + "," + num(r.auc) +
               "," + num(r.fit_s) + "," + num(r.score_s) + "," + num(r.gamma) + "," + (r.converged ? "true" : "false") + "," +
               num(r.train_s) + "\n";
    nlohmann::ordered_json js;
    js["dataset"] = dataset;
    js["features"] = features;
    js["normalize"] = o.normalize;
    js["mean_auc"] = nlohmann::ordered_json::object();
    for (const auto& d : dets) js["mean_auc"][d] = json_number(mean_auc(rows, d));
    if (extra.is_object())
        for (const auto& [k, v] : extra.items()) js[k] = v;
    js["results"] = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
        nlohmann::ordered_json e;
        e["detector"] = r.detector;
        e["class"] = r.cls;
        e["class_name"] = r.class_name;
        e["auc"] = json_number(r.auc);
        e["fit_s"] = json_number(r.fit_s);
        e["score_s"] = json_number(r.score_s);
        e["gamma"] = json_number(r.gamma);
        e["converged"] = r.converged;
        if (r.seed >= 0) e["seed"] = r.seed;
        e["train_s"] = json_number(r.train_s);
        js["results"].push_back(std::move(e));
    }
    // replace: a class name that is not UTF-8 (a folder's name) becomes U+FFFD instead of an exception
    write_file_atomic(stem.string() + ".json", js.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "eval");
    write_file_atomic(stem.string() + ".csv", csv, "eval");
}

}  // namespace oneclass::cli
