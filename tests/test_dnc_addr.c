/* test_dnc_addr.c - the DNC addressing ops (include/alig/ad.h, "DNC memory access (addressing)": clip,
 * sigmoid_ce_masked, dnc_content, dnc_usage, dnc_allocation) and their kernels (nets/dnc_addr_kernels.h).
 *
 * 1. Kernels against naive twins written here in double (plain loops, other formulations: explicit
 *    softmax Jacobian, products of the other factors by direct loops, the allocation's gradient by the
 *    O(N²) sum instead of the kernel's recursion, a selection sort instead of the insertion sort), on
 *    random inputs at the DNC sizes (B = 16, N = W = 16, R = 4, content heads 1 and 4) and at odd sizes
 *    (B = 3, N = 5, W = 7, R = 2), forward and backward. Backward kernels are called once on zeroed
 *    gradient buffers (compared with the twin to TWIN_TOL relative to the tensor's largest entry) and
 *    once on random buffers (must add: the result is the buffer plus the first result, to float
 *    rounding), and once with every gradient output NULL (must not crash).
 * 2. Every op's backward against central differences of an independent DOUBLE forward (the twins
 *    again, at the float point converted to double), as tests/test_ad_double.c: L = Σ r ⊙ op(·) for
 *    the non-scalar ops, h = 1e-6·max(1, |x_i|), every coordinate; asserted: error ≤ the tolerance,
 *    ‖d‖∞ > 1e-2 (non-triviality), the float and double losses agree, every coordinate checked; a
 *    negative control (the gradient times 1.001 must fail). The usage op with stop_gradient = 0 against
 *    the full derivative, with stop_gradient = 1 exactly zero for ww_prev and the true gradient for the
 *    others; a factor of the usage product exactly 0.
 * 3. Values: the allocation at u = 0 in float32 (derived here by float arithmetic, and the numbers
 *    quoted in the DNC notes) and the float64 closed form (1 − ε)εʲ; ties to the lower slot; a usage
 *    vector whose sort order is known by hand; clip's gradient at the ends; the loss against
 *    hand-derived numbers and the loss floor at ±20; shape errors as a status and a message. */
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gsl/gsl_rng.h>

#include "alig/ad.h"
#include "nets/dnc_addr_kernels.h"

#define EPS_D ((double)1e-6f)   /* the ops' ε, as the float constant they use */
#define TWIN_TOL 1e-5           /* kernel vs double twin, relative to the tensor's largest entry */
#define TOL 2e-6                /* op gradient vs central differences (see test_ad_double.c) */
#define H_STEP 1e-6
#define KINK 1e-3
#define LOSS_TOL 1e-5
#define MAXP 6

static gsl_rng *rng;
static double unif(double lo, double hi) { return lo + (hi - lo) * gsl_rng_uniform(rng); }
static void fill(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)unif(lo, hi);
}

static float *fvec(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

static double *dvec(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    CU_ASSERT_FATAL(p != NULL);
    return p;
}

/* max_i |a_i − d_i| / max(‖d‖∞, floor) */
static double rel_err(size_t n, const float *a, const double *d, double floor_)
{
    double e = 0, m = floor_;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(d[i]));
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - d[i]));
    return e / m;
}

/* ====================================================================== double twins */

static double sp_d(double x) { return x > 30 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sig_d(double x) { return 1.0 / (1.0 + exp(-x)); }

static void twin_clip(size_t n, double lo, double hi, const double *x, double *y)
{
    for (size_t i = 0; i < n; i++) y[i] = fmin(fmax(x[i], lo), hi);
}

/* scale·Σ_b mask_b Σ_c [log(1 + e^x) − x·z] (the plain form; |x| stays small in the tests) */
static double twin_sce(int B, int C, const double *x, const float *z, const float *mask, double scale, double *dx)
{
    double L = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const double v = x[b * C + c], m = mask ? mask[b] : 1.0;
            L += m * (log1p(exp(-fabs(v))) + fmax(v, 0) - v * z[b * C + c]);
            if (dx) dx[b * C + c] = scale * m * (sig_d(v) - z[b * C + c]);
        }
    return scale * L;
}

/* content weights in double; c (B,H,N) */
static void twin_content(int B, int H, int N, int W, const double *k, const double *s, const double *M, double *c)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const double *kh = k + ((size_t)b * H + h) * W;
            double kk = 0;
            for (int w = 0; w < W; w++) kk += kh[w] * kh[w];
            double *z = c + ((size_t)b * H + h) * N, zmax = -INFINITY;
            for (int i = 0; i < N; i++) {
                const double *mi = M + ((size_t)b * N + i) * W;
                double dot = 0, mm = 0;
                for (int w = 0; w < W; w++) {
                    dot += kh[w] * mi[w];
                    mm += mi[w] * mi[w];
                }
                z[i] = sp_d(s[b * H + h]) * dot / (sqrt(kk + EPS_D) * sqrt(mm + EPS_D) + EPS_D);
                zmax = fmax(zmax, z[i]);
            }
            double S = 0;
            for (int i = 0; i < N; i++) S += exp(z[i] - zmax);
            for (int i = 0; i < N; i++) z[i] = exp(z[i] - zmax) / S;
        }
}

/* content backward in double, by explicit Jacobians: for each (b,h) the softmax Jacobian
 * J_ij = c_i(δ_ij − c_j) gives dz; then z_i = β·dot_i/(a·m_i + ε) is differentiated term by term with
 * the quotient rule, a = ‖k‖_ε, m_i = ‖M_i‖_ε */
static void twin_content_bwd(int B, int H, int N, int W, const double *k, const double *s, const double *M,
                             const double *dc, double *dk, double *ds, double *dM)
{
    double *c = dvec((size_t)B * H * N);
    twin_content(B, H, N, W, k, s, M, c);
    memset(dk, 0, (size_t)B * H * W * sizeof *dk);
    memset(ds, 0, (size_t)B * H * sizeof *ds);
    memset(dM, 0, (size_t)B * N * W * sizeof *dM);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const double *kh = k + ((size_t)b * H + h) * W, *ch = c + ((size_t)b * H + h) * N;
            const double *gh = dc + ((size_t)b * H + h) * N;
            double kk = 0;
            for (int w = 0; w < W; w++) kk += kh[w] * kh[w];
            const double a = sqrt(kk + EPS_D), beta = sp_d(s[b * H + h]);
            for (int i = 0; i < N; i++) {
                double dz = 0;
                for (int j = 0; j < N; j++) dz += gh[j] * ch[j] * ((i == j) - ch[i]);
                const double *mi = M + ((size_t)b * N + i) * W;
                double dot = 0, mm = 0;
                for (int w = 0; w < W; w++) {
                    dot += kh[w] * mi[w];
                    mm += mi[w] * mi[w];
                }
                const double m = sqrt(mm + EPS_D), den = a * m + EPS_D;
                ds[b * H + h] += dz * sig_d(s[b * H + h]) * dot / den;
                for (int w = 0; w < W; w++) {
                    /* ∂z/∂k_w = β[M_iw/den − dot·m·(k_w/a)/den²], ∂z/∂M_iw = β[k_w/den − dot·a·(M_iw/m)/den²] */
                    dk[((size_t)b * H + h) * W + w] += dz * beta * (mi[w] / den - dot * m * (kh[w] / a) / (den * den));
                    dM[((size_t)b * N + i) * W + w] += dz * beta * (kh[w] / den - dot * a * (mi[w] / m) / (den * den));
                }
            }
        }
    free(c);
}

