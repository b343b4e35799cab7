/* winograd.c - F(2×2, 3×3) convolution, forward and backward (see winograd.h).
 *
 * Matrices (Lavin & Gray 2016, section 4.1), for correlation:
 *     B^T = | 1  0 -1  0 |     G = | 1    0    0  |     A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |         | 1/2  1/2  1/2|           | 0  1 -1 -1 |
 *           | 0 -1  1  0 |         | 1/2 -1/2  1/2|
 *           | 0  1  0 -1 |         | 0    0    1  |
 *
 * Layouts. The transforms run channel-minor, so that their inner loops are unit-stride over
 * channels (long and vectorisable, where rows of tiles are only 4 to 14 tiles long): each image
 * of a chunk is first transposed to a zero-padded (2TH+2)·(2TW+2) × C array (pixel-major),
 * and the outputs are produced pixel-major and transposed back to NCHW. With ξ = 4a + b the
 * position in the 4×4 transformed tile and t = (i·TH + th)·TW + tw a tile of the chunk (image i,
 * tile row th, tile column tw):
 *     U[ξ][c][k],  V[t][ξ][c],  M[t][ξ][k],   so   M_ξ (T, K) = V_ξ (T, C) · U_ξ (C, K),
 * with V_ξ and M_ξ strided matrices (leading dimensions 16·C and 16·K): a tile's 16 transformed
 * values for all channels are one contiguous block, written and read as one stream.
 *
 * Scratch: U (16·C·K) shared, then per slot: a padded pixel-major image (bh·bw·C, also used for
 * the input gradient), a pixel-major output image covering whole tiles (2TH·2TW·K), V (T·16·C),
 * M (T·16·K) and a weight-gradient partial dU (16·C·K) at the slot's end, T = imgs·TH·TW (a
 * chunk with fewer images uses the front of V and M). */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cblas.h>

#include "winograd.h"

typedef struct wino_geom {
    int m;              /* output tile m × m: F(m×m, 3×3), m = 2 or 4 */
    int nx;             /* transformed tile (m + 2)², the number of sgemms */
    int TH, TW;         /* tiles per image: ⌈P/m⌉ × ⌈Q/m⌉ */
    int bh, bw;         /* padded image: m·TH + 2 rows of m·TW + 2 pixels */
    size_t tiles;       /* TH·TW */
} wino_geom;

/* The transform loops carry no dependence between iterations: their 16 streams are disjoint
 * (the V_ξ, M_ξ are distinct matrices) but GCC cannot prove it from the shared base pointer. */
#if defined(__GNUC__) && !defined(__clang__)
#define WINO_IVDEP _Pragma("GCC ivdep")
#else
#define WINO_IVDEP
#endif

/* The chunk-level transforms are built three times on x86-64 (AVX-512F, AVX2, baseline) and the
 * loader picks one (function multiversioning, as in kernels.c). The clones do the same float
 * additions in the same order, only wider; the transforms have no multiply-add to contract. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(ALIG_NK_NO_CLONES)
#if __has_attribute(target_clones)
#define WINO_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef WINO_HOT
#define WINO_HOT
#endif

static wino_geom geom(const alig_nk_conv *s, int m)
{
    wino_geom g;
    g.m = m;
    g.nx = (m + 2) * (m + 2);
    g.TH = (s->P + m - 1) / m;
    g.TW = (s->Q + m - 1) / m;
    g.bh = m * g.TH + 2;
    g.bw = m * g.TW + 2;
    g.tiles = (size_t)g.TH * g.TW;
    return g;
}

int alig_nk_wino_eligible(const alig_nk_conv *s)
{
    return s->R == 3 && s->S == 3 && s->sh == 1 && s->sw == 1 && s->ph >= 0 && s->ph <= 2 && s->pw >= 0 &&
           s->pw <= 2 && s->P >= 1 && s->Q >= 1;
}

/* floats of one slot, without (chunk = 0) or with the chunk's V and M */
static size_t slot_fixed(const alig_nk_conv *s, const wino_geom *g)
{
    return (size_t)g->bh * g->bw * s->C + (size_t)g->m * g->m * g->tiles * s->K +
           36 * (size_t)(s->C > s->K ? s->C : s->K) + (size_t)g->nx * s->K * s->C;
}

static size_t slot_floats(const alig_nk_conv *s, const wino_geom *g, int imgs)
{
    return slot_fixed(s, g) + (size_t)g->nx * ((size_t)s->C + s->K) * (size_t)imgs * g->tiles;
}

size_t alig_nk_wino_ws(const alig_nk_conv *s, int m, int imgs, int slots)
{
    const wino_geom g = geom(s, m);
    return (size_t)g.nx * s->K * s->C + (size_t)slots * slot_floats(s, &g, imgs);
}

void alig_nk_wino_plan(const alig_nk_conv *s, int m, int max_slots, size_t target, size_t ws_avail, int *imgs,
                       int *slots)
{
    const wino_geom g = geom(s, m);
    int sl = max_slots < 1 ? 1 : max_slots;
    if (sl > s->N) sl = s->N;
    /* the chunk's V and M, which grow with the images of a chunk */
    const size_t one = (size_t)g.nx * ((size_t)s->C + s->K) * g.tiles;
    size_t b = one >= target ? 1 : target / one;
    /* ... but at least K·C/(K + C) tile rows, so that a chunk's transformed input and output
     * (nx·(C + K) floats a row) are no smaller than the transformed weights each of its sgemms
     * packs and the weight-gradient partial it updates (nx·K·C): with fewer rows those dominate.
     * WRN-16-4 on 3×32×32, batch 128, 2 threads, idle machine: chunks of 8 images instead of 2
     * (8×8 outputs, 256 channels) and of 4 instead of 1 (16×16, 128) ran forward + backward
     * 108 -> 87 ms and 85 -> 72 ms; its 32×32 layers (64 channels) keep one image. */
    const size_t rows = ((size_t)s->K * s->C + s->K + s->C - 1) / ((size_t)s->K + s->C);
    const size_t bmin = (rows + (size_t)g.tiles - 1) / (size_t)g.tiles;
    if (b < bmin) b = bmin;
    const size_t cap = ((size_t)s->N + sl - 1) / sl;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    int bi = (int)b;
    if (ws_avail) {
        while (sl > 1 && alig_nk_wino_ws(s, m, bi, sl) > ws_avail) sl--;
        while (bi > 1 && alig_nk_wino_ws(s, m, bi, sl) > ws_avail) bi--;
    }
    *imgs = bi;
    *slots = sl;
}

