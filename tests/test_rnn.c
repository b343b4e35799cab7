/* test_rnn.c - the recurrent layers (include/alig/rnn.h) and the sequence ops under them
 * (ad.h alig_ad_seq_reverse, alig_ad_seq_maxpool), against independent expectations:
 *
 *   1. the sequence kernels against their naive twins (bitwise, with ties and a NaN), and the two
 *      ops against central differences of a double forward written here; reversing twice is the
 *      identity;
 *   2. the whole LSTM layer (outputs at every step, padded ones included, and the final state) and
 *      the whole Bi-LSTM + max-pooling encoder: the float gradient of L = Σ r ⊙ output with respect
 *      to EVERY coordinate of the arena (the input sequence is a trainable tensor too) against
 *      central differences of a double-precision LSTM written here in PyTorch's layout and gate
 *      order (i, f, g, o), which runs each sample alone on its own steps (no padding, no masks) and
 *      the backward direction on the sample's reversed steps; the alig arena is mapped to that
 *      layout by this file's own code. Composed cell and fused cell, forget bias 0 and 1.
 *      Guards: float vs double loss, ‖d‖∞ > 1e-2, a negative control (a 0.1% error fails), and
 *      for max-pooling a gap > KINK between the two largest values of every pooled column;
 *   3. masking: the final state and the outputs of a padded batch equal the runs of each sample
 *      alone in a batch of one without padding; padded steps hold the frozen state bit for bit;
 *   4. the fused cell gives the composed cell's values bit for bit and its gradient to rounding;
 *   5. the PyTorch layout map (from_torch, to_torch) element by element, the initialisations'
 *      ranges, and the argument errors.
 * The tolerance TOL of the gradient checks: err = max_i |a_i − d_i| / ‖d‖∞ is the float rounding
 * of the backward pass through T steps of recurrence (the double differences with h = 1e-6 carry
 * ~1e-10). Measured here: at most ~3e-7 (printed per check). TOL = 5e-6 keeps a margin above that
 * for other compilers and BLAS kernels and stays 200 times below the 1e-3 that the 0.1% negative
 * control produces. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "alig/ad.h"
#include "alig/rnn.h"
#include "nets/seq_kernels.h"

#define TOL 5e-6
#define H_STEP 1e-6     /* central-difference step, relative to max(1, |x_i|) */
#define KINK 1e-4       /* max-pooling: the two largest values of a column are farther apart than this,
                           100 times what a perturbation of h = 1e-6 moves an output (|∂y/∂x| < 1) */
#define LOSS_TOL 1e-5   /* float loss vs double loss, relative to max(1, |L|) */

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ================================================================== 1. sequence ops */

static void fill_grid(gsl_rng *r, float *x, size_t n, int quantise)
{
    for (size_t i = 0; i < n; i++) {
        const double v = gsl_ran_flat(r, -2, 2);
        x[i] = (float)(quantise ? floor(v * 4) / 4 : v);     /* multiples of 1/4: many ties */
    }
}

/* optimised kernels vs naive twins at T×B×D; the larger size passes ALIG_NK_PAR_MIN, so the OpenMP
 * loops run in parallel where OpenMP is on */
static void kernels_naive(int T, int B, int D, const int32_t *len, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    const size_t n = (size_t)T * B * D, np = (size_t)B * D;
    float *x = malloc(n * sizeof *x), *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2),
          *dy = malloc(n * sizeof *dy), *dx1 = malloc(n * sizeof *dx1), *dx2 = malloc(n * sizeof *dx2),
          *p1 = malloc(np * sizeof *p1), *p2 = malloc(np * sizeof *p2), *dp = malloc(np * sizeof *dp);
    int32_t *arg = malloc(np * sizeof *arg);
    CU_ASSERT_FATAL(x && y1 && y2 && dy && dx1 && dx2 && p1 && p2 && dp && arg);
    for (int rep = 0; rep < 2; rep++) {
        fill_grid(r, x, n, rep);
        if (rep) x[((size_t)2 * B + 3) * D + 1] = NAN;           /* step 2 of sample 3 (length >= 3) */
        fill_grid(r, dy, n, 0);
        fill_grid(r, dx1, n, 0);
        memcpy(dx2, dx1, n * sizeof *dx1);
        alig_nk_seq_reverse_forward(T, B, D, len, x, y1);
        alig_nk_seq_reverse_forward_naive(T, B, D, len, x, y2);
        CU_ASSERT_EQUAL(memcmp(y1, y2, n * sizeof *y1), 0);
        alig_nk_seq_reverse_backward(T, B, D, len, dy, dx1);
        alig_nk_seq_reverse_backward_naive(T, B, D, len, dy, dx2);
        CU_ASSERT_EQUAL(memcmp(dx1, dx2, n * sizeof *dx1), 0);
        alig_nk_seq_maxpool_forward(T, B, D, len, x, p1, arg);
        alig_nk_seq_maxpool_forward_naive(T, B, D, len, x, p2);
        CU_ASSERT_EQUAL(memcmp(p1, p2, np * sizeof *p1), 0);
        fill_grid(r, dp, np, 0);
        fill_grid(r, dx1, n, 0);
        memcpy(dx2, dx1, n * sizeof *dx1);
        alig_nk_seq_maxpool_backward(B, D, arg, dp, dx1);
        alig_nk_seq_maxpool_backward_naive(T, B, D, len, x, dp, dx2);
        CU_ASSERT_EQUAL(memcmp(dx1, dx2, n * sizeof *dx1), 0);
        /* the rules, checked from the data: the winner is a real step, no real step is larger, every
         * earlier step is smaller (first maximum); a length-1 sample pools step 0; the NaN wins */
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                const size_t i = (size_t)b * D + d;
                const int w = arg[i];
                CU_ASSERT(w < len[b]);
                if (len[b] == 1) CU_ASSERT_EQUAL(w, 0);
                for (int t = 0; t < len[b] && !isnan(p1[i]); t++) {
                    const float v = x[((size_t)t * B + b) * D + d];
                    CU_ASSERT(v <= p1[i]);
                    if (t < w) CU_ASSERT(v < p1[i]);
                }
            }
        if (rep) {
            CU_ASSERT(isnan(p1[3 * D + 1]));
            CU_ASSERT_EQUAL(arg[3 * D + 1], 2);
        }
        /* reversal: sample 2 step 0 reads its last real step; a padded step stays */
        CU_ASSERT_EQUAL(memcmp(y1 + (size_t)2 * D, x + ((size_t)(len[2] - 1) * B + 2) * D, D * sizeof(float)), 0);
        const size_t pad = ((size_t)(T - 1) * B + 2) * D;
        CU_ASSERT_EQUAL(memcmp(y1 + pad, x + pad, D * sizeof(float)), 0);
    }
    free(x), free(y1), free(y2), free(dy), free(dx1), free(dx2), free(p1), free(p2), free(dp), free(arg);
    gsl_rng_free(r);
}

