// Raw intrinsics outside simd/: include_graph must name this header.
#pragma once
#include <oneclass/ops/conv_shape.hpp>
inline float first_lane(__m128 v) { return _mm_cvtss_f32(v); }
