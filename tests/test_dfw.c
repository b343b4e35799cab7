/* test_dfw.c - Deep Frank-Wolfe, BPGrad and SGD's plateau schedule (solvers/dfw.c, bpgrad.c, sgd.c),
 * against independent expectations, each through ALIG_F64 and ALIG_F32:
 *   - what the DFW paper and the ALI-G paper state: with the multi-class hinge loss and no
 *     regularisation, ALI-G and DFW take the same steps. Both solvers train a linear multi-class
 *     hinge classifier from the same start, each asking the oracle (written here) at its own
 *     iterate; ALI-G with maximal learning rate η and δ = ε/η, DFW with η, ε and λ = 0, with and
 *     without momentum. For η a power of two every quantity of the two step sizes scales exactly,
 *     so the iterates must agree bit for bit; for η = 0.1 to a few units of roundoff. The runs are
 *     checked to contain both clipped and unclipped steps;
 *   - DFW with weight decay and momentum on a 2-D problem against two steps derived by hand (one
 *     with γ inside (0, 1), one clipped at 1), and the zero-denominator guard;
 *   - BPGrad against its formula: a first step derived by hand, a second computed here in double;
 *     μ = 0 moves (the reference's defect is not reproduced);
 *   - SGD's plateau schedule: the learning rate after a scripted sequence of validation
 *     accuracies, derived by hand; NaN refused; other schedules ignore epoch ends;
 *   - invalid parameters: their own status, nothing allocated;
 *   - checkpoints: an interrupted run (DFW with momentum and decay, BPGrad with momentum, SGD on a
 *     plateau schedule across epoch ends) resumed from an exported state continues bit for bit;
 *   - the new kernels' parallel loops (n >= ALIG_KERNEL_PAR_MIN) give the elements of the serial
 *     loops. */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/alig.h"
#include "solvers/kernels.h"   /* ALIG_KERNEL_PAR_MIN, the kernel table */

static const alig_dtype dtypes[2] = { ALIG_F64, ALIG_F32 };
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
static int close_rel(double a, double b, double rtol) { return fabs(a - b) <= rtol * fmax(fabs(b), 1e-300); }

/* ========================================================= a linear multi-class hinge problem */
/* C classes, D features, N samples; W (C×D) flattened row-major is the parameter vector. Per sample
 * the Crammer-Singer hinge max_j (s_j + [j ≠ y]) − s_y, s = W·x; the subgradient puts +x/N on the
 * row of the first maximiser and −x/N on row y. Everything in double from the iterate's values. */
enum { HC = 4, HD = 5, HN = 12, HP = HC * HD };
static double hx[HN][HD];
static int hy[HN];

static void hinge_data(void)
{
    unsigned long long st = 12345;
    for (int i = 0; i < HN; i++) {
        hy[i] = i % HC;
        for (int d = 0; d < HD; d++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(st >> 11) / 9007199254740992.0;     /* [0, 1) */
            hx[i][d] = 2.0 * u - 1.0 + (d == hy[i] ? 1.5 : 0.0);  /* class-dependent shift */
        }
    }
}

static double hinge_oracle(alig_dtype dt, const void *w, void *g)
{
    double W[HP], G[HP] = { 0 }, loss = 0.0;
    for (int p = 0; p < HP; p++) W[p] = get(dt, w, p);
    for (int i = 0; i < HN; i++) {
        double s[HC];
        for (int c = 0; c < HC; c++) {
            s[c] = 0.0;
            for (int d = 0; d < HD; d++) s[c] += W[c * HD + d] * hx[i][d];
        }
        int js = 0;
        double best = -INFINITY;
        for (int c = 0; c < HC; c++) {
            const double a = s[c] + (c != hy[i]) - s[hy[i]];
            if (a > best) { best = a; js = c; }
        }
        loss += best;
        for (int d = 0; d < HD; d++) {
            G[js * HD + d] += hx[i][d] / HN;
            G[hy[i] * HD + d] -= hx[i][d] / HN;
        }
    }
    for (int p = 0; p < HP; p++) put(dt, g, p, G[p]);
    return loss / HN;
}

