/* svhn.c - SVHN cropped digits (train_32x32.mat, test_32x32.mat, extra_32x32.mat) through libmatio
 * (include/alig/vision.h).
 *
 * Each variable is first read without its data (Mat_VarReadInfo) to check its class, rank and
 * dimensions against the format, and the image count against the size of the file, before the
 * data are read: a damaged header cannot make the reader allocate more than the file can hold.
 * matio's own messages go to a silent logger (the library never prints). Built without libmatio
 * (ALIG_HAVE_MATIO undefined), the reader returns ALIG_EUNSUPPORTED. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alig/vision.h"

#ifdef ALIG_HAVE_MATIO
#include <matio.h>
#include <zlib.h>
#endif

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

#ifdef ALIG_HAVE_MATIO

int alig_svhn_available(void) { return 1; }

static void silent_log(int level, char *message)
{
    (void)level;
    (void)message;
}

static const char *class_name(enum matio_classes c)
{
    switch (c) {
    case MAT_C_DOUBLE: return "double";
    case MAT_C_SINGLE: return "single";
    case MAT_C_INT8: return "int8";
    case MAT_C_UINT8: return "uint8";
    case MAT_C_INT16: return "int16";
    case MAT_C_UINT16: return "uint16";
    case MAT_C_INT32: return "int32";
    case MAT_C_UINT32: return "uint32";
    case MAT_C_INT64: return "int64";
    case MAT_C_UINT64: return "uint64";
    case MAT_C_CELL: return "cell";
    case MAT_C_STRUCT: return "struct";
    case MAT_C_CHAR: return "char";
    case MAT_C_SPARSE: return "sparse";
    default: return "unknown";
    }
}

static int class_size(enum matio_classes c)
{
    switch (c) {
    case MAT_C_DOUBLE: case MAT_C_INT64: case MAT_C_UINT64: return 8;
    case MAT_C_SINGLE: case MAT_C_INT32: case MAT_C_UINT32: return 4;
    case MAT_C_INT16: case MAT_C_UINT16: return 2;
    case MAT_C_INT8: case MAT_C_UINT8: return 1;
    default: return 0;
    }
}

/* Element i of a numeric array of class c, as a double. */
static double elem(const void *data, enum matio_classes c, size_t i)
{
    switch (c) {
    case MAT_C_DOUBLE: return ((const double *)data)[i];
    case MAT_C_SINGLE: return ((const float *)data)[i];
    case MAT_C_INT8: return ((const int8_t *)data)[i];
    case MAT_C_UINT8: return ((const uint8_t *)data)[i];
    case MAT_C_INT16: return ((const int16_t *)data)[i];
    case MAT_C_UINT16: return ((const uint16_t *)data)[i];
    case MAT_C_INT32: return ((const int32_t *)data)[i];
    case MAT_C_UINT32: return ((const uint32_t *)data)[i];
    case MAT_C_INT64: return (double)((const int64_t *)data)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)data)[i];
    default: return NAN;
    }
}

static void dims_text(const matvar_t *v, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < v->rank && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%zu", i ? "x" : "", v->dims[i]);
}

/* ---------------------------------------------------------------- the MAT 5 walk before matio
 *
 * libmatio 1.5 trusts more of a file than it should: fuzz_svhn found a compressed variable whose
 * rank field made Mat_VarReadInfo ask for 8 GB (inflate.c, InflateRankDims), and matio's later
 * releases fix several more such faults. So before matio opens a file, the reader walks the file's
 * top level itself (MathWorks, "MAT-File Format", level 5) and lets through only what an SVHN file
 * holds: a MAT 5 header, then variables (miMATRIX, or miCOMPRESSED holding one) that are real
 * numeric arrays of rank 2 to 4 with a name of at most 63 bytes (MATLAB's longest), each within the
 * file (a damaged name length made matio ask for 2 GB too). matio then only ever parses such arrays.
 * MAT 7.3 (HDF5) and MAT 4 files are refused: the distribution's files are MAT 5. */

enum { MI_INT8 = 1, MI_INT32 = 5, MI_UINT32 = 6, MI_MATRIX = 14, MI_COMPRESSED = 15 };

static uint32_t u32_at(const unsigned char *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? ((v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24)) : v;
}

