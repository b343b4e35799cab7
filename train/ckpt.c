/* ckpt.c - checkpoints of a training run: one binary file, written atomically.
 *
 * A checkpoint composes three states that belong to three modules: the model's (x, its
 * buffers, its random stream; model.h), the solver's (type, parameters, radius and the opaque
 * block alig_solver_state_export gives) and the loop's (counters, the open log window, how far
 * the log files go), plus an opaque block of the caller's. Layout (docs/training.md), native
 * byte order with a byte-order mark, every size as u64:
 *   "ALIGTRCK" | u32 version | u32 0x01020304
 *   | char model[64] | u64 desc_bytes, desc | u64 n, f32 x[n] | u64 nbuf, f32 buf[nbuf] | u64 rng_seed | u64 rng_step
 *   | char solver[32] | u64 params_bytes, params | f64 radius | u64 state_bytes, state
 *   | u32 step_mode | u64 steps_done | u64 epochs_done | u64 log_every | f64 clip_norm
 *   | f64 win_loss, win_step, win_stepu | u64 win_steps, win_zero_grad, win_clips, win_clipped
 *   | version 2: u64 csv_bytes | u32 csv_crc | u64 jsonl_bytes | u32 jsonl_crc
 *     version 1: u64 csv_bytes, csv | u64 jsonl_bytes, jsonl    (the logs themselves; read only)
 *   | u64 user_bytes, user | u32 CRC-32
 * The CRC-32 (zlib's, the gzip polynomial) covers every byte before it, so truncation and
 * corruption are caught before anything is used. The file is assembled in memory, written to a
 * temporary file next to the target, flushed, fsync'ed and renamed: a crash leaves the old or
 * the new checkpoint, never a mixture. Version 1 carried a copy of the logs, which made every
 * checkpoint grow with the run; version 2 records the byte length and CRC-32 of each log file
 * instead (the loop appends records to the files and syncs them before each checkpoint), so a
 * resume can check the files and cut them back to where the checkpoint stands. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "train_impl.h"

#define CK_MAGIC "ALIGTRCK"
#define CK_VERSION 2u      /* written; version 1 (logs inline) is still read */
#define CK_BOM 0x01020304u
#define CK_MODEL_NAME 64
#define CK_SOLVER_NAME 32

/* ---------------------------------------------------------------- text */

void tr_text_add(tr_text *s, const char *src, size_t len)
{
    if (s->failed) return;
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + len + 1) cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) { s->failed = 1; return; }
        s->p = p;
        s->cap = cap;
    }
    if (len) memcpy(s->p + s->len, src, len);
    s->len += len;
    s->p[s->len] = '\0';
}

void tr_text_printf(tr_text *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) { s->failed = 1; return; }
    if ((size_t)k < sizeof tmp) { tr_text_add(s, tmp, (size_t)k); return; }
    char *big = malloc((size_t)k + 1);
    if (!big) { s->failed = 1; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    tr_text_add(s, big, (size_t)k);
    free(big);
}

