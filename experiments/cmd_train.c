/* cmd_train.c - `alig train`: a thin driver over the training module (include/alig/train.h).
 * It parses the flags, builds the task (task.h), the model (model.h) and the solver, prints,
 * and calls alig_train; the loop, the logs, the checkpoints and config.json are the library's.
 *
 * The run's settings travel inside the checkpoint's caller block as text, so that --resume
 * rebuilds the same task, model and solver: "alig-train 2\n" then "key=value\n" lines. --resume
 * reads them as strictly as the flags (every key once, those added later possibly absent, no
 * unknown key, each value in its range) and against the checkpoint's own state; the library then
 * checks the checkpoint against the logs and config.json it continues. Failures there are the
 * data's (exit 1).
 *
 * Under mpirun (`mpirun -np K alig train ...`) the K processes share every mini-batch (data
 * parallelism, dist/dist_train.h and train.h): rank 0 prints and writes the files, every rank
 * reads the checkpoint on --resume (the run directory must be visible to all of them), and a
 * failure on one rank ends the job (MPI_Abort) rather than leave the others waiting.
 *
 * --profile turns on the autodiff profiler of the training graph through the loop's hook and
 * writes a per-op and a per-node table at the end; it changes no result and is not a setting of
 * the run (it is not stored in the checkpoint, and may be given with --resume). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/train.h"
#include "cli.h"
#include "cli_util.h"
#include "dist/dist.h"
#include "dist/dist_train.h"

/* OpenBLAS's own (its cblas.h): the build's threading (0 sequential, 1 pthreads, 2 OpenMP) and
 * its thread count, which a pthreads build does not take from OpenMP. */
int openblas_get_parallel(void);
void openblas_set_num_threads(int num_threads);

#define CMD "train"
#define PATH_LEN 1024

/* ================================================================ settings */

typedef struct train_cfg {
    char task[32];                  /* "image" or "repeat-copy" */
    char data[PATH_LEN];            /* image: "fashion-mnist", a directory, or "" with the four IDX files */
    char train_images[PATH_LEN], train_labels[PATH_LEN], test_images[PATH_LEN], test_labels[PATH_LEN];
    char model[64];
    char opt[32];                   /* as given ("alig", "alig-inf", "sgd", ...) */
    char loss[16];                  /* image models: "ce", "hinge" or "smooth-hinge" */
    double dropout;
    size_t classes;                 /* --classes K: labels must be < K; 0 = max label + 1 */
    size_t batch, eval_batch, val, train_subset, test_subset, max_batches, epochs;
    unsigned long long steps, log_every, checkpoint_every;
    double clip_norm;
    size_t threads;                 /* threads of the run (--threads, else the OpenMP default it resolved to);
                                       a resume reuses it unless given --threads */
    unsigned long seed, val_seed;
    char data_dir[PATH_LEN];        /* --data cifar10|cifar100|svhn: the directory of the files */
    int augment, coarse, no_extra;  /* --augment, --labels coarse, --svhn-extra off */
    int eps_report;                 /* --eps-report on: the ε report after every epoch */
    size_t ranks;                   /* MPI ranks sharing each batch (1: one process); a resume may change it */
} train_cfg;

static void cfg_defaults(train_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->task, sizeof c->task, "image");
    snprintf(c->data, sizeof c->data, "fashion-mnist");
    snprintf(c->loss, sizeof c->loss, "ce");
    c->batch = 128;
    c->eval_batch = 256;
    c->val = 5000;
    c->val_seed = 1234;
    c->log_every = 100;
    c->checkpoint_every = 1000;
    c->clip_norm = INFINITY;
    c->ranks = 1;
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
    char tmp[PATH_LEN + 128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) { s->failed = 1; return; }
    sb_add(s, tmp, (size_t)k);
}

