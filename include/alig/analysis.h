/**
 * @file analysis.h
 * @brief Convergence bounds of ALI-G (docs/theory.md) as code, their per-step inequalities,
 *        and the statistics used to check them empirically (`alig rates`).
 *
 * The bounds are this project's own (docs/theory.md states and proves each one); they have the
 * shape of the paper's results but not necessarily its constants. Notation:
 *   D₀ = ‖w₀ − w⋆‖² (w₀ the projected start), C Lipschitz constant of every ℓ_z on Ω,
 *   β smoothness of every ℓ_z, α strong convexity of f on Ω, ε interpolation tolerance
 *   (ℓ_z(w⋆) ≤ ε for every z), δ and η the ALI-G parameters (η = INFINITY is ALI-G∞),
 *   T the number of steps, w̄_T the uniform average of w₀..w_T.
 *
 *   D1   convex, C-Lipschitz:  E f(w̄_T) ≤ φ⁻¹(D₀/(T+1) + 2ηε)                 O(1/√T)
 *   D1∞  same, η = ∞, δ > 0:   E f(w̄_T) − f⋆ ≤ √((C²+δ)(D₀/(T+1) + ε²/δ))      O(1/√T)
 *   D2   convex, β-smooth:     E f(w̄_T) − f⋆ ≤ D₀/(γ_min(T+1)) + (2η/γ_min − 1)ε + [δ>0]δ/(2β)
 *   D3   + α-strongly convex:  E‖w_T − w⋆‖² ≤ q^T D₀ + c(1 − q^T)/(1 − q),  q = 1 − αγ_min/2
 *
 * Every function is pure, thread-safe and never prints. Bound functions return NAN when the
 * hypotheses of the bound are not met (see alig_bound_applies) and +INFINITY when the bound
 * is valid but vacuous.
 *
 * Example:
 * @code
 *   alig_bound_consts k = { .D0 = 4, .C = 1, .eps = 0, .delta = 0, .eta = INFINITY };
 *   double b = alig_bound_d1(&k, 99);     // sqrt(1 * 4/100) = 0.2
 * @endcode
 */
#ifndef ALIG_ANALYSIS_H
#define ALIG_ANALYSIS_H

#include <stddef.h>
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ bounds */

/** Constants of one instance and one ALI-G configuration. Unused constants may be NAN. */
typedef struct alig_bound_consts {
    double D0;      /**< ‖w₀ − w⋆‖² >= 0 (w₀ after projection onto Ω) */
    double C;       /**< Lipschitz constant of every ℓ_z on Ω (D1, D1∞) */
    double beta;    /**< smoothness of every ℓ_z on ℝ^p (D2, D3) */
    double alpha;   /**< strong convexity of f on Ω (D3), 0 < α <= β */
    double eps;     /**< interpolation tolerance ε >= 0 */
    double delta;   /**< ALI-G δ >= 0 */
    double eta;     /**< ALI-G η > 0, INFINITY for ALI-G∞ */
} alig_bound_consts;

typedef enum alig_bound_kind {
    ALIG_BOUND_D1 = 0,  /**< bounds E f(w̄_T) (hence also E f(w̄_T) − f⋆) */
    ALIG_BOUND_D1INF,   /**< bounds E f(w̄_T) − f⋆ */
    ALIG_BOUND_D2,      /**< bounds E f(w̄_T) − f⋆ */
    ALIG_BOUND_D3,      /**< bounds E‖w_T − w⋆‖² (last iterate) */
    ALIG_BOUND_COUNT
} alig_bound_kind;

/** @return "D1", "D1inf", "D2", "D3" (never NULL; "?" for an unknown kind). */
const char *alig_bound_name(alig_bound_kind kind);

