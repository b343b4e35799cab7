/* nn_models.c - model specs (MLP, the reference CNN, WRN-d-k), the layers they are made of, and
 * the seeded initialisation.
 *
 * Layers are compositions of alig_ad ops (kann's idea): dense = matmul(x, Wᵀ) + b with PyTorch's
 * (out, in) weight layout, conv = conv2d with a fused bias, batch norm = the batchnorm op with γ, β
 * trainable and the running statistics as arena buffers. Each layer asks the builder for its
 * tensors together with their initialisation recipe (nn_impl.h), so the recipe sits next to the
 * layer that defines the fan-in.
 *
 * Initialisation, following PyTorch 1.13's defaults and the PyTorch peer script torch_fmnist.py (not in this repository):
 *   nn.Linear / nn.Conv2d reset_parameters: kaiming_uniform_(W, a = √5), whose bound is
 *   gain·√(3/fan_in) with gain = √(2/(1 + a²)) = √(1/3), i.e. 1/√fan_in; the bias is drawn from
 *   U(−1/√fan_in, 1/√fan_in) as well (PyTorch docs, torch.nn.Linear and torch.nn.Conv2d).
 *   The WRN overrides this as the reference WRN code does: conv weights N(0, 2/(k·k·C_out))
 *   ("He et al. 2015, fan-out"), batch-norm γ = 1, β = 0, dense bias 0. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "nn_impl.h"
#include "splitmix.h"

/* ====================================================================== specs */

#define NN_MAX_SIDE 65536       /* input height / width / channels */
#define NN_MAX_CLASSES (1 << 20)
#define NN_MAX_WIDTH (1 << 20)  /* MLP hidden width */

static alig_status check_input(int in_c, int in_h, int in_w, int classes)
{
    if (in_c < 1 || in_h < 1 || in_w < 1 || in_c > NN_MAX_SIDE || in_h > NN_MAX_SIDE || in_w > NN_MAX_SIDE)
        return ALIG_EBADLEN;
    if (classes < 2 || classes > NN_MAX_CLASSES) return ALIG_EBADLEN;
    return ALIG_SUCCESS;
}

alig_status alig_nn_spec_check(const alig_nn_spec *s)
{
    if (!s) return ALIG_EINVAL;
    alig_status rc = check_input(s->in_c, s->in_h, s->in_w, s->classes);
    if (rc) return rc;
    switch (s->kind) {
    case ALIG_NN_MLP:
        if (s->n_hidden < 0 || s->n_hidden > ALIG_NN_MAX_HIDDEN) return ALIG_EBADLEN;
        for (int i = 0; i < s->n_hidden; i++)
            if (s->hidden[i] < 1 || s->hidden[i] > NN_MAX_WIDTH) return ALIG_EBADLEN;
        if (s->dropout != 0.0) return ALIG_EINVAL;
        return ALIG_SUCCESS;
    case ALIG_NN_CNN:
        /* two valid 3x3 convs and two 2x2 pools leave at least one pixel: side >= 10 */
        if (s->in_h < 10 || s->in_w < 10) return ALIG_EBADLEN;
        if (s->dropout != 0.0) return ALIG_EINVAL;
        return ALIG_SUCCESS;
    case ALIG_NN_WRN:
        if (s->depth < 10 || s->depth > 1000 || (s->depth - 4) % 6 != 0) return ALIG_EBADLEN;
        if (s->width < 1 || s->width > 64) return ALIG_EBADLEN;
        if (!(s->dropout >= 0.0 && s->dropout < 1.0)) return ALIG_EINVAL;
        return ALIG_SUCCESS;
    case ALIG_NN_DENSENET:
        if (s->depth < 10 || s->depth > 1000 || (s->depth - 4) % 6 != 0) return ALIG_EBADLEN;
        if (s->growth < 1 || s->growth > 512) return ALIG_EBADLEN;
        if (s->in_h < 4 || s->in_w < 4) return ALIG_EBADLEN;   /* two 2x2 average pools */
        if (s->dropout != 0.0) return ALIG_EINVAL;
        return ALIG_SUCCESS;
    }
    return ALIG_EINVAL;
}

