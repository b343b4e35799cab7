/* data.c - IDX files, Fashion-MNIST, validation split, normalisation, shuffling and batches
 * (see include/alig/data.h).
 *
 * Every file goes through zlib's gzopen/gzread: zlib reads a file that is not gzip "transparently",
 * so one code path serves plain and compressed IDX files. zlib reports problems of the gzip layer
 * through gzerror(), and gzread() returns a short count (not −1) when a stream is cut off
 * (Z_BUF_ERROR, "unexpected end of file"), so the reader checks gzerror() after every call. The
 * gzip trailer (CRC-32 and length) is only verified when inflate reaches it, which is why the
 * reader always asks for one byte past the declared data: that read both detects trailing bytes
 * and forces the trailer check.
 *
 * Random numbers come from GSL's mt19937 with explicit seeds; nothing depends on the thread count
 * (the only parallel loop, normalisation, is element-wise). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <zlib.h>

#include "alig/data.h"
#include "splitmix.h"

/* ------------------------------------------------------------------------- */
/* error messages: "<path>: <what>"                                           */
/* ------------------------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static alig_status fail(alig_status rc, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void clear_err(char *err, size_t errlen)
{
    if (err && errlen > 0) err[0] = '\0';
}

/* strerror is not required to be thread-safe; copy through the XSI strerror_r. */
static const char *errno_text(int e, char *buf, size_t len)
{
    if (e == 0) return "unknown error";
    if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "errno %d", e);
    return buf;
}

/* ------------------------------------------------------------------------- */
/* IDX reader                                                                */
/* ------------------------------------------------------------------------- */

#define GZ_CHUNK ((size_t)1 << 30)          /* gzread takes an unsigned int length */
#define DATA_FIRST_ALLOC ((size_t)1 << 16)  /* the data buffer grows from 64 KiB by doubling */

/* One file being read. zlib flags a stream that stops early (no more input before the end of
 * the deflate data or of the 8-byte trailer) with the soft error Z_BUF_ERROR, "unexpected end of
 * file": the bytes decoded so far stay readable, so the reader keeps going and says at the end
 * how far the stream got. Other zlib errors are fatal at once. */
typedef struct idx_in {
    gzFile f;
    const char *path;
    int cut;            /* Z_BUF_ERROR seen: the gzip stream ends early */
} idx_in;

/* Drop zlib's own "<path>: " prefix from a gzerror() message. */
static const char *zlib_text(const idx_in *in, const char *zmsg)
{
    size_t pl = strlen(in->path);
    if (!zmsg) return "?";
    if (strncmp(zmsg, in->path, pl) == 0 && zmsg[pl] == ':' && zmsg[pl + 1] == ' ') return zmsg + pl + 2;
    return zmsg;
}

/* Read up to len bytes; *got receives the number read (short only at end of input). */
static alig_status gz_read_full(idx_in *in, void *buf, size_t len, size_t *got, char *err, size_t errlen)
{
    unsigned char *p = buf;
    char eb[128];
    *got = 0;
    while (*got < len) {
        size_t want = len - *got < GZ_CHUNK ? len - *got : GZ_CHUNK;
        errno = 0;
        int r = gzread(in->f, p + *got, (unsigned)want);
        int zerr = Z_OK;
        const char *zmsg = gzerror(in->f, &zerr);
        if (zerr == Z_BUF_ERROR) in->cut = 1;
        else if (zerr == Z_ERRNO || (zerr == Z_OK && r < 0))
            return fail(ALIG_EIO, err, errlen, "%s: read error: %s", in->path, errno_text(errno, eb, sizeof eb));
        else if (zerr == Z_MEM_ERROR)
            return fail(ALIG_ENOMEM, err, errlen, "%s: out of memory in zlib", in->path);
        else if (zerr != Z_OK)   /* Z_DATA_ERROR: bad deflate data, CRC-32 or length in the trailer */
            return fail(ALIG_EFORMAT, err, errlen, "%s: corrupt gzip stream (zlib: %s)", in->path,
                        zlib_text(in, zmsg));
        if (r <= 0) break;
        *got += (size_t)r;
    }
    return ALIG_SUCCESS;
}