void tr_text_num(tr_text *s, double v, int json)
{
    if (isfinite(v)) tr_text_printf(s, "%.17g", v);
    else if (json) tr_text_printf(s, "null");
    else tr_text_printf(s, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

void tr_text_free(tr_text *s)
{
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- testing hook */

void tr_crash_point(const char *point)
{
    static int parsed;
    static char name[32];
    static unsigned long long at, seen;
    if (!parsed) {
        parsed = 1;
        const char *v = getenv("ALIG_TRAIN_CRASH_AT");
        const char *colon = v ? strrchr(v, ':') : NULL;
        if (colon && (size_t)(colon - v) < sizeof name && colon[1] >= '0' && colon[1] <= '9') {
            char *end;
            at = strtoull(colon + 1, &end, 10);
            if (*end) at = 0;
            memcpy(name, v, (size_t)(colon - v));
            name[colon - v] = '\0';
        }
    }
    if (at && !strcmp(point, name) && ++seen == at) raise(SIGKILL);
}

/* ---------------------------------------------------------------- atomic files */

uint32_t tr_crc32(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *b = p;
    uLong c = crc;
    for (size_t o = 0; o < len;) {            /* crc32 takes uInt lengths */
        const size_t chunk = len - o < (1u << 30) ? len - o : (1u << 30);
        c = crc32(c, b + o, (uInt)chunk);
        o += chunk;
    }
    return (uint32_t)c;
}

size_t tr_remove_stale_tmp(const char *dir, const char *const *names)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t removed = 0;
    const size_t dlen = strlen(dir);
    for (struct dirent *e; (e = readdir(d));) {
        const char *nm = e->d_name;
        for (size_t i = 0; names[i]; i++) {
            const size_t k = strlen(names[i]);
            /* exactly "<name>.tmp." and the six characters mkstemp puts there */
            if (strncmp(nm, names[i], k) || strncmp(nm + k, ".tmp.", 5) || strlen(nm + k + 5) != 6) continue;
            int ok = 1;
            for (const char *c = nm + k + 5; *c; c++)
                ok &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
            if (!ok) continue;
            char *path = malloc(dlen + strlen(nm) + 2);
            if (!path) continue;
            memcpy(path, dir, dlen);
            path[dlen] = '/';
            strcpy(path + dlen + 1, nm);
            struct stat sb;
            if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) == 0) removed++;
            free(path);
        }
    }
    closedir(d);
    return removed;
}

static alig_status fail_msg(alig_status rc, char *err, size_t errlen, const char *path, const char *what, int e)
{
    if (err && errlen) {
        if (e) snprintf(err, errlen, "%s: %s: %s", path, what, strerror(e));
        else snprintf(err, errlen, "%s: %s", path, what);
    }
    return rc;
}

alig_status tr_write_atomic(const char *path, const void *data, size_t len, const char *hook, char *err,
                            size_t errlen)
{
    char point[64];
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return ALIG_ENOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return fail_msg(ALIG_EIO, err, errlen, path, "cannot create a temporary file", e);
    }
    const mode_t mask = umask(0);       /* mkstemp creates 0600: give it the usual 0666 & ~umask */
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    const unsigned char *p = data;
    size_t off = 0;
    int e = 0;
    /* testing hook: a write cut at half its bytes (the test checks the temporary file is removed later) */
    const size_t cut = hook ? len / 2 : len;
    while (off < len) {
        if (off == cut && hook && cut) {
            snprintf(point, sizeof point, "%s-partial", hook);
            tr_crash_point(point);
        }
        ssize_t k = write(fd, p + off, (off < cut ? cut : len) - off);
        if (k < 0) {
            if (errno == EINTR) continue;
            e = errno;
            break;
        }
        off += (size_t)k;
    }
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && hook) {
        snprintf(point, sizeof point, "%s-written", hook);
        tr_crash_point(point);
    }
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        free(tmp);
        return fail_msg(ALIG_EIO, err, errlen, path, "cannot write", e);
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
    if (hook) {
        snprintf(point, sizeof point, "%s-renamed", hook);
        tr_crash_point(point);
    }
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- writer */

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
static void put_block(wbuf *w, const void *p, size_t bytes)
{
    put_u64(w, bytes);
    put(w, p, bytes);
}

static uint32_t crc_of(const unsigned char *p, size_t len) { return tr_crc32(0, p, len); }

