/**
 * @file model.h
 * @brief The model type table: every trainable model behind one small vtable, so that a new
 *        model is one file plus one row of alig_model_types (the solver registry's pattern).
 *
 * A row names a model family ("mlp", "cnn", "wrn", "dnc") and knows how to parse a model
 * name of that family against a task's shape, build an instance, and drive it: the flat
 * parameter and gradient vectors x[n], g[n] the solvers step on (as in nn.h), the gradient of the
 * training loss on one batch of the task (task.h), optionally the loss alone, a whole-set
 * evaluation (image models), the extra state a checkpoint needs (buffers such as batch-norm
 * statistics, a random stream), a JSON description for config.json, and the autodiff graph the
 * profiler times. The training loop (train.h) only ever calls these.
 *
 * A name belongs to the row whose `name` equals it or is followed by '-' in it ("wrn-16-2" is a
 * "wrn"). Rows declare which kind of batch they consume; building a model for a task of another
 * kind is refused with ALIG_EUNSUPPORTED and a message naming both.
 *
 * A sequence model (a DNC, an LSTM) is a row whose `input` is ALIG_TASK_SEQUENCE: its gradient
 * receives b->seq (an alig_seq_batch) and returns the masked loss of the task; `evaluate`,
 * `sample_losses`, `nbuf`/`buf`, the random stream and `graph` may be NULL.
 *
 * The library never prints or exits.
 */
#ifndef ALIG_MODEL_H
#define ALIG_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"
#include "alig/ad.h"
#include "alig/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options that some models take (each row ignores what does not apply and refuses what is wrong). */
typedef struct alig_model_opts {
    double dropout;     /**< WRN: drop probability inside blocks, [0, 1); other models: must be 0 [0] */
    int eval_batch;     /**< image models: evaluation batch size (memory and speed only) [256] */
    int loss;           /**< image models: the training and evaluation loss, an alig_nn_loss of nn.h (0 =
                             softmax cross-entropy, 1 = multi-class hinge, 2 = smoothed hinge); other
                             models: must be 0 [0] */
} alig_model_opts;

/** Defaults of alig_model_opts. */
#define ALIG_MODEL_OPTS_DEFAULT { 0.0, 256, 0 }

/** A row of the model table. Functions marked optional may be NULL. */
typedef struct alig_model_type {
    const char *name;       /**< family name, e.g. "wrn" */
    const char *usage;      /**< the names it accepts, for messages, e.g. "wrn-D-K" */
    alig_task_kind input;   /**< the batches it trains on */
    /** Check `name` against a task shape without building. @return ALIG_SUCCESS, ALIG_EINVAL
     *  (malformed name, an option that does not apply), ALIG_EBADLEN (sizes out of range or not
     *  fitting the shape), with a message in err. */
    alig_status (*parse)(const char *name, const alig_model_opts *o, const alig_task_shape *shape, char *err,
                         size_t errlen);
    /** Build an instance for `task`, initialised from seed. */
    alig_status (*build)(void **impl, const char *name, const alig_model_opts *o, const alig_task *task,
                         uint64_t seed, char *err, size_t errlen);
    void (*free)(void *impl);
    /** Re-initialise every parameter (and buffer, and random stream) from seed. */
    alig_status (*init)(void *impl, uint64_t seed);
    size_t (*n)(const void *impl);
    float *(*x)(void *impl);
    float *(*g)(void *impl);
    /** g = ∇ of the training loss on batch b; *loss its value; *correct (may be NULL; image
     *  models) how many samples the pre-step scores classify correctly. */
    alig_status (*gradient)(void *impl, const alig_batch *b, double *loss, size_t *correct);
    /** Optional: the training loss on b, forward only (no parameter or gradient change). */
    alig_status (*loss)(void *impl, const alig_batch *b, double *loss);
    /** Optional (image models): mean loss and accuracy over a whole set, evaluation mode. */
    alig_status (*evaluate)(void *impl, const alig_image_set *set, double *loss, double *acc);
    /** Optional: non-trainable state saved with x in a checkpoint (e.g. batch-norm statistics). */
    size_t (*nbuf)(const void *impl);
    float *(*buf)(void *impl);
    /** Optional: a counter-based random stream (seed, position), saved in a checkpoint. */
    void (*get_rng)(const void *impl, uint64_t *seed, uint64_t *step);
    void (*set_rng)(void *impl, uint64_t seed, uint64_t step);
    /** JSON members describing the instance ("name": ..., "params": n, ...), snprintf semantics. */
    int (*describe)(const void *impl, char *buf, size_t len);
    /** Optional: the autodiff graph a full training batch runs (for the profiler). */
    alig_ad_graph *(*graph)(void *impl);
    /** Optional: the name of the loss the instance trains on when it is not the task's own
     *  (config.json's task "loss"); NULL, or a NULL return, means the task's. */
    const char *(*loss_name)(const void *impl);
    /** Optional (image models): evaluate's pass with each sample's loss kept: losses[i] (set->n values)
     *  the loss of sample i in evaluation mode, *loss their mean (equal to evaluate's) and *acc the
     *  accuracy (either may be NULL). What the training loop's ε report (train.h) measures. */
    alig_status (*sample_losses)(void *impl, const alig_image_set *set, double *losses, double *loss, double *acc);
} alig_model_type;

