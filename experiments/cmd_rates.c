/* cmd_rates.c - `alig rates`: check every convergence bound of docs/theory.md empirically.
 *
 * The experiment itself is the library function alig_rates_run() (analysis/rates.c); this file
 * prints the terminal table and writes OUT/report.md, OUT/rates.csv, OUT/methods.csv and, per
 * problem class, OUT/rates_<class>.dat with a gnuplot script rendered to SVG and PNG (plot.h).
 * Exit status: 0 when every applicable bound held, 1 when one was violated or left inconclusive
 * (or on a runtime failure), 2 for a usage error. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alig/analysis.h"
#include "alig/grid.h"
#include "cli.h"
#include "cli_util.h"
#include "plot.h"

#define CMD "rates"

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig rates [--quick | --full] [--out DIR] [--figures | --no-figures]\n"
            "                  [--horizon T] [--seeds R] [--seeds-cap N] [--seed S] [--problem NAME] [--threads N]\n"
            "                  [--dry-run]\n\n"
            "Checks the bounds D1, D1inf, D2, D3 of docs/theory.md against ALI-G runs on every problem class\n"
            "(lipschitz, smooth, strongly-convex) x eps in {0, small, large} x eta in {low, high, inf} x\n"
            "delta in {0, 1e-5}, next to Polyak (f* given), APROX, SPS and SGD (best constant rate of a grid).\n"
            "Each expectation is estimated by R independent runs (95%% Student-t interval) at checkpoints T\n"
            "on a log grid: 'held' when the upper limit is under the bound at every checkpoint, 'violated'\n"
            "when the lower limit is above it somewhere or a per-step inequality fails at some iteration,\n"
            "otherwise the case is rerun with twice the seeds up to the cap, then reported 'inconclusive'.\n"
            "Writes OUT/report.md, OUT/rates.csv, OUT/methods.csv, OUT/rates_<class>.{dat,gp,svg,png}.\n"
            "Exit status: 0 every applicable bound held; 1 a bound violated or inconclusive, or a runtime\n"
            "failure; 2 usage error.\n\n"
            "  --quick               quick grid (default): T = 1000, R = 12, cap 96, 4 checkpoints/decade\n"
            "  --full                full grid: T = 10000, R = 40, cap 640, 8 checkpoints/decade\n"
            "  --out DIR             output directory, created if needed [results/rates]\n"
            "  --figures             require the figures (exit 1 if gnuplot is missing)\n"
            "  --no-figures          write no figure files at all\n"
            "                        (default: .dat and .gp always, SVG/PNG when gnuplot is on PATH)\n"
            "  --horizon T           number of steps, 10 <= T <= 1e9 [mode default]\n"
            "  --seeds R             initial runs per case, 2 <= R <= 2^20 [mode default]\n"
            "  --seeds-cap N         most runs per undecided case, R <= N <= 2^20 [mode default]\n"
            "  --seed S              base of the sampling seeds and the instance seed, S >= 1 [1]\n"
            "  --problem NAME        one class only: lipschitz, smooth or strongly-convex [all]\n"
            "  --threads N           OpenMP threads, 1 <= N <= 1024 [OMP_NUM_THREADS]; results do not depend on it\n"
            "  --dry-run             print the grid of configurations (a sweep protocol) and run nothing\n"
            "  --bound-scale X       testing hook: multiply every bound by X > 0 [1]; X < 1 should fail\n");
}

/* ------------------------------------------------------------------ small helpers */

static void fmt_num(char *b, size_t n, double v, const char *fmt)
{
    if (isnan(v)) snprintf(b, n, "-");
    else if (isinf(v)) snprintf(b, n, v > 0 ? "inf" : "-inf");
    else snprintf(b, n, fmt, v);
}

static void fmt_rate(char *b, size_t n, const alig_rates_case *c)
{
    if (isnan(c->rate_fit)) snprintf(b, n, "-");
    else snprintf(b, n, "%.3g +- %.2g", c->rate_fit, c->rate_fit_se);
}

/* How the fitted rate compares with the theorem's (a bound, so faster is consistent). A curve
 * that still steepens at the horizon is heading for a faster rate than the fitted one: unless
 * the fit is already faster, the horizon is too short to compare ("transient"). */
static const char *rate_cmp(const alig_rates_case *c)
{
    if (isnan(c->rate_fit) || isnan(c->rate_theory)) return "-";
    if (c->rate_fit + 2 * c->rate_fit_se < c->rate_theory) return "faster";
    if (c->fit_transient) return "transient";
    if (c->rate_fit - 2 * c->rate_fit_se > c->rate_theory) return "slower";
    return "matches";
}

/* The fit window of every case: the last two decades of the horizon, T >= max(10, horizon/100). */
static void fit_window(char *b, size_t n, const alig_rates_result *r)
{
    const double h = (double)r->config.horizon;
    snprintf(b, n, "%.0f-%.0f", fmax(10.0, h / 100.0), h);
}

static void case_label(char *b, size_t n, const alig_rates_case *c)
{
    snprintf(b, n, "%s eps=%s eta=%s delta=%g", c->problem, c->eps_label, c->eta_label, c->delta);
}

/* ------------------------------------------------------------------ terminal table */

static void print_table(FILE *f, const alig_rates_result *r)
{
    char win[48], head[64];
    fit_window(win, sizeof win, r);
    snprintf(head, sizeof head, "fit T %s", win);
    fprintf(f, "%-46s %-6s %-17s %-12s %-14s %-16s %-10s %s\n", "case", "bound", "max ratio (at T)", "verdict",
            "per-step", head, "theory", "fit vs theory");
    for (size_t i = 0; i < r->n_cases; i++) {
        const alig_rates_case *c = &r->cases[i];
        char lab[96], ratio[48], steps[48], fit[40], th[24];
        case_label(lab, sizeof lab, c);
        if (c->verdict == ALIG_VERDICT_NA) {
            fprintf(f, "%-46s %-6s %-17s %-12s %s\n", lab, alig_bound_name(c->bound), "-", "n/a", c->reason);
            continue;
        }
        char rv[16], tv[16];
        fmt_num(rv, sizeof rv, c->max_ratio, "%.3g");
        fmt_num(tv, sizeof tv, c->max_ratio_T, "%.0f");
        snprintf(ratio, sizeof ratio, "%s (%s)", rv, tv);
        snprintf(steps, sizeof steps, "%zu/%zu", c->steps_failed, c->steps_checked);
        fmt_rate(fit, sizeof fit, c);
        fmt_num(th, sizeof th, c->rate_theory, "%.3g");
        fprintf(f, "%-46s %-6s %-17s %-12s %-14s %-16s %-10s %s\n", lab, alig_bound_name(c->bound), ratio,
                alig_verdict_name(c->verdict), steps, fit, th, rate_cmp(c));
    }
}

