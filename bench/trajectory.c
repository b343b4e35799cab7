/* trajectory.c - the first STEPS ALI-G steps of a net on Fashion-MNIST, written out so that a second
 * implementation (bench/trajectory_vs_torch.py: the PyTorch peer's models and ALI-G) can repeat
 * them from the same weights on the same batches and compare step by step.
 *
 * The training set is standardised with its own mean and standard deviation (all 60000 images,
 * as the peer does); batch t holds images t·B .. t·B + B − 1 in file order; the net is the one
 * `alig train --model MODEL --seed SEED` starts from; the solver is ALI-G (η, μ, δ = 1e-5,
 * standard momentum), driven exactly as `alig train` drives it.
 *
 * Writes into OUTDIR (created if needed), native byte order:
 *   meta.txt      model, n (parameters), steps, batch, eta, momentum, mean, std
 *   x0.f32        the n initial parameters (PyTorch's parameters() order and layout)
 *   g1.f32        the gradient of the first mini-batch loss at x0
 *   xT.f32        the n parameters after the last step
 *   batches.f32   steps·B·1·28·28 inputs; labels.i32  steps·B labels
 *   alig.csv      step, loss, grad_sumsq, step, step_unclipped (one row per step)
 * Usage: trajectory MODEL STEPS OUTDIR [SEED] [ETA] [MOMENTUM] [BATCH]
 *        (defaults: seed 0, eta 0.1, momentum 0.9, batch 128; OMP_NUM_THREADS sets the threads) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alig/nn.h"
#include "alig/solver.h"

static int fail(const char *what)
{
    fprintf(stderr, "trajectory: %s\n", what);
    return 1;
}

static int write_file(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "trajectory: cannot write %s: %s\n", path, strerror(errno)); return 1; }
    const int bad = fwrite(p, 1, bytes, f) != bytes;
    if (fclose(f) != 0 || bad) { fprintf(stderr, "trajectory: write error on %s\n", path); return 1; }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 8) {
        fprintf(stderr, "usage: trajectory MODEL STEPS OUTDIR [SEED] [ETA] [MOMENTUM] [BATCH]\n");
        return 2;
    }
    const char *model = argv[1], *dir = argv[3];
    char *end;
    const long steps = strtol(argv[2], &end, 10);
    if (*end || steps < 1 || steps > 400) return fail("STEPS must be an integer in [1, 400]");
    const unsigned long seed = argc > 4 ? strtoul(argv[4], &end, 10) : 0;
    if (argc > 4 && *end) return fail("SEED must be a non-negative integer");
    const double eta = argc > 5 ? strtod(argv[5], &end) : 0.1;
    if (argc > 5 && (*end || !(eta > 0.0))) return fail("ETA must be > 0 (or inf)");
    const double mu = argc > 6 ? strtod(argv[6], &end) : 0.9;
    if (argc > 6 && (*end || !(mu >= 0.0 && mu < 1.0))) return fail("MOMENTUM must be in [0, 1)");
    const long B = argc > 7 ? strtol(argv[7], &end, 10) : 128;
    if (argc > 7 && (*end || B < 2 || B > 1024)) return fail("BATCH must be an integer in [2, 1024]");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return fail("cannot create OUTDIR");

    char err[1024];
    alig_image_set train = { 0 };
    if (alig_data_load_fashion_mnist(NULL, &train, NULL, err, sizeof err)) return fail(err);
    double mean, sd;
    if (alig_data_normalise(&train, NULL, 0, &mean, &sd)) return fail("normalisation failed");
    if ((size_t)(steps * B) > train.n) return fail("STEPS x BATCH exceeds the training set");

    alig_nn_spec spec;
    if (alig_nn_spec_parse(&spec, model, 1, 28, 28, 10, 0.0)) return fail("unknown MODEL (cnn or wrn-D-K, the models the peer has)");
    alig_nn_net *net;
    if (alig_nn_net_alloc(&net, &spec, (int)B, (int)B, seed, err, sizeof err)) return fail(err);
    const size_t n = alig_nn_net_n(net);
    alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;
    p.eta = eta;
    p.momentum = mu;
    alig_solver *s;
    if (alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, n, &p) ||
        alig_solver_set(s, alig_nn_net_x(net), INFINITY))
        return fail("solver allocation failed");

    const size_t per = (size_t)B * 28 * 28;
    float *xb = malloc((size_t)steps * per * sizeof *xb);
    int32_t *yb = malloc((size_t)steps * (size_t)B * sizeof *yb);
    if (!xb || !yb) return fail("out of memory");
    for (long t = 0; t < steps; t++)
        if (alig_data_batch(&train, NULL, (size_t)(t * B), (size_t)B, xb + (size_t)t * per, yb + (size_t)t * B))
            return fail("batch gathering failed");
    if (write_file(dir, "x0.f32", alig_nn_net_x(net), n * sizeof(float)) ||
        write_file(dir, "batches.f32", xb, (size_t)steps * per * sizeof *xb) ||
        write_file(dir, "labels.i32", yb, (size_t)steps * (size_t)B * sizeof *yb))
        return 1;

    char path[4096];
    snprintf(path, sizeof path, "%s/alig.csv", dir);
    FILE *csv = fopen(path, "w");
    if (!csv) return fail("cannot write alig.csv");
    fprintf(csv, "step,loss,grad_sumsq,step_size,step_unclipped\n");
    for (long t = 0; t < steps; t++) {
        double loss;
        alig_status st = alig_nn_net_gradient(net, &train, NULL, (size_t)(t * B), (size_t)B, &loss, NULL);
        if (!st && t == 0 && write_file(dir, "g1.f32", alig_nn_net_g(net), n * sizeof(float))) {
            fclose(csv);
            return 1;
        }
        if (!st) st = alig_solver_step(s, loss, alig_nn_net_g(net));
        if (st) { fclose(csv); return fail(alig_strerror(st)); }
        fprintf(csv, "%ld,%.17g,%.17g,%.17g,%.17g\n", t + 1, loss, alig_solver_grad_sumsq(s),
                alig_solver_step_size(s), alig_solver_step_size_unclipped(s));
    }
    if (fclose(csv) != 0) return fail("write error on alig.csv");
    if (write_file(dir, "xT.f32", alig_nn_net_x(net), n * sizeof(float))) return 1;
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *m = fopen(path, "w");
    if (!m) return fail("cannot write meta.txt");
    fprintf(m, "model=%s\nn=%zu\nsteps=%ld\nbatch=%ld\neta=%.17g\nmomentum=%.17g\nmean=%.17g\nstd=%.17g\n", model, n,
            steps, B, eta, mu, mean, sd);
    if (fclose(m) != 0) return fail("write error on meta.txt");
    printf("trajectory: %s, %zu parameters, %ld steps of batch %ld written to %s\n", model, n, steps, B, dir);
    free(xb);
    free(yb);
    alig_solver_free(s);
    alig_nn_net_free(net);
    alig_image_set_free(&train);
    return 0;
}
