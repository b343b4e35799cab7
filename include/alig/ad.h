/**
 * @file ad.h
 * @brief Reverse-mode automatic differentiation over float tensors (the `alig_ad_*` layer).
 *
 * A net is a graph of nodes. Each node is one op from a small vocabulary (enum alig_op) with
 * a shape of up to 4 dimensions (NCHW for images, (N, F) for features), a float value buffer
 * and, when it depends on a trainable tensor, a float gradient buffer. Layers are
 * compositions of ops: a dense layer is matmul + bias_add, a residual block is
 * alig_ad_add(x, f(x)), an LSTM cell is matmul, slice, sigmoid, tanh, mul and add.
 *
 * Parameters live in an arena (alig_ad_params) that owns ONE contiguous float vector x[n]
 * and ONE gradient vector g[n]; every trainable tensor is a view into them, so the solver
 * core (solver.h with ALIG_F32) drives a net exactly as it drives a convex problem:
 * ‖g‖², the step and the L2-ball projection act on x and g as flat vectors. Non-trainable
 * state (batch-norm running averages) lives in a separate buffer array of the same arena,
 * outside x. Several graphs may share one arena, e.g. a training graph and an evaluation
 * graph with another batch size.
 *
 * @code
 *   alig_ad_params *P;  alig_ad_graph *G;  int w1, b1;
 *   alig_ad_params_alloc(&P);
 *   alig_ad_params_add(P, 2, (int[]){ 784, 10 }, &w1);           // declare shapes first
 *   alig_ad_params_add(P, 1, (int[]){ 10 }, &b1);
 *   alig_ad_graph_alloc(&G, P, 42);                              // dropout seed 42
 *   alig_ad_node *x = alig_ad_input(G, 2, (int[]){ 128, 784 });
 *   alig_ad_node *y = alig_ad_input(G, 1, (int[]){ 128 });       // class indices as floats
 *   alig_ad_node *s = alig_ad_bias_add(G, alig_ad_matmul(G, x, alig_ad_param(G, w1), 0, 0),
 *                                      alig_ad_param(G, b1));
 *   alig_ad_node *loss = alig_ad_softmax_ce(G, s, y);
 *   if (alig_ad_graph_compile(G)) puts(alig_ad_graph_error(G)); // seals P: x, g allocated
 *   // initialise alig_ad_params_x(P), then per mini-batch:
 *   memcpy(x->value, batch, ...);  memcpy(y->value, labels, ...);
 *   alig_ad_forward(G, 1);  alig_ad_backward(G, loss);          // g = ∇ loss
 *   alig_solver_step(solver, alig_ad_scalar(loss), alig_ad_params_g(P));
 * @endcode
 *
 * Conventions.
 *   - Op constructors return the new node, or NULL on failure. The first failure is
 *     recorded in the graph (alig_ad_graph_status / alig_ad_graph_error say which op and
 *     which shapes) and every later constructor returns NULL, so a model can be built as
 *     one expression and checked once. A NULL operand with a clean status is ALIG_EINVAL,
 *     except where an argument is documented as optional.
 *   - Shapes are checked at construction; nothing is allocated before compile.
 *   - Elementwise ops need identical shapes (no broadcasting); bias_add broadcasts a
 *     vector over axis 1; concat and slice act on axis 1 (channels / features).
 *   - backward() sets g to the gradient of one scalar loss node: it zeroes g and every
 *     activation gradient, then accumulates (+=) through the graph, so a node feeding
 *     several consumers (or a parameter used twice) receives the sum.
 *   - Labels are INPUT nodes of shape (N) holding class indices as floats (exact below
 *     2^24); forward returns ALIG_EINVAL if one is not an integer in [0, C). Targets and
 *     labels never receive gradients and must not depend on parameters.
 *   - Dropout randomness is counter-based: element i of dropout node k at training
 *     forward number t keeps its input iff u ≥ p, with u the top 24 bits of SplitMix64
 *     (Steele, Lea & Flood 2014) at counter i of a stream keyed by (seed, k, t). The masks
 *     thus do not depend on the number of OpenMP threads. t counts training forwards of
 *     this graph (alig_ad_graph_rng / alig_ad_graph_set_rng read and restore it).
 *   - Reductions (losses, sums, bias and batch-norm statistics) accumulate in double, in
 *     a fixed order: results do not depend on the thread count, except within float
 *     rounding inside OpenBLAS sgemm (matmul, conv) and in conv2d's weight gradient when
 *     blocks of images run in parallel (one partial sum per thread).
 *
 * Ownership: the arena owns x, g and the buffers; the graph owns its nodes, activation and
 * gradient buffers and workspaces (node pointers are valid until alig_ad_graph_free). The
 * graph does not own the arena: free graphs first, then the arena. The library never
 * prints or exits. Neither object is safe to use from two threads at once.
 */
#ifndef ALIG_AD_H
#define ALIG_AD_H

#include <stddef.h>
#include <stdint.h>
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ALIG_AD_MAX_DIM 4   /**< tensors have 1 to 4 dimensions */
#define ALIG_AD_MAX_IN 8    /**< most operands of one node (concat of up to 8) */

