/**
 * @file nn.h
 * @brief Networks for image classification on top of the autodiff layer (the `alig_nn_*` layer):
 *        model specifications (MLP, the reference CNN, WRN-d-k), a net container holding the
 *        parameter arena with a training graph and an evaluation graph, seeded initialisation,
 *        mini-batch gradients and evaluation. The nets know nothing of solvers: the training
 *        loop, its checkpoints (net state + solver state + loop state) and the model table
 *        live in train.h and model.h.
 *
 * A net is driven by the shared solver core exactly like a convex problem: its trainable
 * parameters are ONE flat float vector x[n] with ONE gradient vector g[n] (ad.h), so, with
 * solver.h included,
 *
 * @code
 *   alig_nn_spec spec;
 *   alig_nn_cnn(&spec, 1, 28, 28, 10);                          // the reference CNN
 *   alig_nn_net *net;  char err[256];
 *   if (alig_nn_net_alloc(&net, &spec, 128, 256, 0, err, sizeof err)) puts(err);   // seed 0
 *   alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;  p.eta = 0.1;  p.momentum = 0.9;
 *   alig_solver *s;
 *   alig_solver_alloc(&s, alig_solver_alig, ALIG_F32, alig_nn_net_n(net), &p);
 *   alig_solver_set(s, alig_nn_net_x(net), INFINITY);
 *   for (size_t i = 0; i < train.n; i += 128) {                 // train: an alig_image_set (data.h)
 *       size_t b = train.n - i < 128 ? train.n - i : 128;
 *       double loss;  size_t correct;
 *       alig_nn_net_gradient(net, &train, perm, i, b, &loss, &correct);   // g = ∇ mean CE
 *       if (alig_solver_step(s, loss, alig_nn_net_g(net))) break;         // x updated in place
 *   }
 *   double val_loss, val_acc;
 *   alig_nn_net_evaluate(net, &val, &val_loss, &val_acc);
 * @endcode
 *
 * Models (docs/nets.md has the layer tables):
 *   - MLP: flatten, then for each hidden width h: dense h, ReLU; then dense `classes`.
 *   - CNN, the PyTorch peer's SmallCNN (the PyTorch peer script torch_fmnist.py): conv 32 3×3 (no padding), ReLU,
 *     max-pool 2; conv 64 3×3, ReLU, max-pool 2; flatten; dense 128, ReLU; dense `classes`.
 *     On 1×28×28 inputs: 28 → 26 → 13 → 11 → 5, 225,034 parameters.
 *   - WRN-d-k (Zagoruyko & Komodakis 2016, "Wide Residual Networks", pre-activation basic
 *     blocks): conv 3×3 to 16 channels; three stages of (d − 4)/6 blocks with 16k, 32k, 64k
 *     channels and strides 1, 2, 2; BN, ReLU; global average pooling; dense `classes`. A block is
 *     BN-ReLU-conv3×3(stride)-BN-ReLU-[dropout]-conv3×3, plus the identity, or a 1×1 strided
 *     conv of the pre-activated input when the shape changes (as in the reference WRN code).
 *     Convolutions in a WRN have no bias. Adapted to the input size: padding keeps each stage's
 *     size and the global pooling takes whatever spatial size the last stage has (28×28 inputs:
 *     28, 14, 7). Batch norm uses PyTorch's defaults (momentum 0.1, ε 1e-5).
 *   - DenseNet-BC-L-k (Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional
 *     Networks", CVPR 2017, the bottleneck-compression form for 32×32 inputs): conv 3×3 to 2k
 *     channels; three dense blocks of m = (L − 4)/6 bottleneck layers, each BN-ReLU-conv1×1(4k)-
 *     BN-ReLU-conv3×3(k) whose k new maps are concatenated to its input (the block's running
 *     concatenation grows by k channels per layer); between blocks a transition BN-ReLU-
 *     conv1×1(⌊c/2⌋, compression 0.5)-avg-pool 2×2; then BN, ReLU, global average pooling, dense
 *     `classes`. Convolutions have no bias; padding keeps sizes (32, 16, 8 on CIFAR; 28, 14, 7
 *     on Fashion-MNIST). DenseNet-BC-100-12 on 3×32×32 with 10 classes: 769,162 parameters;
 *     DenseNet-BC-40-40 (the ALI-G paper's "DN 40-40"): 1,901,930.
 *
 * Initialisation (alig_nn_net_init), one gsl_rng mt19937 seeded with `seed`, tensors drawn in
 * declaration order (the order of the layer tables), as PyTorch initialises each model:
 *   - MLP and CNN, every dense and conv layer: PyTorch's default reset_parameters, i.e.
 *     Kaiming-uniform with a = √5 for the weight, which is U(−1/√fan_in, 1/√fan_in), and the
 *     bias from the same U(−1/√fan_in, 1/√fan_in); fan_in = inputs × kernel area;
 *   - WRN and DenseNet-BC (the peer's, the reference WRN code's and the original DenseNet code's
 *     scheme): conv weights N(0, 2/(k_h·k_w·C_out))
 *     (Kaiming-normal, fan-out mode), BN γ = 1 and β = 0, the final dense weight
 *     U(−1/√fan_in, 1/√fan_in) and its bias 0;
 *   - batch-norm running mean 0 and running variance 1.
 *
 * Ownership: the net owns its arena, graphs and scratch; alig_nn_net_x/g point into the arena
 * and stay valid until alig_nn_net_free. Data sets are the caller's. The library never prints
 * or exits. A net is not safe to use from two threads at once (kernels use OpenMP inside).
 */
