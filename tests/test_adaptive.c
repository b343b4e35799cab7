/* test_adaptive.c - the adaptive methods of solvers/ (Adam, AdamW, AMSGrad, Yogi, AdaGrad,
 * RMSProp) against independent expectations, each through ALIG_F64 and ALIG_F32:
 *   - first steps derived by hand from the published rules (torch.optim documentation,
 *     docs/optimizers.md; Adam's first step is lr·d/(|d| + ε) whatever β, the legacy
 *     form's is lr·d/(|d| + ε/√(1 − β2)), ...);
 *   - several steps on a quadratic with a non-diagonal Hessian against a re-implementation
 *     written here in plain double loops in the textbook form (m̂ = m/(1 − β1^t),
 *     v̂ = v/(1 − β2^t), ...), with coupled and decoupled weight decay, AMSGrad (with a guard
 *     that its max really binds), the legacy ε, Yogi's two signs, AdaGrad's lr_decay and
 *     initial accumulator, centred RMSProp with momentum;
 *   - every invalid parameter: its own status, nothing allocated; boundary values accepted;
 *   - a non-finite gradient leaves iterate and state untouched; set() resets the state;
 *   - checkpoints: an interrupted run resumed from an exported state continues bit for bit;
 *   - the kernels' two paths: elements updated by the parallel loop (n ≥ ALIG_KERNEL_PAR_MIN)
 *     equal those of the serial loop, for every new kernel and the four hoisted SGD momentum
 *     loops; the serial ‖x‖² is the sum in index order (as the kernels computed it before the
 *     serial path stopped entering OpenMP regions). */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/alig.h"
#include "solvers/kernels.h"   /* ALIG_KERNEL_PAR_MIN */

static const alig_dtype dtypes[2] = { ALIG_F64, ALIG_F32 };
static const char *dtype_name(alig_dtype dt) { return dt == ALIG_F64 ? "f64" : "f32"; }
static size_t esize(alig_dtype dt) { return dt == ALIG_F64 ? sizeof(double) : sizeof(float); }

/* element i of a vector of type dt, as double, and back */
static double get(alig_dtype dt, const void *p, size_t i)
{
    return dt == ALIG_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}
static void put(alig_dtype dt, void *p, size_t i, double v)
{
    if (dt == ALIG_F64) ((double *)p)[i] = v;
    else ((float *)p)[i] = (float)v;
}

static int close_to(double a, double e, double rtol, double atol) { return fabs(a - e) <= rtol * fabs(e) + atol; }
#define CHECK_CLOSE(a, e, rtol, atol, ...) do {                                              \
        double a_ = (a), e_ = (e);                                                           \
        if (!close_to(a_, e_, (rtol), (atol))) {                                             \
            printf("\n    mismatch: ");                                                      \
            printf(__VA_ARGS__);                                                             \
            printf(": got %.17g, want %.17g (diff %.3g)\n", a_, e_, fabs(a_ - e_));         \
        }                                                                                    \
        CU_ASSERT(close_to(a_, e_, (rtol), (atol)));                                         \
    } while (0)

/* ------------------------------------------------------------------ methods and parameters */

typedef enum { M_ADAM, M_ADAMW, M_AMSGRAD, M_YOGI, M_ADAGRAD, M_RMSPROP } method;

/* One configuration: the type and a params struct of that type. */
typedef struct {
    const char *what;
    method m;
    union {
        alig_params_adam adam;      /* adam, adamw, amsgrad */
        alig_params_yogi yogi;
        alig_params_adagrad adagrad;
        alig_params_rmsprop rmsprop;
    } p;
} config;

static const alig_solver_type *type_of(method m)
{
    switch (m) {
    case M_ADAM: return alig_solver_adam;
    case M_ADAMW: return alig_solver_adamw;
    case M_AMSGRAD: return alig_solver_amsgrad;
    case M_YOGI: return alig_solver_yogi;
    case M_ADAGRAD: return alig_solver_adagrad;
    case M_RMSPROP: return alig_solver_rmsprop;
    }
    return NULL;
}

static alig_solver *make(const config *c, alig_dtype dt, size_t n)
{
    alig_solver *s = NULL;
    alig_status rc = alig_solver_alloc(&s, type_of(c->m), dt, n, &c->p);
    if (rc) printf("\n    %s: alloc failed: %s\n", c->what, alig_status_name(rc));
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    return s;
}

/* ------------------------------------------------------------------ reference (plain double) */

/* State of the reference: first and second moments, AMSGrad's max / RMSProp's mean gradient,
 * RMSProp's momentum buffer, step count; plus counters showing which branches were exercised. */
typedef struct {
    size_t n;
    double *m, *v, *u, *b;
    int t;
    size_t ams_binds, yogi_up, yogi_down;
} ref_state;

static void ref_init(ref_state *r, const config *c, size_t n)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->m = calloc(n, sizeof(double));
    r->v = calloc(n, sizeof(double));
    r->u = calloc(n, sizeof(double));
    r->b = calloc(n, sizeof(double));
    CU_ASSERT_FATAL(r->m && r->v && r->u && r->b);
    for (size_t i = 0; i < n; i++) {
        if (c->m == M_YOGI) r->v[i] = c->p.yogi.v0;
        if (c->m == M_ADAGRAD) r->v[i] = c->p.adagrad.initial_accumulator;
    }
}

static void ref_free(ref_state *r)
{
    free(r->m); free(r->v); free(r->u); free(r->b);
}

static double sgn(double x) { return (x > 0) - (x < 0); }

/* One step of the method (torch.optim conventions, docs/optimizers.md) from gradient g at w (in place). */
static void ref_step(const config *c, ref_state *r, double *w, const double *g)
{
    r->t++;
    const double t = r->t;
    for (size_t i = 0; i < r->n; i++) {
        switch (c->m) {
        case M_ADAM: case M_ADAMW: case M_AMSGRAD: {
            const alig_params_adam *p = &c->p.adam;
            double d = g[i];
            if (c->m == M_ADAMW) w[i] = w[i] * (1.0 - p->lr * p->weight_decay);   /* decoupled, first */
            else d += p->weight_decay * w[i];                                       /* coupled */
            r->m[i] = p->beta1 * r->m[i] + (1.0 - p->beta1) * d;
            r->v[i] = p->beta2 * r->v[i] + (1.0 - p->beta2) * d * d;
            double use = r->v[i];
            if (p->amsgrad) {
                if (r->u[i] > r->v[i]) r->ams_binds++;
                r->u[i] = fmax(r->u[i], r->v[i]);
                use = r->u[i];
            }
            const double bc1 = 1.0 - pow(p->beta1, t), bc2 = 1.0 - pow(p->beta2, t);
            if (p->legacy_eps)
                w[i] -= p->lr * sqrt(bc2) / bc1 * r->m[i] / (sqrt(use) + p->eps);
            else
                w[i] -= p->lr * (r->m[i] / bc1) / (sqrt(use / bc2) + p->eps);
            break;
        }
        case M_YOGI: {
            const alig_params_yogi *p = &c->p.yogi;
            double d = g[i] + p->weight_decay * w[i];
            r->m[i] = p->beta1 * r->m[i] + (1.0 - p->beta1) * d;
            double s = sgn(r->v[i] - d * d);
            r->yogi_down += s > 0;
            r->yogi_up += s < 0;
            r->v[i] -= (1.0 - p->beta2) * s * d * d;
            const double bc1 = 1.0 - pow(p->beta1, t), bc2 = 1.0 - pow(p->beta2, t);
            if (p->legacy_eps)
                w[i] -= p->lr * sqrt(bc2) / bc1 * r->m[i] / (sqrt(r->v[i]) + p->eps);
            else
                w[i] -= p->lr * (r->m[i] / bc1) / (sqrt(r->v[i] / bc2) + p->eps);
            break;
        }
        case M_ADAGRAD: {
            const alig_params_adagrad *p = &c->p.adagrad;
            double d = g[i] + p->weight_decay * w[i];
            r->v[i] += d * d;
            double lr_t = p->lr / (1.0 + (t - 1.0) * p->lr_decay);
            w[i] -= lr_t * d / (sqrt(r->v[i]) + p->eps);
            break;
        }
        case M_RMSPROP: {
            const alig_params_rmsprop *p = &c->p.rmsprop;
            double d = g[i] + p->weight_decay * w[i];
            r->v[i] = p->alpha * r->v[i] + (1.0 - p->alpha) * d * d;
            double var = r->v[i];
            if (p->centered) {
                r->u[i] = p->alpha * r->u[i] + (1.0 - p->alpha) * d;
                var -= r->u[i] * r->u[i];
            }
            double q = d / (sqrt(var) + p->eps);
            if (p->momentum > 0.0) {
                r->b[i] = p->momentum * r->b[i] + q;
                w[i] -= p->lr * r->b[i];
            } else {
                w[i] -= p->lr * q;
            }
            break;
        }
        }
    }
}

