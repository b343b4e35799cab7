/* least_squares.c - the "smooth" and "strongly-convex" classes: ℓ_i(w) = ½(x_iᵀw − y_i)² with a
 * prescribed minimiser w⋆ and residual vector r = Xw⋆ − y (docs/problems.md §3, §4).
 *
 *   smooth           X = G Bᵀ with B (d × m) orthonormal, m = max(1, d/2): rank m < d, α = 0;
 *                    w⋆ in the row space of X, hence the minimum-norm minimiser.
 *   strongly-convex  X = G (n × d), full column rank (n ≥ d): α = λ_min(XᵀX/n) > 0.
 *
 * With the thin SVD X = U_r Σ_r V_rᵀ (rank r):
 *   - w⋆ = V_r c (row space), ‖w⋆‖ = radius, or 1 without constraint;
 *   - ε = 0: y = Xw⋆, r = 0;
 *   - ε > 0: r = s·(p̂ + t̂) where p̂ is a unit vector orthogonal to col(X) (needs r < n) and,
 *     only with a finite radius, t̂ = Xc₀/‖Xc₀‖ with c₀ = −n V_r Σ_r⁻² V_rᵀ w⋆, so that
 *     XᵀXc₀ = −n w⋆. Then ∇f(w⋆) = Xᵀr/n = −(s/‖Xc₀‖)·w⋆: zero without radius, and the KKT
 *     condition of the ball with multiplier λ = s/‖Xc₀‖ ≥ 0 with one. s ≥ 0 is set so that
 *     max_i ½ r_i² = ε.
 * X and w⋆'s direction do not depend on ε, nor on the radius.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cblas.h>   /* prototypes only: the symbols come from OpenBLAS */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <lapacke.h>

#include "private.h"

