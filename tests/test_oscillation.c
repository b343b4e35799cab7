/* test_oscillation.c - the non-convex example of docs/oscillation.md (alig/oscillation.h):
 *   - f is even, C¹ and 0.2-smooth (difference quotients, descent lemma, tightness of L), its
 *     pieces match the hand-computed values, and 0 is its only stationary point;
 *   - Polyak / ALI-G∞ from 8.05 returns to ∓8.05 after every step (hand derivation: on the tail
 *     x − f/f' = −8.05), the polyak solver takes the same steps, every tail start lands on ±8.05;
 *   - ALI-G with η ∈ {1, 2.5, 5, 9, 9.99}: f non-increasing, strictly decreasing while f > 1e-300,
 *     first |x| ≤ 1 at steps 321, 129, 65, 37, 33 (docs/oscillation.md §3), |x_1000| < 1e-60; the
 *     solver-core trajectory equals a plain re-implementation of the step written here;
 *   - the zero-gradient guard fires with δ = 0 (‖g‖² underflows), freezes the iterate, no NaN;
 *   - η = 500 gives the orbit {8.05, −1.95}, η = 600 gives {8.05, −3.95}; δ = 1e-5 slows the end;
 *   - the cycle detector on synthetic sequences (periods 1-4, noise, transients, slow convergence,
 *     quasi-periodic, too short, NaN, bad arguments);
 *   - alig_osc_probe (early stop, extension of undecided runs) and alig_osc_scan (every η < 2/L
 *     converges; first failure, refinement and bisection bracket; the integer windows of docs/oscillation.md §4);
 *   - the measured threshold against the closed form η* = (8.05 + (2 + √10)/3)/0.04 ≈ 244.268981. */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/alig.h"
#include "alig/oscillation.h"

#define X0 8.05

static void check(int cond, const char *fmt, double a, double b)
{
    if (!cond) printf("\n    failed: %s (%.17g, %.17g)\n", fmt, a, b);
    CU_ASSERT(cond);
}

static alig_params_alig alig_params(double eta, double delta)
{
    alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
    p.eta = eta;
    p.delta = delta;
    return p;
}

/* ------------------------------------------------------------------ the function */

static void test_function_values(void)
{
    /* hand-computed from the pieces of docs/oscillation.md §1 */
    CU_ASSERT_EQUAL(alig_osc_f(0.0), 0.0);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(0.5), 0.025, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(1.0), 0.1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(1.5), 0.1 + 0.1 - 0.025, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(1.9), 0.199, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(X0), 0.322, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(X0), 2.0 * X0 * alig_osc_grad(X0), 1e-15);   /* the 2-cycle condition */
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_grad(0.5), 0.1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_grad(1.5), 0.1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_grad(1.9), 0.02, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_grad(7.0), 0.02, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_grad(-7.0), -0.02, 1e-15);
    CU_ASSERT_EQUAL(alig_osc_grad(0.0), 0.0);
    CU_ASSERT_EQUAL(alig_osc_curvature(0.3), 0.2);
    CU_ASSERT_EQUAL(alig_osc_curvature(-1.3), -0.2);
    CU_ASSERT_EQUAL(alig_osc_curvature(5.0), 0.0);
    /* even f, odd f', f' > 0 on x > 0: 0 is the only stationary point */
    int even = 1, odd = 1, positive = 1;
    for (int i = 1; i <= 3000; i++) {
        double x = i * 0.00731;
        even &= alig_osc_f(x) == alig_osc_f(-x);
        odd &= alig_osc_grad(x) == -alig_osc_grad(-x);
        positive &= alig_osc_grad(x) > 0.0 && alig_osc_f(x) > 0.0;
    }
    CU_ASSERT(even);
    CU_ASSERT(odd);
    CU_ASSERT(positive);
}

/* f' against central differences of f: for a C¹ function with L-Lipschitz f' the error is at
 * most L·h/2 everywhere, kinks of f'' included; f'' against differences of f' off the kinks. */
