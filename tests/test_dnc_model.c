/* test_dnc_model.c - the whole DNC (include/alig/dnc.h) against an independent double-precision
 * implementation written in this file from the published equations (deepmind/dnc; Graves et al.
 * 2016), sharing no code with nets/.
 *
 * The reference (ref_loss) runs one batch through the same architecture in double: LSTM controller
 * with forget bias +1 and clipped state, the ten interface layers, usage, content lookups,
 * allocation by sorting the free list, write weights, erase-then-add, temporal link with a zero
 * diagonal, precedence, forward/backward/content reads and the clipped output, and the masked
 * sigmoid cross-entropy divided by B. Checks:
 *   - the flat parameter count at the paper's sizes is 43,980;
 *   - the float model's loss equals the double reference's to LOSS_TOL relative;
 *   - with full_gradient = 1 the float gradient equals central differences of the double loss
 *     (h = 1e-6·max(1, |x_i|)) to GTOL relative to each tensor's ‖d_T‖∞, or to FLOOR·‖d‖∞ where that
 *     is larger (measured: 1.4e-6 full, 2.3e-6 with the stop-gradient), on every coordinate;
 *   - with the reference's stop-gradient (full_gradient = 0) it equals central differences of a
 *     reference whose usage update reads the previous write weights FROZEN at their unperturbed
 *     values (the constant the stop-gradient makes of them), and differs from the full derivative
 *     (contrast: the two gradients are not the same function; measured 0.02-0.04 apart);
 *   - a 0.5% error in the gradient fails the comparison (negative control).
 * The sizes are small (B = 2, N = 4, W = 3, R = 2, H = 5, T = 5) so every coordinate is checked in
 * seconds, and the weights are drawn wider than the default initialisation so that the gates,
 * the memory and the link carry non-trivial values by the last step. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "alig/dnc.h"

#define LOSS_TOL 1e-5
#define GTOL 2e-5
#define FLOOR 1e-3
#define EPS 1e-6

enum { TB = 2, TX = 3, TY = 2, TH = 5, TN = 4, TW = 3, TR = 2, TT = 5 };

/* ====================================================================== double reference */

typedef struct ref_model {
    int B, X, Y, H, N, W, R;
    double clip;
    const double *x;        /* flat parameters, dnc.h order */
} ref_model;

static double sig(double z) { return 1.0 / (1.0 + exp(-z)); }
static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }
static double clampd(double v, double c) { return v < -c ? -c : v > c ? c : v; }

/* out[w] = Σ_i in[i]·Wm[i, w] + b[w]; Wm is [fi, fo] row-major */
static void lin(const double *in, int fi, const double *Wm, const double *b, int fo, double *out)
{
    for (int o = 0; o < fo; o++) {
        double s = b[o];
        for (int i = 0; i < fi; i++) s += in[i] * Wm[(size_t)i * fo + o];
        out[o] = s;
    }
}

/* softmax over N of softplus(beta)·cos(key, M_i) with both epsilons */
static void content(const double *key, double beta, const double *M, int N, int W, double *out)
{
    double kn = 0;
    for (int w = 0; w < W; w++) kn += key[w] * key[w];
    kn = sqrt(kn + EPS);
    double mx = -INFINITY;
    const double sb = softplus(beta);
    for (int i = 0; i < N; i++) {
        double dot = 0, mn = 0;
        for (int w = 0; w < W; w++) {
            dot += key[w] * M[i * W + w];
            mn += M[i * W + w] * M[i * W + w];
        }
        out[i] = sb * dot / (kn * sqrt(mn + EPS) + EPS);
        if (out[i] > mx) mx = out[i];
    }
    double s = 0;
    for (int i = 0; i < N; i++) s += out[i] = exp(out[i] - mx);
    for (int i = 0; i < N; i++) out[i] /= s;
}

/* Loss of one batch. frozen_ww: NULL = the previous write weights enter the usage as they are
 * (the full derivative); otherwise [T][B][N] values used instead (the stop-gradient's constant).
 * record_ww: if not NULL, receives the write weights of every step. */
