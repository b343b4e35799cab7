/* cmd_solve.c - `alig solve`: one run of one solver on one problem through the library driver
 * alig_run() (analysis/run.c), every K-th iterate written to a CSV file that appears only when
 * the run succeeded (temporary file + rename), and a one-line key=value summary on stdout. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig solve (--problem NAME [problem flags] | --data FILE --loss L) --solver NAME [solver flags]\n"
            "                  --iters T --out FILE.csv [--batch B] [--seed S] [--every K]\n\n"
            "Runs T steps from w0 = 0 (or the problem's start) projected onto Omega. Each step draws a\n"
            "mini-batch of B distinct samples uniformly at random and passes their mean loss and gradient to the\n"
            "solver (B = n is the deterministic full-batch oracle; polyak always uses the full objective).\n"
            "CSV columns: iter,loss,f_gap,avg_gap,dist2,step,step_unclipped with f_gap = f(w_k) - f*,\n"
            "avg_gap = f(wbar_k) - f* for the uniform average wbar_k of w_0..w_k, dist2 = |w_k - w*|^2; loss,\n"
            "step and step_unclipped belong to the step that produced w_k (nan in row 0). A summary line\n"
            "(key=value) goes to stdout. The file is written atomically: a failed run leaves no file behind.\n"
            "A run diverges when a value becomes non-finite or when the final gap f(w_T) - f* exceeds 1e6 times\n"
            "the starting gap f(w_0) - f*: it is reported, and no file is written.\n"
            "Exit status: 0 success, 1 runtime failure (divergence, unreadable or malformed data, I/O),\n"
            "2 usage error.\n\n");
    cli_problem_help(f, "problem-seed");
    fprintf(f, "run:\n"
               "  --solver NAME         one of the solvers below (required)\n"
               "  --iters T             number of steps T >= 1 (required)\n"
               "  --out FILE.csv        output CSV (required)\n"
               "  --batch B             mini-batch size, 1 <= B <= n [1]\n"
               "  --seed S              mini-batch sampling seed S >= 1 (the instance's is --problem-seed) [1]\n"
               "  --every K             write every K-th row and the last one, K >= 1 [1]\n\n"
               "solvers and their flags [defaults]; polyak's --f-star defaults to the problem's f*\n"
               "(computed numerically for --data) unless given:\n");
    cli_solvers_help(f);
}

/* Observer state: the CSV sink and the summary accumulators. */
typedef struct {
    FILE *csv;
    size_t every, iters;
    size_t last_iter;           /* last row seen (for the divergence message) */
    size_t steps, clipped;
    double step_sum;
    double f_gap, avg_gap, dist2;
    double f_gap0;              /* f(w_0) - f*, the reference of the divergence check */
} solve_ctx;

/* A run whose final gap exceeds its starting gap by this factor has diverged (exploded), even
 * with every value finite: e.g. momentum >= 1 grows the iterates geometrically. */
#define SOLVE_EXPLODE_FACTOR 1e6

static int observe(const alig_run_row *r, void *vctx)
{
    solve_ctx *c = vctx;
    c->last_iter = r->iter;
    if (r->iter == 0) c->f_gap0 = r->f_gap;
    if (r->iter > 0) {
        c->steps++;
        c->step_sum += r->step;
        if (r->step < r->step_unclipped) c->clipped++;
    }
    if (r->iter % c->every == 0 || r->iter == c->iters) {
        fprintf(c->csv, "%zu,", r->iter);
        const double v[] = { r->loss, r->f_gap, r->avg_gap, r->dist2, r->step, r->step_unclipped };
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            if (i) fputc(',', c->csv);
            cli_csv_num(c->csv, v[i]);
        }
        fputc('\n', c->csv);
    }
    c->f_gap = r->f_gap;
    c->avg_gap = r->avg_gap;
    c->dist2 = r->dist2;
    return 0;
}