static void test_function_c1_smooth(void)
{
    const double L = ALIG_OSC_SMOOTHNESS, h = 1e-5;
    double worst = 0.0, max_ratio = 0.0;
    int checked = 0;
    for (int i = -12000; i <= 12000; i++) {
        double x = i * 0.001 + 0.000123;
        double fd = (alig_osc_f(x + h) - alig_osc_f(x - h)) / (2.0 * h);
        double err = fabs(fd - alig_osc_grad(x));
        if (err > worst) worst = err;
        double u = fabs(x);
        if (fabs(u - 1.0) > 2 * h && fabs(u - 1.9) > 2 * h) {
            double sd = (alig_osc_grad(x + h) - alig_osc_grad(x - h)) / (2.0 * h);
            check(fabs(sd - alig_osc_curvature(x)) <= 1e-8, "f'' by differences", sd, alig_osc_curvature(x));
        }
        checked++;
    }
    check(worst <= L * h / 2 + 1e-10, "central difference of f vs f'", worst, L * h / 2);
    /* continuity of f and f' across the joins u = 1 and u = 1.9 */
    const double joins[] = { 1.0, 1.9, -1.0, -1.9 };
    for (size_t k = 0; k < 4; k++) {
        double a = joins[k], e = 1e-9;
        check(fabs(alig_osc_f(a + e) - alig_osc_f(a - e)) <= 1e-9, "f continuous", a, 0);
        check(fabs(alig_osc_grad(a + e) - alig_osc_grad(a - e)) <= 1e-9, "f' continuous", a, 0);
    }
    /* L-smoothness: |f'(x) − f'(y)| ≤ L|x − y| and the descent lemma, on many pairs; the constant is
     * attained (ratio close to L), so 0.2 is tight */
    for (int i = -400; i <= 400; i++) {
        for (int j = -60; j <= 60; j += 7) {
            double x = i * 0.025 + 0.0031, y = x + j * 0.0173 + 0.0007;
            double ratio = fabs(alig_osc_grad(x) - alig_osc_grad(y)) / fabs(x - y);
            if (ratio > max_ratio) max_ratio = ratio;
            double ub = alig_osc_f(x) + alig_osc_grad(x) * (y - x) + 0.5 * L * (y - x) * (y - x);
            if (!(alig_osc_f(y) <= ub + 1e-14)) check(0, "descent lemma", x, y);
        }
    }
    check(max_ratio <= L * (1 + 1e-9), "|f'(x)-f'(y)| <= L|x-y|", max_ratio, L);
    check(max_ratio >= L * (1 - 1e-6), "L = 0.2 is attained", max_ratio, L);
    CU_ASSERT(checked > 20000);
}

/* ------------------------------------------------------------------ Polyak / ALI-G∞ */