/**
 * @brief Whether bound `kind` is proved for these constants.
 * @return ALIG_SUCCESS; ALIG_EUNSUPPORTED when a hypothesis fails (D1 with ε > 0 and η = ∞ is
 *         vacuous; D1∞ needs η = ∞ and δ > 0; D2 and D3 need η < ∞ when ε > 0; D3 needs α > 0);
 *         ALIG_EINVAL for a constant the bound needs that is NaN, negative or out of range
 *         (C, β, α finite; β > 0; D₀, ε, δ finite and >= 0; η > 0).
 */
alig_status alig_bound_applies(alig_bound_kind kind, const alig_bound_consts *k);

/** Exact φ⁻¹(R) form of D1 after T steps (T+1 averaged iterates). +INFINITY if ε > 0, η = ∞. */
double alig_bound_d1(const alig_bound_consts *k, double T);
/** The looser closed form √(aR) + R/η of D1 (R/η dropped for η = ∞). */
double alig_bound_d1_simple(const alig_bound_consts *k, double T);
/** D1∞: √((C² + δ)(D₀/(T+1) + ε²/δ)); NAN unless η = ∞ and δ > 0. */
double alig_bound_d1inf(const alig_bound_consts *k, double T);
/** D2: D₀/(γ_min(T+1)) + (2η/γ_min − 1)ε + [δ>0]δ/(2β). */
double alig_bound_d2(const alig_bound_consts *k, double T);
/** D3: q^T D₀ + c(1 − q^T)/(1 − q) with q = 1 − αγ_min/2, c = (2η − γ_min)ε + [δ>0]γ_min δ/(2β). */
double alig_bound_d3(const alig_bound_consts *k, double T);

/** γ_min = min(η, 1/(2β)) if δ = 0, min(η, 1/(4β)) if δ > 0 (NAN if β is not > 0). */
double alig_bound_gamma_min(const alig_bound_consts *k);
/** Contraction factor q = 1 − αγ_min/2 of D3. */
double alig_bound_d3_q(const alig_bound_consts *k);

/** The bound of `kind` after T steps, NAN when it does not apply (alig_bound_applies). */
double alig_bound_eval(alig_bound_kind kind, const alig_bound_consts *k, double T);
/** The limit of the bound as T → ∞ (its error floor; 0 when there is none). */
double alig_bound_floor(alig_bound_kind kind, const alig_bound_consts *k);
/**
 * @brief The rate the bound guarantees above its floor: the slope of log(bound) against log T for
 *        D1, D1∞ (−1/2) and D2 (−1), and against T for D3 (log q per step, natural logarithm).
 */
double alig_bound_rate(alig_bound_kind kind, const alig_bound_consts *k);

/* ------------------------------------------------------------------ per-step inequalities */

/** One ALI-G step t → t+1 as observed. */
typedef struct alig_step_obs {
    double D_prev;      /**< D_t = ‖w_t − w⋆‖² */
    double D_next;      /**< D_{t+1} = ‖w_{t+1} − w⋆‖² */
    double loss;        /**< ℓ_t = ℓ_{z_t}(w_t) (the mini-batch mean loss) */
    double loss_star;   /**< ℓ⋆_t = ℓ_{z_t}(w⋆), same samples */
    double step;        /**< γ_t, the step actually taken */
} alig_step_obs;

/** The inequalities of docs/theory.md that hold for every realisation (bit flags). */
typedef enum alig_step_ineq {
    ALIG_STEP_LEMMA1 = 1,   /**< D_{t+1} <= D_t − γ_t ℓ_t + 2γ_t ℓ⋆_t */
    ALIG_STEP_D1 = 2,       /**< D_{t+1} <= D_t − φ(ℓ_t) + 2ηε   (needs C, ‖g‖ <= C) */
    ALIG_STEP_D1INF = 4,    /**< D_{t+1} <= D_t − (ℓ_t − ℓ⋆_t)²/(C² + δ) + ℓ⋆_t²/δ   (η = ∞, δ > 0) */
    ALIG_STEP_D2 = 8        /**< D_{t+1} <= D_t − γ_min(ℓ_t − 2ℓ⋆_t) + 2(η − γ_min)ε + [δ>0]γ_min δ/(2β) */
} alig_step_ineq;