static void spec_base(alig_nn_spec *s, alig_nn_kind kind, int in_c, int in_h, int in_w, int classes)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->in_c = in_c;
    s->in_h = in_h;
    s->in_w = in_w;
    s->classes = classes;
}

alig_status alig_nn_mlp(alig_nn_spec *spec, int in_c, int in_h, int in_w, int classes, int n_hidden,
                        const int *hidden)
{
    if (!spec || (n_hidden > 0 && !hidden)) return ALIG_EINVAL;
    if (n_hidden < 0 || n_hidden > ALIG_NN_MAX_HIDDEN) return ALIG_EBADLEN;
    alig_nn_spec s;
    spec_base(&s, ALIG_NN_MLP, in_c, in_h, in_w, classes);
    s.n_hidden = n_hidden;
    for (int i = 0; i < n_hidden; i++) s.hidden[i] = hidden[i];
    alig_status rc = alig_nn_spec_check(&s);
    if (!rc) *spec = s;
    return rc;
}

alig_status alig_nn_cnn(alig_nn_spec *spec, int in_c, int in_h, int in_w, int classes)
{
    if (!spec) return ALIG_EINVAL;
    alig_nn_spec s;
    spec_base(&s, ALIG_NN_CNN, in_c, in_h, in_w, classes);
    alig_status rc = alig_nn_spec_check(&s);
    if (!rc) *spec = s;
    return rc;
}

alig_status alig_nn_wrn(alig_nn_spec *spec, int depth, int width, double dropout, int in_c, int in_h, int in_w,
                        int classes)
{
    if (!spec) return ALIG_EINVAL;
    alig_nn_spec s;
    spec_base(&s, ALIG_NN_WRN, in_c, in_h, in_w, classes);
    s.depth = depth;
    s.width = width;
    s.dropout = dropout;
    alig_status rc = alig_nn_spec_check(&s);
    if (!rc) *spec = s;
    return rc;
}

alig_status alig_nn_densenet(alig_nn_spec *spec, int depth, int growth, int in_c, int in_h, int in_w, int classes)
{
    if (!spec) return ALIG_EINVAL;
    alig_nn_spec s;
    spec_base(&s, ALIG_NN_DENSENET, in_c, in_h, in_w, classes);
    s.depth = depth;
    s.growth = growth;
    alig_status rc = alig_nn_spec_check(&s);
    if (!rc) *spec = s;
    return rc;
}

size_t alig_nn_densenet_params(int depth, int growth, int in_c, int classes)
{
    if (depth < 10 || depth > 1000 || (depth - 4) % 6 || growth < 1 || growth > 512 || in_c < 1 || classes < 2)
        return 0;
    const size_t m = (size_t)(depth - 4) / 6, k = (size_t)growth;
    size_t c = 2 * k, n = 9 * (size_t)in_c * c;
    for (int blk = 0; blk < 3; blk++) {
        for (size_t i = 0; i < m; i++, c += k) n += 2 * c + 4 * k * c + 2 * 4 * k + 9 * 4 * k * k;
        if (blk < 2) {
            n += 2 * c + c * (c / 2);
            c /= 2;
        }
    }
    return n + 2 * c + c * (size_t)classes + (size_t)classes;
}

/* Parse "-N-N-..." after a prefix: decimal integers >= 0 separated by '-'. Returns the count, or
 * −1 on malformed text or more than max numbers. */
static int parse_dash_list(const char *p, int *v, int max)
{
    int k = 0;
    while (*p) {
        if (*p != '-' || k == max) return -1;
        p++;
        if (*p < '0' || *p > '9') return -1;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || x > INT_MAX) return -1;
        v[k++] = (int)x;
        p = end;
    }
    return k;
}

