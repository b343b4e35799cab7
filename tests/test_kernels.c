/* test_kernels.c - the optimised kernels of nets/kernels.c against their *_naive references
 * (plain loops, double accumulation, written independently), plus identities that need no
 * reference at all:
 *   - sgemm wrapper vs naive gemm, every transpose combination, beta = 0 / beta ≠ 0;
 *   - im2col / col2im (through column phases) vs naive on shapes with stride 1, 2, 3 (stride larger
 *     than the kernel too), asymmetric and over-wide padding, non-square kernels, odd sizes,
 *     1×1 kernels; col2im is the adjoint of im2col (⟨im2col x, c⟩ = ⟨x, col2im c⟩);
 *   - conv2d forward / backward vs direct convolution on all three paths (1×1 stride 1 in place,
 *     1×1 strided by subsampling, im2col + sgemm by blocks), with and without the fused bias, for
 *     one-block-at-a-time plans (block 1, 2, N) and slot-parallel plans (slots 2, 3, 4, some
 *     slots without images), with accumulation into non-zero gradients, any of dx, dw, db
 *     absent, and dx written over NaN (set mode); the plan chooser's arithmetic, scratch sizes;
 *   - max pooling (general and 2×2 fast path, with ties) and average pooling vs naive;
 *   - batch normalisation (train and eval, forward and backward) vs the staged naive version;
 *   - the deterministic chunked sum, the counter-based dropout mask and the byte-mask dropout
 *     passes against it;
 *   - with OpenMP: 1 vs 2 threads give bitwise-identical results for every kernel of ours, and
 *     for the convolution under a fixed plan (its slots make the split, not the threads).
 * Each comparison prints the largest relative difference it saw.
 *
 * Tolerance of the convolution checks, 1e-5 of the reference's largest magnitude: the optimised
 * paths sum in float (sgemm), the references in double. Float rounding (u = 2^-24 ≈ 6e-8) over a
 * reduction of n terms of random sign grows like u·√n times the scale of the partial sums; the
 * longest reductions here are dw's, over N·P·Q <= 4·26·26 = 2704 terms, which gives about 3e-6 of
 * the output scale, and sgemm's blocked sums do better. A wrong index (a tap missed, shifted or
 * counted twice) moves an output by one term out of at most 75 (C·R·S or K·R·S), about 1e-1 of it. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nets/kernels.h"

/* ------------------------------------------------------------------ helpers */

static gsl_rng *rng;

static float *randv(size_t n, double lo, double hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    for (size_t i = 0; i < n; i++) v[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(rng));
    return v;
}

static float *copyv(const float *src, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    memcpy(v, src, n * sizeof *v);
    return v;
}

/* max_i |a_i − b_i| / max(max_i |b_i|, 1e-30): relative to the scale of the reference; infinite
 * when either side has a NaN or an infinity (fmax would silently skip a NaN) */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        m = fmax(m, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return m / fmax(s, 1e-30);
}

#define CHECK_CLOSE(a, b, n, tol, ...)                                          \
    do {                                                                        \
        double d_ = rel_diff((a), (b), (n));                                    \
        printf("  %-44s rel diff %.2e\n", label_(__VA_ARGS__), d_);            \
        CU_ASSERT(d_ <= (tol));                                                 \
    } while (0)

static char label_buf[128];
static const char *label_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *label_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(label_buf, sizeof label_buf, fmt, ap);
    va_end(ap);
    return label_buf;
}

/* ------------------------------------------------------------------ gemm */

static void test_gemm(void)
{
    const int M = 37, N = 29, K = 53;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int bi = 0; bi < 2; bi++) {
                float beta = bi ? 1.3f : 0.0f;
                float *A = randv((size_t)M * K, -1, 1), *B = randv((size_t)K * N, -1, 1);
                float *C1 = randv((size_t)M * N, -1, 1), *C2 = copyv(C1, (size_t)M * N);
                if (!bi) C1[0] = C2[0] = NAN;      /* beta = 0 must ignore C's content */
                alig_nk_gemm(ta, tb, M, N, K, 0.7f, A, B, beta, C1);
                alig_nk_gemm_naive(ta, tb, M, N, K, 0.7f, A, B, beta, C2);
                CHECK_CLOSE(C1, C2, (size_t)M * N, 1e-5, "gemm ta=%d tb=%d beta=%g", ta, tb, beta);
                free(A); free(B); free(C1); free(C2);
            }
    /* an independent value: [1 2; 3 4]·[5 6; 7 8] = [19 22; 43 50] */
    float A[4] = { 1, 2, 3, 4 }, B[4] = { 5, 6, 7, 8 }, C[4];
    alig_nk_gemm(0, 0, 2, 2, 2, 1.0f, A, B, 0.0f, C);
    CU_ASSERT(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50);
    alig_nk_gemm(1, 0, 2, 2, 2, 1.0f, A, B, 0.0f, C);        /* Aᵀ·B = [26 30; 38 44] */
    CU_ASSERT(C[0] == 26 && C[1] == 30 && C[2] == 38 && C[3] == 44);
}

/* ------------------------------------------------------------------ convolution shapes */

typedef struct { int N, C, H, W, K, R, S, sh, sw, ph, pw; } conv_case;

static const conv_case conv_cases[] = {
    { 3, 2, 7, 6, 4, 3, 3, 1, 1, 1, 1 },    /* same padding */
    { 2, 3, 9, 8, 5, 3, 2, 2, 3, 1, 0 },    /* strides 2/3, non-square kernel, asymmetric padding */
    { 4, 1, 28, 28, 8, 3, 3, 1, 1, 0, 0 },  /* the CNN's first layer, fewer filters */
    { 3, 4, 5, 5, 6, 1, 1, 1, 1, 0, 0 },    /* 1×1 (WRN shortcut) */
    { 2, 3, 6, 7, 2, 5, 5, 2, 2, 2, 2 },    /* wide kernel, stride 2 */
    { 2, 2, 4, 4, 3, 2, 2, 1, 1, 3, 3 },    /* padding wider than the kernel: all-zero windows */
    { 5, 3, 8, 8, 4, 3, 3, 2, 2, 1, 1 },    /* WRN downsampling conv */
    { 3, 3, 9, 7, 5, 3, 3, 2, 2, 1, 1 },    /* the same, odd sizes (last row, column unused) */
    { 4, 5, 7, 9, 6, 1, 1, 2, 2, 0, 0 },    /* 1×1 stride 2 (WRN shortcut), odd sizes */
    { 3, 3, 8, 7, 4, 1, 1, 1, 2, 0, 0 },    /* 1×1, strides 1 / 2 */
    { 2, 4, 10, 11, 3, 1, 1, 3, 3, 0, 0 },  /* 1×1 stride 3 */
    { 4, 7, 9, 6, 9, 1, 1, 1, 1, 0, 0 },    /* 1×1 stride 1, odd sizes, K > C */
    { 2, 3, 6, 6, 4, 1, 1, 2, 2, 1, 1 },    /* 1×1 with padding: the general path */
    { 2, 2, 11, 10, 3, 2, 2, 3, 3, 1, 0 },  /* stride 3 > kernel 2: unread phases */
    { 3, 2, 7, 8, 3, 3, 3, 3, 2, 2, 1 },    /* stride 3 = kernel */
    { 2, 3, 6, 19, 4, 1, 1, 2, 2, 0, 0 },   /* 1×1 stride 2, rows of 10 (chunked gather) */
    { 2, 2, 5, 17, 3, 3, 3, 2, 2, 1, 1 },   /* 3×3 stride 2, odd width 17 (phases row by row) */
    { 2, 2, 12, 12, 3, 3, 3, 2, 1, 1, 1 },  /* strides 2 / 1: row phases only */
    { 2, 3, 8, 8, 2, 3, 3, 1, 2, 0, 1 },    /* strides 1 / 2 */
};
#define N_CONV_CASES (sizeof conv_cases / sizeof conv_cases[0])

static alig_nk_conv make_conv(const conv_case *c)
{
    alig_nk_conv s = { c->N, c->C, c->H, c->W, c->K, c->R, c->S, c->sh, c->sw, c->ph, c->pw, 0, 0 };
    s.P = alig_nk_out_len(c->H, c->R, c->sh, c->ph);
    s.Q = alig_nk_out_len(c->W, c->S, c->sw, c->pw);
    CU_ASSERT_FATAL(s.P > 0 && s.Q > 0);
    return s;
}

