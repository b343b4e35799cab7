/* test_ad_ops.c - the autodiff graph (include/alig/ad.h) against independent expectations:
 *   - gradient checks of every op against central differences of the loss formed in double
 *     (alig_ad_gradcheck: the forward runs in float, the loss is accumulated in double and the
 *     step is measured exactly after the perturbed coordinate is rounded to float), each with a non-triviality guard (‖g‖∞ and the checked count);
 *     ops that are not scalar are reduced by a fixed random projection L = Σ r ⊙ op(·);
 *     piecewise-linear ops (relu, maxpool, hard hinge) get inputs whose kinks lie farther
 *     than h away;
 *   - negative control: the checker flags the smoothed hinge, whose backward is DFW's
 *     surrogate (ξ held constant) and not the gradient of the smoothed value;
 *   - composites: a small CNN, a pre-activation residual block with batch norm and dropout, an
 *     LSTM unrolled over 3 steps sharing one weight node (gradient accumulation);
 *   - loss values against plain double re-implementations (softmax CE, hinge hard/smooth);
 *   - batch-norm train/eval semantics (batch statistics, PyTorch running averages, eval
 *     from running averages, a second graph sharing the arena);
 *   - dropout train/eval semantics and determinism (seed, step, thread count);
 *   - with OpenMP, a CNN's loss and gradient with 1 and 2 threads (within float rounding);
 *   - a training graph planned by liveness (alig_ad_graph_compile_planned) against the same
 *     graph compiled plainly: bitwise equal losses, kept values and gradients from poisoned
 *     buffers, less memory;
 *   - the flat x/g contract (views, zeroing, accumulation) and shape errors reported as a
 *     status with a message, never a crash;
 *   - the solver core (ALIG_F32) training a small net through x and g. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/ad.h"
#include "alig/solver.h"

/* ------------------------------------------------------------------ fixture */

#define MAX_RAND 64

typedef struct {
    alig_ad_params *P;
    alig_ad_graph *G;
    gsl_rng *rng;
    alig_ad_node *rand_in[MAX_RAND];   /* inputs filled with U(lo, hi) after compile */
    double lo[MAX_RAND], hi[MAX_RAND];
    int n_rand;
} fx;

static void fx_init(fx *f, unsigned long seed)
{
    memset(f, 0, sizeof *f);
    CU_ASSERT_FATAL(alig_ad_params_alloc(&f->P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&f->G, f->P, seed) == ALIG_SUCCESS);
    f->rng = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_FATAL(f->rng != NULL);
    gsl_rng_set(f->rng, seed);
}

static void fx_free(fx *f)
{
    alig_ad_graph_free(f->G);
    alig_ad_params_free(f->P);
    gsl_rng_free(f->rng);
}

static double unif(fx *f, double lo, double hi) { return lo + (hi - lo) * gsl_rng_uniform(f->rng); }

/* a trainable tensor of the given shape, and its node */
static alig_ad_node *par(fx *f, int ndim, const int *dims)
{
    int id;
    if (alig_ad_params_add(f->P, ndim, dims, &id)) return NULL;
    return alig_ad_param(f->G, id);
}

/* an input filled with U(lo, hi) at compile */
static alig_ad_node *rin(fx *f, int ndim, const int *dims, double lo, double hi)
{
    alig_ad_node *n = alig_ad_input(f->G, ndim, dims);
    CU_ASSERT_FATAL(f->n_rand < MAX_RAND);
    f->rand_in[f->n_rand] = n;
    f->lo[f->n_rand] = lo;
    f->hi[f->n_rand++] = hi;
    return n;
}

/* L = Σ r ⊙ y with r ~ U(−1, 1) fixed */
static alig_ad_node *project(fx *f, alig_ad_node *y)
{
    if (!y) return NULL;
    return alig_ad_sum(f->G, alig_ad_mul(f->G, y, rin(f, y->ndim, y->dims, -1, 1)));
}

/* compile; x ~ U(lo, hi); the registered inputs ~ their ranges */
static void fx_compile(fx *f, double lo, double hi)
{
    alig_status rc = alig_ad_graph_compile(f->G);
    if (rc) printf("  compile failed: %s\n", alig_ad_graph_error(f->G));
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    float *x = alig_ad_params_x(f->P);
    for (size_t i = 0; i < alig_ad_params_n(f->P); i++) x[i] = (float)unif(f, lo, hi);
    for (int k = 0; k < f->n_rand; k++)
        for (size_t i = 0; i < f->rand_in[k]->size; i++) f->rand_in[k]->value[i] = (float)unif(f, f->lo[k], f->hi[k]);
}

/* labels 0..C−1 drawn at random into an input node */
static void fill_labels(fx *f, alig_ad_node *y, int C)
{
    for (size_t i = 0; i < y->size; i++) y->value[i] = (float)gsl_rng_uniform_int(f->rng, (unsigned long)C);
}

/* gradient check with a non-triviality guard; prints one line */
static void check(fx *f, alig_ad_node *loss, const char *name, double h, double tol, int eval, size_t max_coords)
{
    alig_ad_gradcheck_opts o = { .h = h, .eval = eval, .max_coords = max_coords, .seed = 7 };
    alig_ad_gradcheck_result r;
    alig_status rc = alig_ad_gradcheck(f->G, loss, &o, &r);
    printf("  gradcheck %-34s n %5zu checked %5zu  max err %.2e  |g|max %.2e\n", name, alig_ad_params_n(f->P),
           r.checked, r.max_err, r.max_abs_grad);
    CU_ASSERT(rc == ALIG_SUCCESS);
    CU_ASSERT(r.checked == (max_coords ? max_coords : alig_ad_params_n(f->P)));
    CU_ASSERT(r.max_abs_grad > 1e-2);        /* the guard: a zero gradient would pass any check */
    CU_ASSERT(r.max_abs_fd > 1e-2);
    CU_ASSERT(r.max_err < tol);
}

/* ------------------------------------------------------------------ single ops */

static void test_grad_matmul(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            fx f;
            fx_init(&f, 11 + 2 * ta + tb);
            alig_ad_node *a = par(&f, 2, ta ? (int[]){ 4, 3 } : (int[]){ 3, 4 });
            alig_ad_node *b = par(&f, 2, tb ? (int[]){ 5, 4 } : (int[]){ 4, 5 });
            alig_ad_node *loss = project(&f, alig_ad_matmul(f.G, a, b, ta, tb));
            fx_compile(&f, -1, 1);
            char name[40];
            snprintf(name, sizeof name, "matmul ta=%d tb=%d", ta, tb);
            check(&f, loss, name, 1e-2, 1e-3, 0, 0);
            fx_free(&f);
        }
    /* x·xᵀ: the same node as both operands */
    fx f;
    fx_init(&f, 3);
    alig_ad_node *x = par(&f, 2, (int[]){ 3, 4 });
    alig_ad_node *loss = project(&f, alig_ad_matmul(f.G, x, x, 0, 1));
    fx_compile(&f, -1, 1);
    check(&f, loss, "matmul x·xᵀ", 1e-2, 1e-3, 0, 0);
    fx_free(&f);
}

static void test_grad_bias_add(void)
{
    for (int four = 0; four < 2; four++) {
        fx f;
        fx_init(&f, 21 + four);
        alig_ad_node *x = par(&f, four ? 4 : 2, four ? (int[]){ 2, 3, 2, 4 } : (int[]){ 5, 3 });
        alig_ad_node *b = par(&f, 1, (int[]){ 3 });
        alig_ad_node *loss = project(&f, alig_ad_bias_add(f.G, x, b));
        fx_compile(&f, -1, 1);
        check(&f, loss, four ? "bias_add (N,C,H,W)" : "bias_add (N,C)", 1e-2, 1e-3, 0, 0);
        fx_free(&f);
    }
}

static void test_grad_conv2d(void)
{
    const alig_ad_conv_opts opts[3] = { { 0 }, { .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 2 },
                                         { .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1 } };
    for (int k = 0; k < 3; k++) {
        fx f;
        fx_init(&f, 31 + k);
        alig_ad_node *x = par(&f, 4, (int[]){ 2, 3, 6, 5 });
        alig_ad_node *w = par(&f, 4, (int[]){ 4, 3, 3, 2 });
        alig_ad_node *b = k ? par(&f, 1, (int[]){ 4 }) : NULL;                 /* fused bias on two of three */
        alig_ad_node *loss = project(&f, alig_ad_conv2d(f.G, x, w, b, &opts[k]));
        fx_compile(&f, -1, 1);
        char name[40];
        snprintf(name, sizeof name, "conv2d opts %d", k);
        check(&f, loss, name, 1e-2, 1e-3, 0, 0);
        fx_free(&f);
    }
}

/* The Winograd path through the graph: central-difference gradient checks (padding 0, 1, 2, with
 * and without bias, odd sizes), the same values and gradients as the im2col path on the same
 * parameters, and the constructor's refusals (a 3×3 stride-2 or a 1×1 kernel forced to Winograd,
 * an unknown algorithm). */
static void test_conv2d_winograd(void)
{
    const int pads[3] = { 1, 0, 2 };
    for (int k = 0; k < 6; k++) {       /* k < 3: F(2×2, 3×3); k >= 3: F(4×4, 3×3) */
        float *val[2] = { NULL, NULL }, *grad[2] = { NULL, NULL };
        size_t ny = 0, n = 0;
        for (int a = 0; a < 2; a++) {       /* same seed: same parameters on both paths */
            fx f;
            fx_init(&f, 77 + k);
            alig_ad_node *x = par(&f, 4, (int[]){ 3, 5, 7, 6 });
            alig_ad_node *w = par(&f, 4, (int[]){ 4, 5, 3, 3 });
            alig_ad_node *b = k % 3 != 1 ? par(&f, 1, (int[]){ 4 }) : NULL;
            const alig_ad_conv_opts o = { .pad_h = pads[k % 3], .pad_w = pads[(k + 1) % 3],
                                          .algo = a ? ALIG_CONV_IM2COL : k < 3 ? ALIG_CONV_WINOGRAD : ALIG_CONV_WINOGRAD4 };
            alig_ad_node *y = alig_ad_conv2d(f.G, x, w, b, &o);
            alig_ad_node *loss = project(&f, y);
            fx_compile(&f, -1, 1);
            if (a == 0) {
                char name[48];
                snprintf(name, sizeof name, "conv2d winograd F%d pad %d,%d", k < 3 ? 2 : 4, o.pad_h, o.pad_w);
                /* the loss is bilinear in (x, w): central differences are exact for any h, so a
                 * larger h than elsewhere only shrinks the float rounding of the two losses
                 * (Winograd rounds y more than the direct sum: its transforms add terms; F(4×4)
                 * about ten times more than F(2×2), hence its larger h) */
                check(&f, loss, name, k < 3 ? 5e-2 : 0.25, 1e-3, 0, 0);
            }
            CU_ASSERT_FATAL(alig_ad_forward(f.G, 1) == ALIG_SUCCESS);
            CU_ASSERT_FATAL(alig_ad_backward(f.G, loss) == ALIG_SUCCESS);
            ny = y->size;
            n = alig_ad_params_n(f.P);
            val[a] = malloc(ny * sizeof(float));
            grad[a] = malloc(n * sizeof(float));
            memcpy(val[a], y->value, ny * sizeof(float));
            memcpy(grad[a], alig_ad_params_g(f.P), n * sizeof(float));
            fx_free(&f);
        }
        double dv = 0, sv = 0, dg = 0, sg = 0;
        for (size_t i = 0; i < ny; i++) { dv = fmax(dv, fabs(val[0][i] - val[1][i])); sv = fmax(sv, fabs(val[1][i])); }
        for (size_t i = 0; i < n; i++) { dg = fmax(dg, fabs(grad[0][i] - grad[1][i])); sg = fmax(sg, fabs(grad[1][i])); }
        printf("  winograd vs im2col, pads case %d: values %.2g, gradients %.2g (relative)\n", k, dv / sv, dg / sg);
        CU_ASSERT(sv > 0.1 && sg > 0.1);
        CU_ASSERT(dv <= (k < 3 ? 1e-5 : 2e-5) * sv);   /* F(4×4) rounds more: see tests/test_winograd.c */
        CU_ASSERT(dg <= (k < 3 ? 1e-5 : 2e-5) * sg);
        for (int a = 0; a < 2; a++) { free(val[a]); free(grad[a]); }
    }
    /* an activation read by two convolutions: the one that runs backward first (the later node)
     * writes its gradient with = instead of the driver zeroing it, the other adds; both orders of
     * Winograd and im2col consumers, checked against central differences */
    for (int order = 0; order < 2; order++) {
        fx f;
        fx_init(&f, 91 + order);
        alig_ad_node *p = par(&f, 4, (int[]){ 2, 4, 6, 6 });
        alig_ad_node *h = alig_ad_tanh(f.G, p);
        const alig_ad_conv_opts wino = { .pad_h = 1, .pad_w = 1, .algo = ALIG_CONV_WINOGRAD };
        const alig_ad_conv_opts im2c = { .pad_h = 1, .pad_w = 1, .algo = ALIG_CONV_IM2COL };
        alig_ad_node *y1 = alig_ad_conv2d(f.G, h, par(&f, 4, (int[]){ 3, 4, 3, 3 }), NULL, order ? &im2c : &wino);
        alig_ad_node *y2 = alig_ad_conv2d(f.G, h, par(&f, 4, (int[]){ 3, 4, 3, 3 }), NULL, order ? &wino : &im2c);
        alig_ad_node *loss = project(&f, alig_ad_add(f.G, y1, y2));
        fx_compile(&f, -1, 1);
        check(&f, loss, order ? "two convs on one input (wino last)" : "two convs on one input (im2col last)",
              1e-2, 2e-3, 0, 0);
        fx_free(&f);
    }
    /* refusals */
    for (int k = 0; k < 3; k++) {
        fx f;
        fx_init(&f, 5);
        alig_ad_node *x = par(&f, 4, (int[]){ 2, 4, 6, 6 });
        alig_ad_node *w = par(&f, 4, k == 1 ? (int[]){ 3, 4, 1, 1 } : (int[]){ 3, 4, 3, 3 });
        alig_ad_conv_opts o = { .stride_h = k == 0 ? 2 : 1,
                                .algo = k == 2 ? (alig_conv_algo)7 : k == 1 ? ALIG_CONV_WINOGRAD4 : ALIG_CONV_WINOGRAD };
        CU_ASSERT(alig_ad_conv2d(f.G, x, w, NULL, &o) == NULL);
        CU_ASSERT_EQUAL(alig_ad_graph_status(f.G), ALIG_EINVAL);
        printf("  refused: \"%s\"\n", alig_ad_graph_error(f.G));
        CU_ASSERT(strstr(alig_ad_graph_error(f.G), k == 2 ? "algorithm" : "Winograd") != NULL);
        fx_free(&f);
    }
}

