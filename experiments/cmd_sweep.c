/* cmd_sweep.c - `alig sweep`: a grid of `alig solve` / `alig train` runs (include/alig/grid.h), each
 * cell one child process of this very binary in its own directory, N at a time, sharded over MPI
 * ranks when launched by mpirun (dist/dist.h); and, from a sweep directory, `alig sweep --plot DIR`:
 * the Figure 3 heatmap, objective against the learning rate, and a markdown table; `--table DIR`:
 * test accuracy at each method's setting chosen on validation (Tables 1 and 3); `--curves DIR`: the
 * training objective over the epochs at each method's best setting (Figure 4). The selection and the
 * statistics are the library's (include/alig/grid_report.h); this file writes and draws them.
 *
 * Why child processes: a cell that crashes, runs out of memory or is killed takes nothing else with
 * it; each cell gets a clean process (OpenMP pool, allocator, RNG) so its result does not depend on
 * what ran before it or beside it; and `kill -9` of the sweep kills its cells too
 * (PR_SET_PDEATHSIG), leaving every cell finished or not, never half-recorded. */
#define _XOPEN_SOURCE 700     /* nftw, realpath (beside the project's _POSIX_C_SOURCE) */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alig/grid.h"
#include "alig/grid_report.h"
#include "cli.h"
#include "cli_util.h"
#include "dist/dist.h"
#include "plot.h"

#define CMD "sweep"

enum { TAG_RESULT = 1, TAG_DONE = 2, TAG_ERROR = 3 };

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig sweep --base \"solve|train ARGS\" [--axis NAME=VALUES]... [--method NAME [--args \"ARGS\"]\n"
            "                  [--axis NAME=VALUES]...]... [--seeds LIST] --out DIR [run options]\n"
            "       alig sweep --protocol FILE [--scale S] [--set NAME=VALUE]... --out DIR [run options]\n"
            "       alig sweep --protocol FILE [--scale S] --estimate [--jobs N] [--threads-per-cell T]\n"
            "       alig sweep --plot DIR\n"
            "       alig sweep --table DIR\n"
            "       alig sweep --curves DIR [--smooth K]\n"
            "       mpirun -np K alig sweep ...      (cells shared over K ranks; rank 0 writes the summary)\n\n"
            "Runs every cell of a grid as `alig BASE [METHOD ARGS] --AXIS VALUE... --SEED-FLAG S --out ...` in\n"
            "DIR/cells/NAME/, and rewrites DIR/summary.csv (one row per finished cell, in grid order) as cells\n"
            "finish. Rerunning the same command skips finished cells and reruns the others (a cell whose\n"
            "status is `failed` is rerun too). Details: docs/sweep.md.\n\n"
            "grid (in order: --axis before any --method is common to all methods, after it belongs to it):\n"
            "  --base \"CMD ARGS\"      the command of every cell: solve ... or train ... (no --out)\n"
            "  --axis NAME=VALUES     flag --NAME takes each value; VALUES is a comma list of values or\n"
            "                         ranges LO:HI:log:N / LO:HI:lin:N (e.g. lr=1e-4:1e1:log:6,inf)\n"
            "  --method NAME          start a method (sub-grid) with its own axes, e.g. ALI-G's eta grid\n"
            "  --args \"ARGS\"          fixed flags of the current method (e.g. \"--solver alig\")\n"
            "  --seeds LIST           seeds, e.g. 0,1,2 or 0-2, each passed as --SEED-FLAG S [none: no seed flag]\n"
            "  --seed-flag NAME       flag that receives the seed [seed]\n"
            "  --rate LIST            axes drawn as the learning rate in figures [lr,eta,alpha]\n"
            "  --diverge-factor X     `diverged`: final objective > X times the first recorded one [1000]\n"
            "  --protocol FILE        read all of the above from a protocol file (experiments/protocols/)\n"
            "  --scale S              the protocol's scale S ([scale S] sections; required when it has scales,\n"
            "                         e.g. full = the paper's settings, reduced = a version for a small machine)\n"
            "  --set NAME=VALUE       value of ${NAME} in the protocol (e.g. --set cifar10=/data/cifar-10);\n"
            "                         a value naming an existing file or directory is made absolute\n\n"
            "run options:\n"
            "  --out DIR              sweep directory, created if needed (required unless --dry-run)\n"
            "  --jobs N               cells at a time on this machine (per MPI rank) [1]\n"
            "  --threads-per-cell T   OMP_NUM_THREADS of every cell, part of its identity [protocol's, or 1]\n"
            "  --dry-run              print each cell's name and command line, run nothing\n"
            "  --estimate             train grids: time a few steps of each distinct configuration (model,\n"
            "                         batch, input, dropout, augmentation) on synthetic data of its shape,\n"
            "                         print images/s, the images to train and the wall time at --jobs N\n"
            "  --estimate-steps K     steps timed per configuration, after one warm-up step [2]\n"
            "  --estimate-rate R      no timing: assume R images/s for every configuration\n"
            "  --quiet                no progress line on stderr\n\n");
    fprintf(f,
            "figures and tables (each reads an existing sweep DIR and is given alone):\n"
            "  --plot DIR             from DIR's finished cells, write DIR/summary.md (median over seeds) and\n"
            "                         draw DIR/figures/heatmap.{svg,png} and objective.{svg,png} with gnuplot\n"
            "  --table DIR            train sweeps: per method, the setting (axis values, seeds aside) with the\n"
            "                         largest final val_acc averaged over its seeds (ties: the first in grid\n"
            "                         order), its final test_acc as mean +- sample sd over the seeds and its\n"
            "                         final eps_max / eps_q50; settings with a cell not ok are excluded;\n"
            "                         writes DIR/table.md and DIR/table.csv, prints the markdown\n"
            "  --curves DIR           train sweeps: per method, the setting with the smallest final train_loss\n"
            "                         averaged over its seeds; its train_loss per epoch, smoothed, on a log axis,\n"
            "                         one panel per TASK of methods named TASK.METHOD: DIR/figures/curves.{svg,png},\n"
            "                         DIR/curves.md\n"
            "  --smooth K             --curves: trailing moving average over K epochs (the first K-1 points\n"
            "                         average the epochs so far) [5]; 1 draws the raw curve\n\n"
            "Exit status: 0 every cell ran (whatever its status), 1 runtime failure or some cell `failed`,\n"
            "2 usage error. MPI: %s.\n",
            alig_dist_built_with_mpi() ? "built with MPI" : "not built (single-process stand-in)");
}

/* ================================================================ options */

#define MAX_VARS 32

typedef struct sweep_opts {
    alig_grid *g;
    const char *out;
    size_t jobs, threads;        /* threads: 0 unless --threads-per-cell was given */
    int dry_run, quiet, estimate;
    size_t estimate_steps;
    double estimate_rate;        /* > 0: assumed images/s, no timing */
    const char *plot, *protocol, *scale;
    const char *table, *curves;  /* --table DIR, --curves DIR */
    size_t smooth;               /* --smooth K; 0 unless given */
    size_t n_vars;
    char *var_names[MAX_VARS], *var_values[MAX_VARS];
} sweep_opts;

static void opts_free_vars(sweep_opts *o)
{
    for (size_t k = 0; k < o->n_vars; k++) {
        free(o->var_names[k]);
        free(o->var_values[k]);
    }
    o->n_vars = 0;
}

/* --set NAME=VALUE: a value naming an existing file or directory is made absolute, since every cell
 * runs in its own directory. */
static int add_var(sweep_opts *o, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return cli_fail(CMD, CLI_USAGE, "--set %s: expected NAME=VALUE", spec);
    for (const char *c = spec; c < eq; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_'))
            return cli_fail(CMD, CLI_USAGE, "--set %s: a name is letters, digits and '_'", spec);
    if (o->n_vars == MAX_VARS) return cli_fail(CMD, CLI_USAGE, "--set: at most %d variables", MAX_VARS);
    char *name = malloc((size_t)(eq - spec) + 1), real[PATH_MAX];
    if (!name) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = 0;
    for (size_t k = 0; k < o->n_vars; k++)
        if (!strcmp(o->var_names[k], name)) {
            free(name);
            return cli_fail(CMD, CLI_USAGE, "--set %s: %s is set twice", spec, o->var_names[k]);
        }
    const char *v = eq + 1;
    if (v[0] != '/' && realpath(v, real)) v = real;
    char *value = malloc(strlen(v) + 1);
    if (!value) {
        free(name);
        return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    strcpy(value, v);
    o->var_names[o->n_vars] = name;
    o->var_values[o->n_vars++] = value;
    return CLI_OK;
}

static int value_of(int argc, char **argv, int *i, const char *flag, const char **val)
{
    const char *a = argv[*i];
    const char *eq = strchr(a, '=');
    if (eq && (size_t)(eq - a) == strlen(flag) + 2) {
        *val = eq + 1;
        return CLI_OK;
    }
    if (*i + 1 >= argc) return cli_fail(CMD, CLI_USAGE, "%s needs a value", flag);
    *val = argv[++*i];
    return CLI_OK;
}

/* The flag name of argv[i] ("--axis=..." -> "--axis"). */
static int is_flag(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return !strncmp(arg, flag, n) && (arg[n] == 0 || arg[n] == '=');
}

static int parse_opts(int argc, char **argv, sweep_opts *o)
{
    static const char *const grid_flags[] = { "--base", "--axis", "--method", "--args", "--seeds", "--seed-flag",
                                              "--rate", "--diverge-factor", NULL };
    *o = (sweep_opts){ .jobs = 1, .estimate_steps = 2 };
    const char *protocol = NULL, *grid_flag = NULL, *estimate_flag = NULL;
    char err[512] = "";
    alig_grid *g;
    if (alig_grid_alloc(&g)) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    size_t method = (size_t)-1;
    int rc = CLI_OK;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = NULL;
        alig_status st = ALIG_SUCCESS;
        int is_grid = 0;
        for (size_t k = 0; grid_flags[k]; k++)
            if (is_flag(a, grid_flags[k])) is_grid = 1;
        if (is_grid && !grid_flag) grid_flag = a;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            rc = CLI_HELP;
        } else if (is_flag(a, "--base")) {
            if (!(rc = value_of(argc, argv, &i, "--base", &v))) st = alig_grid_set_base(g, v, err, sizeof err);
        } else if (is_flag(a, "--axis")) {
            if (!(rc = value_of(argc, argv, &i, "--axis", &v))) {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v) {
                    rc = cli_fail(CMD, CLI_USAGE, "--axis %s: expected NAME=VALUES", v);
                } else {
                    char name[ALIG_GRID_MAX_TOKEN];
                    size_t n = (size_t)(eq - v);
                    if (n >= sizeof name) n = sizeof name - 1;
                    memcpy(name, v, n);
                    name[n] = 0;
                    st = alig_grid_add_axis(g, method, name, eq + 1, err, sizeof err);
                }
            }
        } else if (is_flag(a, "--method")) {
            if (!(rc = value_of(argc, argv, &i, "--method", &v))) {
                st = alig_grid_add_method(g, v, err, sizeof err);
                if (!st) method = g->n_methods - 1;
            }
        } else if (is_flag(a, "--args")) {
            if (!(rc = value_of(argc, argv, &i, "--args", &v))) {
                if (method == (size_t)-1)
                    rc = cli_fail(CMD, CLI_USAGE, "--args goes after --method NAME (flags of every cell belong in --base)");
                else if (g->methods[method].n_args)
                    rc = cli_fail(CMD, CLI_USAGE, "--args is given twice for method %s", g->methods[method].name);
                else
                    st = alig_grid_set_args(g, method, v, err, sizeof err);
            }
        } else if (is_flag(a, "--seeds")) {
            if (!(rc = value_of(argc, argv, &i, "--seeds", &v))) st = alig_grid_set_seeds(g, v, err, sizeof err);
        } else if (is_flag(a, "--seed-flag")) {
            if (!(rc = value_of(argc, argv, &i, "--seed-flag", &v))) {
                char *d = malloc(strlen(v) + 1);
                if (!d) st = ALIG_ENOMEM;
                else {
                    strcpy(d, v);
                    free(g->seed_flag);
                    g->seed_flag = d;
                }
            }
        } else if (is_flag(a, "--rate")) {
            if (!(rc = value_of(argc, argv, &i, "--rate", &v))) st = alig_grid_set_rate(g, v, err, sizeof err);
        } else if (is_flag(a, "--diverge-factor")) {
            if (!(rc = value_of(argc, argv, &i, "--diverge-factor", &v)))
                rc = cli_double(CMD, "diverge-factor", v, CLI_POSITIVE, &g->diverge_factor);
        } else if (is_flag(a, "--protocol")) {
            rc = value_of(argc, argv, &i, "--protocol", &protocol);
        } else if (is_flag(a, "--scale")) {
            rc = value_of(argc, argv, &i, "--scale", &o->scale);
        } else if (is_flag(a, "--set")) {
            if (!(rc = value_of(argc, argv, &i, "--set", &v))) rc = add_var(o, v);
        } else if (!strcmp(a, "--estimate")) {
            o->estimate = 1;
        } else if (is_flag(a, "--estimate-steps")) {
            estimate_flag = "--estimate-steps";
            if (!(rc = value_of(argc, argv, &i, "--estimate-steps", &v)))
                rc = cli_size(CMD, "estimate-steps", v, 1, &o->estimate_steps);
            if (!rc && o->estimate_steps > 1000) rc = cli_fail(CMD, CLI_USAGE, "--estimate-steps: at most 1000");
        } else if (is_flag(a, "--estimate-rate")) {
            estimate_flag = "--estimate-rate";
            if (!(rc = value_of(argc, argv, &i, "--estimate-rate", &v)))
                rc = cli_double(CMD, "estimate-rate", v, CLI_POSITIVE, &o->estimate_rate);
        } else if (is_flag(a, "--out")) {
            rc = value_of(argc, argv, &i, "--out", &o->out);
        } else if (is_flag(a, "--plot")) {
            rc = value_of(argc, argv, &i, "--plot", &o->plot);
        } else if (is_flag(a, "--table")) {
            rc = value_of(argc, argv, &i, "--table", &o->table);
        } else if (is_flag(a, "--curves")) {
            rc = value_of(argc, argv, &i, "--curves", &o->curves);
        } else if (is_flag(a, "--smooth")) {
            if (!(rc = value_of(argc, argv, &i, "--smooth", &v)))
                rc = cli_size_range(CMD, "smooth", v, 1, 100000, &o->smooth);
        } else if (is_flag(a, "--jobs")) {
            if (!(rc = value_of(argc, argv, &i, "--jobs", &v))) rc = cli_size(CMD, "jobs", v, 1, &o->jobs);
            if (!rc && o->jobs > 1024) rc = cli_fail(CMD, CLI_USAGE, "--jobs %zu: at most 1024", o->jobs);
        } else if (is_flag(a, "--threads-per-cell")) {
            if (!(rc = value_of(argc, argv, &i, "--threads-per-cell", &v)))
                rc = cli_size(CMD, "threads-per-cell", v, 1, &o->threads);
            if (!rc && o->threads > 4096) rc = cli_fail(CMD, CLI_USAGE, "--threads-per-cell %zu: at most 4096", o->threads);
        } else if (!strcmp(a, "--dry-run")) {
            o->dry_run = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            rc = cli_fail(CMD, CLI_USAGE, "unknown argument '%s' (try alig sweep --help)", a);
        }
        if (!rc && st) rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "%s", err[0] ? err : alig_strerror(st));
    }
    if (!rc && o->smooth && !o->curves) rc = cli_fail(CMD, CLI_USAGE, "--smooth K goes with --curves DIR");
    if (!rc && (o->plot || o->table || o->curves)) {
        /* the post-processing modes read an existing sweep: one of them, nothing else */
        const char *mode = o->plot ? "--plot" : o->table ? "--table" : "--curves";
        if (!!o->plot + !!o->table + !!o->curves > 1)
            rc = cli_fail(CMD, CLI_USAGE, "--plot, --table and --curves: give one");
        else if (protocol || grid_flag || o->out || o->dry_run || o->estimate || o->scale || o->n_vars || o->jobs != 1 ||
                 o->threads || o->quiet)
            rc = cli_fail(CMD, CLI_USAGE, "%s DIR reads an existing sweep: give it alone%s", mode,
                          o->curves ? " (with --smooth K)" : "");
        alig_grid_free(g);
        opts_free_vars(o);
        return rc;
    }
    if (!rc && (o->scale || o->n_vars) && !protocol)
        rc = cli_fail(CMD, CLI_USAGE, "%s goes with --protocol FILE (scales and variables are protocol features)",
                      o->scale ? "--scale" : "--set");
    if (!rc && estimate_flag && !o->estimate) rc = cli_fail(CMD, CLI_USAGE, "%s goes with --estimate", estimate_flag);
    if (!rc && o->estimate && o->dry_run) rc = cli_fail(CMD, CLI_USAGE, "--estimate and --dry-run: give one");
    if (!rc && protocol) {
        if (grid_flag) {
            rc = cli_fail(CMD, CLI_USAGE, "--protocol %s holds the grid: %s cannot be combined with it", protocol, grid_flag);
        } else {
            alig_grid_free(g);
            g = NULL;
            /* a dry run or an estimate may leave ${NAME} unset (they read no data) */
            const alig_grid_parse_opts po = { .scale = o->scale, .n_vars = o->n_vars,
                                              .var_names = (const char *const *)o->var_names,
                                              .var_values = (const char *const *)o->var_values,
                                              .allow_unset = o->dry_run || o->estimate, .threads = o->threads };
            alig_status st = alig_grid_parse_file_ex(protocol, &po, &g, err, sizeof err);
            if (st) rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "%s", err);
        }
    }
    if (!rc && !protocol && !g->n_base) rc = cli_fail(CMD, CLI_USAGE, "missing --base \"solve ...\" (or --protocol FILE)");
    if (!rc && !protocol && o->threads) g->threads = o->threads;
    if (!rc) {
        alig_status st = alig_grid_validate(g, err, sizeof err);
        if (st) rc = cli_fail(CMD, CLI_USAGE, "%s", err);
    }
    if (!rc && !o->out && !o->dry_run && !o->estimate) rc = cli_fail(CMD, CLI_USAGE, "missing --out DIR");
    if (!rc && o->estimate && o->out) rc = cli_fail(CMD, CLI_USAGE, "--estimate runs no cell: drop --out");
    if (rc) {
        alig_grid_free(g);
        opts_free_vars(o);
        return rc;
    }
    o->g = g;
    o->protocol = protocol;
    return CLI_OK;
}

