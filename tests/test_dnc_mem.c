/* test_dnc_mem.c - the DNC memory-access ops (write weights, memory write, temporal link,
 * precedence, read weights, bmm; include/alig/ad.h) and their kernels (nets/dnc_mem_kernels.c).
 *
 * 1. Kernels. Each optimised kernel and its *_naive twin against a double-precision forward
 *    written again in this file (the d_* functions: plain loops, no nets/ code). Every one of the
 *    six functions is multilinear: of degree at most one in each operand taken alone (the link's
 *    w enters as w_i and w_j, never as w_i·w_j, because the diagonal is forced to 0). The
 *    gradient of ⟨dy, f(x)⟩ with respect to coordinate k of an operand is therefore EXACTLY
 *    ⟨dy, f(x + e_k) − f(x)⟩, which the test evaluates with the d_* forward in double: a
 *    reference backward derived from the forward alone. Checked at the DNC's sizes (B = N = W =
 *    16, R = 4; bmm (16,4,16)·(16,16,16) and (16,16,16)·... shapes), at odd sizes (B = 3, N = 5,
 *    W = 7, R = 2; bmm M, K, N = 3, 5, 7) and at a batch large enough for the OpenMP batch loop
 *    (B = 272, for link and memory), each backward three ways: accumulated onto random gradients (set = 0), written
 *    over NaN (set = all bits: a coordinate left unwritten stays NaN and fails), and mixed (every
 *    other operand written, the others absent: a NULL gradient must be skipped).
 *    Tolerance 1e-5 of max(1, ‖reference‖∞): the kernels round in float over sums of at most N
 *    or W = 16 products of O(1) terms (about 16·6e-8 ≈ 1e-6 of the scale; measured at most
 *    2.3e-7); a wrong index or a missing term moves an output by a whole O(1e-1) term (checked by
 *    hand-injected faults: a link dp with the diagonal term kept, a read dwp missing one row,
 *    both fail at 2e-1 or more). With OpenMP: 1 and 2 threads give bitwise the same link and
 *    memory results at B = 272 (their batch loops fork there).
 * 2. Ops through the graph. Every op's float backward (alig_ad_backward) against central
 *    differences of the same double forward (h = 1e-6·max(1, |x|)) of L = Σ r ⊙ op(·), r fixed
 *    and random, on every coordinate of every trainable operand, as tests/test_ad_double.c does:
 *    err = max|a − d| / max(‖d‖∞, 1e-3) ≤ TOL = 2e-6, float loss vs double loss within 1e-5,
 *    non-triviality ‖d‖∞ > 1e-2, every coordinate checked; and a negative control (a scaled by
 *    1.001 must fail). Also with some operands as INPUT nodes (the zero states of t = 0), with one
 *    node passed twice (bmm(x, x); read weights with wr_prev = content), and a two-step
 *    write/link/read chain where the write weights, memory and read weights each feed several
 *    ops (the `overwrites` path of the driver).
 * 3. Hand-derived cases: the link after writes to slot i then slot j (L[j,i] = 1, nothing else),
 *    and a third write keeping it; forward / backward reads walking that link; the diagonal 0
 *    with zero gradient; precedence after a full write (Σw = 1 gives p = w); memory with erase = 1
 *    on a one-hot write (the row becomes v); read modes one-hot selecting exactly backward,
 *    forward or content; write weights with gates at 0 and 1.
 * 4. Shape errors: NULL, status ALIG_EBADLEN and a message naming the op and the operand. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/ad.h"
#include "nets/dnc_mem_kernels.h"

#define KTOL 1e-5       /* kernels vs double reference, relative to max(1, ‖ref‖∞) */
#define TOL 2e-6        /* float backward vs double central differences (see test_ad_double.c) */
#define LOSS_TOL 1e-5   /* float vs double loss, relative to max(1, |L|) */
#define H_STEP 1e-6

static gsl_rng *rng;

static double unif(double lo, double hi) { return lo + (hi - lo) * gsl_rng_uniform(rng); }

/* ================================================================== double reference forwards */

typedef struct sz {
    int B, N, W, R;     /* batch, slots, word, read heads */
    int M, K;           /* bmm: (B,M,K)·(B,K,N) */
} sz;

/* ww[b,i] = gw[b]·(ga[b]·a[b,i] + (1 − ga[b])·c[b,i]) */
static void d_write_weights(const sz *s, const double *const *in, double *y)
{
    const double *a = in[0], *c = in[1], *ga = in[2], *gw = in[3];
    for (int b = 0; b < s->B; b++)
        for (int i = 0; i < s->N; i++) {
            const int q = b * s->N + i;
            y[q] = gw[b] * (ga[b] * a[q] + (1 - ga[b]) * c[q]);
        }
}

/* M[b,i,k] = Mp[b,i,k]·(1 − w[b,i]·e[b,k]) + w[b,i]·v[b,k] */
static void d_memory(const sz *s, const double *const *in, double *y)
{
    const double *Mp = in[0], *w = in[1], *e = in[2], *v = in[3];
    for (int b = 0; b < s->B; b++)
        for (int i = 0; i < s->N; i++)
            for (int k = 0; k < s->W; k++) {
                const int q = (b * s->N + i) * s->W + k;
                const double wi = w[b * s->N + i];
                y[q] = Mp[q] * (1 - wi * e[b * s->W + k]) + wi * v[b * s->W + k];
            }
}

/* L[b,i,j] = (1 − w_i − w_j)·Lp[b,i,j] + w_i·p_j off the diagonal, 0 on it */
static void d_link(const sz *s, const double *const *in, double *y)
{
    const double *Lp = in[0], *w = in[1], *p = in[2];
    const int N = s->N;
    for (int b = 0; b < s->B; b++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                const int q = (b * N + i) * N + j;
                y[q] = i == j ? 0 : (1 - w[b * N + i] - w[b * N + j]) * Lp[q] + w[b * N + i] * p[b * N + j];
            }
}

/* p[b,i] = (1 − Σ_j w[b,j])·pp[b,i] + w[b,i] */
static void d_precedence(const sz *s, const double *const *in, double *y)
{
    const double *pp = in[0], *w = in[1];
    for (int b = 0; b < s->B; b++) {
        double sw = 0;
        for (int j = 0; j < s->N; j++) sw += w[b * s->N + j];
        for (int i = 0; i < s->N; i++) y[b * s->N + i] = (1 - sw) * pp[b * s->N + i] + w[b * s->N + i];
    }
}

/* wr[b,r,i] = m[b,r,0]·Σ_j L[b,j,i]·wp[b,r,j] + m[b,r,1]·Σ_j L[b,i,j]·wp[b,r,j] + m[b,r,2]·c[b,r,i] */
static void d_read_weights(const sz *s, const double *const *in, double *y)
{
    const double *L = in[0], *wp = in[1], *m = in[2], *c = in[3];
    const int N = s->N, R = s->R;
    for (int b = 0; b < s->B; b++)
        for (int r = 0; r < R; r++)
            for (int i = 0; i < N; i++) {
                double fw = 0, bw = 0;
                for (int j = 0; j < N; j++) {
                    fw += L[(b * N + i) * N + j] * wp[(b * R + r) * N + j];
                    bw += L[(b * N + j) * N + i] * wp[(b * R + r) * N + j];
                }
                const int q = (b * R + r) * N + i;
                const double *mr = m + (b * R + r) * 3;
                y[q] = mr[0] * bw + mr[1] * fw + mr[2] * c[q];
            }
}

/* C[b] = A[b]·Bm[b], A (M,K), Bm (K,N) */
static void d_bmm(const sz *s, const double *const *in, double *y)
{
    const double *A = in[0], *Bm = in[1];
    const int M = s->M, K = s->K, N = s->N;
    for (int b = 0; b < s->B; b++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = 0;
                for (int k = 0; k < K; k++) acc += A[(b * M + m) * K + k] * Bm[(b * K + k) * N + n];
                y[(b * M + m) * N + n] = acc;
            }
}

