/* test_matrix.c - the solver × problem matrix (GSL multimin/test.c style): every method runs
 * through the reference driver alig_run on ε = 0 instances of each synthetic class, and must
 * reach the accuracy that the theory guarantees for it, with the oracle calls it is entitled to.
 *
 * Tolerances are not tuned to the code's output: each is the right-hand side of a convergence
 * bound evaluated on the instance's own constants (D₀ = ‖w₀ − w⋆‖², C, β, α, β_f read from the
 * problem struct), for ε = 0:
 *
 *   ALI-G / ALI-G∞ (δ ≥ 0), SPS with c = 1 (γ = min(ℓ/‖g‖², γ_b): ALI-G with δ = 0, η = γ_b,
 *   docs/optimizers.md) and APROX (ALI-G with δ = 0 and the cap α_k ≥ α_{T+1}): docs/theory.md
 *     lipschitz        D1:  E f(w̄_T) − f⋆ ≤ φ⁻¹(D₀/(T+1)),  a = C² + δ             (§4)
 *     smooth           D2:  E f(w̄_T) − f⋆ ≤ D₀/(γ_min(T+1)) + [δ>0]δ/(2β)          (§6)
 *     strongly-convex  D3 + corollary: E f(w_T) − f⋆ ≤ (β_f/2)(q^T D₀ + c(1 − q^T)/(1 − q)) (§7)
 *   SGD with a constant step α (standard, derived here with Lemma 1's expansion):
 *     lipschitz        α = √D₀/(C√(T+1)):  D₀/(2α(T+1)) + αC²/2
 *     smooth           α = 1/(2β): per step D_{t+1} ≤ D_t − 2α(1 − αβ)ℓ_t ((S) of docs/theory.md §1 on each ℓ_i, ℓ⋆ = 0),
 *                      so E f(w̄_T) − f⋆ ≤ 2βD₀/(T+1)
 *     strongly-convex  the same per-step inequality and (Q): E D_T ≤ (1 − α_sc/(4β))^T D₀
 *   Deterministic Polyak (full f and ∇f, f⋆ known; no expectation, so the bounds hold pointwise):
 *     lipschitz        D_{t+1} ≤ D_t − (f_t − f⋆)²/C², then Cauchy–Schwarz: C√D₀/√(T+1)
 *     smooth           γ_t ≥ 1/(2β_f) ((S) on f − f⋆): D_{t+1} ≤ D_t − (f_t − f⋆)/(2β_f), so 2β_f D₀/(T+1)
 *     strongly-convex  q = 1 − α/(4β_f), f(w_T) − f⋆ ≤ (β_f/2) q^T D₀
 *   (Each telescoping sum runs over t = 0..T, the last term being the inequality of a virtual step
 *    from w_T, exactly as in the proofs of docs/theory.md §4-§7.)
 *
 * The expectation bounds are checked one-sidedly with a wide margin against sampling noise: the
 * mean over N_SEEDS sampling seeds minus 3 standard errors must not exceed the bound. Every row also checks that
 * its bound is below a quarter of the starting gap f(w₀) − f⋆, so a method that does not move
 * cannot pass, and that the oracle calls are exactly those of the method: T full calls and no
 * sample call for Polyak (ALIG_SOLVER_FULL_ORACLE), T·B sample calls and no full call otherwise
 * (alig_run's monitoring evaluations are not charged to the method). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/alig.h"

#define N_SEEDS 8

typedef enum { M_ALIG, M_ALIG_INF, M_POLYAK, M_APROX, M_SGD, M_SPS } method;
typedef enum { B_D1, B_D2, B_D3 } bound_kind;

typedef struct {
    const char *label;
    const alig_solver_type *const *type;
    method m;
    const char *problem;
    alig_problem_spec spec;     /* ε = 0 everywhere */
    size_t batch;
    size_t iters;
} matrix_row;

