/* cli_util.c - flag parsing, strict numbers, problem construction from flags, atomic output
 * files and CSV/JSON writing for the `alig` subcommands (see cli_util.h). This is CLI code:
 * it prints one line on stderr per error and returns the exit code; the library never does. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "alig %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* ------------------------------------------------------------------ flags */

void cli_flags_add(cli_flags *fl, const char *name, int has_arg)
{
    for (size_t i = 0; i < fl->n; i++)
        if (!strcmp(fl->f[i].name, name)) return;
    size_t len = strlen(name) + 1;
    if (fl->n == CLI_MAX_FLAGS || len > sizeof fl->pool - fl->pool_used) {
        /* A programming error (raise CLI_MAX_FLAGS or the pool), not a user error. */
        fprintf(stderr, "alig %s: internal error: flag table full at --%s\n", fl->cmd, name);
        abort();
    }
    char *copy = memcpy(fl->pool + fl->pool_used, name, len);
    fl->pool_used += len;
    fl->f[fl->n++] = (cli_flag){ .name = copy, .has_arg = has_arg, .value = NULL };
}

void cli_flags_add_problem(cli_flags *fl, const char *seed_flag)
{
    static const char *const names[] = { "problem", "dim", "samples", "eps", "radius", "data", "loss" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) cli_flags_add(fl, names[i], 1);
    cli_flags_add(fl, seed_flag, 1);
}

int cli_flags_parse(cli_flags *fl, int argc, char **argv)
{
    struct option opts[CLI_MAX_FLAGS + 2];
    size_t k = 0;
    for (size_t i = 0; i < fl->n; i++)
        opts[k++] = (struct option){ fl->f[i].name, fl->f[i].has_arg ? required_argument : no_argument, NULL,
                                     256 + (int)i };
    opts[k++] = (struct option){ "help", no_argument, NULL, 'h' };
    opts[k] = (struct option){ NULL, 0, NULL, 0 };

    opterr = 0;   /* we print our own one-line messages */
    optind = 0;   /* glibc: full re-initialisation, so a command may parse more than once */
    for (;;) {
        int c = getopt_long(argc, argv, ":h", opts, NULL);
        if (c == -1) break;
        const char *arg = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
        if (c == 'h') return CLI_HELP;
        if (c == ':') return cli_fail(fl->cmd, CLI_USAGE, "%s: missing value", arg);
        if (c == '?') {
            if (optopt >= 256 && optopt < 256 + (int)fl->n)
                return cli_fail(fl->cmd, CLI_USAGE, "--%s takes no value (got '%s')", fl->f[optopt - 256].name, arg);
            if (optopt > 0 && optopt < 256)
                return cli_fail(fl->cmd, CLI_USAGE, "unknown flag '-%c' (try 'alig %s --help')", optopt, fl->cmd);
            if (arg[0] == '-' && arg[1] == '-') {
                /* getopt_long calls a prefix of several flags ambiguous; we take no prefixes at all */
                const size_t len = strcspn(arg + 2, "=");
                return cli_fail(fl->cmd, CLI_USAGE, "unknown flag '--%.*s' (try 'alig %s --help')", (int)len, arg + 2,
                                fl->cmd);
            }
            return cli_fail(fl->cmd, CLI_USAGE, "unknown flag '%s' (try 'alig %s --help')", arg, fl->cmd);
        }
        cli_flag *f = &fl->f[c - 256];
        /* getopt_long accepts any unique prefix of a flag; we do not: an abbreviation's meaning would
         * change silently whenever a flag is added (train's --eps once became --eps-inside) */
        const char *tok = (f->has_arg && optind >= 2 && optarg == argv[optind - 1]) ? argv[optind - 2] : arg;
        if (tok[0] == '-' && tok[1] == '-') {
            const size_t len = strcspn(tok + 2, "=");
            if (len != strlen(f->name) || strncmp(tok + 2, f->name, len) != 0)
                return cli_fail(fl->cmd, CLI_USAGE, "unknown flag '--%.*s' (flags are not abbreviated: try 'alig %s --help')",
                                (int)len, tok + 2, fl->cmd);
        }
        if (f->value)
            return cli_fail(fl->cmd, CLI_USAGE, "--%s given twice (give each flag at most once)", f->name);
        if (f->has_arg) {
            if (optarg[0] == '\0') return cli_fail(fl->cmd, CLI_USAGE, "--%s: empty value", f->name);
            if (optarg[0] == '-' && optarg[1] == '-' && optarg[2] != '\0')
                return cli_fail(fl->cmd, CLI_USAGE, "--%s: missing value (next is the flag '%s')", f->name, optarg);
            f->value = optarg;
        } else {
            f->value = "";
        }
    }
    if (optind < argc)
        return cli_fail(fl->cmd, CLI_USAGE, "unexpected argument '%s' (try 'alig %s --help')", argv[optind], fl->cmd);
    return CLI_OK;
}

