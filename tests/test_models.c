/* test_models.c - the networks of include/alig/nn.h against independent expectations:
 *   - specs: names, errors, and parameter / buffer counts equal to PyTorch's for the peer's
 *     models (counted with the PyTorch peer script torch_fmnist.py: cnn 225,034; wrn-16-1 174,778
 *     and 941 buffers of which 13 num_batches_tracked; wrn-16-2 691,386 / 1,837; wrn-10-2 303,418 / 935) and to a
 *     hand count for the MLP;
 *   - initialisation: the documented distributions (bounds, moments, constants), seeded;
 *   - gradient checks of each model (MLP, CNN, WRN-10-1 with dropout, train and eval mode):
 *     directional derivatives within every parameter tensor against central differences of the
 *     float forward's loss, formed in double, robust to ReLU / max-pool kinks, with a non-triviality guard;
 *     the MLP also coordinate by coordinate;
 *   - evaluation: equals the training graph's loss op on the same samples, for several
 *     evaluation batch sizes (padding); a short batch equals a net built at that batch size;
 *   - interpolation: ALI-G drives a small MLP to near-zero loss on a few dozen samples with
 *     random labels (the paper's premise);
 *   - determinism: same seed, identical weights (bitwise); 1 vs 2 OpenMP threads within a
 *     stated tolerance;
 *   - checkpoints: resume equals the uninterrupted run bitwise (weights, batch-norm buffers,
 *     dropout stream, momentum); corrupt, truncated and missing files are refused. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/nn.h"
#include "alig/solver.h"

/* ------------------------------------------------------------------ helpers */

/* n samples of c×h×w N(0,1) values with labels uniform in [0, classes) (both from seed). */
static alig_image_set synth(size_t n, size_t c, size_t h, size_t w, size_t classes, unsigned long seed)
{
    alig_image_set s = { .n = n, .c = c, .h = h, .w = w, .num_classes = classes };
    s.x = malloc(n * c * h * w * sizeof *s.x);
    s.y = malloc(n * sizeof *s.y);
    CU_ASSERT_FATAL(s.x && s.y);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < n * c * h * w; i++) s.x[i] = (float)gsl_ran_gaussian(r, 1.0);
    for (size_t i = 0; i < n; i++) s.y[i] = (int32_t)gsl_rng_uniform_int(r, classes);
    gsl_rng_free(r);
    return s;
}

static alig_nn_net *make_net(const alig_nn_spec *spec, int B, int EB, unsigned long seed)
{
    alig_nn_net *net = NULL;
    char err[256];
    alig_status rc = alig_nn_net_alloc(&net, spec, B, EB, seed, err, sizeof err);
    if (rc) printf("  net alloc failed: %s\n", err);
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS && net != NULL);
    return net;
}

static alig_solver *make_alig(alig_nn_net *net, double eta, double momentum)
{
    alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
    p.eta = eta;
    p.momentum = momentum;
    alig_solver *s = NULL;
    CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, alig_nn_net_n(net), &p) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_solver_set(s, alig_nn_net_x(net), INFINITY) == ALIG_SUCCESS);
    return s;
}

/* One epoch of steps over `set` in the order of (seed, epoch), batch B, last batch short. */
static void run_epoch(alig_nn_net *net, alig_solver *s, const alig_image_set *set, unsigned long seed,
                      unsigned long epoch, size_t *perm)
{
    const size_t B = (size_t)alig_nn_net_batch(net);
    CU_ASSERT_FATAL(alig_data_shuffle_indices(set->n, seed, epoch, perm) == ALIG_SUCCESS);
    for (size_t i = 0; i < set->n; i += B) {
        const size_t b = set->n - i < B ? set->n - i : B;
        double loss;
        CU_ASSERT_FATAL(alig_nn_net_gradient(net, set, perm, i, b, &loss, NULL) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_solver_step(s, loss, alig_nn_net_g(net)) == ALIG_SUCCESS);
    }
}

/* ------------------------------------------------------------------ specs */