static void sb_free(sbuf *s)
{
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- settings <-> text */

static void cfg_write(sbuf *s, const train_cfg *c)
{
    sb_printf(s, "alig-train 2\n");
    sb_printf(s, "task=%s\n", c->task);
    sb_printf(s, "data=%s\n", c->data);
    sb_printf(s, "train_images=%s\n", c->train_images);
    sb_printf(s, "train_labels=%s\n", c->train_labels);
    sb_printf(s, "test_images=%s\n", c->test_images);
    sb_printf(s, "test_labels=%s\n", c->test_labels);
    sb_printf(s, "model=%s\nopt=%s\ndropout=%.17g\nclip_norm=%.17g\n", c->model, c->opt, c->dropout, c->clip_norm);
    sb_printf(s, "classes=%zu\n", c->classes);
    sb_printf(s, "batch=%zu\neval_batch=%zu\nval=%zu\ntrain_subset=%zu\ntest_subset=%zu\nmax_batches=%zu\n", c->batch,
              c->eval_batch, c->val, c->train_subset, c->test_subset, c->max_batches);
    sb_printf(s, "epochs=%zu\nsteps=%llu\nlog_every=%llu\ncheckpoint_every=%llu\n", c->epochs, c->steps, c->log_every,
              c->checkpoint_every);
    sb_printf(s, "seed=%lu\nval_seed=%lu\nthreads=%zu\nranks=%zu\n", c->seed, c->val_seed, c->threads, c->ranks);
    sb_printf(s, "loss=%s\n", c->loss);
    sb_printf(s, "data_dir=%s\naugment=%d\ncoarse=%d\nno_extra=%d\n", c->data_dir, c->augment, c->coarse, c->no_extra);
    sb_printf(s, "eps_report=%d\n", c->eps_report);
}

static int set_str(char *dst, size_t cap, const char *v)
{
    size_t len = strlen(v);
    if (len >= cap) return -1;
    memcpy(dst, v, len + 1);
    return 0;
}

/* The keys of the settings block: each must appear exactly once. Kinds: 's' text, 'z' size_t,
 * 'u' unsigned long long, 'l' unsigned long, 'd' double, 'b' 0 or 1 (int); integers in [min, max]. */
#define CFG_KEY(name, kind, field, min, max) \
    { name, kind, offsetof(train_cfg, field), sizeof(((train_cfg *)0)->field), min, max }
static const struct cfg_key {
    const char *name;
    char kind;
    size_t off, size;
    unsigned long long min, max;
} cfg_keys[] = {
    CFG_KEY("task", 's', task, 0, 0),
    CFG_KEY("data", 's', data, 0, 0),
    CFG_KEY("train_images", 's', train_images, 0, 0),
    CFG_KEY("train_labels", 's', train_labels, 0, 0),
    CFG_KEY("test_images", 's', test_images, 0, 0),
    CFG_KEY("test_labels", 's', test_labels, 0, 0),
    CFG_KEY("model", 's', model, 0, 0),
    CFG_KEY("opt", 's', opt, 0, 0),
    CFG_KEY("dropout", 'd', dropout, 0, 0),
    CFG_KEY("clip_norm", 'd', clip_norm, 0, 0),
    CFG_KEY("classes", 'z', classes, 0, SIZE_MAX),
    CFG_KEY("batch", 'z', batch, 1, INT_MAX),
    CFG_KEY("eval_batch", 'z', eval_batch, 1, INT_MAX),
    CFG_KEY("val", 'z', val, 1, SIZE_MAX),
    CFG_KEY("train_subset", 'z', train_subset, 0, SIZE_MAX),
    CFG_KEY("test_subset", 'z', test_subset, 0, SIZE_MAX),
    CFG_KEY("max_batches", 'z', max_batches, 0, SIZE_MAX),
    CFG_KEY("epochs", 'z', epochs, 0, SIZE_MAX),
    CFG_KEY("steps", 'u', steps, 0, ULLONG_MAX),
    CFG_KEY("log_every", 'u', log_every, 1, ULLONG_MAX),
    CFG_KEY("checkpoint_every", 'u', checkpoint_every, 1, ULLONG_MAX),
    CFG_KEY("seed", 'l', seed, 0, ULONG_MAX),
    CFG_KEY("val_seed", 'l', val_seed, 0, ULONG_MAX),
    CFG_KEY("threads", 'z', threads, 0, CLI_MAX_THREADS),   /* 0: an older build's "not given" */
    CFG_KEY("loss", 's', loss, 0, 0),
    CFG_KEY("data_dir", 's', data_dir, 0, 0),
    CFG_KEY("augment", 'b', augment, 0, 1),
    CFG_KEY("coarse", 'b', coarse, 0, 1),
    CFG_KEY("no_extra", 'b', no_extra, 0, 1),
    CFG_KEY("ranks", 'z', ranks, 1, INT_MAX),
    CFG_KEY("eps_report", 'b', eps_report, 0, 1),
};
#define N_CFG_KEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/* A value of the block, as strictly as the command line reads a flag's: decimal digits only for
 * integers, no sign, space or hex for numbers. Returns NULL, or what is wrong. */
static const char *cfg_value(const struct cfg_key *k, const char *v, train_cfg *c, char *buf, size_t len)
{
    void *dst = (char *)c + k->off;
    if (k->kind == 's') {
        if (set_str(dst, k->size, v)) return "too long";
        return NULL;
    }
    if (k->kind == 'd') {
        char *end;
        errno = 0;
        const double d = strtod(v, &end);
        if (!*v || isspace((unsigned char)*v) || strpbrk(v, "xX") || *end || errno == ERANGE || isnan(d))
            return "not a number";
        memcpy(dst, &d, sizeof d);
        return NULL;
    }
    unsigned long long z = 0;
    char *end = NULL;
    errno = 0;
    if (*v >= '0' && *v <= '9') z = strtoull(v, &end, 10);
    if (!end || *end || errno == ERANGE || z < k->min || z > k->max) {
        snprintf(buf, len, "not an integer in [%llu, %llu]", k->min, k->max);
        return buf;
    }
    if (k->kind == 'z') *(size_t *)dst = (size_t)z;
    else if (k->kind == 'u') *(unsigned long long *)dst = z;
    else if (k->kind == 'l') *(unsigned long *)dst = (unsigned long)z;
    else *(int *)dst = (int)z;
    return NULL;
}

/* What the values mean together, as cfg_from_flags and model_probe check them on a new run.
 * Returns NULL, or the message (naming the key) in buf. */
static const char *cfg_check(const train_cfg *c, char *buf, size_t len)
{
    const int seq = !strcmp(c->task, "repeat-copy");
    const int vision = !strcmp(c->data, "cifar10") || !strcmp(c->data, "cifar100") || !strcmp(c->data, "svhn");
    const int files = c->train_images[0] && c->train_labels[0] && c->test_images[0] && c->test_labels[0];
    const int any_file = c->train_images[0] || c->train_labels[0] || c->test_images[0] || c->test_labels[0];
    int l;
#define WHY(...) do { snprintf(buf, len, __VA_ARGS__); return buf; } while (0)
    if (!seq && strcmp(c->task, "image")) WHY("key 'task': '%s' is not image or repeat-copy", c->task);
    if (!alig_model_type_find(c->model)) WHY("key 'model': unknown model '%s'", c->model);
    if (!alig_solver_type_find(c->opt) && strcmp(c->opt, "alig-inf")) WHY("key 'opt': unknown solver '%s'", c->opt);
    if (alig_nn_loss_parse(c->loss, &l) != ALIG_SUCCESS) WHY("key 'loss': unknown loss '%s'", c->loss);
    if (!(c->dropout >= 0.0 && c->dropout < 1.0)) WHY("key 'dropout': %g is not in [0, 1)", c->dropout);
    if (!(c->clip_norm > 0.0)) WHY("key 'clip_norm': %g is not > 0 (inf: no clipping)", c->clip_norm);
    if (c->classes == 1) WHY("key 'classes': 1 (0: from the labels, else at least 2)");
    if ((c->epochs == 0) == (c->steps == 0))
        WHY("keys 'epochs' and 'steps': %zu and %llu (exactly one of them is > 0)", c->epochs, c->steps);
    if (seq && (c->data[0] || any_file || c->data_dir[0]))
        WHY("key '%s': a data source for the repeat-copy task", c->data[0] ? "data" : any_file ? "train_images" : "data_dir");
    if (!seq && !c->data[0] && !files) WHY("keys 'data' and 'train_images'...: no data set and not the four IDX files");
    if (!seq && c->data[0] && any_file) WHY("keys 'data' and 'train_images'...: both a data set and IDX files");
    if (vision != (c->data_dir[0] != '\0')) WHY("key 'data_dir': '%.200s' with data '%.200s'", c->data_dir, c->data);
    if (c->coarse && strcmp(c->data, "cifar100")) WHY("key 'coarse': 1 with data '%.200s' (cifar100 only)", c->data);
#undef WHY
    return NULL;
}

static int in_list(const char *const *list, const char *name);

/* Parse a caller block into cfg. Returns 0, or -1 with the reason (naming the key) in why. */
static int cfg_read(const char *blk, size_t len, train_cfg *c, char *why, size_t whylen)
{
    cfg_defaults(c);
    const char *end = blk + len, *p = blk;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || (size_t)(nl - p) != strlen("alig-train 2") || memcmp(p, "alig-train 2", (size_t)(nl - p))) {
        snprintf(why, whylen, "the first line is not 'alig-train 2'");
        return -1;
    }
    p = nl + 1;
    int seen[N_CFG_KEYS] = { 0 };
    for (size_t lineno = 2; p < end; lineno++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            snprintf(why, whylen, "line %zu does not end", lineno);
            return -1;
        }
        char line[PATH_LEN + 64];
        if ((size_t)(nl - p) >= sizeof line || memchr(p, '\0', (size_t)(nl - p))) {
            snprintf(why, whylen, "line %zu is too long or holds a NUL byte", lineno);
            return -1;
        }
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        char *eq = strchr(line, '=');
        if (!eq) {
            snprintf(why, whylen, "line %zu is not key=value: '%.80s'", lineno, line);
            return -1;
        }
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        size_t i = 0;
        while (i < N_CFG_KEYS && strcmp(cfg_keys[i].name, k)) i++;
        if (i == N_CFG_KEYS) {
            snprintf(why, whylen, "unknown key '%.64s'", k);
            return -1;
        }
        if (seen[i]++) {
            snprintf(why, whylen, "key '%.64s' given twice", k);
            return -1;
        }
        char buf[96];
        const char *bad = cfg_value(&cfg_keys[i], v, c, buf, sizeof buf);
        if (bad) {
            snprintf(why, whylen, "key '%.64s': '%.80s' is %s", k, v, bad);
            return -1;
        }
    }
    /* keys added after the block's first version: absent in the checkpoints of older builds, whose
     * runs had their defaults (cfg_defaults: loss ce, no vision data set, one rank, no ε report) */
    static const char *const later[] = { "loss", "data_dir", "augment", "coarse", "no_extra", "ranks", "eps_report", NULL };
    for (size_t i = 0; i < N_CFG_KEYS; i++)
        if (!seen[i] && !in_list(later, cfg_keys[i].name)) {
            snprintf(why, whylen, "missing key '%s'", cfg_keys[i].name);
            return -1;
        }
    const char *bad = cfg_check(c, why, whylen);
    return bad ? -1 : 0;
}

