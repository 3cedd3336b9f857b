// oneclass/pipeline/localisation.hpp - where the defect is: dense patch scoring and anomaly maps
// (the paper's section 4.2 and appendix B).
//
// A representation learned on P x P patches (fit on a patch_sampler) gives every patch of an
// image at stride S its L2-normalised features; a detector fitted on the features of a seeded
// sample of normal training patches scores each one. The patch scores form a rows x cols map
// (57 x 57 at 256 / 32 / 4), its maximum is the image's score, and its Gaussian upsampling
// (ops/patch_map.hpp) the per-pixel anomaly map.
//
//     oneclass::localisation_params lp{.patch = 32, .stride = 4};
//     auto X = oneclass::sample_patch_features(rep, category.train(), 20000, 1, lp);
//     det.fit(X);
//     auto maps = oneclass::localize(rep, det, category.test(), lp);  // score, patch map, pixel map
#pragma once

#include <oneclass/data/image_source.hpp>
#include <oneclass/detectors/registry.hpp>
#include <oneclass/ops/patch_map.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/tensor/matrix.hpp>
#include <oneclass/tensor/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <variant>
#include <vector>

namespace oneclass {

struct localisation_params {
    std::size_t patch = 32;   ///< P
    std::size_t stride = 4;   ///< S
    double sigma = 0;         ///< of the upsampling Gaussian, in pixels; 0: P / 4
    bool head = false;        ///< score g(f) instead of f (the proxies with a projection head)
    std::size_t batch = 512;  ///< patches per forward pass
    std::size_t images_per_pass = 8;  ///< images decoded and unfolded at once (memory: their patches' features)

    double sigma_or_default() const { return sigma > 0 ? sigma : double(patch) / 4.0; }
    ops::patch_grid grid(std::size_t H, std::size_t W) const { return {H, W, patch, stride}; }
};

/// Every grid patch of N same-sized images (an N x C x H x W tensor), image after image, each
/// image's patches row by row: an ImageSource of N rows() cols() patches of C x P x P.
class grid_patch_source {
public:
    grid_patch_source(const tensor<float>& images, std::size_t patch, std::size_t stride)
        : x_(&images), g_{images.ndim() == 4 ? images.shape(2) : 0, images.ndim() == 4 ? images.shape(3) : 0, patch, stride} {
        require(images.ndim() == 4, "grid_patch_source", "expects N x C x H x W images, got ", to_string(images.shape()));
        g_.validate("grid_patch_source");
    }
    std::size_t size() const { return x_->shape(0) * g_.count(); }
    image_shape shape() const { return {x_->shape(1), g_.P, g_.P}; }
    int label(std::size_t) const { return 0; }
    const ops::patch_grid& grid() const { return g_; }
    void read(std::size_t k, float* dst) const {
        const std::size_t n = k / g_.count(), r = k % g_.count(), i = r / g_.cols(), j = r % g_.cols();
        const std::size_t C = x_->shape(1), H = g_.H, W = g_.W, P = g_.P;
        const float* src = x_->data() + n * C * H * W + (i * g_.S) * W + j * g_.S;
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t y = 0; y < P; ++y) std::copy_n(src + (c * H + y) * W, P, dst + (c * P + y) * P);
    }

private:
    const tensor<float>* x_;
    ops::patch_grid g_;
};
static_assert(ImageSource<grid_patch_source>);

/// One image's result: its score (the patch map's maximum), the rows x cols patch map and the
/// H x W pixel map, all anomaly scores (higher = more anomalous).
struct anomaly_map {
    double score = 0;
    std::size_t rows = 0, cols = 0, height = 0, width = 0;
    std::vector<float> patches, pixels;
};

namespace detail {
/// Scores of the rows of X by a detector or by any alternative of a detector variant.
template <class D>
std::vector<float> score_rows(const D& det, const matrix<float>& X) {
    if constexpr (requires { std::visit([](const auto&) {}, det); })
        return std::visit([&](const auto& d) { return d.score(X.view()); }, det);
    else
        return det.score(X.view());
}

/// Decoded 8-bit images [lo, hi) of a source as an N x C x H x W tensor in [0, 1] (all the size
/// of the first).
template <LargeImageSource S>
tensor<float> decode_range(const S& src, std::size_t lo, std::size_t hi) {
    std::vector<image_u8> imgs(hi - lo);
    parallel::for_chunks(0, hi - lo, 1, [&](std::size_t a, std::size_t b) {
        for (std::size_t k = a; k < b; ++k) imgs[k] = src.decode(lo + k);
    });
    const std::size_t C = imgs[0].channels, H = imgs[0].height, W = imgs[0].width;
    tensor<float> x({hi - lo, C, H, W});
    for (std::size_t k = 0; k < imgs.size(); ++k) {
        require(imgs[k].height == H && imgs[k].width == W && imgs[k].channels == C, "localize", "image ", lo + k, " is ",
                imgs[k].height, " x ", imgs[k].width, " x ", imgs[k].channels, ", image ", lo, " is ", H, " x ", W, " x ", C,
                ": dense scoring needs one size");
        float* dst = x.data() + k * C * H * W;
        for (std::size_t c = 0; c < C; ++c)
            for (std::size_t p = 0; p < H * W; ++p) dst[c * H * W + p] = float(imgs[k].pixels[p * C + c]) / 255.0f;
    }
    return x;
}
}  // namespace detail