/* usage in double */
static void twin_usage(int B, int N, int R, const double *u0, const double *ww, const double *f, const double *wr,
                       double *u)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            double psi = 1;
            for (int r = 0; r < R; r++) psi *= 1 - f[b * R + r] * wr[((size_t)b * R + r) * N + i];
            const double x = u0[b * N + i], w = ww[b * N + i];
            u[b * N + i] = (x + (1 - x) * w) * psi;
        }
}

static void twin_usage_bwd(int B, int N, int R, const double *u0, const double *ww, const double *f,
                           const double *wr, const double *du, double *du0, double *dww, double *df, double *dwr)
{
    memset(df, 0, (size_t)B * R * sizeof *df);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            double psi = 1;
            for (int r = 0; r < R; r++) psi *= 1 - f[b * R + r] * wr[((size_t)b * R + r) * N + i];
            const double x = u0[b * N + i], w = ww[b * N + i], g = du[b * N + i];
            du0[b * N + i] = g * psi * (1 - w);
            dww[b * N + i] = g * psi * (1 - x);
            for (int r = 0; r < R; r++) {
                double other = 1;
                for (int q = 0; q < R; q++)
                    if (q != r) other *= 1 - f[b * R + q] * wr[((size_t)b * R + q) * N + i];
                const double dfac = g * (x + (1 - x) * w) * other;      /* ∂u/∂(factor r) */
                df[b * R + r] -= dfac * wr[((size_t)b * R + r) * N + i];
                dwr[((size_t)b * R + r) * N + i] = -dfac * f[b * R + r];
            }
        }
}

/* sort order of the allocation: repeatedly the largest n not taken yet, the lowest index among equals
 * (a selection sort, scanning upwards with a strict comparison) */
static void twin_order(int N, const double *n, int *phi)
{
    int taken[256] = { 0 };
    CU_ASSERT_FATAL(N <= 256);
    for (int j = 0; j < N; j++) {
        int best = -1;
        for (int i = 0; i < N; i++)
            if (!taken[i] && (best < 0 || n[i] > n[best])) best = i;
        taken[best] = 1;
        phi[j] = best;
    }
}

/* nonusage; f32 = 1 rounds û and n to float as the op does, 0 keeps double (the closed form) */
static double twin_nonusage(double u, int f32)
{
    if (f32) {
        const float e = 1e-6f, uh = e + (1.0f - e) * (float)u;
        return (double)(1.0f - uh);
    }
    return 1.0 - (EPS_D + (1.0 - EPS_D) * u);
}

/* allocation of one row; with f32 the factors 1 − n are the float ones, the product is double */
static void twin_alloc_row(int N, const double *u, int f32, double *a, int *phi)
{
    double n[256];
    for (int i = 0; i < N; i++) n[i] = twin_nonusage(u[i], f32);
    twin_order(N, n, phi);
    for (int j = 0; j < N; j++) {
        double p = 1;
        for (int i = 0; i < j; i++) p *= f32 ? (double)(1.0f - (float)n[phi[i]]) : 1.0 - n[phi[i]];
        a[phi[j]] = n[phi[j]] * p;
    }
}

static void twin_alloc(int B, int N, const double *u, int f32, double *a)
{
    int phi[256];
    for (int b = 0; b < B; b++) twin_alloc_row(N, u + (size_t)b * N, f32, a + (size_t)b * N, phi);
}

/* ∂L/∂u by the O(N²) sum: ∂a_k/∂n_j = P_j [k = j] − [k > j] n_k Π_{i<k, i≠j} q_i, ∂n/∂u = −(1 − ε) */
static void twin_alloc_bwd(int B, int N, const double *u, int f32, const double *da, double *du)
{
    for (int b = 0; b < B; b++) {
        double n[256], q[256];
        int phi[256];
        for (int i = 0; i < N; i++) n[i] = twin_nonusage(u[b * N + i], f32);
        twin_order(N, n, phi);
        for (int i = 0; i < N; i++) q[i] = f32 ? (double)(1.0f - (float)n[i]) : 1.0 - n[i];
        for (int j = 0; j < N; j++) {
            double dn = 0;
            for (int k = j; k < N; k++) {
                double p = 1;
                for (int i = 0; i < k; i++)
                    if (i != j) p *= q[phi[i]];
                dn += da[b * N + phi[k]] * (k == j ? p : -n[phi[k]] * p);
            }
            du[b * N + phi[j]] = -(1 - EPS_D) * dn;
        }
    }
}

/* ====================================================================== 1. kernels vs twins */

static double *to_d(size_t n, const float *x)
{
    double *d = dvec(n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* out2 must equal base + out1 (accumulation), to float rounding of a few additions */
static void check_accumulates(size_t n, const float *base, const float *out1, const float *out2, const char *what)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        const double want = (double)base[i] + out1[i];
        e = fmax(e, fabs(out2[i] - want) / (fabs(base[i]) + fabs(out1[i]) + 1e-30));
    }
    if (e > 1e-6) printf("  %s: not accumulated (+=), rel err %.2e\n", what, e);
    CU_ASSERT(e <= 1e-6);
}

static void twin_content_case(int B, int H, int N, int W)
{
    const size_t nk = (size_t)B * H * W, ns = (size_t)B * H, nm = (size_t)B * N * W, nc = (size_t)B * H * N;
    float *k = fvec(nk), *s = fvec(ns), *M = fvec(nm), *c = fvec(nc), *kn = fvec(ns), *mn = fvec((size_t)B * N);
    float *bt = fvec(ns), *sim = fvec(nc), *dc = fvec(nc);
    float *dk = fvec(nk), *ds = fvec(ns), *dM = fvec(nm), *bk = fvec(nk), *bs = fvec(ns), *bM = fvec(nm);
    float *dk2 = fvec(nk), *ds2 = fvec(ns), *dM2 = fvec(nm);
    fill(k, nk, -1, 1);
    fill(s, ns, -2, 4);
    fill(M, nm, -1, 1);
    fill(dc, nc, -1, 1);
    for (size_t i = 0; i < (size_t)W; i++) M[i] = 0.0f;     /* one all-zero slot (the t = 0 memory) */
    alig_nk_dnc_content_forward(B, H, N, W, k, s, M, c, kn, mn, bt, sim);
    double *kd = to_d(nk, k), *sd = to_d(ns, s), *Md = to_d(nm, M), *dcd = to_d(nc, dc), *cd = dvec(nc);
    double *dkd = dvec(nk), *dsd = dvec(ns), *dMd = dvec(nm);
    twin_content(B, H, N, W, kd, sd, Md, cd);
    twin_content_bwd(B, H, N, W, kd, sd, Md, dcd, dkd, dsd, dMd);
    alig_nk_dnc_content_backward(B, H, N, W, k, s, M, c, kn, mn, bt, sim, dc, dk, ds, dM);
    const double ec = rel_err(nc, c, cd, 0), ek = rel_err(nk, dk, dkd, 0), es = rel_err(ns, ds, dsd, 0),
                 em = rel_err(nm, dM, dMd, 0);
    printf("  content B=%d H=%d N=%d W=%d: c %.1e  dk %.1e  ds %.1e  dM %.1e\n", B, H, N, W, ec, ek, es, em);
    CU_ASSERT(ec <= TWIN_TOL && ek <= TWIN_TOL && es <= TWIN_TOL && em <= TWIN_TOL);
    fill(bk, nk, -1, 1);
    fill(bs, ns, -1, 1);
    fill(bM, nm, -1, 1);
    memcpy(dk2, bk, nk * sizeof *dk2);
    memcpy(ds2, bs, ns * sizeof *ds2);
    memcpy(dM2, bM, nm * sizeof *dM2);
    alig_nk_dnc_content_backward(B, H, N, W, k, s, M, c, kn, mn, bt, sim, dc, dk2, ds2, dM2);
    check_accumulates(nk, bk, dk, dk2, "content dk");
    check_accumulates(ns, bs, ds, ds2, "content ds");
    check_accumulates(nm, bM, dM, dM2, "content dM");
    alig_nk_dnc_content_backward(B, H, N, W, k, s, M, c, kn, mn, bt, sim, dc, NULL, NULL, NULL);
    float *bufs[] = { k, s, M, c, kn, mn, bt, sim, dc, dk, ds, dM, bk, bs, bM, dk2, ds2, dM2 };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    double *dbufs[] = { kd, sd, Md, dcd, cd, dkd, dsd, dMd };
    for (size_t i = 0; i < sizeof dbufs / sizeof *dbufs; i++) free(dbufs[i]);
}

