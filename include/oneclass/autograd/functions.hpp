// oneclass/autograd/functions.hpp - differentiable functions, each forward next to its backward.
//
// Backward closures capture only what the gradient needs, skip inputs that need no gradient and
// accumulate with +=. Shapes are checked up front; a mismatch names the function and both shapes.
// These are the plain, general versions (row-major loops and BLAS); the fused SIMD / Winograd
// kernels of the CNN core plug in under the same signatures.
#pragma once

#include <oneclass/autograd/tape.hpp>
#include <oneclass/core/profile.hpp>
#include <oneclass/linalg/gemm.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/simd/simd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace oneclass::fn {

namespace detail {
template <class T, class F>
tensor<T> map(const tensor<T>& a, F f) {
    tensor<T> out(a.shape(), uninitialized);
    const tensor<T> c = a.contiguous_copy();
    for (std::size_t i = 0, n = a.size(); i < n; ++i) out.data()[i] = f(c.data()[i]);
    return out;
}
template <class T>
void require_2d(const tensor<T>& t, const char* where, const char* what) {
    require(t.ndim() == 2, where, what, " must be 2-D, got shape ", to_string(t.shape()));
}
}  // namespace detail

/// a + b (same shape).
template <class T>
variable<T> add(const variable<T>& a, const variable<T>& b) {
    ONECLASS_PROFILE_SCOPE("add.forward");
    require_same_shape(a, b, "fn::add");
    tensor<T> out(a.shape(), uninitialized);
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = a.value().data()[i] + b.value().data()[i];
    auto na = a.node(), nb = b.node();
    return make_result<T>(std::move(out), {&a, &b}, [na, nb](var_node<T>& o) {
        if (na->requires_grad) na->accumulate(o.grad);
        if (nb->requires_grad) nb->accumulate(o.grad);
    });
}

/// relu(a + b) in one pass (the residual join of a ResNet block); the backward pass masks the
/// gradient with the saved output.
template <class T>
variable<T> add_relu(const variable<T>& a, const variable<T>& b) {
    ONECLASS_PROFILE_SCOPE("add.forward");
    require_same_shape(a, b, "fn::add_relu");
    tensor<T> out(a.shape(), uninitialized);
    const T* pa = a.value().data();
    const T* pb = b.value().data();
    T* po = out.data();
    parallel::for_elements(out.size(), [&](std::size_t lo, std::size_t hi) {
        for (std::size_t i = lo; i < hi; ++i) {
            const T v = pa[i] + pb[i];
            po[i] = v < T(0) ? T(0) : v;
        }
    });
    auto na = a.node(), nb = b.node();
    return make_result<T>(std::move(out), {&a, &b}, [na, nb](var_node<T>& o) {
        ONECLASS_PROFILE_SCOPE("relu.backward");
        tensor<T> masked(o.grad.shape(), uninitialized);  // computed once for both inputs
        const T* g = o.grad.data();
        const T* y = o.value.data();
        T* m = masked.data();
        parallel::for_elements(masked.size(), [&](std::size_t lo, std::size_t hi) {
            simd::relu_mask_mul(g + lo, y + lo, hi - lo, m + lo);
        });
        // an input without a gradient yet takes the buffer itself; both may hold it at once, as a
        // writer copies a shared gradient first (var_node::own_grad)
        if (na->requires_grad) na->accumulate(masked);
        if (nb->requires_grad) nb->accumulate(masked);
    });
}

/// a - b (same shape).
template <class T>
variable<T> sub(const variable<T>& a, const variable<T>& b) {
    require_same_shape(a, b, "fn::sub");
    tensor<T> out(a.shape(), uninitialized);
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = a.value().data()[i] - b.value().data()[i];
    auto na = a.node(), nb = b.node();
    return make_result<T>(std::move(out), {&a, &b}, [na, nb](var_node<T>& o) {
        const T* g = o.grad.data();
        if (na->requires_grad) na->accumulate(o.grad);
        if (nb->requires_grad) nb->accumulate_each([g](std::size_t i) { return -g[i]; });
    });
}