/// Raw pixels as the representation: each patch's C x P x P values, as they are (the baseline a
/// learned representation must beat: 1-NN on raw patch pixels with knn, k = 1, no normalisation).
struct raw_pixels {
    template <ImageSource D>
    matrix<float> features(const D& data, bool head = false, std::size_t batch = 256) const {
        require(!head, "raw_pixels", "raw pixels have no projection head");
        const auto [C, H, W] = data.shape();
        matrix<float> out(data.size(), C * H * W);
        for (std::size_t lo = 0; lo < data.size(); lo += std::max<std::size_t>(1, batch)) {
            const std::size_t hi = std::min(data.size(), lo + std::max<std::size_t>(1, batch));
            parallel::for_chunks(lo, hi, 16, [&](std::size_t a, std::size_t b) {
                for (std::size_t k = a; k < b; ++k) data.read(k, out.row(k));
            });
        }
        return out;
    }
};

/// The features of every grid patch of the images, (N rows() cols()) x d, image after image.
template <class Rep>
matrix<float> dense_features(Rep& rep, const tensor<float>& images, const localisation_params& p) {
    return rep.features(grid_patch_source(images, p.patch, p.stride), p.head, p.batch);
}

/// The features of `count` normal patches drawn by a seeded patch_sampler: what the patch
/// detector is fitted on.
template <class Rep, LargeImageSource S>
matrix<float> sample_patch_features(Rep& rep, const S& normal, std::size_t count, std::uint64_t seed,
                                    const localisation_params& p) {
    const patch_sampler<S> patches(normal, {.side = p.patch, .count = count, .seed = seed});
    return rep.features(patches, p.head, p.batch);
}

namespace detail {
/// Each image's maps from its patches' scores s (image after image, rows() cols() each).
inline std::vector<anomaly_map> maps_from_scores(const std::vector<float>& s, const ops::patch_grid& g, std::size_t n,
                                                 const localisation_params& p) {
    const std::size_t per = g.count();
    require(s.size() == n * per, "localize", "got ", s.size(), " patch scores for ", n, " images of ", per, " patches");
    std::vector<anomaly_map> out(n);
    parallel::for_chunks(0, n, 1, [&](std::size_t a, std::size_t b) {
        for (std::size_t k = a; k < b; ++k) {
            anomaly_map& m = out[k];
            m.rows = g.rows(), m.cols = g.cols(), m.height = g.H, m.width = g.W;
            m.patches.assign(s.begin() + std::ptrdiff_t(k * per), s.begin() + std::ptrdiff_t((k + 1) * per));
            for (const float v : m.patches)
                require(std::isfinite(v), "localize", "the detector gave a non-finite patch score (", v, ") on image ", k);
            m.score = double(*std::max_element(m.patches.begin(), m.patches.end()));
            m.pixels.resize(g.H * g.W);
            ops::gaussian_upsample(m.patches.data(), g, p.sigma_or_default(), m.pixels.data());
        }
    });
    return out;
}
}  // namespace detail

/// Scores and anomaly maps of N same-sized images (N x C x H x W in [0, 1]), one list per
/// detector: the patches' features are computed once and scored by each.
template <class Rep, class D>
std::vector<std::vector<anomaly_map>> localize(Rep& rep, const std::vector<const D*>& dets, const tensor<float>& images,
                                               const localisation_params& p) {
    const matrix<float> X = dense_features(rep, images, p);
    const ops::patch_grid g = p.grid(images.shape(2), images.shape(3));
    std::vector<std::vector<anomaly_map>> out;
    for (const D* det : dets) out.push_back(detail::maps_from_scores(detail::score_rows(*det, X), g, images.shape(0), p));
    return out;
}

/// The same for every image of a source, decoded images_per_pass at a time.
template <class Rep, class D, LargeImageSource S>
std::vector<std::vector<anomaly_map>> localize(Rep& rep, const std::vector<const D*>& dets, const S& images,
                                               const localisation_params& p) {
    std::vector<std::vector<anomaly_map>> out(dets.size());
    const std::size_t step = std::max<std::size_t>(1, p.images_per_pass);
    for (std::size_t lo = 0; lo < images.size(); lo += step) {
        auto part = localize(rep, dets, detail::decode_range(images, lo, std::min(images.size(), lo + step)), p);
        for (std::size_t d = 0; d < dets.size(); ++d)
            for (auto& m : part[d]) out[d].push_back(std::move(m));
    }
    return out;
}

/// One detector: its maps of N images (a tensor) or of a source's images.
template <class Rep, class D>
std::vector<anomaly_map> localize(Rep& rep, const D& det, const tensor<float>& images, const localisation_params& p) {
    return std::move(localize(rep, std::vector<const D*>{&det}, images, p).front());
}
template <class Rep, class D, LargeImageSource S>
std::vector<anomaly_map> localize(Rep& rep, const D& det, const S& images, const localisation_params& p) {
    return std::move(localize(rep, std::vector<const D*>{&det}, images, p).front());
}

}  // namespace oneclass
