/**
 * @file problem.h
 * @brief Convex finite-sum test problems with known w⋆, f⋆ and an exact interpolation tolerance ε.
 *
 *   f(w) = (1/n) Σ_i ℓ_i(w),  minimised over Ω = ℝ^d or the L2 ball {‖w‖ ≤ radius}.
 *
 * Synthetic classes (constructions and proofs in docs/problems.md): for any ε ≥ 0 the
 * generator returns w⋆, an exact minimiser of f over Ω, with max_i ℓ_i(w⋆) = ε:
 *   - "lipschitz":        absolute deviation |x_iᵀw − y_i| in ± pairs (non-smooth, C = max‖x_i‖);
 *   - "smooth":           least squares ½(x_iᵀw − y_i)² with rank-deficient X (β = max‖x_i‖², α = 0);
 *   - "strongly-convex":  least squares with full-column-rank X (α = λ_min(XᵀX/n) > 0 via LAPACKE).
 * Real data: a LIBSVM / SVMlight file turned into a least-squares, absolute, hinge or logistic
 * problem, with f⋆ computed numerically (see alig_problem_from_dataset).
 *
 * The struct is transparent (it is the interface): read its facts directly. Oracle calls are
 * counted in the struct itself. Everything is double precision.
 * Ownership: problems own all their arrays; free with alig_problem_free().
 */
#ifndef ALIG_PROBLEM_H
#define ALIG_PROBLEM_H

#include <stddef.h>
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct alig_problem alig_problem;

/**
 * Per-sample oracle: returns ℓ_i(w); when grad_acc is not NULL, adds scale·∇ℓ_i(w) to grad_acc
 * (a subgradient for non-smooth losses). Does not touch the call counters.
 */
typedef double (*alig_loss_fn)(const alig_problem *p, size_t i, const double *w, double *grad_acc, double scale);

struct alig_problem {
    char name[32];          /**< class name: "lipschitz", "smooth", "strongly-convex", "libsvm:<loss>", ... */
    size_t dim;             /**< d */
    size_t n;               /**< number of samples */
    double radius;          /**< Ω = {‖w‖ ≤ radius}; INFINITY for ℝ^d */
    double eps;             /**< requested interpolation tolerance ε (NAN for real data) */
    double eps_realized;    /**< max_i ℓ_i(w⋆), recomputed from the data */
    double f_star;          /**< f(w⋆) */
    double f_star_lower;    /**< certified lower bound on min_Ω f (== f_star when exact) */
    double *w_star;         /**< d entries: an exact (or, for real data, computed) minimiser */
    double *w0;             /**< start point (d entries), or NULL for w₀ = 0; the solver projects it onto Ω */
    double lipschitz_C;     /**< max subgradient norm of any ℓ_i on Ω, NAN if unbounded/unknown */
    double smooth_beta;     /**< smoothness of every ℓ_i, NAN if not smooth */
    double strong_alpha;    /**< strong convexity of f on Ω (0 if not strongly convex) */
    double lipschitz_f;     /**< smoothness of f itself (λ_max of the Hessian bound), NAN if not smooth */
    int convex;             /**< 1 for every problem here except non-convex stand-ins */
    unsigned long seed;     /**< generator seed (0 for real data) */

    alig_loss_fn loss_i;    /**< the per-sample oracle */
    void *impl;             /**< data of the class (owned) */
    void (*impl_free)(void *impl);

    size_t calls_sample;    /**< per-sample oracle evaluations made through the functions below */
    size_t calls_full;      /**< full-objective evaluations */
};

/** Parameters of a synthetic instance. Fields at 0 take the class default. */
typedef struct alig_problem_spec {
    size_t dim;             /**< d [class default] */
    size_t samples;         /**< n [class default] */
    double eps;             /**< ε >= 0 [0] */
    double radius;          /**< ball radius of Ω; 0 or INFINITY = ℝ^d [INFINITY] */
    unsigned long seed;     /**< GSL RNG seed [1] */
} alig_problem_spec;

