/**
 * @file task.h
 * @brief Training tasks: data that yields mini-batches, and the loss a model is trained on there.
 *
 * A task is one row of a const type table (alig_task_types) plus an instance (alig_task) that
 * holds its data. It hands the training loop (train.h) batch number k of a run through
 * alig_task_batch(); the model (model.h) consumes it. Two kinds of batches exist:
 *   - image batches (ALIG_TASK_IMAGE): samples idx[start .. start+n) of an alig_image_set
 *     (data.h), labels as class numbers; the loss is the mean softmax cross-entropy;
 *   - sequence batches (ALIG_TASK_SEQUENCE): an alig_seq_batch, time-major, with a mask;
 *     the loss is the masked sigmoid cross-entropy summed over time and channels and averaged
 *     over the batch (the model computes it).
 *
 * Rows:
 *   - "image": an IDX data set (Fashion-MNIST or any four IDX files, data.h), CIFAR-10,
 *     CIFAR-100 or SVHN (vision.h) split into training / validation with a seeded split,
 *     standardised per channel with the training split's statistics, walked in epochs: batch k
 *     is batch i = k mod E of epoch e = k div E, E = ceil(n / batch) (or max_batches), over the
 *     order alig_data_shuffle_indices(n, seed, e). The last batch of an epoch may be short.
 *     SVHN's training split is what remains of train_32x32.mat after the validation samples,
 *     followed by extra_32x32.mat (the ALI-G paper's protocol). With augmentation on, every
 *     training sample of batch k is cropped and flipped (alig_augment_image, padding 4 with the
 *     standardised value of a black pixel) with the draws alig_augment_draws(seed, k, j, 4) of
 *     its position j in the batch; evaluation sets are never augmented.
 *   - "repeat-copy": the repeat-copy generator of the DNC paper (Graves et al., "Hybrid
 *     computing using a neural network with dynamic external memory", Nature 2016; the task code
 *     of deepmind/dnc, `repeat_copy.py`), endless: batch k of seed s is a pure function of
 *     (s, k) (alig_repeat_copy_batch), so a run needs no generator state to resume.
 *
 * The library never prints or exits. Ownership is stated per function.
 */
#ifndef ALIG_TASK_H
#define ALIG_TASK_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"
#include "alig/data.h"
#include "alig/vision.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* Sequence batches and the repeat-copy generator                            */
/* ------------------------------------------------------------------------- */

/**
 * A batch of variable-length sequences, time-major and zero-padded at the end. Element (t, b, c)
 * of obs is obs[(t·B + b)·in_dim + c]; likewise targ with out_dim and mask[t·B + b].
 * Rows t >= len[b] of sample b are padding: obs, targ and mask are 0 there.
 */
typedef struct alig_seq_batch {
    int T, B;              /**< time steps (max over the batch), batch size */
    int in_dim, out_dim;   /**< observation and target channels */
    float *obs;            /**< [T, B, in_dim], time-major */
    float *targ;           /**< [T, B, out_dim] */
    float *mask;           /**< [T, B] */
    int *len;              /**< [B] per-sample lengths before padding */
    int T_cap;             /**< capacity in time steps of the arrays (alig_seq_batch_alloc) */
} alig_seq_batch;

/**
 * @brief Allocate the arrays of a batch for up to T_cap time steps (T is set to 0; everything zero).
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL), ALIG_EBADLEN (a size < 1), ALIG_ENOMEM (b zeroed).
 *         Free with alig_seq_batch_free.
 */
alig_status alig_seq_batch_alloc(alig_seq_batch *b, int T_cap, int B, int in_dim, int out_dim);

/** @brief Free the arrays and zero the struct. NULL-safe. */
void alig_seq_batch_free(alig_seq_batch *b);

/** Settings of the repeat-copy generator (deepmind/dnc `RepeatCopy`). */
typedef struct alig_repeat_copy_params {
    int num_bits;          /**< pattern width W >= 1 [4] */
    int batch;             /**< batch size B >= 1 [16] */
    int min_length, max_length;    /**< pattern length L ~ U{min..max}, 1 <= min <= max [1, 2] */
    int min_repeats, max_repeats;  /**< repeats R ~ U{min..max}, 1 <= min <= max [1, 2] */
    double norm_max;       /**< the repeat channel holds R / norm_max; finite, > 0 [10] */
} alig_repeat_copy_params;

/** The paper's setting: RepeatCopy(4, 16, 1, 2, 1, 2), norm_max 10. */
#define ALIG_REPEAT_COPY_DEFAULT { 4, 16, 1, 2, 1, 2, 10.0 }