#define SPEC(d, n, sd) { .dim = (d), .samples = (n), .eps = 0.0, .radius = INFINITY, .seed = (sd) }

static const matrix_row rows[] = {
    /* lipschitz: |x_iᵀw − y_i|, rate 1/√T */
    { "alig",      &alig_solver_alig,   M_ALIG,     "lipschitz", SPEC(20, 100, 11), 1, 3000 },
    { "alig-inf",  &alig_solver_alig,   M_ALIG_INF, "lipschitz", SPEC(20, 100, 11), 1, 3000 },
    { "polyak",    &alig_solver_polyak, M_POLYAK,   "lipschitz", SPEC(20, 100, 11), 1, 3000 },
    { "aprox",     &alig_solver_aprox,  M_APROX,    "lipschitz", SPEC(20, 100, 11), 1, 3000 },
    { "sgd",       &alig_solver_sgd,    M_SGD,      "lipschitz", SPEC(20, 100, 11), 1, 3000 },
    { "sgd",       &alig_solver_sgd,    M_SGD,      "lipschitz", SPEC(20, 100, 11), 4, 3000 },
    { "sps",       &alig_solver_sps,    M_SPS,      "lipschitz", SPEC(20, 100, 11), 1, 3000 },
    /* smooth: rank-deficient least squares, rate 1/T */
    { "alig",      &alig_solver_alig,   M_ALIG,     "smooth", SPEC(20, 100, 12), 1, 2000 },
    { "alig-inf",  &alig_solver_alig,   M_ALIG_INF, "smooth", SPEC(20, 100, 12), 1, 2000 },
    { "alig-inf",  &alig_solver_alig,   M_ALIG_INF, "smooth", SPEC(20, 100, 12), 4, 2000 },
    { "polyak",    &alig_solver_polyak, M_POLYAK,   "smooth", SPEC(20, 100, 12), 1, 2000 },
    { "aprox",     &alig_solver_aprox,  M_APROX,    "smooth", SPEC(20, 100, 12), 1, 2000 },
    { "sgd",       &alig_solver_sgd,    M_SGD,      "smooth", SPEC(20, 100, 12), 1, 2000 },
    { "sps",       &alig_solver_sps,    M_SPS,      "smooth", SPEC(20, 100, 12), 1, 2000 },
    /* strongly-convex: full-rank least squares, linear rate, last iterate */
    { "alig",      &alig_solver_alig,   M_ALIG,     "strongly-convex", SPEC(10, 100, 13), 1, 2000 },
    { "alig-inf",  &alig_solver_alig,   M_ALIG_INF, "strongly-convex", SPEC(10, 100, 13), 1, 2000 },
    /* Polyak's contraction (1 − α/(4β_f))^T is fast: a short budget keeps its bound (~1e-8) far
     * above the rounding floor of f(w_T) − f⋆ (~1e-33), which a longer run would cross. */
    { "polyak",    &alig_solver_polyak, M_POLYAK,   "strongly-convex", SPEC(10, 100, 13), 1, 200 },
    { "aprox",     &alig_solver_aprox,  M_APROX,    "strongly-convex", SPEC(10, 100, 13), 1, 2000 },
    { "sgd",       &alig_solver_sgd,    M_SGD,      "strongly-convex", SPEC(10, 100, 13), 1, 2000 },
    { "sgd",       &alig_solver_sgd,    M_SGD,      "strongly-convex", SPEC(10, 100, 13), 4, 2000 },
    { "sps",       &alig_solver_sps,    M_SPS,      "strongly-convex", SPEC(10, 100, 13), 1, 2000 },
};

/* Instance constants the bounds need. */
typedef struct {
    double D0, C, beta, alpha, beta_f;
    double T;
} facts;

/* φ⁻¹(R) of D1 (docs/theory.md §4): √(aR) if R ≤ η²a/4, else R/η + ηa/4. */
static double d1_bound(double a, double R, double eta)
{
    if (isinf(eta) || R <= eta * eta * a / 4.0) return sqrt(a * R);
    return R / eta + eta * a / 4.0;
}