static void test_polyak_cycles(void)
{
    enum { T = 400 };
    static double xa[T + 1], fa[T + 1], sa[T], xp[T + 1], fp[T + 1];
    alig_params_alig pa = alig_params(INFINITY, 0.0);
    alig_params_polyak pp = ALIG_PARAMS_POLYAK_DEFAULT;
    size_t done = 0;
    CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_alig, &pa, X0, T, xa, fa, sa, &done), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(done, T);
    CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_polyak, &pp, X0, T, xp, fp, NULL, NULL), ALIG_SUCCESS);
    for (size_t t = 0; t <= T; t++) {
        double want = (t % 2 == 0) ? X0 : -X0;   /* returns to ∓8.05 after every step */
        if (!(fabs(xa[t] - want) <= 1e-12)) check(0, "ALI-G-inf orbit", xa[t], want);
        if (!(fabs(xp[t] - xa[t]) <= 1e-15 * X0)) check(0, "polyak solver = ALI-G-inf", xp[t], xa[t]);
        CU_ASSERT_DOUBLE_EQUAL(fa[t], 0.322, 1e-12);   /* f never decreases */
    }
    /* the step is the Polyak step f/f'^2 = 0.322/0.0004 = 805 */
    CU_ASSERT_DOUBLE_EQUAL(sa[0], 805.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(sa[T - 1], 805.0, 1e-9);

    alig_osc_verdict v;
    CU_ASSERT_EQUAL_FATAL(alig_osc_classify(xa, fa, T + 1, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
    CU_ASSERT_EQUAL(v.period, 2);
    CU_ASSERT_DOUBLE_EQUAL(v.points[0], -X0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(v.points[1], X0, 1e-12);
    CU_ASSERT_EQUAL(v.since, 0);
    CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, INFINITY, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
    CU_ASSERT_EQUAL(v.period, 2);

    /* every start on the tails lands on ∓8.05 after one step, then cycles (docs/oscillation.md §2) */
    const double starts[] = { 2.0, 3.0, 50.0, -7.0 };
    for (size_t k = 0; k < 4; k++) {
        double x[6], f[6];
        CU_ASSERT_EQUAL(alig_osc_trajectory(alig_solver_alig, &pa, starts[k], 5, x, f, NULL, NULL), ALIG_SUCCESS);
        double s = starts[k] > 0 ? -1.0 : 1.0;
        for (size_t t = 1; t <= 5; t++) {
            double want = (t % 2 == 1) ? s * X0 : -s * X0;
            if (!(fabs(x[t] - want) <= 1e-12)) check(0, "tail start lands on the cycle", starts[k], x[t]);
        }
    }
}

/* ------------------------------------------------------------------ ALI-G below 2/L */

/* The ALI-G step written out in plain double (docs/optimizers.md: γ = min(f/(f'^2 + δ), η), γ = 0 when
 * the denominator is 0), independent of the solver core. */
static double plain_step(double x, double eta, double delta)
{
    double f = alig_osc_f(x), g = alig_osc_grad(x), den = g * g + delta;
    double gamma = den > 0.0 ? f / den : 0.0;
    if (gamma > eta) gamma = eta;
    return x - gamma * g;
}

static void test_alig_converges_below_theory(void)
{
    enum { T = 1000 };
    static double x[T + 1], f[T + 1], st[T];
    const double etas[] = { 1.0, 2.5, 5.0, 9.0, 9.99 };
    const size_t first_in_unit[] = { 321, 129, 65, 37, 33 };   /* docs/oscillation.md §3 */
    for (size_t k = 0; k < 5; k++) {
        alig_params_alig p = alig_params(etas[k], 0.0);
        CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_alig, &p, X0, T, x, f, st, NULL), ALIG_SUCCESS);
        int noninc = 1, strict = 1, finite = 1, same = 1;
        double xr = X0;
        for (size_t t = 0; t < T; t++) {
            noninc &= f[t + 1] <= f[t];
            if (f[t] > 1e-300) strict &= f[t + 1] < f[t];
            finite &= isfinite(x[t + 1]) && isfinite(f[t + 1]);
            xr = plain_step(xr, etas[k], 0.0);
            same &= fabs(xr - x[t + 1]) <= 1e-14 * fabs(xr) + 1e-300;
        }
        check(noninc, "f non-increasing", etas[k], 0);
        check(strict, "f strictly decreasing while f > 1e-300", etas[k], 0);
        check(finite, "finite iterates", etas[k], 0);
        check(same, "solver core = plain re-implementation", etas[k], 0);
        size_t first = 0;
        while (first <= T && fabs(x[first]) > 1.0) first++;
        /* exact: the runs are deterministic and the counts come from an independent
         * float64 implementation (docs/oscillation.md §3); no operation here is contracted into an FMA on x86-64 */
        check(first == first_in_unit[k], "first step with |x| <= 1", (double)first, (double)first_in_unit[k]);
        check(fabs(x[T]) < 1e-60, "|x_1000| < 1e-60", x[T], etas[k]);
    }
}

/* With δ = 0, ‖g‖² = (0.2x)² underflows to 0 for |x| ≲ 7.9e-162 while g does not: the guard sets
 * γ = 0 and the iterate freezes (docs/optimizers.md). */
static void test_guard_fires_without_nan(void)
{
    enum { T = 1000 };
    static double x[T + 1], f[T + 1], st[T];
    const double etas[] = { 2.5, 5.0, 9.0, 9.99 };
    for (size_t k = 0; k < 4; k++) {
        alig_params_alig p = alig_params(etas[k], 0.0);
        CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_alig, &p, X0, T, x, f, st, NULL), ALIG_SUCCESS);
        size_t fired = T;
        for (size_t t = 0; t < T; t++)
            if (st[t] == 0.0) { fired = t; break; }
        check(fired < T, "guard fired", etas[k], 0);
        if (fired == T) continue;
        double g = alig_osc_grad(x[fired]);
        CU_ASSERT(g != 0.0);
        CU_ASSERT_EQUAL(g * g, 0.0);            /* the underflow that triggers the guard */
        check(fabs(x[fired]) > 1e-162 && fabs(x[fired]) < 1e-161, "frozen near 5e-162..8e-162", x[fired], 0);
        if (etas[k] >= 5.0) check(fired >= 560 && fired <= 610, "guard first fires after ~570-600 steps",
                                  (double)fired, etas[k]);
        int frozen = 1, finite = 1;
        for (size_t t = fired; t < T; t++) {
            frozen &= x[t + 1] == x[fired] && st[t] == 0.0;
            finite &= isfinite(x[t + 1]) && isfinite(f[t + 1]) && !isnan(st[t]);
        }
        CU_ASSERT(frozen);
        CU_ASSERT(finite);
    }
}

