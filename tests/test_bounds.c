/* test_bounds.c - the bounds of docs/theory.md as code (analysis/bounds.c), the per-step
 * inequality checker, the confidence-interval helper and the weighted line fit (analysis/stats.c).
 *
 * Every expected value below was worked out by hand from the formulas in docs/theory.md, with
 * inputs chosen so that the arithmetic is exact or nearly so; the working is in the comments. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <CUnit/Basic.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>

#include "alig/analysis.h"
#include "alig/solver.h"

#define TOL 1e-12
#define INF INFINITY

static alig_bound_consts K(double D0, double C, double beta, double alpha, double eps, double delta, double eta)
{
    return (alig_bound_consts){ .D0 = D0, .C = C, .beta = beta, .alpha = alpha, .eps = eps, .delta = delta, .eta = eta };
}

/* ------------------------------------------------------------------ D1 */
static void test_d1(void)
{
    /* ε = 0, η = ∞, δ = 0, C = 1, D0 = 4, T = 99: a = 1, R = 4/100 = 0.04, φ⁻¹(R) = √0.04 = 0.2. */
    alig_bound_consts k = K(4, 1, NAN, NAN, 0, 0, INF);
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D1, &k), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 99), 0.2, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1_simple(&k, 99), 0.2, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_eval(ALIG_BOUND_D1, &k, 99), 0.2, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D1, &k), 0.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_rate(ALIG_BOUND_D1, &k), -0.5, TOL);

    /* Same with η = 1: η²a/4 = 0.25 >= R, quadratic branch, still 0.2; simple form adds R/η = 0.04. */
    k.eta = 1;
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 99), 0.2, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1_simple(&k, 99), 0.24, TOL);

    /* η = 0.2, T = 3: R = 4/4 = 1 > η²a/4 = 0.01, linear branch R/η + ηa/4 = 5 + 0.05 = 5.05;
     * simple √1 + 1/0.2 = 6. */
    k.eta = 0.2;
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 3), 5.05, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1_simple(&k, 3), 6.0, TOL);

    /* Both branches meet at R = η²a/4: η = 0.2, a = 1, R = 0.01 = D0/(T+1) with D0 = 4 → T = 399.
     * Quadratic: √0.01 = 0.1; linear: 0.01/0.2 + 0.05 = 0.1. */
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 399), 0.1, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 399 - 1e-6), 0.1, 1e-9);

    /* ε > 0: ε = 0.01, η = 0.5, C = 2 (a = 4), δ = 0, D0 = 1, T = 9: R = 0.1 + 2·0.5·0.01 = 0.11 <=
     * η²a/4 = 0.25, so √(4·0.11) = √0.44. Floor: φ⁻¹(0.01) = √0.04 = 0.2. */
    k = K(1, 2, NAN, NAN, 0.01, 0, 0.5);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 9), sqrt(0.44), TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D1, &k), 0.2, TOL);

    /* δ > 0 enters a: C = 1, δ = 3 → a = 4; D0 = 9, T = 8, ε = 0, η = ∞: R = 1, √4 = 2. */
    k = K(9, 1, NAN, NAN, 0, 3, INF);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1(&k, 8), 2.0, TOL);

    /* ε > 0 with η = ∞: vacuous (+∞), and not counted as applicable. */
    k = K(9, 1, NAN, NAN, 0.1, 3, INF);
    CU_ASSERT(isinf(alig_bound_d1(&k, 8)) && alig_bound_d1(&k, 8) > 0);
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D1, &k), ALIG_EUNSUPPORTED);
    CU_ASSERT(isnan(alig_bound_eval(ALIG_BOUND_D1, &k, 8)));

    /* Missing C is an invalid constant, not an inapplicable bound. */
    k = K(9, NAN, NAN, NAN, 0, 0, 1);
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D1, &k), ALIG_EINVAL);
}