/* The first `want` bytes of the zlib stream of `len` bytes at the file's current position. */
static int inflate_head(FILE *f, uint64_t len, unsigned char *out, size_t want)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return -1;
    unsigned char in[512];
    z.next_out = out;
    z.avail_out = (uInt)want;
    int ret = Z_OK;
    while (z.avail_out && len && ret == Z_OK) {
        const size_t k = fread(in, 1, len < sizeof in ? (size_t)len : sizeof in, f);
        if (!k) break;
        len -= k;
        z.next_in = in;
        z.avail_in = (uInt)k;
        ret = inflate(&z, Z_NO_FLUSH);
    }
    const int got = z.avail_out == 0;
    inflateEnd(&z);
    return got ? 0 : -1;
}

static alig_status mat5_walk(const char *path, FILE *f, uint64_t size, char *err, size_t errlen)
{
    unsigned char h[128];
    if (size < 128 || fread(h, 1, 128, f) != 128 || (memcmp(h + 126, "IM", 2) && memcmp(h + 126, "MI", 2)))
        return fail(ALIG_EIO, err, errlen, "%s: not a MATLAB MAT 5 file", path);
    /* the writer stored 'M' << 8 | 'I' in its byte order: read back as that value, no swap is needed */
    uint16_t endian, v16;
    memcpy(&endian, h + 126, 2);
    memcpy(&v16, h + 124, 2);
    const int swap = endian != (('M' << 8) | 'I');
    const unsigned version = swap ? (unsigned)((v16 >> 8) | ((v16 & 0xff) << 8)) : v16;
    if (version == 0x0200)
        return fail(ALIG_EFORMAT, err, errlen, "%s: a MAT 7.3 (HDF5) file: SVHN's files are MAT 5 (MATLAB's save -v7 "
                    "writes one)", path);
    if (version != 0x0100)
        return fail(ALIG_EIO, err, errlen, "%s: not a MATLAB MAT 5 file (version 0x%04x)", path, version);
    uint64_t pos = 128;
    for (int k = 1; size - pos >= 8; k++) {
        unsigned char t[8], a[56];
        if (fseeko(f, (off_t)pos, SEEK_SET) || fread(t, 1, 8, f) != 8) break;
        const uint32_t type = u32_at(t, swap), nbytes = u32_at(t + 4, swap);
        if (type != MI_MATRIX && type != MI_COMPRESSED)
            return fail(ALIG_EFORMAT, err, errlen, "%s: element %d at byte %llu has type %u, not a variable (14) or a "
                        "compressed variable (15): damaged", path, k, (unsigned long long)pos, (unsigned)type);
        if (nbytes > size - pos - 8)
            return fail(ALIG_EFORMAT, err, errlen, "%s: variable %d at byte %llu declares %u bytes, the file has %llu "
                        "after its tag: truncated or damaged", path, k, (unsigned long long)pos, (unsigned)nbytes,
                        (unsigned long long)(size - pos - 8));
        /* the array's head: its tag, flags (class, complex bit), dimensions and the name's tag */
        int ok;
        if (type == MI_MATRIX) {
            memcpy(a, t, 8);
            ok = nbytes >= 48 && fread(a + 8, 1, 48, f) == 48;
        } else {
            ok = !inflate_head(f, nbytes, a, sizeof a) && u32_at(a, swap) == MI_MATRIX;
        }
        if (!ok || u32_at(a + 8, swap) != MI_UINT32 || u32_at(a + 12, swap) != 8 || u32_at(a + 24, swap) != MI_INT32)
            return fail(ALIG_EFORMAT, err, errlen, "%s: variable %d at byte %llu: its header is damaged", path, k,
                        (unsigned long long)pos);
        const uint32_t flags = u32_at(a + 16, swap), cls = flags & 0xff, dbytes = u32_at(a + 28, swap);
        if (cls < 6 || cls > 15 || (flags & 0x0800) || dbytes % 4 || dbytes < 8 || dbytes > 16)
            return fail(ALIG_EFORMAT, err, errlen, "%s: variable %d is not a real numeric array of 2 to 4 dimensions "
                        "(class %u%s, %u bytes of dimensions): SVHN files hold only X and y", path, k, (unsigned)cls,
                        flags & 0x0800 ? ", complex" : "", (unsigned)dbytes);
        const size_t at = 32 + ((dbytes + 7) & ~(uint32_t)7);    /* the name's tag, after the padded dimensions */
        const uint32_t nt = u32_at(a + at, swap), nlen = nt >> 16 ? nt >> 16 : u32_at(a + at + 4, swap);
        if ((nt & 0xffff) != MI_INT8 || (nt >> 16 && nlen > 4) || nlen > 63)
            return fail(ALIG_EFORMAT, err, errlen, "%s: variable %d at byte %llu: its name is damaged (%u bytes long; "
                        "MATLAB names have at most 63)", path, k, (unsigned long long)pos, (unsigned)nlen);
        pos += 8 + (uint64_t)nbytes;
    }
    return ALIG_SUCCESS;
}

