/**
 * @file grid_report.h
 * @brief Post-processing of a finished `train` sweep (include/alig/grid.h): per method, the setting
 *        chosen by a selection rule, its test accuracy over the seeds (the tables of Berrada,
 *        Zisserman & Kumar, ICML 2020: Tables 1 and 3), and its training curve smoothed by a trailing
 *        moving average (their Figure 4).
 *
 * Words used below. A **setting** of a method is one combination of the values of its axes (common
 * axes and its own), every seed included: with seeds {0, 1, 2}, each setting has three cells. In the
 * grid's cell order the seed varies fastest, so setting s of method m is the n_seeds consecutive
 * cells starting at the method's first cell + s · n_seeds; settings are numbered in that order.
 *
 * A setting is **usable** when every one of its cells is finished (alig_grid_cell_finished), its
 * status is `ok`, its run/log.jsonl reads (alig_grid_log_read), and the values the rule needs are
 * finite in the log's final epoch record (the rule's score; for the accuracy rule also test_acc).
 * Any other setting is excluded: `failed` when some cell ended non-ok or has an unreadable log or a
 * missing value, `unfinished` when none of that holds but some cell has no result yet.
 *
 * The **rules** (each setting's score is the mean over its seeds of one value of the final epoch
 * record; ties go to the setting that comes first in grid order):
 *   - ALIG_GRID_RULE_VAL_ACC: the largest mean final val_acc (the paper's rule for its tables:
 *     hyper-parameters chosen on the validation split);
 *   - ALIG_GRID_RULE_TRAIN_LOSS: the smallest mean final train_loss (its rule for Figure 4: the
 *     learning rate giving the lowest final training objective).
 *
 * The library never prints; the CLI (`alig sweep --table DIR`, `alig sweep --curves DIR`,
 * experiments/cmd_sweep.c) writes the tables and draws the figure. Every function is reentrant.
 *
 * @code
 *   alig_grid *g; char err[256];
 *   alig_grid_parse_file("runs/c10/sweep.protocol", &g, err, sizeof err);
 *   alig_grid_pick *p = calloc(g->n_methods, sizeof *p);
 *   if (alig_grid_pick_settings(g, "runs/c10", ALIG_GRID_RULE_VAL_ACC, p, err, sizeof err) == ALIG_SUCCESS)
 *       for (size_t m = 0; m < g->n_methods; m++)
 *           if (p[m].chosen) printf("%s %.4f +- %.4f\n", g->methods[m].name, p[m].test_mean, p[m].test_sd);
 *   alig_grid_picks_free(p, g->n_methods);
 *   free(p);
 *   alig_grid_free(g);
 * @endcode
 */
#ifndef ALIG_GRID_REPORT_H
#define ALIG_GRID_REPORT_H

#include <stddef.h>

#include "alig/grid.h"
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The epoch records of one `alig train` run's log.jsonl: the columns the reports use. */
typedef struct alig_grid_log {
    size_t n;                 /**< epoch records: lines with an "epoch" key, which run 1, 2, ..., n */
    double *train_loss;       /**< n values each; NAN where the key is absent or null */
    double *val_acc;
    double *test_acc;
    double *eps_max;          /**< the ε report (`alig train --eps-report on`); NAN without it */
    double *eps_q50;
} alig_grid_log;

/**
 * Read the epoch records of a log.jsonl. A record is a line holding one flat JSON object with an
 * "epoch" key; lines without it (the step windows of a `--steps` run) are skipped. Epochs must run
 * 1, 2, 3, ... in file order; blank lines are skipped. A malformed line is an error, except the
 * last non-blank line of the file (a record cut short by a crash), which is skipped.
 * @param log receives the records (free with alig_grid_log_free; zeroed on failure).
 * @param err receives one message on failure, "PATH: ..." or "PATH:LINE: ..." (may be NULL).
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL argument), ALIG_EIO (cannot open or read), ALIG_EFORMAT
 *         (malformed line, epochs out of order, no epoch record), ALIG_ENOMEM.
 */
alig_status alig_grid_log_read(const char *path, alig_grid_log *log, char *err, size_t errlen);

