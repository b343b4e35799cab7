/* lstm_kernels.c - the fused LSTM cell (ops_lstm.c): per element of a row,
 *   i = σ(z_i), j = tanh(z_j), f = σ(z_f + fb), o = σ(z_o),  c = f·c_prev + i·j,  h = tanh(c)·o;
 * backward, with dc̃ = dc + dh·o·(1 − tanh²c):
 *   dz_i = dc̃·j·i(1 − i),  dz_j = dc̃·i·(1 − j²),  dz_f = dc̃·c_prev·f(1 − f),  dz_o = dh·tanh(c)·o(1 − o),
 *   dc_prev = dc̃·f.
 * σ and tanh are evaluated in double from one polynomial exp (alig_nk_lstm_sigmoid, alig_nk_lstm_tanh)
 * and rounded once to float, in loops that vectorise, instead of one libm call per element: the
 * results are the correctly rounded values except within about 10^-13 of a rounding boundary (the
 * sigmoid op's 1/(1 + expf(−x)) in float may differ from them by an ulp). Rows are independent; at
 * the DNC's size (16 × 64) one thread does the whole cell faster than a fork would. The forward keeps
 * tanh(c) next to the gates, so the backward reads it instead of evaluating it again. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dnc_addr_kernels.h"  /* ALIG_DNC_FOR_B, ALIG_DNC_HOT */
#include "kernels.h"
#include "lstm_kernels.h"

/* e^y in double for |y| <= 120 (callers clamp), branch-free so that a loop over it vectorises:
 * y = k·ln2 + r with k = nearest integer to y/ln2 (the 1.5·2^52 shift rounds it) and |r| <= ln2/2,
 * ln2 split in two so that r is exact to about 2^-60; e^r by its Taylor series to r^11 (remainder
 * below 0.347^12/12! < 2.1·10^-15 relative), then scaled by 2^k built in the exponent bits. The
 * relative error is below 10^-14, far below float's half ulp (3·10^-8). */
