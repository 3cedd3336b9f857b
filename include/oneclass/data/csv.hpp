// oneclass/data/csv.hpp - numeric CSV matrices (rows = samples) and score columns.
//
// Reading: RFC 4180 CSV by libcsv (fields may be quoted, with commas, doubled quotes and line
// breaks inside), one sample per record; an optional header (the first record when none of its
// fields is a number); a UTF-8 byte-order mark, blank lines and "\r\n" endings are accepted.
// A malformed quote, a ragged row, a non-numeric field, a NaN/Inf value or a file with no data
// rows throws io_error naming the file, line and column. Writing is atomic (temp file + rename),
// header fields quoted where they need it.
//
//     auto X = oneclass::load_csv_matrix<double>("train.csv");
//     oneclass::save_csv_column("scores.csv", "score", scores);
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <csv.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace oneclass {

/// One record of a CSV text and the line it ends on (1-based; a quoted line break spans lines).
struct csv_record {
    std::size_t line = 0;
    std::vector<std::string> fields;
};

/// The records of a CSV text, parsed by libcsv in strict mode (a stray or unterminated quote is
/// an error: io_error naming `source` and the line); blank lines are skipped, spaces and tabs
/// around unquoted fields dropped, a leading UTF-8 byte-order mark ignored.
inline std::vector<csv_record> parse_csv(std::string_view text, std::string_view source = "CSV text") {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // spreadsheet exports
    struct state {
        std::vector<csv_record> records;
        csv_record current;
        std::size_t line = 1;
    } st;
    const auto field = [](void* s, std::size_t n, void* d) {
        static_cast<state*>(d)->current.fields.emplace_back(static_cast<const char*>(s), n);
    };
    const auto record = [](int, void* d) {
        auto* x = static_cast<state*>(d);
        x->current.line = x->line;
        x->records.push_back(std::move(x->current));
        x->current = {};
    };
    csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) fail<io_error>("load_csv", "out of memory parsing '", source, "'");
    std::string error;
    // fed one line at a time, so that each record knows the line it ends on
    while (!text.empty() && error.empty()) {
        const auto nl = text.find('\n');
        const std::string_view chunk = text.substr(0, nl == std::string_view::npos ? text.size() : nl + 1);
        if (csv_parse(&p, chunk.data(), chunk.size(), field, record, &st) != chunk.size())
            error = csv_strerror(csv_error(&p));
        else if (nl != std::string_view::npos)
            text.remove_prefix(chunk.size()), ++st.line;
        else
            text = {};
    }
    if (error.empty() && csv_fini(&p, field, record, &st) != 0) error = csv_strerror(csv_error(&p));
    csv_free(&p);
    if (!error.empty()) fail<io_error>("load_csv", "'", source, "' line ", st.line, ": malformed CSV (", error, ")");
    return std::move(st.records);
}

/// One CSV field as RFC 4180 writes it: as is, or quoted (inner quotes doubled) when it holds a
/// comma, quote or line break, or starts or ends with a space.
inline std::string csv_quoted(std::string_view field) {
    const bool plain = field.find_first_of(",\"\r\n") == std::string_view::npos &&
                       (field.empty() || (field.front() != ' ' && field.back() != ' '));
    if (plain) return std::string(field);
    std::string out(field.size() * 2 + 2, '\0');
    out.resize(csv_write(out.data(), out.size(), field.data(), field.size()));
    return out;
}

namespace detail {
inline bool parse_double(std::string_view s, double& v) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);  // inside quotes
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    if (s.empty()) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace detail

namespace detail {
template <class T>
matrix<T> load_csv_matrix_unchecked(const std::filesystem::path& path) {
    const std::string src = path.string();
    const auto records = parse_csv(read_file_bytes(path, "load_csv"), src);
    std::vector<T> values;
    std::size_t cols = 0, rows = 0;
    bool first = true;
    for (const csv_record& rec : records) {
        std::vector<double> row;
        std::size_t bad_col = 0, numbers = 0;
        std::string_view bad;
        bool numeric = true;
        for (std::size_t c = 0; c < rec.fields.size(); ++c) {
            double v;
            if (detail::parse_double(rec.fields[c], v)) {
                ++numbers;
                row.push_back(v);
            } else if (numeric) {
                numeric = false;
                bad_col = c;
                bad = rec.fields[c];
            }
        }
        if (!numeric) {
            // a header only if no field is a number: "1,2,3,x" is a data row with a typo, and
            // taking it for a header would drop it silently
            if (first && numbers == 0) {
                first = false;
                continue;
            }
            fail<io_error>("load_csv", "'", src, "' line ", rec.line, ", column ", bad_col + 1, ": '", bad,
                           "' is not a number");
        }
        first = false;
        if (cols == 0) cols = row.size();
        if (row.size() != cols)
            fail<io_error>("load_csv", "'", src, "' line ", rec.line, " has ", row.size(), " fields, expected ", cols);
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (!std::isfinite(row[c]))
                fail<io_error>("load_csv", "'", src, "' line ", rec.line, ", column ", c + 1, " is not finite (",
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

/// Writes one value per line under a header (quoted where it needs it), atomically; values with
/// 9 significant digits for float and 17 for double, so that they read back exactly.
template <class T>
void save_csv_column(const std::filesystem::path& path, std::string_view header, const std::vector<T>& values) {
    std::string out = csv_quoted(header);
    out.push_back('\n');
    char buf[64];
    for (const T v : values) {
        const auto r = std::to_chars(buf, buf + sizeof(buf), v);
        out.append(buf, r.ptr);
        out.push_back('\n');
    }
    write_file_atomic(path, out, "save_csv");
}

/// Writes a matrix as CSV, atomically, under an optional header line written as given (its fields
/// already joined; csv_quoted quotes one that needs it).
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