static void test_out_len(void)
{
    CU_ASSERT_EQUAL(alig_nk_out_len(28, 3, 1, 0), 26);
    CU_ASSERT_EQUAL(alig_nk_out_len(26, 2, 2, 0), 13);
    CU_ASSERT_EQUAL(alig_nk_out_len(7, 2, 2, 0), 3);
    CU_ASSERT_EQUAL(alig_nk_out_len(32, 3, 2, 1), 16);
    CU_ASSERT_EQUAL(alig_nk_out_len(2, 3, 1, 0), 0);
}

static void test_im2col(void)
{
    for (size_t ci = 0; ci < N_CONV_CASES; ci++) {
        alig_nk_conv s = make_conv(&conv_cases[ci]);
        const size_t xs = (size_t)s.N * s.C * s.H * s.W;
        const size_t cs = (size_t)s.C * s.R * s.S * s.N * s.P * s.Q;
        float *x = randv(xs, -1, 1), *c1 = randv(cs, 5, 6), *c2 = randv(cs, 7, 8);
        float *ws = randv(alig_nk_im2col_ws(&s, s.N), 9, 10);     /* garbage: must be overwritten */
        alig_nk_im2col(&s, s.N, x, c1, ws);
        alig_nk_im2col_naive(&s, s.N, x, c2);
        CU_ASSERT(memcmp(c1, c2, cs * sizeof *c1) == 0);   /* a pure copy: must be exact */
        /* col2im vs naive, accumulating into the same non-zero start */
        float *cv = randv(cs, -1, 1), *d1 = randv(xs, -1, 1), *d2 = copyv(d1, xs), *d0 = copyv(d1, xs);
        alig_nk_col2im(&s, s.N, cv, d1, ws);
        alig_nk_col2im_naive(&s, s.N, cv, d2);
        CHECK_CLOSE(d1, d2, xs, 1e-6, "col2im case %zu", ci);
        /* adjoint identity: ⟨im2col x, c⟩ = ⟨x, col2im c⟩ (col2im from zero: d1 − d0) */
        double lhs = 0.0, rhs = 0.0, scale = 0.0;
        for (size_t i = 0; i < cs; i++) { lhs += (double)c1[i] * cv[i]; scale += fabs((double)c1[i] * cv[i]); }
        for (size_t i = 0; i < xs; i++) rhs += (double)x[i] * ((double)d1[i] - d0[i]);
        CU_ASSERT(fabs(lhs - rhs) <= 1e-5 * fmax(scale, 1.0));
        free(x); free(c1); free(c2); free(cv); free(d1); free(d2); free(d0); free(ws);
    }
}

/* plans (block, slots): one block at a time (small, 2, all) and blocks in parallel */
static const int plans[][2] = { { 1, 1 }, { 2, 1 }, { 1 << 20, 1 }, { 1, 2 }, { 2, 3 }, { 2, 4 } };
#define N_PLANS (sizeof plans / sizeof plans[0])

static void test_conv_forward(void)
{
    for (size_t ci = 0; ci < N_CONV_CASES; ci++) {
        alig_nk_conv s = make_conv(&conv_cases[ci]);
        const size_t xs = (size_t)s.N * s.C * s.H * s.W, ws_ = (size_t)s.K * s.C * s.R * s.S;
        const size_t ys = (size_t)s.N * s.K * s.P * s.Q;
        float *x = randv(xs, -1, 1), *w = randv(ws_, -1, 1), *bias = randv((size_t)s.K, -1, 1);
        for (int wb = 0; wb < 2; wb++) {
            const float *bb = wb ? bias : NULL;
            float *yr = randv(ys, 0, 1);
            alig_nk_conv2d_forward_naive(&s, x, w, bb, yr);
            for (size_t pi = 0; pi < N_PLANS; pi++) {
                const int block = plans[pi][0] < s.N ? plans[pi][0] : s.N, slots = plans[pi][1];
                float *ws = randv(alig_nk_conv_ws(&s, block, slots), 9, 10), *y = randv(ys, 5, 6);
                alig_nk_conv2d_forward(&s, x, w, bb, y, ws, block, slots);
                CHECK_CLOSE(y, yr, ys, 1e-5, "conv fwd case %zu bias %d block %d slots %d", ci, wb, block, slots);
                free(ws); free(y);
            }
            free(yr);
        }
        free(x); free(w); free(bias);
    }
}

static void test_conv_backward(void)
{
    for (size_t ci = 0; ci < N_CONV_CASES; ci++) {
        alig_nk_conv s = make_conv(&conv_cases[ci]);
        const size_t xs = (size_t)s.N * s.C * s.H * s.W, wsz = (size_t)s.K * s.C * s.R * s.S;
        const size_t ys = (size_t)s.N * s.K * s.P * s.Q, K = (size_t)s.K;
        float *x = randv(xs, -1, 1), *w = randv(wsz, -1, 1), *dy = randv(ys, -1, 1);
        /* non-zero starting gradients: backward must add */
        float *dx0 = randv(xs, -1, 1), *dw0 = randv(wsz, -1, 1), *db0 = randv(K, -1, 1);
        float *dxr = copyv(dx0, xs), *dwr = copyv(dw0, wsz), *dbr = copyv(db0, K);
        alig_nk_conv2d_backward_naive(&s, x, w, dy, dxr, dwr, dbr);
        float *dxz = calloc(xs ? xs : 1, sizeof *dxz);                  /* dx from zero, for set mode */
        CU_ASSERT_FATAL(dxz != NULL);
        alig_nk_conv2d_backward_naive(&s, x, w, dy, dxz, NULL, NULL);
        for (size_t pi = 0; pi < N_PLANS; pi++) {
            const int block = plans[pi][0] < s.N ? plans[pi][0] : s.N, slots = plans[pi][1];
            float *ws = randv(alig_nk_conv_ws(&s, block, slots), 9, 10);
            float *dx = copyv(dx0, xs), *dw = copyv(dw0, wsz), *db = copyv(db0, K);
            alig_nk_conv2d_backward(&s, x, w, dy, dx, dw, db, ws, block, slots);
            CHECK_CLOSE(dx, dxr, xs, 1e-5, "conv bwd dx case %zu block %d slots %d", ci, block, slots);
            CHECK_CLOSE(dw, dwr, wsz, 1e-5, "conv bwd dw case %zu block %d slots %d", ci, block, slots);
            CU_ASSERT(rel_diff(db, dbr, K) <= 1e-5);
            /* any subset absent: the others unchanged in value */
            float *dx2 = copyv(dx0, xs), *dw2 = copyv(dw0, wsz), *db2 = copyv(db0, K);
            alig_nk_conv2d_backward(&s, x, w, dy, NULL, dw2, NULL, ws, block, slots);
            alig_nk_conv2d_backward(&s, x, w, dy, dx2, NULL, NULL, ws, block, slots);
            alig_nk_conv2d_backward(&s, x, w, dy, NULL, NULL, db2, ws, block, slots);
            CU_ASSERT(rel_diff(dx2, dxr, xs) <= 1e-5);
            CU_ASSERT(rel_diff(dw2, dwr, wsz) <= 1e-5);
            CU_ASSERT(rel_diff(db2, dbr, K) <= 1e-5);
            /* set mode: dx written over NaN garbage, dw and db still accumulate */
            float *dx3 = randv(xs, -1, 1), *dw3 = copyv(dw0, wsz), *db3 = copyv(db0, K);
            for (size_t i = 0; i < xs; i++) dx3[i] = NAN;
            alig_nk_conv2d_backward_set(&s, x, w, dy, dx3, 1, dw3, db3, ws, block, slots);
            CHECK_CLOSE(dx3, dxz, xs, 1e-5, "conv bwd set dx case %zu block %d slots %d", ci, block, slots);
            CU_ASSERT(rel_diff(dw3, dwr, wsz) <= 1e-5);
            CU_ASSERT(rel_diff(db3, dbr, K) <= 1e-5);
            free(ws); free(dx); free(dw); free(db); free(dx2); free(dw2); free(db2); free(dx3); free(dw3); free(db3);
        }
        free(x); free(w); free(dy); free(dx0); free(dw0); free(db0); free(dxr); free(dwr); free(dbr); free(dxz);
    }
}

