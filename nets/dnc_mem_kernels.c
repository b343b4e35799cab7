/* dnc_mem_kernels.c - the DNC memory-access kernels; see dnc_mem_kernels.h for the contract of
 * each and docs/dnc_ops_mem.md for the derivations.
 *
 * Each optimised kernel works on one sample at a time in a static function (the per-sample
 * loops are short: N, W = 16 at the DNC's sizes), with the innermost loop running along a
 * contiguous row so that it vectorises; the batch loop around it is an OpenMP loop that only
 * forks when the call is large (ALIG_DNC_PAR_MIN). Dot products along a contiguous row are summed
 * in double in four lanes of a fixed order (LANES4), so that the AVX2 and baseline clones of the
 * kernels (ALIG_DNC_HOT) give the same bits.
 * The float expressions follow the reference DNC's order of operations (deepmind/dnc,
 * addressing.py and access.py): (1 − w_i) − w_j for the link's decay, gw·(ga·a + (1 − ga)·c)
 * for the write weights, content + forward + backward for the read weights.
 *
 * The *_naive twins follow after the optimised kernels: the formulas written again as plain
 * serial loops with every sum in double, written independently of the optimised versions. */
#include "dnc_mem_kernels.h"

#include <string.h>

#include "dnc_addr_kernels.h"  /* ALIG_DNC_HOT */
#include "kernels.h"

#define SETBIT(set, j) (((set) >> (j)) & 1u)

/* s = Σ_{idx < n} term in double, in four lanes (element idx goes to lane idx mod 4, the lanes added
 * as (l0 + l1) + (l2 + l3)): one fixed order written out here, so the AVX2 and baseline clones (and
 * any compiler) sum alike, and the inner loop over the four lanes vectorises without reassociation. */
#define LANES4(n, idx, s, term)                                                                 \
    do {                                                                                        \
        double l4_[4] = { 0.0, 0.0, 0.0, 0.0 };                                                 \
        int b4_ = 0;                                                                            \
        for (; b4_ + 4 <= (n); b4_ += 4)                                                        \
            for (int j4_ = 0; j4_ < 4; j4_++) {                                                 \
                const int idx = b4_ + j4_;                                                      \
                l4_[j4_] += (term);                                                             \
            }                                                                                   \
        for (; b4_ < (n); b4_++) {                                                              \
            const int idx = b4_;                                                                \
            l4_[b4_ & 3] += (term);                                                             \
        }                                                                                       \
        (s) = (l4_[0] + l4_[1]) + (l4_[2] + l4_[3]);                                            \
    } while (0)

/* Σ_k a[k]·b[k] in double */
static inline double dotd(int n, const float *a, const float *b)
{
    double s;
    LANES4(n, k, s, (double)a[k] * (double)b[k]);
    return s;
}

/* y[k] (=|+=) alpha·x[k] */
static inline void axpy_set(int n, float alpha, const float *x, float *y, int set)
{
    if (set)
        for (int k = 0; k < n; k++) y[k] = alpha * x[k];
    else
        for (int k = 0; k < n; k++) y[k] += alpha * x[k];
}

static inline void put(float *y, double v, int set)
{
    if (set)
        *y = (float)v;
    else
        *y += (float)v;
}

/* ================================================================== write weights */

ALIG_DNC_HOT void alig_dnc_write_weights_forward(int B, int N, const float *a, const float *c, const float *ga,
                                    const float *gw, float *ww)
{
    ALIG_DNC_FOR_B((size_t)B * N >= ALIG_DNC_PAR_MIN, B, b, {
        const float *ab = a + (size_t)b * N, *cb = c + (size_t)b * N;
        float *wb = ww + (size_t)b * N;
        const float g = ga[b], h = gw[b], ng = 1.0f - g;
        for (int i = 0; i < N; i++) wb[i] = h * (g * ab[i] + ng * cb[i]);
    });
}

