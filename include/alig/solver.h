/**
 * @file solver.h
 * @brief First-order step rules (ALI-G and baselines) over flat parameter vectors.
 *
 * Design (GSL multimin style): every method is a const `alig_solver_type`
 * table; `alig_solver` is the generic object wrapping one. The caller owns
 * the loop and the oracle:
 *
 * @code
 *   alig_params_alig p = ALIG_PARAMS_ALIG_DEFAULT;   // designated initializers; in an
 *                                                     // expression: (alig_params_alig)ALIG_PARAMS_ALIG_DEFAULT
 *   p.eta = 0.1; p.momentum = 0.9;
 *   alig_solver *s;
 *   int rc = alig_solver_alloc(&s, alig_solver_alig, ALIG_F64, n, &p);
 *   rc = alig_solver_set(s, w, INFINITY);           // binds w (caller-owned), projects onto the ball
 *   for (t = 0; t < T; t++) {
 *       loss = my_oracle(w, g);                      // mini-batch mean loss and its gradient
 *       if ((rc = alig_solver_step(s, loss, g))) break;   // w updated in place
 *   }
 *   alig_solver_free(s);
 * @endcode
 *
 * One core, two precisions: the same type table drives `double` vectors
 * (convex problems) and `float` vectors (neural nets). Step-size logic is
 * scalar code in double, written once per method; the per-element work goes
 * through a small table of vector kernels instantiated for both element types
 * (solvers/kernels_tmpl.h). Reductions (‖g‖², dot products) accumulate in
 * double whatever the element type.
 *
 * Ownership: the solver never owns the parameter vector `x` nor the gradient;
 * it owns its own state (momentum buffers etc.), freed by alig_solver_free().
 * The library never prints or exits.
 */
#ifndef ALIG_SOLVER_H
#define ALIG_SOLVER_H

#include <stddef.h>
#include <math.h>
#include "alig/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Element type of the parameter and gradient vectors. */
typedef enum alig_dtype { ALIG_F64 = 0, ALIG_F32 = 1 } alig_dtype;

/* ------------------------------------------------------------------------- */
/* Parameter descriptors: let the CLI and users list, print and set fields   */
/* of any method's parameter struct generically.                             */
/* ------------------------------------------------------------------------- */
typedef enum alig_param_kind {
    ALIG_PARAM_DOUBLE,      /**< double; "inf" accepted where the field allows INFINITY */
    ALIG_PARAM_BOOL,        /**< int used as 0/1 */
    ALIG_PARAM_ENUM,        /**< int indexing `choices` */
    ALIG_PARAM_LIST         /**< alig_double_list (e.g. milestones) */
} alig_param_kind;

#define ALIG_LIST_MAX 16
/** A short fixed-capacity list of doubles inside a parameter struct (no ownership). */
typedef struct alig_double_list { size_t n; double v[ALIG_LIST_MAX]; } alig_double_list;

typedef struct alig_param_desc {
    const char *name;           /**< flag name without dashes, e.g. "eta" */
    alig_param_kind kind;
    size_t offset;              /**< offsetof(params struct, field) */
    const char *help;           /**< one line */
    const char *const *choices; /**< ALIG_PARAM_ENUM only: NULL-terminated names */
} alig_param_desc;

/* ------------------------------------------------------------------------- */
/* Type table                                                                */
/* ------------------------------------------------------------------------- */
struct alig_kernels;   /* private vector-kernel table (solvers/kernels.h) */

/** What a method's iterate() sees. `x` and `g` are of element type `dtype`. */
typedef struct alig_step_ctx {
    alig_dtype dtype;
    size_t n;
    void *x;                        /**< parameters, updated in place */
    const void *g;                  /**< gradient of `loss` at x */
    double loss;                    /**< the (mini-batch mean) loss at x */
    double gsq;                     /**< ‖g‖², computed by the wrapper in double */
    const struct alig_kernels *k;   /**< kernels for `dtype` */
    double xsq;                     /**< out: ‖x_new‖² if the method computed it, else NAN */
    double step;                    /**< out: step size actually used (clipped) */
    double step_unclipped;          /**< out: step size before clipping */
} alig_step_ctx;

enum {
    ALIG_SOLVER_FULL_ORACLE = 1u << 0   /**< method is deterministic: drive it with f and ∇f (Polyak) */
};

