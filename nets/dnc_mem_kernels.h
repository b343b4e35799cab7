/* dnc_mem_kernels.h - raw-pointer kernels of the DNC memory-access ops (write weights, memory
 * write, temporal link, precedence, read weights, batched matrix product); private to nets/ and
 * the tests. The ops that call them are in ops_dnc_mem.c; the math is in docs/dnc_ops_mem.md.
 *
 * Conventions (those of kernels.h, plus one):
 *   - float tensors, row-major and packed, batch first: every kernel loops over B independent
 *     samples; each kernel's comment gives the per-batch shapes;
 *   - a NULL gradient output is skipped (that operand has no gradient);
 *   - `set`, bit j: the gradient of operand j (in the op's operand order) is WRITTEN (=), else
 *     it is accumulated (+=). The op passes the bits it obtained from alig_ad_grad_claim, so a
 *     gradient nobody has zeroed yet is written in the same pass that computes it;
 *   - scalar reductions (Σ over a row or a column that yields a gate, erase, add, mode, write or
 *     precedence gradient, and the precedence's Σ w) accumulate in double; the small matrix
 *     products of the read weights and of bmm are OpenBLAS sgemm calls, one per sample and
 *     product (float accumulation, as matmul), measured faster than plain loops at these sizes;
 *   - the batch loops of the elementwise kernels (write weights, memory, link, precedence) fork
 *     an OpenMP team (static schedule) only when B times the per-sample work reaches
 *     ALIG_DNC_PAR_MIN: at the DNC's sizes (B = N = W = 16) a fork/join costs more than the whole
 *     op, so they run serially. The sgemm-based kernels loop serially over the batch (sgemm
 *     threads by itself on large products). Samples never share an output, so results do not
 *     depend on the thread count.
 * Each kernel has a plain serial *_naive twin, double accumulation everywhere, written separately
 * (tests/test_dnc_mem.c compares the two, and both against its own double loops). */
#ifndef ALIG_NETS_DNC_MEM_KERNELS_H
#define ALIG_NETS_DNC_MEM_KERNELS_H

#include <stddef.h>

/* Multiply-adds of one call below which the batch loop runs serially. */
#define ALIG_DNC_PAR_MIN 65536

/* ------------------------------------------------------------------ write weights
 * a, c, ww (N); ga, gw: one scalar per sample, (B) in memory.
 *   ww[i] = gw·(ga·a[i] + (1 − ga)·c[i])
 * backward, operands (0 a, 1 c, 2 ga, 3 gw):
 *   da[i] = dww[i]·gw·ga,  dc[i] = dww[i]·gw·(1 − ga),
 *   dga = gw·Σ_i dww[i]·(a[i] − c[i]),  dgw = Σ_i dww[i]·(ga·a[i] + (1 − ga)·c[i]) */
void alig_dnc_write_weights_forward(int B, int N, const float *a, const float *c, const float *ga,
                                    const float *gw, float *ww);
void alig_dnc_write_weights_backward(int B, int N, const float *a, const float *c, const float *ga,
                                     const float *gw, const float *dww, float *da, float *dc, float *dga,
                                     float *dgw, unsigned set);
void alig_dnc_write_weights_forward_naive(int B, int N, const float *a, const float *c, const float *ga,
                                          const float *gw, float *ww);
void alig_dnc_write_weights_backward_naive(int B, int N, const float *a, const float *c, const float *ga,
                                           const float *gw, const float *dww, float *da, float *dc,
                                           float *dga, float *dgw, unsigned set);

/* ------------------------------------------------------------------ memory write (one head)
 * Mp, M (N,W); w (N); e, v (W).
 *   M[i,k] = Mp[i,k]·(1 − w[i]·e[k]) + w[i]·v[k]
 * backward, operands (0 Mp, 1 w, 2 e, 3 v):
 *   dMp[i,k] = dM[i,k]·(1 − w[i]·e[k]),  dw[i] = Σ_k dM[i,k]·(v[k] − Mp[i,k]·e[k]),
 *   de[k] = −Σ_i dM[i,k]·Mp[i,k]·w[i],   dv[k] = Σ_i dM[i,k]·w[i]
 * ws: B·2·W doubles of scratch (the optimised backward only). */
void alig_dnc_memory_forward(int B, int N, int W, const float *Mp, const float *w, const float *e,
                             const float *v, float *M);
void alig_dnc_memory_backward(int B, int N, int W, const float *Mp, const float *w, const float *e,
                              const float *v, const float *dM, float *dMp, float *dw, float *de, float *dv,
                              unsigned set, double *ws);
void alig_dnc_memory_forward_naive(int B, int N, int W, const float *Mp, const float *w, const float *e,
                                   const float *v, float *M);
void alig_dnc_memory_backward_naive(int B, int N, int W, const float *Mp, const float *w, const float *e,
                                    const float *v, const float *dM, float *dMp, float *dw, float *de,
                                    float *dv, unsigned set);

