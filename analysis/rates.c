/* rates.c - the empirical check of the bounds of docs/theory.md (`alig rates`).
 *
 * For every problem class × ε ∈ {0, small, large} × η ∈ {low, high, ∞} × δ ∈ {0, 1e-5}, ALI-G is
 * run R times (independent sampling seeds, same instance) through alig_run(); the expectation in
 * each bound is estimated at checkpoints T on a log grid by the sample mean with a Student-t 95%
 * interval. A case is
 *   held          when the upper limit is under the bound at every checkpoint,
 *   violated      when the lower limit is above it at some checkpoint, or a per-step inequality
 *                 (which holds for every realisation) fails at some iteration of some run,
 *   inconclusive  otherwise; R is then doubled (up to a cap) and the case decided again.
 * Polyak (given f⋆), APROX, SPS and SGD (best constant learning rate of a log grid) run on the
 * same instances for the side table.
 *
 * The configurations are the cells of a grid of the sweep engine (grid.h, alig_rates_grid): the
 * same enumeration, naming and protocol text as `alig sweep`. What differs is how cells run: here
 * in-process, in parallel, with a number of seeds that adapts to each case.
 *
 * Determinism: run r of every method on instance (class, ε) uses the sampling seed
 * seed_of(base, class, ε, r) (common random numbers across methods), each run writes only its
 * own slots, and all reductions happen serially afterwards in a fixed order, so the result is
 * the same for any number of OpenMP threads.
 *
 * Threads share one problem instance read-only: each run works on a shallow copy of the
 * alig_problem struct (the per-sample oracle takes a const problem; only the call counters,
 * which live in the struct itself, are written). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <gsl/gsl_cdf.h>

#include "alig/analysis.h"
#include "alig/grid.h"
#include "alig/problem.h"
#include "alig/run.h"
#include "alig/solver.h"
#include "../nets/splitmix.h"
#include "../problems/checked.h"

enum { N_EPS = 3, N_ETA = 3, N_DELTA = 2, MAX_CASES_PER_CFG = 2 };

static const char *const eps_labels[N_EPS] = { "0", "small", "large" };
static const double eps_factor[N_EPS] = { 0.0, 1e-3, 1e-1 };     /* × (f(w₀) − f⋆) of the ε = 0 instance */
static const char *const eta_labels[N_ETA] = { "low", "high", "inf" };
static const double delta_values[N_DELTA] = { 0.0, 1e-5 };
static const char *const delta_labels[N_DELTA] = { "0", "1e-5" };
static const double sgd_grid[] = { 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0 };
enum { N_SGD = sizeof sgd_grid / sizeof sgd_grid[0] };

#define STEP_SLACK 1e-9      /* relative rounding slack of the per-step checks (docs/theory.md §8) */
/* Rate fits use the last two decades of the horizon, T >= max(10, horizon/100): the theorems'
 * rates are asymptotic statements. */
#define FIT_T_MIN 10.0

/* ------------------------------------------------------------------ small helpers */

const char *alig_verdict_name(alig_verdict v)
{
    switch (v) {
    case ALIG_VERDICT_HELD: return "held";
    case ALIG_VERDICT_VIOLATED: return "violated";
    case ALIG_VERDICT_INCONCLUSIVE: return "inconclusive";
    case ALIG_VERDICT_NA: return "n/a";
    default: return "?";
    }
}

/* A fixed, well-mixed map from (base, indices) to a run seed: SplitMix64 seed mixes (splitmix.h). */
static unsigned long seed_of(unsigned long base, size_t cls, size_t eps, size_t run)
{
    uint64_t h = alig_splitmix((uint64_t)base);
    h = alig_splitmix(h ^ (uint64_t)cls);
    h = alig_splitmix(h ^ ((uint64_t)eps << 8));
    h = alig_splitmix(h ^ ((uint64_t)run << 16));
    return (unsigned long)(h & 0xffffffffUL) | 1UL;     /* 32 bits: mt19937 seeds are 32-bit */
}

/* ------------------------------------------------------------------ configurations */

typedef union any_params {
    alig_params_alig alig;
    alig_params_polyak polyak;
    alig_params_aprox aprox;
    alig_params_sps sps;
    alig_params_sgd sgd;
} any_params;

typedef struct instance {
    alig_problem *p;
    double D0, f0;              /* ‖w₀ − w⋆‖², f(w₀) − f⋆ */
    double eps_bound;           /* ε used in the bounds: max(requested, realised) */
} instance;

typedef struct cfg {
    size_t cls, epsi;           /* instance */
    const alig_solver_type *type;
    any_params par;
    char method[48];
    int is_alig, etai, deltai, sgd_index;   /* sgd_index >= 0 for the SGD grid */
    int deterministic;          /* full-oracle method: one run is enough */
    unsigned mask;              /* per-step inequalities to assert (ALI-G) */
    alig_bound_consts k;
    size_t runs, alloc;         /* runs done, slots allocated */
    double *fg, *ag, *dd;       /* [run][checkpoint]: f(w_T) − f⋆, f(w̄_T) − f⋆, ‖w_T − w⋆‖² */
    size_t *checked, *failed, *guard;   /* per run */
    size_t *fail_iter;          /* per run: first failing iteration (0 = none) */
    unsigned *fail_mask;
    int *diverged;              /* per run: alig_run returned ALIG_ENONFINITE */
    alig_status *st;            /* per run */
    size_t case_idx[MAX_CASES_PER_CFG], n_case;
} cfg;

typedef struct item { size_t cfg, run; } item;

/* ------------------------------------------------------------------ one run */

typedef struct run_ctx {
    alig_problem *p;
    const cfg *c;
    const double *ck;
    size_t n_ck, next;
    size_t d;
    double *wsum, *wbar;
    double D_prev;
    double *fg, *ag, *dd;
    size_t checked, failed, guard, fail_iter;
    unsigned fail_mask;
    int guard_seen;
} run_ctx;