/* values of a parameter tensor replaced by a random permutation of 0.05·k + 0.025: distinct, spaced 0.05, none at 0 */
static void spaced_values(fx *f, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = (float)(0.05 * ((double)i - (double)n / 2) + 0.025);   /* 0 excluded */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = gsl_rng_uniform_int(f->rng, (unsigned long)(i + 1));
        float t = v[i]; v[i] = v[j]; v[j] = t;
    }
}

static void test_grad_pool(void)
{
    const alig_ad_pool_opts opts[3] = { { .kh = 2, .kw = 2 }, { .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1 },
                                         { .kh = 3, .kw = 2, .stride_h = 1, .stride_w = 1, .pad_h = 1 } };
    for (int k = 0; k < 3; k++)
        for (int avg = 0; avg < 2; avg++) {
            fx f;
            fx_init(&f, 41 + k);
            alig_ad_node *x = par(&f, 4, (int[]){ 2, 2, 5, 6 });
            alig_ad_node *y = avg ? alig_ad_avgpool2d(f.G, x, &opts[k]) : alig_ad_maxpool2d(f.G, x, &opts[k]);
            alig_ad_node *loss = project(&f, y);
            fx_compile(&f, -1, 1);
            spaced_values(&f, alig_ad_params_x(f.P), alig_ad_params_n(f.P));   /* no tie within h */
            char name[40];
            snprintf(name, sizeof name, "%s opts %d", avg ? "avgpool2d" : "maxpool2d", k);
            check(&f, loss, name, 1e-2, 1e-3, 0, 0);
            fx_free(&f);
        }
    fx f;
    fx_init(&f, 49);
    alig_ad_node *loss = project(&f, alig_ad_global_avgpool(f.G, par(&f, 4, (int[]){ 3, 4, 3, 5 })));
    fx_compile(&f, -1, 1);
    check(&f, loss, "global_avgpool", 1e-2, 1e-3, 0, 0);
    fx_free(&f);
}

/* relu and maxpool2d write their input's gradient on its first contribution (the driver does not
 * zero it): a chain relu → maxpool on an activation (both write), and an activation read by a
 * relu and a max-pool in both creation orders (the later node writes, the other adds), checked
 * against central differences. h = p + 0.5 with p spaced away from −0.5 and from ties. */
static void test_grad_relu_pool_write(void)
{
    const alig_ad_pool_opts po = { .kh = 2, .kw = 2, .stride_h = 1, .stride_w = 2 };
    for (int k = 0; k < 3; k++) {
        fx f;
        fx_init(&f, 71 + k);
        alig_ad_node *p = par(&f, 4, (int[]){ 2, 2, 4, 6 });
        alig_ad_node *h = alig_ad_affine(f.G, p, 1.0, 0.5), *r = NULL, *loss;
        if (k == 0) {
            r = alig_ad_relu(f.G, h);
            loss = project(&f, alig_ad_maxpool2d(f.G, r, &po));
        } else {
            alig_ad_node *first = k == 1 ? alig_ad_relu(f.G, h) : alig_ad_maxpool2d(f.G, h, &po);
            alig_ad_node *second = k == 1 ? alig_ad_maxpool2d(f.G, h, &po) : alig_ad_relu(f.G, h);
            loss = alig_ad_add(f.G, project(&f, first), project(&f, second));
        }
        fx_compile(&f, -1, 1);
        float *x = alig_ad_params_x(f.P);
        spaced_values(&f, x, alig_ad_params_n(f.P));    /* h = x + 0.5: no kink at 0, no tie within h */
        for (size_t i = 0; i < alig_ad_params_n(f.P); i++) x[i] -= 0.5f;
        /* the buffers the ops must write hold NaN: an op that added instead would poison g */
        for (size_t i = 0; i < h->size; i++) h->grad[i] = NAN;
        for (size_t i = 0; r && i < r->size; i++) r->grad[i] = NAN;
        const char *names[3] = { "relu -> maxpool (both write)", "relu and maxpool on one input (pool last)",
                                 "maxpool and relu on one input (relu last)" };
        check(&f, loss, names[k], 1e-2, 1e-3, 0, 0);
        fx_free(&f);
    }
}

static void test_grad_unary(void)
{
    const alig_op ops[4] = { ALIG_OP_RELU, ALIG_OP_SIGMOID, ALIG_OP_TANH, ALIG_OP_AFFINE };
    for (int k = 0; k < 4; k++) {
        fx f;
        fx_init(&f, 51 + k);
        alig_ad_node *x = par(&f, 3, (int[]){ 4, 3, 5 }), *y = NULL;
        switch (ops[k]) {
        case ALIG_OP_RELU: y = alig_ad_relu(f.G, x); break;
        case ALIG_OP_SIGMOID: y = alig_ad_sigmoid(f.G, x); break;
        case ALIG_OP_TANH: y = alig_ad_tanh(f.G, x); break;
        default: y = alig_ad_affine(f.G, x, -1.5, 0.25); break;
        }
        alig_ad_node *loss = project(&f, y);
        fx_compile(&f, -2, 2);
        if (ops[k] == ALIG_OP_RELU) spaced_values(&f, alig_ad_params_x(f.P), alig_ad_params_n(f.P));
        check(&f, loss, alig_ad_op_name(ops[k]), 1e-2, 2e-3, 0, 0);
        fx_free(&f);
    }
}

static void test_grad_binary(void)
{
    for (int k = 0; k < 4; k++) {       /* add, mul, a + a, a ⊙ a */
        fx f;
        fx_init(&f, 61 + k);
        alig_ad_node *a = par(&f, 2, (int[]){ 4, 6 });
        alig_ad_node *b = k < 2 ? par(&f, 2, (int[]){ 4, 6 }) : a;
        alig_ad_node *y = (k % 2 == 0) ? alig_ad_add(f.G, a, b) : alig_ad_mul(f.G, a, b);
        alig_ad_node *loss = project(&f, y);
        fx_compile(&f, -1, 1);
        const char *names[4] = { "add", "mul", "add a+a", "mul a*a" };
        check(&f, loss, names[k], 1e-2, 1e-3, 0, 0);
        fx_free(&f);
    }
}

static void test_grad_shape_ops(void)
{
    fx f;
    fx_init(&f, 71);
    alig_ad_node *a = par(&f, 4, (int[]){ 2, 1, 3, 2 });
    alig_ad_node *b = par(&f, 4, (int[]){ 2, 3, 3, 2 });
    alig_ad_node *c = par(&f, 4, (int[]){ 2, 2, 3, 2 });
    alig_ad_node *cat = alig_ad_concat(f.G, 3, (alig_ad_node *[]){ a, b, c });
    alig_ad_node *sl = alig_ad_slice(f.G, cat, 2, 3);                    /* straddles a|b|c? channels 2..4 */
    alig_ad_node *fl = alig_ad_flatten(f.G, sl);
    alig_ad_node *loss = alig_ad_add(f.G, project(&f, fl), project(&f, cat));
    fx_compile(&f, -1, 1);
    CU_ASSERT(cat->dims[1] == 6 && sl->dims[1] == 3 && fl->ndim == 2 && fl->dims[1] == 18);
    check(&f, loss, "concat + slice + flatten", 1e-2, 1e-3, 0, 0);
    /* values: channel 2 of the slice is channel 4 of the concat = channel 0 of c */
    CU_ASSERT_EQUAL(alig_ad_forward(f.G, 1), ALIG_SUCCESS);
    CU_ASSERT(sl->value[2 * 6] == c->value[0]);      /* n = 0, channel 2 of sl, (0,0) */
    CU_ASSERT(cat->value[6 * 6 + 0] == a->value[6]); /* n = 1, channel 0 = a's image 1 */
    fx_free(&f);

    fx_init(&f, 72);
    alig_ad_node *x = par(&f, 2, (int[]){ 3, 8 });
    loss = project(&f, alig_ad_reshape(f.G, x, 3, (int[]){ 2, 4, 3 }));
    fx_compile(&f, -1, 1);
    check(&f, loss, "reshape", 1e-2, 1e-3, 0, 0);
    fx_free(&f);
}

static void test_grad_softmax_sum(void)
{
    fx f;
    fx_init(&f, 81);
    alig_ad_node *loss = project(&f, alig_ad_softmax(f.G, par(&f, 2, (int[]){ 4, 5 })));
    fx_compile(&f, -2, 2);
    check(&f, loss, "softmax", 1e-2, 2e-3, 0, 0);
    fx_free(&f);
    fx_init(&f, 82);
    loss = alig_ad_sum(f.G, par(&f, 3, (int[]){ 2, 3, 4 }));
    fx_compile(&f, -1, 1);
    check(&f, loss, "sum", 1e-2, 1e-4, 0, 0);
    fx_free(&f);
}

static void test_grad_dropout(void)
{
    for (int eval = 0; eval < 2; eval++) {
        fx f;
        fx_init(&f, 91);
        alig_ad_node *x = par(&f, 2, (int[]){ 8, 10 });
        alig_ad_node *loss = project(&f, alig_ad_dropout(f.G, x, 0.4));
        fx_compile(&f, -1, 1);
        check(&f, loss, eval ? "dropout (eval)" : "dropout (train)", 1e-2, 1e-3, eval, 0);
        fx_free(&f);
    }
}

/* batch norm with its own arena buffers; x is trainable so ∂/∂x is checked too */
static alig_ad_node *bn_block(fx *f, alig_ad_node *x, int affine, const alig_ad_bn_opts *o)
{
    int C = x->dims[1], rm, rv;
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(f->P, 1, &C, 0.0f, &rm) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(f->P, 1, &C, 1.0f, &rv) == ALIG_SUCCESS);
    alig_ad_node *g = affine ? par(f, 1, &C) : NULL, *b = affine ? par(f, 1, &C) : NULL;
    return alig_ad_batchnorm(f->G, x, g, b, alig_ad_buffer(f->G, rm), alig_ad_buffer(f->G, rv), o);
}