/* ================================================================ help */

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig train --model NAME --opt NAME [solver flags] (--epochs N | --steps N) --out DIR [options]\n"
            "       alig train --resume DIR [--epochs N | --steps N] [--threads T] [--quiet] [--profile]\n"
            "       mpirun -np K alig train ...   (data parallel: each of the K ranks computes its share of every\n"
            "                                      batch; rank 0 writes; image tasks; docs/training.md)\n\n"
            "Trains a model on a task with one solver of the shared core. Image tasks (Fashion-MNIST or any pair\n"
            "of IDX files) are evaluated on a seeded validation split and the test set after every epoch; the\n"
            "repeat-copy task is an endless generator trained for --steps. DIR receives config.json (every\n"
            "setting), log.csv and log.jsonl (one line appended per record), and checkpoint.bin (rewritten\n"
            "atomically after every epoch, or every --checkpoint-every steps and at the end). A non-finite loss,\n"
            "gradient norm or iterate stops the run (exit 1), with the logs written and the last checkpoint intact;\n"
            "so does a training loss above 1e6 times the run's first record's (diverged: exploding), after its\n"
            "record and checkpoint. A run killed at any moment resumes exactly with --resume (the logs are cut back\n"
            "to its checkpoint, stray temporary files removed); one process at a time may train in DIR.\n"
            "Exit status: 0 success, 1 runtime failure (unreadable or unusable data, an inconsistent checkpoint,\n"
            "I/O, divergence), 2 usage error.\n\n"
            "task and data:\n"
            "  --task NAME           fashion-mnist, idx (the four IDX flags below) or repeat-copy\n"
            "                        [fashion-mnist, or idx when the IDX flags are given]\n"
            "  --data NAME|DIR       fashion-mnist (%s), cifar10, cifar100, svhn (these\n"
            "                        three read --data-dir), or a directory holding the four Fashion-MNIST\n"
            "                        file names [fashion-mnist]\n"
            "  --data-dir DIR        cifar10: data_batch_1..5.bin, test_batch.bin; cifar100: train.bin, test.bin\n"
            "                        (the binary distributions, or their parent folder); svhn: train_32x32.mat,\n"
            "                        test_32x32.mat, extra_32x32.mat\n"
            "  --augment on|off      random crop (zero padding 4) and horizontal flip of training batches\n"
            "                        [on for cifar10 and cifar100, off otherwise]\n"
            "  --labels fine|coarse  cifar100: the 100 fine or the 20 coarse classes [fine]\n"
            "  --svhn-extra on|off   svhn: train on the rest of train_32x32.mat plus extra_32x32.mat [on]\n"
            "  --train-images F --train-labels F --test-images F --test-labels F\n"
            "                        IDX files (plain or gzip) instead of --data\n"
            "  --classes K           IDX files: labels must be < K (a larger one is an error naming the file)\n"
            "                        [the largest label + 1, printed at the start]\n"
            "  --val N               validation samples split off the training files, N >= 1 [5000; svhn 6000]\n"
            "  --val-seed S          seed of that split [1234]\n"
            "  --train-subset N      train on the first N samples of the training split [all]\n"
            "  --test-subset N       evaluate on the first N test samples [all]\n"
            "  Inputs are standardised per channel with the training split's mean and standard deviation.\n"
            "  repeat-copy: RepeatCopy(4 bits, batch 16, lengths 1-2, repeats 1-2, norm 10), batch k of seed S a\n"
            "  pure function of (S, k); loss: masked sigmoid cross-entropy, summed over time, mean over the batch.\n\n",
            ALIG_FMNIST_DEFAULT_DIR);
    fprintf(f,
            "model:\n"
            "  --model NAME          image tasks: mlp (= mlp-256-128), mlp-H1-H2-..., cnn (the PyTorch peer's),\n"
            "                        wrn-D-K (pre-activation wide resnet, e.g. wrn-16-2), densenet-bc-L-k\n"
            "                        (DenseNet-BC, e.g. densenet-bc-100-12, densenet-bc-40-40);\n"
            "                        repeat-copy: dnc (the DNC of the ALI-G paper's Figure 3: LSTM 64, memory\n"
            "                        16x16, 4 read heads, 43,980 parameters) or dnc-H-N-W-R (required)\n"
            "  --dropout P           dropout inside WRN blocks, 0 <= P < 1 [0]\n"
            "  --loss NAME           image models: ce (softmax cross-entropy), hinge (multi-class hinge of\n"
            "                        Crammer & Singer: max_j(s_j + [j != y]) - s_y) or smooth-hinge (its smoothed\n"
            "                        form of Deep Frank-Wolfe); training and evaluation use it [ce]. dfw needs a\n"
            "                        hinge\n\n");
    fprintf(f,
            "training:\n"
            "  --opt NAME            solver, one of those below (required; --solver is a synonym); polyak, a\n"
            "                        full-batch oracle, only with a --batch that holds the whole training split\n"
            "  --radius R            L2-ball constraint ||x|| <= R on all parameters, R > 0 or inf [inf]\n"
            "  --epochs N            epoch mode: total number of epochs N >= 1 (with --resume: a new total)\n"
            "  --steps N             step mode: total number of steps N >= 1 (with --resume: a new total);\n"
            "                        required for repeat-copy\n"
            "  --log-every K         step mode: one log record per K steps [100]\n"
            "  --checkpoint-every K  step mode: a checkpoint every K steps, and at the end [1000]\n"
            "  --clip-norm C         clip the gradient by its global norm: g <- g * C / max(||g||, C), C > 0,\n"
            "                        before the solver step [off]\n"
            "  --batch B             image tasks: mini-batch size [128]; a short last batch is kept\n"
            "  --eval-batch B        evaluation batch size (memory / speed only) [256]\n"
            "  --seed S              initialisation, data order and dropout seed [0]\n"
            "  --max-batches K       at most K mini-batches per epoch (tests, benchmarks) [all]\n"
            "  --threads T           OpenMP and OpenBLAS threads, 1 <= T <= 1024 [OMP_NUM_THREADS or all];\n"
            "                        --resume keeps the run's value unless given\n\n"
            "output:\n"
            "  --out DIR             run directory, created once the data and the model are loaded; must not\n"
            "                        hold a checkpoint (required)\n"
            "  --resume DIR          continue the run in DIR from its checkpoint, exactly; its settings are\n"
            "                        checked as strictly as flags, and against DIR's logs and config.json\n"
            "  --quiet               no per-record line on stdout (the progress line appears only on a terminal)\n"
            "  --profile             time every op of the training graph: DIR/profile.csv (ms per batch for each\n"
            "                        op kind and the gradient zeroing, sorted), DIR/profile_nodes.csv (per node),\n"
            "                        and the table on stderr unless --quiet; the first batch is left out as\n"
            "                        warm-up when there are others; short last batches are not profiled\n"
            "  --inject-nan-at K     testing: treat the loss of step K (1-based, counted over the run) as NaN\n"
            "  --eps-report on|off   epoch mode: after every epoch, the loss of every training sample in evaluation\n"
            "                        mode, its mean, max and 50/90/99/99.9 %% nearest-rank quantiles (the ε of the\n"
            "                        interpolation assumption); one more forward pass over the training split per\n"
            "                        epoch. May be given with --resume [off]\n\n");
    fprintf(f,
            "log records, epoch mode (log.csv columns, log.jsonl keys): epoch, train_loss, train_acc (running means\n"
            "over the epoch's mini-batches, before each step), val_loss, val_acc, test_loss, test_acc (evaluation\n"
            "mode), step_mean, step_unclipped_mean, clipped_frac (solver step sizes; clipped = step < unclipped),\n"
            "seconds (training + evaluation), train_seconds, eval_seconds, images, images_per_s (training images\n"
            "per second of training time), steps (solver steps so far), lr (the solver's step size at the epoch's\n"
            "last step: the epoch's learning rate for sgd and the adaptive methods), then the ε report's\n"
            "train_eval_loss, train_eval_acc, eps_max, eps_q50, eps_q90, eps_q99, eps_q999, eps_seconds (nan\n"
            "without --eps-report).\n"
            "step mode: step (steps so far), window_steps, loss_mean (mean loss of the window's steps, each before\n"
            "its update), step_mean, step_unclipped_mean, clipped_frac, zero_grad (steps with ||g||^2 = 0),\n"
            "clip_events (steps clipped by --clip-norm), seconds, steps_per_s.\n\n"
            "solvers and their flags [defaults]. In epoch mode sps's --batches-per-epoch defaults to the epoch's\n"
            "batch count, and sgd's --milestones are epochs: with --schedule multistep the learning rate is\n"
            "multiplied by --factor after the m-th epoch (counted from 1) for each listed m (e.g. --milestones\n"
            "60,120,160 --factor 0.2; --reset-momentum 1 for the WRN reference code's fresh momentum buffer at each\n"
            "drop). sgd's --schedule plateau (epoch mode) multiplies the rate by --factor once the validation\n"
            "accuracy has not improved on its best for --patience epochs, and by --epoch-decay after every epoch\n"
            "(InferSent's SNLI schedule: --factor 0.2 --patience 1 --epoch-decay 0.99); log.csv's lr column shows\n"
            "the rate of each epoch. In step mode milestones are steps. A milestone after the run's last epoch (or\n"
            "step) is refused: it would never apply.\n");
    cli_solvers_help(f);
}

/* ================================================================ flags */

static const char *const train_flags[] = { "task", "data", "train-images", "train-labels", "test-images",
                                           "test-labels", "val", "val-seed", "classes", "train-subset", "test-subset",
                                           "model", "dropout", "opt", "radius", "epochs", "steps", "log-every",
                                           "checkpoint-every", "clip-norm", "batch", "eval-batch", "seed",
                                           "max-batches", "threads", "out", "resume", "inject-nan-at", "loss",
                                           "data-dir", "augment", "labels", "svhn-extra", "eps-report", NULL };

/* Flags that may accompany --resume. */
static const char *const resume_flags[] = { "resume", "epochs", "steps", "threads", "quiet", "profile",
                                            "inject-nan-at", "eps-report", NULL };

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

static int get_u64(const cli_flags *fl, const char *flag, size_t min, unsigned long long *out)
{
    size_t z = (size_t)*out;
    int rc = cli_size(CMD, flag, cli_get(fl, flag), min, &z);
    if (!rc) *out = z;
    return rc;
}

static int on_off(const char *flag, const char *v, int *out)
{
    if (!v) return CLI_OK;
    if (!strcmp(v, "on")) *out = 1;
    else if (!strcmp(v, "off")) *out = 0;
    else return cli_fail(CMD, CLI_USAGE, "--%s: '%s' is not on or off", flag, v);
    return CLI_OK;
}

/* --data-dir, --augment, --labels, --svhn-extra and the data sets they go with. */
static int vision_flags(const cli_flags *fl, train_cfg *c)
{
    int rc;
    const int c10 = !strcmp(c->data, "cifar10"), c100 = !strcmp(c->data, "cifar100"), svhn = !strcmp(c->data, "svhn");
    if ((rc = get_path(fl, "data-dir", c->data_dir))) return rc;
    if ((c10 || c100 || svhn) && !c->data_dir[0])
        return cli_fail(CMD, CLI_USAGE, "--data %s needs --data-dir DIR (the folder holding its files)", c->data);
    if (!(c10 || c100 || svhn) && c->data_dir[0])
        return cli_fail(CMD, CLI_USAGE, "--data-dir goes with --data cifar10, cifar100 or svhn");
    c->augment = c10 || c100;
    if ((rc = on_off("augment", cli_get(fl, "augment"), &c->augment))) return rc;
    const char *lab = cli_get(fl, "labels");
    if (lab && !c100) return cli_fail(CMD, CLI_USAGE, "--labels goes with --data cifar100");
    if (lab && strcmp(lab, "fine") && strcmp(lab, "coarse"))
        return cli_fail(CMD, CLI_USAGE, "--labels: '%s' is not fine or coarse", lab);
    c->coarse = lab && !strcmp(lab, "coarse");
    const char *ex = cli_get(fl, "svhn-extra");
    if (ex && !svhn) return cli_fail(CMD, CLI_USAGE, "--svhn-extra goes with --data svhn");
    int extra = 1;
    if ((rc = on_off("svhn-extra", ex, &extra))) return rc;
    c->no_extra = !extra;
    if (svhn) c->val = 6000;    /* the paper's SVHN validation split; --val overrides */
    return CLI_OK;
}

