/* kernels.c - instantiate kernels_tmpl.h for double and float. */
#include <math.h>
#include "kernels.h"

/* With -fmath-errno (the default), sqrt may set errno, so the loops of the adaptive kernels
 * (adam, yogi, adagrad, rmsprop) cannot be vectorised and run as scalar loops despite their
 * `omp simd`. Clang reports the unhonoured request as a warning; it is expected here. Building
 * with -fno-math-errno (no effect on any value: sqrt stays correctly rounded) vectorises them. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* Each kernel is compiled twice, for AVX2 and for the x86-64 baseline, and the loader picks the
 * right one once (GCC/Clang target_clones, an ifunc). "avx2" does not include FMA, so no
 * contraction is introduced: element-wise results are identical on both paths, and so is the
 * serial (n < ALIG_KERNEL_PAR_MIN) in-order ‖·‖². Only the grouping of the parallel SIMD
 * reductions (large n) follows the vector width. -DALIG_NO_CLONES turns this off. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(ALIG_NO_CLONES)
#if __has_attribute(target_clones)
#define KHOT __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef KHOT
#define KHOT
#endif

#define REAL double
#define KN(name) name##_f64
#define KSQRT sqrt
#include "kernels_tmpl.h"
#undef REAL
#undef KN
#undef KSQRT

#define REAL float
#define KN(name) name##_f32
#define KSQRT sqrtf
#include "kernels_tmpl.h"
#undef REAL
#undef KN
#undef KSQRT

#define ALIG_KERNEL_TABLE(T, SUF) { T, sizeof(REAL_##SUF), sumsq_##SUF, dot_##SUF, all_finite_##SUF, \
    scale_##SUF, axpy_##SUF, alig_momentum_##SUF, alig_momentum_adj_##SUF, sgd_##SUF, fill_##SUF, \
    adam_##SUF, yogi_##SUF, adagrad_##SUF, rmsprop_##SUF, l4_dot_##SUF, l4_step_##SUF, \
    dfw_##SUF, decayed_sumsq_##SUF, bpgrad_##SUF }
typedef double REAL_f64;
typedef float REAL_f32;

static const alig_kernels kernels_f64 = ALIG_KERNEL_TABLE(ALIG_F64, f64);
static const alig_kernels kernels_f32 = ALIG_KERNEL_TABLE(ALIG_F32, f32);

const alig_kernels *alig_kernels_get(alig_dtype dtype)
{
    switch (dtype) {
    case ALIG_F64: return &kernels_f64;
    case ALIG_F32: return &kernels_f32;
    }
    return NULL;
}
