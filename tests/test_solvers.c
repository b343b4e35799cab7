/* test_solvers.c - the step rules of solvers/ against independent expectations:
 *   - ALI-G test vectors (three steps on ½‖w‖², momentum forms, cap, ball), in double and in float;
 *   - the zero-gradient and loss-below-bound guards (docs/optimizers.md);
 *   - every invalid parameter of every method: its own status, nothing allocated;
 *   - non-finite loss / gradient: ALIG_ENONFINITE, iterate and state untouched;
 *   - Polyak, APROX, SPS/SPSmax (plain, capped, smooth), SGD (schedules, heavy ball, Nesterov,
 *     dampening, weight decay) and ALI-G with momentum and projection against re-implementations
 *     written here in plain double loops from the published rules (docs/optimizers.md, torch.optim.SGD);
 *   - alig_params_set / alig_params_format;
 *   - the large-n (OpenMP) kernel path and the double accumulation of ‖g‖².
 * Every case runs through the same solver type for ALIG_F64 and ALIG_F32. */
#include <CUnit/Basic.h>
#include <float.h>
#include <malloc.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/alig.h"

/* ------------------------------------------------------------------ helpers */

/* Bytes currently allocated on the heap: the sanitizer allocator's counter under ASan, glibc's
 * mallinfo2 otherwise. Used to check that a rejected alloc leaves nothing behind. */
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

static const alig_dtype dtypes[2] = { ALIG_F64, ALIG_F32 };
static const char *dtype_name(alig_dtype dt) { return dt == ALIG_F64 ? "f64" : "f32"; }

/* A vector of the solver's element type, filled from and read back into double. */
typedef struct { alig_dtype dt; size_t n; void *p; } tvec;

static tvec tv_alloc(alig_dtype dt, size_t n)
{
    tvec v = { dt, n, calloc(n, dt == ALIG_F64 ? sizeof(double) : sizeof(float)) };
    CU_ASSERT_FATAL(v.p != NULL);
    return v;
}
static void tv_free(tvec *v) { free(v->p); v->p = NULL; }
static void tv_from(tvec *v, const double *src)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->dt == ALIG_F64) ((double *)v->p)[i] = src[i];
        else ((float *)v->p)[i] = (float)src[i];
    }
}
static void tv_to(const tvec *v, double *dst)
{
    for (size_t i = 0; i < v->n; i++)
        dst[i] = v->dt == ALIG_F64 ? ((const double *)v->p)[i] : (double)((const float *)v->p)[i];
}
static size_t tv_bytes(const tvec *v) { return v->n * (v->dt == ALIG_F64 ? sizeof(double) : sizeof(float)); }

/* |a - e| <= rtol·|e| + atol, with a message naming the first offender. */
static int close_to(double a, double e, double rtol, double atol)
{
    return fabs(a - e) <= rtol * fabs(e) + atol;
}
#define CHECK_CLOSE(a, e, rtol, atol, ...) do {                                              \
        double a_ = (a), e_ = (e);                                                           \
        if (!close_to(a_, e_, (rtol), (atol))) {                                             \
            printf("\n    mismatch: ");                                                      \
            printf(__VA_ARGS__);                                                             \
            printf(": got %.17g, want %.17g (diff %.3g)\n", a_, e_, fabs(a_ - e_));         \
        }                                                                                    \
        CU_ASSERT(close_to(a_, e_, (rtol), (atol)));                                         \
    } while (0)

/* Tolerances per element type: double keeps ~1e-9 relative on the test vectors; float is
 * limited by its 6e-8 unit roundoff amplified by the cancellations of the first steps. */
static double vec_rtol(alig_dtype dt) { return dt == ALIG_F64 ? 1e-9 : 1e-6; }
static double vec_atol(alig_dtype dt) { return dt == ALIG_F64 ? 1e-12 : 1e-6; }

/* ============================================================ ALI-G test vectors */

/* ℓ(w) = ½‖w‖², g = w, w₀ = (1, 2), δ = 1e-5. The full digits come from an independent
 * re-implementation (Python, float64) of the semantics of the official PyTorch code
 * (github.com/oval-group/ali-g, alig/th/alig.py). The η = 0.3 vector can be checked by hand:
 * every step is clipped at 0.3, so w₁ = 0.7·(1, 2) − 0.9·0.3·(1, 2) = 0.43·(1, 2). */
typedef struct {
    const char *what;
    alig_params_alig p;
    double radius;
    size_t steps;
    double w0[2];           /* the iterate after set() (projected) */
    double gamma[3];        /* clipped */
    double gu[3];           /* unclipped */
    double w[3][2];
} alig_vector;

static const alig_vector vectors[] = {
    { "standard mu=0.9 eta=inf",
      { .eta = INFINITY, .delta = 1e-5, .lower_bound = 0.0, .momentum = 0.9, .adjusted = 0 }, INFINITY, 3,
      { 1.0, 2.0 },
      { 0.49999900000200004, 0.4996003500938342, 0.49999382628240063 },
      { 0.49999900000200004, 0.4996003500938342, 0.49999382628240063 },
      { { 0.05000189999619992, 0.10000379999239983 }, { -0.402461126817991, -0.804922253635982 },
        { -0.4048616312991081, -0.8097232625982163 } } },
    { "adjusted mu=0.9 eta=inf",
      { .eta = INFINITY, .delta = 1e-5, .lower_bound = 0.0, .momentum = 0.9, .adjusted = 1 }, INFINITY, 3,
      { 1.0, 2.0 },
      { 0.49999900000200004, 0.4996003500938342, 0.49999381636387663 },
      { 0.49999900000200004, 0.4996003500938342, 0.49999381636387663 },
      { { 0.05000189999619992, 0.10000379999239983 }, { -0.4021382203923767, -0.8042764407847534 },
        { -0.4048576468857761, -0.8097152937715522 } } },
    { "standard mu=0.9 eta=0.3",
      { .eta = 0.3, .delta = 1e-5, .lower_bound = 0.0, .momentum = 0.9, .adjusted = 0 }, INFINITY, 3,
      { 1.0, 2.0 },
      { 0.3, 0.3, 0.3 },
      { 0.49999900000200004, 0.49999459172967303, 0.4997039326624448 },
      { { 0.43, 0.86 }, { -0.0581, -0.1162 }, { -0.348173, -0.696346 } } },
    { "mu=0 r=1",
      { .eta = INFINITY, .delta = 1e-5, .lower_bound = 0.0, .momentum = 0.0, .adjusted = 0 }, 1.0, 1,
      { 0.4472135954999579, 0.8944271909999159 },      /* (1, 2)/√5 */
      { 0.4999950000499995, 0, 0 },
      { 0.4999950000499995, 0, 0 },
      { { 0.223609033795596, 0.447218067591192 }, { 0, 0 }, { 0, 0 } } },
};

static void run_vector(const alig_vector *v, alig_dtype dt)
{
    const double rt = vec_rtol(dt), at = vec_atol(dt);
    alig_solver *s = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, dt, 2, &v->p) == ALIG_SUCCESS);
    tvec x = tv_alloc(dt, 2), g = tv_alloc(dt, 2);
    double w[2] = { 1.0, 2.0 };
    tv_from(&x, w);
    CU_ASSERT_FATAL(alig_solver_set(s, x.p, v->radius) == ALIG_SUCCESS);
    tv_to(&x, w);
    for (int i = 0; i < 2; i++) CHECK_CLOSE(w[i], v->w0[i], rt, at, "%s %s w0[%d]", v->what, dtype_name(dt), i);
    CU_ASSERT(isnan(alig_solver_step_size(s)));
    for (size_t t = 0; t < v->steps; t++) {
        tv_to(&x, w);
        double loss = 0.5 * (w[0] * w[0] + w[1] * w[1]);
        tv_from(&g, w);
        CU_ASSERT_FATAL(alig_solver_step(s, loss, g.p) == ALIG_SUCCESS);
        CHECK_CLOSE(alig_solver_step_size(s), v->gamma[t], rt, at, "%s %s gamma_%zu", v->what, dtype_name(dt), t + 1);
        CHECK_CLOSE(alig_solver_step_size_unclipped(s), v->gu[t], rt, at, "%s %s gamma_unclipped_%zu", v->what,
                    dtype_name(dt), t + 1);
        tv_to(&x, w);
        for (int i = 0; i < 2; i++)
            CHECK_CLOSE(w[i], v->w[t][i], rt, at, "%s %s w_%zu[%d]", v->what, dtype_name(dt), t + 1, i);
    }
    CU_ASSERT(alig_solver_iter(s) == v->steps);
    tv_free(&x);
    tv_free(&g);
    alig_solver_free(s);
}

static void test_vectors_standard(void) { for (int d = 0; d < 2; d++) run_vector(&vectors[0], dtypes[d]); }
static void test_vectors_adjusted(void) { for (int d = 0; d < 2; d++) run_vector(&vectors[1], dtypes[d]); }
static void test_vectors_eta(void) { for (int d = 0; d < 2; d++) run_vector(&vectors[2], dtypes[d]); }
static void test_vectors_ball(void) { for (int d = 0; d < 2; d++) run_vector(&vectors[3], dtypes[d]); }

/* ======================================================== guards */

/* Zero gradient with δ = 0: γ = 0 (and γ_unclipped = 0), no NaN, the iterate does not move. */
static void test_guard_zero_grad_no_momentum(void)
{
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
        p.delta = 0.0;
        for (int fin = 0; fin < 2; fin++) {
            p.eta = fin ? 0.3 : INFINITY;
            const double losses[2] = { 0.5, 0.0 };    /* ℓ/0 = inf and 0/0 = NaN without the guard */
            for (int l = 0; l < 2; l++) {
                alig_solver *s = NULL;
                CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, dt, 2, &p) == ALIG_SUCCESS);
                tvec x = tv_alloc(dt, 2), g = tv_alloc(dt, 2);
                double w[2] = { 1.0, -2.0 }, zero[2] = { 0.0, 0.0 };
                tv_from(&x, w);
                tv_from(&g, zero);
                void *before = malloc(tv_bytes(&x));
                CU_ASSERT_FATAL(before != NULL);
                CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
                memcpy(before, x.p, tv_bytes(&x));
                CU_ASSERT(alig_solver_step(s, losses[l], g.p) == ALIG_SUCCESS);
                CU_ASSERT(alig_solver_step_size(s) == 0.0);
                CU_ASSERT(alig_solver_step_size_unclipped(s) == 0.0);
                CU_ASSERT(memcmp(before, x.p, tv_bytes(&x)) == 0);
                free(before);
                tv_free(&x);
                tv_free(&g);
                alig_solver_free(s);
            }
        }
    }
}

