/* adam.c - Adam (Kingma & Ba, ICLR 2015) in the PyTorch convention (torch.optim.Adam;
 * docs/optimizers.md), and the state and step shared with AdamW (adamw.c) and AMSGrad
 * (amsgrad.c). With t = 1, 2, ... and every vector operation element-wise:
 *
 *   coupled decay (adam, amsgrad):   d = g + λw
 *   decoupled decay (adamw):         w ← w(1 − lr·λ) first, d = g
 *   m ← β1 m + (1 − β1)d;   v ← β2 v + (1 − β2)d²
 *   amsgrad: v̂ ← max(v̂, v) on the RAW v (torch.maximum(max_exp_avg_sq, exp_avg_sq)); u = v̂, else u = v
 *   w ← w − (lr/bc1)·m/(√u/√bc2 + ε),         bc1 = 1 − β1^t, bc2 = 1 − β2^t
 *   legacy_eps:  w ← w − lr·(√bc2/bc1)·m/(√u + ε)   (ali-g repo alig/th/adamw.py, PyTorch < 1.5)
 *   then w ← Π_Ω(w) (solver.c).
 *
 * The bias corrections and step factors are computed in double; the kernel rounds them once to
 * the element type. m is updated as β1 m + (1 − β1)d, the formula of the paper;
 * current PyTorch writes the same update as m.lerp_(d, 1 − β1), which rounds differently in the
 * last bit. No step is skipped on a zero gradient: m, v and t move on as in PyTorch. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

static const alig_params_adam defaults = ALIG_PARAMS_ADAM_DEFAULT;
static const alig_params_adam defaults_tf = ALIG_PARAMS_ADAM_TF_DEFAULT;
static const alig_param_desc desc[] = ALIG_ADAM_PARAM_DESC("coupled L2 weight decay lambda (added to the gradient)");

alig_status alig_adam_validate(const void *params)
{
    const alig_params_adam *p = params;
    if (!(p->lr > 0.0) || !isfinite(p->lr)) return ALIG_EBADLR;
    if (!(p->beta1 >= 0.0 && p->beta1 < 1.0) || !(p->beta2 >= 0.0 && p->beta2 < 1.0)) return ALIG_EBADBETAS;
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    return ALIG_SUCCESS;
}

alig_status alig_adam_alloc(void *state, const void *params, alig_dtype dtype, size_t n, int decoupled)
{
    alig_adam_state *s = state;
    s->p = *(const alig_params_adam *)params;
    s->decoupled = decoupled;
    s->n = n;
    size_t nbuf = s->p.amsgrad ? 3 : 2, es = alig_kernels_get(dtype)->elem_size;
    if (n > (size_t)-1 / (nbuf * es)) return ALIG_ENOMEM;
    s->bytes = nbuf * n * es;
    s->buf = calloc(1, s->bytes);
    return s->buf ? ALIG_SUCCESS : ALIG_ENOMEM;
}

void alig_adam_reset(void *state, size_t n, const alig_kernels *k)
{
    (void)n; (void)k;
    alig_adam_state *s = state;
    s->t = 0;
    memset(s->buf, 0, s->bytes);   /* m = v = v̂ = 0, as torch.zeros_like */
}

alig_status alig_adam_iterate(void *state, alig_step_ctx *c)
{
    alig_adam_state *s = state;
    const alig_params_adam *p = &s->p;
    s->t++;
    const double t = (double)s->t;
    const double bc1 = 1.0 - pow(p->beta1, t), bc2 = 1.0 - pow(p->beta2, t);
    alig_adam_coef co = { .beta1 = p->beta1, .beta2 = p->beta2, .eps = p->eps,
                          .l2 = s->decoupled ? 0.0 : p->weight_decay,
                          .keep = s->decoupled ? 1.0 - p->lr * p->weight_decay : 1.0 };
    if (p->legacy_eps) {
        co.step = p->lr * sqrt(bc2) / bc1;
        co.sbc2 = 1.0;
    } else {
        co.step = p->lr / bc1;
        co.sbc2 = sqrt(bc2);
    }
    const size_t es = c->k->elem_size;
    char *m = s->buf, *v = m + s->n * es, *vmax = p->amsgrad ? v + s->n * es : NULL;
    c->step = c->step_unclipped = p->lr;
    c->xsq = c->k->adam(c->n, c->x, c->g, m, v, vmax, &co);
    return ALIG_SUCCESS;
}

void alig_adam_free(void *state)
{
    alig_adam_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

size_t alig_adam_state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    alig_adam_state *s = state;
    if (max < 2) return 0;
    ptr[0] = &s->t;
    bytes[0] = sizeof s->t;
    ptr[1] = s->buf;         /* m, v (, v̂) */
    bytes[1] = s->bytes;
    return 2;
}

static alig_status adam_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    return alig_adam_alloc(state, params, dtype, n, 0);
}

const alig_solver_type alig_type_adam = {
    .name = "adam",
    .summary = "Adam (PyTorch): m/(sqrt(v_hat) + eps) with bias correction, coupled L2; Kingma & Ba 2015",
    .flags = 0,
    .params_size = sizeof(alig_params_adam),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(alig_adam_state),
    .validate = alig_adam_validate,
    .alloc = adam_alloc,
    .reset = alig_adam_reset,
    .iterate = alig_adam_iterate,
    .free = alig_adam_free,
    .state_blocks = alig_adam_state_blocks,
};

/* TensorFlow 1.x AdamOptimizer (training_ops.cc, ApplyAdam) computes
 *   α_t = lr·√(1 − β2^t)/(1 − β1^t),  w ← w − α_t·m/(√v + ε),  m, v from 0, t = 1, 2, ...,
 * which is the legacy_eps branch above term for term: co.step = lr·√bc2/bc1 and co.sbc2 = 1, so the
 * kernel's denominator is √v + ε. Only the floating-point order differs (TensorFlow writes
 * m ← m + (g − m)(1 − β1), keeps β^t as a running product and forms (m·α_t)/(√v + ε)). */
const alig_solver_type alig_type_adam_tf = {
    .name = "adam-tf",
    .summary = "Adam (TensorFlow 1.x): w <- w - lr sqrt(1-b2^t)/(1-b1^t) m/(sqrt(v) + eps), eps next to the raw "
               "sqrt(v) (eps-hat); = adam --legacy-eps 1; training_ops.cc ApplyAdam",
    .flags = 0,
    .params_size = sizeof(alig_params_adam),
    .params_default = &defaults_tf,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(alig_adam_state),
    .validate = alig_adam_validate,
    .alloc = adam_alloc,
    .reset = alig_adam_reset,
    .iterate = alig_adam_iterate,
    .free = alig_adam_free,
    .state_blocks = alig_adam_state_blocks,
};