static void test_large_eta_orbits(void)
{
    enum { T = 300 };
    static double x[T + 1], f[T + 1];
    /* η = 500: at 8.05, f/f'^2 = 805 > 500, so γ = 500 and x1 = 8.05 − 500·0.02 = −1.95; at −1.95,
     * f = 0.2 and f/f'^2 = 500, so x2 = −1.95 + 10 = 8.05.  η = 600: {8.05, 8.05 − 12 = −3.95}. */
    const double etas[] = { 500.0, 600.0 }, other[] = { -1.95, -3.95 };
    for (size_t k = 0; k < 2; k++) {
        alig_params_alig p = alig_params(etas[k], 0.0);
        CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_alig, &p, X0, T, x, f, NULL, NULL), ALIG_SUCCESS);
        for (size_t t = 0; t <= T; t++) {
            double want = t % 2 == 0 ? X0 : other[k];
            if (!(fabs(x[t] - want) <= 1e-9)) check(0, "large-eta orbit", x[t], want);
        }
        alig_osc_verdict v;
        CU_ASSERT_EQUAL(alig_osc_classify(x, f, T + 1, NULL, &v), ALIG_SUCCESS);
        CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
        CU_ASSERT_EQUAL(v.period, 2);
        CU_ASSERT_DOUBLE_EQUAL(v.points[0], other[k], 1e-9);
        CU_ASSERT_DOUBLE_EQUAL(v.points[1], X0, 1e-9);
    }
}

/* δ = 1e-5: near 0, γ ≈ 0.1x²/δ and |x| decays like t^(-1/2): 5e-4 to 6e-4 after 1000 steps (docs/oscillation.md §3). */
static void test_delta_slows_the_end(void)
{
    enum { T = 1000 };
    static double x[T + 1], f[T + 1];
    const double etas[] = { 1.0, 5.0, 9.99 };
    for (size_t k = 0; k < 3; k++) {
        alig_params_alig p = alig_params(etas[k], 1e-5);
        CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_alig, &p, X0, T, x, f, NULL, NULL), ALIG_SUCCESS);
        check(fabs(x[T]) > 4e-4 && fabs(x[T]) < 7e-4, "|x_1000| with delta = 1e-5", x[T], etas[k]);
    }
}

/* ------------------------------------------------------------------ the detector */

static void fill_f(const double *x, double *f, size_t n)
{
    for (size_t i = 0; i < n; i++) f[i] = x[i] * x[i];   /* any f with minimiser 0 */
}

