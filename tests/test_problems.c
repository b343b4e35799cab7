/* test_problems.c - CUnit tests of problems/: oracle gradients against central differences,
 * exact w⋆ / f⋆ / ε of the synthetic classes, the LIBSVM reader on good, malformed and truncated
 * files, and f⋆ of real-data problems against independent computations (closed forms, vertex
 * enumeration, GSL least squares, a Newton solver written here).
 *
 * Expectations are computed independently of the library: Hessians of quadratics from gradient
 * differences (exact for quadratics) and GSL's symmetric eigensolver instead of LAPACKE, etc. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <zlib.h>

#include "alig/problem.h"
#include "problems/private.h"

#define INF INFINITY

static double nrm2(const double *a, size_t d)
{
    double s = 0.0;
    for (size_t k = 0; k < d; k++) s += a[k] * a[k];
    return sqrt(s);
}

static alig_problem *make(const char *name, size_t dim, size_t n, double eps, double radius, unsigned long seed)
{
    alig_problem *p = NULL;
    alig_problem_spec s = { .dim = dim, .samples = n, .eps = eps, .radius = radius, .seed = seed };
    alig_status rc = alig_problem_make(&p, name, &s);
    CU_ASSERT_EQUAL_FATAL(rc, ALIG_SUCCESS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* ------------------------------------------------------------------ gradient checks */

/* Central differences of every per-sample oracle (and of f) at w; returns how many sample
 * gradients were non-trivial (‖g‖ > 1e-3). Kinks of non-smooth losses are avoided by the caller
 * choosing w far from them; a difference that straddles a kink would show as a large error. */
static size_t gradcheck(alig_problem *p, const double *w, double tol)
{
    const size_t d = p->dim, nchk = p->n < 40 ? p->n : 40;
    const double h = 1e-6;
    double *g = malloc(d * sizeof *g), *wp = malloc(d * sizeof *wp);
    size_t nontrivial = 0;
    double worst = 0.0;
    for (size_t s = 0; s <= nchk; s++) {
        const int full = s == nchk;
        const size_t i = full ? 0 : (s * 7919) % p->n;
        double f0 = full ? alig_problem_full(p, w, g) : alig_problem_sample(p, i, w, g);
        CU_ASSERT(isfinite(f0));
        double gn = nrm2(g, d);
        if (gn > 1e-3) nontrivial += !full;
        if (full) CU_ASSERT(gn > 1e-3);     /* the point is not a stationary point of f */
        for (size_t k = 0; k < d; k++) {
            memcpy(wp, w, d * sizeof *wp);
            wp[k] = w[k] + h;
            double fp = full ? alig_problem_full(p, wp, NULL) : alig_problem_sample(p, i, wp, NULL);
            wp[k] = w[k] - h;
            double fm = full ? alig_problem_full(p, wp, NULL) : alig_problem_sample(p, i, wp, NULL);
            double fd = (fp - fm) / (2 * h);
            double err = fabs(fd - g[k]) / (1.0 + fabs(g[k]));
            if (err > worst) worst = err;
        }
    }
    CU_ASSERT(worst < tol);
    if (!(worst < tol)) fprintf(stderr, "\n  %s: gradient check error %.3g\n", p->name, worst);
    free(g);
    free(wp);
    return nontrivial;
}

static void random_point(gsl_rng *r, const double *center, size_t d, double sd, double *w)
{
    for (size_t k = 0; k < d; k++) w[k] = (center ? center[k] : 0.0) + gsl_ran_gaussian(r, sd);
}

static void test_gradcheck_synthetic(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    for (int c = 0; alig_problem_names[c]; c++)
        for (int e = 0; e < 2; e++)
            for (int b = 0; b < 2; b++) {
                alig_problem *p = make(alig_problem_names[c], 0, 0, e ? 0.05 : 0.0, b ? 1.5 : INF, 3);
                double *w = malloc(p->dim * sizeof *w);
                random_point(r, p->w_star, p->dim, 1.0, w);
                size_t nt = gradcheck(p, w, 1e-6);
                CU_ASSERT(nt >= 30);                    /* most sample gradients are non-zero */
                free(w);
                alig_problem_free(p);
            }
    gsl_rng_free(r);
}

/* ------------------------------------------------------------------ API, validation, counters */