static void test_specs(void)
{
    static const struct { const char *name; size_t n, nbuf; } peer[] = {
        { "cnn", 225034, 0 }, { "wrn-16-1", 174778, 941 - 13 }, { "wrn-16-2", 691386, 1837 - 13 },
        { "wrn-10-2", 303418, 935 - 7 },
        /* MLP by hand: (784·256 + 256) + (256·128 + 128) + (128·10 + 10) */
        { "mlp", 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10, 0 },
    };
    for (size_t i = 0; i < sizeof peer / sizeof peer[0]; i++) {
        alig_nn_spec s;
        CU_ASSERT_FATAL(alig_nn_spec_parse(&s, peer[i].name, 1, 28, 28, 10, 0.0) == ALIG_SUCCESS);
        char name[64];
        const char *canon = !strcmp(peer[i].name, "mlp") ? "mlp-256-128" : peer[i].name;
        CU_ASSERT_STRING_EQUAL(alig_nn_spec_name(&s, name, sizeof name), canon);
        alig_nn_net *net = make_net(&s, 2, 2, 1);
        printf("  %-9s n %7zu (peer %7zu)  buffers %5zu (peer %5zu)\n", peer[i].name, alig_nn_net_n(net), peer[i].n,
               alig_ad_params_nbuf(alig_nn_net_params(net)), peer[i].nbuf);
        CU_ASSERT_EQUAL(alig_nn_net_n(net), peer[i].n);
        CU_ASSERT_EQUAL(alig_ad_params_nbuf(alig_nn_net_params(net)), peer[i].nbuf);
        alig_nn_net_free(net);
    }
    alig_nn_spec s;
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "mlp-32-16", 3, 4, 5, 7, 0.0), ALIG_SUCCESS);
    CU_ASSERT(s.kind == ALIG_NN_MLP && s.n_hidden == 2 && s.hidden[0] == 32 && s.hidden[1] == 16 && s.classes == 7);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "mlp-0", 1, 4, 4, 3, 0.0), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(s.n_hidden, 0);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "wrn-28-10", 3, 32, 32, 10, 0.3), ALIG_SUCCESS);
    CU_ASSERT(s.depth == 28 && s.width == 10 && s.dropout == 0.3);
    /* errors */
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "resnet", 1, 28, 28, 10, 0.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "mlp-", 1, 28, 28, 10, 0.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "mlp-12x", 1, 28, 28, 10, 0.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "wrn-16", 1, 28, 28, 10, 0.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "wrn-16-2-1", 1, 28, 28, 10, 0.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "cnn", 1, 28, 28, 10, 0.5), ALIG_EINVAL);       /* dropout: WRN only */
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "wrn-15-2", 1, 28, 28, 10, 0.0), ALIG_EBADLEN);  /* not 6m + 4 */
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "wrn-16-0", 1, 28, 28, 10, 0.0), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "wrn-16-2", 1, 28, 28, 10, 1.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "cnn", 1, 9, 28, 10, 0.0), ALIG_EBADLEN);        /* too small */
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "cnn", 1, 28, 28, 1, 0.0), ALIG_EBADLEN);        /* one class */
    CU_ASSERT_EQUAL(alig_nn_cnn(NULL, 1, 28, 28, 10), ALIG_EINVAL);
    alig_nn_net *net = NULL;
    char err[128];
    alig_nn_cnn(&s, 1, 28, 28, 10);
    s.kind = (alig_nn_kind)7;
    CU_ASSERT_EQUAL(alig_nn_spec_check(&s), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_net_alloc(&net, &s, 2, 2, 0, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT(strlen(err) > 0);
    alig_nn_cnn(&s, 1, 28, 28, 10);
    CU_ASSERT_EQUAL(alig_nn_net_alloc(&net, &s, 0, 1, 0, err, sizeof err), ALIG_EBADBATCH);
    CU_ASSERT_PTR_NULL(net);
    CU_ASSERT(strstr(err, "batch") != NULL);
}

/* ------------------------------------------------------------------ init */

/* mean and variance of v[0..n) in double */
static void moments(const float *v, size_t n, double *mean, double *var, double *amax)
{
    double s = 0, s2 = 0, m = 0;
    for (size_t i = 0; i < n; i++) { s += v[i]; m = fmax(m, fabs((double)v[i])); }
    const double mu = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += ((double)v[i] - mu) * ((double)v[i] - mu);
    *mean = mu;
    *var = s2 / (double)n;
    *amax = m;
}

static void test_init(void)
{
    /* CNN: tensors in declaration order conv1 W (32,1,3,3), b (32), conv2 W (64,32,3,3), b (64),
     * fc1 W (128,1600), b (128), fc2 W (10,128), b (10); each U(±1/√fan_in) */
    alig_nn_spec s;
    alig_nn_cnn(&s, 1, 28, 28, 10);
    alig_nn_net *net = make_net(&s, 2, 2, 5);
    alig_ad_params *P = alig_nn_net_params(net);
    CU_ASSERT_EQUAL(alig_ad_params_count(P), 8);
    const int fan[8] = { 9, 9, 288, 288, 1600, 1600, 128, 128 };
    for (int id = 0; id < 8; id++) {
        const size_t k = alig_ad_params_shape(P, id, NULL, NULL);
        double mean, var, amax;
        moments(alig_ad_params_value(P, id), k, &mean, &var, &amax);
        const double a = 1.0 / sqrt(fan[id]);
        /* U(−a, a): variance a²/3; every value inside; with k >= 1600 samples the sample moments
         * are within 5 standard errors (se of the variance of a uniform is a²·√(4/45/k)) */
        CU_ASSERT(amax <= a);
        if (k >= 1000) {
            CU_ASSERT(fabs(mean) < 5 * a / sqrt(3.0 * (double)k));
            CU_ASSERT(fabs(var - a * a / 3) < 5 * a * a * sqrt(4.0 / 45.0 / (double)k));
            CU_ASSERT(amax > 0.99 * a);
        }
    }
    /* same seed: same x; other seed: other x */
    alig_nn_net *same = make_net(&s, 3, 4, 5), *other = make_net(&s, 2, 2, 6);
    const size_t n = alig_nn_net_n(net);
    CU_ASSERT(memcmp(alig_nn_net_x(net), alig_nn_net_x(same), n * sizeof(float)) == 0);
    CU_ASSERT(memcmp(alig_nn_net_x(net), alig_nn_net_x(other), n * sizeof(float)) != 0);
    /* re-init restores exactly */
    alig_nn_net_x(other)[7] = 42.0f;
    CU_ASSERT_EQUAL(alig_nn_net_init(other, 5), ALIG_SUCCESS);
    CU_ASSERT(memcmp(alig_nn_net_x(net), alig_nn_net_x(other), n * sizeof(float)) == 0);
    alig_nn_net_free(net);
    alig_nn_net_free(same);
    alig_nn_net_free(other);

    /* WRN-16-2: conv weights N(0, 2/(k·k·C_out)), BN γ = 1 β = 0, running mean 0 / var 1,
     * dense weight U(±1/√64·2), dense bias 0. Classify tensors by shape. */
    alig_nn_wrn(&s, 16, 2, 0.0, 1, 28, 28, 10);
    net = make_net(&s, 2, 2, 9);
    P = alig_nn_net_params(net);
    int convs = 0, bns = 0, bufs = 0;
    for (int id = 0; id < alig_ad_params_count(P); id++) {
        int nd, d[4];
        const size_t k = alig_ad_params_shape(P, id, &nd, d);
        const float *v = alig_ad_params_value(P, id);
        double mean, var, amax;
        moments(v, k, &mean, &var, &amax);
        if (alig_ad_params_trainable(P, id) == 0) {
            /* running mean then running var of one BN */
            const float want = (float)(bufs++ % 2);
            int all = 1;
            for (size_t j = 0; j < k; j++) all &= v[j] == want;
            CU_ASSERT(all);
        } else if (nd == 4) {
            convs++;
            const double sd = sqrt(2.0 / (d[2] * d[3] * (double)d[0]));
            if (k >= 2000) {
                CU_ASSERT(fabs(mean) < 5 * sd / sqrt((double)k));
                CU_ASSERT(fabs(var / (sd * sd) - 1.0) < 5 * sqrt(2.0 / (double)k));
            }
        } else if (nd == 1 && id + 1 < alig_ad_params_count(P) && alig_ad_params_shape(P, id + 1, NULL, NULL) == k &&
                   alig_ad_params_trainable(P, id + 1) == 1 && alig_ad_params_trainable(P, id + 2) == 0) {
            /* γ followed by β, then the buffers */
            bns++;
            const float *beta = alig_ad_params_value(P, id + 1);
            int ok = 1;
            for (size_t j = 0; j < k; j++) ok &= v[j] == 1.0f && beta[j] == 0.0f;
            CU_ASSERT(ok);
            id++;
        } else if (nd == 2) {
            CU_ASSERT(d[0] == 10 && d[1] == 128 && amax <= 1.0 / sqrt(128.0) && amax > 0.9 / sqrt(128.0));
        } else {
            CU_ASSERT(nd == 1 && k == 10 && amax == 0.0);   /* the dense bias */
        }
    }
    /* WRN-16-2: conv1 + 3 stages × 2 blocks × 2 convs + 3 shortcuts (16 -> 32 channels already in
     * stage 1 since k = 2); 13 BNs */
    CU_ASSERT_EQUAL(convs, 1 + 12 + 3);
    CU_ASSERT_EQUAL(bns, 13);
    CU_ASSERT_EQUAL(bufs, 26);
    alig_nn_net_free(net);
}

/* ------------------------------------------------------------------ gradient checks */

/* Per-tensor directional derivatives against central differences, formed in double, of the float loss.
 *
 * ReLU and max-pool make the loss piecewise smooth: a perturbation of size h that crosses a kink
 * (a pre-activation changing sign, a pooling winner changing) spoils a central difference.
 * Checking coordinates one by one in a deep ReLU net therefore fails on a few per cent of them
 * for reasons that have nothing to do with backward (measured here: up to 14% of the
 * coordinates of the first WRN block, by up to 40%). A directional derivative over a whole
 * tensor averages those crossings, and taking, at two step sizes, the best of the central and
 * the two one-sided differences removes a kink that lies on one side only. For every trainable
 * tensor T (so that no bias or batch-norm β escapes) and three unit directions v within T
 * (g_T/‖g_T‖, then two Gaussian ones), with x± the float points x ± h·v and Δ± = x± − x exactly:
 *   central  a = g·(Δ⁺ − Δ⁻)  vs  d = L(x⁺) − L(x⁻);  one-sided  g·Δ⁺ vs L(x⁺) − L(x), g·(−Δ⁻) vs L(x) − L(x⁻);
 *   e = |a − d| / max(|a|, |d|, floor), floor = 0 along g_T and 0.1·‖g_T‖·(step) along a random v
 *   (a random direction almost orthogonal to g_T has a tiny derivative: judge it against the
 *   tensor's gradient norm); e_T,v = the smallest over {central, +, −} × {h, 0.3h}.
 * Required: e ≤ 2e-2 along g_T and ≤ 5e-2 along random directions, for every tensor (over 12
 * seeds and the three models the worst seen were 6e-3 and 2.3e-2; a scaled, sign-flipped or
 * permuted tensor gradient gives e of order 1). The MLP, whose only kinks are ReLUs on few
 * units, is also checked coordinate by coordinate with alig_ad_gradcheck. */
typedef struct dir_stats {
    int tensors;
    double worst_grad, worst_rand, amax;
} dir_stats;

static double loss_at(alig_ad_graph *G, alig_ad_node *L, uint64_t seed, uint64_t step, int eval)
{
    alig_ad_graph_set_rng(G, seed, step);   /* same dropout masks at every evaluation */
    CU_ASSERT_FATAL(alig_ad_forward(G, !eval) == ALIG_SUCCESS);
    return alig_ad_scalar(L);
}

/* corrupt: tensor id whose backward value is tampered with before the comparison (negative
 * control), −1 for none; mode 0 reverses its elements, mode 1 scales them by 1.1. */
static void dir_check(alig_nn_net *net, int eval, double h, unsigned long seed, int corrupt, int mode, dir_stats *st)
{
    memset(st, 0, sizeof *st);
    alig_ad_node *L;
    alig_ad_graph *G = alig_nn_net_train_graph(net, NULL, NULL, NULL, &L);
    alig_ad_params *P = alig_nn_net_params(net);
    const size_t n = alig_nn_net_n(net), nbuf = alig_ad_params_nbuf(P);
    float *x = alig_nn_net_x(net);
    float *x0 = malloc(n * sizeof *x0), *g = malloc(n * sizeof *g), *bufsave = malloc(nbuf * sizeof *bufsave + 1);
    double *v = malloc(n * sizeof *v);
    CU_ASSERT_FATAL(x0 && g && bufsave && v);
    memcpy(bufsave, alig_ad_params_buf(P), nbuf * sizeof *bufsave);
    memcpy(x0, x, n * sizeof *x0);
    uint64_t rseed, rstep;
    alig_ad_graph_rng(G, &rseed, &rstep);
    CU_ASSERT_FATAL(alig_ad_forward(G, !eval) == ALIG_SUCCESS && alig_ad_backward(G, L) == ALIG_SUCCESS);
    memcpy(g, alig_nn_net_g(net), n * sizeof *g);
    if (corrupt >= 0) {
        float *t = g + alig_ad_params_offset(P, corrupt);
        const size_t m = alig_ad_params_shape(P, corrupt, NULL, NULL);
        for (size_t k = 0; k < m; k++) {
            if (mode == 1) t[k] *= 1.1f;
            else if (k < m / 2) { const float tmp = t[k]; t[k] = t[m - 1 - k]; t[m - 1 - k] = tmp; }
        }
    }
    for (size_t i = 0; i < n; i++) st->amax = fmax(st->amax, fabs((double)g[i]));
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int id = 0; id < alig_ad_params_count(P); id++) {
        if (alig_ad_params_trainable(P, id) != 1) continue;
        const size_t off = alig_ad_params_offset(P, id), m = alig_ad_params_shape(P, id, NULL, NULL);
        double gn = 0.0;
        for (size_t k = 0; k < m; k++) gn += (double)g[off + k] * g[off + k];
        gn = sqrt(gn);
        st->tensors++;
        for (int dir = 0; dir < 3; dir++) {
            double vn = 0.0;
            for (size_t k = 0; k < m; k++) {
                v[k] = dir == 0 ? (double)g[off + k] : gsl_ran_gaussian(r, 1.0);
                vn += v[k] * v[k];
            }
            vn = sqrt(vn);
            CU_ASSERT_FATAL(vn > 0.0);   /* a tensor with a zero gradient fails the guard here */
            double e = INFINITY;
            for (int hk = 0; hk < 2; hk++) {
                const double hh = hk ? 0.3 * h : h;
                double f[3], ap = 0.0, am = 0.0;
                for (int sg = 0; sg < 3; sg++) {
                    for (size_t k = 0; k < m; k++) x[off + k] = (float)(x0[off + k] + (sg - 1) * hh * v[k] / vn);
                    f[sg] = loss_at(G, L, rseed, rstep, eval);
                    for (size_t k = 0; k < m; k++) {
                        const double dx = (double)x[off + k] - (double)x0[off + k];
                        if (sg == 2) ap += g[off + k] * dx;
                        if (sg == 0) am -= g[off + k] * dx;
                    }
                }
                memcpy(x + off, x0 + off, m * sizeof *x);
                const double fl = dir ? 0.1 * gn * hh : 0.0;
                const double dc = f[2] - f[0], dp = f[2] - f[1], dm = f[1] - f[0];
                const double ec = fabs(ap + am - dc) / fmax(fmax(fabs(ap + am), fabs(dc)), 2 * fl);
                const double ep = fabs(ap - dp) / fmax(fmax(fabs(ap), fabs(dp)), fl);
                const double em = fabs(am - dm) / fmax(fmax(fabs(am), fabs(dm)), fl);
                e = fmin(e, fmin(ec, fmin(ep, em)));
            }
            if (dir == 0) st->worst_grad = fmax(st->worst_grad, e);
            else st->worst_rand = fmax(st->worst_rand, e);
        }
    }
    gsl_rng_free(r);
    memcpy(alig_ad_params_buf(P), bufsave, nbuf * sizeof *bufsave);
    alig_ad_graph_set_rng(G, rseed, rstep);
    free(x0);
    free(g);
    free(bufsave);
    free(v);
}

