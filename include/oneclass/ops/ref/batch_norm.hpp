// oneclass/ops/ref/batch_norm.hpp - batch norm forward and backward in double, straight from the
// definitions (the oracle for ops/batch_norm.hpp): two-pass statistics, then
//   z = gamma (x - mean) / sqrt(var + eps) + beta (+ residual),   y = relu(z) when relu or residual,
// and in training dx = gamma / sigma (dz - mean(dz) - xhat mean(dz xhat)), with dz = dy [z > 0].
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace oneclass::ops::ref {

struct batch_norm_result {
    std::vector<double> y, mean, var;              ///< output; the statistics used to normalise
    std::vector<double> running_mean, running_var;  ///< after the momentum update (training)
};

template <class T>
batch_norm_result batch_norm_forward(const T* x, const T* residual, std::size_t N, std::size_t C, std::size_t HW,
                                     const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                     double momentum, double eps, bool training, bool relu) {
    batch_norm_result r;
    r.y.resize(N * C * HW);
    r.mean.assign(running_mean, running_mean + C);
    r.var.assign(running_var, running_var + C);
    r.running_mean = r.mean;
    r.running_var = r.var;
    const double M = double(N * HW);
    for (std::size_t c = 0; c < C; ++c) {
        if (training) {
            double s = 0, q = 0;
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t i = 0; i < HW; ++i) s += double(x[(n * C + c) * HW + i]);
            const double m = s / M;
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t i = 0; i < HW; ++i) q += (double(x[(n * C + c) * HW + i]) - m) * (double(x[(n * C + c) * HW + i]) - m);
            r.mean[c] = m, r.var[c] = q / M;
            r.running_mean[c] = (1 - momentum) * double(running_mean[c]) + momentum * m;
            r.running_var[c] = (1 - momentum) * double(running_var[c]) + momentum * q / (M - 1);
        }
        const double inv = 1.0 / std::sqrt(r.var[c] + eps);
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) {
                const std::size_t k = (n * C + c) * HW + i;
                double z = double(gamma[c]) * (double(x[k]) - r.mean[c]) * inv + double(beta[c]);
                if (residual) z += double(residual[k]);
                r.y[k] = relu || residual ? std::max(0.0, z) : z;
            }
    }
    return r;
}

struct batch_norm_grads {
    std::vector<double> dx, dgamma, dbeta, dresidual;
};

/// Gradients for the incoming dy of the forward above (its statistics in `f`).
template <class T>
batch_norm_grads batch_norm_backward(const T* x, const T* dy, std::size_t N, std::size_t C, std::size_t HW, const T* gamma,
                                     const batch_norm_result& f, double eps, bool training, bool relu, bool residual) {
    batch_norm_grads g;
    g.dx.resize(N * C * HW);
    g.dresidual.resize(N * C * HW);
    g.dgamma.assign(C, 0.0);
    g.dbeta.assign(C, 0.0);
    const double M = double(N * HW);
    for (std::size_t c = 0; c < C; ++c) {
        const double inv = 1.0 / std::sqrt(f.var[c] + eps);
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) {
                const std::size_t k = (n * C + c) * HW + i;
                const double dz = relu || residual ? (f.y[k] > 0 ? double(dy[k]) : 0.0) : double(dy[k]);
                g.dresidual[k] = dz;
                g.dbeta[c] += dz;
                g.dgamma[c] += dz * (double(x[k]) - f.mean[c]) * inv;
            }
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t i = 0; i < HW; ++i) {
                const std::size_t k = (n * C + c) * HW + i;
                const double xhat = (double(x[k]) - f.mean[c]) * inv, dz = g.dresidual[k];
                g.dx[k] = double(gamma[c]) * inv * (training ? dz - g.dbeta[c] / M - xhat * g.dgamma[c] / M : dz);
            }
    }
    return g;
}

}  // namespace oneclass::ops::ref
