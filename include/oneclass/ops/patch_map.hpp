// oneclass/ops/patch_map.hpp - the grid of P x P patches at stride S over an H x W image, and the
// Gaussian upsampling of a per-patch map back to pixels (the paper's localisation, appendix B:
// a transposed convolution of the map with one P x P Gaussian kernel at stride S).
//
//   patch_grid{H, W, P, S}          rows() x cols() patches, patch (i, j) at (i S, j S)
//   gaussian_upsample(map, g, s)    out(y, x) = sum_ij map_ij G(y - i S, x - j S) / sum_ij G(y - i S, x - j S)
//
// G(u, v) = g(u) g(v), g(u) = exp(-(u - (P - 1) / 2)^2 / (2 sigma^2)) for 0 <= u < P (zero
// outside): each patch spreads its score over its own pixels, most at its centre. Dividing by the
// same transposed convolution of an all-ones map normalises the border, which fewer patches
// cover: a constant map stays that constant on every pixel. Where (H - P) is not a multiple of S
// the last patches stop short of the border; those pixels take the value of the nearest covered
// pixel (row and column clamped). G is separable, so both sums are two 1-D passes.
// The double oracle is ops/ref/patch_map.hpp.
#pragma once

#include <oneclass/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace oneclass::ops {

struct patch_grid {
    std::size_t H, W, P, S;
    std::size_t rows() const { return (H - P) / S + 1; }
    std::size_t cols() const { return (W - P) / S + 1; }
    std::size_t count() const { return rows() * cols(); }
    /// Pixels [0, covered_rows()) x [0, covered_cols()) lie in some patch.
    std::size_t covered_rows() const { return (rows() - 1) * S + P; }
    std::size_t covered_cols() const { return (cols() - 1) * S + P; }
    void validate(const char* where) const {
        require(P >= 1 && S >= 1, where, "patch size and stride must be >= 1, got ", P, " and ", S);
        require(H >= P && W >= P, where, "a ", H, " x ", W, " image is smaller than a ", P, " px patch");
    }
};

/// The 1-D profile of the P x P Gaussian kernel (peak 1 at the patch centre).
inline std::vector<double> gaussian_profile(std::size_t P, double sigma) {
    require(sigma > 0 && std::isfinite(sigma), "gaussian_upsample", "sigma must be positive, got ", sigma);
    std::vector<double> g(P);
    const double c = 0.5 * double(P - 1);
    for (std::size_t u = 0; u < P; ++u) g[u] = std::exp(-(double(u) - c) * (double(u) - c) / (2 * sigma * sigma));
    return g;
}

/// out[H x W] from map[rows() x cols()] (see the top of this file).
template <class T>
void gaussian_upsample(const T* map, const patch_grid& g, double sigma, T* out) {
    g.validate("gaussian_upsample");
    const std::vector<double> k = gaussian_profile(g.P, sigma);
    const std::size_t R = g.rows(), Cn = g.cols(), Hc = g.covered_rows(), Wc = g.covered_cols();
    // 1-D transposed convolutions along one axis: acc[y] += k[y - i S] v[i]
    const auto spread = [&](std::size_t n, auto&& value, auto&& add) {
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t u = 0; u < g.P; ++u) add(i * g.S + u, k[u] * value(i));
    };
    std::vector<double> cy(Hc, 0.0), cx(Wc, 0.0);  // coverage of the all-ones map, per axis
    spread(R, [](std::size_t) { return 1.0; }, [&](std::size_t y, double v) { cy[y] += v; });
    spread(Cn, [](std::size_t) { return 1.0; }, [&](std::size_t x, double v) { cx[x] += v; });
    std::vector<double> rowsx(R * Wc, 0.0);  // along x, per map row
    for (std::size_t i = 0; i < R; ++i)
        spread(Cn, [&](std::size_t j) { return double(map[i * Cn + j]); },
               [&](std::size_t x, double v) { rowsx[i * Wc + x] += v; });
    std::vector<double> full(Hc * Wc, 0.0);  // then along y
    for (std::size_t i = 0; i < R; ++i)
        for (std::size_t u = 0; u < g.P; ++u) {
            const double w = k[u];
            double* dst = full.data() + (i * g.S + u) * Wc;
            const double* src = rowsx.data() + i * Wc;
            for (std::size_t x = 0; x < Wc; ++x) dst[x] += w * src[x];
        }
    for (std::size_t y = 0; y < g.H; ++y) {
        const std::size_t yc = std::min(y, Hc - 1);
        for (std::size_t x = 0; x < g.W; ++x) {
            const std::size_t xc = std::min(x, Wc - 1);
            out[y * g.W + x] = T(full[yc * Wc + xc] / (cy[yc] * cx[xc]));
        }
    }
}

}  // namespace oneclass::ops
