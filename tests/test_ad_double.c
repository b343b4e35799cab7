/* test_ad_double.c - the autodiff ops (include/alig/ad.h) and the models (include/alig/nn.h)
 * against central differences of independent DOUBLE-precision re-implementations of their
 * forward passes.
 *
 * tests/test_ad_ops.c differentiates the float forward (alig_ad_gradcheck), whose rounding
 * noise ε_f·|L|/h limits the comparison to ~1e-3. Here each op's forward is written again in
 * plain double loops in this file (the d_* kernels; no nets/ kernel is called for the
 * reference), the loss L = Σ r ⊙ op(·) (fixed random r; loss ops are taken as they are) is
 * evaluated in double at the float point x converted to double, and every coordinate of the
 * arena's x gets a central difference with h = 1e-6·max(1, |x_i|). Truncation (h²·L'''/6 ~ 1e-12) and double rounding
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
 * at TOL, i.e. a 0.1% error is caught, while the float-forward check's 1e-3 cannot.
 *
 * Models (section "models" at the end, which has the details), each net built through nn.h
 * (alig_nn_net_alloc, its training graph, x, g and buffers), a batch of 4, the float gradient of
 * the mean softmax cross-entropy against central differences of a double forward of the WHOLE
 * model composed of the same d_* kernels, at the float parameters:
 *   - MLP mlp-8-6 on 1×5×5, 3 classes: every coordinate (283);
 *   - the reference CNN on 1×10×10 (its smallest input), 4 classes: 24 coordinates per tensor
 *     (all of the smaller ones), 172 in all;
 *   - WRN-10-1 on 2×6×6, 3 classes: training mode (batch statistics) with dropout 0, and with
 *     dropout 0.3 (masks read back from the float forward); evaluation mode (running statistics
 *     moved away from (0, 1) first, dropout off); 8 coordinates of each of its 25 tensors.
 * The error is taken per tensor, max_i |a_i − d_i| / ‖d_T‖∞ over its checked coordinates, with
 * MTOL_PLAIN = 5e-6 (MLP, CNN) and MTOL_BN = 5e-5 (WRN). Also asserted: float and double loss
 * and scores agree to LOSS_TOL (the reference is the same architecture: layer order, padding,
 * shortcuts, the declaration order of x and of the buffers, which must also match the
 * arena's), non-triviality (‖d‖∞ > 1e-3, each tensor's > MGUARD) and the checked count; the
 * batch is redrawn until every ReLU input is MKINK = 1e-4 from 0 and every max-pool window's
 * top two are MKINK apart, and no ReLU sign or pool winner changes in any perturbed forward;
 * another BN or dropout mode is another function (contrast); and, per tensor, a 0.5% error
 * fails (negative control). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "alig/ad.h"
#include "alig/nn.h"

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

/* ------------------------------------------------------------------ double reference kernels
 *
 * The double forward of each op, written in plain loops on plain arrays (no graph, no node), so
 * that the op checks below and the model checks at the end of the file compose the same code.
 * Layouts are the ones of ad.h: row-major, NCHW, a dense weight (out, in), a conv weight
 * (K, C, R, S). */

/* Y (M,N) = op(A)·op(B), A (M,K) or (K,M) with ta, B (K,N) or (N,K) with tb */
static void d_matmul(const double *A, const double *B, int M, int N, int K, int ta, int tb, double *Y)
{
    for (int m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (ta ? A[k * M + m] : A[m * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            Y[m * N + j] = s;
        }
}

/* Y[n,c,l] = X[n,c,l] + b[c] over L inner elements (Y may be X) */
static void d_bias_add(const double *X, const double *b, int N, int C, size_t L, double *Y)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t l = 0; l < L; l++) {
                const size_t i = ((size_t)n * C + c) * L + l;
                Y[i] = X[i] + b[c];
            }
}

/* a convolution's shapes: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q); stride and zero padding */
typedef struct d_conv {
    int N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
} d_conv;

/* a workspace of n doubles for d_conv2d, kept between calls (freed by main) */
static double *d_ws;
static size_t d_ws_n;

static double *d_workspace(size_t n)
{
    if (n > d_ws_n) {
        free(d_ws);
        d_ws = malloc(n * sizeof *d_ws);
        d_ws_n = d_ws ? n : 0;
        CU_ASSERT_FATAL(d_ws != NULL);
    }
    return d_ws;
}

/* y[n,k,p,q] = b[k] + Σ_{c,r,u} w[k,c,r,u]·x[n,c,p·sh−ph+r, q·sw−pw+u], cells outside x are 0;
 * b may be NULL. Written as col[(c,r,u)][j] (j = (n,p,q): the input cell each output reads, 0
 * outside), then yt[k][j] = b[k] + Σ_(c,r,u) w[k][(c,r,u)]·col[(c,r,u)][j], then y = yt in NKPQ
 * order. The product runs in blocks of 4 channels × 4 outputs held in scalars (the model checks
 * spend their time here, also at -O1 under the sanitizers). */
static void d_conv2d(const double *X, const double *Wt, const double *b, const d_conv *s, double *Y)
{
    const size_t PQ = (size_t)s->P * s->Q, NPQ = (size_t)s->N * PQ, CRS = (size_t)s->C * s->R * s->S;
    double *col = d_workspace((CRS + (size_t)s->K) * NPQ), *yt = col + CRS * NPQ;
    for (int c = 0; c < s->C; c++)
        for (int r = 0; r < s->R; r++)
            for (int u = 0; u < s->S; u++) {
                double *cr = col + (((size_t)c * s->R + r) * s->S + u) * NPQ;
                for (int n = 0; n < s->N; n++)
                    for (int p = 0; p < s->P; p++)
                        for (int q = 0; q < s->Q; q++) {
                            const int hi = p * s->sh - s->ph + r, wi = q * s->sw - s->pw + u;
                            *cr++ = hi < 0 || hi >= s->H || wi < 0 || wi >= s->W
                                        ? 0.0
                                        : X[(((size_t)n * s->C + c) * s->H + hi) * s->W + wi];
                        }
            }
    for (int k = 0; k < s->K; k += 4) {
        /* channels k .. k+3; past K, the last channel again (the same values, written twice) */
        const double *w[4];
        double bk[4], *y[4];
        for (int i = 0; i < 4; i++) {
            const int kk = k + i < s->K ? k + i : s->K - 1;
            w[i] = Wt + (size_t)kk * CRS;
            bk[i] = b ? b[kk] : 0.0;
            y[i] = yt + (size_t)kk * NPQ;
        }
        const double *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
        size_t j = 0;
        for (; j + 4 <= NPQ; j += 4) {
            double a00 = bk[0], a01 = bk[0], a02 = bk[0], a03 = bk[0];
            double a10 = bk[1], a11 = bk[1], a12 = bk[1], a13 = bk[1];
            double a20 = bk[2], a21 = bk[2], a22 = bk[2], a23 = bk[2];
            double a30 = bk[3], a31 = bk[3], a32 = bk[3], a33 = bk[3];
            const double *cr = col + j;
            for (size_t t = 0; t < CRS; t++, cr += NPQ) {
                const double c0 = cr[0], c1 = cr[1], c2 = cr[2], c3 = cr[3];
                const double u0 = w0[t], u1 = w1[t], u2 = w2[t], u3 = w3[t];
                a00 += u0 * c0, a01 += u0 * c1, a02 += u0 * c2, a03 += u0 * c3;
                a10 += u1 * c0, a11 += u1 * c1, a12 += u1 * c2, a13 += u1 * c3;
                a20 += u2 * c0, a21 += u2 * c1, a22 += u2 * c2, a23 += u2 * c3;
                a30 += u3 * c0, a31 += u3 * c1, a32 += u3 * c2, a33 += u3 * c3;
            }
            y[0][j] = a00, y[0][j + 1] = a01, y[0][j + 2] = a02, y[0][j + 3] = a03;
            y[1][j] = a10, y[1][j + 1] = a11, y[1][j + 2] = a12, y[1][j + 3] = a13;
            y[2][j] = a20, y[2][j + 1] = a21, y[2][j + 2] = a22, y[2][j + 3] = a23;
            y[3][j] = a30, y[3][j + 1] = a31, y[3][j + 2] = a32, y[3][j + 3] = a33;
        }
        for (; j < NPQ; j++)
            for (int i = 0; i < 4; i++) {
                double acc = bk[i];
                for (size_t t = 0; t < CRS; t++) acc += w[i][t] * col[t * NPQ + j];
                y[i][j] = acc;
            }
    }
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            memcpy(Y + ((size_t)n * s->K + k) * PQ, yt + (size_t)k * NPQ + (size_t)n * PQ, PQ * sizeof *Y);
}

