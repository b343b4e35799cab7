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
 * "RESULT {json}" with the loss and the graph's node count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/ad.h"
#include "alig/rnn.h"

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

int main(int argc, char **argv)
{
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

    alig_ad_params *P;
    alig_ad_graph *G;
    alig_rnn_seq *S;
    alig_rnn_lstm fw, bw;
    int xid;
    if (alig_ad_params_alloc(&P) || alig_ad_params_add(P, 3, (int[]){ T, B, X }, &xid) ||
        alig_rnn_lstm_declare(P, X, H, &fw) || alig_rnn_lstm_declare(P, X, H, &bw) || alig_ad_graph_alloc(&G, P, 0) ||
        alig_rnn_seq_alloc(&S, G, T, B))
        return die("cannot allocate the model", NULL);
    const alig_rnn_lstm_opts o = { .fused = fused, .forget_bias = 0.0 };
    alig_ad_node *y = alig_rnn_bilstm(S, &fw, &bw, alig_ad_param(G, xid), &o);
    alig_ad_node *pooled = alig_rnn_maxpool(S, y);
    alig_ad_node *rn = alig_ad_input(G, 2, (int[]){ B, 2 * H }), *r2n = alig_ad_input(G, 3, (int[]){ T, B, 2 * H });
    alig_ad_node *loss =
        alig_ad_add(G, alig_ad_sum(G, alig_ad_mul(G, pooled, rn)), alig_ad_sum(G, alig_ad_mul(G, y, r2n)));
    if (alig_ad_graph_compile(G)) return die("cannot build the graph", alig_ad_graph_error(G));
    memcpy(alig_ad_params_value(P, xid), x, nx * sizeof *x);
    memcpy(rn->value, r, np * sizeof *r);
    memcpy(r2n->value, r2, ny * sizeof *r2);
    if (alig_rnn_lstm_from_torch(P, &fw, w[0][0], w[0][1], w[0][2], w[0][3]) ||
        alig_rnn_lstm_from_torch(P, &bw, w[1][0], w[1][1], w[1][2], w[1][3]))
        return die("cannot load the weights", NULL);
    if (alig_rnn_seq_set_lengths(S, len)) return die("lengths outside [1, T]", argv[1]);
    if (alig_ad_forward(G, 1) || alig_ad_backward(G, loss)) return die("forward/backward failed", NULL);

    FILE *out = fopen(argv[2], "wb");
    if (!out) return die("cannot write", argv[2]);
    const double L = alig_ad_scalar(loss);
    ok = fwrite(&L, sizeof L, 1, out) == 1 && wr(out, y->value, ny) && wr(out, pooled->value, np);
    const float *g = alig_ad_params_g(P);
    float *tw = malloc((nih + nhh + nb) * sizeof *tw);
    for (int d = 0; d < 2 && ok; d++) {
        ok = tw && !alig_rnn_lstm_to_torch(P, d ? &bw : &fw, g, tw, tw + nih, tw + nih + nhh) &&
             wr(out, tw, nih + nhh + nb);
    }
    ok = ok && wr(out, alig_ad_params_grad(P, xid), nx);
    if (fclose(out) || !ok) return die("write failed", argv[2]);
    printf("RESULT {\"loss\": %.17g, \"nodes\": %d, \"fused\": %d}\n", L, alig_ad_graph_size(G), fused);
    free(tw);
    alig_rnn_seq_free(S);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 4; k++) free(w[d][k]);
    free(x);
    free(len_f);
    free(len);
    free(r);
    free(r2);
    return 0;
}
