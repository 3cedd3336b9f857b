// oneclass/autograd/nn_functions.hpp - differentiable CNN functions on NCHW tensors: conv2d and
// transposed conv2d, batch norm (training statistics or running statistics; fused with a
// following ReLU, or with a residual add and ReLU at the end of a ResNet block), max / average /
// global average pooling, nearest and bilinear upsampling, flatten, concatenation and slicing
// along the batch axis. The kernels they wrap are in ops/ (convolution, batch_norm, pooling).
#pragma once

#include <oneclass/autograd/functions.hpp>
#include <oneclass/ops/batch_norm.hpp>
#include <oneclass/ops/convolution.hpp>
#include <oneclass/ops/pooling.hpp>
#include <oneclass/simd/simd.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

namespace oneclass::fn {

/// 2-D convolution, x: N x C x H x W, w: K x C x R x S, optional bias b: K.
template <class T>
variable<T> conv2d(const variable<T>& x, const variable<T>& w, const variable<T>& b = {}, std::size_t stride = 1,
                   std::size_t pad = 0) {
    require(x.value().ndim() == 4 && w.value().ndim() == 4, "fn::conv2d", "expects NCHW input and KCRS weights, got ",
            to_string(x.shape()), " and ", to_string(w.shape()));
    require(x.shape()[1] == w.shape()[1], "fn::conv2d", "input ", to_string(x.shape()), " has ", x.shape()[1],
            " channels but weight ", to_string(w.shape()), " expects ", w.shape()[1]);
    if (b.defined())
        require(b.value().size() == w.shape()[0], "fn::conv2d", "bias ", to_string(b.shape()), " does not match weight ",
                to_string(w.shape()));
    ops::conv_shape g{x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3], w.shape()[0], w.shape()[2], w.shape()[3],
                      stride, pad};
    g.validate("fn::conv2d");
    const tensor<T> xc = x.value().contiguous_copy();
    tensor<T> y({g.N, g.K, g.P(), g.Q()}, uninitialized);
    ops::conv2d_forward<T>(xc.data(), w.value().data(), b.defined() ? b.value().data() : nullptr, g, y.data());
    auto nx = x.node(), nw = w.node();
    auto nb = b.defined() ? b.node() : nullptr;
    const variable<T> none;
    return make_result<T>(std::move(y), {&x, &w, b.defined() ? &b : &none}, [nx, nw, nb, g](var_node<T>& o) {
        // a gradient seen for the first time is written, not added to zeros (saves a fill pass)
        if (nx->requires_grad) {
            const bool fresh = !nx->grad.defined();
            T* dx = nx->grad_buffer_uninitialized().data();  // fresh: written in full, otherwise added to
            ops::conv2d_backward_data<T>(o.grad.data(), nw->value.data(), g, dx, ops::conv_algo::automatic, !fresh);
        }
        const bool wb = nb && nb->requires_grad;
        if (nw->requires_grad || wb) {
            const bool fresh = (!nw->requires_grad || !nw->grad.defined()) && (!wb || !nb->grad.defined());
            const auto buffer = [fresh](var_node<T>& n) { return (fresh ? n.grad_buffer_uninitialized() : n.grad_buffer()).data(); };
            const tensor<T> xin = nx->value.contiguous_copy();
            ops::conv2d_backward_weights<T>(xin.data(), o.grad.data(), g, nw->requires_grad ? buffer(*nw) : nullptr,
                                            wb ? buffer(*nb) : nullptr, ops::conv_algo::automatic, !fresh);
        }
    });
}

/// Running statistics of a batch-norm layer (updated in training mode).
template <class T>
struct batch_norm_state {
    std::vector<T> running_mean, running_var;
    double momentum = 0.1, eps = 1e-5;  // PyTorch's defaults
    explicit batch_norm_state(std::size_t channels = 0) : running_mean(channels, T(0)), running_var(channels, T(1)) {}
};

namespace detail {
inline std::shared_ptr<const ops::batch_norm_sync>& batch_norm_sync_slot() {
    thread_local std::shared_ptr<const ops::batch_norm_sync> s;
    return s;
}
}  // namespace detail

