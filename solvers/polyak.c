/* polyak.c - deterministic Polyak step (B. T. Polyak, Introduction to Optimization, 1987;
 * docs/optimizers.md):
 *   γ = r·(f(w) − f⋆)/‖∇f(w)‖²,   w ← Π_Ω(w − γ∇f(w)),
 * with γ = 0 when f < f⋆ or ‖∇f‖² = 0 (no NaN, no ascent). Deterministic: the driver passes
 * the full objective and gradient (type flag ALIG_SOLVER_FULL_ORACLE). No clipping, so the
 * reported clipped and unclipped steps coincide except when the guard sets γ = 0. */
#include <stddef.h>
#include "kernels.h"
#include "methods.h"

typedef struct { alig_params_polyak p; } polyak_state;

static const alig_params_polyak defaults = ALIG_PARAMS_POLYAK_DEFAULT;

static const alig_param_desc desc[] = {
    { "f-star", ALIG_PARAM_DOUBLE, offsetof(alig_params_polyak, f_star), "optimal value f*", NULL },
    { "relax", ALIG_PARAM_DOUBLE, offsetof(alig_params_polyak, relax), "relaxation factor in (0, 2)", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_polyak *p = params;
    if (!isfinite(p->f_star)) return ALIG_EBADBOUND;
    if (!(p->relax > 0.0 && p->relax < 2.0)) return ALIG_EBADRELAX;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    (void)dtype; (void)n;
    ((polyak_state *)state)->p = *(const alig_params_polyak *)params;
    return ALIG_SUCCESS;
}

static void reset(void *state, size_t n, const alig_kernels *k) { (void)state; (void)n; (void)k; }

static alig_status iterate(void *state, alig_step_ctx *c)
{
    const alig_params_polyak *p = &((polyak_state *)state)->p;
    double gap = c->loss - p->f_star;
    double gu = c->gsq > 0.0 ? p->relax * gap / c->gsq : 0.0;
    double gamma = gu > 0.0 ? gu : 0.0;
    c->step_unclipped = gu;
    c->step = gamma;
    c->xsq = c->k->axpy(c->n, -alig_step_for(c->dtype, gamma), c->g, c->x);
    return ALIG_SUCCESS;
}

static void state_free(void *state) { (void)state; }

const alig_solver_type alig_type_polyak = {
    .name = "polyak",
    .summary = "Polyak (deterministic): gamma = relax*(f - f*)/|grad f|^2 on the full objective; Polyak 1987",
    .flags = ALIG_SOLVER_FULL_ORACLE,
    .params_size = sizeof(alig_params_polyak),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(polyak_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = NULL,   /* stateless */
};