/* A net at batch B on synthetic data after one training pass (running statistics away from
 * (0, 1)), x jittered so that γ, β and biases leave their symmetric start, then dir_check. */
static void gradcheck_model(const char *what, const alig_nn_spec *spec, int B, int eval, int tensors)
{
    alig_nn_net *net = make_net(spec, B, B, 17);
    alig_image_set d = synth((size_t)B, (size_t)spec->in_c, (size_t)spec->in_h, (size_t)spec->in_w,
                             (size_t)spec->classes, 23);
    double loss;
    CU_ASSERT_FATAL(alig_nn_net_gradient(net, &d, NULL, 0, (size_t)B, &loss, NULL) == ALIG_SUCCESS);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 29);
    float *x = alig_nn_net_x(net);
    for (size_t i = 0; i < alig_nn_net_n(net); i++) x[i] += (float)(0.05 * gsl_ran_gaussian(r, 1.0));
    gsl_rng_free(r);
    dir_stats st;
    dir_check(net, eval, 1e-3, 31, -1, 0, &st);
    printf("  gradcheck %-30s n %6zu, %2d tensors x 3 directions: worst e along g_T %.1e, random %.1e, |g|max %.1e\n",
           what, alig_nn_net_n(net), st.tensors, st.worst_grad, st.worst_rand, st.amax);
    CU_ASSERT(st.amax > 1e-3);     /* the guard, with the per-direction one in dir_check */
    CU_ASSERT_EQUAL(st.tensors, tensors);   /* every weight, bias, γ and β was checked */
    CU_ASSERT(st.worst_grad <= 2e-2);
    CU_ASSERT(st.worst_rand <= 5e-2);
    alig_image_set_free(&d);
    alig_nn_net_free(net);
}