static void twin_usage_case(int B, int N, int R)
{
    const size_t nu = (size_t)B * N, nf = (size_t)B * R, nw = (size_t)B * R * N;
    float *u0 = fvec(nu), *ww = fvec(nu), *f = fvec(nf), *wr = fvec(nw), *u = fvec(nu), *up = fvec(nu), *psi = fvec(nu);
    float *du = fvec(nu), *g0 = fvec(nu), *gw = fvec(nu), *gf = fvec(nf), *gr = fvec(nw);
    float *b0 = fvec(nu), *bw = fvec(nu), *bf = fvec(nf), *br = fvec(nw);
    float *h0 = fvec(nu), *hw = fvec(nu), *hf = fvec(nf), *hr = fvec(nw);
    fill(u0, nu, 0, 1);
    fill(ww, nu, 0, 1);
    fill(f, nf, 0, 1);
    fill(wr, nw, 0, 1);
    fill(du, nu, -1, 1);
    alig_nk_dnc_usage_forward(B, N, R, u0, ww, f, wr, u, up, psi);
    double *u0d = to_d(nu, u0), *wwd = to_d(nu, ww), *fd = to_d(nf, f), *wrd = to_d(nw, wr), *dud = to_d(nu, du);
    double *ud = dvec(nu), *g0d = dvec(nu), *gwd = dvec(nu), *gfd = dvec(nf), *grd = dvec(nw);
    twin_usage(B, N, R, u0d, wwd, fd, wrd, ud);
    twin_usage_bwd(B, N, R, u0d, wwd, fd, wrd, dud, g0d, gwd, gfd, grd);
    alig_nk_dnc_usage_backward(B, N, R, u0, ww, f, wr, up, psi, du, g0, gw, gf, gr);
    const double e[5] = { rel_err(nu, u, ud, 0), rel_err(nu, g0, g0d, 0), rel_err(nu, gw, gwd, 0),
                          rel_err(nf, gf, gfd, 0), rel_err(nw, gr, grd, 0) };
    printf("  usage B=%d N=%d R=%d: u %.1e  du_prev %.1e  dww %.1e  df %.1e  dwr %.1e\n", B, N, R, e[0], e[1], e[2],
           e[3], e[4]);
    for (int i = 0; i < 5; i++) CU_ASSERT(e[i] <= TWIN_TOL);
    fill(b0, nu, -1, 1);
    fill(bw, nu, -1, 1);
    fill(bf, nf, -1, 1);
    fill(br, nw, -1, 1);
    memcpy(h0, b0, nu * sizeof *h0);
    memcpy(hw, bw, nu * sizeof *hw);
    memcpy(hf, bf, nf * sizeof *hf);
    memcpy(hr, br, nw * sizeof *hr);
    alig_nk_dnc_usage_backward(B, N, R, u0, ww, f, wr, up, psi, du, h0, hw, hf, hr);
    check_accumulates(nu, b0, g0, h0, "usage du_prev");
    check_accumulates(nu, bw, gw, hw, "usage dww");
    check_accumulates(nf, bf, gf, hf, "usage df");
    check_accumulates(nw, br, gr, hr, "usage dwr");
    alig_nk_dnc_usage_backward(B, N, R, u0, ww, f, wr, up, psi, du, NULL, NULL, NULL, NULL);
    float *bufs[] = { u0, ww, f, wr, u, up, psi, du, g0, gw, gf, gr, b0, bw, bf, br, h0, hw, hf, hr };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    double *dbufs[] = { u0d, wwd, fd, wrd, dud, ud, g0d, gwd, gfd, grd };
    for (size_t i = 0; i < sizeof dbufs / sizeof *dbufs; i++) free(dbufs[i]);
}

/* allocation values span many decades: compared entry by entry, relative, above 1e-30 */
static double alloc_err(size_t n, const float *a, const double *d)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(d[i]) > 1e-30 ? fabs(a[i] - d[i]) / fabs(d[i]) : fabs(a[i] - d[i]) / 1e-30);
    return e;
}

static void twin_alloc_case(int B, int N, double lo, double hi)
{
    const size_t n = (size_t)B * N;
    float *u = fvec(n), *a = fvec(n), *da = fvec(n), *du = fvec(n), *base = fvec(n), *du2 = fvec(n);
    int32_t *perm = calloc(n, sizeof *perm);
    double *ws = dvec(n);
    CU_ASSERT_FATAL(perm != NULL);
    fill(u, n, lo, hi);
    for (int b = 0; b < B; b += 3)     /* some ties in every third row: slot 1 takes slot 0's usage */
        if (N > 1) u[(size_t)b * N + 1] = u[(size_t)b * N];
    fill(da, n, -1, 1);
    alig_nk_dnc_allocation_forward(B, N, u, a, perm);
    double *ud = to_d(n, u), *dad = to_d(n, da), *ad = dvec(n), *dud = dvec(n);
    twin_alloc(B, N, ud, 1, ad);
    twin_alloc_bwd(B, N, ud, 1, dad, dud);
    alig_nk_dnc_allocation_backward(B, N, u, perm, da, du, ws);
    const double ea = alloc_err(n, a, ad), eu = rel_err(n, du, dud, 0);
    printf("  allocation B=%d N=%d u in [%g,%g]: a %.1e (entrywise)  du %.1e\n", B, N, lo, hi, ea, eu);
    CU_ASSERT(ea <= TWIN_TOL);
    CU_ASSERT(eu <= TWIN_TOL);
    /* the permutation: the twin's order */
    int phi[256];
    int same = 1;
    for (int b = 0; b < B; b++) {
        double nn[256];
        for (int i = 0; i < N; i++) nn[i] = twin_nonusage(u[b * N + i], 1);
        twin_order(N, nn, phi);
        for (int j = 0; j < N; j++) same &= perm[b * N + j] == phi[j];
    }
    CU_ASSERT(same);
    fill(base, n, -1, 1);
    memcpy(du2, base, n * sizeof *du2);
    alig_nk_dnc_allocation_backward(B, N, u, perm, da, du2, ws);
    check_accumulates(n, base, du, du2, "allocation du");
    alig_nk_dnc_allocation_backward(B, N, u, perm, da, NULL, ws);
    free(u); free(a); free(da); free(du); free(base); free(du2); free(perm); free(ws);
    free(ud); free(dad); free(ad); free(dud);
}

