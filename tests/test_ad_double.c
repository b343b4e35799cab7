/* test_ad_double.c - the autodiff ops (include/alig/ad.h) against central differences of
 * independent DOUBLE-precision re-implementations of their forward passes.
 *
 * tests/test_ad_ops.c differentiates the float forward (alig_ad_gradcheck), whose rounding
 * noise ε_f·|L|/h limits the comparison to ~1e-3. Here each op's forward is written again in
 * plain double loops in this file (no nets/ kernel is called for the reference), the loss
 * L = Σ r ⊙ op(·) (fixed random r; loss ops are taken as they are) is evaluated in double at
 * the float point x converted to double, and every coordinate of the arena's x gets a central
 * difference with h = 1e-6·max(1, |x_i|). Truncation (h²·L'''/6 ~ 1e-12) and double rounding
 * (ε_d·|L|/h ~ 1e-9) are negligible there, so the comparison with the float analytic gradient
 * a = g from alig_ad_backward measures the rounding of the float backward only:
 *     err = max_i |a_i − d_i| / max(‖d‖∞, 1e-3)  <=  TOL = 2e-6 (TOL_F4 = 1e-5 for Winograd
 *     F(4×4)); see their definition for why.
 * Each check also asserts that the float forward loss agrees with the double reference loss
 * to LOSS_TOL = 1e-5 relative (measured: below 1e-6), which catches a reference implementing
 * another function (e.g. another padding convention), a non-triviality guard ‖d‖∞ > 1e-2,
 * and that every coordinate was checked (count > 0).
 *
 * Ops covered, one printed line each with the max error:
 *   matmul (the four transpose combinations, and x·xᵀ), bias_add ((N,C) and (N,C,H,W)),
 *   conv2d with bias, stride and padding forced to im2col, and 3×3 stride-1 padded forced to
 *   Winograd F(2×2,3×3) and F(4×4,3×3), maxpool2d and avgpool2d (count_include_pad: the
 *   window sum over kh·kw always) with stride and padding, global_avgpool, relu, sigmoid,
 *   tanh, affine, add, mul (also a + a and a ⊙ a), concat along axis 1, slice, reshape,
 *   flatten, dropout (train and eval), batchnorm (train and eval, (N,C) and (N,C,H,W), with
 *   and without γ/β, and with the fused ReLU), softmax, sum, softmax_ce, hinge (hard),
 *   bce_logits.
 *   Not checked: the smoothed hinge, whose backward is DFW's surrogate (ξ held constant) and
 *   intentionally not the gradient of its value (ad.h; test_ad_ops.c flags it). The leaves
 *   INPUT / PARAM / BUFFER have no forward of their own. Every other op of enum alig_op is
 *   reachable through a public constructor and is covered.
 *
 * Piecewise-linear ops get inputs whose kinks lie farther than KINK = 1e-3 >> h from the
 * evaluation point: relu inputs with |x| < KINK are redrawn; max-pool windows whose two
 * largest in-bound values are within KINK, hinge rows whose two largest augmented scores are
 * within KINK and fused BN+ReLU inputs with some |BN(x)| < KINK are redrawn whole.
 *
 * Dropout's mask is a constant of the forward: it is read back by running the training
 * forward once with the dropout's input set to all ones (y = m, i.e. 0 or 1/(1 − p)), then
 * the stream is rewound (alig_ad_graph_set_rng to the same seed, step 0) before every
 * forward of the check, so the checked forward draws the same mask; that is asserted
 * (y == x ⊙ m elementwise after the checked forward).
 *
 * Negative control: the analytic gradient of one op scaled by 1.001 must FAIL the comparison
 * at TOL, i.e. a 0.1% error is caught, while the float-forward check's 1e-3 cannot. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>

#include "alig/ad.h"

/* The tolerances. What remains of err is float rounding of the backward pass (and of the
 * forward values it reads): a few ulps of float (ε_f = 6e-8) times the length of the sums in
 * the backward kernels. Measured (printed per op), over 1..8 threads and OpenBLAS core types
 * Prescott to Haswell/Zen: at most 1.7e-7 on every op but one (matmul, im2col and Winograd
 * F(2×2) conv, pooling, elementwise, batch norm's dx with its Σdy and Σdy·x̂ cancellations,
 * the losses) and 1.05e-6 on Winograd F(4×4,3×3), whose transforms add and cancel terms with
 * coefficients up to 8 (tests/test_winograd.c: it rounds about ten times more than F(2×2)).
 * TOL = 2e-6 and TOL_F4 = 1e-5 are the tightest round values keeping a margin of about 10
 * over those worst cases (other compilers' FMA contraction and summation orders, sanitizer
 * builds), and both are at least 100 times below the 1e-3 that an injected 0.1% error
 * produces (negative control). */
#define TOL 2e-6
#define TOL_F4 1e-5
#define H_STEP 1e-6     /* central-difference step, relative to max(1, |x_i|) */
#define KINK 1e-3       /* distance of the evaluation point from every kink */
#define LOSS_TOL 1e-5   /* float forward loss vs double reference loss, relative to max(1, |L|) */
#define MAXP 8

/* ------------------------------------------------------------------ fixture */

typedef struct tc tc;
typedef double (*ref_fn)(tc *t, const double *x);

struct tc {
    alig_ad_params *P;
    alig_ad_graph *G;
    gsl_rng *rng;
    uint64_t seed;
    alig_ad_node *par[MAXP];     /* trainable nodes, in declaration order */
    int npar;
    alig_ad_node *out;           /* the op's output (projected by r), NULL for scalar losses */
    alig_ad_node *r;             /* projection weights */
    alig_ad_node *lab;           /* labels or targets */
    alig_ad_node *node;          /* the op node under test (conv / pool / bn options) */
    alig_ad_node *loss;
    int train;                   /* forward mode of the check */
    int kind;                    /* variant of the op family */
    int affine;                  /* batchnorm with γ, β */
    double tol;                  /* 0: TOL */
    ref_fn ref;
    double *y;                   /* scratch of out->size (or node->size) */
    double *mask;                /* dropout mask read back */
};

