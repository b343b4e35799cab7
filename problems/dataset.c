/* dataset.c - a data set turned into a problem, with w⋆ and a bracket [f_star_lower, f_star] on
 * min f computed numerically (docs/problems.md §5).
 *
 *   squared   w⋆ = minimum-norm least-squares solution (LAPACKE_dgelsd): exact up to rounding.
 *   logistic  GSL BFGS2 from 0 to ‖∇f‖ ≤ 1e-10, then Newton steps (Cholesky) while they reduce
 *             ‖∇f‖. Separable data (no minimiser) are detected and refused.
 *   absolute, hinge
 *             regularised Newton with an exact line search on the Huber-smoothed loss, smoothing
 *             κ = 1, 1e-1, ..., 1e-7 with a predictor between stages; then "crossover" steps that
 *             put the samples on their kink at the solution exactly on it (minimum-norm
 *             correction); f_star = the smallest true loss among the candidates. (BFGS2 was tried
 *             first and stalls on these piecewise-quadratic objectives once κ is small.)
 * Lower bounds come from Lagrange duality, not from the smoothing: for absolute, hinge and
 * logistic a dual vector a is built from the smoothed solution, corrected to satisfy the dual
 * constraints exactly (up to rounding), and its dual value is a certified lower bound:
 *   absolute  f(w) ≥ −(1/n)Σ a_i y_i          for a ∈ [−1,1]^n, Xᵀa = 0
 *   hinge     f(w) ≥ (1/n)Σ a_i               for a ∈ [0,1]^n,  Xᵀ(y∘a) = 0
 *   logistic  f(w) ≥ (1/n)Σ H(a_i)            for a ∈ [0,1]^n,  Xᵀ(y∘a) = 0, H binary entropy
 * If no feasible a is found, f_star_lower falls back to 0 (every loss is ≥ 0). The rounding
 * residual of the constraint is accounted for (ds_lower_bound).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cblas.h>   /* prototypes only: the symbols come from OpenBLAS */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <lapacke.h>

#include "private.h"

/* ---------------------------------------------------------------- smoothed objective */

typedef struct ds_ctx {
    const alig_pr_linear *L;
    double kappa;           /* Huber width (absolute, hinge); unused for logistic / squared */
    double *u;              /* n scratch: Xw, then dφ/du */
} ds_ctx;

/* h_κ(t) = t²/(2κ) for |t| ≤ κ, |t| − κ/2 beyond; returns h and sets *dh = h'(t). */
static double huber(double t, double kappa, double *dh)
{
    double a = fabs(t);
    if (a <= kappa) { *dh = t / kappa; return 0.5 * t * t / kappa; }
    *dh = t > 0 ? 1.0 : -1.0;
    return a - 0.5 * kappa;
}

/* φ(u_i) for sample i at u = x_iᵀw and dφ/du; the smoothed loss when kappa > 0. */
static double ds_phi(const alig_pr_linear *L, size_t i, double u, double kappa, double *dphi)
{
    const double y = L->y[i];
    switch (L->kind) {
    case ALIG_LOSS_SQUARED: {
        double r = u - y;
        *dphi = r;
        return 0.5 * r * r;
    }
    case ALIG_LOSS_ABSOLUTE: {
        double r = u - y, dh;
        if (kappa > 0) { double h = huber(r, kappa, &dh); *dphi = dh; return h; }
        *dphi = (double)((r > 0) - (r < 0));
        return fabs(r);
    }
    case ALIG_LOSS_HINGE: {
        double v = 1.0 - y * u, dh;
        if (v <= 0) { *dphi = 0.0; return 0.0; }
        if (kappa > 0) { double h = huber(v, kappa, &dh); *dphi = -y * dh; return h; }
        *dphi = -y;
        return v;
    }
    case ALIG_LOSS_LOGISTIC:
    default: {
        double z = y * u, e = exp(-fabs(z));
        double sig = z >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);    /* σ(−z) */
        *dphi = -y * sig;
        return fmax(-z, 0.0) + log1p(e);
    }
    }
}

/* u = Xw and g = scale·Xᵀa by plain loops: these run hundreds of times on modest sizes, where the
 * fork/join of a threaded BLAS costs more than the arithmetic (and loops keep results independent
 * of the thread count). */
static void ds_xw(const alig_pr_linear *L, const double *w, double *u)
{
    for (size_t i = 0; i < L->n; i++) u[i] = alig_pr_dot(L->x + i * L->d, w, L->d);
}

static void ds_xta(const alig_pr_linear *L, const double *a, double scale, double *g)
{
    const size_t d = L->d;
    memset(g, 0, d * sizeof *g);
    for (size_t i = 0; i < L->n; i++) {
        const double ai = scale * a[i];
        if (ai == 0.0) continue;
        const double *x = L->x + i * d;
        for (size_t k = 0; k < d; k++) g[k] += ai * x[k];
    }
}