static void print_methods(FILE *f, const alig_rates_result *r)
{
    fprintf(f, "\niterations to accuracy (mean f(w_T) - f* <= 1e-3 (f(w0) - f*); first checkpoint; '>T' = not reached)\n");
    fprintf(f, "%-16s %-6s %-40s %-10s %-12s %s\n", "problem", "eps", "method", "iters", "final gap", "log-log slope");
    for (size_t i = 0; i < r->n_methods; i++) {
        const alig_rates_method *m = &r->methods[i];
        char it[24], gap[24], sl[24];
        if (isinf(m->iters_to_target)) snprintf(it, sizeof it, ">%zu", r->config.horizon);
        else snprintf(it, sizeof it, "%.0f", m->iters_to_target);
        fmt_num(gap, sizeof gap, m->final_gap, "%.3g");
        fmt_num(sl, sizeof sl, m->rate_fit, "%.3g");
        fprintf(f, "%-16s %-6s %-40s %-10s %-12s %s\n", m->problem, m->eps_label, m->method, it, gap, sl);
    }
}

/* ------------------------------------------------------------------ files */

static int write_csv(cli_out *o, const char *dir, const alig_rates_result *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rates.csv", dir);
    int rc = cli_out_open(CMD, o, path);
    if (rc) return rc;
    FILE *f = o->f;
    fprintf(f, "case,problem,solver,eps,eta,delta,bound,quantity,max_ratio,max_ratio_T,final_ratio,held,status,runs,"
               "steps_checked,steps_failed,rate_fit,rate_fit_se,rate_theory,fit_points,eps_label,eta_label\n");
    for (size_t i = 0; i < r->n_cases; i++) {
        const alig_rates_case *c = &r->cases[i];
        if (c->verdict == ALIG_VERDICT_NA) continue;     /* listed in report.md */
        fprintf(f, "%s,%s,alig,", c->id, c->problem);
        cli_csv_num(f, c->eps); fputc(',', f);
        cli_csv_num(f, c->eta); fputc(',', f);
        cli_csv_num(f, c->delta);
        fprintf(f, ",%s,%s,", alig_bound_name(c->bound), c->quantity);
        cli_csv_num(f, c->max_ratio); fputc(',', f);
        cli_csv_num(f, c->max_ratio_T); fputc(',', f);
        cli_csv_num(f, c->final_ratio);
        fprintf(f, ",%d,%s,%zu,%zu,%zu,", c->verdict == ALIG_VERDICT_HELD, alig_verdict_name(c->verdict),
                c->curve.runs, c->steps_checked, c->steps_failed);
        cli_csv_num(f, c->rate_fit); fputc(',', f);
        cli_csv_num(f, c->rate_fit_se); fputc(',', f);
        cli_csv_num(f, c->rate_theory);
        fprintf(f, ",%zu,%s,%s\n", c->fit_points, c->eps_label, c->eta_label);
    }
    if (ferror(f)) { int e = errno; cli_out_abort(o); return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", path, e ? strerror(e) : "write error"); }
    return CLI_OK;   /* committed with the other two by cmd_rates */
}

static int write_methods_csv(cli_out *o, const char *dir, const alig_rates_result *r)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/methods.csv", dir);
    int rc = cli_out_open(CMD, o, path);
    if (rc) return rc;
    FILE *f = o->f;
    fprintf(f, "problem,eps_label,method,runs,final_gap,final_avg_gap,target,iters_to_target,rate_fit,rate_fit_se\n");
    for (size_t i = 0; i < r->n_methods; i++) {
        const alig_rates_method *m = &r->methods[i];
        fprintf(f, "%s,%s,%s,%zu,", m->problem, m->eps_label, m->method, m->runs);
        const double v[] = { m->final_gap, m->final_avg_gap, m->target, m->iters_to_target, m->rate_fit, m->rate_fit_se };
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
            if (k) fputc(',', f);
            cli_csv_num(f, v[k]);
        }
        fputc('\n', f);
    }
    if (ferror(f)) { int e = errno; cli_out_abort(o); return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", path, e ? strerror(e) : "write error"); }
    return CLI_OK;   /* committed with the other two by cmd_rates */
}

