/* cmd_train.c - `alig train`: train an image classifier (nets/nn_*.c) with any registered solver
 * of the shared core (ALIG_F32), with a seeded validation split, per-epoch evaluation, CSV and
 * JSON-lines logs, an atomic checkpoint per epoch, and --resume.
 *
 * Exactness of --resume: the checkpoint holds x, the batch-norm buffers, the dropout stream, the
 * solver state (momentum, counters) and the run's settings; the data pipeline is a pure function
 * of the settings (split and normalisation from the files, the epoch order from (seed, epoch)),
 * so continuing from epoch k repeats, bit for bit at the same thread count, what the
 * uninterrupted run did after epoch k.
 *
 * --profile turns on the autodiff profiler of the training graph (alig_ad_graph_set_profile) and
 * writes a per-op and a per-node table at the end; it changes no result and is not a setting of
 * the run (it is not stored in the checkpoint, and may be given with --resume).
 *
 * The run's settings and logs travel inside the checkpoint's user block as text:
 *   "alig-train 1\n" then "key=value\n" lines, a blank line, then the CSV log bytes followed
 *   by the JSON-lines log bytes (their lengths are the keys csv_bytes and jsonl_bytes). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/nn.h"
#include "cli.h"
#include "cli_util.h"

/* OpenBLAS's own (its cblas.h): the build's threading (0 sequential, 1 pthreads, 2 OpenMP) and
 * its thread count, which a pthreads build does not take from OpenMP. */
int openblas_get_parallel(void);
void openblas_set_num_threads(int num_threads);

#define CMD "train"
#define PATH_LEN 1024

/* ================================================================ settings */

typedef struct train_cfg {
    char data[PATH_LEN];            /* "fashion-mnist", a directory, or "" with the four IDX files */
    char train_images[PATH_LEN], train_labels[PATH_LEN], test_images[PATH_LEN], test_labels[PATH_LEN];
    char model[64];
    char opt[32];                   /* as given ("alig", "alig-inf", "sgd", ...) */
    double dropout;
    size_t classes;                 /* --classes K: labels must be < K; 0 = max label + 1 */
    size_t batch, eval_batch, val, train_subset, test_subset, max_batches, epochs;
    size_t threads;                 /* --threads of the run, 0 = the OpenMP default (resume reuses it) */
    unsigned long seed, val_seed;
    /* progress */
    size_t epochs_done;
    unsigned long long steps_done;
} train_cfg;

static void cfg_defaults(train_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data, sizeof c->data, "fashion-mnist");
    c->batch = 128;
    c->eval_batch = 256;
    c->val = 5000;
    c->val_seed = 1234;
}

/* ---------------------------------------------------------------- growing text */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *s, const char *src, size_t len)
{
    if (s->failed) return;
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + len + 1) cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) { s->failed = 1; return; }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, src, len);
    s->len += len;
    s->p[s->len] = '\0';
}

static void sb_printf(sbuf *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) { s->failed = 1; return; }
    if ((size_t)k < sizeof tmp) { sb_add(s, tmp, (size_t)k); return; }
    char *big = malloc((size_t)k + 1);
    if (!big) { s->failed = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sb_add(s, big, (size_t)k);
    free(big);
}

