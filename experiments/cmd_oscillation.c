/* cmd_oscillation.c - `alig oscillation`: the non-convex example
 * (docs/oscillation.md). Polyak / ALI-G∞ cycles between ±8.05 on the stand-in function; ALI-G
 * converges for every tested η below the proven threshold 2/L = 10; a fine η grid refined by
 * bisection finds the smallest η at which it fails from the same start.
 *
 * Everything numerical comes from the library (alig/oscillation.h); this file chooses the runs,
 * writes the CSV/JSON files and draws the figures with gnuplot (plot.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alig/alig.h"
#include "alig/oscillation.h"
#include "cli.h"
#include "cli_util.h"
#include "plot.h"

#define CMD "oscillation"

/* ALI-G runs drawn next to Polyak: three below 2/L, one just past the measured threshold
 * (a 2-cycle on the tails) and η = 500 (the orbit {8.05, -1.95}, docs/oscillation.md §4). */
static const double traj_etas[] = { 1.0, 5.0, 9.99, 245.0, 500.0 };
#define N_TRAJ (sizeof traj_etas / sizeof traj_etas[0])

typedef struct osc_opts {
    alig_osc_config cfg;
    alig_osc_scan_spec scan;
    const char *out;
    int json, plot, quiet;
} osc_opts;

static void help(FILE *f)
{
    fprintf(f,
            "usage: alig oscillation [options]\n"
            "\n"
            "The non-convex 1-D example (docs/oscillation.md): f is even, C^1, 0.2-smooth, f* = 0.\n"
            "Runs Polyak / ALI-G-inf (eta = inf, delta = 0; also the polyak solver with f* = 0) and\n"
            "detects its cycle; runs ALI-G on an eta grid below the proven threshold 2/L = 10; scans\n"
            "the grid upward from 10 to the first eta where ALI-G fails to converge and bisects inside\n"
            "that grid cell. Writes CSV files, summary.json and figures (gnuplot, SVG and PNG) to --out.\n"
            "\n"
            "options:\n"
            "  --x0 X           start point [%g]\n"
            "  --delta D        ALI-G's delta >= 0 for the eta runs (Polyak always uses 0) [0]\n"
            "  --iters N        steps per run (an undecided run is extended by N) [3000]\n"
            "  --max-iters N    cap on the steps of an undecided run [100000]\n"
            "  --eta-step H     grid spacing below and above 2/L [0.01]\n"
            "  --eta-max E      the upward scan and the figure sweep stop at E (>= 10) [1000]\n"
            "  --refine-levels K  passes of a 100x finer grid below the first failure [2]\n"
            "  --bisect-tol T   width of the final bisection bracket [1e-9]\n"
            "  --out DIR        output directory (created) [results/oscillation]\n"
            "  --json           print the summary as JSON on stdout\n"
            "  --no-plot        write the data files only (no gnuplot)\n"
            "  --quiet          print nothing on success\n"
            "  -h, --help       this text\n",
            ALIG_OSC_X0);
}

/* ------------------------------------------------------------------ small helpers */

/* "<dir>/<name>" into buf; CLI_RUNTIME if too long. */
static int join(char *buf, size_t len, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
        return cli_fail(CMD, CLI_RUNTIME, "output path too long: '%s/%s'", dir, name);
    return CLI_OK;
}

static int lib_fail(const char *what, alig_status st)
{
    return cli_fail(CMD, CLI_RUNTIME, "%s: %s", what, alig_strerror(st));
}

/* ------------------------------------------------------------------ probes kept for the files */

enum { PHASE_SWEEP = 4, PHASE_ZOOM = 5 };
static const char *const phase_names[] = { "below", "above", "refine", "bisect", "sweep", "zoom" };

/* The zoom on the first failures: [threshold - ZOOM_BELOW, threshold + ZOOM_ABOVE] in ZOOM_N steps. */
#define ZOOM_BELOW 0.05
#define ZOOM_ABOVE 0.45
#define ZOOM_N 1000

typedef struct probe_row {
    double eta;
    int phase;
    alig_osc_verdict v;
} probe_row;

typedef struct probe_log {
    probe_row *rows;
    size_t n, cap;
    int oom;
} probe_log;

static int log_push(probe_log *lg, double eta, int phase, const alig_osc_verdict *v)
{
    if (lg->n == lg->cap) {
        size_t cap = lg->cap ? 2 * lg->cap : 1024;
        probe_row *r = realloc(lg->rows, cap * sizeof *r);
        if (!r) {
            lg->oom = 1;
            return 1;
        }
        lg->rows = r;
        lg->cap = cap;
    }
    lg->rows[lg->n++] = (probe_row){ .eta = eta, .phase = phase, .v = *v };
    return 0;
}

static int scan_observer(double eta, alig_osc_phase phase, const alig_osc_verdict *v, void *ctx)
{
    return log_push(ctx, eta, (int)phase, v);   /* non-zero cancels the scan on out of memory */
}

/* The figure's η sweep: 40 log-spaced points per decade from 0.1 to 2/L, then every integer
 * from 2/L to eta_max (docs/oscillation.md §4 states the windows on integers). */
