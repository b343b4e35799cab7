/* dnc_check.c - the DNC (include/alig/dnc.h) driven on weight and batch files, so that a second
 * implementation (the PyTorch peer used by bench/dnc_vs_torch.sh) can be compared with it on the
 * same numbers. File formats (little-endian, row-major; the peer's):
 *   weights   n float32 values in the flat order of dnc.h (175,920 bytes at the paper's sizes);
 *   batches   one or more records: int32 T, int32 B, obs float32 [T,B,6], targ float32 [T,B,5],
 *             mask float32 [T,B];
 *   gradient  n float32 values.
 * Sub-commands (each prints one line "RESULT {json}" at the end):
 *   grad  WEIGHTS BATCHES INDEX GRAD_OUT [full]
 *         loss and gradient of batch INDEX (0-based); `full` differentiates through the previous write
 *         weights (no stop-gradient).
 *   steps WEIGHTS BATCHES OPT LR STEPS TRACE [CLIP]
 *         STEPS optimizer steps from WEIGHTS on batches 0, 1, ... (cycling); OPT is a solver name of
 *         `alig list` (alig: eta = LR, delta = 0, "inf" for no cap; l4adam / l4mom: alpha = LR; the
 *         others: lr = LR), CLIP a global-norm clip applied before the step (0 = none). TRACE gets one
 *         JSON line per step: step, loss (before the update), gnorm2 (unclipped, double), step_size.
 *   speed BATCHES STEPS OPT LR [CLIP]
 *         training steps per second (seed-0 initialisation, batches cycling), after 20 warm-up steps.
 * OMP_NUM_THREADS sets the threads. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alig/dnc.h"
#include "alig/solver.h"

typedef struct batch {
    int T, B;
    float *obs, *targ, *mask;
} batch;

static int die(const char *msg, const char *arg)
{
    fprintf(stderr, "dnc_check: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Read every batch record of path. Returns the count, 0 on error (message printed). */
static int read_batches(const char *path, int X, int Y, batch **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return die("cannot open", path), 0;
    int n = 0, cap = 0;
    batch *bs = NULL;
    for (;;) {
        int32_t hdr[2];
        size_t got = fread(hdr, sizeof(int32_t), 2, f);
        if (got == 0 && feof(f)) break;
        if (got != 2 || hdr[0] < 1 || hdr[0] > 10000 || hdr[1] < 1 || hdr[1] > 100000) {
            fclose(f);
            return die("bad batch header in", path), 0;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            bs = realloc(bs, (size_t)cap * sizeof *bs);
            if (!bs) exit(die("out of memory", NULL));
        }
        batch *b = &bs[n];
        b->T = hdr[0];
        b->B = hdr[1];
        const size_t TB = (size_t)b->T * (size_t)b->B;
        b->obs = malloc(TB * (size_t)(X + Y + 1) * sizeof(float));
        if (!b->obs) exit(die("out of memory", NULL));
        b->targ = b->obs + TB * (size_t)X;
        b->mask = b->targ + TB * (size_t)Y;
        if (fread(b->obs, sizeof(float), TB * (size_t)(X + Y + 1), f) != TB * (size_t)(X + Y + 1)) {
            fclose(f);
            return die("truncated batch in", path), 0;
        }
        n++;
    }
    fclose(f);
    if (!n) return die("no batch in", path), 0;
    *out = bs;
    return n;
}

static int read_floats(const char *path, float *x, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return die("cannot open", path);
    const size_t got = fread(x, sizeof(float), n, f);
    const int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) return die("weights file has the wrong size", path);
    return 0;
}

static int write_floats(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return die("cannot write", path);
    const int bad = fwrite(x, sizeof(float), n, f) != n;
    if (fclose(f) || bad) return die("write error on", path);
    return 0;
}

static double gnorm2(const float *g, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

/* A solver of type `name` with its rate set from `lr` (see the file comment). */
static int make_solver(const char *name, const char *lr, size_t n, float *x, alig_solver **s, void **params)
{
    const alig_solver_type *type = alig_solver_type_find(name);
    if (!type) return die("unknown optimizer", name);
    *params = malloc(type->params_size);
    memcpy(*params, type->params_default, type->params_size);
    const char *key = strcmp(name, "alig") == 0 ? "eta" : strncmp(name, "l4", 2) == 0 ? "alpha" : "lr";
    if (alig_params_set(type, *params, key, lr)) return die("bad rate", lr);
    if (strcmp(name, "alig") == 0 && alig_params_set(type, *params, "delta", "0")) return die("delta", NULL);
    alig_status rc = alig_solver_alloc(s, type, ALIG_F32, n, *params);
    if (!rc) rc = alig_solver_set(*s, x, INFINITY);
    if (rc) return die("solver", alig_strerror(rc));
    return 0;
}

/* g ← g·c/max(‖g‖, c) (TensorFlow's clip_by_global_norm); returns the scale */
static double clip_global(float *g, size_t n, double c, double gsq)
{
    if (!(c > 0)) return 1.0;
    const double norm = sqrt(gsq), scale = c / fmax(norm, c);
    if (scale != 1.0)
        for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * scale);
    return scale;
}

