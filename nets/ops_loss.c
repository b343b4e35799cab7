/* ops_loss.c - scalar losses: softmax cross-entropy, the multi-class hinge of Crammer & Singer
 * (hard and smoothed, docs/training.md, as used by Deep Frank-Wolfe and ALI-G's
 * experiments) and binary cross-entropy on logits.
 *
 * Each keeps per-row losses in double and their mean as the node's double value. The class
 * weights (softmax probabilities, or the hinge's ξ) are kept for backward, which is then one
 * pass: ∂/∂s_i = dl·(w_i − e_{y_i})/N. Labels are validated at every forward. */
#include "ad_impl.h"
#include "kernels.h"

/* Workspace of a (N,C) classification loss: rowloss (N doubles) | weights (N·C floats) | labels (N int32). */
static size_t cls_work_bytes(int N, int C)
{
    return (size_t)N * sizeof(double) + (size_t)N * C * sizeof(float) + (size_t)N * sizeof(int32_t);
}
static double *cls_rowloss(const alig_ad_node *n) { return n->work; }
static float *cls_weights(const alig_ad_node *n) { return (float *)(cls_rowloss(n) + n->in[0]->dims[0]); }
static int32_t *cls_labels(const alig_ad_node *n)
{
    return (int32_t *)(cls_weights(n) + (size_t)n->in[0]->dims[0] * n->in[0]->dims[1]);
}

static alig_ad_node *cls_new(alig_ad_graph *G, alig_op op, alig_ad_node *s, alig_ad_node *labels)
{
    alig_ad_node *ins[2] = { s, labels };
    const char *name = alig_ad_op_name(op);
    char ss[64], sl[64];
    if (!alig_ad_check_args(G, name, 2, ins)) return NULL;
    if (s->ndim != 2 || labels->ndim != 1 || labels->dims[0] != s->dims[0])
        return alig_ad_fail(G, ALIG_EBADLEN, name, "need scores (N,C) and labels (N), got %s and %s",
                            alig_ad_shape_str(s, ss, sizeof ss), alig_ad_shape_str(labels, sl, sizeof sl));
    if (labels->requires_grad)
        return alig_ad_fail(G, ALIG_EINVAL, name, "labels must not depend on parameters");
    alig_ad_node *n = alig_ad_new_node(G, op, 1, (int[]){ 1 }, 2, ins);
    if (n) n->work_bytes = cls_work_bytes(s->dims[0], s->dims[1]);
    return n;
}

/* ---------------------------------------------------------------- softmax cross-entropy */

alig_ad_node *alig_ad_softmax_ce(alig_ad_graph *G, alig_ad_node *scores, alig_ad_node *labels)
{
    return cls_new(G, ALIG_OP_SOFTMAX_CE, scores, labels);
}

static alig_status ce_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const int N = n->in[0]->dims[0], C = n->in[0]->dims[1];
    alig_status rc = alig_ad_read_labels(n->in[1], N, C, cls_labels(n));
    if (rc) return rc;
    n->scalar = alig_nk_softmax_ce_forward(N, C, n->in[0]->value, cls_labels(n), cls_weights(n), cls_rowloss(n));
    n->value[0] = (float)n->scalar;
    return ALIG_SUCCESS;
}

static void ce_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad)
        alig_nk_softmax_ce_backward(n->in[0]->dims[0], n->in[0]->dims[1], cls_weights(n), cls_labels(n), n->grad[0],
                                    n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_softmax_ce = { "softmax_ce", ce_forward, ce_backward, 0, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- multi-class hinge */

alig_ad_node *alig_ad_hinge(alig_ad_graph *G, alig_ad_node *scores, alig_ad_node *labels, int smooth)
{
    alig_ad_node *n = cls_new(G, ALIG_OP_HINGE, scores, labels);
    if (n) n->aux.hinge.smooth = smooth ? 1 : 0;
    return n;
}

static alig_status hinge_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const int N = n->in[0]->dims[0], C = n->in[0]->dims[1];
    alig_status rc = alig_ad_read_labels(n->in[1], N, C, cls_labels(n));
    if (rc) return rc;
    n->scalar = alig_nk_hinge_forward(N, C, n->in[0]->value, cls_labels(n), n->aux.hinge.smooth, cls_weights(n),
                                      cls_rowloss(n));
    n->value[0] = (float)n->scalar;
    return ALIG_SUCCESS;
}

static void hinge_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad)
        alig_nk_hinge_backward(n->in[0]->dims[0], n->in[0]->dims[1], cls_weights(n), cls_labels(n), n->grad[0],
                               n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_hinge = { "hinge", hinge_forward, hinge_backward, 0, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- binary cross-entropy on logits */

alig_ad_node *alig_ad_bce_logits(alig_ad_graph *G, alig_ad_node *logits, alig_ad_node *targets)
{
    alig_ad_node *ins[2] = { logits, targets };
    char sa[64], sb[64];
    if (!alig_ad_check_args(G, "bce_logits", 2, ins)) return NULL;
    if (!alig_ad_same_shape(logits, targets))
        return alig_ad_fail(G, ALIG_EBADLEN, "bce_logits", "logits %s and targets %s differ",
                            alig_ad_shape_str(logits, sa, sizeof sa), alig_ad_shape_str(targets, sb, sizeof sb));
    if (targets->requires_grad)
        return alig_ad_fail(G, ALIG_EINVAL, "bce_logits", "targets must not depend on parameters");
    return alig_ad_new_node(G, ALIG_OP_BCE_LOGITS, 1, (int[]){ 1 }, 2, ins);
}

static alig_status bce_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    n->scalar = alig_nk_bce_logits_forward(n->in[0]->size, n->in[0]->value, n->in[1]->value);
    n->value[0] = (float)n->scalar;
    return ALIG_SUCCESS;
}

static void bce_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad)
        alig_nk_bce_logits_backward(n->in[0]->size, n->in[0]->value, n->in[1]->value, n->grad[0], n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_bce_logits = { "bce_logits", bce_forward, bce_backward, 0,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_IN(0) | ALIG_AD_BWD_IN(1) };