/* kh×kw pooling of NC planes H×W into P×Q: the first maximum over the in-bound cells (max), or
 * the window sum / (kh·kw), padding counted as zeros (avg). Max only: arg (if not NULL) gets
 * each window's winner (its index in the plane), and gap (if not NULL) is lowered to the
 * smallest difference between the two largest in-bound values of a window, over windows of at
 * least two cells whose maximum is not exactly 0 (a window of ReLU zeros stays 0 nearby). */
static void d_pool(const double *X, int NC, int H, int W, const alig_ad_pool_opts *o, int avg, int P, int Q,
                   double *Y, int *arg, double *gap)
{
    const int sh = o->stride_h ? o->stride_h : o->kh, sw = o->stride_w ? o->stride_w : o->kw;
    for (int m = 0; m < NC; m++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double s = avg ? 0.0 : -INFINITY, a2 = -INFINITY;
                int best = -1;
                for (int r = 0; r < o->kh; r++)
                    for (int u = 0; u < o->kw; u++) {
                        const int hi = p * sh - o->pad_h + r, wi = q * sw - o->pad_w + u;
                        if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                        const double v = X[((size_t)m * H + hi) * W + wi];
                        if (avg) s += v;
                        else if (v > s) { a2 = s; s = v; best = hi * W + wi; }
                        else if (v > a2) a2 = v;
                    }
                const size_t i = ((size_t)m * P + p) * Q + q;
                Y[i] = avg ? s / (o->kh * o->kw) : s;
                if (!avg && arg) arg[i] = best;
                if (!avg && gap && a2 > -INFINITY && s != 0.0) *gap = fmin(*gap, s - a2);
            }
}

/* (N,C,L) -> (N,C): the mean over the L inner elements */
static void d_gap(const double *X, size_t NC, size_t L, double *Y)
{
    for (size_t m = 0; m < NC; m++) {
        double s = 0;
        for (size_t l = 0; l < L; l++) s += X[m * L + l];
        Y[m] = s / (double)L;
    }
}

static double d_relu(double v) { return v > 0 ? v : 0.0; }

static void d_add(const double *A, const double *B, size_t n, double *Y)
{
    for (size_t i = 0; i < n; i++) Y[i] = A[i] + B[i];
}

/* train: y = x·m (m = 0 or the scale 1/(1 − p)); a zero input gives 0 whatever m (in a model, m
 * is unknown, NaN, where the float forward's input was 0: a ReLU output that stays 0 nearby);
 * eval: y = x */
static void d_dropout(const double *X, const double *mask, size_t n, int train, double *Y)
{
    for (size_t i = 0; i < n; i++) Y[i] = !train ? X[i] : X[i] == 0.0 ? 0.0 : X[i] * mask[i];
}

/* y = γ(x − μ)/√(σ² + ε) + β per channel of (N,C,L), then max(y, 0) when relu; train: batch μ
 * and biased σ² over the N·L values of the channel; eval: the running buffers rm, rv. γ, β
 * may be NULL (1, 0). */
static void d_batchnorm(const double *X, int N, int C, size_t L, const double *gam, const double *bet, int train,
                        const float *rm, const float *rv, double eps, int relu, double *Y)
{
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {
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
                Y[i] = relu ? d_relu(v) : v;
            }
    }
}

/* (1/N) Σ_i log Σ_j e^{s_ij} − s_{i,y_i}, labels as floats */
static double d_softmax_ce(const double *S, const float *lab, int N, int C)
{
    double L = 0;
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < C; j++) mx = fmax(mx, S[i * C + j]);
        for (int j = 0; j < C; j++) z += exp(S[i * C + j] - mx);
        L += log(z) + mx - S[i * C + (int)lab[i]];
    }
    return L / N;
}

/* ------------------------------------------------------------------ matmul, bias_add */

static double ref_matmul(tc *t, const double *x)
{
    const double *A = PX(t, x, 0), *B = PX(t, x, t->npar > 1 ? 1 : 0);
    const int ta = t->node->aux.matmul.trans_a, tb = t->node->aux.matmul.trans_b;
    const int M = t->out->dims[0], N = t->out->dims[1], K = ta ? t->node->in[0]->dims[0] : t->node->in[0]->dims[1];
    d_matmul(A, B, M, N, K, ta, tb, t->y);
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
    d_bias_add(PX(t, x, 0), PX(t, x, 1), t->out->dims[0], t->out->dims[1], inner(t->out), t->y);
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
    const alig_ad_node *xn = t->par[0], *wn = t->par[1];
    const alig_ad_conv_opts *o = &t->node->aux.conv;
    const d_conv s = { .N = xn->dims[0], .C = xn->dims[1], .H = xn->dims[2], .W = xn->dims[3], .K = wn->dims[0],
                       .R = wn->dims[2], .S = wn->dims[3], .P = t->out->dims[2], .Q = t->out->dims[3],
                       .sh = o->stride_h ? o->stride_h : 1, .sw = o->stride_w ? o->stride_w : 1, .ph = o->pad_h,
                       .pw = o->pad_w };
    d_conv2d(PX(t, x, 0), PX(t, x, 1), t->npar > 2 ? PX(t, x, 2) : NULL, &s, t->y);
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
    const alig_ad_node *xn = t->par[0];
    d_pool(PX(t, x, 0), xn->dims[0] * xn->dims[1], xn->dims[2], xn->dims[3], &t->node->aux.pool, t->kind,
           t->out->dims[2], t->out->dims[3], t->y, NULL, NULL);
    return proj(t, t->y);
}