/* Run ALI-G (δ = ε/η) and DFW (λ = 0) side by side for T steps; count clipped / unclipped steps. */
static void alig_vs_dfw(alig_dtype dt, double eta, double mu, int exact, int *n_clipped, int *n_free)
{
    enum { T = 12 };
    const double eps = 1e-5;
    alig_params_alig pa = ALIG_PARAMS_ALIG_DEFAULT;
    pa.eta = eta;
    pa.delta = eps / eta;
    pa.momentum = mu;
    alig_params_dfw pd = ALIG_PARAMS_DFW_DEFAULT;
    pd.eta = eta;
    pd.momentum = mu;
    pd.weight_decay = 0.0;
    pd.eps = eps;
    alig_solver *sa = NULL, *sd = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&sa, alig_solver_alig, dt, HP, &pa) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_alloc(&sd, alig_solver_dfw, dt, HP, &pd) == ALIG_SUCCESS);
    unsigned char wa[HP * 8], wd[HP * 8], ga[HP * 8], gd[HP * 8];
    for (int p = 0; p < HP; p++) {
        const double v = 0.05 * sin(1.0 + 3.0 * p);
        put(dt, wa, p, v);
        put(dt, wd, p, v);
    }
    CU_ASSERT_FATAL(alig_solver_set(sa, wa, INFINITY) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_set(sd, wd, INFINITY) == ALIG_SUCCESS);
    const double tol = dt == ALIG_F64 ? 1e-13 : 1e-5;
    for (int t = 0; t < T; t++) {
        const double la = hinge_oracle(dt, wa, ga), ld = hinge_oracle(dt, wd, gd);
        CU_ASSERT_EQUAL_FATAL(alig_solver_step(sa, la, ga), ALIG_SUCCESS);
        CU_ASSERT_EQUAL_FATAL(alig_solver_step(sd, ld, gd), ALIG_SUCCESS);
        const double ya = alig_solver_step_size(sa), yd = alig_solver_step_size(sd);
        if (alig_solver_step_size_unclipped(sa) > eta) ++*n_clipped;
        else ++*n_free;
        if (exact) {
            CU_ASSERT(ya == yd);
            CU_ASSERT(memcmp(wa, wd, HP * esize(dt)) == 0);
        } else {
            CU_ASSERT(close_rel(yd, ya, 1e-14));
            for (int p = 0; p < HP; p++) CU_ASSERT(fabs(get(dt, wa, p) - get(dt, wd, p)) <= tol * (1.0 + fabs(get(dt, wa, p))));
        }
    }
    /* the steps did something: the hinge loss went down */
    unsigned char w0[HP * 8], g0[HP * 8];
    for (int p = 0; p < HP; p++) put(dt, w0, p, 0.05 * sin(1.0 + 3.0 * p));
    CU_ASSERT(hinge_oracle(dt, wd, gd) < 0.5 * hinge_oracle(dt, w0, g0));
    alig_solver_free(sa);
    alig_solver_free(sd);
}

static void test_alig_equals_dfw(void)
{
    hinge_data();
    int clipped = 0, free_ = 0;
    const double etas[] = { 1.0, 0.5, 0.25, 0.1 };
    for (int d = 0; d < 2; d++)
        for (size_t e = 0; e < sizeof etas / sizeof etas[0]; e++)
            for (int m = 0; m < 2; m++)
                alig_vs_dfw(dtypes[d], etas[e], m ? 0.9 : 0.0, etas[e] != 0.1, &clipped, &free_);
    /* both regimes of min(ℓ/(‖g‖² + δ), η) were exercised */
    CU_ASSERT(clipped > 0);
    CU_ASSERT(free_ > 0);
}

/* ========================================================= DFW by hand */
/* w0 = (1, −2), η = 0.5, λ = 0.1, ε = 0, μ = 0.9.
 * Step 1: g = (0.5, 1), ℓ = 0.3: r = (0.1, −0.2), ⟨δ, r⟩ = −0.15, num = 0.3 + 0.075 = 0.375,
 *   den = 0.5·1.25 = 0.625, γ = 0.6; w − η(r + γδ) = (1, −2) − 0.5·(0.4, 0.4) = (0.8, −2.2);
 *   z = −ηγ(δ + r) = −0.3·(0.6, 0.8) = (−0.18, −0.24); w + μz = (0.638, −2.416).
 * Step 2: g = (−1, 0.5), ℓ = 2: r = (0.0638, −0.2416), ⟨δ, r⟩ = −0.1846, num = 2.0923,
 *   γ_u = 2.0923/0.625 = 3.34768 → γ = 1; r + δ = (−0.9362, 0.2584); w − η(r + δ) = (1.1061, −2.5452);
 *   z = 0.9·(−0.18, −0.24) − 0.5·(−0.9362, 0.2584) = (0.3061, −0.3452); w + μz = (1.38159, −2.85588).
 * Without momentum step 1 gives (0.8, −2.2). */