static void twin_clip_sce_case(int B, int C)
{
    const size_t n = (size_t)B * C;
    float *x = fvec(n), *y = fvec(n), *dy = fvec(n), *dx = fvec(n), *z = fvec(n), *mask = fvec((size_t)B);
    fill(x, n, -3, 3);
    fill(dy, n, -1, 1);
    for (size_t i = 0; i < n; i++) z[i] = (float)(gsl_rng_uniform(rng) < 0.5);
    for (int b = 0; b < B; b++) mask[b] = (float)(b % 3 != 1);
    alig_nk_clip_forward(n, -1.5f, 2.0f, x, y);
    alig_nk_clip_backward(n, -1.5f, 2.0f, x, dy, dx);
    double *xd = to_d(n, x), *yd = dvec(n), *dxd = dvec(n);
    twin_clip(n, -1.5, 2.0, xd, yd);
    for (size_t i = 0; i < n; i++) dxd[i] = (xd[i] >= -1.5 && xd[i] <= 2.0) ? dy[i] : 0.0;
    CU_ASSERT(rel_err(n, y, yd, 0) == 0.0);
    CU_ASSERT(rel_err(n, dx, dxd, 0) == 0.0);
    const double scale = 1.0 / B;
    for (int mk = 0; mk < 2; mk++) {
        const float *m = mk ? mask : NULL;
        const double L = alig_nk_sigmoid_ce_masked_forward(B, C, x, z, m, scale);
        const double Ld = twin_sce(B, C, xd, z, m, scale, dxd);
        memset(dx, 0, n * sizeof *dx);
        alig_nk_sigmoid_ce_masked_backward(B, C, x, z, m, scale, 0.75f, dx);
        for (size_t i = 0; i < n; i++) dxd[i] *= 0.75;
        const double el = fabs(L - Ld) / fabs(Ld), ed = rel_err(n, dx, dxd, 0);
        printf("  sigmoid_ce_masked B=%d C=%d mask %s: loss %.1e  dx %.1e\n", B, C, mk ? "yes" : "NULL", el, ed);
        CU_ASSERT(el <= 1e-12);      /* both in double from the same floats */
        CU_ASSERT(ed <= TWIN_TOL);
    }
    free(x); free(y); free(dy); free(dx); free(z); free(mask); free(xd); free(yd); free(dxd);
}

static void test_kernels_vs_twins(void)
{
    twin_clip_sce_case(16, 5);
    twin_clip_sce_case(3, 7);
    twin_content_case(16, 1, 16, 16);
    twin_content_case(16, 4, 16, 16);
    twin_content_case(3, 2, 5, 7);
    twin_usage_case(16, 16, 4);
    twin_usage_case(3, 5, 2);
    twin_alloc_case(16, 16, 0, 1);
    twin_alloc_case(3, 5, 0, 1);
    twin_alloc_case(16, 16, 0.9, 1);       /* nearly full memory: large products */
}

/* ====================================================================== 2. ops vs double central differences */

typedef struct tc tc;
typedef double (*ref_fn)(tc *t, const double *x);

struct tc {
    alig_ad_params *P;
    alig_ad_graph *G;
    alig_ad_node *par[MAXP];
    int npar;
    alig_ad_node *in[MAXP];      /* operands in op order (params or inputs) */
    alig_ad_node *out, *r, *loss, *node;
    alig_ad_node *targ, *mask;
    double scale, lo, hi;
    int R, zero_par;             /* zero_par: index of a parameter whose gradient must be exactly 0, or −1 */
    double tol;
    ref_fn ref;
};

static void tc_init(tc *t)
{
    memset(t, 0, sizeof *t);
    t->zero_par = -1;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&t->P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&t->G, t->P, 1) == ALIG_SUCCESS);
}

static void tc_free(tc *t)
{
    alig_ad_graph_free(t->G);
    alig_ad_params_free(t->P);
}

static alig_ad_node *par(tc *t, int ndim, const int *dims)
{
    int id;
    CU_ASSERT_FATAL(t->npar < MAXP);
    CU_ASSERT_FATAL(alig_ad_params_add(t->P, ndim, dims, &id) == ALIG_SUCCESS);
    return t->par[t->npar++] = alig_ad_param(t->G, id);
}

static void project(tc *t, alig_ad_node *y)
{
    t->node = t->out = y;
    t->r = alig_ad_input(t->G, y->ndim, y->dims);
    t->loss = alig_ad_sum(t->G, alig_ad_mul(t->G, y, t->r));
}

static void tc_compile(tc *t)
{
    alig_status rc = alig_ad_graph_compile(t->G);
    if (rc) printf("  compile failed: %s\n", alig_ad_graph_error(t->G));
    CU_ASSERT_FATAL(rc == ALIG_SUCCESS);
    if (t->r) fill(t->r->value, t->r->size, -1, 1);
}

/* operand k of the op as a double array: a parameter's slice of x, or an input's float values */
static const double *OP(tc *t, const double *x, int k, double *tmp)
{
    const alig_ad_node *n = t->in[k];
    if (n->op == ALIG_OP_PARAM) return x + (n->value - alig_ad_params_x(t->P));
    for (size_t i = 0; i < n->size; i++) tmp[i] = n->value[i];
    return tmp;
}

static double proj(const tc *t, const double *y)
{
    double s = 0;
    for (size_t i = 0; i < t->out->size; i++) s += (double)t->r->value[i] * y[i];
    return s;
}

#define TMPN 8192
static double tmpb[4][TMPN], ybuf[TMPN];

static double ref_clip(tc *t, const double *x)
{
    twin_clip(t->out->size, t->lo, t->hi, OP(t, x, 0, tmpb[0]), ybuf);
    return proj(t, ybuf);
}

static double ref_sce(tc *t, const double *x)
{
    const alig_ad_node *l = t->in[0];
    return twin_sce(l->dims[0], l->dims[1], OP(t, x, 0, tmpb[0]), t->targ->value, t->mask ? t->mask->value : NULL,
                    t->scale, NULL);
}

static double ref_content(tc *t, const double *x)
{
    const alig_ad_node *k = t->in[0], *m = t->in[2];
    twin_content(k->dims[0], k->dims[1], m->dims[1], k->dims[2], OP(t, x, 0, tmpb[0]), OP(t, x, 1, tmpb[1]),
                 OP(t, x, 2, tmpb[2]), ybuf);
    return proj(t, ybuf);
}

static double ref_usage(tc *t, const double *x)
{
    const alig_ad_node *u = t->in[0];
    twin_usage(u->dims[0], u->dims[1], t->in[2]->dims[1], OP(t, x, 0, tmpb[0]), OP(t, x, 1, tmpb[1]),
               OP(t, x, 2, tmpb[2]), OP(t, x, 3, tmpb[3]), ybuf);
    return proj(t, ybuf);
}

static double ref_alloc(tc *t, const double *x)
{
    const alig_ad_node *u = t->in[0];
    twin_alloc(u->dims[0], u->dims[1], OP(t, x, 0, tmpb[0]), 0, ybuf);
    return proj(t, ybuf);
}

typedef struct {
    size_t checked;
    double err, dmax, lerr, zero_max;
    int finite;
} cmp_res;

/* float forward + backward (a, scaled by s); central differences of the double reference (d) on every
 * coordinate, except those of parameter zero_par, whose a must be exactly 0 */
