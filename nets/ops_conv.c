/* ops_conv.c - conv2d, maxpool2d, avgpool2d, global_avgpool (NCHW).
 *
 * conv2d has three algorithms (alig_ad_conv_opts.algo). 3×3 stride-1 convolutions with padding
 * 0..2 and at least 4 input channels run by default on Winograd's minimal filtering
 * (nets/winograd.c), F(4×4, 3×3) on large outputs and F(2×2, 3×3) on small ones (4 and 2.25 times
 * fewer multiplications; with one input channel its sgemms have an inner dimension of 1 and
 * im2col is faster). Everything else runs im2col + sgemm over blocks of images (nets/kernels.c), with an optional fused bias
 * (one pass less over the output, forward and backward, than a separate bias_add). Its scratch
 * is shared by every conv node of the graph (nodes run one at a time), sized for the largest;
 * backward recomputes the columns instead of keeping them for the whole batch.
 *
 * Plan: when several OpenMP threads are available, OpenBLAS nests safely (OpenMP or sequential
 * build) and the layer is not huge (at most CONV_PAR_MAX_WEIGHTS weights, each thread keeping a
 * partial weight gradient), blocks of about CONV_SLOT_FLOATS scratch (1 MiB: they stay in a
 * core's cache) run in parallel, one per thread. With several threads otherwise, one large block
 * (about CONV_BIG_FLOATS) at a time, with OpenBLAS threading the sgemm. (The limit was 2^18
 * weights; WRN-16-4's 128 -> 256 strided 3×3 convolution, 295k weights, then took the second
 * plan and ran forward + backward 2-4 times slower than with the first, 2 threads, batch 128,
 * on the shared machine; WRN-16-8's 256 -> 512 likewise.) With one thread, cache-sized blocks one after the other
 * (measured on the CNN's second layer, one thread: blocks of 0.7-1.4 MB ran forward + backward
 * in about 50 ms, blocks of 5-22 MB in 75-85 ms).
 * The plan is re-derived at every call from the current thread count, within the scratch
 * allocated at compile time.
 *
 * maxpool keeps the winner of each window (int32 per output) so that its backward is a scatter. */
#ifdef _OPENMP
#include <omp.h>
#endif

#include "ad_impl.h"
#include "kernels.h"
#include "winograd.h"

#define CONV_SLOT_FLOATS ((size_t)1 << 18)
#define CONV_BIG_FLOATS ((size_t)1 << 21)
#define CONV_PAR_MAX_WEIGHTS ((size_t)1 << 21)

/* ---------------------------------------------------------------- conv2d */

static void conv_shape(const alig_ad_node *n, alig_nk_conv *s)
{
    const alig_ad_node *x = n->in[0], *w = n->in[1];
    s->N = x->dims[0]; s->C = x->dims[1]; s->H = x->dims[2]; s->W = x->dims[3];
    s->K = w->dims[0]; s->R = w->dims[2]; s->S = w->dims[3];
    s->sh = n->aux.conv.stride_h; s->sw = n->aux.conv.stride_w;
    s->ph = n->aux.conv.pad_h; s->pw = n->aux.conv.pad_w;
    s->P = n->dims[2]; s->Q = n->dims[3];
}

/* 3×3 stride-1 convolutions with at least WINO_MIN_C input channels run on the Winograd path
 * (nets/winograd.c); with fewer, its 16 sgemms have too short an inner dimension to pay. */
#define WINO_MIN_C 4
#define WINO_SLOT_FLOATS ((size_t)1 << 18)

/* The Winograd tile m of node n: 2 or 4, or 0 for im2col. AUTO takes F(4×4, 3×3) on outputs of at
 * least WINO4_MIN_SIZE in both directions and F(2×2, 3×3) on smaller ones: measured with
 * bench/conv_layers on WRN-16-2's layers (2 threads, forward + backward), F(4×4) was 20-25% faster
 * at 28×28 and 5-15% at 14×14, and 8-20% slower at 7×7, where its 2×2 tiles per image waste 31%
 * of the work and leave sgemms of only 4 rows per image. At 8×8 (2×2 tiles exactly, WRN-16-4's
 * last stage on 32×32 inputs) F(2×2) was faster until the layout changes went through registers;
 * since, F(4×4) takes those layers from 102 to 86 ms forward and 194 to 175 ms backward per batch
 * of 128 (two alternating runs, alig train --profile). */