/* ------------------------------------------------------------------ the quadratic */

/* ℓ(w) = ½ wᵀHw with H = AAᵀ + I (symmetric positive definite, non-diagonal), n = QN. */
enum { QN = 5 };
static double H[QN][QN];

static void make_hessian(void)
{
    static const double A[QN][2] = { { 1.0, 0.5 }, { -0.5, 1.0 }, { 0.25, -1.0 }, { 0.75, 0.25 }, { -1.0, -0.5 } };
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QN; j++) H[i][j] = A[i][0] * A[j][0] + A[i][1] * A[j][1] + (i == j);
}

static double quad(const double *w, double *g)
{
    double l = 0.0;
    for (int i = 0; i < QN; i++) {
        g[i] = 0.0;
        for (int j = 0; j < QN; j++) g[i] += H[i][j] * w[j];
        l += 0.5 * w[i] * g[i];
    }
    return l;
}

static const double W0[QN] = { 1.0, -2.0, 1.5, 0.5, -1.0 };

/* ------------------------------------------------------------------ hand-derived first steps */

/* g = (0.5, −2, 3e-3) at w₀ = (1, −1, 2) (the gradient is given, not computed from w). */
static void first_step(const config *c, alig_dtype dt, const double *w1_expected, double step_expected)
{
    const double w0[3] = { 1.0, -1.0, 2.0 }, g0[3] = { 0.5, -2.0, 3e-3 };
    alig_solver *s = make(c, dt, 3);
    void *x = malloc(3 * esize(dt)), *g = malloc(3 * esize(dt));
    CU_ASSERT_FATAL(x && g);
    for (size_t i = 0; i < 3; i++) { put(dt, x, i, w0[i]); put(dt, g, i, g0[i]); }
    CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_step(s, 1.0, g) == ALIG_SUCCESS);
    const double rt = dt == ALIG_F64 ? 1e-14 : 2e-7, at = dt == ALIG_F64 ? 1e-15 : 2e-7;
    for (size_t i = 0; i < 3; i++)
        CHECK_CLOSE(get(dt, x, i), w1_expected[i], rt, at, "%s %s w1[%zu]", c->what, dtype_name(dt), i);
    CU_ASSERT(alig_solver_step_size(s) == step_expected);
    CU_ASSERT(alig_solver_step_size_unclipped(s) == step_expected);
    free(x);
    free(g);
    alig_solver_free(s);
}

static void test_first_steps(void)
{
    const double w0[3] = { 1.0, -1.0, 2.0 }, g0[3] = { 0.5, -2.0, 3e-3 };
    double e[3];
    for (int k = 0; k < 2; k++) {
        const alig_dtype dt = dtypes[k];
        /* Adam: m₁ = (1 − β1)d, v₁ = (1 − β2)d², so m̂ = d, √v̂ = |d|: w₁ = w₀ − lr·d/(|d| + ε) for any β. */
        config c = { "adam", M_ADAM, { .adam = ALIG_PARAMS_ADAM_DEFAULT } };
        c.p.adam.lr = 0.1; c.p.adam.eps = 1e-3; c.p.adam.beta1 = 0.8; c.p.adam.beta2 = 0.9;
        for (int i = 0; i < 3; i++) e[i] = w0[i] - 0.1 * g0[i] / (fabs(g0[i]) + 1e-3);
        first_step(&c, dt, e, 0.1);
        /* AMSGrad: v̂₁ = max(0, v₁) = v₁: the same first step. */
        c.m = M_AMSGRAD; c.what = "amsgrad"; c.p.adam.amsgrad = 1;
        first_step(&c, dt, e, 0.1);
        /* legacy: lr·√(1 − β2)/(1 − β1)·(1 − β1)d/(√(1 − β2)|d| + ε) = lr·d/(|d| + ε/√(1 − β2)) */
        c.m = M_ADAM; c.what = "adam legacy"; c.p.adam.amsgrad = 0; c.p.adam.legacy_eps = 1;
        for (int i = 0; i < 3; i++) e[i] = w0[i] - 0.1 * g0[i] / (fabs(g0[i]) + 1e-3 / sqrt(0.1));
        first_step(&c, dt, e, 0.1);
        /* coupled λ: d = g + λw₀ */
        c.what = "adam wd"; c.p.adam.legacy_eps = 0; c.p.adam.weight_decay = 0.5;
        for (int i = 0; i < 3; i++) {
            double d = g0[i] + 0.5 * w0[i];
            e[i] = w0[i] - 0.1 * d / (fabs(d) + 1e-3);
        }
        first_step(&c, dt, e, 0.1);
        /* AdamW: w₁ = w₀(1 − lr·λ) − lr·g/(|g| + ε) */
        c.m = M_ADAMW; c.what = "adamw";
        for (int i = 0; i < 3; i++) e[i] = w0[i] * (1.0 - 0.1 * 0.5) - 0.1 * g0[i] / (fabs(g0[i]) + 1e-3);
        first_step(&c, dt, e, 0.1);

        /* Yogi, v₀ = 0: v₁ = 0 − (1 − β2)·sign(0 − d²)·d² = (1 − β2)d², the legacy Adam step. */
        config y = { "yogi", M_YOGI, { .yogi = ALIG_PARAMS_YOGI_DEFAULT } };
        y.p.yogi.lr = 0.05; y.p.yogi.eps = 1e-3; y.p.yogi.beta2 = 0.9;
        for (int i = 0; i < 3; i++) e[i] = w0[i] - 0.05 * g0[i] / (fabs(g0[i]) + 1e-3 / sqrt(0.1));
        first_step(&y, dt, e, 0.05);
        /* Yogi, v₀ = 1 > d² for the 1st and 3rd elements: v₁ = 1 − (1 − β2)d² there, 1 + (1 − β2)d² for
         * the 2nd (d² = 4); w₁ = w₀ − lr·√(1 − β2)/(1 − β1)·(1 − β1)d/(√v₁ + ε) */
        y.what = "yogi v0=1"; y.p.yogi.v0 = 1.0;
        for (int i = 0; i < 3; i++) {
            double d2 = g0[i] * g0[i], v1 = d2 < 1.0 ? 1.0 - 0.1 * d2 : 1.0 + 0.1 * d2;
            e[i] = w0[i] - 0.05 * sqrt(0.1) * g0[i] / (sqrt(v1) + 1e-3);
        }
        first_step(&y, dt, e, 0.05);

        /* AdaGrad: S₁ = S₀ + d²: w₁ = w₀ − lr·d/(√(S₀ + d²) + ε); lr₁ = lr whatever lr_decay */
        config a = { "adagrad", M_ADAGRAD, { .adagrad = ALIG_PARAMS_ADAGRAD_DEFAULT } };
        a.p.adagrad.lr = 0.2; a.p.adagrad.initial_accumulator = 0.25; a.p.adagrad.lr_decay = 0.5;
        a.p.adagrad.eps = 1e-2;
        for (int i = 0; i < 3; i++) e[i] = w0[i] - 0.2 * g0[i] / (sqrt(0.25 + g0[i] * g0[i]) + 1e-2);
        first_step(&a, dt, e, 0.2);

        /* RMSProp: v₁ = (1 − α)d²: w₁ = w₀ − lr·d/(√(1 − α)|d| + ε); centered: ḡ₁ = (1 − α)d, so
         * v₁ − ḡ₁² = α(1 − α)d²; momentum: b₁ = 0 + q₁, the same first step. */
        config r = { "rmsprop", M_RMSPROP, { .rmsprop = ALIG_PARAMS_RMSPROP_DEFAULT } };
        r.p.rmsprop.lr = 0.01; r.p.rmsprop.alpha = 0.9; r.p.rmsprop.eps = 1e-4;
        for (int i = 0; i < 3; i++) e[i] = w0[i] - 0.01 * g0[i] / (sqrt(0.1) * fabs(g0[i]) + 1e-4);
        first_step(&r, dt, e, 0.01);
        r.what = "rmsprop centered momentum"; r.p.rmsprop.centered = 1; r.p.rmsprop.momentum = 0.9;
        for (int i = 0; i < 3; i++) e[i] = w0[i] - 0.01 * g0[i] / (sqrt(0.9 * 0.1) * fabs(g0[i]) + 1e-4);
        first_step(&r, dt, e, 0.01);
    }
}

