/* test_limits.c - the stated bounds and size checks of the hardening work:
 *   - problems/checked.h: overflow-checked size products;
 *   - LIBSVM: |value| <= ALIG_LIBSVM_MAX_ABS (the 1e200 hang), the dense-matrix bound
 *     ALIG_LIBSVM_MAX_ENTRIES, and the cause and line in each error sentence;
 *   - alig_problem_from_dataset: zero columns do not change f*, w* (checked against the same data
 *     without them, a different matrix) and are not paid for; ALIG_DATASET_MAX_NEWTON_DIM;
 *   - alig_rates_run / alig_osc_probe: horizon, seeds and iteration bounds refused before work. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "alig/alig.h"
#include "alig/analysis.h"
#include "alig/oscillation.h"
#include "alig/problem.h"
#include "problems/checked.h"

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *content)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    fputs(content, f);
    fclose(f);
    return path;
}

static void test_checked_mul(void)
{
    size_t r = 7;
    CU_ASSERT(alig_size_mul(0, SIZE_MAX, &r) && r == 0);
    CU_ASSERT(alig_size_mul(SIZE_MAX, 1, &r) && r == SIZE_MAX);
    r = 7;
    CU_ASSERT(!alig_size_mul(SIZE_MAX / 2 + 1, 2, &r) && r == 7);   /* 2^64 wraps to 0: refused */
    /* the (T+1)*sizeof(double) with T = 2^61 - 1 wraps to 0 */
    CU_ASSERT(!alig_size_mul((size_t)1 << 61, sizeof(double), &r));
    /* rates: n_cfg * seeds_cap * sizeof(item) with seeds_cap = 2^60 */
    CU_ASSERT(!alig_size_mul3(20, (size_t)1 << 60, 16, &r));
    CU_ASSERT(alig_size_mul3(20, 96, 16, &r) && r == 30720);
    CU_ASSERT(!alig_size_add(SIZE_MAX, 1, &r));
    CU_ASSERT(alig_size_add(SIZE_MAX - 1, 1, &r) && r == SIZE_MAX);
}

/* read a file expected to fail; check status, line and that the sentence contains `needle` */
static void expect_bad(const char *content, alig_status want, size_t want_line, const char *needle)
{
    alig_dataset *d = (alig_dataset *)1;
    size_t line = 99;
    alig_status st = alig_dataset_read_libsvm(write_tmp("bad.svm", content), &d, &line);
    CU_ASSERT_EQUAL(st, want);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT_EQUAL(line, want_line);
    const char *why = alig_problem_last_error();
    if (!strstr(why, needle)) printf("\n  expected '%s' in '%s'\n", needle, why);
    CU_ASSERT(strstr(why, needle) != NULL);
}