/* smallest gap between the two largest in-bound values of any max-pool window, at the float point */
static double pool_min_gap(tc *t)
{
    const alig_ad_node *xn = t->par[0];
    double *X = malloc(xn->size * sizeof *X), gap = INFINITY;
    CU_ASSERT_FATAL(X != NULL);
    for (size_t i = 0; i < xn->size; i++) X[i] = xn->value[i];
    d_pool(X, xn->dims[0] * xn->dims[1], xn->dims[2], xn->dims[3], &t->node->aux.pool, 0, t->out->dims[2],
           t->out->dims[3], t->y, NULL, &gap);
    free(X);
    return gap;
}

static double ref_global_avgpool(tc *t, const double *x)
{
    d_gap(PX(t, x, 0), (size_t)t->par[0]->dims[0] * (size_t)t->par[0]->dims[1], inner(t->par[0]), t->y);
    return proj(t, t->y);
}

static void test_pool(void)
{
    const alig_ad_pool_opts opts[3] = { { .kh = 2, .kw = 2 },
                                         { .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1 },
                                         { .kh = 3, .kw = 2, .stride_h = 1, .stride_w = 1, .pad_h = 1 } };
    /* v = 0 maxpool, 1 avgpool, 2 maxpool behind an exact identity (affine 1·x + 0), so that its
     * input is an activation whose gradient it writes (set mode) instead of a parameter's it adds to */
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < 3; v++) {
            const int avg = v == 1;
            tc t;
            tc_init(&t, v < 2 ? 41 + 2 * k + v : 141 + k);
            alig_ad_node *x = par(&t, 4, (int[]){ 2, 2, 5, 6 });
            alig_ad_node *in = v == 2 ? alig_ad_affine(t.G, x, 1.0, 0.0) : x;
            t.node = avg ? alig_ad_avgpool2d(t.G, in, &opts[k]) : alig_ad_maxpool2d(t.G, in, &opts[k]);
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
            snprintf(name, sizeof name, "%s %dx%d s(%d,%d) p(%d,%d)%s", avg ? "avgpool2d" : "maxpool2d", opts[k].kh,
                     opts[k].kw, opts[k].stride_h ? opts[k].stride_h : opts[k].kh,
                     opts[k].stride_w ? opts[k].stride_w : opts[k].kw, opts[k].pad_h, opts[k].pad_w,
                     v == 2 ? " writes dx" : "");
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
    if (t->kind == K_ADD) {
        d_add(A, B, t->out->size, t->y);
        return proj(t, t->y);
    }
    for (size_t i = 0; i < t->out->size; i++) {
        const double v = A[i];
        switch (t->kind) {
        case K_RELU: t->y[i] = d_relu(v); break;
        case K_SIGMOID: t->y[i] = 1.0 / (1.0 + exp(-v)); break;
        case K_TANH: t->y[i] = tanh(v); break;
        case K_AFFINE: t->y[i] = a * v + c; break;
        default: t->y[i] = v * B[i]; break;
        }
    }
    return proj(t, t->y);
}

