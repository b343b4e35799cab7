/* cli_util.h - helpers shared by the `alig` subcommands (experiments/cmd_*.c).
 *
 * Conventions (see cli.h): a usage error (unknown flag, missing or bad value) prints ONE line
 * "alig CMD: ..." on stderr and the command returns CLI_USAGE (2); a runtime failure prints one
 * line and returns CLI_RUNTIME (1). The functions below that can fail print that line themselves
 * and return the exit code, so a command reads
 *
 *     cli_flags fl = { .cmd = "solve" };
 *     cli_flags_add(&fl, "iters", 1);
 *     cli_flags_add_problem(&fl, "seed");
 *     int rc = cli_flags_parse(&fl, argc, argv);
 *     if (rc == CLI_HELP) { print_help(); return 0; }
 *     if (rc) return rc;
 *     size_t iters = 100;                                         // default
 *     if ((rc = cli_size(fl.cmd, "iters", cli_get(&fl, "iters"), 1, &iters))) return rc;
 *
 * Every cli_size/cli_ulong/cli_double call leaves *out untouched when `text` is NULL (flag
 * absent), so the default is whatever the caller stored first.
 *
 * Output files: cli_out_open writes into a temporary file next to the target, cli_out_commit
 * renames it into place, cli_out_abort removes it. A failed command therefore leaves no partial
 * file and never touches an existing one; an existing target that is not a regular file (a
 * device, a FIFO, a directory) is refused. Several files that belong together are committed with
 * cli_out_commit_all, so a full disk leaves none of them.
 *
 * Exit codes (docs/design.md, "Errors and exit codes"): 0 success; 1 (CLI_RUNTIME) the command
 * could not complete: bad or unreadable input data, I/O failure, divergence, out of memory;
 * 2 (CLI_USAGE) the command line is wrong: unknown, repeated or missing flag, bad value.
 */
#ifndef ALIG_CLI_UTIL_H
#define ALIG_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "alig/alig.h"

enum {
    CLI_OK = 0,
    CLI_RUNTIME = 1,    /* exit code of a runtime failure */
    CLI_USAGE = 2,      /* exit code of a usage error */
    CLI_HELP = 3        /* cli_flags_parse only: --help or -h was given (not an exit code) */
};

