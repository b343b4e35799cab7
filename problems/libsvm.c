/* libsvm.c - reader of LIBSVM / SVMlight text files into a dense alig_dataset.
 *
 * Format, one sample per line:   <label> [qid:<int>] <index>:<value> <index>:<value> ... [# comment]
 *   - label and values: C floating-point numbers (strtod), finite;
 *   - indices: unsigned decimal integers, strictly increasing within a line; 1-based, unless the
 *     file uses index 0 somewhere, in which case the whole file is read as 0-based;
 *   - '#' starts a comment; blank and comment-only lines are skipped; CR LF line ends and a last
 *     line without a newline are accepted; a `qid:` token right after the label is skipped.
 * Anything else is an error reported with its 1-based line number: a token without ':' or
 * without a value ("2", "3:"), a non-numeric or non-finite number, a repeated or decreasing index,
 * a NUL byte. gzip-compressed files are read transparently (zlib); a compressed stream that ends
 * early is reported as a truncated last line.
 *
 * The file is read into memory once and parsed twice: the first pass validates every line and
 * finds n and the largest index, the second fills the dense n × d matrix.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "private.h"

#define LS_MAX_INDEX 2147483647ULL      /* LAPACK / BLAS take int dimensions */

/* ---------------------------------------------------------------- whole-file read */

/* Read the (decompressed) file into *buf, NUL-terminated. *truncated = 1 when a gzip stream ended
 * early. ALIG_EIO when it cannot be opened or read, ALIG_EFORMAT for a corrupt gzip stream. */