/* ------------------------------------------------------------------ D1∞ */
static void test_d1inf(void)
{
    /* C = 1, δ = 3 (a = 4), D0 = 8, T = 7, ε = 0.3: D0/(T+1) = 1, ε²/δ = 0.09/3 = 0.03, √(4·1.03). */
    alig_bound_consts k = K(8, 1, NAN, NAN, 0.3, 3, INF);
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D1INF, &k), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1inf(&k, 7), sqrt(4.12), TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_eval(ALIG_BOUND_D1INF, &k, 7), sqrt(4.12), TOL);
    /* floor √(a ε²/δ) = √(4·0.03) */
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D1INF, &k), sqrt(0.12), TOL);
    /* ε = 0: √(4·1) = 2 */
    k.eps = 0;
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d1inf(&k, 7), 2.0, TOL);
    /* δ = 0 or η < ∞: not proved → NAN, EUNSUPPORTED */
    k.delta = 0;
    CU_ASSERT(isnan(alig_bound_d1inf(&k, 7)));
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D1INF, &k), ALIG_EUNSUPPORTED);
    k.delta = 3;
    k.eta = 10;
    CU_ASSERT(isnan(alig_bound_d1inf(&k, 7)));
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D1INF, &k), ALIG_EUNSUPPORTED);
}

/* ------------------------------------------------------------------ D2 */
static void test_d2(void)
{
    /* β = 1, δ = 0, η = ∞, ε = 0, D0 = 2, T = 3: γ_min = 1/(2β) = 0.5, 2/(0.5·4) = 1. */
    alig_bound_consts k = K(2, NAN, 1, NAN, 0, 0, INF);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_gamma_min(&k), 0.5, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d2(&k, 3), 1.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D2, &k), 0.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_rate(ALIG_BOUND_D2, &k), -1.0, TOL);

    /* δ = 0.5: γ_min = 1/(4β) = 0.25, 2/(0.25·4) = 2, plus δ/(2β) = 0.25 → 2.25. */
    k.delta = 0.5;
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_gamma_min(&k), 0.25, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d2(&k, 3), 2.25, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D2, &k), 0.25, TOL);

    /* ε = 0.1, η = 1 (above the threshold), δ = 0: γ_min = 0.5, 1 + (2·1/0.5 − 1)·0.1 = 1.3. */
    k = K(2, NAN, 1, NAN, 0.1, 0, 1);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d2(&k, 3), 1.3, TOL);

    /* η = 0.1 below the threshold 1/(4β) = 0.25, δ = 0.5, ε = 0.2, D0 = 1, T = 9: γ_min = η = 0.1,
     * 1/(0.1·10) = 1, (2·0.1/0.1 − 1)·0.2 = 0.2, δ/(2β) = 0.25 → 1.45. */
    k = K(1, NAN, 1, NAN, 0.2, 0.5, 0.1);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_gamma_min(&k), 0.1, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d2(&k, 9), 1.45, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D2, &k), 0.45, TOL);

    /* ε > 0 with η = ∞: not applicable (no finite bound is proved). */
    k.eta = INF;
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D2, &k), ALIG_EUNSUPPORTED);
    CU_ASSERT(isnan(alig_bound_eval(ALIG_BOUND_D2, &k, 9)));
    /* No smoothness constant: invalid. */
    k = K(1, 1, NAN, NAN, 0, 0, 1);
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D2, &k), ALIG_EINVAL);
}

