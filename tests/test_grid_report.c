/* test_grid_report.c - the tables and curves of a sweep (analysis/grid_report.c): the log reader,
 * the trailing moving average, mean and sample standard deviation, and the setting each rule
 * picks on a sweep directory built here by hand (config.json through the grid engine, result.json
 * with a chosen status, run/log.jsonl written line by line), with a failed cell, a missing log, a
 * final record without val_acc, an unfinished cell and a tie. Every expected number is computed by
 * hand in the comments next to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CUnit/Basic.h>

#include "alig/grid.h"
#include "alig/grid_report.h"

static char tmpdir[256];

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

#define NEAR(a, b, tol) CU_ASSERT(fabs((a) - (b)) <= (tol))

/* ---------------------------------------------------------------- moving average, mean, sd */

static void test_moving_average(void)
{
    const double x[6] = { 1, 2, 3, 4, 5, 6 };
    double out[6];
    /* k = 3: the first two points average what there is: 1, (1+2)/2, then (1+2+3)/3, (2+3+4)/3, ... */
    const double want3[6] = { 1, 1.5, 2, 3, 4, 5 };
    CU_ASSERT_EQUAL(alig_grid_moving_average(x, 6, 3, out), ALIG_SUCCESS);
    for (int t = 0; t < 6; t++) NEAR(out[t], want3[t], 1e-15);
    /* k = 1 is the identity */
    CU_ASSERT_EQUAL(alig_grid_moving_average(x, 6, 1, out), ALIG_SUCCESS);
    for (int t = 0; t < 6; t++) CU_ASSERT_EQUAL(out[t], x[t]);
    /* k longer than the series: the running mean of all points so far, (t+2)/2 */
    CU_ASSERT_EQUAL(alig_grid_moving_average(x, 6, 10, out), ALIG_SUCCESS);
    for (int t = 0; t < 6; t++) NEAR(out[t], (t + 2) / 2.0, 1e-15);
    /* a loss curve in decades: k = 2 averages neighbours, 1, (1+0.1)/2 = 0.55, (0.1+0.01)/2 = 0.055 */
    const double y[3] = { 1, 0.1, 0.01 };
    CU_ASSERT_EQUAL(alig_grid_moving_average(y, 3, 2, out), ALIG_SUCCESS);
    NEAR(out[0], 1, 1e-15);
    NEAR(out[1], 0.55, 1e-15);
    NEAR(out[2], 0.055, 1e-15);
    /* a NaN spoils exactly the windows that hold it */
    const double z[5] = { 1, NAN, 3, 4, 5 };
    CU_ASSERT_EQUAL(alig_grid_moving_average(z, 5, 2, out), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(out[0], 1);
    CU_ASSERT(isnan(out[1]) && isnan(out[2]));
    NEAR(out[3], 3.5, 1e-15);
    NEAR(out[4], 4.5, 1e-15);
    CU_ASSERT_EQUAL(alig_grid_moving_average(x, 6, 0, out), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_grid_moving_average(NULL, 6, 2, out), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_grid_moving_average(NULL, 0, 2, NULL), ALIG_SUCCESS);
}

static void test_mean_sd(void)
{
    double m, sd;
    /* 0.81, 0.79, 0.86: mean 0.82; deviations -0.01, -0.03, 0.04; squares sum 0.0026; / 2 = 0.0013 */
    const double a[3] = { 0.81, 0.79, 0.86 };
    CU_ASSERT_EQUAL(alig_grid_mean_sd(a, 3, &m, &sd), ALIG_SUCCESS);
    NEAR(m, 0.82, 1e-15);
    NEAR(sd, sqrt(0.0013), 1e-15);
    /* two values: sd = |a - b| / sqrt 2 */
    const double b[2] = { 1, 2 };
    CU_ASSERT_EQUAL(alig_grid_mean_sd(b, 2, &m, &sd), ALIG_SUCCESS);
    NEAR(m, 1.5, 1e-15);
    NEAR(sd, 1 / sqrt(2), 1e-15);
    /* one value: no spread */
    CU_ASSERT_EQUAL(alig_grid_mean_sd(a, 1, &m, &sd), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(m, 0.81);
    CU_ASSERT(isnan(sd));
    CU_ASSERT_EQUAL(alig_grid_mean_sd(a, 0, &m, &sd), ALIG_EINVAL);
}

/* ---------------------------------------------------------------- log reader */

static void test_log_read(void)
{
    char path[512], err[512];
    alig_grid_log log;
    snprintf(path, sizeof path, "%s/log.jsonl", tmpdir);
    /* three epochs, a step window between them (skipped), a string and a nested value (skipped),
     * null and absent keys (NaN), and a last line cut short (skipped) */
    put(path, "{\"epoch\":1,\"train_loss\":2.5,\"val_acc\":0.5,\"test_acc\":0.25,\"eps_max\":4,\"eps_q50\":1e-3}\n"
              "{\"step\":10,\"window_steps\":10,\"loss_mean\":2}\n"
              "\n"
              "{\"epoch\":2,\"note\":\"a \\\"quoted\\\" word\",\"nested\":{\"a\":[1,2]},\"train_loss\":1.25,"
              "\"val_acc\":null,\"test_acc\":0.5,\"flag\":true}\n"
              "{ \"epoch\" : 3 , \"train_loss\" : -0.5e-1 , \"val_acc\" : 1 , \"test_acc\" : 0.75 }\n"
              "{\"epoch\":4,\"train_lo");
    CU_ASSERT_EQUAL_FATAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(log.n, 3);
    CU_ASSERT_EQUAL(log.train_loss[0], 2.5);
    CU_ASSERT_EQUAL(log.train_loss[1], 1.25);
    CU_ASSERT_EQUAL(log.train_loss[2], -0.05);
    CU_ASSERT_EQUAL(log.val_acc[0], 0.5);
    CU_ASSERT(isnan(log.val_acc[1]));
    CU_ASSERT_EQUAL(log.val_acc[2], 1);
    CU_ASSERT_EQUAL(log.test_acc[2], 0.75);
    CU_ASSERT_EQUAL(log.eps_max[0], 4);
    CU_ASSERT_EQUAL(log.eps_q50[0], 1e-3);
    CU_ASSERT(isnan(log.eps_max[1]) && isnan(log.eps_q50[2]));
    alig_grid_log_free(&log);
    CU_ASSERT_EQUAL(log.n, 0);
    CU_ASSERT_PTR_NULL(log.train_loss);

    /* errors: each names the file, and the line where there is one */
    snprintf(path, sizeof path, "%s/missing.jsonl", tmpdir);
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing.jsonl"));
    CU_ASSERT_PTR_NULL(log.train_loss);
    snprintf(path, sizeof path, "%s/gap.jsonl", tmpdir);
    put(path, "{\"epoch\":1,\"train_loss\":1}\n{\"epoch\":3,\"train_loss\":1}\n");
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "gap.jsonl:2: epoch 3 where epoch 2 was expected"));
    snprintf(path, sizeof path, "%s/bad.jsonl", tmpdir);
    put(path, "{\"epoch\":1,\"train_loss\":1}\n{\"epoch\":2,\"train_loss\":}\n{\"epoch\":3,\"train_loss\":1}\n");
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad.jsonl:2: not a JSON object"));
    put(path, "{\"epoch\":1,\"train_loss\":1,\"x\":abc}\n{\"epoch\":2}\n");   /* a bare word is not JSON */
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad.jsonl:1:"));
    put(path, "{\"epoch\":1,\"train_loss\":1} trailing\n{\"epoch\":2}\n");
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad.jsonl:1:"));
    /* a cut last record followed only by blank lines is still the end of the file */
    put(path, "{\"epoch\":1,\"train_loss\":1}\n{\"epoch\":2,\"train_lo\n\n  \n");
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(log.n, 1);
    alig_grid_log_free(&log);
    snprintf(path, sizeof path, "%s/steps.jsonl", tmpdir);
    put(path, "{\"step\":10,\"loss_mean\":2}\n");
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no epoch record"));
    put(path, "");
    CU_ASSERT_EQUAL(alig_grid_log_read(path, &log, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_EQUAL(alig_grid_log_read(NULL, &log, err, sizeof err), ALIG_EINVAL);
}

/* ---------------------------------------------------------------- a sweep directory by hand */

/* One cell of the fake sweep: its final status and its log as (train_loss, val_acc, test_acc,
 * eps_max, eps_q50) per epoch; NAN is written as null. no_log: no log file; finished == 0: no
 * result.json. */
typedef struct fake_cell {
    const char *name;
    int finished;
    alig_grid_status status;
    size_t epochs;
    double rec[3][5];
    int no_log;
} fake_cell;

static void num(FILE *f, double v)
{
    if (isnan(v)) fputs("null", f);
    else fprintf(f, "%.17g", v);
}

static void write_cell(const alig_grid *g, const char *dir, size_t i, const fake_cell *fc)
{
    char path[1024], err[256], name[ALIG_GRID_MAX_NAME];
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_name(g, i, name, sizeof name), ALIG_SUCCESS);
    CU_ASSERT_STRING_EQUAL_FATAL(name, fc->name);
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_prepare(g, dir, i, path, sizeof path, err, sizeof err), ALIG_SUCCESS);
    if (!fc->no_log) {
        char p2[1200];
        snprintf(p2, sizeof p2, "%s/run", path);
        CU_ASSERT_EQUAL_FATAL(mkdir(p2, 0755), 0);
        snprintf(p2, sizeof p2, "%s/run/log.jsonl", path);
        FILE *f = fopen(p2, "wb");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        static const char *const keys[5] = { "train_loss", "val_acc", "test_acc", "eps_max", "eps_q50" };
        for (size_t e = 0; e < fc->epochs; e++) {
            fprintf(f, "{\"epoch\":%zu", e + 1);
            for (int k = 0; k < 5; k++) {
                fprintf(f, ",\"%s\":", keys[k]);
                num(f, fc->rec[e][k]);
            }
            fprintf(f, ",\"steps\":%zu}\n", 10 * (e + 1));
        }
        fclose(f);
    }
    if (fc->finished) {
        alig_grid_result r = { .done = 1, .status = fc->status, .steps = NAN, .obj_first = 1, .obj_last = 0.5,
                               .obj_best = 0.5, .metric_last = NAN, .metric_best = NAN, .wall_s = 1 };
        if (fc->status != ALIG_GRID_OK) snprintf(r.note, sizeof r.note, "made to fail by the test");
        CU_ASSERT_EQUAL_FATAL(alig_grid_cell_store(g, dir, i, &r), ALIG_SUCCESS);
    }
}

