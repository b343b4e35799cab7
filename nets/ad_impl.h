/* ad_impl.h - private to nets/: the graph and arena structs, the op table and the helpers the
 * op files (ops_*.c) share with the driver (ad.c).
 *
 * An op is one alig_ad_opdef: forward computes n->value from the operands' values; backward
 * adds n->grad's contribution to the grad of every operand that has one (+=, never =). Shapes
 * were checked by the op's constructor, which also sizes n->work (per-node workspace) and may
 * raise the graph's shared scratch size (G->ws_need, used by conv2d). */
#ifndef ALIG_NETS_AD_IMPL_H
#define ALIG_NETS_AD_IMPL_H

#include "alig/ad.h"

typedef struct alig_ad_opdef {
    const char *name;
    /* train: 1 in training mode. Returns ALIG_SUCCESS or an input error (labels). */
    alig_status (*forward)(alig_ad_graph *G, alig_ad_node *n, int train);
    /* train: the mode of the last forward. NULL for leaves. */
    void (*backward)(alig_ad_graph *G, alig_ad_node *n, int train);
    /* Bit j set: backward always writes operand j's gradient (when it has one) and asks
     * alig_ad_grad_claim first, so the driver may skip zeroing it (see alig_ad_grad_claim). */
    unsigned overwrites;
    /* What backward reads besides n->grad and n->work, for alig_ad_graph_compile_planned:
     * ALIG_AD_BWD_IN(j) operand j's value, ALIG_AD_BWD_SELF n->value. ALIG_AD_BWD_KNOWN says the
     * set is complete AND that forward writes every element of n->value without reading it first
     * (so the value may live in memory another buffer used before). 0: unknown, the planner then
     * gives the node private buffers and keeps its operands' values for the whole step. */
    unsigned reads;
} alig_ad_opdef;

#define ALIG_AD_BWD_IN(j) (1u << (j))
#define ALIG_AD_BWD_SELF (1u << 30)
#define ALIG_AD_BWD_KNOWN (1u << 31)



typedef struct alig_ad_tensor_desc {
    int trainable;
    int ndim, dims[ALIG_AD_MAX_DIM];
    size_t size, offset;        /* offset into x/g (trainable) or into buf */
    float init;                 /* buffers: initial value */
} alig_ad_tensor_desc;

struct alig_ad_params {
    alig_ad_tensor_desc *t;
    int count, cap;
    size_t n, nbuf;
    float *x, *g, *buf;         /* NULL until sealed */
    int sealed;
};

struct alig_ad_graph {
    alig_ad_params *P;          /* not owned; may be NULL */
    alig_ad_node **nodes;
    int n_nodes, cap;
    alig_status status;         /* first construction / compile failure */
    char err[200];
    int compiled;
    int inference;              /* compiled by alig_ad_graph_compile_inference: no activation gradients */
    int planned;                /* compiled by alig_ad_graph_compile_planned */
    float *arena;               /* inference and planned graphs: the values (and gradients) that share
                                   memory by liveness, arena_floats floats */
    size_t arena_floats;
    alig_ad_graph *donor;       /* alig_ad_graph_borrow: whose arena and scratch to use when they fit */
    int borrowed;               /* bit 1: arena, bit 2: ws belong to the donor */
    int forward_done, last_train;
    uint64_t seed, step;        /* dropout stream */
    float *ws;                  /* shared scratch (conv2d), ws_need floats */
    size_t ws_need;
    unsigned char *mark;        /* backward: nodes the loss depends on */
    /* profiler (alig_ad_graph_set_profile): prof_t holds 2·prof_n seconds, forward times of nodes
     * 0..prof_n−1 then their backward times; NULL until profiling is first turned on */
    int prof_on;
    int prof_n;
    double *prof_t;
    double prof_zero;           /* seconds spent zeroing gradients at the start of backward */
    long prof_fwd, prof_bwd;    /* completed passes while on */
};

/* Gradient states in G->mark during backward: the loss depends on the node (1), its gradient is
 * zeroed or written (2), or it is "fresh": not zeroed, because its first contributor declared it
 * overwrites it (3). */