static void test_dfw_by_hand(void)
{
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        const double tol = dt == ALIG_F64 ? 1e-14 : 2e-7;
        for (int mom = 0; mom < 2; mom++) {
            alig_params_dfw p = { .eta = 0.5, .momentum = mom ? 0.9 : 0.0, .weight_decay = 0.1, .eps = 0.0 };
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_dfw, dt, 2, &p) == ALIG_SUCCESS);
            unsigned char w[16], g[16];
            put(dt, w, 0, 1.0);
            put(dt, w, 1, -2.0);
            CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
            put(dt, g, 0, 0.5);
            put(dt, g, 1, 1.0);
            CU_ASSERT_FATAL(alig_solver_step(s, 0.3, g) == ALIG_SUCCESS);
            CU_ASSERT(close_rel(alig_solver_step_size(s), 0.3, tol));
            CU_ASSERT(close_rel(alig_solver_step_size_unclipped(s), 0.3, tol));
            CU_ASSERT(close_rel(get(dt, w, 0), mom ? 0.638 : 0.8, tol));
            CU_ASSERT(close_rel(get(dt, w, 1), mom ? -2.416 : -2.2, tol));
            if (mom) {
                put(dt, g, 0, -1.0);
                put(dt, g, 1, 0.5);
                CU_ASSERT_FATAL(alig_solver_step(s, 2.0, g) == ALIG_SUCCESS);
                CU_ASSERT(close_rel(alig_solver_step_size(s), 0.5, tol));
                CU_ASSERT(close_rel(alig_solver_step_size_unclipped(s), 0.5 * 3.34768, 4 * tol));
                CU_ASSERT(close_rel(get(dt, w, 0), 1.38159, 4 * tol));
                CU_ASSERT(close_rel(get(dt, w, 1), -2.85588, 4 * tol));
            }
            alig_solver_free(s);
        }
        /* the guard: ε = 0 and δ = 0. A positive numerator gives γ = 1 (the weight decay still acts
         * in the plain step and, through γ, in the buffer): w = (1, −2) − 0.5·(0.1, −0.2) = (0.95, −1.9),
         * z = −0.5·(0.1, −0.2), w + 0.9z = (0.905, −1.81). A zero numerator gives γ = 0: z stays 0. */
        for (int zero_loss = 0; zero_loss < 2; zero_loss++) {
            alig_params_dfw p = { .eta = 0.5, .momentum = 0.9, .weight_decay = 0.1, .eps = 0.0 };
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_dfw, dt, 2, &p) == ALIG_SUCCESS);
            unsigned char w[16], g[16] = { 0 };
            put(dt, w, 0, 1.0);
            put(dt, w, 1, -2.0);
            CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_step(s, zero_loss ? 0.0 : 0.3, g) == ALIG_SUCCESS);
            CU_ASSERT(alig_solver_step_size(s) == (zero_loss ? 0.0 : 0.5));
            CU_ASSERT(close_rel(get(dt, w, 0), zero_loss ? 0.95 : 0.905, tol));
            CU_ASSERT(close_rel(get(dt, w, 1), zero_loss ? -1.9 : -1.81, tol));
            alig_solver_free(s);
        }
        /* a loss below what the decay term offers gives γ = 0: only −ηr moves w */
        alig_params_dfw p = { .eta = 0.5, .momentum = 0.0, .weight_decay = 0.1, .eps = 1e-5 };
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_dfw, dt, 2, &p) == ALIG_SUCCESS);
        unsigned char w[16], g[16];
        put(dt, w, 0, 1.0);
        put(dt, w, 1, -2.0);
        put(dt, g, 0, 0.5);
        put(dt, g, 1, -1.0);      /* ⟨δ, r⟩ = 0.05 + 0.2 = 0.25: num = 0.1 − 0.125 < 0 */
        CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, 0.1, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 0.0);
        CU_ASSERT(alig_solver_step_size_unclipped(s) < 0.0);
        CU_ASSERT(close_rel(get(dt, w, 0), 0.95, tol) && close_rel(get(dt, w, 1), -1.9, tol));
        alig_solver_free(s);
    }
}

/* ========================================================= BPGrad against its formula */
/* w0 = (1, −2), η = 0.5 (L = 2), λ = 0.1, ε = 0.
 * Step 1: g = (0.5, 1), ℓ = 0.3: f = 0.3 + 0.05·5 = 0.55, d = g + λw = (0.6, 0.8), ‖d‖ = 1, γ = 0.55,
 *   γ/L = 0.275; v = −0.275·(0.6, 0.8) = (−0.165, −0.22); w1 = (0.835, −2.22) (with or without μ).
 * Step 2 (g = (−1, 0.5), ℓ = 2) is computed below from the formula in double. */
