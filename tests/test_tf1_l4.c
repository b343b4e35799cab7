/* test_tf1_l4.c - the TensorFlow 1.x rows (rmsprop-tf, adam-tf, adagrad-tf, momentum-tf) and L4
 * (l4adam, l4mom), through ALIG_F64 and ALIG_F32, against expectations written here from the
 * published rules (TensorFlow's training_ops.cc kernels; Rolínek & Martius 2018 with the
 * lberrada/l4-optimizer order of operations), not from the kernels:
 *   - several steps on a quadratic, with a zero-gradient step inside, against a re-implementation in
 *     plain double loops in the textbook form (x ← βx + (1 − β)y moving averages, β^t by pow), fed the
 *     same losses and gradients as the solver;
 *   - first steps derived by hand (RMSProp-TF: lr·g/√(0.9 + 0.1g² + ε); Adam-TF: lr·g/(|g| + ε/√0.001);
 *     AdaGrad-TF: lr·g/√(0.1 + g²); L4Mom: η = α·0.325·J/(‖g‖² + ε); L4Adam: ⟨v, ĝ⟩ = Σ g²/(|g| + 1e-4)),
 *     each with a guard that the PyTorch form would have failed the check;
 *   - dense updates: a zero gradient still moves the slots (and w where a slot carries momentum);
 *   - L4: L_min = 0.75·J at s = 0; η uses L_min before the ×1.001 forgetting, the next step after it;
 *     the +1e-12 of the denominator (a zero gradient gives η = α·0.325·J/1e-12 and w does not move);
 *     a tiny ⟨v, ĝ⟩ gives a large finite η; NaN/inf loss or gradient → ALIG_ENONFINITE, a negative loss
 *     → ALIG_ENEGLOSS, a non-finite η (ε = 0 with a zero gradient) → ALIG_ENONFINITE, each with w
 *     and the state untouched; set() restarts the step count;
 *   - checkpoints: export after A steps, import into a fresh solver, B more steps = A + B steps, bit for bit;
 *   - parameters: momentum >= 1 or NaN refused for alig, sgd, rmsprop and the TF rows; each L4 field
 *     refused with its own status; strict text parsing (" 1", "0x10", "", "1 ", "1e999", ...);
 *   - the parallel kernel loops (n >= ALIG_KERNEL_PAR_MIN) give the serial loops' elements. */
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

/* ------------------------------------------------------------------ the problem */

enum { N = 5 };
static const double H[N] = { 1.0, 2.0, 0.5, 3.0, 1.5 };
static const double C[N] = { 0.3, -0.2, 0.5, 0.1, -0.4 };
static const double W0[N] = { 1.0, -0.5, 0.25, 0.8, -1.2 };

/* f(w) = ½ Σ h_i (w_i − c_i)² + 0.05 > 0, g_i = h_i (w_i − c_i). */
static double quad(const double *w, double *g)
{
    double f = 0.05;
    for (size_t i = 0; i < N; i++) {
        g[i] = H[i] * (w[i] - C[i]);
        f += 0.5 * H[i] * (w[i] - C[i]) * (w[i] - C[i]);
    }
    return f;
}

/* ------------------------------------------------------------------ reference rules, in double */

typedef enum { R_RMSPROP_TF, R_ADAM_TF, R_ADAGRAD_TF, R_MOMENTUM_TF, R_L4ADAM, R_L4MOM } rkind;

typedef struct {
    rkind kind;
    /* TF rows */
    double lr, mu, rho, eps, b1, b2, acc0;
    int centered;
    /* L4 */
    double alpha, gamma, gamma0, tau, l4eps, tg, tv, aeps;
    /* state */
    double a[N], b[N], c[N];
    double lmin, eta;
    int t;
} ref;

static ref ref_of(rkind kind)
{
    ref r = { .kind = kind, .lr = 0.01, .mu = 0.0, .rho = 0.9, .eps = 1e-10, .b1 = 0.9, .b2 = 0.999, .acc0 = 0.1,
              .alpha = 0.15, .gamma = 0.9, .gamma0 = 0.75, .tau = 1000.0, .l4eps = 1e-12, .tg = 10.0, .tv = 1000.0,
              .aeps = 1e-4 };
    switch (kind) {
    case R_RMSPROP_TF: r.lr = 0.01; break;
    case R_ADAM_TF: r.lr = 1e-3; r.eps = 1e-8; break;
    case R_ADAGRAD_TF: r.lr = 0.01; break;
    case R_MOMENTUM_TF: r.lr = 0.1; r.mu = 0.9; break;
    default: break;
    }
    return r;
}

static void ref_reset(ref *r)
{
    for (size_t i = 0; i < N; i++) {
        r->a[i] = r->kind == R_RMSPROP_TF ? 1.0 : r->kind == R_ADAGRAD_TF ? r->acc0 : 0.0;
        r->b[i] = r->c[i] = 0.0;
    }
    r->lmin = 0.0;
    r->eta = NAN;
    r->t = 0;
}

/* One step of the rule on w (N doubles) with loss J and gradient g. */
static void ref_step(ref *r, double *w, const double *g, double J)
{
    switch (r->kind) {
    case R_RMSPROP_TF:      /* a = mean square (from 1), b = momentum slot, c = mean gradient (centered) */
        for (size_t i = 0; i < N; i++) {
            r->a[i] = r->rho * r->a[i] + (1.0 - r->rho) * g[i] * g[i];
            double den = r->a[i] + r->eps;
            if (r->centered) {
                r->c[i] = r->rho * r->c[i] + (1.0 - r->rho) * g[i];
                den = r->a[i] - r->c[i] * r->c[i] + r->eps;
            }
            r->b[i] = r->mu * r->b[i] + r->lr * g[i] / sqrt(den);
            w[i] -= r->b[i];
        }
        break;
    case R_ADAM_TF: {       /* a = m, b = v */
        r->t++;
        const double at = r->lr * sqrt(1.0 - pow(r->b2, r->t)) / (1.0 - pow(r->b1, r->t));
        for (size_t i = 0; i < N; i++) {
            r->a[i] = r->b1 * r->a[i] + (1.0 - r->b1) * g[i];
            r->b[i] = r->b2 * r->b[i] + (1.0 - r->b2) * g[i] * g[i];
            w[i] -= at * r->a[i] / (sqrt(r->b[i]) + r->eps);
        }
        break;
    }
    case R_ADAGRAD_TF:      /* a = accumulator (from 0.1), no epsilon */
        for (size_t i = 0; i < N; i++) {
            r->a[i] += g[i] * g[i];
            w[i] -= r->lr * g[i] / sqrt(r->a[i]);
        }
        break;
    case R_MOMENTUM_TF:     /* a = accumulation (from 0) */
        for (size_t i = 0; i < N; i++) {
            r->a[i] = r->mu * r->a[i] + g[i];
            w[i] -= r->lr * r->a[i];
        }
        break;
    case R_L4ADAM:
    case R_L4MOM: {         /* a = m, b = q; s = r->t */
        const int s = r->t;
        r->lmin = s == 0 ? r->gamma0 * J : fmin(r->lmin, J);
        const double bg = 1.0 - 1.0 / r->tg, bv = 1.0 - 1.0 / r->tv;
        const double cg = 1.0 - pow(bg, s + 1), cv = 1.0 - pow(bv, s + 1);
        double v[N], gh[N], dot = 0.0;
        for (size_t i = 0; i < N; i++) {
            r->a[i] = bg * r->a[i] + (1.0 - bg) * g[i];
            r->b[i] = bv * r->b[i] + (1.0 - bv) * g[i] * g[i];
            gh[i] = r->a[i] / cg;
            v[i] = r->kind == R_L4MOM ? gh[i] : gh[i] / (sqrt(r->b[i] / cv) + r->aeps);
            dot += v[i] * gh[i];
        }
        r->eta = r->alpha * (J - r->gamma * r->lmin) / (dot + r->l4eps);
        for (size_t i = 0; i < N; i++) w[i] -= r->eta * v[i];
        r->lmin *= 1.0 + 1.0 / r->tau;
        r->t++;
        break;
    }
    }
}

