// oneclass/core/binary_io.hpp - checked binary serialisation and atomic file writes.
//
// Model files are built in memory with `binary_writer`, framed with a magic, a format version and
// a CRC-32 (`write_framed_file`), and written atomically: to a temporary file in the same
// directory, flushed, then renamed over the target, so a crash or a full disk never leaves a
// half-written model behind. `binary_reader` checks every read against the remaining bytes and
// throws io_error on truncation instead of reading past the end.
#pragma once

#include <oneclass/core/error.hpp>

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ios>
#include <iterator>
#include <new>
#include <stdexcept>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace oneclass {

/// CRC-32 (zlib's polynomial) of a byte range.
inline std::uint32_t crc32_of(std::string_view bytes) {
    uLong c = ::crc32(0L, Z_NULL, 0);
    std::size_t off = 0;
    while (off < bytes.size()) {  // zlib takes uInt lengths
        const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes.size() - off, 1u << 30));
        c = ::crc32(c, reinterpret_cast<const Bytef*>(bytes.data() + off), chunk);
        off += chunk;
    }
    return static_cast<std::uint32_t>(c);
}

/// Appends little-endian PODs, strings and vectors to a byte buffer.
class binary_writer {
public:
    template <class T>
        requires std::is_trivially_copyable_v<T>
    void put(const T& v) {
        const auto* p = reinterpret_cast<const char*>(&v);
        buf_.append(p, sizeof(T));
    }
    void put_string(std::string_view s) {
        put<std::uint64_t>(s.size());
        buf_.append(s.data(), s.size());
    }
    template <class T>
    void put_vector(const std::vector<T>& v) {
        put<std::uint64_t>(v.size());
        if (!v.empty()) buf_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
    template <class T>
    void put_array(const T* p, std::size_t n) {
        put<std::uint64_t>(n);
        if (n) buf_.append(reinterpret_cast<const char*>(p), n * sizeof(T));
    }
    const std::string& bytes() const noexcept { return buf_; }
    std::string& bytes() noexcept { return buf_; }

private:
    std::string buf_;
};

/// Reads what binary_writer wrote; throws io_error (naming `what`) on truncation.
class binary_reader {
public:
    binary_reader(std::string_view bytes, std::string what) : data_(bytes), what_(std::move(what)) {}

    template <class T>
        requires std::is_trivially_copyable_v<T>
    T get() {
        need(sizeof(T));
        T v;
        std::memcpy(&v, data_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::string get_string() {
        const auto n = get<std::uint64_t>();
        need(n);
        std::string s(data_.substr(pos_, n));
        pos_ += n;
        return s;
    }
    template <class T>
    std::vector<T> get_vector() {
        const auto n = get<std::uint64_t>();
        if (n > (data_.size() - pos_) / sizeof(T)) truncated();
        std::vector<T> v(n);
        if (n) std::memcpy(v.data(), data_.data() + pos_, n * sizeof(T));
        pos_ += n * sizeof(T);
        return v;
    }
    std::size_t remaining() const noexcept { return data_.size() - pos_; }
    const std::string& what() const noexcept { return what_; }

private:
    void need(std::size_t n) const {
        if (n > data_.size() - pos_) truncated();
    }
    [[noreturn]] void truncated() const { fail<io_error>("binary_reader", what_, " is truncated or corrupt"); }
    std::string_view data_;
    std::size_t pos_ = 0;
    std::string what_;
};

/// Reads a whole file; throws io_error naming the path if it cannot be opened or read (a
/// directory, a missing file, a read error) or does not fit in memory.
inline std::string read_file_bytes(const std::filesystem::path& path, const char* where) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail<io_error>(where, "'", path.string(), "' is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail<io_error>(where, "cannot open '", path.string(), "': ", std::strerror(errno));
    std::string s;
    try {
        s.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::bad_alloc&) {
        fail<io_error>(where, "'", path.string(), "' does not fit in memory");
    } catch (const std::ios_base::failure& e) {
        fail<io_error>(where, "error reading '", path.string(), "': ", e.what());
    }
    if (in.bad()) fail<io_error>(where, "error reading '", path.string(), "'");
    return s;
}

/// Runs `load` (which reads `path`) and turns an allocation failure inside it into an io_error
/// that names the file: a size read from a file that passed every check can still exceed memory.
template <class F>
auto naming_file(const std::filesystem::path& path, const char* where, F&& load) -> decltype(load()) {
    try {
        return load();
    } catch (const std::bad_alloc&) {
        fail<io_error>(where, "'", path.string(), "' needs more memory than is available");
    } catch (const std::length_error&) {
        fail<io_error>(where, "'", path.string(), "' describes an object too large to build");
    }
}

namespace detail {
/// Where a write to `path` lands: symlinks followed to their final target, also a dangling one
/// (whose target is then created), so that the link is kept and what it points to is replaced.
inline std::filesystem::path write_target(const std::filesystem::path& path, const char* where) {
    namespace fs = std::filesystem;
    fs::path p = path;
    for (int hops = 0;; ++hops) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(p, ec))) return p;
        if (hops == 40) fail<io_error>(where, "cannot write '", path.string(), "': too many levels of symbolic links");
        const fs::path next = fs::read_symlink(p, ec);
        if (ec) fail<io_error>(where, "cannot write '", path.string(), "': ", ec.message());
        p = next.is_absolute() ? next : p.parent_path() / next;
    }
}
}  // namespace detail