static int write_report(cli_out *o, const char *dir, const alig_rates_result *r, const char *cmdline, double secs,
                        const char *fig_note)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/report.md", dir);
    int rc = cli_out_open(CMD, o, path);
    if (rc) return rc;
    FILE *f = o->f;
    const alig_rates_config *cf = &r->config;
    size_t held = 0, viol = 0, inc = 0, na = 0;
    for (size_t i = 0; i < r->n_cases; i++)
        switch (r->cases[i].verdict) {
        case ALIG_VERDICT_HELD: held++; break;
        case ALIG_VERDICT_VIOLATED: viol++; break;
        case ALIG_VERDICT_INCONCLUSIVE: inc++; break;
        default: na++; break;
        }
    fprintf(f, "# alig rates: empirical check of the bounds of docs/theory.md\n\n");
    fprintf(f, "Command: `%s`  \n", cmdline);
    fprintf(f, "Mode: %s; horizon T = %zu; initial runs R = %zu per case, cap %zu; %zu checkpoints "
               "(%zu per decade); confidence level %.2f; base seed %lu; %d OpenMP thread(s); %zu solver runs; "
               "%.1f s wall.%s\n\n",
            cf->full ? "full" : "quick", cf->horizon, cf->seeds, cf->seeds_cap, r->n_checkpoints, cf->per_decade,
            cf->level, cf->seed, r->threads, r->total_runs, secs,
            cf->bound_scale != 1.0 ? " **Bounds scaled by --bound-scale (test hook): results are not a check of the theory.**" : "");
    fprintf(f, "**Summary:** %zu held, %zu violated, %zu inconclusive, %zu not applicable.\n\n", held, viol, inc, na);

    fprintf(f, "## Method\n\n"
               "- Every run starts at w0 = 0 (projected), draws one sample per step uniformly at random "
               "(seeded GSL mt19937; run r of every method on an instance uses the same seed), and is observed "
               "at every iterate through `alig_run()`.\n"
               "- The quantity each bound controls is estimated at every checkpoint by the mean over the runs, "
               "with a two-sided 95%% Student-t interval: **held** when the upper limit is under the bound at every "
               "checkpoint, **violated** when the lower limit is above it at one, **inconclusive** otherwise. An "
               "inconclusive case is rerun with twice the runs, up to the cap.\n"
               "- The per-step inequalities that hold for every realisation (Lemma 1; D1, D1inf or D2 per step, "
               "whichever applies) are asserted at every iteration of every ALI-G run with a relative rounding "
               "slack of 1e-9; one failure makes the case violated. The bounds assume exact arithmetic: a "
               "bound below the double-precision resolution of its quantity is compared as that resolution "
               "(counted below). With delta = 0, once ||g||^2 underflows and the zero-gradient guard fires, only Lemma 1 is asserted for the rest of that run (column "
               "'guard' counts such runs).\n"
               "- ε used in the bounds is the instance's realised max_i l_i(w*). 'small' and 'large' ε are "
               "1e-3 and 1e-1 times f(w0) - f* of the ε = 0 instance.\n"
               "- η: for the smooth classes the threshold of D2/D3 is 1/(4β) (δ > 0; 1/(2β) for δ = 0): "
               "η_low = 1/(8β) is below it, η_high = 1/β above both. The Lipschitz class has no threshold; its "
               "η_low/η_high are 1/4 and 1 times the mean ALI-G step s = mean_i l_i(w0)/||∇l_i(w0)||^2 at the start.\n"
               "- Rate fits: weighted least squares (GSL `gsl_fit_wlinear`, weights 1/σ² with σ = se/mean, "
               "standard error inflated by √(χ²/(n−2)) when larger than 1) of log(mean) against log T "
               "(D1, D1inf, D2; theory −1/2 and −1) or against T (D3; theory log q per step), over the last two decades of "
               "checkpoints (T >= max(10, T_horizon/100)) where the bound is at least twice its own floor (where its rate is the theorem's) and "
               "the mean is above 10 times the double-precision resolution of the quantity. D1 is fitted on E f(w̄_T) − f*. The theorems give upper "
               "bounds, so a fitted rate *faster* than the theory's is consistent with them; 'slower' would only "
               "say the bound is tight there. The same fit over each of the two decades tells whether the curve is "
               "still steepening at the horizon (last decade's slope below the first's by more than 2 combined "
               "standard errors): it is then heading for a faster rate than the fitted one, and a fit that is not "
               "already faster is reported 'transient' (horizon too short to compare), not 'slower'.\n\n");

    fprintf(f, "## Instances\n\n| problem | ε label | n | d | ε (realised) | f* | f(w0)-f* | D0 | C | β | α | η_low | η_high |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < r->n_instances; i++) {
        const alig_rates_instance *in = &r->instances[i];
        fprintf(f, "| %s | %s | %zu | %zu | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g |\n",
                in->problem, in->eps_label, in->n, in->dim, in->eps, in->f_star, in->f0, in->D0, in->C, in->beta,
                in->alpha, in->eta_low, in->eta_high);
    }

    char win[48];
    fit_window(win, sizeof win, r);
    fprintf(f, "\n## Bounds\n\n| case | bound | quantity | max mean/bound (at T) | at the horizon | verdict | runs | per-step failed/checked | guard | rate fit ± se (T %s) | theory | fit vs theory | fit |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", win);
    double worst = -INFINITY;
    const alig_rates_case *worst_c = NULL;
    for (size_t i = 0; i < r->n_cases; i++) {
        const alig_rates_case *c = &r->cases[i];
        if (c->verdict == ALIG_VERDICT_NA) continue;
        char lab[96], rv[16], tv[16], fr[16], fit[40], th[24];
        case_label(lab, sizeof lab, c);
        fmt_num(fr, sizeof fr, c->final_ratio, "%.3g");
        fmt_num(rv, sizeof rv, c->max_ratio, "%.3g");
        fmt_num(tv, sizeof tv, c->max_ratio_T, "%.0f");
        fmt_rate(fit, sizeof fit, c);
        fmt_num(th, sizeof th, c->rate_theory, "%.3g");
        fprintf(f, "| %s | %s | %s | %s (%s) | %s | %s%s%s | %zu | %zu/%zu | %zu | %s | %s | %s | %s |\n", lab,
                alig_bound_name(c->bound), c->quantity, rv, tv, fr, alig_verdict_name(c->verdict), c->reason[0] ? ": " : "",
                c->reason, c->curve.runs, c->steps_failed, c->steps_checked, c->guard_fired, fit, th, rate_cmp(c),
                c->fit_note);
        if (c->max_ratio > worst) { worst = c->max_ratio; worst_c = c; }
    }
    size_t res_used = 0;
    for (size_t i = 0; i < r->n_cases; i++) res_used += r->cases[i].resolution_used;
    if (res_used)
        fprintf(f, "\nAt %zu checkpoint(s) a bound was below the double-precision resolution of its quantity "
                   "(e.g. D3 with ε = δ = 0 decays below p·(2^-52·(|w*| + √D0))²) and was compared as that "
                   "resolution.\n", res_used);
    if (worst_c) {
        char lab[96];
        case_label(lab, sizeof lab, worst_c);
        fprintf(f, "\nLargest measured/bound ratio: **%.3g** (%s, %s, at T = %.0f); every other bound is looser.\n",
                worst, lab, alig_bound_name(worst_c->bound), worst_c->max_ratio_T);
    }

    fprintf(f, "\n## Not applicable\n\n");
    for (size_t i = 0; i < r->n_cases; i++) {
        const alig_rates_case *c = &r->cases[i];
        if (c->verdict != ALIG_VERDICT_NA) continue;
        char lab[96];
        case_label(lab, sizeof lab, c);
        fprintf(f, "- %s, %s: %s\n", lab, alig_bound_name(c->bound), c->reason);
    }

    fprintf(f, "\n## Iterations to accuracy\n\nFirst checkpoint T at which the mean last-iterate gap f(w_T) − f* "
               "is at most 1e-3·(f(w0) − f*); '>%zu' = not reached. SGD uses a constant learning rate, the best "
               "(smallest mean final gap) of the grid {",
            cf->horizon);
    for (size_t g = 0; g < r->n_sgd_lr; g++) fprintf(f, "%s%g", g ? ", " : "", r->sgd_lr_grid[g]);
    fprintf(f, "}, chosen per instance and named in the table. APROX uses α_k = η_high/√k; SPS is plain SPS with "
               "c = 0.5 and f*_B = 0; Polyak is deterministic (full gradient, f* given: one run).\n\n"
               "| problem | ε | method | runs | iterations | final f(w_T)-f* | final f(w̄_T)-f* | log-log slope of the gap |\n"
               "|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < r->n_methods; i++) {
        const alig_rates_method *m = &r->methods[i];
        char it[24], g1[24], g2[24], sl[40];
        if (isinf(m->iters_to_target)) snprintf(it, sizeof it, ">%zu", cf->horizon);
        else snprintf(it, sizeof it, "%.0f", m->iters_to_target);
        fmt_num(g1, sizeof g1, m->final_gap, "%.3g");
        fmt_num(g2, sizeof g2, m->final_avg_gap, "%.3g");
        if (isnan(m->rate_fit)) snprintf(sl, sizeof sl, "-");
        else snprintf(sl, sizeof sl, "%.3g ± %.2g", m->rate_fit, m->rate_fit_se);
        fprintf(f, "| %s | %s | %s | %zu | %s | %s | %s | %s |\n", m->problem, m->eps_label, m->method, m->runs, it,
                g1, g2, sl);
    }
    fprintf(f, "\n## Figures\n\n%s\n", fig_note);
    if (ferror(f)) { int e = errno; cli_out_abort(o); return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", path, e ? strerror(e) : "write error"); }
    return CLI_OK;   /* committed with the other two by cmd_rates */
}

