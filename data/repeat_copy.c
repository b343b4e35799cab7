/* repeat_copy.c - the repeat-copy task of the DNC paper (see include/alig/task.h): a seeded,
 * counter-based generator and the "repeat-copy" row of the task table.
 *
 * Why counter-based: the training loop asks for batch k of the run; deriving the stream from
 * (seed, k) alone means a resumed run draws exactly the batches the uninterrupted run drew, with
 * nothing about the generator in the checkpoint. SplitMix64 is a good fit: its state is one
 * 64-bit counter and its output function is a strong 64-bit mixer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "tasks.h"
#include "../nets/splitmix.h"

typedef struct { uint64_t s; } sm64;

static uint64_t sm64_next(sm64 *r) { return alig_splitmix_next(&r->s); }

/* Uniform integer in [lo, hi] (hi − lo < 2^32), by rejection of the top partial block. */
static int uniform_int(sm64 *r, int lo, int hi)
{
    const uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % span;   /* accept v < limit: a multiple of span */
    uint64_t v;
    do v = sm64_next(r);
    while (v >= limit);
    return lo + (int)(v % span);
}

alig_status alig_seq_batch_alloc(alig_seq_batch *b, int T_cap, int B, int in_dim, int out_dim)
{
    if (!b) return ALIG_EINVAL;
    memset(b, 0, sizeof *b);
    if (T_cap < 1 || B < 1 || in_dim < 1 || out_dim < 1) return ALIG_EBADLEN;
    const size_t tb = (size_t)T_cap * (size_t)B;
    b->obs = calloc(tb * (size_t)in_dim, sizeof *b->obs);
    b->targ = calloc(tb * (size_t)out_dim, sizeof *b->targ);
    b->mask = calloc(tb, sizeof *b->mask);
    b->len = calloc((size_t)B, sizeof *b->len);
    if (!b->obs || !b->targ || !b->mask || !b->len) {
        alig_seq_batch_free(b);
        return ALIG_ENOMEM;
    }
    b->B = B;
    b->in_dim = in_dim;
    b->out_dim = out_dim;
    b->T_cap = T_cap;
    return ALIG_SUCCESS;
}

void alig_seq_batch_free(alig_seq_batch *b)
{
    if (!b) return;
    free(b->obs);
    free(b->targ);
    free(b->mask);
    free(b->len);
    memset(b, 0, sizeof *b);
}

alig_status alig_repeat_copy_check(const alig_repeat_copy_params *p)
{
    if (!p) return ALIG_EINVAL;
    if (p->num_bits < 1 || p->num_bits > 64 || p->batch < 1 || p->min_length < 1 || p->max_length < p->min_length ||
        p->min_repeats < 1 || p->max_repeats < p->min_repeats || p->max_length > 1000 || p->max_repeats > 1000)
        return ALIG_EBADLEN;
    if (!isfinite(p->norm_max) || !(p->norm_max > 0.0)) return ALIG_EINVAL;
    return ALIG_SUCCESS;
}

int alig_repeat_copy_max_T(const alig_repeat_copy_params *p)
{
    if (alig_repeat_copy_check(p)) return 0;
    return p->max_length * (p->max_repeats + 1) + 3;
}