#define OK(n) 1, ALIG_GRID_OK, n
/* the first record of the 2-epoch cells: train_loss 1, val_acc and test_acc 0.1, no ε report */
#define E1 { 1, 0.1, 0.1, NAN, NAN }

static void test_pick(void)
{
    char err[512], dir[512];
    snprintf(dir, sizeof dir, "%s/sweep", tmpdir);
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
    alig_grid *g;
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "train --model mlp-8 --epochs 2", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "t.a", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, 0, "lr", "0.01,0.1,1", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "t.b", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, 1, "eta", "0.1,1", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "c", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "d", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, 3, "lr", "1,2", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_seeds(g, "0-2", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(alig_grid_validate(g, err, sizeof err), ALIG_SUCCESS);
    /* 3 x 3 + 2 x 3 + 1 x 3 + 2 x 3 cells */
    CU_ASSERT_EQUAL_FATAL(alig_grid_n_cells(g), 24);
    const fake_cell cells[24] = {
        /* t.a, lr = 0.01: final val 0.70, 0.72, 0.74 (mean 0.72); final train_loss 0.1 each (mean 0.1,
         * the smallest of t.a); epochs 1..3 losses (1, 2, 3), (0.5, 0.5, 0.8), 0.1: curve 2, 0.6, 0.1 */
        { "t.a__lr=0.01__s0", OK(3), { { 1, 0.1, 0.1, NAN, NAN }, { 0.5, 0.1, 0.1, NAN, NAN }, { 0.1, 0.70, 0.60, NAN, NAN } }, 0 },
        { "t.a__lr=0.01__s1", OK(3), { { 2, 0.1, 0.1, NAN, NAN }, { 0.5, 0.1, 0.1, NAN, NAN }, { 0.1, 0.72, 0.62, NAN, NAN } }, 0 },
        { "t.a__lr=0.01__s2", OK(3), { { 3, 0.1, 0.1, NAN, NAN }, { 0.8, 0.1, 0.1, NAN, NAN }, { 0.1, 0.74, 0.64, NAN, NAN } }, 0 },
        /* lr = 0.1: val 0.80, 0.82, 0.84 (mean 0.82, the largest usable); test 0.81, 0.79, 0.86
         * (mean 0.82, sd sqrt(0.0013)); eps_max 1, 2, 3 (mean 2), eps_q50 0.1, 0.2, 0.6 (mean 0.3);
         * train_loss 0.2, 0.3, 0.4 (mean 0.3) */
        { "t.a__lr=0.1__s0", OK(2), { E1, { 0.2, 0.80, 0.81, 1, 0.1 } }, 0 },
        { "t.a__lr=0.1__s1", OK(2), { E1, { 0.3, 0.82, 0.79, 2, 0.2 } }, 0 },
        { "t.a__lr=0.1__s2", OK(2), { E1, { 0.4, 0.84, 0.86, 3, 0.6 } }, 0 },
        /* lr = 1: the best validation accuracy (0.95) and the smallest loss (0.01), but seed 1
         * diverged: the setting is excluded (failed) */
        { "t.a__lr=1__s0", OK(2), { E1, { 0.01, 0.95, 0.95, NAN, NAN } }, 0 },
        { "t.a__lr=1__s1", 1, ALIG_GRID_DIVERGED, 2, { E1, { 0.01, 0.95, 0.95, NAN, NAN } }, 0 },
        { "t.a__lr=1__s2", OK(2), { E1, { 0.01, 0.95, 0.95, NAN, NAN } }, 0 },
        /* t.b: both settings have final val 0.9 on every seed: a tie, the first (eta = 0.1) wins;
         * its test 0.5 each (sd 0); eps on seeds 0 and 1 only (max 4 and 6: mean 5; q50 1 and 2: 1.5) */
        { "t.b__eta=0.1__s0", OK(2), { E1, { 0.5, 0.9, 0.5, 4, 1 } }, 0 },
        { "t.b__eta=0.1__s1", OK(2), { E1, { 0.5, 0.9, 0.5, 6, 2 } }, 0 },
        { "t.b__eta=0.1__s2", OK(2), { E1, { 0.5, 0.9, 0.5, NAN, 3 } }, 0 },
        { "t.b__eta=1__s0", OK(2), { E1, { 0.5, 0.9, 0.7, NAN, NAN } }, 0 },
        { "t.b__eta=1__s1", OK(2), { E1, { 0.5, 0.9, 0.7, NAN, NAN } }, 0 },
        { "t.b__eta=1__s2", OK(2), { E1, { 0.5, 0.9, 0.7, NAN, NAN } }, 0 },
        /* c: one setting, seed 2 not finished (no result.json): unfinished, nothing chosen */
        { "c__s0", OK(2), { E1, { 0.5, 0.9, 0.5, NAN, NAN } }, 0 },
        { "c__s1", OK(2), { E1, { 0.5, 0.9, 0.5, NAN, NAN } }, 0 },
        { "c__s2", 0, ALIG_GRID_OK, 2, { E1, { 0.5, 0.9, 0.5, NAN, NAN } }, 0 },
        /* d, lr = 1: seed 1's log is missing (its result says ok); lr = 2: no val_acc in the final
         * record of seed 0 (the loss rule can still use it: final losses 0.3 each) */
        { "d__lr=1__s0", OK(2), { E1, { 0.3, 0.9, 0.5, NAN, NAN } }, 0 },
        { "d__lr=1__s1", OK(2), { E1, { 0.3, 0.9, 0.5, NAN, NAN } }, 1 },
        { "d__lr=1__s2", OK(2), { E1, { 0.3, 0.9, 0.5, NAN, NAN } }, 0 },
        { "d__lr=2__s0", OK(2), { E1, { 0.3, NAN, 0.5, NAN, NAN } }, 0 },
        { "d__lr=2__s1", OK(2), { E1, { 0.3, 0.9, 0.5, NAN, NAN } }, 0 },
        { "d__lr=2__s2", OK(2), { E1, { 0.3, 0.9, 0.5, NAN, NAN } }, 0 },
    };
    for (size_t i = 0; i < 24; i++) write_cell(g, dir, i, &cells[i]);

    alig_grid_pick p[4];
    /* ---- the table rule: the largest mean final val_acc among usable settings */
    CU_ASSERT_EQUAL_FATAL(alig_grid_pick_settings(g, dir, ALIG_GRID_RULE_VAL_ACC, p, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(p[0].n_settings, 3);
    CU_ASSERT_EQUAL(p[0].n_failed, 1);
    CU_ASSERT_EQUAL(p[0].n_unfinished, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p[0].note, "cell t.a__lr=1__s1: diverged: made to fail by the test"));
    CU_ASSERT_EQUAL(p[0].chosen, 1);
    CU_ASSERT_EQUAL(p[0].setting, 1);
    CU_ASSERT_EQUAL(p[0].first_cell, 3);
    CU_ASSERT_EQUAL(p[0].n_seeds, 3);
    NEAR(p[0].score, 0.82, 1e-15);
    NEAR(p[0].val_mean, 0.82, 1e-15);
    NEAR(p[0].test_mean, 0.82, 1e-15);
    NEAR(p[0].test_sd, sqrt(0.0013), 1e-15);
    NEAR(p[0].loss_mean, 0.3, 1e-15);
    CU_ASSERT_EQUAL(p[0].n_eps, 3);
    NEAR(p[0].eps_max_mean, 2, 1e-15);
    NEAR(p[0].eps_q50_mean, 0.3, 1e-15);
    CU_ASSERT_EQUAL_FATAL(p[0].n_epochs, 2);
    NEAR(p[0].curve[0], 1, 1e-15);
    NEAR(p[0].curve[1], 0.3, 1e-15);

    CU_ASSERT_EQUAL(p[1].chosen, 1);
    CU_ASSERT_EQUAL(p[1].setting, 0);      /* the tie goes to the first */
    CU_ASSERT_EQUAL(p[1].first_cell, 9);
    CU_ASSERT_EQUAL(p[1].n_failed + p[1].n_unfinished, 0);
    CU_ASSERT_STRING_EQUAL(p[1].note, "");
    CU_ASSERT_EQUAL(p[1].test_mean, 0.5);
    CU_ASSERT_EQUAL(p[1].test_sd, 0);
    CU_ASSERT_EQUAL(p[1].n_eps, 2);
    NEAR(p[1].eps_max_mean, 5, 1e-15);
    NEAR(p[1].eps_q50_mean, 1.5, 1e-15);

    CU_ASSERT_EQUAL(p[2].chosen, 0);
    CU_ASSERT_EQUAL(p[2].n_settings, 1);
    CU_ASSERT_EQUAL(p[2].n_unfinished, 1);
    CU_ASSERT_EQUAL(p[2].n_failed, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(p[2].note, "cell c__s2: not finished"));
    CU_ASSERT_PTR_NULL(p[2].curve);

    CU_ASSERT_EQUAL(p[3].chosen, 0);
    CU_ASSERT_EQUAL(p[3].n_failed, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(p[3].note, "cell d__lr=1__s1: run/log.jsonl: "));
    alig_grid_picks_free(p, 4);
    CU_ASSERT_PTR_NULL(p[0].curve);

    /* ---- the curves rule: the smallest mean final train_loss among usable settings */
    CU_ASSERT_EQUAL_FATAL(alig_grid_pick_settings(g, dir, ALIG_GRID_RULE_TRAIN_LOSS, p, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(p[0].chosen, 1);
    CU_ASSERT_EQUAL(p[0].setting, 0);      /* 0.1 < 0.3; lr = 1 (0.01) is excluded */
    NEAR(p[0].score, 0.1, 1e-15);
    CU_ASSERT_EQUAL_FATAL(p[0].n_epochs, 3);
    NEAR(p[0].curve[0], 2, 1e-15);
    NEAR(p[0].curve[1], 0.6, 1e-15);
    NEAR(p[0].curve[2], 0.1, 1e-15);
    NEAR(p[0].val_mean, 0.72, 1e-15);
    NEAR(p[0].test_mean, 0.62, 1e-15);
    CU_ASSERT_EQUAL(p[0].n_eps, 0);
    CU_ASSERT(isnan(p[0].eps_max_mean));
    CU_ASSERT_EQUAL(p[1].setting, 0);      /* equal losses: the first */
    CU_ASSERT_EQUAL(p[3].chosen, 1);       /* lr = 2 lacks a val_acc only, which this rule does not need */
    CU_ASSERT_EQUAL(p[3].setting, 1);
    CU_ASSERT_EQUAL(p[3].n_failed, 1);
    CU_ASSERT(isnan(p[3].val_mean));
    NEAR(p[3].loss_mean, 0.3, 1e-15);
    alig_grid_picks_free(p, 4);

    /* a setting's cells are recognised through config.json: a changed command line unfinishes them */
    char path[1024];
    snprintf(path, sizeof path, "%s/cells/t.a__lr=0.1__s0/config.json", dir);
    put(path, "{}\n");
    CU_ASSERT_EQUAL_FATAL(alig_grid_pick_settings(g, dir, ALIG_GRID_RULE_VAL_ACC, p, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(p[0].setting, 0);      /* lr = 0.1 now unfinished: lr = 0.01 (0.72) is the only usable one */
    CU_ASSERT_EQUAL(p[0].n_unfinished, 1);
    CU_ASSERT_EQUAL(p[0].n_failed, 1);
    NEAR(p[0].test_mean, 0.62, 1e-15);
    NEAR(p[0].test_sd, 0.02, 1e-15);      /* 0.60, 0.62, 0.64: deviations +-0.02, 0; sqrt(0.0008 / 2) */
    alig_grid_picks_free(p, 4);

    CU_ASSERT_EQUAL(alig_grid_pick_settings(g, dir, (alig_grid_rule)7, p, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_grid_pick_settings(NULL, dir, ALIG_GRID_RULE_VAL_ACC, p, err, sizeof err), ALIG_EINVAL);
    alig_grid_free(g);

    /* a solve grid has no epochs: refused with a message */
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "solve --problem smooth", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(alig_grid_validate(g, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_pick_settings(g, dir, ALIG_GRID_RULE_VAL_ACC, p, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "solve grid"));
    alig_grid_free(g);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/alig_grid_report.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("grid_report", NULL, NULL);
    if (!s || !CU_add_test(s, "trailing moving average", test_moving_average) ||
        !CU_add_test(s, "mean and sample standard deviation", test_mean_sd) ||
        !CU_add_test(s, "log.jsonl reader", test_log_read) ||
        !CU_add_test(s, "settings picked by each rule on a hand-made sweep", test_pick)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return failed ? 1 : 0;
}