/* ------------------------------------------------------------------ figures */

/* The cases drawn in a class's figure: its primary bounds. */
static int drawn(const alig_rates_case *c)
{
    if (c->verdict == ALIG_VERDICT_NA) return 0;
    if (!strcmp(c->problem, "strongly-convex")) return c->bound == ALIG_BOUND_D3;
    return 1;
}

static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* Two curves drawn on a log axis coincide when they differ by less than 1% at every checkpoint
 * (far below a line's width over the decades the panels span). */
#define COINCIDE_REL 1e-2

static int curves_coincide(const double *a, const double *b, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const double s = fmax(fabs(a[j]), fabs(b[j]));
        if (!(fabs(a[j] - b[j]) <= COINCIDE_REL * s)) return 0;
    }
    return 1;
}

/* Append to buf (capacity cap, *used bytes so far), truncating silently: legend text only. */
__attribute__((format(printf, 4, 5))) static void app(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used = (*used + (size_t)n < cap) ? *used + (size_t)n : cap - 1;
}

/* Style of ALI-G's maximal step η: colour, filled point type, open point type (by eta_label). */
static void eta_style(const char *eta_label, const char **color, int *pt, int *pt_open)
{
    if (!strcmp(eta_label, "low")) { *color = "#0072b2"; *pt = 7; *pt_open = 6; }        /* blue, circle */
    else if (!strcmp(eta_label, "high")) { *color = "#d55e00"; *pt = 5; *pt_open = 4; }  /* vermilion, square */
    else { *color = "#009e73"; *pt = 9; *pt_open = 8; }                                   /* green, triangle */
}

/* "0" or "10^{-5}" (gnuplot enhanced text) for δ. */
static void delta_text(char *b, size_t n, double d)
{
    if (d == 0) { snprintf(b, n, "0"); return; }
    const double e = log10(d);
    if (fabs(e - nearbyint(e)) < 1e-9) snprintf(b, n, "10^{%.0f}", e);
    else snprintf(b, n, "%g", d);
}

/* The bound's name in enhanced text: D1, D1_∞, D2, D3. */
static const char *bound_text(alig_bound_kind k)
{
    return k == ALIG_BOUND_D1INF ? "D1_∞" : alig_bound_name(k);
}

/* η in a legend: "η = 0.0469 (low)" or "η = ∞". */
static void eta_text(char *b, size_t n, const alig_rates_case *c)
{
    if (isinf(c->eta)) snprintf(b, n, "η = ∞");
    else snprintf(b, n, "η = %.3g (%s)", c->eta, c->eta_label);
}

/* Group a panel's cases: mgroup[k] = the first case whose measured mean coincides with case k's,
 * bgroup[k] likewise for the bounds. Returns the number of legend entries (groups of both kinds). */
static size_t panel_groups(const alig_rates_result *r, const size_t *idx, const size_t *pan, size_t np, int *mgroup,
                           int *bgroup)
{
    const size_t nc = r->n_checkpoints;
    size_t entries = 0;
    for (size_t k = 0; k < np; k++) {
        const alig_rates_case *c = &r->cases[idx[pan[k]]];
        mgroup[k] = bgroup[k] = (int)k;
        for (size_t l = 0; l < k; l++)
            if (mgroup[l] == (int)l && curves_coincide(c->curve.mean, r->cases[idx[pan[l]]].curve.mean, nc)) {
                mgroup[k] = (int)l;
                break;
            }
        for (size_t l = 0; l < k; l++)
            if (bgroup[l] == (int)l && curves_coincide(c->bound_values, r->cases[idx[pan[l]]].bound_values, nc)) {
                bgroup[k] = (int)l;
                break;
            }
        entries += (mgroup[k] == (int)k) + (bgroup[k] == (int)k);
    }
    return entries;
}

/* Write OUT/rates_<class>.dat (one block per drawn case: T mean lo hi bound) and build the gnuplot body:
 * one panel per ε; per panel, each measured mean with its 95% band (solid, one colour and point type per η),
 * each bound dashed in the same colour; curves that coincide are drawn once and named together. */
