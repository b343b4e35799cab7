/* sgd.c - SGD in the PyTorch convention (torch.optim.SGD; docs/optimizers.md):
 *   d = g + λw;  μ > 0: b = d (first step) or μb + (1 − τ)d;  d = d + μb (Nesterov) or b;
 *   w ← Π_Ω(w − α_k d),
 * with α_k = α₀ (constant), α₀/√(k+1) (sqrt; k = 0, 1, ...) or α₀·factor^#{m ∈ milestones : m ≤ k}
 * (multistep; milestones are step counts, e.g. epochs × batches per epoch). The learning rate
 * multiplies outside the buffer, as in PyTorch. With reset_momentum, the first step at or after
 * each milestone starts the buffer afresh (b = d, as at k = 0): the WRN reference code re-creates
 * its optimiser state at every learning-rate drop, PyTorch's MultiStepLR does not.
 * plateau: α starts at α₀ and changes only at epoch ends (alig_solver_epoch_end with the validation
 * accuracy a; InferSent's SGD schedule, generalised by a patience): a new best (a > best, strictly)
 * resets the count of bad epochs, any other epoch adds one, and when the count reaches `patience` α is
 * multiplied by `factor` and the count restarts; then α is multiplied by `epoch_decay`. The current α,
 * the best accuracy and the count are state blocks, so a checkpoint resumes the schedule exactly.
 * Reported steps: clipped = unclipped = α_k.
 * TensorFlow 1.x: GradientDescentOptimizer is this rule with μ = 0; MomentumOptimizer(lr, μ) keeps
 * a ← μa + g from a = 0 and steps w ← w − lr·a (training_ops.cc, ApplyMomentum), which is this rule
 * with τ = 0 bit for bit (μ·0 + g = g), so `momentum-tf` is a row with μ = 0.9 and no sgd-tf row exists. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "methods.h"

typedef struct {
    double lr;          /* plateau: the current α */
    double best;        /* plateau: the best validation accuracy so far (−inf at the start) */
    uint64_t bad;       /* plateau: epochs since the last new best, or since the last drop */
} sgd_plateau;

typedef struct {
    alig_params_sgd p;
    void *buf;
    size_t bytes;
    size_t k;
    sgd_plateau pl;
} sgd_state;

static const alig_params_sgd defaults = ALIG_PARAMS_SGD_DEFAULT;
static const alig_params_sgd defaults_momentum_tf = ALIG_PARAMS_MOMENTUM_TF_DEFAULT;
static const char *const schedule_names[] = { "constant", "sqrt", "multistep", "plateau", NULL };

static const alig_param_desc desc[] = {
    { "lr", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, lr), "learning rate alpha_0", NULL },
    { "schedule", ALIG_PARAM_ENUM, offsetof(alig_params_sgd, schedule),
      "constant | sqrt (alpha_0/sqrt(k+1)) | multistep | plateau (epoch mode: reduce on a validation plateau)",
      schedule_names },
    { "milestones", ALIG_PARAM_LIST, offsetof(alig_params_sgd, milestones), "multistep: comma-separated step counts (epochs in alig train)", NULL },
    { "factor", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, factor),
      "multistep / plateau: factor applied at each milestone / plateau", NULL },
    { "momentum", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, momentum), "momentum mu", NULL },
    { "dampening", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, dampening), "dampening tau", NULL },
    { "nesterov", ALIG_PARAM_BOOL, offsetof(alig_params_sgd, nesterov), "Nesterov momentum", NULL },
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, weight_decay), "coupled L2 weight decay lambda", NULL },
    { "reset-momentum", ALIG_PARAM_BOOL, offsetof(alig_params_sgd, reset_momentum), "multistep: restart the momentum buffer at each milestone", NULL },
    { "patience", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, patience),
      "plateau: epochs without a better validation accuracy before the rate is multiplied by --factor", NULL },
    { "epoch-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_sgd, epoch_decay),
      "plateau: factor applied to the rate after every epoch", NULL },
};