/* D2 (§5.3) with ε = 0. */
static double d2_bound(const facts *f, double eta, double delta)
{
    double gmin = fmin(eta, delta > 0 ? 1.0 / (4.0 * f->beta) : 1.0 / (2.0 * f->beta));
    return f->D0 / (gmin * (f->T + 1.0)) + (delta > 0 ? delta / (2.0 * f->beta) : 0.0);
}

/* D3 (§5.4) with ε = 0, turned into a bound on f(w_T) − f⋆ by the corollary (∇f(w⋆) = 0 on ℝ^d). */
static double d3_f_bound(const facts *f, double gmin, double delta)
{
    double q = 1.0 - f->alpha * gmin / 2.0;
    double c = delta > 0 ? gmin * delta / (2.0 * f->beta) : 0.0;
    double qT = pow(q, f->T);
    return 0.5 * f->beta_f * (qT * f->D0 + c * (1.0 - qT) / (1.0 - q));
}

/* Parameters of row r on an instance with constants f (tuned from the theory, never from
 * observed runs), and the bound that applies. */
static double setup(const matrix_row *r, const facts *f, bound_kind k, void *params)
{
    const double T1 = f->T + 1.0;
    switch (r->m) {
    case M_ALIG:
    case M_ALIG_INF: {
        alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;   /* δ = 1e-5 */
        if (r->m == M_ALIG)   /* a cap that binds for part of the run */
            p.eta = k == B_D1 ? 2.0 * sqrt(f->D0) / (f->C * sqrt(T1)) : 1.0 / (2.0 * f->beta);
        memcpy(params, &p, sizeof p);
        if (k == B_D1) return d1_bound(f->C * f->C + p.delta, f->D0 / T1, p.eta);
        if (k == B_D2) return d2_bound(f, p.eta, p.delta);
        return d3_f_bound(f, fmin(p.eta, 1.0 / (4.0 * f->beta)), p.delta);
    }
    case M_SPS: {
        alig_params_sps p = ALIG_PARAMS_SPS_DEFAULT;
        p.c = 1.0;                                        /* γ ≤ ℓ/‖g‖²: Lemma 1 applies */
        memcpy(params, &p, sizeof p);
        if (k == B_D1) return d1_bound(f->C * f->C, f->D0 / T1, INFINITY);
        if (k == B_D2) return d2_bound(f, INFINITY, 0.0);
        return d3_f_bound(f, 1.0 / (2.0 * f->beta), 0.0);
    }
    case M_APROX: {
        alig_params_aprox p = ALIG_PARAMS_APROX_DEFAULT;  /* β = 0.5 */
        /* α_k = α₀k^−β ≥ α_{T+1} for every step used by the proofs; choose α_{T+1}. */
        double last = k == B_D1 ? sqrt(f->D0) / (f->C * sqrt(T1)) : 1.0 / (2.0 * f->beta);
        p.lr = last * pow(T1, p.decay);
        memcpy(params, &p, sizeof p);
        if (k == B_D1) return d1_bound(f->C * f->C, f->D0 / T1, last);
        if (k == B_D2) return d2_bound(f, last, 0.0);
        return d3_f_bound(f, fmin(last, 1.0 / (2.0 * f->beta)), 0.0);
    }
    case M_SGD: {
        alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
        p.lr = k == B_D1 ? sqrt(f->D0) / (f->C * sqrt(T1)) : 1.0 / (2.0 * f->beta);
        memcpy(params, &p, sizeof p);
        if (k == B_D1) return f->D0 / (2.0 * p.lr * T1) + p.lr * f->C * f->C / 2.0;
        if (k == B_D2) return 2.0 * f->beta * f->D0 / T1;
        return 0.5 * f->beta_f * pow(1.0 - f->alpha / (4.0 * f->beta), f->T) * f->D0;
    }
    case M_POLYAK: {
        alig_params_polyak p = ALIG_PARAMS_POLYAK_DEFAULT;   /* f⋆ set by the caller */
        memcpy(params, &p, sizeof p);
        if (k == B_D1) return f->C * sqrt(f->D0 / T1);
        if (k == B_D2) return 2.0 * f->beta_f * f->D0 / T1;
        return 0.5 * f->beta_f * pow(1.0 - f->alpha / (4.0 * f->beta_f), f->T) * f->D0;
    }
    }
    return NAN;
}