#ifndef ALIG_NN_H
#define ALIG_NN_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"
#include "alig/ad.h"
#include "alig/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ALIG_NN_MAX_HIDDEN 8    /**< most hidden layers of an MLP */

/** Model family. */
typedef enum alig_nn_kind { ALIG_NN_MLP = 0, ALIG_NN_CNN = 1, ALIG_NN_WRN = 2, ALIG_NN_DENSENET = 3 } alig_nn_kind;

/** What a model is. Fill it with alig_nn_mlp / alig_nn_cnn / alig_nn_wrn / alig_nn_spec_parse. */
typedef struct alig_nn_spec {
    alig_nn_kind kind;
    int in_c, in_h, in_w;               /**< input channels, height, width (>= 1) */
    int classes;                        /**< number of classes (>= 2) */
    int n_hidden;                       /**< MLP: hidden layers, 0..ALIG_NN_MAX_HIDDEN */
    int hidden[ALIG_NN_MAX_HIDDEN];     /**< MLP: their widths (>= 1) */
    int depth;                          /**< WRN: d = 6m + 4 >= 10 (m blocks per stage); DenseNet-BC: L = 6m + 4
                                             >= 10 (m bottleneck layers per dense block) */
    int growth;                         /**< DenseNet-BC: growth rate k, 1 <= k <= 512 */
    int width;                          /**< WRN: widening factor k >= 1 */
    double dropout;                     /**< WRN: drop probability inside each block, in [0, 1) */
} alig_nn_spec;

/** @brief An MLP spec. @param hidden n_hidden widths (may be NULL when n_hidden = 0).
 *  @return ALIG_SUCCESS, ALIG_EINVAL (NULL spec), ALIG_EBADLEN (a size out of range). */
alig_status alig_nn_mlp(alig_nn_spec *spec, int in_c, int in_h, int in_w, int classes, int n_hidden,
                        const int *hidden);
/** @brief The reference CNN spec. Inputs must be at least 10×10 (two valid 3×3 convs, two pools).
 *  @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EBADLEN. */
alig_status alig_nn_cnn(alig_nn_spec *spec, int in_c, int in_h, int in_w, int classes);
/** @brief A WRN-depth-width spec with dropout p inside the blocks (0 = none).
 *  @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EBADLEN (depth not 6m + 4 >= 10, width < 1, sizes),
 *          ALIG_EINVAL also for p outside [0, 1). */
alig_status alig_nn_wrn(alig_nn_spec *spec, int depth, int width, double dropout, int in_c, int in_h, int in_w,
                        int classes);

/** @brief A DenseNet-BC-L-k spec (see the file comment); inputs must be at least 4×4 (two 2×2 average pools).
 *  @return ALIG_SUCCESS, ALIG_EINVAL (NULL spec), ALIG_EBADLEN (L not 6m + 4 >= 10, k outside 1..512, sizes). */
alig_status alig_nn_densenet(alig_nn_spec *spec, int depth, int growth, int in_c, int in_h, int in_w, int classes);

/**
 * @brief Trainable parameters of DenseNet-BC-L-k on in_c input channels and `classes` classes,
 *        by the closed form of the architecture (independent of the graph builder): with
 *        m = (L − 4)/6 and c₀ = 2k,
 *          first conv 9·in_c·2k; a bottleneck layer on c channels 2c + 4k·c + 2·4k + 9·4k·k;
 *          a transition c → ⌊c/2⌋: 2c + c·⌊c/2⌋; the head on c channels 2c + c·classes + classes.
 * @return the count, or 0 for sizes out of range.
 */
size_t alig_nn_densenet_params(int depth, int growth, int in_c, int classes);