/** @brief Check every field. @return ALIG_SUCCESS, ALIG_EINVAL (NULL, norm_max), ALIG_EBADLEN (sizes). */
alig_status alig_repeat_copy_check(const alig_repeat_copy_params *p);

/** @brief Longest sequence: max_length·(max_repeats + 1) + 3 (0 if p is invalid). */
int alig_repeat_copy_max_T(const alig_repeat_copy_params *p);

/**
 * @brief Batch k of seed s of the repeat-copy task, written into `out` (allocated by
 *        alig_seq_batch_alloc with T_cap >= alig_repeat_copy_max_T(p), B = p->batch,
 *        in_dim = W + 2, out_dim = W + 1).
 *
 * Per sample b (in order b = 0..B−1), draw L_b ~ U{min_length..max_length}, then
 * R_b ~ U{min_repeats..max_repeats}, then the L_b × W pattern P of fair bits (row by row). With
 * channels obs 0..W−1 bits, W start flag, W+1 repeat count; targ 0..W−1 bits, W end marker:
 * @code
 *   obs:  row 0: ch W = 1 | rows 1..L: P | row L+1: ch W+1 = R/norm_max | then L·R+1 zero rows
 *   targ: rows 0..L+1: 0  | rows L+2 .. L+1+L·R: P tiled R times | row L+2+L·R: ch W = 1
 *   mask: 0 on rows 0..L+1, 1 on the next L·R + 1 rows
 * @endcode
 * so len[b] = T_b = L(R + 1) + 3, and T = max_b T_b; rows past T_b are zero.
 *
 * The draws come from a counter-based stream: SplitMix64 (Steele, Lea & Flood, OOPSLA 2014)
 * whose state starts at m(m(s + γ) ^ m(k ^ 0x5EED)), with m SplitMix64's finaliser (output
 * function) and γ = 0x9E3779B97F4A7C15 its increment (so m(s + γ) is the generator's first
 * output from state s); each draw adds γ to the state and returns m of it. One 64-bit word is
 * drawn per integer (bounded by rejection, so uniform exactly) and one per 64 pattern bits. Batch k is therefore a pure
 * function of (p, s, k): no state carries from one batch to the next.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, invalid p); ALIG_EBADLEN (out too small or of other
 *         dimensions).
 */
alig_status alig_repeat_copy_batch(const alig_repeat_copy_params *p, uint64_t seed, uint64_t k,
                                   alig_seq_batch *out);

/* ------------------------------------------------------------------------- */
/* Tasks                                                                     */
/* ------------------------------------------------------------------------- */

/** Which batches a task yields (and so which models can train on it). */
typedef enum alig_task_kind { ALIG_TASK_IMAGE = 0, ALIG_TASK_SEQUENCE = 1 } alig_task_kind;

/** One mini-batch as the loop hands it to a model. */
typedef struct alig_batch {
    alig_task_kind kind;
    size_t n;                       /**< samples in this batch (an image batch may be short) */
    const alig_image_set *set;      /**< image: samples idx[start .. start+n) of set */
    const size_t *idx;
    size_t start;
    const alig_seq_batch *seq;      /**< sequence: the batch (seq->B = n) */
} alig_batch;

/** What a model must fit: the input and output sizes of a task. */
typedef struct alig_task_shape {
    alig_task_kind kind;
    int in_c, in_h, in_w, classes;  /**< image */
    int in_dim, out_dim, max_T;     /**< sequence */
    int batch;                      /**< training batch size */
} alig_task_shape;

typedef struct alig_task alig_task;

/** A row of the task table. */
typedef struct alig_task_type {
    const char *name;               /**< "image", "repeat-copy" */
    alig_task_kind kind;
    const char *loss;               /**< the training loss, by name ("softmax-ce", "masked-sigmoid-ce") */
    int finite;                     /**< 1: a data set walked in epochs; 0: an endless generator */
    /** Fill `out` with batch k of the run (k = 0, 1, ...). The batch points into the task. */
    alig_status (*batch)(alig_task *t, uint64_t k, alig_batch *out);
    /** Append the task's settings as JSON members ("key": value, ...) to buf; returns the
     *  length it needed (snprintf semantics). */
    int (*describe)(const alig_task *t, char *buf, size_t len);
    void (*free_data)(alig_task *t);
} alig_task_type;

extern const alig_task_type *const alig_task_image;        /**< "image" */
extern const alig_task_type *const alig_task_repeat_copy;  /**< "repeat-copy" */
/** NULL-terminated list of every task type. */
extern const alig_task_type *const alig_task_types[];
/** @brief The row called `name`, or NULL. */
const alig_task_type *alig_task_type_find(const char *name);

