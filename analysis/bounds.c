/* bounds.c - right-hand sides of the bounds D1, D1∞, D2, D3 and of their per-step inequalities
 * (docs/theory.md, where each is stated and proved; §8 there for the code form).
 *
 * IEEE arithmetic gives INFINITY·0 = NaN, and η = ∞ is a legal value (ALI-G∞), so every term
 * that multiplies ε or divides by η is guarded explicitly: with ε = 0 the ε terms are 0 whatever
 * η is. T is a double so that the functions can be plotted over a continuous T. */
#include <math.h>
#include <stddef.h>

#include "alig/analysis.h"

static int finite_nonneg(double x) { return isfinite(x) && x >= 0.0; }

const char *alig_bound_name(alig_bound_kind kind)
{
    switch (kind) {
    case ALIG_BOUND_D1: return "D1";
    case ALIG_BOUND_D1INF: return "D1inf";
    case ALIG_BOUND_D2: return "D2";
    case ALIG_BOUND_D3: return "D3";
    default: return "?";
    }
}

alig_status alig_bound_applies(alig_bound_kind kind, const alig_bound_consts *k)
{
    if (!k) return ALIG_EINVAL;
    if (!finite_nonneg(k->D0) || !finite_nonneg(k->eps) || !finite_nonneg(k->delta) || !(k->eta > 0.0))
        return ALIG_EINVAL;
    const int eta_inf = isinf(k->eta), eps_pos = k->eps > 0.0;
    switch (kind) {
    case ALIG_BOUND_D1:
        if (!finite_nonneg(k->C)) return ALIG_EINVAL;
        return (eps_pos && eta_inf) ? ALIG_EUNSUPPORTED : ALIG_SUCCESS;
    case ALIG_BOUND_D1INF:
        if (!finite_nonneg(k->C)) return ALIG_EINVAL;
        return (eta_inf && k->delta > 0.0) ? ALIG_SUCCESS : ALIG_EUNSUPPORTED;
    case ALIG_BOUND_D2:
        if (!(isfinite(k->beta) && k->beta > 0.0)) return ALIG_EINVAL;
        return (eps_pos && eta_inf) ? ALIG_EUNSUPPORTED : ALIG_SUCCESS;
    case ALIG_BOUND_D3:
        if (!(isfinite(k->beta) && k->beta > 0.0)) return ALIG_EINVAL;
        if (!isfinite(k->alpha) || k->alpha < 0.0 || k->alpha > k->beta) return ALIG_EINVAL;
        if (k->alpha == 0.0) return ALIG_EUNSUPPORTED;
        return (eps_pos && eta_inf) ? ALIG_EUNSUPPORTED : ALIG_SUCCESS;
    default:
        return ALIG_EINVAL;
    }
}

double alig_bound_phi(const alig_bound_consts *k, double x)
{
    const double a = k->C * k->C + k->delta;
    if (a == 0.0) return isinf(k->eta) ? (x > 0.0 ? INFINITY : 0.0) : k->eta * x;
    if (isinf(k->eta) || x <= k->eta * a / 2.0) return x * x / a;
    return k->eta * x - k->eta * k->eta * a / 4.0;
}

/* R = D0/(T+1) + 2ηε: the averaged per-step budget of D1. */
static double d1_R(const alig_bound_consts *k, double T)
{
    double R = k->D0 / (T + 1.0);
    if (k->eps > 0.0) R += 2.0 * k->eta * k->eps;     /* INFINITY when η = ∞: vacuous */
    return R;
}

/* φ⁻¹(R): φ is increasing on [0, ∞), quadratic up to x = ηa/2 where it equals η²a/4. */
static double phi_inv(const alig_bound_consts *k, double R)
{
    const double a = k->C * k->C + k->delta;
    if (isinf(R)) return INFINITY;
    if (isinf(k->eta) || R <= k->eta * k->eta * a / 4.0) return sqrt(a * R);
    return R / k->eta + k->eta * a / 4.0;
}

double alig_bound_d1(const alig_bound_consts *k, double T)
{
    return phi_inv(k, d1_R(k, T));
}

double alig_bound_d1_simple(const alig_bound_consts *k, double T)
{
    const double a = k->C * k->C + k->delta, R = d1_R(k, T);
    if (isinf(R)) return INFINITY;
    return sqrt(a * R) + (isinf(k->eta) ? 0.0 : R / k->eta);
}

double alig_bound_d1inf(const alig_bound_consts *k, double T)
{
    if (!isinf(k->eta) || !(k->delta > 0.0)) return NAN;
    const double a = k->C * k->C + k->delta;
    return sqrt(a * (k->D0 / (T + 1.0) + k->eps * k->eps / k->delta));
}

double alig_bound_gamma_min(const alig_bound_consts *k)
{
    if (!(k->beta > 0.0)) return NAN;
    return fmin(k->eta, k->delta > 0.0 ? 1.0 / (4.0 * k->beta) : 1.0 / (2.0 * k->beta));
}

/* The constant part of D2: (2η/γ_min − 1)ε + [δ>0]δ/(2β). */
static double d2_floor(const alig_bound_consts *k, double gmin)
{
    double f = 0.0;
    if (k->eps > 0.0) f += (2.0 * k->eta / gmin - 1.0) * k->eps;
    if (k->delta > 0.0) f += k->delta / (2.0 * k->beta);
    return f;
}

double alig_bound_d2(const alig_bound_consts *k, double T)
{
    const double gmin = alig_bound_gamma_min(k);
    return k->D0 / (gmin * (T + 1.0)) + d2_floor(k, gmin);
}