static void tc_init(tc *t, unsigned long seed)
{
    memset(t, 0, sizeof *t);
    t->seed = seed;
    t->train = 1;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&t->P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&t->G, t->P, seed) == ALIG_SUCCESS);
    t->rng = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_FATAL(t->rng != NULL);
    gsl_rng_set(t->rng, seed);
}

static void tc_free(tc *t)
{
    alig_ad_graph_free(t->G);
    alig_ad_params_free(t->P);
    gsl_rng_free(t->rng);
    free(t->y);
    free(t->mask);
}

static double unif(tc *t, double lo, double hi) { return lo + (hi - lo) * gsl_rng_uniform(t->rng); }

/* a trainable tensor of the given shape, and its node */
static alig_ad_node *par(tc *t, int ndim, const int *dims)
{
    int id;
    CU_ASSERT_FATAL(t->npar < MAXP);
    CU_ASSERT_FATAL(alig_ad_params_add(t->P, ndim, dims, &id) == ALIG_SUCCESS);
    alig_ad_node *n = alig_ad_param(t->G, id);
    t->par[t->npar++] = n;
    return n;
}

/* L = Σ r ⊙ y in the graph, with r an input filled with U(−1, 1) at compile */
static alig_ad_node *project(tc *t, alig_ad_node *y)
{
    if (!y) return NULL;
    t->out = y;
    t->r = alig_ad_input(t->G, y->ndim, y->dims);
    t->loss = alig_ad_sum(t->G, alig_ad_mul(t->G, y, t->r));
    return t->loss;
}

/* compile; parameters ~ U(lo, hi), r ~ U(−1, 1) */
static void tc_compile(tc *t, double lo, double hi)
{
    alig_status rc = alig_ad_graph_compile(t->G);
    if (rc) printf("  compile failed: %s\n", alig_ad_graph_error(t->G));
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    CU_ASSERT_FATAL(t->loss != NULL && t->ref != NULL);
    float *x = alig_ad_params_x(t->P);
    for (size_t i = 0; i < alig_ad_params_n(t->P); i++) x[i] = (float)unif(t, lo, hi);
    if (t->r)
        for (size_t i = 0; i < t->r->size; i++) t->r->value[i] = (float)unif(t, -1, 1);
    size_t ny = t->out ? t->out->size : t->node ? t->node->size : 1;
    t->y = calloc(ny, sizeof *t->y);
    CU_ASSERT_FATAL(t->y != NULL);
}

/* parameter k inside a double copy of the arena's x */
static const double *PX(const tc *t, const double *x, int k)
{
    return x + (t->par[k]->value - alig_ad_params_x(t->P));
}

/* Σ r ⊙ y over the projected output */
static double proj(const tc *t, const double *y)
{
    double s = 0;
    for (size_t i = 0; i < t->out->size; i++) s += (double)t->r->value[i] * y[i];
    return s;
}

static size_t inner(const alig_ad_node *n) { return (size_t)n->dims[2] * (size_t)n->dims[3]; }

/* ------------------------------------------------------------------ the comparison */

typedef struct {
    size_t checked;
    double err;      /* max |s·a_i − d_i| / max(‖d‖∞, 1e-3) */
    double dmax;     /* ‖d‖∞ */
    double lerr;     /* |L_float − L_double| / max(1, |L_double|) */
} cmp_res;

/* float forward + backward for a; double reference for d on every coordinate; a scaled by s */
static void compare(tc *t, double s, cmp_res *res)
{
    memset(res, 0, sizeof *res);
    if (t->mask) alig_ad_graph_set_rng(t->G, t->seed, 0);
    CU_ASSERT_FATAL(alig_ad_forward(t->G, t->train) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(t->G, t->loss) == ALIG_SUCCESS);
    const size_t n = alig_ad_params_n(t->P);
    const float *xf = alig_ad_params_x(t->P), *g = alig_ad_params_g(t->P);
    double *x = malloc(n * sizeof *x), *d = malloc(n * sizeof *d);
    CU_ASSERT_FATAL(x && d);
    for (size_t i = 0; i < n; i++) x[i] = xf[i];
    const double L0 = t->ref(t, x);
    res->lerr = fabs(alig_ad_scalar(t->loss) - L0) / fmax(1.0, fabs(L0));
    for (size_t i = 0; i < n; i++) {
        const double xi = x[i], h = H_STEP * fmax(1.0, fabs(xi));
        const double xp = xi + h, xm = xi - h;
        x[i] = xp;
        const double lp = t->ref(t, x);
        x[i] = xm;
        const double lm = t->ref(t, x);
        x[i] = xi;
        d[i] = (lp - lm) / (xp - xm);
        res->dmax = fmax(res->dmax, fabs(d[i]));
        res->checked++;
    }
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(s * (double)g[i] - d[i]));
    res->err = e / fmax(res->dmax, 1e-3);
    free(x);
    free(d);
}

static double check(tc *t, const char *name)
{
    cmp_res r;
    compare(t, 1.0, &r);
    const double tol = t->tol > 0 ? t->tol : TOL;
    printf("  %-40s coords %4zu  |d|max %.2e  loss diff %.1e  max err %.2e (tol %.0e)\n", name, r.checked, r.dmax,
           r.lerr, r.err, tol);
    CU_ASSERT(r.checked > 0);
    CU_ASSERT(r.checked == alig_ad_params_n(t->P));
    CU_ASSERT(r.dmax > 1e-2);                /* the guard: a zero gradient would pass any check */
    CU_ASSERT(r.lerr <= LOSS_TOL);           /* the reference is the same function */
    CU_ASSERT(r.err <= tol);
    return r.err;
}