/* Settings of a new run from the flags. */
static int cfg_from_flags(const cli_flags *fl, train_cfg *c)
{
    int rc;
    size_t seed = 0;
    cfg_defaults(c);
    const char *task = cli_get(fl, "task");
    const char *files[4] = { "train-images", "train-labels", "test-images", "test-labels" };
    char *dst[4] = { c->train_images, c->train_labels, c->test_images, c->test_labels };
    int nfiles = 0;
    for (int i = 0; i < 4; i++) {
        if ((rc = get_path(fl, files[i], dst[i]))) return rc;
        nfiles += cli_get(fl, files[i]) != NULL;
    }
    if (task && strcmp(task, "fashion-mnist") && strcmp(task, "idx") && strcmp(task, "repeat-copy"))
        return cli_fail(CMD, CLI_USAGE, "--task: unknown task '%s' (fashion-mnist, idx, repeat-copy)", task);
    const int seq = task && !strcmp(task, "repeat-copy");
    if (seq) {
        const char *image_only[] = { "data", "train-images", "train-labels", "test-images", "test-labels", "val",
                                     "val-seed", "classes", "train-subset", "test-subset", "batch", "eval-batch",
                                     "max-batches", "dropout", "epochs", "loss", "data-dir", "augment", "labels",
                                     "svhn-extra", NULL };
        for (size_t i = 0; image_only[i]; i++)
            if (cli_get(fl, image_only[i]))
                return cli_fail(CMD, CLI_USAGE, "--%s does not apply to --task repeat-copy%s", image_only[i],
                                strcmp(image_only[i], "epochs") ? "" : " (an endless generator: give --steps)");
        snprintf(c->task, sizeof c->task, "repeat-copy");
        c->data[0] = '\0';
        c->batch = 16;
    } else {
        if (task && !strcmp(task, "idx") && nfiles != 4)
            return cli_fail(CMD, CLI_USAGE, "--task idx needs --train-images, --train-labels, --test-images and "
                            "--test-labels");
        if (task && !strcmp(task, "fashion-mnist") && nfiles)
            return cli_fail(CMD, CLI_USAGE, "--task fashion-mnist cannot be combined with IDX file flags");
        if (nfiles && nfiles < 4)
            return cli_fail(CMD, CLI_USAGE, "--train-images, --train-labels, --test-images and --test-labels go together");
        if (nfiles && cli_get(fl, "data")) return cli_fail(CMD, CLI_USAGE, "--data cannot be combined with IDX file flags");
        if (nfiles) c->data[0] = '\0';
        else if ((rc = get_path(fl, "data", c->data))) return rc;
        if ((rc = vision_flags(fl, c))) return rc;
    }

    const char *model = cli_get(fl, "model");
    if (!model) return cli_fail(CMD, CLI_USAGE, "missing --model NAME (mlp, cnn, wrn-16-2, ...)");
    if (set_str(c->model, sizeof c->model, model)) return cli_fail(CMD, CLI_USAGE, "--model: unknown model '%s'", model);
    const int has_epochs = cli_get(fl, "epochs") != NULL, has_steps = cli_get(fl, "steps") != NULL;
    if (has_epochs && has_steps) return cli_fail(CMD, CLI_USAGE, "--epochs and --steps exclude each other: give one");
    if (!has_epochs && !has_steps) return cli_fail(CMD, CLI_USAGE, "missing --epochs N (or --steps N)");
    if (!has_steps && (cli_get(fl, "log-every") || cli_get(fl, "checkpoint-every")))
        return cli_fail(CMD, CLI_USAGE, "--%s goes with --steps (epoch mode logs and checkpoints every epoch)",
                        cli_get(fl, "log-every") ? "log-every" : "checkpoint-every");
    if (!cli_get(fl, "out")) return cli_fail(CMD, CLI_USAGE, "missing --out DIR");
    if ((rc = cli_double(CMD, "dropout", cli_get(fl, "dropout"), CLI_NONNEG, &c->dropout))) return rc;
    const char *loss = cli_get(fl, "loss");
    int loss_id;
    if (loss && (alig_nn_loss_parse(loss, &loss_id) || set_str(c->loss, sizeof c->loss, loss)))
        return cli_fail(CMD, CLI_USAGE, "--loss: unknown loss '%s' (ce, hinge, smooth-hinge)", loss);
    if (!(c->dropout < 1.0)) return cli_fail(CMD, CLI_USAGE, "--dropout: %g must be < 1", c->dropout);
    if ((rc = cli_double(CMD, "clip-norm", cli_get(fl, "clip-norm"), CLI_POSITIVE_INF, &c->clip_norm))) return rc;
    if ((rc = cli_size(CMD, "epochs", cli_get(fl, "epochs"), 1, &c->epochs)) ||
        (rc = get_u64(fl, "steps", 1, &c->steps)) || (rc = get_u64(fl, "log-every", 1, &c->log_every)) ||
        (rc = get_u64(fl, "checkpoint-every", 1, &c->checkpoint_every)) ||
        (rc = cli_size_range(CMD, "batch", cli_get(fl, "batch"), 1, INT_MAX, &c->batch)) ||
        (rc = cli_size_range(CMD, "eval-batch", cli_get(fl, "eval-batch"), 1, INT_MAX, &c->eval_batch)) ||
        (rc = cli_size(CMD, "val", cli_get(fl, "val"), 1, &c->val)) ||
        (rc = cli_size(CMD, "classes", cli_get(fl, "classes"), 2, &c->classes)) ||
        (rc = cli_ulong(CMD, "val-seed", cli_get(fl, "val-seed"), &c->val_seed)) ||
        (rc = cli_size(CMD, "train-subset", cli_get(fl, "train-subset"), 1, &c->train_subset)) ||
        (rc = cli_size(CMD, "test-subset", cli_get(fl, "test-subset"), 1, &c->test_subset)) ||
        (rc = cli_size(CMD, "max-batches", cli_get(fl, "max-batches"), 1, &c->max_batches)) ||
        (rc = cli_size_range(CMD, "seed", cli_get(fl, "seed"), 0, ULONG_MAX, &seed)))
        return rc;
    if (c->classes && c->data[0])
        return cli_fail(CMD, CLI_USAGE, "--classes goes with IDX files (--train-images ...); --data %s has its own",
                        c->data);
    c->seed = (unsigned long)seed;
    return CLI_OK;
}

/* ================================================================ task and model */

/* The alig_nn_loss of the settings (checked when they were read). */
static int loss_of(const train_cfg *c)
{
    int l = ALIG_NN_LOSS_CE;
    alig_nn_loss_parse(c->loss, &l);
    return l;
}

/* Build the task of the settings; usage errors (a split or batch that does not fit the data) name the flag. */
static int task_make(const train_cfg *c, alig_task **out)
{
    char err[1200];
    alig_status st;
    if (!strcmp(c->task, "repeat-copy")) {
        if ((st = alig_task_repeat_copy_alloc(out, NULL, c->seed)))
            return cli_fail(CMD, CLI_RUNTIME, "repeat-copy: %s", alig_strerror(st));
        return CLI_OK;
    }
    const alig_task_image_cfg ic = {
        .data = c->data[0] ? c->data : NULL, .train_images = c->train_images, .train_labels = c->train_labels,
        .test_images = c->test_images, .test_labels = c->test_labels, .classes = c->classes, .val = c->val,
        .val_seed = c->val_seed, .train_subset = c->train_subset, .test_subset = c->test_subset, .batch = c->batch,
        .max_batches = c->max_batches, .seed = c->seed, .data_dir = c->data_dir[0] ? c->data_dir : NULL,
        .coarse = c->coarse, .no_extra = c->no_extra, .augment = c->augment,
    };
    st = alig_task_image_load(out, &ic, err, sizeof err);
    if (st == ALIG_EBADLEN) return cli_fail(CMD, CLI_USAGE, "--val %zu: %s", c->val, err);
    if (st == ALIG_EBADBATCH) return cli_fail(CMD, CLI_USAGE, "--batch %zu: %s", c->batch, err);
    if (st) return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    return CLI_OK;
}

/* The model check before any data are loaded: image models against Fashion-MNIST's input size
 * (every image model fits 1x28x28, so a size error is in the name), sequence models against the task. */
