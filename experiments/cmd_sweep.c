/* cmd_sweep.c - `alig sweep`: a grid of `alig solve` / `alig train` runs (include/alig/grid.h), each
 * cell one child process of this very binary in its own directory, N at a time, sharded over MPI
 * ranks when launched by mpirun (dist/dist.h); and `alig sweep --plot DIR`: the Figure 3 heatmap,
 * objective against the learning rate, and a markdown table, from a sweep directory.
 *
 * Why child processes: a cell that crashes, runs out of memory or is killed takes nothing else with
 * it; each cell gets a clean process (OpenMP pool, allocator, RNG) so its result does not depend on
 * what ran before it or beside it; and `kill -9` of the sweep kills its cells too
 * (PR_SET_PDEATHSIG), leaving every cell finished or not, never half-recorded. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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
            "       alig sweep --protocol FILE --out DIR [run options]\n"
            "       alig sweep --plot DIR\n"
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
            "  --seeds LIST           seeds, e.g. 0,1,2 or 0-2 [0]\n"
            "  --seed-flag NAME       flag that receives the seed [seed]\n"
            "  --rate LIST            axes drawn as the learning rate in figures [lr,eta,alpha]\n"
            "  --diverge-factor X     `diverged`: final objective > X times the first recorded one [1000]\n"
            "  --protocol FILE        read all of the above from a protocol file (experiments/protocols/)\n\n"
            "run options:\n"
            "  --out DIR              sweep directory, created if needed (required unless --dry-run)\n"
            "  --jobs N               cells at a time on this machine (per MPI rank) [1]\n"
            "  --threads-per-cell T   OMP_NUM_THREADS of every cell [1]\n"
            "  --dry-run              print each cell's name and command line, run nothing\n"
            "  --quiet                no progress line on stderr\n\n"
            "figures:\n"
            "  --plot DIR             from DIR's finished cells, write DIR/summary.md (median over seeds) and\n"
            "                         draw DIR/figures/heatmap.{svg,png} and objective.{svg,png} with gnuplot\n\n"
            "Exit status: 0 every cell ran (whatever its status), 1 runtime failure or some cell `failed`,\n"
            "2 usage error. MPI: %s.\n",
            alig_dist_built_with_mpi() ? "built with MPI" : "not built (single-process stand-in)");
}

/* ================================================================ options */