/* ------------------------------------------------------------------ solver side */

typedef union {
    alig_params_rmsprop rmsprop;
    alig_params_adam adam;
    alig_params_adagrad adagrad;
    alig_params_sgd sgd;
    alig_params_l4 l4;
} params_u;

typedef struct {
    const char *what;
    const alig_solver_type *type;
    params_u p;
    ref r;
} tcase;

static tcase case_of(int k)
{
    tcase c;
    memset(&c, 0, sizeof c);
    switch (k) {
    case 0: c.what = "rmsprop-tf"; c.type = alig_solver_rmsprop_tf;
            c.p.rmsprop = (alig_params_rmsprop)ALIG_PARAMS_RMSPROP_TF_DEFAULT; c.r = ref_of(R_RMSPROP_TF); break;
    case 1: c.what = "rmsprop-tf momentum 0.5"; c.type = alig_solver_rmsprop_tf;
            c.p.rmsprop = (alig_params_rmsprop)ALIG_PARAMS_RMSPROP_TF_DEFAULT; c.p.rmsprop.momentum = 0.5;
            c.r = ref_of(R_RMSPROP_TF); c.r.mu = 0.5; break;
    case 2: c.what = "rmsprop-tf centered momentum 0.5"; c.type = alig_solver_rmsprop_tf;
            c.p.rmsprop = (alig_params_rmsprop)ALIG_PARAMS_RMSPROP_TF_DEFAULT; c.p.rmsprop.momentum = 0.5;
            c.p.rmsprop.centered = 1; c.r = ref_of(R_RMSPROP_TF); c.r.mu = 0.5; c.r.centered = 1; break;
    case 3: c.what = "adam-tf"; c.type = alig_solver_adam_tf;
            c.p.adam = (alig_params_adam)ALIG_PARAMS_ADAM_TF_DEFAULT; c.r = ref_of(R_ADAM_TF); break;
    case 4: c.what = "adam-tf eps 1e-2"; c.type = alig_solver_adam_tf;
            c.p.adam = (alig_params_adam)ALIG_PARAMS_ADAM_TF_DEFAULT; c.p.adam.eps = 1e-2; c.p.adam.lr = 0.05;
            c.r = ref_of(R_ADAM_TF); c.r.eps = 1e-2; c.r.lr = 0.05; break;
    case 5: c.what = "adagrad-tf"; c.type = alig_solver_adagrad_tf;
            c.p.adagrad = (alig_params_adagrad)ALIG_PARAMS_ADAGRAD_TF_DEFAULT; c.r = ref_of(R_ADAGRAD_TF); break;
    case 6: c.what = "momentum-tf"; c.type = alig_solver_momentum_tf;
            c.p.sgd = (alig_params_sgd)ALIG_PARAMS_MOMENTUM_TF_DEFAULT; c.r = ref_of(R_MOMENTUM_TF); break;
    case 7: c.what = "l4adam"; c.type = alig_solver_l4adam;
            c.p.l4 = (alig_params_l4)ALIG_PARAMS_L4_DEFAULT; c.r = ref_of(R_L4ADAM); break;
    case 8: c.what = "l4mom"; c.type = alig_solver_l4mom;
            c.p.l4 = (alig_params_l4)ALIG_PARAMS_L4_DEFAULT; c.r = ref_of(R_L4MOM); break;
    default: c.what = "l4adam alpha 0.5, tau 20"; c.type = alig_solver_l4adam;   /* forgetting binds */
             c.p.l4 = (alig_params_l4)ALIG_PARAMS_L4_DEFAULT; c.p.l4.alpha = 0.5; c.p.l4.tau = 20.0;
             c.r = ref_of(R_L4ADAM); c.r.alpha = 0.5; c.r.tau = 20.0; break;
    }
    ref_reset(&c.r);
    return c;
}
enum { N_CASES = 10 };

static int is_l4(const tcase *c) { return c->r.kind == R_L4ADAM || c->r.kind == R_L4MOM; }

static alig_solver *make(const tcase *c, alig_dtype dt, size_t n)
{
    alig_solver *s = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&s, c->type, dt, n, &c->p) == ALIG_SUCCESS);
    return s;
}

/* Loss and gradient at the solver's iterate x; the gradient rounded to dt (gd holds the same values in
 * double, for the reference). zero = 1 replaces the gradient by 0 (the loss stays). */
static double oracle(alig_dtype dt, const void *x, void *g, double *gd, int zero)
{
    double w[N];
    for (size_t i = 0; i < N; i++) w[i] = get(dt, x, i);
    double J = quad(w, gd);
    for (size_t i = 0; i < N; i++) {
        put(dt, g, i, zero ? 0.0 : gd[i]);
        gd[i] = get(dt, g, i);
    }
    return J;
}

/* ------------------------------------------------------------------ several steps vs the reference */