static void test_conv_plan(void)
{
    alig_nk_conv s = make_conv(&(conv_case){ 128, 32, 13, 13, 64, 3, 3, 1, 1, 0, 0 });
    int block, slots;
    alig_nk_conv_plan(&s, 2, (size_t)1 << 18, 0, &block, &slots);
    /* per image (288 + 64)·121 = 42592 floats: 6 images in 2^18 floats, 2 slots */
    CU_ASSERT(block == 6 && slots == 2);
    alig_nk_conv_plan(&s, 1, (size_t)1 << 30, 0, &block, &slots);
    CU_ASSERT(block == 128 && slots == 1);
    alig_nk_conv_plan(&s, 64, (size_t)1 << 30, 0, &block, &slots);     /* one block per slot at most */
    CU_ASSERT(block == 2 && slots == 64);
    const size_t avail = alig_nk_conv_ws(&s, 6, 2);
    alig_nk_conv_plan(&s, 8, (size_t)1 << 18, avail, &block, &slots);    /* more threads than scratch */
    CU_ASSERT(alig_nk_conv_ws(&s, block, slots) <= avail && slots >= 2);
    alig_nk_conv_plan(&s, 4, (size_t)1 << 18, 1, &block, &slots);        /* nothing fits: smallest plan */
    CU_ASSERT(block == 1 && slots == 1);

    /* 3×3 stride 2 pad 1 on 28×28, C 32, K 64: P = Q = 14, 2 column phases of 28×14 per channel.
     * One slot of B images: col 288·196·B + max(sgemm output 64·196·B, phases), the phases being
     * one channel's (784) in a slot-parallel plan, all B·32 channels' (25088·B) otherwise. */
    alig_nk_conv d = make_conv(&(conv_case){ 128, 32, 28, 28, 64, 3, 3, 2, 2, 1, 1 });
    CU_ASSERT_EQUAL(alig_nk_conv_ws(&d, 3, 2), 2 * (288 * 196 * 3 + 64 * 196 * 3) + 2 * 64 * 288);
    CU_ASSERT_EQUAL(alig_nk_conv_ws(&d, 1, 1), 288 * 196 + 25088);
    CU_ASSERT_EQUAL(alig_nk_im2col_ws(&d, 2), 2 * 25088);
    /* stride 1: the plane is read in place, no phases */
    alig_nk_conv d1 = make_conv(&(conv_case){ 4, 32, 28, 28, 64, 3, 3, 1, 1, 1, 1 });
    CU_ASSERT_EQUAL(alig_nk_im2col_ws(&d1, 4), 0);
    alig_nk_conv_plan(&d, 2, (size_t)1 << 18, 0, &block, &slots);   /* 69 kB per image: 3 in 2^18 */
    CU_ASSERT(block == 3 && slots == 2);
    /* 1×1 stride 1: no scratch but the dw partials; 1×1 stride 2: the subsampled image (C, 14·14) */
    alig_nk_conv e = make_conv(&(conv_case){ 128, 16, 28, 28, 32, 1, 1, 1, 1, 0, 0 });
    CU_ASSERT_EQUAL(alig_nk_conv_ws(&e, 5, 1), 0);
    CU_ASSERT_EQUAL(alig_nk_conv_ws(&e, 5, 2), 2 * 32 * 16);
    CU_ASSERT_EQUAL(alig_nk_im2col_ws(&e, 3), 0);
    alig_nk_conv f = make_conv(&(conv_case){ 128, 32, 28, 28, 64, 1, 1, 2, 2, 0, 0 });
    CU_ASSERT_EQUAL(alig_nk_conv_ws(&f, 5, 2), 2 * 32 * 196 + 2 * 64 * 32);
    CU_ASSERT_EQUAL(alig_nk_conv_ws(&f, 5, 1), 32 * 196);
    alig_nk_conv_plan(&f, 2, (size_t)1 << 18, 0, &block, &slots);   /* scratch does not grow with the block */
    CU_ASSERT(block == 64 && slots == 2);
}

static void test_conv_hand(void)
{
    /* 1 image, 1 channel 3×3 = 1..9, kernel [1 0; 0 −1], stride 1, no padding:
     * y[p,q] = x[p,q] − x[p+1,q+1] = −4 everywhere; with padding 1 the corners see one tap. */
    float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, w[4] = { 1, 0, 0, -1 };
    alig_nk_conv s = { 1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 2, 2 };
    float y[16], ws[128];
    CU_ASSERT_FATAL(alig_nk_conv_ws(&s, 1, 1) <= 128);
    alig_nk_conv2d_forward(&s, x, w, NULL, y, ws, 1, 1);
    for (int i = 0; i < 4; i++) CU_ASSERT(y[i] == -4.0f);
    s.ph = s.pw = 1;
    s.P = s.Q = 4;
    CU_ASSERT_FATAL(alig_nk_conv_ws(&s, 1, 1) <= 128);
    alig_nk_conv2d_forward(&s, x, w, NULL, y, ws, 1, 1);
    CU_ASSERT(y[0] == -1.0f);       /* only the −1 tap touches x[0,0] */
    CU_ASSERT(y[15] == 9.0f);       /* only the +1 tap touches x[2,2] */
    CU_ASSERT(y[5] == -4.0f);       /* interior: x[0,0] − x[1,1] */

    /* 1×1 stride 2, 2 channels in, 2 out, the 3×3 images 1..9 and 10..18: output (p, q) sees
     * only input (2p, 2q), i.e. cells 0, 2, 6, 8 of each plane. w = [1 2; 3 −1] (k, c), bias
     * (0.5, −0.5): y0 = x0 + 2·x1 + 0.5, y1 = 3·x0 − x1 − 0.5 (small integers: exact in float). */
    float x2[18], w2[4] = { 1, 2, 3, -1 }, y2[8], b2[2] = { 0.5f, -0.5f };
    for (int i = 0; i < 18; i++) x2[i] = (float)(i + 1);
    alig_nk_conv s2 = { 1, 2, 3, 3, 2, 1, 1, 2, 2, 0, 0, 2, 2 };
    CU_ASSERT_FATAL(alig_nk_conv_ws(&s2, 1, 1) <= 128);
    alig_nk_conv2d_forward(&s2, x2, w2, b2, y2, ws, 1, 1);
    const int cell[4] = { 0, 2, 6, 8 };
    for (int i = 0; i < 4; i++) {
        const float a = x2[cell[i]], b = x2[9 + cell[i]];
        CU_ASSERT(y2[i] == a + 2.0f * b + 0.5f);
        CU_ASSERT(y2[4 + i] == 3.0f * a - b - 0.5f);
    }
    /* backward: dy = 1 everywhere: dx (c) = Σ_k w[k,c] at the sampled cells, 0 elsewhere;
     * dw[k,c] = Σ of plane c's sampled cells: 1+3+7+9 = 20 and 10+12+16+18 = 56 */
    float dy2[8], dx2[18] = { 0 }, dw2[4] = { 0 };
    for (int i = 0; i < 8; i++) dy2[i] = 1.0f;
    alig_nk_conv2d_backward(&s2, x2, w2, dy2, dx2, dw2, NULL, ws, 1, 1);
    for (int i = 0; i < 9; i++) {
        const int sampled = i == 0 || i == 2 || i == 6 || i == 8;
        CU_ASSERT(dx2[i] == (sampled ? 4.0f : 0.0f));          /* w[0,0] + w[1,0] = 1 + 3 */
        CU_ASSERT(dx2[9 + i] == (sampled ? 1.0f : 0.0f));      /* w[0,1] + w[1,1] = 2 − 1 */
    }
    CU_ASSERT(dw2[0] == 20.0f && dw2[1] == 56.0f && dw2[2] == 20.0f && dw2[3] == 56.0f);
}

/* ------------------------------------------------------------------ pooling */

typedef struct { int N, C, H, W, kh, kw, sh, sw, ph, pw; } pool_case;

static const pool_case pool_cases[] = {
    { 2, 3, 8, 8, 2, 2, 2, 2, 0, 0 },   /* 2×2 fast path */
    { 2, 3, 7, 9, 2, 2, 2, 2, 0, 0 },   /* fast path, odd sizes (last row/column dropped) */
    { 2, 2, 9, 9, 3, 3, 2, 2, 1, 1 },   /* overlapping, padded (ResNet stem) */
    { 1, 3, 6, 7, 3, 3, 1, 1, 1, 1 },   /* stride 1: every cell in up to 9 windows */
    { 2, 2, 6, 8, 2, 3, 1, 2, 1, 0 },   /* mixed */
};
#define N_POOL_CASES (sizeof pool_cases / sizeof pool_cases[0])

static alig_nk_pool make_pool(const pool_case *c)
{
    alig_nk_pool s = { c->N, c->C, c->H, c->W, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, 0, 0 };
    s.P = alig_nk_out_len(c->H, c->kh, c->sh, c->ph);
    s.Q = alig_nk_out_len(c->W, c->kw, c->sw, c->pw);
    CU_ASSERT_FATAL(s.P > 0 && s.Q > 0);
    return s;
}