/* AdaGrad's second step uses lr/(1 + lr_decay) and S₂ = S₁ + d₂², by hand on one element. */
static void test_adagrad_second_step(void)
{
    for (int k = 0; k < 2; k++) {
        const alig_dtype dt = dtypes[k];
        config a = { "adagrad", M_ADAGRAD, { .adagrad = ALIG_PARAMS_ADAGRAD_DEFAULT } };
        a.p.adagrad.lr = 0.5; a.p.adagrad.lr_decay = 1.0; a.p.adagrad.eps = 0.0;
        alig_solver *s = make(&a, dt, 1);
        double xv[1], gv[1];
        float xf[1], gf[1];
        void *x = dt == ALIG_F64 ? (void *)xv : (void *)xf, *g = dt == ALIG_F64 ? (void *)gv : (void *)gf;
        put(dt, x, 0, 3.0);
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        put(dt, g, 0, 4.0);
        CU_ASSERT_FATAL(alig_solver_step(s, 1.0, g) == ALIG_SUCCESS);    /* 3 − 0.5·4/4 = 2.5 */
        CU_ASSERT(get(dt, x, 0) == 2.5);
        put(dt, g, 0, 3.0);
        CU_ASSERT_FATAL(alig_solver_step(s, 1.0, g) == ALIG_SUCCESS);    /* 2.5 − 0.25·3/√25 = 2.35 */
        CHECK_CLOSE(get(dt, x, 0), 2.35, dt == ALIG_F64 ? 1e-15 : 1e-7, 0, "adagrad step 2 %s", dtype_name(dt));
        CU_ASSERT(alig_solver_step_size(s) == 0.25);
        alig_solver_free(s);
    }
}

/* ------------------------------------------------------------------ several steps vs reference */

enum { STEPS = 8 };

static config cmp_cases[20];
static size_t n_cmp;

static void add_case(config c) { cmp_cases[n_cmp++] = c; }

static void build_cases(void)
{
    n_cmp = 0;
    config c;
    c = (config){ "adam", M_ADAM, { .adam = ALIG_PARAMS_ADAM_DEFAULT } };
    c.p.adam.lr = 0.05;
    add_case(c);
    c.what = "adam wd 0.1 legacy"; c.p.adam.weight_decay = 0.1; c.p.adam.legacy_eps = 1; c.p.adam.eps = 1e-2;
    add_case(c);
    c = (config){ "adam amsgrad wd beta2 0.5", M_ADAM, { .adam = ALIG_PARAMS_ADAM_DEFAULT } };
    c.p.adam.lr = 0.2; c.p.adam.beta2 = 0.5; c.p.adam.amsgrad = 1; c.p.adam.weight_decay = 0.05;
    add_case(c);
    c = (config){ "amsgrad beta2 0.5", M_AMSGRAD, { .adam = ALIG_PARAMS_AMSGRAD_DEFAULT } };
    c.p.adam.lr = 0.2; c.p.adam.beta2 = 0.5;
    add_case(c);
    c = (config){ "adamw", M_ADAMW, { .adam = ALIG_PARAMS_ADAMW_DEFAULT } };
    c.p.adam.lr = 0.05;
    add_case(c);
    c.what = "adamw wd 0.5 amsgrad legacy beta2 0.5"; c.p.adam.weight_decay = 0.5; c.p.adam.amsgrad = 1;
    c.p.adam.legacy_eps = 1; c.p.adam.beta2 = 0.5; c.p.adam.lr = 0.2;
    add_case(c);
    c = (config){ "yogi", M_YOGI, { .yogi = ALIG_PARAMS_YOGI_DEFAULT } };
    c.p.yogi.lr = 0.05;
    add_case(c);
    c = (config){ "yogi TF defaults", M_YOGI, { .yogi = ALIG_PARAMS_YOGI_DEFAULT } };
    c.p.yogi.lr = 1e-2; c.p.yogi.eps = 1e-3; c.p.yogi.v0 = 1e-6;
    add_case(c);
    c = (config){ "yogi v0 2 wd non-legacy beta2 0.8", M_YOGI, { .yogi = ALIG_PARAMS_YOGI_DEFAULT } };
    c.p.yogi.lr = 0.1; c.p.yogi.v0 = 2.0; c.p.yogi.weight_decay = 0.1; c.p.yogi.legacy_eps = 0; c.p.yogi.beta2 = 0.8;
    add_case(c);
    c = (config){ "adagrad", M_ADAGRAD, { .adagrad = ALIG_PARAMS_ADAGRAD_DEFAULT } };
    c.p.adagrad.lr = 0.1;
    add_case(c);
    c.what = "adagrad lr_decay wd acc0"; c.p.adagrad.lr_decay = 0.3; c.p.adagrad.weight_decay = 0.1;
    c.p.adagrad.initial_accumulator = 0.5;
    add_case(c);
    c = (config){ "rmsprop", M_RMSPROP, { .rmsprop = ALIG_PARAMS_RMSPROP_DEFAULT } };
    add_case(c);
    c.what = "rmsprop centered momentum wd"; c.p.rmsprop.centered = 1; c.p.rmsprop.momentum = 0.9;
    c.p.rmsprop.weight_decay = 0.05; c.p.rmsprop.alpha = 0.9;
    add_case(c);
    c.what = "rmsprop momentum"; c.p.rmsprop.centered = 0;
    add_case(c);
    c.what = "rmsprop centered"; c.p.rmsprop.centered = 1; c.p.rmsprop.momentum = 0.0;
    add_case(c);
}