ALIG_DNC_HOT void alig_dnc_write_weights_backward(int B, int N, const float *a, const float *c, const float *ga,
                                     const float *gw, const float *dww, float *da, float *dc, float *dga,
                                     float *dgw, unsigned set)
{
    ALIG_DNC_FOR_B((size_t)B * N >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t o = (size_t)b * N;
        const float *ab = a + o, *cb = c + o, *gb = dww + o;
        const float g = ga[b], h = gw[b], ng = 1.0f - g;
        if (da) axpy_set(N, h * g, gb, da + o, SETBIT(set, 0));
        if (dc) axpy_set(N, h * ng, gb, dc + o, SETBIT(set, 1));
        if (dga || dgw) {
            double sa = 0.0, sc = 0.0;      /* Σ dww·a, Σ dww·c */
            for (int i = 0; i < N; i++) {
                sa += (double)gb[i] * ab[i];
                sc += (double)gb[i] * cb[i];
            }
            if (dga) put(dga + b, (double)h * (sa - sc), SETBIT(set, 2));
            if (dgw) put(dgw + b, (double)g * sa + (double)ng * sc, SETBIT(set, 3));
        }
    });
}

/* ================================================================== memory write */

ALIG_DNC_HOT void alig_dnc_memory_forward(int B, int N, int W, const float *Mp, const float *w, const float *e,
                             const float *v, float *M)
{
    ALIG_DNC_FOR_B((size_t)B * N * W >= ALIG_DNC_PAR_MIN, B, b, {
        const float *eb = e + (size_t)b * W, *vb = v + (size_t)b * W;
        for (int i = 0; i < N; i++) {
            const size_t r = ((size_t)b * N + i) * W;
            const float wi = w[(size_t)b * N + i];
            const float *mp = Mp + r;
            float *m = M + r;
            for (int k = 0; k < W; k++) m[k] = mp[k] * (1.0f - wi * eb[k]) + wi * vb[k];
        }
    });
}

/* one sample: the column sums de, dv over the rows, in double */
ALIG_DNC_HOT static void memory_backward_one(int N, int W, const float *Mp, const float *w, const float *e, const float *v,
                                const float *dM, float *dMp, float *dw, float *de, float *dv, unsigned set)
{
    for (int i = 0; i < N; i++) {
        const float *mp = Mp + (size_t)i * W, *g = dM + (size_t)i * W;
        const float wi = w[i];
        if (dMp) {
            float *d = dMp + (size_t)i * W;
            if (SETBIT(set, 0))
                for (int k = 0; k < W; k++) d[k] = g[k] * (1.0f - wi * e[k]);
            else
                for (int k = 0; k < W; k++) d[k] += g[k] * (1.0f - wi * e[k]);
        }
        if (dw) {
            double s;
            LANES4(W, k, s, (double)g[k] * ((double)v[k] - (double)mp[k] * e[k]));
            put(dw + i, s, SETBIT(set, 1));
        }
    }
    if (de || dv)
        for (int k = 0; k < W; k++) {
            double se = 0.0, sv = 0.0;
            for (int i = 0; i < N; i++) {
                const double gw = (double)dM[(size_t)i * W + k] * w[i];
                se += gw * Mp[(size_t)i * W + k];
                sv += gw;
            }
            if (de) put(de + k, -se, SETBIT(set, 2));
            if (dv) put(dv + k, sv, SETBIT(set, 3));
        }
}

ALIG_DNC_HOT void alig_dnc_memory_backward(int B, int N, int W, const float *Mp, const float *w, const float *e,
                              const float *v, const float *dM, float *dMp, float *dw, float *de, float *dv,
                              unsigned set)
{
    ALIG_DNC_FOR_B((size_t)B * N * W >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t onw = (size_t)b * N * W, on = (size_t)b * N, ow = (size_t)b * W;
        memory_backward_one(N, W, Mp + onw, w + on, e + ow, v + ow, dM + onw, dMp ? dMp + onw : NULL,
                            dw ? dw + on : NULL, de ? de + ow : NULL, dv ? dv + ow : NULL, set);
    });
}