static alig_status validate(const void *params)
{
    const alig_params_sgd *p = params;
    if (!(p->lr > 0.0) || !isfinite(p->lr)) return ALIG_EBADLR;
    if (p->schedule < ALIG_SCHEDULE_CONSTANT || p->schedule > ALIG_SCHEDULE_PLATEAU) return ALIG_EBADSCHEDULE;
    if (p->milestones.n > ALIG_LIST_MAX) return ALIG_EBADSCHEDULE;
    for (size_t i = 0; i < p->milestones.n; i++) {
        double m = p->milestones.v[i];
        if (!(m >= 0.0) || !isfinite(m) || (i > 0 && !(m > p->milestones.v[i - 1]))) return ALIG_EBADSCHEDULE;
    }
    if (!(p->factor > 0.0 && p->factor <= 1.0)) return ALIG_EBADDECAY;
    if (!(p->momentum >= 0.0 && p->momentum < 1.0)) return ALIG_EBADMOMENTUM;   /* NaN fails too */
    if (!(p->dampening >= 0.0 && p->dampening <= 1.0)) return ALIG_EBADDAMPENING;
    if (p->nesterov && (p->momentum <= 0.0 || p->dampening != 0.0)) return ALIG_EBADDAMPENING;
    if (!(p->weight_decay >= 0.0) || !isfinite(p->weight_decay)) return ALIG_EBADWEIGHTDECAY;
    /* 0 stands for 1 in both: a struct written before these fields existed keeps working */
    if (!(p->patience >= 0.0 && p->patience <= 1e15) || p->patience != floor(p->patience)) return ALIG_EBADPLATEAU;
    if (!(p->epoch_decay >= 0.0 && p->epoch_decay <= 1.0)) return ALIG_EBADPLATEAU;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    sgd_state *s = state;
    s->p = *(const alig_params_sgd *)params;
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
    sgd_state *s = state;
    s->k = 0;
    s->pl = (sgd_plateau){ .lr = s->p.lr, .best = -INFINITY, .bad = 0 };
    if (s->buf) memset(s->buf, 0, s->bytes);
}

/* α_k for step k = 0, 1, ... */
static double learning_rate(const alig_params_sgd *p, size_t k)
{
    switch (p->schedule) {
    case ALIG_SCHEDULE_SQRT:
        return p->lr / sqrt((double)k + 1.0);
    case ALIG_SCHEDULE_MULTISTEP: {
        double lr = p->lr;
        for (size_t i = 0; i < p->milestones.n; i++)
            if (p->milestones.v[i] <= (double)k) lr *= p->factor;
        return lr;
    }
    default:
        return p->lr;
    }
}

/* 1 when a milestone m has k − 1 < m <= k: α changes between steps k − 1 and k. */
static int milestone_at(const alig_params_sgd *p, size_t k)
{
    if (p->schedule != ALIG_SCHEDULE_MULTISTEP || k == 0) return 0;
    for (size_t i = 0; i < p->milestones.n; i++)
        if (p->milestones.v[i] <= (double)k && p->milestones.v[i] > (double)(k - 1)) return 1;
    return 0;
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    sgd_state *s = state;
    double lr = s->p.schedule == ALIG_SCHEDULE_PLATEAU ? s->pl.lr : learning_rate(&s->p, s->k);
    const int restart = s->k == 0 || (s->p.reset_momentum && milestone_at(&s->p, s->k));
    c->step = c->step_unclipped = lr;
    c->xsq = c->k->sgd(c->n, c->x, c->g, s->buf, lr, s->p.momentum, s->p.dampening, s->p.weight_decay,
                       s->p.nesterov, restart);
    s->k++;
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    sgd_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    sgd_state *s = state;
    if (max < 3) return 0;
    ptr[0] = &s->k;
    bytes[0] = sizeof s->k;
    ptr[1] = s->buf;
    bytes[1] = s->buf ? s->bytes : 0;
    ptr[2] = &s->pl;
    bytes[2] = sizeof s->pl;
    return 3;
}

static alig_status epoch_end(void *state, double metric)
{
    sgd_state *s = state;
    if (s->p.schedule != ALIG_SCHEDULE_PLATEAU) return ALIG_SUCCESS;
    if (isnan(metric)) return ALIG_EINVAL;          /* the plateau needs the validation accuracy */
    if (metric > s->pl.best) {
        s->pl.best = metric;
        s->pl.bad = 0;
    } else if ((double)++s->pl.bad >= (s->p.patience > 0.0 ? s->p.patience : 1.0)) {
        s->pl.lr *= s->p.factor;
        s->pl.bad = 0;
    }
    if (s->p.epoch_decay != 1.0 && s->p.epoch_decay != 0.0) s->pl.lr *= s->p.epoch_decay;
    return ALIG_SUCCESS;
}

const alig_solver_type alig_type_sgd = {
    .name = "sgd",
    .summary = "SGD (PyTorch convention): heavy-ball or Nesterov momentum, constant / sqrt / multistep schedule",
    .flags = 0,
    .params_size = sizeof(alig_params_sgd),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(sgd_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
    .epoch_end = epoch_end,
};

const alig_solver_type alig_type_momentum_tf = {
    .name = "momentum-tf",
    .summary = "heavy-ball momentum (TensorFlow 1.x MomentumOptimizer(lr, 0.9)): a <- 0.9a + g, w <- w - lr a; "
               "= sgd --momentum 0.9",
    .flags = 0,
    .params_size = sizeof(alig_params_sgd),
    .params_default = &defaults_momentum_tf,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(sgd_state),
    .validate = validate,
    .alloc = state_alloc,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
    .epoch_end = epoch_end,
};