enum { ALIG_AD_MARK_NEEDED = 1, ALIG_AD_MARK_READY = 2, ALIG_AD_MARK_FRESH = 3 };

/* Called by a backward that declared `overwrites` for operand a, before writing a->grad:
 * 1 = a->grad holds garbage and must be written with = (it then becomes ready), 0 = add (+=). */
static inline int alig_ad_grad_claim(alig_ad_graph *G, const alig_ad_node *a)
{
    if (G->mark[a->index] != ALIG_AD_MARK_FRESH) return 0;
    G->mark[a->index] = ALIG_AD_MARK_READY;
    return 1;
}

/* The op table, indexed by alig_op (ad.c). */
extern const alig_ad_opdef *const alig_ad_opdefs[ALIG_OP_COUNT];

/* Per-op definitions (ops_*.c). */
extern const alig_ad_opdef alig_ad_def_matmul, alig_ad_def_bias_add, alig_ad_def_sum;
extern const alig_ad_opdef alig_ad_def_conv2d, alig_ad_def_maxpool2d, alig_ad_def_avgpool2d,
    alig_ad_def_global_avgpool;
extern const alig_ad_opdef alig_ad_def_relu, alig_ad_def_sigmoid, alig_ad_def_tanh, alig_ad_def_add,
    alig_ad_def_mul, alig_ad_def_affine, alig_ad_def_softmax;
extern const alig_ad_opdef alig_ad_def_concat, alig_ad_def_slice, alig_ad_def_reshape;
extern const alig_ad_opdef alig_ad_def_dropout, alig_ad_def_batchnorm;
extern const alig_ad_opdef alig_ad_def_softmax_ce, alig_ad_def_hinge, alig_ad_def_bce_logits;
/* DNC memory access (addressing), ops_dnc_addr.c */
extern const alig_ad_opdef alig_ad_def_clip, alig_ad_def_sigmoid_ce_masked, alig_ad_def_dnc_content,
    alig_ad_def_dnc_usage, alig_ad_def_dnc_allocation;
extern const alig_ad_opdef alig_ad_def_dnc_write_weights, alig_ad_def_dnc_memory, alig_ad_def_dnc_link,
    alig_ad_def_dnc_precedence, alig_ad_def_dnc_read_weights, alig_ad_def_bmm;
/* recurrent cells, ops_lstm.c */
extern const alig_ad_opdef alig_ad_def_lstm_cell;
/* variable-length sequences, ops_seq.c */
extern const alig_ad_opdef alig_ad_def_seq_reverse, alig_ad_def_seq_maxpool;

/* Record the first failure ("<op>: <printf message>") and return NULL. Later failures are ignored. */
alig_ad_node *alig_ad_fail(alig_ad_graph *G, alig_status st, const char *op, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Start a constructor: NULL if the graph already failed or is compiled, or (recording
 * ALIG_EINVAL) if one of the first n_req operands is NULL. */
int alig_ad_check_args(alig_ad_graph *G, const char *op, int n_req, alig_ad_node *const *ins);

/* Append a node of the given op, shape and operands (shape validated: ALIG_EBADLEN). NULL on
 * failure. requires_grad is the OR of the operands'. */
alig_ad_node *alig_ad_new_node(alig_ad_graph *G, alig_op op, int ndim, const int *dims, int n_in,
                               alig_ad_node *const *ins);

/* "(2,3,4)" into buf, for messages. */
const char *alig_ad_shape_str(const alig_ad_node *n, char *buf, size_t len);

/* 1 if a and b have the same ndim and dims. */
int alig_ad_same_shape(const alig_ad_node *a, const alig_ad_node *b);

/* Labels of a loss: check that the first N values of `labels` are integers in [0, C) and store
 * them as int32 into out. ALIG_EINVAL otherwise. */
alig_status alig_ad_read_labels(const alig_ad_node *labels, int N, int C, int32_t *out);

/* Product of dims[from..ndim). */
size_t alig_ad_inner(const alig_ad_node *n, int from);

#endif