/* ================================================================== temporal link */

ALIG_DNC_HOT void alig_dnc_link_forward(int B, int N, const float *Lp, const float *w, const float *p, float *L)
{
    ALIG_DNC_FOR_B((size_t)B * N * N >= ALIG_DNC_PAR_MIN, B, b, {
        const float *wb = w + (size_t)b * N, *pb = p + (size_t)b * N;
        for (int i = 0; i < N; i++) {
            const size_t r = ((size_t)b * N + i) * N;
            const float *lp = Lp + r, wi = wb[i], ci = 1.0f - wi;
            float *l = L + r;
            for (int j = 0; j < N; j++) l[j] = (ci - wb[j]) * lp[j] + wi * pb[j];
            l[i] = 0.0f;
        }
    });
}

ALIG_DNC_HOT static void link_backward_one(int N, const float *Lp, const float *w, const float *p, const float *dL, float *dLp,
                              float *dw, float *dp, unsigned set)
{
    if (dLp)
        for (int i = 0; i < N; i++) {
            const float *g = dL + (size_t)i * N;
            const float ci = 1.0f - w[i];
            float *d = dLp + (size_t)i * N;
            const float keep = SETBIT(set, 0) ? 0.0f : d[i];   /* the diagonal gets nothing */
            if (SETBIT(set, 0))
                for (int j = 0; j < N; j++) d[j] = g[j] * (ci - w[j]);
            else
                for (int j = 0; j < N; j++) d[j] += g[j] * (ci - w[j]);
            d[i] = keep;
        }
    if (dw)
        for (int k = 0; k < N; k++) {
            /* row k: Σ_j dL[k,j]·(p[j] − Lp[k,j]); column k: −Σ_i dL[i,k]·Lp[i,k]; without the diagonal */
            const float *g = dL + (size_t)k * N, *lp = Lp + (size_t)k * N;
            double s;
            LANES4(N, j, s, j == k ? 0.0 : (double)g[j] * ((double)p[j] - (double)lp[j]));
            for (int i = 0; i < N; i++)
                if (i != k) s -= (double)dL[(size_t)i * N + k] * Lp[(size_t)i * N + k];
            put(dw + k, s, SETBIT(set, 1));
        }
    if (dp)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int i = 0; i < N; i++)
                if (i != j) s += (double)dL[(size_t)i * N + j] * w[i];
            put(dp + j, s, SETBIT(set, 2));
        }
}

ALIG_DNC_HOT void alig_dnc_link_backward(int B, int N, const float *Lp, const float *w, const float *p, const float *dL,
                            float *dLp, float *dw, float *dp, unsigned set)
{
    ALIG_DNC_FOR_B((size_t)B * N * N >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t onn = (size_t)b * N * N, on = (size_t)b * N;
        link_backward_one(N, Lp + onn, w + on, p + on, dL + onn, dLp ? dLp + onn : NULL, dw ? dw + on : NULL,
                          dp ? dp + on : NULL, set);
    });
}

/* ================================================================== precedence */

ALIG_DNC_HOT void alig_dnc_precedence_forward(int B, int N, const float *pp, const float *w, float *p)
{
    ALIG_DNC_FOR_B((size_t)B * N >= ALIG_DNC_PAR_MIN, B, b, {
        const float *pb = pp + (size_t)b * N, *wb = w + (size_t)b * N;
        float *o = p + (size_t)b * N;
        double s = 0.0;
        for (int i = 0; i < N; i++) s += wb[i];
        const float keep = (float)(1.0 - s);
        for (int i = 0; i < N; i++) o[i] = keep * pb[i] + wb[i];
    });
}

