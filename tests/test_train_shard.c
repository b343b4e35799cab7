/* test_train_shard.c - the training loop's data-parallel hook (include/alig/train.h,
 * "Data-parallel training") without MPI: shard 0 of 2 runs in alig_train while its reduce callback
 * plays shard 1 on a twin model in the same process, so the whole contract is checked in every
 * build (MPI or not; tests/test_train_mpi.sh runs the real thing under mpirun):
 *   - the slice shard 0 computes is the first ⌊N/2⌋ samples of batch k (its gradient is bit for
 *     bit the model's gradient on those samples, computed here), its weight is exactly ⌊N/2⌋/N, the
 *     sums hold weight·loss and the sample count; N = 15, so the slices are 7 and 8;
 *   - with the twin's gradient on the other 8 samples added (in double, weighted), 4 SGD steps land
 *     within float rounding of the one-process run (4 roundings of max|x| per step: the two runs
 *     differ only in how the batch sum is split and ordered);
 *   - agree is called at every checkpoint point (steps 2 and 4 with checkpoint_every 2), also
 *     without a run directory; its error stops the run naming the disagreement, and so does a
 *     failing reduction (with its message) or one that miscounts the samples;
 *   - shard 1 writes no file into the run directory;
 *   - shard 1 draws its own dropout masks (a WRN with dropout 0.5: its slice's loss differs from
 *     the loss of the same slice drawn with the model's stream, which it equals without dropout)
 *     and leaves the model's stream where shard 0 leaves it (same seed, same position);
 *   - refused: a rank out of range, no reduce function, a batch smaller than the shard count,
 *     profiling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "alig/train.h"

static char dir[256];

static void put_be32(FILE *f, unsigned v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v };
    fwrite(b, 1, 4, f);
}

/* n images 1x6x6, 3 classes, a class-dependent bright row plus noise. */
static int write_idx(const char *img, const char *lab, int n, unsigned seed)
{
    FILE *fi = fopen(img, "wb"), *fl = fopen(lab, "wb");
    if (!fi || !fl) return -1;
    put_be32(fi, 0x803); put_be32(fi, (unsigned)n); put_be32(fi, 6); put_be32(fi, 6);
    put_be32(fl, 0x801); put_be32(fl, (unsigned)n);
    unsigned s = seed;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        const int c = (int)((s >> 16) % 3);
        fputc(c, fl);
        for (int p = 0; p < 36; p++) {
            s = s * 1103515245u + 12345u;
            fputc((int)((s >> 16) % 50) + (p / 6 == 2 * c ? 150 : 0), fi);
        }
    }
    return fclose(fi) | fclose(fl);
}

static char *path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

enum { BATCH = 15, STEPS = 4 };

typedef struct setup {
    alig_task *task;
    alig_model *model;
    alig_solver *solver;
    alig_params_sgd sp;
} setup;

static void setup_model(setup *s, size_t batch, const char *model, double dropout)
{
    const alig_task_image_cfg c = { .train_images = path("tr-img"), .train_labels = path("tr-lab"),
                                    .test_images = path("te-img"), .test_labels = path("te-lab"), .val = 10,
                                    .val_seed = 1, .batch = batch, .seed = 2 };
    char err[512];
    CU_ASSERT_FATAL(alig_task_image_load(&s->task, &c, err, sizeof err) == ALIG_SUCCESS);
    alig_model_opts o = ALIG_MODEL_OPTS_DEFAULT;
    o.dropout = dropout;
    alig_status st = alig_model_alloc(&s->model, model, &o, s->task, 5, err, sizeof err);
    if (st) printf("  %s\n", err);
    CU_ASSERT_FATAL(st == ALIG_SUCCESS);
    s->sp = (alig_params_sgd)ALIG_PARAMS_SGD_DEFAULT;
    s->sp.lr = 0.1;
    CU_ASSERT_FATAL(alig_solver_alloc(&s->solver, alig_solver_sgd, ALIG_F32, alig_model_n(s->model), &s->sp) == 0);
    CU_ASSERT_FATAL(alig_solver_set(s->solver, alig_model_x(s->model), INFINITY) == 0);
}

