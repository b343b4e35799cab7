/* dnc_mem_kernels.c - the DNC memory-access kernels; see dnc_mem_kernels.h for the contract of
 * each and docs/dnc_ops_mem.md for the derivations.
 *
 * Each optimised kernel works on one sample at a time in a static function on restrict
 * pointers (the per-sample loops are short: N, W = 16 at the DNC's sizes), with every inner loop
 * running along a contiguous row so that it vectorises: column sums are accumulated row by row
 * into a double workspace rather than walked down a column. The batch loop around it forks an
 * OpenMP team only when the call is large (ALIG_DNC_PAR_MIN); below that it is a plain loop (an
 * `omp parallel if (0)` still costs a team of one, about a microsecond, as much as a whole small
 * kernel). Dot products along a row use an `omp simd` reduction in double (the order is fixed at
 * compile time, so results are reproducible; the build passes -fopenmp or -fopenmp-simd, so the
 * pragma is live either way). The float expressions follow the reference DNC's order of
 * operations (deepmind/dnc, addressing.py and access.py): (1 − w_i) − w_j for the link's decay,
 * gw·(ga·a + (1 − ga)·c) for the write weights, content + forward + backward for the read
 * weights.
 *
 * The *_naive twins follow after the optimised kernels: the formulas written again as plain
 * serial loops with every sum in double, written independently of the optimised versions. */
#include "dnc_mem_kernels.h"

#include <string.h>

#include "kernels.h"

#define SETBIT(set, j) (((set) >> (j)) & 1u)

/* for (b = 0; b < B; b++) body, in parallel when `work` multiply-adds reach ALIG_DNC_PAR_MIN */
#define FOR_BATCH(B, work, b, body)                                                                \
    do {                                                                                           \
        if ((size_t)(work) >= ALIG_DNC_PAR_MIN) {                                                  \
            ALIG_NK_OMP(omp parallel for schedule(static))                                         \
            for (int b = 0; b < (B); b++) { body; }                                                \
        } else {                                                                                   \
            for (int b = 0; b < (B); b++) { body; }                                                \
        }                                                                                          \
    } while (0)

/* Σ_k a[k]·b[k] in double */
static inline double dotd(int n, const float *restrict a, const float *restrict b)
{
    double s = 0.0;
    _Pragma("omp simd reduction(+:s)")
    for (int k = 0; k < n; k++) s += (double)a[k] * (double)b[k];
    return s;
}

/* y[k] (= if set, else +=) alpha·x[k] */
static inline void axpy_set(int n, float alpha, const float *restrict x, float *restrict y, int set)
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

static inline void zero_d(int n, double *restrict y)
{
    for (int k = 0; k < n; k++) y[k] = 0.0;
}

/* ================================================================== write weights */

static void ww_forward_one(int N, const float *restrict a, const float *restrict c, float ga, float gw,
                           float *restrict ww)
{
    const float ng = 1.0f - ga;
    for (int i = 0; i < N; i++) ww[i] = gw * (ga * a[i] + ng * c[i]);
}

void alig_dnc_write_weights_forward(int B, int N, const float *a, const float *c, const float *ga,
                                    const float *gw, float *ww)
{
    FOR_BATCH(B, (size_t)B * N, b,
              ww_forward_one(N, a + (size_t)b * N, c + (size_t)b * N, ga[b], gw[b], ww + (size_t)b * N));
}

static void ww_backward_one(int N, const float *restrict a, const float *restrict c, float ga, float gw,
                            const float *restrict g, float *restrict da, float *restrict dc, float *dga, float *dgw,
                            unsigned set)
{
    const float ng = 1.0f - ga;
    if (da) axpy_set(N, gw * ga, g, da, SETBIT(set, 0));
    if (dc) axpy_set(N, gw * ng, g, dc, SETBIT(set, 1));
    if (dga || dgw) {
        double sa = 0.0, sc = 0.0;      /* Σ dww·a, Σ dww·c */
        _Pragma("omp simd reduction(+:sa,sc)")
        for (int i = 0; i < N; i++) {
            sa += (double)g[i] * a[i];
            sc += (double)g[i] * c[i];
        }
        if (dga) put(dga, (double)gw * (sa - sc), SETBIT(set, 2));
        if (dgw) put(dgw, (double)ga * sa + (double)ng * sc, SETBIT(set, 3));
    }
}

