/* ops_elem.c - elementwise ops: relu, sigmoid, tanh, add, mul, affine, and the row softmax.
 *
 *   relu:     y = max(x, 0)           dx += dy·[x > 0]
 *   sigmoid:  y = 1/(1 + e^−x)        dx += dy·y·(1 − y)
 *   tanh:     y = tanh x              dx += dy·(1 − y²)
 *   add:      y = a + b               da += dy, db += dy
 *   mul:      y = a ⊙ b               da += dy ⊙ b, db += dy ⊙ a
 *   affine:   y = α·x + c             dx += α·dy
 *   softmax:  y_ij = e^{x_ij}/Σ_k e^{x_ik}    dx_i += y_i ⊙ (dy_i − ⟨dy_i, y_i⟩)
 * When an operand appears twice (a + a, a ⊙ a) each use adds its own term. On size-1 nodes
 * add, mul and affine also combine the operands' double values, so a sum of losses keeps
 * double precision. */
#include "ad_impl.h"
#include "kernels.h"

static alig_ad_node *unary_new(alig_ad_graph *G, alig_op op, alig_ad_node *x)
{
    alig_ad_node *ins[1] = { x };
    if (!alig_ad_check_args(G, alig_ad_op_name(op), 1, ins)) return NULL;
    return alig_ad_new_node(G, op, x->ndim, x->dims, 1, ins);
}

static alig_ad_node *binary_new(alig_ad_graph *G, alig_op op, alig_ad_node *a, alig_ad_node *b)
{
    alig_ad_node *ins[2] = { a, b };
    const char *name = alig_ad_op_name(op);
    char sa[64], sb[64];
    if (!alig_ad_check_args(G, name, 2, ins)) return NULL;
    if (!alig_ad_same_shape(a, b))
        return alig_ad_fail(G, ALIG_EBADLEN, name, "shapes differ: %s and %s", alig_ad_shape_str(a, sa, sizeof sa),
                            alig_ad_shape_str(b, sb, sizeof sb));
    return alig_ad_new_node(G, op, a->ndim, a->dims, 2, ins);
}

/* ---------------------------------------------------------------- relu, sigmoid, tanh */

alig_ad_node *alig_ad_relu(alig_ad_graph *G, alig_ad_node *x) { return unary_new(G, ALIG_OP_RELU, x); }
alig_ad_node *alig_ad_sigmoid(alig_ad_graph *G, alig_ad_node *x) { return unary_new(G, ALIG_OP_SIGMOID, x); }
alig_ad_node *alig_ad_tanh(alig_ad_graph *G, alig_ad_node *x) { return unary_new(G, ALIG_OP_TANH, x); }

static alig_status relu_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_relu_forward(n->size, n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void relu_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    alig_ad_node *x = n->in[0];
    if (x->grad)    /* the first contribution is written, not added */
        alig_nk_relu_backward_set(n->size, x->value, n->grad, x->grad, alig_ad_grad_claim(G, x));
}

static alig_status sigmoid_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_sigmoid_forward(n->size, n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void sigmoid_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_sigmoid_backward(n->size, n->value, n->grad, n->in[0]->grad);
}

static alig_status tanh_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_tanh_forward(n->size, n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void tanh_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_tanh_backward(n->size, n->value, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_relu = { "relu", relu_forward, relu_backward, 1u,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_IN(0) };
const alig_ad_opdef alig_ad_def_sigmoid = { "sigmoid", sigmoid_forward, sigmoid_backward, 0,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_SELF };
const alig_ad_opdef alig_ad_def_tanh = { "tanh", tanh_forward, tanh_backward, 0,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_SELF };

/* ---------------------------------------------------------------- add, mul */

alig_ad_node *alig_ad_add(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b) { return binary_new(G, ALIG_OP_ADD, a, b); }
alig_ad_node *alig_ad_mul(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b) { return binary_new(G, ALIG_OP_MUL, a, b); }

static alig_status add_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_add_forward(n->size, n->in[0]->value, n->in[1]->value, n->value);
    if (n->size == 1) n->scalar = alig_ad_scalar(n->in[0]) + alig_ad_scalar(n->in[1]);
    return ALIG_SUCCESS;
}

static void add_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    for (int i = 0; i < 2; i++) {
        alig_ad_node *a = n->in[i];
        if (!a->grad) continue;
        if (a->grad == n->grad) {           /* a planned graph gave a this gradient buffer (ad.c) */
            (void)alig_ad_grad_claim(G, a);
            continue;
        }
        if (alig_ad_grad_claim(G, a))       /* first contribution: written, not added */
            alig_nk_copy(n->size, n->grad, a->grad);
        else
            alig_nk_axpy(n->size, 1.0f, n->grad, a->grad);
    }
}

static alig_status mul_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_mul_forward(n->size, n->in[0]->value, n->in[1]->value, n->value);
    if (n->size == 1) n->scalar = alig_ad_scalar(n->in[0]) * alig_ad_scalar(n->in[1]);
    return ALIG_SUCCESS;
}

static void mul_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_mul_backward(n->size, n->in[1]->value, n->grad, n->in[0]->grad);
    if (n->in[1]->grad) alig_nk_mul_backward(n->size, n->in[0]->value, n->grad, n->in[1]->grad);
}

const alig_ad_opdef alig_ad_def_add = { "add", add_forward, add_backward, 3u, ALIG_AD_BWD_KNOWN };
const alig_ad_opdef alig_ad_def_mul = { "mul", mul_forward, mul_backward, 0,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_IN(0) | ALIG_AD_BWD_IN(1) };

/* ---------------------------------------------------------------- affine */

alig_ad_node *alig_ad_affine(alig_ad_graph *G, alig_ad_node *x, double a, double c)
{
    alig_ad_node *n = unary_new(G, ALIG_OP_AFFINE, x);
    if (!n) return NULL;
    n->aux.affine.a = (float)a;
    n->aux.affine.c = (float)c;
    return n;
}

static alig_status affine_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_affine_forward(n->size, n->aux.affine.a, n->aux.affine.c, n->in[0]->value, n->value);
    if (n->size == 1) n->scalar = (double)n->aux.affine.a * alig_ad_scalar(n->in[0]) + n->aux.affine.c;
    return ALIG_SUCCESS;
}

static void affine_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_axpy(n->size, n->aux.affine.a, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_affine = { "affine", affine_forward, affine_backward, 0, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- softmax */

alig_ad_node *alig_ad_softmax(alig_ad_graph *G, alig_ad_node *x)
{
    alig_ad_node *ins[1] = { x };
    char sx[64];
    if (!alig_ad_check_args(G, "softmax", 1, ins)) return NULL;
    if (x->ndim != 2)
        return alig_ad_fail(G, ALIG_EBADLEN, "softmax", "need a 2-D (N,C) input, got %s",
                            alig_ad_shape_str(x, sx, sizeof sx));
    return alig_ad_new_node(G, ALIG_OP_SOFTMAX, 2, x->dims, 1, ins);
}

static alig_status softmax_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_softmax_forward(n->dims[0], n->dims[1], n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void softmax_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_softmax_backward(n->dims[0], n->dims[1], n->value, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_softmax = { "softmax", softmax_forward, softmax_backward, 0,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_SELF };