static void test_elementwise(void)
{
    static const char *names[] = { "relu", "sigmoid", "tanh", "affine (-1.5 x + 0.25)", "add", "mul", "add a+a", "mul a*a",
                                   "relu writes dx" };
    for (int k = 0; k < 9; k++) {
        const int kind = k < 6 ? k : k < 8 ? k - 2 : K_RELU;
        tc t;
        tc_init(&t, 51 + k);
        alig_ad_node *a = par(&t, 3, (int[]){ 4, 3, 5 });
        alig_ad_node *b = (kind == K_ADD || kind == K_MUL) ? (k < 6 ? par(&t, 3, (int[]){ 4, 3, 5 }) : a) : NULL;
        switch (kind) {   /* k = 8: relu behind an exact identity, so it writes its input's gradient */
        case K_RELU: t.node = alig_ad_relu(t.G, k == 8 ? alig_ad_affine(t.G, a, 1.0, 0.0) : a); break;
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
    d_dropout(PX(t, x, 0), t->mask, t->out->size, t->train, t->y);
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

/* batch norm of the op under test into t->y, with the float ε the op stores */
static void bn_values(tc *t, const double *X, const double *gam, const double *bet, int relu)
{
    const alig_ad_node *bn = t->node;
    d_batchnorm(X, bn->dims[0], bn->dims[1], inner(bn), gam, bet, t->train, bn->in[1]->value, bn->in[2]->value,
                bn->aux.bn.eps, relu, t->y);
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
    return d_softmax_ce(PX(t, x, 0), t->lab->value, t->par[0]->dims[0], t->par[0]->dims[1]);
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

/* ------------------------------------------------------------------ models
 *
 * The models of nn.h, built with alig_nn_net_alloc, against an independent double forward of the
 * whole model composed of the kernels above (d_*). The reference is a list of layers written from
 * nn.h and docs/nets.md (layer order, padding, shortcut placement, the declaration order of the
 * tensors in x and of the running statistics in the buffers); it owns one activation per layer,
 * so a perturbed coordinate only re-runs the layers from the one that reads it (tensors are
 * visited last layer first, so every layer before it still holds the base point's values).
 *
 * At the float parameters x (initialised with the net's seed, then jittered by MJITTER·N(0, 1) so
 * that γ, β and the biases leave their symmetric start) and a batch of B seeded N(0, 1) inputs,
 * the float analytic gradient a = g of the mean softmax cross-entropy (alig_nn_net_gradient in
 * training mode; forward(0) + backward on the training graph in evaluation mode) is compared with
 * central differences d of the double forward, h = H_STEP·max(1, |x_i|), per tensor T:
 *     err_T = max_{i ∈ S_T} |a_i − d_i| / max_{i ∈ S_T} |d_i|,  err = max_T err_T <= tol,
 * S_T all of T's coordinates up to a cap (a seeded draw without replacement beyond; the MLP is
 * checked whole, the CNN up to MCAP_CNN, the WRN up to MCAP_WRN per tensor). Normalising
 * per tensor keeps a tensor with small gradients (a first-layer bias, a β) from hiding behind the
 * model's largest one. Also asserted: the float loss and every float score (logit) equal the
 * double ones to LOSS_TOL (relative to max(1, |·|max); the reference is the same architecture),
 * the checked count, ‖d‖∞ > 1e-3 and every ‖d_T‖∞ > MGUARD.
 *
 * Kinks: the batch is redrawn (at most MTRIES times) until, in the double forward at the base
 * point, every ReLU input (relu layers and the ReLU after each WRN batch norm) is farther than
 * MKINK from 0 and every max-pool window's two largest values are farther than MKINK apart
 * (windows of ReLU zeros excepted: they stay 0). The perturbed forwards then compare each ReLU
 * sign and each pooling winner with the base point's, and the check asserts that none changed.
 *
 * Dropout (WRN, p > 0, training): the masks are those of the float forward that gave a, read back
 * from each batch norm with fused dropout, its output against the same forward's output with the
 * dropout off: kept iff the output is not 0 where the rectified value is not 0 (the output is
 * then asserted to be that value·s exactly, s = the op's float 1/(1 − p)); where it is 0 (a ReLU
 * zero, which stays 0 in every perturbed forward) the mask is unknown and is NaN in the reference,
 * so that a reference input there that is not exactly 0 would turn the loss into NaN.
 *
 * Evaluation mode: the running statistics are first moved away from (0, 1) by five training
 * passes on other batches; the reference reads them from the arena. Contrasts, printed and
 * asserted: the reference with batch statistics instead (eval), or without its dropout (train,
 * p > 0), gives scores farther than 100·LOSS_TOL from the float ones (measured: >= 1.2e-2 over
 * 60 seeds; the scores, since the loss alone came within 3e-4 by chance).
 *
 * Negative control: for every tensor T in turn, a_T scaled by 1.005 (a 0.5% error) must fail
 * the comparison at its tolerance (and show at least half of the 0.5%).
 *
 * Sizes: one WRN forward from the first layer is about 2.2M multiply-adds at 2×6×6 and B = 4
 * (3.2M at 2×8×8), two per coordinate; the caps keep the executable near 2.5 s under
 * asan-ubsan. 6×6 also puts odd sizes under the strided convs (6 → 3 → 2). */

/* The tolerances. As for the ops, what remains is float rounding of the backward pass and of the
 * forward values it reads, now through the whole model. Measured: err over 120 runs per model
 * (seeds of x, the batch and the coordinate draw; release with 1, 2, 4, 8 and 16 OpenMP threads,
 * no-openmp, asan-ubsan with 2 threads), median / max: MLP 1.4e-7 / 3.2e-7, CNN 2.9e-7 / 6.9e-7,
 * WRN-10-1 training p = 0 1.9e-6 / 5.9e-6, p = 0.3 1.7e-6 / 8.2e-6, evaluation 8.8e-7 / 4.3e-6;
 * loss differences up to 2.1e-7. The largest WRN errors sit in the last stage (2×2 planes:
 * train-mode batch norm over 16 values per channel, whose backward cancels its Σdy and Σdy·x̂
 * terms, and the convs and shortcut around it). MTOL_PLAIN (no batch norm) and MTOL_BN keep a
 * margin of 6 to 7 over those worst cases (other BLAS kernels and compilers round differently)
 * and stay 100 times below the 5e-3 that a 0.5% error gives (negative control). */
#define MTOL_PLAIN 5e-6
#define MTOL_BN 5e-5
#define MCAP_CNN 24         /* coordinates per tensor */
#define MCAP_WRN 8
#define MKINK 1e-4          /* margin from every ReLU kink and max-pool tie at the base point */
#define MGUARD 1e-4         /* every tensor's ‖d_T‖∞ on its checked coordinates (measured: >= 6e-4) */
#define MJITTER 0.05
#define MTRIES 200
#define MMAX 64             /* activations, layers, tensors of a reference model */
#define M_EPS ((double)1e-5f)   /* batch norm's ε (nn.h: PyTorch's 1e-5), as the float the op stores */

enum { M_DENSE, M_CONV, M_RELU, M_MAXPOOL, M_BN, M_DROPOUT, M_ADD, M_GAP };

typedef struct mact {
    int N, C, H, W;
    size_t size;
    double *v;
} mact;

typedef struct mlayer {
    int kind;
    int in, in2, out;          /* activations read (in2: ADD) and written */
    size_t w, b;               /* offsets in x: weight and bias, or BN γ and β */
    int bias;                  /* CONV: has a bias */
    size_t rm;                 /* BN: offset of the running mean in the buffers (the variance follows) */
    int relu;                  /* BN: followed by a ReLU */
    d_conv conv;
    double p;                  /* DROPOUT */
    double *mask;              /* DROPOUT: read back from the float forward (NaN: its input was 0) */
    unsigned char *pos;        /* RELU, BN + ReLU: ReLU input > 0 at the base point */
    int *arg;                  /* MAXPOOL: window winners at the base point */
} mlayer;

typedef struct mtensor {
    char name[80];
    int ndim, dims[4];
    size_t off, size;
    int layer;                 /* the layer that reads it */
} mtensor;

typedef struct mref {
    int B, classes;
    mact act[MMAX];
    mlayer L[MMAX];
    mtensor T[MMAX];
    int nact, nl, nt, nbt, logits;
    size_t n, nbuf;            /* parameter and buffer elements declared so far */
    size_t boff[MMAX], bsize[MMAX];   /* buffer tensors (running mean, variance) */
    const float *buf, *lab;    /* the arena's buffers; labels */
    int bn_train, drop_train;  /* batch statistics; dropout masks applied */
    int record;                /* 1: base point (store ReLU signs, pool winners, margins) */
    double margin, gap;        /* smallest |ReLU input|, smallest max-pool gap, at the base point */
    size_t crossings;          /* ReLU signs / pool winners of perturbed forwards that differ */
    int *scratch;
    size_t nscratch;
} mref;

static int mr_act(mref *m, int N, int C, int H, int W)
{
    CU_ASSERT_FATAL(m->nact < MMAX);
    mact *a = &m->act[m->nact];
    *a = (mact){ .N = N, .C = C, .H = H, .W = W, .size = (size_t)N * C * H * W };
    a->v = calloc(a->size, sizeof *a->v);
    CU_ASSERT_FATAL(a->v != NULL);
    return m->nact++;
}

static mlayer *mr_layer(mref *m, int kind, int in)
{
    CU_ASSERT_FATAL(m->nl < MMAX);
    mlayer *L = &m->L[m->nl++];
    *L = (mlayer){ .kind = kind, .in = in, .in2 = -1, .out = -1 };
    return L;
}

/* the next trainable tensor of x, read by the layer just added */
static size_t mr_param(mref *m, const char *layer, const char *what, int ndim, const int *dims)
{
    CU_ASSERT_FATAL(m->nt < MMAX);
    mtensor *T = &m->T[m->nt++];
    snprintf(T->name, sizeof T->name, "%s.%s", layer, what);
    T->ndim = ndim;
    T->size = 1;
    for (int k = 0; k < ndim; k++) T->size *= (size_t)(T->dims[k] = dims[k]);
    T->off = m->n;
    T->layer = m->nl - 1;
    m->n += T->size;
    return T->off;
}

static size_t mr_buffer(mref *m, int C)
{
    CU_ASSERT_FATAL(m->nbt < MMAX);
    m->boff[m->nbt] = m->nbuf;
    m->bsize[m->nbt++] = (size_t)C;
    m->nbuf += (size_t)C;
    return m->boff[m->nbt - 1];
}

/* dense: flatten, then y = x Wᵀ + b, W (out, in) */
static int mr_dense(mref *m, const char *name, int in, int out)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_DENSE, in);
    L->w = mr_param(m, name, "W", 2, (const int[]){ out, a->C * a->H * a->W });
    L->b = mr_param(m, name, "b", 1, &out);
    return L->out = mr_act(m, a->N, out, 1, 1);
}

static int mr_conv(mref *m, const char *name, int in, int K, int k, int stride, int pad, int bias)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_CONV, in);
    L->conv = (d_conv){ .N = a->N, .C = a->C, .H = a->H, .W = a->W, .K = K, .R = k, .S = k,
                        .P = (a->H + 2 * pad - k) / stride + 1, .Q = (a->W + 2 * pad - k) / stride + 1,
                        .sh = stride, .sw = stride, .ph = pad, .pw = pad };
    L->w = mr_param(m, name, "W", 4, (const int[]){ K, a->C, k, k });
    L->bias = bias;
    if (bias) L->b = mr_param(m, name, "b", 1, &K);
    return L->out = mr_act(m, a->N, K, L->conv.P, L->conv.Q);
}