static void test_defaults_and_errors(void)
{
    alig_problem_spec s;
    alig_problem dummy;
    alig_problem *p = &dummy;
    CU_ASSERT_STRING_EQUAL(alig_problem_names[0], "lipschitz");
    CU_ASSERT_PTR_NULL(alig_problem_names[3]);
    CU_ASSERT_STRING_EQUAL(alig_loss_names[ALIG_LOSS_LOGISTIC], "logistic");
    CU_ASSERT_EQUAL(alig_problem_defaults("smooth", &s), ALIG_SUCCESS);
    CU_ASSERT(s.dim == 20 && s.samples == 100 && s.eps == 0 && isinf(s.radius) && s.seed == 1);
    CU_ASSERT_EQUAL(alig_problem_defaults("strongly-convex", &s), ALIG_SUCCESS);
    CU_ASSERT(s.dim == 10 && s.samples == 100);
    CU_ASSERT_EQUAL(alig_problem_defaults("nope", &s), ALIG_EINVAL);

    CU_ASSERT_EQUAL(alig_problem_make(&p, "nope", NULL), ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT(strlen(alig_problem_last_error()) > 0);
    CU_ASSERT_EQUAL(alig_problem_make(NULL, "smooth", NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "smooth", &(alig_problem_spec){ .eps = -1 }), ALIG_EBADTOL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "smooth", &(alig_problem_spec){ .eps = NAN }), ALIG_EBADTOL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "lipschitz", &(alig_problem_spec){ .eps = INF }), ALIG_EBADTOL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "smooth", &(alig_problem_spec){ .radius = -1 }), ALIG_EBADRADIUS);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "smooth", &(alig_problem_spec){ .radius = NAN }), ALIG_EBADRADIUS);
    CU_ASSERT_PTR_NULL(p);

    /* shapes where ε > 0 is impossible, with a reason */
    CU_ASSERT_EQUAL(alig_problem_make(&p, "strongly-convex", &(alig_problem_spec){ .dim = 10, .samples = 5 }),
                    ALIG_EINVAL);
    CU_ASSERT(strstr(alig_problem_last_error(), "samples") != NULL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "strongly-convex",
                                      &(alig_problem_spec){ .dim = 10, .samples = 10, .eps = 0.1 }), ALIG_EINVAL);
    CU_ASSERT(strstr(alig_problem_last_error(), "radius") != NULL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "smooth", &(alig_problem_spec){ .dim = 20, .samples = 8, .eps = 0.1 }),
                    ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_problem_make(&p, "lipschitz", &(alig_problem_spec){ .samples = 1, .eps = 0.1 }),
                    ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(p);
    /* ... and possible once a radius supplies the KKT multiplier */
    p = make("strongly-convex", 10, 10, 0.1, 1.0, 1);
    CU_ASSERT_DOUBLE_EQUAL(p->eps_realized, 0.1, 1e-11);
    alig_problem_free(p);
    p = make("smooth", 20, 8, 0.1, 2.0, 1);
    CU_ASSERT_DOUBLE_EQUAL(p->eps_realized, 0.1, 1e-11);
    alig_problem_free(p);
    alig_problem_free(NULL);

    /* a success clears the message; NULL spec takes the defaults */
    CU_ASSERT_EQUAL(alig_problem_make(&p, "lipschitz", NULL), ALIG_SUCCESS);
    CU_ASSERT_STRING_EQUAL(alig_problem_last_error(), "");
    CU_ASSERT(p->dim == 20 && p->n == 100 && p->seed == 1 && isinf(p->radius) && p->eps == 0);
    CU_ASSERT_STRING_EQUAL(p->name, "lipschitz");
    CU_ASSERT(p->convex == 1 && p->w0 == NULL);
    alig_problem_free(p);
}

static void test_counters_and_batch(void)
{
    alig_problem *p = make("smooth", 6, 9, 0.01, INF, 2);
    const size_t d = p->dim;
    double w[6] = { 0.1, -0.2, 0.3, 0.0, 0.5, -1 }, g[6], gs[6], acc[6] = { 0 };
    size_t idx[3] = { 4, 0, 4 };
    double sum = 0.0;
    for (int j = 0; j < 3; j++) {
        sum += alig_problem_sample(p, idx[j], w, gs);
        for (size_t k = 0; k < d; k++) acc[k] += gs[k] / 3;
    }
    CU_ASSERT_EQUAL(p->calls_sample, 3);
    for (size_t k = 0; k < d; k++) g[k] = 1e300;         /* batch overwrites, does not add */
    double fb = alig_problem_batch(p, idx, 3, w, g);
    CU_ASSERT_EQUAL(p->calls_sample, 6);
    CU_ASSERT_DOUBLE_EQUAL(fb, sum / 3, 1e-15);
    for (size_t k = 0; k < d; k++) CU_ASSERT_DOUBLE_EQUAL(g[k], acc[k], 1e-14);
    double f = alig_problem_full(p, w, g);
    CU_ASSERT_EQUAL(p->calls_full, 1);
    CU_ASSERT_EQUAL(p->calls_sample, 6);
    size_t all[9];
    for (size_t i = 0; i < 9; i++) all[i] = i;
    CU_ASSERT_DOUBLE_EQUAL(alig_problem_batch(p, all, 9, w, NULL), f, 1e-15);
    CU_ASSERT_EQUAL(p->calls_sample, 15);
    CU_ASSERT(isnan(alig_problem_sample(p, 9, w, NULL)));
    CU_ASSERT(isnan(alig_problem_batch(p, idx, 0, w, NULL)));
    alig_problem_free(p);
}

static void test_determinism(void)
{
    alig_problem *a = make("lipschitz", 0, 0, 0.1, INF, 5), *b = make("lipschitz", 0, 0, 0.1, INF, 5);
    alig_problem *c = make("lipschitz", 0, 0, 0.1, INF, 6), *e = make("lipschitz", 0, 0, 0.0, 2.0, 5);
    const alig_pr_linear *la = a->impl, *lb = b->impl, *lc = c->impl, *le = e->impl;
    const size_t nd = a->n * a->dim;
    CU_ASSERT(memcmp(la->x, lb->x, nd * sizeof(double)) == 0);
    CU_ASSERT(memcmp(la->y, lb->y, a->n * sizeof(double)) == 0);
    CU_ASSERT(memcmp(la->x, lc->x, nd * sizeof(double)) != 0);
    /* one seed, one geometry: X and w⋆'s direction do not depend on ε or the radius */
    CU_ASSERT(memcmp(la->x, le->x, nd * sizeof(double)) == 0);
    for (size_t k = 0; k < a->dim; k++) CU_ASSERT_DOUBLE_EQUAL(2.0 * a->w_star[k], e->w_star[k], 1e-15);
    alig_problem_free(a);
    alig_problem_free(b);
    alig_problem_free(c);
    alig_problem_free(e);

    a = make("smooth", 0, 0, 0.0, INF, 8);
    b = make("smooth", 0, 0, 0.3, 1.0, 8);
    la = a->impl;
    lb = b->impl;
    CU_ASSERT(memcmp(la->x, lb->x, a->n * a->dim * sizeof(double)) == 0);
    for (size_t k = 0; k < a->dim; k++) CU_ASSERT_DOUBLE_EQUAL(a->w_star[k], b->w_star[k], 1e-15);
    alig_problem_free(a);
    alig_problem_free(b);
}

/* ------------------------------------------------------------------ lipschitz: exact facts */