alig_status alig_pr_make_least_squares(alig_problem **out, const alig_problem_spec *spec, int full_rank)
{
    const size_t n = spec->samples, d = spec->dim;
    const double eps = spec->eps, radius = spec->radius;
    const char *cls = full_rank ? "strongly-convex" : "smooth";
    const size_t m = full_rank ? d : (d / 2 ? d / 2 : 1);
    const size_t k = n < d ? n : d;                 /* thin SVD size */
    *out = NULL;
    if (full_rank && n < d) {
        alig_pr_error("strongly-convex needs samples >= dim for a full-column-rank X (got n=%zu, d=%zu)", n, d);
        return ALIG_EINVAL;
    }
    alig_problem *p = NULL;
    gsl_rng *rng = NULL;
    double *g = NULL, *q = NULL, *tau = NULL, *xc = NULL, *sv = NULL, *u = NULL, *vt = NULL;
    double *superb = NULL, *z = NULL, *dir = NULL, *c = NULL;
    alig_status rc = alig_pr_linear_new(&p, cls, n, d, ALIG_LOSS_SQUARED);
    if (rc) return rc;
    alig_pr_linear *L = p->impl;
    double *w = p->w_star;
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    xc = malloc(n * d * sizeof *xc);
    sv = malloc(k * sizeof *sv);
    u = malloc(n * k * sizeof *u);
    vt = malloc(k * d * sizeof *vt);
    superb = malloc(k * sizeof *superb);
    z = malloc(n * sizeof *z);
    dir = calloc(n, sizeof *dir);
    c = malloc(k * sizeof *c);
    if (!rng || !xc || !sv || !u || !vt || !superb || !z || !dir || !c) { rc = ALIG_ENOMEM; goto fail; }
    gsl_rng_set(rng, spec->seed);

    /* ---- X, with rows of norm ≈ 1 */
    if (full_rank) {
        const double sd = 1.0 / sqrt((double)d);
        for (size_t i = 0; i < n * d; i++) L->x[i] = gsl_ran_gaussian(rng, sd);
    } else {
        g = malloc(n * m * sizeof *g);
        q = malloc(d * m * sizeof *q);
        tau = malloc(m * sizeof *tau);
        if (!g || !q || !tau) { rc = ALIG_ENOMEM; goto fail; }
        const double sd = 1.0 / sqrt((double)m);
        for (size_t i = 0; i < n * m; i++) g[i] = gsl_ran_gaussian(rng, sd);
        for (size_t i = 0; i < d * m; i++) q[i] = gsl_ran_gaussian(rng, 1.0);
        /* B = Q factor of a Gaussian d × m matrix: a uniformly random m-dimensional subspace */
        if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)m, q, (lapack_int)m, tau) != 0 ||
            LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)m, (lapack_int)m, q, (lapack_int)m, tau) != 0) {
            rc = ALIG_ENOPROG;
            goto fail;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)d, (int)m, 1.0, g, (int)m, q, (int)m,
                    0.0, L->x, (int)d);
    }

    /* ---- thin SVD X = U Σ Vᵀ and the numerical rank */
    memcpy(xc, L->x, n * d * sizeof *xc);
    if (LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', (lapack_int)n, (lapack_int)d, xc, (lapack_int)d, sv, u,
                       (lapack_int)k, vt, (lapack_int)d, superb) != 0) {
        alig_pr_error("%s: the SVD of X did not converge", cls);
        rc = ALIG_ENOPROG;
        goto fail;
    }
    const double tol = (double)(n > d ? n : d) * DBL_EPSILON * sv[0];
    size_t rank = 0;
    while (rank < k && sv[rank] > tol) rank++;
    if (rank == 0 || (full_rank && rank < d)) {
        alig_pr_error("%s: X is numerically rank-deficient (rank %zu, d=%zu)", cls, rank, d);
        rc = ALIG_EINVAL;
        goto fail;
    }

    /* ---- w⋆ = V_r c in the row space */
    double nrm = 0.0;
    while (nrm == 0.0) {
        for (size_t j = 0; j < rank; j++) c[j] = gsl_ran_gaussian(rng, 1.0);
        memset(w, 0, d * sizeof *w);
        for (size_t j = 0; j < rank; j++)
            for (size_t l = 0; l < d; l++) w[l] += c[j] * vt[j * d + l];
        nrm = alig_pr_nrm2(w, d);
    }
    const double target = isfinite(radius) ? radius : 1.0;
    for (size_t l = 0; l < d; l++) w[l] *= target / nrm;
    for (size_t i = 0; i < n; i++) z[i] = gsl_ran_gaussian(rng, 1.0);   /* drawn for every ε */

    /* ---- residual direction */
    if (eps > 0) {
        if (rank < n) {
            /* p = z − U_r U_rᵀ z, projected twice (classical Gram–Schmidt needs a second pass) */
            memcpy(dir, z, n * sizeof *dir);
            for (int pass = 0; pass < 2; pass++)
                for (size_t j = 0; j < rank; j++) {
                    double a = 0.0;
                    for (size_t i = 0; i < n; i++) a += u[i * k + j] * dir[i];
                    for (size_t i = 0; i < n; i++) dir[i] -= a * u[i * k + j];
                }
            double pn = alig_pr_nrm2(dir, n);
            if (pn > 1e-8 * alig_pr_nrm2(z, n))
                for (size_t i = 0; i < n; i++) dir[i] /= pn;
            else
                memset(dir, 0, n * sizeof *dir);
        }
        if (isfinite(radius)) {
            /* t = X c₀ = −n U_r Σ_r⁻¹ V_rᵀ w⋆, normalised */
            double *tv = superb;            /* reuse: k ≥ rank entries */
            for (size_t j = 0; j < rank; j++) tv[j] = alig_pr_dot(vt + j * d, w, d) / sv[j];
            for (size_t i = 0; i < n; i++) {
                double a = 0.0;
                for (size_t j = 0; j < rank; j++) a += u[i * k + j] * tv[j];
                xc[i] = -(double)n * a;     /* reuse xc (n·d ≥ n entries) for Xc₀ */
            }
            double tn = alig_pr_nrm2(xc, n);
            if (tn > 0)
                for (size_t i = 0; i < n; i++) dir[i] += xc[i] / tn;
        }
        double amax = 0.0;
        for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(dir[i]));
        if (amax == 0.0) {
            alig_pr_error("%s: eps > 0 is impossible here: no residual orthogonal to col(X) exists since "
                          "rank(X) = n = %zu; use more samples than the rank (%zu) or a finite radius",
                          cls, n, rank);
            rc = ALIG_EINVAL;
            goto fail;
        }
        const double s = sqrt(2.0 * eps) / amax;
        for (size_t i = 0; i < n; i++) dir[i] *= s;
    }
    for (size_t i = 0; i < n; i++) L->y[i] = alig_pr_dot(L->x + i * d, w, d) - dir[i];

    /* ---- constants */
    double lmin, lmax;
    rc = alig_pr_gram_eigs(L, &lmin, &lmax);
    if (rc) goto fail;
    const double xmax = alig_pr_max_row_norm(L);
    p->eps = eps;
    p->radius = radius;
    p->smooth_beta = xmax * xmax;                   /* ∇²ℓ_i = x_i x_iᵀ, ‖x_i x_iᵀ‖ = ‖x_i‖² */
    p->lipschitz_f = lmax;
    p->strong_alpha = full_rank ? lmin : 0.0;
    if (full_rank && !(lmin > 0)) {
        alig_pr_error("%s: lambda_min(X^T X/n) = %g is not positive", cls, lmin);
        rc = ALIG_EINVAL;
        goto fail;
    }
    if (isfinite(radius)) {
        /* ‖∇ℓ_i(w)‖ = |x_iᵀw − y_i|·‖x_i‖ ≤ ‖x_i‖(radius‖x_i‖ + |y_i|) on the ball */
        double cmax = 0.0;
        for (size_t i = 0; i < n; i++) {
            double xn = alig_pr_nrm2(L->x + i * d, d);
            cmax = fmax(cmax, xn * (radius * xn + fabs(L->y[i])));
        }
        p->lipschitz_C = cmax;
    } else {
        p->lipschitz_C = NAN;                       /* unbounded on ℝ^d */
    }
    alig_pr_set_star_facts(p);
    p->f_star_lower = p->f_star;
    rc = ALIG_SUCCESS;
    *out = p;
    p = NULL;
fail:
    gsl_rng_free(rng);
    alig_problem_free(p);
    free(g); free(q); free(tau); free(xc); free(sv); free(u); free(vt);
    free(superb); free(z); free(dir); free(c);
    return rc;
}