static void test_grad_batchnorm(void)
{
    for (int four = 0; four < 2; four++)
        for (int affine = 0; affine < 2; affine++)
            for (int eval = 0; eval < 2; eval++) {
                fx f;
                fx_init(&f, 101 + four);
                alig_ad_node *x = par(&f, four ? 4 : 2, four ? (int[]){ 3, 2, 3, 2 } : (int[]){ 6, 3 });
                alig_ad_node *loss = project(&f, bn_block(&f, x, affine, NULL));
                fx_compile(&f, -1, 1);
                if (eval) {     /* non-trivial running statistics */
                    float *buf = alig_ad_params_buf(f.P);
                    for (size_t i = 0; i < alig_ad_params_nbuf(f.P); i++) buf[i] = (float)unif(&f, 0.5, 1.5);
                }
                char name[48];
                snprintf(name, sizeof name, "batchnorm %s%s (%s)", four ? "(N,C,H,W)" : "(N,C)", affine ? " affine" : "",
                         eval ? "eval" : "train");
                check(&f, loss, name, 1e-2, 5e-3, eval, 0);
                fx_free(&f);
            }
}

/* batchnorm with the fused ReLU equals relu(batchnorm) in the graph: the same values and the same
 * gradients (same float operations, so equal to rounding), in train and eval mode, affine or not */
static void test_bn_relu_fused(void)
{
    for (int affine = 0; affine < 2; affine++)
        for (int eval = 0; eval < 2; eval++) {
            float *g[2] = { NULL, NULL };
            double l[2] = { 0, 0 };
            size_t n = 0, zeros = 0;
            for (int fused = 0; fused < 2; fused++) {
                fx f;
                fx_init(&f, 131 + affine);
                alig_ad_node *x = par(&f, 4, (int[]){ 4, 3, 5, 4 });
                const alig_ad_bn_opts o = { .momentum = 0.1, .eps = 1e-5, .relu = fused };
                alig_ad_node *y = bn_block(&f, x, affine, &o);
                if (!fused) y = alig_ad_relu(f.G, y);
                alig_ad_node *loss = project(&f, y);
                fx_compile(&f, -1, 1);
                float *buf = alig_ad_params_buf(f.P);
                for (size_t i = 0; i < alig_ad_params_nbuf(f.P); i++) buf[i] = 0.3f + 0.1f * (float)i;
                CU_ASSERT_FATAL(alig_ad_forward(f.G, !eval) == ALIG_SUCCESS);
                CU_ASSERT_FATAL(alig_ad_backward(f.G, loss) == ALIG_SUCCESS);
                for (size_t i = 0; i < y->size; i++) zeros += fused && y->value[i] == 0.0f;
                l[fused] = alig_ad_scalar(loss);
                n = alig_ad_params_n(f.P);
                g[fused] = malloc(n * sizeof(float));
                memcpy(g[fused], alig_ad_params_g(f.P), n * sizeof(float));
                fx_free(&f);
            }
            double d = 0, m = 0;
            for (size_t i = 0; i < n; i++) { d = fmax(d, fabs(g[0][i] - g[1][i])); m = fmax(m, fabs(g[0][i])); }
            printf("  bn+relu fused vs relu(bn), affine %d eval %d: loss %.3g vs %.3g, gradient diff %.2g of %.2g\n",
                   affine, eval, l[1], l[0], d, m);
            CU_ASSERT(zeros > 0);                   /* the ReLU is active somewhere */
            CU_ASSERT(m > 1e-2);
            CU_ASSERT(fabs(l[0] - l[1]) <= 1e-6 * (1.0 + fabs(l[0])));
            CU_ASSERT(d <= 1e-6 * m);
            free(g[0]); free(g[1]);
        }
}

static void test_grad_losses(void)
{
    /* softmax cross-entropy straight from the loss node */
    fx f;
    fx_init(&f, 111);
    alig_ad_node *s = par(&f, 2, (int[]){ 6, 4 });
    alig_ad_node *y = alig_ad_input(f.G, 1, (int[]){ 6 });
    alig_ad_node *loss = alig_ad_softmax_ce(f.G, s, y);
    fx_compile(&f, -2, 2);
    fill_labels(&f, y, 4);
    check(&f, loss, "softmax_ce", 1e-2, 1e-3, 0, 0);
    fx_free(&f);

    /* hard hinge: rows whose two largest augmented scores differ by more than 4h */
    fx_init(&f, 112);
    s = par(&f, 2, (int[]){ 8, 5 });
    y = alig_ad_input(f.G, 1, (int[]){ 8 });
    loss = alig_ad_hinge(f.G, s, y, 0);
    fx_compile(&f, -2, 2);
    fill_labels(&f, y, 5);
    float *x = alig_ad_params_x(f.P);
    for (int tries = 0;; tries++) {
        int ok = 1;
        for (int i = 0; i < 8; i++) {
            double a1 = -INFINITY, a2 = -INFINITY;
            int yi = (int)y->value[i];
            for (int j = 0; j < 5; j++) {
                double a = x[i * 5 + j] + (j != yi) - x[i * 5 + yi];
                if (a > a1) { a2 = a1; a1 = a; } else if (a > a2) a2 = a;
            }
            ok &= a1 - a2 > 0.04;
        }
        if (ok) break;
        CU_ASSERT_FATAL(tries < 1000);
        for (int i = 0; i < 40; i++) x[i] = (float)unif(&f, -2, 2);
    }
    check(&f, loss, "hinge (hard)", 1e-2, 1e-3, 0, 0);
    fx_free(&f);

    /* binary cross-entropy on logits */
    fx_init(&f, 113);
    s = par(&f, 2, (int[]){ 4, 6 });
    loss = alig_ad_bce_logits(f.G, s, rin(&f, 2, (int[]){ 4, 6 }, 0, 1));
    fx_compile(&f, -3, 3);
    check(&f, loss, "bce_logits", 1e-2, 1e-3, 0, 0);
    fx_free(&f);
}

/* The checker must fail where backward is not the gradient: the smoothed hinge's backward holds
 * ξ = softmax(s) constant (DFW), while the value Σ ξ(s)·aug(s) moves ξ too. */
static void test_gradcheck_negative_control(void)
{
    fx f;
    fx_init(&f, 121);
    alig_ad_node *s = par(&f, 2, (int[]){ 6, 4 });
    alig_ad_node *y = alig_ad_input(f.G, 1, (int[]){ 6 });
    alig_ad_node *loss = alig_ad_hinge(f.G, s, y, 1);
    fx_compile(&f, -1, 1);
    fill_labels(&f, y, 4);
    alig_ad_gradcheck_result r;
    CU_ASSERT_EQUAL(alig_ad_gradcheck(f.G, loss, &(alig_ad_gradcheck_opts){ .h = 1e-3 }, &r), ALIG_SUCCESS);
    printf("  gradcheck smoothed hinge (expected to FAIL): max err %.2e\n", r.max_err);
    CU_ASSERT(r.checked == 24);
    CU_ASSERT(r.max_err > 0.1);
    fx_free(&f);
}

/* ------------------------------------------------------------------ composites */

static void test_grad_cnn(void)
{
    fx f;
    fx_init(&f, 131);
    alig_ad_graph *G = f.G;
    alig_ad_node *x = rin(&f, 4, (int[]){ 3, 2, 8, 8 }, -1, 1);
    alig_ad_node *lab = alig_ad_input(G, 1, (int[]){ 3 });
    alig_ad_node *h = alig_ad_conv2d(G, x, par(&f, 4, (int[]){ 4, 2, 3, 3 }), par(&f, 1, (int[]){ 4 }),
                                     &(alig_ad_conv_opts){ .pad_h = 1, .pad_w = 1 });      /* fused bias */
    h = alig_ad_tanh(G, h);
    h = alig_ad_avgpool2d(G, h, &(alig_ad_pool_opts){ .kh = 2, .kw = 2 });
    h = alig_ad_conv2d(G, h, par(&f, 4, (int[]){ 5, 4, 3, 3 }), NULL, NULL);   /* separate bias_add */
    h = alig_ad_sigmoid(G, alig_ad_bias_add(G, h, par(&f, 1, (int[]){ 5 })));
    h = alig_ad_flatten(G, h);                                            /* (3, 5·2·2) */
    h = alig_ad_matmul(G, h, par(&f, 2, (int[]){ 3, 20 }), 0, 1);         /* PyTorch (out,in) layout */
    alig_ad_node *loss = alig_ad_softmax_ce(G, alig_ad_bias_add(G, h, par(&f, 1, (int[]){ 3 })), lab);
    fx_compile(&f, -0.7, 0.7);
    fill_labels(&f, lab, 3);
    check(&f, loss, "CNN conv-tanh-avgpool-conv-dense-CE", 1e-2, 5e-3, 0, 0);
    fx_free(&f);
}

static void test_grad_resblock(void)
{
    /* pre-activation block: y = x + conv(drop(tanh(bn(conv(tanh(bn(x))))))) */
    fx f;
    fx_init(&f, 141);
    alig_ad_graph *G = f.G;
    alig_ad_node *x = rin(&f, 4, (int[]){ 4, 3, 4, 4 }, -1, 1);
    const alig_ad_conv_opts same = { .pad_h = 1, .pad_w = 1 };
    alig_ad_node *h = alig_ad_tanh(G, bn_block(&f, x, 1, NULL));
    h = alig_ad_conv2d(G, h, par(&f, 4, (int[]){ 3, 3, 3, 3 }), NULL, &same);
    h = alig_ad_tanh(G, bn_block(&f, h, 1, NULL));
    h = alig_ad_dropout(G, h, 0.3);
    h = alig_ad_conv2d(G, h, par(&f, 4, (int[]){ 3, 3, 3, 3 }), NULL, &same);
    alig_ad_node *out = alig_ad_add(G, x, h);
    alig_ad_node *loss = project(&f, alig_ad_global_avgpool(G, out));
    fx_compile(&f, -0.5, 0.5);
    float *gam = alig_ad_params_value(f.P, 2);        /* first BN's gamma: start near 1 */
    for (int c = 0; c < 3; c++) gam[c] += 1.0f;
    check(&f, loss, "residual block BN+dropout (train)", 1e-2, 5e-3, 0, 0);
    check(&f, loss, "residual block BN+dropout (eval)", 1e-2, 5e-3, 1, 0);
    fx_free(&f);
}

static void test_grad_lstm(void)
{
    /* LSTM cell (gates i, f, g, o from one (N, 4H) pre-activation), 3 steps, weights shared */
    enum { N = 2, D = 3, H = 4, T = 3 };
    fx f;
    fx_init(&f, 151);
    alig_ad_graph *G = f.G;
    alig_ad_node *Wx = par(&f, 2, (int[]){ D, 4 * H }), *Wh = par(&f, 2, (int[]){ H, 4 * H });
    alig_ad_node *b = par(&f, 1, (int[]){ 4 * H });
    int wy_id;
    CU_ASSERT_FATAL(alig_ad_params_add(f.P, 2, (int[]){ H, 1 }, &wy_id) == ALIG_SUCCESS);
    alig_ad_node *h = rin(&f, 2, (int[]){ N, H }, -0.5, 0.5), *c = rin(&f, 2, (int[]){ N, H }, -0.5, 0.5);
    alig_ad_node *loss = NULL;
    for (int t = 0; t < T; t++) {
        alig_ad_node *xt = rin(&f, 2, (int[]){ N, D }, -1, 1);
        alig_ad_node *z = alig_ad_bias_add(G, alig_ad_add(G, alig_ad_matmul(G, xt, Wx, 0, 0), alig_ad_matmul(G, h, Wh, 0, 0)), b);
        alig_ad_node *ig = alig_ad_sigmoid(G, alig_ad_slice(G, z, 0, H));
        alig_ad_node *fg = alig_ad_sigmoid(G, alig_ad_slice(G, z, H, H));
        alig_ad_node *gg = alig_ad_tanh(G, alig_ad_slice(G, z, 2 * H, H));
        alig_ad_node *og = alig_ad_sigmoid(G, alig_ad_slice(G, z, 3 * H, H));
        c = alig_ad_add(G, alig_ad_mul(G, fg, c), alig_ad_mul(G, ig, gg));
        h = alig_ad_mul(G, og, alig_ad_tanh(G, c));
        /* a fresh view of the same output weights at every step: views must accumulate too */
        alig_ad_node *lt = alig_ad_bce_logits(G, alig_ad_matmul(G, h, alig_ad_param(G, wy_id), 0, 0),
                                              rin(&f, 2, (int[]){ N, 1 }, 0, 1));
        loss = loss ? alig_ad_add(G, loss, lt) : lt;
    }
    fx_compile(&f, -0.8, 0.8);
    check(&f, loss, "LSTM x3 shared weights + BCE", 1e-2, 5e-3, 0, 0);
    /* the loss is a sum of three scalars: its double value is the sum of theirs */
    CU_ASSERT(fabs(alig_ad_scalar(loss) - (double)loss->value[0]) < 1e-6);
    fx_free(&f);
}

