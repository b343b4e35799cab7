/* oscillation.c - the non-convex 1-D example (see include/alig/oscillation.h
 * and docs/oscillation.md for the function, the proofs and the measured threshold).
 *
 * Why the pieces look the way they do: the quadratic core 0.1x² makes the Polyak step on |x| ≤ 1
 * exactly 2.5 (x halves), the concave bridge on 1 < |x| ≤ 1.9 bends the slope down from 0.2 to
 * 0.02 with curvature −0.2 (so L = 0.2), and the linear tail 0.02|x| + 0.161 has its tangent hit
 * zero at x − f/f' = −8.05 for every x > 1.9: Polyak jumps across to the mirror point and back.
 *
 * No step rule is written here: every step goes through alig_solver_step() on a 1-element double
 * solver, so the example exercises the same code as every other experiment. */
#include <math.h>
#include <stdlib.h>

#include "alig/oscillation.h"

double alig_osc_f(double x)
{
    double u = fabs(x);
    if (u <= 1.0) return 0.1 * u * u;
    if (u <= 1.9) {
        double d = u - 1.0;
        return 0.1 + 0.2 * d - 0.1 * d * d;
    }
    return 0.02 * u + 0.161;
}

double alig_osc_grad(double x)
{
    double u = fabs(x), s = x < 0.0 ? -1.0 : 1.0;
    if (u <= 1.0) return 0.2 * x;
    if (u <= 1.9) return s * 0.2 * (2.0 - u);
    return s * 0.02;
}

double alig_osc_curvature(double x)
{
    double u = fabs(x);
    if (u <= 1.0) return 0.2;
    if (u <= 1.9) return -0.2;
    return 0.0;
}

const char *alig_osc_outcome_name(alig_osc_outcome o)
{
    switch (o) {
    case ALIG_OSC_UNDECIDED: return "undecided";
    case ALIG_OSC_CONVERGED: return "converged";
    case ALIG_OSC_CYCLED: return "cycled";
    case ALIG_OSC_DIVERGED: return "diverged";
    }
    return "unknown";
}

alig_status alig_osc_trajectory(const alig_solver_type *type, const void *params, double x0, size_t iters,
                                double *x, double *fx, double *step, size_t *n_done)
{
    if (n_done) *n_done = 0;
    if (!type || !x || !isfinite(x0)) return ALIG_EINVAL;
    alig_solver *s = NULL;
    alig_status rc = alig_solver_alloc(&s, type, ALIG_F64, 1, params);
    if (rc) return rc;
    double w = x0;                       /* the solver's (caller-owned) parameter vector */
    rc = alig_solver_set(s, &w, INFINITY);
    if (rc) goto done;
    x[0] = w;
    for (size_t t = 0; t < iters; t++) {
        double loss = alig_osc_f(w), g = alig_osc_grad(w);
        if (fx) fx[t] = loss;
        rc = alig_solver_step(s, loss, &g);
        if (rc) goto done;
        x[t + 1] = w;
        if (step) step[t] = alig_solver_step_size(s);
        if (n_done) *n_done = t + 1;
    }
    if (fx) fx[iters] = alig_osc_f(w);
done:
    alig_solver_free(s);
    return rc;
}

/* ------------------------------------------------------------------ detection */

