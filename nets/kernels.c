/* kernels.c - compute kernels of the autodiff ops; see kernels.h for the contract of each.
 *
 * Layout of this file: each optimised kernel is followed by its *_naive reference. The naive
 * versions are deliberately plain (serial, bounds check per element, double accumulators) and
 * use a different formulation where one exists (direct convolution instead of im2col, gather
 * instead of scatter, the staged batch-norm backward), so that agreeing with them means
 * something.
 *
 * Convolution as im2col + sgemm (Chellapilla, Puri & Simard 2006): a block of B images is
 * unrolled into one column matrix (C·R·S, B·P·Q) so that a single sgemm of shape
 * (K, B·P·Q, C·R·S) does the work of B small ones. For a strided convolution the unrolling goes
 * through phases, the polyphase split of a strided filter (as in multirate filter banks): each
 * channel is split once by row and column residue modulo the strides, and in those planes every
 * tap reads a unit-stride window, so the rows of the column matrix are contiguous copies and
 * col2im contiguous additions (details at conv_geom). With the stride-2 gather inside the copy
 * loops, the unrolling of the WRN's 3×3 stride-2 layers took about as long as their sgemm.
 * 1×1 convolutions without padding skip im2col altogether: the image (or its subsample, for
 * stride 2) is the column matrix, and one sgemm per image writes y in place (measured: the
 * per-image sgemm of these small shapes runs about as fast as a batched one, and it saves the
 * copy in and the (K, B, PQ) → (B, K, PQ) reorder out).
 * Two ways to use the cores:
 *   - one block at a time, large: OpenBLAS threads the sgemm, our OpenMP threads the unrolling
 *     and the reordering between (K, B·P·Q) and (B, K, P·Q);
 *   - several slots at once, one per thread, each with a fixed share of the images, processed
 *     in small blocks kept in that core's cache, with a single-threaded sgemm (what the OpenMP
 *     OpenBLAS does inside a parallel region). On small layers (the Fashion-MNIST CNN, WRN on
 *     CIFAR) this avoids a fork/join inside every small sgemm, the way batch-parallel CPU
 *     convolutions do it.
 * The op layer (ops_conv.c) picks the plan. */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "splitmix.h"

/* Hot loops of our own (not sgemm) are built twice on x86-64 with GCC or Clang: for AVX2 and for
 * the baseline; the loader picks one per machine (function multiversioning, an ifunc). The
 * library itself stays baseline code, so it runs anywhere. No fast-math: the AVX2 clone does
 * the same float / double operations in the same order, only wider. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(ALIG_NK_NO_CLONES)
#if __has_attribute(target_clones)
#define NK_HOT __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef NK_HOT
#define NK_HOT
#endif

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }
static inline size_t zmin(size_t a, size_t b) { return a < b ? a : b; }
/* ⌈a/b⌉ for b > 0, and 0 for a <= 0 (strides 1 and 2 without a division: this runs per plane) */
static inline int ceil_pos(int a, int b)
{
    if (a <= 0) return 0;
    return b == 1 ? a : b == 2 ? (a + 1) >> 1 : (a + b - 1) / b;
}

/* for (type i = 0; i < n; i++) BODY: an OpenMP loop when cond holds, else a plain loop outside any
 * OpenMP construct (see ELEMENTWISE below); BODY is a braced block, the same code either way. */
#define NK_FOR(cond, type, i, n, ...)                                                          \
    do {                                                                                       \
        if (cond) {                                                                            \
            ALIG_NK_OMP(omp parallel for schedule(static))                                     \
            for (type i = 0; i < (n); i++) __VA_ARGS__                                         \
        } else {                                                                               \
            for (type i = 0; i < (n); i++) __VA_ARGS__                                         \
        }                                                                                      \
    } while (0)

/* ====================================================================== gemm */