typedef struct alig_solver_type {
    const char *name;                   /**< "alig", "polyak", ... */
    const char *summary;                /**< one line with the step formula and citation */
    unsigned flags;
    size_t params_size;
    const void *params_default;         /**< defaults, as a params struct */
    const alig_param_desc *params_desc; /**< array describing each field */
    size_t n_params_desc;
    size_t state_size;                  /**< bytes of the method's private state */
    /** Check every field; return the field's own status. No allocation. */
    alig_status (*validate)(const void *params);
    /** Initialise `state` (zeroed, state_size bytes) for n elements of dtype; allocate buffers. */
    alig_status (*alloc)(void *state, const void *params, alig_dtype dtype, size_t n);
    /** Reset buffers and counters before a new run (called by alig_solver_set). */
    void (*reset)(void *state, size_t n, const struct alig_kernels *k);
    /** One step: read ctx->x, ctx->g, ctx->loss, ctx->gsq; update ctx->x; fill ctx->step*. */
    alig_status (*iterate)(void *state, alig_step_ctx *ctx);
    /** Free buffers allocated by alloc (not the state block itself). NULL-safe content. */
    void (*free)(void *state);
    /** List the pieces of state that a checkpoint must keep (counters, buffers): fills up to
     *  `max` (pointer, bytes) pairs and returns how many. NULL when the method keeps none. */
    size_t (*state_blocks)(void *state, void **ptr, size_t *bytes, size_t max);
    /** Optional (NULL: nothing to do): an epoch of training ended with validation accuracy `metric`
     *  (higher is better; NAN when none was measured). Epoch schedules (SGD's plateau) act here.
     *  Whatever it changes must live in the blocks listed by state_blocks. */
    alig_status (*epoch_end)(void *state, double metric);
} alig_solver_type;

/* ------------------------------------------------------------------------- */
/* Methods (one file each in solvers/) and their parameters                  */
/* ------------------------------------------------------------------------- */

/** ALI-G (Berrada, Zisserman & Kumar, ICML 2020, Algorithm 1; docs/optimizers.md):
 *  γ = min((ℓ − B)/(‖g‖² + δ), η); γ = 0 if ‖g‖² + δ = 0 or ℓ < B;
 *  w ← Π(w − γg) with standard momentum  v ← μv − γg, w ← w − γg + μv,
 *  or adjusted momentum                 b ← μb − g,  w ← w − γg + γμb.
 *  η = INFINITY gives ALI-G∞. */
typedef struct alig_params_alig {
    double eta;          /**< maximal learning rate η > 0, INFINITY = ALI-G∞ [INFINITY] */
    double delta;        /**< δ >= 0 added to ‖g‖² [1e-5] */
    double lower_bound;  /**< B, uniform lower bound on the loss [0] */
    double momentum;     /**< μ in [0, 1) [0] */
    int adjusted;        /**< 1 = adjusted ("pytorch-like") momentum [0] */
} alig_params_alig;
#define ALIG_PARAMS_ALIG_DEFAULT \
    { .eta = INFINITY, .delta = 1e-5, .lower_bound = 0.0, .momentum = 0.0, .adjusted = 0 }

/** Deterministic Polyak step (Polyak 1987): γ = r·(f − f⋆)/‖∇f‖²; γ = 0 if f < f⋆ or ∇f = 0.
 *  Drive it with the full objective and gradient (flag ALIG_SOLVER_FULL_ORACLE). */
typedef struct alig_params_polyak {
    double f_star;       /**< optimal value f⋆ [0] */
    double relax;        /**< relaxation r in (0, 2) [1] */
} alig_params_polyak;
#define ALIG_PARAMS_POLYAK_DEFAULT { .f_star = 0.0, .relax = 1.0 }

/** APROX truncated model (Asi & Duchi 2019): γ_k = min(α_k, (ℓ − B)/‖g‖²), α_k = α₀ k^(−β), k = 1, 2, ... */
typedef struct alig_params_aprox {
    double lr;           /**< α₀ > 0 [1] */
    double decay;        /**< β in [0, 1] [0.5] */
    double lower_bound;  /**< B [0] */
} alig_params_aprox;
#define ALIG_PARAMS_APROX_DEFAULT { .lr = 1.0, .decay = 0.5, .lower_bound = 0.0 }

/** SGD in the PyTorch convention (torch.optim.SGD documentation): g' = g + λw;
 *  b = g' (first step) or μb + (1 − τ)g'; d = g' + μb (Nesterov) or b; w ← w − α_k d. */
typedef enum alig_schedule { ALIG_SCHEDULE_CONSTANT = 0, ALIG_SCHEDULE_SQRT, ALIG_SCHEDULE_MULTISTEP,
                              ALIG_SCHEDULE_PLATEAU } alig_schedule;