static const char *cut_note(const idx_in *in)
{
    return in->cut ? " (the gzip stream ends early)" : "";
}

static const char *idx_type_name(unsigned t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "16-bit integer";
    case 0x0C: return "32-bit integer";
    case 0x0D: return "32-bit float";
    case 0x0E: return "64-bit float";
    default: return "unknown type";
    }
}

/* "60000 x 28 x 28" */
static void dims_text(const alig_idx *x, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned d = 0; d < x->ndim && used < len; d++) {
        int w = snprintf(buf + used, len - used, "%s%lu", d ? " x " : "", (unsigned long)x->dims[d]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

void alig_idx_free(alig_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

alig_status alig_idx_read(const char *path, alig_idx *out, char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    clear_err(err, errlen);
    if (!path || !out) return fail(ALIG_EINVAL, err, errlen, "alig_idx_read: NULL %s", path ? "output" : "path");

    alig_status rc = ALIG_SUCCESS;
    alig_idx r = { 0 };
    char eb[128];
    errno = 0;
    idx_in in = { gzopen(path, "rb"), path, 0 };
    if (!in.f) {
        if (errno == 0) return fail(ALIG_ENOMEM, err, errlen, "%s: cannot open: out of memory in zlib", path);
        return fail(ALIG_EIO, err, errlen, "%s: cannot open: %s", path, errno_text(errno, eb, sizeof eb));
    }
    gzbuffer(in.f, 1u << 15);   /* 32 KiB: zlib then allocates 96 KiB per file */

    /* header: magic 0x00 0x00 type ndim, then ndim big-endian u32 sizes */
    unsigned char head[4 + 4 * ALIG_IDX_MAX_DIMS];
    size_t got;
    if ((rc = gz_read_full(&in, head, 4, &got, err, errlen))) goto fail;
    if (got < 4) {
        if (got == 0)
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: %s", path,
                      in.cut ? "the gzip stream ends before any data" : "file is empty (expected an IDX header)");
        else
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: truncated IDX header: %zu bytes, the magic number needs 4%s",
                      path, got, cut_note(&in));
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0) {
        rc = fail(ALIG_EFORMAT, err, errlen,
                  "%s: bad magic number 0x%02X%02X%02X%02X: not an IDX file (expected 0x0000TTNN, "
                  "e.g. 0x00000803 for images, 0x00000801 for labels)", path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[2] != 0x08) {
        rc = fail(ALIG_EFORMAT, err, errlen,
                  "%s: unsupported IDX element type 0x%02X (%s) in magic number 0x%02X%02X%02X%02X; "
                  "only unsigned byte (0x08) is supported", path, head[2], idx_type_name(head[2]),
                  head[0], head[1], head[2], head[3]);
        goto fail;
    }
    r.ndim = head[3];
    if (r.ndim < 1 || r.ndim > ALIG_IDX_MAX_DIMS) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: magic number 0x%02X%02X%02X%02X declares %u dimensions "
                  "(supported: 1 to %d)", path, head[0], head[1], head[2], head[3], r.ndim, ALIG_IDX_MAX_DIMS);
        goto fail;
    }
    size_t dim_bytes = 4 * (size_t)r.ndim;
    if ((rc = gz_read_full(&in, head + 4, dim_bytes, &got, err, errlen))) goto fail;
    if (got < dim_bytes) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: truncated IDX header: %u dimensions declared, "
                  "input ends after %zu of their %zu bytes%s", path, r.ndim, got, dim_bytes, cut_note(&in));
        goto fail;
    }
    r.count = 1;
    for (unsigned d = 0; d < r.ndim; d++) {
        const unsigned char *b = head + 4 + 4 * d;
        r.dims[d] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
        if (r.dims[d] == 0) {
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: dimension %u of %u is 0", path, d + 1, r.ndim);
            goto fail;
        }
        if (r.count > ALIG_IDX_MAX_BYTES / r.dims[d]) {   /* no overflow: count stays <= the limit */
            char dt[160];
            dims_text(&r, dt, sizeof dt);
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: header declares %s elements, more than the reader's limit of "
                      "%zu bytes (ALIG_IDX_MAX_BYTES; a corrupt header?)", path, dt, (size_t)ALIG_IDX_MAX_BYTES);
            goto fail;
        }
        r.count *= r.dims[d];
    }
    char dt[160];
    dims_text(&r, dt, sizeof dt);

    /* data: grow with what is actually there, so a corrupt size cannot force a huge allocation */
    size_t cap = 0, have = 0;
    while (have < r.count) {
        if (have == cap) {
            size_t ncap = cap == 0 ? (r.count < DATA_FIRST_ALLOC ? r.count : DATA_FIRST_ALLOC)
                                   : (cap > r.count / 2 ? r.count : 2 * cap);
            uint8_t *nd = realloc(r.data, ncap);
            if (!nd) { rc = fail(ALIG_ENOMEM, err, errlen, "%s: out of memory (%zu bytes)", path, ncap); goto fail; }
            r.data = nd;
            cap = ncap;
        }
        if ((rc = gz_read_full(&in, r.data + have, cap - have, &got, err, errlen))) goto fail;
        have += got;
        if (have < cap) break;   /* end of input */
    }
    if (have < r.count) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: truncated: header declares %zu data bytes (%s), input has %zu%s",
                  path, r.count, dt, have, cut_note(&in));
        goto fail;
    }
    /* read on to the end: detects trailing bytes and makes zlib check the gzip trailer */
    unsigned char extra[4096];
    size_t n_extra = 0;
    do {
        if ((rc = gz_read_full(&in, extra, sizeof extra, &got, err, errlen))) goto fail;
        n_extra += got;
    } while (got == sizeof extra);
    if (n_extra > 0) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: %zu trailing byte%s after the %zu data bytes declared by the header (%s)",
                  path, n_extra, n_extra == 1 ? "" : "s", r.count, dt);
        goto fail;
    }
    if (in.cut) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: the gzip stream ends early: the %zu data bytes are there but its "
                  "trailer (CRC-32 and length) is missing or incomplete", path, r.count);
        goto fail;
    }
    int zc = gzclose(in.f);
    in.f = NULL;
    if (zc != Z_OK) {
        rc = fail(ALIG_EIO, err, errlen, "%s: error closing the file (zlib code %d)", path, zc);
        goto fail;
    }
    *out = r;
    return ALIG_SUCCESS;