/* ------------------------------------------------------------------ matmul, bias_add */

static double ref_matmul(tc *t, const double *x)
{
    const double *A = PX(t, x, 0), *B = PX(t, x, t->npar > 1 ? 1 : 0);
    const int ta = t->node->aux.matmul.trans_a, tb = t->node->aux.matmul.trans_b;
    const int M = t->out->dims[0], N = t->out->dims[1], K = ta ? t->node->in[0]->dims[0] : t->node->in[0]->dims[1];
    for (int m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (ta ? A[k * M + m] : A[m * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            t->y[m * N + j] = s;
        }
    return proj(t, t->y);
}

static void test_matmul(void)
{
    for (int k = 0; k < 5; k++) {       /* k < 4: (ta, tb) = bits of k; k = 4: x·xᵀ (one node twice) */
        const int ta = k < 4 ? k / 2 : 0, tb = k < 4 ? k % 2 : 1;
        tc t;
        tc_init(&t, 11 + k);
        alig_ad_node *a = par(&t, 2, ta ? (int[]){ 4, 3 } : (int[]){ 3, 4 });
        alig_ad_node *b = k < 4 ? par(&t, 2, tb ? (int[]){ 5, 4 } : (int[]){ 4, 5 }) : a;
        t.node = alig_ad_matmul(t.G, a, b, ta, tb);
        project(&t, t.node);
        t.ref = ref_matmul;
        tc_compile(&t, -1, 1);
        char name[48];
        if (k < 4) snprintf(name, sizeof name, "matmul ta=%d tb=%d", ta, tb);
        else snprintf(name, sizeof name, "matmul x·xT");
        check(&t, name);
        tc_free(&t);
    }
}

static double ref_bias_add(tc *t, const double *x)
{
    const double *X = PX(t, x, 0), *b = PX(t, x, 1);
    const int N = t->out->dims[0], C = t->out->dims[1];
    const size_t L = inner(t->out);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t l = 0; l < L; l++) {
                size_t i = ((size_t)n * C + c) * L + l;
                t->y[i] = X[i] + b[c];
            }
    return proj(t, t->y);
}

static void test_bias_add(void)
{
    for (int four = 0; four < 2; four++) {
        tc t;
        tc_init(&t, 21 + four);
        alig_ad_node *x = par(&t, four ? 4 : 2, four ? (int[]){ 2, 3, 2, 4 } : (int[]){ 5, 3 });
        alig_ad_node *b = par(&t, 1, (int[]){ 3 });
        project(&t, alig_ad_bias_add(t.G, x, b));
        t.ref = ref_bias_add;
        tc_compile(&t, -1, 1);
        check(&t, four ? "bias_add (N,C,H,W)" : "bias_add (N,C)");
        tc_free(&t);
    }
}

/* ------------------------------------------------------------------ conv2d */

static double ref_conv2d(tc *t, const double *x)
{
    const double *X = PX(t, x, 0), *W = PX(t, x, 1), *b = t->npar > 2 ? PX(t, x, 2) : NULL;
    const alig_ad_node *xn = t->par[0], *wn = t->par[1];
    const int N = xn->dims[0], C = xn->dims[1], H = xn->dims[2], Wd = xn->dims[3];
    const int K = wn->dims[0], R = wn->dims[2], S = wn->dims[3];
    const int P = t->out->dims[2], Q = t->out->dims[3];
    const alig_ad_conv_opts *o = &t->node->aux.conv;
    const int sh = o->stride_h ? o->stride_h : 1, sw = o->stride_w ? o->stride_w : 1, ph = o->pad_h, pw = o->pad_w;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double s = b ? b[k] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++)
                            for (int u = 0; u < S; u++) {
                                const int hi = p * sh - ph + r, wi = q * sw - pw + u;
                                if (hi < 0 || hi >= H || wi < 0 || wi >= Wd) continue;
                                s += W[((k * C + c) * R + r) * S + u] * X[((n * C + c) * H + hi) * Wd + wi];
                            }
                    t->y[((n * K + k) * P + p) * Q + q] = s;
                }
    return proj(t, t->y);
}

static void test_conv2d(void)
{
    static const struct {
        const char *name;
        int x[4], w[4], bias;
        alig_ad_conv_opts o;
    } cases[] = {
        { "conv2d im2col 3x2 s(2,1) p(1,2) +b", { 2, 3, 6, 5 }, { 4, 3, 3, 2 }, 1,
          { .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2, .algo = ALIG_CONV_IM2COL } },
        { "conv2d im2col 3x3 s2 p1 +b", { 2, 3, 7, 6 }, { 4, 3, 3, 3 }, 1,
          { .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .algo = ALIG_CONV_IM2COL } },
        { "conv2d im2col 3x3 s1 p0", { 2, 2, 5, 5 }, { 3, 2, 3, 3 }, 0, { .algo = ALIG_CONV_IM2COL } },
        { "conv2d winograd F2 p(1,1) +b", { 2, 4, 6, 5 }, { 3, 4, 3, 3 }, 1,
          { .pad_h = 1, .pad_w = 1, .algo = ALIG_CONV_WINOGRAD } },
        { "conv2d winograd F2 p(0,2) +b", { 2, 4, 5, 6 }, { 3, 4, 3, 3 }, 1,
          { .pad_h = 0, .pad_w = 2, .algo = ALIG_CONV_WINOGRAD } },
        { "conv2d winograd F4 p(1,1) +b", { 2, 4, 7, 6 }, { 3, 4, 3, 3 }, 1,
          { .pad_h = 1, .pad_w = 1, .algo = ALIG_CONV_WINOGRAD4 } },
        { "conv2d winograd F4 p(2,0)", { 1, 4, 6, 9 }, { 3, 4, 3, 3 }, 0,
          { .pad_h = 2, .pad_w = 0, .algo = ALIG_CONV_WINOGRAD4 } },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tc t;
        tc_init(&t, 31 + k);
        alig_ad_node *x = par(&t, 4, cases[k].x);
        alig_ad_node *w = par(&t, 4, cases[k].w);
        alig_ad_node *b = cases[k].bias ? par(&t, 1, &cases[k].w[0]) : NULL;
        t.node = alig_ad_conv2d(t.G, x, w, b, &cases[k].o);
        project(&t, t.node);
        t.ref = ref_conv2d;
        t.tol = cases[k].o.algo == ALIG_CONV_WINOGRAD4 ? TOL_F4 : TOL;
        tc_compile(&t, -1, 1);
        check(&t, cases[k].name);
        tc_free(&t);
    }
}