void alig_nk_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
                  float beta, float *C)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {                       /* C = beta·C; not every BLAS accepts K = 0 */
        for (size_t i = 0; i < (size_t)M * (size_t)N; i++) C[i] = beta == 0.0f ? 0.0f : beta * C[i];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

void alig_nk_gemm_naive(int ta, int tb, int M, int N, int K, float alpha, const float *A, const float *B,
                        float beta, float *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                double b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                acc += a * b;
            }
            float *c = &C[(size_t)i * N + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

int alig_nk_blas_nests(void)
{
    const int par = openblas_get_parallel();       /* 0 sequential, 1 pthreads, 2 OpenMP */
    return par == 0 || par == 2;
}

/* ====================================================================== convolution */

int alig_nk_out_len(int in, int k, int stride, int pad)
{
    if (in <= 0 || k <= 0 || stride <= 0 || pad < 0 || in + 2 * pad < k) return 0;
    return (in + 2 * pad - k) / stride + 1;
}

/* ---------------------------------------------------------------- geometry, scratch, plan */

/* Three ways to run a convolution (see the file comment):
 *   CONV_DIRECT  1×1, stride 1, no padding: x's image (C, H·W) is already the column matrix;
 *   CONV_GATHER  1×1, no padding, strided: the column matrix is the subsampled image (C, P·Q);
 *   CONV_COLS    everything else: im2col over blocks of images.
 * Phases (CONV_COLS with a stride above 1): x's channel plane split by row and column residue,
 * X_ρσ[i][m] = x[i·sh + ρ][m·sw + σ], stored without padding in planes of Hh × Wc =
 * ⌈H/sh⌉ × ⌈W/sw⌉ (valid up to n_ρ = ⌈(H − ρ)/sh⌉ rows, n_σ = ⌈(W − σ)/sw⌉ columns). Tap (r, sx)
 * at output (p, q) reads ih = p·sh + r − ph = (p + U)·sh + ρ and iw = (q + T)·sw + σ, with
 * ρ, U the residue and floor quotient of r − ph by sh (σ, T likewise): plane (ρ, σ) at
 * (p + U, q + T), a unit-stride window; outside the plane's valid part the column matrix holds
 * the zero padding. So every row of the column matrix is one contiguous copy (col2im: one
 * contiguous addition) whatever the stride, and a tap whose window spans whole plane rows
 * (Wc = Q and no column clipped: 6 of the 9 taps of a 3×3 stride-2 pad-1 convolution on an even
 * width, the middle column of a 3×3 stride-1 "same" one) is a single copy of up to P·Q floats. The only strided pass is the split
 * itself (and its adjoint), once per channel. With stride 1 the plane itself is X_00: no scratch. */
enum { CONV_DIRECT, CONV_GATHER, CONV_COLS };

typedef struct {
    int path;
    int split;          /* a stride above 1: phases in scratch; else x's plane is read in place */
    int Hh, Wc;         /* plane size: ⌈H/sh⌉ × ⌈W/sw⌉ (H × W without split) */
    size_t plane;       /* Hh·Wc */
    size_t cphase;      /* scratch floats of one channel's phases: sh·sw·plane, 0 without split */
} conv_geom;

static conv_geom conv_geometry(const alig_nk_conv *s)
{
    conv_geom g;
    const int one = s->R == 1 && s->S == 1 && s->ph == 0 && s->pw == 0;
    g.path = one ? (s->sh == 1 && s->sw == 1 ? CONV_DIRECT : CONV_GATHER) : CONV_COLS;
    g.split = s->sh > 1 || s->sw > 1;
    g.Hh = (s->H + s->sh - 1) / s->sh;
    g.Wc = (s->W + s->sw - 1) / s->sw;
    g.plane = (size_t)g.Hh * g.Wc;
    g.cphase = g.split ? (size_t)s->sh * s->sw * g.plane : 0;
    return g;
}

/* Scratch floats of one slot for blocks of `block` images. serial: the slot works alone on its
 * blocks (block-parallel plan), one image's phases at a time; otherwise the unrolling is
 * threaded over (image, channel), with the phases of the whole block.
 *   DIRECT: none;  GATHER: the subsampled image (C, P·Q), reused for Wᵀ·dy in backward;
 *   COLS:   col (CRS, B·PQ), then one region for the sgemm output (K, B·PQ) that also holds the
 *           phases (they are dead by the time the sgemm writes there). */
static size_t conv_slot_floats(const alig_nk_conv *s, const conv_geom *g, int block, int serial)
{
    const size_t PQ = (size_t)s->P * s->Q, B = (size_t)(block < 1 ? 1 : block);
    if (g->path == CONV_DIRECT) return 0;
    if (g->path == CONV_GATHER) return (size_t)s->C * PQ;
    const size_t CRS = (size_t)s->C * s->R * s->S;
    const size_t phase = (serial ? 1 : B) * (size_t)s->C * g->cphase, out = (size_t)s->K * B * PQ;
    return CRS * B * PQ + (out > phase ? out : phase);
}

size_t alig_nk_conv_ws(const alig_nk_conv *s, int block, int slots)
{
    if (slots < 1) slots = 1;
    const conv_geom g = conv_geometry(s);
    size_t f = (size_t)slots * conv_slot_floats(s, &g, block, slots > 1);
    if (slots > 1) f += (size_t)slots * s->K * s->C * s->R * s->S;     /* per-slot dw partials */
    return f;
}

void alig_nk_conv_plan(const alig_nk_conv *s, int max_slots, size_t slot_floats, size_t ws_avail, int *block,
                       int *slots)
{
    const conv_geom g = conv_geometry(s);
    int sl = max_slots < 1 ? 1 : max_slots;
    if (sl > s->N) sl = s->N;
    if (sl < 1) sl = 1;
    const int cap = sl > 1 ? (s->N + sl - 1) / sl : s->N;     /* at least one block per slot */
    /* the largest block (at least 1) whose slot fits slot_floats; the slot grows with the block */
    int lo = 1, hi = cap < 1 ? 1 : cap;
    while (lo < hi) {
        const int mid = lo + (hi - lo + 1) / 2;
        if (conv_slot_floats(s, &g, mid, sl > 1) <= slot_floats) lo = mid;
        else hi = mid - 1;
    }
    int b = lo;
    /* fit the available scratch: fewer slots first, then smaller blocks */
    while (ws_avail && sl > 1 && alig_nk_conv_ws(s, b, sl) > ws_avail) sl--;
    while (ws_avail && b > 1 && alig_nk_conv_ws(s, b, sl) > ws_avail) b--;
    *block = b;
    *slots = sl;
}

#ifdef _OPENMP
/* Threads for `slots` slots: no more than the slots, nor than the current thread setting (a
 * caller that lowered it gets the same result, slot by slot, from fewer threads). */
static inline int team_size(int slots) { return imin(slots, omp_get_max_threads()); }
#endif

/* First image of slot t of `slots` over N images: slots get N/slots images each, ±1. */
static inline int slot_first(int N, int t, int slots) { return (int)((long)N * t / slots); }

/* Short runs (rows of 7 to 28 floats here). Written as fixed-size moves: GCC turns a plain copy or
 * zeroing loop into a call to memcpy / memset, which costs more than the copy itself at these
 * lengths. copy_run and zero_run end with one (overlapping) chunk aligned on the run's end. */
static inline void copy_run(float *restrict d, const float *restrict a, size_t n)
{
    if (n >= 8) {
        for (size_t j = 0; j + 8 < n; j += 8) memcpy(d + j, a + j, 8 * sizeof *d);
        memcpy(d + n - 8, a + n - 8, 8 * sizeof *d);
    } else if (n >= 4) {
        memcpy(d, a, 4 * sizeof *d);
        memcpy(d + n - 4, a + n - 4, 4 * sizeof *d);
    } else {
        switch (n) {                    /* no loop left for GCC to turn back into a memcpy call */
        case 3: d[2] = a[2]; /* fall through */
        case 2: d[1] = a[1]; /* fall through */
        case 1: d[0] = a[0]; /* fall through */
        default: break;
        }
    }
}

static inline void zero_run(float *restrict d, size_t n)
{
    if (n >= 8) {
        for (size_t j = 0; j + 8 < n; j += 8) memset(d + j, 0, 8 * sizeof *d);
        memset(d + n - 8, 0, 8 * sizeof *d);
    } else if (n >= 4) {
        memset(d, 0, 4 * sizeof *d);
        memset(d + n - 4, 0, 4 * sizeof *d);
    } else {
        switch (n) {
        case 3: d[2] = 0.0f; /* fall through */
        case 2: d[1] = 0.0f; /* fall through */
        case 1: d[0] = 0.0f; /* fall through */
        default: break;
        }
    }
}

/* d[0..k) += a[0..k) for k = 8, 4: fixed trip counts, compiled to one vector add each */
static inline void add8(float *restrict d, const float *restrict a)
{
    for (int k = 0; k < 8; k++) d[k] += a[k];
}

static inline void add4(float *restrict d, const float *restrict a)
{
    for (int k = 0; k < 4; k++) d[k] += a[k];
}

static inline void add_run(float *restrict d, const float *restrict a, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8) add8(d + j, a + j);
    if (j + 4 <= n) {
        add4(d + j, a + j);
        j += 4;
    }
    switch (n - j) {                    /* 0 to 3 left: no loop for the compiler to vectorise again */
    case 3: d[j + 2] += a[j + 2]; /* fall through */
    case 2: d[j + 1] += a[j + 1]; /* fall through */
    case 1: d[j] += a[j]; /* fall through */
    default: break;
    }
}

/* d[0..8) = a[0, 2, .., 14] */
static inline void gather2_8(float *restrict d, const float *restrict a)
{
    for (int k = 0; k < 8; k++) d[k] = a[2 * k];
}

/* d[j] = a[j·stride], j < n; stride 2 in chunks of 8, the last one aligned on the run's end */
static inline void gather_run(float *restrict d, const float *restrict a, int n, int stride)
{
    if (stride == 1) {
        copy_run(d, a, (size_t)n);
    } else if (stride == 2 && n >= 8) {
        for (int j = 0; j + 8 < n; j += 8) gather2_8(d + j, a + 2 * j);
        gather2_8(d + n - 8, a + 2 * (n - 8));
    } else {
        for (int j = 0; j < n; j++) d[j] = a[(size_t)j * stride];
    }
}

static inline void scatter_add_run(float *restrict d, const float *restrict a, int n, int stride)
{
    if (stride == 1) add_run(d, a, (size_t)n);
    else if (stride == 2)
        for (int j = 0; j < n; j++) d[2 * j] += a[j];
    else
        for (int j = 0; j < n; j++) d[(size_t)j * stride] += a[j];
}

/* Deinterleave n pairs: d0[k] = a[2k], d1[k] = a[2k + 1], k < n, in fixed chunks of 8 or 4
 * pairs, the last one aligned on the run's end (rewriting a few cells with the same values). */
static inline void dei8(float *restrict d0, float *restrict d1, const float *restrict a)
{
    for (int k = 0; k < 8; k++) {
        d0[k] = a[2 * k];
        d1[k] = a[2 * k + 1];
    }
}

static inline void dei4(float *restrict d0, float *restrict d1, const float *restrict a)
{
    for (int k = 0; k < 4; k++) {
        d0[k] = a[2 * k];
        d1[k] = a[2 * k + 1];
    }
}

static inline void deinterleave_run(float *restrict d0, float *restrict d1, const float *restrict a, int n)
{
    if (n >= 8) {
        for (int j = 0; j + 8 < n; j += 8) dei8(d0 + j, d1 + j, a + 2 * j);
        dei8(d0 + n - 8, d1 + n - 8, a + 2 * (n - 8));
    } else if (n >= 4) {
        dei4(d0, d1, a);
        dei4(d0 + n - 4, d1 + n - 4, a + 2 * (n - 4));
    } else {
        for (int j = 0; j < n; j++) {
            d0[j] = a[2 * j];
            d1[j] = a[2 * j + 1];
        }
    }
}

/* x[2k] += a0[k], x[2k + 1] += a1[k], k < n: chunks of 4 pairs, then 0 to 3 pairs one by one. */
static inline void int4_add(float *restrict x, const float *restrict a0, const float *restrict a1)
{
    for (int k = 0; k < 4; k++) {
        x[2 * k] += a0[k];
        x[2 * k + 1] += a1[k];
    }
}

static inline void interleave_add_run(float *restrict x, const float *restrict a0, const float *restrict a1, int n)
{
    int j = 0;
    for (; j + 4 <= n; j += 4) int4_add(x + 2 * j, a0 + j, a1 + j);
    switch (n - j) {
    case 3: x[2 * j + 4] += a0[j + 2]; x[2 * j + 5] += a1[j + 2]; /* fall through */
    case 2: x[2 * j + 2] += a0[j + 1]; x[2 * j + 3] += a1[j + 1]; /* fall through */
    case 1: x[2 * j] += a0[j]; x[2 * j + 1] += a1[j]; /* fall through */
    default: break;
    }
}

/* Residues used by the taps along one axis: min(k, stride) consecutive ones from (−pad) mod stride. */
static inline int residue0(int pad, int stride) { return ((-pad) % stride + stride) % stride; }

/* The phases of one channel plane xc (H, W) into X (plane (ρ, σ) at (ρ·sw + σ)·plane): only the
 * residues some tap reads. */
NK_HOT static void phase_build(const alig_nk_conv *s, const conv_geom *g, const float *xc, float *X)
{
    const int sh = s->sh, sw = s->sw, H = s->H, W = s->W, Wc = g->Wc;
    const int usedr = imin(s->R, sh), rho0 = residue0(s->ph, sh);
    const int useds = imin(s->S, sw), sig0 = residue0(s->pw, sw);
    const int pair = sw == 2 && useds == 2;             /* both column phases from one pass */
    if (pair && sh == 1 && W % 2 == 0) {                /* rows map 1:1: one long deinterleave */
        float *restrict X0 = X, *restrict X1 = X + g->plane;
        const size_t n = g->plane;
        for (size_t k = 0; k < n; k++) {
            X0[k] = xc[2 * k];
            X1[k] = xc[2 * k + 1];
        }
        return;
    }
    for (int ih = 0, rho = 0, i = 0; ih < H; ih++) {
        if ((rho - rho0 + sh) % sh < usedr) {
            const float *xr = xc + (size_t)ih * W;
            float *row = X + (size_t)rho * sw * g->plane + (size_t)i * Wc;
            if (pair) {
                const int n1 = W / 2;                                   /* columns with σ = 1 */
                deinterleave_run(row, row + g->plane, xr, n1);
                if (W % 2) row[n1] = xr[2 * n1];
            } else {
                for (int u = 0; u < useds; u++) {
                    const int sig = (sig0 + u) % sw;
                    gather_run(row + (size_t)sig * g->plane, xr + sig, (W - sig + sw - 1) / sw, sw);
                }
            }
        }
        if (++rho == sh) { rho = 0; i++; }
    }
}

/* Adjoint of phase_build: dxc[i·sh + ρ][m·sw + σ] += A_ρσ[i][m] over the residues in use. */
NK_HOT static void phase_fold(const alig_nk_conv *s, const conv_geom *g, const float *A, float *dxc)
{
    const int sh = s->sh, sw = s->sw, H = s->H, W = s->W, Wc = g->Wc;
    const int usedr = imin(s->R, sh), rho0 = residue0(s->ph, sh);
    const int useds = imin(s->S, sw), sig0 = residue0(s->pw, sw);
    const int pair = sw == 2 && useds == 2;
    if (pair && sh == 1 && W % 2 == 0) {
        const float *restrict A0 = A, *restrict A1 = A + g->plane;
        const size_t n = g->plane;
        for (size_t k = 0; k < n; k++) {
            dxc[2 * k] += A0[k];
            dxc[2 * k + 1] += A1[k];
        }
        return;
    }
    for (int ih = 0, rho = 0, i = 0; ih < H; ih++) {
        if ((rho - rho0 + sh) % sh < usedr) {
            float *xr = dxc + (size_t)ih * W;
            const float *row = A + (size_t)rho * sw * g->plane + (size_t)i * Wc;
            if (pair) {
                const int n1 = W / 2;
                interleave_add_run(xr, row, row + g->plane, n1);
                if (W % 2) xr[2 * n1] += row[n1];
            } else {
                for (int u = 0; u < useds; u++) {
                    const int sig = (sig0 + u) % sw;
                    scatter_add_run(xr + sig, row + (size_t)sig * g->plane, (W - sig + sw - 1) / sw, sw);
                }
            }
        }
        if (++rho == sh) { rho = 0; i++; }
    }
}

/* Loop over the taps (r, sx) of one channel, kernel column by kernel column, with ROW = r·S + sx;
 * for kernel row r its residue RHO and shift U (output row p reads plane row p + U) and valid
 * output rows [P0, P1); for kernel column sx its residue SIG, shift T and valid output columns
 * [Q0, Q1); OFF, the plane offset of the window's first valid cell; FULL, whether the valid
 * window is whole plane rows (one contiguous run of (P1 − P0)·Q floats). Residues and shifts
 * advance without divisions; the valid lengths divide only for strides above 2 (ceil_pos). */
#define FOR_EACH_TAP(s, g, body)                                                                        \
    do {                                                                                                \
        const int sh_ = (s)->sh, sw_ = (s)->sw;                                                         \
        int SIG = residue0((s)->pw, sw_), T = (-(s)->pw - SIG) / sw_;                                   \
        for (int sx = 0; sx < (s)->S; sx++) {                                                           \
            const int ns_ = sw_ == 1 ? (s)->W : ceil_pos((s)->W - SIG, sw_);                            \
            const int Q0 = imin((s)->Q, imax(0, -T)), Q1 = imax(Q0, imin((s)->Q, ns_ - T));             \
            int RHO = residue0((s)->ph, sh_), U = (-(s)->ph - RHO) / sh_;                               \
            for (int r = 0; r < (s)->R; r++) {                                                          \
                const int nr_ = sh_ == 1 ? (s)->H : ceil_pos((s)->H - RHO, sh_);                        \
                const int P0 = imin((s)->P, imax(0, -U)), P1 = imax(P0, imin((s)->P, nr_ - U));         \
                const int ROW = r * (s)->S + sx;                                                        \
                const size_t OFF = ((size_t)RHO * sw_ + (size_t)SIG) * (g)->plane +                     \
                                   (size_t)(P0 + U) * (size_t)(g)->Wc + (size_t)(Q0 + T);               \
                const int FULL = Q0 == 0 && Q1 == (s)->Q && (g)->Wc == (s)->Q;                          \
                body;                                                                                   \
                if (++RHO == sh_) { RHO = 0; U++; }                                                     \
            }                                                                                           \
            if (++SIG == sw_) { SIG = 0; T++; }                                                         \
        }                                                                                               \
    } while (0)

/* The R·S rows of the column matrix of one channel (starting at col, row stride ldc) from its
 * phases X (x's channel plane itself without split). */
NK_HOT static void im2col_rows(const alig_nk_conv *s, const conv_geom *g, const float *X, float *col, size_t ldc)
{
    const size_t P = (size_t)s->P, Q = (size_t)s->Q, Wc = (size_t)g->Wc;
    FOR_EACH_TAP(s, g, {
        float *d = col + (size_t)ROW * ldc;
        zero_run(d, (size_t)P0 * Q);                                /* rows in the padding */
        zero_run(d + (size_t)P1 * Q, (P - (size_t)P1) * Q);
        if (P1 > P0 && Q1 > Q0) {
            const float *a = X + OFF;
            float *dr = d + (size_t)P0 * Q;
            if (FULL) {
                copy_run(dr, a, (size_t)(P1 - P0) * Q);
            } else {
                for (int p = P0; p < P1; p++, dr += Q, a += Wc) {
                    copy_run(dr + Q0, a, (size_t)(Q1 - Q0));
                    zero_run(dr, (size_t)Q0);
                    zero_run(dr + Q1, Q - (size_t)Q1);
                }
            }
        } else {
            zero_run(d + (size_t)P0 * Q, (size_t)(P1 - P0) * Q);
        }
    });
}

/* Adjoint of im2col_rows: A (the channel's phases, or dx's plane without split) += the R·S rows. */
NK_HOT static void col2im_rows(const alig_nk_conv *s, const conv_geom *g, const float *col, size_t ldc, float *A)
{
    const size_t Q = (size_t)s->Q, Wc = (size_t)g->Wc;
    FOR_EACH_TAP(s, g, {
        if (P1 > P0 && Q1 > Q0) {
            float *d = A + OFF;
            const float *a = col + (size_t)ROW * ldc + (size_t)P0 * Q + (size_t)Q0;
            if (FULL) add_run(d, a, (size_t)(P1 - P0) * Q);
            else
                for (int p = P0; p < P1; p++, d += Wc, a += Q) add_run(d, a, (size_t)(Q1 - Q0));
        }
    });
}

/* im2col of B images (x at the first) into col (CRS, B·PQ), with ph the phases of all
 * B·C channels (B·C·cphase floats) when par, of one image's C channels otherwise. The phases
 * of an image are all built before any is read, so that no row is reloaded, at another
 * alignment, right after it was stored. par: threaded over (image, channel). */
static void im2col_block(const alig_nk_conv *s, const conv_geom *g, int B, const float *x, float *col, float *ph,
                         int par)
{
    const int C = s->C, split = g->split;
    const size_t PQ = (size_t)s->P * s->Q, ldc = (size_t)B * PQ, HW = (size_t)s->H * s->W;
    const size_t RS = (size_t)s->R * s->S, cp = g->cphase;
    if (par) {
        ALIG_NK_OMP(omp parallel if (B * C > 1))
        {
            if (split) {
                ALIG_NK_OMP(omp for collapse(2) schedule(static))
                for (int b = 0; b < B; b++)
                    for (int c = 0; c < C; c++) {
                        const size_t bc = (size_t)b * C + (size_t)c;
                        phase_build(s, g, x + bc * HW, ph + bc * cp);
                    }
            }
            ALIG_NK_OMP(omp for collapse(2) schedule(static))
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++) {
                    const size_t bc = (size_t)b * C + (size_t)c;
                    im2col_rows(s, g, split ? ph + bc * cp : x + bc * HW, col + (size_t)c * RS * ldc + (size_t)b * PQ,
                                ldc);
                }
        }
        return;
    }
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * C * HW;
        if (split)
            for (int c = 0; c < C; c++) phase_build(s, g, xb + (size_t)c * HW, ph + (size_t)c * cp);
        for (int c = 0; c < C; c++)
            im2col_rows(s, g, split ? ph + (size_t)c * cp : xb + (size_t)c * HW,
                        col + (size_t)c * RS * ldc + (size_t)b * PQ, ldc);
    }
}