static void test_detector_synthetic(void)
{
    enum { N = 600 };
    static double x[N], f[N];
    alig_osc_verdict v;

    /* geometric convergence: converged from the first t with |x_t| ≤ 1e-2 */
    for (size_t t = 0; t < N; t++) x[t] = 5.0 * pow(0.9, (double)t);
    fill_f(x, f, N);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CONVERGED);
    size_t first = 0;
    while (fabs(x[first]) > 1e-2) first++;
    CU_ASSERT_EQUAL(v.since, first);
    CU_ASSERT_EQUAL(v.period, 0);

    /* exact periods 1..4 (a fixed point away from the minimiser is a period-1 cycle) */
    const double pattern[4] = { 3.0, -1.5, 2.25, -4.0 };
    for (size_t p = 1; p <= 4; p++) {
        for (size_t t = 0; t < N; t++) x[t] = pattern[t % p];
        fill_f(x, f, N);
        CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
        CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
        CU_ASSERT_EQUAL(v.period, p);
        CU_ASSERT_EQUAL(v.since, 0);
        double sorted[4];
        memcpy(sorted, pattern, sizeof sorted);
        for (size_t i = 0; i < p; i++)   /* insertion sort of the first p */
            for (size_t j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
                double tmp = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = tmp;
            }
        for (size_t i = 0; i < p; i++) CU_ASSERT_EQUAL(v.points[i], sorted[i]);
    }

    /* period 4 with relative noise 1e-12 (below cycle_tol 1e-9) still counts; noise 1e-6 does not */
    for (int big = 0; big <= 1; big++) {
        for (size_t t = 0; t < N; t++) {
            double noise = (big ? 1e-6 : 1e-12) * (((t * 7919) % 13) / 13.0 - 0.5);
            x[t] = pattern[t % 4] * (1.0 + noise);
        }
        fill_f(x, f, N);
        CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
        CU_ASSERT_EQUAL(v.outcome, big ? ALIG_OSC_UNDECIDED : ALIG_OSC_CYCLED);
        if (!big) CU_ASSERT_EQUAL(v.period, 4);
    }

    /* a transient of 37 steps, then a 2-cycle: since = 37 */
    for (size_t t = 0; t < N; t++) x[t] = t < 37 ? 10.0 - 0.1 * (double)t : (t % 2 ? -2.0 : 2.5);
    fill_f(x, f, N);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
    CU_ASSERT_EQUAL(v.period, 2);
    CU_ASSERT_EQUAL(v.since, 37);

    /* slow convergence: consecutive iterates closer than cycle_tol, but f keeps decreasing */
    for (size_t t = 0; t < N; t++) x[t] = 5.0 * (1.0 - 1e-10 * (double)t);
    fill_f(x, f, N);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_UNDECIDED);

    /* quasi-periodic rotation (irrational frequency): no period ≤ 8 */
    for (size_t t = 0; t < N; t++) x[t] = 3.0 + cos(6.283185307179586 * 0.6180339887498949 * (double)t);
    fill_f(x, f, N);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_UNDECIDED);

    /* period 9 > period_max = 8: undecided; with a period-2 setting it is still undecided */
    for (size_t t = 0; t < N; t++) x[t] = 1.0 + (double)(t % 9);
    fill_f(x, f, N);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_UNDECIDED);

    /* a cycle that breaks at the very end is not a cycle */
    for (size_t t = 0; t < N; t++) x[t] = t % 2 ? -2.0 : 2.5;
    x[N - 1] = 7.0;
    fill_f(x, f, N);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_UNDECIDED);

    /* too short to be sustained over `window` steps */
    for (size_t t = 0; t < N; t++) x[t] = t % 2 ? -2.0 : 2.5;
    fill_f(x, f, N);
    alig_osc_detect d = ALIG_OSC_DETECT_DEFAULT;
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, d.window + 1, &d, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_UNDECIDED);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, d.window + 2, &d, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);

    /* a NaN or inf: diverged at its index, x_last the entry before */
    x[250] = NAN;
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_DIVERGED);
    CU_ASSERT_EQUAL(v.since, 250);
    CU_ASSERT_EQUAL(v.x_last, x[249]);
    x[250] = 2.5;
    f[10] = INFINITY;
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_DIVERGED);
    CU_ASSERT_EQUAL(v.since, 10);

    /* arguments */
    CU_ASSERT_EQUAL(alig_osc_classify(NULL, f, N, NULL, &v), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_osc_classify(x, NULL, N, NULL, &v), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, NULL, NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, 0, NULL, &v), ALIG_EBADLEN);
    d.period_max = ALIG_OSC_PERIOD_MAX + 1;
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, &d, &v), ALIG_EINVAL);
    d = (alig_osc_detect)ALIG_OSC_DETECT_DEFAULT;
    d.cycle_tol = NAN;
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, &d, &v), ALIG_EINVAL);
    d = (alig_osc_detect)ALIG_OSC_DETECT_DEFAULT;
    d.window = 0;
    CU_ASSERT_EQUAL(alig_osc_classify(x, f, N, &d, &v), ALIG_EINVAL);
    CU_ASSERT_STRING_EQUAL(alig_osc_outcome_name(ALIG_OSC_CYCLED), "cycled");
    CU_ASSERT_STRING_EQUAL(alig_osc_outcome_name((alig_osc_outcome)99), "unknown");
}

/* ------------------------------------------------------------------ probe and scan */

