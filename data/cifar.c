/* cifar.c - CIFAR-10 / CIFAR-100 binary files and image-set concatenation (include/alig/vision.h).
 *
 * A file is read in blocks of whole records straight into the output set: the record count
 * comes from the file size (which must be a positive multiple of the record size), so nothing
 * is allocated beyond what the file holds, and a file that changes size while being read is
 * reported as truncated. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alig/vision.h"

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

static const char *errno_text(int e, char *buf, size_t len)
{
    if (e == 0) return "unknown error";
    if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "errno %d", e);
    return buf;
}

#define CIFAR_BLOCK 1024    /* records per fread */

alig_status alig_cifar_read(const char *path, int label_bytes, int label_index, size_t classes, alig_image_set *out,
                            char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = '\0';
    if (!path || !out || label_bytes < 1 || label_bytes > 2 || label_index < 0 || label_index >= label_bytes ||
        classes < 1 || classes > 256)
        return fail(ALIG_EINVAL, err, errlen, "alig_cifar_read: invalid argument");
    const char *fmt = label_bytes == 1 ? "CIFAR-10" : "CIFAR-100";
    const size_t rec = (size_t)label_bytes + ALIG_CIFAR_PIXELS;
    char eb[128];
    FILE *f = fopen(path, "rb");
    if (!f) return fail(ALIG_EIO, err, errlen, "%s: cannot open: %s", path, errno_text(errno, eb, sizeof eb));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return fail(ALIG_EIO, err, errlen, "%s: cannot stat: %s", path, errno_text(errno, eb, sizeof eb));
    }
    if (!S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(ALIG_EIO, err, errlen, "%s: not a regular file", path);
    }
    const size_t size = (size_t)st.st_size;
    if (size == 0 || size % rec != 0) {
        fclose(f);
        return fail(ALIG_EFORMAT, err, errlen, "%s: %zu bytes is not a whole, non-zero number of %zu-byte records "
                    "(%s format: %d label byte%s + %d pixel bytes)%s", path, size, rec, fmt, label_bytes,
                    label_bytes == 1 ? "" : "s", ALIG_CIFAR_PIXELS,
                    size % rec ? ": the file is truncated or not in this format" : "");
    }
    const size_t n = size / rec;
    alig_image_set s = { 0 };
    unsigned char *buf = malloc((n < CIFAR_BLOCK ? n : CIFAR_BLOCK) * rec);
    alig_status rc = alig_image_set_alloc_bytes(&s, n, 3, ALIG_CIFAR_SIDE, ALIG_CIFAR_SIDE, classes);
    if (!buf || rc) {
        rc = fail(ALIG_ENOMEM, err, errlen, "%s: out of memory for %zu records", path, n);
        goto done;
    }
    for (size_t i0 = 0; i0 < n; i0 += CIFAR_BLOCK) {
        const size_t m = n - i0 < CIFAR_BLOCK ? n - i0 : CIFAR_BLOCK;
        const size_t got = fread(buf, rec, m, f);
        if (got != m) {
            if (ferror(f)) rc = fail(ALIG_EIO, err, errlen, "%s: read error: %s", path, errno_text(errno, eb, sizeof eb));
            else rc = fail(ALIG_EFORMAT, err, errlen, "%s: truncated: ends after %zu of %zu records", path, i0 + got, n);
            goto done;
        }
        for (size_t r = 0; r < m; r++) {
            const unsigned char *p = buf + r * rec;
            const unsigned lab = p[label_index];
            if (lab >= classes) {
                rc = fail(ALIG_EFORMAT, err, errlen, "%s: record %zu has %slabel %u, %s has %zu %sclasses (labels 0..%zu)",
                          path, i0 + r, label_bytes == 2 ? (label_index ? "fine " : "coarse ") : "", lab, fmt, classes,
                          label_bytes == 2 ? (label_index ? "fine " : "coarse ") : "", classes - 1);
                goto done;
            }
            if (label_bytes == 2) {     /* CIFAR-100: the other label must be valid too */
                const unsigned other = p[1 - label_index], lim = label_index ? 20u : 100u;
                if (other >= lim) {
                    rc = fail(ALIG_EFORMAT, err, errlen, "%s: record %zu has %s label %u, CIFAR-100 has %u %s classes",
                              path, i0 + r, label_index ? "coarse" : "fine", other, lim, label_index ? "coarse" : "fine");
                    goto done;
                }
            }
            s.y[i0 + r] = (int32_t)lab;
            memcpy(s.u + (i0 + r) * ALIG_CIFAR_PIXELS, p + label_bytes, ALIG_CIFAR_PIXELS);
        }
    }
    if (fgetc(f) != EOF) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: the file grew while being read", path);
        goto done;
    }
    *out = s;
    s = (alig_image_set){ 0 };
done:
    fclose(f);
    free(buf);
    alig_image_set_free(&s);
    return rc;
}

