/* grid.c - the grid engine of `alig sweep` (see include/alig/grid.h).
 *
 * Everything here is plain data and files: the grid is a few arrays of strings, a cell is a
 * mixed-radix number over the axes of its method, and the bookkeeping of a sweep lives in each
 * cell's directory (config.json written before the run, result.json after it). The CLI decides
 * how runs are started (child processes, MPI ranks); this file never starts one.
 *
 * Why files per cell rather than one journal: a cell's result.json is written by rename, so a
 * sweep killed at any instant leaves each cell either finished (both files whole) or not; a
 * restart needs no log replay, and a cell can be rerun by deleting its result.json. */
#include "alig/grid.h"
#include "json_flat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ================================================================ small helpers */

static void set_err(char *err, size_t len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static void free_strv(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Append s to a growing string array. */
static alig_status strv_push(char ***v, size_t *n, const char *s, size_t len)
{
    char **nv = realloc(*v, (*n + 1) * sizeof **v);
    if (!nv) return ALIG_ENOMEM;
    *v = nv;
    if (!(nv[*n] = dup_range(s, len))) return ALIG_ENOMEM;
    (*n)++;
    return ALIG_SUCCESS;
}

/* Split on blanks (no quoting: arguments with spaces are not supported, see docs/sweep.md). */
static alig_status split_words(const char *text, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *p = text;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) return ALIG_SUCCESS;
        const char *q = p;
        while (*q && !isspace((unsigned char)*q)) q++;
        alig_status st = strv_push(out, n, p, (size_t)(q - p));
        if (st) {
            free_strv(*out, *n);
            *out = NULL;
            *n = 0;
            return st;
        }
        p = q;
    }
}

static int valid_flag_name(const char *s)
{
    if (!*s || !(islower((unsigned char)*s) || isdigit((unsigned char)*s))) return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-')) return 0;
    return 1;
}

static int valid_method_name(const char *s)
{
    if (!*s || strlen(s) >= ALIG_GRID_MAX_TOKEN) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '+' || *s == '-')) return 0;
    return 1;
}

/* A value may not hold blanks, separators of the syntax, quotes or control characters. */
static int valid_value(const char *s)
{
    if (!*s || strlen(s) >= ALIG_GRID_MAX_TOKEN) return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == ',' || c == ':' || c == '#' || c == '"' || c == '\\' || c == '[' || c == ']' ||
            c == '=' || c == 127)
            return 0;
    }
    return 1;
}

/* The words list holds "--name" or "--name=..." */
static int words_have_flag(char *const *w, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (w[i][0] == '-' && w[i][1] == '-' && !strncmp(w[i] + 2, name, len) &&
            (w[i][2 + len] == 0 || w[i][2 + len] == '='))
            return 1;
    return 0;
}

static void axis_free(alig_grid_axis *a)
{
    free(a->name);
    free_strv(a->values, a->n);
}

/* ================================================================ building */

const char *alig_grid_status_name(alig_grid_status s)
{
    switch (s) {
    case ALIG_GRID_OK: return "ok";
    case ALIG_GRID_DIVERGED: return "diverged";
    case ALIG_GRID_NONFINITE: return "non-finite";
    case ALIG_GRID_FAILED: return "failed";
    }
    return "?";
}

alig_status alig_grid_alloc(alig_grid **out)
{
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    alig_grid *g = calloc(1, sizeof *g);
    if (!g) return ALIG_ENOMEM;
    g->diverge_factor = 1e3;
    g->threads = 1;
    if (!(g->seed_flag = dup_str("seed"))) goto nomem;
    if (split_words("lr eta alpha", &g->rate, &g->n_rate)) goto nomem;
    *out = g;
    return ALIG_SUCCESS;
nomem:
    alig_grid_free(g);
    return ALIG_ENOMEM;
}

void alig_grid_free(alig_grid *g)
{
    if (!g) return;
    free_strv(g->base, g->n_base);
    for (size_t i = 0; i < g->n_common; i++) axis_free(&g->common[i]);
    free(g->common);
    for (size_t m = 0; m < g->n_methods; m++) {
        alig_grid_method *me = &g->methods[m];
        free(me->name);
        free_strv(me->args, me->n_args);
        for (size_t i = 0; i < me->n_axes; i++) axis_free(&me->axes[i]);
        free(me->axes);
    }
    free(g->methods);
    free(g->seeds);
    free(g->seed_flag);
    free_strv(g->rate, g->n_rate);
    free(g);
}

static alig_status check_args(char *const *w, size_t n, const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (words_have_flag(w + i, 1, "out") || words_have_flag(w + i, 1, "resume")) {
            set_err(err, errlen, "%s: %s is set by the sweep for each cell; remove it", what, w[i]);
            return ALIG_EINVAL;
        }
        if (strlen(w[i]) >= 1024 || strchr(w[i], '"') || strchr(w[i], '\\')) {
            set_err(err, errlen, "%s: argument '%.40s' is too long or holds a quote or backslash", what, w[i]);
            return ALIG_EINVAL;
        }
    }
    return ALIG_SUCCESS;
}

alig_status alig_grid_set_base(alig_grid *g, const char *text, char *err, size_t errlen)
{
    if (!g || !text || g->validated) return ALIG_EINVAL;
    char **w;
    size_t n;
    if (split_words(text, &w, &n)) return ALIG_ENOMEM;
    alig_status st = ALIG_EINVAL;
    if (!n) {
        set_err(err, errlen, "base: empty command (expected 'solve ...' or 'train ...')");
        goto fail;
    }
    if (!strcmp(w[0], "solve")) g->kind = ALIG_GRID_SOLVE;
    else if (!strcmp(w[0], "train")) g->kind = ALIG_GRID_TRAIN;
    else {
        set_err(err, errlen, "base: '%s' is not a command a sweep can run (solve or train)", w[0]);
        goto fail;
    }
    if ((st = check_args(w, n, "base", err, errlen))) goto fail;
    free_strv(g->base, g->n_base);
    g->base = w;
    g->n_base = n;
    return ALIG_SUCCESS;
fail:
    free_strv(w, n);
    return st;
}

alig_status alig_grid_add_method(alig_grid *g, const char *name, char *err, size_t errlen)
{
    if (!g || !name || g->validated) return ALIG_EINVAL;
    if (!valid_method_name(name)) {
        set_err(err, errlen, "method '%s': a name is letters, digits, '.', '_', '+' or '-'", name);
        return ALIG_EINVAL;
    }
    for (size_t m = 0; m < g->n_methods; m++)
        if (!strcmp(g->methods[m].name, name)) {
            set_err(err, errlen, "method '%s' is given twice", name);
            return ALIG_EINVAL;
        }
    alig_grid_method *nm = realloc(g->methods, (g->n_methods + 1) * sizeof *nm);
    if (!nm) return ALIG_ENOMEM;
    g->methods = nm;
    memset(&nm[g->n_methods], 0, sizeof *nm);
    if (!(nm[g->n_methods].name = dup_str(name))) return ALIG_ENOMEM;
    g->n_methods++;
    return ALIG_SUCCESS;
}

alig_status alig_grid_set_args(alig_grid *g, size_t m, const char *text, char *err, size_t errlen)
{
    if (!g || !text || g->validated || m >= g->n_methods) return ALIG_EINVAL;
    char **w;
    size_t n;
    if (split_words(text, &w, &n)) return ALIG_ENOMEM;
    char what[ALIG_GRID_MAX_TOKEN + 16];
    snprintf(what, sizeof what, "method %s: args", g->methods[m].name);
    alig_status st = check_args(w, n, what, err, errlen);
    if (st) {
        free_strv(w, n);
        return st;
    }
    free_strv(g->methods[m].args, g->methods[m].n_args);
    g->methods[m].args = w;
    g->methods[m].n_args = n;
    return ALIG_SUCCESS;
}

/* Parse "LO:HI:log:N" / "LO:HI:lin:N" into values. */
static alig_status add_range(alig_grid_axis *a, const char *item, char *err, size_t errlen)
{
    char buf[ALIG_GRID_MAX_TOKEN * 2];
    if (strlen(item) >= sizeof buf) {
        set_err(err, errlen, "axis %s: range '%.40s...' too long", a->name, item);
        return ALIG_EINVAL;
    }
    strcpy(buf, item);
    char *part[5];
    size_t np = 0;
    for (char *p = buf; np < 5;) {
        part[np++] = p;
        char *c = strchr(p, ':');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    char *end;
    double lo = 0, hi = 0;
    unsigned long long cnt = 0;
    int is_log = np == 4 && !strcmp(part[2], "log"), is_lin = np == 4 && !strcmp(part[2], "lin");
    if (is_log || is_lin) {
        errno = 0;
        lo = strtod(part[0], &end);
        if (*end || end == part[0]) is_log = is_lin = 0;
        hi = strtod(part[1], &end);
        if (*end || end == part[1]) is_log = is_lin = 0;
        if (!isdigit((unsigned char)part[3][0])) is_log = is_lin = 0;
        cnt = strtoull(part[3], &end, 10);
        if (*end || errno) is_log = is_lin = 0;
    }
    if (!is_log && !is_lin) {
        set_err(err, errlen, "axis %s: '%s' is not a range LO:HI:log:N or LO:HI:lin:N", a->name, item);
        return ALIG_EINVAL;
    }
    if (!isfinite(lo) || !isfinite(hi) || cnt < 1 || cnt > ALIG_GRID_MAX_VALUES || (is_log && !(lo > 0 && hi > 0))) {
        set_err(err, errlen, "axis %s: range '%s' needs finite ends%s and 1 <= N <= %d", a->name, item,
                is_log ? " > 0" : "", ALIG_GRID_MAX_VALUES);
        return ALIG_EINVAL;
    }
    for (unsigned long long i = 0; i < cnt; i++) {
        const double t = cnt == 1 ? 0.0 : (double)i / (double)(cnt - 1);
        /* log ranges in base 10 so that decades come out exact after rounding to 6 digits */
        const double v = is_log ? pow(10.0, log10(lo) + t * (log10(hi) - log10(lo))) : lo + t * (hi - lo);
        char text[64];
        snprintf(text, sizeof text, "%.6g", v);
        alig_status st = strv_push(&a->values, &a->n, text, strlen(text));
        if (st) return st;
    }
    return ALIG_SUCCESS;
}

/* 1 if s is a whole decimal number (strtod syntax, inf included; nan excluded), stored in *v. */
static int parse_number(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == 0 && !isnan(*v);
}

static alig_grid_axis *find_axis(alig_grid_axis *axes, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(axes[i].name, name)) return &axes[i];
    return NULL;
}