alig_status alig_nn_spec_parse(alig_nn_spec *spec, const char *name, int in_c, int in_h, int in_w, int classes,
                               double dropout)
{
    if (!spec || !name) return ALIG_EINVAL;
    if (!strcmp(name, "cnn")) {
        if (dropout != 0.0) return ALIG_EINVAL;
        return alig_nn_cnn(spec, in_c, in_h, in_w, classes);
    }
    if (!strcmp(name, "mlp")) {
        if (dropout != 0.0) return ALIG_EINVAL;
        return alig_nn_mlp(spec, in_c, in_h, in_w, classes, 2, (const int[]){ 256, 128 });
    }
    if (!strncmp(name, "mlp-", 4)) {
        int h[ALIG_NN_MAX_HIDDEN];
        int k = parse_dash_list(name + 3, h, ALIG_NN_MAX_HIDDEN);
        if (k < 1 || dropout != 0.0) return ALIG_EINVAL;
        if (k == 1 && h[0] == 0) k = 0;                 /* "mlp-0": linear model */
        return alig_nn_mlp(spec, in_c, in_h, in_w, classes, k, h);
    }
    if (!strncmp(name, "wrn-", 4)) {
        int v[2];
        if (parse_dash_list(name + 3, v, 2) != 2) return ALIG_EINVAL;
        return alig_nn_wrn(spec, v[0], v[1], dropout, in_c, in_h, in_w, classes);
    }
    if (!strncmp(name, "densenet-bc-", 12)) {
        int v[2];
        if (parse_dash_list(name + 11, v, 2) != 2 || dropout != 0.0) return ALIG_EINVAL;
        return alig_nn_densenet(spec, v[0], v[1], in_c, in_h, in_w, classes);
    }
    return ALIG_EINVAL;
}

char *alig_nn_spec_name(const alig_nn_spec *s, char *buf, size_t len)
{
    if (!buf || !len) return buf;
    buf[0] = '\0';
    if (!s) return buf;
    switch (s->kind) {
    case ALIG_NN_CNN: snprintf(buf, len, "cnn"); break;
    case ALIG_NN_WRN: snprintf(buf, len, "wrn-%d-%d", s->depth, s->width); break;
    case ALIG_NN_DENSENET: snprintf(buf, len, "densenet-bc-%d-%d", s->depth, s->growth); break;
    case ALIG_NN_MLP: {
        size_t o = (size_t)snprintf(buf, len, "mlp");
        if (s->n_hidden == 0 && o < len) snprintf(buf + o, len - o, "-0");
        for (int i = 0; i < s->n_hidden && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "-%d", s->hidden[i]);
        break;
    }
    default: snprintf(buf, len, "?"); break;
    }
    return buf;
}

/* ====================================================================== builder */