/** Print "alig CMD: <message>" as one line on stderr and return `code` (printf-style). */
int cli_fail(const char *cmd, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------------ flags */

#define CLI_MAX_FLAGS 128

/** One long option `--name VALUE` (has_arg = 1) or `--name` (has_arg = 0). */
typedef struct cli_flag {
    const char *name;       /* without the dashes (a copy kept in the cli_flags) */
    int has_arg;
    const char *value;      /* after parsing: the last value given, "" for a switch, NULL if absent */
} cli_flag;

/** A command's flag table, filled with cli_flags_add*, then parsed once. */
typedef struct cli_flags {
    const char *cmd;        /* subcommand name, used in every message */
    size_t n;
    cli_flag f[CLI_MAX_FLAGS];
    char pool[2048];        /* storage of the names */
    size_t pool_used;
} cli_flags;

/** Add a flag; a name already present is ignored (so tables can be merged). */
void cli_flags_add(cli_flags *fl, const char *name, int has_arg);

/**
 * Add the flags that name a problem instance: --problem, --dim, --samples, --eps, --radius,
 * --<seed_flag> (the generator seed) and --data, --loss. See cli_problem_make.
 */
void cli_flags_add_problem(cli_flags *fl, const char *seed_flag);

/**
 * Parse argv[1..argc) (argv[0] is the subcommand) with getopt_long. --help / -h are always known.
 * @return CLI_OK; CLI_HELP as soon as --help or -h is met; CLI_USAGE after printing one line for an
 *         unknown flag (prefixes are never taken), a flag without its value (or whose value looks like another
 *         flag, "--..."), a value given to a switch, or a stray positional argument.
 */
int cli_flags_parse(cli_flags *fl, int argc, char **argv);

/** @return the value text of flag `name` ("" for a given switch), or NULL if it was not given. */
const char *cli_get(const cli_flags *fl, const char *name);

/* ------------------------------------------------------------------ strict numbers */

/** Range accepted by cli_double. */
typedef enum cli_range {
    CLI_FINITE,         /* any finite number */
    CLI_NONNEG,         /* finite, >= 0 */
    CLI_POSITIVE,       /* finite, > 0 */
    CLI_POSITIVE_INF    /* > 0, or "inf" */
} cli_range;

/** Parse a decimal integer >= min (no sign, no trailing text). NULL text: *out unchanged.
 *  A value beyond size_t is reported as an overflow, not as "not an integer". */
int cli_size(const char *cmd, const char *flag, const char *text, size_t min, size_t *out);
/** Largest --threads any command accepts (a larger value is a usage error, not a silent clamp). */
#define CLI_MAX_THREADS 1024

/** cli_size with an upper bound: a value > max is a usage error "too large (at most MAX)". */
int cli_size_range(const char *cmd, const char *flag, const char *text, size_t min, size_t max, size_t *out);
/** Parse a decimal unsigned long (e.g. a seed). NULL text: *out unchanged. */
int cli_ulong(const char *cmd, const char *flag, const char *text, unsigned long *out);
/** Parse a number in `range` ("inf" accepted for CLI_POSITIVE_INF). NULL text: *out unchanged. */
int cli_double(const char *cmd, const char *flag, const char *text, cli_range range, double *out);

/* ------------------------------------------------------------------ problems */

/**
 * Build the problem named by the flags added with cli_flags_add_problem(fl, seed_flag):
 *   --problem NAME [--dim D --samples N --eps E --radius R --<seed_flag> S]   (synthetic), or
 *   --data FILE --loss L [--radius R]                                          (LIBSVM file).
 * Absent flags take the class defaults (alig_problem_defaults; eps 0, radius inf, seed 1).
 * @param out  receives the problem; free with alig_problem_free().
 * @return CLI_OK; CLI_USAGE (no problem named, both given, unknown name, bad value, or an
 *         instance the generator rejects); CLI_RUNTIME (unreadable or malformed data file,
 *         with its line number; out of memory; an inner solver failure). One line is printed.
 */
int cli_problem_make(const cli_flags *fl, const char *seed_flag, alig_problem **out);

/** The cheap checks of cli_problem_make, for a command to run before its own flags so the first
 *  message names the first problem: --problem/--data given (one of them), a known problem name,
 *  a known --loss. @return CLI_OK, or CLI_USAGE after one line. */
int cli_problem_check(const cli_flags *fl);

/** Print the help lines of the problem flags, with every default, to f. */
void cli_problem_help(FILE *f, const char *seed_flag);

/* ------------------------------------------------------------------ solvers */

/**
 * Solver parameters become flags: every descriptor d of type->params_desc is `--d->name VALUE`
 * (e.g. --eta 0.1, --schedule multistep, --milestones 100,200, --adjusted true), except a name
 * that would shadow a common flag (problem, dim, samples, eps, radius, seed, problem-seed, data,
 * loss, solver, batch, iters, out, every, json, help), which becomes `--SOLVER-NAME`: SPS's eps
 * is --sps-eps. Writes the flag name (no dashes) into buf and returns buf.
 */
char *cli_solver_flag(const alig_solver_type *t, const alig_param_desc *d, char *buf, size_t len);

/** Add --solver and the flags of every parameter of every registered solver. */
void cli_flags_add_solvers(cli_flags *fl);

/** A solver chosen on the command line: its type and a validated parameter struct. */
typedef struct cli_solver {
    const alig_solver_type *type;
    const char *name;           /* as given: "alig", "alig-inf", "sgd", ... */
    void *params;               /* type->params_size bytes (owned) */
    unsigned long given;        /* bit i set: params_desc[i] was given as a flag */
} cli_solver;

/**
 * Read --solver NAME (required; "alig-inf" is alig with eta = inf) and the flags added by
 * cli_flags_add_solvers: the type's defaults, overwritten by each flag given, then checked with
 * alig_solver_alloc. Free with cli_solver_free.
 * @return CLI_OK, or CLI_USAGE after one line: unknown solver, a flag of another solver, an
 *         unparsable value (naming the flag and value), or the validation status (alig_strerror).
 */
int cli_solver_make(const cli_flags *fl, cli_solver *out);

/** @return 1 if parameter `param` (descriptor name, e.g. "f-star") was given as a flag. */
int cli_solver_given(const cli_solver *s, const char *param);

/** CLI_USAGE (one line) when a --milestones value of the solver exceeds `last` (the run's last
 *  step, given by flag `last_flag`): such a milestone would never apply. CLI_OK otherwise. */
int cli_milestones_within(const cli_solver *s, const cli_flags *fl, double last, const char *last_flag);

/** Free the params (NULL-safe content). */
void cli_solver_free(cli_solver *s);

/** Print every solver with its summary and its flags with their defaults. */
void cli_solvers_help(FILE *f);

/* ------------------------------------------------------------------ atomic output */

/** An output file being written: `f` writes to a temporary file next to `path`. */
typedef struct cli_out {
    FILE *f;
    char *path;
    char *tmp;
} cli_out;

/** Create the temporary file "<path>.tmp.XXXXXX". A `path` that exists and is not a regular
 *  file (a directory, a device such as /dev/null, a FIFO) is refused: the final rename would
 *  replace it. @return CLI_OK, or CLI_RUNTIME (printed). */
int cli_out_open(const char *cmd, cli_out *o, const char *path);

/** Create directory `path` and its parents (like mkdir -p). CLI_OK, or CLI_RUNTIME after one line on stderr. */
int cli_mkdir_p(const char *cmd, const char *path);
/** Flush, sync, close and rename onto `path`; on any failure remove the temporary file.
 *  @return CLI_OK, or CLI_RUNTIME (printed). */
int cli_out_commit(const char *cmd, cli_out *o);
/** Commit n files as one: flush and sync them all first, rename them only if every one is
 *  complete (a full disk then leaves none of them, rather than some); on failure every
 *  temporary file is removed. Zeroed entries are skipped. @return CLI_OK, or CLI_RUNTIME (printed). */
int cli_out_commit_all(const char *cmd, cli_out *outs, size_t n);
/** Close and remove the temporary file; `path` is untouched. Safe on a closed or zeroed cli_out. */
void cli_out_abort(cli_out *o);

/* ------------------------------------------------------------------ CSV and JSON */

/** Write a double for CSV: shortest round-trip form ("%.17g"), or nan / inf / -inf. */
void cli_csv_num(FILE *f, double v);

/** A flat JSON object written one key per line. Non-finite numbers are written as null. */
typedef struct cli_json {
    FILE *f;
    int count;
} cli_json;

void cli_json_begin(cli_json *j, FILE *f);
void cli_json_num(cli_json *j, const char *key, double v);
void cli_json_uint(cli_json *j, const char *key, unsigned long long v);
void cli_json_str(cli_json *j, const char *key, const char *v);   /* NULL writes null */
void cli_json_bool(cli_json *j, const char *key, int v);
void cli_json_end(cli_json *j);

/* ------------------------------------------------------------------ misc */

/** Monotonic wall clock in seconds. */
double cli_now(void);

#endif
