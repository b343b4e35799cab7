/* train.c - the training loop (include/alig/train.h): epochs or steps over a task's batches,
 * gradient clipping, the solver step, log records, checkpoints, config.json, exact resume, the
 * profiler hook and the observer.
 *
 * Why the loop is written the way it is:
 *   - batch k comes from the task as a pure function of k, so the loop's only state is a few
 *     counters and the sums of the open log window; they go into the checkpoint with the model
 *     and solver state, and a resumed run cannot tell it was interrupted;
 *   - in step mode a run that ends inside a window saves its checkpoint *before* logging that
 *     last short window, so a later, longer run resumed from it closes the window where the
 *     uninterrupted run would (the short record lives in the log files only);
 *   - epoch-mode records are byte for byte those `alig train` wrote before the loop moved here,
 *     and the order of floating-point operations on the accumulators is the same;
 *   - ‖g‖² is only formed when something needs it (step-mode records count zero gradients,
 *     clipping needs the norm), in double, serially (a fixed order: reproducible);
 *   - each record is appended to log.csv and log.jsonl (work linear in the run's length); the
 *     files are synced before every checkpoint, which records their lengths and CRC-32s, so the
 *     logs on disk always hold at least what the newest checkpoint says; a resume checks that
 *     prefix (and the checkpoint's counters against its records) and cuts off the rest: records
 *     logged after the checkpoint, a record torn by a crash. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "train_impl.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

/* ---------------------------------------------------------------- log records */

static const char *const epoch_header =
    "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,step_mean,step_unclipped_mean,clipped_frac,"
    "seconds,train_seconds,eval_seconds,images,images_per_s,steps,lr,train_eval_loss,train_eval_acc,eps_max,eps_q50,"
    "eps_q90,eps_q99,eps_q999,eps_seconds\n";

/* The ε report's columns, appended after lr (records of a run resumed from an older build's logs are
 * padded: upgrade_epoch_csv). */
static const char *const eps_keys[] = { "train_eval_loss", "train_eval_acc", "eps_max", "eps_q50", "eps_q90",
                                        "eps_q99", "eps_q999", "eps_seconds" };

static const char *const window_header =
    "step,window_steps,loss_mean,step_mean,step_unclipped_mean,clipped_frac,zero_grad,clip_events,seconds,"
    "steps_per_s\n";

static void epoch_append(const alig_train_row *r, tr_text *csv, tr_text *jsonl)
{
    const char *keys[] = { "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "step_mean",
                           "step_unclipped_mean", "clipped_frac", "seconds", "train_seconds", "eval_seconds" };
    const double vals[] = { r->train_loss, r->train_acc, r->val_loss, r->val_acc, r->test_loss, r->test_acc,
                            r->step_mean, r->step_unclipped_mean, r->clipped_frac, r->seconds, r->train_seconds,
                            r->eval_seconds };
    if (csv->len == 0) tr_text_printf(csv, "%s", epoch_header);
    tr_text_printf(csv, "%zu", r->epoch);
    tr_text_printf(jsonl, "{\"epoch\":%zu", r->epoch);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tr_text_printf(csv, ",");
        tr_text_num(csv, vals[i], 0);
        tr_text_printf(jsonl, ",\"%s\":", keys[i]);
        tr_text_num(jsonl, vals[i], 1);
    }
    tr_text_printf(csv, ",%zu,", r->images);
    tr_text_num(csv, r->images_per_s, 0);
    tr_text_printf(csv, ",%llu,", (unsigned long long)r->steps);
    tr_text_num(csv, r->lr, 0);
    tr_text_printf(jsonl, ",\"images\":%zu,\"images_per_s\":", r->images);
    tr_text_num(jsonl, r->images_per_s, 1);
    tr_text_printf(jsonl, ",\"steps\":%llu,\"lr\":", (unsigned long long)r->steps);
    tr_text_num(jsonl, r->lr, 1);
    const double eps[] = { r->train_eval_loss, r->train_eval_acc, r->eps_max, r->eps_q50, r->eps_q90, r->eps_q99,
                           r->eps_q999, r->eps_seconds };
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        tr_text_printf(csv, ",");
        tr_text_num(csv, eps[i], 0);
        tr_text_printf(jsonl, ",\"%s\":", eps_keys[i]);
        tr_text_num(jsonl, eps[i], 1);
    }
    tr_text_printf(csv, "\n");
    tr_text_printf(jsonl, "}\n");
}

/* A resumed run's log.csv written by a build with fewer epoch columns (its header a proper prefix of
 * epoch_header, cut at a comma): the header becomes epoch_header and every row gets "nan" for each
 * column it lacks, so that the file stays rectangular. Anything else is left alone. */
static void upgrade_epoch_csv(tr_text *csv)
{
    if (!csv->p || csv->len == 0) return;
    const char *nl = memchr(csv->p, '\n', csv->len);
    if (!nl) return;
    const size_t hlen = (size_t)(nl - csv->p), full = strlen(epoch_header) - 1;   /* without '\n' */
    if (hlen >= full || memcmp(csv->p, epoch_header, hlen) || epoch_header[hlen] != ',') return;
    size_t missing = 0;
    for (size_t i = hlen; i < full; i++) missing += epoch_header[i] == ',';
    tr_text t = { 0 };
    tr_text_printf(&t, "%s", epoch_header);
    for (const char *p = nl + 1, *end = csv->p + csv->len; p < end;) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        const size_t len = e ? (size_t)(e - p) : (size_t)(end - p);
        tr_text_add(&t, p, len);
        for (size_t k = 0; k < missing; k++) tr_text_printf(&t, ",nan");
        tr_text_printf(&t, "\n");
        p += len + (e ? 1 : 0);
    }
    if (t.failed) {
        csv->failed = 1;
        tr_text_free(&t);
        return;
    }
    tr_text_free(csv);
    *csv = t;
}

static void window_append(const alig_train_row *r, tr_text *csv, tr_text *jsonl)
{
    const char *keys[] = { "loss_mean", "step_mean", "step_unclipped_mean", "clipped_frac" };
    const double vals[] = { r->loss_mean, r->step_mean, r->step_unclipped_mean, r->clipped_frac };
    if (csv->len == 0) tr_text_printf(csv, "%s", window_header);
    tr_text_printf(csv, "%llu,%llu", (unsigned long long)r->steps, (unsigned long long)r->window_steps);
    tr_text_printf(jsonl, "{\"step\":%llu,\"window_steps\":%llu", (unsigned long long)r->steps,
                   (unsigned long long)r->window_steps);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        tr_text_printf(csv, ",");
        tr_text_num(csv, vals[i], 0);
        tr_text_printf(jsonl, ",\"%s\":", keys[i]);
        tr_text_num(jsonl, vals[i], 1);
    }
    tr_text_printf(csv, ",%llu,%llu,", (unsigned long long)r->zero_grad, (unsigned long long)r->clip_events);
    tr_text_printf(jsonl, ",\"zero_grad\":%llu,\"clip_events\":%llu,\"seconds\":", (unsigned long long)r->zero_grad,
                   (unsigned long long)r->clip_events);
    tr_text_num(csv, r->seconds, 0);
    tr_text_num(jsonl, r->seconds, 1);
    tr_text_printf(csv, ",");
    tr_text_num(csv, r->steps_per_s, 0);
    tr_text_printf(csv, "\n");
    tr_text_printf(jsonl, ",\"steps_per_s\":");
    tr_text_num(jsonl, r->steps_per_s, 1);
    tr_text_printf(jsonl, "}\n");
}