static void test_gradcheck_mlp(void)
{
    alig_nn_spec s;
    CU_ASSERT_FATAL(alig_nn_mlp(&s, 1, 4, 4, 3, 2, (const int[]){ 7, 5 }) == ALIG_SUCCESS);
    gradcheck_model("mlp 16-7-5-3, B=3", &s, 3, 0, 6);
    /* all 177 coordinates through the library's own checker as well */
    alig_nn_net *net = make_net(&s, 3, 3, 17);
    alig_image_set d = synth(3, 1, 4, 4, 3, 23);
    double loss;
    CU_ASSERT_FATAL(alig_nn_net_gradient(net, &d, NULL, 0, 3, &loss, NULL) == ALIG_SUCCESS);
    alig_ad_node *L;
    alig_ad_graph *G = alig_nn_net_train_graph(net, NULL, NULL, NULL, &L);
    alig_ad_gradcheck_result res;
    CU_ASSERT(alig_ad_gradcheck(G, L, &(alig_ad_gradcheck_opts){ .h = 1e-3 }, &res) == ALIG_SUCCESS);
    printf("  alig_ad_gradcheck mlp: checked %zu, max rel err %.2e, |g|max %.2e\n", res.checked, res.max_err,
           res.max_abs_grad);
    CU_ASSERT(res.checked == alig_nn_net_n(net) && res.max_abs_grad > 1e-2 && res.max_err < 1e-2);
    alig_image_set_free(&d);
    alig_nn_net_free(net);
}

