// An oracle that includes the fast code it checks: include_graph must refuse this edge.
#pragma once
#include <oneclass/ops/conv_shape.hpp>
#include <oneclass/ops/conv.hpp>