static void compare(tc *t, double s, cmp_res *res)
{
    memset(res, 0, sizeof *res);
    CU_ASSERT_FATAL(alig_ad_forward(t->G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(t->G, t->loss) == ALIG_SUCCESS);
    const size_t n = alig_ad_params_n(t->P);
    const float *xf = alig_ad_params_x(t->P), *g = alig_ad_params_g(t->P);
    double *x = dvec(n), *d = dvec(n);
    for (size_t i = 0; i < n; i++) x[i] = xf[i];
    size_t z0 = 0, z1 = 0;
    if (t->zero_par >= 0) {
        z0 = (size_t)(t->par[t->zero_par]->value - xf);
        z1 = z0 + t->par[t->zero_par]->size;
    }
    const double L0 = t->ref(t, x);
    res->lerr = fabs(alig_ad_scalar(t->loss) - L0) / fmax(1.0, fabs(L0));
    res->finite = 1;
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        res->finite &= isfinite(g[i]) != 0;
        if (i >= z0 && i < z1) {
            res->zero_max = fmax(res->zero_max, fabs(g[i]));
            continue;
        }
        const double xi = x[i], h = H_STEP * fmax(1.0, fabs(xi)), xp = xi + h, xm = xi - h;
        x[i] = xp;
        const double lp = t->ref(t, x);
        x[i] = xm;
        const double lm = t->ref(t, x);
        x[i] = xi;
        d[i] = (lp - lm) / (xp - xm);
        res->dmax = fmax(res->dmax, fabs(d[i]));
        res->checked++;
    }
    for (size_t i = 0; i < n; i++)
        if (!(i >= z0 && i < z1)) e = fmax(e, fabs(s * (double)g[i] - d[i]));
    res->err = e / fmax(res->dmax, 1e-3);
    free(x);
    free(d);
}

static double check(tc *t, const char *name)
{
    cmp_res r;
    compare(t, 1.0, &r);
    const double tol = t->tol > 0 ? t->tol : TOL;
    const size_t want = alig_ad_params_n(t->P) - (t->zero_par >= 0 ? t->par[t->zero_par]->size : 0);
    printf("  %-44s coords %5zu  |d|max %.2e  loss diff %.1e  max err %.2e (tol %.0e)\n", name, r.checked, r.dmax,
           r.lerr, r.err, tol);
    CU_ASSERT(r.checked > 0 && r.checked == want);
    CU_ASSERT(r.dmax > 1e-2);
    CU_ASSERT(r.lerr <= LOSS_TOL);
    CU_ASSERT(r.err <= tol);
    CU_ASSERT(r.finite);
    if (t->zero_par >= 0) CU_ASSERT(r.zero_max == 0.0);
    return r.err;
}

static void fill_par(tc *t, int k, double lo, double hi) { fill(t->par[k]->value, t->par[k]->size, lo, hi); }

static void build_content(tc *t, int B, int H, int N, int W)
{
    tc_init(t);
    t->in[0] = par(t, 3, (int[]){ B, H, W });
    t->in[1] = par(t, 2, (int[]){ B, H });
    t->in[2] = par(t, 3, (int[]){ B, N, W });
    project(t, alig_ad_dnc_content(t->G, t->in[0], t->in[1], t->in[2]));
    t->ref = ref_content;
    tc_compile(t);
    fill_par(t, 0, -1, 1);
    fill_par(t, 1, -1, 3);
    fill_par(t, 2, -1, 1);
}

static void build_usage(tc *t, int B, int N, int R, int sg)
{
    tc_init(t);
    t->in[0] = par(t, 2, (int[]){ B, N });
    t->in[1] = par(t, 2, (int[]){ B, N });
    t->in[2] = par(t, 2, (int[]){ B, R });
    t->in[3] = par(t, 3, (int[]){ B, R, N });
    project(t, alig_ad_dnc_usage(t->G, t->in[0], t->in[1], t->in[2], t->in[3], sg));
    t->ref = ref_usage;
    tc_compile(t);
    for (int k = 0; k < 4; k++) fill_par(t, k, 0, 1);
}

/* usage values of a row at least `gap` apart from each other (the sort order is then constant under
 * the perturbations of the check) */
static void spread_usage(float *u, int B, int N, double lo, double hi, double gap)
{
    for (int b = 0; b < B; b++)
        for (int tries = 0;; tries++) {
            CU_ASSERT_FATAL(tries < 10000);
            fill(u + (size_t)b * N, (size_t)N, lo, hi);
            double mg = INFINITY;
            for (int i = 0; i < N; i++)
                for (int j = 0; j < i; j++) mg = fmin(mg, fabs(u[b * N + i] - u[b * N + j]));
            if (mg > gap) break;
        }
}

static void build_alloc(tc *t, int B, int N)
{
    tc_init(t);
    t->in[0] = par(t, 2, (int[]){ B, N });
    project(t, alig_ad_dnc_allocation(t->G, t->in[0]));
    t->ref = ref_alloc;
    tc_compile(t);
    spread_usage(t->in[0]->value, B, N, 0.05, 0.95, N > 8 ? KINK : 0.05);
}

/* The allocation's factors 1 − n are formed in float (the op's definition) while the double reference
 * uses û: 1 − (1 − û) is off by up to 6e-8 absolute, i.e. 1.2e-6 relative at û = 0.05, the lower end of
 * the usages drawn below; TOL still holds with a margin (measured 3e-8). Below û ~ 1e-3 the two forms
 * part (1.3% at û = 1e-6, test_allocation_values), so the check keeps u >= 0.05. */

static void test_ops_vs_double(void)
{
    tc t;
    /* clip, inputs at least KINK from the ends */
    tc_init(&t);
    t.in[0] = par(&t, 2, (int[]){ 3, 7 });
    t.lo = -1.5;
    t.hi = 2.0;
    project(&t, alig_ad_clip(t.G, t.in[0], t.lo, t.hi));
    t.ref = ref_clip;
    tc_compile(&t);
    for (size_t i = 0; i < t.in[0]->size; i++) {
        float v;
        do v = (float)unif(-3, 3);
        while (fabs(v - t.lo) < KINK || fabs(v - t.hi) < KINK);
        t.in[0]->value[i] = v;
    }
    check(&t, "clip (3,7) [-1.5, 2]");
    tc_free(&t);

    /* masked sigmoid cross-entropy, with a mask and without */
    for (int mk = 0; mk < 2; mk++) {
        tc_init(&t);
        t.in[0] = par(&t, 2, (int[]){ 4, 5 });
        t.targ = alig_ad_input(t.G, 2, (int[]){ 4, 5 });
        t.mask = mk ? alig_ad_input(t.G, 1, (int[]){ 4 }) : NULL;
        t.scale = 0.25;
        t.loss = alig_ad_sigmoid_ce_masked(t.G, t.in[0], t.targ, t.mask, t.scale);
        t.ref = ref_sce;
        tc_compile(&t);
        fill_par(&t, 0, -4, 4);
        for (size_t i = 0; i < t.targ->size; i++) t.targ->value[i] = (float)(gsl_rng_uniform(rng) < 0.5);
        if (t.mask) {
            const float m[4] = { 1, 0, 1, 1 };
            memcpy(t.mask->value, m, sizeof m);
        }
        check(&t, mk ? "sigmoid_ce_masked (4,5), mask 1,0,1,1" : "sigmoid_ce_masked (4,5), no mask");
        tc_free(&t);
    }

    /* content: odd sizes, DNC read and write sizes, and a zero memory (t = 0) as parameter */
    build_content(&t, 3, 2, 5, 7);
    check(&t, "dnc_content B=3 H=2 N=5 W=7");
    tc_free(&t);
    build_content(&t, 16, 4, 16, 16);
    check(&t, "dnc_content B=16 H=4 N=16 W=16");
    tc_free(&t);
    build_content(&t, 4, 1, 16, 16);
    memset(t.in[2]->value, 0, t.in[2]->size * sizeof(float));
    check(&t, "dnc_content B=4 H=1 N=16 W=16, memory = 0");
    tc_free(&t);

    /* usage: full derivative (stop_gradient = 0) */
    build_usage(&t, 3, 5, 2, 0);
    check(&t, "dnc_usage B=3 N=5 R=2, full gradient");
    tc_free(&t);
    build_usage(&t, 16, 16, 4, 0);
    check(&t, "dnc_usage B=16 N=16 R=4, full gradient");
    tc_free(&t);
    /* stop_gradient = 1: ww_prev gets exactly 0, the others their true derivative */
    build_usage(&t, 3, 5, 2, 1);
    t.zero_par = 1;
    check(&t, "dnc_usage B=3 N=5 R=2, stop-gradient on ww_prev");
    tc_free(&t);
    /* a factor 1 − f_r·wr[r,i] exactly 0 (f = 1, wr = 1): finite and exact, no 0/0 */
    build_usage(&t, 3, 5, 2, 0);
    t.in[2]->value[0 * 2 + 1] = 1.0f;              /* f[b=0, r=1] */
    t.in[3]->value[(0 * 2 + 1) * 5 + 2] = 1.0f;    /* wr[b=0, r=1, i=2] */
    t.in[2]->value[2 * 2 + 0] = 1.0f;              /* f[b=2, r=0] and wr[2,0,4]: a second zero */
    t.in[3]->value[(2 * 2 + 0) * 5 + 4] = 1.0f;
    check(&t, "dnc_usage B=3 N=5 R=2, two zero factors");
    {
        /* the zero factor's own gate still gets a gradient (the other factor at slot 2 is not 0) */
        const float *g = alig_ad_params_grad(t.P, 2);
        CU_ASSERT(isfinite(g[1]) && g[1] != 0.0f);
    }
    tc_free(&t);

    /* allocation: usages at least KINK apart (the permutation stays fixed under ±h) */
    build_alloc(&t, 3, 5);
    check(&t, "dnc_allocation B=3 N=5");
    tc_free(&t);
    build_alloc(&t, 16, 16);
    check(&t, "dnc_allocation B=16 N=16");
    tc_free(&t);
}