#define WINO4_MIN_SIZE 8
static int conv_wino(const alig_ad_node *n, const alig_nk_conv *s)
{
    switch (n->aux.conv.algo) {
    case ALIG_CONV_IM2COL: return 0;
    case ALIG_CONV_WINOGRAD: return 2;      /* eligibility checked by the constructor */
    case ALIG_CONV_WINOGRAD4: return 4;
    default:
        if (!alig_nk_wino_eligible(s) || s->C < WINO_MIN_C) return 0;
        return s->P >= WINO4_MIN_SIZE && s->Q >= WINO4_MIN_SIZE ? 4 : 2;
    }
}

static int conv_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void wino_plan(const alig_nk_conv *s, int m, size_t ws_avail, int *imgs, int *slots)
{
    const int threads = conv_threads();
    const int par = threads > 1 && alig_nk_blas_nests();
    alig_nk_wino_plan(s, m, par ? threads : 1, WINO_SLOT_FLOATS, ws_avail, imgs, slots);
}

static void conv_plan(const alig_nk_conv *s, size_t ws_avail, int *block, int *slots)
{
#ifdef _OPENMP
    const int threads = omp_get_max_threads();
#else
    const int threads = 1;
#endif
    const int par = threads > 1 && alig_nk_blas_nests() &&
                    (size_t)s->K * s->C * s->R * s->S <= CONV_PAR_MAX_WEIGHTS;
    /* large blocks only where OpenBLAS threads the sgemm; cache-sized ones otherwise */
    const size_t target = threads > 1 && !par ? CONV_BIG_FLOATS : CONV_SLOT_FLOATS;
    alig_nk_conv_plan(s, par ? threads : 1, target, ws_avail, block, slots);
}

alig_ad_node *alig_ad_conv2d(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *w, alig_ad_node *b,
                             const alig_ad_conv_opts *opts)
{
    alig_ad_node *ins[3] = { x, w, b };
    char sx[64], sw[64];
    if (!alig_ad_check_args(G, "conv2d", b ? 3 : 2, ins)) return NULL;
    alig_ad_conv_opts o = opts ? *opts : (alig_ad_conv_opts){ 0 };
    if (o.stride_h == 0) o.stride_h = 1;
    if (o.stride_w == 0) o.stride_w = 1;
    if (o.stride_h < 0 || o.stride_w < 0 || o.pad_h < 0 || o.pad_w < 0)
        return alig_ad_fail(G, ALIG_EINVAL, "conv2d", "negative stride or padding");
    if (o.algo != ALIG_CONV_AUTO && o.algo != ALIG_CONV_IM2COL && o.algo != ALIG_CONV_WINOGRAD &&
        o.algo != ALIG_CONV_WINOGRAD4)
        return alig_ad_fail(G, ALIG_EINVAL, "conv2d", "unknown algorithm %d", (int)o.algo);
    if (x->ndim != 4 || w->ndim != 4)
        return alig_ad_fail(G, ALIG_EBADLEN, "conv2d", "need x (N,C,H,W) and w (K,C,R,S), got %s and %s",
                            alig_ad_shape_str(x, sx, sizeof sx), alig_ad_shape_str(w, sw, sizeof sw));
    if (x->dims[1] != w->dims[1])
        return alig_ad_fail(G, ALIG_EBADLEN, "conv2d", "input has %d channels, weight expects %d",
                            x->dims[1], w->dims[1]);
    if (b && (b->ndim != 1 || b->dims[0] != w->dims[0]))
        return alig_ad_fail(G, ALIG_EBADLEN, "conv2d", "bias must be (%d), got %s", w->dims[0],
                            alig_ad_shape_str(b, sx, sizeof sx));
    const int P = alig_nk_out_len(x->dims[2], w->dims[2], o.stride_h, o.pad_h);
    const int Q = alig_nk_out_len(x->dims[3], w->dims[3], o.stride_w, o.pad_w);
    if (!P || !Q)
        return alig_ad_fail(G, ALIG_EBADLEN, "conv2d", "kernel %dx%d larger than padded input %s",
                            w->dims[2], w->dims[3], alig_ad_shape_str(x, sx, sizeof sx));
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_CONV2D, 4, (int[]){ x->dims[0], w->dims[0], P, Q }, b ? 3 : 2, ins);
    if (!n) return NULL;
    n->aux.conv = o;
    alig_nk_conv s;
    int block, slots;
    conv_shape(n, &s);
    if ((o.algo == ALIG_CONV_WINOGRAD || o.algo == ALIG_CONV_WINOGRAD4) && !alig_nk_wino_eligible(&s))
        return alig_ad_fail(G, ALIG_EINVAL, "conv2d",
                            "Winograd needs a 3x3 kernel, stride 1 and padding 0..2 (got %dx%d, stride %d,%d, pad %d,%d)",
                            s.R, s.S, s.sh, s.sw, s.ph, s.pw);
    size_t need;
    const int m = conv_wino(n, &s);
    if (m) {
        wino_plan(&s, m, 0, &block, &slots);
        need = alig_nk_wino_ws(&s, m, block, slots);
    } else {
        conv_plan(&s, 0, &block, &slots);
        need = alig_nk_conv_ws(&s, block, slots);
    }
    if (need > G->ws_need) G->ws_need = need;
    return n;
}