static void test_against_reference(void)
{
    enum { STEPS = 9, ZERO_AT = 3 };
    for (int k = 0; k < N_CASES; k++)
        for (int d = 0; d < 2; d++) {
            tcase c = case_of(k);
            const alig_dtype dt = dtypes[d];
            const double rtol = dt == ALIG_F64 ? 1e-13 : 1e-6, atol = dt == ALIG_F64 ? 1e-13 : 1e-6;
            alig_solver *s = make(&c, dt, N);
            double x[N], g[N], gd[N], wr[N];      /* x, g: N elements of dt */
            for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
            for (size_t i = 0; i < N; i++) wr[i] = get(dt, x, i);
            CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
            /* a rule that would skip the zero-gradient step (sparse-style) instead of updating its slots */
            ref skip = c.r;
            double ws[N];
            memcpy(ws, wr, sizeof ws);
            double moved = 0.0;
            for (int t = 0; t < STEPS; t++) {
                double J = oracle(dt, x, g, gd, t == ZERO_AT);
                double x_before[N];
                for (size_t i = 0; i < N; i++) x_before[i] = get(dt, x, i);
                CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
                ref_step(&c.r, wr, gd, J);
                if (t != ZERO_AT) ref_step(&skip, ws, gd, J);
                for (size_t i = 0; i < N; i++)
                    CHECK_CLOSE(get(dt, x, i), wr[i], rtol, atol, "%s %s step %d w[%zu]", c.what, dtype_name(dt), t, i);
                if (is_l4(&c))
                    CHECK_CLOSE(alig_solver_step_size(s), c.r.eta, dt == ALIG_F64 ? 1e-12 : 1e-5, 0,
                                "%s %s step %d eta", c.what, dtype_name(dt), t);
                else
                    CU_ASSERT(alig_solver_step_size(s) == (c.type == alig_solver_momentum_tf ? c.p.sgd.lr
                                                           : c.type == alig_solver_adam_tf ? c.p.adam.lr
                                                           : c.type == alig_solver_adagrad_tf ? c.p.adagrad.lr
                                                           : c.p.rmsprop.lr));
                if (t == ZERO_AT) {
                    /* dense kernels: w moves on a zero gradient wherever a slot carries momentum */
                    double dx = 0.0;
                    for (size_t i = 0; i < N; i++) dx += fabs(get(dt, x, i) - x_before[i]);
                    const int carries = c.r.kind == R_MOMENTUM_TF || c.r.kind == R_ADAM_TF || is_l4(&c)
                                        || (c.r.kind == R_RMSPROP_TF && c.r.mu > 0);
                    if (carries) {
                        CU_ASSERT(dx > 1e-6);
                    } else {
                        CU_ASSERT(dx == 0.0);
                    }
                }
                for (size_t i = 0; i < N; i++) moved += fabs(get(dt, x, i) - W0[i]);
            }
            CU_ASSERT(moved > 1e-3);
            /* the slots did move at the zero-gradient step: skipping it would have ended elsewhere
             * (AdaGrad adds 0 to its accumulator, so there the two agree) */
            double far = 0.0;
            for (size_t i = 0; i < N; i++) far = fmax(far, fabs(get(dt, x, i) - ws[i]) / (fabs(ws[i]) + 1.0));
            if (c.r.kind != R_ADAGRAD_TF) {
                if (!(far > 100 * rtol + 10 * atol))
                    printf("\n    %s %s: skipping the zero-gradient step changes w by only %g\n", c.what,
                           dtype_name(dt), far);
                CU_ASSERT(far > 100 * rtol + 10 * atol);
            }
            alig_solver_free(s);
        }
}

/* ------------------------------------------------------------------ first steps by hand */

/* One step from W0 (rounded to dt) with its gradient; returns w1 in w (doubles) and the gradient in gd. */
static void first_step(const alig_solver_type *type, const void *params, alig_dtype dt, double *w, double *gd,
                       double *J)
{
    alig_solver *s = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&s, type, dt, N, params) == ALIG_SUCCESS);
    double x[N], g[N];
    for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
    CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
    *J = oracle(dt, x, g, gd, 0);
    CU_ASSERT_FATAL(alig_solver_step(s, *J, g) == ALIG_SUCCESS);
    for (size_t i = 0; i < N; i++) w[i] = get(dt, x, i);
    alig_solver_free(s);
}

static void test_first_steps(void)
{
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        const double rtol = dt == ALIG_F64 ? 1e-14 : 1e-6;
        double w[N], gd[N], J, w0[N];
        for (size_t i = 0; i < N; i++) { double t[1]; put(dt, t, 0, W0[i]); w0[i] = get(dt, t, 0); }

        /* RMSProp-TF: ms = 0.9·1 + 0.1g², step lr·g/√(ms + 1e-10); PyTorch would step ≈ 10·lr·sign(g) */
        first_step(alig_solver_rmsprop_tf, NULL, dt, w, gd, &J);
        for (size_t i = 0; i < N; i++) {
            double want = w0[i] - 0.01 * gd[i] / sqrt(0.9 + 0.1 * gd[i] * gd[i] + 1e-10);
            CHECK_CLOSE(w[i], want, rtol, 1e-15, "rmsprop-tf first step %s w[%zu]", dtype_name(dt), i);
            CU_ASSERT(!close_to(w[i], w0[i] - 0.1 * (gd[i] > 0 ? 1 : -1), 1e-3, 0));
        }
        /* plain rmsprop keeps its PyTorch first step: lr·g/(√(0.01g²) + 1e-8) ≈ 10·lr·sign(g) */
        first_step(alig_solver_rmsprop, NULL, dt, w, gd, &J);
        for (size_t i = 0; i < N; i++)
            CHECK_CLOSE(w[i], w0[i] - 0.01 * gd[i] / (sqrt(0.01 * gd[i] * gd[i]) + 1e-8), rtol, 1e-15,
                        "rmsprop first step %s w[%zu]", dtype_name(dt), i);

        /* Adam-TF with ε = 1e-2: step lr·g/(|g| + ε/√(1 − β2)); the PyTorch form lr·g/(|g| + ε) is 30x
         * further from it than the tolerance */
        alig_params_adam pa = ALIG_PARAMS_ADAM_TF_DEFAULT;
        pa.eps = 1e-2;
        first_step(alig_solver_adam_tf, &pa, dt, w, gd, &J);
        for (size_t i = 0; i < N; i++) {
            double want = w0[i] - 1e-3 * gd[i] / (fabs(gd[i]) + 1e-2 / sqrt(1.0 - 0.999));
            CHECK_CLOSE(w[i], want, dt == ALIG_F64 ? 1e-13 : 1e-6, 1e-15, "adam-tf first step %s w[%zu]",
                        dtype_name(dt), i);
            CU_ASSERT(!close_to(w[i], w0[i] - 1e-3 * gd[i] / (fabs(gd[i]) + 1e-2), 1e-5, 0));
        }
        /* AdaGrad-TF: S = 0.1 + g², step lr·g/√S */
        first_step(alig_solver_adagrad_tf, NULL, dt, w, gd, &J);
        for (size_t i = 0; i < N; i++)
            CHECK_CLOSE(w[i], w0[i] - 0.01 * gd[i] / sqrt(0.1 + gd[i] * gd[i]), rtol, 1e-15,
                        "adagrad-tf first step %s w[%zu]", dtype_name(dt), i);
        /* Momentum-TF: a = 0.9·0 + g, step lr·g */
        first_step(alig_solver_momentum_tf, NULL, dt, w, gd, &J);
        for (size_t i = 0; i < N; i++)
            CHECK_CLOSE(w[i], w0[i] - 0.1 * gd[i], rtol, 1e-15, "momentum-tf first step %s w[%zu]", dtype_name(dt), i);

        /* L4Mom at s = 0: m = 0.1g, c_g = 0.1, ĝ = v = g; L_min = 0.75J; η = α(J − 0.9·0.75J)/(‖g‖² + ε) */
        alig_solver *s = NULL;
        double x[N], g[N];
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_l4mom, dt, N, NULL) == ALIG_SUCCESS);
        for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        J = oracle(dt, x, g, gd, 0);
        CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
        double gg = 0.0;
        for (size_t i = 0; i < N; i++) gg += gd[i] * gd[i];
        double eta = 0.15 * (J - 0.9 * 0.75 * J) / (gg + 1e-12);
        CHECK_CLOSE(alig_solver_step_size(s), eta, rtol * 10, 0, "l4mom first eta %s", dtype_name(dt));
        CHECK_CLOSE(alig_solver_step_size_unclipped(s), eta, rtol * 10, 0, "l4mom first eta (unclipped) %s",
                    dtype_name(dt));
        /* guard: with L_min forgotten before η (the race of the original code) η would be 0.2% smaller */
        CU_ASSERT(!close_to(alig_solver_step_size(s), 0.15 * (J - 0.9 * 0.75 * 1.001 * J) / (gg + 1e-12), 1e-4, 0));
        for (size_t i = 0; i < N; i++)
            CHECK_CLOSE(get(dt, x, i), w0[i] - eta * gd[i], rtol * 10, 1e-15, "l4mom first step %s w[%zu]",
                        dtype_name(dt), i);
        alig_solver_free(s);

        /* L4Adam at s = 0: q = 0.001g², c_v = 0.001, v = g/(|g| + 1e-4), ⟨v, ĝ⟩ = Σ g²/(|g| + 1e-4) */
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_l4adam, dt, N, NULL) == ALIG_SUCCESS);
        for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        J = oracle(dt, x, g, gd, 0);
        CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
        double dot = 0.0;
        for (size_t i = 0; i < N; i++) dot += gd[i] * gd[i] / (fabs(gd[i]) + 1e-4);
        eta = 0.15 * 0.325 * J / (dot + 1e-12);
        CHECK_CLOSE(alig_solver_step_size(s), eta, dt == ALIG_F64 ? 1e-12 : 1e-5, 0, "l4adam first eta %s",
                    dtype_name(dt));
        for (size_t i = 0; i < N; i++)
            CHECK_CLOSE(get(dt, x, i), w0[i] - eta * gd[i] / (fabs(gd[i]) + 1e-4), dt == ALIG_F64 ? 1e-12 : 1e-5,
                        1e-15, "l4adam first step %s w[%zu]", dtype_name(dt), i);
        alig_solver_free(s);
    }
}

