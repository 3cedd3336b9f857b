// oneclass/ops/batch_norm.hpp - the batch-norm kernels on N x C x HW float / double planes:
// training statistics and the normalisation (optionally fused with a ReLU, or with a residual
// add and a ReLU), and the backward pass. autograd's fn::batch_norm* wrap them; the double
// oracles are in ops/ref/batch_norm.hpp.
//
// Channels are independent: blocks of channels run in parallel, each channel's sums in a fixed
// order (its planes' SIMD sums added in double, n = 0, 1, ...) whatever the blocking, so the
// result is the same on any number of threads.
#pragma once

#include <oneclass/core/profile.hpp>
#include <oneclass/ops/dispatch.hpp>
#include <oneclass/parallel/parallel.hpp>
#include <oneclass/simd/simd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <vector>

namespace oneclass::ops {

namespace detail {
/// Runs f(c_lo, c_hi) over blocks of channels of an N x C x HW tensor, in parallel (small tensors
/// inline). A block's planes over the whole batch take about 64 KB, so the passes over it
/// (statistics, then the normalisation) find it in L1 / L2; inside a block each pass sweeps memory
/// in order, n outermost: a channel-major sweep visits N planes at a stride of C HW, which on the
/// small maps of late stages (64-byte planes) defeats the prefetchers (backward 1.6-2x slower
/// there). Each channel's result does not depend on the blocking.
template <class T, class F>
void for_channel_blocks(std::size_t N, std::size_t C, std::size_t HW, F&& f) {
    const std::size_t per_channel = std::max<std::size_t>(1, N * HW * sizeof(T));
    const std::size_t block = std::clamp<std::size_t>((std::size_t(1) << 16) / per_channel, 1, std::max<std::size_t>(1, (C + 1) / 2));
    const std::size_t blocks = (C + block - 1) / block;
    const std::size_t grain = std::max<std::size_t>(1, (std::size_t(1) << 15) / std::max<std::size_t>(1, N * HW * block));
    parallel::for_chunks(0, blocks, grain, [&](std::size_t blo, std::size_t bhi) {
        for (std::size_t b = blo; b < bhi; ++b) f(b * block, std::min(C, (b + 1) * block));
    });
}

/// Whether batch norm sums a channel's planes vertically (bn_vertical_sums): small planes of
/// whole SIMD vectors (the 4 x 4 to 16 x 16 maps of late stages), where one horizontal reduction
/// per plane cost more than the plane's loads.
template <class T>
bool bn_vertical(std::size_t HW) {
    return HW % simd::width<T> == 0 && HW <= 256;
}

/// Per-channel sums over the images for channels [clo, chi): plane(n, c, acc) adds plane (n, c)
/// into the channel's A vector accumulators, which are reduced to scalars and added in double
/// once per 8 images (so each float accumulator sums at most 8 planes). The order is fixed by the
/// shape: the same bits on any number of threads.
template <std::size_t A, class T, class F>
void bn_vertical_sums(std::size_t N, std::size_t clo, std::size_t chi, const std::array<double*, A>& out, F&& plane) {
    using B = simd::batch<T>;
    constexpr std::size_t CB = 16, flush = 8;
    for (std::size_t c0 = clo; c0 < chi; c0 += CB) {
        const std::size_t c1 = std::min(chi, c0 + CB);
        B acc[CB][A];
        for (auto& row : acc)
            for (auto& v : row) v = B(T(0));
        for (std::size_t n = 0; n < N; ++n) {
            for (std::size_t c = c0; c < c1; ++c) plane(n, c, acc[c - c0]);
            if ((n + 1) % flush != 0 && n + 1 != N) continue;
            for (std::size_t c = c0; c < c1; ++c)
                for (std::size_t a = 0; a < A; ++a) {
                    out[a][c] += double(simd::lanes_sum(acc[c - c0][a]));
                    acc[c - c0][a] = B(T(0));
                }
        }
    }
}
}  // namespace detail

namespace detail {
/// sync(sums + [count]) in place; returns the summed count.
inline double sync_sums(const batch_norm_sync& sync, std::vector<double>& sums, std::size_t count) {
    sums.push_back(double(count));
    sync(sums);
    const double total = sums.back();
    sums.pop_back();
    return total;
}
}  // namespace detail

/// batch_norm_forward compiled in the including translation unit (see conv2d_forward_here); the
/// same for batch_norm_backward_here.
template <class T>
void batch_norm_forward_here(const T* xd, const T* residual, std::size_t N, std::size_t C, std::size_t HW, const T* gm,
                             const T* bt, T* running_mean, T* running_var, double momentum, double eps, bool training,
                             bool fuse_relu, T* y, T* mean, T* inv_std, T* scale, T* shift, const batch_norm_sync* sync) {
    using namespace detail;
    double M = double(N * HW);
    std::vector<double> sums(C, 0.0), dmean(C, 0.0);
    using B = simd::batch<T>;
    constexpr std::size_t W = simd::width<T>;
    const bool vertical = bn_vertical<T>(HW);
    const auto plane = [&](std::size_t n, std::size_t c) { return xd + (n * C + c) * HW; };
    // channels are independent: blocks of channels in parallel, each channel's sums in a fixed
    // order (its planes' SIMD sums added in double, n = 0, 1, ...) whatever the blocking. Two
    // passes (mean, then squared deviations: no E[x^2] - E[x]^2 cancellation), each sweeping the
    // block's memory in order, n outermost
    const auto sum_pass = [&](std::size_t clo, std::size_t chi) {
        if (vertical) {
            bn_vertical_sums<1, T>(N, clo, chi, {sums.data()}, [&](std::size_t n, std::size_t c, B* acc) {
                const T* p = plane(n, c);
                for (std::size_t i = 0; i < HW; i += W) acc[0] += B::load_unaligned(p + i);
            });
        } else {
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t c = clo; c < chi; ++c) sums[c] += double(simd::sum(plane(n, c), HW));
        }
    };
    const auto set_mean = [&](std::size_t clo, std::size_t chi) {
        for (std::size_t c = clo; c < chi; ++c) dmean[c] = sums[c] / M, mean[c] = T(dmean[c]), sums[c] = 0;
    };
    const auto deviation_pass = [&](std::size_t clo, std::size_t chi) {
        if (vertical) {
            bn_vertical_sums<1, T>(N, clo, chi, {sums.data()}, [&](std::size_t n, std::size_t c, B* acc) {
                const T* p = plane(n, c);
                const B m(mean[c]);
                for (std::size_t i = 0; i < HW; i += W) {
                    const B d = B::load_unaligned(p + i) - m;
                    acc[0] = xsimd::fma(d, d, acc[0]);
                }
            });
        } else {
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t c = clo; c < chi; ++c) sums[c] += double(simd::sum_squared_deviation(plane(n, c), HW, mean[c]));
        }
    };
    const auto normalise = [&](std::size_t clo, std::size_t chi) {
        for (std::size_t c = clo; c < chi; ++c) {
            if (training) {
                const double m = dmean[c], var = sums[c] / M;
                inv_std[c] = T(1.0 / std::sqrt(var + eps));
                running_mean[c] = T((1 - momentum) * running_mean[c] + momentum * m);
                running_var[c] = T((1 - momentum) * running_var[c] + momentum * sums[c] / (M - 1));
            } else {
                mean[c] = running_mean[c];
                inv_std[c] = T(1.0 / std::sqrt(double(running_var[c]) + eps));
            }
            scale[c] = inv_std[c] * gm[c], shift[c] = bt[c] - mean[c] * scale[c];  // y = x scale + shift
        }
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t c = clo; c < chi; ++c) {
                const T* xp = plane(n, c);
                T* yp = y + (n * C + c) * HW;
                const T* rp = residual ? residual + (n * C + c) * HW : nullptr;
                simd::affine_relu(xp, rp, HW, scale[c], shift[c], fuse_relu || residual, yp);
            }
    };
    if (!training) {
        for_channel_blocks<T>(N, C, HW, normalise);
    } else if (!sync) {
        for_channel_blocks<T>(N, C, HW, [&](std::size_t clo, std::size_t chi) {
            sum_pass(clo, chi);
            set_mean(clo, chi);
            deviation_pass(clo, chi);
            normalise(clo, chi);
        });
    } else {
        // each pass over every block, its sums summed across the replicas before the next
        for_channel_blocks<T>(N, C, HW, sum_pass);
        M = sync_sums(*sync, sums, N * HW);
        set_mean(0, C);
        for_channel_blocks<T>(N, C, HW, deviation_pass);
        sync_sums(*sync, sums, 0);
        for_channel_blocks<T>(N, C, HW, normalise);
    }
}