static void test_bpgrad_formula(void)
{
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        const double tol = dt == ALIG_F64 ? 1e-14 : 4e-7;
        for (int mom = 0; mom < 2; mom++) {
            const double mu = mom ? 0.9 : 0.0, lam = 0.1, eta = 0.5;
            alig_params_bpgrad p = { .eta = eta, .momentum = mu, .weight_decay = lam, .eps = 0.0 };
            alig_solver *s = NULL;
            CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_bpgrad, dt, 2, &p) == ALIG_SUCCESS);
            unsigned char w[16], g[16];
            put(dt, w, 0, 1.0);
            put(dt, w, 1, -2.0);
            CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
            put(dt, g, 0, 0.5);
            put(dt, g, 1, 1.0);
            CU_ASSERT_FATAL(alig_solver_step(s, 0.3, g) == ALIG_SUCCESS);
            CU_ASSERT(close_rel(alig_solver_step_size(s), 0.275, tol));
            CU_ASSERT(close_rel(get(dt, w, 0), 0.835, tol));
            CU_ASSERT(close_rel(get(dt, w, 1), -2.22, tol));
            /* step 2 from the formula */
            double x[2] = { 0.835, -2.22 }, v[2] = { -0.165 * mom, -0.22 * mom };
            const double gg[2] = { -1.0, 0.5 }, l2 = 2.0;
            const double f = l2 + 0.5 * lam * (x[0] * x[0] + x[1] * x[1]);
            const double dd[2] = { gg[0] + lam * x[0], gg[1] + lam * x[1] };
            const double a = f / sqrt(dd[0] * dd[0] + dd[1] * dd[1]) * eta;
            for (int i = 0; i < 2; i++) {
                v[i] = mu * v[i] - a * dd[i];
                x[i] += v[i];
            }
            put(dt, g, 0, gg[0]);
            put(dt, g, 1, gg[1]);
            CU_ASSERT_FATAL(alig_solver_step(s, l2, g) == ALIG_SUCCESS);
            CU_ASSERT(close_rel(alig_solver_step_size(s), a, 4 * tol));
            CU_ASSERT(close_rel(get(dt, w, 0), x[0], 8 * tol));
            CU_ASSERT(close_rel(get(dt, w, 1), x[1], 8 * tol));
            alig_solver_free(s);
        }
        /* ‖d‖ + ε = 0 gives γ = 0 (no NaN); a negative objective gives γ = 0 (no ascent) */
        alig_params_bpgrad p = { .eta = 0.5, .momentum = 0.0, .weight_decay = 0.0, .eps = 0.0 };
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_bpgrad, dt, 2, &p) == ALIG_SUCCESS);
        unsigned char w[16], g[16] = { 0 };
        put(dt, w, 0, 1.0);
        put(dt, w, 1, -2.0);
        CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, 1.0, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 0.0 && get(dt, w, 0) == 1.0 && get(dt, w, 1) == -2.0);
        put(dt, g, 0, 1.0);
        CU_ASSERT_FATAL(alig_solver_step(s, -1.0, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 0.0 && get(dt, w, 0) == 1.0);
        alig_solver_free(s);
    }
}

/* ========================================================= the plateau schedule */
/* α0 = 1, factor 0.5, patience 2, epoch decay 0.9; accuracies 0.5 0.6 0.6 0.55 0.7 0.65 0.64 0.64:
 *   e1 new best → 0.9;  e2 new best → 0.81;  e3 equal (not better): bad 1 → 0.729;
 *   e4 bad 2: drop → 0.3645, → 0.32805;  e5 new best → 0.295245;  e6 bad 1 → 0.2657205;
 *   e7 bad 2: drop → 0.13286025 → 0.119574225;  e8 bad 1 → 0.1076168025. */
static void test_plateau(void)
{
    const double acc[8] = { 0.5, 0.6, 0.6, 0.55, 0.7, 0.65, 0.64, 0.64 };
    const double want[8] = { 0.9, 0.81, 0.729, 0.32805, 0.295245, 0.2657205, 0.119574225, 0.1076168025 };
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
        p.lr = 1.0;
        p.schedule = ALIG_SCHEDULE_PLATEAU;
        p.factor = 0.5;
        p.patience = 2;
        p.epoch_decay = 0.9;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, dt, 2, &p) == ALIG_SUCCESS);
        unsigned char w[16] = { 0 }, g[16] = { 0 };
        CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, 0.0, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 1.0);
        for (int e = 0; e < 8; e++) {
            CU_ASSERT_FATAL(alig_solver_epoch_end(s, acc[e]) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_solver_step(s, 0.0, g) == ALIG_SUCCESS);
            CU_ASSERT(close_rel(alig_solver_step_size(s), want[e], 1e-15));
        }
        CU_ASSERT(alig_solver_epoch_end(s, NAN) == ALIG_EINVAL);
        /* set() restarts the schedule */
        CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, 0.0, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 1.0);
        alig_solver_free(s);

        /* InferSent's rule (patience 1, ÷5 as ×0.2, ×0.99 per epoch): 0.1 → drop at the first non-improvement */
        p = (alig_params_sgd)ALIG_PARAMS_SGD_DEFAULT;
        p.schedule = ALIG_SCHEDULE_PLATEAU;
        p.factor = 0.2;
        p.epoch_decay = 0.99;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, dt, 2, &p) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_epoch_end(s, 0.8) == ALIG_SUCCESS && alig_solver_epoch_end(s, 0.79) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, 0.0, g) == ALIG_SUCCESS);
        CU_ASSERT(close_rel(alig_solver_step_size(s), 0.1 * 0.99 * 0.2 * 0.99, 1e-15));
        alig_solver_free(s);

        /* other schedules (and other methods) ignore epoch ends, NaN included */
        p = (alig_params_sgd)ALIG_PARAMS_SGD_DEFAULT;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, dt, 2, &p) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s, w, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_epoch_end(s, 0.1) == ALIG_SUCCESS && alig_solver_epoch_end(s, NAN) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, 0.0, g) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_step_size(s) == 0.1);
        alig_solver_free(s);
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_dfw, dt, 2, NULL) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_epoch_end(s, NAN) == ALIG_SUCCESS);
        alig_solver_free(s);
    }
    CU_ASSERT(alig_solver_epoch_end(NULL, 0.5) == ALIG_EINVAL);
}