const char *cli_get(const cli_flags *fl, const char *name)
{
    for (size_t i = 0; i < fl->n; i++)
        if (!strcmp(fl->f[i].name, name)) return fl->f[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ strict numbers */

int cli_size_range(const char *cmd, const char *flag, const char *text, size_t min, size_t max, size_t *out)
{
    if (!text) return CLI_OK;
    char *end = NULL;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!isdigit((unsigned char)text[0]) || *end != '\0')
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not an integer >= %zu", flag, text, min);
    if (errno == ERANGE || v > SIZE_MAX)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' overflows a %zu-bit integer (at most %zu)", flag, text,
                        sizeof(size_t) * CHAR_BIT, max);
    if (v > max) return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is too large (at most %zu)", flag, text, max);
    if (v < min) return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is too small (at least %zu)", flag, text, min);
    *out = (size_t)v;
    return CLI_OK;
}

int cli_size(const char *cmd, const char *flag, const char *text, size_t min, size_t *out)
{
    return cli_size_range(cmd, flag, text, min, SIZE_MAX, out);
}

int cli_ulong(const char *cmd, const char *flag, const char *text, unsigned long *out)
{
    if (!text) return CLI_OK;
    char *end;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
    if (!isdigit((unsigned char)text[0]) || *end != '\0' || v < 1)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not an integer >= 1", flag, text);
    if (errno == ERANGE || v > ULONG_MAX)
        return cli_fail(cmd, CLI_USAGE, "--%s: '%s' overflows a %zu-bit integer (at most %lu)", flag, text,
                        sizeof(unsigned long) * CHAR_BIT, ULONG_MAX);
    *out = (unsigned long)v;
    return CLI_OK;
}

int cli_double(const char *cmd, const char *flag, const char *text, cli_range range, double *out)
{
    static const char *const what[] = { "a finite number", "a finite number >= 0", "a finite number > 0",
                                         "a number > 0 or inf" };
    if (!text) return CLI_OK;
    double v;
    int ok;
    if (range == CLI_POSITIVE_INF && (!strcasecmp(text, "inf") || !strcasecmp(text, "infinity"))) {
        v = INFINITY;
        ok = 1;
    } else {
        char *end;
        errno = 0;
        v = strtod(text, &end);
        ok = !isspace((unsigned char)text[0]) && end != text && *end == '\0' && errno != ERANGE && isfinite(v);
        if (ok && range == CLI_NONNEG) ok = v >= 0.0;
        if (ok && (range == CLI_POSITIVE || range == CLI_POSITIVE_INF)) ok = v > 0.0;
    }
    if (!ok) return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not %s", flag, text, what[range]);
    *out = v;
    return CLI_OK;
}

/* ------------------------------------------------------------------ problems */

static int known_problem(const char *name)
{
    for (size_t i = 0; alig_problem_names[i]; i++)
        if (!strcmp(alig_problem_names[i], name)) return 1;
    return 0;
}

static void join_names(char *buf, size_t len, const char *const *names, const char *sep)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? sep : "", names[i]);
}

/* Usage error for inputs the generator rejects (values, combinations), runtime otherwise. */
static int problem_status_code(alig_status st)
{
    switch (st) {
    case ALIG_ENOMEM: case ALIG_EIO: case ALIG_EFORMAT: case ALIG_ENOPROG: case ALIG_ENONFINITE:
        return CLI_RUNTIME;
    default:
        return CLI_USAGE;
    }
}

static int problem_fail(const char *cmd, const char *what, alig_status st)
{
    const char *why = alig_problem_last_error();   /* already names the class or file */
    if (why && why[0]) return cli_fail(cmd, problem_status_code(st), "%s", why);
    return cli_fail(cmd, problem_status_code(st), "%s: %s", what, alig_strerror(st));
}

