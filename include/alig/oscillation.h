/**
 * @file oscillation.h
 * @brief The non-convex 1-D example: Polyak / ALI-G∞ cycles between two symmetric points,
 *        ALI-G with a maximal learning rate η < 2/L converges (docs/oscillation.md).
 *
 * The function is this project's own construction with the properties the paper's example
 * needs (docs/oscillation.md §1). With u = |x|:
 *
 *     f(x) = 0.1 u²                         u ≤ 1
 *            0.1 + 0.2(u − 1) − 0.1(u − 1)²  1 < u ≤ 1.9
 *            0.02 u + 0.161                 u > 1.9
 *
 * f is even, C¹ and L-smooth with L = 0.2 (f'' ∈ {0.2, −0.2, 0}); f ≥ 0, its only stationary
 * point is the minimiser x⋆ = 0 and f⋆ = 0, so interpolation holds with ε = 0 and the lower
 * bound B = 0 is exact. On the linear tail the Polyak map is x ↦ x − f/f' = −8.05 for every
 * x > 1.9, hence the 2-cycle ±8.05 (super-stable since f'' = 0 there).
 *
 * Every step is taken by the library's solver core: a 1-element double alig_solver driven with
 * the full loss f(x) and gradient f'(x) through alig_solver_step(). ALI-G∞ is the "alig" type
 * with η = INFINITY; the "polyak" type with f⋆ = 0 takes the same steps.
 *
 * Outcomes are detected from the trajectory, not assumed (alig_osc_classify()):
 *   - CONVERGED  the last iterate is within x_tol of x⋆ (or f − f⋆ ≤ f_tol);
 *   - CYCLED     the tail repeats with a minimal period p ≤ period_max,
 *                |x_{t+p} − x_t| ≤ cycle_tol·(1 + |x_t|) for at least `window` consecutive t,
 *                while f shows no net decrease over that stretch;
 *   - DIVERGED   a non-finite iterate or a solver error;
 *   - UNDECIDED  none of the above.
 *
 * Nothing here prints, exits or keeps global state; every function is reentrant.
 */
#ifndef ALIG_OSCILLATION_H
#define ALIG_OSCILLATION_H

#include <stddef.h>
#include "alig/status.h"
#include "alig/solver.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ALIG_OSC_SMOOTHNESS 0.2     /**< L, the smoothness constant of f */
#define ALIG_OSC_ETA_THEORY 10.0    /**< 2/L: ALI-G provably converges for every η below it */
#define ALIG_OSC_X0 8.05            /**< default start; also the Polyak 2-cycle point */
#define ALIG_OSC_PERIOD_MAX 8       /**< largest period alig_osc_classify() can report */
#define ALIG_OSC_ABSORBING_RADIUS 1.0 /**< ALI-G (any η > 0, δ ≥ 0, μ = 0) never leaves |x| ≤ 1 once there */

/** @brief f(x) of the stand-in function (see the file comment). */
double alig_osc_f(double x);
/** @brief f'(x). Odd; f'(0) = 0. */
double alig_osc_grad(double x);
/** @brief f''(x) on the piece that contains |x| (pieces closed on the right: u ≤ 1, 1 < u ≤ 1.9, u > 1.9). */
double alig_osc_curvature(double x);

/**
 * @brief Run `iters` steps of a solver on f from x0 and record the iterates.
 * @param type    a solver type, e.g. alig_solver_alig or alig_solver_polyak.
 * @param params  its parameter struct (NULL = the type's defaults).
 * @param x       caller-owned, iters + 1 entries: x[0] = x0, x[t] the t-th iterate.
 * @param fx      NULL or iters + 1 entries: f(x[t]).
 * @param step    NULL or iters entries: step[t] = γ_t, the (clipped) step that produced x[t+1].
 * @param n_done  NULL or receives the number of steps completed (iters on success).
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL type or x, non-finite x0); a parameter status of the
 *         type; ALIG_ENOMEM; ALIG_ENONFINITE if a step produced a non-finite iterate (entries up
 *         to x[*n_done] are valid).
 */
alig_status alig_osc_trajectory(const alig_solver_type *type, const void *params, double x0, size_t iters,
                                double *x, double *fx, double *step, size_t *n_done);

/** What a trajectory did. */
typedef enum alig_osc_outcome {
    ALIG_OSC_UNDECIDED = 0,
    ALIG_OSC_CONVERGED = 1,
    ALIG_OSC_CYCLED = 2,
    ALIG_OSC_DIVERGED = 3
} alig_osc_outcome;

/** @brief "undecided", "converged", "cycled", "diverged"; "unknown" otherwise. Never NULL. */
const char *alig_osc_outcome_name(alig_osc_outcome o);