/* ================================================================== op table of the test */

typedef void (*d_fwd_fn)(const sz *s, const double *const *in, double *y);
/* kernel wrappers: `naive` picks the twin; fb is the read weights' (B,R,2,N) buffer */
typedef void (*k_fwd_fn)(const sz *s, int naive, float *const *in, float *y, float *fb);
typedef void (*k_bwd_fn)(const sz *s, int naive, float *const *in, float *fb, const float *dy, float **din,
                         unsigned set);
/* the optimised backward's double scratch (memory, link): max(B·2·W, B·2·N) doubles */
static double *kws;

typedef struct opspec {
    const char *name;
    int nin;
    d_fwd_fn dfwd;
    k_fwd_fn kfwd;
    k_bwd_fn kbwd;
    /* shapes: operand and output lengths and ranks/dims */
    void (*shapes)(const sz *s, int ndim[5], int dims[5][3]);
    double lo[4], hi[4];        /* operand value ranges */
} opspec;

static void kf_ww(const sz *s, int nv, float *const *in, float *y, float *fb)
{
    (void)fb;
    (nv ? alig_dnc_write_weights_forward_naive : alig_dnc_write_weights_forward)(s->B, s->N, in[0], in[1], in[2],
                                                                               in[3], y);
}
static void kb_ww(const sz *s, int nv, float *const *in, float *fb, const float *dy, float **d, unsigned set)
{
    (void)fb;
    (nv ? alig_dnc_write_weights_backward_naive : alig_dnc_write_weights_backward)(
        s->B, s->N, in[0], in[1], in[2], in[3], dy, d[0], d[1], d[2], d[3], set);
}
static void sh_ww(const sz *s, int nd[5], int dm[5][3])
{
    for (int j = 0; j < 5; j++) {
        nd[j] = 2;
        dm[j][0] = s->B;
        dm[j][1] = j == 2 || j == 3 ? 1 : s->N;
    }
}

static void kf_mem(const sz *s, int nv, float *const *in, float *y, float *fb)
{
    (void)fb;
    (nv ? alig_dnc_memory_forward_naive : alig_dnc_memory_forward)(s->B, s->N, s->W, in[0], in[1], in[2], in[3], y);
}
static void kb_mem(const sz *s, int nv, float *const *in, float *fb, const float *dy, float **d, unsigned set)
{
    (void)fb;
    if (nv)
        alig_dnc_memory_backward_naive(s->B, s->N, s->W, in[0], in[1], in[2], in[3], dy, d[0], d[1], d[2], d[3], set);
    else
        alig_dnc_memory_backward(s->B, s->N, s->W, in[0], in[1], in[2], in[3], dy, d[0], d[1], d[2], d[3], set, kws);
}
static void sh_mem(const sz *s, int nd[5], int dm[5][3])
{
    const int n[5] = { 3, 2, 2, 2, 3 };
    const int d[5][3] = { { s->B, s->N, s->W }, { s->B, s->N, 1 }, { s->B, s->W, 1 }, { s->B, s->W, 1 },
                          { s->B, s->N, s->W } };
    memcpy(nd, n, sizeof n);
    memcpy(dm, d, sizeof d);
}

static void kf_link(const sz *s, int nv, float *const *in, float *y, float *fb)
{
    (void)fb;
    (nv ? alig_dnc_link_forward_naive : alig_dnc_link_forward)(s->B, s->N, in[0], in[1], in[2], y);
}
static void kb_link(const sz *s, int nv, float *const *in, float *fb, const float *dy, float **d, unsigned set)
{
    (void)fb;
    if (nv)
        alig_dnc_link_backward_naive(s->B, s->N, in[0], in[1], in[2], dy, d[0], d[1], d[2], set);
    else
        alig_dnc_link_backward(s->B, s->N, in[0], in[1], in[2], dy, d[0], d[1], d[2], set, kws);
}
static void sh_link(const sz *s, int nd[5], int dm[5][3])
{
    const int n[5] = { 3, 2, 2, 3, 0 };
    const int d[5][3] = { { s->B, s->N, s->N }, { s->B, s->N, 1 }, { s->B, s->N, 1 }, { s->B, s->N, s->N },
                          { 0, 0, 0 } };
    memcpy(nd, n, sizeof n);
    memcpy(dm, d, sizeof d);
}

static void kf_prec(const sz *s, int nv, float *const *in, float *y, float *fb)
{
    (void)fb;
    (nv ? alig_dnc_precedence_forward_naive : alig_dnc_precedence_forward)(s->B, s->N, in[0], in[1], y);
}
static void kb_prec(const sz *s, int nv, float *const *in, float *fb, const float *dy, float **d, unsigned set)
{
    (void)fb;
    (nv ? alig_dnc_precedence_backward_naive : alig_dnc_precedence_backward)(s->B, s->N, in[0], in[1], dy, d[0],
                                                                           d[1], set);
}
static void sh_prec(const sz *s, int nd[5], int dm[5][3])
{
    for (int j = 0; j < 5; j++) {
        nd[j] = j < 3 ? 2 : 0;
        dm[j][0] = s->B;
        dm[j][1] = s->N;
    }
    /* operands 0, 1 and the output (slot 2) */
}

static void kf_read(const sz *s, int nv, float *const *in, float *y, float *fb)
{
    if (nv)
        alig_dnc_read_weights_forward_naive(s->B, s->R, s->N, in[0], in[1], in[2], in[3], y);
    else
        alig_dnc_read_weights_forward(s->B, s->R, s->N, in[0], in[1], in[2], in[3], y, fb);
}
static void kb_read(const sz *s, int nv, float *const *in, float *fb, const float *dy, float **d, unsigned set)
{
    if (nv)
        alig_dnc_read_weights_backward_naive(s->B, s->R, s->N, in[0], in[1], in[2], in[3], dy, d[0], d[1], d[2],
                                             d[3], set);
    else
        alig_dnc_read_weights_backward(s->B, s->R, s->N, in[0], in[1], in[2], in[3], fb, dy, d[0], d[1], d[2],
                                       d[3], set);
}
static void sh_read(const sz *s, int nd[5], int dm[5][3])
{
    const int n[5] = { 3, 3, 3, 3, 3 };
    const int d[5][3] = { { s->B, s->N, s->N }, { s->B, s->R, s->N }, { s->B, s->R, 3 }, { s->B, s->R, s->N },
                          { s->B, s->R, s->N } };
    memcpy(nd, n, sizeof n);
    memcpy(dm, d, sizeof d);
}

static void kf_bmm(const sz *s, int nv, float *const *in, float *y, float *fb)
{
    (void)fb;
    (nv ? alig_dnc_bmm_forward_naive : alig_dnc_bmm_forward)(s->B, s->M, s->K, s->N, in[0], in[1], y);
}
static void kb_bmm(const sz *s, int nv, float *const *in, float *fb, const float *dy, float **d, unsigned set)
{
    (void)fb;
    (nv ? alig_dnc_bmm_backward_naive : alig_dnc_bmm_backward)(s->B, s->M, s->K, s->N, in[0], in[1], dy, d[0], d[1],
                                                             set);
}
static void sh_bmm(const sz *s, int nd[5], int dm[5][3])
{
    const int n[5] = { 3, 3, 3, 0, 0 };
    const int d[5][3] = { { s->B, s->M, s->K }, { s->B, s->K, s->N }, { s->B, s->M, s->N }, { 0 }, { 0 } };
    memcpy(nd, n, sizeof n);
    memcpy(dm, d, sizeof d);
}