/* ---------------------------------------------------------------- transforms */

/* U[ξ][c][k] = (G w[k][c] G^T)[ξ], F(2×2, 3×3) */
static void weight_transform_f2(const alig_nk_conv *s, const float *w, float *U)
{
    const size_t KC = (size_t)s->K * s->C;
    /* c outer, k inner: the 16 output streams U[ξ][c][·] are written contiguously (k inner over
     * the strided writes of a k-outer loop made every store a cache line of its own: 4 MiB of U
     * at K = C = 256 went through memory line by line); w's 9-float kernels are read 9·C apart,
     * and the next c reads the adjacent ones, still in cache */
    ALIG_NK_OMP(omp parallel for schedule(static) if (KC >= 256))
    for (int c = 0; c < s->C; c++)
        for (int k = 0; k < s->K; k++) {
            const float *g = w + 9 * ((size_t)k * s->C + c);
            float t[4][3];      /* G g: rows a, columns s */
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            float *u = U + (size_t)c * s->K + k;
            for (int a = 0; a < 4; a++) {
                u[(4 * a + 0) * KC] = t[a][0];
                u[(4 * a + 1) * KC] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
                u[(4 * a + 2) * KC] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
                u[(4 * a + 3) * KC] = t[a][2];
            }
        }
}

/* F(4×4, 3×3) (Lavin & Gray 2016, interpolation points 0, ±1, ±2, ∞), 1-D maps on 6 (or 3, 4)
 * values. Products by 2, 4, 5 and the fractions are separate statements from the sums they feed,
 * so that no clone contracts them into fused multiply-adds (-ffp-contract=on contracts within
 * one expression only): every build rounds alike.
 *     B^T = | 4  0 -5  0  1  0 |   G = |  1/4    0     0  |   A^T = | 1  1  1  1  1  0 |
 *           | 0 -4 -4  1  1  0 |       | -1/6 -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
 *           | 0  4 -4 -1  1  0 |       | -1/6  1/6  -1/6  |         | 0  1  1  4  4  0 |
 *           | 0 -2 -1  2  1  0 |       | 1/24 1/12   1/6  |         | 0  1 -1  8 -8  1 |
 *           | 0  2 -1 -2  1  0 |       | 1/24 -1/12  1/6  |
 *           | 0  4  0 -5  0  1 |       |  0    0     1    | */
static inline void bt6(const float d[6], float v[6])       /* v = B^T d */
{
    const float d0x4 = 4.0f * d[0], d2x5 = 5.0f * d[2], d3x5 = 5.0f * d[3], d1x4 = 4.0f * d[1];
    const float s12 = d[1] + d[2], m12 = d[1] - d[2], m31 = d[3] - d[1];
    const float s12x4 = 4.0f * s12, m12x4 = 4.0f * m12, m31x2 = 2.0f * m31;
    v[0] = d0x4 - d2x5 + d[4];
    v[1] = d[3] + d[4] - s12x4;
    v[2] = d[4] - d[3] + m12x4;
    v[3] = d[4] - d[2] + m31x2;
    v[4] = d[4] - d[2] - m31x2;
    v[5] = d1x4 - d3x5 + d[5];
}
static inline void b6(const float v[6], float d[6])        /* d = B v (the adjoint of bt6) */
{
    const float v0x4 = 4.0f * v[0], v0x5 = 5.0f * v[0], v5x4 = 4.0f * v[5], v5x5 = 5.0f * v[5];
    const float m12x4 = 4.0f * (v[2] - v[1]), s12x4 = 4.0f * (v[1] + v[2]), m43x2 = 2.0f * (v[4] - v[3]);
    const float m34x2 = 2.0f * (v[3] - v[4]);
    d[0] = v0x4;
    d[1] = m12x4 + m43x2 + v5x4;
    d[2] = -(v0x5) - s12x4 - v[3] - v[4];
    d[3] = v[1] - v[2] + m34x2 - v5x5;
    d[4] = v[0] + v[1] + v[2] + v[3] + v[4];
    d[5] = v[5];
}
static inline void at6(const float m[6], float y[4])        /* y = A^T m */
{
    const float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    const float d34x2 = 2.0f * d34, s34x4 = 4.0f * s34, d34x8 = 8.0f * d34;
    y[0] = m[0] + s12 + s34;
    y[1] = d12 + d34x2;
    y[2] = s12 + s34x4;
    y[3] = d12 + d34x8 + m[5];
}
static inline void a6(const float y[4], float m[6])         /* m = A y (the adjoint of at6) */
{
    const float y1x2 = 2.0f * y[1], y2x4 = 4.0f * y[2], y3x8 = 8.0f * y[3];
    m[0] = y[0];
    m[1] = y[0] + y[1] + y[2] + y[3];
    m[2] = y[0] - y[1] + y[2] - y[3];
    m[3] = y[0] + y1x2 + y2x4 + y3x8;
    m[4] = y[0] - y1x2 + y2x4 - y3x8;
    m[5] = y[3];
}

/* U[ξ][c][k] = (G w[k][c] G^T)[ξ], F(4×4, 3×3), computed in double and rounded once */
static void weight_transform_f4(const alig_nk_conv *s, const float *w, float *U)
{
    static const double G[6][3] = { { 0.25, 0, 0 }, { -1.0 / 6, -1.0 / 6, -1.0 / 6 }, { -1.0 / 6, 1.0 / 6, -1.0 / 6 },
                                    { 1.0 / 24, 1.0 / 12, 1.0 / 6 }, { 1.0 / 24, -1.0 / 12, 1.0 / 6 }, { 0, 0, 1 } };
    const size_t KC = (size_t)s->K * s->C;
    ALIG_NK_OMP(omp parallel for schedule(static) if (KC >= 256))
    for (int c = 0; c < s->C; c++)             /* c outer: see weight_transform_f2 */
        for (int k = 0; k < s->K; k++) {
            const float *g = w + 9 * ((size_t)k * s->C + c);
            double t[6][3];
            for (int a = 0; a < 6; a++)
                for (int j = 0; j < 3; j++) t[a][j] = G[a][0] * g[j] + G[a][1] * g[3 + j] + G[a][2] * g[6 + j];
            float *u = U + (size_t)c * s->K + k;
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 6; b++)
                    u[(size_t)(6 * a + b) * KC] = (float)(t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2]);
        }
}

