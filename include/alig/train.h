/**
 * @file train.h
 * @brief The training loop as a library function: a model (model.h) on a task (task.h) with
 *        one solver of the shared core (solver.h, ALIG_F32), with logs, checkpoints, schedules,
 *        gradient clipping, a clean stop on non-finite values, exact resume, the profiler hook
 *        and an observer that can cancel. The net-side twin of alig_run (run.h).
 *
 * Two modes:
 *   - epoch mode (epochs > 0, finite tasks): one log record per epoch with the epoch's running
 *     training loss and accuracy, the validation and test loss and accuracy (models that
 *     evaluate), the mean step sizes and the last one (`lr`), and with eps_report the ε report
 *     (the per-sample training losses in evaluation mode: their max and quantiles, see below);
 *     after the evaluation the solver is told
 *     the validation accuracy (alig_solver_epoch_end: SGD's plateau schedule); a checkpoint after
 *     every epoch;
 *   - step mode (steps > 0): one log record per window of `log_every` steps with the window's
 *     mean loss (in double, each loss taken before that step's update), the mean step size
 *     (clipped and unclipped), the number of zero-gradient events (‖g‖² == 0) and of clip
 *     events; a checkpoint every `checkpoint_every` steps and at the end. A last, shorter window
 *     is logged when the run ends inside one.
 * One iteration: batch k = steps done so far (alig_task_batch), g = ∇ loss on it
 * (alig_model_gradient), then, with clip_norm = c finite, g ← g · c / max(‖g‖₂, c) (global norm
 * over every parameter, computed in double; TF's clip_by_global_norm, a non-finite norm stops
 * the run), then the solver step (alig_solver_step with the unclipped loss).
 *
 * Files in the run directory (when params->dir is set): config.json (every setting, written
 * atomically at the start: temporary file, fsync, rename), log.csv and log.jsonl (one record
 * appended after every record, synced before every checkpoint and at the end), checkpoint.bin
 * (model state + solver state + loop state + the byte length and CRC-32 of each log + the
 * caller's block; CRC-32 protected; written atomically). The logs are written first, then the
 * checkpoint, so a crash at any point leaves logs that hold at least what the newest checkpoint
 * says; resuming checks them against it and cuts off what came after it. A run holds an
 * exclusive lock (flock) on the directory, and removes temporary files an interrupted write left
 * there. docs/training.md gives the formats.
 *
 * Exactness of resume: batch k is a pure function of the task's settings and k, the model's
 * random stream and buffers and the solver state travel in the checkpoint, and the loop state
 * (counters, the open window's sums) too; so a resumed run repeats, bit for bit at the same
 * thread count, what the uninterrupted run did.
 *
 * Data-parallel training (shard_size = K > 1; dist/ provides the hooks over MPI, the library
 * itself never talks to another process): every shard holds the whole model and takes the same
 * global batch k, of which it computes the gradient on the contiguous slice
 * [⌊N·r/K⌋, ⌊N·(r+1)/K⌋) of its N samples (image tasks only; every slice must hold a sample);
 * params->reduce then replaces the local gradient, loss, counts and buffers by their
 * sample-weighted sums over the shards, so clipping, ‖g‖² and the solver step see the global batch
 * and every shard takes the same step. Batch norm normalises each slice with that slice's
 * statistics (not synchronised); the running statistics are averaged by the reduction. Shard r > 0
 * draws its random numbers (dropout) from the model's stream with a seed of its own, so shards do
 * not repeat one another's masks. Only shard 0 writes files; params->agree checks at every
 * checkpoint point that the shards still agree. Profiling is refused.
 *
 * The library never prints or exits: progress reaches the caller through the observer.
 */
#ifndef ALIG_TRAIN_H
#define ALIG_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"
#include "alig/solver.h"
#include "alig/model.h"
#include "alig/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Number of sums a reduce callback adds over the shards (see alig_train_reduce_fn). */
#define ALIG_TRAIN_REDUCE_SUMS 3