/* ------------------------------------------------------------------ L4's minimum loss and denominator */

/* One step with gradient gv and loss J; returns η. */
static double l4_eta(alig_solver *s, alig_dtype dt, const double *gv, double J)
{
    double g[N];
    for (size_t i = 0; i < N; i++) put(dt, g, i, gv[i]);
    CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
    return alig_solver_step_size(s);
}

static void test_l4_min_loss(void)
{
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        const double rtol = dt == ALIG_F64 ? 1e-13 : 1e-5;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_l4mom, dt, N, NULL) == ALIG_SUCCESS);
        double x[N], gv[N] = { 0.5, -0.25, 1.0, 0.125, -0.75 };
        for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        /* with the same g every step, m/c_g = g exactly in exact arithmetic: ĝ = v = g */
        double gg = 0.0;
        for (size_t i = 0; i < N; i++) gg += gv[i] * gv[i];
        const double D = gg + 1e-12;
        /* s = 0: J = 2, L_min = 1.5 (used), then 1.5015 */
        CHECK_CLOSE(l4_eta(s, dt, gv, 2.0), 0.15 * (2.0 - 0.9 * 1.5) / D, rtol, 0, "l4 s=0 %s", dtype_name(dt));
        /* s = 1: J = 3 > L_min: η sees the forgotten L_min = 1.5·1.001 */
        double e1 = l4_eta(s, dt, gv, 3.0);
        CHECK_CLOSE(e1, 0.15 * (3.0 - 0.9 * 1.5 * 1.001) / D, rtol, 0, "l4 s=1 forgotten %s", dtype_name(dt));
        CU_ASSERT(!close_to(e1, 0.15 * (3.0 - 0.9 * 1.5) / D, 1e-5, 0));            /* forgetting is visible */
        /* s = 2: J = 1 < L_min: L_min = 1 (min-update before η) */
        CHECK_CLOSE(l4_eta(s, dt, gv, 1.0), 0.15 * (1.0 - 0.9) / D, rtol * 10, 0, "l4 s=2 min %s", dtype_name(dt));
        /* s = 3: J = 1 again: L_min = min(1.001, 1) = 1 */
        CHECK_CLOSE(l4_eta(s, dt, gv, 1.0), 0.15 * (1.0 - 0.9) / D, rtol * 10, 0, "l4 s=3 min %s", dtype_name(dt));
        /* set() restarts s: L_min = 0.75·J again */
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        CHECK_CLOSE(l4_eta(s, dt, gv, 4.0), 0.15 * 0.325 * 4.0 / D, rtol, 0, "l4 after set %s", dtype_name(dt));
        alig_solver_free(s);
    }
}

static void test_l4_denominator(void)
{
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        for (int adam = 0; adam < 2; adam++) {
            const alig_solver_type *type = adam ? alig_solver_l4adam : alig_solver_l4mom;
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, type, dt, N, NULL) == ALIG_SUCCESS);
            double x[N], g[N];
            for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
            CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
            /* zero gradient at s = 0: ⟨v, ĝ⟩ = 0, η = α·0.325·J/1e-12, finite; v = 0, so w stays */
            for (size_t i = 0; i < N; i++) put(dt, g, i, 0.0);
            CU_ASSERT_FATAL(alig_solver_step(s, 2.0, g) == ALIG_SUCCESS);
            CHECK_CLOSE(alig_solver_step_size(s), 0.15 * 0.325 * 2.0 / 1e-12, dt == ALIG_F64 ? 1e-14 : 1e-6, 0,
                        "%s zero gradient eta %s", type->name, dtype_name(dt));
            double w0[N];
            for (size_t i = 0; i < N; i++) { double t[1]; put(dt, t, 0, W0[i]); w0[i] = get(dt, t, 0); }
            for (size_t i = 0; i < N; i++) CU_ASSERT(get(dt, x, i) == w0[i]);
            alig_solver_free(s);

            /* tiny gradient at s = 0: ⟨v, ĝ⟩ ≈ 5e-18 (l4mom) or 5e-13 (l4adam) next to ε = 1e-12:
             * η ≈ 1e11 or 6e10, finite, and the step η·v equals the formula */
            CU_ASSERT_FATAL(alig_solver_alloc(&s, type, dt, N, NULL) == ALIG_SUCCESS);
            for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
            CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
            double gd[N], dot = 0.0;
            for (size_t i = 0; i < N; i++) {
                put(dt, g, i, 1e-9 * (double)(i + 1) * (i % 2 ? -1 : 1));
                gd[i] = get(dt, g, i);
                double v = adam ? gd[i] / (fabs(gd[i]) + 1e-4) : gd[i];
                dot += v * gd[i];
            }
            const double J = 2.0, eta = 0.15 * 0.325 * J / (dot + 1e-12);
            CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
            const double got = alig_solver_step_size(s);
            CU_ASSERT(isfinite(got) && got > 1e10);
            CHECK_CLOSE(got, eta, dt == ALIG_F64 ? 1e-12 : 1e-5, 0, "%s tiny <v,g> eta %s", type->name, dtype_name(dt));
            for (size_t i = 0; i < N; i++) {
                double v = adam ? gd[i] / (fabs(gd[i]) + 1e-4) : gd[i];
                CHECK_CLOSE(get(dt, x, i), w0[i] - eta * v, dt == ALIG_F64 ? 1e-12 : 1e-5, 1e-12,
                            "%s tiny <v,g> w[%zu] %s", type->name, i, dtype_name(dt));
            }
            alig_solver_free(s);
        }
    }
}