/// Writes `bytes` to `path` atomically: a temp file in the target's directory, fsync, rename. A
/// symlink is followed (the link stays, its target is replaced); an existing file keeps its mode
/// and, where permitted, its owner; a device, FIFO or socket (/dev/stdout, a named pipe) is written
/// in place, since renaming over it would replace the node with a regular file.
inline void write_file_atomic(const std::filesystem::path& path, std::string_view bytes, const char* where) {
    namespace fs = std::filesystem;
    const fs::path target = detail::write_target(path, where);
    struct stat st {};
    const bool exists = ::stat(target.c_str(), &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) fail<io_error>(where, "cannot write '", path.string(), "': it is a directory");
    auto write_all = [&](int fd) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            off += std::size_t(n);
        }
        return true;
    };
    if (exists && !S_ISREG(st.st_mode)) {
        const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) fail<io_error>(where, "cannot write '", path.string(), "': ", std::strerror(errno));
        const bool ok = write_all(fd);
        const int err = errno;
        ::close(fd);
        if (!ok) fail<io_error>(where, "failed writing '", path.string(), "': ", std::strerror(err));
        return;
    }
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::random_device rd;
    const fs::path tmp = dir / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                                std::to_string(rd()));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) fail<io_error>(where, "cannot write '", path.string(), "': ", std::strerror(errno));
    bool ok = write_all(fd);
    int err = errno;
    if (ok && exists) {  // keep the replaced file's permissions; its owner only where we may set it
        if (::fchmod(fd, st.st_mode & 07777) != 0) ok = false, err = errno;
        if (ok && (st.st_uid != ::geteuid() || st.st_gid != ::getegid()) && ::fchown(fd, st.st_uid, st.st_gid) != 0) {
            // not permitted (not root): the file becomes ours, as any rewrite by this user would
        }
    }
    if (ok && ::fsync(fd) != 0) ok = false, err = errno;
    ::close(fd);
    std::error_code ec;
    if (!ok) {
        fs::remove(tmp, ec);
        fail<io_error>(where, "failed writing '", path.string(), "': ", std::strerror(err));
    }
    fs::rename(tmp, target, ec);
    if (ec) {
        std::error_code ec2;
        fs::remove(tmp, ec2);
        fail<io_error>(where, "cannot rename onto '", path.string(), "': ", ec.message());
    }
}

/// A framed file: "ONECLASS" magic, u32 format version, u64 payload size, payload, u32 CRC-32 of
/// everything before it. `kind` names what the payload is ("kde", "ocsvm", ...).
inline constexpr char file_magic[8] = {'O', 'N', 'E', 'C', 'L', 'A', 'S', 'S'};

inline std::string frame_payload(std::uint32_t version, std::string_view kind, std::string_view payload) {
    binary_writer w;
    w.bytes().append(file_magic, sizeof(file_magic));
    w.put<std::uint32_t>(version);
    w.put_string(kind);
    w.put<std::uint64_t>(payload.size());
    w.bytes().append(payload.data(), payload.size());
    w.put<std::uint32_t>(crc32_of(w.bytes()));
    return std::move(w.bytes());
}

struct framed_file {
    std::uint32_t version = 0;
    std::string kind;
    std::string payload;
};

/// Checks magic, CRC and version (must be <= `max_version`); names `source` in every error.
inline framed_file unframe(std::string_view bytes, std::uint32_t max_version, const std::string& source) {
    constexpr const char* where = "load";
    if (bytes.size() < sizeof(file_magic) || std::memcmp(bytes.data(), file_magic, sizeof(file_magic)) != 0)
        fail<io_error>(where, "'", source, "' is not a oneclass model file (bad magic)");
    if (bytes.size() < sizeof(file_magic) + 4 + 8 + 8 + 4)
        fail<io_error>(where, "'", source, "' is truncated (", bytes.size(), " bytes)");
    const std::size_t body = bytes.size() - 4;
    std::uint32_t stored;
    std::memcpy(&stored, bytes.data() + body, 4);
    if (stored != crc32_of(bytes.substr(0, body)))
        fail<io_error>(where, "'", source, "' is truncated or corrupt (checksum mismatch)");
    binary_reader r(bytes.substr(sizeof(file_magic)), "'" + source + "'");
    framed_file f;
    f.version = r.get<std::uint32_t>();
    if (f.version == 0 || f.version > max_version)
        fail<io_error>(where, "'", source, "' has format version ", f.version, "; this build reads versions 1..",
                       max_version);
    f.kind = r.get_string();
    const auto n = r.get<std::uint64_t>();
    if (n + 4 != r.remaining())
        fail<io_error>(where, "'", source, "' is malformed (payload says ", n, " bytes, ",
                       r.remaining() >= 4 ? r.remaining() - 4 : 0, " present)");
    f.payload = std::string(bytes.substr(body - n, n));
    return f;
}

}  // namespace oneclass
