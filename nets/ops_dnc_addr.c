/* ops_dnc_addr.c - the DNC's memory addressing as autodiff ops (include/alig/ad.h, section "DNC memory
 * access (addressing)"): clip, masked sigmoid cross-entropy, content weights, usage, allocation. The math
 * lives in dnc_addr_kernels.c; here are the shape checks, the workspaces and the calls.
 *
 * Workspaces (n->work), sized by the constructors:
 *   dnc_content:    scratch (alig_nk_dnc_content_ws doubles) | knorm (B,H) | mnorm (B,N) | beta (B,H) |
 *                   sim (B,H,N), floats;
 *   dnc_usage:      u' (B,N) | ψ (B,N), floats;
 *   dnc_allocation: backward scratch (B,N) doubles | the permutation φ (B,N) int32.
 * None declares `overwrites`: every backward adds (+=) into its operands' gradients. */
#include <math.h>

#include "ad_impl.h"
#include "dnc_addr_kernels.h"

/* ---------------------------------------------------------------- clip */

alig_ad_node *alig_ad_clip(alig_ad_graph *G, alig_ad_node *x, double lo, double hi)
{
    alig_ad_node *ins[1] = { x };
    if (!alig_ad_check_args(G, "clip", 1, ins)) return NULL;
    if (!(lo <= hi))
        return alig_ad_fail(G, ALIG_EINVAL, "clip", "need lo <= hi, got lo = %g, hi = %g", lo, hi);
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_CLIP, x->ndim, x->dims, 1, ins);
    if (!n) return NULL;
    n->aux.clip.lo = (float)lo;
    n->aux.clip.hi = (float)hi;
    return n;
}

static alig_status clip_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_clip_forward(n->size, n->aux.clip.lo, n->aux.clip.hi, n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void clip_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_clip_backward(n->size, n->aux.clip.lo, n->aux.clip.hi, n->in[0]->value, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_clip = { "clip", clip_forward, clip_backward, 0, 0 };

/* ---------------------------------------------------------------- masked sigmoid cross-entropy */

alig_ad_node *alig_ad_sigmoid_ce_masked(alig_ad_graph *G, alig_ad_node *logits, alig_ad_node *targets,
                                        alig_ad_node *mask, double scale)
{
    static const char *name = "sigmoid_ce_masked";
    alig_ad_node *ins[3] = { logits, targets, mask };
    char sx[64], sz[64], sm[64];
    if (!alig_ad_check_args(G, name, 2, ins)) return NULL;
    if (mask && !alig_ad_check_args(G, name, 3, ins)) return NULL;
    if (logits->ndim != 2 || !alig_ad_same_shape(logits, targets))
        return alig_ad_fail(G, ALIG_EBADLEN, name, "need logits (B,C) and targets of the same shape, got %s and %s",
                            alig_ad_shape_str(logits, sx, sizeof sx), alig_ad_shape_str(targets, sz, sizeof sz));
    if (mask && (mask->ndim != 1 || mask->dims[0] != logits->dims[0]))
        return alig_ad_fail(G, ALIG_EBADLEN, name, "need a mask (B) for logits %s, got %s",
                            alig_ad_shape_str(logits, sx, sizeof sx), alig_ad_shape_str(mask, sm, sizeof sm));
    if (targets->requires_grad || (mask && mask->requires_grad))
        return alig_ad_fail(G, ALIG_EINVAL, name, "targets and mask must not depend on parameters");
    if (!isfinite(scale)) return alig_ad_fail(G, ALIG_EINVAL, name, "scale %g is not finite", scale);
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_SIGMOID_CE_MASKED, 1, (int[]){ 1 }, mask ? 3 : 2, ins);
    if (n) n->aux.sce.scale = scale;
    return n;
}

static alig_status sce_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const alig_ad_node *x = n->in[0];
    n->scalar = alig_nk_sigmoid_ce_masked_forward(x->dims[0], x->dims[1], x->value, n->in[1]->value,
                                                  n->n_in > 2 ? n->in[2]->value : NULL, n->aux.sce.scale);
    n->value[0] = (float)n->scalar;
    return ALIG_SUCCESS;
}