/* Negative control: a 0.1% error in the gradient must fail at TOL; the exact one passes. Also the
 * full-gradient reference must FAIL against the stop-gradient op on ww_prev's coordinates, i.e. the
 * stop-gradient makes a difference the check sees. */
static void test_negative_control(void)
{
    tc t;
    build_content(&t, 3, 2, 5, 7);
    cmp_res good, bad;
    compare(&t, 1.0, &good);
    compare(&t, 1.001, &bad);
    printf("  negative control dnc_content: exact err %.2e (pass), a·1.001 err %.2e (must fail at %.0e)\n", good.err,
           bad.err, TOL);
    CU_ASSERT(good.err <= TOL);
    CU_ASSERT(bad.err > TOL);
    tc_free(&t);

    build_usage(&t, 3, 5, 2, 1);          /* stop-gradient op, compared on every coordinate */
    compare(&t, 1.0, &bad);
    printf("  contrast dnc_usage stop-gradient vs full derivative: err %.2e (must fail at %.0e)\n", bad.err, TOL);
    CU_ASSERT(bad.err > 100 * TOL);
    tc_free(&t);
}

/* ====================================================================== 3. values */

/* a graph with one input of the given shape, the op on it, forward only */
static void test_allocation_values(void)
{
    alig_ad_graph *G;
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, NULL, 1) == ALIG_SUCCESS);
    alig_ad_node *u = alig_ad_input(G, 2, (int[]){ 2, 16 });
    alig_ad_node *a = alig_ad_dnc_allocation(G, u);
    alig_ad_node *u5 = alig_ad_input(G, 2, (int[]){ 2, 5 });
    alig_ad_node *a5 = alig_ad_dnc_allocation(G, u5);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    memset(u->value, 0, u->size * sizeof(float));
    /* row 1 of u5: ties; row 0: a known order */
    const float tie[5] = { 0.5f, 0.2f, 0.5f, 0.2f, 0.9f }, known[5] = { 0.7f, 0.1f, 0.4f, 0.9f, 0.2f };
    memcpy(u5->value, known, sizeof known);
    memcpy(u5->value + 5, tie, sizeof tie);
    CU_ASSERT_FATAL(alig_ad_forward(G, 0) == ALIG_SUCCESS);

    /* t = 0 in float32: û = ε, n = 1 − ε, factor 1 − n, each step rounded to float */
    volatile float e = 1e-6f, zero = 0.0f;
    const float uh = e + (1.0f - e) * zero, n = 1.0f - uh, q = 1.0f - n;
    float p = 1.0f, want[16];
    for (int j = 0; j < 16; j++) {
        want[j] = n * p;
        p *= q;
    }
    int exact = 1;
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 16; j++) exact &= a->value[b * 16 + j] == want[j];
    CU_ASSERT(exact);
    const float *a0 = a->value;
    printf("  allocation t=0 float32: %.8g %.5g %.5g %.5g ... a7 %.3g a8 %g\n", a0[0], a0[1], a0[2], a0[3], a0[7], a0[8]);
    CU_ASSERT(fabs(a0[0] - 0.99999899) < 1e-8);
    CU_ASSERT(fabs(a0[1] / 1.0133e-6 - 1) < 1e-4);
    CU_ASSERT(fabs(a0[2] / 1.0267e-12 - 1) < 1e-4);
    CU_ASSERT(fabs(a0[3] / 1.0404e-18 - 1) < 1e-4);
    CU_ASSERT(a0[7] > 0.0f);
    for (int j = 8; j < 16; j++) CU_ASSERT(a0[j] == 0.0f);
    /* float64 closed form (1 − ε)εʲ from the double formula (no float rounding of n) */
    double ud[16] = { 0 }, ad[16];
    int phi[16];
    twin_alloc_row(16, ud, 0, ad, phi);
    double ce = 0;
    for (int j = 0; j < 16; j++) ce = fmax(ce, fabs(ad[j] / ((1 - EPS_D) * pow(EPS_D, j)) - 1));
    printf("  allocation t=0 float64 vs (1-e)e^j: max rel err %.1e; float32 a1 / float64 a1 = %.5f\n", ce,
           a0[1] / ad[1]);
    CU_ASSERT(ce < 1e-9);
    CU_ASSERT(fabs(a0[1] / ad[1] - 1.0133) < 1e-3);       /* the float32 form differs by 1.3% there */

    /* known order: n = 1 − û ≈ (0.3, 0.9, 0.6, 0.1, 0.8) -> φ = (1, 4, 2, 0, 3) */
    {
        const int order[5] = { 1, 4, 2, 0, 3 };
        double pr = 1, err = 0;
        for (int j = 0; j < 5; j++) {
            const double nn = 1 - (EPS_D + (1 - EPS_D) * known[order[j]]);
            err = fmax(err, fabs(a5->value[order[j]] - nn * pr) / (nn * pr));
            pr *= 1 - nn;
        }
        printf("  allocation known order (1,4,2,0,3): max rel err %.1e\n", err);
        CU_ASSERT(err < 1e-5);
    }
    /* ties: slots 1 and 3 share n = 0.8, slot 1 first; then 0 and 2 (n = 0.5), slot 0 first; then 4 */
    {
        const float *r = a5->value + 5;
        const double n8 = 1 - (EPS_D + (1 - EPS_D) * 0.2f), n5 = 1 - (EPS_D + (1 - EPS_D) * 0.5f);
        const double w1 = n8, w3 = n8 * (1 - n8), w0 = n5 * (1 - n8) * (1 - n8), w2 = n5 * (1 - n5) * (1 - n8) * (1 - n8);
        printf("  allocation ties: a = (%.6g %.6g %.6g %.6g %.6g)\n", r[0], r[1], r[2], r[3], r[4]);
        CU_ASSERT(fabs(r[1] / w1 - 1) < 1e-5 && fabs(r[3] / w3 - 1) < 1e-5);
        CU_ASSERT(fabs(r[0] / w0 - 1) < 1e-5 && fabs(r[2] / w2 - 1) < 1e-5);
        CU_ASSERT(r[1] > r[3] && r[0] > r[2]);
    }
    alig_ad_graph_free(G);
}