void alig_dnc_write_weights_backward(int B, int N, const float *a, const float *c, const float *ga,
                                     const float *gw, const float *dww, float *da, float *dc, float *dga,
                                     float *dgw, unsigned set)
{
    FOR_BATCH(B, (size_t)B * N, b,
              ww_backward_one(N, a + (size_t)b * N, c + (size_t)b * N, ga[b], gw[b], dww + (size_t)b * N,
                              da ? da + (size_t)b * N : NULL, dc ? dc + (size_t)b * N : NULL,
                              dga ? dga + b : NULL, dgw ? dgw + b : NULL, set));
}

/* ================================================================== memory write */

static void memory_forward_one(int N, int W, const float *restrict Mp, const float *restrict w,
                               const float *restrict e, const float *restrict v, float *restrict M)
{
    for (int i = 0; i < N; i++) {
        const float wi = w[i], *restrict mp = Mp + (size_t)i * W;
        float *restrict m = M + (size_t)i * W;
        for (int k = 0; k < W; k++) m[k] = mp[k] * (1.0f - wi * e[k]) + wi * v[k];
    }
}

void alig_dnc_memory_forward(int B, int N, int W, const float *Mp, const float *w, const float *e,
                             const float *v, float *M)
{
    const size_t nw = (size_t)N * W;
    FOR_BATCH(B, (size_t)B * nw, b,
              memory_forward_one(N, W, Mp + b * nw, w + (size_t)b * N, e + (size_t)b * W, v + (size_t)b * W,
                                 M + b * nw));
}

/* one sample; ws: 2·W doubles, the column sums of de and dv accumulated row by row */
static void memory_backward_one(int N, int W, const float *restrict Mp, const float *restrict w,
                                const float *restrict e, const float *restrict v, const float *restrict dM,
                                float *restrict dMp, float *restrict dw, float *de, float *dv, unsigned set,
                                double *restrict ws)
{
    double *restrict ae = ws, *restrict av = ws + W;
    const int cols = de || dv;
    if (cols) zero_d(2 * W, ws);
    for (int i = 0; i < N; i++) {
        const float *restrict mp = Mp + (size_t)i * W, *restrict g = dM + (size_t)i * W;
        const float wi = w[i];
        if (dMp) {
            float *restrict d = dMp + (size_t)i * W;
            if (SETBIT(set, 0))
                for (int k = 0; k < W; k++) d[k] = g[k] * (1.0f - wi * e[k]);
            else
                for (int k = 0; k < W; k++) d[k] += g[k] * (1.0f - wi * e[k]);
        }
        if (dw) {
            double s = 0.0;
            _Pragma("omp simd reduction(+:s)")
            for (int k = 0; k < W; k++) s += (double)g[k] * ((double)v[k] - (double)mp[k] * e[k]);
            put(dw + i, s, SETBIT(set, 1));
        }
        if (cols)
            for (int k = 0; k < W; k++) {
                const double gw = (double)g[k] * wi;
                ae[k] += gw * mp[k];
                av[k] += gw;
            }
    }
    if (de)
        for (int k = 0; k < W; k++) put(de + k, -ae[k], SETBIT(set, 2));
    if (dv)
        for (int k = 0; k < W; k++) put(dv + k, av[k], SETBIT(set, 3));
}

void alig_dnc_memory_backward(int B, int N, int W, const float *Mp, const float *w, const float *e,
                              const float *v, const float *dM, float *dMp, float *dw, float *de, float *dv,
                              unsigned set, double *ws)
{
    const size_t nw = (size_t)N * W;
    FOR_BATCH(B, (size_t)B * nw, b,
              memory_backward_one(N, W, Mp + b * nw, w + (size_t)b * N, e + (size_t)b * W, v + (size_t)b * W,
                                  dM + b * nw, dMp ? dMp + b * nw : NULL, dw ? dw + (size_t)b * N : NULL,
                                  de ? de + (size_t)b * W : NULL, dv ? dv + (size_t)b * W : NULL, set,
                                  ws + (size_t)b * 2 * W));
}

/* ================================================================== temporal link */