/* ========================================================= invalid parameters */
static void expect_status(const alig_solver_type *t, const void *params, alig_status want)
{
    for (int d = 0; d < 2; d++) {
        alig_solver *s = (alig_solver *)&s;
        CU_ASSERT_EQUAL(alig_solver_alloc(&s, t, dtypes[d], 3, params), want);
        if (want != ALIG_SUCCESS) CU_ASSERT_PTR_NULL(s);
        alig_solver_free(s);
    }
}

static void test_invalid(void)
{
    const alig_solver_type *types[2] = { alig_solver_dfw, alig_solver_bpgrad };
    for (int k = 0; k < 2; k++) {
        /* the two structs have the same fields in the same order */
        alig_params_dfw p = ALIG_PARAMS_DFW_DEFAULT, q;
        CU_ASSERT(types[k]->params_size == sizeof p);
        expect_status(types[k], NULL, ALIG_SUCCESS);
        const double bad_eta[] = { 0.0, -1.0, INFINITY, NAN };
        for (size_t i = 0; i < 4; i++) { q = p; q.eta = bad_eta[i]; expect_status(types[k], &q, ALIG_EBADETA); }
        const double bad_mu[] = { -0.1, 1.0, NAN };
        for (size_t i = 0; i < 3; i++) { q = p; q.momentum = bad_mu[i]; expect_status(types[k], &q, ALIG_EBADMOMENTUM); }
        const double bad_wd[] = { -1e-4, INFINITY, NAN };
        for (size_t i = 0; i < 3; i++) { q = p; q.weight_decay = bad_wd[i]; expect_status(types[k], &q, ALIG_EBADWEIGHTDECAY); }
        const double bad_eps[] = { -1e-5, INFINITY, NAN };
        for (size_t i = 0; i < 3; i++) { q = p; q.eps = bad_eps[i]; expect_status(types[k], &q, ALIG_EBADEPS); }
        q = p;
        q.momentum = 0.99;
        q.eps = 0.0;
        q.weight_decay = 0.0;
        expect_status(types[k], &q, ALIG_SUCCESS);
    }
    alig_params_sgd s = ALIG_PARAMS_SGD_DEFAULT;
    const double bad_pat[] = { -1.0, 1.5, NAN, INFINITY };
    for (size_t i = 0; i < 4; i++) {
        alig_params_sgd q = s;
        q.patience = bad_pat[i];
        expect_status(alig_solver_sgd, &q, ALIG_EBADPLATEAU);
    }
    const double bad_dec[] = { -0.5, 1.5, NAN };
    for (size_t i = 0; i < 3; i++) {
        alig_params_sgd q = s;
        q.epoch_decay = bad_dec[i];
        expect_status(alig_solver_sgd, &q, ALIG_EBADPLATEAU);
    }
    /* defaults as documented */
    const alig_params_dfw *dd = alig_solver_dfw->params_default;
    const alig_params_bpgrad *bd = alig_solver_bpgrad->params_default;
    CU_ASSERT(dd->eta == 0.1 && dd->momentum == 0.0 && dd->weight_decay == 0.0 && dd->eps == 1e-5);
    CU_ASSERT(bd->eta == 0.1 && bd->momentum == 0.0 && bd->weight_decay == 0.0 && bd->eps == 1e-5);
    const alig_params_sgd *sd = alig_solver_sgd->params_default;
    CU_ASSERT(sd->patience == 1.0 && sd->epoch_decay == 1.0);
    char buf[64];
    alig_params_sgd t = s;
    CU_ASSERT(alig_params_set(alig_solver_sgd, &t, "schedule", "plateau") == ALIG_SUCCESS &&
              t.schedule == ALIG_SCHEDULE_PLATEAU);
    CU_ASSERT(strcmp(alig_params_format(&alig_solver_sgd->params_desc[1], &t, buf, sizeof buf), "plateau") == 0);
}