/** The Huber minorant φ of D1: x²/a for x <= ηa/2, ηx − η²a/4 beyond (a = C² + δ); x²/a if η = ∞. */
double alig_bound_phi(const alig_bound_consts *k, double x);

/** Right-hand side of one per-step inequality (`which` is one flag); NAN if it does not apply. */
double alig_step_rhs(alig_step_ineq which, const alig_bound_consts *k, const alig_step_obs *o);

/**
 * @brief Check the inequalities in `mask` for one step, with an absolute slack
 *        rel_slack·(1 + D_t + |γ_t ℓ_t| + |terms of the right-hand side|) for rounding.
 * @return the mask of the inequalities that fail (0 when all hold). Inequalities whose
 *         right-hand side does not apply (NAN) are skipped, never reported as failing.
 */
unsigned alig_step_check(unsigned mask, const alig_bound_consts *k, const alig_step_obs *o, double rel_slack);

/* ------------------------------------------------------------------ statistics */

/** Mean and two-sided confidence interval of a sample. */
typedef struct alig_ci {
    size_t n;
    double mean, sd, se;    /**< sample mean, standard deviation (n − 1), standard error sd/√n */
    double lo, hi;          /**< mean ∓ t_{n−1, (1+level)/2}·se */
} alig_ci;

/**
 * @brief Student-t confidence interval of the mean of x[0..n-1] (gsl_stats_mean, gsl_stats_sd,
 *        gsl_cdf_tdist_Pinv).
 * @param level  coverage in (0, 1), e.g. 0.95.
 * @return ALIG_SUCCESS; ALIG_EBADLEN if n < 2; ALIG_EINVAL (NULL, bad level);
 *         ALIG_ENONFINITE if a value is not finite.
 */
alig_status alig_stats_ci(const double *x, size_t n, double level, alig_ci *out);

/** Weighted straight-line fit y ≈ intercept + slope·x. */
typedef struct alig_fit {
    size_t n;
    double intercept, slope;
    double intercept_se, slope_se;  /**< standard errors, scaled by √max(1, χ²/(n − 2)) */
    double chisq;                   /**< Σ w_i (y_i − intercept − slope·x_i)² */
} alig_fit;

/**
 * @brief Weighted least squares (gsl_fit_wlinear) with weights w_i = 1/σ_i² (w = NULL: all 1).
 *        The standard errors are those implied by the weights, inflated by √(χ²/(n−2)) when the
 *        residuals are larger than the weights claim (so a misfit widens, never narrows, them).
 * @return ALIG_SUCCESS; ALIG_EBADLEN if n < 3; ALIG_EINVAL (NULL, a weight <= 0, or all x
 *         equal); ALIG_ENONFINITE for a non-finite input.
 */
alig_status alig_fit_wline(const double *x, const double *y, const double *w, size_t n, alig_fit *out);

/* ------------------------------------------------------------------ the rates experiment */

/** Outcome of comparing one case with its bound. */
typedef enum alig_verdict {
    ALIG_VERDICT_HELD = 0,      /**< upper 95% limit under the bound at every checkpoint, no per-step failure */
    ALIG_VERDICT_VIOLATED,      /**< lower limit above the bound at a checkpoint, or a per-step inequality failed */
    ALIG_VERDICT_INCONCLUSIVE,  /**< undecided at some checkpoint after the seed cap */
    ALIG_VERDICT_NA             /**< the bound's hypotheses are not met (reason in the case) */
} alig_verdict;

/** "held", "violated", "inconclusive", "n/a". */
const char *alig_verdict_name(alig_verdict v);

/** Longest horizon alig_rates_run() accepts (10⁹ steps): checkpoints are exact in a double far
 *  beyond it, and a larger value is an input error, never a run. */
#define ALIG_RATES_MAX_HORIZON ((size_t)1000000000)
/** Most runs per case alig_rates_run() accepts (--seeds, --seeds-cap): 2²⁰. */
#define ALIG_RATES_MAX_SEEDS ((size_t)1 << 20)