/// a * b elementwise (same shape).
template <class T>
variable<T> mul(const variable<T>& a, const variable<T>& b) {
    require_same_shape(a, b, "fn::mul");
    tensor<T> out(a.shape(), uninitialized);
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = a.value().data()[i] * b.value().data()[i];
    auto na = a.node(), nb = b.node();
    return make_result<T>(std::move(out), {&a, &b}, [na, nb](var_node<T>& o) {
        const T* g = o.grad.data();
        const T* av = na->value.data();
        const T* bv = nb->value.data();
        if (na->requires_grad) na->accumulate_each([g, bv](std::size_t i) { return g[i] * bv[i]; });
        if (nb->requires_grad) nb->accumulate_each([g, av](std::size_t i) { return g[i] * av[i]; });
    });
}

/// s * a.
template <class T>
variable<T> scale(const variable<T>& a, T s) {
    auto na = a.node();
    return make_result<T>(detail::map(a.value(), [s](T x) { return s * x; }), {&a}, [na, s](var_node<T>& o) {
        const T* g = o.grad.data();
        na->accumulate_each([g, s](std::size_t i) { return s * g[i]; });
    });
}

/// max(a, 0).
template <class T>
variable<T> relu(const variable<T>& a) {
    ONECLASS_PROFILE_SCOPE("relu.forward");
    auto na = a.node();
    // x < 0 ? 0 : x lets NaN through (as PyTorch), so a diverging network shows a NaN loss
    return make_result<T>(detail::map(a.value(), [](T x) { return x < T(0) ? T(0) : x; }), {&a}, [na](var_node<T>& o) {
        ONECLASS_PROFILE_SCOPE("relu.backward");
        const T* g = o.grad.data();
        const T* x = na->value.data();
        na->accumulate_each([g, x](std::size_t i) { return g[i] * T(x[i] > T(0)); });  // branch-free
    });
}

/// exp(a); the backward reuses the saved output (d exp(x) = exp(x) dx).
template <class T>
variable<T> exp(const variable<T>& a) {
    auto na = a.node();
    return make_result<T>(detail::map(a.value(), [](T x) { return std::exp(x); }), {&a}, [na](var_node<T>& o) {
        const T* g = o.grad.data();
        const T* y = o.value.data();
        na->accumulate_each([g, y](std::size_t i) { return y[i] * g[i]; });
    });
}

/// log(a); every entry must be > 0.
template <class T>
variable<T> log(const variable<T>& a) {
    for (std::size_t i = 0; i < a.value().size(); ++i)
        require(a.value().data()[i] > T(0), "fn::log", "input must be > 0, got ", a.value().data()[i], " at index ", i);
    auto na = a.node();
    return make_result<T>(detail::map(a.value(), [](T x) { return std::log(x); }), {&a}, [na](var_node<T>& o) {
        const T* g = o.grad.data();
        const T* x = na->value.data();
        na->accumulate_each([g, x](std::size_t i) { return g[i] / x[i]; });
    });
}

/// Sum of all entries (a scalar of shape [1]).
template <class T>
variable<T> sum(const variable<T>& a) {
    double s = 0;
    for (std::size_t i = 0; i < a.value().size(); ++i) s += a.value().data()[i];
    auto na = a.node();
    return make_result<T>(tensor<T>({1}, T(s)), {&a}, [na](var_node<T>& o) {
        const T d = o.grad.data()[0];
        na->accumulate_each([d](std::size_t) { return d; });
    });
}

/// Mean of all entries (a scalar of shape [1]).
template <class T>
variable<T> mean(const variable<T>& a) {
    require(a.value().size() > 0, "fn::mean", "empty input");
    return scale(sum(a), T(1) / T(a.value().size()));
}

