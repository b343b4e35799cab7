/* ad.c - the autodiff driver: parameter arena, graph construction helpers, compile (buffer
 * allocation), forward in creation order and backward in reverse order from a scalar loss.
 *
 * Creation order is a topological order (an op's operands exist before it), so the graph
 * needs no sort: forward walks the node array upwards, backward walks it downwards from the
 * loss, visiting only the nodes the loss depends on (marked first, kann's `kad_mark_back`
 * idea) that lead back to a parameter (requires_grad). The per-op math lives in ops_*.c,
 * reached through one table indexed by enum alig_op. The optional profiler (off by default)
 * times each node's forward and backward call with CLOCK_MONOTONIC; when off, the drivers test
 * one flag per node and never read the clock. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ad_impl.h"
#include "kernels.h"

/* ====================================================================== op table */

static const alig_ad_opdef def_input = { "input", NULL, NULL, 0, 0 };
static const alig_ad_opdef def_param = { "param", NULL, NULL, 0, 0 };
static const alig_ad_opdef def_buffer = { "buffer", NULL, NULL, 0, 0 };

const alig_ad_opdef *const alig_ad_opdefs[ALIG_OP_COUNT] = {
    [ALIG_OP_INPUT] = &def_input,
    [ALIG_OP_PARAM] = &def_param,
    [ALIG_OP_BUFFER] = &def_buffer,
    [ALIG_OP_MATMUL] = &alig_ad_def_matmul,
    [ALIG_OP_BIAS_ADD] = &alig_ad_def_bias_add,
    [ALIG_OP_CONV2D] = &alig_ad_def_conv2d,
    [ALIG_OP_MAXPOOL2D] = &alig_ad_def_maxpool2d,
    [ALIG_OP_AVGPOOL2D] = &alig_ad_def_avgpool2d,
    [ALIG_OP_GLOBAL_AVGPOOL] = &alig_ad_def_global_avgpool,
    [ALIG_OP_RELU] = &alig_ad_def_relu,
    [ALIG_OP_SIGMOID] = &alig_ad_def_sigmoid,
    [ALIG_OP_TANH] = &alig_ad_def_tanh,
    [ALIG_OP_ADD] = &alig_ad_def_add,
    [ALIG_OP_MUL] = &alig_ad_def_mul,
    [ALIG_OP_AFFINE] = &alig_ad_def_affine,
    [ALIG_OP_CONCAT] = &alig_ad_def_concat,
    [ALIG_OP_SLICE] = &alig_ad_def_slice,
    [ALIG_OP_RESHAPE] = &alig_ad_def_reshape,
    [ALIG_OP_DROPOUT] = &alig_ad_def_dropout,
    [ALIG_OP_BATCHNORM] = &alig_ad_def_batchnorm,
    [ALIG_OP_SOFTMAX] = &alig_ad_def_softmax,
    [ALIG_OP_SUM] = &alig_ad_def_sum,
    [ALIG_OP_SOFTMAX_CE] = &alig_ad_def_softmax_ce,
    [ALIG_OP_HINGE] = &alig_ad_def_hinge,
    [ALIG_OP_BCE_LOGITS] = &alig_ad_def_bce_logits,
    [ALIG_OP_CLIP] = &alig_ad_def_clip,
    [ALIG_OP_SIGMOID_CE_MASKED] = &alig_ad_def_sigmoid_ce_masked,
    [ALIG_OP_DNC_CONTENT] = &alig_ad_def_dnc_content,
    [ALIG_OP_DNC_USAGE] = &alig_ad_def_dnc_usage,
    [ALIG_OP_DNC_ALLOCATION] = &alig_ad_def_dnc_allocation,
    [ALIG_OP_DNC_WRITE_WEIGHTS] = &alig_ad_def_dnc_write_weights,
    [ALIG_OP_DNC_MEMORY] = &alig_ad_def_dnc_memory,
    [ALIG_OP_DNC_LINK] = &alig_ad_def_dnc_link,
    [ALIG_OP_DNC_PRECEDENCE] = &alig_ad_def_dnc_precedence,
    [ALIG_OP_DNC_READ_WEIGHTS] = &alig_ad_def_dnc_read_weights,
    [ALIG_OP_BMM] = &alig_ad_def_bmm,
    [ALIG_OP_LSTM_CELL] = &alig_ad_def_lstm_cell,
    [ALIG_OP_SEQ_REVERSE] = &alig_ad_def_seq_reverse,
    [ALIG_OP_SEQ_MAXPOOL] = &alig_ad_def_seq_maxpool,
};

const char *alig_ad_op_name(alig_op op)
{
    if ((int)op < 0 || op >= ALIG_OP_COUNT || !alig_ad_opdefs[op]) return "?";
    return alig_ad_opdefs[op]->name;
}

/* ====================================================================== shapes */

/* Validate a shape; returns its element count, or 0 if invalid (bad ndim, a dim < 1, or more
 * than INT_MAX elements: kernels index planes and sgemm dimensions with int). */