static void sb_free(sbuf *s)
{
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* A number for CSV ("%.17g", nan, inf) or JSON (null when not finite). */
static void sb_num(sbuf *s, double v, int json)
{
    if (isfinite(v)) sb_printf(s, "%.17g", v);
    else if (json) sb_printf(s, "null");
    else sb_printf(s, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

/* ---------------------------------------------------------------- settings <-> text */

static void cfg_write(sbuf *s, const train_cfg *c, size_t csv_bytes, size_t jsonl_bytes)
{
    sb_printf(s, "alig-train 1\n");
    sb_printf(s, "data=%s\ntrain_images=%s\ntrain_labels=%s\ntest_images=%s\ntest_labels=%s\n", c->data,
              c->train_images, c->train_labels, c->test_images, c->test_labels);
    sb_printf(s, "model=%s\nopt=%s\ndropout=%.17g\n", c->model, c->opt, c->dropout);
    sb_printf(s, "classes=%zu\n", c->classes);
    sb_printf(s, "batch=%zu\neval_batch=%zu\nval=%zu\ntrain_subset=%zu\ntest_subset=%zu\nmax_batches=%zu\n", c->batch,
              c->eval_batch, c->val, c->train_subset, c->test_subset, c->max_batches);
    sb_printf(s, "epochs=%zu\nseed=%lu\nval_seed=%lu\nthreads=%zu\nepochs_done=%zu\nsteps_done=%llu\n", c->epochs,
              c->seed, c->val_seed, c->threads, c->epochs_done, c->steps_done);
    sb_printf(s, "csv_bytes=%zu\njsonl_bytes=%zu\n\n", csv_bytes, jsonl_bytes);
}

static int parse_size_text(const char *v, size_t *out)
{
    if (*v < '0' || *v > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > SIZE_MAX) return -1;
    *out = (size_t)x;
    return 0;
}

static int set_str(char *dst, size_t cap, const char *v)
{
    size_t len = strlen(v);
    if (len >= cap) return -1;
    memcpy(dst, v, len + 1);
    return 0;
}

/* Parse a user block into cfg and the two logs. Returns 0, or −1 if malformed. */
static int cfg_read(const char *blk, size_t len, train_cfg *c, sbuf *csv, sbuf *jsonl)
{
    cfg_defaults(c);
    const char *end = blk + len, *p = blk;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || (size_t)(nl - p) != strlen("alig-train 1") || memcmp(p, "alig-train 1", (size_t)(nl - p))) return -1;
    p = nl + 1;
    size_t csv_bytes = SIZE_MAX, jsonl_bytes = SIZE_MAX;
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return -1;
        if (nl == p) { p++; break; }   /* blank line: end of the settings */
        char line[PATH_LEN + 64];
        if ((size_t)(nl - p) >= sizeof line) return -1;
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        char *eq = strchr(line, '=');
        if (!eq) return -1;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        size_t z = 0;
        int bad = 0;
        if (!strcmp(k, "data")) bad = set_str(c->data, sizeof c->data, v);
        else if (!strcmp(k, "train_images")) bad = set_str(c->train_images, PATH_LEN, v);
        else if (!strcmp(k, "train_labels")) bad = set_str(c->train_labels, PATH_LEN, v);
        else if (!strcmp(k, "test_images")) bad = set_str(c->test_images, PATH_LEN, v);
        else if (!strcmp(k, "test_labels")) bad = set_str(c->test_labels, PATH_LEN, v);
        else if (!strcmp(k, "model")) bad = set_str(c->model, sizeof c->model, v);
        else if (!strcmp(k, "opt")) bad = set_str(c->opt, sizeof c->opt, v);
        else if (!strcmp(k, "dropout")) {
            char *e;
            c->dropout = strtod(v, &e);
            bad = *v == '\0' || *e != '\0';
        } else {
            bad = parse_size_text(v, &z);
            if (!strcmp(k, "batch")) c->batch = z;
            else if (!strcmp(k, "classes")) c->classes = z;
            else if (!strcmp(k, "eval_batch")) c->eval_batch = z;
            else if (!strcmp(k, "val")) c->val = z;
            else if (!strcmp(k, "train_subset")) c->train_subset = z;
            else if (!strcmp(k, "test_subset")) c->test_subset = z;
            else if (!strcmp(k, "max_batches")) c->max_batches = z;
            else if (!strcmp(k, "epochs")) c->epochs = z;
            else if (!strcmp(k, "threads")) c->threads = z;
            else if (!strcmp(k, "seed")) c->seed = (unsigned long)z;
            else if (!strcmp(k, "val_seed")) c->val_seed = (unsigned long)z;
            else if (!strcmp(k, "epochs_done")) c->epochs_done = z;
            else if (!strcmp(k, "steps_done")) c->steps_done = z;
            else if (!strcmp(k, "csv_bytes")) csv_bytes = z;
            else if (!strcmp(k, "jsonl_bytes")) jsonl_bytes = z;
            /* unknown keys are ignored: a later version may add some */
        }
        if (bad) return -1;
    }
    const size_t rest = (size_t)(end - p);   /* compare without forming csv_bytes + jsonl_bytes (it may wrap) */
    if (csv_bytes > rest || jsonl_bytes != rest - csv_bytes) return -1;
    sb_add(csv, p, csv_bytes);
    sb_add(jsonl, p + csv_bytes, jsonl_bytes);
    return csv->failed || jsonl->failed ? -1 : 0;
}

/* ================================================================ help */

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig train --model NAME --opt NAME [solver flags] --epochs N --out DIR [options]\n"
            "       alig train --resume DIR [--epochs N] [--threads T] [--quiet]\n\n"
            "Trains an image classifier on Fashion-MNIST (or any pair of IDX files) with one solver of the shared\n"
            "core, evaluating on a seeded validation split and the test set after every epoch. DIR receives\n"
            "log.csv and log.jsonl (one record per epoch) and checkpoint.bin (rewritten atomically after every\n"
            "epoch). A non-finite loss or gradient stops the run (exit 1), leaving the last checkpoint intact.\n"
            "Exit status: 0 success, 1 runtime failure, 2 usage error.\n\n"
            "data:\n"
            "  --data NAME|DIR       fashion-mnist (%s) or a directory holding the four\n"
            "                        Fashion-MNIST file names [fashion-mnist]\n"
            "  --train-images F --train-labels F --test-images F --test-labels F\n"
            "                        IDX files (plain or gzip) instead of --data\n"
            "  --classes K           IDX files: labels must be < K (a larger one is an error naming the file)\n"
            "                        [the largest label + 1, printed at the start]\n"
            "  --val N               validation samples split off the training files, N >= 1 [5000]\n"
            "  --val-seed S          seed of that split [1234]\n"
            "  --train-subset N      train on the first N samples of the training split [all]\n"
            "  --test-subset N       evaluate on the first N test samples [all]\n"
            "  Inputs are standardised per channel with the training split's mean and standard deviation.\n\n"
            "model:\n"
            "  --model NAME          mlp (= mlp-256-128), mlp-H1-H2-..., cnn (the PyTorch peer's), wrn-D-K\n"
            "                        (pre-activation wide resnet, e.g. wrn-16-2) (required)\n"
            "  --dropout P           dropout inside WRN blocks, 0 <= P < 1 [0]\n\n"
            "training:\n"
            "  --opt NAME            solver, one of those below (required; --solver is a synonym)\n"
            "  --radius R            L2-ball constraint ||x|| <= R on all parameters, R > 0 or inf [inf]\n"
            "  --epochs N            total number of epochs N >= 1 (required; with --resume: a new total)\n"
            "  --batch B             mini-batch size [128]; a short last batch is kept\n"
            "  --eval-batch B        evaluation batch size (memory / speed only) [256]\n"
            "  --seed S              initialisation, epoch order and dropout seed [0]\n"
            "  --max-batches K       at most K mini-batches per epoch (tests, benchmarks) [all]\n"
            "  --threads T           OpenMP and OpenBLAS threads [OMP_NUM_THREADS or all];\n"
            "                        --resume keeps the run's value unless given\n\n"
            "output:\n"
            "  --out DIR             run directory, created if needed; must not hold a checkpoint (required)\n"
            "  --resume DIR          continue the run in DIR from its checkpoint, exactly\n"
            "  --quiet               no per-epoch line on stdout (the progress line appears only on a terminal)\n"
            "  --profile             time every op of the training graph: DIR/profile.csv (ms per batch for each\n"
            "                        op kind and the gradient zeroing, sorted), DIR/profile_nodes.csv (per node),\n"
            "                        and the table on stderr unless --quiet; the first batch is left out as\n"
            "                        warm-up when there are others; short last batches are not profiled\n"
            "  --inject-nan-at K     testing: treat the loss of step K (1-based, counted over the run) as NaN\n\n"
            "log records (log.csv columns, log.jsonl keys): epoch, train_loss, train_acc (running means over the\n"
            "epoch's mini-batches, before each step), val_loss, val_acc, test_loss, test_acc (evaluation mode),\n"
            "step_mean, step_unclipped_mean, clipped_frac (solver step sizes; clipped = step < unclipped),\n"
            "seconds (training + evaluation), train_seconds, eval_seconds, images, images_per_s (training\n"
            "images per second of training time), steps (solver steps so far).\n\n"
            "solvers and their flags [defaults]. Here sps's --batches-per-epoch defaults to the epoch's batch count,\n"
            "and sgd's --milestones are epochs: with --schedule multistep the learning rate is multiplied by --factor\n"
            "after the m-th epoch (counted from 1) for each listed m (e.g. --milestones 60,120,160 --factor 0.2;\n"
            "--reset-momentum 1 for the WRN reference code's fresh momentum buffer at each drop):\n",
            ALIG_FMNIST_DEFAULT_DIR);
    cli_solvers_help(f);
}