/** Settings of alig_rates_run(). Zero fields take the defaults of the chosen mode. */
typedef struct alig_rates_config {
    int full;                   /**< 0: quick grid; 1: full grid (longer horizon, more seeds) */
    size_t horizon;             /**< T [quick 1000, full 10000], at most ALIG_RATES_MAX_HORIZON */
    size_t seeds;               /**< initial number R of independent runs per case [quick 12, full 40] */
    size_t seeds_cap;           /**< most runs per case when undecided [quick 96, full 640], at most
                                     ALIG_RATES_MAX_SEEDS */
    size_t per_decade;          /**< checkpoints per decade of T [quick 4, full 8] */
    double level;               /**< confidence level [0.95] */
    double bound_scale;         /**< multiply every bound by this (test hook; < 1 must fail) [1] */
    unsigned long seed;         /**< base of the per-run seeds [1] */
    const char *only_problem;   /**< run one problem class only (NULL = all) */
} alig_rates_config;

struct alig_grid;

/**
 * @brief The configurations of alig_rates_run() as a grid of the sweep engine (grid.h): base
 *        `solve --iters T`, common axes `problem` (the classes run) and `eps` (0, small, large),
 *        methods `alig` (axes `eta` = low, high, inf and `delta` = 0, 1e-5), `polyak`, `aprox`,
 *        `sps` and `sgd` (axis `lr`, the SGD grid). η and ε are labels that alig_rates_run resolves
 *        per instance (η from the class's smoothness constant or mean starting step, ε from
 *        f(w₀) − f⋆). alig_rates_run builds its configurations from this grid, instance by
 *        instance, in cell order; `alig rates --dry-run` prints it as a protocol.
 * @param cf   the settings (NULL: quick defaults); only horizon and only_problem shape the grid.
 * @param out  receives the validated grid; free with alig_grid_free.
 * @return ALIG_SUCCESS, ALIG_EINVAL (settings out of range, unknown class; message in err), ALIG_ENOMEM.
 */
alig_status alig_rates_grid(const alig_rates_config *cf, struct alig_grid **out, char *err, size_t errlen);

/** One convergence curve: statistics over the runs at each checkpoint. */
typedef struct alig_rates_curve {
    size_t runs;                /**< number of runs averaged */
    double *mean, *lo, *hi;     /**< checkpoint-indexed (n_checkpoints entries each) */
} alig_rates_curve;

/** One ALI-G configuration checked against one bound. */
typedef struct alig_rates_case {
    char id[64];                /**< e.g. "smooth/eps=small/eta=low/delta=1e-5/D2" */
    char problem[32];
    char eps_label[8], eta_label[8];   /**< "0", "small", "large"; "low", "high", "inf" */
    double eps, eta, delta;     /**< values used by the solver and the bound (ε: the instance's) */
    alig_bound_kind bound;
    alig_bound_consts consts;
    alig_verdict verdict;
    char reason[96];            /**< why n/a, or what failed */
    const char *quantity;       /**< "E f(wbar_T)", "E f(wbar_T)-f*" or "E|w_T-w*|^2" */
    double *bound_values;       /**< bound_scale × bound at each checkpoint */
    double resolution;          /**< smallest value of the quantity double precision resolves; a bound
                                     below it is compared as this value (ratios too) */
    size_t resolution_used;     /**< checkpoints at which that happened */
    alig_rates_curve curve;     /**< the bounded quantity (NULL arrays when n/a) */
    double max_ratio;           /**< largest mean/bound over the checkpoints (NAN when n/a) */
    double max_ratio_T;         /**< checkpoint at which it occurs */
    double final_ratio;         /**< mean/bound at the horizon: how loose the bound is at the end */
    size_t steps_checked;       /**< per-step inequalities evaluated, over all runs */
    size_t steps_failed;        /**< of which failed */
    size_t guard_fired;         /**< runs in which ‖g‖² underflowed (D1/D2 per-step checks stopped there) */
    double rate_fit, rate_fit_se, rate_theory;  /**< NAN when not fitted / not applicable */
    size_t fit_points;
    char fit_note[64];          /**< which checkpoints were fitted, or why not */
    /** The same fit over the first and over the last decade of the fit window (each needs 3
     *  checkpoints; NAN otherwise). They differ where the curve is not yet a straight line. */
    double rate_fit_early, rate_fit_late;
    /** 1 when the curve still steepens at the horizon: rate_fit_late is below rate_fit_early by
     *  more than 2 combined standard errors, so the fitted rate understates the rate the curve
     *  is heading for and the horizon is too short to call it slower than the theorem's. */
    int fit_transient;
} alig_rates_case;

