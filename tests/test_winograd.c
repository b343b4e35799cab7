/* test_winograd.c - the F(2×2, 3×3) Winograd convolution (nets/winograd.c) against the direct
 * convolution reference alig_nk_conv2d_*_naive (plain loops, double accumulation):
 *   - forward, with and without bias, padding 0, 1 and 2, even and odd output sizes (the last
 *     tile half outside), one and several channels, chunks of 1, 2 and N images, 1 to 3 slots;
 *   - backward dx, dw, db, accumulated into non-zero gradients, each of them absent in turn;
 *   - the transforms' algebra on a hand case: a 4×4 input and a 3×3 filter of ones;
 *   - eligibility and the plan chooser's arithmetic (fits ws_avail);
 *   - with OpenMP: results for a fixed plan do not depend on whether the slots run in parallel
 *     except through the slot order of the weight-gradient sum (checked to float tolerance). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>

#include "nets/kernels.h"
#include "nets/winograd.h"

static gsl_rng *rng;

static float *randv(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    for (size_t i = 0; i < n; i++) v[i] = (float)(2.0 * gsl_rng_uniform(rng) - 1.0);
    return v;
}

static float *copyv(const float *a, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    CU_ASSERT_FATAL(v != NULL);
    memcpy(v, a, n * sizeof *v);
    return v;
}

/* largest |a − b| relative to the reference's largest magnitude; the reference must be non-trivial */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    CU_ASSERT(s > 1e-3);
    if (m != m) return INFINITY;
    return m / fmax(s, 1e-30);
}

/* Relative tolerance: a float sum of C·9 products of O(1) numbers, plus the transforms'
 * additions (at most 4 terms each way), against a double reference: 2e-5 leaves a wide
 * margin over the observed ~1e-6 while catching any wrong coefficient (errors of O(1)). */
#define TOL (M == 4 ? TOL4 : 2e-5)
/* F(4×4, 3×3) rounds more: its transforms scale values by up to 5·5 (B^T) and 8·8 (A^T) and G
 * holds 1/6, 1/12, 1/24, so a float error of a few units in the last place of the largest
 * transformed value reaches the output; measured ~1e-6 of the output's scale here. */
#define TOL4 2e-5

static int M = 2;   /* the tile size under test */

static alig_nk_conv shape(int N, int C, int H, int W, int K, int ph, int pw)
{
    alig_nk_conv s = { .N = N, .C = C, .H = H, .W = W, .K = K, .R = 3, .S = 3, .sh = 1, .sw = 1, .ph = ph, .pw = pw };
    s.P = alig_nk_out_len(H, 3, 1, ph);
    s.Q = alig_nk_out_len(W, 3, 1, pw);
    return s;
}

