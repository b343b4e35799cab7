/* kernels.h - raw-pointer compute kernels behind the autodiff ops (private to nets/ and the tests).
 *
 * Conventions (llm.c style):
 *   - float tensors, row-major and packed; images are NCHW; each kernel's comment gives its shapes;
 *   - backward kernels ACCUMULATE (+=) into gradient outputs; a NULL gradient output is skipped;
 *   - every optimised kernel has a *_naive twin right after it: plain loops, serial, double
 *     accumulation, written independently; tests/test_kernels.c compares the two;
 *   - OpenMP appears only here, on outer loops (`omp parallel for`, static schedule). Every
 *     reduction is split in a fixed way (per channel, per row, or fixed 4096-element chunks), so
 *     results do not depend on the thread count. Exceptions, within float rounding: OpenBLAS
 *     sgemm (its threaded split), and the convolution's weight gradient, which is summed per
 *     slot of its plan: the plan's slot count follows the thread count (ops_conv.c), so dw
 *     changes in the last bits between thread counts, never between runs with the same count;
 *   - sgemm (alig_nk_gemm) runs inside an OpenMP parallel region only in the convolution's
 *     block-parallel plan, and only when OpenBLAS is its OpenMP (or sequential) build, which
 *     then runs single-threaded: the cores are never oversubscribed (alig_nk_blas_nests);
 *   - everything compiles and gives the same results with OpenMP off.
 */
#ifndef ALIG_NETS_KERNELS_H
#define ALIG_NETS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#define ALIG_NK_PRAGMA(x) _Pragma(#x)
#define ALIG_NK_OMP(x) ALIG_NK_PRAGMA(x)
#else
#define ALIG_NK_OMP(x)
#endif

/* Elementwise loops shorter than this run serially (no fork/join overhead). */
#define ALIG_NK_PAR_MIN 32768

/* ------------------------------------------------------------------ gemm */
/* C (M,N) = alpha·op(A)·op(B) + beta·C, op(A) (M,K), op(B) (K,N).
 * A is (M,K), or (K,M) when ta; B is (K,N), or (N,K) when tb. beta = 0 ignores C's old content.
 * Optimised: cblas_sgemm (OpenBLAS). */
void alig_nk_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
                  float beta, float *C);
void alig_nk_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
                        float beta, float *C);

/* ------------------------------------------------------------------ convolution */
typedef struct alig_nk_conv {
    int N, C, H, W;     /* input  x (N,C,H,W) */
    int K, R, S;        /* weight w (K,C,R,S) */
    int sh, sw;         /* strides >= 1 */
    int ph, pw;         /* zero padding >= 0 */
    int P, Q;           /* output y (N,K,P,Q): P = (H + 2ph − R)/sh + 1, Q likewise */
} alig_nk_conv;

/* Output length of a window op: ⌊(in + 2·pad − k)/stride⌋ + 1, or 0 when the window does not fit. */
int alig_nk_out_len(int in, int k, int stride, int pad);

/* Paths (chosen from the shape alone):
 *   1×1, no padding, stride 1: no im2col; per image y_n = W·x_n, dW += dy_n·x_nᵀ, dx_n += Wᵀ·dy_n,
 *     each one sgemm on the image in place ((C, H·W) is already its column matrix);
 *   1×1, no padding, strided: the same on the subsampled image xs_n (C, P·Q), gathered per image
 *     (dx: Wᵀ·dy_n scattered back to the sampled cells);
 *   anything else: im2col + one sgemm per block of B images (see kernels.c), the column matrix
 *     built, for strides above 1, from each channel's phases (split by row and column residue
 *     modulo the strides) so that every copy has unit stride.
 *
 * Scratch floats of a plan (block, slots): slots times one slot's scratch, plus with slots > 1
 * slots·K·C·R·S dw partials. One slot: nothing (1×1, stride 1), the subsampled image C·P·Q
 * (1×1 strided), else col (C·R·S, B·P·Q) plus max(sgemm output K·B·P·Q, phases), the phases
 * being sh·sw·⌈H/sh⌉·⌈W/sw⌉ floats per channel (none with stride 1) of one image (slots > 1)
 * or of the whole block (slots = 1, where the unrolling is threaded over image and channel). */
