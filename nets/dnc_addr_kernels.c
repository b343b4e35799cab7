/* dnc_addr_kernels.c - kernels of the DNC's memory addressing; see dnc_addr_kernels.h for each contract
 * and docs/dnc_ops_addr.md for the derivations.
 *
 * Float32 where the reference forms a value in float32 and the rounding shows (the allocation's factors
 * 1 − n and its running product, the usage's ω = 1 − (1 − w)), double for every sum and for the
 * transcendental functions, rounded once on store. Batch loops run in parallel only above
 * ALIG_DNC_PAR_MIN multiply-adds; each sample is computed alone, so the thread count never changes a
 * result. */
#include <math.h>

#include "dnc_addr_kernels.h"
#include "kernels.h"

/* ------------------------------------------------------------------ clip */

void alig_nk_clip_forward(size_t n, float lo, float hi, const float *x, float *y)
{
    /* selects, not fminf/fmaxf: a NaN input stays NaN, as in the reference, and the loop vectorises;
     * small calls stay outside OpenMP (see ALIG_DNC_FOR_B) */
    if (n < ALIG_NK_PAR_MIN) {
        ALIG_NK_OMP(omp simd)
        for (size_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = v < lo ? lo : (v > hi ? hi : v);
        }
        return;
    }
    ALIG_NK_OMP(omp parallel for simd schedule(static))
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}

void alig_nk_clip_backward(size_t n, float lo, float hi, const float *x, const float *dy, float *dx)
{
    if (!dx) return;
    if (n < ALIG_NK_PAR_MIN) {
        ALIG_NK_OMP(omp simd)
        for (size_t i = 0; i < n; i++) {
            const float v = x[i], d = dy[i];
            dx[i] += (v >= lo && v <= hi) ? d : 0.0f;
        }
        return;
    }
    ALIG_NK_OMP(omp parallel for simd schedule(static))
    for (size_t i = 0; i < n; i++) {
        const float v = x[i], d = dy[i];
        dx[i] += (v >= lo && v <= hi) ? d : 0.0f;
    }
}

/* ------------------------------------------------------------------ masked sigmoid cross-entropy */

double alig_nk_sigmoid_ce_masked_forward(int B, int C, const float *x, const float *z, const float *mask,
                                         double scale)
{
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *xr = x + (size_t)b * C, *zr = z + (size_t)b * C;
        double row = 0.0;
        for (int c = 0; c < C; c++) {
            const double v = xr[c];
            row += (v > 0.0 ? v : 0.0) - v * (double)zr[c] + log1p(exp(-fabs(v)));
        }
        total += (mask ? (double)mask[b] : 1.0) * row;
    }
    return scale * total;
}

void alig_nk_sigmoid_ce_masked_backward(int B, int C, const float *x, const float *z, const float *mask,
                                        double scale, float dl, float *dx)
{
    if (!dx) return;
    for (int b = 0; b < B; b++) {
        const double k = (double)dl * scale * (mask ? (double)mask[b] : 1.0);
        const float *xr = x + (size_t)b * C, *zr = z + (size_t)b * C;
        float *dr = dx + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            const double v = xr[c], e = exp(-fabs(v)), s = e / (1.0 + e);
            /* d/dx of max(x,0) − xz + log1p(e^{−|x|}) with −|x| = −x on x >= 0 (TF's branch at 0) */
            const double g = v >= 0.0 ? (1.0 - (double)zr[c]) - s : s - (double)zr[c];
            dr[c] += (float)(k * g);
        }
    }
}

/* ------------------------------------------------------------------ content addressing */

static inline double softplus_d(double v) { return (v > 0.0 ? v : 0.0) + log1p(exp(-fabs(v))); }

size_t alig_nk_dnc_content_ws(int B, int N, int W) { return (size_t)B * ((size_t)N * W + 4 * (size_t)N + W); }

/* Layout of one sample's scratch (doubles): a (N·W) | v1 (N) | v2 (N) | v3 (N) | v4 (N) | aw (W).
 * Every sum below runs sequentially over its own index; the loops are ordered so that the innermost
 * one runs over independent sums (slots i or word positions w), which the compiler vectorises
 * without reassociating anything: the result is the same with or without SIMD or OpenMP. */
