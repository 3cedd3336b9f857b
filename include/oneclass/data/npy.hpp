// oneclass/data/npy.hpp - NumPy .npy files (format versions 1.0, 2.0, 3.0).
//
// Reads 1-D and 2-D arrays of any fixed-size numeric dtype (float16 excepted: f4, f8, i1/u1,
// i2/u2, i4/u4, i8/u8, b1), little- or big-endian, C or Fortran order, converting to the requested
// type; writes float32 / float64 2-D (C order) and 1-D arrays atomically. Every malformed header,
// unsupported dtype, shape mismatch or truncated data block throws io_error naming the file.
//
//     auto X = oneclass::load_npy_matrix<float>("features.npy");   // n x d
//     oneclass::save_npy("scores.npy", X.view());
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/core/error.hpp>
#include <oneclass/tensor/matrix.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace oneclass {

struct npy_header {
    char kind = 'f';            ///< 'f' float, 'i' signed, 'u' unsigned, 'b' bool
    std::size_t itemsize = 4;
    bool big_endian = false;
    bool fortran_order = false;
    std::vector<std::size_t> shape;
    std::size_t data_offset = 0;
};

namespace detail {

inline std::string_view npy_value_of(std::string_view dict, std::string_view key, const std::string& src) {
    const std::string k1 = "'" + std::string(key) + "'", k2 = "\"" + std::string(key) + "\"";
    auto p = dict.find(k1);
    if (p == std::string_view::npos) p = dict.find(k2);
    if (p == std::string_view::npos) fail<io_error>("load_npy", "'", src, "' has no '", key, "' in its header");
    p = dict.find(':', p);
    if (p == std::string_view::npos) fail<io_error>("load_npy", "'", src, "' has a malformed header");
    ++p;
    while (p < dict.size() && dict[p] == ' ') ++p;
    return dict.substr(p);
}

inline npy_header parse_npy_header(std::string_view bytes, const std::string& src) {
    constexpr char magic[] = "\x93NUMPY";
    if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0)
        fail<io_error>("load_npy", "'", src, "' is not a .npy file (bad magic)");
    const int major = static_cast<unsigned char>(bytes[6]);
    std::size_t hlen = 0, hstart = 0;
    if (major == 1) {
        hlen = std::size_t(static_cast<unsigned char>(bytes[8])) | std::size_t(static_cast<unsigned char>(bytes[9])) << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) fail<io_error>("load_npy", "'", src, "' is truncated in its header");
        for (int b = 0; b < 4; ++b) hlen |= std::size_t(static_cast<unsigned char>(bytes[8 + b])) << (8 * b);
        hstart = 12;
    } else {
        fail<io_error>("load_npy", "'", src, "' has unsupported .npy format version ", major);
    }
    if (hstart + hlen > bytes.size()) fail<io_error>("load_npy", "'", src, "' is truncated in its header");
    const std::string_view dict = bytes.substr(hstart, hlen);
    if (dict.find('{') == std::string_view::npos) fail<io_error>("load_npy", "'", src, "' has a corrupt header");
    npy_header h;
    h.data_offset = hstart + hlen;

    auto descr = npy_value_of(dict, "descr", src);
    if (descr.empty() || (descr[0] != '\'' && descr[0] != '"'))
        fail<io_error>("load_npy", "'", src, "' has a structured or malformed dtype (only plain numeric arrays)");
    const auto close = descr.find(descr[0], 1);
    if (close == std::string_view::npos) fail<io_error>("load_npy", "'", src, "' has a malformed dtype");
    const std::string_view d = descr.substr(1, close - 1);
    if (d.size() < 3) fail<io_error>("load_npy", "'", src, "' has a malformed dtype '", d, "'");
    const char order = d[0];
    h.kind = d[1];
    h.itemsize = std::size_t(std::atoi(std::string(d.substr(2)).c_str()));
    h.big_endian = order == '>' || (order == '!');
    const bool ok_kind = (h.kind == 'f' && (h.itemsize == 4 || h.itemsize == 8)) ||
                         ((h.kind == 'i' || h.kind == 'u') &&
                          (h.itemsize == 1 || h.itemsize == 2 || h.itemsize == 4 || h.itemsize == 8)) ||
                         (h.kind == 'b' && h.itemsize == 1);
    if (!ok_kind || (order != '<' && order != '>' && order != '|' && order != '=' && order != '!'))
        fail<io_error>("load_npy", "'", src, "' has unsupported dtype '", d, "'");

    const auto fo = npy_value_of(dict, "fortran_order", src);
    if (fo.starts_with("True")) h.fortran_order = true;
    else if (fo.starts_with("False")) h.fortran_order = false;
    else fail<io_error>("load_npy", "'", src, "' has a malformed fortran_order");

    auto sh = npy_value_of(dict, "shape", src);
    if (sh.empty() || sh[0] != '(') fail<io_error>("load_npy", "'", src, "' has a malformed shape");
    const auto end = sh.find(')');
    if (end == std::string_view::npos) fail<io_error>("load_npy", "'", src, "' has a malformed shape");
    std::string_view inner = sh.substr(1, end - 1);
    while (!inner.empty()) {
        while (!inner.empty() && (inner[0] == ' ' || inner[0] == ',')) inner.remove_prefix(1);
        if (inner.empty()) break;
        std::size_t v = 0, k = 0;
        while (k < inner.size() && inner[k] >= '0' && inner[k] <= '9') {
            if (v > (std::size_t(1) << 48)) fail<io_error>("load_npy", "'", src, "' has an absurd dimension in its shape");
            v = v * 10 + std::size_t(inner[k++] - '0');
        }
        if (k == 0) fail<io_error>("load_npy", "'", src, "' has a malformed shape");
        h.shape.push_back(v);
        inner.remove_prefix(k);
    }
    return h;
}

