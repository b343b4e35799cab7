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
 * untouched, and err gets "<path>: <what failed>: <errno text>". Returns ALIG_SUCCESS or ALIG_EIO.
 * hook: NULL, or the name of the testing crash points of this write ("<hook>-partial",
 * "<hook>-written", "<hook>-renamed"; see tr_crash_point). */
alig_status tr_write_atomic(const char *path, const void *data, size_t len, const char *hook, char *err,
                            size_t errlen);

/* Testing hook. With the environment variable ALIG_TRAIN_CRASH_AT=POINT:K the process kills
 * itself with SIGKILL the K-th time (K >= 1, counted in this process) it reaches the point named
 * POINT, so that a test can stop a run at an exact place (a step, the middle of a log record,
 * the middle of a checkpoint write) and check what a resume makes of it. Unset, or naming another
 * point: nothing happens. Points: "step" (after a step's update, before its record is logged),
 * "log-partial" (half of a record's log.csv bytes appended), "log-csv" (the record in log.csv,
 * not yet in log.jsonl), "checkpoint-partial" (half of the checkpoint's temporary file written),
 * "checkpoint-written" (the temporary file complete and synced, not renamed), "checkpoint-renamed"
 * (the new checkpoint in place). Counting is per process and not thread-safe: testing only. */
void tr_crash_point(const char *point);

/* Remove the temporary files "<name>.tmp.XXXXXX" that an interrupted tr_write_atomic may have
 * left in dir, for each name of the NULL-terminated list. Returns the number removed. */
size_t tr_remove_stale_tmp(const char *dir, const char *const *names);

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

/* Where the log files stand at a checkpoint: their lengths and the CRC-32 of those bytes. */
typedef struct tr_logpos {
    uint64_t csv_bytes, jsonl_bytes;
    uint32_t csv_crc, jsonl_crc;
} tr_logpos;

/* CRC-32 (zlib's) of len bytes, continuing crc (0 to start). */
uint32_t tr_crc32(uint32_t crc, const void *p, size_t len);

/* Write a checkpoint of model + solver + loop + log positions + user block to path, atomically
 * (format version 2: the logs stay in their files; the checkpoint records how far they go). */
alig_status tr_checkpoint_save(const char *path, alig_model *model, const alig_solver *solver, const void *params,
                               const tr_loop *loop, const tr_logpos *logs, const void *user, size_t user_bytes,
                               char *err, size_t errlen);

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