static void test_kernels_naive(void)
{
    const int32_t small[5] = { 7, 1, 4, 6, 3 };
    kernels_naive(7, 5, 6, small, 11);
    int32_t big[32];
    for (int b = 0; b < 32; b++) big[b] = b == 1 ? 1 : 3 + (b * 7) % 14;      /* 1 .. 16, sample 2 below T */
    kernels_naive(16, 32, 80, big, 12);
}

/* the two ops on a trainable x: L = Σ r1 ⊙ reverse(x) + Σ r2 ⊙ maxpool(x), against double FD */
static void test_ops_fd(void)
{
    enum { T = 6, B = 4, D = 5 };
    const int len[B] = { 6, 2, 1, 4 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    alig_ad_params *P;
    alig_ad_graph *G;
    int xid;
    alig_ad_params_alloc(&P);
    alig_ad_params_add(P, 3, (int[]){ T, B, D }, &xid);
    alig_ad_graph_alloc(&G, P, 0);
    alig_ad_node *x = alig_ad_param(G, xid), *lens = alig_ad_input(G, 1, (int[]){ B });
    alig_ad_node *rev = alig_ad_seq_reverse(G, x, lens), *mp = alig_ad_seq_maxpool(G, x, lens);
    alig_ad_node *back = alig_ad_seq_reverse(G, rev, lens);
    alig_ad_node *r1 = alig_ad_input(G, 3, (int[]){ T, B, D }), *r2 = alig_ad_input(G, 2, (int[]){ B, D });
    alig_ad_node *loss =
        alig_ad_add(G, alig_ad_sum(G, alig_ad_mul(G, rev, r1)), alig_ad_sum(G, alig_ad_mul(G, mp, r2)));
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    const size_t n = alig_ad_params_n(P);
    float *xf = alig_ad_params_x(P);
    /* distinct values 0.01 apart (a random permutation of a grid), so no max is near a tie */
    for (size_t i = 0; i < n; i++) xf[i] = (float)(0.01 * (double)i - 0.6);
    for (size_t i = n - 1; i > 0; i--) {
        const size_t j = gsl_rng_uniform_int(r, i + 1);
        const float t = xf[i];
        xf[i] = xf[j];
        xf[j] = t;
    }
    for (int b = 0; b < B; b++) lens->value[b] = (float)len[b];
    for (size_t i = 0; i < r1->size; i++) r1->value[i] = (float)gsl_ran_flat(r, -1, 1);
    for (size_t i = 0; i < r2->size; i++) r2->value[i] = (float)gsl_ran_flat(r, -1, 1);
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, loss) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(memcmp(back->value, xf, n * sizeof(float)), 0);        /* an involution */
    const float *g = alig_ad_params_g(P);
    double *xd = malloc(n * sizeof *xd);
    for (size_t i = 0; i < n; i++) xd[i] = xf[i];
    double err = 0, dmax = 0, L0 = 0;
    for (size_t i = 0; i <= n; i++) {
        const double x0 = i < n ? xd[i] : 0, h = H_STEP * fmax(1, fabs(x0));
        double Ls[2];
        for (int s = 0; s < 2; s++) {
            if (i < n) xd[i] = x0 + (s ? -h : h);
            double L = 0;
            for (int t = 0; t < T; t++)
                for (int b = 0; b < B; b++)
                    for (int d = 0; d < D; d++) {
                        const int src = t < len[b] ? len[b] - 1 - t : t;
                        L += (double)r1->value[(t * B + b) * D + d] * xd[(src * B + b) * D + d];
                    }
            for (int b = 0; b < B; b++)
                for (int d = 0; d < D; d++) {
                    double m = -INFINITY;
                    for (int t = 0; t < len[b]; t++) m = fmax(m, xd[(t * B + b) * D + d]);
                    L += (double)r2->value[b * D + d] * m;
                }
            Ls[s] = L;
        }
        if (i == n) {
            L0 = Ls[0];
            break;
        }
        xd[i] = x0;
        const double dd = (Ls[0] - Ls[1]) / (2 * h);
        dmax = fmax(dmax, fabs(dd));
        err = fmax(err, fabs(g[i] - dd));
    }
    err /= dmax;
    printf("\n  seq_reverse + seq_maxpool: %zu coords, |d|max %.2f, loss diff %.1e, max err %.1e (tol %.0e)", n, dmax,
           fabs(alig_ad_scalar(loss) - L0), err, TOL);
    CU_ASSERT(dmax > 0.1);
    CU_ASSERT(fabs(alig_ad_scalar(loss) - L0) <= LOSS_TOL * fmax(1, fabs(L0)));
    CU_ASSERT(err <= TOL);
    free(xd);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
    gsl_rng_free(r);
}

