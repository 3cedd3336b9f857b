// oneclass/ops/conv_shape.hpp - the geometry of one 2-D convolution, shared by every algorithm
// and by the scalar oracles in ops/ref (which include nothing else of ops/).
#pragma once

#include <oneclass/core/error.hpp>

#include <cstddef>

namespace oneclass::ops {

/// Geometry of one convolution: input N x C x H x W, weights K x C x R x S, output N x K x P x Q.
struct conv_shape {
    std::size_t N, C, H, W, K, R, S, stride = 1, pad = 0;
    std::size_t P() const { return (H + 2 * pad - R) / stride + 1; }
    std::size_t Q() const { return (W + 2 * pad - S) / stride + 1; }
    std::size_t crs() const { return C * R * S; }
    void validate(const char* where) const {
        require(stride >= 1, where, "stride must be >= 1");
        require(H + 2 * pad >= R && W + 2 * pad >= S, where, "kernel ", R, "x", S, " larger than the padded input ",
                H + 2 * pad, "x", W + 2 * pad);
    }
};

}  // namespace oneclass::ops
