/* seq_kernels.c - kernels of the variable-length sequence ops (seq_kernels.h).
 *
 * Reversal moves whole rows of D floats (memcpy forward, one axpy-like loop backward); samples
 * are independent, so the loop over b may run in parallel. Max-pooling walks t inside each
 * (b, d) column, which keeps the tie rule (first maximum) independent of the thread count; the
 * winners are kept so that backward is a scatter. */
#include <string.h>

#include "kernels.h"
#include "seq_kernels.h"

/* the source step of output step t of a sample of length L */
static inline int src_step(int t, int L) { return t < L ? L - 1 - t : t; }

/* NaN-propagating "strictly better": the first maximum stays on ties, the first NaN stays */
static inline int beats(float v, float best) { return v > best || (v != v && best == best); }

void alig_nk_seq_reverse_forward(int T, int B, int D, const int32_t *len, const float *x, float *y)
{
    const size_t row = (size_t)D, ld = (size_t)B * D;
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)T * ld >= ALIG_NK_PAR_MIN))
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(y + (size_t)t * ld + (size_t)b * row, x + (size_t)src_step(t, len[b]) * ld + (size_t)b * row,
                   row * sizeof *y);
}

void alig_nk_seq_reverse_forward_naive(int T, int B, int D, const int32_t *len, const float *x, float *y)
{
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                const int s = t < len[b] ? len[b] - 1 - t : t;
                y[((size_t)t * B + b) * D + d] = x[((size_t)s * B + b) * D + d];
            }
}

void alig_nk_seq_reverse_backward(int T, int B, int D, const int32_t *len, const float *dy, float *dx)
{
    const size_t row = (size_t)D, ld = (size_t)B * D;
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)T * ld >= ALIG_NK_PAR_MIN))
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *g = dy + (size_t)t * ld + (size_t)b * row;
            float *o = dx + (size_t)src_step(t, len[b]) * ld + (size_t)b * row;
            for (size_t d = 0; d < row; d++) o[d] += g[d];
        }
}

void alig_nk_seq_reverse_backward_naive(int T, int B, int D, const int32_t *len, const float *dy, float *dx)
{
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                const int s = t < len[b] ? len[b] - 1 - t : t;
                dx[((size_t)s * B + b) * D + d] += dy[((size_t)t * B + b) * D + d];
            }
}

void alig_nk_seq_maxpool_forward(int T, int B, int D, const int32_t *len, const float *x, float *y, int32_t *arg)
{
    (void)T;
    const size_t ld = (size_t)B * D;
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)T * ld >= ALIG_NK_PAR_MIN))
    for (int b = 0; b < B; b++) {
        float *yb = y + (size_t)b * D;
        int32_t *ab = arg + (size_t)b * D;
        memcpy(yb, x + (size_t)b * D, (size_t)D * sizeof *yb);          /* step 0: every length is >= 1 */
        for (int d = 0; d < D; d++) ab[d] = 0;
        for (int t = 1; t < len[b]; t++) {
            const float *xt = x + (size_t)t * ld + (size_t)b * D;
            for (int d = 0; d < D; d++)
                if (beats(xt[d], yb[d])) {
                    yb[d] = xt[d];
                    ab[d] = t;
                }
        }
    }
}

/* the winning step of column (b, d), found from scratch */
static int winner_naive(int B, int D, int L, const float *x, int b, int d)
{
    int w = 0;
    for (int t = 1; t < L; t++) {
        const float v = x[((size_t)t * B + b) * D + d], best = x[((size_t)w * B + b) * D + d];
        if (v > best || (v != v && best == best)) w = t;
    }
    return w;
}

void alig_nk_seq_maxpool_forward_naive(int T, int B, int D, const int32_t *len, const float *x, float *y)
{
    (void)T;
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++)
            y[(size_t)b * D + d] = x[((size_t)winner_naive(B, D, len[b], x, b, d) * B + b) * D + d];
}

void alig_nk_seq_maxpool_backward(int B, int D, const int32_t *arg, const float *dy, float *dx)
{
    const size_t ld = (size_t)B * D;
    ALIG_NK_OMP(omp parallel for schedule(static) if (ld >= ALIG_NK_PAR_MIN))
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            const size_t i = (size_t)b * D + d;
            dx[(size_t)arg[i] * ld + i] += dy[i];
        }
}

void alig_nk_seq_maxpool_backward_naive(int T, int B, int D, const int32_t *len, const float *x, const float *dy,
                                        float *dx)
{
    (void)T;
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++)
            dx[((size_t)winner_naive(B, D, len[b], x, b, d) * B + b) * D + d] += dy[(size_t)b * D + d];
}