/* Both trajectories start at W0 and each takes its own gradients: ℓ's Hessian couples the
 * coordinates, so an error in one element reaches the others. Double follows the reference to
 * ~1e-13; float to its unit roundoff times the few roundings per step and the mild feedback
 * (largest differences seen: 4e-16 in double, 4e-7 in float). */
static void run_cmp(const config *c, alig_dtype dt, size_t *ams_binds, size_t *yogi_up, size_t *yogi_down)
{
    alig_solver *s = make(c, dt, QN);
    void *x = malloc(QN * esize(dt)), *g = malloc(QN * esize(dt));
    CU_ASSERT_FATAL(x && g);
    double w[QN], wr[QN], gd[QN], gr[QN];
    for (size_t i = 0; i < QN; i++) { put(dt, x, i, W0[i]); wr[i] = W0[i]; }
    CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
    ref_state r;
    ref_init(&r, c, QN);
    const double rt = dt == ALIG_F64 ? 1e-13 : 4e-6, at = dt == ALIG_F64 ? 1e-14 : 1e-6;
    double moved = 0.0;
    for (int t = 0; t < STEPS; t++) {
        for (size_t i = 0; i < QN; i++) w[i] = get(dt, x, i);
        double loss = quad(w, gd);
        for (size_t i = 0; i < QN; i++) put(dt, g, i, gd[i]);
        CU_ASSERT_FATAL(alig_solver_step(s, loss, g) == ALIG_SUCCESS);
        quad(wr, gr);
        ref_step(c, &r, wr, gr);
        for (size_t i = 0; i < QN; i++) {
            CHECK_CLOSE(get(dt, x, i), wr[i], rt, at, "%s %s step %d w[%zu]", c->what, dtype_name(dt), t + 1, i);
            moved = fmax(moved, fabs(wr[i] - W0[i]));
        }
    }
    CU_ASSERT(alig_solver_iter(s) == STEPS);
    CU_ASSERT(moved > 1e-3);      /* the run went somewhere: not a comparison of two idle vectors */
    *ams_binds += r.ams_binds;
    *yogi_up += r.yogi_up;
    *yogi_down += r.yogi_down;
    ref_free(&r);
    free(x);
    free(g);
    alig_solver_free(s);
}

static void test_against_reference(void)
{
    build_cases();
    for (size_t k = 0; k < n_cmp; k++) {
        size_t binds = 0, up = 0, down = 0;
        for (int d = 0; d < 2; d++) run_cmp(&cmp_cases[k], dtypes[d], &binds, &up, &down);
        const config *c = &cmp_cases[k];
        /* non-triviality: AMSGrad's max bound somewhere; Yogi with v0 = 2 went down and up */
        if ((c->m == M_ADAM || c->m == M_AMSGRAD || c->m == M_ADAMW) && c->p.adam.amsgrad) {
            if (!binds) printf("\n    %s: the AMSGrad max never bound\n", c->what);
            CU_ASSERT(binds > 0);
        }
        if (c->m == M_YOGI && c->p.yogi.v0 > 1.0) {
            CU_ASSERT(up > 0);
            CU_ASSERT(down > 0);
        }
    }
}

/* ------------------------------------------------------------------ invalid parameters */

typedef struct { const char *what; method m; size_t offset; int is_int; double value; alig_status want; } bad_case;

#define ADAM_BAD(M, name)                                                                               \
    { name " lr 0", M, offsetof(alig_params_adam, lr), 0, 0.0, ALIG_EBADLR },                          \
    { name " lr -1", M, offsetof(alig_params_adam, lr), 0, -1.0, ALIG_EBADLR },                        \
    { name " lr nan", M, offsetof(alig_params_adam, lr), 0, NAN, ALIG_EBADLR },                        \
    { name " lr inf", M, offsetof(alig_params_adam, lr), 0, INFINITY, ALIG_EBADLR },                   \
    { name " beta1 1", M, offsetof(alig_params_adam, beta1), 0, 1.0, ALIG_EBADBETAS },                 \
    { name " beta1 -0.1", M, offsetof(alig_params_adam, beta1), 0, -0.1, ALIG_EBADBETAS },             \
    { name " beta1 nan", M, offsetof(alig_params_adam, beta1), 0, NAN, ALIG_EBADBETAS },               \
    { name " beta2 1", M, offsetof(alig_params_adam, beta2), 0, 1.0, ALIG_EBADBETAS },                 \
    { name " beta2 -1e-9", M, offsetof(alig_params_adam, beta2), 0, -1e-9, ALIG_EBADBETAS },           \
    { name " eps -1e-8", M, offsetof(alig_params_adam, eps), 0, -1e-8, ALIG_EBADEPS },                 \
    { name " eps inf", M, offsetof(alig_params_adam, eps), 0, INFINITY, ALIG_EBADEPS },                \
    { name " eps nan", M, offsetof(alig_params_adam, eps), 0, NAN, ALIG_EBADEPS },                     \
    { name " wd -1", M, offsetof(alig_params_adam, weight_decay), 0, -1.0, ALIG_EBADWEIGHTDECAY },     \
    { name " wd inf", M, offsetof(alig_params_adam, weight_decay), 0, INFINITY, ALIG_EBADWEIGHTDECAY }

