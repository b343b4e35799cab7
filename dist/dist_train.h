/* dist_train.h - data-parallel `alig train` over the ranks of an MPI job: the training loop's
 * reduce and agree hooks (include/alig/train.h, "Data-parallel training") built on dist.h's
 * allreduce. Without MPI in the build, or alone, the job has one rank and the hooks are the
 * identity (and are not installed: shard_size stays 1).
 *
 * The reduction packs w·g, w·buf (w = this rank's share of the batch) and the three sums into one
 * buffer of doubles, sums it over the ranks in one MPI_Allreduce and rounds the result to float
 * once: the gradient is accumulated in double (8 bytes per parameter on the wire instead of 4).
 * The check hashes the bits of x and of the buffers (FNV-1a over 32-bit words) and compares the
 * largest and smallest hash over the ranks. */
#ifndef ALIG_DIST_TRAIN_H
#define ALIG_DIST_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "alig/train.h"

typedef struct alig_dist_train alig_dist_train;

/** A context for a model of n parameters and nbuf buffer values. @return 0, or -1 (out of memory). */
int alig_dist_train_alloc(alig_dist_train **out, size_t n, size_t nbuf);

/** Free it. NULL-safe. */
void alig_dist_train_free(alig_dist_train *d);

/** Point p's shard fields at this job (rank, size, the hooks below, d) when it has more than one
 *  rank; leave them alone otherwise. */
void alig_dist_train_hook(alig_train_params *p, alig_dist_train *d);

/** The reduce hook (alig_train_reduce_fn); ctx is an alig_dist_train. */
alig_status alig_dist_train_reduce(void *ctx, float *g, size_t n, float *buf, size_t nbuf, double weight,
                                   double sums[ALIG_TRAIN_REDUCE_SUMS], char *err, size_t errlen);

/** The agree hook (alig_train_agree_fn): ALIG_EINVAL when the ranks' x or buffers differ. */
alig_status alig_dist_train_agree(void *ctx, const float *x, size_t n, const float *buf, size_t nbuf, uint64_t steps,
                                  char *err, size_t errlen);

/** 1 when agree found the ranks apart: every rank then knows it (the check is collective). */
int alig_dist_train_disagreed(const alig_dist_train *d);

/** FNV-1a (64 bits) of the bit patterns of x[0..n) then buf[0..nbuf): what agree compares. */
uint64_t alig_dist_train_checksum(const float *x, size_t n, const float *buf, size_t nbuf);

#endif