/* Value ranges: weights, gates, erase and modes in [0, 1] as after sigmoid / softmax; memory,
 * add vectors and link entries of either sign (the kernels do not assume a range). */
static const opspec OPS[6] = {
    { "write_weights", 4, d_write_weights, kf_ww, kb_ww, sh_ww, { 0, 0, 0, 0 }, { 1, 1, 1, 1 } },
    { "memory", 4, d_memory, kf_mem, kb_mem, sh_mem, { -1, 0, 0, -1 }, { 1, 1, 1, 1 } },
    { "link", 3, d_link, kf_link, kb_link, sh_link, { -1, 0, 0, 0 }, { 1, 0.5, 1, 0 } },
    { "precedence", 2, d_precedence, kf_prec, kb_prec, sh_prec, { 0, 0, 0, 0 }, { 1, 0.2, 0, 0 } },
    { "read_weights", 4, d_read_weights, kf_read, kb_read, sh_read, { -1, 0, 0, 0 }, { 1, 1, 1, 1 } },
    { "bmm", 2, d_bmm, kf_bmm, kb_bmm, sh_bmm, { -1, -1, 0, 0 }, { 1, 1, 0, 0 } },
};
enum { OP_WW, OP_MEM, OP_LINK, OP_PREC, OP_READ, OP_BMM };

static size_t len_of(int nd, const int *d)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)d[i];
    return n;
}

/* ================================================================== 1. kernels */

/* max |a − b| / max(1, ‖b‖∞) with a in float, b in double; infinite on a NaN */
static double rel_err(size_t n, const float *a, const double *b)
{
    double e = 0, s = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        e = fmax(e, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return e / s;
}

/* one op at one size: forward and the three backward modes, optimised and naive */
static void kernel_case(int op, const sz *s, const char *label)
{
    const opspec *o = &OPS[op];
    int nd[5], dm[5][3];
    o->shapes(s, nd, dm);
    const int nin = o->nin;
    size_t len[5];
    for (int j = 0; j <= nin; j++) len[j] = len_of(nd[j], dm[j]);
    const size_t ny = len[nin];
    float *in[4] = { 0 }, *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *dy);
    double *din[4] = { 0 }, *yd = malloc(ny * sizeof *yd), *yp = malloc(ny * sizeof *yp);
    double *gref[4] = { 0 };
    float *fb = malloc((size_t)s->B * 4 * (size_t)s->R * s->N * sizeof *fb);
    kws = malloc((size_t)s->B * 2 * (size_t)(s->N > s->W ? s->N : s->W) * sizeof *kws);
    CU_ASSERT_FATAL(y && dy && yd && yp && fb && kws);
    for (int j = 0; j < nin; j++) {
        in[j] = malloc(len[j] * sizeof *in[j]);
        din[j] = malloc(len[j] * sizeof *din[j]);
        gref[j] = malloc(len[j] * sizeof *gref[j]);
        CU_ASSERT_FATAL(in[j] && din[j] && gref[j]);
        for (size_t q = 0; q < len[j]; q++) {
            in[j][q] = (float)unif(o->lo[j], o->hi[j]);
            din[j][q] = in[j][q];
        }
    }
    for (size_t q = 0; q < ny; q++) dy[q] = (float)unif(-1, 1);
    /* reference forward and the exact gradient of ⟨dy, f⟩ by unit steps (f multilinear), sample
     * by sample (samples are independent: a step in sample b moves only sample b's output) */
    sz s1 = *s;
    s1.B = 1;
    for (int b = 0; b < s->B; b++) {
        double *ib[4];
        const size_t oy = (size_t)b * (ny / s->B);
        for (int j = 0; j < nin; j++) ib[j] = din[j] + (size_t)b * (len[j] / s->B);
        o->dfwd(&s1, (const double *const *)ib, yd + oy);
        for (int j = 0; j < nin; j++)
            for (size_t q = 0; q < len[j] / s->B; q++) {
                const double keep = ib[j][q];
                ib[j][q] = keep + 1.0;
                o->dfwd(&s1, (const double *const *)ib, yp);
                ib[j][q] = keep;
                double g = 0;
                for (size_t t = 0; t < ny / s->B; t++) g += (double)dy[oy + t] * (yp[t] - yd[oy + t]);
                gref[j][(size_t)b * (len[j] / s->B) + q] = g;
            }
    }
    double worst = 0;
    for (int nv = 0; nv < 2; nv++) {
        o->kfwd(s, nv, in, y, fb);
        const double ef = rel_err(ny, y, yd);
        worst = fmax(worst, ef);
        CU_ASSERT(ef <= KTOL);
        for (int mode = 0; mode < 3; mode++) {
            /* 0: accumulate onto random values; 1: write over NaN; 2: alternate operands written /
             * absent (operand j present iff (j + nv) is even) */
            float *d[4] = { 0 }, *g0[4] = { 0 };
            unsigned set = mode == 1 ? 0xFu : 0u;
            for (int j = 0; j < nin; j++) {
                if (mode == 2 && (j + nv) % 2) continue;
                d[j] = malloc(len[j] * sizeof *d[j]);
                g0[j] = malloc(len[j] * sizeof *g0[j]);
                CU_ASSERT_FATAL(d[j] && g0[j]);
                for (size_t q = 0; q < len[j]; q++) d[j][q] = mode == 1 ? NAN : (float)unif(-1, 1);
                if (mode == 2) set |= 1u << j;
                memcpy(g0[j], d[j], len[j] * sizeof *d[j]);
            }
            o->kbwd(s, nv, in, fb, dy, d, set);
            for (int j = 0; j < nin; j++) {
                if (!d[j]) continue;
                if (!((set >> j) & 1u))
                    for (size_t q = 0; q < len[j]; q++) d[j][q] -= g0[j][q];
                const double e = rel_err(len[j], d[j], gref[j]);
                worst = fmax(worst, e);
                if (e > KTOL)
                    printf("  %s %s %s mode %d operand %d: err %.2e\n", o->name, label, nv ? "naive" : "opt", mode,
                           j, e);
                CU_ASSERT(e <= KTOL);
                free(d[j]);
                free(g0[j]);
            }
        }
    }
    printf("  %-14s %-26s max rel err %.2e\n", o->name, label, worst);
    for (int j = 0; j < nin; j++) {
        free(in[j]);
        free(din[j]);
        free(gref[j]);
    }
    free(y);
    free(dy);
    free(yd);
    free(yp);
    free(fb);
    free(kws);
    kws = NULL;
}

static void test_kernels(void)
{
    const sz dnc = { .B = 16, .N = 16, .W = 16, .R = 4, .M = 4, .K = 16 };
    const sz odd = { .B = 3, .N = 5, .W = 7, .R = 2, .M = 3, .K = 5 };
    const sz big = { .B = 272, .N = 16, .W = 16, .R = 4, .M = 4, .K = 16 };
    for (int op = 0; op < 6; op++) {
        kernel_case(op, &dnc, "B16 N16 W16 R4 (DNC)");
        kernel_case(op, &odd, "B3 N5 W7 R2 (odd)");
    }
    /* the reads' other products at the DNC's sizes: bmm with M = K = N = 16 (like Lᵀ·M) */
    const sz sq = { .B = 16, .N = 16, .M = 16, .K = 16, .W = 16, .R = 4 };
    kernel_case(OP_BMM, &sq, "(16,16,16)x(16,16,16)");
    /* a batch above ALIG_DNC_PAR_MIN for link and memory (their parallel batch loop); read weights
     * and bmm (sgemm per sample) at the same batch */
    CU_ASSERT((size_t)big.B * big.N * big.N >= ALIG_DNC_PAR_MIN);
    CU_ASSERT((size_t)big.B * big.N * big.W >= ALIG_DNC_PAR_MIN);
    kernel_case(OP_LINK, &big, "B272 (parallel batch)");
    kernel_case(OP_MEM, &big, "B272 (parallel batch)");
    kernel_case(OP_READ, &big, "B272");
    kernel_case(OP_BMM, &big, "B272");
}

