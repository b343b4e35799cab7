/* cmd_figures.c - `alig figures`: regenerate every documentation figure under docs/figures/ from
 * fresh runs. Each figure generator is an ordinary subcommand with --out; it runs into a private
 * temporary directory, and the figures it drew (<prefix>*.svg, <prefix>*.png) are copied into
 * place atomically. A generator that fails has none of its figures copied (the previous ones stay),
 * the others still are, and the command exits 1 naming it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "plot.h"

#define CMD "figures"

typedef struct generator {
    const char *name;               /* the name given to --only */
    int (*make)(const char *tmp);   /* draws <prefix>*.svg and <prefix>*.png into tmp; a CLI_* code */
    const char *prefix;             /* its figures */
    const char *what;               /* one line for --help */
    /* one line on what the run checked, from its output files in tmp (buf empty: nothing to say) */
    void (*summarize)(const char *tmp, char *buf, size_t len);
} generator;

static int run_cmd(int (*cmd)(int, char **), char **argv)
{
    int argc = 0;
    while (argv[argc]) argc++;
    return cmd(argc, argv);
}

static int make_oscillation(const char *tmp)
{
    char *argv[] = { "oscillation", "--out", (char *)tmp, "--quiet", NULL };
    return run_cmd(cmd_oscillation, argv);
}

static int make_rates(const char *tmp)
{
    char *argv[] = { "rates", "--out", (char *)tmp, "--figures", NULL };
    return run_cmd(cmd_rates, argv);
}

#define SWEEP_PROTOCOL "experiments/protocols/convex-lr.sweep"

/* Run the convex learning-rate sweep (about 10 s on 2 cores), draw it, and name its two figures
 * sweep_convex_lr_{heatmap,objective}.{svg,png}. */
static int make_sweep(const char *tmp)
{
    size_t n = strlen(tmp) + 64;
    char *run = malloc(n), *src = malloc(n), *dst = malloc(n);
    int rc = CLI_OK;
    if (!run || !src || !dst) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    snprintf(run, n, "%s/convex-lr", tmp);
    char *argv1[] = { "sweep", "--protocol", SWEEP_PROTOCOL, "--out", run, "--jobs", "2", "--quiet", NULL };
    char *argv2[] = { "sweep", "--plot", run, NULL };
    if ((rc = run_cmd(cmd_sweep, argv1)) || (rc = run_cmd(cmd_sweep, argv2))) goto done;
    static const char *const figs[] = { "heatmap.svg", "heatmap.png", "objective.svg", "objective.png" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(src, n, "%s/figures/%s", run, figs[i]);
        snprintf(dst, n, "%s/sweep_convex_lr_%s", tmp, figs[i]);
        if (rename(src, dst) != 0) {
            rc = cli_fail(CMD, CLI_RUNTIME, "cannot move '%s' to '%s': %s", src, dst, strerror(errno));
            goto done;
        }
    }
done:
    free(run);
    free(src);
    free(dst);
    return rc;
}

/* Count the lines of a CSV file whose column `col` (0-based) equals one of `vals` (counts[i] per value). */
static int count_csv(const char *path, size_t col, const char *const *vals, size_t nv, size_t *counts)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    for (size_t i = 0; i < nv; i++) counts[i] = 0;
    int header = 1;
    while (fgets(line, sizeof line, f)) {
        if (header) { header = 0; continue; }
        char *p = line;
        for (size_t c = 0; c < col && p; c++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (!p) continue;
        size_t len = strcspn(p, ",\n");
        for (size_t i = 0; i < nv; i++)
            if (strlen(vals[i]) == len && !strncmp(p, vals[i], len)) counts[i]++;
    }
    fclose(f);
    return 0;
}

static void summarize_rates(const char *tmp, char *buf, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rates.csv", tmp);
    static const char *const vals[] = { "held", "violated", "inconclusive" };
    size_t c[3];
    if (count_csv(path, 12, vals, 3, c) != 0) return;
    snprintf(buf, len, "%zu of %zu applicable bounds held (%zu violated, %zu inconclusive)", c[0], c[0] + c[1] + c[2],
             c[1], c[2]);
}

