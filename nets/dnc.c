/* dnc.c - the Differentiable Neural Computer as a composition of autodiff ops, unrolled over time.
 *
 * The model follows deepmind/dnc (dnc.py, access.py, addressing.py; Graves et al. 2016) as used by
 * the ALI-G paper's repeat-copy experiment: a Sonnet-v1 LSTM controller, one write head, R read
 * heads, the interface read off the clipped controller output by ten separate linear layers, and an
 * output layer on [h̄; r_t]. Each sequence length T gets its own graph (built on first use) over
 * one parameter arena; the per-step memory arithmetic lives in the DNC ops (ops_dnc_addr.c,
 * ops_dnc_mem.c), everything else is the generic vocabulary (matmul, bias_add, slice, sigmoid,
 * tanh, mul, add, clip, softmax).
 *
 * Flat parameter order, the reference's variable-creation order (and the PyTorch peer's):
 *   lstm/w [X+R·W+H, 4H], lstm/b [4H],
 *   write_vectors, erase_vectors, free_gate, allocation_gate, write_gate, read_mode, write_keys,
 *   write_strengths, read_keys, read_strengths: each w [H, width], b [width],
 *   output/w [H+R·W, Y], output/b [Y]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "alig/dnc.h"

enum {
    IF_WRITE_VEC = 0, IF_ERASE, IF_FREE, IF_ALLOC_GATE, IF_WRITE_GATE, IF_READ_MODE, IF_WRITE_KEY,
    IF_WRITE_STRENGTH, IF_READ_KEY, IF_READ_STRENGTH, IF_COUNT
};

#define DNC_MAX_SIZE 4096   /* any one size */
#define DNC_MAX_T 100000

/* One unrolled graph for sequences of length T. */
typedef struct dnc_graph {
    alig_ad_graph *G;
    alig_ad_node **obs, **targ, **mask, **y;    /* T each */
    alig_ad_node **zeros;                       /* zero-state inputs, filled once after compile */
    int n_zeros;
    alig_ad_node *loss;
} dnc_graph;