ALIG_DNC_HOT void alig_nk_dnc_content_forward(int B, int H, int N, int W, const float *k, const float *s, const float *M,
                                 float *c, float *knorm, float *mnorm, float *beta, float *sim, double *ws)
{
    const double eps = ALIG_DNC_EPS;
    const size_t per = alig_nk_dnc_content_ws(1, N, W);
    ALIG_DNC_FOR_B((size_t)B * H * N * W >= ALIG_DNC_PAR_MIN, B, b, {
        const float *Mb = M + (size_t)b * N * W;
        double *mt = ws + (size_t)b * per, *mq = mt + (size_t)N * W, *dot = mq + N, *ez = dot + N;
        float *mn = mnorm + (size_t)b * N;
        /* Mᵀ (W,N) in double; ‖M_i‖² summed over w for all i at once */
        for (int i = 0; i < N; i++)
            for (int w = 0; w < W; w++) mt[(size_t)w * N + i] = Mb[(size_t)i * W + w];
        for (int i = 0; i < N; i++) mq[i] = 0.0;
        for (int w = 0; w < W; w++)
            for (int i = 0; i < N; i++) mq[i] += mt[(size_t)w * N + i] * mt[(size_t)w * N + i];
        for (int i = 0; i < N; i++) mn[i] = (float)sqrt(mq[i] + eps);
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            const float *kh = k + bh * W;
            double q = 0.0;
            for (int w = 0; w < W; w++) q += (double)kh[w] * kh[w];
            /* the norm and the strength are rounded to float once, and backward reads those floats */
            const double kn = (float)sqrt(q + eps), bt = (float)softplus_d(s[bh]);
            knorm[bh] = (float)kn;
            beta[bh] = (float)bt;
            for (int i = 0; i < N; i++) dot[i] = 0.0;
            for (int w = 0; w < W; w++) {
                const double kw = kh[w];
                const double *mw = mt + (size_t)w * N;
                for (int i = 0; i < N; i++) dot[i] += kw * mw[i];
            }
            float *sr = sim + bh * N, *cr = c + bh * N;
            for (int i = 0; i < N; i++) sr[i] = (float)(dot[i] / (kn * mn[i] + eps));
            double zmax = -INFINITY, z = 0.0;
            for (int i = 0; i < N; i++) {
                ez[i] = bt * sr[i];
                zmax = ez[i] > zmax ? ez[i] : zmax;
            }
            for (int i = 0; i < N; i++) {
                ez[i] = exp(ez[i] - zmax);
                z += ez[i];
            }
            for (int i = 0; i < N; i++) cr[i] = (float)(ez[i] / z);
        }
    });
}

ALIG_DNC_HOT void alig_nk_dnc_content_backward(int B, int H, int N, int W, const float *k, const float *s, const float *M,
                                  const float *c, const float *knorm, const float *mnorm, const float *beta,
                                  const float *sim, const float *dc, float *dk, float *ds, float *dM, double *ws)
{
    const double eps = ALIG_DNC_EPS;
    const size_t per = alig_nk_dnc_content_ws(1, N, W);
    ALIG_DNC_FOR_B((size_t)B * H * N * W >= ALIG_DNC_PAR_MIN, B, b, {
        const float *Mb = M + (size_t)b * N * W, *mn = mnorm + (size_t)b * N;
        double *gM = ws + (size_t)b * per, *dmn = gM + (size_t)N * W, *ddot = dmn + N, *gk = dmn + 4 * (size_t)N;
        if (dM) {
            for (size_t j = 0; j < (size_t)N * W; j++) gM[j] = 0.0;
            for (int i = 0; i < N; i++) dmn[i] = 0.0;
        }
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            const float *cr = c + bh * N, *dcr = dc + bh * N, *sr = sim + bh * N, *kh = k + bh * W;
            const double kn = knorm[bh], bt = beta[bh];
            double cd = 0.0, dbeta = 0.0, dkn = 0.0;
            for (int i = 0; i < N; i++) cd += (double)cr[i] * dcr[i];
            /* softmax, then z = β·sim, then sim = dot/D with D = ‖k‖‖M_i‖ + ε and ∂sim/∂D = −sim/D */
            for (int i = 0; i < N; i++) {
                const double dz = cr[i] * (dcr[i] - cd);
                ddot[i] = dz * bt / (kn * mn[i] + eps);
                dbeta += dz * sr[i];
                dkn -= ddot[i] * sr[i] * mn[i];
            }
            if (ds) ds[bh] += (float)(dbeta / (1.0 + exp(-(double)s[bh])));     /* softplus' = σ */
            if (dk) {
                /* dk_w = Σ_i ddot_i M_iw + dkn·k_w/‖k‖ (∂‖k‖_ε/∂k = k/‖k‖_ε) */
                for (int w = 0; w < W; w++) gk[w] = 0.0;
                for (int i = 0; i < N; i++) {
                    const double di = ddot[i];
                    const float *mi = Mb + (size_t)i * W;
                    for (int w = 0; w < W; w++) gk[w] += di * mi[w];
                }
                float *dkh = dk + bh * W;
                for (int w = 0; w < W; w++) dkh[w] += (float)(gk[w] + dkn * kh[w] / kn);
            }
            if (dM) {
                /* dM_iw = Σ_h ddot_hi k_hw + (Σ_h ∂L/∂‖M_i‖)·M_iw/‖M_i‖, ∂D/∂‖M_i‖ = ‖k‖ */
                for (int i = 0; i < N; i++) {
                    const double di = ddot[i];
                    double *gi = gM + (size_t)i * W;
                    for (int w = 0; w < W; w++) gi[w] += di * kh[w];
                    dmn[i] -= di * sr[i] * kn;
                }
            }
        }
        if (dM) {
            float *dMb = dM + (size_t)b * N * W;
            for (int i = 0; i < N; i++) {
                const double r = dmn[i] / mn[i];
                const float *mi = Mb + (size_t)i * W;
                for (int w = 0; w < W; w++) dMb[(size_t)i * W + w] += (float)(gM[(size_t)i * W + w] + r * mi[w]);
            }
        }
    });
}

