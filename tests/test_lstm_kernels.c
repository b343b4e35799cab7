/* test_lstm_kernels.c - the fused LSTM cell's kernels (nets/lstm_kernels.c).
 *
 * 1. σ and tanh as the cell evaluates them (a polynomial exp in double, rounded once to float)
 *    against libm in double rounded to float, (float)(1/(1 + exp(−x))) and (float)tanh(x): on
 *    about 4.3 million floats spread over the whole finite range (every 1009th bit pattern) and
 *    on every float in [−1/8, 1/8]'s neighbourhood of the formula switch at |x| = 1/16 (a dense
 *    run of 200,000 floats each side). Tolerance: at most 1 ulp anywhere (the double value is
 *    within 1e-13 relative of the exact one, so the rounding can differ only next to a rounding
 *    boundary), and at least 99.99 % of the values identical. Special values by hand: ±0 keep
 *    their sign in tanh, σ(0) = 1/2, NaN stays NaN, ±inf and ±1e30 saturate (σ → 0 or 1,
 *    tanh → ±1).
 * 2. The cell's forward against a plain loop written here with libm in double (gates, c, h) at
 *    B = 3, H = 5 and at the DNC's 16 × 64, with and without a previous state: within 2 ulp-ish
 *    (2e-7 relative of max(1, |value|)), and its backward against the closed-form derivatives
 *    of that reference, accumulated (+=) and written (=) over NaN. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nets/lstm_kernels.h"

static int32_t ord(float x)     /* a monotone integer image of the floats (−0 and +0 both 0) */
{
    int32_t i;
    memcpy(&i, &x, sizeof i);
    return i < 0 ? (int32_t)(INT32_MIN - i) : i;
}

static long ulps(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0 : 1L << 40;
    return labs((long)ord(a) - (long)ord(b));
}

static float ref_sigm(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }
static float ref_tanh(float x) { return (float)tanh((double)x); }

static void check_point(float x, long *n, long *same, long *worst)
{
    const float s = alig_nk_lstm_sigmoid(x), t = alig_nk_lstm_tanh(x);
    const long us = ulps(s, ref_sigm(x)), ut = ulps(t, ref_tanh(x));
    *n += 2;
    *same += (us == 0) + (ut == 0);
    if (us > *worst) *worst = us;
    if (ut > *worst) *worst = ut;
}

static void test_sigmoid_tanh_vs_libm(void)
{
    long n = 0, same = 0, worst = 0;
    for (uint64_t u = 0; u < UINT64_C(0x100000000); u += 1009) {
        const uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, sizeof x);
        if (isfinite(x)) check_point(x, &n, &same, &worst);
    }
    /* the switch between the series and (e − 1)/(e + 1) at |x| = 1/16 */
    for (int sgn = -1; sgn <= 1; sgn += 2) {
        float x = (float)sgn * 0.0625f;
        for (int k = 0; k < 200000; k++) x = nextafterf(x, 0.0f);
        for (int k = 0; k < 400000; k++) {
            check_point(x, &n, &same, &worst);
            x = nextafterf(x, (float)sgn);
        }
    }
    printf("  %ld values: %ld identical to libm (double) rounded to float, worst %ld ulp\n", n, same, worst);
    CU_ASSERT(worst <= 1);
    CU_ASSERT((double)same >= 0.9999 * (double)n);

    /* by hand */
    CU_ASSERT(alig_nk_lstm_sigmoid(0.0f) == 0.5f);
    CU_ASSERT(alig_nk_lstm_tanh(0.0f) == 0.0f && !signbit(alig_nk_lstm_tanh(0.0f)));
    CU_ASSERT(alig_nk_lstm_tanh(-0.0f) == 0.0f && signbit(alig_nk_lstm_tanh(-0.0f)));
    CU_ASSERT(isnan(alig_nk_lstm_sigmoid(NAN)) && isnan(alig_nk_lstm_tanh(NAN)));
    CU_ASSERT(alig_nk_lstm_sigmoid(INFINITY) == 1.0f && alig_nk_lstm_sigmoid(-INFINITY) == 0.0f);
    CU_ASSERT(alig_nk_lstm_sigmoid(1e30f) == 1.0f && alig_nk_lstm_sigmoid(-1e30f) == 0.0f);
    CU_ASSERT(alig_nk_lstm_tanh(INFINITY) == 1.0f && alig_nk_lstm_tanh(-INFINITY) == -1.0f);
    CU_ASSERT(alig_nk_lstm_tanh(1e30f) == 1.0f && alig_nk_lstm_tanh(-1e30f) == -1.0f);
    CU_ASSERT(alig_nk_lstm_tanh(1e-30f) == 1e-30f);                 /* tanh x = x to float precision */
    CU_ASSERT(alig_nk_lstm_sigmoid(-100.0f) == ref_sigm(-100.0f));   /* 3.7e-44, a subnormal */
}