/* ================================================================ running cells */

typedef struct slot {
    pid_t pid;
    size_t cell;
    double t0;
    char dir[4400];
} slot;

typedef struct sweep_state {
    const sweep_opts *o;
    const alig_grid *g;
    char exe[4096];
    char **envp;                /* the cells' environment, built before any fork */
    size_t n;                   /* cells */
    int rank, size;
    alig_grid_result *results;  /* rank 0: every cell's result as known */
    size_t done, failed, not_ok, ran_here, running;
    double t_start, t_print, t_summary;
    char summary[4200];
    int tty;
    size_t ranks_done;          /* rank 0: workers that sent TAG_DONE */
    size_t *ran_by;             /* rank 0: cells run (not found finished) by each rank */
} sweep_state;

static char *read_text(const char *path, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, cap, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void fmt_duration(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, len, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void progress(sweep_state *s, int final)
{
    if (s->o->quiet || s->rank != 0) return;
    const double now = cli_now();
    if (!final && !s->tty && now - s->t_print < 2.0) return;
    if (!final && s->tty && now - s->t_print < 0.2) return;
    s->t_print = now;
    const double elapsed = now - s->t_start;
    const size_t left = s->n - s->done;
    char eta[32];
    if (s->ran_here) fmt_duration(elapsed / (double)s->ran_here * (double)left, eta, sizeof eta);
    else snprintf(eta, sizeof eta, left ? "?" : "0:00");
    fprintf(stderr, "%ssweep: %zu/%zu done, %zu running%s, %zu failed, %zu diverged or non-finite, ETA %s%s",
            s->tty ? "\r" : "", s->done, s->n, s->running, s->size > 1 ? " on rank 0" : "", s->failed, s->not_ok, eta,
            s->tty ? (final ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}

/* Rank 0: record a result from rank `src` and rewrite the summary. */
static int record(sweep_state *s, int src, size_t i, const alig_grid_result *r, int ran_now)
{
    if (i >= s->n) return cli_fail(CMD, CLI_RUNTIME, "internal error: result of cell %zu of %zu", i, s->n);
    if (!s->results[i].done) {
        s->done++;
        if (r->status == ALIG_GRID_FAILED) s->failed++;
        else if (r->status != ALIG_GRID_OK) s->not_ok++;
    }
    s->results[i] = *r;
    if (ran_now) {
        s->ran_here++;
        s->ran_by[src]++;
    }
    /* rewriting is O(cells): on large grids, at most once a second (and once at the end) */
    const double now = cli_now();
    if (s->n <= 5000 || now - s->t_summary >= 1.0) {
        s->t_summary = now;
        alig_status st = alig_grid_summary_write(s->g, s->results, s->summary);
        if (st) return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", s->summary, alig_strerror(st));
    }
    progress(s, 0);
    return CLI_OK;
}

/* A result produced on this rank: record it (rank 0) or send it to rank 0. */
static int deliver(sweep_state *s, size_t i, const alig_grid_result *r, int ran_now)
{
    if (s->rank == 0) return record(s, 0, i, r, ran_now);
    char buf[2200], err[256];
    int n = snprintf(buf, sizeof buf, "%zu %d\n", i, ran_now);
    if (alig_grid_result_format(r, buf + n, sizeof buf - (size_t)n))
        return cli_fail(CMD, CLI_RUNTIME, "internal error: result of cell %zu too long", i);
    if (alig_dist_send(0, TAG_RESULT, buf, strlen(buf), err, sizeof err))
        return cli_fail(CMD, CLI_RUNTIME, "rank %d: %s", s->rank, err);
    return CLI_OK;
}

/* Rank 0: take every pending message from the other ranks. */
static int drain(sweep_state *s)
{
    if (s->rank != 0 || s->size == 1) return CLI_OK;
    for (;;) {
        char buf[2300], err[256];
        int src, tag;
        size_t len;
        int got = alig_dist_poll(buf, sizeof buf - 1, &src, &tag, &len, err, sizeof err);
        if (got < 0) return cli_fail(CMD, CLI_RUNTIME, "%s", err);
        if (!got) return CLI_OK;
        buf[len] = 0;
        if (tag == TAG_DONE) {
            s->ranks_done++;
        } else if (tag == TAG_ERROR) {
            return cli_fail(CMD, CLI_RUNTIME, "rank %d: %s", src, buf);
        } else {
            size_t i;
            int ran_now, used = 0;
            alig_grid_result r;
            if (sscanf(buf, "%zu %d\n%n", &i, &ran_now, &used) != 2 || used <= 0 ||
                alig_grid_result_parse(buf + used, &r) || i >= s->n || (int)(i % (size_t)s->size) != src)
                return cli_fail(CMD, CLI_RUNTIME, "malformed result message from rank %d", src);
            int rc = record(s, src, i, &r, ran_now);
            if (rc) return rc;
        }
    }
}

/* The environment of the children: this process's, with OMP_NUM_THREADS=threads. It is built
 * before fork because between fork and exec the child of a multi-threaded process (MPI progress
 * threads, OpenMP workers) may only make async-signal-safe calls: setenv allocates, and the
 * allocator's lock may have been held by another thread at the instant of the fork. NULL when out
 * of memory; free with env_free. */
static char **env_build(size_t threads)
{
    extern char **environ;
    size_t n = 0;
    while (environ && environ[n]) n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        /* not the launcher's variables: a cell is a process on its own, not a rank of this MPI job */
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) && !alig_dist_launcher_var(environ[i])) env[k++] = environ[i];
    char *omp = malloc(48);
    if (!omp) {
        free(env);
        return NULL;
    }
    snprintf(omp, 48, "OMP_NUM_THREADS=%zu", threads);
    env[k++] = omp;
    env[k] = NULL;
    return env;
}

static void env_free(char **env)
{
    if (!env) return;
    size_t k = 0;
    while (env[k]) k++;
    free(env[k - 1]);     /* the OMP_NUM_THREADS entry, the only one we allocated */
    free(env);
}

/* Start `exe argv` with environment envp in directory dir, stdin /dev/null, stdout and stderr into
 * dir/stdout.txt and dir/stderr.txt, dying with this process. Everything the child does after
 * fork is async-signal-safe (open, chdir, dup2, prctl, execve, write, _exit). Returns the pid, or
 * -1 (errno set) when fork failed. */
static pid_t spawn_in(const char *exe, char *const argv[], char *const envp[], const char *dir)
{
    char msg[4200];
    int mlen = snprintf(msg, sizeof msg, "alig sweep: cannot run %s (execve failed, errno ", exe);
    if (mlen < 0) mlen = 0;
    if (mlen >= (int)sizeof msg) mlen = (int)sizeof msg - 1;
    fflush(stdout);
    fflush(stderr);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(137);
        int in = open("/dev/null", O_RDONLY);
        if (chdir(dir) != 0) _exit(126);
        int out = open("stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int er = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || er < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0) _exit(126);
        execve(exe, argv, envp);
        char digits[16];
        int e = errno, k = (int)sizeof digits;
        do digits[--k] = (char)('0' + e % 10); while ((e /= 10) && k > 0);
        ssize_t w = write(2, msg, (size_t)mlen);
        w = write(2, digits + k, sizeof digits - (size_t)k);
        w = write(2, ")\n", 2);
        (void)w;
        _exit(127);
    }
    return pid;
}

static int start_cell(sweep_state *s, slot *sl, size_t i)
{
    char err[512];
    alig_status st = alig_grid_cell_prepare(s->g, s->o->out, i, sl->dir, sizeof sl->dir, err, sizeof err);
    if (st) return cli_fail(CMD, CLI_RUNTIME, "%s", err[0] ? err : alig_strerror(st));
    char **cargv;
    size_t cargc;
    if ((st = alig_grid_cell_argv(s->g, i, &cargv, &cargc))) return cli_fail(CMD, CLI_RUNTIME, "%s", alig_strerror(st));
    char **argv = calloc(cargc + 2, sizeof *argv);
    if (!argv) {
        alig_grid_argv_free(cargv);
        return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    argv[0] = "alig";
    for (size_t k = 0; k < cargc; k++) argv[k + 1] = cargv[k];
    sl->t0 = cli_now();
    pid_t pid = spawn_in(s->exe, argv, s->envp, sl->dir);
    const int fork_errno = errno;
    free(argv);
    alig_grid_argv_free(cargv);
    if (pid < 0) return cli_fail(CMD, CLI_RUNTIME, "fork: %s", strerror(fork_errno));
    sl->pid = pid;
    sl->cell = i;
    s->running++;
    return CLI_OK;
}

static int finish_cell(sweep_state *s, slot *sl, int wstatus)
{
    const double wall = cli_now() - sl->t0;
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : 255;
    char path[4500];
    snprintf(path, sizeof path, "%s/stderr.txt", sl->dir);
    char *err_text = read_text(path, 1 << 16);
    alig_grid_result r;
    alig_grid_classify(s->g, sl->dir, code, err_text, wall, &r);
    free(err_text);
    alig_status st = alig_grid_cell_store(s->g, s->o->out, sl->cell, &r);
    if (st) return cli_fail(CMD, CLI_RUNTIME, "cannot write %s/result.json: %s", sl->dir, alig_strerror(st));
    return deliver(s, sl->cell, &r, 1);
}

static void kill_all(slot *slots, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (slots[k].pid > 0) {
            kill(slots[k].pid, SIGKILL);
            waitpid(slots[k].pid, NULL, 0);
            slots[k].pid = 0;
        }
}

/* Start cells todo[*next...] in free slots until `jobs` run or none is left. */
static int fill_slots(sweep_state *s, slot *slots, const size_t *todo, size_t n_todo, size_t *next, size_t *active)
{
    while (*next < n_todo && *active < s->o->jobs) {
        size_t k = 0;
        while (slots[k].pid > 0) k++;
        int rc = start_cell(s, &slots[k], todo[*next]);
        if (rc) return rc;
        ++*next;
        ++*active;
    }
    return CLI_OK;
}

/* This rank's share: cells i with i mod size == rank; finished ones are reported, others run. */
static int run_share(sweep_state *s)
{
    size_t *todo = malloc((s->n / (size_t)s->size + 1) * sizeof *todo);
    slot *slots = calloc(s->o->jobs, sizeof *slots);
    int rc = CLI_OK;
    size_t n_todo = 0;
    if (!todo || !slots) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    for (size_t i = (size_t)s->rank; i < s->n && !rc; i += (size_t)s->size) {
        int fin = 0;
        alig_grid_result r;
        alig_status st = alig_grid_cell_finished(s->g, s->o->out, i, &fin, &r);
        if (st) rc = cli_fail(CMD, CLI_RUNTIME, "cell %zu: %s", i, alig_strerror(st));
        else if (fin && r.status != ALIG_GRID_FAILED) rc = deliver(s, i, &r, 0);
        else todo[n_todo++] = i;
    }
    size_t next = 0, active = 0;
    while (!rc && (next < n_todo || active)) {
        rc = fill_slots(s, slots, todo, n_todo, &next, &active);
        if (rc) break;
        progress(s, 0);
        int wstatus;
        /* alone: block until a cell ends; with ranks: poll, so rank 0 keeps reading messages */
        pid_t pid = waitpid(-1, &wstatus, s->size > 1 ? WNOHANG : 0);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) {
            rc = cli_fail(CMD, CLI_RUNTIME, "waitpid: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            if ((rc = drain(s))) break;
            struct timespec ts = { 0, 2000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        for (size_t k = 0; k < s->o->jobs; k++)
            if (slots[k].pid == pid) {
                /* the slot is handed to the next cell before this one's result.json and the summary
                 * are written (each synced to disk), so that no core waits on the bookkeeping; a
                 * kill in between leaves this cell without result.json, and a resumed sweep runs
                 * it again */
                slot ended = slots[k];
                slots[k].pid = 0;
                s->running--;
                active--;
                rc = fill_slots(s, slots, todo, n_todo, &next, &active);
                if (!rc) rc = finish_cell(s, &ended, wstatus);
                break;
            }
        if (!rc) rc = drain(s);
    }
done:
    if (slots) kill_all(slots, s->o->jobs);
    free(slots);
    free(todo);
    return rc;
}

static int dry_run(const alig_grid *g)
{
    const size_t n = alig_grid_n_cells(g);
    for (size_t i = 0; i < n; i++) {
        char name[ALIG_GRID_MAX_NAME], **argv;
        size_t argc;
        if (alig_grid_cell_name(g, i, name, sizeof name) || alig_grid_cell_argv(g, i, &argv, &argc))
            return cli_fail(CMD, CLI_RUNTIME, "out of memory");
        printf("%s: alig", name);
        for (size_t k = 0; k < argc; k++) printf(" %s", argv[k]);
        putchar('\n');
        alig_grid_argv_free(argv);
    }
    printf("%zu cells\n", n);
    return CLI_OK;
}

/* Rank 0: create DIR, lock it against a second sweep, write DIR/sweep.protocol. */
static int open_dir(const alig_grid *g, const char *dir, int *lock_fd)
{
    int rc = cli_mkdir_p(CMD, dir);
    if (rc) return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return cli_fail(CMD, CLI_RUNTIME, "cannot create %s: %s", path, strerror(errno));
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        close(fd);
        return cli_fail(CMD, CLI_RUNTIME, "%s: another sweep is running in this directory", dir);
    }
    *lock_fd = fd;
    snprintf(path, sizeof path, "%s/sweep.protocol", dir);
    cli_out o = { 0 };
    if ((rc = cli_out_open(CMD, &o, path))) return rc;
    if (alig_grid_write_protocol(g, o.f)) {
        cli_out_abort(&o);
        return cli_fail(CMD, CLI_RUNTIME, "cannot write %s", path);
    }
    return cli_out_commit(CMD, &o);
}

/* ================================================================ compute estimate */

/* A seeded byte stream for synthetic images and labels (64-bit LCG, high bits). */
static unsigned char lcg_byte(unsigned long long *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned char)(*x >> 56);
}

static int write_bytes(FILE *f, const unsigned char *b, size_t n)
{
    return fwrite(b, 1, n, f) == n ? 0 : -1;
}

/* Synthetic data of one input shape in dir: the CIFAR-10 or CIFAR-100 binary distribution
 * (3x32x32, `records` training images over the five batches or train.bin, 20 test images), or
 * four IDX files (1x28x28). Uniform random pixels and labels: the speed of a net does not depend
 * on what the pixels hold. */
static int write_synthetic(const char *dir, int channels, int classes, size_t records, size_t *written)
{
    int rc = cli_mkdir_p(CMD, dir);
    if (rc) return rc;
    *written = records;
    unsigned long long x = 2020;
    char path[4600];
    unsigned char rec[3074];
    if (channels == 1) {
        static const char *const names[4] = { "train-images", "train-labels", "test-images", "test-labels" };
        for (int k = 0; k < 4; k++) {
            const size_t n = k < 2 ? records : 20;
            snprintf(path, sizeof path, "%s/%s", dir, names[k]);
            FILE *f = fopen(path, "wb");
            if (!f) return cli_fail(CMD, CLI_RUNTIME, "cannot create %s: %s", path, strerror(errno));
            const int images = k % 2 == 0;
            const unsigned hdr[4] = { images ? 0x803u : 0x801u, (unsigned)n, 28, 28 };
            int bad = 0;
            for (int h = 0; h < (images ? 4 : 2); h++) {
                const unsigned char be[4] = { (unsigned char)(hdr[h] >> 24), (unsigned char)(hdr[h] >> 16),
                                              (unsigned char)(hdr[h] >> 8), (unsigned char)hdr[h] };
                bad |= write_bytes(f, be, 4);
            }
            for (size_t i = 0; i < n && !bad; i++) {
                const size_t len = images ? 784 : 1;
                for (size_t j = 0; j < len; j++) rec[j] = images ? lcg_byte(&x) : (unsigned char)(lcg_byte(&x) % 10);
                bad |= write_bytes(f, rec, len);
            }
            if (fclose(f) != 0 || bad) return cli_fail(CMD, CLI_RUNTIME, "cannot write %s", path);
        }
        return CLI_OK;
    }
    const int c100 = classes != 10;
    const size_t per = (records + 4) / 5, rec_len = c100 ? 3074 : 3073;
    *written = c100 ? records : 5 * per;
    for (int k = 0; k < (c100 ? 2 : 6); k++) {
        size_t n = c100 ? (k == 0 ? records : 20) : (k < 5 ? per : 20);
        if (c100) snprintf(path, sizeof path, "%s/%s", dir, k == 0 ? "train.bin" : "test.bin");
        else if (k < 5) snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, k + 1);
        else snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        FILE *f = fopen(path, "wb");
        if (!f) return cli_fail(CMD, CLI_RUNTIME, "cannot create %s: %s", path, strerror(errno));
        int bad = 0;
        for (size_t i = 0; i < n && !bad; i++) {
            for (size_t j = 0; j < rec_len; j++) rec[j] = lcg_byte(&x);
            if (c100) {
                rec[0] %= 20;
                rec[1] %= 100;
            } else
                rec[0] %= 10;
            bad |= write_bytes(f, rec, rec_len);
        }
        if (fclose(f) != 0 || bad) return cli_fail(CMD, CLI_RUNTIME, "cannot write %s", path);
    }
    return CLI_OK;
}

/* train flags the timing run replaces or leaves out (each takes a value). The learning-rate
 * schedules go too: a multistep schedule's milestones lie beyond the timing run's few steps and
 * a plateau schedule needs epochs, so `alig train` would refuse either, and a schedule does not
 * change the time of a step. */
static const char *const timing_drop[] = { "epochs", "steps", "out", "task", "data", "data-dir", "val", "val-seed",
                                           "train-subset", "test-subset", "max-batches", "svhn-extra", "labels",
                                           "log-every", "checkpoint-every", "threads", "augment", "eval-batch",
                                           "train-images", "train-labels", "test-images", "test-labels",
                                           "classes", "schedule", "milestones", "factor", "patience",
                                           "epoch-decay", NULL };

static int drop_flag(const char *a, int *takes_value)
{
    *takes_value = 0;
    if (a[0] != '-' || a[1] != '-') return 0;
    if (!strcmp(a, "--quiet") || !strcmp(a, "--profile")) return 1;
    for (size_t k = 0; timing_drop[k]; k++) {
        const size_t n = strlen(timing_drop[k]);
        if (!strncmp(a + 2, timing_drop[k], n)) {
            if (a[2 + n] == '=') return 1;
            if (!a[2 + n]) {
                *takes_value = 1;
                return 1;
            }
        }
    }
    return 0;
}

/* SIGINT / SIGTERM during the timing runs: stop the run, remove the scratch directory, then exit */
static volatile sig_atomic_t estimate_signal;

static void estimate_on_signal(int sig)
{
    estimate_signal = sig;
}

/* rm -r of the estimate's scratch directory */
static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Time `steps` steps (after one warm-up step) of cell i, with its model, batch, dropout, loss,
 * solver and augmentation, on the synthetic data in data_dir: images/s from the run's step log. */
static int time_config(const sweep_opts *o, const char *exe, char *const envp[], size_t i, const alig_grid_work *w,
                       const char *data_dir, size_t val, const char *run_dir, double *ips)
{
    char **cargv;
    size_t cargc;
    if (alig_grid_cell_argv(o->g, i, &cargv, &cargc)) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    char **argv = calloc(cargc + 40, sizeof *argv);
    char bufs[12][4600];
    int rc = CLI_OK;
    if (!argv) {
        alig_grid_argv_free(cargv);
        return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    size_t n = 0;
    argv[n++] = "alig";
    for (size_t k = 0; k < cargc; k++) {
        int takes;
        if (drop_flag(cargv[k], &takes)) {
            k += (size_t)takes;
            continue;
        }
        argv[n++] = cargv[k];
    }
    if (w->channels == 1) {
        static const char *const flags[4] = { "--train-images", "--train-labels", "--test-images", "--test-labels" };
        static const char *const names[4] = { "train-images", "train-labels", "test-images", "test-labels" };
        for (int k = 0; k < 4; k++) {
            snprintf(bufs[k], sizeof bufs[k], "%s/%s", data_dir, names[k]);
            argv[n++] = (char *)flags[k];
            argv[n++] = bufs[k];
        }
        argv[n++] = "--classes";
        argv[n++] = "10";
    } else {
        argv[n++] = "--data";
        argv[n++] = w->classes == 10 ? "cifar10" : "cifar100";
        argv[n++] = "--data-dir";
        snprintf(bufs[4], sizeof bufs[4], "%s", data_dir);
        argv[n++] = bufs[4];
        if (w->classes == 20) {
            argv[n++] = "--labels";
            argv[n++] = "coarse";
        }
    }
    snprintf(bufs[5], sizeof bufs[5], "%zu", o->estimate_steps + 1);
    snprintf(bufs[8], sizeof bufs[8], "%zu", val);
    const char *tail[] = { "--augment", w->augment ? "on" : "off", "--val", bufs[8], "--test-subset", "10", "--steps",
                           bufs[5], "--log-every", "1", "--checkpoint-every", "1000000", "--quiet", "--out", "run",
                           NULL };
    for (size_t k = 0; tail[k]; k++) argv[n++] = (char *)tail[k];
    argv[n] = NULL;
    rc = cli_mkdir_p(CMD, run_dir);
    pid_t pid = rc ? -1 : spawn_in(exe, argv, envp, run_dir);
    if (!rc && pid < 0) rc = cli_fail(CMD, CLI_RUNTIME, "fork: %s", strerror(errno));
    int wstatus = 0;
    while (!rc && waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) rc = cli_fail(CMD, CLI_RUNTIME, "waitpid: %s", strerror(errno));
        else if (estimate_signal) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            rc = cli_fail(CMD, CLI_RUNTIME, "--estimate: interrupted by signal %d", (int)estimate_signal);
        }
    }
    if (!rc && !(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)) {
        snprintf(bufs[6], sizeof bufs[6], "%s/stderr.txt", run_dir);
        char *e = read_text(bufs[6], 4096);
        char *nl = e ? strchr(e, '\n') : NULL;
        if (nl) *nl = 0;
        rc = cli_fail(CMD, CLI_RUNTIME, "--estimate: the timing run of %s failed: %s", w->config, e && *e ? e : "no message");
        free(e);
    }
    if (!rc) {
        /* step log: step,window_steps,...,seconds,...; the first record is the warm-up step */
        snprintf(bufs[7], sizeof bufs[7], "%s/run/log.csv", run_dir);
        FILE *f = fopen(bufs[7], "r");
        char line[4096];
        int c_step = -1, c_win = -1, c_sec = -1;
        double steps = 0, secs = 0;
        if (f && fgets(line, sizeof line, f)) {
            int c = 0;
            for (char *tok = strtok(line, ",\n"); tok; tok = strtok(NULL, ",\n"), c++) {
                if (!strcmp(tok, "step")) c_step = c;
                else if (!strcmp(tok, "window_steps")) c_win = c;
                else if (!strcmp(tok, "seconds")) c_sec = c;
            }
            while (c_step >= 0 && c_win >= 0 && c_sec >= 0 && fgets(line, sizeof line, f)) {
                double vstep = 0, vwin = 0, vsec = 0;
                c = 0;
                for (char *tok = strtok(line, ",\n"); tok; tok = strtok(NULL, ",\n"), c++) {
                    if (c == c_step) vstep = strtod(tok, NULL);
                    else if (c == c_win) vwin = strtod(tok, NULL);
                    else if (c == c_sec) vsec = strtod(tok, NULL);
                }
                if (vstep > 1) {
                    steps += vwin;
                    secs += vsec;
                }
            }
        }
        if (f) fclose(f);
        if (!(steps > 0 && secs > 0))
            rc = cli_fail(CMD, CLI_RUNTIME, "--estimate: no timed step in %s", bufs[7]);
        else
            *ips = steps * (double)w->batch / secs;
    }
    free(argv);
    alig_grid_argv_free(cargv);
    return rc;
}

static void fmt_hours(double s, char *buf, size_t len)
{
    if (s < 3600) snprintf(buf, len, "%.1f min", s / 60);
    else if (s < 86400 * 3) snprintf(buf, len, "%.1f h", s / 3600);
    else if (s < 86400 * 365.25 * 2) snprintf(buf, len, "%.1f days", s / 86400);
    else snprintf(buf, len, "%.1f years", s / (86400 * 365.25));
}

static int sweep_estimate(const sweep_opts *o)
{
    const alig_grid *g = o->g;
    const size_t n = alig_grid_n_cells(g);
    alig_grid_work *w = calloc(n + 1, sizeof *w);
    size_t *cfg = calloc(n + 1, sizeof *cfg), *first = calloc(n + 1, sizeof *first), *count = calloc(n + 1, sizeof *count);
    double *ips = calloc(n + 1, sizeof *ips), *secs = calloc(n + 1, sizeof *secs), *imgs = calloc(n + 1, sizeof *imgs);
    char tmp[4200] = "";
    char **envp = NULL;
    int rc = CLI_OK;
    size_t n_cfg = 0;
    if (!w || !cfg || !first || !count || !ips || !secs || !imgs) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    char err[512];
    for (size_t i = 0; i < n && !rc; i++) {
        if (alig_grid_cell_work(g, i, &w[i], err, sizeof err)) {
            rc = cli_fail(CMD, CLI_USAGE, "--estimate: %s", err);
            break;
        }
        size_t k = 0;
        while (k < n_cfg && strcmp(w[first[k]].config, w[i].config)) k++;
        if (k == n_cfg) first[n_cfg++] = i;
        cfg[i] = k;
        count[k]++;
        imgs[k] += w[i].images;
    }
    if (rc) goto done;
    double load = NAN;
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load) != 1) load = NAN;
        fclose(lf);
    }
    if (o->estimate_rate > 0) {
        for (size_t k = 0; k < n_cfg; k++) ips[k] = o->estimate_rate;
    } else {
        char exe[4096];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (len <= 0) {
            rc = cli_fail(CMD, CLI_RUNTIME, "cannot find this program through /proc/self/exe: %s", strerror(errno));
            goto done;
        }
        exe[len] = 0;
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/alig-estimate.XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmp)) {
            rc = cli_fail(CMD, CLI_RUNTIME, "cannot create %s: %s", tmp, strerror(errno));
            tmp[0] = 0;
            goto done;
        }
        if (!(envp = env_build(g->threads))) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
            goto done;
        }
        /* no SA_RESTART: a signal interrupts waitpid, so the scratch directory is removed on the way out */
        struct sigaction sa = { .sa_handler = estimate_on_signal }, old_int, old_term;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        for (size_t k = 0; k < n_cfg && !rc && !estimate_signal; k++) {
            const alig_grid_work *wk = &w[first[k]];
            /* one data set per configuration: two whole batches of training images (no short batch) and
             * 10 to 14 validation images (the CIFAR-10 files hold a multiple of 5 records) */
            char data[4400], run[4400];
            snprintf(data, sizeof data, "%s/data%zu", tmp, k);
            snprintf(run, sizeof run, "%s/run%zu", tmp, k);
            if (!o->quiet) {
                fprintf(stderr, "estimate: timing %zu/%zu: %s ...\n", k + 1, n_cfg, wk->config);
                fflush(stderr);
            }
            size_t written = 0;
            if (!(rc = write_synthetic(data, wk->channels, wk->classes, 2 * wk->batch + 10, &written)))
                rc = time_config(o, exe, envp, first[k], wk, data, written - 2 * wk->batch, run, &ips[k]);
        }
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (!rc && estimate_signal)
            rc = cli_fail(CMD, CLI_RUNTIME, "--estimate: interrupted by signal %d", (int)estimate_signal);
        if (rc) goto done;
    }
    double total_img = 0, total_s = 0, total_eval = 0;
    for (size_t i = 0; i < n; i++) {
        secs[i] = w[i].images / ips[cfg[i]];
        total_img += w[i].images;
        total_eval += w[i].eval_images;
        total_s += secs[i];
    }
    const double wall = alig_grid_schedule(secs, n, o->jobs);
    printf("estimate: %s%s%s: %zu cells in %zu configuration%s, --jobs %zu, %zu thread%s per cell\n",
           o->protocol ? o->protocol : "command-line grid", o->scale ? ", scale " : "", o->scale ? o->scale : "", n, n_cfg,
           n_cfg == 1 ? "" : "s", o->jobs, g->threads, g->threads == 1 ? "" : "s");
    if (o->estimate_rate > 0)
        printf("images/s: assumed %.6g for every configuration (--estimate-rate), not measured\n", o->estimate_rate);
    else
        printf("images/s: measured now on this machine, %zu step%s after one warm-up step of the first cell of each\n"
               "configuration, on synthetic data of its shape (load average %.2f when the timing started)\n",
               o->estimate_steps, o->estimate_steps == 1 ? "" : "s", load);
    printf("%12s %7s %16s %12s  %s\n", "images/s", "cells", "images", "cell-hours", "configuration");
    for (size_t k = 0; k < n_cfg; k++)
        printf("%12.4g %7zu %16.0f %12.4g  %s\n", ips[k], count[k], imgs[k], imgs[k] / ips[k] / 3600, w[first[k]].config);
    char h1[64], h2[64];
    fmt_hours(total_s, h1, sizeof h1);
    fmt_hours(wall, h2, sizeof h2);
    printf("total: %zu cells, %.0f images, %.17g cell-seconds (%s of one cell slot)\n", n, total_img, total_s, h1);
    printf("wall: %.17g s at --jobs %zu (%s): cells started in grid order on the first free slot, each at the\n"
           "measured speed of its configuration, no cell already finished\n", wall, o->jobs, h2);
    printf("not counted: the evaluation after each epoch, %.0f images (validation split and test set, forward\n"
           "passes only, each much cheaper than a training image)\n", total_eval);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && (double)o->jobs * (double)g->threads > (double)cores)
        printf("note: --jobs %zu x %zu thread%s = %zu > %ld cores: cells will share cores and run slower than timed\n",
               o->jobs, g->threads, g->threads == 1 ? "" : "s", o->jobs * g->threads, cores);