/* ================================================================ flags */

static const char *const train_flags[] = { "data", "train-images", "train-labels", "test-images", "test-labels",
                                           "val", "val-seed", "classes", "train-subset", "test-subset", "model",
                                           "dropout", "opt", "radius", "epochs", "batch", "eval-batch", "seed", "max-batches",
                                           "threads", "out", "resume", "inject-nan-at", NULL };

/* Flags that may accompany --resume. */
static const char *const resume_flags[] = { "resume", "epochs", "threads", "quiet", "profile", "inject-nan-at", NULL };

static int in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

/* A solver parameter whose flag would shadow one of ours is a programming error. */
static int check_flag_collisions(void)
{
    for (size_t i = 0; alig_solver_types[i]; i++) {
        const alig_solver_type *t = alig_solver_types[i];
        for (size_t j = 0; j < t->n_params_desc; j++) {
            char buf[64];
            const char *name = cli_solver_flag(t, &t->params_desc[j], buf, sizeof buf);
            if (in_list(train_flags, name) || !strcmp(name, "quiet") || !strcmp(name, "profile"))
                return cli_fail(CMD, CLI_RUNTIME, "internal error: solver %s's flag --%s collides with a train flag",
                                t->name, name);
        }
    }
    return CLI_OK;
}

static int get_path(const cli_flags *fl, const char *flag, char *dst)
{
    const char *v = cli_get(fl, flag);
    if (!v) return CLI_OK;
    if (!*v || strchr(v, '\n')) return cli_fail(CMD, CLI_USAGE, "--%s: bad path '%s'", flag, v);
    if (set_str(dst, PATH_LEN, v)) return cli_fail(CMD, CLI_USAGE, "--%s: path longer than %d bytes", flag, PATH_LEN - 1);
    return CLI_OK;
}

/* Settings of a new run from the flags. */
static int cfg_from_flags(const cli_flags *fl, train_cfg *c)
{
    int rc;
    size_t seed = 0;
    cfg_defaults(c);
    const char *files[4] = { "train-images", "train-labels", "test-images", "test-labels" };
    char *dst[4] = { c->train_images, c->train_labels, c->test_images, c->test_labels };
    int nfiles = 0;
    for (int i = 0; i < 4; i++) {
        if ((rc = get_path(fl, files[i], dst[i]))) return rc;
        nfiles += cli_get(fl, files[i]) != NULL;
    }
    if (nfiles && nfiles < 4)
        return cli_fail(CMD, CLI_USAGE, "--train-images, --train-labels, --test-images and --test-labels go together");
    if (nfiles && cli_get(fl, "data")) return cli_fail(CMD, CLI_USAGE, "--data cannot be combined with IDX file flags");
    if (nfiles) c->data[0] = '\0';
    else if ((rc = get_path(fl, "data", c->data))) return rc;

    const char *model = cli_get(fl, "model");
    if (!model) return cli_fail(CMD, CLI_USAGE, "missing --model NAME (mlp, cnn, wrn-16-2, ...)");
    if (set_str(c->model, sizeof c->model, model)) return cli_fail(CMD, CLI_USAGE, "--model: unknown model '%s'", model);
    if (!cli_get(fl, "epochs")) return cli_fail(CMD, CLI_USAGE, "missing --epochs N");
    if (!cli_get(fl, "out")) return cli_fail(CMD, CLI_USAGE, "missing --out DIR");
    if ((rc = cli_double(CMD, "dropout", cli_get(fl, "dropout"), CLI_NONNEG, &c->dropout))) return rc;
    if (!(c->dropout < 1.0)) return cli_fail(CMD, CLI_USAGE, "--dropout: %g must be < 1", c->dropout);
    if ((rc = cli_size(CMD, "epochs", cli_get(fl, "epochs"), 1, &c->epochs)) ||
        (rc = cli_size(CMD, "batch", cli_get(fl, "batch"), 1, &c->batch)) ||
        (rc = cli_size(CMD, "eval-batch", cli_get(fl, "eval-batch"), 1, &c->eval_batch)) ||
        (rc = cli_size(CMD, "val", cli_get(fl, "val"), 1, &c->val)) ||
        (rc = cli_size(CMD, "classes", cli_get(fl, "classes"), 2, &c->classes)) ||
        (rc = cli_ulong(CMD, "val-seed", cli_get(fl, "val-seed"), &c->val_seed)) ||
        (rc = cli_size(CMD, "train-subset", cli_get(fl, "train-subset"), 1, &c->train_subset)) ||
        (rc = cli_size(CMD, "test-subset", cli_get(fl, "test-subset"), 1, &c->test_subset)) ||
        (rc = cli_size(CMD, "max-batches", cli_get(fl, "max-batches"), 1, &c->max_batches)) ||
        (rc = cli_size(CMD, "seed", cli_get(fl, "seed"), 0, &seed)))
        return rc;
    if (c->classes && c->data[0])
        return cli_fail(CMD, CLI_USAGE, "--classes goes with IDX files (--train-images ...); --data %s has its own",
                        c->data);
    if (seed > ULONG_MAX) return cli_fail(CMD, CLI_USAGE, "--seed %zu: too large", seed);
    c->seed = (unsigned long)seed;
    if (c->batch > INT_MAX || c->eval_batch > INT_MAX)
        return cli_fail(CMD, CLI_USAGE, "--batch / --eval-batch: at most %d", INT_MAX);
    return CLI_OK;
}

/* ================================================================ data */

typedef struct train_data {
    alig_image_set train, val, test;
    double mean[4], std[4];
} train_data;

static void data_free(train_data *d)
{
    alig_image_set_free(&d->train);
    alig_image_set_free(&d->val);
    alig_image_set_free(&d->test);
}

/* Keep the first k samples of *set (k < n). */
static int keep_first(alig_image_set *set, size_t k)
{
    if (k >= set->n) return CLI_OK;
    size_t *idx = malloc(k * sizeof *idx);
    if (!idx) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    for (size_t i = 0; i < k; i++) idx[i] = i;
    alig_image_set sub;
    alig_status st = alig_image_set_subset(set, idx, k, &sub);
    free(idx);
    if (st) return cli_fail(CMD, CLI_RUNTIME, "subset: %s", alig_strerror(st));
    alig_image_set_free(set);
    *set = sub;
    return CLI_OK;
}

