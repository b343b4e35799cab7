/* nn_ckpt.c - checkpoints of a net and its solver: one binary file, written atomically.
 *
 * Layout (docs/nets.md), native byte order with a byte-order mark, every size as u64:
 *   "ALIGNNCK" | u32 version | u32 0x01020304 | spec (16 × i32: kind, in_c, in_h, in_w, classes,
 *   n_hidden, hidden[8], depth, width; f64 dropout) | u64 rng_seed | u64 rng_step |
 *   char solver[32] | u64 params_bytes, params | f64 radius | u64 n, f32 x[n] |
 *   u64 nbuf, f32 buf[nbuf] | u64 state_bytes, state | u64 user_bytes, user | u32 CRC-32
 * The CRC-32 (zlib's crc32, the gzip polynomial) covers every byte before it, so truncation and
 * corruption are detected before anything is used. The whole file is assembled in memory (its
 * size is dominated by x: 4 bytes per parameter, plus the solver state), written to a temporary
 * file next to the target, flushed, fsync'ed and renamed: a crash leaves either the old or the
 * new checkpoint, never a mixture. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "nn_impl.h"

#define CK_MAGIC "ALIGNNCK"
#define CK_VERSION 1u
#define CK_BOM 0x01020304u
#define CK_SOLVER_NAME 32

/* ---------------------------------------------------------------- growing buffer */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int failed;
} wbuf;

static void put(wbuf *w, const void *src, size_t len)
{
    if (w->failed || !len) return;
    if (w->len + len > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + len) cap *= 2;
        unsigned char *p = realloc(w->p, cap);
        if (!p) { w->failed = 1; return; }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, len);
    w->len += len;
}

static void put_u32(wbuf *w, uint32_t v) { put(w, &v, sizeof v); }
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, sizeof v); }
static void put_f64(wbuf *w, double v) { put(w, &v, sizeof v); }
static void put_i32(wbuf *w, int v) { int32_t x = (int32_t)v; put(w, &x, sizeof x); }

static void put_spec(wbuf *w, const alig_nn_spec *s)
{
    put_i32(w, (int)s->kind);
    put_i32(w, s->in_c);
    put_i32(w, s->in_h);
    put_i32(w, s->in_w);
    put_i32(w, s->classes);
    put_i32(w, s->n_hidden);
    for (int i = 0; i < ALIG_NN_MAX_HIDDEN; i++) put_i32(w, s->hidden[i]);
    put_i32(w, s->depth);
    put_i32(w, s->width);
    put_f64(w, s->dropout);
}

/* ---------------------------------------------------------------- reader */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
    int short_read;
} rbuf;

static int get(rbuf *r, void *dst, size_t len)
{
    if (r->short_read || len > r->len - r->pos) { r->short_read = 1; return -1; }
    memcpy(dst, r->p + r->pos, len);
    r->pos += len;
    return 0;
}

static uint32_t get_u32(rbuf *r) { uint32_t v = 0; get(r, &v, sizeof v); return v; }
static uint64_t get_u64(rbuf *r) { uint64_t v = 0; get(r, &v, sizeof v); return v; }
static double get_f64(rbuf *r) { double v = 0; get(r, &v, sizeof v); return v; }
static int get_i32(rbuf *r) { int32_t v = 0; get(r, &v, sizeof v); return (int)v; }

static void get_spec(rbuf *r, alig_nn_spec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = (alig_nn_kind)get_i32(r);
    s->in_c = get_i32(r);
    s->in_h = get_i32(r);
    s->in_w = get_i32(r);
    s->classes = get_i32(r);
    s->n_hidden = get_i32(r);
    for (int i = 0; i < ALIG_NN_MAX_HIDDEN; i++) s->hidden[i] = get_i32(r);
    s->depth = get_i32(r);
    s->width = get_i32(r);
    s->dropout = get_f64(r);
}

/* A block of `count` elements of `elem` bytes, allocated (at least 1 byte) and copied; the count
 * is checked against the bytes left before anything is allocated. */
static void *get_block(rbuf *r, size_t count, size_t elem, int *nomem)
{
    if (r->short_read || (elem && count > (r->len - r->pos) / elem)) { r->short_read = 1; return NULL; }
    void *p = malloc(count * elem + 1);
    if (!p) { *nomem = 1; return NULL; }
    get(r, p, count * elem);
    return p;
}

/* ---------------------------------------------------------------- save */

static alig_status fail_msg(alig_status rc, char *err, size_t errlen, const char *path, const char *what, int e)
{
    if (err && errlen) {
        if (e) snprintf(err, errlen, "%s: %s: %s", path, what, strerror(e));
        else snprintf(err, errlen, "%s: %s", path, what);
    }
    return rc;
}