static int observe(const alig_run_row *row, void *vctx)
{
    run_ctx *x = vctx;
    const size_t k = row->iter;
    for (size_t i = 0; i < x->d; i++) x->wsum[i] += row->w[i];
    if (k > 0 && x->c->mask) {
        /* ℓ⋆_t on the same samples; counted on the run's private copy, never charged elsewhere. */
        double ls = alig_problem_batch(x->p, row->batch_idx, row->batch, x->p->w_star, NULL);
        alig_step_obs o = { .D_prev = x->D_prev, .D_next = row->dist2, .loss = row->loss,
                            .loss_star = ls, .step = row->step };
        unsigned m = x->c->mask;
        /* With δ = 0 a gradient whose squared norm underflows trips the zero-gradient guard
         * (γ = 0) although g ≠ 0; then the step-size lower bounds of D1/D2 fail in floating
         * point only (docs/theory.md, Lemma 0). Lemma 1 is still asserted. */
        if (!x->guard_seen && row->step_unclipped == 0.0 && row->loss > ls) {
            x->guard_seen = 1;
            x->guard++;
        }
        if (x->guard_seen) m &= (unsigned)ALIG_STEP_LEMMA1;
        unsigned f = alig_step_check(m, &x->c->k, &o, STEP_SLACK);
        x->checked++;
        if (f) {
            if (!x->failed) { x->fail_iter = k; x->fail_mask = f; }
            x->failed++;
        }
    }
    x->D_prev = row->dist2;
    if (x->next < x->n_ck && (double)k == x->ck[x->next]) {
        const double inv = 1.0 / (double)(k + 1);
        for (size_t i = 0; i < x->d; i++) x->wbar[i] = x->wsum[i] * inv;
        x->fg[x->next] = alig_problem_full(x->p, row->w, NULL) - x->p->f_star;
        x->ag[x->next] = alig_problem_full(x->p, x->wbar, NULL) - x->p->f_star;
        x->dd[x->next] = row->dist2;
        x->next++;
    }
    return 0;
}

static void do_run(cfg *c, size_t r, const instance *in, const double *ck, size_t n_ck,
                   unsigned long base_seed)
{
    alig_problem local = *in->p;                /* shallow copy: private counters */
    const size_t d = local.dim;
    double *buf = calloc(2 * d, sizeof *buf);
    run_ctx x = { .p = &local, .c = c, .ck = ck, .n_ck = n_ck, .d = d, .wsum = buf, .wbar = buf ? buf + d : NULL,
                  .fg = c->fg + r * n_ck, .ag = c->ag + r * n_ck, .dd = c->dd + r * n_ck };
    for (size_t j = 0; j < n_ck; j++) x.fg[j] = x.ag[j] = x.dd[j] = NAN;
    if (!buf) { c->st[r] = ALIG_ENOMEM; return; }
    alig_run_spec spec = { .iters = (size_t)ck[n_ck - 1], .batch = 1,
                           .seed = seed_of(base_seed, c->cls, c->epsi, r), .gap_every = (size_t)ck[n_ck - 1] };
    alig_status st = alig_run(&local, c->type, &c->par, &spec, observe, &x, NULL);
    c->diverged[r] = 0;
    if (st == ALIG_ENONFINITE) {
        /* A diverging run (possible for SGD with a too large rate): +∞ from the first checkpoint
         * it did not reach. */
        c->diverged[r] = 1;
        for (size_t j = x.next; j < n_ck; j++) x.fg[j] = x.ag[j] = x.dd[j] = INFINITY;
        st = ALIG_SUCCESS;
    }
    c->st[r] = st;
    c->checked[r] = x.checked;
    c->failed[r] = x.failed;
    c->guard[r] = x.guard;
    c->fail_iter[r] = x.fail_iter;
    c->fail_mask[r] = x.fail_mask;
    free(buf);
}

static alig_status cfg_reserve(cfg *c, size_t runs, size_t n_ck)
{
    if (runs <= c->alloc) return ALIG_SUCCESS;
    size_t curve_bytes, dummy;
    if (!alig_size_mul3(runs, n_ck, sizeof(double), &curve_bytes) || !alig_size_mul(runs, sizeof(size_t), &dummy))
        return ALIG_ENOMEM;
    double *fg = realloc(c->fg, curve_bytes);
    if (fg) c->fg = fg;
    double *ag = realloc(c->ag, curve_bytes);
    if (ag) c->ag = ag;
    double *dd = realloc(c->dd, curve_bytes);
    if (dd) c->dd = dd;
    size_t *a = realloc(c->checked, runs * sizeof *a);
    if (a) c->checked = a;
    size_t *b = realloc(c->failed, runs * sizeof *b);
    if (b) c->failed = b;
    size_t *g = realloc(c->guard, runs * sizeof *g);
    if (g) c->guard = g;
    size_t *fi = realloc(c->fail_iter, runs * sizeof *fi);
    if (fi) c->fail_iter = fi;
    unsigned *fm = realloc(c->fail_mask, runs * sizeof *fm);
    if (fm) c->fail_mask = fm;
    int *dv = realloc(c->diverged, runs * sizeof *dv);
    if (dv) c->diverged = dv;
    alig_status *st = realloc(c->st, runs * sizeof *st);
    if (st) c->st = st;
    if (!fg || !ag || !dd || !a || !b || !g || !fi || !fm || !dv || !st) return ALIG_ENOMEM;
    c->alloc = runs;
    return ALIG_SUCCESS;
}

static void cfg_free(cfg *c)
{
    free(c->fg); free(c->ag); free(c->dd);
    free(c->checked); free(c->failed); free(c->guard); free(c->fail_iter); free(c->fail_mask);
    free(c->diverged); free(c->st);
}

/* Run every item in parallel. Each item writes only to its own run slot of its cfg. */
static alig_status run_items(cfg *cfgs, const item *items, size_t n_items, const instance *inst,
                             const double *ck, size_t n_ck, unsigned long base_seed)
{
    long long ni = (long long)n_items;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (long long i = 0; i < ni; i++) {
        cfg *c = &cfgs[items[i].cfg];
        do_run(c, items[i].run, &inst[c->cls * N_EPS + c->epsi], ck, n_ck, base_seed);
    }
    for (size_t i = 0; i < n_items; i++) {
        alig_status st = cfgs[items[i].cfg].st[items[i].run];
        if (st) return st;
    }
    return ALIG_SUCCESS;
}

/* ------------------------------------------------------------------ statistics per case */

