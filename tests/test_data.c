/* test_data.c - IDX reader on generated good, truncated and corrupt files (plain and gzip),
 * image-set loading, seeded split, normalisation, shuffling, batches, byte sets against float sets
 * (bit for bit), and Fashion-MNIST itself
 * when Debian's dataset-fashion-mnist is installed (required when ALIG_REQUIRE_FMNIST=1).
 *
 * Files are generated here byte by byte from the IDX definition (big-endian magic 0x0000TTNN,
 * u32 dimensions, data), so the reader is checked against an independent writer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CUnit/Basic.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <zlib.h>

#include "alig/data.h"

static char g_dir[256];

/* ------------------------------------------------------------------------- */
/* generated files                                                           */
/* ------------------------------------------------------------------------- */

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);  p[3] = (unsigned char)v;
}

/* Header (magic 00 00 type ndim, dims) followed by `len` data bytes. Caller frees. */
static unsigned char *make_idx(unsigned type, unsigned ndim, const uint32_t *dims, const unsigned char *data,
                               size_t len, size_t *out_len)
{
    size_t hl = 4 + 4 * (size_t)ndim;
    unsigned char *b = malloc(hl + len + 1);
    CU_ASSERT_FATAL(b != NULL);
    b[0] = 0; b[1] = 0; b[2] = (unsigned char)type; b[3] = (unsigned char)ndim;
    for (unsigned d = 0; d < ndim; d++) put_u32(b + 4 + 4 * d, dims[d]);
    if (len) memcpy(b + hl, data, len);
    *out_len = hl + len;
    return b;
}

static void write_file(const char *path, const void *buf, size_t len, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        CU_ASSERT_FATAL(f != NULL);
        if (len) CU_ASSERT_FATAL(gzwrite(f, buf, (unsigned)len) == (int)len);
        CU_ASSERT_FATAL(gzclose(f) == Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CU_ASSERT_FATAL(f != NULL);
        if (len) CU_ASSERT_FATAL(fwrite(buf, 1, len, f) == len);
        CU_ASSERT_FATAL(fclose(f) == 0);
    }
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT_FATAL(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Pseudo-random bytes (incompressible enough to make a multi-block gzip stream). */
static void fill_bytes(unsigned char *p, size_t n, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)gsl_rng_uniform_int(r, 256);
    gsl_rng_free(r);
}

/* Write an images file n x h x w of bytes (i*37 + 11) mod 256 and return the data (caller frees). */
static unsigned char *write_images(const char *name, uint32_t n, uint32_t h, uint32_t w, int gz)
{
    size_t cnt = (size_t)n * h * w, len;
    unsigned char *d = malloc(cnt);
    for (size_t i = 0; i < cnt; i++) d[i] = (unsigned char)((i * 37 + 11) % 256);
    uint32_t dims[3] = { n, h, w };
    unsigned char *b = make_idx(0x08, 3, dims, d, cnt, &len);
    write_file(tpath(name), b, len, gz);
    free(b);
    return d;
}

static void write_labels(const char *name, uint32_t n, const unsigned char *lab, int gz)
{
    size_t len;
    unsigned char *b = make_idx(0x08, 1, &n, lab, n, &len);
    write_file(tpath(name), b, len, gz);
    free(b);
}

/* status == want, and the message names the file and contains `what`. */
static void expect_fail(alig_status got, alig_status want, const char *err, const char *path, const char *what)
{
    CU_ASSERT_EQUAL(got, want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
    if (got != want || !strstr(err, path) || !strstr(err, what))
        fprintf(stderr, "\n  unexpected: status %d (want %d), message \"%s\" (want \"%s\" and \"%s\")\n",
                (int)got, (int)want, err, path, what);
}

/* ------------------------------------------------------------------------- */
/* IDX reader                                                                */
/* ------------------------------------------------------------------------- */

static void test_idx_good(void)
{
    for (int gz = 0; gz <= 1; gz++) {
        const char *name = gz ? "good3.gz" : "good3";
        unsigned char *d = write_images(name, 5, 4, 3, gz);
        alig_idx x;
        char err[512] = "junk";
        CU_ASSERT_EQUAL_FATAL(alig_idx_read(tpath(name), &x, err, sizeof err), ALIG_SUCCESS);
        CU_ASSERT_STRING_EQUAL(err, "");                 /* success clears the message */
        CU_ASSERT_EQUAL(x.ndim, 3);
        CU_ASSERT(x.dims[0] == 5 && x.dims[1] == 4 && x.dims[2] == 3);
        CU_ASSERT_EQUAL(x.count, 60);
        CU_ASSERT(memcmp(x.data, d, 60) == 0);
        CU_ASSERT_EQUAL(x.data[59], (59 * 37 + 11) % 256);
        alig_idx_free(&x);
        CU_ASSERT_PTR_NULL(x.data);
        alig_idx_free(&x);                                /* idempotent */
        free(d);
    }
    /* a 4-D file and a 1-D file, larger than the first 1 MiB allocation (buffer growth) */
    size_t cnt = (size_t)3 << 20, len;
    unsigned char *d = malloc(cnt);
    fill_bytes(d, cnt, 7);
    uint32_t dims4[4] = { 3, 2, 512, 1024 };
    unsigned char *b = make_idx(0x08, 4, dims4, d, cnt, &len);
    write_file(tpath("big4.gz"), b, len, 1);
    alig_idx x;
    CU_ASSERT_EQUAL_FATAL(alig_idx_read(tpath("big4.gz"), &x, NULL, 0), ALIG_SUCCESS);
    CU_ASSERT(x.ndim == 4 && x.dims[3] == 1024 && x.count == cnt);
    CU_ASSERT(memcmp(x.data, d, cnt) == 0);
    alig_idx_free(&x);
    free(b);
    uint32_t n1 = 7;
    unsigned char lab[7] = { 9, 0, 3, 255, 1, 1, 2 };
    b = make_idx(0x08, 1, &n1, lab, 7, &len);
    write_file(tpath("lab1"), b, len, 0);
    CU_ASSERT_EQUAL_FATAL(alig_idx_read(tpath("lab1"), &x, NULL, 0), ALIG_SUCCESS);
    CU_ASSERT(x.ndim == 1 && x.dims[0] == 7 && memcmp(x.data, lab, 7) == 0);
    alig_idx_free(&x);
    free(b);
    free(d);
}

static void test_idx_truncated(void)
{
    char err[512];
    unsigned char d[60];
    for (size_t i = 0; i < 60; i++) d[i] = (unsigned char)i;
    uint32_t dims[3] = { 5, 4, 3 };
    size_t len;
    unsigned char *b = make_idx(0x08, 3, dims, d, 60, &len);
    for (int gz = 0; gz <= 1; gz++) {
        alig_idx x;
        const char *p = tpath(gz ? "short.gz" : "short");
        write_file(p, b, len - 1, gz);                    /* last data byte missing */
        expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "truncated");
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "60 data bytes"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "5 x 4 x 3"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "input has 59"));
        CU_ASSERT(x.data == NULL && x.count == 0);        /* output zeroed on failure */

        write_file(p, b, 10, gz);                         /* cut inside the dimensions */
        expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "truncated IDX header");

        write_file(p, b, 2, gz);                          /* cut inside the magic */
        expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "truncated IDX header");

        write_file(p, b, 0, gz);                          /* empty (gz: a valid empty stream) */
        expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "empty");

        write_file(p, b, 16, gz);                         /* header only, no data */
        expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "has 0");
    }
    free(b);
}