size_t alig_nk_conv_ws(const alig_nk_conv *s, int block, int slots);
/* Choose a plan: at most max_slots parallel blocks (never more than N), blocks of at most
 * slot_floats scratch each (at least 1 image, at most ⌈N/slots⌉), shrunk (slots first, then
 * block) until alig_nk_conv_ws fits ws_avail (0 = no limit). The 1×1 paths work image by image:
 * their scratch does not grow with the block. */
void alig_nk_conv_plan(const alig_nk_conv *s, int max_slots, size_t slot_floats, size_t ws_avail, int *block,
                       int *slots);

/* col (C·R·S, B·P·Q) ← patches of x (B,C,H,W): col[(c·R + r)·S + s][b·PQ + p·Q + q] =
 * x[b,c,p·sh − ph + r, q·sw − pw + s], 0 outside. (N in s is ignored; B images are read.)
 * ws: alig_nk_im2col_ws(s, B) floats of scratch (the phases of the B images; 0 for stride 1).
 * Threaded over (image, channel). */
size_t alig_nk_im2col_ws(const alig_nk_conv *s, int B);
void alig_nk_im2col(const alig_nk_conv *s, int B, const float *x, float *col, float *ws);
void alig_nk_im2col_naive(const alig_nk_conv *s, int B, const float *x, float *col);
/* dx (B,C,H,W) += adjoint of im2col applied to col (C·R·S, B·P·Q); ws as for im2col. */
void alig_nk_col2im(const alig_nk_conv *s, int B, const float *col, float *dx, float *ws);
void alig_nk_col2im_naive(const alig_nk_conv *s, int B, const float *col, float *dx);

/* y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)) + bias[k] (bias (K) or NULL).
 * Plan (block, slots) and ws of alig_nk_conv_ws(s, block, slots) floats:
 *   slots = 1: images (1×1) or blocks one after the other; im2col and reordering threaded with
 *              OpenMP, sgemm threaded by OpenBLAS (the choice for large layers, or a pthreads
 *              OpenBLAS);
 *   slots > 1: slot t takes images [N·t/slots, N·(t+1)/slots), the slots run in parallel on the
 *              OpenMP threads, each with a serial im2col and a sgemm that runs single-threaded
 *              inside the region. Only valid when sgemm does not spawn threads there: OpenMP or
 *              sequential OpenBLAS (see alig_nk_blas_nests).
 * The result depends on the plan (block, slots) and on sgemm's own summation order, not on how
 * many threads run the slots; the plan itself is derived from the thread count (ops_conv.c). */
void alig_nk_conv2d_forward(const alig_nk_conv *s, const float *x, const float *w, const float *bias, float *y,
                            float *ws, int block, int slots);
void alig_nk_conv2d_forward_naive(const alig_nk_conv *s, const float *x, const float *w, const float *bias, float *y);
/* dx (N,C,H,W) += ∂/∂x, dw (K,C,R,S) += ∂/∂w, db (K) += ∂/∂b of Σ dy·y; any may be NULL.
 * With slots > 1, dw is summed per slot and the partials added to dw in slot order. */
void alig_nk_conv2d_backward(const alig_nk_conv *s, const float *x, const float *w, const float *dy,
                             float *dx, float *dw, float *db, float *ws, int block, int slots);
/* The same with set = 1: dx is written, its old content (even NaN) ignored, which saves the
 * caller a zeroing pass over dx (each image's part is cleared here just before it is summed,
 * while in cache); set = 0 is alig_nk_conv2d_backward. dw and db still accumulate. */
void alig_nk_conv2d_backward_set(const alig_nk_conv *s, const float *x, const float *w, const float *dy,
                                 float *dx, int set, float *dw, float *db, float *ws, int block, int slots);
void alig_nk_conv2d_backward_naive(const alig_nk_conv *s, const float *x, const float *w, const float *dy,
                                   float *dx, float *dw, float *db);

