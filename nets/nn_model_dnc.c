/* nn_model_dnc.c - the "dnc" row of the model table (model.h): the DNC of dnc.h trained on a
 * sequence task (repeat-copy). Names: "dnc" (the paper's sizes: H 64, N 16, W 16, R 4) or
 * "dnc-H-N-W-R". Input and output widths, the batch and the longest sequence come from the task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/dnc.h"
#include "alig/model.h"

/* "dnc" or "dnc-H-N-W-R" into the four sizes; 0 on success */
static int parse_sizes(const char *name, int s[4])
{
    s[0] = 64, s[1] = 16, s[2] = 16, s[3] = 4;
    if (!strcmp(name, "dnc")) return 0;
    if (strncmp(name, "dnc-", 4)) return -1;
    const char *p = name + 4;
    for (int i = 0; i < 4; i++) {
        char *end;
        if (*p < '1' || *p > '9') return -1;
        const long v = strtol(p, &end, 10);
        if (v < 1 || v > 4096) return -1;
        s[i] = (int)v;
        if (i < 3 && *end != '-') return -1;
        if (i == 3 && *end != '\0') return -1;
        p = end + 1;
    }
    return 0;
}

static alig_status dnc_parse(const char *name, const alig_model_opts *o, const alig_task_shape *shape, char *err,
                             size_t errlen)
{
    int s[4];
    if (parse_sizes(name, s)) {
        snprintf(err, errlen, "expected dnc or dnc-H-N-W-R (hidden, slots, word, read heads; each 1..4096)");
        return ALIG_EINVAL;
    }
    if (o && o->dropout != 0.0) {
        snprintf(err, errlen, "--dropout applies to WRN models only, not %s", name);
        return ALIG_EINVAL;
    }
    if (shape->kind != ALIG_TASK_SEQUENCE) {
        snprintf(err, errlen, "%s trains on sequence tasks (repeat-copy)", name);
        return ALIG_EUNSUPPORTED;
    }
    return ALIG_SUCCESS;
}

static alig_status dnc_build(void **impl, const char *name, const alig_model_opts *o, const alig_task *task,
                             uint64_t seed, char *err, size_t errlen)
{
    alig_status rc = dnc_parse(name, o, &task->shape, err, errlen);
    if (rc) return rc;
    int s[4];
    parse_sizes(name, s);
    const alig_dnc_config cfg = { .batch = task->shape.batch, .in_dim = task->shape.in_dim,
                                  .out_dim = task->shape.out_dim, .hidden = s[0], .mem_slots = s[1], .word = s[2],
                                  .read_heads = s[3], .max_T = task->shape.max_T, .clip = 20.0 };
    alig_dnc *m;
    rc = alig_dnc_alloc(&m, &cfg, err, errlen);
    if (!rc) rc = alig_dnc_init(m, seed);
    if (rc) {
        alig_dnc_free(m);
        return rc;
    }
    *impl = m;
    return ALIG_SUCCESS;
}

static void dnc_free(void *impl) { alig_dnc_free(impl); }
static alig_status dnc_init(void *impl, uint64_t seed) { return alig_dnc_init(impl, seed); }
static size_t dnc_n(const void *impl) { return alig_dnc_n(impl); }
static float *dnc_x(void *impl) { return alig_dnc_x(impl); }
static float *dnc_g(void *impl) { return alig_dnc_g(impl); }

static alig_status dnc_gradient(void *impl, const alig_batch *b, double *loss, size_t *correct)
{
    if (correct) *correct = 0;
    if (!b || b->kind != ALIG_TASK_SEQUENCE || !b->seq) return ALIG_EINVAL;
    const alig_seq_batch *s = b->seq;
    if (s->B != alig_dnc_get_config(impl)->batch) return ALIG_EBADBATCH;
    return alig_dnc_gradient(impl, s->T, s->obs, s->targ, s->mask, loss);
}

static alig_status dnc_loss(void *impl, const alig_batch *b, double *loss)
{
    if (!b || b->kind != ALIG_TASK_SEQUENCE || !b->seq) return ALIG_EINVAL;
    const alig_seq_batch *s = b->seq;
    if (s->B != alig_dnc_get_config(impl)->batch) return ALIG_EBADBATCH;
    return alig_dnc_loss(impl, s->T, s->obs, s->targ, s->mask, loss);
}

static int dnc_describe(const void *impl, char *buf, size_t len)
{
    const alig_dnc_config *c = alig_dnc_get_config(impl);
    return snprintf(buf, len,
                    "\"params\": %zu, \"hidden\": %d, \"memory_slots\": %d, \"word\": %d, "
                    "\"read_heads\": %d, \"write_heads\": 1, \"clip\": %g, \"stop_gradient\": true, "
                    "\"init\": \"sonnet-v1 truncated normal\"",
                    alig_dnc_n(impl), c->hidden, c->mem_slots, c->word, c->read_heads, c->clip);
}

static alig_ad_graph *dnc_graph(void *impl)
{
    return alig_dnc_graph(impl, alig_dnc_get_config(impl)->max_T, NULL);
}

const alig_model_type alig_model_type_dnc = {
    .name = "dnc",
    .usage = "dnc, dnc-H-N-W-R",
    .input = ALIG_TASK_SEQUENCE,
    .parse = dnc_parse,
    .build = dnc_build,
    .free = dnc_free,
    .init = dnc_init,
    .n = dnc_n,
    .x = dnc_x,
    .g = dnc_g,
    .gradient = dnc_gradient,
    .loss = dnc_loss,
    .describe = dnc_describe,
    .graph = dnc_graph,
};
