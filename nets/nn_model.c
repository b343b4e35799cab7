/* nn_model.c - the model type table (include/alig/model.h) and its image rows: "mlp", "cnn" and
 * "wrn", thin adapters over the nets of nn.h. A new model is one file with its row and one line
 * in alig_model_types below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/model.h"
#include "alig/nn.h"

/* ---------------------------------------------------------------- the image rows */

typedef struct image_model {
    alig_nn_net *net;
    int eval_batch;
} image_model;

/* The spec of `name` on the shape (kind of the row already checked by the name). */
static alig_status image_parse_spec(alig_nn_spec *spec, const char *name, const alig_model_opts *o,
                                    const alig_task_shape *sh, char *err, size_t errlen)
{
    if (sh->kind != ALIG_TASK_IMAGE) return ALIG_EUNSUPPORTED;
    const double p = o ? o->dropout : 0.0;
    alig_status st = alig_nn_spec_parse(spec, name, sh->in_c, sh->in_h, sh->in_w, sh->classes, p);
    if (st == ALIG_EINVAL && err && errlen) {
        if (p != 0.0 && strncmp(name, "wrn-", 4))
            snprintf(err, errlen, "'%s': dropout applies to wrn models only", name);
        else
            snprintf(err, errlen, "unknown model '%s' (mlp, mlp-H1-H2-..., cnn, wrn-D-K, densenet-bc-L-k)", name);
    } else if (st == ALIG_EBADLEN && err && errlen) {
        snprintf(err, errlen, "'%s' does not fit %dx%dx%d inputs with %d classes, or its sizes are out of range "
                 "(wrn-D-K needs D = 6m + 4 >= 10, 1 <= K <= 64; densenet-bc-L-k needs L = 6m + 4 >= 10, "
                 "1 <= k <= 512, inputs >= 4x4; mlp widths >= 1, at most %d layers; cnn inputs >= 10x10)", name, sh->in_c, sh->in_h, sh->in_w, sh->classes, ALIG_NN_MAX_HIDDEN);
    }
    return st;
}

static alig_status image_parse(const char *name, const alig_model_opts *o, const alig_task_shape *sh, char *err,
                               size_t errlen)
{
    alig_nn_spec spec;
    if (err && errlen) err[0] = '\0';
    return image_parse_spec(&spec, name, o, sh, err, errlen);
}

static alig_status image_build(void **impl, const char *name, const alig_model_opts *o, const alig_task *task,
                               uint64_t seed, char *err, size_t errlen)
{
    alig_nn_spec spec;
    alig_status st = image_parse_spec(&spec, name, o, &task->shape, err, errlen);
    if (st) return st;
    const size_t n = task->train.n, B = (size_t)task->shape.batch;
    if ((spec.kind == ALIG_NN_WRN || spec.kind == ALIG_NN_DENSENET) && task->epoch_batches * B >= n && n % B == 1) {
        if (err && errlen)
            snprintf(err, errlen, "batch %zu: the last batch of each epoch would hold 1 of the %zu samples, which batch "
                     "norm cannot train on", B, n);
        return ALIG_EBADBATCH;
    }
    image_model *m = calloc(1, sizeof *m);
    if (!m) return ALIG_ENOMEM;
    m->eval_batch = o && o->eval_batch > 0 ? o->eval_batch : 256;
    st = alig_nn_net_alloc(&m->net, &spec, task->shape.batch, m->eval_batch, (unsigned long)seed, err, errlen);
    if (!st && o && o->loss && (st = alig_nn_net_set_loss(m->net, o->loss)) && err && errlen)
        snprintf(err, errlen, "loss %d: %s", o->loss, alig_strerror(st));
    if (st) {
        alig_nn_net_free(m->net);
        free(m);
        return st;
    }
    *impl = m;
    return ALIG_SUCCESS;
}

static void image_free(void *impl)
{
    image_model *m = impl;
    if (!m) return;
    alig_nn_net_free(m->net);
    free(m);
}

static alig_status image_init(void *impl, uint64_t seed)
{
    return alig_nn_net_init(((image_model *)impl)->net, (unsigned long)seed);
}