/* ========================================================= checkpoints */
/* ℓ(w) = ½ Σ h_i w_i² + 0.05 (a floor keeps DFW's and BPGrad's steps away from 0). */
static double quad(alig_dtype dt, size_t n, const void *w, void *g)
{
    double l = 0.05;
    for (size_t i = 0; i < n; i++) {
        const double h = 1.0 + (double)i / (double)n, x = get(dt, w, i);
        put(dt, g, i, h * x);
        l += 0.5 * h * x * x;
    }
    return l;
}

/* steps t0 .. t1−1; with `epochs`, an epoch ends after every 3rd step with accuracy acc(t) */
static void steps(alig_solver *s, alig_dtype dt, size_t n, void *w, int t0, int t1, int epochs)
{
    unsigned char g[8 * 16];
    for (int t = t0; t < t1; t++) {
        CU_ASSERT_EQUAL_FATAL(alig_solver_step(s, quad(dt, n, w, g), g), ALIG_SUCCESS);
        if (epochs && t % 3 == 2) CU_ASSERT_EQUAL(alig_solver_epoch_end(s, 0.5 + 0.1 * sin(t)), ALIG_SUCCESS);
    }
}

static void round_trip(const alig_solver_type *type, const void *params, int epochs)
{
    enum { N = 9, A = 7, B = 8 };
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        unsigned char wf[8 * N], wc[8 * N];
        for (size_t i = 0; i < N; i++) {
            put(dt, wf, i, 1.0 - 0.3 * (double)i);
            put(dt, wc, i, 1.0 - 0.3 * (double)i);
        }
        alig_solver *s1, *s2, *s3;
        CU_ASSERT_FATAL(alig_solver_alloc(&s1, type, dt, N, params) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s1, wf, INFINITY) == ALIG_SUCCESS);
        steps(s1, dt, N, wf, 0, A + B, epochs);
        CU_ASSERT_FATAL(alig_solver_alloc(&s2, type, dt, N, params) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s2, wc, INFINITY) == ALIG_SUCCESS);
        steps(s2, dt, N, wc, 0, A, epochs);
        const size_t bytes = alig_solver_state_bytes(s2);
        void *buf = malloc(bytes);
        CU_ASSERT_FATAL(buf && alig_solver_state_export(s2, buf, bytes) == ALIG_SUCCESS);
        alig_solver_free(s2);
        CU_ASSERT_FATAL(alig_solver_alloc(&s3, type, dt, N, params) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s3, wc, INFINITY) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_state_import(s3, buf, bytes) == ALIG_SUCCESS);
        steps(s3, dt, N, wc, A, A + B, epochs);
        CU_ASSERT(memcmp(wf, wc, N * esize(dt)) == 0);
        CU_ASSERT(alig_solver_step_size(s1) == alig_solver_step_size(s3));
        CU_ASSERT(alig_solver_step_size(s1) > 0.0);
        /* not vacuous: a fresh solver without the state does not land on the same iterate */
        alig_solver *s4;
        unsigned char wn[8 * N];
        CU_ASSERT_FATAL(alig_solver_alloc(&s4, type, dt, N, params) == ALIG_SUCCESS);
        for (size_t i = 0; i < N; i++) put(dt, wn, i, 1.0 - 0.3 * (double)i);
        CU_ASSERT_FATAL(alig_solver_set(s4, wn, INFINITY) == ALIG_SUCCESS);
        steps(s4, dt, N, wn, 0, A, epochs);
        alig_solver_free(s4);
        CU_ASSERT_FATAL(alig_solver_alloc(&s4, type, dt, N, params) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_set(s4, wn, INFINITY) == ALIG_SUCCESS);
        steps(s4, dt, N, wn, A, A + B, epochs);
        CU_ASSERT(memcmp(wf, wn, N * esize(dt)) != 0);
        alig_solver_free(s4);
        /* another type's state is refused */
        alig_solver *o;
        CU_ASSERT_FATAL(alig_solver_alloc(&o, type == alig_solver_dfw ? alig_solver_bpgrad : alig_solver_dfw, dt, N,
                                          NULL) == ALIG_SUCCESS);
        CU_ASSERT(alig_solver_state_import(o, buf, bytes) == ALIG_EFORMAT);
        alig_solver_free(o);
        free(buf);
        alig_solver_free(s1);
        alig_solver_free(s3);
    }
}