/* ================================================================== double LSTM, PyTorch layout */

typedef struct dlstm {
    int X, H;
    double *wih, *whh, *b;      /* (4H,X), (4H,H), (4H) rows (i, f, g, o); b = bias_ih + bias_hh */
} dlstm;

/* alig's blocks are (i, g, f, o): PyTorch gate q lives in alig block blk[q] (this file's own map) */
static const int blk[4] = { 0, 2, 1, 3 };

/* from a double copy of the arena (alig layout) to PyTorch's layout */
static void d_from_arena(const alig_ad_params *P, const alig_rnn_lstm *l, const double *ax, dlstm *d)
{
    const int X = l->in_dim, H = l->hidden;
    const double *wx = ax + alig_ad_params_offset(P, l->wx), *wh = ax + alig_ad_params_offset(P, l->wh),
                 *b = ax + alig_ad_params_offset(P, l->b);
    d->X = X;
    d->H = H;
    for (int q = 0; q < 4; q++)
        for (int u = 0; u < H; u++) {
            const int col = blk[q] * H + u, row = q * H + u;
            for (int k = 0; k < X; k++) d->wih[row * X + k] = wx[k * 4 * H + col];
            for (int k = 0; k < H; k++) d->whh[row * H + k] = wh[k * 4 * H + col];
            d->b[row] = b[col];
        }
}

/* one sample alone over its n real steps x_0 .. x_{n−1} (rows of stride `stride`, in the order
 * given by step(t)): hs[t·H ..] = h_t; hc = the final [h, c] */
static void d_run(const dlstm *L, const double *x, size_t stride, int n, int reversed, double fb, double *hs,
                  double *hc)
{
    const int X = L->X, H = L->H;
    double *h = calloc((size_t)H, sizeof *h), *c = calloc((size_t)H, sizeof *c), *z = malloc(4 * (size_t)H * sizeof *z);
    for (int t = 0; t < n; t++) {
        const double *xt = x + (size_t)(reversed ? n - 1 - t : t) * stride;
        for (int j = 0; j < 4 * H; j++) {
            double s = L->b[j];
            for (int k = 0; k < X; k++) s += L->wih[j * X + k] * xt[k];
            for (int k = 0; k < H; k++) s += L->whh[j * H + k] * h[k];
            z[j] = s;
        }
        for (int u = 0; u < H; u++) {
            const double i = sigm(z[u]), f = sigm(z[H + u] + fb), g = tanh(z[2 * H + u]), o = sigm(z[3 * H + u]);
            c[u] = f * c[u] + i * g;
            h[u] = o * tanh(c[u]);
        }
        memcpy(hs + (size_t)t * H, h, (size_t)H * sizeof *h);
    }
    memcpy(hc, h, (size_t)H * sizeof *h);
    memcpy(hc + H, c, (size_t)H * sizeof *c);
    free(h);
    free(c);
    free(z);
}

/* ================================================================== the layer fixture */

enum { KIND_LSTM = 0, KIND_BILSTM_MAX = 1 };
#define MAXB 8

typedef struct net {
    int kind, T, B, X, H, fused;
    double fb;
    int len[MAXB];
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_rnn_seq *S;
    alig_rnn_lstm fw, bw;
    int xid;
    alig_ad_node *out, *fin, *r, *r2, *loss;
    double margin;              /* bilstm-max: smallest gap between a column's two largest (double) */
} net;