/** The op vocabulary. One forward/backward pair per op (nets/ops_*.c). */
typedef enum alig_op {
    ALIG_OP_INPUT = 0,      /**< data fed by the caller (no gradient) */
    ALIG_OP_PARAM,          /**< trainable tensor: a view into the arena's x and g */
    ALIG_OP_BUFFER,         /**< non-trainable arena tensor (batch-norm running stats) */
    ALIG_OP_MATMUL,         /**< Y = op(A)·op(B), 2-D, op = identity or transpose (sgemm) */
    ALIG_OP_BIAS_ADD,       /**< y[n,c,...] = x[n,c,...] + b[c] */
    ALIG_OP_CONV2D,         /**< cross-correlation + optional bias, stride, zero padding (im2col + sgemm) */
    ALIG_OP_MAXPOOL2D,      /**< max over windows (first maximum wins ties) */
    ALIG_OP_AVGPOOL2D,      /**< mean over windows, padding counted (PyTorch count_include_pad) */
    ALIG_OP_GLOBAL_AVGPOOL, /**< (N,C,H,W) -> (N,C), mean over H·W */
    ALIG_OP_RELU,           /**< max(x, 0); derivative 0 at x = 0 */
    ALIG_OP_SIGMOID,        /**< 1/(1 + e^−x) */
    ALIG_OP_TANH,           /**< tanh x */
    ALIG_OP_ADD,            /**< a + b */
    ALIG_OP_MUL,            /**< a ⊙ b */
    ALIG_OP_AFFINE,         /**< a·x + c with constants a, c (e.g. 1 − x, x/T) */
    ALIG_OP_CONCAT,         /**< concatenation along axis 1 */
    ALIG_OP_SLICE,          /**< x[:, start:start+len, ...] along axis 1 */
    ALIG_OP_RESHAPE,        /**< same data, new shape (flatten is (N, rest)) */
    ALIG_OP_DROPOUT,        /**< train: x·m/(1−p), m ~ Bernoulli(1−p); eval: x */
    ALIG_OP_BATCHNORM,      /**< per-channel normalisation, batch stats (train) / running (eval), optional fused ReLU */
    ALIG_OP_SOFTMAX,        /**< row softmax of a 2-D tensor */
    ALIG_OP_SUM,            /**< Σ of all elements -> scalar */
    ALIG_OP_SOFTMAX_CE,     /**< mean softmax cross-entropy -> scalar */
    ALIG_OP_HINGE,          /**< mean multi-class hinge (Crammer–Singer), hard or smoothed -> scalar */
    ALIG_OP_BCE_LOGITS,     /**< mean binary cross-entropy on logits -> scalar */
    ALIG_OP_CLIP,           /**< min(max(x, lo), hi); gradient 1 on [lo, hi], ends included */
    ALIG_OP_SIGMOID_CE_MASKED, /**< scale·Σ_b mask_b Σ_c sigmoid cross-entropy on logits -> scalar */
    ALIG_OP_DNC_CONTENT,    /**< DNC cosine content weights, softmax over memory slots */
    ALIG_OP_DNC_USAGE,      /**< DNC usage update (retention by free gates) */
    ALIG_OP_DNC_ALLOCATION, /**< DNC allocation weights through the usage sort */
    ALIG_OP_DNC_WRITE_WEIGHTS, /**< DNC write weights gw·(ga·a + (1 − ga)·c) */
    ALIG_OP_DNC_MEMORY,     /**< DNC memory write: erase then add, one write head */
    ALIG_OP_DNC_LINK,       /**< DNC temporal link matrix update (zero diagonal) */
    ALIG_OP_DNC_PRECEDENCE, /**< DNC precedence weights (1 − Σw)·p + w */
    ALIG_OP_DNC_READ_WEIGHTS, /**< DNC read weights: backward / forward / content mix */
    ALIG_OP_BMM,            /**< batched matrix product (B,M,K)·(B,K,N) -> (B,M,N) */
    ALIG_OP_LSTM_CELL,      /**< fused LSTM cell: gates (B,4H), state (B,2H) -> new state [h, c] (B,2H) */
    ALIG_OP_SEQ_REVERSE,    /**< (T,B,D) -> (T,B,D), each sample's first len_b steps reversed, padding kept */
    ALIG_OP_SEQ_MAXPOOL,    /**< (T,B,D) -> (B,D), max over each sample's first len_b steps */
    ALIG_OP_COUNT
} alig_op;

/** How alig_ad_conv2d computes. Both give the same function up to float rounding. */
typedef enum alig_conv_algo {
    ALIG_CONV_AUTO = 0,         /**< Winograd where eligible with >= 4 input channels (F(4×4) on outputs of
                                     at least 8×8, F(2×2) below), else im2col */
    ALIG_CONV_IM2COL,           /**< im2col + sgemm over blocks of images (any shape) */
    ALIG_CONV_WINOGRAD,         /**< F(2×2, 3×3) Winograd: 3×3 kernels, stride 1, padding 0..2 only */
    ALIG_CONV_WINOGRAD4         /**< F(4×4, 3×3) Winograd: the same shapes, 2.25 multiplications per output, not 4 */
} alig_conv_algo;

/** Options of alig_ad_conv2d. Fields at 0 take the default. */
typedef struct alig_ad_conv_opts {
    int stride_h, stride_w;     /**< stride >= 1 [1] */
    int pad_h, pad_w;           /**< zero padding >= 0 on each side [0] */
    alig_conv_algo algo;        /**< [ALIG_CONV_AUTO]; WINOGRAD on another shape is ALIG_EINVAL */
} alig_ad_conv_opts;

/** Options of the pooling ops. Kernel sizes are required; other fields at 0 take the default. */
typedef struct alig_ad_pool_opts {
    int kh, kw;                 /**< window >= 1 (required) */
    int stride_h, stride_w;     /**< stride >= 1 [window size, as in PyTorch] */
    int pad_h, pad_w;           /**< padding, 0 <= pad <= window/2 [0] */
} alig_ad_pool_opts;

/** Options of alig_ad_batchnorm (PyTorch BatchNorm defaults). */
typedef struct alig_ad_bn_opts {
    double momentum;            /**< running ← (1 − m)·running + m·batch, m in (0, 1] [0.1] */
    double eps;                 /**< ε > 0 added to the variance [1e-5] */
    int relu;                   /**< 1: output max(BN(x), 0), a fused BN → ReLU (one pass less each way) [0] */
    double dropout;             /**< p in [0, 1): inverted dropout on the rectified output in training
                                     (needs relu), fused: no mask stored, a pass less each way [0] */
} alig_ad_bn_opts;
#define ALIG_AD_BN_OPTS_DEFAULT { .momentum = 0.1, .eps = 1e-5, .relu = 0, .dropout = 0.0 }

/** Op-specific parameters of a node (the member named after the op is the valid one). */
typedef union alig_ad_aux {
    struct { int trans_a, trans_b; } matmul;
    alig_ad_conv_opts conv;
    alig_ad_pool_opts pool;
    struct { float a, c; } affine;
    struct { int start, len; } slice;
    struct { float p; } dropout;
    struct { float momentum, eps, p; int relu, donor, shared; } bn;   /* donor: see alig_ad_batchnorm; p: dropout */
    struct { int smooth; } hinge;
    struct { float lo, hi; } clip;
    struct { double scale; } sce;
    struct { int stop_gradient; } usage;
    struct { float forget_bias; } lstm;
} alig_ad_aux;

typedef struct alig_ad_node alig_ad_node;