/* 1 if sgemm may be called inside an OpenMP parallel region without oversubscribing the cores:
 * OpenBLAS is its OpenMP build (runs single-threaded inside a region) or sequential. 0 for the
 * pthreads build, whose threads would multiply ours (OpenBLAS issue #3187). */
int alig_nk_blas_nests(void);

/* ------------------------------------------------------------------ pooling */
typedef struct alig_nk_pool {
    int N, C, H, W;     /* input x (N,C,H,W) */
    int kh, kw;         /* window */
    int sh, sw;         /* strides */
    int ph, pw;         /* padding, ph <= kh/2 and pw <= kw/2 (every window holds a real cell) */
    int P, Q;           /* output y (N,C,P,Q) */
} alig_nk_pool;

/* y[n,c,p,q] = max of the window; arg (N,C,P,Q) receives the winner's index ih·W + iw in its
 * plane (first maximum in row-major window order). */
void alig_nk_maxpool_forward(const alig_nk_pool *s, const float *x, float *y, int32_t *arg);
void alig_nk_maxpool_forward_naive(const alig_nk_pool *s, const float *x, float *y);
/* dx (N,C,H,W) += dy routed to the winners; the naive version recomputes them from x. With
 * set = 1 (_set), dx is written: each plane is cleared just before its scatter, while in cache,
 * and its old content (even NaN) is ignored. */
void alig_nk_maxpool_backward(const alig_nk_pool *s, const float *dy, const int32_t *arg, float *dx);
void alig_nk_maxpool_backward_set(const alig_nk_pool *s, const float *dy, const int32_t *arg, float *dx, int set);
void alig_nk_maxpool_backward_naive(const alig_nk_pool *s, const float *x, const float *dy, float *dx);

/* y[n,c,p,q] = (Σ window) / (kh·kw), padded cells count as zeros. */
void alig_nk_avgpool_forward(const alig_nk_pool *s, const float *x, float *y);
void alig_nk_avgpool_forward_naive(const alig_nk_pool *s, const float *x, float *y);
void alig_nk_avgpool_backward(const alig_nk_pool *s, const float *dy, float *dx);
void alig_nk_avgpool_backward_naive(const alig_nk_pool *s, const float *dy, float *dx);

/* y (NC) = mean of each plane of x (NC, L); backward dx += dy/L. */
void alig_nk_plane_mean_forward(size_t NC, size_t L, const float *x, float *y);
void alig_nk_plane_mean_backward(size_t NC, size_t L, const float *dy, float *dx);

/* ------------------------------------------------------------------ bias, elementwise */
/* y (N,C,L) = x + b[c];  db (C) += Σ_{n,l} dy[n,c,l] (double). */
void alig_nk_bias_forward(int N, int C, size_t L, const float *x, const float *b, float *y);
void alig_nk_bias_backward(int N, int C, size_t L, const float *dy, float *db);
void alig_nk_bias_backward_naive(int N, int C, size_t L, const float *dy, float *db);

void alig_nk_relu_forward(size_t n, const float *x, float *y);
void alig_nk_relu_backward(size_t n, const float *x, const float *dy, float *dx);        /* dx += dy·[x > 0] */
/* set = 1: dx = dy·[x > 0], its old content (even NaN) ignored; set = 0: relu_backward */
void alig_nk_relu_backward_set(size_t n, const float *x, const float *dy, float *dx, int set);
void alig_nk_sigmoid_forward(size_t n, const float *x, float *y);
void alig_nk_sigmoid_backward(size_t n, const float *y, const float *dy, float *dx);     /* dx += dy·y(1−y) */
void alig_nk_tanh_forward(size_t n, const float *x, float *y);
void alig_nk_tanh_backward(size_t n, const float *y, const float *dy, float *dx);        /* dx += dy(1−y²) */
void alig_nk_add_forward(size_t n, const float *a, const float *b, float *y);
void alig_nk_mul_forward(size_t n, const float *a, const float *b, float *y);
void alig_nk_mul_backward(size_t n, const float *other, const float *dy, float *dx);     /* dx += dy·other */
void alig_nk_affine_forward(size_t n, float a, float c, const float *x, float *y);       /* y = a·x + c */
void alig_nk_axpy(size_t n, float a, const float *x, float *y);                          /* y += a·x */
void alig_nk_copy(size_t n, const float *x, float *y);                                   /* y = x */
void alig_nk_add_const(size_t n, float c, float *y);                                     /* y += c */
void alig_nk_zero(size_t n, float *y);                                                    /* y = 0 (threaded memset) */
/* Strided row blocks (concat, slice): for r < rows, dst[r·dst_ld + j] (=, or += for acc) src[r·src_ld + j], j < len. */
void alig_nk_copy_rows(size_t rows, size_t len, const float *src, size_t src_ld, float *dst, size_t dst_ld);
void alig_nk_acc_rows(size_t rows, size_t len, const float *src, size_t src_ld, float *dst, size_t dst_ld);
/* set = 0: alig_nk_acc_rows; set = 1: dst = 0 + src, what accumulating into zeros gives (signed zeros included) */
void alig_nk_acc_rows_set(size_t rows, size_t len, const float *src, size_t src_ld, float *dst, size_t dst_ld,
                          int set);