static void link_forward_one(int N, const float *restrict Lp, const float *restrict w, const float *restrict p,
                             float *restrict L)
{
    for (int i = 0; i < N; i++) {
        const float *restrict lp = Lp + (size_t)i * N;
        const float wi = w[i], ci = 1.0f - wi;
        float *restrict l = L + (size_t)i * N;
        for (int j = 0; j < N; j++) l[j] = (ci - w[j]) * lp[j] + wi * p[j];
        l[i] = 0.0f;
    }
}

void alig_dnc_link_forward(int B, int N, const float *Lp, const float *w, const float *p, float *L)
{
    const size_t nn = (size_t)N * N;
    FOR_BATCH(B, (size_t)B * nn, b,
              link_forward_one(N, Lp + b * nn, w + (size_t)b * N, p + (size_t)b * N, L + b * nn));
}

/* one sample; ws: 2·N doubles, dw and dp accumulated row by row (the diagonal skipped) */
static void link_backward_one(int N, const float *restrict Lp, const float *restrict w, const float *restrict p,
                              const float *restrict dL, float *restrict dLp, float *dw, float *dp, unsigned set,
                              double *restrict ws)
{
    double *restrict aw = ws, *restrict ap = ws + N;
    if (dw || dp) zero_d(2 * N, ws);
    for (int i = 0; i < N; i++) {
        const float *restrict g = dL + (size_t)i * N, *restrict lp = Lp + (size_t)i * N;
        const float wi = w[i], ci = 1.0f - wi;
        if (dLp) {
            float *restrict d = dLp + (size_t)i * N;
            const float keep = SETBIT(set, 0) ? 0.0f : d[i];   /* the diagonal gets nothing */
            if (SETBIT(set, 0))
                for (int j = 0; j < N; j++) d[j] = g[j] * (ci - w[j]);
            else
                for (int j = 0; j < N; j++) d[j] += g[j] * (ci - w[j]);
            d[i] = keep;
        }
        /* j runs over [0, i) then (i, N): two branch-free loops that vectorise */
        if (dw) {
            /* row i: Σ_{j≠i} dL[i,j]·(p[j] − Lp[i,j]) into dw[i]; column j: −dL[i,j]·Lp[i,j] into dw[j] */
            double s = 0.0;
            for (int h = 0; h < 2; h++) {
                const int j0 = h ? i + 1 : 0, j1 = h ? N : i;
                _Pragma("omp simd reduction(+:s)")
                for (int j = j0; j < j1; j++) s += (double)g[j] * ((double)p[j] - (double)lp[j]);
                for (int j = j0; j < j1; j++) aw[j] -= (double)g[j] * lp[j];
            }
            aw[i] += s;
        }
        if (dp)
            for (int h = 0; h < 2; h++) {
                const int j0 = h ? i + 1 : 0, j1 = h ? N : i;
                for (int j = j0; j < j1; j++) ap[j] += (double)g[j] * wi;
            }
    }
    if (dw)
        for (int k = 0; k < N; k++) put(dw + k, aw[k], SETBIT(set, 1));
    if (dp)
        for (int k = 0; k < N; k++) put(dp + k, ap[k], SETBIT(set, 2));
}

void alig_dnc_link_backward(int B, int N, const float *Lp, const float *w, const float *p, const float *dL,
                            float *dLp, float *dw, float *dp, unsigned set, double *ws)
{
    const size_t nn = (size_t)N * N;
    FOR_BATCH(B, (size_t)B * nn, b,
              link_backward_one(N, Lp + b * nn, w + (size_t)b * N, p + (size_t)b * N, dL + b * nn,
                                dLp ? dLp + b * nn : NULL, dw ? dw + (size_t)b * N : NULL,
                                dp ? dp + (size_t)b * N : NULL, set, ws + (size_t)b * 2 * N));
}

/* ================================================================== precedence */

static void precedence_forward_one(int N, const float *restrict pp, const float *restrict w, float *restrict p)
{
    double s = 0.0;
    _Pragma("omp simd reduction(+:s)")
    for (int i = 0; i < N; i++) s += w[i];
    const float keep = (float)(1.0 - s);
    for (int i = 0; i < N; i++) p[i] = keep * pp[i] + w[i];
}