static void test_state_round_trip(void)
{
    const alig_params_dfw pd = { .eta = 0.3, .momentum = 0.9, .weight_decay = 0.05, .eps = 1e-5 };
    round_trip(alig_solver_dfw, &pd, 0);
    const alig_params_dfw pd0 = { .eta = 0.3, .momentum = 0.9, .weight_decay = 0.0, .eps = 1e-5 };
    round_trip(alig_solver_dfw, &pd0, 0);
    const alig_params_bpgrad pb = { .eta = 0.1, .momentum = 0.9, .weight_decay = 0.01, .eps = 1e-5 };
    round_trip(alig_solver_bpgrad, &pb, 0);
    alig_params_sgd ps = ALIG_PARAMS_SGD_DEFAULT;
    ps.lr = 0.2;
    ps.momentum = 0.5;
    ps.schedule = ALIG_SCHEDULE_PLATEAU;
    ps.factor = 0.5;
    ps.epoch_decay = 0.95;
    round_trip(alig_solver_sgd, &ps, 1);
}

/* ========================================================= kernels: parallel loop = serial loop */
static void test_kernel_paths(void)
{
    const size_t n = 2 * ALIG_KERNEL_PAR_MIN + 17, chunk = ALIG_KERNEL_PAR_MIN / 4;
    for (int d = 0; d < 2; d++) {
        const alig_dtype dt = dtypes[d];
        const alig_kernels *k = alig_kernels_get(dt);
        const size_t es = esize(dt);
        char *w = malloc(n * es), *g = malloc(n * es), *z = malloc(n * es), *w2 = malloc(n * es), *z2 = malloc(n * es);
        CU_ASSERT_FATAL(w && g && z && w2 && z2);
        for (int kind = 0; kind < 4; kind++) {
            for (size_t i = 0; i < n; i++) {
                put(dt, w, i, sin(0.01 * (double)i));
                put(dt, g, i, cos(0.013 * (double)i));
                put(dt, z, i, 0.1 * sin(0.007 * (double)i));
            }
            memcpy(w2, w, n * es);
            memcpy(z2, z, n * es);
            double s = 0.0;
            switch (kind) {
            case 0: k->dfw(n, w, g, z, 0.3, 0.01, 0.003, 0.9); break;
            case 1: k->dfw(n, w, g, NULL, 0.3, 0.01, 0.003, 0.9); break;
            case 2: k->bpgrad(n, w, g, z, 0.3, 0.01, 0.9); break;
            default: s = k->decayed_sumsq(n, g, w, 0.01); break;
            }
            double s2 = 0.0;
            for (size_t i0 = 0; i0 < n; i0 += chunk) {
                const size_t m = n - i0 < chunk ? n - i0 : chunk;
                char *wc = w2 + i0 * es, *gc = g + i0 * es, *zc = z2 + i0 * es;
                switch (kind) {
                case 0: k->dfw(m, wc, gc, zc, 0.3, 0.01, 0.003, 0.9); break;
                case 1: k->dfw(m, wc, gc, NULL, 0.3, 0.01, 0.003, 0.9); break;
                case 2: k->bpgrad(m, wc, gc, zc, 0.3, 0.01, 0.9); break;
                default: s2 += k->decayed_sumsq(m, gc, wc, 0.01); break;
                }
            }
            CU_ASSERT(memcmp(w, w2, n * es) == 0);
            CU_ASSERT(memcmp(z, z2, n * es) == 0);
            if (kind == 3) CU_ASSERT(close_rel(s, s2, 1e-12) && s > 0.0);
        }
        free(w); free(g); free(z); free(w2); free(z2);
    }
}

/* ========================================================= the image nets' loss choice */
/* A small MLP on 12 random 1x4x4 inputs, 3 classes. For each loss the mean loss the training graph
 * returns and the one evaluation reports are compared with the loss computed here, in double, from
 * the training graph's scores (no dropout, no batch norm: evaluation sees the same scores up to the
 * rounding of another batch size). */
static double loss_from_scores(int loss, const float *sc, const int32_t *y, int n, int C)
{
    double tot = 0.0;
    for (int i = 0; i < n; i++) {
        const float *s = sc + (size_t)i * C;
        double hard = -INFINITY, z = 0.0, soft = 0.0, mx = -INFINITY;
        for (int j = 0; j < C; j++) {
            hard = fmax(hard, (double)s[j] + (j != y[i]) - s[y[i]]);
            mx = fmax(mx, s[j]);
        }
        for (int j = 0; j < C; j++) z += exp((double)s[j] - mx);
        for (int j = 0; j < C; j++) soft += exp((double)s[j] - mx) / z * ((double)s[j] + (j != y[i]) - s[y[i]]);
        if (loss == ALIG_NN_LOSS_CE) tot += mx + log(z) - s[y[i]];
        else if (loss == ALIG_NN_LOSS_HINGE || soft < 0.0) tot += hard;
        else tot += soft;
    }
    return tot / n;
}