static int data_load(const train_cfg *c, train_data *d)
{
    char err[1024];
    alig_image_set all = { 0 };
    alig_status st;
    memset(d, 0, sizeof *d);
    if (c->data[0]) {
        const char *dir = strcmp(c->data, "fashion-mnist") ? c->data : NULL;
        st = alig_data_load_fashion_mnist(dir, &all, &d->test, err, sizeof err);
    } else {
        st = alig_data_load_idx(c->train_images, c->train_labels, c->classes, &all, err, sizeof err);
        if (!st) st = alig_data_load_idx(c->test_images, c->test_labels, c->classes, &d->test, err, sizeof err);
        if (!st) {
            const size_t k = all.num_classes > d->test.num_classes ? all.num_classes : d->test.num_classes;
            all.num_classes = d->test.num_classes = k;
            if (all.c != d->test.c || all.h != d->test.h || all.w != d->test.w) {
                snprintf(err, sizeof err, "training images are %zux%zux%zu, test images %zux%zux%zu", all.c, all.h,
                         all.w, d->test.c, d->test.h, d->test.w);
                st = ALIG_EFORMAT;
            }
        }
    }
    if (st) {
        alig_image_set_free(&all);
        data_free(d);
        return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    }
    if (c->val >= all.n) {
        alig_image_set_free(&all);
        data_free(d);
        return cli_fail(CMD, CLI_USAGE, "--val %zu: must be smaller than the %zu training samples", c->val, all.n);
    }
    st = alig_data_split(&all, c->val, c->val_seed, &d->train, &d->val);
    alig_image_set_free(&all);
    if (!st && d->train.c > 4) st = ALIG_EUNSUPPORTED;
    alig_image_set *others[2] = { &d->val, &d->test };
    if (!st) st = alig_data_normalise(&d->train, others, 2, d->mean, d->std);
    if (st) {
        data_free(d);
        return cli_fail(CMD, CLI_RUNTIME, "preparing the data: %s", alig_strerror(st));
    }
    int rc;
    if ((c->train_subset && (rc = keep_first(&d->train, c->train_subset))) ||
        (c->test_subset && (rc = keep_first(&d->test, c->test_subset)))) {
        data_free(d);
        return rc;
    }
    return CLI_OK;
}

/* ================================================================ output files */

static int write_text(const char *path, const sbuf *s)
{
    cli_out o;
    int rc = cli_out_open(CMD, &o, path);
    if (rc) return rc;
    if (s->len) fwrite(s->p, 1, s->len, o.f);
    return cli_out_commit(CMD, &o);
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static const char *const csv_header =
    "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,step_mean,step_unclipped_mean,clipped_frac,"
    "seconds,train_seconds,eval_seconds,images,images_per_s,steps\n";

typedef struct epoch_rec {
    size_t epoch;
    double train_loss, train_acc, val_loss, val_acc, test_loss, test_acc;
    double step_mean, step_unclipped_mean, clipped_frac;
    double seconds, train_seconds, eval_seconds;
    size_t images;
    double images_per_s;
    unsigned long long steps;
} epoch_rec;

static void rec_append(const epoch_rec *r, sbuf *csv, sbuf *jsonl)
{
    const char *keys[] = { "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "step_mean",
                           "step_unclipped_mean", "clipped_frac", "seconds", "train_seconds", "eval_seconds" };
    const double vals[] = { r->train_loss, r->train_acc, r->val_loss, r->val_acc, r->test_loss, r->test_acc,
                            r->step_mean, r->step_unclipped_mean, r->clipped_frac, r->seconds, r->train_seconds,
                            r->eval_seconds };
    if (csv->len == 0) sb_printf(csv, "%s", csv_header);
    sb_printf(csv, "%zu", r->epoch);
    sb_printf(jsonl, "{\"epoch\":%zu", r->epoch);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        sb_printf(csv, ",");
        sb_num(csv, vals[i], 0);
        sb_printf(jsonl, ",\"%s\":", keys[i]);
        sb_num(jsonl, vals[i], 1);
    }
    sb_printf(csv, ",%zu,", r->images);
    sb_num(csv, r->images_per_s, 0);
    sb_printf(csv, ",%llu\n", r->steps);
    sb_printf(jsonl, ",\"images\":%zu,\"images_per_s\":", r->images);
    sb_num(jsonl, r->images_per_s, 1);
    sb_printf(jsonl, ",\"steps\":%llu}\n", r->steps);
}

/* ================================================================ progress */

static void fmt_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0) { snprintf(buf, len, "?"); return; }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%luh%02lum", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, len, "%lum%02lus", t / 60, t % 60);
    else snprintf(buf, len, "%lus", t);
}

/* ================================================================ the command */

typedef struct run_ctx {
    train_cfg cfg;
    train_data data;
    alig_nn_net *net;
    alig_solver *solver;
    cli_solver sv;
    double radius;
    sbuf csv, jsonl;
    const char *dir;
    char *ck_path, *csv_path, *jsonl_path;
} run_ctx;

static void run_free(run_ctx *r)
{
    alig_solver_free(r->solver);
    alig_nn_net_free(r->net);
    data_free(&r->data);
    cli_solver_free(&r->sv);
    sb_free(&r->csv);
    sb_free(&r->jsonl);
    free(r->ck_path);
    free(r->csv_path);
    free(r->jsonl_path);
}

static int save_checkpoint(run_ctx *r)
{
    sbuf blk = { 0 };
    cfg_write(&blk, &r->cfg, r->csv.len, r->jsonl.len);
    sb_add(&blk, r->csv.p ? r->csv.p : "", r->csv.len);
    sb_add(&blk, r->jsonl.p ? r->jsonl.p : "", r->jsonl.len);
    if (blk.failed) {
        sb_free(&blk);
        return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    char err[1200];
    alig_status st = alig_nn_checkpoint_save(r->ck_path, r->net, r->solver, r->sv.params, blk.p, blk.len, err, sizeof err);
    sb_free(&blk);
    if (st) return cli_fail(CMD, CLI_RUNTIME, "checkpoint: %s", err[0] ? err : alig_strerror(st));
    return CLI_OK;
}

static int make_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) return cli_fail(CMD, CLI_USAGE, "--out %s: not a directory", dir);
        return CLI_OK;
    }
    if (mkdir(dir, 0777) != 0) return cli_fail(CMD, CLI_RUNTIME, "cannot create directory '%s': %s", dir, strerror(errno));
    return CLI_OK;
}