static double ref_loss(const ref_model *m, int T, const float *obs, const float *targ, const float *mask,
                       const double *frozen_ww, double *record_ww)
{
    const int B = m->B, X = m->X, Y = m->Y, H = m->H, N = m->N, W = m->W, R = m->R;
    const int FI = X + R * W + H;
    const int width[10] = { W, W, R, 1, 1, 3 * R, W, 1, R * W, R };
    const double *p = m->x;
    const double *Wg = p, *bg = Wg + (size_t)FI * 4 * H;
    p = bg + 4 * H;
    const double *Wi[10], *bi[10];
    for (int k = 0; k < 10; k++) {
        Wi[k] = p;
        bi[k] = p + (size_t)H * width[k];
        p = bi[k] + width[k];
    }
    const double *Wo = p, *bo = Wo + (size_t)(H + R * W) * Y;

    double total = 0;
    for (int b = 0; b < B; b++) {
        double r[64] = { 0 }, h[64] = { 0 }, c[64] = { 0 }, M[256] = { 0 }, u[16] = { 0 }, ww[16] = { 0 },
               pr[16] = { 0 }, wr[64] = { 0 }, L[256] = { 0 };
        for (int t = 0; t < T; t++) {
            double xin[128], z[256], o[10][64];
            for (int i = 0; i < X; i++) xin[i] = obs[((size_t)t * B + b) * X + i];
            for (int i = 0; i < R * W; i++) xin[X + i] = r[i];
            for (int i = 0; i < H; i++) xin[X + R * W + i] = h[i];
            lin(xin, FI, Wg, bg, 4 * H, z);
            for (int i = 0; i < H; i++) {
                const double cn = sig(z[2 * H + i] + 1.0) * c[i] + sig(z[i]) * tanh(z[H + i]);
                const double hn = tanh(cn) * sig(z[3 * H + i]);
                h[i] = clampd(hn, m->clip);
                c[i] = clampd(cn, m->clip);
            }
            for (int k = 0; k < 10; k++) lin(h, H, Wi[k], bi[k], width[k], o[k]);
            double e[64], fg[16], modes[16][3];
            for (int w = 0; w < W; w++) e[w] = sig(o[1][w]);
            for (int q = 0; q < R; q++) fg[q] = sig(o[2][q]);
            const double ga = sig(o[3][0]), gw = sig(o[4][0]);
            for (int q = 0; q < R; q++) {
                double mx = fmax(o[5][3 * q], fmax(o[5][3 * q + 1], o[5][3 * q + 2])), s = 0;
                for (int k = 0; k < 3; k++) s += modes[q][k] = exp(o[5][3 * q + k] - mx);
                for (int k = 0; k < 3; k++) modes[q][k] /= s;
            }
            /* usage from the previous weights */
            const double *wwp = frozen_ww ? frozen_ww + ((size_t)(t ? t - 1 : 0) * B + b) * N : ww;
            for (int i = 0; i < N; i++) {
                const double omega = t ? wwp[i] : 0.0;
                double psi = 1;
                for (int q = 0; q < R; q++) psi *= 1 - fg[q] * wr[q * N + i];
                u[i] = (u[i] + (1 - u[i]) * omega) * psi;
            }
            /* write content on M_{t-1}, allocation, write weights */
            double cw[16], a[16], uh[16];
            content(o[6], o[7][0], M, N, W, cw);
            int order[16];
            for (int i = 0; i < N; i++) {
                uh[i] = EPS + (1 - EPS) * u[i];
                order[i] = i;
            }
            for (int i = 1; i < N; i++)     /* insertion sort by usage ascending, stable: ties keep the lower slot first */
                for (int j = i; j > 0 && uh[order[j]] < uh[order[j - 1]]; j--) {
                    int tmp = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = tmp;
                }
            double prod = 1;
            for (int j = 0; j < N; j++) {
                a[order[j]] = (1 - uh[order[j]]) * prod;
                prod *= uh[order[j]];
            }
            for (int i = 0; i < N; i++) ww[i] = gw * (ga * a[i] + (1 - ga) * cw[i]);
            if (record_ww) memcpy(record_ww + ((size_t)t * B + b) * N, ww, (size_t)N * sizeof(double));
            /* erase then add */
            for (int i = 0; i < N; i++)
                for (int w = 0; w < W; w++) M[i * W + w] = M[i * W + w] * (1 - ww[i] * e[w]) + ww[i] * o[0][w];
            /* link with the previous precedence, then precedence */
            double sw = 0;
            for (int i = 0; i < N; i++) sw += ww[i];
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    L[i * N + j] = i == j ? 0.0 : (1 - ww[i] - ww[j]) * L[i * N + j] + ww[i] * pr[j];
            for (int i = 0; i < N; i++) pr[i] = (1 - sw) * pr[i] + ww[i];
            /* reads with the new link and the previous read weights */
            double nwr[64];
            for (int q = 0; q < R; q++) {
                double cr[16];
                content(o[8] + q * W, o[9][q], M, N, W, cr);
                for (int i = 0; i < N; i++) {
                    double fwd = 0, bwd = 0;
                    for (int j = 0; j < N; j++) {
                        fwd += L[i * N + j] * wr[q * N + j];
                        bwd += L[j * N + i] * wr[q * N + j];
                    }
                    nwr[q * N + i] = modes[q][0] * bwd + modes[q][1] * fwd + modes[q][2] * cr[i];
                }
            }
            memcpy(wr, nwr, (size_t)R * N * sizeof(double));
            for (int q = 0; q < R; q++)
                for (int w = 0; w < W; w++) {
                    double s = 0;
                    for (int i = 0; i < N; i++) s += wr[q * N + i] * M[i * W + w];
                    r[q * W + w] = s;
                }
            /* output and loss */
            double hin[128], y[16];
            for (int i = 0; i < H; i++) hin[i] = h[i];
            for (int i = 0; i < R * W; i++) hin[H + i] = r[i];
            lin(hin, H + R * W, Wo, bo, Y, y);
            const double mk = mask[(size_t)t * B + b];
            for (int k = 0; k < Y; k++) {
                const double yy = clampd(y[k], m->clip), zz = targ[((size_t)t * B + b) * Y + k];
                total += mk * (fmax(yy, 0) - yy * zz + log1p(exp(-fabs(yy)))) / B;
            }
        }
    }
    return total;
}