/* Zero gradient with δ = 0 and μ = 0.9 after one regular step. Hand derivation, w₀ = (1, 2),
 * ℓ = ½‖w‖², g = w, δ = 0: γ₁ = ℓ/‖g‖² = 1/2.
 *   standard: v₁ = −γ₁g = (−0.5, −1), w₁ = w₀ − γ₁g + μv₁ = (0.05, 0.1);
 *             step 2 (g = 0, γ = 0): v₂ = μv₁ = (−0.45, −0.9), w₂ = w₁ + μv₂ = (−0.355, −0.71).
 *   adjusted: b₁ = −g = (−1, −2), w₁ = w₀ − γ₁g + γ₁μb₁ = (0.05, 0.1);
 *             step 2: b₂ = μb₁, w₂ = w₁ − 0 + 0·μb₂ = w₁ (a zero γ also silences the buffer). */
static void test_guard_zero_grad_momentum(void)
{
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        for (int adj = 0; adj < 2; adj++) {
            alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
            p.delta = 0.0;
            p.momentum = 0.9;
            p.adjusted = adj;
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, dt, 2, &p) == ALIG_SUCCESS);
            tvec x = tv_alloc(dt, 2), g = tv_alloc(dt, 2);
            double w[2] = { 1.0, 2.0 }, zero[2] = { 0.0, 0.0 };
            tv_from(&x, w);
            CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
            tv_from(&g, w);
            CU_ASSERT(alig_solver_step(s, 2.5, g.p) == ALIG_SUCCESS);
            CHECK_CLOSE(alig_solver_step_size(s), 0.5, 1e-15, 0, "zero-grad momentum gamma_1");
            tv_to(&x, w);
            CHECK_CLOSE(w[0], 0.05, 0, vec_atol(dt) + 1e-15, "w_1[0]");
            CHECK_CLOSE(w[1], 0.1, 0, vec_atol(dt) + 1e-15, "w_1[1]");
            tv_from(&g, zero);
            CU_ASSERT(alig_solver_step(s, 0.3, g.p) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step_size(s) == 0.0);
            CU_ASSERT(alig_solver_step_size_unclipped(s) == 0.0);
            tv_to(&x, w);
            CU_ASSERT(isfinite(w[0]) && isfinite(w[1]));
            const double want[2][2] = { { -0.355, -0.71 }, { 0.05, 0.1 } };
            CHECK_CLOSE(w[0], want[adj][0], 0, vec_atol(dt) + 1e-15, "adjusted=%d w_2[0]", adj);
            CHECK_CLOSE(w[1], want[adj][1], 0, vec_atol(dt) + 1e-15, "adjusted=%d w_2[1]", adj);
            tv_free(&x);
            tv_free(&g);
            alig_solver_free(s);
        }
    }
}

/* g = 0 with δ > 0 (the official semantics): γ = ℓ/δ clipped at η, the iterate does not move. */
static void test_guard_zero_grad_delta(void)
{
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        const double etas[2] = { INFINITY, 0.3 }, want[2] = { 0.5 / 1e-5, 0.3 };
        for (int e = 0; e < 2; e++) {
            alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
            p.eta = etas[e];
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, dt, 2, &p) == ALIG_SUCCESS);
            tvec x = tv_alloc(dt, 2), g = tv_alloc(dt, 2);
            double w[2] = { 1.0, 2.0 }, zero[2] = { 0.0, 0.0 }, after[2];
            tv_from(&x, w);
            tv_from(&g, zero);
            CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step(s, 0.5, g.p) == ALIG_SUCCESS);
            CHECK_CLOSE(alig_solver_step_size(s), want[e], 1e-14, 0, "g=0 delta>0 gamma");
            CHECK_CLOSE(alig_solver_step_size_unclipped(s), 0.5 / 1e-5, 1e-14, 0, "g=0 delta>0 unclipped");
            tv_to(&x, after);
            CU_ASSERT(after[0] == 1.0 && after[1] == 2.0);
            tv_free(&x);
            tv_free(&g);
            alig_solver_free(s);
        }
    }
}

/* ℓ < B gives γ = 0, never an ascent step (docs/optimizers.md); likewise for the other
 * Polyak-type rules when ℓ < f⋆ (Polyak, SPS) or ℓ < B (APROX). */
static void test_guard_loss_below_bound(void)
{
    alig_params_alig pa = ALIG_PARAMS_ALIG_DEFAULT;
    pa.lower_bound = 1.0;
    pa.eta = 10.0;
    alig_params_polyak pp = ALIG_PARAMS_POLYAK_DEFAULT;
    pp.f_star = 1.0;
    alig_params_aprox px = ALIG_PARAMS_APROX_DEFAULT;
    px.lower_bound = 1.0;
    alig_params_sps ps = ALIG_PARAMS_SPS_DEFAULT;
    ps.f_star = 1.0;
    const alig_solver_type *types[4] = { alig_solver_alig, alig_solver_polyak, alig_solver_aprox, alig_solver_sps };
    const void *params[4] = { &pa, &pp, &px, &ps };
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        for (int m = 0; m < 4; m++) {
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, types[m], dt, 2, params[m]) == ALIG_SUCCESS);
            tvec x = tv_alloc(dt, 2), g = tv_alloc(dt, 2);
            double w[2] = { 1.0, 2.0 }, after[2];
            tv_from(&x, w);
            tv_from(&g, w);
            CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step(s, 0.5, g.p) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step_size(s) == 0.0);
            CU_ASSERT(alig_solver_step_size_unclipped(s) < 0.0);   /* reported, but not used */
            tv_to(&x, after);
            if (!(after[0] == 1.0 && after[1] == 2.0)) printf("\n    %s moved below its bound\n", types[m]->name);
            CU_ASSERT(after[0] == 1.0 && after[1] == 2.0);
            tv_free(&x);
            tv_free(&g);
            alig_solver_free(s);
        }
    }
}

/* ================================================= invalid parameters, status */

enum { PK_DOUBLE, PK_INT };
typedef struct { size_t off; int kind; double v; } field_set;
typedef struct {
    const char *what;
    const alig_solver_type *const *type;
    field_set f[3];             /* applied in order; off == SIZE_MAX ends the list */
    alig_status want;
} bad_case;

#define END { SIZE_MAX, 0, 0 }
#define FD(T, field, val) { offsetof(T, field), PK_DOUBLE, (val) }
#define FI(T, field, val) { offsetof(T, field), PK_INT, (val) }

static const bad_case bad_cases[] = {
    { "alig eta=0", &alig_solver_alig, { FD(alig_params_alig, eta, 0.0), END }, ALIG_EBADETA },
    { "alig eta<0", &alig_solver_alig, { FD(alig_params_alig, eta, -1.0), END }, ALIG_EBADETA },
    { "alig eta=-inf", &alig_solver_alig, { FD(alig_params_alig, eta, -INFINITY), END }, ALIG_EBADETA },
    { "alig eta=nan", &alig_solver_alig, { FD(alig_params_alig, eta, NAN), END }, ALIG_EBADETA },
    { "alig delta<0", &alig_solver_alig, { FD(alig_params_alig, delta, -1e-5), END }, ALIG_EBADDELTA },
    { "alig delta=nan", &alig_solver_alig, { FD(alig_params_alig, delta, NAN), END }, ALIG_EBADDELTA },
    { "alig delta=inf", &alig_solver_alig, { FD(alig_params_alig, delta, INFINITY), END }, ALIG_EBADDELTA },
    { "alig B=inf", &alig_solver_alig, { FD(alig_params_alig, lower_bound, INFINITY), END }, ALIG_EBADBOUND },
    { "alig B=nan", &alig_solver_alig, { FD(alig_params_alig, lower_bound, NAN), END }, ALIG_EBADBOUND },
    { "alig momentum<0", &alig_solver_alig, { FD(alig_params_alig, momentum, -0.1), END }, ALIG_EBADMOMENTUM },
    { "alig momentum=nan", &alig_solver_alig, { FD(alig_params_alig, momentum, NAN), END }, ALIG_EBADMOMENTUM },
    { "alig momentum=inf", &alig_solver_alig, { FD(alig_params_alig, momentum, INFINITY), END }, ALIG_EBADMOMENTUM },

    { "polyak f*=nan", &alig_solver_polyak, { FD(alig_params_polyak, f_star, NAN), END }, ALIG_EBADBOUND },
    { "polyak f*=-inf", &alig_solver_polyak, { FD(alig_params_polyak, f_star, -INFINITY), END }, ALIG_EBADBOUND },
    { "polyak relax=0", &alig_solver_polyak, { FD(alig_params_polyak, relax, 0.0), END }, ALIG_EBADRELAX },
    { "polyak relax=2", &alig_solver_polyak, { FD(alig_params_polyak, relax, 2.0), END }, ALIG_EBADRELAX },
    { "polyak relax=nan", &alig_solver_polyak, { FD(alig_params_polyak, relax, NAN), END }, ALIG_EBADRELAX },

    { "aprox lr=0", &alig_solver_aprox, { FD(alig_params_aprox, lr, 0.0), END }, ALIG_EBADLR },
    { "aprox lr=inf", &alig_solver_aprox, { FD(alig_params_aprox, lr, INFINITY), END }, ALIG_EBADLR },
    { "aprox lr=nan", &alig_solver_aprox, { FD(alig_params_aprox, lr, NAN), END }, ALIG_EBADLR },
    { "aprox decay<0", &alig_solver_aprox, { FD(alig_params_aprox, decay, -0.1), END }, ALIG_EBADDECAY },
    { "aprox decay>1", &alig_solver_aprox, { FD(alig_params_aprox, decay, 1.5), END }, ALIG_EBADDECAY },
    { "aprox decay=nan", &alig_solver_aprox, { FD(alig_params_aprox, decay, NAN), END }, ALIG_EBADDECAY },
    { "aprox B=inf", &alig_solver_aprox, { FD(alig_params_aprox, lower_bound, INFINITY), END }, ALIG_EBADBOUND },

    { "sgd lr=0", &alig_solver_sgd, { FD(alig_params_sgd, lr, 0.0), END }, ALIG_EBADLR },
    { "sgd lr<0", &alig_solver_sgd, { FD(alig_params_sgd, lr, -0.1), END }, ALIG_EBADLR },
    { "sgd lr=nan", &alig_solver_sgd, { FD(alig_params_sgd, lr, NAN), END }, ALIG_EBADLR },
    { "sgd schedule=4", &alig_solver_sgd, { FI(alig_params_sgd, schedule, 4), END }, ALIG_EBADSCHEDULE },
    { "sgd schedule=-1", &alig_solver_sgd, { FI(alig_params_sgd, schedule, -1), END }, ALIG_EBADSCHEDULE },
    { "sgd factor=0", &alig_solver_sgd, { FD(alig_params_sgd, factor, 0.0), END }, ALIG_EBADDECAY },
    { "sgd factor>1", &alig_solver_sgd, { FD(alig_params_sgd, factor, 1.5), END }, ALIG_EBADDECAY },
    { "sgd momentum<0", &alig_solver_sgd, { FD(alig_params_sgd, momentum, -0.5), END }, ALIG_EBADMOMENTUM },
    { "sgd momentum=nan", &alig_solver_sgd, { FD(alig_params_sgd, momentum, NAN), END }, ALIG_EBADMOMENTUM },
    { "sgd dampening<0", &alig_solver_sgd, { FD(alig_params_sgd, dampening, -0.1), END }, ALIG_EBADDAMPENING },
    { "sgd dampening>1", &alig_solver_sgd, { FD(alig_params_sgd, dampening, 1.1), END }, ALIG_EBADDAMPENING },
    { "sgd nesterov without momentum", &alig_solver_sgd, { FI(alig_params_sgd, nesterov, 1), END }, ALIG_EBADDAMPENING },
    { "sgd nesterov with dampening", &alig_solver_sgd,
      { FI(alig_params_sgd, nesterov, 1), FD(alig_params_sgd, momentum, 0.9), FD(alig_params_sgd, dampening, 0.1) },
      ALIG_EBADDAMPENING },
    { "sgd weight decay<0", &alig_solver_sgd, { FD(alig_params_sgd, weight_decay, -1e-4), END }, ALIG_EBADWEIGHTDECAY },
    { "sgd weight decay=inf", &alig_solver_sgd, { FD(alig_params_sgd, weight_decay, INFINITY), END }, ALIG_EBADWEIGHTDECAY },

    { "sps c=0", &alig_solver_sps, { FD(alig_params_sps, c, 0.0), END }, ALIG_EBADSPSC },
    { "sps c<0", &alig_solver_sps, { FD(alig_params_sps, c, -0.5), END }, ALIG_EBADSPSC },
    { "sps c=inf", &alig_solver_sps, { FD(alig_params_sps, c, INFINITY), END }, ALIG_EBADSPSC },
    { "sps c=nan", &alig_solver_sps, { FD(alig_params_sps, c, NAN), END }, ALIG_EBADSPSC },
    { "sps gamma_b=0", &alig_solver_sps, { FD(alig_params_sps, gamma_b, 0.0), END }, ALIG_EBADGAMMAB },
    { "sps gamma_b=nan", &alig_solver_sps, { FD(alig_params_sps, gamma_b, NAN), END }, ALIG_EBADGAMMAB },
    { "sps tau=1", &alig_solver_sps, { FD(alig_params_sps, tau, 1.0), END }, ALIG_EBADGAMMAB },
    { "sps batches/epoch<1", &alig_solver_sps, { FD(alig_params_sps, batches_per_epoch, 0.5), END }, ALIG_EBADGAMMAB },
    { "sps f*=inf", &alig_solver_sps, { FD(alig_params_sps, f_star, INFINITY), END }, ALIG_EBADBOUND },
    { "sps eps<0", &alig_solver_sps, { FD(alig_params_sps, eps, -1e-8), END }, ALIG_EBADEPS },
    { "sps eps=nan", &alig_solver_sps, { FD(alig_params_sps, eps, NAN), END }, ALIG_EBADEPS },
};