/** Padding of the image task's random crop (the CIFAR protocol's 4 pixels). */
#define ALIG_TASK_AUGMENT_PAD 4

/** Settings of an image task. Strings are copied. */
typedef struct alig_task_image_cfg {
    const char *data;               /**< "fashion-mnist", "cifar10", "cifar100", "svhn" (these three
                                         read from data_dir), a directory with the four Fashion-MNIST
                                         files, or NULL/"" to use the four IDX paths below */
    const char *train_images, *train_labels, *test_images, *test_labels;
    size_t classes;                 /**< IDX files: labels must be < classes; 0 = max label + 1 */
    size_t val;                     /**< validation samples split off the training files, >= 1 */
    unsigned long val_seed;         /**< seed of that split */
    size_t train_subset, test_subset;   /**< keep the first N samples (0 = all) */
    size_t batch;                   /**< training batch size >= 1 */
    size_t max_batches;             /**< at most this many batches per epoch (0 = all) */
    unsigned long seed;             /**< epoch order (and augmentation draws) */
    const char *data_dir;           /**< cifar10 / cifar100 / svhn: the directory of the files */
    int coarse;                     /**< cifar100: 1 = the 20 coarse classes, 0 = the 100 fine ones [0] */
    int no_extra;                   /**< svhn: 1 = leave extra_32x32.mat out of the training split [0] */
    int augment;                    /**< 1 = random crop (padding ALIG_TASK_AUGMENT_PAD) and flip of
                                         every training batch; 0 = none [0] */
} alig_task_image_cfg;

/**
 * A task instance. Fields are read-only for callers; build with alig_task_image_load or
 * alig_task_repeat_copy_alloc, free with alig_task_free.
 */
struct alig_task {
    const alig_task_type *type;
    alig_task_shape shape;
    uint64_t seed;                  /**< data seed (epoch order, generator) */
    size_t epoch_batches;           /**< finite tasks: batches per epoch; 0 for generators */
    /* image */
    alig_image_set train, val, test;
    double mean[4], std[4];         /**< per-channel standardisation of the training split */
    alig_task_image_cfg icfg;       /**< the settings (strings owned by the task) */
    alig_image_set aug;             /**< augmentation on: the last augmented batch (capacity batch) */
    float fill[4];                  /**< augmentation: the padding value of each channel */
    size_t *perm;                   /**< the order of epoch perm_epoch */
    uint64_t perm_epoch;
    int perm_valid;
    /* sequence */
    alig_repeat_copy_params rc;
    alig_seq_batch seq;             /**< the last batch drawn */
};

/**
 * @brief Load, split, standardise and subset an image data set (see the file comment).
 * @param err  receives a message naming what is wrong ("" on success), e.g. the file that failed.
 * @return ALIG_SUCCESS; ALIG_EIO / ALIG_EFORMAT (files; also a channel that is constant over the
 *         training split, which cannot be standardised: err names it); ALIG_EBADLEN (val >= the training
 *         samples); ALIG_EBADBATCH (batch 0 or larger than the training split); ALIG_EINVAL;
 *         ALIG_EUNSUPPORTED (more than 4 channels; svhn in a build without libmatio); ALIG_ENOMEM.
 *         ALIG_EINVAL also for cifar10 / cifar100 / svhn without data_dir. *out is NULL on failure.
 *         Free with alig_task_free. Memory: the sets are held as floats (12 KiB per 3×32×32
 *         image): CIFAR about 0.7 GB; SVHN with extra about 7.4 GB, and twice that while the
 *         training split is assembled.
 */
alig_status alig_task_image_load(alig_task **out, const alig_task_image_cfg *cfg, char *err, size_t errlen);

/**
 * @brief A repeat-copy task with generator settings p (NULL: ALIG_REPEAT_COPY_DEFAULT) and seed.
 * @return ALIG_SUCCESS, ALIG_EINVAL / ALIG_EBADLEN (invalid p), ALIG_ENOMEM. Free with alig_task_free.
 */
alig_status alig_task_repeat_copy_alloc(alig_task **out, const alig_repeat_copy_params *p, uint64_t seed);

/** @brief Free a task and its data. NULL-safe. */
void alig_task_free(alig_task *t);

/** @brief Batch k of the run (the row's batch function). @return its status, ALIG_EINVAL on NULL. */
alig_status alig_task_batch(alig_task *t, uint64_t k, alig_batch *out);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_TASK_H */