/* ================================================================ --profile */

/* One row of profile.csv: an op kind (leaves run no code and are left out) or the zeroing. */
typedef struct prof_row {
    const char *op;
    size_t nodes;
    double fwd, bwd;            /* ms per batch */
} prof_row;

static int prof_row_cmp(const void *pa, const void *pb)
{
    const prof_row *a = pa, *b = pb;
    const double ta = a->fwd + a->bwd, tb = b->fwd + b->bwd;
    if (ta != tb) return ta > tb ? -1 : 1;
    return strcmp(a->op, b->op);
}

/* The profiled state of a run. */
typedef struct prof_state {
    alig_ad_graph *G;           /* the net's training graph (batch B) */
    int skip_warmup;            /* 1 until the first full batch has run, if it is to be left out */
    int warmup_excluded;
    double step_seconds;        /* wall time of the profiled batches: gradient + solver step */
} prof_state;

static int write_profile_nodes(const char *path, alig_ad_graph *G, double per_f, double per_b)
{
    cli_out o;
    int rc = cli_out_open(CMD, &o, path);
    if (rc) return rc;
    fputs("node,op,shape,forward_ms_per_batch,backward_ms_per_batch\n", o.f);
    for (int i = 0; i < alig_ad_graph_size(G); i++) {
        const alig_ad_node *nd = alig_ad_graph_node(G, i);
        double tf = 0.0, tb = 0.0;
        alig_ad_graph_profile(G, i, &tf, &tb);
        fprintf(o.f, "%d,%s,", i, alig_ad_op_name(nd->op));
        for (int d = 0; d < nd->ndim; d++) fprintf(o.f, d ? "x%d" : "%d", nd->dims[d]);
        fputc(',', o.f);
        cli_csv_num(o.f, tf * per_f);
        fputc(',', o.f);
        cli_csv_num(o.f, tb * per_b);
        fputc('\n', o.f);
    }
    return cli_out_commit(CMD, &o);
}

/* Write DIR/profile.csv and DIR/profile_nodes.csv, and print the table on stderr unless quiet. */
static int profile_report(const run_ctx *r, const prof_state *ps, int quiet)
{
    alig_ad_graph *G = ps->G;
    long nf = 0, nb = 0;
    double tz = 0.0;
    alig_ad_graph_profile_totals(G, &nf, &nb, &tz);
    if (nf <= 0 || nb <= 0) {   /* cannot happen after a successful run; say so rather than divide by 0 */
        if (!quiet) fprintf(stderr, "profile: no full batch was profiled: nothing written\n");
        return CLI_OK;
    }
    const double per_f = 1e3 / (double)nf, per_b = 1e3 / (double)nb;   /* seconds -> ms per batch */
    prof_row rows[ALIG_OP_COUNT + 1];
    size_t count[ALIG_OP_COUNT] = { 0 }, zeroed = 1;                    /* zeroed: buffers, g included */
    double tf_op[ALIG_OP_COUNT] = { 0 }, tb_op[ALIG_OP_COUNT] = { 0 };
    for (int i = 0; i < alig_ad_graph_size(G); i++) {
        const alig_ad_node *nd = alig_ad_graph_node(G, i);
        double tf = 0.0, tb = 0.0;
        alig_ad_graph_profile(G, i, &tf, &tb);
        count[nd->op]++;
        tf_op[nd->op] += tf;
        tb_op[nd->op] += tb;
        zeroed += nd->grad && nd->op != ALIG_OP_PARAM;
    }
    size_t nrows = 0;
    for (int op = 0; op < ALIG_OP_COUNT; op++) {
        if (!count[op] || op == ALIG_OP_INPUT || op == ALIG_OP_PARAM || op == ALIG_OP_BUFFER) continue;
        rows[nrows++] = (prof_row){ alig_ad_op_name((alig_op)op), count[op], tf_op[op] * per_f, tb_op[op] * per_b };
    }
    rows[nrows++] = (prof_row){ "zero_grad", zeroed, 0.0, tz * per_b };
    qsort(rows, nrows, sizeof rows[0], prof_row_cmp);
    double total = 0.0, total_f = 0.0, total_b = 0.0;
    for (size_t i = 0; i < nrows; i++) {
        total_f += rows[i].fwd;
        total_b += rows[i].bwd;
    }
    total = total_f + total_b;

    char *path = join(r->dir, "profile.csv"), *npath = join(r->dir, "profile_nodes.csv");
    int rc = CLI_OK;
    if (!path || !npath) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto out;
    }
    cli_out o;
    if ((rc = cli_out_open(CMD, &o, path))) goto out;
    fputs("op,nodes,forward_ms_per_batch,backward_ms_per_batch,total_ms_per_batch,share\n", o.f);
    for (size_t i = 0; i < nrows; i++) {
        const double t = rows[i].fwd + rows[i].bwd;
        fprintf(o.f, "%s,%zu,", rows[i].op, rows[i].nodes);
        cli_csv_num(o.f, rows[i].fwd);
        fputc(',', o.f);
        cli_csv_num(o.f, rows[i].bwd);
        fputc(',', o.f);
        cli_csv_num(o.f, t);
        fputc(',', o.f);
        cli_csv_num(o.f, total > 0.0 ? t / total : 0.0);
        fputc('\n', o.f);
    }
    if ((rc = cli_out_commit(CMD, &o)) || (rc = write_profile_nodes(npath, G, per_f, per_b))) goto out;

    if (!quiet) {
        fprintf(stderr, "profile of the training graph (batch %zu): %ld batch%s%s; ms per batch\n", r->cfg.batch, nb,
                nb == 1 ? "" : "es",
                ps->warmup_excluded ? ", the first one left out as warm-up" : " (no warm-up batch left out: only one)");
        fprintf(stderr, "  %-16s %6s %10s %10s %10s %7s\n", "op", "nodes", "forward", "backward", "total", "share");
        for (size_t i = 0; i < nrows; i++) {
            const double t = rows[i].fwd + rows[i].bwd;
            fprintf(stderr, "  %-16s %6zu %10.3f %10.3f %10.3f %6.1f%%\n", rows[i].op, rows[i].nodes, rows[i].fwd,
                    rows[i].bwd, t, total > 0.0 ? 100.0 * t / total : 0.0);
        }
        fprintf(stderr, "  %-16s %6s %10.3f %10.3f %10.3f %6.1f%%\n", "all", "", total_f, total_b, total, 100.0);
        const double step_ms = 1e3 * ps->step_seconds / (double)nb;
        fprintf(stderr, "  a training step (batch gathering, forward, backward, solver step) took %.3f ms per batch; "
                "the ops cover %.1f%%\n", step_ms, step_ms > 0.0 ? 100.0 * total / step_ms : 0.0);
        fprintf(stderr, "  written: %s, %s\n", path, npath);
    }
