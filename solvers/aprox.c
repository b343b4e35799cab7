/* aprox.c - APROX with the truncated model (Asi & Duchi, "The importance of better
 * models in stochastic optimization", PNAS 2019; docs/optimizers.md):
 *   α_k = α₀·k^(−β) (k = 1, 2, ...),   γ_k = min(α_k, (ℓ − B)/‖g‖²),   w ← Π_Ω(w − γ_k g).
 * It is the prox step on max{ℓ + ⟨g, ·−w⟩, B} with a decaying step α_k. Guards: γ = 0 when
 * ‖g‖² = 0 or ℓ < B. The reported unclipped step is (ℓ − B)/‖g‖². */
#include <stddef.h>
#include "kernels.h"
#include "methods.h"

typedef struct { alig_params_aprox p; size_t k; } aprox_state;

static const alig_params_aprox defaults = ALIG_PARAMS_APROX_DEFAULT;

static const alig_param_desc desc[] = {
    { "lr", ALIG_PARAM_DOUBLE, offsetof(alig_params_aprox, lr), "initial step alpha_0", NULL },
    { "decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_aprox, decay), "exponent beta in alpha_k = alpha_0 k^-beta", NULL },
    { "lower-bound", ALIG_PARAM_DOUBLE, offsetof(alig_params_aprox, lower_bound), "lower bound B of the loss", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_aprox *p = params;
    if (!(p->lr > 0.0) || !isfinite(p->lr)) return ALIG_EBADLR;
    if (!(p->decay >= 0.0 && p->decay <= 1.0)) return ALIG_EBADDECAY;
    if (!isfinite(p->lower_bound)) return ALIG_EBADBOUND;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    (void)dtype; (void)n;
    ((aprox_state *)state)->p = *(const alig_params_aprox *)params;
    return ALIG_SUCCESS;
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    (void)n; (void)k;
    ((aprox_state *)state)->k = 0;
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    aprox_state *s = state;
    s->k++;
    double alpha = s->p.lr * pow((double)s->k, -s->p.decay);
    double gu = c->gsq > 0.0 ? (c->loss - s->p.lower_bound) / c->gsq : 0.0;
    double gamma = gu > 0.0 ? gu : 0.0;
    if (gamma > alpha) gamma = alpha;
    c->step_unclipped = gu;
    c->step = gamma;
    c->xsq = c->k->axpy(c->n, -alig_step_for(c->dtype, gamma), c->g, c->x);
    return ALIG_SUCCESS;
}

static void state_free(void *state) { (void)state; }

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    aprox_state *s = state;
    if (max < 1) return 0;
    ptr[0] = &s->k;
    bytes[0] = sizeof s->k;
    return 1;
}

const alig_solver_type alig_type_aprox = {
    .name = "aprox",
    .summary = "APROX truncated: gamma = min(alpha_0 k^-beta, (loss - B)/|g|^2); Asi & Duchi 2019",
    .flags = 0,
    .params_size = sizeof(alig_params_aprox),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(aprox_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