struct alig_dnc {
    alig_dnc_config cfg;
    alig_ad_params *P;
    int lstm_w, lstm_b, if_w[IF_COUNT], if_b[IF_COUNT], out_w, out_b;
    int if_width[IF_COUNT];
    dnc_graph *graphs;      /* index T, 0..max_T */
    int last_T;             /* graph of the last pass, 0 = none */
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

/* ====================================================================== model construction */

/* y = x·W + b for interface / output layer k */
static alig_ad_node *linear(alig_ad_graph *G, alig_ad_node *x, int w, int b)
{
    return alig_ad_bias_add(G, alig_ad_matmul(G, x, alig_ad_param(G, w), 0, 0), alig_ad_param(G, b));
}

static alig_ad_node *zero_input(dnc_graph *g, int ndim, const int *dims)
{
    alig_ad_node *z = alig_ad_input(g->G, ndim, dims);
    if (z) g->zeros[g->n_zeros++] = z;
    return z;
}

/* Build the graph for length T. Returns ALIG_SUCCESS or the graph's status (message in err). */
static alig_status build_graph(alig_dnc *m, int T, dnc_graph *g, char *err, size_t errlen)
{
    const alig_dnc_config *c = &m->cfg;
    const int B = c->batch, X = c->in_dim, Y = c->out_dim, H = c->hidden, N = c->mem_slots, W = c->word,
              R = c->read_heads;
    const double clip = c->clip;
    alig_status rc = alig_ad_graph_alloc(&g->G, m->P, 0);
    if (rc) return rc;
    g->obs = calloc((size_t)T * 4, sizeof *g->obs);
    g->zeros = calloc(16, sizeof *g->zeros);
    if (!g->obs || !g->zeros) return ALIG_ENOMEM;
    g->targ = g->obs + T;
    g->mask = g->obs + 2 * (size_t)T;
    g->y = g->obs + 3 * (size_t)T;
    alig_ad_graph *G = g->G;

    /* the zero state of every sequence (no gradient: nothing before t = 0 is trainable) */
    alig_ad_node *r_prev = zero_input(g, 2, (int[]){ B, R * W });
    alig_ad_node *h_prev = zero_input(g, 2, (int[]){ B, H });
    alig_ad_node *state = NULL;                                    /* [h, c] of the LSTM; NULL: c_{−1} = 0 */
    alig_ad_node *M_prev = zero_input(g, 3, (int[]){ B, N, W });
    alig_ad_node *u_prev = zero_input(g, 2, (int[]){ B, N });
    alig_ad_node *ww_prev = u_prev;                                /* also zero, same shape */
    alig_ad_node *p_prev = u_prev;
    alig_ad_node *wr_prev = zero_input(g, 3, (int[]){ B, R, N });
    alig_ad_node *L_prev = zero_input(g, 3, (int[]){ B, N, N });
    alig_ad_node *loss = NULL;

    /* The ten interface layers as one (H, 135) weight and one bias, concatenated once per graph in
     * the table's column order, so each step runs one matrix product instead of ten; the concat's
     * backward hands each layer its columns of the gradient summed over time. */
    alig_ad_node *wcols[IF_COUNT], *bcols[IF_COUNT];
    int off[IF_COUNT + 1];
    off[0] = 0;
    for (int k = 0; k < IF_COUNT; k++) {
        wcols[k] = alig_ad_param(G, m->if_w[k]);
        bcols[k] = alig_ad_reshape(G, alig_ad_param(G, m->if_b[k]), 2, (int[]){ 1, m->if_width[k] });
        off[k + 1] = off[k] + m->if_width[k];
    }
    const int half = IF_COUNT / 2;
    alig_ad_node *W_if = alig_ad_concat(G, 2, (alig_ad_node *[]){ alig_ad_concat(G, half, wcols),
                                                                  alig_ad_concat(G, IF_COUNT - half, wcols + half) });
    alig_ad_node *b_if = alig_ad_reshape(
        G, alig_ad_concat(G, 2, (alig_ad_node *[]){ alig_ad_concat(G, half, bcols),
                                                    alig_ad_concat(G, IF_COUNT - half, bcols + half) }),
        1, (int[]){ off[IF_COUNT] });

    for (int t = 0; t < T; t++) {
        alig_ad_node *x = g->obs[t] = alig_ad_input(G, 2, (int[]){ B, X });
        g->targ[t] = alig_ad_input(G, 2, (int[]){ B, Y });
        g->mask[t] = alig_ad_input(G, 1, (int[]){ B });

        /* controller: z = [x; r_{t-1}; h_{t-1}]·W + b, gates (i, j, f, o); the fused cell returns
         * [h, c], and the DNC clips both (the output h̄ and the carried state) */
        alig_ad_node *z = linear(G, alig_ad_concat(G, 3, (alig_ad_node *[]){ x, r_prev, h_prev }), m->lstm_w,
                                 m->lstm_b);
        state = alig_ad_clip(G, alig_ad_lstm_cell(G, z, state, 1.0), -clip, clip);
        alig_ad_node *hbar = alig_ad_slice(G, state, 0, H);

        /* interface: xi (B, 135), then each layer's columns; erase, free, allocation and write gates
         * are adjacent and share one sigmoid */
        alig_ad_node *xi = alig_ad_bias_add(G, alig_ad_matmul(G, hbar, W_if, 0, 0), b_if);
        alig_ad_node *iface[IF_COUNT];
        for (int k = 0; k < IF_COUNT; k++)
            if (k < IF_ERASE || k > IF_WRITE_GATE) iface[k] = alig_ad_slice(G, xi, off[k], m->if_width[k]);
        alig_ad_node *gates = alig_ad_sigmoid(G, alig_ad_slice(G, xi, off[IF_ERASE], off[IF_READ_MODE] - off[IF_ERASE]));
        alig_ad_node *v = iface[IF_WRITE_VEC];                                   /* (B, W) */
        alig_ad_node *e = alig_ad_slice(G, gates, 0, W);                         /* (B, W) */
        alig_ad_node *fg = alig_ad_slice(G, gates, W, R);                        /* (B, R) */
        alig_ad_node *ga = alig_ad_slice(G, gates, W + R, 1);                    /* (B, 1) */
        alig_ad_node *gw = alig_ad_slice(G, gates, W + R + 1, 1);                /* (B, 1) */
        alig_ad_node *modes = alig_ad_reshape(
            G, alig_ad_softmax(G, alig_ad_reshape(G, iface[IF_READ_MODE], 2, (int[]){ B * R, 3 })), 3,
            (int[]){ B, R, 3 });
        alig_ad_node *kw = alig_ad_reshape(G, iface[IF_WRITE_KEY], 3, (int[]){ B, 1, W });
        alig_ad_node *bw = iface[IF_WRITE_STRENGTH];                             /* (B, 1) raw */
        alig_ad_node *kr = alig_ad_reshape(G, iface[IF_READ_KEY], 3, (int[]){ B, R, W });
        alig_ad_node *br = iface[IF_READ_STRENGTH];                              /* (B, R) raw */

        /* memory: usage, write weights, erase-then-add, link, precedence, reads */
        alig_ad_node *u = alig_ad_dnc_usage(G, u_prev, ww_prev, fg, wr_prev, !c->full_gradient);
        alig_ad_node *cw = alig_ad_reshape(G, alig_ad_dnc_content(G, kw, bw, M_prev), 2, (int[]){ B, N });
        alig_ad_node *a = alig_ad_dnc_allocation(G, u);
        alig_ad_node *ww = alig_ad_dnc_write_weights(G, a, cw, ga, gw);
        alig_ad_node *M = alig_ad_dnc_memory(G, M_prev, ww, e, v);
        alig_ad_node *L = alig_ad_dnc_link(G, L_prev, ww, p_prev);
        alig_ad_node *p = alig_ad_dnc_precedence(G, p_prev, ww);
        alig_ad_node *cr = alig_ad_dnc_content(G, kr, br, M);
        alig_ad_node *wr = alig_ad_dnc_read_weights(G, L, wr_prev, modes, cr);
        alig_ad_node *r = alig_ad_reshape(G, alig_ad_bmm(G, wr, M), 2, (int[]){ B, R * W });

        /* output and loss */
        alig_ad_node *y = alig_ad_clip(G, linear(G, alig_ad_concat(G, 2, (alig_ad_node *[]){ hbar, r }), m->out_w,
                                                 m->out_b),
                                       -clip, clip);
        g->y[t] = y;
        alig_ad_node *lt = alig_ad_sigmoid_ce_masked(G, y, g->targ[t], g->mask[t], 1.0 / B);
        loss = loss ? alig_ad_add(G, loss, lt) : lt;

        r_prev = r;
        h_prev = hbar;
        M_prev = M;
        u_prev = u;
        ww_prev = ww;
        p_prev = p;
        wr_prev = wr;
        L_prev = L;
    }
    g->loss = loss;
    rc = alig_ad_graph_compile(G);
    if (rc) {
        set_err(err, errlen, alig_ad_graph_error(G));
        return rc;
    }
    for (int i = 0; i < g->n_zeros; i++) memset(g->zeros[i]->value, 0, g->zeros[i]->size * sizeof(float));
    return ALIG_SUCCESS;
}

static void graph_free(dnc_graph *g)
{
    alig_ad_graph_free(g->G);
    free(g->obs);
    free(g->zeros);
    memset(g, 0, sizeof *g);
}

static alig_status declare(alig_dnc *m, int fan_in, int width, int *w, int *b)
{
    alig_status rc = alig_ad_params_add(m->P, 2, (int[]){ fan_in, width }, w);
    if (!rc) rc = alig_ad_params_add(m->P, 1, (int[]){ width }, b);
    return rc;
}

alig_status alig_dnc_alloc(alig_dnc **out, const alig_dnc_config *cfg, char *err, size_t errlen)
{
    set_err(err, errlen, "");
    if (!out) return ALIG_EINVAL;
    *out = NULL;
    alig_dnc_config c = cfg ? *cfg : (alig_dnc_config){ 0 };
    if (!c.batch) c.batch = 16;
    if (!c.in_dim) c.in_dim = 6;
    if (!c.out_dim) c.out_dim = 5;
    if (!c.hidden) c.hidden = 64;
    if (!c.mem_slots) c.mem_slots = 16;
    if (!c.word) c.word = 16;
    if (!c.read_heads) c.read_heads = 4;
    if (!c.max_T) c.max_T = 64;
    if (c.clip == 0.0) c.clip = 20.0;
    const int sizes[] = { c.batch, c.in_dim, c.out_dim, c.hidden, c.mem_slots, c.word, c.read_heads };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] < 1 || sizes[i] > DNC_MAX_SIZE) {
            set_err(err, errlen, "dnc: every size must lie in [1, 4096]");
            return ALIG_EBADLEN;
        }
    if (c.max_T < 1 || c.max_T > DNC_MAX_T) {
        set_err(err, errlen, "dnc: max_T must lie in [1, 100000]");
        return ALIG_EBADLEN;
    }
    if (!(c.clip > 0.0)) {
        set_err(err, errlen, "dnc: clip must be > 0");
        return ALIG_EBADLEN;
    }
    if (c.full_gradient != 0 && c.full_gradient != 1) {
        set_err(err, errlen, "dnc: full_gradient must be 0 or 1");
        return ALIG_EINVAL;
    }

    alig_dnc *m = calloc(1, sizeof *m);
    if (!m) return ALIG_ENOMEM;
    m->cfg = c;
    const int R = c.read_heads, W = c.word, H = c.hidden;
    const int width[IF_COUNT] = { W, W, R, 1, 1, 3 * R, W, 1, R * W, R };
    memcpy(m->if_width, width, sizeof width);
    alig_status rc = ALIG_ENOMEM;
    m->graphs = calloc((size_t)c.max_T + 1, sizeof *m->graphs);
    if (!m->graphs) goto fail;
    rc = alig_ad_params_alloc(&m->P);
    if (!rc) rc = declare(m, c.in_dim + R * W + H, 4 * H, &m->lstm_w, &m->lstm_b);
    for (int k = 0; k < IF_COUNT && !rc; k++) rc = declare(m, H, width[k], &m->if_w[k], &m->if_b[k]);
    if (!rc) rc = declare(m, H + R * W, c.out_dim, &m->out_w, &m->out_b);
    if (!rc) rc = alig_ad_params_seal(m->P);
    if (rc) goto fail;
    *out = m;
    return ALIG_SUCCESS;