/* ------------------------------------------------------------------ values */

static void test_loss_values(void)
{
    enum { N = 7, C = 5 };
    fx f;
    fx_init(&f, 161);
    alig_ad_node *s = par(&f, 2, (int[]){ N, C });
    alig_ad_node *y = alig_ad_input(f.G, 1, (int[]){ N });
    alig_ad_node *ce = alig_ad_softmax_ce(f.G, s, y);
    alig_ad_node *hh = alig_ad_hinge(f.G, s, y, 0);
    alig_ad_node *hs = alig_ad_hinge(f.G, s, y, 1);
    fx_compile(&f, -3, 3);
    fill_labels(&f, y, C);
    float *sv = alig_ad_params_x(f.P), *g = alig_ad_params_g(f.P);
    sv[0 * C + (int)y->value[0]] = 9.0f;           /* row 0: margin satisfied, hinge rows 0 */
    sv[1 * C + (int)y->value[1]] = -9.0f;          /* row 1: badly wrong, smooth Σξ·aug > 0 */
    CU_ASSERT_EQUAL_FATAL(alig_ad_forward(f.G, 1), ALIG_SUCCESS);
    double ref_ce = 0, ref_hard = 0, ref_smooth = 0;
    double gh[N][C], gs[N][C];
    for (int i = 0; i < N; i++) {
        const int yi = (int)y->value[i];
        double mx = -INFINITY, z = 0, amax = -INFINITY, sm = 0, xi[C];
        int js = 0;
        for (int j = 0; j < C; j++) mx = fmax(mx, sv[i * C + j]);
        for (int j = 0; j < C; j++) z += exp(sv[i * C + j] - mx);
        ref_ce += -(sv[i * C + yi] - mx - log(z));
        for (int j = 0; j < C; j++) {
            double a = sv[i * C + j] + (j == yi ? 0.0 : 1.0) - sv[i * C + yi];
            if (a > amax) { amax = a; js = j; }
            xi[j] = exp(sv[i * C + j] - mx) / z;
            sm += xi[j] * a;
        }
        ref_hard += amax;
        if (sm < 0) {           /* DFW: negative smooth contribution falls back to the hard row */
            sm = amax;
            for (int j = 0; j < C; j++) xi[j] = j == js;
        }
        ref_smooth += sm;
        for (int j = 0; j < C; j++) {
            gh[i][j] = ((j == js) - (j == yi)) / (double)N;
            gs[i][j] = (xi[j] - (j == yi)) / (double)N;
        }
        if (i == 0) CU_ASSERT(amax == 0.0);       /* row 0 contributes nothing */
    }
    ref_ce /= N; ref_hard /= N; ref_smooth /= N;
    printf("  CE %.6f (ref %.6f)  hinge hard %.6f (ref %.6f)  smooth %.6f (ref %.6f)\n", alig_ad_scalar(ce), ref_ce,
           alig_ad_scalar(hh), ref_hard, alig_ad_scalar(hs), ref_smooth);
    CU_ASSERT(fabs(alig_ad_scalar(ce) - ref_ce) < 1e-6 * (1 + ref_ce));
    CU_ASSERT(fabs(alig_ad_scalar(hh) - ref_hard) < 1e-6 * (1 + ref_hard));
    CU_ASSERT(fabs(alig_ad_scalar(hs) - ref_smooth) < 1e-6 * (1 + ref_smooth));
    CU_ASSERT(alig_ad_scalar(hs) <= alig_ad_scalar(hh) + 1e-12);    /* a convex combination is at most the max */
    CU_ASSERT(alig_ad_scalar(hs) >= 0.0);
    /* backward of each hinge: (ξ − e_y)/N */
    double eh = 0, es = 0;
    CU_ASSERT_EQUAL(alig_ad_backward(f.G, hh), ALIG_SUCCESS);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) eh = fmax(eh, fabs(g[i * C + j] - gh[i][j]));
    CU_ASSERT_EQUAL(alig_ad_backward(f.G, hs), ALIG_SUCCESS);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) es = fmax(es, fabs(g[i * C + j] - gs[i][j]));
    CU_ASSERT(eh < 1e-7);
    CU_ASSERT(es < 1e-7);
    /* all margins satisfied: zero loss and zero gradient */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) sv[i * C + j] = j == (int)y->value[i] ? 2.0f : 0.5f;
    CU_ASSERT_EQUAL(alig_ad_forward(f.G, 1), ALIG_SUCCESS);
    CU_ASSERT(alig_ad_scalar(hh) == 0.0);
    CU_ASSERT_EQUAL(alig_ad_backward(f.G, hh), ALIG_SUCCESS);
    double gmax = 0;
    for (int i = 0; i < N * C; i++) gmax = fmax(gmax, fabs(g[i]));
    CU_ASSERT(gmax == 0.0);
    fx_free(&f);
}

/* ------------------------------------------------------------------ batch-norm semantics */

static void test_batchnorm_semantics(void)
{
    enum { N = 5, C = 3, HW = 4 };
    alig_ad_params *P;
    alig_ad_graph *G, *E;
    int gid, bid, rm, rv;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ C }, &gid) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ C }, &bid) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ C }, 0.0f, &rm) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ C }, 1.0f, &rv) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&E, P, 1) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_input(G, 4, (int[]){ N, C, 2, 2 });
    alig_ad_node *y = alig_ad_batchnorm(G, x, alig_ad_param(G, gid), alig_ad_param(G, bid), alig_ad_buffer(G, rm),
                                        alig_ad_buffer(G, rv), NULL);
    /* an evaluation graph with another batch size on the same arena */
    alig_ad_node *xe = alig_ad_input(E, 4, (int[]){ 1, C, 1, 1 });
    alig_ad_node *ye = alig_ad_batchnorm(E, xe, alig_ad_param(E, gid), alig_ad_param(E, bid), alig_ad_buffer(E, rm),
                                         alig_ad_buffer(E, rv), NULL);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS && alig_ad_graph_compile(E) == ALIG_SUCCESS);
    float *gam = alig_ad_params_value(P, gid), *bet = alig_ad_params_value(P, bid);
    float *rmean = alig_ad_params_value(P, rm), *rvar = alig_ad_params_value(P, rv);
    CU_ASSERT(rvar[0] == 1.0f && rmean[0] == 0.0f);       /* buffer initial values */
    CU_ASSERT(alig_ad_params_grad(P, rm) == NULL);         /* buffers are not in g */
    CU_ASSERT(alig_ad_params_n(P) == 2 * C && alig_ad_params_nbuf(P) == 2 * C);
    for (int c = 0; c < C; c++) { gam[c] = 1.0f + c; bet[c] = 0.5f * c; }
    for (size_t i = 0; i < x->size; i++) x->value[i] = (float)(3.0 + sin(1.7 * i) * (1 + i % 3));
    /* batch statistics, in double */
    double mu[C], var[C];
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++)
            for (int l = 0; l < HW; l++) s += x->value[(n * C + c) * HW + l];
        mu[c] = s / (N * HW);
        for (int n = 0; n < N; n++)
            for (int l = 0; l < HW; l++) ss += pow(x->value[(n * C + c) * HW + l] - mu[c], 2);
        var[c] = ss / (N * HW);
    }
    CU_ASSERT_EQUAL(alig_ad_forward(G, 1), ALIG_SUCCESS);
    double err = 0, merr = 0;
    for (int c = 0; c < C; c++) {
        double m = 0, v = 0;
        for (int n = 0; n < N; n++)
            for (int l = 0; l < HW; l++) {
                double xv = x->value[(n * C + c) * HW + l], yv = y->value[(n * C + c) * HW + l];
                err = fmax(err, fabs(yv - ((1.0 + c) * (xv - mu[c]) / sqrt(var[c] + 1e-5) + 0.5 * c)));
                m += yv;
                v += pow(yv - 0.5 * c, 2);
            }
        merr = fmax(merr, fabs(m / (N * HW) - 0.5 * c));           /* output mean β */
        merr = fmax(merr, fabs(sqrt(v / (N * HW)) - (1.0 + c) * sqrt(var[c] / (var[c] + 1e-5))));   /* std γ */
        /* running averages: momentum 0.1, unbiased variance */
        CU_ASSERT(fabs(rmean[c] - 0.1 * mu[c]) < 1e-6);
        CU_ASSERT(fabs(rvar[c] - (0.9 + 0.1 * var[c] * (N * HW) / (N * HW - 1.0))) < 1e-6);
    }
    CU_ASSERT(err < 1e-5);
    CU_ASSERT(merr < 1e-5);
    /* eval: running averages used, not changed */
    float rm_before[C], rv_before[C];
    memcpy(rm_before, rmean, sizeof rm_before);
    memcpy(rv_before, rvar, sizeof rv_before);
    CU_ASSERT_EQUAL(alig_ad_forward(G, 0), ALIG_SUCCESS);
    CU_ASSERT(memcmp(rm_before, rmean, sizeof rm_before) == 0 && memcmp(rv_before, rvar, sizeof rv_before) == 0);
    err = 0;
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            for (int l = 0; l < HW; l++) {
                int i = (n * C + c) * HW + l;
                err = fmax(err, fabs(y->value[i] - ((1.0 + c) * (x->value[i] - rmean[c]) / sqrt(rvar[c] + 1e-5) + 0.5 * c)));
            }
    CU_ASSERT(err < 1e-5);
    /* k more training passes on the same batch: rm_k = (1 − 0.9^k)·μ exactly in real arithmetic */
    for (int k = 2; k <= 40; k++) CU_ASSERT_EQUAL(alig_ad_forward(G, 1), ALIG_SUCCESS);
    for (int c = 0; c < C; c++) CU_ASSERT(fabs(rmean[c] - (1.0 - pow(0.9, 40)) * mu[c]) < 1e-5);
    /* the evaluation graph (batch of 1) sees the same running averages */
    for (int c = 0; c < C; c++) xe->value[c] = 0.5f * (float)c - 1.0f;
    CU_ASSERT_EQUAL(alig_ad_forward(E, 0), ALIG_SUCCESS);
    for (int c = 0; c < C; c++)
        CU_ASSERT(fabs(ye->value[c] - ((1.0 + c) * (xe->value[c] - rmean[c]) / sqrt(rvar[c] + 1e-5) + 0.5 * c)) < 1e-5);
    /* training with one value per channel is refused; evaluation is fine */
    CU_ASSERT_EQUAL(alig_ad_forward(E, 1), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_ad_forward(E, 0), ALIG_SUCCESS);
    alig_ad_graph_free(G);
    alig_ad_graph_free(E);
    alig_ad_params_free(P);

    /* momentum option: 0.5 */
    fx f;
    fx_init(&f, 171);
    alig_ad_node *xi = rin(&f, 2, (int[]){ 4, 2 }, -1, 1);
    bn_block(&f, xi, 0, &(alig_ad_bn_opts){ .momentum = 0.5, .eps = 1e-3 });
    fx_compile(&f, 0, 0);
    CU_ASSERT_EQUAL(alig_ad_forward(f.G, 1), ALIG_SUCCESS);
    double m0 = 0;
    for (int n = 0; n < 4; n++) m0 += xi->value[n * 2];
    CU_ASSERT(fabs(alig_ad_params_buf(f.P)[0] - 0.5 * m0 / 4) < 1e-6);
    fx_free(&f);
}

/* ------------------------------------------------------------------ dropout semantics */

static void run_dropout(uint64_t seed, int train, int steps, float *out, size_t n)
{
    alig_ad_graph *G;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, seed) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_input(G, 2, (int[]){ 100, (int)(n / 100) });
    alig_ad_node *y = alig_ad_dropout(G, x, 0.25);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    for (size_t i = 0; i < n; i++) x->value[i] = 1.0f + (float)(i % 7);
    for (int s = 0; s < steps; s++) CU_ASSERT_EQUAL(alig_ad_forward(G, train), ALIG_SUCCESS);
    memcpy(out, y->value, n * sizeof *out);
    uint64_t sd, st;
    alig_ad_graph_rng(G, &sd, &st);
    CU_ASSERT(sd == seed && st == (uint64_t)(train ? steps : 0));
    alig_ad_graph_free(G);
}

