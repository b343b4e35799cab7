/* test_train_loop.c - the training loop of include/alig/train.h through the library:
 *   - clipping by global norm: one SGD step with clip_norm c moves x by −lr·g·c/‖g‖ (g computed
 *     separately at x0, the expected step formed in double here), and by −lr·g when ‖g‖ <= c;
 *   - the observer cancels after step 3: 3 steps done, ALIG_SUCCESS, cancelled = 1;
 *   - a NaN loss at step 5 in step mode: ALIG_ENONFINITE, the logs hold the completed window
 *     and the open one up to step 4, the checkpoint of step 3 is intact, and resuming from it
 *     reproduces the uninterrupted run's parameters bit for bit;
 *   - damaged checkpoint files are refused (CRC, truncation, magic).
 * Data: a small synthetic IDX set written here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static alig_task *make_task(size_t batch)
{
    const alig_task_image_cfg c = { .train_images = path("tr-img"), .train_labels = path("tr-lab"),
                                    .test_images = path("te-img"), .test_labels = path("te-lab"), .val = 10,
                                    .val_seed = 1, .batch = batch, .seed = 2 };
    alig_task *t = NULL;
    char err[512];
    alig_status st = alig_task_image_load(&t, &c, err, sizeof err);
    if (st) printf("  task: %s\n", err);
    CU_ASSERT_FATAL(st == ALIG_SUCCESS);
    return t;
}

typedef struct setup {
    alig_task *task;
    alig_model *model;
    alig_solver *solver;
    alig_params_sgd sp;
} setup;

static void setup_make(setup *s, const char *model, double lr)
{
    s->task = make_task(16);
    char err[512];
    CU_ASSERT_FATAL(alig_model_alloc(&s->model, model, NULL, s->task, 5, err, sizeof err) == ALIG_SUCCESS);
    s->sp = (alig_params_sgd)ALIG_PARAMS_SGD_DEFAULT;
    s->sp.lr = lr;
    CU_ASSERT_FATAL(alig_solver_alloc(&s->solver, alig_solver_sgd, ALIG_F32, alig_model_n(s->model), &s->sp) == 0);
    CU_ASSERT_FATAL(alig_solver_set(s->solver, alig_model_x(s->model), INFINITY) == 0);
}

static void setup_free(setup *s)
{
    alig_solver_free(s->solver);
    alig_model_free(s->model);
    alig_task_free(s->task);
}

static void test_clip(void)
{
    for (int big = 0; big < 2; big++) {
        setup s;
        setup_make(&s, "mlp-8", 0.1);
        const size_t n = alig_model_n(s.model);
        float *x0 = malloc(n * sizeof *x0), *g0 = malloc(n * sizeof *g0);
        memcpy(x0, alig_model_x(s.model), n * sizeof *x0);
        alig_batch b;
        double loss;
        CU_ASSERT_FATAL(alig_task_batch(s.task, 0, &b) == 0 && alig_model_gradient(s.model, &b, &loss, NULL) == 0);
        memcpy(g0, alig_model_g(s.model), n * sizeof *g0);
        double norm = 0.0;
        for (size_t i = 0; i < n; i++) norm += (double)g0[i] * g0[i];
        norm = sqrt(norm);
        CU_ASSERT_FATAL(norm > 0.0);
        const double c = big ? 10.0 * norm : 0.25 * norm;     /* clipped, or left alone */
        alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
        p.steps = 1;
        p.clip_norm = c;
        alig_train_result res;
        CU_ASSERT_FATAL(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);
        CU_ASSERT_EQUAL(res.steps_done, 1);
        const double scale = big ? 1.0 : c / norm;
        double worst = 0.0;
        for (size_t i = 0; i < n; i++) {
            const double want = (double)x0[i] - 0.1 * (double)g0[i] * scale;
            const double d = fabs((double)alig_model_x(s.model)[i] - want) / (fabs(want) + 1e-3);
            if (d > worst) worst = d;
        }
        CU_ASSERT(worst < 1e-5);
        if (worst >= 1e-5) printf("  clip %d: worst relative error %g\n", big, worst);
        free(x0);
        free(g0);
        setup_free(&s);
    }
}

