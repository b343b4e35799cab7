/* test_lstm_cell.c - the fused LSTM cell op (ad.h alig_ad_lstm_cell) against
 *   1. the same cell composed from generic ops (slice, affine, sigmoid, tanh, mul, add): values and
 *      gradients equal to float rounding (the fused cell's sigmoid and tanh are correctly rounded
 *      from double, the generic ops call libm's float functions, so single outputs may differ in
 *      their last bits);
 *   2. central differences of an independent double-precision cell written here, for the
 *      gradients to the gate pre-activations z and to the previous cell state (the h half of the
 *      state gets none), with a non-triviality guard and a negative control;
 *   3. shape errors and the optional state (NULL = zero c_prev).
 * The loss is L = Σ ρ ⊙ [h, c] with fixed random ρ, so every output element carries gradient. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "alig/ad.h"

#define TOL 2e-6

enum { B = 3, H = 7 };

/* ρ-weighted sum of the cell's output [h, c] in double */
static double ref_loss(const double *z, const double *sp, const double *rho, double fb, int with_state)
{
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < H; k++) {
            const double *zb = z + (size_t)b * 4 * H;
            const double i = 1 / (1 + exp(-zb[k])), j = tanh(zb[H + k]), f = 1 / (1 + exp(-(zb[2 * H + k] + fb))),
                         o = 1 / (1 + exp(-zb[3 * H + k]));
            const double cp = with_state ? sp[(size_t)b * 2 * H + H + k] : 0.0;
            const double c = f * cp + i * j, h = tanh(c) * o;
            L += rho[(size_t)b * 2 * H + k] * h + rho[(size_t)b * 2 * H + H + k] * c;
        }
    return L;
}

typedef struct fixture {
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_ad_node *out, *loss, *rho;
    int zid, sid;
} fixture;

/* graph: out = lstm_cell(z, state) (fused) or its composition; loss = sum(out ⊙ ρ) */
static void build(fixture *f, int fused, int with_state, double fb)
{
    memset(f, 0, sizeof *f);
    CU_ASSERT_EQUAL_FATAL(alig_ad_params_alloc(&f->P), ALIG_SUCCESS);
    alig_ad_params_add(f->P, 2, (int[]){ B, 4 * H }, &f->zid);
    alig_ad_params_add(f->P, 2, (int[]){ B, 2 * H }, &f->sid);
    CU_ASSERT_EQUAL_FATAL(alig_ad_graph_alloc(&f->G, f->P, 1), ALIG_SUCCESS);
    alig_ad_graph *G = f->G;
    alig_ad_node *z = alig_ad_param(G, f->zid), *s = with_state ? alig_ad_param(G, f->sid) : NULL;
    if (fused) {
        f->out = alig_ad_lstm_cell(G, z, s, fb);
    } else {
        alig_ad_node *i = alig_ad_sigmoid(G, alig_ad_slice(G, z, 0, H));
        alig_ad_node *j = alig_ad_tanh(G, alig_ad_slice(G, z, H, H));
        alig_ad_node *fg = alig_ad_sigmoid(G, alig_ad_affine(G, alig_ad_slice(G, z, 2 * H, H), 1.0, fb));
        alig_ad_node *o = alig_ad_sigmoid(G, alig_ad_slice(G, z, 3 * H, H));
        alig_ad_node *c = alig_ad_mul(G, i, j);
        if (s) c = alig_ad_add(G, alig_ad_mul(G, fg, alig_ad_slice(G, s, H, H)), c);
        alig_ad_node *h = alig_ad_mul(G, alig_ad_tanh(G, c), o);
        f->out = alig_ad_concat(G, 2, (alig_ad_node *[]){ h, c });
    }
    f->rho = alig_ad_input(G, 2, (int[]){ B, 2 * H });
    f->loss = alig_ad_sum(G, alig_ad_mul(G, f->out, f->rho));
    CU_ASSERT_EQUAL_FATAL(alig_ad_graph_compile(G), ALIG_SUCCESS);
}

static void fixture_free(fixture *f)
{
    alig_ad_graph_free(f->G);
    alig_ad_params_free(f->P);
}

static void fill(gsl_rng *r, fixture *f, const double *rho)
{
    float *x = alig_ad_params_x(f->P);
    for (size_t i = 0; i < alig_ad_params_n(f->P); i++) x[i] = (float)gsl_ran_gaussian(r, 1.5);
    for (int i = 0; i < B * 2 * H; i++) f->rho->value[i] = (float)rho[i];
}

