// oneclass/testing/check_gradients.hpp - finite-difference gradient checks users can run on their
// own functions and modules.
//
//     auto rep = oneclass::testing::check_gradients(
//         [](std::vector<oneclass::variable<double>>& in) { return fn::mean(fn::relu(fn::matmul(in[0], in[1]))); },
//         {x_tensor, w_tensor});
//     REQUIRE(rep.ok);   // rep.worst names the input, index, analytic and numeric values
//
// The function gets the inputs as gradient-collecting variables and returns any variable; a
// non-scalar output is reduced to sum(out * r) with fixed pseudo-random r, so every output entry
// is checked. Numeric gradients are central differences in double precision.
#pragma once

#include <oneclass/autograd/functions.hpp>
#include <oneclass/core/rng.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace oneclass::testing {

struct gradient_check_report {
    bool ok = true;
    double max_abs_error = 0, max_rel_error = 0;
    std::size_t checked = 0;
    std::string worst;  ///< the worst entry: input, flat index, analytic vs numeric
};

namespace detail {
/// One value being checked: its storage (perturbed in place), size and analytic gradient.
struct fd_target {
    std::string name;
    double* values;
    std::size_t n;
    tensor<double> analytic;
};

/// Central differences of `evaluate()` for every entry of every target, against the analytic
/// gradients; a failure is |analytic - numeric| > atol + rtol |numeric|.
template <class Eval>
gradient_check_report finite_difference_check(std::vector<fd_target>& targets, Eval&& evaluate, double eps, double rtol,
                                              double atol) {
    gradient_check_report rep;
    double worst_score = -1;
    for (auto& t : targets) {
        for (std::size_t i = 0; i < t.n; ++i) {
            const double orig = t.values[i];
            t.values[i] = orig + eps;
            const double up = evaluate();
            t.values[i] = orig - eps;
            const double down = evaluate();
            t.values[i] = orig;
            const double numeric = (up - down) / (2 * eps);
            const double analytic = t.analytic.defined() ? t.analytic.data()[i] : 0.0;
            const double abs_err = std::abs(analytic - numeric);
            rep.max_abs_error = std::max(rep.max_abs_error, abs_err);
            rep.max_rel_error = std::max(rep.max_rel_error, abs_err / std::max(std::abs(numeric), 1e-12));
            const double score = abs_err / (atol + rtol * std::abs(numeric));
            if (score > 1) rep.ok = false;
            if (score > worst_score) {
                worst_score = score;
                std::ostringstream os;
                os.precision(12);
                os << t.name << " index " << i << ": analytic " << analytic << ", numeric " << numeric;
                rep.worst = os.str();
            }
            ++rep.checked;
        }
    }
    return rep;
}
}  // namespace detail

template <class F>
gradient_check_report check_gradients(F&& f, const std::vector<tensor<double>>& inputs, double eps = 1e-6,
                                      double rtol = 1e-5, double atol = 1e-8) {
    tensor<double> proj;  // fixed projection of a non-scalar output
    auto objective = [&](std::vector<variable<double>>& vars) {
        variable<double> out = f(vars);
        if (out.value().size() == 1) return out;
        if (!proj.defined() || proj.shape() != out.shape()) {
            proj = tensor<double>(out.shape());
            rng r(0xC0FFEE);
            for (std::size_t i = 0; i < proj.size(); ++i) proj.data()[i] = r.uniform() * 2 - 1;
        }
        return fn::sum(fn::mul(out, variable<double>(proj)));
    };
    auto evaluate = [&](const std::vector<tensor<double>>& xs) {
        no_grad ng;
        std::vector<variable<double>> vars;
        for (const auto& x : xs) vars.push_back(variable<double>(x.clone()));
        return objective(vars).value().data()[0];
    };

    std::vector<variable<double>> vars;
    for (std::size_t k = 0; k < inputs.size(); ++k)
        vars.push_back(variable<double>::parameter(inputs[k].clone(), "input " + std::to_string(k)));
    auto loss = objective(vars);
    backward(loss);

    std::vector<tensor<double>> xs;
    for (const auto& x : inputs) xs.push_back(x.clone());
    std::vector<detail::fd_target> targets;
    for (std::size_t k = 0; k < xs.size(); ++k)
        targets.push_back({"input " + std::to_string(k), xs[k].data(), xs[k].size(), vars[k].grad()});
    return detail::finite_difference_check(targets, [&] { return evaluate(xs); }, eps, rtol, atol);
}

/// Gradient check of a module: d sum(r * m(x)) with respect to the input and every parameter
/// (r fixed pseudo-random). The module must be double precision; batch norm is checked in
/// whatever mode the module is in. Parameters are perturbed in place and restored.
template <class M>
    requires requires(M m) { m.parameters(); m.forward(variable<double>()); }
gradient_check_report check_module_gradients(M& m, const tensor<double>& input, double eps = 1e-6, double rtol = 1e-5,
                                             double atol = 1e-8) {
    auto params = m.parameters();
    tensor<double> proj;
    auto objective = [&](const variable<double>& x) {
        variable<double> out = m.forward(x);
        if (!proj.defined()) {
            proj = tensor<double>(out.shape());
            rng r(0xC0FFEE);
            for (std::size_t i = 0; i < proj.size(); ++i) proj.data()[i] = r.uniform() * 2 - 1;
        }
        return fn::sum(fn::mul(out, variable<double>(proj)));
    };
    for (auto& p : params) p.var.zero_grad();
    auto x = variable<double>::parameter(input.clone(), "input");
    auto loss = objective(x);
    backward(loss);

    tensor<double> x_eval = input.clone();
    std::vector<detail::fd_target> targets;
    targets.push_back({"input", x_eval.data(), x_eval.size(), x.grad()});
    for (auto& p : params) targets.push_back({p.id, p.var.value().data(), p.var.value().size(), p.var.grad()});
    auto evaluate = [&] {
        no_grad ng;
        return objective(variable<double>(x_eval)).value().data()[0];
    };
    const auto rep = detail::finite_difference_check(targets, evaluate, eps, rtol, atol);
    for (auto& p : params) p.var.zero_grad();
    return rep;
}

}  // namespace oneclass::testing