#ifdef _OPENMP
/* The parallel batch loops (link, memory at B = 272) give bitwise the results of one thread. */
static void test_threads(void)
{
    enum { B = 272, N = 16, W = 16 };
    const size_t nnn = (size_t)B * N * N, nnw = (size_t)B * N * W, bn = (size_t)B * N, bw = (size_t)B * W;
    float *in = malloc((2 * nnn + 2 * nnw + 3 * bn + 2 * bw) * sizeof *in);
    float *out[2];
    double *ws = malloc((size_t)B * 2 * N * sizeof *ws);
    CU_ASSERT_FATAL(in && ws);
    for (size_t q = 0; q < 2 * nnn + 2 * nnw + 3 * bn + 2 * bw; q++) in[q] = (float)unif(0, 1);
    const float *Lp = in, *dL = Lp + nnn, *Mp = dL + nnn, *dM = Mp + nnw, *w = dM + nnw, *p = w + bn,
                *e = p + bn, *v = e + bw;
    const size_t nout = nnn + nnn + 2 * bn + nnw + nnw + bn + 2 * bw;
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        float *o = out[t] = malloc(nout * sizeof *o);
        CU_ASSERT_FATAL(o != NULL);
        float *L = o, *dLp = L + nnn, *dw = dLp + nnn, *dp = dw + bn, *M = dp + bn, *dMp = M + nnw, *dw2 = dMp + nnw,
              *de = dw2 + bn, *dv = de + bw;
        alig_dnc_link_forward(B, N, Lp, w, p, L);
        alig_dnc_link_backward(B, N, Lp, w, p, dL, dLp, dw, dp, 0x7u, ws);
        alig_dnc_memory_forward(B, N, W, Mp, w, e, v, M);
        alig_dnc_memory_backward(B, N, W, Mp, w, e, v, dM, dMp, dw2, de, dv, 0xFu, ws);
    }
    omp_set_num_threads(saved);
    CU_ASSERT(memcmp(out[0], out[1], nout * sizeof(float)) == 0);
    free(out[0]);
    free(out[1]);
    free(in);
    free(ws);
}
#endif

/* ================================================================== 2. ops vs double FD */

#define MAXIN 16

/* A check: graph over an arena; operands are PARAM (trainable) or INPUT nodes. */
typedef struct tc tc;
typedef double (*ref_fn)(tc *t, const double *x);

struct tc {
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_ad_node *leaf[MAXIN];  /* operands, in creation order */
    int nleaf;
    double lo[MAXIN], hi[MAXIN];
    alig_ad_node *out[4];       /* projected outputs: L = Σ_k Σ r_k ⊙ out_k */
    alig_ad_node *r[4];
    int nout;
    alig_ad_node *loss;
    ref_fn ref;
    /* single-op checks */
    const opspec *op;
    sz s;
};

static void tc_init(tc *t)
{
    memset(t, 0, sizeof *t);
    CU_ASSERT_FATAL(alig_ad_params_alloc(&t->P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&t->G, t->P, 1) == ALIG_SUCCESS);
}

static void tc_free(tc *t)
{
    alig_ad_graph_free(t->G);
    alig_ad_params_free(t->P);
}

/* an operand: trainable or an input, values ~ U(lo, hi) at compile */
static alig_ad_node *leaf(tc *t, int trainable, int nd, const int *dims, double lo, double hi)
{
    alig_ad_node *n;
    CU_ASSERT_FATAL(t->nleaf < MAXIN);
    if (trainable) {
        int id;
        CU_ASSERT_FATAL(alig_ad_params_add(t->P, nd, dims, &id) == ALIG_SUCCESS);
        n = alig_ad_param(t->G, id);
    } else {
        n = alig_ad_input(t->G, nd, dims);
    }
    CU_ASSERT_FATAL(n != NULL);
    t->lo[t->nleaf] = lo;
    t->hi[t->nleaf] = hi;
    t->leaf[t->nleaf++] = n;
    return n;
}

static void project(tc *t, alig_ad_node *y)
{
    CU_ASSERT_FATAL(y != NULL);
    t->out[t->nout] = y;
    t->r[t->nout] = alig_ad_input(t->G, y->ndim, y->dims);
    alig_ad_node *term = alig_ad_sum(t->G, alig_ad_mul(t->G, y, t->r[t->nout]));
    t->loss = t->nout ? alig_ad_add(t->G, t->loss, term) : term;
    t->nout++;
}

static void tc_compile(tc *t)
{
    alig_status rc = alig_ad_graph_compile(t->G);
    if (rc) printf("  compile failed: %s\n", alig_ad_graph_error(t->G));
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    for (int k = 0; k < t->nleaf; k++)
        for (size_t q = 0; q < t->leaf[k]->size; q++) t->leaf[k]->value[q] = (float)unif(t->lo[k], t->hi[k]);
    for (int k = 0; k < t->nout; k++)
        for (size_t q = 0; q < t->r[k]->size; q++) t->r[k]->value[q] = (float)unif(-1, 1);
}

/* operand k's values in double: from x (trainable) or from the input's floats, into buf */
static const double *leaf_vals(const tc *t, int k, const double *x, double *buf)
{
    const alig_ad_node *n = t->leaf[k];
    if (n->op == ALIG_OP_PARAM) return x + (n->value - alig_ad_params_x(t->P));
    for (size_t q = 0; q < n->size; q++) buf[q] = n->value[q];
    return buf;
}

static double proj(const tc *t, int k, const double *y)
{
    double s = 0;
    for (size_t q = 0; q < t->out[k]->size; q++) s += (double)t->r[k]->value[q] * y[q];
    return s;
}

/* the single-op reference: operands are leaves 0 .. nin−1 (a leaf may be used twice through
 * t->s.M < 0 tricks: see the duplicate cases, which use their own ref) */
static double ref_single(tc *t, const double *x)
{
    double *buf[4], *y = malloc(t->out[0]->size * sizeof *y);
    const double *in[4];
    for (int j = 0; j < t->op->nin; j++) {
        buf[j] = malloc(t->leaf[j]->size * sizeof *buf[j]);
        in[j] = leaf_vals(t, j, x, buf[j]);
    }
    t->op->dfwd(&t->s, in, y);
    const double L = proj(t, 0, y);
    for (int j = 0; j < t->op->nin; j++) free(buf[j]);
    free(y);
    return L;
}

typedef struct cmp_res {
    size_t checked;
    double err, dmax, lerr;
} cmp_res;

static void compare(tc *t, double scale, cmp_res *res)
{
    memset(res, 0, sizeof *res);
    CU_ASSERT_FATAL(alig_ad_forward(t->G, 1) == ALIG_SUCCESS);
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
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(scale * (double)g[i] - d[i]));
    res->err = e / fmax(res->dmax, 1e-3);
    free(x);
    free(d);
}

static void check(tc *t, const char *name)
{
    cmp_res r;
    compare(t, 1.0, &r);
    printf("  %-44s coords %5zu  |d|max %.2e  loss diff %.1e  max err %.2e\n", name, r.checked, r.dmax, r.lerr,
           r.err);
    CU_ASSERT(r.checked > 0);
    CU_ASSERT(r.checked == alig_ad_params_n(t->P));
    CU_ASSERT(r.dmax > 1e-2);
    CU_ASSERT(r.lerr <= LOSS_TOL);
    CU_ASSERT(r.err <= TOL);
}