alig_status alig_grid_add_axis(alig_grid *g, size_t m, const char *name, const char *values, char *err,
                               size_t errlen)
{
    if (!g || !name || !values || g->validated || (m != (size_t)-1 && m >= g->n_methods)) return ALIG_EINVAL;
    if (!valid_flag_name(name) || strlen(name) >= ALIG_GRID_MAX_TOKEN) {
        set_err(err, errlen, "axis '%s': a name is a flag name: lower-case letters, digits and '-'", name);
        return ALIG_EINVAL;
    }
    alig_grid_axis **axes = m == (size_t)-1 ? &g->common : &g->methods[m].axes;
    size_t *n_axes = m == (size_t)-1 ? &g->n_common : &g->methods[m].n_axes;
    if (find_axis(*axes, *n_axes, name) || find_axis(g->common, g->n_common, name)) {
        set_err(err, errlen, "axis %s is given twice", name);
        return ALIG_EINVAL;
    }
    if (m == (size_t)-1)
        for (size_t k = 0; k < g->n_methods; k++)
            if (find_axis(g->methods[k].axes, g->methods[k].n_axes, name)) {
                set_err(err, errlen, "axis %s is given twice (common and method %s)", name, g->methods[k].name);
                return ALIG_EINVAL;
            }
    if (*n_axes + g->n_common + 1 > ALIG_GRID_MAX_AXES) {
        set_err(err, errlen, "axis %s: more than %d axes", name, ALIG_GRID_MAX_AXES);
        return ALIG_EINVAL;
    }
    alig_grid_axis a = { 0 };
    alig_status st = ALIG_ENOMEM;
    if (!(a.name = dup_str(name))) goto fail;
    const char *p = values;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        char item[ALIG_GRID_MAX_TOKEN * 2];
        if (!len) {
            st = ALIG_EINVAL;
            set_err(err, errlen, "axis %s: empty value in '%s'", name, values);
            goto fail;
        }
        if (len >= sizeof item) {
            st = ALIG_EINVAL;
            set_err(err, errlen, "axis %s: value '%.40s...' too long", name, p);
            goto fail;
        }
        memcpy(item, p, len);
        item[len] = 0;
        if (strchr(item, ':')) {
            if ((st = add_range(&a, item, err, errlen))) goto fail;
        } else {
            if (!valid_value(item)) {
                st = ALIG_EINVAL;
                set_err(err, errlen, "axis %s: bad value '%s' (no blanks, quotes or any of , : = # [ ])", name, item);
                goto fail;
            }
            if ((st = strv_push(&a.values, &a.n, item, len))) goto fail;
        }
        if (a.n > ALIG_GRID_MAX_VALUES) {
            st = ALIG_EINVAL;
            set_err(err, errlen, "axis %s: more than %d values", name, ALIG_GRID_MAX_VALUES);
            goto fail;
        }
        if (!q) break;
        p = q + 1;
    }
    /* each value read as a number once (NAN: not a number), not once per pair: the pairwise check of
     * ALIG_GRID_MAX_VALUES values took seconds with two strtod calls per pair */
    double *num = malloc((a.n ? a.n : 1) * sizeof *num);
    if (!num) {
        st = ALIG_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < a.n; i++)
        if (!parse_number(a.values[i], &num[i])) num[i] = NAN;
    for (size_t i = 0; i < a.n; i++)
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(a.values[i], a.values[j])) {
                st = ALIG_EINVAL;
                set_err(err, errlen, "axis %s: value '%s' appears twice", name, a.values[i]);
                free(num);
                goto fail;
            }
            /* two spellings of one number ("1" and "1.0", "0.1" and "1e-1") run the same cell twice and
             * fall in one column of the figures */
            if (num[i] == num[j]) {     /* false for NAN */
                st = ALIG_EINVAL;
                set_err(err, errlen, "axis %s: values '%s' and '%s' are the same number (give each value once)",
                        name, a.values[j], a.values[i]);
                free(num);
                goto fail;
            }
        }
    free(num);
    alig_grid_axis *na = realloc(*axes, (*n_axes + 1) * sizeof *na);
    if (!na) {
        st = ALIG_ENOMEM;   /* st held the last value's success */
        goto fail;
    }
    na[*n_axes] = a;
    *axes = na;
    (*n_axes)++;
    return ALIG_SUCCESS;
fail:
    axis_free(&a);
    return st;
}

alig_status alig_grid_set_seeds(alig_grid *g, const char *text, char *err, size_t errlen)
{
    if (!g || !text || g->validated) return ALIG_EINVAL;
    unsigned long *s = NULL;
    size_t n = 0;
    const char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        char *end;
        if (!isdigit((unsigned char)*p)) goto bad;
        errno = 0;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (errno) goto bad;
        if (*end == '-') {
            p = end + 1;
            if (!isdigit((unsigned char)*p)) goto bad;
            hi = strtoul(p, &end, 10);
            if (errno || hi < lo || hi - lo >= ALIG_GRID_MAX_VALUES) goto bad;
        }
        for (unsigned long v = lo;; v++) {
            for (size_t i = 0; i < n; i++)
                if (s[i] == v) {
                    set_err(err, errlen, "seeds: %lu appears twice", v);
                    free(s);
                    return ALIG_EINVAL;
                }
            if (n >= ALIG_GRID_MAX_VALUES) goto bad;
            unsigned long *ns = realloc(s, (n + 1) * sizeof *ns);
            if (!ns) {
                free(s);
                return ALIG_ENOMEM;
            }
            s = ns;
            s[n++] = v;
            if (v == hi) break;
        }
        p = end;
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        if (*p != ',') goto bad;
        p++;
    }
    free(g->seeds);
    g->seeds = s;
    g->n_seeds = n;
    return ALIG_SUCCESS;
bad:
    free(s);
    set_err(err, errlen, "seeds: '%s' is not a list of integers or ranges LO-HI (e.g. 0,1,2 or 0-2)", text);
    return ALIG_EINVAL;
}

alig_status alig_grid_set_rate(alig_grid *g, const char *text, char *err, size_t errlen)
{
    if (!g || !text || g->validated) return ALIG_EINVAL;
    char **w = NULL;
    size_t n = 0;
    const char *p = text;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) p++, len--;
        while (len && isspace((unsigned char)p[len - 1])) len--;
        alig_status st = strv_push(&w, &n, p, len);
        if (st) {
            free_strv(w, n);
            return st;
        }
        if (!valid_flag_name(w[n - 1])) {
            set_err(err, errlen, "rate: '%s' is not an axis name", w[n - 1]);
            free_strv(w, n);
            return ALIG_EINVAL;
        }
        if (!q) break;
        p = q + 1;
    }
    free_strv(g->rate, g->n_rate);
    g->rate = w;
    g->n_rate = n;
    return ALIG_SUCCESS;
}

/* ================================================================ cells */

static size_t method_cells(const alig_grid *g, size_t m)
{
    size_t n = g->n_seeds ? g->n_seeds : 1;
    for (size_t k = 0; k < g->n_common; k++) n *= g->common[k].n;
    for (size_t k = 0; k < g->methods[m].n_axes; k++) n *= g->methods[m].axes[k].n;
    return n;
}

size_t alig_grid_n_cells(const alig_grid *g)
{
    if (!g || !g->validated) return 0;
    size_t n = 0;
    for (size_t m = 0; m < g->n_methods; m++) n += method_cells(g, m);
    return n;
}

const alig_grid_axis *alig_grid_cell_axis(const alig_grid *g, const alig_grid_cell *c, size_t k)
{
    return k < g->n_common ? &g->common[k] : &g->methods[c->method].axes[k - g->n_common];
}

alig_status alig_grid_cell_at(const alig_grid *g, size_t i, alig_grid_cell *c)
{
    if (!g || !c || !g->validated) return ALIG_EINVAL;
    memset(c, 0, sizeof *c);
    c->index = i;
    size_t m = 0;
    for (; m < g->n_methods; m++) {
        const size_t n = method_cells(g, m);
        if (i < n) break;
        i -= n;
    }
    if (m == g->n_methods) return ALIG_EINVAL;
    c->method = m;
    c->n_axes = g->n_common + g->methods[m].n_axes;
    c->seed = g->n_seeds ? i % g->n_seeds : 0;
    i /= g->n_seeds ? g->n_seeds : 1;
    for (size_t k = c->n_axes; k-- > 0;) {     /* the last axis varies fastest */
        const size_t n = alig_grid_cell_axis(g, c, k)->n;
        c->value[k] = i % n;
        i /= n;
    }
    return ALIG_SUCCESS;
}

/* Append to buf at *used; 0 on success, -1 when it does not fit. */
static int cat(char *buf, size_t len, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used + n + 1 > len) return -1;
    memcpy(buf + *used, s, n + 1);
    *used += n;
    return 0;
}

alig_status alig_grid_cell_name(const alig_grid *g, size_t i, char *buf, size_t len)
{
    alig_grid_cell c;
    if (!buf || !len || alig_grid_cell_at(g, i, &c)) return ALIG_EINVAL;
    size_t used = 0;
    buf[0] = 0;
    int bad = cat(buf, len, &used, g->methods[c.method].name);
    for (size_t k = 0; k < c.n_axes && !bad; k++) {
        const alig_grid_axis *a = alig_grid_cell_axis(g, &c, k);
        if (a->n < 2) continue;
        if (used) bad |= cat(buf, len, &used, "__");
        bad |= cat(buf, len, &used, a->name);
        bad |= cat(buf, len, &used, "=");
        bad |= cat(buf, len, &used, a->values[c.value[k]]);
    }
    char s[32];
    if (g->n_seeds) snprintf(s, sizeof s, "%ss%lu", used ? "__" : "", g->seeds[c.seed]);
    else snprintf(s, sizeof s, "%s", used ? "" : "run");    /* one cell and nothing to tell it by */
    bad |= cat(buf, len, &used, s);
    if (bad || used >= ALIG_GRID_MAX_NAME) {
        if (len) buf[0] = 0;
        return ALIG_EBADLEN;
    }
    for (char *p = buf; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("._+=-", *p))) *p = '_';
    return ALIG_SUCCESS;
}

void alig_grid_argv_free(char **argv)
{
    if (!argv) return;
    for (size_t i = 0; argv[i]; i++) free(argv[i]);
    free(argv);
}

