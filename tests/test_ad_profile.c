/* test_ad_profile.c - the per-node wall-time profiler of the autodiff graph
 * (alig_ad_graph_set_profile, alig_ad_graph_profile, alig_ad_graph_profile_totals):
 *   - before profiling is ever turned on, and right after turning it on, every accumulator and
 *     count reads 0, although passes ran before;
 *   - after k training passes both counts are k; nodes that run a forward call have t_forward > 0,
 *     leaves (input, param) exactly 0; t_backward > 0 exactly on the nodes backward visits
 *     (a parameter reaches them and the loss depends on them), 0 elsewhere, e.g. on a branch
 *     computed from the input alone;
 *   - the sum of all node times and the gradient zeroing is at most the wall time of the k
 *     passes measured here around the calls (the profiler's intervals are nested inside it) and
 *     a positive fraction of it (no tight thresholds: the machine may be busy);
 *   - attribution: in a graph with one 256×256×256 matmul and one 16-element relu, the matmul
 *     accumulates more forward time than the relu (expected ratio ~10^4);
 *   - turning on again resets, turning off freezes every value and count while passes go on;
 *   - profiling turned on before nodes are added covers them too; an evaluation forward counts;
 *     a failed forward (bad label) and a refused backward (inference graph) are not counted;
 *   - invalid arguments return ALIG_EINVAL. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gsl/gsl_rng.h>

#include "alig/ad.h"

/* ------------------------------------------------------------------ fixture */

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A small CNN with a side branch that no parameter reaches:
 *   x (N,4,12,12) -> conv2d 8 3x3 + bias -> relu -> maxpool 2 -> flatten -> matmul W(10,200)ᵀ
 *   -> bias_add -> softmax_ce(labels);   side: sum(affine(x, 2, 1)). */
typedef struct net {
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_ad_node *x, *y, *loss, *side_affine, *side_sum;
} net;

enum { N = 32, C = 4, H = 12, K = 8, CLASSES = 10 };

static void fill(alig_ad_params *P, alig_ad_node *x, alig_ad_node *y, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    CU_ASSERT_FATAL(r != NULL);
    gsl_rng_set(r, seed);
    float *p = alig_ad_params_x(P);
    for (size_t i = 0; i < alig_ad_params_n(P); i++) p[i] = (float)(0.2 * (gsl_rng_uniform(r) - 0.5));
    for (size_t i = 0; i < x->size; i++) x->value[i] = (float)(gsl_rng_uniform(r) - 0.5);
    for (size_t i = 0; y && i < y->size; i++) y->value[i] = (float)gsl_rng_uniform_int(r, CLASSES);
    gsl_rng_free(r);
}

/* Build the graph; if profile_early, profiling is turned on after the first node only. */
static void net_build(net *m, int profile_early)
{
    memset(m, 0, sizeof *m);
    int w, b, W, bW;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&m->P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(m->P, 4, (int[]){ K, C, 3, 3 }, &w) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(m->P, 1, (int[]){ K }, &b) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(m->P, 2, (int[]){ CLASSES, K * 25 }, &W) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(m->P, 1, (int[]){ CLASSES }, &bW) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&m->G, m->P, 7) == ALIG_SUCCESS);
    alig_ad_graph *G = m->G;
    m->x = alig_ad_input(G, 4, (int[]){ N, C, H, H });
    if (profile_early) CU_ASSERT_FATAL(alig_ad_graph_set_profile(G, 1) == ALIG_SUCCESS);
    m->y = alig_ad_input(G, 1, (int[]){ N });
    alig_ad_node *h = alig_ad_conv2d(G, m->x, alig_ad_param(G, w), alig_ad_param(G, b), NULL);
    h = alig_ad_maxpool2d(G, alig_ad_relu(G, h), &(alig_ad_pool_opts){ .kh = 2, .kw = 2 });
    h = alig_ad_matmul(G, alig_ad_flatten(G, h), alig_ad_param(G, W), 0, 1);
    m->loss = alig_ad_softmax_ce(G, alig_ad_bias_add(G, h, alig_ad_param(G, bW)), m->y);
    m->side_affine = alig_ad_affine(G, m->x, 2.0, 1.0);
    m->side_sum = alig_ad_sum(G, m->side_affine);
    CU_ASSERT_FATAL(alig_ad_graph_status(G) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    fill(m->P, m->x, m->y, 11);
}

static void net_free(net *m)
{
    alig_ad_graph_free(m->G);
    alig_ad_params_free(m->P);
}