static int model_probe(const train_cfg *c)
{
    const alig_model_type *t = alig_model_type_find(c->model);
    const int seq = !strcmp(c->task, "repeat-copy");
    char list[256] = "";
    for (size_t i = 0, k = 0; alig_model_types[i] && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", alig_model_types[i]->usage);
    if (!t) return cli_fail(CMD, CLI_USAGE, "--model: unknown model '%s' (%s)", c->model, list);
    if (t->input != (seq ? ALIG_TASK_SEQUENCE : ALIG_TASK_IMAGE))
        return cli_fail(CMD, CLI_USAGE, "--model %s: trains on %s tasks, not on --task %s%s", c->model,
                        t->input == ALIG_TASK_IMAGE ? "image" : "sequence", seq ? "repeat-copy" : "(image)",
                        seq ? " (use a sequence model: dnc)" : "");
    if (seq) return CLI_OK;
    const int rgb = !strcmp(c->data, "cifar10") || !strcmp(c->data, "cifar100") || !strcmp(c->data, "svhn");
    const alig_task_shape probe = { .kind = ALIG_TASK_IMAGE, .in_c = rgb ? 3 : 1, .in_h = rgb ? 32 : 28,
                                    .in_w = rgb ? 32 : 28, .classes = 10, .batch = (int)c->batch };
    const alig_model_opts o = { .dropout = c->dropout, .eval_batch = (int)c->eval_batch, .loss = loss_of(c) };
    char err[512];
    alig_status st = t->parse(c->model, &o, &probe, err, sizeof err);
    if (st == ALIG_EINVAL) {
        if (c->dropout > 0 && strcmp(t->name, "wrn"))
            return cli_fail(CMD, CLI_USAGE, "--model: '%s' takes no --dropout (--dropout needs a wrn model)", c->model);
        return cli_fail(CMD, CLI_USAGE, "--model: unknown model '%s' (%s)", c->model, list);
    }
    if (st == ALIG_EBADLEN)
        return cli_fail(CMD, CLI_USAGE, "--model %s: sizes out of range (wrn-D-K needs D = 6m + 4 >= 10, "
                        "1 <= K <= 64; densenet-bc-L-k needs L = 6m + 4 >= 10, 1 <= k <= 512; mlp widths >= 1, "
                        "at most %d layers)", c->model, ALIG_NN_MAX_HIDDEN);
    if (st) return cli_fail(CMD, CLI_USAGE, "--model %s: %s", c->model, err);
    return CLI_OK;
}

/* The checks of a new run that need its data: a full-batch solver gets full batches, and each
 * milestone lies within the run (epochs in epoch mode, steps in step mode; before
 * alig_train_epoch_schedules turns epochs into steps). A resumed run keeps what it was given. */
static int new_run_checks(const train_cfg *c, const cli_solver *sv, const alig_task *task)
{
    if (sv->type->flags & ALIG_SOLVER_FULL_ORACLE) {
        /* Polyak's step (f(x) - f*) / |g|^2 is that of the full objective: on a mini-batch it is another
         * method (the stochastic Polyak step, which sps and alig implement with their safeguards) */
        if (!task->type->finite)
            return cli_fail(CMD, CLI_USAGE, "--opt %s needs the full objective and gradient (a full-batch oracle): "
                            "the %s task is a generator of mini-batches; use sps or alig, its stochastic forms",
                            sv->name, task->type->name);
        if (c->batch < task->train.n)
            return cli_fail(CMD, CLI_USAGE, "--opt %s needs the full objective and gradient (a full-batch oracle): "
                            "give --batch %zu (the whole training split), or use sps or alig, its stochastic forms "
                            "(--batch %zu takes mini-batches)", sv->name, task->train.n, c->batch);
    }
    const double last = c->epochs ? (double)c->epochs : (double)c->steps;
    for (size_t j = 0; j < sv->type->n_params_desc; j++) {
        const alig_param_desc *d = &sv->type->params_desc[j];
        if (d->kind != ALIG_PARAM_LIST || strcmp(d->name, "milestones")) continue;
        alig_double_list ms;
        memcpy(&ms, (const char *)sv->params + d->offset, sizeof ms);
        char flag[64];
        for (size_t i = 0; i < ms.n; i++)
            if (ms.v[i] > last)
                return cli_fail(CMD, CLI_USAGE, "--%s: milestone %g comes after the run's last %s (--%s %.0f): it "
                                "would never apply", cli_solver_flag(sv->type, d, flag, sizeof flag), ms.v[i],
                                c->epochs ? "epoch" : "step", c->epochs ? "epochs" : "steps", last);
    }
    return CLI_OK;
}

/* ================================================================ output files */

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

/* ================================================================ progress */

static void fmt_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0) { snprintf(buf, len, "?"); return; }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%luh%02lum", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, len, "%lum%02lus", t / 60, t % 60);
    else snprintf(buf, len, "%lus", t);
}

/* A run whose training loss (epoch mode: an epoch's train_loss; step mode: a window's loss_mean)
 * exceeds that of its first record by this factor has diverged (exploded) even with every value
 * finite; as in `alig solve`, it is reported and the command exits 1. */
#define TRAIN_EXPLODE_FACTOR 1e6

/* The observer: a progress line on a terminal, one line per record on stdout unless quiet, and
 * the divergence check (which stops the run). */
typedef struct progress {
    int tty, quiet, eps;
    size_t batch;
    double t_print, last_eval, t_eval, t_start;
    uint64_t step0;
    char *header;               /* printed (then emptied) at the first event */
    double first_loss;          /* the run's first record's loss (NAN: none yet) */
    int diverged;               /* 1: stopped by the divergence check at the record below */
    double div_loss;
    size_t div_epoch;
    uint64_t div_step;
} progress;

/* The loss of the first record of DIR/log.csv (a resumed run's reference for the divergence
 * check), or NAN. The file was checked against the checkpoint by then. */
static double first_logged_loss(const char *dir, int step_mode)
{
    char *path = join(dir, "log.csv");
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    if (!f) return NAN;
    char head[1024], row[1024];
    double v = NAN;
    if (fgets(head, sizeof head, f) && fgets(row, sizeof row, f)) {
        const char *want = step_mode ? "loss_mean" : "train_loss";
        size_t col = 0, k = 0;
        for (char *t = strtok(head, ",\n"); t && strcmp(t, want); t = strtok(NULL, ",\n")) col++;
        for (char *t = strtok(row, ",\n"); t; t = strtok(NULL, ",\n"), k++)
            if (k == col) {
                char *end;
                v = strtod(t, &end);
                if (*end) v = NAN;
                break;
            }
    }
    fclose(f);
    return v;
}