alig_status alig_grid_cell_argv(const alig_grid *g, size_t i, char ***argv, size_t *argc)
{
    alig_grid_cell c;
    if (!argv || !argc || alig_grid_cell_at(g, i, &c)) return ALIG_EINVAL;
    const alig_grid_method *me = &g->methods[c.method];
    size_t n = 0, cap = g->n_base + me->n_args + 2 * c.n_axes + 5;
    char **v = calloc(cap, sizeof *v);
    if (!v) return ALIG_ENOMEM;
    char flag[ALIG_GRID_MAX_TOKEN + 3], seed[32];
#define PUSH(s) do { if (!(v[n++] = dup_str(s))) goto nomem; } while (0)
    for (size_t k = 0; k < g->n_base; k++) PUSH(g->base[k]);
    for (size_t k = 0; k < me->n_args; k++) PUSH(me->args[k]);
    for (size_t k = 0; k < c.n_axes; k++) {
        const alig_grid_axis *a = alig_grid_cell_axis(g, &c, k);
        snprintf(flag, sizeof flag, "--%s", a->name);
        PUSH(flag);
        PUSH(a->values[c.value[k]]);
    }
    if (g->n_seeds) {
        snprintf(flag, sizeof flag, "--%s", g->seed_flag);
        snprintf(seed, sizeof seed, "%lu", g->seeds[c.seed]);
        PUSH(flag);
        PUSH(seed);
    }
    PUSH("--out");
    PUSH(g->kind == ALIG_GRID_SOLVE ? "run.csv" : "run");
#undef PUSH
    *argv = v;
    *argc = n;
    return ALIG_SUCCESS;
nomem:
    alig_grid_argv_free(v);
    return ALIG_ENOMEM;
}

/* ================================================================ validation */

alig_status alig_grid_validate(alig_grid *g, char *err, size_t errlen)
{
    if (!g) return ALIG_EINVAL;
    if (g->validated) return ALIG_SUCCESS;
    if (!g->n_base) {
        set_err(err, errlen, "no base command (base = solve ... or train ...)");
        return ALIG_EINVAL;
    }
    if (!valid_flag_name(g->seed_flag)) {
        set_err(err, errlen, "seed_flag: '%s' is not a flag name", g->seed_flag);
        return ALIG_EINVAL;
    }
    if (g->n_seeds && words_have_flag(g->base, g->n_base, g->seed_flag)) {
        set_err(err, errlen, "base: --%s is the seed flag: give the seeds with 'seeds' instead", g->seed_flag);
        return ALIG_EINVAL;
    }
    if (!(g->diverge_factor > 1.0)) {
        set_err(err, errlen, "diverge_factor: %g must be > 1", g->diverge_factor);
        return ALIG_EINVAL;
    }
    if (!g->n_methods) {
        alig_status st = alig_grid_add_method(g, "x", err, errlen);   /* placeholder name, emptied below */
        if (st) return st;
        g->methods[0].name[0] = 0;
    }
    double cells = 0;
    for (size_t m = 0; m < g->n_methods; m++) {
        const alig_grid_method *me = &g->methods[m];
        if (g->n_seeds && words_have_flag(me->args, me->n_args, g->seed_flag)) {
            set_err(err, errlen, "method %s: --%s is the seed flag: give the seeds with 'seeds' instead", me->name,
                    g->seed_flag);
            return ALIG_EINVAL;
        }
        if (g->n_common + me->n_axes > ALIG_GRID_MAX_AXES) {
            set_err(err, errlen, "method %s: more than %d axes", me->name, ALIG_GRID_MAX_AXES);
            return ALIG_EINVAL;
        }
        double mc = g->n_seeds ? (double)g->n_seeds : 1.0;
        for (size_t k = 0; k < g->n_common + me->n_axes; k++) {
            const alig_grid_axis *a = k < g->n_common ? &g->common[k] : &me->axes[k - g->n_common];
            mc *= (double)a->n;
            if (g->n_seeds && !strcmp(a->name, g->seed_flag)) {
                set_err(err, errlen, "axis %s is the seed flag: give the seeds with 'seeds' instead", a->name);
                return ALIG_EINVAL;
            }
            if (!strcmp(a->name, "out") || !strcmp(a->name, "resume")) {
                set_err(err, errlen, "axis %s: --%s is set by the sweep for each cell", a->name, a->name);
                return ALIG_EINVAL;
            }
            if (words_have_flag(g->base, g->n_base, a->name) || words_have_flag(me->args, me->n_args, a->name)) {
                set_err(err, errlen, "axis %s: --%s is already in the %s", a->name, a->name,
                        words_have_flag(g->base, g->n_base, a->name) ? "base command" : "method's args");
                return ALIG_EINVAL;
            }
        }
        cells += mc;
    }
    if (cells > ALIG_GRID_MAX_CELLS) {
        set_err(err, errlen, "%.0f cells: more than %d", cells, ALIG_GRID_MAX_CELLS);
        return ALIG_EINVAL;
    }
    g->validated = 1;
    const size_t n = alig_grid_n_cells(g);
    /* distinct names: sort a copy (names of up to ALIG_GRID_MAX_NAME bytes) */
    char *names = malloc(n * (size_t)ALIG_GRID_MAX_NAME);
    if (!names && n) {
        g->validated = 0;
        return ALIG_ENOMEM;
    }
    alig_status st = ALIG_SUCCESS;
    for (size_t i = 0; i < n && !st; i++)
        if (alig_grid_cell_name(g, i, names + i * ALIG_GRID_MAX_NAME, ALIG_GRID_MAX_NAME)) {
            set_err(err, errlen, "cell %zu: its name would exceed %d bytes (shorter values or names)", i,
                    ALIG_GRID_MAX_NAME - 1);
            st = ALIG_EINVAL;
        }
    if (!st) {
        qsort(names, n, ALIG_GRID_MAX_NAME, (int (*)(const void *, const void *))strcmp);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(names + i * ALIG_GRID_MAX_NAME, names + (i - 1) * ALIG_GRID_MAX_NAME)) {
                set_err(err, errlen, "two cells are named '%s' (values that differ only in characters outside "
                        "[A-Za-z0-9._+=-])", names + i * ALIG_GRID_MAX_NAME);
                st = ALIG_EINVAL;
                break;
            }
    }
    free(names);
    if (st) g->validated = 0;
    return st;
}

/* ================================================================ protocol files */

/* A protocol is read in two passes. The first reads every line into a list of entries (section,
 * scale scope, method, key, value, line), checking the syntax, the section headers, the keys of
 * the top level and repeated keys, at every scale. The second builds the grid of one scale: each
 * key takes the value of the section scoped to that scale when it has one, else the unscoped
 * value; every error names the line of the value used. */

enum { SEC_TOP = 0, SEC_COMMON = 1, SEC_METHOD = 2 };

static const char *const top_keys[] = { "base", "seeds", "seed_flag", "rate", "diverge_factor", "threads_per_cell",
                                        NULL };

typedef struct proto_entry {
    size_t sec;          /* index into proto.secs */
    char *key, *val;
    size_t line;
} proto_entry;

typedef struct proto_sec {
    int kind;            /* SEC_TOP, SEC_COMMON, SEC_METHOD */
    int scope;           /* -1: every scale; else an index into proto.scales */
    size_t method;       /* SEC_METHOD: index into proto.methods */
    size_t line;
} proto_sec;

typedef struct proto {
    proto_entry *e;
    size_t n_e;
    proto_sec *s;
    size_t n_s;
    char **methods;      /* method names, in order of first appearance at any scale */
    size_t n_methods;
    char **scales;       /* the `scales` key */
    size_t n_scales, scales_line;
    size_t n_lines;      /* lines read */
} proto;

static void proto_free(proto *p)
{
    for (size_t i = 0; i < p->n_e; i++) {
        free(p->e[i].key);
        free(p->e[i].val);
    }
    free(p->e);
    free(p->s);
    free_strv(p->methods, p->n_methods);
    free_strv(p->scales, p->n_scales);
}

static alig_status proto_add_sec(proto *p, int kind, int scope, size_t method, size_t line)
{
    proto_sec *ns = realloc(p->s, (p->n_s + 1) * sizeof *ns);
    if (!ns) return ALIG_ENOMEM;
    p->s = ns;
    ns[p->n_s++] = (proto_sec){ .kind = kind, .scope = scope, .method = method, .line = line };
    return ALIG_SUCCESS;
}

/* The entry `key` of the section (kind, scope, method), or NULL. */
static const proto_entry *proto_find(const proto *p, int kind, int scope, size_t method, const char *key)
{
    for (size_t i = 0; i < p->n_e; i++) {
        const proto_sec *s = &p->s[p->e[i].sec];
        if (s->kind == kind && s->scope == scope && (kind != SEC_METHOD || s->method == method) &&
            !strcmp(p->e[i].key, key))
            return &p->e[i];
    }
    return NULL;
}

static int find_str(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return (int)i;
    return -1;
}

/* Trim blanks at both ends in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

/* `scales = a, b`: names as method names, distinct. */
static alig_status parse_scales(proto *p, const char *val, char *msg, size_t len)
{
    const char *q = val;
    for (;;) {
        const char *c = strchr(q, ',');
        size_t n = c ? (size_t)(c - q) : strlen(q);
        char item[ALIG_GRID_MAX_TOKEN];
        if (n >= sizeof item) n = sizeof item - 1;
        memcpy(item, q, n);
        item[n] = 0;
        char *t = trim(item);
        if (!valid_method_name(t)) {
            set_err(msg, len, "scales: '%s' is not a scale name (letters, digits, '.', '_', '+' or '-')", t);
            return ALIG_EINVAL;
        }
        if (find_str(p->scales, p->n_scales, t) >= 0) {
            set_err(msg, len, "scales: '%s' appears twice", t);
            return ALIG_EINVAL;
        }
        alig_status st = strv_push(&p->scales, &p->n_scales, t, strlen(t));
        if (st) return st;
        if (!c) return ALIG_SUCCESS;
        q = c + 1;
    }
}

static void list_scales(const proto *p, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < p->n_scales && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", p->scales[i]);
}

/* Longest protocol line: the canonical text puts an axis of ALIG_GRID_MAX_VALUES values of up to
 * ALIG_GRID_MAX_TOKEN bytes on one line (about 512 KiB), and must parse back (fuzz_protocol found
 * a 1019-value range that did not, with an earlier 4095-byte limit). */
#define PROTOCOL_MAX_LINE ((size_t)1 << 20)

static alig_status proto_read_lines(const char *text, const char *file, proto *p, char *line, char *err,
                                    size_t errlen);

/* Pass 1: read every line (into one buffer as long as the longest line). */
static alig_status proto_read(const char *text, const char *file, proto *p, char *err, size_t errlen)
{
    size_t longest = 0, lineno = 0;
    for (const char *q = text; *q;) {
        const char *eol = strchr(q, '\n');
        const size_t len = eol ? (size_t)(eol - q) : strlen(q);
        lineno++;
        if (len >= PROTOCOL_MAX_LINE) {
            memset(p, 0, sizeof *p);
            set_err(err, errlen, "%s:%zu: line longer than %zu bytes", file, lineno, PROTOCOL_MAX_LINE - 1);
            return ALIG_EFORMAT;
        }
        if (len > longest) longest = len;
        q = eol ? eol + 1 : q + len;
    }
    char *line = malloc(longest + 1);
    if (!line) {
        memset(p, 0, sizeof *p);
        set_err(err, errlen, "%s: out of memory", file);
        return ALIG_ENOMEM;
    }
    const alig_status st = proto_read_lines(text, file, p, line, err, errlen);
    free(line);
    return st;
}

