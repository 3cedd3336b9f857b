// oneclass/detectors/detail/smo.hpp - SMO for the nu one-class SVM dual (Schoelkopf et al. 2001).
//
//     min_a  0.5 a^T Q a    s.t.  0 <= a_i <= 1,  sum_i a_i = nu * l
//
// (libsvm's scaling: the box is [0, 1] and the sum nu*l; the decision function is
// sum_i a_i K(x_i, x) - rho.) All labels are +1, which collapses the general two-class solver:
// I_up = {a_t < 1}, I_low = {a_t > 0}. Working-set selection is the second-order rule WSS2 of
// Fan, Chen and Lin (JMLR 2005): i maximises -G_i over I_up, j minimises the second-order gain
// -(G_i - G_j)^2 / (Q_ii + Q_jj - 2 Q_ij) among violating pairs. Stopping: the maximal violation
// m(a) - M(a) < eps. Shrinking (Joachims 1999; libsvm's variant) drops bound variables that
// cannot violate, every min(l, 1000) iterations, with one gradient reconstruction from
// G_bar = sum_{a_j = 1} Q_j when the problem is nearly solved. The start point is libsvm's
// (the first floor(nu l) a_i = 1, the next one the remainder), so for the same data and
// kernel both reach the same solution.
#pragma once

#include <oneclass/detectors/detail/kernel_cache.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace oneclass::detail {

struct smo_options {
    double eps = 1e-3;          ///< stopping tolerance on the maximal violation
    std::size_t max_iter = 0;   ///< 0 = max(10^7, 100 l), libsvm's cap
    bool shrinking = true;
};

struct smo_solution {
    std::vector<double> alpha;
    double rho = 0;
    double objective = 0;
    std::size_t iterations = 0;
    bool converged = true;
};

