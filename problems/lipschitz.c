/* lipschitz.c - the "lipschitz" class: absolute-deviation regression ℓ_i(w) = |x_iᵀw − y_i| with
 * a known minimiser w⋆ and an exact interpolation tolerance ε (docs/problems.md §2).
 *
 * Samples come in pairs that share a row x_j, with targets y_j ± s_j where y_j = x_jᵀw⋆ and
 * s_j ∈ [0, ε]. A pair contributes |r − s_j| + |r + s_j| ≥ 2 s_j (r = x_jᵀw − y_j), with equality
 * iff |r| ≤ s_j, so w⋆ (r = 0 for every pair) minimises f over ℝ^d, hence over any Ω ∋ w⋆;
 * f⋆ = (1/n) Σ_j 2 s_j and max_i ℓ_i(w⋆) = max_j s_j = ε. With an odd n the last sample is
 * unpaired with s = 0.
 *
 * Exactness of ε in floating point: the pair that carries s = ε has its row made orthogonal to
 * w⋆, so x_jᵀw⋆ is a rounding-level number and |x_jᵀw⋆ − fl(x_jᵀw⋆ ± ε)| equals ε to a few ulps
 * of ε, for any ε > 0 (otherwise the ulp of x_jᵀw⋆ ≈ 1e-16 would swamp a tiny ε). The other
 * pairs use s_j ≤ 0.9 ε, so they cannot overtake it through rounding.
 *
 * X, w⋆'s direction and the draws of s_j/ε do not depend on ε or on the radius: one seed gives
 * the same geometry for a sweep over ε.
 */
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "private.h"

alig_status alig_pr_make_lipschitz(alig_problem **out, const alig_problem_spec *spec)
{
    const size_t n = spec->samples, d = spec->dim;
    const double eps = spec->eps, radius = spec->radius;
    const size_t npairs = n / 2;
    *out = NULL;
    if (eps > 0 && npairs == 0) {
        alig_pr_error("lipschitz: eps > 0 needs at least 2 samples (one +/- pair)");
        return ALIG_EINVAL;
    }
    alig_problem *p = NULL;
    gsl_rng *rng = NULL;
    alig_status rc = alig_pr_linear_new(&p, "lipschitz", n, d, ALIG_LOSS_ABSOLUTE);
    if (rc) return rc;
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) { rc = ALIG_ENOMEM; goto fail; }
    gsl_rng_set(rng, spec->seed);
    alig_pr_linear *L = p->impl;
    double *w = p->w_star;

    /* w⋆: a Gaussian direction, on the sphere of radius `radius` (or 1 without constraint). A
     * global minimiser inside the closed ball is also the minimiser over the ball. */
    double nrm = 0.0;
    while (nrm == 0.0) {
        for (size_t k = 0; k < d; k++) w[k] = gsl_ran_gaussian(rng, 1.0);
        nrm = alig_pr_nrm2(w, d);
    }
    const double target = isfinite(radius) ? radius : 1.0;
    for (size_t k = 0; k < d; k++) w[k] *= target / nrm;

    /* The pair that carries s = ε, at a random position. */
    const size_t j0 = npairs ? (size_t)gsl_rng_uniform_int(rng, npairs) : 0;
    const double sd = 1.0 / sqrt((double)d);        /* rows ~ N(0, I/d): ‖x_i‖ ≈ 1 */
    for (size_t j = 0; 2 * j < n; j++) {
        double *x = L->x + 2 * j * d;
        for (size_t k = 0; k < d; k++) x[k] = gsl_ran_gaussian(rng, sd);
        const int paired = 2 * j + 1 < n;
        const double u = gsl_rng_uniform(rng);      /* drawn always: same stream for every ε */
        double s = 0.0;
        if (paired && j == j0) {
            if (d >= 2) {                           /* x ← x − (xᵀŵ)ŵ, twice for orthogonality */
                for (int pass = 0; pass < 2; pass++) {
                    double c = alig_pr_dot(x, w, d) / (target * target);
                    for (size_t k = 0; k < d; k++) x[k] -= c * w[k];
                }
            }
            s = eps;
        } else if (paired) {
            s = 0.9 * eps * u;
        }
        const double q = alig_pr_dot(x, w, d);
        L->y[2 * j] = q + s;
        if (paired) {
            memcpy(x + d, x, d * sizeof *x);
            L->y[2 * j + 1] = q - s;
        }
    }

    p->eps = eps;
    p->radius = radius;
    p->lipschitz_C = alig_pr_max_row_norm(L);       /* ‖∂|u|·x_i‖ ≤ ‖x_i‖ */
    p->smooth_beta = NAN;
    p->lipschitz_f = NAN;
    p->strong_alpha = 0.0;
    alig_pr_set_star_facts(p);
    p->f_star_lower = p->f_star;
    gsl_rng_free(rng);
    *out = p;
    return ALIG_SUCCESS;
fail:
    gsl_rng_free(rng);
    alig_problem_free(p);
    return rc;
}