static int close_rel(double a, double b, double tol)
{
    return fabs(b - a) <= tol * (1.0 + fabs(a));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Minimal period p of the tail, or 0. On success *since is the first t of the periodic stretch. */
static size_t find_period(const double *x, const double *fx, size_t len, const alig_osc_detect *d, size_t *since)
{
    for (size_t p = 1; p <= d->period_max; p++) {
        if (len < d->window + p) break;
        /* walk back from the last comparable pair while x_{t+p} ≈ x_t */
        size_t t = len - 1 - p, count = 0;
        for (;;) {
            if (!close_rel(x[t], x[t + p], d->cycle_tol)) { t++; break; }
            count++;
            if (t == 0) break;
            t--;
        }
        if (count < d->window) continue;
        /* no net decrease of f along each phase of the stretch (a slowly converging sequence
         * can pass the closeness test; its f keeps going down) */
        int decreasing = 0;
        for (size_t j = 0; j < p; j++) {
            size_t a = t + j, b = a + p * ((len - 1 - a) / p);
            double gap = fabs(fx[a] - d->f_star);
            if (fx[b] < fx[a] - d->f_rel_tol * gap) { decreasing = 1; break; }
        }
        if (decreasing) continue;
        *since = t;
        return p;
    }
    return 0;
}

alig_status alig_osc_classify(const double *x, const double *fx, size_t len, const alig_osc_detect *d,
                              alig_osc_verdict *v)
{
    static const alig_osc_detect defaults = ALIG_OSC_DETECT_DEFAULT;
    if (!d) d = &defaults;
    if (!x || !fx || !v) return ALIG_EINVAL;
    if (d->period_max < 1 || d->period_max > ALIG_OSC_PERIOD_MAX || d->window == 0) return ALIG_EINVAL;
    if (!(d->x_tol >= 0.0) || !(d->f_tol >= 0.0) || !(d->cycle_tol >= 0.0) || !(d->f_rel_tol >= 0.0) ||
        !isfinite(d->x_star) || !isfinite(d->f_star))
        return ALIG_EINVAL;
    if (len == 0) return ALIG_EBADLEN;

    *v = (alig_osc_verdict){ .outcome = ALIG_OSC_UNDECIDED, .x_last = NAN, .f_last = NAN };
    for (size_t t = 0; t < len; t++) {
        if (!isfinite(x[t]) || !isfinite(fx[t])) {
            v->outcome = ALIG_OSC_DIVERGED;
            v->since = t;
            if (t > 0) { v->x_last = x[t - 1]; v->f_last = fx[t - 1]; }
            return ALIG_SUCCESS;
        }
    }
    v->x_last = x[len - 1];
    v->f_last = fx[len - 1];

    size_t t = len;
    while (t > 0 && (fabs(x[t - 1] - d->x_star) <= d->x_tol || fx[t - 1] - d->f_star <= d->f_tol)) t--;
    if (t < len) {
        v->outcome = ALIG_OSC_CONVERGED;
        v->since = t;
        return ALIG_SUCCESS;
    }

    size_t since = 0, p = find_period(x, fx, len, d, &since);
    if (p) {
        v->outcome = ALIG_OSC_CYCLED;
        v->period = p;
        v->since = since;
        for (size_t j = 0; j < p; j++) v->points[j] = x[len - p + j];
        qsort(v->points, p, sizeof v->points[0], cmp_double);
    }
    return ALIG_SUCCESS;
}

/* ------------------------------------------------------------------ probes and the scan */

/* Step the bound solver from *w for up to `iters` steps, recording x[0..] and fx[0..]
 * (x[0] = *w on entry). Stops early, after the first t with |x_t − x⋆| ≤ stop_tol
 * (stop_tol < 0: never). *n_done receives the number of steps taken. */
static alig_status run_segment(alig_solver *s, double *w, size_t iters, double x_star, double stop_tol, double *x,
                               double *fx, size_t *n_done)
{
    *n_done = 0;
    x[0] = *w;
    fx[0] = alig_osc_f(*w);
    for (size_t t = 0; t < iters; t++) {
        if (fabs(x[t] - x_star) <= stop_tol) return ALIG_SUCCESS;
        double g = alig_osc_grad(*w);
        alig_status rc = alig_solver_step(s, fx[t], &g);
        if (rc) return rc;
        x[t + 1] = *w;
        fx[t + 1] = alig_osc_f(*w);
        *n_done = t + 1;
    }
    return ALIG_SUCCESS;
}

alig_status alig_osc_probe(const alig_osc_config *c, double eta, alig_osc_verdict *v)
{
    static const alig_osc_config defaults = ALIG_OSC_CONFIG_DEFAULT;
    if (!c) c = &defaults;
    if (!v) return ALIG_EINVAL;
    if (c->iters == 0) return ALIG_EBADLEN;
    if (!isfinite(c->x0)) return ALIG_EINVAL;
    if (c->iters > ALIG_OSC_MAX_ITERS) return ALIG_EBADLEN;   /* (iters + 1) * 8 bytes cannot wrap below */

    alig_params_alig prm = ALIG_PARAMS_ALIG_DEFAULT;
    prm.eta = eta;
    prm.delta = c->delta;
    prm.lower_bound = 0.0;
    prm.momentum = 0.0;
    alig_solver *s = NULL;
    double *x = NULL, *fx = NULL;
    alig_status rc = alig_solver_alloc(&s, alig_solver_alig, ALIG_F64, 1, &prm);
    if (rc) return rc;
    rc = ALIG_ENOMEM;
    x = malloc((c->iters + 1) * sizeof *x);
    fx = malloc((c->iters + 1) * sizeof *fx);
    if (!x || !fx) goto done;
    double w = c->x0;
    if ((rc = alig_solver_set(s, &w, INFINITY))) goto done;

    /* Early stop: |x| <= 1 is invariant under ALI-G on this f for every eta > 0 and delta >= 0
     * (there gamma <= f/f'^2 = 2.5, so x <- (1 - 0.2 gamma) x with a factor in [0.5, 1]; proof in
     * docs/oscillation.md), so a run that enters |x| <= x_tol <= 1 has converged for good. */
    double stop_tol = c->detect.x_tol <= ALIG_OSC_ABSORBING_RADIUS ? c->detect.x_tol : -1.0;
    size_t total = 0;
    for (;;) {
        size_t done = 0;
        rc = run_segment(s, &w, c->iters, c->detect.x_star, stop_tol, x, fx, &done);
        if (rc == ALIG_ENONFINITE) {
            /* the solver refused a step (non-finite loss, gradient or iterate): a diverged run */
            *v = (alig_osc_verdict){ .outcome = ALIG_OSC_DIVERGED, .since = total + done + 1, .x_last = x[done],
                                     .f_last = fx[done] };
            rc = ALIG_SUCCESS;
            break;
        }
        if (rc) break;
        if (done < c->iters) {
            *v = (alig_osc_verdict){ .outcome = ALIG_OSC_CONVERGED, .since = total + done, .x_last = x[done],
                                     .f_last = fx[done] };
            break;
        }
        if ((rc = alig_osc_classify(x, fx, done + 1, &c->detect, v))) break;
        v->since += total;
        total += done;
        /* ALI-G without momentum is memoryless (gamma depends on the current iterate only), so an
         * undecided run is continued exactly by another segment from its last iterate. */
        if (v->outcome != ALIG_OSC_UNDECIDED || total >= c->max_iters) break;
    }
done:
    alig_solver_free(s);
    free(x);
    free(fx);
    return rc;
}

/* One probe inside the scan: count it, report it; *stop set when the observer cancels. */
static alig_status scan_probe(const alig_osc_config *c, double eta, alig_osc_phase phase, alig_osc_scan_observer obs,
                              void *ctx, alig_osc_scan_result *r, alig_osc_verdict *v, int *stop)
{
    alig_status rc = alig_osc_probe(c, eta, v);
    if (rc) return rc;
    r->n_probes++;
    if (obs && obs(eta, phase, v, ctx)) *stop = 1;
    return ALIG_SUCCESS;
}

alig_status alig_osc_scan(const alig_osc_config *c, const alig_osc_scan_spec *s, alig_osc_scan_observer obs,
                          void *ctx, alig_osc_scan_result *r)
{
    static const alig_osc_config cdef = ALIG_OSC_CONFIG_DEFAULT;
    static const alig_osc_scan_spec sdef = ALIG_OSC_SCAN_DEFAULT;
    if (!c) c = &cdef;
    if (!s) s = &sdef;
    if (!r) return ALIG_EINVAL;
    const double theory = 2.0 / ALIG_OSC_SMOOTHNESS;
    if (!(s->eta_step > 0.0) || !isfinite(s->eta_step) || !(s->eta_max >= theory) || !isfinite(s->eta_max) ||
        !(s->refine_factor > 1.0) || !isfinite(s->refine_factor) || !(s->refine_cells > 0.0) ||
        !isfinite(s->refine_cells) || !(s->bisect_tol > 0.0))
        return ALIG_EINVAL;

    *r = (alig_osc_scan_result){ .threshold_theory = theory, .converged_below_theory = 1,
                                 .first_failure_below = NAN, .grid_last_converged = NAN,
                                 .grid_first_failed = NAN, .fine_step = s->eta_step,
                                 .fine_last_converged = NAN, .fine_first_failed = NAN,
                                 .threshold_measured = NAN, .threshold_converged = NAN };
    alig_osc_verdict v;
    alig_status rc;
    int stop = 0;

    /* 1. below 2/L: the theorem's range. η_k = k·h avoids accumulating rounding in η. */
    for (size_t k = 1;; k++) {
        double eta = (double)k * s->eta_step;
        if (!(eta < theory)) break;
        if ((rc = scan_probe(c, eta, ALIG_OSC_PHASE_BELOW, obs, ctx, r, &v, &stop))) return rc;
        r->n_below++;
        if (v.outcome == ALIG_OSC_CONVERGED) {
            r->grid_last_converged = eta;
        } else if (r->converged_below_theory) {
            r->converged_below_theory = 0;
            r->first_failure_below = eta;
        }
        if (stop) return ALIG_SUCCESS;
    }

    /* 2. upward from 2/L to the first failure. */
    alig_osc_verdict fail_v = { .outcome = ALIG_OSC_UNDECIDED };
    for (size_t k = 0;; k++) {
        double eta = theory + (double)k * s->eta_step;
        if (eta > s->eta_max) break;
        if ((rc = scan_probe(c, eta, ALIG_OSC_PHASE_ABOVE, obs, ctx, r, &v, &stop))) return rc;
        if (v.outcome == ALIG_OSC_CONVERGED) {
            r->grid_last_converged = eta;
        } else {
            r->found_failure = 1;
            r->grid_first_failed = eta;
            fail_v = v;
        }
        if (stop) return ALIG_SUCCESS;
        if (r->found_failure) break;
    }
    if (!r->found_failure) return ALIG_SUCCESS;

    /* 3. refinement: failure windows narrower than h may sit just below the first failing grid
     * point (they accumulate at the true threshold in this example), so rescan the cells below
     * it on finer grids. The rescan starts at a point already known to converge (a coarser grid
     * point) unless it is clamped at 2/L. */
    double a = r->grid_last_converged, b = r->grid_first_failed, h = s->eta_step;
    for (unsigned level = 0; level < s->refine_levels; level++) {
        double lo = b - s->refine_cells * h;
        if (lo < theory) lo = theory;
        h /= s->refine_factor;
        r->fine_step = h;
        double a_level = NAN;
        int failed = 0;
        for (size_t k = 0;; k++) {
            double eta = lo + (double)k * h;
            if (!(eta < b)) break;
            if ((rc = scan_probe(c, eta, ALIG_OSC_PHASE_REFINE, obs, ctx, r, &v, &stop))) return rc;
            if (v.outcome == ALIG_OSC_CONVERGED) {
                a_level = eta;
            } else {
                b = eta;
                fail_v = v;
                failed = 1;
            }
            if (stop) return ALIG_SUCCESS;
            if (failed) break;
        }
        if (failed) a = a_level;                    /* NAN if the pass failed at its first point */
        else if (!isnan(a_level) && (isnan(a) || a_level > a)) a = a_level;   /* finest converging point below b */
    }
    r->fine_last_converged = a;
    r->fine_first_failed = b;

    /* 4. bisection inside [a, b]. Without a converging point below b, b is the answer. */
    if (isnan(a) || !(a < b)) {
        r->threshold_measured = b;
        r->at_threshold = fail_v;
        return ALIG_SUCCESS;
    }
    while (b - a > s->bisect_tol) {
        double m = a + 0.5 * (b - a);
        if (!(m > a && m < b)) break;   /* adjacent doubles */
        if ((rc = scan_probe(c, m, ALIG_OSC_PHASE_BISECT, obs, ctx, r, &v, &stop))) return rc;
        if (v.outcome == ALIG_OSC_CONVERGED) {
            a = m;
        } else {
            b = m;
            fail_v = v;
        }
        if (stop) break;
    }
    r->threshold_converged = a;
    r->threshold_measured = b;
    r->at_threshold = fail_v;
    return ALIG_SUCCESS;
}
