// oneclass/pipeline/proxies.hpp - the built-in self-supervised proxy tasks (pipeline/proxy.hpp
// says what a proxy is) and `builtin_proxies`, the one list of them.
//
//   rotation_proxy  4-way cross-entropy on the rot90 copies, classifier on g(f(x))
//   simclr_proxy    NT-Xent between two augmented views of each image
//   distaug_proxy   NT-Xent over the union of rot90 (/ flip) shifted copies, each a new instance
//   dae_proxy       MSE between decode(f_map(x + noise)) and x (denoising autoencoder baseline)
//
// A user-written proxy satisfies the same concepts: pipeline::trainer drives it, and a
// basic_representation<proxy_list_append<builtin_proxies, my_proxy>> saves and loads it.
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/losses/losses.hpp>
#include <oneclass/nn/resnet.hpp>
#include <oneclass/pipeline/cutpaste.hpp>
#include <oneclass/pipeline/proxy.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace oneclass::pipeline {

namespace detail {
template <class M>
std::vector<nn::named_variable<float>> prefixed_parameters(M& m, const std::string& prefix) {
    std::vector<nn::named_variable<float>> ps;
    for (auto& p : m.parameters()) ps.push_back({prefix + p.id, p.var, p.no_weight_decay});
    return ps;
}
template <class M>
std::vector<nn::named_buffer<float>> prefixed_buffers(M& m, const std::string& prefix) {
    std::vector<nn::named_buffer<float>> bs;
    for (auto& b : m.buffers()) bs.push_back({prefix + b.id, b.values});
    return bs;
}
/// Every rank's rows of z (rank order) on every rank; the gradient of the result flows back to
/// this rank's own rows only (the other ranks' rows are their own graphs' business), so the
/// ranks' gradients sum to that of one process holding every row.
inline variable<float> gather_rows(const variable<float>& z, const batch_shard& s) {
    if (!s.all_gather) return z;
    const tensor<float> zc = z.value().contiguous_copy();
    const auto parts = s.all_gather(std::vector<float>(zc.data(), zc.data() + zc.size()));
    std::size_t total = 0, offset = 0;
    for (std::size_t r = 0; r < parts.size(); ++r) {
        if (r == s.rank) offset = total;
        total += parts[r].size();
    }
    const std::size_t d = zc.ndim() == 2 ? zc.shape(1) : 1;
    require(zc.ndim() == 2 && total % d == 0 && s.rank < parts.size() && parts[s.rank].size() == zc.size(), "gather_rows", "expects N x d rows of one width");
    tensor<float> all({total / d, d}, uninitialized);
    for (std::size_t r = 0, at = 0; r < parts.size(); at += parts[r].size(), ++r) std::copy(parts[r].begin(), parts[r].end(), all.data() + at);
    auto nz = z.node();
    return make_result<float>(std::move(all), {&z}, [nz, offset](var_node<float>& o) {
        const float* g = o.grad.data() + offset;
        nz->accumulate_each([g](std::size_t i) { return g[i]; });
    });
}
}  // namespace detail