out:
    free(path);
    free(npath);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    int rc = check_flag_collisions();
    if (rc) return rc;
    cli_flags fl = { .cmd = CMD };
    for (size_t i = 0; train_flags[i]; i++) cli_flags_add(&fl, train_flags[i], 1);
    cli_flags_add(&fl, "quiet", 0);
    cli_flags_add(&fl, "profile", 0);
    cli_flags_add_solvers(&fl);
    rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;

    run_ctx r;
    memset(&r, 0, sizeof r);
    r.radius = INFINITY;
    const int quiet = cli_get(&fl, "quiet") != NULL;
    const int profile = cli_get(&fl, "profile") != NULL;
    const char *resume = cli_get(&fl, "resume");
    unsigned long long inject_at = 0;
    size_t threads = 0;
    if (cli_get(&fl, "inject-nan-at")) {
        size_t k = 0;
        if ((rc = cli_size(CMD, "inject-nan-at", cli_get(&fl, "inject-nan-at"), 1, &k))) return rc;
        inject_at = k;
    }
    if ((rc = cli_size(CMD, "threads", cli_get(&fl, "threads"), 1, &threads))) return rc;
    if (threads > 4096) return cli_fail(CMD, CLI_USAGE, "--threads %zu: at most 4096", threads);

    alig_nn_checkpoint ck = { 0 };
    if (resume) {
        /* ---------------------------------------------------------- settings from the checkpoint */
        for (size_t i = 0; i < fl.n; i++)
            if (fl.f[i].value && !in_list(resume_flags, fl.f[i].name))
                return cli_fail(CMD, CLI_USAGE, "--%s cannot be combined with --resume (the run's settings come from "
                                "its checkpoint)", fl.f[i].name);
        r.dir = resume;
        if (!(r.ck_path = join(r.dir, "checkpoint.bin"))) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
        char err[1200];
        alig_status st = alig_nn_checkpoint_read(r.ck_path, &ck, err, sizeof err);
        if (st) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s", err[0] ? err : alig_strerror(st));
            goto done;
        }
        if (cfg_read(ck.user, ck.user_bytes, &r.cfg, &r.csv, &r.jsonl)) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s: the run settings inside the checkpoint are malformed", r.ck_path);
            goto done;
        }
        if (cli_get(&fl, "epochs") && (rc = cli_size(CMD, "epochs", cli_get(&fl, "epochs"), 1, &r.cfg.epochs))) goto done;
        const alig_solver_type *t = alig_solver_type_find(ck.solver);
        if (!t) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: solver '%s' of the checkpoint is unknown to this build", ck.solver);
            goto done;
        }
        if (ck.params_bytes != t->params_size) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s was written by a build whose '%s' parameters have another "
                          "layout (%zu bytes, this build's %zu): it cannot be resumed here", r.ck_path, ck.solver,
                          ck.params_bytes, t->params_size);
            goto done;
        }
        r.sv.type = t;
        r.sv.name = t->name;
        if (!(r.sv.params = malloc(t->params_size))) { rc = cli_fail(CMD, CLI_RUNTIME, "out of memory"); goto done; }
        memcpy(r.sv.params, ck.params, t->params_size);
        r.radius = ck.radius;
    } else {
        /* ---------------------------------------------------------- settings from the flags */
        if ((rc = cfg_from_flags(&fl, &r.cfg))) return rc;
        const char *opt = cli_get(&fl, "opt"), *solver = cli_get(&fl, "solver");
        if (opt && solver) return cli_fail(CMD, CLI_USAGE, "--opt and --solver are synonyms: give one");
        if (!opt && !solver) return cli_fail(CMD, CLI_USAGE, "missing --opt NAME (see 'alig train --help')");
        if (opt)
            for (size_t i = 0; i < fl.n; i++)
                if (!strcmp(fl.f[i].name, "solver")) fl.f[i].value = opt;
        if ((rc = cli_double(CMD, "radius", cli_get(&fl, "radius"), CLI_POSITIVE_INF, &r.radius))) return rc;
        if ((rc = cli_solver_make(&fl, &r.sv))) return rc;
        if (set_str(r.cfg.opt, sizeof r.cfg.opt, r.sv.name)) {
            rc = cli_fail(CMD, CLI_USAGE, "--opt: unknown solver '%s'", r.sv.name);
            goto done;
        }
        /* model name check before the data are loaded (Fashion-MNIST's input size here) */
        alig_nn_spec probe;
        alig_status pst = alig_nn_spec_parse(&probe, r.cfg.model, 1, 28, 28, 10, r.cfg.dropout);
        if (pst == ALIG_EINVAL) {
            rc = cli_fail(CMD, CLI_USAGE, "--model: unknown model '%s'%s", r.cfg.model,
                          r.cfg.dropout > 0 && strncmp(r.cfg.model, "wrn-", 4) ? " (--dropout needs a wrn model)"
                                                                                : " (mlp, mlp-H1-H2-..., cnn, wrn-D-K)");
            goto done;
        }
        if (pst == ALIG_EBADLEN) {   /* every model fits 1x28x28: the sizes in the name are wrong */
            rc = cli_fail(CMD, CLI_USAGE, "--model %s: sizes out of range (wrn-D-K needs D = 6m + 4 >= 10, "
                          "1 <= K <= 64; mlp widths >= 1, at most %d layers)", r.cfg.model, ALIG_NN_MAX_HIDDEN);
            goto done;
        }
        r.dir = cli_get(&fl, "out");
        if ((rc = make_dir(r.dir))) goto done;
        if (!(r.ck_path = join(r.dir, "checkpoint.bin"))) { rc = cli_fail(CMD, CLI_RUNTIME, "out of memory"); goto done; }
        struct stat sb;
        if (stat(r.ck_path, &sb) == 0) {
            rc = cli_fail(CMD, CLI_USAGE, "--out %s already holds a run (checkpoint.bin): use --resume %s or another "
                          "directory", r.dir, r.dir);
            goto done;
        }
    }
    if (!(r.csv_path = join(r.dir, "log.csv")) || !(r.jsonl_path = join(r.dir, "log.jsonl"))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    if (threads) r.cfg.threads = threads;     /* resume: a new --threads replaces the run's */
    threads = r.cfg.threads;
    if (threads) openblas_set_num_threads((int)threads);
#ifdef _OPENMP
    if (threads) omp_set_num_threads((int)threads);
    const int nthreads = omp_get_max_threads();
#else
    const int nthreads = 1;
#endif

    /* ---------------------------------------------------------- data, net, solver */
    train_cfg *c = &r.cfg;
    if ((rc = data_load(c, &r.data))) goto done;
    const alig_image_set *tr = &r.data.train;
    if (c->batch > tr->n) {
        rc = cli_fail(CMD, CLI_USAGE, "--batch %zu exceeds the %zu training samples", c->batch, tr->n);
        goto done;
    }
    alig_nn_spec spec;
    alig_status st = alig_nn_spec_parse(&spec, c->model, (int)tr->c, (int)tr->h, (int)tr->w, (int)tr->num_classes,
                                        c->dropout);
    if (st) {
        rc = cli_fail(CMD, CLI_USAGE, "--model %s: does not fit %zux%zux%zu inputs with %zu classes (%s)", c->model,
                      tr->c, tr->h, tr->w, tr->num_classes, alig_strerror(st));
        goto done;
    }
    char err[256];
    if ((st = alig_nn_net_alloc(&r.net, &spec, (int)c->batch, (int)c->eval_batch, c->seed, err, sizeof err))) {
        rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "--model %s: %s", c->model, err);
        goto done;
    }
    size_t batches = (tr->n + c->batch - 1) / c->batch;
    if (c->max_batches && c->max_batches < batches) batches = c->max_batches;
    if (!resume && !strcmp(r.sv.type->name, "sps") && !cli_solver_given(&r.sv, "batches-per-epoch")) {
        char txt[32];
        snprintf(txt, sizeof txt, "%zu", batches);
        alig_params_set(r.sv.type, r.sv.params, "batches-per-epoch", txt);
    }
    /* A solver's milestones are epochs here (spec/baselines.md §7): milestone m, counted in epochs
     * from 1, drops the rate after the m-th epoch, i.e. at step m × batches per epoch, which is what
     * the solver counts. A product within rounding of a whole step is that step (2.2 × 45 is
     * 99.00000000000001 in double, which would drop the rate one step late). On --resume the
     * stored parameters already hold the steps. */
    for (size_t j = 0; !resume && j < r.sv.type->n_params_desc; j++) {
        const alig_param_desc *pd = &r.sv.type->params_desc[j];
        if (pd->kind != ALIG_PARAM_LIST || strcmp(pd->name, "milestones")) continue;
        alig_double_list *ms = (alig_double_list *)((char *)r.sv.params + pd->offset);
        for (size_t i = 0; i < ms->n; i++) {
            const double v = ms->v[i] * (double)batches, w = nearbyint(v);
            ms->v[i] = fabs(v - w) <= 1e-9 * fmax(1.0, v) ? w : v;
        }
    }
    if (spec.kind == ALIG_NN_WRN && batches * c->batch >= tr->n && tr->n % c->batch == 1) {
        rc = cli_fail(CMD, CLI_USAGE, "--batch %zu: the last batch of each epoch would hold 1 of the %zu samples, which "
                      "batch norm cannot train on; choose another --batch or --train-subset", c->batch, tr->n);
        goto done;
    }
    const size_t n = alig_nn_net_n(r.net);
    if ((st = alig_solver_alloc(&r.solver, r.sv.type, ALIG_F32, n, r.sv.params)) ||
        (st = alig_solver_set(r.solver, alig_nn_net_x(r.net), r.radius))) {
        rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "--opt %s: %s", r.sv.name, alig_strerror(st));
        goto done;
    }
    if (resume) {
        if ((st = alig_nn_checkpoint_restore(&ck, r.net, r.solver))) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s does not match the model or solver it names (%s)", r.ck_path,
                          alig_strerror(st));
            goto done;
        }
        alig_nn_checkpoint_free(&ck);
    }
    if (c->epochs_done >= c->epochs) {
        if (!quiet) printf("run in %s already has %zu of %zu epochs: nothing to do\n", r.dir, c->epochs_done, c->epochs);
        rc = CLI_OK;
        goto done;
    }
    if (!quiet) {
        char sname[64];
        printf("model=%s params=%zu opt=%s radius=%g threads=%d blas=%s train=%zu val=%zu test=%zu batch=%zu "
               "classes=%zu batches/epoch=%zu epochs=%zu%s seed=%lu mean=%.4f std=%.4f out=%s\n",
               alig_nn_spec_name(&spec, sname, sizeof sname), n, c->opt, r.radius, nthreads,
               openblas_get_parallel() == 2 ? "openmp" : openblas_get_parallel() == 1 ? "pthreads" : "sequential",
               tr->n, r.data.val.n, r.data.test.n, c->batch, tr->num_classes, batches, c->epochs,
               resume ? " (resumed)" : "", c->seed, r.data.mean[0], r.data.std[0], r.dir);
        fflush(stdout);
    }

    /* ---------------------------------------------------------- profiler */
    prof_state prof = { 0 };
    if (profile) {
        /* only full batches run the training graph; leave the first one out as warm-up (first-touch
         * page faults, OpenMP thread start) when another one follows */
        const size_t full = batches - (batches * c->batch > tr->n ? 1 : 0);
        prof.G = alig_nn_net_train_graph(r.net, NULL, NULL, NULL, NULL);
        prof.warmup_excluded = prof.skip_warmup = (c->epochs - c->epochs_done) * full >= 2;
        if ((st = alig_ad_graph_set_profile(prof.G, 1))) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--profile: %s", alig_strerror(st));
            goto done;
        }
    }

    /* ---------------------------------------------------------- epochs */
    size_t *perm = malloc(tr->n * sizeof *perm);
    if (!perm) { rc = cli_fail(CMD, CLI_RUNTIME, "out of memory"); goto done; }
    const int tty = isatty(fileno(stderr));
    double last_eval = NAN;
    for (size_t epoch = c->epochs_done; epoch < c->epochs; epoch++) {
        if ((st = alig_data_shuffle_indices(tr->n, c->seed, (unsigned long)epoch, perm))) {
            rc = cli_fail(CMD, CLI_RUNTIME, "shuffle: %s", alig_strerror(st));
            break;
        }
        double loss_sum = 0.0, step_sum = 0.0, stepu_sum = 0.0, t_print = 0.0;
        size_t seen = 0, correct = 0, clipped = 0, steps = 0;
        const double t0 = cli_now();
        for (size_t bi = 0; bi < batches; bi++) {
            const size_t start = bi * c->batch, b = tr->n - start < c->batch ? tr->n - start : c->batch;
            double loss;
            size_t ok;
            const double t_batch = profile ? cli_now() : 0.0;
            if ((st = alig_nn_net_gradient(r.net, tr, perm, start, b, &loss, &ok))) {
                rc = cli_fail(CMD, CLI_RUNTIME, "epoch %zu batch %zu: %s", epoch + 1, bi + 1, alig_strerror(st));
                goto epochs_done;
            }
            const unsigned long long step_no = c->steps_done + 1;
            if (inject_at && step_no == inject_at) loss = NAN;
            if (!isfinite(loss)) st = ALIG_ENONFINITE;
            else st = alig_solver_step(r.solver, loss, alig_nn_net_g(r.net));
            if (st == ALIG_ENONFINITE) {
                if (tty) fputc('\n', stderr);
                char where[64];
                if (c->epochs_done) snprintf(where, sizeof where, " (epoch %zu) left intact", c->epochs_done);
                else snprintf(where, sizeof where, "none written yet");
                rc = cli_fail(CMD, CLI_RUNTIME,
                              "non-finite %s at epoch %zu, batch %zu (step %llu, loss %s); stopped; last checkpoint %s%s",
                              isfinite(loss) ? "gradient or iterate" : "loss", epoch + 1, bi + 1, step_no,
                              isnan(loss) ? "nan" : isinf(loss) ? (loss > 0 ? "inf" : "-inf") : "finite",
                              c->epochs_done ? r.ck_path : "", where);
                goto epochs_done;
            }
            if (st) {
                rc = cli_fail(CMD, CLI_RUNTIME, "solver step: %s", alig_strerror(st));
                goto epochs_done;
            }
            if (profile && b == c->batch) {       /* a batch of the training graph */
                if (prof.skip_warmup) {
                    prof.skip_warmup = 0;
                    if ((st = alig_ad_graph_set_profile(prof.G, 1))) {   /* reset */
                        rc = cli_fail(CMD, CLI_RUNTIME, "--profile: %s", alig_strerror(st));
                        goto epochs_done;
                    }
                } else {
                    prof.step_seconds += cli_now() - t_batch;
                }
            }
            c->steps_done = step_no;
            loss_sum += loss * (double)b;
            seen += b;
            correct += ok;
            steps++;
            const double g = alig_solver_step_size(r.solver), gu = alig_solver_step_size_unclipped(r.solver);
            step_sum += g;
            stepu_sum += gu;
            clipped += g < gu;
            if (tty) {
                const double now = cli_now();
                if (now - t_print >= 0.25 || bi + 1 == batches) {
                    t_print = now;
                    const double ips = (double)seen / (now - t0);
                    const double left_imgs = (double)(batches - bi - 1) * (double)c->batch +
                                             (double)(c->epochs - epoch - 1) * (double)batches * (double)c->batch;
                    const double evals = isfinite(last_eval) ? last_eval : 0.0;
                    char eta[32];
                    fmt_duration(left_imgs / ips + evals * (double)(c->epochs - epoch), eta, sizeof eta);
                    fprintf(stderr, "\repoch %zu/%zu batch %zu/%zu loss %.4f acc %.4f γ %.4g %.0f img/s left %s\033[K",
                            epoch + 1, c->epochs, bi + 1, batches, loss_sum / (double)seen,
                            (double)correct / (double)seen, g, ips, eta);
                    fflush(stderr);
                }
            }
        }
        const double t1 = cli_now();
        if (tty) fprintf(stderr, "\r\033[Kepoch %zu/%zu evaluating...", epoch + 1, c->epochs);
        epoch_rec rec = { .epoch = epoch + 1, .train_loss = loss_sum / (double)seen,
                          .train_acc = (double)correct / (double)seen, .step_mean = step_sum / (double)steps,
                          .step_unclipped_mean = stepu_sum / (double)steps,
                          .clipped_frac = (double)clipped / (double)steps, .images = seen, .steps = c->steps_done };
        if ((st = alig_nn_net_evaluate(r.net, &r.data.val, &rec.val_loss, &rec.val_acc)) ||
            (st = alig_nn_net_evaluate(r.net, &r.data.test, &rec.test_loss, &rec.test_acc))) {
            if (tty) fputc('\n', stderr);
            rc = cli_fail(CMD, CLI_RUNTIME, "evaluation: %s", alig_strerror(st));
            break;
        }
        const double t2 = cli_now();
        if (tty) fprintf(stderr, "\r\033[K");
        last_eval = t2 - t1;
        rec.train_seconds = t1 - t0;
        rec.eval_seconds = t2 - t1;
        rec.seconds = t2 - t0;
        rec.images_per_s = (double)seen / rec.train_seconds;
        rec_append(&rec, &r.csv, &r.jsonl);
        if (r.csv.failed || r.jsonl.failed) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
            break;
        }
        c->epochs_done = epoch + 1;
        /* checkpoint first (it also carries the logs), then the log files */
        if ((rc = save_checkpoint(&r)) || (rc = write_text(r.csv_path, &r.csv)) ||
            (rc = write_text(r.jsonl_path, &r.jsonl)))
            break;
        if (!quiet) {
            printf("epoch %zu/%zu train_loss=%.4f train_acc=%.4f val_loss=%.4f val_acc=%.4f test_loss=%.4f "
                   "test_acc=%.4f step_mean=%.4g clipped=%.3f images/s=%.0f seconds=%.1f\n",
                   rec.epoch, c->epochs, rec.train_loss, rec.train_acc, rec.val_loss, rec.val_acc, rec.test_loss,
                   rec.test_acc, rec.step_mean, rec.clipped_frac, rec.images_per_s, rec.seconds);
            fflush(stdout);
        }
    }
    if (!rc && profile) rc = profile_report(&r, &prof, quiet);
epochs_done:
    free(perm);
done:
    alig_nn_checkpoint_free(&ck);
    run_free(&r);
    return rc;
}