/* `"key": true` in summary.json (one key per line). */
static int json_true(const char *text, const char *key)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\": true", key);
    return strstr(text, pat) != NULL;
}

static void summarize_oscillation(const char *tmp, char *buf, size_t len)
{
    char path[4200], text[8192];
    snprintf(path, sizeof path, "%s/summary.json", tmp);
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    static const char *const keys[] = { "polyak_cycles", "polyak_solver_agrees", "converged_below_theory" };
    size_t held = 0;
    for (size_t i = 0; i < 3; i++) held += (size_t)json_true(text, keys[i]);
    const char *t = strstr(text, "\"threshold_measured\":");
    snprintf(buf, len, "%zu of 3 checks held (Polyak cycles, the solver agrees, every eta < 2/L converges); "
             "measured threshold eta = %.10g", held, t ? strtod(t + 21, NULL) : NAN);
}

static void summarize_sweep(const char *tmp, char *buf, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/convex-lr/summary.csv", tmp);
    static const char *const vals[] = { "ok", "diverged", "non-finite", "failed" };
    size_t c[4];
    if (count_csv(path, 5, vals, 4, c) != 0) return;
    snprintf(buf, len, "%s: %zu cells ok, %zu diverged, %zu non-finite, %zu failed", SWEEP_PROTOCOL, c[0], c[1], c[2],
             c[3]);
}

static const generator generators[] = {
    { "oscillation", make_oscillation, "oscillation_",
      "alig oscillation: the non-convex example (docs/oscillation.md)", summarize_oscillation },
    { "rates", make_rates, "rates_", "alig rates: measured rates against the bounds of docs/theory.md",
      summarize_rates },
    { "sweep", make_sweep, "sweep_convex_lr_",
      "alig sweep on " SWEEP_PROTOCOL ", then --plot (docs/sweep.md)", summarize_sweep },
};
#define N_GEN (sizeof generators / sizeof generators[0])

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig figures [--out DIR] [--only NAME]\n"
            "\n"
            "Regenerates every documentation figure from fresh runs, with gnuplot (SVG and PNG).\n"
            "Run from the repository root. Each generator below runs into a temporary directory and\n"
            "its figures are copied into DIR:\n");
    for (size_t i = 0; i < N_GEN; i++)
        fprintf(f, "  %-12s %s*.{svg,png}: %s\n", generators[i].name, generators[i].prefix, generators[i].what);
    fprintf(f, "\nIt prints one line per generator: the files it wrote and how many of its checks held.\n");
    fprintf(f,
            "\noptions:\n"
            "  --out DIR    destination [docs/figures]\n"
            "  --only NAME  run one generator only [all]\n"
            "  -h, --help   this text\n");
}

/* Remove a directory tree made by this command (regular files and subdirectories only). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            size_t n = strlen(dir) + strlen(e->d_name) + 2;
            char *path = malloc(n);
            if (!path) continue;
            snprintf(path, n, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(path);
            else remove(path);
            free(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Copy src to dst through a temporary file and rename (atomic). */
static int copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) return cli_fail(CMD, CLI_RUNTIME, "cannot read '%s': %s", src, strerror(errno));
    cli_out o;
    int rc = cli_out_open(CMD, &o, dst);
    if (rc) {
        fclose(in);
        return rc;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, o.f) != n) break;
    int bad = ferror(in) || ferror(o.f);
    fclose(in);
    if (bad) {
        cli_out_abort(&o);
        return cli_fail(CMD, CLI_RUNTIME, "cannot copy '%s' to '%s'", src, dst);
    }
    return cli_out_commit(CMD, &o);
}