static int observe(const alig_train_event *ev, void *ctx)
{
    progress *pg = ctx;
    const double now = cli_now();
    if (pg->header && pg->header[0]) {
        fputs(pg->header, stdout);
        fflush(stdout);
        pg->header[0] = '\0';
    }
    if (ev->kind == ALIG_TRAIN_EV_STEP && pg->tty) {
        const int last = ev->epochs ? ev->batch == ev->epoch_batches : ev->step == ev->total_steps;
        if (now - pg->t_print >= 0.25 || last) {
            pg->t_print = now;
            char eta[32];
            if (ev->epochs) {
                const double ips = (double)ev->samples / ev->seconds;
                const double left_imgs = (double)(ev->epoch_batches - ev->batch) * (double)pg->batch +
                                         (double)(ev->epochs - ev->epoch - 1) * (double)ev->epoch_batches *
                                             (double)pg->batch;
                const double evals = isfinite(pg->last_eval) ? pg->last_eval : 0.0;
                fmt_duration(left_imgs / ips + evals * (double)(ev->epochs - ev->epoch), eta, sizeof eta);
                fprintf(stderr, "\repoch %zu/%zu batch %zu/%zu loss %.4f acc %.4f γ %.4g %.0f img/s left %s\033[K",
                        ev->epoch + 1, ev->epochs, ev->batch, ev->epoch_batches, ev->running_loss, ev->running_acc,
                        ev->step_size, ips, eta);
            } else {
                const double sps = (double)(ev->step - pg->step0) / (now - pg->t_start);
                fmt_duration((double)(ev->total_steps - ev->step) / sps, eta, sizeof eta);
                fprintf(stderr, "\rstep %llu/%llu loss %.4g (window mean %.4g) γ %.4g %.0f steps/s left %s\033[K",
                        (unsigned long long)ev->step, (unsigned long long)ev->total_steps, ev->loss, ev->running_loss,
                        ev->step_size, sps, eta);
            }
            fflush(stderr);
        }
    } else if (ev->kind == ALIG_TRAIN_EV_EVAL) {
        pg->t_eval = now;
        if (pg->tty) fprintf(stderr, "\r\033[Kepoch %zu/%zu evaluating%s...", ev->epoch + 1, ev->epochs,
                             pg->eps ? " (and the ε report)" : "");
    } else if (ev->kind == ALIG_TRAIN_EV_ROW) {
        const alig_train_row *r = ev->row;
        const double loss = r->window ? r->loss_mean : r->train_loss;
        if (pg->tty) fprintf(stderr, "\r\033[K");
        if (!r->window) pg->last_eval = r->eval_seconds;
        if (!pg->quiet) {
            if (!r->window)
                printf("epoch %zu/%zu train_loss=%.4f train_acc=%.4f val_loss=%.4f val_acc=%.4f test_loss=%.4f "
                       "test_acc=%.4f step_mean=%.4g clipped=%.3f images/s=%.0f seconds=%.1f\n",
                       r->epoch, ev->epochs, r->train_loss, r->train_acc, r->val_loss, r->val_acc, r->test_loss,
                       r->test_acc, r->step_mean, r->clipped_frac, r->images_per_s, r->seconds);
            if (!r->window) {
                if (!isnan(r->train_eval_loss))
                    printf("epoch %zu/%zu eps: train_eval_loss=%.4g train_eval_acc=%.4f max=%.4g q50=%.4g q90=%.4g "
                           "q99=%.4g q99.9=%.4g eps_seconds=%.1f\n",
                           r->epoch, ev->epochs, r->train_eval_loss, r->train_eval_acc, r->eps_max, r->eps_q50,
                           r->eps_q90, r->eps_q99, r->eps_q999, r->eps_seconds);
            } else
                printf("step %llu/%llu loss_mean=%.6g step_mean=%.4g zero_grad=%llu clip_events=%llu steps/s=%.0f\n",
                       (unsigned long long)r->steps, (unsigned long long)ev->total_steps, r->loss_mean, r->step_mean,
                       (unsigned long long)r->zero_grad, (unsigned long long)r->clip_events, r->steps_per_s);
            fflush(stdout);
        }
        if (isnan(pg->first_loss)) pg->first_loss = loss;
        else if (pg->first_loss > 0 && loss > TRAIN_EXPLODE_FACTOR * pg->first_loss) {
            pg->diverged = 1;
            pg->div_loss = loss;
            pg->div_epoch = r->epoch;
            pg->div_step = r->steps;
            return 1;   /* stop: the record and (epoch mode) its checkpoint are written */
        }
    }
    return 0;
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
static int profile_report(const char *dir, size_t batch, const alig_train_result *ps, int quiet)
{
    alig_ad_graph *G = ps->profile_graph;
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

    char *path = join(dir, "profile.csv"), *npath = join(dir, "profile_nodes.csv");
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
        fprintf(stderr, "profile of the training graph (batch %zu): %ld batch%s%s; ms per batch\n", batch, nb,
                nb == 1 ? "" : "es",
                ps->profile_warmup_excluded ? ", the first one left out as warm-up" : " (no warm-up batch left out: only one)");
        fprintf(stderr, "  %-16s %6s %10s %10s %10s %7s\n", "op", "nodes", "forward", "backward", "total", "share");
        for (size_t i = 0; i < nrows; i++) {
            const double t = rows[i].fwd + rows[i].bwd;
            fprintf(stderr, "  %-16s %6zu %10.3f %10.3f %10.3f %6.1f%%\n", rows[i].op, rows[i].nodes, rows[i].fwd,
                    rows[i].bwd, t, total > 0.0 ? 100.0 * t / total : 0.0);
        }
        fprintf(stderr, "  %-16s %6s %10.3f %10.3f %10.3f %6.1f%%\n", "all", "", total_f, total_b, total, 100.0);
        const double step_ms = 1e3 * ps->profile_step_seconds / (double)nb;
        fprintf(stderr, "  a training step (batch gathering, forward, backward, solver step) took %.3f ms per batch; "
                "the ops cover %.1f%%\n", step_ms, step_ms > 0.0 ? 100.0 * total / step_ms : 0.0);
        fprintf(stderr, "  written: %s, %s\n", path, npath);
    }
out:
    free(path);
    free(npath);
    return rc;
}

/* ================================================================ the command */

/* The "name" member of a model's description (its canonical name), into buf. */
static const char *model_canonical(const alig_model *m, char *buf, size_t len)
{
    char desc[1024];
    m->type->describe(m->impl, desc, sizeof desc);
    const char *p = strstr(desc, "\"name\": \"");
    snprintf(buf, len, "%s", m->name);
    if (p) {
        p += strlen("\"name\": \"");
        const char *q = strchr(p, '"');
        if (q && (size_t)(q - p) < len) {
            memcpy(buf, p, (size_t)(q - p));
            buf[q - p] = '\0';
        }
    }
    return buf;
}

static const char *num_text(double v, char *buf, size_t len)
{
    if (isnan(v)) snprintf(buf, len, "nan");
    else if (isinf(v)) snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else snprintf(buf, len, "finite");
    return buf;
}

/* The smallest batch of an image task: a full one, or the short last batch of each epoch. */
static size_t smallest_batch(const alig_task *t)
{
    const size_t B = (size_t)t->shape.batch, n = t->train.n, E = t->epoch_batches;
    return E && (E - 1) * B < n && n - (E - 1) * B < B ? n - (E - 1) * B : B;
}

/* Under mpirun every rank meets the others once, right before training (or, when it stops earlier,
 * on its way out): the largest exit code wins, so a failure of the settings, the data or the run
 * directory on any rank ends every rank normally, with that code, before anyone waits in the
 * training's first reduction. After the meeting a failure that every rank sees alike (a non-finite
 * value of the global batch) also ends normally; any other one (a file rank 0 cannot write) ends
 * the job through MPI_Abort, since the others may be waiting for this rank. */
static int g_met, g_failed_everywhere;

static int ranks_meet(int rc)
{
    if (g_met || alig_dist_size() <= 1) return rc;
    g_met = 1;
    unsigned long long v = (unsigned long long)rc;
    char err[256];
    if (alig_dist_allreduce_max_u64(&v, 1, err, sizeof err)) {
        cli_fail(CMD, CLI_RUNTIME, "%s", err);
        fflush(NULL);
        alig_dist_abort(CLI_RUNTIME);
    }
    if (v != 0) g_failed_everywhere = 1;
    return (int)v;
}