done:
    if (tmp[0]) nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    env_free(envp);
    free(w);
    free(cfg);
    free(first);
    free(count);
    free(ips);
    free(secs);
    free(imgs);
    return rc;
}

static int sweep_plot(const char *dir);
static int sweep_table(const char *dir);
static int sweep_curves(const char *dir, size_t smooth);

static int run_sweep(const sweep_opts *o)
{
    sweep_state s = { .o = o, .g = o->g, .n = alig_grid_n_cells(o->g), .rank = alig_dist_rank(),
                      .size = alig_dist_size(), .tty = isatty(STDERR_FILENO) };
    ssize_t len = readlink("/proc/self/exe", s.exe, sizeof s.exe - 1);
    if (len <= 0) return cli_fail(CMD, CLI_RUNTIME, "cannot find this program through /proc/self/exe: %s", strerror(errno));
    s.exe[len] = 0;
    snprintf(s.summary, sizeof s.summary, "%s/summary.csv", o->out);
    if (!(s.envp = env_build(o->g->threads))) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    int lock_fd = -1, rc = CLI_OK;
    char err[256];
    if (s.rank == 0) {
        rc = open_dir(o->g, o->out, &lock_fd);
        if (rc && s.size > 1) alig_dist_abort(rc);
    }
    if (alig_dist_barrier(err, sizeof err)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "%s", err);
        goto done;
    }
    if (rc) goto done;
    if (s.rank == 0 && (!(s.results = calloc(s.n ? s.n : 1, sizeof *s.results)) ||
                        !(s.ran_by = calloc((size_t)s.size, sizeof *s.ran_by)))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    s.t_start = s.t_print = cli_now();
    if (s.rank == 0 && alig_grid_summary_write(o->g, s.results, s.summary)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "cannot write %s", s.summary);
        goto done;
    }
    rc = run_share(&s);
    if (s.rank != 0) {
        /* tell rank 0 this share is over (or why it failed) */
        const char *msg = rc ? "failed (see its stderr)" : "done";
        if (alig_dist_send(0, rc ? TAG_ERROR : TAG_DONE, msg, strlen(msg), err, sizeof err) && !rc)
            rc = cli_fail(CMD, CLI_RUNTIME, "rank %d: %s", s.rank, err);
    } else {
        while (!rc && s.ranks_done + 1 < (size_t)s.size) {
            if ((rc = drain(&s))) break;
            struct timespec ts = { 0, 2000000 };
            nanosleep(&ts, NULL);
        }
        progress(&s, 1);
        if (!rc && alig_grid_summary_write(o->g, s.results, s.summary))
            rc = cli_fail(CMD, CLI_RUNTIME, "cannot write %s", s.summary);
        if (!o->quiet && s.size > 1) {
            fprintf(stderr, "sweep: cells run by each of the %d ranks:", s.size);
            for (int k = 0; k < s.size; k++) fprintf(stderr, " %zu", s.ran_by[k]);
            fputc('\n', stderr);
        }
        if (!rc && s.done != s.n) rc = cli_fail(CMD, CLI_RUNTIME, "internal error: %zu of %zu cells reported", s.done, s.n);
        if (!rc && s.failed) {
            size_t first = 0;
            while (first < s.n && s.results[first].status != ALIG_GRID_FAILED) first++;
            char name[ALIG_GRID_MAX_NAME] = "";
            alig_grid_cell_name(o->g, first, name, sizeof name);
            rc = cli_fail(CMD, CLI_RUNTIME, "%zu of %zu cells failed (first: %s: %s); see %s", s.failed, s.n, name,
                          first < s.n ? s.results[first].note : "", s.summary);
        }
    }
    if (rc && s.size > 1) alig_dist_abort(rc);
    if (alig_dist_barrier(err, sizeof err) && !rc) rc = cli_fail(CMD, CLI_RUNTIME, "%s", err);
