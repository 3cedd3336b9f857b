// oneclass/pipeline/proxy.hpp - what a self-supervised proxy task is to the trainer and to a
// representation, and the list type that names a set of them.
//
// A proxy owns whatever it trains besides the encoder f and the projection head g (RotNet's
// 4-way classifier, the autoencoder's decoder) and turns a batch of normal images into a scalar
// loss on the tape. Randomness comes only from the seed it is handed (one per step), so a run is
// a function of the training seed, and a resumed run repeats an uninterrupted one exactly.
//
//   ProxyLoss          loss, parameters, buffers, train(bool), uses_head, name: what trainer drives
//   BuildableProxy     + make(config, f, rng): what a representation builds from a saved name
//   ScoringProxy       + score_names(), scores(net, x, name): the proxy's own anomaly scores
//                      (higher = more anomalous), e.g. RotNet's or the reconstruction error
//   DifferentiableScoringProxy  + score_variable(net, x, name): those scores on the tape, N of
//                      them, differentiable in x (explain/ attributes them to pixels); a name it
//                      cannot differentiate throws
//   DataParallelProxy  + loss(net, x, seed, batch_shard): its term of the loss on a rank's rows
//                      of a global batch (pipeline::data_parallel), augmented by global index
//   proxy_list<P...>   names, parsing and the variant of a set of proxies; extend the built-in
//                      list with your own: proxy_list_append<builtin_proxies, my_proxy>
#pragma once

#include <oneclass/nn/resnet.hpp>
#include <oneclass/pipeline/config.hpp>

#include <array>
#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace oneclass::pipeline {

/// What a proxy trains through: the encoder f and the projection head g.
struct network_ref {
    nn::resnet<float>& f;
    nn::mlp_head<float>& g;
    variable<float> embed(const tensor<float>& x) const { return embed(variable<float>(x)); }
    variable<float> embed(const variable<float>& x) const { return g.forward(f.forward(x)); }
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

/// A rank's part of a data-parallel step: rows [first, first + rows) of a global batch of
/// `global` images, and how to see every rank's copy of a vector (rank order; empty when one
/// process holds the whole batch). Augmentations are seeded by the global index first + n, so
/// that the ranks together augment the batch exactly as one process does.
struct batch_shard {
    std::size_t first = 0, rows = 0, global = 0;
    std::size_t rank = 0;  ///< this rank's index in all_gather's result
    std::function<std::vector<std::vector<float>>(const std::vector<float>&)> all_gather = {};
    static batch_shard whole(std::size_t n) { return {0, n, n, 0, {}}; }
    bool is_whole() const { return rows == global; }
};

/// A rank's term of the global batch's loss: the gradients of all ranks' `loss` sum to the
/// gradient of the loss one process computes on the whole batch. `replicated`: every rank
/// computed the whole loss (a contrastive loss over gathered embeddings), so its value is the
/// global one; otherwise the ranks' values sum to it.
struct loss_part {
    variable<float> loss;
    bool replicated = false;
};

/// Global indices first + n of a shard's rows (the seeds of their augmentations); `copies`
/// blocks of them (block j of a distaug batch: j * global + first + n).
inline std::vector<std::size_t> global_ids(const batch_shard& s, std::size_t copies = 1) {
    std::vector<std::size_t> ids(copies * s.rows);
    for (std::size_t j = 0; j < copies; ++j)
        for (std::size_t n = 0; n < s.rows; ++n) ids[j * s.rows + n] = j * s.global + s.first + n;
    return ids;
}

/// A mean over a shard's rows as its share of the mean over the global batch.
inline loss_part share_of_mean(const variable<float>& mean, const batch_shard& s) {
    if (s.is_whole()) return {mean, false};
    return {fn::scale(mean, float(double(s.rows) / double(s.global))), false};
}

/// A proxy that can train data-parallel: its loss on a rank's rows of the global batch.
template <class P>
concept DataParallelProxy =
    ProxyLoss<P> && requires(P p, const network_ref& net, const tensor<float>& x, std::uint64_t seed, const batch_shard& s) {
        { p.loss(net, x, seed, s) } -> std::same_as<loss_part>;
    };

template <class P>
concept BuildableProxy = ProxyLoss<P> && requires(const representation_config& c, const nn::resnet<float>& f, rng& r) {
    { P::make(c, f, r) } -> std::same_as<P>;
};

template <class P>
concept ScoringProxy = ProxyLoss<P> && requires(P p, const network_ref& net, const tensor<float>& x, const std::string& s) {
    { P::score_names() } -> std::same_as<std::vector<std::string>>;
    { p.scores(net, x, s) } -> std::same_as<std::vector<double>>;
};

template <class P>
concept DifferentiableScoringProxy =
    ScoringProxy<P> && requires(P p, const network_ref& net, const variable<float>& x, const std::string& s) {
        { p.score_variable(net, x, s) } -> std::same_as<variable<float>>;
    };

/// A set of proxies: the one list from which names, parsing and the representation's variant follow.
template <BuildableProxy... P>
struct proxy_list {
    static_assert(sizeof...(P) >= 1, "a proxy list needs at least one proxy");
    using variant = std::variant<P...>;
    static constexpr std::array<const char*, sizeof...(P)> names{P::name...};

    static bool contains(std::string_view name) {
        for (const char* n : names)
            if (name == n) return true;
        return false;
    }
    /// "rotation, simclr, distaug, dae": for help texts and error messages.
    static std::string choices(const char* sep = ", ") {
        std::string s;
        for (const char* n : names) s += (s.empty() ? "" : sep) + std::string(n);
        return s;
    }
    /// Throws invalid_input naming the choices when `name` is not in the list.
    static void check(std::string_view name, const char* where) {
        require(contains(name), where, "unknown method '", name, "' (", choices(), ")");
    }
    /// Whether proxy `name` trains the projection head g (false: only f is a representation).
    static bool uses_head(std::string_view name) {
        check(name, "proxy_list::uses_head");
        bool r = false;
        ((name == P::name ? (void)(r = P::uses_head) : (void)0), ...);
        return r;
    }
    /// Names of proxy `name`'s own anomaly scores (ScoringProxy; empty for the others).
    static std::vector<std::string> score_names(std::string_view name) {
        check(name, "proxy_list::score_names");
        std::vector<std::string> r;
        ((name == P::name ? (void)(r = names_of<P>()) : (void)0), ...);
        return r;
    }
    static variant make(const representation_config& c, const nn::resnet<float>& f, rng& r) {
        check(c.method, "representation");
        std::optional<variant> out;
        ((c.method == P::name ? (void)out.emplace(std::in_place_type<P>, P::make(c, f, r)) : (void)0), ...);
        return std::move(*out);
    }

private:
    template <class Q>
    static std::vector<std::string> names_of() {
        if constexpr (ScoringProxy<Q>) return Q::score_names();
        else return {};
    }
};

template <class List, class... More>
struct proxy_list_append_t;
template <class... P, class... More>
struct proxy_list_append_t<proxy_list<P...>, More...> {
    using type = proxy_list<P..., More...>;
};
/// The list `List` with `More` proxies after its own.
template <class List, class... More>
using proxy_list_append = typename proxy_list_append_t<List, More...>::type;

}  // namespace oneclass::pipeline
