/* test_eps_report.c - the ε report of the training loop (include/alig/train.h) and the per-sample
 * losses under it (alig_model_sample_losses of model.h):
 *   - nearest-rank quantiles and the summary against hand-sorted vectors (ranks worked out by hand
 *     from the definition r = ⌈p·n⌉, including n = 1000 and 1001 where p·n is or is not whole);
 *   - per-sample losses of a one-hidden-layer MLP against a forward pass written here from its
 *     weights (cross-entropy, and the multi-class hinge), their mean against the model's evaluation;
 *   - evaluation mode: a WRN with dropout and batch norm gives each sample the same loss alone as
 *     in the whole set, twice in a row, and leaves the dropout stream and the buffers untouched;
 *   - through alig_train: every epoch record has q50 <= q90 <= q99 <= q99.9 <= max, the last one equals
 *     a recomputation at the final iterate (sorted here), log.csv / log.jsonl carry the columns at the
 *     end and the same values, the report changes no training result, it is NaN when off, refused in
 *     step mode, and a resume from logs without the columns pads the old rows with nan.
 * Data: a small synthetic IDX set written here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <zlib.h>

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

static alig_model *make_model(const char *name, const alig_model_opts *o, const alig_task *t, uint64_t seed)
{
    alig_model *m = NULL;
    char err[512];
    alig_status st = alig_model_alloc(&m, name, o, t, seed, err, sizeof err);
    if (st) printf("  model %s: %s\n", name, err);
    CU_ASSERT_FATAL(st == ALIG_SUCCESS);
    return m;
}

/* ------------------------------------------------------------------ quantiles */