/* ------------------------------------------------------------------ pooling */

/* kind 0: max (in-bound cells only), 1: average over kh·kw (padding counted as zeros) */
static double ref_pool(tc *t, const double *x)
{
    const double *X = PX(t, x, 0);
    const alig_ad_node *xn = t->par[0];
    const int NC = xn->dims[0] * xn->dims[1], H = xn->dims[2], W = xn->dims[3];
    const int P = t->out->dims[2], Q = t->out->dims[3];
    const alig_ad_pool_opts *o = &t->node->aux.pool;
    const int sh = o->stride_h ? o->stride_h : o->kh, sw = o->stride_w ? o->stride_w : o->kw;
    for (int m = 0; m < NC; m++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double s = t->kind ? 0.0 : -INFINITY;
                for (int r = 0; r < o->kh; r++)
                    for (int u = 0; u < o->kw; u++) {
                        const int hi = p * sh - o->pad_h + r, wi = q * sw - o->pad_w + u;
                        if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                        const double v = X[(m * H + hi) * W + wi];
                        s = t->kind ? s + v : fmax(s, v);
                    }
                t->y[(m * P + p) * Q + q] = t->kind ? s / (o->kh * o->kw) : s;
            }
    return proj(t, t->y);
}

/* smallest gap between the two largest in-bound values of any max-pool window */
static double pool_min_gap(const tc *t)
{
    const alig_ad_node *xn = t->par[0];
    const float *X = xn->value;
    const int NC = xn->dims[0] * xn->dims[1], H = xn->dims[2], W = xn->dims[3];
    const int P = t->out->dims[2], Q = t->out->dims[3];
    const alig_ad_pool_opts *o = &t->node->aux.pool;
    const int sh = o->stride_h ? o->stride_h : o->kh, sw = o->stride_w ? o->stride_w : o->kw;
    double gap = INFINITY;
    for (int m = 0; m < NC; m++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double a1 = -INFINITY, a2 = -INFINITY;
                for (int r = 0; r < o->kh; r++)
                    for (int u = 0; u < o->kw; u++) {
                        const int hi = p * sh - o->pad_h + r, wi = q * sw - o->pad_w + u;
                        if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                        const double v = X[(m * H + hi) * W + wi];
                        if (v > a1) { a2 = a1; a1 = v; } else if (v > a2) a2 = v;
                    }
                if (a2 > -INFINITY) gap = fmin(gap, a1 - a2);
            }
    return gap;
}

static double ref_global_avgpool(tc *t, const double *x)
{
    const double *X = PX(t, x, 0);
    const int NC = t->par[0]->dims[0] * t->par[0]->dims[1];
    const size_t L = inner(t->par[0]);
    for (int m = 0; m < NC; m++) {
        double s = 0;
        for (size_t l = 0; l < L; l++) s += X[(size_t)m * L + l];
        t->y[m] = s / (double)L;
    }
    return proj(t, t->y);
}

static void test_pool(void)
{
    const alig_ad_pool_opts opts[3] = { { .kh = 2, .kw = 2 },
                                         { .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1 },
                                         { .kh = 3, .kw = 2, .stride_h = 1, .stride_w = 1, .pad_h = 1 } };
    for (int k = 0; k < 3; k++)
        for (int avg = 0; avg < 2; avg++) {
            tc t;
            tc_init(&t, 41 + 2 * k + avg);
            alig_ad_node *x = par(&t, 4, (int[]){ 2, 2, 5, 6 });
            t.node = avg ? alig_ad_avgpool2d(t.G, x, &opts[k]) : alig_ad_maxpool2d(t.G, x, &opts[k]);
            project(&t, t.node);
            t.kind = avg;
            t.ref = ref_pool;
            tc_compile(&t, -1, 1);
            if (!avg) {         /* no tie within KINK in any window: redraw x whole */
                int tries = 0;
                while (pool_min_gap(&t) <= KINK) {
                    CU_ASSERT_FATAL(++tries < 1000);
                    for (size_t i = 0; i < x->size; i++) x->value[i] = (float)unif(&t, -1, 1);
                }
            }
            char name[48];
            snprintf(name, sizeof name, "%s %dx%d s(%d,%d) p(%d,%d)", avg ? "avgpool2d" : "maxpool2d", opts[k].kh,
                     opts[k].kw, opts[k].stride_h ? opts[k].stride_h : opts[k].kh,
                     opts[k].stride_w ? opts[k].stride_w : opts[k].kw, opts[k].pad_h, opts[k].pad_w);
            check(&t, name);
            tc_free(&t);
        }
    tc t;
    tc_init(&t, 49);
    project(&t, alig_ad_global_avgpool(t.G, par(&t, 4, (int[]){ 3, 4, 3, 5 })));
    t.ref = ref_global_avgpool;
    tc_compile(&t, -1, 1);
    check(&t, "global_avgpool");
    tc_free(&t);
}