static void net_build(net *m, int kind, int fused, double fb, int T, int B, int X, int H, const int *len)
{
    memset(m, 0, sizeof *m);
    m->kind = kind, m->fused = fused, m->fb = fb, m->T = T, m->B = B, m->X = X, m->H = H;
    memcpy(m->len, len, (size_t)B * sizeof *len);
    CU_ASSERT_FATAL(alig_ad_params_alloc(&m->P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(m->P, 3, (int[]){ T, B, X }, &m->xid) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_rnn_lstm_declare(m->P, X, H, &m->fw) == ALIG_SUCCESS);
    if (kind == KIND_BILSTM_MAX) CU_ASSERT_FATAL(alig_rnn_lstm_declare(m->P, X, H, &m->bw) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&m->G, m->P, 0) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_rnn_seq_alloc(&m->S, m->G, T, B) == ALIG_SUCCESS);
    alig_ad_graph *G = m->G;
    alig_ad_node *x = alig_ad_param(G, m->xid);
    const alig_rnn_lstm_opts o = { .fused = fused, .forget_bias = fb };
    if (kind == KIND_LSTM) {
        m->out = alig_rnn_lstm_layer(m->S, &m->fw, x, &o, &m->fin);
        m->r = alig_ad_input(G, 3, (int[]){ T, B, H });
        m->r2 = alig_ad_input(G, 2, (int[]){ B, 2 * H });
        m->loss = alig_ad_add(G, alig_ad_sum(G, alig_ad_mul(G, m->out, m->r)),
                              alig_ad_sum(G, alig_ad_mul(G, m->fin, m->r2)));
    } else {
        m->out = alig_rnn_bilstm_max(m->S, &m->fw, &m->bw, x, &o);
        m->r = alig_ad_input(G, 2, (int[]){ B, 2 * H });
        m->loss = alig_ad_sum(G, alig_ad_mul(G, m->out, m->r));
    }
    alig_status rc = alig_ad_graph_compile(G);
    if (rc) printf("\n  compile: %s\n", alig_ad_graph_error(G));
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_rnn_seq_set_lengths(m->S, len) == ALIG_SUCCESS);
}

/* weights: PyTorch's initialisation scaled by `scale` (larger weights: larger gradients); x, r ~ U(−1, 1) */
static void net_fill(net *m, uint64_t seed, double scale)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, (unsigned long)seed);
    CU_ASSERT(alig_rnn_lstm_init(m->P, &m->fw, ALIG_RNN_INIT_TORCH, seed + 1) == ALIG_SUCCESS);
    if (m->kind == KIND_BILSTM_MAX)
        CU_ASSERT(alig_rnn_lstm_init(m->P, &m->bw, ALIG_RNN_INIT_TORCH, seed + 2) == ALIG_SUCCESS);
    float *x = alig_ad_params_x(m->P);
    const size_t nx = (size_t)m->T * m->B * m->X, n = alig_ad_params_n(m->P);
    for (size_t i = nx; i < n; i++) x[i] = (float)(scale * x[i]);
    for (size_t i = 0; i < nx; i++) x[i] = (float)gsl_ran_flat(r, -1, 1);
    for (size_t i = 0; i < m->r->size; i++) m->r->value[i] = (float)gsl_ran_flat(r, -1, 1);
    if (m->r2)
        for (size_t i = 0; i < m->r2->size; i++) m->r2->value[i] = (float)gsl_ran_flat(r, -1, 1);
    gsl_rng_free(r);
}

static void net_free(net *m)
{
    alig_rnn_seq_free(m->S);
    alig_ad_graph_free(m->G);
    alig_ad_params_free(m->P);
}

/* the loss in double at a double copy of the arena, each sample run alone */
static double ref_loss(net *m, const double *ax)
{
    const int T = m->T, B = m->B, X = m->X, H = m->H;
    double *buf = malloc(((size_t)8 * H * H + (size_t)8 * H * X + 8 * (size_t)H) * sizeof *buf);
    dlstm f = { 0 }, g = { 0 };
    f.wih = buf, f.whh = f.wih + 4 * H * X, f.b = f.whh + 4 * H * H;
    g.wih = f.b + 4 * H, g.whh = g.wih + 4 * H * X, g.b = g.whh + 4 * H * H;
    d_from_arena(m->P, &m->fw, ax, &f);
    if (m->kind == KIND_BILSTM_MAX) d_from_arena(m->P, &m->bw, ax, &g);
    const double *x = ax + alig_ad_params_offset(m->P, m->xid);
    double *hf = malloc((size_t)T * H * sizeof *hf), *hb = malloc((size_t)T * H * sizeof *hb), hc[2 * 64];
    double L = 0;
    m->margin = INFINITY;
    for (int b = 0; b < B; b++) {
        const int n = m->len[b];
        d_run(&f, x + (size_t)b * X, (size_t)B * X, n, 0, m->fb, hf, hc);
        if (m->kind == KIND_LSTM) {
            for (int t = 0; t < T; t++)            /* padded steps hold the last real step's h */
                for (int u = 0; u < H; u++)
                    L += (double)m->r->value[((size_t)t * B + b) * H + u] * hf[(size_t)(t < n ? t : n - 1) * H + u];
            for (int u = 0; u < 2 * H; u++) L += (double)m->r2->value[(size_t)b * 2 * H + u] * hc[u];
        } else {
            d_run(&g, x + (size_t)b * X, (size_t)B * X, n, 1, m->fb, hb, hc);      /* hb[t]: reversed step t */
            for (int u = 0; u < 2 * H; u++) {
                double best = -INFINITY, second = -INFINITY;
                for (int t = 0; t < n; t++) {
                    /* position t of the sentence: the forward output at t, the backward one at its step n−1−t */
                    const double v = u < H ? hf[(size_t)t * H + u] : hb[(size_t)(n - 1 - t) * H + (u - H)];
                    if (v > best) second = best, best = v;
                    else if (v > second) second = v;
                }
                if (n > 1) m->margin = fmin(m->margin, best - second);
                L += (double)m->r->value[(size_t)b * 2 * H + u] * best;
            }
        }
    }
    free(buf);
    free(hf);
    free(hb);
    return L;
}