static int make_data_problem(const cli_flags *fl, const char *seed_flag, alig_problem **out)
{
    const char *cmd = fl->cmd, *path = cli_get(fl, "data"), *loss_name = cli_get(fl, "loss");
    static const char *const synthetic_only[] = { "dim", "samples", "eps" };
    for (size_t i = 0; i < sizeof synthetic_only / sizeof synthetic_only[0]; i++)
        if (cli_get(fl, synthetic_only[i]))
            return cli_fail(cmd, CLI_USAGE, "--%s applies to --problem only, not to --data", synthetic_only[i]);
    if (cli_get(fl, seed_flag))
        return cli_fail(cmd, CLI_USAGE, "--%s applies to --problem only, not to --data", seed_flag);
    char names[128];
    join_names(names, sizeof names, alig_loss_names, ", ");
    if (!loss_name) return cli_fail(cmd, CLI_USAGE, "--data needs --loss L (one of %s)", names);
    int loss = -1;
    for (int i = 0; alig_loss_names[i]; i++)
        if (!strcmp(alig_loss_names[i], loss_name)) loss = i;
    if (loss < 0) return cli_fail(cmd, CLI_USAGE, "--loss: unknown loss '%s' (one of %s)", loss_name, names);
    double radius = INFINITY;
    int rc = cli_double(cmd, "radius", cli_get(fl, "radius"), CLI_POSITIVE_INF, &radius);
    if (rc) return rc;

    alig_dataset *d = NULL;
    size_t line = 0;
    errno = 0;
    alig_status st = alig_dataset_read_libsvm(path, &d, &line);
    if (st) {
        /* the reader's sentence names the problem ("line 3: value 'nan' is not finite", "compressed
         * file ends early", "has no sample"); it may or may not repeat the path */
        const char *why = alig_problem_last_error();
        int e = errno;
        if (!why || !why[0]) why = st == ALIG_EIO && e ? strerror(e) : alig_strerror(st);
        char prefix[48];
        snprintf(prefix, sizeof prefix, "line %zu: ", line);
        if (line > 0 && !strncmp(why, prefix, strlen(prefix)))   /* "FILE:LINE: what", as compilers say it */
            return cli_fail(cmd, CLI_RUNTIME, "--data: %s:%zu: %s", path, line, why + strlen(prefix));
        if (strstr(why, path)) return cli_fail(cmd, CLI_RUNTIME, "--data: %s", why);
        return cli_fail(cmd, CLI_RUNTIME, "--data: %s: %s", path, why);
    }
    st = alig_problem_from_dataset(out, d, (alig_loss_kind)loss, radius);
    alig_dataset_free(d);
    if (st) {   /* caused by the data (a bad --radius aside): exit code 1, not the usage code */
        const char *why = alig_problem_last_error();
        return cli_fail(cmd, st == ALIG_EBADRADIUS ? CLI_USAGE : CLI_RUNTIME, "--data: %s: %s", path,
                        why && why[0] ? why : alig_strerror(st));
    }
    return CLI_OK;
}

int cli_problem_check(const cli_flags *fl)
{
    const char *cmd = fl->cmd, *name = cli_get(fl, "problem"), *data = cli_get(fl, "data");
    const char *loss = cli_get(fl, "loss");
    char names[128];
    if (name && data) return cli_fail(cmd, CLI_USAGE, "--problem and --data are exclusive");
    join_names(names, sizeof names, alig_problem_names, ", ");
    if (!name && !data)
        return cli_fail(cmd, CLI_USAGE, "missing --problem NAME (one of %s) or --data FILE --loss L", names);
    if (name && !known_problem(name))
        return cli_fail(cmd, CLI_USAGE, "--problem: unknown problem '%s' (one of %s)", name, names);
    if (data && loss) {
        int known = 0;
        for (int i = 0; alig_loss_names[i]; i++) known |= !strcmp(alig_loss_names[i], loss);
        join_names(names, sizeof names, alig_loss_names, ", ");
        if (!known) return cli_fail(cmd, CLI_USAGE, "--loss: unknown loss '%s' (one of %s)", loss, names);
    }
    return CLI_OK;
}

