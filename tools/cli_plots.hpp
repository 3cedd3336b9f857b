// tools/cli_plots.hpp - PNG plots for the command line, drawn by PLplot (Debian's libplplot-dev,
// its C++ binding, through the Cairo PNG driver): line plots with a legend (ROC curves, sweeps,
// trade-offs) and grouped bars (per-class AUC). Written to FILE.tmp.png, then renamed.
#pragma once

#include "cli_common.hpp"

#include <oneclass/data/csv.hpp>
#include <oneclass/eval/roc_auc.hpp>

#include <plplot/plstream.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace oneclass::cli {

struct plot_series {
    std::string name;
    std::vector<double> x, y;
};

namespace plot_detail {
// a palette readable on white and in grey print (colour map 0 entries 2..)
constexpr int palette[][3] = {{0, 114, 178}, {213, 94, 0}, {0, 158, 115}, {204, 121, 167}, {86, 180, 233},
                              {230, 159, 0}, {120, 120, 120}, {0, 0, 0}, {240, 228, 66}, {153, 0, 0}};
constexpr int palette_size = int(sizeof palette / sizeof palette[0]);

/// A stream writing one PNG; the file appears complete or not at all (the stream writes it when it
/// ends, on destruction, into FILE.tmp.png, which is then renamed).
class png_page {
public:
    png_page(const fs::path& path, int width, int height)
        : path_(path), tmp_(path.string() + ".tmp.png"), pls_(std::make_unique<plstream>()) {
        pls_->sdev("pngcairo");
        pls_->sfnam(tmp_.c_str());
        pls_->spage(0, 0, width, height, 0, 0);
        pls_->scolbg(255, 255, 255);
        pls_->scol0(1, 0, 0, 0);  // axes and labels in black
        for (int i = 0; i < palette_size; ++i) pls_->scol0(2 + i, palette[i][0], palette[i][1], palette[i][2]);
        pls_->init();
        pls_->schr(0, 0.9);
    }
    png_page(const png_page&) = delete;
    png_page& operator=(const png_page&) = delete;
    plstream& operator*() { return *pls_; }
    /// Ends the page and moves the file into place.
    void finish() {
        pls_->eop();
        pls_.reset();
        fs::rename(tmp_, path_);
    }
    ~png_page() {
        if (!pls_) return;
        pls_.reset();  // a page an error left unfinished: its file is removed
        std::error_code ec;
        fs::remove(tmp_, ec);
    }

private:
    fs::path path_;
    std::string tmp_;
    std::unique_ptr<plstream> pls_;
};

inline void legend(plstream& pls, const std::vector<std::string>& names, bool lines, bool outside = false) {
    const PLINT n = PLINT(names.size());
    std::vector<PLINT> opt(names.size(), lines ? PL_LEGEND_LINE : PL_LEGEND_COLOR_BOX), colors(names.size()), styles(names.size(), 1),
        patterns(names.size(), 0), symbol_numbers(names.size(), 0);
    std::vector<PLFLT> widths(names.size(), 2.0), scales(names.size(), 0.8), box_scales(names.size(), 0.8), box_widths(names.size(), 0.0);
    std::vector<const char*> texts, symbols(names.size(), "");
    for (std::size_t i = 0; i < names.size(); ++i) colors[i] = 2 + PLINT(i % palette_size), texts.push_back(names[i].c_str());
    PLFLT w = 0, h = 0;
    pls.legend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, outside ? PL_POSITION_RIGHT | PL_POSITION_OUTSIDE : PL_POSITION_RIGHT | PL_POSITION_BOTTOM | PL_POSITION_INSIDE,
               0.02, 0.02, 0.06, 0, 1, 1, 0, 0, n, opt.data(), 0.8, 0.75, 2.0, 0.0, colors.data(), texts.data(), colors.data(),
               patterns.data(), box_scales.data(), box_widths.data(), colors.data(), styles.data(), widths.data(), colors.data(),
               scales.data(), symbol_numbers.data(), symbols.data());
}
}  // namespace plot_detail