/* The bounded quantity of run r at checkpoint j. */
static double quantity(const cfg *c, alig_bound_kind kind, double f_star, size_t r, size_t j, size_t n_ck)
{
    switch (kind) {
    case ALIG_BOUND_D1: return c->ag[r * n_ck + j] + f_star;       /* D1 bounds E f(w̄_T) itself */
    case ALIG_BOUND_D3: return c->dd[r * n_ck + j];
    default: return c->ag[r * n_ck + j];
    }
}

static alig_status curve_stats(const cfg *c, alig_rates_case *cs, double f_star, size_t n_ck, double level)
{
    const size_t R = c->runs;
    double *v = malloc(R * sizeof *v);
    if (!v) return ALIG_ENOMEM;
    cs->curve.runs = R;
    for (size_t j = 0; j < n_ck; j++) {
        for (size_t r = 0; r < R; r++) v[r] = quantity(c, cs->bound, f_star, r, j, n_ck);
        alig_ci ci;
        alig_status st = alig_stats_ci(v, R, level, &ci);
        if (st == ALIG_ENONFINITE) {
            cs->curve.mean[j] = cs->curve.lo[j] = cs->curve.hi[j] = INFINITY;
            continue;
        }
        if (st) { free(v); return st; }
        cs->curve.mean[j] = ci.mean;
        cs->curve.lo[j] = ci.lo;
        cs->curve.hi[j] = ci.hi;
    }
    free(v);
    return ALIG_SUCCESS;
}

/* Decide one case from its curve and per-step counts. */
static void decide(const cfg *c, alig_rates_case *cs, const double *ck, size_t n_ck)
{
    size_t checked = 0, failed = 0, guard = 0, first_run = SIZE_MAX;
    int diverged = 0;
    for (size_t r = 0; r < c->runs; r++) {
        checked += c->checked[r];
        failed += c->failed[r];
        guard += c->guard[r];
        if (c->failed[r] && first_run == SIZE_MAX) first_run = r;
        diverged |= c->diverged[r];
    }
    cs->steps_checked = checked;
    cs->steps_failed = failed;
    cs->guard_fired = guard;
    cs->max_ratio = -INFINITY;
    cs->max_ratio_T = NAN;
    cs->resolution_used = 0;
    int inconclusive = 0, violated = 0;
    double viol_T = NAN;
    for (size_t j = 0; j < n_ck; j++) {
        /* The bounds assume exact arithmetic. A quantity computed in double precision cannot go
         * below its resolution (‖w_T − w⋆‖² stalls near p·(ulp of w⋆)² once w_T ≈ w⋆), so a bound
         * that decays below it (D3 with ε = δ = 0, long horizons) is compared as the resolution. */
        double b = cs->bound_values[j];
        if (b < cs->resolution) { b = cs->resolution; cs->resolution_used++; }
        const double ratio = cs->curve.mean[j] / b;
        if (ratio > cs->max_ratio) { cs->max_ratio = ratio; cs->max_ratio_T = ck[j]; }
        if (cs->curve.lo[j] > b) { if (!violated) viol_T = ck[j]; violated = 1; }
        else if (!(cs->curve.hi[j] < b)) inconclusive = 1;
    }
    cs->final_ratio = cs->curve.mean[n_ck - 1] / fmax(cs->bound_values[n_ck - 1], cs->resolution);
    if (failed) {
        cs->verdict = ALIG_VERDICT_VIOLATED;
        unsigned m = c->fail_mask[first_run];
        snprintf(cs->reason, sizeof cs->reason, "per-step %s failed (%zu of %zu steps; first: run %zu, t=%zu)",
                 (m & ALIG_STEP_LEMMA1) ? "Lemma 1" : (m & ALIG_STEP_D1) ? "D1" : (m & ALIG_STEP_D1INF) ? "D1inf" : "D2",
                 failed, checked, first_run, c->fail_iter[first_run]);
    } else if (diverged) {
        cs->verdict = ALIG_VERDICT_VIOLATED;
        snprintf(cs->reason, sizeof cs->reason, "a run diverged");
    } else if (violated) {
        cs->verdict = ALIG_VERDICT_VIOLATED;
        snprintf(cs->reason, sizeof cs->reason, "lower 95%% limit above the bound at T=%.0f", viol_T);
    } else if (inconclusive) {
        cs->verdict = ALIG_VERDICT_INCONCLUSIVE;
        snprintf(cs->reason, sizeof cs->reason, "bound inside the 95%% interval after %zu runs", c->runs);
    } else {
        cs->verdict = ALIG_VERDICT_HELD;
        cs->reason[0] = '\0';
    }
}

/* Fit log(mean) against log T (D1, D1∞, D2) or T (D3) over the checkpoints where the bound is
 * still dominated by its decaying part (bound >= 2 × its floor), in the last two decades of the
 * horizon, and where the mean is above 10 × the double-precision resolution of the quantity.
 * Weights 1/σ² with σ ≈ se/mean (delta method). No fit when those checkpoints span less than a
 * decade of T. The same fit over each decade of the window tells whether the curve is still
 * steepening there (fit_transient). */
