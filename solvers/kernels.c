/* kernels.c - instantiate kernels_tmpl.h for double and float. */
#include "kernels.h"

#define REAL double
#define KN(name) name##_f64
#include "kernels_tmpl.h"
#undef REAL
#undef KN

#define REAL float
#define KN(name) name##_f32
#include "kernels_tmpl.h"
#undef REAL
#undef KN

#define ALIG_KERNEL_TABLE(T, SUF) { T, sizeof(REAL_##SUF), sumsq_##SUF, dot_##SUF, all_finite_##SUF, \
    scale_##SUF, axpy_##SUF, alig_momentum_##SUF, alig_momentum_adj_##SUF, sgd_##SUF }
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