static int stop_at_3(const alig_train_event *ev, void *ctx)
{
    (void)ctx;
    return ev->kind == ALIG_TRAIN_EV_STEP && ev->step == 3;
}

static void test_cancel(void)
{
    setup s;
    setup_make(&s, "mlp-8", 0.1);
    alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
    p.steps = 10;
    alig_train_result res;
    CU_ASSERT(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, stop_at_3, NULL, &res) == ALIG_SUCCESS);
    CU_ASSERT(res.cancelled == 1 && res.steps_done == 3);
    /* an endless generator cannot run in epochs; a bad clip threshold is refused */
    p.clip_norm = 0.0;
    CU_ASSERT_EQUAL(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res), ALIG_EINVAL);
    CU_ASSERT(strstr(res.error, "clip_norm") != NULL);
    setup_free(&s);
}

static long count_lines(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) return -1;
    long k = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) k += ch == '\n';
    fclose(f);
    return k;
}

static void test_nonfinite_and_resume(void)
{
    /* uninterrupted: 9 steps, windows of 2, checkpoints every 3 */
    setup a;
    setup_make(&a, "mlp-8", 0.1);
    alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
    p.steps = 9;
    p.log_every = 2;
    p.checkpoint_every = 3;
    alig_train_result res;
    CU_ASSERT_FATAL(alig_train(a.model, a.task, a.solver, &a.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);

    /* the same run with a NaN loss at step 5, writing into dir */
    setup b;
    setup_make(&b, "mlp-8", 0.1);
    p.dir = dir;
    p.inject_nan_at = 5;
    const char user[] = "settings";
    p.user = user;
    p.user_bytes = sizeof user;
    CU_ASSERT_EQUAL(alig_train(b.model, b.task, b.solver, &b.sp, &p, NULL, NULL, NULL, &res), ALIG_ENONFINITE);
    CU_ASSERT(res.nonfinite && !strcmp(res.nonfinite_what, "loss") && res.fail_step == 5 && isnan(res.fail_loss));
    CU_ASSERT_EQUAL(res.last_checkpoint_step, 3);
    /* header + windows ending at 2 and 4 (the NaN step is not in any) */
    CU_ASSERT_EQUAL(count_lines(path("log.csv")), 3);
    CU_ASSERT_EQUAL(count_lines(path("log.jsonl")), 2);
    CU_ASSERT(access(path("config.json"), F_OK) == 0);

    /* resume from the step-3 checkpoint (mid-window) to 9: the parameters of the uninterrupted run */
    alig_train_checkpoint ck;
    char err[512];
    CU_ASSERT_FATAL(alig_train_checkpoint_read(path("checkpoint.bin"), &ck, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(ck.steps_done == 3 && ck.win_steps == 1 && ck.step_mode == 1 && ck.user_bytes == sizeof user);
    CU_ASSERT(!memcmp(ck.user, user, sizeof user));
    setup c;
    setup_make(&c, "mlp-8", 0.1);
    p.inject_nan_at = 0;
    CU_ASSERT_FATAL(alig_train(c.model, c.task, c.solver, &c.sp, &p, &ck, NULL, NULL, &res) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(res.steps_done, 9);
    CU_ASSERT(!memcmp(alig_model_x(a.model), alig_model_x(c.model), alig_model_n(a.model) * sizeof(float)));
    /* header + windows at 2, 4, 6, 8 and the short last one at 9 */
    CU_ASSERT_EQUAL(count_lines(path("log.csv")), 6);
    /* a checkpoint of another run (other model) is refused, with a reason */
    setup d;
    setup_make(&d, "mlp-9", 0.1);
    CU_ASSERT_EQUAL(alig_train(d.model, d.task, d.solver, &d.sp, &p, &ck, NULL, NULL, &res), ALIG_EINVAL);
    CU_ASSERT(strstr(res.error, "another model") != NULL);
    alig_train_checkpoint_free(&ck);

    /* damaged files: flipped byte (CRC), truncation, bad magic */
    FILE *f = fopen(path("checkpoint.bin"), "rb");
    CU_ASSERT_FATAL(f != NULL);
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    rewind(f);
    unsigned char *bytes = malloc((size_t)len);
    CU_ASSERT_FATAL(fread(bytes, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    const struct { long cut, flip; const char *needle; } cases[] = {
        { len, len / 2, "CRC" }, { len - 9, -1, "CRC" }, { len, 2, "magic" }, { 10, -1, "truncated" } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = fopen(path("bad.bin"), "wb");
        if (cases[i].flip >= 0) bytes[cases[i].flip] ^= 0x40;
        fwrite(bytes, 1, (size_t)cases[i].cut, f);
        if (cases[i].flip >= 0) bytes[cases[i].flip] ^= 0x40;
        fclose(f);
        alig_train_checkpoint k2;
        CU_ASSERT_EQUAL(alig_train_checkpoint_read(path("bad.bin"), &k2, err, sizeof err), ALIG_EFORMAT);
        CU_ASSERT(strstr(err, cases[i].needle) != NULL);
        CU_ASSERT(k2.x == NULL);
    }
    free(bytes);
    setup_free(&a);
    setup_free(&b);
    setup_free(&c);
    setup_free(&d);
}

static void test_tables(void)
{
    /* model names find their row by family; a model of another kind is refused with both named */
    CU_ASSERT_PTR_EQUAL(alig_model_type_find("wrn-16-2"), alig_model_wrn);
    CU_ASSERT_PTR_EQUAL(alig_model_type_find("mlp"), alig_model_mlp);
    CU_ASSERT_PTR_EQUAL(alig_model_type_find("mlp-8-4"), alig_model_mlp);
    CU_ASSERT_PTR_EQUAL(alig_model_type_find("cnn"), alig_model_cnn);
    CU_ASSERT_PTR_EQUAL(alig_model_type_find("dnc"), alig_model_dnc);
    CU_ASSERT_PTR_EQUAL(alig_model_type_find("dnc-16-8-8-2"), alig_model_dnc);
    CU_ASSERT_PTR_NULL(alig_model_type_find("mlpx"));
    CU_ASSERT_PTR_NULL(alig_model_type_find("cnn2"));
    CU_ASSERT_PTR_NULL(alig_model_type_find(NULL));
    size_t rows = 0;
    for (size_t i = 0; alig_model_types[i]; i++) rows++;
    CU_ASSERT_EQUAL(rows, 5);   /* mlp, cnn, wrn, densenet-bc, dnc */
    alig_task *rc = NULL;
    CU_ASSERT_FATAL(alig_task_repeat_copy_alloc(&rc, NULL, 0) == ALIG_SUCCESS);
    alig_model *m = (alig_model *)rc;
    char err[512];
    CU_ASSERT_EQUAL(alig_model_alloc(&m, "mlp", NULL, rc, 0, err, sizeof err), ALIG_EUNSUPPORTED);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT(strstr(err, "image") && strstr(err, "repeat-copy"));
    CU_ASSERT_EQUAL(alig_model_alloc(&m, "resnet", NULL, rc, 0, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT(strstr(err, "unknown model 'resnet'") != NULL);
    alig_task_free(rc);

    /* the image task: batch k is batch k mod E of epoch k div E over the (seed, epoch) order,
     * whatever order the batches are asked in; the last batch of an epoch is short */
    alig_task *t = make_task(16);
    const size_t n = t->train.n, E = t->epoch_batches;
    CU_ASSERT_EQUAL(n, 110);
    CU_ASSERT_EQUAL(E, 7);
    size_t *perm = malloc(n * sizeof *perm);
    const uint64_t ks[] = { 9, 3, 13, 6, 0, 20 };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        alig_batch b;
        CU_ASSERT_FATAL(alig_task_batch(t, ks[i], &b) == ALIG_SUCCESS);
        const size_t e = (size_t)(ks[i] / E), j = (size_t)(ks[i] % E);
        CU_ASSERT_FATAL(alig_data_shuffle_indices(n, 2, (unsigned long)e, perm) == ALIG_SUCCESS);
        CU_ASSERT_EQUAL(b.start, j * 16);
        CU_ASSERT_EQUAL(b.n, j == E - 1 ? n - 96 : 16);
        CU_ASSERT(b.set == &t->train && !memcmp(b.idx + b.start, perm + j * 16, b.n * sizeof *perm));
    }
    free(perm);
    alig_task_free(t);
}

/* ---------------------------------------------------------------- a sequence model of the test's own
 * A row outside the table, on the repeat-copy task: x in R^2, loss_k = w_k·½‖x − c‖² with
 * w_k = (Σ mask of batch k)/B, g = w_k (x − c). It shows that a sequence model plugs into the
 * loop through the vtable (as the DNC row will), and gives window means, zero-gradient and clip
 * counts that a double-precision simulation here predicts. */
typedef struct toy { float x[2], g[2]; } toy;
static const double toy_c[2] = { 0.75, -1.5 };

static double batch_weight(const alig_seq_batch *b)
{
    double w = 0.0;
    for (int i = 0; i < b->T * b->B; i++) w += b->mask[i];
    return w / b->B;
}

static alig_status toy_gradient(void *impl, const alig_batch *b, double *loss, size_t *correct)
{
    toy *m = impl;
    const double w = batch_weight(b->seq);
    double l = 0.0;
    for (int i = 0; i < 2; i++) {
        const double d = (double)m->x[i] - toy_c[i];
        l += 0.5 * d * d;
        m->g[i] = (float)(w * d);
    }
    *loss = w * l;
    if (correct) *correct = 0;
    return ALIG_SUCCESS;
}
static size_t toy_n(const void *impl) { (void)impl; return 2; }
static float *toy_x(void *impl) { return ((toy *)impl)->x; }
static float *toy_g(void *impl) { return ((toy *)impl)->g; }
static int toy_describe(const void *impl, char *buf, size_t len) { (void)impl; return snprintf(buf, len, "\"name\": \"toy\""); }
static const alig_model_type toy_row = { .name = "toy", .usage = "toy", .input = ALIG_TASK_SEQUENCE,
                                         .n = toy_n, .x = toy_x, .g = toy_g, .gradient = toy_gradient,
                                         .describe = toy_describe };

typedef struct rows { alig_train_row r[16]; int n; } rows;
static int collect(const alig_train_event *ev, void *ctx)
{
    rows *rs = ctx;
    if (ev->kind == ALIG_TRAIN_EV_ROW && rs->n < 16) rs->r[rs->n++] = *ev->row;
    return 0;
}

static void test_sequence_model(void)
{
    for (int start_at_c = 0; start_at_c < 2; start_at_c++) {
        alig_task *task = NULL;
        CU_ASSERT_FATAL(alig_task_repeat_copy_alloc(&task, NULL, 4) == ALIG_SUCCESS);
        toy tm = { .x = { start_at_c ? 0.75f : 2.0f, start_at_c ? -1.5f : 1.0f } };
        alig_model m = { .type = &toy_row, .impl = &tm, .name = "toy" };
        alig_params_sgd sp = ALIG_PARAMS_SGD_DEFAULT;
        sp.lr = 0.05;
        alig_solver *s = NULL;
        CU_ASSERT_FATAL(alig_solver_alloc(&s, alig_solver_sgd, ALIG_F32, 2, &sp) == 0);
        CU_ASSERT_FATAL(alig_solver_set(s, tm.x, INFINITY) == 0);
        alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
        p.steps = 10;
        p.log_every = 4;
        p.clip_norm = 1.0;
        rows rs = { .n = 0 };
        alig_train_result res;
        CU_ASSERT_FATAL(alig_train(&m, task, s, &sp, &p, NULL, collect, &rs, &res) == ALIG_SUCCESS);
        CU_ASSERT_EQUAL(rs.n, 3);   /* windows ending at 4, 8 and a short one at 10 */
        /* the simulation, in double from the float start */
        double x[2] = { start_at_c ? 0.75 : 2.0, start_at_c ? -1.5 : 1.0 };   /* the start (tm.x is the end now) */
        alig_seq_batch b;
        CU_ASSERT_FATAL(alig_seq_batch_alloc(&b, 9, 16, 6, 5) == 0);
        const alig_repeat_copy_params rp = ALIG_REPEAT_COPY_DEFAULT;
        double sum = 0.0;
        unsigned long zero = 0, clips = 0;
        int row = 0;
        for (int k = 0; k < 10; k++) {
            alig_repeat_copy_batch(&rp, 4, (uint64_t)k, &b);
            const double w = batch_weight(&b);
            double d[2] = { x[0] - toy_c[0], x[1] - toy_c[1] };
            const double l = w * 0.5 * (d[0] * d[0] + d[1] * d[1]);
            double g[2] = { w * d[0], w * d[1] };
            const double gn = sqrt(g[0] * g[0] + g[1] * g[1]);
            zero += gn == 0.0;
            if (gn > 1.0) { g[0] /= gn; g[1] /= gn; clips++; }
            x[0] -= 0.05 * g[0];
            x[1] -= 0.05 * g[1];
            sum += l;
            if (k == 3 || k == 7 || k == 9) {
                const alig_train_row *r = &rs.r[row++];
                const double steps = k == 9 ? 2.0 : 4.0;
                CU_ASSERT_EQUAL(r->window_steps, (uint64_t)steps);
                CU_ASSERT_EQUAL(r->steps, (uint64_t)k + 1);
                CU_ASSERT(fabs(r->loss_mean - sum / steps) <= 1e-5 * (sum / steps) + 1e-12);
                CU_ASSERT_EQUAL(r->zero_grad, zero);
                CU_ASSERT_EQUAL(r->clip_events, clips);
                CU_ASSERT(fabs(r->step_mean - 0.05) < 1e-12);
                sum = 0.0;
                zero = clips = 0;
            }
        }
        if (start_at_c) {
            CU_ASSERT(rs.r[0].zero_grad == 4 && rs.r[2].zero_grad == 2 && rs.r[0].loss_mean == 0.0);
        } else {
            CU_ASSERT(rs.r[0].clip_events > 0 && rs.r[0].zero_grad == 0);   /* the test is not vacuous */
        }
        alig_seq_batch_free(&b);
        alig_solver_free(s);
        alig_task_free(task);
    }
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/alig_test_train_loop_XXXXXX", tmp);
    if (!mkdtemp(dir)) return 2;
    if (write_idx(path("tr-img"), path("tr-lab"), 120, 1) || write_idx(path("te-img"), path("te-lab"), 30, 2)) return 2;
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("train loop", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "model and task tables; the image task's batch k", test_tables);
    CU_add_test(s, "a sequence model through the vtable: window means, zero gradients, clip events", test_sequence_model);
    CU_add_test(s, "clipping by global norm: the step equals -lr g c/max(|g|, c)", test_clip);
    CU_add_test(s, "the observer cancels; bad settings refused", test_cancel);
    CU_add_test(s, "non-finite stop: logs, checkpoint intact; resume mid-window = uninterrupted; damaged files",
                test_nonfinite_and_resume);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    const char *files[] = { "tr-img", "tr-lab", "te-img", "te-lab", "log.csv", "log.jsonl", "config.json",
                            "checkpoint.bin", "bad.bin" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) remove(path(files[i]));
    rmdir(dir);
    return failed ? 1 : 0;
}