static alig_status proto_read_lines(const char *text, const char *file, proto *p, char *line, char *err,
                                    size_t errlen)
{
    memset(p, 0, sizeof *p);
    alig_status st = proto_add_sec(p, SEC_TOP, -1, 0, 0);
    if (st) return st;
    size_t cur = 0, lineno = 0;
    int seen_unscoped_method = 0;
    const char *q = text;
    while (*q) {
        lineno++;
        const char *eol = strchr(q, '\n');
        size_t len = eol ? (size_t)(eol - q) : strlen(q);
        memcpy(line, q, len);     /* len <= the longest line, checked by proto_read */
        line[len] = 0;
        q = eol ? eol + 1 : q + len;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        size_t sl = strlen(s);
        if (!sl) continue;
        if (*s == '[') {
            if (s[sl - 1] != ']') {
                set_err(err, errlen, "%s:%zu: a section header is [common], [method NAME], [scale S], "
                        "[scale S: common] or [scale S: method NAME]", file, lineno);
                return ALIG_EFORMAT;
            }
            s[sl - 1] = 0;
            char *w = trim(s + 1);
            int scope = -1;
            if (!strncmp(w, "scale", 5) && isspace((unsigned char)w[5])) {
                char *nm = trim(w + 5), *colon = strchr(nm, ':');
                char *rest = NULL;
                if (colon) {
                    *colon = 0;
                    rest = trim(colon + 1);
                    nm = trim(nm);
                }
                if (!p->n_scales) {
                    set_err(err, errlen, "%s:%zu: [scale %s]: declare the protocol's scales first, at the top "
                            "(scales = NAME, ...)", file, lineno, nm);
                    return ALIG_EFORMAT;
                }
                scope = find_str(p->scales, p->n_scales, nm);
                if (scope < 0) {
                    char have[512];
                    list_scales(p, have, sizeof have);
                    set_err(err, errlen, "%s:%zu: unknown scale '%s' (this protocol's scales, line %zu: %s)", file,
                            lineno, nm, p->scales_line, have);
                    return ALIG_EFORMAT;
                }
                if (!rest) {     /* [scale S]: top-level keys of scale S */
                    for (size_t k = 0; k < p->n_s; k++)
                        if (p->s[k].kind == SEC_TOP && p->s[k].scope == scope) {
                            set_err(err, errlen, "%s:%zu: [scale %s] appears twice (first at line %zu)", file,
                                    lineno, nm, p->s[k].line);
                            return ALIG_EFORMAT;
                        }
                    if ((st = proto_add_sec(p, SEC_TOP, scope, 0, lineno))) return st;
                    cur = p->n_s - 1;
                    continue;
                }
                w = rest;
            }
            int kind;
            size_t method = 0;
            const char *label = scope >= 0 ? p->scales[scope] : NULL;
            if (!strcmp(w, "common")) {
                kind = SEC_COMMON;
                if (scope < 0 && seen_unscoped_method) {
                    set_err(err, errlen, "%s:%zu: [common] must come before the [method] sections", file, lineno);
                    return ALIG_EFORMAT;
                }
            } else if (!strncmp(w, "method", 6) && isspace((unsigned char)w[6])) {
                kind = SEC_METHOD;
                char *nm = trim(w + 6);
                if (!valid_method_name(nm)) {
                    set_err(err, errlen, "%s:%zu: method '%s': a name is letters, digits, '.', '_', '+' or '-'", file,
                            lineno, nm);
                    return ALIG_EINVAL;
                }
                int m = find_str(p->methods, p->n_methods, nm);
                if (m < 0) {
                    if ((st = strv_push(&p->methods, &p->n_methods, nm, strlen(nm)))) return st;
                    m = (int)p->n_methods - 1;
                }
                method = (size_t)m;
                if (scope < 0) seen_unscoped_method = 1;
            } else {
                set_err(err, errlen, "%s:%zu: unknown section [%s] (expected [common], [method NAME], [scale S], "
                        "[scale S: common] or [scale S: method NAME])", file, lineno, w);
                return ALIG_EFORMAT;
            }
            for (size_t k = 0; k < p->n_s; k++)
                if (p->s[k].kind == kind && p->s[k].scope == scope && (kind != SEC_METHOD || p->s[k].method == method)) {
                    if (kind == SEC_COMMON && label)
                        set_err(err, errlen, "%s:%zu: [scale %s: common] appears twice", file, lineno, label);
                    else if (kind == SEC_COMMON)
                        set_err(err, errlen, "%s:%zu: [common] appears twice", file, lineno);
                    else if (label)
                        set_err(err, errlen, "%s:%zu: [scale %s: method %s] appears twice", file, lineno, label,
                                p->methods[method]);
                    else
                        set_err(err, errlen, "%s:%zu: method '%s' is given twice", file, lineno, p->methods[method]);
                    return ALIG_EFORMAT;
                }
            if ((st = proto_add_sec(p, kind, scope, method, lineno))) return st;
            cur = p->n_s - 1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            set_err(err, errlen, "%s:%zu: expected 'key = value', got '%.60s'", file, lineno, s);
            return ALIG_EFORMAT;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        if (!*key) {
            set_err(err, errlen, "%s:%zu: missing key before '='", file, lineno);
            return ALIG_EFORMAT;
        }
        if (!*val) {
            set_err(err, errlen, "%s:%zu: %s: missing value", file, lineno, key);
            return ALIG_EFORMAT;
        }
        const proto_sec *sec = &p->s[cur];
        if (sec->kind == SEC_TOP) {
            const int is_scales = !strcmp(key, "scales");
            if (is_scales && sec->scope >= 0) {
                set_err(err, errlen, "%s:%zu: 'scales' belongs at the top, not in [scale %s]", file, lineno,
                        p->scales[sec->scope]);
                return ALIG_EFORMAT;
            }
            size_t k = 0;
            while (top_keys[k] && strcmp(top_keys[k], key)) k++;
            if (!is_scales && !top_keys[k]) {
                set_err(err, errlen, "%s:%zu: unknown key '%s' (top level: base, seeds, seed_flag, rate, "
                        "diverge_factor, threads_per_cell, scales; axes go in [common] or [method NAME])", file, lineno,
                        key);
                return ALIG_EFORMAT;
            }
            if (is_scales) {
                if (p->scales_line) {
                    set_err(err, errlen, "%s:%zu: key 'scales' is given twice", file, lineno);
                    return ALIG_EFORMAT;
                }
                char msg[512];
                if ((st = parse_scales(p, val, msg, sizeof msg))) {
                    set_err(err, errlen, "%s:%zu: %s", file, lineno, msg);
                    return st;
                }
                p->scales_line = lineno;
                continue;
            }
        }
        for (size_t i = 0; i < p->n_e; i++)
            if (p->e[i].sec == cur && !strcmp(p->e[i].key, key)) {
                set_err(err, errlen, "%s:%zu: key '%s' is given twice", file, lineno, key);
                return ALIG_EFORMAT;
            }
        proto_entry *ne = realloc(p->e, (p->n_e + 1) * sizeof *ne);
        if (!ne) return ALIG_ENOMEM;
        p->e = ne;
        ne[p->n_e] = (proto_entry){ .sec = cur, .line = lineno };
        p->n_e++;
        if (!(ne[p->n_e - 1].key = dup_str(key)) || !(ne[p->n_e - 1].val = dup_str(val))) return ALIG_ENOMEM;
    }
    p->n_lines = lineno;
    return ALIG_SUCCESS;
}

/* ${NAME} in `val` replaced by the variable's value, into out. */
static alig_status substitute(const char *val, const alig_grid_parse_opts *o, char *out, size_t len, char *msg,
                              size_t msglen)
{
    size_t used = 0;
    out[0] = 0;
    for (const char *c = val; *c;) {
        const char *piece = c;
        size_t n = 1, adv = 1;
        if (c[0] == '$' && c[1] == '{') {
            const char *end = strchr(c + 2, '}');
            const size_t nl = end ? (size_t)(end - c - 2) : 0;
            int ok = end && nl > 0 && nl < ALIG_GRID_MAX_TOKEN;
            for (size_t k = 0; ok && k < nl; k++)
                if (!(isalnum((unsigned char)c[2 + k]) || c[2 + k] == '_')) ok = 0;
            if (!ok) {
                set_err(msg, msglen, "'%.40s': a variable is ${NAME}, NAME of letters, digits and '_'", c);
                return ALIG_EINVAL;
            }
            char name[ALIG_GRID_MAX_TOKEN];
            memcpy(name, c + 2, nl);
            name[nl] = 0;
            const char *v = NULL;
            for (size_t k = 0; o && k < o->n_vars; k++)
                if (!strcmp(o->var_names[k], name)) v = o->var_values[k];
            adv = n = nl + 3;               /* unset and allowed: kept as written */
            if (v) {
                piece = v;
                n = strlen(v);
            } else if (!(o && o->allow_unset)) {
                set_err(msg, msglen, "${%s} is not set (alig sweep --set %s=VALUE)", name, name);
                return ALIG_EINVAL;
            }
        }
        if (used + n + 1 > len) {
            set_err(msg, msglen, "value longer than %zu bytes after substituting variables", len - 1);
            return ALIG_EINVAL;
        }
        memcpy(out + used, piece, n);
        used += n;
        out[used] = 0;
        c += adv;
    }
    return ALIG_SUCCESS;
}

/* Apply one entry (top key, args or axis) to the grid under construction. */
static alig_status apply_entry(alig_grid *g, const proto_entry *e, int kind, size_t method,
                               const alig_grid_parse_opts *o, const char *file, char *err, size_t errlen)
{
    /* a value may be as long as a protocol line (an axis of every value; see PROTOCOL_MAX_LINE) */
    char msg[512] = "", *val = malloc(PROTOCOL_MAX_LINE);
    if (!val) {
        set_err(err, errlen, "%s:%zu: out of memory", file, e->line);
        return ALIG_ENOMEM;
    }
    alig_status st = substitute(e->val, o, val, PROTOCOL_MAX_LINE, msg, sizeof msg);
    if (!st) {
        if (kind == SEC_TOP) {
            const char *key = e->key;
            if (!strcmp(key, "base")) st = alig_grid_set_base(g, val, msg, sizeof msg);
            else if (!strcmp(key, "seeds")) st = alig_grid_set_seeds(g, val, msg, sizeof msg);
            else if (!strcmp(key, "rate")) st = alig_grid_set_rate(g, val, msg, sizeof msg);
            else if (!strcmp(key, "seed_flag")) {
                if (!valid_flag_name(val) || strlen(val) >= ALIG_GRID_MAX_TOKEN) {
                    st = ALIG_EINVAL;
                    snprintf(msg, sizeof msg, "seed_flag: '%.60s' is not a flag name", val);
                } else {
                    char *d = dup_str(val);
                    if (!d) st = ALIG_ENOMEM;
                    else {
                        free(g->seed_flag);
                        g->seed_flag = d;
                    }
                }
            } else if (!strcmp(key, "threads_per_cell")) {
                char *end;
                errno = 0;
                unsigned long v = isdigit((unsigned char)val[0]) ? strtoul(val, &end, 10) : 0;
                if (!v || errno || *end || v > 4096) {
                    st = ALIG_EINVAL;
                    snprintf(msg, sizeof msg, "threads_per_cell: '%.60s' is not an integer in [1, 4096]", val);
                } else
                    g->threads = (size_t)v;
            } else {   /* diverge_factor */
                char *end;
                double v = strtod(val, &end);
                if (*end || end == val || !isfinite(v) || !(v > 1.0)) {
                    st = ALIG_EINVAL;
                    snprintf(msg, sizeof msg, "diverge_factor: '%.60s' is not a finite number > 1", val);
                } else
                    g->diverge_factor = v;
            }
        } else if (kind == SEC_METHOD && !strcmp(e->key, "args")) {
            st = alig_grid_set_args(g, method, val, msg, sizeof msg);
        } else {
            st = alig_grid_add_axis(g, kind == SEC_COMMON ? (size_t)-1 : method, e->key, val, msg, sizeof msg);
        }
    }
    if (st) set_err(err, errlen, "%s:%zu: %s", file, e->line, msg[0] ? msg : alig_strerror(st));
    free(val);
    return st;
}

/* The axes of one section kind (common, or method m): unscoped keys in their order, each with the
 * value of scale `sel` when that scale gives one, then the keys only scale `sel` gives. */
static alig_status apply_axes(alig_grid *g, const proto *p, int kind, size_t m, size_t gm, int sel,
                              const alig_grid_parse_opts *o, const char *file, char *err, size_t errlen)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < p->n_e; i++) {
            const proto_entry *e = &p->e[i];
            const proto_sec *s = &p->s[e->sec];
            if (s->kind != kind || (kind == SEC_METHOD && s->method != m)) continue;
            if (kind == SEC_METHOD && !strcmp(e->key, "args")) continue;
            if (pass == 0 && s->scope != -1) continue;
            if (pass == 1 && (s->scope != sel || sel < 0 || proto_find(p, kind, -1, m, e->key))) continue;
            const proto_entry *use = e;
            if (pass == 0 && sel >= 0) {
                const proto_entry *over = proto_find(p, kind, sel, m, e->key);
                if (over) use = over;
            }
            alig_status st = apply_entry(g, use, kind, gm, o, file, err, errlen);
            if (st) return st;
        }
    return ALIG_SUCCESS;
}

