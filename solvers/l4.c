/* l4.c - L4 step-size adaptation (Rolínek & Martius, "L4: Practical loss-based stepsize adaptation
 * for deep learning", NeurIPS 2018, arXiv 1802.05074; TensorFlow code github.com/martius-lab/l4-optimizer
 * L4/L4.py) with the Adam direction (`l4adam`) or the momentum direction (`l4mom`).
 *
 * L4 linearises the loss along a direction v and takes the fraction α of the step that would bring the
 * loss down to γ times the lowest loss seen so far. One step, with s = 0, 1, ... the steps taken since
 * alig_solver_set, J the mini-batch loss and g its gradient:
 *
 *   1. L_min ← γ0·J at s = 0, else min(L_min, J)
 *   2. m ← m − (m − g)(1 − β_g);  ĝ = m/c_g,  c_g = 1 − β_g^(s+1)          β_g = 1 − 1/T_g
 *      l4adam: q ← q − (q − g²)(1 − β_v);  v = ĝ/(√(q/c_v) + ε_a),  c_v = 1 − β_v^(s+1)
 *      l4mom:  v = ĝ
 *   3. η = α·(J − γ·L_min)/(⟨v, ĝ⟩ + ε)
 *   4. w ← w − η·v, then w ← Π_Ω(w) (solver.c)
 *   5. L_min ← (1 + 1/τ)·L_min
 *
 * Order of operations. TensorFlow runs the graph of L4.py as a set of ops, and in the original
 * martius-lab code the forgetting multiply of step 5 has no dependency on the η of step 3, so
 * which L_min η sees is a race. The lberrada/l4-optimizer fork ("fixed assign bug") makes the
 * multiply wait for the scaled directions, so η always uses the L_min of step 1, before forgetting;
 * that fork ran the ALI-G paper's DNC experiment, and this file follows it.
 *
 * Moving averages. TensorFlow's ExponentialMovingAverage of a tensor starts its shadow at 0 and is not
 * debiased (zero_debias is off); L4 divides by c_g and c_v itself. TensorFlow forms 1 − β from the
 * float32 β (1 − 0.9f = 0.10000002f), and the kernels do the same in the element type. The code keeps
 * two averages of g (one for ĝ, one inside the direction) whose values are identical; one buffer
 * serves both here.
 *
 * Precision. With ALIG_F32 the state (m, q, L_min) is float and every scalar is rounded to float after
 * each operation, as the float32 graph computes it: c = 1 − exp((s+1)·log β) with log β of the float β,
 * and η from float operands. Rounding a double result of +, −, ·, / or √ of floats to float gives the
 * float32 result exactly, so this reproduces float32 arithmetic; exp and log are the double functions
 * rounded once. The inner product ⟨v, ĝ⟩ accumulates in double (TensorFlow sums in float32).
 *
 * Failure modes. The wrapper refuses a non-finite loss or gradient before anything changes. A loss
 * below 0 is refused with ALIG_ENEGLOSS (L4 assumes 0 is a lower bound of the loss: with J < 0 the
 * numerator turns negative and the step would climb). If η comes out non-finite (ε = 0 with ⟨v, ĝ⟩ = 0,
 * ε_a = 0 on a coordinate whose gradient was always 0, or η beyond the float range) the step fails
 * with ALIG_ENONFINITE, again before the state or w change: the kernels first compute ⟨v, ĝ⟩ without
 * storing anything, then store the averages and move w with the same bits.
 *
 * η is not clipped: ⟨v, ĝ⟩ → 0 makes η large (at most α·J/ε), while v is then small. For J ≥ 0,
 * γ, γ0 ≤ 1, the numerator is ≥ (1 − γ)·J ≥ 0 because L_min ≤ J right after step 1. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "methods.h"

typedef struct {
    alig_params_l4 p;
    int adam;           /* 1: l4adam (q buffer, Adam direction); 0: l4mom */
    void *buf;          /* m, then q (l4adam): n elements each */
    size_t n, bytes;
    size_t s;           /* steps taken since set(): TensorFlow's global step */
    double lmin;        /* L_min, a value of the element type */
} l4_state;