static void test_idx_trailing(void)
{
    char err[512];
    unsigned char d[61];
    for (size_t i = 0; i < 61; i++) d[i] = (unsigned char)i;
    uint32_t dims[3] = { 5, 4, 3 };
    size_t len;
    unsigned char *b = make_idx(0x08, 3, dims, d, 61, &len);   /* one byte more than 5*4*3 */
    for (int gz = 0; gz <= 1; gz++) {
        alig_idx x;
        const char *p = tpath(gz ? "long.gz" : "long");
        write_file(p, b, len, gz);
        expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "1 trailing byte after");
    }
    free(b);
    /* many trailing bytes (more than the reader's 4096-byte drain buffer) are all counted */
    unsigned char *big = calloc(60 + 10000, 1);
    b = make_idx(0x08, 3, dims, big, 60 + 10000, &len);
    alig_idx x;
    write_file(tpath("longer"), b, len, 0);
    expect_fail(alig_idx_read(tpath("longer"), &x, err, sizeof err), ALIG_EFORMAT, err, tpath("longer"),
                "10000 trailing bytes");
    free(b);
    free(big);
}

static void test_idx_bad_header(void)
{
    char err[512];
    unsigned char d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint32_t dims[2] = { 2, 4 }, zero[2] = { 2, 0 };
    size_t len;
    alig_idx x;
    const char *p = tpath("bad");

    unsigned char *b = make_idx(0x08, 2, dims, d, 8, &len);
    b[1] = 0x01;                                          /* magic 0x00010802 */
    write_file(p, b, len, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "bad magic number 0x00010802");
    free(b);

    write_file(p, "hello, world\n", 13, 1);               /* a text file, gzip-compressed */
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "bad magic");

    b = make_idx(0x0D, 2, dims, d, 8, &len);              /* float IDX */
    write_file(p, b, len, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "unsupported IDX element type 0x0D");
    free(b);

    b = make_idx(0x08, 0, dims, d, 8, &len);              /* 0 dimensions */
    write_file(p, b, len, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "declares 0 dimensions");
    free(b);

    b = make_idx(0x08, 2, zero, d, 0, &len);              /* a zero dimension */
    write_file(p, b, len, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "dimension 2 of 2 is 0");
    free(b);

    /* a corrupt header announcing 4e9 x 4e9 bytes: refused against the stated limit before any
     * allocation or read, and the message names the declared dimensions and the limit */
    uint32_t huge[2] = { 0xFFFFFFFFu, 0xFFFFFFFFu };
    b = make_idx(0x08, 2, huge, d, 8, &len);
    write_file(p, b, len, 0);
    CU_ASSERT_EQUAL(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "4294967295 x 4294967295") != NULL && strstr(err, "ALIG_IDX_MAX_BYTES") != NULL);
    free(b);
    /* just above the limit: 65536 x 65537 = 2^32 + 65536 bytes declared */
    uint32_t above[2] = { 65536u, 65537u };
    b = make_idx(0x08, 2, above, d, 8, &len);
    write_file(p, b, len, 0);
    CU_ASSERT_EQUAL(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "ALIG_IDX_MAX_BYTES") != NULL);
    free(b);
    /* exactly at the limit (65536 x 65536 = 2^32): accepted by the header check, so a short file is
     * "truncated", with no allocation beyond the bytes present */
    uint32_t at[2] = { 65536u, 65536u };
    b = make_idx(0x08, 2, at, d, 8, &len);
    write_file(p, b, len, 0);
    CU_ASSERT_EQUAL(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "truncated") != NULL);
    free(b);
}