static void test_gradcheck_cnn(void)
{
    alig_nn_spec s;
    CU_ASSERT_FATAL(alig_nn_cnn(&s, 1, 10, 10, 3) == ALIG_SUCCESS);
    gradcheck_model("cnn 1x10x10, B=2", &s, 2, 0, 8);
}

static void test_gradcheck_wrn(void)
{
    alig_nn_spec s;
    CU_ASSERT_FATAL(alig_nn_wrn(&s, 10, 1, 0.3, 2, 8, 8, 3) == ALIG_SUCCESS);
    /* conv1; 3 blocks of (BN γ, β, conv, BN γ, β, conv); 2 shortcuts; final BN γ, β; dense W, b */
    gradcheck_model("wrn-10-1 p=0.3 2x8x8 train", &s, 3, 0, 1 + 18 + 2 + 2 + 2);
    gradcheck_model("wrn-10-1 p=0.3 2x8x8 eval", &s, 3, 1, 1 + 18 + 2 + 2 + 2);
}

/* DenseNet-BC: parameter counts against the closed form and the PyTorch peer (counted with
 * the PyTorch peer script's (torch_fmnist.py) build_model: densenet-bc-10-2 786 (also by hand: first conv 108; layers
 * 200, 190, 180; transitions 30, 20; head 58), densenet-bc-40-40 1,901,930, densenet-bc-100-12
 * 769,162 and 800,032 with 100 classes, densenet-bc-16-3 on 1x28x28 3,118, densenet-bc-22-5 with
 * 7 classes 13,044); names; the initialisation's conv scale; central-difference gradients of a
 * tiny one (concat, average pool, fused BN-ReLU, no bias), in training and evaluation mode. */