/* ------------------------------------------------------------------ D3 */
static void test_d3(void)
{
    /* β = 1, α = 0.5, δ = 0, η = ∞, ε = 0: γ_min = 0.5, q = 1 − 0.5·0.5/2 = 0.875, c = 0.
     * D0 = 1, T = 2: q² = 0.765625. */
    alig_bound_consts k = K(1, NAN, 1, 0.5, 0, 0, INF);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d3_q(&k), 0.875, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d3(&k, 2), 0.765625, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d3(&k, 0), 1.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D3, &k), 0.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_rate(ALIG_BOUND_D3, &k), log(0.875), TOL);

    /* δ = 0.5, η = 1, ε = 0.1: γ_min = 0.25, q = 1 − 0.5·0.25/2 = 0.9375,
     * c = (2·1 − 0.25)·0.1 + 0.25·0.5/2 = 0.175 + 0.0625 = 0.2375.
     * T = 2: q² + c(1 + q) = 0.87890625 + 0.2375·1.9375 = 0.87890625 + 0.46015625 = 1.3390625.
     * Floor c/(1 − q) = 0.2375/0.0625 = 3.8, which is also the closed form of docs/theory.md,
     * ((16βη − 2)ε)/α + δ/(αβ) = 1.4/0.5 + 0.5/0.5 = 3.8. */
    k = K(1, NAN, 1, 0.5, 0.1, 0.5, 1);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d3_q(&k), 0.9375, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d3(&k, 2), 1.3390625, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_eval(ALIG_BOUND_D3, &k, 2), 1.3390625, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D3, &k), 3.8, TOL);
    /* Long horizon: the bound tends to its floor. */
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_d3(&k, 1e4), 3.8, 1e-9);

    /* α = 0: not strongly convex → D3 does not apply; α > β is inconsistent → invalid. */
    k.alpha = 0;
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D3, &k), ALIG_EUNSUPPORTED);
    k.alpha = 2;
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D3, &k), ALIG_EINVAL);
    /* ε > 0, η = ∞ → not applicable */
    k = K(1, NAN, 1, 0.5, 0.1, 0.5, INF);
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D3, &k), ALIG_EUNSUPPORTED);
    /* ε = 0, η = ∞, δ > 0 is allowed: c = γ_min δ/(2β) = 0.25·0.5/2 = 0.0625, floor 0.0625/0.0625 = 1. */
    k.eps = 0;
    CU_ASSERT_EQUAL(alig_bound_applies(ALIG_BOUND_D3, &k), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_floor(ALIG_BOUND_D3, &k), 1.0, TOL);
}

/* ------------------------------------------------------------------ per-step inequalities */
static void test_step_rhs(void)
{
    alig_step_obs o = { .D_prev = 1, .D_next = 0, .loss = 0.4, .loss_star = 0.1, .step = 0.5 };
    /* Lemma 1: 1 − 0.5·0.4 + 2·0.5·0.1 = 0.9 */
    alig_bound_consts k = K(NAN, 1, 1, NAN, 0.1, 0, 1);
    CU_ASSERT_DOUBLE_EQUAL(alig_step_rhs(ALIG_STEP_LEMMA1, &k, &o), 0.9, TOL);
    /* D1: a = 1, η = 1, ε = 0.1. ℓ = 0.4 <= ηa/2 = 0.5: φ = 0.16 → 1 − 0.16 + 0.2 = 1.04.
     * ℓ = 2 > 0.5: φ = 2 − 0.25 = 1.75 → 1 − 1.75 + 0.2 = −0.55. */
    CU_ASSERT_DOUBLE_EQUAL(alig_bound_phi(&k, 0.4), 0.16, TOL);
    CU_ASSERT_DOUBLE_EQUAL(alig_step_rhs(ALIG_STEP_D1, &k, &o), 1.04, TOL);
    o.loss = 2;
    CU_ASSERT_DOUBLE_EQUAL(alig_step_rhs(ALIG_STEP_D1, &k, &o), -0.55, TOL);
    o.loss = 0.4;
    /* D2: β = 1, δ = 0, η = 1, ε = 0.1: γ_min = 0.5; 1 − 0.5·(0.4 − 0.2) + 2·(1 − 0.5)·0.1 = 1.0. */
    CU_ASSERT_DOUBLE_EQUAL(alig_step_rhs(ALIG_STEP_D2, &k, &o), 1.0, TOL);
    /* δ = 0.5: γ_min = 0.25; 1 − 0.25·0.2 + 2·0.75·0.1 + 0.25·0.5/2 = 1 − 0.05 + 0.15 + 0.0625 = 1.1625. */
    k.delta = 0.5;
    CU_ASSERT_DOUBLE_EQUAL(alig_step_rhs(ALIG_STEP_D2, &k, &o), 1.1625, TOL);
    /* D1∞ needs η = ∞: NAN here. With η = ∞, C = 1, δ = 3 (a = 4), ℓ = 0.5, ℓ⋆ = 0.1:
     * 1 − 0.4²/4 + 0.1²/3 = 1 − 0.04 + 1/300. */
    CU_ASSERT(isnan(alig_step_rhs(ALIG_STEP_D1INF, &k, &o)));
    k = K(NAN, 1, NAN, NAN, 0.1, 3, INF);
    o.loss = 0.5;
    CU_ASSERT_DOUBLE_EQUAL(alig_step_rhs(ALIG_STEP_D1INF, &k, &o), 0.96 + 1.0 / 300.0, TOL);
    /* D1 and D2 are not applicable with ε > 0 and η = ∞. */
    CU_ASSERT(isnan(alig_step_rhs(ALIG_STEP_D1, &k, &o)));
    CU_ASSERT(isnan(alig_step_rhs(ALIG_STEP_D2, &k, &o)));
}

