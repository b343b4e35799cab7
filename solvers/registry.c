/* registry.c - the list of methods and lookup by name. A new method adds one
 * line to methods.h, one handle and one entry here. */
#include <string.h>
#include "methods.h"

const alig_solver_type *const alig_solver_alig = &alig_type_alig;
const alig_solver_type *const alig_solver_polyak = &alig_type_polyak;
const alig_solver_type *const alig_solver_aprox = &alig_type_aprox;
const alig_solver_type *const alig_solver_sgd = &alig_type_sgd;
const alig_solver_type *const alig_solver_sps = &alig_type_sps;
const alig_solver_type *const alig_solver_adam = &alig_type_adam;
const alig_solver_type *const alig_solver_adamw = &alig_type_adamw;
const alig_solver_type *const alig_solver_amsgrad = &alig_type_amsgrad;
const alig_solver_type *const alig_solver_yogi = &alig_type_yogi;
const alig_solver_type *const alig_solver_adagrad = &alig_type_adagrad;
const alig_solver_type *const alig_solver_rmsprop = &alig_type_rmsprop;
const alig_solver_type *const alig_solver_rmsprop_tf = &alig_type_rmsprop_tf;
const alig_solver_type *const alig_solver_adam_tf = &alig_type_adam_tf;
const alig_solver_type *const alig_solver_adagrad_tf = &alig_type_adagrad_tf;
const alig_solver_type *const alig_solver_momentum_tf = &alig_type_momentum_tf;
const alig_solver_type *const alig_solver_l4adam = &alig_type_l4adam;
const alig_solver_type *const alig_solver_l4mom = &alig_type_l4mom;
const alig_solver_type *const alig_solver_dfw = &alig_type_dfw;
const alig_solver_type *const alig_solver_bpgrad = &alig_type_bpgrad;

const alig_solver_type *const alig_solver_types[] = {
    &alig_type_alig, &alig_type_polyak, &alig_type_aprox, &alig_type_sgd, &alig_type_sps,
    &alig_type_adam, &alig_type_adamw, &alig_type_amsgrad, &alig_type_yogi, &alig_type_adagrad,
    &alig_type_rmsprop, &alig_type_momentum_tf, &alig_type_adam_tf, &alig_type_adagrad_tf, &alig_type_rmsprop_tf,
    &alig_type_l4adam, &alig_type_l4mom, &alig_type_dfw, &alig_type_bpgrad, NULL,
};

const alig_solver_type *alig_solver_type_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; alig_solver_types[i]; i++)
        if (strcmp(alig_solver_types[i]->name, name) == 0) return alig_solver_types[i];
    return NULL;
}
