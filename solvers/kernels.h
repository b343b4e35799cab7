/* kernels.h - private table of vector kernels, one instance per element type.
 *
 * Every step rule in solvers/ is scalar logic in double plus calls through this
 * table; each element-wise update below is written once (kernels_tmpl.h) and
 * instantiated for float and double (kernels.c). Conventions:
 *   - n is the element count; vectors are `void *` of the table's element type;
 *   - scalars come in as double and are rounded once to the element type;
 *   - reductions (sumsq, dot, the returned ‖w‖²) accumulate in double;
 *   - n >= ALIG_KERNEL_PAR_MIN runs in parallel with OpenMP (static schedule); smaller n runs
 *     in the calling thread without entering an OpenMP region (no fork/join, ~1 us per call
 *     saved on 1-D and small problems), reductions in index order;
 *   - per-element choices that are fixed for a call (first step, Nesterov, AMSGrad, centered,
 *     momentum) are hoisted out of the loops: each variant is its own loop.
 */
#ifndef ALIG_SOLVERS_KERNELS_H
#define ALIG_SOLVERS_KERNELS_H

#include <float.h>
#include <stddef.h>
#include "alig/solver.h"

/* Scalar coefficients of the Adam-family and Yogi kernels (computed in double by the method,
 * rounded once to the element type inside the kernel). */
typedef struct alig_adam_coef {
    double beta1, beta2;    /* moment decays β1, β2 */
    double l2;              /* coupled weight decay λ (0 = none) */
    double keep;            /* decoupled decay factor 1 − lr·λ (1 = none); adam kernel only */
    double step;            /* lr/(1 − β1^t), or lr·√(1 − β2^t)/(1 − β1^t) in the legacy form */
    double sbc2;            /* √(1 − β2^t), or 1 in the legacy form (ε then sits next to the raw √v) */
    double eps;             /* ε */
} alig_adam_coef;

/* Scalar coefficients of the L4 kernels (l4.c). */
typedef struct alig_l4_coef {
    double decay_g;         /* β_g = 1 − 1/T_g; the kernel forms 1 − β_g in the element type, as TensorFlow does */
    double decay_v;         /* β_v = 1 − 1/T_v (l4adam) */
    double cg, cv;          /* bias corrections c_g = 1 − β_g^(s+1), c_v = 1 − β_v^(s+1), already of the element type */
    double aeps;            /* ε_a of the Adam direction (l4adam) */
} alig_l4_coef;