/* Σ x in double over fixed 4096-element chunks (deterministic for any thread count). */
double alig_nk_sum(size_t n, const float *x);

/* Row softmax of x (N,C) into y; backward dx += y ⊙ (dy − Σ_j dy_j y_j). */
void alig_nk_softmax_forward(int N, int C, const float *x, float *y);
void alig_nk_softmax_backward(int N, int C, const float *y, const float *dy, float *dx);

/* ------------------------------------------------------------------ dropout */
/* mask[i] = (u_i >= p) / (1 − p), u_i = (mix(key + (i+1)·γ) >> 40)·2^−24, mix and γ SplitMix64's
 * finaliser and increment (splitmix.h).
 * Counter-based: mask[i] depends on (key, i) only. Returns the number of kept elements. */
size_t alig_nk_dropout_mask(size_t n, float p, uint64_t key, float *mask);
/* The dropout op's passes with a byte mask (4 times less memory than the float one): keep[i] = 1
 * iff mask[i] above is not 0; y[i] = x[i]·m_i and dx[i] += dy[i]·m_i with m_i = keep[i] ? 1/(1 − p) : 0,
 * the float mask's value, so the results equal alig_nk_mul_forward / _backward on that mask bit
 * for bit. set: dx[i] = 0 + dy[i]·m_i instead, what += gives on a zeroed dx (signed zeros
 * included). The forward returns the number of kept elements. */
size_t alig_nk_dropout_forward(size_t n, float p, uint64_t key, const float *x, uint8_t *keep, float *y);
void alig_nk_dropout_backward(size_t n, float p, const uint8_t *keep, const float *dy, float *dx, int set);

/* ------------------------------------------------------------------ batch normalisation */
/* x, y (N,C,L); gamma, beta (C) or NULL (1 and 0); mean, invstd (C) out: the statistics used.
 * train: batch mean and biased variance; run_mean, run_var (C) updated with momentum m
 *        (run_var with the unbiased variance, M = N·L >= 2).
 * eval:  run_mean, run_var used, not changed.
 * relu: y = max(BN(x), 0), a batch norm fused with the ReLU that follows it (one pass less). */
void alig_nk_bn_forward(int train, int N, int C, size_t L, const float *x, const float *gamma, const float *beta,
                        float eps, float momentum, float *run_mean, float *run_var, float *mean, float *invstd,
                        float *y, int relu);
/* The same with the batch statistics of channels [0, c_known) given (train only): known[2c] and
 * known[2c + 1] are the mean and biased variance, in double, that an earlier call computed on the
 * same values (in stats), e.g. a batch norm of a prefix of these channels. stats (2·C doubles, or
 * NULL) receives this call's in that form. Results are bitwise those of alig_nk_bn_forward. */
void alig_nk_bn_forward_stats(int train, int N, int C, size_t L, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *run_mean, float *run_var,
                              float *mean, float *invstd, float *y, int relu, const double *known, int c_known,
                              double *stats);