static alig_status conv_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    alig_nk_conv s;
    int block, slots;
    conv_shape(n, &s);
    const int m = conv_wino(n, &s);
    if (m) {
        wino_plan(&s, m, G->ws_need, &block, &slots);
        alig_nk_wino_forward(&s, m, n->in[0]->value, n->in[1]->value, n->n_in == 3 ? n->in[2]->value : NULL, n->value,
                             G->ws, block, slots);
        return ALIG_SUCCESS;
    }
    conv_plan(&s, G->ws_need, &block, &slots);
    alig_nk_conv2d_forward(&s, n->in[0]->value, n->in[1]->value, n->n_in == 3 ? n->in[2]->value : NULL, n->value,
                           G->ws, block, slots);
    return ALIG_SUCCESS;
}

static void conv_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    alig_nk_conv s;
    int block, slots;
    conv_shape(n, &s);
    alig_ad_node *x = n->in[0];
    const int set = x->grad ? alig_ad_grad_claim(G, x) : 0;    /* dx may be written, not added */
    const int m = conv_wino(n, &s);
    if (m) {
        wino_plan(&s, m, G->ws_need, &block, &slots);
        alig_nk_wino_backward(&s, m, x->value, n->in[1]->value, n->grad, x->grad, set, n->in[1]->grad,
                              n->n_in == 3 ? n->in[2]->grad : NULL, G->ws, block, slots);
        return;
    }
    conv_plan(&s, G->ws_need, &block, &slots);
    alig_nk_conv2d_backward_set(&s, x->value, n->in[1]->value, n->grad, x->grad, set, n->in[1]->grad,
                                n->n_in == 3 ? n->in[2]->grad : NULL, G->ws, block, slots);
}

const alig_ad_opdef alig_ad_def_conv2d = { "conv2d", conv_forward, conv_backward, 1u,
                                     ALIG_AD_BWD_KNOWN | ALIG_AD_BWD_IN(0) | ALIG_AD_BWD_IN(1) };

/* ---------------------------------------------------------------- pooling */

static void pool_shape(const alig_ad_node *n, alig_nk_pool *s)
{
    const alig_ad_node *x = n->in[0];
    s->N = x->dims[0]; s->C = x->dims[1]; s->H = x->dims[2]; s->W = x->dims[3];
    s->kh = n->aux.pool.kh; s->kw = n->aux.pool.kw;
    s->sh = n->aux.pool.stride_h; s->sw = n->aux.pool.stride_w;
    s->ph = n->aux.pool.pad_h; s->pw = n->aux.pool.pad_w;
    s->P = n->dims[2]; s->Q = n->dims[3];
}