/* ====================================================================== fixtures */

static alig_dnc_config small_cfg(int full)
{
    return (alig_dnc_config){ .batch = TB, .in_dim = TX, .out_dim = TY, .hidden = TH, .mem_slots = TN, .word = TW,
                              .read_heads = TR, .max_T = 8, .clip = 20.0, .full_gradient = full };
}

static void random_batch(gsl_rng *r, float *obs, float *targ, float *mask)
{
    for (int i = 0; i < TT * TB * TX; i++) obs[i] = (float)gsl_ran_flat(r, -1, 1);
    for (int i = 0; i < TT * TB * TY; i++) targ[i] = (float)gsl_rng_uniform_int(r, 2);
    for (int i = 0; i < TT * TB; i++) mask[i] = i < TB ? 0.0f : (float)(0.5 + 0.5 * gsl_rng_uniform_int(r, 2));
}

static void test_param_count(void)
{
    alig_dnc *m = NULL;
    char err[200];
    CU_ASSERT_EQUAL_FATAL(alig_dnc_alloc(&m, NULL, err, sizeof err), ALIG_SUCCESS);
    /* LSTM (6 + 64 + 64)·256 + 256, interface 64·135 + 135, output 128·5 + 5 */
    CU_ASSERT_EQUAL(alig_dnc_n(m), (size_t)(134 * 256 + 256 + 64 * 135 + 135 + 128 * 5 + 5));
    CU_ASSERT_EQUAL(alig_dnc_n(m), 43980u);
    /* initialisation: truncated at 2σ, linear biases zero, LSTM bias not */
    CU_ASSERT_EQUAL(alig_dnc_init(m, 7), ALIG_SUCCESS);
    const float *x = alig_dnc_x(m);
    double mx = 0;
    for (size_t i = 0; i < 134 * 256; i++) mx = fmax(mx, fabs(x[i]));
    CU_ASSERT(mx <= 2.0 / sqrt(134.0) + 1e-7);
    CU_ASSERT(mx > 1.9 / sqrt(134.0));
    int nonzero = 0;
    for (size_t i = 134 * 256; i < 134 * 256 + 256; i++) nonzero += x[i] != 0.0f;
    CU_ASSERT(nonzero > 250);
    const float *out_b = x + 43980 - 5;
    for (int i = 0; i < 5; i++) CU_ASSERT_EQUAL(out_b[i], 0.0f);
    alig_dnc_free(m);
    /* bad sizes are refused */
    alig_dnc_config bad = small_cfg(0);
    bad.clip = -1;
    CU_ASSERT_EQUAL(alig_dnc_alloc(&m, &bad, err, sizeof err), ALIG_EBADLEN);
    CU_ASSERT_PTR_NULL(m);
}