typedef struct alig_params_sgd {
    double lr;                      /**< α₀ > 0 [0.1] */
    int schedule;                   /**< alig_schedule: constant α₀; sqrt α₀/√(k+1); multistep; plateau [constant] */
    alig_double_list milestones;    /**< multistep: step counts k at which α is multiplied by `factor` [] */
    double factor;                  /**< multistep and plateau factor in (0, 1] [0.1] */
    double momentum;                /**< μ in [0, 1) [0] */
    double dampening;               /**< τ in [0, 1] [0] */
    int nesterov;                   /**< 1 = Nesterov (needs μ > 0, τ = 0) [0] */
    double weight_decay;            /**< coupled L2 λ >= 0 [0] */
    int reset_momentum;             /**< multistep: 1 = restart b at each milestone (b = g' at the first step
                                         after it, as at step 0), the WRN reference code's behaviour [0] */
    double patience;                /**< plateau: epochs without a new best validation accuracy after which
                                         α is multiplied by `factor`, a whole number >= 1 [1]; 0 reads as 1 */
    double epoch_decay;             /**< plateau: α is multiplied by this after every epoch, in (0, 1] [1];
                                         0 reads as 1 (no decay). (0 is what a struct filled field by field
                                         before these two fields existed holds.) */
} alig_params_sgd;
/** The plateau schedule (reduce on plateau, as InferSent's SGD: Conneau et al., EMNLP 2017, code
 *  facebookresearch/InferSent train_nli.py, which the ALI-G paper's SNLI baseline reuses): α starts at α₀
 *  and changes only at epoch ends (alig_solver_epoch_end, called by the training loop with the epoch's
 *  validation accuracy a): if a > best: best ← a, bad ← 0; else bad ← bad + 1 and, when bad = patience,
 *  α ← α·factor and bad ← 0; then α ← α·epoch_decay. InferSent's rule is patience 1, factor 1/5,
 *  epoch_decay 0.99. */
#define ALIG_PARAMS_SGD_DEFAULT { .lr = 0.1, .schedule = ALIG_SCHEDULE_CONSTANT, \
    .milestones = { 0, { 0 } }, .factor = 0.1, .momentum = 0.0, .dampening = 0.0, .nesterov = 0, .weight_decay = 0.0, \
    .reset_momentum = 0, .patience = 1.0, .epoch_decay = 1.0 }
/** Defaults of `momentum-tf`, TensorFlow 1.x MomentumOptimizer(lr, 0.9) (tensorflow/core/kernels/training_ops.cc,
 *  ApplyMomentum): a ← μa + g, w ← w − lr·a with a starting at 0. That equals the PyTorch rule above with
 *  μ = 0.9, τ = 0 (PyTorch's first buffer b = g is μ·0 + g), bit for bit, so the row only changes the default μ.
 *  TensorFlow's GradientDescentOptimizer is `sgd` itself (w ← w − lr·g); it has no row of its own.
 *  TensorFlow has no default learning rate; the row keeps sgd's. */
#define ALIG_PARAMS_MOMENTUM_TF_DEFAULT { .lr = 0.1, .schedule = ALIG_SCHEDULE_CONSTANT, \
    .milestones = { 0, { 0 } }, .factor = 0.1, .momentum = 0.9, .dampening = 0.0, .nesterov = 0, .weight_decay = 0.0, \
    .reset_momentum = 0, .patience = 1.0, .epoch_decay = 1.0 }

/** SPS / SPSmax (Loizou et al. 2021): γ = (ℓ − f⋆_B)/(c‖g‖² + ε), capped by γ_b (SPSmax);
 *  γ = 0 when ‖g‖ < 1e-8 or ℓ < f⋆_B. With `smooth`, γ_b,k = τ^(1/n_b)·γ_{k−1}, where a
 *  zero-gradient step does not overwrite γ_{k−1} (the freeze defect of the reference code is avoided). */
typedef struct alig_params_sps {
    double c;                   /**< c > 0 [0.5] */
    double gamma_b;             /**< cap γ_b > 0; INFINITY = plain SPS [INFINITY]; with smooth: initial step [1] if infinite */
    double f_star;              /**< f⋆_B, lower bound of the batch loss [0] */
    double eps;                 /**< ε >= 0 added to the denominator [0] */
    int smooth;                 /**< 1 = 'smooth_iter' cap [0] */
    double tau;                 /**< smoothing growth per epoch τ > 1 [2] */
    double batches_per_epoch;   /**< n_b >= 1 [1] */
} alig_params_sps;
#define ALIG_PARAMS_SPS_DEFAULT { .c = 0.5, .gamma_b = INFINITY, .f_star = 0.0, \
    .eps = 0.0, .smooth = 0, .tau = 2.0, .batches_per_epoch = 1.0 }