/* clip: value and gradient at the ends (1), just outside (0), inside (1) */
static void test_clip_ends(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int id;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 1, (int[]){ 7 }, &id) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_param(G, id), *y = alig_ad_clip(G, x, -20, 20);
    alig_ad_node *loss = alig_ad_sum(G, y);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    const float xs[7] = { -20.0f, 20.0f, -20.5f, 20.5f, 3.0f, nextafterf(-20.0f, -INFINITY), nextafterf(20.0f, INFINITY) };
    const float ys[7] = { -20, 20, -20, 20, 3, -20, 20 }, gs[7] = { 1, 1, 0, 0, 1, 0, 0 };
    memcpy(x->value, xs, sizeof xs);
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, loss) == ALIG_SUCCESS);
    for (int i = 0; i < 7; i++) {
        CU_ASSERT(y->value[i] == ys[i]);
        CU_ASSERT(x->grad[i] == gs[i]);
    }
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

/* loss against hand-derived numbers, and the floor of the ±20 output clip */
static void test_loss_values(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int id, id2;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 2, 3 }, &id) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 16, 5 }, &id2) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_param(G, id), *z = alig_ad_input(G, 2, (int[]){ 2, 3 });
    alig_ad_node *m = alig_ad_input(G, 1, (int[]){ 2 });
    alig_ad_node *L = alig_ad_sigmoid_ce_masked(G, x, z, m, 0.5);
    /* floor: 16 samples, every logit at ±20 on the target's side, half of them past the clip */
    alig_ad_node *y = alig_ad_param(G, id2), *zt = alig_ad_input(G, 2, (int[]){ 16, 5 });
    alig_ad_node *mt = alig_ad_input(G, 1, (int[]){ 16 });
    alig_ad_node *Lf = alig_ad_sigmoid_ce_masked(G, y, zt, mt, 1.0 / 16);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);

    /* row 0 (mask 1): (x, z) = (0, 1), (2, 0), (−3, 0.25); row 1 (mask 3): (1, 1), (−1, 0), (0, 0) */
    const float xs[6] = { 0, 2, -3, 1, -1, 0 }, zs[6] = { 1, 0, 0.25f, 1, 0, 0 }, ms[2] = { 1, 3 };
    memcpy(x->value, xs, sizeof xs);
    memcpy(z->value, zs, sizeof zs);
    memcpy(m->value, ms, sizeof ms);
    /* log(1+e^x) − xz by hand: ln 2; 2 + log1p(e^−2); 0.75 + log1p(e^−3); log1p(e^−1) twice; ln 2 */
    const double ln2 = 0.6931471805599453, l2 = 2.1269280110429727, l3 = 0.798587351573742,
                 l1 = 0.31326168751822286;
    const double want = 0.5 * ((ln2 + l2 + l3) + 3 * (l1 + l1 + ln2));
    /* gradients σ(x) − z: −0.5; σ(2); σ(−3) − 0.25; σ(1) − 1 = −σ(−1); σ(−1); 0.5 */
    const double s1 = 0.2689414213699951;
    const double gw[6] = { 0.5 * -0.5, 0.5 * 0.8807970779778823, 0.5 * -0.20257412682243323,
                           1.5 * -s1, 1.5 * s1, 1.5 * 0.5 };

    volatile float big = 20.0f;
    for (int b = 0; b < 16; b++) {
        mt->value[b] = (float)(b % 4 != 3);
        for (int c = 0; c < 5; c++) {
            const int i = b * 5 + c;
            zt->value[i] = (float)((b + c) % 2);
            y->value[i] = zt->value[i] > 0.5f ? big : -big;
        }
    }
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, L) == ALIG_SUCCESS);
    printf("  loss (2,3): %.17g, hand %.17g\n", alig_ad_scalar(L), want);
    CU_ASSERT(fabs(alig_ad_scalar(L) - want) < 1e-14);
    for (int i = 0; i < 6; i++) CU_ASSERT(fabs(x->grad[i] - gw[i]) < 1e-7);
    CU_ASSERT(x->grad[0] == -0.25f);       /* x = 0 (z = 1): ([x >= 0] − z − e/(1+e))·scale = (1 − 1 − 0.5)·0.5 */

    CU_ASSERT_FATAL(alig_ad_backward(G, Lf) == ALIG_SUCCESS);
    const double lmin = 2.061153620314381e-09;         /* log1p(e^−20) */
    double msum = 0;
    for (int b = 0; b < 16; b++) msum += mt->value[b];
    const double floor_ = 5 * lmin * msum / 16;
    printf("  floor: J %.6e, 5·log1p(e^-20)·Σmask/B = %.6e; gradient at (20, 1): %.4e\n", alig_ad_scalar(Lf), floor_,
           y->grad[1]);
    CU_ASSERT(fabs(alig_ad_scalar(Lf) / floor_ - 1) < 1e-12);
    int ok = 1;
    for (int b = 0; b < 16; b++)
        for (int c = 0; c < 5; c++) {
            const int i = b * 5 + c;
            /* e/(1+e) at |x| = 20 is e^−20/(1 + e^−20), equal to log1p(e^−20) to 1e-9 relative */
            const double gwant = mt->value[b] * (zt->value[i] > 0.5f ? -lmin : lmin) / 16;
            ok &= fabs(y->grad[i] - gwant) <= 1e-6 * fabs(gwant);
            ok &= (mt->value[b] == 0.0f) == (y->grad[i] == 0.0f);
        }
    CU_ASSERT(ok);
    /* the contrast: σ(20) − 1 in float is exactly 0 */
    volatile float s20 = 1.0f / (1.0f + expf(-big));
    CU_ASSERT(s20 - 1.0f == 0.0f);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

/* the whole chain of spec's floor: logits past ±20, clipped, then the loss: gradient exactly 0 */
static void test_floor_through_clip(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int id;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 4, 5 }, &id) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    alig_ad_node *x = alig_ad_param(G, id), *z = alig_ad_input(G, 2, (int[]){ 4, 5 });
    alig_ad_node *L = alig_ad_sigmoid_ce_masked(G, alig_ad_clip(G, x, -20, 20), z, NULL, 0.25);
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    for (int i = 0; i < 20; i++) {
        z->value[i] = (float)(i % 3 == 0);
        x->value[i] = z->value[i] > 0.5f ? 20.5f : -21.0f;
    }
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, L) == ALIG_SUCCESS);
    double g2 = 0;
    for (int i = 0; i < 20; i++) g2 += (double)x->grad[i] * x->grad[i];
    CU_ASSERT(g2 == 0.0);
    CU_ASSERT(fabs(alig_ad_scalar(L) / (20 * 2.061153620314381e-09 * 0.25) - 1) < 1e-12);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