ALIG_DNC_HOT void alig_dnc_precedence_backward(int B, int N, const float *pp, const float *w, const float *dp, float *dpp,
                                  float *dw, unsigned set)
{
    ALIG_DNC_FOR_B((size_t)B * N >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t o = (size_t)b * N;
        const float *pb = pp + o, *wb = w + o, *g = dp + o;
        if (dpp) {
            double s = 0.0;
            for (int i = 0; i < N; i++) s += wb[i];
            axpy_set(N, (float)(1.0 - s), g, dpp + o, SETBIT(set, 0));
        }
        if (dw) {
            const float t = (float)dotd(N, g, pb);
            float *d = dw + o;
            if (SETBIT(set, 1))
                for (int k = 0; k < N; k++) d[k] = g[k] - t;
            else
                for (int k = 0; k < N; k++) d[k] += g[k] - t;
        }
    });
}

/* ================================================================== read weights */

ALIG_DNC_HOT static void read_forward_one(int R, int N, const float *L, const float *wp, const float *modes, const float *c,
                             float *wr, float *f, float *bw)
{
    /* f[r,i] = ⟨L[i,:], wp[r,:]⟩ (dot products along rows of L); b[r,:] = Σ_i wp[r,i]·L[i,:] */
    for (int r = 0; r < R; r++) {
        const float *w = wp + (size_t)r * N;
        float *fr = f + (size_t)r * 2 * N, *br = bw + (size_t)r * 2 * N;
        for (int i = 0; i < N; i++) fr[i] = (float)dotd(N, L + (size_t)i * N, w);
        for (int j = 0; j < N; j++) br[j] = 0.0f;
        for (int i = 0; i < N; i++) {
            const float wi = w[i], *l = L + (size_t)i * N;
            for (int j = 0; j < N; j++) br[j] += wi * l[j];
        }
        const float m0 = modes[3 * r], m1 = modes[3 * r + 1], m2 = modes[3 * r + 2];
        const float *cr = c + (size_t)r * N;
        float *o = wr + (size_t)r * N;
        for (int i = 0; i < N; i++) o[i] = m2 * cr[i] + m1 * fr[i] + m0 * br[i];
    }
}

ALIG_DNC_HOT void alig_dnc_read_weights_forward(int B, int R, int N, const float *L, const float *wp, const float *modes,
                                   const float *c, float *wr, float *fb)
{
    ALIG_DNC_FOR_B((size_t)B * R * N * N >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t onn = (size_t)b * N * N, orn = (size_t)b * R * N;
        float *f = fb + 2 * orn;
        read_forward_one(R, N, L + onn, wp + orn, modes + (size_t)b * R * 3, c + orn, wr + orn, f, f + N);
    });
}

ALIG_DNC_HOT static void read_backward_one(int R, int N, const float *L, const float *wp, const float *modes, const float *c,
                              const float *fb, const float *dwr, float *dL, float *dwp, float *dm, float *dc,
                              unsigned set)
{
    /* modes and content */
    for (int r = 0; r < R; r++) {
        const float *g = dwr + (size_t)r * N;
        if (dm) {
            const float *f = fb + (size_t)r * 2 * N, *bw = f + N;
            put(dm + 3 * r, dotd(N, g, bw), SETBIT(set, 2));
            put(dm + 3 * r + 1, dotd(N, g, f), SETBIT(set, 2));
            put(dm + 3 * r + 2, dotd(N, g, c + (size_t)r * N), SETBIT(set, 2));
        }
        if (dc) axpy_set(N, modes[3 * r + 2], g, dc + (size_t)r * N, SETBIT(set, 3));
    }
    /* dL[i,:] = Σ_r gf[r,i]·wp[r,:] + wp[r,i]·gb[r,:], gf = m1·dwr, gb = m0·dwr */
    if (dL)
        for (int i = 0; i < N; i++) {
            float *d = dL + (size_t)i * N;
            if (SETBIT(set, 0))
                for (int j = 0; j < N; j++) d[j] = 0.0f;
            for (int r = 0; r < R; r++) {
                const float *g = dwr + (size_t)r * N, *w = wp + (size_t)r * N;
                const float a = modes[3 * r + 1] * g[i], s = w[i] * modes[3 * r];
                for (int j = 0; j < N; j++) d[j] += a * w[j] + s * g[j];
            }
        }
    /* dwp[r,:] = Σ_i gf[r,i]·L[i,:] (forward path) + (L·gb[r])ᵀ (backward path) */
    if (dwp)
        for (int r = 0; r < R; r++) {
            const float *g = dwr + (size_t)r * N;
            const float m0 = modes[3 * r], m1 = modes[3 * r + 1];
            float *d = dwp + (size_t)r * N;
            if (SETBIT(set, 1))
                for (int j = 0; j < N; j++) d[j] = 0.0f;
            for (int i = 0; i < N; i++) {
                const float a = m1 * g[i], *l = L + (size_t)i * N;
                for (int j = 0; j < N; j++) d[j] += a * l[j];
            }
            for (int i = 0; i < N; i++) d[i] += m0 * (float)dotd(N, L + (size_t)i * N, g);
        }
}

