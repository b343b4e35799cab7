/* alig.c - ALI-G, "Adaptive Learning-rates for Interpolation with Gradients"
 * (Berrada, Zisserman & Kumar, ICML 2020, Algorithm 1; docs/optimizers.md, docs/theory.md §2).
 *
 *   γ_u = (ℓ − B)/(‖g‖² + δ)          γ_u = 0 if ‖g‖² + δ = 0 (guard: no NaN step)
 *   γ   = min(max(γ_u, 0), η)          a loss below B gives γ = 0, never an ascent step
 *   no momentum:  w ← w − γg
 *   standard:     v ← μv − γg;  w ← w − γg + μv        (official default, "standard Nesterov")
 *   adjusted:     b ← μb − g;   w ← w − γg + γμb       (= torch SGD(nesterov) at lr γ)
 *   then w ← Π_Ω(w) (done by solver.c, also once at set-up).
 * η = INFINITY is ALI-G∞. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_alig p;
    void *buf;          /* momentum buffer (n elements), NULL when μ = 0 */
    size_t bytes;
} alig_state;

static const alig_params_alig defaults = ALIG_PARAMS_ALIG_DEFAULT;

static const alig_param_desc desc[] = {
    { "eta", ALIG_PARAM_DOUBLE, offsetof(alig_params_alig, eta), "maximal learning rate (inf = ALI-G-inf)", NULL },
    { "delta", ALIG_PARAM_DOUBLE, offsetof(alig_params_alig, delta), "constant added to |g|^2", NULL },
    { "lower-bound", ALIG_PARAM_DOUBLE, offsetof(alig_params_alig, lower_bound), "uniform lower bound B of the loss", NULL },
    { "momentum", ALIG_PARAM_DOUBLE, offsetof(alig_params_alig, momentum), "momentum mu", NULL },
    { "adjusted", ALIG_PARAM_BOOL, offsetof(alig_params_alig, adjusted), "adjusted (pytorch-like) momentum", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_alig *p = params;
    if (!(p->eta > 0.0)) return ALIG_EBADETA;                       /* NaN fails too; +inf allowed */
    if (!(p->delta >= 0.0) || !isfinite(p->delta)) return ALIG_EBADDELTA;
    if (!isfinite(p->lower_bound)) return ALIG_EBADBOUND;
    if (!(p->momentum >= 0.0 && p->momentum < 1.0)) return ALIG_EBADMOMENTUM;   /* NaN fails too */
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    alig_state *s = state;
    s->p = *(const alig_params_alig *)params;
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
    alig_state *s = state;
    if (s->buf) memset(s->buf, 0, s->bytes);
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    alig_state *s = state;
    const alig_params_alig *p = &s->p;
    double denom = c->gsq + p->delta;
    double gu = denom > 0.0 ? (c->loss - p->lower_bound) / denom : 0.0;
    double gamma = gu > 0.0 ? gu : 0.0;
    if (gamma > p->eta) gamma = p->eta;
    c->step_unclipped = gu;
    c->step = gamma;
    if (!s->buf)
        c->xsq = c->k->axpy(c->n, -alig_step_for(c->dtype, gamma), c->g, c->x);
    else if (p->adjusted)
        c->xsq = c->k->alig_momentum_adj(c->n, c->x, c->g, s->buf, alig_step_for(c->dtype, gamma), p->momentum);
    else
        c->xsq = c->k->alig_momentum(c->n, c->x, c->g, s->buf, alig_step_for(c->dtype, gamma), p->momentum);
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    alig_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    alig_state *s = state;
    if (!s->buf || max < 1) return 0;
    ptr[0] = s->buf;
    bytes[0] = s->bytes;
    return 1;
}

const alig_solver_type alig_type_alig = {
    .name = "alig",
    .summary = "ALI-G: gamma = min((loss - B)/(|g|^2 + delta), eta), projected; Berrada et al. 2020",
    .flags = 0,
    .params_size = sizeof(alig_params_alig),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(alig_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