/* max over tensors T of max_i |s·a_i − d_i| / max(‖d_T‖∞, FLOOR·‖d‖∞): each tensor against its own
 * scale, except that a tensor whose gradient is a thousand times below the largest is measured
 * against that floor (its float rounding is set by the large entries it is summed with);
 * *guard = the largest ‖d_T‖∞ / ‖d‖∞ ratio below 1 (how small the smallest-scale tensors are) */
static double per_tensor_err(alig_dnc *m, const float *a, const double *d, double scale, double *guard)
{
    alig_ad_params *P = alig_dnc_params(m);
    double worst = 0, dmax = 0;
    for (size_t i = 0; i < alig_dnc_n(m); i++) dmax = fmax(dmax, fabs(d[i]));
    *guard = INFINITY;
    for (int id = 0; id < alig_ad_params_count(P); id++) {
        size_t n = alig_ad_params_shape(P, id, NULL, NULL), off = alig_ad_params_offset(P, id);
        double dn = 0, e = 0;
        for (size_t i = 0; i < n; i++) dn = fmax(dn, fabs(d[off + i]));
        for (size_t i = 0; i < n; i++) e = fmax(e, fabs(scale * a[off + i] - d[off + i]));
        worst = fmax(worst, e / fmax(dn, FLOOR * dmax));
        *guard = fmin(*guard, dn / dmax);
    }
    return worst;
}

static void check_model(int full)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11 + (unsigned long)full);
    alig_dnc_config cfg = small_cfg(full);
    alig_dnc *m = NULL;
    char err[200];
    CU_ASSERT_EQUAL_FATAL(alig_dnc_alloc(&m, &cfg, err, sizeof err), ALIG_SUCCESS);
    const size_t n = alig_dnc_n(m);
    float *x = alig_dnc_x(m);
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian(r, 0.6);
    float obs[TT * TB * TX], targ[TT * TB * TY], mask[TT * TB];
    random_batch(r, obs, targ, mask);

    double loss;
    CU_ASSERT_EQUAL_FATAL(alig_dnc_gradient(m, TT, obs, targ, mask, &loss), ALIG_SUCCESS);
    const float *g = alig_dnc_g(m);

    double *xd = calloc(n, sizeof *xd), *d = calloc(n, sizeof *d);
    double frozen[TT * TB * TN];
    for (size_t i = 0; i < n; i++) xd[i] = x[i];
    ref_model rm = { TB, TX, TY, TH, TN, TW, TR, 20.0, xd };
    const double ref = ref_loss(&rm, TT, obs, targ, mask, NULL, frozen);
    printf("\n  dnc(full_gradient=%d): loss float %.9g double %.9g", full, loss, ref);
    CU_ASSERT(fabs(loss - ref) <= LOSS_TOL * fabs(ref));
    /* the write weights are not degenerate: some slot takes a real share at the last step */
    double wmax = 0;
    for (int i = 0; i < TB * TN; i++) wmax = fmax(wmax, frozen[(TT - 1) * TB * TN + i]);
    CU_ASSERT(wmax > 0.05);

    for (size_t i = 0; i < n; i++) {
        const double h = 1e-6 * fmax(1.0, fabs(xd[i])), x0 = xd[i];
        xd[i] = x0 + h;
        const double lp = ref_loss(&rm, TT, obs, targ, mask, full ? NULL : frozen, NULL);
        xd[i] = x0 - h;
        const double lm = ref_loss(&rm, TT, obs, targ, mask, full ? NULL : frozen, NULL);
        xd[i] = x0;
        d[i] = (lp - lm) / (2 * h);
    }
    double guard;
    const double e = per_tensor_err(m, g, d, 1.0, &guard);
    double dmax = 0;
    for (size_t i = 0; i < n; i++) dmax = fmax(dmax, fabs(d[i]));
    printf("; gradient: max per-tensor error %.3g over %zu coordinates, |d|inf %.3g", e, n, dmax);
    CU_ASSERT(e <= GTOL);
    CU_ASSERT(dmax > 1e-2);
    /* negative control: 0.5% off must fail */
    double dummy;
    CU_ASSERT(per_tensor_err(m, g, d, 1.005, &dummy) > GTOL);

    /* contrast: the other gradient (stop-gradient vs full) is another function */
    double *d2 = malloc(n * sizeof *d2);
    for (size_t i = 0; i < n; i++) {
        const double h = 1e-6 * fmax(1.0, fabs(xd[i])), x0 = xd[i];
        xd[i] = x0 + h;
        const double lp = ref_loss(&rm, TT, obs, targ, mask, full ? frozen : NULL, NULL);
        xd[i] = x0 - h;
        const double lm = ref_loss(&rm, TT, obs, targ, mask, full ? frozen : NULL, NULL);
        xd[i] = x0;
        d2[i] = (lp - lm) / (2 * h);
    }
    const double e2 = per_tensor_err(m, g, d2, 1.0, &dummy);
    printf("; against the other gradient %.3g", e2);
    CU_ASSERT(e2 > 10 * GTOL);

    free(d2);
    free(xd);
    free(d);
    alig_dnc_free(m);
    gsl_rng_free(r);
}

