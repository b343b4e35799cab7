/**
 * @file rnn.h
 * @brief Recurrent layers over variable-length batches: LSTM, Bi-LSTM and max-pooling over time
 *        (the `alig_rnn_*` layer, built from the ops of ad.h).
 *
 * A batch of B sequences padded to T steps is a time-major node x (T,B,X); each sample b has a
 * length len_b in [1, T], held by an INPUT node of shape (B) that a sequence context (alig_rnn_seq)
 * creates in the graph and fills, together with the masks the layers need, from an int array.
 *
 * LSTM (Hochreiter & Schmidhuber 1997, without peepholes, as PyTorch's nn.LSTM and Sonnet's LSTM):
 *   z_t = x_t·W_x + h_{t−1}·W_h + b                 (B,4H), column blocks (i, g, f, o)
 *   c'_t = σ(f + forget_bias)⊙c_{t−1} + σ(i)⊙tanh(g),   h'_t = σ(o)⊙tanh(c'_t)
 *   [h_t, c_t] = m_t⊙[h'_t, c'_t] + (1 − m_t)⊙[h_{t−1}, c_{t−1}],   m_t[b] = [t < len_b]
 * with h_{−1} = c_{−1} = 0. The masking freezes each sample's state after its last step, so the
 * state at t = T − 1 is that of the sample run alone on its len_b real steps. The x_t·W_x of all
 * steps is one matrix product over the T·B rows; each step adds h_{t−1}·W_h. The cell is either
 * composed from slices, sigmoids, tanhs, products and sums, or the fused alig_ad_lstm_cell (same
 * float operations, same values).
 *
 * Parameter layout (per direction, three tensors of one arena): W_x (X,4H), W_h (H,4H), b (4H),
 * the gate blocks of the columns in the order (i, g, f, o), the order of alig_ad_lstm_cell (which
 * calls g "j"). PyTorch stores weight_ih (4H,X), weight_hh (4H,H), bias_ih and bias_hh, rows in the
 * order (i, f, g, o): alig_rnn_lstm_from_torch transposes, swaps the f and g blocks and sums the two
 * biases (the model only ever uses their sum); alig_rnn_lstm_to_torch goes back.
 *
 * Bi-LSTM (Graves & Schmidhuber 2005): a forward LSTM over x and a backward LSTM over x reversed
 * within each sample's length (alig_ad_seq_reverse), whose outputs are reversed back, so that step t
 * of both halves looks at position t of the sentence; output [h^→_t, h^←_t] (T,B,2H).
 * Max-pooling over time (alig_ad_seq_maxpool) ignores padded steps; Bi-LSTM + max-pooling is the
 * sentence encoder of InferSent (Conneau et al. 2017).
 *
 * @code
 *   alig_rnn_lstm fw, bw;  alig_rnn_seq *S;
 *   alig_rnn_lstm_declare(P, 300, 2048, &fw);  alig_rnn_lstm_declare(P, 300, 2048, &bw);
 *   alig_rnn_seq_alloc(&S, G, T, B);
 *   alig_ad_node *x = alig_ad_input(G, 3, (int[]){ T, B, 300 });
 *   alig_ad_node *u = alig_rnn_bilstm_max(S, &fw, &bw, x, NULL);      // (B, 4096)
 *   ... alig_ad_graph_compile(G); alig_rnn_lstm_init(P, &fw, ALIG_RNN_INIT_TORCH, 1); ...
 *   per batch: write x->value, alig_rnn_seq_set_lengths(S, len), alig_ad_forward(G, 1), ...
 * @endcode
 *
 * Builders follow ad.h: they return a node, or NULL with the first failure recorded in the graph
 * (alig_ad_graph_error names what is wrong). The graph owns the nodes; the caller owns the
 * sequence context (free it before or after the graph, but use it only while the graph lives).
 * Padded steps of a layer's output hold the frozen state (not zeros); consumers that must ignore
 * them take the lengths (max-pooling does).
 */
#ifndef ALIG_RNN_H
#define ALIG_RNN_H