alig_status alig_grid_parse_text_ex(const char *text, const char *file, const alig_grid_parse_opts *opts,
                                    alig_grid **out, char *err, size_t errlen)
{
    if (!text || !out) return ALIG_EINVAL;
    if (!file) file = "<protocol>";
    *out = NULL;
    proto p;
    alig_grid *g = NULL;
    alig_status st = proto_read(text, file, &p, err, errlen);
    if (st) goto fail;
    const char *scale = opts ? opts->scale : NULL;
    int sel = -1;
    char have[512];
    list_scales(&p, have, sizeof have);
    if (scale && !p.n_scales) {
        st = ALIG_EINVAL;
        set_err(err, errlen, "%s: this protocol has no scales (no 'scales' key): --scale %s does not apply", file,
                scale);
        goto fail;
    }
    if (!scale && p.n_scales) {
        st = ALIG_EINVAL;
        set_err(err, errlen, "%s:%zu: this protocol has scales %s: choose one (alig sweep --scale NAME)", file,
                p.scales_line, have);
        goto fail;
    }
    if (scale && (sel = find_str(p.scales, p.n_scales, scale)) < 0) {
        st = ALIG_EINVAL;
        set_err(err, errlen, "%s:%zu: unknown scale '%s' (this protocol's scales: %s)", file, p.scales_line, scale,
                have);
        goto fail;
    }
    if ((st = alig_grid_alloc(&g))) goto fail;
    /* top level: each key from [scale S] when given there, else from the top */
    const size_t last_line = p.n_lines;
    for (size_t k = 0; top_keys[k]; k++) {
        const proto_entry *e = sel >= 0 ? proto_find(&p, SEC_TOP, sel, 0, top_keys[k]) : NULL;
        if (!e) e = proto_find(&p, SEC_TOP, -1, 0, top_keys[k]);
        if (e && (st = apply_entry(g, e, SEC_TOP, 0, opts, file, err, errlen))) goto fail;
    }
    if (!g->n_base) {
        st = ALIG_EFORMAT;
        if (sel >= 0)
            set_err(err, errlen, "%s:%zu: missing key 'base' (the command each cell runs), at the top or in "
                    "[scale %s]", file, last_line, scale);
        else
            set_err(err, errlen, "%s:%zu: missing key 'base' (the command each cell runs)", file, last_line);
        goto fail;
    }
    if ((st = apply_axes(g, &p, SEC_COMMON, 0, (size_t)-1, sel, opts, file, err, errlen))) goto fail;
    /* methods present at this scale, in order of their first section at this scale */
    for (size_t k = 0; k < p.n_s; k++) {
        const proto_sec *s = &p.s[k];
        if (s->kind != SEC_METHOD || (s->scope != -1 && s->scope != sel)) continue;
        const char *name = p.methods[s->method];
        int dup = 0;
        for (size_t j = 0; j < g->n_methods; j++)
            if (!strcmp(g->methods[j].name, name)) dup = 1;
        if (dup) continue;
        char msg[512] = "";
        if ((st = alig_grid_add_method(g, name, msg, sizeof msg))) {
            set_err(err, errlen, "%s:%zu: %s", file, s->line, msg[0] ? msg : alig_strerror(st));
            goto fail;
        }
        const size_t gm = g->n_methods - 1;
        const proto_entry *a = sel >= 0 ? proto_find(&p, SEC_METHOD, sel, s->method, "args") : NULL;
        if (!a) a = proto_find(&p, SEC_METHOD, -1, s->method, "args");
        if (a && (st = apply_entry(g, a, SEC_METHOD, gm, opts, file, err, errlen))) goto fail;
        if ((st = apply_axes(g, &p, SEC_METHOD, s->method, gm, sel, opts, file, err, errlen))) goto fail;
    }
    if (opts && opts->threads) g->threads = opts->threads;
    char msg[512] = "";
    if ((st = alig_grid_validate(g, msg, sizeof msg))) {
        set_err(err, errlen, "%s: %s", file, msg);
        goto fail;
    }
    proto_free(&p);
    *out = g;
    return ALIG_SUCCESS;
fail:
    proto_free(&p);
    alig_grid_free(g);
    return st;
}

alig_status alig_grid_parse_text(const char *text, const char *file, alig_grid **out, char *err, size_t errlen)
{
    return alig_grid_parse_text_ex(text, file, NULL, out, err, errlen);
}

/* Read a whole file (NUL-terminated) of at most ALIG_GRID_MAX_FILE bytes. NULL on failure with errno
 * set (EFBIG when the file is larger: a pipe or /dev/zero ends there too, not in an endless read). */
static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int too_big = 0;
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (len > ALIG_GRID_MAX_FILE) {
            too_big = 1;
            break;
        }
        if (len + 1 < cap) break;
        size_t ncap = cap * 2 > ALIG_GRID_MAX_FILE + 2 ? ALIG_GRID_MAX_FILE + 2 : cap * 2;
        char *nb = realloc(buf, ncap);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap = ncap;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return NULL;
    if (too_big || bad) {
        free(buf);
        errno = too_big ? EFBIG : (errno ? errno : EIO);
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

alig_status alig_grid_parse_file_ex(const char *path, const alig_grid_parse_opts *opts, alig_grid **out, char *err,
                                    size_t errlen)
{
    if (!path || !out) return ALIG_EINVAL;
    *out = NULL;
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        if (errno == EFBIG) {
            set_err(err, errlen, "%s: larger than %zu MiB (not a protocol file?)", path, ALIG_GRID_MAX_FILE >> 20);
            return ALIG_EBADLEN;
        }
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return ALIG_EIO;
    }
    alig_status st;
    if (strlen(text) != len) {
        set_err(err, errlen, "%s: holds a NUL byte (not a text file)", path);
        st = ALIG_EFORMAT;
    } else
        st = alig_grid_parse_text_ex(text, path, opts, out, err, errlen);
    free(text);
    return st;
}

alig_status alig_grid_parse_file(const char *path, alig_grid **out, char *err, size_t errlen)
{
    return alig_grid_parse_file_ex(path, NULL, out, err, errlen);
}

static void write_list(FILE *f, char *const *v, size_t n, const char *sep)
{
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%s", i ? sep : "", v[i]);
}

alig_status alig_grid_write_protocol(const alig_grid *g, FILE *f)
{
    if (!g || !f || !g->validated) return ALIG_EINVAL;
    fprintf(f, "# alig sweep protocol (canonical form; see docs/sweep.md)\nbase = ");
    write_list(f, g->base, g->n_base, " ");
    if (g->n_seeds) {
        fprintf(f, "\nseeds = ");
        for (size_t i = 0; i < g->n_seeds; i++) fprintf(f, "%s%lu", i ? "," : "", g->seeds[i]);
    }
    fprintf(f, "\nseed_flag = %s\nrate = ", g->seed_flag);
    write_list(f, g->rate, g->n_rate, ",");
    fprintf(f, "\ndiverge_factor = %.17g\nthreads_per_cell = %zu\n", g->diverge_factor, g->threads);
    if (g->n_common) {
        fprintf(f, "\n[common]\n");
        for (size_t k = 0; k < g->n_common; k++) {
            fprintf(f, "%s = ", g->common[k].name);
            write_list(f, g->common[k].values, g->common[k].n, ",");
            fputc('\n', f);
        }
    }
    for (size_t m = 0; m < g->n_methods; m++) {
        const alig_grid_method *me = &g->methods[m];
        if (!me->name[0]) continue;     /* the implicit method: nothing of its own */
        fprintf(f, "\n[method %s]\n", me->name);
        if (me->n_args) {
            fprintf(f, "args = ");
            write_list(f, me->args, me->n_args, " ");
            fputc('\n', f);
        }
        for (size_t k = 0; k < me->n_axes; k++) {
            fprintf(f, "%s = ", me->axes[k].name);
            write_list(f, me->axes[k].values, me->axes[k].n, ",");
            fputc('\n', f);
        }
    }
    return ferror(f) ? ALIG_EIO : ALIG_SUCCESS;
}

/* ================================================================ JSON (flat objects only) */