static inline double exp_lstm(double y)
{
    const double shift = 6755399441055744.0;                       /* 1.5·2^52 */
    const double kd = y * 1.4426950408889634 + shift;
    const double k = kd - shift;
    const double r = (y - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* unsigned: a NaN's bits give a garbage scale (times p = NaN: NaN), never an undefined shift */
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);                              /* low bits: k + 2^51 + 2^52 */
    bits = (bits - UINT64_C(0x4338000000000000) + 1023u) << 52;    /* the double 2^k */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* The two functions below run over arrays in passes, each a loop that GCC vectorises: a select whose
 * arm holds exp_lstm is not if-converted (the arm is sunk into a branch), so clamps and the choice
 * between formulas are passes of their own. y and x may be the same array. */

/* y = σ(x) = 1/(1 + e^{−x}), in double and rounded once to float (within 10^-13 relative of the exact
 * value before that rounding); x is clamped to [−110, 110] first (beyond, the float result is 0 or
 * 1 either way). A NaN stays NaN. */
static void sigmoid_rows(int n, const float *x, float *y, float shift)
{
    for (int k = 0; k < n; k++) {
        const float v = x[k] + shift;
        const float lo = v < -110.0f ? -110.0f : v;
        y[k] = lo > 110.0f ? 110.0f : lo;
    }
    for (int k = 0; k < n; k++) y[k] = (float)(1.0 / (1.0 + exp_lstm(-(double)y[k])));
}

/* y = tanh x, in double and rounded once to float: (e − 1)/(e + 1) with e = e^{2|x|} and x's sign
 * for |x| >= 1/16 (e − 1 >= 0.133 keeps the cancellation's loss below a factor 9), an odd Taylor
 * series to x^9 below (remainder under 0.0089·x^10 relative, 8·10^-15); x clamped to [−20, 20]
 * (tanh 20 rounds to 1 in float). A NaN stays NaN. */
static void tanh_rows(int n, const float *x, float *y)
{
    enum { CH = 64 };
    float t[CH];                                   /* the series' values of one chunk */
    for (int k0 = 0; k0 < n; k0 += CH) {
        const int m = n - k0 < CH ? n - k0 : CH;
        const float *xc = x + k0;
        float *yc = y + k0;
        for (int k = 0; k < m; k++) {              /* clamp */
            const float v = xc[k];
            const float lo = v < -20.0f ? -20.0f : v;
            t[k] = lo > 20.0f ? 20.0f : lo;
        }
        for (int k = 0; k < m; k++) {              /* (e − 1)/(e + 1) with x's sign */
            const double v = t[k], e = exp_lstm(2.0 * fabs(v));
            yc[k] = (float)copysign((e - 1.0) / (e + 1.0), v);
        }
        for (int k = 0; k < m; k++) {              /* the series (|t| <= 20: finite) */
            const double v = t[k], q = v * v;
            t[k] = (float)(v * (1.0 + q * (-1.0 / 3.0 + q * (2.0 / 15.0 + q * (-17.0 / 315.0 + q * (62.0 / 2835.0))))));
        }
        for (int k = 0; k < m; k++) yc[k] = fabsf(xc[k]) < 0.0625f ? t[k] : yc[k];
    }
}

float alig_nk_lstm_sigmoid(float x)
{
    float y;
    sigmoid_rows(1, &x, &y, 0.0f);
    return y;
}

float alig_nk_lstm_tanh(float x)
{
    float y;
    tanh_rows(1, &x, &y);
    return y;
}

ALIG_DNC_HOT void alig_nk_lstm_cell_forward(int B, int H, float fb, const float *z, const float *cp, float *out,
                                            float *work)
{
    const size_t rows = (size_t)B;
    ALIG_DNC_FOR_B(rows * (size_t)H >= ALIG_NK_PAR_MIN, B, b, {
        const float *zb = z + (size_t)b * 4 * H;
        float *wb = work + (size_t)b * 5 * H, *ob = out + (size_t)b * 2 * H;
        const float *cpb = cp ? cp + (size_t)b * 2 * H + H : NULL;
        /* the gates i, j, f, o, then c and tanh c */
        sigmoid_rows(H, zb, wb, 0.0f);
        tanh_rows(H, zb + H, wb + H);
        sigmoid_rows(H, zb + 2 * H, wb + 2 * H, fb);
        sigmoid_rows(H, zb + 3 * H, wb + 3 * H, 0.0f);
        for (int k = 0; k < H; k++) {
            const float i = wb[k], j = wb[H + k], f = wb[2 * H + k];
            ob[H + k] = cpb ? f * cpb[k] + i * j : i * j;
        }
        tanh_rows(H, ob + H, wb + 4 * H);
        for (int k = 0; k < H; k++) ob[k] = wb[4 * H + k] * wb[3 * H + k];
    });
}

void alig_nk_lstm_cell_backward(int B, int H, const float *cp, const float *work, const float *dout, float *dz,
                                float *dcp, int set_dz)
{
    const size_t rows = (size_t)B;
    ALIG_DNC_FOR_B(rows * (size_t)H >= ALIG_NK_PAR_MIN, B, b, {
        const float *wb = work + (size_t)b * 5 * H, *db = dout + (size_t)b * 2 * H;
        const float *cpb = cp ? cp + (size_t)b * 2 * H + H : NULL;
        float *dzb = dz ? dz + (size_t)b * 4 * H : NULL, *dcpb = dcp ? dcp + (size_t)b * 2 * H + H : NULL;
        for (int k = 0; k < H; k++) {
            const float i = wb[k], j = wb[H + k], f = wb[2 * H + k], o = wb[3 * H + k];
            const float tc = wb[4 * H + k], dh = db[k];
            const float dc = db[H + k] + dh * o * (1.0f - tc * tc);
            const float c_prev = cpb ? cpb[k] : 0.0f;
            if (dzb) {
                const float gi = dc * j * i * (1.0f - i), gj = dc * i * (1.0f - j * j),
                            gf = dc * c_prev * f * (1.0f - f), go = dh * tc * o * (1.0f - o);
                if (set_dz) {
                    dzb[k] = gi;
                    dzb[H + k] = gj;
                    dzb[2 * H + k] = gf;
                    dzb[3 * H + k] = go;
                } else {
                    dzb[k] += gi;
                    dzb[H + k] += gj;
                    dzb[2 * H + k] += gf;
                    dzb[3 * H + k] += go;
                }
            }
            if (dcpb) dcpb[k] += dc * f;
        }
    });
}