/* every coordinate of the arena; returns err with g scaled by s (s = 1.001: negative control) */
static void grad_check(net *m, const char *name)
{
    CU_ASSERT_FATAL(alig_ad_forward(m->G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(m->G, m->loss) == ALIG_SUCCESS);
    const size_t n = alig_ad_params_n(m->P);
    const float *xf = alig_ad_params_x(m->P), *g = alig_ad_params_g(m->P);
    double *x = malloc(n * sizeof *x), *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) x[i] = xf[i];
    const double L0 = ref_loss(m, x), margin = m->margin;
    const double lerr = fabs(alig_ad_scalar(m->loss) - L0) / fmax(1, fabs(L0));
    double dmax = 0, err = 0, err_neg = 0, dw = 0;
    const size_t nx = (size_t)m->T * m->B * m->X;
    for (size_t i = 0; i < n; i++) {
        const double x0 = x[i], h = H_STEP * fmax(1, fabs(x0));
        x[i] = x0 + h;
        const double lp = ref_loss(m, x);
        x[i] = x0 - h;
        const double lm = ref_loss(m, x);
        x[i] = x0;
        d[i] = (lp - lm) / (2 * h);
        dmax = fmax(dmax, fabs(d[i]));
        if (i >= nx) dw = fmax(dw, fabs(d[i]));
    }
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, fabs(g[i] - d[i]));
        err_neg = fmax(err_neg, fabs(1.001 * g[i] - d[i]));
    }
    err /= dmax;
    err_neg /= dmax;
    printf("\n  %-34s %4zu coords |d|max %.3f (weights %.3f) loss diff %.1e max err %.2e (tol %.0e) 0.1%% off %.1e",
           name, n, dmax, dw, lerr, err, TOL, err_neg);
    if (m->kind == KIND_BILSTM_MAX) printf(" margin %.1e", margin);
    CU_ASSERT(lerr <= LOSS_TOL);
    CU_ASSERT(dmax > 1e-2 && dw > 1e-2);        /* non-triviality, also for the weights alone */
    CU_ASSERT(err <= TOL);
    CU_ASSERT(err_neg > TOL);                   /* negative control */
    if (m->kind == KIND_BILSTM_MAX) CU_ASSERT(margin > KINK);
    free(x);
    free(d);
}

static const int LEN5[5] = { 6, 1, 3, 5, 2 };

static void check_lstm(int fused, double fb, const char *name)
{
    net m;
    net_build(&m, KIND_LSTM, fused, fb, 6, 5, 3, 4, LEN5);
    net_fill(&m, 21, 2.0);
    grad_check(&m, name);
    net_free(&m);
}

static void check_bilstm_max(int fused, double fb, const char *name)
{
    net m;
    net_build(&m, KIND_BILSTM_MAX, fused, fb, 6, 5, 3, 4, LEN5);
    net_fill(&m, 33, 2.0);
    grad_check(&m, name);
    net_free(&m);
}

static void test_lstm_composed(void) { check_lstm(0, 0.0, "LSTM, composed cell"); }
static void test_lstm_fused(void) { check_lstm(1, 0.0, "LSTM, fused cell"); }
static void test_lstm_fused_fb1(void) { check_lstm(1, 1.0, "LSTM, fused cell, forget bias 1"); }
static void test_lstm_composed_fb1(void) { check_lstm(0, 1.0, "LSTM, composed cell, forget bias 1"); }
static void test_bilstm_composed(void) { check_bilstm_max(0, 0.0, "Bi-LSTM + max, composed cell"); }
static void test_bilstm_fused(void) { check_bilstm_max(1, 1.0, "Bi-LSTM + max, fused, forget bias 1"); }

/* ================================================================== 3. masking = each sample alone */

