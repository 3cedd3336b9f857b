// oneclass/data/csv.hpp - numeric CSV matrices (rows = samples) and score columns.
//
// Reading: comma-separated numbers, one sample per line; an optional header line (the first
// non-empty line when none of its fields is a number); a UTF-8 byte-order mark, blank lines and
// "\r\n" endings are accepted.
// A ragged row, a non-numeric field, a NaN/Inf value or a file with no data rows throws
// io_error naming the file, line and column. Writing is atomic (temp file + rename).
//
//     auto X = oneclass::load_csv_matrix<double>("train.csv");
//     oneclass::save_csv_column("scores.csv", "score", scores);
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace oneclass {

namespace detail {
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}
inline bool parse_double(std::string_view s, double& v) {
    s = trim(s);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
template <class F>
void split_fields(std::string_view line, F&& f) {
    std::size_t col = 0;
    while (true) {
        const auto p = line.find(',');
        f(col++, line.substr(0, p));
        if (p == std::string_view::npos) break;
        line.remove_prefix(p + 1);
    }
}
}  // namespace detail

namespace detail {
template <class T>
matrix<T> load_csv_matrix_unchecked(const std::filesystem::path& path) {
    const std::string text = read_file_bytes(path, "load_csv");
    const std::string src = path.string();
    std::vector<T> values;
    std::size_t cols = 0, rows = 0, line_no = 0;
    bool first = true;
    std::string_view rest(text);
    if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);  // a UTF-8 byte-order mark (spreadsheet exports)
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string_view line = detail::trim(rest.substr(0, nl));
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        ++line_no;
        if (line.empty()) continue;
        std::vector<double> row;
        std::size_t bad_col = 0, numbers = 0;
        std::string_view bad;
        bool numeric = true;
        detail::split_fields(line, [&](std::size_t c, std::string_view f) {
            double v;
            if (detail::parse_double(f, v)) {
                ++numbers;
                row.push_back(v);
            } else if (numeric) {
                numeric = false;
                bad_col = c;
                bad = detail::trim(f);
            }
        });
        if (!numeric) {
            // a header only if no field is a number: "1,2,3,x" is a data row with a typo, and
            // taking it for a header would drop it silently
            if (first && numbers == 0) {
                first = false;
                continue;
            }
            fail<io_error>("load_csv", "'", src, "' line ", line_no, ", column ", bad_col + 1, ": '", bad,
                           "' is not a number");
        }
        first = false;
        if (cols == 0) cols = row.size();
        if (row.size() != cols)
            fail<io_error>("load_csv", "'", src, "' line ", line_no, " has ", row.size(), " fields, expected ", cols);
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (!std::isfinite(row[c]))
                fail<io_error>("load_csv", "'", src, "' line ", line_no, ", column ", c + 1, " is not finite (",
                               row[c], ")");
            values.push_back(T(row[c]));
        }
        ++rows;
    }
    if (rows == 0) fail<io_error>("load_csv", "'", src, "' has no data rows");
    return matrix<T>(rows, cols, std::span<const T>(values));
}
}  // namespace detail

/// Reads a numeric CSV file as an n x d matrix of T.
template <class T>
matrix<T> load_csv_matrix(const std::filesystem::path& path) {
    return naming_file(path, "load_csv", [&] { return detail::load_csv_matrix_unchecked<T>(path); });
}

/// Reads a single-column CSV (optionally with a header) as a vector.
template <class T>
std::vector<T> load_csv_vector(const std::filesystem::path& path) {
    auto m = load_csv_matrix<T>(path);
    if (m.cols() != 1)
        fail<io_error>("load_csv", "'", path.string(), "' has ", m.cols(), " columns; expected a single column");
    return std::vector<T>(m.data(), m.data() + m.rows());
}

/// Writes one value per line under a header, atomically; values with 9 significant digits
/// for float and 17 for double, so that they read back exactly.
template <class T>
void save_csv_column(const std::filesystem::path& path, std::string_view header, const std::vector<T>& values) {
    std::string out(header);
    out.push_back('\n');
    char buf[64];
    for (const T v : values) {
        const auto r = std::to_chars(buf, buf + sizeof(buf), v);
        out.append(buf, r.ptr);
        out.push_back('\n');
    }
    write_file_atomic(path, out, "save_csv");
}

/// Writes a matrix as CSV (optional header line), atomically.
template <class T>
void save_csv_matrix(const std::filesystem::path& path, matrix_view<const T> m, std::string_view header = {}) {
    std::string out;
    if (!header.empty()) {
        out.append(header);
        out.push_back('\n');
    }
    char buf[64];
    for (std::size_t i = 0; i < m.rows(); ++i) {
        for (std::size_t j = 0; j < m.cols(); ++j) {
            if (j) out.push_back(',');
            const auto r = std::to_chars(buf, buf + sizeof(buf), m(i, j));
            out.append(buf, r.ptr);
        }
        out.push_back('\n');
    }
    write_file_atomic(path, out, "save_csv");
}

}  // namespace oneclass
