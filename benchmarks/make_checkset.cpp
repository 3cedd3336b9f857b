// benchmarks/make_checkset.cpp - a defect-localisation check set in the MVTec AD layout, built from
// real photographs with synthetic defects whose masks are known exactly.
//
//   oneclass-make-checkset PHOTOS_DIR OUT_ROOT [--train 60] [--good 20] [--per-defect 10] [--seed 1]
//
// PHOTOS_DIR holds scikit-image's sample photographs (Debian python3-skimage; benchmarks/checkset.sh
// extracts them): brick, grass and gravel are textures (512 x 512 grey), coffee, astronaut and
// camera objects. Normal images: textures are random 256 x 256 windows (training windows from the
// upper half, test windows from the lower half, so that no test pixel was seen in training),
// objects the whole photo at 268 x 268 cropped to 256 x 256 at a random offset (+-6 px); then a
// brightness factor in [0.95, 1.05] and Gaussian noise (sigma 2 grey levels). Defects, one test
// folder each, with their masks under ground_truth/:
//   scratch   a thin curved line (quadratic Bezier, 40-120 px long, 1.5-3 px wide), dark or bright,
//             anti-aliased; mask: within half its width + 1 px of the curve
//   foreign   a blob of 8-20 px radius (a wobbly circle) filled with another photo's pixels, pasted
//             with a 1 px soft edge; mask: the blob
//   stain     a soft ellipse (10-30 px semi-axes) that darkens and tints, strength 0.5-0.8; mask:
//             where it changes the pixel by at least half its full strength
#include <oneclass/core/rng.hpp>
#include <oneclass/data/images.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using oneclass::image_u8;