static void fit_rate(alig_rates_case *cs, const double *ck, size_t n_ck, double f_star, double bound_scale,
                     double level)
{
    /* the interval half-width is t·se: recover se with the same Student-t quantile */
    const double tq = gsl_cdf_tdist_Pinv(0.5 + level / 2.0, (double)(cs->curve.runs - 1));
    const double tmin = fmax(FIT_T_MIN, ck[n_ck - 1] / 100.0);
    const int semilog = cs->bound == ALIG_BOUND_D3;
    const double floor_b = bound_scale * alig_bound_floor(cs->bound, &cs->consts);
    const double numfloor = 10.0 * cs->resolution;
    double x[128], y[128], w[128], tk[128];
    size_t n = 0;
    int floor_hit = 0;
    for (size_t j = 0; j < n_ck && n < 128; j++) {
        const double m = cs->curve.mean[j];
        if (ck[j] < tmin) continue;
        if (!(cs->bound_values[j] >= 2.0 * floor_b)) { floor_hit = 1; continue; }
        const double mq = cs->bound == ALIG_BOUND_D1 ? m - f_star : m;   /* the gap itself */
        if (!(mq > numfloor) || !isfinite(mq)) continue;
        const double half = (cs->curve.hi[j] - cs->curve.lo[j]) / 2.0;
        double rel = (half / tq) / mq;
        if (!(rel > 1e-3)) rel = 1e-3;         /* deterministic or nearly: cap the weight */
        x[n] = semilog ? ck[j] : log(ck[j]);
        y[n] = log(mq);
        w[n] = 1.0 / (rel * rel);
        tk[n] = ck[j];
        n++;
    }
    cs->fit_points = n;
    cs->rate_theory = alig_bound_rate(cs->bound, &cs->consts);
    cs->rate_fit_early = cs->rate_fit_late = NAN;
    cs->fit_transient = 0;
    alig_fit f;
    /* a rate needs at least a decade of T: fewer checkpoints span only the start of a transient */
    const int span = n >= 3 && tk[n - 1] >= 10.0 * tk[0] * (1.0 - 1e-12);
    if (span && alig_fit_wline(x, y, w, n, &f) == ALIG_SUCCESS) {
        cs->rate_fit = f.slope;
        cs->rate_fit_se = f.slope_se;
        snprintf(cs->fit_note, sizeof cs->fit_note, "%s, %zu checkpoints", semilog ? "log-gap vs T" : "log-log", n);
        /* the window's two decades, split at T = horizon/10 (shared by both when a checkpoint) */
        const double split = ck[n_ck - 1] / 10.0;
        size_t ne = 0, nl = 0;
        while (ne < n && tk[ne] <= split * (1.0 + 1e-12)) ne++;
        while (nl < n && tk[n - 1 - nl] >= split * (1.0 - 1e-12)) nl++;
        alig_fit fe, fl;
        if (ne >= 3 && nl >= 3 && alig_fit_wline(x, y, w, ne, &fe) == ALIG_SUCCESS &&
            alig_fit_wline(x + (n - nl), y + (n - nl), w + (n - nl), nl, &fl) == ALIG_SUCCESS) {
            cs->rate_fit_early = fe.slope;
            cs->rate_fit_late = fl.slope;
            const double se = sqrt(fe.slope_se * fe.slope_se + fl.slope_se * fl.slope_se);
            cs->fit_transient = fl.slope < fe.slope - 2.0 * se;
            if (cs->fit_transient)
                snprintf(cs->fit_note, sizeof cs->fit_note, "steepening: %.3g for T <= %.0f, %.3g after", fe.slope,
                         split, fl.slope);
        }
    } else {
        cs->rate_fit = cs->rate_fit_se = NAN;
        if (n >= 3)
            snprintf(cs->fit_note, sizeof cs->fit_note, "no fit: T = %.0f to %.0f only (%s)", tk[0], tk[n - 1],
                     floor_hit ? "then the bound's floor" : "numerical floor");
        else
            snprintf(cs->fit_note, sizeof cs->fit_note, "%s", floor_hit ? "bound at its floor: no fit"
                                                                         : "too few checkpoints above the numerical floor");
    }
}

/* Rate of a method (side table): log-log slope of the mean last-iterate gap over the last two
 * decades, above 10 × the resolution 16 ε_mach(f⋆ + f(w₀)) of a gap (a method that reaches machine
 * precision is fitted on its way there only). */
static void fit_method(const double *mean, const double *ck, size_t n_ck, double f_star, double f0, double *slope,
                       double *se)
{
    const double tmin = fmax(FIT_T_MIN, ck[n_ck - 1] / 100.0);
    const double numfloor = 160.0 * DBL_EPSILON * (fabs(f_star) + fabs(f0));
    double x[128], y[128];
    size_t n = 0;
    for (size_t j = 0; j < n_ck && n < 128; j++) {
        if (ck[j] < tmin || !(mean[j] > numfloor) || !isfinite(mean[j])) continue;
        x[n] = log(ck[j]);
        y[n] = log(mean[j]);
        n++;
    }
    alig_fit f;
    if (n >= 3 && alig_fit_wline(x, y, NULL, n, &f) == ALIG_SUCCESS) { *slope = f.slope; *se = f.slope_se; }
    else *slope = *se = NAN;
}

/* Double-precision resolution of the quantity bounded by `kind`: p·(ε_mach(‖w⋆‖ + √D₀))² for
 * ‖w_T − w⋆‖² (the spacing of doubles near w⋆, squared and summed over the coordinates; observed
 * floor ≈ 2e-32 for ‖w⋆‖ = 1, p = 10, this is 2e-30), and 16 ε_mach(f⋆ + f(w₀)) for the gaps (f
 * is a mean of rounded losses). */
static double resolution_of(alig_bound_kind kind, const instance *in)
{
    const alig_problem *p = in->p;
    const double D0 = in->D0;
    double ws = 0;
    for (size_t i = 0; i < p->dim; i++) ws += p->w_star[i] * p->w_star[i];
    if (kind == ALIG_BOUND_D3) {
        const double r = DBL_EPSILON * (sqrt(ws) + sqrt(D0));
        return (double)p->dim * r * r;
    }
    return 16.0 * DBL_EPSILON * (fabs(p->f_star) + fabs(in->f0));
}

/* ------------------------------------------------------------------ set-up */

static alig_status make_instances(const alig_rates_config *cf, instance *inst, const char *const *cls, size_t ncls)
{
    for (size_t a = 0; a < ncls; a++) {
        double f0 = NAN;
        for (size_t e = 0; e < N_EPS; e++) {
            alig_problem_spec sp;
            alig_status st = alig_problem_defaults(cls[a], &sp);
            if (st) return st;
            sp.seed = cf->seed;
            sp.eps = eps_factor[e] * (e ? f0 : 0.0);
            instance *in = &inst[a * N_EPS + e];
            if ((st = alig_problem_make(&in->p, cls[a], &sp))) return st;
            const alig_problem *p = in->p;
            double *w0 = calloc(p->dim, sizeof *w0);
            if (!w0) return ALIG_ENOMEM;
            if (p->w0) memcpy(w0, p->w0, p->dim * sizeof *w0);
            alig_project_l2(ALIG_F64, p->dim, w0, p->radius);
            double D0 = 0;
            for (size_t i = 0; i < p->dim; i++) D0 += (w0[i] - p->w_star[i]) * (w0[i] - p->w_star[i]);
            in->D0 = D0;
            in->f0 = alig_problem_full(in->p, w0, NULL) - p->f_star;
            free(w0);
            if (e == 0) f0 = in->f0;
            in->eps_bound = fmax(p->eps, p->eps_realized);
        }
    }
    return ALIG_SUCCESS;
}