static int is_leaf(const alig_ad_node *n)
{
    return n->op == ALIG_OP_INPUT || n->op == ALIG_OP_PARAM || n->op == ALIG_OP_BUFFER;
}

/* Nodes backward visits from the loss: ancestors of the loss (or the loss) reached by a parameter. */
static void loss_ancestors(const net *m, unsigned char *anc)
{
    const int n = alig_ad_graph_size(m->G);
    memset(anc, 0, (size_t)n);
    anc[m->loss->index] = 1;
    for (int i = m->loss->index; i >= 0; i--) {
        if (!anc[i]) continue;
        const alig_ad_node *nd = alig_ad_graph_node(m->G, i);
        for (int j = 0; j < nd->n_in; j++) anc[nd->in[j]->index] = 1;
    }
}

/* Sum over nodes of forward + backward seconds. */
static double node_sum(const alig_ad_graph *G)
{
    double s = 0.0;
    for (int i = 0; i < alig_ad_graph_size(G); i++) {
        double f = -1.0, b = -1.0;
        CU_ASSERT(alig_ad_graph_profile(G, i, &f, &b) == ALIG_SUCCESS);
        s += f + b;
    }
    return s;
}

static void expect_all_zero(const alig_ad_graph *G, const char *when)
{
    long nf = -1, nb = -1;
    double tz = -1.0;
    CU_ASSERT(alig_ad_graph_profile_totals(G, &nf, &nb, &tz) == ALIG_SUCCESS);
    CU_ASSERT(nf == 0 && nb == 0 && tz == 0.0);
    int bad = 0;
    for (int i = 0; i < alig_ad_graph_size(G); i++) {
        double f = -1.0, b = -1.0;
        CU_ASSERT(alig_ad_graph_profile(G, i, &f, &b) == ALIG_SUCCESS);
        bad += f != 0.0 || b != 0.0;
    }
    if (bad) printf("\n  %s: %d nodes with non-zero time\n", when, bad);
    CU_ASSERT(bad == 0);
}

/* ------------------------------------------------------------------ tests */

static void test_zero_after_enable(void)
{
    net m;
    net_build(&m, 0);
    /* passes before profiling is ever turned on accumulate nothing */
    for (int k = 0; k < 2; k++) {
        CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_SUCCESS);
        CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_SUCCESS);
    }
    expect_all_zero(m.G, "never enabled");
    CU_ASSERT(alig_ad_graph_set_profile(m.G, 1) == ALIG_SUCCESS);
    expect_all_zero(m.G, "just enabled");
    net_free(&m);
}

static void test_counts_and_times(void)
{
    net m;
    net_build(&m, 0);
    const int n = alig_ad_graph_size(m.G);
    unsigned char *anc = malloc((size_t)n);
    CU_ASSERT_FATAL(anc != NULL);
    loss_ancestors(&m, anc);
    CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_SUCCESS);      /* warm-up, then reset by enabling */
    CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_set_profile(m.G, 1) == ALIG_SUCCESS);
    const int k = 5;
    double wall = 0.0;
    for (int it = 0; it < k; it++) {
        const double t0 = wall_now();
        const alig_status a = alig_ad_forward(m.G, 1);
        const alig_status b = alig_ad_backward(m.G, m.loss);
        wall += wall_now() - t0;
        CU_ASSERT(a == ALIG_SUCCESS && b == ALIG_SUCCESS);
    }
    long nf = 0, nb = 0;
    double tz = -1.0;
    CU_ASSERT(alig_ad_graph_profile_totals(m.G, &nf, &nb, &tz) == ALIG_SUCCESS);
    CU_ASSERT(nf == k && nb == k);
    CU_ASSERT(tz > 0.0);                                       /* g and the activation gradients */
    int checked_fwd = 0, checked_bwd = 0, checked_zero_bwd = 0;
    for (int i = 0; i < n; i++) {
        const alig_ad_node *nd = alig_ad_graph_node(m.G, i);
        double f = -1.0, b = -1.0;
        CU_ASSERT(alig_ad_graph_profile(m.G, i, &f, &b) == ALIG_SUCCESS);
        if (is_leaf(nd)) {
            if (!(f == 0.0 && b == 0.0)) printf("\n  leaf %d (%s): %g %g\n", i, alig_ad_op_name(nd->op), f, b);
            CU_ASSERT(f == 0.0 && b == 0.0);
            continue;
        }
        if (!(f > 0.0)) printf("\n  node %d (%s): forward %g\n", i, alig_ad_op_name(nd->op), f);
        CU_ASSERT(f > 0.0);
        checked_fwd++;
        if (anc[i] && nd->requires_grad) {
            if (!(b > 0.0)) printf("\n  node %d (%s): backward %g\n", i, alig_ad_op_name(nd->op), b);
            CU_ASSERT(b > 0.0);
            checked_bwd++;
        } else {
            CU_ASSERT(b == 0.0);
            checked_zero_bwd++;
        }
    }
    /* conv2d, relu, maxpool, reshape, matmul, bias_add, softmax_ce; affine and sum off the loss */
    CU_ASSERT(checked_fwd == 9);
    CU_ASSERT(checked_bwd == 7);
    CU_ASSERT(checked_zero_bwd == 2);
    const double sum = node_sum(m.G) + tz;
    printf("\n  %d passes: wall %.3f ms, profiled %.3f ms (%.1f%%), zeroing %.3f ms\n", k, 1e3 * wall, 1e3 * sum,
           100.0 * sum / wall, 1e3 * tz);
    CU_ASSERT(sum <= wall * 1.0 + 1e-6);
    CU_ASSERT(sum >= 0.1 * wall);
    free(anc);
    net_free(&m);
}