static void weight_transform(const alig_nk_conv *s, const wino_geom *g, const float *w, float *U)
{
    if (g->m == 4)
        weight_transform_f4(s, w, U);
    else
        weight_transform_f2(s, w, U);
}

/* ---------------------------------------------------------------- layout changes
 *
 * Between planar rows (channel c at pl + c·ldc, pixels contiguous) and pixel-major rows (pixel x
 * at pm + x·ldp, channels contiguous): transposes of npix × nch blocks. Written element by element
 * they were the costliest part of the transforms (a scalar store per element, 16 pointers held in
 * registers and spilled); on x86-64 with AVX, whole 8 × 8 blocks are transposed in registers
 * (unpack, shuffle, 128-bit permute) and the edges go element by element. Moves only (and, when
 * asked, one float addition per element), so every path gives the same bits. */
enum { PL_COPY, PL_BIAS, PL_ACC };     /* pm_to_planar: =, = v + bias (0 without), += */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(ALIG_NK_NO_CLONES)
#include <immintrin.h>
#define WINO_AVX_T 1

/* r[j] ← column j of the 8 × 8 block whose rows are r[0..7] */
__attribute__((target("avx"))) static inline void tr8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* the full 8 × 8 blocks of pm_to_planar / planar_to_pm; return the pixels done (a multiple of 8) */
__attribute__((target("avx"))) static int pm_to_planar_avx(const float *pm, size_t ldp, float *pl, size_t ldc,
                                                           int npix, int nch, const float *bias, int mode)
{
    const int xn = npix & ~7, cn = nch & ~7;
    for (int c0 = 0; c0 < cn; c0 += 8)
        for (int x0 = 0; x0 < xn; x0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(pm + (size_t)(x0 + i) * ldp + c0);
            tr8(r);
            for (int j = 0; j < 8; j++) {
                float *d = pl + (size_t)(c0 + j) * ldc + x0;
                if (mode == PL_COPY)
                    _mm256_storeu_ps(d, r[j]);
                else if (mode == PL_BIAS)
                    _mm256_storeu_ps(d, _mm256_add_ps(r[j], _mm256_set1_ps(bias ? bias[c0 + j] : 0.0f)));
                else
                    _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), r[j]));
            }
        }
    return cn;
}

__attribute__((target("avx"))) static int planar_to_pm_avx(const float *pl, size_t ldc, float *pm, size_t ldp,
                                                           int npix, int nch)
{
    const int xn = npix & ~7, cn = nch & ~7;
    for (int x0 = 0; x0 < xn; x0 += 8)
        for (int c0 = 0; c0 < cn; c0 += 8) {
            __m256 r[8];
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(pl + (size_t)(c0 + j) * ldc + x0);
            tr8(r);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(pm + (size_t)(x0 + i) * ldp + c0, r[i]);
        }
    return cn;
}

static inline int have_avx(void) { return __builtin_cpu_supports("avx"); }     /* reads a table set at load */
#endif

/* pl[c·ldc + x] = pm[x·ldp + c] (PL_COPY), + (bias ? bias[c] : 0) (PL_BIAS), or += (PL_ACC), for
 * x < npix, c < nch */
static void pm_to_planar(const float *pm, size_t ldp, float *pl, size_t ldc, int npix, int nch, const float *bias,
                         int mode)
{
    int cdone = 0, xdone = npix;        /* the block [0, xdone) × [0, cdone) was done by the AVX path */
#ifdef WINO_AVX_T
    if (have_avx() && npix >= 8) {
        cdone = pm_to_planar_avx(pm, ldp, pl, ldc, npix, nch, bias, mode);
        xdone = npix & ~7;
    }
#endif
    for (int c = 0; c < nch; c++) {
        float *d = pl + (size_t)c * ldc;
        const float b = bias ? bias[c] : 0.0f;
        for (int x = c < cdone ? xdone : 0; x < npix; x++) {
            const float v = pm[(size_t)x * ldp + c];
            if (mode == PL_COPY) d[x] = v;
            else if (mode == PL_BIAS) d[x] = v + b;
            else d[x] += v;
        }
    }
}

/* pm[x·ldp + c] = pl[c·ldc + x] for x < npix, c < nch */
static void planar_to_pm(const float *pl, size_t ldc, float *pm, size_t ldp, int npix, int nch)
{
    int cdone = 0, xdone = npix;
#ifdef WINO_AVX_T
    if (have_avx() && npix >= 8) {
        cdone = planar_to_pm_avx(pl, ldc, pm, ldp, npix, nch);
        xdone = npix & ~7;
    }
#endif
    for (int x = 0; x < npix; x++)
        for (int c = x < xdone ? cdone : 0; c < nch; c++) pm[(size_t)x * ldp + c] = pl[(size_t)c * ldc + x];
}

/* xt (bh·bw, C) ← image x (C, H, W), transposed and padded with zeros (ph rows, pw columns). */
static inline void to_padded(const alig_nk_conv *s, const wino_geom *g, const float *x, float *xt)
{
    const int C = s->C, HW = s->H * s->W;
    memset(xt, 0, sizeof(float) * (size_t)g->bh * g->bw * C);
    for (int h = 0; h < s->H; h++)
        planar_to_pm(x + (size_t)h * s->W, (size_t)HW, xt + ((size_t)(h + s->ph) * g->bw + s->pw) * C, (size_t)C, s->W,
                     C);
}

