/* cmd_info.c - `alig info`: the facts of one problem instance, as text or as a flat JSON object.
 * Everything printed is read from the alig_problem struct, except two derived numbers:
 * ‖w⋆‖ and D0 = ‖Π_Ω(w0) − w⋆‖², the distance the convergence bounds start from. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"

static void help(FILE *f)
{
    fprintf(f, "usage: alig info --problem NAME [--dim D --samples N --eps E --radius R --seed S] [--json]\n"
               "       alig info --data FILE --loss L [--radius R] [--json]\n\n"
               "Builds the instance and prints its facts: w*, f* and its certified lower bound, the requested and\n"
               "realized interpolation tolerance eps (max_i loss_i(w*)), the constants C, beta, alpha, L_f, and\n"
               "D0 = |w0 - w*|^2 with w0 = 0 (or the problem's start) projected onto Omega.\n\n");
    cli_problem_help(f, "seed");
    fprintf(f, "output:\n"
               "  --json                one JSON object (non-finite values as null) instead of text [off]\n");
}

/* One text line: name, value (n/a for NaN), meaning. */
static void line(const char *key, double v, const char *what)
{
    char buf[40];
    if (isnan(v)) snprintf(buf, sizeof buf, "n/a");
    else snprintf(buf, sizeof buf, "%.10g", v);
    printf("  %-14s %-18s %s\n", key, buf, what);
}

int cmd_info(int argc, char **argv)
{
    cli_flags fl = { .cmd = "info" };
    cli_flags_add_problem(&fl, "seed");
    cli_flags_add(&fl, "json", 0);
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;

    alig_problem *p = NULL;
    if ((rc = cli_problem_make(&fl, "seed", &p))) return rc;

    const size_t d = p->dim;
    double *w0 = calloc(d, sizeof *w0);
    if (!w0) {
        alig_problem_free(p);
        return cli_fail(fl.cmd, CLI_RUNTIME, "out of memory");
    }
    if (p->w0) memcpy(w0, p->w0, d * sizeof *w0);
    alig_project_l2(ALIG_F64, d, w0, p->radius);
    double d0 = 0.0, wsq = 0.0;
    for (size_t i = 0; i < d; i++) {
        double t = w0[i] - p->w_star[i];
        d0 += t * t;
        wsq += p->w_star[i] * p->w_star[i];
    }
    free(w0);
    const char *data = cli_get(&fl, "data");
    const double seed = data ? NAN : (double)p->seed;

    if (cli_get(&fl, "json")) {
        cli_json j;
        cli_json_begin(&j, stdout);
        cli_json_str(&j, "problem", p->name);
        cli_json_str(&j, "data", data);
        cli_json_uint(&j, "dim", p->dim);
        cli_json_uint(&j, "samples", p->n);
        cli_json_num(&j, "eps", p->eps);
        cli_json_num(&j, "eps_realized", p->eps_realized);
        cli_json_num(&j, "f_star", p->f_star);
        cli_json_num(&j, "f_star_lower", p->f_star_lower);
        cli_json_num(&j, "lipschitz_C", p->lipschitz_C);
        cli_json_num(&j, "smooth_beta", p->smooth_beta);
        cli_json_num(&j, "strong_alpha", p->strong_alpha);
        cli_json_num(&j, "lipschitz_f", p->lipschitz_f);
        cli_json_num(&j, "radius", p->radius);
        cli_json_num(&j, "seed", seed);
        cli_json_num(&j, "w_star_norm", sqrt(wsq));
        cli_json_num(&j, "D0", d0);
        cli_json_bool(&j, "convex", p->convex);
        cli_json_end(&j);
    } else {
        printf("problem %s%s%s: n = %zu samples in dimension d = %zu\n", p->name, data ? " from " : "",
               data ? data : "", p->n, p->dim);
        line("eps", p->eps, "requested interpolation tolerance");
        line("eps_realized", p->eps_realized, "max_i loss_i(w*), recomputed from the data");
        line("f_star", p->f_star, "f(w*)");
        line("f_star_lower", p->f_star_lower, "certified lower bound on min f over Omega");
        line("lipschitz_C", p->lipschitz_C, "max subgradient norm of any loss_i on Omega");
        line("smooth_beta", p->smooth_beta, "smoothness of every loss_i");
        line("strong_alpha", p->strong_alpha, "strong convexity of f on Omega");
        line("lipschitz_f", p->lipschitz_f, "smoothness of f itself");
        line("radius", p->radius, "Omega = L2 ball of this radius (inf: R^d)");
        line("seed", seed, "instance generator seed");
        line("|w*|", sqrt(wsq), "norm of the minimiser w*");
        line("D0", d0, "|w0 - w*|^2, w0 = 0 (or the problem's start) projected onto Omega");
        printf("  %-14s %-18s %s\n", "convex", p->convex ? "yes" : "no", "");
    }
    alig_problem_free(p);
    return CLI_OK;
}
