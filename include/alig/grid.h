/**
 * @file grid.h
 * @brief The grid engine behind `alig sweep`: a grid of runs (base command × axes × seeds), cell
 *        enumeration and naming, a protocol-file parser, per-cell configuration and results, the
 *        resume bookkeeping and the summary table.
 *
 * A grid is a base command (`solve ...` or `train ...`, the arguments of one `alig` run), a list
 * of methods (sub-grids: each adds fixed arguments and its own axes, e.g. ALI-G's η grid beside
 * SGD's learning-rate grid, as in Figure 3 of Berrada, Zisserman & Kumar, ICML 2020), axes common
 * to every method, and seeds. An axis is a flag of the base command and a list of values: the cell
 * runs `alig BASE METHOD-ARGS --AXIS VALUE ... --SEED-FLAG S --out OUT`.
 *
 * Cells are numbered in a fixed order: methods in the order given; inside a method the axes
 * (common ones first, then the method's, each in the order given) vary like the digits of a
 * number, the last axis fastest; the seed varies fastest of all. Cell i's name is built from the
 * method, every axis with more than one value and the seed ("alig__eta=0.1__s2"), so it is
 * stable when a grid is reordered or extended. A grid without seeds passes no seed flag (each run
 * keeps its own default) and its names carry no seed ("run" when nothing else names the cell).
 *
 * Directory layout of a sweep in DIR: DIR/sweep.protocol (the grid, canonical protocol text),
 * DIR/summary.csv, DIR/cells/NAME/{config.json, run.csv | run/, stdout.txt, stderr.txt,
 * result.json}. A cell is finished when result.json exists and config.json equals the text
 * alig_grid_cell_config() gives now; any other cell is (re)run from scratch.
 *
 * Status of a finished cell (alig_grid_classify): `failed` when the run exited non-zero for
 * another reason than a non-finite value, was killed by a signal or left no readable results;
 * `non-finite` when it stopped on a NaN or infinity (its message says so) or its final objective
 * is not finite; `diverged` when its final objective exceeds diverge_factor × its first recorded
 * objective (first > 0); `ok` otherwise.
 *
 * The library never prints, never exits and never starts processes: the CLI (experiments/
 * cmd_sweep.c) runs the cells. Every function is reentrant; a grid is not modified after
 * alig_grid_validate() succeeds, so it may be read from several threads.
 *
 * @code
 *   alig_grid *g; char err[256];
 *   alig_grid_parse_file("experiments/protocols/convex-lr.sweep", &g, err, sizeof err);
 *   for (size_t i = 0; i < alig_grid_n_cells(g); i++) { char name[256]; alig_grid_cell_name(g, i, name, 256); }
 *   alig_grid_free(g);
 * @endcode
 */
#ifndef ALIG_GRID_H
#define ALIG_GRID_H

#include <stddef.h>
#include <stdio.h>

#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Limits (names and values are short words; a cell name stays well below NAME_MAX). */
#define ALIG_GRID_MAX_TOKEN 128      /**< longest axis/method name or value, in bytes */
#define ALIG_GRID_MAX_NAME 240       /**< longest cell name, in bytes, with its terminating NUL */
#define ALIG_GRID_MAX_VALUES 4096    /**< most values of one axis */
#define ALIG_GRID_MAX_CELLS 100000   /**< most cells of one grid */
#define ALIG_GRID_MAX_AXES 64        /**< most axes of one cell (common + method) */
#define ALIG_GRID_MAX_FILE ((size_t)16 << 20) /**< largest protocol file, in bytes (16 MiB) */

/** One axis: a flag of the base command and its values, kept as text (the child parses them). */
typedef struct alig_grid_axis {
    char *name;          /**< flag name without dashes, e.g. "lr" */
    size_t n;            /**< number of values, >= 1 */
    char **values;       /**< the values in order, e.g. "0.001", "inf" */
} alig_grid_axis;

/** One method (sub-grid): a name, fixed arguments and its own axes. */
typedef struct alig_grid_method {
    char *name;          /**< "" for the implicit method of a grid without methods */
    size_t n_args;
    char **args;         /**< fixed arguments appended after the base, e.g. {"--solver","alig"} */
    size_t n_axes;
    alig_grid_axis *axes;
} alig_grid_method;