static void test_dropout_semantics(void)
{
    const size_t n = 40000;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    CU_ASSERT_FATAL(a && b && c);
    run_dropout(5, 0, 3, a, n);                          /* eval: identity */
    int ident = 1;
    for (size_t i = 0; i < n; i++) ident &= a[i] == 1.0f + (float)(i % 7);
    CU_ASSERT(ident);
    run_dropout(5, 1, 1, a, n);                          /* train: 0 or x/(1 − p) */
    size_t zeros = 0;
    int vals = 1;
    for (size_t i = 0; i < n; i++) {
        zeros += a[i] == 0.0f;
        vals &= a[i] == 0.0f || a[i] == (1.0f + (float)(i % 7)) * (float)(1.0 / 0.75);
    }
    CU_ASSERT(vals);
    CU_ASSERT(fabs((double)zeros - 0.25 * n) < 5 * sqrt(n * 0.25 * 0.75));
    run_dropout(5, 1, 1, b, n);                          /* same seed, same step: same mask */
    CU_ASSERT(memcmp(a, b, n * sizeof *a) == 0);
    run_dropout(5, 1, 2, b, n);                          /* next step: another mask */
    CU_ASSERT(memcmp(a, b, n * sizeof *a) != 0);
    run_dropout(6, 1, 1, c, n);                          /* another seed: another mask */
    CU_ASSERT(memcmp(a, c, n * sizeof *a) != 0);
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    run_dropout(5, 1, 2, c, n);
    omp_set_num_threads(2);
    run_dropout(5, 1, 2, a, n);
    omp_set_num_threads(saved);
    CU_ASSERT(memcmp(a, b, n * sizeof *a) == 0 && memcmp(c, b, n * sizeof *a) == 0);
#endif
    free(a); free(b); free(c);
}

/* ------------------------------------------------------------------ flat x / g */

static void test_flat_params(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int a, bf, b;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_params_add(P, 2, (int[]){ 2, 3 }, &a), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_params_add_buffer(P, 1, (int[]){ 4 }, 2.5f, &bf), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_params_add(P, 1, (int[]){ 3 }, &b), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_params_add(P, 0, (int[]){ 3 }, &(int){ 0 }), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_ad_params_add(P, 2, (int[]){ 3, 0 }, &(int){ 0 }), ALIG_EBADLEN);
    CU_ASSERT(alig_ad_params_x(P) == NULL);                  /* nothing before sealing */
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 0) == ALIG_SUCCESS);
    alig_ad_node *A = alig_ad_param(G, a), *B = alig_ad_param(G, b);
    CU_ASSERT(alig_ad_buffer(G, a) == NULL && alig_ad_graph_status(G) == ALIG_EINVAL);   /* a is trainable */
    alig_ad_graph_free(G);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 0) == ALIG_SUCCESS);
    A = alig_ad_param(G, a);
    B = alig_ad_param(G, b);
    alig_ad_node *x = alig_ad_input(G, 2, (int[]){ 4, 2 });
    /* loss = Σ r ⊙ (x·A + b) + Σ B ⊙ B (B used twice) */
    alig_ad_node *r = alig_ad_input(G, 2, (int[]){ 4, 3 });
    alig_ad_node *loss = alig_ad_add(G, alig_ad_sum(G, alig_ad_mul(G, r, alig_ad_bias_add(G, alig_ad_matmul(G, x, A, 0, 0), B))),
                                     alig_ad_sum(G, alig_ad_mul(G, B, B)));
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_params_add(P, 1, (int[]){ 2 }, &(int){ 0 }), ALIG_EINVAL);  /* sealed */
    float *X = alig_ad_params_x(P), *Gr = alig_ad_params_g(P);
    CU_ASSERT(alig_ad_params_n(P) == 9);
    CU_ASSERT(A->value == X && B->value == X + 6 && A->grad == Gr && B->grad == Gr + 6);
    CU_ASSERT(alig_ad_params_value(P, b) == X + 6 && alig_ad_params_offset(P, b) == 6);
    CU_ASSERT(alig_ad_params_buf(P)[3] == 2.5f && alig_ad_params_trainable(P, bf) == 0);
    for (int i = 0; i < 9; i++) X[i] = 0.1f * (float)(i + 1);
    for (int i = 0; i < 8; i++) x->value[i] = (float)(i % 3) - 1.0f;
    for (int i = 0; i < 12; i++) r->value[i] = 0.5f - 0.25f * (float)(i % 4);
    CU_ASSERT_EQUAL(alig_ad_backward(G, loss), ALIG_EINVAL);    /* before any forward */
    CU_ASSERT_EQUAL(alig_ad_forward(G, 1), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_ad_backward(G, loss), ALIG_SUCCESS);
    /* hand gradient: ∂/∂A[k][j] = Σ_i x[i][k]·r[i][j]; ∂/∂b[j] = Σ_i r[i][j] + 2·b[j] */
    double e = 0;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int i = 0; i < 4; i++) s += x->value[i * 2 + k] * r->value[i * 3 + j];
            e = fmax(e, fabs(Gr[k * 3 + j] - s));
        }
    for (int j = 0; j < 3; j++) {
        double s = 2.0 * X[6 + j];
        for (int i = 0; i < 4; i++) s += r->value[i * 3 + j];
        e = fmax(e, fabs(Gr[6 + j] - s));
    }
    CU_ASSERT(e < 1e-6);
    /* a second backward recomputes g (zeroed first), it does not add to it */
    float g1[9];
    memcpy(g1, Gr, sizeof g1);
    CU_ASSERT_EQUAL(alig_ad_backward(G, loss), ALIG_SUCCESS);
    CU_ASSERT(memcmp(g1, Gr, sizeof g1) == 0);
    CU_ASSERT_EQUAL(alig_ad_backward(G, A), ALIG_EBADLEN);     /* not a scalar */
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

/* ------------------------------------------------------------------ errors */

/* alig_ad_graph_compile_inference: same forward values as a training compile of the same
 * model on the same arena, no activation gradient, backward refused, modes not mixed. */
static void test_inference_compile(void)
{
    enum { N = 3, C = 2, K = 4, H = 5 };
    alig_ad_params *P;
    alig_ad_graph *G[2];
    alig_ad_node *x[2], *loss[2];
    int wid, gid, bid, rm, rv;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ K, C, 3, 3 }, &wid) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ K }, &gid) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ K }, &bid) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ K }, 0.1f, &rm) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ K }, 2.0f, &rv) == ALIG_SUCCESS);
    for (int g = 0; g < 2; g++) {
        CU_ASSERT_FATAL(alig_ad_graph_alloc(&G[g], P, 7) == ALIG_SUCCESS);
        x[g] = alig_ad_input(G[g], 4, (int[]){ N, C, H, H });
        alig_ad_node *h = alig_ad_conv2d(G[g], x[g], alig_ad_param(G[g], wid), NULL,
                                         &(alig_ad_conv_opts){ .pad_h = 1, .pad_w = 1 });
        h = alig_ad_batchnorm(G[g], h, alig_ad_param(G[g], gid), alig_ad_param(G[g], bid), alig_ad_buffer(G[g], rm),
                              alig_ad_buffer(G[g], rv), NULL);
        loss[g] = alig_ad_sum(G[g], alig_ad_relu(G[g], h));
    }
    CU_ASSERT_FATAL(alig_ad_graph_compile(G[0]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_compile_inference(G[1]) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_graph_compile_inference(G[0]) == ALIG_EINVAL);   /* already a training graph */
    CU_ASSERT(alig_ad_graph_compile(G[1]) == ALIG_SUCCESS);            /* stays an inference graph */
    float *w = alig_ad_params_value(P, wid), *gam = alig_ad_params_value(P, gid), *bet = alig_ad_params_value(P, bid);
    for (int i = 0; i < K * C * 9; i++) w[i] = (float)(0.3 * sin(0.9 * i));
    for (int k = 0; k < K; k++) { gam[k] = 1.0f + 0.1f * k; bet[k] = 0.2f * k - 0.3f; }
    for (size_t i = 0; i < x[0]->size; i++) x[0]->value[i] = x[1]->value[i] = (float)cos(0.37 * i);
    int grads[2] = { 0, 0 };
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < alig_ad_graph_size(G[g]); i++) {
            const alig_ad_node *n = alig_ad_graph_node(G[g], i);
            if (n->op != ALIG_OP_PARAM && n->grad) grads[g]++;
        }
    CU_ASSERT(grads[0] >= 3);          /* conv, batchnorm, relu, sum */
    CU_ASSERT(grads[1] == 0);
    /* values shared by liveness: input, conv, bn, relu, sum fit in fewer than 5 blocks
     * (relu can reuse conv's, sum bn's); the loss comparison below checks nothing is clobbered */
    const float *vals[16];
    int n_vals = 0, n_dist = 0;
    for (int i = 0; i < alig_ad_graph_size(G[1]) && n_vals < 16; i++) {
        const alig_ad_node *n = alig_ad_graph_node(G[1], i);
        if (n->op == ALIG_OP_PARAM || n->op == ALIG_OP_BUFFER) continue;
        int seen = 0;
        for (int j = 0; j < n_vals; j++) seen |= vals[j] == n->value;
        n_dist += !seen;
        vals[n_vals++] = n->value;
    }
    CU_ASSERT(n_vals == 5);
    CU_ASSERT(n_dist < n_vals);
    CU_ASSERT(x[1]->value != loss[1]->value);
    CU_ASSERT_FATAL(alig_ad_forward(G[0], 0) == ALIG_SUCCESS && alig_ad_forward(G[1], 0) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_scalar(loss[0]) == alig_ad_scalar(loss[1]));
    CU_ASSERT(alig_ad_scalar(loss[1]) > 0.0);
    CU_ASSERT(alig_ad_backward(G[0], loss[0]) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_backward(G[1], loss[1]) == ALIG_EINVAL);
    alig_ad_graph_free(G[0]);
    alig_ad_graph_free(G[1]);
    alig_ad_params_free(P);
}

/* A graph with every op whose backward-read set is recorded (and clip, which has none), built
 * three times over one arena: compiled plainly (every node its own buffers), planned (values and
 * gradients sharing memory by liveness), and planned in the second one's memory
 * (alig_ad_graph_borrow). The planned one starts with every buffer poisoned with NaN; over three
 * training steps and one evaluation-mode step, the planned graphs' losses, kept logits and g
 * must equal the plain graph's bit for bit, with less memory. */
enum { PN = 4, PC = 3, PH = 8, PK = 6, PCLS = 5 };

static alig_ad_node *planned_net(alig_ad_graph *G, const int *id, alig_ad_node **x, alig_ad_node **y,
                                 alig_ad_node **t, alig_ad_node **logits, alig_ad_node **clip)
{
    const alig_ad_conv_opts pad1 = { .pad_h = 1, .pad_w = 1 };
    const alig_ad_bn_opts bnr = { .momentum = 0.1, .eps = 1e-5, .relu = 1 };
    const alig_ad_pool_opts p2 = { .kh = 2, .kw = 2 };
    *x = alig_ad_input(G, 4, (int[]){ PN, PC, PH, PH });
    *y = alig_ad_input(G, 1, (int[]){ PN });
    *t = alig_ad_input(G, 2, (int[]){ PN, PCLS });
    alig_ad_node *c1 = alig_ad_conv2d(G, *x, alig_ad_param(G, id[0]), NULL, &pad1);
    alig_ad_node *b1 = alig_ad_batchnorm(G, c1, alig_ad_param(G, id[1]), alig_ad_param(G, id[2]),
                                         alig_ad_buffer(G, id[3]), alig_ad_buffer(G, id[4]), &bnr);
    alig_ad_node *d = alig_ad_dropout(G, b1, 0.3);
    alig_ad_node *c2 = alig_ad_conv2d(G, d, alig_ad_param(G, id[5]), NULL, &pad1);
    alig_ad_node *sc = alig_ad_conv2d(G, *x, alig_ad_param(G, id[6]), NULL, NULL);
    alig_ad_node *r = alig_ad_relu(G, alig_ad_add(G, c2, sc));
    alig_ad_node *cat = alig_ad_concat(G, 2, (alig_ad_node *[]){ alig_ad_maxpool2d(G, r, &p2),
                                                                 alig_ad_avgpool2d(G, b1, &p2) });
    alig_ad_node *s = alig_ad_slice(G, cat, 2, 8);
    alig_ad_node *m = alig_ad_affine(G, alig_ad_mul(G, alig_ad_tanh(G, s), alig_ad_sigmoid(G, s)), 2.0, 0.1);
    *clip = alig_ad_clip(G, m, -0.3, 0.3);
    alig_ad_node *gp = alig_ad_global_avgpool(G, alig_ad_reshape(G, *clip, 4, (int[]){ PN, 8, 2, 8 }));
    *logits = alig_ad_bias_add(G, alig_ad_matmul(G, gp, alig_ad_param(G, id[7]), 0, 0), alig_ad_param(G, id[8]));
    alig_ad_node *sm = alig_ad_softmax(G, *logits);
    alig_ad_node *l = alig_ad_add(G, alig_ad_softmax_ce(G, *logits, *y), alig_ad_hinge(G, *logits, *y, 0));
    l = alig_ad_add(G, l, alig_ad_bce_logits(G, *logits, *t));
    return alig_ad_add(G, l, alig_ad_sum(G, alig_ad_mul(G, sm, *t)));
}