/* ------------------------------------------------------------------ elementwise */

enum { K_RELU, K_SIGMOID, K_TANH, K_AFFINE, K_ADD, K_MUL };

static double ref_elem(tc *t, const double *x)
{
    const double *A = PX(t, x, 0), *B = t->npar > 1 ? PX(t, x, 1) : A;
    const double a = t->node->aux.affine.a, c = t->node->aux.affine.c;   /* float constants, as stored */
    for (size_t i = 0; i < t->out->size; i++) {
        const double v = A[i];
        switch (t->kind) {
        case K_RELU: t->y[i] = v > 0 ? v : 0.0; break;
        case K_SIGMOID: t->y[i] = 1.0 / (1.0 + exp(-v)); break;
        case K_TANH: t->y[i] = tanh(v); break;
        case K_AFFINE: t->y[i] = a * v + c; break;
        case K_ADD: t->y[i] = v + B[i]; break;
        default: t->y[i] = v * B[i]; break;
        }
    }
    return proj(t, t->y);
}

static void test_elementwise(void)
{
    static const char *names[] = { "relu", "sigmoid", "tanh", "affine (-1.5 x + 0.25)", "add", "mul", "add a+a", "mul a*a" };
    for (int k = 0; k < 8; k++) {
        const int kind = k < 6 ? k : k - 2;
        tc t;
        tc_init(&t, 51 + k);
        alig_ad_node *a = par(&t, 3, (int[]){ 4, 3, 5 });
        alig_ad_node *b = (kind == K_ADD || kind == K_MUL) ? (k < 6 ? par(&t, 3, (int[]){ 4, 3, 5 }) : a) : NULL;
        switch (kind) {
        case K_RELU: t.node = alig_ad_relu(t.G, a); break;
        case K_SIGMOID: t.node = alig_ad_sigmoid(t.G, a); break;
        case K_TANH: t.node = alig_ad_tanh(t.G, a); break;
        case K_AFFINE: t.node = alig_ad_affine(t.G, a, -1.5, 0.25); break;
        case K_ADD: t.node = alig_ad_add(t.G, a, b); break;
        default: t.node = alig_ad_mul(t.G, a, b); break;
        }
        project(&t, t.node);
        t.kind = kind;
        t.ref = ref_elem;
        tc_compile(&t, -2, 2);
        if (kind == K_RELU)     /* kinks: redraw |x| <= KINK */
            for (size_t i = 0; i < a->size; i++)
                while (fabs(a->value[i]) <= KINK) a->value[i] = (float)unif(&t, -2, 2);
        check(&t, names[k]);
        tc_free(&t);
    }
}

/* ------------------------------------------------------------------ shape ops */

static double ref_concat(tc *t, const double *x)
{
    const int N = t->out->dims[0], Cout = t->out->dims[1];
    const size_t L = inner(t->out);
    int off = 0;
    for (int k = 0; k < t->npar; k++) {
        const double *X = PX(t, x, k);
        const int C = t->par[k]->dims[1];
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (size_t l = 0; l < L; l++) t->y[((size_t)n * Cout + off + c) * L + l] = X[((size_t)n * C + c) * L + l];
        off += C;
    }
    return proj(t, t->y);
}

static double ref_slice(tc *t, const double *x)
{
    const double *X = PX(t, x, 0);
    const int N = t->out->dims[0], C = t->par[0]->dims[1], len = t->node->aux.slice.len, s0 = t->node->aux.slice.start;
    const size_t L = inner(t->out);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < len; j++)
            for (size_t l = 0; l < L; l++) t->y[((size_t)n * len + j) * L + l] = X[((size_t)n * C + s0 + j) * L + l];
    return proj(t, t->y);
}

/* reshape and flatten keep the element order: the output is x itself */
static double ref_same(tc *t, const double *x) { return proj(t, PX(t, x, 0)); }

static void test_shape_ops(void)
{
    tc t;
    tc_init(&t, 71);
    alig_ad_node *a = par(&t, 4, (int[]){ 2, 1, 3, 2 });
    alig_ad_node *b = par(&t, 4, (int[]){ 2, 3, 3, 2 });
    alig_ad_node *c = par(&t, 4, (int[]){ 2, 2, 3, 2 });
    project(&t, alig_ad_concat(t.G, 3, (alig_ad_node *[]){ a, b, c }));
    t.ref = ref_concat;
    tc_compile(&t, -1, 1);
    CU_ASSERT(t.out->dims[1] == 6);
    check(&t, "concat axis 1 (1+3+2 channels)");
    tc_free(&t);

    for (int k = 0; k < 2; k++) {       /* a slice inside, and one at the end of axis 1 */
        tc_init(&t, 72 + k);
        alig_ad_node *x = par(&t, k ? 2 : 4, k ? (int[]){ 4, 7 } : (int[]){ 2, 6, 3, 2 });
        t.node = alig_ad_slice(t.G, x, k ? 4 : 2, 3);
        project(&t, t.node);
        t.ref = ref_slice;
        tc_compile(&t, -1, 1);
        check(&t, k ? "slice (N,F) [4:7]" : "slice (N,C,H,W) [2:5]");
        tc_free(&t);
    }

    for (int k = 0; k < 2; k++) {
        tc_init(&t, 74 + k);
        alig_ad_node *x = par(&t, k ? 4 : 2, k ? (int[]){ 3, 2, 2, 3 } : (int[]){ 3, 8 });
        project(&t, k ? alig_ad_flatten(t.G, x) : alig_ad_reshape(t.G, x, 3, (int[]){ 2, 4, 3 }));
        t.ref = ref_same;
        tc_compile(&t, -1, 1);
        CU_ASSERT(k ? (t.out->ndim == 2 && t.out->dims[1] == 12) : t.out->ndim == 3);
        check(&t, k ? "flatten (3,2,2,3) -> (3,12)" : "reshape (3,8) -> (2,4,3)");
        tc_free(&t);
    }
}