/** The kind of run a cell is, from the base command's first word. */
typedef enum alig_grid_kind {
    ALIG_GRID_SOLVE = 0, /**< `alig solve`: --out run.csv, a per-iteration CSV */
    ALIG_GRID_TRAIN = 1  /**< `alig train`: --out run, a directory with log.jsonl */
} alig_grid_kind;

/** A grid. Build with alig_grid_alloc + setters, or alig_grid_parse_*; fields are read-only. */
typedef struct alig_grid {
    alig_grid_kind kind;
    size_t n_base;
    char **base;              /**< base command tokens; base[0] is "solve" or "train" */
    size_t n_common;
    alig_grid_axis *common;   /**< axes shared by every method */
    size_t n_methods;
    alig_grid_method *methods;
    size_t n_seeds;
    unsigned long *seeds;     /**< none by default: the run's own default seed, no --SEED_FLAG passed */
    char *seed_flag;          /**< flag that carries the seed, default "seed" */
    size_t n_rate;
    char **rate;              /**< axes drawn as the learning rate in figures, default lr, eta, alpha */
    double diverge_factor;    /**< `diverged` threshold factor, default 1e3 */
    int validated;
    size_t threads;           /**< OMP_NUM_THREADS of every cell (protocol key threads_per_cell), default 1;
                                   part of a cell's identity: config.json records it when it is not 1 */
} alig_grid;

/** Where one cell sits in its grid. */
typedef struct alig_grid_cell {
    size_t index;             /**< 0 <= index < alig_grid_n_cells */
    size_t method;            /**< index into methods */
    size_t seed;              /**< index into seeds */
    size_t n_axes;            /**< n_common + methods[method].n_axes */
    size_t value[ALIG_GRID_MAX_AXES]; /**< value index of each axis, common axes first */
} alig_grid_cell;

/** Status of a finished cell (see the file comment). */
typedef enum alig_grid_status {
    ALIG_GRID_OK = 0,
    ALIG_GRID_DIVERGED,
    ALIG_GRID_NONFINITE,
    ALIG_GRID_FAILED
} alig_grid_status;

/** @return "ok", "diverged", "non-finite", "failed" (never NULL; "?" when out of range). */
const char *alig_grid_status_name(alig_grid_status s);

/** Result of one finished cell (one row of summary.csv, minus the axes). */
typedef struct alig_grid_result {
    int done;                 /**< 1 when this result is known (the cell finished) */
    alig_grid_status status;
    int exit_code;            /**< the run's exit status; 128 + N when killed by signal N */
    double steps;             /**< steps (solve: last iteration; train: the `steps` key); NAN if unknown */
    double obj_first;         /**< first recorded objective (solve: f_gap of row 0) */
    double obj_last;          /**< final objective (solve: f_gap; train: the last record's loss) */
    double obj_best;          /**< smallest finite objective recorded */
    char metric[32];          /**< the metric's source key ("avg_gap", "val_acc"), "" when none */
    double metric_last, metric_best;
    double wall_s;            /**< wall-clock seconds of the run */
    char note[160];           /**< first line of the run's stderr on failure, or a reader message */
} alig_grid_result;

/* ------------------------------------------------------------------ building */

/** Allocate an empty grid with the defaults. @param out receives it; free with alig_grid_free.
 *  @return ALIG_SUCCESS, ALIG_EINVAL (out NULL), ALIG_ENOMEM. */
alig_status alig_grid_alloc(alig_grid **out);

/** Free a grid and everything it owns. NULL-safe. */
void alig_grid_free(alig_grid *g);

/**
 * Set the base command from whitespace-separated text ("solve --problem smooth --iters 100").
 * Its first word must be `solve` or `train`; it must not contain --out or --resume.
 * @param err receives one message on failure (may be NULL). @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM.
 */
alig_status alig_grid_set_base(alig_grid *g, const char *text, char *err, size_t errlen);

/** Start a new method named `name` ([A-Za-z0-9._+-], unique). Axes added with method -1 stay common.
 *  @return ALIG_SUCCESS, ALIG_EINVAL (bad or repeated name; message in err), ALIG_ENOMEM. */
alig_status alig_grid_add_method(alig_grid *g, const char *name, char *err, size_t errlen);