/* one op, operands trainable where bit j of `train` is set */
static void op_case(int op, const sz *s, unsigned train, const char *label, int negative)
{
    tc t;
    tc_init(&t);
    t.op = &OPS[op];
    t.s = *s;
    t.ref = ref_single;
    int nd[5], dm[5][3];
    t.op->shapes(s, nd, dm);
    alig_ad_node *a[4];
    for (int j = 0; j < t.op->nin; j++) a[j] = leaf(&t, (train >> j) & 1u, nd[j], dm[j], t.op->lo[j], t.op->hi[j]);
    alig_ad_node *y = NULL;
    switch (op) {
    case OP_WW: y = alig_ad_dnc_write_weights(t.G, a[0], a[1], a[2], a[3]); break;
    case OP_MEM: y = alig_ad_dnc_memory(t.G, a[0], a[1], a[2], a[3]); break;
    case OP_LINK: y = alig_ad_dnc_link(t.G, a[0], a[1], a[2]); break;
    case OP_PREC: y = alig_ad_dnc_precedence(t.G, a[0], a[1]); break;
    case OP_READ: y = alig_ad_dnc_read_weights(t.G, a[0], a[1], a[2], a[3]); break;
    default: y = alig_ad_bmm(t.G, a[0], a[1]); break;
    }
    if (!y) printf("  %s\n", alig_ad_graph_error(t.G));
    project(&t, y);
    tc_compile(&t);
    char name[96];
    snprintf(name, sizeof name, "%s %s", t.op->name, label);
    check(&t, name);
    if (negative) {     /* a 0.1% error in the gradient must be caught */
        cmp_res r;
        compare(&t, 1.001, &r);
        printf("  %-44s negative control: err %.2e (must exceed %.0e)\n", name, r.err, TOL);
        CU_ASSERT(r.err > TOL);
    }
    tc_free(&t);
}

static void test_ops_fd(void)
{
    const sz dnc = { .B = 2, .N = 16, .W = 16, .R = 4, .M = 4, .K = 16 };
    const sz odd = { .B = 3, .N = 5, .W = 7, .R = 2, .M = 3, .K = 5 };
    const char *lab[2] = { "B2 N16 W16 R4", "B3 N5 W7 R2" };
    const sz *szs[2] = { &dnc, &odd };
    for (int k = 0; k < 2; k++)
        for (int op = 0; op < 6; op++) op_case(op, szs[k], 0xFu, lab[k], k == 0);
    /* INPUT operands (no gradient): the t = 0 states, and each operand alone trainable */
    op_case(OP_MEM, &odd, 0xEu, "B3 N5 W7 R2, mem_prev input", 0);
    op_case(OP_LINK, &odd, 0x2u, "B3 N5 W7 R2, link_prev, prec_prev input", 0);
    op_case(OP_PREC, &odd, 0x2u, "B3 N5 W7 R2, prec_prev input", 0);
    op_case(OP_READ, &odd, 0xDu, "B3 N5 W7 R2, wr_prev input", 0);
    op_case(OP_READ, &odd, 0x1u, "B3 N5 W7 R2, only link trainable", 0);
    op_case(OP_WW, &odd, 0x4u, "B3 N5 W7 R2, only alloc_gate trainable", 0);
    op_case(OP_BMM, &odd, 0x2u, "B3 M3 K5 N7, a input", 0);
}

/* ---------------------------------------------------------------- one node passed twice */

static double ref_bmm_sq(tc *t, const double *x)
{
    const size_t n = t->leaf[0]->size;
    double *buf = malloc(n * sizeof *buf), *y = malloc(t->out[0]->size * sizeof *y);
    const double *v = leaf_vals(t, 0, x, buf);
    const double *in[2] = { v, v };
    d_bmm(&t->s, in, y);
    const double L = proj(t, 0, y);
    free(buf);
    free(y);
    return L;
}

static double ref_read_dup(tc *t, const double *x)
{
    double *b0 = malloc(t->leaf[0]->size * sizeof *b0), *b1 = malloc(t->leaf[1]->size * sizeof *b1);
    double *b2 = malloc(t->leaf[2]->size * sizeof *b2), *y = malloc(t->out[0]->size * sizeof *y);
    const double *L = leaf_vals(t, 0, x, b0), *w = leaf_vals(t, 1, x, b1), *m = leaf_vals(t, 2, x, b2);
    const double *in[4] = { L, w, m, w };
    d_read_weights(&t->s, in, y);
    const double r = proj(t, 0, y);
    free(b0);
    free(b1);
    free(b2);
    free(y);
    return r;
}

static void test_ops_duplicates(void)
{
    {   /* bmm(x, x), x (B,N,N): both operand gradients land in one buffer */
        tc t;
        tc_init(&t);
        t.s = (sz){ .B = 3, .M = 5, .K = 5, .N = 5 };
        alig_ad_node *x = leaf(&t, 1, 3, (int[]){ 3, 5, 5 }, -1, 1);
        project(&t, alig_ad_bmm(t.G, x, x));
        t.ref = ref_bmm_sq;
        tc_compile(&t);
        check(&t, "bmm(x, x)");
        tc_free(&t);
    }
    {   /* the same activation node as wr_prev and content, an identity affine of a parameter so
         * that its gradient buffer is an activation one (the driver's overwrite path), not the arena */
        tc t;
        tc_init(&t);
        t.s = (sz){ .B = 3, .N = 5, .R = 2 };
        alig_ad_node *L = leaf(&t, 1, 3, (int[]){ 3, 5, 5 }, -1, 1);
        alig_ad_node *w = leaf(&t, 1, 3, (int[]){ 3, 2, 5 }, 0, 1);
        alig_ad_node *m = leaf(&t, 1, 3, (int[]){ 3, 2, 3 }, 0, 1);
        alig_ad_node *wa = alig_ad_affine(t.G, w, 1.0, 0.0);
        project(&t, alig_ad_dnc_read_weights(t.G, L, wa, m, wa));
        t.ref = ref_read_dup;
        tc_compile(&t);
        check(&t, "read_weights(L, w, m, w)");
        tc_free(&t);
    }
}

/* ---------------------------------------------------------------- a two-step chain */

/* step k (0, 1) uses leaves 8k .. 8k+7: alloc, content (B,N), ga, gw (B,1), erase, add (B,W),
 * modes (B,R,3), read content (B,R,N). States start at zero (INPUT nodes, leaves 16.. none:
 * zero arrays here). Outputs projected: r_1, r_2 (B,R,W) and p_2 (B,N). */
static const sz CHAIN = { .B = 2, .N = 5, .W = 4, .R = 2 };

static double ref_chain(tc *t, const double *x)
{
    const sz *s = &CHAIN;
    const int B = s->B, N = s->N, W = s->W, R = s->R;
    double M[2 * 5 * 4] = { 0 }, Lk[2 * 5 * 5] = { 0 }, p[2 * 5] = { 0 }, wr[2 * 2 * 5] = { 0 };
    double ww[2 * 5], M1[2 * 5 * 4], L1[2 * 5 * 5], p1[2 * 5], wr1[2 * 2 * 5], rd[2 * 2 * 4];
    double buf[8][64];
    double total = 0;
    for (int k = 0; k < 2; k++) {
        const double *v[8];
        for (int j = 0; j < 8; j++) v[j] = leaf_vals(t, 8 * k + j, x, buf[j]);
        d_write_weights(s, (const double *const[]){ v[0], v[1], v[2], v[3] }, ww);
        d_memory(s, (const double *const[]){ M, ww, v[4], v[5] }, M1);
        d_link(s, (const double *const[]){ Lk, ww, p }, L1);
        d_precedence(s, (const double *const[]){ p, ww }, p1);
        d_read_weights(s, (const double *const[]){ L1, wr, v[6], v[7] }, wr1);
        const sz sb = { .B = B, .M = R, .K = N, .N = W };
        d_bmm(&sb, (const double *const[]){ wr1, M1 }, rd);
        total += proj(t, k, rd);
        memcpy(M, M1, sizeof M);
        memcpy(Lk, L1, sizeof Lk);
        memcpy(p, p1, sizeof p);
        memcpy(wr, wr1, sizeof wr);
    }
    return total + proj(t, 2, p);
}