/** Adam family in the PyTorch convention (torch.optim.Adam, torch.optim.AdamW): Adam (Kingma & Ba 2015),
 *  AMSGrad (Reddi, Kale & Kumar 2018) and AdamW (Loshchilov & Hutter 2019) share this struct;
 *  the three types differ in their defaults and in how λ acts. With t = 1, 2, ...:
 *    adam, amsgrad:  d = g + λw (coupled L2);   adamw: w ← w(1 − lr·λ) first, then d = g (decoupled)
 *    m ← β1 m + (1 − β1)d;   v ← β2 v + (1 − β2)d²;   u = v, or with amsgrad v̂ ← max(v̂, v), u = v̂
 *    (the max is taken on the raw v, before bias correction, as torch.optim.Adam does);
 *    w ← w − lr/(1 − β1^t) · m/(√u/√(1 − β2^t) + ε)              ε after the corrected √v (PyTorch)
 *    w ← w − lr·√(1 − β2^t)/(1 − β1^t) · m/(√u + ε)   legacy_eps: ε next to the raw √v (ali-g repo's
 *    alig/th/adamw.py and older PyTorch; it amounts to ε_t = ε/√(1 − β2^t), so the two differ early on).
 *  ε = 0 is allowed, but then a coordinate whose gradient has always been 0 divides 0 by 0 and the
 *  step fails with ALIG_ENONFINITE. The reported step size is lr. */
typedef struct alig_params_adam {
    double lr;              /**< learning rate > 0 [1e-3] */
    double beta1;           /**< β1 in [0, 1) [0.9] */
    double beta2;           /**< β2 in [0, 1) [0.999] */
    double eps;             /**< ε >= 0 [1e-8] */
    double weight_decay;    /**< λ >= 0: coupled for adam and amsgrad [0], decoupled for adamw [1e-2] */
    int amsgrad;            /**< 1 = AMSGrad's running max of v [0; 1 for the amsgrad type] */
    int legacy_eps;         /**< 1 = legacy ε placement [0] */
} alig_params_adam;
typedef alig_params_adam alig_params_adamw;     /**< the struct of alig_solver_adamw */
typedef alig_params_adam alig_params_amsgrad;   /**< the struct of alig_solver_amsgrad */
#define ALIG_PARAMS_ADAM_DEFAULT { .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, \
    .weight_decay = 0.0, .amsgrad = 0, .legacy_eps = 0 }
#define ALIG_PARAMS_ADAMW_DEFAULT { .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, \
    .weight_decay = 1e-2, .amsgrad = 0, .legacy_eps = 0 }
#define ALIG_PARAMS_AMSGRAD_DEFAULT { .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, \
    .weight_decay = 0.0, .amsgrad = 1, .legacy_eps = 0 }
/** Defaults of `adam-tf`, TensorFlow 1.x AdamOptimizer (training_ops.cc, ApplyAdam):
 *  α_t = lr·√(1 − β2^t)/(1 − β1^t),  w ← w − α_t·m/(√v + ε), with m = v = 0 at the start and t = 1, 2, ...
 *  That is the legacy_eps form above (ε next to the raw √v, "ε-hat"). The two agree in exact arithmetic;
 *  in floating point TensorFlow writes m ← m + (g − m)(1 − β1), forms β^t by repeated multiplication and
 *  computes (m·α_t)/(√v + ε), so the last bits may differ. */
#define ALIG_PARAMS_ADAM_TF_DEFAULT { .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, \
    .weight_decay = 0.0, .amsgrad = 0, .legacy_eps = 1 }

/** Yogi (Zaheer, Reddi, Sachan, Kale & Kumar, NeurIPS 2018; the ali-g repo's alig/th/yogi.py): Adam with an
 *  additive second moment. d = g + λw (coupled, as the ali-g repo does);
 *    m ← β1 m + (1 − β1)d;   v ← v − (1 − β2)·sign(v − d²)·d²   (sign(0) = 0), v starts at v0;
 *    w ← w − lr·√(1 − β2^t)/(1 − β1^t) · m/(√v + ε)             legacy_eps (default; TF and ali-g)
 *    w ← w − lr/(1 − β1^t) · m/(√v/√(1 − β2^t) + ε)             legacy_eps = 0 (PyTorch-Adam style)
 *  Defaults are those of the ali-g repo's alig/th/yogi.py, used for the Yogi baseline of the ALI-G
 *  paper: lr 1e-3, ε 1e-8, v0 0, legacy form. TensorFlow Addons / TFF defaults are lr 1e-2,
 *  ε 1e-3, v0 1e-6 with the same legacy form: set those three fields to get them. The ali-g
 *  code's amsgrad option is not offered (it fails there: its max buffer is never created). */