static void test_attribution(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int w;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 256, 256 }, &w) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_input(G, 2, (int[]){ 256, 256 });
    alig_ad_node *t = alig_ad_input(G, 1, (int[]){ 16 });
    alig_ad_node *mm = alig_ad_matmul(G, x, alig_ad_param(G, w), 0, 0);
    alig_ad_node *r = alig_ad_relu(G, t);
    alig_ad_node *loss = alig_ad_sum(G, mm);
    CU_ASSERT_FATAL(r != NULL && loss != NULL);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    fill(P, x, NULL, 3);
    for (int i = 0; i < 16; i++) t->value[i] = (float)i - 8.0f;
    CU_ASSERT_FATAL(alig_ad_graph_set_profile(G, 1) == ALIG_SUCCESS);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT(alig_ad_forward(G, 1) == ALIG_SUCCESS);
        CU_ASSERT(alig_ad_backward(G, loss) == ALIG_SUCCESS);
    }
    double fm = 0, bm = 0, fr = 0, br = -1;
    CU_ASSERT(alig_ad_graph_profile(G, mm->index, &fm, &bm) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_graph_profile(G, r->index, &fr, &br) == ALIG_SUCCESS);
    printf("\n  matmul fwd %.3f ms bwd %.3f ms, relu(16) fwd %.6f ms\n", 1e3 * fm, 1e3 * bm, 1e3 * fr);
    CU_ASSERT(fm > fr);
    CU_ASSERT(fr > 0.0);
    CU_ASSERT(bm > 0.0);
    CU_ASSERT(br == 0.0);               /* relu of an input: no parameter reaches it */
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

static void test_reset_and_off(void)
{
    net m;
    net_build(&m, 0);
    const int n = alig_ad_graph_size(m.G);
    CU_ASSERT_FATAL(alig_ad_graph_set_profile(m.G, 1) == ALIG_SUCCESS);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_SUCCESS);
        CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_SUCCESS);
    }
    CU_ASSERT(node_sum(m.G) > 0.0);
    /* on again while on: a reset */
    CU_ASSERT(alig_ad_graph_set_profile(m.G, 1) == ALIG_SUCCESS);
    expect_all_zero(m.G, "re-enabled");
    CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_SUCCESS);
    /* off: values and counts frozen while passes go on */
    CU_ASSERT(alig_ad_graph_set_profile(m.G, 0) == ALIG_SUCCESS);
    double *before = malloc(2 * (size_t)n * sizeof *before);
    CU_ASSERT_FATAL(before != NULL);
    for (int i = 0; i < n; i++) alig_ad_graph_profile(m.G, i, &before[i], &before[n + i]);
    long nf0, nb0;
    double tz0;
    alig_ad_graph_profile_totals(m.G, &nf0, &nb0, &tz0);
    CU_ASSERT(nf0 == 1 && nb0 == 1 && tz0 > 0.0);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_SUCCESS);
        CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_SUCCESS);
    }
    long nf1, nb1;
    double tz1;
    alig_ad_graph_profile_totals(m.G, &nf1, &nb1, &tz1);
    CU_ASSERT(nf1 == nf0 && nb1 == nb0 && tz1 == tz0);
    int changed = 0;
    for (int i = 0; i < n; i++) {
        double f, b;
        alig_ad_graph_profile(m.G, i, &f, &b);
        changed += f != before[i] || b != before[n + i];
    }
    CU_ASSERT(changed == 0);
    CU_ASSERT(node_sum(m.G) > 0.0);
    /* on again: zero */
    CU_ASSERT(alig_ad_graph_set_profile(m.G, 1) == ALIG_SUCCESS);
    expect_all_zero(m.G, "on after off");
    free(before);
    net_free(&m);
}

