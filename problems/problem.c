/* problem.c - the generic problem object: class names and defaults, validation and dispatch of
 * alig_problem_make, the counted oracle wrappers, the destructor and the thread-local error
 * message. No construction math lives here (lipschitz.c, least_squares.c, dataset.c). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "private.h"

const char *const alig_problem_names[] = { "lipschitz", "smooth", "strongly-convex", NULL };

const char *const alig_loss_names[] = { "squared", "absolute", "hinge", "logistic", NULL };

/* ---------------------------------------------------------------- error message */

/* One buffer per thread: concurrent generators in different threads do not clobber each other. */
static _Thread_local char pr_errbuf[1024];

void alig_pr_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr_errbuf, sizeof pr_errbuf, fmt, ap);
    va_end(ap);
}

void alig_pr_error_clear(void) { pr_errbuf[0] = '\0'; }

const char *alig_problem_last_error(void) { return pr_errbuf; }

/* ---------------------------------------------------------------- classes */

typedef struct pr_class {
    const char *name;
    size_t dim, samples;
} pr_class;

/* Defaults keep the conditioning moderate: with rows ~ N(0, I/m), the non-zero eigenvalues of
 * XᵀX/n lie near (1 ± √(m/n))²/m (Marchenko–Pastur), a condition number ≈ 3.7 for m = 10, n = 100. */
static const pr_class pr_classes[] = {
    { "lipschitz", 20, 100 },
    { "smooth", 20, 100 },            /* rank m = d/2 = 10 */
    { "strongly-convex", 10, 100 },
};
enum { PR_NCLASSES = sizeof pr_classes / sizeof pr_classes[0] };
#define PR_MAX_DIM ((size_t)1 << 15)
#define PR_MAX_SAMPLES ((size_t)1 << 30)
#define PR_MAX_ENTRIES ((size_t)1 << 31)

static const pr_class *pr_class_find(const char *name)
{
    if (!name) return NULL;
    for (size_t k = 0; k < PR_NCLASSES; k++)
        if (strcmp(pr_classes[k].name, name) == 0) return &pr_classes[k];
    return NULL;
}

alig_status alig_problem_defaults(const char *name, alig_problem_spec *spec)
{
    const pr_class *c = pr_class_find(name);
    if (!c || !spec) return ALIG_EINVAL;
    *spec = (alig_problem_spec){ .dim = c->dim, .samples = c->samples, .eps = 0.0,
                                 .radius = INFINITY, .seed = 1 };
    return ALIG_SUCCESS;
}

alig_status alig_problem_make(alig_problem **out, const char *name, const alig_problem_spec *spec)
{
    alig_pr_error_clear();
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    const pr_class *c = pr_class_find(name);
    if (!c) {
        alig_pr_error("unknown problem class '%s' (lipschitz, smooth, strongly-convex)", name ? name : "(null)");
        return ALIG_EINVAL;
    }
    alig_problem_spec s = spec ? *spec : (alig_problem_spec){ 0 };
    if (!isfinite(s.eps) || s.eps < 0) {
        alig_pr_error("eps must be finite and >= 0 (got %g)", s.eps);
        return ALIG_EBADTOL;
    }
    if (isnan(s.radius) || s.radius < 0) {
        alig_pr_error("radius must be > 0, or 0 / INFINITY for no constraint (got %g)", s.radius);
        return ALIG_EBADRADIUS;
    }
    if (s.radius == 0) s.radius = INFINITY;
    if (s.dim == 0) s.dim = c->dim;
    if (s.samples == 0) s.samples = c->samples;
    if (s.seed == 0) s.seed = 1;
    /* dense n × d data, a d × d Gram matrix and LAPACK's int dimensions bound the sizes */
    if (s.dim > PR_MAX_DIM || s.samples > PR_MAX_SAMPLES || s.dim * s.samples > PR_MAX_ENTRIES) {
        alig_pr_error("%zu samples x %zu dimensions is too large (at most %zu dimensions, %zu entries)",
                      s.samples, s.dim, (size_t)PR_MAX_DIM, (size_t)PR_MAX_ENTRIES);
        return ALIG_EBADLEN;
    }

    gsl_set_error_handler_off();    /* GSL reports through return codes, never aborts */
    alig_status rc;
    if (c == &pr_classes[0]) rc = alig_pr_make_lipschitz(out, &s);
    else rc = alig_pr_make_least_squares(out, &s, c == &pr_classes[2]);
    if (rc == ALIG_SUCCESS) {
        snprintf((*out)->name, sizeof (*out)->name, "%s", c->name);
        (*out)->seed = s.seed;
    }
    return rc;
}

void alig_problem_free(alig_problem *p)
{
    if (!p) return;
    if (p->impl_free) p->impl_free(p->impl);
    free(p->w_star);
    free(p->w0);
    free(p);
}

/* ---------------------------------------------------------------- counted oracles */

double alig_pr_full(const alig_problem *p, const double *w, double *grad)
{
    const size_t n = p->n;
    if (grad) memset(grad, 0, p->dim * sizeof *grad);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += p->loss_i(p, i, w, grad, 1.0 / (double)n);
    return sum / (double)n;
}

double alig_problem_sample(alig_problem *p, size_t i, const double *w, double *grad)
{
    if (grad) memset(grad, 0, p->dim * sizeof *grad);
    if (i >= p->n) return NAN;
    p->calls_sample++;
    return p->loss_i(p, i, w, grad, 1.0);
}

double alig_problem_batch(alig_problem *p, const size_t *idx, size_t b, const double *w, double *grad)
{
    if (grad) memset(grad, 0, p->dim * sizeof *grad);
    if (b == 0) return NAN;
    double sum = 0.0;
    const double scale = 1.0 / (double)b;
    for (size_t j = 0; j < b; j++)
        if (idx[j] >= p->n) return NAN;
    for (size_t j = 0; j < b; j++) sum += p->loss_i(p, idx[j], w, grad, scale);
    p->calls_sample += b;
    return sum / (double)b;
}

double alig_problem_full(alig_problem *p, const double *w, double *grad)
{
    p->calls_full++;
    return alig_pr_full(p, w, grad);
}

void alig_pr_set_star_facts(alig_problem *p)
{
    double mx = 0.0;
    for (size_t i = 0; i < p->n; i++) {
        double l = p->loss_i(p, i, p->w_star, NULL, 1.0);
        if (l > mx) mx = l;
    }
    p->eps_realized = mx;
    p->f_star = alig_pr_full(p, p->w_star, NULL);
}
