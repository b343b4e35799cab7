/* cmd_demo.c - `alig demo`: the first thing a newcomer runs (`make demo`). One table: each
 * synthetic class at ε = 0 and at a small ε > 0, solved by ALI-G and by constant-step SGD from the
 * same start with the same mini-batches (same seed), through the library driver alig_run().
 *
 * Step sizes, stated in the table and fixed by the instance's own constants, not tuned on results:
 *   smooth classes (β = max‖x_i‖²):  SGD lr = 1/β, the classical constant step for interpolating
 *                                    least squares;
 *   lipschitz (C = max‖x_i‖):        SGD lr = √D0 / (C √(T+1)), the textbook constant step of the
 *                                    projected subgradient method for T steps (it knows D0 = ‖w0 − w⋆‖²).
 *   ALI-G: η = ∞ (ALI-G∞) always; at ε > 0 also η = SGD's lr, since the error floors of the
 *   convergence bounds (docs/theory.md) grow with η when ε > 0. δ = 0: the C port's guard makes a
 *   zero gradient a zero step, and the default δ = 1e-5 would add a floor of about δ/(2β) on least
 *   squares that dominates at this scale (the notes under the table say so and how to see it).
 * After the table, unless --table-only: the quick `alig rates` check (every convergence bound of
 * docs/theory.md against measured runs) and `alig oscillation` (the non-convex example), with
 * their reports written under results/. The demo's exit status is theirs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"

enum { DEMO_ITERS = 3000 };
#define DEMO_EPS 0.01

static void help(FILE *f)
{
    fprintf(f, "usage: alig demo [--iters T] [--eps E] [--seed S]\n\n"
               "Runs ALI-G and SGD on each synthetic class (lipschitz, smooth, strongly-convex) at eps = 0 and at\n"
               "eps = E, from w0 = 0 with mini-batches of one sample, and prints one table row per run: the final\n"
               "f(wbar_T) - f* (wbar_T = uniform average of w_0..w_T), the final |w_T - w*|^2, the mean step and\n"
               "the time. Step sizes come from each instance's constants (notes under the table): SGD lr = 1/beta\n"
               "(least squares) or sqrt(D0)/(C sqrt(T+1)) (lipschitz); ALI-G with delta = 0, eta = inf and, at\n"
               "eps > 0, also eta = SGD's lr.\n\n"
               "  --iters T             steps per run, T >= 1 [%d]\n"
               "  --eps E               the small interpolation tolerance, E > 0 [%g]\n"
               "  --seed S              instance and sampling seed, S >= 1 [1]\n"
               "  --table-only          print the table only; skip the rates check and the oscillation example\n\n"
               "Then (unless --table-only) it runs `alig rates` (quick check of every convergence bound, report in\n"
               "results/rates/) and `alig oscillation` (report in results/oscillation/); the exit status is\n"
               "non-zero if a bound was violated or left inconclusive.\n",
            DEMO_ITERS, DEMO_EPS);
}

typedef struct {
    size_t steps;
    double step_sum, avg_gap, dist2;
} demo_ctx;

static int observe(const alig_run_row *r, void *vctx)
{
    demo_ctx *c = vctx;
    if (r->iter > 0) {
        c->steps++;
        c->step_sum += r->step;
    }
    c->avg_gap = r->avg_gap;
    c->dist2 = r->dist2;
    return 0;
}

/* D0 = ‖Π_Ω(w0) − w⋆‖² with w0 = p->w0 or 0 (what alig_run starts from). */
static double start_dist2(const alig_problem *p)
{
    double s = 0.0, nrm2 = 0.0;
    for (size_t i = 0; i < p->dim; i++) {
        double w = p->w0 ? p->w0[i] : 0.0;
        nrm2 += w * w;
    }
    double scale = (p->radius < INFINITY && sqrt(nrm2) > p->radius) ? p->radius / sqrt(nrm2) : 1.0;
    for (size_t i = 0; i < p->dim; i++) {
        double t = (p->w0 ? scale * p->w0[i] : 0.0) - p->w_star[i];
        s += t * t;
    }
    return s;
}

/* One run and one table row. Returns CLI_OK or CLI_RUNTIME (divergence is a row, not a failure). */
static int demo_run(const char *cmd, alig_problem *p, const alig_solver_type *type, const void *params,
                    const char *label, const alig_run_spec *spec)
{
    demo_ctx c = { .avg_gap = NAN, .dist2 = NAN };
    double t0 = cli_now();
    alig_status st = alig_run(p, type, params, spec, observe, &c, NULL);
    double secs = cli_now() - t0;
    char eps[32];
    snprintf(eps, sizeof eps, "%g", p->eps);
    if (st == ALIG_ENONFINITE) {
        printf("%-16s %-6s %-18s diverged after %zu steps\n", p->name, eps, label, c.steps);
        return CLI_OK;
    }
    if (st) return cli_fail(cmd, CLI_RUNTIME, "%s on %s: %s", label, p->name, alig_strerror(st));
    printf("%-16s %-6s %-18s %12.3e %12.3e %10.3g %7.3f\n", p->name, eps, label, c.avg_gap, c.dist2,
           c.steps ? c.step_sum / (double)c.steps : NAN, secs);
    return CLI_OK;
}