template <class T>
void batch_norm_backward_here(const T* xd2, const T* g_in, const T* y_out, T* m, const T* gamma_v, const T* mean,
                              const T* inv_std, const T* scale, const T* shift, std::size_t N, std::size_t C, std::size_t HW,
                              bool training, bool fuse_relu, T* dx, bool accumulate, T* dgamma, T* dbeta,
                              const batch_norm_sync* sync) {
    using namespace detail;
    double M = double(N * HW);
    const T* dy = m ? m : g_in;  // dz, read by the second pass
    const bool fresh = !accumulate;
    std::vector<double> sdy(C, 0.0), sdyxr(C, 0.0);  // per channel: sum dz, sum dz * x
    std::vector<T> ka(C), kb(C), kk(C);
    const auto sum_pass = [&](std::size_t clo, std::size_t chi) {
        if (bn_vertical<T>(HW)) {
            using B = simd::batch<T>;
            constexpr std::size_t W = simd::width<T>;
            bn_vertical_sums<2, T>(N, clo, chi, {sdy.data(), sdyxr.data()}, [&](std::size_t n, std::size_t c, B* acc) {
                const std::size_t off = (n * C + c) * HW;
                const B sa(scale[c]), sb(shift[c]), zero(T(0)), one(T(1));
                for (std::size_t i = 0; i < HW; i += W) {
                    const B xv = B::load_unaligned(xd2 + off + i);
                    B gv = B::load_unaligned(g_in + off + i);
                    if (fuse_relu) gv = gv * xsimd::select(simd::affine(xv, sa, sb) > zero, one, zero);
                    if (m) {
                        gv = gv * xsimd::select(B::load_unaligned(y_out + off + i) > zero, one, zero);
                        gv.store_unaligned(m + off + i);
                    }
                    acc[0] += gv;
                    acc[1] = xsimd::fma(gv, xv, acc[1]);
                }
            });
        } else {
            for (std::size_t n = 0; n < N; ++n)
                for (std::size_t c = clo; c < chi; ++c) {
                    const std::size_t off = (n * C + c) * HW;
                    T s, d;
                    if (fuse_relu) simd::masked_sum_dot_affine(g_in + off, xd2 + off, scale[c], shift[c], HW, s, d);
                    else if (m) simd::masked_sum_dot(g_in + off, y_out + off, xd2 + off, HW, s, d, m + off);
                    else simd::masked_sum_dot(g_in + off, static_cast<const T*>(nullptr), xd2 + off, HW, s, d);
                    sdy[c] += double(s);
                    sdyxr[c] += double(d);
                }
        }
    };
    const auto sum_dz_xhat = [&](std::size_t c) { return double(inv_std[c]) * (sdyxr[c] - double(mean[c]) * sdy[c]); };
    const auto parameter_grads = [&](std::size_t clo, std::size_t chi) {
        for (std::size_t c = clo; c < chi; ++c) {
            if (dgamma) dgamma[c] += T(sum_dz_xhat(c));
            if (dbeta) dbeta[c] += T(sdy[c]);
        }
    };
    const auto input_grad = [&](std::size_t clo, std::size_t chi) {
        for (std::size_t c = clo; c < chi; ++c) {
            // dx = gs (dz - sdy / M - xhat sdyx / M) in training, gs dz in eval: dx = a dz + b x + k
            const double sdyx = sum_dz_xhat(c), gs = double(gamma_v[c]) * double(inv_std[c]);
            ka[c] = T(gs);
            kb[c] = training ? T(-gs * double(inv_std[c]) * sdyx / M) : T(0);
            kk[c] = training ? T(-gs * (sdy[c] / M) - double(kb[c]) * double(mean[c])) : T(0);
        }
        if (!dx) return;
        for (std::size_t n = 0; n < N; ++n)
            for (std::size_t c = clo; c < chi; ++c) {
                const std::size_t off = (n * C + c) * HW;
                const T* dyp = dy + off;
                const T* xp = xd2 + off;
                T* dxp = dx + off;
                const T a = ka[c], b = kb[c], k = kk[c];
                if (fuse_relu) simd::bn_relu_input_grad(dyp, xp, scale[c], shift[c], a, b, k, HW, dxp, !fresh);
                else simd::bn_input_grad(dyp, xp, a, b, k, HW, dxp, !fresh);
            }
    };
    if (!sync || !training) {
        for_channel_blocks<T>(N, C, HW, [&](std::size_t clo, std::size_t chi) {
            sum_pass(clo, chi);
            parameter_grads(clo, chi);
            input_grad(clo, chi);
        });
        return;
    }
    for_channel_blocks<T>(N, C, HW, sum_pass);
    parameter_grads(0, C);
    std::vector<double> both(sdy);
    both.insert(both.end(), sdyxr.begin(), sdyxr.end());
    M = sync_sums(*sync, both, N * HW);
    std::copy_n(both.begin(), C, sdy.begin());
    std::copy_n(both.begin() + std::ptrdiff_t(C), C, sdyxr.begin());
    for_channel_blocks<T>(N, C, HW, input_grad);
}