/** Names of the synthetic classes, NULL-terminated. */
extern const char *const alig_problem_names[];

/** Defaults of class `name` (dim, samples). @return ALIG_EINVAL for an unknown name. */
alig_status alig_problem_defaults(const char *name, alig_problem_spec *spec);

/**
 * @brief Generate a synthetic instance.
 * @param out  receives the problem (NULL on failure); free with alig_problem_free().
 * ε is met to 1e-10 relative for ε ≥ 1e-10 (least squares; rounding of y_i = x_iᵀw⋆ − r_i) and for
 * every ε > 0 (lipschitz, d ≥ 2). One seed gives the same X and direction of w⋆ for every ε and
 * radius, so sweeps over ε compare like with like.
 * @return ALIG_SUCCESS; ALIG_EINVAL (unknown name, or ε > 0 impossible for this shape: the
 *         message of alig_problem_last_error() says why); ALIG_EBADTOL; ALIG_EBADLEN (more than
 *         32768 dimensions or 2^31 data entries); ALIG_EBADRADIUS; ALIG_ENOMEM.
 */
alig_status alig_problem_make(alig_problem **out, const char *name, const alig_problem_spec *spec);

/** @brief Free a problem and everything it owns. NULL-safe. */
void alig_problem_free(alig_problem *p);

/** @brief ℓ_i(w) and ∇ℓ_i(w) (grad may be NULL). Counts one sample call. NAN (grad zeroed) if i ≥ n. */
double alig_problem_sample(alig_problem *p, size_t i, const double *w, double *grad);

/**
 * @brief Mini-batch mean loss (1/b) Σ_{j<b} ℓ_{idx[j]}(w) and its gradient (grad may be NULL,
 *        else overwritten). Counts b sample calls. NAN (grad zeroed, nothing counted) if b = 0 or
 *        an index is ≥ n.
 */
double alig_problem_batch(alig_problem *p, const size_t *idx, size_t b, const double *w, double *grad);

/** @brief Full objective f(w) and ∇f(w) (grad may be NULL). Counts one full call. */
double alig_problem_full(alig_problem *p, const double *w, double *grad);

/* ------------------------------------------------------------------ real data */

/** Largest |value| (feature or label) the LIBSVM reader accepts. A larger value is an error
 *  naming its file and line: squares of such values overflow double (√DBL_MAX ≈ 1.34e154), and the
 *  numerical f⋆ computations (least squares, Newton) cannot work with them. A bound, not a scaling:
 *  rescale such data before reading it. */
#define ALIG_LIBSVM_MAX_ABS 1e150

/** Most entries n × dim of the dense matrix the LIBSVM reader builds (2²⁸ doubles, 2 GiB). The
 *  dimension comes from the largest index in the file, so one line such as "1 2000000000:1" would
 *  otherwise ask for gigabytes; a larger matrix is refused with ALIG_ENOMEM and a message giving
 *  n, dim and this limit, before anything is allocated. A build may lower it (the fuzz harnesses
 *  compile with -DALIG_LIBSVM_MAX_ENTRIES=1048576 to keep executions fast). */
#ifndef ALIG_LIBSVM_MAX_ENTRIES
#define ALIG_LIBSVM_MAX_ENTRIES ((size_t)1 << 28)
#endif

/** Most non-zero feature columns for which alig_problem_from_dataset computes f⋆ of the absolute,
 *  hinge and logistic losses: those use Newton steps on dense d × d systems, whose work grows as
 *  d³ (on 32 samples and 1024 features the absolute loss already takes tens of seconds). Columns
 *  that are zero in every sample do not count (they are dropped before the computation). */
#define ALIG_DATASET_MAX_NEWTON_DIM 512

/** A dense data set read from a LIBSVM / SVMlight file. */
typedef struct alig_dataset {
    size_t n, dim;
    double *x;              /**< n × dim, row-major */
    double *y;              /**< n labels */
    int zero_based;         /**< 1 if the file used index 0 */
} alig_dataset;