#include <stdint.h>
#include "alig/ad.h"
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Initialisations of an LSTM's tensors (alig_rnn_lstm_init). */
typedef enum alig_rnn_init {
    /** PyTorch nn.LSTM.reset_parameters: W_x, W_h ~ U(−k, k), k = 1/√H; b = b_ih + b_hh with both
     *  ~ U(−k, k) drawn independently (the sum of the two biases PyTorch keeps). Use forget_bias 0. */
    ALIG_RNN_INIT_TORCH = 0,
    /** Sonnet's snt.LSTM (v1): W_x, W_h and b ~ N(0, σ²), σ = 1/√(X + H), truncated at ±2σ by redrawing
     *  (TensorFlow's truncated_normal_initializer). Use forget_bias 1. */
    ALIG_RNN_INIT_SONNET
} alig_rnn_init;

/** An LSTM's parameters: ids of three tensors of an arena (transparent, filled by alig_rnn_lstm_declare). */
typedef struct alig_rnn_lstm {
    int in_dim;     /**< X */
    int hidden;     /**< H */
    int wx;         /**< W_x (X, 4H), column blocks (i, g, f, o) */
    int wh;         /**< W_h (H, 4H), same blocks */
    int b;          /**< b (4H), same blocks */
} alig_rnn_lstm;

/** Options of the LSTM builders. Fields at 0 take the default; NULL = all defaults. */
typedef struct alig_rnn_lstm_opts {
    int fused;              /**< 1: one alig_ad_lstm_cell node per step; 0: the cell composed from ops [0] */
    double forget_bias;     /**< constant added to f before its sigmoid: 0 as PyTorch [0], 1 as Sonnet */
} alig_rnn_lstm_opts;

/**
 * @brief Declare an LSTM's three tensors (W_x, W_h, b, in that order) in an arena not yet sealed.
 * @param P       the arena.
 * @param in_dim  X >= 1.
 * @param hidden  H >= 1.
 * @param l       receives the ids and sizes.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, sealed arena); ALIG_EBADLEN (X or H < 1, or 4H too large); ALIG_ENOMEM.
 */
alig_status alig_rnn_lstm_declare(alig_ad_params *P, int in_dim, int hidden, alig_rnn_lstm *l);

/**
 * @brief Initialise an LSTM's tensors in a sealed arena (see alig_rnn_init), drawing W_x, then W_h,
 *        then b from a GSL MT19937 generator seeded with `seed`.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, unsealed arena, ids not this LSTM's shapes, unknown kind); ALIG_ENOMEM.
 */
alig_status alig_rnn_lstm_init(alig_ad_params *P, const alig_rnn_lstm *l, alig_rnn_init how, uint64_t seed);

/**
 * @brief Load PyTorch nn.LSTM weights of one layer and direction (weight_ih_l0, weight_hh_l0,
 *        bias_ih_l0, bias_hh_l0, or the *_reverse ones) into a sealed arena:
 *          W_x[k, p·H + u] = weight_ih[q·H + u, k],   W_h likewise,
 *          b[p·H + u] = bias_ih[q·H + u] + bias_hh[q·H + u]
 *        with PyTorch's gate q ∈ (i, f, g, o) stored at alig's block p ∈ (i, g, f, o). The bias sum is
 *        taken in double and rounded once.
 * @param w_ih  (4H, X) row-major;  @param w_hh (4H, H);  @param b_ih, b_hh (4H), either may be NULL (zeros).
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL arena, LSTM or weight, unsealed arena, ids not this LSTM's shapes).
 */
alig_status alig_rnn_lstm_from_torch(alig_ad_params *P, const alig_rnn_lstm *l, const float *w_ih, const float *w_hh,
                                     const float *b_ih, const float *b_hh);

/**
 * @brief The inverse layout map: write an LSTM's tensors, read from `flat` (the arena's x, or its
 *        gradient g), in PyTorch's layout. For g, `b` is the gradient of bias_ih and of bias_hh alike.
 * @param flat  a vector of alig_ad_params_n(P) floats laid out as the arena (x or g).
 * @param w_ih  receives (4H, X);  @param w_hh receives (4H, H);  @param b receives (4H); each may be NULL.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL arena, LSTM or flat, ids not this LSTM's shapes).
 */
