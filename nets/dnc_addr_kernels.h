/* dnc_addr_kernels.h - raw-pointer kernels of the DNC's memory addressing (private to nets/ and the tests):
 * the ±c clip, the masked sigmoid cross-entropy, content (cosine) addressing, the usage update and the
 * allocation weighting. The model is DeepMind's DNC code (github.com/deepmind/dnc, addressing.py and
 * access.py), float32 as in that code; docs/dnc_ops_addr.md derives every gradient.
 *
 * Conventions (as kernels.h): row-major packed float tensors, batch first, the shapes in each comment;
 * backward kernels ACCUMULATE (+=) into gradient outputs and skip a NULL one; reductions accumulate in
 * double. Per-sample work is tiny (a DNC has N = W = 16), so the batch loop runs in parallel only when
 * the whole call has at least ALIG_DNC_PAR_MIN multiply-adds (an OpenMP `if` clause): below that, the
 * fork/join costs more than the loop. Every sample is computed the same way whatever the thread count,
 * so results do not depend on it. The naive twins live in tests/test_dnc_addr.c. */
#ifndef ALIG_NETS_DNC_ADDR_KERNELS_H
#define ALIG_NETS_DNC_ADDR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Work (multiply-adds) below which a batch loop stays serial. */
#define ALIG_DNC_PAR_MIN 65536

/* The hot DNC kernels are built twice on x86-64 with GCC or Clang, for AVX2 and for the baseline, and the
 * loader picks one per machine (function multiversioning), as kernels.c does for its own loops. Both
 * clones do the same float and double operations in the same order (no fast-math, no contraction
 * across statements, and no reduction whose order depends on the vector width: every sum of these
 * kernels runs in a fixed order written out in the source), so the two give the same bits. */
#ifndef ALIG_DNC_HOT
#if defined(__x86_64__) && defined(__has_attribute) && !defined(ALIG_NK_NO_CLONES)
#if __has_attribute(target_clones)
#define ALIG_DNC_HOT __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef ALIG_DNC_HOT
#define ALIG_DNC_HOT
#endif
#endif

/* for (int b = 0; b < n; b++) BODY, the batch loop of a kernel: an OpenMP loop when cond holds, else a
 * plain loop outside any OpenMP construct (an `if` clause that comes out false still enters the
 * runtime for a team of one, which costs more than most of these loops at the DNC's sizes). BODY is
 * a braced block; the same code runs either way, each sample alone, so results do not depend on the
 * branch or the thread count. Needs kernels.h (ALIG_NK_OMP). */
#define ALIG_DNC_FOR_B(cond, n, b, ...)                                                              \
    do {                                                                                             \
        if (cond) {                                                                                  \
            ALIG_NK_OMP(omp parallel for schedule(static))                                           \
            for (int b = 0; b < (n); b++) __VA_ARGS__                                                \
        } else {                                                                                     \
            for (int b = 0; b < (n); b++) __VA_ARGS__                                                \
        }                                                                                            \
    } while (0)

/* ε of the cosine similarity (inside the norms' square roots and in the denominator) and of the
 * usage squash before the allocation sort. */
#define ALIG_DNC_EPS 1e-6f

/* ------------------------------------------------------------------ clip
 * y = min(max(x, lo), hi); dx += dy where lo <= x <= hi (both ends included), nothing elsewhere. */
void alig_nk_clip_forward(size_t n, float lo, float hi, const float *x, float *y);
void alig_nk_clip_backward(size_t n, float lo, float hi, const float *x, const float *dy, float *dx);

/* ------------------------------------------------------------------ masked sigmoid cross-entropy
 * x, z (B,C), mask (B) or NULL (all ones). Returns, in double,
 *   scale · Σ_b mask_b Σ_c [max(x,0) − x·z + log1p(e^{−|x|})].
 * Backward: dx += dl·scale·mask_b·([x >= 0] − z − sgn(x)·e/(1+e)), e = e^{−|x|}, sgn(0) = +1: the
 * derivative of the stable expression as TensorFlow's autodiff forms it (−|x| taken as the branch −x
 * at x = 0), which keeps −e^{−20} ≈ −2.06e-9 at x = 20, z = 1 where σ(x) − z rounds to 0. */