typedef union { max_align_t align; unsigned char b[512]; } params_buf;   /* any method's params struct */

static void apply_fields(void *params, const field_set *f, size_t nf)
{
    for (size_t i = 0; i < nf && f[i].off != SIZE_MAX; i++) {
        if (f[i].kind == PK_DOUBLE) memcpy((char *)params + f[i].off, &f[i].v, sizeof(double));
        else { int v = (int)f[i].v; memcpy((char *)params + f[i].off, &v, sizeof v); }
    }
}

/* alloc must return the field's own code, set *out to NULL and leave the heap as it was. */
static void expect_rejected(const char *what, const alig_solver_type *type, alig_dtype dt, size_t n,
                            const void *params, alig_status want)
{
    alig_solver *s = (alig_solver *)&s;            /* a non-NULL sentinel that alloc must clear */
    size_t before = heap_in_use();
    alig_status rc = alig_solver_alloc(&s, type, dt, n, params);
    size_t after = heap_in_use();
    if (rc != want) printf("\n    %s (%s): got %s, want %s\n", what, dtype_name(dt), alig_status_name(rc), alig_status_name(want));
    CU_ASSERT(rc == want);
    CU_ASSERT(s == NULL);
    if (before != after) printf("\n    %s: heap %zu -> %zu bytes\n", what, before, after);
    CU_ASSERT(before == after);
    if (rc == ALIG_SUCCESS) alig_solver_free(s);
}

static void test_invalid_params(void)
{
    for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const bad_case *b = &bad_cases[c];
        const alig_solver_type *type = *b->type;
        params_buf buf;
        CU_ASSERT_FATAL(type->params_size <= sizeof buf.b);
        memcpy(buf.b, type->params_default, type->params_size);
        apply_fields(buf.b, b->f, 3);
        for (int d = 0; d < 2; d++) expect_rejected(b->what, type, dtypes[d], 4, buf.b, b->want);
    }
    /* milestones: not increasing, repeated, negative, NaN, more than the capacity */
    const struct { size_t n; double v[2]; } ms[] = { { 2, { 20, 10 } }, { 2, { 10, 10 } }, { 1, { -1 } }, { 1, { NAN } },
                                                     { ALIG_LIST_MAX + 1, { 0 } } };
    for (size_t c = 0; c < sizeof ms / sizeof ms[0]; c++) {
        alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
        p.schedule = ALIG_SCHEDULE_MULTISTEP;
        p.milestones.n = ms[c].n;
        for (size_t i = 0; i < ALIG_LIST_MAX; i++)     /* increasing fill; the case's values first */
            p.milestones.v[i] = i < ms[c].n && i < 2 && ms[c].n <= ALIG_LIST_MAX ? ms[c].v[i] : (double)(i + 1);
        for (int d = 0; d < 2; d++) expect_rejected("sgd milestones", alig_solver_sgd, dtypes[d], 4, &p, ALIG_EBADSCHEDULE);
    }
    /* generic: n = 0, bad dtype, NULL type / out */
    for (size_t t = 0; alig_solver_types[t]; t++) {
        expect_rejected("n = 0", alig_solver_types[t], ALIG_F64, 0, NULL, ALIG_EBADLEN);
        expect_rejected("n = 0", alig_solver_types[t], ALIG_F32, 0, NULL, ALIG_EBADLEN);
        expect_rejected("dtype 7", alig_solver_types[t], (alig_dtype)7, 4, NULL, ALIG_EBADDTYPE);
        expect_rejected("dtype -1", alig_solver_types[t], (alig_dtype)-1, 4, NULL, ALIG_EBADDTYPE);
    }
    expect_rejected("NULL type", NULL, ALIG_F64, 4, NULL, ALIG_EINVAL);
    CU_ASSERT(alig_solver_alloc(NULL, alig_solver_alig, ALIG_F64, 4, NULL) == ALIG_EINVAL);

    /* the defaults (NULL params) and every base struct above are valid */
    for (size_t t = 0; alig_solver_types[t]; t++)
        for (int d = 0; d < 2; d++) {
            alig_solver *s = NULL;
            CU_ASSERT(alig_solver_alloc(&s, alig_solver_types[t], dtypes[d], 4, NULL) == ALIG_SUCCESS);
            CU_ASSERT(s != NULL);
            CU_ASSERT(strcmp(alig_solver_name(s), alig_solver_types[t]->name) == 0);
            CU_ASSERT(alig_solver_get_type(s) == alig_solver_types[t]);
            alig_solver_free(s);
        }
    alig_solver_free(NULL);
}

/* set(): radius must be > 0 (INFINITY allowed), x finite; step() before set or with NULL g. */
static void test_set_and_step_arguments(void)
{
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, dt, 3, NULL) == ALIG_SUCCESS);
        tvec x = tv_alloc(dt, 3), g = tv_alloc(dt, 3);
        double w[3] = { 1, 2, 3 };
        tv_from(&x, w);
        tv_from(&g, w);
        CU_ASSERT(alig_solver_x(s) == NULL);
        CU_ASSERT(alig_solver_step(s, 1.0, g.p) == ALIG_EINVAL);   /* not set */
        const double bad_r[4] = { 0.0, -1.0, NAN, -INFINITY };
        for (int i = 0; i < 4; i++) CU_ASSERT(alig_solver_set(s, x.p, bad_r[i]) == ALIG_EBADRADIUS);
        CU_ASSERT(alig_solver_set(s, NULL, 1.0) == ALIG_EINVAL);
        CU_ASSERT(alig_solver_set(NULL, x.p, 1.0) == ALIG_EINVAL);
        w[1] = NAN;
        tv_from(&x, w);
        CU_ASSERT(alig_solver_set(s, x.p, INFINITY) == ALIG_ENONFINITE);
        w[1] = INFINITY;
        tv_from(&x, w);
        CU_ASSERT(alig_solver_set(s, x.p, INFINITY) == ALIG_ENONFINITE);
        w[1] = 2;
        tv_from(&x, w);
        CU_ASSERT(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_x(s) == x.p);
        CU_ASSERT(isinf(alig_solver_radius(s)));
        CU_ASSERT(alig_solver_step(s, 1.0, NULL) == ALIG_EINVAL);
        CU_ASSERT(alig_solver_step(NULL, 1.0, g.p) == ALIG_EINVAL);
        CU_ASSERT(alig_solver_iter(s) == 0);
        tv_free(&x);
        tv_free(&g);
        alig_solver_free(s);
    }
}

static const int all_codes[] = {
    ALIG_SUCCESS, ALIG_CONTINUE, ALIG_EINVAL, ALIG_EBADLEN, ALIG_ENOMEM, ALIG_ENONFINITE, ALIG_EIO, ALIG_EFORMAT,
    ALIG_EUNSUPPORTED, ALIG_ENOPROG, ALIG_EBADETA, ALIG_EBADDELTA, ALIG_EBADMOMENTUM, ALIG_EBADRADIUS, ALIG_EBADLR,
    ALIG_EBADBOUND, ALIG_EBADDECAY, ALIG_EBADSCHEDULE, ALIG_EBADDAMPENING, ALIG_EBADWEIGHTDECAY, ALIG_EBADSPSC,
    ALIG_EBADGAMMAB, ALIG_EBADEPS, ALIG_EBADBETAS, ALIG_EBADRELAX, ALIG_EBADTOL, ALIG_EBADSEED, ALIG_EBADBATCH,
    ALIG_EBADDTYPE, ALIG_EBADACCUM, ALIG_EBADFRACTION, ALIG_EBADMINLOSS, ALIG_EBADTIMESCALE, ALIG_ENEGLOSS,
    ALIG_EBADPLATEAU,
};