static void test_densenet(void)
{
    const struct { int L, k, c, h, classes; size_t peer; } cases[] = {
        { 10, 2, 3, 32, 10, 786 },       { 40, 40, 3, 32, 10, 1901930 }, { 100, 12, 3, 32, 10, 769162 },
        { 100, 12, 3, 32, 100, 800032 }, { 16, 3, 1, 28, 10, 3118 },     { 22, 5, 3, 32, 7, 13044 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        alig_nn_spec s;
        CU_ASSERT_FATAL(alig_nn_densenet(&s, cases[i].L, cases[i].k, cases[i].c, cases[i].h, cases[i].h,
                                         cases[i].classes) == ALIG_SUCCESS);
        CU_ASSERT_EQUAL(alig_nn_densenet_params(cases[i].L, cases[i].k, cases[i].c, cases[i].classes), cases[i].peer);
        alig_nn_net *net = make_net(&s, 2, 2, 1);
        CU_ASSERT_EQUAL(alig_nn_net_n(net), cases[i].peer);
        if (cases[i].L == 40) {
            /* first conv: 2k x 3 x 3 x 3 weights ~ N(0, 2/(9·2k)); sample std within 10% */
            const float *x = alig_nn_net_x(net);
            const size_t m = 2 * 40 * 27;
            double q = 0.0;
            for (size_t j = 0; j < m; j++) q += (double)x[j] * x[j];
            const double sd = sqrt(q / (double)m), want = sqrt(2.0 / (9.0 * 80.0));
            CU_ASSERT(fabs(sd / want - 1.0) < 0.1);
        }
        alig_nn_net_free(net);
    }
    alig_nn_spec s;
    char name[64];
    CU_ASSERT_FATAL(alig_nn_spec_parse(&s, "densenet-bc-100-12", 3, 32, 32, 10, 0.0) == ALIG_SUCCESS);
    CU_ASSERT(s.kind == ALIG_NN_DENSENET && s.depth == 100 && s.growth == 12);
    CU_ASSERT_STRING_EQUAL(alig_nn_spec_name(&s, name, sizeof name), "densenet-bc-100-12");
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "densenet-bc-41-12", 3, 32, 32, 10, 0.0), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "densenet-bc-40-0", 3, 32, 32, 10, 0.0), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "densenet-bc-40", 3, 32, 32, 10, 0.0), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "densenet-bc-40-12", 3, 32, 32, 10, 0.2), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_spec_parse(&s, "densenet-bc-40-12", 3, 3, 3, 10, 0.0), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_nn_densenet_params(41, 12, 3, 10), 0);

    CU_ASSERT_FATAL(alig_nn_densenet(&s, 10, 2, 2, 8, 8, 3) == ALIG_SUCCESS);
    /* conv1; 3 layers of (BN γ, β, conv1x1, BN γ, β, conv3x3); 2 transitions (BN γ, β, conv); BN γ, β; W, b */
    gradcheck_model("densenet-bc-10-2 2x8x8 train", &s, 4, 0, 1 + 18 + 6 + 2 + 2);
    gradcheck_model("densenet-bc-10-2 2x8x8 eval", &s, 8, 1, 1 + 18 + 6 + 2 + 2);
}

static void test_gradcheck_negative(void)
{
    /* the check must fail when backward is wrong: a reversed batch-norm β gradient (16
     * elements, first block) and a conv weight gradient 10% too large */
    alig_nn_spec s;
    alig_nn_wrn(&s, 10, 1, 0.3, 2, 8, 8, 3);
    alig_nn_net *net = make_net(&s, 3, 3, 17);
    alig_image_set d = synth(3, 2, 8, 8, 3, 23);
    double loss;
    CU_ASSERT_FATAL(alig_nn_net_gradient(net, &d, NULL, 0, 3, &loss, NULL) == ALIG_SUCCESS);
    alig_ad_params *P = alig_nn_net_params(net);
    /* tensor ids: 0 conv1 W, 1-2 BN γ β, 3-4 running stats, 5 conv W, ... */
    CU_ASSERT_FATAL(alig_ad_params_shape(P, 2, NULL, NULL) == 16 && alig_ad_params_trainable(P, 2) == 1);
    CU_ASSERT_FATAL(alig_ad_params_shape(P, 5, NULL, NULL) == 16 * 16 * 9);
    dir_stats a, b;
    dir_check(net, 0, 1e-3, 31, 2, 0, &a);
    dir_check(net, 0, 1e-3, 31, 5, 1, &b);
    printf("  negative control: reversed BN beta gradient e %.2f, conv weight gradient x1.1 e %.3f\n", a.worst_grad,
           b.worst_grad);
    CU_ASSERT(a.worst_grad > 0.1);
    CU_ASSERT(b.worst_grad > 2e-2);
    alig_image_set_free(&d);
    alig_nn_net_free(net);
}

/* ------------------------------------------------------------------ evaluation, short batches */