/* V[t][ξ][·] for tiles t0 .. t0 + TH·TW ← B^T d B of every tile of one padded image (ldv = C). */
static inline void input_transform(const alig_nk_conv *s, const wino_geom *g, const float *xt, float *V,
                                   size_t ldv, size_t t0)
{
    const int C = s->C;
    const size_t rs = (size_t)g->bw * C;     /* one padded row */
    for (int th = 0; th < g->TH; th++)
        for (int tw = 0; tw < g->TW; tw++) {
            const float *d0 = xt + (size_t)(2 * th) * rs + (size_t)(2 * tw) * C, *d1 = d0 + rs, *d2 = d1 + rs,
                        *d3 = d2 + rs;
            float *v = V + (t0 + (size_t)th * g->TW + tw) * 16 * C;
            WINO_IVDEP
            for (int c = 0; c < C; c++) {
                /* d B along each patch row: (d0 − d2, d1 + d2, d2 − d1, d1 − d3) over columns */
                const float a00 = d0[c] - d0[2 * C + c], a01 = d0[C + c] + d0[2 * C + c];
                const float a02 = d0[2 * C + c] - d0[C + c], a03 = d0[C + c] - d0[3 * C + c];
                const float a10 = d1[c] - d1[2 * C + c], a11 = d1[C + c] + d1[2 * C + c];
                const float a12 = d1[2 * C + c] - d1[C + c], a13 = d1[C + c] - d1[3 * C + c];
                const float a20 = d2[c] - d2[2 * C + c], a21 = d2[C + c] + d2[2 * C + c];
                const float a22 = d2[2 * C + c] - d2[C + c], a23 = d2[C + c] - d2[3 * C + c];
                const float a30 = d3[c] - d3[2 * C + c], a31 = d3[C + c] + d3[2 * C + c];
                const float a32 = d3[2 * C + c] - d3[C + c], a33 = d3[C + c] - d3[3 * C + c];
                /* B^T (d B) down the rows */
                v[0 * ldv + c] = a00 - a20;  v[1 * ldv + c] = a01 - a21;
                v[2 * ldv + c] = a02 - a22;  v[3 * ldv + c] = a03 - a23;
                v[4 * ldv + c] = a10 + a20;  v[5 * ldv + c] = a11 + a21;
                v[6 * ldv + c] = a12 + a22;  v[7 * ldv + c] = a13 + a23;
                v[8 * ldv + c] = a20 - a10;  v[9 * ldv + c] = a21 - a11;
                v[10 * ldv + c] = a22 - a12; v[11 * ldv + c] = a23 - a13;
                v[12 * ldv + c] = a10 - a30; v[13 * ldv + c] = a11 - a31;
                v[14 * ldv + c] = a12 - a32; v[15 * ldv + c] = a13 - a33;
            }
        }
}

/* F(4×4, 3×3): V[t][ξ][·] ← B^T d B of every 6×6 patch of one padded image (ldv = C). */
static inline void input_transform_f4(const alig_nk_conv *s, const wino_geom *g, const float *xt, float *V,
                                      size_t ldv, size_t t0, float *tmp)
{
    /* two passes through tmp (36·C floats, in L1) so that each loop over channels is short
     * enough to vectorise: d B along the 6 patch rows, then B^T (d B) down the 6 columns */
    const int C = s->C;
    const size_t rs = (size_t)g->bw * C;
    for (int th = 0; th < g->TH; th++)
        for (int tw = 0; tw < g->TW; tw++) {
            const float *d0 = xt + (size_t)(4 * th) * rs + (size_t)(4 * tw) * C;
            float *v = V + (t0 + (size_t)th * g->TW + tw) * 36 * C;
            for (int i = 0; i < 6; i++) {
                const float *r = d0 + (size_t)i * rs;
                float *e = tmp + (size_t)6 * i * C;         /* e[b][c] of row i */
                WINO_IVDEP
                for (int c = 0; c < C; c++) {
                    const float d[6] = { r[c], r[C + c], r[2 * C + c], r[3 * C + c], r[4 * C + c], r[5 * C + c] };
                    float o[6];
                    bt6(d, o);
                    for (int b = 0; b < 6; b++) e[(size_t)b * C + c] = o[b];
                }
            }
            for (int b = 0; b < 6; b++) {
                const float *e = tmp + (size_t)b * C;       /* row i at e + 6·i·C */
                WINO_IVDEP
                for (int c = 0; c < C; c++) {
                    const float col[6] = { e[c], e[6 * C + c], e[12 * C + c], e[18 * C + c], e[24 * C + c], e[30 * C + c] };
                    float o[6];
                    bt6(col, o);
                    for (int a = 0; a < 6; a++) v[(size_t)(6 * a + b) * ldv + c] = o[a];
                }
            }
        }
}

/* V (T × nx × C) ← the transforms of images [n0, n0 + nb); xt: scratch for one padded image. */
WINO_HOT static void chunk_input(const alig_nk_conv *s, const wino_geom *g, const float *x, int n0, int nb,
                                 float *xt, float *V, size_t ldv, float *tmp)
{
    for (int i = 0; i < nb; i++) {
        to_padded(s, g, x + (size_t)(n0 + i) * s->C * s->H * s->W, xt);
        if (g->m == 4)
            input_transform_f4(s, g, xt, V, ldv, (size_t)i * g->tiles, tmp);
        else
            input_transform(s, g, xt, V, ldv, (size_t)i * g->tiles);
    }
}

/* yt (2TH·2TW, K) ← A^T M A for the tiles of image i of the chunk, F(2×2, 3×3) */
static inline void output_tiles_f2(const alig_nk_conv *s, const wino_geom *g, const float *M, size_t ldm, float *yt,
                                   int i)
{
    const int K = s->K, Q2 = 2 * g->TW;
        for (int th = 0; th < g->TH; th++)
            for (int tw = 0; tw < g->TW; tw++) {
                const float *m = M + ((size_t)i * g->tiles + (size_t)th * g->TW + tw) * 16 * K;
                float *y00 = yt + ((size_t)(2 * th) * Q2 + 2 * tw) * K, *y01 = y00 + K, *y10 = y00 + (size_t)Q2 * K,
                      *y11 = y10 + K;
                WINO_IVDEP
                for (int k = 0; k < K; k++) {
                    const float m00 = m[0 * ldm + k], m01 = m[1 * ldm + k], m02 = m[2 * ldm + k], m03 = m[3 * ldm + k];
                    const float m10 = m[4 * ldm + k], m11 = m[5 * ldm + k], m12 = m[6 * ldm + k], m13 = m[7 * ldm + k];
                    const float m20 = m[8 * ldm + k], m21 = m[9 * ldm + k], m22 = m[10 * ldm + k], m23 = m[11 * ldm + k];
                    const float m30 = m[12 * ldm + k], m31 = m[13 * ldm + k], m32 = m[14 * ldm + k], m33 = m[15 * ldm + k];
                    const float t00 = m00 + m10 + m20, t01 = m01 + m11 + m21, t02 = m02 + m12 + m22, t03 = m03 + m13 + m23;
                    const float t10 = m10 - m20 - m30, t11 = m11 - m21 - m31, t12 = m12 - m22 - m32, t13 = m13 - m23 - m33;
                    y00[k] = t00 + t01 + t02;
                    y01[k] = t01 - t02 - t03;
                    y10[k] = t10 + t11 + t12;
                    y11[k] = t11 - t12 - t13;
                }
            }
}