fail:
    set_err(err, errlen, alig_strerror(rc));
    alig_dnc_free(m);
    return rc;
}

void alig_dnc_free(alig_dnc *m)
{
    if (!m) return;
    if (m->graphs)
        for (int T = 0; T <= m->cfg.max_T; T++) graph_free(&m->graphs[T]);
    free(m->graphs);
    alig_ad_params_free(m->P);
    free(m);
}

const alig_dnc_config *alig_dnc_get_config(const alig_dnc *m) { return m ? &m->cfg : NULL; }
size_t alig_dnc_n(const alig_dnc *m) { return m ? alig_ad_params_n(m->P) : 0; }
float *alig_dnc_x(alig_dnc *m) { return m ? alig_ad_params_x(m->P) : NULL; }
float *alig_dnc_g(alig_dnc *m) { return m ? alig_ad_params_g(m->P) : NULL; }
alig_ad_params *alig_dnc_params(alig_dnc *m) { return m ? m->P : NULL; }

/* ====================================================================== initialisation */

/* N(0, σ²) truncated at ±2σ by redrawing (TensorFlow's truncated_normal_initializer). */
static void truncated_normal(gsl_rng *r, float *x, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++) {
        double z;
        do z = gsl_ran_gaussian_ziggurat(r, 1.0);
        while (fabs(z) > 2.0);
        x[i] = (float)(z * sigma);
    }
}

