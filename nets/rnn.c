/* rnn.c - recurrent layers composed from the ops of ad.h (include/alig/rnn.h): LSTM unrolled over
 * a time-major batch with per-sample masks, Bi-LSTM through per-sample reversal, max-pooling over
 * time, PyTorch / Sonnet initialisation and the PyTorch weight layout.
 *
 * Graph of one LSTM over T steps (B samples, X inputs, H units):
 *   P = reshape(x, (T·B, X))·W_x + b            one matmul for all steps, (T·B, 4H)
 *   F = reshape(P, (1, T·B·4H))                 so that step t is a slice along axis 1
 *   z_t = reshape(F[:, t·B·4H : (t+1)·B·4H], (B, 4H)) + h_{t−1}·W_h   (no matmul at t = 0)
 *   s'_t = cell(z_t, s_{t−1})                   [h', c'] (B, 2H): fused op or composition
 *   s_t = m_t ⊙ s'_t + m̄_t ⊙ s_{t−1}          (t >= 1; m̄ = 1 − m, both INPUTs of the context)
 *   h_t = s_t[:, :H]
 *   y = stack(h_0 … h_{T−1}) (T, B, H)          reshapes and a tree of concats (8 operands each)
 * With m in {0, 1} the masked sum is exact in float: s_t is s'_t or s_{t−1} bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "ad_impl.h"
#include "alig/rnn.h"

/* masks of one state width W: m[2t] = m_t, m[2t + 1] = 1 − m_t (t >= 1; t = 0 unused) */
typedef struct mask_set {
    int width;
    alig_ad_node **m;
} mask_set;

struct alig_rnn_seq {
    alig_ad_graph *G;
    int T, B;
    alig_ad_node *lengths;
    mask_set *masks;
    int n_masks;
};

/* ====================================================================== parameters */

/* 1 if l's ids name tensors of P with the shapes an LSTM of (X, H) declares */
static int lstm_ok(const alig_ad_params *P, const alig_rnn_lstm *l)
{
    if (!P || !l || l->in_dim < 1 || l->hidden < 1) return 0;
    const int X = l->in_dim, H = l->hidden;
    const int want[3][3] = { { 2, X, 4 * H }, { 2, H, 4 * H }, { 1, 4 * H, 0 } };
    const int ids[3] = { l->wx, l->wh, l->b };
    for (int k = 0; k < 3; k++) {
        int ndim, dims[ALIG_AD_MAX_DIM];
        if (alig_ad_params_trainable(P, ids[k]) != 1) return 0;
        alig_ad_params_shape(P, ids[k], &ndim, dims);
        if (ndim != want[k][0] || dims[0] != want[k][1] || (ndim == 2 && dims[1] != want[k][2])) return 0;
    }
    return 1;
}

alig_status alig_rnn_lstm_declare(alig_ad_params *P, int in_dim, int hidden, alig_rnn_lstm *l)
{
    if (!P || !l) return ALIG_EINVAL;
    memset(l, 0, sizeof *l);
    l->wx = l->wh = l->b = -1;
    if (in_dim < 1 || hidden < 1 || hidden > (1 << 28)) return ALIG_EBADLEN;
    alig_status rc = alig_ad_params_add(P, 2, (int[]){ in_dim, 4 * hidden }, &l->wx);
    if (!rc) rc = alig_ad_params_add(P, 2, (int[]){ hidden, 4 * hidden }, &l->wh);
    if (!rc) rc = alig_ad_params_add(P, 1, (int[]){ 4 * hidden }, &l->b);
    if (rc) return rc;
    l->in_dim = in_dim;
    l->hidden = hidden;
    return ALIG_SUCCESS;
}

/* N(0, σ²) truncated at ±2σ by redrawing (TensorFlow's truncated_normal_initializer) */
static void truncated_normal(gsl_rng *r, float *x, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++) {
        double z;
        do z = gsl_ran_gaussian_ziggurat(r, 1.0);
        while (fabs(z) > 2.0);
        x[i] = (float)(z * sigma);
    }
}