fail:
    if (in.f) gzclose(in.f);
    alig_idx_free(&r);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* image sets                                                                */
/* ------------------------------------------------------------------------- */

void alig_image_set_free(alig_image_set *set)
{
    if (!set) return;
    free(set->x);
    free(set->y);
    free(set->u);
    free(set->lut);
    memset(set, 0, sizeof *set);
}

size_t alig_image_set_sample_size(const alig_image_set *set)
{
    return set ? set->c * set->h * set->w : 0;
}

/* The set holds its samples (floats, or bytes with their table) and labels. */
static int set_filled(const alig_image_set *s) { return s && s->y && (s->x || (s->u && s->lut)); }

float alig_image_set_value(const alig_image_set *set, size_t i)
{
    if (!set) return NAN;
    if (set->x) return set->x[i];
    if (!set->u || !set->lut) return NAN;
    const size_t hw = set->h * set->w, k = (i / hw) % set->c;
    return set->lut[256 * k + set->u[i]];
}

/* Allocate y and the samples of n images of shape (c, h, w): floats (bytes = 0) or bytes and
 * their table, lut[256k + v] = v / 255 (bytes = 1). */
static alig_status set_alloc(alig_image_set *s, size_t n, size_t c, size_t h, size_t w, size_t num_classes, int bytes)
{
    memset(s, 0, sizeof *s);
    if (n == 0 || c == 0 || h == 0 || w == 0) return ALIG_EBADLEN;
    if (h > SIZE_MAX / c || w > SIZE_MAX / (c * h) || c > SIZE_MAX / 256 / sizeof(float)) return ALIG_EBADLEN;
    const size_t ss = c * h * w;
    if (n > SIZE_MAX / sizeof(float) / ss) return ALIG_EBADLEN;
    if (bytes) {
        s->u = malloc(n * ss);
        s->lut = malloc(256 * c * sizeof *s->lut);
        if (s->lut)
            for (size_t k = 0; k < c; k++)
                for (int v = 0; v < 256; v++) s->lut[256 * k + (size_t)v] = (float)v / 255.0f;
    } else {
        s->x = malloc(n * ss * sizeof *s->x);
    }
    s->y = malloc(n * sizeof *s->y);
    if (!set_filled(s)) { alig_image_set_free(s); return ALIG_ENOMEM; }
    s->n = n; s->c = c; s->h = h; s->w = w;
    s->num_classes = num_classes;
    return ALIG_SUCCESS;
}