/* Distinct codes are distinct numbers with distinct, non-empty sentences and names. */
static void test_status_strings(void)
{
    const size_t n = sizeof all_codes / sizeof all_codes[0];
    const char *unknown = alig_strerror(9999);
    CU_ASSERT(unknown != NULL && strcmp(unknown, "unknown alig status") == 0);
    CU_ASSERT(alig_strerror(-3) == unknown || strcmp(alig_strerror(-3), unknown) == 0);
    CU_ASSERT(all_codes[0] == 0);
    for (size_t i = 0; i < n; i++) {
        const char *m = alig_strerror(all_codes[i]), *nm = alig_status_name(all_codes[i]);
        CU_ASSERT(m != NULL && strlen(m) > 5 && strcmp(m, unknown) != 0);
        CU_ASSERT(nm != NULL && strncmp(nm, "ALIG_", 5) == 0 && strcmp(nm, "ALIG_UNKNOWN") != 0);
        for (size_t j = 0; j < i; j++) {
            CU_ASSERT(all_codes[i] != all_codes[j]);
            CU_ASSERT(strcmp(m, alig_strerror(all_codes[j])) != 0);
            CU_ASSERT(strcmp(nm, alig_status_name(all_codes[j])) != 0);
        }
    }
    CU_ASSERT(strcmp(alig_status_name(ALIG_EBADETA), "ALIG_EBADETA") == 0);
}

/* ============================================== non-finite loss or gradient */

/* Each method with a momentum-carrying variant where it has one. */
static alig_params_alig nf_alig(void) { alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT; p.momentum = 0.9; return p; }
static alig_params_sgd nf_sgd(void) { alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT; p.momentum = 0.9; return p; }
static alig_params_sps nf_sps(void) { alig_params_sps p = ALIG_PARAMS_SPS_DEFAULT; p.smooth = 1; return p; }

static void test_nonfinite(void)
{
    alig_params_alig pa = nf_alig();
    alig_params_sgd pg = nf_sgd();
    alig_params_sps ps = nf_sps();
    const alig_solver_type *types[5] = { alig_solver_alig, alig_solver_polyak, alig_solver_aprox, alig_solver_sgd,
                                         alig_solver_sps };
    const void *params[5] = { &pa, NULL, NULL, &pg, &ps };
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        for (int m = 0; m < 5; m++) {
            alig_solver *s = NULL, *fresh = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, types[m], dt, 3, params[m]) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_alloc(&fresh, types[m], dt, 3, params[m]) == ALIG_SUCCESS);
            tvec x = tv_alloc(dt, 3), y = tv_alloc(dt, 3), g = tv_alloc(dt, 3);
            double w[3] = { 0.5, -1.0, 2.0 }, gd[3] = { 1.0, -2.0, 0.5 };
            tv_from(&x, w);
            tv_from(&y, w);
            CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_set(fresh, y.p, INFINITY) == ALIG_SUCCESS);
            const double bad_loss[3] = { NAN, INFINITY, -INFINITY };
            tv_from(&g, gd);
            for (int i = 0; i < 3; i++) CU_ASSERT(alig_solver_step(s, bad_loss[i], g.p) == ALIG_ENONFINITE);
            const double bad_g[2] = { NAN, INFINITY };
            for (int i = 0; i < 2; i++)
                for (int pos = 0; pos < 3; pos++) {
                    double gb[3] = { gd[0], gd[1], gd[2] };
                    gb[pos] = pos == 1 ? -bad_g[i] : bad_g[i];
                    tv_from(&g, gb);
                    CU_ASSERT(alig_solver_step(s, 1.0, g.p) == ALIG_ENONFINITE);
                }
            CU_ASSERT(memcmp(x.p, y.p, tv_bytes(&x)) == 0);   /* x untouched */
            CU_ASSERT(alig_solver_iter(s) == 0);
            /* and the state too: the next valid step equals a fresh solver's first step */
            tv_from(&g, gd);
            CU_ASSERT(alig_solver_step(s, 1.0, g.p) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step(fresh, 1.0, g.p) == ALIG_SUCCESS);
            CU_ASSERT(memcmp(x.p, y.p, tv_bytes(&x)) == 0);
            CU_ASSERT(alig_solver_step(s, 0.7, g.p) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step(fresh, 0.7, g.p) == ALIG_SUCCESS);
            CU_ASSERT(memcmp(x.p, y.p, tv_bytes(&x)) == 0);
            CU_ASSERT(alig_solver_iter(s) == 2);
            tv_free(&x);
            tv_free(&y);
            tv_free(&g);
            alig_solver_free(s);
            alig_solver_free(fresh);
        }
    }
}

/* ====================================== methods vs independent re-implementations */

/* Oracle: two "samples" ℓ_j(w) = ½(w − w⋆)ᵀH_j(w − w⋆) + c₀ with SPD, non-diagonal H_j; step t
 * uses sample t mod 2, so the step rules see losses and gradients of varying curvature. */
#define QD 3
static const double qH[2][QD][QD] = {
    { { 2.0, 0.5, 0.0 }, { 0.5, 1.0, 0.3 }, { 0.0, 0.3, 0.5 } },
    { { 1.2, -0.4, 0.2 }, { -0.4, 0.8, 0.0 }, { 0.2, 0.0, 1.5 } },
};
static const double qwstar[QD] = { 0.3, -0.2, 0.1 };
static const double qw0[QD] = { 1.0, 2.0, -1.5 };

static double q_oracle(size_t t, double c0, const double *w, double *g)
{
    const double (*H)[QD] = qH[t % 2];
    double d[QD], f = 0.0;
    for (int i = 0; i < QD; i++) d[i] = w[i] - qwstar[i];
    for (int i = 0; i < QD; i++) {
        double s = 0.0;
        for (int j = 0; j < QD; j++) s += H[i][j] * d[j];
        g[i] = s;
        f += 0.5 * d[i] * s;
    }
    return f + c0;
}

typedef struct {
    double w[QD], v[QD];    /* iterate, momentum buffer */
    size_t k;               /* steps taken */
    double prev;            /* SPS: previous step */
    double step, gu;        /* last step sizes */
    int branch[2];          /* how often each side of a min() was taken */
} ref_state;

static double ref_sumsq(const double *g) { double s = 0.0; for (int i = 0; i < QD; i++) s += g[i] * g[i]; return s; }

static void ref_project(double *w, double r)
{
    if (!(r < INFINITY)) return;
    double nrm = sqrt(ref_sumsq(w));
    if (nrm > r) for (int i = 0; i < QD; i++) w[i] *= r / nrm;
}

/* ALI-G, in the official code's step order: G, γ = (ℓ−B)/(G+δ) (0 if G+δ = 0 or ℓ < B), min(γ, η),
 * w −= γg, momentum, projection. */
static void ref_alig(ref_state *r, const alig_params_alig *p, double loss, const double *g, double radius)
{
    double G = ref_sumsq(g);
    double gu = G + p->delta > 0.0 ? (loss - p->lower_bound) / (G + p->delta) : 0.0;
    double gam = gu > 0.0 ? gu : 0.0;
    if (gam > p->eta) { gam = p->eta; r->branch[0]++; } else r->branch[1]++;
    for (int i = 0; i < QD; i++) r->w[i] -= gam * g[i];
    if (p->momentum > 0.0) {
        for (int i = 0; i < QD; i++) {
            if (p->adjusted) { r->v[i] = p->momentum * r->v[i] - g[i]; r->w[i] += gam * p->momentum * r->v[i]; }
            else { r->v[i] = p->momentum * r->v[i] - gam * g[i]; r->w[i] += p->momentum * r->v[i]; }
        }
    }
    ref_project(r->w, radius);
    r->step = gam;
    r->gu = gu;
}

/* Polyak (Polyak 1987): γ = r(f − f⋆)/‖∇f‖², 0 if ∇f = 0 or f < f⋆. */
static void ref_polyak(ref_state *r, const alig_params_polyak *p, double loss, const double *g, double radius)
{
    double G = ref_sumsq(g);
    double gu = G > 0.0 ? p->relax * (loss - p->f_star) / G : 0.0;
    double gam = gu > 0.0 ? gu : 0.0;
    for (int i = 0; i < QD; i++) r->w[i] -= gam * g[i];
    ref_project(r->w, radius);
    r->step = gam;
    r->gu = gu;
}

/* APROX truncated (Asi & Duchi, PNAS 2019): α_k = α₀k^−β (k = 1, 2, ...), γ = min(α_k, (ℓ − B)/‖g‖²). */
static void ref_aprox(ref_state *r, const alig_params_aprox *p, double loss, const double *g, double radius)
{
    r->k++;
    double alpha = p->lr / pow((double)r->k, p->decay);
    double G = ref_sumsq(g);
    double gu = G > 0.0 ? (loss - p->lower_bound) / G : 0.0;
    double gam = gu > 0.0 ? gu : 0.0;
    if (gam > alpha) { gam = alpha; r->branch[0]++; } else r->branch[1]++;
    for (int i = 0; i < QD; i++) r->w[i] -= gam * g[i];
    ref_project(r->w, radius);
    r->step = gam;
    r->gu = gu;
}

/* SPS / SPSmax (Loizou et al., AISTATS 2021), smooth cap τ^(1/n_b)·γ_prev, γ_prev initialised to γ_b
 * (1 if γ_b = ∞); a zero step (‖g‖ < 1e-8 or ℓ <= f⋆) leaves γ_prev alone. */
static void ref_sps(ref_state *r, const alig_params_sps *p, double loss, const double *g, double radius)
{
    if (r->k++ == 0) r->prev = isinf(p->gamma_b) ? 1.0 : p->gamma_b;
    double G = ref_sumsq(g);
    if (sqrt(G) < 1e-8) { r->step = r->gu = 0.0; return; }
    double gu = (loss - p->f_star) / (p->c * G + p->eps);
    double gam = gu > 0.0 ? gu : 0.0;
    double cap = p->smooth ? pow(p->tau, 1.0 / p->batches_per_epoch) * r->prev : p->gamma_b;
    if (gam > cap) { gam = cap; r->branch[0]++; } else r->branch[1]++;
    if (p->smooth && gam > 0.0) r->prev = gam;
    for (int i = 0; i < QD; i++) r->w[i] -= gam * g[i];
    ref_project(r->w, radius);
    r->step = gam;
    r->gu = gu;
}