alig_status alig_image_set_concat(const alig_image_set *a, const alig_image_set *b, alig_image_set *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!a || !b || !out || !a->y || !b->y || !a->n || !b->n) return ALIG_EINVAL;
    const int bytes = a->x == NULL;
    if (bytes ? !(a->u && a->lut && b->u && b->lut) : !b->x) return ALIG_EINVAL;  /* both floats or both bytes */
    if (a->c != b->c || a->h != b->h || a->w != b->w) return ALIG_EBADLEN;
    if (bytes && memcmp(a->lut, b->lut, 256 * a->c * sizeof *a->lut) != 0) return ALIG_EINVAL;  /* one table */
    const size_t ss = alig_image_set_sample_size(a), n = a->n + b->n;
    if (n < a->n || n > SIZE_MAX / sizeof(float) / ss) return ALIG_EBADLEN;
    alig_image_set s = *a;
    s.n = n;
    s.num_classes = a->num_classes > b->num_classes ? a->num_classes : b->num_classes;
    s.x = NULL;
    s.u = NULL;
    s.lut = NULL;
    if (bytes) {
        s.u = malloc(n * ss);
        s.lut = malloc(256 * a->c * sizeof *s.lut);
    } else {
        s.x = malloc(n * ss * sizeof *s.x);
    }
    s.y = malloc(n * sizeof *s.y);
    if (!(s.x || (s.u && s.lut)) || !s.y) {
        alig_image_set_free(&s);
        return ALIG_ENOMEM;
    }
    if (bytes) {
        memcpy(s.lut, a->lut, 256 * a->c * sizeof *s.lut);
        memcpy(s.u, a->u, a->n * ss);
        memcpy(s.u + a->n * ss, b->u, b->n * ss);
    } else {
        memcpy(s.x, a->x, a->n * ss * sizeof *s.x);
        memcpy(s.x + a->n * ss, b->x, b->n * ss * sizeof *s.x);
    }
    memcpy(s.y, a->y, a->n * sizeof *s.y);
    memcpy(s.y + a->n, b->y, b->n * sizeof *s.y);
    *out = s;
    return ALIG_SUCCESS;
}

/* dir/name, or dir/sub/name when only that exists; EIO naming dir/name when neither does, or the
 * cause when dir itself or a file in it cannot be reached (missing, unreadable, not a directory). */
static alig_status find_file(const char *dir, const char *sub, const char *name, char *path, size_t len, char *err,
                             size_t errlen)
{
    struct stat st;
    char eb[128];
    if (stat(dir, &st) != 0)
        return fail(ALIG_EIO, err, errlen, "%s: cannot access the data directory: %s", dir,
                    errno_text(errno, eb, sizeof eb));
    if (!S_ISDIR(st.st_mode))
        return fail(ALIG_EIO, err, errlen, "%s: not a directory (--data-dir names the folder of the binary "
                    "distribution)", dir);
    int w = snprintf(path, len, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= len) return fail(ALIG_EINVAL, err, errlen, "%s: directory name too long", dir);
    errno = 0;
    if (stat(path, &st) == 0) return ALIG_SUCCESS;
    if (errno != ENOENT)    /* e.g. EACCES: the directory exists but cannot be searched */
        return fail(ALIG_EIO, err, errlen, "%s: cannot access: %s", path, errno_text(errno, eb, sizeof eb));
    char alt[4096];
    w = snprintf(alt, sizeof alt, "%s/%s/%s", dir, sub, name);
    if (w >= 0 && (size_t)w < sizeof alt && stat(alt, &st) == 0 && (size_t)w < len) {
        memcpy(path, alt, (size_t)w + 1);
        return ALIG_SUCCESS;
    }
    return fail(ALIG_EIO, err, errlen, "%s/%s: not found (nor %s/%s/%s); --data-dir must name the folder of the "
                "binary distribution", dir, name, dir, sub, name);
}

alig_status alig_cifar10_load(const char *dir, alig_image_set *train, alig_image_set *test, char *err, size_t errlen)
{
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    if (err && errlen) err[0] = '\0';
    if (!dir || (!train && !test)) return fail(ALIG_EINVAL, err, errlen, "alig_cifar10_load: NULL argument");
    char path[4096];
    alig_status rc = ALIG_SUCCESS;
    alig_image_set acc = { 0 };
    for (int i = 1; train && i <= 5 && !rc; i++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        alig_image_set part, joined;
        if ((rc = find_file(dir, "cifar-10-batches-bin", name, path, sizeof path, err, errlen))) break;
        if ((rc = alig_cifar_read(path, 1, 0, 10, &part, err, errlen))) break;
        if (!acc.n) {
            acc = part;
            continue;
        }
        rc = alig_image_set_concat(&acc, &part, &joined);
        alig_image_set_free(&part);
        alig_image_set_free(&acc);
        if (rc) fail(rc, err, errlen, "%s: %s", path, alig_strerror(rc));
        else acc = joined;
    }
    if (!rc && test && !(rc = find_file(dir, "cifar-10-batches-bin", "test_batch.bin", path, sizeof path, err, errlen)))
        rc = alig_cifar_read(path, 1, 0, 10, test, err, errlen);
    if (rc) {
        alig_image_set_free(&acc);
        if (test) alig_image_set_free(test);
        return rc;
    }
    if (train) *train = acc;
    return ALIG_SUCCESS;
}

alig_status alig_cifar100_load(const char *dir, int coarse, alig_image_set *train, alig_image_set *test, char *err,
                               size_t errlen)
{
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    if (err && errlen) err[0] = '\0';
    if (!dir || (!train && !test)) return fail(ALIG_EINVAL, err, errlen, "alig_cifar100_load: NULL argument");
    const int li = coarse ? 0 : 1;
    const size_t k = coarse ? 20 : 100;
    char path[4096];
    alig_status rc = ALIG_SUCCESS;
    if (train && !(rc = find_file(dir, "cifar-100-binary", "train.bin", path, sizeof path, err, errlen)))
        rc = alig_cifar_read(path, 2, li, k, train, err, errlen);
    if (!rc && test && !(rc = find_file(dir, "cifar-100-binary", "test.bin", path, sizeof path, err, errlen)))
        rc = alig_cifar_read(path, 2, li, k, test, err, errlen);
    if (rc) {
        if (train) alig_image_set_free(train);
        if (test) alig_image_set_free(test);
    }
    return rc;
}