/** Free the arrays of a log and zero it. NULL-safe. */
void alig_grid_log_free(alig_grid_log *log);

/**
 * Trailing moving average over k points: out[t] = mean of x[max(0, t−k+1)], ..., x[t]. The first
 * k−1 points average the t+1 points there are so far (out[0] = x[0]); a NaN in the window gives a
 * NaN. Each mean is summed in double from its own window (no running sum, so no drift).
 * @param out n values; must not overlap x. @param k window, >= 1.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL pointer with n > 0, or k == 0).
 */
alig_status alig_grid_moving_average(const double *x, size_t n, size_t k, double *out);

/** Mean and sample standard deviation (denominator n − 1) of n values, in two passes.
 *  @param sd NAN when n < 2. @return ALIG_SUCCESS, ALIG_EINVAL (n == 0 or NULL pointer). */
alig_status alig_grid_mean_sd(const double *x, size_t n, double *mean, double *sd);

/** The selection rules (see the file comment). */
typedef enum alig_grid_rule {
    ALIG_GRID_RULE_VAL_ACC = 0,     /**< largest mean final val_acc (Tables 1 and 3) */
    ALIG_GRID_RULE_TRAIN_LOSS = 1   /**< smallest mean final train_loss (Figure 4) */
} alig_grid_rule;

/** The setting picked for one method, and what it gives. */
typedef struct alig_grid_pick {
    size_t method;            /**< index into g->methods */
    size_t n_settings;        /**< settings of the method */
    size_t n_failed;          /**< settings excluded because some cell is not ok or its log lacks a value */
    size_t n_unfinished;      /**< settings excluded because some cell has no result yet (and none failed) */
    char note[256];           /**< why the first excluded setting was excluded ("" when none was) */
    int chosen;               /**< 1 when some setting is usable; the fields below are then set */
    size_t setting;           /**< the chosen setting's number within the method (0-based, grid order) */
    size_t first_cell;        /**< its first cell (seed index 0): its axis values name the setting */
    size_t n_seeds;           /**< its cells (the grid's seeds; 1 without seeds) */
    double score;             /**< the rule's score: mean final val_acc, or mean final train_loss */
    double val_mean;          /**< final val_acc, mean over the seeds (NAN when some seed has none) */
    double test_mean, test_sd;/**< final test_acc over the seeds: mean, sample sd (NAN when n_seeds < 2) */
    double loss_mean;         /**< final train_loss, mean over the seeds */
    size_t n_eps;             /**< seeds whose final record has finite eps_max and eps_q50 */
    double eps_max_mean;      /**< final eps_max, mean over those n_eps seeds (NAN when n_eps == 0) */
    double eps_q50_mean;      /**< final eps_q50, likewise */
    size_t n_epochs;          /**< epochs of the curve: the fewest records among the seeds */
    double *curve;            /**< n_epochs values (malloc'd): epoch e+1's train_loss, mean over the seeds */
} alig_grid_pick;

/**
 * For every method of a `train` grid, pick the setting the rule prefers among the usable ones of
 * sweep directory `dir` (DIR/cells/NAME/{config.json, result.json, run/log.jsonl}).
 * @param picks g->n_methods entries, filled in method order; free their curves with alig_grid_picks_free
 *              (also after a failure).
 * @param err   receives one message on failure (may be NULL).
 * @return ALIG_SUCCESS (also when no setting of some method is usable: chosen = 0, note says why),
 *         ALIG_EINVAL (NULL argument, a grid not validated, a `solve` grid, an unknown rule), ALIG_ENOMEM,
 *         or the status of alig_grid_log_read when a chosen setting's log changed between its two reads
 *         (it is read once to score the settings and again for the chosen one's statistics).
 */
alig_status alig_grid_pick_settings(const alig_grid *g, const char *dir, alig_grid_rule rule, alig_grid_pick *picks,
                                    char *err, size_t errlen);

/** Free the curves of n picks and set them to NULL. NULL-safe. */
void alig_grid_picks_free(alig_grid_pick *picks, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_GRID_REPORT_H */