/** The rows: "mlp", "cnn", "wrn", "densenet-bc" (image classifiers of nn.h), "dnc" (dnc.h). */
extern const alig_model_type *const alig_model_mlp;
extern const alig_model_type *const alig_model_cnn;
extern const alig_model_type *const alig_model_wrn;
/** The "densenet-bc" row: DenseNet-BC of nn.h ("densenet-bc-L-k": depth L, growth rate k). */
extern const alig_model_type *const alig_model_densenet;
/** The "dnc" row: the Differentiable Neural Computer of dnc.h on sequence tasks ("dnc", "dnc-H-N-W-R"). */
extern const alig_model_type *const alig_model_dnc;
/** NULL-terminated list of every model type. */
extern const alig_model_type *const alig_model_types[];

/** @brief The row `name` belongs to (see the file comment), or NULL. */
const alig_model_type *alig_model_type_find(const char *name);

/** A model instance: its row, the row's opaque state and the name it was built from. */
typedef struct alig_model {
    const alig_model_type *type;
    void *impl;
    char name[64];
} alig_model;

/**
 * @brief Find the row of `name`, check it fits the task (kind and shape) and build it.
 * @param o     options (NULL: ALIG_MODEL_OPTS_DEFAULT).
 * @param err   receives a message naming what is wrong ("" on success).
 * @return ALIG_SUCCESS; ALIG_EINVAL (unknown name, malformed, option not applicable);
 *         ALIG_EUNSUPPORTED (the model does not train on this kind of task); ALIG_EBADLEN,
 *         ALIG_EBADBATCH (sizes); ALIG_ENOMEM. *out is NULL on failure; free with alig_model_free.
 */
alig_status alig_model_alloc(alig_model **out, const char *name, const alig_model_opts *o, const alig_task *task,
                             uint64_t seed, char *err, size_t errlen);

/** @brief Free the model and its row's state. NULL-safe. */
void alig_model_free(alig_model *m);

/** @brief n, x, g of the model (see the row); 0 / NULL for NULL. */
size_t alig_model_n(const alig_model *m);
float *alig_model_x(alig_model *m);
float *alig_model_g(alig_model *m);

/** @brief The row's gradient on a batch. @return its status; ALIG_EINVAL on NULL or a batch of another kind. */
alig_status alig_model_gradient(alig_model *m, const alig_batch *b, double *loss, size_t *correct);

/**
 * @brief The loss of every sample of `set` in evaluation mode (no dropout, batch norm on its running
 *        statistics, the set as stored: no augmentation), through the row's sample_losses.
 * @param losses     receives set->n values (losses[i]: sample i; NaN where a score is not finite).
 * @param mean, acc  their mean (summed in sample order, equal to the row's evaluate) and the accuracy;
 *                   either may be NULL.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, empty set, a set that does not fit the model);
 *         ALIG_EUNSUPPORTED (the row has no per-sample evaluation: sequence models); ALIG_ENOMEM.
 */
alig_status alig_model_sample_losses(alig_model *m, const alig_image_set *set, double *losses, double *mean,
                                     double *acc);

/** @brief Buffer count (0 when the row has none) and the buffer array. */
size_t alig_model_nbuf(const alig_model *m);
float *alig_model_buf(alig_model *m);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_MODEL_H */