alig_status alig_dnc_init(alig_dnc *m, uint64_t seed)
{
    if (!m) return ALIG_EINVAL;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return ALIG_ENOMEM;
    gsl_rng_set(r, (unsigned long)seed);
    for (int id = 0; id < alig_ad_params_count(m->P); id++) {
        int ndim, dims[ALIG_AD_MAX_DIM];
        size_t n = alig_ad_params_shape(m->P, id, &ndim, dims);
        float *v = alig_ad_params_value(m->P, id);
        const int is_lstm = id == m->lstm_w || id == m->lstm_b;
        if (is_lstm) {
            /* Sonnet's LSTM initialises weight and bias alike, fan-in = input + hidden */
            const int fan = m->cfg.in_dim + m->cfg.read_heads * m->cfg.word + m->cfg.hidden;
            truncated_normal(r, v, n, 1.0 / sqrt((double)fan));
        } else if (ndim == 2) {
            truncated_normal(r, v, n, 1.0 / sqrt((double)dims[0]));
        } else {
            memset(v, 0, n * sizeof *v);    /* snt.Linear biases start at 0 */
        }
    }
    gsl_rng_free(r);
    return ALIG_SUCCESS;
}

/* ====================================================================== passes */

alig_ad_graph *alig_dnc_graph(alig_dnc *m, int T, alig_ad_node **loss)
{
    if (!m || T < 1 || T > m->cfg.max_T) return NULL;
    dnc_graph *g = &m->graphs[T];
    if (!g->G && build_graph(m, T, g, NULL, 0)) {
        graph_free(g);
        return NULL;
    }
    if (loss) *loss = g->loss;
    return g->G;
}