/** Detection thresholds. */
typedef struct alig_osc_detect {
    double x_star;      /**< the minimiser [0] */
    double f_star;      /**< the minimum value [0] */
    double x_tol;       /**< converged when |x_T − x⋆| ≤ x_tol [1e-2] */
    double f_tol;       /**< ... or when f(x_T) − f⋆ ≤ f_tol [0] */
    size_t period_max;  /**< largest period searched, 1..ALIG_OSC_PERIOD_MAX [8] */
    double cycle_tol;   /**< relative closeness of x_{t+p} to x_t [1e-9] */
    double f_rel_tol;   /**< allowed relative net decrease of f over the periodic stretch [1e-12] */
    size_t window;      /**< least number of consecutive periodic t that count as a cycle [100] */
} alig_osc_detect;
#define ALIG_OSC_DETECT_DEFAULT { .x_star = 0.0, .f_star = 0.0, .x_tol = 1e-2, .f_tol = 0.0, \
    .period_max = 8, .cycle_tol = 1e-9, .f_rel_tol = 1e-12, .window = 100 }

/** The verdict on one trajectory. */
typedef struct alig_osc_verdict {
    alig_osc_outcome outcome;
    size_t period;                       /**< CYCLED: the minimal period p; otherwise 0 */
    double points[ALIG_OSC_PERIOD_MAX];  /**< CYCLED: the p points of the last period, ascending */
    size_t since;                        /**< CONVERGED: first t from which the criterion holds to the end;
                                              CYCLED: first t from which x_{t+p} ≈ x_t holds to the end;
                                              DIVERGED: index of the first non-finite entry; else 0 */
    double x_last;                       /**< the last (finite) iterate */
    double f_last;                       /**< f at x_last, as given */
} alig_osc_verdict;

/**
 * @brief Classify a sequence x[0..len−1] with values fx[0..len−1] (see the file comment).
 *        Convergence is judged on the last entry; a cycle needs len ≥ window + period.
 * @param d  NULL = ALIG_OSC_DETECT_DEFAULT.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL x, fx or v; period_max outside 1..ALIG_OSC_PERIOD_MAX;
 *         negative or NaN tolerance; window 0); ALIG_EBADLEN (len = 0).
 */
alig_status alig_osc_classify(const double *x, const double *fx, size_t len, const alig_osc_detect *d,
                              alig_osc_verdict *v);

/** Most steps per run (iters, max_iters) the oscillation experiment accepts: 10⁸, about 1.6 GB
 *  for a recorded run's iterates and values. A larger value is ALIG_EBADLEN, not an allocation. */
#define ALIG_OSC_MAX_ITERS ((size_t)100000000)

/** One experiment setting: start, δ, number of steps, detection thresholds. */
typedef struct alig_osc_config {
    double x0;              /**< start [8.05] */
    double delta;           /**< ALI-G's δ ≥ 0 [0] */
    size_t iters;           /**< steps per run, and per extension of an undecided run [3000]; at most
                                 ALIG_OSC_MAX_ITERS (a run records iters + 1 iterates) */
    size_t max_iters;       /**< an UNDECIDED run is extended by `iters` steps until this total [100000] */
    alig_osc_detect detect; /**< [ALIG_OSC_DETECT_DEFAULT] */
} alig_osc_config;
#define ALIG_OSC_CONFIG_DEFAULT { .x0 = ALIG_OSC_X0, .delta = 0.0, .iters = 3000, .max_iters = 100000, \
    .detect = ALIG_OSC_DETECT_DEFAULT }

/**
 * @brief Run ALI-G (η, c->delta, no momentum, B = 0) from c->x0 and classify the trajectory.
 *        η = INFINITY is ALI-G∞ (with δ = 0: the Polyak step with f⋆ = 0).
 *
 * The run takes c->iters steps and is classified on those (alig_osc_classify with c->detect).
 * It stops early, CONVERGED, at the first t with |x_t − x⋆| ≤ x_tol when x_tol ≤
 * ALIG_OSC_ABSORBING_RADIUS (that set is invariant, so the run has converged for good).
 * An UNDECIDED run (slow progress, e.g. tiny η) is continued from its last iterate in further
 * segments of c->iters steps, each classified alone, until decided or c->max_iters steps in all;
 * this continuation is exact because ALI-G without momentum is memoryless. `since` counts from
 * the start of the whole run.
 * @param c  NULL = ALIG_OSC_CONFIG_DEFAULT.
 * @return ALIG_SUCCESS (a run that blows up is a DIVERGED verdict, not an error); ALIG_EBADETA,
 *         ALIG_EBADDELTA; ALIG_EBADLEN (iters = 0); ALIG_EINVAL; ALIG_ENOMEM.
 */