typedef struct alig_kernels {
    alig_dtype dtype;
    size_t elem_size;
    /* Σ x_i² */
    double (*sumsq)(size_t n, const void *x);
    /* Σ x_i y_i */
    double (*dot)(size_t n, const void *x, const void *y);
    /* 1 if every x_i is finite */
    int (*all_finite)(size_t n, const void *x);
    /* x ← a·x */
    void (*scale)(size_t n, double a, void *x);
    /* y ← y + a·x; returns ‖y_new‖² */
    double (*axpy)(size_t n, double a, const void *x, void *y);
    /* ALI-G standard momentum: v ← μv − γg; w ← w − γg + μv. Returns ‖w_new‖². */
    double (*alig_momentum)(size_t n, void *w, const void *g, void *v, double gamma, double mu);
    /* ALI-G adjusted momentum: b ← μb − g; w ← w − γg + γμb. Returns ‖w_new‖². */
    double (*alig_momentum_adj)(size_t n, void *w, const void *g, void *b, double gamma, double mu);
    /* PyTorch SGD: d = g + λw; if μ: b = first ? d : μb + (1−τ)d; d = nesterov ? d + μb : b;
     * w ← w − lr·d. b may be NULL when μ = 0. Returns ‖w_new‖². */
    double (*sgd)(size_t n, void *w, const void *g, void *b, double lr, double mu, double damp,
                  double wd, int nesterov, int first);
    /* x_i ← a */
    void (*fill)(size_t n, double a, void *x);
    /* Adam family (torch.optim.Adam, AdamW; docs/optimizers.md), coefficients in `c`:
     *   w ← keep·w (decoupled decay, AdamW);  d = g + l2·w (coupled decay, w before `keep`);
     *   m ← β1 m + (1 − β1)d;  v ← β2 v + (1 − β2)d²;  vmax ← max(vmax, v) when vmax != NULL (AMSGrad);
     *   w ← w − step·m/(√u/sbc2 + ε), u = vmax or v.  Returns ‖w_new‖². */
    double (*adam)(size_t n, void *w, const void *g, void *m, void *v, void *vmax, const alig_adam_coef *c);
    /* Yogi: as adam without vmax and keep, but v ← v − (1 − β2)·sign(v − d²)·d². Returns ‖w_new‖². */
    double (*yogi)(size_t n, void *w, const void *g, void *m, void *v, const alig_adam_coef *c);
    /* AdaGrad: d = g + l2·w;  S ← S + d²;  w ← w − lr·d/(√S + ε). Returns ‖w_new‖². */
    double (*adagrad)(size_t n, void *w, const void *g, void *S, double lr, double l2, double eps);
    /* RMSProp: d = g + l2·w;  v ← αv + (1 − α)d²;  u = v, or, when gbar != NULL (centered),
     * ḡ ← αḡ + (1 − α)d and u = max(v − ḡ², 0);  q = d/(√u + ε);  with b != NULL (momentum μ):
     * b ← μb + q, w ← w − lr·b; else w ← w − lr·q. Returns ‖w_new‖².
     * eps_inside (TensorFlow's ApplyRMSProp / ApplyCenteredRMSProp, written as they write it):
     * v ← v + (d² − v)·k, ḡ ← ḡ + (d − ḡ)·k with k = 1 − α formed in the element type;
     * q = (d·lr)/√(u + ε);  b ← μb + q, w ← w − b;  or w ← w − q. */
    double (*rmsprop)(size_t n, void *w, const void *g, void *v, void *gbar, void *b, double lr, double alpha,
                      double l2, double mu, double eps, int eps_inside);
    /* L4 (l4.c), with k_g = 1 − β_g and k_v = 1 − β_v formed in the element type:
     *   m̃ = m − (m − g)·k_g;  q̃ = q − (q − g²)·k_v (when q != NULL, l4adam);  ĝ = m̃/c_g;
     *   v = ĝ (q == NULL) or ĝ/(√(q̃/c_v) + ε_a).
     * l4_dot returns Σ v_i·ĝ_i (products and sum in double) and writes nothing;
     * l4_step stores m̃ (and q̃), sets w ← w − v·η and returns ‖w_new‖². Both compute v bit-identically. */
    double (*l4_dot)(size_t n, const void *g, const void *m, const void *q, const alig_l4_coef *c);
    double (*l4_step)(size_t n, void *w, const void *g, void *m, void *q, const alig_l4_coef *c, double eta);
    /* DFW with weight decay (dfw.c; DFW with λ = 0 uses axpy / alig_momentum instead), with a = ηγ,
     * b = ηλ, c = ηγλ:  s = a·g + b·w (the step η(γδ + r), r = λw);  z == NULL: w ← w − s;
     * else z ← μz − (a·g + c·w) (= μz − ηγ(δ + r)) and w ← (w − s) + μz.  Returns ‖w_new‖². */
    double (*dfw)(size_t n, void *w, const void *g, void *z, double a, double b, double c, double mu);
    /* Σ (g_i + λ w_i)², d formed in the element type, the sum in double (BPGrad's ‖g + λw‖²). */
    double (*decayed_sumsq)(size_t n, const void *g, const void *w, double l2);
    /* BPGrad (bpgrad.c): d = g + λw;  v == NULL: w ← w − a·d;  else v ← μv − a·d, w ← w + v.
     * Returns ‖w_new‖². */
    double (*bpgrad)(size_t n, void *w, const void *g, void *v, double a, double l2, double mu);
} alig_kernels;

const alig_kernels *alig_kernels_get(alig_dtype dtype);

/* A step size as the kernels of `dtype` will use it: kernels round scalars to the element type,
 * and a double γ above FLT_MAX would become +inf in float, turning 0·γ into NaN on coordinates
 * with a zero gradient (ALI-G∞ with a tiny ‖g‖²). Clamped to FLT_MAX, such coordinates stay put
 * and the others move by a finite (huge) step, as in double. */
static inline double alig_step_for(alig_dtype dtype, double gamma)
{
    return (dtype == ALIG_F32 && gamma > FLT_MAX) ? FLT_MAX : gamma;
}

/* Below this many elements kernels run serially. */
#define ALIG_KERNEL_PAR_MIN 32768

#endif