/* ------------------------------------------------------------------ refused steps leave everything */

static void expect_refused(alig_solver *s, alig_dtype dt, void *x, double J, const void *g, alig_status want,
                           const char *what)
{
    size_t bytes = alig_solver_state_bytes(s);
    unsigned char *before = malloc(bytes), *after = malloc(bytes);
    CU_ASSERT_FATAL(before && after);
    double xb[N];
    for (size_t i = 0; i < N; i++) xb[i] = get(dt, x, i);
    CU_ASSERT(alig_solver_state_export(s, before, bytes) == ALIG_SUCCESS);
    alig_status rc = alig_solver_step(s, J, g);
    if (rc != want) printf("\n    %s %s: got %s, want %s\n", what, dtype_name(dt), alig_status_name(rc),
                           alig_status_name(want));
    CU_ASSERT(rc == want);
    CU_ASSERT(alig_solver_state_export(s, after, bytes) == ALIG_SUCCESS);
    CU_ASSERT(memcmp(before, after, bytes) == 0);
    for (size_t i = 0; i < N; i++) CU_ASSERT(get(dt, x, i) == xb[i]);
    free(before);
    free(after);
}

static void test_refused_steps(void)
{
    for (int k = 0; k < N_CASES; k++)
        for (int d = 0; d < 2; d++) {
            tcase c = case_of(k);
            const alig_dtype dt = dtypes[d];
            alig_solver *s = make(&c, dt, N);
            double x[N], g[N], gd[N], gbad[N];
            for (size_t i = 0; i < N; i++) put(dt, x, i, W0[i]);
            CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
            for (int t = 0; t < 2; t++) {
                double J = oracle(dt, x, g, gd, 0);
                CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
            }
            double J = oracle(dt, x, g, gd, 0);
            expect_refused(s, dt, x, NAN, g, ALIG_ENONFINITE, "NaN loss");
            expect_refused(s, dt, x, INFINITY, g, ALIG_ENONFINITE, "inf loss");
            memcpy(gbad, g, sizeof gbad);
            put(dt, gbad, 2, NAN);
            expect_refused(s, dt, x, J, gbad, ALIG_ENONFINITE, "NaN gradient");
            put(dt, gbad, 2, -INFINITY);
            expect_refused(s, dt, x, J, gbad, ALIG_ENONFINITE, "inf gradient");
            if (is_l4(&c)) expect_refused(s, dt, x, -1e-3, g, ALIG_ENEGLOSS, "negative loss (L4)");
            CU_ASSERT(alig_solver_iter(s) == 2);
            CU_ASSERT(alig_solver_step(s, J, g) == ALIG_SUCCESS);     /* and it goes on */
            alig_solver_free(s);
        }
    /* L4 with ε = 0: a zero gradient at s = 0 makes η = J·.../0 = inf: refused before anything moves */
    for (int d = 0; d < 2; d++) {
        alig_params_l4 p = ALIG_PARAMS_L4_DEFAULT;
        p.eps = 0.0;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_l4adam, dtypes[d], N, &p) == ALIG_SUCCESS);
        double x[N], g[N];
        for (size_t i = 0; i < N; i++) { put(dtypes[d], x, i, W0[i]); put(dtypes[d], g, i, 0.0); }
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        expect_refused(s, dtypes[d], x, 1.0, g, ALIG_ENONFINITE, "l4 eps 0, zero gradient");
        CU_ASSERT(alig_solver_iter(s) == 0);
        /* a loss of exactly 0 is allowed: η = 0 when the gradient is not zero */
        for (size_t i = 0; i < N; i++) put(dtypes[d], g, i, 0.5);
        CU_ASSERT(alig_solver_step(s, 0.0, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 0.0);
        alig_solver_free(s);
    }
    /* L4 in float: η beyond the float range (J = 1e30, ε only) is refused instead of making w inf/NaN */
    {
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_l4mom, ALIG_F32, N, NULL) == ALIG_SUCCESS);
        float x[N], g[N];
        for (size_t i = 0; i < N; i++) { x[i] = (float)W0[i]; g[i] = 0.0f; }
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        expect_refused(s, ALIG_F32, x, 1e30, g, ALIG_ENONFINITE, "l4 float eta overflow");
        alig_solver_free(s);
    }
}

/* ------------------------------------------------------------------ checkpoints */

static void run_steps(alig_solver *s, alig_dtype dt, void *x, int from, int steps)
{
    double g[N], gd[N];
    for (int t = from; t < from + steps; t++) {
        double J = oracle(dt, x, g, gd, t == 2);
        CU_ASSERT_FATAL(alig_solver_step(s, J, g) == ALIG_SUCCESS);
    }
}