/** Loss applied to a data set. */
typedef enum alig_loss_kind {
    ALIG_LOSS_SQUARED = 0,  /**< ½(xᵀw − y)² */
    ALIG_LOSS_ABSOLUTE,     /**< |xᵀw − y| */
    ALIG_LOSS_HINGE,        /**< max(0, 1 − y·xᵀw), labels mapped to ±1 */
    ALIG_LOSS_LOGISTIC      /**< log(1 + exp(−y·xᵀw)), labels mapped to ±1 */
} alig_loss_kind;

/** "squared", "absolute", "hinge", "logistic", NULL-terminated, indexed by alig_loss_kind. */
extern const char *const alig_loss_names[];

/**
 * @brief Read a LIBSVM / SVMlight file: `label idx:value ...` per line, `#` comments, blank lines
 *        skipped, indices 1-based (0-based detected when an index 0 occurs), increasing per line.
 *        An SVMlight `qid:N` token after the label is skipped; CR LF line ends and a last line
 *        without newline are accepted; gzip-compressed files are read transparently (zlib).
 *        Numbers are parsed with strtod (the C locale's decimal point is assumed).
 * @param err_line  if not NULL, receives the 1-based line number of the first bad line (0 if none).
 * @return ALIG_SUCCESS, ALIG_EIO (cannot open/read), ALIG_EFORMAT (bad or truncated line, a value
 *         beyond ±ALIG_LIBSVM_MAX_ABS, a gzip stream that ends early, no sample, or no feature),
 *         ALIG_ENOMEM (also for a matrix of more than ALIG_LIBSVM_MAX_ENTRIES entries). On failure
 *         *out is NULL and alig_problem_last_error() says what and where ("'PATH' line L: ...").
 *         Free with alig_dataset_free().
 */
alig_status alig_dataset_read_libsvm(const char *path, alig_dataset **out, size_t *err_line);

void alig_dataset_free(alig_dataset *d);

/**
 * @brief Turn a data set into a problem (the data are copied; hinge / logistic labels are mapped
 *        to y > 0 ? +1 : −1). f⋆ and w⋆ (docs/problems.md §5):
 *        - squared: minimum-norm least squares by LAPACKE_dgelsd (exact up to rounding);
 *        - logistic: GSL BFGS2 from 0 to ‖∇f‖ ≤ 1e-10, then Newton steps; separable data (no
 *          minimiser) are refused with ALIG_ENOPROG;
 *        - absolute, hinge: Newton with exact line search on Huber-smoothed losses, smoothing
 *          1 → 1e-7, then a crossover step onto the kinks; f_star is the true loss there.
 *        For absolute, hinge and logistic f_star_lower is a Lagrange-dual value (certified up to
 *        rounding), so f_star_lower ≤ min f ≤ f_star; it falls back to 0 if no dual point is found.
 * @param radius  INFINITY or 0 for ℝ^d; a finite radius is only accepted when the computed
 *                (unconstrained) minimiser lies inside the ball.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, unknown loss); ALIG_EBADRADIUS; ALIG_EBADLEN (empty or
 *         too large); ALIG_ENONFINITE (NaN / Inf in the data); ALIG_EUNSUPPORTED (minimiser
 *         outside the ball, more than 32768 features, or for absolute, hinge and logistic more
 *         than ALIG_DATASET_MAX_NEWTON_DIM non-zero feature columns); ALIG_ENOPROG (no minimiser found);
 *         ALIG_ENOMEM. On failure *out is NULL and alig_problem_last_error() says why.
 */
alig_status alig_problem_from_dataset(alig_problem **out, const alig_dataset *d, alig_loss_kind loss,
                                      double radius);

/**
 * @brief A sentence on the last failure of alig_problem_make, alig_problem_from_dataset or
 *        alig_dataset_read_libsvm in this thread ("" after a success). Thread-local storage,
 *        valid until the next such call in the same thread.
 */
const char *alig_problem_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_PROBLEM_H */
