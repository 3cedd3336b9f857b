// An allowed edge, so the failtest's tree is not all violations.
#pragma once
#include <oneclass/core/error.hpp>