static const bad_case bad_cases[] = {
    ADAM_BAD(M_ADAM, "adam"), ADAM_BAD(M_ADAMW, "adamw"), ADAM_BAD(M_AMSGRAD, "amsgrad"),
    { "yogi lr 0", M_YOGI, offsetof(alig_params_yogi, lr), 0, 0.0, ALIG_EBADLR },
    { "yogi beta1 1", M_YOGI, offsetof(alig_params_yogi, beta1), 0, 1.0, ALIG_EBADBETAS },
    { "yogi beta2 1.5", M_YOGI, offsetof(alig_params_yogi, beta2), 0, 1.5, ALIG_EBADBETAS },
    { "yogi eps -1", M_YOGI, offsetof(alig_params_yogi, eps), 0, -1.0, ALIG_EBADEPS },
    { "yogi v0 -1e-6", M_YOGI, offsetof(alig_params_yogi, v0), 0, -1e-6, ALIG_EBADACCUM },
    { "yogi v0 inf", M_YOGI, offsetof(alig_params_yogi, v0), 0, INFINITY, ALIG_EBADACCUM },
    { "yogi v0 nan", M_YOGI, offsetof(alig_params_yogi, v0), 0, NAN, ALIG_EBADACCUM },
    { "yogi wd -1", M_YOGI, offsetof(alig_params_yogi, weight_decay), 0, -1.0, ALIG_EBADWEIGHTDECAY },
    { "adagrad lr -1", M_ADAGRAD, offsetof(alig_params_adagrad, lr), 0, -1.0, ALIG_EBADLR },
    { "adagrad lr_decay -0.1", M_ADAGRAD, offsetof(alig_params_adagrad, lr_decay), 0, -0.1, ALIG_EBADDECAY },
    { "adagrad lr_decay inf", M_ADAGRAD, offsetof(alig_params_adagrad, lr_decay), 0, INFINITY, ALIG_EBADDECAY },
    { "adagrad wd nan", M_ADAGRAD, offsetof(alig_params_adagrad, weight_decay), 0, NAN, ALIG_EBADWEIGHTDECAY },
    { "adagrad acc -1", M_ADAGRAD, offsetof(alig_params_adagrad, initial_accumulator), 0, -1.0, ALIG_EBADACCUM },
    { "adagrad acc inf", M_ADAGRAD, offsetof(alig_params_adagrad, initial_accumulator), 0, INFINITY, ALIG_EBADACCUM },
    { "adagrad eps -1e-10", M_ADAGRAD, offsetof(alig_params_adagrad, eps), 0, -1e-10, ALIG_EBADEPS },
    { "rmsprop lr inf", M_RMSPROP, offsetof(alig_params_rmsprop, lr), 0, INFINITY, ALIG_EBADLR },
    { "rmsprop alpha 1", M_RMSPROP, offsetof(alig_params_rmsprop, alpha), 0, 1.0, ALIG_EBADBETAS },
    { "rmsprop alpha -0.5", M_RMSPROP, offsetof(alig_params_rmsprop, alpha), 0, -0.5, ALIG_EBADBETAS },
    { "rmsprop alpha nan", M_RMSPROP, offsetof(alig_params_rmsprop, alpha), 0, NAN, ALIG_EBADBETAS },
    { "rmsprop eps nan", M_RMSPROP, offsetof(alig_params_rmsprop, eps), 0, NAN, ALIG_EBADEPS },
    { "rmsprop wd -1", M_RMSPROP, offsetof(alig_params_rmsprop, weight_decay), 0, -1.0, ALIG_EBADWEIGHTDECAY },
    { "rmsprop momentum -0.9", M_RMSPROP, offsetof(alig_params_rmsprop, momentum), 0, -0.9, ALIG_EBADMOMENTUM },
    { "rmsprop momentum inf", M_RMSPROP, offsetof(alig_params_rmsprop, momentum), 0, INFINITY, ALIG_EBADMOMENTUM },
};

/* Boundary values that are valid. */
static const bad_case ok_cases[] = {
    { "adam beta1 0", M_ADAM, offsetof(alig_params_adam, beta1), 0, 0.0, ALIG_SUCCESS },
    { "adam beta2 0", M_ADAM, offsetof(alig_params_adam, beta2), 0, 0.0, ALIG_SUCCESS },
    { "adam eps 0", M_ADAM, offsetof(alig_params_adam, eps), 0, 0.0, ALIG_SUCCESS },
    { "adamw wd 0", M_ADAMW, offsetof(alig_params_adam, weight_decay), 0, 0.0, ALIG_SUCCESS },
    { "yogi v0 0", M_YOGI, offsetof(alig_params_yogi, v0), 0, 0.0, ALIG_SUCCESS },
    { "adagrad acc 0", M_ADAGRAD, offsetof(alig_params_adagrad, initial_accumulator), 0, 0.0, ALIG_SUCCESS },
    { "rmsprop alpha 0", M_RMSPROP, offsetof(alig_params_rmsprop, alpha), 0, 0.0, ALIG_SUCCESS },
};

typedef union { max_align_t align; unsigned char b[256]; } params_buf;

static void check_alloc(const bad_case *b)
{
    const alig_solver_type *type = type_of(b->m);
    params_buf buf;
    CU_ASSERT_FATAL(type->params_size <= sizeof buf.b);
    memcpy(buf.b, type->params_default, type->params_size);
    memcpy(buf.b + b->offset, &b->value, sizeof b->value);
    for (int d = 0; d < 2; d++) {
        alig_solver *s = (alig_solver *)&s;     /* non-NULL sentinel that alloc must clear */
        alig_status rc = alig_solver_alloc(&s, type, dtypes[d], 4, buf.b);
        if (rc != b->want) printf("\n    %s (%s): got %s, want %s\n", b->what, dtype_name(dtypes[d]),
                                  alig_status_name(rc), alig_status_name(b->want));
        CU_ASSERT(rc == b->want);
        CU_ASSERT(type->validate(buf.b) == b->want);
        if (rc) {
            CU_ASSERT(s == NULL);
        } else {
            alig_solver_free(s);
        }
    }
}

static void test_invalid_params(void)
{
    for (size_t k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) check_alloc(&bad_cases[k]);
    for (size_t k = 0; k < sizeof ok_cases / sizeof ok_cases[0]; k++) check_alloc(&ok_cases[k]);
    CU_ASSERT(strcmp(alig_status_name(ALIG_EBADACCUM), "ALIG_EBADACCUM") == 0);
    CU_ASSERT(strcmp(alig_strerror(ALIG_EBADACCUM), alig_strerror(9999)) != 0);
}

/* ------------------------------------------------------------------ registry and defaults */

static void test_registry_defaults(void)
{
    const char *names[] = { "adam", "adamw", "amsgrad", "yogi", "adagrad", "rmsprop" };
    for (int k = 0; k < 6; k++) {
        const alig_solver_type *t = alig_solver_type_find(names[k]);
        CU_ASSERT_FATAL(t != NULL);
        CU_ASSERT(t == type_of((method)k));
        CU_ASSERT(strcmp(t->name, names[k]) == 0);
        CU_ASSERT(t->validate(t->params_default) == ALIG_SUCCESS);
        CU_ASSERT((t->flags & ALIG_SOLVER_FULL_ORACLE) == 0);
        int listed = 0;
        for (size_t i = 0; alig_solver_types[i]; i++) listed += alig_solver_types[i] == t;
        CU_ASSERT(listed == 1);
    }
    /* the torch.optim defaults (Adam, AdamW, AMSGrad; docs/optimizers.md) */
    const alig_params_adam *a = alig_solver_adam->params_default, *aw = alig_solver_adamw->params_default,
                           *am = alig_solver_amsgrad->params_default;
    CU_ASSERT(a->lr == 1e-3 && a->beta1 == 0.9 && a->beta2 == 0.999 && a->eps == 1e-8 && a->weight_decay == 0.0);
    CU_ASSERT(!a->amsgrad && !a->legacy_eps);
    CU_ASSERT(aw->lr == 1e-3 && aw->weight_decay == 1e-2 && !aw->amsgrad);
    CU_ASSERT(am->lr == 1e-3 && am->amsgrad && am->weight_decay == 0.0);
    const alig_params_yogi *y = alig_solver_yogi->params_default;
    CU_ASSERT(y->lr == 1e-3 && y->eps == 1e-8 && y->v0 == 0.0 && y->legacy_eps && y->beta1 == 0.9 && y->beta2 == 0.999);
    const alig_params_adagrad *g = alig_solver_adagrad->params_default;
    CU_ASSERT(g->lr == 1e-2 && g->lr_decay == 0.0 && g->initial_accumulator == 0.0 && g->eps == 1e-10);
    const alig_params_rmsprop *r = alig_solver_rmsprop->params_default;
    CU_ASSERT(r->lr == 1e-2 && r->alpha == 0.99 && r->eps == 1e-8 && r->momentum == 0.0 && !r->centered);
    /* the CLI names: "eps" of each type, "amsgrad" settable as text */
    alig_params_adam p = ALIG_PARAMS_ADAM_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_adam, &p, "amsgrad", "true") == ALIG_SUCCESS && p.amsgrad == 1);
    CU_ASSERT(alig_params_set(alig_solver_adam, &p, "legacy-eps", "1") == ALIG_SUCCESS && p.legacy_eps == 1);
    CU_ASSERT(alig_params_set(alig_solver_adam, &p, "eps", "1e-6") == ALIG_SUCCESS && p.eps == 1e-6);
    alig_params_yogi py = ALIG_PARAMS_YOGI_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_yogi, &py, "v0", "1e-6") == ALIG_SUCCESS && py.v0 == 1e-6);
}

