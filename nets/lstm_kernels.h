/* lstm_kernels.h - private to nets/: the fused LSTM cell's forward and backward (lstm_kernels.c). */
#ifndef ALIG_NETS_LSTM_KERNELS_H
#define ALIG_NETS_LSTM_KERNELS_H

/* σ(x) and tanh(x) as the cell computes them: in double, rounded once to float (relative error of the
 * double value below 10^-13; see lstm_kernels.c). Exposed for the tests against libm. */
float alig_nk_lstm_sigmoid(float x);
float alig_nk_lstm_tanh(float x);

/* Forward of B rows: z (B,4H) gate pre-activations (i, j, f, o), cp (B,2H) previous [h, c] or NULL
 * (c_prev = 0); out (B,2H) = [h, c]; work (B,5H) keeps σ(i), tanh(j), σ(f + fb), σ(o), tanh(c) for
 * backward. */
void alig_nk_lstm_cell_forward(int B, int H, float fb, const float *z, const float *cp, float *out, float *work);

/* Backward: dout (B,2H) = [dh, dc], work the forward's; dz (B,4H) written (set_dz) or added to, and
 * dcp (B,2H, c half only) added to, each when not NULL. */
void alig_nk_lstm_cell_backward(int B, int H, const float *cp, const float *work, const float *dout, float *dz,
                                float *dcp, int set_dz);

#endif