/**
 * @brief A spec from a model name: "mlp" (= "mlp-256-128"), "mlp-H1-H2-..." (up to
 *        ALIG_NN_MAX_HIDDEN widths; "mlp-0" is a linear model), "cnn", "wrn-D-K" (e.g. "wrn-16-2"),
 *        "densenet-bc-L-k" (e.g. "densenet-bc-100-12").
 * @param dropout  WRN only (must be 0 for the others).
 * @return ALIG_SUCCESS; ALIG_EINVAL (unknown name, malformed numbers, dropout for a non-WRN);
 *         ALIG_EBADLEN (sizes out of range, as the builders).
 */
alig_status alig_nn_spec_parse(alig_nn_spec *spec, const char *name, int in_c, int in_h, int in_w, int classes,
                               double dropout);

/** @brief The canonical name of a spec ("cnn", "mlp-256-128", "wrn-16-2") into buf. @return buf. */
char *alig_nn_spec_name(const alig_nn_spec *spec, char *buf, size_t len);

/** @brief Check every field (as the builders do). @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EBADLEN. */
alig_status alig_nn_spec_check(const alig_nn_spec *spec);

/* ------------------------------------------------------------------------- */
/* Net container                                                             */
/* ------------------------------------------------------------------------- */
typedef struct alig_nn_net alig_nn_net;

/**
 * @brief Build a net: the arena, a training graph at batch `batch` (input, labels, logits, mean
 *        softmax cross-entropy), an evaluation graph at batch `eval_batch` (logits only, batch norm
 *        from running averages, dropout off) sharing the arena, and initialise it with `seed`
 *        (alig_nn_net_init). A short last batch gets its own training graph, built on first use.
 * @param batch       training batch size B >= 1.
 * @param eval_batch  evaluation batch size >= 1 (only memory and speed depend on it).
 * @param seed        initialisation seed; also keys the dropout stream.
 * @param err         receives a message on failure ("" on success), e.g. the graph's own error
 *                    "conv2d: kernel 3x3 larger than padded input (2,32,1,1)"; may be NULL.
 * @return ALIG_SUCCESS; ALIG_EINVAL, ALIG_EBADLEN (bad spec, or a model that does not fit the
 *         input size); ALIG_ENOMEM. *out is NULL on failure. Free with alig_nn_net_free.
 */
alig_status alig_nn_net_alloc(alig_nn_net **out, const alig_nn_spec *spec, int batch, int eval_batch,
                              unsigned long seed, char *err, size_t errlen);

/** @brief Free the net (graphs, arena, scratch). NULL-safe. */
void alig_nn_net_free(alig_nn_net *net);

/** @brief Re-initialise every parameter and buffer from `seed` (see the file comment) and rewind the
 *  dropout stream to (seed, 0). @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM. */
alig_status alig_nn_net_init(alig_nn_net *net, unsigned long seed);

const alig_nn_spec *alig_nn_net_spec(const alig_nn_net *net);
/** @return the training batch size B. */
int alig_nn_net_batch(const alig_nn_net *net);
/** @return n, the number of trainable parameters (length of x and g). */
size_t alig_nn_net_n(const alig_nn_net *net);
/** @return the flat parameter vector x[n] (owned by the net). */
float *alig_nn_net_x(alig_nn_net *net);
/** @return the flat gradient vector g[n], filled by alig_nn_net_gradient (owned by the net). */
float *alig_nn_net_g(alig_nn_net *net);
/** @return the arena (x, g and the batch-norm buffers), owned by the net. */
alig_ad_params *alig_nn_net_params(alig_nn_net *net);

/**
 * @brief The training graph at batch B and its nodes (for gradient checks and custom losses).
 *        It is compiled with alig_ad_graph_compile_planned (ad.h): after a step the input,
 *        labels, logits and loss values are readable, other nodes' values only between a
 *        forward and its backward, activation gradients never.
 * @param x, y, logits, loss  receive the input (B,C,H,W), labels (B), scores (B,classes) and mean
 *                            loss (alig_nn_net_set_loss) nodes; each may be NULL.
 */
alig_ad_graph *alig_nn_net_train_graph(alig_nn_net *net, alig_ad_node **x, alig_ad_node **y,
                                       alig_ad_node **logits, alig_ad_node **loss);

/** @brief Read / set the dropout stream: the seed and the number of training forwards so far.
 *  The stream is shared by the batch-B graph and the short-batch graph. */
void alig_nn_net_rng(const alig_nn_net *net, uint64_t *seed, uint64_t *step);
void alig_nn_net_set_rng(alig_nn_net *net, uint64_t seed, uint64_t step);