/* A growing string. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) b->failed = 1;
    else sb_add(b, tmp, (size_t)n);
}

/* A JSON string literal (quotes included). */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            sb_add(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else
            sb_add(b, s, 1);
    }
    sb_add(b, "\"", 1);
}

static void shortest(char *buf, size_t len, double v);

static void sb_json_num(sbuf *b, double v)
{
    char buf[40];
    if (isfinite(v)) {
        shortest(buf, sizeof buf, v);
        sb_str(b, buf);
    } else
        sb_str(b, "null");
}

/* ================================================================ configs and results */

alig_status alig_grid_cell_config(const alig_grid *g, size_t i, char **json)
{
    alig_grid_cell c;
    if (!json || alig_grid_cell_at(g, i, &c)) return ALIG_EINVAL;
    *json = NULL;
    char name[ALIG_GRID_MAX_NAME];
    alig_status st = alig_grid_cell_name(g, i, name, sizeof name);
    if (st) return st;
    char **argv;
    size_t argc;
    if ((st = alig_grid_cell_argv(g, i, &argv, &argc))) return st;
    sbuf b = { 0 };
    sb_str(&b, "{\n  \"cell\": ");
    sb_json_str(&b, name);
    sb_printf(&b, ",\n  \"index\": %zu,\n  \"method\": ", i);
    sb_json_str(&b, g->methods[c.method].name);
    sb_str(&b, ",\n  \"axes\": {");
    for (size_t k = 0; k < c.n_axes; k++) {
        const alig_grid_axis *a = alig_grid_cell_axis(g, &c, k);
        sb_str(&b, k ? ", " : "");
        sb_json_str(&b, a->name);
        sb_str(&b, ": ");
        sb_json_str(&b, a->values[c.value[k]]);
    }
    if (g->n_seeds) sb_printf(&b, "},\n  \"seed\": %lu,\n", g->seeds[c.seed]);
    else sb_str(&b, "},\n  \"seed\": null,\n");
    /* a cell run with another thread count is another run (reductions split differently); the
     * default of 1 is left out so that sweeps made before this member existed still resume */
    if (g->threads != 1) sb_printf(&b, "  \"threads_per_cell\": %zu,\n", g->threads);
    sb_str(&b, "  \"argv\": [");
    for (size_t k = 0; k < argc; k++) {
        sb_str(&b, k ? ", " : "");
        sb_json_str(&b, argv[k]);
    }
    sb_str(&b, "]\n}\n");
    alig_grid_argv_free(argv);
    if (b.failed) {
        free(b.s);
        return ALIG_ENOMEM;
    }
    *json = b.s;
    return ALIG_SUCCESS;
}

alig_status alig_grid_result_format(const alig_grid_result *r, char *buf, size_t len)
{
    if (!r || !buf) return ALIG_EINVAL;
    sbuf b = { 0 };
    sb_str(&b, "{\n  \"status\": ");
    sb_json_str(&b, alig_grid_status_name(r->status));
    sb_printf(&b, ",\n  \"exit\": %d,\n  \"steps\": ", r->exit_code);
    sb_json_num(&b, r->steps);
    const struct { const char *k; double v; } nums[] = { { "obj_first", r->obj_first }, { "obj_last", r->obj_last },
                                                          { "obj_best", r->obj_best } };
    for (size_t k = 0; k < 3; k++) {
        sb_printf(&b, ",\n  \"%s\": ", nums[k].k);
        sb_json_num(&b, nums[k].v);
    }
    sb_str(&b, ",\n  \"metric\": ");
    sb_json_str(&b, r->metric);
    sb_str(&b, ",\n  \"metric_last\": ");
    sb_json_num(&b, r->metric_last);
    sb_str(&b, ",\n  \"metric_best\": ");
    sb_json_num(&b, r->metric_best);
    sb_str(&b, ",\n  \"note\": ");
    sb_json_str(&b, r->note);
    sb_str(&b, ",\n  \"wall_s\": ");
    sb_json_num(&b, r->wall_s);
    sb_str(&b, "\n}\n");
    alig_status st = ALIG_SUCCESS;
    if (b.failed) st = ALIG_ENOMEM;
    else if (b.len + 1 > len) st = ALIG_EBADLEN;
    else memcpy(buf, b.s, b.len + 1);
    free(b.s);
    return st;
}

typedef struct {
    alig_grid_result *r;
    unsigned seen;
    int bad;
} result_ctx;

/* Copy s into out (at most len-1 bytes), control characters replaced by spaces, as first_line()
 * does for the notes it takes from stderr: a note or metric name is one printable line, so its
 * JSON form (at most 6 bytes per character only for control characters) keeps the result within
 * the 1024 bytes alig_grid_result_format promises. */
static void printable(char *out, size_t len, const char *s)
{
    size_t n = 0;
    for (; s[n] && n + 1 < len; n++) out[n] = (unsigned char)s[n] < 0x20 ? ' ' : s[n];
    out[n] = 0;
}

static void result_cb(const char *key, double num, const char *str, void *vctx)
{
    result_ctx *c = vctx;
    alig_grid_result *r = c->r;
    static const char *const keys[] = { "status", "exit", "steps", "obj_first", "obj_last", "obj_best", "metric",
                                        "metric_last", "metric_best", "note", "wall_s" };
    size_t k = 0;
    while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k], key)) k++;
    if (k == sizeof keys / sizeof keys[0]) return;    /* unknown keys: tolerated (forward compatibility) */
    c->seen |= 1u << k;
    const int is_str = k == 0 || k == 6 || k == 9;
    if (is_str != (str != NULL) || (!str && !isnan(num) && !isfinite(num))) {
        c->bad = 1;     /* the writer stores non-finite numbers as null: "1e999" was not written by it */
        return;
    }
    switch (k) {
    case 0: {
        int found = 0;
        for (int s = ALIG_GRID_OK; s <= ALIG_GRID_FAILED; s++)
            if (!strcmp(str, alig_grid_status_name((alig_grid_status)s))) {
                r->status = (alig_grid_status)s;
                found = 1;
            }
        if (!found) c->bad = 1;
        break;
    }
    case 1:
        if (!(num >= -1000 && num <= 1000) || num != floor(num)) c->bad = 1;
        else r->exit_code = (int)num;
        break;
    case 2: r->steps = num; break;
    case 3: r->obj_first = num; break;
    case 4: r->obj_last = num; break;
    case 5: r->obj_best = num; break;
    case 6: printable(r->metric, sizeof r->metric, str); break;
    case 7: r->metric_last = num; break;
    case 8: r->metric_best = num; break;
    case 9: printable(r->note, sizeof r->note, str); break;
    case 10: r->wall_s = num; break;
    }
}

alig_status alig_grid_result_parse(const char *text, alig_grid_result *r)
{
    if (!text || !r) return ALIG_EINVAL;
    alig_grid_result tmp = { 0 };
    result_ctx c = { .r = &tmp };
    const char *p = text;
    if (alig_json_object(&p, result_cb, &c) || c.bad || c.seen != (1u << 11) - 1) return ALIG_EFORMAT;
    alig_json_skip_ws(&p);
    if (*p) return ALIG_EFORMAT;
    tmp.done = 1;
    *r = tmp;
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- the key mapping table */

/* Which column (solve CSV) or key (train log.jsonl) gives each summary quantity. For each role
 * the first key present in the run's output wins. To follow a new log format, add its key here.
 * `best_max`: the metric's best value is its largest (accuracy) rather than its smallest (gap). */
enum { ROLE_OBJ, ROLE_STEPS, ROLE_METRIC, N_ROLES };
typedef struct key_map_row {
    alig_grid_kind kind;
    int role;
    int best_max;
    const char *keys[6];
} key_map_row;

static const key_map_row key_map[] = {
    { ALIG_GRID_SOLVE, ROLE_OBJ, 0, { "f_gap", NULL } },
    { ALIG_GRID_SOLVE, ROLE_STEPS, 0, { "iter", NULL } },
    { ALIG_GRID_SOLVE, ROLE_METRIC, 0, { "avg_gap", NULL } },
    { ALIG_GRID_TRAIN, ROLE_OBJ, 0, { "train_loss", "loss", "mean_loss", "loss_mean", "train_loss_mean", NULL } },
    { ALIG_GRID_TRAIN, ROLE_STEPS, 0, { "steps", "step", NULL } },
    { ALIG_GRID_TRAIN, ROLE_METRIC, 1, { "val_acc", "test_acc", "acc", "train_acc", NULL } },
};
#define N_KEY_MAP (sizeof key_map / sizeof key_map[0])

static const key_map_row *map_row(alig_grid_kind kind, int role)
{
    for (size_t i = 0; i < N_KEY_MAP; i++)
        if (key_map[i].kind == kind && key_map[i].role == role) return &key_map[i];
    return NULL;
}

/* Accumulates the records of a run. */
typedef struct series {
    int have[N_ROLES];
    double first[N_ROLES], last[N_ROLES], best[N_ROLES];
    size_t records;
} series;

static void series_add(series *s, const key_map_row *const rows[N_ROLES], const int present[N_ROLES],
                       const double v[N_ROLES])
{
    for (int k = 0; k < N_ROLES; k++) {
        if (!present[k]) continue;
        if (!s->have[k]) {
            s->have[k] = 1;
            s->first[k] = v[k];
            s->best[k] = NAN;
        }
        s->last[k] = v[k];
        if (isfinite(v[k]) && (isnan(s->best[k]) || (rows[k]->best_max ? v[k] > s->best[k] : v[k] < s->best[k])))
            s->best[k] = v[k];
    }
    s->records++;
}

/* run.csv of `alig solve`: header, then rows of numbers. */
static int read_solve_csv(const char *path, series *s, char *key_metric, size_t klen, char *note, size_t nlen)
{
    char *text = slurp(path, NULL);
    if (!text) {
        snprintf(note, nlen, "no results: %s is missing", "run.csv");
        return -1;
    }
    const key_map_row *rows[N_ROLES];
    int col[N_ROLES];
    for (int k = 0; k < N_ROLES; k++) {
        rows[k] = map_row(ALIG_GRID_SOLVE, k);
        col[k] = -1;
    }
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line) {
        free(text);
        snprintf(note, nlen, "no results: run.csv is empty");
        return -1;
    }
    /* header: for each role, the column of the earliest key of the table that is present */
    int rank[N_ROLES];
    for (int k = 0; k < N_ROLES; k++) rank[k] = -1;
    {
        int idx = 0;
        for (char *h = line;; idx++) {
            char *comma = strchr(h, ',');
            size_t len = comma ? (size_t)(comma - h) : strcspn(h, "\r");
            for (int k = 0; k < N_ROLES; k++)
                for (int j = 0; rows[k]->keys[j]; j++)
                    if (strlen(rows[k]->keys[j]) == len && !strncmp(h, rows[k]->keys[j], len) &&
                        (rank[k] < 0 || j < rank[k])) {
                        rank[k] = j;
                        col[k] = idx;
                    }
            if (!comma) break;
            h = comma + 1;
        }
    }
    if (col[ROLE_OBJ] < 0) {
        free(text);
        snprintf(note, nlen, "no results: run.csv has no %s column", rows[ROLE_OBJ]->keys[0]);
        return -1;
    }
    if (col[ROLE_METRIC] >= 0) snprintf(key_metric, klen, "%s", rows[ROLE_METRIC]->keys[rank[ROLE_METRIC]]);
    while ((line = strtok_r(NULL, "\n", &save))) {
        int present[N_ROLES] = { 0 };
        double v[N_ROLES] = { 0 };
        int idx = 0;
        for (char *f = line;; idx++) {
            for (int k = 0; k < N_ROLES; k++)
                if (col[k] == idx) {
                    char *end;
                    v[k] = strtod(f, &end);
                    present[k] = end != f;
                }
            char *comma = strchr(f, ',');
            if (!comma) break;
            f = comma + 1;
        }
        if (present[ROLE_OBJ]) series_add(s, rows, present, v);
    }
    free(text);
    if (!s->records) {
        snprintf(note, nlen, "no results: run.csv has no rows");
        return -1;
    }
    return 0;
}