static alig_ad_node *build_fail(nn_build *b, alig_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static alig_ad_node *build_fail(nn_build *b, alig_status st, const char *fmt, ...)
{
    if (!b->status) {
        b->status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b->net->err, sizeof b->net->err, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

/* The tensor of the given shape: declared with its recipe (declare mode) or the next recorded one. */
static alig_ad_node *tensor(nn_build *b, int trainable, int ndim, const int *dims, nn_init_kind kind, double a)
{
    alig_nn_net *net = b->net;
    if (b->status || alig_ad_graph_status(b->G)) return NULL;
    if (b->declare) {
        if (net->nt == net->cap) {
            int cap = net->cap ? 2 * net->cap : 32;
            nn_tensor *t = realloc(net->t, (size_t)cap * sizeof *t);
            if (!t) return build_fail(b, ALIG_ENOMEM, "out of memory (%d tensors)", net->nt);
            net->t = t;
            net->cap = cap;
        }
        int id;
        alig_status rc = trainable ? alig_ad_params_add(net->P, ndim, dims, &id)
                                   : alig_ad_params_add_buffer(net->P, ndim, dims, (float)a, &id);
        if (rc) return build_fail(b, rc, "cannot declare tensor %d (%d-D)", net->nt, ndim);
        net->t[net->nt++] = (nn_tensor){ .id = id, .trainable = trainable, .kind = kind, .a = a };
    } else {
        if (b->pos >= net->nt) return build_fail(b, ALIG_EINVAL, "model asks for tensor %d of %d recorded", b->pos, net->nt);
        const nn_tensor *t = &net->t[b->pos];
        int nd, d[ALIG_AD_MAX_DIM];
        alig_ad_params_shape(net->P, t->id, &nd, d);
        int same = nd == ndim && t->trainable == trainable;
        for (int i = 0; same && i < ndim; i++) same = d[i] == dims[i];
        if (!same) return build_fail(b, ALIG_EINVAL, "tensor %d: shape differs from the recorded one (%d-D)", b->pos, nd);
        b->pos++;
    }
    const int id = net->t[b->declare ? net->nt - 1 : b->pos - 1].id;
    return trainable ? alig_ad_param(b->G, id) : alig_ad_buffer(b->G, id);
}

/* PyTorch's default bound for a layer with fan_in inputs per output: 1/√fan_in. */
static double torch_bound(int fan_in) { return 1.0 / sqrt((double)fan_in); }

/* y = x Wᵀ + bias, W (out, in), x (N, in). W ~ U(±1/√in); the bias too when bias_torch, else bias_const. */
static alig_ad_node *dense(nn_build *b, alig_ad_node *x, int out, double bias_const, int bias_torch)
{
    if (!x) return NULL;
    const int in = x->dims[1];
    const double bound = torch_bound(in);
    alig_ad_node *W = tensor(b, 1, 2, (const int[]){ out, in }, NN_INIT_UNIFORM, bound);
    alig_ad_node *bias = bias_torch ? tensor(b, 1, 1, (const int[]){ out }, NN_INIT_UNIFORM, bound)
                                    : tensor(b, 1, 1, (const int[]){ out }, NN_INIT_CONST, bias_const);
    return alig_ad_bias_add(b->G, alig_ad_matmul(b->G, x, W, 0, 1), bias);
}

/* PyTorch-default conv k×k with bias (CNN). */
static alig_ad_node *conv_torch(nn_build *b, alig_ad_node *x, int cout, int k)
{
    if (!x) return NULL;
    const int cin = x->dims[1];
    const double bound = torch_bound(cin * k * k);
    alig_ad_node *W = tensor(b, 1, 4, (const int[]){ cout, cin, k, k }, NN_INIT_UNIFORM, bound);
    alig_ad_node *bias = tensor(b, 1, 1, (const int[]){ cout }, NN_INIT_UNIFORM, bound);
    return alig_ad_conv2d(b->G, x, W, bias, NULL);
}

/* WRN conv k×k without bias, N(0, 2/(k·k·cout)), padding (k−1)/2. */
static alig_ad_node *conv_wrn(nn_build *b, alig_ad_node *x, int cout, int k, int stride)
{
    if (!x) return NULL;
    const int cin = x->dims[1];
    alig_ad_node *W = tensor(b, 1, 4, (const int[]){ cout, cin, k, k }, NN_INIT_NORMAL,
                             sqrt(2.0 / ((double)k * k * cout)));
    const alig_ad_conv_opts o = { .stride_h = stride, .stride_w = stride, .pad_h = (k - 1) / 2, .pad_w = (k - 1) / 2 };
    return alig_ad_conv2d(b->G, x, W, NULL, &o);
}

/* Batch norm with γ = 1, β = 0, running mean 0, running variance 1 (PyTorch defaults), followed
 * by a ReLU fused into it when relu (the same function as alig_ad_relu on its output) and by
 * dropout of rate p fused as well when p > 0 (alig_ad_bn_opts.dropout: the function of
 * alig_ad_dropout on that output, without a node, a mask or a pass of its own). */
static alig_ad_node *bnorm_drop(nn_build *b, alig_ad_node *x, int relu, double p)
{
    if (!x) return NULL;
    const int C = x->dims[1];
    alig_ad_node *gamma = tensor(b, 1, 1, &C, NN_INIT_CONST, 1.0);
    alig_ad_node *beta = tensor(b, 1, 1, &C, NN_INIT_CONST, 0.0);
    alig_ad_node *rm = tensor(b, 0, 1, &C, NN_INIT_CONST, 0.0);
    alig_ad_node *rv = tensor(b, 0, 1, &C, NN_INIT_CONST, 1.0);
    alig_ad_bn_opts o = ALIG_AD_BN_OPTS_DEFAULT;
    o.relu = relu;
    o.dropout = p;
    return alig_ad_batchnorm(b->G, x, gamma, beta, rm, rv, &o);
}

static alig_ad_node *bnorm(nn_build *b, alig_ad_node *x, int relu) { return bnorm_drop(b, x, relu, 0.0); }

static alig_ad_node *mlp_forward(nn_build *b, const alig_nn_spec *s, alig_ad_node *x)
{
    alig_ad_node *h = alig_ad_flatten(b->G, x);
    for (int i = 0; i < s->n_hidden; i++) h = alig_ad_relu(b->G, dense(b, h, s->hidden[i], 0.0, 1));
    return dense(b, h, s->classes, 0.0, 1);
}

static alig_ad_node *cnn_forward(nn_build *b, const alig_nn_spec *s, alig_ad_node *x)
{
    alig_ad_graph *G = b->G;
    const alig_ad_pool_opts pool2 = { .kh = 2, .kw = 2 };
    alig_ad_node *h = alig_ad_maxpool2d(G, alig_ad_relu(G, conv_torch(b, x, 32, 3)), &pool2);
    h = alig_ad_maxpool2d(G, alig_ad_relu(G, conv_torch(b, h, 64, 3)), &pool2);
    h = alig_ad_relu(G, dense(b, alig_ad_flatten(G, h), 128, 0.0, 1));
    return dense(b, h, s->classes, 0.0, 1);
}

/* Pre-activation basic block (Zagoruyko & Komodakis 2016): BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3,
 * plus the identity, or a 1x1 conv of the pre-activated input when channels or stride change. The
 * second BN-ReLU-dropout is one batchnorm node (bnorm_drop). */
static alig_ad_node *wrn_block(nn_build *b, alig_ad_node *x, int cout, int stride, double p)
{
    if (!x) return NULL;
    alig_ad_graph *G = b->G;
    const int equal = x->dims[1] == cout && stride == 1;
    alig_ad_node *o = bnorm(b, x, 1);
    alig_ad_node *shortcut_in = equal ? x : o;
    o = conv_wrn(b, o, cout, 3, stride);
    o = bnorm_drop(b, o, 1, p);
    o = conv_wrn(b, o, cout, 3, 1);
    alig_ad_node *sc = equal ? shortcut_in : conv_wrn(b, shortcut_in, cout, 1, stride);
    return alig_ad_add(G, o, sc);
}

static alig_ad_node *wrn_forward(nn_build *b, const alig_nn_spec *s, alig_ad_node *x)
{
    alig_ad_graph *G = b->G;
    const int m = (s->depth - 4) / 6, k = s->width;
    const int ch[3] = { 16 * k, 32 * k, 64 * k }, stride[3] = { 1, 2, 2 };
    alig_ad_node *h = conv_wrn(b, x, 16, 3, 1);
    for (int st = 0; st < 3; st++)
        for (int i = 0; i < m; i++) h = wrn_block(b, h, ch[st], i == 0 ? stride[st] : 1, s->dropout);
    h = alig_ad_global_avgpool(G, bnorm(b, h, 1));
    return dense(b, h, s->classes, 0.0, 0);
}

/* DenseNet-BC bottleneck layer (Huang et al. 2017): BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k), its k
 * maps appended to the input: concat(x, new). Building the block as a running concatenation keeps
 * every concat at two operands. */
static alig_ad_node *dense_layer(nn_build *b, alig_ad_node *x, int k)
{
    if (!x) return NULL;
    alig_ad_node *o = conv_wrn(b, bnorm(b, x, 1), 4 * k, 1, 1);
    o = conv_wrn(b, bnorm(b, o, 1), k, 3, 1);
    if (!o) return NULL;
    return alig_ad_concat(b->G, 2, (alig_ad_node *const[]){ x, o });
}

/* Transition: BN-ReLU-conv1x1(cout)-avgpool 2x2. */
static alig_ad_node *dense_transition(nn_build *b, alig_ad_node *x, int cout)
{
    if (!x) return NULL;
    const alig_ad_pool_opts pool2 = { .kh = 2, .kw = 2 };
    return alig_ad_avgpool2d(b->G, conv_wrn(b, bnorm(b, x, 1), cout, 1, 1), &pool2);
}

static alig_ad_node *densenet_forward(nn_build *b, const alig_nn_spec *s, alig_ad_node *x)
{
    const int m = (s->depth - 4) / 6, k = s->growth;
    alig_ad_node *h = conv_wrn(b, x, 2 * k, 3, 1);
    for (int blk = 0; blk < 3; blk++) {
        for (int i = 0; i < m; i++) h = dense_layer(b, h, k);
        if (blk < 2 && h) h = dense_transition(b, h, h->dims[1] / 2);   /* compression 0.5, floor */
    }
    h = alig_ad_global_avgpool(b->G, bnorm(b, h, 1));
    return dense(b, h, s->classes, 0.0, 0);
}

alig_ad_node *alig_nn_model_forward(nn_build *b, const alig_nn_spec *spec, alig_ad_node *x)
{
    if (!x) return NULL;
    switch (spec->kind) {
    case ALIG_NN_MLP: return mlp_forward(b, spec, x);
    case ALIG_NN_CNN: return cnn_forward(b, spec, x);
    case ALIG_NN_WRN: return wrn_forward(b, spec, x);
    case ALIG_NN_DENSENET: return densenet_forward(b, spec, x);
    }
    return build_fail(b, ALIG_EINVAL, "unknown model kind %d", (int)spec->kind);
}

/* ====================================================================== init */

alig_status alig_nn_net_init(alig_nn_net *net, unsigned long seed)
{
    if (!net) return ALIG_EINVAL;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return ALIG_ENOMEM;
    /* GSL's mt19937 uses the low 32 bits and maps 0 to its default seed: feed it a mixed,
     * non-zero value so that every seed gives its own stream */
    unsigned long s32 = (unsigned long)(alig_splitmix(seed) & 0xFFFFFFFFu);   /* SplitMix64 (splitmix.h) */
    gsl_rng_set(r, s32 ? s32 : 1);
    for (int i = 0; i < net->nt; i++) {
        const nn_tensor *t = &net->t[i];
        float *v = alig_ad_params_value(net->P, t->id);
        const size_t size = alig_ad_params_shape(net->P, t->id, NULL, NULL);
        for (size_t j = 0; j < size; j++) {
            double u;
            switch (t->kind) {
            case NN_INIT_UNIFORM: u = t->a * (2.0 * gsl_rng_uniform(r) - 1.0); break;
            case NN_INIT_NORMAL: u = gsl_ran_gaussian(r, t->a); break;
            default: u = t->a; break;
            }
            v[j] = (float)u;
        }
    }
    gsl_rng_free(r);
    net->rng_seed = (uint64_t)seed;
    net->rng_step = 0;
    return ALIG_SUCCESS;
}