/* Observer: keep the first and last rows. */
typedef struct { double D0, gap0, last_gap, last_avg; size_t last_iter; int bad_step; } obs_ctx;

static int observe(const alig_run_row *row, void *vctx)
{
    obs_ctx *c = vctx;
    if (row->iter == 0) { c->D0 = row->dist2; c->gap0 = row->f_gap; }
    else if (!(row->step >= 0.0) || !isfinite(row->step)) c->bad_step = 1;
    c->last_iter = row->iter;
    c->last_gap = row->f_gap;
    c->last_avg = row->avg_gap;
    return 0;
}

static double start_dist2(const alig_problem *p)
{
    double s = 0.0, nrm = 0.0;
    for (size_t i = 0; i < p->dim; i++) { double w = p->w0 ? p->w0[i] : 0.0; nrm += w * w; }
    double scale = (p->radius < INFINITY && sqrt(nrm) > p->radius) ? p->radius / sqrt(nrm) : 1.0;
    for (size_t i = 0; i < p->dim; i++) {
        double d = (p->w0 ? p->w0[i] * scale : 0.0) - p->w_star[i];
        s += d * d;
    }
    return s;
}

static void run_row(const matrix_row *r)
{
    alig_problem *p = NULL;
    alig_status rc = alig_problem_make(&p, r->problem, &r->spec);
    if (rc) printf("\n    %s: alig_problem_make: %s (%s)\n", r->problem, alig_strerror(rc), alig_problem_last_error());
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS && p != NULL);
    bound_kind k = !strcmp(r->problem, "lipschitz") ? B_D1 : !strcmp(r->problem, "smooth") ? B_D2 : B_D3;

    facts f = { .D0 = start_dist2(p), .C = p->lipschitz_C, .beta = p->smooth_beta, .alpha = p->strong_alpha,
                .beta_f = p->lipschitz_f, .T = (double)r->iters };
    /* the constants each bound needs must be known and positive */
    CU_ASSERT(p->eps_realized <= 1e-12 && fabs(p->f_star) <= 1e-12);
    if (k == B_D1) CU_ASSERT_FATAL(isfinite(f.C) && f.C > 0);
    if (k != B_D1) CU_ASSERT_FATAL(isfinite(f.beta) && f.beta > 0 && isfinite(f.beta_f) && f.beta_f > 0);
    if (k == B_D3) CU_ASSERT_FATAL(isfinite(f.alpha) && f.alpha > 0);

    union { alig_params_alig a; alig_params_polyak p; alig_params_aprox x; alig_params_sgd s; alig_params_sps q; } params;
    double bound = setup(r, &f, k, &params);
    if (r->m == M_POLYAK) params.p.f_star = p->f_star;
    const int deterministic = (*r->type)->flags & ALIG_SOLVER_FULL_ORACLE;
    const size_t nseeds = deterministic ? 1 : N_SEEDS;

    double sum = 0.0, sumsq = 0.0, gap0 = NAN;
    int calls_ok = 1, steps_ok = 1;
    for (size_t s = 0; s < nseeds; s++) {
        alig_run_spec rs = { .iters = r->iters, .batch = r->batch, .seed = 1000 + s, .gap_every = r->iters };
        obs_ctx c = { NAN, NAN, NAN, NAN, 0, 0 };
        p->calls_sample = p->calls_full = 0;
        rc = alig_run(p, *r->type, &params, &rs, observe, &c, NULL);
        if (rc) printf("\n    %s on %s: alig_run: %s\n", r->label, r->problem, alig_strerror(rc));
        CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
        CU_ASSERT(c.last_iter == r->iters);
        CU_ASSERT(fabs(c.D0 - f.D0) <= 1e-12 * (1.0 + f.D0));   /* the driver starts where we think */
        gap0 = c.gap0;
        double v = k == B_D3 ? c.last_gap : c.last_avg;
        sum += v;
        sumsq += v * v;
        if (deterministic) calls_ok &= p->calls_full == r->iters && p->calls_sample == 0;
        else calls_ok &= p->calls_sample == r->iters * r->batch && p->calls_full == 0;
        steps_ok &= !c.bad_step;
    }
    double mean = sum / (double)nseeds;
    double se = nseeds > 1 ? sqrt(fmax(sumsq / (double)nseeds - mean * mean, 0.0) / (double)(nseeds - 1)) : 0.0;
    printf("\n    %-8s %-15s B=%zu T=%-5zu %s %.3e +- %.1e  bound %.3e  (%.2f of bound)  start gap %.3e  "
           "calls sample %zu full %zu",
           r->label, r->problem, r->batch, r->iters, k == B_D3 ? "f(w_T)-f*" : "f(wbar)-f*", mean, se, bound,
           mean / bound, gap0, p->calls_sample, p->calls_full);
    CU_ASSERT(isfinite(bound) && bound > 1e-20);    /* far above the rounding floor of the gaps */
    CU_ASSERT(bound < 0.25 * gap0);                 /* the row can fail: standing still does not pass */
    CU_ASSERT(mean >= -1e-12);                      /* f⋆ is the minimum */
    CU_ASSERT(mean - 3.0 * se <= bound);            /* one-sided, 3 standard errors */
    if (deterministic) CU_ASSERT(mean <= bound * (1.0 + 1e-9) + 1e-15);   /* pointwise bound */
    CU_ASSERT(calls_ok);
    CU_ASSERT(steps_ok);
    alig_problem_free(p);
}