/* The typical ALI-G step at the start, mean_i ℓ_i(w₀)/‖∇ℓ_i(w₀)‖²: the scale of η for a class
 * without a smoothness threshold. */
static double start_step(alig_problem *p)
{
    double *w0 = calloc(p->dim, sizeof *w0), *g = malloc(p->dim * sizeof *g);
    double s = 0;
    size_t m = 0;
    if (w0 && g) {
        if (p->w0) memcpy(w0, p->w0, p->dim * sizeof *w0);
        alig_project_l2(ALIG_F64, p->dim, w0, p->radius);
        for (size_t i = 0; i < p->n; i++) {
            double l = alig_problem_sample(p, i, w0, g), gg = 0;
            for (size_t k = 0; k < p->dim; k++) gg += g[k] * g[k];
            if (gg > 0) { s += l / gg; m++; }
        }
    }
    free(w0);
    free(g);
    return m ? s / (double)m : 1.0;
}

static void set_alig_consts(cfg *c, const instance *in)
{
    const alig_problem *p = in->p;
    c->k = (alig_bound_consts){ .D0 = in->D0, .C = p->lipschitz_C, .beta = p->smooth_beta, .alpha = p->strong_alpha,
                                .eps = in->eps_bound, .delta = c->par.alig.delta, .eta = c->par.alig.eta };
}

/* ------------------------------------------------------------------ the grid of configurations */

/* Axes of the rates grid: common axes first (problem, eps), then the method's own. */
enum { AX_PROBLEM = 0, AX_EPS = 1, AX_METHOD0 = 2 };

/* The configuration with the defaults of its mode filled in; ALIG_EINVAL when out of range. */
static alig_status rates_defaults(const alig_rates_config *cfg_in, alig_rates_config *cf)
{
    *cf = cfg_in ? *cfg_in : (alig_rates_config){ 0 };
    if (!cf->horizon) cf->horizon = cf->full ? 10000 : 1000;
    if (!cf->seeds) cf->seeds = cf->full ? 40 : 12;
    if (!cf->seeds_cap) cf->seeds_cap = cf->full ? 640 : 96;
    if (!cf->per_decade) cf->per_decade = cf->full ? 8 : 4;
    if (!(cf->level > 0)) cf->level = 0.95;
    if (!(cf->bound_scale > 0)) cf->bound_scale = 1.0;
    if (!cf->seed) cf->seed = 1;
    if (cf->seeds < 2 || cf->seeds_cap < cf->seeds || !(cf->level < 1) || !isfinite(cf->bound_scale)
        || cf->horizon < 2 || cf->per_decade > 32 || cf->horizon > ALIG_RATES_MAX_HORIZON
        || cf->seeds_cap > ALIG_RATES_MAX_SEEDS)
        return ALIG_EINVAL;
    return ALIG_SUCCESS;
}

/* The problem classes of a configuration (all, or only_problem); 0 when only_problem is unknown. */
static size_t rates_classes(const alig_rates_config *cf, const char *classes[3])
{
    size_t ncls = 0;
    for (size_t i = 0; alig_problem_names[i]; i++)
        if (!cf->only_problem || !strcmp(cf->only_problem, alig_problem_names[i])) {
            if (ncls == 3) break;
            classes[ncls++] = alig_problem_names[i];
        }
    return ncls;
}

/* Join n words with a separator into buf (the grid's axis syntax). 0 when it does not fit. */
static int join_words(char *buf, size_t len, const char *const *w, size_t n, const char *sep)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(buf + used, len - used, "%s%s", i ? sep : "", w[i]);
        if (k < 0 || (size_t)k >= len - used) return 0;
        used += (size_t)k;
    }
    return 1;
}

/* Build the grid: base `solve --iters T`, common axes problem × eps, methods alig (η × δ),
 * polyak, aprox, sps and sgd (its learning-rate grid). η is a label (low, high, inf) resolved per
 * instance from its constants, ε a label resolved from f(w₀) − f⋆. */
static alig_status rates_grid(const alig_rates_config *cf, const char *const *classes, size_t ncls,
                              alig_grid **out, char *err, size_t errlen)
{
    char buf[512];
    alig_grid *g = NULL;
    alig_status st;
    *out = NULL;
    if ((st = alig_grid_alloc(&g))) return st;
    snprintf(buf, sizeof buf, "solve --iters %zu", cf->horizon);
    if ((st = alig_grid_set_base(g, buf, err, errlen))) goto fail;
    if (!join_words(buf, sizeof buf, classes, ncls, ",")) { st = ALIG_EINVAL; goto fail; }
    if ((st = alig_grid_add_axis(g, (size_t)-1, "problem", buf, err, errlen))) goto fail;
    if (!join_words(buf, sizeof buf, eps_labels, N_EPS, ",")) { st = ALIG_EINVAL; goto fail; }
    if ((st = alig_grid_add_axis(g, (size_t)-1, "eps", buf, err, errlen))) goto fail;

    static const char *const methods[] = { "alig", "polyak", "aprox", "sps", "sgd" };
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        if ((st = alig_grid_add_method(g, methods[m], err, errlen))) goto fail;
        snprintf(buf, sizeof buf, "--solver %s", methods[m]);
        if ((st = alig_grid_set_args(g, m, buf, err, errlen))) goto fail;
    }
    if (!join_words(buf, sizeof buf, eta_labels, N_ETA, ",")) { st = ALIG_EINVAL; goto fail; }
    if ((st = alig_grid_add_axis(g, 0, "eta", buf, err, errlen))) goto fail;
    if (!join_words(buf, sizeof buf, delta_labels, N_DELTA, ",")) { st = ALIG_EINVAL; goto fail; }
    if ((st = alig_grid_add_axis(g, 0, "delta", buf, err, errlen))) goto fail;
    size_t used = 0;
    for (size_t i = 0; i < N_SGD; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%g", i ? "," : "", sgd_grid[i]);
    if ((st = alig_grid_add_axis(g, 4, "lr", buf, err, errlen))) goto fail;
    if ((st = alig_grid_validate(g, err, errlen))) goto fail;
    *out = g;
    return ALIG_SUCCESS;
fail:
    alig_grid_free(g);
    return st;
}