static void test_probe(void)
{
    alig_osc_verdict v;
    /* early stop at the first |x_t| ≤ 1e-2: the same t as a full trajectory */
    enum { T = 400 };
    static double x[T + 1], f[T + 1];
    alig_params_alig p = alig_params(5.0, 0.0);
    CU_ASSERT_EQUAL_FATAL(alig_osc_trajectory(alig_solver_alig, &p, X0, T, x, f, NULL, NULL), ALIG_SUCCESS);
    size_t first = 0;
    while (fabs(x[first]) > 1e-2) first++;
    CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, 5.0, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CONVERGED);
    CU_ASSERT_EQUAL(v.since, first);
    CU_ASSERT_EQUAL(v.x_last, x[first]);

    /* η = 0.02 needs ~17000 steps (0.0004 per step on the tail): undecided after one segment
     * of 3000, converged once the run is extended */
    alig_osc_config c = ALIG_OSC_CONFIG_DEFAULT;
    c.max_iters = c.iters;
    CU_ASSERT_EQUAL(alig_osc_probe(&c, 0.02, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_UNDECIDED);
    CU_ASSERT(v.x_last > 6.0 && v.x_last < 8.05);   /* 8.05 − 3000·0.0004 = 6.85 */
    CU_ASSERT_DOUBLE_EQUAL(v.x_last, 8.05 - 3000 * 0.0004, 1e-9);
    c.max_iters = 100000;
    CU_ASSERT_EQUAL(alig_osc_probe(&c, 0.02, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CONVERGED);
    size_t want = 0;
    for (double xr = X0; fabs(xr) > 1e-2; want++) xr = plain_step(xr, 0.02, 0.0);
    CU_ASSERT(want > 3000);
    CU_ASSERT_EQUAL(v.since, want);   /* the continued run is the uninterrupted one */

    /* parameters are checked by the solver core */
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, 0.0, &v), ALIG_EBADETA);
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, -1.0, &v), ALIG_EBADETA);
    c = (alig_osc_config)ALIG_OSC_CONFIG_DEFAULT;
    c.delta = -1.0;
    CU_ASSERT_EQUAL(alig_osc_probe(&c, 1.0, &v), ALIG_EBADDELTA);
    c = (alig_osc_config)ALIG_OSC_CONFIG_DEFAULT;
    c.iters = 0;
    CU_ASSERT_EQUAL(alig_osc_probe(&c, 1.0, &v), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, 1.0, NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_osc_trajectory(NULL, NULL, X0, 10, x, f, NULL, NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_osc_trajectory(alig_solver_alig, NULL, NAN, 10, x, f, NULL, NULL), ALIG_EINVAL);
}

/* the integer windows of docs/oscillation.md §4 (x0 = 8.05, |x_3000| < 1e-2) */
static void test_integer_windows(void)
{
    const double fail[] = { 245, 246, 249, 280, 307, 311, 316, 489, 700, 1000 };
    const double conv[] = { 10, 50, 100, 189, 244, 247, 248, 308, 310, 317, 400, 488 };
    alig_osc_verdict v;
    for (size_t k = 0; k < sizeof fail / sizeof fail[0]; k++) {
        CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, fail[k], &v), ALIG_SUCCESS);
        check(v.outcome == ALIG_OSC_CYCLED && v.period == 2, "fails (2-cycle) at", fail[k], (double)v.outcome);
    }
    for (size_t k = 0; k < sizeof conv / sizeof conv[0]; k++) {
        CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, conv[k], &v), ALIG_SUCCESS);
        check(v.outcome == ALIG_OSC_CONVERGED, "converges at", conv[k], (double)v.outcome);
    }
    /* δ = 1e-5 gives the same windows at these points */
    alig_osc_config c = ALIG_OSC_CONFIG_DEFAULT;
    c.delta = 1e-5;
    for (size_t k = 0; k < 4; k++) {
        CU_ASSERT_EQUAL_FATAL(alig_osc_probe(&c, fail[k], &v), ALIG_SUCCESS);
        check(v.outcome == ALIG_OSC_CYCLED, "delta=1e-5 fails at", fail[k], (double)v.outcome);
        CU_ASSERT_EQUAL_FATAL(alig_osc_probe(&c, conv[k + 4], &v), ALIG_SUCCESS);
        check(v.outcome == ALIG_OSC_CONVERGED, "delta=1e-5 converges at", conv[k + 4], (double)v.outcome);
    }
}