/* ------------------------------------------------------------------ temporal link
 * Lp, L (N,N); w, p (N).
 *   L[i,j] = (1 − w[i] − w[j])·Lp[i,j] + w[i]·p[j] for i ≠ j,  L[i,i] = 0
 * backward, operands (0 Lp, 1 w, 2 p); only off-diagonal entries carry gradient:
 *   dLp[i,j] = dL[i,j]·(1 − w[i] − w[j]) (i ≠ j), dLp[i,i] = 0,
 *   dw[k] = Σ_{j≠k} dL[k,j]·(p[j] − Lp[k,j]) − Σ_{i≠k} dL[i,k]·Lp[i,k],
 *   dp[j] = Σ_{i≠j} dL[i,j]·w[i]
 * ws: B·2·N doubles of scratch (the optimised backward only). */
void alig_dnc_link_forward(int B, int N, const float *Lp, const float *w, const float *p, float *L);
void alig_dnc_link_backward(int B, int N, const float *Lp, const float *w, const float *p, const float *dL,
                            float *dLp, float *dw, float *dp, unsigned set, double *ws);
void alig_dnc_link_forward_naive(int B, int N, const float *Lp, const float *w, const float *p, float *L);
void alig_dnc_link_backward_naive(int B, int N, const float *Lp, const float *w, const float *p, const float *dL,
                                  float *dLp, float *dw, float *dp, unsigned set);

/* ------------------------------------------------------------------ precedence
 * pp, w, p (N); s = Σ_i w[i] in double.
 *   p[i] = (1 − s)·pp[i] + w[i]
 * backward, operands (0 pp, 1 w):
 *   dpp[i] = dp[i]·(1 − s),  dw[k] = dp[k] − Σ_i dp[i]·pp[i] */
void alig_dnc_precedence_forward(int B, int N, const float *pp, const float *w, float *p);
void alig_dnc_precedence_backward(int B, int N, const float *pp, const float *w, const float *dp, float *dpp,
                                  float *dw, unsigned set);
void alig_dnc_precedence_forward_naive(int B, int N, const float *pp, const float *w, float *p);
void alig_dnc_precedence_backward_naive(int B, int N, const float *pp, const float *w, const float *dp,
                                        float *dpp, float *dw, unsigned set);

/* ------------------------------------------------------------------ read weights
 * L (N,N); wp, c, wr (R,N); modes (R,3) in the order (backward, forward, content).
 *   f[r,i] = Σ_j L[i,j]·wp[r,j],  b[r,j] = Σ_i L[i,j]·wp[r,i],
 *   wr[r,i] = modes[r,2]·c[r,i] + modes[r,1]·f[r,i] + modes[r,0]·b[r,i]
 * fb, B·4·R·N floats (required): per sample, the forward stores f (R,N) and b (R,N) there for the
 * backward, which uses the other 2·R·N floats as scratch.
 * backward, operands (0 L, 1 wp, 2 modes, 3 c), with gf = modes[r,1]·dwr, gb = modes[r,0]·dwr:
 *   dL[i,j] = Σ_r gf[r,i]·wp[r,j] + wp[r,i]·gb[r,j],
 *   dwp[r,j] = Σ_i gf[r,i]·L[i,j] + Σ_i L[j,i]·gb[r,i],
 *   dmodes[r,·] = (Σ dwr[r,·]·b[r,·], Σ dwr[r,·]·f[r,·], Σ dwr[r,·]·c[r,·]),  dc[r,i] = modes[r,2]·dwr[r,i]
 * fb must hold what the forward stored for the same L and wp (the naive twin recomputes f and b). */
void alig_dnc_read_weights_forward(int B, int R, int N, const float *L, const float *wp, const float *modes,
                                   const float *c, float *wr, float *fb);
void alig_dnc_read_weights_backward(int B, int R, int N, const float *L, const float *wp, const float *modes,
                                    const float *c, float *fb, const float *dwr, float *dL, float *dwp,
                                    float *dmodes, float *dc, unsigned set);
void alig_dnc_read_weights_forward_naive(int B, int R, int N, const float *L, const float *wp,
                                         const float *modes, const float *c, float *wr);
void alig_dnc_read_weights_backward_naive(int B, int R, int N, const float *L, const float *wp,
                                          const float *modes, const float *c, const float *dwr, float *dL,
                                          float *dwp, float *dmodes, float *dc, unsigned set);

/* ------------------------------------------------------------------ batched matrix product
 * A (M,K), Bm (K,N), C (M,N) per sample.
 *   C = A·Bm;  backward, operands (0 A, 1 Bm): dA = dC·Bmᵀ, dBm = Aᵀ·dC */
void alig_dnc_bmm_forward(int B, int M, int K, int N, const float *A, const float *Bm, float *C);
void alig_dnc_bmm_backward(int B, int M, int K, int N, const float *A, const float *Bm, const float *dC, float *dA,
                           float *dBm, unsigned set);
void alig_dnc_bmm_forward_naive(int B, int M, int K, int N, const float *A, const float *Bm, float *C);
void alig_dnc_bmm_backward_naive(int B, int M, int K, int N, const float *A, const float *Bm, const float *dC,
                                 float *dA, float *dBm, unsigned set);

#endif