template <class T>
smo_solution solve_one_class(kernel_cache<T>& Q, const std::vector<double>& QD, double nu, smo_options opt) {
    constexpr double tau = 1e-12;
    constexpr double inf = std::numeric_limits<double>::infinity();
    const std::size_t l = QD.size();
    smo_solution sol;
    auto& a = sol.alpha;
    a.assign(l, 0.0);
    const double total = nu * double(l);
    const std::size_t nfull = std::min(l, static_cast<std::size_t>(total));
    for (std::size_t i = 0; i < nfull; ++i) a[i] = 1.0;
    if (nfull < l) a[nfull] = total - double(nfull);

    auto upper = [&](std::size_t t) { return a[t] >= 1.0; };
    auto lower = [&](std::size_t t) { return a[t] <= 0.0; };

    // G = Q a over the nonzero a_i: their rows are fetched in batches (one GEMM each).
    std::vector<double> G(l, 0.0), G_bar(l, 0.0);
    std::vector<std::size_t> nonzero;
    for (std::size_t i = 0; i < l; ++i)
        if (!lower(i)) nonzero.push_back(i);
    const std::size_t batch = std::min<std::size_t>(64, Q.capacity_rows());
    for (std::size_t b = 0; b < nonzero.size(); b += batch) {
        const std::size_t cnt = std::min(batch, nonzero.size() - b);
        Q.prefetch(nonzero.data() + b, cnt);
        for (std::size_t k = b; k < b + cnt; ++k) {
            const std::size_t i = nonzero[k];
            const T* Qi = Q.row(i);
            for (std::size_t t = 0; t < l; ++t) G[t] += a[i] * double(Qi[t]);
            if (upper(i))
                for (std::size_t t = 0; t < l; ++t) G_bar[t] += double(Qi[t]);
        }
    }

    std::vector<std::size_t> active(l);
    for (std::size_t t = 0; t < l; ++t) active[t] = t;
    std::vector<char> is_active(l, 1);
    bool unshrunk = false;

    auto reconstruct_gradient = [&] {
        if (active.size() == l) return;
        for (std::size_t t = 0; t < l; ++t)
            if (!is_active[t]) G[t] = G_bar[t];
        for (std::size_t j = 0; j < l; ++j) {
            if (upper(j) || lower(j)) continue;  // only free variables; they are all active
            const T* Qj = Q.row(j);
            for (std::size_t t = 0; t < l; ++t)
                if (!is_active[t]) G[t] += a[j] * double(Qj[t]);
        }
        active.resize(l);
        for (std::size_t t = 0; t < l; ++t) active[t] = t, is_active[t] = 1;
    };

    // Returns false when the active problem is optimal within eps.
    auto select_working_set = [&](std::size_t& out_i, std::size_t& out_j) {
        double Gmax = -inf;
        std::size_t imax = l;
        for (std::size_t t : active)
            if (!upper(t) && -G[t] >= Gmax) Gmax = -G[t], imax = t;
        if (imax == l) return false;
        const T* Qi = Q.row(imax);
        double Gmax2 = -inf, obj_min = inf;
        std::size_t jmin = l;
        for (std::size_t t : active) {
            if (lower(t)) continue;
            const double grad_diff = Gmax + G[t];
            if (G[t] >= Gmax2) Gmax2 = G[t];
            if (grad_diff > 0) {
                const double quad = QD[imax] + QD[t] - 2.0 * double(Qi[t]);
                const double obj = -(grad_diff * grad_diff) / (quad > 0 ? quad : tau);
                if (obj <= obj_min) obj_min = obj, jmin = t;
            }
        }
        if (Gmax + Gmax2 < opt.eps || jmin == l) return false;
        out_i = imax;
        out_j = jmin;
        return true;
    };

    auto do_shrinking = [&] {
        double Gmax1 = -inf, Gmax2 = -inf;  // max over I_up of -G, max over I_low of G
        for (std::size_t t : active) {
            if (!upper(t)) Gmax1 = std::max(Gmax1, -G[t]);
            if (!lower(t)) Gmax2 = std::max(Gmax2, G[t]);
        }
        if (!unshrunk && Gmax1 + Gmax2 <= opt.eps * 10) {
            unshrunk = true;
            reconstruct_gradient();
        }
        std::size_t k = 0;
        for (std::size_t t : active) {
            const bool shrink = upper(t) ? (-G[t] > Gmax1) : lower(t) ? (G[t] > Gmax2) : false;
            if (shrink) is_active[t] = 0; else active[k++] = t;
        }
        active.resize(k);
    };

    const std::size_t max_iter = opt.max_iter ? opt.max_iter : std::max<std::size_t>(10'000'000, 100 * l);
    std::size_t iter = 0, counter = std::min<std::size_t>(l, 1000) + 1;
    while (iter < max_iter) {
        if (--counter == 0) {
            counter = std::min<std::size_t>(l, 1000);
            if (opt.shrinking) do_shrinking();
        }
        std::size_t i = 0, j = 0;
        if (!select_working_set(i, j)) {
            reconstruct_gradient();  // optimal on the active set: check on all variables
            if (!select_working_set(i, j)) break;
            counter = 1;  // shrink again at the next iteration
        }
        ++iter;

        const T* Qi = Q.row(i);
        const T* Qj = Q.row(j);  // the cache keeps Qi valid (capacity >= 2)
        const double ai_old = a[i], aj_old = a[j];
        const bool ui = upper(i), uj = upper(j);
        double quad = QD[i] + QD[j] - 2.0 * double(Qi[j]);
        if (quad <= 0) quad = tau;
        const double delta = (G[i] - G[j]) / quad;
        const double sum = ai_old + aj_old;
        double ai = ai_old - delta, aj = aj_old + delta;
        if (sum > 1.0) {
            if (ai > 1.0) ai = 1.0, aj = sum - 1.0;
        } else if (aj < 0.0) {
            aj = 0.0, ai = sum;
        }
        if (sum > 1.0) {
            if (aj > 1.0) aj = 1.0, ai = sum - 1.0;
        } else if (ai < 0.0) {
            ai = 0.0, aj = sum;
        }
        a[i] = ai;
        a[j] = aj;
        const double dai = ai - ai_old, daj = aj - aj_old;
        for (std::size_t t : active) G[t] += double(Qi[t]) * dai + double(Qj[t]) * daj;
        if (ui != upper(i)) {
            const double s = ui ? -1.0 : 1.0;
            for (std::size_t t = 0; t < l; ++t) G_bar[t] += s * double(Qi[t]);
        }
        if (uj != upper(j)) {
            const double s = uj ? -1.0 : 1.0;
            for (std::size_t t = 0; t < l; ++t) G_bar[t] += s * double(Qj[t]);
        }
    }
    sol.converged = iter < max_iter;
    sol.iterations = iter;
    reconstruct_gradient();

    double ub = inf, lb = -inf, sum_free = 0, obj = 0;
    std::size_t nfree = 0;
    for (std::size_t t = 0; t < l; ++t) {
        if (upper(t)) lb = std::max(lb, G[t]);
        else if (lower(t)) ub = std::min(ub, G[t]);
        else ++nfree, sum_free += G[t];
        obj += a[t] * G[t];
    }
    sol.rho = nfree > 0 ? sum_free / double(nfree) : (ub + lb) / 2;
    sol.objective = obj / 2;
    return sol;
}

}  // namespace oneclass::detail