alig_status alig_svhn_read(const char *path, alig_image_set *out, char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = '\0';
    if (!path || !out) return fail(ALIG_EINVAL, err, errlen, "alig_svhn_read: NULL argument");
    Mat_LogInitFunc("alig", silent_log);
    struct stat st;
    if (stat(path, &st) != 0) {
        char eb[128];
        if (strerror_r(errno, eb, sizeof eb)) snprintf(eb, sizeof eb, "errno %d", errno);
        return fail(ALIG_EIO, err, errlen, "%s: cannot open: %s", path, eb);
    }
    if (!S_ISREG(st.st_mode)) return fail(ALIG_EIO, err, errlen, "%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        char eb[128];
        if (strerror_r(errno, eb, sizeof eb)) snprintf(eb, sizeof eb, "errno %d", errno);
        return fail(ALIG_EIO, err, errlen, "%s: cannot open: %s", path, eb);
    }
    alig_status walked = mat5_walk(path, f, (uint64_t)st.st_size, err, errlen);
    fclose(f);
    if (walked) return walked;
    mat_t *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!mat) return fail(ALIG_EIO, err, errlen, "%s: not a MATLAB file that libmatio can read", path);
    matvar_t *xi = NULL, *yi = NULL, *x = NULL, *y = NULL;
    alig_image_set s = { 0 };
    alig_status rc = ALIG_SUCCESS;
    char d[128];
    /* ---- headers */
    if (!(xi = Mat_VarReadInfo(mat, "X"))) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: variable 'X' is missing (or its header is damaged)", path);
        goto done;
    }
    dims_text(xi, d, sizeof d);
    if (xi->rank != 4 || xi->dims[0] != 32 || xi->dims[1] != 32 || xi->dims[2] != 3 || xi->dims[3] < 1 ||
        xi->class_type != MAT_C_UINT8 || xi->isComplex) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: X is %s %s%s, expected 32x32x3xN uint8 (SVHN cropped digits)", path, d,
                  class_name(xi->class_type), xi->isComplex ? " complex" : "");
        goto done;
    }
    const size_t n = xi->dims[3];
    if (n > ALIG_SVHN_MAX_IMAGES) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: X declares %zu images, more than ALIG_SVHN_MAX_IMAGES (%zu; SVHN's "
                  "largest file has 531131): damaged", path, n, (size_t)ALIG_SVHN_MAX_IMAGES);
        goto done;
    }
    const size_t bytes = n * ALIG_CIFAR_PIXELS;
    /* deflate expands at most ~1032:1; an uncompressed variable must fit in the file as it is */
    const double cap = (double)st.st_size * (xi->compression == MAT_COMPRESSION_NONE ? 1.0 : 1032.0);
    if ((double)bytes > cap) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: X declares %zu images (%zu bytes), more than the %lld-byte file can "
                  "hold: truncated or damaged", path, n, bytes, (long long)st.st_size);
        goto done;
    }
    if (!(yi = Mat_VarReadInfo(mat, "y"))) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: variable 'y' is missing (or its header is damaged)", path);
        goto done;
    }
    dims_text(yi, d, sizeof d);
    if (yi->rank != 2 || !((yi->dims[0] == n && yi->dims[1] == 1) || (yi->dims[0] == 1 && yi->dims[1] == n)) ||
        !class_size(yi->class_type) || yi->isComplex) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: y is %s %s%s, expected %zux1 real numbers (one label per image of X)",
                  path, d, class_name(yi->class_type), yi->isComplex ? " complex" : "", n);
        goto done;
    }
    /* Uncompressed MAT 5 variables occupy at least: tag 8, array flags 16, dimensions 8 + 4·rank
     * (padded to 8), a one-letter name 8, data tag 8 and the data (padded to 8), after the 128-byte
     * file header. matio 1.5 does not report a data block cut off by the end of the file, so a file
     * shorter than that is refused here. (Compressed variables are checked by zlib; a cut inside the
     * last 7/8 of an uncompressed y stored at full width is not caught by this bound.) */
    if (Mat_GetVersion(mat) == MAT_FT_MAT5 && xi->compression == MAT_COMPRESSION_NONE &&
        yi->compression == MAT_COMPRESSION_NONE) {
        const size_t ysz = 1;   /* y's stored type is unknown before reading (MATLAB may store
                                   integer-valued doubles as bytes): assume the smallest */
        const size_t need = 128 + (48 + 16 + ((bytes + 7) & ~(size_t)7)) + (48 + 8 + ((n * ysz + 7) & ~(size_t)7));
        if ((size_t)st.st_size < need) {
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: truncated: X and y need at least %zu bytes, the file has %lld",
                      path, need, (long long)st.st_size);
            goto done;
        }
    }
    /* ---- data */
    if (!(x = Mat_VarRead(mat, "X")) || !x->data || x->class_type != MAT_C_UINT8 || x->nbytes != bytes) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: the data of X (%zu bytes) cannot be read in full: truncated or damaged",
                  path, bytes);
        goto done;
    }
    if (!(y = Mat_VarRead(mat, "y")) || !y->data || y->class_type != yi->class_type ||
        y->nbytes != n * (size_t)class_size(y->class_type)) {
        rc = fail(ALIG_EFORMAT, err, errlen, "%s: the data of y cannot be read in full: truncated or damaged", path);
        goto done;
    }
    if (alig_image_set_alloc_bytes(&s, n, 3, 32, 32, 10)) {
        rc = fail(ALIG_ENOMEM, err, errlen, "%s: out of memory for %zu images", path, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const double v = elem(y->data, y->class_type, i);
        if (!(v >= 1.0 && v <= 10.0) || v != floor(v)) {
            rc = fail(ALIG_EFORMAT, err, errlen, "%s: label %g at index %zu is not in 1..10", path, v, i);
            goto done;
        }
        s.y[i] = v == 10.0 ? 0 : (int32_t)v;
    }
    /* MATLAB order X(r, c, ch, i) = data[r + 32 c + 1024 ch + 3072 i]  ->  NCHW x[i][ch][r][c] */
    const uint8_t *u = x->data;
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < 3; ch++) {
            const uint8_t *src = u + i * ALIG_CIFAR_PIXELS + ch * 1024;
            uint8_t *dst = s.u + i * ALIG_CIFAR_PIXELS + ch * 1024;
            for (size_t r = 0; r < 32; r++)
                for (size_t c = 0; c < 32; c++) dst[r * 32 + c] = src[r + 32 * c];
        }
    *out = s;
    s = (alig_image_set){ 0 };