alig_status alig_image_set_alloc_bytes(alig_image_set *s, size_t n, size_t c, size_t h, size_t w, size_t num_classes)
{
    if (!s) return ALIG_EINVAL;
    return set_alloc(s, n, c, h, w, num_classes, 1);
}

alig_status alig_data_load_idx(const char *images_path, const char *labels_path, size_t num_classes,
                               alig_image_set *out, char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    clear_err(err, errlen);
    if (!images_path || !labels_path || !out) return fail(ALIG_EINVAL, err, errlen, "alig_data_load_idx: NULL argument");

    alig_idx im = { 0 }, lb = { 0 };
    alig_image_set s = { 0 };
    alig_status rc;
    if ((rc = alig_idx_read(images_path, &im, err, errlen))) goto done;
    if (im.ndim != 3 && im.ndim != 4) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: images must be a 3-D (n x h x w) or 4-D (n x c x h x w) IDX "
                  "array, this one has %u dimension%s", images_path, im.ndim, im.ndim == 1 ? "" : "s");
        goto done;
    }
    if ((rc = alig_idx_read(labels_path, &lb, err, errlen))) goto done;
    if (lb.ndim != 1) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: labels must be a 1-D IDX array, this one has %u dimensions",
                  labels_path, lb.ndim);
        goto done;
    }
    const size_t n = im.dims[0];
    if (lb.dims[0] != n) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: %lu labels, but %s has %zu images", labels_path,
                  (unsigned long)lb.dims[0], images_path, n);
        goto done;
    }
    unsigned maxl = 0;
    for (size_t i = 0; i < n; i++) {
        if (num_classes && lb.data[i] >= num_classes) {
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: label %u at index %zu is out of range (must be < %zu classes)",
                      labels_path, lb.data[i], i, num_classes);
            goto done;
        }
        if (lb.data[i] > maxl) maxl = lb.data[i];
    }
    const size_t c = im.ndim == 4 ? im.dims[1] : 1;
    const size_t h = im.dims[im.ndim - 2], w = im.dims[im.ndim - 1];
    rc = set_alloc(&s, n, c, h, w, num_classes ? num_classes : (size_t)maxl + 1, 1);
    if (rc == ALIG_ENOMEM) { rc = fail(rc, err, errlen, "%s: out of memory for %zu images", images_path, n); goto done; }
    if (rc) { rc = fail(rc, err, errlen, "%s: image dimensions too large", images_path); goto done; }
    /* the bytes; their table scales as torchvision's ToTensor and the peer: float32(u) / 255 in float */
    memcpy(s.u, im.data, im.count);
    for (size_t i = 0; i < n; i++) s.y[i] = lb.data[i];
    *out = s;
    s = (alig_image_set){ 0 };
done:
    alig_image_set_free(&s);
    alig_idx_free(&im);
    alig_idx_free(&lb);
    return rc;
}