/// y = x scale + shift per channel (relu: then max(0, .); residual: + residual, then ReLU), with
/// training: batch statistics (biased variance to normalise, unbiased into the running variance,
/// as PyTorch), the running statistics updated by momentum; otherwise the running statistics.
/// Writes the per-channel mean, 1 / std, scale = gamma / std and shift = beta - mean scale that
/// the backward pass needs. sync (training): the statistics are those of the union of every
/// replica's batch (the sums of each pass go through it before they are used).
template <class T>
void batch_norm_forward(const T* x, const T* residual, std::size_t N, std::size_t C, std::size_t HW, const T* gamma,
                        const T* beta, T* running_mean, T* running_var, double momentum, double eps, bool training,
                        bool fuse_relu, T* y, T* mean, T* inv_std, T* scale, T* shift, const batch_norm_sync* sync = nullptr) {
#if ONECLASS_DISPATCHED
    kernels_for<T>().batch_norm_forward(x, residual, N, C, HW, gamma, beta, running_mean, running_var, momentum, eps, training,
                                        fuse_relu, y, mean, inv_std, scale, shift, sync);
#else
    batch_norm_forward_here(x, residual, N, C, HW, gamma, beta, running_mean, running_var, momentum, eps, training, fuse_relu,
                            y, mean, inv_std, scale, shift, sync);
#endif
}