int cli_milestones_within(const cli_solver *s, const cli_flags *fl, double last, const char *last_flag)
{
    for (size_t j = 0; j < s->type->n_params_desc; j++) {
        const alig_param_desc *d = &s->type->params_desc[j];
        char flag[64];
        const char *text = d->kind == ALIG_PARAM_LIST && !strcmp(d->name, "milestones")
                               ? cli_get(fl, cli_solver_flag(s->type, d, flag, sizeof flag)) : NULL;
        for (const char *p = text; p;) {
            char *end;
            double v = strtod(p, &end);
            if (v > last)
                return cli_fail(fl->cmd, CLI_USAGE, "--%s: milestone %g comes after the last step (%s %g): it would "
                                "never apply", flag, v, last_flag, last);
            p = *end == ',' ? end + 1 : NULL;
        }
    }
    return CLI_OK;
}

int cli_problem_make(const cli_flags *fl, const char *seed_flag, alig_problem **out)
{
    const char *cmd = fl->cmd, *name = cli_get(fl, "problem"), *data = cli_get(fl, "data");
    char names[128];
    join_names(names, sizeof names, alig_problem_names, ", ");
    *out = NULL;
    if (name && data) return cli_fail(cmd, CLI_USAGE, "--problem and --data are exclusive");
    if (!name && !data)
        return cli_fail(cmd, CLI_USAGE, "missing --problem NAME (one of %s) or --data FILE --loss L", names);
    if (data) return make_data_problem(fl, seed_flag, out);

    if (!known_problem(name)) return cli_fail(cmd, CLI_USAGE, "--problem: unknown problem '%s' (one of %s)", name, names);
    if (cli_get(fl, "loss")) return cli_fail(cmd, CLI_USAGE, "--loss applies to --data only");
    alig_problem_spec spec = { 0 };
    alig_status st = alig_problem_defaults(name, &spec);
    if (st) return problem_fail(cmd, name, st);
    spec.eps = 0.0;
    spec.radius = INFINITY;
    spec.seed = 1;
    int rc;
    if ((rc = cli_size(cmd, "dim", cli_get(fl, "dim"), 1, &spec.dim)) ||
        (rc = cli_size(cmd, "samples", cli_get(fl, "samples"), 1, &spec.samples)) ||
        (rc = cli_double(cmd, "eps", cli_get(fl, "eps"), CLI_NONNEG, &spec.eps)) ||
        (rc = cli_double(cmd, "radius", cli_get(fl, "radius"), CLI_POSITIVE_INF, &spec.radius)) ||
        (rc = cli_ulong(cmd, seed_flag, cli_get(fl, seed_flag), &spec.seed)))
        return rc;
    st = alig_problem_make(out, name, &spec);
    if (st) return problem_fail(cmd, name, st);
    return CLI_OK;
}

void cli_problem_help(FILE *f, const char *seed_flag)
{
    char names[128];
    join_names(names, sizeof names, alig_problem_names, " | ");
    fprintf(f, "problem (one of --problem or --data):\n");
    fprintf(f, "  --problem NAME        synthetic class: %s\n", names);
    fprintf(f, "    --dim D             dimension d [");
    for (size_t i = 0; alig_problem_names[i]; i++) {
        alig_problem_spec s = { 0 };
        alig_problem_defaults(alig_problem_names[i], &s);
        fprintf(f, "%s%s %zu", i ? ", " : "", alig_problem_names[i], s.dim);
    }
    fprintf(f, "]\n    --samples N         number of samples n [");
    for (size_t i = 0; alig_problem_names[i]; i++) {
        alig_problem_spec s = { 0 };
        alig_problem_defaults(alig_problem_names[i], &s);
        fprintf(f, "%s%s %zu", i ? ", " : "", alig_problem_names[i], s.samples);
    }
    fprintf(f, "]\n");
    fprintf(f, "    --eps E             interpolation tolerance: max_i loss_i(w*) = E exactly, E >= 0 [0]\n");
    char opt[64];
    snprintf(opt, sizeof opt, "--%s S", seed_flag);
    fprintf(f, "    %-19s instance generator seed S >= 1 [1]\n", opt);
    fprintf(f, "  --data FILE           LIBSVM / SVMlight file (f* computed numerically)\n");
    join_names(names, sizeof names, alig_loss_names, " | ");
    fprintf(f, "    --loss L            %s (required with --data)\n", names);
    fprintf(f, "  --radius R            Omega = L2 ball of radius R > 0, or inf for R^d [inf]\n\n");
}