static void test_planned_compile(void)
{
    alig_ad_params *P;
    alig_ad_graph *G[3];
    alig_ad_node *x[3], *y[3], *t[3], *lg[3], *loss[3], *clip[3];
    int id[9];
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ PK, PC, 3, 3 }, &id[0]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ PK }, &id[1]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ PK }, &id[2]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ PK }, 0.0f, &id[3]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ PK }, 1.0f, &id[4]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ PK, PK, 3, 3 }, &id[5]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ PK, PC, 1, 1 }, &id[6]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 8, PCLS }, &id[7]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ PCLS }, &id[8]) == ALIG_SUCCESS);
    for (int g = 0; g < 3; g++) {
        CU_ASSERT_FATAL(alig_ad_graph_alloc(&G[g], P, 11) == ALIG_SUCCESS);
        loss[g] = planned_net(G[g], id, &x[g], &y[g], &t[g], &lg[g], &clip[g]);
        CU_ASSERT_FATAL(loss[g] != NULL);
    }
    CU_ASSERT(alig_ad_graph_borrow(G[2], G[1]) == ALIG_EINVAL);       /* the donor is not compiled */
    CU_ASSERT(alig_ad_keep(G[1], NULL) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_keep(G[1], lg[0]) == ALIG_EINVAL);               /* a node of another graph */
    CU_ASSERT_FATAL(alig_ad_keep(G[1], lg[1]) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_graph_bytes(G[1]) == 0);                         /* not compiled */
    CU_ASSERT_FATAL(alig_ad_graph_compile(G[0]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_compile_planned(G[1]) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_graph_compile_planned(G[0]) == ALIG_EINVAL);     /* already a plain graph */
    CU_ASSERT(alig_ad_graph_compile_inference(G[1]) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_graph_compile(G[1]) == ALIG_SUCCESS);            /* stays planned */
    CU_ASSERT(alig_ad_keep(G[1], lg[1]) == ALIG_EINVAL);               /* compiled */
    /* G[2], planned, runs in G[1]'s memory; they alternate below */
    CU_ASSERT(alig_ad_graph_borrow(G[1], G[2]) == ALIG_EINVAL);       /* G[1] is compiled */
    CU_ASSERT_FATAL(alig_ad_graph_borrow(G[2], G[1]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_keep(G[2], lg[2]) == ALIG_SUCCESS && alig_ad_graph_compile_planned(G[2]) == ALIG_SUCCESS);
    const size_t b0 = alig_ad_graph_bytes(G[0]), b1 = alig_ad_graph_bytes(G[1]), b2 = alig_ad_graph_bytes(G[2]);
    printf("  activation bytes: plain %zu, planned %zu, borrowing %zu\n", b0, b1, b2);
    CU_ASSERT(b1 > 0 && b1 < b0 * 3 / 4 && b2 < b1 / 2);
    /* clip has no recorded read set: private buffers; the others share */
    CU_ASSERT(clip[1]->value != clip[0]->value);
    int shared_pairs = 0;
    for (int i = 0; i < alig_ad_graph_size(G[1]); i++) {
        const alig_ad_node *a = alig_ad_graph_node(G[1], i);
        if (a == clip[1]) {
            for (int j = 0; j < alig_ad_graph_size(G[1]); j++) {
                const alig_ad_node *b = alig_ad_graph_node(G[1], j);
                CU_ASSERT(j == i || b->op == ALIG_OP_PARAM || b->op == ALIG_OP_BUFFER ||
                          (b->value != a->value && b->grad != a->value && b->value != a->grad && b->grad != a->grad));
            }
        }
        for (int j = 0; j < i; j++) {
            const alig_ad_node *b = alig_ad_graph_node(G[1], j);
            if (a->op == ALIG_OP_PARAM || b->op == ALIG_OP_PARAM || a->op == ALIG_OP_BUFFER || b->op == ALIG_OP_BUFFER)
                continue;
            shared_pairs += a->value == b->value || (a->grad && (a->grad == b->value || a->grad == b->grad));
        }
    }
    CU_ASSERT(shared_pairs >= 5);
    /* the residual add's operands (two convs it alone consumes) take its gradient buffer in the
     * planned graph, not in the plain one; the equality checks below show nothing is lost */
    int residual = 0;
    for (int i = 0; i < alig_ad_graph_size(G[1]); i++) {
        const alig_ad_node *a = alig_ad_graph_node(G[1], i), *p = alig_ad_graph_node(G[0], i);
        if (a->op != ALIG_OP_ADD || a->ndim != 4) continue;
        residual++;
        CU_ASSERT(a->in[0]->grad == a->grad && a->in[1]->grad == a->grad);
        CU_ASSERT(p->in[0]->grad != p->grad && p->in[1]->grad != p->grad);
    }
    CU_ASSERT(residual == 1);
    /* poison every activation buffer of the planned graph */
    for (int i = 0; i < alig_ad_graph_size(G[1]); i++) {
        alig_ad_node *a = alig_ad_graph_node(G[1], i);
        if (a->op == ALIG_OP_PARAM || a->op == ALIG_OP_BUFFER) continue;
        for (size_t k = 0; k < a->size; k++) {
            a->value[k] = NAN;
            if (a->grad) a->grad[k] = NAN;
        }
    }
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_FATAL(r != NULL);
    gsl_rng_set(r, 5);
    float *xv = alig_ad_params_x(P), *gv = alig_ad_params_g(P);
    const size_t n = alig_ad_params_n(P);
    for (size_t i = 0; i < n; i++) xv[i] = (float)(0.5 * gsl_ran_gaussian_ziggurat(r, 1.0));
    float *g0 = malloc(n * sizeof *g0);
    float lg0[PN * PCLS];
    CU_ASSERT_FATAL(g0 != NULL);
    int same = 1, nonzero = 0;
    for (int step = 0; step < 4; step++) {
        const int train = step < 3;
        for (size_t i = 0; i < x[0]->size; i++) x[0]->value[i] = x[1]->value[i] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
        for (int i = 0; i < PN; i++) y[0]->value[i] = y[1]->value[i] = (float)gsl_rng_uniform_int(r, PCLS);
        for (size_t i = 0; i < t[0]->size; i++) t[0]->value[i] = t[1]->value[i] = (float)gsl_rng_uniform(r);
        for (size_t i = 0; i < x[0]->size; i++) x[2]->value[i] = x[0]->value[i];
        for (int i = 0; i < PN; i++) y[2]->value[i] = y[0]->value[i];
        for (size_t i = 0; i < t[0]->size; i++) t[2]->value[i] = t[0]->value[i];
        for (int g = 0; g < 3; g++) alig_ad_graph_set_rng(G[g], 11, (uint64_t)step);    /* same dropout masks */
        CU_ASSERT_FATAL(alig_ad_forward(G[0], train) == ALIG_SUCCESS && alig_ad_backward(G[0], loss[0]) == ALIG_SUCCESS);
        memcpy(g0, gv, n * sizeof *g0);
        memcpy(lg0, lg[0]->value, sizeof lg0);
        const double L0 = alig_ad_scalar(loss[0]);
        CU_ASSERT_FATAL(alig_ad_forward(G[1], train) == ALIG_SUCCESS && alig_ad_backward(G[1], loss[1]) == ALIG_SUCCESS);
        same &= memcmp(g0, gv, n * sizeof *g0) == 0 && memcmp(lg0, lg[1]->value, sizeof lg0) == 0 &&
                alig_ad_scalar(loss[1]) == L0 && isfinite(L0);
        CU_ASSERT_FATAL(alig_ad_forward(G[2], train) == ALIG_SUCCESS && alig_ad_backward(G[2], loss[2]) == ALIG_SUCCESS);
        same &= memcmp(g0, gv, n * sizeof *g0) == 0 && memcmp(lg0, lg[2]->value, sizeof lg0) == 0 &&
                alig_ad_scalar(loss[2]) == L0;
        for (size_t i = 0; i < n; i++) nonzero += gv[i] != 0.0f;
    }
    CU_ASSERT(same);
    CU_ASSERT(nonzero > (int)n);                           /* most coordinates moved in each step */
    CU_ASSERT(alig_ad_backward(G[1], loss[1]) == ALIG_EINVAL);       /* a second backward needs a forward */
    CU_ASSERT(alig_ad_backward(G[0], loss[0]) == ALIG_SUCCESS);      /* (a plain graph allows it) */
    free(g0);
    gsl_rng_free(r);
    alig_ad_graph_free(G[2]);           /* the borrower first */
    alig_ad_graph_free(G[0]);
    alig_ad_graph_free(G[1]);
    alig_ad_params_free(P);
}

/* Σ r ⊙ y with r a fresh input node (filled by the caller) */
static alig_ad_node *project_in(alig_ad_graph *G, alig_ad_node *y)
{
    return alig_ad_sum(G, alig_ad_mul(G, y, alig_ad_input(G, y->ndim, y->dims)));
}

/* Batch norm + ReLU with dropout fused (alig_ad_bn_opts.dropout) against the batch norm + ReLU
 * followed by a dropout node: the same function, bit for bit, when both draw the same mask. The
 * mask's stream is keyed by the node's index, so the fused graph has one extra (unused) input
 * before its batch norm, which then sits at the index of the other graph's dropout node. Plain
 * and planned compiles, training steps and an evaluation step: loss, logits and g equal; the
 * fused graph has one node less after the batch norm and no dropout node. */
static void test_bn_dropout_graph(void)
{
    enum { N = 4, C = 3, K = 5, H = 6 };
    alig_ad_params *P;
    int id[6];
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ K, C, 3, 3 }, &id[0]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ K }, &id[1]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ K }, &id[2]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ K }, 0.0f, &id[3]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ K }, 1.0f, &id[4]) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ K, K, 3, 3 }, &id[5]) == ALIG_SUCCESS);
    const alig_ad_conv_opts same = { .pad_h = 1, .pad_w = 1 };
    for (int planned = 0; planned < 2; planned++) {
        alig_ad_graph *G[2];
        alig_ad_node *x[2], *w[2], *lg[2], *loss[2], *bn[2];
        for (int g = 0; g < 2; g++) {            /* 0: bn(relu) then dropout, 1: bn(relu, dropout) */
            CU_ASSERT_FATAL(alig_ad_graph_alloc(&G[g], P, 5) == ALIG_SUCCESS);
            x[g] = alig_ad_input(G[g], 4, (int[]){ N, C, H, H });
            alig_ad_node *c1 = alig_ad_conv2d(G[g], x[g], alig_ad_param(G[g], id[0]), NULL, &same);
            alig_ad_node *ga = alig_ad_param(G[g], id[1]), *be = alig_ad_param(G[g], id[2]);
            alig_ad_node *rm = alig_ad_buffer(G[g], id[3]), *rv = alig_ad_buffer(G[g], id[4]);
            alig_ad_bn_opts o = ALIG_AD_BN_OPTS_DEFAULT;
            o.relu = 1;
            if (g == 1) {
                (void)alig_ad_input(G[g], 1, (int[]){ 1 });          /* index shift: see above */
                o.dropout = 0.4;
            }
            bn[g] = alig_ad_batchnorm(G[g], c1, ga, be, rm, rv, &o);
            alig_ad_node *h = g == 0 ? alig_ad_dropout(G[g], bn[g], 0.4) : bn[g];
            lg[g] = alig_ad_global_avgpool(G[g], alig_ad_conv2d(G[g], h, alig_ad_param(G[g], id[5]), NULL, &same));
            w[g] = alig_ad_input(G[g], 2, (int[]){ N, K });
            loss[g] = alig_ad_sum(G[g], alig_ad_mul(G[g], lg[g], w[g]));
            CU_ASSERT_FATAL(loss[g] != NULL);
            if (planned) CU_ASSERT_FATAL(alig_ad_keep(G[g], lg[g]) == ALIG_SUCCESS);
            CU_ASSERT_FATAL((planned ? alig_ad_graph_compile_planned(G[g]) : alig_ad_graph_compile(G[g])) ==
                            ALIG_SUCCESS);
        }
        CU_ASSERT(alig_ad_graph_size(G[1]) == alig_ad_graph_size(G[0]));  /* + the shift input − dropout */
        CU_ASSERT(bn[1]->index == bn[0]->index + 1);
        for (int i = 0; i < alig_ad_graph_size(G[1]); i++) CU_ASSERT(alig_ad_graph_node(G[1], i)->op != ALIG_OP_DROPOUT);
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        CU_ASSERT_FATAL(r != NULL);
        gsl_rng_set(r, 17);
        float *xv = alig_ad_params_x(P), *gv = alig_ad_params_g(P), *buf = alig_ad_params_buf(P);
        const size_t n = alig_ad_params_n(P), nb = alig_ad_params_nbuf(P);
        for (size_t i = 0; i < n; i++) xv[i] = (float)(0.4 * gsl_ran_gaussian_ziggurat(r, 1.0));
        float *g0 = malloc(n * sizeof *g0), *b0 = malloc(nb * sizeof *b0), *bsave = malloc(nb * sizeof *bsave);
        CU_ASSERT_FATAL(g0 && b0 && bsave);
        int same_all = 1, zeros = 0, pos = 0;
        for (int step = 0; step < 4; step++) {
            const int train = step < 3;
            for (size_t i = 0; i < x[0]->size; i++) x[0]->value[i] = x[1]->value[i] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
            for (size_t i = 0; i < w[0]->size; i++) w[0]->value[i] = w[1]->value[i] = (float)gsl_rng_uniform(r);
            memcpy(bsave, buf, nb * sizeof *buf);             /* running statistics: both from the same */
            alig_ad_graph_set_rng(G[0], 23, (uint64_t)step);
            alig_ad_graph_set_rng(G[1], 23, (uint64_t)step);
            CU_ASSERT_FATAL(alig_ad_forward(G[0], train) == ALIG_SUCCESS && alig_ad_backward(G[0], loss[0]) == ALIG_SUCCESS);
            memcpy(g0, gv, n * sizeof *g0);
            memcpy(b0, buf, nb * sizeof *buf);
            float lg0[N * K];
            memcpy(lg0, lg[0]->value, sizeof lg0);
            const double L0 = alig_ad_scalar(loss[0]);
            memcpy(buf, bsave, nb * sizeof *buf);
            CU_ASSERT_FATAL(alig_ad_forward(G[1], train) == ALIG_SUCCESS);
            if (train && !planned)                            /* rectified positive, then dropped */
                for (size_t i = 0; i < bn[1]->size; i++) {
                    pos += bn[0]->value[i] > 0.0f;
                    zeros += bn[0]->value[i] > 0.0f && bn[1]->value[i] == 0.0f;
                }
            CU_ASSERT_FATAL(alig_ad_backward(G[1], loss[1]) == ALIG_SUCCESS);
            same_all &= alig_ad_scalar(loss[1]) == L0 && isfinite(L0) && memcmp(lg0, lg[1]->value, sizeof lg0) == 0 &&
                        memcmp(g0, gv, n * sizeof *g0) == 0 && memcmp(b0, buf, nb * sizeof *buf) == 0;
        }
        CU_ASSERT(same_all);
        if (!planned) CU_ASSERT(pos > 100 && fabs((double)zeros / pos - 0.4) < 0.1);     /* about p dropped */
        free(g0); free(b0); free(bsave);
        gsl_rng_free(r);
        alig_ad_graph_free(G[0]);
        alig_ad_graph_free(G[1]);
    }
    alig_ad_params_free(P);
}