/* ------------------------------------------------------------------ dropout */

static double ref_dropout(tc *t, const double *x)
{
    const double *X = PX(t, x, 0);
    for (size_t i = 0; i < t->out->size; i++) t->y[i] = t->train ? X[i] * t->mask[i] : X[i];
    return proj(t, t->y);
}

static void test_dropout(void)
{
    for (int eval = 0; eval < 2; eval++) {
        tc t;
        tc_init(&t, 91);
        alig_ad_node *x = par(&t, 2, (int[]){ 8, 10 });
        t.node = alig_ad_dropout(t.G, x, 0.4);
        project(&t, t.node);
        t.ref = ref_dropout;
        t.train = !eval;
        tc_compile(&t, -1, 1);
        /* the mask: a training forward on x = 1 gives y = m; x restored, the stream rewound by compare() */
        t.mask = malloc(x->size * sizeof *t.mask);
        float *saved = malloc(x->size * sizeof *saved);
        CU_ASSERT_FATAL(t.mask && saved);
        memcpy(saved, x->value, x->size * sizeof *saved);
        for (size_t i = 0; i < x->size; i++) x->value[i] = 1.0f;
        alig_ad_graph_set_rng(t.G, t.seed, 0);
        CU_ASSERT_FATAL(alig_ad_forward(t.G, 1) == ALIG_SUCCESS);
        size_t dropped = 0;
        for (size_t i = 0; i < x->size; i++) {
            t.mask[i] = t.node->value[i];
            dropped += t.mask[i] == 0.0;
        }
        memcpy(x->value, saved, x->size * sizeof *saved);
        free(saved);
        CU_ASSERT(dropped > 0 && dropped < x->size);     /* a mask, not all or nothing */
        check(&t, eval ? "dropout p=0.4 (eval: identity)" : "dropout p=0.4 (train, mask read back)");
        /* the checked forward drew the mask read back */
        int same = 1;
        for (size_t i = 0; i < x->size; i++)
            same &= t.node->value[i] == (eval ? x->value[i] : x->value[i] * (float)t.mask[i]);
        CU_ASSERT(same);
        tc_free(&t);
    }
}

/* ------------------------------------------------------------------ batch norm */

/* y = γ(x − μ)/√(σ² + ε) + β into t->y (train: batch μ, biased σ²; eval: the running buffers), fused ReLU */
static void bn_values(tc *t, const double *X, const double *gam, const double *bet, int relu)
{
    const alig_ad_node *bn = t->node;
    const int N = bn->dims[0], C = bn->dims[1];
    const size_t L = inner(bn);
    const double eps = bn->aux.bn.eps;       /* the float ε the op stores */
    const float *rm = bn->in[1]->value, *rv = bn->in[2]->value;
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (t->train) {
            double s = 0, ss = 0;
            for (int n = 0; n < N; n++)
                for (size_t l = 0; l < L; l++) s += X[((size_t)n * C + c) * L + l];
            mu = s / (double)((size_t)N * L);
            for (int n = 0; n < N; n++)
                for (size_t l = 0; l < L; l++) {
                    const double dv = X[((size_t)n * C + c) * L + l] - mu;
                    ss += dv * dv;
                }
            var = ss / (double)((size_t)N * L);
        } else {
            mu = rm[c];
            var = rv[c];
        }
        const double is = 1.0 / sqrt(var + eps), g = gam ? gam[c] : 1.0, b = bet ? bet[c] : 0.0;
        for (int n = 0; n < N; n++)
            for (size_t l = 0; l < L; l++) {
                const size_t i = ((size_t)n * C + c) * L + l;
                const double v = g * (X[i] - mu) * is + b;
                t->y[i] = relu && v < 0 ? 0.0 : v;
            }
    }
}

static double ref_bn(tc *t, const double *x)
{
    bn_values(t, PX(t, x, 0), t->affine ? PX(t, x, 1) : NULL, t->affine ? PX(t, x, 2) : NULL, t->node->aux.bn.relu);
    return proj(t, t->y);
}

/* smallest |BN(x)| (before the ReLU) at the float point */
static double bn_min_abs(tc *t)
{
    const size_t n = alig_ad_params_n(t->P);
    const float *xf = alig_ad_params_x(t->P);
    double *x = malloc(n * sizeof *x);
    CU_ASSERT_FATAL(x != NULL);
    for (size_t i = 0; i < n; i++) x[i] = xf[i];
    bn_values(t, PX(t, x, 0), t->affine ? PX(t, x, 1) : NULL, t->affine ? PX(t, x, 2) : NULL, 0);
    double m = INFINITY;
    for (size_t i = 0; i < t->node->size; i++) m = fmin(m, fabs(t->y[i]));
    free(x);
    return m;
}