typedef struct sweep_opts {
    alig_grid *g;
    const char *out;
    size_t jobs, threads;
    int dry_run, quiet;
    const char *plot;
} sweep_opts;

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
    *o = (sweep_opts){ .jobs = 1, .threads = 1 };
    const char *protocol = NULL, *grid_flag = NULL;
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
        } else if (is_flag(a, "--out")) {
            rc = value_of(argc, argv, &i, "--out", &o->out);
        } else if (is_flag(a, "--plot")) {
            rc = value_of(argc, argv, &i, "--plot", &o->plot);
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
    if (!rc && o->plot) {
        if (protocol || grid_flag || o->out || o->dry_run)
            rc = cli_fail(CMD, CLI_USAGE, "--plot DIR draws an existing sweep: give it alone");
        alig_grid_free(g);
        return rc;
    }
    if (!rc && protocol) {
        if (grid_flag) {
            rc = cli_fail(CMD, CLI_USAGE, "--protocol %s holds the grid: %s cannot be combined with it", protocol, grid_flag);
        } else {
            alig_grid_free(g);
            g = NULL;
            alig_status st = alig_grid_parse_file(protocol, &g, err, sizeof err);
            if (st) rc = cli_fail(CMD, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "%s", err);
        }
    }
    if (!rc && !protocol && !g->n_base) rc = cli_fail(CMD, CLI_USAGE, "missing --base \"solve ...\" (or --protocol FILE)");
    if (!rc) {
        alig_status st = alig_grid_validate(g, err, sizeof err);
        if (st) rc = cli_fail(CMD, CLI_USAGE, "%s", err);
    }
    if (!rc && !o->out && !o->dry_run) rc = cli_fail(CMD, CLI_USAGE, "missing --out DIR");
    if (rc) {
        alig_grid_free(g);
        return rc;
    }
    o->g = g;
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
    size_t n;                   /* cells */
    int rank, size;
    alig_grid_result *results;  /* rank 0: every cell's result as known */
    size_t done, failed, not_ok, ran_here, running;
    double t_start, t_print;
    char summary[4200];
    int tty;
    size_t ranks_done;          /* rank 0: workers that sent TAG_DONE */
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
    fprintf(stderr, "%ssweep: %zu/%zu done, %zu running, %zu failed, %zu diverged or non-finite, ETA %s%s",
            s->tty ? "\r" : "", s->done, s->n, s->running, s->failed, s->not_ok, eta,
            s->tty ? (final ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}

/* Rank 0: record a result and rewrite the summary. */
static int record(sweep_state *s, size_t i, const alig_grid_result *r, int ran_now)
{
    if (i >= s->n) return cli_fail(CMD, CLI_RUNTIME, "internal error: result of cell %zu of %zu", i, s->n);
    if (!s->results[i].done) {
        s->done++;
        if (r->status == ALIG_GRID_FAILED) s->failed++;
        else if (r->status != ALIG_GRID_OK) s->not_ok++;
    }
    s->results[i] = *r;
    if (ran_now) s->ran_here++;
    alig_status st = alig_grid_summary_write(s->g, s->results, s->summary);
    if (st) return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", s->summary, alig_strerror(st));
    progress(s, 0);
    return CLI_OK;
}

/* A result produced on this rank: record it (rank 0) or send it to rank 0. */
static int deliver(sweep_state *s, size_t i, const alig_grid_result *r, int ran_now)
{
    if (s->rank == 0) return record(s, i, r, ran_now);
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
            int rc = record(s, i, &r, ran_now);
            if (rc) return rc;
        }
    }
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
    char threads[32];
    snprintf(threads, sizeof threads, "%zu", s->o->threads);
    fflush(stdout);
    fflush(stderr);
    const pid_t parent = getpid();
    sl->t0 = cli_now();
    pid_t pid = fork();
    if (pid == 0) {
        /* child: die with the sweep; run in the cell's directory with its own stdout/stderr */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(137);
        int in = open("/dev/null", O_RDONLY);
        if (chdir(sl->dir) != 0) _exit(126);
        int out = open("stdout.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int er = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || er < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(er, 2) < 0) _exit(126);
        setenv("OMP_NUM_THREADS", threads, 1);
        execv(s->exe, argv);
        fprintf(stderr, "alig sweep: cannot run %s: %s\n", s->exe, strerror(errno));
        _exit(127);
    }
    free(argv);
    alig_grid_argv_free(cargv);
    if (pid < 0) return cli_fail(CMD, CLI_RUNTIME, "fork: %s", strerror(errno));
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
    sl->pid = 0;
    s->running--;
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
        while (!rc && next < n_todo && active < s->o->jobs) {
            size_t k = 0;
            while (slots[k].pid > 0) k++;
            if (!(rc = start_cell(s, &slots[k], todo[next]))) {
                next++;
                active++;
            }
        }
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
                rc = finish_cell(s, &slots[k], wstatus);
                active--;
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

static int sweep_plot(const char *dir);

static int run_sweep(const sweep_opts *o)
{
    sweep_state s = { .o = o, .g = o->g, .n = alig_grid_n_cells(o->g), .rank = alig_dist_rank(),
                      .size = alig_dist_size(), .tty = isatty(STDERR_FILENO) };
    ssize_t len = readlink("/proc/self/exe", s.exe, sizeof s.exe - 1);
    if (len <= 0) return cli_fail(CMD, CLI_RUNTIME, "cannot find this program through /proc/self/exe: %s", strerror(errno));
    s.exe[len] = 0;
    snprintf(s.summary, sizeof s.summary, "%s/summary.csv", o->out);
    int lock_fd = -1, rc = CLI_OK;
    char err[256];
    if (s.rank == 0) {
        rc = open_dir(o->g, o->out, &lock_fd);
        if (rc && s.size > 1) alig_dist_abort(rc);
    }
    if (alig_dist_barrier(err, sizeof err)) return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    if (rc) return rc;
    if (s.rank == 0 && !(s.results = calloc(s.n ? s.n : 1, sizeof *s.results))) {
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
    if (o.dry_run) {
        rc = dry_run(o.g);
        alig_grid_free(o.g);
        return rc;
    }
    char err[512];
    if (alig_dist_init(&argc, &argv, err, sizeof err)) {
        alig_grid_free(o.g);
        return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    }
    rc = run_sweep(&o);
    alig_grid_free(o.g);
    alig_dist_finalize();
    return rc;
}

/* ================================================================ figures and the table */

static int sweep_plot(const char *dir)
{
    (void)dir;
    return cli_fail(CMD, CLI_RUNTIME, "--plot: not yet");
}
