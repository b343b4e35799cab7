/* run.c - the reference driver (see include/alig/run.h). Mini-batches are drawn without
 * replacement with gsl_ran_choose on a gsl_rng (mt19937) seeded explicitly, so a run is a
 * pure function of (problem, solver, params, batch, seed). */
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "alig/run.h"

static double sq_dist(size_t d, const double *a, const double *b)
{
    double s = 0.0;
    for (size_t i = 0; i < d; i++) {
        double t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

alig_status alig_run(alig_problem *p, const alig_solver_type *type, const void *params,
                     const alig_run_spec *spec, alig_run_observer obs, void *ctx, double *w_out)
{
    if (!p || !type || !spec) return ALIG_EINVAL;
    const int full = (type->flags & ALIG_SOLVER_FULL_ORACLE) != 0;
    const size_t d = p->dim, n = p->n;
    const size_t b = full ? n : (spec->batch ? spec->batch : 1);
    if (b < 1 || b > n) return ALIG_EBADBATCH;
    const size_t every = spec->gap_every ? spec->gap_every : 1;

    alig_status rc;
    alig_solver *s = NULL;
    gsl_rng *rng = NULL;
    double *w = calloc(d, sizeof *w), *wprev = calloc(d, sizeof *wprev), *g = calloc(d, sizeof *g);
    double *wsum = calloc(d, sizeof *wsum), *wbar = calloc(d, sizeof *wbar);
    size_t *all = malloc(n * sizeof *all), *idx = malloc(b * sizeof *idx);
    if (!w || !wprev || !g || !wsum || !wbar || !all || !idx) { rc = ALIG_ENOMEM; goto done; }
    if ((rc = alig_solver_alloc(&s, type, ALIG_F64, d, params))) goto done;
    if (!(rng = gsl_rng_alloc(gsl_rng_mt19937))) { rc = ALIG_ENOMEM; goto done; }
    gsl_rng_set(rng, spec->seed);
    for (size_t i = 0; i < n; i++) all[i] = i;
    if (p->w0) memcpy(w, p->w0, d * sizeof *w);
    if ((rc = alig_solver_set(s, w, p->radius))) goto done;

    double loss = NAN;
    for (size_t k = 0; k <= spec->iters; k++) {
        if (k > 0) {
            memcpy(wprev, w, d * sizeof *w);
            if (full) {
                loss = alig_problem_full(p, w, g);
                for (size_t i = 0; i < n; i++) idx[i] = i;
            } else {
                if (b == n) memcpy(idx, all, n * sizeof *idx);
                else gsl_ran_choose(rng, idx, b, all, n, sizeof *all);
                loss = alig_problem_batch(p, idx, b, w, g);
            }
            if ((rc = alig_solver_step(s, loss, g))) goto done;
        }
        for (size_t i = 0; i < d; i++) {
            wsum[i] += w[i];
            wbar[i] = wsum[i] / (double)(k + 1);
        }
        int eval = (k % every == 0) || k == spec->iters;
        size_t calls_full = p->calls_full;   /* monitoring evaluations are not charged to the method */
        alig_run_row row = {
            .iter = k,
            .loss = k ? loss : NAN, .step = NAN, .step_unclipped = NAN,
            .f_gap = eval ? alig_problem_full(p, w, NULL) - p->f_star : NAN,
            .avg_gap = eval ? alig_problem_full(p, wbar, NULL) - p->f_star : NAN,
            .dist2 = sq_dist(d, w, p->w_star),
            .w = w, .w_prev = k ? wprev : NULL, .batch_idx = k ? idx : NULL, .batch = k ? b : 0,
        };
        p->calls_full = calls_full;
        if (k > 0) {
            row.step = alig_solver_step_size(s);
            row.step_unclipped = alig_solver_step_size_unclipped(s);
        }
        if (obs && obs(&row, ctx)) break;
    }
    if (w_out) memcpy(w_out, w, d * sizeof *w);
done:
    alig_solver_free(s);
    gsl_rng_free(rng);
    free(w); free(wprev); free(g); free(wsum); free(wbar); free(all); free(idx);
    return rc;
}