/* dx (B images) += col2im of col (CRS, B·PQ) (set: dx = col2im, its old content ignored), through
 * zeroed phase accumulators ph (sized as for im2col_block) folded back once all channels of the
 * image are summed. With set, each dx plane is zeroed just before its first use (in cache). */
static void col2im_block(const alig_nk_conv *s, const conv_geom *g, int B, const float *col, float *dx, float *ph,
                         int par, int set)
{
    const int C = s->C, split = g->split;
    const size_t PQ = (size_t)s->P * s->Q, ldc = (size_t)B * PQ, HW = (size_t)s->H * s->W;
    const size_t RS = (size_t)s->R * s->S, cp = g->cphase;
    if (par) {
        ALIG_NK_OMP(omp parallel if (B * C > 1))
        {
            ALIG_NK_OMP(omp for collapse(2) schedule(static))
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++) {
                    const size_t bc = (size_t)b * C + (size_t)c;
                    float *A = split ? ph + bc * cp : dx + bc * HW;
                    if (split || set) zero_run(A, split ? cp : HW);
                    col2im_rows(s, g, col + (size_t)c * RS * ldc + (size_t)b * PQ, ldc, A);
                }
            if (split) {
                ALIG_NK_OMP(omp for collapse(2) schedule(static))
                for (int b = 0; b < B; b++)
                    for (int c = 0; c < C; c++) {
                        const size_t bc = (size_t)b * C + (size_t)c;
                        if (set) zero_run(dx + bc * HW, HW);
                        phase_fold(s, g, ph + bc * cp, dx + bc * HW);
                    }
            }
        }
        return;
    }
    for (int b = 0; b < B; b++) {
        float *dxb = dx + (size_t)b * C * HW;
        for (int c = 0; c < C; c++) {
            float *A = split ? ph + (size_t)c * cp : dxb + (size_t)c * HW;
            if (split || set) zero_run(A, split ? cp : HW);
            col2im_rows(s, g, col + (size_t)c * RS * ldc + (size_t)b * PQ, ldc, A);
        }
        if (split)
            for (int c = 0; c < C; c++) {
                if (set) zero_run(dxb + (size_t)c * HW, HW);
                phase_fold(s, g, ph + (size_t)c * cp, dxb + (size_t)c * HW);
            }
    }
}

size_t alig_nk_im2col_ws(const alig_nk_conv *s, int B)
{
    const conv_geom g = conv_geometry(s);
    return (size_t)(B < 1 ? 1 : B) * (size_t)s->C * g.cphase;
}

void alig_nk_im2col(const alig_nk_conv *s, int B, const float *x, float *col, float *ws)
{
    const conv_geom g = conv_geometry(s);
    im2col_block(s, &g, B, x, col, ws, 1);
}

void alig_nk_im2col_naive(const alig_nk_conv *s, int B, const float *x, float *col)
{
    const size_t PQ = (size_t)s->P * s->Q;
    for (int c = 0; c < s->C; c++)
        for (int r = 0; r < s->R; r++)
            for (int sx = 0; sx < s->S; sx++) {
                size_t row = ((size_t)c * s->R + r) * s->S + sx;
                for (int b = 0; b < B; b++)
                    for (int p = 0; p < s->P; p++)
                        for (int q = 0; q < s->Q; q++) {
                            int ih = p * s->sh - s->ph + r, iw = q * s->sw - s->pw + sx;
                            float v = 0.0f;
                            if (ih >= 0 && ih < s->H && iw >= 0 && iw < s->W)
                                v = x[(((size_t)b * s->C + c) * s->H + ih) * s->W + iw];
                            col[row * B * PQ + b * PQ + (size_t)p * s->Q + q] = v;
                        }
            }
}

void alig_nk_col2im(const alig_nk_conv *s, int B, const float *col, float *dx, float *ws)
{
    const conv_geom g = conv_geometry(s);
    col2im_block(s, &g, B, col, dx, ws, 1, 0);
}

void alig_nk_col2im_naive(const alig_nk_conv *s, int B, const float *col, float *dx)
{
    const size_t PQ = (size_t)s->P * s->Q;
    for (int c = 0; c < s->C; c++)
        for (int r = 0; r < s->R; r++)
            for (int sx = 0; sx < s->S; sx++) {
                size_t row = ((size_t)c * s->R + r) * s->S + sx;
                for (int b = 0; b < B; b++)
                    for (int p = 0; p < s->P; p++)
                        for (int q = 0; q < s->Q; q++) {
                            int ih = p * s->sh - s->ph + r, iw = q * s->sw - s->pw + sx;
                            if (ih >= 0 && ih < s->H && iw >= 0 && iw < s->W)
                                dx[(((size_t)b * s->C + c) * s->H + ih) * s->W + iw] +=
                                    col[row * B * PQ + b * PQ + (size_t)p * s->Q + q];
                        }
            }
}

/* GATHER: the subsampled image xs (C, P, Q) = x[c, p·sh, q·sw] of x's image xn, or its
 * adjoint dxn += xs at the sampled cells. */
NK_HOT static void subsample_image(const alig_nk_conv *s, const float *xn, float *xs, int par)
{
    const size_t HW = (size_t)s->H * s->W, Q = (size_t)s->Q;
    (void)par;                                          /* without OpenMP */
    ALIG_NK_OMP(omp parallel for schedule(static) if (par))
    for (int c = 0; c < s->C; c++)
        for (int p = 0; p < s->P; p++)
            gather_run(xs + ((size_t)c * s->P + (size_t)p) * Q, xn + (size_t)c * HW + (size_t)p * s->sh * s->W, s->Q,
                       s->sw);
}

NK_HOT static void subsample_adjoint(const alig_nk_conv *s, const float *xs, float *dxn, int par)
{
    const size_t HW = (size_t)s->H * s->W, Q = (size_t)s->Q;
    (void)par;
    ALIG_NK_OMP(omp parallel for schedule(static) if (par))
    for (int c = 0; c < s->C; c++)
        for (int p = 0; p < s->P; p++)
            scatter_add_run(dxn + (size_t)c * HW + (size_t)p * s->sh * s->W, xs + ((size_t)c * s->P + (size_t)p) * Q,
                            s->Q, s->sw);
}

/* Forward of images [n0, n0 + B) (COLS) with one slot's scratch ws: col (CRS, B·PQ), then the
 * sgemm output tmp (K, B·PQ) (which also holds the phase planes during im2col). With par, the
 * unrolling and reordering use OpenMP and sgemm its own threads; without, everything is serial
 * (the caller runs several slots in parallel and sgemm is single-threaded inside). */
static void conv_fwd_block(const alig_nk_conv *s, const conv_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *ws, int n0, int B, int par)
{
    const int K = s->K, CRS = s->C * s->R * s->S;
    const size_t PQ = (size_t)s->P * s->Q, CHW = (size_t)s->C * s->H * s->W;
    float *col = ws, *tmp = ws + (size_t)CRS * B * PQ;
    float *yb = y + (size_t)n0 * K * PQ;
    im2col_block(s, g, B, x + (size_t)n0 * CHW, col, tmp, par);
    if (B == 1) {                                       /* (K, PQ) is already y's layout */
        alig_nk_gemm(0, 0, K, (int)PQ, CRS, 1.0f, w, col, 0.0f, yb);
        if (bias)
            for (int k = 0; k < K; k++)
                for (size_t j = 0; j < PQ; j++) yb[k * PQ + j] += bias[k];
        return;
    }
    alig_nk_gemm(0, 0, K, (int)(B * PQ), CRS, 1.0f, w, col, 0.0f, tmp);
    /* (K, B, PQ) -> (B, K, PQ), adding the bias */
    ALIG_NK_OMP(omp parallel for collapse(2) schedule(static) if (par))
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            float *yr = yb + ((size_t)b * K + k) * PQ;
            const float *tr = tmp + ((size_t)k * B + b) * PQ;
            const float bk = bias ? bias[k] : 0.0f;
            for (size_t j = 0; j < PQ; j++) yr[j] = tr[j] + bk;
        }
}

/* Forward of images [n0, n1) with one slot's scratch. */
static void conv_fwd_range(const alig_nk_conv *s, const conv_geom *g, const float *x, const float *w,
                           const float *bias, float *y, float *ws, int n0, int n1, int block, int par)
{
    const int K = s->K, cnt = n1 - n0;
    const size_t PQ = (size_t)s->P * s->Q, CHW = (size_t)s->C * s->H * s->W;
    if (cnt <= 0) return;
    if (g->path != CONV_COLS) {                         /* one sgemm per image, straight into y */
        for (int n = n0; n < n1; n++) {
            const float *xn = x + (size_t)n * CHW;
            float *yn = y + (size_t)n * K * PQ;
            if (g->path == CONV_GATHER) {
                subsample_image(s, xn, ws, par);
                xn = ws;
            }
            alig_nk_gemm(0, 0, K, (int)PQ, s->C, 1.0f, w, xn, 0.0f, yn);
            if (bias)
                for (int k = 0; k < K; k++)
                    for (size_t j = 0; j < PQ; j++) yn[k * PQ + j] += bias[k];
        }
        return;
    }
    /* ⌈cnt/block⌉ blocks of near-equal size (none over block) */
    const int nb = (cnt + block - 1) / block;
    for (int j = 0; j < nb; j++) {
        const int a = n0 + (int)((long)cnt * j / nb), e = n0 + (int)((long)cnt * (j + 1) / nb);
        conv_fwd_block(s, g, x, w, bias, y, ws, a, e - a, par);
    }
}