/// While alive, every batch norm this thread runs in training mode, forward and backward, takes
/// the statistics of the union of every replica's batch through `sync` (synchronised batch norm
/// in a data-parallel run; ops::batch_norm_sync says what it must do). Scopes nest.
class sync_batch_norm_scope {
public:
    explicit sync_batch_norm_scope(ops::batch_norm_sync sync)
        : prev_(std::exchange(detail::batch_norm_sync_slot(), std::make_shared<const ops::batch_norm_sync>(std::move(sync)))) {}
    sync_batch_norm_scope(const sync_batch_norm_scope&) = delete;
    sync_batch_norm_scope& operator=(const sync_batch_norm_scope&) = delete;
    ~sync_batch_norm_scope() { detail::batch_norm_sync_slot() = prev_; }

private:
    std::shared_ptr<const ops::batch_norm_sync> prev_;
};

namespace detail {
/// batch_norm, optionally followed by ReLU in the same pass (fuse_relu): the pre-activation is
/// never stored; the backward pass recomputes the ReLU mask from x with the same rounding
/// (simd::affine) instead of reading the saved output. The kernels: ops/batch_norm.hpp.
template <class T>
variable<T> batch_norm_impl(const variable<T>& x, const variable<T>& gamma, const variable<T>& beta,
                            batch_norm_state<T>& st, bool training, bool fuse_relu, const variable<T>* residual = nullptr) {
    require(x.value().ndim() >= 2, "fn::batch_norm", "expects N x C (x H x W), got ", to_string(x.shape()));
    const std::size_t N = x.shape()[0], C = x.shape()[1], HW = x.value().size() / std::max<std::size_t>(1, N * C);
    require(gamma.value().size() == C && beta.value().size() == C && st.running_mean.size() == C, "fn::batch_norm",
            "input ", to_string(x.shape()), " has ", C, " channels but the layer has ", gamma.value().size());
    ONECLASS_PROFILE_SCOPE("batch_norm.forward");
    const std::size_t M = N * HW;
    if (training) require(M > 1, "fn::batch_norm", "training needs more than one value per channel, got input ", to_string(x.shape()));
    if (residual) require_same_shape(x, *residual, "fn::batch_norm_add_relu");
    const tensor<T> xc = x.value().contiguous_copy();
    const T* xd = xc.data();
    const tensor<T> rc = residual ? residual->value().contiguous_copy() : tensor<T>();
    std::vector<T> mean(C), inv_std(C), scale(C), shift(C);
    tensor<T> y(x.shape(), uninitialized);
    auto sync = training ? batch_norm_sync_slot() : nullptr;  // the backward pass syncs as its forward did
    ops::batch_norm_forward<T>(xd, residual ? rc.data() : nullptr, N, C, HW, gamma.value().data(), beta.value().data(),
                               st.running_mean.data(), st.running_var.data(), st.momentum, st.eps, training, fuse_relu,
                               y.data(), mean.data(), inv_std.data(), scale.data(), shift.data(), sync.get());
    auto nx = x.node(), ng = gamma.node(), nb = beta.node();
    auto nr = residual ? residual->node() : nullptr;
    const variable<T> none;
    return make_result<T>(std::move(y), {&x, &gamma, &beta, residual ? residual : &none}, [nx, ng, nb, nr, mean, inv_std, scale, shift, N, C, HW,
                                                             training, fuse_relu, sync](var_node<T>& o) {
        ONECLASS_PROFILE_SCOPE("batch_norm.backward");
        const tensor<T> xin = nx->value.contiguous_copy();
        const T* xd2 = xin.data();
        // with a fused ReLU the incoming gradient is masked, dz = dy [x scale + shift > 0], on the
        // fly in both passes (no masked copy, and the saved output is not read). After an added
        // residual the mask comes from the output: dz is written once, by the first pass with
        // its sums, and becomes the residual's gradient itself (shared, see var_node::own_grad)
        const T* g_in = o.grad.data();
        const T* y_out = o.value.data();
        tensor<T> masked = nr ? tensor<T>(o.grad.shape(), uninitialized) : tensor<T>();
        T* m = nr ? masked.data() : nullptr;
        const bool fresh = nx->requires_grad && !nx->grad.defined();
        T* dx = nx->requires_grad ? nx->grad_buffer_uninitialized().data() : nullptr;
        T* dgamma = ng->requires_grad ? ng->grad_buffer().data() : nullptr;  // allocated here, before the workers
        T* dbeta = nb->requires_grad ? nb->grad_buffer().data() : nullptr;
        const T* gamma_v = ng->value.data();
        ops::batch_norm_backward<T>(xd2, g_in, nr ? y_out : nullptr, m, gamma_v, mean.data(), inv_std.data(), scale.data(),
                                    shift.data(), N, C, HW, training, fuse_relu, dx, !fresh, dgamma, dbeta, sync.get());
        if (nr && nr->requires_grad) nr->accumulate(masked);  // every plane of dz is written by now
    });
}

}  // namespace detail