/* yt (4TH·4TW, K) ← A^T M A for the tiles of image i of the chunk, F(4×4, 3×3) */
static inline void output_tiles_f4(const alig_nk_conv *s, const wino_geom *g, const float *M, size_t ldm, float *yt,
                                   int i, float *tmp)
{
    /* two passes through tmp (24·K floats): A^T M down the 6 columns, then (A^T M) A along rows */
    const int K = s->K, Q4 = 4 * g->TW;
    for (int th = 0; th < g->TH; th++)
        for (int tw = 0; tw < g->TW; tw++) {
            const float *m = M + ((size_t)i * g->tiles + (size_t)th * g->TW + tw) * 36 * K;
            float *y0 = yt + ((size_t)(4 * th) * Q4 + 4 * tw) * K;
            for (int b = 0; b < 6; b++) {
                float *t = tmp + (size_t)b * K;             /* t[p][b][k] at tmp + (6p + b)·K */
                WINO_IVDEP
                for (int k = 0; k < K; k++) {
                    const float col[6] = { m[(size_t)b * ldm + k], m[(size_t)(6 + b) * ldm + k],
                                           m[(size_t)(12 + b) * ldm + k], m[(size_t)(18 + b) * ldm + k],
                                           m[(size_t)(24 + b) * ldm + k], m[(size_t)(30 + b) * ldm + k] };
                    float o[4];
                    at6(col, o);
                    for (int p = 0; p < 4; p++) t[(size_t)6 * p * K + k] = o[p];
                }
            }
            for (int p = 0; p < 4; p++) {
                const float *t = tmp + (size_t)6 * p * K;
                float *yr = y0 + (size_t)p * Q4 * K;
                WINO_IVDEP
                for (int k = 0; k < K; k++) {
                    const float row[6] = { t[k], t[K + k], t[2 * K + k], t[3 * K + k], t[4 * K + k], t[5 * K + k] };
                    float o[4];
                    at6(row, o);
                    for (int q = 0; q < 4; q++) yr[(size_t)q * K + k] = o[q];
                }
            }
        }
}

/* y of images [n0, n0 + nb) (NCHW) ← A^T M A per tile, + bias; yt: one pixel-major image
 * covering whole tiles (mTH·mTW, K); rows / columns past P / Q are not copied out. */
WINO_HOT static void chunk_output(const alig_nk_conv *s, const wino_geom *g, const float *M, size_t ldm,
                                  const float *bias, float *yt, float *y, int n0, int nb, float *tmp)
{
    const int K = s->K, P = s->P, Q = s->Q, Q2 = g->m * g->TW;
    for (int i = 0; i < nb; i++) {
        if (g->m == 4)
            output_tiles_f4(s, g, M, ldm, yt, i, tmp);
        else
            output_tiles_f2(s, g, M, ldm, yt, i);
        /* transpose (P, Q, K) → (K, P, Q) row by row, adding the bias (or 0) */
        const size_t PQ = (size_t)P * Q;
        float *yn = y + (size_t)(n0 + i) * K * PQ;
        for (int p = 0; p < P; p++)
            pm_to_planar(yt + (size_t)p * Q2 * K, (size_t)K, yn + (size_t)p * Q, PQ, Q, K, bias, PL_BIAS);
    }
}

/* dM ← A dy A^T for the tiles of image i of the chunk, F(2×2, 3×3) */
static inline void output_adjoint_tiles_f2(const alig_nk_conv *s, const wino_geom *g, const float *dyt, float *M,
                                           size_t ldm, int i)
{
    const int K = s->K, Q2 = 2 * g->TW;
        for (int th = 0; th < g->TH; th++)
            for (int tw = 0; tw < g->TW; tw++) {
                float *m = M + ((size_t)i * g->tiles + (size_t)th * g->TW + tw) * 16 * K;
                const float *y00 = dyt + ((size_t)(2 * th) * Q2 + 2 * tw) * K, *y01 = y00 + K,
                            *y10 = y00 + (size_t)Q2 * K, *y11 = y10 + K;
                WINO_IVDEP
                for (int k = 0; k < K; k++) {
                    const float a = y00[k], b = y01[k], c = y10[k], d = y11[k];
                    /* S = A dy (4×2), then S A^T (4×4) */
                    const float s00 = a, s01 = b, s10 = a + c, s11 = b + d, s20 = a - c, s21 = b - d, s30 = -c, s31 = -d;
                    m[0 * ldm + k] = s00;  m[1 * ldm + k] = s00 + s01;  m[2 * ldm + k] = s00 - s01;  m[3 * ldm + k] = -s01;
                    m[4 * ldm + k] = s10;  m[5 * ldm + k] = s10 + s11;  m[6 * ldm + k] = s10 - s11;  m[7 * ldm + k] = -s11;
                    m[8 * ldm + k] = s20;  m[9 * ldm + k] = s20 + s21;  m[10 * ldm + k] = s20 - s21; m[11 * ldm + k] = -s21;
                    m[12 * ldm + k] = s30; m[13 * ldm + k] = s30 + s31; m[14 * ldm + k] = s30 - s31; m[15 * ldm + k] = -s31;
                }
            }
}