static void test_maxpool(void)
{
    for (size_t ci = 0; ci < N_POOL_CASES; ci++) {
        alig_nk_pool s = make_pool(&pool_cases[ci]);
        const size_t xs = (size_t)s.N * s.C * s.H * s.W, ys = (size_t)s.N * s.C * s.P * s.Q;
        for (int ties = 0; ties < 2; ties++) {
            float *x = randv(xs, -1, 1);
            if (ties)   /* few distinct values: many ties, first-maximum rule must agree */
                for (size_t i = 0; i < xs; i++) x[i] = floorf(x[i] * 2.0f);
            float *y1 = randv(ys, 0, 1), *y2 = randv(ys, 0, 1), *dy = randv(ys, -1, 1);
            int32_t *arg = malloc(ys * sizeof *arg);
            CU_ASSERT_FATAL(arg != NULL);
            alig_nk_maxpool_forward(&s, x, y1, arg);
            alig_nk_maxpool_forward_naive(&s, x, y2);
            CU_ASSERT(memcmp(y1, y2, ys * sizeof *y1) == 0);
            float *d1 = randv(xs, -1, 1), *d2 = copyv(d1, xs);
            alig_nk_maxpool_backward(&s, dy, arg, d1);
            alig_nk_maxpool_backward_naive(&s, x, dy, d2);
            CHECK_CLOSE(d1, d2, xs, 1e-6, "maxpool case %zu ties %d", ci, ties);
            /* set mode: written over NaN, equal to the naive scatter into zeros */
            float *d3 = malloc(xs * sizeof *d3), *d4 = calloc(xs, sizeof *d4);
            CU_ASSERT_FATAL(d3 && d4);
            for (size_t i = 0; i < xs; i++) d3[i] = NAN;
            alig_nk_maxpool_backward_set(&s, dy, arg, d3, 1);
            alig_nk_maxpool_backward_naive(&s, x, dy, d4);
            CHECK_CLOSE(d3, d4, xs, 1e-6, "maxpool set mode case %zu ties %d", ci, ties);
            free(x); free(y1); free(y2); free(dy); free(arg); free(d1); free(d2); free(d3); free(d4);
        }
    }
    /* hand example: 4×4 plane, 2×2 windows */
    float x[16] = { 1, 5, 2, 0, 3, 4, 8, 8, -1, -2, -3, -4, -5, -6, -7, -9 }, y[4], dx[16] = { 0 };
    float dy[4] = { 1, 2, 3, 4 };
    int32_t arg[4];
    alig_nk_pool s = { 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 2, 2 };
    alig_nk_maxpool_forward(&s, x, y, arg);
    CU_ASSERT(y[0] == 5 && y[1] == 8 && y[2] == -1 && y[3] == -3);
    CU_ASSERT(arg[0] == 1 && arg[1] == 6 && arg[2] == 8 && arg[3] == 10);   /* tie 8, 8: the first */
    alig_nk_maxpool_backward(&s, dy, arg, dx);
    CU_ASSERT(dx[1] == 1 && dx[6] == 2 && dx[7] == 0 && dx[8] == 3 && dx[10] == 4);
}

/* relu backward, accumulating and set (written over NaN), against dy·[x > 0] by hand, also on
 * the threaded path (n >= ALIG_NK_PAR_MIN); x = 0 has derivative 0 */
static void test_relu_backward(void)
{
    const size_t sizes[2] = { 37, 3 * ALIG_NK_PAR_MIN + 5 };
    for (int k = 0; k < 2; k++) {
        const size_t n = sizes[k];
        float *x = randv(n, -1, 1), *dy = randv(n, -1, 1), *acc = randv(n, -1, 1), *set = malloc(n * sizeof *set);
        float *want_acc = malloc(n * sizeof *want_acc), *want_set = malloc(n * sizeof *want_set);
        CU_ASSERT_FATAL(set && want_acc && want_set);
        x[0] = 0.0f;
        for (size_t i = 0; i < n; i++) {
            set[i] = NAN;
            want_set[i] = x[i] > 0.0f ? dy[i] : 0.0f;
            want_acc[i] = acc[i] + want_set[i];
        }
        alig_nk_relu_backward(n, x, dy, acc);
        alig_nk_relu_backward_set(n, x, dy, set, 1);
        CU_ASSERT(memcmp(acc, want_acc, n * sizeof *acc) == 0);
        CU_ASSERT(memcmp(set, want_set, n * sizeof *set) == 0);
        free(x); free(dy); free(acc); free(set); free(want_acc); free(want_set);
    }
}

static void test_avgpool(void)
{
    for (size_t ci = 0; ci < N_POOL_CASES; ci++) {
        alig_nk_pool s = make_pool(&pool_cases[ci]);
        const size_t xs = (size_t)s.N * s.C * s.H * s.W, ys = (size_t)s.N * s.C * s.P * s.Q;
        float *x = randv(xs, -1, 1), *y1 = randv(ys, 0, 1), *y2 = randv(ys, 0, 1), *dy = randv(ys, -1, 1);
        alig_nk_avgpool_forward(&s, x, y1);
        alig_nk_avgpool_forward_naive(&s, x, y2);
        CHECK_CLOSE(y1, y2, ys, 1e-6, "avgpool fwd case %zu", ci);
        float *d1 = randv(xs, -1, 1), *d2 = copyv(d1, xs);
        alig_nk_avgpool_backward(&s, dy, d1);
        alig_nk_avgpool_backward_naive(&s, dy, d2);
        CHECK_CLOSE(d1, d2, xs, 1e-6, "avgpool bwd case %zu", ci);
        free(x); free(y1); free(y2); free(dy); free(d1); free(d2);
    }
    /* padding counts as zeros: 2×2 plane of ones, 3×3 window, pad 1, stride 1 -> 4/9 */
    float x[4] = { 1, 1, 1, 1 }, y[4];
    alig_nk_pool s = { 1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 2, 2 };
    alig_nk_avgpool_forward(&s, x, y);
    for (int i = 0; i < 4; i++) CU_ASSERT(fabsf(y[i] - 4.0f / 9.0f) < 1e-7f);
}

/* ------------------------------------------------------------------ batch normalisation */