static void test_batchnorm(void)
{
    for (int k = 0; k < 12; k++) {
        /* k < 8: (four, affine, eval) = bits of k; k >= 8: fused ReLU on (N,C,H,W), (affine, eval) = bits */
        const int fused = k >= 8, four = fused || (k & 4), affine = (k & 2) != 0, eval = k & 1;
        tc t;
        tc_init(&t, 101 + k);
        alig_ad_node *x = par(&t, four ? 4 : 2, four ? (fused ? (int[]){ 3, 2, 4, 3 } : (int[]){ 3, 2, 3, 2 })
                                                 : (int[]){ 6, 3 });
        const int C = x->dims[1];
        int rm, rv;
        CU_ASSERT_FATAL(alig_ad_params_add_buffer(t.P, 1, &C, 0.0f, &rm) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_params_add_buffer(t.P, 1, &C, 1.0f, &rv) == ALIG_SUCCESS);
        alig_ad_node *g = affine ? par(&t, 1, &C) : NULL, *b = affine ? par(&t, 1, &C) : NULL;
        const alig_ad_bn_opts o = { .momentum = 0.1, .eps = 1e-5, .relu = fused };
        t.node = alig_ad_batchnorm(t.G, x, g, b, alig_ad_buffer(t.G, rm), alig_ad_buffer(t.G, rv), &o);
        project(&t, t.node);
        t.affine = affine;
        t.train = !eval;
        t.ref = ref_bn;
        tc_compile(&t, -1, 1);
        float *rmv = alig_ad_params_value(t.P, rm), *rvv = alig_ad_params_value(t.P, rv);
        for (int tries = 0;; tries++) {
            if (affine)
                for (int c = 0; c < C; c++) g->value[c] += 1.0f;       /* γ in (0, 2): the normalised part matters */
            if (eval)                                                  /* non-trivial running statistics */
                for (int c = 0; c < C; c++) { rmv[c] = (float)unif(&t, -0.5, 0.5); rvv[c] = (float)unif(&t, 0.5, 1.5); }
            if (!fused || bn_min_abs(&t) > KINK) break;
            CU_ASSERT_FATAL(tries < 1000);
            float *xv = alig_ad_params_x(t.P);                         /* a kink within KINK: redraw all */
            for (size_t i = 0; i < alig_ad_params_n(t.P); i++) xv[i] = (float)unif(&t, -1, 1);
        }
        char name[64];
        snprintf(name, sizeof name, "batchnorm%s %s%s (%s)", fused ? "+relu" : "", four ? "(N,C,H,W)" : "(N,C)",
                 affine ? " affine" : "", eval ? "eval" : "train");
        check(&t, name);
        if (fused) {
            size_t zeros = 0;
            for (size_t i = 0; i < t.node->size; i++) zeros += t.node->value[i] == 0.0f;
            CU_ASSERT(zeros > 0 && zeros < t.node->size);              /* the ReLU is active somewhere, not everywhere */
        }
        tc_free(&t);
    }
}

/* ------------------------------------------------------------------ softmax, sum, losses */

static double ref_softmax(tc *t, const double *x)
{
    const double *X = PX(t, x, 0);
    const int N = t->out->dims[0], C = t->out->dims[1];
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < C; j++) mx = fmax(mx, X[i * C + j]);
        for (int j = 0; j < C; j++) z += exp(X[i * C + j] - mx);
        for (int j = 0; j < C; j++) t->y[i * C + j] = exp(X[i * C + j] - mx) / z;
    }
    return proj(t, t->y);
}

static double ref_sum(tc *t, const double *x)
{
    const double *X = PX(t, x, 0);
    double s = 0;
    for (size_t i = 0; i < t->par[0]->size; i++) s += X[i];
    return s;
}

static double ref_softmax_ce(tc *t, const double *x)
{
    const double *S = PX(t, x, 0);
    const int N = t->par[0]->dims[0], C = t->par[0]->dims[1];
    double L = 0;
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < C; j++) mx = fmax(mx, S[i * C + j]);
        for (int j = 0; j < C; j++) z += exp(S[i * C + j] - mx);
        L += log(z) + mx - S[i * C + (int)t->lab->value[i]];
    }
    return L / N;
}

/* (1/N) Σ_i max_j (s_ij + [j ≠ y_i] − s_iy) */
static double ref_hinge(tc *t, const double *x)
{
    const double *S = PX(t, x, 0);
    const int N = t->par[0]->dims[0], C = t->par[0]->dims[1];
    double L = 0;
    for (int i = 0; i < N; i++) {
        const int yi = (int)t->lab->value[i];
        double m = -INFINITY;
        for (int j = 0; j < C; j++) m = fmax(m, S[i * C + j] + (j != yi) - S[i * C + yi]);
        L += m;
    }
    return L / N;
}

/* smallest gap between the two largest augmented scores of any row */
static double hinge_min_gap(const tc *t)
{
    const float *S = t->par[0]->value;
    const int N = t->par[0]->dims[0], C = t->par[0]->dims[1];
    double gap = INFINITY;
    for (int i = 0; i < N; i++) {
        const int yi = (int)t->lab->value[i];
        double a1 = -INFINITY, a2 = -INFINITY;
        for (int j = 0; j < C; j++) {
            const double a = (double)S[i * C + j] + (j != yi) - S[i * C + yi];
            if (a > a1) { a2 = a1; a1 = a; } else if (a > a2) a2 = a;
        }
        gap = fmin(gap, a1 - a2);
    }
    return gap;
}

/* (1/n) Σ max(z, 0) − z·t + log(1 + e^−|z|) */
static double ref_bce(tc *t, const double *x)
{
    const double *Z = PX(t, x, 0);
    const size_t n = t->par[0]->size;
    double L = 0;
    for (size_t i = 0; i < n; i++) {
        const double z = Z[i], tg = t->lab->value[i];
        L += fmax(z, 0.0) - z * tg + log1p(exp(-fabs(z)));
    }
    return L / (double)n;
}

static void fill_labels(tc *t, int C)
{
    for (size_t i = 0; i < t->lab->size; i++) t->lab->value[i] = (float)gsl_rng_uniform_int(t->rng, (unsigned long)C);
}