/* alig_nk_bn_forward_stats followed by inverted dropout of rate p in [0, 1) on its rectified
 * output (relu = 1, train = 1): y[i] = max(BN(x)[i], 0)·m_i, m_i the mask of alig_nk_dropout_forward
 * with the same key, element i counted over the whole (N,C,L) tensor; bitwise the two calls in
 * sequence, without the intermediate tensor or the byte mask (backward reads the mask back from
 * y: see alig_nk_bn_backward_scaled). p = 0 is alig_nk_bn_forward_stats. */
void alig_nk_bn_forward_dropout(int N, int C, size_t L, const float *x, const float *gamma, const float *beta,
                                float eps, float momentum, float *run_mean, float *run_var, float *mean,
                                float *invstd, float *y, const double *known, int c_known, double *stats, float p,
                                uint64_t key);
void alig_nk_bn_forward_naive(int train, int N, int C, size_t L, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *run_mean, float *run_var,
                              float *mean, float *invstd, float *y, int relu);
/* dx (N,C,L), dgamma, dbeta (C) += gradients (any may be NULL), given the forward's mean, invstd;
 * dx = (not +=) when set. y: NULL, or the fused forward's output (relu = 1), whose zeros mask dy
 * (ReLU's derivative, 0 at 0). With dŷ = dy (masked):
 * train: dx = γ·invstd/M·(M·dŷ − Σdŷ − x̂·Σ(dŷ·x̂));  eval: dx = γ·invstd·dŷ. */
void alig_nk_bn_backward(int train, int N, int C, size_t L, const float *x, const float *gamma,
                         const float *mean, const float *invstd, const float *dy, const float *y,
                         float *dx, int set, float *dgamma, float *dbeta);
/* The same with dŷ = dy·ds where y > 0 (0 elsewhere), y required: the backward of
 * alig_nk_bn_forward_dropout with ds = 1/(1 − p) as a float (y > 0 exactly where an element was
 * kept and rectified positive; a dropped element's gradient is 0 either way). Bitwise
 * alig_nk_dropout_backward (set) followed by alig_nk_bn_backward on its output, and
 * alig_nk_bn_backward itself when ds = 1. */
void alig_nk_bn_backward_scaled(int train, int N, int C, size_t L, const float *x, const float *gamma,
                                const float *mean, const float *invstd, const float *dy, const float *y, float ds,
                                float *dx, int set, float *dgamma, float *dbeta);
void alig_nk_bn_backward_naive(int train, int N, int C, size_t L, const float *x, const float *gamma,
                               const float *mean, const float *invstd, const float *dy, const float *y,
                               float *dx, int set, float *dgamma, float *dbeta);

/* ------------------------------------------------------------------ losses */
/* s (N,C) scores, y (N) labels in [0,C). Row losses go to rowloss (N); the mean is returned.
 * softmax CE: prob (N,C) out; backward ds += dl·(prob − e_y)/N. */
double alig_nk_softmax_ce_forward(int N, int C, const float *s, const int32_t *y, float *prob, double *rowloss);
double alig_nk_softmax_ce_forward_naive(int N, int C, const float *s, const int32_t *y, float *prob,
                                       double *rowloss);
void alig_nk_softmax_ce_backward(int N, int C, const float *prob, const int32_t *y, float dl, float *ds);
/* multi-class hinge (see ad.h): xi (N,C) out; backward ds += dl·(xi − e_y)/N. */
double alig_nk_hinge_forward(int N, int C, const float *s, const int32_t *y, int smooth, float *xi, double *rowloss);
double alig_nk_hinge_forward_naive(int N, int C, const float *s, const int32_t *y, int smooth, float *xi,
                                   double *rowloss);
void alig_nk_hinge_backward(int N, int C, const float *xi, const int32_t *y, float dl, float *ds);
/* mean over n of max(z,0) − z·t + log1p(e^−|z|); backward dz += dl·(σ(z) − t)/n. */
double alig_nk_bce_logits_forward(size_t n, const float *z, const float *t);
void alig_nk_bce_logits_backward(size_t n, const float *z, const float *t, float dl, float *dz);

#endif