alig_status tr_checkpoint_save(const char *path, alig_model *model, const alig_solver *solver, const void *params,
                               const tr_loop *loop, const tr_logpos *logs, const void *user, size_t user_bytes,
                               char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!path || !model || !solver || !params || !loop || !logs || (user_bytes && !user)) return ALIG_EINVAL;
    const size_t n = alig_model_n(model), nbuf = alig_model_nbuf(model);
    if (alig_solver_x(solver) != (void *)alig_model_x(model))
        return fail_msg(ALIG_EINVAL, err, errlen, path, "the solver is not bound to this model's parameters", 0);
    const alig_solver_type *type = alig_solver_get_type(solver);
    if (strlen(type->name) >= CK_SOLVER_NAME || strlen(model->name) >= CK_MODEL_NAME)
        return fail_msg(ALIG_EINVAL, err, errlen, path, "solver or model name too long", 0);
    const int dlen = model->type->describe(model->impl, NULL, 0);
    char *desc = malloc(dlen > 0 ? (size_t)dlen + 1 : 1);
    if (!desc) return ALIG_ENOMEM;
    if (dlen > 0) model->type->describe(model->impl, desc, (size_t)dlen + 1);

    wbuf w = { 0 };
    alig_status rc = ALIG_SUCCESS;
    put(&w, CK_MAGIC, 8);
    put_u32(&w, CK_VERSION);
    put_u32(&w, CK_BOM);
    char name[CK_MODEL_NAME] = { 0 };
    memcpy(name, model->name, strlen(model->name));
    put(&w, name, sizeof name);
    put_block(&w, desc, dlen > 0 ? (size_t)dlen : 0);
    free(desc);
    put_block(&w, alig_model_x(model), n * sizeof(float));
    put_block(&w, alig_model_buf(model), nbuf * sizeof(float));
    uint64_t rs = 0, rstep = 0;
    if (model->type->get_rng) model->type->get_rng(model->impl, &rs, &rstep);
    put_u64(&w, rs);
    put_u64(&w, rstep);
    char sname[CK_SOLVER_NAME] = { 0 };
    memcpy(sname, type->name, strlen(type->name));
    put(&w, sname, sizeof sname);
    put_block(&w, params, type->params_size);
    put_f64(&w, alig_solver_radius(solver));
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
    put_u32(&w, (uint32_t)loop->step_mode);
    put_u64(&w, loop->steps_done);
    put_u64(&w, loop->epochs_done);
    put_u64(&w, loop->log_every);
    put_f64(&w, loop->clip_norm);
    put_f64(&w, loop->win_loss);
    put_f64(&w, loop->win_step);
    put_f64(&w, loop->win_stepu);
    put_u64(&w, loop->win_steps);
    put_u64(&w, loop->win_zero_grad);
    put_u64(&w, loop->win_clips);
    put_u64(&w, loop->win_clipped);
    put_u64(&w, logs->csv_bytes);
    put_u32(&w, logs->csv_crc);
    put_u64(&w, logs->jsonl_bytes);
    put_u32(&w, logs->jsonl_crc);
    put_block(&w, user, user_bytes);
    if (!w.failed) put_u32(&w, crc_of(w.p, w.len));
    if (w.failed || rc) {
        free(w.p);
        return rc ? rc : ALIG_ENOMEM;
    }
    rc = tr_write_atomic(path, w.p, w.len, "checkpoint", err, errlen);
    free(w.p);
    return rc;
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

/* A block of `count` elements of `elem` bytes, allocated (at least 1 byte, NUL-terminated) and
 * copied; the count is checked against the bytes left before anything is allocated. */
static void *get_block(rbuf *r, size_t count, size_t elem, int *nomem)
{
    if (r->short_read || (elem && count > (r->len - r->pos) / elem)) { r->short_read = 1; return NULL; }
    unsigned char *p = malloc(count * elem + 1);
    if (!p) { *nomem = 1; return NULL; }
    get(r, p, count * elem);
    p[count * elem] = 0;
    return p;
}

void alig_train_checkpoint_free(alig_train_checkpoint *ck)
{
    if (!ck) return;
    free(ck->model_desc);
    free(ck->x);
    free(ck->buf);
    free(ck->params);
    free(ck->state);
    free(ck->csv);
    free(ck->jsonl);
    free(ck->user);
    memset(ck, 0, sizeof *ck);
}