alig_status alig_nn_checkpoint_save(const char *path, alig_nn_net *net, const alig_solver *solver,
                                    const void *params, const void *user, size_t user_bytes, char *err,
                                    size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!path || !net || !solver || !params || (user_bytes && !user)) return ALIG_EINVAL;
    const size_t n = alig_nn_net_n(net), nbuf = alig_ad_params_nbuf(net->P);
    float *x = alig_nn_net_x(net);
    if (alig_solver_x(solver) != (void *)x)
        return fail_msg(ALIG_EINVAL, err, errlen, path, "the solver is not bound to this net's parameters", 0);
    const alig_solver_type *type = alig_solver_get_type(solver);
    if (strlen(type->name) >= CK_SOLVER_NAME)
        return fail_msg(ALIG_EINVAL, err, errlen, path, "solver name too long", 0);

    wbuf w = { 0 };
    alig_status rc = ALIG_SUCCESS;
    put(&w, CK_MAGIC, 8);
    put_u32(&w, CK_VERSION);
    put_u32(&w, CK_BOM);
    put_spec(&w, &net->spec);
    put_u64(&w, net->rng_seed);
    put_u64(&w, net->rng_step);
    char name[CK_SOLVER_NAME] = { 0 };
    memcpy(name, type->name, strlen(type->name));
    put(&w, name, sizeof name);
    put_u64(&w, type->params_size);
    put(&w, params, type->params_size);
    put_f64(&w, alig_solver_radius(solver));
    put_u64(&w, n);
    put(&w, x, n * sizeof *x);
    put_u64(&w, nbuf);
    put(&w, alig_ad_params_buf(net->P), nbuf * sizeof(float));
    const size_t sbytes = alig_solver_state_bytes(solver);
    put_u64(&w, sbytes);
    if (!w.failed && sbytes) {
        unsigned char *tmp = malloc(sbytes);
        if (!tmp) w.failed = 1;
        else {
            rc = alig_solver_state_export(solver, tmp, sbytes);
            put(&w, tmp, sbytes);
            free(tmp);
        }
    }
    put_u64(&w, user_bytes);
    put(&w, user, user_bytes);
    if (!w.failed) {
        uLong crc = crc32(0L, Z_NULL, 0);
        for (size_t o = 0; o < w.len;) {            /* crc32 takes uInt lengths */
            const size_t chunk = w.len - o < (1u << 30) ? w.len - o : (1u << 30);
            crc = crc32(crc, w.p + o, (uInt)chunk);
            o += chunk;
        }
        put_u32(&w, (uint32_t)crc);
    }
    if (w.failed || rc) {
        free(w.p);
        return rc ? rc : ALIG_ENOMEM;
    }

    /* temporary file next to the target, then rename */
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) { free(w.p); return ALIG_ENOMEM; }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(w.p);
        free(tmp);
        return fail_msg(ALIG_EIO, err, errlen, path, "cannot create a temporary file", e);
    }
    const mode_t mask = umask(0);       /* mkstemp creates 0600: give it the usual 0666 & ~umask */
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    size_t off = 0;
    int e = 0;
    while (off < w.len) {
        ssize_t k = write(fd, w.p + off, w.len - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            e = errno;
            break;
        }
        off += (size_t)k;
    }
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    free(w.p);
    if (e) {
        unlink(tmp);
        free(tmp);
        return fail_msg(ALIG_EIO, err, errlen, path, "cannot write the checkpoint", e);
    }
    free(tmp);
    /* make the rename itself durable (best effort: some file systems refuse fsync on a directory) */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash == dir) d = "/";
        else if (slash) { *slash = '\0'; d = dir; }
        int dfd = open(d, O_RDONLY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- read */

void alig_nn_checkpoint_free(alig_nn_checkpoint *ck)
{
    if (!ck) return;
    free(ck->params);
    free(ck->x);
    free(ck->buf);
    free(ck->state);
    free(ck->user);
    memset(ck, 0, sizeof *ck);
}

alig_status alig_nn_checkpoint_read(const char *path, alig_nn_checkpoint *ck, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (ck) memset(ck, 0, sizeof *ck);
    if (!path || !ck) return ALIG_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f) return fail_msg(ALIG_EIO, err, errlen, path, "cannot open", errno);
    unsigned char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 1 << 16;
            unsigned char *p = realloc(data, ncap);
            if (!p) { free(data); fclose(f); return ALIG_ENOMEM; }
            data = p;
            cap = ncap;
        }
        size_t k = fread(data + len, 1, cap - len, f);
        len += k;
        if (k == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) { free(data); return fail_msg(ALIG_EIO, err, errlen, path, "read error", 0); }

    alig_status rc = ALIG_EFORMAT;
    const char *what = "truncated";
    int nomem = 0;
    rbuf r = { .p = data, .len = len };
    char magic[8];
    if (len < 8 + 4 + 4 + 4) goto bad;
    if (get(&r, magic, 8) || memcmp(magic, CK_MAGIC, 8)) { what = "not an alig checkpoint (bad magic)"; goto bad; }
    uint32_t version = get_u32(&r), bom = get_u32(&r);
    if (bom != CK_BOM) { what = "written on a machine of another byte order"; goto bad; }
    if (version != CK_VERSION) { what = "unsupported checkpoint version"; goto bad; }
    uint32_t stored;
    memcpy(&stored, data + len - 4, 4);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t o = 0; o < len - 4;) {
        const size_t chunk = len - 4 - o < (1u << 30) ? len - 4 - o : (1u << 30);
        crc = crc32(crc, data + o, (uInt)chunk);
        o += chunk;
    }
    if ((uint32_t)crc != stored) { what = "CRC mismatch (truncated or corrupt file)"; goto bad; }
    r.len = len - 4;

    get_spec(&r, &ck->spec);
    ck->rng_seed = get_u64(&r);
    ck->rng_step = get_u64(&r);
    get(&r, ck->solver, sizeof ck->solver);
    ck->solver[sizeof ck->solver - 1] = '\0';
    ck->params_bytes = (size_t)get_u64(&r);
    ck->params = get_block(&r, ck->params_bytes, 1, &nomem);
    ck->radius = get_f64(&r);
    ck->n = (size_t)get_u64(&r);
    ck->x = get_block(&r, ck->n, sizeof(float), &nomem);
    ck->nbuf = (size_t)get_u64(&r);
    ck->buf = get_block(&r, ck->nbuf, sizeof(float), &nomem);
    ck->state_bytes = (size_t)get_u64(&r);
    ck->state = get_block(&r, ck->state_bytes, 1, &nomem);
    ck->user_bytes = (size_t)get_u64(&r);
    ck->user = get_block(&r, ck->user_bytes, 1, &nomem);
    if (nomem) { rc = ALIG_ENOMEM; what = "out of memory"; goto bad; }
    if (r.short_read) goto bad;
    if (r.pos != r.len) { what = "trailing bytes"; goto bad; }
    if (alig_nn_spec_check(&ck->spec)) { what = "invalid model specification"; goto bad; }
    free(data);
    return ALIG_SUCCESS;