/* operands without gradient (INPUT nodes, the t = 0 states) and a parameter on one side only */
static void test_inputs_without_grad(void)
{
    alig_ad_params *P;
    alig_ad_graph *G;
    int id;
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 2, 3 }, &id) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    alig_ad_node *f = alig_ad_param(G, id);
    alig_ad_node *u0 = alig_ad_input(G, 2, (int[]){ 2, 4 }), *w0 = alig_ad_input(G, 2, (int[]){ 2, 4 });
    alig_ad_node *r0 = alig_ad_input(G, 3, (int[]){ 2, 3, 4 });
    alig_ad_node *u = alig_ad_dnc_usage(G, u0, w0, f, r0, 1);
    alig_ad_node *a = alig_ad_dnc_allocation(G, u);
    alig_ad_node *k = alig_ad_input(G, 3, (int[]){ 2, 1, 4 }), *s = alig_ad_input(G, 2, (int[]){ 2, 1 });
    alig_ad_node *c = alig_ad_dnc_content(G, k, s, alig_ad_reshape(G, a, 3, (int[]){ 2, 4, 1 }));
    CU_ASSERT_FATAL(c == NULL);      /* W mismatch: keys W = 4, memory W = 1 */
    CU_ASSERT(alig_ad_graph_status(G) == ALIG_EBADLEN);
    CU_ASSERT(strstr(alig_ad_graph_error(G), "dnc_content") != NULL);
    CU_ASSERT(strstr(alig_ad_graph_error(G), "(2,1,4)") != NULL);
    alig_ad_graph_free(G);
    alig_ad_params_free(P);

    /* the same without the mistake: gradient reaches f through usage and allocation, inputs have none */
    CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 2, 3 }, &id) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
    f = alig_ad_param(G, id);
    u0 = alig_ad_input(G, 2, (int[]){ 2, 4 });
    w0 = alig_ad_input(G, 2, (int[]){ 2, 4 });
    r0 = alig_ad_input(G, 3, (int[]){ 2, 3, 4 });
    u = alig_ad_dnc_usage(G, u0, w0, f, r0, 1);
    a = alig_ad_dnc_allocation(G, u);
    k = alig_ad_input(G, 3, (int[]){ 2, 1, 1 });
    s = alig_ad_input(G, 2, (int[]){ 2, 1 });
    c = alig_ad_dnc_content(G, k, s, alig_ad_reshape(G, a, 3, (int[]){ 2, 4, 1 }));
    alig_ad_node *rr = alig_ad_input(G, 3, (int[]){ 2, 1, 4 });
    alig_ad_node *loss = alig_ad_sum(G, alig_ad_mul(G, c, rr));
    CU_ASSERT_FATAL(alig_ad_graph_compile(G) == ALIG_SUCCESS);
    CU_ASSERT(u0->grad == NULL && w0->grad == NULL && k->grad == NULL);
    for (size_t i = 0; i < u0->size; i++) u0->value[i] = 0.1f * (float)i;
    fill(w0->value, w0->size, 0, 1);
    fill(r0->value, r0->size, 0, 1);
    fill(f->value, f->size, 0, 1);
    fill(k->value, k->size, -1, 1);
    fill(s->value, s->size, 0, 2);
    fill(rr->value, rr->size, -1, 1);
    CU_ASSERT_FATAL(alig_ad_forward(G, 1) == ALIG_SUCCESS);
    CU_ASSERT_FATAL(alig_ad_backward(G, loss) == ALIG_SUCCESS);
    double g2 = 0;
    for (size_t i = 0; i < f->size; i++) {
        CU_ASSERT(isfinite(f->grad[i]));
        g2 += (double)f->grad[i] * f->grad[i];
    }
    CU_ASSERT(g2 > 1e-8);     /* f reaches the loss through usage, allocation and the content weights */
    alig_ad_graph_free(G);
    alig_ad_params_free(P);
}

/* shape and argument errors: NULL, the graph status, a message naming the op */
static void test_shape_errors(void)
{
    struct {
        int which;
        alig_status st;
        const char *op;
    } cases[] = {
        { 0, ALIG_EINVAL, "clip" }, { 1, ALIG_EBADLEN, "sigmoid_ce_masked" }, { 2, ALIG_EBADLEN, "sigmoid_ce_masked" },
        { 3, ALIG_EBADLEN, "dnc_content" }, { 4, ALIG_EBADLEN, "dnc_usage" }, { 5, ALIG_EBADLEN, "dnc_allocation" },
        { 6, ALIG_EINVAL, "sigmoid_ce_masked" }, { 7, ALIG_EINVAL, "dnc_usage" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        alig_ad_params *P;
        alig_ad_graph *G;
        int id;
        CU_ASSERT_FATAL(alig_ad_params_alloc(&P) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_params_add(P, 2, (int[]){ 3, 4 }, &id) == ALIG_SUCCESS);
        CU_ASSERT_FATAL(alig_ad_graph_alloc(&G, P, 1) == ALIG_SUCCESS);
        alig_ad_node *p = alig_ad_param(G, id), *x34 = alig_ad_input(G, 2, (int[]){ 3, 4 });
        alig_ad_node *x3 = alig_ad_input(G, 1, (int[]){ 3 }), *x4 = alig_ad_input(G, 1, (int[]){ 4 });
        alig_ad_node *x343 = alig_ad_input(G, 3, (int[]){ 3, 4, 3 }), *y = NULL;
        switch (cases[k].which) {
        case 0: y = alig_ad_clip(G, x34, 1, -1); break;
        case 1: y = alig_ad_sigmoid_ce_masked(G, x34, x3, NULL, 1); break;
        case 2: y = alig_ad_sigmoid_ce_masked(G, x34, x34, x4, 1); break;
        case 3: y = alig_ad_dnc_content(G, x343, x3, x343); break;           /* strengths (3), not (B,H) */
        case 4: y = alig_ad_dnc_usage(G, x34, x34, x34, x343, 1); break;     /* wr (3,4,3) needs (3,4,4) */
        case 5: y = alig_ad_dnc_allocation(G, x343); break;
        case 6: y = alig_ad_sigmoid_ce_masked(G, x34, p, NULL, 1); break;
        case 7: y = alig_ad_dnc_usage(G, x34, NULL, x34, x343, 1); break;
        }
        CU_ASSERT(y == NULL);
        CU_ASSERT(alig_ad_graph_status(G) == cases[k].st);
        CU_ASSERT(strncmp(alig_ad_graph_error(G), cases[k].op, strlen(cases[k].op)) == 0);
        printf("  %s\n", alig_ad_graph_error(G));
        alig_ad_graph_free(G);
        alig_ad_params_free(P);
    }
}

int main(void)
{
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return 2;
    gsl_rng_set(rng, 8301);
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("DNC addressing ops", NULL, NULL);
    if (!s) { CU_cleanup_registry(); return 2; }
    CU_add_test(s, "kernels vs double twins (DNC and odd sizes)", test_kernels_vs_twins);
    CU_add_test(s, "ops vs central differences of a double forward", test_ops_vs_double);
    CU_add_test(s, "negative control and stop-gradient contrast", test_negative_control);
    CU_add_test(s, "allocation: t = 0 (float32, float64), ties, known order", test_allocation_values);
    CU_add_test(s, "clip: gradient 1 at the ends, 0 outside", test_clip_ends);
    CU_add_test(s, "sigmoid_ce_masked: hand values, the loss floor at +-20", test_loss_values);
    CU_add_test(s, "floor through the clip: gradient exactly 0", test_floor_through_clip);
    CU_add_test(s, "operands without gradient; shape error in a chain", test_inputs_without_grad);
    CU_add_test(s, "shape and argument errors", test_shape_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures(), ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    gsl_rng_free(rng);
    return (failed || ran == 0) ? 1 : 0;
}