alig_status alig_train_checkpoint_read(const char *path, alig_train_checkpoint *ck, char *err, size_t errlen)
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
    if (get(&r, magic, 8) || memcmp(magic, CK_MAGIC, 8)) {
        what = memcmp(magic, "ALIGNNCK", 8) ? "not an alig training checkpoint (bad magic)"
                                            : "a checkpoint of an older alig train (format ALIGNNCK): not resumable here";
        goto bad;
    }
    uint32_t version = get_u32(&r), bom = get_u32(&r);
    if (bom != CK_BOM) { what = "written on a machine of another byte order"; goto bad; }
    if (version != 1 && version != CK_VERSION) { what = "unsupported checkpoint version"; goto bad; }
    ck->version = version;
    uint32_t stored;
    memcpy(&stored, data + len - 4, 4);
    if (crc_of(data, len - 4) != stored) { what = "CRC mismatch (truncated or corrupt file)"; goto bad; }
    r.len = len - 4;

    get(&r, ck->model, sizeof ck->model);
    ck->model[sizeof ck->model - 1] = '\0';
    size_t dbytes = (size_t)get_u64(&r);
    ck->model_desc = get_block(&r, dbytes, 1, &nomem);
    const uint64_t xbytes = get_u64(&r);
    if (xbytes % sizeof(float)) { what = "parameter block not a whole number of floats"; goto bad; }
    ck->n = (size_t)(xbytes / sizeof(float));
    ck->x = get_block(&r, ck->n, sizeof(float), &nomem);
    const uint64_t bbytes = get_u64(&r);
    if (bbytes % sizeof(float)) { what = "buffer block not a whole number of floats"; goto bad; }
    ck->nbuf = (size_t)(bbytes / sizeof(float));
    ck->buf = get_block(&r, ck->nbuf, sizeof(float), &nomem);
    ck->rng_seed = get_u64(&r);
    ck->rng_step = get_u64(&r);
    get(&r, ck->solver, sizeof ck->solver);
    ck->solver[sizeof ck->solver - 1] = '\0';
    ck->params_bytes = (size_t)get_u64(&r);
    ck->params = get_block(&r, ck->params_bytes, 1, &nomem);
    ck->radius = get_f64(&r);
    ck->state_bytes = (size_t)get_u64(&r);
    ck->state = get_block(&r, ck->state_bytes, 1, &nomem);
    ck->step_mode = (int)get_u32(&r);
    ck->steps_done = get_u64(&r);
    ck->epochs_done = (size_t)get_u64(&r);
    ck->log_every = get_u64(&r);
    ck->clip_norm = get_f64(&r);
    ck->win_loss = get_f64(&r);
    ck->win_step = get_f64(&r);
    ck->win_stepu = get_f64(&r);
    ck->win_steps = get_u64(&r);
    ck->win_zero_grad = get_u64(&r);
    ck->win_clips = get_u64(&r);
    ck->win_clipped = get_u64(&r);
    if (version == 1) {     /* the logs inline */
        ck->csv_bytes = (size_t)get_u64(&r);
        ck->csv = get_block(&r, ck->csv_bytes, 1, &nomem);
        ck->jsonl_bytes = (size_t)get_u64(&r);
        ck->jsonl = get_block(&r, ck->jsonl_bytes, 1, &nomem);
        if (ck->csv) ck->csv_crc = tr_crc32(0, ck->csv, ck->csv_bytes);
        if (ck->jsonl) ck->jsonl_crc = tr_crc32(0, ck->jsonl, ck->jsonl_bytes);
    } else {                /* where the log files stand */
        const uint64_t cb = get_u64(&r);
        ck->csv_crc = get_u32(&r);
        const uint64_t jb = get_u64(&r);
        ck->jsonl_crc = get_u32(&r);
        if (cb > SIZE_MAX || jb > SIZE_MAX) { what = "log lengths out of range"; goto bad; }
        ck->csv_bytes = (size_t)cb;
        ck->jsonl_bytes = (size_t)jb;
    }
    ck->user_bytes = (size_t)get_u64(&r);
    ck->user = get_block(&r, ck->user_bytes, 1, &nomem);
    if (nomem) { rc = ALIG_ENOMEM; what = "out of memory"; goto bad; }
    if (r.short_read) goto bad;
    if (r.pos != r.len) { what = "trailing bytes"; goto bad; }
    if (ck->step_mode != 0 && ck->step_mode != 1) { what = "invalid loop state"; goto bad; }
    free(data);
    return ALIG_SUCCESS;
bad:
    free(data);
    alig_train_checkpoint_free(ck);
    return fail_msg(rc, err, errlen, path, what, 0);
}