/* dM ← A dy A^T for the tiles of image i of the chunk, F(4×4, 3×3) */
static inline void output_adjoint_tiles_f4(const alig_nk_conv *s, const wino_geom *g, const float *dyt, float *M,
                                           size_t ldm, int i, float *tmp)
{
    /* two passes through tmp (24·K floats): A dy down the 4 columns, then (A dy) A^T along rows */
    const int K = s->K, Q4 = 4 * g->TW;
    for (int th = 0; th < g->TH; th++)
        for (int tw = 0; tw < g->TW; tw++) {
            float *m = M + ((size_t)i * g->tiles + (size_t)th * g->TW + tw) * 36 * K;
            const float *y0 = dyt + ((size_t)(4 * th) * Q4 + 4 * tw) * K;
            for (int q = 0; q < 4; q++) {
                float *sa = tmp + (size_t)q * K;            /* sa[a][q][k] at tmp + (4a + q)·K */
                WINO_IVDEP
                for (int k = 0; k < K; k++) {
                    const float col[4] = { y0[(size_t)q * K + k], y0[((size_t)Q4 + q) * K + k],
                                           y0[((size_t)2 * Q4 + q) * K + k], y0[((size_t)3 * Q4 + q) * K + k] };
                    float o[6];
                    a6(col, o);
                    for (int a = 0; a < 6; a++) sa[(size_t)4 * a * K + k] = o[a];
                }
            }
            for (int a = 0; a < 6; a++) {
                const float *sa = tmp + (size_t)4 * a * K;
                WINO_IVDEP
                for (int k = 0; k < K; k++) {
                    const float row[4] = { sa[k], sa[K + k], sa[2 * K + k], sa[3 * K + k] };
                    float o[6];
                    a6(row, o);
                    for (int b = 0; b < 6; b++) m[(size_t)(6 * a + b) * ldm + k] = o[b];
                }
            }
        }
}

/* dM (T, nx, K) ← A dy A^T per tile, for dy of images [n0, n0 + nb); dyt: one pixel-major image
 * covering whole tiles (mTH·mTW, K), whose rows / columns past P / Q hold zeros. */
WINO_HOT static void chunk_output_adjoint(const alig_nk_conv *s, const wino_geom *g, const float *dy, float *dyt,
                                          float *M, size_t ldm, int n0, int nb, float *tmp)
{
    const int K = s->K, P = s->P, Q = s->Q, Q2 = g->m * g->TW;
    const size_t PQ = (size_t)P * Q;
    if (P < g->m * g->TH)       /* the rows past P of the last tile row hold zeros */
        memset(dyt + (size_t)P * Q2 * K, 0, sizeof(float) * (size_t)(g->m * g->TH - P) * Q2 * K);
    for (int i = 0; i < nb; i++) {
        const float *dn = dy + (size_t)(n0 + i) * K * PQ;
        for (int p = 0; p < P; p++) {
            planar_to_pm(dn + (size_t)p * Q, PQ, dyt + (size_t)p * Q2 * K, (size_t)K, Q, K);
            if (Q < Q2) memset(dyt + ((size_t)p * Q2 + Q) * K, 0, sizeof(float) * (size_t)(Q2 - Q) * K);
        }
        if (g->m == 4)
            output_adjoint_tiles_f4(s, g, dyt, M, ldm, i, tmp);
        else
            output_adjoint_tiles_f2(s, g, dyt, M, ldm, i);
    }
}

/* xt += B dV B^T at each tile's 4×4 patch, for the tiles of image i of the chunk, F(2×2, 3×3) */
static inline void input_adjoint_tiles_f2(const alig_nk_conv *s, const wino_geom *g, const float *V, size_t ldv,
                                          float *xt, int i)
{
    const int C = s->C;
    const size_t rs = (size_t)g->bw * C;
        for (int th = 0; th < g->TH; th++)
            for (int tw = 0; tw < g->TW; tw++) {
                float *d0 = xt + (size_t)(2 * th) * rs + (size_t)(2 * tw) * C, *d1 = d0 + rs, *d2 = d1 + rs,
                      *d3 = d2 + rs;
                const float *v = V + ((size_t)i * g->tiles + (size_t)th * g->TW + tw) * 16 * C;
                /* tiles overlap by two pixels: within one tile the 16 patch pixels are distinct */
                WINO_IVDEP
                for (int c = 0; c < C; c++) {
                    float e[4][4];      /* B dV: patch rows, then (B dV) B^T along each row */
                    for (int b = 0; b < 4; b++) {
                        const float v0 = v[(size_t)b * ldv + c], v1 = v[(size_t)(4 + b) * ldv + c];
                        const float v2 = v[(size_t)(8 + b) * ldv + c], v3 = v[(size_t)(12 + b) * ldv + c];
                        e[0][b] = v0;
                        e[1][b] = v1 - v2 + v3;
                        e[2][b] = v1 + v2 - v0;
                        e[3][b] = -v3;
                    }
                    float *row[4] = { d0, d1, d2, d3 };
                    for (int r = 0; r < 4; r++) {
                        row[r][c] += e[r][0];
                        row[r][C + c] += e[r][1] - e[r][2] + e[r][3];
                        row[r][2 * C + c] += e[r][1] + e[r][2] - e[r][0];
                        row[r][3 * C + c] -= e[r][3];
                    }
                }
            }
}

/* xt += B dV B^T at each tile's 6×6 patch, for the tiles of image i of the chunk, F(4×4, 3×3) */
static inline void input_adjoint_tiles_f4(const alig_nk_conv *s, const wino_geom *g, const float *V, size_t ldv,
                                          float *xt, int i, float *tmp)
{
    /* two passes through tmp (36·C floats): B dV down the 6 columns, then (B dV) B^T along the
     * 6 rows, added to the patch */
    const int C = s->C;
    const size_t rs = (size_t)g->bw * C;
    for (int th = 0; th < g->TH; th++)
        for (int tw = 0; tw < g->TW; tw++) {
            float *d0 = xt + (size_t)(4 * th) * rs + (size_t)(4 * tw) * C;
            const float *v = V + ((size_t)i * g->tiles + (size_t)th * g->TW + tw) * 36 * C;
            for (int b = 0; b < 6; b++) {
                float *e = tmp + (size_t)b * C;             /* e[r][b][c] at tmp + (6r + b)·C */
                WINO_IVDEP
                for (int c = 0; c < C; c++) {
                    const float col[6] = { v[(size_t)b * ldv + c], v[(size_t)(6 + b) * ldv + c],
                                           v[(size_t)(12 + b) * ldv + c], v[(size_t)(18 + b) * ldv + c],
                                           v[(size_t)(24 + b) * ldv + c], v[(size_t)(30 + b) * ldv + c] };
                    float o[6];
                    b6(col, o);
                    for (int r = 0; r < 6; r++) e[(size_t)6 * r * C + c] = o[r];
                }
            }
            /* tiles overlap by two pixels: within one tile the 36 patch pixels are distinct */
            for (int r = 0; r < 6; r++) {
                const float *e = tmp + (size_t)6 * r * C;
                float *row = d0 + (size_t)r * rs;
                WINO_IVDEP
                for (int c = 0; c < C; c++) {
                    const float in[6] = { e[c], e[C + c], e[2 * C + c], e[3 * C + c], e[4 * C + c], e[5 * C + c] };
                    float o[6];
                    b6(in, o);
                    for (int j = 0; j < 6; j++) row[(size_t)j * C + c] += o[j];
                }
            }
        }
}