/// Lines (with points when a series has few of them) and a legend; `log_x`: a log10 x axis
/// (values must be > 0). The y range is the data's, padded, unless lo < hi is given.
inline void line_plot(const fs::path& path, const std::string& title, const std::string& xlabel, const std::string& ylabel,
                      const std::vector<plot_series>& series, bool log_x = false, double ylo = 0, double yhi = 0) {
    require(!series.empty(), "plot", "nothing to plot for '", path.string(), "'");
    double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
    for (const auto& s : series) {
        require(s.x.size() == s.y.size() && !s.x.empty(), "plot", "series '", s.name, "' has ", s.x.size(), " x and ", s.y.size(), " y values");
        for (std::size_t i = 0; i < s.x.size(); ++i) {
            require(std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!log_x || s.x[i] > 0), "plot", "series '", s.name,
                    "' has a value that cannot be plotted at point ", i);
            const double x = log_x ? std::log10(s.x[i]) : s.x[i];
            x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
        }
    }
    if (ylo < yhi) y0 = ylo, y1 = yhi;
    if (x1 <= x0) x0 -= 0.5, x1 += 0.5;
    if (y1 <= y0) y0 -= 0.5, y1 += 0.5;
    const double px = 0.04 * (x1 - x0), py = 0.06 * (y1 - y0);
    plot_detail::png_page page(path, 1000, 600);
    plstream& pls = *page;
    pls.col0(1);
    // the plot on the left three quarters, the legend outside it on the right: it never covers data
    pls.adv(0);
    pls.vpor(0.09, 0.70, 0.11, 0.91);
    pls.wind(x0 - px, x1 + px, y0 - (ylo < yhi ? 0 : py), y1 + (ylo < yhi ? 0 : py));
    pls.box(log_x ? "bclnst" : "bcnst", 0, 0, "bcnstv", 0, 0);
    pls.lab(xlabel.c_str(), ylabel.c_str(), title.c_str());
    std::vector<std::string> names;
    for (std::size_t k = 0; k < series.size(); ++k) {
        const auto& s = series[k];
        std::vector<PLFLT> x(s.x.size()), y(s.y.begin(), s.y.end());
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = log_x ? std::log10(s.x[i]) : s.x[i];
        pls.col0(2 + PLINT(k % plot_detail::palette_size));
        pls.width(2.0);
        pls.line(PLINT(x.size()), x.data(), y.data());
        if (x.size() <= 30) pls.poin(PLINT(x.size()), x.data(), y.data(), 17);
        names.push_back(s.name);
    }
    pls.width(1.0);
    pls.col0(1);
    plot_detail::legend(pls, names, true, true);
    page.finish();
}

/// Grouped bars: one group per label, one bar per series (values in [ylo, yhi]).
inline void bar_plot(const fs::path& path, const std::string& title, const std::string& ylabel, const std::vector<std::string>& groups,
                     const std::vector<plot_series>& series, double ylo, double yhi) {
    require(!series.empty() && !groups.empty(), "plot", "nothing to plot for '", path.string(), "'");
    for (const auto& s : series)
        require(s.y.size() == groups.size(), "plot", "series '", s.name, "' has ", s.y.size(), " values for ", groups.size(), " groups");
    plot_detail::png_page page(path, 1100, 600);
    plstream& pls = *page;
    pls.col0(1);
    const double G = double(groups.size());
    pls.adv(0);
    pls.vpor(0.08, 0.72, 0.11, 0.91);
    pls.wind(0, G, ylo, yhi);
    pls.box("bc", 0, 0, "bcgnstv", 0, 0);
    pls.lab("", ylabel.c_str(), title.c_str());
    const double w = 0.8 / double(series.size());
    for (std::size_t k = 0; k < series.size(); ++k) {
        pls.col0(2 + PLINT(k % plot_detail::palette_size));
        for (std::size_t g = 0; g < groups.size(); ++g) {
            const double v = std::clamp(series[k].y[g], ylo, yhi), x = double(g) + 0.1 + w * double(k);
            const PLFLT bx[4] = {x, x, x + w * 0.9, x + w * 0.9}, by[4] = {ylo, v, v, ylo};
            pls.fill(4, bx, by);
        }
    }
    pls.col0(1);
    for (std::size_t g = 0; g < groups.size(); ++g) pls.mtex("b", 1.5, (double(g) + 0.5) / G, 0.5, groups[g].c_str());
    std::vector<std::string> names;
    for (const auto& s : series) names.push_back(s.name);
    plot_detail::legend(pls, names, false, true);
    page.finish();
}