static void test_checkpoint(void)
{
    enum { A = 4, B = 5 };
    for (int k = 0; k < N_CASES; k++)
        for (int d = 0; d < 2; d++) {
            tcase c = case_of(k);
            const alig_dtype dt = dtypes[d];
            double x_full[N], x_cut[N];
            for (size_t i = 0; i < N; i++) { put(dt, x_full, i, W0[i]); put(dt, x_cut, i, W0[i]); }
            alig_solver *s1 = make(&c, dt, N), *s2 = make(&c, dt, N), *s3 = make(&c, dt, N);
            CU_ASSERT_FATAL(alig_solver_set(s1, x_full, INFINITY) == ALIG_SUCCESS);
            run_steps(s1, dt, x_full, 0, A + B);
            CU_ASSERT_FATAL(alig_solver_set(s2, x_cut, INFINITY) == ALIG_SUCCESS);
            run_steps(s2, dt, x_cut, 0, A);
            size_t bytes = alig_solver_state_bytes(s2);
            void *buf = malloc(bytes);
            CU_ASSERT_FATAL(buf != NULL);
            CU_ASSERT_FATAL(alig_solver_state_export(s2, buf, bytes) == ALIG_SUCCESS);
            alig_solver_free(s2);
            CU_ASSERT_FATAL(alig_solver_set(s3, x_cut, INFINITY) == ALIG_SUCCESS);   /* fresh: s = 0, L_min = 0 */
            CU_ASSERT_FATAL(alig_solver_state_import(s3, buf, bytes) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_iter(s3) == A);
            run_steps(s3, dt, x_cut, A, B);
            if (memcmp(x_full, x_cut, N * esize(dt)) != 0) printf("\n    %s %s: resumed run differs\n", c.what,
                                                                  dtype_name(dt));
            CU_ASSERT(memcmp(x_full, x_cut, N * esize(dt)) == 0);
            CU_ASSERT(alig_solver_step_size(s1) == alig_solver_step_size(s3));
            /* without the import the continuation differs (the state matters) */
            double x_fresh[N];
            memcpy(x_fresh, x_cut, sizeof x_fresh);
            alig_solver *s4 = make(&c, dt, N);
            for (size_t i = 0; i < N; i++) put(dt, x_fresh, i, W0[i]);
            CU_ASSERT_FATAL(alig_solver_set(s4, x_fresh, INFINITY) == ALIG_SUCCESS);
            run_steps(s4, dt, x_fresh, 0, A);
            alig_solver_set(s4, x_fresh, INFINITY);
            run_steps(s4, dt, x_fresh, A, B);
            CU_ASSERT(memcmp(x_full, x_fresh, N * esize(dt)) != 0);
            /* another type's state is refused */
            alig_solver *other = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&other, c.type == alig_solver_l4mom ? alig_solver_l4adam
                                                                                 : alig_solver_l4mom,
                                              dt, N, NULL) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_set(other, x_fresh, INFINITY) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_state_import(other, buf, bytes) == ALIG_EFORMAT);
            alig_solver_free(other);
            free(buf);
            alig_solver_free(s1);
            alig_solver_free(s3);
            alig_solver_free(s4);
        }
}

/* ------------------------------------------------------------------ parameters */

typedef struct { const char *what; const alig_solver_type *type; size_t offset; double value; alig_status want; } pcase;

#define MOM_CASES(T, S, name)                                                                      \
    { name " momentum 1", T, offsetof(S, momentum), 1.0, ALIG_EBADMOMENTUM },                       \
    { name " momentum 1.5", T, offsetof(S, momentum), 1.5, ALIG_EBADMOMENTUM },                     \
    { name " momentum nan", T, offsetof(S, momentum), NAN, ALIG_EBADMOMENTUM },                     \
    { name " momentum -0.1", T, offsetof(S, momentum), -0.1, ALIG_EBADMOMENTUM },                   \
    { name " momentum inf", T, offsetof(S, momentum), INFINITY, ALIG_EBADMOMENTUM },                \
    { name " momentum 0.999", T, offsetof(S, momentum), 0.999, ALIG_SUCCESS }

static void check_param(const pcase *c)
{
    union { max_align_t a; unsigned char b[256]; } buf;
    CU_ASSERT_FATAL(c->type->params_size <= sizeof buf.b);
    memcpy(buf.b, c->type->params_default, c->type->params_size);
    memcpy(buf.b + c->offset, &c->value, sizeof c->value);
    for (int d = 0; d < 2; d++) {
        alig_solver *s = (alig_solver *)&s;
        alig_status rc = alig_solver_alloc(&s, c->type, dtypes[d], 3, buf.b);
        if (rc != c->want) printf("\n    %s: got %s, want %s\n", c->what, alig_status_name(rc), alig_status_name(c->want));
        CU_ASSERT(rc == c->want);
        if (rc) {
            CU_ASSERT(s == NULL);
        } else {
            alig_solver_free(s);
        }
    }
}