/* dx of images [n0, n0 + nb) += (or, with set, =) Σ over tiles of B dV B^T at each tile's patch
 * (the adjoint of input_transform and to_padded); xt: one padded pixel-major image as accumulator. */
WINO_HOT static void chunk_input_adjoint(const alig_nk_conv *s, const wino_geom *g, const float *V, size_t ldv,
                                         float *xt, float *dx, int set, int n0, int nb, float *tmp)
{
    const int C = s->C, HW = s->H * s->W;
    const size_t rs = (size_t)g->bw * C;
    for (int i = 0; i < nb; i++) {
        memset(xt, 0, sizeof(float) * (size_t)g->bh * rs);
        if (g->m == 4)
            input_adjoint_tiles_f4(s, g, V, ldv, xt, i, tmp);
        else
            input_adjoint_tiles_f2(s, g, V, ldv, xt, i);
        float *dn = dx + (size_t)(n0 + i) * C * HW;
        for (int h = 0; h < s->H; h++)
            pm_to_planar(xt + ((size_t)(h + s->ph) * g->bw + s->pw) * C, (size_t)C, dn + (size_t)h * s->W, (size_t)HW,
                         s->W, C, NULL, set ? PL_COPY : PL_ACC);
    }
}

/* dw[k][c] += G^T (Σ_slots dU[·][c][k]) G, in double, F(2×2, 3×3); slot partials `per` floats apart */
static void dw_transform_f2(const alig_nk_conv *s, const float *dU, size_t per, int slots, float *dw)
{
    const size_t KC = (size_t)s->K * s->C;
    ALIG_NK_OMP(omp parallel for schedule(static) if (KC >= 256))
    for (int c = 0; c < s->C; c++)             /* c outer: dU read contiguously (see weight_transform_f2) */
        for (int k = 0; k < s->K; k++) {
            const size_t ck = (size_t)c * s->K + k;
            double u[4][4];
            for (int xi = 0; xi < 16; xi++) {
                double acc = 0.0;
                for (int sl = 0; sl < slots; sl++) acc += dU[(size_t)sl * per + xi * KC + ck];
                u[xi / 4][xi % 4] = acc;
            }
            double t[3][4];     /* G^T u: rows r */
            for (int b = 0; b < 4; b++) {
                t[0][b] = u[0][b] + 0.5 * (u[1][b] + u[2][b]);
                t[1][b] = 0.5 * (u[1][b] - u[2][b]);
                t[2][b] = 0.5 * (u[1][b] + u[2][b]) + u[3][b];
            }
            float *d = dw + 9 * ((size_t)k * s->C + c);
            for (int r = 0; r < 3; r++) {
                d[3 * r + 0] += (float)(t[r][0] + 0.5 * (t[r][1] + t[r][2]));
                d[3 * r + 1] += (float)(0.5 * (t[r][1] - t[r][2]));
                d[3 * r + 2] += (float)(0.5 * (t[r][1] + t[r][2]) + t[r][3]);
            }
        }
}

/* dw[k][c] += G^T (Σ_slots dU[·][c][k]) G, in double, F(4×4, 3×3) */
static void dw_transform_f4(const alig_nk_conv *s, const float *dU, size_t per, int slots, float *dw)
{
    static const double G[6][3] = { { 0.25, 0, 0 }, { -1.0 / 6, -1.0 / 6, -1.0 / 6 }, { -1.0 / 6, 1.0 / 6, -1.0 / 6 },
                                    { 1.0 / 24, 1.0 / 12, 1.0 / 6 }, { 1.0 / 24, -1.0 / 12, 1.0 / 6 }, { 0, 0, 1 } };
    const size_t KC = (size_t)s->K * s->C;
    ALIG_NK_OMP(omp parallel for schedule(static) if (KC >= 256))
    for (int c = 0; c < s->C; c++)             /* c outer: as dw_transform_f2 */
        for (int k = 0; k < s->K; k++) {
            const size_t ck = (size_t)c * s->K + k;
            double u[6][6];
            for (int xi = 0; xi < 36; xi++) {
                double acc = 0.0;
                for (int sl = 0; sl < slots; sl++) acc += dU[(size_t)sl * per + xi * KC + ck];
                u[xi / 6][xi % 6] = acc;
            }
            double t[3][6];     /* G^T u */
            for (int r = 0; r < 3; r++)
                for (int b = 0; b < 6; b++) {
                    double acc = 0.0;
                    for (int a = 0; a < 6; a++) acc += G[a][r] * u[a][b];
                    t[r][b] = acc;
                }
            float *d = dw + 9 * ((size_t)k * s->C + c);
            for (int r = 0; r < 3; r++)
                for (int q = 0; q < 3; q++) {
                    double acc = 0.0;
                    for (int b = 0; b < 6; b++) acc += t[r][b] * G[b][q];
                    d[3 * r + q] += (float)acc;
                }
        }
}

/* ---------------------------------------------------------------- drivers */

static int n_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int slot_id(int slots)
{
#ifdef _OPENMP
    return slots > 1 ? omp_get_thread_num() : 0;
#else
    (void)slots;
    return 0;
#endif
}

/* a slot's pieces for a chunk of T tiles */
typedef struct wino_slot {
    float *xt, *yt, *tmp, *V, *M;
    size_t ldv, ldm;
} wino_slot;

