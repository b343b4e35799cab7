/**
 * @file run.h
 * @brief The reference driver: one solver on one convex problem, every iterate observed.
 *
 * Each step draws a mini-batch of `batch` distinct samples uniformly at random (GSL RNG
 * seeded with `seed`; batch = n is the deterministic full-batch oracle) and passes the
 * mini-batch mean loss and its gradient to the solver. Methods flagged
 * ALIG_SOLVER_FULL_ORACLE (Polyak) always get the full objective and gradient.
 *
 * The observer sees one row per iterate k = 0..T (k = 0 is the projected start w₀):
 *   f_gap    = f(w_k) − f⋆
 *   avg_gap  = f(w̄_k) − f⋆,  w̄_k = (1/(k+1)) Σ_{j≤k} w_j
 *   dist2    = ‖w_k − w⋆‖²
 *   loss, step, step_unclipped: the mini-batch loss and step sizes of step k, the step that
 *   produced w_k from w_{k−1} (NAN in row 0), and `batch_idx` its samples (NULL in row 0).
 */
#ifndef ALIG_RUN_H
#define ALIG_RUN_H

#include <stddef.h>
#include "alig/problem.h"
#include "alig/solver.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct alig_run_row {
    size_t iter;
    double loss, f_gap, avg_gap, dist2, step, step_unclipped;
    const double *w;            /**< w_k (dim entries), valid during the callback only */
    const double *w_prev;       /**< w_{k−1} (NULL in row 0) */
    const size_t *batch_idx;    /**< samples of step k (NULL in row 0) */
    size_t batch;               /**< number of entries in batch_idx (n for full-oracle methods) */
} alig_run_row;

/** Return non-zero to stop the run early (alig_run then returns ALIG_SUCCESS). */
typedef int (*alig_run_observer)(const alig_run_row *row, void *ctx);

typedef struct alig_run_spec {
    size_t iters;               /**< T, number of steps */
    size_t batch;               /**< mini-batch size B in [1, n] [1] */
    unsigned long seed;         /**< sampling seed */
    size_t gap_every;           /**< evaluate f_gap, avg_gap every this many rows (and at the last); others are NAN [1] */
} alig_run_spec;

/**
 * @brief Run T steps of `type` (params may be NULL for defaults) on p from w₀ (p->w0 or 0),
 *        projected onto Ω (p->radius).
 * @param w_out  if not NULL, receives w_T (dim entries).
 * @return ALIG_SUCCESS, ALIG_EBADBATCH, ALIG_ENOMEM, a parameter status, or ALIG_ENONFINITE
 *         when the run diverges (the observer has seen every finite row before it).
 */
alig_status alig_run(alig_problem *p, const alig_solver_type *type, const void *params,
                     const alig_run_spec *spec, alig_run_observer obs, void *ctx, double *w_out);

#ifdef __cplusplus
}
#endif
#endif