done:
    free(s.results);
    free(s.ran_by);
    env_free(s.envp);
    if (lock_fd >= 0) close(lock_fd);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;
    if (o.plot) return sweep_plot(o.plot);
    if (o.table) return sweep_table(o.table);
    if (o.curves) return sweep_curves(o.curves, o.smooth ? o.smooth : 5);
    if (o.dry_run || o.estimate) {
        rc = o.dry_run ? dry_run(o.g) : sweep_estimate(&o);
        alig_grid_free(o.g);
        opts_free_vars(&o);
        return rc;
    }
    char err[512];
    if (alig_dist_init(&argc, &argv, err, sizeof err)) {
        alig_grid_free(o.g);
        opts_free_vars(&o);
        return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    }
    rc = run_sweep(&o);
    alig_grid_free(o.g);
    opts_free_vars(&o);
    alig_dist_finalize();
    return rc;
}

/* ================================================================ figures and the table */

/* How the figures name an axis: Greek letters where the paper uses them. */
static const struct { const char *axis, *label; } axis_labels[] = {
    { "eta", "η (ALI-G maximal step size)" },
    { "lr", "learning rate" },
    { "alpha", "α (L4 step fraction)" },
    { "momentum", "μ (momentum)" },
};

static const char *axis_label(const char *name)
{
    for (size_t k = 0; k < sizeof axis_labels / sizeof axis_labels[0]; k++)
        if (!strcmp(axis_labels[k].axis, name)) return axis_labels[k].label;
    return name;
}