static void setup_make(setup *s, size_t batch) { setup_model(s, batch, "mlp-8", 0.0); }

static void setup_free(setup *s)
{
    alig_solver_free(s->solver);
    alig_model_free(s->model);
    alig_task_free(s->task);
}

/* ---------------------------------------------------------------- shard 1 played in-process */

typedef struct twin {
    setup other;            /* shard 1's model and task */
    const float *x0;        /* shard 0's parameters (shard 1's are the same) */
    uint64_t calls;         /* = the step k of the call (the run starts at 0) */
    int slice_ok, weight_ok, sums_ok;
    uint64_t agree_steps[8];
    int agrees;
    alig_status fail_agree, fail_reduce;
    int miscount;
} twin;

static alig_status twin_reduce(void *ctx, float *g, size_t n, float *buf, size_t nbuf, double w,
                               double sums[ALIG_TRAIN_REDUCE_SUMS], char *err, size_t errlen)
{
    twin *t = ctx;
    if (t->fail_reduce) {
        snprintf(err, errlen, "the wire is cut");
        return t->fail_reduce;
    }
    alig_model *m = t->other.model;
    (void)buf;
    CU_ASSERT_FATAL(n == alig_model_n(m) && nbuf == 0);
    alig_batch b;
    CU_ASSERT_FATAL(alig_task_batch(t->other.task, t->calls++, &b) == ALIG_SUCCESS && b.n == BATCH);
    const size_t half = b.n / 2;    /* shard 0: [0, 7), shard 1: [7, 15) */
    /* shard 0's part, recomputed here: the first `half` samples of the batch at the same x */
    memcpy(alig_model_x(m), t->x0, n * sizeof(float));
    alig_batch s0 = b;
    s0.n = half;
    double l0;
    size_t c0;
    CU_ASSERT_FATAL(alig_model_gradient(m, &s0, &l0, &c0) == ALIG_SUCCESS);
    t->slice_ok += !memcmp(alig_model_g(m), g, n * sizeof(float));
    t->weight_ok += w == (double)half / (double)BATCH;
    t->sums_ok += sums[0] == w * l0 && sums[1] == (double)half && sums[2] == (double)c0;
    /* shard 1's part: the other samples */
    alig_batch s1 = b;
    s1.start = b.start + half;
    s1.n = b.n - half;
    double l1;
    size_t c1;
    CU_ASSERT_FATAL(alig_model_gradient(m, &s1, &l1, &c1) == ALIG_SUCCESS);
    const double w1 = (double)s1.n / (double)BATCH;
    const float *g1 = alig_model_g(m);
    for (size_t i = 0; i < n; i++) g[i] = (float)(w * (double)g[i] + w1 * (double)g1[i]);
    sums[0] += w1 * l1;
    sums[1] += (double)s1.n + (t->miscount ? 1.0 : 0.0);
    sums[2] += (double)c1;
    return ALIG_SUCCESS;
}

static alig_status twin_agree(void *ctx, const float *x, size_t n, const float *buf, size_t nbuf, uint64_t steps,
                              char *err, size_t errlen)
{
    twin *t = ctx;
    (void)x;
    (void)n;
    (void)buf;
    (void)nbuf;
    if (t->agrees < 8) t->agree_steps[t->agrees] = steps;
    t->agrees++;
    if (t->fail_agree) snprintf(err, errlen, "checksums differ");
    return t->fail_agree;
}

static alig_train_params step_params(void)
{
    alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
    p.steps = STEPS;
    p.log_every = 1;
    p.checkpoint_every = 2;
    return p;
}