void alig_nk_conv2d_forward(const alig_nk_conv *s, const float *x, const float *w, const float *bias, float *y,
                            float *ws, int block, int slots)
{
    const conv_geom g = conv_geometry(s);
    if (block < 1) block = 1;
    if (slots <= 1) {
        conv_fwd_range(s, &g, x, w, bias, y, ws, 0, s->N, block, 1);
        return;
    }
    const size_t slot = conv_slot_floats(s, &g, block, 1);
    /* slot t: images [N·t/slots, N·(t+1)/slots), whichever thread runs it */
    ALIG_NK_OMP(omp parallel for num_threads(team_size(slots)) schedule(static, 1))
    for (int t = 0; t < slots; t++)
        conv_fwd_range(s, &g, x, w, bias, y, ws + (size_t)t * slot, slot_first(s->N, t, slots),
                       slot_first(s->N, t + 1, slots), block, 0);
}

void alig_nk_conv2d_forward_naive(const alig_nk_conv *s, const float *x, const float *w, const float *bias, float *y)
{
    for (int n = 0; n < s->N; n++)
        for (int k = 0; k < s->K; k++)
            for (int p = 0; p < s->P; p++)
                for (int q = 0; q < s->Q; q++) {
                    double acc = bias ? bias[k] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int r = 0; r < s->R; r++)
                            for (int sx = 0; sx < s->S; sx++) {
                                int ih = p * s->sh - s->ph + r, iw = q * s->sw - s->pw + sx;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)w[(((size_t)k * s->C + c) * s->R + r) * s->S + sx] *
                                       x[(((size_t)n * s->C + c) * s->H + ih) * s->W + iw];
                            }
                    y[(((size_t)n * s->K + k) * s->P + p) * s->Q + q] = (float)acc;
                }
}

/* Backward of images [n0, n0 + B) (COLS): dw += dy-block · colᵀ, dx += col2im(wᵀ · dy-block),
 * dy-block = dy of the block as (K, B·PQ). */
static void conv_bwd_block(const alig_nk_conv *s, const conv_geom *g, const float *x, const float *w,
                           const float *dy, float *dx, int set, float *dw, float *ws, int n0, int B, int par)
{
    const int K = s->K, CRS = s->C * s->R * s->S;
    const size_t PQ = (size_t)s->P * s->Q, CHW = (size_t)s->C * s->H * s->W;
    float *col = ws, *tmp = ws + (size_t)CRS * B * PQ;
    const float *dyb = dy + (size_t)n0 * K * PQ;
    const float *dyt = dyb;
    if (dw) im2col_block(s, g, B, x + (size_t)n0 * CHW, col, tmp, par);     /* before tmp holds dy */
    if (B > 1) {
        ALIG_NK_OMP(omp parallel for collapse(2) schedule(static) if (par))
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++)
                memcpy(tmp + ((size_t)k * B + b) * PQ, dyb + ((size_t)b * K + k) * PQ, PQ * sizeof *tmp);
        dyt = tmp;
    }
    if (dw) alig_nk_gemm(0, 1, K, CRS, (int)(B * PQ), 1.0f, dyt, col, 1.0f, dw);
    if (dx) {
        alig_nk_gemm(1, 0, CRS, (int)(B * PQ), K, 1.0f, w, dyt, 0.0f, col);
        col2im_block(s, g, B, col, dx + (size_t)n0 * CHW, tmp, par, set);     /* dy-block is dead */
    }
}

/* Backward of images [n0, n1) with one slot's scratch, dw accumulating into dw, dx written (set)
 * or accumulated. */
static void conv_bwd_range(const alig_nk_conv *s, const conv_geom *g, const float *x, const float *w,
                           const float *dy, float *dx, int set, float *dw, float *ws, int n0, int n1, int block,
                           int par)
{
    const int K = s->K, C = s->C, cnt = n1 - n0;
    const size_t PQ = (size_t)s->P * s->Q, CHW = (size_t)s->C * s->H * s->W;
    if (cnt <= 0) return;
    if (g->path != CONV_COLS) {
        for (int n = n0; n < n1; n++) {
            const float *xn = x + (size_t)n * CHW, *dyn = dy + (size_t)n * K * PQ;
            if (dw) {                                   /* dw (K, C) += dy_n (K, PQ) · xs_nᵀ */
                if (g->path == CONV_GATHER) {
                    subsample_image(s, xn, ws, par);
                    xn = ws;
                }
                alig_nk_gemm(0, 1, K, C, (int)PQ, 1.0f, dyn, xn, 1.0f, dw);
            }
            if (dx) {                                   /* dx_n (C, PQ) (+)= wᵀ · dy_n */
                float *dxn = dx + (size_t)n * CHW;
                if (g->path == CONV_DIRECT) {
                    alig_nk_gemm(1, 0, C, (int)PQ, K, 1.0f, w, dyn, set ? 0.0f : 1.0f, dxn);
                } else {
                    alig_nk_gemm(1, 0, C, (int)PQ, K, 1.0f, w, dyn, 0.0f, ws);
                    if (set) zero_run(dxn, CHW);        /* the cells no output samples */
                    subsample_adjoint(s, ws, dxn, par);
                }
            }
        }
        return;
    }
    const int nb = (cnt + block - 1) / block;
    for (int j = 0; j < nb; j++) {
        const int a = n0 + (int)((long)cnt * j / nb), e = n0 + (int)((long)cnt * (j + 1) / nb);
        conv_bwd_block(s, g, x, w, dy, dx, set, dw, ws, a, e - a, par);
    }
}

void alig_nk_conv2d_backward(const alig_nk_conv *s, const float *x, const float *w, const float *dy,
                             float *dx, float *dw, float *db, float *ws, int block, int slots)
{
    alig_nk_conv2d_backward_set(s, x, w, dy, dx, 0, dw, db, ws, block, slots);
}

void alig_nk_conv2d_backward_set(const alig_nk_conv *s, const float *x, const float *w, const float *dy,
                                 float *dx, int set, float *dw, float *db, float *ws, int block, int slots)
{
    const size_t PQ = (size_t)s->P * s->Q;
    if (db) alig_nk_bias_backward(s->N, s->K, PQ, dy, db);
    if (!dx && !dw) return;
    const conv_geom g = conv_geometry(s);
    if (block < 1) block = 1;
    if (slots <= 1) {
        conv_bwd_range(s, &g, x, w, dy, dx, set, dw, ws, 0, s->N, block, 1);
        return;
    }
    /* slots in parallel; each accumulates its own dw partial, added in slot order */
    const size_t slot = conv_slot_floats(s, &g, block, 1), wsz = (size_t)s->K * s->C * s->R * s->S;
    float *part = ws + (size_t)slots * slot;
    if (dw) memset(part, 0, (size_t)slots * wsz * sizeof *part);
    ALIG_NK_OMP(omp parallel for num_threads(team_size(slots)) schedule(static, 1))
    for (int t = 0; t < slots; t++)
        conv_bwd_range(s, &g, x, w, dy, dx, set, dw ? part + (size_t)t * wsz : NULL, ws + (size_t)t * slot,
                       slot_first(s->N, t, slots), slot_first(s->N, t + 1, slots), block, 0);
    if (dw) {
        ALIG_NK_OMP(omp parallel for schedule(static) if (wsz * (size_t)slots >= ALIG_NK_PAR_MIN))
        for (size_t i = 0; i < wsz; i++) {
            float acc = dw[i];
            for (int t = 0; t < slots; t++) acc += part[(size_t)t * wsz + i];
            dw[i] = acc;
        }
    }
}

void alig_nk_conv2d_backward_naive(const alig_nk_conv *s, const float *x, const float *w, const float *dy,
                                   float *dx, float *dw, float *db)
{
    if (db)
        for (int k = 0; k < s->K; k++) {
            double acc = 0.0;
            for (int n = 0; n < s->N; n++)
                for (int j = 0; j < s->P * s->Q; j++) acc += dy[((size_t)n * s->K + k) * s->P * s->Q + j];
            db[k] += (float)acc;
        }
    if (dw)
        for (int k = 0; k < s->K; k++)
            for (int c = 0; c < s->C; c++)
                for (int r = 0; r < s->R; r++)
                    for (int sx = 0; sx < s->S; sx++) {
                        double acc = 0.0;
                        for (int n = 0; n < s->N; n++)
                            for (int p = 0; p < s->P; p++)
                                for (int q = 0; q < s->Q; q++) {
                                    int ih = p * s->sh - s->ph + r, iw = q * s->sw - s->pw + sx;
                                    if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                    acc += (double)dy[(((size_t)n * s->K + k) * s->P + p) * s->Q + q] *
                                           x[(((size_t)n * s->C + c) * s->H + ih) * s->W + iw];
                                }
                        dw[(((size_t)k * s->C + c) * s->R + r) * s->S + sx] += (float)acc;
                    }
    if (dx)             /* gather: input cell (h, v) meets output (p, q) through tap (r, sx) */
        for (int n = 0; n < s->N; n++)
            for (int c = 0; c < s->C; c++)
                for (int h = 0; h < s->H; h++)
                    for (int v = 0; v < s->W; v++) {
                        double acc = 0.0;
                        for (int k = 0; k < s->K; k++)
                            for (int r = 0; r < s->R; r++)
                                for (int sx = 0; sx < s->S; sx++) {
                                    int ph = h + s->ph - r, pq = v + s->pw - sx;
                                    if (ph < 0 || pq < 0 || ph % s->sh || pq % s->sw) continue;
                                    int p = ph / s->sh, q = pq / s->sw;
                                    if (p >= s->P || q >= s->Q) continue;
                                    acc += (double)dy[(((size_t)n * s->K + k) * s->P + p) * s->Q + q] *
                                           w[(((size_t)k * s->C + c) * s->R + r) * s->S + sx];
                                }
                        dx[(((size_t)n * s->C + c) * s->H + h) * s->W + v] += (float)acc;
                    }
}

/* ====================================================================== pooling */

void alig_nk_maxpool_forward(const alig_nk_pool *s, const float *x, float *y, int32_t *arg)
{
    const int H = s->H, W = s->W, P = s->P, Q = s->Q;
    const long planes = (long)s->N * s->C;
    const int fast = s->kh == 2 && s->kw == 2 && s->sh == 2 && s->sw == 2 && s->ph == 0 && s->pw == 0;
    ALIG_NK_OMP(omp parallel for schedule(static))
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * H * W;
        float *yp = y + (size_t)pl * P * Q;
        int32_t *ap = arg + (size_t)pl * P * Q;
        if (fast) {     /* 2×2, stride 2: the CNN's pooling; same first-maximum rule */
            for (int p = 0; p < P; p++) {
                const float *r0 = xp + (size_t)2 * p * W, *r1 = r0 + W;
                for (int q = 0; q < Q; q++) {
                    int i0 = 2 * p * W + 2 * q;
                    float best = r0[2 * q];
                    int bi = i0;
                    if (r0[2 * q + 1] > best) { best = r0[2 * q + 1]; bi = i0 + 1; }
                    if (r1[2 * q] > best) { best = r1[2 * q]; bi = i0 + W; }
                    if (r1[2 * q + 1] > best) { best = r1[2 * q + 1]; bi = i0 + W + 1; }
                    yp[p * Q + q] = best;
                    ap[p * Q + q] = bi;
                }
            }
            continue;
        }
        for (int p = 0; p < P; p++) {
            const int h0 = imax(p * s->sh - s->ph, 0), h1 = imin(p * s->sh - s->ph + s->kh, H);
            for (int q = 0; q < Q; q++) {
                const int w0 = imax(q * s->sw - s->pw, 0), w1 = imin(q * s->sw - s->pw + s->kw, W);
                int bi = h0 * W + w0;
                float best = xp[bi];
                for (int h = h0; h < h1; h++)
                    for (int v = w0; v < w1; v++)
                        if (xp[h * W + v] > best) { best = xp[h * W + v]; bi = h * W + v; }
                yp[p * Q + q] = best;
                ap[p * Q + q] = bi;
            }
        }
    }
}