template <class Src, class T>
void npy_convert(const char* p, std::size_t count, bool swap, T* out) {
    for (std::size_t i = 0; i < count; ++i) {
        unsigned char buf[sizeof(Src)];
        std::memcpy(buf, p + i * sizeof(Src), sizeof(Src));
        if (swap)
            for (std::size_t a = 0, b = sizeof(Src) - 1; a < b; ++a, --b) std::swap(buf[a], buf[b]);
        Src v;
        std::memcpy(&v, buf, sizeof(Src));
        out[i] = static_cast<T>(v);
    }
}

template <class T>
std::vector<T> npy_values(std::string_view bytes, const npy_header& h, std::size_t count, const std::string& src) {
    const std::size_t need = checked_mul<io_error>(count, h.itemsize, "load_npy", ("'" + src + "' data size").c_str());
    if (bytes.size() - h.data_offset < need)
        fail<io_error>("load_npy", "'", src, "' is truncated: expected ", need, " data bytes, found ",
                       bytes.size() - h.data_offset);
    if (bytes.size() - h.data_offset > need)
        fail<io_error>("load_npy", "'", src, "' has ", bytes.size() - h.data_offset - need, " trailing bytes");
    std::vector<T> out(count);
    const char* p = bytes.data() + h.data_offset;
    const bool swap = h.big_endian && h.itemsize > 1;
    switch (h.kind) {
        case 'f': h.itemsize == 4 ? npy_convert<float>(p, count, swap, out.data()) : npy_convert<double>(p, count, swap, out.data()); break;
        case 'b': npy_convert<std::uint8_t>(p, count, false, out.data()); break;
        case 'i':
            switch (h.itemsize) {
                case 1: npy_convert<std::int8_t>(p, count, swap, out.data()); break;
                case 2: npy_convert<std::int16_t>(p, count, swap, out.data()); break;
                case 4: npy_convert<std::int32_t>(p, count, swap, out.data()); break;
                default: npy_convert<std::int64_t>(p, count, swap, out.data()); break;
            }
            break;
        default:
            switch (h.itemsize) {
                case 1: npy_convert<std::uint8_t>(p, count, swap, out.data()); break;
                case 2: npy_convert<std::uint16_t>(p, count, swap, out.data()); break;
                case 4: npy_convert<std::uint32_t>(p, count, swap, out.data()); break;
                default: npy_convert<std::uint64_t>(p, count, swap, out.data()); break;
            }
    }
    return out;
}