/* f (smoothed when kappa > 0) and its gradient. */
static double ds_eval(ds_ctx *c, const double *w, double *g)
{
    const alig_pr_linear *L = c->L;
    ds_xw(L, w, c->u);
    double f = 0.0;
    for (size_t i = 0; i < L->n; i++) {
        double dphi;
        f += ds_phi(L, i, c->u[i], c->kappa, &dphi);
        c->u[i] = dphi;
    }
    if (g) ds_xta(L, c->u, 1.0 / (double)L->n, g);
    return f / (double)L->n;
}

static double gs_f(const gsl_vector *x, void *params) { return ds_eval(params, x->data, NULL); }
static void gs_df(const gsl_vector *x, void *params, gsl_vector *g) { ds_eval(params, x->data, g->data); }
static void gs_fdf(const gsl_vector *x, void *params, double *f, gsl_vector *g)
{
    *f = ds_eval(params, x->data, g->data);
}

/* 1 if y_i x_iᵀw > 0 for every i: w separates the data strictly, so inf f = 0 is not attained by
 * the logistic loss (f(tw) → 0 as t → ∞ while f > 0 everywhere). */
static int ds_separates(const alig_pr_linear *L, const double *w)
{
    for (size_t i = 0; i < L->n; i++)
        if (!(L->y[i] * alig_pr_dot(L->x + i * L->d, w, L->d) > 0)) return 0;
    return 1;
}

/* BFGS2 from w (in place) until ‖∇f‖ ≤ gtol, no progress, or maxit iterations. */
static alig_status ds_bfgs(ds_ctx *c, double *w, double gtol, size_t maxit)
{
    const size_t d = c->L->d;
    gsl_multimin_function_fdf fn = { .f = gs_f, .df = gs_df, .fdf = gs_fdf, .n = d, .params = c };
    gsl_vector *x = gsl_vector_alloc(d);
    gsl_multimin_fdfminimizer *s = gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, d);
    alig_status rc = ALIG_SUCCESS;
    if (!x || !s) { rc = ALIG_ENOMEM; goto done; }
    memcpy(x->data, w, d * sizeof *w);
    const double wn = alig_pr_nrm2(w, d);
    if (gsl_multimin_fdfminimizer_set(s, &fn, x, 0.1 * (wn > 1 ? wn : 1), 0.1) != GSL_SUCCESS) {
        rc = ALIG_ENOPROG;
        goto done;
    }
    for (size_t it = 0; it < maxit; it++) {
        if (gsl_multimin_test_gradient(s->gradient, gtol) == GSL_SUCCESS) break;
        if (gsl_multimin_fdfminimizer_iterate(s) != GSL_SUCCESS) break;    /* GSL_ENOPROG: at rounding level */
        if (c->L->kind == ALIG_LOSS_LOGISTIC && it % 50 == 49 && ds_separates(c->L, s->x->data)) break;
    }
    if (!isfinite(s->f)) { rc = ALIG_ENONFINITE; goto done; }
    memcpy(w, s->x->data, d * sizeof *w);
done:
    gsl_multimin_fdfminimizer_free(s);
    gsl_vector_free(x);
    return rc;
}

/* Newton polish for the logistic loss: H = (1/n) Xᵀ diag(σ(1−σ)) X, minimum-norm steps with
 * backtracking. Skipped for large d (dense d × d Hessian). */
static void ds_newton_logistic(ds_ctx *c, double *w)
{
    const alig_pr_linear *L = c->L;
    const size_t n = L->n, d = L->d;
    if (d > 2000) return;
    double *g = malloc(d * sizeof *g), *h = malloc(d * d * sizeof *h), *xs = malloc(n * d * sizeof *xs);
    double *wt = malloc(d * sizeof *wt), *gt = malloc(d * sizeof *gt), *dw = malloc(d * sizeof *dw);
    if (!g || !h || !xs || !wt || !gt || !dw) goto done;
    double f = ds_eval(c, w, g), gn = alig_pr_nrm2(g, d);
    for (int it = 0; it < 30 && gn > 0; it++) {
        /* rows scaled by √(σ(1−σ)): H = (1/n) X̃ᵀX̃ */
        for (size_t i = 0; i < n; i++) {
            double z = L->y[i] * alig_pr_dot(L->x + i * d, w, d), e = exp(-fabs(z));
            double sw = sqrt(e) / (1.0 + e);                  /* √(σ(z)σ(−z)) */
            for (size_t k = 0; k < d; k++) xs[i * d + k] = sw * L->x[i * d + k];
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0 / (double)n, xs, (int)d, 0.0, h,
                    (int)d);
        /* minimum-norm solution of H Δ = −g: X may be rank-deficient (then H is singular, but g
         * lies in the row space of X and so does the Newton step) */
        for (size_t k = 0; k < d; k++) {
            gt[k] = -g[k];
            for (size_t l = 0; l < k; l++) h[k * d + l] = h[l * d + k];
        }
        if (alig_pr_lstsq(h, d, d, gt, dw, (double)d * DBL_EPSILON)) break;
        /* backtracking: accept a decrease of f, or of ‖∇f‖ where f is flat to rounding */
        int accepted = 0;
        for (double t = 1.0; t > 1e-12 && !accepted; t *= 0.5) {
            for (size_t k = 0; k < d; k++) wt[k] = w[k] + t * dw[k];
            const double ft = ds_eval(c, wt, gt), gnt = alig_pr_nrm2(gt, d);
            if (ft < f || (ft <= f + 1e-14 * fabs(f) && gnt < gn)) {
                memcpy(w, wt, d * sizeof *w);
                memcpy(g, gt, d * sizeof *g);
                f = ft;
                gn = gnt;
                accepted = 1;
            }
        }
        if (!accepted) break;
    }
done:
    free(g); free(h); free(xs); free(wt); free(gt); free(dw);
}