static void test_passes_counted(void)
{
    /* profiling on before most nodes exist: the accumulators grow with the graph */
    net m;
    net_build(&m, 1);
    CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_SUCCESS);
    double f = 0.0, b = 0.0;
    CU_ASSERT(alig_ad_graph_profile(m.G, m.loss->index, &f, &b) == ALIG_SUCCESS);
    CU_ASSERT(f > 0.0 && b > 0.0);
    CU_ASSERT(alig_ad_graph_profile(m.G, m.side_sum->index, &f, &b) == ALIG_SUCCESS);
    CU_ASSERT(f > 0.0 && b == 0.0);
    long nf, nb;
    /* an evaluation forward counts; a failed forward (label out of range) does not */
    CU_ASSERT(alig_ad_forward(m.G, 0) == ALIG_SUCCESS);
    alig_ad_graph_profile_totals(m.G, &nf, &nb, NULL);
    CU_ASSERT(nf == 2 && nb == 1);
    const float keep = m.y->value[0];
    m.y->value[0] = (float)CLASSES;
    CU_ASSERT(alig_ad_forward(m.G, 1) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_backward(m.G, m.loss) == ALIG_EINVAL);  /* no valid forward */
    alig_ad_graph_profile_totals(m.G, &nf, &nb, NULL);
    CU_ASSERT(nf == 2 && nb == 1);
    m.y->value[0] = keep;
    net_free(&m);

    /* an inference graph: forwards counted, backward refused and not counted */
    alig_ad_graph *G;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, 0) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_input(G, 2, (int[]){ 64, 64 });
    alig_ad_node *s = alig_ad_sum(G, alig_ad_tanh(G, x));
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_FATAL(alig_ad_graph_compile_inference(G) == ALIG_SUCCESS);
    for (size_t i = 0; i < x->size; i++) x->value[i] = (float)i / 4096.0f;
    CU_ASSERT(alig_ad_graph_set_profile(G, 1) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_forward(G, 0) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_backward(G, s) == ALIG_EINVAL);
    double tz = -1.0;
    alig_ad_graph_profile_totals(G, &nf, &nb, &tz);
    CU_ASSERT(nf == 1 && nb == 0 && tz == 0.0);
    CU_ASSERT(alig_ad_graph_profile(G, s->index, &f, &b) == ALIG_SUCCESS);
    CU_ASSERT(f > 0.0 && b == 0.0);
    alig_ad_graph_free(G);
}

static void test_invalid_args(void)
{
    net m;
    net_build(&m, 0);
    const int n = alig_ad_graph_size(m.G);
    double f = 5.0, b = 5.0;
    long nf = 5, nb = 5;
    double tz = 5.0;
    CU_ASSERT(alig_ad_graph_set_profile(NULL, 1) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_graph_set_profile(NULL, 0) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_graph_profile(NULL, 0, &f, &b) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_graph_profile(m.G, -1, &f, &b) == ALIG_EINVAL);
    CU_ASSERT(alig_ad_graph_profile(m.G, n, &f, &b) == ALIG_EINVAL);
    CU_ASSERT(f == 5.0 && b == 5.0);                           /* outputs untouched on failure */
    CU_ASSERT(alig_ad_graph_profile_totals(NULL, &nf, &nb, &tz) == ALIG_EINVAL);
    CU_ASSERT(nf == 5 && nb == 5 && tz == 5.0);
    /* NULL outputs are allowed */
    CU_ASSERT(alig_ad_graph_set_profile(m.G, 1) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_graph_profile(m.G, n - 1, NULL, NULL) == ALIG_SUCCESS);
    CU_ASSERT(alig_ad_graph_profile(m.G, 0, &f, NULL) == ALIG_SUCCESS && f == 0.0);
    CU_ASSERT(alig_ad_graph_profile_totals(m.G, NULL, NULL, NULL) == ALIG_SUCCESS);
    net_free(&m);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("ad profiler", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "accumulators zero before and right after enabling", test_zero_after_enable);
    CU_add_test(s, "k passes: counts, per-node times, sum within the wall time", test_counts_and_times);
    CU_add_test(s, "attribution: big matmul > tiny relu", test_attribution);
    CU_add_test(s, "re-enable resets, off freezes", test_reset_and_off);
    CU_add_test(s, "nodes added after enabling, eval / failed / refused passes", test_passes_counted);
    CU_add_test(s, "invalid arguments: ALIG_EINVAL", test_invalid_args);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
