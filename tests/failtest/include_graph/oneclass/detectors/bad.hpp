// A detector that reaches into ops/ for a convolution: include_graph must refuse this edge.
#pragma once
#include <oneclass/linalg/gemm.hpp>
#include <oneclass/ops/convolution.hpp>