static void test_softmax_sum(void)
{
    tc t;
    tc_init(&t, 81);
    project(&t, alig_ad_softmax(t.G, par(&t, 2, (int[]){ 4, 5 })));
    t.ref = ref_softmax;
    tc_compile(&t, -2, 2);
    check(&t, "softmax (4,5)");
    tc_free(&t);

    tc_init(&t, 82);
    t.loss = alig_ad_sum(t.G, par(&t, 3, (int[]){ 2, 3, 4 }));
    t.ref = ref_sum;
    tc_compile(&t, -1, 1);
    check(&t, "sum (2,3,4)");
    tc_free(&t);
}

static void test_losses(void)
{
    tc t;
    tc_init(&t, 111);
    alig_ad_node *s = par(&t, 2, (int[]){ 6, 4 });
    t.lab = alig_ad_input(t.G, 1, (int[]){ 6 });
    t.loss = alig_ad_softmax_ce(t.G, s, t.lab);
    t.ref = ref_softmax_ce;
    tc_compile(&t, -2, 2);
    fill_labels(&t, 4);
    check(&t, "softmax_ce (6,4)");
    tc_free(&t);

    /* hard hinge; the smoothed one is not checked: its backward is DFW's surrogate (ξ held
     * constant), intentionally not the gradient of its value (ad.h) */
    tc_init(&t, 112);
    s = par(&t, 2, (int[]){ 8, 5 });
    t.lab = alig_ad_input(t.G, 1, (int[]){ 8 });
    t.loss = alig_ad_hinge(t.G, s, t.lab, 0);
    t.ref = ref_hinge;
    tc_compile(&t, -2, 2);
    fill_labels(&t, 5);
    for (int tries = 0; hinge_min_gap(&t) <= KINK; tries++) {     /* argmax ties within KINK: redraw */
        CU_ASSERT_FATAL(tries < 1000);
        for (size_t i = 0; i < s->size; i++) s->value[i] = (float)unif(&t, -2, 2);
    }
    check(&t, "hinge hard (8,5)");
    tc_free(&t);

    tc_init(&t, 113);
    s = par(&t, 2, (int[]){ 4, 6 });
    t.lab = alig_ad_input(t.G, 2, (int[]){ 4, 6 });
    t.loss = alig_ad_bce_logits(t.G, s, t.lab);
    t.ref = ref_bce;
    tc_compile(&t, -3, 3);
    for (size_t i = 0; i < t.lab->size; i++) t.lab->value[i] = (float)unif(&t, 0, 1);
    check(&t, "bce_logits (4,6)");
    tc_free(&t);
}

/* ------------------------------------------------------------------ negative control */

/* A 0.1% error in the analytic gradient (a scaled by 1.001) must fail at TOL; the unscaled
 * gradient of the same graph must pass. For contrast the float-forward check (alig_ad_gradcheck,
 * h = 1e-2, asserted to 1e-3 in tests/test_ad_ops.c) is run on the same graph and printed only:
 * its own noise (up to ~7e-4 on the convolution) is as large as the injected error. */
static void test_negative_control(void)
{
    static const char *names[] = { "sigmoid", "conv2d im2col" };
    for (int k = 0; k < 2; k++) {
        tc t;
        tc_init(&t, 121 + k);
        if (k == 0) {
            t.node = alig_ad_sigmoid(t.G, par(&t, 2, (int[]){ 5, 6 }));
            t.kind = K_SIGMOID;
            t.ref = ref_elem;
        } else {
            alig_ad_node *x = par(&t, 4, (int[]){ 2, 2, 5, 5 }), *w = par(&t, 4, (int[]){ 3, 2, 3, 3 });
            t.node = alig_ad_conv2d(t.G, x, w, par(&t, 1, (int[]){ 3 }),
                                    &(alig_ad_conv_opts){ .pad_h = 1, .pad_w = 1, .algo = ALIG_CONV_IM2COL });
            t.ref = ref_conv2d;
        }
        project(&t, t.node);
        tc_compile(&t, -2, 2);
        cmp_res good, bad;
        compare(&t, 1.0, &good);
        compare(&t, 1.001, &bad);
        alig_ad_gradcheck_result gc;
        CU_ASSERT(alig_ad_gradcheck(t.G, t.loss, &(alig_ad_gradcheck_opts){ .h = 1e-2 }, &gc) == ALIG_SUCCESS);
        printf("  negative control %-14s exact a: err %.2e (pass)  a·1.001: err %.2e (must FAIL at %.0e); "
               "float-forward gradcheck err %.2e\n", names[k], good.err, bad.err, TOL, gc.max_err);
        CU_ASSERT(good.checked > 0 && good.dmax > 1e-2);
        CU_ASSERT(good.err <= TOL);
        CU_ASSERT(bad.err > TOL);
        CU_ASSERT(bad.err > 0.5e-3);        /* the comparison sees (nearly) the whole 0.1% */
        tc_free(&t);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s1 = CU_add_suite("gradients vs double-precision reference", NULL, NULL);
    if (!s1) { CU_cleanup_registry(); return 2; }
    CU_add_test(s1, "matmul (all transposes, x·xᵀ)", test_matmul);
    CU_add_test(s1, "bias_add", test_bias_add);
    CU_add_test(s1, "conv2d im2col / Winograd F2, F4 (stride, padding, bias)", test_conv2d);
    CU_add_test(s1, "max / avg / global pooling", test_pool);
    CU_add_test(s1, "relu, sigmoid, tanh, affine, add, mul", test_elementwise);
    CU_add_test(s1, "concat, slice, reshape, flatten", test_shape_ops);
    CU_add_test(s1, "dropout (train, eval)", test_dropout);
    CU_add_test(s1, "batchnorm (train, eval, affine or not, fused ReLU)", test_batchnorm);
    CU_add_test(s1, "softmax, sum", test_softmax_sum);
    CU_add_test(s1, "softmax_ce, hard hinge, bce_logits", test_losses);
    CU_add_test(s1, "negative control: a 0.1% gradient error fails", test_negative_control);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