/** A node. Transparent for reading; write only into an INPUT node's value (after compile). */
struct alig_ad_node {
    alig_op op;
    int ndim;                           /**< 1..ALIG_AD_MAX_DIM */
    int dims[ALIG_AD_MAX_DIM];          /**< dims[ndim..] are 1 */
    size_t size;                        /**< number of elements */
    float *value;                       /**< forward value (NULL before compile) */
    float *grad;                        /**< ∂loss/∂value; NULL when no parameter reaches this node */
    double scalar;                      /**< size-1 nodes: the value in double after forward */
    int n_in;
    alig_ad_node *in[ALIG_AD_MAX_IN];   /**< operands (created before this node) */
    int index;                          /**< position in the graph: creation order is topological */
    int requires_grad;                  /**< 1 if some parameter reaches this node */
    int param_id;                       /**< PARAM / BUFFER: arena id; otherwise −1 */
    alig_ad_aux aux;
    /* private to nets/: op workspace owned by the graph */
    void *work;
    size_t work_bytes;
    int keep;                           /* alig_ad_keep: the value outlives forward and backward */
    unsigned char shared;               /* planned graphs: 1 value, 2 grad inside the graph's arena */
};

/* ------------------------------------------------------------------------- */
/* Parameter arena: one flat x[n], one flat g[n], plus non-trainable buffers */
/* ------------------------------------------------------------------------- */
typedef struct alig_ad_params alig_ad_params;

/** @brief An empty arena. @param out receives it (NULL on failure); free with alig_ad_params_free.
 *  @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM. */
alig_status alig_ad_params_alloc(alig_ad_params **out);

/** @brief Free the arena with x, g and the buffers. NULL-safe. Free its graphs first. */
void alig_ad_params_free(alig_ad_params *P);

/**
 * @brief Declare a trainable tensor (before the arena is sealed). Its values start at 0.
 * @param id  receives its id, for alig_ad_param() and the accessors below.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, or arena already sealed); ALIG_EBADLEN (bad shape);
 *         ALIG_ENOMEM.
 */
alig_status alig_ad_params_add(alig_ad_params *P, int ndim, const int *dims, int *id);

/** @brief Declare a non-trainable buffer tensor, filled with `init` when sealed. Same returns. */
alig_status alig_ad_params_add_buffer(alig_ad_params *P, int ndim, const int *dims, float init, int *id);

/** @brief Allocate x, g (zeroed) and the buffers; no declaration after this. Idempotent.
 *  Called by alig_ad_graph_compile when needed. @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM. */
alig_status alig_ad_params_seal(alig_ad_params *P);

/** @return n, the length of x and g (trainable elements). */
size_t alig_ad_params_n(const alig_ad_params *P);
/** @return the flat parameter vector x[n] (NULL before sealing); owned by the arena. */
float *alig_ad_params_x(alig_ad_params *P);
/** @return the flat gradient vector g[n] (NULL before sealing); owned by the arena. */
float *alig_ad_params_g(alig_ad_params *P);
/** @return the number of buffer elements, and the buffer array (NULL before sealing). */
size_t alig_ad_params_nbuf(const alig_ad_params *P);
float *alig_ad_params_buf(alig_ad_params *P);
/** @return number of declared tensors (ids are 0 .. count−1). */
int alig_ad_params_count(const alig_ad_params *P);
/** @return 1 if tensor `id` is trainable, 0 if it is a buffer, −1 for a bad id. */
int alig_ad_params_trainable(const alig_ad_params *P, int id);
/** @return tensor `id`'s element count (0 for a bad id); copies its shape into ndim/dims if not NULL. */
size_t alig_ad_params_shape(const alig_ad_params *P, int id, int *ndim, int dims[ALIG_AD_MAX_DIM]);
/** @return offset of tensor `id` inside x (trainable) or inside the buffer array. */
size_t alig_ad_params_offset(const alig_ad_params *P, int id);
/** @return pointer to tensor `id`'s values (into x or the buffers), NULL before sealing or bad id. */
float *alig_ad_params_value(alig_ad_params *P, int id);
/** @return pointer to tensor `id`'s gradient (into g), NULL for buffers, before sealing or bad id. */
float *alig_ad_params_grad(alig_ad_params *P, int id);

/* ------------------------------------------------------------------------- */
/* Graph                                                                     */
/* ------------------------------------------------------------------------- */
typedef struct alig_ad_graph alig_ad_graph;

/**
 * @brief An empty graph over arena P (NULL: a graph without parameters).
 * @param seed  dropout seed (any value).
 * @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_ENOMEM. Free with alig_ad_graph_free.
 */
alig_status alig_ad_graph_alloc(alig_ad_graph **out, alig_ad_params *P, uint64_t seed);

/** @brief Free the graph, its nodes and buffers (not the arena). NULL-safe. */
void alig_ad_graph_free(alig_ad_graph *G);

/** @return the first construction / compile failure (ALIG_SUCCESS if none). */
alig_status alig_ad_graph_status(const alig_ad_graph *G);
/** @return a sentence on that failure ("" if none), e.g. "conv2d: input has 3 channels, weight 1". */
const char *alig_ad_graph_error(const alig_ad_graph *G);

/**
 * @brief Allocate activation, gradient and work buffers; seal the arena if needed and bind
 *        parameter nodes to it. No node can be added afterwards. Forward calls it if needed.
 * @return the construction status if a constructor failed; ALIG_ENOMEM; ALIG_SUCCESS.
 */
alig_status alig_ad_graph_compile(alig_ad_graph *G);

/**
 * @brief Compile for forward passes only: like alig_ad_graph_compile, but no activation
 *        gradient is allocated (node->grad stays NULL for every non-parameter node; parameter
 *        nodes still point into the arena's g). alig_ad_backward on such a graph returns
 *        ALIG_EINVAL. Values are also shared by liveness: after a forward, only INPUT
 *        nodes, parameters, buffers and the nodes that no other node reads (the outputs) hold
 *        their own values; an intermediate node's value is overwritten by later nodes. Use it
 *        for evaluation graphs: their memory drops from all activations and gradients to
 *        about the largest few activations.
 * @return as alig_ad_graph_compile; ALIG_EINVAL if G was already compiled for training.
 *         (alig_ad_graph_compile on an inference graph returns ALIG_SUCCESS and changes nothing.)
 */
alig_status alig_ad_graph_compile_inference(alig_ad_graph *G);