/* ------------------------------------------------------------------ non-finite input, reset */

static config every_config(int k)
{
    config c;
    switch (k) {
    case 0: c = (config){ "adam amsgrad", M_ADAM, { .adam = ALIG_PARAMS_ADAM_DEFAULT } }; c.p.adam.amsgrad = 1; break;
    case 1: c = (config){ "adamw legacy", M_ADAMW, { .adam = ALIG_PARAMS_ADAMW_DEFAULT } }; c.p.adam.legacy_eps = 1; break;
    case 2: c = (config){ "amsgrad", M_AMSGRAD, { .adam = ALIG_PARAMS_AMSGRAD_DEFAULT } }; c.p.adam.weight_decay = 0.1; break;
    case 3: c = (config){ "yogi v0", M_YOGI, { .yogi = ALIG_PARAMS_YOGI_DEFAULT } }; c.p.yogi.v0 = 0.3; break;
    case 4: c = (config){ "adagrad", M_ADAGRAD, { .adagrad = ALIG_PARAMS_ADAGRAD_DEFAULT } };
            c.p.adagrad.lr_decay = 0.1; c.p.adagrad.initial_accumulator = 0.2; break;
    default: c = (config){ "rmsprop", M_RMSPROP, { .rmsprop = ALIG_PARAMS_RMSPROP_DEFAULT } };
             c.p.rmsprop.centered = 1; c.p.rmsprop.momentum = 0.5; break;
    }
    return c;
}
enum { N_EVERY = 6 };

/* Run `steps` steps of c on the quadratic from W0 (after set) into x. */
static void run_quad(alig_solver *s, alig_dtype dt, void *x, void *g, int steps)
{
    double w[QN], gd[QN];
    for (int t = 0; t < steps; t++) {
        for (size_t i = 0; i < QN; i++) w[i] = get(dt, x, i);
        double loss = quad(w, gd);
        for (size_t i = 0; i < QN; i++) put(dt, g, i, gd[i]);
        CU_ASSERT_FATAL(alig_solver_step(s, loss, g) == ALIG_SUCCESS);
    }
}

static void test_nonfinite_and_reset(void)
{
    for (int k = 0; k < N_EVERY; k++)
        for (int d = 0; d < 2; d++) {
            const config c = every_config(k);
            const alig_dtype dt = dtypes[d];
            const size_t es = esize(dt);
            alig_solver *s = make(&c, dt, QN);
            double x[QN], g[QN], x1[QN];   /* QN elements of either type */
            for (size_t i = 0; i < QN; i++) put(dt, x, i, W0[i]);
            CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
            run_quad(s, dt, x, g, 3);
            /* a NaN or inf in g, or a non-finite loss: ALIG_ENONFINITE, iterate and state unchanged */
            size_t bytes = alig_solver_state_bytes(s);
            unsigned char *before = malloc(bytes), *after = malloc(bytes);
            CU_ASSERT_FATAL(before && after);
            CU_ASSERT_FATAL(alig_solver_state_export(s, before, bytes) == ALIG_SUCCESS);
            memcpy(x1, x, QN * es);
            const double bad[3] = { NAN, INFINITY, -INFINITY };
            for (int b = 0; b < 3; b++) {
                put(dt, g, 2, bad[b]);
                CU_ASSERT(alig_solver_step(s, 1.0, g) == ALIG_ENONFINITE);
                put(dt, g, 2, 0.5);
                CU_ASSERT(alig_solver_step(s, bad[b], g) == ALIG_ENONFINITE);
            }
            CU_ASSERT(memcmp(x, x1, QN * es) == 0);
            CU_ASSERT_FATAL(alig_solver_state_export(s, after, bytes) == ALIG_SUCCESS);
            CU_ASSERT(memcmp(before, after, bytes) == 0);
            CU_ASSERT(alig_solver_iter(s) == 3);
            /* set() resets counters and buffers (v0 / initial accumulator refilled): a second run
             * from W0 repeats the first bit for bit */
            for (size_t i = 0; i < QN; i++) put(dt, x, i, W0[i]);
            CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
            run_quad(s, dt, x, g, 3);
            CU_ASSERT(memcmp(x, x1, QN * es) == 0);
            free(before);
            free(after);
            alig_solver_free(s);
        }
}

/* ------------------------------------------------------------------ checkpoints */

static void check_resume(const config *c, alig_dtype dt)
{
    enum { A = 4, B = 5 };
    const size_t es = esize(dt);
    double full[QN], cut[QN], g[QN];   /* QN elements of either type */
    for (size_t i = 0; i < QN; i++) { put(dt, full, i, W0[i]); put(dt, cut, i, W0[i]); }
    alig_solver *s1 = make(c, dt, QN), *s2 = make(c, dt, QN), *s3 = make(c, dt, QN);
    CU_ASSERT_FATAL(alig_solver_set(s1, full, INFINITY) == ALIG_SUCCESS);
    run_quad(s1, dt, full, g, A + B);

    CU_ASSERT_FATAL(alig_solver_set(s2, cut, INFINITY) == ALIG_SUCCESS);
    run_quad(s2, dt, cut, g, A);
    size_t bytes = alig_solver_state_bytes(s2);
    unsigned char *buf = malloc(bytes);
    CU_ASSERT_FATAL(buf != NULL);
    CU_ASSERT(alig_solver_state_export(s2, buf, bytes - 1) == ALIG_EBADLEN);
    CU_ASSERT_FATAL(alig_solver_state_export(s2, buf, bytes) == ALIG_SUCCESS);
    alig_solver_free(s2);

    CU_ASSERT_FATAL(alig_solver_set(s3, cut, INFINITY) == ALIG_SUCCESS);   /* a fresh solver after a restart */
    CU_ASSERT_FATAL(alig_solver_state_import(s3, buf, bytes) == ALIG_SUCCESS);
    CU_ASSERT(alig_solver_iter(s3) == A);
    run_quad(s3, dt, cut, g, B);
    if (memcmp(full, cut, QN * es) != 0) printf("\n    %s %s: resumed run differs\n", c->what, dtype_name(dt));
    CU_ASSERT(memcmp(full, cut, QN * es) == 0);
    CU_ASSERT(alig_solver_step_size(s1) == alig_solver_step_size(s3));
    CU_ASSERT(alig_solver_state_import(s3, buf, bytes - 1) == ALIG_EFORMAT);
    free(buf);
    alig_solver_free(s1);
    alig_solver_free(s3);
}

static void test_resume(void)
{
    for (int k = 0; k < N_EVERY; k++)
        for (int d = 0; d < 2; d++) {
            config c = every_config(k);
            check_resume(&c, dtypes[d]);
        }
    /* the step counter matters: without it Adam's bias corrections (and AdaGrad's lr_t) restart */
    config a = { "adam", M_ADAM, { .adam = ALIG_PARAMS_ADAM_DEFAULT } };
    check_resume(&a, ALIG_F64);
}