ALIG_DNC_HOT void alig_dnc_read_weights_backward(int B, int R, int N, const float *L, const float *wp, const float *modes,
                                    const float *c, const float *fb, const float *dwr, float *dL, float *dwp,
                                    float *dmodes, float *dc, unsigned set)
{
    ALIG_DNC_FOR_B((size_t)B * R * N * N >= ALIG_DNC_PAR_MIN, B, b, {
        const size_t onn = (size_t)b * N * N, orn = (size_t)b * R * N, or3 = (size_t)b * R * 3;
        read_backward_one(R, N, L + onn, wp + orn, modes + or3, c + orn, fb + 2 * orn, dwr + orn,
                          dL ? dL + onn : NULL, dwp ? dwp + orn : NULL, dmodes ? dmodes + or3 : NULL,
                          dc ? dc + orn : NULL, set);
    });
}

/* ================================================================== bmm */

ALIG_DNC_HOT void alig_dnc_bmm_forward(int B, int M, int K, int N, const float *A, const float *Bm, float *C)
{
    ALIG_DNC_FOR_B((size_t)B * M * K * N >= ALIG_DNC_PAR_MIN, B, b, {
        const float *a = A + (size_t)b * M * K, *bm = Bm + (size_t)b * K * N;
        float *c = C + (size_t)b * M * N;
        for (int m = 0; m < M; m++) {
            float *cr = c + (size_t)m * N;
            for (int n = 0; n < N; n++) cr[n] = 0.0f;
            for (int k = 0; k < K; k++) {
                const float s = a[(size_t)m * K + k], *br = bm + (size_t)k * N;
                for (int n = 0; n < N; n++) cr[n] += s * br[n];
            }
        }
    });
}

ALIG_DNC_HOT void alig_dnc_bmm_backward(int B, int M, int K, int N, const float *A, const float *Bm, const float *dC, float *dA,
                           float *dBm, unsigned set)
{
    ALIG_DNC_FOR_B((size_t)B * M * K * N >= ALIG_DNC_PAR_MIN, B, b, {
        const float *a = A + (size_t)b * M * K, *bm = Bm + (size_t)b * K * N, *g = dC + (size_t)b * M * N;
        if (dA) {       /* dA[m,k] = ⟨dC[m,:], Bm[k,:]⟩ */
            float *d = dA + (size_t)b * M * K;
            for (int m = 0; m < M; m++)
                for (int k = 0; k < K; k++)
                    put(d + (size_t)m * K + k, dotd(N, g + (size_t)m * N, bm + (size_t)k * N), SETBIT(set, 0));
        }
        if (dBm) {      /* dBm[k,:] = Σ_m A[m,k]·dC[m,:] */
            float *d = dBm + (size_t)b * K * N;
            if (SETBIT(set, 1))
                for (size_t q = 0; q < (size_t)K * N; q++) d[q] = 0.0f;
            for (int m = 0; m < M; m++) {
                const float *gr = g + (size_t)m * N;
                for (int k = 0; k < K; k++) {
                    const float s = a[(size_t)m * K + k];
                    float *dr = d + (size_t)k * N;
                    for (int n = 0; n < N; n++) dr[n] += s * gr[n];
                }
            }
        }
    });
}