alig_status alig_repeat_copy_batch(const alig_repeat_copy_params *p, uint64_t seed, uint64_t k,
                                   alig_seq_batch *out)
{
    if (!out || alig_repeat_copy_check(p)) return ALIG_EINVAL;
    const int W = p->num_bits, B = p->batch, ID = W + 2, OD = W + 1;
    if (out->B != B || out->in_dim != ID || out->out_dim != OD || out->T_cap < alig_repeat_copy_max_T(p) ||
        !out->obs || !out->targ || !out->mask || !out->len)
        return ALIG_EBADLEN;
    sm64 r = { alig_splitmix_mix(alig_splitmix(seed) ^ alig_splitmix_mix(k ^ UINT64_C(0x5EED))) };

    /* draw every sample first: T = max T_b fixes the layout */
    int T = 0;
    int *L = malloc((size_t)B * 2 * sizeof *L);
    uint64_t *bits = NULL;
    const size_t words_per = ((size_t)p->max_length * (size_t)W + 63) / 64;
    if (!L || !(bits = malloc((size_t)B * words_per * sizeof *bits))) {
        free(L);
        return ALIG_ENOMEM;
    }
    int *R = L + B;
    for (int b = 0; b < B; b++) {
        L[b] = uniform_int(&r, p->min_length, p->max_length);
        R[b] = uniform_int(&r, p->min_repeats, p->max_repeats);
        const size_t nw = ((size_t)L[b] * (size_t)W + 63) / 64;
        for (size_t w = 0; w < nw; w++) bits[(size_t)b * words_per + w] = sm64_next(&r);
        const int Tb = L[b] * (R[b] + 1) + 3;
        out->len[b] = Tb;
        if (Tb > T) T = Tb;
    }
    out->T = T;
    const size_t tb = (size_t)T * (size_t)B;
    memset(out->obs, 0, tb * (size_t)ID * sizeof *out->obs);
    memset(out->targ, 0, tb * (size_t)OD * sizeof *out->targ);
    memset(out->mask, 0, tb * sizeof *out->mask);
#define OBS(t, b, c) out->obs[((size_t)(t) * (size_t)B + (size_t)(b)) * (size_t)ID + (size_t)(c)]
#define TARG(t, b, c) out->targ[((size_t)(t) * (size_t)B + (size_t)(b)) * (size_t)OD + (size_t)(c)]
    for (int b = 0; b < B; b++) {
        const int Lb = L[b], Rb = R[b];
        const uint64_t *wb = bits + (size_t)b * words_per;
        OBS(0, b, W) = 1.0f;                                         /* start flag */
        for (int i = 0; i < Lb; i++)
            for (int c = 0; c < W; c++) {
                const size_t j = (size_t)i * (size_t)W + (size_t)c;      /* bit j of the pattern, row-major */
                const float v = (float)((wb[j / 64] >> (j % 64)) & 1u);
                OBS(1 + i, b, c) = v;
                for (int rep = 0; rep < Rb; rep++) TARG(Lb + 2 + rep * Lb + i, b, c) = v;
            }
        OBS(Lb + 1, b, W + 1) = (float)((double)Rb / p->norm_max);  /* repeat count */
        TARG(Lb + 2 + Lb * Rb, b, W) = 1.0f;                        /* end marker */
        for (int t = Lb + 2; t < Lb * (Rb + 1) + 3; t++) out->mask[(size_t)t * (size_t)B + (size_t)b] = 1.0f;
    }
#undef OBS
#undef TARG
    free(L);
    free(bits);
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- the task row */

static alig_status rc_batch(alig_task *t, uint64_t k, alig_batch *out)
{
    alig_status st = alig_repeat_copy_batch(&t->rc, t->seed, k, &t->seq);
    if (st) return st;
    memset(out, 0, sizeof *out);
    out->kind = ALIG_TASK_SEQUENCE;
    out->n = (size_t)t->seq.B;
    out->seq = &t->seq;
    return ALIG_SUCCESS;
}

static int rc_describe(const alig_task *t, char *buf, size_t len)
{
    const alig_repeat_copy_params *p = &t->rc;
    return snprintf(buf, len,
                    "\"num_bits\": %d, \"batch\": %d, \"min_length\": %d, \"max_length\": %d, \"min_repeats\": %d, "
                    "\"max_repeats\": %d, \"norm_max\": %.17g, \"seed\": %llu, \"in_dim\": %d, \"out_dim\": %d, "
                    "\"max_T\": %d",
                    p->num_bits, p->batch, p->min_length, p->max_length, p->min_repeats, p->max_repeats, p->norm_max,
                    (unsigned long long)t->seed, t->shape.in_dim, t->shape.out_dim, t->shape.max_T);
}

static void rc_free(alig_task *t) { alig_seq_batch_free(&t->seq); }

const alig_task_type alig_task_row_repeat_copy = {
    .name = "repeat-copy",
    .kind = ALIG_TASK_SEQUENCE,
    .loss = "masked-sigmoid-ce",
    .finite = 0,
    .batch = rc_batch,
    .describe = rc_describe,
    .free_data = rc_free,
};

alig_status alig_task_repeat_copy_alloc(alig_task **out, const alig_repeat_copy_params *p, uint64_t seed)
{
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    const alig_repeat_copy_params def = ALIG_REPEAT_COPY_DEFAULT;
    if (!p) p = &def;
    alig_status st = alig_repeat_copy_check(p);
    if (st) return st;
    alig_task *t = calloc(1, sizeof *t);
    if (!t) return ALIG_ENOMEM;
    t->type = &alig_task_row_repeat_copy;
    t->rc = *p;
    t->seed = seed;
    const int maxT = alig_repeat_copy_max_T(p);
    if ((st = alig_seq_batch_alloc(&t->seq, maxT, p->batch, p->num_bits + 2, p->num_bits + 1))) {
        free(t);
        return st;
    }
    t->shape = (alig_task_shape){ .kind = ALIG_TASK_SEQUENCE, .in_dim = p->num_bits + 2, .out_dim = p->num_bits + 1,
                                  .max_T = maxT, .batch = p->batch };
    *out = t;
    return ALIG_SUCCESS;
}