/** One method on one instance (the side table). */
typedef struct alig_rates_method {
    char problem[32];
    char eps_label[8];
    char method[48];            /**< e.g. "alig eta=inf delta=0", "sgd lr=0.01 (best of grid)" */
    size_t runs;
    double final_gap;           /**< mean f(w_T) − f⋆ at the horizon (last iterate) */
    double final_avg_gap;       /**< mean f(w̄_T) − f⋆ at the horizon */
    double target;              /**< accuracy: 1e-3·(f(w₀) − f⋆) */
    double iters_to_target;     /**< first checkpoint T with mean f(w_T) − f⋆ <= target; INFINITY if none */
    double rate_fit, rate_fit_se;  /**< log-log slope of the mean last-iterate gap (NAN if not fitted) */
} alig_rates_method;

/** One problem instance of the grid and its constants. */
typedef struct alig_rates_instance {
    char problem[32];
    char eps_label[8];
    size_t n, dim;
    double eps;                 /**< ε used in the bounds: max(requested, realised max_i ℓ_i(w⋆)) */
    double f_star, f0, D0;      /**< f⋆, f(w₀) − f⋆, ‖w₀ − w⋆‖² */
    double C, beta, alpha;      /**< the problem's lipschitz_C, smooth_beta, strong_alpha */
    double eta_low, eta_high;   /**< the finite η values of the grid */
} alig_rates_instance;

/** Everything alig_rates_run() measured. Free with alig_rates_free(). */
typedef struct alig_rates_result {
    alig_rates_config config;   /**< with defaults filled in */
    size_t n_checkpoints;
    double *checkpoints;        /**< T values, increasing, last = horizon */
    size_t n_cases;
    alig_rates_case *cases;
    size_t n_methods;
    alig_rates_method *methods;
    size_t n_instances;
    alig_rates_instance instances[9];
    double sgd_lr_grid[8];      /**< the constant learning rates tried for SGD */
    size_t n_sgd_lr;
    size_t total_runs;          /**< solver runs made, all methods */
    int threads;                /**< OpenMP threads used (1 without OpenMP) */
} alig_rates_result;

/**
 * @brief Run the rates experiment: every problem class × ε ∈ {0, small, large} × η ∈ {low, high,
 *        ∞} × δ ∈ {0, 1e-5} for ALI-G (each checked against its bounds) plus Polyak, APROX, SPS
 *        and SGD (best constant learning rate of a log grid) for the side table.
 *        Independent runs execute in parallel (OpenMP); each run's seed is a fixed function of
 *        (base seed, case, run index), so the result does not depend on the thread count.
 * @param cfg  NULL for the quick defaults.
 * @param out  receives the result (NULL on failure); free with alig_rates_free().
 * @return ALIG_SUCCESS (whatever the verdicts), ALIG_EINVAL (bad config, unknown class),
 *         ALIG_ENOMEM, or a problem/solver status if an instance cannot be built or a run fails;
 *         when an instance cannot be built, alig_problem_last_error() (problem.h) says why, in
 *         the calling thread.
 */
alig_status alig_rates_run(const alig_rates_config *cfg, alig_rates_result **out);

/** @brief Free a result and everything it owns. NULL-safe. */
void alig_rates_free(alig_rates_result *r);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_ANALYSIS_H */