/* SGD, torch.optim.SGD convention, t = k + 1. */
static size_t ref_sgd_passed(const alig_params_sgd *p, size_t k)
{
    size_t passed = 0;
    for (size_t i = 0; i < p->milestones.n; i++) passed += p->milestones.v[i] <= (double)k;
    return passed;
}

static double ref_sgd_lr(const alig_params_sgd *p, size_t k)
{
    if (p->schedule == ALIG_SCHEDULE_SQRT) return p->lr / sqrt((double)(k + 1));
    if (p->schedule == ALIG_SCHEDULE_MULTISTEP) return p->lr * pow(p->factor, (double)ref_sgd_passed(p, k));
    return p->lr;
}

static void ref_sgd(ref_state *r, const alig_params_sgd *p, double loss, const double *g, double radius)
{
    (void)loss;
    double lr = ref_sgd_lr(p, r->k);
    /* the WRN code's restart: a fresh buffer whenever the learning rate has just dropped */
    const int fresh = r->k == 0 || (p->reset_momentum && p->schedule == ALIG_SCHEDULE_MULTISTEP &&
                                    ref_sgd_passed(p, r->k) > ref_sgd_passed(p, r->k - 1));
    for (int i = 0; i < QD; i++) {
        double d = g[i] + p->weight_decay * r->w[i];
        if (p->momentum != 0.0) {
            r->v[i] = fresh ? d : p->momentum * r->v[i] + (1.0 - p->dampening) * d;
            d = p->nesterov ? d + p->momentum * r->v[i] : r->v[i];
        }
        r->w[i] -= lr * d;
    }
    ref_project(r->w, radius);
    r->k++;
    r->step = r->gu = lr;
}

static void ref_step(const alig_solver_type *type, const void *params, ref_state *r, double loss, const double *g,
                     double radius)
{
    if (type == alig_solver_alig) ref_alig(r, params, loss, g, radius);
    else if (type == alig_solver_polyak) ref_polyak(r, params, loss, g, radius);
    else if (type == alig_solver_aprox) ref_aprox(r, params, loss, g, radius);
    else if (type == alig_solver_sps) ref_sps(r, params, loss, g, radius);
    else ref_sgd(r, params, loss, g, radius);
}

typedef struct {
    const char *what;
    const alig_solver_type *const *type;
    const void *params;
    double c0;              /* loss offset: the loss at w⋆ */
    double radius;
    size_t steps;
    int need_both;          /* 1: both sides of the method's min() must occur (non-triviality) */
    const size_t *zero_at;  /* steps (0-based, SIZE_MAX-terminated) fed g = 0, ℓ = 0.3 */
} cmp_case;

static const alig_params_alig cp_alig_mom = { .eta = 0.4, .delta = 1e-5, .lower_bound = 0.0, .momentum = 0.9, .adjusted = 0 };
static const alig_params_alig cp_alig_adj = { .eta = INFINITY, .delta = 1e-3, .lower_bound = 0.05, .momentum = 0.5, .adjusted = 1 };
static const alig_params_alig cp_alig_plain = { .eta = 0.33, .delta = 0.0, .lower_bound = 0.0, .momentum = 0.0, .adjusted = 0 };
static const alig_params_polyak cp_polyak1 = { .f_star = 0.0, .relax = 1.0 };
static const alig_params_polyak cp_polyak_r = { .f_star = 0.25, .relax = 1.5 };
static const alig_params_aprox cp_aprox = { .lr = 0.9, .decay = 0.5, .lower_bound = 0.0 };
static const alig_params_aprox cp_aprox_b = { .lr = 2.0, .decay = 1.0, .lower_bound = 0.25 };
static const alig_params_sps cp_sps = { .c = 0.5, .gamma_b = INFINITY, .f_star = 0.0, .eps = 0.0, .smooth = 0, .tau = 2.0,
                                        .batches_per_epoch = 1.0 };
static const alig_params_sps cp_spsmax = { .c = 0.5, .gamma_b = 0.6, .f_star = 0.25, .eps = 0.01, .smooth = 0, .tau = 2.0,
                                           .batches_per_epoch = 1.0 };
static const alig_params_sps cp_sps_smooth = { .c = 0.5, .gamma_b = 0.05, .f_star = 0.0, .eps = 0.0, .smooth = 1, .tau = 4.0,
                                               .batches_per_epoch = 2.0 };
static const alig_params_sgd cp_sgd_const = { .lr = 0.3, .schedule = ALIG_SCHEDULE_CONSTANT, .milestones = { 0, { 0 } },
                                              .factor = 0.1, .momentum = 0.0, .dampening = 0.0, .nesterov = 0,
                                              .weight_decay = 0.0 };
static const alig_params_sgd cp_sgd_sqrt_wd = { .lr = 0.5, .schedule = ALIG_SCHEDULE_SQRT, .milestones = { 0, { 0 } },
                                                .factor = 0.1, .momentum = 0.0, .dampening = 0.0, .nesterov = 0,
                                                .weight_decay = 0.05 };
static const alig_params_sgd cp_sgd_heavy = { .lr = 0.2, .schedule = ALIG_SCHEDULE_MULTISTEP, .milestones = { 2, { 2, 4 } },
                                              .factor = 0.5, .momentum = 0.9, .dampening = 0.0, .nesterov = 0,
                                              .weight_decay = 0.0 };
static const alig_params_sgd cp_sgd_nesterov = { .lr = 0.15, .schedule = ALIG_SCHEDULE_CONSTANT, .milestones = { 0, { 0 } },
                                                 .factor = 0.1, .momentum = 0.8, .dampening = 0.0, .nesterov = 1,
                                                 .weight_decay = 0.01 };
static const alig_params_sgd cp_sgd_damp = { .lr = 0.25, .schedule = ALIG_SCHEDULE_MULTISTEP, .milestones = { 1, { 3 } },
                                             .factor = 0.2, .momentum = 0.9, .dampening = 0.3, .nesterov = 0,
                                             .weight_decay = 0.02 };
static const alig_params_sgd cp_sgd_reset = { .lr = 0.2, .schedule = ALIG_SCHEDULE_MULTISTEP, .milestones = { 2, { 2, 4.5 } },
                                              .factor = 0.5, .momentum = 0.9, .dampening = 0.1, .nesterov = 0,
                                              .weight_decay = 0.01, .reset_momentum = 1 };
static const alig_params_sgd cp_sgd_reset_nesterov = { .lr = 0.2, .schedule = ALIG_SCHEDULE_MULTISTEP,
                                                       .milestones = { 1, { 3 } }, .factor = 0.2, .momentum = 0.9,
                                                       .dampening = 0.0, .nesterov = 1, .weight_decay = 0.0,
                                                       .reset_momentum = 1 };
static const size_t zero_mid[] = { 2, SIZE_MAX };
static const size_t zero_first[] = { 0, 3, SIZE_MAX };

static const cmp_case cmp_cases[] = {
    { "alig standard momentum, eta 0.4, ball", &alig_solver_alig, &cp_alig_mom, 0.0, 1.5, 8, 1, NULL },
    { "alig adjusted momentum, B 0.05", &alig_solver_alig, &cp_alig_adj, 0.05, INFINITY, 8, 0, NULL },
    { "alig plain, delta 0, eta 0.33", &alig_solver_alig, &cp_alig_plain, 0.0, INFINITY, 8, 1, NULL },
    { "polyak", &alig_solver_polyak, &cp_polyak1, 0.0, INFINITY, 8, 0, NULL },
    { "polyak relax 1.5, f* 0.25, ball", &alig_solver_polyak, &cp_polyak_r, 0.25, 1.2, 8, 0, NULL },
    { "aprox", &alig_solver_aprox, &cp_aprox, 0.0, INFINITY, 10, 1, NULL },
    { "aprox B 0.25, decay 1", &alig_solver_aprox, &cp_aprox_b, 0.25, INFINITY, 10, 1, NULL },
    { "sps", &alig_solver_sps, &cp_sps, 0.0, INFINITY, 8, 0, NULL },
    { "spsmax eps 0.01, f* 0.25", &alig_solver_sps, &cp_spsmax, 0.25, INFINITY, 8, 1, NULL },
    { "sps smooth", &alig_solver_sps, &cp_sps_smooth, 0.0, INFINITY, 10, 1, NULL },
    { "sps smooth, zero gradient mid-run", &alig_solver_sps, &cp_sps_smooth, 0.0, INFINITY, 10, 1, zero_mid },
    { "sgd constant", &alig_solver_sgd, &cp_sgd_const, 0.0, INFINITY, 8, 0, NULL },
    { "sgd sqrt, weight decay", &alig_solver_sgd, &cp_sgd_sqrt_wd, 0.0, INFINITY, 8, 0, NULL },
    { "sgd heavy ball, multistep", &alig_solver_sgd, &cp_sgd_heavy, 0.0, INFINITY, 8, 0, NULL },
    { "sgd nesterov, weight decay", &alig_solver_sgd, &cp_sgd_nesterov, 0.0, 2.0, 8, 0, NULL },
    { "sgd dampening, weight decay, multistep", &alig_solver_sgd, &cp_sgd_damp, 0.0, INFINITY, 8, 0, NULL },
    { "sgd heavy ball, zero gradients", &alig_solver_sgd, &cp_sgd_heavy, 0.0, INFINITY, 8, 0, zero_first },
    { "sgd multistep, momentum reset (milestones 2, 4.5)", &alig_solver_sgd, &cp_sgd_reset, 0.0, INFINITY, 8, 0, NULL },
    { "sgd nesterov multistep, momentum reset", &alig_solver_sgd, &cp_sgd_reset_nesterov, 0.0, INFINITY, 8, 0, NULL },
};

static int is_zero_step(const cmp_case *c, size_t t)
{
    for (const size_t *z = c->zero_at; z && *z != SIZE_MAX; z++)
        if (*z == t) return 1;
    return 0;
}

/* Run the solver (dtype dt) and the reference side by side; each sees the oracle at its own
 * iterate. Float tolerances: a few unit roundoffs (6e-8) per step, amplified by at most a
 * few steps of the (contracting) dynamics. */