done:
    Mat_VarFree(xi);
    Mat_VarFree(yi);
    Mat_VarFree(x);
    Mat_VarFree(y);
    Mat_Close(mat);
    alig_image_set_free(&s);
    return rc;
}

#else /* no libmatio */

int alig_svhn_available(void) { return 0; }

alig_status alig_svhn_read(const char *path, alig_image_set *out, char *err, size_t errlen)
{
    if (out) memset(out, 0, sizeof *out);
    return fail(ALIG_EUNSUPPORTED, err, errlen, "%s: this build of alig cannot read MATLAB files (configure it with "
                "libmatio: scripts/install-deps installs libmatio-dev)", path ? path : "SVHN");
}

#endif

alig_status alig_svhn_load(const char *dir, alig_image_set *train, alig_image_set *extra, alig_image_set *test,
                           char *err, size_t errlen)
{
    if (train) memset(train, 0, sizeof *train);
    if (extra) memset(extra, 0, sizeof *extra);
    if (test) memset(test, 0, sizeof *test);
    if (err && errlen) err[0] = '\0';
    if (!dir || (!train && !extra && !test)) return fail(ALIG_EINVAL, err, errlen, "alig_svhn_load: NULL argument");
    const char *names[3] = { "train_32x32.mat", "extra_32x32.mat", "test_32x32.mat" };
    alig_image_set *outs[3] = { train, extra, test };
    for (int i = 0; i < 3; i++) {
        if (!outs[i]) continue;
        char path[4096];
        int w = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (w < 0 || (size_t)w >= sizeof path) return fail(ALIG_EINVAL, err, errlen, "%s: directory name too long", dir);
        alig_status rc = alig_svhn_read(path, outs[i], err, errlen);
        if (rc) {
            for (int j = 0; j < 3; j++)
                if (outs[j]) alig_image_set_free(outs[j]);
            return rc;
        }
    }
    return ALIG_SUCCESS;
}