/* Winner of window (p, q) of plane xp by plain scanning with explicit bounds checks. */
static size_t maxpool_winner_naive(const alig_nk_pool *s, const float *xp, int p, int q)
{
    int found = 0;
    size_t best_i = 0;
    for (int i = 0; i < s->kh; i++)
        for (int j = 0; j < s->kw; j++) {
            int h = p * s->sh - s->ph + i, v = q * s->sw - s->pw + j;
            if (h < 0 || h >= s->H || v < 0 || v >= s->W) continue;
            size_t idx = (size_t)h * s->W + v;
            if (!found || xp[idx] > xp[best_i]) { best_i = idx; found = 1; }
        }
    return best_i;
}

void alig_nk_maxpool_forward_naive(const alig_nk_pool *s, const float *x, float *y)
{
    for (size_t pl = 0; pl < (size_t)s->N * s->C; pl++)
        for (int p = 0; p < s->P; p++)
            for (int q = 0; q < s->Q; q++) {
                const float *xp = x + pl * s->H * s->W;
                y[(pl * s->P + p) * s->Q + q] = xp[maxpool_winner_naive(s, xp, p, q)];
            }
}

void alig_nk_maxpool_backward_set(const alig_nk_pool *s, const float *dy, const int32_t *arg, float *dx, int set)
{
    const size_t HW = (size_t)s->H * s->W, PQ = (size_t)s->P * s->Q;
    const long planes = (long)s->N * s->C;
    ALIG_NK_OMP(omp parallel for schedule(static))
    for (long pl = 0; pl < planes; pl++) {
        float *xp = dx + (size_t)pl * HW;
        const float *dp = dy + (size_t)pl * PQ;
        const int32_t *ap = arg + (size_t)pl * PQ;
        if (set) memset(xp, 0, HW * sizeof *xp);
        for (size_t j = 0; j < PQ; j++) xp[ap[j]] += dp[j];
    }
}

void alig_nk_maxpool_backward(const alig_nk_pool *s, const float *dy, const int32_t *arg, float *dx)
{
    alig_nk_maxpool_backward_set(s, dy, arg, dx, 0);
}

void alig_nk_maxpool_backward_naive(const alig_nk_pool *s, const float *x, const float *dy, float *dx)
{
    for (size_t pl = 0; pl < (size_t)s->N * s->C; pl++)
        for (int p = 0; p < s->P; p++)
            for (int q = 0; q < s->Q; q++) {
                const float *xp = x + pl * s->H * s->W;
                dx[pl * s->H * s->W + maxpool_winner_naive(s, xp, p, q)] += dy[(pl * s->P + p) * s->Q + q];
            }
}

void alig_nk_avgpool_forward(const alig_nk_pool *s, const float *x, float *y)
{
    const int H = s->H, W = s->W, P = s->P, Q = s->Q;
    const long planes = (long)s->N * s->C;
    const double inv = 1.0 / ((double)s->kh * s->kw);
    ALIG_NK_OMP(omp parallel for schedule(static))
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * H * W;
        float *yp = y + (size_t)pl * P * Q;
        for (int p = 0; p < P; p++) {
            const int h0 = imax(p * s->sh - s->ph, 0), h1 = imin(p * s->sh - s->ph + s->kh, H);
            for (int q = 0; q < Q; q++) {
                const int w0 = imax(q * s->sw - s->pw, 0), w1 = imin(q * s->sw - s->pw + s->kw, W);
                double acc = 0.0;
                for (int h = h0; h < h1; h++)
                    for (int v = w0; v < w1; v++) acc += xp[h * W + v];
                yp[p * Q + q] = (float)(acc * inv);
            }
        }
    }
}

void alig_nk_avgpool_forward_naive(const alig_nk_pool *s, const float *x, float *y)
{
    for (size_t pl = 0; pl < (size_t)s->N * s->C; pl++)
        for (int p = 0; p < s->P; p++)
            for (int q = 0; q < s->Q; q++) {
                double acc = 0.0;
                for (int i = 0; i < s->kh; i++)
                    for (int j = 0; j < s->kw; j++) {
                        int h = p * s->sh - s->ph + i, v = q * s->sw - s->pw + j;
                        if (h >= 0 && h < s->H && v >= 0 && v < s->W) acc += x[(pl * s->H + h) * s->W + v];
                    }
                y[(pl * s->P + p) * s->Q + q] = (float)(acc / (s->kh * s->kw));
            }
}

void alig_nk_avgpool_backward(const alig_nk_pool *s, const float *dy, float *dx)
{
    const int H = s->H, W = s->W, P = s->P, Q = s->Q;
    const long planes = (long)s->N * s->C;
    const float inv = (float)(1.0 / ((double)s->kh * s->kw));
    ALIG_NK_OMP(omp parallel for schedule(static))
    for (long pl = 0; pl < planes; pl++) {
        float *xp = dx + (size_t)pl * H * W;
        const float *dp = dy + (size_t)pl * P * Q;
        for (int p = 0; p < P; p++) {
            const int h0 = imax(p * s->sh - s->ph, 0), h1 = imin(p * s->sh - s->ph + s->kh, H);
            for (int q = 0; q < Q; q++) {
                const int w0 = imax(q * s->sw - s->pw, 0), w1 = imin(q * s->sw - s->pw + s->kw, W);
                const float g = dp[p * Q + q] * inv;
                for (int h = h0; h < h1; h++)
                    for (int v = w0; v < w1; v++) xp[h * W + v] += g;
            }
        }
    }
}

void alig_nk_avgpool_backward_naive(const alig_nk_pool *s, const float *dy, float *dx)
{
    /* gather: each input cell sums dy over the windows that contain it */
    for (size_t pl = 0; pl < (size_t)s->N * s->C; pl++)
        for (int h = 0; h < s->H; h++)
            for (int v = 0; v < s->W; v++) {
                double acc = 0.0;
                for (int p = 0; p < s->P; p++)
                    for (int q = 0; q < s->Q; q++) {
                        int i = h - (p * s->sh - s->ph), j = v - (q * s->sw - s->pw);
                        if (i >= 0 && i < s->kh && j >= 0 && j < s->kw) acc += dy[(pl * s->P + p) * s->Q + q];
                    }
                dx[(pl * s->H + h) * s->W + v] += (float)(acc / (s->kh * s->kw));
            }
}

void alig_nk_plane_mean_forward(size_t NC, size_t L, const float *x, float *y)
{
    ALIG_NK_OMP(omp parallel for schedule(static) if (NC * L >= ALIG_NK_PAR_MIN))
    for (size_t i = 0; i < NC; i++) {
        double acc = 0.0;
        for (size_t l = 0; l < L; l++) acc += x[i * L + l];
        y[i] = (float)(acc / (double)L);
    }
}

void alig_nk_plane_mean_backward(size_t NC, size_t L, const float *dy, float *dx)
{
    ALIG_NK_OMP(omp parallel for schedule(static) if (NC * L >= ALIG_NK_PAR_MIN))
    for (size_t i = 0; i < NC; i++) {
        const float g = (float)((double)dy[i] / (double)L);
        for (size_t l = 0; l < L; l++) dx[i * L + l] += g;
    }
}

/* ====================================================================== bias, elementwise */

/* L = 1 (a bias on the columns of an (N, C) matrix: the linear layers of the DNC and the MLPs):
 * rows of C contiguous sums, so the inner loop runs over the channels and vectorises; the
 * general loop below would run a length-1 loop per element. */
NK_HOT static void bias_rows_forward(int n0, int n1, int C, const float *x, const float *b, float *y)
{
    for (int n = n0; n < n1; n++) {
        const float *xr = x + (size_t)n * C;
        float *yr = y + (size_t)n * C;
        for (int c = 0; c < C; c++) yr[c] = xr[c] + b[c];
    }
}

void alig_nk_bias_forward(int N, int C, size_t L, const float *x, const float *b, float *y)
{
    if (L == 1) {
        if ((size_t)N * C < ALIG_NK_PAR_MIN) {
            bias_rows_forward(0, N, C, x, b, y);
            return;
        }
        ALIG_NK_OMP(omp parallel for schedule(static))
        for (int n = 0; n < N; n++) bias_rows_forward(n, n + 1, C, x, b, y);
        return;
    }
    ALIG_NK_OMP(omp parallel for collapse(2) schedule(static) if ((size_t)N * C * L >= ALIG_NK_PAR_MIN))
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const size_t o = ((size_t)n * C + c) * L;
            const float bc = b[c];
            for (size_t l = 0; l < L; l++) y[o + l] = x[o + l] + bc;
        }
}

/* Per-channel sums (bias gradient, batch norm) run in BN_LANES independent double accumulators (element l goes to lane
 * l mod BN_LANES, lanes added in a fixed order at the end): the same result for any thread
 * count, and no loop-carried dependency on a single double add, so the loop vectorises and
 * is no longer bound by the add latency (without fast-math reassociation the compiler may not reorder). */
#define BN_LANES 8

static inline double lanes_total(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* a[j] += Σ d over the elements of lane j of row d (L). */
NK_HOT static void lane_sums(const float *d, size_t L, double *a)
{
    size_t l = 0;
    for (; l + BN_LANES <= L; l += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) a[j] += d[l + (size_t)j];
    for (int j = 0; l < L; l++, j++) a[j] += d[l];
}

/* L = 1: the column sums of dy (N, C) for channels [c0, c1), c1 − c0 <= BIAS_COLS, each in one double
 * accumulator summed over n in order, exactly what the lane path gives when L = 1 (every element
 * falls in lane 0 and the other lanes add zeros), but with the channels in the inner loop. */
#define BIAS_COLS 256
NK_HOT static void bias_cols_backward(int N, int C, int c0, int c1, const float *dy, float *db)
{
    double a[BIAS_COLS];
    const int w = c1 - c0;
    for (int c = 0; c < w; c++) a[c] = 0.0;
    for (int n = 0; n < N; n++) {
        const float *d = dy + (size_t)n * C + c0;
        for (int c = 0; c < w; c++) a[c] += d[c];
    }
    for (int c = 0; c < w; c++) db[c0 + c] += (float)a[c];
}

void alig_nk_bias_backward(int N, int C, size_t L, const float *dy, float *db)
{
    if (L == 1) {
        const int chunks = (C + BIAS_COLS - 1) / BIAS_COLS;
        NK_FOR((size_t)N * C >= ALIG_NK_PAR_MIN && chunks > 1, int, k, chunks, {
            bias_cols_backward(N, C, k * BIAS_COLS, k + 1 < chunks ? (k + 1) * BIAS_COLS : C, dy, db);
        });
        return;
    }
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)N * C * L >= ALIG_NK_PAR_MIN))
    for (int c = 0; c < C; c++) {
        double a[BN_LANES] = { 0 };
        for (int n = 0; n < N; n++) lane_sums(dy + ((size_t)n * C + c) * L, L, a);
        db[c] += (float)lanes_total(a);
    }
}

void alig_nk_bias_backward_naive(int N, int C, size_t L, const float *dy, float *db)
{
    for (int c = 0; c < C; c++) {
        double acc = 0.0;
        for (int n = 0; n < N; n++)
            for (size_t l = 0; l < L; l++) acc += dy[((size_t)n * C + c) * L + l];
        db[c] += (float)acc;
    }
}