/* ================================================================== naive twins */

static void out_set(float *y, double v, int set)
{
    if (set)
        *y = (float)v;
    else
        *y = (float)((double)*y + v);
}

void alig_dnc_write_weights_forward_naive(int B, int N, const float *a, const float *c, const float *ga,
                                          const float *gw, float *ww)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            const size_t q = (size_t)b * N + i;
            ww[q] = (float)((double)gw[b] * ((double)ga[b] * a[q] + (1.0 - ga[b]) * c[q]));
        }
}

void alig_dnc_write_weights_backward_naive(int B, int N, const float *a, const float *c, const float *ga,
                                           const float *gw, const float *dww, float *da, float *dc,
                                           float *dga, float *dgw, unsigned set)
{
    for (int b = 0; b < B; b++) {
        double sga = 0.0, sgw = 0.0;
        for (int i = 0; i < N; i++) {
            const size_t q = (size_t)b * N + i;
            const double g = dww[q];
            if (da) out_set(da + q, g * gw[b] * ga[b], SETBIT(set, 0));
            if (dc) out_set(dc + q, g * gw[b] * (1.0 - ga[b]), SETBIT(set, 1));
            sga += g * gw[b] * ((double)a[q] - c[q]);
            sgw += g * ((double)ga[b] * a[q] + (1.0 - ga[b]) * c[q]);
        }
        if (dga) out_set(dga + b, sga, SETBIT(set, 2));
        if (dgw) out_set(dgw + b, sgw, SETBIT(set, 3));
    }
}

void alig_dnc_memory_forward_naive(int B, int N, int W, const float *Mp, const float *w, const float *e,
                                   const float *v, float *M)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++)
            for (int k = 0; k < W; k++) {
                const size_t q = ((size_t)b * N + i) * W + k;
                const double wi = w[(size_t)b * N + i];
                M[q] = (float)(Mp[q] * (1.0 - wi * e[(size_t)b * W + k]) + wi * v[(size_t)b * W + k]);
            }
}

void alig_dnc_memory_backward_naive(int B, int N, int W, const float *Mp, const float *w, const float *e,
                                    const float *v, const float *dM, float *dMp, float *dw, float *de,
                                    float *dv, unsigned set)
{
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < N; i++) {
            const double wi = w[(size_t)b * N + i];
            double s = 0.0;
            for (int k = 0; k < W; k++) {
                const size_t q = ((size_t)b * N + i) * W + k;
                const double ek = e[(size_t)b * W + k], vk = v[(size_t)b * W + k];
                if (dMp) out_set(dMp + q, dM[q] * (1.0 - wi * ek), SETBIT(set, 0));
                s += dM[q] * (vk - Mp[q] * ek);
            }
            if (dw) out_set(dw + (size_t)b * N + i, s, SETBIT(set, 1));
        }
        for (int k = 0; k < W; k++) {
            double se = 0.0, sv = 0.0;
            for (int i = 0; i < N; i++) {
                const size_t q = ((size_t)b * N + i) * W + k;
                se -= dM[q] * Mp[q] * w[(size_t)b * N + i];
                sv += dM[q] * w[(size_t)b * N + i];
            }
            if (de) out_set(de + (size_t)b * W + k, se, SETBIT(set, 2));
            if (dv) out_set(dv + (size_t)b * W + k, sv, SETBIT(set, 3));
        }
    }
}