static void run_cmp(const cmp_case *c, alig_dtype dt)
{
    const alig_solver_type *type = *c->type;
    const double rt = dt == ALIG_F64 ? 1e-12 : 2e-5, at = dt == ALIG_F64 ? 1e-13 : 2e-6;
    alig_solver *s = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&s, type, dt, QD, c->params) == ALIG_SUCCESS);
    tvec x = tv_alloc(dt, QD), g = tv_alloc(dt, QD);
    ref_state r;
    memset(&r, 0, sizeof r);
    memcpy(r.w, qw0, sizeof qw0);
    tv_from(&x, qw0);
    CU_ASSERT_FATAL(alig_solver_set(s, x.p, c->radius) == ALIG_SUCCESS);
    ref_project(r.w, c->radius);
    int moved = 0;
    for (size_t t = 0; t < c->steps; t++) {
        double w[QD], gs[QD], gr[QD], ls, lr;
        tv_to(&x, w);
        if (is_zero_step(c, t)) {
            ls = lr = 0.3 + c->c0;
            memset(gs, 0, sizeof gs);
            memset(gr, 0, sizeof gr);
        } else {
            ls = q_oracle(t, c->c0, w, gs);
            lr = q_oracle(t, c->c0, r.w, gr);
        }
        tv_from(&g, gs);
        CU_ASSERT_FATAL(alig_solver_step(s, ls, g.p) == ALIG_SUCCESS);
        ref_step(type, c->params, &r, lr, gr, c->radius);
        tv_to(&x, w);
        for (int i = 0; i < QD; i++) {
            CHECK_CLOSE(w[i], r.w[i], rt, at, "%s %s w_%zu[%d]", c->what, dtype_name(dt), t + 1, i);
            moved |= w[i] != qw0[i];
        }
        CHECK_CLOSE(alig_solver_step_size(s), r.step, rt, at, "%s %s step_%zu", c->what, dtype_name(dt), t + 1);
        CHECK_CLOSE(alig_solver_step_size_unclipped(s), r.gu, rt, at, "%s %s unclipped_%zu", c->what, dtype_name(dt),
                    t + 1);
        if (is_zero_step(c, t) && type != alig_solver_sgd) CU_ASSERT(alig_solver_step_size(s) == 0.0);
    }
    CU_ASSERT(moved);
    if (c->need_both) {
        if (!(r.branch[0] > 0 && r.branch[1] > 0))
            printf("\n    %s: min() branches taken %d / %d times\n", c->what, r.branch[0], r.branch[1]);
        CU_ASSERT(r.branch[0] > 0 && r.branch[1] > 0);
    }
    tv_free(&x);
    tv_free(&g);
    alig_solver_free(s);
}

static void test_methods_vs_reference(void)
{
    for (size_t c = 0; c < sizeof cmp_cases / sizeof cmp_cases[0]; c++)
        for (int d = 0; d < 2; d++) run_cmp(&cmp_cases[c], dtypes[d]);
}

/* SGD schedules, hand-derived: constant α₀; sqrt α₀/√(k+1); multistep with milestones {2, 4},
 * factor ½: α₀, α₀, α₀/2, α₀/2, α₀/4, α₀/4. */
static void test_sgd_schedules(void)
{
    const double a0 = 0.4;
    const double want[3][6] = {
        { a0, a0, a0, a0, a0, a0 },
        { a0, a0 / sqrt(2.0), a0 / sqrt(3.0), a0 / 2.0, a0 / sqrt(5.0), a0 / sqrt(6.0) },
        { a0, a0, a0 / 2, a0 / 2, a0 / 4, a0 / 4 },
    };
    for (int d = 0; d < 2; d++)
        for (int sch = 0; sch < 3; sch++) {
            alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
            p.lr = a0;
            p.schedule = sch;
            p.milestones.n = 2;
            p.milestones.v[0] = 2;
            p.milestones.v[1] = 4;
            p.factor = 0.5;
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, dtypes[d], 1, &p) == ALIG_SUCCESS);
            tvec x = tv_alloc(dtypes[d], 1), g = tv_alloc(dtypes[d], 1);
            double one = 1.0;
            tv_from(&g, &one);
            for (int rep = 0; rep < 2; rep++) {      /* set() restarts the schedule */
                CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
                for (int k = 0; k < 6; k++) {
                    CU_ASSERT(alig_solver_step(s, 1.0, g.p) == ALIG_SUCCESS);
                    CHECK_CLOSE(alig_solver_step_size(s), want[sch][k], 1e-15, 0, "schedule %d step %d", sch, k);
                }
            }
            tv_free(&x);
            tv_free(&g);
            alig_solver_free(s);
        }
}

/* First step with momentum: the buffer is initialised to the gradient itself (no dampening),
 * so w₁ = w₀ − α g₀ even with τ = 0.5; set() resets the buffer and the first-step rule. */
static void test_sgd_first_step(void)
{
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
        p.lr = 0.1;
        p.momentum = 0.9;
        p.dampening = 0.5;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, dt, 2, &p) == ALIG_SUCCESS);
        tvec x = tv_alloc(dt, 2), g = tv_alloc(dt, 2);
        double traj[2][3][2];
        for (int rep = 0; rep < 2; rep++) {
            double w[2] = { 1.0, -1.0 }, gd[2] = { 2.0, 4.0 };
            tv_from(&x, w);
            CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
            for (int k = 0; k < 3; k++) {
                tv_from(&g, gd);
                CU_ASSERT(alig_solver_step(s, 1.0, g.p) == ALIG_SUCCESS);
                tv_to(&x, traj[rep][k]);
            }
        }
        /* w₁ = (1, −1) − 0.1·(2, 4); b₁ = (2, 4); b₂ = 0.9b₁ + 0.5g = (2.8, 5.6); w₂ = w₁ − 0.1b₂ */
        const double at = dt == ALIG_F64 ? 1e-14 : 1e-6;
        CHECK_CLOSE(traj[0][0][0], 0.8, 0, at, "sgd first step w1[0]");
        CHECK_CLOSE(traj[0][0][1], -1.4, 0, at, "sgd first step w1[1]");
        CHECK_CLOSE(traj[0][1][0], 0.52, 0, at, "sgd w2[0]");
        CHECK_CLOSE(traj[0][1][1], -1.96, 0, at, "sgd w2[1]");
        CU_ASSERT(memcmp(traj[0], traj[1], sizeof traj[0]) == 0);
        tv_free(&x);
        tv_free(&g);
        alig_solver_free(s);
    }
}

/* Momentum reset at a milestone, by hand: 1-D, w₀ = 0, g = 1 every step, lr 1, μ = 0.5,
 * milestone 2, factor 0.5. Without reset b = 1, 1.5, 1.75, 1.875 and w = −1, −2.5, −3.375,
 * −4.3125; with reset the buffer restarts at step 2: b = 1, 1.5, 1, 1.5 and w = −1, −2.5, −3,
 * −3.75 (the learning rate is 0.5 from step 2 on in both). */
static void test_sgd_reset_momentum(void)
{
    const double want[2][4] = { { -1.0, -2.5, -3.375, -4.3125 }, { -1.0, -2.5, -3.0, -3.75 } };
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        for (int reset = 0; reset < 2; reset++) {
            alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
            p.lr = 1.0;
            p.momentum = 0.5;
            p.schedule = ALIG_SCHEDULE_MULTISTEP;
            p.milestones.n = 1;
            p.milestones.v[0] = 2.0;
            p.factor = 0.5;
            p.reset_momentum = reset;
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, dt, 1, &p) == ALIG_SUCCESS);
            tvec x = tv_alloc(dt, 1), g = tv_alloc(dt, 1);
            double w = 0.0, one = 1.0;
            tv_from(&x, &w);
            CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
            for (int k = 0; k < 4; k++) {
                tv_from(&g, &one);
                CU_ASSERT(alig_solver_step(s, 1.0, g.p) == ALIG_SUCCESS);
                tv_to(&x, &w);
                CHECK_CLOSE(w, want[reset][k], 0, 1e-6, reset ? "sgd reset-momentum w" : "sgd no reset w");
            }
            tv_free(&x);
            tv_free(&g);
            alig_solver_free(s);
        }
    }
}

/* SPS smooth cap after guard steps, hand-derived on a 1-D loss ℓ(w) = ½w², g = w, c = 0.5,
 * f⋆ = 0, γ_b = 0.1 (initial γ_prev), τ = 4, n_b = 2 (cap ×2 per step); the Polyak/c step
 * ℓ/(c g²) is 1 everywhere. Sequence: γ₁ = 0.2; zero gradient (γ = 0); loss = f⋆ with g ≠ 0
 * (γ = 0); then γ = 0.4, 0.8, 1, i.e. neither guard step froze the cap. */
static void test_sps_smooth_no_freeze(void)
{
    for (int d = 0; d < 2; d++) {
        alig_dtype dt = dtypes[d];
        alig_params_sps p = ALIG_PARAMS_SPS_DEFAULT;
        p.smooth = 1;
        p.gamma_b = 0.1;
        p.tau = 4.0;
        p.batches_per_epoch = 2.0;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sps, dt, 1, &p) == ALIG_SUCCESS);
        tvec x = tv_alloc(dt, 1), g = tv_alloc(dt, 1);
        double w = 1.0, zero = 0.0;
        tv_from(&x, &w);
        CU_ASSERT_FATAL(alig_solver_set(s, x.p, INFINITY) == ALIG_SUCCESS);
        const double want[6] = { 0.2, 0.0, 0.0, 0.4, 0.8, 1.0 };
        for (int k = 0; k < 6; k++) {
            double wk;
            tv_to(&x, &wk);
            double loss = 0.5 * wk * wk;
            if (k == 1) { tv_from(&g, &zero); loss = 0.3; }
            else { tv_from(&g, &wk); if (k == 2) loss = 0.0; }
            CU_ASSERT(alig_solver_step(s, loss, g.p) == ALIG_SUCCESS);
            CHECK_CLOSE(alig_solver_step_size(s), want[k], 1e-6, 0, "sps smooth step %d", k + 1);
            double wn;
            tv_to(&x, &wn);
            CHECK_CLOSE(wn, wk * (1.0 - want[k]), 1e-6, 0, "sps smooth w %d", k + 1);
        }
        tv_free(&x);
        tv_free(&g);
        alig_solver_free(s);
    }
}

/* ===================================================== parameter text helpers */

