/* lstm_check.c - alig's Bi-LSTM + max-pooling encoder (include/alig/rnn.h) driven on a case file,
 * so that PyTorch's nn.LSTM (bench/lstm_vs_torch.py) can be compared with it on the same numbers.
 *
 * Usage: lstm_check CASE OUT [fused]
 * CASE (little-endian, row-major, written by lstm_vs_torch.py):
 *   int32 T, B, X, H;
 *   float32, in PyTorch's layout and gate order (i, f, g, o), forward direction then reverse:
 *     weight_ih (4H,X), weight_hh (4H,H), bias_ih (4H), bias_hh (4H)   [× 2 directions]
 *   float32 x (T,B,X), lengths (B), r (B,2H), r2 (T,B,2H).
 * The loss is L = Σ r ⊙ maxpool_t(y) + Σ r2 ⊙ y with y (T,B,2H) the Bi-LSTM's output (r2 is 0 at
 * padded steps, where PyTorch's padded output is 0 and alig's holds the frozen state).
 * OUT (float64): L, y (T,B,2H), pooled (B,2H), then the gradient of L in PyTorch's layout:
 *   per direction d(weight_ih) (4H,X), d(weight_hh) (4H,H), d(bias) (4H) (= d bias_ih = d bias_hh),
 *   then dx (T,B,X).
 * `fused` builds the cell with alig_ad_lstm_cell instead of the composition. Prints one line
 * "RESULT {json}" with the loss and the graph's node count.
 *
 * Usage: lstm_check speed T B X H REPS [fused]
 * Seconds per training pass (forward + backward of the same encoder and loss) on random data
 * (PyTorch initialisation, seed 1; lengths drawn in [T/2, T], one of them T), the median of REPS
 * passes after 2 warm-up passes, and the graph's memory (activation values, gradients and
 * workspaces, in MiB). Prints "RESULT {json}". OMP_NUM_THREADS sets the threads. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/ad.h"
#include "alig/rnn.h"
#include "bench_util.h"

static int die(const char *msg, const char *arg)
{
    fprintf(stderr, "lstm_check: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 1;
}

static int rd(FILE *f, float *p, size_t n) { return fread(p, sizeof *p, n, f) == n; }

static int wr(FILE *f, const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const double v = p[i];
        if (fwrite(&v, sizeof v, 1, f) != 1) return 0;
    }
    return 1;
}

/* the encoder, its loss and the sequence context in a fresh arena */
typedef struct model {
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_rnn_seq *S;
    alig_rnn_lstm fw, bw;
    int xid;
    alig_ad_node *y, *pooled, *rn, *r2n, *loss;
} model;

static int model_build(model *m, int T, int B, int X, int H, int fused)
{
    memset(m, 0, sizeof *m);
    if (alig_ad_params_alloc(&m->P) || alig_ad_params_add(m->P, 3, (int[]){ T, B, X }, &m->xid) ||
        alig_rnn_lstm_declare(m->P, X, H, &m->fw) || alig_rnn_lstm_declare(m->P, X, H, &m->bw) ||
        alig_ad_graph_alloc(&m->G, m->P, 0) || alig_rnn_seq_alloc(&m->S, m->G, T, B))
        return die("cannot allocate the model", NULL);
    alig_ad_graph *G = m->G;
    const alig_rnn_lstm_opts o = { .fused = fused, .forget_bias = 0.0 };
    m->y = alig_rnn_bilstm(m->S, &m->fw, &m->bw, alig_ad_param(G, m->xid), &o);
    m->pooled = alig_rnn_maxpool(m->S, m->y);
    m->rn = alig_ad_input(G, 2, (int[]){ B, 2 * H });
    m->r2n = alig_ad_input(G, 3, (int[]){ T, B, 2 * H });
    m->loss = alig_ad_add(G, alig_ad_sum(G, alig_ad_mul(G, m->pooled, m->rn)),
                          alig_ad_sum(G, alig_ad_mul(G, m->y, m->r2n)));
    if (alig_ad_graph_compile(G)) return die("cannot build the graph", alig_ad_graph_error(G));
    return 0;
}

static void model_free(model *m)
{
    alig_rnn_seq_free(m->S);
    alig_ad_graph_free(m->G);
    alig_ad_params_free(m->P);
}