static size_t image_n(const void *impl) { return alig_nn_net_n(((const image_model *)impl)->net); }
static float *image_x(void *impl) { return alig_nn_net_x(((image_model *)impl)->net); }
static float *image_g(void *impl) { return alig_nn_net_g(((image_model *)impl)->net); }

static alig_status image_gradient(void *impl, const alig_batch *b, double *loss, size_t *correct)
{
    return alig_nn_net_gradient(((image_model *)impl)->net, b->set, b->idx, b->start, b->n, loss, correct);
}

static alig_status image_evaluate(void *impl, const alig_image_set *set, double *loss, double *acc)
{
    return alig_nn_net_evaluate(((image_model *)impl)->net, set, loss, acc);
}

static alig_status image_sample_losses(void *impl, const alig_image_set *set, double *losses, double *loss,
                                       double *acc)
{
    return alig_nn_net_sample_losses(((image_model *)impl)->net, set, losses, loss, acc);
}

static size_t image_nbuf(const void *impl)
{
    return alig_ad_params_nbuf(alig_nn_net_params(((const image_model *)impl)->net));
}

static float *image_buf(void *impl) { return alig_ad_params_buf(alig_nn_net_params(((image_model *)impl)->net)); }

static void image_get_rng(const void *impl, uint64_t *seed, uint64_t *step)
{
    alig_nn_net_rng(((const image_model *)impl)->net, seed, step);
}

static void image_set_rng(void *impl, uint64_t seed, uint64_t step)
{
    alig_nn_net_set_rng(((image_model *)impl)->net, seed, step);
}

static int image_describe(const void *impl, char *buf, size_t len)
{
    const image_model *m = impl;
    const alig_nn_spec *s = alig_nn_net_spec(m->net);
    char name[64];
    alig_nn_spec_name(s, name, sizeof name);
    return snprintf(buf, len,
                    "\"name\": \"%s\", \"params\": %zu, \"buffers\": %zu, \"input\": [%d, %d, %d], \"classes\": %d, "
                    "\"dropout\": %.17g, \"batch\": %d, \"eval_batch\": %d, \"loss\": \"%s\"",
                    name, alig_nn_net_n(m->net), alig_ad_params_nbuf(alig_nn_net_params(m->net)), s->in_c, s->in_h,
                    s->in_w, s->classes, s->dropout, alig_nn_net_batch(m->net), m->eval_batch,
                    alig_nn_loss_name(alig_nn_net_loss(m->net)));
}

/* The task's loss is softmax-ce: name the hinge ones only. */
static const char *image_loss_name(const void *impl)
{
    const int loss = alig_nn_net_loss(((const image_model *)impl)->net);
    return loss == ALIG_NN_LOSS_CE ? NULL : alig_nn_loss_name(loss);
}

static alig_ad_graph *image_graph(void *impl)
{
    return alig_nn_net_train_graph(((image_model *)impl)->net, NULL, NULL, NULL, NULL);
}

#define IMAGE_ROW(NAME, USAGE)                                                                                         \
    {                                                                                                                  \
        .name = NAME, .usage = USAGE, .input = ALIG_TASK_IMAGE, .parse = image_parse, .build = image_build,            \
        .free = image_free, .init = image_init, .n = image_n, .x = image_x, .g = image_g,                              \
        .gradient = image_gradient, .loss = NULL, .evaluate = image_evaluate, .nbuf = image_nbuf, .buf = image_buf,    \
        .get_rng = image_get_rng, .set_rng = image_set_rng, .describe = image_describe, .graph = image_graph,          \
        .loss_name = image_loss_name, .sample_losses = image_sample_losses,                                            \
    }

static const alig_model_type mlp_row = IMAGE_ROW("mlp", "mlp, mlp-H1-H2-...");
static const alig_model_type cnn_row = IMAGE_ROW("cnn", "cnn");
static const alig_model_type wrn_row = IMAGE_ROW("wrn", "wrn-D-K");
static const alig_model_type densenet_row = IMAGE_ROW("densenet-bc", "densenet-bc-L-k");

/* ---------------------------------------------------------------- the table */

const alig_model_type *const alig_model_mlp = &mlp_row;
const alig_model_type *const alig_model_cnn = &cnn_row;
const alig_model_type *const alig_model_wrn = &wrn_row;
const alig_model_type *const alig_model_densenet = &densenet_row;
extern const alig_model_type alig_model_type_dnc;     /* nn_model_dnc.c */
const alig_model_type *const alig_model_dnc = &alig_model_type_dnc;

