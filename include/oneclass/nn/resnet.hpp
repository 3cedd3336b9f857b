// oneclass/nn/resnet.hpp - ResNet v1 with BasicBlocks (He et al. 2016) and the MLP projection head.
//
// ResNet-10/18/34 = [1,1,1,1] / [2,2,2,2] / [3,4,6,3] blocks per stage, stage widths
// 64, 128, 256, 512 times a width multiplier. Stems: `cifar` (3x3 conv stride 1, no max pool; for
// 32 and 64 px inputs, as the paper's CIFAR models) and `imagenet` (7x7 stride 2 + 3x3 max pool).
// forward returns the globally average-pooled features f (N x 512 w). Parameter ids follow
// torchvision ("conv1.weight", "layer2.0.downsample.1.running_mean", ...), so weights map
// one-to-one onto a PyTorch model's state_dict.
//
// The projection head g of the paper: [Linear(no bias) - BN1d - ReLU] x depth, then Linear;
// the paper's default is hidden widths {512 x 8} and output 128.
//
//     oneclass::rng r(0);
//     oneclass::nn::resnet<float> f({.depth = 18, .width = 1.0, .stem = oneclass::nn::stem::cifar}, r);
//     oneclass::nn::mlp_head<float> g(512, std::vector<std::size_t>(8, 512), 128, r);
//     auto z = g.forward(f.forward(images));   // images: N x 3 x 32 x 32
#pragma once

#include <oneclass/nn/module.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace oneclass::nn {

template <class T>
class basic_block : public module<T> {
public:
    basic_block(std::size_t in, std::size_t out, std::size_t stride, rng& r) {
        conv1_ = this->register_child("conv1", std::make_shared<conv2d<T>>(in, out, 3, stride, 1, false, r));
        bn1_ = this->register_child("bn1", std::make_shared<batch_norm<T>>(out));
        conv2_ = this->register_child("conv2", std::make_shared<conv2d<T>>(out, out, 3, 1, 1, false, r));
        bn2_ = this->register_child("bn2", std::make_shared<batch_norm<T>>(out));
        if (stride != 1 || in != out) {
            down_ = this->register_child("downsample", std::make_shared<sequential<T>>());
            down_->add(std::make_shared<conv2d<T>>(in, out, 1, stride, 0, false, r));
            down_->add(std::make_shared<batch_norm<T>>(out));
        }
    }
    variable<T> forward(const variable<T>& x) override {
        // the shortcut first: backward runs in reverse, so conv1's input gradient (which covers
        // every pixel) is written fresh and the 1 x 1 stride-2 shortcut then adds to a quarter
        // of the pixels, instead of writing zeros over the other three quarters first
        const variable<T> shortcut = down_ ? down_->forward(x) : x;
        auto h = bn1_->forward_relu(conv1_->forward(x));
        return bn2_->forward_add_relu(conv2_->forward(h), shortcut);
    }
    std::string name() const override { return "basic_block"; }

private:
    std::shared_ptr<conv2d<T>> conv1_, conv2_;
    std::shared_ptr<batch_norm<T>> bn1_, bn2_;
    std::shared_ptr<sequential<T>> down_;
};

enum class stem { cifar, imagenet };

struct resnet_config {
    int depth = 18;            ///< 10, 18 or 34
    double width = 1.0;        ///< multiplier of the stage widths 64-128-256-512
    stem stem_kind = stem::cifar;
    std::size_t in_channels = 3;
};

/// Blocks per stage of a supported depth (empty for any other).
inline std::vector<int> resnet_blocks(int depth) {
    if (depth == 10) return {1, 1, 1, 1};
    if (depth == 18) return {2, 2, 2, 2};
    if (depth == 34) return {3, 4, 6, 3};
    return {};
}

/// Channels of a stage whose base width is `base` (64, 128, 256, 512).
inline std::size_t resnet_width(const resnet_config& c, std::size_t base) {
    return std::max<std::size_t>(1, std::size_t(std::lround(double(base) * c.width)));
}

