/* test_vision_data.c - the CIFAR and SVHN readers, the paper's splits and the augmentation
 * (include/alig/vision.h, the image task of include/alig/task.h), on small files written here in
 * the exact distribution formats:
 *   - CIFAR-10 / CIFAR-100 binary records with known pixels and labels read back value by value
 *     (channel planes, row order, coarse and fine labels, the five training files in order, the
 *     distribution's sub-folder);
 *   - SVHN .mat files written with libmatio (X 32x32x3xN uint8 in MATLAB order, y with 10 = digit 0);
 *   - damaged files: a record cut short, a label out of range, a missing variable, wrong
 *     dimensions or class, a truncated .mat: each an error naming the file, nothing half-built;
 *   - splits: 45k/5k-style for CIFAR, SVHN's validation from train and extra appended; the
 *     per-channel standardisation from the training split;
 *   - augmentation: a crop with known offset moves known pixels, the flip mirrors them, the padding
 *     is the standardised black; the draws are seeded, uniform and a pure function of (seed, k, j);
 *     the task's batch k is the augmentation of its samples, and the evaluation sets are untouched;
 *   - the readers' byte sets: the byte augmentation equals the float one on the table's values bit
 *     for bit; concatenation keeps bytes, labels and the one table, and refuses mixed kinds. */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<matio.h>)
#include <matio.h>
#define HAVE_MATIO_WRITER 1
#endif
#endif

#include "alig/task.h"
#include "alig/vision.h"

/* one value of a float or byte set */
#define V(set, i) alig_image_set_value((set), (size_t)(i))

static char dir[256];