static void test_two_shards(void)
{
    setup one, s0;
    setup_make(&one, BATCH);
    const size_t n = alig_model_n(one.model);
    alig_train_params p = step_params();
    alig_train_result res;
    CU_ASSERT_FATAL(alig_train(one.model, one.task, one.solver, &one.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);

    setup_make(&s0, BATCH);
    twin t = { .x0 = alig_model_x(s0.model) };
    setup_make(&t.other, BATCH);
    p.shard_rank = 0;
    p.shard_size = 2;
    p.reduce = twin_reduce;
    p.agree = twin_agree;
    p.shard_ctx = &t;
    alig_status st = alig_train(s0.model, s0.task, s0.solver, &s0.sp, &p, NULL, NULL, NULL, &res);
    if (st) printf("  %s\n", res.error);
    CU_ASSERT_FATAL(st == ALIG_SUCCESS && res.steps_done == STEPS);
    CU_ASSERT(t.calls == STEPS);
    CU_ASSERT(t.slice_ok == STEPS);
    CU_ASSERT(t.weight_ok == STEPS);
    CU_ASSERT(t.sums_ok == STEPS);
    CU_ASSERT(t.agrees == 2 && t.agree_steps[0] == 2 && t.agree_steps[1] == 4);
    const float *xa = alig_model_x(one.model), *xb = alig_model_x(s0.model);
    double dmax = 0.0, xmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        dmax = fmax(dmax, fabs((double)xa[i] - (double)xb[i]));
        xmax = fmax(xmax, fabs((double)xa[i]));
    }
    printf("\n  2 shards vs one process after %d steps: max|dx| = %.3e, max|x| = %.3e, bound %.3e\n", STEPS, dmax,
           xmax, 4.0 * STEPS * ldexp(1.0, -24) * xmax);
    CU_ASSERT(dmax <= 4.0 * STEPS * ldexp(1.0, -24) * xmax);
    setup_free(&t.other);
    setup_free(&s0);
    setup_free(&one);
}

/* A failing reduction, a miscounting one and a failing check stop the run with a message. */
static void test_failures(void)
{
    for (int what = 0; what < 3; what++) {
        setup s0;
        setup_make(&s0, BATCH);
        twin t = { .x0 = alig_model_x(s0.model) };
        setup_make(&t.other, BATCH);
        if (what == 0) t.fail_reduce = ALIG_EIO;
        if (what == 1) t.miscount = 1;
        if (what == 2) t.fail_agree = ALIG_EINVAL;
        alig_train_params p = step_params();
        p.shard_size = 2;
        p.reduce = twin_reduce;
        p.agree = twin_agree;
        p.shard_ctx = &t;
        alig_train_result res;
        const alig_status st = alig_train(s0.model, s0.task, s0.solver, &s0.sp, &p, NULL, NULL, NULL, &res);
        const char *want[] = { "the wire is cut", "counted 16 samples in a batch of 15", "after step 2 the 2 shards "
                               "disagree: checksums differ" };
        CU_ASSERT(st == (what == 0 ? ALIG_EIO : ALIG_EINVAL));
        CU_ASSERT(strstr(res.error, want[what]) != NULL);
        if (!strstr(res.error, want[what])) printf("  got '%s'\n", res.error);
        CU_ASSERT(res.steps_done == (what == 2 ? 2u : 0u));
        setup_free(&t.other);
        setup_free(&s0);
    }
}

/* A reduction that pretends the other shards took the rest of the batch: its sample count is
 * N = n_r / w (the count is what the loop checks); the gradient stays this shard's. */
static alig_status alone_reduce(void *ctx, float *g, size_t n, float *buf, size_t nbuf, double w,
                                double sums[ALIG_TRAIN_REDUCE_SUMS], char *err, size_t errlen)
{
    (void)ctx; (void)g; (void)n; (void)buf; (void)nbuf; (void)err; (void)errlen;
    sums[1] = nearbyint(sums[1] / w);
    return ALIG_SUCCESS;
}

/* Shard 1 of 2 with a run directory writes nothing there. */
static void test_rank1_writes_nothing(void)
{
    char run[300];
    snprintf(run, sizeof run, "%s/run1", dir);
    CU_ASSERT_FATAL(mkdir(run, 0777) == 0);
    setup s;
    setup_make(&s, BATCH);
    alig_train_params p = step_params();
    p.dir = run;
    p.shard_rank = 1;
    p.shard_size = 2;
    p.reduce = alone_reduce;
    alig_train_result res;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);
    CU_ASSERT(res.steps_done == STEPS);
    const char *files[] = { "config.json", "log.csv", "log.jsonl", "checkpoint.bin" };
    for (int i = 0; i < 4; i++) {
        char f[400];
        snprintf(f, sizeof f, "%s/%s", run, files[i]);
        CU_ASSERT(access(f, F_OK) != 0);
    }
    setup_free(&s);
}

