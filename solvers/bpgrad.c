/* bpgrad.c - BPGrad in the simplified form of the Deep Frank-Wolfe repository
 * (Zhang, Wu & Wang, "BPGrad: towards global optimality in deep learning via branch and pruning",
 * CVPR 2018, arXiv 1711.06959; the baseline the DFW and ALI-G papers run is
 * github.com/oval-group/dfw, dfw/baselines/bpgrad.py).
 *
 * BPGrad assumes the objective is Lipschitz with constant L and moves by f/L in the direction of the
 * normalised gradient, so that no point closer than that to the current one can be better than a
 * lower bound (0 here). With the DFW repository's settings (N = 1, hence m = 1 and ρ = 0) and
 * L = 1/η, one step is, with ℓ the loss passed to alig_solver_step and g its gradient:
 *
 *   f = ℓ + (λ/2)‖w‖²,  d = g + λw             (the weight decay joins the objective and the gradient)
 *   γ = f/(‖d‖ + ε)                              (the norm, not its square)
 *   v ← μv − (γ/L)·d,  w ← w + v                 (v starts at 0)
 *
 * Differences from the reference, on purpose: (1) the reference only moves w when μ ≠ 0 (its update
 * sits under `if mu:`), so with μ = 0 it never trains; here μ = 0 is the same formula with v = 0,
 * w ← w − (γ/L)·d. (2) f < 0 would make the step climb; γ is clamped at 0 (the losses used are ≥ 0,
 * so this never binds for them). (3) ‖d‖² and ‖w‖² accumulate in double. ‖d‖ + ε = 0 (ε = 0, d = 0)
 * gives γ = 0. γ/L is computed as γ/(1/η), as the reference forms it. Reported step size: γ/L. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_bpgrad p;
    void *buf;          /* v (n elements), NULL when μ = 0 */
    size_t bytes;
} bpgrad_state;

static const alig_params_bpgrad defaults = ALIG_PARAMS_BPGRAD_DEFAULT;

static const alig_param_desc desc[] = {
    { "eta", ALIG_PARAM_DOUBLE, offsetof(alig_params_bpgrad, eta), "learning rate eta = 1/L (Lipschitz constant)", NULL },
    { "momentum", ALIG_PARAM_DOUBLE, offsetof(alig_params_bpgrad, momentum), "momentum mu", NULL },
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_bpgrad, weight_decay),
      "lambda: (lambda/2)|w|^2 joins the objective and lambda w the gradient", NULL },
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_bpgrad, eps), "epsilon added to |g + lambda w|", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_bpgrad *p = params;
    if (!(p->eta > 0.0) || !isfinite(p->eta)) return ALIG_EBADETA;
    if (!(p->momentum >= 0.0 && p->momentum < 1.0)) return ALIG_EBADMOMENTUM;      /* NaN fails too */
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    bpgrad_state *s = state;
    s->p = *(const alig_params_bpgrad *)params;
    if (s->p.momentum > 0.0) {
        s->bytes = n * alig_kernels_get(dtype)->elem_size;
        s->buf = calloc(1, s->bytes);
        if (!s->buf) return ALIG_ENOMEM;
    }
    return ALIG_SUCCESS;
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    (void)n; (void)k;
    bpgrad_state *s = state;
    if (s->buf) memset(s->buf, 0, s->bytes);
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    bpgrad_state *s = state;
    const double lam = s->p.weight_decay;
    const double f = lam > 0.0 ? c->loss + 0.5 * lam * c->k->sumsq(c->n, c->x) : c->loss;
    const double dsq = lam > 0.0 ? c->k->decayed_sumsq(c->n, c->g, c->x, lam) : c->gsq;
    if (!isfinite(f) || !isfinite(dsq)) return ALIG_ENONFINITE;     /* nothing changed yet */
    const double den = sqrt(dsq) + s->p.eps;
    const double gamma = den > 0.0 && f > 0.0 ? f / den : 0.0;
    const double a = gamma / (1.0 / s->p.eta);                       /* γ/L */
    c->step = c->step_unclipped = a;
    c->xsq = c->k->bpgrad(c->n, c->x, c->g, s->buf, alig_step_for(c->dtype, a), lam, s->p.momentum);
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    bpgrad_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    bpgrad_state *s = state;
    if (!s->buf || max < 1) return 0;
    ptr[0] = s->buf;
    bytes[0] = s->bytes;
    return 1;
}

const alig_solver_type alig_type_bpgrad = {
    .name = "bpgrad",
    .summary = "BPGrad (DFW repository version): gamma = (loss + lambda|w|^2/2)/(|g + lambda w| + eps), "
               "v <- mu v - eta gamma (g + lambda w), w <- w + v; Zhang et al. 2018",
    .flags = 0,
    .params_size = sizeof(alig_params_bpgrad),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(bpgrad_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
