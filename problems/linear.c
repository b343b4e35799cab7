/* linear.c - the per-sample oracles of the linear-model family ℓ_i(w) = φ(x_iᵀw, y_i) and the
 * dense helpers shared by the generators (allocation, row norms, Gram eigenvalues, least squares).
 *
 *   squared   φ = ½u²,              u = x_iᵀw − y_i        ∇ = u·x_i
 *   absolute  φ = |u|                                      ∇ = sign(u)·x_i (0 at u = 0)
 *   hinge     φ = max(0, 1 − z),    z = y_i·x_iᵀw          ∇ = −y_i·x_i if z < 1, else 0
 *   logistic  φ = log(1 + e^{−z})                          ∇ = −σ(−z)·y_i·x_i
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cblas.h>   /* prototypes only: the symbols come from OpenBLAS */
#include <lapacke.h>

#include "private.h"

double alig_pr_dot(const double *a, const double *b, size_t d)
{
    double s = 0.0;
    for (size_t k = 0; k < d; k++) s += a[k] * b[k];
    return s;
}

double alig_pr_nrm2(const double *a, size_t d)
{
    /* scaled to avoid overflow of Σa² for huge entries; plain sum otherwise */
    double amax = 0.0;
    for (size_t k = 0; k < d; k++) amax = fmax(amax, fabs(a[k]));
    if (amax == 0.0 || !isfinite(amax)) return amax;
    double s = 0.0;
    for (size_t k = 0; k < d; k++) {
        double t = a[k] / amax;
        s += t * t;
    }
    return amax * sqrt(s);
}

/* ---------------------------------------------------------------- oracles */

static void axpy_row(double *g, double a, const double *x, size_t d)
{
    if (a == 0.0) return;
    for (size_t k = 0; k < d; k++) g[k] += a * x[k];
}

static double loss_squared(const alig_problem *p, size_t i, const double *w, double *g, double scale)
{
    const alig_pr_linear *L = p->impl;
    const double *x = L->x + i * L->d;
    double u = alig_pr_dot(x, w, L->d) - L->y[i];
    if (g) axpy_row(g, scale * u, x, L->d);
    return 0.5 * u * u;
}

static double loss_absolute(const alig_problem *p, size_t i, const double *w, double *g, double scale)
{
    const alig_pr_linear *L = p->impl;
    const double *x = L->x + i * L->d;
    double u = alig_pr_dot(x, w, L->d) - L->y[i];
    if (g) axpy_row(g, scale * (double)((u > 0) - (u < 0)), x, L->d);
    return fabs(u);
}

static double loss_hinge(const alig_problem *p, size_t i, const double *w, double *g, double scale)
{
    const alig_pr_linear *L = p->impl;
    const double *x = L->x + i * L->d;
    double v = 1.0 - L->y[i] * alig_pr_dot(x, w, L->d);
    if (v <= 0) return 0.0;
    if (g) axpy_row(g, -scale * L->y[i], x, L->d);
    return v;
}

static double loss_logistic(const alig_problem *p, size_t i, const double *w, double *g, double scale)
{
    const alig_pr_linear *L = p->impl;
    const double *x = L->x + i * L->d;
    double z = L->y[i] * alig_pr_dot(x, w, L->d);
    /* log(1 + e^{−z}) = max(−z, 0) + log1p(e^{−|z|}) never overflows */
    double l = fmax(-z, 0.0) + log1p(exp(-fabs(z)));
    if (g) {
        double e = exp(-fabs(z));
        double sig = z >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);     /* σ(−z) */
        axpy_row(g, -scale * sig * L->y[i], x, L->d);
    }
    return l;
}

static void linear_free(void *impl)
{
    alig_pr_linear *L = impl;
    if (!L) return;
    free(L->x);
    free(L->y);
    free(L);
}

alig_status alig_pr_linear_new(alig_problem **out, const char *name, size_t n, size_t d, alig_loss_kind kind)
{
    static const alig_loss_fn fns[] = { loss_squared, loss_absolute, loss_hinge, loss_logistic };
    *out = NULL;
    if (n == 0 || d == 0 || n > SIZE_MAX / sizeof(double) / d) return ALIG_EBADLEN;
    alig_problem *p = calloc(1, sizeof *p);
    alig_pr_linear *L = calloc(1, sizeof *L);
    if (!p || !L) { free(p); free(L); return ALIG_ENOMEM; }
    p->impl = L;
    p->impl_free = linear_free;
    L->n = n;
    L->d = d;
    L->kind = kind;
    L->x = calloc(n * d, sizeof *L->x);
    L->y = calloc(n, sizeof *L->y);
    p->w_star = calloc(d, sizeof *p->w_star);
    if (!L->x || !L->y || !p->w_star) { alig_problem_free(p); return ALIG_ENOMEM; }

    snprintf(p->name, sizeof p->name, "%s", name);
    p->dim = d;
    p->n = n;
    p->radius = INFINITY;
    p->eps = p->eps_realized = p->f_star = p->f_star_lower = NAN;
    p->lipschitz_C = p->smooth_beta = p->lipschitz_f = NAN;
    p->strong_alpha = 0.0;
    p->convex = 1;
    p->loss_i = fns[kind];
    *out = p;
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- dense helpers */

double alig_pr_max_row_norm(const alig_pr_linear *L)
{
    double m = 0.0;
    for (size_t i = 0; i < L->n; i++) m = fmax(m, alig_pr_nrm2(L->x + i * L->d, L->d));
    return m;
}

alig_status alig_pr_gram_eigs(const alig_pr_linear *L, double *lmin, double *lmax)
{
    const size_t d = L->d;
    if (d > SIZE_MAX / sizeof(double) / d) return ALIG_ENOMEM;
    double *h = malloc(d * d * sizeof *h), *ev = malloc(d * sizeof *ev);
    alig_status rc = ALIG_SUCCESS;
    if (!h || !ev) { rc = ALIG_ENOMEM; goto done; }
    /* H = XᵀX/n (upper triangle) */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)L->n, 1.0 / (double)L->n,
                L->x, (int)d, 0.0, h, (int)d);
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)d, h, (lapack_int)d, ev);
    if (info != 0) { rc = ALIG_ENOPROG; goto done; }
    *lmin = ev[0];          /* ascending */
    *lmax = ev[d - 1];
done:
    free(h);
    free(ev);
    return rc;
}

alig_status alig_pr_lstsq(const double *a, size_t m, size_t k, const double *b, double *x, double rcond)
{
    const size_t mb = m > k ? m : k;
    double *ac = malloc(m * k * sizeof *ac), *bc = calloc(mb, sizeof *bc);
    double *sv = malloc((m < k ? m : k) * sizeof *sv);
    alig_status rc = ALIG_SUCCESS;
    if (!ac || !bc || !sv) { rc = ALIG_ENOMEM; goto done; }
    memcpy(ac, a, m * k * sizeof *ac);
    memcpy(bc, b, m * sizeof *bc);
    lapack_int rank;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)k, 1, ac, (lapack_int)k,
                                     bc, 1, sv, rcond, &rank);
    if (info != 0) { rc = info < 0 ? ALIG_EINVAL : ALIG_ENOPROG; goto done; }
    memcpy(x, bc, k * sizeof *x);
done:
    free(ac);
    free(bc);
    free(sv);
    return rc;
}