static int sweep(const osc_opts *o, probe_log *lg)
{
    const double theory = ALIG_OSC_ETA_THEORY;
    for (int k = 0;; k++) {
        double eta = 0.1 * pow(10.0, k / 40.0);
        if (eta >= theory) break;
        alig_osc_verdict v;
        alig_status st = alig_osc_probe(&o->cfg, eta, &v);
        if (st) return lib_fail("eta sweep", st);
        if (log_push(lg, eta, PHASE_SWEEP, &v)) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    for (double eta = theory; eta <= o->scan.eta_max; eta += 1.0) {
        alig_osc_verdict v;
        alig_status st = alig_osc_probe(&o->cfg, eta, &v);
        if (st) return lib_fail("eta sweep", st);
        if (log_push(lg, eta, PHASE_SWEEP, &v)) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    return CLI_OK;
}

/* A fine sweep around the measured threshold: the failure windows interleave with convergence. */
static int zoom(const osc_opts *o, double thr, probe_log *lg)
{
    const double lo = thr - ZOOM_BELOW, h = (ZOOM_BELOW + ZOOM_ABOVE) / ZOOM_N;
    for (int k = 0; k <= ZOOM_N; k++) {
        double eta = lo + k * h;
        if (!(eta > 0.0)) continue;
        alig_osc_verdict v;
        alig_status st = alig_osc_probe(&o->cfg, eta, &v);
        if (st) return lib_fail("eta zoom", st);
        if (log_push(lg, eta, PHASE_ZOOM, &v)) return cli_fail(CMD, CLI_RUNTIME, "out of memory");
    }
    return CLI_OK;
}

/* ------------------------------------------------------------------ data files */

static int write_function_csv(cli_out *o, const char *dir)
{
    char path[4096];
    int rc = join(path, sizeof path, dir, "function.csv");
    if (rc || (rc = cli_out_open(CMD, o, path))) return rc;
    fputs("x,f,grad,curvature\n", o->f);
    for (int i = -1000; i <= 1000; i++) {
        double x = i * 0.01;
        cli_csv_num(o->f, x);
        fputc(',', o->f);
        cli_csv_num(o->f, alig_osc_f(x));
        fputc(',', o->f);
        cli_csv_num(o->f, alig_osc_grad(x));
        fputc(',', o->f);
        cli_csv_num(o->f, alig_osc_curvature(x));
        fputc('\n', o->f);
    }
    return CLI_OK;   /* committed with the others by cmd_oscillation */
}

/* Columns: t, then x and f of: polyak (solver "polyak"), alig_inf (alig, eta = inf, delta = 0),
 * then alig at each traj_etas[] (delta = --delta). */
static int write_trajectories_csv(cli_out *o, const char *dir, size_t iters, double *const xs[], double *const fs[], size_t nrun)
{
    char path[4096];
    int rc = join(path, sizeof path, dir, "trajectories.csv");
    if (rc || (rc = cli_out_open(CMD, o, path))) return rc;
    fputs("t,x_polyak,f_polyak,x_alig_inf,f_alig_inf", o->f);
    for (size_t j = 0; j < N_TRAJ; j++) fprintf(o->f, ",x_eta_%g,f_eta_%g", traj_etas[j], traj_etas[j]);
    fputc('\n', o->f);
    for (size_t t = 0; t <= iters; t++) {
        fprintf(o->f, "%zu", t);
        for (size_t r = 0; r < nrun; r++) {
            fputc(',', o->f);
            cli_csv_num(o->f, xs[r][t]);
            fputc(',', o->f);
            cli_csv_num(o->f, fs[r][t]);
        }
        fputc('\n', o->f);
    }
    return CLI_OK;   /* committed with the others by cmd_oscillation */
}

/* One row per probe: eta, phase, outcome, period, lo, hi (orbit extent; the last iterate when
 * not cycled), since, x_last, f_last. */
static int write_probes_csv(cli_out *o, const char *dir, const char *name, const probe_log *lg, int want_sweep)
{
    char path[4096];
    int rc = join(path, sizeof path, dir, name);
    if (rc || (rc = cli_out_open(CMD, o, path))) return rc;
    fputs("eta,phase,outcome,period,lo,hi,since,x_last,f_last\n", o->f);
    for (size_t i = 0; i < lg->n; i++) {
        const probe_row *r = &lg->rows[i];
        if ((r->phase >= PHASE_SWEEP) != want_sweep) continue;
        int cyc = r->v.outcome == ALIG_OSC_CYCLED;
        cli_csv_num(o->f, r->eta);
        fprintf(o->f, ",%s,%s,%zu,", phase_names[r->phase], alig_osc_outcome_name(r->v.outcome), r->v.period);
        cli_csv_num(o->f, cyc ? r->v.points[0] : r->v.x_last);
        fputc(',', o->f);
        cli_csv_num(o->f, cyc ? r->v.points[r->v.period - 1] : r->v.x_last);
        fprintf(o->f, ",%zu,", r->v.since);
        cli_csv_num(o->f, r->v.x_last);
        fputc(',', o->f);
        cli_csv_num(o->f, r->v.f_last);
        fputc('\n', o->f);
    }
    return CLI_OK;   /* committed with the others by cmd_oscillation */
}

/* The limit set per sweep η: each cycle point, or the minimiser 0 for a converged run, or the
 * last iterate otherwise. */
static int write_orbits_csv(cli_out *o, const char *dir, const char *name, const probe_log *lg, int phase)
{
    char path[4096];
    int rc = join(path, sizeof path, dir, name);
    if (rc || (rc = cli_out_open(CMD, o, path))) return rc;
    fputs("eta,x,outcome\n", o->f);
    for (size_t i = 0; i < lg->n; i++) {
        const probe_row *r = &lg->rows[i];
        if (r->phase != phase) continue;
        size_t np = r->v.outcome == ALIG_OSC_CYCLED ? r->v.period : 1;
        for (size_t j = 0; j < np; j++) {
            double x = r->v.outcome == ALIG_OSC_CYCLED ? r->v.points[j]
                       : r->v.outcome == ALIG_OSC_CONVERGED ? 0.0 : r->v.x_last;
            cli_csv_num(o->f, r->eta);
            fputc(',', o->f);
            cli_csv_num(o->f, x);
            fprintf(o->f, ",%s\n", alig_osc_outcome_name(r->v.outcome));
        }
    }
    return CLI_OK;   /* committed with the others by cmd_oscillation */
}

/* ------------------------------------------------------------------ summary */

typedef struct osc_summary {
    alig_osc_verdict polyak, alig_inf;
    int polyak_cycles, polyak_agree;
    alig_osc_scan_result scan;
    size_t sweep_probes;
    double seconds;
} osc_summary;

static void write_json(FILE *f, const osc_opts *o, const osc_summary *s)
{
    cli_json j;
    cli_json_begin(&j, f);
    cli_json_bool(&j, "polyak_cycles", s->polyak_cycles);
    cli_json_uint(&j, "polyak_period", s->alig_inf.period);
    cli_json_num(&j, "polyak_cycle_lo", s->alig_inf.outcome == ALIG_OSC_CYCLED ? s->alig_inf.points[0] : NAN);
    cli_json_num(&j, "polyak_cycle_hi",
                 s->alig_inf.outcome == ALIG_OSC_CYCLED ? s->alig_inf.points[s->alig_inf.period - 1] : NAN);
    cli_json_bool(&j, "polyak_solver_agrees", s->polyak_agree);
    cli_json_bool(&j, "converged_below_theory", s->scan.converged_below_theory);
    cli_json_uint(&j, "n_below_tested", s->scan.n_below);
    cli_json_num(&j, "threshold_theory", s->scan.threshold_theory);
    cli_json_num(&j, "threshold_measured", s->scan.threshold_measured);
    cli_json_num(&j, "threshold_converged", s->scan.threshold_converged);
    cli_json_num(&j, "grid_step", o->scan.eta_step);
    cli_json_num(&j, "grid_last_converged", s->scan.grid_last_converged);
    cli_json_num(&j, "grid_first_failed", s->scan.grid_first_failed);
    cli_json_num(&j, "fine_step", s->scan.fine_step);
    cli_json_num(&j, "fine_last_converged", s->scan.fine_last_converged);
    cli_json_num(&j, "fine_first_failed", s->scan.fine_first_failed);
    const alig_osc_verdict *t = &s->scan.at_threshold;
    int cyc = s->scan.found_failure && t->outcome == ALIG_OSC_CYCLED;
    cli_json_str(&j, "outcome_at_threshold", s->scan.found_failure ? alig_osc_outcome_name(t->outcome) : NULL);
    cli_json_uint(&j, "period_at_threshold", cyc ? t->period : 0);
    cli_json_num(&j, "cycle_lo_at_threshold", cyc ? t->points[0] : NAN);
    cli_json_num(&j, "cycle_hi_at_threshold", cyc ? t->points[t->period - 1] : NAN);
    cli_json_num(&j, "x0", o->cfg.x0);
    cli_json_num(&j, "delta", o->cfg.delta);
    cli_json_uint(&j, "iters", o->cfg.iters);
    cli_json_num(&j, "eta_max", o->scan.eta_max);
    cli_json_uint(&j, "probes", s->scan.n_probes + s->sweep_probes);
    cli_json_num(&j, "seconds", s->seconds);
    cli_json_str(&j, "out", o->out);
    cli_json_bool(&j, "figures", o->plot);
    cli_json_end(&j);
}

static int write_summary_json(const osc_opts *o, const osc_summary *s)
{
    char path[4096];
    cli_out out;
    int rc = join(path, sizeof path, o->out, "summary.json");
    if (rc || (rc = cli_out_open(CMD, &out, path))) return rc;
    write_json(out.f, o, s);
    return cli_out_commit(CMD, &out);
}

static void print_text(FILE *f, const osc_opts *o, const osc_summary *s)
{
    fprintf(f, "non-convex example (docs/oscillation.md): L = %g, x0 = %g, delta = %g, %zu steps per run\n",
            ALIG_OSC_SMOOTHNESS, o->cfg.x0, o->cfg.delta, o->cfg.iters);
    if (s->alig_inf.outcome == ALIG_OSC_CYCLED)
        fprintf(f, "  Polyak / ALI-G-inf: cycled, period %zu, between %.10g and %.10g (polyak solver %s)\n",
                s->alig_inf.period, s->alig_inf.points[0], s->alig_inf.points[s->alig_inf.period - 1],
                s->polyak_agree ? "takes the same steps" : "DIFFERS");
    else
        fprintf(f, "  Polyak / ALI-G-inf: %s\n", alig_osc_outcome_name(s->alig_inf.outcome));
    const alig_osc_scan_result *r = &s->scan;
    if (r->converged_below_theory)
        fprintf(f, "  ALI-G below 2/L = %g: converged at all %zu tested eta (grid %g)\n", r->threshold_theory,
                r->n_below, o->scan.eta_step);
    else
        fprintf(f, "  ALI-G below 2/L = %g: FAILED at eta = %g\n", r->threshold_theory, r->first_failure_below);
    if (!r->found_failure) {
        fprintf(f, "  no failure on the grid up to eta = %g\n", o->scan.eta_max);
    } else {
        fprintf(f, "  first failing grid point: eta = %.10g (last converging: %.10g)\n", r->grid_first_failed,
                r->grid_last_converged);
        if (r->fine_step < o->scan.eta_step)
            fprintf(f, "  refined (step %g): first failure at eta = %.12g (last converging: %.12g)\n", r->fine_step,
                    r->fine_first_failed, r->fine_last_converged);
        fprintf(f, "  measured threshold: eta = %.15g (converges at %.15g); there: %s", r->threshold_measured,
                r->threshold_converged, alig_osc_outcome_name(r->at_threshold.outcome));
        if (r->at_threshold.outcome == ALIG_OSC_CYCLED)
            fprintf(f, ", period %zu, between %.6g and %.6g", r->at_threshold.period, r->at_threshold.points[0],
                    r->at_threshold.points[r->at_threshold.period - 1]);
        fputc('\n', f);
    }
    fprintf(f, "  %zu runs in %.2f s; files in %s/\n", r->n_probes + s->sweep_probes, s->seconds, o->out);
}

/* ------------------------------------------------------------------ figures */

static int figure(const char *dir, const char *name, const char *body, int w, int h)
{
    char stem[4096], err[600];
    int rc = join(stem, sizeof stem, dir, name);
    if (rc) return rc;
    if (alig_plot_render(stem, body, w, h, err, sizeof err) != 0) return cli_fail(CMD, CLI_RUNTIME, "%s", err);
    return CLI_OK;
}

/* Quoted gnuplot file names of the data files. */
typedef struct gp_files {
    char fn[4200], traj[4200], orbits[4200], sweep[4200], zoom[4200];
} gp_files;

static int gp_file(char *q, size_t len, const char *dir, const char *name)
{
    char path[4096];
    int rc = join(path, sizeof path, dir, name);
    if (rc) return rc;
    if (alig_plot_quote(q, len, path) != 0) return cli_fail(CMD, CLI_RUNTIME, "output path too long: '%s'", path);
    return CLI_OK;
}

/* A growing text buffer for a gnuplot body (open_memstream: no fixed sizes to overflow). */
typedef struct gp_text {
    FILE *f;
    char *text;
    size_t len;
} gp_text;

static void gp_free(gp_text *g)
{
    if (g->f) fclose(g->f);
    free(g->text);
    *g = (gp_text){ 0 };
}

/* (Re)open g for writing; previous text is freed. */
static int gp_open(gp_text *g)
{
    gp_free(g);
    g->f = open_memstream(&g->text, &g->len);
    return g->f ? CLI_OK : cli_fail(CMD, CLI_RUNTIME, "out of memory");
}

/* Finish writing; g->text is then a NUL-terminated string. */
static int gp_close(gp_text *g)
{
    int bad = fclose(g->f) != 0 || !g->text;
    g->f = NULL;
    return bad ? cli_fail(CMD, CLI_RUNTIME, "out of memory") : CLI_OK;
}

static int draw(const osc_opts *o, const osc_summary *s)
{
    static gp_files q;
    int rc;
    if ((rc = gp_file(q.fn, sizeof q.fn, o->out, "function.csv")) ||
        (rc = gp_file(q.traj, sizeof q.traj, o->out, "trajectories.csv")) ||
        (rc = gp_file(q.orbits, sizeof q.orbits, o->out, "eta_orbits.csv")) ||
        (rc = gp_file(q.sweep, sizeof q.sweep, o->out, "eta_sweep.csv")) ||
        (rc = gp_file(q.zoom, sizeof q.zoom, o->out, "eta_zoom.csv")))
        return rc;
    gp_text m = { 0 }, lo = { 0 }, hi = { 0 }, lf = { 0 }, in = { 0 }, zm = { 0 }, th = { 0 };
    const double x0 = o->cfg.x0;
    const double p_hi = s->alig_inf.outcome == ALIG_OSC_CYCLED ? s->alig_inf.points[s->alig_inf.period - 1] : x0;

    /* 1. the function and the Polyak tangents */
    if ((rc = gp_open(&m))) goto done;
    fprintf(m.f,
             "reset\nset encoding utf8\nset datafile separator ','\nset key top center box opaque\n"
             "set title \"Stand-in non-convex function: Polyak cycles between two symmetric points\"\n"
             "set xlabel 'x'\nset ylabel 'f(x)'\nset grid lc rgb '#dddddd'\nset xrange [-10:10]\nset yrange [-0.02:0.42]\n"
             "set arrow 1 from -1.9,graph 0 to -1.9,graph 1 nohead dt 3 lc rgb '#999999'\n"
             "set arrow 2 from 1.9,graph 0 to 1.9,graph 1 nohead dt 3 lc rgb '#999999'\n"
             "set arrow 3 from -1,graph 0 to -1,graph 1 nohead dt 3 lc rgb '#bbbbbb'\n"
             "set arrow 4 from 1,graph 0 to 1,graph 1 nohead dt 3 lc rgb '#bbbbbb'\n"
             "set label 1 'quadratic' at 0,0.3 center tc rgb '#777777'\n"
             "set label 2 'linear tail' at 6,0.06 center tc rgb '#777777'\n"
             "set label 3 'linear tail' at -6,0.06 center tc rgb '#777777'\n"
             "a = %.17g\nfa = %.17g\nga = %.17g\n"
             "set samples 2\n"
             "plot %s using 1:2 with lines lw 2.5 lc rgb '#1f77b4' title 'f (0.2-smooth, f^* = 0)', \\\n"
             "  [-a:a] fa + ga*(x - a) with lines dt 2 lw 1.5 lc rgb '#d62728' title 'tangent at +x_0 (zero at -x_0)', \\\n"
             "  [-a:a] fa - ga*(x + a) with lines dt 2 lw 1.5 lc rgb '#ff7f0e' title 'tangent at -x_0 (zero at +x_0)', \\\n"
             "  '-' using 1:2 with points pt 7 ps 1.4 lc rgb '#d62728' title sprintf('Polyak 2-cycle ±%%g', a), \\\n"
             "  '-' using 1:2 with points pt 6 ps 1.4 lw 1.5 lc rgb '#555555' title \"x - f(x)/f'(x): the Polyak step lands here\"\n"
             "%.17g,%.17g\n%.17g,%.17g\ne\n%.17g,0\n%.17g,0\ne\n",
             p_hi, alig_osc_f(p_hi), alig_osc_grad(p_hi), q.fn, -p_hi, alig_osc_f(p_hi), p_hi, alig_osc_f(p_hi),
             -p_hi, p_hi);
    if ((rc = gp_close(&m)) || (rc = figure(o->out, "oscillation_function", m.text, 860, 480))) goto done;

    /* 2. trajectories: (a) Polyak and the eta > 2/L runs over the first steps, (b) the eta < 2/L
     * runs until they converge, (c) f(x_t) of every run on a log scale */
    static const char *const colors[] = { "#2ca02c", "#17becf", "#1f77b4", "#9467bd", "#ff7f0e" };
    if ((rc = gp_open(&lo)) || (rc = gp_open(&hi)) || (rc = gp_open(&lf)) || (rc = gp_open(&in))) goto done;
    for (size_t j = 0; j < N_TRAJ; j++) {
        int col = 6 + 2 * (int)j;   /* t, polyak x f, alig_inf x f, then an (x, f) pair per eta */
        const int cyc = traj_etas[j] >= ALIG_OSC_ETA_THEORY;   /* cycles (η > 2/L) */
        gp_text *dst = cyc ? &hi : &lo;
        fprintf(dst->f, "%s%s using 1:%d with linespoints pt 7 ps 0.5 lw 1.6 lc rgb '%s' title 'ALI-G, η = %g'",
                ftell(dst->f) > 0 ? ", \\\n  " : "", q.traj, col, colors[j], traj_etas[j]);
        /* on the log scale of the bottom panel the cycling runs sit on Polyak's f level: each gets a dash
         * pattern, the legend says they cycle, and an inset (linear scale) separates them */
        const int dash = cyc ? (j == N_TRAJ - 1 ? 3 : 2) : 1;
        fprintf(lf.f, ", \\\n  %s using 1:($%d > 0 ? $%d : 1/0) with lines lw %s dt %d lc rgb '%s' title 'ALI-G, η = %g%s'",
                q.traj, col + 1, col + 1, cyc ? "2.2" : "1.8", dash, colors[j], traj_etas[j], cyc ? " (cycles)" : "");
        if (cyc)
            fprintf(in.f, ", \\\n  %s using 1:%d with linespoints pt %d ps 0.6 lw 1.5 dt %d lc rgb '%s' notitle",
                    q.traj, col + 1, j == N_TRAJ - 1 ? 5 : 9, dash, colors[j]);
    }
    long n_hi = ftell(hi.f);
    if ((rc = gp_close(&lo)) || (rc = gp_close(&hi)) || (rc = gp_close(&lf)) || (rc = gp_close(&in)) ||
        (rc = gp_open(&m)))
        goto done;
    fprintf(m.f,
             "reset\nset encoding utf8\nset datafile separator ','\nset multiplot\n"
             "set grid lc rgb '#dddddd'\nset lmargin 10\nset rmargin 3\n"
             "set size 0.5,0.52\nset origin 0,0.48\n"
             "set title 'Polyak (= ALI-G∞) and ALI-G with η > 2/L, from x_0 = %g'\n"
             "set xlabel 'step t'\nset ylabel 'x_t'\nset xrange [0:16]\nset yrange [-9:9]\nset ytics -8,2,8\n"
             "set key outside below center horizontal maxrows 1 font ',10'\n"
             "plot %s using 1:2 with linespoints pt 7 ps 0.7 lw 2.5 lc rgb '#d62728' title 'Polyak, f^* = 0'%s%s\n"
             "set origin 0.5,0.48\n"
             "set title 'ALI-G with η < 2/L = 10 (the proven range)'\n"
             "set xrange [0:350]\nset yrange [-0.5:9]\nset ytics autofreq\nset key inside top right vertical maxrows auto box opaque font ',10'\n"
             "plot %s\n"
             "set size 1,0.48\nset origin 0,0\n"
             "set title 'Objective along every run: the cycles never descend; η < 2/L converges'\n"
             "set logscale y\nset format y '10^{%%T}'\nset xrange [0:400]\nset yrange [1e-30:10]\nset ylabel 'f(x_t)'\n"
             "set key outside right top vertical maxrows auto nobox font ',10'\nset rmargin 22\n"
             "plot %s using 1:($3 > 0 ? $3 : 1/0) with lines lw 3 lc rgb '#d62728' title 'Polyak (cycles)'%s\n"
             "set size 0.3,0.24\nset origin 0.38,0.085\nclear\nunset logscale y\nset format y '%%.2f'\nunset key\n"
             "set title 'zoom: the cycling runs, f(x_t) for t ≤ 12' font ',9'\nunset xlabel\nunset ylabel\n"
             "set xrange [0:12]\nset yrange [0.17:0.34]\nset ytics 0.05 font ',8'\nset xtics 2 font ',8'\nset rmargin 1\nset lmargin 6\n"
             "set object 1 rect from graph 0,0 to graph 1,1 behind fc rgb 'white' fs solid noborder\n"
             "plot %s using 1:3 with linespoints pt 7 ps 0.7 lw 3 lc rgb '#d62728' notitle%s\n"
             "unset object 1\nunset multiplot\n",
             x0, q.traj, n_hi > 0 ? ", \\\n  " : "", hi.text, lo.text, q.traj, lf.text, q.traj, in.text);
    if ((rc = gp_close(&m)) || (rc = figure(o->out, "oscillation_trajectories", m.text, 1100, 800))) goto done;

    /* 3. outcome across eta: limit set (top), steps to converge (middle), zoom on the first
     * failures (bottom, when a failure was found) */
    const alig_osc_scan_result *r = &s->scan;
    if ((rc = gp_open(&th)) || (rc = gp_open(&zm))) goto done;
    if (r->found_failure) {
        fprintf(th.f,
                 "set arrow 2 from %.17g,graph 0 to %.17g,graph 1 nohead dt 2 lw 1.5 lc rgb '#d62728'\n"
                 "set label 2 sprintf('measured: %%.4f', %.17g) at %.17g,graph 0.93 right offset -0.5,0 tc rgb '#d62728'\n",
                 r->threshold_measured, r->threshold_measured, r->threshold_measured, r->threshold_measured);
        fprintf(zm.f,
                 "set title sprintf('Zoom past the measured threshold %%.6f: failure windows interleave with convergence', %.17g)\n"
                 "unset logscale\nunset arrow 1\nunset label 1\nset xrange [%.17g:%.17g]\nset yrange [-3.5:3.5]\nset format y '%%g'\n"
                 "set label 2 'measured' at %.17g,graph 0.6 left offset 0.5,0 tc rgb '#d62728'\n"
                 "set ylabel 'limit set'\nset xtics auto\nset key center right\n"
                 "plot %s using 1:(strcol(3) eq 'converged' ? $2 : 1/0) with points pt 7 ps 0.45 lc rgb '#2ca02c' title 'converged', \\\n"
                 "  %s using 1:(strcol(3) eq 'cycled' ? $2 : 1/0) with points pt 7 ps 0.45 lc rgb '#d62728' title 'cycled', \\\n"
                 "  %s using 1:(strcol(3) ne 'converged' && strcol(3) ne 'cycled' ? $2 : 1/0) with points pt 6 ps 0.6 lc rgb '#7f7f7f' title 'undecided / diverged'\n",
                 r->threshold_measured, r->threshold_measured - ZOOM_BELOW, r->threshold_measured + ZOOM_ABOVE,
                 r->threshold_measured, q.zoom, q.zoom, q.zoom);
    }
    if ((rc = gp_close(&th)) || (rc = gp_close(&zm)) || (rc = gp_open(&m))) goto done;
    fprintf(m.f,
             "reset\nset encoding utf8\nset datafile separator ','\nset multiplot layout %d,1\n"
             "set grid lc rgb '#dddddd'\nset key bottom left box opaque font ',10'\nset lmargin 12\nset rmargin 4\n"
             "set logscale x\nset xrange [0.1:%.17g]\n"
             "set arrow 1 from %.17g,graph 0 to %.17g,graph 1 nohead dt 2 lw 1.5 lc rgb '#2ca02c'\n"
             "set label 1 'proven: 2/L = %g' at %.17g,graph 0.7 left offset 0.5,0 tc rgb '#2ca02c'\n%s"
             "set title \"ALI-G from x_0 = %g, δ = %g: where the iterates end, per maximal learning rate η\"\n"
             "set xlabel 'η'\nset ylabel 'limit set (cycle points, or x^* = 0)'\nset yrange [-9:9]\n"
             "plot %s using 1:(strcol(3) eq 'converged' ? $2 : 1/0) with points pt 7 ps 0.5 lc rgb '#2ca02c' title 'converged', \\\n"
             "  %s using 1:(strcol(3) eq 'cycled' ? $2 : 1/0) with points pt 7 ps 0.5 lc rgb '#d62728' title 'cycled (orbit points)', \\\n"
             "  %s using 1:(strcol(3) ne 'converged' && strcol(3) ne 'cycled' ? $2 : 1/0) with points pt 6 ps 0.6 lc rgb '#7f7f7f' title 'undecided / diverged'\n"
             "set title 'Steps until |x_t| ≤ %g (converged runs)'\n"
             "set ylabel 'steps'\nset logscale y\nset yrange [*:*]\nunset label 1\nunset label 2\nset key top right\n"
             "plot %s using 1:(strcol(3) eq 'converged' ? $7 : 1/0) with points pt 7 ps 0.5 lc rgb '#2ca02c' title 'converged'\n"
             "%s"
             "unset multiplot\n",
             r->found_failure ? 3 : 2, o->scan.eta_max, r->threshold_theory, r->threshold_theory, r->threshold_theory,
             r->threshold_theory, th.text, x0, o->cfg.delta, q.orbits, q.orbits, q.orbits, o->cfg.detect.x_tol, q.sweep,
             zm.text);
    if ((rc = gp_close(&m))) goto done;
    rc = figure(o->out, "oscillation_eta", m.text, 980, r->found_failure ? 1080 : 760);
done:
    gp_free(&m);
    gp_free(&lo);
    gp_free(&hi);
    gp_free(&lf);
    gp_free(&in);
    gp_free(&zm);
    gp_free(&th);
    return rc;
}

/* ------------------------------------------------------------------ the command */

static int parse(int argc, char **argv, osc_opts *o)
{
    cli_flags fl = { .cmd = CMD };
    static const char *const valued[] = { "x0",      "delta",         "iters",      "max-iters",
                                          "eta-step", "eta-max",      "refine-levels", "bisect-tol", "out" };
    for (size_t i = 0; i < sizeof valued / sizeof valued[0]; i++) cli_flags_add(&fl, valued[i], 1);
    cli_flags_add(&fl, "json", 0);
    cli_flags_add(&fl, "no-plot", 0);
    cli_flags_add(&fl, "quiet", 0);
    int rc = cli_flags_parse(&fl, argc, argv);
    if (rc == CLI_HELP) {
        help(stdout);
        return CLI_HELP;
    }
    if (rc) return rc;
    *o = (osc_opts){ .cfg = ALIG_OSC_CONFIG_DEFAULT, .scan = ALIG_OSC_SCAN_DEFAULT, .out = "results/oscillation",
                     .plot = 1 };
    if ((rc = cli_double(CMD, "x0", cli_get(&fl, "x0"), CLI_FINITE, &o->cfg.x0)) ||
        (rc = cli_double(CMD, "delta", cli_get(&fl, "delta"), CLI_NONNEG, &o->cfg.delta)) ||
        (rc = cli_size_range(CMD, "iters", cli_get(&fl, "iters"), 1, ALIG_OSC_MAX_ITERS, &o->cfg.iters)) ||
        (rc = cli_size_range(CMD, "max-iters", cli_get(&fl, "max-iters"), 1, ALIG_OSC_MAX_ITERS, &o->cfg.max_iters)) ||
        (rc = cli_double(CMD, "eta-step", cli_get(&fl, "eta-step"), CLI_POSITIVE, &o->scan.eta_step)) ||
        (rc = cli_double(CMD, "eta-max", cli_get(&fl, "eta-max"), CLI_POSITIVE, &o->scan.eta_max)) ||
        (rc = cli_double(CMD, "bisect-tol", cli_get(&fl, "bisect-tol"), CLI_POSITIVE, &o->scan.bisect_tol)))
        return rc;
    size_t levels = o->scan.refine_levels;
    if ((rc = cli_size(CMD, "refine-levels", cli_get(&fl, "refine-levels"), 0, &levels))) return rc;
    if (levels > 4)
        return cli_fail(CMD, CLI_USAGE, "--refine-levels: '%s' is more than 4", cli_get(&fl, "refine-levels"));
    o->scan.refine_levels = (unsigned)levels;
    if (o->scan.eta_max < ALIG_OSC_ETA_THEORY)
        return cli_fail(CMD, CLI_USAGE, "--eta-max: '%s' is below the proven threshold 2/L = %g",
                        cli_get(&fl, "eta-max"), ALIG_OSC_ETA_THEORY);
    if (o->scan.eta_step > ALIG_OSC_ETA_THEORY)
        return cli_fail(CMD, CLI_USAGE, "--eta-step: '%s' leaves no grid point below 2/L = %g",
                        cli_get(&fl, "eta-step"), ALIG_OSC_ETA_THEORY);
    if (o->cfg.iters < o->cfg.detect.window + ALIG_OSC_PERIOD_MAX)
        return cli_fail(CMD, CLI_USAGE, "--iters: '%s' is too short to detect a cycle (need >= %zu)",
                        cli_get(&fl, "iters"), o->cfg.detect.window + (size_t)ALIG_OSC_PERIOD_MAX);
    if (cli_get(&fl, "out")) o->out = cli_get(&fl, "out");
    o->json = cli_get(&fl, "json") != NULL;
    o->plot = cli_get(&fl, "no-plot") == NULL;
    o->quiet = cli_get(&fl, "quiet") != NULL;
    return CLI_OK;
}

int cmd_oscillation(int argc, char **argv)
{
    osc_opts o;
    int rc = parse(argc, argv, &o);
    if (rc == CLI_HELP) return CLI_OK;
    if (rc) return rc;
    if (o.plot && !alig_plot_available())
        return cli_fail(CMD, CLI_RUNTIME, "gnuplot not found on PATH (install gnuplot-nox, or pass --no-plot)");
    if ((rc = cli_mkdir_p(CMD, o.out))) return rc;

    double t0 = cli_now();
    osc_summary s = { 0 };
    probe_log lg = { 0 };
    const size_t nrun = 2 + N_TRAJ, T = o.cfg.iters;   /* T <= ALIG_OSC_MAX_ITERS: (T + 1) * 8 cannot wrap */
    double *xs[2 + N_TRAJ] = { 0 }, *fs[2 + N_TRAJ] = { 0 };
    enum { N_CSV = 6 };
    cli_out csv[N_CSV] = { { 0 } };
    for (size_t r = 0; r < nrun; r++) {
        xs[r] = malloc((T + 1) * sizeof *xs[r]);
        fs[r] = malloc((T + 1) * sizeof *fs[r]);
        if (!xs[r] || !fs[r]) {
            rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
            goto done;
        }
    }

    /* Polyak: the polyak solver (f* = 0) and ALI-G-inf (eta = inf, delta = 0), each classified. */
    alig_params_polyak pp = ALIG_PARAMS_POLYAK_DEFAULT;
    alig_params_alig pa = ALIG_PARAMS_ALIG_DEFAULT;
    pa.eta = INFINITY;
    pa.delta = 0.0;
    alig_status st;
    alig_osc_verdict vp;
    if ((st = alig_osc_trajectory(alig_solver_polyak, &pp, o.cfg.x0, T, xs[0], fs[0], NULL, NULL)) ||
        (st = alig_osc_trajectory(alig_solver_alig, &pa, o.cfg.x0, T, xs[1], fs[1], NULL, NULL)) ||
        (st = alig_osc_classify(xs[0], fs[0], T + 1, &o.cfg.detect, &vp)) ||
        (st = alig_osc_classify(xs[1], fs[1], T + 1, &o.cfg.detect, &s.alig_inf))) {
        rc = lib_fail("Polyak run", st);
        goto done;
    }
    s.polyak = vp;
    s.polyak_cycles = vp.outcome == ALIG_OSC_CYCLED && s.alig_inf.outcome == ALIG_OSC_CYCLED;
    s.polyak_agree = 1;
    for (size_t t = 0; t <= T; t++)
        if (!(fabs(xs[0][t] - xs[1][t]) <= 1e-12 * (1.0 + fabs(xs[1][t])))) s.polyak_agree = 0;

    /* ALI-G at the drawn eta values (delta = --delta). */
    for (size_t j = 0; j < N_TRAJ; j++) {
        alig_params_alig p = pa;
        p.eta = traj_etas[j];
        p.delta = o.cfg.delta;
        if ((st = alig_osc_trajectory(alig_solver_alig, &p, o.cfg.x0, T, xs[2 + j], fs[2 + j], NULL, NULL))) {
            rc = lib_fail("ALI-G run", st);
            goto done;
        }
    }

    /* The scan (theorem check, first failure, bisection), then the figure's sweep. */
    if ((st = alig_osc_scan(&o.cfg, &o.scan, scan_observer, &lg, &s.scan))) {
        rc = lib_fail("eta scan", st);
        goto done;
    }
    if (lg.oom) {
        rc = cli_fail(CMD, CLI_RUNTIME, "out of memory");
        goto done;
    }
    size_t before = lg.n;
    if ((rc = sweep(&o, &lg))) goto done;
    if (s.scan.found_failure && (rc = zoom(&o, s.scan.threshold_measured, &lg))) goto done;
    s.sweep_probes = lg.n - before;

    /* the six CSV files appear together or not at all (a full disk leaves none of them) */
    if ((rc = write_function_csv(&csv[0], o.out)) || (rc = write_trajectories_csv(&csv[1], o.out, T, xs, fs, nrun)) ||
        (rc = write_probes_csv(&csv[2], o.out, "eta_scan.csv", &lg, 0)) ||
        (rc = write_probes_csv(&csv[3], o.out, "eta_sweep.csv", &lg, 1)) ||
        (rc = write_orbits_csv(&csv[4], o.out, "eta_orbits.csv", &lg, PHASE_SWEEP)) ||
        (rc = write_orbits_csv(&csv[5], o.out, "eta_zoom.csv", &lg, PHASE_ZOOM)) ||
        (rc = cli_out_commit_all(CMD, csv, N_CSV)))
        goto done;
    if (o.plot && (rc = draw(&o, &s))) goto done;
    s.seconds = cli_now() - t0;
    if ((rc = write_summary_json(&o, &s))) goto done;
    if (o.json) write_json(stdout, &o, &s);
    else if (!o.quiet) print_text(stdout, &o, &s);
    if (fflush(stdout) != 0) rc = cli_fail(CMD, CLI_RUNTIME, "cannot write to stdout");
done:
    for (size_t i = 0; i < N_CSV; i++) cli_out_abort(&csv[i]);   /* no-op after the commit */
    for (size_t r = 0; r < nrun; r++) {
        free(xs[r]);
        free(fs[r]);
    }
    free(lg.rows);
    return rc;
}