/// The backward pass of batch_norm_forward for the incoming gradient g_in: dgamma, dbeta (+=, if
/// not null) and dx (if not null; += when accumulate). relu: the gradient is masked by the ReLU
/// of x scale + shift, recomputed with the forward's rounding. y_out (residual form): the mask
/// comes from the saved output instead, and the masked gradient dz is written to `masked` (the
/// residual's gradient). sync (training): the forward's statistics were synchronised, so dx
/// takes the sums of dz and dz x over every replica; dgamma and dbeta stay this replica's own
/// (the gradient all-reduce sums them).
template <class T>
void batch_norm_backward(const T* x, const T* g_in, const T* y_out, T* masked, const T* gamma, const T* mean,
                         const T* inv_std, const T* scale, const T* shift, std::size_t N, std::size_t C, std::size_t HW,
                         bool training, bool fuse_relu, T* dx, bool accumulate, T* dgamma, T* dbeta,
                         const batch_norm_sync* sync = nullptr) {
#if ONECLASS_DISPATCHED
    kernels_for<T>().batch_norm_backward(x, g_in, y_out, masked, gamma, mean, inv_std, scale, shift, N, C, HW, training,
                                         fuse_relu, dx, accumulate, dgamma, dbeta, sync);
#else
    batch_norm_backward_here(x, g_in, y_out, masked, gamma, mean, inv_std, scale, shift, N, C, HW, training, fuse_relu, dx,
                             accumulate, dgamma, dbeta, sync);
#endif
}

}  // namespace oneclass::ops
