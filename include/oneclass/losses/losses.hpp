// oneclass/losses/losses.hpp - the self-supervised proxy losses of the representation stage.
//
// * NT-Xent (SimCLR, Chen et al. 2020): embeddings are L2-normalised and compared by cosine
//   similarity over temperature tau; for anchor i of view a the positive is i of view b and the
//   negatives are every other embedding of both views:
//       l_i = -log( exp(s(a_i, b_i) / tau) / sum_{k != i in a, all k in b} exp(s(a_i, .) / tau) ).
//   `nt_xent` is the symmetric loss (mean over the 2N anchors of both views); `nt_xent_one_way`
//   uses view a's anchors only, as the official DROC code does.
// * DistAug (Sohn et al. 2021): the same loss over the union of distribution-shifted copies,
//   each copy a new instance: stack the shifted batches (augment::distribution_shift) and apply
//   NT-Xent (see `distaug_batch`).
// * Rotation prediction (RotNet, Gidaris et al. 2018; Golan and El-Yaniv 2018): 4-way
//   cross-entropy on rot90 copies (`rotation_batch` builds them with their labels), and its
//   surrogate normality scores.
// * Denoising autoencoder: MSE between the reconstruction of x + noise and x (`add_noise`).
//
//     auto loss = oneclass::losses::nt_xent(g(f(view1)), g(f(view2)), 0.2f);
#pragma once

#include <oneclass/augment/augment.hpp>
#include <oneclass/autograd/nn_functions.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace oneclass::losses {

/// One-directional NT-Xent: anchors a (N x d) against positives b and negatives b, a (N x d).
template <class T>
variable<T> nt_xent_one_way(const variable<T>& a, const variable<T>& b, T tau) {
    require(a.value().ndim() == 2 && a.shape() == b.shape(), "losses::nt_xent", "views must both be N x d, got ",
            to_string(a.shape()), " and ", to_string(b.shape()));
    require(tau > T(0), "losses::nt_xent", "temperature must be > 0, got ", tau);
    const std::size_t N = a.shape()[0];
    require(N >= 2, "losses::nt_xent", "needs at least 2 instances (negatives), got ", N);
    const auto za = fn::l2_normalize(a), zb = fn::l2_normalize(b);
    const auto all = fn::concat_batch<T>({zb, za});                                  // 2N x d: positives first
    const auto logits = fn::scale(fn::matmul(za, fn::transpose(all)), T(1) / tau);  // N x 2N
    tensor<T> mask({N, 2 * N});  // an anchor is not its own negative
    for (std::size_t i = 0; i < N; ++i) mask(i, N + i) = -std::numeric_limits<T>::infinity();
    std::vector<int> labels(N);
    for (std::size_t i = 0; i < N; ++i) labels[i] = int(i);
    return fn::cross_entropy(fn::add_constant(logits, mask), labels);
}

/// Symmetric NT-Xent over the 2N anchors of both views.
template <class T>
variable<T> nt_xent(const variable<T>& a, const variable<T>& b, T tau) {
    return fn::scale(fn::add(nt_xent_one_way(a, b, tau), nt_xent_one_way(b, a, tau)), T(0.5));
}

/// The DistAug batch: the batch under each listed distribution shift (0..7, see
/// augment::distribution_shift), stacked; copy j of image n is instance j N + n.
template <class T>
tensor<T> distaug_batch(const tensor<T>& images, const std::vector<int>& shifts) {
    require(!shifts.empty(), "losses::distaug_batch", "no shifts");
    const std::size_t N = images.shape(0), img = images.size() / std::max<std::size_t>(N, 1);
    shape_t s = images.shape();
    s[0] = N * shifts.size();
    tensor<T> out(s, uninitialized);
    for (std::size_t j = 0; j < shifts.size(); ++j) {
        const auto t = augment::distribution_shift(images, shifts[j]);
        std::copy_n(t.data(), t.size(), out.data() + j * N * img);
    }
    return out;
}

/// Rotation-prediction batch: the four rot90 copies (k = 0, 1, 2, 3 blocks of N) and labels k.
template <class T>
std::pair<tensor<T>, std::vector<int>> rotation_batch(const tensor<T>& images) {
    require(images.ndim() == 4 && images.shape(2) == images.shape(3), "losses::rotation_batch",
            "expects square N x C x H x H images, got ", to_string(images.shape()));
    const std::size_t N = images.shape(0);
    std::vector<int> labels(4 * N);
    for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t n = 0; n < N; ++n) labels[k * N + n] = int(k);
    return {distaug_batch(images, {0, 2, 4, 6}), std::move(labels)};
}

/// 4-way rotation cross-entropy on logits of a rotation_batch.
template <class T>
variable<T> rotation_loss(const variable<T>& logits, const std::vector<int>& labels) {
    require(logits.value().ndim() == 2 && logits.shape()[1] == 4, "losses::rotation_loss",
            "expects 4-way logits, got ", to_string(logits.shape()));
    return fn::cross_entropy(logits, labels);
}

/// RotNet's surrogate anomaly scores from rotation logits (4N x 4, blocks k = 0..3 of N), higher =
/// more anomalous: `unrotated` = -p(y = 0 | x); `all` = -sum_k log p(k | rot_k(x)).
template <class T>
std::vector<double> rotation_scores(const tensor<T>& logits, bool all) {
    require(logits.ndim() == 2 && logits.shape(1) == 4 && logits.shape(0) % 4 == 0, "losses::rotation_scores",
            "expects 4N x 4 logits, got ", to_string(logits.shape()));
    const std::size_t N = logits.shape(0) / 4;
    std::vector<double> s(N, 0.0);
    for (std::size_t k = 0; k < (all ? 4u : 1u); ++k)
        for (std::size_t n = 0; n < N; ++n) {
            const std::size_t row = k * N + n;
            double m = -std::numeric_limits<double>::infinity(), z = 0;
            for (std::size_t j = 0; j < 4; ++j) m = std::max(m, double(logits(row, j)));
            for (std::size_t j = 0; j < 4; ++j) z += std::exp(double(logits(row, j)) - m);
            const double logp = double(logits(row, k)) - m - std::log(z);
            s[n] += all ? -logp : -std::exp(logp);
        }
    return s;
}

/// x + sigma * N(0, 1) noise, seeded (the denoising autoencoder's input). skip: x is a block of
/// rows of a larger batch that starts `skip` values later in the one noise stream of that batch
/// (a rank of a data-parallel run draws and drops the values before its rows).
template <class T>
tensor<T> add_noise(const tensor<T>& x, double sigma, std::uint64_t seed, std::size_t skip = 0) {
    tensor<T> out = x.clone();
    rng r(seed);
    for (std::size_t i = 0; i < skip; ++i) (void)r.normal();
    for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] += T(sigma * r.normal());
    return out;
}

}  // namespace oneclass::losses
