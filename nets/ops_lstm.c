/* ops_lstm.c - the fused LSTM cell op (ad.h alig_ad_lstm_cell; kernels in lstm_kernels.c).
 * Operands: z (B,4H), optional state_prev (B,2H); output (B,2H) = [h, c]; the node's workspace
 * keeps the four gate activations and tanh(c) (B,5H) for the backward pass. */
#include <math.h>

#include "ad_impl.h"
#include "lstm_kernels.h"

alig_ad_node *alig_ad_lstm_cell(alig_ad_graph *G, alig_ad_node *z, alig_ad_node *state_prev, double forget_bias)
{
    static const char *name = "lstm_cell";
    alig_ad_node *ins[2] = { z, state_prev };
    char sz[64], ss[64];
    if (!alig_ad_check_args(G, name, 1, ins)) return NULL;
    if (z->ndim != 2 || z->dims[1] % 4 != 0)
        return alig_ad_fail(G, ALIG_EBADLEN, name, "gates must be (B, 4H), got %s", alig_ad_shape_str(z, sz, sizeof sz));
    const int B = z->dims[0], H = z->dims[1] / 4;
    if (state_prev && (state_prev->ndim != 2 || state_prev->dims[0] != B || state_prev->dims[1] != 2 * H))
        return alig_ad_fail(G, ALIG_EBADLEN, name, "state must be (B, 2H) = (%d, %d) for gates %s, got %s", B, 2 * H,
                            alig_ad_shape_str(z, sz, sizeof sz), alig_ad_shape_str(state_prev, ss, sizeof ss));
    if (!isfinite(forget_bias))
        return alig_ad_fail(G, ALIG_EINVAL, name, "forget bias must be finite");
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_LSTM_CELL, 2, (int[]){ B, 2 * H }, state_prev ? 2 : 1, ins);
    if (!n) return NULL;
    n->aux.lstm.forget_bias = (float)forget_bias;
    n->work_bytes = (size_t)B * 5 * H * sizeof(float);
    return n;
}

static alig_status lstm_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const int B = n->dims[0], H = n->dims[1] / 2;
    alig_nk_lstm_cell_forward(B, H, n->aux.lstm.forget_bias, n->in[0]->value, n->n_in > 1 ? n->in[1]->value : NULL,
                              n->value, n->work);
    return ALIG_SUCCESS;
}

static void lstm_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const int B = n->dims[0], H = n->dims[1] / 2;
    const alig_ad_node *sp = n->n_in > 1 ? n->in[1] : NULL;
    alig_ad_node *z = n->in[0];
    const int set = z->grad ? alig_ad_grad_claim(G, z) : 0;    /* dz written, not added, when first */
    alig_nk_lstm_cell_backward(B, H, sp ? sp->value : NULL, n->work, n->grad, z->grad, sp ? sp->grad : NULL, set);
}

/* the gates' gradient is written in full (overwrites bit 0); the state's only in its c half */
const alig_ad_opdef alig_ad_def_lstm_cell = { "lstm_cell", lstm_forward, lstm_backward, 1u, 0 };