#define NK_ZCHUNK ((size_t)4096)
/* Below ALIG_NK_PAR_MIN the loop runs without entering an OpenMP construct at all: an `if` clause
 * that comes out false still calls into the runtime (a team of one), which costs more than the
 * loop itself on the DNC's (16, 64)-sized tensors. */
#define ELEMENTWISE(n, body)                                                                  \
    do {                                                                                      \
        if ((n) < ALIG_NK_PAR_MIN) {                                                          \
            ALIG_NK_OMP(omp simd)                                                             \
            for (size_t i = 0; i < (n); i++) { body; }                                        \
        } else {                                                                              \
            ALIG_NK_OMP(omp parallel for simd schedule(static))                               \
            for (size_t i = 0; i < (n); i++) { body; }                                        \
        }                                                                                     \
    } while (0)

void alig_nk_relu_forward(size_t n, const float *x, float *y) { ELEMENTWISE(n, y[i] = x[i] > 0.0f ? x[i] : 0.0f); }
void alig_nk_relu_backward(size_t n, const float *x, const float *dy, float *dx)
{
    /* dy is loaded unconditionally: a select, not a branch, so the loop vectorises (a
     * conditional load kept it scalar, with a mispredicted branch per element) */
    ELEMENTWISE(n, const float d = dy[i]; dx[i] += x[i] > 0.0f ? d : 0.0f);
}
void alig_nk_relu_backward_set(size_t n, const float *x, const float *dy, float *dx, int set)
{
    if (set)
        ELEMENTWISE(n, const float d = dy[i]; dx[i] = x[i] > 0.0f ? d : 0.0f);
    else
        alig_nk_relu_backward(n, x, dy, dx);
}
void alig_nk_sigmoid_forward(size_t n, const float *x, float *y) { ELEMENTWISE(n, y[i] = 1.0f / (1.0f + expf(-x[i]))); }
void alig_nk_sigmoid_backward(size_t n, const float *y, const float *dy, float *dx)
{
    ELEMENTWISE(n, dx[i] += dy[i] * y[i] * (1.0f - y[i]));
}
void alig_nk_tanh_forward(size_t n, const float *x, float *y) { ELEMENTWISE(n, y[i] = tanhf(x[i])); }
void alig_nk_tanh_backward(size_t n, const float *y, const float *dy, float *dx)
{
    ELEMENTWISE(n, dx[i] += dy[i] * (1.0f - y[i] * y[i]));
}
void alig_nk_add_forward(size_t n, const float *a, const float *b, float *y) { ELEMENTWISE(n, y[i] = a[i] + b[i]); }
void alig_nk_mul_forward(size_t n, const float *a, const float *b, float *y) { ELEMENTWISE(n, y[i] = a[i] * b[i]); }
void alig_nk_mul_backward(size_t n, const float *other, const float *dy, float *dx)
{
    ELEMENTWISE(n, dx[i] += dy[i] * other[i]);
}
void alig_nk_affine_forward(size_t n, float a, float c, const float *x, float *y) { ELEMENTWISE(n, y[i] = a * x[i] + c); }
void alig_nk_axpy(size_t n, float a, const float *x, float *y) { ELEMENTWISE(n, y[i] += a * x[i]); }
void alig_nk_copy(size_t n, const float *x, float *y) { ELEMENTWISE(n, y[i] = x[i]); }
void alig_nk_add_const(size_t n, float c, float *y) { ELEMENTWISE(n, y[i] += c); }

void alig_nk_zero(size_t n, float *y)
{
    /* fixed 4096-float chunks, one memset each: threads split the pages of large buffers; small
     * ones are one memset, outside any OpenMP construct */
    if (n < 4 * ALIG_NK_PAR_MIN) {
        memset(y, 0, n * sizeof *y);
        return;
    }
    const size_t nc = (n + NK_ZCHUNK - 1) / NK_ZCHUNK;
    ALIG_NK_OMP(omp parallel for schedule(static))
    for (size_t c = 0; c < nc; c++) {
        const size_t i0 = c * NK_ZCHUNK;
        memset(y + i0, 0, zmin(NK_ZCHUNK, n - i0) * sizeof *y);
    }
}

void alig_nk_copy_rows(size_t rows, size_t len, const float *src, size_t src_ld, float *dst, size_t dst_ld)
{
    NK_FOR(rows * len >= ALIG_NK_PAR_MIN, size_t, r, rows, { memcpy(dst + r * dst_ld, src + r * src_ld, len * sizeof *dst); });
}

void alig_nk_acc_rows(size_t rows, size_t len, const float *src, size_t src_ld, float *dst, size_t dst_ld)
{
    NK_FOR(rows * len >= ALIG_NK_PAR_MIN, size_t, r, rows, {
        for (size_t j = 0; j < len; j++) dst[r * dst_ld + j] += src[r * src_ld + j];
    });
}

void alig_nk_acc_rows_set(size_t rows, size_t len, const float *src, size_t src_ld, float *dst, size_t dst_ld,
                          int set)
{
    if (!set) {
        alig_nk_acc_rows(rows, len, src, src_ld, dst, dst_ld);
        return;
    }
    NK_FOR(rows * len >= ALIG_NK_PAR_MIN, size_t, r, rows, {
        for (size_t j = 0; j < len; j++) dst[r * dst_ld + j] = 0.0f + src[r * src_ld + j];
    });
}

/* Deterministic sum: fixed 4096-element chunks, partials added serially in chunk order. */
#define NK_CHUNK ((size_t)4096)
#define NK_SUPER 256
typedef double (*chunk_fn)(const void *ctx, size_t i0, size_t i1);

static double det_sum(size_t n, chunk_fn fn, const void *ctx)
{
    double total = 0.0;
    for (size_t s0 = 0; s0 < n; s0 += NK_CHUNK * NK_SUPER) {
        double part[NK_SUPER];
        const size_t s1 = zmin(n, s0 + NK_CHUNK * NK_SUPER);
        const long nc = (long)((s1 - s0 + NK_CHUNK - 1) / NK_CHUNK);
        ALIG_NK_OMP(omp parallel for schedule(static) if (s1 - s0 >= ALIG_NK_PAR_MIN))
        for (long c = 0; c < nc; c++) {
            const size_t i0 = s0 + (size_t)c * NK_CHUNK;
            part[c] = fn(ctx, i0, zmin(s1, i0 + NK_CHUNK));
        }
        for (long c = 0; c < nc; c++) total += part[c];
    }
    return total;
}

static double sum_chunk(const void *ctx, size_t i0, size_t i1)
{
    const float *x = ctx;
    double s = 0.0;
    for (size_t i = i0; i < i1; i++) s += x[i];
    return s;
}

double alig_nk_sum(size_t n, const float *x) { return det_sum(n, sum_chunk, x); }

void alig_nk_softmax_forward(int N, int C, const float *x, float *y)
{
    /* rows of up to SM_KEEP entries keep their exponentials (the same values, one exp each) */
    enum { SM_KEEP = 64 };
    NK_FOR((size_t)N * C >= ALIG_NK_PAR_MIN, int, i, N, {
        const float *xr = x + (size_t)i * C;
        float *yr = y + (size_t)i * C;
        float mx = xr[0];
        for (int j = 1; j < C; j++) mx = xr[j] > mx ? xr[j] : mx;
        double z = 0.0;
        if (C <= SM_KEEP) {
            double e[SM_KEEP];
            for (int j = 0; j < C; j++) z += (e[j] = exp((double)xr[j] - mx));
            for (int j = 0; j < C; j++) yr[j] = (float)(e[j] / z);
        } else {
            for (int j = 0; j < C; j++) z += exp((double)xr[j] - mx);
            for (int j = 0; j < C; j++) yr[j] = (float)(exp((double)xr[j] - mx) / z);
        }
    });
}

void alig_nk_softmax_backward(int N, int C, const float *y, const float *dy, float *dx)
{
    NK_FOR((size_t)N * C >= ALIG_NK_PAR_MIN, int, i, N, {
        const float *yr = y + (size_t)i * C, *dr = dy + (size_t)i * C;
        double dot = 0.0;
        for (int j = 0; j < C; j++) dot += (double)dr[j] * yr[j];
        for (int j = 0; j < C; j++) dx[(size_t)i * C + j] += (float)(yr[j] * ((double)dr[j] - dot));
    });
}

/* ====================================================================== dropout */

size_t alig_nk_dropout_mask(size_t n, float p, uint64_t key, float *mask)
{
    const uint64_t phi = ALIG_SPLITMIX_GAMMA;
    const uint64_t thr = (uint64_t)ceil((double)p * 16777216.0);    /* keep iff u·2^24 >= p·2^24 */
    const float keep = (float)(1.0 / (1.0 - (double)p));
    size_t kept = 0;
    ALIG_NK_OMP(omp parallel for schedule(static) reduction(+:kept) if (n >= ALIG_NK_PAR_MIN))
    for (size_t i = 0; i < n; i++) {
        const uint64_t u = alig_splitmix_mix(key + (uint64_t)(i + 1) * phi) >> 40;
        const int k = u >= thr;
        mask[i] = k ? keep : 0.0f;
        kept += (size_t)k;
    }
    return kept;
}

/* Is element i of the dropout stream `key` kept (its 24-bit uniform at or above thr = ⌈p·2^24⌉)?
 * The mix is alig_splitmix_mix's, written out here, where the callers' AVX2 clones inline it and
 * vectorise the 64-bit products. The one definition of the mask: the dropout op and the batch
 * norm with fused dropout both draw through it. */
