/* amsgrad.c - AMSGrad (Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018)
 * as PyTorch runs it (torch.optim.Adam(amsgrad=True); docs/optimizers.md): Adam whose
 * denominator uses v̂ = max(v̂, v), the running max of the RAW second moment, then bias-corrected:
 *   w ← w − (lr/(1 − β1^t))·m/(√v̂/√(1 − β2^t) + ε),   coupled L2 d = g + λw.
 * The original paper has no bias correction; PyTorch's form is the one the baselines used. This
 * is the adam type with amsgrad on by default (turning it off gives plain Adam). State and step
 * live in adam.c. */
#include <stddef.h>
#include "methods.h"

static const alig_params_amsgrad defaults = ALIG_PARAMS_AMSGRAD_DEFAULT;
static const alig_param_desc desc[] = ALIG_ADAM_PARAM_DESC("coupled L2 weight decay lambda (added to the gradient)");

static alig_status amsgrad_alloc(void *state, const void *params, alig_dtype dtype, size_t n)
{
    return alig_adam_alloc(state, params, dtype, n, 0);
}

const alig_solver_type alig_type_amsgrad = {
    .name = "amsgrad",
    .summary = "AMSGrad (PyTorch Adam, amsgrad=True): max of the raw second moment; Reddi et al. 2018",
    .flags = 0,
    .params_size = sizeof(alig_params_amsgrad),
    .params_default = &defaults,
    .params_desc = desc,
    .n_params_desc = sizeof desc / sizeof desc[0],
    .state_size = sizeof(alig_adam_state),
    .validate = alig_adam_validate,
    .alloc = amsgrad_alloc,
    .reset = alig_adam_reset,
    .iterate = alig_adam_iterate,
    .free = alig_adam_free,
    .state_blocks = alig_adam_state_blocks,
};