static wino_slot slot_at(const alig_nk_conv *s, const wino_geom *g, float *slot, size_t T)
{
    wino_slot w;
    w.xt = slot;
    w.yt = w.xt + (size_t)g->bh * g->bw * s->C;
    w.ldv = (size_t)s->C;
    w.ldm = (size_t)s->K;
    w.tmp = w.yt + (size_t)g->m * g->m * g->tiles * s->K;
    w.V = w.tmp + 36 * (size_t)(s->C > s->K ? s->C : s->K);
    w.M = w.V + (size_t)g->nx * T * s->C;
    return w;
}

static void forward_chunk(const alig_nk_conv *s, const wino_geom *g, const float *x, const float *U,
                          const float *bias, float *y, float *slot, int n0, int nb)
{
    const size_t T = (size_t)nb * g->tiles, KC = (size_t)s->K * s->C;
    const wino_slot w = slot_at(s, g, slot, T);
    chunk_input(s, g, x, n0, nb, w.xt, w.V, w.ldv, w.tmp);
    for (int xi = 0; xi < g->nx; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, s->K, s->C, 1.0f, w.V + xi * w.ldv,
                    g->nx * s->C, U + xi * KC, s->K, 0.0f, w.M + xi * w.ldm, g->nx * s->K);
    chunk_output(s, g, w.M, w.ldm, bias, w.yt, y, n0, nb, w.tmp);
}

void alig_nk_wino_forward(const alig_nk_conv *s, int m, const float *x, const float *w, const float *bias, float *y,
                          float *ws, int imgs, int slots)
{
    const wino_geom g = geom(s, m);
    float *U = ws, *slot0 = ws + (size_t)g.nx * s->K * s->C;
    const size_t per = slot_floats(s, &g, imgs);
    const int chunks = (s->N + imgs - 1) / imgs;
    weight_transform(s, &g, w, U);
    if (slots > 1 && n_threads() > 1) {
        /* chunks are independent here (no partial sums), so they are handed out as threads come
         * free: on a shared machine a thread that loses its core does not hold the other one up */
        ALIG_NK_OMP(omp parallel for schedule(dynamic, 1) num_threads(slots))
        for (int ch = 0; ch < chunks; ch++) {
            const int n0 = ch * imgs, nb = n0 + imgs <= s->N ? imgs : s->N - n0;
            forward_chunk(s, &g, x, U, bias, y, slot0 + (size_t)slot_id(slots) * per, n0, nb);
        }
    } else {
        for (int ch = 0; ch < chunks; ch++) {
            const int n0 = ch * imgs, nb = n0 + imgs <= s->N ? imgs : s->N - n0;
            forward_chunk(s, &g, x, U, bias, y, slot0, n0, nb);
        }
    }
}

static void backward_chunk(const alig_nk_conv *s, const wino_geom *g, const float *x, const float *U,
                           const float *dy, float *dx, int dx_set, float *dU, float *slot, int n0, int nb)
{
    const size_t T = (size_t)nb * g->tiles, KC = (size_t)s->K * s->C;
    const wino_slot w = slot_at(s, g, slot, T);
    chunk_output_adjoint(s, g, dy, w.yt, w.M, w.ldm, n0, nb, w.tmp);
    if (dx) {
        for (int xi = 0; xi < g->nx; xi++)     /* dV_ξ (T, C) = dM_ξ (T, K) · U_ξ^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, s->C, s->K, 1.0f, w.M + xi * w.ldm,
                        g->nx * s->K, U + xi * KC, s->K, 0.0f, w.V + xi * w.ldv, g->nx * s->C);
        chunk_input_adjoint(s, g, w.V, w.ldv, w.xt, dx, dx_set, n0, nb, w.tmp);
    }
    if (dU) {
        chunk_input(s, g, x, n0, nb, w.xt, w.V, w.ldv, w.tmp);
        for (int xi = 0; xi < g->nx; xi++)     /* dU_ξ (C, K) += V_ξ^T (C, T) · dM_ξ (T, K) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s->C, s->K, (int)T, 1.0f, w.V + xi * w.ldv,
                        g->nx * s->C, w.M + xi * w.ldm, g->nx * s->K, 1.0f, dU + xi * KC, s->K);
    }
}

void alig_nk_wino_backward(const alig_nk_conv *s, int m, const float *x, const float *w, const float *dy,
                           float *dx, int dx_set, float *dw, float *db, float *ws, int imgs, int slots)
{
    const wino_geom g = geom(s, m);
    const size_t KC = (size_t)s->K * s->C, PQ = (size_t)s->P * s->Q, nxKC = (size_t)g.nx * KC;
    float *U = ws, *slot0 = ws + nxKC;
    const size_t per = slot_floats(s, &g, imgs), dU_off = per - nxKC;
    const int chunks = (s->N + imgs - 1) / imgs;
    const int par = slots > 1 && n_threads() > 1;
    if (!par) slots = 1;

    if (db) {
        ALIG_NK_OMP(omp parallel for schedule(static))
        for (int k = 0; k < s->K; k++) {
            double acc = 0.0;
            for (int n = 0; n < s->N; n++) {
                const float *d = dy + ((size_t)n * s->K + k) * PQ;
                for (size_t i = 0; i < PQ; i++) acc += d[i];
            }
            db[k] += (float)acc;
        }
    }
    if (!dx && !dw) return;
    if (dx) weight_transform(s, &g, w, U);
    for (int sl = 0; sl < slots; sl++) memset(slot0 + (size_t)sl * per + dU_off, 0, sizeof(float) * nxKC);
    if (par) {
        ALIG_NK_OMP(omp parallel for schedule(static) num_threads(slots))
        for (int ch = 0; ch < chunks; ch++) {
            const int n0 = ch * imgs, nb = n0 + imgs <= s->N ? imgs : s->N - n0;
            float *slot = slot0 + (size_t)slot_id(slots) * per;
            backward_chunk(s, &g, x, U, dy, dx, dx_set, dw ? slot + dU_off : NULL, slot, n0, nb);
        }
    } else {
        for (int ch = 0; ch < chunks; ch++) {
            const int n0 = ch * imgs, nb = n0 + imgs <= s->N ? imgs : s->N - n0;
            backward_chunk(s, &g, x, U, dy, dx, dx_set, dw ? slot0 + dU_off : NULL, slot0, n0, nb);
        }
    }
    if (!dw) return;
    if (g.m == 4)
        dw_transform_f4(s, slot0 + dU_off, per, slots, dw);
    else
        dw_transform_f2(s, slot0 + dU_off, per, slots, dw);
}
