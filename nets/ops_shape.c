/* ops_shape.c - concat and slice along axis 1, reshape / flatten.
 *
 * Seen as (outer = dims[0], dims[1], inner = dims[2]·dims[3]), concat and slice move
 * contiguous runs of dims[1]·inner or len·inner floats per outer index; backward moves the
 * same runs the other way with +=. Reshape copies (no aliasing between nodes, so gradient
 * buffers stay private to their node). */
#include <string.h>

#include "ad_impl.h"
#include "kernels.h"

/* ---------------------------------------------------------------- concat */

alig_ad_node *alig_ad_concat(alig_ad_graph *G, int n, alig_ad_node *const *xs)
{
    if (!G || G->status) return NULL;
    if (n < 1 || n > ALIG_AD_MAX_IN || !xs)
        return alig_ad_fail(G, ALIG_EINVAL, "concat", "need 1 to %d operands, got %d", ALIG_AD_MAX_IN, n);
    if (!alig_ad_check_args(G, "concat", n, xs)) return NULL;
    const alig_ad_node *x0 = xs[0];
    char s0[64], si[64];
    if (x0->ndim < 2)
        return alig_ad_fail(G, ALIG_EBADLEN, "concat", "operands need an axis 1, got %s", alig_ad_shape_str(x0, s0, sizeof s0));
    int dims[ALIG_AD_MAX_DIM];
    memcpy(dims, x0->dims, sizeof dims);
    dims[1] = 0;
    for (int i = 0; i < n; i++) {
        const alig_ad_node *x = xs[i];
        int ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x->ndim; d++) ok = d == 1 || x->dims[d] == x0->dims[d];
        if (!ok)
            return alig_ad_fail(G, ALIG_EBADLEN, "concat", "operand %d is %s, operand 1 is %s (only axis 1 may differ)",
                                i + 1, alig_ad_shape_str(x, si, sizeof si), alig_ad_shape_str(x0, s0, sizeof s0));
        if (dims[1] > (1 << 30) - x->dims[1]) return alig_ad_fail(G, ALIG_EBADLEN, "concat", "axis 1 too long");
        dims[1] += x->dims[1];
    }
    return alig_ad_new_node(G, ALIG_OP_CONCAT, x0->ndim, dims, n, xs);
}

static alig_status concat_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const size_t inner = alig_ad_inner(n, 2), ld = (size_t)n->dims[1] * inner;
    size_t off = 0;
    for (int i = 0; i < n->n_in; i++) {
        const size_t len = (size_t)n->in[i]->dims[1] * inner;
        alig_nk_copy_rows((size_t)n->dims[0], len, n->in[i]->value, len, n->value + off, ld);
        off += len;
    }
    return ALIG_SUCCESS;
}

static void concat_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const size_t inner = alig_ad_inner(n, 2), ld = (size_t)n->dims[1] * inner;
    size_t off = 0;
    for (int i = 0; i < n->n_in; i++) {
        const size_t len = (size_t)n->in[i]->dims[1] * inner;
        alig_ad_node *a = n->in[i];
        if (a->grad)    /* the first contribution is written (as 0 + dy), later ones added */
            alig_nk_acc_rows_set((size_t)n->dims[0], len, n->grad + off, ld, a->grad, len, alig_ad_grad_claim(G, a));
        off += len;
    }
}

const alig_ad_opdef alig_ad_def_concat = { "concat", concat_forward, concat_backward, 0xFFu, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- slice */

alig_ad_node *alig_ad_slice(alig_ad_graph *G, alig_ad_node *x, int start, int len)
{
    alig_ad_node *ins[1] = { x };
    char sx[64];
    if (!alig_ad_check_args(G, "slice", 1, ins)) return NULL;
    if (x->ndim < 2)
        return alig_ad_fail(G, ALIG_EBADLEN, "slice", "operand needs an axis 1, got %s", alig_ad_shape_str(x, sx, sizeof sx));
    if (start < 0 || len < 1 || start > x->dims[1] - len)
        return alig_ad_fail(G, ALIG_EBADLEN, "slice", "range [%d, %d+%d) outside axis 1 of %s", start, start, len,
                            alig_ad_shape_str(x, sx, sizeof sx));
    int dims[ALIG_AD_MAX_DIM];
    memcpy(dims, x->dims, sizeof dims);
    dims[1] = len;
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_SLICE, x->ndim, dims, 1, ins);
    if (n) {
        n->aux.slice.start = start;
        n->aux.slice.len = len;
    }
    return n;
}

static alig_status slice_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const alig_ad_node *x = n->in[0];
    const size_t inner = alig_ad_inner(n, 2), len = (size_t)n->aux.slice.len * inner;
    alig_nk_copy_rows((size_t)n->dims[0], len, x->value + (size_t)n->aux.slice.start * inner,
                      (size_t)x->dims[1] * inner, n->value, len);
    return ALIG_SUCCESS;
}

static void slice_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_ad_node *x = n->in[0];
    if (!x->grad) return;
    const size_t inner = alig_ad_inner(n, 2), len = (size_t)n->aux.slice.len * inner;
    alig_nk_acc_rows((size_t)n->dims[0], len, n->grad, len, x->grad + (size_t)n->aux.slice.start * inner,
                     (size_t)x->dims[1] * inner);
}

const alig_ad_opdef alig_ad_def_slice = { "slice", slice_forward, slice_backward, 0, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- reshape, flatten */

alig_ad_node *alig_ad_reshape(alig_ad_graph *G, alig_ad_node *x, int ndim, const int *dims)
{
    alig_ad_node *ins[1] = { x };
    char sx[64];
    if (!alig_ad_check_args(G, "reshape", 1, ins)) return NULL;
    if (!dims || ndim < 1 || ndim > ALIG_AD_MAX_DIM) return alig_ad_fail(G, ALIG_EBADLEN, "reshape", "need 1 to %d dimensions", ALIG_AD_MAX_DIM);
    size_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || size > x->size) return alig_ad_fail(G, ALIG_EBADLEN, "reshape", "dimension %d is %d", i, dims[i]);
        size *= (size_t)dims[i];
    }
    if (size != x->size)
        return alig_ad_fail(G, ALIG_EBADLEN, "reshape", "%s has %zu elements, the new shape %zu",
                            alig_ad_shape_str(x, sx, sizeof sx), x->size, size);
    return alig_ad_new_node(G, ALIG_OP_RESHAPE, ndim, dims, 1, ins);
}

alig_ad_node *alig_ad_flatten(alig_ad_graph *G, alig_ad_node *x)
{
    if (!G || G->status) return NULL;
    if (!x) return alig_ad_fail(G, ALIG_EINVAL, "reshape", "operand 1 is NULL");
    if (x->size / (size_t)x->dims[0] > (size_t)1 << 30)
        return alig_ad_fail(G, ALIG_EBADLEN, "reshape", "flattened rows too long");
    return alig_ad_reshape(G, x, 2, (int[]){ x->dims[0], (int)(x->size / (size_t)x->dims[0]) });
}

static alig_status reshape_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    memcpy(n->value, n->in[0]->value, n->size * sizeof *n->value);
    return ALIG_SUCCESS;
}

static void reshape_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_axpy(n->size, 1.0f, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_reshape = { "reshape", reshape_forward, reshape_backward, 0, ALIG_AD_BWD_KNOWN };