static void check_eps(const alig_problem *p, double eps)
{
    /* max_i ℓ_i(w⋆), recomputed here through the public oracle */
    double mx = 0.0;
    for (size_t i = 0; i < p->n; i++) mx = fmax(mx, alig_problem_sample((alig_problem *)p, i, p->w_star, NULL));
    CU_ASSERT_EQUAL(mx, p->eps_realized);
    if (eps == 0) {
        CU_ASSERT_EQUAL(p->eps_realized, 0.0);
    } else {
        CU_ASSERT(fabs(p->eps_realized - eps) <= 1e-10 * eps);
    }
    if (eps > 0 && !(fabs(p->eps_realized - eps) <= 1e-10 * eps))
        fprintf(stderr, "\n  %s eps %.17g realized %.17g\n", p->name, eps, p->eps_realized);
    CU_ASSERT_EQUAL(p->eps, eps);
    CU_ASSERT_EQUAL(alig_problem_full((alig_problem *)p, p->w_star, NULL), p->f_star);
    CU_ASSERT(p->f_star >= 0 && p->f_star <= p->eps_realized);
    CU_ASSERT_EQUAL(p->f_star_lower, p->f_star);
}

static void test_lipschitz_exact(void)
{
    const double epss[] = { 0.0, 1e-9, 0.01, 0.3 }, radii[] = { INF, 0.5, 3.0 };
    const size_t ns[] = { 100, 21 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    for (int ie = 0; ie < 4; ie++)
        for (int ir = 0; ir < 3; ir++)
            for (int in = 0; in < 2; in++) {
                const double eps = epss[ie], R = radii[ir];
                alig_problem *p = make("lipschitz", 0, ns[in], eps, R, 1 + (unsigned long)(ie + ir));
                const size_t d = p->dim;
                check_eps(p, eps);
                CU_ASSERT_DOUBLE_EQUAL(nrm2(p->w_star, d), isinf(R) ? 1.0 : R, 1e-12);
                CU_ASSERT(isnan(p->smooth_beta) && p->strong_alpha == 0);
                double *g = malloc(d * sizeof *g), *w = malloc(d * sizeof *w);
                /* 0 ∈ ∂f(w⋆): the oracle's subgradients of each ± pair cancel */
                alig_problem_full(p, p->w_star, g);
                CU_ASSERT(nrm2(g, d) <= 1e-12);
                /* no perturbation, small or large, goes below f⋆ */
                double worst = INF;
                for (int t = 0; t < 150; t++) {
                    random_point(r, p->w_star, d, t % 3 == 0 ? 1e-4 : t % 3 == 1 ? 0.05 : 1.0, w);
                    worst = fmin(worst, alig_problem_full(p, w, NULL) - p->f_star);
                }
                CU_ASSERT(worst >= -1e-15);
                /* C = max ‖x_i‖ = the largest subgradient norm (at a point off every kink) */
                random_point(r, p->w_star, d, 1.0, w);
                double cmax = 0.0;
                for (size_t i = 0; i < p->n; i++) {
                    alig_problem_sample(p, i, w, g);
                    cmax = fmax(cmax, nrm2(g, d));
                }
                CU_ASSERT_DOUBLE_EQUAL(p->lipschitz_C, cmax, 1e-12 * cmax);
                free(g);
                free(w);
                alig_problem_free(p);
            }
    gsl_rng_free(r);
}

/* f⋆ of the pair construction in closed form: (1/n) Σ_pairs 2 s_j, with s_j = |y_a − y_b|/2. */
static void test_lipschitz_closed_form(void)
{
    alig_problem *p = make("lipschitz", 7, 31, 0.2, INF, 4);
    const alig_pr_linear *L = p->impl;
    double sum = 0.0, smax = 0.0;
    for (size_t j = 0; 2 * j + 1 < p->n; j++) {
        CU_ASSERT(memcmp(L->x + 2 * j * 7, L->x + (2 * j + 1) * 7, 7 * sizeof(double)) == 0);
        double s = 0.5 * fabs(L->y[2 * j] - L->y[2 * j + 1]);
        sum += 2 * s;
        smax = fmax(smax, s);
    }
    CU_ASSERT_DOUBLE_EQUAL(p->f_star, sum / 31, 1e-14);
    CU_ASSERT_DOUBLE_EQUAL(smax, 0.2, 1e-14);
    /* the unpaired last sample is interpolated exactly */
    CU_ASSERT_EQUAL(alig_problem_sample(p, 30, p->w_star, NULL), 0.0);
    alig_problem_free(p);
}

/* ------------------------------------------------------------------ least squares: exact facts */

/* Hessian of a quadratic f from gradient differences: H e_k = ∇f(e_k) − ∇f(0) (exact up to rounding). */
static void hessian_by_differences(alig_problem *p, gsl_matrix *h)
{
    const size_t d = p->dim;
    double *z = calloc(d, sizeof *z), *g0 = malloc(d * sizeof *g0), *g = malloc(d * sizeof *g);
    alig_problem_full(p, z, g0);
    for (size_t k = 0; k < d; k++) {
        z[k] = 1.0;
        alig_problem_full(p, z, g);
        z[k] = 0.0;
        for (size_t l = 0; l < d; l++) gsl_matrix_set(h, l, k, g[l] - g0[l]);
    }
    for (size_t k = 0; k < d; k++)      /* symmetrise the rounding */
        for (size_t l = 0; l < k; l++) {
            double v = 0.5 * (gsl_matrix_get(h, k, l) + gsl_matrix_get(h, l, k));
            gsl_matrix_set(h, k, l, v);
            gsl_matrix_set(h, l, k, v);
        }
    free(z);
    free(g0);
    free(g);
}

static void test_least_squares_exact(void)
{
    const double epss[] = { 0.0, 1e-6, 0.02, 0.5 }, radii[] = { INF, 0.7, 2.0 };
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    for (int sc = 0; sc < 2; sc++)
        for (int ie = 0; ie < 4; ie++)
            for (int ir = 0; ir < 3; ir++) {
                const double eps = epss[ie], R = radii[ir];
                const char *cls = sc ? "strongly-convex" : "smooth";
                alig_problem *p = make(cls, 0, 0, eps, R, 10 + (unsigned long)(3 * ie + ir));
                const size_t d = p->dim, n = p->n;
                check_eps(p, eps);
                double *g = malloc(d * sizeof *g), *w = malloc(d * sizeof *w);
                /* stationarity, or KKT of the ball with a multiplier λ ≥ 0 */
                alig_problem_full(p, p->w_star, g);
                if (isinf(R)) {
                    CU_ASSERT(nrm2(g, d) <= 1e-10);
                    CU_ASSERT(isnan(p->lipschitz_C));
                } else {
                    CU_ASSERT_DOUBLE_EQUAL(nrm2(p->w_star, d), R, 1e-12);
                    double lam = 0.0;
                    for (size_t k = 0; k < d; k++) lam -= g[k] * p->w_star[k] / (R * R);
                    CU_ASSERT(lam >= -1e-12);
                    if (eps > 0) CU_ASSERT(lam > 1e-6);     /* the constraint is really active */
                    for (size_t k = 0; k < d; k++) g[k] += lam * p->w_star[k];
                    CU_ASSERT(nrm2(g, d) <= 1e-10);
                }
                /* spectrum of XᵀX/n by GSL, from gradient differences */
                gsl_matrix *h = gsl_matrix_alloc(d, d), *evec = gsl_matrix_alloc(d, d);
                gsl_vector *ev = gsl_vector_alloc(d);
                gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(d);
                hessian_by_differences(p, h);
                gsl_eigen_symmv(h, ev, evec, ws);
                gsl_eigen_symmv_sort(ev, evec, GSL_EIGEN_SORT_VAL_ASC);
                const double lmin = gsl_vector_get(ev, 0), lmax = gsl_vector_get(ev, d - 1);
                CU_ASSERT_DOUBLE_EQUAL(p->lipschitz_f, lmax, 1e-10 * lmax);
                if (sc) {
                    CU_ASSERT(p->strong_alpha > 0.05 * lmax);          /* moderate condition number */
                    CU_ASSERT_DOUBLE_EQUAL(p->strong_alpha, lmin, 1e-10 * lmax);
                    /* f(w) − f⋆ ≥ (α/2)‖w − w⋆‖² on Ω */
                    for (int t = 0; t < 20; t++) {
                        random_point(r, p->w_star, d, 0.5, w);
                        double wn = nrm2(w, d);
                        if (wn > R) for (size_t k = 0; k < d; k++) w[k] *= R / wn;
                        double dd = 0.0;
                        for (size_t k = 0; k < d; k++) dd += (w[k] - p->w_star[k]) * (w[k] - p->w_star[k]);
                        CU_ASSERT(alig_problem_full(p, w, NULL) - p->f_star >= 0.5 * p->strong_alpha * dd - 1e-13);
                    }
                } else {
                    CU_ASSERT_EQUAL(p->strong_alpha, 0.0);
                    size_t rank = 0;
                    for (size_t k = 0; k < d; k++) rank += gsl_vector_get(ev, k) > 1e-10 * lmax;
                    CU_ASSERT_EQUAL(rank, d / 2);
                    CU_ASSERT(fabs(lmin) <= 1e-12);
                    /* minimum norm: w⋆ has no component in the null space of X */
                    for (size_t k = 0; k < d - rank; k++) {
                        double c = 0.0;
                        for (size_t l = 0; l < d; l++) c += gsl_matrix_get(evec, l, k) * p->w_star[l];
                        CU_ASSERT(fabs(c) <= 1e-10);
                    }
                }
                /* β = max ‖x_i‖² = max trace of the per-sample Hessian; C on the ball from
                 * ‖∇ℓ_i(0)‖ = |y_i|‖x_i‖ */
                double *z = calloc(d, sizeof *z), bmax = 0.0, cmax = 0.0;
                for (size_t i = 0; i < n; i++) {
                    double g0[64], tr = 0.0;
                    alig_problem_sample(p, i, z, g0);
                    for (size_t k = 0; k < d; k++) {
                        z[k] = 1.0;
                        alig_problem_sample(p, i, z, g);
                        z[k] = 0.0;
                        tr += g[k] - g0[k];
                    }
                    bmax = fmax(bmax, tr);
                    cmax = fmax(cmax, R * tr + nrm2(g0, d));
                }
                CU_ASSERT_DOUBLE_EQUAL(p->smooth_beta, bmax, 1e-12 * bmax);
                if (isfinite(R)) CU_ASSERT_DOUBLE_EQUAL(p->lipschitz_C, cmax, 1e-12 * cmax);
                free(z);
                gsl_eigen_symmv_free(ws);
                gsl_vector_free(ev);
                gsl_matrix_free(h);
                gsl_matrix_free(evec);
                free(g);
                free(w);
                alig_problem_free(p);
            }
    gsl_rng_free(r);
}

/* ------------------------------------------------------------------ LIBSVM reader */

static char tmpdir[256];
static int nfile;

static const char *write_file(const char *content, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/f%d.svm", tmpdir, nfile++);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fwrite(content, 1, len, f);
    fclose(f);
    return path;
}

static const char *write_text(const char *content) { return write_file(content, strlen(content)); }

static void test_libsvm_good(void)
{
    const char *txt = "# a header comment\n"
                      "+1 1:0.5 3:-2 # trailing comment\n"
                      "\n"
                      "   \t\n"
                      "-1 2:1e-1\r\n"
                      "0 qid:3 1:1 4:2\n"
                      "2.5\n"
                      "1 4:7";                         /* last line without newline */
    alig_dataset *ds = NULL;
    size_t bad = 99;
    CU_ASSERT_EQUAL_FATAL(alig_dataset_read_libsvm(write_text(txt), &ds, &bad), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(ds->n, 5);
    CU_ASSERT_EQUAL(ds->dim, 4);
    CU_ASSERT_EQUAL(ds->zero_based, 0);
    const double x[5][4] = { { 0.5, 0, -2, 0 }, { 0, 0.1, 0, 0 }, { 1, 0, 0, 2 }, { 0, 0, 0, 0 }, { 0, 0, 0, 7 } };
    const double y[5] = { 1, -1, 0, 2.5, 1 };
    for (size_t i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(ds->y[i], y[i]);
        for (size_t k = 0; k < 4; k++) CU_ASSERT_EQUAL(ds->x[i * 4 + k], x[i][k]);
    }
    alig_dataset_free(ds);

    CU_ASSERT_EQUAL_FATAL(alig_dataset_read_libsvm(write_text("1 0:1 2:3\n-1 1:2\n"), &ds, NULL), ALIG_SUCCESS);
    CU_ASSERT(ds->zero_based == 1 && ds->dim == 3 && ds->n == 2);
    CU_ASSERT(ds->x[0] == 1 && ds->x[1] == 0 && ds->x[2] == 3 && ds->x[3] == 0 && ds->x[4] == 2);
    alig_dataset_free(ds);
    alig_dataset_free(NULL);
}

static void test_libsvm_malformed(void)
{
    static const struct { const char *txt; size_t line; } cases[] = {
        { "1 1:1\n1 3:1 2:1\n", 2 },            /* decreasing indices */
        { "1 1:1 1:2\n", 1 },                   /* repeated index */
        { "1 1:abc\n", 1 },
        { "abc 1:1\n", 1 },
        { "1:2 3:4\n", 1 },                     /* no label */
        { "1 1:1\n\n# c\n1 x:1\n", 4 },
        { "1 -1:2\n", 1 },
        { "1 1:nan\n", 1 },
        { "inf 1:1\n", 1 },
        { "1 1::2\n", 1 },
        { "1 1:2:3\n", 1 },
        { "1 1:2x\n", 1 },
        { "1 99999999999999999999:1\n", 1 },
        { "1 1:1\n1 2:0.5 3\n", 2 },            /* truncated: index without ':' */
        { "1 1:1\n1 2:0.5 3:", 2 },             /* truncated: index without value, no newline */
        { "1 1:1\n-1 qid:x 1:1\n", 2 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        alig_dataset *ds = (alig_dataset *)&c;
        size_t bad = 0;
        alig_status rc = alig_dataset_read_libsvm(write_text(cases[c].txt), &ds, &bad);
        CU_ASSERT_EQUAL(rc, ALIG_EFORMAT);
        CU_ASSERT_EQUAL(bad, cases[c].line);
        CU_ASSERT_PTR_NULL(ds);
        CU_ASSERT(strstr(alig_problem_last_error(), "line") != NULL);
        if (rc != ALIG_EFORMAT || bad != cases[c].line)
            fprintf(stderr, "\n  case %zu: rc %d line %zu (%s)\n", c, rc, bad, alig_problem_last_error());
    }
    /* a NUL byte inside line 2 */
    alig_dataset *ds = NULL;
    size_t bad = 0;
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(write_file("1 1:1\n1 2:1\0 3:1\n", 17), &ds, &bad), ALIG_EFORMAT);
    CU_ASSERT_EQUAL(bad, 2);
    /* no sample / no feature: format errors without a line */
    const char *empties[] = { "", "# only a comment\n\n", "1\n-1\n" };
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL(alig_dataset_read_libsvm(write_text(empties[k]), &ds, &bad), ALIG_EFORMAT);
        CU_ASSERT_EQUAL(bad, 0);
    }
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist.svm", tmpdir);
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(missing, &ds, &bad), ALIG_EIO);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(tmpdir, &ds, &bad), ALIG_EIO);    /* a directory */
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(NULL, &ds, &bad), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(missing, NULL, &bad), ALIG_EINVAL);
}

