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

/// winograd = F(2x2, 3x3), winograd4 = F(4x4, 3x3), implicit_gemm: forward and weights (backward-data: im2col),
/// phase: the phase-split direct convolution of stride-2 layers (ops/phase_direct.hpp), all passes;
/// winograd_s2: F_s2(2x2, 3x3) for 3x3 stride-2 padding-1 layers (ops/winograd_s2.hpp), forward and
/// weights (backward-data: im2col)
enum class conv_algo { automatic, im2col, winograd, winograd4, implicit_gemm, phase, winograd_s2 };

enum class conv_pass { forward, backward_data, backward_weights };

}  // namespace oneclass::ops