/* dir/base.gz if it exists, else dir/base if it exists; otherwise an EIO message naming both. */
static alig_status find_idx(const char *dir, const char *base, char *path, size_t len, char *err, size_t errlen)
{
    struct stat st;
    char eb[128];
    static const char *const suffixes[] = { ".gz", "" };
    /* the directory itself first: a missing, unreadable or non-directory path is not a missing package */
    if (stat(dir, &st) != 0) {
        int e = errno;
        if (e != ENOENT || strcmp(dir, ALIG_FMNIST_DEFAULT_DIR))
            return fail(ALIG_EIO, err, errlen, "%s: cannot access the data directory: %s", dir,
                        errno_text(e, eb, sizeof eb));
    } else if (!S_ISDIR(st.st_mode)) {
        return fail(ALIG_EIO, err, errlen, "%s: not a directory (name the directory holding the IDX files)", dir);
    }
    for (size_t k = 0; k < 2; k++) {
        int w = snprintf(path, len, "%s/%s%s", dir, base, suffixes[k]);
        if (w < 0 || (size_t)w >= len)
            return fail(ALIG_EINVAL, err, errlen, "%s: directory name too long", dir);
        errno = 0;
        if (stat(path, &st) == 0) return ALIG_SUCCESS;
        if (errno != ENOENT)   /* e.g. EACCES: the directory exists but cannot be searched */
            return fail(ALIG_EIO, err, errlen, "%s: cannot access: %s", path, errno_text(errno, eb, sizeof eb));
    }
    return fail(ALIG_EIO, err, errlen, "%s/%s.gz: not found (nor %s/%s); install the Debian package "
                "dataset-fashion-mnist (scripts/install-deps) or name the directory holding the IDX files",
                dir, base, dir, base);
}

static alig_status load_fmnist_part(const char *dir, const char *prefix, alig_image_set *out, char *err, size_t errlen)
{
    char ip[4096], lp[4096], ib[64], lbn[64];
    snprintf(ib, sizeof ib, "%s-images-idx3-ubyte", prefix);
    snprintf(lbn, sizeof lbn, "%s-labels-idx1-ubyte", prefix);
    alig_status rc;
    if ((rc = find_idx(dir, ib, ip, sizeof ip, err, errlen))) return rc;
    if ((rc = find_idx(dir, lbn, lp, sizeof lp, err, errlen))) return rc;
    return alig_data_load_idx(ip, lp, 10, out, err, errlen);
}

alig_status alig_data_load_fashion_mnist(const char *dir, alig_image_set *train, alig_image_set *test,
                                         char *err, size_t errlen)
{
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    clear_err(err, errlen);
    if (!train && !test) return fail(ALIG_EINVAL, err, errlen, "alig_data_load_fashion_mnist: no output set");
    if (!dir) dir = ALIG_FMNIST_DEFAULT_DIR;
    alig_status rc = ALIG_SUCCESS;
    if (train && (rc = load_fmnist_part(dir, "train", train, err, errlen))) return rc;
    if (test && (rc = load_fmnist_part(dir, "t10k", test, err, errlen))) {
        alig_image_set_free(train);
        return rc;
    }
    return ALIG_SUCCESS;
}

alig_status alig_image_set_subset(const alig_image_set *set, const size_t *idx, size_t k, alig_image_set *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!set || !idx || !out || !set_filled(set)) return ALIG_EINVAL;
    if (k == 0) return ALIG_EBADLEN;
    for (size_t j = 0; j < k; j++)
        if (idx[j] >= set->n) return ALIG_EINVAL;
    alig_image_set s;
    const int bytes = set->x == NULL;
    alig_status rc = set_alloc(&s, k, set->c, set->h, set->w, set->num_classes, bytes);
    if (rc) return rc;
    const size_t ss = alig_image_set_sample_size(set);
    if (bytes) memcpy(s.lut, set->lut, 256 * set->c * sizeof *s.lut);
    for (size_t j = 0; j < k; j++) {
        if (bytes) memcpy(s.u + j * ss, set->u + idx[j] * ss, ss);
        else memcpy(s.x + j * ss, set->x + idx[j] * ss, ss * sizeof *s.x);
        s.y[j] = set->y[idx[j]];
    }
    *out = s;
    return ALIG_SUCCESS;
}

/* A gsl_rng mt19937 seeded with `seed`, GSL's error handler off (it would abort on failure). */
static gsl_rng *rng_new(unsigned long seed)
{
    gsl_set_error_handler_off();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (r) gsl_rng_set(r, seed);
    return r;
}

