/**
 * @file dnc.h
 * @brief The Differentiable Neural Computer (Graves et al., "Hybrid computing using a neural network
 *        with dynamic external memory", Nature 538, 2016) as released in deepmind/dnc and trained in the
 *        ALI-G paper's repeat-copy experiment (Berrada, Zisserman & Kumar, ICML 2020, Figure 3).
 *
 * One time step, per sample (docs/dnc.md has the full equations and the float32 details):
 *   controller  LSTM on [x_t; r_{t−1}; h_{t−1}] with forget bias +1; h and c clipped to ±clip
 *   interface   ten linear maps of h̄: write vector v, erase e = σ(·), free gates f = σ(·), allocation
 *               and write gates σ(·), read modes softmax over (backward, forward, content), write and
 *               read keys, raw write and read strengths (softplus inside the content lookup)
 *   usage       u = (u_{t−1} + (1 − u_{t−1})⊙w^w_{t−1})⊙Π_r(1 − f_r w^r_{t−1,r}), no gradient through w^w_{t−1}
 *   allocation  sort the free list, a[φ_j] = (1 − û[φ_j])·Π_{i<j} û[φ_i], û = ε + (1 − ε)u
 *   write       w^w = g^w (g^a a + (1 − g^a) c^w), c^w the content weights on M_{t−1};
 *               M = M_{t−1}⊙(1 − w^w eᵀ) + w^w vᵀ
 *   link        L = (1 − w_i − w_j) L_{t−1} + w_i p_j with a zero diagonal; p = (1 − Σw) p_{t−1} + w
 *   read        w^r = π_b Lᵀw^r_{t−1} + π_f L w^r_{t−1} + π_c c^r (c^r on M); r = w^r M
 *   output      y = clip(W_o [h̄; r] + b_o)
 * The state starts at zero for every sequence; gradients are full back-propagation through time.
 *
 * The parameters are one flat float vector x[n] (n = 43,980 at the paper's sizes) in the order of
 * the reference's variable creation: LSTM weight [X + R·W + H, 4H] and bias [4H] (gate columns i, j,
 * f, o), then the ten interface layers (each weight [H, width] then bias), then the output layer
 * [H + R·W, Y] and bias. Weights are stored [fan_in, fan_out] (y = x·W + b), row-major. This is
 * also the flat order of the PyTorch peer used by bench/dnc_vs_torch.sh, so weight files move
 * between the two unchanged.
 *
 * Sequences are time-major: obs [T, B, X], targ [T, B, Y], mask [T, B]. The loss is the masked
 * sigmoid cross-entropy summed over time steps and output channels and divided by the batch size B
 * (not by the number of masked steps), as in the reference's repeat-copy task.
 *
 * Ownership: the model owns its arena, graphs and x, g; pointers stay valid until alig_dnc_free.
 * The library never prints or exits. Not safe to use from two threads at once.
 */
#ifndef ALIG_DNC_H
#define ALIG_DNC_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"
#include "alig/ad.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Sizes and switches of a DNC. Fields at 0 take the default in brackets (the paper's). */
typedef struct alig_dnc_config {
    int batch;          /**< B, sequences per batch [16] */
    int in_dim;         /**< X, observation width [6] */
    int out_dim;        /**< Y, output width [5] */
    int hidden;         /**< H, LSTM width [64] */
    int mem_slots;      /**< N, memory rows [16] */
    int word;           /**< W, memory row width [16] */
    int read_heads;     /**< R [4] */
    int max_T;          /**< longest sequence accepted [64] */
    double clip;        /**< clip of the controller state and of the outputs, > 0 [20] */
    int full_gradient;  /**< 1: differentiate through the previous write weights in the usage update
                             (the exact gradient of the loss, for finite-difference checks); 0: the
                             reference's stop-gradient [0] */
} alig_dnc_config;

typedef struct alig_dnc alig_dnc;

/**
 * @brief Build a DNC (parameters zero until alig_dnc_init or a copy into alig_dnc_x).
 * @param cfg  sizes, NULL = the paper's; copied.
 * @param err  receives a message on failure ("" on success); may be NULL.
 * @return ALIG_SUCCESS; ALIG_EBADLEN (a size < 1 or too large, clip not > 0); ALIG_ENOMEM.
 *         Free with alig_dnc_free.
 */
alig_status alig_dnc_alloc(alig_dnc **out, const alig_dnc_config *cfg, char *err, size_t errlen);

/** @brief Free the model. NULL-safe. */
void alig_dnc_free(alig_dnc *m);

/** @return the configuration with defaults filled in. */
const alig_dnc_config *alig_dnc_get_config(const alig_dnc *m);
/** @return n, the number of parameters. */
size_t alig_dnc_n(const alig_dnc *m);
/** @return the flat parameter vector x[n] (owned by the model). */
float *alig_dnc_x(alig_dnc *m);
/** @return the flat gradient vector g[n] (owned by the model), written by alig_dnc_gradient. */
float *alig_dnc_g(alig_dnc *m);
/** @return the parameter arena (x, g and the tensor shapes), owned by the model. */
alig_ad_params *alig_dnc_params(alig_dnc *m);

/**
 * @brief Sonnet-v1 initialisation: every weight, and the LSTM bias, from a normal N(0, σ²) truncated
 *        at ±2σ (samples beyond are redrawn), σ = 1/√fan_in; the linear biases 0. One gsl_rng
 *        mt19937 seeded with `seed` draws the tensors in the flat order.
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM.
 */
alig_status alig_dnc_init(alig_dnc *m, uint64_t seed);

/**
 * @brief Loss J of one batch and its gradient into alig_dnc_g.
 * @param T     time steps, 1 <= T <= max_T.
 * @param obs   [T, B, X]; targ [T, B, Y] in [0, 1]; mask [T, B] (NULL = all ones).
 * @param loss  receives J (double; not checked for finiteness).
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL); ALIG_EBADLEN (T out of range); ALIG_ENOMEM (graph for
 *         a new T).
 */
alig_status alig_dnc_gradient(alig_dnc *m, int T, const float *obs, const float *targ, const float *mask,
                              double *loss);

/** @brief Loss J of one batch, forward only (g untouched). Arguments and returns as alig_dnc_gradient. */
alig_status alig_dnc_loss(alig_dnc *m, int T, const float *obs, const float *targ, const float *mask,
                          double *loss);

/**
 * @brief The clipped logits y of the last alig_dnc_gradient / alig_dnc_loss, [T, B, Y] into out.
 * @return ALIG_SUCCESS; ALIG_EINVAL (no pass yet, NULL).
 */
alig_status alig_dnc_logits(const alig_dnc *m, float *out);

/** @brief The training graph for sequences of length T (built if needed), and its loss node.
 *  For gradient checks and profiling. @return NULL on failure. */
alig_ad_graph *alig_dnc_graph(alig_dnc *m, int T, alig_ad_node **loss);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_DNC_H */