static void test_libsvm_gzip(void)
{
    char path[600], line[128];
    snprintf(path, sizeof path, "%s/data.svm.gz", tmpdir);
    gzFile z = gzopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(z);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (int i = 0; i < 400; i++) {
        int len = snprintf(line, sizeof line, "%d 1:%.17g 3:%.17g\n", i % 2 ? 1 : -1, gsl_rng_uniform(r),
                           gsl_rng_uniform(r));
        gzwrite(z, line, (unsigned)len);
    }
    gzclose(z);
    gsl_rng_free(r);
    alig_dataset *ds = NULL;
    size_t bad = 9;
    CU_ASSERT_EQUAL_FATAL(alig_dataset_read_libsvm(path, &ds, &bad), ALIG_SUCCESS);
    CU_ASSERT(ds->n == 400 && ds->dim == 3 && bad == 0);
    alig_dataset_free(ds);
    /* cut the compressed file in half: a truncated stream is a format error on its last line */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(truncate(path, size / 2), 0);
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(path, &ds, &bad), ALIG_EFORMAT);
    CU_ASSERT(bad >= 1 && bad < 400);
    CU_ASSERT_PTR_NULL(ds);
}

/* ------------------------------------------------------------------ real-data problems */

static alig_dataset *dataset_new(size_t n, size_t d)
{
    alig_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->dim = d;
    ds->x = calloc(n * d, sizeof(double));
    ds->y = calloc(n, sizeof(double));
    return ds;
}

