/* gradcheck.c - central-difference check of backward against the loss values (kann's
 * kad_check_grad, genann's gradient test), usable on single ops and whole nets.
 *
 * The forward pass is float, so the check is as precise as float allows: the loss is taken
 * in double (loss ops keep their double sum), the divisor is the perturbation actually
 * applied after rounding x_i ± h to float, and everything after that is double:
 *   d_i = (L(x + h⁺e_i) − L(x − h⁻e_i)) / (h⁺ + h⁻).
 * Errors are scaled by max(|a_i|, |d_i|, 1e-2·‖a‖∞) so that a coordinate with a tiny
 * gradient is judged against the scale of the whole gradient, not against its own noise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "ad_impl.h"

alig_status alig_ad_gradcheck(alig_ad_graph *G, alig_ad_node *loss, const alig_ad_gradcheck_opts *opts,
                              alig_ad_gradcheck_result *res)
{
    if (!G || !loss || !res) return ALIG_EINVAL;
    memset(res, 0, sizeof *res);
    alig_ad_gradcheck_opts o = opts ? *opts : (alig_ad_gradcheck_opts){ 0 };
    if (o.h == 0.0) o.h = 1e-3;
    if (o.seed == 0) o.seed = 1;
    if (!(o.h > 0.0) || !isfinite(o.h)) return ALIG_EINVAL;
    alig_status rc = alig_ad_graph_compile(G);
    if (rc) return rc;
    alig_ad_params *P = G->P;
    if (!P || P->n == 0) return ALIG_EINVAL;
    const int train = !o.eval;
    const size_t n = P->n;
    size_t m = o.max_coords && o.max_coords < n ? o.max_coords : n;
    float *x = P->x;
    const float *g = P->g;
    const uint64_t seed0 = G->seed, step0 = G->step;

    float *buf_saved = malloc(P->nbuf * sizeof *buf_saved + 1);
    gsl_rng *rng = m < n ? gsl_rng_alloc(gsl_rng_mt19937) : NULL;
    if (!buf_saved || (m < n && !rng)) { rc = ALIG_ENOMEM; goto done; }
    memcpy(buf_saved, P->buf, P->nbuf * sizeof *buf_saved);
    if (rng) gsl_rng_set(rng, o.seed);

    /* analytic gradient at x */
    if ((rc = alig_ad_forward(G, train)) || (rc = alig_ad_backward(G, loss))) goto done;
    double amax = 0.0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs((double)g[i]));
    res->max_abs_grad = amax;
    const double floor_ = fmax(1e-6, 1e-2 * amax);

    for (size_t k = 0; k < m; k++) {
        const size_t i = rng ? (size_t)gsl_rng_uniform_int(rng, (unsigned long)n) : k;
        const float xi = x[i];
        x[i] = (float)((double)xi + o.h);
        const double hp = (double)x[i] - xi;
        G->seed = seed0; G->step = step0;
        if ((rc = alig_ad_forward(G, train))) { x[i] = xi; goto done; }
        const double fp = alig_ad_scalar(loss);
        x[i] = (float)((double)xi - o.h);
        const double hm = xi - (double)x[i];
        G->seed = seed0; G->step = step0;
        rc = alig_ad_forward(G, train);
        const double fm = alig_ad_scalar(loss);
        x[i] = xi;
        if (rc) goto done;
        const double d = (fp - fm) / (hp + hm), a = g[i];
        const double abs_err = fabs(a - d);
        const double err = abs_err / fmax(fmax(fabs(a), fabs(d)), floor_);
        if (err > res->max_err || res->checked == 0) { res->max_err = err; res->worst = i; }
        res->max_abs_err = fmax(res->max_abs_err, abs_err);
        res->max_abs_fd = fmax(res->max_abs_fd, fabs(d));
        res->checked++;
    }
    /* leave the activations consistent with the restored x, then restore the state */
    G->seed = seed0; G->step = step0;
    rc = alig_ad_forward(G, train);
done:
    if (buf_saved) memcpy(P->buf, buf_saved, P->nbuf * sizeof *buf_saved);
    G->seed = seed0;
    G->step = step0;
    free(buf_saved);
    if (rng) gsl_rng_free(rng);
    return rc;
}