/// A (m x k) * B (k x n).
template <class T>
variable<T> matmul(const variable<T>& a, const variable<T>& b) {
    detail::require_2d(a.value(), "fn::matmul", "left operand");
    detail::require_2d(b.value(), "fn::matmul", "right operand");
    require(a.shape()[1] == b.shape()[0], "fn::matmul", "inner sizes differ: ", to_string(a.shape()), " x ",
            to_string(b.shape()));
    tensor<T> out({a.shape()[0], b.shape()[1]}, uninitialized);
    linalg::gemm_nn<T>(a.value().as_matrix(), b.value().as_matrix(), out.as_matrix(), T(1), T(0));
    auto na = a.node(), nb = b.node();
    return make_result<T>(std::move(out), {&a, &b}, [na, nb](var_node<T>& o) {
        const auto G = static_cast<const tensor<T>&>(o.grad).as_matrix();
        if (na->requires_grad)  // dA = dC B^T
            linalg::gemm_nt<T>(G, static_cast<const tensor<T>&>(nb->value).as_matrix(), na->grad_buffer().as_matrix(), T(1), T(1));
        if (nb->requires_grad)  // dB = A^T dC
            linalg::gemm_tn<T>(static_cast<const tensor<T>&>(na->value).as_matrix(), G, nb->grad_buffer().as_matrix(), T(1), T(1));
    });
}

/// Transpose of a 2-D tensor.
template <class T>
variable<T> transpose(const variable<T>& a) {
    detail::require_2d(a.value(), "fn::transpose", "input");
    const std::size_t m = a.shape()[0], n = a.shape()[1];
    tensor<T> out({n, m}, uninitialized);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < n; ++j) out(j, i) = a.value()(i, j);
    auto na = a.node();
    return make_result<T>(std::move(out), {&a}, [na, m, n](var_node<T>& o) {
        tensor<T>& g = na->grad_buffer();
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = 0; j < n; ++j) g(i, j) += o.grad(j, i);
    });
}

/// a + c where c is a constant (no gradient) of the same shape.
template <class T>
variable<T> add_constant(const variable<T>& a, const tensor<T>& c) {
    require_same_shape(a.value(), c, "fn::add_constant");
    tensor<T> out(a.shape(), uninitialized);
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = a.value().data()[i] + c.data()[i];
    auto na = a.node();
    return make_result<T>(std::move(out), {&a}, [na](var_node<T>& o) { na->accumulate(o.grad); });
}

/// x (n x in) W^T (W: out x in) + b (out), as torch.nn.functional.linear; b may be undefined.
template <class T>
variable<T> linear(const variable<T>& x, const variable<T>& W, const variable<T>& b = {}) {
    detail::require_2d(x.value(), "fn::linear", "input");
    detail::require_2d(W.value(), "fn::linear", "weight");
    require(x.shape()[1] == W.shape()[1], "fn::linear", "input ", to_string(x.shape()), " does not match weight ",
            to_string(W.shape()));
    const std::size_t n = x.shape()[0], out_f = W.shape()[0];
    if (b.defined())
        require(b.value().size() == out_f, "fn::linear", "bias ", to_string(b.shape()), " does not match weight ",
                to_string(W.shape()));
    tensor<T> y({n, out_f}, uninitialized);
    linalg::gemm_nt<T>(x.value().as_matrix(), W.value().as_matrix(), y.as_matrix(), T(1), T(0));
    if (b.defined())
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < out_f; ++j) y(i, j) += b.value().data()[j];
    auto nx = x.node(), nw = W.node();
    auto nb = b.defined() ? b.node() : nullptr;
    const variable<T> none;
    return make_result<T>(std::move(y), {&x, &W, b.defined() ? &b : &none}, [nx, nw, nb](var_node<T>& o) {
        const auto G = static_cast<const tensor<T>&>(o.grad).as_matrix();
        if (nx->requires_grad)  // dx = dy W
            linalg::gemm_nn<T>(G, static_cast<const tensor<T>&>(nw->value).as_matrix(), nx->grad_buffer().as_matrix(), T(1), T(1));
        if (nw->requires_grad)  // dW = dy^T x
            linalg::gemm_tn<T>(G, static_cast<const tensor<T>&>(nx->value).as_matrix(), nw->grad_buffer().as_matrix(), T(1), T(1));
        if (nb && nb->requires_grad) {
            T* g = nb->grad_buffer().data();
            for (std::size_t i = 0; i < G.rows(); ++i)
                for (std::size_t j = 0; j < G.cols(); ++j) g[j] += G(i, j);
        }
    });
}