typedef struct plot_col {
    int axis;               /* index into plot_data.rate_names; -1: no rate axis */
    double x;               /* numeric rate value; INFINITY for inf */
    char text[ALIG_GRID_MAX_TOKEN];
} plot_col;

typedef struct plot_cell {
    size_t n, n_ok;         /* seeds seen, seeds with status ok */
    double med, lo, hi;     /* over the ok seeds: median, min, max of the final objective */
    alig_grid_status worst; /* the most frequent non-ok status when n_ok == 0 */
    size_t count[4];
} plot_cell;

typedef struct plot_data {
    size_t n_rows, n_cols;
    char (*rows)[512];
    const char **row_rate;  /* each row's rate axis name ("-" when none) */
    int *row_axis;          /* each row's rate axis: index into rate_names, -1 when none */
    plot_col *cols;         /* sorted by axis (in rate_names order, none last), then value */
    plot_cell *cells;       /* n_rows x n_cols */
    double **vals;          /* per (row, col): the ok objectives */
    const char *rate_names[16];
    size_t n_rate_names;
} plot_data;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_col(const void *a, const void *b)
{
    const plot_col *p = a, *q = b;
    const unsigned ap = (unsigned)p->axis, aq = (unsigned)q->axis;   /* -1 sorts last */
    if (ap != aq) return ap < aq ? -1 : 1;
    return cmp_double(&p->x, &q->x);
}

/* The column of (axis, x), or n_cols. */
static size_t col_index(const plot_data *d, int axis, double x)
{
    size_t k = 0;
    while (k < d->n_cols && !(d->cols[k].axis == axis && d->cols[k].x == x)) k++;
    return k;
}

/* Groups of columns with one rate axis each (a method's cells lie in one): [first, end). */
static size_t col_groups(const plot_data *d, size_t *first, size_t *end, size_t max)
{
    size_t n = 0;
    for (size_t k = 0; k < d->n_cols; k++)
        if (!k || d->cols[k].axis != d->cols[k - 1].axis) {
            if (n == max) break;
            first[n] = k;
            end[n] = d->n_cols;
            if (n) end[n - 1] = k;
            n++;
        }
    return n;
}

/* The row key and the rate axis (index into the cell's axes, or -1) of cell c. */
static void row_of(const alig_grid *g, const alig_grid_cell *c, char *key, size_t len, int *rate_k)
{
    *rate_k = -1;
    for (size_t r = 0; r < g->n_rate && *rate_k < 0; r++)
        for (size_t k = 0; k < c->n_axes; k++)
            if (!strcmp(alig_grid_cell_axis(g, c, k)->name, g->rate[r])) {
                *rate_k = (int)k;
                break;
            }
    size_t used = (size_t)snprintf(key, len, "%s", g->methods[c->method].name);
    for (size_t k = 0; k < c->n_axes && used < len; k++) {
        const alig_grid_axis *a = alig_grid_cell_axis(g, c, k);
        if ((int)k == *rate_k || a->n < 2) continue;
        used += (size_t)snprintf(key + used, len - used, "%s%s=%s", used ? " " : "", a->name, a->values[c->value[k]]);
    }
    if (!key[0]) snprintf(key, len, "all");
}

static void plot_data_free(plot_data *d)
{
    if (d->vals)
        for (size_t k = 0; k < d->n_rows * d->n_cols; k++) free(d->vals[k]);
    free(d->vals);
    free(d->rows);
    free(d->row_rate);
    free(d->row_axis);
    free(d->cols);
    free(d->cells);
}

static int collect(const alig_grid *g, const char *dir, plot_data *d, size_t *n_done)
{
    const size_t n = alig_grid_n_cells(g);
    memset(d, 0, sizeof *d);
    d->rows = calloc(n + 1, sizeof *d->rows);
    d->row_rate = calloc(n + 1, sizeof *d->row_rate);
    d->row_axis = calloc(n + 1, sizeof *d->row_axis);
    d->cols = calloc(n + 1, sizeof *d->cols);
    size_t *row_of_cell = calloc(n + 1, sizeof *row_of_cell);
    alig_grid_result *res = calloc(n + 1, sizeof *res);
    int rc = CLI_OK;
    if (!d->rows || !d->row_rate || !d->row_axis || !d->cols || !row_of_cell || !res) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    *n_done = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        alig_grid_cell c;
        alig_grid_cell_at(g, i, &c);
        int fin = 0;
        if (alig_grid_cell_finished(g, dir, i, &fin, &res[i])) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
            break;
        }
        if (!fin) continue;
        (*n_done)++;
        char key[512];
        int rk;
        row_of(g, &c, key, sizeof key, &rk);
        plot_col col = { .axis = -1, .x = 0, .text = "-" };
        if (rk >= 0) {
            const alig_grid_axis *a = alig_grid_cell_axis(g, &c, (size_t)rk);
            const char *t = a->values[c.value[rk]];
            char *end;
            col.x = strtod(t, &end);
            if (*end || end == t || isnan(col.x)) {
                rc = cli_fail(CMD, CLI_USAGE, "--plot: rate axis %s has the value '%s', not a number", a->name, t);
                break;
            }
            snprintf(col.text, sizeof col.text, "%s", t);
            size_t q = 0;
            while (q < d->n_rate_names && strcmp(d->rate_names[q], a->name)) q++;
            if (q == d->n_rate_names) {
                if (q == sizeof d->rate_names / sizeof d->rate_names[0]) {
                    rc = cli_fail(CMD, CLI_USAGE, "--plot: more than %zu rate axes", q);
                    break;
                }
                d->rate_names[d->n_rate_names++] = a->name;
            }
            col.axis = (int)q;
        }
        size_t r = 0;
        while (r < d->n_rows && strcmp(d->rows[r], key)) r++;
        if (r == d->n_rows) {
            d->row_rate[r] = rk >= 0 ? alig_grid_cell_axis(g, &c, (size_t)rk)->name : "-";
            d->row_axis[r] = col.axis;
            snprintf(d->rows[d->n_rows++], sizeof d->rows[0], "%s", key);
        }
        row_of_cell[i] = r;
        if (col_index(d, col.axis, col.x) == d->n_cols) d->cols[d->n_cols++] = col;
    }
    if (rc) goto done;
    qsort(d->cols, d->n_cols, sizeof *d->cols, cmp_col);
    d->cells = calloc(d->n_rows * d->n_cols + 1, sizeof *d->cells);
    d->vals = calloc(d->n_rows * d->n_cols + 1, sizeof *d->vals);
    if (!d->cells || !d->vals) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!res[i].done) continue;
        alig_grid_cell c;
        alig_grid_cell_at(g, i, &c);
        char key[512];
        int rk;
        row_of(g, &c, key, sizeof key, &rk);
        double x = 0;
        if (rk >= 0) x = strtod(alig_grid_cell_axis(g, &c, (size_t)rk)->values[c.value[rk]], NULL);
        const size_t k = col_index(d, d->row_axis[row_of_cell[i]], x);
        const size_t at = row_of_cell[i] * d->n_cols + k;
        plot_cell *pc = &d->cells[at];
        if (!pc->n && !(d->vals[at] = calloc(g->n_seeds + 1, sizeof **d->vals))) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
            goto done;
        }
        pc->n++;
        pc->count[res[i].status]++;
        if (res[i].status == ALIG_GRID_OK && pc->n_ok < g->n_seeds + 1) d->vals[at][pc->n_ok++] = res[i].obj_last;
    }
    for (size_t k = 0; k < d->n_rows * d->n_cols; k++) {
        plot_cell *pc = &d->cells[k];
        if (pc->n_ok) {
            qsort(d->vals[k], pc->n_ok, sizeof **d->vals, cmp_double);
            const double *v = d->vals[k];
            pc->med = pc->n_ok % 2 ? v[pc->n_ok / 2] : 0.5 * (v[pc->n_ok / 2 - 1] + v[pc->n_ok / 2]);
            pc->lo = v[0];
            pc->hi = v[pc->n_ok - 1];
        }
        pc->worst = ALIG_GRID_NONFINITE;
        for (int st = ALIG_GRID_DIVERGED; st <= ALIG_GRID_FAILED; st++)
            if (pc->count[st] > pc->count[pc->worst]) pc->worst = (alig_grid_status)st;
    }
done:
    free(row_of_cell);
    free(res);
    return rc;
}

static void fmt_val(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%.2g", v);
}

/* A gnuplot-safe double-quoted label (quotes and backslashes dropped). */
static void gp_label(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++)
        if (*s != '"' && *s != '\\') fputc(*s, f);
    fputc('"', f);
}

/* The markdown table of the rows of one rate axis (group of columns [c0, c1)). */
static void markdown_group(FILE *f, const plot_data *d, int axis, size_t c0, size_t c1)
{
    fprintf(f, "| row |");
    for (size_t k = c0; k < c1; k++) fprintf(f, " %s |", d->cols[k].text);
    fprintf(f, " best |\n|---|");
    for (size_t k = c0; k < c1; k++) fprintf(f, "---:|");
    fprintf(f, "---|\n");
    for (size_t r = 0; r < d->n_rows; r++) {
        if (d->row_axis[r] != axis) continue;
        fprintf(f, "| %s |", d->rows[r]);
        double best = INFINITY;
        size_t best_k = 0;
        for (size_t k = c0; k < c1; k++) {
            const plot_cell *pc = &d->cells[r * d->n_cols + k];
            if (!pc->n) fprintf(f, " |");
            else if (!pc->n_ok)
                fprintf(f, " %s |", pc->worst == ALIG_GRID_DIVERGED ? "div" : pc->worst == ALIG_GRID_NONFINITE ? "NaN" : "fail");
            else {
                fprintf(f, " %.3g", pc->med);
                if (pc->n_ok < pc->n) fprintf(f, " (%zu/%zu ok)", pc->n_ok, pc->n);
                fprintf(f, " |");
                if (pc->med < best) {
                    best = pc->med;
                    best_k = k;
                }
            }
        }
        if (isfinite(best) && axis < 0) fprintf(f, " %.3g |\n", best);
        else if (isfinite(best)) fprintf(f, " %s = %s: %.3g |\n", d->row_rate[r], d->cols[best_k].text, best);
        else fprintf(f, " - |\n");
    }
}

static int write_markdown(const alig_grid *g, const plot_data *d, const char *path, const char *objective)
{
    cli_out o = { 0 };
    int rc = cli_out_open(CMD, &o, path);
    if (rc) return rc;
    FILE *f = o.f;
    fprintf(f, "# Sweep summary\n\nBase command: `alig");
    for (size_t k = 0; k < g->n_base; k++) fprintf(f, " %s", g->base[k]);
    fprintf(f, "`; seeds: ");
    for (size_t k = 0; k < g->n_seeds; k++) fprintf(f, "%s%lu", k ? ", " : "", g->seeds[k]);
    fprintf(f, ".\n\nEach entry: the %s, median over the seeds whose status is `ok` (`k/n ok` when only k of n\n"
               "seeds are); `div` diverged, `NaN` non-finite, `fail` failed (all seeds). ",
            objective);
    size_t first[17], end[17];
    const size_t n_groups = col_groups(d, first, end, 17);
    if (n_groups <= 1) {
        fprintf(f, "Columns: %s.\n\n", d->n_rate_names ? axis_label(d->rate_names[0]) : "(no rate axis)");
        markdown_group(f, d, d->n_cols ? d->cols[0].axis : -1, 0, d->n_cols);
    } else {
        fprintf(f, "One table per step-size axis.\n");
        for (size_t gi = 0; gi < n_groups; gi++) {
            const int axis = d->cols[first[gi]].axis;
            fprintf(f, "\n## %s\n\n", axis >= 0 ? axis_label(d->rate_names[axis]) : "(no rate axis)");
            markdown_group(f, d, axis, first[gi], end[gi]);
        }
    }
    return cli_out_commit(CMD, &o);
}