static void uniform(gsl_rng *r, float *x, size_t n, double k)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)gsl_ran_flat(r, -k, k);
}

alig_status alig_rnn_lstm_init(alig_ad_params *P, const alig_rnn_lstm *l, alig_rnn_init how, uint64_t seed)
{
    if (!lstm_ok(P, l) || !alig_ad_params_x(P)) return ALIG_EINVAL;
    if (how != ALIG_RNN_INIT_TORCH && how != ALIG_RNN_INIT_SONNET) return ALIG_EINVAL;
    const int X = l->in_dim, H = l->hidden;
    float *wx = alig_ad_params_value(P, l->wx), *wh = alig_ad_params_value(P, l->wh);
    float *b = alig_ad_params_value(P, l->b);
    const size_t nx = (size_t)X * 4 * H, nh = (size_t)H * 4 * H, nb = (size_t)4 * H;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return ALIG_ENOMEM;
    gsl_rng_set(r, (unsigned long)seed);
    if (how == ALIG_RNN_INIT_TORCH) {
        const double k = 1.0 / sqrt((double)H);
        uniform(r, wx, nx, k);
        uniform(r, wh, nh, k);
        for (size_t i = 0; i < nb; i++) {
            const double bi = gsl_ran_flat(r, -k, k), bh = gsl_ran_flat(r, -k, k);
            b[i] = (float)(bi + bh);
        }
    } else {
        const double s = 1.0 / sqrt((double)X + (double)H);
        truncated_normal(r, wx, nx, s);
        truncated_normal(r, wh, nh, s);
        truncated_normal(r, b, nb, s);
    }
    gsl_rng_free(r);
    return ALIG_SUCCESS;
}

/* PyTorch's gate q (i, f, g, o) sits at alig's block perm[q] (i, g, f, o); the map is an involution */
static const int perm[4] = { 0, 2, 1, 3 };

/* dst (K, 4H) alig layout from src (4H, K) PyTorch layout, or back (to_torch) */
static void relayout(int K, int H, const float *src, float *dst, int to_torch)
{
    for (int q = 0; q < 4; q++)
        for (int u = 0; u < H; u++)
            for (int k = 0; k < K; k++) {
                const size_t t = ((size_t)q * H + u) * K + k, a = (size_t)k * 4 * H + (size_t)perm[q] * H + u;
                if (to_torch) dst[t] = src[a];
                else dst[a] = src[t];
            }
}

alig_status alig_rnn_lstm_from_torch(alig_ad_params *P, const alig_rnn_lstm *l, const float *w_ih, const float *w_hh,
                                     const float *b_ih, const float *b_hh)
{
    if (!lstm_ok(P, l) || !alig_ad_params_x(P) || !w_ih || !w_hh) return ALIG_EINVAL;
    const int X = l->in_dim, H = l->hidden;
    relayout(X, H, w_ih, alig_ad_params_value(P, l->wx), 0);
    relayout(H, H, w_hh, alig_ad_params_value(P, l->wh), 0);
    float *b = alig_ad_params_value(P, l->b);
    for (int q = 0; q < 4; q++)
        for (int u = 0; u < H; u++) {
            const size_t t = (size_t)q * H + u;
            b[(size_t)perm[q] * H + u] = (float)((b_ih ? (double)b_ih[t] : 0.0) + (b_hh ? (double)b_hh[t] : 0.0));
        }
    return ALIG_SUCCESS;
}

alig_status alig_rnn_lstm_to_torch(const alig_ad_params *P, const alig_rnn_lstm *l, const float *flat, float *w_ih,
                                   float *w_hh, float *b)
{
    if (!lstm_ok(P, l) || !flat) return ALIG_EINVAL;
    const int X = l->in_dim, H = l->hidden;
    if (w_ih) relayout(X, H, flat + alig_ad_params_offset(P, l->wx), w_ih, 1);
    if (w_hh) relayout(H, H, flat + alig_ad_params_offset(P, l->wh), w_hh, 1);
    if (b) {
        const float *src = flat + alig_ad_params_offset(P, l->b);
        for (int q = 0; q < 4; q++)
            for (int u = 0; u < H; u++) b[(size_t)q * H + u] = src[(size_t)perm[q] * H + u];
    }
    return ALIG_SUCCESS;
}