static const char *pth(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* The pixel byte j of record r of file f, and its label: known, varied patterns. */
static unsigned char pix(int f, int r, int j) { return (unsigned char)((f * 31 + r * 7 + j * 13 + (j >> 10) * 5) & 255); }
static unsigned char lab10(int f, int r) { return (unsigned char)((f * 3 + r) % 10); }

static void write_bytes(const char *path, const unsigned char *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    CU_ASSERT_FATAL(fp != NULL);
    CU_ASSERT_FATAL(fwrite(b, 1, n, fp) == n);
    fclose(fp);
}

/* A CIFAR file of n records: label bytes from labels[r*lb ..], pixels pix(f, r, j). */
static void write_cifar(const char *path, int f, int n, int lb, const unsigned char *labels)
{
    const size_t rec = (size_t)lb + 3072;
    unsigned char *b = malloc(rec * (size_t)n);
    CU_ASSERT_FATAL(b != NULL);
    for (int r = 0; r < n; r++) {
        memcpy(b + rec * r, labels + r * lb, (size_t)lb);
        for (int j = 0; j < 3072; j++) b[rec * r + lb + j] = pix(f, r, j);
    }
    write_bytes(path, b, rec * (size_t)n);
    free(b);
}

static void write_cifar10_dir(const char *d, int per_file, int test_n)
{
    char p[512];
    unsigned char labels[64];
    mkdir(d, 0700);
    for (int f = 1; f <= 6; f++) {
        const int n = f <= 5 ? per_file : test_n;
        for (int r = 0; r < n; r++) labels[r] = lab10(f, r);
        snprintf(p, sizeof p, "%s/%s", d, f <= 5 ? "" : "test_batch.bin");
        if (f <= 5) snprintf(p, sizeof p, "%s/data_batch_%d.bin", d, f);
        write_cifar(p, f, n, 1, labels);
    }
}

static void test_cifar10(void)
{
    write_cifar10_dir(pth("c10"), 3, 2);
    alig_image_set tr, te;
    char err[1024];
    CU_ASSERT_FATAL(alig_cifar10_load(pth("c10"), &tr, &te, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT(tr.n == 15 && tr.c == 3 && tr.h == 32 && tr.w == 32 && tr.num_classes == 10);
    CU_ASSERT(te.n == 2 && te.num_classes == 10);
    int bad = 0;
    for (int f = 1; f <= 5; f++)
        for (int r = 0; r < 3; r++) {
            const size_t i = (size_t)(f - 1) * 3 + (size_t)r;
            bad += tr.y[i] != lab10(f, r);
            /* x[i][ch][row][col] is byte 1 + ch*1024 + row*32 + col of the record, over 255 */
            for (int ch = 0; ch < 3; ch++)
                for (int row = 0; row < 32; row += 7)
                    for (int col = 0; col < 32; col += 5) {
                        const int j = ch * 1024 + row * 32 + col;
                        bad += V(&tr, i * 3072 + (size_t)j) != (float)pix(f, r, j) / 255.0f;
                    }
        }
    for (int r = 0; r < 2; r++) bad += te.y[r] != lab10(6, r) || V(&te, r * 3072 + 1500) != (float)pix(6, r, 1500) / 255.0f;
    CU_ASSERT_EQUAL(bad, 0);
    alig_image_set_free(&tr);
    alig_image_set_free(&te);

    /* the parent of the distribution's folder works too */
    mkdir(pth("c10parent"), 0700);
    write_cifar10_dir(pth("c10parent/cifar-10-batches-bin"), 2, 1);
    CU_ASSERT(alig_cifar10_load(pth("c10parent"), &tr, NULL, err, sizeof err) == ALIG_SUCCESS && tr.n == 10);
    alig_image_set_free(&tr);
}

static void test_cifar100(void)
{
    mkdir(pth("c100"), 0700);
    const unsigned char tl[] = { 3, 17, 19, 99, 0, 0, 11, 42 };   /* (coarse, fine) pairs */
    const unsigned char sl[] = { 7, 55 };
    write_cifar(pth("c100/train.bin"), 1, 4, 2, tl);
    write_cifar(pth("c100/test.bin"), 2, 1, 2, sl);
    alig_image_set tr, te;
    char err[1024];
    CU_ASSERT_FATAL(alig_cifar100_load(pth("c100"), 0, &tr, &te, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(tr.n == 4 && tr.num_classes == 100 && te.n == 1);
    CU_ASSERT(tr.y[0] == 17 && tr.y[1] == 99 && tr.y[2] == 0 && tr.y[3] == 42 && te.y[0] == 55);
    /* pixels start after the two label bytes */
    CU_ASSERT(V(&tr, 3 * 3072 + 0) == (float)pix(1, 3, 0) / 255.0f && V(&tr, 3 * 3072 + 3071) == (float)pix(1, 3, 3071) / 255.0f);
    alig_image_set_free(&tr);
    alig_image_set_free(&te);
    CU_ASSERT_FATAL(alig_cifar100_load(pth("c100"), 1, &tr, &te, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(tr.num_classes == 20 && tr.y[0] == 3 && tr.y[1] == 19 && tr.y[2] == 0 && tr.y[3] == 11 && te.y[0] == 7);
    alig_image_set_free(&tr);
    alig_image_set_free(&te);
}

static void test_cifar_errors(void)
{
    char err[1024];
    alig_image_set s;
    const unsigned char l[4] = { 1, 2, 3, 4 };
    /* a record cut short */
    write_cifar(pth("cut.bin"), 0, 3, 1, l);
    CU_ASSERT_FATAL(truncate(pth("cut.bin"), 3073 * 2 + 100) == 0);
    memset(&s, 0xAB, sizeof s);
    CU_ASSERT_EQUAL(alig_cifar_read(pth("cut.bin"), 1, 0, 10, &s, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, pth("cut.bin")) && strstr(err, "3073-byte records") && strstr(err, "truncated"));
    CU_ASSERT(s.n == 0 && s.u == NULL && s.y == NULL);
    /* empty */
    write_bytes(pth("empty.bin"), l, 0);
    CU_ASSERT_EQUAL(alig_cifar_read(pth("empty.bin"), 1, 0, 10, &s, err, sizeof err), ALIG_EFORMAT);
    /* label out of range: CIFAR-10 label 10 in record 2 */
    const unsigned char bl[3] = { 9, 0, 10 };
    write_cifar(pth("badlab.bin"), 0, 3, 1, bl);
    CU_ASSERT_EQUAL(alig_cifar_read(pth("badlab.bin"), 1, 0, 10, &s, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, pth("badlab.bin")) && strstr(err, "record 2") && strstr(err, "label 10"));
    CU_ASSERT(s.u == NULL);
    /* CIFAR-100: fine 100, and a coarse 20 even when the fine labels are used */
    const unsigned char f1[4] = { 1, 5, 2, 100 }, f2[4] = { 20, 5, 2, 6 };
    write_cifar(pth("f1.bin"), 0, 2, 2, f1);
    write_cifar(pth("f2.bin"), 0, 2, 2, f2);
    CU_ASSERT_EQUAL(alig_cifar_read(pth("f1.bin"), 2, 1, 100, &s, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "record 1") && strstr(err, "label 100"));
    CU_ASSERT_EQUAL(alig_cifar_read(pth("f2.bin"), 2, 1, 100, &s, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "record 0") && strstr(err, "coarse label 20"));
    /* a 2-label file read as CIFAR-10 is not a whole number of records */
    CU_ASSERT_EQUAL(alig_cifar_read(pth("f2.bin"), 1, 0, 10, &s, err, sizeof err), ALIG_EFORMAT);
    /* missing files name the path; a damaged batch 3 fails the whole load, outputs zeroed */
    alig_image_set tr, te;
    CU_ASSERT_EQUAL(alig_cifar10_load(pth("nowhere"), &tr, &te, err, sizeof err), ALIG_EIO);
    CU_ASSERT(strstr(err, "nowhere: cannot access the data directory: No such file or directory") != NULL);
    CU_ASSERT_FATAL(mkdir(pth("c10empty"), 0700) == 0);     /* the directory exists, the files do not */
    CU_ASSERT_EQUAL(alig_cifar10_load(pth("c10empty"), &tr, &te, err, sizeof err), ALIG_EIO);
    CU_ASSERT(strstr(err, "c10empty/data_batch_1.bin: not found") != NULL);
    CU_ASSERT_EQUAL(alig_cifar100_load(pth("f2.bin"), 0, &tr, &te, err, sizeof err), ALIG_EIO);   /* not a directory */
    CU_ASSERT(strstr(err, "f2.bin: not a directory") != NULL && tr.x == NULL && te.x == NULL);
    write_cifar10_dir(pth("c10bad"), 2, 1);
    CU_ASSERT_FATAL(truncate(pth("c10bad/data_batch_3.bin"), 3073 + 5) == 0);
    memset(&tr, 0xAB, sizeof tr);
    CU_ASSERT_EQUAL(alig_cifar10_load(pth("c10bad"), &tr, &te, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "data_batch_3.bin") && tr.u == NULL && tr.n == 0 && te.u == NULL);
    CU_ASSERT_EQUAL(alig_cifar_read(pth("f2.bin"), 3, 0, 10, &s, err, sizeof err), ALIG_EINVAL);
}

/* ---------------------------------------------------------------- SVHN */

#ifdef HAVE_MATIO_WRITER
static unsigned char svx(int f, size_t i, int ch, int r, int c) { return (unsigned char)((f * 17 + i * 29 + ch * 71 + r * 3 + c * 11) & 255); }

/* An SVHN-like file: X of dims x0 x x1 x x2 x n of class xc, y of n labels (double) from labels. */
static void write_mat(const char *path, int f, size_t x0, size_t x1, size_t x2, size_t n, const double *labels,
                      size_t ny, int with_x, int with_y, int x_double)
{
    mat_t *m = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    CU_ASSERT_FATAL(m != NULL);
    if (with_x) {
        size_t dims[4] = { x0, x1, x2, n };
        const size_t cnt = x0 * x1 * x2 * n;
        unsigned char *u = malloc(cnt);
        double *d = malloc(cnt * sizeof *d);
        for (size_t i = 0; i < n; i++)
            for (size_t ch = 0; ch < x2; ch++)
                for (size_t c = 0; c < x1; c++)
                    for (size_t r = 0; r < x0; r++) {
                        const size_t k = r + x0 * (c + x1 * (ch + x2 * i));   /* MATLAB order */
                        u[k] = svx(f, i, (int)ch, (int)r, (int)c);
                        d[k] = u[k];
                    }
        matvar_t *v = x_double ? Mat_VarCreate("X", MAT_C_DOUBLE, MAT_T_DOUBLE, 4, dims, d, 0)
                               : Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, dims, u, 0);
        CU_ASSERT_FATAL(v && Mat_VarWrite(m, v, MAT_COMPRESSION_NONE) == 0);
        Mat_VarFree(v);
        free(u);
        free(d);
    }
    if (with_y) {
        size_t dims[2] = { ny, 1 };
        matvar_t *v = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, (void *)labels, 0);
        CU_ASSERT_FATAL(v && Mat_VarWrite(m, v, MAT_COMPRESSION_NONE) == 0);
        Mat_VarFree(v);
    }
    Mat_Close(m);
}
#endif

static void test_svhn(void)
{
#ifndef HAVE_MATIO_WRITER
    CU_FAIL("built without libmatio's header: run scripts/install-deps (libmatio-dev)");
#else
    CU_ASSERT_FATAL(alig_svhn_available() == 1);
    mkdir(pth("svhn"), 0700);
    const double ltr[10] = { 1, 10, 3, 4, 5, 6, 7, 8, 9, 2 }, lex[4] = { 10, 10, 1, 5 }, lte[3] = { 4, 10, 9 };
    write_mat(pth("svhn/train_32x32.mat"), 1, 32, 32, 3, 10, ltr, 10, 1, 1, 0);
    write_mat(pth("svhn/extra_32x32.mat"), 2, 32, 32, 3, 4, lex, 4, 1, 1, 0);
    write_mat(pth("svhn/test_32x32.mat"), 3, 32, 32, 3, 3, lte, 3, 1, 1, 0);
    alig_image_set tr, ex, te;
    char err[1024];
    CU_ASSERT_FATAL(alig_svhn_load(pth("svhn"), &tr, &ex, &te, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(tr.n == 10 && ex.n == 4 && te.n == 3 && tr.c == 3 && tr.h == 32 && tr.num_classes == 10);
    int bad = 0;
    for (size_t i = 0; i < 10; i++) {
        bad += tr.y[i] != (ltr[i] == 10 ? 0 : (int)ltr[i]);
        for (int ch = 0; ch < 3; ch++)
            for (int r = 0; r < 32; r += 3)
                for (int c = 0; c < 32; c += 5)
                    bad += V(&tr, ((i * 3 + (size_t)ch) * 32 + (size_t)r) * 32 + (size_t)c) != (float)svx(1, i, ch, r, c) / 255.0f;
    }
    bad += ex.y[0] != 0 || ex.y[1] != 0 || ex.y[2] != 1 || ex.y[3] != 5 || te.y[1] != 0 || te.y[2] != 9;
    bad += V(&ex, 3 * 3072 + 1024 + 5 * 32 + 7) != (float)svx(2, 3, 1, 5, 7) / 255.0f;
    CU_ASSERT_EQUAL(bad, 0);
    alig_image_set_free(&tr);
    alig_image_set_free(&ex);
    alig_image_set_free(&te);

    /* damaged files */
    alig_image_set s;
    const double l5[5] = { 1, 2, 3, 4, 5 }, l11[5] = { 1, 2, 11, 4, 5 }, lfrac[5] = { 1, 2.5, 3, 4, 5 };
    struct { const char *name; int x0, x2, n, ny, wx, wy, xd; const double *lab; const char *want; alig_status st; } cs[] = {
        { "noy.mat", 32, 3, 5, 5, 1, 0, 0, l5, "'y' is missing", ALIG_EFORMAT },
        { "nox.mat", 32, 3, 5, 5, 0, 1, 0, l5, "'X' is missing", ALIG_EFORMAT },
        { "gray.mat", 32, 1, 5, 5, 1, 1, 0, l5, "X is 32x32x1x5 uint8", ALIG_EFORMAT },
        { "small.mat", 16, 3, 5, 5, 1, 1, 0, l5, "X is 16x32x3x5", ALIG_EFORMAT },
        { "xdouble.mat", 32, 3, 5, 5, 1, 1, 1, l5, "X is 32x32x3x5 double", ALIG_EFORMAT },
        { "ycount.mat", 32, 3, 5, 4, 1, 1, 0, l5, "y is 4x1", ALIG_EFORMAT },
        { "lab11.mat", 32, 3, 5, 5, 1, 1, 0, l11, "label 11 at index 2", ALIG_EFORMAT },
        { "labfrac.mat", 32, 3, 5, 5, 1, 1, 0, lfrac, "label 2.5 at index 1", ALIG_EFORMAT },
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        write_mat(pth(cs[i].name), 0, (size_t)cs[i].x0, 32, (size_t)cs[i].x2, (size_t)cs[i].n, cs[i].lab,
                  (size_t)cs[i].ny, cs[i].wx, cs[i].wy, cs[i].xd);
        memset(&s, 0xAB, sizeof s);
        const alig_status st = alig_svhn_read(pth(cs[i].name), &s, err, sizeof err);
        CU_ASSERT_EQUAL(st, cs[i].st);
        const int named = strstr(err, pth(cs[i].name)) != NULL, says = strstr(err, cs[i].want) != NULL;
        CU_ASSERT(named && says);
        if (!named || !says) printf("\n  %s: got '%s'\n", cs[i].name, err);
        CU_ASSERT(s.u == NULL && s.y == NULL && s.n == 0);
    }
    /* truncated files */
    write_mat(pth("full.mat"), 0, 32, 32, 3, 5, l5, 5, 1, 1, 0);
    struct stat sb;
    CU_ASSERT_FATAL(stat(pth("full.mat"), &sb) == 0);
    /* inside X's data, y's data gone (its 40 bytes), inside the header */
    const off_t cuts[3] = { sb.st_size / 2, sb.st_size - 40, 100 };
    for (int k = 0; k < 3; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "cut%d.mat", k);
        write_mat(pth(nm), 0, 32, 32, 3, 5, l5, 5, 1, 1, 0);
        CU_ASSERT_FATAL(truncate(pth(nm), cuts[k]) == 0);
        memset(&s, 0xAB, sizeof s);
        const alig_status st = alig_svhn_read(pth(nm), &s, err, sizeof err);
        CU_ASSERT(st == ALIG_EFORMAT || st == ALIG_EIO);
        CU_ASSERT(strstr(err, pth(nm)) != NULL);
        if (st == ALIG_SUCCESS) printf("\n  %s (cut at %lld of %lld): read without error\n", nm, (long long)cuts[k],
                                       (long long)sb.st_size);
        CU_ASSERT(s.u == NULL && s.n == 0);
    }
    /* a header that declares more images than ALIG_SVHN_MAX_IMAGES (X's fourth dimension patched
     * in a valid one-image file): refused before anything is allocated or read */
    write_mat(pth("many.mat"), 0, 32, 32, 3, 1, l5, 1, 1, 1, 0);
    FILE *fp = fopen(pth("many.mat"), "r+b");
    CU_ASSERT_FATAL(fp != NULL);
    unsigned char head[512];
    const size_t got = fread(head, 1, sizeof head, fp);
    const int32_t dims_one[4] = { 32, 32, 3, 1 }, n_many = (int32_t)ALIG_SVHN_MAX_IMAGES + 1;
    size_t at = 0;
    while (at + sizeof dims_one <= got && memcmp(head + at, dims_one, sizeof dims_one)) at++;
    CU_ASSERT_FATAL(at + sizeof dims_one <= got);      /* X's dimensions, as matio wrote them */
    CU_ASSERT_FATAL(fseek(fp, (long)(at + 12), SEEK_SET) == 0 && fwrite(&n_many, 4, 1, fp) == 1);
    fclose(fp);
    memset(&s, 0xAB, sizeof s);
    CU_ASSERT_EQUAL(alig_svhn_read(pth("many.mat"), &s, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT(strstr(err, "X declares 1048577 images, more than ALIG_SVHN_MAX_IMAGES (1048576") != NULL);
    CU_ASSERT(s.x == NULL && s.n == 0);
    /* not a MATLAB file; missing */
    write_bytes(pth("junk.mat"), (const unsigned char *)"hello, this is not a mat file at all", 36);
    CU_ASSERT_EQUAL(alig_svhn_read(pth("junk.mat"), &s, err, sizeof err), ALIG_EIO);
    CU_ASSERT(strstr(err, "junk.mat") != NULL);
    CU_ASSERT_EQUAL(alig_svhn_load(pth("nowhere"), &tr, &ex, &te, err, sizeof err), ALIG_EIO);
    CU_ASSERT(strstr(err, "train_32x32.mat") != NULL && tr.u == NULL);
#endif
}

/* ---------------------------------------------------------------- MAT 5 files the reader refuses before matio */

/* A MAT 5 file written byte by byte (MathWorks, "MAT-File Format"): the 128-byte header (version
 * `version`, little-endian), then one element of type `type` whose content is `body`; with
 * compress, the element is miCOMPRESSED and its content a zlib stream of one stored block holding
 * body (RFC 1950 / 1951: header 78 01, block 01 LEN ~LEN, data, Adler-32). */
static void write_raw_mat(const char *path, unsigned version, uint32_t type, const unsigned char *body, uint32_t n,
                          int compress)
{
    unsigned char *b = calloc(1, 128 + 8 + 11 + n + 8);
    CU_ASSERT_FATAL(b != NULL);
    memset(b, ' ', 116);
    memcpy(b, "MATLAB 5.0 MAT-file, written by test_vision_data", 48);
    b[124] = (unsigned char)(version & 0xff);
    b[125] = (unsigned char)(version >> 8);
    b[126] = 'I';
    b[127] = 'M';
    size_t len = 136;
    if (compress) {
        unsigned char *z = b + 136;
        z[0] = 0x78, z[1] = 0x01, z[2] = 0x01;
        z[3] = (unsigned char)(n & 0xff), z[4] = (unsigned char)(n >> 8);
        z[5] = (unsigned char)(~n & 0xff), z[6] = (unsigned char)((~n >> 8) & 0xff);
        memcpy(z + 7, body, n);
        uint32_t s1 = 1, s2 = 0;
        for (uint32_t i = 0; i < n; i++) s1 = (s1 + body[i]) % 65521, s2 = (s2 + s1) % 65521;
        const uint32_t adler = s2 << 16 | s1;
        for (int k = 0; k < 4; k++) z[7 + n + k] = (unsigned char)(adler >> (24 - 8 * k));
        len += 11 + n;
        type = 15;
    } else {
        memcpy(b + 136, body, n);
        len += n;
    }
    const uint32_t tag[2] = { type, (uint32_t)(len - 136) };
    memcpy(b + 128, tag, 8);
    write_bytes(path, b, len);
    free(b);
}

/* An miMATRIX element's first 56 bytes: tag (14, nbytes), array flags (class), dimensions (tag and
 * 32x32x3x1), then the name's tag: name_len 0 gives "X" packed in the tag (small element), else a
 * full miINT8 tag declaring name_len bytes. The 8 bytes after it are zero. */
static void matrix_head(unsigned char *m, uint32_t nbytes, uint32_t cls, uint32_t dims_bytes, uint32_t name_len)
{
    const uint32_t w[16] = { 14, nbytes, 6, 8, cls, 0, 5, dims_bytes, 32, 32, 3, 1,
                             name_len ? 1 : (1u << 16 | 1), name_len ? name_len : 'X', 0, 0 };
    memcpy(m, w, sizeof w);
}

static void test_svhn_walk(void)
{
    const int have = alig_svhn_available();    /* without libmatio every read is ALIG_EUNSUPPORTED */
    char err[1024];
    alig_image_set s;
    unsigned char m[64];
    struct { const char *name; unsigned version; uint32_t type, cls, dims_bytes, name_len; int compress;
             alig_status st; const char *want; } cs[] = {
        /* fuzz_svhn's findings: a compressed X whose dimensions field claims 2^31 bytes (matio 1.5.23
         * asked calloc for 8 GB before reading them), and one whose name claims 2 GB (malloc'd) */
        { "rank-huge.mat", 0x0100, 14, 9, 0x7ffffff0u, 0, 1, ALIG_EFORMAT, "2147483632 bytes of dimensions" },
        { "name-huge.mat", 0x0100, 14, 9, 16, 0x7ffffff0u, 1, ALIG_EFORMAT, "its name is damaged (2147483632 bytes" },
        { "name-huge-plain.mat", 0x0100, 14, 9, 16, 64, 0, ALIG_EFORMAT, "its name is damaged (64 bytes" },
        { "rank-one.mat", 0x0100, 14, 9, 4, 0, 0, ALIG_EFORMAT, "not a real numeric array of 2 to 4 dimensions" },
        { "struct.mat", 0x0100, 14, 2, 16, 0, 1, ALIG_EFORMAT, "class 2" },
        { "cell.mat", 0x0100, 14, 1, 16, 0, 0, ALIG_EFORMAT, "class 1" },
        { "complex.mat", 0x0100, 14, 9 | 0x0800, 16, 0, 0, ALIG_EFORMAT, "complex" },
        { "int8-element.mat", 0x0100, 1, 9, 16, 0, 0, ALIG_EFORMAT, "has type 1, not a variable" },
        { "v73.mat", 0x0200, 14, 9, 16, 0, 0, ALIG_EFORMAT, "MAT 7.3 (HDF5)" },
        { "v4ish.mat", 0x0001, 14, 9, 16, 0, 0, ALIG_EIO, "not a MATLAB MAT 5 file (version 0x0001)" },
        /* the same head, intact, passes the walk: matio reads X's header, and y is found missing */
        { "head-ok.mat", 0x0100, 14, 9, 16, 0, 1, ALIG_EFORMAT, "variable 'y' is missing" },
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        matrix_head(m, 56, cs[i].cls, cs[i].dims_bytes, cs[i].name_len);
        write_raw_mat(pth(cs[i].name), cs[i].version, cs[i].type, cs[i].compress ? m : m + 8, cs[i].compress ? 64 : 56,
                      cs[i].compress);
        memset(&s, 0xAB, sizeof s);
        const alig_status st = alig_svhn_read(pth(cs[i].name), &s, err, sizeof err);
        const int says = !have || (strstr(err, cs[i].want) != NULL && strstr(err, pth(cs[i].name)) != NULL);
        const alig_status want = have ? cs[i].st : ALIG_EUNSUPPORTED;
        if (st != want || !says) printf("\n  %s: got %s '%s'\n", cs[i].name, alig_status_name(st), err);
        CU_ASSERT(st == want && says);
        CU_ASSERT(s.x == NULL && s.y == NULL && s.n == 0);
    }
    /* a variable that declares more bytes than the file has after it */
    matrix_head(m, 56, 9, 16, 0);
    write_raw_mat(pth("long.mat"), 0x0100, 14, m + 8, 56, 0);
    FILE *fp = fopen(pth("long.mat"), "r+b");
    CU_ASSERT_FATAL(fp != NULL);
    const uint32_t big = 1u << 30;
    CU_ASSERT_FATAL(fseek(fp, 132, SEEK_SET) == 0 && fwrite(&big, 4, 1, fp) == 1);
    fclose(fp);
    CU_ASSERT_EQUAL(alig_svhn_read(pth("long.mat"), &s, err, sizeof err), have ? ALIG_EFORMAT : ALIG_EUNSUPPORTED);
    CU_ASSERT(!have || strstr(err, "declares 1073741824 bytes, the file has 56 after its tag") != NULL);
}

/* ---------------------------------------------------------------- splits and standardisation */

/* A training split whose green channel is the same value everywhere cannot be standardised: the
 * task names the channel and the value (the issue: it said "preparing the data: invalid argument"). */
static void test_task_constant_channel(void)
{
    mkdir(pth("c10flat"), 0700);
    unsigned char rec[3073];
    char p[512], err[1024], want[256];
    for (int f = 1; f <= 6; f++) {
        if (f <= 5) snprintf(p, sizeof p, "%s/data_batch_%d.bin", pth("c10flat"), f);
        else snprintf(p, sizeof p, "%s/test_batch.bin", pth("c10flat"));
        FILE *fp = fopen(p, "wb");
        CU_ASSERT_FATAL(fp != NULL);
        for (int r = 0; r < 2; r++) {
            rec[0] = lab10(f, r);
            for (int j = 0; j < 3072; j++) rec[1 + j] = j >= 1024 && j < 2048 ? 7 : pix(f, r, j);
            CU_ASSERT_FATAL(fwrite(rec, 1, sizeof rec, fp) == sizeof rec);
        }
        fclose(fp);
    }
    alig_task_image_cfg cfg = { .data = "cifar10", .data_dir = pth("c10flat"), .val = 3, .val_seed = 1, .batch = 2 };
    alig_task *t = (alig_task *)&t;
    CU_ASSERT_EQUAL(alig_task_image_load(&t, &cfg, err, sizeof err), ALIG_EFORMAT);
    snprintf(want, sizeof want, "data set cifar10: channel 1 of the 7 training images (after the validation split) is "
             "constant (every pixel %g, scaled to [0, 1])", (double)(7.0f / 255.0f));
    if (!strstr(err, want)) printf("\n    got '%s'\n    want '%s'\n", err, want);
    CU_ASSERT(t == NULL && strstr(err, want) != NULL && strstr(err, "cannot be standardised") != NULL);
}

static void test_task_splits(void)
{
    /* CIFAR-10: 5 x 4 training records, val 5 */
    write_cifar10_dir(pth("c10t"), 4, 3);
    char err[1024];
    alig_task *t;
    alig_task_image_cfg cfg = { .data = "cifar10", .data_dir = pth("c10t"), .val = 5, .val_seed = 1234, .batch = 4 };
    CU_ASSERT_FATAL(alig_task_image_load(&t, &cfg, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(t->train.n == 15 && t->val.n == 5 && t->test.n == 3 && t->shape.in_c == 3 && t->shape.in_h == 32 &&
              t->shape.classes == 10 && t->epoch_batches == 4);
    /* the training split is standardised by its own statistics: per channel mean 0, sample std 1 */
    for (int c = 0; c < 3; c++) {
        double s = 0, q = 0;
        const size_t N = t->train.n * 1024;
        for (size_t i = 0; i < t->train.n; i++)
            for (int j = 0; j < 1024; j++) s += V(&t->train, i * 3072 + (size_t)c * 1024 + (size_t)j);
        for (size_t i = 0; i < t->train.n; i++)
            for (int j = 0; j < 1024; j++) {
                const double d = V(&t->train, i * 3072 + (size_t)c * 1024 + (size_t)j) - s / (double)N;
                q += d * d;
            }
        CU_ASSERT(fabs(s / (double)N) < 1e-5 && fabs(sqrt(q / (double)(N - 1)) - 1.0) < 1e-5);
    }
    /* test values are the raw pixels standardised with the training statistics */
    for (int r = 0; r < 3; r++) {
        const int j = 2048 + 77;   /* blue channel */
        const double raw = (double)((float)pix(6, r, j) / 255.0f);
        CU_ASSERT(fabs(V(&t->test, (size_t)r * 3072 + (size_t)j) - (raw - t->mean[2]) / t->std[2]) < 1e-6);
    }
    /* train + val hold every record once: labels and a pixel signature as a multiset */
    int seen[5][4] = { { 0 } };
    const alig_image_set *parts[2] = { &t->train, &t->val };
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < parts[p]->n; i++) {
            const double raw0 = V(parts[p], i * 3072) * t->std[0] + t->mean[0];
            int found = 0;
            for (int f = 1; f <= 5; f++)
                for (int r = 0; r < 4; r++)
                    if (fabs(raw0 - pix(f, r, 0) / 255.0) < 1e-5 && parts[p]->y[i] == lab10(f, r)) {
                        seen[f - 1][r]++;
                        found = 1;
                    }
            CU_ASSERT(found);
        }
    int once = 1;
    for (int f = 0; f < 5; f++)
        for (int r = 0; r < 4; r++) once &= seen[f][r] == 1;
    CU_ASSERT(once);
    alig_task_free(t);
    /* a data set without its directory; a missing directory */
    cfg.data_dir = NULL;
    CU_ASSERT_EQUAL(alig_task_image_load(&t, &cfg, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT(t == NULL && strstr(err, "cifar10"));
    cfg.data_dir = pth("nowhere");
    CU_ASSERT_EQUAL(alig_task_image_load(&t, &cfg, err, sizeof err), ALIG_EIO);
    CU_ASSERT(t == NULL && strstr(err, "nowhere: cannot access the data directory"));

#ifdef HAVE_MATIO_WRITER
    /* SVHN: val from train, then the rest of train followed by extra */
    mkdir(pth("svt"), 0700);
    const double ltr[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, lex[4] = { 10, 3, 3, 7 }, lte[2] = { 1, 2 };
    write_mat(pth("svt/train_32x32.mat"), 1, 32, 32, 3, 10, ltr, 10, 1, 1, 0);
    write_mat(pth("svt/extra_32x32.mat"), 2, 32, 32, 3, 4, lex, 4, 1, 1, 0);
    write_mat(pth("svt/test_32x32.mat"), 3, 32, 32, 3, 2, lte, 2, 1, 1, 0);
    alig_task_image_cfg sc = { .data = "svhn", .data_dir = pth("svt"), .val = 6, .val_seed = 1234, .batch = 2 };
    CU_ASSERT_FATAL(alig_task_image_load(&t, &sc, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(t->train.n == 8 && t->val.n == 6 && t->test.n == 2);
    int ok = 1;
    for (size_t e = 0; e < 4; e++) {
        const size_t i = 4 + e;   /* the extra samples close the training split, in order */
        ok &= t->train.y[i] == (lex[e] == 10 ? 0 : (int)lex[e]);
        for (int ch = 0; ch < 3; ch++) {
            const double raw = V(&t->train, ((i * 3 + (size_t)ch) * 32 + 9) * 32 + 4) * t->std[ch] + t->mean[ch];
            ok &= fabs(raw - svx(2, e, ch, 9, 4) / 255.0) < 1e-5;
        }
    }
    CU_ASSERT(ok);
    alig_task_free(t);
    sc.no_extra = 1;
    CU_ASSERT_FATAL(alig_task_image_load(&t, &sc, err, sizeof err) == ALIG_SUCCESS);
    CU_ASSERT(t->train.n == 4 && t->val.n == 6);
    alig_task_free(t);
#endif
}

/* ---------------------------------------------------------------- augmentation */

static void test_augment_image(void)
{
    enum { C = 2, H = 5, W = 6, P = 2 };
    float in[C * H * W], out[C * H * W];
    const float fill[C] = { -7.5f, 9.25f };
    for (int c = 0; c < C; c++)
        for (int r = 0; r < H; r++)
            for (int s = 0; s < W; s++) in[(c * H + r) * W + s] = (float)(100 * c + 10 * r + s);
    int bad = 0;
    for (int dy = 0; dy <= 2 * P; dy++)
        for (int dx = 0; dx <= 2 * P; dx++)
            for (int flip = 0; flip < 2; flip++) {
                CU_ASSERT_FATAL(alig_augment_image(in, out, C, H, W, P, fill, (alig_augment_draw){ dy, dx, flip }) == 0);
                for (int c = 0; c < C; c++)
                    for (int r = 0; r < H; r++)
                        for (int s = 0; s < W; s++) {
                            /* the crop of the padded image at (dy, dx), then the mirror */
                            const int sc = flip ? W - 1 - s : s;
                            const int ir = r + dy - P, is = sc + dx - P;
                            const float want = ir >= 0 && ir < H && is >= 0 && is < W ? (float)(100 * c + 10 * ir + is)
                                                                                      : fill[c];
                            bad += out[(c * H + r) * W + s] != want;
                        }
            }
    CU_ASSERT_EQUAL(bad, 0);
    /* known pixels: offset (dy, dx) = (P + 1, P - 2) moves pixel (1, 0) of the image to (0, 2) */
    CU_ASSERT_FATAL(alig_augment_image(in, out, C, H, W, P, fill, (alig_augment_draw){ P + 1, P - 2, 0 }) == 0);
    CU_ASSERT(out[0 * W + 2] == 10.0f && out[0 * W + 0] == fill[0] && out[(H - 1) * W + 3] == fill[0]);
    /* the identity: centred, no flip */
    CU_ASSERT_FATAL(alig_augment_image(in, out, C, H, W, P, fill, (alig_augment_draw){ P, P, 0 }) == 0);
    CU_ASSERT(!memcmp(in, out, sizeof in));
    CU_ASSERT_EQUAL(alig_augment_image(in, out, C, H, W, P, fill, (alig_augment_draw){ 2 * P + 1, 0, 0 }), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_augment_image(in, out, C, H, W, -1, fill, (alig_augment_draw){ 0, 0, 0 }), ALIG_EINVAL);
}

static void test_augment_draws(void)
{
    /* pure function of (seed, k, j); different for other seeds, batches, positions */
    long cnt_y[9] = { 0 }, cnt_x[9] = { 0 }, flips = 0, same_seed = 0;
    const long n = 90000;
    for (long i = 0; i < n; i++) {
        const alig_augment_draw a = alig_augment_draws(5, (uint64_t)i / 128, (uint64_t)i % 128, 4);
        const alig_augment_draw b = alig_augment_draws(5, (uint64_t)i / 128, (uint64_t)i % 128, 4);
        const alig_augment_draw c = alig_augment_draws(6, (uint64_t)i / 128, (uint64_t)i % 128, 4);
        CU_ASSERT_FATAL(a.dy == b.dy && a.dx == b.dx && a.flip == b.flip);
        CU_ASSERT_FATAL(a.dy >= 0 && a.dy <= 8 && a.dx >= 0 && a.dx <= 8);
        cnt_y[a.dy]++;
        cnt_x[a.dx]++;
        flips += a.flip;
        same_seed += a.dy == c.dy && a.dx == c.dx && a.flip == c.flip;
    }
    /* uniform within 5 standard errors; independent of the seed (P(all equal) = 1/162) */
    const double p = 1.0 / 9.0, se = sqrt(n * p * (1 - p));
    int ok = 1;
    for (int v = 0; v < 9; v++) ok &= fabs(cnt_y[v] - n * p) < 5 * se && fabs(cnt_x[v] - n * p) < 5 * se;
    CU_ASSERT(ok);
    CU_ASSERT(fabs(flips - n / 2.0) < 5 * sqrt(n / 4.0));
    CU_ASSERT(fabs(same_seed - n / 162.0) < 5 * sqrt(n / 162.0));
}

static void test_task_augment(void)
{
    write_cifar10_dir(pth("c10a"), 4, 3);
    char err[1024];
    alig_task *t, *plain;
    alig_task_image_cfg cfg = { .data = "cifar10", .data_dir = pth("c10a"), .val = 5, .val_seed = 1234, .batch = 4,
                                .seed = 3, .augment = 1 };
    CU_ASSERT_FATAL(alig_task_image_load(&t, &cfg, err, sizeof err) == ALIG_SUCCESS);
    cfg.augment = 0;
    CU_ASSERT_FATAL(alig_task_image_load(&plain, &cfg, err, sizeof err) == ALIG_SUCCESS);
    /* the padding is what a black pixel becomes once standardised */
    for (int c = 0; c < 3; c++) CU_ASSERT(fabs(t->fill[c] - (0.0 - t->mean[c]) / t->std[c]) < 1e-6);
    /* the sets hold bytes; the evaluation sets must never change */
    CU_ASSERT_FATAL(t->train.u && t->val.u && plain->train.u && !t->train.x);
    uint8_t *val0 = malloc(t->val.n * 3072);
    float lut0[3 * 256];
    memcpy(val0, t->val.u, t->val.n * 3072);
    memcpy(lut0, t->val.lut, sizeof lut0);
    float *keep = malloc(4 * 3072 * sizeof *keep);
    int bad = 0, moved = 0;
    for (uint64_t k = 0; k < 9; k++) {   /* over two epochs and a short last batch */
        alig_batch b, p;
        CU_ASSERT_FATAL(alig_task_batch(t, k, &b) == ALIG_SUCCESS && alig_task_batch(plain, k, &p) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(b.n == p.n && b.set == &t->aug && b.idx == NULL && b.start == 0);
        for (size_t j = 0; j < b.n; j++) {
            const size_t i = p.idx[p.start + j];      /* the sample the plain task gives */
            float want[3072], orig[3072];
            CU_ASSERT_FATAL(alig_data_batch(&plain->train, NULL, i, 1, orig, NULL) == ALIG_SUCCESS);
            alig_augment_image(orig, want, 3, 32, 32, 4, t->fill, alig_augment_draws(3, k, j, 4));
            bad += memcmp(b.set->x + j * 3072, want, sizeof want) != 0 || b.set->y[j] != plain->train.y[i];
            moved += memcmp(b.set->x + j * 3072, orig, sizeof want) != 0;
        }
        if (k == 5) memcpy(keep, b.set->x, b.n * 3072 * sizeof *keep);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(moved > 20);   /* 35 samples, 1/18 chance each of the identity */
    /* batch k is reproducible out of order (resume), and the evaluation sets are never touched */
    alig_batch b;
    CU_ASSERT_FATAL(alig_task_batch(t, 5, &b) == ALIG_SUCCESS);
    CU_ASSERT(!memcmp(keep, b.set->x, b.n * 3072 * sizeof *keep));
    CU_ASSERT(!memcmp(val0, t->val.u, t->val.n * 3072) && !memcmp(lut0, t->val.lut, sizeof lut0));
    free(val0);
    free(keep);
    alig_task_free(t);
    alig_task_free(plain);
}

/* the byte form of the augmentation equals the float one on the table's values, bit for bit */
static void test_augment_bytes(void)
{
    enum { C = 3, H = 6, W = 5, P = 3 };
    uint8_t in[C * H * W];
    float lut[C * 256], inf[C * H * W], a[C * H * W], b[C * H * W];
    const float fill[C] = { -1.25f, 0.5f, 3.0f };
    for (int k = 0; k < C * 256; k++) lut[k] = (float)sin(0.1 * k) * (float)(k / 256 + 1);
    for (int i = 0; i < C * H * W; i++) {
        in[i] = (uint8_t)((37 * i + 11) % 256);
        inf[i] = lut[256 * (i / (H * W)) + in[i]];
    }
    int bad = 0;
    for (int dy = 0; dy <= 2 * P; dy++)
        for (int dx = 0; dx <= 2 * P; dx++)
            for (int flip = 0; flip < 2; flip++) {
                const alig_augment_draw d = { dy, dx, flip };
                CU_ASSERT_FATAL(alig_augment_image(inf, a, C, H, W, P, fill, d) == ALIG_SUCCESS);
                CU_ASSERT_FATAL(alig_augment_image_bytes(in, lut, b, C, H, W, P, fill, d) == ALIG_SUCCESS);
                bad += memcmp(a, b, sizeof a) != 0;
            }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(alig_augment_image_bytes(in, NULL, b, C, H, W, P, fill, (alig_augment_draw){ 0, 0, 0 }), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_augment_image_bytes(in, lut, b, C, H, W, P, fill, (alig_augment_draw){ 7, 0, 0 }), ALIG_EINVAL);
}

/* concatenating byte sets: bytes and labels in order, one table; mixed kinds or tables refused */
static void test_concat_bytes(void)
{
    alig_image_set a, b, c, f = { .n = 1, .c = 3, .h = 2, .w = 2, .num_classes = 4 };
    CU_ASSERT_FATAL(alig_image_set_alloc_bytes(&a, 2, 3, 2, 2, 4) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_image_set_alloc_bytes(&b, 3, 3, 2, 2, 6) == ALIG_SUCCESS);
    for (int i = 0; i < 24; i++) a.u[i] = (uint8_t)i;
    for (int i = 0; i < 36; i++) b.u[i] = (uint8_t)(100 + i);
    a.y[0] = 1; a.y[1] = 3; b.y[0] = 5; b.y[1] = 0; b.y[2] = 2;
    CU_ASSERT_FATAL(alig_image_set_concat(&a, &b, &c) == ALIG_SUCCESS);
    CU_ASSERT(c.n == 5 && c.num_classes == 6 && c.x == NULL && c.u && c.lut);
    int ok = 1;
    for (int i = 0; i < 60; i++) ok &= c.u[i] == (i < 24 ? i : 100 + i - 24);
    CU_ASSERT(ok && c.y[1] == 3 && c.y[2] == 5 && c.y[4] == 2);
    CU_ASSERT(V(&c, 59) == (float)(100 + 35) / 255.0f);
    alig_image_set_free(&c);
    f.x = calloc(12, sizeof *f.x);
    f.y = calloc(1, sizeof *f.y);
    CU_ASSERT_EQUAL(alig_image_set_concat(&a, &f, &c), ALIG_EINVAL);       /* bytes and floats */
    CU_ASSERT_EQUAL(alig_image_set_concat(&f, &a, &c), ALIG_EINVAL);
    const double m[3] = { 0.5, 0.5, 0.5 }, sd[3] = { 0.25, 0.25, 0.25 };
    CU_ASSERT_FATAL(alig_data_normalise_with(&b, m, sd) == ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_image_set_concat(&a, &b, &c), ALIG_EINVAL);       /* two tables */
    CU_ASSERT(c.u == NULL && c.n == 0);
    alig_image_set_free(&a);
    alig_image_set_free(&b);
    alig_image_set_free(&f);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/alig_vision_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("vision data", NULL, NULL);
    CU_add_test(s, "cifar-10: records read back, five files in order, sub-folder", test_cifar10);
    CU_add_test(s, "cifar-100: fine and coarse labels", test_cifar100);
    CU_add_test(s, "cifar: truncated, bad labels, missing files: errors, nothing built", test_cifar_errors);
    CU_add_test(s, "svhn: .mat read back (MATLAB order, 10 -> 0); damaged files", test_svhn);
    CU_add_test(s, "svhn: what the MAT 5 walk refuses before matio", test_svhn_walk);
    CU_add_test(s, "task: splits (cifar 45k/5k style, svhn val + extra), standardisation", test_task_splits);
    CU_add_test(s, "task: a constant channel is named", test_task_constant_channel);
    CU_add_test(s, "augmentation: crop offsets, flip, padding", test_augment_image);
    CU_add_test(s, "augmentation draws: pure, uniform, seeded", test_augment_draws);
    CU_add_test(s, "task with augmentation: batch k, resume, eval sets untouched", test_task_augment);
    CU_add_test(s, "augmentation of byte images = of their float values", test_augment_bytes);
    CU_add_test(s, "concatenation of byte sets", test_concat_bytes);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    const unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return fails ? 1 : 0;
}