double alig_bound_d3_q(const alig_bound_consts *k)
{
    return 1.0 - k->alpha * alig_bound_gamma_min(k) / 2.0;
}

/* c = (2η − γ_min)ε + [δ>0]γ_min δ/(2β): the additive term of the D3 recursion E D_{t+1} <= qE D_t + c. */
static double d3_c(const alig_bound_consts *k, double gmin)
{
    double c = 0.0;
    if (k->eps > 0.0) c += (2.0 * k->eta - gmin) * k->eps;
    if (k->delta > 0.0) c += gmin * k->delta / (2.0 * k->beta);
    return c;
}

double alig_bound_d3(const alig_bound_consts *k, double T)
{
    const double gmin = alig_bound_gamma_min(k);
    const double h = k->alpha * gmin / 2.0;          /* 1 − q, in (0, 1/4] */
    const double lq = log1p(-h);                      /* log q, accurate for small h */
    const double qT = exp(T * lq);
    /* 1 − q^T = −expm1(T log q): no cancellation when q^T is close to 1. */
    return qT * k->D0 + d3_c(k, gmin) * (-expm1(T * lq)) / h;
}

double alig_bound_eval(alig_bound_kind kind, const alig_bound_consts *k, double T)
{
    if (!k || alig_bound_applies(kind, k) != ALIG_SUCCESS || !(T >= 0.0)) return NAN;
    switch (kind) {
    case ALIG_BOUND_D1: return alig_bound_d1(k, T);
    case ALIG_BOUND_D1INF: return alig_bound_d1inf(k, T);
    case ALIG_BOUND_D2: return alig_bound_d2(k, T);
    case ALIG_BOUND_D3: return alig_bound_d3(k, T);
    default: return NAN;
    }
}

double alig_bound_floor(alig_bound_kind kind, const alig_bound_consts *k)
{
    if (!k || alig_bound_applies(kind, k) != ALIG_SUCCESS) return NAN;
    const double a = k->C * k->C + k->delta;
    switch (kind) {
    case ALIG_BOUND_D1: return k->eps > 0.0 ? phi_inv(k, 2.0 * k->eta * k->eps) : 0.0;
    case ALIG_BOUND_D1INF: return sqrt(a * k->eps * k->eps / k->delta);
    case ALIG_BOUND_D2: return d2_floor(k, alig_bound_gamma_min(k));
    case ALIG_BOUND_D3: {
        const double gmin = alig_bound_gamma_min(k);
        return 2.0 * d3_c(k, gmin) / (k->alpha * gmin);
    }
    default: return NAN;
    }
}

double alig_bound_rate(alig_bound_kind kind, const alig_bound_consts *k)
{
    if (!k || alig_bound_applies(kind, k) != ALIG_SUCCESS) return NAN;
    switch (kind) {
    case ALIG_BOUND_D1:
    case ALIG_BOUND_D1INF: return -0.5;
    case ALIG_BOUND_D2: return -1.0;
    case ALIG_BOUND_D3: return log1p(-k->alpha * alig_bound_gamma_min(k) / 2.0);
    default: return NAN;
    }
}

/* ------------------------------------------------------------------ per-step inequalities */

double alig_step_rhs(alig_step_ineq which, const alig_bound_consts *k, const alig_step_obs *o)
{
    if (!k || !o) return NAN;
    const int eta_inf = isinf(k->eta) != 0, eps_pos = k->eps > 0.0;
    switch (which) {
    case ALIG_STEP_LEMMA1:
        return o->D_prev - o->step * o->loss + 2.0 * o->step * o->loss_star;
    case ALIG_STEP_D1:
        if (!isfinite(k->C) || (eps_pos && eta_inf)) return NAN;
        return o->D_prev - alig_bound_phi(k, o->loss) + (eps_pos ? 2.0 * k->eta * k->eps : 0.0);
    case ALIG_STEP_D1INF: {
        if (!eta_inf || !(k->delta > 0.0) || !isfinite(k->C)) return NAN;
        const double a = k->C * k->C + k->delta, r = o->loss - o->loss_star;
        return o->D_prev - r * r / a + o->loss_star * o->loss_star / k->delta;
    }
    case ALIG_STEP_D2: {
        if (!(k->beta > 0.0) || !isfinite(k->beta) || (eps_pos && eta_inf)) return NAN;
        const double gmin = alig_bound_gamma_min(k);
        double rhs = o->D_prev - gmin * (o->loss - 2.0 * o->loss_star);
        if (eps_pos) rhs += 2.0 * (k->eta - gmin) * k->eps;
        if (k->delta > 0.0) rhs += gmin * k->delta / (2.0 * k->beta);
        return rhs;
    }
    default:
        return NAN;
    }
}

unsigned alig_step_check(unsigned mask, const alig_bound_consts *k, const alig_step_obs *o, double rel_slack)
{
    unsigned failed = 0;
    if (!k || !o) return mask;
    static const alig_step_ineq all[] = { ALIG_STEP_LEMMA1, ALIG_STEP_D1, ALIG_STEP_D1INF, ALIG_STEP_D2 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!(mask & (unsigned)all[i])) continue;
        const double rhs = alig_step_rhs(all[i], k, o);
        if (isnan(rhs)) continue;
        const double scale = 1.0 + fabs(o->D_prev) + fabs(o->step * o->loss) + 2.0 * fabs(o->step * o->loss_star)
                             + fabs(rhs - o->D_prev);
        if (!(o->D_next <= rhs + rel_slack * scale)) failed |= (unsigned)all[i];
    }
    return failed;
}