const alig_model_type *const alig_model_types[] = {
    &mlp_row, &cnn_row, &wrn_row, &densenet_row,
    &alig_model_type_dnc,       /* sequence model (nn_model_dnc.c) */
    NULL,
};

const alig_model_type *alig_model_type_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; alig_model_types[i]; i++) {
        const char *f = alig_model_types[i]->name;
        const size_t k = strlen(f);
        if (!strncmp(name, f, k) && (name[k] == '\0' || name[k] == '-')) return alig_model_types[i];
    }
    return NULL;
}

/* ---------------------------------------------------------------- generic wrappers */

static const char *kind_name(alig_task_kind k) { return k == ALIG_TASK_IMAGE ? "image" : "sequence"; }

alig_status alig_model_alloc(alig_model **out, const char *name, const alig_model_opts *o, const alig_task *task,
                             uint64_t seed, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    if (!name || !task) return ALIG_EINVAL;
    const alig_model_opts def = ALIG_MODEL_OPTS_DEFAULT;
    if (!o) o = &def;
    const alig_model_type *t = alig_model_type_find(name);
    if (!t) {
        if (err && errlen) {
            int k = snprintf(err, errlen, "unknown model '%s' (", name);
            for (size_t i = 0; alig_model_types[i] && k >= 0 && (size_t)k < errlen; i++)
                k += snprintf(err + k, errlen - (size_t)k, "%s%s", i ? ", " : "", alig_model_types[i]->usage);
            if (k >= 0 && (size_t)k < errlen) snprintf(err + k, errlen - (size_t)k, ")");
        }
        return ALIG_EINVAL;
    }
    if (o->loss && t->input != ALIG_TASK_IMAGE) {
        if (err && errlen) snprintf(err, errlen, "model '%s': the loss choice applies to image models only", name);
        return ALIG_EINVAL;
    }
    if (t->input != task->shape.kind) {
        if (err && errlen)
            snprintf(err, errlen, "model '%s' trains on %s tasks; task '%s' yields %s batches", name,
                     kind_name(t->input), task->type ? task->type->name : "?", kind_name(task->shape.kind));
        return ALIG_EUNSUPPORTED;
    }
    if (strlen(name) >= sizeof((alig_model *)0)->name) {
        if (err && errlen) snprintf(err, errlen, "model name '%s' too long", name);
        return ALIG_EINVAL;
    }
    alig_model *m = calloc(1, sizeof *m);
    if (!m) return ALIG_ENOMEM;
    m->type = t;
    snprintf(m->name, sizeof m->name, "%s", name);
    alig_status st = t->build(&m->impl, name, o, task, seed, err, errlen);
    if (st) {
        free(m);
        return st;
    }
    *out = m;
    return ALIG_SUCCESS;
}

void alig_model_free(alig_model *m)
{
    if (!m) return;
    if (m->type && m->impl) m->type->free(m->impl);
    free(m);
}

size_t alig_model_n(const alig_model *m) { return m ? m->type->n(m->impl) : 0; }
float *alig_model_x(alig_model *m) { return m ? m->type->x(m->impl) : NULL; }
float *alig_model_g(alig_model *m) { return m ? m->type->g(m->impl) : NULL; }

alig_status alig_model_gradient(alig_model *m, const alig_batch *b, double *loss, size_t *correct)
{
    if (!m || !b || !loss || b->kind != m->type->input) return ALIG_EINVAL;
    return m->type->gradient(m->impl, b, loss, correct);
}

alig_status alig_model_sample_losses(alig_model *m, const alig_image_set *set, double *losses, double *mean,
                                     double *acc)
{
    if (!m || !set || !losses) return ALIG_EINVAL;
    if (!m->type->sample_losses) return ALIG_EUNSUPPORTED;
    return m->type->sample_losses(m->impl, set, losses, mean, acc);
}

size_t alig_model_nbuf(const alig_model *m) { return m && m->type->nbuf ? m->type->nbuf(m->impl) : 0; }
float *alig_model_buf(alig_model *m) { return m && m->type->buf ? m->type->buf(m->impl) : NULL; }
