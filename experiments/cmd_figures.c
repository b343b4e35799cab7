/* cmd_figures.c - `alig figures`: regenerate every documentation figure under docs/figures/ from
 * fresh runs. Each figure generator is an ordinary subcommand with --out; it runs into a private
 * temporary directory, and the figures it drew (<prefix>*.svg, <prefix>*.png) are copied into
 * place atomically. A generator that fails has none of its figures copied (the previous ones stay),
 * the others still are, and the command exits 1 naming it. */
#include <dirent.h>
#include <errno.h>
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
    const char *name;               /* the subcommand */
    int (*run)(int argc, char **argv);
    const char *args[4];            /* extra arguments after --out DIR, NULL-terminated */
    const char *prefix;             /* its figures: <prefix>*.svg and <prefix>*.png */
    const char *what;               /* one line for --help */
} generator;

static const generator generators[] = {
    { "oscillation", cmd_oscillation, { "--quiet", NULL }, "oscillation_",
      "the non-convex example: function, trajectories, outcome across eta (docs/oscillation.md)" },
    { "rates", cmd_rates, { "--figures", NULL }, "rates_",
      "measured rates against the bounds of docs/theory.md, per problem class" },
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
            if (rc == CLI_OK) {
                printf("  %s\n", dst);
                (*count)++;
            }
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
    char *argv[8];
    int argc = 0;
    argv[argc++] = (char *)g->name;
    argv[argc++] = "--out";
    argv[argc++] = tmp;
    for (size_t i = 0; g->args[i]; i++) argv[argc++] = (char *)g->args[i];
    argv[argc] = NULL;

    printf("%s: running alig %s --out <tmp>", CMD, g->name);
    for (size_t i = 0; g->args[i]; i++) printf(" %s", g->args[i]);
    printf("\n");
    fflush(stdout);
    int rc = g->run(argc, argv);
    fflush(stdout);
    if (rc != CLI_OK) {
        rc = cli_fail(CMD, CLI_RUNTIME, "'alig %s' failed (exit %d); its figures in '%s' were left as they were",
                      g->name, rc, dest);
    } else {
        size_t count = 0;
        rc = copy_figures(tmp, g->prefix, dest, &count);
        if (rc == CLI_OK && count == 0)
            rc = cli_fail(CMD, CLI_RUNTIME, "'alig %s' drew no %s*.svg or .png figure", g->name, g->prefix);
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
        if (i == N_GEN) return cli_fail(CMD, CLI_USAGE, "--only: unknown generator '%s' (oscillation, rates)", only);
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
    printf("%s: done; figures in %s/\n", CMD, dest);
    return CLI_OK;
}