void alig_dnc_link_forward_naive(int B, int N, const float *Lp, const float *w, const float *p, float *L)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                const size_t q = ((size_t)b * N + i) * N + j;
                const double wi = w[(size_t)b * N + i], wj = w[(size_t)b * N + j];
                L[q] = i == j ? 0.0f : (float)((1.0 - wi - wj) * Lp[q] + wi * p[(size_t)b * N + j]);
            }
}

void alig_dnc_link_backward_naive(int B, int N, const float *Lp, const float *w, const float *p, const float *dL,
                                  float *dLp, float *dw, float *dp, unsigned set)
{
    for (int b = 0; b < B; b++) {
        const float *wb = w + (size_t)b * N, *pb = p + (size_t)b * N;
        for (int k = 0; k < N; k++) {
            double sw = 0.0, sp = 0.0;
            for (int j = 0; j < N; j++) {
                if (j == k) continue;
                const size_t row = ((size_t)b * N + k) * N + j;   /* L[k,j] */
                const size_t col = ((size_t)b * N + j) * N + k;   /* L[j,k] */
                sw += dL[row] * ((double)pb[j] - Lp[row]) - (double)dL[col] * Lp[col];
                sp += (double)dL[col] * wb[j];
            }
            if (dw) out_set(dw + (size_t)b * N + k, sw, SETBIT(set, 1));
            if (dp) out_set(dp + (size_t)b * N + k, sp, SETBIT(set, 2));
        }
        if (dLp)
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) {
                    const size_t q = ((size_t)b * N + i) * N + j;
                    out_set(dLp + q, i == j ? 0.0 : dL[q] * (1.0 - wb[i] - wb[j]), SETBIT(set, 0));
                }
    }
}

void alig_dnc_precedence_forward_naive(int B, int N, const float *pp, const float *w, float *p)
{
    for (int b = 0; b < B; b++) {
        double s = 0.0;
        for (int i = 0; i < N; i++) s += w[(size_t)b * N + i];
        for (int i = 0; i < N; i++) {
            const size_t q = (size_t)b * N + i;
            p[q] = (float)((1.0 - s) * pp[q] + w[q]);
        }
    }
}

void alig_dnc_precedence_backward_naive(int B, int N, const float *pp, const float *w, const float *dp,
                                        float *dpp, float *dw, unsigned set)
{
    for (int b = 0; b < B; b++) {
        double s = 0.0, t = 0.0;
        for (int i = 0; i < N; i++) {
            const size_t q = (size_t)b * N + i;
            s += w[q];
            t += (double)dp[q] * pp[q];
        }
        for (int i = 0; i < N; i++) {
            const size_t q = (size_t)b * N + i;
            if (dpp) out_set(dpp + q, dp[q] * (1.0 - s), SETBIT(set, 0));
            if (dw) out_set(dw + q, dp[q] - t, SETBIT(set, 1));
        }
    }
}

void alig_dnc_read_weights_forward_naive(int B, int R, int N, const float *L, const float *wp,
                                         const float *modes, const float *c, float *wr)
{
    for (int b = 0; b < B; b++)
        for (int r = 0; r < R; r++)
            for (int i = 0; i < N; i++) {
                const float *Lb = L + (size_t)b * N * N, *w = wp + ((size_t)b * R + r) * N;
                const float *m = modes + ((size_t)b * R + r) * 3;
                double f = 0.0, bw = 0.0;
                for (int j = 0; j < N; j++) {
                    f += (double)Lb[(size_t)i * N + j] * w[j];
                    bw += (double)Lb[(size_t)j * N + i] * w[j];
                }
                const size_t q = ((size_t)b * R + r) * N + i;
                wr[q] = (float)(m[0] * bw + m[1] * f + (double)m[2] * c[q]);
            }
}