/** Set the fixed arguments of method `m` from whitespace-separated text ("--solver alig").
 *  @return ALIG_SUCCESS, ALIG_EINVAL (no such method, --out/--resume given), ALIG_ENOMEM. */
alig_status alig_grid_set_args(alig_grid *g, size_t m, const char *text, char *err, size_t errlen);

/**
 * Parse an axis specification and add it to method `m`, or to the common axes when m == (size_t)-1.
 * Values: a comma-separated list whose items are plain values or ranges LO:HI:log:N (N values
 * LO·(HI/LO)^(i/(N−1)), i = 0..N−1, LO, HI > 0) or LO:HI:lin:N (LO + i(HI−LO)/(N−1)), each generated
 * value written with 6 significant digits ("%.6g"); "lo:hi:log:1" is LO alone.
 * @param name flag name ([a-z0-9][a-z0-9-]*), unique in the method and the common axes.
 * @return ALIG_SUCCESS, ALIG_EINVAL (bad name, empty or repeated value, bad range; message in err),
 *         ALIG_ENOMEM.
 */
alig_status alig_grid_add_axis(alig_grid *g, size_t m, const char *name, const char *values, char *err,
                               size_t errlen);

/** Set the seeds from a comma-separated list of distinct decimal integers, or LO-HI (inclusive).
 *  @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM. */
alig_status alig_grid_set_seeds(alig_grid *g, const char *text, char *err, size_t errlen);

/** Set the figure rate axes from a comma-separated list of axis names. @return as above. */
alig_status alig_grid_set_rate(alig_grid *g, const char *text, char *err, size_t errlen);

/**
 * Check the whole grid: a base is set; at least one method (an implicit "" method is added when
 * none was); no axis repeats a flag of the base or of its method's arguments; the seed flag is not
 * an axis; cell names are distinct; the cell count is at most ALIG_GRID_MAX_CELLS.
 * @return ALIG_SUCCESS or ALIG_EINVAL (message in err).
 */
alig_status alig_grid_validate(alig_grid *g, char *err, size_t errlen);

/* ------------------------------------------------------------------ protocol files */

/** Options of alig_grid_parse_text_ex / alig_grid_parse_file_ex. */
typedef struct alig_grid_parse_opts {
    const char *scale;               /**< the scale to build ([scale NAME] sections); NULL for a protocol
                                          without a `scales` key (one with scales requires a choice) */
    size_t n_vars;                   /**< variables substituted for ${NAME} in every value */
    const char *const *var_names;
    const char *const *var_values;
    int allow_unset;                 /**< 1: an unset ${NAME} stays as written (dry runs, estimates);
                                          0: it is an error naming the file and line */
    size_t threads;                  /**< > 0: overrides the protocol's threads_per_cell */
} alig_grid_parse_opts;

/**
 * Parse a protocol (format in docs/sweep.md): `key = value` lines, `#` comments, sections
 * `[common]`, `[method NAME]`, `[scale S]`, `[scale S: common]` and `[scale S: method NAME]`.
 * Top level: base (required, at the top or in [scale S]), seeds, seed_flag, rate, diverge_factor,
 * threads_per_cell, scales (the names S a protocol's scale sections may use). [common]: every key
 * is an axis. [method NAME]: `args` or an axis. A section scoped to scale S gives, at scale S, the
 * value of each key it holds in place of the unscoped section's (an axis keeps its place), adds
 * the keys the unscoped section lacks (after its own), and a method that only scoped sections name
 * exists only at their scales. Every line is checked at every scale; the grid of the chosen scale
 * is then built and validated.
 * @param text  the file's content; @param file name used in messages.
 * @param opts  the scale, variables, thread override (NULL: no scale, no variables).
 * @param out   receives the grid (free with alig_grid_free); NULL on failure.
 * @param err   receives "FILE:LINE: message" on failure ("FILE: message" when no line is to blame).
 * @return ALIG_SUCCESS, ALIG_EFORMAT (syntax, unknown or repeated key or section, unknown scale),
 *         ALIG_EINVAL (bad value, missing or unknown --scale, unset variable), ALIG_ENOMEM.
 */
alig_status alig_grid_parse_text_ex(const char *text, const char *file, const alig_grid_parse_opts *opts,
                                    alig_grid **out, char *err, size_t errlen);

