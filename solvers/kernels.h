/* kernels.h - private table of vector kernels, one instance per element type.
 *
 * Every step rule in solvers/ is scalar logic in double plus calls through this
 * table; each element-wise update below is written once (kernels_tmpl.h) and
 * instantiated for float and double (kernels.c). Conventions:
 *   - n is the element count; vectors are `void *` of the table's element type;
 *   - scalars come in as double and are rounded once to the element type;
 *   - reductions (sumsq, dot, the returned ‖w‖²) accumulate in double;
 *   - large n runs in parallel with OpenMP (static schedule: deterministic for a
 *     fixed thread count); small n stays serial (no fork/join overhead).
 */
#ifndef ALIG_SOLVERS_KERNELS_H
#define ALIG_SOLVERS_KERNELS_H

#include <stddef.h>
#include "alig/solver.h"

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
} alig_kernels;

const alig_kernels *alig_kernels_get(alig_dtype dtype);

/* Below this many elements kernels run serially. */
#define ALIG_KERNEL_PAR_MIN 32768

#endif