/* ---------------------------------------------------------------- Huber Newton (absolute, hinge) */

/* Exact line search: t > 0 minimising f_κ(w + tΔ), a convex piecewise-quadratic function of t.
 * Its derivative q(t) = (1/n) Σ φ'(u_i + t s_i) s_i (s = XΔ) is non-decreasing and piecewise
 * linear; the root is bracketed by doubling, narrowed by bisection, and finished by the secant
 * through the final bracket (exact when both ends lie on the same linear piece). */
/* q(t) = d/dt f_κ(w + tΔ) · n = Σ φ'(u_i + t s_i) s_i */
static double ds_slope(const alig_pr_linear *L, const double *u, const double *s, double kappa, double t)
{
    double acc = 0.0, dphi;
    for (size_t i = 0; i < L->n; i++) {
        ds_phi(L, i, u[i] + t * s[i], kappa, &dphi);
        acc += dphi * s[i];
    }
    return acc;
}

static double ds_line_search(const alig_pr_linear *L, const double *u, const double *s, double kappa)
{
    double qscale = 0.0;            /* |q| ≤ Σ|s_i| since |φ'| ≤ 1 */
    for (size_t i = 0; i < L->n; i++) qscale += fabs(s[i]);
    double lo = 0.0, hi = 1.0;
    double qlo = ds_slope(L, u, s, kappa, lo);
    if (!(qlo < 0)) return 0.0;
    double qhi = ds_slope(L, u, s, kappa, hi);
    for (int k = 0; k < 80 && qhi < 0; k++) {
        lo = hi;
        qlo = qhi;
        hi *= 2.0;
        qhi = ds_slope(L, u, s, kappa, hi);
    }
    if (qhi < 0) return hi;         /* unbounded below along Δ: cannot happen for these losses */
    /* Illinois (modified regula falsi): exact as soon as both ends lie on one linear piece */
    int side = 0;
    double t = hi;
    for (int k = 0; k < 100 && hi - lo > 1e-15 * hi; k++) {
        t = lo - qlo * (hi - lo) / (qhi - qlo);
        if (!(t > lo && t < hi)) t = 0.5 * (lo + hi);
        const double qt = ds_slope(L, u, s, kappa, t);
        if (fabs(qt) <= 1e-15 * qscale) break;
        if (qt < 0) {
            lo = t;
            qlo = qt;
            if (side == -1) qhi *= 0.5;
            side = -1;
        } else {
            hi = t;
            qhi = qt;
            if (side == 1) qlo *= 0.5;
            side = 1;
        }
        t = qhi > qlo ? lo - qlo * (hi - lo) / (qhi - qlo) : hi;
    }
    return fmin(fmax(t, lo), hi);
}

/* Regularised Newton on the smoothed loss f_κ (absolute or hinge), from w in place:
 *   (H + μI) Δ = −∇f_κ,  H = (1/(nκ)) Σ_{i in the quadratic zone} x_i x_iᵀ,  μ = min(‖∇f_κ‖, 1e-2)·tr(H)/d,
 * then the exact line search. f_κ is piecewise quadratic, so once the quadratic zone settles the
 * steps are Newton steps (μ → 0 with the gradient) and convergence is fast and to rounding level
 * (the finite smoothing algorithm of Madsen & Nielsen, SIAM J. Optim. 1993, rests on the same structure). */
