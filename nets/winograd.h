/* winograd.h - 3×3 stride-1 convolution by Winograd's minimal filtering algorithm F(2×2, 3×3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016), with its
 * exact adjoints for the backward pass. Private to nets/ and the tests.
 *
 * Each 2×2 output tile is A^T [ (G w G^T) ⊙ (B^T d B) ] A for its 4×4 input patch d, so the
 * 9 multiply-adds per output and input channel of the direct method become 16/4 = 4, done as
 * 16 sgemms (one per position ξ of the 4×4 transformed tile) over all tiles of a chunk:
 *     M_ξ (K, T) = U_ξ (K, C) · V_ξ (C, T),   U = G w G^T,  V = B^T d B,  y = A^T M A.
 * Backward applies the transposes of the same linear maps in reverse order:
 *     dM = A dy A^T,  dV_ξ = U_ξ^T · dM_ξ,  dx += B dV B^T (summed over overlapping patches),
 *     dU_ξ += dM_ξ · V_ξ^T,  dw += G^T dU G,
 * so the gradients are those of the function the forward computes. The transforms use only
 * additions, subtractions and halvings.
 *
 * Shapes are those of alig_nk_conv (kernels.h) with R = S = 3, strides 1 and padding 0..2. The
 * output (P, Q) is covered by ⌈P/2⌉ × ⌈Q/2⌉ tiles; the last tile's extra row or column (odd
 * P or Q) reads zeros and is not written.
 *
 * Parallel plan: chunks of whole images, each chunk carried through transform, 16 sgemms and
 * inverse transform by one OpenMP thread with its own scratch slot (sgemm single-threaded inside
 * the region: see alig_nk_blas_nests). With slots = 1 the chunks run one after the other. The
 * weight gradient is summed per slot and the partials added in slot order (in double). */
#ifndef ALIG_NETS_WINOGRAD_H
#define ALIG_NETS_WINOGRAD_H

#include <stddef.h>
#include "kernels.h"

/* 1 if the convolution s can run on this path: R = S = 3, unit strides, padding 0..2. */
int alig_nk_wino_eligible(const alig_nk_conv *s);

/* Scratch floats for chunks of `imgs` images and `slots` chunks in flight. */
size_t alig_nk_wino_ws(const alig_nk_conv *s, int m, int imgs, int slots);

/* Choose a plan: at most max_slots chunks in flight (never more than N), chunks of about
 * slot_floats scratch each but of at least one image and at least K·C/(K + C) tiles, at most
 * ⌈N/slots⌉ images, shrunk (slots first, then images) until alig_nk_wino_ws fits ws_avail
 * (0 = no limit). */
void alig_nk_wino_plan(const alig_nk_conv *s, int m, int max_slots, size_t slot_floats, size_t ws_avail, int *imgs,
                       int *slots);

/* y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,3,3)) + bias[k] (bias may be NULL). */
void alig_nk_wino_forward(const alig_nk_conv *s, int m, const float *x, const float *w, const float *bias, float *y,
                          float *ws, int imgs, int slots);

/* dx += ∂/∂x (dx = ∂/∂x when dx_set), dw += ∂/∂w, db += ∂/∂b of Σ dy·y; any of dx, dw, db may
 * be NULL. */
void alig_nk_wino_backward(const alig_nk_conv *s, int m, const float *x, const float *w, const float *dy,
                           float *dx, int dx_set, float *dw, float *db, float *ws, int imgs, int slots);

#endif