static alig_status run(alig_dnc *m, int T, const float *obs, const float *targ, const float *mask, double *loss,
                       int backward)
{
    if (!m || !obs || !targ || !loss) return ALIG_EINVAL;
    if (T < 1 || T > m->cfg.max_T) return ALIG_EBADLEN;
    dnc_graph *g = &m->graphs[T];
    if (!g->G) {
        alig_status rc = build_graph(m, T, g, NULL, 0);
        if (rc) {
            graph_free(g);
            return rc;
        }
    }
    const size_t B = (size_t)m->cfg.batch, X = (size_t)m->cfg.in_dim, Y = (size_t)m->cfg.out_dim;
    for (int t = 0; t < T; t++) {
        memcpy(g->obs[t]->value, obs + (size_t)t * B * X, B * X * sizeof(float));
        memcpy(g->targ[t]->value, targ + (size_t)t * B * Y, B * Y * sizeof(float));
        if (mask)
            memcpy(g->mask[t]->value, mask + (size_t)t * B, B * sizeof(float));
        else
            for (size_t b = 0; b < B; b++) g->mask[t]->value[b] = 1.0f;
    }
    alig_status rc = alig_ad_forward(g->G, 1);
    if (!rc && backward) rc = alig_ad_backward(g->G, g->loss);
    if (rc) return rc;
    m->last_T = T;
    *loss = alig_ad_scalar(g->loss);
    return ALIG_SUCCESS;
}

alig_status alig_dnc_gradient(alig_dnc *m, int T, const float *obs, const float *targ, const float *mask,
                              double *loss)
{
    return run(m, T, obs, targ, mask, loss, 1);
}

alig_status alig_dnc_loss(alig_dnc *m, int T, const float *obs, const float *targ, const float *mask, double *loss)
{
    return run(m, T, obs, targ, mask, loss, 0);
}

alig_status alig_dnc_logits(const alig_dnc *m, float *out)
{
    if (!m || !out || !m->last_T) return ALIG_EINVAL;
    const dnc_graph *g = &m->graphs[m->last_T];
    const size_t BY = (size_t)m->cfg.batch * (size_t)m->cfg.out_dim;
    for (int t = 0; t < m->last_T; t++) memcpy(out + (size_t)t * BY, g->y[t]->value, BY * sizeof(float));
    return ALIG_SUCCESS;
}
