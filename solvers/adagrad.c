/* adagrad.c - AdaGrad (Duchi, Hazan & Singer, JMLR 2011) in the PyTorch convention
 * (torch.optim.Adagrad documentation; docs/optimizers.md). With t = 1, 2, ...:
 *   d = g + λw;   S ← S + d²  (S starts at initial_accumulator);
 *   lr_t = lr/(1 + (t − 1)·lr_decay);   w ← w − lr_t·d/(√S + ε);   then w ← Π_Ω(w) (solver.c).
 * ε is added after the square root. The reported step size (clipped = unclipped) is lr_t.
 * The `adagrad-tf` row is TensorFlow 1.x AdagradOptimizer (training_ops.cc, ApplyAdagrad): S starts at
 * 0.1, w ← w − lr·g/√S, no ε; the same rule with initial_accumulator = 0.1 and ε = 0. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_adagrad p;
    void *S;            /* Σ d², n elements */
    size_t bytes;
    size_t t;
} adagrad_state;

static const alig_params_adagrad defaults = ALIG_PARAMS_ADAGRAD_DEFAULT;
static const alig_params_adagrad defaults_tf = ALIG_PARAMS_ADAGRAD_TF_DEFAULT;

static const alig_param_desc desc[] = {
    { "lr", ALIG_PARAM_DOUBLE, offsetof(alig_params_adagrad, lr), "learning rate", NULL },
    { "lr-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_adagrad, lr_decay), "lr_t = lr/(1 + (t-1)*lr_decay)", NULL },
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_adagrad, weight_decay), "coupled L2 weight decay lambda", NULL },
    { "initial-accumulator", ALIG_PARAM_DOUBLE, offsetof(alig_params_adagrad, initial_accumulator),
      "initial value of the sum of squared gradients", NULL },
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_adagrad, eps), "epsilon added after the square root", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_adagrad *p = params;
    if (!(p->lr > 0.0) || !isfinite(p->lr)) return ALIG_EBADLR;
    if (!(p->lr_decay >= 0.0) || !isfinite(p->lr_decay)) return ALIG_EBADDECAY;
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    if (!(p->initial_accumulator >= 0.0) || !isfinite(p->initial_accumulator)) return ALIG_EBADACCUM;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    return ALIG_SUCCESS;
}

/* TensorFlow 1.x: AdagradOptimizer refuses initial_accumulator_value <= 0 ("must be positive"):
 * with eps = 0, a zero accumulator divides 0 by 0 wherever a gradient coordinate is 0. */
static alig_status validate_tf(const void *params)
{
    const alig_params_adagrad *p = params;
    alig_status st = validate(params);
    if (!st && !(p->initial_accumulator > 0.0)) st = ALIG_EBADACCUM;
    return st;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    adagrad_state *s = state;
    s->p = *(const alig_params_adagrad *)params;
    s->bytes = n * alig_kernels_get(dtype)->elem_size;
    s->S = malloc(s->bytes);
    return s->S ? ALIG_SUCCESS : ALIG_ENOMEM;
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    adagrad_state *s = state;
    s->t = 0;
    k->fill(n, s->p.initial_accumulator, s->S);
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    adagrad_state *s = state;
    const alig_params_adagrad *p = &s->p;
    s->t++;
    const double lr = p->lr / (1.0 + (double)(s->t - 1) * p->lr_decay);
    c->step = c->step_unclipped = lr;
    c->xsq = c->k->adagrad(c->n, c->x, c->g, s->S, lr, p->weight_decay, p->eps);
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    adagrad_state *s = state;
    free(s->S);
    s->S = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    adagrad_state *s = state;
    if (max < 2) return 0;
    ptr[0] = &s->t;
    bytes[0] = sizeof s->t;
    ptr[1] = s->S;
    bytes[1] = s->bytes;
    return 2;
}

const alig_solver_type alig_type_adagrad = {
    .name = "adagrad",
    .summary = "AdaGrad (PyTorch): w <- w - lr_t g/(sqrt(sum g^2) + eps), lr_t = lr/(1 + (t-1) lr_decay); Duchi et al. 2011",
    .flags = 0,
    .params_size = sizeof(alig_params_adagrad),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(adagrad_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};

const alig_solver_type alig_type_adagrad_tf = {
    .name = "adagrad-tf",
    .summary = "AdaGrad (TensorFlow 1.x): S <- S + g^2 from S = 0.1, w <- w - lr g/sqrt(S), no eps; "
               "training_ops.cc ApplyAdagrad",
    .flags = 0,
    .params_size = sizeof(alig_params_adagrad),
    .params_default = &defaults_tf,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(adagrad_state),
    .validate = validate_tf,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