/* ------------------------------------------------------------------ solvers */

static const char *const common_flags[] = { "problem", "dim", "samples", "eps", "radius", "seed", "problem-seed",
                                            "data", "loss", "solver", "batch", "iters", "out", "every", "json",
                                            "help", NULL };

char *cli_solver_flag(const alig_solver_type *t, const alig_param_desc *d, char *buf, size_t len)
{
    for (size_t i = 0; common_flags[i]; i++)
        if (!strcmp(common_flags[i], d->name)) {
            snprintf(buf, len, "%s-%s", t->name, d->name);
            return buf;
        }
    snprintf(buf, len, "%s", d->name);
    return buf;
}

void cli_flags_add_solvers(cli_flags *fl)
{
    cli_flags_add(fl, "solver", 1);
    for (size_t i = 0; alig_solver_types[i]; i++) {
        const alig_solver_type *t = alig_solver_types[i];
        for (size_t j = 0; j < t->n_params_desc; j++) {
            char buf[64];
            cli_flags_add(fl, cli_solver_flag(t, &t->params_desc[j], buf, sizeof buf), 1);
        }
    }
}

/* The flag (name) of `t` matching flag text `flag`, or NULL. */
static const alig_param_desc *solver_desc_for_flag(const alig_solver_type *t, const char *flag, size_t *index)
{
    for (size_t j = 0; j < t->n_params_desc; j++) {
        char buf[64];
        if (!strcmp(cli_solver_flag(t, &t->params_desc[j], buf, sizeof buf), flag)) {
            *index = j;
            return &t->params_desc[j];
        }
    }
    return NULL;
}

static const char *param_expected(const alig_param_desc *d, char *buf, size_t len)
{
    switch (d->kind) {
    case ALIG_PARAM_DOUBLE: return "a number or inf";
    case ALIG_PARAM_BOOL: return "true or false";
    case ALIG_PARAM_LIST: return "comma-separated numbers (at most 16)";
    case ALIG_PARAM_ENUM: {
        char names[128];
        join_names(names, sizeof names, d->choices, " | ");
        snprintf(buf, len, "one of %s", names);
        return buf;
    }
    }
    return "a valid value";
}

/* The solvers' own parser (alig_params_set) is strtod-based, so it takes " 1", "0x10" and
 * "1e-3 " too. The command line holds solver values to the same syntax as every other number:
 * each (comma-separated) element a decimal number, "inf" or "infinity", nothing around it. */
static int strict_number_text(const char *s, size_t len)
{
    if (len == 0) return 0;
    if ((len == 3 && !strncasecmp(s, "inf", 3)) || (len == 8 && !strncasecmp(s, "infinity", 8))) return 1;
    for (size_t i = 0; i < len; i++) {
        const char c = s[i];
        if (!(isdigit((unsigned char)c) || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) return 0;
    }
    return 1;
}

static int strict_param_text(const alig_param_desc *d, const char *text)
{
    if (d->kind == ALIG_PARAM_DOUBLE) return strict_number_text(text, strlen(text));
    if (d->kind != ALIG_PARAM_LIST) return 1;
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!strict_number_text(p, len)) return 0;
        if (!comma) return 1;
        p = comma + 1;
    }
}

/* Step counts and epochs: positive, finite, strictly increasing, and small enough to be exact in
 * a double (a milestone of 1e20 steps can never be reached). */
#define CLI_MILESTONE_MAX 9007199254740992.0   /* 2^53 */
static int check_milestones(const char *cmd, const char *flag, const char *text)
{
    double prev = 0.0;
    for (const char *p = text;;) {
        char *end;
        double v = strtod(p, &end);
        if (!(v > 0.0) || !(v <= CLI_MILESTONE_MAX))
            return cli_fail(cmd, CLI_USAGE, "--%s: milestone '%.*s' must be > 0 and at most 2^53", flag,
                            (int)strcspn(p, ","), p);
        if (v <= prev)
            return cli_fail(cmd, CLI_USAGE, "--%s: milestones must increase ('%.*s' after %g)", flag,
                            (int)strcspn(p, ","), p, prev);
        prev = v;
        if (*end != ',') return CLI_OK;
        p = end + 1;
    }
}