/** alig_grid_parse_text_ex without options (a protocol without scales or variables). */
alig_status alig_grid_parse_text(const char *text, const char *file, alig_grid **out, char *err, size_t errlen);

/** Read `path` and alig_grid_parse_text_ex it. @return as that, or ALIG_EIO (unreadable). */
alig_status alig_grid_parse_file_ex(const char *path, const alig_grid_parse_opts *opts, alig_grid **out, char *err,
                                    size_t errlen);

/** Read `path` and alig_grid_parse_text it. @return as alig_grid_parse_text, or ALIG_EIO (unreadable). */
alig_status alig_grid_parse_file(const char *path, alig_grid **out, char *err, size_t errlen);

/** Write the validated grid as canonical protocol text (parsing it back gives the same cells).
 *  @return ALIG_SUCCESS, ALIG_EINVAL (not validated), ALIG_EIO (write error). */
alig_status alig_grid_write_protocol(const alig_grid *g, FILE *f);

/* ------------------------------------------------------------------ cells */

/** @return the number of cells of a validated grid (0 if not validated). */
size_t alig_grid_n_cells(const alig_grid *g);

/** Locate cell `i`. @return ALIG_SUCCESS, ALIG_EINVAL (i out of range or grid not validated). */
alig_status alig_grid_cell_at(const alig_grid *g, size_t i, alig_grid_cell *c);

/** The axis descriptor of axis k (common axes first) of cell c. */
const alig_grid_axis *alig_grid_cell_axis(const alig_grid *g, const alig_grid_cell *c, size_t k);

/** Write cell i's name into buf (at most ALIG_GRID_MAX_NAME bytes needed).
 *  @return ALIG_SUCCESS, ALIG_EINVAL (bad i), ALIG_EBADLEN (buf too small). */
alig_status alig_grid_cell_name(const alig_grid *g, size_t i, char *buf, size_t len);

/**
 * The argument vector of cell i, relative to the cell's directory: base, method args, axes,
 * `--SEED_FLAG S` (when the grid has seeds), `--out run.csv` (solve) or `--out run` (train). argv[argc] is NULL.
 * @param argv receives a NULL-terminated array; free it with alig_grid_argv_free.
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM.
 */
alig_status alig_grid_cell_argv(const alig_grid *g, size_t i, char ***argv, size_t *argc);

/** Free an argv from alig_grid_cell_argv. NULL-safe. */
void alig_grid_argv_free(char **argv);

/** cell i's config.json text (cell, index, method, axes, seed, argv); *json is malloc'd, caller frees.
 *  @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM. */
alig_status alig_grid_cell_config(const alig_grid *g, size_t i, char **json);

/* ------------------------------------------------------------------ results */

/**
 * Read the outputs a cell's run left in `cell_dir` (run.csv or run/log.jsonl) and classify the
 * cell. The key mapping table (grid.c, `key_map`) says which CSV columns / JSON keys give the
 * objective, the metric and the steps, first present key first.
 * @param exit_code   the run's exit status (128 + N for signal N).
 * @param stderr_text the run's stderr (may be NULL): its first line becomes the note on failure and
 *                    its mention of a non-finite value marks the cell `non-finite`.
 * @param wall_s      the run's wall-clock seconds.
 * @param r           receives the result (r->done = 1).
 * @return ALIG_SUCCESS (even for a failed cell), ALIG_EINVAL (NULL argument).
 */
alig_status alig_grid_classify(const alig_grid *g, const char *cell_dir, int exit_code, const char *stderr_text,
                               double wall_s, alig_grid_result *r);

/** Serialise a result as one JSON object text (buf of at least 1024 bytes).
 *  @return ALIG_SUCCESS, ALIG_EBADLEN (too small). */
alig_status alig_grid_result_format(const alig_grid_result *r, char *buf, size_t len);

/** Parse the text of alig_grid_result_format. Control characters in the metric and note strings
 *  become spaces (as the classifier's notes), so a parsed result formats again within 1024 bytes;
 *  a number that is not finite (e.g. 1e999: the writer stores those as null) is malformed.
 *  @return ALIG_SUCCESS, ALIG_EFORMAT. */
