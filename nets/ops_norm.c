/* ops_norm.c - dropout and batch normalisation: the two ops whose behaviour depends on the
 * train / eval mode.
 *
 * Dropout (Srivastava et al. 2014), inverted: train y = x ⊙ m, m_i = [u_i >= p]/(1 − p), so the
 * expectation is unchanged and evaluation is the identity. The mask is stored for backward
 * (dx += dy ⊙ m), as one byte per element (kept or not). u_i comes from a counter-based SplitMix64 stream keyed by (graph seed, node
 * index, training-forward count): deterministic for any thread count and recomputable.
 *
 * Batch normalisation (Ioffe & Szegedy 2015), PyTorch's conventions: biased batch variance to
 * normalise, unbiased variance into the running average, momentum m = 0.1 by default. The
 * running averages are BUFFER nodes (arena buffers outside x) updated in place by every
 * training forward; the statistics actually used (mean, 1/σ) are kept in the node's
 * workspace for backward. With opts.relu the output is max(BN(x), 0): the ReLU's derivative
 * is read back from the output's zeros, so the fused op saves a pass and a buffer each way.
 * With opts.dropout as well, the rectified output is multiplied by the dropout mask of this
 * node's stream in training; y > 0 then marks exactly the elements both kept and rectified
 * positive, so backward needs no stored mask: dŷ = dy/(1 − p) where y > 0, 0 elsewhere. */
#include <math.h>
#include <string.h>

#include "ad_impl.h"
#include "kernels.h"
#include "splitmix.h"

/* ---------------------------------------------------------------- dropout */

alig_ad_node *alig_ad_dropout(alig_ad_graph *G, alig_ad_node *x, double p)
{
    alig_ad_node *ins[1] = { x };
    if (!alig_ad_check_args(G, "dropout", 1, ins)) return NULL;
    if (!(p >= 0.0 && p < 1.0)) return alig_ad_fail(G, ALIG_EINVAL, "dropout", "p = %g must lie in [0, 1)", p);
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DROPOUT, x->ndim, x->dims, 1, ins);
    if (!n) return NULL;
    n->aux.dropout.p = (float)p;
    n->work_bytes = n->size;                            /* the mask, one byte per element */
    return n;
}

/* Stream key of dropout node `index` at training forward number `step`. */
static uint64_t dropout_key(uint64_t seed, int index, uint64_t step)
{
    const uint64_t phi = ALIG_SPLITMIX_GAMMA;
    uint64_t k = alig_splitmix(seed);   /* = mix(seed + γ) */
    k = alig_splitmix_mix(k ^ ((uint64_t)(unsigned)index * phi));
    return alig_splitmix_mix(k ^ (step * UINT64_C(0xD1B54A32D192ED03)));
}

static alig_status dropout_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    const float p = n->aux.dropout.p;
    if (!train || p == 0.0f) {
        memcpy(n->value, n->in[0]->value, n->size * sizeof *n->value);
        return ALIG_SUCCESS;
    }
    alig_nk_dropout_forward(n->size, p, dropout_key(G->seed, n->index, G->step), n->in[0]->value, n->work,
                            n->value);
    return ALIG_SUCCESS;
}

static void dropout_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    alig_ad_node *x = n->in[0];
    if (!x->grad) return;
    const int set = alig_ad_grad_claim(G, x);      /* the first contribution is written, not added */
    if (train && n->aux.dropout.p != 0.0f)
        alig_nk_dropout_backward(n->size, n->aux.dropout.p, n->work, n->grad, x->grad, set);
    else if (set)
        alig_nk_affine_forward(n->size, 1.0f, 0.0f, n->grad, x->grad);     /* 1·dy + 0, as 0 + 1·dy */
    else
        alig_nk_axpy(n->size, 1.0f, n->grad, x->grad);
}