double alig_nk_sigmoid_ce_masked_forward(int B, int C, const float *x, const float *z, const float *mask,
                                         double scale);
void alig_nk_sigmoid_ce_masked_backward(int B, int C, const float *x, const float *z, const float *mask,
                                        double scale, float dl, float *dx);

/* ------------------------------------------------------------------ content addressing
 * keys k (B,H,W), raw strengths s (B,H), memory M (B,N,W) -> c (B,H,N):
 *   c[b,h,·] = softmax_i(β·sim_i), β = softplus(s[b,h]), sim_i = ⟨k, M_i⟩ / (‖k‖_ε·‖M_i‖_ε + ε),
 *   ‖a‖_ε = sqrt(Σa² + ε).
 * Saved for backward (each may be reused only with the same operands): knorm (B,H), mnorm (B,N),
 * beta (B,H), sim (B,H,N). ws: alig_nk_dnc_content_ws(B, N, W) doubles of scratch (both directions). */
size_t alig_nk_dnc_content_ws(int B, int N, int W);
void alig_nk_dnc_content_forward(int B, int H, int N, int W, const float *k, const float *s, const float *M,
                                 float *c, float *knorm, float *mnorm, float *beta, float *sim, double *ws);
/* dc (B,H,N) -> dk (B,H,W), ds (B,H), dM (B,N,W), each += and NULL-skippable. Reads c, the operands and
 * the saved tensors. */
void alig_nk_dnc_content_backward(int B, int H, int N, int W, const float *k, const float *s, const float *M,
                                  const float *c, const float *knorm, const float *mnorm, const float *beta,
                                  const float *sim, const float *dc, float *dk, float *ds, float *dM, double *ws);

/* ------------------------------------------------------------------ usage
 * u_prev (B,N), ww_prev (B,N) (one write head), f (B,R) free gates, wr (B,R,N) previous read weights:
 *   ω = 1 − (1 − ww_prev)   (the reference's 1 − Π_k(1 − w_k), K = 1, in float)
 *   u' = u_prev + (1 − u_prev)·ω,   ψ = Π_r (1 − f_r·wr[r]),   u = u'·ψ.
 * Saved for backward: up = u' (B,N), psi = ψ (B,N). */
void alig_nk_dnc_usage_forward(int B, int N, int R, const float *u_prev, const float *ww_prev, const float *f,
                               const float *wr, float *u, float *up, float *psi);
/* du (B,N) -> du_prev, dww_prev (B,N), df (B,R), dwr (B,R,N), each += and NULL-skippable (pass
 * dww_prev = NULL for the stop-gradient). ∂ψ/∂(f_r wr[r]) is the product of the OTHER factors, formed
 * from prefix and suffix products: exact, and finite when a factor is 0. */
void alig_nk_dnc_usage_backward(int B, int N, int R, const float *u_prev, const float *ww_prev, const float *f,
                                const float *wr, const float *up, const float *psi, const float *du,
                                float *du_prev, float *dww_prev, float *df, float *dwr);

/* ------------------------------------------------------------------ allocation
 * usage u (B,N) -> a (B,N), per row, in float as the reference:
 *   û = ε + (1 − ε)·u,  n = 1 − û,  φ = the indices sorting n descending, ties to the lower index,
 *   a[φ_j] = n[φ_j]·Π_{i<j} (1 − n[φ_i])   (the exclusive product over 1 − sorted n).
 * Saved for backward: perm (B,N), perm[b·N + j] = φ_j. */
void alig_nk_dnc_allocation_forward(int B, int N, const float *u, float *a, int32_t *perm);
/* da (B,N) -> du (B,N) +=, with φ held fixed (the sort passes gradients through its permutation).
 * ws: B·N doubles of scratch. */
void alig_nk_dnc_allocation_backward(int B, int N, const float *u, const int32_t *perm, const float *da,
                                     float *du, double *ws);

#endif