/**
 * @brief One mini-batch in training mode: gathers samples idx[start .. start+b−1] of `set`
 *        (alig_data_batch), runs forward (dropout on, batch statistics, running averages
 *        updated) and backward, so that g = ∇ of the mean loss (softmax cross-entropy unless
 *        alig_nn_net_set_loss chose another).
 * @param idx      sample order, or NULL for 0..n−1.
 * @param b        1 <= b <= B; b < B runs the short-batch graph (built on first use, rebuilt when b changes).
 * @param loss     receives the mean loss (double; not checked for finiteness: the caller decides).
 * @param correct  if not NULL, receives how many of the b samples the pre-step scores classify
 *                 correctly (first maximum).
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, set shape or classes not those of the spec, an index
 *         out of range); ALIG_EBADBATCH (b = 0, b > B or start + b > set->n); ALIG_EBADLEN (b = 1 with
 *         batch norm); ALIG_ENOMEM.
 */
alig_status alig_nn_net_gradient(alig_nn_net *net, const alig_image_set *set, const size_t *idx, size_t start,
                                 size_t b, double *loss, size_t *correct);

/**
 * @brief Mean loss (the net's, alig_nn_net_set_loss) and accuracy over a whole set in evaluation mode (no parameter or
 *        buffer changes), through the evaluation graph; the loss of each sample is computed in
 *        double from its scores (log-sum-exp), so the result does not depend on eval_batch.
 * @param loss, acc  receive them (either may be NULL). A non-finite score gives a NaN loss.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL, empty set, or shape / classes not those of the spec).
 */
alig_status alig_nn_net_evaluate(alig_nn_net *net, const alig_image_set *set, double *loss, double *acc);

/**
 * @brief The loss of every sample of a set in evaluation mode (as alig_nn_net_evaluate: the net's
 *        loss, in double from the scores, independent of eval_batch), with their mean and the accuracy.
 * @param losses  receives set->n values, losses[i] the loss of sample i (NaN where a score is not finite).
 * @param loss, acc  the mean of losses[] (summed in sample order: equal to alig_nn_net_evaluate's) and
 *                   the accuracy; either may be NULL.
 * @return as alig_nn_net_evaluate; ALIG_EINVAL also for losses == NULL.
 */
alig_status alig_nn_net_sample_losses(alig_nn_net *net, const alig_image_set *set, double *losses, double *loss,
                                      double *acc);

/* ------------------------------------------------------------------------- */
/* Training loss                                                             */
/* ------------------------------------------------------------------------- */
/** The loss an image net trains on (and evaluates with). */
typedef enum alig_nn_loss {
    ALIG_NN_LOSS_CE = 0,            /**< mean softmax cross-entropy (the default) */
    ALIG_NN_LOSS_HINGE = 1,         /**< mean multi-class hinge of Crammer & Singer (alig_ad_hinge, hard) */
    ALIG_NN_LOSS_SMOOTH_HINGE = 2   /**< its smoothed form as Deep Frank-Wolfe uses it (alig_ad_hinge, smooth) */
} alig_nn_loss;

/** @brief The loss's name: "ce", "hinge", "smooth-hinge"; NULL for another value. */
const char *alig_nn_loss_name(int loss);
/** @brief The loss named `name` ("ce", "hinge", "smooth-hinge") into *loss.
 *  @return ALIG_SUCCESS, ALIG_EINVAL (NULL or another name; *loss untouched). */
alig_status alig_nn_loss_parse(const char *name, int *loss);

/**
 * @brief Choose the loss of training (alig_nn_net_gradient) and evaluation (alig_nn_net_evaluate);
 *        a new net trains on ALIG_NN_LOSS_CE. The training graphs are rebuilt over the same
 *        parameters (x, buffers and the dropout stream are untouched). The multi-class hinge of
 *        Crammer & Singer ("On the algorithmic implementation of multiclass kernel-based vector
 *        machines", JMLR 2001), per sample max_j(s_j + [j ≠ y]) − s_y, and its smoothed form of Deep
 *        Frank-Wolfe (Berrada, Zisserman & Kumar, ICLR 2019, code oval-group/dfw dfw/losses/hinge.py):
 *        Σ_j softmax(s)_j (s_j + [j ≠ y] − s_y), the hard value where that sum is negative. Evaluation
 *        computes the same per-sample loss in double from the scores.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL net, unknown loss); ALIG_ENOMEM (the net keeps its old loss;
 *         should even its old graph fail to rebuild, the net can only be freed).
 */
alig_status alig_nn_net_set_loss(alig_nn_net *net, int loss);
/** @return the net's loss (alig_nn_loss), ALIG_NN_LOSS_CE for NULL. */
int alig_nn_net_loss(const alig_nn_net *net);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_NN_H */