static void test_params_set(void)
{
    alig_params_alig a = ALIG_PARAMS_ALIG_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "eta", "0.25") == ALIG_SUCCESS && a.eta == 0.25);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "eta", "inf") == ALIG_SUCCESS && isinf(a.eta) && a.eta > 0);
    a.eta = 1.0;
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "eta", "Infinity") == ALIG_SUCCESS && isinf(a.eta));
    a.eta = 1.0;
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "eta", "none") == ALIG_SUCCESS && isinf(a.eta));
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "delta", "1e-3") == ALIG_SUCCESS && a.delta == 1e-3);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "lower-bound", "-2.5") == ALIG_SUCCESS && a.lower_bound == -2.5);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "momentum", "0.9") == ALIG_SUCCESS && a.momentum == 0.9);
    const char *yes[] = { "1", "true", "TRUE", "yes", "on" }, *no[] = { "0", "false", "no", "Off" };
    for (size_t i = 0; i < 5; i++) {
        a.adjusted = 0;
        CU_ASSERT(alig_params_set(alig_solver_alig, &a, "adjusted", yes[i]) == ALIG_SUCCESS && a.adjusted == 1);
    }
    for (size_t i = 0; i < 4; i++) {
        a.adjusted = 1;
        CU_ASSERT(alig_params_set(alig_solver_alig, &a, "adjusted", no[i]) == ALIG_SUCCESS && a.adjusted == 0);
    }
    /* junk leaves the struct untouched */
    alig_params_alig keep = a;
    const char *junk_d[] = { "", "abc", "0.5x", "nan", "1e999", " ", "0.1,0.2" };
    for (size_t i = 0; i < sizeof junk_d / sizeof junk_d[0]; i++)
        CU_ASSERT(alig_params_set(alig_solver_alig, &a, "eta", junk_d[i]) == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "adjusted", "maybe") == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "adjusted", "2") == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "no-such-field", "1") == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "lr", "1") == ALIG_EINVAL);    /* another method's field */
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, NULL, "1") == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_alig, &a, "eta", NULL) == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(NULL, &a, "eta", "1") == ALIG_EINVAL);
    CU_ASSERT(alig_params_set(alig_solver_alig, NULL, "eta", "1") == ALIG_EINVAL);
    CU_ASSERT(memcmp(&keep, &a, sizeof a) == 0);

    alig_params_sgd s = ALIG_PARAMS_SGD_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "schedule", "multistep") == ALIG_SUCCESS &&
              s.schedule == ALIG_SCHEDULE_MULTISTEP);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "schedule", "sqrt") == ALIG_SUCCESS && s.schedule == ALIG_SCHEDULE_SQRT);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "schedule", "constant") == ALIG_SUCCESS &&
              s.schedule == ALIG_SCHEDULE_CONSTANT);
    const char *junk_e[] = { "cosine", "multistepx", "sqrt2", "const", "", "Multistep" };
    for (size_t i = 0; i < sizeof junk_e / sizeof junk_e[0]; i++)
        CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "schedule", junk_e[i]) == ALIG_EINVAL &&
                  s.schedule == ALIG_SCHEDULE_CONSTANT);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", "10,20") == ALIG_SUCCESS);
    CU_ASSERT(s.milestones.n == 2 && s.milestones.v[0] == 10 && s.milestones.v[1] == 20);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", "5") == ALIG_SUCCESS);
    CU_ASSERT(s.milestones.n == 1 && s.milestones.v[0] == 5);
    const char *junk_l[] = { "10,,20", ",10", "10,", "a,b", "10;20", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17" };
    for (size_t i = 0; i < sizeof junk_l / sizeof junk_l[0]; i++) {
        CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", junk_l[i]) == ALIG_EINVAL);
        CU_ASSERT(s.milestones.n == 1 && s.milestones.v[0] == 5);
    }
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "milestones", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16") == ALIG_SUCCESS);
    CU_ASSERT(s.milestones.n == ALIG_LIST_MAX && s.milestones.v[15] == 16);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "nesterov", "yes") == ALIG_SUCCESS && s.nesterov == 1);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "weight-decay", "5e-4") == ALIG_SUCCESS && s.weight_decay == 5e-4);

    alig_params_sps q = ALIG_PARAMS_SPS_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_sps, &q, "gamma-b", "0.5") == ALIG_SUCCESS && q.gamma_b == 0.5);
    CU_ASSERT(alig_params_set(alig_solver_sps, &q, "smooth", "true") == ALIG_SUCCESS && q.smooth == 1);
    CU_ASSERT(alig_params_set(alig_solver_sps, &q, "batches-per-epoch", "390") == ALIG_SUCCESS && q.batches_per_epoch == 390);
    alig_params_polyak pp = ALIG_PARAMS_POLYAK_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_polyak, &pp, "f-star", "0.125") == ALIG_SUCCESS && pp.f_star == 0.125);
    alig_params_aprox px = ALIG_PARAMS_APROX_DEFAULT;
    CU_ASSERT(alig_params_set(alig_solver_aprox, &px, "decay", "0.6") == ALIG_SUCCESS && px.decay == 0.6);
}

static const alig_param_desc *desc_of(const alig_solver_type *t, const char *name)
{
    for (size_t i = 0; i < t->n_params_desc; i++)
        if (!strcmp(t->params_desc[i].name, name)) return &t->params_desc[i];
    return NULL;
}

static void test_params_format(void)
{
    char buf[128];
    alig_params_alig a = ALIG_PARAMS_ALIG_DEFAULT;
    const alig_param_desc *eta = desc_of(alig_solver_alig, "eta"), *adj = desc_of(alig_solver_alig, "adjusted");
    CU_ASSERT_FATAL(eta && adj);
    CU_ASSERT(strcmp(alig_params_format(eta, &a, buf, sizeof buf), "inf") == 0);
    a.eta = -INFINITY;
    CU_ASSERT(strcmp(alig_params_format(eta, &a, buf, sizeof buf), "-inf") == 0);
    a.eta = 0.1;
    CU_ASSERT(strcmp(alig_params_format(eta, &a, buf, sizeof buf), "0.1") == 0);
    CU_ASSERT(strcmp(alig_params_format(adj, &a, buf, sizeof buf), "false") == 0);
    a.adjusted = 1;
    CU_ASSERT(strcmp(alig_params_format(adj, &a, buf, sizeof buf), "true") == 0);

    alig_params_sgd s = ALIG_PARAMS_SGD_DEFAULT;
    const alig_param_desc *sch = desc_of(alig_solver_sgd, "schedule"), *ms = desc_of(alig_solver_sgd, "milestones");
    CU_ASSERT_FATAL(sch && ms);
    CU_ASSERT(strcmp(alig_params_format(sch, &s, buf, sizeof buf), "constant") == 0);
    CU_ASSERT(strcmp(alig_params_format(ms, &s, buf, sizeof buf), "(none)") == 0);
    s.schedule = ALIG_SCHEDULE_MULTISTEP;
    s.milestones.n = 2;
    s.milestones.v[0] = 10;
    s.milestones.v[1] = 20;
    CU_ASSERT(strcmp(alig_params_format(sch, &s, buf, sizeof buf), "multistep") == 0);
    CU_ASSERT(strcmp(alig_params_format(ms, &s, buf, sizeof buf), "10,20") == 0);
    s.schedule = 7;      /* out of range: formatted as a number (no read past the choices), not parsable back */
    CU_ASSERT(strcmp(alig_params_format(sch, &s, buf, sizeof buf), "7") == 0);
    CU_ASSERT(alig_params_set(alig_solver_sgd, &s, "schedule", buf) == ALIG_EINVAL);
    s.schedule = -1;
    CU_ASSERT(strcmp(alig_params_format(sch, &s, buf, sizeof buf), "-1") == 0);

    /* round trip: format every field of every method's defaults (and of a modified struct),
     * parse it back, get the same bytes */
    for (size_t t = 0; alig_solver_types[t]; t++) {
        const alig_solver_type *ty = alig_solver_types[t];
        params_buf ob, bb;
        unsigned char *orig = ob.b, *back = bb.b;
        memcpy(orig, ty->params_default, ty->params_size);
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < ty->n_params_desc; i++) {
                const alig_param_desc *d = &ty->params_desc[i];
                if (pass == 1 && d->kind == ALIG_PARAM_DOUBLE) {   /* a non-default value */
                    double v = 0.375;
                    memcpy(orig + d->offset, &v, sizeof v);
                }
                memcpy(back, ty->params_default, ty->params_size);
                alig_params_format(d, orig, buf, sizeof buf);
                CU_ASSERT(strlen(buf) > 0);
                if (d->kind == ALIG_PARAM_LIST && !strcmp(buf, "(none)")) continue;
                alig_status rc = alig_params_set(ty, back, d->name, buf);
                if (rc) printf("\n    %s.%s: '%s' did not parse back\n", ty->name, d->name, buf);
                CU_ASSERT(rc == ALIG_SUCCESS);
                size_t sz = d->kind == ALIG_PARAM_DOUBLE ? sizeof(double)
                          : d->kind == ALIG_PARAM_LIST ? sizeof(alig_double_list) : sizeof(int);
                CU_ASSERT(memcmp(orig + d->offset, back + d->offset, sz) == 0);
            }
        }
    }
}

static void test_registry(void)
{
    const char *names[] = { "alig", "polyak", "aprox", "sgd", "sps", "adam", "adamw", "amsgrad", "adagrad",
                            "rmsprop", "yogi", "momentum-tf", "adam-tf", "adagrad-tf", "rmsprop-tf", "l4adam",
                            "l4mom", "dfw", "bpgrad" };
    const alig_solver_type *want[] = { alig_solver_alig, alig_solver_polyak, alig_solver_aprox, alig_solver_sgd,
                                       alig_solver_sps, alig_solver_adam, alig_solver_adamw, alig_solver_amsgrad,
                                       alig_solver_adagrad, alig_solver_rmsprop, alig_solver_yogi,
                                       alig_solver_momentum_tf, alig_solver_adam_tf, alig_solver_adagrad_tf,
                                       alig_solver_rmsprop_tf, alig_solver_l4adam, alig_solver_l4mom,
                                       alig_solver_dfw, alig_solver_bpgrad };
    const size_t n_want = sizeof names / sizeof names[0];
    size_t n = 0;
    while (alig_solver_types[n]) n++;
    CU_ASSERT(n == n_want);
    for (size_t i = 0; i < n_want; i++) {
        CU_ASSERT(alig_solver_type_find(names[i]) == want[i]);
        CU_ASSERT(strcmp(want[i]->name, names[i]) == 0);
        CU_ASSERT(want[i]->summary && strlen(want[i]->summary) > 10);
        CU_ASSERT(want[i]->validate(want[i]->params_default) == ALIG_SUCCESS);
    }
    CU_ASSERT(alig_solver_type_find("ALIG") == NULL);
    CU_ASSERT(alig_solver_type_find("adamax") == NULL);
    CU_ASSERT(alig_solver_type_find(NULL) == NULL);
    CU_ASSERT((alig_solver_polyak->flags & ALIG_SOLVER_FULL_ORACLE) != 0);
    CU_ASSERT((alig_solver_alig->flags & ALIG_SOLVER_FULL_ORACLE) == 0);
}

/* ========================================================= large n (OpenMP path) */