/**
 * @brief Compile a training graph whose activations and activation gradients share one block of
 *        memory by liveness (a static plan over one forward + backward step).
 *
 * The step is a timeline: node i's forward runs at time i, its backward at time 2·count − 1 − i.
 * Node i's value lives from its forward to the last time something reads it: the forward of a
 * consumer, the backward of a consumer whose op reads that operand's value (conv2d its input,
 * batchnorm its input, relu its input, matmul both; add, concat, pooling, dropout and the losses
 * none), or its own backward when its op reads its output (batchnorm with the fused ReLU, sigmoid,
 * tanh, softmax). Its gradient lives from the backward of its last consumer (the first to add
 * into it) to its own backward. An operand consumed by an add and nothing else shares the add's
 * gradient buffer, which is then kept until the operand's backward (the add passes its gradient
 * on unchanged, so there is nothing to copy). Buffers whose lives do not overlap share addresses (best fit
 * with coalescing over one arena, 64-byte aligned); results are bitwise those of
 * alig_ad_graph_compile, since only where values are stored changes.
 *
 * What stays readable: after alig_ad_forward, every value backward will read (and the values
 * below); after alig_ad_backward, the values of INPUT nodes, of nodes no other node reads (the
 * loss) and of nodes marked with alig_ad_keep (e.g. the logits), and the parameters' gradient g.
 * Other values and all activation gradients are scratch. A second alig_ad_backward needs a new
 * forward (ALIG_EINVAL otherwise). An op without a recorded backward-read set (the DNC, LSTM
 * and sequence ops) gets private buffers and keeps its operands' values, as in a plain compile.
 * @return as alig_ad_graph_compile; ALIG_EINVAL if G was already compiled in another mode.
 */
alig_status alig_ad_graph_compile_planned(alig_ad_graph *G);

/**
 * @brief Keep node n's value readable after forward and backward in a planned graph
 *        (alig_ad_graph_compile_planned). Before compile. No effect on other graphs.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, a node of another graph, or G compiled).
 */
alig_status alig_ad_keep(alig_ad_graph *G, alig_ad_node *n);

/**
 * @brief Let G, not yet compiled, use the compiled graph donor's shared memory: when G is compiled
 *        (planned or inference), it takes donor's arena if its own plan fits in it, and donor's
 *        convolution scratch if large enough, instead of allocating them. The two graphs must
 *        then never be in use at the same time: a forward of one overwrites what the other's
 *        backward would read and the values it kept. The donor must outlive G and must not
 *        itself borrow. Meant for a training graph at a second batch size (a short last batch).
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, G == donor, G compiled, donor not compiled or a borrower).
 */
alig_status alig_ad_graph_borrow(alig_ad_graph *G, alig_ad_graph *donor);

/**
 * @brief Bytes of activation memory the compiled graph holds: node values and gradients
 *        (the planned arena, or each buffer), op workspaces and the shared scratch, except what it
 *        borrows (alig_ad_graph_borrow); not the parameter arena. 0 before compile.
 */
size_t alig_ad_graph_bytes(const alig_ad_graph *G);

/** @return number of nodes; node i (creation order). */
int alig_ad_graph_size(const alig_ad_graph *G);
alig_ad_node *alig_ad_graph_node(const alig_ad_graph *G, int i);

/** @brief Read and set the dropout stream (seed, number of training forwards so far). */
void alig_ad_graph_rng(const alig_ad_graph *G, uint64_t *seed, uint64_t *step);
void alig_ad_graph_set_rng(alig_ad_graph *G, uint64_t seed, uint64_t step);

/**
 * @brief Evaluate every node in creation order.
 * @param train  1: training mode (dropout active, batch norm uses and updates batch
 *               statistics, the dropout counter advances); 0: evaluation mode.
 * @return ALIG_SUCCESS; the graph status; ALIG_EINVAL (a label out of range or not an integer);
 *         ALIG_EBADLEN (training batch norm with one value per channel); ALIG_ENOMEM.
 */
alig_status alig_ad_forward(alig_ad_graph *G, int train);

/**
 * @brief Gradient of the scalar node `loss` after forward: zeroes g and the activation
 *        gradients, then accumulates through every node the loss depends on, in the mode
 *        of the last forward.
 * @return ALIG_SUCCESS; ALIG_EINVAL (no forward yet, loss not of this graph, an inference graph);
 *         ALIG_EBADLEN (loss has more than one element).
 */
alig_status alig_ad_backward(alig_ad_graph *G, alig_ad_node *loss);

/** @return the value of a size-1 node in double (the loss ops keep their double sum). */
double alig_ad_scalar(const alig_ad_node *n);

/** @return the op's name ("conv2d"), "?" for an unknown op. */
const char *alig_ad_op_name(alig_op op);

/* ------------------------------------------------------------------------- */
/* Profiler: wall time per node                                              */
/* ------------------------------------------------------------------------- */
/**
 * @brief Turn the per-node wall-time profiler on or off (off when a graph is allocated).
 *
 * While on, alig_ad_forward adds the CLOCK_MONOTONIC time of each node's forward call to that
 * node's forward accumulator, and alig_ad_backward adds the time of each backward call to its
 * backward accumulator and the time of zeroing the gradients (the activation gradients and the
 * arena's g) to a separate total; each completed pass increments a forward or backward count.
 * Leaves (input, param, buffer) run no code and stay at 0, as do nodes backward skips (no
 * parameter reaches them, or the loss does not depend on them). Times are seconds; a node's
 * total is a sum of intervals nested inside the passes, so the sum over all nodes and the
 * zeroing never exceeds the passes' wall time. Calls between the timed ones (the driver's loop,
 * marking the nodes the loss depends on) are not counted. While off, the drivers never read the
 * clock: the cost is one test of a flag per node.
 *
 * @param on  non-zero: reset every accumulator and count to 0 and start (also when already on:
 *            that is how a caller drops a warm-up pass); 0: stop, keeping the values for reading.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL graph); ALIG_ENOMEM (the accumulators, 2 doubles per
 *         node, are allocated when profiling is first turned on and freed with the graph).
 *         alig_ad_forward may also return ALIG_ENOMEM when nodes were added after turning it on.
 */
alig_status alig_ad_graph_set_profile(alig_ad_graph *G, int on);

/**
 * @brief Seconds accumulated by node i since profiling was last turned on (0 if it never was).
 * @param t_forward, t_backward  receive the forward and backward totals; either may be NULL.
 *                               Divide by the pass counts of alig_ad_graph_profile_totals for
 *                               a per-pass time.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL graph, i outside 0 .. alig_ad_graph_size − 1).
 */