alig_status alig_data_split(const alig_image_set *all, size_t val_count, unsigned long seed,
                            alig_image_set *train_out, alig_image_set *val_out)
{
    if (train_out) memset(train_out, 0, sizeof *train_out);
    if (val_out) memset(val_out, 0, sizeof *val_out);
    if (!all || !train_out || !val_out || !set_filled(all)) return ALIG_EINVAL;
    const size_t n = all->n;
    if (val_count == 0 || val_count >= n) return ALIG_EBADLEN;

    alig_status rc = ALIG_SUCCESS;
    gsl_rng *r = rng_new(seed);
    size_t *perm = malloc(n * sizeof *perm), *tidx = malloc((n - val_count) * sizeof *tidx);
    size_t *vidx = malloc(val_count * sizeof *vidx);
    unsigned char *in_val = calloc(n, 1);
    if (!r || !perm || !tidx || !vidx || !in_val) { rc = ALIG_ENOMEM; goto done; }
    for (size_t i = 0; i < n; i++) perm[i] = i;
    gsl_ran_shuffle(r, perm, n, sizeof *perm);
    for (size_t j = 0; j < val_count; j++) in_val[perm[j]] = 1;
    size_t nt = 0, nv = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_val[i]) vidx[nv++] = i;
        else tidx[nt++] = i;
    }
    if ((rc = alig_image_set_subset(all, tidx, nt, train_out))) goto done;
    if ((rc = alig_image_set_subset(all, vidx, nv, val_out))) alig_image_set_free(train_out);
done:
    gsl_rng_free(r);
    free(perm);
    free(tidx);
    free(vidx);
    free(in_val);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* normalisation                                                             */
/* ------------------------------------------------------------------------- */

alig_status alig_data_channel_stats(const alig_image_set *set, double *mean, double *std)
{
    if (!set || !mean || !std || !(set->x || (set->u && set->lut))) return ALIG_EINVAL;
    const size_t hw = set->h * set->w, N = set->n * hw;
    if (N < 2) return ALIG_EBADLEN;
    /* two passes in double, serial (the order of summation, hence the result, is fixed); a byte
     * set sums its table's values in the same order, so both kinds give the same statistics */
    for (size_t k = 0; k < set->c; k++) {
        const float *t = set->lut ? set->lut + 256 * k : NULL;
        double s = 0.0;
        for (size_t i = 0; i < set->n; i++) {
            if (set->x) {
                const float *p = set->x + (i * set->c + k) * hw;
                for (size_t j = 0; j < hw; j++) s += p[j];
            } else {
                const uint8_t *p = set->u + (i * set->c + k) * hw;
                for (size_t j = 0; j < hw; j++) s += t[p[j]];
            }
        }
        const double m = s / (double)N;
        double q = 0.0;
        for (size_t i = 0; i < set->n; i++) {
            if (set->x) {
                const float *p = set->x + (i * set->c + k) * hw;
                for (size_t j = 0; j < hw; j++) {
                    double d = (double)p[j] - m;
                    q += d * d;
                }
            } else {
                const uint8_t *p = set->u + (i * set->c + k) * hw;
                for (size_t j = 0; j < hw; j++) {
                    double d = (double)t[p[j]] - m;
                    q += d * d;
                }
            }
        }
        mean[k] = m;
        std[k] = sqrt(q / (double)(N - 1));
    }
    return ALIG_SUCCESS;
}