/**
 * The data-parallel reduction, called once per step by every shard after its local gradient and
 * before clipping. On entry: g[n] the gradient of the mean loss over this shard's n_r samples,
 * buf[nbuf] the model's buffers after this shard's forward pass (batch-norm running statistics),
 * weight = n_r / N (N the global batch), sums = { weight · loss_r, n_r, correct_r }. On return, on
 * every shard: g = Σ_r weight_r · g_r, buf = Σ_r weight_r · buf_r, sums = Σ_r sums_r (so sums[0] is
 * the global batch's mean loss and sums[1] = N). With one shard that is the identity; an
 * implementation should form the products and sums in double and round to float once.
 * @return ALIG_SUCCESS, or a status with a message in err (the run stops with it).
 */
typedef alig_status (*alig_train_reduce_fn)(void *ctx, float *g, size_t n, float *buf, size_t nbuf, double weight,
                                            double sums[ALIG_TRAIN_REDUCE_SUMS], char *err, size_t errlen);

/**
 * The cross-shard consistency check, called by every shard at every checkpoint point (epoch ends;
 * step mode: every checkpoint_every steps and at the end), with or without a run directory, after
 * `steps` steps: return an error (with a message in err) when the shards' parameters x[n] or
 * buffers buf[nbuf] are not identical (e.g. by comparing a checksum).
 */
typedef alig_status (*alig_train_agree_fn)(void *ctx, const float *x, size_t n, const float *buf, size_t nbuf,
                                           uint64_t steps, char *err, size_t errlen);

/** Settings of a training run. */
typedef struct alig_train_params {
    size_t epochs;              /**< epoch mode: total epochs (>= 1); 0 selects step mode */
    uint64_t steps;             /**< step mode: total steps (>= 1) */
    uint64_t log_every;         /**< step mode: steps per log record, >= 1 [100] */
    uint64_t checkpoint_every;  /**< step mode: steps between checkpoints, >= 1 [1000]; also at the end */
    double clip_norm;           /**< global-norm clip threshold c > 0; INFINITY = no clipping [INFINITY] */
    const char *dir;            /**< run directory (must exist); NULL: nothing is written [NULL] */
    int profile;                /**< 1: time every op of the model's graph (alig_ad_graph_set_profile) on
                                     full batches, the first left out as warm-up when others follow [0] */
    uint64_t inject_nan_at;     /**< testing: treat the loss of step k (1-based) as NaN; 0 = off [0] */
    const void *user;           /**< caller's block stored verbatim in every checkpoint (e.g. its settings) */
    size_t user_bytes;
    const char *config_extra;   /**< JSON members added to config.json's "run" object, or NULL */
    int eps_report;             /**< 1: after every epoch, the ε report (see below) on the training split;
                                     epoch mode and models with sample_losses only (else ALIG_EINVAL) [0] */
    /* data parallelism (see "Data-parallel training" above); all zero: one process */
    int shard_rank;             /**< this process's shard, 0 <= shard_rank < shard_size [0]; only shard 0
                                     writes files */
    int shard_size;             /**< processes that share every batch; 0 or 1: none [0] */
    alig_train_reduce_fn reduce;    /**< required when shard_size > 1 */
    alig_train_agree_fn agree;      /**< optional: the cross-shard check at every checkpoint point */
    void *shard_ctx;            /**< passed to reduce and agree */
} alig_train_params;

#define ALIG_TRAIN_PARAMS_DEFAULT { 0, 0, 100, 1000, INFINITY, NULL, 0, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL }

/** One log record (epoch mode: the epoch fields; step mode: the window fields). */
typedef struct alig_train_row {
    int window;                 /**< 0: an epoch record; 1: a step window */
    uint64_t steps;             /**< solver steps done after this record */
    /* epoch records */
    size_t epoch;               /**< 1-based */
    double train_loss, train_acc, val_loss, val_acc, test_loss, test_acc;   /**< NAN where not evaluated */
    size_t images;              /**< training samples seen in the epoch */
    double images_per_s;
    double train_seconds, eval_seconds;
    /* both */
    double step_mean, step_unclipped_mean, clipped_frac;   /**< solver step sizes; clipped: step < unclipped */
    double seconds;
    /* step windows */
    uint64_t window_steps;      /**< steps in the window (log_every, or fewer for the last one) */
    double loss_mean;           /**< mean of the window's losses, in double */
    uint64_t zero_grad;         /**< steps with ‖g‖² == 0 (before clipping) */
    uint64_t clip_events;       /**< steps whose gradient norm exceeded clip_norm */
    double steps_per_s;
    /* epoch records, appended */
    double lr;                  /**< the solver's step size at the epoch's last step: the epoch's learning
                                     rate for methods with one (SGD and its schedules, Adam, ...), the last
                                     γ for ALI-G and DFW */
    /* epoch records, appended: the ε report (eps_report = 1; NAN otherwise) */
    double train_eval_loss;     /**< mean loss of the training split in evaluation mode (= the mean of the
                                     per-sample losses the ε fields summarise) */
    double train_eval_acc;      /**< its accuracy */
    double eps_max;             /**< the largest per-sample training loss: the ε the iterate reached */
    double eps_q50, eps_q90, eps_q99, eps_q999;     /**< nearest-rank quantiles 50 %, 90 %, 99 %, 99.9 %
                                                         (alig_train_quantile) */
    double eps_seconds;         /**< wall time of the report (part of eval_seconds) */
} alig_train_row;

/** What the observer is told. */
typedef enum alig_train_event_kind {
    ALIG_TRAIN_EV_STEP = 0,     /**< a step is done (loss, step sizes of that step) */
    ALIG_TRAIN_EV_EVAL,         /**< epoch mode: the epoch's steps are done, evaluation starts */
    ALIG_TRAIN_EV_ROW           /**< a record was logged (the files are written) */
} alig_train_event_kind;

typedef struct alig_train_event {
    alig_train_event_kind kind;
    uint64_t step;              /**< steps done (1-based number of the step just taken) */
    uint64_t total_steps;       /**< steps the run will have done at its end */
    size_t epoch;               /**< epoch mode: 0-based epoch in progress; step mode: 0 */
    size_t epochs;              /**< epoch mode: total epochs */
    size_t batch;               /**< epoch mode: 1-based batch within the epoch */
    size_t epoch_batches;       /**< epoch mode: batches per epoch */
    double loss;                /**< this step's loss */
    double running_loss;        /**< mean loss so far in this epoch or window */
    double running_acc;         /**< epoch mode: running accuracy (NAN without it) */
    double step_size;           /**< the solver's step size of this step */
    size_t samples;             /**< samples seen in the epoch or window */
    double seconds;             /**< wall time since the epoch or window began */
    const alig_train_row *row;  /**< ALIG_TRAIN_EV_ROW: the record */
} alig_train_event;

/** Return non-zero to stop the run after the current step (alig_train then returns ALIG_SUCCESS
 *  with result->cancelled = 1; nothing further is written). */
typedef int (*alig_train_observer)(const alig_train_event *ev, void *ctx);

/** How a run ended. */
typedef struct alig_train_result {
    uint64_t steps_done;        /**< solver steps done (including those of earlier runs of a resumed one) */
    size_t epochs_done;
    int cancelled;              /**< 1: the observer stopped it */
    int nonfinite;              /**< 1: stopped on a non-finite value (the return is ALIG_ENONFINITE) */
    const char *nonfinite_what; /**< "loss", "gradient norm" or "gradient or iterate" */
    uint64_t fail_step;         /**< 1-based step that failed */
    size_t fail_epoch, fail_batch;  /**< epoch mode: 1-based epoch and batch of that step */
    double fail_loss;           /**< its loss */
    uint64_t last_checkpoint_step;  /**< steps done at the newest checkpoint on disk (0: none written) */
    size_t last_checkpoint_epoch;
    int profiled;               /**< 1: the profile below is filled */
    alig_ad_graph *profile_graph;   /**< the model's graph with its op times (alig_ad_graph_profile) */
    double profile_step_seconds;    /**< wall time of the profiled steps (gradient + clipping + solver step) */
    int profile_warmup_excluded;    /**< 1: the first full batch was left out */
    char error[512];            /**< a message on failure ("" otherwise) */
} alig_train_result;