/// Batch norm over axis 1 of an N x C (x H x W) tensor with scale gamma and shift beta (C each).
/// training: batch statistics (biased variance to normalise, unbiased into the running variance,
/// as PyTorch); otherwise the running statistics.
template <class T>
variable<T> batch_norm(const variable<T>& x, const variable<T>& gamma, const variable<T>& beta,
                       batch_norm_state<T>& st, bool training) {
    return detail::batch_norm_impl(x, gamma, beta, st, training, false);
}

/// relu(batch_norm(...)) in one pass and one output tensor (the pre-activation is never stored).
template <class T>
variable<T> batch_norm_relu(const variable<T>& x, const variable<T>& gamma, const variable<T>& beta,
                            batch_norm_state<T>& st, bool training) {
    return detail::batch_norm_impl(x, gamma, beta, st, training, true);
}

/// relu(batch_norm(x, ...) + residual): the end of a residual block in one pass over x and the
/// residual and one output tensor (neither the normalised x nor the sum is stored).
template <class T>
variable<T> batch_norm_add_relu(const variable<T>& x, const variable<T>& gamma, const variable<T>& beta,
                                batch_norm_state<T>& st, bool training, const variable<T>& residual) {
    return detail::batch_norm_impl(x, gamma, beta, st, training, false, &residual);
}

namespace detail {
/// Checks a k x k / stride s / padding pad pooling window against an NCHW input.
template <class T>
ops::pool_shape pool_geometry(const tensor<T>& x, std::size_t k, std::size_t s, std::size_t pad, const char* where) {
    require(x.ndim() == 4, where, "expects NCHW, got ", to_string(x.shape()));
    const ops::pool_shape g{x.shape(0) * x.shape(1), x.shape(2), x.shape(3), k, s, pad};
    g.validate(where);
    return g;
}
}  // namespace detail

/// Max pooling with a k x k window, stride s and padding pad (padded positions never win).
template <class T>
variable<T> max_pool2d(const variable<T>& x, std::size_t k, std::size_t s, std::size_t pad = 0) {
    const ops::pool_shape g = detail::pool_geometry(x.value(), k, s, pad, "fn::max_pool2d");
    const tensor<T> xc = x.value().contiguous_copy();
    tensor<T> y({x.shape()[0], x.shape()[1], g.P(), g.Q()});
    std::vector<std::size_t> arg(y.size());
    ops::max_pool2d_forward(xc.data(), g, y.data(), arg.data());
    auto nx = x.node();
    return make_result<T>(std::move(y), {&x}, [nx, arg](var_node<T>& o) {
        ops::max_pool2d_backward(arg.data(), o.grad.data(), arg.size(), nx->grad_buffer().data());
    });
}