/* A state is refused by a solver of another type or with other buffers. */
static void test_resume_refused(void)
{
    config adam = { "adam", M_ADAM, { .adam = ALIG_PARAMS_ADAM_DEFAULT } };
    config ams = { "amsgrad", M_AMSGRAD, { .adam = ALIG_PARAMS_AMSGRAD_DEFAULT } };
    config adam_ams = adam;
    adam_ams.p.adam.amsgrad = 1;
    config rms = { "rmsprop", M_RMSPROP, { .rmsprop = ALIG_PARAMS_RMSPROP_DEFAULT } };
    config rms_c = rms;
    rms_c.p.rmsprop.centered = 1;
    double x[QN];
    memcpy(x, W0, sizeof x);
    alig_solver *a = make(&adam, ALIG_F64, QN), *b = make(&ams, ALIG_F64, QN), *c = make(&adam_ams, ALIG_F64, QN),
                *d = make(&rms, ALIG_F64, QN), *e = make(&rms_c, ALIG_F64, QN), *f = make(&adam, ALIG_F32, QN);
    alig_solver_set(c, x, INFINITY);
    alig_solver_set(d, x, INFINITY);
    size_t bytes = alig_solver_state_bytes(c), bytes_d = alig_solver_state_bytes(d);
    unsigned char *buf = malloc(bytes), *buf_d = malloc(bytes_d);
    CU_ASSERT_FATAL(buf && buf_d);
    CU_ASSERT(alig_solver_state_export(c, buf, bytes) == ALIG_SUCCESS);
    CU_ASSERT(alig_solver_state_export(d, buf_d, bytes_d) == ALIG_SUCCESS);
    CU_ASSERT(alig_solver_state_import(b, buf, bytes) == ALIG_EFORMAT);      /* adam state, amsgrad type */
    CU_ASSERT(alig_solver_state_import(a, buf, bytes) == ALIG_EFORMAT);      /* v̂ present, not expected */
    CU_ASSERT(alig_solver_state_import(f, buf, bytes) == ALIG_EFORMAT);      /* other dtype */
    CU_ASSERT(alig_solver_state_import(e, buf_d, bytes_d) == ALIG_EFORMAT);  /* ḡ expected, absent */
    CU_ASSERT(alig_solver_state_import(c, buf, bytes) == ALIG_SUCCESS);
    free(buf);
    free(buf_d);
    alig_solver_free(a); alig_solver_free(b); alig_solver_free(c);
    alig_solver_free(d); alig_solver_free(e); alig_solver_free(f);
}

/* ------------------------------------------------------------------ centred RMSProp, constant gradient */

/* With a constant gradient d, v_t = (1 − α^t)d² and ḡ_t = (1 − α^t)d, so the centred second moment
 * is u_t = v_t − ḡ_t² = α^t(1 − α^t)d² (by hand): positive, but below the rounding error of v_t
 * after ~50 steps for α = 0.5 (~20 in float), where the computed difference can come out
 * negative. The kernel clamps it at 0, the exact-arithmetic limit (the step is then lr·d/ε); the
 * square root of the negative rounding (torch.optim.RMSprop) would give NaN. Checked: the first
 * 10 steps against the closed form (u_t still far above the rounding); all T steps succeed and
 * match a replay of the same operations in the element type with the clamp; the replay shows that
 * a negative difference did occur. */
static void test_rmsprop_centered_constant_gradient(void)
{
    enum { T = 80, T_EXACT = 10, N = 4 };
    const double alpha = 0.5, lr = 1e-4, eps = 1e-3, d[N] = { 0.3, -1.7, 0.05, 2.5 };
    for (int k = 0; k < 2; k++) {
        const alig_dtype dt = dtypes[k];
        alig_params_rmsprop p = ALIG_PARAMS_RMSPROP_DEFAULT;
        p.centered = 1;
        p.alpha = alpha;
        p.lr = lr;
        p.eps = eps;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_rmsprop, dt, N, &p) == ALIG_SUCCESS);
        double x[N], g[N];               /* N elements of either type */
        for (size_t i = 0; i < N; i++) { put(dt, x, i, 1.0); put(dt, g, i, d[i]); }
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        double expect[N] = { 1.0, 1.0, 1.0, 1.0 };
        size_t negative = 0;
        double vv[N] = { 0 }, gg[N] = { 0 }, wv[N] = { 1.0, 1.0, 1.0, 1.0 };
        float vf[N] = { 0 }, gf[N] = { 0 }, wf[N] = { 1.0f, 1.0f, 1.0f, 1.0f };
        for (int t = 1; t <= T; t++) {
            CU_ASSERT_FATAL(alig_solver_step(s, 1.0, g) == ALIG_SUCCESS);
            const double at = pow(alpha, t);
            for (size_t i = 0; i < N; i++) {
                const double di = get(dt, g, i);
                expect[i] -= lr * di / (sqrt(at * (1.0 - at) * di * di) + eps);
                if (dt == ALIG_F64) {            /* replay in double */
                    vv[i] = alpha * vv[i] + (1.0 - alpha) * (di * di);
                    gg[i] = alpha * gg[i] + (1.0 - alpha) * di;
                    double u = vv[i] - gg[i] * gg[i];
                    negative += u < 0.0;
                    wv[i] -= lr * (di / (sqrt(u < 0.0 ? 0.0 : u) + eps));
                } else {                         /* replay in float */
                    const float df = (float)di, af = (float)alpha, omf = (float)(1.0 - alpha);
                    vf[i] = af * vf[i] + omf * (df * df);
                    gf[i] = af * gf[i] + omf * df;
                    float u = vf[i] - gf[i] * gf[i];
                    negative += u < 0.0f;
                    wf[i] -= (float)lr * (df / (sqrtf(u < 0.0f ? 0.0f : u) + (float)eps));
                }
            }
            if (t == T_EXACT)
                for (size_t i = 0; i < N; i++)
                    CHECK_CLOSE(get(dt, x, i), expect[i], dt == ALIG_F64 ? 1e-12 : 1e-5, 0,
                                "rmsprop centred constant d %s step %d w[%zu]", dtype_name(dt), t, i);
        }
        for (size_t i = 0; i < N; i++) {
            const double w = get(dt, x, i), replay = dt == ALIG_F64 ? wv[i] : (double)wf[i];
            CU_ASSERT(isfinite(w));
            CHECK_CLOSE(w, replay, dt == ALIG_F64 ? 1e-12 : 1e-5, 0, "rmsprop centred replay %s w[%zu]", dtype_name(dt), i);
        }
        if (!negative) printf("\n    %s: v - gbar^2 never rounded below 0\n", dtype_name(dt));
        CU_ASSERT(negative > 0);
        alig_solver_free(s);
    }
}

/* ------------------------------------------------------------------ kernel paths */

/* Every update here is element-wise (no global quantity enters), so element i after a few steps
 * depends only on element i's data: a vector of ALIG_KERNEL_PAR_MIN + K elements (parallel
 * loop) must give its first K elements exactly as a vector of K elements (serial loop). The
 * gradient is g_i = h_i·w_i with h_i varying, three steps. */
enum { K = 37 };

static void run_diag(alig_solver *s, alig_dtype dt, void *x, void *g, size_t n, int steps)
{
    for (size_t i = 0; i < n; i++) put(dt, x, i, 1.0 - 0.013 * (double)(i % 97));
    CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
    for (int t = 0; t < steps; t++) {
        /* shrinking gradients: with β2 = 0.5, v decreases from step 2 on and AMSGrad's max binds */
        const double shrink = 1.0 / ((1.0 + t) * (1.0 + t));
        for (size_t i = 0; i < n; i++) put(dt, g, i, (0.5 + 0.1 * (double)(i % 11)) * get(dt, x, i) * shrink + 0.01);
        CU_ASSERT_FATAL(alig_solver_step(s, 1.0, g) == ALIG_SUCCESS);
    }
}