/// ROC curves of several scorings of the same test rows, with the diagonal.
inline void roc_plot(const fs::path& path, const std::string& title, const std::vector<std::string>& names,
                     const std::vector<std::vector<double>>& scores, const std::vector<int>& labels) {
    std::vector<plot_series> series;
    for (std::size_t k = 0; k < names.size(); ++k) {
        plot_series s;
        char b[96];
        std::snprintf(b, sizeof b, "%s: %.3f", names[k].c_str(), roc_auc(scores[k], labels));
        s.name = b;
        for (const auto& p : roc_curve(scores[k], labels)) s.x.push_back(p.fpr), s.y.push_back(p.tpr);
        series.push_back(std::move(s));
    }
    series.push_back({"chance", {0, 1}, {0, 1}});
    line_plot(path, title + " (legend: ROC AUC)", "false positive rate", "true positive rate", series, false, 0, 1);
}

// ---- oneclass plot: a line plot from any CSV (results, sweeps, trade-offs) ----------------------------
struct plot_args {
    std::string csv, x, y, group, title, out;
    bool log_x = false;
};

inline int run_plot(const plot_args& a) {
    require(extension_of(a.out) == ".png", "cli", "--out '", a.out, "' must be a .png file");
    check_output_file(a.out, "--out");
    const std::string text = read_file_bytes(a.csv, "cli");
    const auto records = parse_csv(text, a.csv);
    require(records.size() >= 2, "cli", "--csv '", a.csv, "' has no data rows");
    const auto& header = records[0].fields;
    auto column = [&](const std::string& name, const char* flag) -> std::size_t {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (header[i] == name) return i;
        std::string cols;
        for (const auto& h : header) cols += (cols.empty() ? "" : ", ") + h;
        fail("cli", flag, " '", name, "' is not a column of '", a.csv, "' (", cols, ")");
    };
    const std::size_t cx = column(a.x, "--x"), cy = column(a.y, "--y");
    const std::size_t cg = a.group.empty() ? std::size_t(-1) : column(a.group, "--group");
    std::vector<plot_series> series;
    for (std::size_t r = 1; r < records.size(); ++r) {
        const auto& f = records[r].fields;
        require(f.size() == header.size(), "cli", "--csv '", a.csv, "' line ", records[r].line, " has ", f.size(), " fields, the header ",
                header.size());
        double x = 0, y = 0;
        require(detail::parse_double(f[cx], x) && detail::parse_double(f[cy], y), "cli", "--csv '", a.csv, "' line ", records[r].line,
                ": '", f[cx], "' / '", f[cy], "' are not numbers");
        const std::string g = cg == std::size_t(-1) ? a.y : f[cg];
        auto it = std::find_if(series.begin(), series.end(), [&](const plot_series& s) { return s.name == g; });
        if (it == series.end()) it = series.insert(series.end(), plot_series{g, {}, {}});
        it->x.push_back(x), it->y.push_back(y);
    }
    for (auto& s : series) {  // each line in x order
        std::vector<std::size_t> o(s.x.size());
        for (std::size_t i = 0; i < o.size(); ++i) o[i] = i;
        std::sort(o.begin(), o.end(), [&](std::size_t p, std::size_t q) { return s.x[p] < s.x[q]; });
        plot_series t{s.name, {}, {}};
        for (auto i : o) t.x.push_back(s.x[i]), t.y.push_back(s.y[i]);
        s = std::move(t);
    }
    line_plot(a.out, a.title.empty() ? a.y + " against " + a.x : a.title, a.x, a.y, series, a.log_x);
    std::printf("plot=%s series=%zu\n", a.out.c_str(), series.size());
    return 0;
}

}  // namespace oneclass::cli
