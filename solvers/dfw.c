/* dfw.c - Deep Frank-Wolfe (Berrada, Zisserman & Kumar, "Deep Frank-Wolfe for neural network
 * optimization", ICLR 2019, arXiv 1811.07591; official code github.com/oval-group/dfw, dfw/dfw.py).
 *
 * DFW trains ℓ(w) + (λ/2)‖w‖² where ℓ is piecewise linear in the network's scores (the multi-class
 * hinge). At each step it linearises the network, keeps the loss's piecewise-linear structure, and
 * solves the proximal problem  min_u (1/2η)‖u − w‖² + (λ/2)‖u‖² + ℓ_lin(u)  by one Frank-Wolfe step
 * on its dual, whose optimal step has a closed form. With δ = ∇ℓ(w) (the gradient of the
 * UNREGULARISED loss, which the caller passes as g, with ℓ as the loss) and r = λw:
 *
 *   γ = clip((ℓ − η⟨δ, r⟩)/(η‖δ‖² + ε), 0, 1)
 *   w ← w − η(r + γδ)
 *   μ > 0:  z ← μz − ηγ(δ + r);  w ← w + μz          (z starts at 0)
 *
 * The momentum buffer takes γ on both δ and r while the plain step takes r whole: that is how the
 * official code writes it, and this file follows the code. The weight decay is therefore a parameter
 * of the method, inside the proximal problem, not something the caller adds to g.
 *
 * Relation to ALI-G (the ALI-G paper, §3 and its SNLI experiment): with λ = 0 the step is
 * w ← w − min(ℓ/(‖δ‖² + ε/η), η)·δ, ALI-G's step with maximal learning rate η and δ_ALI-G = ε/η, and
 * the momentum is ALI-G's standard form. With λ = 0 this file therefore uses ALI-G's own kernels
 * (axpy, alig_momentum) with step ηγ, and with λ > 0 the dfw kernel.
 *
 * Guards: a denominator of 0 (ε = 0 and δ = 0) gives γ = 1 when the numerator is positive (the limit
 * of the clipped ratio; the dual objective then increases along γ) and 0 otherwise; a NaN ratio
 * (⟨δ, w⟩ overflowing to opposite infinities) fails the step with ALIG_ENONFINITE before w changes.
 * Reported step sizes: ηγ (the multiple of δ in the step) and η times the unclipped ratio. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_dfw p;
    void *buf;          /* momentum buffer z (n elements), NULL when μ = 0 */
    size_t bytes;
} dfw_state;

static const alig_params_dfw defaults = ALIG_PARAMS_DFW_DEFAULT;

static const alig_param_desc desc[] = {
    { "eta", ALIG_PARAM_DOUBLE, offsetof(alig_params_dfw, eta), "proximal learning rate eta", NULL },
    { "momentum", ALIG_PARAM_DOUBLE, offsetof(alig_params_dfw, momentum), "momentum mu (standard Nesterov form)", NULL },
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_dfw, weight_decay),
      "lambda of (lambda/2)|w|^2, inside the proximal problem", NULL },
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_dfw, eps), "epsilon added to eta |g|^2", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_dfw *p = params;
    if (!(p->eta > 0.0) || !isfinite(p->eta)) return ALIG_EBADETA;
    if (!(p->momentum >= 0.0 && p->momentum < 1.0)) return ALIG_EBADMOMENTUM;      /* NaN fails too */
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    dfw_state *s = state;
    s->p = *(const alig_params_dfw *)params;
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
    dfw_state *s = state;
    if (s->buf) memset(s->buf, 0, s->bytes);
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    dfw_state *s = state;
    const double eta = s->p.eta, lam = s->p.weight_decay, mu = s->p.momentum;
    const double dr = lam > 0.0 ? lam * c->k->dot(c->n, c->g, c->x) : 0.0;     /* ⟨δ, r⟩ in double */
    const double num = c->loss - eta * dr, den = eta * c->gsq + s->p.eps;
    const double gu = den > 0.0 ? num / den : (num > 0.0 ? 1.0 : 0.0);
    if (isnan(gu)) return ALIG_ENONFINITE;
    const double gamma = gu < 0.0 ? 0.0 : gu > 1.0 ? 1.0 : gu;
    const double a = eta * gamma;
    c->step = a;
    c->step_unclipped = eta * gu;
    if (lam == 0.0) {
        if (s->buf) c->xsq = c->k->alig_momentum(c->n, c->x, c->g, s->buf, a, mu);
        else c->xsq = c->k->axpy(c->n, -a, c->g, c->x);
    } else {
        c->xsq = c->k->dfw(c->n, c->x, c->g, s->buf, a, eta * lam, a * lam, mu);
    }
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    dfw_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    dfw_state *s = state;
    if (!s->buf || max < 1) return 0;
    ptr[0] = s->buf;
    bytes[0] = s->bytes;
    return 1;
}

const alig_solver_type alig_type_dfw = {
    .name = "dfw",
    .summary = "Deep Frank-Wolfe: gamma = clip((loss - eta<g, lambda w>)/(eta|g|^2 + eps), 0, 1), "
               "w <- w - eta(lambda w + gamma g); loss = unregularised hinge; Berrada et al. 2019",
    .flags = 0,
    .params_size = sizeof(alig_params_dfw),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(dfw_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