static alig_ad_node *pool_new(alig_ad_graph *G, alig_op op, alig_ad_node *x, const alig_ad_pool_opts *opts)
{
    alig_ad_node *ins[1] = { x };
    const char *name = alig_ad_op_name(op);
    char sx[64];
    if (!alig_ad_check_args(G, name, 1, ins)) return NULL;
    if (!opts) return alig_ad_fail(G, ALIG_EINVAL, name, "options (window size) required");
    alig_ad_pool_opts o = *opts;
    if (o.kh < 1 || o.kw < 1) return alig_ad_fail(G, ALIG_EINVAL, name, "window %dx%d must be at least 1x1", o.kh, o.kw);
    if (o.stride_h == 0) o.stride_h = o.kh;
    if (o.stride_w == 0) o.stride_w = o.kw;
    if (o.stride_h < 0 || o.stride_w < 0) return alig_ad_fail(G, ALIG_EINVAL, name, "negative stride");
    if (o.pad_h < 0 || o.pad_w < 0 || o.pad_h > o.kh / 2 || o.pad_w > o.kw / 2)
        return alig_ad_fail(G, ALIG_EINVAL, name, "padding %d,%d must lie in [0, window/2]", o.pad_h, o.pad_w);
    if (x->ndim != 4)
        return alig_ad_fail(G, ALIG_EBADLEN, name, "need x (N,C,H,W), got %s", alig_ad_shape_str(x, sx, sizeof sx));
    const int P = alig_nk_out_len(x->dims[2], o.kh, o.stride_h, o.pad_h);
    const int Q = alig_nk_out_len(x->dims[3], o.kw, o.stride_w, o.pad_w);
    if (!P || !Q)
        return alig_ad_fail(G, ALIG_EBADLEN, name, "window %dx%d larger than padded input %s", o.kh, o.kw,
                            alig_ad_shape_str(x, sx, sizeof sx));
    alig_ad_node *n = alig_ad_new_node(G, op, 4, (int[]){ x->dims[0], x->dims[1], P, Q }, 1, ins);
    if (!n) return NULL;
    n->aux.pool = o;
    if (op == ALIG_OP_MAXPOOL2D) n->work_bytes = n->size * sizeof(int32_t);
    return n;
}

alig_ad_node *alig_ad_maxpool2d(alig_ad_graph *G, alig_ad_node *x, const alig_ad_pool_opts *opts)
{
    return pool_new(G, ALIG_OP_MAXPOOL2D, x, opts);
}

alig_ad_node *alig_ad_avgpool2d(alig_ad_graph *G, alig_ad_node *x, const alig_ad_pool_opts *opts)
{
    return pool_new(G, ALIG_OP_AVGPOOL2D, x, opts);
}

static alig_status maxpool_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_pool s;
    pool_shape(n, &s);
    alig_nk_maxpool_forward(&s, n->in[0]->value, n->value, n->work);
    return ALIG_SUCCESS;
}

static void maxpool_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    alig_nk_pool s;
    pool_shape(n, &s);
    alig_ad_node *x = n->in[0];
    if (x->grad) alig_nk_maxpool_backward_set(&s, n->grad, n->work, x->grad, alig_ad_grad_claim(G, x));
}

const alig_ad_opdef alig_ad_def_maxpool2d = { "maxpool2d", maxpool_forward, maxpool_backward, 1u, ALIG_AD_BWD_KNOWN };

static alig_status avgpool_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_pool s;
    pool_shape(n, &s);
    alig_nk_avgpool_forward(&s, n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void avgpool_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_pool s;
    pool_shape(n, &s);
    if (n->in[0]->grad) alig_nk_avgpool_backward(&s, n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_avgpool2d = { "avgpool2d", avgpool_forward, avgpool_backward, 0, ALIG_AD_BWD_KNOWN };

/* ---------------------------------------------------------------- global average pooling */

alig_ad_node *alig_ad_global_avgpool(alig_ad_graph *G, alig_ad_node *x)
{
    alig_ad_node *ins[1] = { x };
    char sx[64];
    if (!alig_ad_check_args(G, "global_avgpool", 1, ins)) return NULL;
    if (x->ndim != 4)
        return alig_ad_fail(G, ALIG_EBADLEN, "global_avgpool", "need x (N,C,H,W), got %s",
                            alig_ad_shape_str(x, sx, sizeof sx));
    return alig_ad_new_node(G, ALIG_OP_GLOBAL_AVGPOOL, 2, x->dims, 1, ins);
}

static alig_status gap_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_nk_plane_mean_forward(n->size, alig_ad_inner(n->in[0], 2), n->in[0]->value, n->value);
    return ALIG_SUCCESS;
}

static void gap_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    if (n->in[0]->grad) alig_nk_plane_mean_backward(n->size, alig_ad_inner(n->in[0], 2), n->grad, n->in[0]->grad);
}

const alig_ad_opdef alig_ad_def_global_avgpool = { "global_avgpool", gap_forward, gap_backward, 0,
                                     ALIG_AD_BWD_KNOWN };