static void test_step_check(void)
{
    alig_bound_consts k = K(NAN, 1, 1, NAN, 0.1, 0, 1);
    alig_step_obs o = { .D_prev = 1, .D_next = 0.9, .loss = 0.4, .loss_star = 0.1, .step = 0.5 };
    unsigned all = ALIG_STEP_LEMMA1 | ALIG_STEP_D1 | ALIG_STEP_D1INF | ALIG_STEP_D2;
    /* D_next = 0.9 equals the Lemma 1 right-hand side: holds; D1 (1.04) and D2 (1.0) hold too;
     * D1∞ does not apply (η finite) and is skipped, not reported. */
    CU_ASSERT_EQUAL(alig_step_check(all, &k, &o, 1e-9), 0u);
    /* Slightly above: Lemma 1 fails, the others still hold. */
    o.D_next = 0.9 + 1e-6;
    CU_ASSERT_EQUAL(alig_step_check(all, &k, &o, 1e-9), (unsigned)ALIG_STEP_LEMMA1);
    /* Above 1.04: Lemma 1, D1 and D2 all fail. */
    o.D_next = 1.05;
    CU_ASSERT_EQUAL(alig_step_check(all, &k, &o, 1e-9), (unsigned)(ALIG_STEP_LEMMA1 | ALIG_STEP_D1 | ALIG_STEP_D2));
    /* A mask restricts what is checked. */
    CU_ASSERT_EQUAL(alig_step_check(ALIG_STEP_D1, &k, &o, 1e-9), (unsigned)ALIG_STEP_D1);
    /* Within the rounding slack: 1e-9·(1 + 1 + 0.2 + 0.1 + 0.1) = 2.4e-9 over 0.9 is accepted. */
    o.D_next = 0.9 + 2e-9;
    CU_ASSERT_EQUAL(alig_step_check(ALIG_STEP_LEMMA1, &k, &o, 1e-9), 0u);
}

/* Real ALI-G steps (the library solver) on a random least-squares instance with noise, i.e.
 * ε > 0: every per-step inequality must hold at every step, for every (η, δ) tried. Also shows
 * that the checker catches a corrupted D_{t+1}. */