/* Shard 1's loss on its slice, as it hands it to the reduction. */
static double g_local_loss;
static alig_status record_reduce(void *ctx, float *g, size_t n, float *buf, size_t nbuf, double w,
                                 double sums[ALIG_TRAIN_REDUCE_SUMS], char *err, size_t errlen)
{
    g_local_loss = sums[0] / w;
    return alone_reduce(ctx, g, n, buf, nbuf, w, sums, err, errlen);
}

static void test_dropout_streams(void)
{
    for (int drop = 0; drop < 2; drop++) {
        setup s, ref;
        setup_model(&s, 16, "wrn-10-1", drop ? 0.5 : 0.0);
        setup_model(&ref, 16, "wrn-10-1", drop ? 0.5 : 0.0);
        /* the reference: shard 1's slice [8, 16) of batch 0 with the model's own stream */
        alig_batch b;
        CU_ASSERT_FATAL(alig_task_batch(ref.task, 0, &b) == ALIG_SUCCESS && b.n == 16);
        b.start += 8;
        b.n = 8;
        double l_ref;
        CU_ASSERT_FATAL(alig_model_gradient(ref.model, &b, &l_ref, NULL) == ALIG_SUCCESS);
        uint64_t seed_ref, pos_ref, seed, pos;
        ref.model->type->get_rng(ref.model->impl, &seed_ref, &pos_ref);
        alig_train_params p = step_params();
        p.steps = 1;
        p.shard_rank = 1;
        p.shard_size = 2;
        p.reduce = record_reduce;
        alig_train_result res;
        CU_ASSERT_FATAL(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);
        s.model->type->get_rng(s.model->impl, &seed, &pos);
        CU_ASSERT(seed == seed_ref && pos == pos_ref && pos > 0);
        /* with dropout: other masks; without: nothing else differs */
        CU_ASSERT(drop ? g_local_loss != l_ref : g_local_loss == l_ref);
        if (drop) printf("\n  shard 1's slice with dropout 0.5: loss %.9f with its own masks, %.9f with shard 0's stream\n",
                         g_local_loss, l_ref);
        setup_free(&ref);
        setup_free(&s);
    }
}

static void test_refusals(void)
{
    setup s;
    setup_make(&s, BATCH);
    alig_train_result res;
    alig_train_params p = step_params();
    p.shard_size = 2;
    p.reduce = alone_reduce;
    p.shard_rank = 2;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_EINVAL);
    CU_ASSERT(strstr(res.error, "rank") != NULL);
    p.shard_rank = 0;
    p.reduce = NULL;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_EINVAL);
    CU_ASSERT(strstr(res.error, "reduce") != NULL);
    p.reduce = alone_reduce;
    p.profile = 1;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_EUNSUPPORTED);
    p.profile = 0;
    p.shard_size = 16;     /* 15 samples over 16 shards */
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_EBADBATCH);
    CU_ASSERT(strstr(res.error, "15 samples") != NULL);
    setup_free(&s);
    /* 60 training samples in batches of 13 leave a last batch of 8: 8 shards fit, 9 do not */
    setup_make(&s, 13);
    CU_ASSERT_FATAL(s.task->train.n == 60 && s.task->epoch_batches == 5);
    p.shard_size = 8;
    p.steps = 5;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);
    p.shard_size = 9;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_EBADBATCH);
    CU_ASSERT(strstr(res.error, "last batch of each epoch") != NULL);
    setup_free(&s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/alig_test_train_shard_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    if (write_idx(path("tr-img"), path("tr-lab"), 70, 1) || write_idx(path("te-img"), path("te-lab"), 20, 2)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("train_shard", NULL, NULL);
    CU_add_test(s, "shard 0 of 2 with shard 1 played in-process", test_two_shards);
    CU_add_test(s, "reduce and agree failures", test_failures);
    CU_add_test(s, "shard 1 writes no files", test_rank1_writes_nothing);
    CU_add_test(s, "shard 1's dropout stream", test_dropout_streams);
    CU_add_test(s, "refusals", test_refusals);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return failed ? 1 : 0;
}