int main(int argc, char **argv)
{
    if (argc < 2) return die("usage: dnc_check grad|steps|speed ... (see bench/dnc_check.c)", NULL);
    const char *cmd = argv[1];
    char err[200];
    alig_dnc_config cfg = { 0 };
    int full = 0;
    if (strcmp(cmd, "grad") == 0 && argc == 7 && strcmp(argv[6], "full") == 0) full = 1;
    cfg.full_gradient = full;
    alig_dnc *m = NULL;
    if (alig_dnc_alloc(&m, &cfg, err, sizeof err)) return die("dnc", err);
    const alig_dnc_config *c = alig_dnc_get_config(m);
    const size_t n = alig_dnc_n(m);
    float *x = alig_dnc_x(m), *g = alig_dnc_g(m);
    batch *bs = NULL;
    int nb = 0;

    if (strcmp(cmd, "grad") == 0 && (argc == 6 || argc == 7)) {
        if (read_floats(argv[2], x, n)) return 1;
        if (!(nb = read_batches(argv[3], c->in_dim, c->out_dim, &bs))) return 1;
        const int k = atoi(argv[4]);
        if (k < 0 || k >= nb) return die("batch index out of range", argv[4]);
        if (bs[k].B != c->batch) return die("batch size is not 16", NULL);
        double loss;
        alig_status rc = alig_dnc_gradient(m, bs[k].T, bs[k].obs, bs[k].targ, bs[k].mask, &loss);
        if (rc) return die("gradient", alig_strerror(rc));
        if (write_floats(argv[5], g, n)) return 1;
        printf("RESULT {\"loss\": %.17g, \"gnorm2\": %.17g, \"T\": %d, \"n\": %zu}\n", loss, gnorm2(g, n),
               bs[k].T, n);
    } else if (strcmp(cmd, "steps") == 0 && (argc == 8 || argc == 9)) {
        if (read_floats(argv[2], x, n)) return 1;
        if (!(nb = read_batches(argv[3], c->in_dim, c->out_dim, &bs))) return 1;
        const long steps = atol(argv[6]);
        const double clipn = argc == 9 ? atof(argv[8]) : 0.0;
        alig_solver *s;
        void *params;
        if (make_solver(argv[4], argv[5], n, x, &s, &params)) return 1;
        FILE *tr = fopen(argv[7], "w");
        if (!tr) return die("cannot write", argv[7]);
        for (long t = 0; t < steps; t++) {
            const batch *b = &bs[t % nb];
            double loss;
            alig_status rc = alig_dnc_gradient(m, b->T, b->obs, b->targ, b->mask, &loss);
            if (rc) return die("gradient", alig_strerror(rc));
            const double gsq = gnorm2(g, n);
            clip_global(g, n, clipn, gsq);
            rc = alig_solver_step(s, loss, g);
            fprintf(tr, "{\"step\": %ld, \"loss\": %.17g, \"gnorm2\": %.17g, \"step_size\": %.17g, \"status\": %d}\n",
                    t, loss, gsq, alig_solver_step_size(s), (int)rc);
            if (rc) break;
        }
        double wsum = 0, wn2 = 0;
        for (size_t i = 0; i < n; i++) {
            wsum += x[i];
            wn2 += (double)x[i] * x[i];
        }
        if (fclose(tr)) return die("write error on", argv[7]);
        printf("RESULT {\"steps\": %ld, \"wsum\": %.17g, \"wnorm2\": %.17g}\n", steps, wsum, wn2);
        alig_solver_free(s);
        free(params);
    } else if (strcmp(cmd, "speed") == 0 && (argc == 6 || argc == 7)) {
        if (!(nb = read_batches(argv[2], c->in_dim, c->out_dim, &bs))) return 1;
        const long steps = atol(argv[3]);
        const double clipn = argc == 7 ? atof(argv[6]) : 0.0;
        if (steps < 1) return die("STEPS must be >= 1", argv[3]);
        alig_dnc_init(m, 0);
        alig_solver *s;
        void *params;
        if (make_solver(argv[4], argv[5], n, x, &s, &params)) return 1;
        double t0 = 0, last = 0;
        for (long t = 0; t < steps + 20; t++) {
            if (t == 20) t0 = now();
            const batch *b = &bs[t % nb];
            double loss;
            alig_status rc = alig_dnc_gradient(m, b->T, b->obs, b->targ, b->mask, &loss);
            if (rc) return die("gradient", alig_strerror(rc));
            clip_global(g, n, clipn, gnorm2(g, n));
            alig_solver_step(s, loss, g);
            last = loss;
        }
        const double dt = now() - t0;
        printf("RESULT {\"steps_per_s\": %.6g, \"steps\": %ld, \"seconds\": %.6g, \"last_loss\": %.9g}\n",
               (double)steps / dt, steps, dt, last);
        alig_solver_free(s);
        free(params);
    } else {
        return die("usage: dnc_check grad|steps|speed ... (see bench/dnc_check.c)", NULL);
    }
    for (int i = 0; i < nb; i++) free(bs[i].obs);
    free(bs);
    alig_dnc_free(m);
    return 0;
}
