// oneclass/explain/pointing_game.hpp - a sanity check for explanations that can fail: paste a
// foreign square into held-out normal images at a random place, explain the detector's score,
// and count how often the explanation points into the square (Zhang et al.'s pointing game).
//
//   hit_max     the map's maximum lies inside the square (chance: the square's share of the image)
//   mass_inside the share of the mass of the map's top 5 % pixels that lies inside the square;
//               hit_mass when it is at least one half
#pragma once

#include <oneclass/core/error.hpp>
#include <oneclass/core/rng.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <algorithm>
#include <vector>

namespace oneclass::explain {

struct pasted_square {
    std::size_t top = 0, left = 0, side = 0;
    bool contains(std::size_t y, std::size_t x) const { return y >= top && y < top + side && x >= left && x < left + side; }
};

/// Pastes into each of the N x C x H x W images a side x side square of uniform [0, 1) noise
/// (every channel) at a uniformly random place; image n's square depends on (seed, n) only.
inline std::vector<pasted_square> paste_noise_squares(tensor<float>& x, std::size_t side, std::uint64_t seed) {
    require(x.ndim() == 4, "explain::paste_noise_squares", "expects N x C x H x W images, got ", to_string(x.shape()));
    const std::size_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
    require(side >= 1 && side <= std::min(H, W), "explain::paste_noise_squares", "the square's side must be in 1..",
            std::min(H, W), ", got ", side);
    std::vector<pasted_square> out(N);
    for (std::size_t n = 0; n < N; ++n) {
        rng r(seed * 0x9e3779b97f4a7c15ull + n + 1);
        pasted_square& s = out[n];
        s = {std::size_t(r.below(H - side + 1)), std::size_t(r.below(W - side + 1)), side};
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < side; ++y)
                for (std::size_t xx = 0; xx < side; ++xx) x.data()[((n * C + c) * H + s.top + y) * W + s.left + xx] = float(r.uniform());
    }
    return out;
}

struct pointing_result {
    bool hit_max = false;
    double mass_inside = 0;
    bool hit_mass = false;
};

/// Where the H x W map points, against the square. Ties at the maximum count as a hit only if
/// the first maximum (in raster order) is inside. `top`: the share of pixels whose mass counts.
inline pointing_result pointing_game(const float* map, std::size_t H, std::size_t W, const pasted_square& sq, double top = 0.05) {
    require(top > 0 && top <= 1, "explain::pointing_game", "top must be in (0, 1], got ", top);
    pointing_result r;
    const std::size_t best = std::size_t(std::max_element(map, map + H * W) - map);
    r.hit_max = sq.contains(best / W, best % W);
    std::vector<std::size_t> idx(H * W);
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    const std::size_t k = std::max<std::size_t>(1, std::size_t(top * double(H * W) + 0.5));
    std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(),
                      [&](std::size_t a, std::size_t b) { return map[a] > map[b] || (map[a] == map[b] && a < b); });
    double in = 0, all = 0;
    for (std::size_t j = 0; j < k; ++j) {
        const double v = std::max(0.0, double(map[idx[j]]));
        all += v;
        if (sq.contains(idx[j] / W, idx[j] % W)) in += v;
    }
    r.mass_inside = all > 0 ? in / all : 0.0;
    r.hit_mass = r.mass_inside >= 0.5;
    return r;
}

}  // namespace oneclass::explain