alig_status alig_osc_probe(const alig_osc_config *c, double eta, alig_osc_verdict *v);

/** The η scan: which grids, how they are refined, how fine the bisection. */
typedef struct alig_osc_scan_spec {
    double eta_step;        /**< grid spacing h, both below and above the threshold [0.01] */
    double eta_max;         /**< the upward scan stops here [1000] */
    unsigned refine_levels; /**< refinement passes after the grid [2] */
    double refine_factor;   /**< each pass divides the step by this (> 1) [100] */
    double refine_cells;    /**< each pass rescans this many previous steps below the first failure [100] */
    double bisect_tol;      /**< bisection stops when the bracket is this narrow [1e-9] */
} alig_osc_scan_spec;
#define ALIG_OSC_SCAN_DEFAULT { .eta_step = 0.01, .eta_max = 1000.0, .refine_levels = 2, \
    .refine_factor = 100.0, .refine_cells = 100.0, .bisect_tol = 1e-9 }

/** Phases of the scan, as reported to the observer. */
typedef enum alig_osc_phase {
    ALIG_OSC_PHASE_BELOW = 0,   /**< grid η_k = k·h < 2/L, k = 1, 2, ... */
    ALIG_OSC_PHASE_ABOVE = 1,   /**< grid η_k = 2/L + k·h, k = 0, 1, ..., up to the first failure */
    ALIG_OSC_PHASE_REFINE = 2,  /**< finer grids just below the first failure found so far */
    ALIG_OSC_PHASE_BISECT = 3   /**< bisection between the last converging and first failing points */
} alig_osc_phase;

/** Observer: called once per probe, in order. Return non-zero to cancel (alig_osc_scan returns ALIG_SUCCESS
 *  with the result so far). */
typedef int (*alig_osc_scan_observer)(double eta, alig_osc_phase phase, const alig_osc_verdict *v, void *ctx);

/** What the scan found. "Fails" means any outcome other than CONVERGED. */
typedef struct alig_osc_scan_result {
    double threshold_theory;        /**< 2/L = 10 */
    int converged_below_theory;     /**< 1 if ALI-G converged at every tested η < 2/L */
    size_t n_below;                 /**< number of η tested below 2/L */
    double first_failure_below;     /**< smallest failing η below 2/L, NAN if none */
    int found_failure;              /**< 1 if a failing grid point exists in [2/L, eta_max] */
    double grid_last_converged;     /**< grid (step h): last converging point before the first failing one */
    double grid_first_failed;       /**< grid (step h): first failing point (NAN if none) */
    double fine_step;               /**< step of the finest refinement pass (h if none ran) */
    double fine_last_converged;     /**< finest pass: last converging point before its first failure */
    double fine_first_failed;       /**< finest pass: first failing point */
    double threshold_measured;      /**< failing end of the final bisection bracket (NAN if no failure) */
    double threshold_converged;     /**< converging end of the final bisection bracket (NAN if no failure) */
    alig_osc_verdict at_threshold;  /**< verdict at threshold_measured */
    size_t n_probes;                /**< runs made in total */
} alig_osc_scan_result;

/**
 * @brief Scan η for the smallest η at which ALI-G fails to converge from c->x0.
 *
 *   1. grid η = k·h below 2/L: every point must converge (the theorem);
 *   2. grid η = 2/L + k·h upward until the first failing point b (or eta_max);
 *   3. refine_levels passes: h ← h/refine_factor, rescan [b − refine_cells·h_old, b) on the finer
 *      grid; its first failure (if any) becomes the new b;
 *   4. bisection between the last converging point a and b, to width bisect_tol.
 *
 * The outcome is not monotone in η (failure windows alternate with convergence windows, some
 * narrower than any fixed grid; docs/oscillation.md), so the result is the first failure the grids
 * resolve, refined by bisection: an upper bound on the infimum of failing η, exact when no failure
 * window hides below the refined range or between grid points.
 * @param c    NULL = ALIG_OSC_CONFIG_DEFAULT.  @param s  NULL = ALIG_OSC_SCAN_DEFAULT.
 * @param obs  NULL or called after every probe.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL r, eta_step ≤ 0, eta_max < 2/L, refine_factor ≤ 1,
 *         refine_cells ≤ 0, bisect_tol ≤ 0, NaNs); the statuses of alig_osc_probe().
 */
alig_status alig_osc_scan(const alig_osc_config *c, const alig_osc_scan_spec *s, alig_osc_scan_observer obs,
                          void *ctx, alig_osc_scan_result *r);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_OSCILLATION_H */