static alig_status ds_newton_huber(ds_ctx *c, double *w, double kappa)
{
    const alig_pr_linear *L = c->L;
    const size_t n = L->n, d = L->d;
    alig_status rc = ALIG_SUCCESS;
    double *g = malloc(d * sizeof *g), *h = malloc(d * d * sizeof *h);
    size_t *zone = malloc(n * sizeof *zone);
    double *u = malloc(n * sizeof *u), *s = malloc(n * sizeof *s), *delta = malloc(d * sizeof *delta);
    if (!g || !h || !zone || !u || !s || !delta) { rc = ALIG_ENOMEM; goto done; }
    const double xmax = alig_pr_max_row_norm(L);
    c->kappa = kappa;
    double f = ds_eval(c, w, g);
    ds_xw(L, w, u);                 /* u = Xw, updated as u += t·XΔ (refreshed every 8 steps) */
    for (int it = 0; it < 200; it++) {
        const double gn = alig_pr_nrm2(g, d);
        if (!isfinite(f) || !isfinite(gn)) { rc = ALIG_ENONFINITE; goto done; }
        if (gn <= 1e-15 * (xmax > 1 ? xmax : 1.0)) break;
        /* quadratic zone and H = (1/(nκ)) Σ x_i x_iᵀ over it (upper triangle; small once κ is) */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            double t = L->kind == ALIG_LOSS_ABSOLUTE ? fabs(u[i] - L->y[i]) : 1.0 - L->y[i] * u[i];
            if ((L->kind == ALIG_LOSS_ABSOLUTE || t > 0) && t < kappa) zone[m++] = i;
        }
        double tr = 0.0;
        memset(h, 0, d * d * sizeof *h);
        for (size_t j = 0; j < m; j++) {
            const double *x = L->x + zone[j] * d;
            for (size_t k = 0; k < d; k++) {
                const double xk = x[k] / ((double)n * kappa);
                if (xk == 0.0) continue;
                for (size_t l = k; l < d; l++) h[k * d + l] += xk * x[l];
            }
        }
        for (size_t k = 0; k < d; k++) tr += h[k * d + k];
        for (size_t k = 0; k < d; k++) delta[k] = -g[k];
        if (tr > 0) {
            const double mu = fmin(gn, 1e-2) * tr / (double)d;
            for (size_t k = 0; k < d; k++) h[k * d + k] += mu;
            if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)d, 1, h, (lapack_int)d, delta, 1) != 0)
                for (size_t k = 0; k < d; k++) delta[k] = -g[k];
        }
        ds_xw(L, delta, s);
        const double t = ds_line_search(L, u, s, kappa);
        if (!(t > 0)) break;
        for (size_t k = 0; k < d; k++) w[k] += t * delta[k];
        /* accept a decrease of f or, at the rounding level of f (curvature up to 1/κ makes
         * Δf ≈ κ‖g‖² invisible long before ‖g‖ is small), a decrease of ‖∇f_κ‖ */
        const double fn = ds_eval(c, w, g), gnn = alig_pr_nrm2(g, d);
        if (!(fn < f || (fn <= f + 1e-14 * fabs(f) && gnn < gn))) {
            for (size_t k = 0; k < d; k++) w[k] -= t * delta[k];
            f = ds_eval(c, w, g);
            break;
        }
        f = fn;
        if (it % 8 == 7) ds_xw(L, w, u);
        else for (size_t i = 0; i < n; i++) u[i] += t * s[i];
    }
done:
    free(g); free(h); free(zone); free(u); free(s); free(delta);
    return rc;
}

/* ---------------------------------------------------------------- crossover (absolute, hinge) */

/* The kink arguments t_i (absolute: x_iᵀw − y_i; hinge: 1 − y_i x_iᵀw) of the samples flagged in
 * on_kink are scaled by rho by the minimum-norm correction Δ; the result w + Δ goes to wc.
 * rho = 0 puts them exactly on their kink (crossover); rho = κ'/κ keeps their Huber derivatives
 * t_i/κ, hence the gradient, unchanged when κ becomes κ' (predictor between smoothing stages).
 * Returns 0 if no sample is flagged. */
static int ds_crossover(const alig_pr_linear *L, const double *w, const unsigned char *on_kink, double rho,
                        double *wc)
{
    const size_t n = L->n, d = L->d;
    size_t m = 0;
    double *a = malloc(n * d * sizeof *a), *t = malloc(n * sizeof *t), *delta = malloc(d * sizeof *delta);
    int ok = 0;
    if (!a || !t || !delta) goto done;
    for (size_t i = 0; i < n; i++) {
        if (!on_kink[i]) continue;
        const double u = alig_pr_dot(L->x + i * d, w, d);
        memcpy(a + m * d, L->x + i * d, d * sizeof *a);
        t[m++] = (1.0 - rho) * (L->kind == ALIG_LOSS_ABSOLUTE ? L->y[i] - u : L->y[i] * (1.0 - L->y[i] * u));
    }
    if (m == 0) goto done;
    if (alig_pr_lstsq(a, m, d, t, delta, (double)(m > d ? m : d) * DBL_EPSILON)) goto done;
    for (size_t k = 0; k < d; k++) wc[k] = w[k] + delta[k];
    ok = 1;
done:
    free(a); free(t); free(delta);
    return ok;
}

/* ---------------------------------------------------------------- dual certificates */

/* r = Xᵀ(σ∘a) (σ = y when signed, else 1). */
static void ds_xt(const alig_pr_linear *L, int signed_, const double *a, double *tmp, double *r)
{
    for (size_t i = 0; i < L->n; i++) tmp[i] = signed_ ? L->y[i] * a[i] : a[i];
    ds_xta(L, tmp, 1.0, r);
}

/* From a0 ∈ [lo,hi]^n, find a ∈ [lo,hi]^n with Xᵀ(σ∘a) = 0 by minimum-norm corrections on the
 * coordinates strictly inside the box; coordinates a correction would push out are clipped and
 * frozen, and the rest re-solved. Rounds continue while they shrink the residual (down to its
 * rounding floor). Returns 1 with a written and *res = ‖Xᵀ(σ∘a)‖ when the residual is at most
 * 1e-13 Σ‖x_i‖. */
