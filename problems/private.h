/* private.h - shared internals of problems/: the linear-model oracle family, the thread-local
 * error message, and small dense linear-algebra helpers. Not installed; tests may include it.
 *
 * Every problem in this folder is a linear model: ℓ_i(w) = φ(x_iᵀw, y_i) with dense rows x_i.
 * The synthetic classes and the LIBSVM data sets share one implementation (alig_pr_linear) and
 * differ only in how X, y and w⋆ are produced (lipschitz.c, least_squares.c, dataset.c).
 */
#ifndef ALIG_PROBLEMS_PRIVATE_H
#define ALIG_PROBLEMS_PRIVATE_H

#include <stddef.h>
#include "alig/problem.h"

/** Data of a linear-model problem (p->impl). Owned by the problem. */
typedef struct alig_pr_linear {
    size_t n, d;
    double *x;              /* n × d, row-major */
    double *y;              /* n targets (±1 for hinge / logistic) */
    alig_loss_kind kind;
} alig_pr_linear;

/* Record a failure message for alig_problem_last_error() (printf format). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void alig_pr_error(const char *fmt, ...);
void alig_pr_error_clear(void);

/* Σ a_k b_k in index order. The generators and the oracles both use this one function, so that
 * x_iᵀw⋆ is bitwise the same number when the data are built and when the loss is evaluated
 * (ε = 0 then gives ℓ_i(w⋆) = 0 exactly). */
double alig_pr_dot(const double *a, const double *b, size_t d);
double alig_pr_nrm2(const double *a, size_t d);

/* A problem named `name` with a linear impl of n × d zeroed arrays, w_star zeroed, every fact NAN
 * (eps, eps_realized, f_star, f_star_lower, C, β, lipschitz_f), strong_alpha 0, convex 1,
 * radius INFINITY. ENOMEM or EBADLEN (n·d overflows). */
alig_status alig_pr_linear_new(alig_problem **out, const char *name, size_t n, size_t d, alig_loss_kind kind);

/* f(w) = (1/n) Σ ℓ_i(w) through p->loss_i, without touching the counters; grad may be NULL. */
double alig_pr_full(const alig_problem *p, const double *w, double *grad);

/* eps_realized = max_i ℓ_i(w⋆) and f_star = f(w⋆), from the stored data. */
void alig_pr_set_star_facts(alig_problem *p);

/* max_i ‖x_i‖. */
double alig_pr_max_row_norm(const alig_pr_linear *lin);

/* Smallest and largest eigenvalue of XᵀX/n (LAPACKE_dsyev). ENOMEM, or ENOPROG if dsyev fails. */
alig_status alig_pr_gram_eigs(const alig_pr_linear *lin, double *lmin, double *lmax);

/* Minimum-norm least-squares solution of A x = b by LAPACKE_dgelsd, A m × k row-major (copied),
 * b m entries; x receives k entries. rcond as in dgelsd (< 0: machine precision).
 * ENOMEM, or ENOPROG when the SVD does not converge. */
alig_status alig_pr_lstsq(const double *a, size_t m, size_t k, const double *b, double *x, double rcond);

/* Generators (lipschitz.c, least_squares.c); spec already validated and defaults filled. */
alig_status alig_pr_make_lipschitz(alig_problem **out, const alig_problem_spec *spec);
alig_status alig_pr_make_least_squares(alig_problem **out, const alig_problem_spec *spec, int full_rank);

#endif /* ALIG_PROBLEMS_PRIVATE_H */