static void check_alone(int fused)
{
    enum { T = 7, B = 4, X = 3, H = 5 };
    const int len[B] = { 7, 1, 4, 6 };
    net m;
    net_build(&m, KIND_LSTM, fused, 0.0, T, B, X, H, len);
    net_fill(&m, 7, 1.0);
    CU_ASSERT_FATAL(alig_ad_forward(m.G, 0) == ALIG_SUCCESS);
    const float *xs = alig_ad_params_value(m.P, m.xid);
    double worst = 0, scale = 0, alone1[2 * H];
    int bitwise = 1;
    for (int b = 0; b < B; b++) {
        const int n = len[b];
        net a;
        net_build(&a, KIND_LSTM, fused, 0.0, n, 1, X, H, (int[]){ n });
        /* the same weights (declared in the same order after x), the sample's own n steps */
        const size_t off_m = alig_ad_params_offset(m.P, m.fw.wx), off_a = alig_ad_params_offset(a.P, a.fw.wx);
        memcpy(alig_ad_params_x(a.P) + off_a, alig_ad_params_x(m.P) + off_m,
               (alig_ad_params_n(m.P) - off_m) * sizeof(float));
        float *xa = alig_ad_params_value(a.P, a.xid);
        for (int t = 0; t < n; t++) memcpy(xa + (size_t)t * X, xs + ((size_t)t * B + b) * X, X * sizeof(float));
        CU_ASSERT_FATAL(alig_ad_forward(a.G, 0) == ALIG_SUCCESS);
        for (int u = 0; u < 2 * H; u++) {           /* the final state */
            const float p = m.fin->value[(size_t)b * 2 * H + u], q = a.fin->value[u];
            worst = fmax(worst, fabs(p - q));
            scale = fmax(scale, fabs(q));
            bitwise &= p == q;
            if (b == 1) alone1[u] = q;
        }
        for (int t = 0; t < T; t++)                 /* every output step; padded ones hold h_{n−1} */
            for (int u = 0; u < H; u++) {
                const float p = m.out->value[((size_t)t * B + b) * H + u];
                const float q = a.out->value[(size_t)(t < n ? t : n - 1) * H + u];
                worst = fmax(worst, fabs(p - q));
                bitwise &= p == q;
                if (t >= n) CU_ASSERT_EQUAL(p, m.out->value[((size_t)(n - 1) * B + b) * H + u]);
            }
        net_free(&a);
    }
    printf("\n  %s: padded batch vs each sample alone: max diff %.1e (|h, c| max %.2f), bitwise %s",
           fused ? "fused" : "composed", worst, scale, bitwise ? "yes" : "no");
    CU_ASSERT(scale > 0.05);
    /* rows of one sgemm may round differently with another batch size: a few ulps at most */
    CU_ASSERT(worst <= 1e-6 * fmax(1, scale));
    /* negative control: without the masks (every length T), sample 1 (length 1) runs on through its
     * padding and its final state is no longer the one of its run alone */
    const int full[B] = { T, T, T, T };
    CU_ASSERT(alig_rnn_seq_set_lengths(m.S, full) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_forward(m.G, 0) == ALIG_SUCCESS);
    double moved = 0;
    for (int u = 0; u < 2 * H; u++) moved = fmax(moved, fabs(m.fin->value[1 * 2 * H + u] - alone1[u]));
    printf(", unmasked %.2g", moved);
    CU_ASSERT(moved > 1e-2);
    net_free(&m);
}

static void test_masking_composed(void) { check_alone(0); }
static void test_masking_fused(void) { check_alone(1); }

/* ================================================================== 4. fused = composed */

static void test_fused_vs_composed(void)
{
    for (int kind = 0; kind < 2; kind++) {
        net a, c;
        net_build(&a, kind, 1, 1.0, 6, 5, 3, 4, LEN5);
        net_build(&c, kind, 0, 1.0, 6, 5, 3, 4, LEN5);
        net_fill(&a, 3, 2.0);
        net_fill(&c, 3, 2.0);
        CU_ASSERT_EQUAL(memcmp(alig_ad_params_x(a.P), alig_ad_params_x(c.P), alig_ad_params_n(a.P) * sizeof(float)), 0);
        for (net *m = &a;; m = &c) {
            CU_ASSERT_FATAL(alig_ad_forward(m->G, 1) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_ad_backward(m->G, m->loss) == ALIG_SUCCESS);
            if (m == &c) break;
        }
        /* the fused cell's sigmoid and tanh are correctly rounded from double, the generic ops use
         * libm's float functions: the outputs agree to a few units of float rounding */
        double fdiff = 0;
        for (size_t i = 0; i < a.out->size; i++)
            fdiff = fmax(fdiff, fabs((double)a.out->value[i] - c.out->value[i]));
        CU_ASSERT(fdiff <= 1e-6);
        const float *ga = alig_ad_params_g(a.P), *gc = alig_ad_params_g(c.P);
        double gmax = 0, e = 0;
        for (size_t i = 0; i < alig_ad_params_n(a.P); i++) gmax = fmax(gmax, fabs(gc[i]));
        for (size_t i = 0; i < alig_ad_params_n(a.P); i++) e = fmax(e, fabs(ga[i] - gc[i]));
        printf("\n  %s: fused vs composed: forward %.1e, gradient %.1e of %.2f", kind ? "Bi-LSTM + max" : "LSTM",
               fdiff, e / gmax, gmax);
        CU_ASSERT(gmax > 1e-2);
        CU_ASSERT(e <= 1e-6 * gmax);
        /* fewer nodes: the fused graph is the smaller one */
        CU_ASSERT(alig_ad_graph_size(a.G) < alig_ad_graph_size(c.G));
        net_free(&a);
        net_free(&c);
    }
}

/* ================================================================== 5. layout, init, errors */