static int ds_dual_fix(const alig_pr_linear *L, int signed_, double lo, double hi, const double *a0, double *a,
                       double *res)
{
    const size_t n = L->n, d = L->d;
    double *r = malloc(d * sizeof *r), *tmp = malloc(n * sizeof *tmp), *mt = malloc(d * n * sizeof *mt);
    double *delta = malloc(n * sizeof *delta), *cur = malloc(n * sizeof *cur);
    size_t *fr = malloc(n * sizeof *fr);
    unsigned char *frozen = calloc(n, 1);
    int ok = 0;
    if (!r || !tmp || !mt || !delta || !cur || !fr || !frozen) goto done;
    memcpy(cur, a0, n * sizeof *cur);
    double scale = 0.0;                 /* Σ max|a_i| ‖x_i‖: the size of the terms that must cancel */
    for (size_t i = 0; i < n; i++) scale += fmax(fabs(lo), fabs(hi)) * alig_pr_nrm2(L->x + i * d, d);
    double best = INFINITY;
    for (int round = 0; round < 12; round++) {
        ds_xt(L, signed_, cur, tmp, r);
        const double rn = alig_pr_nrm2(r, d);
        if (rn < best) {
            const int stalled = !(rn < 0.5 * best);
            best = rn;
            memcpy(a, cur, n * sizeof *a);
            if (rn == 0.0 || (stalled && rn <= 1e-13 * scale)) break;
        } else if (best <= 1e-13 * scale) {
            break;                      /* at the rounding floor */
        }
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!frozen[i] && cur[i] > lo && cur[i] < hi) fr[m++] = i;
        if (m == 0) break;
        /* Mᵀ δ = −r with M's rows σ_i x_i (i free): a d × m system, minimum-norm solution */
        for (size_t j = 0; j < m; j++) {
            const size_t i = fr[j];
            const double sg = signed_ ? L->y[i] : 1.0;
            for (size_t k = 0; k < d; k++) mt[k * m + j] = sg * L->x[i * d + k];
        }
        for (size_t k = 0; k < d; k++) r[k] = -r[k];
        if (alig_pr_lstsq(mt, d, m, r, delta, -1.0)) break;
        for (size_t j = 0; j < m; j++) {
            const size_t i = fr[j];
            double v = cur[i] + delta[j];
            if (v <= lo || v >= hi) { v = fmin(fmax(v, lo), hi); frozen[i] = 1; }
            cur[i] = v;
        }
    }
    ok = best <= 1e-13 * scale;
    *res = best;
done:
    free(r); free(tmp); free(mt); free(delta); free(cur); free(fr); free(frozen);
    return ok;
}

/* Absolute loss only: project a0 onto {Xᵀa = 0}, then scale into [−1,1]^n (always feasible);
 * *res = ‖Xᵀa‖ (rounding). */
static int ds_dual_project(const alig_pr_linear *L, const double *a0, double *a, double *res)
{
    const size_t n = L->n, d = L->d;
    double *c = malloc(d * sizeof *c), *r = malloc(d * sizeof *r);
    int ok = 0;
    if (!c || !r) goto done;
    if (alig_pr_lstsq(L->x, n, d, a0, c, -1.0) == ALIG_SUCCESS) {
        double amax = 1.0;
        for (size_t i = 0; i < n; i++) {
            a[i] = a0[i] - alig_pr_dot(L->x + i * d, c, d);
            amax = fmax(amax, fabs(a[i]));
        }
        for (size_t i = 0; i < n; i++) a[i] /= amax;
        ds_xta(L, a, 1.0, r);
        *res = alig_pr_nrm2(r, d);
        ok = 1;
    }
done:
    free(c);
    free(r);
    return ok;
}

static double ds_entropy(double a)
{
    if (a <= 0 || a >= 1) return 0.0;
    return -a * log(a) - (1.0 - a) * log1p(-a);
}

/* Certified lower bound on min f from the smoothed solution w (0 if no dual point is found).
 * The feasible dual point is left in a (n entries) and *ok says whether there is one. */
static double ds_lower_bound(ds_ctx *c, const double *w, double *a, int *ok_out)
{
    const alig_pr_linear *L = c->L;
    const size_t n = L->n;
    double *a0 = malloc(n * sizeof *a0);
    double lb = 0.0;
    int ok = 0;
    if (!a0) goto done;
    /* a0 = −dφ_κ/du (absolute: +dφ/du), i.e. the dual variable of each sample at w */
    ds_eval(c, w, NULL);
    double res = 0.0;
    if (L->kind == ALIG_LOSS_ABSOLUTE) {
        for (size_t i = 0; i < n; i++) a0[i] = fmin(fmax(c->u[i], -1.0), 1.0);
        ok = ds_dual_fix(L, 0, -1.0, 1.0, a0, a, &res) || ds_dual_project(L, a0, a, &res);
        if (ok) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++) s -= a[i] * L->y[i];
            lb = s / (double)n;
        }
    } else {
        for (size_t i = 0; i < n; i++) a0[i] = fmin(fmax(-L->y[i] * c->u[i], 0.0), 1.0);
        ok = ds_dual_fix(L, 1, 0.0, 1.0, a0, a, &res);
        if (ok) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++) s += L->kind == ALIG_LOSS_HINGE ? a[i] : ds_entropy(a[i]);
            lb = s / (double)n;
        }
    }
    /* The constraint holds to the rounding residual r = Xᵀ(σ∘a) only, and the Lagrangian bound at a
     * minimiser w⋆ is then off by |rᵀw⋆|/n: allow twice ‖r‖‖w‖/n, w ≈ w⋆ being the computed point. */
    if (ok) lb -= 2.0 * res * fmax(1.0, alig_pr_nrm2(w, L->d)) / (double)n;