class rotation_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "rotation";
    rotation_proxy(std::size_t head_out, rng& r, std::optional<augment::simclr_params> augment = std::nullopt)
        : cls_(std::make_shared<nn::linear<float>>(head_out, 4, true, r)) {
        if (augment) augment_.emplace(*augment);
    }
    static rotation_proxy make(const representation_config& c, const nn::resnet<float>&, rng& r) {
        return rotation_proxy(c.head_out, r, c.rotation_augment ? std::optional(c.views) : std::nullopt);
    }
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return loss(net, x, seed, batch_shard::whole(x.shape(0))).loss;
    }
    loss_part loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s) {
        auto [rx, labels] = losses::rotation_batch(augment_ ? (*augment_)(x, seed, global_ids(s)) : x);
        return share_of_mean(losses::rotation_loss(cls_->forward(net.embed(rx)), labels), s);
    }
    /// Logits of the four rotations of each image (4N x 4, rotation-major as rotation_batch).
    variable<float> logits(const network_ref& net, const tensor<float>& x) {
        return cls_->forward(net.embed(losses::rotation_batch(x).first));
    }
    /// RotNet's scores, higher = more anomalous: "rotnet-p0" = -p(y = 0 | x), "rotnet-sum" =
    /// -sum_k log p(k | rot_k(x)).
    static std::vector<std::string> score_names() { return {"rotnet-p0", "rotnet-sum"}; }
    std::vector<double> scores(const network_ref& net, const tensor<float>& x, const std::string& which) {
        return losses::rotation_scores(logits(net, x).value(), which == "rotnet-sum");
    }
    /// "rotnet-p0" on the tape (N scores, differentiable in x); "rotnet-sum" is not offered (it
    /// scores the four rotations of x).
    variable<float> score_variable(const network_ref& net, const variable<float>& x, const std::string& which) {
        require(which == "rotnet-p0", "rotation_proxy::score_variable", "only rotnet-p0 is differentiable here, not '", which, "'");
        const variable<float> p = fn::exp(fn::log_softmax(cls_->forward(net.embed(x))));
        tensor<float> e0({4, 1});
        e0.data()[0] = -1.0f;  // -p(y = 0 | x)
        return fn::reshape(fn::matmul(p, variable<float>(e0)), {x.shape()[0]});
    }
    std::vector<nn::named_variable<float>> parameters() { return detail::prefixed_parameters(*cls_, "cls."); }
    std::vector<nn::named_buffer<float>> buffers() { return {}; }
    void train(bool on) { cls_->train(on); }

private:
    std::shared_ptr<nn::linear<float>> cls_;
    std::optional<augment::simclr> augment_;
};

class simclr_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "simclr";
    simclr_proxy(augment::simclr_params views, float tau) : views_(views), tau_(tau) {}
    static simclr_proxy make(const representation_config& c, const nn::resnet<float>&, rng&) {
        return simclr_proxy(c.views, float(c.temperature));
    }
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return loss(net, x, seed, batch_shard::whole(x.shape(0))).loss;
    }
    /// Data-parallel: every rank's embeddings are gathered, so each rank computes the loss of the
    /// whole global batch, negatives from every rank included.
    loss_part loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s) {
        return views_loss(net, x, seed, s, global_ids(s));
    }
    /// The loss over images x whose augmentations are seeded by the global indices `ids`.
    loss_part views_loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s,
                         const std::vector<std::size_t>& ids) {
        const variable<float> a = net.embed(views_(x, seed, ids)), b = net.embed(views_(x, seed + 1, ids));
        if (s.is_whole()) return {losses::nt_xent(a, b, tau_), false};
        return {losses::nt_xent(detail::gather_rows(a, s), detail::gather_rows(b, s), tau_), true};
    }
    std::vector<nn::named_variable<float>> parameters() { return {}; }
    std::vector<nn::named_buffer<float>> buffers() { return {}; }
    void train(bool) {}

private:
    augment::simclr views_;
    float tau_;
};

/// SimCLR over the union of the shifted copies (each a new instance, so a negative of its source).
class distaug_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "distaug";
    distaug_proxy(augment::simclr_params views, float tau, std::vector<int> shifts)
        : simclr_(views, tau), shifts_(std::move(shifts)) {}
    static distaug_proxy make(const representation_config& c, const nn::resnet<float>&, rng&) {
        return distaug_proxy(c.views, float(c.temperature), c.distaug_shifts);
    }
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return loss(net, x, seed, batch_shard::whole(x.shape(0))).loss;
    }
    /// The shifted copies are instances of the global batch: copy j of image i is instance
    /// j B + i, whichever rank holds it.
    loss_part loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s) {
        return simclr_.views_loss(net, losses::distaug_batch(x, shifts_), seed, s, global_ids(s, shifts_.size()));
    }
    std::vector<nn::named_variable<float>> parameters() { return {}; }
    std::vector<nn::named_buffer<float>> buffers() { return {}; }
    void train(bool) {}

private:
    simclr_proxy simclr_;
    std::vector<int> shifts_;
};