static void test_step_check_on_runs(void)
{
    enum { N = 6, P = 3, STEPS = 400 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    double X[N][P], y[N], ws[P] = { 0.5, -1.0, 0.25 };
    double beta = 0;
    for (int i = 0; i < N; i++) {
        double nx = 0, r = 0;
        for (int j = 0; j < P; j++) { X[i][j] = gsl_ran_gaussian(rng, 1.0); nx += X[i][j] * X[i][j]; r += X[i][j] * ws[j]; }
        y[i] = r + gsl_ran_gaussian(rng, 0.05);
        if (nx > beta) beta = nx;
    }
    /* w⋆ is not needed to be the minimiser for Lemma 1 / D2 per step: any point with
     * ℓ_i(w⋆) <= ε works. Use ws and ε = max_i ½(x_iᵀws − y_i)². */
    double eps = 0;
    for (int i = 0; i < N; i++) {
        double r = -y[i];
        for (int j = 0; j < P; j++) r += X[i][j] * ws[j];
        if (0.5 * r * r > eps) eps = 0.5 * r * r;
    }
    const double etas[] = { 0.02, 0.5, INF }, deltas[] = { 0, 1e-5, 1 };
    size_t checked = 0;
    for (size_t ie = 0; ie < 3; ie++)
        for (size_t id = 0; id < 3; id++) {
            alig_params_alig par = ALIG_PARAMS_ALIG_DEFAULT;
            par.eta = etas[ie];
            par.delta = deltas[id];
            alig_solver *s;
            double w[P] = { 3, 3, -3 }, g[P];
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, ALIG_F64, P, &par) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
            alig_bound_consts k = K(NAN, NAN, beta, NAN, eps, par.delta, par.eta);
            unsigned mask = ALIG_STEP_LEMMA1 | ALIG_STEP_D2;
            for (int t = 0; t < STEPS; t++) {
                int i = (int)gsl_rng_uniform_int(rng, N);
                double r = -y[i], rs = -y[i], D = 0;
                for (int j = 0; j < P; j++) { r += X[i][j] * w[j]; rs += X[i][j] * ws[j]; D += (w[j] - ws[j]) * (w[j] - ws[j]); }
                for (int j = 0; j < P; j++) g[j] = r * X[i][j];
                alig_step_obs o = { .D_prev = D, .loss = 0.5 * r * r, .loss_star = 0.5 * rs * rs };
                CU_ASSERT_FATAL(alig_solver_step(s, o.loss, g) == ALIG_SUCCESS);
                o.step = alig_solver_step_size(s);
                o.D_next = 0;
                for (int j = 0; j < P; j++) o.D_next += (w[j] - ws[j]) * (w[j] - ws[j]);
                CU_ASSERT_EQUAL(alig_step_check(mask, &k, &o, 1e-9), 0u);
                checked++;
                /* A D_{t+1} larger than D_t + 1 breaks Lemma 1 (its right-hand side is <= D_t + 2γℓ⋆). */
                alig_step_obs bad = o;
                bad.D_next = o.D_prev + 2 * o.step * o.loss_star + 1.0;
                CU_ASSERT(alig_step_check(ALIG_STEP_LEMMA1, &k, &bad, 1e-9) & ALIG_STEP_LEMMA1);
            }
            alig_solver_free(s);
        }
    CU_ASSERT_EQUAL(checked, 9u * STEPS);
    gsl_rng_free(rng);
}

/* Absolute loss |x_iᵀw − y_i| with an exactly interpolated w⋆ (ε = 0): D1 per step for every η,
 * D1∞ per step for η = ∞ with δ > 0 (and ε = 0 it is then also valid). */