static void check(int with_state, double fb)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3 + (unsigned long)with_state);
    double rho[B * 2 * H];
    for (int i = 0; i < B * 2 * H; i++) rho[i] = (float)gsl_ran_flat(r, -1, 1);
    fixture fu, co;
    build(&fu, 1, with_state, fb);
    build(&co, 0, with_state, fb);
    fill(r, &fu, rho);
    const size_t n = alig_ad_params_n(fu.P);
    memcpy(alig_ad_params_x(co.P), alig_ad_params_x(fu.P), n * sizeof(float));
    for (int i = 0; i < B * 2 * H; i++) co.rho->value[i] = fu.rho->value[i];
    CU_ASSERT_EQUAL(alig_ad_forward(fu.G, 1), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_backward(fu.G, fu.loss), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_forward(co.G, 1), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_backward(co.G, co.loss), ALIG_SUCCESS);
    /* 1. forward and gradients to rounding */
    double fdiff = 0;
    for (size_t i = 0; i < fu.out->size; i++)
        fdiff = fmax(fdiff, fabs((double)fu.out->value[i] - co.out->value[i]) / fmax(1.0, fabs(co.out->value[i])));
    CU_ASSERT(fdiff <= 4 * 6e-8);
    const float *gf = alig_ad_params_g(fu.P), *gc = alig_ad_params_g(co.P);
    double gmax = 0, dcomp = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(gc[i]));
    for (size_t i = 0; i < n; i++) dcomp = fmax(dcomp, fabs(gf[i] - gc[i]) / gmax);
    CU_ASSERT(dcomp <= TOL);
    /* 2. central differences of the double cell */
    const float *x = alig_ad_params_x(fu.P);
    double *xd = malloc(n * sizeof *xd);
    for (size_t i = 0; i < n; i++) xd[i] = x[i];
    const size_t nz = (size_t)B * 4 * H;
    double err = 0, err_neg = 0, dmax = 0, hmax = 0;
    for (size_t i = 0; i < n; i++) {
        const double h = 1e-6 * fmax(1, fabs(xd[i])), x0 = xd[i];
        xd[i] = x0 + h;
        const double lp = ref_loss(xd, xd + nz, rho, fb, with_state);
        xd[i] = x0 - h;
        const double lm = ref_loss(xd, xd + nz, rho, fb, with_state);
        xd[i] = x0;
        const double d = (lp - lm) / (2 * h);
        dmax = fmax(dmax, fabs(d));
        if (i >= nz && (i - nz) % (2 * H) < H) hmax = fmax(hmax, fabs(gf[i]));   /* the h half of the state */
        err = fmax(err, fabs(gf[i] - d));
        err_neg = fmax(err_neg, fabs(1.001 * gf[i] - d));
    }
    err /= dmax;
    err_neg /= dmax;
    printf("\n  lstm_cell(state=%d, forget bias %g): composition values %.2g gradients %.2g, double FD %.2g "
           "(|d|inf %.3g), 0.1%% off %.2g", with_state, fb, fdiff, dcomp, err, dmax, err_neg);
    CU_ASSERT(err <= TOL);
    CU_ASSERT(dmax > 0.1);
    CU_ASSERT(err_neg > TOL);
    CU_ASSERT_EQUAL(hmax, 0.0);     /* h_prev enters through the caller's matmul, not the cell */
    free(xd);
    fixture_free(&fu);
    fixture_free(&co);
    gsl_rng_free(r);
}

static void test_with_state(void) { check(1, 1.0); }
static void test_without_state(void) { check(0, 1.0); }
static void test_other_bias(void) { check(1, -0.5); }

static void test_shapes(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_ad_params_alloc(&P);
    alig_ad_graph_alloc(&G, P, 0);
    alig_ad_node *z = alig_ad_input(G, 2, (int[]){ 4, 10 });           /* 10 is not 4H */
    CU_ASSERT_PTR_NULL(alig_ad_lstm_cell(G, z, NULL, 1.0));
    CU_ASSERT_EQUAL(alig_ad_graph_status(G), ALIG_EBADLEN);
    CU_ASSERT(strstr(alig_ad_graph_error(G), "lstm_cell") != NULL);
    alig_ad_graph_free(G);
    alig_ad_graph_alloc(&G, P, 0);
    z = alig_ad_input(G, 2, (int[]){ 4, 12 });
    alig_ad_node *s = alig_ad_input(G, 2, (int[]){ 4, 5 });            /* must be (4, 6) */
    CU_ASSERT_PTR_NULL(alig_ad_lstm_cell(G, z, s, 1.0));
    CU_ASSERT_EQUAL(alig_ad_graph_status(G), ALIG_EBADLEN);
    alig_ad_graph_free(G);
    alig_ad_graph_alloc(&G, P, 0);
    z = alig_ad_input(G, 2, (int[]){ 4, 12 });
    CU_ASSERT_PTR_NULL(alig_ad_lstm_cell(G, z, NULL, NAN));
    CU_ASSERT_EQUAL(alig_ad_graph_status(G), ALIG_EINVAL);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("lstm cell", NULL, NULL);
    CU_add_test(s, "with a previous state", test_with_state);
    CU_add_test(s, "zero previous state (NULL)", test_without_state);
    CU_add_test(s, "another forget bias", test_other_bias);
    CU_add_test(s, "shape and argument errors", test_shapes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