/* ------------------------------------------------------------------------- */
/* The ε report                                                              */
/* ------------------------------------------------------------------------- */

/*
 * The interpolation assumption of the ALI-G analysis (Berrada, Zisserman & Kumar, ICML 2020) is that
 * some w* has ℓ_z(w*) <= ε for every training sample z, with ε small; the convergence bounds carry ε.
 * With eps_report on, every epoch record measures it at the current iterate: the loss of each
 * training sample in evaluation mode (alig_model_sample_losses: no dropout, batch norm on its running
 * statistics, no augmentation), their largest value (the ε this iterate attains) and a few quantiles
 * (how many samples are already below a given tolerance). docs/training.md explains it.
 */

/** A summary of per-sample losses. */
typedef struct alig_train_eps {
    double mean;                /**< mean in the given order, in double */
    double max;                 /**< largest value (NaN if any value is NaN) */
    double q50, q90, q99, q999; /**< nearest-rank quantiles (alig_train_quantile) */
} alig_train_eps;

/**
 * @brief Nearest-rank quantile of sorted[0..n) (ascending, NaNs last): the value of rank
 *        r = ⌈p·n⌉ (1-based), p = per_10000 / 10000, computed in integers, r at least 1; so at
 *        least a fraction p of the values are <= it, and it is one of them (no interpolation).
 *        per_10000 = 10000 gives the maximum.
 * @return that value; NaN for n = 0, per_10000 > 10000 or NULL.
 */
double alig_train_quantile(const double *sorted, size_t n, unsigned per_10000);

/**
 * @brief Mean, maximum and the 50 / 90 / 99 / 99.9 % nearest-rank quantiles of losses[0..n).
 *        The mean is summed first, in the given order; then losses is sorted in place (ascending,
 *        NaNs last: a NaN loss makes the maximum NaN).
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, n = 0).
 */
alig_status alig_train_eps_summary(double *losses, size_t n, alig_train_eps *out);

/* ------------------------------------------------------------------------- */
/* Checkpoints                                                               */
/* ------------------------------------------------------------------------- */

/**
 * A checkpoint in memory (docs/training.md gives the byte layout). Arrays are owned by the
 * struct; free with alig_train_checkpoint_free.
 */
typedef struct alig_train_checkpoint {
    char model[64];                 /**< the model name it was built from */
    char *model_desc;               /**< the model's describe() text (compared on resume) */
    size_t n, nbuf;
    float *x, *buf;                 /**< n parameters, nbuf buffer values */
    uint64_t rng_seed, rng_step;    /**< the model's random stream */
    char solver[32];                /**< solver type name */
    size_t params_bytes;            /**< the solver's parameter struct */
    void *params;
    double radius;                  /**< L2-ball radius of the solver (INFINITY = none) */
    size_t state_bytes;             /**< alig_solver_state_export's block */
    void *state;
    int step_mode;                  /**< 0: epoch mode, 1: step mode */
    uint64_t steps_done;
    size_t epochs_done;
    uint64_t log_every;             /**< step mode */
    double clip_norm;
    double win_loss, win_step, win_stepu;   /**< sums over the open window (step mode) */
    uint64_t win_steps, win_zero_grad, win_clips, win_clipped;
    size_t csv_bytes, jsonl_bytes;  /**< how far log.csv and log.jsonl go at this checkpoint (bytes) */
    char *csv, *jsonl;              /**< format version 1 only: the logs so far (NULL in version 2, whose
                                         logs stay in their files) */
    size_t user_bytes;
    void *user;                     /**< the caller's block */
    unsigned version;               /**< file format: 2 (written now) or 1 (an older build's, read) */
    uint32_t csv_crc, jsonl_crc;    /**< CRC-32 (zlib) of the first csv_bytes of log.csv and the first
                                         jsonl_bytes of log.jsonl */
} alig_train_checkpoint;

