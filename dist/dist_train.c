/* dist_train.c - the training loop's data-parallel hooks over dist.h (see dist_train.h). No MPI
 * here: the messages go through alig_dist_allreduce_*. */
#include "dist/dist_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"

struct alig_dist_train {
    size_t n, nbuf;
    double *d;      /* n + nbuf + ALIG_TRAIN_REDUCE_SUMS */
    int disagreed;
};

int alig_dist_train_disagreed(const alig_dist_train *d) { return d && d->disagreed; }

int alig_dist_train_alloc(alig_dist_train **out, size_t n, size_t nbuf)
{
    *out = NULL;
    alig_dist_train *d = calloc(1, sizeof *d);
    if (!d) return -1;
    d->n = n;
    d->nbuf = nbuf;
    if (!(d->d = malloc((n + nbuf + ALIG_TRAIN_REDUCE_SUMS) * sizeof *d->d))) {
        free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void alig_dist_train_free(alig_dist_train *d)
{
    if (!d) return;
    free(d->d);
    free(d);
}

void alig_dist_train_hook(alig_train_params *p, alig_dist_train *d)
{
    if (alig_dist_size() <= 1) return;
    p->shard_rank = alig_dist_rank();
    p->shard_size = alig_dist_size();
    p->reduce = alig_dist_train_reduce;
    p->agree = alig_dist_train_agree;
    p->shard_ctx = d;
}

alig_status alig_dist_train_reduce(void *ctx, float *g, size_t n, float *buf, size_t nbuf, double weight,
                                   double sums[ALIG_TRAIN_REDUCE_SUMS], char *err, size_t errlen)
{
    alig_dist_train *d = ctx;
    if (!d || n != d->n || nbuf != d->nbuf) {
        snprintf(err, errlen, "the reduction was set up for %zu parameters and %zu buffers, called with %zu and %zu",
                 d ? d->n : 0, d ? d->nbuf : 0, n, nbuf);
        return ALIG_EINVAL;
    }
    double *v = d->d;
    for (size_t i = 0; i < n; i++) v[i] = weight * (double)g[i];
    for (size_t i = 0; i < nbuf; i++) v[n + i] = weight * (double)buf[i];
    memcpy(v + n + nbuf, sums, ALIG_TRAIN_REDUCE_SUMS * sizeof *sums);
    if (alig_dist_allreduce_sum(v, n + nbuf + ALIG_TRAIN_REDUCE_SUMS, err, errlen)) return ALIG_EIO;
    for (size_t i = 0; i < n; i++) g[i] = (float)v[i];
    for (size_t i = 0; i < nbuf; i++) buf[i] = (float)v[n + i];
    memcpy(sums, v + n + nbuf, ALIG_TRAIN_REDUCE_SUMS * sizeof *sums);
    return ALIG_SUCCESS;
}

static uint64_t fnv_words(uint64_t h, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, a + i, sizeof w);
        h = (h ^ w) * 0x100000001B3ULL;
    }
    return h;
}

uint64_t alig_dist_train_checksum(const float *x, size_t n, const float *buf, size_t nbuf)
{
    return fnv_words(fnv_words(0xCBF29CE484222325ULL, x, n), buf, nbuf);
}

alig_status alig_dist_train_agree(void *ctx, const float *x, size_t n, const float *buf, size_t nbuf, uint64_t steps,
                                  char *err, size_t errlen)
{
    alig_dist_train *d = ctx;
    const uint64_t h = alig_dist_train_checksum(x, n, buf, nbuf);
    /* max over the ranks of (h, ~h, steps, ~steps): the largest and (complemented) smallest of each */
    unsigned long long v[4] = { h, ~h, steps, ~(unsigned long long)steps };
    if (alig_dist_allreduce_max_u64(v, 4, err, errlen)) return ALIG_EIO;
    if (d && (v[2] != ~v[3] || v[0] != ~v[1])) d->disagreed = 1;
    if (v[2] != ~v[3]) {
        snprintf(err, errlen, "the ranks are at different steps (%llu to %llu)", ~v[3], v[2]);
        return ALIG_EINVAL;
    }
    if (v[0] != ~v[1]) {
        snprintf(err, errlen, "the checksums of the parameters and buffers differ between ranks (rank %d: %016llx; "
                 "smallest %016llx, largest %016llx)", alig_dist_rank(), (unsigned long long)h, ~v[1], v[0]);
        return ALIG_EINVAL;
    }
    return ALIG_SUCCESS;
}