static int write_class_figure(const char *dir, const alig_rates_result *r, const char *cls, int render,
                              char *note, size_t note_len)
{
    char dat[4200], stem[4200];
    snprintf(dat, sizeof dat, "%s/rates_%s.dat", dir, cls);
    snprintf(stem, sizeof stem, "%s/rates_%s", dir, cls);
    cli_out o = { 0 };
    int rc = cli_out_open(CMD, &o, dat);
    if (rc) return rc;
    size_t block = 0, idx[64];
    for (size_t i = 0; i < r->n_cases && block < 64; i++) {
        const alig_rates_case *c = &r->cases[i];
        if (strcmp(c->problem, cls) || !drawn(c)) continue;
        fprintf(o.f, "# block %zu: %s  (T, mean, lo95, hi95, bound)\n", block, c->id);
        for (size_t j = 0; j < r->n_checkpoints; j++) {
            fprintf(o.f, "%.17g %.17g %.17g %.17g %.17g\n", r->checkpoints[j], c->curve.mean[j], c->curve.lo[j],
                    c->curve.hi[j], c->bound_values[j]);
        }
        fprintf(o.f, "\n\n");
        idx[block++] = i;
    }
    if (ferror(o.f)) { int e = errno; cli_out_abort(&o); return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", dat, e ? strerror(e) : "write error"); }
    if ((rc = cli_out_commit(CMD, &o))) return rc;
    if (!block) return CLI_OK;

    char *body = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&body, &blen);
    if (!m) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    const int semilog = !strcmp(cls, "strongly-convex");
    const char *ylabel = !strcmp(cls, "lipschitz") ? "E f(w̄_T)  [D1];   E f(w̄_T) − f^⋆  [D1_∞]   (log scale)"
                         : semilog ? "E ‖w_T − w^⋆‖^2   (squared distance, log scale)"
                                   : "E f(w̄_T) − f^⋆   (optimality gap, log scale)";
    const char *what = !strcmp(cls, "lipschitz") ? "Lipschitz class, bounds D1 and D1_∞"
                       : semilog ? "strongly convex class, bound D3 (last iterate)" : "smooth class, bound D2";
    fprintf(m, "reset\nset encoding utf8\n");
    fprintf(m, "set multiplot layout 1,3 title \"%s: measured mean over the runs (solid, points; shaded: 95%% "
               "confidence band) and the theorem's bound (dashed, same colour)\" font ',12'\n", what);
    fprintf(m, "set logscale y\nset format y '10^{%%L}'\nset grid lc rgb '#dddddd'\nset ylabel \"%s\"\n", ylabel);
    static const char *const epsl[] = { "0", "small", "large" };
    size_t max_entries = 1;
    for (int e = 0; e < 3; e++) {
        size_t pan[64], np = 0;
        int mg[64], bg[64];
        for (size_t b = 0; b < block; b++)
            if (!strcmp(r->cases[idx[b]].eps_label, epsl[e])) pan[np++] = b;
        const size_t n_e = panel_groups(r, idx, pan, np, mg, bg);
        if (n_e > max_entries) max_entries = n_e;
    }
    /* one legend column under each panel; the bottom margin holds the longest legend */
    fprintf(m, "set key outside below left Left reverse vertical maxcols 1 font ',9' spacing 1.0 samplen 2.5\n");
    fprintf(m, "set bmargin %zu\nset style fill transparent solid 0.18 noborder\n", 5 + max_entries + max_entries / 5);
    fprintf(m, semilog ? "unset logscale x\nset xlabel 'iterations T'\nset format x '%%g'\n"
                       : "set logscale x\nset xlabel 'iterations T (log scale)'\nset format x '10^{%%L}'\n");
    fprintf(m, "set xrange [%.17g:%.17g]\n", semilog ? 0.0 : r->checkpoints[0], r->checkpoints[r->n_checkpoints - 1]);
    const size_t nc = r->n_checkpoints;
    for (int e = 0; e < 3; e++) {
        size_t pan[64], np = 0;
        for (size_t b = 0; b < block; b++)
            if (!strcmp(r->cases[idx[b]].eps_label, epsl[e])) pan[np++] = b;
        if (!np) {
            fprintf(m, "set title 'ε = %s'\nset label 1 'no applicable bound' at graph 0.3,0.5\nunset ylabel\n"
                       "plot 1/0 notitle\nunset label 1\n", epsl[e]);
            continue;
        }
        const alig_rates_case *c0 = &r->cases[idx[pan[0]]];
        if (c0->eps == 0) fprintf(m, "set title 'ε = 0 (interpolation)'\n");
        else fprintf(m, "set title 'ε = %.2g (%s)'\n", c0->eps, epsl[e]);
        /* y range from the drawn values (the bands' lower ends may be 0 or tiny: they are clipped) */
        double ylo = INFINITY, yhi = 0;
        for (size_t k = 0; k < np; k++) {
            const alig_rates_case *c = &r->cases[idx[pan[k]]];
            for (size_t j = 0; j < nc; j++) {
                if (c->curve.mean[j] > 0) ylo = fmin(ylo, c->curve.mean[j]);
                if (c->bound_values[j] > 0) ylo = fmin(ylo, c->bound_values[j]);
                yhi = fmax(yhi, fmax(c->curve.hi[j], fmax(c->curve.mean[j], c->bound_values[j])));
            }
        }
        if (!(yhi > 0) || !isfinite(ylo)) { ylo = 1e-3; yhi = 1; }
        fprintf(m, "set yrange [%.17g:%.17g]\n", pow(10, floor(log10(ylo))), pow(10, ceil(log10(yhi * 1.5))));
        if (e) fprintf(m, "unset ylabel\n");
        int mgroup[64], bgroup[64];
        panel_groups(r, idx, pan, np, mgroup, bgroup);
        int first = 1;
        /* bands first (underneath), then the measured means, then the bounds */
        for (int pass = 0; pass < 3; pass++)
            for (size_t k = 0; k < np; k++) {
                const int *grp = pass == 2 ? bgroup : mgroup;
                if (grp[k] != (int)k) continue;
                const alig_rates_case *c = &r->cases[idx[pan[k]]];
                const char *color;
                int pt, pto;
                eta_style(c->eta_label, &color, &pt, &pto);
                /* a second δ for the same η (not coinciding) gets open points / another dash */
                int second = 0;
                for (size_t l = 0; l < k; l++)
                    if (grp[l] == (int)l && !strcmp(r->cases[idx[pan[l]]].eta_label, c->eta_label)) second = 1;
                /* the legend: every member of the group */
                char title[512] = "", et[64], dt[32];
                size_t used = 0, members = 0;
                eta_text(et, sizeof et, c);
                if (pass == 2) {   /* "bound D1: " or, when two bounds coincide, "bound D1 = D1_∞: " */
                    app(title, sizeof title, &used, "bound %s", bound_text(c->bound));
                    for (size_t l = k + 1; l < np; l++) {
                        const alig_rates_case *cl = &r->cases[idx[pan[l]]];
                        int seen = cl->bound == c->bound;
                        for (size_t q = k + 1; q < l; q++)
                            seen |= grp[q] == (int)k && r->cases[idx[pan[q]]].bound == cl->bound;
                        if (grp[l] == (int)k && !seen)
                            app(title, sizeof title, &used, " = %s", bound_text(cl->bound));
                    }
                    app(title, sizeof title, &used, ": ");
                }
                app(title, sizeof title, &used, "%s, δ = ", et);
                for (size_t l = k; l < np; l++) {
                    if (grp[l] != (int)k) continue;
                    const alig_rates_case *cl = &r->cases[idx[pan[l]]];
                    if (strcmp(cl->eta_label, c->eta_label)) {
                        eta_text(et, sizeof et, cl);
                        app(title, sizeof title, &used, "%s%s, δ = ", members ? "; " : "", et);
                    } else if (members) {
                        app(title, sizeof title, &used, " and ");
                    }
                    int dup_delta = 0;   /* same η and δ already named (D1 and D1_∞ on the same runs) */
                    for (size_t q = k; q < l; q++)
                        if (grp[q] == (int)k && r->cases[idx[pan[q]]].delta == cl->delta &&
                            !strcmp(r->cases[idx[pan[q]]].eta_label, cl->eta_label)) dup_delta = 1;
                    if (dup_delta && used >= 5 && !strcmp(title + used - 5, " and ")) {   /* drop the " and " */
                        used -= 5;
                        title[used] = 0;
                    }
                    else {
                        delta_text(dt, sizeof dt, cl->delta);
                        app(title, sizeof title, &used, "%s", dt);
                    }
                    members++;
                }
                if (members > 1) app(title, sizeof title, &used, " (identical)");
                fputs(first ? "plot " : ", \\\n     ", m);
                first = 0;
                gp_quote(m, dat);
                if (pass == 0)
                    fprintf(m, " index %zu using 1:($3>0?$3:%.17g):4 with filledcurves fc rgb '%s' notitle", pan[k],
                            pow(10, floor(log10(ylo))) * 1e-3, color);
                else if (pass == 1)
                    fprintf(m, " index %zu using 1:($2>0?$2:1/0) with linespoints lw 1.5 lc rgb '%s' pt %d ps 0.7 "
                               "title \"%s\"", pan[k], color, second ? pto : pt, title);
                else
                    fprintf(m, " index %zu using 1:5 with lines lw 1.5 lc rgb '%s' dt %d title \"%s\"", pan[k], color,
                            c->bound == ALIG_BOUND_D1INF ? 3 : second ? 4 : 2, title);
            }
        fputc('\n', m);
    }
    fprintf(m, "unset multiplot\n");
    if (fclose(m) != 0 || !body) { free(body); return cli_fail(CMD, CLI_RUNTIME, "out of memory"); }

    if (render) {
        char err[512] = "";
        if (alig_plot_render(stem, body, 1500, (int)(540 + 17 * max_entries), err, sizeof err) != 0) {
            free(body);
            return cli_fail(CMD, CLI_RUNTIME, "figure %s: %s", stem, err);
        }
        snprintf(note + strlen(note), note_len - strlen(note), "- `rates_%s.svg`, `rates_%s.png` (data `rates_%s.dat`, "
                 "script `rates_%s.gp`)\n", cls, cls, cls, cls);
    } else {
        /* No gnuplot: keep a runnable script next to the data. */
        char gp[4300];
        snprintf(gp, sizeof gp, "%s.gp", stem);
        cli_out g = { 0 };
        if ((rc = cli_out_open(CMD, &g, gp))) { free(body); return rc; }
        fprintf(g.f, "# generated by alig rates; run: gnuplot %s\nset terminal svg size 1500,%d enhanced\nset output ", gp,
                (int)(540 + 17 * max_entries));
        char svg[4300];
        snprintf(svg, sizeof svg, "%s.svg", stem);
        gp_quote(g.f, svg);
        fprintf(g.f, "\n%s\nset output\n", body);
        if (ferror(g.f)) { int e = errno; cli_out_abort(&g); free(body); return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", gp, e ? strerror(e) : "write error"); }
        if ((rc = cli_out_commit(CMD, &g))) { free(body); return rc; }
        snprintf(note + strlen(note), note_len - strlen(note), "- `rates_%s.dat` and `rates_%s.gp` (gnuplot was not "
                 "found: run the script to draw the figure)\n", cls, cls);
    }
    free(body);
    return CLI_OK;
}

/* Write OUT/rates_fits.dat and draw the fitted rates with ±2 standard errors next to the theorems'
 * rates as a dot plot, one labelled row per case: left panel the log-log slopes (D1, D1∞, D2), right
 * panel the per-step slopes (D3). */
static int write_fits_figure(const char *dir, const alig_rates_result *r, int render, char *note, size_t note_len)
{
    char dat[4200], stem[4200];
    snprintf(dat, sizeof dat, "%s/rates_fits.dat", dir);
    snprintf(stem, sizeof stem, "%s/rates_fits", dir);
    cli_out o = { 0 };
    int rc = cli_out_open(CMD, &o, dat);
    if (rc) return rc;
    size_t count[2] = { 0, 0 };
    double sep[2][8];          /* rows between two problem classes (horizontal rules) */
    size_t nsep[2] = { 0, 0 };
    double xlo[2] = { 0, 0 }, xhi[2] = { 0, 0 };
    for (int panel = 0; panel < 2; panel++) {
        fprintf(o.f, "# %s: row fit se theory label\n", panel ? "D3 (per step)" : "D1, D1inf, D2 (log-log)");
        const char *prev = NULL;
        for (size_t i = 0; i < r->n_cases; i++) {
            const alig_rates_case *c = &r->cases[i];
            if (c->verdict == ALIG_VERDICT_NA || isnan(c->rate_fit) || isnan(c->rate_theory)) continue;
            if ((c->bound == ALIG_BOUND_D3) != panel) continue;
            if (prev && strcmp(prev, c->problem) && nsep[panel] < 8) sep[panel][nsep[panel]++] = (double)count[panel] - 0.5;
            prev = c->problem;
            char lab[160], dt[32];
            delta_text(dt, sizeof dt, c->delta);
            snprintf(lab, sizeof lab, "%s, ε %s%s, η %s, δ = %s  [%s]", c->problem, strcmp(c->eps_label, "0") ? "" : "= ", c->eps_label, strcmp(c->eta_label, "inf") ? c->eta_label : "= ∞", dt,
                     bound_text(c->bound));
            fprintf(o.f, "%zu %.17g %.17g %.17g \"%s\"\n", count[panel]++, c->rate_fit, c->rate_fit_se, c->rate_theory,
                    lab);
            const double a = fmin(c->rate_fit - 2 * c->rate_fit_se, c->rate_theory);
            const double b = fmax(c->rate_fit + 2 * c->rate_fit_se, c->rate_theory);
            if (count[panel] == 1 || a < xlo[panel]) xlo[panel] = a;
            if (count[panel] == 1 || b > xhi[panel]) xhi[panel] = b;
        }
        fprintf(o.f, "\n\n");
    }
    if (ferror(o.f)) { int e = errno; cli_out_abort(&o); return cli_fail(CMD, CLI_RUNTIME, "cannot write %s: %s", dat, e ? strerror(e) : "write error"); }
    if ((rc = cli_out_commit(CMD, &o))) return rc;
    if (!count[0] && !count[1]) return CLI_OK;

    char *body = NULL;
    size_t blen = 0;
    FILE *m = open_memstream(&body, &blen);
    if (!m) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    const size_t rows = count[0] > count[1] ? count[0] : count[1];
    fprintf(m, "reset\nset encoding utf8\n");
    fprintf(m, "set multiplot title \"Fitted convergence rate of every case (dot: fit, bar: ± 2 standard errors) "
               "against the theorem's rate (cross).\\nThe bounds cap the value, not the slope: a fit slower than the "
               "theorem's rate over this horizon is no violation while the curve stays under its bound.\" font ',12'\n");
    fprintf(m, "set grid xtics lc rgb '#dddddd'\nset ytics scale 0 font ',9'\nset xtics font ',10'\n"
               "set key outside below horizontal font ',10'\nset tmargin 5\nset bmargin 6\nset lmargin 44\nset rmargin 3\n");
    static const char *const titles[] = { "bounds D1, D1_∞, D2: exponent a in  gap ≈ C · T^{a}",
                                          "bound D3: b in  log E ‖w_T − w^⋆‖^2 ≈ c + b·T" };
    static const char *const xlabels[] = { "log-log slope a (fitted over the last two decades of T)",
                                           "per-step slope b (fitted)" };
    for (int panel = 0; panel < 2; panel++) {
        fprintf(m, "set size 0.5,1\nset origin %g,0\n", panel ? 0.5 : 0.0);
        fprintf(m, "set title \"%s\" font ',11'\nset xlabel \"%s\"\n", titles[panel], xlabels[panel]);
        fprintf(m, "unset arrow\n");
        if (!count[panel]) {
            fprintf(m, "set label 1 'no fitted case' at graph 0.3,0.5\nunset ytics\nplot 1/0 notitle\nunset label 1\nset ytics\n");
            continue;
        }
        for (size_t s = 0; s < nsep[panel]; s++)
            fprintf(m, "set arrow from graph 0, first %g to graph 1, first %g nohead lc rgb '#888888' dt 3\n",
                    sep[panel][s], sep[panel][s]);
        const double pad = 0.08 * (xhi[panel] - xlo[panel] > 0 ? xhi[panel] - xlo[panel] : 1);
        fprintf(m, "set xrange [%.17g:%.17g]\nset yrange [%g:-0.5]\n", xlo[panel] - pad, xhi[panel] + pad,
                (double)count[panel] - 0.5);
        fprintf(m, "plot ");
        gp_quote(m, dat);
        fprintf(m, " index %d using 2:1:(2*$3):ytic(5) with xerrorbars lc rgb '#0072b2' pt 7 ps 0.8 lw 1.2 "
                   "title 'fitted rate ± 2 s.e.', ", panel);
        gp_quote(m, dat);
        fprintf(m, " index %d using 4:1 with points lc rgb '#d55e00' pt 2 ps 1.4 lw 2 title \"theorem's rate\"\n", panel);
    }
    fprintf(m, "unset multiplot\n");
    if (fclose(m) != 0 || !body) { free(body); return cli_fail(CMD, CLI_RUNTIME, "out of memory"); }
    if (render) {
        char err[512] = "";
        if (alig_plot_render(stem, body, 1500, (int)(230 + 17 * rows), err, sizeof err) != 0) {
            free(body);
            return cli_fail(CMD, CLI_RUNTIME, "figure %s: %s", stem, err);
        }
        snprintf(note + strlen(note), note_len - strlen(note),
                 "- `rates_fits.svg`, `rates_fits.png`: fitted vs theoretical rates (data `rates_fits.dat`)\n");
    }
    free(body);
    return CLI_OK;
}

/* ------------------------------------------------------------------ main */

int cmd_rates(int argc, char **argv)
{
    cli_flags fl = { .cmd = CMD };
    const char *names[] = { "quick", "full", "figures", "no-figures", "dry-run" };
    for (size_t i = 0; i < 5; i++) cli_flags_add(&fl, names[i], 0);
    const char *valued[] = { "out", "horizon", "seeds", "seeds-cap", "seed", "problem", "threads", "bound-scale" };
    for (size_t i = 0; i < 8; i++) cli_flags_add(&fl, valued[i], 1);
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) { help(stdout); return CLI_OK; }
    if (rc) return rc;

    alig_rates_config cf = { 0 };
    if (cli_get(&fl, "quick") && cli_get(&fl, "full"))
        return cli_fail(CMD, CLI_USAGE, "--quick and --full are exclusive");
    if (cli_get(&fl, "figures") && cli_get(&fl, "no-figures"))
        return cli_fail(CMD, CLI_USAGE, "--figures and --no-figures are exclusive");
    cf.full = cli_get(&fl, "full") != NULL;
    const char *dir = cli_get(&fl, "out") ? cli_get(&fl, "out") : "results/rates";
    if (!*dir) return cli_fail(CMD, CLI_USAGE, "--out needs a directory name");
    if (strlen(dir) > 4000) return cli_fail(CMD, CLI_USAGE, "--out: path too long");
    size_t threads = 0;
    if ((rc = cli_size_range(CMD, "horizon", cli_get(&fl, "horizon"), 10, ALIG_RATES_MAX_HORIZON, &cf.horizon))) return rc;
    if ((rc = cli_size_range(CMD, "seeds", cli_get(&fl, "seeds"), 2, ALIG_RATES_MAX_SEEDS, &cf.seeds))) return rc;
    if ((rc = cli_size_range(CMD, "seeds-cap", cli_get(&fl, "seeds-cap"), 2, ALIG_RATES_MAX_SEEDS, &cf.seeds_cap)))
        return rc;
    if ((rc = cli_ulong(CMD, "seed", cli_get(&fl, "seed"), &cf.seed))) return rc;
    if ((rc = cli_size_range(CMD, "threads", cli_get(&fl, "threads"), 1, CLI_MAX_THREADS, &threads))) return rc;
    if ((rc = cli_double(CMD, "bound-scale", cli_get(&fl, "bound-scale"), CLI_POSITIVE, &cf.bound_scale))) return rc;
    if (cli_get(&fl, "seed") && cf.seed == 0) return cli_fail(CMD, CLI_USAGE, "--seed must be >= 1");
    if (cf.seeds && cf.seeds_cap && cf.seeds_cap < cf.seeds)
        return cli_fail(CMD, CLI_USAGE, "--seeds-cap (%zu) must be >= --seeds (%zu)", cf.seeds_cap, cf.seeds);
    if (cf.seeds && !cf.seeds_cap) {
        size_t defcap = cf.full ? 640 : 96;
        cf.seeds_cap = cf.seeds > defcap ? cf.seeds : defcap;
    }
    if (cf.seeds_cap && !cf.seeds) {
        size_t defr = cf.full ? 40 : 12;
        if (cf.seeds_cap < defr) cf.seeds = cf.seeds_cap;
    }
    cf.only_problem = cli_get(&fl, "problem");
    if (cf.only_problem) {
        int known = 0;
        for (size_t i = 0; alig_problem_names[i]; i++) known |= !strcmp(alig_problem_names[i], cf.only_problem);
        if (!known) return cli_fail(CMD, CLI_USAGE, "--problem: unknown class '%s' (lipschitz, smooth, strongly-convex)",
                                    cf.only_problem);
    }
    if (cli_get(&fl, "dry-run")) {
        /* The configurations as a grid of the sweep engine (grid.h), printed as a protocol. */
        alig_grid *g = NULL;
        char err[256] = "";
        alig_status gs = alig_rates_grid(&cf, &g, err, sizeof err);
        if (gs) return cli_fail(CMD, CLI_USAGE, "%s%s%s", alig_strerror(gs), err[0] ? ": " : "", err);
        printf("# alig rates: %zu configurations (eta and eps are labels resolved per problem instance);\n"
               "# each stochastic one runs R seeds, doubled while undecided up to the cap; polyak runs once.\n",
               alig_grid_n_cells(g));
        gs = alig_grid_write_protocol(g, stdout);
        alig_grid_free(g);
        if (gs) return cli_fail(CMD, CLI_RUNTIME, "cannot write the grid: %s", alig_strerror(gs));
        return CLI_OK;
    }
    if (threads) {
#ifdef _OPENMP
        omp_set_num_threads((int)threads);
#endif
    }
    const int want_figs = cli_get(&fl, "figures") != NULL, no_figs = cli_get(&fl, "no-figures") != NULL;
    const int have_gnuplot = no_figs ? 0 : alig_plot_available();
    if (want_figs && !have_gnuplot)
        return cli_fail(CMD, CLI_RUNTIME, "--figures: gnuplot was not found on PATH (install gnuplot, or use --no-figures)");
    if ((rc = cli_mkdir_p(CMD, dir))) return rc;

    char cmdline[1024] = "alig";
    for (int i = 0; i < argc; i++) {
        size_t used = strlen(cmdline);
        snprintf(cmdline + used, sizeof cmdline - used, " %s", argv[i]);
    }

    const double t0 = cli_now();
    alig_rates_result *res = NULL;
    alig_status st = alig_rates_run(&cf, &res);
    if (st) {
        const char *pe = alig_problem_last_error();
        return cli_fail(CMD, CLI_RUNTIME, "%s%s%s", alig_strerror(st), pe[0] ? ": " : "", pe);
    }
    const double secs_run = cli_now() - t0;

    print_table(stdout, res);
    print_methods(stdout, res);

    char fig_note[4096] = "";
    rc = CLI_OK;
    if (!no_figs) {
        static const char *const cls[] = { "lipschitz", "smooth", "strongly-convex" };
        for (size_t i = 0; i < 3 && !rc; i++) {
            int present = 0;
            for (size_t k = 0; k < res->n_cases; k++) present |= !strcmp(res->cases[k].problem, cls[i]);
            if (present) rc = write_class_figure(dir, res, cls[i], have_gnuplot, fig_note, sizeof fig_note);
        }
        if (!rc) rc = write_fits_figure(dir, res, have_gnuplot, fig_note, sizeof fig_note);
    } else {
        snprintf(fig_note, sizeof fig_note, "None (--no-figures).\n");
    }
    /* the three result files appear together or not at all (a full disk leaves none of them) */
    cli_out outs[3] = { { 0 } };
    if (!rc) rc = write_csv(&outs[0], dir, res);
    if (!rc) rc = write_methods_csv(&outs[1], dir, res);
    if (!rc) rc = write_report(&outs[2], dir, res, cmdline, cli_now() - t0, fig_note);
    if (!rc) rc = cli_out_commit_all(CMD, outs, 3);
    for (size_t i = 0; i < 3; i++) cli_out_abort(&outs[i]);   /* no-op after the commit */
    if (rc) { alig_rates_free(res); return rc; }

    size_t held = 0, viol = 0, inc = 0, na = 0;
    for (size_t i = 0; i < res->n_cases; i++)
        switch (res->cases[i].verdict) {
        case ALIG_VERDICT_HELD: held++; break;
        case ALIG_VERDICT_VIOLATED: viol++; break;
        case ALIG_VERDICT_INCONCLUSIVE: inc++; break;
        default: na++; break;
        }
    printf("\n%zu held, %zu violated, %zu inconclusive, %zu n/a; %zu runs on %d thread(s) in %.1f s "
           "(experiment %.1f s); wrote %s/report.md, rates.csv, methods.csv\n",
           held, viol, inc, na, res->total_runs, res->threads, cli_now() - t0, secs_run, dir);
    alig_rates_free(res);
    if (viol || inc) {
        if (viol) fprintf(stderr, "alig rates: %zu bound(s) violated%s\n", viol, inc ? ", some inconclusive" : "");
        else fprintf(stderr, "alig rates: %zu bound(s) inconclusive after the seed cap\n", inc);
        return CLI_RUNTIME;
    }
    return CLI_OK;
}