static int sweep_plot(const char *dir)
{
    char path[4200], err[512], q[4400];
    snprintf(path, sizeof path, "%s/sweep.protocol", dir);
    alig_grid *g = NULL;
    alig_status st = alig_grid_parse_file(path, &g, err, sizeof err);
    if (st) return cli_fail(CMD, st == ALIG_EIO ? CLI_USAGE : CLI_RUNTIME, "--plot %s: %s", dir, err);
    plot_data d;
    size_t n_done = 0;
    int rc = collect(g, dir, &d, &n_done);
    FILE *f = NULL;
    char *body = NULL;
    size_t body_len = 0;
    if (rc) goto done;
    if (!n_done) {
        rc = cli_fail(CMD, CLI_RUNTIME, "--plot %s: no finished cell to draw", dir);
        goto done;
    }
    const char *objective = g->kind == ALIG_GRID_SOLVE ? "final objective f(w_T) - f* (the run's last f_gap)"
                                                       : "final training loss (the last log record, nats)";
    snprintf(path, sizeof path, "%s/summary.md", dir);
    if ((rc = write_markdown(g, &d, path, objective))) goto done;
    snprintf(path, sizeof path, "%s/figures", dir);
    if ((rc = cli_mkdir_p(CMD, path))) goto done;

    /* ---- one panel per rate axis (a method's cells share one): the groups of columns */
    size_t first[17], end[17];
    const size_t n_groups = col_groups(&d, first, end, 17);
    size_t g_rows[17], max_cols = 1;
    double xinf[17], xlo[17], xhi[17];   /* per panel: where ∞ is drawn, the finite positive values' range */
    int g_inf[17], has_inf = 0;
    for (size_t gi = 0; gi < n_groups; gi++) {
        const int axis = d.cols[first[gi]].axis;
        g_rows[gi] = 0;
        for (size_t r = 0; r < d.n_rows; r++) g_rows[gi] += d.row_axis[r] == axis;
        if (end[gi] - first[gi] > max_cols) max_cols = end[gi] - first[gi];
        xlo[gi] = INFINITY;
        xhi[gi] = -INFINITY;
        g_inf[gi] = 0;
        for (size_t k = first[gi]; k < end[gi]; k++) {
            if (isinf(d.cols[k].x)) g_inf[gi] = has_inf = 1;
            else if (d.cols[k].x > 0) {
                xlo[gi] = fmin(xlo[gi], d.cols[k].x);
                xhi[gi] = fmax(xhi[gi], d.cols[k].x);
            }
        }
        xinf[gi] = isfinite(xhi[gi]) ? xhi[gi] * 10 : 1;
    }
    double vmin = INFINITY, vmax = -INFINITY;
    for (size_t k = 0; k < d.n_rows * d.n_cols; k++)
        if (d.cells[k].n_ok && d.cells[k].med > 0) {
            vmin = fmin(vmin, d.cells[k].lo > 0 ? d.cells[k].lo : d.cells[k].med);
            vmax = fmax(vmax, d.cells[k].hi);
        }
    if (!isfinite(vmin)) vmin = vmax = 1;
    if (!(vmax > vmin)) vmax = vmin * 10;
    const char *what = g->kind == ALIG_GRID_SOLVE ? "Final objective f(w_T) − f⋆" : "Final training loss (nats)";

    /* ---- data: heatmap cells (one block per panel: column and row within the panel) */
    snprintf(path, sizeof path, "%s/figures/heatmap.dat", dir);
    cli_out o = { 0 };
    if ((rc = cli_out_open(CMD, &o, path))) goto done;
    fprintf(o.f, "# one block per panel (rate axis): col row log10(median) label kind(0 ok, 1 diverged, 2 non-finite, 3 failed)\n");
    int has_kind[17][4];
    memset(has_kind, 0, sizeof has_kind);
    for (size_t gi = 0; gi < n_groups; gi++) {
        const int axis = d.cols[first[gi]].axis;
        size_t rr = 0;
        for (size_t r = 0; r < d.n_rows; r++) {
            if (d.row_axis[r] != axis) continue;
            for (size_t k = first[gi]; k < end[gi]; k++) {
                const plot_cell *pc = &d.cells[r * d.n_cols + k];
                if (!pc->n) continue;
                char lab[64];
                int kind = 0;
                double z = 0;
                if (pc->n_ok) {
                    z = log10(pc->med > 0 ? pc->med : vmin);
                    fmt_val(pc->med, lab, sizeof lab);
                    if (pc->n_ok < pc->n) strcat(lab, "*");
                } else {
                    kind = pc->worst >= 1 && pc->worst <= 3 ? (int)pc->worst : 3;
                    snprintf(lab, sizeof lab, "%s", kind == 1 ? "div" : kind == 2 ? "NaN" : "fail");
                }
                has_kind[gi][kind] = 1;
                fprintf(o.f, "%zu %zu %.17g \"%s\" %d\n", k - first[gi], g_rows[gi] - 1 - rr, z, lab, kind);
            }
            rr++;
        }
        fprintf(o.f, "\n\n");
    }
    if ((rc = cli_out_commit(CMD, &o))) goto done;

    /* ---- data: the curves (one block per row), then one block of not-ok points per panel */
    snprintf(path, sizeof path, "%s/figures/objective.dat", dir);
    if ((rc = cli_out_open(CMD, &o, path))) goto done;
    for (size_t r = 0; r < d.n_rows; r++) {
        size_t gi = 0;
        while (gi + 1 < n_groups && d.cols[first[gi]].axis != d.row_axis[r]) gi++;
        fprintf(o.f, "# %s\n# x median min max\n", d.rows[r]);
        int any = 0;
        for (size_t k = 0; k < d.n_cols; k++) {
            const plot_cell *pc = &d.cells[r * d.n_cols + k];
            const double x = isinf(d.cols[k].x) ? xinf[gi] : d.cols[k].x;
            if (!pc->n_ok || !(pc->med > 0) || !(x > 0)) continue;
            fprintf(o.f, "%.17g %.17g %.17g %.17g\n", x, pc->med, pc->lo > 0 ? pc->lo : pc->med, pc->hi);
            any = 1;
        }
        if (!any) fprintf(o.f, "nan nan nan nan\n");
        fprintf(o.f, "\n\n");
    }
    int bad_any[17];
    for (size_t gi = 0; gi < n_groups; gi++) {
        const int axis = d.cols[first[gi]].axis;
        fprintf(o.f, "# not ok (all seeds), %s: x kind\n", axis >= 0 ? d.rate_names[axis] : "-");
        bad_any[gi] = 0;
        for (size_t r = 0; r < d.n_rows; r++)
            for (size_t k = first[gi]; k < end[gi]; k++) {
                const plot_cell *pc = &d.cells[r * d.n_cols + k];
                const double x = isinf(d.cols[k].x) ? xinf[gi] : d.cols[k].x;
                if (d.row_axis[r] == axis && pc->n && !pc->n_ok && x > 0) {
                    fprintf(o.f, "%.17g %d\n", x, (int)pc->worst);
                    bad_any[gi] = 1;
                }
            }
        if (!bad_any[gi]) fprintf(o.f, "nan nan\n");
        fprintf(o.f, "\n\n");
    }
    if ((rc = cli_out_commit(CMD, &o))) goto done;

    /* ---- heatmap: the panels stacked, cells of one size in all of them, one colour bar */
    if (!(f = open_memstream(&body, &body_len))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/figures/heatmap.dat", dir);
    if (alig_plot_quote(q, sizeof q, path)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "path too long: %s", path);
        goto done;
    }
    char over[64];   /* no seed list: one run per cell, with the command's own seed */
    if (g->n_seeds) snprintf(over, sizeof over, "median over %zu seed%s", g->n_seeds, g->n_seeds == 1 ? "" : "s");
    else snprintf(over, sizeof over, "one run per cell (no seed list)");
    /* pixel layout: title band, then per panel its cells (42 px a row) and its tick labels and
     * axis label below; rows named on the left, the colour bar on the right */
    const double cw = 62, ch = 42, left = 230, right = 170, top = 90, below = 105;
    double H = top;
    for (size_t gi = 0; gi < n_groups; gi++) H += ch * (double)g_rows[gi] + below;
    if (H < 400) H = 400;
    double W = left + cw * (double)max_cols + right;
    if (W < 640) W = 640;
    /* the colour bar spans the middle half of the panels' height: pixels cb_top to cb_bottom from the top */
    const double cb_top = top + 0.25 * (H - top), cb_bottom = H - 0.25 * (H - top);
    fprintf(f, "reset\nset encoding utf8\nunset key\n");
    fprintf(f, "set multiplot title \"%s, %s\\ncolour log-proportional; * some seeds not ok\\n"
               "div: diverged, NaN: non-finite, fail: failed\" font ',10'\n", what, over);
    fprintf(f, "set tics scale 0\nset cbrange [%.17g:%.17g]\nset cblabel \"log_{10} %s\"\n", floor(log10(vmin)),
            ceil(log10(vmax)) > floor(log10(vmin)) ? ceil(log10(vmax)) : floor(log10(vmin)) + 1,
            g->kind == ALIG_GRID_SOLVE ? "(f(w_T) − f⋆)" : "(training loss)");
    fprintf(f, "set palette defined (0 '#ffffe5', 0.35 '#fec44f', 0.7 '#ec7014', 1 '#993404')\n"
               "set style fill solid 1.0 border rgb '#ffffff'\nset ylabel 'method'\n");
    static const char *const fills[4] = { "palette", "rgb '#9e9ac8'", "rgb '#252525'", "rgb '#f4a6a6'" };
    double y = top;
    for (size_t gi = 0; gi < n_groups; gi++) {
        const int axis = d.cols[first[gi]].axis;
        const size_t nc = end[gi] - first[gi];
        const double y1 = y + ch * (double)g_rows[gi];
        fprintf(f, "set lmargin at screen %.6f\nset rmargin at screen %.6f\n", left / W, (left + cw * (double)nc) / W);
        fprintf(f, "set tmargin at screen %.6f\nset bmargin at screen %.6f\n", 1 - y / H, 1 - y1 / H);
        if (gi == 0)
            fprintf(f, "set colorbox user origin screen %.6f, screen %.6f size screen %.6f, screen %.6f\n",
                    (left + cw * (double)max_cols + 30) / W, 1 - cb_bottom / H, 22 / W, (cb_bottom - cb_top) / H);
        else fprintf(f, "unset colorbox\n");
        fprintf(f, "set xlabel \"%s\"\n", axis >= 0 ? axis_label(d.rate_names[axis]) : "(no rate axis)");
        fprintf(f, "set xrange [-0.5:%g]\nset yrange [-0.5:%g]\n", (double)nc - 0.5, (double)g_rows[gi] - 0.5);
        fprintf(f, "set xtics rotate by 45 right (");
        for (size_t k = first[gi]; k < end[gi]; k++) {
            fprintf(f, "%s", k > first[gi] ? ", " : "");
            gp_label(f, isinf(d.cols[k].x) ? "∞" : d.cols[k].text);
            fprintf(f, " %zu", k - first[gi]);
        }
        fprintf(f, ")\nset ytics (");
        size_t rr = 0;
        for (size_t r = 0; r < d.n_rows; r++) {
            if (d.row_axis[r] != axis) continue;
            fprintf(f, "%s", rr ? ", " : "");
            gp_label(f, d.rows[r]);
            fprintf(f, " %zu", g_rows[gi] - 1 - rr++);
        }
        fprintf(f, ")\n");
        /* one plot clause per kind of cell the panel has: gnuplot 5.4 crashes (SIGSEGV) on a
         * `with labels` clause none of whose points is defined when the data has a single point */
        int clauses = 0;
        for (int kd = 0; kd < 4; kd++) {
            if (!has_kind[gi][kd]) continue;
            fprintf(f, "%s%s index %zu using 1:($5 == %d ? $2 : 1/0):(0.5):(0.5)%s with boxxyerror fc %s notitle",
                    clauses++ ? ", \\\n     " : "plot ", q, gi, kd, kd == 0 ? ":3" : "", fills[kd]);
        }
        if (has_kind[gi][0] || has_kind[gi][1] || has_kind[gi][3])
            fprintf(f, ", \\\n     %s index %zu using 1:($5 == 2 ? 1/0 : $2):4 with labels font ',9' tc rgb '#000000' notitle",
                    q, gi);
        if (has_kind[gi][2])
            fprintf(f, ", \\\n     %s index %zu using 1:($5 == 2 ? $2 : 1/0):4 with labels font ',9' tc rgb '#ffffff' notitle",
                    q, gi);
        fprintf(f, "\n");
        y = y1 + below;
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    f = NULL;
    snprintf(path, sizeof path, "%s/figures/heatmap", dir);
    if (alig_plot_render(path, body, (int)W, (int)H, err, sizeof err)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "--plot: %s", err);
        goto done;
    }
    free(body);
    body = NULL;

    /* ---- objective against the rate, log-log, min-max over seeds: one panel per rate axis, side by side */
    if (!(f = open_memstream(&body, &body_len))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/figures/objective.dat", dir);
    if (alig_plot_quote(q, sizeof q, path)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "path too long: %s", path);
        goto done;
    }
    const double ytop = pow(10, ceil(log10(vmax)) + 1);
    fprintf(f, "reset\nset encoding utf8\nset logscale xy\nset format x '10^{%%T}'\nset format y '10^{%%T}'\n"
               "set grid lc rgb '#dddddd'\n");
    size_t n_panels = 0;   /* a panel per axis with a positive value to put on a log scale */
    for (size_t gi = 0; gi < n_groups; gi++) n_panels += isfinite(xlo[gi]);
    fprintf(f, "set multiplot layout 1,%zu title \"%s against the step size: median over the ok seeds, bars min–max\\n"
               "(crosses on the top edge: every seed diverged or non-finite%s)\" font ',11'\n",
            n_panels ? n_panels : 1, g->kind == ALIG_GRID_SOLVE ? "Final objective f(w_T) − f⋆" : "Final training loss",
            has_inf ? "; ∞ drawn at the right" : "");
    fprintf(f, "set ylabel \"%s\"\nset yrange [%.17g:%.17g]\n",
            g->kind == ALIG_GRID_SOLVE ? "f(w_T) − f⋆ (objective units)" : "training loss (nats)",
            pow(10, floor(log10(vmin)) - 1), ytop * 3);
    fprintf(f, "set key outside right top vertical Left reverse box opaque width 1 font ',9'\n");
    if (!n_panels)   /* nothing to draw against: an empty frame that says so */
        fprintf(f, "unset key\nset xrange [0.1:10]\nset xlabel 'step size'\nset label 'no step-size axis with positive values' at "
                   "graph 0.5, 0.5 center\nplot 1/0 notitle\n");
    for (size_t gi = 0; gi < n_groups; gi++) {
        if (!isfinite(xlo[gi])) continue;
        const int axis = d.cols[first[gi]].axis;
        fprintf(f, "set xlabel \"%s\"\n", axis >= 0 ? axis_label(d.rate_names[axis]) : "(no rate axis)");
        fprintf(f, "set xrange [%.17g:%.17g]\n", xlo[gi] / 2, (g_inf[gi] ? xinf[gi] : xhi[gi]) * 2);
        fprintf(f, "set xtics autofreq\n");
        if (g_inf[gi]) fprintf(f, "set xtics add ('∞' %.17g)\n", xinf[gi]);
        int clauses = 0;
        for (size_t r = 0; r < d.n_rows; r++) {
            if (d.row_axis[r] != axis) continue;
            fprintf(f, "%s%s index %zu using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.8 title ", clauses++ ? ", \\\n     " : "plot ",
                    q, r);
            gp_label(f, d.rows[r]);
        }
        if (bad_any[gi])
            fprintf(f, ", \\\n     %s index %zu using 1:(%.17g) with points pt 2 ps 1.5 lc rgb '#000000' title 'not ok'", q,
                    d.n_rows + gi, ytop);
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    f = NULL;
    snprintf(path, sizeof path, "%s/figures/objective", dir);
    if (alig_plot_render(path, body, n_panels > 1 ? (int)(620 * n_panels) : 900, 560, err, sizeof err)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "--plot: %s", err);
        goto done;
    }
    printf("plotted %zu of %zu cells: %s/summary.md, %s/figures/heatmap.{svg,png}, %s/figures/objective.{svg,png}\n",
           n_done, alig_grid_n_cells(g), dir, dir, dir);
done:
    if (f) fclose(f);
    free(body);
    plot_data_free(&d);
    alig_grid_free(g);
    return rc;
}