typedef struct obs_log {
    size_t n[4];
    int order_ok;
    int last_phase;
    double last_eta;
} obs_log;

static int obs(double eta, alig_osc_phase phase, const alig_osc_verdict *v, void *ctx)
{
    (void)v;
    obs_log *o = ctx;
    o->n[phase]++;
    if ((int)phase < o->last_phase) o->order_ok = 0;
    if ((int)phase == o->last_phase && phase < ALIG_OSC_PHASE_REFINE && !(eta > o->last_eta)) o->order_ok = 0;
    o->last_phase = (int)phase;
    o->last_eta = eta;
    return 0;
}

/* The infimum of the failing η from x0 = 8.05 in closed form (docs/oscillation.md): for
 * 190 < η < 307.5 the first two steps are clipped on the tail, x2 = 8.05 − 0.04η, and the orbit
 * escapes iff |x2| exceeds the unstable symmetric Polyak 2-cycle ±u* of the concave piece,
 * f(u*) = 2u* f'(u*), i.e. u* = (2 + √10)/3. So η* = (8.05 + u*)/0.04. */
static double eta_star(void) { return (8.05 + (2.0 + sqrt(10.0)) / 3.0) / 0.04; }

static void test_scan(void)
{
    /* a coarse grid keeps the test fast; the command uses h = 0.01 */
    alig_osc_scan_spec s = ALIG_OSC_SCAN_DEFAULT;
    s.eta_step = 0.5;
    s.eta_max = 400.0;
    alig_osc_scan_result r;
    obs_log o = { .order_ok = 1, .last_phase = 0, .last_eta = 0.0 };
    CU_ASSERT_EQUAL_FATAL(alig_osc_scan(NULL, &s, obs, &o, &r), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(r.threshold_theory, 10.0);
    CU_ASSERT(r.converged_below_theory);
    CU_ASSERT_EQUAL(r.n_below, 19);              /* 0.5, 1, ..., 9.5 */
    CU_ASSERT(isnan(r.first_failure_below));
    CU_ASSERT(r.found_failure);
    /* not monotone: 244.5 converges although 244.28 (and η* + 1e-6) fail */
    CU_ASSERT_EQUAL(r.grid_last_converged, 244.5);
    CU_ASSERT_EQUAL(r.grid_first_failed, 245.0);
    CU_ASSERT_DOUBLE_EQUAL(r.fine_step, 5e-5, 1e-18);
    check(r.fine_first_failed > eta_star() && r.fine_first_failed <= eta_star() + 5e-5, "finest first failure",
          r.fine_first_failed, eta_star());
    /* the measured threshold is an upper bound on η*, within the finest step of it */
    check(r.threshold_measured >= eta_star() - 1e-9 && r.threshold_measured <= eta_star() + 5e-5,
          "measured threshold vs closed form", r.threshold_measured, eta_star());
    CU_ASSERT(r.threshold_measured - r.threshold_converged <= 1e-9);
    CU_ASSERT(r.threshold_measured > r.threshold_converged);
    CU_ASSERT_EQUAL(r.at_threshold.outcome, ALIG_OSC_CYCLED);
    CU_ASSERT_EQUAL(r.at_threshold.period, 2);
    /* independent confirmation of the bracket */
    alig_osc_verdict v;
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, r.threshold_converged, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CONVERGED);
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, r.threshold_measured, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
    /* observer: every probe seen once, phases in order */
    CU_ASSERT_EQUAL(o.n[0], 19);
    CU_ASSERT_EQUAL(o.n[1], (size_t)((245.0 - 10.0) / 0.5) + 1);
    CU_ASSERT(o.n[2] > 100);
    CU_ASSERT(o.n[3] >= 10 && o.n[3] <= 40);
    CU_ASSERT_EQUAL(o.n[0] + o.n[1] + o.n[2] + o.n[3], r.n_probes);
    CU_ASSERT(o.order_ok);

    /* without refinement, bisection inside the grid cell [244.5, 245] finds a later boundary */
    s.refine_levels = 0;
    CU_ASSERT_EQUAL_FATAL(alig_osc_scan(NULL, &s, NULL, NULL, &r), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(r.fine_step, 0.5);
    check(r.threshold_measured > 244.5 && r.threshold_measured < 245.0, "unrefined threshold in its cell",
          r.threshold_measured, 0);
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, r.threshold_converged, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CONVERGED);
    CU_ASSERT_EQUAL(alig_osc_probe(NULL, r.threshold_measured, &v), ALIG_SUCCESS);
    CU_ASSERT(v.outcome != ALIG_OSC_CONVERGED);

    /* no failure up to eta_max = 200 */
    s.eta_max = 200.0;
    CU_ASSERT_EQUAL(alig_osc_scan(NULL, &s, NULL, NULL, &r), ALIG_SUCCESS);
    CU_ASSERT(r.converged_below_theory);
    CU_ASSERT(!r.found_failure);
    CU_ASSERT(isnan(r.threshold_measured));

    /* arguments */
    s.eta_max = 5.0;
    CU_ASSERT_EQUAL(alig_osc_scan(NULL, &s, NULL, NULL, &r), ALIG_EINVAL);
    s = (alig_osc_scan_spec)ALIG_OSC_SCAN_DEFAULT;
    s.eta_step = 0.0;
    CU_ASSERT_EQUAL(alig_osc_scan(NULL, &s, NULL, NULL, &r), ALIG_EINVAL);
    s = (alig_osc_scan_spec)ALIG_OSC_SCAN_DEFAULT;
    s.refine_factor = 1.0;
    CU_ASSERT_EQUAL(alig_osc_scan(NULL, &s, NULL, NULL, &r), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_osc_scan(NULL, NULL, NULL, NULL, NULL), ALIG_EINVAL);
}