done:
    free(a0);
    *ok_out = ok;
    return lb > 0 ? lb : 0.0;
}

static double ds_true_f(ds_ctx *c, const double *w)
{
    const double kappa = c->kappa;
    c->kappa = 0.0;
    double f = ds_eval(c, w, NULL);
    c->kappa = kappa;
    return f;
}

/* t_i, the argument of the kink (absolute: x_iᵀw − y_i; hinge: 1 − y_i x_iᵀw), at w. */
static void ds_kink_args(const alig_pr_linear *L, const double *w, double *t)
{
    for (size_t i = 0; i < L->n; i++) {
        const double u = alig_pr_dot(L->x + i * L->d, w, L->d);
        t[i] = L->kind == ALIG_LOSS_ABSOLUTE ? u - L->y[i] : 1.0 - L->y[i] * u;
    }
}

/* Predictor from the minimiser w of f_κ to a start for f_κ' (κ' < κ): shrink the kink arguments
 * of the samples in the quadratic zone by κ'/κ, which leaves their Huber derivatives and the
 * gradient unchanged as long as no other sample enters the zone (Madsen & Nielsen's continuation).
 * Kept only if it lowers f_κ'. */
static alig_status ds_predict(ds_ctx *c, double *w, double kappa, double kappa_new)
{
    const alig_pr_linear *L = c->L;
    const size_t n = L->n, d = L->d;
    double *t = malloc(n * sizeof *t), *wc = malloc(d * sizeof *wc);
    unsigned char *mask = malloc(n);
    alig_status rc = ALIG_SUCCESS;
    if (!t || !wc || !mask) { rc = ALIG_ENOMEM; goto done; }
    ds_kink_args(L, w, t);
    for (size_t i = 0; i < n; i++)
        mask[i] = (L->kind == ALIG_LOSS_ABSOLUTE || t[i] > 0) && fabs(t[i]) < kappa;
    if (ds_crossover(L, w, mask, kappa_new / kappa, wc)) {
        c->kappa = kappa_new;
        if (ds_eval(c, wc, NULL) < ds_eval(c, w, NULL)) memcpy(w, wc, d * sizeof *w);
    }
done:
    free(t); free(wc); free(mask);
    return rc;
}

/* The dual bound from w_κ, then "crossover" candidates that put a set K of samples exactly on
 * their kink, w becoming the candidate with the smallest true f. K starts as the samples within
 * κ of their kink at w_κ plus, when a dual point a was found, those whose a_i is strictly inside
 * its box (complementary slackness: at an optimal dual point those are on their kink at every
 * minimiser). Samples that then break complementary slackness by a small amount (a_i at its lower
 * bound with t_i > 0, or at its upper bound with t_i < 0: degenerate samples that sit on their kink
 * although their dual variable is at a bound) join K, a few rounds. */
static alig_status ds_polish_polyhedral(ds_ctx *c, double *w, double *lower)
{
    const alig_pr_linear *L = c->L;
    const size_t n = L->n, d = L->d;
    const double kappa = c->kappa, lo = L->kind == ALIG_LOSS_ABSOLUTE ? -1.0 : 0.0;
    double *a = malloc(n * sizeof *a), *wc = malloc(d * sizeof *wc), *wk = malloc(d * sizeof *wk);
    double *t = malloc(n * sizeof *t);
    unsigned char *mask = malloc(n);
    alig_status rc = ALIG_SUCCESS;
    if (!a || !wc || !wk || !t || !mask) { rc = ALIG_ENOMEM; goto done; }
    int ok;
    *lower = ds_lower_bound(c, w, a, &ok);
    memcpy(wk, w, d * sizeof *w);
    double best = ds_true_f(c, w);
    ds_kink_args(L, wk, t);
    for (size_t i = 0; i < n; i++) mask[i] = fabs(t[i]) < kappa || (ok && a[i] > lo && a[i] < 1.0);
    for (int round = 0; round < 6; round++) {
        if (!ds_crossover(L, wk, mask, 0.0, wc)) break;
        const double f = ds_true_f(c, wc);
        if (f < best) { best = f; memcpy(w, wc, d * sizeof *w); }
        if (!ok) break;
        ds_kink_args(L, wc, t);
        size_t added = 0;
        for (size_t i = 0; i < n; i++)
            if (!mask[i] && fabs(t[i]) < 1e3 * kappa && ((a[i] <= lo && t[i] > 0) || (a[i] >= 1.0 && t[i] < 0))) {
                mask[i] = 1;
                added++;
            }
        if (added == 0) break;
    }
done:
    c->kappa = 0.0;
    free(a); free(wc); free(wk); free(t); free(mask);
    return rc;
}

