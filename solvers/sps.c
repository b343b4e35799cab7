/* sps.c - stochastic Polyak step SPS / SPSmax (Loizou, Vaswani, Laradji & Lacoste-Julien,
 * AISTATS 2021, Algorithm SPS_max and the authors' code; docs/optimizers.md):
 *   γ_u = (ℓ − f⋆_B)/(c‖g‖² + ε),   γ = min(γ_u, γ_b)  (SPSmax; γ_b = ∞ gives plain SPS),
 *   smooth variant: γ_b,k = τ^(1/n_b)·γ_{k−1} with γ_{−1} = γ_b (or 1 if γ_b = ∞).
 * Guards: γ = 0 when ‖g‖ < 1e-8 or ℓ <= f⋆_B. Unlike the reference code, such a zero step
 * does not overwrite γ_{k−1}: otherwise the smooth cap would stay 0 forever (the freeze defect).
 * Deviation: the reference 'smooth_iter' mode ignores f⋆_B (it uses ℓ alone); here f⋆_B is
 * subtracted in every mode, which is the same thing at the default f⋆_B = 0. */
#include <stddef.h>
#include "kernels.h"
#include "methods.h"

typedef struct { alig_params_sps p; double prev; } sps_state;

static const alig_params_sps defaults = ALIG_PARAMS_SPS_DEFAULT;

static const alig_param_desc desc[] = {
    { "c", ALIG_PARAM_DOUBLE, offsetof(alig_params_sps, c), "constant c in the denominator", NULL },
    { "gamma-b", ALIG_PARAM_DOUBLE, offsetof(alig_params_sps, gamma_b), "cap gamma_b (inf = plain SPS)", NULL },
    { "f-star", ALIG_PARAM_DOUBLE, offsetof(alig_params_sps, f_star), "lower bound f*_B of the batch loss", NULL },
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_sps, eps), "constant added to the denominator", NULL },
    { "smooth", ALIG_PARAM_BOOL, offsetof(alig_params_sps, smooth), "smooth_iter cap tau^(1/n_b) * previous step", NULL },
    { "tau", ALIG_PARAM_DOUBLE, offsetof(alig_params_sps, tau), "smooth cap growth per epoch", NULL },
    { "batches-per-epoch", ALIG_PARAM_DOUBLE, offsetof(alig_params_sps, batches_per_epoch), "n_b for the smooth cap", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_sps *p = params;
    if (!(p->c > 0.0) || !isfinite(p->c)) return ALIG_EBADSPSC;
    if (!(p->gamma_b > 0.0)) return ALIG_EBADGAMMAB;
    if (!isfinite(p->f_star)) return ALIG_EBADBOUND;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    if (!(p->tau > 1.0) || !isfinite(p->tau) || !(p->batches_per_epoch >= 1.0) || !isfinite(p->batches_per_epoch))
        return ALIG_EBADGAMMAB;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    (void)dtype; (void)n;
    ((sps_state *)state)->p = *(const alig_params_sps *)params;
    return ALIG_SUCCESS;
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    (void)n; (void)k;
    sps_state *s = state;
    s->prev = isfinite(s->p.gamma_b) ? s->p.gamma_b : 1.0;
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    sps_state *s = state;
    const alig_params_sps *p = &s->p;
    if (c->gsq < 1e-16) {                 /* ‖g‖ < 1e-8: no step, state untouched */
        c->step = c->step_unclipped = 0.0;
        c->xsq = NAN;
        return ALIG_SUCCESS;
    }
    double gu = (c->loss - p->f_star) / (p->c * c->gsq + p->eps);
    double gamma = gu > 0.0 ? gu : 0.0;
    double cap = p->smooth ? pow(p->tau, 1.0 / p->batches_per_epoch) * s->prev : p->gamma_b;
    if (gamma > cap) gamma = cap;
    c->step_unclipped = gu;
    c->step = gamma;
    /* A zero step (ℓ <= f⋆_B) is a guard, not information about the scale of the step: storing it
     * would freeze the smooth cap at 0 forever, the same defect as a zero-gradient step. */
    if (p->smooth && gamma > 0.0) s->prev = gamma;
    c->xsq = c->k->axpy(c->n, -alig_step_for(c->dtype, gamma), c->g, c->x);
    return ALIG_SUCCESS;
}

static void state_free(void *state) { (void)state; }

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    sps_state *s = state;
    if (max < 1) return 0;
    ptr[0] = &s->prev;
    bytes[0] = sizeof s->prev;
    return 1;
}

const alig_solver_type alig_type_sps = {
    .name = "sps",
    .summary = "SPS/SPSmax: gamma = min((loss - f*)/(c|g|^2 + eps), gamma_b); Loizou et al. 2021",
    .flags = 0,
    .params_size = sizeof(alig_params_sps),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(sps_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