static void test_batchnorm(void)
{
    const int shapes[3][3] = { { 8, 5, 1 }, { 4, 3, 10 }, { 2, 6, 49 } };     /* N, C, L */
    for (int si = 0; si < 3; si++)
        for (int train = 0; train < 2; train++)
            for (int affine = 0; affine < 2; affine++)
                for (int mode = 0; mode < 4; mode++) {     /* bit 0: fused ReLU, bit 1: dx set (=) */
                const int relu = mode & 1, set = mode >> 1;
                const int N = shapes[si][0], C = shapes[si][1];
                const size_t L = (size_t)shapes[si][2], n = (size_t)N * C * L;
                float *x = randv(n, 2, 4);              /* mean far from 0: tests the shifted sums */
                float *g = affine ? randv((size_t)C, 0.5, 1.5) : NULL, *b = affine ? randv((size_t)C, -1, 1) : NULL;
                float *rm1 = randv((size_t)C, -1, 1), *rv1 = randv((size_t)C, 0.5, 2);
                float *rm2 = copyv(rm1, (size_t)C), *rv2 = copyv(rv1, (size_t)C);
                float *m1 = randv((size_t)C, 0, 1), *s1 = randv((size_t)C, 0, 1);
                float *m2 = randv((size_t)C, 0, 1), *s2 = randv((size_t)C, 0, 1);
                float *y1 = randv(n, 0, 1), *y2 = randv(n, 0, 1);
                alig_nk_bn_forward(train, N, C, L, x, g, b, 1e-5f, 0.1f, rm1, rv1, m1, s1, y1, relu);
                alig_nk_bn_forward_naive(train, N, C, L, x, g, b, 1e-5f, 0.1f, rm2, rv2, m2, s2, y2, relu);
                CHECK_CLOSE(y1, y2, n, 2e-5, "bn fwd shape %d train %d affine %d relu %d", si, train, affine, relu);
                CU_ASSERT(rel_diff(rm1, rm2, (size_t)C) <= 1e-6);
                CU_ASSERT(rel_diff(rv1, rv2, (size_t)C) <= 1e-5);
                CU_ASSERT(rel_diff(s1, s2, (size_t)C) <= 1e-5);
                size_t zeros = 0;
                for (size_t i = 0; i < n; i++) zeros += y1[i] == 0.0f;
                if (relu && train && n >= 40) CU_ASSERT(zeros > n / 10 && zeros < n - n / 10);   /* batch stats: about half masked */
                float *dy = randv(n, -1, 1), *dx1 = randv(n, -1, 1), *dx2 = copyv(dx1, n);
                float *dg1 = randv((size_t)C, -1, 1), *dg2 = copyv(dg1, (size_t)C);
                float *db1 = randv((size_t)C, -1, 1), *db2 = copyv(db1, (size_t)C);
                if (set)    /* written, not added: garbage in dx must not survive */
                    for (size_t i = 0; i < n; i++) dx1[i] = NAN;
                alig_nk_bn_backward(train, N, C, L, x, g, m1, s1, dy, relu ? y1 : NULL, dx1, set, dg1, db1);
                alig_nk_bn_backward_naive(train, N, C, L, x, g, m1, s1, dy, relu ? y2 : NULL, dx2, set, dg2, db2);
                CHECK_CLOSE(dx1, dx2, n, 2e-5, "bn bwd dx shape %d train %d affine %d mode %d", si, train, affine, mode);
                CU_ASSERT(rel_diff(dg1, dg2, (size_t)C) <= 1e-5);
                CU_ASSERT(rel_diff(db1, db2, (size_t)C) <= 1e-5);
                if (relu) {
                    /* the fusion is the composition: max(plain BN, 0) forward, and plain BN backward
                     * of dy·[y > 0] */
                    float *rm3 = copyv(rm2, (size_t)C), *rv3 = copyv(rv2, (size_t)C), *y3 = randv(n, 0, 1);
                    float *dy3 = copyv(dy, n), *dx3 = calloc(n, sizeof(float)), *dx4 = calloc(n, sizeof(float));
                    alig_nk_bn_forward(train, N, C, L, x, g, b, 1e-5f, 0.1f, rm3, rv3, m2, s2, y3, 0);
                    for (size_t i = 0; i < n; i++) y3[i] = y3[i] > 0.0f ? y3[i] : 0.0f;
                    CHECK_CLOSE(y1, y3, n, 1e-7, "bn+relu = relu(bn) shape %d", si);
                    for (size_t i = 0; i < n; i++) dy3[i] = y1[i] > 0.0f ? dy3[i] : 0.0f;
                    alig_nk_bn_backward(train, N, C, L, x, g, m1, s1, dy3, NULL, dx3, 0, NULL, NULL);
                    alig_nk_bn_backward(train, N, C, L, x, g, m1, s1, dy, y1, dx4, 0, NULL, NULL);
                    CHECK_CLOSE(dx4, dx3, n, 1e-7, "bn+relu backward = bn backward of masked dy, shape %d", si);
                    free(rm3); free(rv3); free(y3); free(dy3); free(dx3); free(dx4);
                }
                free(x); free(g); free(b); free(rm1); free(rv1); free(rm2); free(rv2);
                free(m1); free(s1); free(m2); free(s2); free(y1); free(y2);
                free(dy); free(dx1); free(dx2); free(dg1); free(dg2); free(db1); free(db2);
            }
}

/* ------------------------------------------------------------------ sum, dropout mask */

static void test_sum(void)
{
    const size_t sizes[4] = { 1, 4095, 4097, 3000001 };
    for (int k = 0; k < 4; k++) {
        size_t n = sizes[k];
        float *x = randv(n, -1, 3);
        long double ref = 0.0L;
        for (size_t i = 0; i < n; i++) ref += x[i];
        double s = alig_nk_sum(n, x);
        CU_ASSERT(fabsl((long double)s - ref) <= 1e-12L * (fabsl(ref) + 1.0L) * 10.0L);
        free(x);
    }
    CU_ASSERT(alig_nk_sum(0, NULL) == 0.0);
}

/* Bias gradient (8 double lanes per channel, threaded over channels), softmax CE and the hinge
 * (threaded over rows) against their serial naive twins, at sizes that take the threaded paths
 * (N·C·L and N·C >= ALIG_NK_PAR_MIN) and at small ones (remainder lanes, one row). */
static void test_bias_losses(void)
{
    /* N, C, L for the bias; L = 1 takes the column path: one chunk, several chunks with a short last
     * one, threaded (N·C >= ALIG_NK_PAR_MIN) */
    const int sizes[6][3] = { { 64, 40, 33 }, { 3, 5, 7 }, { 1, 1, 1 }, { 16, 135, 1 }, { 9, 600, 1 }, { 200, 700, 1 } };
    for (int k = 0; k < 6; k++) {
        const int N = sizes[k][0], C = sizes[k][1];
        const size_t L = (size_t)sizes[k][2], n = (size_t)N * C * L;
        float *dy = randv(n, -1, 1), *db1 = randv((size_t)C, -1, 1), *db2 = copyv(db1, (size_t)C);
        alig_nk_bias_backward(N, C, L, dy, db1);
        alig_nk_bias_backward_naive(N, C, L, dy, db2);
        CHECK_CLOSE(db1, db2, (size_t)C, 1e-6, "bias backward %dx%dx%zu", N, C, L);
        /* forward: y[n, c, l] = x[n, c, l] + b[c], written out by hand */
        float *y = malloc(n * sizeof *y);
        CU_ASSERT_FATAL(y != NULL);
        alig_nk_bias_forward(N, C, L, dy, db2, y);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += y[i] != dy[i] + db2[(i / L) % (size_t)C];
        CU_ASSERT_EQUAL(bad, 0);
        free(y);
        free(dy); free(db1); free(db2);
    }
    const int rows[3] = { 4096, 7, 1 }, classes[3] = { 10, 3, 100 };
    for (int k = 0; k < 3; k++) {
        const int N = rows[k], C = classes[k];
        const size_t nc = (size_t)N * C;
        float *s = randv(nc, -4, 4);
        int32_t *y = malloc((size_t)N * sizeof *y);
        float *p1 = malloc(nc * sizeof *p1), *p2 = malloc(nc * sizeof *p2);
        double *r1 = malloc((size_t)N * sizeof *r1), *r2 = malloc((size_t)N * sizeof *r2);
        CU_ASSERT_FATAL(y && p1 && p2 && r1 && r2);
        for (int i = 0; i < N; i++) y[i] = (int32_t)gsl_rng_uniform_int(rng, (unsigned long)C);
        double l1 = alig_nk_softmax_ce_forward(N, C, s, y, p1, r1);
        double l2 = alig_nk_softmax_ce_forward_naive(N, C, s, y, p2, r2);
        printf("  softmax CE %dx%d: %.12f vs naive %.12f\n", N, C, l1, l2);
        CU_ASSERT(fabs(l1 - l2) <= 1e-12 * (fabs(l2) + 1.0));
        CU_ASSERT(l2 > 0.0);
        CHECK_CLOSE(p1, p2, nc, 1e-6, "softmax CE probabilities %dx%d", N, C);
        for (int smooth = 0; smooth < 2; smooth++) {
            l1 = alig_nk_hinge_forward(N, C, s, y, smooth, p1, r1);
            l2 = alig_nk_hinge_forward_naive(N, C, s, y, smooth, p2, r2);
            printf("  hinge %s %dx%d: %.12f vs naive %.12f\n", smooth ? "smooth" : "hard", N, C, l1, l2);
            CU_ASSERT(fabs(l1 - l2) <= 1e-12 * (fabs(l2) + 1.0));
            CU_ASSERT(l2 >= 0.0);
            CHECK_CLOSE(p1, p2, nc, 1e-6, "hinge %s weights %dx%d", smooth ? "smooth" : "hard", N, C);
        }
        free(s); free(y); free(p1); free(p2); free(r1); free(r2);
    }
}

