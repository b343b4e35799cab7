/* test_solver_state.c - checkpointing the solver state: an interrupted run that exports the
 * state, and a fresh solver that imports it, continue bit-for-bit like an uninterrupted run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>

#include "alig/solver.h"

/* ℓ(w) = ½ Σ h_i w_i², h_i = 1 + i/n: a quadratic with a non-identity Hessian. */
static double quad(size_t n, const double *w, double *g)
{
    double l = 0.0;
    for (size_t i = 0; i < n; i++) {
        double h = 1.0 + (double)i / (double)n;
        g[i] = h * w[i];
        l += 0.5 * h * w[i] * w[i];
    }
    return l;
}

static void run(alig_solver *s, double *w, size_t n, int steps)
{
    double *g = malloc(n * sizeof *g);
    for (int t = 0; t < steps; t++) CU_ASSERT_EQUAL_FATAL(alig_solver_step(s, quad(n, w, g), g), ALIG_SUCCESS);
    free(g);
}

static void check_resume(const alig_solver_type *type, const void *params)
{
    enum { N = 7, A = 5, B = 6 };
    double w_full[N], w_cut[N];
    for (size_t i = 0; i < N; i++) w_full[i] = w_cut[i] = 1.0 - 0.3 * (double)i;

    alig_solver *s1, *s2, *s3;
    CU_ASSERT_EQUAL_FATAL(alig_solver_alloc(&s1, type, ALIG_F64, N, params), ALIG_SUCCESS);
    alig_solver_set(s1, w_full, INFINITY);
    run(s1, w_full, N, A + B);

    CU_ASSERT_EQUAL_FATAL(alig_solver_alloc(&s2, type, ALIG_F64, N, params), ALIG_SUCCESS);
    alig_solver_set(s2, w_cut, INFINITY);
    run(s2, w_cut, N, A);
    size_t bytes = alig_solver_state_bytes(s2);
    void *buf = malloc(bytes);
    CU_ASSERT_EQUAL(alig_solver_state_export(s2, buf, bytes - 1), ALIG_EBADLEN);
    CU_ASSERT_EQUAL_FATAL(alig_solver_state_export(s2, buf, bytes), ALIG_SUCCESS);
    alig_solver_free(s2);

    /* a fresh solver (another process after a restart) with the saved iterate */
    CU_ASSERT_EQUAL_FATAL(alig_solver_alloc(&s3, type, ALIG_F64, N, params), ALIG_SUCCESS);
    alig_solver_set(s3, w_cut, INFINITY);
    CU_ASSERT_EQUAL_FATAL(alig_solver_state_import(s3, buf, bytes), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_solver_iter(s3), A);
    run(s3, w_cut, N, B);
    CU_ASSERT_EQUAL(memcmp(w_full, w_cut, sizeof w_full), 0);
    CU_ASSERT_EQUAL(alig_solver_iter(s3), A + B);
    CU_ASSERT_EQUAL(alig_solver_step_size(s1), alig_solver_step_size(s3));

    /* a state of the wrong length or type is refused */
    CU_ASSERT_EQUAL(alig_solver_state_import(s3, buf, bytes - 1), ALIG_EFORMAT);
    free(buf);
    alig_solver_free(s1);
    alig_solver_free(s3);
}

static void test_resume_alig(void)
{
    alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
    p.momentum = 0.9;
    p.eta = 0.4;
    check_resume(alig_solver_alig, &p);
    p.adjusted = 1;
    check_resume(alig_solver_alig, &p);
}

static void test_resume_sgd(void)
{
    alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
    p.momentum = 0.9;
    p.nesterov = 1;
    p.schedule = ALIG_SCHEDULE_SQRT;   /* the step counter matters */
    check_resume(alig_solver_sgd, &p);
}

static void test_resume_others(void)
{
    alig_params_sps sp = ALIG_PARAMS_SPS_DEFAULT;
    sp.smooth = 1;
    check_resume(alig_solver_sps, &sp);
    check_resume(alig_solver_aprox, NULL);
    check_resume(alig_solver_polyak, NULL);
}

static void test_wrong_type(void)
{
    double w[3] = { 1, 2, 3 };
    alig_solver *a, *b, *c;
    alig_params_alig pa = ALIG_PARAMS_ALIG_DEFAULT;
    pa.momentum = 0.5;
    alig_params_sgd ps = ALIG_PARAMS_SGD_DEFAULT;
    ps.momentum = 0.5;
    alig_solver_alloc(&a, alig_solver_alig, ALIG_F64, 3, &pa);
    alig_solver_alloc(&b, alig_solver_sgd, ALIG_F64, 3, &ps);
    alig_solver_alloc(&c, alig_solver_alig, ALIG_F32, 3, &pa);
    alig_solver_set(a, w, INFINITY);
    size_t bytes = alig_solver_state_bytes(a);
    void *buf = malloc(bytes);
    CU_ASSERT_EQUAL(alig_solver_state_export(a, buf, bytes), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_solver_state_import(b, buf, bytes), ALIG_EFORMAT);   /* other method */
    CU_ASSERT_EQUAL(alig_solver_state_import(c, buf, bytes), ALIG_EFORMAT);   /* other dtype */
    CU_ASSERT_EQUAL(alig_solver_state_import(a, buf, bytes), ALIG_SUCCESS);
    ((unsigned char *)buf)[0] ^= 0xff;                                         /* bad magic */
    CU_ASSERT_EQUAL(alig_solver_state_import(a, buf, bytes), ALIG_EFORMAT);
    free(buf);
    alig_solver_free(a);
    alig_solver_free(b);
    alig_solver_free(c);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("solver_state", NULL, NULL);
    CU_add_test(s, "resume ALI-G (standard, adjusted momentum)", test_resume_alig);
    CU_add_test(s, "resume SGD (Nesterov, sqrt schedule)", test_resume_sgd);
    CU_add_test(s, "resume SPS smooth, APROX, Polyak", test_resume_others);
    CU_add_test(s, "refuse a state of another type or dtype", test_wrong_type);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