static int is_solver_flag(const char *flag)
{
    for (size_t i = 0; alig_solver_types[i]; i++) {
        size_t j;
        if (solver_desc_for_flag(alig_solver_types[i], flag, &j)) return 1;
    }
    return 0;
}

int cli_solver_make(const cli_flags *fl, cli_solver *out)
{
    const char *cmd = fl->cmd, *name = cli_get(fl, "solver");
    /* `train` takes --opt as a synonym of --solver (and copies its value there): messages name the
     * flag the user typed */
    const char *sflag = cli_get(fl, "opt") ? "opt" : "solver";
    int rc;
    *out = (cli_solver){ 0 };
    char names[256];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; alig_solver_types[i] && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", alig_solver_types[i]->name);
    if (used < sizeof names) snprintf(names + used, sizeof names - used, ", alig-inf");
    if (!name) return cli_fail(cmd, CLI_USAGE, "missing --%s NAME (one of %s)", sflag, names);
    const int alig_inf = !strcmp(name, "alig-inf");
    const alig_solver_type *t = alig_inf ? alig_solver_alig : alig_solver_type_find(name);
    if (!t) return cli_fail(cmd, CLI_USAGE, "--%s: unknown solver '%s' (one of %s)", sflag, name, names);
    out->type = t;
    out->name = name;
    out->params = malloc(t->params_size);
    if (!out->params) return cli_fail(cmd, CLI_RUNTIME, "out of memory");
    memcpy(out->params, t->params_default, t->params_size);
    if (alig_inf) ((alig_params_alig *)out->params)->eta = INFINITY;

    for (size_t i = 0; i < fl->n; i++) {
        const cli_flag *f = &fl->f[i];
        if (!f->value || !is_solver_flag(f->name)) continue;
        size_t j = 0;
        const alig_param_desc *d = solver_desc_for_flag(t, f->name, &j);
        if (!d) {
            cli_solver_free(out);
            return cli_fail(cmd, CLI_USAGE, "--%s is not a parameter of solver '%s' (see 'alig %s --help')", f->name,
                            name, cmd);
        }
        if (alig_inf && !strcmp(d->name, "eta")) {
            cli_solver_free(out);
            return cli_fail(cmd, CLI_USAGE, "--eta %s: solver 'alig-inf' fixes eta = inf (use --%s alig --eta X)",
                            f->value, sflag);
        }
        if (!strict_param_text(d, f->value) || alig_params_set(t, out->params, d->name, f->value)) {
            char buf[160];
            cli_solver_free(out);
            return cli_fail(cmd, CLI_USAGE, "--%s: bad value '%s' (expected %s)", f->name, f->value,
                            param_expected(d, buf, sizeof buf));
        }
        if (!strcmp(d->name, "batches-per-epoch") && strspn(f->value, "0123456789") != strlen(f->value)) {
            cli_solver_free(out);   /* a count: "1.5" or "1e3" would be taken as a real number */
            return cli_fail(cmd, CLI_USAGE, "--%s: '%s' is not a whole number of batches", f->name, f->value);
        }
        if (d->kind == ALIG_PARAM_LIST && !strcmp(d->name, "milestones") &&
            (rc = check_milestones(cmd, f->name, f->value))) {
            cli_solver_free(out);
            return rc;
        }
        if (j < sizeof out->given * CHAR_BIT) out->given |= 1ul << j;
    }
    /* a multistep schedule without milestones would silently run at a constant rate */
    for (size_t j = 0; j < t->n_params_desc; j++) {
        const alig_param_desc *d = &t->params_desc[j];
        char flag[64], mflag[64];
        const char *v = d->kind == ALIG_PARAM_ENUM && !strcmp(d->name, "schedule")
                            ? cli_get(fl, cli_solver_flag(t, d, flag, sizeof flag)) : NULL;
        if (!v || strcmp(v, "multistep")) continue;
        size_t k;
        for (k = 0; k < t->n_params_desc; k++)
            if (!strcmp(t->params_desc[k].name, "milestones")) break;
        if (k < t->n_params_desc && !cli_get(fl, cli_solver_flag(t, &t->params_desc[k], mflag, sizeof mflag))) {
            cli_solver_free(out);
            return cli_fail(cmd, CLI_USAGE, "--%s multistep needs --%s K1,K2,... (the points where the rate drops)",
                            flag, mflag);
        }
    }
    alig_solver *s = NULL;
    alig_status st = alig_solver_alloc(&s, t, ALIG_F64, 1, out->params);
    alig_solver_free(s);
    if (st) {
        char given[256] = "";   /* the flags given for this solver, to name the culprit's value */
        size_t glen = 0;
        for (size_t i = 0; i < fl->n && glen < sizeof given; i++) {
            size_t j;
            if (fl->f[i].value && solver_desc_for_flag(t, fl->f[i].name, &j))
                glen += (size_t)snprintf(given + glen, sizeof given - glen, " --%s %s", fl->f[i].name, fl->f[i].value);
        }
        cli_solver_free(out);
        return cli_fail(cmd, st == ALIG_ENOMEM ? CLI_RUNTIME : CLI_USAGE, "--%s %s%s: %s", sflag, name, given,
                        alig_strerror(st));
    }
    return CLI_OK;
}