static void test_ops_chain(void)
{
    const sz *s = &CHAIN;
    const int B = s->B, N = s->N, W = s->W, R = s->R;
    tc t;
    tc_init(&t);
    alig_ad_node *M = alig_ad_input(t.G, 3, (int[]){ B, N, W });
    alig_ad_node *L = alig_ad_input(t.G, 3, (int[]){ B, N, N });
    alig_ad_node *p = alig_ad_input(t.G, 2, (int[]){ B, N });
    alig_ad_node *wr = alig_ad_input(t.G, 3, (int[]){ B, R, N });
    alig_ad_node *v[8];
    for (int k = 0; k < 2; k++) {
        v[0] = leaf(&t, 1, 2, (int[]){ B, N }, 0, 1);
        v[1] = leaf(&t, 1, 2, (int[]){ B, N }, 0, 1);
        v[2] = leaf(&t, 1, 2, (int[]){ B, 1 }, 0, 1);
        v[3] = leaf(&t, 1, 2, (int[]){ B, 1 }, 0, 1);
        v[4] = leaf(&t, 1, 2, (int[]){ B, W }, 0, 1);
        v[5] = leaf(&t, 1, 2, (int[]){ B, W }, -1, 1);
        v[6] = leaf(&t, 1, 3, (int[]){ B, R, 3 }, 0, 1);
        v[7] = leaf(&t, 1, 3, (int[]){ B, R, N }, 0, 1);
        alig_ad_node *ww = alig_ad_dnc_write_weights(t.G, v[0], v[1], v[2], v[3]);
        alig_ad_node *M1 = alig_ad_dnc_memory(t.G, M, ww, v[4], v[5]);
        alig_ad_node *L1 = alig_ad_dnc_link(t.G, L, ww, p);
        alig_ad_node *p1 = alig_ad_dnc_precedence(t.G, p, ww);
        alig_ad_node *wr1 = alig_ad_dnc_read_weights(t.G, L1, wr, v[6], v[7]);
        project(&t, alig_ad_bmm(t.G, wr1, M1));
        M = M1;
        L = L1;
        p = p1;
        wr = wr1;
    }
    project(&t, p);
    t.ref = ref_chain;
    tc_compile(&t);
    /* the first step's states are zero inputs */
    for (int i = 0; i < alig_ad_graph_size(t.G); i++) {
        alig_ad_node *n = alig_ad_graph_node(t.G, i);
        if (n->op == ALIG_OP_INPUT && i < 4) memset(n->value, 0, n->size * sizeof *n->value);
    }
    check(&t, "two steps: write, memory, link, precedence, read, bmm");
    cmp_res r;
    compare(&t, 1.001, &r);
    CU_ASSERT(r.err > TOL);
    tc_free(&t);
}

/* ---------------------------------------------------------------- inference compile */

/* The two-step chain once more, built twice on ONE arena: a training graph and an inference graph
 * (values shared by liveness, no gradients). Same parameters, same inputs: the outputs must be
 * bitwise equal, and the inference graph refuses backward. */
static alig_ad_node *build_chain(alig_ad_graph *G, const int *ids, alig_ad_node **outs)
{
    const int B = CHAIN.B, N = CHAIN.N, W = CHAIN.W, R = CHAIN.R;
    alig_ad_node *M = alig_ad_input(G, 3, (int[]){ B, N, W }), *L = alig_ad_input(G, 3, (int[]){ B, N, N });
    alig_ad_node *p = alig_ad_input(G, 2, (int[]){ B, N }), *wr = alig_ad_input(G, 3, (int[]){ B, R, N });
    for (int k = 0; k < 2; k++) {
        alig_ad_node *v[8];
        for (int j = 0; j < 8; j++) v[j] = alig_ad_param(G, ids[8 * k + j]);
        alig_ad_node *ww = alig_ad_dnc_write_weights(G, v[0], v[1], v[2], v[3]);
        alig_ad_node *M1 = alig_ad_dnc_memory(G, M, ww, v[4], v[5]);
        alig_ad_node *L1 = alig_ad_dnc_link(G, L, ww, p);
        alig_ad_node *p1 = alig_ad_dnc_precedence(G, p, ww);
        alig_ad_node *wr1 = alig_ad_dnc_read_weights(G, L1, wr, v[6], v[7]);
        outs[k] = alig_ad_bmm(G, wr1, M1);
        M = M1;
        L = L1;
        p = p1;
        wr = wr1;
    }
    outs[2] = p;
    return alig_ad_sum(G, outs[1]);
}