static void test_dropout_mask(void)
{
    const size_t n = 100000;
    float *m1 = malloc(n * sizeof *m1), *m2 = malloc(n * sizeof *m2), *m3 = malloc(n * sizeof *m3);
    CU_ASSERT_FATAL(m1 && m2 && m3);
    const float p = 0.3f, keep = (float)(1.0 / (1.0 - 0.3f));
    size_t kept = alig_nk_dropout_mask(n, p, 12345, m1);
    size_t count = 0;
    int values_ok = 1;
    for (size_t i = 0; i < n; i++) {
        values_ok &= m1[i] == 0.0f || m1[i] == keep;
        count += m1[i] != 0.0f;
    }
    CU_ASSERT(values_ok);
    CU_ASSERT_EQUAL(kept, count);
    /* Binomial(n, 0.7): sd = √(n·0.21) ≈ 145; allow 5 sd */
    CU_ASSERT(fabs((double)kept - 0.7 * n) < 5.0 * sqrt(n * 0.21));
    /* same key: same mask; a prefix of a longer mask (counter-based); another key: another mask */
    alig_nk_dropout_mask(n / 2, p, 12345, m2);
    CU_ASSERT(memcmp(m1, m2, n / 2 * sizeof *m1) == 0);
    alig_nk_dropout_mask(n, p, 12346, m3);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += (m1[i] != 0.0f) == (m3[i] != 0.0f);
    CU_ASSERT(same < (size_t)(0.62 * n));      /* independent masks agree on ≈ 0.7² + 0.3² = 58% */
    /* p = 0 keeps everything with factor 1 */
    CU_ASSERT_EQUAL(alig_nk_dropout_mask(n, 0.0f, 7, m2), n);
    CU_ASSERT(m2[0] == 1.0f && m2[n - 1] == 1.0f);
    /* the byte-mask passes of the dropout op equal the float mask times x (forward) and
     * dy (backward, accumulated) bit for bit; x and dy include negatives, so signed zeros count */
    uint8_t *k = malloc(n);
    float *x = malloc(n * sizeof *x), *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
    CU_ASSERT_FATAL(k && x && y1 && y2);
    for (size_t i = 0; i < n; i++) x[i] = (float)sin(0.37 * (double)i) * (i % 7 == 0 ? 0.0f : 1.0f);
    for (int pass = 0; pass < 2; pass++) {
        const float pp = pass ? 0.0f : p;
        alig_nk_dropout_mask(n, pp, 999, m1);
        CU_ASSERT_EQUAL(alig_nk_dropout_forward(n, pp, 999, x, k, y2), alig_nk_dropout_mask(n, pp, 999, m1));
        alig_nk_mul_forward(n, x, m1, y1);
        CU_ASSERT(memcmp(y1, y2, n * sizeof *y1) == 0);
        size_t kk = 0;
        for (size_t i = 0; i < n; i++) kk += k[i] == (m1[i] != 0.0f);
        CU_ASSERT_EQUAL(kk, n);
        for (size_t i = 0; i < n; i++) y1[i] = y2[i] = (float)cos(0.11 * (double)i);
        alig_nk_mul_backward(n, m1, x, y1);
        alig_nk_dropout_backward(n, pp, k, x, y2, 0);
        CU_ASSERT(memcmp(y1, y2, n * sizeof *y1) == 0);
        /* set mode: what accumulating into zeros gives, -0 products included */
        for (size_t i = 0; i < n; i++) y1[i] = 0.0f, y2[i] = NAN;
        alig_nk_mul_backward(n, m1, x, y1);
        alig_nk_dropout_backward(n, pp, k, x, y2, 1);
        CU_ASSERT(memcmp(y1, y2, n * sizeof *y1) == 0);
    }
    free(k); free(x); free(y1); free(y2);
    free(m1); free(m2); free(m3);
}

/* Batch-norm statistics handed on: a forward over the first C1 channels of x (a prefix, as in
 * DenseNet's concatenations) records them; a forward over x given them equals a plain one bit for
 * bit (outputs, running averages, mean and 1/σ, the recorded statistics); a perturbed handed-on
 * mean shows in the output (they are used). */
static void test_bn_known_stats(void)
{
    enum { N = 4, C = 6, C1 = 4, L = 50 };
    const size_t n = (size_t)N * C * L, n1 = (size_t)N * C1 * L;
    float *x = randv(n, 1, 3), *p = malloc(n1 * sizeof *p), *g = randv(C, 0.5, 1.5), *b = randv(C, -1, 1);
    CU_ASSERT_FATAL(p != NULL);
    for (int i = 0; i < N; i++) memcpy(p + (size_t)i * C1 * L, x + (size_t)i * C * L, (size_t)C1 * L * sizeof *p);
    float rmp[C1] = { 0 }, rvp[C1] = { 0 }, mp[C1], sp[C1], *yp = malloc(n1 * sizeof *yp);
    double known[2 * C1], st1[2 * C], st2[2 * C];
    CU_ASSERT_FATAL(yp != NULL);
    alig_nk_bn_forward_stats(1, N, C1, L, p, g, b, 1e-5f, 0.1f, rmp, rvp, mp, sp, yp, 1, NULL, 0, known);
    float rm1[C], rv1[C], rm2[C], rv2[C], m1[C], s1[C], m2[C], s2[C];
    for (int c = 0; c < C; c++) rm1[c] = rm2[c] = 0.1f * (float)c, rv1[c] = rv2[c] = 1.0f + 0.2f * (float)c;
    float *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
    CU_ASSERT_FATAL(y1 && y2);
    alig_nk_bn_forward_stats(1, N, C, L, x, g, b, 1e-5f, 0.1f, rm1, rv1, m1, s1, y1, 1, NULL, 0, st1);
    alig_nk_bn_forward_stats(1, N, C, L, x, g, b, 1e-5f, 0.1f, rm2, rv2, m2, s2, y2, 1, known, C1, st2);
    CU_ASSERT(memcmp(y1, y2, n * sizeof *y1) == 0 && memcmp(rm1, rm2, sizeof rm1) == 0 &&
              memcmp(rv1, rv2, sizeof rv1) == 0 && memcmp(m1, m2, sizeof m1) == 0 && memcmp(s1, s2, sizeof s1) == 0 &&
              memcmp(st1, st2, sizeof st1) == 0 && memcmp(st1, known, sizeof known) == 0);
    known[0] += 0.01;
    alig_nk_bn_forward_stats(1, N, C, L, x, g, b, 1e-5f, 0.1f, rm2, rv2, m2, s2, y2, 0, known, C1, st2);
    alig_nk_bn_forward_stats(1, N, C, L, x, g, b, 1e-5f, 0.1f, rm1, rv1, m1, s1, y1, 0, NULL, 0, st1);
    CU_ASSERT(y1[0] != y2[0] && y1[L] == y2[L]);          /* channel 0 moved, channel 1 not */
    free(x); free(p); free(g); free(b); free(yp); free(y1); free(y2);
}

/* Channel blocks: the kernels walk blocks of channels together when maps are small (L = 7 and C = 70
 * here give blocks of several channels, the last one partial, for any thread count). Every
 * channel must come out exactly as when it is normalised alone, a (N, 1, L) tensor of its own:
 * outputs, statistics, running averages, and in backward dx, dγ, dβ; with handed-on statistics
 * for a prefix that ends inside a block. */
static void test_bn_channel_blocks(void)
{
    enum { N = 3, C = 70, L = 7, CK = 13 };
    const size_t n = (size_t)N * C * L;
    float *x = randv(n, 1, 3), *g = randv(C, 0.5, 1.5), *b = randv(C, -1, 1), *dy = randv(n, -1, 1);
    float *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
    float rm[C], rv[C], m[C], s[C], dg[C], db[C];
    double known[2 * C], st[2 * C];
    float xc[N * L], yc[N * L], dyc[N * L], dxc[N * L];
    CU_ASSERT_FATAL(y && dx);
    for (int pass = 0; pass < 2; pass++) {          /* 0: plain, 1: the first CK channels' statistics handed on */
        for (int c = 0; c < C; c++) known[2 * c] = 2.0 + 0.01 * c, known[2 * c + 1] = 0.3 + 0.02 * c;
        for (int c = 0; c < C; c++) rm[c] = 0.1f * (float)c, rv[c] = 1.0f + 0.01f * (float)c, dg[c] = db[c] = 0.5f;
        alig_nk_bn_forward_stats(1, N, C, L, x, g, b, 1e-5f, 0.1f, rm, rv, m, s, y, 1, pass ? known : NULL,
                                 pass ? CK : 0, st);
        alig_nk_bn_backward(1, N, C, L, x, g, m, s, dy, y, dx, 1, dg, db);
        int same = 1;
        for (int c = 0; c < C; c++) {
            for (int i = 0; i < N; i++)
                for (int l = 0; l < L; l++) {
                    xc[i * L + l] = x[((size_t)i * C + c) * L + (size_t)l];
                    dyc[i * L + l] = dy[((size_t)i * C + c) * L + (size_t)l];
                }
            float rmc = 0.1f * (float)c, rvc = 1.0f + 0.01f * (float)c, mc, sc, dgc = 0.5f, dbc = 0.5f;
            double stc[2];
            const int k = pass && c < CK;
            alig_nk_bn_forward_stats(1, N, 1, L, xc, g + c, b + c, 1e-5f, 0.1f, &rmc, &rvc, &mc, &sc, yc, 1,
                                     k ? known + 2 * c : NULL, k, stc);
            alig_nk_bn_backward(1, N, 1, L, xc, g + c, &mc, &sc, dyc, yc, dxc, 1, &dgc, &dbc);
            same &= rmc == rm[c] && rvc == rv[c] && mc == m[c] && sc == s[c] && dgc == dg[c] && dbc == db[c] &&
                    stc[0] == st[2 * c] && stc[1] == st[2 * c + 1];
            for (int i = 0; i < N; i++)
                same &= memcmp(yc + i * L, y + ((size_t)i * C + c) * L, L * sizeof *y) == 0 &&
                        memcmp(dxc + i * L, dx + ((size_t)i * C + c) * L, L * sizeof *dx) == 0;
        }
        CU_ASSERT(same);
    }
    free(x); free(g); free(b); free(dy); free(y); free(dx);
}

