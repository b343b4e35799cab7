/* grid_report.c - the tables and training curves of a finished `train` sweep (see
 * include/alig/grid_report.h).
 *
 * Everything is read from the sweep directory: which cells finished and how (result.json, through
 * alig_grid_cell_finished), and the per-epoch values of each run (run/log.jsonl). A log is read
 * whole for each cell that a setting needs, one at a time, so memory is one log at a time plus
 * the chosen settings' curves. Means and standard deviations are summed in double, in two passes. */
#include "alig/grid_report.h"
#include "json_flat.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* ================================================================ one log record */

/* The keys of a record that the reports read. */
enum { K_EPOCH, K_TRAIN_LOSS, K_VAL_ACC, K_TEST_ACC, K_EPS_MAX, K_EPS_Q50, N_KEYS };
static const char *const record_keys[N_KEYS] = { "epoch", "train_loss", "val_acc", "test_acc", "eps_max", "eps_q50" };

typedef struct record {
    double v[N_KEYS];   /* record_keys[k]'s number (NAN for null or absent) */
    int has[N_KEYS];    /* whether the key was there with a number or null */
} record;

static void record_cb(const char *key, double num, const char *str, void *ctx)
{
    if (str) return;    /* a string value: not one of ours */
    record *r = ctx;
    for (int k = 0; k < N_KEYS; k++)
        if (!strcmp(key, record_keys[k])) {
            r->v[k] = num;
            r->has[k] = 1;
        }
}

/* Parse one line holding a flat JSON object. 0, or -1 when the line is not one whole object. */
static int parse_record(const char *line, double v[N_KEYS], int has[N_KEYS])
{
    record r;
    for (int k = 0; k < N_KEYS; k++) {
        r.v[k] = NAN;
        r.has[k] = 0;
    }
    const char *p = line;
    if (alig_json_object(&p, record_cb, &r)) return -1;
    alig_json_skip_ws(&p);
    if (*p) return -1;
    memcpy(v, r.v, sizeof r.v);
    memcpy(has, r.has, sizeof r.has);
    return 0;
}

/* ================================================================ logs */

void alig_grid_log_free(alig_grid_log *log)
{
    if (!log) return;
    free(log->train_loss);
    free(log->val_acc);
    free(log->test_acc);
    free(log->eps_max);
    free(log->eps_q50);
    memset(log, 0, sizeof *log);
}

static int log_grow(alig_grid_log *log, size_t cap)
{
    double **cols[] = { &log->train_loss, &log->val_acc, &log->test_acc, &log->eps_max, &log->eps_q50 };
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        double *q = realloc(*cols[c], cap * sizeof **cols[c]);
        if (!q) return -1;
        *cols[c] = q;
    }
    return 0;
}

alig_status alig_grid_log_read(const char *path, alig_grid_log *log, char *err, size_t errlen)
{
    if (!log) return ALIG_EINVAL;
    memset(log, 0, sizeof *log);
    if (!path) return ALIG_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return ALIG_EIO;
    }
    alig_status st = ALIG_SUCCESS;
    char *line = NULL;
    size_t line_cap = 0, cap = 0, lineno = 0, bad_line = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        const char *p = line;
        alig_json_skip_ws(&p);
        if (!*p) continue;
        if (bad_line) {     /* a malformed line followed by another: not a record cut by a crash */
            set_err(err, errlen, "%s:%zu: not a JSON object", path, bad_line);
            st = ALIG_EFORMAT;
            break;
        }
        double v[N_KEYS];
        int has[N_KEYS];
        if (parse_record(line, v, has)) {
            bad_line = lineno;
            continue;
        }
        if (!has[K_EPOCH]) continue;
        if (v[K_EPOCH] != (double)(log->n + 1)) {
            set_err(err, errlen, "%s:%zu: epoch %.17g where epoch %zu was expected (records run 1, 2, 3, ...)", path,
                    lineno, v[K_EPOCH], log->n + 1);
            st = ALIG_EFORMAT;
            break;
        }
        if (log->n == cap) {
            cap = cap ? 2 * cap : 64;
            if (log_grow(log, cap)) {
                st = ALIG_ENOMEM;
                set_err(err, errlen, "%s: out of memory", path);
                break;
            }
        }
        log->train_loss[log->n] = v[K_TRAIN_LOSS];
        log->val_acc[log->n] = v[K_VAL_ACC];
        log->test_acc[log->n] = v[K_TEST_ACC];
        log->eps_max[log->n] = v[K_EPS_MAX];
        log->eps_q50[log->n] = v[K_EPS_Q50];
        log->n++;
    }
    if (!st && ferror(f)) {
        set_err(err, errlen, "%s: read error", path);
        st = ALIG_EIO;
    }
    if (!st && !log->n) {
        set_err(err, errlen, "%s: no epoch record (a record is a line with an \"epoch\" key)", path);
        st = ALIG_EFORMAT;
    }
    free(line);
    fclose(f);
    if (st) alig_grid_log_free(log);
    return st;
}

