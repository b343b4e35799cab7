/* task.c - the task table and the "image" task (see include/alig/task.h).
 *
 * The image task is the data pipeline `alig train` always had, now in the library: load the IDX
 * files, split off a seeded validation set, standardise every split with the training split's
 * per-channel statistics, keep the requested subsets. Batch k is a pure function of the
 * settings and k (the epoch order comes from (seed, epoch)); the permutation of the current
 * epoch is cached, so walking the batches in order shuffles once per epoch, as before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"

/* ---------------------------------------------------------------- table */

const alig_task_type *const alig_task_image = &alig_task_row_image;
const alig_task_type *const alig_task_repeat_copy = &alig_task_row_repeat_copy;

const alig_task_type *const alig_task_types[] = { &alig_task_row_image, &alig_task_row_repeat_copy, NULL };

const alig_task_type *alig_task_type_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; alig_task_types[i]; i++)
        if (!strcmp(alig_task_types[i]->name, name)) return alig_task_types[i];
    return NULL;
}

void alig_task_free(alig_task *t)
{
    if (!t) return;
    if (t->type && t->type->free_data) t->type->free_data(t);
    free(t);
}

alig_status alig_task_batch(alig_task *t, uint64_t k, alig_batch *out)
{
    if (!t || !out || !t->type) return ALIG_EINVAL;
    return t->type->batch(t, k, out);
}

/* ---------------------------------------------------------------- image task */

/* Batch k with augmentation: samples idx[start ..) of the training split, each cropped and
 * flipped with the draws of (seed, k, position), into t->aug. */
static alig_status augment_batch(alig_task *t, uint64_t k, const size_t *idx, size_t start, size_t n)
{
    const alig_image_set *tr = &t->train;
    const size_t ss = alig_image_set_sample_size(tr);
    for (size_t j = 0; j < n; j++) {
        const size_t i = idx[start + j];
        const alig_augment_draw d = alig_augment_draws(t->seed, k, j, ALIG_TASK_AUGMENT_PAD);
        alig_status st = tr->x ? alig_augment_image(tr->x + i * ss, t->aug.x + j * ss, (int)tr->c, (int)tr->h,
                                                    (int)tr->w, ALIG_TASK_AUGMENT_PAD, t->fill, d)
                               : alig_augment_image_bytes(tr->u + i * ss, tr->lut, t->aug.x + j * ss, (int)tr->c,
                                                          (int)tr->h, (int)tr->w, ALIG_TASK_AUGMENT_PAD, t->fill, d);
        if (st) return st;
        t->aug.y[j] = tr->y[i];
    }
    t->aug.n = n;
    return ALIG_SUCCESS;
}

static alig_status image_batch(alig_task *t, uint64_t k, alig_batch *out)
{
    const size_t E = t->epoch_batches, n = t->train.n, B = t->icfg.batch;
    const uint64_t epoch = k / E, i = k % E;
    if (!t->perm_valid || t->perm_epoch != epoch) {
        alig_status st = alig_data_shuffle_indices(n, (unsigned long)t->seed, (unsigned long)epoch, t->perm);
        if (st) return st;
        t->perm_epoch = epoch;
        t->perm_valid = 1;
    }
    const size_t start = (size_t)i * B;
    memset(out, 0, sizeof *out);
    out->kind = ALIG_TASK_IMAGE;
    out->set = &t->train;
    out->idx = t->perm;
    out->start = start;
    out->n = n - start < B ? n - start : B;
    if (t->icfg.augment) {
        alig_status st = augment_batch(t, k, t->perm, start, out->n);
        if (st) return st;
        out->set = &t->aug;
        out->idx = NULL;
        out->start = 0;
    }
    return ALIG_SUCCESS;
}

/* Append to buf (snprintf semantics over a running total). */
#define AT (len > (size_t)total ? buf + total : NULL), (len > (size_t)total ? len - (size_t)total : 0)

