/* kernels_tmpl.h - element kernels written once, included by kernels.c once per
 * element type with REAL (float | double) and KN(name) (name suffixed by type).
 * No include guard on purpose. See kernels.h for the contract of each kernel. */

static double KN(sumsq)(size_t n, const void *xv)
{
    const REAL *restrict x = xv;
    double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

static double KN(dot)(size_t n, const void *xv, const void *yv)
{
    const REAL *restrict x = xv;
    const REAL *restrict y = yv;
    double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}

static int KN(all_finite)(size_t n, const void *xv)
{
    const REAL *restrict x = xv;
    /* x - x is 0 for finite x and NaN for ±inf and NaN; summing keeps it one pass. */
    double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) s += (double)(x[i] - x[i]);
    return s == 0.0;
}

static void KN(scale)(size_t n, double a, void *xv)
{
    REAL *restrict x = xv;
    const REAL ar = (REAL)a;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd
#endif
    for (size_t i = 0; i < n; i++) x[i] *= ar;
}

static double KN(axpy)(size_t n, double a, const void *xv, void *yv)
{
    const REAL *restrict x = xv;
    REAL *restrict y = yv;
    const REAL ar = (REAL)a;
    double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) {
        REAL yi = y[i] + ar * x[i];
        y[i] = yi;
        s += (double)yi * (double)yi;
    }
    return s;
}

static double KN(alig_momentum)(size_t n, void *wv, const void *gv, void *vv, double gamma, double mu)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict v = vv;
    const REAL gm = (REAL)gamma, m = (REAL)mu;
    double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) {
        /* same operation order as the official PyTorch code: w -= γg; v = μv - γg; w += μv */
        REAL gi = gm * g[i];
        REAL wi = w[i] - gi;
        REAL vi = m * v[i] - gi;
        wi = wi + m * vi;
        v[i] = vi;
        w[i] = wi;
        s += (double)wi * (double)wi;
    }
    return s;
}

static double KN(alig_momentum_adj)(size_t n, void *wv, const void *gv, void *bv, double gamma, double mu)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict b = bv;
    const REAL gm = (REAL)gamma, m = (REAL)mu, gmm = (REAL)(gamma * mu);
    double s = 0.0;
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) {
        REAL wi = w[i] - gm * g[i];
        REAL bi = m * b[i] - g[i];
        wi = wi + gmm * bi;
        b[i] = bi;
        w[i] = wi;
        s += (double)wi * (double)wi;
    }
    return s;
}

static double KN(sgd)(size_t n, void *wv, const void *gv, void *bv, double lr, double mu, double damp,
                      double wd, int nesterov, int first)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict b = bv;
    const REAL a = (REAL)lr, m = (REAL)mu, omd = (REAL)(1.0 - damp), l2 = (REAL)wd;
    double s = 0.0;
    if (mu == 0.0 || b == NULL) {
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
        for (size_t i = 0; i < n; i++) {
            REAL d = g[i] + l2 * w[i];
            REAL wi = w[i] - a * d;
            w[i] = wi;
            s += (double)wi * (double)wi;
        }
        return s;
    }
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) reduction(+:s) if (n >= ALIG_KERNEL_PAR_MIN)
#else
#pragma omp simd reduction(+:s)
#endif
    for (size_t i = 0; i < n; i++) {
        REAL d = g[i] + l2 * w[i];
        REAL bi = first ? d : m * b[i] + omd * d;
        b[i] = bi;
        REAL step = nesterov ? d + m * bi : bi;
        REAL wi = w[i] - a * step;
        w[i] = wi;
        s += (double)wi * (double)wi;
    }
    return s;
}