static void test_net_losses(void)
{
    enum { N = 12, C = 3, S = 16 };
    float x[N * S];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % C;
        for (int k = 0; k < S; k++) x[i * S + k] = (float)(0.8 * sin(0.7 * i + 1.3 * k) + (k / 5 == y[i] ? 0.6 : 0.0));
    }
    alig_image_set set = { .n = N, .c = 1, .h = 4, .w = 4, .x = x, .y = y, .num_classes = C };
    double vals[3];
    for (int loss = 0; loss < 3; loss++) {
        alig_nn_spec spec;
        CU_ASSERT_FATAL(alig_nn_spec_parse(&spec, "mlp-8", 1, 4, 4, C, 0.0) == ALIG_SUCCESS);
        alig_nn_net *net = NULL;
        char err[256];
        CU_ASSERT_FATAL(alig_nn_net_alloc(&net, &spec, N, 5, 7, err, sizeof err) == ALIG_SUCCESS);
        CU_ASSERT(alig_nn_net_loss(net) == ALIG_NN_LOSS_CE);
        CU_ASSERT_FATAL(alig_nn_net_set_loss(net, loss) == ALIG_SUCCESS);
        CU_ASSERT(alig_nn_net_loss(net) == loss);
        /* scale the weights up so that the hinge is away from its trivial value 1 */
        float *w = alig_nn_net_x(net);
        for (size_t i = 0; i < alig_nn_net_n(net); i++) w[i] *= 4.0f;
        double l = NAN, le = NAN, acc = NAN;
        CU_ASSERT_FATAL(alig_nn_net_gradient(net, &set, NULL, 0, N, &l, NULL) == ALIG_SUCCESS);
        alig_ad_node *logits = NULL;
        alig_nn_net_train_graph(net, NULL, NULL, &logits, NULL);
        const double want = loss_from_scores(loss, logits->value, y, N, C);
        CU_ASSERT(close_rel(l, want, 1e-12));
        CU_ASSERT_FATAL(alig_nn_net_evaluate(net, &set, &le, &acc) == ALIG_SUCCESS);
        CU_ASSERT(close_rel(le, want, 1e-5));
        vals[loss] = want;
        /* a short batch runs a graph built for the same loss */
        double ls = NAN;
        CU_ASSERT_FATAL(alig_nn_net_gradient(net, &set, NULL, 0, 7, &ls, NULL) == ALIG_SUCCESS);
        CU_ASSERT(isfinite(ls) && ls >= 0.0);
        alig_nn_net_free(net);
    }
    /* three different numbers: the choice is not ignored */
    CU_ASSERT(vals[0] != vals[1] && vals[1] != vals[2] && vals[0] != vals[2]);
    CU_ASSERT(alig_nn_net_set_loss(NULL, 1) == ALIG_EINVAL);
    int l = -1;
    CU_ASSERT(alig_nn_loss_parse("smooth-hinge", &l) == ALIG_SUCCESS && l == ALIG_NN_LOSS_SMOOTH_HINGE);
    CU_ASSERT(alig_nn_loss_parse("svm", &l) == ALIG_EINVAL && l == ALIG_NN_LOSS_SMOOTH_HINGE);
    CU_ASSERT(strcmp(alig_nn_loss_name(ALIG_NN_LOSS_HINGE), "hinge") == 0 && alig_nn_loss_name(3) == NULL);
    /* the model layer: a sequence model refuses a loss choice */
    alig_task *rc = NULL;
    CU_ASSERT_FATAL(alig_task_repeat_copy_alloc(&rc, NULL, 0) == ALIG_SUCCESS);
    alig_model *m = NULL;
    alig_model_opts o = ALIG_MODEL_OPTS_DEFAULT;
    o.loss = ALIG_NN_LOSS_HINGE;
    char err[256];
    CU_ASSERT(alig_model_alloc(&m, "dnc", &o, rc, 0, err, sizeof err) == ALIG_EINVAL && m == NULL);
    CU_ASSERT(strstr(err, "image models") != NULL);
    alig_task_free(rc);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("dfw, bpgrad, plateau", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "hinge loss, no regularisation: ALI-G and DFW take the same steps (f64, f32)", test_alig_equals_dfw);
    CU_add_test(s, "DFW with weight decay and momentum: two steps by hand; the guards", test_dfw_by_hand);
    CU_add_test(s, "BPGrad against its formula; mu = 0 moves; guards", test_bpgrad_formula);
    CU_add_test(s, "SGD plateau schedule: the rate after scripted accuracies", test_plateau);
    CU_add_test(s, "invalid parameters; documented defaults", test_invalid);
    CU_add_test(s, "state export/import: resumed runs equal uninterrupted ones bit for bit", test_state_round_trip);
    CU_add_test(s, "kernels: parallel loops equal serial loops", test_kernel_paths);
    CU_add_test(s, "image nets: the hinge and smoothed hinge in training and evaluation", test_net_losses);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