static inline int dropout_kept(uint64_t key, size_t i, uint64_t thr)
{
    uint64_t z = key + (uint64_t)(i + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return (z >> 40) >= thr;
}

/* Elements [i0, i1) of the dropout forward. */
NK_HOT static size_t dropout_span(size_t i0, size_t i1, uint64_t key, uint64_t thr, float scale, const float *x,
                                  uint8_t *keep, float *y)
{
    size_t kept = 0;
    for (size_t i = i0; i < i1; i++) {
        const int k = dropout_kept(key, i, thr);
        keep[i] = (uint8_t)k;
        y[i] = x[i] * (k ? scale : 0.0f);
        kept += (size_t)k;
    }
    return kept;
}

size_t alig_nk_dropout_forward(size_t n, float p, uint64_t key, const float *x, uint8_t *keep, float *y)
{
    const uint64_t thr = (uint64_t)ceil((double)p * 16777216.0);    /* as alig_nk_dropout_mask */
    const float scale = (float)(1.0 / (1.0 - (double)p));
    const size_t chunk = 16384;
    const size_t nchunks = (n + chunk - 1) / chunk;
    size_t kept = 0;
    ALIG_NK_OMP(omp parallel for schedule(static) reduction(+:kept) if (n >= ALIG_NK_PAR_MIN))
    for (size_t c = 0; c < nchunks; c++)
        kept += dropout_span(c * chunk, zmin(n, (c + 1) * chunk), key, thr, scale, x, keep, y);
    return kept;
}

void alig_nk_dropout_backward(size_t n, float p, const uint8_t *keep, const float *dy, float *dx, int set)
{
    const float scale = (float)(1.0 / (1.0 - (double)p));
    /* set: 0 + v, not v, so that a signed zero comes out as it would from a zeroed dx */
    if (set) ELEMENTWISE(n, dx[i] = 0.0f + dy[i] * (keep[i] ? scale : 0.0f));
    else ELEMENTWISE(n, dx[i] += dy[i] * (keep[i] ? scale : 0.0f));
}

/* ====================================================================== batch normalisation */

/* s[j] += Σ (x − k0), ss[j] += Σ (x − k0)² over the elements of lane j of row xr (L). */
NK_HOT static void bn_stat_sums(const float *xr, size_t L, double k0, double *s, double *ss)
{
    /* lanes in locals: s and ss may alias as far as the compiler knows, which kept every lane
     * update a load and a store and the loop scalar */
    double ls[BN_LANES], lss[BN_LANES];
    for (int j = 0; j < BN_LANES; j++) { ls[j] = s[j]; lss[j] = ss[j]; }
    size_t l = 0;
    for (; l + BN_LANES <= L; l += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            const double d = (double)xr[l + (size_t)j] - k0;
            ls[j] += d;
            lss[j] += d * d;
        }
    for (int j = 0; l < L; l++, j++) {
        const double d = (double)xr[l] - k0;
        ls[j] += d;
        lss[j] += d * d;
    }
    for (int j = 0; j < BN_LANES; j++) { s[j] = ls[j]; ss[j] = lss[j]; }
}

/* a[j] += Σ dy, b[j] += Σ dy·(x − mu)·is over lane j of one row. */
NK_HOT static void bn_grad_sums(const float *dy, const float *x, size_t L, double mu, double is, double *a,
                                double *b);

/* bn_grad_sums of dy·[y > 0]: the masked dy is formed in blocks on the stack (a select the loop
 * vectorises), then summed by bn_grad_sums in the same lanes and order as an unmasked row
 * (a select inside the lane loop compiled to a mispredicted branch per element). Blocks are a
 * multiple of BN_LANES, so element l still goes to lane l mod BN_LANES. */
#define BN_MASK_BLOCK 512
NK_HOT static void bn_grad_sums_masked(const float *dy, const float *y, const float *x, size_t L, double mu,
                                       double is, float ds, double *a, double *b)
{
    float t[BN_MASK_BLOCK];
    for (size_t l0 = 0; l0 < L; l0 += BN_MASK_BLOCK) {
        const size_t m = L - l0 < BN_MASK_BLOCK ? L - l0 : BN_MASK_BLOCK;
        /* select, then scale: a multiply inside the select is sunk into a branch (it may trap) */
        for (size_t l = 0; l < m; l++) {
            const float dv = dy[l0 + l];
            t[l] = (y[l0 + l] > 0.0f ? dv : 0.0f) * ds;
        }
        bn_grad_sums(t, x + l0, m, mu, is, a, b);
    }
}

NK_HOT static void bn_grad_sums(const float *dy, const float *x, size_t L, double mu, double is, double *a,
                                double *b)
{
    /* lane j of this call is element l0 + j of the row, l0 a multiple of BN_LANES (see the masked
     * caller); lanes in locals, as in bn_stat_sums */
    double la[BN_LANES], lb[BN_LANES];
    for (int j = 0; j < BN_LANES; j++) { la[j] = a[j]; lb[j] = b[j]; }
    size_t l = 0;
    for (; l + BN_LANES <= L; l += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            const double d = dy[l + (size_t)j];
            la[j] += d;
            lb[j] += d * (((double)x[l + (size_t)j] - mu) * is);
        }
    for (int j = 0; l < L; l++, j++) {
        const double d = dy[l];
        la[j] += d;
        lb[j] += d * (((double)x[l] - mu) * is);
    }
    for (int j = 0; j < BN_LANES; j++) { a[j] = la[j]; b[j] = lb[j]; }
}

/* y = a·x + sh, rectified when relu */
NK_HOT static void bn_apply(const float *x, size_t L, float a, float sh, int relu, float *y)
{
    if (relu)
        for (size_t l = 0; l < L; l++) {
            const float v = a * x[l] + sh;
            y[l] = v > 0.0f ? v : 0.0f;
        }
    else
        for (size_t l = 0; l < L; l++) y[l] = a * x[l] + sh;
}

void alig_nk_bn_forward(int train, int N, int C, size_t L, const float *x, const float *gamma, const float *beta,
                        float eps, float momentum, float *run_mean, float *run_var, float *mean, float *invstd,
                        float *y, int relu)
{
    alig_nk_bn_forward_stats(train, N, C, L, x, gamma, beta, eps, momentum, run_mean, run_var, mean, invstd, y,
                             relu, NULL, 0, NULL);
}

/* Channel blocks. A channel's rows are L floats, one per image, C·L floats apart: with small L
 * (WRN's 8×8 maps, L = 64, rows 256 bytes a page apart at C = 256) walking one channel at a time
 * touches a new page per row and defeats the prefetcher, and batch norm ran at half the speed
 * it reaches on 32×32 maps. The kernels therefore walk a block of channels together, image by
 * image, over one contiguous run of cb·L floats; each channel keeps its own accumulators and
 * sees its rows in the same order (n ascending), so the results are those of one channel at a
 * time, bit for bit, whatever the block. */
#define BN_RUN 2048             /* floats: aim for runs of at least 8 KiB */
#define BN_MAX_CB 64            /* channels per block at most (the accumulators live on the stack) */

static int bn_block(int C, size_t L)
{
    size_t cb = L >= BN_RUN ? 1 : (BN_RUN + L - 1) / L;
    if (cb > BN_MAX_CB) cb = BN_MAX_CB;
#ifdef _OPENMP
    /* at least four blocks per thread where C allows, for the dynamic schedule to balance */
    const size_t spread = (size_t)C / (4 * (size_t)omp_get_max_threads());
    if (cb > spread) cb = spread;
#endif
    if (cb < 1) cb = 1;
    if (cb > (size_t)C) cb = (size_t)C;
    return (int)cb;
}

/* y = max(a·x + sh, 0)·m for elements [i0, i0 + L) of a dropout stream: bn_apply's rectified
 * values, then dropout_span's mask and product */
NK_HOT static void bn_apply_dropout(const float *x, size_t L, float a, float sh, size_t i0, uint64_t key,
                                   uint64_t thr, float scale, float *y)
{
    for (size_t l = 0; l < L; l++) {
        const float v = a * x[l] + sh, r = v > 0.0f ? v : 0.0f;
        y[l] = r * (dropout_kept(key, i0 + l, thr) ? scale : 0.0f);
    }
}

static void bn_forward_impl(int train, int N, int C, size_t L, const float *x, const float *gamma,
                            const float *beta, float eps, float momentum, float *run_mean, float *run_var,
                            float *mean, float *invstd, float *y, int relu, const double *known, int c_known,
                            double *stats, float p, uint64_t key)
{
    const uint64_t thr = (uint64_t)ceil((double)p * 16777216.0);    /* as alig_nk_dropout_forward */
    const float scale = (float)(1.0 / (1.0 - (double)p));
    const double M = (double)N * (double)L;
    if (!known) c_known = 0;
    const int cb = bn_block(C, L), nblk = (C + cb - 1) / cb;
    ALIG_NK_OMP(omp parallel for schedule(dynamic, 1) if ((size_t)N * C * L >= ALIG_NK_PAR_MIN))
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * cb, c1 = imin(C, c0 + cb);
        double sa[BN_MAX_CB][BN_LANES], ssa[BN_MAX_CB][BN_LANES], k0[BN_MAX_CB];
        float av[BN_MAX_CB], shv[BN_MAX_CB];
        /* the channels to sum: [cs, c1), those before c_known were summed by an earlier call */
        const int cs = train ? imax(c0, imin(c_known, c1)) : c1;
        for (int c = cs; c < c1; c++) {
            k0[c - c0] = x[(size_t)c * L];      /* one pass, shifted by the channel's first value */
            for (int j = 0; j < BN_LANES; j++) sa[c - c0][j] = ssa[c - c0][j] = 0.0;
        }
        if (cs < c1)
            for (int n = 0; n < N; n++)
                for (int c = cs; c < c1; c++)
                    bn_stat_sums(x + ((size_t)n * C + c) * L, L, k0[c - c0], sa[c - c0], ssa[c - c0]);
        for (int c = c0; c < c1; c++) {
            double mu, is;
            if (train) {
                double var;
                if (c < c_known) {      /* computed before on the same values */
                    mu = known[2 * c];
                    var = known[2 * c + 1];
                } else {
                    const double s = lanes_total(sa[c - c0]), ss = lanes_total(ssa[c - c0]);
                    mu = k0[c - c0] + s / M;
                    var = (ss - s * s / M) / M;
                    if (var < 0.0) var = 0.0;
                }
                if (stats) {
                    stats[2 * c] = mu;
                    stats[2 * c + 1] = var;
                }
                is = 1.0 / sqrt(var + eps);
                const double unbiased = M > 1.0 ? var * M / (M - 1.0) : var;
                run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + (double)momentum * mu);
                run_var[c] = (float)((1.0 - momentum) * run_var[c] + (double)momentum * unbiased);
            } else {
                mu = run_mean[c];
                is = 1.0 / sqrt((double)run_var[c] + eps);
            }
            mean[c] = (float)mu;
            invstd[c] = (float)is;
            const double g = gamma ? gamma[c] : 1.0, b = beta ? beta[c] : 0.0;
            av[c - c0] = (float)(g * is);                       /* y = a·x + sh */
            shv[c - c0] = (float)(b - mu * g * is);
        }
        for (int n = 0; n < N; n++)
            for (int c = c0; c < c1; c++) {
                const size_t o = ((size_t)n * C + c) * L;
                if (p > 0.0f)
                    bn_apply_dropout(x + o, L, av[c - c0], shv[c - c0], o, key, thr, scale, y + o);
                else
                    bn_apply(x + o, L, av[c - c0], shv[c - c0], relu, y + o);
            }
    }
}

void alig_nk_bn_forward_stats(int train, int N, int C, size_t L, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *run_mean, float *run_var,
                              float *mean, float *invstd, float *y, int relu, const double *known, int c_known,
                              double *stats)
{
    bn_forward_impl(train, N, C, L, x, gamma, beta, eps, momentum, run_mean, run_var, mean, invstd, y, relu, known,
                    c_known, stats, 0.0f, 0);
}

void alig_nk_bn_forward_dropout(int N, int C, size_t L, const float *x, const float *gamma, const float *beta,
                                float eps, float momentum, float *run_mean, float *run_var, float *mean,
                                float *invstd, float *y, const double *known, int c_known, double *stats, float p,
                                uint64_t key)
{
    bn_forward_impl(1, N, C, L, x, gamma, beta, eps, momentum, run_mean, run_var, mean, invstd, y, 1, known, c_known,
                    stats, p, key);
}

void alig_nk_bn_forward_naive(int train, int N, int C, size_t L, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *run_mean, float *run_var,
                              float *mean, float *invstd, float *y, int relu)
{
    const double M = (double)N * (double)L;
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (train) {                    /* two passes */
            mu = 0.0;
            for (int n = 0; n < N; n++)
                for (size_t l = 0; l < L; l++) mu += x[((size_t)n * C + c) * L + l];
            mu /= M;
            var = 0.0;
            for (int n = 0; n < N; n++)
                for (size_t l = 0; l < L; l++) {
                    double d = x[((size_t)n * C + c) * L + l] - mu;
                    var += d * d;
                }
            run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mu);
            run_var[c] = (float)((1.0 - momentum) * run_var[c] + momentum * (var / (M - 1.0)));
            var /= M;
        } else {
            mu = run_mean[c];
            var = run_var[c];
        }
        mean[c] = (float)mu;
        invstd[c] = (float)(1.0 / sqrt(var + eps));
        for (int n = 0; n < N; n++)
            for (size_t l = 0; l < L; l++) {
                size_t i = ((size_t)n * C + c) * L + l;
                double xh = (x[i] - mu) / sqrt(var + eps);
                const double v = (gamma ? gamma[c] : 1.0) * xh + (beta ? beta[c] : 0.0);
                y[i] = (float)(relu && !(v > 0.0) ? 0.0 : v);
            }
    }
}