/* ================================================================ --table and --curves */

/* Read DIR/sweep.protocol (the grid the sweep ran). */
static int load_sweep(const char *dir, const char *flag, alig_grid **g)
{
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/sweep.protocol", dir);
    *g = NULL;
    alig_status st = alig_grid_parse_file(path, g, err, sizeof err);
    if (st) return cli_fail(CMD, st == ALIG_EIO ? CLI_USAGE : CLI_RUNTIME, "%s %s: %s", flag, dir, err);
    if ((*g)->kind != ALIG_GRID_TRAIN) {
        alig_grid_free(*g);
        *g = NULL;
        return cli_fail(CMD, CLI_USAGE, "%s %s: a solve sweep has no epochs or accuracies (tables and curves read "
                                        "`alig train` cells; --plot draws solve sweeps)", flag, dir);
    }
    return CLI_OK;
}

/* The setting of cell i: its axes with several values, "NAME<kv>VALUE" joined by sep
 * ("lr = 0.01, weight-decay = 5e-4"); `none` when the method has a single setting. greek: eta and
 * alpha written η and α, as the paper does (figure legends). */
static void setting_text(const alig_grid *g, size_t i, const char *kv, const char *sep, const char *none, int greek,
                         char *buf, size_t len)
{
    alig_grid_cell c;
    size_t used = 0;
    buf[0] = 0;
    if (alig_grid_cell_at(g, i, &c) == ALIG_SUCCESS)
        for (size_t k = 0; k < c.n_axes && used < len; k++) {
            const alig_grid_axis *a = alig_grid_cell_axis(g, &c, k);
            if (a->n < 2) continue;
            const char *name = a->name;
            if (greek && !strcmp(name, "eta")) name = "η";
            if (greek && !strcmp(name, "alpha")) name = "α";
            int w = snprintf(buf + used, len - used, "%s%s%s%s", used ? sep : "", name, kv, a->values[c.value[k]]);
            if (w < 0) break;
            used += (size_t)w;
        }
    if (!buf[0]) snprintf(buf, len, "%s", none);
}

static const char *method_label(const alig_grid *g, size_t m)
{
    return g->methods[m].name[0] ? g->methods[m].name : "all";
}

/* CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
    fputc('"', f);
}

/* Markdown cell text: '|' would end the cell. */
static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) fputc(*s == '|' ? '/' : *s, f);
}

static void md_header(FILE *f, const alig_grid *g, const char *title)
{
    fprintf(f, "# %s\n\nSweep: `alig", title);
    for (size_t k = 0; k < g->n_base; k++) fprintf(f, " %s", g->base[k]);
    fprintf(f, "`; ");
    if (g->n_seeds) {
        fprintf(f, "seeds: ");
        for (size_t k = 0; k < g->n_seeds; k++) fprintf(f, "%s%lu", k ? ", " : "", g->seeds[k]);
    } else {
        fprintf(f, "no seed list (one run per setting, with the command's own seed)");
    }
    fprintf(f, ".\n\n");
}

/* Totals of the excluded settings, and a footnote per method that has some. */
static void md_excluded(FILE *f, const alig_grid *g, const alig_grid_pick *p)
{
    size_t total = 0, failed = 0, unfinished = 0;
    for (size_t m = 0; m < g->n_methods; m++) {
        total += p[m].n_settings;
        failed += p[m].n_failed;
        unfinished += p[m].n_unfinished;
    }
    fprintf(f, "\nExcluded settings: %zu of %zu (%zu failed: some seed's cell not `ok`, or its log without the "
               "value; %zu unfinished: some seed not run yet).\n",
            failed + unfinished, total, failed, unfinished);
    for (size_t m = 0; m < g->n_methods; m++)
        if (p[m].n_failed + p[m].n_unfinished) {
            fprintf(f, "- %s: %zu of %zu settings excluded (%zu failed, %zu unfinished); first: ", method_label(g, m),
                    p[m].n_failed + p[m].n_unfinished, p[m].n_settings, p[m].n_failed, p[m].n_unfinished);
            md_text(f, p[m].note);
            fputc('\n', f);
        }
}

/* Pick every method's setting; a runtime error when no method has a usable one. */
static int pick_all(const alig_grid *g, const char *dir, const char *flag, alig_grid_rule rule, alig_grid_pick **out)
{
    char err[512];
    alig_grid_pick *p = calloc(g->n_methods, sizeof *p);
    *out = NULL;
    if (!p) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    alig_status st = alig_grid_pick_settings(g, dir, rule, p, err, sizeof err);
    if (st) {
        alig_grid_picks_free(p, g->n_methods);
        free(p);
        return cli_fail(CMD, CLI_RUNTIME, "%s %s: %s", flag, dir, err);
    }
    size_t chosen = 0, total = 0, failed = 0, unfinished = 0;
    const char *first_note = "";
    for (size_t m = 0; m < g->n_methods; m++) {
        chosen += (size_t)p[m].chosen;
        total += p[m].n_settings;
        failed += p[m].n_failed;
        unfinished += p[m].n_unfinished;
        if (!first_note[0]) first_note = p[m].note;
    }
    if (!chosen) {
        int rc = cli_fail(CMD, CLI_RUNTIME, "%s %s: no method has a usable setting (%zu settings: %zu failed, %zu "
                                            "unfinished; first: %s)", flag, dir, total, failed, unfinished, first_note);
        alig_grid_picks_free(p, g->n_methods);
        free(p);
        return rc;
    }
    *out = p;
    return CLI_OK;
}

/* Write text to path atomically (with the other files of the same output, via cli_out_commit_all). */
static int put_text(cli_out *o, const char *path, const char *text)
{
    int rc = cli_out_open(CMD, o, path);
    if (rc) return rc;
    fputs(text, o->f);
    return CLI_OK;
}

static void md_pct(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.2f", 100 * v);
    else fprintf(f, "—");
}

static void md_eps(FILE *f, const alig_grid_pick *p, double v)
{
    if (!p->n_eps) fprintf(f, " — |");
    else if (p->n_eps < p->n_seeds) fprintf(f, " %.3g (%zu of %zu seeds) |", v, p->n_eps, p->n_seeds);
    else fprintf(f, " %.3g |", v);
}

static int sweep_table(const char *dir)
{
    alig_grid *g;
    int rc = load_sweep(dir, "--table", &g);
    if (rc) return rc;
    alig_grid_pick *p = NULL;
    char *md = NULL, *csv = NULL;
    size_t md_len = 0, csv_len = 0;
    FILE *f = NULL, *c = NULL;
    cli_out outs[2] = { { 0 }, { 0 } };
    if ((rc = pick_all(g, dir, "--table", ALIG_GRID_RULE_VAL_ACC, &p))) goto done;
    if (!(f = open_memstream(&md, &md_len)) || !(c = open_memstream(&csv, &csv_len))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    md_header(f, g, "Test accuracy at the setting chosen on the validation split");
    fprintf(f, "A setting is one combination of a method's axis values; its cells are its seeds. A setting is "
               "usable when each of its seeds' cells ended `ok` and the final epoch record of its log.jsonl holds "
               "a val_acc and a test_acc. Per method, the usable setting with the largest final-epoch val_acc, "
               "averaged over its seeds, is chosen (a tie goes to the setting first in grid order). Test accuracy: "
               "final-epoch test_acc at that setting, mean ± sample standard deviation (denominator n − 1; — with "
               "one seed) over its n seeds, in %%. ε max, ε q50: the final epoch's largest and median per-sample "
               "training loss (`alig train --eps-report on`), mean over the seeds (— without the report).\n\n");
    fprintf(f, "| method | test acc. (%%) | chosen setting | val. acc. (%%) | seeds | ε max | ε q50 | settings "
               "| excluded |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
    fprintf(c, "method,setting,cell,n_seeds,val_acc_mean,test_acc_mean,test_acc_sd,eps_max_mean,eps_q50_mean,n_eps,"
               "n_settings,n_failed,n_unfinished,note\n");
    for (size_t m = 0; m < g->n_methods; m++) {
        const alig_grid_pick *q = &p[m];
        char setting[1024], cell[ALIG_GRID_MAX_NAME] = "";
        fprintf(f, "| ");
        md_text(f, method_label(g, m));
        if (q->chosen) {
            setting_text(g, q->first_cell, " = ", ", ", "(single setting)", 0, setting, sizeof setting);
            fprintf(f, " | ");
            md_pct(f, q->test_mean);
            if (q->n_seeds > 1) {
                fprintf(f, " ± ");
                md_pct(f, q->test_sd);
            }
            fprintf(f, " | ");
            md_text(f, setting);
            fprintf(f, " | ");
            md_pct(f, q->val_mean);
            fprintf(f, " | %zu |", q->n_seeds);
            md_eps(f, q, q->eps_max_mean);
            md_eps(f, q, q->eps_q50_mean);
        } else {
            fprintf(f, " | — | none usable | — | — | — | — |");
        }
        fprintf(f, " %zu | %zu |\n", q->n_settings, q->n_failed + q->n_unfinished);

        csv_text(c, method_label(g, m));
        fputc(',', c);
        if (q->chosen) {
            setting_text(g, q->first_cell, "=", " ", "", 0, setting, sizeof setting);
            alig_grid_cell_name(g, q->first_cell, cell, sizeof cell);
            csv_text(c, setting);
            fprintf(c, ",%s,%zu,", cell, q->n_seeds);
            const double v[] = { q->val_mean, q->test_mean, q->test_sd, q->eps_max_mean, q->eps_q50_mean };
            for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
                alig_grid_fprint_num(c, v[k]);
                fputc(',', c);
            }
            fprintf(c, "%zu,", q->n_eps);
        } else {
            fprintf(c, ",,0,nan,nan,nan,nan,nan,0,");
        }
        fprintf(c, "%zu,%zu,%zu,", q->n_settings, q->n_failed, q->n_unfinished);
        csv_text(c, q->note);
        fputc('\n', c);
    }
    md_excluded(f, g, p);
    if (fclose(f) || fclose(c)) {
        f = c = NULL;
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    f = c = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/table.md", dir);
    if ((rc = put_text(&outs[0], path, md))) goto done;
    snprintf(path, sizeof path, "%s/table.csv", dir);
    if ((rc = put_text(&outs[1], path, csv))) goto done;
    if ((rc = cli_out_commit_all(CMD, outs, 2))) goto done;
    memset(outs, 0, sizeof outs);
    fputs(md, stdout);
done:
    cli_out_abort(&outs[0]);
    cli_out_abort(&outs[1]);
    if (f) fclose(f);
    if (c) fclose(c);
    free(md);
    free(csv);
    if (p) alig_grid_picks_free(p, g->n_methods);
    free(p);
    alig_grid_free(g);
    return rc;
}

/* The panel (TASK of a method named TASK.METHOD: the text before the first '.'; "" without one) and
 * the name drawn in its legend (the text after it). */
static void split_method(const char *name, char *task, size_t tlen, const char **label)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1]) {
        task[0] = 0;
        *label = name[0] ? name : "all";
        return;
    }
    size_t n = (size_t)(dot - name);
    if (n >= tlen) n = tlen - 1;
    memcpy(task, name, n);
    task[n] = 0;
    *label = dot + 1;
}