static size_t shape_size(int ndim, const int *dims)
{
    if (ndim < 1 || ndim > ALIG_AD_MAX_DIM || !dims) return 0;
    size_t s = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1) return 0;
        if (s > (size_t)INT_MAX / (size_t)dims[i]) return 0;
        s *= (size_t)dims[i];
    }
    return s;
}

const char *alig_ad_shape_str(const alig_ad_node *n, char *buf, size_t len)
{
    size_t o = 0;
    if (!len) return buf;
    buf[0] = '\0';
    o += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < n->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%d" : "%d", n->dims[i]);
    if (o < len) snprintf(buf + o, len - o, ")");
    return buf;
}

int alig_ad_same_shape(const alig_ad_node *a, const alig_ad_node *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

size_t alig_ad_inner(const alig_ad_node *n, int from)
{
    size_t s = 1;
    for (int i = from; i < n->ndim; i++) s *= (size_t)n->dims[i];
    return s;
}

/* ====================================================================== arena */

alig_status alig_ad_params_alloc(alig_ad_params **out)
{
    if (!out) return ALIG_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? ALIG_SUCCESS : ALIG_ENOMEM;
}

void alig_ad_params_free(alig_ad_params *P)
{
    if (!P) return;
    free(P->t);
    free(P->x);
    free(P->g);
    free(P->buf);
    free(P);
}

static alig_status params_declare(alig_ad_params *P, int trainable, int ndim, const int *dims, float init, int *id)
{
    if (id) *id = -1;
    if (!P || !id || P->sealed) return ALIG_EINVAL;
    size_t size = shape_size(ndim, dims);
    if (!size) return ALIG_EBADLEN;
    if (P->count == P->cap) {
        int cap = P->cap ? 2 * P->cap : 16;
        alig_ad_tensor_desc *t = realloc(P->t, (size_t)cap * sizeof *t);
        if (!t) return ALIG_ENOMEM;
        P->t = t;
        P->cap = cap;
    }
    alig_ad_tensor_desc *d = &P->t[P->count];
    memset(d, 0, sizeof *d);
    d->trainable = trainable;
    d->ndim = ndim;
    for (int i = 0; i < ALIG_AD_MAX_DIM; i++) d->dims[i] = i < ndim ? dims[i] : 1;
    d->size = size;
    d->init = init;
    if (trainable) {
        d->offset = P->n;
        P->n += size;
    } else {
        d->offset = P->nbuf;
        P->nbuf += size;
    }
    *id = P->count++;
    return ALIG_SUCCESS;
}

alig_status alig_ad_params_add(alig_ad_params *P, int ndim, const int *dims, int *id)
{
    return params_declare(P, 1, ndim, dims, 0.0f, id);
}

alig_status alig_ad_params_add_buffer(alig_ad_params *P, int ndim, const int *dims, float init, int *id)
{
    return params_declare(P, 0, ndim, dims, init, id);
}

alig_status alig_ad_params_seal(alig_ad_params *P)
{
    if (!P) return ALIG_EINVAL;
    if (P->sealed) return ALIG_SUCCESS;
    /* at least one element each, so that the pointers are never NULL once sealed */
    P->x = calloc(P->n ? P->n : 1, sizeof *P->x);
    P->g = calloc(P->n ? P->n : 1, sizeof *P->g);
    P->buf = calloc(P->nbuf ? P->nbuf : 1, sizeof *P->buf);
    if (!P->x || !P->g || !P->buf) {
        free(P->x);
        free(P->g);
        free(P->buf);
        P->x = P->g = P->buf = NULL;
        return ALIG_ENOMEM;
    }
    for (int i = 0; i < P->count; i++)
        if (!P->t[i].trainable)
            for (size_t j = 0; j < P->t[i].size; j++) P->buf[P->t[i].offset + j] = P->t[i].init;
    P->sealed = 1;
    return ALIG_SUCCESS;
}

size_t alig_ad_params_n(const alig_ad_params *P) { return P ? P->n : 0; }
float *alig_ad_params_x(alig_ad_params *P) { return P ? P->x : NULL; }
float *alig_ad_params_g(alig_ad_params *P) { return P ? P->g : NULL; }
size_t alig_ad_params_nbuf(const alig_ad_params *P) { return P ? P->nbuf : 0; }
float *alig_ad_params_buf(alig_ad_params *P) { return P ? P->buf : NULL; }
int alig_ad_params_count(const alig_ad_params *P) { return P ? P->count : 0; }

static const alig_ad_tensor_desc *desc_of(const alig_ad_params *P, int id)
{
    return P && id >= 0 && id < P->count ? &P->t[id] : NULL;
}

int alig_ad_params_trainable(const alig_ad_params *P, int id)
{
    const alig_ad_tensor_desc *d = desc_of(P, id);
    return d ? d->trainable : -1;
}

size_t alig_ad_params_shape(const alig_ad_params *P, int id, int *ndim, int dims[ALIG_AD_MAX_DIM])
{
    const alig_ad_tensor_desc *d = desc_of(P, id);
    if (!d) return 0;
    if (ndim) *ndim = d->ndim;
    if (dims) memcpy(dims, d->dims, sizeof d->dims);
    return d->size;
}

size_t alig_ad_params_offset(const alig_ad_params *P, int id)
{
    const alig_ad_tensor_desc *d = desc_of(P, id);
    return d ? d->offset : 0;
}

float *alig_ad_params_value(alig_ad_params *P, int id)
{
    const alig_ad_tensor_desc *d = desc_of(P, id);
    if (!d || !P->sealed) return NULL;
    return (d->trainable ? P->x : P->buf) + d->offset;
}

float *alig_ad_params_grad(alig_ad_params *P, int id)
{
    const alig_ad_tensor_desc *d = desc_of(P, id);
    if (!d || !P->sealed || !d->trainable) return NULL;
    return P->g + d->offset;
}

/* ====================================================================== graph */

alig_status alig_ad_graph_alloc(alig_ad_graph **out, alig_ad_params *P, uint64_t seed)
{
    if (!out) return ALIG_EINVAL;
    *out = calloc(1, sizeof **out);
    if (!*out) return ALIG_ENOMEM;
    (*out)->P = P;
    (*out)->seed = seed;
    return ALIG_SUCCESS;
}

static void node_free(alig_ad_node *n)
{
    if (!n) return;
    if (n->op != ALIG_OP_PARAM && n->op != ALIG_OP_BUFFER) {
        if (!(n->shared & 1)) free(n->value);
        if (!(n->shared & 2)) free(n->grad);
    }
    free(n->work);
    free(n);
}

void alig_ad_graph_free(alig_ad_graph *G)
{
    if (!G) return;
    for (int i = 0; i < G->n_nodes; i++) node_free(G->nodes[i]);
    if (!(G->borrowed & 1)) free(G->arena);
    free(G->nodes);
    if (!(G->borrowed & 2)) free(G->ws);
    free(G->mark);
    free(G->prof_t);
    free(G);
}

alig_status alig_ad_graph_status(const alig_ad_graph *G) { return G ? G->status : ALIG_EINVAL; }
const char *alig_ad_graph_error(const alig_ad_graph *G) { return G ? G->err : "no graph"; }
int alig_ad_graph_size(const alig_ad_graph *G) { return G ? G->n_nodes : 0; }

alig_ad_node *alig_ad_graph_node(const alig_ad_graph *G, int i)
{
    return G && i >= 0 && i < G->n_nodes ? G->nodes[i] : NULL;
}

void alig_ad_graph_rng(const alig_ad_graph *G, uint64_t *seed, uint64_t *step)
{
    if (!G) return;
    if (seed) *seed = G->seed;
    if (step) *step = G->step;
}

void alig_ad_graph_set_rng(alig_ad_graph *G, uint64_t seed, uint64_t step)
{
    if (!G) return;
    G->seed = seed;
    G->step = step;
}

alig_ad_node *alig_ad_fail(alig_ad_graph *G, alig_status st, const char *op, const char *fmt, ...)
{
    if (!G || G->status) return NULL;
    G->status = st;
    int o = snprintf(G->err, sizeof G->err, "%s: ", op);
    if (o < 0 || (size_t)o >= sizeof G->err) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(G->err + o, sizeof G->err - (size_t)o, fmt, ap);
    va_end(ap);
    return NULL;
}

int alig_ad_check_args(alig_ad_graph *G, const char *op, int n_req, alig_ad_node *const *ins)
{
    if (!G || G->status) return 0;
    if (G->compiled) {
        alig_ad_fail(G, ALIG_EINVAL, op, "graph already compiled, no node can be added");
        return 0;
    }
    for (int i = 0; i < n_req; i++)
        if (!ins[i]) {
            alig_ad_fail(G, ALIG_EINVAL, op, "operand %d is NULL", i + 1);
            return 0;
        }
    /* operands must belong to this graph */
    for (int i = 0; i < n_req; i++)
        if (ins[i]->index < 0 || ins[i]->index >= G->n_nodes || G->nodes[ins[i]->index] != ins[i]) {
            alig_ad_fail(G, ALIG_EINVAL, op, "operand %d belongs to another graph", i + 1);
            return 0;
        }
    return 1;
}

alig_ad_node *alig_ad_new_node(alig_ad_graph *G, alig_op op, int ndim, const int *dims, int n_in,
                               alig_ad_node *const *ins)
{
    const char *name = alig_ad_op_name(op);
    size_t size = shape_size(ndim, dims);
    if (!size) return alig_ad_fail(G, ALIG_EBADLEN, name, "invalid result shape (a dimension < 1 or too many elements)");
    if (n_in < 0 || n_in > ALIG_AD_MAX_IN) return alig_ad_fail(G, ALIG_EINVAL, name, "too many operands");
    if (G->n_nodes == G->cap) {
        int cap = G->cap ? 2 * G->cap : 32;
        alig_ad_node **nodes = realloc(G->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return alig_ad_fail(G, ALIG_ENOMEM, name, "out of memory");
        G->nodes = nodes;
        G->cap = cap;
    }
    alig_ad_node *n = calloc(1, sizeof *n);
    if (!n) return alig_ad_fail(G, ALIG_ENOMEM, name, "out of memory");
    n->op = op;
    n->ndim = ndim;
    for (int i = 0; i < ALIG_AD_MAX_DIM; i++) n->dims[i] = i < ndim ? dims[i] : 1;
    n->size = size;
    n->scalar = NAN;
    n->n_in = n_in;
    n->param_id = -1;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = ins[i];
        if (ins[i]->requires_grad) n->requires_grad = 1;
    }
    n->index = G->n_nodes;
    G->nodes[G->n_nodes++] = n;
    return n;
}

/* ====================================================================== leaves */

alig_ad_node *alig_ad_input(alig_ad_graph *G, int ndim, const int *dims)
{
    if (!alig_ad_check_args(G, "input", 0, NULL)) return NULL;
    if (!dims) return alig_ad_fail(G, ALIG_EINVAL, "input", "dims is NULL");
    return alig_ad_new_node(G, ALIG_OP_INPUT, ndim, dims, 0, NULL);
}

static alig_ad_node *arena_leaf(alig_ad_graph *G, int id, int trainable)
{
    const char *name = trainable ? "param" : "buffer";
    if (!alig_ad_check_args(G, name, 0, NULL)) return NULL;
    if (!G->P) return alig_ad_fail(G, ALIG_EINVAL, name, "the graph has no parameter arena");
    const alig_ad_tensor_desc *d = desc_of(G->P, id);
    if (!d) return alig_ad_fail(G, ALIG_EINVAL, name, "no tensor with id %d in the arena", id);
    if (d->trainable != trainable)
        return alig_ad_fail(G, ALIG_EINVAL, name, "tensor %d is %s", id, d->trainable ? "trainable" : "a buffer");
    alig_ad_node *n = alig_ad_new_node(G, trainable ? ALIG_OP_PARAM : ALIG_OP_BUFFER, d->ndim, d->dims, 0, NULL);
    if (!n) return NULL;
    n->param_id = id;
    n->requires_grad = trainable;
    return n;
}

alig_ad_node *alig_ad_param(alig_ad_graph *G, int id) { return arena_leaf(G, id, 1); }
alig_ad_node *alig_ad_buffer(alig_ad_graph *G, int id) { return arena_leaf(G, id, 0); }

alig_status alig_ad_read_labels(const alig_ad_node *labels, int N, int C, int32_t *out)
{
    for (int i = 0; i < N; i++) {
        const float v = labels->value[i];
        if (!(v >= 0.0f && v < (float)C) || v != floorf(v)) return ALIG_EINVAL;
        out[i] = (int32_t)v;
    }
    return ALIG_SUCCESS;
}

/* ====================================================================== compile, forward, backward */

/* ---------------------------------------------------------------------- planned training graphs */

/* A best-fit allocator over the offsets of a virtual arena: free spans sorted by offset and
 * coalesced; a request no span holds is served at the end (extending a free span that reaches
 * it), so `top` ends as the arena's size. Offsets and lengths are in floats. */
typedef struct { size_t off, len; } vspan;
typedef struct { vspan *f; int n; size_t top; } vheap;

static size_t vheap_alloc(vheap *h, size_t len)
{
    int best = -1;
    for (int i = 0; i < h->n; i++)
        if (h->f[i].len >= len && (best < 0 || h->f[i].len < h->f[best].len)) best = i;
    if (best < 0 && h->n && h->f[h->n - 1].off + h->f[h->n - 1].len == h->top) {
        best = h->n - 1;                                /* the last span grows into new memory */
        h->top = h->f[best].off + len;
        h->f[best].len = len;
    }
    if (best < 0) {
        const size_t off = h->top;
        h->top += len;
        return off;
    }
    const size_t off = h->f[best].off;
    h->f[best].off += len;
    h->f[best].len -= len;
    if (!h->f[best].len) {
        memmove(h->f + best, h->f + best + 1, (size_t)(h->n - best - 1) * sizeof *h->f);
        h->n--;
    }
    return off;
}

/* Return [off, off + len) (the spans array has room for every buffer). */
static void vheap_free(vheap *h, size_t off, size_t len)
{
    int i = 0;
    while (i < h->n && h->f[i].off < off) i++;
    memmove(h->f + i + 1, h->f + i, (size_t)(h->n - i) * sizeof *h->f);
    h->f[i] = (vspan){ off, len };
    h->n++;
    if (i + 1 < h->n && h->f[i].off + h->f[i].len == h->f[i + 1].off) {     /* merge the next */
        h->f[i].len += h->f[i + 1].len;
        memmove(h->f + i + 1, h->f + i + 2, (size_t)(h->n - i - 2) * sizeof *h->f);
        h->n--;
    }
    if (i > 0 && h->f[i - 1].off + h->f[i - 1].len == h->f[i].off) {        /* merge into the previous */
        h->f[i - 1].len += h->f[i].len;
        memmove(h->f + i, h->f + i + 1, (size_t)(h->n - i - 1) * sizeof *h->f);
        h->n--;
    }
}

#define PLAN_ALIGN 16   /* floats: 64-byte offsets */

/* Does node j's op have a recorded backward-read set? */
static int op_known(const alig_ad_node *n) { return (alig_ad_opdefs[n->op]->reads & ALIG_AD_BWD_KNOWN) != 0; }

/* Memory plans (alig_ad_graph_compile_inference and _planned; see ad.h for the timeline). Buffer
 * b = 2i is node i's value, 2i + 1 its gradient; start/end are times (end inclusive; `inf` =
 * never released). Walking the times upwards, a buffer is released at the first time after its
 * end and taken at its start, releases first: buffers alive at the same time never overlap, and
 * an op never writes over what it reads in the same call (its own gradient ends at its backward
 * time, the operand gradients it starts then are taken after; an operand value it reads ends no
 * earlier). Inference: forward times only, every op's value planned (forward writes its value
 * from its operands), no gradients. Training: only ops with a recorded read set (opdef.reads).
 * Fills off[b] (floats into the arena), node->shared and G->arena_floats. */
static alig_status plan_memory(alig_ad_graph *G, int inference, size_t *off)
{
    const int n = G->n_nodes;
    const long T = 2L * n, inf = T;                      /* times 0 .. 2n − 1 */
    long *start = malloc((size_t)(2 * n + 1) * sizeof *start), *end = malloc((size_t)(2 * n + 1) * sizeof *end);
    int *byt = malloc((size_t)(2 * n + 1) * sizeof *byt);             /* buffers sorted by start */
    int *bye = malloc((size_t)(2 * n + 1) * sizeof *bye);             /* ... and by end */
    int *alias = malloc((size_t)(2 * n + 1) * sizeof *alias);         /* a buffer shared with another, or −1 */
    vheap h = { malloc((size_t)(2 * n + 1) * sizeof(vspan)), 0, 0 };
    alig_status rc = ALIG_SUCCESS;
    if (!start || !end || !byt || !bye || !alias || !h.f) { rc = ALIG_ENOMEM; goto done; }
    for (int b = 0; b < 2 * n; b++) start[b] = end[b] = alias[b] = -1;     /* −1: not planned */
    for (int i = 0; i < n; i++) {
        const alig_ad_node *nd = G->nodes[i];
        if (nd->op == ALIG_OP_INPUT || nd->op == ALIG_OP_PARAM || nd->op == ALIG_OP_BUFFER) continue;
        if (!inference && !op_known(nd)) continue;
        start[2 * i] = i;
        end[2 * i] = nd->keep ? inf : i;
        if (inference) continue;
        if (alig_ad_opdefs[nd->op]->reads & ALIG_AD_BWD_SELF) end[2 * i] = T - 1 - i;
        if (nd->requires_grad) {
            start[2 * i + 1] = n;        /* no consumer: a loss, its gradient set when backward starts */
            end[2 * i + 1] = T - 1 - i;
        }
    }
    int *consumers = calloc((size_t)n + 1, sizeof *consumers);
    if (!consumers) { rc = ALIG_ENOMEM; goto done; }
    for (int j = 0; j < n; j++) {
        const alig_ad_node *nd = G->nodes[j];
        const unsigned reads = alig_ad_opdefs[nd->op]->reads;
        for (int k = 0; k < nd->n_in; k++) {
            const int i = nd->in[k]->index, v = 2 * i, g = 2 * i + 1;
            consumers[i]++;
            if (start[v] >= 0) {
                long e = j;                                             /* forward read */
                if (!inference && !op_known(nd)) e = inf;
                else if (!inference && (reads & ALIG_AD_BWD_IN(k))) e = T - 1 - j;     /* backward read */
                if (e > end[v]) end[v] = e;
            }
            /* the consumer with the highest index adds first */
            if (start[g] >= 0 && (consumers[i] == 1 || T - 1 - j < start[g])) start[g] = T - 1 - j;
        }
    }
    for (int i = 0; i < n; i++)                               /* outputs: read by the caller */
        if (!consumers[i] && start[2 * i] >= 0) end[2 * i] = inf;
    /* An add hands its gradient to each operand unchanged: an operand it is the only consumer of
     * (training only) takes the add's gradient buffer as its own, and add's backward has nothing
     * to copy (a residual block's last conv, a 1×1 shortcut). The shared buffer lives until the
     * last of them is read; chains of adds share one buffer. Adds are taken highest index first,
     * so an add's own gradient has joined its buffer's owner (the root) before its operands join:
     * alias[] always names a root, which never joins another buffer later (its node comes after
     * every operand still to be seen). */
    if (!inference)
        for (int j = n - 1; j >= 0; j--) {
            const alig_ad_node *nd = G->nodes[j];
            if (nd->op != ALIG_OP_ADD || start[2 * j + 1] < 0) continue;
            const int r = alias[2 * j + 1] >= 0 ? alias[2 * j + 1] : 2 * j + 1;
            for (int k = 0; k < nd->n_in; k++) {
                const int i = nd->in[k]->index, g = 2 * i + 1;
                if (consumers[i] != 1 || start[g] < 0 || nd->in[k]->size != nd->size) continue;
                alias[g] = r;
                if (end[g] > end[r]) end[r] = end[g];
                start[g] = -1;
            }
        }
    free(consumers);
    int nb = 0;
    for (int b = 0; b < 2 * n; b++)
        if (start[b] >= 0) byt[nb] = bye[nb] = b, nb++;
    /* counting sorts by start and end (times 0 .. 2n) */
    {
        int *cnt = calloc((size_t)T + 2, sizeof *cnt), *tmp = malloc((size_t)(nb ? nb : 1) * sizeof *tmp);
        if (!cnt || !tmp) { free(cnt); free(tmp); rc = ALIG_ENOMEM; goto done; }
        for (int pass = 0; pass < 2; pass++) {
            long *key = pass ? end : start;
            int *arr = pass ? bye : byt;
            memset(cnt, 0, ((size_t)T + 2) * sizeof *cnt);
            for (int q = 0; q < nb; q++) cnt[key[arr[q]] + 1]++;
            for (long t = 0; t <= T; t++) cnt[t + 1] += cnt[t];
            for (int q = 0; q < nb; q++) tmp[cnt[key[arr[q]]]++] = arr[q];
            memcpy(arr, tmp, (size_t)nb * sizeof *arr);
        }
        free(cnt);
        free(tmp);
    }
    int qs = 0, qe = 0;
    for (long t = 0; t < T; t++) {
        for (; qe < nb && end[bye[qe]] < t; qe++) {
            const int b = bye[qe];
            const size_t len = (G->nodes[b / 2]->size + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
            vheap_free(&h, off[b], len);
        }
        for (; qs < nb && start[byt[qs]] == t; qs++) {
            const int b = byt[qs];
            const size_t len = (G->nodes[b / 2]->size + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
            off[b] = vheap_alloc(&h, len);
            G->nodes[b / 2]->shared |= (unsigned char)(1u << (b & 1));
        }
    }
    for (int b = 0; b < 2 * n; b++)
        if (alias[b] >= 0) {
            off[b] = off[alias[b]];
            G->nodes[b / 2]->shared |= (unsigned char)(1u << (b & 1));
        }
    G->arena_floats = h.top;
done:
    free(start);
    free(end);
    free(byt);
    free(bye);
    free(alias);
    free(h.f);
    return rc;
}

enum { MODE_TRAIN = 0, MODE_INFERENCE = 1, MODE_PLANNED = 2 };

static int graph_mode(const alig_ad_graph *G) { return G->inference ? MODE_INFERENCE : G->planned ? MODE_PLANNED : MODE_TRAIN; }

static alig_status graph_compile(alig_ad_graph *G, int mode)
{
    if (!G) return ALIG_EINVAL;
    if (G->status) return G->status;
    if (G->compiled) return graph_mode(G) == mode ? ALIG_SUCCESS : ALIG_EINVAL;
    const int inference = mode == MODE_INFERENCE;
    G->inference = inference;
    G->planned = mode == MODE_PLANNED;
    if (G->P && alig_ad_params_seal(G->P)) {
        alig_ad_fail(G, ALIG_ENOMEM, "compile", "cannot allocate the parameter arena");
        return G->status;
    }
    if (inference || G->planned) {
        size_t *off = malloc((size_t)(2 * G->n_nodes + 1) * sizeof *off);
        if (!off || plan_memory(G, inference, off)) {
            free(off);
            goto nomem;
        }
        const alig_ad_graph *D = G->donor;
        if (D && D->compiled && D->arena && D->arena_floats >= G->arena_floats) {
            G->arena = D->arena;
            G->borrowed |= 1;
        } else if (!(G->arena = calloc(G->arena_floats ? G->arena_floats : 1, sizeof *G->arena))) {
            free(off);
            goto nomem;
        }
        for (int i = 0; i < G->n_nodes; i++) {
            alig_ad_node *n = G->nodes[i];
            if (n->shared & 1) n->value = G->arena + off[2 * i];
            if (n->shared & 2) n->grad = G->arena + off[2 * i + 1];
        }
        free(off);
    }
    for (int i = 0; i < G->n_nodes; i++) {
        alig_ad_node *n = G->nodes[i];
        if (n->op == ALIG_OP_PARAM || n->op == ALIG_OP_BUFFER) {
            const alig_ad_tensor_desc *d = &G->P->t[n->param_id];
            n->value = (d->trainable ? G->P->x : G->P->buf) + d->offset;
            n->grad = d->trainable ? G->P->g + d->offset : NULL;
        } else {
            if (!n->value) n->value = calloc(n->size, sizeof *n->value);
            const int want_grad = n->requires_grad && !inference;
            if (want_grad && !n->grad) n->grad = calloc(n->size, sizeof *n->grad);
            if (!n->value || (want_grad && !n->grad)) goto nomem;
        }
        if (n->work_bytes && !n->work && !(n->work = calloc(1, n->work_bytes))) goto nomem;
    }
    if (G->ws_need && G->donor && G->donor->compiled && G->donor->ws && G->donor->ws_need >= G->ws_need) {
        G->ws = G->donor->ws;
        G->borrowed |= 2;
    } else if (G->ws_need && !(G->ws = malloc(G->ws_need * sizeof *G->ws))) {
        goto nomem;
    }
    if (!(G->mark = calloc((size_t)G->n_nodes + 1, 1))) goto nomem;
    G->compiled = 1;
    return ALIG_SUCCESS;
nomem:
    /* buffers allocated so far are released by alig_ad_graph_free */
    alig_ad_fail(G, ALIG_ENOMEM, "compile", "cannot allocate activation buffers");
    return G->status;
}

alig_status alig_ad_graph_compile(alig_ad_graph *G)
{
    /* forward compiles on demand: an inference or planned graph stays one */
    return graph_compile(G, G && G->compiled ? graph_mode(G) : MODE_TRAIN);
}

alig_status alig_ad_graph_compile_inference(alig_ad_graph *G) { return graph_compile(G, MODE_INFERENCE); }
alig_status alig_ad_graph_compile_planned(alig_ad_graph *G) { return graph_compile(G, MODE_PLANNED); }

alig_status alig_ad_keep(alig_ad_graph *G, alig_ad_node *n)
{
    if (!G || !n || G->compiled || n->index < 0 || n->index >= G->n_nodes || G->nodes[n->index] != n)
        return ALIG_EINVAL;
    n->keep = 1;
    return ALIG_SUCCESS;
}

alig_status alig_ad_graph_borrow(alig_ad_graph *G, alig_ad_graph *donor)
{
    if (!G || !donor || G == donor || G->compiled || !donor->compiled || donor->donor) return ALIG_EINVAL;
    G->donor = donor;
    return ALIG_SUCCESS;
}

size_t alig_ad_graph_bytes(const alig_ad_graph *G)
{
    if (!G || !G->compiled) return 0;
    size_t b = ((G->borrowed & 2 ? 0 : G->ws_need) + (G->borrowed & 1 ? 0 : G->arena_floats)) * sizeof(float);
    for (int i = 0; i < G->n_nodes; i++) {
        const alig_ad_node *n = G->nodes[i];
        b += n->work_bytes;
        if (n->op == ALIG_OP_PARAM || n->op == ALIG_OP_BUFFER) continue;
        if (!(n->shared & 1)) b += n->size * sizeof(float);
        if (n->grad && !(n->shared & 2)) b += n->size * sizeof(float);
    }
    return b;
}

/* ====================================================================== profiler */

/* The drivers read the clock only while profiling is on: prof_now stamps the start of a call,
 * prof_since returns the seconds since that stamp, the difference taken in integer nanoseconds
 * so that the only rounding is the final conversion (a node's accumulated time is a sum of
 * intervals nested inside the pass, hence never larger than the pass's wall time). */
static inline void prof_now(struct timespec *t) { clock_gettime(CLOCK_MONOTONIC, t); }

static inline double prof_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    const long long ns = (long long)(b.tv_sec - a->tv_sec) * 1000000000LL + (long long)(b.tv_nsec - a->tv_nsec);
    return 1e-9 * (double)ns;
}

/* Size the accumulators to the graph's nodes (nodes may be added after profiling was turned on,
 * until compile); new entries start at 0. */
static alig_status prof_fit(alig_ad_graph *G)
{
    if (G->prof_t && G->prof_n == G->n_nodes) return ALIG_SUCCESS;
    const int n = G->n_nodes, old = G->prof_t ? G->prof_n : 0;
    double *t = calloc(2 * (size_t)(n ? n : 1), sizeof *t);
    if (!t) return ALIG_ENOMEM;
    if (old) {
        memcpy(t, G->prof_t, (size_t)old * sizeof *t);
        memcpy(t + n, G->prof_t + old, (size_t)old * sizeof *t);
    }
    free(G->prof_t);
    G->prof_t = t;
    G->prof_n = n;
    return ALIG_SUCCESS;
}

alig_status alig_ad_graph_set_profile(alig_ad_graph *G, int on)
{
    if (!G) return ALIG_EINVAL;
    if (!on) {
        G->prof_on = 0;
        return ALIG_SUCCESS;
    }
    alig_status rc = prof_fit(G);
    if (rc) return rc;
    memset(G->prof_t, 0, 2 * (size_t)(G->prof_n ? G->prof_n : 1) * sizeof *G->prof_t);
    G->prof_zero = 0.0;
    G->prof_fwd = G->prof_bwd = 0;
    G->prof_on = 1;
    return ALIG_SUCCESS;
}

alig_status alig_ad_graph_profile(const alig_ad_graph *G, int i, double *t_forward, double *t_backward)
{
    if (!G || i < 0 || i >= G->n_nodes) return ALIG_EINVAL;
    const int have = G->prof_t && i < G->prof_n;
    if (t_forward) *t_forward = have ? G->prof_t[i] : 0.0;
    if (t_backward) *t_backward = have ? G->prof_t[G->prof_n + i] : 0.0;
    return ALIG_SUCCESS;
}

alig_status alig_ad_graph_profile_totals(const alig_ad_graph *G, long *forwards, long *backwards, double *t_zero)
{
    if (!G) return ALIG_EINVAL;
    if (forwards) *forwards = G->prof_fwd;
    if (backwards) *backwards = G->prof_bwd;
    if (t_zero) *t_zero = G->prof_zero;
    return ALIG_SUCCESS;
}

/* ====================================================================== forward, backward */

alig_status alig_ad_forward(alig_ad_graph *G, int train)
{
    if (!G) return ALIG_EINVAL;
    alig_status rc = alig_ad_graph_compile(G);
    if (rc) return rc;
    const int prof = G->prof_on;
    if (prof && (rc = prof_fit(G))) return rc;
    double *tf = G->prof_t;
    struct timespec t0 = { 0, 0 };
    G->forward_done = 0;
    train = train ? 1 : 0;
    for (int i = 0; i < G->n_nodes; i++) {
        alig_ad_node *n = G->nodes[i];
        const alig_ad_opdef *d = alig_ad_opdefs[n->op];
        n->scalar = NAN;
        if (d->forward) {
            if (prof) prof_now(&t0);
            rc = d->forward(G, n, train);
            if (prof) tf[i] += prof_since(&t0);
            if (rc) return rc;
        }
        if (n->size == 1 && isnan(n->scalar)) n->scalar = n->value[0];
    }
    G->forward_done = 1;
    G->last_train = train;
    if (train) G->step++;
    if (prof) G->prof_fwd++;
    return ALIG_SUCCESS;
}

alig_status alig_ad_backward(alig_ad_graph *G, alig_ad_node *loss)
{
    if (!G || !loss || !G->forward_done || G->inference) return ALIG_EINVAL;
    if (loss->index < 0 || loss->index >= G->n_nodes || G->nodes[loss->index] != loss) return ALIG_EINVAL;
    if (loss->size != 1) return ALIG_EBADLEN;
    /* sized for every node: by set_profile after compile, or by the forward that compiled */
    const int prof = G->prof_on;
    double *tb = prof ? G->prof_t + G->prof_n : NULL;
    struct timespec t0 = { 0, 0 };
    const int top = loss->index;
    memset(G->mark, 0, (size_t)G->n_nodes);
    G->mark[top] = 1;
    for (int i = top; i >= 0; i--) {
        if (!G->mark[i]) continue;
        const alig_ad_node *n = G->nodes[i];
        for (int j = 0; j < n->n_in; j++) G->mark[n->in[j]->index] = 1;
    }
    /* Gradients are zeroed lazily: g and the loss's now; an activation gradient just before its
     * first consumer (the one with the highest index, which runs first) accumulates into it, or
     * not at all when that consumer's op overwrites it (opdef.overwrites; the op then writes it
     * with = through alig_ad_grad_claim). Every marked node with a gradient has a consumer on the
     * path to the loss, so each is zeroed or overwritten exactly once before any += reaches it. */
    if (prof) prof_now(&t0);
    if (G->P && G->P->sealed) alig_nk_zero(G->P->n ? G->P->n : 1, G->P->g);
    if (loss->grad && loss->op != ALIG_OP_PARAM) alig_nk_zero(loss->size, loss->grad);
    G->mark[top] = ALIG_AD_MARK_READY;
    if (prof) G->prof_zero += prof_since(&t0);
    if (loss->requires_grad) {          /* otherwise no parameter reaches the loss: g = 0 */
        loss->grad[0] += 1.0f;
        for (int i = top; i >= 0; i--) {
            alig_ad_node *n = G->nodes[i];
            const alig_ad_opdef *d = alig_ad_opdefs[n->op];
            if (!G->mark[i] || !n->requires_grad || !d->backward) continue;
            if (prof) prof_now(&t0);
            for (int j = 0; j < n->n_in; j++) {
                alig_ad_node *a = n->in[j];
                if (a->grad && a->op != ALIG_OP_PARAM && G->mark[a->index] == ALIG_AD_MARK_NEEDED) {
                    if (d->overwrites & (1u << j)) {
                        G->mark[a->index] = ALIG_AD_MARK_FRESH;     /* n writes it first: no zeroing */
                    } else {
                        alig_nk_zero(a->size, a->grad);
                        G->mark[a->index] = ALIG_AD_MARK_READY;
                    }
                }
            }
            if (prof) {
                G->prof_zero += prof_since(&t0);
                prof_now(&t0);
            }
            d->backward(G, n, G->last_train);
            if (prof) tb[i] += prof_since(&t0);
        }
    }
    if (prof) G->prof_bwd++;
    if (G->planned) G->forward_done = 0;      /* the values backward read may be gone */
    return ALIG_SUCCESS;
}

double alig_ad_scalar(const alig_ad_node *n)
{
    if (!n || !n->value) return NAN;
    return isnan(n->scalar) && n->size == 1 ? n->value[0] : n->scalar;
}