void alig_dnc_precedence_forward(int B, int N, const float *pp, const float *w, float *p)
{
    FOR_BATCH(B, (size_t)B * N, b,
              precedence_forward_one(N, pp + (size_t)b * N, w + (size_t)b * N, p + (size_t)b * N));
}

static void precedence_backward_one(int N, const float *restrict pp, const float *restrict w,
                                    const float *restrict g, float *restrict dpp, float *restrict dw, unsigned set)
{
    if (dpp) {
        double s = 0.0;
        _Pragma("omp simd reduction(+:s)")
        for (int i = 0; i < N; i++) s += w[i];
        axpy_set(N, (float)(1.0 - s), g, dpp, SETBIT(set, 0));
    }
    if (dw) {
        const float t = (float)dotd(N, g, pp);
        if (SETBIT(set, 1))
            for (int k = 0; k < N; k++) dw[k] = g[k] - t;
        else
            for (int k = 0; k < N; k++) dw[k] += g[k] - t;
    }
}

void alig_dnc_precedence_backward(int B, int N, const float *pp, const float *w, const float *dp, float *dpp,
                                  float *dw, unsigned set)
{
    FOR_BATCH(B, (size_t)B * N, b,
              precedence_backward_one(N, pp + (size_t)b * N, w + (size_t)b * N, dp + (size_t)b * N,
                                      dpp ? dpp + (size_t)b * N : NULL, dw ? dw + (size_t)b * N : NULL, set));
}

/* ================================================================== read weights */

/* The four products of the read weights and the two of bmm are small matrix products ((R,N)·(N,N),
 * (N,R)·(R,N); at the DNC's sizes (4,16)·(16,16)), one OpenBLAS sgemm each per sample: measured
 * faster than plain vectorised loops on this library's baseline (SSE2) build, because OpenBLAS
 * picks AVX2 / AVX-512 kernels at run time (docs/dnc_ops_mem.md has the figures). Their batch
 * loops stay serial: sgemm threads by itself when a product is large enough. */

/* one sample; fb: f (R,N), then b (R,N), then 2·R·N floats of backward scratch */
static void read_forward_one(int R, int N, const float *restrict L, const float *restrict wp,
                             const float *restrict modes, const float *restrict c, float *restrict wr,
                             float *restrict fb)
{
    float *restrict F = fb, *restrict Bk = fb + (size_t)R * N;
    alig_nk_gemm(0, 1, R, N, N, 1.0f, wp, L, 0.0f, F);     /* f = wp·Lᵀ: f[r,i] = Σ_j L[i,j]·wp[r,j] */
    alig_nk_gemm(0, 0, R, N, N, 1.0f, wp, L, 0.0f, Bk);    /* b = wp·L:  b[r,j] = Σ_i L[i,j]·wp[r,i] */
    for (int r = 0; r < R; r++) {
        const float m0 = modes[3 * r], m1 = modes[3 * r + 1], m2 = modes[3 * r + 2];
        const float *restrict cr = c + (size_t)r * N, *restrict f = F + (size_t)r * N, *restrict bk = Bk + (size_t)r * N;
        float *restrict o = wr + (size_t)r * N;
        for (int i = 0; i < N; i++) o[i] = m2 * cr[i] + m1 * f[i] + m0 * bk[i];
    }
}

void alig_dnc_read_weights_forward(int B, int R, int N, const float *L, const float *wp, const float *modes,
                                   const float *c, float *wr, float *fb)
{
    const size_t nn = (size_t)N * N, rn = (size_t)R * N;
    for (int b = 0; b < B; b++)
        read_forward_one(R, N, L + b * nn, wp + b * rn, modes + (size_t)b * R * 3, c + b * rn, wr + b * rn,
                         fb + b * 4 * rn);
}