/* ------------------------------------------------------------------ usage */

ALIG_DNC_HOT void alig_nk_dnc_usage_forward(int B, int N, int R, const float *u_prev, const float *ww_prev, const float *f,
                               const float *wr, float *u, float *up, float *psi)
{
    ALIG_DNC_FOR_B((size_t)B * N * (R + 2) >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t o = (size_t)b * N;
        for (int i = 0; i < N; i++) {
            const float om = 1.0f - (1.0f - ww_prev[o + i]);
            up[o + i] = u_prev[o + i] + (1.0f - u_prev[o + i]) * om;
            psi[o + i] = 1.0f;
        }
        for (int r = 0; r < R; r++) {
            const float fr = f[(size_t)b * R + r], *wrr = wr + ((size_t)b * R + r) * N;
            for (int i = 0; i < N; i++) psi[o + i] *= 1.0f - fr * wrr[i];
        }
        for (int i = 0; i < N; i++) u[o + i] = up[o + i] * psi[o + i];
    });
}

ALIG_DNC_HOT void alig_nk_dnc_usage_backward(int B, int N, int R, const float *u_prev, const float *ww_prev, const float *f,
                                const float *wr, const float *up, const float *psi, const float *du,
                                float *du_prev, float *dww_prev, float *df, float *dwr)
{
    ALIG_DNC_FOR_B((size_t)B * N * (R * R + 2) >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t o = (size_t)b * N;
        for (int i = 0; i < N; i++) {
            const double dup = (double)du[o + i] * psi[o + i];
            const float om = 1.0f - (1.0f - ww_prev[o + i]);
            if (du_prev) du_prev[o + i] += (float)(dup * (1.0 - (double)om));
            if (dww_prev) dww_prev[o + i] += (float)(dup * (1.0 - (double)u_prev[o + i]));   /* ∂ω/∂w = 1 */
        }
        if (!df && !dwr) continue;
        const float *fb = f + (size_t)b * R, *wrb = wr + (size_t)b * R * N;
        for (int r = 0; r < R; r++) {
            double dfr = 0.0;
            /* slots in blocks of 16: ∂L/∂(f_r wr[r,i]) = −du_i·u'_i·Π_{q≠r} (1 − f_q wr[q,i]), the product of
             * the OTHER factors (never ψ divided by one), each loop running across the slots of a block */
            for (int i0 = 0; i0 < N; i0 += 16) {
                const int len = N - i0 < 16 ? N - i0 : 16;
                double t[16];
                for (int j = 0; j < len; j++) t[j] = -(double)du[o + i0 + j] * up[o + i0 + j];
                for (int q = 0; q < R; q++) {
                    if (q == r) continue;
                    const float fq = fb[q], *wq = wrb + (size_t)q * N + i0;
                    for (int j = 0; j < len; j++) t[j] *= (double)(1.0f - fq * wq[j]);
                }
                const float *wrr = wrb + (size_t)r * N + i0;
                for (int j = 0; j < len; j++) dfr += t[j] * wrr[j];
                if (dwr) {
                    float *g = dwr + ((size_t)b * R + r) * N + i0;
                    for (int j = 0; j < len; j++) g[j] += (float)(t[j] * fb[r]);
                }
            }
            if (df) df[(size_t)b * R + r] += (float)dfr;
        }
    });
}