alig_status alig_grid_result_parse(const char *text, alig_grid_result *r);

/**
 * Resume bookkeeping of cell i in sweep directory `dir`: 1 (finished: *r loaded from result.json)
 * when DIR/cells/NAME/result.json parses and config.json equals alig_grid_cell_config(); else 0.
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM; *finished receives 1 or 0.
 */
alig_status alig_grid_cell_finished(const alig_grid *g, const char *dir, size_t i, int *finished,
                                    alig_grid_result *r);

/**
 * Make DIR/cells/NAME ready for a fresh run of cell i: create it, remove result.json, stdout.txt,
 * stderr.txt and the run output (run.csv or the run/ tree) left by an earlier attempt, then write
 * config.json atomically. @param path receives the cell directory (len >= strlen(dir) + 256).
 * @return ALIG_SUCCESS, ALIG_EIO (message in err), ALIG_EBADLEN, ALIG_ENOMEM.
 */
alig_status alig_grid_cell_prepare(const alig_grid *g, const char *dir, size_t i, char *path, size_t len,
                                   char *err, size_t errlen);

/** Write result.json of cell i atomically (temporary file + rename). @return ALIG_SUCCESS, ALIG_EIO. */
alig_status alig_grid_cell_store(const alig_grid *g, const char *dir, size_t i, const alig_grid_result *r);

/**
 * Rewrite `path` (summary.csv) atomically: a header `cell,method,AXES...,seed,status,exit,steps,
 * obj_first,obj_last,obj_best,metric,metric_last,metric_best,note,wall_s` and one row per cell with
 * results[i].done, in cell order (so the file depends on which cells finished, never on when).
 * AXES are the distinct axis names in order of first appearance; an axis a method lacks is empty.
 * @param results n_cells entries. @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EIO.
 */
alig_status alig_grid_summary_write(const alig_grid *g, const alig_grid_result *results, const char *path);

/* ------------------------------------------------------------------ compute estimates */

/** The work of one `train` cell, read from its command line with alig train's defaults. */
typedef struct alig_grid_work {
    char config[256];         /**< what sets its speed: "input=3x32x32 classes=10 model=M batch=B dropout=P augment=on" */
    char data[32];            /**< fashion-mnist, cifar10, cifar100 or svhn */
    int channels, height, width, classes;
    size_t batch;             /**< --batch [128] */
    int augment;              /**< --augment [on for cifar10 and cifar100, off otherwise] */
    double train_size;        /**< images of the training split: the set's training images (svhn: train plus
                                   extra unless --svhn-extra off) minus --val [5000; svhn 6000], at most
                                   --train-subset */
    double per_epoch;         /**< images per epoch: train_size, at most --max-batches x batch */
    double epochs;            /**< --epochs, 0 in step mode */
    double steps;             /**< --steps, 0 in epoch mode */
    double images;            /**< epochs x per_epoch, or steps x batch */
    double eval_images;       /**< images evaluated (forward only) after the epochs: epochs x (--val + the test
                                   set, at most --test-subset); 0 in step mode */
} alig_grid_work;

/**
 * What cell i of a `train` grid trains on, for compute estimates. Image tasks on the data sets
 * whose sizes are known (Fashion-MNIST 60,000 training images; CIFAR-10 and -100 50,000; SVHN
 * 73,257 plus 531,131 extra) only.
 * @return ALIG_SUCCESS, ALIG_EINVAL (a solve grid, repeat-copy, IDX files or a data directory
 *         whose size is unknown, no --model, no --epochs/--steps, a bad number; message in err).
 */
alig_status alig_grid_cell_work(const alig_grid *g, size_t i, alig_grid_work *w, char *err, size_t errlen);

/**
 * Wall time of n cells run `jobs` at a time the way a sweep starts them: in order, each on the
 * first slot to come free (the lowest-numbered among slots free at once), cell k taking seconds[k].
 * @return the time the last cell ends; 0 when n == 0; NAN when jobs == 0 or a time is negative or NaN.
 */
double alig_grid_schedule(const double *seconds, size_t n, size_t jobs);

/** Write a number the way the summary does: the shortest "%.Pg" that reads back exactly, or nan / inf / -inf. */
void alig_grid_fprint_num(FILE *f, double v);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_GRID_H */