static void test_step_check_lipschitz(void)
{
    enum { N = 5, P = 2, STEPS = 300 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 11);
    double X[N][P], y[N], ws[P] = { 1.0, -2.0 }, C = 0;
    for (int i = 0; i < N; i++) {
        double nx = 0;
        y[i] = 0;
        for (int j = 0; j < P; j++) { X[i][j] = gsl_ran_gaussian(rng, 1.0); nx += X[i][j] * X[i][j]; y[i] += X[i][j] * ws[j]; }
        if (sqrt(nx) > C) C = sqrt(nx);
    }
    const double etas[] = { 0.05, 1, INF }, deltas[] = { 0, 0.5 };
    for (size_t ie = 0; ie < 3; ie++)
        for (size_t id = 0; id < 2; id++) {
            alig_params_alig par = ALIG_PARAMS_ALIG_DEFAULT;
            par.eta = etas[ie];
            par.delta = deltas[id];
            alig_solver *s;
            double w[P] = { -2, 2 }, g[P];
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, ALIG_F64, P, &par) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
            alig_bound_consts k = K(NAN, C, NAN, NAN, 0, par.delta, par.eta);
            unsigned mask = ALIG_STEP_LEMMA1 | ALIG_STEP_D1 | ALIG_STEP_D1INF;
            for (int t = 0; t < STEPS; t++) {
                int i = (int)gsl_rng_uniform_int(rng, N);
                double r = -y[i], rs = -y[i], D = 0;
                for (int j = 0; j < P; j++) { r += X[i][j] * w[j]; rs += X[i][j] * ws[j]; D += (w[j] - ws[j]) * (w[j] - ws[j]); }
                double sg = r > 0 ? 1 : (r < 0 ? -1 : 0);
                for (int j = 0; j < P; j++) g[j] = sg * X[i][j];
                alig_step_obs o = { .D_prev = D, .loss = fabs(r), .loss_star = fabs(rs) };
                CU_ASSERT_FATAL(alig_solver_step(s, o.loss, g) == ALIG_SUCCESS);
                o.step = alig_solver_step_size(s);
                o.D_next = 0;
                for (int j = 0; j < P; j++) o.D_next += (w[j] - ws[j]) * (w[j] - ws[j]);
                CU_ASSERT_EQUAL(alig_step_check(mask, &k, &o, 1e-9), 0u);
            }
            alig_solver_free(s);
        }
    gsl_rng_free(rng);
}

