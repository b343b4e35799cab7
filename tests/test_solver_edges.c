/* test_solver_edges.c - edge cases of the generic wrapper found in review: a projection whose
 * ‖x‖² overflows, and a float step size beyond FLT_MAX (ALI-G∞ with a tiny ‖g‖²). */
#include <float.h>
#include <math.h>
#include <CUnit/Basic.h>

#include "alig/solver.h"

/* x = (1e200, 1e200): ‖x‖² overflows, yet the projection onto the unit ball is (1/√2, 1/√2). */
static void test_projection_overflow(void)
{
    double x[2] = { 1e200, 1e200 };
    alig_project_l2(ALIG_F64, 2, x, 1.0);
    CU_ASSERT_DOUBLE_EQUAL(x[0], sqrt(0.5), 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(x[1], sqrt(0.5), 1e-15);

    alig_solver *s;
    double w[2] = { 1e200, -1e200 };
    CU_ASSERT_EQUAL_FATAL(alig_solver_alloc(&s, alig_solver_sgd, ALIG_F64, 2, NULL), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_solver_set(s, w, 2.0), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w[0], sqrt(2.0), 1e-14);
    CU_ASSERT_DOUBLE_EQUAL(w[1], -sqrt(2.0), 1e-14);
    alig_solver_free(s);
}

/* A step that leaves a finite iterate with ‖x‖² = inf is no error on ℝⁿ and is projected on a ball. */
static void test_step_overflowing_norm(void)
{
    alig_params_sgd p = ALIG_PARAMS_SGD_DEFAULT;
    p.lr = 1.4;
    alig_solver *s;
    double w[2] = { 0, 0 }, g[2] = { -1e200, -1e200 };
    CU_ASSERT_EQUAL_FATAL(alig_solver_alloc(&s, alig_solver_sgd, ALIG_F64, 2, &p), ALIG_SUCCESS);
    alig_solver_set(s, w, INFINITY);
    CU_ASSERT_EQUAL(alig_solver_step(s, 1.0, (double[2]){ -1e100, -1e100 }), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_solver_set(s, w, 3.0), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_solver_step(s, 1.0, g), ALIG_ENONFINITE);   /* ‖g‖² itself overflows: refused, w kept */
    /* ‖g‖² = 1.62e308 is finite; w = start + 1.4·9e153 ≈ (1.26e154, 1.26e154) has ‖w‖² ≈ 3.2e308,
     * which overflows: the ball brings it to radius 3 along the diagonal */
    CU_ASSERT_EQUAL(alig_solver_step(s, 1.0, (double[2]){ -9e153, -9e153 }), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w[0], 3.0 * sqrt(0.5), 1e-13);
    CU_ASSERT_DOUBLE_EQUAL(w[1], 3.0 * sqrt(0.5), 1e-13);
    alig_solver_free(s);
}

/* ALI-G∞, δ = 0, loss 1, g = (1e-20, 0) in float: γ = 1e40 > FLT_MAX. Coordinate 1 must stay
 * exactly where it was (0·γ, not 0·inf = NaN) and coordinate 0 moves by a finite step. */
static void test_float_step_beyond_flt_max(void)
{
    alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
    p.delta = 0.0;
    alig_solver *s;
    float w[2] = { 0.5f, 0.25f }, g[2] = { 1e-20f, 0.0f };
    CU_ASSERT_EQUAL_FATAL(alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, 2, &p), ALIG_SUCCESS);
    alig_solver_set(s, w, INFINITY);
    CU_ASSERT_EQUAL(alig_solver_step(s, 1.0, g), ALIG_SUCCESS);
    CU_ASSERT(alig_solver_step_size(s) > FLT_MAX);          /* reported in double, unclamped */
    CU_ASSERT_EQUAL(w[1], 0.25f);
    CU_ASSERT(isfinite(w[0]) && w[0] < -1e18f);
    alig_solver_free(s);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("solver_edges", NULL, NULL);
    CU_add_test(s, "projection when |x|^2 overflows", test_projection_overflow);
    CU_add_test(s, "step leaving a finite iterate with |x|^2 = inf", test_step_overflowing_norm);
    CU_add_test(s, "float step size beyond FLT_MAX", test_float_step_beyond_flt_max);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