static void test_matrix(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) run_row(&rows[i]);
    printf("\n");
}

/* The driver itself: a bad batch is rejected before anything runs; Polyak ignores the batch. */
static void test_run_arguments(void)
{
    alig_problem *p = NULL;
    alig_problem_spec sp = SPEC(5, 20, 3);
    CU_ASSERT_FATAL(alig_problem_make(&p, "smooth", &sp) == ALIG_SUCCESS);
    alig_run_spec rs = { .iters = 3, .batch = 21, .seed = 1, .gap_every = 1 };
    CU_ASSERT(alig_run(p, alig_solver_alig, NULL, &rs, NULL, NULL, NULL) == ALIG_EBADBATCH);
    CU_ASSERT(p->calls_sample == 0);
    rs.batch = 20;   /* the full batch is allowed */
    p->calls_sample = p->calls_full = 0;
    CU_ASSERT(alig_run(p, alig_solver_alig, NULL, &rs, NULL, NULL, NULL) == ALIG_SUCCESS);
    CU_ASSERT(p->calls_sample == 60 && p->calls_full == 0);
    p->calls_sample = p->calls_full = 0;
    rs.batch = 7;
    CU_ASSERT(alig_run(p, alig_solver_polyak, NULL, &rs, NULL, NULL, NULL) == ALIG_SUCCESS);
    CU_ASSERT(p->calls_sample == 0 && p->calls_full == 3);
    alig_params_alig bad = ALIG_PARAMS_ALIG_DEFAULT;
    bad.eta = -1.0;
    CU_ASSERT(alig_run(p, alig_solver_alig, &bad, &rs, NULL, NULL, NULL) == ALIG_EBADETA);
    alig_problem_free(p);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("solver_x_problem", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "driver arguments and call counts", test_run_arguments);
    CU_add_test(s, "matrix: every method reaches its guaranteed accuracy", test_matrix);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