static int sweep_curves(const char *dir, size_t smooth)
{
    alig_grid *g;
    int rc = load_sweep(dir, "--curves", &g);
    if (rc) return rc;
    const size_t nm = g->n_methods;
    alig_grid_pick *p = NULL;
    double **sm = calloc(nm, sizeof *sm);
    char (*task)[ALIG_GRID_MAX_TOKEN] = calloc(nm, sizeof *task);
    size_t *panel = calloc(nm, sizeof *panel), n_panels = 0;
    size_t *panel_first = calloc(nm, sizeof *panel_first);   /* a method of each panel, in order */
    char *md = NULL, *body = NULL;
    size_t md_len = 0, body_len = 0;
    FILE *f = NULL;
    cli_out outs[2] = { { 0 }, { 0 } };
    char path[4200], err[512], q[4400];
    if (!sm || !task || !panel || !panel_first) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    if ((rc = pick_all(g, dir, "--curves", ALIG_GRID_RULE_TRAIN_LOSS, &p))) goto done;
    /* smoothed curves; panels in order of first appearance */
    for (size_t m = 0; m < nm; m++) {
        const char *label;
        split_method(g->methods[m].name, task[m], sizeof task[m], &label);
        size_t k = 0;
        while (k < n_panels && strcmp(task[panel_first[k]], task[m])) k++;
        if (k == n_panels) panel_first[n_panels++] = m;
        panel[m] = k;
        if (!p[m].chosen) continue;
        if (!(sm[m] = malloc((p[m].n_epochs ? p[m].n_epochs : 1) * sizeof **sm))) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
            goto done;
        }
        alig_grid_moving_average(p[m].curve, p[m].n_epochs, smooth, sm[m]);
    }

    /* ---- curves.md */
    if (!(f = open_memstream(&md, &md_len))) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    md_header(f, g, "Training objective over the epochs at each method's best setting");
    fprintf(f, "A setting is one combination of a method's axis values; its cells are its seeds. A setting is "
               "usable when each of its seeds' cells ended `ok` with a finite train_loss in the final epoch record "
               "of its log.jsonl. Per method, the usable setting with the smallest final-epoch train_loss, averaged "
               "over its seeds, is chosen (a tie goes to the setting first in grid order). train_loss is the mean "
               "mini-batch loss of the epoch as `alig train` logs it (each loss taken before its step, in training "
               "mode). The curve is that setting's train_loss per epoch, averaged over its seeds, smoothed by a "
               "trailing moving average over K = %zu epochs: the value at epoch t is the mean of epochs "
               "max(1, t − K + 1) to t, so the first K − 1 points average the epochs so far. "
               "Figure: figures/curves.svg (and .png), log-scale y axis.\n\n",
            smooth);
    fprintf(f, "| panel | method | chosen setting | final train_loss | smoothed, final epoch | epochs | seeds "
               "| settings | excluded |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t m = 0; m < nm; m++) {
        const char *label;
        char tk[ALIG_GRID_MAX_TOKEN], setting[1024];
        split_method(g->methods[m].name, tk, sizeof tk, &label);
        fprintf(f, "| ");
        md_text(f, tk[0] ? tk : "-");
        fprintf(f, " | ");
        md_text(f, label);
        if (p[m].chosen) {
            setting_text(g, p[m].first_cell, " = ", ", ", "(single setting)", 0, setting, sizeof setting);
            fprintf(f, " | ");
            md_text(f, setting);
            fprintf(f, " | %.4g | %.4g | %zu | %zu |", p[m].loss_mean,
                    p[m].n_epochs ? sm[m][p[m].n_epochs - 1] : NAN, p[m].n_epochs, p[m].n_seeds);
        } else {
            fprintf(f, " | none usable | — | — | — | — |");
        }
        fprintf(f, " %zu | %zu |\n", p[m].n_settings, p[m].n_failed + p[m].n_unfinished);
    }
    md_excluded(f, g, p);
    if (fclose(f)) {
        f = NULL;
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    f = NULL;

    /* ---- curves.dat: one block per drawn curve, in panel order */
    snprintf(path, sizeof path, "%s/figures", dir);
    if ((rc = cli_mkdir_p(CMD, path))) goto done;
    snprintf(path, sizeof path, "%s/figures/curves.dat", dir);
    if ((rc = cli_out_open(CMD, &outs[0], path))) goto done;
    size_t *block = calloc(nm, sizeof *block), n_blocks = 0;
    if (!block) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    double *ymin = calloc(n_panels, sizeof *ymin), *ymax = calloc(n_panels, sizeof *ymax);
    size_t xmax = 1;
    if (!ymin || !ymax) {
        free(block);
        free(ymin);
        free(ymax);
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_panels; k++) {
        ymin[k] = INFINITY;
        ymax[k] = -INFINITY;
        for (size_t m = 0; m < nm; m++) {
            if (panel[m] != k || !p[m].chosen) continue;
            char setting[1024];
            setting_text(g, p[m].first_cell, "=", " ", "(single setting)", 0, setting, sizeof setting);
            fprintf(outs[0].f, "# index %zu: method %s, setting %s, %zu seed%s; moving average over %zu epochs\n"
                               "# epoch train_loss(mean over seeds) smoothed\n",
                    n_blocks, g->methods[m].name, setting, p[m].n_seeds, p[m].n_seeds == 1 ? "" : "s", smooth);
            for (size_t e = 0; e < p[m].n_epochs; e++) {
                fprintf(outs[0].f, "%zu ", e + 1);
                cli_csv_num(outs[0].f, p[m].curve[e]);
                fputc(' ', outs[0].f);
                cli_csv_num(outs[0].f, sm[m][e]);
                fputc('\n', outs[0].f);
                if (sm[m][e] > 0 && isfinite(sm[m][e])) {
                    ymin[k] = fmin(ymin[k], sm[m][e]);
                    ymax[k] = fmax(ymax[k], sm[m][e]);
                }
            }
            if (p[m].n_epochs > xmax) xmax = p[m].n_epochs;
            fprintf(outs[0].f, "\n\n");
            block[m] = n_blocks++;
        }
    }
    if ((rc = cli_out_commit(CMD, &outs[0]))) {
        free(block);
        free(ymin);
        free(ymax);
        goto done;
    }
    memset(&outs[0], 0, sizeof outs[0]);

    /* ---- the figure: one panel per task, log y; a method's colour and points follow its name
     * (the text after TASK.), so that SGD looks the same in every panel */
    if (alig_plot_quote(q, sizeof q, path) || !(f = open_memstream(&body, &body_len))) {
        free(block);
        free(ymin);
        free(ymax);
        rc = q[0] ? cli_fail(CMD, CLI_RUNTIME, "out of memory") : cli_fail(CMD, CLI_RUNTIME, "path too long: %s", path);
        goto done;
    }
    static const char *const colours[] = { "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                           "#66a61e", "#e6ab02", "#a6761d", "#444444" };
    const char **labels = calloc(nm, sizeof *labels);
    size_t n_labels = 0;
    const size_t cols = n_panels < 3 ? n_panels : 3, rows = (n_panels + cols - 1) / cols;
    fprintf(f, "reset\nset encoding utf8\n");
    fprintf(f, "set multiplot layout %zu,%zu title \"Training objective: each method at the setting with the smallest "
               "final training loss, %zu-epoch trailing moving average\" font ',12'\n", rows, cols, smooth);
    for (size_t k = 0; k < n_panels; k++) {
        const char *tk = task[panel_first[k]];
        if (!isfinite(ymin[k])) ymin[k] = ymax[k] = 1;
        /* y range: the decades around the curves; labelled tics at 1, 2 and 5 times each power
         * of ten when the range spans at most three decades (otherwise at the powers only) */
        const double lo = floor(log10(ymin[k])), hi = ceil(log10(ymax[k])) > lo ? ceil(log10(ymax[k])) : lo + 1;
        fprintf(f, "set title ");
        gp_label(f, tk);
        fprintf(f, " font ',12'\nset logscale y\nset format y '%%g'\nset grid xtics ytics lc rgb '#e0e0e0'\n"
                   "set xlabel 'epoch'\nset ylabel 'training objective (mean loss, log scale)'\n"
                   "set xrange [1:%zu]\nset yrange [%.17g:%.17g]\nset mytics 10\n"
                   "set key top right box opaque font ',10' spacing 1.1\n",
                xmax > 1 ? xmax : 2, pow(10, lo), pow(10, hi));
        if (xmax <= 12) fprintf(f, "set xtics 1\n");
        else fprintf(f, "set xtics autofreq\n");
        if (hi - lo <= 3) {
            fprintf(f, "set ytics (");
            int first = 1;
            for (double d = lo; d <= hi; d++)
                for (int mul = 1; mul <= 5; mul += mul == 1 ? 1 : 3) {
                    const double v = (double)mul * pow(10, d);
                    if (d == hi && mul > 1) break;
                    fprintf(f, "%s'%g' %.17g", first ? "" : ", ", v, v);
                    first = 0;
                }
            fprintf(f, ")\n");
        } else {
            fprintf(f, "set ytics autofreq\n");
        }
        int any = 0;
        for (size_t m = 0; m < nm; m++) {
            if (panel[m] != k || !p[m].chosen) continue;
            const char *label;
            char tkm[ALIG_GRID_MAX_TOKEN], setting[1024], title[1400];
            split_method(g->methods[m].name, tkm, sizeof tkm, &label);
            size_t li = 0;
            if (labels) {
                while (li < n_labels && strcmp(labels[li], label)) li++;
                if (li == n_labels) labels[n_labels++] = label;
            }
            setting_text(g, p[m].first_cell, " = ", ", ", "", 1, setting, sizeof setting);
            snprintf(title, sizeof title, "%s%s%s", label, setting[0] ? ", " : "", setting);
            fprintf(f, "%s%s index %zu using 1:3 with %s lw 2 lc rgb '%s' pt %d ps 0.7 title ",
                    any ? ", \\\n     " : "plot ", q, block[m], p[m].n_epochs > 30 ? "lines" : "linespoints",
                    colours[li % 8], 5 + 2 * (int)(li % 4));
            gp_label(f, title);
            any = 1;
        }
        if (!any) fprintf(f, "set label 1 'no usable setting' at graph 0.5, 0.5 center\nplot 1/0 notitle\nunset label 1\n");
        else fprintf(f, "\n");
    }
    free(labels);
    free(ymin);
    free(ymax);
    fprintf(f, "unset multiplot\n");
    free(block);
    if (fclose(f)) {
        f = NULL;
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    f = NULL;
    snprintf(path, sizeof path, "%s/figures/curves", dir);
    if (alig_plot_render(path, body, (int)(80 + 560 * cols), (int)(60 + 440 * rows), err, sizeof err)) {
        rc = cli_fail(CMD, CLI_RUNTIME, "--curves: %s", err);
        goto done;
    }
    snprintf(path, sizeof path, "%s/curves.md", dir);
    if ((rc = put_text(&outs[1], path, md)) || (rc = cli_out_commit(CMD, &outs[1]))) goto done;
    memset(&outs[1], 0, sizeof outs[1]);
    fputs(md, stdout);
    printf("\nwrote %s/curves.md, %s/figures/curves.{svg,png,gp,dat}\n", dir, dir);
done:
    cli_out_abort(&outs[0]);
    cli_out_abort(&outs[1]);
    if (f) fclose(f);
    free(md);
    free(body);
    if (sm)
        for (size_t m = 0; m < nm; m++) free(sm[m]);
    free(sm);
    free(task);
    free(panel);
    free(panel_first);
    if (p) alig_grid_picks_free(p, nm);
    free(p);
    alig_grid_free(g);
    return rc;
}