static int speed(int argc, char **argv)
{
    if (argc < 7 || argc > 8 || (argc == 8 && strcmp(argv[7], "fused") != 0))
        return die("usage: lstm_check speed T B X H REPS [fused]", NULL);
    const int T = atoi(argv[2]), B = atoi(argv[3]), X = atoi(argv[4]), H = atoi(argv[5]), reps = atoi(argv[6]);
    if (T < 1 || B < 1 || X < 1 || H < 1 || reps < 1 || T > 4096 || B > 4096 || X > 65536 || H > 65536)
        return die("bad sizes", NULL);
    model m;
    if (model_build(&m, T, B, X, H, argc == 8)) return 1;
    alig_rnn_lstm_init(m.P, &m.fw, ALIG_RNN_INIT_TORCH, 1);
    alig_rnn_lstm_init(m.P, &m.bw, ALIG_RNN_INIT_TORCH, 2);
    uint64_t s = 88172645463325252ULL;                  /* xorshift64 for the data */
    float *x = alig_ad_params_value(m.P, m.xid);
    for (size_t i = 0; i < (size_t)T * B * X; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    for (size_t i = 0; i < m.rn->size; i++) m.rn->value[i] = (float)(i % 7) / 7.0f - 0.5f;
    for (size_t i = 0; i < m.r2n->size; i++) m.r2n->value[i] = (float)(i % 5) / 5.0f - 0.5f;
    int *len = malloc((size_t)B * sizeof *len);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!len || !t) return die("out of memory", NULL);
    for (int b = 0; b < B; b++) {       /* in [max(1, T/2), T], sample 0 of length T */
        const int lo = T / 2 > 1 ? T / 2 : 1;
        len[b] = b == 0 ? T : lo + (int)(((unsigned)b * 2654435761u >> 8) % (unsigned)(T - lo + 1));
    }
    if (alig_rnn_seq_set_lengths(m.S, len)) return die("lengths", NULL);
    for (int k = -2; k < reps; k++) {
        const double t0 = bench_now();
        if (alig_ad_forward(m.G, 1) || alig_ad_backward(m.G, m.loss)) return die("forward/backward failed", NULL);
        if (k >= 0) t[k] = bench_now() - t0;
    }
    double bytes = 0;               /* activation values, gradients and workspaces (not parameters) */
    for (int i = 0; i < alig_ad_graph_size(m.G); i++) {
        const alig_ad_node *nd = alig_ad_graph_node(m.G, i);
        if (nd->op == ALIG_OP_PARAM) continue;
        bytes += (double)nd->size * sizeof(float) * (nd->grad ? 2 : 1) + (double)nd->work_bytes;
    }
    printf("RESULT {\"sec_per_pass\": %.6g, \"nodes\": %d, \"fused\": %d, \"graph_mb\": %.1f}\n",
           bench_median(t, reps), alig_ad_graph_size(m.G), argc == 8, bytes / 1048576.0);
    free(t);
    free(len);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "speed")) return speed(argc, argv);
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "fused") != 0))
        return die("usage: lstm_check CASE OUT [fused]", NULL);
    const int fused = argc == 4;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return die("cannot open", argv[1]);
    int32_t hdr[4];
    if (fread(hdr, sizeof *hdr, 4, f) != 4) return fclose(f), die("short header", argv[1]);
    const int T = hdr[0], B = hdr[1], X = hdr[2], H = hdr[3];
    if (T < 1 || B < 1 || X < 1 || H < 1 || T > 4096 || B > 4096 || X > 65536 || H > 65536)
        return fclose(f), die("bad sizes in", argv[1]);
    const size_t nih = (size_t)4 * H * X, nhh = (size_t)4 * H * H, nb = (size_t)4 * H, nx = (size_t)T * B * X,
                 ny = (size_t)T * B * 2 * H, np = (size_t)B * 2 * H;
    float *w[2][4], *x = malloc(nx * sizeof *x), *len_f = malloc((size_t)B * sizeof *len_f),
                    *r = malloc(np * sizeof *r), *r2 = malloc(ny * sizeof *r2);
    int ok = x && len_f && r && r2;
    for (int d = 0; d < 2; d++) {
        const size_t sz[4] = { nih, nhh, nb, nb };
        for (int k = 0; k < 4; k++) {
            w[d][k] = malloc(sz[k] * sizeof(float));
            ok = ok && w[d][k] && rd(f, w[d][k], sz[k]);
        }
    }
    ok = ok && rd(f, x, nx) && rd(f, len_f, (size_t)B) && rd(f, r, np) && rd(f, r2, ny);
    fclose(f);
    if (!ok) return die("short or unreadable case file", argv[1]);
    int *len = malloc((size_t)B * sizeof *len);
    for (int b = 0; b < B; b++) len[b] = (int)len_f[b];

    model m;
    if (model_build(&m, T, B, X, H, fused)) return 1;
    alig_ad_params *P = m.P;
    alig_ad_graph *G = m.G;
    alig_ad_node *y = m.y, *pooled = m.pooled, *rn = m.rn, *r2n = m.r2n, *loss = m.loss;
    const int xid = m.xid;
    memcpy(alig_ad_params_value(P, xid), x, nx * sizeof *x);
    memcpy(rn->value, r, np * sizeof *r);
    memcpy(r2n->value, r2, ny * sizeof *r2);
    if (alig_rnn_lstm_from_torch(P, &m.fw, w[0][0], w[0][1], w[0][2], w[0][3]) ||
        alig_rnn_lstm_from_torch(P, &m.bw, w[1][0], w[1][1], w[1][2], w[1][3]))
        return die("cannot load the weights", NULL);
    if (alig_rnn_seq_set_lengths(m.S, len)) return die("lengths outside [1, T]", argv[1]);
    if (alig_ad_forward(G, 1) || alig_ad_backward(G, loss)) return die("forward/backward failed", NULL);

    FILE *out = fopen(argv[2], "wb");
    if (!out) return die("cannot write", argv[2]);
    const double L = alig_ad_scalar(loss);
    ok = fwrite(&L, sizeof L, 1, out) == 1 && wr(out, y->value, ny) && wr(out, pooled->value, np);
    const float *g = alig_ad_params_g(P);
    float *tw = malloc((nih + nhh + nb) * sizeof *tw);
    for (int d = 0; d < 2 && ok; d++) {
        ok = tw && !alig_rnn_lstm_to_torch(P, d ? &m.bw : &m.fw, g, tw, tw + nih, tw + nih + nhh) &&
             wr(out, tw, nih + nhh + nb);
    }
    ok = ok && wr(out, alig_ad_params_grad(P, xid), nx);
    if (fclose(out) || !ok) return die("write failed", argv[2]);
    printf("RESULT {\"loss\": %.17g, \"nodes\": %d, \"fused\": %d}\n", L, alig_ad_graph_size(G), fused);
    free(tw);
    model_free(&m);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 4; k++) free(w[d][k]);
    free(x);
    free(len_f);
    free(len);
    free(r);
    free(r2);
    return 0;
}