alig_status alig_ad_graph_profile(const alig_ad_graph *G, int i, double *t_forward, double *t_backward);

/**
 * @brief The profiler's totals since it was last turned on (0 if it never was).
 * @param forwards, backwards  receive the number of forward and backward passes completed while
 *                             on (a pass that returned an error is not counted, though the
 *                             nodes it ran are); each may be NULL.
 * @param t_zero               receives the seconds backward spent zeroing gradients; may be NULL.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL graph).
 */
alig_status alig_ad_graph_profile_totals(const alig_ad_graph *G, long *forwards, long *backwards, double *t_zero);

/* ------------------------------------------------------------------------- */
/* Leaves                                                                    */
/* ------------------------------------------------------------------------- */
/** @brief Data node of the given shape; write its value after compile. */
alig_ad_node *alig_ad_input(alig_ad_graph *G, int ndim, const int *dims);
/** @brief View of trainable arena tensor `id` (shape from the declaration). */
alig_ad_node *alig_ad_param(alig_ad_graph *G, int id);
/** @brief View of arena buffer `id` (no gradient). */
alig_ad_node *alig_ad_buffer(alig_ad_graph *G, int id);

/* ------------------------------------------------------------------------- */
/* Ops (each returns the new node, or NULL with the graph status set)        */
/* ------------------------------------------------------------------------- */
/** Y = op(A)·op(B); A (M,K) or (K,M) with trans_a; B (K,N) or (N,K) with trans_b; Y (M,N).
 *  A dense layer with PyTorch's (out,in) weight is matmul(x, W, 0, 1). */
alig_ad_node *alig_ad_matmul(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b, int trans_a, int trans_b);
/** y = x + b broadcast over axis 1: x (N,C[,H,W]), b (C). */
alig_ad_node *alig_ad_bias_add(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *b);
/** y[n,k,p,q] = b[k] + Σ_{c,r,s} w[k,c,r,s]·x[n,c,p·sh−ph+r, q·sw−pw+s] (zero outside);
 *  x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q), P = ⌊(H + 2ph − R)/sh⌋ + 1.
 *  @param b     bias (K), or NULL for none (fused: cheaper than a separate bias_add).
 *  @param opts  NULL = stride 1, no padding. */
alig_ad_node *alig_ad_conv2d(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *w, alig_ad_node *b,
                             const alig_ad_conv_opts *opts);
/** Max over kh×kw windows of (N,C,H,W); padded cells never win. Output size as conv2d. */
alig_ad_node *alig_ad_maxpool2d(alig_ad_graph *G, alig_ad_node *x, const alig_ad_pool_opts *opts);
/** Window sum / (kh·kw) (padding counted as zeros). */
alig_ad_node *alig_ad_avgpool2d(alig_ad_graph *G, alig_ad_node *x, const alig_ad_pool_opts *opts);
/** (N,C,H,W) -> (N,C): mean over each H×W plane. */
alig_ad_node *alig_ad_global_avgpool(alig_ad_graph *G, alig_ad_node *x);
alig_ad_node *alig_ad_relu(alig_ad_graph *G, alig_ad_node *x);
alig_ad_node *alig_ad_sigmoid(alig_ad_graph *G, alig_ad_node *x);
alig_ad_node *alig_ad_tanh(alig_ad_graph *G, alig_ad_node *x);
/** a + b, same shapes. */
alig_ad_node *alig_ad_add(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b);
/** a ⊙ b, same shapes. */
alig_ad_node *alig_ad_mul(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b);
/** a·x + c, constants a and c. */
alig_ad_node *alig_ad_affine(alig_ad_graph *G, alig_ad_node *x, double a, double c);
/** Concatenate 1..ALIG_AD_MAX_IN tensors along axis 1 (other dims equal). */
alig_ad_node *alig_ad_concat(alig_ad_graph *G, int n, alig_ad_node *const *xs);
/** x[:, start:start+len, ...] (axis 1), 0 <= start, len >= 1, start + len <= dims[1]. */
alig_ad_node *alig_ad_slice(alig_ad_graph *G, alig_ad_node *x, int start, int len);
/** Same elements, new shape (sizes must match). */
alig_ad_node *alig_ad_reshape(alig_ad_graph *G, alig_ad_node *x, int ndim, const int *dims);
/** (N, d1, ...) -> (N, d1·d2·...). */
alig_ad_node *alig_ad_flatten(alig_ad_graph *G, alig_ad_node *x);
/** Inverted dropout with drop probability p in [0, 1); identity in evaluation mode. */
alig_ad_node *alig_ad_dropout(alig_ad_graph *G, alig_ad_node *x, double p);
/**
 * Batch normalisation over axis 1 of x (N,C) or (N,C,H,W) (Ioffe & Szegedy 2015), statistics
 * over the M = N·H·W values of each channel:
 *   train: y = γ·(x − μ_B)/√(σ²_B + ε) + β, σ²_B biased; running_mean ← (1−m)·rm + m·μ_B,
 *          running_var ← (1−m)·rv + m·σ²_B·M/(M−1) (unbiased), as PyTorch;
 *   eval:  y = γ·(x − rm)/√(rv + ε) + β, running averages untouched.
 * @param gamma, beta  (C) trainable nodes, or both NULL for no affine part (γ = 1, β = 0).
 * @param running_mean, running_var  (C) BUFFER nodes (declare with init 0 and 1).
 * @param opts  NULL = ALIG_AD_BN_OPTS_DEFAULT.
 * When x is concat(p, …) and an earlier batch norm of this graph with the same ε normalises p
 * itself (DenseNet's running concatenation), a training forward takes the batch statistics of
 * x's first channels from that one (aux.bn.donor: its node index, −1 if none; aux.bn.shared: the
 * channels) instead of summing them again: the same numbers, computed once.
 * With opts->dropout = p > 0 (and relu) a training forward multiplies the rectified output by the
 * mask alig_ad_dropout would draw for a node of this index (the graph's dropout stream): the
 * same function as batchnorm(relu) followed by alig_ad_dropout, one node and no stored mask.
 */
alig_ad_node *alig_ad_batchnorm(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *gamma, alig_ad_node *beta,
                                alig_ad_node *running_mean, alig_ad_node *running_var,
                                const alig_ad_bn_opts *opts);