/* Batch norm + ReLU + dropout fused: bitwise the batch norm with its fused ReLU, then the dropout
 * kernel with the same key (forward), and the dropout backward then the batch-norm backward on its
 * output (dx set and accumulated, dγ, dβ); shapes with one channel per block and with several.
 * The mask drops about p of the elements, and a scale of 1 is the plain backward. */
static void test_bn_dropout_fused(void)
{
    const int shapes[2][3] = { { 4, 3, 30 }, { 3, 70, 7 } };       /* N, C, L */
    for (int si = 0; si < 2; si++)
        for (int set = 0; set < 2; set++) {
            const int N = shapes[si][0], C = shapes[si][1], L = shapes[si][2];
            const size_t n = (size_t)N * C * L;
            const float p = 0.4f;
            const uint64_t key = 0x1234567u + (uint64_t)si;
            float *x = randv(n, -1, 3), *g = randv((size_t)C, 0.5, 1.5), *b = randv((size_t)C, -1, 1);
            float *dy = randv(n, -1, 1), *dx0 = randv(n, -1, 1);
            float *y1 = malloc(n * sizeof *y1), *yb = malloc(n * sizeof *yb), *y2 = malloc(n * sizeof *y2);
            float *t = malloc(n * sizeof *t), *dx1 = copyv(dx0, n), *dx2 = copyv(dx0, n), *dx3 = copyv(dx0, n);
            uint8_t *keep = malloc(n);
            float *rm1 = randv((size_t)C, -1, 1), *rv1 = randv((size_t)C, 0.5, 2);
            float *rm2 = copyv(rm1, (size_t)C), *rv2 = copyv(rv1, (size_t)C);
            float *m1 = malloc((size_t)C * sizeof *m1), *s1 = malloc((size_t)C * sizeof *s1);
            float *m2 = malloc((size_t)C * sizeof *m2), *s2 = malloc((size_t)C * sizeof *s2);
            float *dg1 = calloc((size_t)C, sizeof *dg1), *db1 = calloc((size_t)C, sizeof *db1);
            float *dg2 = calloc((size_t)C, sizeof *dg2), *db2 = calloc((size_t)C, sizeof *db2);
            CU_ASSERT_FATAL(y1 && yb && y2 && t && dx1 && dx2 && dx3 && keep && m1 && s1 && m2 && s2 && dg1 && db1 &&
                            dg2 && db2);
            alig_nk_bn_forward_dropout(N, C, (size_t)L, x, g, b, 1e-5f, 0.1f, rm1, rv1, m1, s1, y1, NULL, 0, NULL, p,
                                       key);
            alig_nk_bn_forward(1, N, C, (size_t)L, x, g, b, 1e-5f, 0.1f, rm2, rv2, m2, s2, yb, 1);
            const size_t kept = alig_nk_dropout_forward(n, p, key, yb, keep, y2);
            CU_ASSERT(memcmp(y1, y2, n * sizeof *y1) == 0);
            CU_ASSERT(memcmp(rm1, rm2, (size_t)C * sizeof *rm1) == 0 && memcmp(rv1, rv2, (size_t)C * sizeof *rv1) == 0);
            CU_ASSERT(memcmp(m1, m2, (size_t)C * sizeof *m1) == 0 && memcmp(s1, s2, (size_t)C * sizeof *s1) == 0);
            CU_ASSERT(fabs((double)kept / (double)n - (1.0 - p)) < 0.06);
            alig_nk_bn_backward_scaled(1, N, C, (size_t)L, x, g, m1, s1, dy, y1, (float)(1.0 / (1.0 - p)), dx1, set,
                                       dg1, db1);
            alig_nk_dropout_backward(n, p, keep, dy, t, 1);
            alig_nk_bn_backward(1, N, C, (size_t)L, x, g, m2, s2, t, yb, dx2, set, dg2, db2);
            int same = 1;
            for (size_t i = 0; i < n; i++) same &= dx1[i] == dx2[i];
            for (int c = 0; c < C; c++) same &= dg1[c] == dg2[c] && db1[c] == db2[c];
            CU_ASSERT(same);
            /* ds = 1 is the plain backward, bit for bit */
            memcpy(dx1, dx0, n * sizeof *dx1);
            alig_nk_bn_backward_scaled(1, N, C, (size_t)L, x, g, m2, s2, dy, yb, 1.0f, dx1, set, NULL, NULL);
            alig_nk_bn_backward(1, N, C, (size_t)L, x, g, m2, s2, dy, yb, dx3, set, NULL, NULL);
            CU_ASSERT(memcmp(dx1, dx3, n * sizeof *dx1) == 0);
            free(x); free(g); free(b); free(dy); free(dx0); free(y1); free(yb); free(y2); free(t);
            free(dx1); free(dx2); free(dx3); free(keep); free(rm1); free(rv1); free(rm2); free(rv2);
            free(m1); free(s1); free(m2); free(s2); free(dg1); free(db1); free(dg2); free(db2);
        }
}

/* acc_rows in set mode writes what accumulating into zeros gives, -0 included; strided rows */
static void test_acc_rows_set(void)
{
    enum { R = 300, LEN = 70, LD = 90 };      /* R·LEN above the threading threshold? either way */
    float *src = malloc(R * LD * sizeof *src), *a = malloc(R * LEN * sizeof *a), *b = malloc(R * LEN * sizeof *b);
    CU_ASSERT_FATAL(src && a && b);
    for (size_t i = 0; i < (size_t)R * LD; i++) src[i] = i % 5 == 0 ? -0.0f : (float)sin(0.3 * (double)i);
    for (size_t i = 0; i < (size_t)R * LEN; i++) a[i] = 0.0f, b[i] = NAN;
    alig_nk_acc_rows(R, LEN, src + 3, LD, a, LEN);
    alig_nk_acc_rows_set(R, LEN, src + 3, LD, b, LEN, 1);
    CU_ASSERT(memcmp(a, b, R * LEN * sizeof *a) == 0);
    alig_nk_acc_rows(R, LEN, src, LD, a, LEN);
    alig_nk_acc_rows_set(R, LEN, src, LD, b, LEN, 0);
    CU_ASSERT(memcmp(a, b, R * LEN * sizeof *a) == 0);
    int negzero = 0;
    for (size_t i = 0; i < (size_t)R * LEN; i++) negzero += signbit(b[i]) && b[i] == 0.0f;
    CU_ASSERT(negzero == 0);        /* 0 + (−0) is +0: no signed zero survives the set */
    free(src); free(a); free(b);
}

/* ------------------------------------------------------------------ thread-count invariance */

/* alig_nk_zero: every element in [0, n) becomes 0, the guard cells around it stay; sizes below,
 * at and above the threaded threshold, not multiples of the 4096-float chunk. */
static void test_zero(void)
{
    const size_t sizes[] = { 1, 4095, 4097, 4 * (size_t)ALIG_NK_PAR_MIN + 123 };
    for (int k = 0; k < 4; k++) {
        const size_t n = sizes[k];
        float *b = malloc((n + 2) * sizeof *b);
        CU_ASSERT_FATAL(b != NULL);
        for (size_t i = 0; i < n + 2; i++) b[i] = 1.0f + (float)(i % 7);
        alig_nk_zero(n, b + 1);
        size_t bad = 0;
        for (size_t i = 1; i <= n; i++) bad += b[i] != 0.0f;
        CU_ASSERT(bad == 0);
        CU_ASSERT(b[0] == 1.0f && b[n + 1] == 1.0f + (float)((n + 1) % 7));
        free(b);
    }
}