static const alig_params_l4 defaults = ALIG_PARAMS_L4_DEFAULT;

#define L4_COMMON_DESC                                                                                              \
    { "alpha", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, alpha), "fraction alpha of the loss-based step", NULL },  \
    { "gamma", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, gamma), "aim at gamma * L_min (minloss factor)", NULL },    \
    { "gamma0", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, gamma0), "L_min starts at gamma0 * first loss", NULL },  \
    { "tau", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, tau), "forgetting time: L_min *= 1 + 1/tau per step", NULL }, \
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, eps), "epsilon added to <v, g_hat>", NULL },              \
    { "time-grad", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, time_grad),                                          \
      "time scale of the gradient average (decay 1 - 1/T)", NULL }

static const alig_param_desc desc_adam[] = {
    L4_COMMON_DESC,
    { "time-var", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, time_var),
      "time scale of the squared-gradient average", NULL },
    { "direction-eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_l4, direction_eps),
      "epsilon of the Adam direction, added to the root", NULL },
};
static const alig_param_desc desc_mom[] = { L4_COMMON_DESC };

static alig_status validate(const void *params)
{
    const alig_params_l4 *p = params;
    if (!(p->alpha > 0.0) || !isfinite(p->alpha)) return ALIG_EBADFRACTION;
    if (!(p->gamma >= 0.0 && p->gamma <= 1.0) || !(p->gamma0 >= 0.0 && p->gamma0 <= 1.0) || !(p->tau > 0.0))
        return ALIG_EBADMINLOSS;                                             /* NaN fails; tau = inf allowed */
    if (!(p->eps >= 0.0) || !isfinite(p->eps)) return ALIG_EBADEPS;
    if (!(p->direction_eps >= 0.0) || !isfinite(p->direction_eps)) return ALIG_EBADEPS;
    if (!(p->time_grad >= 1.0) || !isfinite(p->time_grad)) return ALIG_EBADTIMESCALE;
    if (!(p->time_var >= 1.0) || !isfinite(p->time_var)) return ALIG_EBADTIMESCALE;
    return ALIG_SUCCESS;
}

static alig_status state_alloc(void *state, const void *params, alig_dtype dtype, size_t n, int adam)
{
    l4_state *s = state;
    s->p = *(const alig_params_l4 *)params;
    s->adam = adam;
    s->n = n;
    size_t nbuf = adam ? 2 : 1, es = alig_kernels_get(dtype)->elem_size;
    if (n > (size_t)-1 / (nbuf * es)) return ALIG_ENOMEM;
    s->bytes = nbuf * n * es;
    s->buf = calloc(1, s->bytes);
    return s->buf ? ALIG_SUCCESS : ALIG_ENOMEM;
}

static alig_status alloc_adam(void *state, const void *params, alig_dtype dtype, size_t n)
{
    return state_alloc(state, params, dtype, n, 1);
}

static alig_status alloc_mom(void *state, const void *params, alig_dtype dtype, size_t n)
{
    return state_alloc(state, params, dtype, n, 0);
}

static void reset(void *state, size_t n, const alig_kernels *k)
{
    (void)n; (void)k;
    l4_state *s = state;
    memset(s->buf, 0, s->bytes);    /* the moving averages start at 0 */
    s->s = 0;
    s->lmin = 0.0;                  /* TensorFlow's min_loss variable starts at 0; step 1 overwrites it at s = 0 */
}

/* x rounded to the element type: the identity for double; for float, x as a float (±inf beyond
 * the float range, as a float32 operation overflows), back in a double. */
static double rnd(alig_dtype dt, double x)
{
    if (dt != ALIG_F32 || isnan(x)) return x;
    if (!(fabs(x) < 0x1.ffffffp+127)) return copysign(INFINITY, x);     /* past FLT_MAX + half an ulp */
    return (double)(float)x;
}

/* c = 1 − β^(s+1) as L4.py's time_factor forms it: 1 − exp((s+1)·log β), each value of the element type. */
static double correction(alig_dtype dt, double decay, size_t s)
{
    double lb = rnd(dt, log(rnd(dt, decay)));                   /* log(0) = −inf for T = 1: c = 1 */
    double e = rnd(dt, exp(rnd(dt, rnd(dt, (double)s + 1.0) * lb)));
    return rnd(dt, 1.0 - e);
}