/* The JSON keys of one log record, for the roles. */
typedef struct jsonl_ctx {
    const key_map_row *rows[N_ROLES];
    int rank[N_ROLES];      /* position in the row's key list of the key seen (smaller wins) */
    double v[N_ROLES];
} jsonl_ctx;

static void jsonl_cb(const char *key, double num, const char *str, void *vctx)
{
    jsonl_ctx *c = vctx;
    if (str) return;
    for (int k = 0; k < N_ROLES; k++)
        for (int j = 0; c->rows[k]->keys[j]; j++)
            if (!strcmp(key, c->rows[k]->keys[j]) && (c->rank[k] < 0 || j < c->rank[k])) {
                c->rank[k] = j;
                c->v[k] = num;
            }
}

static int read_train_jsonl(const char *path, series *s, char *key_metric, size_t klen, char *note, size_t nlen)
{
    char *text = slurp(path, NULL);
    if (!text) {
        snprintf(note, nlen, "no results: run/log.jsonl is missing");
        return -1;
    }
    const key_map_row *rows[N_ROLES];
    for (int k = 0; k < N_ROLES; k++) rows[k] = map_row(ALIG_GRID_TRAIN, k);
    int bad_lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *p = line;
        alig_json_skip_ws(&p);
        if (!*p) continue;
        jsonl_ctx c;
        for (int k = 0; k < N_ROLES; k++) {
            c.rows[k] = rows[k];
            c.rank[k] = -1;
            c.v[k] = NAN;
        }
        if (alig_json_object(&p, jsonl_cb, &c)) {
            bad_lines++;        /* e.g. a line cut short: skipped, counted */
            continue;
        }
        int present[N_ROLES];
        for (int k = 0; k < N_ROLES; k++) present[k] = c.rank[k] >= 0;
        if (!present[ROLE_OBJ]) continue;
        if (present[ROLE_METRIC]) snprintf(key_metric, klen, "%s", rows[ROLE_METRIC]->keys[c.rank[ROLE_METRIC]]);
        series_add(s, rows, present, c.v);
    }
    free(text);
    if (!s->records) {
        snprintf(note, nlen, "no results: run/log.jsonl has no record with a loss%s", bad_lines ? " (malformed lines)" : "");
        return -1;
    }
    return 0;
}

/* First line of text, control characters replaced, at most len-1 bytes. */
static void first_line(const char *text, char *out, size_t len)
{
    size_t n = 0;
    if (text)
        for (; text[n] && text[n] != '\n' && n + 1 < len; n++)
            out[n] = (unsigned char)text[n] < 0x20 ? ' ' : text[n];
    out[n] = 0;
}

alig_status alig_grid_classify(const alig_grid *g, const char *cell_dir, int exit_code, const char *stderr_text,
                               double wall_s, alig_grid_result *r)
{
    if (!g || !cell_dir || !r) return ALIG_EINVAL;
    memset(r, 0, sizeof *r);
    r->done = 1;
    r->exit_code = exit_code;
    r->wall_s = wall_s;
    r->steps = r->obj_first = r->obj_last = r->obj_best = r->metric_last = r->metric_best = NAN;
    char path[4096];
    series s = { 0 };
    char note[sizeof r->note] = "";
    snprintf(path, sizeof path, "%s/%s", cell_dir, g->kind == ALIG_GRID_SOLVE ? "run.csv" : "run/log.jsonl");
    const int have = g->kind == ALIG_GRID_SOLVE ? read_solve_csv(path, &s, r->metric, sizeof r->metric, note, sizeof note)
                                                 : read_train_jsonl(path, &s, r->metric, sizeof r->metric, note,
                                                                    sizeof note) == 0 ? 0 : -1;
    if (have == 0) {
        r->obj_first = s.first[ROLE_OBJ];
        r->obj_last = s.last[ROLE_OBJ];
        r->obj_best = s.best[ROLE_OBJ];
        if (s.have[ROLE_STEPS]) r->steps = s.last[ROLE_STEPS];
        if (s.have[ROLE_METRIC]) {
            r->metric_last = s.last[ROLE_METRIC];
            r->metric_best = s.best[ROLE_METRIC];
        } else
            r->metric[0] = 0;
    } else
        r->metric[0] = 0;
    const int nonfinite_msg = stderr_text && (strstr(stderr_text, "non-finite") ||
                                              strstr(stderr_text, alig_strerror(ALIG_ENONFINITE)));
    /* `alig solve` refuses to write a run that explodes and says "... diverged: ..." (exit 1) */
    const int diverged_msg = stderr_text && strstr(stderr_text, " diverged: ");
    if (exit_code != 0) {
        r->status = nonfinite_msg ? ALIG_GRID_NONFINITE : diverged_msg ? ALIG_GRID_DIVERGED : ALIG_GRID_FAILED;
        first_line(stderr_text, r->note, sizeof r->note);
        if (!r->note[0]) {
            if (exit_code > 128) snprintf(r->note, sizeof r->note, "killed by signal %d", exit_code - 128);
            else snprintf(r->note, sizeof r->note, "exit status %d", exit_code);
        }
        return ALIG_SUCCESS;
    }
    if (have != 0) {
        r->status = ALIG_GRID_FAILED;
        snprintf(r->note, sizeof r->note, "%s", note);
        return ALIG_SUCCESS;
    }
    if (!isfinite(r->obj_last)) {
        r->status = ALIG_GRID_NONFINITE;
        snprintf(r->note, sizeof r->note, "final objective is not finite");
    } else if (isfinite(r->obj_first) && r->obj_first > 0 && r->obj_last > g->diverge_factor * r->obj_first) {
        r->status = ALIG_GRID_DIVERGED;
        snprintf(r->note, sizeof r->note, "final objective > %g x the first", g->diverge_factor);
    } else
        r->status = ALIG_GRID_OK;
    return ALIG_SUCCESS;
}

/* ================================================================ files of a sweep */

static alig_status cell_dir(const alig_grid *g, const char *dir, size_t i, char *path, size_t len)
{
    char name[ALIG_GRID_MAX_NAME];
    alig_status st = alig_grid_cell_name(g, i, name, sizeof name);
    if (st) return st;
    int n = snprintf(path, len, "%s/cells/%s", dir, name);
    return n < 0 || (size_t)n >= len ? ALIG_EBADLEN : ALIG_SUCCESS;
}

/* Write `text` to path atomically: path.tmp, fsync, rename. */
static alig_status write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return ALIG_EBADLEN;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return ALIG_EIO;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int bad = done != len || fsync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return ALIG_EIO;
    }
    return ALIG_SUCCESS;
}

alig_status alig_grid_cell_finished(const alig_grid *g, const char *dir, size_t i, int *finished,
                                    alig_grid_result *r)
{
    if (!g || !dir || !finished || !r) return ALIG_EINVAL;
    *finished = 0;
    char path[4096], file[4200];
    alig_status st = cell_dir(g, dir, i, path, sizeof path);
    if (st) return st;
    char *want;
    if ((st = alig_grid_cell_config(g, i, &want))) return st;
    snprintf(file, sizeof file, "%s/config.json", path);
    char *have = slurp(file, NULL);
    const int same = have && !strcmp(have, want);
    free(have);
    free(want);
    if (!same) return ALIG_SUCCESS;
    snprintf(file, sizeof file, "%s/result.json", path);
    char *res = slurp(file, NULL);
    if (res && alig_grid_result_parse(res, r) == ALIG_SUCCESS) *finished = 1;
    free(res);
    return ALIG_SUCCESS;
}

/* rm -r of a tree made by a run (no symlinks followed). */
static int remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(sb.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4200];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) {
            rc = -1;
            continue;
        }
        rc |= remove_tree(sub);
    }
    closedir(d);
    return rc | rmdir(path);
}

static int mkdir_if(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

alig_status alig_grid_cell_prepare(const alig_grid *g, const char *dir, size_t i, char *path, size_t len,
                                   char *err, size_t errlen)
{
    if (!g || !dir || !path) return ALIG_EINVAL;
    alig_status st = cell_dir(g, dir, i, path, len);
    if (st) return st;
    char file[4200];
    snprintf(file, sizeof file, "%s/cells", dir);
    if (mkdir_if(dir) || mkdir_if(file) || mkdir_if(path)) {
        set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return ALIG_EIO;
    }
    static const char *const leftovers[] = { "result.json", "config.json", "stdout.txt", "stderr.txt", "run.csv", "run", NULL };
    for (size_t k = 0; leftovers[k]; k++) {
        snprintf(file, sizeof file, "%s/%s", path, leftovers[k]);
        if (remove_tree(file) != 0) {
            set_err(err, errlen, "cannot remove %s: %s", file, strerror(errno));
            return ALIG_EIO;
        }
    }
    /* a solve run writes run.csv.tmp.* next to run.csv; remove any left by a killed run */
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (!strncmp(e->d_name, "run.csv.", 8) || !strncmp(e->d_name, "result.json.", 12) ||
                !strncmp(e->d_name, "config.json.", 12)) {
                snprintf(file, sizeof file, "%s/%s", path, e->d_name);
                unlink(file);
            }
        closedir(d);
    }
    char *cfg;
    if ((st = alig_grid_cell_config(g, i, &cfg))) return st;
    snprintf(file, sizeof file, "%s/config.json", path);
    st = write_atomic(file, cfg, strlen(cfg));
    free(cfg);
    if (st) set_err(err, errlen, "cannot write %s: %s", file, strerror(errno));
    return st;
}