/// Trainable values (convolution weights, batch-norm scale and shift) of the network `c`
/// describes, in double so that an absurd configuration read from a file cannot overflow: a
/// loader checks it against the bytes present before building anything.
inline double resnet_weight_count(const resnet_config& c) {
    const auto blocks = resnet_blocks(c.depth);
    const double k = c.stem_kind == stem::cifar ? 3 : 7;
    double in = double(resnet_width(c, 64)), n = double(c.in_channels) * in * k * k + 2 * in;
    for (std::size_t s = 0; s < blocks.size(); ++s) {
        const double out = double(resnet_width(c, std::size_t(64) << s));
        for (int b = 0; b < blocks[s]; ++b) {
            n += 9 * in * out + 9 * out * out + 4 * out;
            if ((b == 0 && s > 0) || in != out) n += in * out + 2 * out;
            in = out;
        }
    }
    return n;
}

template <class T>
class resnet : public module<T> {
public:
    resnet(resnet_config c, rng& r) : c_(c) {
        const std::vector<int> blocks = resnet_blocks(c.depth);
        if (blocks.empty()) fail("resnet", "depth must be 10, 18 or 34, got ", c.depth);
        require(c.width > 0 && c.in_channels >= 1, "resnet", "width must be > 0 and in_channels >= 1");
        auto w = [&](std::size_t base) { return resnet_width(c, base); };
        const std::size_t w0 = w(64);
        if (c.stem_kind == stem::cifar)
            conv1_ = this->register_child("conv1", std::make_shared<conv2d<T>>(c.in_channels, w0, 3, 1, 1, false, r));
        else
            conv1_ = this->register_child("conv1", std::make_shared<conv2d<T>>(c.in_channels, w0, 7, 2, 3, false, r));
        bn1_ = this->register_child("bn1", std::make_shared<batch_norm<T>>(w0));
        std::size_t in = w0;
        for (std::size_t s = 0; s < 4; ++s) {
            auto stage = this->register_child("layer" + std::to_string(s + 1), std::make_shared<sequential<T>>());
            const std::size_t out = w(std::size_t(64) << s);
            for (int b = 0; b < blocks[s]; ++b) {
                stage->add(std::make_shared<basic_block<T>>(in, out, (b == 0 && s > 0) ? 2 : 1, r));
                in = out;
            }
            stages_.push_back(stage);
        }
        features_ = in;
    }

    /// Pooled features f: N x feature_dim().
    variable<T> forward(const variable<T>& x) override { return fn::global_avg_pool(forward_map(x)); }

    /// The last stage's feature map before pooling: N x feature_dim() x H/s x W/s with
    /// s = map_stride() (the denoising autoencoder decodes from it).
    variable<T> forward_map(const variable<T>& x) {
        return run_stages(x, stages_.size(), [](std::size_t, const variable<T>&) {});
    }
    /// The globally pooled outputs of the stages listed (1..4, ascending, no repeats), in one pass
    /// that stops after the last of them: {4} is forward(x). Earlier stages describe the image
    /// with less of what the proxy task needed (on Fashion-MNIST they did not help: docs/analysis.md).
    std::vector<variable<T>> forward_pooled_stages(const variable<T>& x, const std::vector<int>& stages) {
        require(!stages.empty(), "resnet::forward_pooled_stages", "no stages");
        for (std::size_t i = 0; i < stages.size(); ++i)
            require(stages[i] >= 1 && std::size_t(stages[i]) <= stages_.size() && (i == 0 || stages[i] > stages[i - 1]),
                    "resnet::forward_pooled_stages", "stages must be ascending values in 1..", stages_.size(), ", got ",
                    stages[i], i ? " after " + std::to_string(stages[i - 1]) : std::string());
        std::vector<variable<T>> out;
        std::size_t next = 0;
        (void)run_stages(x, std::size_t(stages.back()), [&](std::size_t s, const variable<T>& h) {
            if (std::size_t(stages[next]) == s) out.push_back(fn::global_avg_pool(h)), ++next;
        });
        return out;
    }
    /// Channels of stage s (1..4): the width of its pooled features.
    std::size_t stage_dim(int s) const {
        require(s >= 1 && std::size_t(s) <= stages_.size(), "resnet::stage_dim", "stage must be 1..", stages_.size(), ", got ", s);
        return resnet_width(c_, std::size_t(64) << (s - 1));
    }
    /// While `out` is set, every forward stores the output of stage `stage` (1..4) in *out: the
    /// activation GradCAM weighs by its gradient (explain/). nullptr stops it.
    void capture_stage(std::size_t stage, variable<T>* out) {
        require(out == nullptr || (stage >= 1 && stage <= stages_.size()), "resnet::capture_stage", "stage must be 1..",
                stages_.size(), ", got ", stage);
        capture_stage_ = stage;
        capture_ = out;
    }
    std::size_t stages() const { return stages_.size(); }
    /// Total downsampling of forward_map: 8 for the CIFAR stem, 32 for the ImageNet stem.
    std::size_t map_stride() const { return c_.stem_kind == stem::cifar ? 8 : 32; }
    std::string name() const override { return "resnet" + std::to_string(c_.depth); }
    std::size_t feature_dim() const { return features_; }
    const resnet_config& config() const { return c_; }

private:
    /// The stem, then stages 1..last; after stage s (1-based) `at_stage(s, output)`.
    template <class F>
    variable<T> run_stages(const variable<T>& x, std::size_t last, F&& at_stage) {
        require(x.value().ndim() == 4 && x.shape()[1] == c_.in_channels, "resnet::forward", "expects N x ",
                c_.in_channels, " x H x W, got ", to_string(x.shape()));
        auto h = bn1_->forward_relu(conv1_->forward(x));
        if (c_.stem_kind == stem::imagenet) h = fn::max_pool2d(h, 3, 2, 1);
        for (std::size_t s = 0; s < last; ++s) {
            h = stages_[s]->forward(h);
            if (capture_ && capture_stage_ == s + 1) *capture_ = h;
            at_stage(s + 1, h);
        }
        return h;
    }