static alig_status iterate(void *state, alig_step_ctx *c)
{
    l4_state *s = state;
    const alig_params_l4 *p = &s->p;
    const alig_dtype dt = c->dtype;
    if (c->loss < 0.0) return ALIG_ENEGLOSS;      /* the wrapper has refused NaN and ±inf */
    const double J = rnd(dt, c->loss);

    /* 1. minimum loss, before η */
    const double lmin = s->s == 0 ? rnd(dt, rnd(dt, p->gamma0) * J) : fmin(s->lmin, J);

    /* 2. direction and derivative estimate (computed, not stored yet) */
    const double decay_g = 1.0 - 1.0 / p->time_grad, decay_v = 1.0 - 1.0 / p->time_var;
    alig_l4_coef co = { .decay_g = decay_g, .decay_v = decay_v, .cg = correction(dt, decay_g, s->s),
                        .cv = s->adam ? correction(dt, decay_v, s->s) : 1.0, .aeps = p->direction_eps };
    void *m = s->buf, *q = s->adam ? (char *)s->buf + s->n * c->k->elem_size : NULL;
    const double dot = c->k->l4_dot(c->n, c->g, m, q, &co);

    /* 3. η = α·(J − γ·L_min)/(⟨v, ĝ⟩ + ε), operation by operation in the element type */
    const double num = rnd(dt, rnd(dt, p->alpha) * rnd(dt, J - rnd(dt, rnd(dt, p->gamma) * lmin)));
    const double den = rnd(dt, rnd(dt, dot) + rnd(dt, p->eps));
    const double eta = rnd(dt, num / den);
    if (!isfinite(eta)) return ALIG_ENONFINITE;   /* nothing stored yet */

    /* 4. store the averages and step; 5. forget */
    c->xsq = c->k->l4_step(c->n, c->x, c->g, m, q, &co, eta);
    c->step = c->step_unclipped = eta;
    s->lmin = rnd(dt, lmin * rnd(dt, 1.0 + 1.0 / p->tau));
    s->s++;
    return ALIG_SUCCESS;
}

static void state_free(void *state)
{
    l4_state *s = state;
    free(s->buf);
    s->buf = NULL;
}

static size_t state_blocks(void *state, void **ptr, size_t *bytes, size_t max)
{
    l4_state *s = state;
    if (max < 3) return 0;
    ptr[0] = &s->s;
    bytes[0] = sizeof s->s;
    ptr[1] = &s->lmin;
    bytes[1] = sizeof s->lmin;
    ptr[2] = s->buf;        /* m (, q) */
    bytes[2] = s->bytes;
    return 3;
}

const alig_solver_type alig_type_l4adam = {
    .name = "l4adam",
    .summary = "L4Adam: eta = alpha (J - 0.9 L_min)/(<v, g_hat> + 1e-12), v = Adam direction, w <- w - eta v; "
               "Rolinek & Martius 2018",
    .flags = 0,
    .params_size = sizeof(alig_params_l4),
    .params_default = &defaults,
    .params_desc = desc_adam,
    .n_params_desc = sizeof desc_adam / sizeof desc_adam[0],
    .state_size = sizeof(l4_state),
    .validate = validate,
    .alloc = alloc_adam,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};

const alig_solver_type alig_type_l4mom = {
    .name = "l4mom",
    .summary = "L4Mom: eta = alpha (J - 0.9 L_min)/(|g_hat|^2 + 1e-12), g_hat = debiased EMA of g, "
               "w <- w - eta g_hat; Rolinek & Martius 2018",
    .flags = 0,
    .params_size = sizeof(alig_params_l4),
    .params_default = &defaults,
    .params_desc = desc_mom,
    .n_params_desc = sizeof desc_mom / sizeof desc_mom[0],
    .state_size = sizeof(l4_state),
    .validate = validate,
    .alloc = alloc_mom,
    .reset = reset,
    .iterate = iterate,
    .free = state_free,
    .state_blocks = state_blocks,
};