static int mr_relu(mref *m, int in)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_RELU, in);
    L->pos = malloc(a->size);
    CU_ASSERT_FATAL(L->pos != NULL);
    return L->out = mr_act(m, a->N, a->C, a->H, a->W);
}

static int mr_maxpool2(mref *m, int in)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_MAXPOOL, in);
    L->out = mr_act(m, a->N, a->C, a->H / 2, a->W / 2);
    const size_t n = m->act[L->out].size;
    L->arg = malloc(n * sizeof *L->arg);
    if (n > m->nscratch) {
        free(m->scratch);
        m->scratch = malloc(n * sizeof *m->scratch);
        m->nscratch = n;
    }
    CU_ASSERT_FATAL(L->arg && m->scratch);
    return L->out;
}

/* batch norm: γ, β in x, then the running mean and variance in the buffers; a ReLU if relu */
static int mr_bn(mref *m, const char *name, int in, int relu)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_BN, in);
    L->w = mr_param(m, name, "gamma", 1, &a->C);
    L->b = mr_param(m, name, "beta", 1, &a->C);
    L->rm = mr_buffer(m, a->C);
    mr_buffer(m, a->C);
    L->relu = relu;
    if (relu) {
        L->pos = malloc(a->size);
        CU_ASSERT_FATAL(L->pos != NULL);
    }
    return L->out = mr_act(m, a->N, a->C, a->H, a->W);
}

static int mr_dropout(mref *m, int in, double p)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_DROPOUT, in);
    L->p = p;
    L->mask = malloc(a->size * sizeof *L->mask);
    CU_ASSERT_FATAL(L->mask != NULL);
    for (size_t i = 0; i < a->size; i++) L->mask[i] = NAN;
    return L->out = mr_act(m, a->N, a->C, a->H, a->W);
}

static int mr_add(mref *m, int a, int b)
{
    const mact *A = &m->act[a];
    CU_ASSERT_FATAL(A->size == m->act[b].size);
    mlayer *L = mr_layer(m, M_ADD, a);
    L->in2 = b;
    return L->out = mr_act(m, A->N, A->C, A->H, A->W);
}

static int mr_gap(mref *m, int in)
{
    const mact *a = &m->act[in];
    mlayer *L = mr_layer(m, M_GAP, in);
    return L->out = mr_act(m, a->N, a->C, 1, 1);
}

/* WRN pre-activation block: BN-ReLU-conv3×3(stride)-BN-ReLU-[dropout]-conv3×3, plus the identity,
 * or a 1×1 strided conv of the pre-activated input (declared after the second conv) */
static int mr_wrn_block(mref *m, const char *pre, int x, int cout, int stride, double p)
{
    char nm[64];
    const int equal = m->act[x].C == cout && stride == 1;
    snprintf(nm, sizeof nm, "%s.bn1", pre);
    int o = mr_bn(m, nm, x, 1);
    const int sc_in = equal ? x : o;
    snprintf(nm, sizeof nm, "%s.conv1", pre);
    o = mr_conv(m, nm, o, cout, 3, stride, 1, 0);
    snprintf(nm, sizeof nm, "%s.bn2", pre);
    o = mr_bn(m, nm, o, 1);
    if (p > 0) o = mr_dropout(m, o, p);
    snprintf(nm, sizeof nm, "%s.conv2", pre);
    o = mr_conv(m, nm, o, cout, 3, 1, 1, 0);
    snprintf(nm, sizeof nm, "%s.shortcut", pre);
    const int sc = equal ? sc_in : mr_conv(m, nm, sc_in, cout, 1, stride, 0, 0);
    return mr_add(m, o, sc);
}

/* the model of spec on a batch of B, from nn.h's description */
static void mr_build(mref *m, const alig_nn_spec *s, int B)
{
    memset(m, 0, sizeof *m);
    m->B = B;
    m->classes = s->classes;
    int h = mr_act(m, B, s->in_c, s->in_h, s->in_w);      /* activation 0: the input */
    char nm[32];
    switch (s->kind) {
    case ALIG_NN_MLP:
        for (int i = 0; i < s->n_hidden; i++) {
            snprintf(nm, sizeof nm, "fc%d", i + 1);
            h = mr_relu(m, mr_dense(m, nm, h, s->hidden[i]));
        }
        h = mr_dense(m, "out", h, s->classes);
        break;
    case ALIG_NN_CNN:
        h = mr_maxpool2(m, mr_relu(m, mr_conv(m, "conv1", h, 32, 3, 1, 0, 1)));
        h = mr_maxpool2(m, mr_relu(m, mr_conv(m, "conv2", h, 64, 3, 1, 0, 1)));
        h = mr_relu(m, mr_dense(m, "fc1", h, 128));
        h = mr_dense(m, "fc2", h, s->classes);
        break;
    case ALIG_NN_WRN:
        h = mr_conv(m, "conv", h, 16, 3, 1, 1, 0);
        for (int st = 0; st < 3; st++)
            for (int i = 0; i < (s->depth - 4) / 6; i++) {
                snprintf(nm, sizeof nm, "s%db%d", st + 1, i + 1);
                h = mr_wrn_block(m, nm, h, (16 << st) * s->width, st > 0 && i == 0 ? 2 : 1, s->dropout);
            }
        h = mr_dense(m, "fc", mr_gap(m, mr_bn(m, "bn", h, 1)), s->classes);
        break;
    case ALIG_NN_DENSENET:      /* checked by central differences in tests/test_vision_models.c */
        CU_FAIL_FATAL("no double-precision reference for DenseNet-BC here");
        break;
    }
    m->logits = h;
    for (int k = 1; k < m->nt; k++) CU_ASSERT_FATAL(m->T[k].layer >= m->T[k - 1].layer);
}