#define LARGE_N 50000   /* > ALIG_KERNEL_PAR_MIN: the kernels run their OpenMP loops */

/* ALI-G with momentum in float on n = 50000 against a naive reference in double: ‖g‖² by a
 * plain double loop, the update in double. Per element the float kernel makes a handful of
 * roundings of magnitude at most |w| + |γg| + |μv|, hence the tolerance 8u times that scale. */
static void test_large_alig_f32(void)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_FATAL(rng != NULL);
    gsl_rng_set(rng, 20200704);
    const size_t n = LARGE_N;
    float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    double *wr = malloc(n * sizeof *wr), *vr = malloc(n * sizeof *vr), *gr = malloc(n * sizeof *gr);
    CU_ASSERT_FATAL(x && g && wr && vr && gr);
    for (int variant = 0; variant < 3; variant++) {       /* standard; adjusted; standard + ball */
        alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
        p.momentum = 0.9;
        p.adjusted = variant == 1;
        p.eta = variant == 1 ? INFINITY : 0.02;
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)(2.0 * gsl_rng_uniform(rng) - 1.0);
            wr[i] = x[i];
            vr[i] = 0.0;
        }
        double radius = INFINITY;
        if (variant == 2) {
            double sq = 0.0;
            for (size_t i = 0; i < n; i++) sq += wr[i] * wr[i];
            radius = 0.5 * sqrt(sq);    /* binds at set() and after each step */
        }
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, n, &p) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s, x, radius) == ALIG_SUCCESS);
        if (radius < INFINITY) {
            double s2 = 0.0;
            for (size_t i = 0; i < n; i++) s2 += wr[i] * wr[i];
            for (size_t i = 0; i < n; i++) wr[i] *= radius / sqrt(s2);
        }
        double maxrel = 0.0;
        size_t bad = 0, projected = 0;
        for (int t = 0; t < 3; t++) {
            for (size_t i = 0; i < n; i++) {
                g[i] = (float)(gsl_rng_uniform(rng) - 0.5 - 0.3 * x[i]);   /* pushes w outwards: the ball binds */
                gr[i] = g[i];
            }
            double loss = 50.0 + 20.0 * t;
            double G = 0.0;
            for (size_t i = 0; i < n; i++) G += gr[i] * gr[i];
            double gam = fmin(loss / (G + p.delta), p.eta);
            double *scale = malloc(n * sizeof *scale);
            CU_ASSERT_FATAL(scale != NULL);
            for (size_t i = 0; i < n; i++) {
                double w0 = wr[i], v0 = vr[i];
                wr[i] -= gam * gr[i];
                if (p.adjusted) { vr[i] = 0.9 * vr[i] - gr[i]; wr[i] += gam * 0.9 * vr[i]; }
                else { vr[i] = 0.9 * vr[i] - gam * gr[i]; wr[i] += 0.9 * vr[i]; }
                scale[i] = fabs(w0) + fabs(gam * gr[i]) + fabs(v0) + fabs(vr[i]) * (p.adjusted ? gam : 1.0) + fabs(wr[i]);
            }
            if (radius < INFINITY) {
                double s2 = 0.0;
                for (size_t i = 0; i < n; i++) s2 += wr[i] * wr[i];
                if (sqrt(s2) > radius) {
                    projected++;
                    for (size_t i = 0; i < n; i++) wr[i] *= radius / sqrt(s2);
                }
            }
            CU_ASSERT_FATAL(alig_solver_step(s, loss, g) == ALIG_SUCCESS);
            CHECK_CLOSE(alig_solver_grad_sumsq(s), G, 1e-10, 0, "large n ‖g‖² variant %d step %d", variant, t);
            CHECK_CLOSE(alig_solver_step_size(s), gam, 1e-10, 0, "large n gamma variant %d step %d", variant, t);
            for (size_t i = 0; i < n; i++) {
                double err = fabs((double)x[i] - wr[i]);
                double tol = 8.0 * FLT_EPSILON * (scale[i] + fabs(wr[i])) * (t + 1);
                if (err > tol) bad++;
                if (scale[i] > 0 && err / scale[i] > maxrel) maxrel = err / scale[i];
            }
            free(scale);
        }
        if (bad) printf("\n    large n variant %d: %zu elements off, max rel err %.3g\n", variant, bad, maxrel);
        CU_ASSERT(bad == 0);
        if (radius < INFINITY) {   /* the ball was active after a step, and holds */
            CU_ASSERT(projected > 0);
            CU_ASSERT(sqrt(alig_vec_sumsq(ALIG_F32, n, x)) <= radius * (1 + 1e-6));
        }
        alig_solver_free(s);
    }
    free(x); free(g); free(wr); free(vr); free(gr);
    gsl_rng_free(rng);
}

/* The OpenMP kernels give the same iterate with 1 and 2 threads: element-wise updates do not
 * depend on the partition, and γ only through ‖g‖², whose reduction order changes by a few
 * ulps at most. */
#ifdef _OPENMP
static void test_large_threads(void)
{
    const size_t n = LARGE_N;
    int saved = omp_get_max_threads();
    float *res[2];
    double gsq[2];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        CU_ASSERT_FATAL(rng != NULL);
        gsl_rng_set(rng, 7);
        float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
        CU_ASSERT_FATAL(x && g);
        for (size_t i = 0; i < n; i++) x[i] = (float)gsl_rng_uniform(rng);
        alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
        p.momentum = 0.9;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, n, &p) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s, x, INFINITY) == ALIG_SUCCESS);
        for (int t = 0; t < 3; t++) {
            for (size_t i = 0; i < n; i++) g[i] = (float)(gsl_rng_uniform(rng) - 0.5);
            CU_ASSERT(alig_solver_step(s, 100.0, g) == ALIG_SUCCESS);
        }
        gsq[r] = alig_solver_grad_sumsq(s);
        res[r] = x;
        alig_solver_free(s);
        free(g);
        gsl_rng_free(rng);
    }
    omp_set_num_threads(saved);
    CHECK_CLOSE(gsq[1], gsq[0], 1e-12, 0, "‖g‖² with 1 vs 2 threads");
    double maxd = 0.0;
    for (size_t i = 0; i < n; i++) maxd = fmax(maxd, fabs((double)res[0][i] - (double)res[1][i]));
    CU_ASSERT(maxd <= 1e-6);
    free(res[0]);
    free(res[1]);
}
#endif

/* ‖g‖² accumulates in double: 10⁷ copies of 0.1f. Each square is exact in double (24-bit
 * mantissas), so the exact sum is 10⁷·(double)0.1f², and a double accumulation stays within
 * ~n·u of it; a float accumulation drifts by whole percents (checked below, so the test can
 * tell the two apart). Checked through alig_vec_sumsq and through the solver's step wrapper. */
static void test_sumsq_double_accumulation(void)
{
    const size_t n = 10000000;
    const float a = 0.1f;
    const double exact = (double)n * ((double)a * (double)a);
    float *v = malloc(n * sizeof *v), *x = calloc(n, sizeof *x);
    CU_ASSERT_FATAL(v && x);
    for (size_t i = 0; i < n; i++) v[i] = a;
    volatile float fsum = 0.0f;
    for (size_t i = 0; i < n; i++) fsum = fsum + a * a;
    CU_ASSERT(fabs((double)fsum - exact) > 1e-2 * exact);    /* float accumulation visibly wrong */
    double s = alig_vec_sumsq(ALIG_F32, n, v);
    CHECK_CLOSE(s, exact, 2e-9, 0, "sumsq of 1e7 x 0.1f");
    alig_solver *sv = NULL;
    alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
    CU_ASSERT_FATAL(alig_solver_alloc(&sv, alig_solver_sgd, ALIG_F32, n, &p) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_set(sv, x, INFINITY) == ALIG_SUCCESS);
    CU_ASSERT(alig_solver_step(sv, 1.0, v) == ALIG_SUCCESS);
    CHECK_CLOSE(alig_solver_grad_sumsq(sv), exact, 2e-9, 0, "solver ‖g‖² of 1e7 x 0.1f");
    alig_solver_free(sv);
    free(v);
    free(x);
}

/* ============================================================================ main */

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s1 = CU_add_suite("alig_vectors", NULL, NULL);
    CU_pSuite s2 = CU_add_suite("guards", NULL, NULL);
    CU_pSuite s3 = CU_add_suite("parameters", NULL, NULL);
    CU_pSuite s4 = CU_add_suite("methods", NULL, NULL);
    CU_pSuite s5 = CU_add_suite("large_n", NULL, NULL);
    if (!s1 || !s2 || !s3 || !s4 || !s5) { CU_cleanup_registry(); return 2; }
    CU_add_test(s1, "standard momentum, eta = inf", test_vectors_standard);
    CU_add_test(s1, "adjusted momentum, eta = inf", test_vectors_adjusted);
    CU_add_test(s1, "standard momentum, eta = 0.3", test_vectors_eta);
    CU_add_test(s1, "mu = 0, ball r = 1", test_vectors_ball);
    CU_add_test(s2, "zero gradient, delta = 0, no momentum", test_guard_zero_grad_no_momentum);
    CU_add_test(s2, "zero gradient, delta = 0, momentum", test_guard_zero_grad_momentum);
    CU_add_test(s2, "zero gradient, delta > 0", test_guard_zero_grad_delta);
    CU_add_test(s2, "loss below the bound", test_guard_loss_below_bound);
    CU_add_test(s2, "non-finite loss or gradient", test_nonfinite);
    CU_add_test(s3, "invalid parameters: own status, no allocation", test_invalid_params);
    CU_add_test(s3, "set / step arguments", test_set_and_step_arguments);
    CU_add_test(s3, "status codes and sentences", test_status_strings);
    CU_add_test(s3, "alig_params_set", test_params_set);
    CU_add_test(s3, "alig_params_format", test_params_format);
    CU_add_test(s3, "registry", test_registry);
    CU_add_test(s4, "every method vs a double re-implementation", test_methods_vs_reference);
    CU_add_test(s4, "sgd schedules", test_sgd_schedules);
    CU_add_test(s4, "sgd first-step buffer", test_sgd_first_step);
    CU_add_test(s4, "sgd momentum reset at milestones", test_sgd_reset_momentum);
    CU_add_test(s4, "sps smooth cap survives guard steps", test_sps_smooth_no_freeze);
    CU_add_test(s5, "alig momentum float vs double reference", test_large_alig_f32);
#ifdef _OPENMP   /* without OpenMP there is only one thread count: not registered, not counted */
    CU_add_test(s5, "1 vs 2 threads", test_large_threads);
#endif
    CU_add_test(s5, "sumsq accumulates in double", test_sumsq_double_accumulation);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
