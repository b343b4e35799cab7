/* ops_linalg.c - matmul (sgemm), bias_add, sum.
 *
 * matmul, Y = op(A)·op(B) with Y (M,N):
 *   ∂A: op(A) gets dY·op(B)ᵀ, so A += dY·op(B)ᵀ (no trans_a) or op(B)·dYᵀ (trans_a);
 *   ∂B: op(B) gets op(A)ᵀ·dY, so B += op(A)ᵀ·dY (no trans_b) or dYᵀ·op(A) (trans_b).
 * Each is one sgemm with beta = 1 (accumulation). */
#include "ad_impl.h"
#include "kernels.h"

/* ---------------------------------------------------------------- matmul */

alig_ad_node *alig_ad_matmul(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b, int trans_a, int trans_b)
{
    alig_ad_node *ins[2] = { a, b };
    char sa[64], sb[64];
    if (!alig_ad_check_args(G, "matmul", 2, ins)) return NULL;
    if (a->ndim != 2 || b->ndim != 2)
        return alig_ad_fail(G, ALIG_EBADLEN, "matmul", "operands must be 2-D, got %s and %s",
                            alig_ad_shape_str(a, sa, sizeof sa), alig_ad_shape_str(b, sb, sizeof sb));
    trans_a = trans_a ? 1 : 0;
    trans_b = trans_b ? 1 : 0;
    const int M = a->dims[trans_a], K = a->dims[1 - trans_a];
    const int Kb = b->dims[trans_b], N = b->dims[1 - trans_b];
    if (K != Kb)
        return alig_ad_fail(G, ALIG_EBADLEN, "matmul", "inner dimensions differ: A %s%s, B %s%s",
                            alig_ad_shape_str(a, sa, sizeof sa), trans_a ? "ᵀ" : "",
                            alig_ad_shape_str(b, sb, sizeof sb), trans_b ? "ᵀ" : "");
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_MATMUL, 2, (int[]){ M, N }, 2, ins);
    if (n) {
        n->aux.matmul.trans_a = trans_a;
        n->aux.matmul.trans_b = trans_b;
    }
    return n;
}

static alig_status matmul_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const alig_ad_node *a = n->in[0], *b = n->in[1];
    const int ta = n->aux.matmul.trans_a, tb = n->aux.matmul.trans_b;
    const int M = n->dims[0], N = n->dims[1], K = a->dims[1 - ta];
    alig_nk_gemm(ta, tb, M, N, K, 1.0f, a->value, b->value, 0.0f, n->value);
    return ALIG_SUCCESS;
}

static void matmul_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_ad_node *a = n->in[0], *b = n->in[1];
    const int ta = n->aux.matmul.trans_a, tb = n->aux.matmul.trans_b;
    const int M = n->dims[0], N = n->dims[1], K = a->dims[1 - ta];
    const float *dy = n->grad;
    if (a->grad) {
        if (!ta)        /* dA (M,K) += dY (M,N) · op(B)ᵀ (N,K); op(B)ᵀ is B (N,K) when tb, else Bᵀ */
            alig_nk_gemm(0, !tb, M, K, N, 1.0f, dy, b->value, 1.0f, a->grad);
        else            /* dA (K,M) += op(B) (K,N) · dYᵀ (N,M) */
            alig_nk_gemm(tb, 1, K, M, N, 1.0f, b->value, dy, 1.0f, a->grad);
    }
    if (b->grad) {
        if (!tb)        /* dB (K,N) += op(A)ᵀ (K,M) · dY (M,N); op(A)ᵀ is A (K,M) when ta, else Aᵀ */
            alig_nk_gemm(!ta, 0, K, N, M, 1.0f, a->value, dy, 1.0f, b->grad);
        else            /* dB (N,K) += dYᵀ (N,M) · op(A) (M,K) */
            alig_nk_gemm(1, ta, N, K, M, 1.0f, dy, a->value, 1.0f, b->grad);
    }
}

const alig_ad_opdef alig_ad_def_matmul = { "matmul", matmul_forward, matmul_backward, 0,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_IN(0) | ALIG_AD_BWD_IN(1) };

/* ---------------------------------------------------------------- bias_add */

alig_ad_node *alig_ad_bias_add(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *b)
{
    alig_ad_node *ins[2] = { x, b };
    char sx[64], sb[64];
    if (!alig_ad_check_args(G, "bias_add", 2, ins)) return NULL;
    if (x->ndim < 2 || b->ndim != 1 || b->dims[0] != x->dims[1])
        return alig_ad_fail(G, ALIG_EBADLEN, "bias_add", "need x (N,C,...) and b (C), got %s and %s",
                            alig_ad_shape_str(x, sx, sizeof sx), alig_ad_shape_str(b, sb, sizeof sb));
    return alig_ad_new_node(G, ALIG_OP_BIAS_ADD, x->ndim, x->dims, 2, ins);
}

static alig_status bias_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_bias_forward(n->dims[0], n->dims[1], alig_ad_inner(n, 2), n->in[0]->value, n->in[1]->value, n->value);
    return ALIG_SUCCESS;
}

static void bias_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_axpy(n->size, 1.0f, n->grad, n->in[0]->grad);
    if (n->in[1]->grad) alig_nk_bias_backward(n->dims[0], n->dims[1], alig_ad_inner(n, 2), n->grad, n->in[1]->grad);
}

const alig_ad_opdef alig_ad_def_bias_add = { "bias_add", bias_forward, bias_backward, 0, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- sum */

alig_ad_node *alig_ad_sum(alig_ad_graph *G, alig_ad_node *x)
{
    alig_ad_node *ins[1] = { x };
    if (!alig_ad_check_args(G, "sum", 1, ins)) return NULL;
    return alig_ad_new_node(G, ALIG_OP_SUM, 1, (int[]){ 1 }, 1, ins);
}

static alig_status sum_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    n->scalar = alig_nk_sum(n->in[0]->size, n->in[0]->value);
    n->value[0] = (float)n->scalar;
    return ALIG_SUCCESS;
}

static void sum_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_add_const(n->in[0]->size, n->grad[0], n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_sum = { "sum", sum_forward, sum_backward, 0, ALIG_AD_BWD_KNOWN };