int cmd_demo(int argc, char **argv)
{
    cli_flags fl = { .cmd = "demo" };
    cli_flags_add(&fl, "iters", 1);
    cli_flags_add(&fl, "eps", 1);
    cli_flags_add(&fl, "seed", 1);
    cli_flags_add(&fl, "table-only", 0);
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;
    size_t iters = DEMO_ITERS;
    double small_eps = DEMO_EPS;
    unsigned long seed = 1;
    if ((rc = cli_size(fl.cmd, "iters", cli_get(&fl, "iters"), 1, &iters)) ||
        (rc = cli_double(fl.cmd, "eps", cli_get(&fl, "eps"), CLI_POSITIVE, &small_eps)) ||
        (rc = cli_ulong(fl.cmd, "seed", cli_get(&fl, "seed"), &seed)))
        return rc;

    const alig_run_spec spec = { .iters = iters, .batch = 1, .seed = seed, .gap_every = iters };
    printf("ALI-G vs SGD: T = %zu steps from w0 = 0, mini-batches of 1 sample (seed %lu), same samples for both.\n"
           "f(wbar)-f*: wbar = average of w_0..w_T.  |w-w*|^2: last iterate.  Time in seconds.\n\n",
           iters, seed);
    printf("%-16s %-6s %-18s %12s %12s %10s %7s\n", "problem", "eps", "solver", "f(wbar)-f*", "|w-w*|^2",
           "mean step", "time");

    const double eps_list[2] = { 0.0, small_eps };
    for (size_t i = 0; alig_problem_names[i]; i++) {
        for (size_t e = 0; e < 2; e++) {
            alig_problem_spec ps = { 0 };
            if (alig_problem_defaults(alig_problem_names[i], &ps)) continue;
            ps.eps = eps_list[e];
            ps.radius = INFINITY;
            ps.seed = seed;
            alig_problem *p = NULL;
            alig_status st = alig_problem_make(&p, alig_problem_names[i], &ps);
            if (st) {
                const char *why = alig_problem_last_error();
                return cli_fail(fl.cmd, CLI_RUNTIME, "%s (eps %g): %s", alig_problem_names[i], ps.eps,
                                (why && why[0]) ? why : alig_strerror(st));
            }
            /* SGD's constant step from the instance's constants (see the file comment). */
            double lr = isfinite(p->smooth_beta) && p->smooth_beta > 0.0
                            ? 1.0 / p->smooth_beta
                            : sqrt(start_dist2(p)) / (p->lipschitz_C * sqrt((double)iters + 1.0));
            alig_params_alig pinf = ALIG_PARAMS_ALIG_DEFAULT, peta = ALIG_PARAMS_ALIG_DEFAULT;
            pinf.delta = peta.delta = 0.0;
            peta.eta = lr;
            alig_params_sgd psgd = ALIG_PARAMS_SGD_DEFAULT;
            psgd.lr = lr;
            char la[40], ls[40];
            snprintf(la, sizeof la, "alig eta=%.3g", lr);
            snprintf(ls, sizeof ls, "sgd  lr=%.3g", lr);
            if ((rc = demo_run(fl.cmd, p, alig_solver_alig, &pinf, "alig eta=inf", &spec)) ||
                (p->eps > 0.0 && (rc = demo_run(fl.cmd, p, alig_solver_alig, &peta, la, &spec))) ||
                (rc = demo_run(fl.cmd, p, alig_solver_sgd, &psgd, ls, &spec))) {
                alig_problem_free(p);
                return rc;
            }
            alig_problem_free(p);
        }
    }
    printf("\nStep sizes come from each instance's constants (alig info --problem NAME shows them):\n"
           "  SGD: lr = 1/beta on least squares (beta = max |x_i|^2), sqrt(D0)/(C sqrt(T+1)) on lipschitz.\n"
           "  ALI-G: eta = inf (ALI-G-inf) and, at eps > 0, also eta = SGD's lr: the error floor of the\n"
           "  convergence bounds grows with eta when eps > 0, so a finite eta is what theory asks for there.\n"
           "  ALI-G uses delta = 0 here (a zero gradient gives a zero step). The library default delta = 1e-5\n"
           "  adds a floor near delta/(2 beta) on least squares, visible at this scale:\n"
           "    alig solve --problem smooth --solver alig --delta 1e-5 --iters %zu --out run.csv\n",
           iters);
    if (cli_get(&fl, "table-only")) return CLI_OK;

    printf("\n== Convergence bounds: alig rates (quick) ==\n\n");
    fflush(stdout);
    char *rates_argv[] = { "rates", "--quick", "--out", "results/rates", NULL };
    int rc_rates = cmd_rates(4, rates_argv);
    printf("\n== Non-convex example: alig oscillation ==\n\n");
    fflush(stdout);
    char *osc_argv[] = { "oscillation", "--out", "results/oscillation", NULL };
    int rc_osc = cmd_oscillation(3, osc_argv);
    printf("\nReports and figures: results/rates/report.md (+ rates.csv, rates_*.svg) and results/oscillation/.\n"
           "Documentation figures are regenerated with `alig figures` (docs/figures/).\n");
    return rc_rates ? rc_rates : rc_osc;
}