namespace {

constexpr std::size_t S = 256;

struct source {
    std::string name;
    bool texture;
    image_u8 photo;  // textures: grey 512 x 512; objects: resized to 268 x 268
};

double clamp255(double v) { return std::clamp(v, 0.0, 255.0); }

image_u8 normal_image(const source& s, oneclass::rng& r, bool test) {
    const std::size_t C = s.photo.channels;
    image_u8 out{S, S, C, std::vector<std::uint8_t>(S * S * C)};
    std::size_t oy, ox;
    if (s.texture) {  // train: top-left corner in the upper half, test: in the lower half
        const std::size_t span = s.photo.height - S, half = span / 2;
        oy = test ? half + r.below(span - half + 1) : r.below(half + 1);
        ox = r.below(s.photo.width - S + 1);
    } else {
        oy = r.below(s.photo.height - S + 1), ox = r.below(s.photo.width - S + 1);
    }
    const double gain = 0.95 + 0.1 * r.uniform();
    for (std::size_t y = 0; y < S; ++y)
        for (std::size_t x = 0; x < S; ++x)
            for (std::size_t c = 0; c < C; ++c) {
                const double v = gain * s.photo.pixels[((oy + y) * s.photo.width + ox + x) * C + c] + 2.0 * r.normal();
                out.pixels[(y * S + x) * C + c] = std::uint8_t(std::lround(clamp255(v)));
            }
    return out;
}

/// Blends colour col into pixel p of img with weight a.
void blend(image_u8& img, std::size_t p, const double* col, double a) {
    for (std::size_t c = 0; c < img.channels; ++c) {
        const double v = (1 - a) * img.pixels[p * img.channels + c] + a * col[c];
        img.pixels[p * img.channels + c] = std::uint8_t(std::lround(clamp255(v)));
    }
}

void scratch(image_u8& img, image_u8& mask, oneclass::rng& r) {
    const double len = 40 + 80 * r.uniform(), w = 1.5 + 1.5 * r.uniform(), ang = 6.283185307 * r.uniform();
    const double x0 = 30 + (S - 60) * r.uniform(), y0 = 30 + (S - 60) * r.uniform();
    const double x2 = std::clamp(x0 + len * std::cos(ang), 2.0, S - 3.0), y2 = std::clamp(y0 + len * std::sin(ang), 2.0, S - 3.0);
    const double bend = (r.uniform() - 0.5) * 0.6 * len;  // control point off the chord
    const double xm = 0.5 * (x0 + x2) - bend * std::sin(ang), ym = 0.5 * (y0 + y2) + bend * std::cos(ang);
    const bool dark = r.below(2) == 0;
    std::vector<std::pair<double, double>> pts;
    for (int k = 0; k <= 400; ++k) {
        const double t = k / 400.0, u = 1 - t;
        pts.push_back({u * u * x0 + 2 * u * t * xm + t * t * x2, u * u * y0 + 2 * u * t * ym + t * t * y2});
    }
    for (std::size_t y = 0; y < S; ++y)
        for (std::size_t x = 0; x < S; ++x) {
            double d = 1e9;
            for (const auto& [px, py] : pts) d = std::min(d, std::hypot(double(x) - px, double(y) - py));
            if (d > w / 2 + 1.5) continue;
            const double a = std::clamp(w / 2 + 0.5 - d, 0.0, 1.0);
            const std::size_t p = y * S + x;
            double col[3];
            for (std::size_t c = 0; c < img.channels; ++c) col[c] = dark ? 0.25 * img.pixels[p * img.channels + c] : 235.0;
            blend(img, p, col, a);
            if (d <= w / 2 + 1.0) mask.pixels[p] = 255;
        }
}

void foreign(image_u8& img, image_u8& mask, const image_u8& other, oneclass::rng& r) {
    const double R = 8 + 12 * r.uniform(), cx = R + 4 + (S - 2 * R - 8) * r.uniform(), cy = R + 4 + (S - 2 * R - 8) * r.uniform();
    double amp[3], ph[3];
    for (int k = 0; k < 3; ++k) amp[k] = 0.12 * r.uniform(), ph[k] = 6.283185307 * r.uniform();
    const std::size_t oy = r.below(other.height - S + 1), ox = r.below(other.width - S + 1);
    for (std::size_t y = 0; y < S; ++y)
        for (std::size_t x = 0; x < S; ++x) {
            const double dx = double(x) - cx, dy = double(y) - cy, th = std::atan2(dy, dx);
            double rr = R;
            for (int k = 0; k < 3; ++k) rr *= 1 + amp[k] * std::sin((k + 2) * th + ph[k]);
            const double a = std::clamp(rr - std::hypot(dx, dy) + 0.5, 0.0, 1.0);
            if (a <= 0) continue;
            const std::size_t p = y * S + x, q = (oy + y) * other.width + ox + x;
            double col[3];
            for (std::size_t c = 0; c < img.channels; ++c)
                col[c] = other.pixels[q * other.channels + (other.channels == 1 ? 0 : c)];
            blend(img, p, col, a);
            if (a >= 0.5) mask.pixels[p] = 255;
        }
}

void stain(image_u8& img, image_u8& mask, oneclass::rng& r) {
    const double a = 10 + 20 * r.uniform(), b = 10 + 20 * r.uniform(), rot = 3.14159265 * r.uniform();
    const double cx = 35 + (S - 70) * r.uniform(), cy = 35 + (S - 70) * r.uniform(), strength = 0.5 + 0.3 * r.uniform();
    const double tint[3] = {0.55, 0.42, 0.30};  // brown: darkens blue most
    for (std::size_t y = 0; y < S; ++y)
        for (std::size_t x = 0; x < S; ++x) {
            const double dx = double(x) - cx, dy = double(y) - cy;
            const double u = (dx * std::cos(rot) + dy * std::sin(rot)) / a, v = (-dx * std::sin(rot) + dy * std::cos(rot)) / b;
            const double rho = std::sqrt(u * u + v * v);
            if (rho >= 1.0) continue;
            const double e = std::clamp((1.0 - rho) / 0.3, 0.0, 1.0), f = e * e * (3 - 2 * e);  // smooth edge, flat centre
            const double al = strength * f;
            const std::size_t p = y * S + x;
            double col[3];
            for (std::size_t c = 0; c < img.channels; ++c)
                col[c] = img.pixels[p * img.channels + c] * (img.channels == 1 ? 0.45 : tint[c]);
            blend(img, p, col, al);
            if (f >= 0.5) mask.pixels[p] = 255;
        }
}

std::string name_of(std::size_t i) {
    char b[32];
    std::snprintf(b, sizeof b, "%03zu", i);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PHOTOS_DIR OUT_ROOT [--train N] [--good N] [--per-defect N] [--seed N]\n", argv[0]);
        return 2;
    }
    const fs::path photos = argv[1], root = argv[2];
    std::size_t n_train = 60, n_good = 20, n_defect = 10;
    std::uint64_t seed = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::size_t v = std::strtoull(argv[i + 1], nullptr, 10);
        if (!std::strcmp(argv[i], "--train")) n_train = v;
        else if (!std::strcmp(argv[i], "--good")) n_good = v;
        else if (!std::strcmp(argv[i], "--per-defect")) n_defect = v;
        else if (!std::strcmp(argv[i], "--seed")) seed = v;
        else {
            std::fprintf(stderr, "unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    try {
        std::vector<source> srcs;
        for (const char* t : {"brick", "grass", "gravel"})
            srcs.push_back({t, true, oneclass::load_image(photos / (std::string(t) + ".png"), 1)});
        for (const auto& [o, ch] : {std::pair<const char*, std::size_t>{"coffee", 3}, {"astronaut", 3}, {"camera", 1}})
            srcs.push_back({o, false, oneclass::resize_area(oneclass::load_image(photos / (std::string(o) + ".png"), ch), S + 12, S + 12)});
        for (std::size_t k = 0; k < srcs.size(); ++k) {
            const source& s = srcs[k];
            const source& other = srcs[(k + 3) % srcs.size()];  // foreign material: a texture in an object, an object in a texture
            oneclass::rng r(seed * 1000003 + k);
            const fs::path d = root / s.name;
            for (const char* sub : {"train/good", "test/good", "test/scratch", "test/foreign", "test/stain", "ground_truth/scratch",
                                    "ground_truth/foreign", "ground_truth/stain"})
                fs::create_directories(d / sub);
            for (std::size_t i = 0; i < n_train; ++i) oneclass::save_png(d / "train/good" / (name_of(i) + ".png"), normal_image(s, r, false));
            for (std::size_t i = 0; i < n_good; ++i) oneclass::save_png(d / "test/good" / (name_of(i) + ".png"), normal_image(s, r, true));
            for (const char* defect : {"scratch", "foreign", "stain"})
                for (std::size_t i = 0; i < n_defect; ++i) {
                    image_u8 img = normal_image(s, r, true), mask{S, S, 1, std::vector<std::uint8_t>(S * S, 0)};
                    if (!std::strcmp(defect, "scratch")) scratch(img, mask, r);
                    else if (!std::strcmp(defect, "foreign")) foreign(img, mask, other.photo, r);
                    else stain(img, mask, r);
                    oneclass::save_png(d / "test" / defect / (name_of(i) + ".png"), img);
                    oneclass::save_png(d / "ground_truth" / defect / (name_of(i) + "_mask.png"), mask);
                }
            std::printf("%s: %zu train, %zu good, 3 x %zu defective test images\n", s.name.c_str(), n_train, n_good, n_defect);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_checkset: %s\n", e.what());
        return 2;
    }
    return 0;
}