static void test_inference_compile(void)
{
    const int B = CHAIN.B, N = CHAIN.N, W = CHAIN.W, R = CHAIN.R;
    alig_ad_params *P;
    alig_ad_graph *Gt, *Gi;
    int ids[16];
    const int nd[8] = { 2, 2, 2, 2, 2, 2, 3, 3 };
    const int dm[8][3] = { { B, N }, { B, N }, { B, 1 }, { B, 1 }, { B, W }, { B, W }, { B, R, 3 }, { B, R, N } };
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    for (int k = 0; k < 16; k++) CU_ASSERT_FATAL(alig_ad_params_add(P, nd[k % 8], dm[k % 8], &ids[k]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&Gt, P, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&Gi, P, 1) == ALIG_SUCCESS);
    alig_ad_node *ot[3], *oi[3];
    alig_ad_node *lt = build_chain(Gt, ids, ot);
    alig_ad_node *li = build_chain(Gi, ids, oi);
    CU_ASSERT_FATAL(alig_ad_graph_compile(Gt) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_compile_inference(Gi) == ALIG_SUCCESS);
    float *x = alig_ad_params_x(P);
    for (size_t i = 0; i < alig_ad_params_n(P); i++) x[i] = (float)unif(0, 1);
    /* non-zero initial states, the same in both graphs (nodes 0..3 are the state inputs) */
    for (int i = 0; i < 4; i++) {
        alig_ad_node *a = alig_ad_graph_node(Gt, i), *b = alig_ad_graph_node(Gi, i);
        for (size_t q = 0; q < a->size; q++) a->value[q] = b->value[q] = (float)unif(0, 0.2);
    }
    CU_ASSERT_FATAL(alig_ad_forward(Gt, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_forward(Gi, 0) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_backward(Gt, lt) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_backward(Gi, li) == ALIG_EINVAL);
    /* outputs the inference graph keeps: the last read vectors (read by the sum) are freed after
     * use, the sum and the final precedence (read by nothing) stay */
    CU_ASSERT(alig_ad_scalar(lt) == alig_ad_scalar(li));
    CU_ASSERT(memcmp(ot[2]->value, oi[2]->value, ot[2]->size * sizeof(float)) == 0);
    CU_ASSERT(isfinite(alig_ad_scalar(lt)) && alig_ad_scalar(lt) != 0.0);
    alig_ad_graph_free(Gt);
    alig_ad_graph_free(Gi);
    alig_ad_params_free(P);
}

/* ================================================================== 3. hand-derived cases */

/* a one-sample graph helper: write `vals` into an input node */
static void fill(alig_ad_node *n, const float *vals) { memcpy(n->value, vals, n->size * sizeof *vals); }

static void test_link_closed_form(void)
{
    enum { N = 4 };
    alig_ad_graph *G;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, 1) == ALIG_SUCCESS);
    alig_ad_node *L0 = alig_ad_input(G, 3, (int[]){ 1, N, N }), *p0 = alig_ad_input(G, 2, (int[]){ 1, N });
    alig_ad_node *w[3], *L = L0, *p = p0, *Ls[3], *ps[3];
    for (int k = 0; k < 3; k++) {
        w[k] = alig_ad_input(G, 2, (int[]){ 1, N });
        Ls[k] = L = alig_ad_dnc_link(G, L, w[k], p);
        ps[k] = p = alig_ad_dnc_precedence(G, p, w[k]);
    }
    /* reads from the final link: forward from slot 1, backward from slot 3, modes one-hot */
    alig_ad_node *wr0 = alig_ad_input(G, 3, (int[]){ 1, 2, N });
    alig_ad_node *modes = alig_ad_input(G, 3, (int[]){ 1, 2, 3 });
    alig_ad_node *cont = alig_ad_input(G, 3, (int[]){ 1, 2, N });
    alig_ad_node *wr = alig_ad_dnc_read_weights(G, Ls[1], wr0, modes, cont);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    memset(L0->value, 0, L0->size * sizeof(float));
    memset(p0->value, 0, p0->size * sizeof(float));
    const int slot[3] = { 1, 3, 0 };        /* write to slot 1, then 3, then 0 */
    for (int k = 0; k < 3; k++) {
        memset(w[k]->value, 0, N * sizeof(float));
        w[k]->value[slot[k]] = 1.0f;
    }
    /* head 0 forward from slot 1: f = L·e_1 = column 1 of L → e_3; head 1 backward from slot 3:
     * b = Lᵀ·e_3 = row 3 of L → e_1 */
    fill(wr0, (const float[]){ 0, 1, 0, 0, 0, 0, 0, 1 });
    fill(modes, (const float[]){ 0, 1, 0, 1, 0, 0 });
    fill(cont, (const float[]){ 9, 9, 9, 9, 9, 9, 9, 9 });
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    int ok1 = 1, ok2 = 1, ok3 = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            const float l0 = Ls[0]->value[i * N + j], l1 = Ls[1]->value[i * N + j], l2 = Ls[2]->value[i * N + j];
            ok1 &= l0 == 0.0f;                                           /* first write: no predecessor */
            ok2 &= l1 == ((i == 3 && j == 1) ? 1.0f : 0.0f);             /* 3 was written right after 1 */
            ok3 &= l2 == (((i == 3 && j == 1) || (i == 0 && j == 3)) ? 1.0f : 0.0f);
        }
    CU_ASSERT(ok1);
    CU_ASSERT(ok2);
    CU_ASSERT(ok3);
    for (int k = 0; k < 3; k++)         /* a full one-hot write: the precedence is that write */
        for (int i = 0; i < N; i++) CU_ASSERT(ps[k]->value[i] == (i == slot[k] ? 1.0f : 0.0f));
    const float want[8] = { 0, 0, 0, 1, 0, 1, 0, 0 };
    for (int q = 0; q < 8; q++) CU_ASSERT(wr->value[q] == want[q]);
    printf("  link after writes to 1, 3, 0: L[3,1] = %g, L[0,3] = %g; forward read from 1 -> slot %d\n",
           Ls[2]->value[3 * N + 1], Ls[2]->value[0 * N + 3], wr->value[3] == 1.0f ? 3 : -1);
    alig_ad_graph_free(G);
}

static void test_link_diagonal(void)
{
    enum { B = 2, N = 5 };
    alig_ad_params *P;
    alig_ad_graph *G;
    int ids[3];
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 3, (int[]){ B, N, N }, &ids[0]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ B, N }, &ids[1]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ B, N }, &ids[2]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    alig_ad_node *Lp = alig_ad_param(G, ids[0]), *w = alig_ad_param(G, ids[1]), *p = alig_ad_param(G, ids[2]);
    alig_ad_node *L = alig_ad_dnc_link(G, Lp, w, p);
    alig_ad_node *r = alig_ad_input(G, 3, (int[]){ B, N, N });
    alig_ad_node *loss = alig_ad_sum(G, alig_ad_mul(G, L, r));
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    float *x = alig_ad_params_x(P);
    for (size_t i = 0; i < alig_ad_params_n(P); i++) x[i] = (float)unif(0.1, 0.9);
    /* the loss weights only the diagonal of L */
    for (size_t q = 0; q < r->size; q++) r->value[q] = ((q / N) % N == q % N) ? (float)unif(1, 2) : 0.0f;
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, loss) == ALIG_SUCCESS);
    int diag0 = 1, off_nonzero = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                const float v = L->value[(b * N + i) * N + j];
                if (i == j) diag0 &= v == 0.0f;
                else off_nonzero |= v != 0.0f;
            }
    CU_ASSERT(diag0);
    CU_ASSERT(off_nonzero);
    const float *g = alig_ad_params_g(P);
    int gz = 1;
    for (size_t i = 0; i < alig_ad_params_n(P); i++) gz &= g[i] == 0.0f;
    CU_ASSERT(gz);      /* a gradient arriving on the diagonal reaches nothing */
    /* contrast: weighting one off-diagonal entry does reach Lp, w and p */
    memset(r->value, 0, r->size * sizeof(float));
    r->value[1] = 1.0f;                  /* L[0,0,1] */
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, loss) == ALIG_SUCCESS);
    const float *gL = g, *gw = g + B * N * N, *gp = gw + B * N;
    CU_ASSERT(gL[1] != 0.0f && gw[0] != 0.0f && gw[1] != 0.0f && gp[1] != 0.0f);
    CU_ASSERT(gL[0] == 0.0f && gp[0] == 0.0f);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