/* ================================================================ statistics */

alig_status alig_grid_moving_average(const double *x, size_t n, size_t k, double *out)
{
    if (k == 0 || (n && (!x || !out))) return ALIG_EINVAL;
    for (size_t t = 0; t < n; t++) {
        const size_t lo = t + 1 >= k ? t + 1 - k : 0;
        double s = 0;
        for (size_t j = lo; j <= t; j++) s += x[j];
        out[t] = s / (double)(t + 1 - lo);
    }
    return ALIG_SUCCESS;
}

alig_status alig_grid_mean_sd(const double *x, size_t n, double *mean, double *sd)
{
    if (!n || !x || !mean || !sd) return ALIG_EINVAL;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    const double m = s / (double)n;
    double q = 0;
    for (size_t i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(q / (double)(n - 1)) : NAN;
    return ALIG_SUCCESS;
}

/* ================================================================ settings */

/* What one setting's cells give. */
enum { SET_USABLE = 0, SET_FAILED = 1, SET_UNFINISHED = 2 };

typedef struct setting_eval {
    int state;
    char why[256];
    double score;
} setting_eval;

static size_t seeds_of(const alig_grid *g)
{
    return g->n_seeds ? g->n_seeds : 1;
}

/* The log of cell i: DIR/cells/NAME/run/log.jsonl. */
static alig_status cell_log(const alig_grid *g, const char *dir, size_t i, alig_grid_log *log, char *name,
                            size_t name_len, char *msg, size_t msg_len)
{
    alig_status st = alig_grid_cell_name(g, i, name, name_len);
    if (st) return st;
    const size_t plen = strlen(dir) + strlen(name) + 32;
    char *path = malloc(plen);
    if (!path) return ALIG_ENOMEM;
    snprintf(path, plen, "%s/cells/%s/run/log.jsonl", dir, name);
    char e[4400];
    st = alig_grid_log_read(path, log, e, sizeof e);
    free(path);
    if (st) {
        /* the message without the sweep directory: "run/log.jsonl: ..." */
        const char *tail = strstr(e, "/run/log.jsonl");
        set_err(msg, msg_len, "%s", tail ? tail + 1 : e);
    }
    return st;
}

/* Score the setting whose cells are first .. first + ns - 1. Returns ALIG_SUCCESS (whatever the
 * setting's state) or ALIG_ENOMEM / ALIG_EINVAL. */
static alig_status eval_setting(const alig_grid *g, const char *dir, size_t first, size_t ns, alig_grid_rule rule,
                                setting_eval *ev)
{
    memset(ev, 0, sizeof *ev);
    double sum = 0;
    char unfinished_why[256] = "";
    for (size_t k = 0; k < ns; k++) {
        const size_t i = first + k;
        char name[ALIG_GRID_MAX_NAME];
        alig_status st = alig_grid_cell_name(g, i, name, sizeof name);
        if (st) return st;
        int fin = 0;
        alig_grid_result r;
        if ((st = alig_grid_cell_finished(g, dir, i, &fin, &r))) return st;
        if (!fin) {
            if (!unfinished_why[0]) set_err(unfinished_why, sizeof unfinished_why, "cell %s: not finished", name);
            continue;
        }
        if (r.status != ALIG_GRID_OK) {
            ev->state = SET_FAILED;
            /* a note that fills its field was cut by the grid engine: say so */
            const int cut = strlen(r.note) + 1 == sizeof r.note;
            set_err(ev->why, sizeof ev->why, "cell %s: %s%s%s%s", name, alig_grid_status_name(r.status),
                    r.note[0] ? ": " : "", r.note, cut ? "..." : "");
            return ALIG_SUCCESS;
        }
        alig_grid_log log;
        char msg[200];
        st = cell_log(g, dir, i, &log, name, sizeof name, msg, sizeof msg);
        if (st == ALIG_ENOMEM) return st;
        if (st) {
            ev->state = SET_FAILED;
            set_err(ev->why, sizeof ev->why, "cell %s: %s", name, msg);
            return ALIG_SUCCESS;
        }
        const size_t e = log.n - 1;
        const double v = rule == ALIG_GRID_RULE_VAL_ACC ? log.val_acc[e] : log.train_loss[e];
        const char *missing = !isfinite(v) ? (rule == ALIG_GRID_RULE_VAL_ACC ? "val_acc" : "train_loss")
                              : rule == ALIG_GRID_RULE_VAL_ACC && !isfinite(log.test_acc[e]) ? "test_acc"
                                                                                              : NULL;
        alig_grid_log_free(&log);
        if (missing) {
            ev->state = SET_FAILED;
            set_err(ev->why, sizeof ev->why, "cell %s: no finite %s in its final record (epoch %zu)", name, missing,
                     e + 1);
            return ALIG_SUCCESS;
        }
        sum += v;
    }
    if (unfinished_why[0]) {
        ev->state = SET_UNFINISHED;
        set_err(ev->why, sizeof ev->why, "%s", unfinished_why);
        return ALIG_SUCCESS;
    }
    ev->score = sum / (double)ns;
    return ALIG_SUCCESS;
}

/* Fill the statistics of the chosen setting (its cells all usable: checked by eval_setting). */
static alig_status fill_pick(const alig_grid *g, const char *dir, alig_grid_pick *p, char *err, size_t errlen)
{
    const size_t ns = p->n_seeds;
    double *val = calloc(ns, sizeof *val), *test = calloc(ns, sizeof *test), *loss = calloc(ns, sizeof *loss);
    double *emax = calloc(ns, sizeof *emax), *eq50 = calloc(ns, sizeof *eq50);
    alig_grid_log *logs = calloc(ns, sizeof *logs);
    alig_status st = ALIG_SUCCESS;
    if (!val || !test || !loss || !emax || !eq50 || !logs) {
        st = ALIG_ENOMEM;
        goto done;
    }
    size_t n_epochs = (size_t)-1;
    int have_val = 1;
    for (size_t k = 0; k < ns; k++) {
        char name[ALIG_GRID_MAX_NAME], msg[200];
        if ((st = cell_log(g, dir, p->first_cell + k, &logs[k], name, sizeof name, msg, sizeof msg))) {
            /* the log was read a moment ago: changed under us */
            set_err(err, errlen, "cell %s: %s", name, msg);
            goto done;
        }
        const size_t e = logs[k].n - 1;
        val[k] = logs[k].val_acc[e];
        test[k] = logs[k].test_acc[e];
        loss[k] = logs[k].train_loss[e];
        have_val &= isfinite(val[k]) != 0;
        if (isfinite(logs[k].eps_max[e]) && isfinite(logs[k].eps_q50[e])) {
            emax[p->n_eps] = logs[k].eps_max[e];
            eq50[p->n_eps] = logs[k].eps_q50[e];
            p->n_eps++;
        }
        if (logs[k].n < n_epochs) n_epochs = logs[k].n;
    }
    double unused;
    if (have_val) alig_grid_mean_sd(val, ns, &p->val_mean, &unused);
    else p->val_mean = NAN;
    alig_grid_mean_sd(test, ns, &p->test_mean, &p->test_sd);
    alig_grid_mean_sd(loss, ns, &p->loss_mean, &unused);
    p->eps_max_mean = p->eps_q50_mean = NAN;
    if (p->n_eps) {
        alig_grid_mean_sd(emax, p->n_eps, &p->eps_max_mean, &unused);
        alig_grid_mean_sd(eq50, p->n_eps, &p->eps_q50_mean, &unused);
    }
    if (!(p->curve = malloc(n_epochs * sizeof *p->curve))) {
        st = ALIG_ENOMEM;
        goto done;
    }
    p->n_epochs = n_epochs;
    for (size_t e = 0; e < n_epochs; e++) {
        double s = 0;
        for (size_t k = 0; k < ns; k++) s += logs[k].train_loss[e];
        p->curve[e] = s / (double)ns;
    }
done:
    if (st == ALIG_ENOMEM) set_err(err, errlen, "out of memory");
    if (logs)
        for (size_t k = 0; k < ns; k++) alig_grid_log_free(&logs[k]);
    free(logs);
    free(val);
    free(test);
    free(loss);
    free(emax);
    free(eq50);
    return st;
}

alig_status alig_grid_pick_settings(const alig_grid *g, const char *dir, alig_grid_rule rule, alig_grid_pick *picks,
                                    char *err, size_t errlen)
{
    if (!g || !dir || !picks) {
        set_err(err, errlen, "NULL argument");
        return ALIG_EINVAL;
    }
    if (!g->validated) {
        set_err(err, errlen, "the grid is not validated");
        return ALIG_EINVAL;
    }
    if (g->kind != ALIG_GRID_TRAIN) {
        set_err(err, errlen, "a solve grid has no epochs, accuracies or training loss per epoch: tables and curves "
                             "read `alig train` cells");
        return ALIG_EINVAL;
    }
    if (rule != ALIG_GRID_RULE_VAL_ACC && rule != ALIG_GRID_RULE_TRAIN_LOSS) {
        set_err(err, errlen, "unknown selection rule %d", (int)rule);
        return ALIG_EINVAL;
    }
    for (size_t m = 0; m < g->n_methods; m++) memset(&picks[m], 0, sizeof picks[m]);
    const size_t n = alig_grid_n_cells(g), ns = seeds_of(g);
    size_t i = 0;
    for (size_t m = 0; m < g->n_methods; m++) {
        alig_grid_pick *p = &picks[m];
        p->method = m;
        const size_t method_first = i;
        double best = NAN;
        for (;;) {
            alig_grid_cell c;
            if (i >= n || alig_grid_cell_at(g, i, &c) || c.method != m) break;
            setting_eval ev;
            alig_status st = eval_setting(g, dir, i, ns, rule, &ev);
            if (st) {
                set_err(err, errlen, "%s", st == ALIG_ENOMEM ? "out of memory" : alig_strerror(st));
                return st;
            }
            if (ev.state != SET_USABLE) {
                if (ev.state == SET_FAILED) p->n_failed++;
                else p->n_unfinished++;
                if (!p->note[0]) set_err(p->note, sizeof p->note, "%s", ev.why);
            } else if (isnan(best) || (rule == ALIG_GRID_RULE_VAL_ACC ? ev.score > best : ev.score < best)) {
                /* strictly better only: a tie keeps the earlier setting */
                best = ev.score;
                p->chosen = 1;
                p->setting = (i - method_first) / ns;
                p->first_cell = i;
            }
            p->n_settings++;
            i += ns;
        }
        if (p->chosen) {
            p->n_seeds = ns;
            p->score = best;
            alig_status st = fill_pick(g, dir, p, err, errlen);
            if (st) return st;
        }
    }
    return ALIG_SUCCESS;
}

void alig_grid_picks_free(alig_grid_pick *picks, size_t n)
{
    if (!picks) return;
    for (size_t m = 0; m < n; m++) {
        free(picks[m].curve);
        picks[m].curve = NULL;
        picks[m].n_epochs = 0;
    }
}
