// oneclass/pipeline/patch_model.hpp - a defect detector in one object and one file: a patch
// representation, a detector fitted on its features of normal patches, and how images are scored
// (image size, patch, stride, sigma, f or g(f)). What a line ships: load it, give it images, get
// each one's score and anomaly map.
//
//     auto model = oneclass::pipeline::patch_model::fit(std::move(rep), gde<float>{}, category.train(), lp, 256, 10000, 1);
//     model.save("bottle.ocp");
//     auto m = oneclass::pipeline::patch_model::load("bottle.ocp");
//     oneclass::anomaly_map map = m.localize(oneclass::load_image("part.png"));   // any size: resized
//
// The file is one framed payload (kind "patch-model"): the scoring settings, then the
// representation's and the detector's own file bytes, each checked by its own loader.
#pragma once

#include <oneclass/core/binary_io.hpp>
#include <oneclass/data/images.hpp>
#include <oneclass/detectors/registry.hpp>
#include <oneclass/pipeline/localisation.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace oneclass::pipeline {

inline constexpr std::uint32_t patch_model_format_version = 1;

/// Images of a LargeImageSource as the model sees them: resized to side x side, converted to
/// `channels` (a no-op for images already so).
template <LargeImageSource S>
class resized_source {
public:
    resized_source(const S& src, std::size_t side, std::size_t channels) : src_(&src), side_(side), channels_(channels) {}
    std::size_t size() const { return src_->size(); }
    std::size_t channels() const { return channels_; }
    int label(std::size_t i) const { return src_->label(i); }
    image_u8 decode(std::size_t i) const {
        image_u8 img = convert_channels(src_->decode(i), channels_);
        return img.height == side_ && img.width == side_ ? img : resize_area(img, side_, side_);
    }

private:
    const S* src_;
    std::size_t side_, channels_;
};

template <class List = builtin_proxies, class Detectors = builtin_detectors>
class basic_patch_model {
public:
    using representation_type = basic_representation<List>;
    using detector_type = typename Detectors::template variant<float>;

    basic_patch_model(representation_type rep, detector_type det, const localisation_params& lp, std::size_t image_size)
        : rep_(std::move(rep)), det_(std::move(det)), lp_(lp), size_(image_size) {
        lp_.grid(size_, size_).validate("patch_model");
        require(rep_.fitted(), "patch_model", "the representation is not trained");
        require(std::visit([](const auto& d) { return d.fitted(); }, det_), "patch_model", "the detector is not fitted");
    }

    /// Fits `det` on the features of `fit_patches` normal patches (a seeded sample of `normal`'s
    /// images, resized to image_size) and bundles it with the representation.
    template <LargeImageSource S>
    static basic_patch_model fit(representation_type rep, detector_type det, const S& normal, const localisation_params& lp,
                                 std::size_t image_size, std::size_t fit_patches, std::uint64_t seed) {
        const resized_source<S> src(normal, image_size, rep.config().net.in_channels);
        const matrix<float> X = sample_patch_features(rep, src, fit_patches, seed, lp);
        const fit_report r = std::visit([&](auto& d) { return d.fit(X.view()); }, det);
        require(r.converged, "patch_model", "the detector did not converge: ", r.message);
        return basic_patch_model(std::move(rep), std::move(det), lp, image_size);
    }

    /// Scores and maps (image_size x image_size) of every image of a source.
    template <LargeImageSource S>
    std::vector<anomaly_map> localize(const S& images) {
        return oneclass::localize(rep_, det_, resized_source<S>(images, size_, channels()), lp_);
    }
    /// One image of any size and 1 or 3 channels.
    anomaly_map localize(const image_u8& image) {
        return std::move(localize(image_list_source({image})).front());
    }

    void save(const std::filesystem::path& path) { write(path, rep_, det_, lp_, size_); }

    /// What save() writes, from the parts (a representation shared by several detectors).
    static void write(const std::filesystem::path& path, representation_type& rep, const detector_type& det,
                      const localisation_params& lp, std::size_t image_size) {
        binary_writer w;
        for (const std::uint64_t v : {std::uint64_t(image_size), std::uint64_t(lp.patch), std::uint64_t(lp.stride), std::uint64_t(lp.head)})
            w.put<std::uint64_t>(v);
        w.put<double>(lp.sigma);
        w.put_string(rep.bytes());
        w.put_string(std::visit([](const auto& d) { return model_bytes(d); }, det));
        write_file_atomic(path, frame_payload(patch_model_format_version, "patch-model", w.bytes()), "patch_model::save");
    }

    static basic_patch_model load(const std::filesystem::path& path) {
        return naming_file(path, "patch_model::load", [&] {
            const std::string bytes = read_file_bytes(path, "patch_model::load"), src = path.string();
            const framed_file f = unframe(bytes, patch_model_format_version, src);
            if (f.kind != "patch-model") fail<io_error>("patch_model::load", "'", src, "' is a ", f.kind, " file, not a patch model");
            binary_reader r(f.payload, "'" + src + "'");
            const std::size_t size = r.get<std::uint64_t>();
            localisation_params lp;
            lp.patch = r.get<std::uint64_t>();
            lp.stride = r.get<std::uint64_t>();
            lp.head = r.get<std::uint64_t>() != 0;
            lp.sigma = r.get<double>();
            if (!(size >= 1 && size <= 65536 && lp.patch >= 1 && lp.patch <= size && lp.stride >= 1 && std::isfinite(lp.sigma) &&
                  lp.sigma >= 0))
                fail<io_error>("patch_model::load", "'", src, "' holds bad scoring settings (image ", size, ", patch ", lp.patch,
                               ", stride ", lp.stride, ", sigma ", lp.sigma, ")");
            auto rep = representation_type::from_bytes(r.get_string(), src + " (representation)");
            auto det = Detectors::template from_bytes<float>(r.get_string(), src + " (detector)");
            if (r.remaining() != 0) fail<io_error>("patch_model::load", "'", src, "' has ", r.remaining(), " unexpected bytes");
            return basic_patch_model(std::move(rep), std::move(det), lp, size);
        });
    }

    representation_type& representation() { return rep_; }
    const detector_type& detector() const { return det_; }
    const localisation_params& params() const { return lp_; }
    std::size_t image_size() const { return size_; }
    std::size_t channels() const { return rep_.config().net.in_channels; }

private:
    representation_type rep_;
    detector_type det_;
    localisation_params lp_;
    std::size_t size_;
};

using patch_model = basic_patch_model<>;

}  // namespace oneclass::pipeline