static void test_idx_gzip_corrupt(void)
{
    char err[512];
    size_t cnt = 50 * 28 * 28, len, zlen;
    unsigned char *d = malloc(cnt);
    fill_bytes(d, cnt, 3);
    uint32_t dims[3] = { 50, 28, 28 };
    unsigned char *b = make_idx(0x08, 3, dims, d, cnt, &len);
    write_file(tpath("z.gz"), b, len, 1);
    unsigned char *z = read_file(tpath("z.gz"), &zlen);
    CU_ASSERT_FATAL(zlen > 1000 && z[0] == 0x1f && z[1] == 0x8b);
    alig_idx x;
    const char *p = tpath("zbad.gz");

    /* stream cut in the middle of the deflate data */
    write_file(p, z, zlen / 2, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "truncated: header declares 39200");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the gzip stream ends early"));
    /* only the 8-byte trailer (CRC-32, ISIZE) missing: all data decodes, the stream is still cut */
    write_file(p, z, zlen - 8, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "trailer (CRC-32 and length) is missing");
    /* half of the trailer missing */
    write_file(p, z, zlen - 2, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "trailer (CRC-32 and length) is missing");
    /* wrong CRC-32 in the trailer */
    z[zlen - 8] ^= 0x01;
    write_file(p, z, zlen, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "corrupt gzip stream");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "data check"));   /* zlib's "incorrect data check" */
    z[zlen - 8] ^= 0x01;
    /* wrong length in the trailer */
    z[zlen - 4] ^= 0x01;
    write_file(p, z, zlen, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "corrupt gzip stream");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "length check"));  /* zlib's "incorrect length check" */
    z[zlen - 4] ^= 0x01;
    /* a flipped byte inside the compressed data: a deflate error, a CRC mismatch or a size error */
    z[zlen / 2] ^= 0x5A;
    write_file(p, z, zlen, 0);
    CU_ASSERT_EQUAL(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
    z[zlen / 2] ^= 0x5A;
    /* only the gzip magic */
    write_file(p, z, 2, 0);
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EFORMAT, err, p, "gzip stream ends before any data");
    /* and the intact bytes still read back exactly (the corruptions above were the only cause) */
    write_file(p, z, zlen, 0);
    CU_ASSERT_EQUAL_FATAL(alig_idx_read(p, &x, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT(x.count == cnt && memcmp(x.data, d, cnt) == 0);
    alig_idx_free(&x);
    free(z);
    free(b);
    free(d);
}

static void test_idx_open_errors(void)
{
    char err[512];
    alig_idx x;
    const char *p = tpath("does-not-exist.gz");
    expect_fail(alig_idx_read(p, &x, err, sizeof err), ALIG_EIO, err, p, "cannot open");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
    /* a directory opens but cannot be read */
    expect_fail(alig_idx_read(g_dir, &x, err, sizeof err), ALIG_EIO, err, g_dir, "read error");
    CU_ASSERT_EQUAL(alig_idx_read(NULL, &x, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_idx_read(p, NULL, err, sizeof err), ALIG_EINVAL);
    /* message buffer: NULL is fine, a short one is truncated and terminated */
    CU_ASSERT_EQUAL(alig_idx_read(p, &x, NULL, 0), ALIG_EIO);
    char small[8];
    memset(small, 'x', sizeof small);
    CU_ASSERT_EQUAL(alig_idx_read(p, &x, small, sizeof small), ALIG_EIO);
    CU_ASSERT_EQUAL(strlen(small), 7);
    CU_ASSERT(strncmp(small, p, 7) == 0);
}

/* ------------------------------------------------------------------------- */
/* image sets                                                                */
/* ------------------------------------------------------------------------- */

static void test_load_idx(void)
{
    char err[512];
    unsigned char lab[6] = { 3, 0, 9, 9, 1, 2 };
    unsigned char *d = write_images("im", 6, 5, 4, 1);
    write_labels("lb", 6, lab, 0);
    alig_image_set s;
    CU_ASSERT_EQUAL_FATAL(alig_data_load_idx(tpath("im"), tpath("lb"), 10, &s, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT(s.n == 6 && s.c == 1 && s.h == 5 && s.w == 4 && s.num_classes == 10);
    CU_ASSERT_EQUAL(alig_image_set_sample_size(&s), 20);
    /* a byte set: the file's bytes, and the table v / 255 */
    CU_ASSERT_FATAL(s.x == NULL && s.u != NULL && s.lut != NULL);
    CU_ASSERT(memcmp(s.u, d, 120) == 0);
    int exact = 1;
    float xb[120];
    CU_ASSERT_EQUAL_FATAL(alig_data_batch(&s, NULL, 0, 6, xb, NULL), ALIG_SUCCESS);
    for (size_t i = 0; i < 120; i++) {
        /* x = u/255: within half an ulp of the double quotient; 0 and 255 exactly 0 and 1 */
        const float v = alig_image_set_value(&s, i);
        if (fabs((double)v - d[i] / 255.0) > 3e-8 || xb[i] != v) exact = 0;
        if (d[i] == 255 && v != 1.0f) exact = 0;
        if (d[i] == 0 && v != 0.0f) exact = 0;
    }
    CU_ASSERT(exact);
    for (size_t i = 0; i < 6; i++) CU_ASSERT_EQUAL(s.y[i], lab[i]);
    alig_image_set_free(&s);
    CU_ASSERT(s.x == NULL && s.u == NULL && s.lut == NULL && s.y == NULL && s.n == 0);
    alig_image_set_free(NULL);

    /* num_classes = 0 infers max label + 1 */
    CU_ASSERT_EQUAL_FATAL(alig_data_load_idx(tpath("im"), tpath("lb"), 0, &s, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(s.num_classes, 10);
    alig_image_set_free(&s);

    /* a label out of range names the labels file and the index */
    expect_fail(alig_data_load_idx(tpath("im"), tpath("lb"), 9, &s, err, sizeof err), ALIG_EFORMAT, err,
                tpath("lb"), "label 9 at index 2");
    CU_ASSERT(s.x == NULL && s.u == NULL && s.n == 0);

    /* count mismatch names both files */
    write_labels("lb5", 5, lab, 1);
    expect_fail(alig_data_load_idx(tpath("im"), tpath("lb5"), 10, &s, err, sizeof err), ALIG_EFORMAT, err,
                tpath("lb5"), "5 labels");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, tpath("im")));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "6 images"));

    /* images and labels swapped: wrong dimensionality, named */
    expect_fail(alig_data_load_idx(tpath("lb"), tpath("im"), 10, &s, err, sizeof err), ALIG_EFORMAT, err,
                tpath("lb"), "3-D");
    free(write_images("im2", 6, 5, 4, 0));
    expect_fail(alig_data_load_idx(tpath("im"), tpath("im2"), 10, &s, err, sizeof err), ALIG_EFORMAT, err,
                tpath("im2"), "1-D");
    /* a broken labels file is reported as such */
    expect_fail(alig_data_load_idx(tpath("im"), tpath("nope"), 10, &s, err, sizeof err), ALIG_EIO, err,
                tpath("nope"), "cannot open");
    free(d);
}

static void test_fashion_mnist_dir(void)
{
    /* a directory laid out like Debian's, with a mix of .gz and plain names */
    char err[512], sub[300];
    snprintf(sub, sizeof sub, "%s/fm", g_dir);
    CU_ASSERT_FATAL(mkdir(sub, 0700) == 0);
    unsigned char lab_tr[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, lab_te[3] = { 9, 8, 7 };
    unsigned char *a = write_images("fm/train-images-idx3-ubyte.gz", 8, 28, 28, 1);
    write_labels("fm/train-labels-idx1-ubyte", 8, lab_tr, 0);
    unsigned char *t = write_images("fm/t10k-images-idx3-ubyte", 3, 28, 28, 0);
    write_labels("fm/t10k-labels-idx1-ubyte.gz", 3, lab_te, 1);
    alig_image_set tr, te;
    CU_ASSERT_EQUAL_FATAL(alig_data_load_fashion_mnist(sub, &tr, &te, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT(tr.n == 8 && te.n == 3 && tr.c == 1 && tr.h == 28 && te.w == 28);
    CU_ASSERT(tr.num_classes == 10 && te.num_classes == 10);
    CU_ASSERT(te.y[0] == 9 && tr.y[7] == 7);
    CU_ASSERT(alig_image_set_value(&tr, 100) == (float)a[100] / 255.0f &&
              alig_image_set_value(&te, 783) == (float)t[783] / 255.0f);
    alig_image_set_free(&tr);
    alig_image_set_free(&te);
    /* test part only */
    CU_ASSERT_EQUAL(alig_data_load_fashion_mnist(sub, NULL, &te, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(te.n, 3);
    alig_image_set_free(&te);
    /* a missing file: EIO, the path tried and the package to install */
    remove(tpath("fm/t10k-labels-idx1-ubyte.gz"));
    expect_fail(alig_data_load_fashion_mnist(sub, &tr, &te, err, sizeof err), ALIG_EIO, err,
                tpath("fm/t10k-labels-idx1-ubyte.gz"), "dataset-fashion-mnist");
    CU_ASSERT(tr.u == NULL && te.u == NULL);              /* the loaded train part was released */
    remove(tpath("fm/train-images-idx3-ubyte.gz"));
    remove(tpath("fm/train-labels-idx1-ubyte"));
    remove(tpath("fm/t10k-images-idx3-ubyte"));
    rmdir(sub);
    free(a);
    free(t);
}

/* n samples of (c, h, w) with x = i + (k*h*w + j)/1000 (identifies sample i), y = i mod 10 */
static alig_image_set synth(size_t n, size_t c, size_t h, size_t w)
{
    alig_image_set s = { .n = n, .c = c, .h = h, .w = w, .num_classes = 10 };
    size_t ss = c * h * w;
    s.x = malloc(n * ss * sizeof *s.x);
    s.y = malloc(n * sizeof *s.y);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ss; j++) s.x[i * ss + j] = (float)i + (float)j / 1000.0f;
        s.y[i] = (int32_t)(i % 10);
    }
    return s;
}

static void test_split(void)
{
    alig_image_set all = synth(100, 2, 3, 2), tr, va, tr2, va2;
    CU_ASSERT_EQUAL_FATAL(alig_data_split(&all, 30, 1234, &tr, &va), ALIG_SUCCESS);
    CU_ASSERT(tr.n == 70 && va.n == 30 && tr.c == 2 && va.h == 3 && va.w == 2 && va.num_classes == 10);

    /* reference: the documented construction, recomputed with GSL directly */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1234);
    size_t perm[100];
    for (size_t i = 0; i < 100; i++) perm[i] = i;
    gsl_ran_shuffle(r, perm, 100, sizeof perm[0]);
    gsl_rng_free(r);
    int in_val[100] = { 0 };
    for (size_t j = 0; j < 30; j++) in_val[perm[j]] = 1;
    size_t it = 0, iv = 0;
    int ok = 1;
    for (size_t i = 0; i < 100; i++) {               /* both parts in original order, disjoint, covering */
        const alig_image_set *s = in_val[i] ? &va : &tr;
        size_t j = in_val[i] ? iv++ : it++;
        if (memcmp(s->x + j * 12, all.x + i * 12, 12 * sizeof(float)) != 0 || s->y[j] != all.y[i]) ok = 0;
    }
    CU_ASSERT(ok && it == 70 && iv == 30);

    /* same seed, same split; another seed, another split */
    CU_ASSERT_EQUAL_FATAL(alig_data_split(&all, 30, 1234, &tr2, &va2), ALIG_SUCCESS);
    CU_ASSERT(memcmp(va.x, va2.x, 30 * 12 * sizeof(float)) == 0 && memcmp(tr.y, tr2.y, 70 * sizeof(int32_t)) == 0);
    alig_image_set_free(&tr2);
    alig_image_set_free(&va2);
    CU_ASSERT_EQUAL_FATAL(alig_data_split(&all, 30, 1235, &tr2, &va2), ALIG_SUCCESS);
    CU_ASSERT(memcmp(va.x, va2.x, 30 * 12 * sizeof(float)) != 0);
    alig_image_set_free(&tr2);
    alig_image_set_free(&va2);

    CU_ASSERT_EQUAL(alig_data_split(&all, 0, 1, &tr2, &va2), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_data_split(&all, 100, 1, &tr2, &va2), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_data_split(&all, 99, 1, &tr2, &va2), ALIG_SUCCESS);
    CU_ASSERT(tr2.n == 1 && va2.n == 99);
    alig_image_set_free(&tr2);
    alig_image_set_free(&va2);
    CU_ASSERT_EQUAL(alig_data_split(NULL, 10, 1, &tr2, &va2), ALIG_EINVAL);

    size_t pick[3] = { 5, 5, 99 };
    CU_ASSERT_EQUAL_FATAL(alig_image_set_subset(&all, pick, 3, &tr2), ALIG_SUCCESS);
    CU_ASSERT(tr2.n == 3 && tr2.x[0] == 5.0f && tr2.x[12] == 5.0f && tr2.x[24] == 99.0f && tr2.y[2] == 9);
    alig_image_set_free(&tr2);
    pick[1] = 100;
    CU_ASSERT_EQUAL(alig_image_set_subset(&all, pick, 3, &tr2), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_image_set_subset(&all, pick, 0, &tr2), ALIG_EBADLEN);

    alig_image_set_free(&tr);
    alig_image_set_free(&va);
    alig_image_set_free(&all);
}

/* A byte set and the float set of its values (float)u / 255 go through the same pipeline (split,
 * statistics, normalisation with the training split's statistics, a second normalisation, a
 * subset, batches in a shuffled order) and must agree bit for bit at every stage. */
static void test_bytes_equal_floats(void)
{
    const size_t n = 90, c = 3, h = 5, w = 4, ss = c * h * w;
    alig_image_set b, f = { .n = n, .c = c, .h = h, .w = w, .num_classes = 7 };
    CU_ASSERT_FATAL(alig_image_set_alloc_bytes(&b, n, c, h, w, 7) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_image_set_alloc_bytes(NULL, n, c, h, w, 7), ALIG_EINVAL);
    alig_image_set z;
    CU_ASSERT_EQUAL(alig_image_set_alloc_bytes(&z, 0, c, h, w, 7), ALIG_EBADLEN);
    f.x = malloc(n * ss * sizeof *f.x);
    f.y = malloc(n * sizeof *f.y);
    CU_ASSERT_FATAL(f.x && f.y);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 21);
    for (size_t i = 0; i < n * ss; i++) {
        const size_t k = (i / (h * w)) % c;      /* channels with different ranges */
        b.u[i] = (uint8_t)gsl_rng_uniform_int(r, 64 + 96 * k);
        f.x[i] = (float)b.u[i] / 255.0f;
    }
    for (size_t i = 0; i < n; i++) b.y[i] = f.y[i] = (int32_t)(i % 7);
    alig_image_set bt, bv, ft, fv;
    CU_ASSERT_FATAL(alig_data_split(&b, 20, 3, &bt, &bv) == ALIG_SUCCESS && alig_data_split(&f, 20, 3, &ft, &fv) == 0);
    CU_ASSERT(bt.u && bt.lut && !bt.x && bv.u && ft.x && !ft.u);
    double mb[3], sb[3], mf[3], sf[3];
    alig_image_set *bo[] = { &bv }, *fo[] = { &fv };
    CU_ASSERT_FATAL(alig_data_normalise(&bt, bo, 1, mb, sb) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_data_normalise(&ft, fo, 1, mf, sf) == ALIG_SUCCESS);
    CU_ASSERT(memcmp(mb, mf, sizeof mb) == 0 && memcmp(sb, sf, sizeof sb) == 0);
    CU_ASSERT(mf[2] > mf[0] + 0.1);                       /* the channels differ */
    const double m2[3] = { 0.1, -0.2, 0.3 }, s2[3] = { 1.5, 0.7, 2.0 };
    CU_ASSERT_FATAL(alig_data_normalise_with(&bv, m2, s2) == ALIG_SUCCESS && alig_data_normalise_with(&fv, m2, s2) == 0);
    CU_ASSERT(alig_data_channel_stats(&bt, mb, sb) == ALIG_SUCCESS && alig_data_channel_stats(&ft, mf, sf) == 0);
    CU_ASSERT(memcmp(mb, mf, sizeof mb) == 0 && memcmp(sb, sf, sizeof sb) == 0);
    size_t pick[4] = { 3, 0, 19, 3 };
    alig_image_set bs, fs;
    CU_ASSERT_FATAL(alig_image_set_subset(&bv, pick, 4, &bs) == 0 && alig_image_set_subset(&fv, pick, 4, &fs) == 0);
    size_t perm[70];
    CU_ASSERT_FATAL(alig_data_shuffle_indices(70, 5, 1, perm) == ALIG_SUCCESS);
    float *xb = malloc(70 * ss * sizeof *xb), *xf = malloc(70 * ss * sizeof *xf);
    int32_t yb[70], yf[70];
    CU_ASSERT_FATAL(xb && xf);
    int same = 1;
    const alig_image_set *pb[3] = { &bt, &bv, &bs }, *pf[3] = { &ft, &fv, &fs };
    for (int q = 0; q < 3; q++) {
        const size_t m = pb[q]->n;
        CU_ASSERT_FATAL(m == pf[q]->n);
        CU_ASSERT_FATAL(alig_data_batch(pb[q], q ? NULL : perm, 0, m, xb, yb) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_data_batch(pf[q], q ? NULL : perm, 0, m, xf, yf) == ALIG_SUCCESS);
        same &= memcmp(xb, xf, m * ss * sizeof *xb) == 0 && memcmp(yb, yf, m * sizeof *yb) == 0;
        for (size_t i = 0; i < m * ss; i++) same &= alig_image_set_value(pb[q], i) == pf[q]->x[i];
    }
    CU_ASSERT(same);
    CU_ASSERT(fabs(xf[5]) > 0.0f);
    CU_ASSERT(isnan(alig_image_set_value(NULL, 0)));
    free(xb);
    free(xf);
    gsl_rng_free(r);
    alig_image_set *all[] = { &b, &f, &bt, &bv, &ft, &fv, &bs, &fs };
    for (int q = 0; q < 8; q++) alig_image_set_free(all[q]);
}

static void test_stats_hand(void)
{
    /* 2 samples, 1 channel, 1x2 pixels: 0, 0.5 | 1, 0.25.
     * mean = 1.75/4 = 0.4375; deviations −0.4375, 0.0625, 0.5625, −0.1875;
     * squares sum 0.19140625 + 0.00390625 + 0.31640625 + 0.03515625 = 0.546875; unbiased var = 0.546875/3 */
    alig_image_set s = synth(2, 1, 1, 2);
    s.x[0] = 0.0f; s.x[1] = 0.5f; s.x[2] = 1.0f; s.x[3] = 0.25f;
    double m, sd;
    CU_ASSERT_EQUAL_FATAL(alig_data_channel_stats(&s, &m, &sd), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(m, 0.4375);
    CU_ASSERT_DOUBLE_EQUAL(sd, sqrt(0.546875 / 3.0), 1e-15);
    alig_image_set_free(&s);
    alig_image_set one = synth(1, 1, 1, 1);
    CU_ASSERT_EQUAL(alig_data_channel_stats(&one, &m, &sd), ALIG_EBADLEN);
    alig_image_set_free(&one);
}

static void test_normalise(void)
{
    /* 3 channels with different means and spreads */
    const size_t n = 200, c = 3, hw = 16, ss = c * hw;
    alig_image_set tr = synth(n, c, 4, 4), va = synth(50, c, 4, 4);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    for (size_t i = 0; i < n * ss; i++) {
        size_t k = (i / hw) % c;
        tr.x[i] = (float)(0.1 + 0.3 * (double)k + (0.05 + 0.1 * (double)k) * gsl_ran_gaussian(r, 1.0));
    }
    for (size_t i = 0; i < 50 * ss; i++) va.x[i] = (float)gsl_rng_uniform(r);
    gsl_rng_free(r);
    float *va0 = malloc(50 * ss * sizeof *va0), *tr0 = malloc(n * ss * sizeof *tr0);
    memcpy(va0, va.x, 50 * ss * sizeof *va0);
    memcpy(tr0, tr.x, n * ss * sizeof *tr0);

    /* reference statistics: a one-pass sum / sum of squares in long double */
    double m_ref[3], s_ref[3];
    for (size_t k = 0; k < c; k++) {
        long double s1 = 0, s2 = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                long double v = tr.x[(i * c + k) * hw + j];
                s1 += v; s2 += v * v;
            }
        long double N = (long double)(n * hw);
        m_ref[k] = (double)(s1 / N);
        s_ref[k] = (double)sqrtl((s2 - s1 * s1 / N) / (N - 1));
    }
    /* mismatched channel count: error, nothing modified */
    alig_image_set bad = synth(5, 2, 4, 4);
    alig_image_set *others_bad[] = { &va, &bad };
    CU_ASSERT_EQUAL(alig_data_normalise(&tr, others_bad, 2, NULL, NULL), ALIG_EBADLEN);
    CU_ASSERT(memcmp(tr.x, tr0, n * ss * sizeof *tr0) == 0 && memcmp(va.x, va0, 50 * ss * sizeof *va0) == 0);
    alig_image_set_free(&bad);

    double m[3], sd[3];
    alig_image_set *others[] = { &va };
    CU_ASSERT_EQUAL_FATAL(alig_data_normalise(&tr, others, 1, m, sd), ALIG_SUCCESS);
    for (size_t k = 0; k < c; k++) {
        CU_ASSERT_DOUBLE_EQUAL(m[k], m_ref[k], 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(sd[k], s_ref[k], 1e-12);
    }
    CU_ASSERT(m[2] > m[1] + 0.2 && sd[2] > sd[0] + 0.1);    /* the channels really differ */
    /* train: per-channel mean ≈ 0 and std ≈ 1 */
    double m2[3], sd2[3];
    CU_ASSERT_EQUAL_FATAL(alig_data_channel_stats(&tr, m2, sd2), ALIG_SUCCESS);
    for (size_t k = 0; k < c; k++) {
        CU_ASSERT_DOUBLE_EQUAL(m2[k], 0.0, 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(sd2[k], 1.0, 1e-6);
    }
    /* validation: transformed with the training statistics, not its own */
    int ok = 1;
    for (size_t i = 0; i < 50 * ss; i++) {
        size_t k = (i / hw) % c;
        double want = ((double)va0[i] - m_ref[k]) / s_ref[k];
        if (fabs((double)va.x[i] - want) > 1e-6 * (1 + fabs(want))) ok = 0;
    }
    CU_ASSERT(ok);
    /* a constant channel cannot be standardised */
    alig_image_set flat = synth(4, 1, 2, 2);
    for (size_t i = 0; i < 16; i++) flat.x[i] = 0.5f;
    CU_ASSERT_EQUAL(alig_data_normalise(&flat, NULL, 0, NULL, NULL), ALIG_EINVAL);
    CU_ASSERT_EQUAL(flat.x[3], 0.5f);
    double zero_sd = 0.0, mm = 0.0;
    CU_ASSERT_EQUAL(alig_data_normalise_with(&flat, &mm, &zero_sd), ALIG_EINVAL);
    alig_image_set_free(&flat);
    free(va0);
    free(tr0);
    alig_image_set_free(&tr);
    alig_image_set_free(&va);
}

static int is_perm(const size_t *p, size_t n)
{
    unsigned char *seen = calloc(n, 1);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= n || seen[p[i]]) { ok = 0; break; }
        seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    static size_t a[N], b[N], c[N], d[N];
    CU_ASSERT_EQUAL_FATAL(alig_data_shuffle_indices(N, 42, 0, a), ALIG_SUCCESS);
    CU_ASSERT(is_perm(a, N));
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++) fixed += a[i] == i;
    CU_ASSERT(fixed < 10);                                 /* ~1 expected for a random permutation */
    CU_ASSERT_EQUAL(alig_data_shuffle_indices(N, 42, 0, b), ALIG_SUCCESS);
    CU_ASSERT(memcmp(a, b, sizeof a) == 0);                /* same (seed, epoch): same order */
    CU_ASSERT_EQUAL(alig_data_shuffle_indices(N, 42, 1, c), ALIG_SUCCESS);
    CU_ASSERT(is_perm(c, N) && memcmp(a, c, sizeof a) != 0);
    CU_ASSERT_EQUAL(alig_data_shuffle_indices(N, 43, 0, d), ALIG_SUCCESS);
    CU_ASSERT(is_perm(d, N) && memcmp(a, d, sizeof a) != 0 && memcmp(c, d, sizeof c) != 0);
    CU_ASSERT_EQUAL(alig_data_shuffle_indices(1, 42, 0, a), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(a[0], 0);
    CU_ASSERT_EQUAL(alig_data_shuffle_indices(0, 42, 0, a), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_data_shuffle_indices(5, 42, 0, NULL), ALIG_EINVAL);
}

static void test_batch(void)
{
    alig_image_set s = synth(10, 2, 2, 3);               /* 12 floats per sample */
    size_t idx[10] = { 9, 3, 0, 7, 1, 2, 4, 5, 6, 8 };
    float xb[4 * 12];
    int32_t yb[4];
    CU_ASSERT_EQUAL_FATAL(alig_data_batch(&s, idx, 1, 4, xb, yb), ALIG_SUCCESS);
    const size_t want[4] = { 3, 0, 7, 1 };
    for (size_t b = 0; b < 4; b++) {
        CU_ASSERT_EQUAL(yb[b], (int32_t)want[b]);
        CU_ASSERT_EQUAL(xb[b * 12], (float)want[b]);
        CU_ASSERT_EQUAL(xb[b * 12 + 11], (float)want[b] + 11.0f / 1000.0f);
    }
    CU_ASSERT_EQUAL(alig_data_batch(&s, NULL, 8, 2, xb, NULL), ALIG_SUCCESS);   /* identity order */
    CU_ASSERT(xb[0] == 8.0f && xb[12] == 9.0f);
    CU_ASSERT_EQUAL(alig_data_batch(&s, idx, 8, 3, xb, yb), ALIG_EBADBATCH);    /* past the end */
    CU_ASSERT_EQUAL(alig_data_batch(&s, idx, 11, 1, xb, yb), ALIG_EBADBATCH);
    CU_ASSERT_EQUAL(alig_data_batch(&s, idx, 0, 0, xb, yb), ALIG_EBADBATCH);
    idx[2] = 10;
    CU_ASSERT_EQUAL(alig_data_batch(&s, idx, 0, 4, xb, yb), ALIG_EINVAL);      /* index out of range */
    alig_image_set_free(&s);
}

/* ------------------------------------------------------------------------- */
/* the real data set                                                         */
/* ------------------------------------------------------------------------- */

static void test_fashion_mnist_real(void)
{
    char err[512];
    alig_image_set tr, te;
    alig_status rc = alig_data_load_fashion_mnist(NULL, &tr, &te, err, sizeof err);
    if (rc) fprintf(stderr, "\n  load failed: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, ALIG_SUCCESS);
    CU_ASSERT(tr.n == 60000 && te.n == 10000);
    CU_ASSERT(tr.c == 1 && tr.h == 28 && tr.w == 28 && te.h == 28 && te.w == 28 && tr.num_classes == 10);
    /* Fashion-MNIST is balanced: 6000 training and 1000 test images per class */
    size_t cnt_tr[10] = { 0 }, cnt_te[10] = { 0 };
    for (size_t i = 0; i < tr.n; i++) cnt_tr[tr.y[i]]++;
    for (size_t i = 0; i < te.n; i++) cnt_te[te.y[i]]++;
    for (int k = 0; k < 10; k++) CU_ASSERT(cnt_tr[k] == 6000 && cnt_te[k] == 1000);
    double m, sd;
    CU_ASSERT_EQUAL_FATAL(alig_data_channel_stats(&tr, &m, &sd), ALIG_SUCCESS);
    printf("\n  fashion-mnist train: mean %.6f std %.6f\n", m, sd);
    CU_ASSERT_DOUBLE_EQUAL(m, 0.2860, 2e-4);               /* values quoted by the PyTorch peer */
    CU_ASSERT_DOUBLE_EQUAL(sd, 0.3530, 2e-4);
    /* the whole pipeline at scale: split 55000/5000, normalise with the train-split statistics */
    alig_image_set a, v;
    CU_ASSERT_EQUAL_FATAL(alig_data_split(&tr, 5000, 1234, &a, &v), ALIG_SUCCESS);
    alig_image_set_free(&tr);
    alig_image_set *others[] = { &v, &te };
    double m1, s1, m2, s2;
    CU_ASSERT_EQUAL_FATAL(alig_data_normalise(&a, others, 2, &m1, &s1), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(m1, m, 2e-3);
    CU_ASSERT_EQUAL_FATAL(alig_data_channel_stats(&a, &m2, &s2), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(m2, 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(s2, 1.0, 1e-6);
    alig_image_set_free(&a);
    alig_image_set_free(&v);
    alig_image_set_free(&te);
}

/* ------------------------------------------------------------------------- */

static void cleanup_dir(void)
{
    static const char *const names[] = {
        "good3", "good3.gz", "big4.gz", "lab1", "short", "short.gz", "long", "long.gz", "longer", "bad",
        "z.gz", "zbad.gz", "im", "lb", "lb5", "im2", "fm/train-images-idx3-ubyte.gz", "fm/train-labels-idx1-ubyte",
        "fm/t10k-images-idx3-ubyte", "fm/t10k-labels-idx1-ubyte.gz", "fm", NULL };
    for (size_t i = 0; names[i]; i++) remove(tpath(names[i]));   /* remove() also deletes an empty directory */
    if (rmdir(g_dir) != 0) fprintf(stderr, "test_data: could not remove %s (left-over files)\n", g_dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/alig_test_data_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }

    struct stat st;
    const int have_fmnist = stat(ALIG_FMNIST_DEFAULT_DIR, &st) == 0;
    const char *req = getenv("ALIG_REQUIRE_FMNIST");
    const int require = req && strcmp(req, "1") == 0;

    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("data", NULL, NULL);
    CU_add_test(s, "idx_good_plain_and_gzip", test_idx_good);
    CU_add_test(s, "idx_truncated", test_idx_truncated);
    CU_add_test(s, "idx_trailing_bytes", test_idx_trailing);
    CU_add_test(s, "idx_bad_header", test_idx_bad_header);
    CU_add_test(s, "idx_gzip_corrupt", test_idx_gzip_corrupt);
    CU_add_test(s, "idx_open_errors", test_idx_open_errors);
    CU_add_test(s, "load_idx_pair", test_load_idx);
    CU_add_test(s, "fashion_mnist_layout", test_fashion_mnist_dir);
    CU_add_test(s, "split", test_split);
    CU_add_test(s, "stats_hand", test_stats_hand);
    CU_add_test(s, "normalise", test_normalise);
    CU_add_test(s, "byte sets equal float sets bit for bit", test_bytes_equal_floats);
    CU_add_test(s, "shuffle", test_shuffle);
    CU_add_test(s, "batch", test_batch);
    if (have_fmnist || require)
        CU_add_test(s, "fashion_mnist_real", test_fashion_mnist_real);
    else
        printf("test_data: NOT RUN: fashion_mnist_real (%s not found; run scripts/install-deps, "
               "or set ALIG_REQUIRE_FMNIST=1 to make this a failure)\n", ALIG_FMNIST_DEFAULT_DIR);

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    cleanup_dir();
    if (!have_fmnist && !require) printf("test_data: fashion_mnist_real was NOT RUN (see above)\n");
    return fails ? 1 : 0;
}