static void read_backward_one(int R, int N, const float *restrict L, const float *restrict wp,
                              const float *restrict modes, const float *restrict c, float *restrict fb,
                              const float *restrict dwr, float *restrict dL, float *restrict dwp, float *dm,
                              float *restrict dc, unsigned set)
{
    const float *restrict F = fb, *restrict Bk = fb + (size_t)R * N;
    float *restrict Gf = fb + 2 * (size_t)R * N, *restrict Gb = fb + 3 * (size_t)R * N;
    for (int r = 0; r < R; r++) {
        const float *restrict g = dwr + (size_t)r * N;
        const float m0 = modes[3 * r], m1 = modes[3 * r + 1];
        if (dm) {
            const float *restrict f = F + (size_t)r * N, *restrict bk = Bk + (size_t)r * N,
                                  *restrict cr = c + (size_t)r * N;
            double sb = 0.0, sf = 0.0, sc = 0.0;
            _Pragma("omp simd reduction(+:sb,sf,sc)")
            for (int i = 0; i < N; i++) {
                sb += (double)g[i] * bk[i];
                sf += (double)g[i] * f[i];
                sc += (double)g[i] * cr[i];
            }
            put(dm + 3 * r, sb, SETBIT(set, 2));
            put(dm + 3 * r + 1, sf, SETBIT(set, 2));
            put(dm + 3 * r + 2, sc, SETBIT(set, 2));
        }
        if (dc) axpy_set(N, modes[3 * r + 2], g, dc + (size_t)r * N, SETBIT(set, 3));
        for (int i = 0; i < N; i++) {       /* the gradients reaching f and b */
            Gf[(size_t)r * N + i] = m1 * g[i];
            Gb[(size_t)r * N + i] = m0 * g[i];
        }
    }
    if (dL) {   /* dL = Gfᵀ·wp + wpᵀ·Gb: dL[i,j] = Σ_r Gf[r,i]·wp[r,j] + wp[r,i]·Gb[r,j] */
        alig_nk_gemm(1, 0, N, N, R, 1.0f, Gf, wp, SETBIT(set, 0) ? 0.0f : 1.0f, dL);
        alig_nk_gemm(1, 0, N, N, R, 1.0f, wp, Gb, 1.0f, dL);
    }
    if (dwp) {  /* dwp = Gf·L + Gb·Lᵀ */
        alig_nk_gemm(0, 0, R, N, N, 1.0f, Gf, L, SETBIT(set, 1) ? 0.0f : 1.0f, dwp);
        alig_nk_gemm(0, 1, R, N, N, 1.0f, Gb, L, 1.0f, dwp);
    }
}

void alig_dnc_read_weights_backward(int B, int R, int N, const float *L, const float *wp, const float *modes,
                                    const float *c, float *fb, const float *dwr, float *dL, float *dwp,
                                    float *dmodes, float *dc, unsigned set)
{
    const size_t nn = (size_t)N * N, rn = (size_t)R * N;
    for (int b = 0; b < B; b++)
        read_backward_one(R, N, L + b * nn, wp + b * rn, modes + (size_t)b * R * 3, c + b * rn, fb + b * 4 * rn,
                          dwr + b * rn, dL ? dL + b * nn : NULL, dwp ? dwp + b * rn : NULL,
                          dmodes ? dmodes + (size_t)b * R * 3 : NULL, dc ? dc + b * rn : NULL, set);
}

/* ================================================================== bmm */

void alig_dnc_bmm_forward(int B, int M, int K, int N, const float *A, const float *Bm, float *C)
{
    const size_t mk = (size_t)M * K, kn = (size_t)K * N, mn = (size_t)M * N;
    for (int b = 0; b < B; b++) alig_nk_gemm(0, 0, M, N, K, 1.0f, A + b * mk, Bm + b * kn, 0.0f, C + b * mn);
}

void alig_dnc_bmm_backward(int B, int M, int K, int N, const float *A, const float *Bm, const float *dC, float *dA,
                           float *dBm, unsigned set)
{
    const size_t mk = (size_t)M * K, kn = (size_t)K * N, mn = (size_t)M * N;
    for (int b = 0; b < B; b++) {
        if (dA)     /* dA = dC·Bmᵀ */
            alig_nk_gemm(0, 1, M, K, N, 1.0f, dC + b * mn, Bm + b * kn, SETBIT(set, 0) ? 0.0f : 1.0f, dA + b * mk);
        if (dBm)    /* dBm = Aᵀ·dC */
            alig_nk_gemm(1, 0, K, N, M, 1.0f, A + b * mk, dC + b * mn, SETBIT(set, 1) ? 0.0f : 1.0f, dBm + b * kn);
    }
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
