// tests/fuzz/shapes.hpp - what the fuzz harnesses, their corpus writer and the hostile-input tests
// share: the tiny representation the corpus holds, and a model file with one field rewritten.
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <string>

namespace fuzz_shapes {

/// A tiny representation (ResNet-10 at width 1/64, head [4] -> 2): kilobytes on disk.
inline oneclass::pipeline::representation_config tiny_representation() {
    oneclass::pipeline::representation_config c;
    c.net = {.depth = 10, .width = 1.0 / 64};
    c.head_hidden = {4};
    c.head_out = 2;
    c.epochs = 1;
    c.batch = 4;
    return c;
}

/// `model` (the bytes of a representation file) with configuration field `key` set to `value`,
/// framed again with a valid checksum: an input only the field checks can refuse.
inline std::string with_field(const std::string& model, const std::string& key, const std::string& value) {
    using namespace oneclass;
    const framed_file f = unframe(model, pipeline::representation_format_version, "model");
    binary_reader r(f.payload, "model");
    binary_writer w;
    const auto n = r.get<std::uint64_t>();
    w.put<std::uint64_t>(n);
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::string k = r.get_string(), v = r.get_string();
        w.put_string(k);
        w.put_string(k == key ? value : v);
    }
    w.bytes().append(f.payload.substr(f.payload.size() - r.remaining()));
    return frame_payload(f.version, "representation", w.bytes());
}

}  // namespace fuzz_shapes