typedef struct alig_params_yogi {
    double lr;              /**< learning rate > 0 [1e-3] */
    double beta1;           /**< β1 in [0, 1) [0.9] */
    double beta2;           /**< β2 in [0, 1) [0.999] */
    double eps;             /**< ε >= 0 [1e-8] */
    double v0;              /**< initial value of every v_i, >= 0 [0] */
    double weight_decay;    /**< coupled L2 λ >= 0 [0] */
    int legacy_eps;         /**< 1 = ε next to the raw √v, bias corrections in the step [1] */
} alig_params_yogi;
#define ALIG_PARAMS_YOGI_DEFAULT { .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .v0 = 0.0, \
    .weight_decay = 0.0, .legacy_eps = 1 }

/** AdaGrad in the PyTorch convention (Duchi, Hazan & Singer 2011; torch.optim.Adagrad), t = 1, 2, ...:
 *  d = g + λw;  S ← S + d² (S starts at initial_accumulator);  lr_t = lr/(1 + (t − 1)·lr_decay);
 *  w ← w − lr_t·d/(√S + ε). The reported step size is lr_t. */
typedef struct alig_params_adagrad {
    double lr;                  /**< learning rate > 0 [1e-2] */
    double lr_decay;            /**< lr_decay >= 0 [0] */
    double weight_decay;        /**< coupled L2 λ >= 0 [0] */
    double initial_accumulator; /**< initial value of every S_i, >= 0 [0] */
    double eps;                 /**< ε >= 0 [1e-10] */
} alig_params_adagrad;
#define ALIG_PARAMS_ADAGRAD_DEFAULT { .lr = 1e-2, .lr_decay = 0.0, .weight_decay = 0.0, \
    .initial_accumulator = 0.0, .eps = 1e-10 }
/** Defaults of `adagrad-tf`, TensorFlow 1.x AdagradOptimizer(lr, initial_accumulator_value = 0.1)
 *  (training_ops.cc, ApplyAdagrad): S starts at 0.1, S ← S + g², w ← w − lr·g/√S, with no ε.
 *  As in TensorFlow, initial_accumulator must be > 0 (ALIG_EBADACCUM otherwise).
 *  TensorFlow has no default learning rate; the row keeps adagrad's. */
#define ALIG_PARAMS_ADAGRAD_TF_DEFAULT { .lr = 1e-2, .lr_decay = 0.0, .weight_decay = 0.0, \
    .initial_accumulator = 0.1, .eps = 0.0 }

/** RMSProp (Tieleman & Hinton 2012, Coursera lecture 6e), no bias correction. d = g + λw; v starts at
 *  initial_square_avg, ḡ and b at 0.
 *  PyTorch form (eps_inside = 0; torch.optim.RMSprop):
 *    v ← αv + (1 − α)d²;  u = v, or centered: ḡ ← αḡ + (1 − α)d, u = v − ḡ²;  q = d/(√u + ε);
 *    μ > 0: b ← μb + q, w ← w − lr·b;  else w ← w − lr·q.
 *  TensorFlow form (eps_inside = 1; TensorFlow 1.x RMSPropOptimizer, training_ops.cc ApplyRMSProp and
 *  ApplyCenteredRMSProp):
 *    v ← v + (d² − v)(1 − α);  u = v, or centered: ḡ ← ḡ + (d − ḡ)(1 − α), u = v − ḡ²;
 *    q = lr·d/√(u + ε);  μ > 0: b ← μb + q, w ← w − b;  else w ← w − q.
 *  ε sits inside the square root there, and the learning rate inside the momentum buffer (the same
 *  iterates for a constant lr); the moving average is written as TensorFlow's kernel writes it.
 *  In both forms u is clamped at 0 where rounding takes v − ḡ² below it. The reported step size is lr. */
typedef struct alig_params_rmsprop {
    double lr;              /**< learning rate > 0 [1e-2] */
    double alpha;           /**< smoothing constant (TensorFlow's decay ρ) α in [0, 1) [0.99; 0.9 for rmsprop-tf] */
    double eps;             /**< ε >= 0 [1e-8; 1e-10 for rmsprop-tf] */
    double weight_decay;    /**< coupled L2 λ >= 0 [0] */
    double momentum;        /**< μ in [0, 1) [0] */
    int centered;           /**< 1 = divide by the centred second moment v − ḡ² [0] */
    double initial_square_avg; /**< initial value of every v_i, finite and >= 0 [0; 1 for rmsprop-tf] */
    int eps_inside;         /**< 1 = the TensorFlow form above, ε inside the square root [0; 1 for rmsprop-tf] */
} alig_params_rmsprop;
#define ALIG_PARAMS_RMSPROP_DEFAULT { .lr = 1e-2, .alpha = 0.99, .eps = 1e-8, .weight_decay = 0.0, \
    .momentum = 0.0, .centered = 0, .initial_square_avg = 0.0, .eps_inside = 0 }
