// oneclass/detectors/serialize.hpp - versioned model files for every fitted detector.
//
// Layout (little-endian): "ONECLASS" | u32 format version | kind string | u64 payload size |
// payload | u32 CRC-32 of all preceding bytes. The payload starts with the scalar width (4 or 8)
// and then the detector's own fields (its save_payload). Loading checks magic, checksum,
// version, kind and scalar type, and throws io_error naming the file and the problem; writes go
// through write_file_atomic, so an interrupted save never leaves a partial model.
//
//     oneclass::save_model(det, "kde.ocm");
//     auto det2 = oneclass::load_model<oneclass::kde<float>>("kde.ocm");
//     auto any = oneclass::load_any_model<float>("model.ocm");   // any built-in (detectors/registry.hpp)
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/detectors/detector.hpp>

#include <filesystem>
#include <string>

namespace oneclass {

inline constexpr std::uint32_t model_format_version = 1;

template <SerializableDetector D>
std::string model_bytes(const D& det) {
    if (!det.fitted()) fail<not_fitted>("save_model", D::kind, " is not fitted; nothing to save");
    binary_writer w;
    w.put<std::uint8_t>(sizeof(typename D::value_type));
    det.save_payload(w);
    return frame_payload(model_format_version, D::kind, w.bytes());
}

template <SerializableDetector D>
void save_model(const D& det, const std::filesystem::path& path) {
    write_file_atomic(path, model_bytes(det), "save_model");
}

template <SerializableDetector D>
D model_from_bytes(std::string_view bytes, const std::string& source) {
    const framed_file f = unframe(bytes, model_format_version, source);
    if (f.kind != D::kind)
        fail<io_error>("load_model", "'", source, "' holds a ", f.kind, " model, expected ", D::kind);
    binary_reader r(f.payload, "'" + source + "'");
    const auto width = r.get<std::uint8_t>();
    if (width != sizeof(typename D::value_type))
        fail<io_error>("load_model", "'", source, "' was saved with ", int(width) * 8, "-bit floats, expected ",
                       sizeof(typename D::value_type) * 8);
    D det = D::load_payload(r);
    if (r.remaining() != 0) fail<io_error>("load_model", "'", source, "' has ", r.remaining(), " unexpected bytes");
    return det;
}

template <SerializableDetector D>
D load_model(const std::filesystem::path& path) {
    return naming_file(path, "load_model", [&] { return model_from_bytes<D>(read_file_bytes(path, "load_model"), path.string()); });
}

}  // namespace oneclass