int cli_solver_given(const cli_solver *s, const char *param)
{
    for (size_t j = 0; j < s->type->n_params_desc && j < sizeof s->given * CHAR_BIT; j++)
        if (!strcmp(s->type->params_desc[j].name, param)) return (int)((s->given >> j) & 1ul);
    return 0;
}

void cli_solver_free(cli_solver *s)
{
    free(s->params);
    *s = (cli_solver){ 0 };
}

void cli_solvers_help(FILE *f)
{
    for (size_t i = 0; alig_solver_types[i]; i++) {
        const alig_solver_type *t = alig_solver_types[i];
        fprintf(f, "  %s%s\n      %s\n", t->name, (t->flags & ALIG_SOLVER_FULL_ORACLE) ? "  (full-batch oracle)" : "",
                t->summary);
        for (size_t j = 0; j < t->n_params_desc; j++) {
            const alig_param_desc *d = &t->params_desc[j];
            char flag[64], val[128], opt[96];
            static const char *const metavar[] = { [ALIG_PARAM_DOUBLE] = "X", [ALIG_PARAM_BOOL] = "BOOL",
                                                   [ALIG_PARAM_ENUM] = "NAME", [ALIG_PARAM_LIST] = "K1,K2,..." };
            snprintf(opt, sizeof opt, "--%s %s", cli_solver_flag(t, d, flag, sizeof flag), metavar[d->kind]);
            fprintf(f, "      %-24s %s [%s]\n", opt, d->help, alig_params_format(d, t->params_default, val, sizeof val));
        }
        if (t == alig_solver_alig) {
            fprintf(f, "      momentum form (Berrada et al. 2020, Algorithm 1; gamma the clipped Polyak step):\n"
                       "        standard  v <- mu v - gamma g,  w <- w - gamma g + mu v\n"
                       "        adjusted  b <- mu b - g,        w <- w - gamma g + gamma mu b   (--adjusted true)\n");
            fprintf(f, "  alig-inf\n      alig with eta = inf (ALI-G-inf); takes the other alig flags\n");
        }
    }
}

/* ------------------------------------------------------------------ atomic output */

int cli_out_open(const char *cmd, cli_out *o, const char *path)
{
    *o = (cli_out){ 0 };
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))   /* the rename would replace a device, FIFO, ... */
        return cli_fail(cmd, CLI_RUNTIME, "cannot write '%s': it exists and is %s, not a regular file", path,
                        S_ISDIR(sb.st_mode) ? "a directory" : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                        : S_ISFIFO(sb.st_mode) ? "a FIFO" : S_ISSOCK(sb.st_mode) ? "a socket" : "special");
    size_t len = strlen(path);
    o->path = malloc(len + 1);
    o->tmp = malloc(len + sizeof ".tmp.XXXXXX");
    if (!o->path || !o->tmp) {
        cli_out_abort(o);
        return cli_fail(cmd, CLI_RUNTIME, "out of memory");
    }
    memcpy(o->path, path, len + 1);
    memcpy(o->tmp, path, len);
    memcpy(o->tmp + len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        cli_out_abort(o);
        return cli_fail(cmd, CLI_RUNTIME, "cannot create '%s': %s", path, strerror(e));
    }
    mode_t mask = umask(0);   /* mkstemp creates 0600; give the final file the usual 0666 & ~umask */
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        cli_out_abort(o);
        return cli_fail(cmd, CLI_RUNTIME, "cannot write '%s': %s", path, strerror(e));
    }
    return CLI_OK;
}