/* ====================================================================== sequence context */

alig_status alig_rnn_seq_alloc(alig_rnn_seq **out, alig_ad_graph *G, int T, int B)
{
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    if (!G || G->compiled) return ALIG_EINVAL;
    if (G->status) return G->status;
    if (T < 1 || B < 1) return ALIG_EBADLEN;
    alig_rnn_seq *S = calloc(1, sizeof *S);
    if (!S) return ALIG_ENOMEM;
    S->G = G;
    S->T = T;
    S->B = B;
    S->lengths = alig_ad_input(G, 1, (int[]){ B });
    if (!S->lengths) {
        free(S);
        return G->status ? G->status : ALIG_ENOMEM;
    }
    *out = S;
    return ALIG_SUCCESS;
}

void alig_rnn_seq_free(alig_rnn_seq *S)
{
    if (!S) return;
    for (int i = 0; i < S->n_masks; i++) free(S->masks[i].m);
    free(S->masks);
    free(S);
}

alig_ad_node *alig_rnn_seq_lengths(const alig_rnn_seq *S) { return S ? S->lengths : NULL; }

alig_status alig_rnn_seq_set_lengths(alig_rnn_seq *S, const int *len)
{
    if (!S || !len || !S->G->compiled || !S->lengths->value) return ALIG_EINVAL;
    for (int b = 0; b < S->B; b++)
        if (len[b] < 1 || len[b] > S->T) return ALIG_EINVAL;
    for (int b = 0; b < S->B; b++) S->lengths->value[b] = (float)len[b];
    for (int i = 0; i < S->n_masks; i++) {
        const int W = S->masks[i].width;
        for (int t = 1; t < S->T; t++) {
            float *m = S->masks[i].m[2 * t]->value, *mbar = S->masks[i].m[2 * t + 1]->value;
            for (int b = 0; b < S->B; b++) {
                const float on = t < len[b] ? 1.0f : 0.0f;
                for (int k = 0; k < W; k++) {
                    m[(size_t)b * W + k] = on;
                    mbar[(size_t)b * W + k] = 1.0f - on;
                }
            }
        }
    }
    return ALIG_SUCCESS;
}

/* the mask pairs of state width W, created on first use (NULL: graph status set) */
static alig_ad_node **masks_of(alig_rnn_seq *S, int W)
{
    for (int i = 0; i < S->n_masks; i++)
        if (S->masks[i].width == W) return S->masks[i].m;
    mask_set *ms = realloc(S->masks, (size_t)(S->n_masks + 1) * sizeof *ms);
    if (!ms) return alig_ad_fail(S->G, ALIG_ENOMEM, "rnn", "out of memory"), NULL;
    S->masks = ms;
    alig_ad_node **m = calloc(2 * (size_t)S->T, sizeof *m);
    if (!m) return alig_ad_fail(S->G, ALIG_ENOMEM, "rnn", "out of memory"), NULL;
    for (int t = 1; t < S->T; t++)
        for (int k = 0; k < 2; k++)
            if (!(m[2 * t + k] = alig_ad_input(S->G, 2, (int[]){ S->B, W }))) {
                free(m);
                return NULL;
            }
    ms[S->n_masks].width = W;
    ms[S->n_masks].m = m;
    S->n_masks++;
    return m;
}

/* ====================================================================== layers */