static alig_problem *from(const alig_dataset *ds, alig_loss_kind k, double radius)
{
    alig_problem *p = NULL;
    alig_status rc = alig_problem_from_dataset(&p, ds, k, radius);
    if (rc) fprintf(stderr, "\n  from_dataset: %d (%s)\n", rc, alig_problem_last_error());
    CU_ASSERT_EQUAL_FATAL(rc, ALIG_SUCCESS);
    return p;
}

static void check_common(alig_problem *p)
{
    double mx = 0.0;
    for (size_t i = 0; i < p->n; i++) mx = fmax(mx, alig_problem_sample(p, i, p->w_star, NULL));
    CU_ASSERT_EQUAL(p->eps_realized, mx);
    CU_ASSERT_EQUAL(alig_problem_full(p, p->w_star, NULL), p->f_star);
    CU_ASSERT(p->f_star_lower <= p->f_star);
    CU_ASSERT(isnan(p->eps));
    CU_ASSERT_EQUAL(p->seed, 0);
}

static void test_dataset_squared(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 21);
    const size_t n = 40, d = 5;
    alig_dataset *ds = dataset_new(n, d);
    for (size_t i = 0; i < n * d; i++) ds->x[i] = gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++) ds->y[i] = ds->x[i * d] - 2 * ds->x[i * d + 3] + gsl_ran_gaussian(r, 0.3);
    alig_problem *p = from(ds, ALIG_LOSS_SQUARED, INF);
    check_common(p);
    CU_ASSERT_STRING_EQUAL(p->name, "libsvm:squared");
    CU_ASSERT_EQUAL(p->f_star_lower, p->f_star);
    /* GSL's own least squares (QR / SVD, no LAPACKE) */
    gsl_matrix *xm = gsl_matrix_alloc(n, d), *cov = gsl_matrix_alloc(d, d);
    gsl_vector *yv = gsl_vector_alloc(n), *c = gsl_vector_alloc(d);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(n, d);
    for (size_t i = 0; i < n; i++) {
        gsl_vector_set(yv, i, ds->y[i]);
        for (size_t k = 0; k < d; k++) gsl_matrix_set(xm, i, k, ds->x[i * d + k]);
    }
    double chisq;
    gsl_multifit_linear(xm, yv, c, cov, &chisq, ws);
    for (size_t k = 0; k < d; k++) CU_ASSERT_DOUBLE_EQUAL(p->w_star[k], gsl_vector_get(c, k), 1e-10);
    CU_ASSERT_DOUBLE_EQUAL(p->f_star, 0.5 * chisq / n, 1e-12);
    double g[5];
    alig_problem_full(p, p->w_star, g);
    CU_ASSERT(nrm2(g, d) <= 1e-12);
    CU_ASSERT(p->strong_alpha > 0 && p->lipschitz_f >= p->strong_alpha);
    CU_ASSERT(isnan(p->lipschitz_C));
    double w[5];
    random_point(r, NULL, d, 1.0, w);
    gradcheck(p, w, 1e-6);
    alig_problem_free(p);
    gsl_multifit_linear_free(ws);
    gsl_matrix_free(xm);
    gsl_matrix_free(cov);
    gsl_vector_free(yv);
    gsl_vector_free(c);

    /* a duplicated column: the minimum-norm solution splits its weight evenly */
    for (size_t i = 0; i < n; i++) ds->x[i * d + 4] = ds->x[i * d + 3];
    p = from(ds, ALIG_LOSS_SQUARED, INF);
    CU_ASSERT_DOUBLE_EQUAL(p->w_star[3], p->w_star[4], 1e-10);
    CU_ASSERT_EQUAL(p->strong_alpha, 0.0);
    alig_problem_full(p, p->w_star, g);
    CU_ASSERT(nrm2(g, d) <= 1e-12);
    alig_problem_free(p);

    /* radius: accepted when w⋆ lies inside, refused otherwise */
    alig_problem *q = NULL;
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&q, ds, ALIG_LOSS_SQUARED, 0.1), ALIG_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(q);
    CU_ASSERT(strstr(alig_problem_last_error(), "radius") != NULL);
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&q, ds, ALIG_LOSS_SQUARED, -1), ALIG_EBADRADIUS);
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&q, ds, (alig_loss_kind)9, INF), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&q, NULL, ALIG_LOSS_SQUARED, INF), ALIG_EINVAL);
    p = from(ds, ALIG_LOSS_SQUARED, 100.0);
    CU_ASSERT_EQUAL(p->radius, 100.0);
    CU_ASSERT(isfinite(p->lipschitz_C) && p->lipschitz_C > 0);
    alig_problem_free(p);
    alig_dataset_free(ds);
    gsl_rng_free(r);
}