alig_status alig_rnn_lstm_to_torch(const alig_ad_params *P, const alig_rnn_lstm *l, const float *flat, float *w_ih,
                                   float *w_hh, float *b);

/* ------------------------------------------------------------------------- */
/* Sequence context: lengths and masks of one graph's batch                  */
/* ------------------------------------------------------------------------- */
typedef struct alig_rnn_seq alig_rnn_seq;

/**
 * @brief A context for batches of B sequences of at most T steps in graph G: creates the lengths
 *        INPUT node (B) in G, and later the mask INPUT nodes the LSTM builders ask for (one pair
 *        m_t, 1 − m_t of shape (B, 2H) per step t >= 1 and per state width, shared by all layers of
 *        that width).
 * @param out  receives the context (NULL on failure); free with alig_rnn_seq_free.
 * @param G    a graph not yet compiled.
 * @param T, B >= 1.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, compiled graph, or a graph that already failed: its status);
 *         ALIG_EBADLEN (T or B < 1); ALIG_ENOMEM.
 */
alig_status alig_rnn_seq_alloc(alig_rnn_seq **out, alig_ad_graph *G, int T, int B);

/** @brief Free the context (not the graph or its nodes). NULL-safe. */
void alig_rnn_seq_free(alig_rnn_seq *S);

/** @return the lengths node (B) of the context (owned by the graph), NULL for NULL. */
alig_ad_node *alig_rnn_seq_lengths(const alig_rnn_seq *S);

/**
 * @brief Set the batch's lengths after the graph is compiled: writes the lengths node and every mask
 *        (m_t[b, :] = 1 if t < len[b], else 0).
 * @param len  B lengths, each in [1, T].
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, graph not compiled, a length outside [1, T]: nothing written).
 */
alig_status alig_rnn_seq_set_lengths(alig_rnn_seq *S, const int *len);

/* ------------------------------------------------------------------------- */
/* Layers                                                                    */
/* ------------------------------------------------------------------------- */
/**
 * @brief An LSTM unrolled over the T steps of x (formulas in the file comment).
 * @param S            the sequence context (its graph receives the nodes).
 * @param l            declared in the graph's arena.
 * @param x            (T, B, X).
 * @param opts         NULL = defaults.
 * @param final_state  optional: receives the (B, 2H) node [h, c] of the last step, i.e. each sample's
 *                     state after its own last real step.
 * @return h for every step (T, B, H), padded steps holding the frozen state; NULL on failure (graph
 *         status set; NULL S: nothing recorded).
 */
alig_ad_node *alig_rnn_lstm_layer(alig_rnn_seq *S, const alig_rnn_lstm *l, alig_ad_node *x,
                                  const alig_rnn_lstm_opts *opts, alig_ad_node **final_state);

/**
 * @brief A bidirectional LSTM: fw over x, bw over x reversed within each sample's length, its output
 *        reversed back; y[t] = [h^fw_t, h^bw_t].
 * @param fw, bw  two LSTMs with the same input size X (hidden sizes Hf, Hb).
 * @return (T, B, Hf + Hb), or NULL on failure (graph status set).
 */
alig_ad_node *alig_rnn_bilstm(alig_rnn_seq *S, const alig_rnn_lstm *fw, const alig_rnn_lstm *bw, alig_ad_node *x,
                              const alig_rnn_lstm_opts *opts);

/**
 * @brief Max-pooling over time of a (T, B, D) sequence, padded steps ignored: alig_ad_seq_maxpool
 *        with the context's lengths.
 * @return (B, D), or NULL on failure (graph status set).
 */
alig_ad_node *alig_rnn_maxpool(alig_rnn_seq *S, alig_ad_node *seq);

/**
 * @brief The InferSent BLSTM-max sentence encoder (Conneau et al. 2017): max-pooling over time of
 *        alig_rnn_bilstm(S, fw, bw, x, opts).
 * @return (B, Hf + Hb), or NULL on failure (graph status set).
 */
alig_ad_node *alig_rnn_bilstm_max(alig_rnn_seq *S, const alig_rnn_lstm *fw, const alig_rnn_lstm *bw, alig_ad_node *x,
                                  const alig_rnn_lstm_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_RNN_H */