/** Softmax of each row of a 2-D tensor (N,C). */
alig_ad_node *alig_ad_softmax(alig_ad_graph *G, alig_ad_node *x);
/** Σ of all elements, a scalar (shape (1)). */
alig_ad_node *alig_ad_sum(alig_ad_graph *G, alig_ad_node *x);
/** (1/N) Σ_i −log softmax(s_i)[y_i]; scores (N,C), labels (N). */
alig_ad_node *alig_ad_softmax_ce(alig_ad_graph *G, alig_ad_node *scores, alig_ad_node *labels);
/**
 * Multi-class hinge of Crammer & Singer (2001) as in Deep Frank-Wolfe (Berrada, Zisserman &
 * Kumar, ICLR 2019; code github.com/oval-group/dfw, dfw/losses/hinge.py; docs/training.md):
 *   aug_ij = s_ij + [j ≠ y_i] − s_iy;   loss = (1/N) Σ_i Σ_j ξ_ij·aug_ij, ξ held constant;
 *   hard:   ξ_i = onehot(argmax_j aug_ij) (first maximum), i.e. max_j aug_ij;
 *   smooth: ξ_i = softmax(s_i) (temperature 1, raw scores), replaced by the hard ξ_i on rows
 *           where Σ_j ξ_ij·aug_ij < 0.
 * Backward: ∂loss/∂s_i = (ξ_i − e_{y_i})/N. For `hard` this is a subgradient of the loss;
 * for `smooth` it is DFW's surrogate (ξ not differentiated), NOT the gradient of the
 * smoothed value, so a finite-difference check of the smooth loss is expected to fail.
 * @param smooth 0 = hard, 1 = smoothed.
 */
alig_ad_node *alig_ad_hinge(alig_ad_graph *G, alig_ad_node *scores, alig_ad_node *labels, int smooth);
/** (1/n) Σ max(z,0) − z·t + log(1 + e^−|z|) over all n elements; targets t in [0,1], same shape. */
alig_ad_node *alig_ad_bce_logits(alig_ad_graph *G, alig_ad_node *logits, alig_ad_node *targets);

/* ------------------------------------------------------------------------- */
/* DNC memory access (addressing)                                            */
/* ------------------------------------------------------------------------- */
/* The addressing of the Differentiable Neural Computer (Graves et al., "Hybrid computing using a
 * neural network with dynamic external memory", Nature 538, 2016) as DeepMind's public code computes
 * it in float32 (github.com/deepmind/dnc, dnc/addressing.py and dnc/access.py), with one write head.
 * Shapes are batch first: B samples, N memory slots of W floats, R read heads, H heads of a content
 * lookup. Any operand may be an INPUT without gradient (the zero states of t = 0). Gradients are the
 * ones TensorFlow's autodiff gives that code, except that products are differentiated as the product
 * of the other factors, never by division, so a factor that is exactly 0 gives a finite gradient where
 * TensorFlow 1.x gives NaN. Shapes are checked at construction (ALIG_EBADLEN, or ALIG_EINVAL for a bad
 * argument, with a message naming the op and the shapes); returned nodes are owned by the graph.
 * docs/dnc_ops_addr.md derives every gradient. */

/**
 * @brief Clip: y = min(max(x, lo), hi), any shape (the DNC clips its controller and outputs to ±20).
 *        Gradient: dx = dy where lo <= x <= hi, both ends included, 0 elsewhere (TensorFlow's
 *        minimum/maximum gradients, tf.clip_by_value). NaN passes through.
 * @param lo, hi  bounds, lo <= hi, rounded to float; otherwise ALIG_EINVAL.
 * @return the node (shape of x), or NULL with the graph status set.
 */
alig_ad_node *alig_ad_clip(alig_ad_graph *G, alig_ad_node *x, double lo, double hi);

/**
 * @brief Masked sigmoid cross-entropy on logits, a scalar:
 *        L = scale·Σ_b mask_b Σ_c [max(x,0) − x·z + log1p(e^{−|x|})]   (tf.nn.sigmoid_cross_entropy_with_logits),
 *        accumulated in double (node->scalar). Gradient: scale·mask_b·([x >= 0] − z − sgn(x)·e/(1+e)),
 *        e = e^{−|x|}, sgn(0) = +1: TensorFlow's derivative of that stable expression, equal to σ(x) − z
 *        in exact arithmetic but not rounded to 0 when σ(x) rounds to 1 (−2.06e-9 at x = 20, z = 1).
 *        A DNC step uses scale = 1/B; the loss of a sequence is the sum of its steps' nodes.
 * @param logits   (B,C).
 * @param targets  (B,C), no gradient (must not depend on parameters).
 * @param mask     (B), no gradient; NULL means all ones.
 * @param scale    finite constant factor.
 * @return the scalar node (shape (1)), or NULL with the graph status set.
 */
alig_ad_node *alig_ad_sigmoid_ce_masked(alig_ad_graph *G, alig_ad_node *logits, alig_ad_node *targets,
                                        alig_ad_node *mask, double scale);

/**
 * @brief DNC content weights (cosine similarity sharpened by a strength, softmax over slots):
 *        c[b,h,i] = softmax_i( softplus(s[b,h])·⟨k_bh, M_bi⟩ / (‖k_bh‖_ε·‖M_bi‖_ε + ε) ),
 *        ‖a‖_ε = sqrt(Σ a² + ε), ε = 1e−6 (both ε as in DeepMind's CosineWeights; the strength goes
 *        through softplus, not the paper's oneplus). Gradients to keys, strengths and memory.
 * @param keys       (B,H,W).
 * @param strengths  (B,H), raw (before softplus).
 * @param memory     (B,N,W).
 * @return the (B,H,N) node, or NULL with the graph status set.
 */
alig_ad_node *alig_ad_dnc_content(alig_ad_graph *G, alig_ad_node *keys, alig_ad_node *strengths,
                                  alig_ad_node *memory);