/* ---------------------------------------------------------------- config.json */

/* A describe() function's text into t. */
static void add_described(tr_text *t, int (*fn)(const void *, char *, size_t), const void *obj)
{
    const int k = fn(obj, NULL, 0);
    if (k <= 0) return;
    char *buf = malloc((size_t)k + 1);
    if (!buf) { t->failed = 1; return; }
    fn(obj, buf, (size_t)k + 1);
    tr_text_add(t, buf, (size_t)k);
    free(buf);
}

static int task_describe_cb(const void *t, char *buf, size_t len)
{
    const alig_task *task = t;
    return task->type->describe(task, buf, len);
}

static void json_double(tr_text *t, double v)
{
    if (isfinite(v)) tr_text_printf(t, "%.17g", v);
    else tr_text_printf(t, "\"%s\"", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static void solver_params_json(tr_text *t, const alig_solver_type *type, const void *params)
{
    for (size_t i = 0; i < type->n_params_desc; i++) {
        const alig_param_desc *d = &type->params_desc[i];
        const char *field = (const char *)params + d->offset;
        tr_text_printf(t, ", \"%s\": ", d->name);
        switch (d->kind) {
        case ALIG_PARAM_DOUBLE: {
            double v;
            memcpy(&v, field, sizeof v);
            json_double(t, v);
            break;
        }
        case ALIG_PARAM_BOOL: {
            int v;
            memcpy(&v, field, sizeof v);
            tr_text_printf(t, "%s", v ? "true" : "false");
            break;
        }
        case ALIG_PARAM_ENUM: {
            char buf[64];
            alig_params_format(d, params, buf, sizeof buf);
            tr_text_printf(t, "\"%s\"", buf);
            break;
        }
        case ALIG_PARAM_LIST: {
            alig_double_list l;
            memcpy(&l, field, sizeof l);
            tr_text_printf(t, "[");
            for (size_t j = 0; j < l.n; j++) {
                if (j) tr_text_printf(t, ", ");
                json_double(t, l.v[j]);
            }
            tr_text_printf(t, "]");
            break;
        }
        }
    }
}

/* The text of config.json into t (checked for t->failed by the caller). */
static void build_config(tr_text *t_, const alig_model *model, const alig_task *task, const alig_solver *solver,
                         const void *sp, const alig_train_params *p, uint64_t total)
{
    tr_text t = *t_;
    const alig_solver_type *st = alig_solver_get_type(solver);
    tr_text_printf(&t, "{\n  \"mode\": \"%s\",\n", p->epochs ? "epochs" : "steps");
    const char *loss = model->type->loss_name ? model->type->loss_name(model->impl) : NULL;
    tr_text_printf(&t, "  \"task\": { \"name\": \"%s\", \"loss\": \"%s\", ", task->type->name,
                   loss ? loss : task->type->loss);
    add_described(&t, task_describe_cb, task);
    tr_text_printf(&t, " },\n  \"model\": { \"family\": \"%s\", ", model->type->name);
    add_described(&t, model->type->describe, model->impl);
    tr_text_printf(&t, " },\n  \"solver\": { \"name\": \"%s\", \"precision\": \"float32\", \"radius\": ", st->name);
    json_double(&t, alig_solver_radius(solver));
    solver_params_json(&t, st, sp);
    tr_text_printf(&t, " },\n  \"train\": { \"epochs\": %zu, \"steps\": %llu, \"batches_per_epoch\": %zu, "
                   "\"log_every\": %llu, \"checkpoint_every\": %llu, \"clip_norm\": ",
                   p->epochs, (unsigned long long)total, task->epoch_batches,
                   (unsigned long long)(p->epochs ? 0 : p->log_every),
                   (unsigned long long)(p->epochs ? 1 : p->checkpoint_every));
    json_double(&t, p->clip_norm);
    tr_text_printf(&t, ", \"checkpoint_unit\": \"%s\", \"inject_nan_at\": %llu, \"eps_report\": %s }",
                   p->epochs ? "epoch" : "step", (unsigned long long)p->inject_nan_at, p->eps_report ? "true" : "false");
    if (p->config_extra && p->config_extra[0]) tr_text_printf(&t, ",\n  \"run\": { %s }", p->config_extra);
    tr_text_printf(&t, "\n}\n");
    *t_ = t;
}

static alig_status write_config(const char *path, const alig_model *model, const alig_task *task,
                                const alig_solver *solver, const void *sp, const alig_train_params *p, uint64_t total,
                                char *err, size_t errlen)
{
    tr_text t = { 0 };
    build_config(&t, model, task, solver, sp, p, total);
    alig_status rc = t.failed ? ALIG_ENOMEM : tr_write_atomic(path, t.p, t.len, NULL, err, errlen);
    tr_text_free(&t);
    return rc;
}

/* The members of config.json that describe what is trained (mode, task, model, solver), as
 * opposed to how long and under which process ("train", "run"): the text before "train". */
static size_t config_identity_len(const char *text, size_t len)
{
    static const char marker[] = "\n  \"train\": ";
    const size_t m = sizeof marker - 1;
    for (size_t i = 0; i + m <= len; i++)
        if (!memcmp(text + i, marker, m)) return i;
    return len;
}

/* ---------------------------------------------------------------- resume */

static alig_status restore(const alig_train_checkpoint *ck, alig_model *model, alig_solver *solver, tr_loop *L,
                           char *err, size_t errlen)
{
    const char *why = NULL;
    const int dlen = model->type->describe(model->impl, NULL, 0);
    char *desc = malloc(dlen > 0 ? (size_t)dlen + 1 : 1);
    if (!desc) return ALIG_ENOMEM;
    desc[0] = '\0';
    if (dlen > 0) model->type->describe(model->impl, desc, (size_t)dlen + 1);
    if (strcmp(ck->model, model->name)) why = "it was written for another model";
    else if (!ck->model_desc || strcmp(ck->model_desc, desc)) why = "the model's description differs (sizes, options)";
    else if (ck->n != alig_model_n(model) || ck->nbuf != alig_model_nbuf(model)) why = "parameter counts differ";
    else if (strcmp(ck->solver, alig_solver_name(solver))) why = "it was written with another solver";
    else if (ck->step_mode != L->step_mode) why = "it was written in the other mode (epochs vs steps)";
    else if (L->step_mode && ck->log_every != L->log_every) why = "its log_every differs";
    else if (!(ck->clip_norm == L->clip_norm)) why = "its clip_norm differs";
    free(desc);
    if (why) {
        if (err && errlen) snprintf(err, errlen, "the checkpoint does not belong to this run: %s", why);
        return ALIG_EINVAL;
    }
    alig_status rc = alig_solver_state_import(solver, ck->state, ck->state_bytes);
    if (rc) {
        if (err && errlen) snprintf(err, errlen, "the solver state does not fit (%s)", alig_strerror(rc));
        return rc;
    }
    memcpy(alig_model_x(model), ck->x, ck->n * sizeof(float));
    if (ck->nbuf) memcpy(alig_model_buf(model), ck->buf, ck->nbuf * sizeof(float));
    if (model->type->set_rng) model->type->set_rng(model->impl, ck->rng_seed, ck->rng_step);
    L->steps_done = ck->steps_done;
    L->epochs_done = ck->epochs_done;
    L->win_loss = ck->win_loss;
    L->win_step = ck->win_step;
    L->win_stepu = ck->win_stepu;
    L->win_steps = ck->win_steps;
    L->win_zero_grad = ck->win_zero_grad;
    L->win_clips = ck->win_clips;
    L->win_clipped = ck->win_clipped;
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- the loop */

typedef struct run {
    alig_model *model;
    alig_task *task;
    alig_solver *solver;
    const void *sp;
    const alig_train_params *p;
    alig_train_observer obs;
    void *ctx;
    alig_train_result *res;
    tr_loop L;
    tr_text csv, jsonl;         /* the logs: every record of the run so far */
    char *ck_path, *csv_path, *jsonl_path, *cfg_path;
    int dir_fd;                 /* the run directory, locked while the run lasts; -1: none */
    int csv_fd, jsonl_fd;       /* the log files, appended to; -1: none */
    size_t csv_done, jsonl_done;    /* bytes of csv, jsonl that are in the files */
    uint32_t csv_crc, jsonl_crc;    /* CRC-32 of those bytes */
    /* profiler */
    alig_ad_graph *G;
    int skip_warmup;
    /* ε report: the training split's per-sample losses */
    double *eps_losses;
} run;

/* The checkpoint records how far the log files go: call after append_logs and sync_logs. */
static alig_status save_checkpoint(run *r)
{
    if (r->p->shard_size > 1 && r->p->agree) {  /* every shard, with or without files */
        char why[400] = "";
        alig_status ast = r->p->agree(r->p->shard_ctx, alig_model_x(r->model), alig_model_n(r->model),
                                      alig_model_buf(r->model), alig_model_nbuf(r->model), r->L.steps_done, why,
                                      sizeof why);
        if (ast) {
            snprintf(r->res->error, sizeof r->res->error, "after step %llu the %d shards disagree: %s",
                     (unsigned long long)r->L.steps_done, r->p->shard_size, why[0] ? why : alig_strerror(ast));
            return ast;
        }
    }
    if (!r->ck_path) return ALIG_SUCCESS;
    const tr_logpos pos = { .csv_bytes = r->csv_done, .jsonl_bytes = r->jsonl_done, .csv_crc = r->csv_crc,
                            .jsonl_crc = r->jsonl_crc };
    alig_status st = tr_checkpoint_save(r->ck_path, r->model, r->solver, r->sp, &r->L, &pos, r->p->user,
                                        r->p->user_bytes, r->res->error, sizeof r->res->error);
    if (!st) {
        r->res->last_checkpoint_step = r->L.steps_done;
        r->res->last_checkpoint_epoch = r->L.epochs_done;
    }
    return st;
}

static alig_status io_fail(run *r, const char *path, const char *what, int e)
{
    snprintf(r->res->error, sizeof r->res->error, "%s: %s: %s", path, what, strerror(e));
    return ALIG_EIO;
}

/* Append the bytes of t the file does not have yet (a record, usually) at offset *done. A failed
 * write is cut back off the file (best effort) and reported. */
static alig_status append_text(run *r, int fd, const char *path, const tr_text *t, size_t *done, uint32_t *crc,
                               int crash_points)
{
    if (t->failed) return ALIG_ENOMEM;
    const size_t len = t->len - *done;
    const char *p = t->p + *done;
    const size_t cut = crash_points ? len / 2 : len;     /* testing hook: a record torn in the middle */
    size_t off = 0;
    while (off < len) {
        if (crash_points && off == cut && cut) tr_crash_point("log-partial");
        const ssize_t k = pwrite(fd, p + off, (off < cut ? cut : len) - off, (off_t)(*done + off));
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            const int e = k < 0 ? errno : ENOSPC;
            if (ftruncate(fd, (off_t)*done) != 0) { /* the resume cuts it off anyway */ }
            return io_fail(r, path, "cannot append a record", e);
        }
        off += (size_t)k;
    }
    *crc = tr_crc32(*crc, p, len);
    *done = t->len;
    return ALIG_SUCCESS;
}

/* Open a log file for appending (created on the first record of a new run). */
static alig_status open_log(run *r, const char *path, int *fd)
{
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    return *fd < 0 ? io_fail(r, path, "cannot open", errno) : ALIG_SUCCESS;
}

/* Append the new records to log.csv and log.jsonl. */
static alig_status append_logs(run *r)
{
    if (!r->csv_path) return r->csv.failed || r->jsonl.failed ? ALIG_ENOMEM : ALIG_SUCCESS;
    alig_status st = ALIG_SUCCESS;
    if (r->csv_fd < 0 && ((st = open_log(r, r->csv_path, &r->csv_fd)) || (st = open_log(r, r->jsonl_path, &r->jsonl_fd))))
        return st;
    const int record = r->csv.len > r->csv_done;
    st = append_text(r, r->csv_fd, r->csv_path, &r->csv, &r->csv_done, &r->csv_crc, 1);
    if (!st && record) tr_crash_point("log-csv");
    if (!st) st = append_text(r, r->jsonl_fd, r->jsonl_path, &r->jsonl, &r->jsonl_done, &r->jsonl_crc, 0);
    return st;
}

/* Make the appended records durable (before a checkpoint that counts them, and at the end). */
static alig_status sync_logs(run *r)
{
    if (r->csv_fd < 0 || r->jsonl_fd < 0) return ALIG_SUCCESS;
    if (fdatasync(r->csv_fd) != 0) return io_fail(r, r->csv_path, "cannot sync", errno);
    if (fdatasync(r->jsonl_fd) != 0) return io_fail(r, r->jsonl_path, "cannot sync", errno);
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- resume: the logs it continues */

/* Field `col` (0-based, comma-separated) of the line [a, b) as a decimal integer: 0, or -1. */
static int field_u64(const char *a, const char *b, size_t col, uint64_t *out)
{
    const char *f = a;
    for (size_t c = 0; c < col; c++) {
        f = memchr(f, ',', (size_t)(b - f));
        if (!f) return -1;
        f++;
    }
    const char *e = memchr(f, ',', (size_t)(b - f));
    if (!e) e = b;
    if (f == e) return -1;
    uint64_t v = 0;
    for (const char *c = f; c < e; c++) {
        if (*c < '0' || *c > '9') return -1;
        const uint64_t d = (uint64_t)(*c - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* The index of column `name` in the header line [a, b), or -1. */
static long column_of(const char *a, const char *b, const char *name)
{
    const size_t k = strlen(name);
    long col = 0;
    for (const char *f = a; f <= b; col++) {
        const char *e = memchr(f, ',', (size_t)(b - f));
        if (!e) e = b;
        if ((size_t)(e - f) == k && !memcmp(f, name, k)) return col;
        f = e + 1;
    }
    return -1;
}

#define FAILF(code, ...) do { snprintf(r->res->error, sizeof r->res->error, __VA_ARGS__); return code; } while (0)

/* The checkpoint's counters against the records of the logs it continues (r->csv, r->jsonl).
 * Epoch mode: records numbered 1, 2, ..., epochs_done, the j-th after j·E steps (E batches per
 * epoch), and steps_done = epochs_done·E (checkpoints fall at epoch ends). Step mode: full
 * windows (a short one is only ever logged after the last checkpoint), the j-th ending at step
 * j·log_every, and steps_done = records·log_every + the open window's steps (< log_every). */
static alig_status check_counters(run *r, const alig_train_checkpoint *ck, int have_logs)
{
    const char *t = r->csv.p ? r->csv.p : "", *end = t + r->csv.len;
    const char *csv = r->csv_path ? r->csv_path : "the checkpoint's log.csv";
    const char *jsonl = r->jsonl_path ? r->jsonl_path : "the checkpoint's log.jsonl";
    const int sm = r->L.step_mode;
    const uint64_t E = r->task->epoch_batches, K = r->L.log_every;
    size_t rows = 0;
    if (!have_logs) {   /* a version-2 checkpoint resumed without its run directory: the counters alone */
        if (sm ? ck->win_steps < K : (ck->steps_done % E == 0 && ck->steps_done / E == ck->epochs_done))
            return ALIG_SUCCESS;
        FAILF(ALIG_EFORMAT, "the checkpoint's counters disagree: steps_done %llu, epochs_done %zu, %llu step(s) in the "
              "open log window", (unsigned long long)ck->steps_done, ck->epochs_done, (unsigned long long)ck->win_steps);
    }
    if (t < end) {
        if (end[-1] != '\n') FAILF(ALIG_EFORMAT, "%s: the part the checkpoint continues ends inside a line", csv);
        const char *nl = memchr(t, '\n', (size_t)(end - t));
        const long c1 = column_of(t, nl, sm ? "window_steps" : "steps");
        if (column_of(t, nl, sm ? "step" : "epoch") != 0 || c1 < 0)
            FAILF(ALIG_EFORMAT, "%s: the first line is not the header of a %s-mode log", csv, sm ? "step" : "epoch");
        for (const char *a = nl + 1; a < end; a++) {
            const char *b = memchr(a, '\n', (size_t)(end - a));
            const uint64_t j = (uint64_t)++rows;
            uint64_t v0 = 0, v1 = 0;
            const int bad = field_u64(a, b, 0, &v0) || field_u64(a, b, (size_t)c1, &v1);
            if (sm && (bad || v1 != K || v0 / K != j || v0 % K))
                FAILF(ALIG_EFORMAT, "%s: record %zu is not the window of %llu steps ending at step %llu", csv, rows,
                      (unsigned long long)K, (unsigned long long)(j * K));
            if (!sm && (bad || v0 != j || v1 % E || v1 / E != j))
                FAILF(ALIG_EFORMAT, "%s: record %zu is not epoch %llu ending at step %llu", csv, rows,
                      (unsigned long long)j, (unsigned long long)(j * E));
            a = b;
        }
    }
    size_t jrows = 0;
    for (size_t i = 0; i < r->jsonl.len; i++) jrows += r->jsonl.p[i] == '\n';
    if (r->jsonl.len && r->jsonl.p[r->jsonl.len - 1] != '\n')
        FAILF(ALIG_EFORMAT, "%s: the part the checkpoint continues ends inside a line", jsonl);
    if (jrows != rows)
        FAILF(ALIG_EFORMAT, "%s holds %zu record(s) where %s holds %zu: the checkpoint's log lengths disagree", jsonl,
              jrows, csv, rows);
    if (!sm) {
        if (ck->epochs_done != rows)
            FAILF(ALIG_EFORMAT, "the checkpoint's epochs_done (%zu) disagrees with the %zu epoch record(s) of the log it "
                  "continues (%s)", ck->epochs_done, rows, csv);
        if (ck->steps_done % E || ck->steps_done / E != ck->epochs_done)
            FAILF(ALIG_EFORMAT, "the checkpoint's steps_done (%llu) is not its epochs_done (%zu) times the %llu batches "
                  "of an epoch", (unsigned long long)ck->steps_done, ck->epochs_done, (unsigned long long)E);
    } else {
        if (ck->win_steps >= K)
            FAILF(ALIG_EFORMAT, "the checkpoint's open log window holds %llu steps, not fewer than log_every (%llu)",
                  (unsigned long long)ck->win_steps, (unsigned long long)K);
        if ((rows && K > (UINT64_MAX - ck->win_steps) / rows) || (uint64_t)rows * K + ck->win_steps != ck->steps_done)
            FAILF(ALIG_EFORMAT, "the checkpoint's steps_done (%llu) disagrees with the log it continues (%s): %zu "
                  "window(s) of %llu steps and %llu step(s) in the open one", (unsigned long long)ck->steps_done, csv,
                  rows, (unsigned long long)K, (unsigned long long)ck->win_steps);
    }
    return ALIG_SUCCESS;
}

/* One log the checkpoint continues, into t. Version 1 carries it (the file, if any, must agree
 * with it on their common part: the file may lack the newest record or hold later ones); version
 * 2 names the first `bytes` of the file, which must be there with the recorded CRC-32. */
static alig_status load_log(run *r, const char *path, const char *copy, size_t bytes, uint32_t crc, tr_text *t)
{
    if (copy) {
        tr_text_add(t, copy, bytes);
        if (t->failed) return ALIG_ENOMEM;
        FILE *f = path ? fopen(path, "rb") : NULL;
        if (!f) return ALIG_SUCCESS;
        char buf[4096];
        size_t off = 0, k;
        while (off < bytes && (k = fread(buf, 1, sizeof buf < bytes - off ? sizeof buf : bytes - off, f)) > 0) {
            for (size_t i = 0; i < k; i++)
                if (buf[i] != copy[off + i]) {
                    fclose(f);
                    FAILF(ALIG_EFORMAT, "%s differs from the log the checkpoint continues (at byte %zu): was the "
                          "checkpoint copied from another run?", path, off + i);
                }
            off += k;
        }
        fclose(f);
        return ALIG_SUCCESS;
    }
    if (!path) return ALIG_SUCCESS;     /* no run directory: nothing to continue */
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && bytes == 0) return ALIG_SUCCESS;
    if (fd < 0 && errno == ENOENT)
        FAILF(ALIG_EFORMAT, "%s is missing: the checkpoint continues its first %zu bytes", path, bytes);
    if (fd < 0) return io_fail(r, path, "cannot open", errno);
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        const int e = errno;
        close(fd);
        return io_fail(r, path, "cannot stat", e);
    }
    if ((uint64_t)sb.st_size < bytes) {
        close(fd);
        FAILF(ALIG_EFORMAT, "%s holds %llu bytes, fewer than the %zu the checkpoint continues: it is not the log of "
              "this checkpoint (copied from another run?) or was cut short", path, (unsigned long long)sb.st_size,
              bytes);
    }
    char *buf = malloc(bytes ? bytes : 1);
    if (!buf) {
        close(fd);
        return ALIG_ENOMEM;
    }
    size_t off = 0;
    while (off < bytes) {
        const ssize_t k = read(fd, buf + off, bytes - off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            const int e = k < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return io_fail(r, path, "cannot read", e);
        }
        off += (size_t)k;
    }
    close(fd);
    if (tr_crc32(0, buf, bytes) != crc) {
        free(buf);
        FAILF(ALIG_EFORMAT, "%s differs from the log the checkpoint continues (the CRC-32 of its first %zu bytes): "
              "was the checkpoint copied from another run, or the log edited?", path, bytes);
    }
    tr_text_add(t, buf, bytes);
    free(buf);
    return t->failed ? ALIG_ENOMEM : ALIG_SUCCESS;
}

/* A config.json in the run directory must describe the run of the checkpoint: the same mode,
 * task, model and solver members as this run's (the length and the process may differ). */
static alig_status check_config(run *r, uint64_t total)
{
    FILE *f = fopen(r->cfg_path, "rb");
    if (!f) return errno == ENOENT ? ALIG_SUCCESS : io_fail(r, r->cfg_path, "cannot open", errno);
    tr_text have = { 0 }, want = { 0 };
    char buf[4096];
    for (size_t k; (k = fread(buf, 1, sizeof buf, f)) > 0 && have.len < ((size_t)1 << 24);) tr_text_add(&have, buf, k);
    const int rerr = ferror(f);
    fclose(f);
    build_config(&want, r->model, r->task, r->solver, r->sp, r->p, total);
    alig_status st = have.failed || want.failed ? ALIG_ENOMEM : rerr ? io_fail(r, r->cfg_path, "cannot read", EIO)
                                                                      : ALIG_SUCCESS;
    const size_t a = st ? 0 : config_identity_len(have.p, have.len), b = st ? 0 : config_identity_len(want.p, want.len);
    if (!st && (a != b || memcmp(have.p, want.p, a))) {
        /* name the member of the first line that differs */
        size_t i = 0, line = 0;
        while (i < a && i < b && have.p[i] == want.p[i]) {
            if (want.p[i] == '\n') line = i + 1;
            i++;
        }
        const char *q = want.p + line;
        char member[32] = "header";
        if (!strncmp(q, "  \"", 3)) {
            const char *e = strchr(q + 3, '"');
            if (e && (size_t)(e - q - 3) < sizeof member) {
                memcpy(member, q + 3, (size_t)(e - q - 3));
                member[e - q - 3] = '\0';
            }
        }
        snprintf(r->res->error, sizeof r->res->error, "%s describes another run (its \"%s\" member differs from the "
                 "checkpoint's run): was the checkpoint copied from another run directory?", r->cfg_path, member);
        st = ALIG_EINVAL;
    }
    tr_text_free(&have);
    tr_text_free(&want);
    return st;
}

/* The log files at the start: a new run removes any from an earlier start that died before its
 * first checkpoint (its files are created with its first record); a resumed one cuts them back
 * to what the checkpoint continues (t), after rewriting them from a version-1 checkpoint's copy. */
static alig_status start_log(run *r, const char *path, const alig_train_checkpoint *ck, const tr_text *t, int *fd)
{
    if (!ck) return unlink(path) != 0 && errno != ENOENT ? io_fail(r, path, "cannot remove", errno) : ALIG_SUCCESS;
    if (ck->version == 1) {
        alig_status st = tr_write_atomic(path, t->p ? t->p : "", t->len, NULL, r->res->error, sizeof r->res->error);
        if (st) return st;
    }
    alig_status st = open_log(r, path, fd);
    if (!st && ftruncate(*fd, (off_t)t->len) != 0) st = io_fail(r, path, "cannot cut back to the checkpoint", errno);
    return st;
}

#undef FAILF

/* One step: batch k, gradient, clipping, solver step. *nonfinite names what was not finite. */
typedef struct step_out {
    double loss, step, stepu;
    size_t n, correct;
    int zero_grad, clipped_norm;
    const char *nonfinite;
} step_out;

static alig_status one_step(run *r, step_out *o)
{
    memset(o, 0, sizeof *o);
    const uint64_t k = r->L.steps_done;
    alig_batch b;
    alig_status st = alig_task_batch(r->task, k, &b);
    if (st) {
        snprintf(r->res->error, sizeof r->res->error, "batch %llu of the task: %s", (unsigned long long)k + 1,
                 alig_strerror(st));
        return st;
    }
    const int prof = r->G && b.n == (size_t)r->task->shape.batch;
    const double t_batch = prof ? now_s() : 0.0;
    /* data parallelism: this shard's slice, then the reduction to the whole batch (shard.c) */
    st = r->p->shard_size > 1 ? tr_shard_gradient(r->model, &b, r->p, &o->loss, &o->correct, r->res->error,
                                                  sizeof r->res->error)
                              : alig_model_gradient(r->model, &b, &o->loss, &o->correct);
    if (st) {
        if (!r->res->error[0])
            snprintf(r->res->error, sizeof r->res->error, "gradient of step %llu: %s", (unsigned long long)k + 1,
                     alig_strerror(st));
        return st;
    }
    o->n = b.n;
    if (r->p->inject_nan_at && k + 1 == r->p->inject_nan_at) o->loss = NAN;
    if (!isfinite(o->loss)) {
        o->nonfinite = "loss";
        return ALIG_ENONFINITE;
    }
    float *g = alig_model_g(r->model);
    const size_t n = alig_model_n(r->model);
    const int clip = isfinite(r->L.clip_norm);
    if (r->L.step_mode || clip) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
        o->zero_grad = s == 0.0;
        if (clip) {
            const double norm = sqrt(s), c = r->L.clip_norm;
            if (!isfinite(norm)) {
                o->nonfinite = "gradient norm";
                return ALIG_ENONFINITE;
            }
            if (norm > c) {     /* g ← g · c / max(‖g‖, c); the scale is 1 otherwise */
                const float scale = (float)(c / norm);
                for (size_t i = 0; i < n; i++) g[i] *= scale;
                o->clipped_norm = 1;
            }
        }
    }
    st = alig_solver_step(r->solver, o->loss, g);
    if (st == ALIG_ENONFINITE) {
        o->nonfinite = "gradient or iterate";
        return st;
    }
    if (st) {
        snprintf(r->res->error, sizeof r->res->error, "solver step: %s", alig_strerror(st));
        return st;
    }
    if (prof) {
        if (r->skip_warmup) {
            r->skip_warmup = 0;
            if ((st = alig_ad_graph_set_profile(r->G, 1))) return st;   /* reset: the warm-up batch is left out */
        } else {
            r->res->profile_step_seconds += now_s() - t_batch;
        }
    }
    o->step = alig_solver_step_size(r->solver);
    o->stepu = alig_solver_step_size_unclipped(r->solver);
    r->L.steps_done = k + 1;
    tr_crash_point("step");
    return ALIG_SUCCESS;
}

static void note_nonfinite(run *r, const step_out *o)
{
    alig_train_result *res = r->res;
    res->nonfinite = 1;
    res->nonfinite_what = o->nonfinite;
    res->fail_step = r->L.steps_done + 1;
    res->fail_loss = o->loss;
    if (!r->L.step_mode && r->task->epoch_batches) {
        res->fail_epoch = (size_t)(r->L.steps_done / r->task->epoch_batches) + 1;
        res->fail_batch = (size_t)(r->L.steps_done % r->task->epoch_batches) + 1;
    }
}

static int notify(run *r, const alig_train_event *ev)
{
    return r->obs ? r->obs(ev, r->ctx) : 0;
}

/* The ε report of the epoch into rec: every training sample's loss in evaluation mode, summarised. */
static alig_status eps_report(run *r, alig_train_row *rec)
{
    const double t0 = now_s();
    const alig_image_set *set = &r->task->train;
    alig_train_eps e;
    alig_status st = alig_model_sample_losses(r->model, set, r->eps_losses, NULL, &rec->train_eval_acc);
    if (!st) st = alig_train_eps_summary(r->eps_losses, set->n, &e);
    if (st) {
        snprintf(r->res->error, sizeof r->res->error, "the ε report (per-sample losses of the training split): %s",
                 alig_strerror(st));
        return st;
    }
    rec->train_eval_loss = e.mean;
    rec->eps_max = e.max;
    rec->eps_q50 = e.q50;
    rec->eps_q90 = e.q90;
    rec->eps_q99 = e.q99;
    rec->eps_q999 = e.q999;
    rec->eps_seconds = now_s() - t0;
    return ALIG_SUCCESS;
}

static alig_status epochs_loop(run *r)
{
    const alig_train_params *p = r->p;
    alig_task *task = r->task;
    const size_t E = task->epoch_batches;
    alig_status st = ALIG_SUCCESS;
    for (size_t epoch = r->L.epochs_done; epoch < p->epochs; epoch++) {
        double loss_sum = 0.0, step_sum = 0.0, stepu_sum = 0.0, step_last = NAN;
        size_t seen = 0, correct = 0, clipped = 0, steps = 0;
        const double t0 = now_s();
        for (size_t bi = 0; bi < E; bi++) {
            step_out o;
            if ((st = one_step(r, &o))) {
                if (o.nonfinite) note_nonfinite(r, &o);
                return st;
            }
            loss_sum += o.loss * (double)o.n;
            seen += o.n;
            correct += o.correct;
            steps++;
            step_sum += o.step;
            stepu_sum += o.stepu;
            step_last = o.step;
            clipped += o.step < o.stepu;
            const alig_train_event ev = { .kind = ALIG_TRAIN_EV_STEP, .step = r->L.steps_done,
                                          .total_steps = (uint64_t)p->epochs * E, .epoch = epoch, .epochs = p->epochs,
                                          .batch = bi + 1, .epoch_batches = E, .loss = o.loss,
                                          .running_loss = loss_sum / (double)seen,
                                          .running_acc = (double)correct / (double)seen, .step_size = o.step,
                                          .samples = seen, .seconds = now_s() - t0 };
            if (notify(r, &ev)) {
                r->res->cancelled = 1;
                return ALIG_SUCCESS;
            }
        }
        const double t1 = now_s();
        const alig_train_event eev = { .kind = ALIG_TRAIN_EV_EVAL, .step = r->L.steps_done, .epoch = epoch,
                                       .epochs = p->epochs, .epoch_batches = E };
        if (notify(r, &eev)) {
            r->res->cancelled = 1;
            return ALIG_SUCCESS;
        }
        alig_train_row rec = { .window = 0, .epoch = epoch + 1, .train_loss = loss_sum / (double)seen,
                               .train_acc = (double)correct / (double)seen, .step_mean = step_sum / (double)steps,
                               .step_unclipped_mean = stepu_sum / (double)steps,
                               .clipped_frac = (double)clipped / (double)steps, .images = seen,
                               .steps = r->L.steps_done, .val_loss = NAN, .val_acc = NAN, .test_loss = NAN,
                               .test_acc = NAN, .lr = step_last };
        if (r->model->type->evaluate && task->val.n && task->test.n) {
            if ((st = r->model->type->evaluate(r->model->impl, &task->val, &rec.val_loss, &rec.val_acc)) ||
                (st = r->model->type->evaluate(r->model->impl, &task->test, &rec.test_loss, &rec.test_acc))) {
                snprintf(r->res->error, sizeof r->res->error, "evaluation: %s", alig_strerror(st));
                return st;
            }
        }
        rec.train_eval_loss = rec.train_eval_acc = rec.eps_max = rec.eps_q50 = rec.eps_q90 = rec.eps_q99 =
            rec.eps_q999 = rec.eps_seconds = NAN;
        if (r->eps_losses && (st = eps_report(r, &rec))) return st;
        /* epoch schedules (SGD's plateau) see the validation accuracy; their state is in the checkpoint */
        if ((st = alig_solver_epoch_end(r->solver, rec.val_acc))) {
            snprintf(r->res->error, sizeof r->res->error, "end of epoch %zu: the solver's schedule %s", epoch + 1,
                     st == ALIG_EINVAL && isnan(rec.val_acc) ? "needs a validation accuracy (a validation split and a "
                     "model that evaluates)" : alig_strerror(st));
            return st;
        }
        const double t2 = now_s();
        rec.train_seconds = t1 - t0;
        rec.eval_seconds = t2 - t1;
        rec.seconds = t2 - t0;
        rec.images_per_s = (double)seen / rec.train_seconds;
        epoch_append(&rec, &r->csv, &r->jsonl);
        if (r->csv.failed || r->jsonl.failed) return ALIG_ENOMEM;
        r->L.epochs_done = epoch + 1;
        /* the record in the log files first, synced, then the checkpoint that counts it */
        if ((st = append_logs(r)) || (st = sync_logs(r)) || (st = save_checkpoint(r))) return st;
        const alig_train_event rev = { .kind = ALIG_TRAIN_EV_ROW, .step = r->L.steps_done, .epoch = epoch,
                                       .epochs = p->epochs, .epoch_batches = E, .row = &rec };
        if (notify(r, &rev)) {
            r->res->cancelled = 1;
            return ALIG_SUCCESS;
        }
    }
    return ALIG_SUCCESS;
}

/* Close the open window into a record (appended to the logs; the window is reset). */
static alig_train_row close_window(run *r, double seconds)
{
    tr_loop *L = &r->L;
    const double w = (double)L->win_steps;
    alig_train_row rec = { .window = 1, .steps = L->steps_done, .window_steps = L->win_steps,
                           .loss_mean = L->win_loss / w, .step_mean = L->win_step / w,
                           .step_unclipped_mean = L->win_stepu / w, .clipped_frac = (double)L->win_clipped / w,
                           .zero_grad = L->win_zero_grad, .clip_events = L->win_clips, .seconds = seconds,
                           .steps_per_s = seconds > 0 ? w / seconds : NAN, .epoch = 0, .train_loss = NAN,
                           .train_acc = NAN, .val_loss = NAN, .val_acc = NAN, .test_loss = NAN, .test_acc = NAN,
                           .lr = NAN, .train_eval_loss = NAN, .train_eval_acc = NAN, .eps_max = NAN,
                           .eps_q50 = NAN, .eps_q90 = NAN, .eps_q99 = NAN, .eps_q999 = NAN, .eps_seconds = NAN };
    window_append(&rec, &r->csv, &r->jsonl);
    L->win_loss = L->win_step = L->win_stepu = 0.0;
    L->win_steps = L->win_zero_grad = L->win_clips = L->win_clipped = 0;
    return rec;
}

static alig_status steps_loop(run *r)
{
    const alig_train_params *p = r->p;
    tr_loop *L = &r->L;
    alig_status st = ALIG_SUCCESS;
    double t0 = now_s();
    while (L->steps_done < p->steps) {
        step_out o;
        if ((st = one_step(r, &o))) {
            if (o.nonfinite) {
                note_nonfinite(r, &o);
                /* log what finished: the open window up to the last finite step; the checkpoint stays */
                if (L->win_steps) close_window(r, now_s() - t0);
                alig_status wst = append_logs(r);
                if (!wst) wst = sync_logs(r);
                if (wst) return wst;
            }
            return st;
        }
        L->win_loss += o.loss;
        L->win_step += o.step;
        L->win_stepu += o.stepu;
        L->win_steps++;
        L->win_zero_grad += (uint64_t)o.zero_grad;
        L->win_clips += (uint64_t)o.clipped_norm;
        L->win_clipped += o.step < o.stepu;
        const alig_train_event ev = { .kind = ALIG_TRAIN_EV_STEP, .step = L->steps_done, .total_steps = p->steps,
                                      .loss = o.loss, .running_loss = L->win_loss / (double)L->win_steps,
                                      .running_acc = NAN, .step_size = o.step, .samples = o.n,
                                      .seconds = now_s() - t0 };
        if (notify(r, &ev)) {
            r->res->cancelled = 1;
            return ALIG_SUCCESS;
        }
        const int row_due = L->steps_done % L->log_every == 0;
        const int ck_due = L->steps_done % p->checkpoint_every == 0 || L->steps_done == p->steps;
        alig_train_row rec;
        int have_row = 0;
        if (row_due) {
            const double t1 = now_s();
            rec = close_window(r, t1 - t0);
            have_row = 1;
            t0 = t1;
            if (r->csv.failed || r->jsonl.failed) return ALIG_ENOMEM;
        }
        /* the records so far in the log files, synced, then the checkpoint that counts them */
        if (ck_due && ((st = append_logs(r)) || (st = sync_logs(r)) || (st = save_checkpoint(r)))) return st;
        if (!have_row && L->steps_done == p->steps && L->win_steps) {   /* the last, short window: logs only */
            rec = close_window(r, now_s() - t0);
            have_row = 1;
        }
        if (have_row) {
            if ((st = append_logs(r))) return st;
            const alig_train_event rev = { .kind = ALIG_TRAIN_EV_ROW, .step = L->steps_done, .total_steps = p->steps,
                                           .row = &rec };
            if (notify(r, &rev)) {
                r->res->cancelled = 1;
                return ALIG_SUCCESS;
            }
        }
    }
    return ALIG_SUCCESS;
}

alig_status alig_train(alig_model *model, alig_task *task, alig_solver *solver, const void *solver_params,
                       const alig_train_params *p, const alig_train_checkpoint *resume, alig_train_observer obs,
                       void *ctx, alig_train_result *res)
{
    if (!res) return ALIG_EINVAL;
    memset(res, 0, sizeof *res);
    res->fail_loss = NAN;
    if (!model || !task || !solver || !solver_params || !p) return ALIG_EINVAL;
#define BAD(code, ...) do { snprintf(res->error, sizeof res->error, __VA_ARGS__); return code; } while (0)
    const int step_mode = p->epochs == 0;
    if (step_mode && p->steps == 0) BAD(ALIG_EINVAL, "neither epochs nor steps given");
    if (!step_mode && !task->type->finite)
        BAD(ALIG_EINVAL, "task '%s' is an endless generator: train it for a number of steps", task->type->name);
    if (step_mode && (p->log_every == 0 || p->checkpoint_every == 0)) BAD(ALIG_EINVAL, "log_every and checkpoint_every must be >= 1");
    if (!(p->clip_norm > 0.0)) BAD(ALIG_EINVAL, "clip_norm must be > 0 (INFINITY: no clipping)");
    if (alig_solver_x(solver) != (void *)alig_model_x(model))
        BAD(ALIG_EINVAL, "the solver is not bound to the model's parameters");
    if (task->shape.kind != model->type->input)
        BAD(ALIG_EUNSUPPORTED, "model '%s' does not train on task '%s'", model->name, task->type->name);
    if (p->eps_report && step_mode)
        BAD(ALIG_EINVAL, "eps_report needs epoch mode: step mode has no fixed training set to take the largest "
            "per-sample loss over");
    if (p->eps_report && (!model->type->sample_losses || task->train.n == 0))
        BAD(ALIG_EINVAL, "eps_report: model '%s' has no per-sample evaluation on a training split", model->name);
    if (p->shard_size < 0 || p->shard_rank < 0 || p->shard_rank >= (p->shard_size > 1 ? p->shard_size : 1))
        BAD(ALIG_EINVAL, "shard %d of %d: the rank must lie in [0, shard_size)", p->shard_rank, p->shard_size);
    alig_status sst = tr_shard_check(task, model, p, res->error, sizeof res->error);
    if (sst) return sst;
#undef BAD
    run r = { .model = model, .task = task, .solver = solver, .sp = solver_params, .p = p, .obs = obs, .ctx = ctx,
              .res = res, .dir_fd = -1, .csv_fd = -1, .jsonl_fd = -1 };
    r.L = (tr_loop){ .step_mode = step_mode, .log_every = step_mode ? p->log_every : 0, .clip_norm = p->clip_norm };
    alig_status st = ALIG_SUCCESS;
    if (p->profile && !(r.G = model->type->graph ? model->type->graph(model->impl) : NULL)) {
        snprintf(res->error, sizeof res->error, "model '%s' has no graph to profile", model->name);
        st = ALIG_EUNSUPPORTED;
        goto done;
    }
    const int writer = p->dir && p->shard_rank == 0;     /* shards r > 0 write nothing */
    if (writer) {
        if (!(r.ck_path = join(p->dir, "checkpoint.bin")) || !(r.csv_path = join(p->dir, "log.csv")) ||
            !(r.jsonl_path = join(p->dir, "log.jsonl")) || !(r.cfg_path = join(p->dir, "config.json"))) {
            st = ALIG_ENOMEM;
            goto done;
        }
        /* one run at a time in a directory: two would interleave their records */
        if ((r.dir_fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            st = io_fail(&r, p->dir, "cannot open the run directory", errno);
            goto done;
        }
        if (flock(r.dir_fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
            snprintf(res->error, sizeof res->error, "%s: another process is training in this directory", p->dir);
            st = ALIG_EIO;
            goto done;
        }
    }
    const uint64_t total = step_mode ? p->steps : (uint64_t)p->epochs * task->epoch_batches;
    if (resume) {
        if ((st = restore(resume, model, solver, &r.L, res->error, sizeof res->error)) ||
            (st = load_log(&r, r.csv_path, resume->version == 1 ? (resume->csv ? resume->csv : "") : NULL,
                           resume->csv_bytes, resume->csv_crc, &r.csv)) ||
            (st = load_log(&r, r.jsonl_path, resume->version == 1 ? (resume->jsonl ? resume->jsonl : "") : NULL,
                           resume->jsonl_bytes, resume->jsonl_crc, &r.jsonl)) ||
            (st = check_counters(&r, resume, resume->version == 1 || writer)) || (writer && (st = check_config(&r, total))))
            goto done;
    }
    /* logs of a build with fewer epoch columns: padded, then written whole once (below) */
    int upgraded = 0;
    if (resume && !step_mode) {
        const size_t before = r.csv.len;
        upgrade_epoch_csv(&r.csv);
        if (r.csv.failed) {
            st = ALIG_ENOMEM;
            goto done;
        }
        upgraded = r.csv.len != before;
    }
    res->last_checkpoint_step = resume ? resume->steps_done : 0;
    res->last_checkpoint_epoch = resume ? resume->epochs_done : 0;
    if (r.L.steps_done >= total && (step_mode || r.L.epochs_done >= p->epochs)) goto done;   /* nothing to do */
    if (writer) {
        /* ours, and those of the profile tables `alig train --profile` writes next to them */
        static const char *const ours[] = { "checkpoint.bin", "config.json", "log.csv", "log.jsonl", "profile.csv",
                                            "profile_nodes.csv", NULL };
        tr_remove_stale_tmp(p->dir, ours);     /* left by a run killed inside an atomic write */
        if ((st = write_config(r.cfg_path, model, task, solver, solver_params, p, total, res->error,
                               sizeof res->error)) ||
            (upgraded && (st = tr_write_atomic(r.csv_path, r.csv.p, r.csv.len, NULL, res->error, sizeof res->error))) ||
            (st = start_log(&r, r.csv_path, resume, &r.csv, &r.csv_fd)) ||
            (st = start_log(&r, r.jsonl_path, resume, &r.jsonl, &r.jsonl_fd)))
            goto done;
        r.csv_done = r.csv.len;
        r.jsonl_done = r.jsonl.len;
        r.csv_crc = !resume ? 0 : upgraded ? tr_crc32(0, r.csv.p, r.csv.len) : resume->csv_crc;
        r.jsonl_crc = resume ? resume->jsonl_crc : 0;
        if (upgraded) {
            /* the checkpoint must describe the rewritten log at once, or a stop before the next
             * checkpoint would leave a log that no longer matches its CRC (the state is the restored
             * one, so only the log fields change; rank 0 alone: no collective agree here) */
            const tr_logpos pos = { .csv_bytes = r.csv_done, .jsonl_bytes = r.jsonl_done, .csv_crc = r.csv_crc,
                                    .jsonl_crc = r.jsonl_crc };
            if ((st = tr_checkpoint_save(r.ck_path, model, solver, solver_params, &r.L, &pos, p->user, p->user_bytes,
                                         res->error, sizeof res->error)))
                goto done;
        }
    }
    if (p->eps_report && !(r.eps_losses = malloc(task->train.n * sizeof *r.eps_losses))) {
        st = ALIG_ENOMEM;
        goto done;
    }
    if (p->profile) {
        /* only full batches run the graph; leave the first out as warm-up (first-touch page faults,
         * thread start) when another one follows */
        uint64_t full_left;
        if (step_mode) full_left = p->steps - r.L.steps_done;
        else {
            const size_t E = task->epoch_batches, full = E - (E * (size_t)task->shape.batch > task->train.n ? 1 : 0);
            full_left = (uint64_t)(p->epochs - r.L.epochs_done) * full;
        }
        res->profile_warmup_excluded = r.skip_warmup = full_left >= 2;
        if ((st = alig_ad_graph_set_profile(r.G, 1))) goto done;
        res->profiled = 1;
        res->profile_graph = r.G;
    }
    st = step_mode ? steps_loop(&r) : epochs_loop(&r);
    if (!st || st == ALIG_ENONFINITE) {     /* the records after the last checkpoint, durable too */
        const alig_status lst = sync_logs(&r);
        if (!st) st = lst;
    }
done:
    res->steps_done = r.L.steps_done;
    res->epochs_done = r.L.epochs_done;
    if (st && !res->error[0] && !res->nonfinite) snprintf(res->error, sizeof res->error, "%s", alig_strerror(st));
    if (r.csv_fd >= 0) close(r.csv_fd);
    if (r.jsonl_fd >= 0) close(r.jsonl_fd);
    if (r.dir_fd >= 0) close(r.dir_fd);     /* releases the lock */
    tr_text_free(&r.csv);
    tr_text_free(&r.jsonl);
    free(r.ck_path);
    free(r.csv_path);
    free(r.jsonl_path);
    free(r.cfg_path);
    free(r.eps_losses);
    return st;
}

/* ---------------------------------------------------------------- schedules */

alig_status alig_train_epoch_schedules(const alig_solver_type *type, void *params, size_t epoch_batches,
                                       int set_batches_per_epoch)
{
    if (!type || !params || !epoch_batches) return ALIG_EINVAL;
    for (size_t j = 0; j < type->n_params_desc; j++) {
        const alig_param_desc *pd = &type->params_desc[j];
        if (set_batches_per_epoch && pd->kind == ALIG_PARAM_DOUBLE && !strcmp(pd->name, "batches-per-epoch")) {
            const double v = (double)epoch_batches;
            memcpy((char *)params + pd->offset, &v, sizeof v);
        }
        if (pd->kind != ALIG_PARAM_LIST || strcmp(pd->name, "milestones")) continue;
        alig_double_list *ms = (alig_double_list *)((char *)params + pd->offset);
        for (size_t i = 0; i < ms->n; i++) {
            const double v = ms->v[i] * (double)epoch_batches, w = nearbyint(v);
            ms->v[i] = fabs(v - w) <= 1e-9 * fmax(1.0, v) ? w : v;
        }
    }
    return ALIG_SUCCESS;
}
