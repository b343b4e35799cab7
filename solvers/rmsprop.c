/* rmsprop.c - RMSProp (Tieleman & Hinton, Coursera "Neural Networks for Machine Learning",
 * lecture 6e, 2012), without bias correction, in two forms selected by eps_inside:
 *   PyTorch (torch.optim.RMSprop), the `rmsprop` row:
 *     d = g + λw;   v ← αv + (1 − α)d²;   u = v, or centered: ḡ ← αḡ + (1 − α)d, u = v − ḡ²;
 *     q = d/(√u + ε);   μ > 0: b ← μb + q, w ← w − lr·b;   μ = 0: w ← w − lr·q;
 *   TensorFlow 1.x (RMSPropOptimizer; training_ops.cc ApplyRMSProp / ApplyCenteredRMSProp), the
 *   `rmsprop-tf` row with decay 0.9, ε = 1e-10 and the mean square starting at 1:
 *     v ← v + (d² − v)(1 − α);  centered: ḡ ← ḡ + (d − ḡ)(1 − α);  q = lr·d/√(u + ε);
 *     μ > 0: b ← μb + q, w ← w − b;   μ = 0: w ← w − q;
 *   then w ← Π_Ω(w). v starts at initial_square_avg (0 in PyTorch, 1 in TensorFlow); ḡ and b at 0.
 * TensorFlow keeps a momentum slot even for μ = 0; 0·b + q = q exactly, so no buffer is kept here.
 * v − ḡ² is a weighted variance, ≥ 0 in exact arithmetic, but its rounding can fall below 0 when
 * the gradient of a coordinate barely changes; it is clamped at 0 there (PyTorch would take the
 * square root of a negative number and produce NaN). The reported step size is lr. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_rmsprop p;
    void *buf;          /* v, then ḡ (centered), then b (momentum): n elements each */
    size_t n, bytes;
} rmsprop_state;

static const alig_params_rmsprop defaults = ALIG_PARAMS_RMSPROP_DEFAULT;
static const alig_params_rmsprop defaults_tf = ALIG_PARAMS_RMSPROP_TF_DEFAULT;

static const alig_param_desc desc[] = {
    { "lr", ALIG_PARAM_DOUBLE, offsetof(alig_params_rmsprop, lr), "learning rate", NULL },
    { "alpha", ALIG_PARAM_DOUBLE, offsetof(alig_params_rmsprop, alpha), "smoothing constant alpha in [0, 1)", NULL },
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_rmsprop, eps), "epsilon, after the square root (inside it with eps-inside)", NULL },
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_rmsprop, weight_decay), "coupled L2 weight decay lambda", NULL },
    { "momentum", ALIG_PARAM_DOUBLE, offsetof(alig_params_rmsprop, momentum), "momentum mu", NULL },
    { "centered", ALIG_PARAM_BOOL, offsetof(alig_params_rmsprop, centered), "divide by the centred second moment", NULL },
    { "initial-square-avg", ALIG_PARAM_DOUBLE, offsetof(alig_params_rmsprop, initial_square_avg),
      "initial value of the mean square v (TensorFlow: 1)", NULL },
    { "eps-inside", ALIG_PARAM_BOOL, offsetof(alig_params_rmsprop, eps_inside),
      "TensorFlow form: lr*g/sqrt(v + eps), lr inside the momentum buffer", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_rmsprop *p = params;
    if (!(p->lr > 0.0) || !isfinite(p->lr)) return ALIG_EBADLR;
    if (!(p->alpha >= 0.0 && p->alpha < 1.0)) return ALIG_EBADBETAS;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    if (!(p->momentum >= 0.0 && p->momentum < 1.0)) return ALIG_EBADMOMENTUM;   /* NaN fails too */
    if (!(p->initial_square_avg >= 0.0) || !isfinite(p->initial_square_avg)) return ALIG_EBADACCUM;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    rmsprop_state *s = state;
    s->p = *(const alig_params_rmsprop *)params;
    s->n = n;
    size_t nbuf = 1 + (s->p.centered != 0) + (s->p.momentum > 0.0), es = alig_kernels_get(dtype)->elem_size;
    if (n > (size_t)-1 / (nbuf * es)) return ALIG_ENOMEM;
    s->bytes = nbuf * n * es;
    s->buf = calloc(1, s->bytes);
    return s->buf ? ALIG_SUCCESS : ALIG_ENOMEM;
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    rmsprop_state *s = state;
    memset(s->buf, 0, s->bytes);
    if (s->p.initial_square_avg != 0.0) k->fill(n, s->p.initial_square_avg, s->buf);   /* v comes first */
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    rmsprop_state *s = state;
    const alig_params_rmsprop *p = &s->p;
    const size_t stride = s->n * c->k->elem_size;
    char *v = s->buf, *next = v + stride, *gbar = NULL, *b = NULL;
    if (p->centered) { gbar = next; next += stride; }
    if (p->momentum > 0.0) b = next;
    c->step = c->step_unclipped = p->lr;
    c->xsq = c->k->rmsprop(c->n, c->x, c->g, v, gbar, b, p->lr, p->alpha, p->weight_decay, p->momentum, p->eps,
                             p->eps_inside);
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    rmsprop_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    rmsprop_state *s = state;
    if (max < 1) return 0;
    ptr[0] = s->buf;     /* v (, ḡ) (, b); no counter: the step does not depend on t */
    bytes[0] = s->bytes;
    return 1;
}

const alig_solver_type alig_type_rmsprop = {
    .name = "rmsprop",
    .summary = "RMSProp (PyTorch): v <- 0.99v + 0.01g^2 from v = 0, w <- w - lr g/(sqrt(v) + eps); "
               "optional centred v and momentum; Tieleman & Hinton 2012",
    .flags = 0,
    .params_size = sizeof(alig_params_rmsprop),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(rmsprop_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};

const alig_solver_type alig_type_rmsprop_tf = {
    .name = "rmsprop-tf",
    .summary = "RMSProp (TensorFlow 1.x): v <- v + (g^2 - v)(1 - 0.9) from v = 1, w <- w - lr g/sqrt(v + 1e-10) "
               "(eps inside the root); training_ops.cc ApplyRMSProp",
    .flags = 0,
    .params_size = sizeof(alig_params_rmsprop),
    .params_default = &defaults_tf,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(rmsprop_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