alig_status alig_rates_grid(const alig_rates_config *cfg_in, alig_grid **out, char *err, size_t errlen)
{
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    alig_rates_config cf;
    const char *classes[3];
    size_t ncls;
    if (rates_defaults(cfg_in, &cf) || !(ncls = rates_classes(&cf, classes))) {
        if (err && errlen) snprintf(err, errlen, "invalid rates configuration");
        return ALIG_EINVAL;
    }
    return rates_grid(&cf, classes, ncls, out, err, errlen);
}

/* The configuration of one cell of instance (a, e): its solver and parameters, and for ALI-G the
 * bound constants and the per-step inequalities to assert. */
static void cfg_from_cell(cfg *c, const alig_grid *g, const alig_grid_cell *cell, size_t a, size_t e,
                          const double etas[N_ETA], const instance *in, int lip)
{
    const char *m = g->methods[cell->method].name;
    c->cls = a;
    c->epsi = e;
    c->sgd_index = -1;
    if (!strcmp(m, "alig")) {
        const size_t ie = cell->value[AX_METHOD0], id = cell->value[AX_METHOD0 + 1];
        c->type = alig_solver_alig;
        c->is_alig = 1;
        c->etai = (int)ie;
        c->deltai = (int)id;
        c->par.alig = (alig_params_alig)ALIG_PARAMS_ALIG_DEFAULT;
        c->par.alig.eta = etas[ie];
        c->par.alig.delta = delta_values[id];
        snprintf(c->method, sizeof c->method, "alig eta=%s delta=%s", eta_labels[ie], delta_labels[id]);
        set_alig_consts(c, in);
        c->mask = ALIG_STEP_LEMMA1;
        if (lip) {
            if (alig_bound_applies(ALIG_BOUND_D1, &c->k) == ALIG_SUCCESS) c->mask |= ALIG_STEP_D1;
            if (alig_bound_applies(ALIG_BOUND_D1INF, &c->k) == ALIG_SUCCESS) c->mask |= ALIG_STEP_D1INF;
        } else if (alig_bound_applies(ALIG_BOUND_D2, &c->k) == ALIG_SUCCESS) {
            c->mask |= ALIG_STEP_D2;
        }
    } else if (!strcmp(m, "polyak")) {
        c->type = alig_solver_polyak;
        c->deterministic = 1;
        c->par.polyak = (alig_params_polyak)ALIG_PARAMS_POLYAK_DEFAULT;
        c->par.polyak.f_star = in->p->f_star;
        snprintf(c->method, sizeof c->method, "polyak (f* given)");
    } else if (!strcmp(m, "aprox")) {
        c->type = alig_solver_aprox;
        c->par.aprox = (alig_params_aprox)ALIG_PARAMS_APROX_DEFAULT;
        c->par.aprox.lr = etas[1];
        snprintf(c->method, sizeof c->method, "aprox lr0=%.3g k^-1/2", etas[1]);
    } else if (!strcmp(m, "sps")) {
        c->type = alig_solver_sps;
        c->par.sps = (alig_params_sps)ALIG_PARAMS_SPS_DEFAULT;
        snprintf(c->method, sizeof c->method, "sps c=0.5");
    } else {   /* sgd: the value index is the index into sgd_grid */
        const size_t gi = cell->value[AX_METHOD0];
        c->type = alig_solver_sgd;
        c->sgd_index = (int)gi;
        c->par.sgd = (alig_params_sgd)ALIG_PARAMS_SGD_DEFAULT;
        c->par.sgd.lr = sgd_grid[gi];
        snprintf(c->method, sizeof c->method, "sgd lr=%g", sgd_grid[gi]);
    }
}

/* ------------------------------------------------------------------ main entry */