/* ------------------------------------------------------------------ statistics */
static void test_ci(void)
{
    /* x = 1..5: mean 3, sd = √(10/4) = √2.5, se = √2.5/√5 = √0.5; t_{4, 0.975} = 2.7764451051977987
     * (Student-t table). Half-width = 2.7764451051977987·√0.5 = 1.9632432. */
    const double x[] = { 1, 2, 3, 4, 5 };
    alig_ci ci;
    CU_ASSERT_EQUAL_FATAL(alig_stats_ci(x, 5, 0.95, &ci), ALIG_SUCCESS);
    const double hw = 2.7764451051977987 * sqrt(0.5);
    CU_ASSERT_EQUAL(ci.n, 5u);
    CU_ASSERT_DOUBLE_EQUAL(ci.mean, 3.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(ci.sd, sqrt(2.5), TOL);
    CU_ASSERT_DOUBLE_EQUAL(ci.se, sqrt(0.5), TOL);
    CU_ASSERT_DOUBLE_EQUAL(ci.lo, 3.0 - hw, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(ci.hi, 3.0 + hw, 1e-9);
    /* Two points {0, 2}: mean 1, sd √2, se 1, t_{1, 0.975} = 12.706204736174707. */
    const double y[] = { 0, 2 };
    CU_ASSERT_EQUAL_FATAL(alig_stats_ci(y, 2, 0.95, &ci), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(ci.hi, 1.0 + 12.706204736174707, 1e-8);
    /* Constant sample: zero width. */
    const double z[] = { 4, 4, 4 };
    CU_ASSERT_EQUAL_FATAL(alig_stats_ci(z, 3, 0.95, &ci), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(ci.lo, 4.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(ci.hi, 4.0, TOL);
    /* Errors. */
    CU_ASSERT_EQUAL(alig_stats_ci(x, 1, 0.95, &ci), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_stats_ci(x, 5, 1.0, &ci), ALIG_EINVAL);
    const double bad[] = { 1, NAN, 3 };
    CU_ASSERT_EQUAL(alig_stats_ci(bad, 3, 0.95, &ci), ALIG_ENONFINITE);
}

static void test_fit(void)
{
    alig_fit f;
    /* Exact line y = 2 − 0.5x at x = 0..4, unit weights: slope −0.5, intercept 2, χ² = 0;
     * slope se = 1/√Sxx with Sxx = 4 + 1 + 0 + 1 + 4 = 10. */
    const double x[] = { 0, 1, 2, 3, 4 }, y[] = { 2, 1.5, 1, 0.5, 0 }, w1[] = { 1, 1, 1, 1, 1 };
    CU_ASSERT_EQUAL_FATAL(alig_fit_wline(x, y, w1, 5, &f), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(f.slope, -0.5, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.intercept, 2.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.chisq, 0.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.slope_se, sqrt(0.1), TOL);
    CU_ASSERT_EQUAL_FATAL(alig_fit_wline(x, y, NULL, 5, &f), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(f.slope, -0.5, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.slope_se, sqrt(0.1), TOL);

    /* x = {0,1,2}, y = {0,3,2}, unit weights: x̄ = 1, ȳ = 5/3, Sxy = 2, Sxx = 2 → slope 1,
     * intercept 2/3; residuals −2/3, 4/3, −2/3 → χ² = 24/9 = 8/3 > n − 2 = 1, so the se is
     * inflated: √((1/2)·(8/3)) = √(4/3). */
    const double x3[] = { 0, 1, 2 }, y3[] = { 0, 3, 2 };
    CU_ASSERT_EQUAL_FATAL(alig_fit_wline(x3, y3, NULL, 3, &f), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(f.slope, 1.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.intercept, 2.0 / 3.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.chisq, 8.0 / 3.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.slope_se, sqrt(4.0 / 3.0), TOL);

    /* Weights {2,1,1}: x̄ = 3/4, ȳ = 5/4, Sxx = 2·(9/16) + 1/16 + 25/16 = 11/4,
     * Sxy = 2·(3/4)(5/4) + (1/4)(7/4) + (5/4)(3/4) = 13/4 → slope 13/11, intercept 5/4 − (3/4)(13/11) = 4/11;
     * residuals −4/11, 16/11, −8/11 → χ² = (2·16 + 256 + 64)/121 = 32/11;
     * se = √((4/11)·(32/11)) = √128/11. */
    const double w3[] = { 2, 1, 1 };
    CU_ASSERT_EQUAL_FATAL(alig_fit_wline(x3, y3, w3, 3, &f), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(f.slope, 13.0 / 11.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.intercept, 4.0 / 11.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.chisq, 32.0 / 11.0, TOL);
    CU_ASSERT_DOUBLE_EQUAL(f.slope_se, sqrt(128.0) / 11.0, TOL);

    /* Errors: too few points, all x equal, a zero weight, a NaN. */
    CU_ASSERT_EQUAL(alig_fit_wline(x3, y3, NULL, 2, &f), ALIG_EBADLEN);
    const double xe[] = { 1, 1, 1 }, w0[] = { 1, 0, 1 }, yn[] = { 0, NAN, 1 };
    CU_ASSERT_EQUAL(alig_fit_wline(xe, y3, NULL, 3, &f), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_fit_wline(x3, y3, w0, 3, &f), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_fit_wline(x3, yn, NULL, 3, &f), ALIG_ENONFINITE);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("bounds", NULL, NULL);
    if (!s || !CU_add_test(s, "D1 hand values", test_d1) || !CU_add_test(s, "D1inf hand values", test_d1inf)
        || !CU_add_test(s, "D2 hand values", test_d2) || !CU_add_test(s, "D3 hand values", test_d3)
        || !CU_add_test(s, "per-step right-hand sides", test_step_rhs)
        || !CU_add_test(s, "per-step checker", test_step_check)
        || !CU_add_test(s, "per-step inequalities on ALI-G runs (least squares)", test_step_check_on_runs)
        || !CU_add_test(s, "per-step inequalities on ALI-G runs (absolute loss)", test_step_check_lipschitz)
        || !CU_add_test(s, "confidence interval", test_ci) || !CU_add_test(s, "weighted line fit", test_fit)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