#ifdef _OPENMP
static void test_threads(void)
{
    const int saved = omp_get_max_threads();
    alig_nk_conv s = make_conv(&(conv_case){ 8, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1 });
    alig_nk_pool ps = make_pool(&(pool_case){ 8, 16, 16, 16, 2, 2, 2, 2, 0, 0 });
    const size_t xs = (size_t)s.N * s.C * s.H * s.W, wsz = (size_t)s.K * s.C * 9, ys = (size_t)s.N * s.K * s.P * s.Q;
    const size_t pys = (size_t)ps.N * ps.C * ps.P * ps.Q;
    float *x = randv(xs, -1, 1), *w = randv(wsz, -1, 1), *dy = randv(ys, -1, 1), *pdy = randv(pys, -1, 1);
    float *out[2][8];
    float *ws = malloc(alig_nk_conv_ws(&s, 2, 2) * sizeof *ws);
    int32_t *arg = malloc(pys * sizeof *arg);
    CU_ASSERT_FATAL(ws && arg);
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        float **o = out[t];
        o[0] = calloc(ys, sizeof(float)); o[1] = calloc(xs, sizeof(float)); o[2] = calloc(wsz, sizeof(float));
        o[3] = calloc(pys, sizeof(float)); o[4] = calloc(xs, sizeof(float)); o[5] = calloc(xs, sizeof(float));
        o[6] = calloc(xs, sizeof(float)); o[7] = calloc(64, sizeof(float));
        /* the block-parallel plan with up to 2 slots: with 1 thread only slot 0 works */
        alig_nk_conv2d_forward(&s, x, w, NULL, o[0], ws, 2, 2);
        alig_nk_conv2d_backward(&s, x, w, dy, o[1], o[2], NULL, ws, 2, 2);
        alig_nk_maxpool_forward(&ps, x, o[3], arg);
        alig_nk_maxpool_backward(&ps, pdy, arg, o[4]);
        float rm[16] = { 0 }, rv[16], mean[16], inv[16];
        for (int c = 0; c < 16; c++) rv[c] = 1.0f;
        alig_nk_bn_forward(1, s.N, s.C, (size_t)s.H * s.W, x, NULL, NULL, 1e-5f, 0.1f, rm, rv, mean, inv, o[5], 1);
        alig_nk_bn_backward(1, s.N, s.C, (size_t)s.H * s.W, x, NULL, mean, inv, o[5], o[5], o[6], 0, NULL, NULL);
        o[7][0] = (float)alig_nk_sum(xs, x);
        alig_nk_dropout_mask(60, 0.5f, 99, o[7] + 1);
        o[7][61] = rm[3];
        o[7][62] = rv[5];
    }
    omp_set_num_threads(saved);
    const size_t sz[8] = { ys, xs, wsz, pys, xs, xs, xs, 64 };
    const char *name[8] = { "conv fwd", "conv dx", "conv dw", "maxpool fwd", "maxpool bwd", "bn fwd", "bn bwd", "sum/mask/stats" };
    for (int k = 0; k < 8; k++) {
        /* conv goes through OpenBLAS sgemm, which may split its sums differently: tolerance;
         * everything else is ours and must be bitwise identical */
        if (k < 3) CHECK_CLOSE(out[0][k], out[1][k], sz[k], 1e-6, "1 vs 2 threads: %s", name[k]);
        else {
            int same = memcmp(out[0][k], out[1][k], sz[k] * sizeof(float)) == 0;
            printf("  1 vs 2 threads: %-28s %s\n", name[k], same ? "bitwise equal" : "DIFFERENT");
            CU_ASSERT(same);
        }
        free(out[0][k]); free(out[1][k]);
    }
    free(x); free(w); free(dy); free(pdy); free(ws); free(arg);
}
#endif

#ifdef _OPENMP
/* Convolution under a fixed plan, 1 vs 2 threads, on each path: the slots split the work, not
 * the threads, so the results are bitwise equal as long as every sgemm runs single-threaded
 * (OpenMP or sequential OpenBLAS); with a pthreads OpenBLAS, only within rounding. */
static void test_conv_threads(void)
{
    const int saved = omp_get_max_threads(), exact = alig_nk_blas_nests();
    const conv_case cases[3] = {
        { 7, 6, 9, 9, 8, 3, 3, 2, 2, 1, 1 },    /* phase planes + sgemm by blocks */
        { 7, 6, 9, 9, 8, 1, 1, 1, 1, 0, 0 },    /* 1×1 in place */
        { 7, 6, 9, 9, 8, 1, 1, 2, 2, 0, 0 },    /* 1×1 subsampled */
    };
    for (int ci = 0; ci < 3; ci++) {
        alig_nk_conv s = make_conv(&cases[ci]);
        const size_t xs = (size_t)s.N * s.C * s.H * s.W, wsz = (size_t)s.K * s.C * s.R * s.S;
        const size_t ys = (size_t)s.N * s.K * s.P * s.Q;
        float *x = randv(xs, -1, 1), *w = randv(wsz, -1, 1), *b = randv((size_t)s.K, -1, 1), *dy = randv(ys, -1, 1);
        float *ws = randv(alig_nk_conv_ws(&s, 2, 3), 0, 1);
        float *out[2][4];
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            out[t][0] = randv(ys, 0, 1);
            out[t][1] = calloc(xs, sizeof(float));
            out[t][2] = calloc(wsz, sizeof(float));
            out[t][3] = calloc((size_t)s.K, sizeof(float));
            CU_ASSERT_FATAL(out[t][1] && out[t][2] && out[t][3]);
            alig_nk_conv2d_forward(&s, x, w, b, out[t][0], ws, 2, 3);
            alig_nk_conv2d_backward(&s, x, w, dy, out[t][1], out[t][2], out[t][3], ws, 2, 3);
        }
        omp_set_num_threads(saved);
        const size_t sz[4] = { ys, xs, wsz, (size_t)s.K };
        const char *name[4] = { "y", "dx", "dw", "db" };
        for (int k = 0; k < 4; k++) {
            const int same = memcmp(out[0][k], out[1][k], sz[k] * sizeof(float)) == 0;
            printf("  1 vs 2 threads: conv case %d %-3s %s\n", ci, name[k], same ? "bitwise equal" : "different");
            if (exact) {
                CU_ASSERT(same);
            } else {
                CU_ASSERT(rel_diff(out[0][k], out[1][k], sz[k]) <= 1e-6);
            }
            free(out[0][k]); free(out[1][k]);
        }
        free(x); free(w); free(b); free(dy); free(ws);
    }
}
#endif

int main(void)
{
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return 2;
    gsl_rng_set(rng, 20240611);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("kernels", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "gemm vs naive", test_gemm);
    CU_add_test(s, "output lengths", test_out_len);
    CU_add_test(s, "im2col / col2im vs naive, adjoint", test_im2col);
    CU_add_test(s, "conv2d forward vs direct", test_conv_forward);
    CU_add_test(s, "conv2d backward vs direct", test_conv_backward);
    CU_add_test(s, "conv2d plans", test_conv_plan);
    CU_add_test(s, "conv2d hand example", test_conv_hand);
    CU_add_test(s, "maxpool vs naive (ties)", test_maxpool);
    CU_add_test(s, "relu backward, accumulate and set", test_relu_backward);
    CU_add_test(s, "avgpool vs naive", test_avgpool);
    CU_add_test(s, "batchnorm vs naive", test_batchnorm);
    CU_add_test(s, "batchnorm with handed-on statistics", test_bn_known_stats);
    CU_add_test(s, "batchnorm channel blocks = one channel at a time", test_bn_channel_blocks);
    CU_add_test(s, "batchnorm + ReLU + dropout fused = the three in sequence", test_bn_dropout_fused);
    CU_add_test(s, "deterministic sum", test_sum);
    CU_add_test(s, "bias gradient, softmax CE, hinge vs naive", test_bias_losses);
    CU_add_test(s, "dropout mask, byte-mask passes", test_dropout_mask);
    CU_add_test(s, "acc_rows set mode", test_acc_rows_set);
    CU_add_test(s, "zero (threaded memset)", test_zero);
#ifdef _OPENMP   /* without OpenMP there is one thread count only: not registered, not counted */
    CU_add_test(s, "1 vs 2 threads", test_threads);
    CU_add_test(s, "conv2d: 1 vs 2 threads, fixed plan", test_conv_threads);
#endif
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    gsl_rng_free(rng);
    return (failed || ran == 0) ? 1 : 0;
}