static void sce_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_ad_node *x = n->in[0];
    alig_nk_sigmoid_ce_masked_backward(x->dims[0], x->dims[1], x->value, n->in[1]->value,
                                       n->n_in > 2 ? n->in[2]->value : NULL, n->aux.sce.scale, n->grad[0], x->grad);
}

const alig_ad_opdef alig_ad_def_sigmoid_ce_masked = { "sigmoid_ce_masked", sce_forward, sce_backward, 0, 0 };

/* ---------------------------------------------------------------- content weights */

alig_ad_node *alig_ad_dnc_content(alig_ad_graph *G, alig_ad_node *keys, alig_ad_node *strengths,
                                  alig_ad_node *memory)
{
    static const char *name = "dnc_content";
    alig_ad_node *ins[3] = { keys, strengths, memory };
    char sk[64], ss[64], sm[64];
    if (!alig_ad_check_args(G, name, 3, ins)) return NULL;
    if (keys->ndim != 3 || strengths->ndim != 2 || memory->ndim != 3 || strengths->dims[0] != keys->dims[0] ||
        strengths->dims[1] != keys->dims[1] || memory->dims[0] != keys->dims[0] || memory->dims[2] != keys->dims[2])
        return alig_ad_fail(G, ALIG_EBADLEN, name,
                            "need keys (B,H,W), strengths (B,H) and memory (B,N,W), got %s, %s and %s",
                            alig_ad_shape_str(keys, sk, sizeof sk), alig_ad_shape_str(strengths, ss, sizeof ss),
                            alig_ad_shape_str(memory, sm, sizeof sm));
    const int B = keys->dims[0], H = keys->dims[1], N = memory->dims[1];
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DNC_CONTENT, 3, (int[]){ B, H, N }, 3, ins);
    if (n)
        n->work_bytes = alig_nk_dnc_content_ws(B, N, keys->dims[2]) * sizeof(double) +
                        ((size_t)B * H * 2 + (size_t)B * N + (size_t)B * H * N) * sizeof(float);
    return n;
}

/* the saved tensors inside n->work */
typedef struct {
    double *ws;
    float *knorm, *mnorm, *beta, *sim;
} content_ws;

static content_ws content_work(const alig_ad_node *n)
{
    const size_t B = (size_t)n->dims[0], H = (size_t)n->dims[1], N = (size_t)n->dims[2];
    content_ws w;
    w.ws = n->work;
    w.knorm = (float *)(w.ws + alig_nk_dnc_content_ws((int)B, (int)N, n->in[0]->dims[2]));
    w.mnorm = w.knorm + B * H;
    w.beta = w.mnorm + B * N;
    w.sim = w.beta + B * H;
    return w;
}

static alig_status content_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const alig_ad_node *k = n->in[0], *m = n->in[2];
    content_ws w = content_work(n);
    alig_nk_dnc_content_forward(k->dims[0], k->dims[1], m->dims[1], k->dims[2], k->value, n->in[1]->value,
                                m->value, n->value, w.knorm, w.mnorm, w.beta, w.sim, w.ws);
    return ALIG_SUCCESS;
}

static void content_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_ad_node *k = n->in[0], *s = n->in[1], *m = n->in[2];
    content_ws w = content_work(n);
    alig_nk_dnc_content_backward(k->dims[0], k->dims[1], m->dims[1], k->dims[2], k->value, s->value, m->value,
                                 n->value, w.knorm, w.mnorm, w.beta, w.sim, n->grad, k->grad, s->grad, m->grad,
                                 w.ws);
}

const alig_ad_opdef alig_ad_def_dnc_content = { "dnc_content", content_forward, content_backward, 0, 0 };

/* ---------------------------------------------------------------- usage */