/// Transposed convolution (PyTorch's ConvTranspose2d): x N x Cin x H x W, w Cin x Cout x R x S,
/// output (H - 1) stride - 2 pad + R + output_padding per side. It is the input-gradient of a
/// convolution, so it reuses those kernels with the roles of the passes swapped.
template <class T>
variable<T> conv_transpose2d(const variable<T>& x, const variable<T>& w, const variable<T>& b = {}, std::size_t stride = 1,
                             std::size_t pad = 0, std::size_t output_padding = 0) {
    require(x.value().ndim() == 4 && w.value().ndim() == 4, "fn::conv_transpose2d",
            "expects NCHW input and Cin x Cout x R x S weights, got ", to_string(x.shape()), " and ", to_string(w.shape()));
    require(x.shape()[1] == w.shape()[0], "fn::conv_transpose2d", "input ", to_string(x.shape()), " has ", x.shape()[1],
            " channels but weight ", to_string(w.shape()), " expects ", w.shape()[0]);
    require(stride >= 1 && output_padding < stride, "fn::conv_transpose2d", "output_padding must be < stride");
    const std::size_t N = x.shape()[0], Cin = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    const std::size_t Cout = w.shape()[1], R = w.shape()[2], S = w.shape()[3];
    require((H - 1) * stride + R + output_padding > 2 * pad && (W - 1) * stride + S + output_padding > 2 * pad,
            "fn::conv_transpose2d", "padding ", pad, " leaves no output for input ", to_string(x.shape()));
    const std::size_t Ho = (H - 1) * stride + R + output_padding - 2 * pad, Wo = (W - 1) * stride + S + output_padding - 2 * pad;
    if (b.defined())
        require(b.value().size() == Cout, "fn::conv_transpose2d", "bias ", to_string(b.shape()), " does not match weight ",
                to_string(w.shape()));
    // the convolution whose input-gradient this is: Cout -> Cin channels on the Ho x Wo image
    const ops::conv_shape g{N, Cout, Ho, Wo, Cin, R, S, stride, pad};
    tensor<T> y({N, Cout, Ho, Wo});
    const tensor<T> xc = x.value().contiguous_copy();
    ops::conv2d_backward_data<T>(xc.data(), w.value().data(), g, y.data());
    if (b.defined())
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t c = 0; c < Cout; ++c)
                for (std::size_t i = 0; i < Ho * Wo; ++i) y.data()[(n * Cout + c) * Ho * Wo + i] += b.value().data()[c];
    auto nx = x.node(), nw = w.node();
    auto nb = b.defined() ? b.node() : nullptr;
    const variable<T> none;
    return make_result<T>(std::move(y), {&x, &w, b.defined() ? &b : &none}, [nx, nw, nb, g](var_node<T>& o) {
        if (nx->requires_grad) {
            tensor<T> dx(nx->value.shape(), uninitialized);
            ops::conv2d_forward<T>(o.grad.data(), nw->value.data(), nullptr, g, dx.data());
            nx->accumulate(dx);
        }
        if (nw->requires_grad) {
            const tensor<T> xin = nx->value.contiguous_copy();
            ops::conv2d_backward_weights<T>(o.grad.data(), xin.data(), g, nw->grad_buffer().data(), nullptr);
        }
        if (nb && nb->requires_grad) {
            T* db = nb->grad_buffer().data();
            const std::size_t HW = g.H * g.W;
            for (std::size_t n = 0; n < g.N; ++n)
                for (std::size_t c = 0; c < g.C; ++c)
                    for (std::size_t i = 0; i < HW; ++i) db[c] += o.grad.data()[(n * g.C + c) * HW + i];
        }
    });
}

/// Average pooling with a k x k window, stride s and zero padding counted in the divisor
/// (PyTorch's default count_include_pad=True).
template <class T>
variable<T> avg_pool2d(const variable<T>& x, std::size_t k, std::size_t s, std::size_t pad = 0) {
    const ops::pool_shape g = detail::pool_geometry(x.value(), k, s, pad, "fn::avg_pool2d");
    const tensor<T> xc = x.value().contiguous_copy();
    tensor<T> y({x.shape()[0], x.shape()[1], g.P(), g.Q()});
    ops::avg_pool2d_forward(xc.data(), g, y.data());
    auto nx = x.node();
    return make_result<T>(std::move(y), {&x}, [nx, g](var_node<T>& o) { ops::avg_pool2d_backward(o.grad.data(), g, nx->grad_buffer().data()); });
}

using ops::upsample_mode;

/// Upsampling by an integer factor: nearest, or bilinear with align_corners = false (PyTorch's
/// F.interpolate defaults: source = (dst + 0.5) / factor - 0.5, clamped at 0).
template <class T>
variable<T> upsample2d(const variable<T>& x, std::size_t factor, upsample_mode mode = upsample_mode::nearest) {
    require(x.value().ndim() == 4, "fn::upsample2d", "expects NCHW, got ", to_string(x.shape()));
    require(factor >= 1, "fn::upsample2d", "factor must be >= 1");
    const std::size_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
    const auto th = ops::upsample_taps<T>(H, factor, mode), tw = ops::upsample_taps<T>(W, factor, mode);
    const tensor<T> xc = x.value().contiguous_copy();
    tensor<T> y({N, C, H * factor, W * factor}, uninitialized);
    ops::upsample2d_forward(xc.data(), N * C, H, W, th, tw, y.data());
    auto nx = x.node();
    return make_result<T>(std::move(y), {&x}, [nx, th, tw, N, C, H, W](var_node<T>& o) {
        ops::upsample2d_backward(o.grad.data(), N * C, H, W, th, tw, nx->grad_buffer().data());
    });
}