/**
 * @brief DNC usage update (DeepMind's Freeness, one write head):
 *        ω = ww_prev, u' = u_prev + (1 − u_prev)·ω, ψ = Π_r (1 − f_r·wr_prev[r]), u = u'·ψ.
 *        ω is formed as 1 − (1 − ww_prev) in float, as the reference's 1 − Π_k(1 − w_k).
 * @param u_prev      (B,N) previous usage.
 * @param ww_prev     (B,N) previous write weights.
 * @param free_gates  (B,R) free gates (after the sigmoid).
 * @param wr_prev     (B,R,N) previous read weights.
 * @param stop_gradient  1: no gradient reaches ww_prev (the reference's tf.stop_gradient, so the
 *                       gradient is not the derivative of the loss); 0: the full derivative.
 * @return the (B,N) node, or NULL with the graph status set.
 */
alig_ad_node *alig_ad_dnc_usage(alig_ad_graph *G, alig_ad_node *u_prev, alig_ad_node *ww_prev,
                                alig_ad_node *free_gates, alig_ad_node *wr_prev, int stop_gradient);

/**
 * @brief DNC allocation weights, in the float32 form of DeepMind's Freeness._allocation:
 *        û = ε + (1 − ε)·u (ε = 1e−6), n = 1 − û, φ = indices sorting n descending with ties to the
 *        lower index (a stable sort; tf.nn.top_k), a[φ_j] = n[φ_j]·Π_{i<j} (1 − n[φ_i]). The product
 *        runs over 1 − n, not û: equal in exact arithmetic, but 1 − (1 − 1e−6) = 1.0133e−6 in float,
 *        so at u = 0 the weights are (1 − ε)·(1.0133e−6)^j, exactly 0 from j = 8 on. The gradient
 *        holds the permutation φ fixed (TensorFlow passes top_k's gradient through its indices).
 * @param usage  (B,N).
 * @return the (B,N) node, or NULL with the graph status set.
 */
alig_ad_node *alig_ad_dnc_allocation(alig_ad_graph *G, alig_ad_node *usage);
/* DNC memory access (write, link, read)                                     */
/* ------------------------------------------------------------------------- */
/*
 * The memory half of one step of the Differentiable Neural Computer (Graves et al., "Hybrid
 * computing using a neural network with dynamic external memory", Nature 538, 2016), with ONE
 * write head, as in deepmind/dnc (access.py, addressing.py). B is the batch (first in every
 * shape), N the number of memory slots, W the word size, R the number of read heads. Any operand
 * may be an INPUT node (no gradient), e.g. the zero states of t = 0. Each op is differentiable
 * in all its operands; docs/dnc.md gives the gradients. All shapes are checked at construction
 * (ALIG_EBADLEN with a message naming the operand).
 */

/**
 * @brief DNC write weights (Graves et al. 2016, Methods; deepmind/dnc access.py `_write_weights`):
 *        ww[b,i] = gw[b]·(ga[b]·alloc[b,i] + (1 − ga[b])·content[b,i]).
 * @param alloc       allocation weights (B,N).
 * @param content     write content weights (B,N).
 * @param alloc_gate  ga (B,1), in [0,1] (after a sigmoid).
 * @param write_gate  gw (B,1), in [0,1] (after a sigmoid).
 * @return the write weights (B,N), or NULL (graph status set). Nodes are owned by the graph.
 */
alig_ad_node *alig_ad_dnc_write_weights(alig_ad_graph *G, alig_ad_node *alloc, alig_ad_node *content,
                                        alig_ad_node *alloc_gate, alig_ad_node *write_gate);

/**
 * @brief DNC memory write, erase then add (Graves et al. 2016, Methods; deepmind/dnc access.py
 *        `_erase_and_write` with one write head):
 *        M[b,i,k] = M_prev[b,i,k]·(1 − ww[b,i]·erase[b,k]) + ww[b,i]·add[b,k].
 * @param mem_prev  the previous memory (B,N,W).
 * @param ww        write weights (B,N).
 * @param erase     erase vector (B,W), in [0,1] (after a sigmoid).
 * @param add       write (add) vector (B,W).
 * @return the new memory (B,N,W), or NULL (graph status set).
 */
alig_ad_node *alig_ad_dnc_memory(alig_ad_graph *G, alig_ad_node *mem_prev, alig_ad_node *ww, alig_ad_node *erase,
                                 alig_ad_node *add);

/**
 * @brief DNC temporal link matrix (Graves et al. 2016, Methods; deepmind/dnc
 *        addressing.py `TemporalLinkage._link`):
 *        L[b,i,j] = (1 − ww[b,i] − ww[b,j])·L_prev[b,i,j] + ww[b,i]·p_prev[b,j] for i ≠ j, L[b,i,i] = 0.
 *        The diagonal is a constant: a gradient arriving there reaches no operand.
 * @param link_prev  the previous link matrix (B,N,N).
 * @param ww         this step's write weights (B,N).
 * @param prec_prev  the PREVIOUS precedence weights (B,N).
 * @return the new link matrix (B,N,N), or NULL (graph status set).
 */
alig_ad_node *alig_ad_dnc_link(alig_ad_graph *G, alig_ad_node *link_prev, alig_ad_node *ww, alig_ad_node *prec_prev);

/**
 * @brief DNC precedence weights (Graves et al. 2016, Methods; deepmind/dnc
 *        addressing.py `TemporalLinkage._precedence_weights`):
 *        p[b,i] = (1 − Σ_j ww[b,j])·p_prev[b,i] + ww[b,i], the sum taken in double.
 * @param prec_prev  the previous precedence weights (B,N).
 * @param ww         this step's write weights (B,N).
 * @return the new precedence weights (B,N), or NULL (graph status set).
 */
alig_ad_node *alig_ad_dnc_precedence(alig_ad_graph *G, alig_ad_node *prec_prev, alig_ad_node *ww);

/**
 * @brief DNC read weights (Graves et al. 2016, Methods; deepmind/dnc access.py `_read_weights`
 *        with one write head):
 *        f[b,r,i] = Σ_j L[b,i,j]·wr_prev[b,r,j],  bk[b,r,j] = Σ_i L[b,i,j]·wr_prev[b,r,i],
 *        wr[b,r,i] = modes[b,r,2]·content[b,r,i] + modes[b,r,1]·f[b,r,i] + modes[b,r,0]·bk[b,r,i].
 * @param link     the NEW link matrix (B,N,N).
 * @param wr_prev  the previous read weights (B,R,N).
 * @param modes    read modes (B,R,3) after a softmax, in the order (backward, forward, content).
 * @param content  read content weights (B,R,N).
 * @return the new read weights (B,R,N), or NULL (graph status set). The node keeps f and bk in a
 *         workspace (4·B·R·N floats, with the backward's scratch) for its backward.
 */