/** Defaults of `rmsprop-tf`, TensorFlow 1.x RMSPropOptimizer(lr) with decay 0.9, momentum 0, ε = 1e-10:
 *  the mean square starts at 1 (a ones initializer), ε inside the square root. Its first step is
 *  lr·g/√(0.9 + 0.1g² + ε), where PyTorch's is about 10·lr·sign(g). TensorFlow has no default learning
 *  rate; the row keeps rmsprop's. */
#define ALIG_PARAMS_RMSPROP_TF_DEFAULT { .lr = 1e-2, .alpha = 0.9, .eps = 1e-10, .weight_decay = 0.0, \
    .momentum = 0.0, .centered = 0, .initial_square_avg = 1.0, .eps_inside = 1 }

/** L4 (Rolínek & Martius, "L4: Practical loss-based stepsize adaptation for deep learning", NeurIPS 2018;
 *  code: github.com/martius-lab/l4-optimizer, in the order of operations of the lberrada/l4-optimizer fork).
 *  With s = 0, 1, ... the steps taken since alig_solver_set, J ≥ 0 the loss and β_g = 1 − 1/T_g,
 *  β_v = 1 − 1/T_v:
 *    L_min ← γ0·J if s = 0, else min(L_min, J)
 *    m ← m + (g − m)(1 − β_g);   c_g = 1 − β_g^(s+1);   ĝ = m/c_g          (EMA from 0, no debiasing of its own)
 *    l4mom:  v = ĝ
 *    l4adam: q ← q + (g² − q)(1 − β_v);  c_v = 1 − β_v^(s+1);  v = ĝ/(√(q/c_v) + ε_a)
 *    η = α·(J − γ·L_min)/(⟨v, ĝ⟩ + ε);   w ← w − η·v;   then L_min ← (1 + 1/τ)·L_min
 *  ⟨v, ĝ⟩ is summed over every coordinate in double. The reference keeps two moving averages of g with
 *  identical values (one for ĝ, one for the direction); they share one buffer here. With ALIG_F32 every
 *  state and scalar is rounded to float as TensorFlow's float32 graph does (β^(s+1) as exp((s+1)·log β)).
 *  η is not clipped: a tiny ⟨v, ĝ⟩ gives a huge but finite η (v is tiny then too). A loss < 0 is refused
 *  (ALIG_ENEGLOSS); a non-finite η fails the step with ALIG_ENONFINITE before anything changes. The
 *  reported step size (clipped = unclipped) is η. Both types share this struct; l4mom ignores time_var and
 *  direction_eps. */
typedef struct alig_params_l4 {
    double alpha;           /**< fraction α > 0 of the loss-based step [0.15] */
    double gamma;           /**< γ in [0, 1]: the loss aimed at is γ·L_min [0.9] */
    double gamma0;          /**< γ0 in [0, 1]: L_min starts at γ0·J [0.75] */
    double tau;             /**< forgetting time τ > 0 (inf = never forget) [1000] */
    double eps;             /**< ε >= 0 added to ⟨v, ĝ⟩ [1e-12] */
    double time_grad;       /**< time scale T_g >= 1 of the gradient average [10] */
    double time_var;        /**< l4adam: time scale T_v >= 1 of the squared-gradient average [1000] */
    double direction_eps;   /**< l4adam: ε_a >= 0 added to √(q/c_v) [1e-4] */
} alig_params_l4;
#define ALIG_PARAMS_L4_DEFAULT { .alpha = 0.15, .gamma = 0.9, .gamma0 = 0.75, .tau = 1000.0, .eps = 1e-12, \
    .time_grad = 10.0, .time_var = 1000.0, .direction_eps = 1e-4 }

/** Deep Frank-Wolfe (Berrada, Zisserman & Kumar, "Deep Frank-Wolfe for neural network optimization",
 *  ICLR 2019; code github.com/oval-group/dfw, dfw/dfw.py). Objective ℓ(w) + (λ/2)‖w‖² with ℓ the
 *  UNREGULARISED loss passed to alig_solver_step (a piecewise-linear loss such as the multi-class
 *  hinge) and g its gradient δ; with r = λw, one Frank-Wolfe step on the proximal problem in closed form:
 *    γ = clip((ℓ − η⟨δ, r⟩)/(η‖δ‖² + ε), 0, 1)      (γ = 1 if the denominator is 0 and the numerator > 0, else 0)
 *    w ← w − η(r + γδ);   momentum μ > 0:  z ← μz − ηγ(δ + r),  w ← w + μz
 *  ("standard" Nesterov momentum as the official code writes it; z starts at 0). With λ = 0 and
 *  δ_ALI-G = ε/η the step is ALI-G's (γ_ALI-G = ηγ). Reported step sizes: ηγ and η·(unclipped γ). */