/* (B, D) nodes h[0..T−1] -> (T, B, D) */
static alig_ad_node *stack(alig_ad_graph *G, int T, int B, int D, alig_ad_node **h)
{
    const int flat = B * D;
    alig_ad_node **lv = malloc((size_t)T * sizeof *lv);
    if (!lv) return alig_ad_fail(G, ALIG_ENOMEM, "rnn", "out of memory");
    int n = T;
    for (int t = 0; t < T; t++) lv[t] = alig_ad_reshape(G, h[t], 2, (int[]){ 1, flat });
    while (n > 1) {                                 /* concat groups of up to ALIG_AD_MAX_IN */
        int m = 0;
        for (int i = 0; i < n; i += ALIG_AD_MAX_IN) {
            const int k = n - i < ALIG_AD_MAX_IN ? n - i : ALIG_AD_MAX_IN;
            lv[m++] = k == 1 ? lv[i] : alig_ad_concat(G, k, lv + i);
        }
        n = m;
    }
    alig_ad_node *y = alig_ad_reshape(G, lv[0], 3, (int[]){ T, B, D });
    free(lv);
    return y;
}

/* the cell from ops; same float operations as alig_ad_lstm_cell (tests/test_lstm_cell.c) */
static alig_ad_node *cell_composed(alig_ad_graph *G, alig_ad_node *z, alig_ad_node *s_prev, int H, double fb)
{
    alig_ad_node *i = alig_ad_sigmoid(G, alig_ad_slice(G, z, 0, H));
    alig_ad_node *g = alig_ad_tanh(G, alig_ad_slice(G, z, H, H));
    alig_ad_node *zf = alig_ad_slice(G, z, 2 * H, H);
    alig_ad_node *f = alig_ad_sigmoid(G, fb != 0.0 ? alig_ad_affine(G, zf, 1.0, fb) : zf);
    alig_ad_node *o = alig_ad_sigmoid(G, alig_ad_slice(G, z, 3 * H, H));
    alig_ad_node *c = alig_ad_mul(G, i, g);
    if (s_prev) c = alig_ad_add(G, alig_ad_mul(G, f, alig_ad_slice(G, s_prev, H, H)), c);
    alig_ad_node *h = alig_ad_mul(G, alig_ad_tanh(G, c), o);
    return alig_ad_concat(G, 2, (alig_ad_node *[]){ h, c });
}

alig_ad_node *alig_rnn_lstm_layer(alig_rnn_seq *S, const alig_rnn_lstm *l, alig_ad_node *x,
                                  const alig_rnn_lstm_opts *opts, alig_ad_node **final_state)
{
    static const char *name = "rnn_lstm";
    if (final_state) *final_state = NULL;
    if (!S) return NULL;
    alig_ad_graph *G = S->G;
    if (!alig_ad_check_args(G, name, 1, (alig_ad_node *[]){ x })) return NULL;
    if (!l) return alig_ad_fail(G, ALIG_EINVAL, name, "no LSTM given");
    if (!lstm_ok(G->P, l))
        return alig_ad_fail(G, ALIG_EINVAL, name, "the LSTM's tensors are not in this graph's arena");
    const alig_rnn_lstm_opts o = opts ? *opts : (alig_rnn_lstm_opts){ 0 };
    if (!isfinite(o.forget_bias)) return alig_ad_fail(G, ALIG_EINVAL, name, "forget bias must be finite");
    const int T = S->T, B = S->B, X = l->in_dim, H = l->hidden;
    char sx[64];
    if (x->ndim != 3 || x->dims[0] != T || x->dims[1] != B || x->dims[2] != X)
        return alig_ad_fail(G, ALIG_EBADLEN, name, "input must be (T,B,X) = (%d,%d,%d), got %s", T, B, X,
                            alig_ad_shape_str(x, sx, sizeof sx));
    const size_t step = (size_t)B * 4 * H;
    if ((size_t)T * step > (size_t)1 << 30) return alig_ad_fail(G, ALIG_EBADLEN, name, "T·B·4H above 2^30");
    alig_ad_node **h = malloc((size_t)T * sizeof *h);
    if (!h) return alig_ad_fail(G, ALIG_ENOMEM, name, "out of memory");
    alig_ad_node *Wh = alig_ad_param(G, l->wh);
    alig_ad_node *proj = alig_ad_bias_add(
        G, alig_ad_matmul(G, alig_ad_reshape(G, x, 2, (int[]){ T * B, X }), alig_ad_param(G, l->wx), 0, 0),
        alig_ad_param(G, l->b));
    alig_ad_node *flat = alig_ad_reshape(G, proj, 2, (int[]){ 1, (int)((size_t)T * step) });
    alig_ad_node **m = T > 1 ? masks_of(S, 2 * H) : NULL;
    alig_ad_node *s = NULL, *y = NULL;
    if (T > 1 && !m) goto done;
    for (int t = 0; t < T; t++) {
        alig_ad_node *z = alig_ad_reshape(G, alig_ad_slice(G, flat, (int)((size_t)t * step), (int)step), 2,
                                          (int[]){ B, 4 * H });
        if (t > 0) z = alig_ad_add(G, z, alig_ad_matmul(G, h[t - 1], Wh, 0, 0));
        alig_ad_node *sn = o.fused ? alig_ad_lstm_cell(G, z, s, o.forget_bias)
                                   : cell_composed(G, z, s, H, o.forget_bias);
        s = t == 0 ? sn : alig_ad_add(G, alig_ad_mul(G, m[2 * t], sn), alig_ad_mul(G, m[2 * t + 1], s));
        h[t] = alig_ad_slice(G, s, 0, H);
        if (G->status) goto done;
    }
    y = stack(G, T, B, H, h);
    if (y && final_state) *final_state = s;
done:
    free(h);
    return y;
}