int cmd_solve(int argc, char **argv)
{
    cli_flags fl = { .cmd = "solve" };
    cli_flags_add_problem(&fl, "problem-seed");
    cli_flags_add(&fl, "iters", 1);
    cli_flags_add(&fl, "out", 1);
    cli_flags_add(&fl, "batch", 1);
    cli_flags_add(&fl, "seed", 1);
    cli_flags_add(&fl, "every", 1);
    cli_flags_add_solvers(&fl);
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_OK;
    }
    if (rc) return rc;

    /* Usage checks first, all cheap, before any instance is built. */
    alig_run_spec spec = { .iters = 0, .batch = 1, .seed = 1, .gap_every = 1 };
    const char *out_path = cli_get(&fl, "out");
    if ((rc = cli_problem_check(&fl))) return rc;
    if (!cli_get(&fl, "iters")) return cli_fail(fl.cmd, CLI_USAGE, "missing --iters T");
    if (!out_path) return cli_fail(fl.cmd, CLI_USAGE, "missing --out FILE.csv");
    if ((rc = cli_size(fl.cmd, "iters", cli_get(&fl, "iters"), 1, &spec.iters)) ||
        (rc = cli_size(fl.cmd, "batch", cli_get(&fl, "batch"), 1, &spec.batch)) ||
        (rc = cli_ulong(fl.cmd, "seed", cli_get(&fl, "seed"), &spec.seed)) ||
        (rc = cli_size(fl.cmd, "every", cli_get(&fl, "every"), 1, &spec.gap_every)))
        return rc;
    cli_solver sv;
    if ((rc = cli_solver_make(&fl, &sv))) return rc;
    if ((rc = cli_milestones_within(&sv, &fl, (double)spec.iters, "--iters"))) {
        cli_solver_free(&sv);
        return rc;
    }

    alig_problem *p = NULL;
    cli_out out = { 0 };
    if ((rc = cli_problem_make(&fl, "problem-seed", &p))) goto done;
    const int full = (sv.type->flags & ALIG_SOLVER_FULL_ORACLE) != 0;
    if (!full && spec.batch > p->n) {
        rc = cli_fail(fl.cmd, CLI_USAGE, "--batch: %zu exceeds the number of samples n = %zu", spec.batch, p->n);
        goto done;
    }
    if (sv.type == alig_solver_polyak && !cli_solver_given(&sv, "f-star"))
        ((alig_params_polyak *)sv.params)->f_star = p->f_star;

    if ((rc = cli_out_open(fl.cmd, &out, out_path))) goto done;
    fprintf(out.f, "iter,loss,f_gap,avg_gap,dist2,step,step_unclipped\n");
    solve_ctx ctx = { .csv = out.f, .every = spec.gap_every, .iters = spec.iters,
                      .f_gap = NAN, .avg_gap = NAN, .dist2 = NAN };
    const size_t calls_sample = p->calls_sample, calls_full = p->calls_full;
    const double t0 = cli_now();
    alig_status st = alig_run(p, sv.type, sv.params, &spec, observe, &ctx, NULL);
    const double seconds = cli_now() - t0;
    if (st == ALIG_ENONFINITE) {
        rc = cli_fail(fl.cmd, CLI_RUNTIME, "%s diverged at step %zu of %zu (%s); no output written", sv.name,
                      ctx.last_iter + 1, spec.iters, alig_strerror(st));
        goto done;
    }
    if (st) {
        rc = cli_fail(fl.cmd, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "%s: %s", sv.name, alig_strerror(st));
        goto done;
    }
    if (!isfinite(ctx.f_gap) || !isfinite(ctx.avg_gap)) {
        rc = cli_fail(fl.cmd, CLI_RUNTIME, "%s diverged: f(w_T) - f* = %g, f(wbar_T) - f* = %g after %zu steps "
                      "(non-finite); no output written", sv.name, ctx.f_gap, ctx.avg_gap, spec.iters);
        goto done;
    }
    if (ctx.f_gap0 > 0 && ctx.f_gap > SOLVE_EXPLODE_FACTOR * ctx.f_gap0) {
        rc = cli_fail(fl.cmd, CLI_RUNTIME, "%s diverged: f(w_T) - f* = %.3g after %zu steps, %.3g times its start "
                      "value %.3g (more than %g times: exploding); no output written", sv.name, ctx.f_gap, spec.iters,
                      ctx.f_gap / ctx.f_gap0, ctx.f_gap0, SOLVE_EXPLODE_FACTOR);
        goto done;
    }
    if ((rc = cli_out_commit(fl.cmd, &out))) goto done;

    printf("solver=%s problem=%s iters=%zu batch=%zu seed=%lu f_gap=%.4e avg_gap=%.4e dist2=%.4e mean_step=%.4g "
           "clipped=%.3f sample_calls=%zu full_calls=%zu seconds=%.3f out=%s\n",
           sv.name, p->name, spec.iters, full ? p->n : spec.batch, spec.seed, ctx.f_gap, ctx.avg_gap, ctx.dist2,
           ctx.steps ? ctx.step_sum / (double)ctx.steps : NAN,
           ctx.steps ? (double)ctx.clipped / (double)ctx.steps : NAN, p->calls_sample - calls_sample,
           p->calls_full - calls_full, seconds, out_path);
    rc = CLI_OK;
done:
    cli_out_abort(&out);
    alig_problem_free(p);
    cli_solver_free(&sv);
    return rc;
}