static void test_libsvm_values(void)
{
    alig_dataset *d = NULL;
    size_t line = 0;
    /* the bound itself is accepted, on features and labels, both signs */
    CU_ASSERT_EQUAL(alig_dataset_read_libsvm(write_tmp("ok.svm", "1e150 1:-1e150\n-1 2:1e150\n"), &d, &line),
                    ALIG_SUCCESS);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_EQUAL(d->y[0], 1e150);
    CU_ASSERT_EQUAL(d->x[0], -1e150);
    alig_dataset_free(d);
    /* the reproducer: "1 3:1 / 1 1:1e200" hung in dgelsd; now line 2 is refused */
    expect_bad("1 3:1\n1 1:1e200\n", ALIG_EFORMAT, 2, "line 2: value '1e200' is beyond");
    expect_bad("1 1:1\n-2e150 1:1\n", ALIG_EFORMAT, 2, "line 2: label '-2e150' is beyond");
    expect_bad("1 1:1.0000001e150\n", ALIG_EFORMAT, 1, "ALIG_LIBSVM_MAX_ABS");
    /* each format error names its cause (the CLI used to print "malformed LIBSVM line" for all) */
    expect_bad("1 1:1\n-1 2:1 1:2\n", ALIG_EFORMAT, 2, "indices must increase (1 after 2)");
    expect_bad("1 2:1 2:3\n", ALIG_EFORMAT, 1, "a repeated index");
    expect_bad("1 1:nan\n", ALIG_EFORMAT, 1, "value 'nan' is not finite");
    expect_bad("1 1:1e400\n", ALIG_EFORMAT, 1, "value '1e400' is not finite");   /* strtod overflow: inf */
    expect_bad("1 1:abc\n", ALIG_EFORMAT, 1, "value 'abc' is not a number");
    expect_bad("x 1:1\n", ALIG_EFORMAT, 1, "label 'x' is not a number");
    expect_bad("1 3000000000:1\n", ALIG_EFORMAT, 1, "is too large (at most 2147483647)");
    expect_bad("1 -3:1\n", ALIG_EFORMAT, 1, "the index must be an unsigned integer");
    /* the dense matrix: 2 samples x (2^27 + 1) features = 2^28 + 2 entries > the bound; refused
     * before allocating (a 2 GiB calloc would otherwise happen here) */
    char big[64];
    snprintf(big, sizeof big, "1 1:1\n-1 %zu:1\n", (ALIG_LIBSVM_MAX_ENTRIES / 2) + 1);
    expect_bad(big, ALIG_ENOMEM, 0, "ALIG_LIBSVM_MAX_ENTRIES");
}

/* f* and w* on X (n x d), and on X with zero columns inserted: must agree (w* = 0 on the zeros) */
static void check_zero_columns(alig_loss_kind loss, const double *x, const double *y, size_t n, size_t d)
{
    const size_t pad = 3, D = d + pad * (d + 1);   /* pad zero columns before, between and after */
    alig_dataset a = { .n = n, .dim = d, .x = (double *)x, .y = (double *)y };
    double *xb = calloc(n * D, sizeof *xb);
    size_t *pos = malloc(d * sizeof *pos);
    CU_ASSERT_FATAL(xb && pos);
    for (size_t k = 0; k < d; k++) pos[k] = pad + k * (pad + 1);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++) xb[i * D + pos[k]] = x[i * d + k];
    alig_dataset b = { .n = n, .dim = D, .x = xb, .y = (double *)y };
    alig_problem *pa = NULL, *pb = NULL;
    CU_ASSERT_EQUAL_FATAL(alig_problem_from_dataset(&pa, &a, loss, INFINITY), ALIG_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(alig_problem_from_dataset(&pb, &b, loss, INFINITY), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(pb->dim, D);
    CU_ASSERT(fabs(pa->f_star - pb->f_star) <= 1e-12 * fmax(1.0, fabs(pa->f_star)));
    CU_ASSERT(fabs(pa->f_star_lower - pb->f_star_lower) <= 1e-9 * fmax(1.0, fabs(pa->f_star)));
    double wz = 0.0, wd = 0.0;
    for (size_t k = 0, j = 0; k < D; k++) {
        if (j < d && k == pos[j]) { wd = fmax(wd, fabs(pb->w_star[k] - pa->w_star[j])); j++; }
        else wz = fmax(wz, fabs(pb->w_star[k]));
    }
    CU_ASSERT_EQUAL(wz, 0.0);
    CU_ASSERT(wd <= 1e-9);
    /* f at the padded w*: the padded problem's own oracle agrees with its f_star */
    CU_ASSERT(fabs(alig_problem_full(pb, pb->w_star, NULL) - pb->f_star) <= 1e-12 * fmax(1.0, pb->f_star));
    alig_problem_free(pa);
    alig_problem_free(pb);
    free(xb);
    free(pos);
}

static void test_zero_columns(void)
{
    /* 8 samples, 3 features, labels of both signs, not separable (sample 7 contradicts sample 0) */
    static const double x[8 * 3] = { 1.0, 0.5, -0.2,  -0.3, 1.2, 0.7,  0.8, -1.1, 0.4,  -1.5, 0.2, 0.9,
                                     0.6, 0.6, -0.8,  0.1, -0.4, 1.3,  -0.7, -0.9, -0.5,  1.0, 0.5, -0.2 };
    static const double y[8] = { 1, -1, 1, -1, 1, 1, -1, -1 };
    static const double yr[8] = { 0.3, -1.2, 2.0, 0.7, -0.4, 1.1, 0.0, 0.9 };
    check_zero_columns(ALIG_LOSS_SQUARED, x, yr, 8, 3);
    check_zero_columns(ALIG_LOSS_ABSOLUTE, x, yr, 8, 3);
    check_zero_columns(ALIG_LOSS_HINGE, x, y, 8, 3);
    check_zero_columns(ALIG_LOSS_LOGISTIC, x, y, 8, 3);
}

static void test_newton_dim(void)
{
    /* 4 samples with ALIG_DATASET_MAX_NEWTON_DIM + 1 non-zero columns: hinge refused at once,
     * squared (dgelsd, no Newton) still solved */
    const size_t n = 4, d = ALIG_DATASET_MAX_NEWTON_DIM + 1;
    double *x = malloc(n * d * sizeof *x), y[4] = { 1, -1, 1, -1 };
    CU_ASSERT_FATAL(x != NULL);
    for (size_t i = 0; i < n * d; i++) x[i] = (double)((i * 7919) % 13) - 6.0 + 0.5;
    alig_dataset ds = { .n = n, .dim = d, .x = x, .y = y };
    alig_problem *p = NULL;
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&p, &ds, ALIG_LOSS_HINGE, INFINITY), ALIG_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT(strstr(alig_problem_last_error(), "ALIG_DATASET_MAX_NEWTON_DIM") != NULL);
    CU_ASSERT_EQUAL(alig_problem_from_dataset(&p, &ds, ALIG_LOSS_SQUARED, INFINITY), ALIG_SUCCESS);
    if (p) CU_ASSERT(p->f_star <= 1e-20);   /* 4 equations, 513 unknowns: interpolated */
    alig_problem_free(p);
    free(x);
}