/* (T,B,Da), (T,B,Db) -> (T,B,Da+Db) */
static alig_ad_node *concat_features(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b)
{
    if (!a || !b) return NULL;
    const int T = a->dims[0], B = a->dims[1];
    alig_ad_node *c = alig_ad_concat(G, 2, (alig_ad_node *[]){ alig_ad_reshape(G, a, 2, (int[]){ T * B, a->dims[2] }),
                                                              alig_ad_reshape(G, b, 2, (int[]){ T * B, b->dims[2] }) });
    return c ? alig_ad_reshape(G, c, 3, (int[]){ T, B, a->dims[2] + b->dims[2] }) : NULL;
}

alig_ad_node *alig_rnn_bilstm(alig_rnn_seq *S, const alig_rnn_lstm *fw, const alig_rnn_lstm *bw, alig_ad_node *x,
                              const alig_rnn_lstm_opts *opts)
{
    if (!S) return NULL;
    alig_ad_graph *G = S->G;
    if (!alig_ad_check_args(G, "rnn_bilstm", 1, (alig_ad_node *[]){ x })) return NULL;
    if (!fw || !bw) return alig_ad_fail(G, ALIG_EINVAL, "rnn_bilstm", "no LSTM given");
    if (fw->in_dim != bw->in_dim)
        return alig_ad_fail(G, ALIG_EBADLEN, "rnn_bilstm", "the two LSTMs read %d and %d inputs", fw->in_dim,
                            bw->in_dim);
    alig_ad_node *yf = alig_rnn_lstm_layer(S, fw, x, opts, NULL);
    alig_ad_node *yr = alig_rnn_lstm_layer(S, bw, alig_ad_seq_reverse(G, x, S->lengths), opts, NULL);
    return concat_features(G, yf, alig_ad_seq_reverse(G, yr, S->lengths));
}

alig_ad_node *alig_rnn_maxpool(alig_rnn_seq *S, alig_ad_node *seq)
{
    if (!S) return NULL;
    char ss[64];
    if (seq && seq->ndim == 3 && (seq->dims[0] != S->T || seq->dims[1] != S->B))
        return alig_ad_fail(S->G, ALIG_EBADLEN, "rnn_maxpool", "sequence must be (T,B,D) with T = %d, B = %d, got %s",
                            S->T, S->B, alig_ad_shape_str(seq, ss, sizeof ss));
    return alig_ad_seq_maxpool(S->G, seq, S->lengths);
}

alig_ad_node *alig_rnn_bilstm_max(alig_rnn_seq *S, const alig_rnn_lstm *fw, const alig_rnn_lstm *bw, alig_ad_node *x,
                                  const alig_rnn_lstm_opts *opts)
{
    return alig_rnn_maxpool(S, alig_rnn_bilstm(S, fw, bw, x, opts));
}