/* Flush, sync and close the temporary file; 0, or an errno value (EIO when the stream only
 * carries its error flag). */
static int out_finish(cli_out *o)
{
    int e = 0;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0) e = errno ? errno : EIO;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    return e;
}

int cli_out_commit_all(const char *cmd, cli_out *outs, size_t n)
{
    int e = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n && !e; i++)
        if (outs[i].f && (e = out_finish(&outs[i]))) bad = i;
    for (size_t i = 0; i < n && !e; i++)   /* renames only once every file is complete on disk */
        if (outs[i].tmp && rename(outs[i].tmp, outs[i].path) != 0) { e = errno; bad = i; }
    if (e) {
        int rc = cli_fail(cmd, CLI_RUNTIME, "cannot write '%s': %s%s", outs[bad].path, strerror(e),
                          n > 1 ? " (none of the output files was written)" : "");
        for (size_t i = 0; i < n; i++) cli_out_abort(&outs[i]);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        free(outs[i].tmp);
        free(outs[i].path);
        outs[i] = (cli_out){ 0 };
    }
    return CLI_OK;
}

int cli_out_commit(const char *cmd, cli_out *o)
{
    int e = out_finish(o);
    int bad = e != 0;
    if (!bad && rename(o->tmp, o->path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        char *path = o->path;
        o->path = NULL;
        cli_out_abort(o);
        cli_fail(cmd, CLI_RUNTIME, "cannot write '%s': %s", path, strerror(e));
        free(path);
        return CLI_RUNTIME;
    }
    free(o->tmp);
    free(o->path);
    *o = (cli_out){ 0 };
    return CLI_OK;
}

void cli_out_abort(cli_out *o)
{
    if (o->f) fclose(o->f);
    if (o->tmp) remove(o->tmp);
    free(o->tmp);
    free(o->path);
    *o = (cli_out){ 0 };
}

/* ------------------------------------------------------------------ CSV and JSON */

/* Shortest of %.15g, %.16g, %.17g that reads back to exactly v (0.1 prints as 0.1). */
static void format_num(char *buf, size_t len, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

void cli_csv_num(FILE *f, double v)
{
    if (isnan(v)) fputs("nan", f);
    else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
    else {
        char buf[40];
        format_num(buf, sizeof buf, v);
        fputs(buf, f);
    }
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_key(cli_json *j, const char *key)
{
    fputs(j->count++ ? ",\n  " : "{\n  ", j->f);
    json_string(j->f, key);
    fputs(": ", j->f);
}

void cli_json_begin(cli_json *j, FILE *f) { *j = (cli_json){ .f = f, .count = 0 }; }

void cli_json_num(cli_json *j, const char *key, double v)
{
    json_key(j, key);
    if (!isfinite(v)) {
        fputs("null", j->f);
        return;
    }
    char buf[40];
    format_num(buf, sizeof buf, v);
    fputs(buf, j->f);
}

void cli_json_uint(cli_json *j, const char *key, unsigned long long v)
{
    json_key(j, key);
    fprintf(j->f, "%llu", v);
}

void cli_json_str(cli_json *j, const char *key, const char *v)
{
    json_key(j, key);
    if (v) json_string(j->f, v);
    else fputs("null", j->f);
}

void cli_json_bool(cli_json *j, const char *key, int v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->f);
}

void cli_json_end(cli_json *j) { fputs(j->count ? "\n}\n" : "{}\n", j->f); }

/* ------------------------------------------------------------------ misc */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cli_mkdir_p(const char *cmd, const char *path)
{
    char *p = malloc(strlen(path) + 1);
    if (!p) return cli_fail(cmd, CLI_RUNTIME, "out of memory");
    strcpy(p, path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            int rc = cli_fail(cmd, CLI_RUNTIME, "cannot create directory '%s': %s", p, strerror(e));
            free(p);
            return rc;
        }
        *s = c;
        if (c == '\0') break;
    }
    free(p);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_fail(cmd, CLI_RUNTIME, "'%s' is not a directory", path);
    return CLI_OK;
}