alig_status alig_data_normalise_with(alig_image_set *set, const double *mean, const double *std)
{
    if (!set || !mean || !std || !(set->x || (set->u && set->lut))) return ALIG_EINVAL;
    for (size_t k = 0; k < set->c; k++)
        if (!isfinite(mean[k]) || !isfinite(std[k]) || !(std[k] > 0.0)) return ALIG_EINVAL;
    const size_t c = set->c, hw = set->h * set->w;
    if (!set->x) {      /* a byte set: the same arithmetic on each of the 256 values of a channel */
        for (size_t k = 0; k < c; k++)
            for (size_t v = 0; v < 256; v++)
                set->lut[256 * k + v] = (float)(((double)set->lut[256 * k + v] - mean[k]) / std[k]);
        return ALIG_SUCCESS;
    }
    float *x = set->x;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (set->n * c * hw >= ((size_t)1 << 18))
#endif
    for (size_t i = 0; i < set->n; i++) {
        for (size_t k = 0; k < c; k++) {
            float *p = x + (i * c + k) * hw;
            const double m = mean[k], sd = std[k];
            for (size_t j = 0; j < hw; j++) p[j] = (float)(((double)p[j] - m) / sd);
        }
    }
    return ALIG_SUCCESS;
}

alig_status alig_data_normalise(alig_image_set *train, alig_image_set *const *others, size_t n_others,
                                double *mean_out, double *std_out)
{
    if (!train || !(train->x || (train->u && train->lut)) || (n_others && !others)) return ALIG_EINVAL;
    for (size_t j = 0; j < n_others; j++) {
        if (!others[j] || !(others[j]->x || (others[j]->u && others[j]->lut))) return ALIG_EINVAL;
        if (others[j]->c != train->c) return ALIG_EBADLEN;
    }
    const size_t c = train->c;
    double *m = malloc(2 * c * sizeof *m);
    if (!m) return ALIG_ENOMEM;
    double *sd = m + c;
    alig_status rc = alig_data_channel_stats(train, m, sd);
    for (size_t k = 0; !rc && k < c; k++)
        if (!(sd[k] > 0.0)) rc = ALIG_EINVAL;   /* a constant channel cannot be standardised */
    if (!rc) rc = alig_data_normalise_with(train, m, sd);
    for (size_t j = 0; !rc && j < n_others; j++)
        if (others[j] != train) rc = alig_data_normalise_with(others[j], m, sd);
    if (!rc && mean_out) memcpy(mean_out, m, c * sizeof *m);
    if (!rc && std_out) memcpy(std_out, sd, c * sizeof *sd);
    free(m);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* shuffling and batches                                                     */
/* ------------------------------------------------------------------------- */

alig_status alig_data_shuffle_indices(size_t n, unsigned long seed, unsigned long epoch, size_t *idx)
{
    if (!idx) return ALIG_EINVAL;
    if (n == 0) return ALIG_EBADLEN;
    /* SplitMix64 (splitmix.h) spreads (seed, epoch) over the 32 bits mt19937 keeps */
    uint64_t z = alig_splitmix(alig_splitmix((uint64_t)seed) ^ (uint64_t)epoch);
    gsl_rng *r = rng_new((unsigned long)(z & 0xFFFFFFFFu));
    if (!r) return ALIG_ENOMEM;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    gsl_ran_shuffle(r, idx, n, sizeof *idx);
    gsl_rng_free(r);
    return ALIG_SUCCESS;
}

alig_status alig_data_batch(const alig_image_set *set, const size_t *idx, size_t start, size_t B,
                            float *x_out, int32_t *y_out)
{
    if (!x_out || !set_filled(set)) return ALIG_EINVAL;
    if (B == 0 || start > set->n || B > set->n - start) return ALIG_EBADBATCH;
    const size_t ss = alig_image_set_sample_size(set), hw = set->h * set->w;
    /* Serial on purpose: a batch is a few hundred KiB of memcpy (or table look-ups); thread
     * start-up costs more. */
    for (size_t b = 0; b < B; b++) {
        size_t i = idx ? idx[start + b] : start + b;
        if (i >= set->n) return ALIG_EINVAL;
        if (set->x) {
            memcpy(x_out + b * ss, set->x + i * ss, ss * sizeof *x_out);
        } else {
            for (size_t k = 0; k < set->c; k++) {
                const float *t = set->lut + 256 * k;
                const uint8_t *p = set->u + i * ss + k * hw;
                float *o = x_out + b * ss + k * hw;
                for (size_t j = 0; j < hw; j++) o[j] = t[p[j]];
            }
        }
        if (y_out) y_out[b] = set->y[i];
    }
    return ALIG_SUCCESS;
}