/* absolute deviation around a constant: f⋆ = mean |y − median| in closed form */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_dataset_absolute_median(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 22);
    for (size_t n = 30; n <= 31; n++) {
        alig_dataset *ds = dataset_new(n, 1);
        double *ys = malloc(n * sizeof *ys);
        for (size_t i = 0; i < n; i++) {
            ds->x[i] = 1.0;
            ys[i] = ds->y[i] = gsl_ran_gaussian(r, 2.0);
        }
        qsort(ys, n, sizeof *ys, cmp_double);
        double med = ys[n / 2], fstar = 0.0;
        for (size_t i = 0; i < n; i++) fstar += fabs(ys[i] - med);
        fstar /= (double)n;
        alig_problem *p = from(ds, ALIG_LOSS_ABSOLUTE, INF);
        check_common(p);
        CU_ASSERT(p->f_star_lower <= fstar + 1e-13 && fstar <= p->f_star + 1e-13);
        CU_ASSERT(p->f_star - p->f_star_lower <= 1e-9);
        CU_ASSERT(p->w_star[0] >= ys[(n - 1) / 2] - 1e-9 && p->w_star[0] <= ys[n / 2] + 1e-9);
        alig_problem_free(p);
        free(ys);
        alig_dataset_free(ds);
    }
    gsl_rng_free(r);
}

/* Polyhedral losses in d = 3: the minimum is attained at a vertex of the arrangement of the kink
 * hyperplanes (X has full column rank), so enumerating every triple of kinks finds f⋆ exactly. */
