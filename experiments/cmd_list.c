/* cmd_list.c - `alig list`: the solvers and problems this build knows, read from the descriptor
 * tables (alig_solver_types[] with their params_desc and defaults; alig_problem_names[] with
 * alig_problem_defaults()), so the listing cannot drift from the library. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"

/* One line per synthetic class; a class added to the library without an entry here is still
 * listed, only without its description. */
static const struct { const char *name, *what; } problem_notes[] = {
    { "lipschitz", "absolute deviations |x_i'w - y_i| in +- pairs: convex, non-smooth, C = max |x_i|" },
    { "smooth", "least squares (x_i'w - y_i)^2/2, rank-deficient X: beta-smooth, alpha = 0" },
    { "strongly-convex", "least squares with full-column-rank X: alpha = lambda_min(X'X/n) > 0" },
};

static const char *problem_note(const char *name)
{
    for (size_t i = 0; i < sizeof problem_notes / sizeof problem_notes[0]; i++)
        if (!strcmp(problem_notes[i].name, name)) return problem_notes[i].what;
    return "";
}

static void help(FILE *f)
{
    fprintf(f, "usage: alig list\n\n"
               "Lists every solver with its flags (as accepted by 'alig solve') and their defaults, every\n"
               "synthetic problem class with its default dimension and sample count, and the losses for --data.\n"
               "It takes no options besides --help.\n");
}

int cmd_list(int argc, char **argv)
{
    cli_flags fl = { .cmd = "list" };
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;

    printf("solvers (alig solve --solver NAME [flags]):\n");
    cli_solvers_help(stdout);
    printf("\nproblems (alig info|solve --problem NAME [--dim D --samples N --eps E --radius R]):\n");
    for (size_t i = 0; alig_problem_names[i]; i++) {
        alig_problem_spec s = { 0 };
        alig_status st = alig_problem_defaults(alig_problem_names[i], &s);
        if (st) return cli_fail(fl.cmd, CLI_RUNTIME, "%s: %s", alig_problem_names[i], alig_strerror(st));
        printf("  %-16s %s\n  %-16s [dim %zu, samples %zu, eps 0, radius inf, seed 1]\n", alig_problem_names[i],
               problem_note(alig_problem_names[i]), "", s.dim, s.samples);
    }
    printf("\nlosses for --data FILE --loss L (LIBSVM / SVMlight files):\n ");
    for (size_t i = 0; alig_loss_names[i]; i++) printf(" %s", alig_loss_names[i]);
    printf("\n");
    return CLI_OK;
}