/// Mean over H x W: N x C x H x W -> N x C.
template <class T>
variable<T> global_avg_pool(const variable<T>& x) {
    require(x.value().ndim() == 4, "fn::global_avg_pool", "expects NCHW, got ", to_string(x.shape()));
    const std::size_t N = x.shape()[0], C = x.shape()[1], HW = x.shape()[2] * x.shape()[3];
    const tensor<T> xc = x.value().contiguous_copy();
    tensor<T> y({N, C});
    ops::global_avg_pool_forward(xc.data(), N * C, HW, y.data());
    auto nx = x.node();
    return make_result<T>(std::move(y), {&x}, [nx, N, C, HW](var_node<T>& o) {
        ops::global_avg_pool_backward(o.grad.data(), N * C, HW, nx->grad_buffer().data());
    });
}

/// Same values, new shape (N x ... -> any shape with the same size).
template <class T>
variable<T> reshape(const variable<T>& x, shape_t s) {
    require(numel(s) == x.value().size(), "fn::reshape", "cannot reshape ", to_string(x.shape()), " to ", to_string(s));
    auto nx = x.node();
    return make_result<T>(x.value().clone().reshape(std::move(s)), {&x}, [nx](var_node<T>& o) {
        T* g = nx->grad_buffer().data();
        for (std::size_t i = 0; i < o.grad.size(); ++i) g[i] += o.grad.data()[i];
    });
}

/// N x C x H x W -> N x (C H W).
template <class T>
variable<T> flatten(const variable<T>& x) {
    require(x.value().ndim() >= 2, "fn::flatten", "expects at least 2-D, got ", to_string(x.shape()));
    return reshape(x, {x.shape()[0], x.value().size() / std::max<std::size_t>(1, x.shape()[0])});
}

/// Concatenation along the batch axis (all other dimensions equal).
template <class T>
variable<T> concat_batch(const std::vector<variable<T>>& xs) {
    require(!xs.empty(), "fn::concat_batch", "nothing to concatenate");
    shape_t s = xs[0].shape();
    std::size_t rows = 0;
    for (const auto& x : xs) {
        shape_t a = x.shape(), b = s;
        require(a.size() == b.size(), "fn::concat_batch", "rank mismatch: ", to_string(a), " vs ", to_string(b));
        a[0] = b[0] = 0;
        require(a == b, "fn::concat_batch", "shapes differ beyond the batch axis: ", to_string(x.shape()), " vs ",
                to_string(s));
        rows += x.shape()[0];
    }
    s[0] = rows;
    tensor<T> y(s);
    std::size_t off = 0;
    std::vector<std::shared_ptr<var_node<T>>> nodes;
    bool any = false;
    for (const auto& x : xs) {
        const tensor<T> c = x.value().contiguous_copy();
        std::copy_n(c.data(), c.size(), y.data() + off);
        off += c.size();
        nodes.push_back(x.node());
        any = any || x.requires_grad();
    }
    return make_result_if<T>(std::move(y), any, [nodes](var_node<T>& o) {
        std::size_t at = 0;
        for (const auto& n : nodes) {
            const std::size_t m = n->value.size();
            if (n->requires_grad) {
                T* g = n->grad_buffer().data();
                for (std::size_t i = 0; i < m; ++i) g[i] += o.grad.data()[at + i];
            }
            at += m;
        }
    });
}

/// Rows [first, last) along the batch axis.
template <class T>
variable<T> slice_batch(const variable<T>& x, std::size_t first, std::size_t last) {
    const tensor<T> v = x.value().slice(first, last).clone();
    const std::size_t stride = x.value().size() / std::max<std::size_t>(1, x.shape()[0]);
    auto nx = x.node();
    return make_result<T>(v, {&x}, [nx, first, stride](var_node<T>& o) {
        T* g = nx->grad_buffer().data() + first * stride;
        for (std::size_t i = 0; i < o.grad.size(); ++i) g[i] += o.grad.data()[i];
    });
}

}  // namespace oneclass::fn