/* Copy <tmp>/<prefix>*.{svg,png} into dest; *count receives the number copied. */
static int copy_figures(const char *tmp, const char *prefix, const char *dest, size_t *count)
{
    *count = 0;
    DIR *d = opendir(tmp);
    if (!d) return cli_fail(CMD, CLI_RUNTIME, "cannot list '%s': %s", tmp, strerror(errno));
    int rc = CLI_OK;
    struct dirent *e;
    while (rc == CLI_OK && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, prefix, strlen(prefix)) != 0) continue;
        if (!has_suffix(name, ".svg") && !has_suffix(name, ".png")) continue;
        size_t ns = strlen(tmp) + strlen(name) + 2, nd = strlen(dest) + strlen(name) + 2;
        char *src = malloc(ns), *dst = malloc(nd);
        if (!src || !dst) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        } else {
            snprintf(src, ns, "%s/%s", tmp, name);
            snprintf(dst, nd, "%s/%s", dest, name);
            rc = copy_file(src, dst);
            if (rc == CLI_OK) (*count)++;
        }
        free(src);
        free(dst);
    }
    closedir(d);
    return rc;
}

/* Run one generator into a fresh temporary directory, then copy its figures. */
static int run_generator(const generator *g, const char *dest)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + 32;
    char *tmp = malloc(n);
    if (!tmp) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    snprintf(tmp, n, "%s/alig-figures.XXXXXX", base);
    if (!mkdtemp(tmp)) {
        int e = errno;
        free(tmp);
        return cli_fail(CMD, CLI_RUNTIME, "cannot create a temporary directory in '%s': %s", base, strerror(e));
    }
    /* the generator's own report goes to a log in tmp: this command prints one summary per generator */
    size_t nl = strlen(tmp) + 16;
    char *log = malloc(nl);
    int saved = -1, logfd = -1;
    if (log) {
        snprintf(log, nl, "%s/.log", tmp);
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (saved >= 0 && logfd >= 0) dup2(logfd, STDOUT_FILENO);
    }
    const double t0 = cli_now();
    int rc = g->make(tmp);
    fflush(stdout);
    if (saved >= 0) {
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    if (logfd >= 0) close(logfd);
    free(log);
    if (rc != CLI_OK) {
        rc = cli_fail(CMD, CLI_RUNTIME, "'%s' failed (exit %d); its figures in '%s' were left as they were",
                      g->name, rc, dest);
    } else {
        size_t count = 0;
        rc = copy_figures(tmp, g->prefix, dest, &count);
        if (rc == CLI_OK && count == 0)
            rc = cli_fail(CMD, CLI_RUNTIME, "'%s' drew no %s*.svg or .png figure", g->name, g->prefix);
        if (rc == CLI_OK) {
            char line[512] = "";
            g->summarize(tmp, line, sizeof line);
            printf("%-12s wrote %zu files %s/%s*.{svg,png} in %.1f s%s%s\n", g->name, count, dest, g->prefix,
                   cli_now() - t0, line[0] ? "; " : "", line);
        }
    }
    remove_tree(tmp);
    free(tmp);
    return rc;
}

int cmd_figures(int argc, char **argv)
{
    cli_flags fl = { .cmd = CMD };
    cli_flags_add(&fl, "out", 1);
    cli_flags_add(&fl, "only", 1);
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;
    const char *only = cli_get(&fl, "only");
    if (only) {
        size_t i = 0;
        while (i < N_GEN && strcmp(generators[i].name, only)) i++;
        if (i == N_GEN) return cli_fail(CMD, CLI_USAGE, "--only: unknown generator '%s' (oscillation, rates, sweep)", only);
    }
    const char *dest = cli_get(&fl, "out");
    if (!dest) {
        struct stat sb;
        if (stat("docs", &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_fail(CMD, CLI_USAGE, "no docs/ directory here: run from the repository root or pass --out DIR");
        dest = "docs/figures";
    }
    if (!alig_plot_available())
        return cli_fail(CMD, CLI_RUNTIME, "gnuplot not found on PATH (install gnuplot-nox)");
    if ((rc = cli_mkdir_p(CMD, dest))) return rc;

    int failed = 0;
    for (size_t i = 0; i < N_GEN; i++) {
        if (only && strcmp(generators[i].name, only)) continue;
        if (run_generator(&generators[i], dest) != CLI_OK) failed = 1;
    }
    if (failed) return CLI_RUNTIME;
    printf("figures: done; every figure above was redrawn in %s/ (scripts and data: rerun a generator with --out)\n", dest);
    return CLI_OK;
}