static void test_evaluate(void)
{
    /* an MLP has no batch-dependent layer: the evaluation loss must equal the training graph's
     * softmax_ce op on the same samples, and accuracy its argmax count */
    alig_nn_spec s;
    alig_nn_mlp(&s, 2, 3, 3, 4, 1, (const int[]){ 6 });
    alig_image_set d = synth(13, 2, 3, 3, 4, 41);
    alig_nn_net *ref = make_net(&s, 13, 13, 3);
    double want, got, acc;
    size_t correct;
    CU_ASSERT_FATAL(alig_nn_net_gradient(ref, &d, NULL, 0, 13, &want, &correct) == ALIG_SUCCESS);
    for (int eb = 1; eb <= 16; eb += 5) {   /* 1, 6, 11, 16: exact, padded and oversize batches */
        alig_nn_net *net = make_net(&s, 4, eb, 3);
        CU_ASSERT_FATAL(alig_nn_net_evaluate(net, &d, &got, &acc) == ALIG_SUCCESS);
        CU_ASSERT(fabs(got - want) <= 1e-6 * fabs(want));
        CU_ASSERT_DOUBLE_EQUAL(acc, (double)correct / 13.0, 1e-12);
        alig_nn_net_free(net);
    }
    /* short batch: b = 3 on a B = 8 net gives the same loss and gradient as a B = 3 net */
    alig_nn_net *big = make_net(&s, 8, 8, 3), *small = make_net(&s, 3, 3, 3);
    const size_t idx[5] = { 12, 0, 7, 3, 9 };
    double l1, l2;
    CU_ASSERT_FATAL(alig_nn_net_gradient(big, &d, idx, 2, 3, &l1, NULL) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_nn_net_gradient(small, &d, idx, 2, 3, &l2, NULL) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(l1, l2);
    CU_ASSERT(memcmp(alig_nn_net_g(big), alig_nn_net_g(small), alig_nn_net_n(big) * sizeof(float)) == 0);
    /* errors */
    CU_ASSERT_EQUAL(alig_nn_net_gradient(big, &d, NULL, 0, 9, &l1, NULL), ALIG_EBADBATCH);     /* b > B */
    CU_ASSERT_EQUAL(alig_nn_net_gradient(big, &d, NULL, 10, 4, &l1, NULL), ALIG_EBADBATCH);    /* past n */
    CU_ASSERT_EQUAL(alig_nn_net_gradient(big, &d, NULL, 0, 0, &l1, NULL), ALIG_EBADBATCH);
    alig_image_set wrong = d;
    wrong.c = 1;
    wrong.n = 2;
    CU_ASSERT_EQUAL(alig_nn_net_gradient(big, &wrong, NULL, 0, 2, &l1, NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_nn_net_evaluate(big, &wrong, &l1, NULL), ALIG_EINVAL);
    alig_nn_net_free(big);
    alig_nn_net_free(small);
    alig_nn_net_free(ref);
    alig_image_set_free(&d);
}

/* ------------------------------------------------------------------ interpolation */

static void test_interpolation(void)
{
    /* 32 samples, 16 features, 4 random classes: an MLP with 64 hidden units can fit them
     * (interpolation). ALI-G with maximal step 1 and no schedule drives the training loss to ~0. */
    alig_nn_spec s;
    alig_nn_mlp(&s, 1, 4, 4, 4, 1, (const int[]){ 64 });
    alig_image_set d = synth(32, 1, 4, 4, 4, 51);
    alig_nn_net *net = make_net(&s, 8, 32, 7);
    alig_solver *sv = make_alig(net, 1.0, 0.9);
    size_t *perm = malloc(d.n * sizeof *perm);
    CU_ASSERT_FATAL(perm != NULL);
    double loss0, acc0, loss, acc;
    CU_ASSERT_FATAL(alig_nn_net_evaluate(net, &d, &loss0, &acc0) == ALIG_SUCCESS);
    int epochs = 0;
    do {
        run_epoch(net, sv, &d, 3, (unsigned long)epochs, perm);
        CU_ASSERT_FATAL(alig_nn_net_evaluate(net, &d, &loss, &acc) == ALIG_SUCCESS);
        epochs++;
    } while (loss > 1e-3 && epochs < 400);
    printf("  interpolation: loss %.4f -> %.2e (acc %.3f -> %.3f) after %d epochs of 4 steps, last step %.3g "
           "(unclipped %.3g)\n", loss0, loss, acc0, acc, epochs, alig_solver_step_size(sv),
           alig_solver_step_size_unclipped(sv));
    CU_ASSERT(loss0 > 1.0);            /* random labels: the start is far from interpolation */
    CU_ASSERT(loss < 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(acc, 1.0, 1e-12);
    free(perm);
    alig_solver_free(sv);
    alig_nn_net_free(net);
    alig_image_set_free(&d);
}

/* ------------------------------------------------------------------ determinism */

static void train_wrn(alig_nn_net **out_net, const alig_image_set *d, int epochs)
{
    alig_nn_spec s;
    alig_nn_wrn(&s, 10, 1, 0.2, 1, 8, 8, 3);
    alig_nn_net *net = make_net(&s, 6, 8, 11);
    alig_solver *sv = make_alig(net, 0.1, 0.9);
    size_t *perm = malloc(d->n * sizeof *perm);
    CU_ASSERT_FATAL(perm != NULL);
    for (int e = 0; e < epochs; e++) run_epoch(net, sv, d, 5, (unsigned long)e, perm);
    free(perm);
    alig_solver_free(sv);
    *out_net = net;
}

static void test_determinism(void)
{
    alig_image_set d = synth(16, 1, 8, 8, 3, 61);       /* batches 6, 6, 4 */
    alig_nn_net *a, *b;
    train_wrn(&a, &d, 2);
    train_wrn(&b, &d, 2);
    const size_t n = alig_nn_net_n(a), nbuf = alig_ad_params_nbuf(alig_nn_net_params(a));
    CU_ASSERT(memcmp(alig_nn_net_x(a), alig_nn_net_x(b), n * sizeof(float)) == 0);
    CU_ASSERT(memcmp(alig_ad_params_buf(alig_nn_net_params(a)), alig_ad_params_buf(alig_nn_net_params(b)),
                     nbuf * sizeof(float)) == 0);
    /* and training did move x (else the comparison proves nothing) */
    alig_nn_net *fresh = make_net(alig_nn_net_spec(a), 6, 8, 11);
    CU_ASSERT(memcmp(alig_nn_net_x(a), alig_nn_net_x(fresh), n * sizeof(float)) != 0);
    alig_nn_net_free(fresh);
    alig_nn_net_free(a);
    alig_nn_net_free(b);
    alig_image_set_free(&d);
}

#ifdef _OPENMP
static void test_threads(void)
{
    /* The CNN (its convolutions run block-parallel with 2 threads: per-thread partial sums of
     * the weight gradient) for 3 ALI-G steps with 1 and with 2 threads. Float rounding differs,
     * so x may differ: we require max |Δx| <= 1e-5 · max |x| after 3 steps. */
    alig_nn_spec s;
    alig_nn_cnn(&s, 1, 16, 16, 4);
    alig_image_set d = synth(48, 1, 16, 16, 4, 71);
    const int saved = omp_get_max_threads();
    float *x1 = NULL;
    double l[2] = { 0, 0 }, dx = 0, xmax = 0;
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        alig_nn_net *net = make_net(&s, 16, 16, 13);
        alig_solver *sv = make_alig(net, 0.1, 0.9);
        size_t perm[48];
        run_epoch(net, sv, &d, 1, 0, perm);
        CU_ASSERT_FATAL(alig_nn_net_evaluate(net, &d, &l[t], NULL) == ALIG_SUCCESS);
        const size_t n = alig_nn_net_n(net);
        const float *x = alig_nn_net_x(net);
        if (t == 0) {
            x1 = malloc(n * sizeof *x1);
            CU_ASSERT_FATAL(x1 != NULL);
            memcpy(x1, x, n * sizeof *x1);
        } else {
            for (size_t i = 0; i < n; i++) {
                dx = fmax(dx, fabs((double)x[i] - x1[i]));
                xmax = fmax(xmax, fabs((double)x1[i]));
            }
        }
        alig_solver_free(sv);
        alig_nn_net_free(net);
    }
    omp_set_num_threads(saved);
    printf("  1 vs 2 threads after 3 steps: loss %.9f vs %.9f, max |dx| / max |x| = %.2e\n", l[0], l[1], dx / xmax);
    CU_ASSERT(dx <= 1e-5 * xmax);
    CU_ASSERT(fabs(l[0] - l[1]) <= 1e-5 * fabs(l[0]));
    free(x1);
    alig_image_set_free(&d);
}
#endif

/* (The checkpoint test moved with the checkpoints to train/: tests/test_train_loop.c and
 * tests/test_train.sh cover resume = uninterrupted and damaged files.) */

/* ------------------------------------------------------------------ main */

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s1 = CU_add_suite("models", NULL, NULL);
    CU_pSuite s2 = CU_add_suite("training", NULL, NULL);
    if (!s1 || !s2) { CU_cleanup_registry(); return 2; }
    CU_add_test(s1, "specs, names, parameter counts vs PyTorch", test_specs);
    CU_add_test(s1, "initialisation distributions, seeds", test_init);
    CU_add_test(s1, "gradcheck mlp", test_gradcheck_mlp);
    CU_add_test(s1, "gradcheck cnn", test_gradcheck_cnn);
    CU_add_test(s1, "gradcheck wrn-10-1 (dropout, BN; train and eval)", test_gradcheck_wrn);
    CU_add_test(s1, "gradcheck negative control: corrupted gradients fail", test_gradcheck_negative);
    CU_add_test(s1, "densenet-bc: parameter counts vs closed form and PyTorch, names, init, gradcheck", test_densenet);
    CU_add_test(s1, "evaluation = loss op; short batch = own net", test_evaluate);
    CU_add_test(s2, "interpolation: ALI-G fits random labels", test_interpolation);
    CU_add_test(s2, "same seed, identical weights", test_determinism);
#ifdef _OPENMP   /* without OpenMP there is one thread count only: not registered, not counted */
    CU_add_test(s2, "1 vs 2 threads within tolerance", test_threads);
#endif
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return (failed || ran == 0) ? 1 : 0;
}