static void test_experiment_bounds(void)
{
    alig_rates_config c = { .horizon = ALIG_RATES_MAX_HORIZON + 1, .seeds = 2, .seeds_cap = 2,
                            .only_problem = "smooth" };
    alig_rates_result *r = NULL;
    CU_ASSERT_EQUAL(alig_rates_run(&c, &r), ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(r);
    c.horizon = 10;
    c.seeds_cap = ALIG_RATES_MAX_SEEDS + 1;
    CU_ASSERT_EQUAL(alig_rates_run(&c, &r), ALIG_EINVAL);
    c.seeds_cap = (size_t)1 << 60;   /* the issue's --seeds-cap 1152921504606846976 */
    CU_ASSERT_EQUAL(alig_rates_run(&c, &r), ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(r);

    alig_osc_config oc = ALIG_OSC_CONFIG_DEFAULT;
    alig_osc_verdict v;
    oc.iters = ALIG_OSC_MAX_ITERS + 1;
    CU_ASSERT_EQUAL(alig_osc_probe(&oc, 1.0, &v), ALIG_EBADLEN);
    oc.iters = (size_t)1 << 61;      /* the issue's --iters 2305843009213693951 + 1 */
    CU_ASSERT_EQUAL(alig_osc_probe(&oc, 1.0, &v), ALIG_EBADLEN);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/alig-test-limits-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    if (CU_initialize_registry() != CUE_SUCCESS) return CU_get_error();
    CU_pSuite s = CU_add_suite("limits", NULL, NULL);
    CU_add_test(s, "checked size products", test_checked_mul);
    CU_add_test(s, "libsvm: value bound, dense bound, causes", test_libsvm_values);
    CU_add_test(s, "dataset: zero columns change nothing", test_zero_columns);
    CU_add_test(s, "dataset: Newton dimension bound", test_newton_dim);
    CU_add_test(s, "rates and oscillation bounds", test_experiment_bounds);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test_limits: could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