/* DenseNet's pattern: y = BN(p), z = BN(concat(p, q)). The second batch norm takes p's channels'
 * statistics from the first (aux.bn.donor); the same graph with a copy of p in the concat (no
 * donor) gives the same values, running averages and gradients bit for bit, in training and
 * evaluation mode. */
static void test_bn_stats_donor(void)
{
    enum { N = 3, CP = 4, CQ = 2, H = 5 };
    alig_ad_params *P;
    alig_ad_graph *G[2];
    alig_ad_node *p[2], *q[2], *loss[2], *z[2];
    int id[8];
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    const int C[2] = { CP, CP + CQ };
    for (int k = 0; k < 2; k++) {
        CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ C[k] }, &id[4 * k]) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ C[k] }, &id[4 * k + 1]) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ C[k] }, 0.0f, &id[4 * k + 2]) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_params_add_buffer(P, 1, (int[]){ C[k] }, 1.0f, &id[4 * k + 3]) == ALIG_SUCCESS);
    }
    int wid;
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ CP, 1, 1, 1 }, &wid) == ALIG_SUCCESS);
    const alig_ad_bn_opts o = { .momentum = 0.1, .eps = 1e-5, .relu = 1 };
    for (int g = 0; g < 2; g++) {
        CU_ASSERT_FATAL(alig_ad_graph_alloc(&G[g], P, 3) == ALIG_SUCCESS);
        alig_ad_node *x = alig_ad_input(G[g], 4, (int[]){ N, 1, H, H });
        p[g] = alig_ad_conv2d(G[g], x, alig_ad_param(G[g], wid), NULL, NULL);        /* p depends on a parameter */
        q[g] = alig_ad_input(G[g], 4, (int[]){ N, CQ, H, H });
        alig_ad_node *y = alig_ad_batchnorm(G[g], p[g], alig_ad_param(G[g], id[0]), alig_ad_param(G[g], id[1]),
                                            alig_ad_buffer(G[g], id[2]), alig_ad_buffer(G[g], id[3]), &o);
        alig_ad_node *pc = g ? alig_ad_reshape(G[g], p[g], 4, p[g]->dims) : p[g];     /* g = 1: a copy */
        z[g] = alig_ad_batchnorm(G[g], alig_ad_concat(G[g], 2, (alig_ad_node *[]){ pc, q[g] }),
                                 alig_ad_param(G[g], id[4]), alig_ad_param(G[g], id[5]), alig_ad_buffer(G[g], id[6]),
                                 alig_ad_buffer(G[g], id[7]), &o);
        loss[g] = alig_ad_add(G[g], project_in(G[g], y), project_in(G[g], z[g]));
        CU_ASSERT_FATAL(loss[g] != NULL);
        CU_ASSERT_FATAL(alig_ad_graph_compile_planned(G[g]) == ALIG_SUCCESS);
        for (int i = 0, k = 0; i < alig_ad_graph_size(G[g]); i++) {     /* the k-th input alike in both */
            alig_ad_node *a = alig_ad_graph_node(G[g], i);
            if (a->op != ALIG_OP_INPUT) continue;
            for (size_t j = 0; j < a->size; j++) a->value[j] = (float)sin(1.0 + 0.37 * (double)j + (double)k);
            k++;
        }
    }
    CU_ASSERT(z[0]->aux.bn.donor >= 0 && z[0]->aux.bn.shared == CP && z[1]->aux.bn.donor == -1);
    float *xv = alig_ad_params_x(P), *gv = alig_ad_params_g(P), *buf = alig_ad_params_buf(P);
    const size_t n = alig_ad_params_n(P), nb = alig_ad_params_nbuf(P);
    for (size_t i = 0; i < n; i++) xv[i] = (float)(0.8 + 0.3 * cos(0.9 * (double)i));
    float *g0 = malloc(n * sizeof *g0), *b0 = malloc(nb * sizeof *b0), *bsave = malloc(nb * sizeof *bsave);
    CU_ASSERT_FATAL(g0 && b0 && bsave);
    int same = 1;
    for (int step = 0; step < 3; step++) {
        const int train = step < 2;
        memcpy(bsave, buf, nb * sizeof *buf);
        CU_ASSERT_FATAL(alig_ad_forward(G[0], train) == ALIG_SUCCESS && alig_ad_backward(G[0], loss[0]) == ALIG_SUCCESS);
        memcpy(g0, gv, n * sizeof *g0);
        memcpy(b0, buf, nb * sizeof *b0);
        const double L0 = alig_ad_scalar(loss[0]);
        memcpy(buf, bsave, nb * sizeof *buf);            /* the same running averages to start from */
        CU_ASSERT_FATAL(alig_ad_forward(G[1], train) == ALIG_SUCCESS && alig_ad_backward(G[1], loss[1]) == ALIG_SUCCESS);
        same &= alig_ad_scalar(loss[1]) == L0 && memcmp(g0, gv, n * sizeof *g0) == 0 &&
                memcmp(b0, buf, nb * sizeof *b0) == 0;
    }
    CU_ASSERT(same);
    free(g0); free(b0); free(bsave);
    alig_ad_graph_free(G[0]);
    alig_ad_graph_free(G[1]);
    alig_ad_params_free(P);
}