alig_status alig_rates_run(const alig_rates_config *cfg_in, alig_rates_result **out)
{
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    alig_rates_config cf;
    const char *classes[3];
    size_t ncls;
    if (rates_defaults(cfg_in, &cf)) return ALIG_EINVAL;
    if (!(ncls = rates_classes(&cf, classes))) return ALIG_EINVAL;

    alig_status st = ALIG_SUCCESS;
    alig_rates_result *res = calloc(1, sizeof *res);
    instance inst[3 * N_EPS] = { { 0 } };
    cfg *cfgs = NULL;
    item *items = NULL;
    size_t n_cfg = 0;
    alig_grid *grid = NULL;
    if (!res) return ALIG_ENOMEM;
    res->config = cf;
#ifdef _OPENMP
    res->threads = omp_get_max_threads();
#else
    res->threads = 1;
#endif

    /* ---- checkpoints: T = round(10^(j/per_decade)), distinct, 1..horizon, plus the horizon */
    res->checkpoints = malloc(130 * sizeof *res->checkpoints);
    if (!res->checkpoints) { st = ALIG_ENOMEM; goto fail; }
    for (size_t j = 0; res->n_checkpoints < 129; j++) {
        double T = round(pow(10.0, (double)j / (double)cf.per_decade));
        if (T >= (double)cf.horizon) break;
        if (res->n_checkpoints && T <= res->checkpoints[res->n_checkpoints - 1]) continue;
        res->checkpoints[res->n_checkpoints++] = T;
    }
    res->checkpoints[res->n_checkpoints++] = (double)cf.horizon;
    const double *ck = res->checkpoints;
    const size_t n_ck = res->n_checkpoints;

    /* The generators call OpenBLAS/LAPACKE, whose rounding can depend on the thread count (the
     * strong-convexity constant differed in its last bits between 1 and 2 threads). Inside an
     * active parallel region OpenBLAS runs sequentially, so build the instances there (on the
     * calling thread, so that alig_problem_last_error() stays readable by the caller). */
#ifdef _OPENMP
#pragma omp parallel
#pragma omp master
#endif
    st = make_instances(&cf, inst, classes, ncls);
    if (st) goto fail;

    /* ---- configurations: the cells of the rates grid (alig_rates_grid), instance by instance */
    if ((st = rates_grid(&cf, classes, ncls, &grid, NULL, 0))) goto fail;
    const size_t n_cells = alig_grid_n_cells(grid);
    cfgs = calloc(n_cells, sizeof *cfgs);
    if (!cfgs) { st = ALIG_ENOMEM; goto fail; }
    memcpy(res->sgd_lr_grid, sgd_grid, sizeof sgd_grid);
    res->n_sgd_lr = N_SGD;
    for (size_t a = 0; a < ncls; a++) {
        const int lip = !strcmp(classes[a], "lipschitz");
        const double beta = inst[a * N_EPS].p->smooth_beta;
        const double s = lip ? start_step(inst[a * N_EPS].p) : 1.0 / (4.0 * beta);
        /* Smooth classes: η_low = 1/(8β) below the threshold 1/(4β) of D2/D3, η_high = 1/β above
         * both thresholds (1/(4β) for δ > 0, 1/(2β) for δ = 0). Lipschitz: no threshold; s/4 clips
         * most early steps, s (the mean starting step) about half of them. */
        const double etas[N_ETA] = { lip ? s / 4.0 : s / 2.0, lip ? s : 4.0 * s, INFINITY };
        for (size_t e = 0; e < N_EPS; e++) {
            const instance *in = &inst[a * N_EPS + e];
            alig_rates_instance *ri = &res->instances[res->n_instances++];
            snprintf(ri->problem, sizeof ri->problem, "%s", classes[a]);
            snprintf(ri->eps_label, sizeof ri->eps_label, "%s", eps_labels[e]);
            ri->n = in->p->n;
            ri->dim = in->p->dim;
            ri->eps = in->eps_bound;
            ri->f_star = in->p->f_star;
            ri->f0 = in->f0;
            ri->D0 = in->D0;
            ri->C = in->p->lipschitz_C;
            ri->beta = in->p->smooth_beta;
            ri->alpha = in->p->strong_alpha;
            ri->eta_low = etas[0];
            ri->eta_high = etas[1];
            /* the cells of this instance, in grid order: ALI-G's η × δ, Polyak, APROX, SPS, SGD's rates */
            for (size_t i = 0; i < n_cells; i++) {
                alig_grid_cell cell;
                if ((st = alig_grid_cell_at(grid, i, &cell))) goto fail;
                if (cell.value[AX_PROBLEM] != a || cell.value[AX_EPS] != e) continue;
                cfg_from_cell(&cfgs[n_cfg++], grid, &cell, a, e, etas, in, lip);
            }
        }
    }

    /* ---- cases: one per (ALI-G configuration, bound of its class) */
    res->cases = calloc(n_cfg * MAX_CASES_PER_CFG, sizeof *res->cases);
    if (!res->cases) { st = ALIG_ENOMEM; goto fail; }
    for (size_t i = 0; i < n_cfg; i++) {
        cfg *c = &cfgs[i];
        if (!c->is_alig) continue;
        const char *cn = classes[c->cls];
        alig_bound_kind kinds[MAX_CASES_PER_CFG];
        size_t nk = 0;
        if (!strcmp(cn, "lipschitz")) {
            kinds[nk++] = ALIG_BOUND_D1;
            if (c->etai == 2) kinds[nk++] = ALIG_BOUND_D1INF;
        } else if (!strcmp(cn, "smooth")) {
            kinds[nk++] = ALIG_BOUND_D2;
        } else {
            kinds[nk++] = ALIG_BOUND_D3;
            kinds[nk++] = ALIG_BOUND_D2;
        }
        for (size_t q = 0; q < nk; q++) {
            alig_rates_case *cs = &res->cases[res->n_cases];
            c->case_idx[c->n_case++] = res->n_cases++;
            snprintf(cs->problem, sizeof cs->problem, "%s", cn);
            snprintf(cs->eps_label, sizeof cs->eps_label, "%s", eps_labels[c->epsi]);
            snprintf(cs->eta_label, sizeof cs->eta_label, "%s", eta_labels[c->etai]);
            snprintf(cs->id, sizeof cs->id, "%s/eps=%s/eta=%s/delta=%s/%s", cn, eps_labels[c->epsi],
                     eta_labels[c->etai], delta_labels[c->deltai], alig_bound_name(kinds[q]));
            cs->eps = c->k.eps;
            cs->eta = c->k.eta;
            cs->delta = c->k.delta;
            cs->bound = kinds[q];
            cs->consts = c->k;
            cs->quantity = kinds[q] == ALIG_BOUND_D1 ? "E f(wbar_T)" : kinds[q] == ALIG_BOUND_D3 ? "E|w_T-w*|^2"
                                                                                               : "E f(wbar_T)-f*";
            cs->max_ratio = cs->rate_fit = cs->rate_fit_se = cs->rate_theory = cs->max_ratio_T = cs->final_ratio = NAN;
            cs->rate_fit_early = cs->rate_fit_late = NAN;
            alig_status ap = alig_bound_applies(kinds[q], &c->k);
            if (ap != ALIG_SUCCESS) {
                cs->verdict = ALIG_VERDICT_NA;
                if (ap == ALIG_EINVAL)
                    snprintf(cs->reason, sizeof cs->reason, "a constant of the bound is unknown for this instance");
                else if (kinds[q] == ALIG_BOUND_D1INF && c->k.delta == 0)
                    snprintf(cs->reason, sizeof cs->reason, "D1inf needs delta > 0");
                else if (kinds[q] == ALIG_BOUND_D1)
                    snprintf(cs->reason, sizeof cs->reason, "eps > 0 with eta = inf: D1 is vacuous (D1inf covers it)");
                else
                    snprintf(cs->reason, sizeof cs->reason, "eps > 0 with eta = inf: no bound proved");
                snprintf(cs->fit_note, sizeof cs->fit_note, "n/a");
                continue;
            }
            cs->bound_values = malloc(n_ck * sizeof *cs->bound_values);
            cs->curve.mean = malloc(n_ck * sizeof(double));
            cs->curve.lo = malloc(n_ck * sizeof(double));
            cs->curve.hi = malloc(n_ck * sizeof(double));
            if (!cs->bound_values || !cs->curve.mean || !cs->curve.lo || !cs->curve.hi) { st = ALIG_ENOMEM; goto fail; }
            for (size_t j = 0; j < n_ck; j++) cs->bound_values[j] = cf.bound_scale * alig_bound_eval(kinds[q], &c->k, ck[j]);
            cs->resolution = resolution_of(kinds[q], &inst[c->cls * N_EPS + c->epsi]);
        }
    }

    /* ---- round 0: R runs of everything (one run of a deterministic method) */
    size_t items_bytes;
    if (!alig_size_mul3(n_cfg, cf.seeds_cap, sizeof *items, &items_bytes)) { st = ALIG_ENOMEM; goto fail; }
    items = malloc(items_bytes);
    if (!items) { st = ALIG_ENOMEM; goto fail; }
    size_t n_items = 0;
    for (size_t i = 0; i < n_cfg; i++) {
        cfg *c = &cfgs[i];
        size_t R = c->deterministic ? 1 : cf.seeds;
        if ((st = cfg_reserve(c, R, n_ck))) goto fail;
        for (size_t r = 0; r < R; r++) items[n_items++] = (item){ i, r };
        c->runs = R;
    }
    if ((st = run_items(cfgs, items, n_items, inst, ck, n_ck, cf.seed))) goto fail;
    res->total_runs = n_items;

    /* ---- decide; rerun undecided configurations with twice the runs, up to the cap */
    for (;;) {
        n_items = 0;
        for (size_t i = 0; i < n_cfg; i++) {
            cfg *c = &cfgs[i];
            int undecided = 0;
            for (size_t q = 0; q < c->n_case; q++) {
                alig_rates_case *cs = &res->cases[c->case_idx[q]];
                if (cs->verdict == ALIG_VERDICT_NA) continue;
                if ((st = curve_stats(c, cs, inst[c->cls * N_EPS + c->epsi].p->f_star, n_ck, cf.level))) goto fail;
                decide(c, cs, ck, n_ck);
                if (cs->verdict == ALIG_VERDICT_INCONCLUSIVE) undecided = 1;
            }
            if (!undecided || c->runs >= cf.seeds_cap) continue;
            size_t R = c->runs * 2 < cf.seeds_cap ? c->runs * 2 : cf.seeds_cap;
            if ((st = cfg_reserve(c, R, n_ck))) goto fail;
            for (size_t r = c->runs; r < R; r++) items[n_items++] = (item){ i, r };
            c->runs = R;
        }
        if (!n_items) break;
        if ((st = run_items(cfgs, items, n_items, inst, ck, n_ck, cf.seed))) goto fail;
        res->total_runs += n_items;
    }
    for (size_t i = 0; i < res->n_cases; i++) {
        alig_rates_case *cs = &res->cases[i];
        if (cs->verdict == ALIG_VERDICT_NA) continue;
        /* find its cfg for f⋆ */
        for (size_t c = 0; c < n_cfg; c++)
            for (size_t q = 0; q < cfgs[c].n_case; q++)
                if (cfgs[c].case_idx[q] == i)
                    fit_rate(cs, ck, n_ck, inst[cfgs[c].cls * N_EPS + cfgs[c].epsi].p->f_star, cf.bound_scale,
                             cf.level);
    }

    /* ---- side table: every method per instance; SGD at its best grid rate */
    res->methods = calloc(n_cfg, sizeof *res->methods);
    double *mean_f = malloc(n_ck * sizeof *mean_f), *mean_a = malloc(n_ck * sizeof *mean_a);
    if (!res->methods || !mean_f || !mean_a) { free(mean_f); free(mean_a); st = ALIG_ENOMEM; goto fail; }
    for (size_t i = 0; i < n_cfg; i++) {
        cfg *c = &cfgs[i];
        if (c->sgd_index > 0) continue;          /* the SGD block is handled at its first entry */
        cfg *m = c;
        char note[20] = "";
        if (c->sgd_index == 0) {
            /* best = smallest mean last-iterate gap at the horizon (diverged runs count as +∞) */
            double best = INFINITY;
            for (size_t g = 0; g < N_SGD; g++) {
                cfg *cg = &cfgs[i + g];
                double s = 0;
                for (size_t r = 0; r < cg->runs; r++) s += cg->fg[r * n_ck + n_ck - 1];
                s /= (double)cg->runs;
                if (s < best) { best = s; m = cg; }
            }
            snprintf(note, sizeof note, " (best of grid)");
        }
        const instance *in = &inst[m->cls * N_EPS + m->epsi];
        for (size_t j = 0; j < n_ck; j++) {
            double sf = 0, sa = 0;
            for (size_t r = 0; r < m->runs; r++) { sf += m->fg[r * n_ck + j]; sa += m->ag[r * n_ck + j]; }
            mean_f[j] = sf / (double)m->runs;
            mean_a[j] = sa / (double)m->runs;
        }
        alig_rates_method *mt = &res->methods[res->n_methods++];
        snprintf(mt->problem, sizeof mt->problem, "%s", classes[m->cls]);
        snprintf(mt->eps_label, sizeof mt->eps_label, "%s", eps_labels[m->epsi]);
        snprintf(mt->method, sizeof mt->method, "%.30s%.17s", m->method, note);
        mt->runs = m->runs;
        mt->final_gap = mean_f[n_ck - 1];
        mt->final_avg_gap = mean_a[n_ck - 1];
        mt->target = 1e-3 * in->f0;
        mt->iters_to_target = INFINITY;
        for (size_t j = 0; j < n_ck; j++)
            if (mean_f[j] <= mt->target) { mt->iters_to_target = ck[j]; break; }
        fit_method(mean_f, ck, n_ck, in->p->f_star, in->f0, &mt->rate_fit, &mt->rate_fit_se);
    }
    free(mean_f);
    free(mean_a);

    for (size_t i = 0; i < n_cfg; i++) cfg_free(&cfgs[i]);
    free(cfgs);
    free(items);
    alig_grid_free(grid);
    for (size_t i = 0; i < 3 * N_EPS; i++) alig_problem_free(inst[i].p);
    *out = res;
    return ALIG_SUCCESS;

fail:
    for (size_t i = 0; i < n_cfg; i++) cfg_free(&cfgs[i]);
    free(cfgs);
    free(items);
    alig_grid_free(grid);
    for (size_t i = 0; i < 3 * N_EPS; i++) alig_problem_free(inst[i].p);
    alig_rates_free(res);
    return st;
}

void alig_rates_free(alig_rates_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_cases; i++) {
        free(r->cases[i].bound_values);
        free(r->cases[i].curve.mean);
        free(r->cases[i].curve.lo);
        free(r->cases[i].curve.hi);
    }
    free(r->cases);
    free(r->methods);
    free(r->checkpoints);
    free(r);
}