static void test_params(void)
{
    const alig_solver_type *l4a = alig_solver_l4adam, *l4m = alig_solver_l4mom;
    const pcase cases[] = {
        MOM_CASES(alig_solver_alig, alig_params_alig, "alig"),
        MOM_CASES(alig_solver_sgd, alig_params_sgd, "sgd"),
        MOM_CASES(alig_solver_momentum_tf, alig_params_sgd, "momentum-tf"),
        MOM_CASES(alig_solver_rmsprop, alig_params_rmsprop, "rmsprop"),
        MOM_CASES(alig_solver_rmsprop_tf, alig_params_rmsprop, "rmsprop-tf"),
        { "rmsprop initial -1", alig_solver_rmsprop, offsetof(alig_params_rmsprop, initial_square_avg), -1.0, ALIG_EBADACCUM },
        { "rmsprop-tf initial inf", alig_solver_rmsprop_tf, offsetof(alig_params_rmsprop, initial_square_avg), INFINITY,
          ALIG_EBADACCUM },
        { "rmsprop-tf initial nan", alig_solver_rmsprop_tf, offsetof(alig_params_rmsprop, initial_square_avg), NAN,
          ALIG_EBADACCUM },
        { "rmsprop-tf initial 0", alig_solver_rmsprop_tf, offsetof(alig_params_rmsprop, initial_square_avg), 0.0,
          ALIG_SUCCESS },
        /* TF1's AdagradOptimizer requires initial_accumulator_value > 0; PyTorch's Adagrad allows 0 */
        { "adagrad-tf acc 0", alig_solver_adagrad_tf, offsetof(alig_params_adagrad, initial_accumulator), 0.0,
          ALIG_EBADACCUM },
        { "adagrad-tf acc -0", alig_solver_adagrad_tf, offsetof(alig_params_adagrad, initial_accumulator), -0.0,
          ALIG_EBADACCUM },
        { "adagrad-tf acc 1e-300", alig_solver_adagrad_tf, offsetof(alig_params_adagrad, initial_accumulator), 1e-300,
          ALIG_SUCCESS },
        { "adagrad acc 0", alig_solver_adagrad, offsetof(alig_params_adagrad, initial_accumulator), 0.0, ALIG_SUCCESS },
        { "l4 alpha 0", l4a, offsetof(alig_params_l4, alpha), 0.0, ALIG_EBADFRACTION },
        { "l4 alpha inf", l4m, offsetof(alig_params_l4, alpha), INFINITY, ALIG_EBADFRACTION },
        { "l4 alpha nan", l4a, offsetof(alig_params_l4, alpha), NAN, ALIG_EBADFRACTION },
        { "l4 alpha 2", l4a, offsetof(alig_params_l4, alpha), 2.0, ALIG_SUCCESS },
        { "l4 gamma 1.1", l4a, offsetof(alig_params_l4, gamma), 1.1, ALIG_EBADMINLOSS },
        { "l4 gamma -0.1", l4m, offsetof(alig_params_l4, gamma), -0.1, ALIG_EBADMINLOSS },
        { "l4 gamma nan", l4a, offsetof(alig_params_l4, gamma), NAN, ALIG_EBADMINLOSS },
        { "l4 gamma 1", l4a, offsetof(alig_params_l4, gamma), 1.0, ALIG_SUCCESS },
        { "l4 gamma0 1.5", l4a, offsetof(alig_params_l4, gamma0), 1.5, ALIG_EBADMINLOSS },
        { "l4 gamma0 0", l4m, offsetof(alig_params_l4, gamma0), 0.0, ALIG_SUCCESS },
        { "l4 tau 0", l4a, offsetof(alig_params_l4, tau), 0.0, ALIG_EBADMINLOSS },
        { "l4 tau nan", l4m, offsetof(alig_params_l4, tau), NAN, ALIG_EBADMINLOSS },
        { "l4 tau inf", l4a, offsetof(alig_params_l4, tau), INFINITY, ALIG_SUCCESS },
        { "l4 eps -1e-12", l4a, offsetof(alig_params_l4, eps), -1e-12, ALIG_EBADEPS },
        { "l4 eps inf", l4m, offsetof(alig_params_l4, eps), INFINITY, ALIG_EBADEPS },
        { "l4 eps 0", l4m, offsetof(alig_params_l4, eps), 0.0, ALIG_SUCCESS },
        { "l4 direction eps -1", l4a, offsetof(alig_params_l4, direction_eps), -1.0, ALIG_EBADEPS },
        { "l4 time-grad 0.5", l4a, offsetof(alig_params_l4, time_grad), 0.5, ALIG_EBADTIMESCALE },
        { "l4 time-grad inf", l4m, offsetof(alig_params_l4, time_grad), INFINITY, ALIG_EBADTIMESCALE },
        { "l4 time-grad 1", l4m, offsetof(alig_params_l4, time_grad), 1.0, ALIG_SUCCESS },
        { "l4 time-var nan", l4a, offsetof(alig_params_l4, time_var), NAN, ALIG_EBADTIMESCALE },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) check_param(&cases[k]);

    /* the rows' defaults, as TensorFlow 1.x and the L4 paper state them */
    const alig_params_rmsprop *r = alig_solver_rmsprop_tf->params_default, *r0 = alig_solver_rmsprop->params_default;
    CU_ASSERT(r->alpha == 0.9 && r->eps == 1e-10 && r->initial_square_avg == 1.0 && r->eps_inside && r->momentum == 0);
    CU_ASSERT(r0->alpha == 0.99 && r0->eps == 1e-8 && r0->initial_square_avg == 0.0 && !r0->eps_inside);
    const alig_params_adam *a = alig_solver_adam_tf->params_default;
    CU_ASSERT(a->lr == 1e-3 && a->beta1 == 0.9 && a->beta2 == 0.999 && a->eps == 1e-8 && a->legacy_eps && !a->amsgrad);
    CU_ASSERT(!((const alig_params_adam *)alig_solver_adam->params_default)->legacy_eps);
    const alig_params_adagrad *ag = alig_solver_adagrad_tf->params_default;
    CU_ASSERT(ag->initial_accumulator == 0.1 && ag->eps == 0.0 && ag->lr_decay == 0.0);
    const alig_params_sgd *m = alig_solver_momentum_tf->params_default;
    CU_ASSERT(m->momentum == 0.9 && m->dampening == 0.0 && !m->nesterov && m->schedule == ALIG_SCHEDULE_CONSTANT);
    const alig_params_l4 *l = alig_solver_l4adam->params_default;
    CU_ASSERT(l->alpha == 0.15 && l->gamma == 0.9 && l->gamma0 == 0.75 && l->tau == 1000.0 && l->eps == 1e-12 &&
              l->time_grad == 10.0 && l->time_var == 1000.0 && l->direction_eps == 1e-4);
    CU_ASSERT(alig_solver_l4mom->params_default == alig_solver_l4adam->params_default ||
              memcmp(alig_solver_l4mom->params_default, l, sizeof *l) == 0);
    const char *rows[] = { "rmsprop-tf", "adam-tf", "adagrad-tf", "momentum-tf", "l4adam", "l4mom" };
    for (size_t i = 0; i < 6; i++) {
        const alig_solver_type *t = alig_solver_type_find(rows[i]);
        CU_ASSERT_FATAL(t != NULL);
        CU_ASSERT(t->summary && strlen(t->summary) > 30);
        CU_ASSERT(t->validate(t->params_default) == ALIG_SUCCESS);
    }
    CU_ASSERT(alig_solver_type_find("sgd-tf") == NULL);      /* GradientDescent is sgd itself */
    for (int code = ALIG_EBADFRACTION; code <= ALIG_ENEGLOSS; code++)
        CU_ASSERT(strcmp(alig_strerror(code), alig_strerror(9999)) != 0);
    CU_ASSERT(strstr(alig_strerror(ALIG_EBADMOMENTUM), "[0, 1)") != NULL);
}

static void test_params_text(void)
{
    alig_params_l4 p = ALIG_PARAMS_L4_DEFAULT;
    const alig_params_l4 keep = p;
    const char *junk[] = { " 1", "1 ", "0x10", "0X1p3", "", "+", "-", ".", "e5", "1e", "0.5x", "1e999", "-1e999",
                           "1e-400", "nan", "NaN", "-inf", "--1", "1,2", "\t0.1" };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        alig_status rc = alig_params_set(alig_solver_l4adam, &p, "alpha", junk[i]);
        if (rc != ALIG_EINVAL) printf("\n    alpha '%s' was accepted\n", junk[i]);
        CU_ASSERT(rc == ALIG_EINVAL);
    }
    CU_ASSERT(memcmp(&p, &keep, sizeof p) == 0);
    const struct { const char *text; double want; } good[] = {
        { "0.25", 0.25 }, { "+0.5", 0.5 }, { "-2.5", -2.5 }, { ".5", 0.5 }, { "5.", 5.0 }, { "1e-3", 1e-3 },
        { "2E+2", 200.0 }, { "inf", INFINITY }, { "Infinity", INFINITY }, { "none", INFINITY }, { "0", 0.0 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CU_ASSERT(alig_params_set(alig_solver_l4adam, &p, "tau", good[i].text) == ALIG_SUCCESS);
        CU_ASSERT(p.tau == good[i].want);
    }
    /* lists take the same numbers, one comma apart */
    alig_params_sgd s = ALIG_PARAMS_SGD_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", "10,20") == ALIG_SUCCESS && s.milestones.n == 2);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", "10, 20") == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", "0x10") == ALIG_EINVAL);
    CU_ASSERT(s.milestones.n == 2 && s.milestones.v[1] == 20);
    /* the new fields by name */
    alig_params_rmsprop r = ALIG_PARAMS_RMSPROP_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_rmsprop, &r, "eps-inside", "true") == ALIG_SUCCESS && r.eps_inside == 1);
    CU_ASSERT(alig_params_set(alig_solver_rmsprop, &r, "initial-square-avg", "1") == ALIG_SUCCESS &&
              r.initial_square_avg == 1.0);
    CU_ASSERT(alig_params_set(alig_solver_l4adam, &p, "direction-eps", "1e-5") == ALIG_SUCCESS && p.direction_eps == 1e-5);
    CU_ASSERT(alig_params_set(alig_solver_l4mom, &p, "direction-eps", "1e-5") == ALIG_EINVAL);   /* l4adam only */
    CU_ASSERT(alig_params_set(alig_solver_l4mom, &p, "time-grad", "20") == ALIG_SUCCESS && p.time_grad == 20.0);
}