inline std::string npy_bytes(const char* descr, const std::string& shape, const void* data, std::size_t nbytes) {
    std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    std::size_t total = 10 + dict.size() + 1;
    dict.append((64 - total % 64) % 64, ' ');
    dict.push_back('\n');
    std::string out("\x93NUMPY\x01\x00", 8);
    out.push_back(char(dict.size() & 0xff));
    out.push_back(char(dict.size() >> 8));
    out += dict;
    out.append(static_cast<const char*>(data), nbytes);
    return out;
}

template <class T>
constexpr const char* npy_descr() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "save_npy: float or double");
    static_assert(std::endian::native == std::endian::little, "save_npy writes little-endian data");
    return std::is_same_v<T, float> ? "<f4" : "<f8";
}

}  // namespace detail

namespace detail {
template <class T>
matrix<T> load_npy_matrix_unchecked(const std::filesystem::path& path) {
    const std::string bytes = read_file_bytes(path, "load_npy");
    const std::string src = path.string();
    const npy_header h = parse_npy_header(bytes, src);
    if (h.shape.empty() || h.shape.size() > 2)
        fail<io_error>("load_npy", "'", src, "' holds a ", h.shape.size(), "-D array; expected 2-D (samples x features)");
    const std::size_t rows = h.shape[0], cols = h.shape.size() == 2 ? h.shape[1] : 1;
    auto v = npy_values<T>(bytes, h, checked_mul<io_error>(rows, cols, "load_npy", ("'" + src + "' shape").c_str()), src);
    matrix<T> m(rows, cols);
    if (h.fortran_order && h.shape.size() == 2) {
        for (std::size_t j = 0; j < cols; ++j)
            for (std::size_t i = 0; i < rows; ++i) m(i, j) = v[j * rows + i];
    } else {
        std::copy(v.begin(), v.end(), m.data());
    }
    return m;
}

template <class T>
std::vector<T> load_npy_vector_unchecked(const std::filesystem::path& path) {
    const std::string bytes = read_file_bytes(path, "load_npy");
    const std::string src = path.string();
    const npy_header h = parse_npy_header(bytes, src);
    std::size_t n = 0;
    if (h.shape.size() == 1) n = h.shape[0];
    else if (h.shape.size() == 2 && (h.shape[0] == 1 || h.shape[1] == 1)) n = checked_mul<io_error>(h.shape[0], h.shape[1], "load_npy", ("'" + src + "' shape").c_str());
    else fail<io_error>("load_npy", "'", src, "' does not hold a vector (1-D array)");
    return npy_values<T>(bytes, h, n, src);
}
}  // namespace detail

/// Reads a 2-D array (a 1-D array of n values becomes n x 1) as a matrix of T.
template <class T>
matrix<T> load_npy_matrix(const std::filesystem::path& path) {
    return naming_file(path, "load_npy", [&] { return detail::load_npy_matrix_unchecked<T>(path); });
}

