/* train_impl.h - private to train/: growing text, atomic file writes, the checkpoint writer. */
#ifndef ALIG_TRAIN_IMPL_H
#define ALIG_TRAIN_IMPL_H

#include <stddef.h>
#include "alig/train.h"

/* Growing text; `failed` is sticky (out of memory). */
typedef struct tr_text {
    char *p;
    size_t len, cap;
    int failed;
} tr_text;

void tr_text_add(tr_text *s, const char *src, size_t len);
void tr_text_printf(tr_text *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A number: "%.17g", or for non-finite values "nan"/"inf"/"-inf" (csv) or null (json). */
void tr_text_num(tr_text *s, double v, int json);
void tr_text_free(tr_text *s);

/* Write len bytes to path atomically: "<path>.tmp.XXXXXX" next to it, fsync, rename, then a
 * best-effort fsync of the directory. On failure the temporary file is removed, path is
 * untouched, and err gets "<path>: <what failed>: <errno text>". Returns ALIG_SUCCESS or ALIG_EIO. */
alig_status tr_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* The loop state a checkpoint carries (the tail fields of alig_train_checkpoint). */
typedef struct tr_loop {
    int step_mode;
    uint64_t steps_done;
    size_t epochs_done;
    uint64_t log_every;
    double clip_norm;
    double win_loss, win_step, win_stepu;
    uint64_t win_steps, win_zero_grad, win_clips, win_clipped;
} tr_loop;

/* Write a checkpoint of model + solver + loop + logs + user block to path, atomically. */
alig_status tr_checkpoint_save(const char *path, alig_model *model, const alig_solver *solver, const void *params,
                               const tr_loop *loop, const tr_text *csv, const tr_text *jsonl, const void *user,
                               size_t user_bytes, char *err, size_t errlen);

/* ---------------------------------------------------------------- data parallelism (shard.c) */

/* The slice [lo, hi) of a batch of n samples that shard `rank` of `size` computes. */
void tr_shard_slice(size_t n, int rank, int size, size_t *lo, size_t *hi);

/* Whether a run with params->shard_size > 1 can be sharded (the hook is there, image batches,
 * no profiling, every slice of every batch holds a sample). ALIG_SUCCESS, or a status with a
 * message in err. */
alig_status tr_shard_check(const alig_task *task, const alig_model *model, const alig_train_params *p, char *err,
                           size_t errlen);

/* The gradient of this shard's slice of b, then params->reduce: on success the model's g and
 * buffers, *loss and *correct are those of the whole batch b. A failure of the model leaves err
 * untouched (the caller names the step); a failure of the reduction fills it. */
alig_status tr_shard_gradient(alig_model *model, const alig_batch *b, const alig_train_params *p, double *loss,
                              size_t *correct, char *err, size_t errlen);

#endif