static double vertex_min(const alig_dataset *ds, alig_loss_kind k)
{
    const size_t n = ds->n;
    double best = INF;
    gsl_matrix *a = gsl_matrix_alloc(3, 3);
    gsl_vector *b = gsl_vector_alloc(3), *w = gsl_vector_alloc(3);
    gsl_permutation *perm = gsl_permutation_alloc(3);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            for (size_t l = j + 1; l < n; l++) {
                const size_t rows[3] = { i, j, l };
                for (int q = 0; q < 3; q++) {
                    const double yl = k == ALIG_LOSS_HINGE ? (ds->y[rows[q]] > 0 ? 1.0 : -1.0) : 1.0;
                    for (int c = 0; c < 3; c++) gsl_matrix_set(a, q, c, yl * ds->x[rows[q] * 3 + c]);
                    gsl_vector_set(b, q, k == ALIG_LOSS_HINGE ? 1.0 : ds->y[rows[q]]);
                }
                int sg;
                gsl_linalg_LU_decomp(a, perm, &sg);
                if (fabs(gsl_linalg_LU_det(a, sg)) < 1e-12) continue;
                gsl_linalg_LU_solve(a, perm, b, w);
                double f = 0.0;
                for (size_t m = 0; m < n; m++) {
                    double u = 0.0;
                    for (int c = 0; c < 3; c++) u += ds->x[m * 3 + c] * gsl_vector_get(w, c);
                    if (k == ALIG_LOSS_HINGE) f += fmax(0.0, 1.0 - (ds->y[m] > 0 ? 1.0 : -1.0) * u);
                    else f += fabs(u - ds->y[m]);
                }
                best = fmin(best, f / (double)n);
            }
    gsl_matrix_free(a);
    gsl_vector_free(b);
    gsl_vector_free(w);
    gsl_permutation_free(perm);
    return best;
}

static void test_dataset_polyhedral(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 23);
    const size_t n = 30, d = 3;
    alig_dataset *ds = dataset_new(n, d);
    for (int k = 0; k < 2; k++) {
        const alig_loss_kind kind = k ? ALIG_LOSS_HINGE : ALIG_LOSS_ABSOLUTE;
        for (size_t i = 0; i < n; i++) {
            for (size_t c = 0; c < d; c++) ds->x[i * d + c] = gsl_ran_gaussian(r, 1.0);
            double t = ds->x[i * d] - 0.5 * ds->x[i * d + 1] + gsl_ran_gaussian(r, 0.7);
            ds->y[i] = k ? (t > 0 ? 1.0 : 0.0) : t;         /* 0/1 labels for hinge */
        }
        const double fv = vertex_min(ds, kind);
        alig_problem *p = from(ds, kind, INF);
        check_common(p);
        CU_ASSERT(p->f_star_lower <= fv + 1e-12);
        CU_ASSERT(p->f_star >= fv - 1e-12);
        CU_ASSERT(p->f_star - fv <= 1e-9);
        CU_ASSERT(p->f_star - p->f_star_lower <= 1e-7);     /* a certified bracket, not just a point */
        if (!(p->f_star - p->f_star_lower <= 1e-7 && p->f_star - fv <= 1e-9))
            fprintf(stderr, "\n  %s: vertex %.15g f_star %.15g lower %.15g\n", p->name, fv, p->f_star,
                    p->f_star_lower);
        CU_ASSERT(isnan(p->smooth_beta) && isfinite(p->lipschitz_C));
        double w[3];
        random_point(r, NULL, d, 1.0, w);
        gradcheck(p, w, 1e-6);
        alig_problem_free(p);
    }
    alig_dataset_free(ds);
    gsl_rng_free(r);
}

/* Degenerate data in the style of real LIBSVM sets: binary features with a bias column, integer
 * targets, many tied and duplicated rows. The bracket must still close to 1e-9; the lower end is a
 * dual value, so a closed bracket proves optimality of w⋆. */
static void test_dataset_degenerate(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 25);
    const size_t n = 1000, d = 30;
    alig_dataset *ds = dataset_new(n, d);
    double wt[30];
    for (size_t c = 0; c < d; c++) wt[c] = gsl_ran_gaussian(r, 1.0);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n; i++) {
            double t = gsl_ran_gaussian(r, 1.0);
            for (size_t c = 0; c < d; c++) {
                ds->x[i * d + c] = c == 0 || gsl_rng_uniform(r) < 0.1 ? 1.0 : 0.0;
                t += ds->x[i * d + c] * wt[c];
            }
            ds->y[i] = k ? (t > 0 ? 1.0 : 0.0) : round(t);
        }
        alig_problem *p = from(ds, k ? ALIG_LOSS_HINGE : ALIG_LOSS_ABSOLUTE, INF);
        check_common(p);
        CU_ASSERT(p->f_star - p->f_star_lower <= 1e-13);
        if (!(p->f_star - p->f_star_lower <= 1e-13))
            fprintf(stderr, "\n  %s: f_star %.15g lower %.15g\n", p->name, p->f_star, p->f_star_lower);
        alig_problem_free(p);
    }
    alig_dataset_free(ds);
    gsl_rng_free(r);
}

/* Newton's method written here, for the logistic loss in small d (GSL Cholesky). */
static double newton_logistic(const alig_dataset *ds, double *w)
{
    const size_t n = ds->n, d = ds->dim;
    gsl_matrix *h = gsl_matrix_alloc(d, d);
    gsl_vector *g = gsl_vector_alloc(d), *s = gsl_vector_alloc(d);
    double f = 0.0;
    memset(w, 0, d * sizeof *w);
    for (int it = 0; it < 50; it++) {
        gsl_matrix_set_zero(h);
        gsl_vector_set_zero(g);
        f = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double y = ds->y[i] > 0 ? 1.0 : -1.0;
            double z = 0.0;
            for (size_t k = 0; k < d; k++) z += ds->x[i * d + k] * w[k];
            z *= y;
            f += log1p(exp(-z));
            double sg = 1.0 / (1.0 + exp(z));
            for (size_t k = 0; k < d; k++) {
                gsl_vector_set(g, k, gsl_vector_get(g, k) - sg * y * ds->x[i * d + k] / n);
                for (size_t l = 0; l < d; l++)
                    gsl_matrix_set(h, k, l, gsl_matrix_get(h, k, l) + sg * (1 - sg) * ds->x[i * d + k] *
                                   ds->x[i * d + l] / n);
            }
        }
        gsl_linalg_cholesky_decomp1(h);
        gsl_linalg_cholesky_solve(h, g, s);
        for (size_t k = 0; k < d; k++) w[k] -= gsl_vector_get(s, k);
    }
    gsl_matrix_free(h);
    gsl_vector_free(g);
    gsl_vector_free(s);
    return f / n;
}

