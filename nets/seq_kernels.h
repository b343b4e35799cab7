/* seq_kernels.h - private to nets/: kernels of the variable-length sequence ops (ops_seq.c).
 * Sequences are time-major (T,B,D); len[b] in [1, T] is sample b's length. Each kernel has a plain
 * serial *_naive twin, one element at a time, written separately as a reference for the tests. */
#ifndef ALIG_NETS_SEQ_KERNELS_H
#define ALIG_NETS_SEQ_KERNELS_H

#include <stdint.h>

/* y[t,b,:] = x[len_b − 1 − t, b, :] for t < len_b, x[t,b,:] otherwise (y and x distinct). */
void alig_nk_seq_reverse_forward(int T, int B, int D, const int32_t *len, const float *x, float *y);
void alig_nk_seq_reverse_forward_naive(int T, int B, int D, const int32_t *len, const float *x, float *y);
/* dx += the same permutation of dy. */
void alig_nk_seq_reverse_backward(int T, int B, int D, const int32_t *len, const float *dy, float *dx);
void alig_nk_seq_reverse_backward_naive(int T, int B, int D, const int32_t *len, const float *dy, float *dx);

/* y[b,d] = max_{t < len_b} x[t,b,d], first maximum wins ties, a NaN wins over numbers (the first
 * NaN); arg[b,d] = the winning t. The naive twin returns no arg. */
void alig_nk_seq_maxpool_forward(int T, int B, int D, const int32_t *len, const float *x, float *y, int32_t *arg);
void alig_nk_seq_maxpool_forward_naive(int T, int B, int D, const int32_t *len, const float *x, float *y);
/* dx[arg[b,d], b, d] += dy[b,d]; the naive twin finds the winners again from x. */
void alig_nk_seq_maxpool_backward(int B, int D, const int32_t *arg, const float *dy, float *dx);
void alig_nk_seq_maxpool_backward_naive(int T, int B, int D, const int32_t *len, const float *x, const float *dy,
                                        float *dx);

#endif