alig_ad_node *alig_ad_dnc_usage(alig_ad_graph *G, alig_ad_node *u_prev, alig_ad_node *ww_prev,
                                alig_ad_node *free_gates, alig_ad_node *wr_prev, int stop_gradient)
{
    static const char *name = "dnc_usage";
    alig_ad_node *ins[4] = { u_prev, ww_prev, free_gates, wr_prev };
    char s0[64], s1[64], s2[64], s3[64];
    if (!alig_ad_check_args(G, name, 4, ins)) return NULL;
    const int B = u_prev->dims[0], N = u_prev->dims[1], R = free_gates->dims[1];
    if (u_prev->ndim != 2 || !alig_ad_same_shape(u_prev, ww_prev) || free_gates->ndim != 2 ||
        free_gates->dims[0] != B || wr_prev->ndim != 3 || wr_prev->dims[0] != B || wr_prev->dims[1] != R ||
        wr_prev->dims[2] != N)
        return alig_ad_fail(G, ALIG_EBADLEN, name,
                            "need u_prev (B,N), ww_prev (B,N), free_gates (B,R) and wr_prev (B,R,N), "
                            "got %s, %s, %s and %s",
                            alig_ad_shape_str(u_prev, s0, sizeof s0), alig_ad_shape_str(ww_prev, s1, sizeof s1),
                            alig_ad_shape_str(free_gates, s2, sizeof s2), alig_ad_shape_str(wr_prev, s3, sizeof s3));
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DNC_USAGE, 2, u_prev->dims, 4, ins);
    if (!n) return NULL;
    n->aux.usage.stop_gradient = stop_gradient ? 1 : 0;
    n->work_bytes = 2 * (size_t)B * N * sizeof(float);
    return n;
}

static alig_status usage_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const int B = n->dims[0], N = n->dims[1], R = n->in[2]->dims[1];
    float *up = n->work, *psi = up + (size_t)B * N;
    alig_nk_dnc_usage_forward(B, N, R, n->in[0]->value, n->in[1]->value, n->in[2]->value, n->in[3]->value, n->value,
                              up, psi);
    return ALIG_SUCCESS;
}

static void usage_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const int B = n->dims[0], N = n->dims[1], R = n->in[2]->dims[1];
    const float *up = n->work, *psi = up + (size_t)B * N;
    float *dww = n->aux.usage.stop_gradient ? NULL : n->in[1]->grad;
    alig_nk_dnc_usage_backward(B, N, R, n->in[0]->value, n->in[1]->value, n->in[2]->value, n->in[3]->value, up, psi,
                               n->grad, n->in[0]->grad, dww, n->in[2]->grad, n->in[3]->grad);
}

const alig_ad_opdef alig_ad_def_dnc_usage = { "dnc_usage", usage_forward, usage_backward, 0, 0 };

/* ---------------------------------------------------------------- allocation */

alig_ad_node *alig_ad_dnc_allocation(alig_ad_graph *G, alig_ad_node *usage)
{
    static const char *name = "dnc_allocation";
    alig_ad_node *ins[1] = { usage };
    char su[64];
    if (!alig_ad_check_args(G, name, 1, ins)) return NULL;
    if (usage->ndim != 2)
        return alig_ad_fail(G, ALIG_EBADLEN, name, "need usage (B,N), got %s", alig_ad_shape_str(usage, su, sizeof su));
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DNC_ALLOCATION, 2, usage->dims, 1, ins);
    if (n) n->work_bytes = usage->size * (sizeof(double) + sizeof(int32_t));
    return n;
}

static alig_status allocation_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    int32_t *perm = (int32_t *)((double *)n->work + n->size);
    alig_nk_dnc_allocation_forward(n->dims[0], n->dims[1], n->in[0]->value, n->value, perm);
    return ALIG_SUCCESS;
}

static void allocation_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    double *ws = n->work;
    const int32_t *perm = (const int32_t *)(ws + n->size);
    alig_nk_dnc_allocation_backward(n->dims[0], n->dims[1], n->in[0]->value, perm, n->grad, n->in[0]->grad, ws);
}

const alig_ad_opdef alig_ad_def_dnc_allocation = { "dnc_allocation", allocation_forward, allocation_backward, 0, 0 };
