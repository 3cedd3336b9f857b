// oneclass/nn/serialize.hpp - model weights and batch-norm statistics in a versioned, checksummed file.
//
// The payload lists every parameter and buffer by id with its shape and values; loading checks
// that the file holds exactly the model's ids, with the same shapes, and throws io_error naming
// the first mismatch (a missing or unexpected id, or both shapes). Writes are atomic.
//
//     oneclass::nn::save_weights(model, "encoder.ocw");
//     oneclass::nn::load_weights(model, "encoder.ocw");   // model built with the same config
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/nn/module.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace oneclass::nn {

inline constexpr std::uint32_t weights_format_version = 1;

template <class M>
std::string weights_bytes(M& m) {
    using T = typename M::value_type;
    binary_writer w;
    w.put<std::uint8_t>(sizeof(T));
    const auto ps = m.parameters();
    const auto bs = m.buffers();
    w.put<std::uint64_t>(ps.size() + bs.size());
    for (const auto& p : ps) {
        w.put_string(p.id);
        w.put_vector(std::vector<std::uint64_t>(p.var.shape().begin(), p.var.shape().end()));
        w.put_array(p.var.value().data(), p.var.value().size());
    }
    for (const auto& b : bs) {
        w.put_string(b.id);
        w.put_vector(std::vector<std::uint64_t>{b.values->size()});
        w.put_array(b.values->data(), b.values->size());
    }
    return frame_payload(weights_format_version, "weights", w.bytes());
}

template <class M>
void save_weights(M& m, const std::filesystem::path& path) {
    write_file_atomic(path, weights_bytes(m), "save_weights");
}

template <class M>
void load_weights_from_bytes(M& m, std::string_view bytes, const std::string& source) {
    using T = typename M::value_type;
    const framed_file f = unframe(bytes, weights_format_version, source);
    if (f.kind != "weights") fail<io_error>("load_weights", "'", source, "' holds a ", f.kind, " file, not weights");
    binary_reader r(f.payload, "'" + source + "'");
    const auto width = r.get<std::uint8_t>();  // 4 or 8; converted to T on load
    if (width != 4 && width != 8) fail<io_error>("load_weights", "'", source, "' has an unknown value width ", int(width));
    struct entry {
        std::vector<std::uint64_t> shape;
        std::vector<T> values;
    };
    std::map<std::string, entry> file;
    const auto count = r.get<std::uint64_t>();
    for (std::uint64_t k = 0; k < count; ++k) {
        std::string id = r.get_string();
        entry e{r.get_vector<std::uint64_t>(), {}};
        if (width == 4) {
            const auto v = r.get_vector<float>();
            e.values.assign(v.begin(), v.end());
        } else {
            const auto v = r.get_vector<double>();
            e.values.assign(v.begin(), v.end());
        }
        file.emplace(std::move(id), std::move(e));
    }
    auto take = [&](const std::string& id, const shape_t& shape, T* dst) {
        auto it = file.find(id);
        if (it == file.end()) fail<io_error>("load_weights", "'", source, "' has no '", id, "'");
        const shape_t fs(it->second.shape.begin(), it->second.shape.end());
        if (fs != shape || it->second.values.size() != numel(shape))
            fail<io_error>("load_weights", "'", source, "': '", id, "' has shape ", to_string(fs), ", the model expects ",
                           to_string(shape));
        std::copy(it->second.values.begin(), it->second.values.end(), dst);
        file.erase(it);
    };
    // Check everything before writing anything: load into copies first.
    auto ps = m.parameters();
    auto bs = m.buffers();
    std::vector<tensor<T>> new_params;
    std::vector<std::vector<T>> new_bufs;
    for (auto& p : ps) {
        new_params.emplace_back(p.var.shape());
        take(p.id, p.var.shape(), new_params.back().data());
    }
    for (auto& b : bs) {
        new_bufs.emplace_back(b.values->size());
        take(b.id, {b.values->size()}, new_bufs.back().data());
    }
    if (!file.empty()) fail<io_error>("load_weights", "'", source, "' has '", file.begin()->first, "', which the model lacks");
    for (std::size_t i = 0; i < ps.size(); ++i)
        std::copy_n(new_params[i].data(), new_params[i].size(), ps[i].var.value().data());
    for (std::size_t i = 0; i < bs.size(); ++i) *bs[i].values = new_bufs[i];
}

template <class M>
void load_weights(M& m, const std::filesystem::path& path) {
    naming_file(path, "load_weights", [&] { load_weights_from_bytes(m, read_file_bytes(path, "load_weights"), path.string()); });
}

}  // namespace oneclass::nn