static int train_main(int argc, char **argv)
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

    train_cfg c;
    cli_solver sv;
    memset(&sv, 0, sizeof sv);
    double radius = INFINITY;
    alig_train_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    alig_task *task = NULL;
    alig_model *model = NULL;
    alig_solver *solver = NULL;
    char *ck_path = NULL;
    sbuf settings = { 0 }, extra = { 0 };
    alig_dist_train *shards = NULL;
    const char *dir = NULL;
    const int rank = alig_dist_rank(), ranks = alig_dist_size();
    const int quiet = cli_get(&fl, "quiet") != NULL || rank > 0;     /* rank 0 speaks for the job */
    const int profile = cli_get(&fl, "profile") != NULL;
    const char *resume = cli_get(&fl, "resume");
    unsigned long long inject_at = 0;
    size_t threads = 0;
    if (cli_get(&fl, "inject-nan-at")) {
        size_t k = 0;
        if ((rc = cli_size(CMD, "inject-nan-at", cli_get(&fl, "inject-nan-at"), 1, &k))) return rc;
        inject_at = k;
    }
    if ((rc = cli_size_range(CMD, "threads", cli_get(&fl, "threads"), 1, CLI_MAX_THREADS, &threads))) return rc;
    if (profile && ranks > 1)
        return cli_fail(CMD, CLI_USAGE, "--profile under mpirun with %d ranks: it times the full-batch graph, which "
                        "no rank runs; profile in one process", ranks);
    int made_dir = 0;   /* 1: this command created the run directory (removed again if the start fails) */

    if (resume) {
        /* ---------------------------------------------------------- settings from the checkpoint */
        for (size_t i = 0; i < fl.n; i++)
            if (fl.f[i].value && !in_list(resume_flags, fl.f[i].name))
                return cli_fail(CMD, CLI_USAGE, "--%s cannot be combined with --resume (the run's settings come from "
                                "its checkpoint)", fl.f[i].name);
        dir = resume;
        if (!(ck_path = join(dir, "checkpoint.bin"))) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
        char err[1200];
        alig_status st = alig_train_checkpoint_read(ck_path, &ck, err, sizeof err);
        if (st) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s", err[0] ? err : alig_strerror(st));
            goto done;
        }
        /* the settings block, as strictly as the command line, and against the checkpoint's own state */
        char why[600] = "";
        if (!ck.user || !ck.user_bytes) snprintf(why, sizeof why, "none");
        else if (!cfg_read(ck.user, ck.user_bytes, &c, why, sizeof why)) {
            const int inf_alias = !strcmp(c.opt, "alig-inf") && !strcmp(ck.solver, "alig");
            if (strcmp(c.opt, ck.solver) && !inf_alias)
                snprintf(why, sizeof why, "key 'opt': '%s', but the checkpoint holds the state of solver '%s'", c.opt,
                         ck.solver);
            else if ((c.epochs == 0) != (ck.step_mode != 0))
                snprintf(why, sizeof why, "key '%s', but the checkpoint's loop counts %s", c.epochs ? "epochs" : "steps",
                         ck.step_mode ? "steps" : "epochs");
            else if (ck.step_mode && c.log_every != ck.log_every)
                snprintf(why, sizeof why, "key 'log_every': %llu, but the checkpoint's loop logs every %llu steps",
                         c.log_every, (unsigned long long)ck.log_every);
            else if (!(c.clip_norm == ck.clip_norm))
                snprintf(why, sizeof why, "key 'clip_norm': %g, but the checkpoint's loop clips at %g", c.clip_norm,
                         ck.clip_norm);
        }
        if (why[0]) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s: run settings: %s", ck_path, why);
            goto done;
        }
        if (cli_get(&fl, "epochs") && ck.step_mode) {
            rc = cli_fail(CMD, CLI_USAGE, "--epochs: the run in %s counts steps (use --steps)", dir);
            goto done;
        }
        if (cli_get(&fl, "steps") && !ck.step_mode) {
            rc = cli_fail(CMD, CLI_USAGE, "--steps: the run in %s counts epochs (use --epochs)", dir);
            goto done;
        }
        if ((rc = cli_size(CMD, "epochs", cli_get(&fl, "epochs"), 1, &c.epochs)) ||
            (rc = get_u64(&fl, "steps", 1, &c.steps)))
            goto done;
        const alig_solver_type *t = alig_solver_type_find(ck.solver);
        if (!t) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: solver '%s' of the checkpoint is unknown to this build", ck.solver);
            goto done;
        }
        if (ck.params_bytes != t->params_size) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s was written by a build whose '%s' parameters have another "
                          "layout (%zu bytes, this build's %zu): it cannot be resumed here", ck_path, ck.solver,
                          ck.params_bytes, t->params_size);
            goto done;
        }
        sv.type = t;
        sv.name = t->name;
        if (!(sv.params = malloc(t->params_size))) { rc = cli_fail(CMD, CLI_RUNTIME, "out of memory"); goto done; }
        memcpy(sv.params, ck.params, t->params_size);
        radius = ck.radius;
    } else {
        /* ---------------------------------------------------------- settings from the flags */
        if ((rc = cfg_from_flags(&fl, &c))) return rc;
        const char *opt = cli_get(&fl, "opt"), *solver_flag = cli_get(&fl, "solver");
        if (opt && solver_flag) return cli_fail(CMD, CLI_USAGE, "--opt and --solver are synonyms: give one");
        if (!opt && !solver_flag) return cli_fail(CMD, CLI_USAGE, "missing --opt NAME (see 'alig train --help')");
        if (opt) {
            /* an unknown name is reported under the flag the user typed */
            if (!alig_solver_type_find(opt) && strcmp(opt, "alig-inf")) {
                char names[320];
                size_t used = 0;
                names[0] = '\0';
                for (size_t i = 0; alig_solver_types[i] && used < sizeof names; i++)
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s, ", alig_solver_types[i]->name);
                return cli_fail(CMD, CLI_USAGE, "--opt: unknown solver '%s' (one of %salig-inf)", opt, names);
            }
            for (size_t i = 0; i < fl.n; i++)
                if (!strcmp(fl.f[i].name, "solver")) fl.f[i].value = opt;
        }
        if ((rc = cli_double(CMD, "radius", cli_get(&fl, "radius"), CLI_POSITIVE_INF, &radius))) return rc;
        if ((rc = cli_solver_make(&fl, &sv))) return rc;
        if (set_str(c.opt, sizeof c.opt, sv.name)) {
            rc = cli_fail(CMD, CLI_USAGE, "--opt: unknown solver '%s'", sv.name);
            goto done;
        }
        if ((rc = model_probe(&c))) goto done;
        if (!strcmp(sv.type->name, "dfw") && loss_of(&c) == ALIG_NN_LOSS_CE) {
            rc = cli_fail(CMD, CLI_USAGE, "--opt dfw: its closed-form step is derived for a piecewise-linear loss; "
                          "give --loss hinge or --loss smooth-hinge");
            goto done;
        }
        if ((sv.type == alig_solver_sgd || sv.type == alig_solver_momentum_tf) &&
            ((const alig_params_sgd *)sv.params)->schedule == ALIG_SCHEDULE_PLATEAU && c.epochs == 0) {
            rc = cli_fail(CMD, CLI_USAGE, "--schedule plateau acts at epoch ends on the validation accuracy: train "
                          "with --epochs");
            goto done;
        }
        /* --out is checked now and created only once the data, the model and the solver are ready,
         * so that a failed start leaves nothing behind */
        dir = cli_get(&fl, "out");
        if (!(ck_path = join(dir, "checkpoint.bin"))) { rc = cli_fail(CMD, CLI_RUNTIME, "out of memory"); goto done; }
        struct stat sb;
        if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            rc = cli_fail(CMD, CLI_USAGE, "--out %s: not a directory", dir);
            goto done;
        }
        if (stat(dir, &sb) != 0 && errno != ENOENT) {
            rc = cli_fail(CMD, CLI_RUNTIME, "--out %s: %s", dir, strerror(errno));
            goto done;
        }
        made_dir = rank == 0 && stat(dir, &sb) != 0;     /* ranks > 0 write nothing */
        if (stat(ck_path, &sb) == 0) {
            rc = cli_fail(CMD, CLI_USAGE, "--out %s already holds a run (checkpoint.bin): use --resume %s or another "
                          "directory", dir, dir);
            goto done;
        }
    }
    /* --eps-report measures and changes no result: a resume keeps the run's choice unless given */
    if ((rc = on_off("eps-report", cli_get(&fl, "eps-report"), &c.eps_report))) goto done;
    if (c.eps_report && c.epochs == 0) {
        rc = cli_fail(CMD, CLI_USAGE, "--eps-report goes with --epochs: a run in steps has no fixed training set to "
                      "take the largest per-sample loss over");
        goto done;
    }
    if (threads) c.threads = threads;     /* resume: a new --threads replaces the run's */
    threads = c.threads;
    if (threads) openblas_set_num_threads((int)threads);
#ifdef _OPENMP
    if (threads) omp_set_num_threads((int)threads);
    const int nthreads = omp_get_max_threads();
#else
    const int nthreads = 1;