/* ---------------------------------------------------------------- driver */


/* w⋆ (w: d entries, zeroed by the caller) and the dual lower bound of f⋆ (*lower_out) for the
 * data of L, by the method of its loss (file comment). */
static alig_status ds_star(const alig_pr_linear *L, alig_loss_kind loss, double *w, double *lower_out)
{
    const size_t n = L->n, d = L->d;
    alig_status rc = ALIG_SUCCESS;
    ds_ctx c = { .L = L, .kappa = 0.0, .u = malloc(n * sizeof(double)) };
    double *wc = malloc(d * sizeof *wc);
    double lower = 0.0;
    const size_t maxit = 10000;
    if (!c.u || !wc) { rc = ALIG_ENOMEM; goto fail; }
    switch (loss) {
    case ALIG_LOSS_SQUARED:
        rc = alig_pr_lstsq(L->x, n, d, L->y, w, (double)(n > d ? n : d) * DBL_EPSILON);
        if (rc) { alig_pr_error("least squares (dgelsd) failed"); goto fail; }
        break;
    case ALIG_LOSS_LOGISTIC: {
        rc = ds_bfgs(&c, w, 1e-10, maxit);
        if (rc) { alig_pr_error("BFGS2 failed on the logistic loss"); goto fail; }
        if (!ds_separates(L, w)) ds_newton_logistic(&c, w);
        if (ds_separates(L, w)) {
            alig_pr_error("the data are linearly separable: the logistic loss has no minimiser");
            rc = ALIG_ENOPROG;
            goto fail;
        }
        ds_eval(&c, w, wc);
        double gn = alig_pr_nrm2(wc, d);
        if (!(gn <= 1e-6)) {
            alig_pr_error("logistic: gradient norm %.3g after BFGS2 + Newton (no minimiser, or too hard)", gn);
            rc = ALIG_ENOPROG;
            goto fail;
        }
        int ok;
        double *a = malloc(n * sizeof *a);
        if (!a) { rc = ALIG_ENOMEM; goto fail; }
        lower = ds_lower_bound(&c, w, a, &ok);
        free(a);
        break;
    }
    case ALIG_LOSS_ABSOLUTE:
    case ALIG_LOSS_HINGE:
    default: {
        for (double kappa = 1.0; kappa > 0.5e-7; kappa *= 0.1) {
            if (kappa < 1.0) {
                rc = ds_predict(&c, w, 10.0 * kappa, kappa);
                if (rc) goto fail;
            }
            rc = ds_newton_huber(&c, w, kappa);
            if (rc) { alig_pr_error("Newton failed on the smoothed %s loss", alig_loss_names[loss]); goto fail; }
        }
        rc = ds_polish_polyhedral(&c, w, &lower);
        if (rc) goto fail;
        break;
    }
    }

    *lower_out = lower;
fail:
    free(c.u);
    free(wc);
    return rc;
}