static uint64_t rs = 88172645463325252ULL;
static float urand(float lo, float hi)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return lo + (hi - lo) * (float)((rs >> 11) * (1.0 / 9007199254740992.0));
}

static int close_to(double a, double ref, double rel) { return fabs(a - ref) <= rel * fmax(1.0, fabs(ref)); }

static void check_cell(int B, int H, int with_prev)
{
    const float fb = 1.0f;
    const size_t nz = (size_t)B * 4 * H, ns = (size_t)B * 2 * H;
    float *z = malloc(nz * sizeof *z), *cp = malloc(ns * sizeof *cp), *out = malloc(ns * sizeof *out);
    float *work = malloc((size_t)B * 5 * H * sizeof *work), *dout = malloc(ns * sizeof *dout);
    float *dz = malloc(nz * sizeof *dz), *dz0 = malloc(nz * sizeof *dz0), *dcp = malloc(ns * sizeof *dcp);
    float *dcp0 = malloc(ns * sizeof *dcp0);
    CU_ASSERT_FATAL(z && cp && out && work && dout && dz && dz0 && dcp && dcp0);
    for (size_t i = 0; i < nz; i++) z[i] = urand(-6.0f, 6.0f);
    for (size_t i = 0; i < ns; i++) {
        cp[i] = urand(-3.0f, 3.0f);
        dout[i] = urand(-1.0f, 1.0f);
        dcp0[i] = urand(-1.0f, 1.0f);
    }
    for (size_t i = 0; i < nz; i++) dz0[i] = urand(-1.0f, 1.0f);
    const float *cpp = with_prev ? cp : NULL;
    alig_nk_lstm_cell_forward(B, H, fb, z, cpp, out, work);
    long bad_f = 0, bad_b = 0, bad_set = 0;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0 accumulates onto dz0 / dcp0, pass 1 writes dz over NaN */
        for (size_t i = 0; i < nz; i++) dz[i] = pass ? NAN : dz0[i];
        memcpy(dcp, dcp0, ns * sizeof *dcp);
        alig_nk_lstm_cell_backward(B, H, cpp, work, dout, dz, with_prev ? dcp : NULL, pass);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < H; k++) {
                const float *zb = z + (size_t)b * 4 * H;
                const double i = 1.0 / (1.0 + exp(-(double)zb[k])), j = tanh((double)zb[H + k]);
                const double f = 1.0 / (1.0 + exp(-((double)zb[2 * H + k] + fb)));
                const double o = 1.0 / (1.0 + exp(-(double)zb[3 * H + k]));
                const double c_prev = with_prev ? cp[(size_t)b * 2 * H + H + k] : 0.0;
                const double c = f * c_prev + i * j, tc = tanh(c), h = tc * o;
                const float *ob = out + (size_t)b * 2 * H;
                if (pass == 0) bad_f += !close_to(ob[k], h, 4e-7) + !close_to(ob[H + k], c, 4e-7);
                const double dh = dout[(size_t)b * 2 * H + k], dcn = dout[(size_t)b * 2 * H + H + k];
                const double dc = dcn + dh * o * (1.0 - tc * tc);
                const double g[4] = { dc * j * i * (1.0 - i), dc * i * (1.0 - j * j), dc * c_prev * f * (1.0 - f),
                                      dh * tc * o * (1.0 - o) };
                for (int q = 0; q < 4; q++) {
                    const size_t at = (size_t)b * 4 * H + (size_t)q * H + (size_t)k;
                    const double want = (pass ? 0.0 : dz0[at]) + g[q];
                    if (!close_to(dz[at], want, 2e-6)) *(pass ? &bad_set : &bad_b) += 1;
                }
                if (with_prev) {
                    const size_t at = (size_t)b * 2 * H + H + (size_t)k;
                    bad_b += !close_to(dcp[at], dcp0[at] + dc * f, 2e-6);
                    bad_b += dcp[(size_t)b * 2 * H + k] != dcp0[(size_t)b * 2 * H + k];   /* h half untouched */
                }
            }
    }
    printf("  B=%d H=%d prev=%d: forward %ld, backward (+=) %ld, backward (=) %ld mismatches\n", B, H, with_prev,
           bad_f, bad_b, bad_set);
    CU_ASSERT(bad_f == 0);
    CU_ASSERT(bad_b == 0);
    CU_ASSERT(bad_set == 0);
    free(z); free(cp); free(out); free(work); free(dout); free(dz); free(dz0); free(dcp); free(dcp0);
}

static void test_cell_vs_double(void)
{
    for (int prev = 0; prev < 2; prev++) {
        check_cell(3, 5, prev);
        check_cell(16, 64, prev);
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("lstm kernels", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "sigmoid and tanh vs libm in double", test_sigmoid_tanh_vs_libm);
    CU_add_test(s, "cell forward and backward vs a double reference", test_cell_vs_double);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures(), ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