static const int cases[][7] = {
    /* N, C, H, W, K, ph, pw */
    { 1, 1, 4, 4, 1, 0, 0 },   /* one tile exactly */
    { 2, 3, 7, 7, 4, 1, 1 },   /* odd output: half tiles */
    { 3, 5, 8, 6, 2, 1, 1 },
    { 2, 4, 9, 5, 3, 0, 1 },   /* mixed padding, odd sizes */
    { 3, 2, 5, 6, 3, 2, 2 },   /* padding 2: output larger than input */
    { 4, 8, 14, 14, 6, 1, 1 },
    { 5, 3, 3, 3, 2, 0, 0 },   /* 1×1 output */
    { 2, 6, 13, 11, 5, 0, 2 },
    { 2, 19, 18, 19, 17, 1, 1 },   /* layout changes: whole 8 × 8 blocks (AVX path) and ragged edges */
    { 1, 16, 16, 16, 24, 1, 1 },   /* whole blocks only */
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static void test_forward(void)
{
    double worst = 0.0;
    for (int ci = 0; ci < NCASES; ci++) {
        const int *c = cases[ci];
        alig_nk_conv s = shape(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        CU_ASSERT_FATAL(alig_nk_wino_eligible(&s));
        const size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.K * s.C * 9, ny = (size_t)s.N * s.K * s.P * s.Q;
        float *x = randv(nx), *w = randv(nw), *b = randv((size_t)s.K);
        float *ref = malloc(ny * sizeof *ref), *y = malloc(ny * sizeof *y);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            alig_nk_conv2d_forward_naive(&s, x, w, with_bias ? b : NULL, ref);
            const int plans[][2] = { { 1, 1 }, { 2, 1 }, { s.N, 1 }, { 1, 2 }, { 2, 3 } };
            for (int pi = 0; pi < 5; pi++) {
                const int imgs = plans[pi][0], slots = plans[pi][1] > s.N ? s.N : plans[pi][1];
                float *ws = malloc(alig_nk_wino_ws(&s, M, imgs, slots) * sizeof *ws);
                for (size_t i = 0; i < ny; i++) y[i] = NAN;     /* every output must be written */
                alig_nk_wino_forward(&s, M, x, w, with_bias ? b : NULL, y, ws, imgs, slots);
                const double d = rel_diff(y, ref, ny);
                worst = fmax(worst, d);
                if (!(d < TOL))
                    printf("\n  forward case %d bias %d imgs %d slots %d: rel diff %.3g\n", ci, with_bias, imgs,
                           slots, d);
                CU_ASSERT(d < TOL);
                free(ws);
            }
        }
        free(x); free(w); free(b); free(ref); free(y);
    }
    printf("\n  F(%dx%d,3x3) forward: largest relative difference %.3g ", M, M, worst);
}

static void test_backward(void)
{
    double worst = 0.0;
    for (int ci = 0; ci < NCASES; ci++) {
        const int *c = cases[ci];
        alig_nk_conv s = shape(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        const size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.K * s.C * 9, ny = (size_t)s.N * s.K * s.P * s.Q;
        float *x = randv(nx), *w = randv(nw), *dy = randv(ny);
        float *dx0 = randv(nx), *dw0 = randv(nw), *db0 = randv((size_t)s.K);     /* accumulate into these */
        float *rdx = copyv(dx0, nx), *rdw = copyv(dw0, nw), *rdb = copyv(db0, (size_t)s.K);
        alig_nk_conv2d_backward_naive(&s, x, w, dy, rdx, rdw, rdb);
        for (size_t i = 0; i < nx; i++) rdx[i] -= dx0[i];   /* compare the increments */
        for (size_t i = 0; i < nw; i++) rdw[i] -= dw0[i];
        for (int k = 0; k < s.K; k++) rdb[k] -= db0[k];
        const int plans[][2] = { { 1, 1 }, { 2, 1 }, { s.N, 1 }, { 1, 2 }, { 2, 3 } };
        for (int pi = 0; pi < 5; pi++) {
            const int imgs = plans[pi][0], slots = plans[pi][1] > s.N ? s.N : plans[pi][1];
            float *ws = malloc(alig_nk_wino_ws(&s, M, imgs, slots) * sizeof *ws);
            for (int absent = -1; absent < 3; absent++) {   /* −1: all present; 0 dx, 1 dw, 2 db absent */
                float *dx = copyv(dx0, nx), *dw = copyv(dw0, nw), *db = copyv(db0, (size_t)s.K);
                alig_nk_wino_backward(&s, M, x, w, dy, absent == 0 ? NULL : dx, 0, absent == 1 ? NULL : dw,
                                      absent == 2 ? NULL : db, ws, imgs, slots);
                for (size_t i = 0; i < nx; i++) dx[i] -= dx0[i];
                for (size_t i = 0; i < nw; i++) dw[i] -= dw0[i];
                for (int k = 0; k < s.K; k++) db[k] -= db0[k];
                const float *cmp[3] = { dx, dw, db }, *ref[3] = { rdx, rdw, rdb };
                const size_t len[3] = { nx, nw, (size_t)s.K };
                for (int j = 0; j < 3; j++) {
                    if (j == absent) {      /* untouched: the increment is exactly 0 */
                        int zero = 1;
                        for (size_t i = 0; i < len[j]; i++) zero &= cmp[j][i] == 0.0f;
                        CU_ASSERT(zero);
                        continue;
                    }
                    const double d = rel_diff(cmp[j], ref[j], len[j]);
                    worst = fmax(worst, d);
                    if (!(d < TOL))
                        printf("\n  backward case %d plan %d/%d output %d absent %d: rel diff %.3g\n", ci, imgs, slots,
                               j, absent, d);
                    CU_ASSERT(d < TOL);
                }
                free(dx); free(dw); free(db);
            }
            {   /* dx_set: dx written, not added: starting from NaN, every element must be replaced */
                float *dx = malloc(nx * sizeof *dx);
                for (size_t i = 0; i < nx; i++) dx[i] = NAN;
                alig_nk_wino_backward(&s, M, x, w, dy, dx, 1, NULL, NULL, ws, imgs, slots);
                const double d = rel_diff(dx, rdx, nx);
                worst = fmax(worst, d);
                CU_ASSERT(d < TOL);
                free(dx);
            }
            free(ws);
        }
        free(x); free(w); free(dy); free(dx0); free(dw0); free(db0); free(rdx); free(rdw); free(rdb);
    }
    printf("\n  F(%dx%d,3x3) backward: largest relative difference %.3g ", M, M, worst);
}

/* Hand case: x = 4×4 with x[i][j] = 4i + j, w = ones, no padding: y (2×2) holds the 3×3 window
 * sums 45, 54, 81, 90; with dy = ones, dw[r][s] = Σ of the 2×2 block at (r, s) and dx[i][j]
 * counts the windows covering (i, j). */
static void test_hand(void)
{
    alig_nk_conv s = shape(1, 1, 4, 4, 1, 0, 0);
    float x[16], w[9], y[4], dy[4] = { 1, 1, 1, 1 }, dx[16] = { 0 }, dw[9] = { 0 }, db[1] = { 0 };
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    for (int i = 0; i < 9; i++) w[i] = 1.0f;
    float *ws = malloc(alig_nk_wino_ws(&s, M, 1, 1) * sizeof *ws);
    CU_ASSERT_FATAL(ws != NULL);
    alig_nk_wino_forward(&s, M, x, w, NULL, y, ws, 1, 1);
    const float ey[4] = { 45, 54, 81, 90 };
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(y[i], ey[i], 1e-5);
    alig_nk_wino_backward(&s, M, x, w, dy, dx, 0, dw, db, ws, 1, 1);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
            const float e = x[4 * r + c] + x[4 * r + c + 1] + x[4 * (r + 1) + c] + x[4 * (r + 1) + c + 1];
            CU_ASSERT_DOUBLE_EQUAL(dw[3 * r + c], e, 1e-5);
        }
    const float cover[4] = { 1, 2, 2, 1 };
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) CU_ASSERT_DOUBLE_EQUAL(dx[4 * i + j], cover[i] * cover[j], 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(db[0], 4.0, 0);
    free(ws);
}

static void test_plan(void)
{
    alig_nk_conv s = shape(128, 32, 28, 28, 32, 1, 1);
    CU_ASSERT(alig_nk_wino_eligible(&s));
    alig_nk_conv t = s;
    t.sh = 2;
    CU_ASSERT(!alig_nk_wino_eligible(&t));
    t = s; t.R = 1; t.S = 1;
    CU_ASSERT(!alig_nk_wino_eligible(&t));
    t = s; t.ph = 3;
    CU_ASSERT(!alig_nk_wino_eligible(&t));
    int imgs, slots;
    alig_nk_wino_plan(&s, 2, 2, (size_t)1 << 18, 0, &imgs, &slots);
    CU_ASSERT(slots == 2 && imgs >= 1 && imgs <= 64);
    /* one image is 16·(32+32)·196 floats + a plane: above 1<<18, so one image per chunk */
    CU_ASSERT(imgs == 1);
    const size_t avail = alig_nk_wino_ws(&s, 2, 1, 1);
    alig_nk_wino_plan(&s, 2, 4, (size_t)1 << 22, avail, &imgs, &slots);
    CU_ASSERT(alig_nk_wino_ws(&s, 2, imgs, slots) <= avail);
    CU_ASSERT(slots == 1 && imgs == 1);
    alig_nk_conv small = shape(3, 2, 6, 6, 2, 1, 1);
    alig_nk_wino_plan(&small, 2, 8, (size_t)1 << 20, 0, &imgs, &slots);
    CU_ASSERT(slots == 3 && imgs == 1);     /* never more slots than images, chunks ⌈N/slots⌉ at most */
    /* small images, many channels: at least K·C/(K + C) = 128 tiles a chunk. 8×8 outputs are 16
     * F(2×2) tiles per image, so 8 images although one (16·(256+256)·16 floats) is above the target */
    alig_nk_conv deep = shape(128, 256, 8, 8, 256, 1, 1);
    alig_nk_wino_plan(&deep, 2, 2, (size_t)1 << 18, 0, &imgs, &slots);
    CU_ASSERT(slots == 2 && imgs == 8);
    alig_nk_wino_plan(&deep, 4, 2, (size_t)1 << 18, 0, &imgs, &slots);
    CU_ASSERT(slots == 2 && imgs == 32);    /* F(4×4): 4 tiles per image */
    alig_nk_conv few = shape(3, 256, 8, 8, 256, 1, 1);
    alig_nk_wino_plan(&few, 2, 2, (size_t)1 << 18, 0, &imgs, &slots);
    CU_ASSERT(slots == 2 && imgs == 2);     /* ⌈3/2⌉ images at most */
    const size_t room = alig_nk_wino_ws(&deep, 2, 3, 2);
    alig_nk_wino_plan(&deep, 2, 2, (size_t)1 << 18, room, &imgs, &slots);
    /* the scratch available wins: fewer chunks in flight first, then fewer images */
    CU_ASSERT(alig_nk_wino_ws(&deep, 2, imgs, slots) <= room && (slots == 1 || imgs < 8));
}

static void test_hand4(void) { M = 4; test_hand(); M = 2; }
static void test_forward4(void) { M = 4; test_forward(); M = 2; }
static void test_backward4(void) { M = 4; test_backward(); M = 2; }

int main(void)
{
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 20261128);
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("winograd F(2x2,3x3)", NULL, NULL);
    CU_add_test(s, "hand case", test_hand);
    CU_add_test(s, "forward vs direct", test_forward);
    CU_add_test(s, "backward vs direct", test_backward);
    CU_add_test(s, "eligibility and plan", test_plan);
    CU_add_test(s, "F(4x4,3x3) hand case", test_hand4);
    CU_add_test(s, "F(4x4,3x3) forward vs direct", test_forward4);
    CU_add_test(s, "F(4x4,3x3) backward vs direct", test_backward4);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    gsl_rng_free(rng);
    return fails ? 1 : 0;
}