void alig_dnc_read_weights_backward_naive(int B, int R, int N, const float *L, const float *wp,
                                          const float *modes, const float *c, const float *dwr, float *dL,
                                          float *dwp, float *dmodes, float *dc, unsigned set)
{
    for (int b = 0; b < B; b++) {
        const float *Lb = L + (size_t)b * N * N;
        for (int r = 0; r < R; r++) {
            const float *w = wp + ((size_t)b * R + r) * N, *g = dwr + ((size_t)b * R + r) * N;
            const float *m = modes + ((size_t)b * R + r) * 3;
            double sb = 0.0, sf = 0.0, sc = 0.0;
            for (int i = 0; i < N; i++) {
                double f = 0.0, bw = 0.0;
                for (int j = 0; j < N; j++) {
                    f += (double)Lb[(size_t)i * N + j] * w[j];
                    bw += (double)Lb[(size_t)j * N + i] * w[j];
                }
                sb += g[i] * bw;
                sf += g[i] * f;
                sc += (double)g[i] * c[((size_t)b * R + r) * N + i];
                if (dc) out_set(dc + ((size_t)b * R + r) * N + i, (double)m[2] * g[i], SETBIT(set, 3));
            }
            if (dmodes) {
                float *d = dmodes + ((size_t)b * R + r) * 3;
                out_set(d, sb, SETBIT(set, 2));
                out_set(d + 1, sf, SETBIT(set, 2));
                out_set(d + 2, sc, SETBIT(set, 2));
            }
            if (dwp)
                for (int j = 0; j < N; j++) {
                    /* wp[r,j] enters f[r,i] through L[i,j] and b[r,i] through L[j,i] */
                    double s = 0.0;
                    for (int i = 0; i < N; i++)
                        s += (double)g[i] * ((double)m[1] * Lb[(size_t)i * N + j] + (double)m[0] * Lb[(size_t)j * N + i]);
                    out_set(dwp + ((size_t)b * R + r) * N + j, s, SETBIT(set, 1));
                }
        }
        if (dL)
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) {
                    /* L[i,j] enters f[r,i] (times wp[r,j]) and b[r,j] (times wp[r,i]) */
                    double s = 0.0;
                    for (int r = 0; r < R; r++) {
                        const float *w = wp + ((size_t)b * R + r) * N, *g = dwr + ((size_t)b * R + r) * N;
                        const float *m = modes + ((size_t)b * R + r) * 3;
                        s += (double)m[1] * g[i] * w[j] + (double)m[0] * g[j] * w[i];
                    }
                    out_set(dL + ((size_t)b * N + i) * N + j, s, SETBIT(set, 0));
                }
    }
}

void alig_dnc_bmm_forward_naive(int B, int M, int K, int N, const float *A, const float *Bm, float *C)
{
    for (int b = 0; b < B; b++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = 0.0;
                for (int k = 0; k < K; k++)
                    s += (double)A[((size_t)b * M + m) * K + k] * Bm[((size_t)b * K + k) * N + n];
                C[((size_t)b * M + m) * N + n] = (float)s;
            }
}

void alig_dnc_bmm_backward_naive(int B, int M, int K, int N, const float *A, const float *Bm, const float *dC,
                                 float *dA, float *dBm, unsigned set)
{
    for (int b = 0; b < B; b++) {
        if (dA)
            for (int m = 0; m < M; m++)
                for (int k = 0; k < K; k++) {
                    double s = 0.0;
                    for (int n = 0; n < N; n++)
                        s += (double)dC[((size_t)b * M + m) * N + n] * Bm[((size_t)b * K + k) * N + n];
                    out_set(dA + ((size_t)b * M + m) * K + k, s, SETBIT(set, 0));
                }
        if (dBm)
            for (int k = 0; k < K; k++)
                for (int n = 0; n < N; n++) {
                    double s = 0.0;
                    for (int m = 0; m < M; m++)
                        s += (double)A[((size_t)b * M + m) * K + k] * dC[((size_t)b * M + m) * N + n];
                    out_set(dBm + ((size_t)b * K + k) * N + n, s, SETBIT(set, 1));
                }
    }
}