const alig_ad_opdef alig_ad_def_dropout = { "dropout", dropout_forward, dropout_backward, 1u, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- batch normalisation */

enum { BN_X, BN_RMEAN, BN_RVAR, BN_GAMMA, BN_BETA };

alig_ad_node *alig_ad_batchnorm(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *gamma, alig_ad_node *beta,
                                alig_ad_node *running_mean, alig_ad_node *running_var,
                                const alig_ad_bn_opts *opts)
{
    alig_ad_node *ins[5] = { x, running_mean, running_var, gamma, beta };
    char sx[64], sp[64];
    if (!alig_ad_check_args(G, "batchnorm", 3, ins)) return NULL;
    if ((gamma == NULL) != (beta == NULL))
        return alig_ad_fail(G, ALIG_EINVAL, "batchnorm", "gamma and beta must both be given or both be NULL");
    const int affine = gamma != NULL;
    if (affine && !alig_ad_check_args(G, "batchnorm", 5, ins)) return NULL;
    const alig_ad_bn_opts o = opts ? *opts : (alig_ad_bn_opts)ALIG_AD_BN_OPTS_DEFAULT;
    if (!(o.momentum >= 0.0 && o.momentum <= 1.0))
        return alig_ad_fail(G, ALIG_EINVAL, "batchnorm", "momentum %g must lie in [0, 1]", o.momentum);
    if (!(o.eps > 0.0) || !isfinite(o.eps))
        return alig_ad_fail(G, ALIG_EINVAL, "batchnorm", "eps %g must be finite and > 0", o.eps);
    if (!(o.dropout >= 0.0 && o.dropout < 1.0))
        return alig_ad_fail(G, ALIG_EINVAL, "batchnorm", "dropout p = %g must lie in [0, 1)", o.dropout);
    if (o.dropout > 0.0 && !o.relu)
        return alig_ad_fail(G, ALIG_EINVAL, "batchnorm", "dropout p = %g needs the fused ReLU (relu = 1)", o.dropout);
    if (x->ndim != 2 && x->ndim != 4)
        return alig_ad_fail(G, ALIG_EBADLEN, "batchnorm", "need x (N,C) or (N,C,H,W), got %s",
                            alig_ad_shape_str(x, sx, sizeof sx));
    const int C = x->dims[1];
    for (int i = 1; i < (affine ? 5 : 3); i++)
        if (ins[i]->ndim != 1 || ins[i]->dims[0] != C)
            return alig_ad_fail(G, ALIG_EBADLEN, "batchnorm", "x is %s, so every per-channel tensor must be (%d), got %s",
                                alig_ad_shape_str(x, sx, sizeof sx), C, alig_ad_shape_str(ins[i], sp, sizeof sp));
    if (running_mean->op != ALIG_OP_BUFFER || running_var->op != ALIG_OP_BUFFER || running_mean == running_var)
        return alig_ad_fail(G, ALIG_EINVAL, "batchnorm", "running mean and variance must be two distinct buffer nodes");
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_BATCHNORM, x->ndim, x->dims, affine ? 5 : 3, ins);
    if (!n) return NULL;
    n->aux.bn.momentum = (float)o.momentum;
    n->aux.bn.eps = (float)o.eps;
    n->aux.bn.relu = o.relu != 0;
    n->aux.bn.p = (float)o.dropout;
    n->aux.bn.donor = -1;
    n->aux.bn.shared = 0;
    /* x = concat(p, ...) with p normalised by an earlier batch norm of the same ε: its batch
     * statistics are those of x's first channels, bit for bit (same values, same sums) */
    if (x->op == ALIG_OP_CONCAT && x->ndim == 4)
        for (int j = x->in[0]->index + 1; j < n->index; j++) {
            const alig_ad_node *b = G->nodes[j];
            if (b->op == ALIG_OP_BATCHNORM && b->in[BN_X] == x->in[0] && b->aux.bn.eps == n->aux.bn.eps) {
                n->aux.bn.donor = j;
                n->aux.bn.shared = x->in[0]->dims[1];
                break;
            }
        }
    /* mean, invstd (floats, read by backward), then the batch mean and biased variance in double */
    n->work_bytes = 2 * (size_t)C * sizeof(float) + 2 * (size_t)C * sizeof(double);
    return n;
}

/* The batch statistics of a training forward: mean and biased variance per channel, in double. */
static double *bn_stats(const alig_ad_node *n) { return (double *)((float *)n->work + 2 * n->dims[1]); }

static alig_status bn_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    const int N = n->dims[0], C = n->dims[1];
    const size_t L = alig_ad_inner(n, 2);
    if (train && (size_t)N * L < 2) return ALIG_EBADLEN;   /* no batch variance from one value */
    float *mean = n->work, *invstd = mean + C;
    const float *gamma = n->n_in == 5 ? n->in[BN_GAMMA]->value : NULL;
    const float *beta = n->n_in == 5 ? n->in[BN_BETA]->value : NULL;
    const alig_ad_node *donor = n->aux.bn.donor >= 0 ? G->nodes[n->aux.bn.donor] : NULL;
    if (train && n->aux.bn.p > 0.0f) {
        alig_nk_bn_forward_dropout(N, C, L, n->in[BN_X]->value, gamma, beta, n->aux.bn.eps, n->aux.bn.momentum,
                                   n->in[BN_RMEAN]->value, n->in[BN_RVAR]->value, mean, invstd, n->value,
                                   donor ? bn_stats(donor) : NULL, donor ? n->aux.bn.shared : 0, bn_stats(n),
                                   n->aux.bn.p, dropout_key(G->seed, n->index, G->step));
        return ALIG_SUCCESS;
    }
    alig_nk_bn_forward_stats(train, N, C, L, n->in[BN_X]->value, gamma, beta, n->aux.bn.eps, n->aux.bn.momentum,
                             n->in[BN_RMEAN]->value, n->in[BN_RVAR]->value, mean, invstd, n->value, n->aux.bn.relu,
                             donor && train ? bn_stats(donor) : NULL, donor ? n->aux.bn.shared : 0, bn_stats(n));
    return ALIG_SUCCESS;
}

static void bn_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    const int N = n->dims[0], C = n->dims[1];
    const size_t L = alig_ad_inner(n, 2);
    const float *mean = n->work, *invstd = mean + C;
    const int affine = n->n_in == 5;
    alig_ad_node *x = n->in[BN_X];
    const int set = x->grad ? alig_ad_grad_claim(G, x) : 0;    /* dx written, not added */
    /* with dropout, y > 0 marks the kept and rectified elements; their gradient is scaled */
    const float ds = train && n->aux.bn.p > 0.0f ? (float)(1.0 / (1.0 - (double)n->aux.bn.p)) : 1.0f;
    alig_nk_bn_backward_scaled(train, N, C, L, x->value, affine ? n->in[BN_GAMMA]->value : NULL, mean, invstd,
                               n->grad, n->aux.bn.relu ? n->value : NULL, ds, x->grad, set,
                               affine ? n->in[BN_GAMMA]->grad : NULL, affine ? n->in[BN_BETA]->grad : NULL);
}

const alig_ad_opdef alig_ad_def_batchnorm = { "batchnorm", bn_forward, bn_backward, 1u,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_IN(0) | ALIG_AD_BWD_IN(3) | ALIG_AD_BWD_SELF };