static void mr_free(mref *m)
{
    for (int i = 0; i < m->nact; i++) free(m->act[i].v);
    for (int l = 0; l < m->nl; l++) {
        free(m->L[l].mask);
        free(m->L[l].pos);
        free(m->L[l].arg);
    }
    free(m->scratch);
}

/* a ReLU's input: record its signs and margin at the base point, or count the signs that changed */
static void mr_kink(mref *m, const mlayer *L, const double *pre, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const unsigned char s = pre[i] > 0;
        if (m->record) {
            L->pos[i] = s;
            m->margin = fmin(m->margin, fabs(pre[i]));
        } else
            m->crossings += s != L->pos[i];
    }
}

/* the mean cross-entropy at x, re-running layers from..end (the earlier ones hold their values) */
static double mr_forward(mref *m, const double *x, int from)
{
    static const alig_ad_pool_opts pool2 = { .kh = 2, .kw = 2 };
    for (int l = from; l < m->nl; l++) {
        const mlayer *L = &m->L[l];
        const mact *a = &m->act[L->in];
        mact *y = &m->act[L->out];
        switch (L->kind) {
        case M_DENSE:
            d_matmul(a->v, x + L->w, a->N, y->C, a->C * a->H * a->W, 0, 1, y->v);
            d_bias_add(y->v, x + L->b, y->N, y->C, 1, y->v);
            break;
        case M_CONV: d_conv2d(a->v, x + L->w, L->bias ? x + L->b : NULL, &L->conv, y->v); break;
        case M_RELU:
            mr_kink(m, L, a->v, a->size);
            for (size_t i = 0; i < a->size; i++) y->v[i] = d_relu(a->v[i]);
            break;
        case M_MAXPOOL: {
            int *arg = m->record ? L->arg : m->scratch;
            d_pool(a->v, a->N * a->C, a->H, a->W, &pool2, 0, y->H, y->W, y->v, arg, m->record ? &m->gap : NULL);
            if (!m->record)
                for (size_t i = 0; i < y->size; i++) m->crossings += arg[i] != L->arg[i];
            break;
        }
        case M_BN:
            d_batchnorm(a->v, a->N, a->C, (size_t)a->H * a->W, x + L->w, x + L->b, m->bn_train, m->buf + L->rm,
                        m->buf + L->rm + a->C, M_EPS, 0, y->v);
            if (L->relu) {
                mr_kink(m, L, y->v, y->size);
                for (size_t i = 0; i < y->size; i++) y->v[i] = d_relu(y->v[i]);
            }
            break;
        case M_DROPOUT: d_dropout(a->v, L->mask, a->size, m->drop_train, y->v); break;
        case M_ADD: d_add(a->v, m->act[L->in2].v, a->size, y->v); break;
        default: d_gap(a->v, (size_t)a->N * a->C, (size_t)a->H * a->W, y->v); break;
        }
    }
    return d_softmax_ce(m->act[m->logits].v, m->lab, m->B, m->classes);
}

/* The dropout masks of the float training forward at dropout stream position (seed, step): the
 * WRN's dropout is fused into the batch norm before it (alig_ad_bn_opts.dropout), and the k-th
 * such node of the graph is the reference's k-th dropout layer (both in model order). The node
 * keeps no mask and no pre-dropout tensor, so its output y is saved, and the same forward is run
 * again with its dropout alone off (the earlier ones still drop, so its input is the same) to get
 * its rectified output r; last the first forward is run again (the logits and everything backward
 * reads are then those of the gradient a). */
static void mr_read_masks(mref *m, alig_ad_graph *G, uint64_t seed, uint64_t step)
{
    alig_ad_node *nodes[MMAX];
    float *saved[MMAX], p[MMAX];
    int nf = 0;
    for (int j = 0; j < alig_ad_graph_size(G); j++) {
        alig_ad_node *c = alig_ad_graph_node(G, j);
        CU_ASSERT(c->op != ALIG_OP_DROPOUT);
        if (c->op != ALIG_OP_BATCHNORM || c->aux.bn.p == 0.0f) continue;
        CU_ASSERT_FATAL(nf < MMAX && c->aux.bn.relu);
        nodes[nf] = c;
        p[nf] = c->aux.bn.p;
        saved[nf] = malloc(c->size * sizeof *saved[nf]);
        CU_ASSERT_FATAL(saved[nf] != NULL);
        memcpy(saved[nf], c->value, c->size * sizeof *saved[nf]);
        nf++;
    }
    int k = 0;
    for (int l = 0; l < m->nl; l++) {
        mlayer *L = &m->L[l];
        if (L->kind != M_DROPOUT) continue;
        CU_ASSERT_FATAL(k < nf && nodes[k]->size == m->act[L->in].size && p[k] == (float)L->p);
        /* node k alone without dropout: its input is the first forward's, its output r */
        nodes[k]->aux.bn.p = 0.0f;
        alig_ad_graph_set_rng(G, seed, step);
        CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
        nodes[k]->aux.bn.p = p[k];
        const float s = (float)(1.0 / (1.0 - (double)p[k]));       /* the op's scale */
        size_t kept = 0, dropped = 0, bad = 0;
        for (size_t i = 0; i < nodes[k]->size; i++) {
            const float xi = nodes[k]->value[i], yi = saved[k][i];
            if (xi == 0.0f) {
                L->mask[i] = NAN;
                bad += yi != 0.0f;
            } else if (yi != 0.0f) {
                L->mask[i] = s;
                bad += yi != xi * s;
                kept++;
            } else {
                L->mask[i] = 0.0;
                dropped++;
            }
        }
        CU_ASSERT(bad == 0);
        CU_ASSERT(kept > 0 && dropped > 0);
        k++;
    }
    CU_ASSERT(k == nf);
    for (int q = 0; q < nf; q++) free(saved[q]);
    alig_ad_graph_set_rng(G, seed, step);
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
}

/* the checked coordinates of each tensor: S_T = ci[ts[k] .. ts[k+1]), d their differences */
typedef struct mcoords {
    size_t total, *ci;
    int ts[MMAX + 1];
    double *d;
} mcoords;

/* max_T err_T (see the section comment) with a_T scaled by s for tensor `bad` (−1: none);
 * worst: the tensor attaining it */