static void test_quantiles(void)
{
    /* 10 values; sorted: 0.25 0.5 0.75 1 1.5 2 2.5 3 4 5. Ranks ⌈p·10⌉: 50 % → 5 (1.5), 90 % → 9 (4),
     * 99 % → ⌈9.9⌉ = 10 (5), 99.9 % → 10 (5); mean 20.5 / 10 */
    double v[10] = { 3.0, 0.5, 2.0, 1.0, 4.0, 0.25, 5.0, 0.75, 1.5, 2.5 };
    alig_train_eps e;
    CU_ASSERT_FATAL(alig_train_eps_summary(v, 10, &e) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(e.mean, 2.05);
    CU_ASSERT_EQUAL(e.max, 5.0);
    CU_ASSERT_EQUAL(e.q50, 1.5);
    CU_ASSERT_EQUAL(e.q90, 4.0);
    CU_ASSERT_EQUAL(e.q99, 5.0);
    CU_ASSERT_EQUAL(e.q999, 5.0);
    const double sorted[10] = { 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0 };
    CU_ASSERT(memcmp(v, sorted, sizeof sorted) == 0);           /* sorted in place */
    CU_ASSERT_EQUAL(alig_train_quantile(sorted, 10, 0), 0.25);   /* rank at least 1: the minimum */
    CU_ASSERT_EQUAL(alig_train_quantile(sorted, 10, 1000), 0.25);    /* 10 %: rank 1 */
    CU_ASSERT_EQUAL(alig_train_quantile(sorted, 10, 1001), 0.5);     /* 10.01 %: ⌈1.001⌉ = 2 */
    CU_ASSERT_EQUAL(alig_train_quantile(sorted, 10, 10000), 5.0);
    CU_ASSERT(isnan(alig_train_quantile(sorted, 10, 10001)));
    CU_ASSERT(isnan(alig_train_quantile(sorted, 0, 5000)));

    /* 1000 values 999, 998, ..., 0 (reversed): 99.9 % is rank 999 exactly (value 998), 99 % rank 990
     * (989), 90 % rank 900 (899), 50 % rank 500 (499); with 1001 values 0..1000: ranks ⌈1000.999⌉ =
     * 1000, ⌈990.99⌉ = 991, ⌈900.9⌉ = 901, ⌈500.5⌉ = 501 */
    double *w = malloc(1001 * sizeof *w);
    CU_ASSERT_FATAL(w != NULL);
    for (int i = 0; i < 1000; i++) w[i] = 999 - i;
    CU_ASSERT_FATAL(alig_train_eps_summary(w, 1000, &e) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(e.q999, 998.0);
    CU_ASSERT_EQUAL(e.q99, 989.0);
    CU_ASSERT_EQUAL(e.q90, 899.0);
    CU_ASSERT_EQUAL(e.q50, 499.0);
    CU_ASSERT_EQUAL(e.max, 999.0);
    CU_ASSERT_EQUAL(e.mean, 499.5);
    for (int i = 0; i < 1001; i++) w[i] = (i * 7919) % 1001;    /* a permutation of 0..1000 (7919 prime) */
    CU_ASSERT_FATAL(alig_train_eps_summary(w, 1001, &e) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(e.q999, 999.0);
    CU_ASSERT_EQUAL(e.q99, 990.0);
    CU_ASSERT_EQUAL(e.q90, 900.0);
    CU_ASSERT_EQUAL(e.q50, 500.0);
    CU_ASSERT_EQUAL(e.max, 1000.0);
    free(w);

    /* one value; a NaN sorts last and makes the maximum NaN */
    double one = 0.75, nan3[3] = { 2.0, NAN, 1.0 };
    CU_ASSERT_FATAL(alig_train_eps_summary(&one, 1, &e) == ALIG_SUCCESS);
    CU_ASSERT(e.q50 == 0.75 && e.q999 == 0.75 && e.max == 0.75 && e.mean == 0.75);
    CU_ASSERT_FATAL(alig_train_eps_summary(nan3, 3, &e) == ALIG_SUCCESS);
    CU_ASSERT(isnan(e.max) && isnan(e.mean) && isnan(e.q99));
    CU_ASSERT_EQUAL(e.q50, 2.0);     /* rank 2 of 1, 2, NaN */
    CU_ASSERT(nan3[0] == 1.0 && nan3[1] == 2.0 && isnan(nan3[2]));
    CU_ASSERT_EQUAL(alig_train_eps_summary(v, 0, &e), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_train_eps_summary(NULL, 3, &e), ALIG_EINVAL);
}

/* ------------------------------------------------------------------ per-sample losses by hand */

/* mlp-H on 1x6x6 inputs with 3 classes, parameters in declaration order: W1 (H×36), b1 (H), W2 (3×H),
 * b2 (3); scores s = W2 relu(W1 x + b1) + b2, in double here. */
static void mlp_scores(const float *p, int H, const float *x, double s[3])
{
    const float *W1 = p, *b1 = W1 + H * 36, *W2 = b1 + H, *b2 = W2 + 3 * H;
    double h[16];
    for (int j = 0; j < H; j++) {
        double a = b1[j];
        for (int k = 0; k < 36; k++) a += (double)W1[j * 36 + k] * x[k];
        h[j] = a > 0.0 ? a : 0.0;
    }
    for (int c = 0; c < 3; c++) {
        double a = b2[c];
        for (int j = 0; j < H; j++) a += (double)W2[c * H + j] * h[j];
        s[c] = a;
    }
}

static void test_by_hand(void)
{
    alig_task *t = make_task(16);
    const alig_image_set *tr = &t->train;
    const int H = 5;
    for (int hinge = 0; hinge < 2; hinge++) {
        alig_model_opts o = ALIG_MODEL_OPTS_DEFAULT;
        o.loss = hinge;
        o.eval_batch = 7;       /* padded last batch */
        alig_model *m = make_model("mlp-5", &o, t, 3);
        CU_ASSERT_FATAL(alig_model_n(m) == (size_t)(H * 36 + H + 3 * H + 3));
        double *l = malloc(tr->n * sizeof *l), mean, acc, emean, eacc;
        CU_ASSERT_FATAL(l != NULL);
        CU_ASSERT_FATAL(alig_model_sample_losses(m, tr, l, &mean, &acc) == ALIG_SUCCESS);
        double worst = 0.0, sum = 0.0;
        size_t ok = 0;
        for (size_t i = 0; i < tr->n; i++) {
            double s[3];
            float xi[36];       /* the sample's values, whichever form the set stores (bytes or floats) */
            for (size_t k = 0; k < 36; k++) xi[k] = alig_image_set_value(tr, i * 36 + k);
            mlp_scores(alig_model_x(m), H, xi, s);
            const int y = tr->y[i];
            int k = 0;
            for (int c = 1; c < 3; c++) k = s[c] > s[k] ? c : k;
            double want;
            if (!hinge) {
                want = s[k] + log(exp(s[0] - s[k]) + exp(s[1] - s[k]) + exp(s[2] - s[k])) - s[y];
            } else {    /* Crammer & Singer: max_j (s_j + [j != y]) - s_y */
                want = -INFINITY;
                for (int c = 0; c < 3; c++) want = fmax(want, s[c] + (c != y));
                want -= s[y];
            }
            worst = fmax(worst, fabs(l[i] - want) / fmax(1.0, fabs(want)));
            sum += l[i];
            ok += k == y;
        }
        printf("  %s: %zu samples, worst relative difference to the hand forward %.2e\n", hinge ? "hinge" : "ce",
               tr->n, worst);
        CU_ASSERT(worst < 1e-5);        /* float forward vs double here */
        CU_ASSERT_EQUAL(mean, sum / (double)tr->n);
        CU_ASSERT_EQUAL(acc, (double)ok / (double)tr->n);
        CU_ASSERT_FATAL(m->type->evaluate(m->impl, tr, &emean, &eacc) == ALIG_SUCCESS);
        CU_ASSERT_EQUAL(mean, emean);   /* same sums in the same order */
        CU_ASSERT_EQUAL(acc, eacc);
        CU_ASSERT_EQUAL(alig_model_sample_losses(m, tr, NULL, &mean, NULL), ALIG_EINVAL);
        CU_ASSERT_EQUAL(alig_model_sample_losses(NULL, tr, l, &mean, NULL), ALIG_EINVAL);
        free(l);
        alig_model_free(m);
    }
    alig_task_free(t);
}

/* ------------------------------------------------------------------ evaluation mode */

static void test_eval_mode(void)
{
    alig_task *t = make_task(16);
    alig_model_opts o = ALIG_MODEL_OPTS_DEFAULT;
    o.dropout = 0.5;
    alig_model *m = make_model("wrn-10-1", &o, t, 4);
    /* a few training steps so that the running statistics are not the initial ones */
    for (uint64_t k = 0; k < 3; k++) {
        alig_batch b;
        double loss;
        CU_ASSERT_FATAL(alig_task_batch(t, k, &b) == 0 && alig_model_gradient(m, &b, &loss, NULL) == 0);
    }
    const size_t n = t->train.n, nbuf = alig_model_nbuf(m);
    CU_ASSERT_FATAL(nbuf > 0);
    float *buf0 = malloc(nbuf * sizeof *buf0);
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    CU_ASSERT_FATAL(buf0 && a && b);
    memcpy(buf0, alig_model_buf(m), nbuf * sizeof *buf0);
    uint64_t s0, k0, s1, k1;
    m->type->get_rng(m->impl, &s0, &k0);
    CU_ASSERT_FATAL(alig_model_sample_losses(m, &t->train, a, NULL, NULL) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_model_sample_losses(m, &t->train, b, NULL, NULL) == ALIG_SUCCESS);
    CU_ASSERT(memcmp(a, b, n * sizeof *a) == 0);                       /* no dropout draw */
    m->type->get_rng(m->impl, &s1, &k1);
    CU_ASSERT(s0 == s1 && k0 == k1);                                    /* the stream did not move */
    CU_ASSERT(memcmp(buf0, alig_model_buf(m), nbuf * sizeof *buf0) == 0);   /* statistics untouched */
    /* each sample alone (a one-sample view of the set) has its loss in the whole set: batch norm
     * uses its running statistics, not the batch's (a one-sample batch would normalise to zero) */
    double worst = 0.0;
    for (size_t i = 0; i < n; i += 7) {
        alig_image_set one = t->train;
        one.n = 1;
        if (one.x) one.x += i * 36;
        if (one.u) one.u += i * 36;     /* byte sets: the same value table */
        one.y += i;
        double li;
        CU_ASSERT_FATAL(alig_model_sample_losses(m, &one, &li, NULL, NULL) == ALIG_SUCCESS);
        worst = fmax(worst, fabs(li - a[i]));
    }
    CU_ASSERT(worst <= 1e-6);
    free(buf0);
    free(a);
    free(b);
    alig_model_free(m);
    alig_task_free(t);
}

/* ------------------------------------------------------------------ through the loop */

typedef struct rows {
    alig_train_row r[8];
    int n;
} rows;

static int keep_rows(const alig_train_event *ev, void *ctx)
{
    rows *rs = ctx;
    if (ev->kind == ALIG_TRAIN_EV_ROW && rs->n < 8) rs->r[rs->n++] = *ev->row;
    return 0;
}

typedef struct setup {
    alig_task *task;
    alig_model *model;
    alig_solver *solver;
    alig_params_sgd sp;
} setup;

static void setup_make(setup *s, const char *model, double dropout)
{
    s->task = make_task(16);
    alig_model_opts o = ALIG_MODEL_OPTS_DEFAULT;
    o.dropout = dropout;
    s->model = make_model(model, &o, s->task, 5);
    s->sp = (alig_params_sgd)ALIG_PARAMS_SGD_DEFAULT;
    s->sp.lr = 0.05;
    s->sp.momentum = 0.9;
    CU_ASSERT_FATAL(alig_solver_alloc(&s->solver, alig_solver_sgd, ALIG_F32, alig_model_n(s->model), &s->sp) == 0);
    CU_ASSERT_FATAL(alig_solver_set(s->solver, alig_model_x(s->model), INFINITY) == 0);
}

static void setup_free(setup *s)
{
    alig_solver_free(s->solver);
    alig_model_free(s->model);
    alig_task_free(s->task);
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 16);
    if (b) b[fread(b, 1, (1 << 16) - 1, f)] = '\0';
    fclose(f);
    return b;
}

/* Field `col` (0-based) of line `line` (0 = header) of a CSV text, into out (at most len bytes). */
static int csv_field(const char *text, int line, int col, char *out, size_t len)
{
    const char *p = text;
    for (int i = 0; i < line && p; i++) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    if (!p || !*p) return -1;
    for (int c = 0; c < col; c++) {
        const char *q = strpbrk(p, ",\n");
        if (!q || *q == '\n') return -1;
        p = q + 1;
    }
    const size_t k = strcspn(p, ",\n");
    if (k >= len) return -1;
    memcpy(out, p, k);
    out[k] = '\0';
    return 0;
}

static const char *const eps_cols[] = { "train_eval_loss", "train_eval_acc", "eps_max", "eps_q50", "eps_q90",
                                        "eps_q99", "eps_q999", "eps_seconds" };
#define OLD_COLS 17     /* epoch,...,steps,lr */

static double row_eps(const alig_train_row *r, int i)
{
    const double v[] = { r->train_eval_loss, r->train_eval_acc, r->eps_max, r->eps_q50, r->eps_q90, r->eps_q99,
                         r->eps_q999, r->eps_seconds };
    return v[i];
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_loop(void)
{
    /* the same run with the report off (a) and on (b): same iterate, bit for bit */
    setup a, b;
    setup_make(&a, "mlp-8", 0.0);
    setup_make(&b, "mlp-8", 0.0);
    alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
    p.epochs = 3;
    alig_train_result res;
    rows ra = { .n = 0 }, rb = { .n = 0 };
    CU_ASSERT_FATAL(alig_train(a.model, a.task, a.solver, &a.sp, &p, NULL, keep_rows, &ra, &res) == ALIG_SUCCESS);
    p.eps_report = 1;
    p.dir = dir;
    CU_ASSERT_FATAL(alig_train(b.model, b.task, b.solver, &b.sp, &p, NULL, keep_rows, &rb, &res) == ALIG_SUCCESS);
    const size_t n = alig_model_n(a.model);
    CU_ASSERT(memcmp(alig_model_x(a.model), alig_model_x(b.model), n * sizeof(float)) == 0);
    CU_ASSERT_FATAL(ra.n == 3 && rb.n == 3);
    for (int e = 0; e < 3; e++) {
        for (int i = 0; i < 8; i++) CU_ASSERT(isnan(row_eps(&ra.r[e], i)));    /* off: NaN */
        const alig_train_row *r = &rb.r[e];
        CU_ASSERT(r->val_loss == ra.r[e].val_loss && r->test_acc == ra.r[e].test_acc);
        CU_ASSERT(r->eps_q50 >= 0.0 && r->eps_q50 <= r->eps_q90 && r->eps_q90 <= r->eps_q99 &&
                  r->eps_q99 <= r->eps_q999 && r->eps_q999 <= r->eps_max && isfinite(r->eps_max));
        CU_ASSERT(r->train_eval_loss <= r->eps_max && r->train_eval_acc >= 0.0 && r->train_eval_acc <= 1.0);
        CU_ASSERT(r->eps_seconds >= 0.0 && r->eps_seconds <= r->eval_seconds);
        printf("  epoch %d: train_eval_loss %.4f max %.4f q50 %.4f q90 %.4f q99 %.4f q99.9 %.4f (%.1f ms)\n", e + 1,
               r->train_eval_loss, r->eps_max, r->eps_q50, r->eps_q90, r->eps_q99, r->eps_q999, 1e3 * r->eps_seconds);
    }
    /* the last record against a recomputation at the final iterate, sorted here */
    const alig_image_set *tr = &b.task->train;
    double *l = malloc(tr->n * sizeof *l), emean, eacc;
    CU_ASSERT_FATAL(l != NULL);
    CU_ASSERT_FATAL(alig_model_sample_losses(b.model, tr, l, NULL, NULL) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(b.model->type->evaluate(b.model->impl, tr, &emean, &eacc) == ALIG_SUCCESS);
    double sum = 0.0;
    for (size_t i = 0; i < tr->n; i++) sum += l[i];
    qsort(l, tr->n, sizeof *l, cmp_double);
    const alig_train_row *last = &rb.r[2];
    CU_ASSERT_EQUAL(last->train_eval_loss, emean);
    CU_ASSERT_EQUAL(last->train_eval_acc, eacc);
    CU_ASSERT(fabs(last->train_eval_loss - sum / (double)tr->n) <= 1e-12 * sum);
    CU_ASSERT_EQUAL(last->eps_max, l[tr->n - 1]);
    /* nearest rank ⌈p·n⌉ formed here in double, checked against the integer form by its ceiling */
    const double ps[4] = { 0.5, 0.9, 0.99, 0.999 };
    const double got[4] = { last->eps_q50, last->eps_q90, last->eps_q99, last->eps_q999 };
    for (int q = 0; q < 4; q++) {
        size_t r = (size_t)ceil(ps[q] * (double)tr->n - 1e-9);
        if (r < 1) r = 1;
        CU_ASSERT_EQUAL(got[q], l[r - 1]);
    }
    free(l);
    /* log.csv: the columns after lr, the values of the records (17 significant digits round trip) */
    char *csv = slurp(path("log.csv")), *jsonl = slurp(path("log.jsonl"));
    CU_ASSERT_FATAL(csv && jsonl);
    char f[64];
    CU_ASSERT(csv_field(csv, 0, OLD_COLS - 1, f, sizeof f) == 0 && !strcmp(f, "lr"));
    for (int i = 0; i < 8; i++) {
        CU_ASSERT(csv_field(csv, 0, OLD_COLS + i, f, sizeof f) == 0 && !strcmp(f, eps_cols[i]));
        for (int e = 0; e < 3; e++)
            CU_ASSERT(csv_field(csv, e + 1, OLD_COLS + i, f, sizeof f) == 0 && strtod(f, NULL) == row_eps(&rb.r[e], i));
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", eps_cols[i]);
        const char *k = strrchr(jsonl, '{') ? strstr(strrchr(jsonl, '{'), key) : NULL;
        CU_ASSERT(k && strtod(k + strlen(key), NULL) == row_eps(&rb.r[2], i));
    }
    CU_ASSERT(csv_field(csv, 0, OLD_COLS + 8, f, sizeof f) != 0);     /* nothing after eps_seconds */
    free(csv);
    free(jsonl);
    char *cfg = slurp(path("config.json"));
    CU_ASSERT(cfg && strstr(cfg, "\"eps_report\": true"));
    free(cfg);
    setup_free(&a);
    setup_free(&b);
}

static void test_dropout_unchanged(void)
{
    /* dropout and batch norm: the report draws nothing and updates no statistic, so the run is the
     * same with it */
    setup a, b;
    setup_make(&a, "wrn-10-1", 0.3);
    setup_make(&b, "wrn-10-1", 0.3);
    alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
    p.epochs = 2;
    alig_train_result res;
    rows rb = { .n = 0 };
    CU_ASSERT_FATAL(alig_train(a.model, a.task, a.solver, &a.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);
    p.eps_report = 1;
    CU_ASSERT_FATAL(alig_train(b.model, b.task, b.solver, &b.sp, &p, NULL, keep_rows, &rb, &res) == ALIG_SUCCESS);
    CU_ASSERT(memcmp(alig_model_x(a.model), alig_model_x(b.model), alig_model_n(a.model) * sizeof(float)) == 0);
    CU_ASSERT(memcmp(alig_model_buf(a.model), alig_model_buf(b.model), alig_model_nbuf(a.model) * sizeof(float)) == 0);
    CU_ASSERT(rb.n == 2 && rb.r[1].eps_q50 <= rb.r[1].eps_max && isfinite(rb.r[1].eps_max));
    setup_free(&a);
    setup_free(&b);
}

static void test_refused_and_resumed(void)
{
    setup s;
    setup_make(&s, "mlp-8", 0.0);
    alig_train_params p = ALIG_TRAIN_PARAMS_DEFAULT;
    p.steps = 2;
    p.eps_report = 1;
    alig_train_result res;
    CU_ASSERT_EQUAL(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res), ALIG_EINVAL);
    CU_ASSERT(strstr(res.error, "epoch mode") != NULL);
    CU_ASSERT_EQUAL(res.steps_done, 0);
    setup_free(&s);

    /* a checkpoint whose logs have no ε columns (as an older build wrote them), resumed with the
     * report on: the header gains the columns, the old row gets nan, the new one numbers */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/r", dir);
    CU_ASSERT_FATAL(mkdir(sub, 0700) == 0);
    setup_make(&s, "mlp-8", 0.0);
    p = (alig_train_params)ALIG_TRAIN_PARAMS_DEFAULT;
    p.epochs = 1;
    p.dir = sub;
    CU_ASSERT_FATAL(alig_train(s.model, s.task, s.solver, &s.sp, &p, NULL, NULL, NULL, &res) == ALIG_SUCCESS);
    alig_train_checkpoint ck;
    char err[512], ckp[400];
    snprintf(ckp, sizeof ckp, "%s/checkpoint.bin", sub);
    CU_ASSERT_FATAL(alig_train_checkpoint_read(ckp, &ck, err, sizeof err) == ALIG_SUCCESS);
    /* cut every line of log.csv after its OLD_COLS-th field, and seal the checkpoint's record of
     * the log (length, zlib CRC-32) over the cut file, as an older build would have left them */
    CU_ASSERT_FATAL(ck.version == 2);
    char csvp0[400];
    snprintf(csvp0, sizeof csvp0, "%s/log.csv", sub);
    char *text = slurp(csvp0);
    CU_ASSERT_FATAL(text != NULL);
    char *out = text, *in = text, *end = text + strlen(text);
    while (in < end) {
        int fields = 1;
        const char *e = memchr(in, '\n', (size_t)(end - in));
        CU_ASSERT_FATAL(e != NULL);
        for (const char *q = in; q < e; q++) {
            if (*q == ',' && ++fields > OLD_COLS) break;
            *out++ = *q;
        }
        *out++ = '\n';
        in = (char *)e + 1;
    }
    *out = '\0';
    ck.csv_bytes = (size_t)(out - text);
    ck.csv_crc = (uint32_t)crc32(0L, (const Bytef *)text, (uInt)ck.csv_bytes);
    CU_ASSERT_FATAL(strncmp(text, "epoch,", 6) == 0 && strstr(text, ",lr\n") != NULL && !strstr(text, "eps_") &&
                    !strstr(text, "train_eval"));
    FILE *fw = fopen(csvp0, "w");
    CU_ASSERT_FATAL(fw != NULL);
    CU_ASSERT_FATAL(fwrite(text, 1, ck.csv_bytes, fw) == ck.csv_bytes);
    CU_ASSERT_FATAL(fclose(fw) == 0);
    free(text);
    setup_free(&s);
    setup_make(&s, "mlp-8", 0.0);
    p.epochs = 2;
    p.eps_report = 1;
    CU_ASSERT_FATAL(alig_train(s.model, s.task, s.solver, &s.sp, &p, &ck, NULL, NULL, &res) == ALIG_SUCCESS);
    alig_train_checkpoint_free(&ck);
    char csvp[400], f[64];
    snprintf(csvp, sizeof csvp, "%s/log.csv", sub);
    char *csv = slurp(csvp);
    CU_ASSERT_FATAL(csv != NULL);
    CU_ASSERT(csv_field(csv, 0, OLD_COLS + 7, f, sizeof f) == 0 && !strcmp(f, "eps_seconds"));
    for (int i = 0; i < 8; i++) {
        CU_ASSERT(csv_field(csv, 1, OLD_COLS + i, f, sizeof f) == 0 && !strcmp(f, "nan"));
        CU_ASSERT(csv_field(csv, 2, OLD_COLS + i, f, sizeof f) == 0 && isfinite(strtod(f, NULL)));
    }
    CU_ASSERT(csv_field(csv, 1, OLD_COLS + 8, f, sizeof f) != 0);
    CU_ASSERT(csv_field(csv, 3, 0, f, sizeof f) != 0);       /* two records */
    free(csv);
    setup_free(&s);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/alig_test_eps_report_XXXXXX", tmp);
    if (!mkdtemp(dir)) return 1;
    if (write_idx(path("tr-img"), path("tr-lab"), 90, 7) || write_idx(path("te-img"), path("te-lab"), 30, 8)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("eps_report", NULL, NULL);
    CU_add_test(s, "nearest-rank quantiles and the summary against hand-sorted vectors", test_quantiles);
    CU_add_test(s, "per-sample losses of an MLP = a forward pass by hand (ce, hinge); mean = evaluate", test_by_hand);
    CU_add_test(s, "evaluation mode: no dropout draw, running BN statistics, a sample alone = in the set",
                test_eval_mode);
    CU_add_test(s, "the loop's report: ordered quantiles, = recomputation, log columns, no effect on training",
                test_loop);
    CU_add_test(s, "dropout + batch norm: the report leaves the run unchanged", test_dropout_unchanged);
    CU_add_test(s, "refused in step mode; a resume from logs without the columns pads them with nan",
                test_refused_and_resumed);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    return failed ? 1 : 0;
}
