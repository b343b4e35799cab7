/* conv_layers.c - WRN-16-2's convolution layers on Fashion-MNIST shapes (batch 128), forward and
 * forward + backward (input and weight gradients), each with the default algorithm and with
 * im2col forced, next to a square sgemm measured in the same process. Not a test: prints figures
 * only (machines are shared; compare ratios). GFLOP/s count the direct method's 2·N·K·P·Q·C·R·S
 * per pass, so Winograd's figure is an effective rate.
 * Usage: conv_layers [REPS]   (OMP_NUM_THREADS sets the threads) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/ad.h"
#include "bench_util.h"

typedef struct layer { int C, K, H, k, stride, count; } layer;

/* WRN-16-2 on 28×28: (in channels, out channels, input size, kernel, stride, layers of that shape) */
static const layer layers[] = {
    { 1, 16, 28, 3, 1, 1 },   { 16, 32, 28, 3, 1, 1 },  { 32, 32, 28, 3, 1, 3 },  { 16, 32, 28, 1, 1, 1 },
    { 32, 64, 28, 3, 2, 1 },  { 64, 64, 14, 3, 1, 3 },  { 32, 64, 28, 1, 2, 1 },
    { 64, 128, 14, 3, 2, 1 }, { 128, 128, 7, 3, 1, 3 }, { 64, 128, 14, 1, 2, 1 },
};

/* median seconds of REPS forwards and of REPS forward+backward passes; 1 on failure */
static int time_layer(const layer *L, alig_conv_algo algo, int reps, double *fwd, double *all)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int wx, ww;
    if (alig_ad_params_alloc(&P)) return 1;
    if (alig_ad_params_add(P, 4, (int[]){ 128, L->C, L->H, L->H }, &wx) ||
        alig_ad_params_add(P, 4, (int[]){ L->K, L->C, L->k, L->k }, &ww) || alig_ad_graph_alloc(&G, P, 1)) {
        alig_ad_params_free(P);
        return 1;
    }
    const alig_ad_conv_opts o = { .stride_h = L->stride, .stride_w = L->stride, .pad_h = L->k / 2,
                                  .pad_w = L->k / 2, .algo = algo };
    alig_ad_node *y = alig_ad_conv2d(G, alig_ad_param(G, wx), alig_ad_param(G, ww), NULL, &o);
    alig_ad_node *loss = alig_ad_sum(G, y);
    if (alig_ad_graph_compile(G)) {
        fprintf(stderr, "conv_layers: %s\n", alig_ad_graph_error(G));
        alig_ad_graph_free(G);
        alig_ad_params_free(P);
        return 1;
    }
    float *xp = alig_ad_params_x(P);
    for (size_t i = 0; i < alig_ad_params_n(P); i++) xp[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    double *tf = malloc(sizeof(double) * (size_t)reps), *ta = malloc(sizeof(double) * (size_t)reps);
    for (int r = -2; r < reps; r++) {
        double t0 = bench_now();
        alig_ad_forward(G, 1);
        double t1 = bench_now();
        alig_ad_forward(G, 1);
        alig_ad_backward(G, loss);
        double t2 = bench_now();
        if (r >= 0) { tf[r] = t1 - t0; ta[r] = t2 - t1; }
    }
    qsort(tf, (size_t)reps, sizeof(double), bench_cmp_double);
    qsort(ta, (size_t)reps, sizeof(double), bench_cmp_double);
    *fwd = tf[reps / 2];
    *all = ta[reps / 2];
    free(tf); free(ta);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
    return 0;
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 7;
    if (reps < 1) {
        fprintf(stderr, "usage: conv_layers [REPS >= 1]\n");
        return 2;
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("conv_layers: WRN-16-2 convolutions, batch 128, threads=%d, median of %d runs\n", threads, reps);
    printf("  %-24s %5s | %-28s | %-28s\n", "layer (C->K, HxH, k, s)", "count", "default: fwd / fwd+bwd ms",
           "im2col: fwd / fwd+bwd ms");
    double tot[2][2] = { { 0, 0 }, { 0, 0 } }, flops = 0;
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const layer *L = &layers[i];
        const int P = (L->H + 2 * (L->k / 2) - L->k) / L->stride + 1;
        const double f = 2.0 * 128 * L->K * P * P * L->C * L->k * L->k;
        double t[2][2];
        for (int a = 0; a < 2; a++)
            if (time_layer(L, a ? ALIG_CONV_IM2COL : ALIG_CONV_AUTO, reps, &t[a][0], &t[a][1])) return 1;
        char name[40];
        snprintf(name, sizeof name, "%d->%d, %dx%d, %dx%d, s%d", L->C, L->K, L->H, L->H, L->k, L->k, L->stride);
        printf("  %-24s %5d | %6.2f / %6.2f (%4.0f GF/s) | %6.2f / %6.2f (%4.0f GF/s)\n", name, L->count,
               1e3 * t[0][0], 1e3 * t[0][1], 3 * f / t[0][1] * 1e-9, 1e3 * t[1][0], 1e3 * t[1][1],
               3 * f / t[1][1] * 1e-9);
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) tot[a][b] += L->count * t[a][b];
        flops += L->count * 3 * f;
    }
    printf("  %-30s | %6.1f / %6.1f ms (%4.0f GF/s) | %6.1f / %6.1f ms (%4.0f GF/s)\n", "all layers of one batch",
           1e3 * tot[0][0], 1e3 * tot[0][1], flops / tot[0][1] * 1e-9, 1e3 * tot[1][0], 1e3 * tot[1][1],
           flops / tot[1][1] * 1e-9);

    const int n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) return 1;
    for (int i = 0; i < n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double *tg = malloc(sizeof(double) * (size_t)reps);
    for (int r = -2; r < reps; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (r >= 0) tg[r] = bench_now() - t0;
    }
    qsort(tg, (size_t)reps, sizeof(double), bench_cmp_double);
    printf("  sgemm 1024^3 (same run): %.1f GFLOP/s\n", 2.0 * n * n * n / tg[reps / 2] * 1e-9);
    free(a); free(b); free(c); free(tg);
    return 0;
}
