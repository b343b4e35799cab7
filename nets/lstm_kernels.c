/* lstm_kernels.c - the fused LSTM cell (ops_lstm.c): per element of a row,
 *   i = σ(z_i), j = tanh(z_j), f = σ(z_f + fb), o = σ(z_o),  c = f·c_prev + i·j,  h = tanh(c)·o;
 * backward, with dc̃ = dc + dh·o·(1 − tanh²c):
 *   dz_i = dc̃·j·i(1 − i),  dz_j = dc̃·i·(1 − j²),  dz_f = dc̃·c_prev·f(1 − f),  dz_o = dh·tanh(c)·o(1 − o),
 *   dc_prev = dc̃·f.
 * The sigmoid is 1/(1 + e^{−x}) in float, as the sigmoid op computes it, so the fused cell and the
 * composition of ops give the same values. Rows are independent; at the DNC's size (16 × 64) one
 * thread does the whole cell faster than a fork would. The forward keeps tanh(c) next to the gates, so
 * the backward reads it instead of calling tanhf again (a quarter of the cell's libm calls). */
#include <math.h>
#include <stddef.h>

#include "dnc_addr_kernels.h"  /* ALIG_DNC_FOR_B */
#include "kernels.h"
#include "lstm_kernels.h"

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

void alig_nk_lstm_cell_forward(int B, int H, float fb, const float *z, const float *cp, float *out, float *work)
{
    const size_t rows = (size_t)B;
    ALIG_DNC_FOR_B(rows * (size_t)H >= ALIG_NK_PAR_MIN, B, b, {
        const float *zb = z + (size_t)b * 4 * H;
        float *wb = work + (size_t)b * 5 * H, *ob = out + (size_t)b * 2 * H;
        const float *cpb = cp ? cp + (size_t)b * 2 * H + H : NULL;
        for (int k = 0; k < H; k++) {
            const float i = sigm(zb[k]), j = tanhf(zb[H + k]), f = sigm(zb[2 * H + k] + fb), o = sigm(zb[3 * H + k]);
            const float c = cpb ? f * cpb[k] + i * j : i * j;
            wb[k] = i;
            wb[H + k] = j;
            wb[2 * H + k] = f;
            wb[3 * H + k] = o;
            const float tc = tanhf(c);
            wb[4 * H + k] = tc;
            ob[k] = tc * o;
            ob[H + k] = c;
        }
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