/* ------------------------------------------------------------------ allocation */

/* nonusage n = 1 − û, û = ε + (1 − ε)·u: the same float operations in forward and backward */
static inline float nonusage(float u)
{
    const float eps = ALIG_DNC_EPS, uh = eps + (1.0f - eps) * u;
    return 1.0f - uh;
}

/* φ: indices of n sorted descending, stable (equal keys keep their index order). Insertion sort: N is
 * small (16) and at t = 0 every key is equal, the sort's best case. */
static void sort_desc_stable(int N, const float *n, int32_t *phi)
{
    for (int j = 0; j < N; j++) {
        const int32_t id = j;
        const float key = n[j];
        int p = j;
        while (p > 0 && n[phi[p - 1]] < key) {
            phi[p] = phi[p - 1];
            p--;
        }
        phi[p] = id;
    }
}

void alig_nk_dnc_allocation_forward(int B, int N, const float *u, float *a, int32_t *perm)
{
    ALIG_DNC_FOR_B((size_t)B * N * 8 >= ALIG_DNC_PAR_MIN, B, b, {
        const float *ub = u + (size_t)b * N;
        float *ab = a + (size_t)b * N;
        int32_t *phi = perm + (size_t)b * N;
        /* nonusage n = 1 − û, held in a (overwritten below in sorted order, read through φ first) */
        for (int i = 0; i < N; i++) ab[i] = nonusage(ub[i]);
        sort_desc_stable(N, ab, phi);
        /* a[φ_j] = n[φ_j]·Π_{i<j}(1 − n[φ_i]) in float32: a[φ_j] is read once (for n) before being
         * written, and each earlier φ_i was consumed already, so the one buffer serves both */
        float p = 1.0f;
        for (int j = 0; j < N; j++) {
            const float nj = ab[phi[j]];
            ab[phi[j]] = nj * p;
            p *= 1.0f - nj;
        }
    });
}

void alig_nk_dnc_allocation_backward(int B, int N, const float *u, const int32_t *perm, const float *da,
                                     float *du, double *ws)
{
    if (!du) return;
    const float eps = ALIG_DNC_EPS;
    ALIG_DNC_FOR_B((size_t)B * N * 8 >= ALIG_DNC_PAR_MIN, B, b, {
        const float *ub = u + (size_t)b * N, *dab = da + (size_t)b * N;
        const int32_t *phi = perm + (size_t)b * N;
        float *dub = du + (size_t)b * N;
        double *S = ws + (size_t)b * N;
        /* Sorted order, q_j = 1 − n_j (in float, as the forward), P_j = Π_{i<j} q_i, g_j = da[φ_j]:
         *   ∂L/∂n_j = P_j·(g_j − S_j),  S_j = Σ_{k>j} g_k n_k Π_{j<i<k} q_i,
         * S_{N−1} = 0, S_j = g_{j+1} n_{j+1} + q_{j+1} S_{j+1}: S backwards, then P forwards; no division.
         * ∂n/∂u = −(1 − ε). */
        double acc = 0.0;
        for (int j = N - 1; j >= 0; j--) {
            S[j] = acc;
            const float nj = nonusage(ub[phi[j]]);
            acc = (double)dab[phi[j]] * nj + (double)(1.0f - nj) * acc;
        }
        double P = 1.0;
        const double dndu = -(1.0 - (double)eps);
        for (int j = 0; j < N; j++) {
            const float nj = nonusage(ub[phi[j]]);
            dub[phi[j]] += (float)(dndu * P * ((double)dab[phi[j]] - S[j]));
            P *= (double)(1.0f - nj);
        }
    });
}