typedef struct alig_params_dfw {
    double eta;             /**< proximal learning rate η > 0, finite [0.1] (the code requires it; CIFAR 1 or 0.1) */
    double momentum;        /**< μ in [0, 1) [0] (0.9 in the paper's experiments) */
    double weight_decay;    /**< λ >= 0 of (λ/2)‖w‖², inside the proximal problem [0] */
    double eps;             /**< ε >= 0 added to η‖δ‖² [1e-5] */
} alig_params_dfw;
#define ALIG_PARAMS_DFW_DEFAULT { .eta = 0.1, .momentum = 0.0, .weight_decay = 0.0, .eps = 1e-5 }

/** BPGrad as the DFW repository implements it (Zhang, Wu & Wang, "BPGrad: towards global optimality in
 *  deep learning via branch and pruning", CVPR 2018; code github.com/oval-group/dfw,
 *  dfw/baselines/bpgrad.py: N = 1, hence m = 1, ρ = 0, and L = 1/η):
 *    f = ℓ + (λ/2)‖w‖²,  d = g + λw,  γ = max(f, 0)/(‖d‖ + ε)   (the norm, not its square; γ = 0 if ‖d‖ + ε = 0)
 *    v ← μv − (γ/L)·d,  w ← w + v                                (v starts at 0)
 *  The reference updates w only when μ ≠ 0 (with μ = 0 it never moves); here μ = 0 is the plain step
 *  w ← w − (γ/L)·d, the same formula with v = 0. Reported step size: γ/L (clipped = unclipped). */
typedef struct alig_params_bpgrad {
    double eta;             /**< η = 1/L > 0, finite [0.1] (DFW repository, CIFAR) */
    double momentum;        /**< μ in [0, 1) [0] (0.9 in the DFW and ALI-G experiments) */
    double weight_decay;    /**< λ >= 0, added to the objective and the gradient [0] */
    double eps;             /**< ε >= 0 added to ‖d‖ [1e-5] */
} alig_params_bpgrad;
#define ALIG_PARAMS_BPGRAD_DEFAULT { .eta = 0.1, .momentum = 0.0, .weight_decay = 0.0, .eps = 1e-5 }

extern const alig_solver_type *const alig_solver_alig;
extern const alig_solver_type *const alig_solver_polyak;
extern const alig_solver_type *const alig_solver_aprox;
extern const alig_solver_type *const alig_solver_sgd;
extern const alig_solver_type *const alig_solver_sps;
extern const alig_solver_type *const alig_solver_adam;
extern const alig_solver_type *const alig_solver_adamw;
extern const alig_solver_type *const alig_solver_amsgrad;
extern const alig_solver_type *const alig_solver_yogi;
extern const alig_solver_type *const alig_solver_adagrad;
extern const alig_solver_type *const alig_solver_rmsprop;
extern const alig_solver_type *const alig_solver_rmsprop_tf;   /**< TensorFlow 1.x RMSProp defaults */
extern const alig_solver_type *const alig_solver_adam_tf;      /**< TensorFlow 1.x Adam defaults */
extern const alig_solver_type *const alig_solver_adagrad_tf;   /**< TensorFlow 1.x Adagrad defaults */
extern const alig_solver_type *const alig_solver_momentum_tf;  /**< TensorFlow 1.x Momentum(0.9) defaults */
extern const alig_solver_type *const alig_solver_l4adam;       /**< L4 with the Adam direction */
extern const alig_solver_type *const alig_solver_l4mom;        /**< L4 with the momentum direction */
extern const alig_solver_type *const alig_solver_dfw;          /**< Deep Frank-Wolfe (alig_params_dfw) */
extern const alig_solver_type *const alig_solver_bpgrad;       /**< BPGrad, DFW repository version */

/** NULL-terminated list of every registered solver type. */
extern const alig_solver_type *const alig_solver_types[];

/** @return the type named `name`, or NULL. */
const alig_solver_type *alig_solver_type_find(const char *name);

/* ------------------------------------------------------------------------- */
/* Generic solver object                                                     */
/* ------------------------------------------------------------------------- */
typedef struct alig_solver alig_solver;

/**
 * @brief Validate `params` (NULL = the type's defaults) and allocate a solver for n elements.
 * @param out    receives the solver; set to NULL on failure. Free with alig_solver_free().
 * @return ALIG_SUCCESS, a parameter's own status (nothing allocated), ALIG_EBADLEN (n = 0),
 *         ALIG_EBADDTYPE or ALIG_ENOMEM.
 */
alig_status alig_solver_alloc(alig_solver **out, const alig_solver_type *type, alig_dtype dtype,
                              size_t n, const void *params);

/**
 * @brief Bind the parameter vector `x` (n elements, caller-owned, updated in place by every step),
 *        reset the method's state and counters, set the L2-ball radius of Ω and project x onto it.
 * @param radius  r > 0, or INFINITY for Ω = ℝⁿ.
 * @return ALIG_SUCCESS, ALIG_EINVAL (NULL), ALIG_EBADRADIUS, ALIG_ENONFINITE (x not finite).
 */