/* A JSON string member "key": "v" (paths may hold quotes or backslashes), or null. */
static int json_str(char *buf, size_t len, const char *key, const char *v)
{
    int total = snprintf(buf, len, "\"%s\": ", key);
    if (!v) return total + snprintf(AT, "null");
    total += snprintf(AT, "\"");
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (*c == '"' || *c == '\\') total += snprintf(AT, "\\%c", *c);
        else if (*c < 0x20) total += snprintf(AT, "\\u%04x", *c);
        else total += snprintf(AT, "%c", *c);
    }
    return total + snprintf(AT, "\"");
}

static int image_describe(const alig_task *t, char *buf, size_t len)
{
    const alig_task_image_cfg *c = &t->icfg;
    int total = 0;
    total += json_str(AT, "data", c->data && c->data[0] ? c->data : NULL);
    const char *keys[4] = { "train_images", "train_labels", "test_images", "test_labels" };
    const char *vals[4] = { c->train_images, c->train_labels, c->test_images, c->test_labels };
    for (int i = 0; i < 4; i++) {
        total += snprintf(AT, ", ");
        total += json_str(AT, keys[i], vals[i] && vals[i][0] ? vals[i] : NULL);
    }
    total += snprintf(AT,
                      ", \"classes\": %zu, \"val\": %zu, \"val_seed\": %lu, \"train_subset\": %zu, \"test_subset\": %zu, "
                      "\"batch\": %zu, \"max_batches\": %zu, \"seed\": %lu, \"shape\": [%d, %d, %d], "
                      "\"train_samples\": %zu, \"val_samples\": %zu, \"test_samples\": %zu, \"batches_per_epoch\": %zu, "
                      "\"mean\": [",
                      c->classes ? c->classes : (size_t)t->shape.classes, c->val, c->val_seed, c->train_subset,
                      c->test_subset, c->batch, c->max_batches, c->seed, t->shape.in_c, t->shape.in_h, t->shape.in_w,
                      t->train.n, t->val.n, t->test.n, t->epoch_batches);
    for (int i = 0; i < t->shape.in_c; i++) total += snprintf(AT, i ? ", %.17g" : "%.17g", t->mean[i]);
    total += snprintf(AT, "], \"std\": [");
    for (int i = 0; i < t->shape.in_c; i++) total += snprintf(AT, i ? ", %.17g" : "%.17g", t->std[i]);
    total += snprintf(AT, "], \"augment\": %s", c->augment ? "true" : "false");
    if (c->data && (!strcmp(c->data, "cifar10") || !strcmp(c->data, "cifar100") || !strcmp(c->data, "svhn"))) {
        total += snprintf(AT, ", ");
        total += json_str(AT, "data_dir", c->data_dir);
        if (!strcmp(c->data, "cifar100")) total += snprintf(AT, ", \"labels\": \"%s\"", c->coarse ? "coarse" : "fine");
        if (!strcmp(c->data, "svhn")) total += snprintf(AT, ", \"extra\": %s", c->no_extra ? "false" : "true");
    }
    return total;
}

static void image_free(alig_task *t)
{
    alig_image_set_free(&t->train);
    alig_image_set_free(&t->val);
    alig_image_set_free(&t->test);
    alig_image_set_free(&t->aug);
    free(t->perm);
    free((char *)t->icfg.data);
    free((char *)t->icfg.data_dir);
    free((char *)t->icfg.train_images);
    free((char *)t->icfg.train_labels);
    free((char *)t->icfg.test_images);
    free((char *)t->icfg.test_labels);
}

const alig_task_type alig_task_row_image = {
    .name = "image",
    .kind = ALIG_TASK_IMAGE,
    .loss = "softmax-ce",
    .finite = 1,
    .batch = image_batch,
    .describe = image_describe,
    .free_data = image_free,
};

static char *dup_or_null(const char *s, int *nomem)
{
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) *nomem = 1;
    return p;
}

/* Keep the first k samples of *set. */
static alig_status keep_first(alig_image_set *set, size_t k)
{
    if (!k || k >= set->n) return ALIG_SUCCESS;
    size_t *idx = malloc(k * sizeof *idx);
    if (!idx) return ALIG_ENOMEM;
    for (size_t i = 0; i < k; i++) idx[i] = i;
    alig_image_set sub;
    alig_status st = alig_image_set_subset(set, idx, k, &sub);
    free(idx);
    if (st) return st;
    alig_image_set_free(set);
    *set = sub;
    return ALIG_SUCCESS;
}

