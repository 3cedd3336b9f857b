// oneclass/explain/targets.hpp - what explanations differentiate: a detector's score on the
// features of a representation, s(x) = det(f(x)) or det(g(f(x))), or the proxy's own score
// (RotNet's -p(y = 0 | x), the autoencoder's reconstruction error).
//
// `detector_score` puts a fitted DifferentiableDetector on the tape: forward it scores the rows
// of f, backward it hands row i the detector's analytic gradient times d loss / d s_i, so that
// d s / d x flows on through the L2 normalisation and the network by the autograd.
//
//     auto t = oneclass::explain::detector_target(rep, kde);           // on f
//     auto t = oneclass::explain::detector_target(rep, gde, true);     // on g(f)
//     auto t = oneclass::explain::proxy_target(rep, "rotnet-p0");
#pragma once

#include <oneclass/detectors/registry.hpp>
#include <oneclass/explain/attribution.hpp>
#include <oneclass/pipeline/representation.hpp>

#include <memory>
#include <variant>

namespace oneclass::explain {

/// The N scores of the N rows of `features` (N x d, on the tape) under a fitted detector. The
/// gradients are computed only when the tape records and the features need them.
template <class T, DifferentiableDetector D>
    requires std::same_as<typename D::value_type, T>
variable<T> detector_score(const variable<T>& features, const D& det) {
    require(features.value().ndim() == 2, "explain::detector_score", "expects N x d features, got ",
            to_string(features.shape()));
    const tensor<T> f = features.value().contiguous_copy();
    const matrix_view<const T> X(f.data(), f.shape(0), f.shape(1));
    if (!features.requires_grad() || !grad_enabled()) {
        const std::vector<T> s = det.score(X);
        return variable<T>(tensor<T>({f.shape(0)}, std::span<const T>(s)));
    }
    auto sg = std::make_shared<score_gradients<T>>(det.score_gradient(X));
    tensor<T> s({f.shape(0)}, std::span<const T>(sg->score));
    auto nf = features.node();
    return make_result<T>(std::move(s), {&features}, [nf, sg](var_node<T>& o) {
        const std::size_t N = sg->gradient.rows(), d = sg->gradient.cols();
        tensor<T>& g = nf->grad_buffer();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < d; ++j) g.data()[i * d + j] += o.grad.data()[i] * sg->gradient(i, j);
    });
}

namespace detail {
/// Refuses detector `name` of a variant over D..., naming the alternatives that have a gradient.
template <class... D>
[[noreturn]] void no_gradient(const std::string& name) {
    std::string s;
    ((DifferentiableDetector<D> ? (void)(s += (s.empty() ? "" : ", ") + std::string(D::kind)) : void()), ...);
    fail("explain", "detector ", name, " has no score gradient (differentiable: ", s, ")");
}
template <class... D>
void check_differentiable(const std::variant<D...>& det) {
    std::visit(
        [](const auto& x) {
            if constexpr (!DifferentiableDetector<std::decay_t<decltype(x)>>) no_gradient<D...>(variant_of(x));
        },
        det);
}
template <DifferentiableDetector D>
void check_differentiable(const D&) {}
}  // namespace detail

/// The same for a detector held in a variant of a detector list (any_detector); a detector that
/// has no gradient throws, naming those that do.
template <class T, class... D>
variable<T> detector_score(const variable<T>& features, const std::variant<D...>& det) {
    return std::visit(
        [&](const auto& x) -> variable<T> {
            if constexpr (DifferentiableDetector<std::decay_t<decltype(x)>>) return detector_score(features, x);
            else detail::no_gradient<D...>(variant_of(x));
        },
        det);
}

namespace detail {
/// Runs `score` with the encoder's `stage` output captured into *activation (when asked).
template <class Rep, class F>
variable<float> with_capture(Rep& rep, std::size_t stage, variable<float>* activation, F&& score) {
    struct reset {
        nn::resnet<float>& f;
        ~reset() { f.capture_stage(0, nullptr); }
    } guard{rep.encoder()};
    if (activation) rep.encoder().capture_stage(stage, activation);
    return score();
}
template <class Rep>
std::function<void()> release_of(Rep& rep) {
    return [&rep] {
        for (auto& p : rep.parameters()) p.var.zero_grad();
    };
}
}  // namespace detail

/// s(x) = det(f(x)) (or det(g(f(x))) when `head`), f L2-normalised as the detector was fitted
/// on; GradCAM weighs encoder stage `stage` (1..4, default the last). `rep` and `det` must
/// outlive the target.
template <class Rep, class Det>
target detector_target(Rep& rep, const Det& det, bool head = false, std::size_t stage = 4) {
    require(!head || rep.uses_head(), "explain::detector_target", "a ", rep.config().method,
            " model has no trained projection head; explain a detector on f");
    detail::check_differentiable(det);  // now, not at the first image
    require(stage >= 1 && stage <= rep.encoder().stages(), "explain::detector_target", "stage must be 1..",
            rep.encoder().stages(), ", got ", stage);
    target t;
    t.name = std::string(head ? "g(f)" : "f");
    t.score = [&rep, &det, head, stage](const variable<float>& x, variable<float>* act) {
        return detail::with_capture(rep, stage, act, [&] { return detector_score(rep.embed(x, head), det); });
    };
    t.release = detail::release_of(rep);
    return t;
}

/// The proxy's own score `name` (representation::proxy_score_names), e.g. "rotnet-p0".
template <class Rep>
target proxy_target(Rep& rep, const std::string& name, std::size_t stage = 4) {
    const auto names = rep.proxy_score_names();
    require(std::find(names.begin(), names.end(), name) != names.end(), "explain::proxy_target", "a ", rep.config().method,
            " model has no score '", name, "'");
    require(stage >= 1 && stage <= rep.encoder().stages(), "explain::proxy_target", "stage must be 1..",
            rep.encoder().stages(), ", got ", stage);
    target t;
    t.name = name;
    t.score = [&rep, name, stage](const variable<float>& x, variable<float>* act) {
        return detail::with_capture(rep, stage, act, [&] { return rep.proxy_score_variable(x, name); });
    };
    t.release = detail::release_of(rep);
    return t;
}

}  // namespace oneclass::explain