static void test_full_gradient(void) { check_model(1); }
static void test_stop_gradient(void) { check_model(0); }

/* Forward-only loss equals the gradient pass's loss; logits are clipped and the mask works:
 * a batch whose mask is zero has loss 0 and gradient 0. */
static void test_loss_and_mask(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    alig_dnc_config cfg = small_cfg(0);
    alig_dnc *m = NULL;
    CU_ASSERT_EQUAL_FATAL(alig_dnc_alloc(&m, &cfg, NULL, 0), ALIG_SUCCESS);
    const size_t n = alig_dnc_n(m);
    float *x = alig_dnc_x(m);
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian(r, 3.0);
    x[n - TY] = 40.0f;      /* output biases beyond the clip: those logits sit at ±20 */
    x[n - 1] = -40.0f;
    float obs[TT * TB * TX], targ[TT * TB * TY], mask[TT * TB], y[TT * TB * TY];
    random_batch(r, obs, targ, mask);
    double l1, l2;
    CU_ASSERT_EQUAL(alig_dnc_gradient(m, TT, obs, targ, mask, &l1), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_dnc_loss(m, TT, obs, targ, mask, &l2), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(l1, l2);
    CU_ASSERT_EQUAL(alig_dnc_logits(m, y), ALIG_SUCCESS);
    int at_clip = 0;
    for (int i = 0; i < TT * TB * TY; i++) {
        CU_ASSERT(fabsf(y[i]) <= 20.0f);
        at_clip += fabsf(y[i]) == 20.0f;
    }
    CU_ASSERT(at_clip > 0);
    memset(mask, 0, sizeof mask);
    CU_ASSERT_EQUAL(alig_dnc_gradient(m, TT, obs, targ, mask, &l1), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(l1, 0.0);
    const float *g = alig_dnc_g(m);
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += g[i] != 0.0f;
    CU_ASSERT_EQUAL(nz, 0u);
    /* T out of range */
    CU_ASSERT_EQUAL(alig_dnc_loss(m, 0, obs, targ, mask, &l1), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_dnc_loss(m, 9, obs, targ, mask, &l1), ALIG_EBADLEN);
    alig_dnc_free(m);
    gsl_rng_free(r);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("dnc model", NULL, NULL);
    CU_add_test(s, "parameter count and initialisation", test_param_count);
    CU_add_test(s, "loss and full gradient vs a double-precision DNC", test_full_gradient);
    CU_add_test(s, "loss and stop-gradient vs a double-precision DNC", test_stop_gradient);
    CU_add_test(s, "forward-only loss, clipped logits, mask", test_loss_and_mask);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