    resnet_config c_;
    std::shared_ptr<conv2d<T>> conv1_;
    std::shared_ptr<batch_norm<T>> bn1_;
    std::vector<std::shared_ptr<sequential<T>>> stages_;
    std::size_t features_ = 0;
    std::size_t capture_stage_ = 0;
    variable<T>* capture_ = nullptr;
};

/// [Linear(no bias) - BN1d - ReLU] per hidden width, then Linear(out) with bias.
template <class T>
class mlp_head : public module<T> {
public:
    mlp_head(std::size_t in, const std::vector<std::size_t>& hidden, std::size_t out, rng& r) {
        net_ = this->register_child("net", std::make_shared<sequential<T>>());
        std::size_t d = in;
        for (std::size_t h : hidden) {
            net_->add(std::make_shared<linear<T>>(d, h, false, r));
            net_->add(std::make_shared<batch_norm<T>>(h));
            net_->add(std::make_shared<relu<T>>());
            d = h;
        }
        net_->add(std::make_shared<linear<T>>(d, out, true, r));
    }
    variable<T> forward(const variable<T>& x) override { return net_->forward(x); }
    std::string name() const override { return "mlp_head"; }

private:
    std::shared_ptr<sequential<T>> net_;
};

/// Convolutional decoder for the denoising autoencoder: from an encoder map of `in` channels at
/// stride `stride` (a power of two) back to `out` image channels at full size. Each doubling is
/// ConvTranspose(k 4, stride 2, pad 1, no bias) - BN - ReLU halving the channels (at least
/// `min_width`); a final 3x3 convolution with bias maps to the image channels (linear output, the
/// MSE target is the clean image in [0, 1]).
template <class T>
class conv_decoder : public module<T> {
public:
    conv_decoder(std::size_t in, std::size_t stride, std::size_t out, rng& r, std::size_t min_width = 8) {
        require(stride >= 1 && (stride & (stride - 1)) == 0, "conv_decoder", "stride must be a power of two, got ", stride);
        net_ = this->register_child("net", std::make_shared<sequential<T>>());
        std::size_t c = in;
        for (std::size_t s = stride; s > 1; s /= 2) {
            const std::size_t next = std::max(min_width, c / 2);
            net_->add(std::make_shared<conv_transpose2d<T>>(c, next, 4, 2, 1, false, r));
            net_->add(std::make_shared<batch_norm<T>>(next));
            net_->add(std::make_shared<relu<T>>());
            c = next;
        }
        net_->add(std::make_shared<conv2d<T>>(c, out, 3, 1, 1, true, r));
    }
    variable<T> forward(const variable<T>& x) override { return net_->forward(x); }
    std::string name() const override { return "conv_decoder"; }

private:
    std::shared_ptr<sequential<T>> net_;
};

static_assert(Module<resnet<float>>);
static_assert(Module<conv_decoder<float>>);
static_assert(Module<mlp_head<float>>);

}  // namespace oneclass::nn