#endif
    /* the run records the count it resolved, so a resume without --threads uses the same one (results
     * depend on it within float rounding: reduction order) */
    if (!c.threads) c.threads = (size_t)nthreads;
    const int step_mode = c.epochs == 0;
    const size_t ranks_before = c.ranks;
    c.ranks = (size_t)ranks;

    /* ---------------------------------------------------------- task, model, solver */
    if ((rc = task_make(&c, &task))) goto done;
    if (!resume && (rc = new_run_checks(&c, &sv, task))) goto done;
    char err[1200];
    const alig_model_opts mo = { .dropout = c.dropout, .eval_batch = (int)c.eval_batch, .loss = loss_of(&c) };
    alig_status st = alig_model_alloc(&model, c.model, &mo, task, c.seed, err, sizeof err);
    if (st) {
        if (st == ALIG_EBADBATCH) rc = cli_fail(CMD, CLI_USAGE, "--batch %zu: %s; choose another --batch or "
                                                "--train-subset", c.batch, err);
        else rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "--model %s: %s", c.model, err);
        goto done;
    }
    if (!resume && !step_mode)
        alig_train_epoch_schedules(sv.type, sv.params, task->epoch_batches,
                                   !strcmp(sv.type->name, "sps") && !cli_solver_given(&sv, "batches-per-epoch"));
    const size_t n = alig_model_n(model);
    /* data parallelism: what the loop would refuse, said in the flags' terms before the ranks meet */
    if (ranks > 1 && task->type->kind != ALIG_TASK_IMAGE) {
        rc = cli_fail(CMD, CLI_USAGE, "--task %s under mpirun with %d ranks: data-parallel training shares image "
                      "batches only (the DNC is built for one batch size); run it in one process, or spread runs "
                      "over ranks with alig sweep", c.task, ranks);
        goto done;
    }
    if (ranks > 1) {
        const size_t need = alig_model_nbuf(model) > 0 ? 2 : 1, smallest = smallest_batch(task);
        if (smallest / (size_t)ranks < need) {
            rc = cli_fail(CMD, CLI_USAGE, "--batch %zu: %s of %zu samples over %d ranks leaves a rank fewer than %s",
                          c.batch, smallest == c.batch ? "a batch" : "the last batch of each epoch", smallest, ranks,
                          need == 2 ? "the 2 samples batch norm needs (each rank normalises its own share)"
                                    : "one sample");
            goto done;
        }
    }
    if ((st = alig_solver_alloc(&solver, sv.type, ALIG_F32, n, sv.params)) ||
        (st = alig_solver_set(solver, alig_model_x(model), radius))) {
        rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "--opt %s: %s", sv.name, alig_strerror(st));
        goto done;
    }
    if (task->epoch_batches && (uint64_t)c.epochs > UINT64_MAX / task->epoch_batches) {
        rc = cli_fail(CMD, CLI_USAGE, "--epochs %zu: too many (%zu batches each overflow a 64-bit step count)", c.epochs,
                      task->epoch_batches);
        goto done;
    }
    if (resume && (step_mode ? ck.steps_done >= c.steps : ck.epochs_done >= c.epochs)) {
        if (!quiet) {
            if (step_mode) printf("run in %s already has %llu of %llu steps: nothing to do\n", dir,
                                  (unsigned long long)ck.steps_done, c.steps);
            else printf("run in %s already has %zu of %zu epochs: nothing to do\n", dir, ck.epochs_done, c.epochs);
        }
        rc = CLI_OK;
        goto done;
    }
    if (made_dir && mkdir(dir, 0777) != 0) {
        made_dir = 0;
        rc = cli_fail(CMD, CLI_RUNTIME, "cannot create directory '%s': %s", dir, strerror(errno));
        goto done;
    }
    const char *blas = openblas_get_parallel() == 2 ? "openmp" : openblas_get_parallel() == 1 ? "pthreads" : "sequential";
    /* the header line goes out with the run's first event (observe), so a resume the library
     * refuses, or any other failed start, prints its one line of error and nothing on stdout */
    char header[PATH_LEN + 768] = "";
    if (!quiet) {
        char mname[64], span[64];
        if (step_mode) snprintf(span, sizeof span, "steps=%llu", c.steps);
        else snprintf(span, sizeof span, "epochs=%zu", c.epochs);
        if (task->type->kind == ALIG_TASK_IMAGE)
            snprintf(header, sizeof header, "model=%s params=%zu opt=%s radius=%g threads=%d blas=%s train=%zu val=%zu test=%zu batch=%zu "
                   "classes=%d batches/epoch=%zu %s%s seed=%lu mean=%.4f std=%.4f loss=%s out=%s\n",
                   model_canonical(model, mname, sizeof mname), n, c.opt, radius, nthreads, blas, task->train.n,
                   task->val.n, task->test.n, c.batch, task->shape.classes, task->epoch_batches, span,
                   resume ? " (resumed)" : "", c.seed, task->mean[0], task->std[0], c.loss, dir);
        else
            snprintf(header, sizeof header, "model=%s params=%zu opt=%s radius=%g threads=%d blas=%s task=%s batch=%d %s log_every=%llu "
                   "checkpoint_every=%llu clip_norm=%g%s seed=%lu out=%s\n",
                   model_canonical(model, mname, sizeof mname), n, c.opt, radius, nthreads, blas, task->type->name,
                   task->shape.batch, span, c.log_every, c.checkpoint_every, c.clip_norm, resume ? " (resumed)" : "",
                   c.seed, dir);
        if (ranks > 1) {
            const size_t used = strlen(header);
            snprintf(header + used, sizeof header - used, "ranks=%d: every batch is shared out, each rank computing the "
                     "gradient of its contiguous slice; gradient and loss are averaged over the ranks in double before "
                     "each step\n", ranks);
        }
    }

    if (resume && ranks_before != (size_t)ranks && !quiet) {     /* goes out with the header (a refused resume prints nothing) */
        const size_t used = strlen(header);
        snprintf(header + used, sizeof header - used, "note: the run was checkpointed with %zu rank%s and continues "
                 "with %d: it agrees with an uninterrupted run within float rounding (the order of the batch sums "
                 "changes), not bit for bit\n", ranks_before, ranks_before == 1 ? "" : "s", ranks);
    }

    /* ---------------------------------------------------------- train */
    cfg_write(&settings, &c);
    sb_printf(&extra, "\"opt\": \"%s\", \"seed\": %lu, \"threads\": %d, \"blas\": \"%s\", \"resumed\": %s, "
              "\"ranks\": %d", c.opt, c.seed, nthreads, blas, resume ? "true" : "false", ranks);
    if (settings.failed || extra.failed) { rc = cli_fail(CMD, CLI_RUNTIME, "out of memory"); goto done; }
    alig_train_params tp = ALIG_TRAIN_PARAMS_DEFAULT;
    tp.epochs = c.epochs;
    tp.steps = c.steps;
    tp.log_every = c.log_every;
    tp.checkpoint_every = c.checkpoint_every;
    tp.clip_norm = c.clip_norm;
    tp.dir = dir;
    tp.profile = profile;
    tp.inject_nan_at = inject_at;
    tp.eps_report = c.eps_report;
    tp.user = settings.p;
    tp.user_bytes = settings.len;
    tp.config_extra = extra.p;
    if (ranks > 1 && alig_dist_train_alloc(&shards, n, alig_model_nbuf(model))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    alig_dist_train_hook(&tp, shards);      /* one rank: nothing changes */
    /* the divergence check's reference, read by every rank before rank 0 may cut or rewrite the log
     * (after the meeting), so that all ranks judge the same reduced losses against the same value */
    const double first_loss = resume ? first_logged_loss(dir, step_mode) : NAN;
    if ((rc = ranks_meet(CLI_OK))) goto done;   /* another rank failed (it said why) */
    progress pg = { .tty = rank == 0 && isatty(fileno(stderr)), .quiet = quiet, .eps = c.eps_report, .batch = c.batch,
                    .last_eval = NAN, .t_start = cli_now(), .step0 = resume ? ck.steps_done : 0,
                    .header = header, .first_loss = first_loss };
    alig_train_result res;
    st = alig_train(model, task, solver, sv.params, &tp, resume ? &ck : NULL, observe, &pg, &res);
    if (st && pg.tty) fputc('\n', stderr);
    if (st == ALIG_ENONFINITE && res.nonfinite) {
        g_failed_everywhere = 1;
        char lt[16], where[128];
        if (res.last_checkpoint_step) {
            if (step_mode) snprintf(where, sizeof where, " (step %llu) left intact", (unsigned long long)res.last_checkpoint_step);
            else snprintf(where, sizeof where, " (epoch %zu) left intact", res.last_checkpoint_epoch);
        } else {
            snprintf(where, sizeof where, "none written yet");
        }
        if (step_mode)
            rc = cli_fail(CMD, CLI_RUNTIME, "non-finite %s at step %llu (loss %s); stopped; log written; last "
                          "checkpoint %s%s", res.nonfinite_what, (unsigned long long)res.fail_step,
                          num_text(res.fail_loss, lt, sizeof lt), res.last_checkpoint_step ? ck_path : "", where);
        else
            rc = cli_fail(CMD, CLI_RUNTIME, "non-finite %s at epoch %zu, batch %zu (step %llu, loss %s); stopped; last "
                          "checkpoint %s%s", res.nonfinite_what, res.fail_epoch, res.fail_batch,
                          (unsigned long long)res.fail_step, num_text(res.fail_loss, lt, sizeof lt),
                          res.last_checkpoint_step ? ck_path : "", where);
        goto done;
    }
    if (st && resume && res.steps_done <= ck.steps_done && (st == ALIG_EINVAL || st == ALIG_EFORMAT)) {
        /* the checkpoint does not fit the run directory or is inconsistent: the data's fault (exit 1) */
        rc = cli_fail(CMD, CLI_RUNTIME, "--resume: %s: %s", ck_path, res.error[0] ? res.error : alig_strerror(st));
        goto done;
    }
    if (st) {
        if (alig_dist_train_disagreed(shards)) g_failed_everywhere = 1;    /* every rank found it */
        /* refused settings are usage errors; after a step (ranks that disagree) it is a runtime failure */
        const int refused = (st == ALIG_EUNSUPPORTED || st == ALIG_EINVAL) && res.steps_done <= pg.step0;
        rc = cli_fail(CMD, refused ? CLI_USAGE : CLI_RUNTIME, "%s",
                      res.error[0] ? res.error : alig_strerror(st));
        goto done;
    }
    if (pg.diverged) {
        g_failed_everywhere = 1;    /* every rank saw the same reduced losses against the same reference */
        char what[64], ref[64];
        if (step_mode) {
            snprintf(what, sizeof what, "mean loss of the window ending at step %llu", (unsigned long long)pg.div_step);
            snprintf(ref, sizeof ref, "the first window's");
        } else {
            snprintf(what, sizeof what, "training loss of epoch %zu", pg.div_epoch);
            snprintf(ref, sizeof ref, "epoch 1's");
        }
        rc = cli_fail(CMD, CLI_RUNTIME, "diverged: the %s is %.3g, %.3g times %s %.3g (more than %g times: exploding); "
                      "stopped; log and checkpoint written in %s", what, pg.div_loss, pg.div_loss / pg.first_loss, ref,
                      pg.first_loss, TRAIN_EXPLODE_FACTOR, dir);
        goto done;
    }
    if (profile && res.profiled) rc = profile_report(dir, c.batch, &res, quiet);
done:
    if (rc && made_dir) rmdir(dir);     /* a start that failed before writing anything leaves no directory */
    alig_train_checkpoint_free(&ck);
    alig_solver_free(solver);
    alig_model_free(model);
    alig_task_free(task);
    cli_solver_free(&sv);
    sb_free(&settings);
    sb_free(&extra);
    free(ck_path);
    alig_dist_train_free(shards);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    char err[512];
    if (alig_dist_init(&argc, &argv, err, sizeof err)) return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    int rc = train_main(argc, argv);
    if (alig_dist_size() > 1) {
        if (!g_met) ranks_meet(rc ? rc : CLI_USAGE);   /* stopped before training: the others stop too */
        else if (rc && !g_failed_everywhere) {
            fflush(NULL);
            alig_dist_abort(rc);    /* the other ranks may be waiting for this one */
        }
    }
    alig_dist_finalize();
    return rc;
}
