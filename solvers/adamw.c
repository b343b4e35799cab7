/* adamw.c - AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019) in
 * the PyTorch convention (torch.optim.AdamW; docs/optimizers.md):
 *   w ← w(1 − lr·λ)  first, then the Adam step of adam.c with the gradient g unmodified,
 * default λ = 1e-2 (torch default); amsgrad and legacy_eps as for Adam. The decay multiplies by
 * lr, as PyTorch does; the paper scales it by the schedule multiplier η_t instead, which is the
 * same for a constant learning rate up to the choice of λ. State and step live in adam.c. */
#include <stddef.h>
#include "methods.h"

static const alig_params_adamw defaults = ALIG_PARAMS_ADAMW_DEFAULT;
static const alig_param_desc desc[] = ALIG_ADAM_PARAM_DESC("decoupled weight decay lambda: w <- w(1 - lr*lambda) first");

static alig_status adamw_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    return alig_adam_alloc(state, params, dtype, n, 1);
}

const alig_solver_type alig_type_adamw = {
    .name = "adamw",
    .summary = "AdamW (PyTorch): w <- w(1 - lr*lambda), then the Adam step; Loshchilov & Hutter 2019",
    .flags = 0,
    .params_size = sizeof(alig_params_adamw),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(alig_adam_state),
    .validate = alig_adam_validate,
    .alloc = adamw_alloc,
    .reset = alig_adam_reset,
    .iterate = alig_adam_iterate,
    .free = alig_adam_free,
    .state_blocks = alig_adam_state_blocks,
};
