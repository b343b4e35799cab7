/* solver.c - the generic solver object: validation, binding, the step wrapper
 * (finiteness checks, ‖g‖², projection, counters) and parameter text helpers.
 * No step-rule math lives here: see one file per method in this folder. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alig/solver.h"
#include "kernels.h"

struct alig_solver {
    const alig_solver_type *type;
    const alig_kernels *k;
    alig_dtype dtype;
    size_t n;
    void *x;                 /* caller-owned */
    double radius;
    size_t iter;
    double step, step_unclipped, gsq;
    void *params;            /* copy of the validated params */
    void *state;             /* type->state_size bytes */
};

alig_status alig_solver_alloc(alig_solver **out, const alig_solver_type *type, alig_dtype dtype,
                              size_t n, const void *params)
{
    if (out) *out = NULL;
    if (!out || !type) return ALIG_EINVAL;
    const alig_kernels *k = alig_kernels_get(dtype);
    if (!k) return ALIG_EBADDTYPE;
    if (n == 0) return ALIG_EBADLEN;
    if (!params) params = type->params_default;
    alig_status rc = type->validate(params);
    if (rc) return rc;

    alig_solver *s = calloc(1, sizeof *s);
    if (!s) return ALIG_ENOMEM;
    s->type = type;
    s->k = k;
    s->dtype = dtype;
    s->n = n;
    s->radius = INFINITY;
    s->step = s->step_unclipped = s->gsq = NAN;
    s->params = malloc(type->params_size);
    s->state = calloc(1, type->state_size ? type->state_size : 1);
    if (!s->params || !s->state) { rc = ALIG_ENOMEM; goto fail; }
    memcpy(s->params, params, type->params_size);
    rc = type->alloc(s->state, s->params, dtype, n);
    if (rc) goto fail;
    *out = s;
    return ALIG_SUCCESS;
fail:
    if (s->state) type->free(s->state);
    free(s->state);
    free(s->params);
    free(s);
    return rc;
}

void alig_solver_free(alig_solver *s)
{
    if (!s) return;
    s->type->free(s->state);
    free(s->state);
    free(s->params);
    free(s);
}

/* Scale x onto the sphere of radius r when ‖x‖ > r. When ‖x‖² overflows (double only: a float
 * vector's ‖x‖² accumulates in double and cannot), x is first scaled by 2^-600, which is exact
 * except for entries too small to matter, and the norm is taken again. */
static void project_with(const alig_kernels *k, size_t n, void *x, double radius, double xsq)
{
    if (!(radius < INFINITY)) return;
    if (isinf(xsq)) {
        k->scale(n, 0x1p-600, x);            /* now ‖x‖ = 2^-600 · the true norm */
        double nrm = sqrt(k->sumsq(n, x));
        k->scale(n, nrm > radius * 0x1p-600 ? radius / nrm : 0x1p600, x);
        return;
    }
    if (xsq > radius * radius) k->scale(n, radius / sqrt(xsq), x);
}

void alig_project_l2(alig_dtype dtype, size_t n, void *x, double radius)
{
    const alig_kernels *k = alig_kernels_get(dtype);
    if (!k || !x || !(radius < INFINITY)) return;
    project_with(k, n, x, radius, k->sumsq(n, x));
}

double alig_vec_sumsq(alig_dtype dtype, size_t n, const void *x)
{
    const alig_kernels *k = alig_kernels_get(dtype);
    return (k && x) ? k->sumsq(n, x) : NAN;
}

alig_status alig_solver_set(alig_solver *s, void *x, double radius)
{
    if (!s || !x) return ALIG_EINVAL;
    if (!(radius > 0.0)) return ALIG_EBADRADIUS;   /* also rejects NaN */
    if (!s->k->all_finite(s->n, x)) return ALIG_ENONFINITE;
    s->x = x;
    s->radius = radius;
    s->iter = 0;
    s->step = s->step_unclipped = s->gsq = NAN;
    s->type->reset(s->state, s->n, s->k);
    alig_project_l2(s->dtype, s->n, x, radius);   /* w_0 ∈ Ω, as the official code does at construction */
    return ALIG_SUCCESS;
}

