/* conv_gflops.c - achieved GFLOP/s of the reference CNN's two convolution layers (forward and
 * backward, batch 128, 28×28 Fashion-MNIST shapes) next to a square sgemm measured in the same
 * process. Not a test: prints figures only (machines are shared; compare ratios).
 *
 *   conv1: (128,1,28,28) * (32,1,3,3) -> (128,32,26,26)    forward + weight gradient
 *   conv2: (128,32,13,13) * (64,32,3,3) -> (128,64,11,11)  forward + weight and input gradients
 * FLOPs: 2·N·Cout·Hout·Wout·Cin·k² per pass (multiply-add = 2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/ad.h"
#include "bench_util.h"

#define REPS 15

int main(void)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    alig_ad_params *P;
    alig_ad_graph *G;
    int w1, w2;
    if (alig_ad_params_alloc(&P) || alig_ad_params_add(P, 4, (int[]){ 32, 1, 3, 3 }, &w1) ||
        alig_ad_params_add(P, 4, (int[]){ 64, 32, 3, 3 }, &w2) || alig_ad_graph_alloc(&G, P, 1)) {
        fprintf(stderr, "conv_gflops: allocation failed\n");
        return 1;
    }
    alig_ad_node *x = alig_ad_input(G, 4, (int[]){ 128, 1, 28, 28 });
    alig_ad_node *c1 = alig_ad_conv2d(G, x, alig_ad_param(G, w1), NULL, NULL);
    alig_ad_pool_opts po = { .kh = 2, .kw = 2 };
    alig_ad_node *p1 = alig_ad_maxpool2d(G, alig_ad_relu(G, c1), &po);
    alig_ad_node *c2 = alig_ad_conv2d(G, p1, alig_ad_param(G, w2), NULL, NULL);
    alig_ad_node *loss = alig_ad_sum(G, c2);
    if (alig_ad_graph_compile(G)) {
        fprintf(stderr, "conv_gflops: %s\n", alig_ad_graph_error(G));
        return 1;
    }
    float *xp = alig_ad_params_x(P);
    for (size_t i = 0; i < alig_ad_params_n(P); i++) xp[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t i = 0; i < x->size; i++) x->value[i] = (float)((i * 40503u) % 997) / 997.0f;

    const double f1 = 2.0 * 128 * 32 * 26 * 26 * 1 * 9, f2 = 2.0 * 128 * 64 * 11 * 11 * 32 * 9;
    double t_fwd[REPS], t_all[REPS];
    for (int r = -2; r < REPS; r++) {
        double t0 = bench_now();
        alig_ad_forward(G, 1);
        double t1 = bench_now();
        alig_ad_backward(G, loss);
        double t2 = bench_now();
        if (r >= 0) { t_fwd[r] = t1 - t0; t_all[r] = t2 - t0; }
    }
    qsort(t_fwd, REPS, sizeof(double), bench_cmp_double);
    qsort(t_all, REPS, sizeof(double), bench_cmp_double);

    /* same-run sgemm reference: square n = 1024 */
    const int n = 1024;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double t_gemm[REPS];
    for (int r = -2; r < REPS; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (r >= 0) t_gemm[r] = bench_now() - t0;
    }
    qsort(t_gemm, REPS, sizeof(double), bench_cmp_double);
    double gemm = 2.0 * n * n * n / t_gemm[REPS / 2] * 1e-9;
    double fwd = (f1 + f2) / t_fwd[REPS / 2] * 1e-9;
    double all = (2 * f1 + 3 * f2) / t_all[REPS / 2] * 1e-9;   /* includes relu + max-pool passes */

    printf("conv_gflops: threads=%d, median of %d runs\n", threads, REPS);
    printf("  %-44s %9.2f ms %8.1f GFLOP/s\n", "CNN convs forward (conv1+conv2, +relu/pool)", 1e3 * t_fwd[REPS / 2], fwd);
    printf("  %-44s %9.2f ms %8.1f GFLOP/s\n", "CNN convs forward + backward", 1e3 * t_all[REPS / 2], all);
    printf("  %-44s %9.2f ms %8.1f GFLOP/s\n", "sgemm 1024^3 (same run)", 1e3 * t_gemm[REPS / 2], gemm);
    printf("  ratio conv fwd+bwd / sgemm = %.2f\n", all / gemm);
    free(a); free(b); free(c);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
    return 0;
}
