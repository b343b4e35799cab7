/* main.c - `alig` subcommand dispatch. Each subcommand lives in its own cmd_*.c file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alig/alig.h"
#include "cli.h"

static const cli_command commands[] = {
    { "list", cmd_list, "list solvers and problems with their parameters and defaults" },
    { "info", cmd_info, "print the facts of a problem instance (w*, f*, eps, constants)" },
    { "solve", cmd_solve, "run one solver on one problem and write a per-iteration CSV" },
    { "demo", cmd_demo, "a short tour: each problem class with ALI-G and SGD" },
    { "rates", cmd_rates, "check every convergence bound of docs/theory.md empirically" },
    { "oscillation", cmd_oscillation, "the non-convex example: Polyak cycles, ALI-G converges below its threshold" },
    { "figures", cmd_figures, "regenerate every documentation figure under docs/figures/" },
    { "train", cmd_train, "train a neural net (mlp, cnn, wrn-D-K) on Fashion-MNIST with the shared optimizer core" },
    { "sweep", cmd_sweep, "run a grid of solve/train cells (axes x seeds) on local cores or MPI ranks; figures" },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "alig %s - the ALI-G toolkit\n\nusage: alig COMMAND [options]   (alig COMMAND --help for details)\n\n",
            ALIG_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
}

/* Output to stdout is buffered: a full disk or a closed pipe shows up only when the buffer is
 * flushed, often at exit, where the C library would ignore the error. So every command's output
 * is flushed and closed here, and a failure turns a success into exit code 1 with one line. */
static int finish_stdout(const char *cmd, int rc)
{
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad || rc) return rc;   /* a failed command has already said why, in one line */
    fprintf(stderr, "alig%s%s: cannot write to standard output: %s\n", cmd ? " " : "", cmd ? cmd : "",
            e ? strerror(e) : "write error");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish_stdout(NULL, 0);
    }
    if (!strcmp(argv[1], "--version")) {
        printf("alig %s\n", ALIG_VERSION);
        return finish_stdout(NULL, 0);
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name))
            return finish_stdout(commands[i].name, commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "alig: unknown command '%s' (try 'alig --help')\n", argv[1]);
    return 2;
}