/// Rows [lo, hi) of a 2-D C-order array (a 1-D array of n values is n x 1), reading only the
/// header and those rows' bytes: one machine's shard of a training set larger than its memory
/// (mpi/sharded.hpp). The file's size must match its header, as load_npy_matrix checks; `rows`
/// (if given) receives the array's row count. hi is clamped to it, so (0, -1) reads everything.
template <class T>
matrix<T> load_npy_rows(const std::filesystem::path& path, std::size_t lo, std::size_t hi, std::size_t* rows = nullptr) {
    return naming_file(path, "load_npy", [&] {
        const std::string src = path.string();
        std::ifstream in(path, std::ios::binary);
        if (!in) fail<io_error>("load_npy", "cannot open '", src, "'");
        in.seekg(0, std::ios::end);
        const std::size_t size = std::size_t(in.tellg());
        // the header: 10 or 12 bytes of preamble, then its length (read in two steps)
        std::string head(std::min<std::size_t>(size, 12), '\0');
        in.seekg(0);
        in.read(head.data(), std::streamsize(head.size()));
        std::size_t hlen = 0, hstart = 10;
        if (head.size() >= 10 && static_cast<unsigned char>(head[6]) == 1)
            hlen = std::size_t(static_cast<unsigned char>(head[8])) | std::size_t(static_cast<unsigned char>(head[9])) << 8;
        else if (head.size() >= 12) {
            for (int b = 0; b < 4; ++b) hlen |= std::size_t(static_cast<unsigned char>(head[8 + b])) << (8 * b);
            hstart = 12;
        }
        head.resize(std::min(size, hstart + hlen));
        in.seekg(0);
        in.read(head.data(), std::streamsize(head.size()));
        npy_header h = detail::parse_npy_header(head, src);  // names a bad magic or version, a short header
        if (h.shape.empty() || h.shape.size() > 2)
            fail<io_error>("load_npy", "'", src, "' holds a ", h.shape.size(), "-D array; expected 2-D (samples x features)");
        if (h.fortran_order && h.shape.size() == 2 && h.shape[1] > 1)
            fail<io_error>("load_npy", "'", src, "' is in Fortran order: its rows are not contiguous, read it whole");
        const std::size_t n = h.shape[0], cols = h.shape.size() == 2 ? h.shape[1] : 1;
        const std::size_t row_bytes = checked_mul<io_error>(cols, h.itemsize, "load_npy", ("'" + src + "' row size").c_str());
        const std::size_t need = checked_mul<io_error>(n, row_bytes, "load_npy", ("'" + src + "' data size").c_str());
        if (size - h.data_offset != need)
            fail<io_error>("load_npy", "'", src, "' ", size - h.data_offset < need ? "is truncated" : "has trailing bytes",
                           ": expected ", need, " data bytes, found ", size - h.data_offset);
        if (rows) *rows = n;
        hi = std::min(hi, n);
        require(lo <= hi, "load_npy_rows", "rows [", lo, ", ", hi, ") of '", src, "' (", n, " rows)");
        std::string bytes = head.substr(0, h.data_offset);
        bytes.resize(h.data_offset + (hi - lo) * row_bytes);
        in.seekg(std::streamoff(h.data_offset + lo * row_bytes));
        in.read(bytes.data() + h.data_offset, std::streamsize((hi - lo) * row_bytes));
        if (!in) fail<io_error>("load_npy", "cannot read rows ", lo, "..", hi, " of '", src, "'");
        const auto v = detail::npy_values<T>(bytes, h, (hi - lo) * cols, src);
        matrix<T> m(hi - lo, cols);
        std::copy(v.begin(), v.end(), m.data());
        return m;
    });
}

/// Reads a 1-D array (or an n x 1 / 1 x n 2-D one) as a vector of T.
template <class T>
std::vector<T> load_npy_vector(const std::filesystem::path& path) {
    return naming_file(path, "load_npy", [&] { return detail::load_npy_vector_unchecked<T>(path); });
}

/// Writes a 2-D float32 / float64 array (C order) atomically.
template <class T>
void save_npy(const std::filesystem::path& path, matrix_view<const T> m) {
    matrix<T> c(m);  // contiguous copy
    const std::string shape = "(" + std::to_string(c.rows()) + ", " + std::to_string(c.cols()) + ")";
    write_file_atomic(path, detail::npy_bytes(detail::npy_descr<T>(), shape, c.data(), c.size() * sizeof(T)), "save_npy");
}

/// Writes an N-d float32 / float64 array (C order, `shape` its dimensions) atomically, e.g. the
/// N x H x W anomaly maps of a test set.
template <class T>
void save_npy(const std::filesystem::path& path, const T* data, const std::vector<std::size_t>& shape) {
    require(!shape.empty(), "save_npy", "an array needs at least one dimension");
    std::string s = "(";
    std::size_t n = 1;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        s += (k ? ", " : "") + std::to_string(shape[k]);
        n *= shape[k];
    }
    s += shape.size() == 1 ? ",)" : ")";
    write_file_atomic(path, detail::npy_bytes(detail::npy_descr<T>(), s, data, n * sizeof(T)), "save_npy");
}

/// Writes a 1-D float32 / float64 array atomically.
template <class T>
void save_npy(const std::filesystem::path& path, const std::vector<T>& v) {
    const std::string shape = "(" + std::to_string(v.size()) + ",)";
    write_file_atomic(path, detail::npy_bytes(detail::npy_descr<T>(), shape, v.data(), v.size() * sizeof(T)), "save_npy");
}

}  // namespace oneclass