alig_status alig_solver_step(alig_solver *s, double loss, const void *g)
{
    if (!s || !g || !s->x) return ALIG_EINVAL;
    if (!isfinite(loss)) return ALIG_ENONFINITE;
    double gsq = s->k->sumsq(s->n, g);
    if (!isfinite(gsq)) return ALIG_ENONFINITE;   /* a NaN or inf anywhere in g makes ‖g‖² non-finite */

    alig_step_ctx ctx = { .dtype = s->dtype, .n = s->n, .x = s->x, .g = g, .loss = loss, .gsq = gsq,
                          .k = s->k, .xsq = NAN, .step = NAN, .step_unclipped = NAN };
    alig_status rc = s->type->iterate(s->state, &ctx);
    if (rc) return rc;
    s->iter++;
    s->gsq = gsq;
    s->step = ctx.step;
    s->step_unclipped = ctx.step_unclipped;

    double xsq = isnan(ctx.xsq) ? s->k->sumsq(s->n, s->x) : ctx.xsq;
    if (!isfinite(xsq) && !s->k->all_finite(s->n, s->x)) return ALIG_ENONFINITE;   /* ‖x‖² = inf alone is no error */
    project_with(s->k, s->n, s->x, s->radius, xsq);
    return ALIG_SUCCESS;
}

alig_status alig_solver_epoch_end(alig_solver *s, double metric)
{
    if (!s) return ALIG_EINVAL;
    return s->type->epoch_end ? s->type->epoch_end(s->state, metric) : ALIG_SUCCESS;
}

const char *alig_solver_name(const alig_solver *s) { return s ? s->type->name : NULL; }
const alig_solver_type *alig_solver_get_type(const alig_solver *s) { return s ? s->type : NULL; }
double alig_solver_step_size(const alig_solver *s) { return s ? s->step : NAN; }
double alig_solver_step_size_unclipped(const alig_solver *s) { return s ? s->step_unclipped : NAN; }
double alig_solver_grad_sumsq(const alig_solver *s) { return s ? s->gsq : NAN; }
size_t alig_solver_iter(const alig_solver *s) { return s ? s->iter : 0; }
void *alig_solver_x(const alig_solver *s) { return s ? s->x : NULL; }
double alig_solver_radius(const alig_solver *s) { return s ? s->radius : NAN; }

/* ---------------------------------------------------------------- params text */

static const alig_param_desc *find_desc(const alig_solver_type *type, const char *name)
{
    for (size_t i = 0; i < type->n_params_desc; i++)
        if (strcmp(type->params_desc[i].name, name) == 0) return &type->params_desc[i];
    return NULL;
}

/* A decimal number ("0.1", "-2.5", "1e-3", ".5") or inf / infinity / none for +∞. Refused: leading
 * space (" 1"), hexadecimal ("0x10"), nan, an empty string, anything after the number ("0.5x", "1 "),
 * and values outside the double range ("1e999", and "1e-400", which would silently become 0). */
static int parse_double(const char *text, double *out)
{
    if (!strcasecmp(text, "inf") || !strcasecmp(text, "infinity") || !strcasecmp(text, "none")) {
        *out = INFINITY;
        return 0;
    }
    const char *p = text + (text[0] == '+' || text[0] == '-');
    if (!(isdigit((unsigned char)p[0]) || (p[0] == '.' && isdigit((unsigned char)p[1])))) return -1;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || isnan(v)) return -1;
    *out = v;
    return 0;
}