/* η just below η* converges, just above fails; and the window structure above η* */
static void test_closed_form_threshold(void)
{
    alig_osc_verdict v;
    const double below[] = { 200.0, 230.0, 244.0, 244.2689 };
    for (size_t k = 0; k < 4; k++) {
        CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, below[k], &v), ALIG_SUCCESS);
        check(v.outcome == ALIG_OSC_CONVERGED, "converges below eta*", below[k], (double)v.outcome);
    }
    CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, eta_star() - 1e-6, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CONVERGED);
    /* x2 = 8.05 − 0.04η is the claimed mechanism: check it on a trajectory */
    double x[3], f[3];
    alig_params_alig p = alig_params(eta_star(), 0.0);
    CU_ASSERT_EQUAL(alig_osc_trajectory(alig_solver_alig, &p, X0, 2, x, f, NULL, NULL), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(x[2], -(2.0 + sqrt(10.0)) / 3.0, 1e-12);
    /* u* is a 2-cycle of the Polyak map: f(u*) = 2u* f'(u*) */
    double u = (2.0 + sqrt(10.0)) / 3.0;
    CU_ASSERT_DOUBLE_EQUAL(alig_osc_f(u), 2.0 * u * alig_osc_grad(u), 1e-15);
    CU_ASSERT_EQUAL_FATAL(alig_osc_probe(NULL, 244.2690, &v), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(v.outcome, ALIG_OSC_CYCLED);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return CU_get_error();
    CU_pSuite s = CU_add_suite("oscillation", NULL, NULL);
    if (!s || !CU_add_test(s, "function values, symmetry, unique stationary point", test_function_values) ||
        !CU_add_test(s, "f is C1 and 0.2-smooth (difference quotients)", test_function_c1_smooth) ||
        !CU_add_test(s, "Polyak / ALI-G-inf cycles between +-8.05", test_polyak_cycles) ||
        !CU_add_test(s, "ALI-G converges for eta < 2/L", test_alig_converges_below_theory) ||
        !CU_add_test(s, "zero-gradient guard fires without NaN", test_guard_fires_without_nan) ||
        !CU_add_test(s, "eta = 500, 600: orbits {8.05, -1.95}, {8.05, -3.95}", test_large_eta_orbits) ||
        !CU_add_test(s, "delta = 1e-5 slows the final phase", test_delta_slows_the_end) ||
        !CU_add_test(s, "cycle detector on synthetic sequences", test_detector_synthetic) ||
        !CU_add_test(s, "probe: early stop and extension", test_probe) ||
        !CU_add_test(s, "integer eta windows", test_integer_windows) ||
        !CU_add_test(s, "eta scan, refinement and bisection", test_scan) ||
        !CU_add_test(s, "closed-form first failure eta*", test_closed_form_threshold)) {
        CU_cleanup_registry();
        return CU_get_error();
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