alig_ad_node *alig_ad_dnc_read_weights(alig_ad_graph *G, alig_ad_node *link, alig_ad_node *wr_prev,
                                       alig_ad_node *modes, alig_ad_node *content);

/**
 * @brief Batched matrix product, C[b] = A[b]·B[b] for every b (the DNC's reads r = wr·M are
 *        bmm(wr (B,R,N), M (B,N,W)) -> (B,R,W)). One sgemm per sample (float accumulation).
 * @param a  (B,M,K).
 * @param b  (B,K,N).
 * @return C (B,M,N), or NULL (graph status set).
 */
alig_ad_node *alig_ad_bmm(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b);

/* ------------------------------------------------------------------------- */
/* Gradient check (nets/gradcheck.c)                                         */
/* ------------------------------------------------------------------------- */
/** Options of alig_ad_gradcheck. Fields at 0 take the default. */
typedef struct alig_ad_gradcheck_opts {
    double h;               /**< central-difference step on each coordinate of x [1e-3] */
    size_t max_coords;      /**< check at most this many coordinates, drawn at random [all] */
    unsigned long seed;     /**< GSL RNG seed for that draw [1] */
    int eval;               /**< 1: check in evaluation mode; 0: training mode [0] */
} alig_ad_gradcheck_opts;

typedef struct alig_ad_gradcheck_result {
    size_t checked;         /**< coordinates compared */
    double max_err;         /**< max_i |a_i − d_i| / max(|a_i|, |d_i|, floor), floor = 1e-2·‖a‖∞ (at least 1e-6) */
    double max_abs_err;     /**< max_i |a_i − d_i| */
    size_t worst;           /**< coordinate of x with the largest max_err */
    double max_abs_grad;    /**< ‖a‖∞ over all of g: the non-triviality guard (0 means nothing was tested) */
    double max_abs_fd;      /**< max_i |d_i| over checked coordinates */
} alig_ad_gradcheck_result;

/**
 * @brief Compare g from backward (a) with central differences of the loss (d), computed in
 *        double from the loss values at x_i ± h (the actual float perturbation is used as
 *        the divisor). The dropout counter is rewound before each forward so every
 *        evaluation sees the same masks; x and the arena buffers (running statistics) are
 *        restored afterwards; g holds the analytic gradient on return.
 * @param opts  NULL = defaults.
 * @return ALIG_SUCCESS, ALIG_EINVAL (no arena, or no trainable element), a forward/backward
 *         status, ALIG_ENOMEM.
 */
alig_status alig_ad_gradcheck(alig_ad_graph *G, alig_ad_node *loss, const alig_ad_gradcheck_opts *opts,
                              alig_ad_gradcheck_result *res);

/* ------------------------------------------------------------------------- */
/* Recurrent cells                                                           */
/* ------------------------------------------------------------------------- */
/**
 * @brief One LSTM step (Hochreiter & Schmidhuber 1997, in the form without peepholes of Sonnet's
 *        snt.LSTM and TensorFlow's BasicLSTMCell) from precomputed gate pre-activations:
 *          z = (i, j, f, o) blocks of H columns,  c = σ(f + forget_bias)⊙c_prev + σ(i)⊙tanh(j),
 *          h = tanh(c)⊙σ(o);  the output packs the new state as [h, c] (B, 2H).
 *        Gradients to z and to state_prev's c half (its h half is not read: the caller feeds h_prev
 *        into z through its own matmul). One node instead of the fourteen of the composition
 *        (slices, sigmoids, tanhs, products, sums); the same function, its sigmoid and tanh correctly
 *        rounded from double (the generic ops use libm's float functions: last-bit differences).
 * @param z            (B, 4H) gate pre-activations, column blocks in the order i, j, f, o.
 * @param state_prev   (B, 2H) the previous output [h_prev, c_prev], or NULL for a zero c_prev.
 * @param forget_bias  constant added to f before its sigmoid (1 in Sonnet and TensorFlow).
 * @return the node (B, 2H), or NULL with the graph status set.
 */
alig_ad_node *alig_ad_lstm_cell(alig_ad_graph *G, alig_ad_node *z, alig_ad_node *state_prev, double forget_bias);

/* ------------------------------------------------------------------------- */
/* Variable-length sequences (nets/ops_seq.c)                                */
/* ------------------------------------------------------------------------- */
/* A batch of B sequences padded to T steps is a time-major tensor (T,B,D): step t of sample b is
 * the row x[t,b,:]. `lengths` is a node of shape (B) holding each sample's length as a float, an
 * integer in [1, T] (exact below 2^24), read at every forward: a value outside that range or not
 * an integer makes alig_ad_forward return ALIG_EINVAL. It receives no gradient and must not depend
 * on parameters (an INPUT node). include/alig/rnn.h builds the Bi-LSTM encoder from these. */

/**
 * @brief Per-sample time reversal within each sample's length (the input of the backward LSTM of
 *        a bidirectional layer, Graves & Schmidhuber 2005):
 *          y[t,b,:] = x[len_b − 1 − t, b, :] for t < len_b,   y[t,b,:] = x[t,b,:] for t >= len_b,
 *        so the reversed sequence starts at the sample's last real element and the padding stays in
 *        place. The map is its own inverse (reversing twice gives x back); the gradient is the same
 *        permutation of dy.
 * @param x        (T,B,D).
 * @param lengths  (B), no gradient.
 * @return the (T,B,D) node, or NULL with the graph status set.
 */
alig_ad_node *alig_ad_seq_reverse(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *lengths);

/**
 * @brief Max-pooling over time with masks (the sentence embedding of InferSent's BLSTM-max encoder,
 *        Conneau et al. 2017): y[b,d] = max_{t < len_b} x[t,b,d]; padded steps never take part.
 *        Ties go to the first (smallest) t; a NaN wins over numbers (so it propagates). Gradient:
 *        dx[t*,b,d] += dy[b,d] at the winning step t*, 0 elsewhere (a subgradient at ties).
 * @param x        (T,B,D).
 * @param lengths  (B), no gradient.
 * @return the (B,D) node, or NULL with the graph status set. The node keeps the winning steps
 *         (B·D int32) in its workspace for the backward pass.
 */
alig_ad_node *alig_ad_seq_maxpool(alig_ad_graph *G, alig_ad_node *x, alig_ad_node *lengths);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_AD_H */