static int paths_agree(const alig_solver_type *type, const void *params, alig_dtype dt, const char *what)
{
    const size_t big = ALIG_KERNEL_PAR_MIN + K, es = esize(dt);
    void *xs = malloc(K * es), *gs = malloc(K * es), *xb = malloc(big * es), *gb = malloc(big * es);
    CU_ASSERT_FATAL(xs && gs && xb && gb);
    alig_solver *ss = NULL, *sb = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&ss, type, dt, K, params) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_alloc(&sb, type, dt, big, params) == ALIG_SUCCESS);
    run_diag(ss, dt, xs, gs, K, 3);
    run_diag(sb, dt, xb, gb, big, 3);
    /* Same operations in the same order per element; only a compiler contracting a*b + c into
     * an FMA differently in the two loops could move a result, by an ulp. */
    const double eps = dt == ALIG_F64 ? DBL_EPSILON : FLT_EPSILON;
    int ok = 1;
    for (size_t i = 0; i < K; i++) ok &= close_to(get(dt, xb, i), get(dt, xs, i), 2 * eps, 0.0);
    int moved = 0;
    for (size_t i = 0; i < K; i++) moved |= get(dt, xs, i) != 1.0 - 0.013 * (double)(i % 97);
    if (!ok) printf("\n    %s %s: serial and parallel kernel paths differ\n", what, dtype_name(dt));
    CU_ASSERT(moved);
    free(xs); free(gs); free(xb); free(gb);
    alig_solver_free(ss);
    alig_solver_free(sb);
    return ok;
}

/* The K-element run of `type` with `params`, into x (K elements of dt). */
static void run_small(const alig_solver_type *type, const void *params, alig_dtype dt, void *x)
{
    void *g = malloc(K * esize(dt));
    CU_ASSERT_FATAL(g != NULL);
    alig_solver *s = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&s, type, dt, K, params) == ALIG_SUCCESS);
    run_diag(s, dt, x, g, K, 3);
    alig_solver_free(s);
    free(g);
}

static void test_kernel_paths(void)
{
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < N_EVERY; k++) {
            config c = every_config(k);
            if (c.m == M_ADAM || c.m == M_ADAMW || c.m == M_AMSGRAD) c.p.adam.beta2 = 0.5;
            CU_ASSERT(paths_agree(type_of(c.m), &c.p, dtypes[d], c.what));
        }
        config c = every_config(0);        /* adam with amsgrad, β2 = 0.5 ... */
        c.p.adam.beta2 = 0.5;
        config c0 = c;                     /* ... and without */
        c0.p.adam.amsgrad = 0;
        CU_ASSERT(paths_agree(alig_solver_adam, &c0.p, dtypes[d], "adam"));
        /* non-triviality: the max bound in these runs, so the AMSGrad loops were told apart */
        double xa[K], xb[K];
        run_small(alig_solver_adam, &c.p, dtypes[d], xa);
        run_small(alig_solver_adam, &c0.p, dtypes[d], xb);
        CU_ASSERT(memcmp(xa, xb, K * esize(dtypes[d])) != 0);
        for (int cen = 0; cen < 2; cen++)
            for (int mom = 0; mom < 2; mom++) {
                alig_params_rmsprop r = ALIG_PARAMS_RMSPROP_DEFAULT;
                r.centered = cen;
                r.momentum = mom ? 0.9 : 0.0;
                CU_ASSERT(paths_agree(alig_solver_rmsprop, &r, dtypes[d], "rmsprop variant"));
            }
        /* the four hoisted SGD momentum loops (first step / later, Nesterov or not) and no momentum */
        for (int v = 0; v < 3; v++) {
            alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
            p.lr = 0.05;
            p.weight_decay = 0.01;
            p.momentum = v ? 0.9 : 0.0;
            p.nesterov = v == 2;
            p.dampening = v == 1 ? 0.2 : 0.0;
            CU_ASSERT(paths_agree(alig_solver_sgd, &p, dtypes[d], "sgd"));
        }
    }
}

/* The serial path sums ‖x‖² in index order, exactly as the kernels did before they stopped
 * entering OpenMP regions for small n (there, `if (false)` on `parallel for simd` also turned
 * off SIMD). Keeps ALI-G's γ = ℓ/(‖g‖² + δ) bit-identical on small problems. */
#ifdef _OPENMP
static void test_serial_sum_order(void)
{
    const size_t ns[] = { 1, 2, 3, 7, 16, 101, 1000, ALIG_KERNEL_PAR_MIN - 1 };
    double *x = malloc(ALIG_KERNEL_PAR_MIN * sizeof *x);
    float *xf = malloc(ALIG_KERNEL_PAR_MIN * sizeof *xf);
    CU_ASSERT_FATAL(x && xf);
    unsigned long long st = 0x9e3779b97f4a7c15ull;     /* xorshift64: values of mixed magnitude */
    for (size_t i = 0; i < ALIG_KERNEL_PAR_MIN; i++) {
        st ^= st << 13; st ^= st >> 7; st ^= st << 17;
        x[i] = ((double)(st >> 11) / 9007199254740992.0 - 0.5) * (i % 3 ? 1.0 : 1e3);
        xf[i] = (float)x[i];
    }
    int order_matters = 0;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        const size_t n = ns[k];
        double seq = 0.0, seqf = 0.0, pair = 0.0, pair2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            seq += x[i] * x[i];
            seqf += (double)xf[i] * (double)xf[i];
            if (i % 2) pair2 += x[i] * x[i]; else pair += x[i] * x[i];
        }
        order_matters |= seq != pair + pair2;    /* a two-lane sum would be told apart */
        CU_ASSERT(alig_vec_sumsq(ALIG_F64, n, x) == seq);
        CU_ASSERT(alig_vec_sumsq(ALIG_F32, n, xf) == seqf);
    }
    CU_ASSERT(order_matters);
    free(x);
    free(xf);
}
#endif

int main(void)
{
    make_hessian();
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("adaptive", NULL, NULL);
    CU_add_test(s, "first steps by hand (Adam, legacy, AMSGrad, AdamW, Yogi, AdaGrad, RMSProp)", test_first_steps);
    CU_add_test(s, "AdaGrad second step with lr_decay by hand", test_adagrad_second_step);
    CU_add_test(s, "8 steps on a quadratic vs plain-double reference, f64 and f32", test_against_reference);
    CU_add_test(s, "invalid parameters: own status; boundary values accepted", test_invalid_params);
    CU_add_test(s, "registry and published defaults", test_registry_defaults);
    CU_add_test(s, "non-finite gradient or loss: nothing changes; set() resets", test_nonfinite_and_reset);
    CU_add_test(s, "checkpoint resume is bit-identical", test_resume);
    CU_add_test(s, "checkpoint of another type or layout refused", test_resume_refused);
    CU_add_test(s, "centred RMSProp, constant gradient: v - gbar^2 clamped at 0", test_rmsprop_centered_constant_gradient);
    CU_add_test(s, "serial and parallel kernel paths agree (adaptive kernels, hoisted SGD)", test_kernel_paths);
#ifdef _OPENMP   /* without OpenMP every loop is an `omp simd` loop, as it always was */
    CU_add_test(s, "serial path sums in index order", test_serial_sum_order);
#endif
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