/* dx[l] (= or +=) a·dŷ[l] − b − e·(x[l] − f), dŷ = dy masked by y > 0 when y is given */
NK_HOT static void bn_dx(const float *dy, const float *y, float ds, const float *x, size_t L, float a, float b,
                         float e, float f, int set, float *dx)
{
    /* the select first, as in bn_grad_sums_masked */
    if (y && set)
        for (size_t l = 0; l < L; l++) {
            const float dv = dy[l], yv = y[l];
            dx[l] = a * ((yv > 0.0f ? dv : 0.0f) * ds) - b - e * (x[l] - f);
        }
    else if (y)
        for (size_t l = 0; l < L; l++) {
            const float dv = dy[l], yv = y[l];
            dx[l] += a * ((yv > 0.0f ? dv : 0.0f) * ds) - b - e * (x[l] - f);
        }
    else if (set)
        for (size_t l = 0; l < L; l++) dx[l] = a * dy[l] - b - e * (x[l] - f);
    else
        for (size_t l = 0; l < L; l++) dx[l] += a * dy[l] - b - e * (x[l] - f);
}

void alig_nk_bn_backward(int train, int N, int C, size_t L, const float *x, const float *gamma,
                         const float *mean, const float *invstd, const float *dy, const float *y,
                         float *dx, int set, float *dgamma, float *dbeta)
{
    alig_nk_bn_backward_scaled(train, N, C, L, x, gamma, mean, invstd, dy, y, 1.0f, dx, set, dgamma, dbeta);
}

void alig_nk_bn_backward_scaled(int train, int N, int C, size_t L, const float *x, const float *gamma,
                                const float *mean, const float *invstd, const float *dy, const float *y, float ds,
                                float *dx, int set, float *dgamma, float *dbeta)
{
    const double M = (double)N * (double)L;
    const int cb = bn_block(C, L), nblk = (C + cb - 1) / cb;
    ALIG_NK_OMP(omp parallel for schedule(dynamic, 1) if ((size_t)N * C * L >= ALIG_NK_PAR_MIN))
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * cb, c1 = imin(C, c0 + cb);
        double da[BN_MAX_CB][BN_LANES], dxa[BN_MAX_CB][BN_LANES];
        float av[BN_MAX_CB], bv[BN_MAX_CB], ev[BN_MAX_CB];
        for (int c = c0; c < c1; c++)
            for (int j = 0; j < BN_LANES; j++) da[c - c0][j] = dxa[c - c0][j] = 0.0;
        for (int n = 0; n < N; n++)
            for (int c = c0; c < c1; c++) {
                const size_t o = ((size_t)n * C + c) * L;
                const double mu = mean[c], is = invstd[c];
                if (y)
                    bn_grad_sums_masked(dy + o, y + o, x + o, L, mu, is, ds, da[c - c0], dxa[c - c0]);
                else
                    bn_grad_sums(dy + o, x + o, L, mu, is, da[c - c0], dxa[c - c0]);
            }
        for (int c = c0; c < c1; c++) {
            const double is = invstd[c];
            const double sdy = lanes_total(da[c - c0]), sdyx = lanes_total(dxa[c - c0]);
            if (dgamma) dgamma[c] += (float)sdyx;
            if (dbeta) dbeta[c] += (float)sdy;
            const double k = (gamma ? gamma[c] : 1.0) * is;
            /* train: dx = k·(dŷ − Σdŷ/M − x̂·Σ(dŷ·x̂)/M); eval: the same with b = e = 0 */
            av[c - c0] = (float)k;
            bv[c - c0] = train ? (float)(k * sdy / M) : 0.0f;
            ev[c - c0] = train ? (float)(k * sdyx / M * is) : 0.0f;
        }
        if (!dx) continue;
        for (int n = 0; n < N; n++)
            for (int c = c0; c < c1; c++) {
                const size_t o = ((size_t)n * C + c) * L;
                bn_dx(dy + o, y ? y + o : NULL, ds, x + o, L, av[c - c0], bv[c - c0], ev[c - c0], mean[c], set, dx + o);
            }
    }
}

void alig_nk_bn_backward_naive(int train, int N, int C, size_t L, const float *x, const float *gamma,
                               const float *mean, const float *invstd, const float *dy, const float *y,
                               float *dx, int set, float *dgamma, float *dbeta)
{
    /* staged chain rule through x̂ = (x − μ)·s, s = (σ² + ε)^(−1/2), with σ² and μ functions of x
     * in training mode and constants in evaluation mode */
    const double M = (double)N * (double)L;
    for (int c = 0; c < C; c++) {
        const double mu = mean[c], s = invstd[c], g = gamma ? gamma[c] : 1.0;
        double dg = 0.0, db = 0.0, dvar = 0.0, dmu = 0.0, sum_xm = 0.0;
        for (int n = 0; n < N; n++)
            for (size_t l = 0; l < L; l++) {
                size_t i = ((size_t)n * C + c) * L + l;
                const double dyi = y && !(y[i] > 0.0f) ? 0.0 : dy[i];  /* through the fused ReLU */
                double xm = x[i] - mu, dxh = dyi * g;
                dg += dyi * xm * s;
                db += dyi;
                dvar += dxh * xm * -0.5 * s * s * s;
                dmu += -dxh * s;
                sum_xm += xm;
            }
        dmu += dvar * -2.0 * sum_xm / M;
        if (dgamma) dgamma[c] += (float)dg;
        if (dbeta) dbeta[c] += (float)db;
        if (!dx) continue;
        for (int n = 0; n < N; n++)
            for (size_t l = 0; l < L; l++) {
                size_t i = ((size_t)n * C + c) * L + l;
                const double dyi = y && !(y[i] > 0.0f) ? 0.0 : dy[i];
                double v = dyi * g * s;
                if (train) v += dvar * 2.0 * (x[i] - mu) / M + dmu / M;
                dx[i] = set ? (float)v : dx[i] + (float)v;
            }
    }
}

/* ====================================================================== losses */

double alig_nk_softmax_ce_forward(int N, int C, const float *s, const int32_t *y, float *prob, double *rowloss)
{
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)N * C >= ALIG_NK_PAR_MIN))
    for (int i = 0; i < N; i++) {
        const float *sr = s + (size_t)i * C;
        float mx = sr[0];
        for (int j = 1; j < C; j++) mx = sr[j] > mx ? sr[j] : mx;
        double z = 0.0;
        for (int j = 0; j < C; j++) z += exp((double)sr[j] - mx);
        const double logz = mx + log(z);
        for (int j = 0; j < C; j++) prob[(size_t)i * C + j] = (float)exp((double)sr[j] - logz);
        rowloss[i] = logz - sr[y[i]];
    }
    double tot = 0.0;
    for (int i = 0; i < N; i++) tot += rowloss[i];
    return tot / N;
}

double alig_nk_softmax_ce_forward_naive(int N, int C, const float *s, const int32_t *y, float *prob,
                                       double *rowloss)
{
    /* −log p_y with p = softmax(s), the exponentials shifted by the row's score of y */
    double tot = 0.0;
    for (int i = 0; i < N; i++) {
        const float *sr = s + (size_t)i * C;
        double z = 0.0;
        for (int j = 0; j < C; j++) z += exp((double)sr[j] - sr[y[i]]);
        for (int j = 0; j < C; j++) prob[(size_t)i * C + j] = (float)(exp((double)sr[j] - sr[y[i]]) / z);
        rowloss[i] = log(z);
        tot += rowloss[i];
    }
    return tot / N;
}

void alig_nk_softmax_ce_backward(int N, int C, const float *prob, const int32_t *y, float dl, float *ds)
{
    const float k = (float)((double)dl / N);
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)N * C >= ALIG_NK_PAR_MIN))
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < C; j++) ds[(size_t)i * C + j] += k * prob[(size_t)i * C + j];
        ds[(size_t)i * C + y[i]] -= k;
    }
}

double alig_nk_hinge_forward(int N, int C, const float *s, const int32_t *y, int smooth, float *xi, double *rowloss)
{
    ALIG_NK_OMP(omp parallel for schedule(static) if ((size_t)N * C >= ALIG_NK_PAR_MIN))
    for (int i = 0; i < N; i++) {
        const float *sr = s + (size_t)i * C;
        float *xr = xi + (size_t)i * C;
        const double sy = sr[y[i]];
        /* hard: the first maximiser of aug_j = s_j + [j ≠ y] − s_y (aug_y = 0, so the max is >= 0) */
        int jstar = 0;
        double amax = -INFINITY;
        for (int j = 0; j < C; j++) {
            const double a = (double)sr[j] + (j != y[i]) - sy;
            if (a > amax) { amax = a; jstar = j; }
        }
        double loss = amax;
        int hard = 1;
        if (smooth) {   /* ξ = softmax(s); keep it where Σ ξ·aug >= 0 */
            float mx = sr[0];
            for (int j = 1; j < C; j++) mx = sr[j] > mx ? sr[j] : mx;
            double z = 0.0, l = 0.0;
            for (int j = 0; j < C; j++) z += exp((double)sr[j] - mx);
            for (int j = 0; j < C; j++) {
                const double e = exp((double)sr[j] - mx) / z;
                xr[j] = (float)e;
                l += e * ((double)sr[j] + (j != y[i]) - sy);
            }
            if (l >= 0.0) { loss = l; hard = 0; }
        }
        if (hard) {
            for (int j = 0; j < C; j++) xr[j] = 0.0f;
            xr[jstar] = 1.0f;
        }
        rowloss[i] = loss;
    }
    double tot = 0.0;
    for (int i = 0; i < N; i++) tot += rowloss[i];
    return tot / N;
}

double alig_nk_hinge_forward_naive(int N, int C, const float *s, const int32_t *y, int smooth, float *xi,
                                   double *rowloss)
{
    /* hard: max_j (s_j + [j ≠ y]) − s_y, ξ = e of its first maximiser; smooth: ξ = softmax(s)
     * unless Σ ξ_j (s_j + [j ≠ y] − s_y) < 0 */
    double tot = 0.0;
    for (int i = 0; i < N; i++) {
        const float *sr = s + (size_t)i * C;
        float *xr = xi + (size_t)i * C;
        int arg = 0;
        for (int j = 1; j < C; j++)
            if ((double)sr[j] + (j != y[i]) > (double)sr[arg] + (arg != y[i])) arg = j;
        double loss = (double)sr[arg] + (arg != y[i]) - sr[y[i]];
        int hard = 1;
        if (smooth) {
            double z = 0.0, l = 0.0;
            for (int j = 0; j < C; j++) z += exp((double)sr[j]);
            for (int j = 0; j < C; j++) l += exp((double)sr[j]) / z * ((double)sr[j] + (j != y[i]) - sr[y[i]]);
            if (l >= 0.0) {
                for (int j = 0; j < C; j++) xr[j] = (float)(exp((double)sr[j]) / z);
                loss = l;
                hard = 0;
            }
        }
        if (hard)
            for (int j = 0; j < C; j++) xr[j] = j == arg ? 1.0f : 0.0f;
        rowloss[i] = loss;
        tot += loss;
    }
    return tot / N;
}

void alig_nk_hinge_backward(int N, int C, const float *xi, const int32_t *y, float dl, float *ds)
{
    alig_nk_softmax_ce_backward(N, C, xi, y, dl, ds);   /* the same (weights − e_y)/N shape */
}

typedef struct { const float *z, *t; } bce_ctx;

static double bce_chunk(const void *ctx, size_t i0, size_t i1)
{
    const bce_ctx *b = ctx;
    double s = 0.0;
    for (size_t i = i0; i < i1; i++) {
        const double z = b->z[i];
        s += (z > 0.0 ? z : 0.0) - z * b->t[i] + log1p(exp(-fabs(z)));
    }
    return s;
}

double alig_nk_bce_logits_forward(size_t n, const float *z, const float *t)
{
    bce_ctx c = { z, t };
    return det_sum(n, bce_chunk, &c) / (double)n;
}

void alig_nk_bce_logits_backward(size_t n, const float *z, const float *t, float dl, float *dz)
{
    const double k = (double)dl / (double)n;
    ELEMENTWISE(n, dz[i] += (float)(k * (1.0 / (1.0 + exp(-(double)z[i])) - t[i])));
}