/// Denoising autoencoder: the encoder's last map (before pooling) is decoded back to the image by
/// a transposed-convolution decoder; the loss is the MSE against the clean image. Features are
/// the pooled encoder output f, as for the other proxies. Input sides must be multiples of the
/// encoder's total stride (8 for the CIFAR stem) so that the decoder restores the exact size.
class dae_proxy {
public:
    static constexpr bool uses_head = false;
    static constexpr const char* name = "dae";
    dae_proxy(const nn::resnet<float>& f, double noise_sigma, rng& r)
        : dec_(std::make_shared<nn::conv_decoder<float>>(f.feature_dim(), f.map_stride(), f.config().in_channels, r)),
          stride_(f.map_stride()), sigma_(noise_sigma) {}
    static dae_proxy make(const representation_config& c, const nn::resnet<float>& f, rng& r) {
        return dae_proxy(f, c.dae_noise, r);
    }
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return loss(net, x, seed, batch_shard::whole(x.shape(0))).loss;
    }
    loss_part loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s) {
        require(x.shape(2) % stride_ == 0 && x.shape(3) % stride_ == 0, "dae", "image sides must be multiples of ",
                stride_, " for the decoder to restore them, got ", to_string(x.shape()));
        const variable<float> clean(x);
        const std::size_t img = x.size() / std::max<std::size_t>(1, x.shape(0));
        return share_of_mean(fn::mse_loss(reconstruct(net, losses::add_noise(x, sigma_, seed, s.first * img)), clean), s);
    }
    variable<float> reconstruct(const network_ref& net, const tensor<float>& x) {
        return dec_->forward(net.f.forward_map(variable<float>(x)));
    }
    /// "dae-recon": the mean squared reconstruction error of each clean image.
    static std::vector<std::string> score_names() { return {"dae-recon"}; }
    std::vector<double> scores(const network_ref& net, const tensor<float>& x, const std::string&) {
        const auto rec = reconstruct(net, x);
        require(rec.value().size() == x.size(), "dae_proxy::scores", "image sides must be multiples of ", stride_, ", got ",
                to_string(x.shape()));
        const std::size_t N = x.shape(0), img = x.size() / std::max<std::size_t>(1, N);
        std::vector<double> out(N);
        for (std::size_t i = 0; i < N; ++i) {
            double se = 0;
            for (std::size_t k = 0; k < img; ++k) {
                const double d = double(rec.value().data()[i * img + k]) - x.data()[i * img + k];
                se += d * d;
            }
            out[i] = se / double(img);
        }
        return out;
    }
    /// "dae-recon" on the tape: N mean squared errors, differentiable in x (through both the
    /// reconstruction and the target).
    variable<float> score_variable(const network_ref& net, const variable<float>& x, const std::string&) {
        const variable<float> rec = dec_->forward(net.f.forward_map(x));
        require(rec.value().size() == x.value().size(), "dae_proxy::score_variable", "image sides must be multiples of ",
                stride_, ", got ", to_string(x.shape()));
        const std::size_t N = x.shape()[0], img = x.value().size() / std::max<std::size_t>(1, N);
        const variable<float> d = fn::flatten(fn::sub(rec, x));
        const variable<float> mean_col(tensor<float>({img, 1}, 1.0f / float(img)));
        return fn::reshape(fn::matmul(fn::mul(d, d), mean_col), {N});
    }
    std::vector<nn::named_variable<float>> parameters() { return detail::prefixed_parameters(*dec_, "dec."); }
    std::vector<nn::named_buffer<float>> buffers() { return detail::prefixed_buffers(*dec_, "dec."); }
    void train(bool on) { dec_->train(on); }
    nn::conv_decoder<float>& decoder() { return *dec_; }

private:
    std::shared_ptr<nn::conv_decoder<float>> dec_;
    std::size_t stride_;
    double sigma_;
};

static_assert(DifferentiableScoringProxy<rotation_proxy> && DifferentiableScoringProxy<dae_proxy>);
static_assert(DataParallelProxy<rotation_proxy> && DataParallelProxy<simclr_proxy> && DataParallelProxy<distaug_proxy> &&
              DataParallelProxy<dae_proxy> && DataParallelProxy<cutpaste_proxy>);

/// The built-in proxies, in the order the CLI lists them.
using builtin_proxies = proxy_list<rotation_proxy, simclr_proxy, distaug_proxy, dae_proxy, cutpaste_proxy>;

}  // namespace oneclass::pipeline