alig_status alig_task_image_load(alig_task **out, const alig_task_image_cfg *cfg, char *err, size_t errlen)
{
    char msg[1024] = "";
    if (err && errlen) err[0] = '\0';
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    if (!cfg) return ALIG_EINVAL;
    const int use_dir = cfg->data && cfg->data[0];
    if (!use_dir && (!cfg->train_images || !cfg->train_labels || !cfg->test_images || !cfg->test_labels)) {
        if (err && errlen) snprintf(err, errlen, "neither a data set name nor the four IDX files");
        return ALIG_EINVAL;
    }
    if (cfg->batch < 1) {
        if (err && errlen) snprintf(err, errlen, "batch size 0");
        return ALIG_EBADBATCH;
    }
    alig_task *t = calloc(1, sizeof *t);
    if (!t) return ALIG_ENOMEM;
    t->type = &alig_task_row_image;
    int nomem = 0;
    t->icfg = *cfg;
    t->icfg.data = dup_or_null(use_dir ? cfg->data : NULL, &nomem);
    t->icfg.train_images = dup_or_null(use_dir ? NULL : cfg->train_images, &nomem);
    t->icfg.train_labels = dup_or_null(use_dir ? NULL : cfg->train_labels, &nomem);
    t->icfg.test_images = dup_or_null(use_dir ? NULL : cfg->test_images, &nomem);
    t->icfg.test_labels = dup_or_null(use_dir ? NULL : cfg->test_labels, &nomem);
    const int vision = use_dir && (!strcmp(cfg->data, "cifar10") || !strcmp(cfg->data, "cifar100") ||
                                   !strcmp(cfg->data, "svhn"));
    t->icfg.data_dir = dup_or_null(vision ? cfg->data_dir : NULL, &nomem);
    t->seed = cfg->seed;
    alig_status st = nomem ? ALIG_ENOMEM : ALIG_SUCCESS;
    alig_image_set all = { 0 }, extra = { 0 };
    if (!st && vision && !(cfg->data_dir && cfg->data_dir[0])) {
        snprintf(msg, sizeof msg, "data set %s: no directory given (data_dir)", cfg->data);
        st = ALIG_EINVAL;
    } else if (!st && vision && !strcmp(cfg->data, "cifar10")) {
        st = alig_cifar10_load(cfg->data_dir, &all, &t->test, msg, sizeof msg);
    } else if (!st && vision && !strcmp(cfg->data, "cifar100")) {
        st = alig_cifar100_load(cfg->data_dir, cfg->coarse, &all, &t->test, msg, sizeof msg);
    } else if (!st && vision) {
        st = alig_svhn_load(cfg->data_dir, &all, cfg->no_extra ? NULL : &extra, &t->test, msg, sizeof msg);
    } else if (!st && use_dir) {
        const char *dir = strcmp(cfg->data, "fashion-mnist") ? cfg->data : NULL;
        st = alig_data_load_fashion_mnist(dir, &all, &t->test, msg, sizeof msg);
    } else if (!st) {
        st = alig_data_load_idx(cfg->train_images, cfg->train_labels, cfg->classes, &all, msg, sizeof msg);
        if (!st) st = alig_data_load_idx(cfg->test_images, cfg->test_labels, cfg->classes, &t->test, msg, sizeof msg);
        if (!st) {
            const size_t k = all.num_classes > t->test.num_classes ? all.num_classes : t->test.num_classes;
            all.num_classes = t->test.num_classes = k;
            if (all.c != t->test.c || all.h != t->test.h || all.w != t->test.w) {
                snprintf(msg, sizeof msg, "training images are %zux%zux%zu, test images %zux%zux%zu", all.c, all.h,
                         all.w, t->test.c, t->test.h, t->test.w);
                st = ALIG_EFORMAT;
            }
        }
    }
    if (!st && cfg->val >= all.n) {
        snprintf(msg, sizeof msg, "the validation split (%zu) must be smaller than the %zu training samples", cfg->val,
                 all.n);
        st = ALIG_EBADLEN;
    }
    if (!st && cfg->val < 1) {
        snprintf(msg, sizeof msg, "the validation split must hold at least 1 sample");
        st = ALIG_EBADLEN;
    }
    if (!st) {
        st = alig_data_split(&all, cfg->val, cfg->val_seed, &t->train, &t->val);
        if (!st && extra.n) {   /* SVHN: the rest of train, then extra */
            alig_image_set_free(&all);
            st = alig_image_set_concat(&t->train, &extra, &all);
            alig_image_set_free(&extra);
            if (!st) {
                alig_image_set_free(&t->train);
                t->train = all;
                all = (alig_image_set){ 0 };
            }
        }
        if (!st && t->train.c > 4) {
            snprintf(msg, sizeof msg, "images with %zu channels: at most 4 are supported", t->train.c);
            st = ALIG_EUNSUPPORTED;
        }
        alig_image_set *others[2] = { &t->val, &t->test };
        double m[4], sd[4];
        if (!st && (st = alig_data_normalise(&t->train, others, 2, t->mean, t->std)) == ALIG_EINVAL &&
            !alig_data_channel_stats(&t->train, m, sd)) {   /* a constant channel cannot be standardised: name it */
            for (size_t c = 0; c < t->train.c; c++)
                if (!(sd[c] > 0.0)) {
                    snprintf(msg, sizeof msg, "%s%s: channel %zu of the %zu training images (after the validation "
                             "split) is constant (every pixel %g, scaled to [0, 1]): it cannot be standardised",
                             use_dir ? "data set " : "", use_dir ? cfg->data : cfg->train_images, c, t->train.n, m[c]);
                    st = ALIG_EFORMAT;
                    break;
                }
        }
        if (!st) st = keep_first(&t->train, cfg->train_subset);
        if (!st) st = keep_first(&t->test, cfg->test_subset);
        if (st && !msg[0]) snprintf(msg, sizeof msg, "preparing the data: %s", alig_strerror(st));
    }
    alig_image_set_free(&all);
    alig_image_set_free(&extra);
    if (!st && cfg->augment) {
        /* the padding: what a black pixel (0) becomes once standardised */
        for (size_t c = 0; c < t->train.c; c++) t->fill[c] = (float)((0.0 - t->mean[c]) / t->std[c]);
        const size_t ss = alig_image_set_sample_size(&t->train), B = cfg->batch;
        t->aug = (alig_image_set){ .n = 0, .c = t->train.c, .h = t->train.h, .w = t->train.w,
                                   .num_classes = t->train.num_classes };
        if (B > t->train.n || !(t->aug.x = malloc(B * ss * sizeof *t->aug.x)) ||
            !(t->aug.y = malloc(B * sizeof *t->aug.y)))
            st = B > t->train.n ? ALIG_SUCCESS : ALIG_ENOMEM;   /* batch > n is reported below */
    }
    if (!st && cfg->batch > t->train.n) {
        snprintf(msg, sizeof msg, "batch %zu exceeds the %zu training samples", cfg->batch, t->train.n);
        st = ALIG_EBADBATCH;
    }
    if (!st && !(t->perm = malloc(t->train.n * sizeof *t->perm))) st = ALIG_ENOMEM;
    if (st) {
        if (err && errlen) snprintf(err, errlen, "%s", msg[0] ? msg : alig_strerror(st));
        alig_task_free(t);
        return st;
    }
    size_t E = (t->train.n + cfg->batch - 1) / cfg->batch;
    if (cfg->max_batches && cfg->max_batches < E) E = cfg->max_batches;
    t->epoch_batches = E;
    t->shape = (alig_task_shape){ .kind = ALIG_TASK_IMAGE, .in_c = (int)t->train.c, .in_h = (int)t->train.h,
                                  .in_w = (int)t->train.w, .classes = (int)t->train.num_classes,
                                  .batch = (int)cfg->batch };
    *out = t;
    return ALIG_SUCCESS;
}
