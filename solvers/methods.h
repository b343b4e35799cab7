/* methods.h - private: the type-table objects defined one per method file.
 * The public handles (alig_solver_alig, ...) point at these. */
#ifndef ALIG_SOLVERS_METHODS_H
#define ALIG_SOLVERS_METHODS_H
#include <stddef.h>
#include "alig/solver.h"

extern const alig_solver_type alig_type_alig;
extern const alig_solver_type alig_type_polyak;
extern const alig_solver_type alig_type_aprox;
extern const alig_solver_type alig_type_sgd;
extern const alig_solver_type alig_type_sps;
extern const alig_solver_type alig_type_adam;
extern const alig_solver_type alig_type_adamw;
extern const alig_solver_type alig_type_amsgrad;
extern const alig_solver_type alig_type_yogi;
extern const alig_solver_type alig_type_adagrad;
extern const alig_solver_type alig_type_rmsprop;
extern const alig_solver_type alig_type_rmsprop_tf;
extern const alig_solver_type alig_type_adam_tf;
extern const alig_solver_type alig_type_adagrad_tf;
extern const alig_solver_type alig_type_momentum_tf;
extern const alig_solver_type alig_type_l4adam;
extern const alig_solver_type alig_type_l4mom;
extern const alig_solver_type alig_type_dfw;
extern const alig_solver_type alig_type_bpgrad;

/* ---- Adam family: adam.c holds the state and the step; adamw.c and amsgrad.c are type tables
 * with their own defaults over the same functions. */
struct alig_kernels;
typedef struct alig_adam_state {
    alig_params_adam p;
    int decoupled;          /* 1: λ decays w directly (AdamW); 0: λ is added to the gradient */
    void *buf;              /* m, v and, with amsgrad, v̂: n elements each, one allocation */
    size_t n, bytes;
    size_t t;               /* steps taken since set() */
} alig_adam_state;

alig_status alig_adam_validate(const void *params);
alig_status alig_adam_alloc(void *state, const void *params, alig_dtype dtype, size_t n, int decoupled);
void alig_adam_reset(void *state, size_t n, const struct alig_kernels *k);
alig_status alig_adam_iterate(void *state, alig_step_ctx *c);
void alig_adam_free(void *state);
size_t alig_adam_state_blocks(void *state, void **ptr, size_t *bytes, size_t max);

/* The descriptors of alig_params_adam; `decay_help` tells how weight decay acts for the type. */
#define ALIG_ADAM_PARAM_DESC(decay_help) {                                                               \
    { "lr", ALIG_PARAM_DOUBLE, offsetof(alig_params_adam, lr), "learning rate", NULL },                     \
    { "beta1", ALIG_PARAM_DOUBLE, offsetof(alig_params_adam, beta1), "first-moment decay beta1 in [0, 1)", NULL }, \
    { "beta2", ALIG_PARAM_DOUBLE, offsetof(alig_params_adam, beta2), "second-moment decay beta2 in [0, 1)", NULL }, \
    { "eps", ALIG_PARAM_DOUBLE, offsetof(alig_params_adam, eps), "epsilon added to the denominator", NULL },  \
    { "weight-decay", ALIG_PARAM_DOUBLE, offsetof(alig_params_adam, weight_decay), decay_help, NULL },      \
    { "amsgrad", ALIG_PARAM_BOOL, offsetof(alig_params_adam, amsgrad), "AMSGrad: running max of the raw second moment", NULL }, \
    { "legacy-eps", ALIG_PARAM_BOOL, offsetof(alig_params_adam, legacy_eps),                                \
      "legacy form: lr*sqrt(1-beta2^t)/(1-beta1^t) * m/(sqrt(v) + eps)", NULL },                            \
}

#endif