static void test_shape_errors(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    int w;
    CU_ASSERT_FATAL(alig_ad_params_add(P, 4, (int[]){ 8, 1, 3, 3 }, &w) == ALIG_SUCCESS);

    struct { const char *what, *needle; alig_status st; } cases[] = {
        { "conv channels", "channels", ALIG_EBADLEN },
        { "matmul inner", "inner", ALIG_EBADLEN },
        { "add shapes", "shapes differ", ALIG_EBADLEN },
        { "NULL operand", "NULL", ALIG_EINVAL },
        { "pool padding", "padding", ALIG_EINVAL },
        { "dropout p", "p = 1", ALIG_EINVAL },
        { "bn buffers", "buffer", ALIG_EINVAL },
        { "slice range", "outside", ALIG_EBADLEN },
        { "conv too small", "larger", ALIG_EBADLEN },
        { "labels shape", "labels", ALIG_EBADLEN },
        { "input dims", "shape", ALIG_EBADLEN },
        { "concat dims", "axis 1", ALIG_EBADLEN },
        { "reshape size", "elements", ALIG_EBADLEN },
        { "bn dropout p", "dropout p = 1", ALIG_EINVAL },
        { "bn dropout relu", "needs the fused ReLU", ALIG_EINVAL },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 0) == ALIG_SUCCESS);
        alig_ad_node *x3 = alig_ad_input(G, 4, (int[]){ 2, 3, 5, 5 });
        alig_ad_node *x1 = alig_ad_input(G, 4, (int[]){ 2, 1, 5, 5 });
        alig_ad_node *m = alig_ad_input(G, 2, (int[]){ 4, 3 }), *r = NULL;
        switch (k) {
        case 0: r = alig_ad_conv2d(G, x3, alig_ad_param(G, w), NULL, NULL); break;
        case 1: r = alig_ad_matmul(G, m, m, 0, 0); break;
        case 2: r = alig_ad_add(G, x3, x1); break;
        case 3: r = alig_ad_relu(G, NULL); break;
        case 4: r = alig_ad_maxpool2d(G, x1, &(alig_ad_pool_opts){ .kh = 2, .kw = 2, .pad_h = 2 }); break;
        case 5: r = alig_ad_dropout(G, m, 1.0); break;
        case 6: r = alig_ad_batchnorm(G, m, NULL, NULL, alig_ad_input(G, 1, (int[]){ 3 }), alig_ad_input(G, 1, (int[]){ 3 }),
                                      NULL); break;
        case 7: r = alig_ad_slice(G, m, 2, 2); break;
        case 8: r = alig_ad_conv2d(G, alig_ad_input(G, 4, (int[]){ 1, 1, 2, 2 }), alig_ad_param(G, w), NULL, NULL); break;
        case 9: r = alig_ad_softmax_ce(G, m, alig_ad_input(G, 1, (int[]){ 3 })); break;
        case 10: r = alig_ad_input(G, 2, (int[]){ 4, -1 }); break;
        case 11: r = alig_ad_concat(G, 2, (alig_ad_node *[]){ x3, m }); break;
        case 12: r = alig_ad_reshape(G, m, 2, (int[]){ 5, 2 }); break;
        default: {
            alig_ad_bn_opts o = ALIG_AD_BN_OPTS_DEFAULT;
            o.relu = k == 13;
            o.dropout = k == 13 ? 1.0 : 0.3;
            r = alig_ad_batchnorm(G, m, NULL, NULL, alig_ad_input(G, 1, (int[]){ 3 }), alig_ad_input(G, 1, (int[]){ 3 }),
                                  &o);
            break;
        }
        }
        const char *msg = alig_ad_graph_error(G);
        printf("  %-16s -> %s: \"%s\"\n", cases[k].what, alig_status_name(alig_ad_graph_status(G)), msg);
        CU_ASSERT(r == NULL);
        CU_ASSERT_EQUAL(alig_ad_graph_status(G), cases[k].st);
        CU_ASSERT(strstr(msg, cases[k].needle) != NULL);
        /* sticky: later constructors return NULL, compile and forward report the status */
        CU_ASSERT(alig_ad_relu(G, m) == NULL);
        CU_ASSERT_EQUAL(alig_ad_graph_compile(G), cases[k].st);
        CU_ASSERT_EQUAL(alig_ad_forward(G, 1), cases[k].st);
        CU_ASSERT_EQUAL(alig_ad_graph_status(G), cases[k].st);
        alig_ad_graph_free(G);
    }

    /* runtime: a label out of range or not an integer; nodes after compile */
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 0) == ALIG_SUCCESS);
    alig_ad_node *s = alig_ad_input(G, 2, (int[]){ 2, 3 }), *y = alig_ad_input(G, 1, (int[]){ 2 });
    alig_ad_hinge(G, s, y, 0);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    y->value[0] = 1; y->value[1] = 3;
    CU_ASSERT_EQUAL(alig_ad_forward(G, 0), ALIG_EINVAL);
    y->value[1] = 1.5f;
    CU_ASSERT_EQUAL(alig_ad_forward(G, 0), ALIG_EINVAL);
    y->value[1] = 2;
    CU_ASSERT_EQUAL(alig_ad_forward(G, 0), ALIG_SUCCESS);
    CU_ASSERT(alig_ad_relu(G, s) == NULL && alig_ad_graph_status(G) == ALIG_EINVAL);
    alig_ad_graph_free(G);
    /* a graph without an arena cannot hold parameters; a node of another graph is refused */
    alig_ad_graph *G2;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, 0) == ALIG_SUCCESS && alig_ad_graph_alloc(&G2, NULL, 0) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_param(G, 0) == NULL && alig_ad_graph_status(G) == ALIG_EINVAL);
    alig_ad_node *o = alig_ad_input(G2, 1, (int[]){ 3 });
    alig_ad_node *o2 = alig_ad_input(G2, 1, (int[]){ 3 });
    (void)o2;
    CU_ASSERT(alig_ad_relu(G2, o) != NULL);
    alig_ad_graph *G3;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G3, NULL, 0) == ALIG_SUCCESS);
    alig_ad_input(G3, 1, (int[]){ 3 });
    CU_ASSERT(alig_ad_relu(G3, o2) == NULL && alig_ad_graph_status(G3) == ALIG_EINVAL);
    alig_ad_graph_free(G);
    alig_ad_graph_free(G2);
    alig_ad_graph_free(G3);
    alig_ad_params_free(P);
    alig_ad_graph_free(NULL);
    alig_ad_params_free(NULL);
    CU_ASSERT_STRING_EQUAL(alig_ad_op_name(ALIG_OP_CONV2D), "conv2d");
    CU_ASSERT_STRING_EQUAL(alig_ad_op_name(ALIG_OP_COUNT), "?");
    for (int op = 0; op < ALIG_OP_COUNT; op++) CU_ASSERT(strcmp(alig_ad_op_name((alig_op)op), "?") != 0);
}

/* ------------------------------------------------------------------ thread count */

#ifdef _OPENMP
/* A CNN large enough for every kernel's parallel path: loss and g with 1 and 2 threads agree
 * within float rounding (sgemm and the per-thread conv weight partials are the only differences). */
static void test_threads_graph(void)
{
    fx f;
    fx_init(&f, 191);
    alig_ad_graph *G = f.G;
    alig_ad_node *x = rin(&f, 4, (int[]){ 8, 4, 16, 16 }, -1, 1), *y = alig_ad_input(G, 1, (int[]){ 8 });
    const alig_ad_conv_opts same = { .pad_h = 1, .pad_w = 1 };
    alig_ad_node *h = alig_ad_conv2d(G, x, par(&f, 4, (int[]){ 16, 4, 3, 3 }), par(&f, 1, (int[]){ 16 }), &same);
    h = alig_ad_relu(G, bn_block(&f, h, 1, NULL));
    h = alig_ad_dropout(G, h, 0.2);
    h = alig_ad_maxpool2d(G, h, &(alig_ad_pool_opts){ .kh = 2, .kw = 2 });
    h = alig_ad_conv2d(G, h, par(&f, 4, (int[]){ 8, 16, 3, 3 }), NULL, &same);
    h = alig_ad_global_avgpool(G, alig_ad_tanh(G, h));
    alig_ad_node *loss = alig_ad_hinge(G, alig_ad_matmul(G, h, par(&f, 2, (int[]){ 8, 5 }), 0, 0), y, 1);
    fx_compile(&f, -0.3, 0.3);
    fill_labels(&f, y, 5);
    const size_t n = alig_ad_params_n(f.P);
    float *g1 = malloc(n * sizeof *g1), *buf1 = malloc(alig_ad_params_nbuf(f.P) * sizeof *buf1);
    CU_ASSERT_FATAL(g1 && buf1);
    const int saved = omp_get_max_threads();
    double l[2];
    double gd = 0, gs = 0;
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        alig_ad_graph_set_rng(G, 191, 0);
        float *buf = alig_ad_params_buf(f.P);
        for (size_t i = 0; i < alig_ad_params_nbuf(f.P); i++) buf[i] = (float)(i % 2);   /* rm 0, rv 1 */
        CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS && alig_ad_backward(G, loss) == ALIG_SUCCESS);
        l[t] = alig_ad_scalar(loss);
        const float *g = alig_ad_params_g(f.P);
        if (t == 0) {
            memcpy(g1, g, n * sizeof *g1);
            memcpy(buf1, buf, alig_ad_params_nbuf(f.P) * sizeof *buf1);
        } else {
            for (size_t i = 0; i < n; i++) { gd = fmax(gd, fabs((double)g[i] - g1[i])); gs = fmax(gs, fabs((double)g1[i])); }
            CU_ASSERT(memcmp(buf1, buf, alig_ad_params_nbuf(f.P) * sizeof *buf1) == 0);   /* BN stats: bitwise */
        }
    }
    omp_set_num_threads(saved);
    printf("  1 vs 2 threads: loss %.9f vs %.9f, max |dg| / |g|max = %.2e\n", l[0], l[1], gd / gs);
    CU_ASSERT(fabs(l[0] - l[1]) <= 1e-6 * fabs(l[0]));
    CU_ASSERT(gs > 1e-3 && gd <= 1e-5 * gs);
    free(g1); free(buf1);
    fx_free(&f);
}
#endif

/* ------------------------------------------------------------------ the solver core drives a net */

static void test_solver_drives_net(void)
{
    /* 2-16-3 MLP (tanh), three separable blobs of 16 points; ALI-G on the flat x, g (float) */
    enum { N = 48, D = 2, H = 16, K = 3 };
    fx f;
    fx_init(&f, 181);
    alig_ad_graph *G = f.G;
    alig_ad_node *x = alig_ad_input(G, 2, (int[]){ N, D }), *y = alig_ad_input(G, 1, (int[]){ N });
    alig_ad_node *h = alig_ad_tanh(G, alig_ad_bias_add(G, alig_ad_matmul(G, x, par(&f, 2, (int[]){ H, D }), 0, 1),
                                                       par(&f, 1, (int[]){ H })));
    alig_ad_node *s = alig_ad_bias_add(G, alig_ad_matmul(G, h, par(&f, 2, (int[]){ K, H }), 0, 1), par(&f, 1, (int[]){ K }));
    alig_ad_node *loss = alig_ad_softmax_ce(G, s, y);
    fx_compile(&f, -0.5, 0.5);
    for (int i = 0; i < N; i++) {
        int k = i % K;
        y->value[i] = (float)k;
        x->value[i * D] = (float)(2.0 * cos(2.1 * k) + unif(&f, -0.3, 0.3));
        x->value[i * D + 1] = (float)(2.0 * sin(2.1 * k) + unif(&f, -0.3, 0.3));
    }
    alig_solver *sol;
    alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
    p.eta = 1.0;
    CU_ASSERT_FATAL(alig_solver_alloc(&sol, alig_solver_alig, ALIG_F32, alig_ad_params_n(f.P), &p) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_set(sol, alig_ad_params_x(f.P), INFINITY) == ALIG_SUCCESS);
    double first = NAN, last = NAN;
    for (int t = 0; t < 200; t++) {
        CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_backward(G, loss) == ALIG_SUCCESS);
        last = alig_ad_scalar(loss);
        if (t == 0) first = last;
        CU_ASSERT_FATAL(alig_solver_step(sol, last, alig_ad_params_g(f.P)) == ALIG_SUCCESS);
    }
    printf("  ALI-G (f32) on a 2-16-3 MLP: loss %.4f -> %.4f in 200 steps\n", first, last);
    CU_ASSERT(last < 0.05 * first);
    alig_solver_free(sol);
    fx_free(&f);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s1 = CU_add_suite("gradcheck ops", NULL, NULL);
    CU_pSuite s2 = CU_add_suite("gradcheck composites", NULL, NULL);
    CU_pSuite s3 = CU_add_suite("semantics", NULL, NULL);
    CU_pSuite s4 = CU_add_suite("api", NULL, NULL);
    if (!s1 || !s2 || !s3 || !s4) { CU_cleanup_registry(); return 2; }
    CU_add_test(s1, "matmul (all transposes, x·xᵀ)", test_grad_matmul);
    CU_add_test(s1, "bias_add", test_grad_bias_add);
    CU_add_test(s1, "conv2d (stride, padding)", test_grad_conv2d);
    CU_add_test(s1, "conv2d Winograd (gradients, vs im2col, refusals)", test_conv2d_winograd);
    CU_add_test(s1, "max / avg / global pooling", test_grad_pool);
    CU_add_test(s1, "relu / maxpool write their input gradient", test_grad_relu_pool_write);
    CU_add_test(s1, "relu, sigmoid, tanh, affine", test_grad_unary);
    CU_add_test(s1, "add, mul (also a+a, a*a)", test_grad_binary);
    CU_add_test(s1, "concat, slice, flatten, reshape", test_grad_shape_ops);
    CU_add_test(s1, "softmax, sum", test_grad_softmax_sum);
    CU_add_test(s1, "dropout (train, eval)", test_grad_dropout);
    CU_add_test(s1, "batchnorm (train, eval, affine or not)", test_grad_batchnorm);
    CU_add_test(s1, "batchnorm with fused ReLU = relu(batchnorm)", test_bn_relu_fused);
    CU_add_test(s1, "softmax_ce, hard hinge, bce_logits", test_grad_losses);
    CU_add_test(s1, "negative control: smoothed hinge flagged", test_gradcheck_negative_control);
    CU_add_test(s2, "small CNN", test_grad_cnn);
    CU_add_test(s2, "pre-activation residual block", test_grad_resblock);
    CU_add_test(s2, "LSTM, 3 steps, shared weights", test_grad_lstm);
    CU_add_test(s3, "loss values vs double re-implementation", test_loss_values);
    CU_add_test(s3, "batchnorm train/eval semantics", test_batchnorm_semantics);
    CU_add_test(s3, "dropout train/eval semantics", test_dropout_semantics);
    CU_add_test(s4, "flat x/g views, zeroing, accumulation", test_flat_params);
    CU_add_test(s4, "shape errors: status + message", test_shape_errors);
    CU_add_test(s4, "inference compile: no gradients, same values", test_inference_compile);
    CU_add_test(s4, "planned compile: shared buffers, same results bit for bit", test_planned_compile);
    CU_add_test(s3, "batch norm of a concatenation: statistics handed on, same results", test_bn_stats_donor);
    CU_add_test(s3, "batch norm + ReLU + dropout fused = the two nodes, bit for bit", test_bn_dropout_graph);
    CU_add_test(s4, "solver core (ALIG_F32) trains a net", test_solver_drives_net);
#ifdef _OPENMP   /* without OpenMP there is one thread count only: not registered, not counted */
    CU_add_test(s4, "1 vs 2 threads, whole graph", test_threads_graph);
#endif
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
