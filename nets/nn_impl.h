/* nn_impl.h - private to nets/nn_*.c: the net container and the model builder.
 *
 * A model is written once as a function of a builder (nn_build) and an input node. The builder
 * runs in two modes: the first time (declare = 1) every parameter or buffer the model asks for is
 * declared in the arena and recorded, with its initialisation recipe, in the net's tensor list;
 * every later time (declare = 0: the evaluation graph, the short-batch graph) the same requests
 * are answered with the recorded ids, in the same order, after checking the shapes. So one model
 * function yields several graphs over one arena, and alig_nn_net_init replays the recipes. */
#ifndef ALIG_NETS_NN_IMPL_H
#define ALIG_NETS_NN_IMPL_H

#include "alig/nn.h"

/* How a tensor is initialised (alig_nn_net_init). */
typedef enum nn_init_kind {
    NN_INIT_UNIFORM = 0,    /* U(−a, a) */
    NN_INIT_NORMAL,         /* N(0, a²) */
    NN_INIT_CONST           /* every element a */
} nn_init_kind;

typedef struct nn_tensor {
    int id;                 /* arena id */
    int trainable;          /* 1: in x; 0: a buffer */
    nn_init_kind kind;
    double a;
} nn_tensor;

/* A training graph at some batch size b, with its nodes. */
typedef struct nn_tgraph {
    alig_ad_graph *G;
    alig_ad_node *x, *y, *logits, *loss;
    int b;                  /* 0: not built */
} nn_tgraph;

struct alig_nn_net {
    alig_nn_spec spec;
    int B, EB;              /* training and evaluation batch sizes */
    alig_ad_params *P;
    nn_tensor *t;           /* tensors in declaration order */
    int nt, cap;
    nn_tgraph train;        /* batch B */
    nn_tgraph tail;         /* a short last batch, built on first use */
    alig_ad_graph *eval;    /* batch EB, logits only */
    alig_ad_node *ex, *elogits;
    int32_t *labels;        /* max(B, EB) labels, scratch */
    uint64_t rng_seed, rng_step;
    char err[200];          /* builder failure not recorded by a graph */
    int loss;               /* alig_nn_loss of the training graphs and of evaluation */
};

typedef struct nn_build {
    alig_nn_net *net;
    alig_ad_graph *G;
    int declare;
    int pos;                /* next recorded tensor (declare = 0) */
    alig_status status;     /* first builder failure (shape mismatch, arena error) */
} nn_build;

/* The logits node of spec's model on input x (N,C,H,W), or NULL (the failure is in b->status,
 * b->net->err, or the graph's status). */
alig_ad_node *alig_nn_model_forward(nn_build *b, const alig_nn_spec *spec, alig_ad_node *x);

#endif