static void test_torch_layout(void)
{
    enum { X = 3, H = 2 };
    alig_ad_params *P;
    alig_rnn_lstm l;
    alig_ad_params_alloc(&P);
    CU_ASSERT_FATAL(alig_rnn_lstm_declare(P, X, H, &l) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_seal(P) == ALIG_SUCCESS);
    float wih[4 * H * X], whh[4 * H * H], bih[4 * H], bhh[4 * H];
    /* each PyTorch element encodes its own (row, column) */
    for (int j = 0; j < 4 * H; j++) {
        for (int k = 0; k < X; k++) wih[j * X + k] = (float)(100 * j + k);
        for (int k = 0; k < H; k++) whh[j * H + k] = (float)(-100 * j - k);
        bih[j] = (float)j;
        bhh[j] = 0.5f;
    }
    CU_ASSERT(alig_rnn_lstm_from_torch(P, &l, wih, whh, bih, bhh) == ALIG_SUCCESS);
    const float *wx = alig_ad_params_value(P, l.wx), *wh = alig_ad_params_value(P, l.wh);
    const float *b = alig_ad_params_value(P, l.b);
    /* hand-written: alig column block (i, g, f, o) p·H + u holds PyTorch row q·H + u, q = (0, 2, 1, 3)[p] */
    const int q_of_p[4] = { 0, 2, 1, 3 };
    for (int p = 0; p < 4; p++)
        for (int u = 0; u < H; u++) {
            const int row = q_of_p[p] * H + u, col = p * H + u;
            for (int k = 0; k < X; k++) CU_ASSERT_EQUAL(wx[k * 4 * H + col], (float)(100 * row + k));
            for (int k = 0; k < H; k++) CU_ASSERT_EQUAL(wh[k * 4 * H + col], (float)(-100 * row - k));
            CU_ASSERT_EQUAL(b[col], (float)row + 0.5f);
        }
    float wih2[4 * H * X], whh2[4 * H * H], b2[4 * H];
    CU_ASSERT(alig_rnn_lstm_to_torch(P, &l, alig_ad_params_x(P), wih2, whh2, b2) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(memcmp(wih, wih2, sizeof wih), 0);
    CU_ASSERT_EQUAL(memcmp(whh, whh2, sizeof whh), 0);
    for (int j = 0; j < 4 * H; j++) CU_ASSERT_EQUAL(b2[j], bih[j] + bhh[j]);
    CU_ASSERT(alig_rnn_lstm_from_torch(P, &l, NULL, whh, bih, bhh) == ALIG_EINVAL);
    alig_rnn_lstm bad = l;
    bad.hidden = 3;
    CU_ASSERT(alig_rnn_lstm_to_torch(P, &bad, alig_ad_params_x(P), wih2, whh2, b2) == ALIG_EINVAL);
    alig_ad_params_free(P);
}

static void test_init(void)
{
    enum { X = 40, H = 60 };
    alig_ad_params *P;
    alig_rnn_lstm l;
    alig_ad_params_alloc(&P);
    CU_ASSERT_FATAL(alig_rnn_lstm_declare(P, X, H, &l) == ALIG_SUCCESS);
    CU_ASSERT(alig_rnn_lstm_init(P, &l, ALIG_RNN_INIT_TORCH, 1) == ALIG_EINVAL);     /* not sealed */
    alig_ad_params_seal(P);
    const size_t n = alig_ad_params_n(P), nw = (size_t)(X + H) * 4 * H;
    float *x = alig_ad_params_x(P), *copy = malloc(n * sizeof *copy);
    /* PyTorch: U(−k, k), k = 1/√H, mean 0, variance k²/3; bias the sum of two: variance 2k²/3 */
    CU_ASSERT(alig_rnn_lstm_init(P, &l, ALIG_RNN_INIT_TORCH, 9) == ALIG_SUCCESS);
    const double k = 1 / sqrt((double)H);
    double mx = 0, s2 = 0, mb = 0, b2 = 0;
    for (size_t i = 0; i < nw; i++) mx = fmax(mx, fabs(x[i])), s2 += (double)x[i] * x[i];
    for (size_t i = nw; i < n; i++) mb = fmax(mb, fabs(x[i])), b2 += (double)x[i] * x[i];
    s2 /= (double)nw;
    b2 /= (double)(n - nw);
    printf("\n  torch init: max |w| %.4f (k %.4f), var %.3g (k²/3 %.3g), bias var %.3g (2k²/3 %.3g)", mx, k, s2,
           k * k / 3, b2, 2 * k * k / 3);
    CU_ASSERT(mx <= k && mx > 0.99 * k);
    CU_ASSERT(mb <= 2 * k && mb > k);
    CU_ASSERT(fabs(s2 / (k * k / 3) - 1) < 0.05);
    CU_ASSERT(fabs(b2 / (2 * k * k / 3) - 1) < 0.25);
    memcpy(copy, x, n * sizeof *copy);
    CU_ASSERT(alig_rnn_lstm_init(P, &l, ALIG_RNN_INIT_TORCH, 9) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(memcmp(copy, x, n * sizeof *copy), 0);                             /* reproducible */
    /* Sonnet: N(0, σ²) truncated at 2σ, σ = 1/√(X+H): the truncated variance is 0.7737·σ² */
    CU_ASSERT(alig_rnn_lstm_init(P, &l, ALIG_RNN_INIT_SONNET, 9) == ALIG_SUCCESS);
    const double sg = 1 / sqrt((double)(X + H));
    mx = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(x[i])), s2 += (double)x[i] * x[i];
    s2 /= (double)n;
    printf("\n  sonnet init: max |w| %.4f (2σ %.4f), var/σ² %.3f (0.774)", mx, 2 * sg, s2 / (sg * sg));
    CU_ASSERT(mx <= 2 * sg * (1 + 1e-6) && mx > 1.9 * sg);
    CU_ASSERT(fabs(s2 / (sg * sg) - 0.7737) < 0.03);
    CU_ASSERT(alig_rnn_lstm_init(P, &l, (alig_rnn_init)7, 9) == ALIG_EINVAL);
    free(copy);
    alig_ad_params_free(P);
}

static void test_errors(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_rnn_seq *S;
    alig_rnn_lstm l;
    alig_ad_params_alloc(&P);
    CU_ASSERT(alig_rnn_lstm_declare(P, 0, 4, &l) == ALIG_EBADLEN);
    CU_ASSERT_FATAL(alig_rnn_lstm_declare(P, 3, 4, &l) == ALIG_SUCCESS);
    alig_ad_graph_alloc(&G, P, 0);
    CU_ASSERT(alig_rnn_seq_alloc(&S, G, 0, 2) == ALIG_EBADLEN);
    CU_ASSERT_FATAL(alig_rnn_seq_alloc(&S, G, 4, 2) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_input(G, 3, (int[]){ 4, 2, 5 });                        /* X = 5, not 3 */
    CU_ASSERT_PTR_NULL(alig_rnn_lstm_layer(S, &l, x, NULL, NULL));
    CU_ASSERT_EQUAL(alig_ad_graph_status(G), ALIG_EBADLEN);
    CU_ASSERT(strstr(alig_ad_graph_error(G), "rnn_lstm") != NULL);
    alig_rnn_seq_free(S);
    alig_ad_graph_free(G);
    /* sequence ops: shapes, lengths with a gradient */
    alig_ad_graph_alloc(&G, P, 0);
    alig_ad_node *s3 = alig_ad_input(G, 3, (int[]){ 4, 2, 5 }), *s2 = alig_ad_input(G, 2, (int[]){ 4, 2 });
    alig_ad_node *l3 = alig_ad_input(G, 1, (int[]){ 3 });
    CU_ASSERT_PTR_NULL(alig_ad_seq_maxpool(G, s2, alig_ad_input(G, 1, (int[]){ 4 })));
    CU_ASSERT_EQUAL(alig_ad_graph_status(G), ALIG_EBADLEN);
    alig_ad_graph_free(G);
    alig_ad_graph_alloc(&G, P, 0);
    s3 = alig_ad_input(G, 3, (int[]){ 4, 2, 5 });
    l3 = alig_ad_input(G, 1, (int[]){ 3 });
    CU_ASSERT_PTR_NULL(alig_ad_seq_reverse(G, s3, l3));
    CU_ASSERT(strstr(alig_ad_graph_error(G), "seq_reverse") != NULL);
    alig_ad_graph_free(G);
    alig_ad_graph_alloc(&G, P, 0);
    s3 = alig_ad_input(G, 3, (int[]){ 4, 2, 5 });
    /* lengths computed from a parameter: refused */
    alig_ad_node *row = alig_ad_reshape(G, alig_ad_param(G, l.b), 2, (int[]){ 1, 16 });
    alig_ad_node *lg = alig_ad_reshape(G, alig_ad_slice(G, row, 0, 2), 1, (int[]){ 2 });
    CU_ASSERT_PTR_NULL(alig_ad_seq_maxpool(G, s3, lg));
    CU_ASSERT_EQUAL(alig_ad_graph_status(G), ALIG_EINVAL);
    alig_ad_graph_free(G);
    /* lengths out of range: set_lengths refuses, forward refuses a bad value written directly */
    alig_ad_graph_alloc(&G, P, 0);
    CU_ASSERT_FATAL(alig_rnn_seq_alloc(&S, G, 4, 2) == ALIG_SUCCESS);
    x = alig_ad_input(G, 3, (int[]){ 4, 2, 3 });
    alig_ad_node *y = alig_rnn_bilstm_max(S, &l, &l, x, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT(alig_rnn_seq_set_lengths(S, (int[]){ 2, 2 }) == ALIG_EINVAL);           /* not compiled */
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    CU_ASSERT(alig_rnn_seq_set_lengths(S, (int[]){ 0, 2 }) == ALIG_EINVAL);
    CU_ASSERT(alig_rnn_seq_set_lengths(S, (int[]){ 2, 5 }) == ALIG_EINVAL);
    CU_ASSERT(alig_rnn_seq_set_lengths(S, (int[]){ 4, 2 }) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    alig_ad_node *lens = alig_rnn_seq_lengths(S);
    const float badv[3] = { 0.0f, 5.0f, 2.5f };
    for (int i = 0; i < 3; i++) {
        lens->value[1] = badv[i];
        CU_ASSERT(alig_ad_forward(G, 1) == ALIG_EINVAL);
    }
    alig_rnn_seq_free(S);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("rnn", NULL, NULL);
    CU_add_test(s, "sequence kernels vs naive twins", test_kernels_naive);
    CU_add_test(s, "seq_reverse, seq_maxpool vs double FD", test_ops_fd);
    CU_add_test(s, "LSTM composed vs double FD", test_lstm_composed);
    CU_add_test(s, "LSTM fused vs double FD", test_lstm_fused);
    CU_add_test(s, "LSTM fused, forget bias 1", test_lstm_fused_fb1);
    CU_add_test(s, "LSTM composed, forget bias 1", test_lstm_composed_fb1);
    CU_add_test(s, "Bi-LSTM + max composed vs double FD", test_bilstm_composed);
    CU_add_test(s, "Bi-LSTM + max fused vs double FD", test_bilstm_fused);
    CU_add_test(s, "masking = each sample alone (composed)", test_masking_composed);
    CU_add_test(s, "masking = each sample alone (fused)", test_masking_fused);
    CU_add_test(s, "fused = composed", test_fused_vs_composed);
    CU_add_test(s, "PyTorch layout", test_torch_layout);
    CU_add_test(s, "initialisations", test_init);
    CU_add_test(s, "errors", test_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