alig_status alig_solver_set(alig_solver *s, void *x, double radius);

/**
 * @brief One step from the loss at x and its gradient g (n elements of the solver's dtype).
 * @return ALIG_SUCCESS; ALIG_ENONFINITE if the loss or ‖g‖² is not finite (x unchanged) or the
 *         new iterate is not finite; ALIG_EINVAL if not set.
 */
alig_status alig_solver_step(alig_solver *s, double loss, const void *g);

/** @brief Free the solver and its state. NULL-safe. Does not touch x. */
void alig_solver_free(alig_solver *s);

/**
 * @brief Tell the solver that a training epoch ended, with the validation accuracy measured after it
 *        (the training loop calls it in epoch mode, before the checkpoint). Epoch schedules act here
 *        (SGD's plateau, alig_params_sgd); every other method ignores it. The change is part of the
 *        exported state.
 * @param metric  validation accuracy (higher is better), NAN when none was measured.
 * @return ALIG_SUCCESS; ALIG_EINVAL (NULL, or NAN for a schedule that needs the accuracy).
 */
alig_status alig_solver_epoch_end(alig_solver *s, double metric);

/* ------------------------------------------------------------------------- */
/* Checkpoints: the solver's own state (momentum buffers, counters, last steps) */
/* ------------------------------------------------------------------------- */
/** @return bytes needed by alig_solver_state_export (a header plus the method's state). */
size_t alig_solver_state_bytes(const alig_solver *s);
/** @brief Copy the solver state into dst (exactly alig_solver_state_bytes(s) bytes).
 *  @return ALIG_SUCCESS, ALIG_EINVAL (NULL), ALIG_EBADLEN (bytes too small). */
alig_status alig_solver_state_export(const alig_solver *s, void *dst, size_t bytes);
/** @brief Restore a state exported from a solver of the same type, dtype and n, after
 *  alig_solver_set. @return ALIG_SUCCESS, ALIG_EINVAL, ALIG_EFORMAT (wrong type, dtype, n or size). */
alig_status alig_solver_state_import(alig_solver *s, const void *src, size_t bytes);

const char *alig_solver_name(const alig_solver *s);
const alig_solver_type *alig_solver_get_type(const alig_solver *s);
/** @return the step size used at the last step (clipped), NAN before the first step. */
double alig_solver_step_size(const alig_solver *s);
/** @return the step size before clipping at the last step, NAN before the first step. */
double alig_solver_step_size_unclipped(const alig_solver *s);
/** @return ‖g‖² of the last step. */
double alig_solver_grad_sumsq(const alig_solver *s);
/** @return number of steps taken since alig_solver_set. */
size_t alig_solver_iter(const alig_solver *s);
/** @return the bound parameter vector (NULL before set). */
void *alig_solver_x(const alig_solver *s);
/** @return the ball radius of Ω (INFINITY if none). */
double alig_solver_radius(const alig_solver *s);

/** @brief Euclidean projection onto {‖x‖ ≤ radius}: x ← x·r/‖x‖ when ‖x‖ > r. No-op for r = INFINITY. */
void alig_project_l2(alig_dtype dtype, size_t n, void *x, double radius);

/** @brief ‖x‖² accumulated in double. */
double alig_vec_sumsq(alig_dtype dtype, size_t n, const void *x);

/* ------------------------------------------------------------------------- */
/* Parameter helpers (used by the CLI; handy for users)                      */
/* ------------------------------------------------------------------------- */
/** @brief Set one named field of a params struct from text ("0.1", "inf", "true", "multistep", "10,20").
 *  Numbers are decimal ("0.1", "-2.5", "1e-3", ".5") or inf / infinity / none for +∞; refused are leading
 *  spaces (" 1"), hexadecimal ("0x10"), nan, empty text, anything after the number ("0.5x"), and values
 *  outside the range of a double ("1e999", or "1e-400", which would round to 0). Booleans: 1 true yes on /
 *  0 false no off; enums: one of the choices, exactly; lists: numbers separated by single commas.
 *  The field is left untouched on failure.
 *  @return ALIG_SUCCESS, ALIG_EINVAL (unknown name / unparsable text). The range of each field is checked
 *          by alig_solver_alloc (the type's validate), which returns the field's own status. */
alig_status alig_params_set(const alig_solver_type *type, void *params, const char *name, const char *text);
/** @brief Format one field's value into buf (e.g. "inf", "0.1", "multistep"). @return buf. */
char *alig_params_format(const alig_param_desc *d, const void *params, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* ALIG_SOLVER_H */
