/* yogi.c - Yogi (Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex
 * Optimization", NeurIPS 2018; docs/optimizers.md): Adam with an additive second moment that
 * moves v towards d² by at most (1 − β2)d² per step. With t = 1, 2, ...:
 *
 *   d = g + λw                                   coupled, as the ali-g repo adds λw to p.grad
 *   m ← β1 m + (1 − β1)d;   v ← v − (1 − β2)·sign(v − d²)·d²   (sign(0) = 0; v starts at v0)
 *   legacy_eps (default):  w ← w − lr·(√bc2/bc1)·m/(√v + ε)        TF Addons, TFF, ali-g yogi.py
 *   legacy_eps = 0:        w ← w − (lr/bc1)·m/(√v/√bc2 + ε)         ε placement of PyTorch Adam
 *   bc1 = 1 − β1^t, bc2 = 1 − β2^t; then w ← Π_Ω(w) (solver.c).
 *
 * Defaults: the ali-g repo's alig/th/yogi.py, which produced the Yogi baseline of the ALI-G
 * paper: lr 1e-3, β (0.9, 0.999), ε 1e-8, v0 0, legacy form. The TensorFlow Addons / TFF
 * defaults are lr 1e-2, ε 1e-3, v0 1e-6 in the same legacy form; set --lr, --yogi-eps and --v0
 * to get them. v stays ≥ 0, also in floating point: it only decreases when v > d², and then by
 * fl((1 − β2)d²) ≤ d² < v (rounding is monotone). The ali-g code's amsgrad path is not
 * reproduced (it crashes there: the max buffer is never created). The reported step size is lr. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_yogi p;
    void *buf;          /* m, then v: n elements each */
    size_t n, bytes;
    size_t t;
} yogi_state;

static const alig_params_yogi defaults = ALIG_PARAMS_YOGI_DEFAULT;

static const alig_param_desc desc[] = {
    { "lr", ALIG_PARAM_DOUBLE, offsetof(alig_params_yogi, lr), "learning rate", NULL },
    { "beta1", ALIG_PARAM_DOUBLE, offsetof(alig_params_yogi, beta1), "first-moment decay beta1 in [0, 1)", NULL },
    { "beta2", ALIG_PARAM_DOUBLE, offsetof(alig_params_yogi, beta2), "second-moment rate beta2 in [0, 1)", NULL },
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_yogi, eps), "epsilon added to the denominator", NULL },
    { "v0", ALIG_PARAM_DOUBLE, offsetof(alig_params_yogi, v0), "initial second moment (TF: 1e-6)", NULL },
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_yogi, weight_decay), "coupled L2 weight decay lambda", NULL },
    { "legacy-eps", ALIG_PARAM_BOOL, offsetof(alig_params_yogi, legacy_eps),
      "legacy form: lr*sqrt(1-beta2^t)/(1-beta1^t) * m/(sqrt(v) + eps)", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_yogi *p = params;
    if (!(p->lr > 0.0) || !isfinite(p->lr)) return ALIG_EBADLR;
    if (!(p->beta1 >= 0.0 && p->beta1 < 1.0) || !(p->beta2 >= 0.0 && p->beta2 < 1.0)) return ALIG_EBADBETAS;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    if (!(p->v0 >= 0.0) || !isfinite(p->v0)) return ALIG_EBADACCUM;
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    yogi_state *s = state;
    s->p = *(const alig_params_yogi *)params;
    s->n = n;
    size_t es = alig_kernels_get(dtype)->elem_size;
    if (n > (size_t)-1 / (2 * es)) return ALIG_ENOMEM;
    s->bytes = 2 * n * es;
    s->buf = calloc(1, s->bytes);
    return s->buf ? ALIG_SUCCESS : ALIG_ENOMEM;
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    yogi_state *s = state;
    s->t = 0;
    memset(s->buf, 0, n * k->elem_size);                              /* m = 0 */
    k->fill(n, s->p.v0, (char *)s->buf + n * k->elem_size);           /* v = v0 */
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    yogi_state *s = state;
    const alig_params_yogi *p = &s->p;
    s->t++;
    const double t = (double)s->t;
    const double bc1 = 1.0 - pow(p->beta1, t), bc2 = 1.0 - pow(p->beta2, t);
    alig_adam_coef co = { .beta1 = p->beta1, .beta2 = p->beta2, .eps = p->eps, .l2 = p->weight_decay,
                          .keep = 1.0 };
    if (p->legacy_eps) {
        co.step = p->lr * sqrt(bc2) / bc1;
        co.sbc2 = 1.0;
    } else {
        co.step = p->lr / bc1;
        co.sbc2 = sqrt(bc2);
    }
    char *m = s->buf, *v = m + s->n * c->k->elem_size;
    c->step = c->step_unclipped = p->lr;
    c->xsq = c->k->yogi(c->n, c->x, c->g, m, v, &co);
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    yogi_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    yogi_state *s = state;
    if (max < 2) return 0;
    ptr[0] = &s->t;
    bytes[0] = sizeof s->t;
    ptr[1] = s->buf;
    bytes[1] = s->bytes;
    return 2;
}

const alig_solver_type alig_type_yogi = {
    .name = "yogi",
    .summary = "Yogi: Adam with additive v <- v - (1-beta2) sign(v - g^2) g^2; Zaheer et al. 2018 (ali-g defaults)",
    .flags = 0,
    .params_size = sizeof(alig_params_yogi),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(yogi_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