bad:
    free(data);
    alig_nn_checkpoint_free(ck);
    return fail_msg(rc, err, errlen, path, what, 0);
}

/* ---------------------------------------------------------------- restore */

static int spec_equal(const alig_nn_spec *a, const alig_nn_spec *b)
{
    if (a->kind != b->kind || a->in_c != b->in_c || a->in_h != b->in_h || a->in_w != b->in_w ||
        a->classes != b->classes || a->n_hidden != b->n_hidden || a->depth != b->depth || a->width != b->width ||
        a->dropout != b->dropout)
        return 0;
    for (int i = 0; i < a->n_hidden; i++)
        if (a->hidden[i] != b->hidden[i]) return 0;
    return 1;
}

alig_status alig_nn_checkpoint_restore(const alig_nn_checkpoint *ck, alig_nn_net *net, alig_solver *solver)
{
    if (!ck || !net) return ALIG_EINVAL;
    if (!spec_equal(&ck->spec, &net->spec) || ck->n != alig_nn_net_n(net) ||
        ck->nbuf != alig_ad_params_nbuf(net->P) || !ck->x || !ck->buf)
        return ALIG_EFORMAT;
    if (solver) {
        if (alig_solver_x(solver) != (void *)alig_nn_net_x(net)) return ALIG_EINVAL;
        if (strcmp(alig_solver_name(solver), ck->solver) != 0) return ALIG_EFORMAT;
    }
    /* import the solver state first: if it is refused, the net is left as it was */
    if (solver) {
        alig_status rc = alig_solver_state_import(solver, ck->state, ck->state_bytes);
        if (rc) return rc;
    }
    memcpy(alig_nn_net_x(net), ck->x, ck->n * sizeof(float));
    if (ck->nbuf) memcpy(alig_ad_params_buf(net->P), ck->buf, ck->nbuf * sizeof(float));
    net->rng_seed = ck->rng_seed;
    net->rng_step = ck->rng_step;
    return ALIG_SUCCESS;
}