static alig_status ls_slurp(const char *path, char **buf, size_t *len, int *truncated)
{
    *buf = NULL;
    *len = 0;
    *truncated = 0;
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        alig_pr_error("cannot open '%s': %s", path, errno ? strerror(errno) : "out of memory");
        return errno ? ALIG_EIO : ALIG_ENOMEM;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    alig_status rc = ALIG_SUCCESS;
    if (!b) { rc = ALIG_ENOMEM; goto done; }
    for (;;) {
        if (cap - n < 2) {
            if (cap > SIZE_MAX / 2) { rc = ALIG_ENOMEM; goto done; }
            char *nb = realloc(b, cap * 2);
            if (!nb) { rc = ALIG_ENOMEM; goto done; }
            b = nb;
            cap *= 2;
        }
        size_t want = cap - n - 1;
        if (want > INT_MAX / 2) want = INT_MAX / 2;
        int r = gzread(f, b + n, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            if (zerr == Z_ERRNO) {
                alig_pr_error("cannot read '%s': %s", path, strerror(errno));
                rc = ALIG_EIO;
            } else if (zerr == Z_MEM_ERROR) {
                rc = ALIG_ENOMEM;
            } else {
                alig_pr_error("'%s': corrupt compressed data (%s)", path, msg);
                rc = ALIG_EFORMAT;
            }
            goto done;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    int zerr;
    (void)gzerror(f, &zerr);
    if (zerr == Z_BUF_ERROR) *truncated = 1;    /* "unexpected end of file" in a gzip stream */
    b[n] = '\0';
done:
    gzclose(f);
    if (rc) { free(b); return rc; }
    *buf = b;
    *len = n;
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- one line */

typedef struct ls_scan {
    size_t n;               /* samples so far */
    unsigned long long max_index;
    int any_feature;
    int zero_based;
} ls_scan;

static int ls_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* a line ends at its NUL or at a '#' comment (the text is not modified: pass 2 re-reads it) */
static int ls_stop(char c) { return c == '\0' || c == '#'; }

static char *ls_token_end(char *s)
{
    while (!ls_stop(*s) && !ls_space(*s)) s++;
    return s;
}

/* Parse a number that must fill [s, e) exactly. */
static int ls_number(const char *s, const char *e, double *v)
{
    if (s == e) return 0;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end != e) return 0;
    if (!isfinite(x)) return -1;
    if (fabs(x) > ALIG_LIBSVM_MAX_ABS) return -2;
    *v = x;
    return 1;
}

/* The message of a number ls_number rejected with code c (0 not a number, -1 not finite, -2 too large). */
static void ls_number_error(int c, size_t lineno, const char *what, const char *s, const char *e)
{
    const int len = (int)(e - s > 40 ? 40 : e - s);
    if (c == -1)
        alig_pr_error("line %zu: %s '%.*s' is not finite", lineno, what, len, s);
    else if (c == -2)
        alig_pr_error("line %zu: %s '%.*s' is beyond +-%g (ALIG_LIBSVM_MAX_ABS: its square would overflow; "
                      "rescale the data)", lineno, what, len, s, ALIG_LIBSVM_MAX_ABS);
    else
        alig_pr_error("line %zu: %s '%.*s' is not a number", lineno, what, len, s);
}

/* Parse one line (NUL-terminated, possibly with a trailing comment). Pass 1 (row == NULL) validates and
 * updates *sc; pass 2 writes the label and the row (dense, d entries, zeroed by the caller).
 * Returns 1 for a sample, 0 for a blank line, -1 for a bad line (message recorded). */
static int ls_line(char *s, size_t lineno, ls_scan *sc, double *label, double *row, int zero_based)
{
    while (ls_space(*s)) s++;
    if (ls_stop(*s)) return 0;

    char *e = ls_token_end(s);
    int c = ls_number(s, e, label);
    if (c != 1) {
        ls_number_error(c, lineno, "label", s, e);
        return -1;
    }
    s = e;
    int first = 1, have_prev = 0;
    unsigned long long prev = 0;
    for (;;) {
        while (ls_space(*s)) s++;
        if (ls_stop(*s)) break;
        e = ls_token_end(s);
        const int tlen = (int)(e - s > 40 ? 40 : e - s);
        if (first && strncmp(s, "qid:", 4) == 0) {          /* SVMlight query id: skipped */
            const char *q = s + 4;
            if (q == e) goto bad_token;
            while (q < e && *q >= '0' && *q <= '9') q++;
            if (q != e) goto bad_token;
            first = 0;
            s = e;
            continue;
        }
        first = 0;
        if (*s < '0' || *s > '9') {
            alig_pr_error("line %zu: token '%.*s' is not index:value (the index must be an unsigned integer)",
                          lineno, tlen, s);
            return -1;
        }
        char *colon;
        errno = 0;
        unsigned long long idx = strtoull(s, &colon, 10);
        if (colon >= e || *colon != ':') {
            alig_pr_error("line %zu: token '%.*s' is not index:value (truncated?)", lineno, tlen, s);
            return -1;
        }
        if (errno == ERANGE || idx > LS_MAX_INDEX) {
            alig_pr_error("line %zu: index in '%.*s' is too large (at most %llu)", lineno, tlen, s, LS_MAX_INDEX);
            return -1;
        }
        double v;
        if (colon + 1 == e) {
            alig_pr_error("line %zu: token '%.*s' has no value (truncated?)", lineno, tlen, s);
            return -1;
        }
        if ((c = ls_number(colon + 1, e, &v)) != 1) {
            ls_number_error(c, lineno, "value", colon + 1, e);
            return -1;
        }
        if (have_prev && idx <= prev) {
            alig_pr_error("line %zu: indices must increase (%llu after %llu%s)", lineno, idx, prev,
                          idx == prev ? ": a repeated index" : "");
            return -1;
        }
        have_prev = 1;
        prev = idx;
        if (row) {
            row[zero_based ? idx : idx - 1] = v;
        } else {
            sc->any_feature = 1;
            if (idx == 0) sc->zero_based = 1;
            if (idx > sc->max_index) sc->max_index = idx;
        }
        s = e;
    }
    if (!row) sc->n++;
    return 1;
bad_token:
    alig_pr_error("line %zu: bad token '%.*s'", lineno, (int)(e - s > 40 ? 40 : e - s), s);
    return -1;
}

/* ---------------------------------------------------------------- reader */

void alig_dataset_free(alig_dataset *d)
{
    if (!d) return;
    free(d->x);
    free(d->y);
    free(d);
}

alig_status alig_dataset_read_libsvm(const char *path, alig_dataset **out, size_t *err_line)
{
    alig_pr_error_clear();
    if (out) *out = NULL;
    if (err_line) *err_line = 0;
    if (!path || !out) return ALIG_EINVAL;

    char *buf = NULL;
    size_t len = 0, lineno = 0, bad = 0;
    int truncated = 0;
    alig_dataset *ds = NULL;
    alig_status rc = ls_slurp(path, &buf, &len, &truncated);
    if (rc) return rc;

    /* pass 1: split into lines (NUL-terminated in place), validate, count */
    ls_scan sc = { 0 };
    double label;
    for (char *p = buf, *end = buf + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        *le = '\0';
        if (memchr(p, '\0', (size_t)(le - p))) {
            alig_pr_error("line %zu: NUL byte (binary file?)", lineno);
            bad = lineno;
            break;
        }
        if (ls_line(p, lineno, &sc, &label, NULL, 0) < 0) {
            if (truncated && !nl)   /* the cut, not the writer, broke this last line */
                alig_pr_error("line %zu: compressed file '%s' ends early (truncated) inside this line", lineno, path);
            bad = lineno;
            break;
        }
        p = le + 1;
    }
    if (!bad && truncated) {
        alig_pr_error("line %zu: compressed file '%s' ends early (truncated)", lineno ? lineno : 1, path);
        bad = lineno ? lineno : 1;
    }
    if (bad) { rc = ALIG_EFORMAT; goto fail; }
    if (sc.n == 0) {
        alig_pr_error("'%s' has no sample", path);
        rc = ALIG_EFORMAT;
        goto fail;
    }
    if (!sc.any_feature) {
        alig_pr_error("'%s' has no feature (only labels)", path);
        rc = ALIG_EFORMAT;
        goto fail;
    }
    const size_t dim = (size_t)sc.max_index + (sc.zero_based ? 1 : 0);
    if (dim > ALIG_LIBSVM_MAX_ENTRIES / sc.n) {
        alig_pr_error("'%s': the dense matrix would have %zu samples x %zu features, more than the reader's limit "
                      "of %zu entries (ALIG_LIBSVM_MAX_ENTRIES; the dimension is the largest index)", path, sc.n, dim,
                      (size_t)ALIG_LIBSVM_MAX_ENTRIES);
        rc = ALIG_ENOMEM;
        goto fail;
    }

    /* pass 2: fill the dense matrix (lines are already split and validated) */
    ds = calloc(1, sizeof *ds);
    if (!ds) { rc = ALIG_ENOMEM; goto fail; }
    ds->n = sc.n;
    ds->dim = dim;
    ds->zero_based = sc.zero_based;
    ds->x = calloc(sc.n * dim, sizeof *ds->x);
    ds->y = calloc(sc.n, sizeof *ds->y);
    if (!ds->x || !ds->y) {
        alig_pr_error("'%s': cannot allocate a %zu x %zu dense matrix", path, sc.n, dim);
        rc = ALIG_ENOMEM;
        goto fail;
    }
    size_t i = 0, ln = 0;
    for (char *p = buf, *end = buf + len; p < end && i < sc.n; p += strlen(p) + 1) {
        ln++;
        if (ls_line(p, ln, &sc, &ds->y[i], ds->x + i * dim, sc.zero_based) == 1) i++;
    }
    free(buf);
    *out = ds;
    return ALIG_SUCCESS;
fail:
    if (err_line) *err_line = bad;
    free(buf);
    alig_dataset_free(ds);
    return rc;
}