alig_status alig_problem_from_dataset(alig_problem **out, const alig_dataset *ds, alig_loss_kind loss,
                                      double radius)
{
    alig_pr_error_clear();
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    if (!ds || !ds->x || !ds->y) return ALIG_EINVAL;
    if ((int)loss < 0 || loss > ALIG_LOSS_LOGISTIC) {
        alig_pr_error("unknown loss kind %d", (int)loss);
        return ALIG_EINVAL;
    }
    if (isnan(radius) || radius < 0) {
        alig_pr_error("radius must be > 0, or 0 / INFINITY for no constraint (got %g)", radius);
        return ALIG_EBADRADIUS;
    }
    if (radius == 0) radius = INFINITY;
    if (ds->n == 0 || ds->dim == 0 || ds->n > (size_t)1 << 30 || ds->dim > (size_t)1 << 30 ||
        ds->n * ds->dim > (size_t)1 << 31) {
        alig_pr_error("data set of %zu x %zu is empty or too large", ds->n, ds->dim);
        return ALIG_EBADLEN;
    }
    if (ds->dim > (size_t)1 << 15) {        /* the solvers below use dense d × d matrices */
        alig_pr_error("%zu features: too many for the dense solvers that compute f_star (at most %zu)", ds->dim,
                      (size_t)1 << 15);
        return ALIG_EUNSUPPORTED;
    }
    const size_t n = ds->n, d = ds->dim;
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(ds->x[i])) { alig_pr_error("data set has a non-finite feature"); return ALIG_ENONFINITE; }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(ds->y[i])) { alig_pr_error("data set has a non-finite label"); return ALIG_ENONFINITE; }

    char name[32];
    snprintf(name, sizeof name, "libsvm:%s", alig_loss_names[loss]);
    alig_problem *p = NULL;
    alig_status rc = alig_pr_linear_new(&p, name, n, d, loss);
    if (rc) return rc;
    gsl_set_error_handler_off();
    alig_pr_linear *L = p->impl;
    memcpy(L->x, ds->x, n * d * sizeof *L->x);
    for (size_t i = 0; i < n; i++)
        L->y[i] = (loss == ALIG_LOSS_HINGE || loss == ALIG_LOSS_LOGISTIC) ? (ds->y[i] > 0 ? 1.0 : -1.0) : ds->y[i];

    /* f⋆ is computed on the columns that are not all zero: a zero column changes no loss, and its
     * weight in the minimum-norm minimiser is 0. A file whose largest index is far beyond its other
     * features (one line "1 4096:1") then costs what its real features cost, not 4096³ per step. */
    double lower = 0.0;
    size_t dr = 0;
    size_t *cols = malloc(d * sizeof *cols);
    if (!cols) { rc = ALIG_ENOMEM; goto fail; }
    for (size_t k = 0; k < d; k++) {
        int nz = 0;
        for (size_t i = 0; i < n && !nz; i++) nz = L->x[i * d + k] != 0.0;
        if (nz) cols[dr++] = k;
    }
    if (dr == 0) cols[dr++] = 0;   /* all-zero data: keep one column so every routine has d >= 1 */
    if (loss != ALIG_LOSS_SQUARED && dr > ALIG_DATASET_MAX_NEWTON_DIM) {
        alig_pr_error("%zu non-zero features: the %s loss's f_star is computed with Newton steps on dense d x d "
                      "systems (work ~ d^3 per step), limited to %d features (ALIG_DATASET_MAX_NEWTON_DIM)", dr,
                      alig_loss_names[loss], ALIG_DATASET_MAX_NEWTON_DIM);
        free(cols);
        rc = ALIG_EUNSUPPORTED;
        goto fail;
    }
    alig_pr_linear Lr = { .n = n, .d = dr, .x = malloc(n * dr * sizeof(double)), .y = L->y, .kind = L->kind };
    double *wr = calloc(dr, sizeof *wr);
    if (!Lr.x || !wr) { free(cols); free(Lr.x); free(wr); rc = ALIG_ENOMEM; goto fail; }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < dr; k++) Lr.x[i * dr + k] = L->x[i * d + cols[k]];
    rc = ds_star(&Lr, loss, wr, &lower);
    for (size_t k = 0; k < dr; k++) p->w_star[cols[k]] = wr[k];
    /* the spectrum of XᵀX/n: that of the reduced matrix, plus zeros for the zero columns */
    double lmin = 0.0, lmax = 0.0;
    if (!rc && (loss == ALIG_LOSS_SQUARED || loss == ALIG_LOSS_LOGISTIC)) {
        rc = alig_pr_gram_eigs(&Lr, &lmin, &lmax);
        if (rc) alig_pr_error("eigenvalues of X^T X / n failed");
        if (dr < d) lmin = 0.0;
    }
    free(cols);
    free(Lr.x);
    free(wr);
    if (rc) goto fail;
    double *w = p->w_star;

    const double wn = alig_pr_nrm2(w, d);
    if (isfinite(radius) && wn > radius) {
        alig_pr_error("the unconstrained minimiser has norm %.6g > radius %.6g; constrained real-data "
                      "problems are not supported", wn, radius);
        rc = ALIG_EUNSUPPORTED;
        goto fail;
    }

    /* constants (docs/problems.md §5.3) */
    const double xmax = alig_pr_max_row_norm(L);
    p->radius = radius;
    p->eps = NAN;
    p->seed = 0;
    p->strong_alpha = 0.0;
    if (loss == ALIG_LOSS_SQUARED || loss == ALIG_LOSS_LOGISTIC) {
        if (loss == ALIG_LOSS_SQUARED) {
            p->smooth_beta = xmax * xmax;
            p->lipschitz_f = lmax;
            p->strong_alpha = lmin > (double)d * DBL_EPSILON * lmax ? lmin : 0.0;
            if (isfinite(radius)) {
                double cmax = 0.0;
                for (size_t i = 0; i < n; i++) {
                    double xn = alig_pr_nrm2(L->x + i * d, d);
                    cmax = fmax(cmax, xn * (radius * xn + fabs(L->y[i])));
                }
                p->lipschitz_C = cmax;
            } else {
                p->lipschitz_C = NAN;
            }
        } else {
            p->smooth_beta = 0.25 * xmax * xmax;        /* φ'' = σ(1−σ) ≤ 1/4 */
            p->lipschitz_f = 0.25 * lmax;
            p->lipschitz_C = xmax;                      /* |φ'| ≤ 1 */
        }
    } else {
        p->smooth_beta = NAN;
        p->lipschitz_f = NAN;
        p->lipschitz_C = xmax;                          /* |φ'| ≤ 1 */
    }
    alig_pr_set_star_facts(p);
    /* weak duality gives lower ≤ min f ≤ f_star; an excess of rounding size is clipped, a larger one
     * (which would be a bug) is left visible */
    if (loss == ALIG_LOSS_SQUARED || (lower > p->f_star && lower - p->f_star <= 1e-12 * fmax(1.0, p->f_star)))
        lower = p->f_star;
    p->f_star_lower = lower;
    *out = p;
    return ALIG_SUCCESS;
fail:
    alig_problem_free(p);
    return rc;
}