/// Row-wise log-softmax of logits (n x c), computed with the row maximum subtracted.
template <class T>
variable<T> log_softmax(const variable<T>& x) {
    detail::require_2d(x.value(), "fn::log_softmax", "input");
    const std::size_t n = x.shape()[0], c = x.shape()[1];
    tensor<T> y({n, c});
    for (std::size_t i = 0; i < n; ++i) {
        T m = -std::numeric_limits<T>::infinity();
        for (std::size_t j = 0; j < c; ++j) m = std::max(m, x.value()(i, j));
        double s = 0;
        for (std::size_t j = 0; j < c; ++j) s += std::exp(double(x.value()(i, j) - m));
        const T lse = m + T(std::log(s));
        for (std::size_t j = 0; j < c; ++j) y(i, j) = x.value()(i, j) - lse;
    }
    auto nx = x.node();
    return make_result<T>(std::move(y), {&x}, [nx, n, c](var_node<T>& o) {
        // dx = dy - softmax * rowsum(dy), softmax = exp(y)
        tensor<T>& g = nx->grad_buffer();
        for (std::size_t i = 0; i < n; ++i) {
            T rs = 0;
            for (std::size_t j = 0; j < c; ++j) rs += o.grad(i, j);
            for (std::size_t j = 0; j < c; ++j) g(i, j) += o.grad(i, j) - std::exp(o.value(i, j)) * rs;
        }
    });
}

/// Mean cross-entropy of logits (n x c) against integer labels in [0, c).
template <class T>
variable<T> cross_entropy(const variable<T>& logits, const std::vector<int>& labels) {
    detail::require_2d(logits.value(), "fn::cross_entropy", "logits");
    const std::size_t n = logits.shape()[0], c = logits.shape()[1];
    require(labels.size() == n, "fn::cross_entropy", labels.size(), " labels for ", n, " rows");
    for (std::size_t i = 0; i < n; ++i)
        require(labels[i] >= 0 && std::size_t(labels[i]) < c, "fn::cross_entropy", "label ", labels[i], " at row ", i,
                " is outside [0, ", c, ")");
    auto lp = log_softmax(logits);
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += lp.value()(i, std::size_t(labels[i]));
    auto nl = lp.node();
    return make_result<T>(tensor<T>({1}, T(-s / double(n))), {&lp}, [nl, labels, n](var_node<T>& o) {
        tensor<T>& g = nl->grad_buffer();
        const T d = o.grad.data()[0] / T(n);
        for (std::size_t i = 0; i < n; ++i) g(i, std::size_t(labels[i])) -= d;
    });
}

/// Mean squared error mean((a - b)^2) over all entries.
template <class T>
variable<T> mse_loss(const variable<T>& a, const variable<T>& b) {
    require_same_shape(a, b, "fn::mse_loss");
    auto d = sub(a, b);
    return mean(mul(d, d));
}

/// Rows divided by max(||row||, eps), as torch.nn.functional.normalize(x, dim=1).
template <class T>
variable<T> l2_normalize(const variable<T>& x, T eps = T(1e-12)) {
    detail::require_2d(x.value(), "fn::l2_normalize", "input");
    const std::size_t n = x.shape()[0], c = x.shape()[1];
    tensor<T> y({n, c});
    std::vector<T> norms(n);
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < c; ++j) s += double(x.value()(i, j)) * double(x.value()(i, j));
        norms[i] = std::max(T(std::sqrt(s)), eps);
        for (std::size_t j = 0; j < c; ++j) y(i, j) = x.value()(i, j) / norms[i];
    }
    auto nx = x.node();
    return make_result<T>(std::move(y), {&x}, [nx, norms, n, c, eps](var_node<T>& o) {
        tensor<T>& g = nx->grad_buffer();
        for (std::size_t i = 0; i < n; ++i) {
            if (norms[i] <= eps) {  // clamped: y = x / eps is linear
                for (std::size_t j = 0; j < c; ++j) g(i, j) += o.grad(i, j) / eps;
                continue;
            }
            T dot = 0;  // dx = (dy - y (y . dy)) / ||x||
            for (std::size_t j = 0; j < c; ++j) dot += o.value(i, j) * o.grad(i, j);
            for (std::size_t j = 0; j < c; ++j) g(i, j) += (o.grad(i, j) - o.value(i, j) * dot) / norms[i];
        }
    });
}

}  // namespace oneclass::fn