static double m_err(const mref *m, const mcoords *c, const float *g, int bad, double s, int *worst)
{
    double e = 0;
    for (int k = 0; k < m->nt; k++) {
        double dm = 0, em = 0;
        for (int j = c->ts[k]; j < c->ts[k + 1]; j++) dm = fmax(dm, fabs(c->d[j]));
        for (int j = c->ts[k]; j < c->ts[k + 1]; j++)
            em = fmax(em, fabs((k == bad ? s : 1.0) * (double)g[c->ci[j]] - c->d[j]));
        const double ek = em / fmax(dm, 1e-300);
        if (ek >= e) {
            e = ek;
            if (worst) *worst = k;
        }
    }
    return e;
}

/* max_i |f_i − d_i| / max(1, max_i |d_i|): the float scores against double ones */
static double score_diff(const float *f, const double *d, size_t n)
{
    double e = 0, dm = 1.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)f[i] - d[i]));
        dm = fmax(dm, fabs(d[i]));
    }
    return e / dm;
}

/* B seeded N(0, 1) inputs and uniform labels */
static void m_draw(alig_image_set *set, gsl_rng *r)
{
    for (size_t i = 0; i < set->n * set->c * set->h * set->w; i++) set->x[i] = (float)gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < set->n; i++) set->y[i] = (int32_t)gsl_rng_uniform_int(r, set->num_classes);
}

typedef struct mcase {
    const char *what;           /* printed */
    const char *model;          /* alig_nn_spec_parse name */
    int c, h, w, classes, B;
    double dropout;
    int eval;
    size_t cap;                 /* coordinates per tensor, 0: all */
    double tol;
    unsigned long seed;
} mcase;

static void model_check(const mcase *mc)
{
    const clock_t t0 = clock();
    alig_nn_spec spec;
    CU_ASSERT_FATAL(alig_nn_spec_parse(&spec, mc->model, mc->c, mc->h, mc->w, mc->classes, mc->dropout) ==
                    ALIG_SUCCESS);
    alig_nn_net *net = NULL;
    char msg[256];
    alig_status rc = alig_nn_net_alloc(&net, &spec, mc->B, mc->B, mc->seed, msg, sizeof msg);
    if (rc) printf("  net alloc failed: %s\n", msg);
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    mref *m = malloc(sizeof *m);
    CU_ASSERT_FATAL(m != NULL);
    mr_build(m, &spec, mc->B);

    /* the declaration order of nn.h: the reference's tensors and buffers are the arena's */
    alig_ad_params *P = alig_nn_net_params(net);
    const size_t n = alig_nn_net_n(net);
    CU_ASSERT_FATAL(m->n == n && m->nbuf == alig_ad_params_nbuf(P));
    int kt = 0, kb = 0;
    for (int id = 0; id < alig_ad_params_count(P); id++) {
        int nd, dims[ALIG_AD_MAX_DIM];
        const size_t size = alig_ad_params_shape(P, id, &nd, dims), off = alig_ad_params_offset(P, id);
        if (alig_ad_params_trainable(P, id) == 1) {
            CU_ASSERT_FATAL(kt < m->nt);
            const mtensor *T = &m->T[kt++];
            int same = T->ndim == nd && T->off == off && T->size == size;
            for (int k = 0; same && k < nd; k++) same = T->dims[k] == dims[k];
            if (!same) printf("  arena tensor %d is not the reference's %s\n", id, T->name);
            CU_ASSERT_FATAL(same);
        } else {
            CU_ASSERT_FATAL(kb < m->nbt && m->boff[kb] == off && m->bsize[kb] == size);
            kb++;
        }
    }
    CU_ASSERT_FATAL(kt == m->nt && kb == m->nbt);

    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_FATAL(r != NULL);
    gsl_rng_set(r, mc->seed);
    float *xf = alig_nn_net_x(net);
    for (size_t i = 0; i < n; i++) xf[i] += (float)(MJITTER * gsl_ran_gaussian(r, 1.0));
    const int B = mc->B;
    alig_image_set set = { .n = (size_t)B, .c = (size_t)mc->c, .h = (size_t)mc->h, .w = (size_t)mc->w,
                           .num_classes = (size_t)mc->classes };
    const size_t nin = set.n * set.c * set.h * set.w;
    set.x = malloc(nin * sizeof *set.x);
    set.y = malloc(set.n * sizeof *set.y);
    float *lab = malloc(set.n * sizeof *lab);
    double *x = malloc(n * sizeof *x);
    CU_ASSERT_FATAL(set.x && set.y && lab && x);
    double loss;
    if (mc->eval)       /* running statistics away from (0, 1) */
        for (int k = 0; k < 5; k++) {
            m_draw(&set, r);
            CU_ASSERT_FATAL(alig_nn_net_gradient(net, &set, NULL, 0, set.n, &loss, NULL) == ALIG_SUCCESS);
        }
    for (size_t i = 0; i < n; i++) x[i] = xf[i];
    m->buf = alig_ad_params_buf(P);
    m->lab = lab;
    m->bn_train = m->drop_train = !mc->eval;
    alig_ad_node *xin, *yin, *snode, *Lnode;
    alig_ad_graph *G = alig_nn_net_train_graph(net, &xin, &yin, &snode, &Lnode);
    CU_ASSERT_FATAL(G && xin && yin && snode && Lnode && xin->size == nin);
    CU_ASSERT_FATAL(snode->size == m->act[m->logits].size);

    /* a batch whose base point is MKINK away from every kink; a (float) and the masks from it */
    double Lf = 0, L0 = 0;
    int tries = 0;
    for (;; tries++) {
        CU_ASSERT_FATAL(tries < MTRIES);
        m_draw(&set, r);
        for (size_t i = 0; i < set.n; i++) lab[i] = (float)set.y[i];
        if (!mc->eval) {
            CU_ASSERT_FATAL(alig_nn_net_gradient(net, &set, NULL, 0, set.n, &Lf, NULL) == ALIG_SUCCESS);
            /* the training graph shares memory by liveness (alig_ad_graph_compile_planned): what
             * backward reads is readable after a forward, not after the backward; repeat that
             * step's forward (same dropout stream position) to read the masks */
            uint64_t seed, step;
            alig_ad_graph_rng(G, &seed, &step);
            alig_ad_graph_set_rng(G, seed, step - 1);
            CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS && fabs(alig_ad_scalar(Lnode) - Lf) == 0.0);
            mr_read_masks(m, G, seed, step - 1);
            CU_ASSERT_FATAL(fabs(alig_ad_scalar(Lnode) - Lf) == 0.0);
        } else {
            memcpy(xin->value, set.x, nin * sizeof *set.x);
            memcpy(yin->value, lab, set.n * sizeof *lab);
            CU_ASSERT_FATAL(alig_ad_forward(G, 0) == ALIG_SUCCESS && alig_ad_backward(G, Lnode) == ALIG_SUCCESS);
            Lf = alig_ad_scalar(Lnode);
        }
        for (size_t i = 0; i < nin; i++) m->act[0].v[i] = set.x[i];
        m->record = 1;
        m->margin = m->gap = INFINITY;
        L0 = mr_forward(m, x, 0);
        if (m->margin > MKINK && m->gap > MKINK) break;
    }
    const float *g = alig_nn_net_g(net);
    const double lerr = fabs(Lf - L0) / fmax(1.0, fabs(L0));
    const double serr = score_diff(snode->value, m->act[m->logits].v, snode->size);

    /* the coordinates: every one of a tensor up to the cap, else a seeded draw */
    mcoords c = { 0 };
    size_t maxsize = 0;
    for (int k = 0; k < m->nt; k++) {
        c.total += mc->cap && m->T[k].size > mc->cap ? mc->cap : m->T[k].size;
        if (m->T[k].size > maxsize) maxsize = m->T[k].size;
    }
    c.ci = malloc(c.total * sizeof *c.ci);
    c.d = malloc(c.total * sizeof *c.d);
    size_t *all = malloc(maxsize * sizeof *all);
    CU_ASSERT_FATAL(c.ci && c.d && all);
    for (int k = 0, j = 0; k < m->nt; k++) {
        const mtensor *T = &m->T[k];
        const size_t take = mc->cap && T->size > mc->cap ? mc->cap : T->size;
        for (size_t i = 0; i < T->size; i++) all[i] = T->off + i;
        c.ts[k] = j;
        if (take == T->size) memcpy(c.ci + j, all, take * sizeof *all);
        else gsl_ran_choose(r, c.ci + j, take, all, T->size, sizeof *all);
        j += (int)take;
        c.ts[k + 1] = j;
    }
    free(all);

    /* central differences, tensors last layer first */
    m->record = 0;
    m->crossings = 0;
    double dmax = 0;
    for (int k = m->nt - 1; k >= 0; k--)
        for (int j = c.ts[k]; j < c.ts[k + 1]; j++) {
            const size_t i = c.ci[j];
            const double xi = x[i], h = H_STEP * fmax(1.0, fabs(xi)), xp = xi + h, xm = xi - h;
            x[i] = xp;
            const double lp = mr_forward(m, x, m->T[k].layer);
            x[i] = xm;
            const double lm = mr_forward(m, x, m->T[k].layer);
            x[i] = xi;
            c.d[j] = (lp - lm) / (xp - xm);
            dmax = fmax(dmax, fabs(c.d[j]));
        }
    double tmin = INFINITY;             /* smallest ‖d_T‖∞ */
    for (int k = 0; k < m->nt; k++) {
        double dm = 0;
        for (int j = c.ts[k]; j < c.ts[k + 1]; j++) dm = fmax(dm, fabs(c.d[j]));
        if (dm <= MGUARD) printf("  %s: |d|max %.1e\n", m->T[k].name, dm);
        tmin = fmin(tmin, dm);
    }
    int worst = 0, nworst = 0;
    const double err = m_err(m, &c, g, -1, 1.0, &worst);
    double neg = INFINITY;              /* negative control: every tensor's a_T · 1.005 */
    for (int k = 0; k < m->nt; k++) {
        const double e = m_err(m, &c, g, k, 1.005, NULL);
        if (e < neg) { neg = e; nworst = k; }
    }

    const double margin = m->margin, gap = m->gap;

    /* contrasts: another BN or dropout mode is another function */
    double contrast = NAN;
    const char *cwhat = NULL;
    if (mc->eval || mc->dropout > 0) {
        m->record = 1;
        for (size_t i = 0; i < n; i++) x[i] = xf[i];
        if (mc->eval) { m->bn_train = 1; cwhat = "batch statistics"; }
        else { m->drop_train = 0; cwhat = "no dropout"; }
        mr_forward(m, x, 0);
        contrast = score_diff(snode->value, m->act[m->logits].v, snode->size);
    }

    printf("  %-32s n %6zu, %2d tensors, coords %4zu, batch tries %d (margin %.1e, pool gap %.1e), crossings %zu, "
           "%.2f s\n", mc->what, n, m->nt, c.total, tries + 1, margin, gap, m->crossings,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    char ctext[64] = "";
    if (cwhat) snprintf(ctext, sizeof ctext, " (with %s: %.1e)", cwhat, contrast);
    printf("  %-32s loss %.6f, diff %.1e, scores diff %.1e%s; |d|max %.2e (per tensor >= %.1e);\n", "", L0, lerr,
           serr, ctext, dmax, tmin);
    printf("  %-32s max err %.2e (%s), tol %.0e; 0.5%% control: min err %.2e (%s)\n", "", err, m->T[worst].name,
           mc->tol, neg, m->T[nworst].name);
    CU_ASSERT(lerr <= LOSS_TOL);
    CU_ASSERT(serr <= LOSS_TOL);
    CU_ASSERT(c.total > 0 && c.ts[m->nt] == (int)c.total);
    CU_ASSERT(dmax > 1e-3);
    CU_ASSERT(tmin > MGUARD);
    CU_ASSERT(m->crossings == 0);
    CU_ASSERT(err <= mc->tol);
    CU_ASSERT(neg > mc->tol);
    CU_ASSERT(neg > 2.5e-3);            /* the comparison sees at least half the injected 0.5% */
    if (cwhat) CU_ASSERT(contrast > 100 * LOSS_TOL);

    free(c.ci);
    free(c.d);
    free(x);
    free(lab);
    alig_image_set_free(&set);
    gsl_rng_free(r);
    mr_free(m);
    free(m);
    alig_nn_net_free(net);
}