/* rmsprop with the two new options set by hand is rmsprop-tf */
static void test_rows_are_options(void)
{
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        alig_params_rmsprop r = ALIG_PARAMS_RMSPROP_DEFAULT;
        r.alpha = 0.9; r.eps = 1e-10; r.initial_square_avg = 1.0; r.eps_inside = 1;
        alig_params_adam a = ALIG_PARAMS_ADAM_DEFAULT;
        a.legacy_eps = 1;
        alig_params_sgd m = ALIG_PARAMS_SGD_DEFAULT;
        m.momentum = 0.9;
        const struct { const alig_solver_type *base, *row; const void *p; } pairs[] = {
            { alig_solver_rmsprop, alig_solver_rmsprop_tf, &r }, { alig_solver_adam, alig_solver_adam_tf, &a },
            { alig_solver_sgd, alig_solver_momentum_tf, &m },
        };
        for (size_t k = 0; k < 3; k++) {
            double x1[N], x2[N];
            alig_solver *s1 = NULL, *s2 = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s1, pairs[k].base, dt, N, pairs[k].p) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_alloc(&s2, pairs[k].row, dt, N, NULL) == ALIG_SUCCESS);
            for (size_t i = 0; i < N; i++) { put(dt, x1, i, W0[i]); put(dt, x2, i, W0[i]); }
            alig_solver_set(s1, x1, INFINITY);
            alig_solver_set(s2, x2, INFINITY);
            run_steps(s1, dt, x1, 0, 6);
            run_steps(s2, dt, x2, 0, 6);
            CU_ASSERT(memcmp(x1, x2, N * esize(dt)) == 0);
            alig_solver_free(s1);
            alig_solver_free(s2);
        }
    }
}

/* ------------------------------------------------------------------ kernel paths */

/* Large n (parallel loops): rmsprop-tf's four variants element-wise equal to the serial loops; L4's
 * η and iterate against the double reference (its inner product spans the whole vector). */
enum { K = 29 };

static void fill_diag(alig_dtype dt, void *x, void *g, size_t n, int t)
{
    for (size_t i = 0; i < n; i++) {
        double w = get(dt, x, i);
        put(dt, g, i, i < K ? (0.5 + 0.1 * (double)(i % 11)) * w / (1.0 + t) + 0.01 : 0.0);
    }
}

static void test_kernel_paths(void)
{
    const size_t big = ALIG_KERNEL_PAR_MIN + K;
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        const size_t es = esize(dt);
        void *xs = malloc(K * es), *gs = malloc(K * es), *xb = malloc(big * es), *gb = malloc(big * es);
        CU_ASSERT_FATAL(xs && gs && xb && gb);
        for (int v = 0; v < 6; v++) {
            tcase c = case_of(v < 4 ? 0 : 7 + (v - 4));    /* rmsprop-tf variants, then l4adam, l4mom */
            if (v < 4) { c.p.rmsprop.centered = v & 1; c.p.rmsprop.momentum = (v & 2) ? 0.9 : 0.0; }
            alig_solver *ss = NULL, *sb = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&ss, c.type, dt, K, &c.p) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_alloc(&sb, c.type, dt, big, &c.p) == ALIG_SUCCESS);
            for (size_t i = 0; i < K; i++) put(dt, xs, i, 1.0 - 0.013 * (double)i);
            for (size_t i = 0; i < big; i++) put(dt, xb, i, i < K ? 1.0 - 0.013 * (double)i : 0.5);
            CU_ASSERT_FATAL(alig_solver_set(ss, xs, INFINITY) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_set(sb, xb, INFINITY) == ALIG_SUCCESS);
            for (int t = 0; t < 3; t++) {
                fill_diag(dt, xs, gs, K, t);
                fill_diag(dt, xb, gb, big, t);
                CU_ASSERT_FATAL(alig_solver_step(ss, 1.0, gs) == ALIG_SUCCESS);
                CU_ASSERT_FATAL(alig_solver_step(sb, 1.0, gb) == ALIG_SUCCESS);
            }
            /* element-wise rules: the same bits; L4: the inner products differ only in summation order */
            const double tol = v < 4 ? 0.0 : (dt == ALIG_F64 ? 1e-14 : 1e-6);
            int ok = 1;
            for (size_t i = 0; i < K; i++) ok &= close_to(get(dt, xb, i), get(dt, xs, i), tol, 0.0);
            for (size_t i = K; i < big; i++) ok &= get(dt, xb, i) == 0.5;   /* zero gradient: did not move */
            if (!ok) printf("\n    %s (variant %d) %s: serial and parallel paths differ\n", c.what, v, dtype_name(dt));
            CU_ASSERT(ok);
            CU_ASSERT(get(dt, xs, 0) != 1.0);
            if (v >= 4) CHECK_CLOSE(alig_solver_step_size(sb), alig_solver_step_size(ss), tol, 0, "%s eta", c.what);
            alig_solver_free(ss);
            alig_solver_free(sb);
        }
        free(xs); free(gs); free(xb); free(gb);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("tf1_l4", NULL, NULL);
    CU_add_test(s, "TF rows and L4 vs a double re-implementation (zero-gradient step inside)", test_against_reference);
    CU_add_test(s, "first steps by hand, and plain rmsprop unchanged", test_first_steps);
    CU_add_test(s, "L4 minimum loss: 0.75 J at s = 0, forgetting after eta, min-update before", test_l4_min_loss);
    CU_add_test(s, "L4 denominator: +1e-12 on a zero gradient, tiny <v, g_hat>", test_l4_denominator);
    CU_add_test(s, "refused steps leave w and the state untouched", test_refused_steps);
    CU_add_test(s, "checkpoint round trip continues bit for bit", test_checkpoint);
    CU_add_test(s, "parameter ranges and the rows' defaults", test_params);
    CU_add_test(s, "strict parameter text", test_params_text);
    CU_add_test(s, "rows equal their base rule with the options set", test_rows_are_options);
    CU_add_test(s, "kernel paths (parallel vs serial loops)", test_kernel_paths);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