static void test_precedence_memory_read_ww(void)
{
    enum { B = 2, N = 4, W = 3, R = 3 };
    alig_ad_graph *G;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, 1) == ALIG_SUCCESS);
    alig_ad_node *pp = alig_ad_input(G, 2, (int[]){ B, N }), *w = alig_ad_input(G, 2, (int[]){ B, N });
    alig_ad_node *p = alig_ad_dnc_precedence(G, pp, w);
    alig_ad_node *Mp = alig_ad_input(G, 3, (int[]){ B, N, W }), *e = alig_ad_input(G, 2, (int[]){ B, W });
    alig_ad_node *v = alig_ad_input(G, 2, (int[]){ B, W });
    alig_ad_node *M = alig_ad_dnc_memory(G, Mp, w, e, v);
    alig_ad_node *L = alig_ad_input(G, 3, (int[]){ B, N, N }), *wp = alig_ad_input(G, 3, (int[]){ B, R, N });
    alig_ad_node *modes = alig_ad_input(G, 3, (int[]){ B, R, 3 }), *c = alig_ad_input(G, 3, (int[]){ B, R, N });
    alig_ad_node *wr = alig_ad_dnc_read_weights(G, L, wp, modes, c);
    alig_ad_node *a = alig_ad_input(G, 2, (int[]){ B, N }), *cw = alig_ad_input(G, 2, (int[]){ B, N });
    alig_ad_node *ga = alig_ad_input(G, 2, (int[]){ B, 1 }), *gw = alig_ad_input(G, 2, (int[]){ B, 1 });
    alig_ad_node *ww = alig_ad_dnc_write_weights(G, a, cw, ga, gw);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    alig_ad_node *rnd[] = { pp, Mp, v, L, wp, c, a, cw };
    for (size_t k = 0; k < sizeof rnd / sizeof *rnd; k++)
        for (size_t q = 0; q < rnd[k]->size; q++) rnd[k]->value[q] = (float)unif(-1, 1);
    /* sample 0 writes slot 2 fully (one-hot), sample 1 spreads the write as 1/2, 1/4, 1/8, 1/8
     * (exact binary fractions summing to 1) */
    fill(w, (const float[]){ 0, 0, 1, 0, 0.5f, 0.25f, 0.125f, 0.125f });
    for (int q = 0; q < B * W; q++) e->value[q] = 1.0f;
    /* modes: head r selects mode r (backward, forward, content) */
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++)
            for (int k = 0; k < 3; k++) modes->value[(b * R + r) * 3 + k] = k == r ? 1.0f : 0.0f;
    fill(ga, (const float[]){ 1, 0 });
    fill(gw, (const float[]){ 0.5f, 1 });
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    /* precedence after a full write is the write */
    for (int q = 0; q < B * N; q++) CU_ASSERT(p->value[q] == w->value[q]);
    /* memory, sample 0: row 2 becomes v exactly (erase 1, weight 1), other rows untouched */
    int rows_ok = 1;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < W; k++)
            rows_ok &= M->value[i * W + k] == (i == 2 ? v->value[k] : Mp->value[i * W + k]);
    CU_ASSERT(rows_ok);
    /* memory, sample 1: erase 1 with weight w_i leaves (1 − w_i)·Mp + w_i·v */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < W; k++) {
            const double wi = w->value[N + i];
            const double want = (1 - wi) * Mp->value[(N + i) * W + k] + wi * v->value[W + k];
            CU_ASSERT(fabs(M->value[(N + i) * W + k] - want) <= 1e-6);
        }
    /* read weights, one-hot modes: head 0 = Lᵀ·wp, head 1 = L·wp, head 2 = content exactly */
    for (int b = 0; b < B; b++) {
        const float *Lb = L->value + b * N * N;
        for (int i = 0; i < N; i++) {
            double bw = 0, fw = 0;
            for (int j = 0; j < N; j++) {
                bw += (double)Lb[j * N + i] * wp->value[(b * R + 0) * N + j];
                fw += (double)Lb[i * N + j] * wp->value[(b * R + 1) * N + j];
            }
            CU_ASSERT(fabs(wr->value[(b * R + 0) * N + i] - bw) <= 1e-5);
            CU_ASSERT(fabs(wr->value[(b * R + 1) * N + i] - fw) <= 1e-5);
            CU_ASSERT(wr->value[(b * R + 2) * N + i] == c->value[(b * R + 2) * N + i]);
        }
    }
    /* write weights: sample 0 (ga = 1, gw = 1/2) = a/2; sample 1 (ga = 0, gw = 1) = content */
    for (int i = 0; i < N; i++) {
        CU_ASSERT(ww->value[i] == 0.5f * a->value[i]);
        CU_ASSERT(ww->value[N + i] == cw->value[N + i]);
    }
    alig_ad_graph_free(G);
}

/* ================================================================== 4. shape errors */

static void expect_fail(alig_ad_graph *G, alig_ad_node *n, const char *op, const char *what)
{
    CU_ASSERT(n == NULL);
    CU_ASSERT(alig_ad_graph_status(G) == ALIG_EBADLEN);
    const char *msg = alig_ad_graph_error(G);
    CU_ASSERT(strstr(msg, op) != NULL);
    CU_ASSERT(strstr(msg, what) != NULL);
    printf("  %s\n", msg);
}

static void test_shape_errors(void)
{
    alig_ad_graph *G;
#define FRESH() do { CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, 1) == ALIG_SUCCESS); } while (0)
#define IN2(a, b) alig_ad_input(G, 2, (int[]){ a, b })
#define IN3(a, b, c) alig_ad_input(G, 3, (int[]){ a, b, c })
    FRESH();
    expect_fail(G, alig_ad_dnc_write_weights(G, IN2(4, 6), IN2(4, 6), IN2(4, 2), IN2(4, 1)), "dnc_write_weights",
                "alloc_gate");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_write_weights(G, IN2(4, 6), IN2(4, 5), IN2(4, 1), IN2(4, 1)), "dnc_write_weights",
                "content");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_memory(G, IN3(4, 6, 3), IN2(4, 6), IN2(4, 6), IN2(4, 3)), "dnc_memory", "erase");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_memory(G, IN2(4, 6), IN2(4, 6), IN2(4, 6), IN2(4, 3)), "dnc_memory", "mem_prev");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_link(G, IN3(4, 6, 5), IN2(4, 6), IN2(4, 6)), "dnc_link", "link_prev");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_link(G, IN3(4, 6, 6), IN2(4, 6), IN2(3, 6)), "dnc_link", "prec_prev");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_precedence(G, IN2(4, 6), IN2(4, 5)), "dnc_precedence", "ww");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_read_weights(G, IN3(4, 6, 6), IN3(4, 2, 6), IN3(4, 2, 2), IN3(4, 2, 6)),
                "dnc_read_weights", "modes");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_dnc_read_weights(G, IN3(4, 6, 6), IN3(4, 2, 5), IN3(4, 2, 3), IN3(4, 2, 6)),
                "dnc_read_weights", "wr_prev");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_bmm(G, IN3(4, 2, 6), IN3(4, 5, 3)), "bmm", "(4,2,6)");
    alig_ad_graph_free(G);
    FRESH();
    expect_fail(G, alig_ad_bmm(G, IN3(4, 2, 6), IN2(6, 3)), "bmm", "3-D");
    alig_ad_graph_free(G);
    /* a NULL operand is ALIG_EINVAL */
    FRESH();
    CU_ASSERT(alig_ad_dnc_precedence(G, IN2(4, 6), NULL) == NULL);
    CU_ASSERT(alig_ad_graph_status(G) == ALIG_EINVAL);
    alig_ad_graph_free(G);
    /* correct shapes build */
    FRESH();
    CU_ASSERT(alig_ad_bmm(G, IN3(4, 2, 6), IN3(4, 6, 3)) != NULL);
    CU_ASSERT(alig_ad_dnc_read_weights(G, IN3(4, 6, 6), IN3(4, 2, 6), IN3(4, 2, 3), IN3(4, 2, 6)) != NULL);
    CU_ASSERT(alig_ad_graph_status(G) == ALIG_SUCCESS);
    alig_ad_graph_free(G);
#undef FRESH
#undef IN2
#undef IN3
}

int main(void)
{
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return 2;
    gsl_rng_set(rng, 20261207);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s1 = CU_add_suite("kernels", NULL, NULL);
    CU_pSuite s2 = CU_add_suite("ops vs double central differences", NULL, NULL);
    CU_pSuite s3 = CU_add_suite("hand-derived", NULL, NULL);
    CU_pSuite s4 = CU_add_suite("api", NULL, NULL);
    if (!s1 || !s2 || !s3 || !s4) { CU_cleanup_registry(); return 2; }
    CU_add_test(s1, "kernels and naive twins vs double reference", test_kernels);
#ifdef _OPENMP  /* without OpenMP there is one thread count only: not registered, not counted */
    CU_add_test(s1, "1 vs 2 threads, bitwise (parallel batch loops)", test_threads);
#endif
    CU_add_test(s2, "each op, all operands, DNC and odd sizes", test_ops_fd);
    CU_add_test(s2, "one node as two operands", test_ops_duplicates);
    CU_add_test(s2, "two-step write/link/read chain", test_ops_chain);
    CU_add_test(s3, "link closed form after writes to i then j; directional reads", test_link_closed_form);
    CU_add_test(s3, "link diagonal 0 with zero gradient", test_link_diagonal);
    CU_add_test(s3, "precedence, memory erase, one-hot read modes, gates", test_precedence_memory_read_ww);
    CU_add_test(s4, "shape errors", test_shape_errors);
    CU_add_test(s4, "inference compile: same values as training", test_inference_compile);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    gsl_rng_free(rng);
    return (failed || ran == 0) ? 1 : 0;
}