alig_status alig_grid_cell_store(const alig_grid *g, const char *dir, size_t i, const alig_grid_result *r)
{
    if (!g || !dir || !r) return ALIG_EINVAL;
    char path[4096], file[4200], text[2048];
    alig_status st = cell_dir(g, dir, i, path, sizeof path);
    if (st || (st = alig_grid_result_format(r, text, sizeof text))) return st;
    snprintf(file, sizeof file, "%s/result.json", path);
    return write_atomic(file, text, strlen(text));
}

/* The shortest "%.Pg" text, 15 <= P <= 17, that reads back as exactly v (as `alig solve` writes its CSV). */
static void shortest(char *buf, size_t len, double v)
{
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

void alig_grid_fprint_num(FILE *f, double v)
{
    if (isnan(v)) fputs("nan", f);
    else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
    else {
        char buf[40];
        shortest(buf, sizeof buf, v);
        fputs(buf, f);
    }
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

alig_status alig_grid_summary_write(const alig_grid *g, const alig_grid_result *results, const char *path)
{
    if (!g || !results || !path || !g->validated) return ALIG_EINVAL;
    /* distinct axis names in order of first appearance */
    const char *names[ALIG_GRID_MAX_AXES * 8];
    size_t n_names = 0;
    for (size_t m = 0; m < g->n_methods; m++)
        for (size_t k = 0; k < g->n_common + g->methods[m].n_axes; k++) {
            const char *nm = k < g->n_common ? g->common[k].name : g->methods[m].axes[k - g->n_common].name;
            size_t j = 0;
            while (j < n_names && strcmp(names[j], nm)) j++;
            if (j == n_names) {
                if (n_names == sizeof names / sizeof names[0]) return ALIG_EINVAL;
                names[n_names++] = nm;
            }
        }
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return ALIG_EBADLEN;
    FILE *f = fopen(tmp, "w");
    if (!f) return ALIG_EIO;
    fputs("cell,method", f);
    for (size_t j = 0; j < n_names; j++) fprintf(f, ",%s", names[j]);
    fputs(",seed,status,exit,steps,obj_first,obj_last,obj_best,metric,metric_last,metric_best,note,wall_s\n", f);
    const size_t n = alig_grid_n_cells(g);
    for (size_t i = 0; i < n; i++) {
        const alig_grid_result *r = &results[i];
        if (!r->done) continue;
        alig_grid_cell c;
        char name[ALIG_GRID_MAX_NAME];
        alig_grid_cell_at(g, i, &c);
        alig_grid_cell_name(g, i, name, sizeof name);
        fprintf(f, "%s,", name);
        csv_field(f, g->methods[c.method].name);
        for (size_t j = 0; j < n_names; j++) {
            fputc(',', f);
            for (size_t k = 0; k < c.n_axes; k++) {
                const alig_grid_axis *a = alig_grid_cell_axis(g, &c, k);
                if (!strcmp(a->name, names[j])) fputs(a->values[c.value[k]], f);
            }
        }
        if (g->n_seeds) fprintf(f, ",%lu", g->seeds[c.seed]);
        else fputc(',', f);
        fprintf(f, ",%s,%d,", alig_grid_status_name(r->status), r->exit_code);
        const double v1[] = { r->steps, r->obj_first, r->obj_last, r->obj_best };
        for (size_t k = 0; k < 4; k++) {
            alig_grid_fprint_num(f, v1[k]);
            fputc(',', f);
        }
        csv_field(f, r->metric);
        fputc(',', f);
        alig_grid_fprint_num(f, r->metric_last);
        fputc(',', f);
        alig_grid_fprint_num(f, r->metric_best);
        fputc(',', f);
        csv_field(f, r->note);
        fputc(',', f);
        fprintf(f, "%.3f\n", r->wall_s);
    }
    int bad = ferror(f) != 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return ALIG_EIO;
    }
    return ALIG_SUCCESS;
}

/* ================================================================ compute estimates */

/* The last value of --name in argv ("--name V" or "--name=V"), or NULL. Flags without a value
 * (train's --quiet and --profile) are skipped. */
static const char *argv_value(char *const *argv, size_t argc, const char *name)
{
    const char *v = NULL;
    const size_t len = strlen(name);
    for (size_t k = 0; k < argc; k++) {
        const char *a = argv[k];
        if (a[0] != '-' || a[1] != '-') continue;
        if (!strncmp(a + 2, name, len) && a[2 + len] == '=') v = a + 3 + len;
        else if (!strcmp(a + 2, name) && k + 1 < argc) v = argv[k + 1];
    }
    return v;
}

/* A whole non-negative decimal number (at most 2^53) in *out. */
static int parse_count(const char *s, double *out)
{
    if (!s || !isdigit((unsigned char)*s)) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > (1ull << 53)) return 0;
    *out = (double)v;
    return 1;
}

alig_status alig_grid_cell_work(const alig_grid *g, size_t i, alig_grid_work *w, char *err, size_t errlen)
{
    if (!g || !w) return ALIG_EINVAL;
    memset(w, 0, sizeof *w);
    if (g->kind != ALIG_GRID_TRAIN) {
        set_err(err, errlen, "an estimate is for train grids (images per second); this grid runs solve");
        return ALIG_EINVAL;
    }
    char **argv;
    size_t argc;
    alig_status st = alig_grid_cell_argv(g, i, &argv, &argc);
    if (st) return st;
    char name[ALIG_GRID_MAX_NAME] = "";
    alig_grid_cell_name(g, i, name, sizeof name);
    st = ALIG_EINVAL;
    const char *task = argv_value(argv, argc, "task"), *data = argv_value(argv, argc, "data");
    const char *model = argv_value(argv, argc, "model");
    if (task && !strcmp(task, "repeat-copy")) {
        set_err(err, errlen, "cell %s: repeat-copy has no images; an estimate is for image tasks", name);
        goto done;
    }
    if ((task && strcmp(task, "fashion-mnist")) || argv_value(argv, argc, "train-images")) {
        set_err(err, errlen, "cell %s: IDX files: the training-set size is not known from the command line", name);
        goto done;
    }
    if (!data) data = "fashion-mnist";
    double total, val = 5000, test = 10000;
    w->channels = 3;
    w->height = w->width = 32;
    w->classes = 10;
    if (!strcmp(data, "fashion-mnist")) {
        total = 60000;
        w->channels = 1;
        w->height = w->width = 28;
    } else if (!strcmp(data, "cifar10")) {
        total = 50000;
        w->augment = 1;
    } else if (!strcmp(data, "cifar100")) {
        total = 50000;
        w->augment = 1;
        const char *lab = argv_value(argv, argc, "labels");
        w->classes = lab && !strcmp(lab, "coarse") ? 20 : 100;
    } else if (!strcmp(data, "svhn")) {
        const char *extra = argv_value(argv, argc, "svhn-extra");
        total = 73257 + (extra && !strcmp(extra, "off") ? 0 : 531131);
        val = 6000;
        test = 26032;
    } else {
        set_err(err, errlen, "cell %s: --data %s: the training-set size is known for fashion-mnist, cifar10, "
                "cifar100 and svhn only", name, data);
        goto done;
    }
    snprintf(w->data, sizeof w->data, "%s", data);
    const char *a = argv_value(argv, argc, "augment");
    if (a) w->augment = !strcmp(a, "on");
    double v, batch = 128;
    if (argv_value(argv, argc, "val") && (!parse_count(argv_value(argv, argc, "val"), &val) || val < 1)) {
        set_err(err, errlen, "cell %s: --val %s is not a count >= 1", name, argv_value(argv, argc, "val"));
        goto done;
    }
    if (argv_value(argv, argc, "batch") && (!parse_count(argv_value(argv, argc, "batch"), &batch) || batch < 1)) {
        set_err(err, errlen, "cell %s: --batch %s is not a count >= 1", name, argv_value(argv, argc, "batch"));
        goto done;
    }
    w->batch = (size_t)batch;
    w->train_size = total - val;
    if (!(w->train_size >= 1)) {
        set_err(err, errlen, "cell %s: --val %.0f leaves no training image", name, val);
        goto done;
    }
    if (argv_value(argv, argc, "train-subset")) {
        if (!parse_count(argv_value(argv, argc, "train-subset"), &v) || v < 1) {
            set_err(err, errlen, "cell %s: --train-subset is not a count >= 1", name);
            goto done;
        }
        if (v < w->train_size) w->train_size = v;
    }
    if (argv_value(argv, argc, "test-subset")) {
        if (!parse_count(argv_value(argv, argc, "test-subset"), &v) || v < 1) {
            set_err(err, errlen, "cell %s: --test-subset is not a count >= 1", name);
            goto done;
        }
        if (v < test) test = v;
    }
    w->per_epoch = w->train_size;
    if (argv_value(argv, argc, "max-batches")) {
        if (!parse_count(argv_value(argv, argc, "max-batches"), &v) || v < 1) {
            set_err(err, errlen, "cell %s: --max-batches is not a count >= 1", name);
            goto done;
        }
        if (v * batch < w->per_epoch) w->per_epoch = v * batch;
    }
    const char *ep = argv_value(argv, argc, "epochs"), *sp = argv_value(argv, argc, "steps");
    if (ep && parse_count(ep, &w->epochs) && w->epochs >= 1) {
        w->images = w->epochs * w->per_epoch;
        w->eval_images = w->epochs * (val + test);
    }
    else if (!ep && sp && parse_count(sp, &w->steps) && w->steps >= 1) w->images = w->steps * batch;
    else {
        set_err(err, errlen, "cell %s: no --epochs N or --steps N (N >= 1) to count its images", name);
        goto done;
    }
    if (!model) {
        set_err(err, errlen, "cell %s: no --model", name);
        goto done;
    }
    const char *drop = argv_value(argv, argc, "dropout");
    snprintf(w->config, sizeof w->config, "input=%dx%dx%d classes=%d model=%s batch=%zu dropout=%s augment=%s",
             w->channels, w->height, w->width, w->classes, model, w->batch, drop ? drop : "0",
             w->augment ? "on" : "off");
    st = ALIG_SUCCESS;
done:
    alig_grid_argv_free(argv);
    return st;
}

double alig_grid_schedule(const double *seconds, size_t n, size_t jobs)
{
    if (!n) return 0;
    if (!seconds || !jobs) return NAN;
    const size_t k = jobs < n ? jobs : n;
    double *free_at = calloc(k, sizeof *free_at);
    if (!free_at) return NAN;
    double end = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(seconds[i] >= 0)) {
            free(free_at);
            return NAN;
        }
        size_t s = 0;
        for (size_t j = 1; j < k; j++)
            if (free_at[j] < free_at[s]) s = j;
        free_at[s] += seconds[i];
        if (free_at[s] > end) end = free_at[s];
    }
    free(free_at);
    return end;
}