/**
 * @brief Read a checkpoint file into ck (zeroed on failure; free with alig_train_checkpoint_free).
 * @param err  receives "<path>: <what is wrong>" on failure.
 * @return ALIG_SUCCESS; ALIG_EIO (cannot open or read); ALIG_EFORMAT (bad magic, version, byte
 *         order, sizes, truncation, trailing bytes, CRC mismatch); ALIG_ENOMEM; ALIG_EINVAL.
 */
alig_status alig_train_checkpoint_read(const char *path, alig_train_checkpoint *ck, char *err, size_t errlen);

/** @brief Free the arrays and zero the struct. NULL-safe. */
void alig_train_checkpoint_free(alig_train_checkpoint *ck);

/* ------------------------------------------------------------------------- */
/* The loop                                                                  */
/* ------------------------------------------------------------------------- */

/**
 * @brief Train `model` on `task` with `solver` until params->epochs epochs or params->steps
 *        steps are done in all (see the file comment).
 * @param solver         allocated for alig_model_n(model) elements of ALIG_F32 and bound to
 *                       alig_model_x(model) by alig_solver_set (with its radius).
 * @param solver_params  the parameter struct the solver was allocated with (saved in checkpoints).
 * @param resume         NULL for a new run; else a checkpoint of this run (same model, solver,
 *                       mode, log_every and clip_norm): the model, solver and loop state are put
 *                       back first, then training continues. With params->dir the run directory
 *                       must hold the logs the checkpoint continues (the first csv_bytes and
 *                       jsonl_bytes of log.csv and log.jsonl, with the recorded CRC-32s; their
 *                       records must agree with steps_done and epochs_done) and, when it holds a
 *                       config.json, one with the same task, model and solver; the logs are then
 *                       cut back to the checkpoint's lengths (a version-1 checkpoint rewrites them
 *                       from its copy).
 * @param obs, ctx       observer (may be NULL).
 * @param res            receives how the run ended (required).
 * @return ALIG_SUCCESS (done, or cancelled); ALIG_ENONFINITE (a non-finite loss, gradient norm,
 *         gradient or iterate: the run stopped before that step's update was kept; the log files
 *         hold every completed record and, in step mode, the open window up to the last finite
 *         step; the newest checkpoint is untouched); ALIG_EINVAL (bad arguments, a checkpoint of
 *         another run, with a message in res->error); ALIG_EFORMAT (a checkpoint whose counters
 *         disagree with its logs, or logs in the directory that are not those it continues);
 *         ALIG_EIO (a file could not be written or read, or another process holds the
 *         directory); ALIG_ENOMEM; a model or task status.
 */
alig_status alig_train(alig_model *model, alig_task *task, alig_solver *solver, const void *solver_params,
                       const alig_train_params *params, const alig_train_checkpoint *resume,
                       alig_train_observer obs, void *ctx, alig_train_result *res);

/**
 * @brief Express a solver's schedule in epochs for epoch mode, before alig_solver_alloc:
 *        each milestone m of a "milestones" list (counted in epochs from 1: the rate drops after
 *        the m-th epoch) becomes the step m·E, E = epoch_batches (a product within 1e-9 relative
 *        of a whole step is that step: 2.2 × 45 is 99.00000000000001 in double); and, when
 *        set_batches_per_epoch is 1, a "batches-per-epoch" parameter (SPS's smoothing) is set to E.
 *        In step mode milestones are steps already: do not call it.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL, E = 0).
 */
alig_status alig_train_epoch_schedules(const alig_solver_type *type, void *params, size_t epoch_batches,
                                       int set_batches_per_epoch);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_TRAIN_H */