static void test_dataset_logistic(void)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 24);
    const size_t n = 60, d = 3;
    alig_dataset *ds = dataset_new(n, d);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < d; c++) ds->x[i * d + c] = gsl_ran_gaussian(r, 1.0);
        ds->y[i] = ds->x[i * d] + ds->x[i * d + 2] + gsl_ran_gaussian(r, 1.0) > 0 ? 1.0 : 0.0;
    }
    alig_problem *p = from(ds, ALIG_LOSS_LOGISTIC, INF);
    check_common(p);
    double wn[3], g[3];
    double fn = newton_logistic(ds, wn);
    CU_ASSERT_DOUBLE_EQUAL(p->f_star, fn, 1e-13);
    for (size_t k = 0; k < d; k++) CU_ASSERT_DOUBLE_EQUAL(p->w_star[k], wn[k], 1e-8);
    alig_problem_full(p, p->w_star, g);
    CU_ASSERT(nrm2(g, d) <= 1e-10);
    CU_ASSERT(p->f_star - p->f_star_lower <= 1e-12);
    CU_ASSERT(p->f_star_lower > 0.1);                       /* the dual bound is informative */
    CU_ASSERT(p->smooth_beta > 0 && p->lipschitz_f > 0 && p->lipschitz_f <= p->smooth_beta);
    double w[3];
    random_point(r, NULL, d, 1.0, w);
    gradcheck(p, w, 1e-6);
    alig_problem_free(p);

    /* 0/1 and −1/+1 labels give the same problem */
    alig_dataset *ds2 = dataset_new(n, d);
    memcpy(ds2->x, ds->x, n * d * sizeof(double));
    for (size_t i = 0; i < n; i++) ds2->y[i] = ds->y[i] > 0 ? 1.0 : -1.0;
    alig_problem *p1 = from(ds, ALIG_LOSS_HINGE, INF), *p2 = from(ds2, ALIG_LOSS_HINGE, INF);
    CU_ASSERT_EQUAL(alig_problem_full(p1, w, NULL), alig_problem_full(p2, w, NULL));
    alig_problem_free(p1);
    alig_problem_free(p2);
    alig_dataset_free(ds2);

    /* separable data: the logistic loss has no minimiser */
    for (size_t i = 0; i < n; i++) ds->y[i] = ds->x[i * d] > 0 ? 1.0 : -1.0;
    alig_problem *q = NULL;
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&q, ds, ALIG_LOSS_LOGISTIC, INF), ALIG_ENOPROG);
    CU_ASSERT_PTR_NULL(q);
    CU_ASSERT(strstr(alig_problem_last_error(), "separable") != NULL);
    /* ... while the hinge loss reaches 0 on them */
    p = from(ds, ALIG_LOSS_HINGE, INF);
    CU_ASSERT(p->f_star <= 1e-12 && p->f_star_lower == 0.0);
    alig_problem_free(p);
    alig_dataset_free(ds);
    gsl_rng_free(r);
}

/* read → problem, end to end */
static void test_dataset_from_file(void)
{
    alig_dataset *ds = NULL;
    const char *txt = "1 1:1 2:0.5\n2 1:1 2:-1\n4 1:1 2:2 # three points\n";
    CU_ASSERT_EQUAL_FATAL(alig_dataset_read_libsvm(write_text(txt), &ds, NULL), ALIG_SUCCESS);
    alig_problem *p = from(ds, ALIG_LOSS_SQUARED, INF);
    /* hand-derived normal equations: [3 1.5; 1.5 5.25] w = [7 6.5] */
    const double det = 3 * 5.25 - 1.5 * 1.5;
    CU_ASSERT_DOUBLE_EQUAL(p->w_star[0], (7 * 5.25 - 1.5 * 6.5) / det, 1e-13);
    CU_ASSERT_DOUBLE_EQUAL(p->w_star[1], (3 * 6.5 - 1.5 * 7) / det, 1e-13);
    alig_problem_free(p);
    alig_dataset_free(ds);
}

/* ------------------------------------------------------------------ main */

int main(void)
{
    gsl_set_error_handler_off();
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/alig-test-problems-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    if (CU_initialize_registry() != CUE_SUCCESS) return CU_get_error();
    CU_pSuite s = CU_add_suite("problems", NULL, NULL);
    struct { const char *name; void (*fn)(void); } tests[] = {
        { "defaults and errors", test_defaults_and_errors },
        { "counters and batch", test_counters_and_batch },
        { "determinism", test_determinism },
        { "gradient checks (synthetic)", test_gradcheck_synthetic },
        { "lipschitz: exact w*, f*, eps", test_lipschitz_exact },
        { "lipschitz: closed-form f*", test_lipschitz_closed_form },
        { "least squares: exact w*, f*, eps, alpha", test_least_squares_exact },
        { "libsvm: good files", test_libsvm_good },
        { "libsvm: malformed and truncated", test_libsvm_malformed },
        { "libsvm: gzip and truncated gzip", test_libsvm_gzip },
        { "dataset: squared", test_dataset_squared },
        { "dataset: absolute (median)", test_dataset_absolute_median },
        { "dataset: absolute and hinge (vertices)", test_dataset_polyhedral },
        { "dataset: absolute and hinge, degenerate data", test_dataset_degenerate },
        { "dataset: logistic", test_dataset_logistic },
        { "dataset: from a file", test_dataset_from_file },
    };
    for (size_t k = 0; k < sizeof tests / sizeof tests[0]; k++)
        if (!CU_add_test(s, tests[k].name, tests[k].fn)) return CU_get_error();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    /* remove the scratch files */
    char path[600];
    for (int k = 0; k < nfile; k++) {
        snprintf(path, sizeof path, "%s/f%d.svm", tmpdir, k);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/data.svm.gz", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return fails ? 1 : 0;
}