static void test_model_mlp(void)
{
    const mcase c = { "mlp-8-6 1x5x5, 3 classes, B=4", "mlp-8-6", 1, 5, 5, 3, 4, 0.0, 0, 0, MTOL_PLAIN, 201 };
    model_check(&c);
}

static void test_model_cnn(void)
{
    const mcase c = { "cnn 1x10x10, 4 classes, B=4", "cnn", 1, 10, 10, 4, 4, 0.0, 0, MCAP_CNN, MTOL_PLAIN, 202 };
    model_check(&c);
}

static void test_model_wrn(void)
{
    const mcase c[] = {
        { "wrn-10-1 2x6x6 train p=0", "wrn-10-1", 2, 6, 6, 3, 4, 0.0, 0, MCAP_WRN, MTOL_BN, 203 },
        { "wrn-10-1 2x6x6 train p=0.3", "wrn-10-1", 2, 6, 6, 3, 4, 0.3, 0, MCAP_WRN, MTOL_BN, 204 },
        { "wrn-10-1 2x6x6 eval p=0.3", "wrn-10-1", 2, 6, 6, 3, 4, 0.3, 1, MCAP_WRN, MTOL_BN, 205 },
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) model_check(&c[k]);
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
    CU_add_test(s1, "model mlp-8-6 (every coordinate)", test_model_mlp);
    CU_add_test(s1, "model cnn 1x10x10", test_model_cnn);
    CU_add_test(s1, "model wrn-10-1 (train p = 0, train p = 0.3, eval)", test_model_wrn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    free(d_ws);
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