alig_status alig_params_set(const alig_solver_type *type, void *params, const char *name, const char *text)
{
    if (!type || !params || !name || !text) return ALIG_EINVAL;
    const alig_param_desc *d = find_desc(type, name);
    if (!d) return ALIG_EINVAL;
    char *field = (char *)params + d->offset;
    switch (d->kind) {
    case ALIG_PARAM_DOUBLE: {
        double v;
        if (parse_double(text, &v)) return ALIG_EINVAL;
        memcpy(field, &v, sizeof v);
        return ALIG_SUCCESS;
    }
    case ALIG_PARAM_BOOL: {
        int v;
        if (!strcmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on")) v = 1;
        else if (!strcmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") || !strcasecmp(text, "off")) v = 0;
        else return ALIG_EINVAL;
        memcpy(field, &v, sizeof v);
        return ALIG_SUCCESS;
    }
    case ALIG_PARAM_ENUM:
        for (int i = 0; d->choices && d->choices[i]; i++)
            if (!strcmp(text, d->choices[i])) { memcpy(field, &i, sizeof i); return ALIG_SUCCESS; }
        return ALIG_EINVAL;
    case ALIG_PARAM_LIST: {
        alig_double_list l = { 0, { 0 } };
        const char *p = text;
        while (*p) {
            if (l.n == ALIG_LIST_MAX) return ALIG_EINVAL;
            char buf[64];
            size_t len = strcspn(p, ",");
            if (len == 0 || len >= sizeof buf) return ALIG_EINVAL;
            memcpy(buf, p, len);
            buf[len] = '\0';
            if (parse_double(buf, &l.v[l.n])) return ALIG_EINVAL;
            l.n++;
            p += len;
            if (*p == ',') { p++; if (!*p) return ALIG_EINVAL; }
        }
        memcpy(field, &l, sizeof l);
        return ALIG_SUCCESS;
    }
    }
    return ALIG_EINVAL;
}

char *alig_params_format(const alig_param_desc *d, const void *params, char *buf, size_t len)
{
    const char *field = (const char *)params + d->offset;
    switch (d->kind) {
    case ALIG_PARAM_DOUBLE: {
        double v;
        memcpy(&v, field, sizeof v);
        if (isinf(v)) snprintf(buf, len, "%sinf", v < 0 ? "-" : "");
        else snprintf(buf, len, "%g", v);
        break;
    }
    case ALIG_PARAM_BOOL: {
        int v;
        memcpy(&v, field, sizeof v);
        snprintf(buf, len, "%s", v ? "true" : "false");
        break;
    }
    case ALIG_PARAM_ENUM: {
        int v, nchoices = 0;
        memcpy(&v, field, sizeof v);
        while (d->choices && d->choices[nchoices]) nchoices++;
        if (v >= 0 && v < nchoices) snprintf(buf, len, "%s", d->choices[v]);
        else snprintf(buf, len, "%d", v);    /* out of range: shown as a number, which alig_params_set rejects */
        break;
    }
    case ALIG_PARAM_LIST: {
        alig_double_list l;
        memcpy(&l, field, sizeof l);
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < l.n && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%g", i ? "," : "", l.v[i]);
        if (l.n == 0) snprintf(buf, len, "(none)");
        break;
    }
    }
    return buf;
}

/* ---------------------------------------------------------------- checkpoints */

#define STATE_MAGIC 0x414c4947u   /* "ALIG" */
#define STATE_MAX_BLOCKS 8

typedef struct {
    unsigned magic;
    char type[24];
    int dtype;
    unsigned long long n, iter, payload;
    double step, step_unclipped, gsq;
} state_header;

static size_t blocks_of(const alig_solver *s, void **ptr, size_t *bytes)
{
    if (!s->type->state_blocks) return 0;
    return s->type->state_blocks(s->state, ptr, bytes, STATE_MAX_BLOCKS);
}

size_t alig_solver_state_bytes(const alig_solver *s)
{
    if (!s) return 0;
    void *ptr[STATE_MAX_BLOCKS];
    size_t bytes[STATE_MAX_BLOCKS], total = sizeof(state_header);
    size_t nb = blocks_of(s, ptr, bytes);
    for (size_t i = 0; i < nb; i++) total += bytes[i];
    return total;
}

alig_status alig_solver_state_export(const alig_solver *s, void *dst, size_t len)
{
    if (!s || !dst) return ALIG_EINVAL;
    if (len < alig_solver_state_bytes(s)) return ALIG_EBADLEN;
    void *ptr[STATE_MAX_BLOCKS];
    size_t bytes[STATE_MAX_BLOCKS];
    size_t nb = blocks_of(s, ptr, bytes);
    state_header h = { .magic = STATE_MAGIC, .dtype = (int)s->dtype, .n = s->n, .iter = s->iter,
                       .payload = alig_solver_state_bytes(s) - sizeof h,
                       .step = s->step, .step_unclipped = s->step_unclipped, .gsq = s->gsq };
    strncpy(h.type, s->type->name, sizeof h.type - 1);
    char *out = dst;
    memcpy(out, &h, sizeof h);
    out += sizeof h;
    for (size_t i = 0; i < nb; i++) {
        if (bytes[i]) memcpy(out, ptr[i], bytes[i]);
        out += bytes[i];
    }
    return ALIG_SUCCESS;
}

alig_status alig_solver_state_import(alig_solver *s, const void *src, size_t len)
{
    if (!s || !src) return ALIG_EINVAL;
    state_header h;
    if (len < sizeof h) return ALIG_EFORMAT;
    memcpy(&h, src, sizeof h);
    if (h.magic != STATE_MAGIC || strncmp(h.type, s->type->name, sizeof h.type) != 0 || h.dtype != (int)s->dtype
        || h.n != s->n || len != alig_solver_state_bytes(s) || h.payload != len - sizeof h)
        return ALIG_EFORMAT;
    void *ptr[STATE_MAX_BLOCKS];
    size_t bytes[STATE_MAX_BLOCKS];
    size_t nb = blocks_of(s, ptr, bytes);
    const char *in = (const char *)src + sizeof h;
    for (size_t i = 0; i < nb; i++) {
        if (bytes[i]) memcpy(ptr[i], in, bytes[i]);
        in += bytes[i];
    }
    s->iter = (size_t)h.iter;
    s->step = h.step;
    s->step_unclipped = h.step_unclipped;
    s->gsq = h.gsq;
    return ALIG_SUCCESS;
}
