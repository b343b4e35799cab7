/* shard.c - data-parallel steps of the training loop (include/alig/train.h, "Data-parallel
 * training"): the slice of a batch a shard computes, its random stream, and the call of the
 * caller's reduction. Nothing here knows how shards talk to each other (dist/ does, over MPI).
 *
 * Why it is written the way it is:
 *   - the slice of shard r of K is [⌊N·r/K⌋, ⌊N·(r+1)/K⌋): contiguous, the sizes differ by at most
 *     one, and the slices in order are the batch in order, so the global batch is the very samples
 *     of the one-process run (image batches are a window idx[start .. start+n) of the task's
 *     order, so a slice is the same window moved and shortened; with augmentation the task has
 *     already cropped and flipped the whole batch with the draws of each sample's position in it);
 *   - the gradient a model returns is that of the mean loss over its samples, so the global mean
 *     is Σ_r (n_r/N)·g_r; the weight is handed to the reduction, which forms the products and the
 *     sum in double and rounds once (with one shard the weight is exactly 1 and nothing changes);
 *   - the model's random stream is a counter (seed, position): every shard advances the position
 *     the same way, and shard r > 0 draws with seed mix(seed, r) in between, so the position, and
 *     the seed a checkpoint stores, stay those of shard 0 on every shard. */
#include <stdio.h>
#include <string.h>

#include "train_impl.h"

/* SplitMix64's finaliser (Steele, Lea & Flood, OOPSLA 2014): the seed of shard r's draws. */
static uint64_t shard_seed(uint64_t seed, int rank)
{
    uint64_t z = seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)rank);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void tr_shard_slice(size_t n, int rank, int size, size_t *lo, size_t *hi)
{
    /* n·(r + 1) stays far below 2^64 for any batch that fits in memory */
    *lo = (size_t)((unsigned long long)n * (unsigned)rank / (unsigned)size);
    *hi = (size_t)((unsigned long long)n * ((unsigned)rank + 1u) / (unsigned)size);
}

alig_status tr_shard_check(const alig_task *task, const alig_model *model, const alig_train_params *p, char *err,
                           size_t errlen)
{
    const int K = p->shard_size;
    if (K <= 1) return ALIG_SUCCESS;
    if (!p->reduce) {
        snprintf(err, errlen, "data-parallel training over %d shards needs a reduce function", K);
        return ALIG_EINVAL;
    }
    if (task->shape.kind != ALIG_TASK_IMAGE) {
        snprintf(err, errlen, "data-parallel training slices image batches; task '%s' yields sequence batches of a "
                 "size model '%s' is built for: train it in one process", task->type->name, model->name);
        return ALIG_EUNSUPPORTED;
    }
    if (p->profile) {
        snprintf(err, errlen, "profiling times the full-batch graph, which a shard of a data-parallel run never runs: "
                 "profile in one process");
        return ALIG_EUNSUPPORTED;
    }
    /* the smallest batch: a full one, or the short last batch of an epoch */
    const size_t B = (size_t)task->shape.batch, n = task->train.n, E = task->epoch_batches;
    size_t smallest = B;
    if (E && (E - 1) * B < n && n - (E - 1) * B < B) smallest = n - (E - 1) * B;
    if (smallest < (size_t)K) {
        snprintf(err, errlen, "a batch of %zu sample%s (%s) cannot be split over %d shards: every shard needs at least "
                 "one", smallest, smallest == 1 ? "" : "s", smallest == B ? "the batch size" : "the last batch of each "
                 "epoch", K);
        return ALIG_EBADBATCH;
    }
    return ALIG_SUCCESS;
}

alig_status tr_shard_gradient(alig_model *model, const alig_batch *b, const alig_train_params *p, double *loss,
                              size_t *correct, char *err, size_t errlen)
{
    const int r = p->shard_rank;
    size_t lo, hi;
    tr_shard_slice(b->n, r, p->shard_size, &lo, &hi);
    alig_batch s = *b;
    s.start = b->start + lo;
    s.n = hi - lo;
    const alig_model_type *t = model->type;
    const int own_rng = r > 0 && t->get_rng && t->set_rng;
    uint64_t seed = 0, pos = 0;
    if (own_rng) {
        t->get_rng(model->impl, &seed, &pos);
        t->set_rng(model->impl, shard_seed(seed, r), pos);
    }
    double l = 0.0;
    size_t c = 0;
    alig_status st = alig_model_gradient(model, &s, &l, &c);
    if (own_rng) {
        uint64_t drawn_seed;
        t->get_rng(model->impl, &drawn_seed, &pos);
        t->set_rng(model->impl, seed, pos);
    }
    if (st) return st;   /* the caller names the step */
    const double w = (double)s.n / (double)b->n;
    double sums[ALIG_TRAIN_REDUCE_SUMS] = { w * l, (double)s.n, (double)c };
    char why[400] = "";
    st = p->reduce(p->shard_ctx, alig_model_g(model), alig_model_n(model), alig_model_buf(model),
                   alig_model_nbuf(model), w, sums, why, sizeof why);
    if (st) {
        snprintf(err, errlen, "the reduction over %d shards failed: %s", p->shard_size, why[0] ? why : alig_strerror(st));
        return st;
    }
    if (sums[1] != (double)b->n) {
        snprintf(err, errlen, "the reduction over %d shards counted %.17g samples in a batch of %zu: the shards do not "
                 "take the same batch", p->shard_size, sums[1], b->n);
        return ALIG_EINVAL;
    }
    *loss = sums[0];
    *correct = (size_t)sums[2];
    return ALIG_SUCCESS;
}
