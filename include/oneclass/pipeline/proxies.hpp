// oneclass/pipeline/proxies.hpp - the self-supervised proxy tasks behind one `ProxyLoss` concept.
//
// A proxy owns whatever it trains besides the encoder f and the projection head g (RotNet's
// 4-way classifier, the autoencoder's decoder) and turns a batch of normal images into a scalar
// loss on the tape. Randomness comes only from the seed it is handed (one per step), so a run is
// a function of the training seed, and a resumed run repeats an uninterrupted one exactly.
//
//   rotation_proxy  4-way cross-entropy on the rot90 copies, classifier on g(f(x))
//   simclr_proxy    NT-Xent between two augmented views of each image
//   distaug_proxy   NT-Xent over the union of rot90 (/ flip) shifted copies, each a new instance
//   dae_proxy       MSE between decode(f_map(x + noise)) and x (denoising autoencoder baseline)
//
// A user-written proxy satisfies the same concept and can be driven by the same loop.
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/losses/losses.hpp>
#include <oneclass/nn/resnet.hpp>

#include <concepts>
#include <memory>
#include <string>
#include <vector>

namespace oneclass::pipeline {

/// What a proxy trains through: the encoder f and the projection head g.
struct network_ref {
    nn::resnet<float>& f;
    nn::mlp_head<float>& g;
    variable<float> embed(const tensor<float>& x) const { return g.forward(f.forward(variable<float>(x))); }
};

template <class P>
concept ProxyLoss = requires(P p, const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
    { p.loss(net, x, seed) } -> std::same_as<variable<float>>;
    { p.parameters() } -> std::same_as<std::vector<nn::named_variable<float>>>;
    { p.buffers() } -> std::same_as<std::vector<nn::named_buffer<float>>>;
    p.train(true);                                  ///< train / eval mode of the proxy's own layers
    { P::uses_head } -> std::convertible_to<bool>;  ///< false: g is not trained (and g(f) is meaningless)
    { P::name } -> std::convertible_to<const char*>;
};

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
}  // namespace detail

class rotation_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "rotation";
    rotation_proxy(std::size_t head_out, rng& r) : cls_(std::make_shared<nn::linear<float>>(head_out, 4, true, r)) {}
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t) {
        auto [rx, labels] = losses::rotation_batch(x);
        return losses::rotation_loss(cls_->forward(net.embed(rx)), labels);
    }
    /// Logits of the four rotations of each image (4N x 4, rotation-major as rotation_batch).
    variable<float> logits(const network_ref& net, const tensor<float>& x) {
        return cls_->forward(net.embed(losses::rotation_batch(x).first));
    }
    std::vector<nn::named_variable<float>> parameters() { return detail::prefixed_parameters(*cls_, "cls."); }
    std::vector<nn::named_buffer<float>> buffers() { return {}; }
    void train(bool on) { cls_->train(on); }

private:
    std::shared_ptr<nn::linear<float>> cls_;
};

class simclr_proxy {
public:
    static constexpr bool uses_head = true;
    static constexpr const char* name = "simclr";
    simclr_proxy(augment::simclr_params views, float tau) : views_(views), tau_(tau) {}
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return losses::nt_xent(net.embed(views_(x, seed)), net.embed(views_(x, seed + 1)), tau_);
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
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        return simclr_.loss(net, losses::distaug_batch(x, shifts_), seed);
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
    variable<float> loss(const network_ref& net, const tensor<float>& x, std::uint64_t seed) {
        require(x.shape(2) % stride_ == 0 && x.shape(3) % stride_ == 0, "dae", "image sides must be multiples of ",
                stride_, " for the decoder to restore them, got ", to_string(x.shape()));
        const variable<float> clean(x);
        return fn::mse_loss(reconstruct(net, losses::add_noise(x, sigma_, seed)), clean);
    }
    variable<float> reconstruct(const network_ref& net, const tensor<float>& x) {
        return dec_->forward(net.f.forward_map(variable<float>(x)));
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

static_assert(ProxyLoss<rotation_proxy>);
static_assert(ProxyLoss<simclr_proxy>);
static_assert(ProxyLoss<distaug_proxy>);
static_assert(ProxyLoss<dae_proxy>);

}  // namespace oneclass::pipeline
