/* ops_seq.c - the variable-length sequence ops (ad.h alig_ad_seq_reverse, alig_ad_seq_maxpool;
 * kernels in seq_kernels.c). Both read the lengths (B) at every forward, check them (integers in
 * [1, T], else ALIG_EINVAL) and keep them as int32 in the node's workspace for the backward pass;
 * max-pooling also keeps the winning step of each output there.
 *
 * Why ops and not compositions: reversing each sample within its own length is a permutation of
 * rows that depends on data (the lengths) read at forward time, and a max over the T steps of a
 * sequence would otherwise need T − 1 pairwise comparisons with masks, each a node. */
#include "ad_impl.h"
#include "seq_kernels.h"

/* shared constructor checks: x (T,B,D), lengths (B) without gradient */
static int seq_args(alig_ad_graph *G, const char *name, alig_ad_node *x, alig_ad_node *lengths)
{
    alig_ad_node *ins[2] = { x, lengths };
    char sx[64], sl[64];
    if (!alig_ad_check_args(G, name, 2, ins)) return 0;
    if (x->ndim != 3) {
        alig_ad_fail(G, ALIG_EBADLEN, name, "sequence must be (T,B,D), got %s", alig_ad_shape_str(x, sx, sizeof sx));
        return 0;
    }
    if (lengths->ndim != 1 || lengths->dims[0] != x->dims[1]) {
        alig_ad_fail(G, ALIG_EBADLEN, name, "lengths must be (B) = (%d) for the sequence %s, got %s", x->dims[1],
                     alig_ad_shape_str(x, sx, sizeof sx), alig_ad_shape_str(lengths, sl, sizeof sl));
        return 0;
    }
    if (lengths->requires_grad) {
        alig_ad_fail(G, ALIG_EINVAL, name, "lengths must not depend on parameters");
        return 0;
    }
    return 1;
}

/* read the lengths into len (B int32): integers in [1, T] */
static alig_status read_lengths(const alig_ad_node *n, int32_t *len)
{
    const int T = n->in[0]->dims[0], B = n->in[0]->dims[1];
    if (alig_ad_read_labels(n->in[1], B, T + 1, len)) return ALIG_EINVAL;
    for (int b = 0; b < B; b++)
        if (len[b] < 1) return ALIG_EINVAL;
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- reverse */

alig_ad_node *alig_ad_seq_reverse(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *lengths)
{
    if (!seq_args(G, "seq_reverse", x, lengths)) return NULL;
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_SEQ_REVERSE, 3, x->dims, 2, (alig_ad_node *[]){ x, lengths });
    if (n) n->work_bytes = (size_t)x->dims[1] * sizeof(int32_t);
    return n;
}

static alig_status reverse_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    int32_t *len = n->work;
    alig_status rc = read_lengths(n, len);
    if (rc) return rc;
    alig_nk_seq_reverse_forward(n->dims[0], n->dims[1], n->dims[2], len, n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void reverse_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad)
        alig_nk_seq_reverse_backward(n->dims[0], n->dims[1], n->dims[2], n->work, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_seq_reverse = { "seq_reverse", reverse_forward, reverse_backward, 0, 0 };

/* ---------------------------------------------------------------- max-pooling over time */

alig_ad_node *alig_ad_seq_maxpool(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *lengths)
{
    if (!seq_args(G, "seq_maxpool", x, lengths)) return NULL;
    const int B = x->dims[1], D = x->dims[2];
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_SEQ_MAXPOOL, 2, (int[]){ B, D }, 2, (alig_ad_node *[]){ x, lengths });
    if (n) n->work_bytes = ((size_t)B * D + (size_t)B) * sizeof(int32_t);     /* winners, then lengths */
    return n;
}

static alig_status maxpool_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const alig_ad_node *x = n->in[0];
    const int T = x->dims[0], B = x->dims[1], D = x->dims[2];
    int32_t *arg = n->work, *len = arg + (size_t)B * D;
    alig_status rc = read_lengths(n, len);
    if (rc) return rc;
    alig_nk_seq_maxpool_forward(T, B, D, len, x->value, n->value, arg);
    return ALIG_SUCCESS;
}

static void maxpool_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_seq_maxpool_backward(n->dims[0], n->dims[1], n->work, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_seq_maxpool = { "seq_maxpool", maxpool_forward, maxpool_backward, 0, 0 };
