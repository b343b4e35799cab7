/* kernels_tmpl.h - element kernels written once, included by kernels.c once per
 * element type with REAL (float | double), KN(name) (name suffixed by type) and
 * KSQRT (sqrt | sqrtf). See kernels.h for the contract of each kernel.
 *
 * Every loop goes through KLOOP / KLOOP_SUM, so each loop body is written once. From
 * ALIG_KERNEL_PAR_MIN elements on the body runs in `omp parallel for simd` with a static
 * schedule. Below, it runs in the calling thread without entering an OpenMP region (an
 * `omp parallel ... if (false)` region, as these loops used before, still costs a fork/join
 * call, about 1 us, which dominated 1-D and small convex problems): KLOOP as an `omp simd` loop;
 * KLOOP_SUM, which reduces into the caller's `double s`, as a plain loop, so the sum runs in
 * index order exactly as before (the `if` clause of the old combined construct also turned SIMD
 * off), which keeps ‖g‖², and with it ALI-G's step, bit-identical. Without OpenMP both are
 * `omp simd` loops for every n, as before. Options fixed for a call (first step, Nesterov,
 * AMSGrad, centered, momentum) select one of several loops whose bodies are one macro with
 * constant 0/1 arguments, folded by the compiler: no per-element branch. The loop macros and
 * bodies are defined once (guard below); the kernels after them are instantiated per type. */

#ifndef ALIG_KERNELS_TMPL_LOOPS
#define ALIG_KERNELS_TMPL_LOOPS
#ifdef _OPENMP
#define KLOOP_SUM(n, ...)                                                                   \
    do {                                                                                    \
        if ((n) < ALIG_KERNEL_PAR_MIN) {                                                    \
            for (size_t i = 0; i < (n); i++) { __VA_ARGS__ }                                \
        } else {                                                                            \
            _Pragma("omp parallel for simd schedule(static) reduction(+:s)")                \
            for (size_t i = 0; i < (n); i++) { __VA_ARGS__ }                                \
        }                                                                                   \
    } while (0)
#define KLOOP(n, ...)                                                                       \
    do {                                                                                    \
        if ((n) < ALIG_KERNEL_PAR_MIN) {                                                    \
            _Pragma("omp simd")                                                             \
            for (size_t i = 0; i < (n); i++) { __VA_ARGS__ }                                \
        } else {                                                                            \
            _Pragma("omp parallel for simd schedule(static)")                               \
            for (size_t i = 0; i < (n); i++) { __VA_ARGS__ }                                \
        }                                                                                   \
    } while (0)
#else
#define KLOOP_SUM(n, ...)                                                                   \
    do {                                                                                    \
        _Pragma("omp simd reduction(+:s)")                                                  \
        for (size_t i = 0; i < (n); i++) { __VA_ARGS__ }                                    \
    } while (0)
#define KLOOP(n, ...)                                                                       \
    do {                                                                                    \
        _Pragma("omp simd")                                                                 \
        for (size_t i = 0; i < (n); i++) { __VA_ARGS__ }                                    \
    } while (0)
#endif

/* SGD with momentum (PyTorch): FIRST: b = d, else b = μb + (1 − τ)d; NEST: step d + μb, else b. */
#define SGD_MOMENTUM_BODY(FIRST, NEST)                                                      \
    REAL d = g[i] + l2 * w[i];                                                              \
    REAL bi = (FIRST) ? d : m * b[i] + omd * d;                                             \
    b[i] = bi;                                                                              \
    REAL step = (NEST) ? d + m * bi : bi;                                                   \
    REAL wi = w[i] - a * step;                                                              \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;

/* Adam family; AMS: AMSGrad's running max of the raw second moment. */
#define ADAM_BODY(AMS)                                                                      \
    REAL w0 = w[i];                                                                         \
    REAL d = g[i] + l2 * w0;                                                                \
    REAL mi = b1 * m[i] + omb1 * d;                                                         \
    REAL vi = b2 * v[i] + omb2 * (d * d);                                                   \
    m[i] = mi;                                                                              \
    v[i] = vi;                                                                              \
    REAL u = vi;                                                                            \
    if (AMS) {                                                                              \
        u = vmax[i] > vi ? vmax[i] : vi;                                                    \
        vmax[i] = u;                                                                        \
    }                                                                                       \
    REAL den = KSQRT(u) / sbc2 + eps;                                                       \
    REAL wi = keep * w0 - step * (mi / den);                                                \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;

/* RMSProp; CENTERED: subtract the squared running mean of d; MOM: momentum buffer b. */
#define RMSPROP_BODY(CENTERED, MOM)                                                         \
    REAL w0 = w[i];                                                                         \
    REAL d = g[i] + l2 * w0;                                                                \
    REAL vi = al * v[i] + oma * (d * d);                                                    \
    v[i] = vi;                                                                              \
    REAL u = vi;                                                                            \
    if (CENTERED) {                                                                         \
        REAL gb = al * gbar[i] + oma * d;                                                   \
        gbar[i] = gb;                                                                       \
        u = vi - gb * gb;                                                                   \
        u = u < 0 ? 0 : u;   /* ≥ 0 exactly; rounding may cross 0 (NaN is kept) */          \
    }                                                                                       \
    REAL q = d / (KSQRT(u) + eps);                                                          \
    REAL wi;                                                                                \
    if (MOM) {                                                                              \
        REAL bi = mu * b[i] + q;                                                            \
        b[i] = bi;                                                                          \
        wi = w0 - a * bi;                                                                   \
    } else {                                                                                \
        wi = w0 - a * q;                                                                    \
    }                                                                                       \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;

/* RMSProp in TensorFlow's form: ε inside the square root, lr inside the momentum buffer, the moving
 * averages written x + (y − x)·k as ApplyRMSProp and ApplyCenteredRMSProp write them. */
#define RMSPROP_TF_BODY(CENTERED, MOM)                                                      \
    REAL w0 = w[i];                                                                         \
    REAL d = g[i] + l2 * w0;                                                                \
    REAL vi = v[i] + (d * d - v[i]) * oma;                                                  \
    v[i] = vi;                                                                              \
    REAL u = vi;                                                                            \
    if (CENTERED) {                                                                         \
        REAL gb = gbar[i] + (d - gbar[i]) * oma;                                            \
        gbar[i] = gb;                                                                       \
        u = vi - gb * gb;                                                                   \
        u = u < 0 ? 0 : u;                                                                  \
    }                                                                                       \
    REAL q = (d * a) / KSQRT(u + eps);                                                      \
    REAL wi;                                                                                \
    if (MOM) {                                                                              \
        REAL bi = mu * b[i] + q;                                                            \
        b[i] = bi;                                                                          \
        wi = w0 - bi;                                                                       \
    } else {                                                                                \
        wi = w0 - q;                                                                        \
    }                                                                                       \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;

/* L4's direction for element i from the new moving averages; ADAM: divide by √(q̃/c_v) + ε_a.
 * The averages follow TensorFlow's ExponentialMovingAverage: x ← x − (x − y)·(1 − β). */
#define L4_DIR(ADAM)                                                                        \
    const REAL gi = g[i];                                                                   \
    const REAL mi = m[i] - (m[i] - gi) * kg;                                                \
    const REAL gh = mi / cg;                                                                \
    REAL qi = 0, vi = gh;                                                                   \
    if (ADAM) {                                                                             \
        qi = q[i] - (q[i] - gi * gi) * kv;                                                  \
        vi = gh / (KSQRT(qi / cv) + ae);                                                    \
    }
#define L4_DOT_BODY(ADAM)                                                                   \
    L4_DIR(ADAM)                                                                            \
    (void)qi;                                                                               \
    s += (double)vi * (double)gh;
#define L4_STEP_BODY(ADAM)                                                                  \
    L4_DIR(ADAM)                                                                            \
    m[i] = mi;                                                                              \
    if (ADAM) q[i] = qi;                                                                    \
    REAL wi = w[i] - vi * et;                                                               \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;
#endif /* ALIG_KERNELS_TMPL_LOOPS */

KHOT static double KN(sumsq)(size_t n, const void *xv)
{
    const REAL *restrict x = xv;
    double s = 0.0;
    KLOOP_SUM(n, s += (double)x[i] * (double)x[i];);
    return s;
}

KHOT static double KN(dot)(size_t n, const void *xv, const void *yv)
{
    const REAL *restrict x = xv;
    const REAL *restrict y = yv;
    double s = 0.0;
    KLOOP_SUM(n, s += (double)x[i] * (double)y[i];);
    return s;
}

KHOT static int KN(all_finite)(size_t n, const void *xv)
{
    const REAL *restrict x = xv;
    /* x - x is 0 for finite x and NaN for ±inf and NaN; summing keeps it one pass. */
    double s = 0.0;
    KLOOP_SUM(n, s += (double)(x[i] - x[i]););
    return s == 0.0;
}

KHOT static void KN(scale)(size_t n, double a, void *xv)
{
    REAL *restrict x = xv;
    const REAL ar = (REAL)a;
    KLOOP(n, x[i] *= ar;);
}

KHOT static void KN(fill)(size_t n, double a, void *xv)
{
    REAL *restrict x = xv;
    const REAL ar = (REAL)a;
    KLOOP(n, x[i] = ar;);
}

KHOT static double KN(axpy)(size_t n, double a, const void *xv, void *yv)
{
    const REAL *restrict x = xv;
    REAL *restrict y = yv;
    const REAL ar = (REAL)a;
    double s = 0.0;
    KLOOP_SUM(n,
        REAL yi = y[i] + ar * x[i];
        y[i] = yi;
        s += (double)yi * (double)yi;
    );
    return s;
}

KHOT static double KN(alig_momentum)(size_t n, void *wv, const void *gv, void *vv, double gamma, double mu)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict v = vv;
    const REAL gm = (REAL)gamma, m = (REAL)mu;
    double s = 0.0;
    KLOOP_SUM(n,
        /* same operation order as the official PyTorch code: w -= γg; v = μv - γg; w += μv */
        REAL gi = gm * g[i];
        REAL wi = w[i] - gi;
        REAL vi = m * v[i] - gi;
        wi = wi + m * vi;
        v[i] = vi;
        w[i] = wi;
        s += (double)wi * (double)wi;
    );
    return s;
}

KHOT static double KN(alig_momentum_adj)(size_t n, void *wv, const void *gv, void *bv, double gamma, double mu)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict b = bv;
    const REAL gm = (REAL)gamma, m = (REAL)mu, gmm = (REAL)(gamma * mu);
    double s = 0.0;
    KLOOP_SUM(n,
        REAL wi = w[i] - gm * g[i];
        REAL bi = m * b[i] - g[i];
        wi = wi + gmm * bi;
        b[i] = bi;
        w[i] = wi;
        s += (double)wi * (double)wi;
    );
    return s;
}

KHOT static double KN(sgd)(size_t n, void *wv, const void *gv, void *bv, double lr, double mu, double damp,
                      double wd, int nesterov, int first)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict b = bv;
    const REAL a = (REAL)lr, m = (REAL)mu, omd = (REAL)(1.0 - damp), l2 = (REAL)wd;
    double s = 0.0;
    if (mu == 0.0 || b == NULL) {
        KLOOP_SUM(n,
            REAL d = g[i] + l2 * w[i];
            REAL wi = w[i] - a * d;
            w[i] = wi;
            s += (double)wi * (double)wi;
        );
    } else if (first) {
        if (nesterov) KLOOP_SUM(n, SGD_MOMENTUM_BODY(1, 1));
        else KLOOP_SUM(n, SGD_MOMENTUM_BODY(1, 0));
    } else {
        if (nesterov) KLOOP_SUM(n, SGD_MOMENTUM_BODY(0, 1));
        else KLOOP_SUM(n, SGD_MOMENTUM_BODY(0, 0));
    }
    return s;
}

KHOT static double KN(adam)(size_t n, void *wv, const void *gv, void *mv, void *vv, void *vmaxv, const alig_adam_coef *c)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict m = mv;
    REAL *restrict v = vv;
    REAL *restrict vmax = vmaxv;
    const REAL b1 = (REAL)c->beta1, omb1 = (REAL)(1.0 - c->beta1), b2 = (REAL)c->beta2,
               omb2 = (REAL)(1.0 - c->beta2), l2 = (REAL)c->l2, keep = (REAL)c->keep, step = (REAL)c->step,
               sbc2 = (REAL)c->sbc2, eps = (REAL)c->eps;
    double s = 0.0;
    if (vmax) KLOOP_SUM(n, ADAM_BODY(1));
    else KLOOP_SUM(n, ADAM_BODY(0));
    return s;
}

KHOT static double KN(yogi)(size_t n, void *wv, const void *gv, void *mv, void *vv, const alig_adam_coef *c)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict m = mv;
    REAL *restrict v = vv;
    const REAL b1 = (REAL)c->beta1, omb1 = (REAL)(1.0 - c->beta1), omb2 = (REAL)(1.0 - c->beta2),
               l2 = (REAL)c->l2, step = (REAL)c->step, sbc2 = (REAL)c->sbc2, eps = (REAL)c->eps;
    double s = 0.0;
    KLOOP_SUM(n,
        REAL w0 = w[i];
        REAL d = g[i] + l2 * w0;
        REAL d2 = d * d;
        REAL mi = b1 * m[i] + omb1 * d;
        REAL vo = v[i];
        /* additive update: v moves towards d² by (1 − β2)d², sign(v − d²) ∈ {−1, 0, 1} */
        REAL sg = vo > d2 ? (REAL)1 : vo < d2 ? (REAL)-1 : (REAL)0;
        REAL vi = vo - omb2 * (sg * d2);
        m[i] = mi;
        v[i] = vi;
        REAL den = KSQRT(vi) / sbc2 + eps;
        REAL wi = w0 - step * (mi / den);
        w[i] = wi;
        s += (double)wi * (double)wi;
    );
    return s;
}

KHOT static double KN(adagrad)(size_t n, void *wv, const void *gv, void *Sv, double lr, double wd, double epsd)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict S = Sv;
    const REAL a = (REAL)lr, l2 = (REAL)wd, eps = (REAL)epsd;
    double s = 0.0;
    KLOOP_SUM(n,
        REAL w0 = w[i];
        REAL d = g[i] + l2 * w0;
        REAL Si = S[i] + d * d;
        S[i] = Si;
        REAL wi = w0 - a * (d / (KSQRT(Si) + eps));
        w[i] = wi;
        s += (double)wi * (double)wi;
    );
    return s;
}

KHOT static double KN(rmsprop)(size_t n, void *wv, const void *gv, void *vv, void *gbarv, void *bv, double lr,
                          double alpha, double wd, double mud, double epsd, int eps_inside)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict v = vv;
    REAL *restrict gbar = gbarv;
    REAL *restrict b = bv;
    const REAL a = (REAL)lr, al = (REAL)alpha, l2 = (REAL)wd, mu = (REAL)mud, eps = (REAL)epsd;
    double s = 0.0;
    if (eps_inside) {
        const REAL oma = (REAL)1 - al;      /* TensorFlow: static_cast<T>(1) - rho */
        if (gbar && b) KLOOP_SUM(n, RMSPROP_TF_BODY(1, 1));
        else if (gbar) KLOOP_SUM(n, RMSPROP_TF_BODY(1, 0));
        else if (b) KLOOP_SUM(n, RMSPROP_TF_BODY(0, 1));
        else KLOOP_SUM(n, RMSPROP_TF_BODY(0, 0));
        return s;
    }
    const REAL oma = (REAL)(1.0 - alpha);
    if (gbar && b) KLOOP_SUM(n, RMSPROP_BODY(1, 1));
    else if (gbar) KLOOP_SUM(n, RMSPROP_BODY(1, 0));
    else if (b) KLOOP_SUM(n, RMSPROP_BODY(0, 1));
    else KLOOP_SUM(n, RMSPROP_BODY(0, 0));
    return s;
}

KHOT static double KN(l4_dot)(size_t n, const void *gv, const void *mv, const void *qv, const alig_l4_coef *c)
{
    const REAL *restrict g = gv;
    const REAL *restrict m = mv;
    const REAL *restrict q = qv;
    const REAL kg = (REAL)1 - (REAL)c->decay_g, kv = (REAL)1 - (REAL)c->decay_v, cg = (REAL)c->cg,
               cv = (REAL)c->cv, ae = (REAL)c->aeps;
    double s = 0.0;
    if (q) KLOOP_SUM(n, L4_DOT_BODY(1));
    else KLOOP_SUM(n, L4_DOT_BODY(0));
    return s;
}

KHOT static double KN(l4_step)(size_t n, void *wv, const void *gv, void *mv, void *qv, const alig_l4_coef *c,
                          double eta)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict m = mv;
    REAL *restrict q = qv;
    const REAL kg = (REAL)1 - (REAL)c->decay_g, kv = (REAL)1 - (REAL)c->decay_v, cg = (REAL)c->cg,
               cv = (REAL)c->cv, ae = (REAL)c->aeps, et = (REAL)eta;
    double s = 0.0;
    if (q) KLOOP_SUM(n, L4_STEP_BODY(1));
    else KLOOP_SUM(n, L4_STEP_BODY(0));
    return s;
}

/* DFW with weight decay: MOM selects the momentum loop (z != NULL). */
#ifndef ALIG_KERNELS_TMPL_DFW
#define ALIG_KERNELS_TMPL_DFW
#define DFW_BODY(MOM)                                                                       \
    const REAL w0 = w[i], gi = g[i];                                                        \
    REAL wi = w0 - (A * gi + B * w0);                                                       \
    if (MOM) {                                                                              \
        const REAL zi = mu * z[i] - (A * gi + C * w0);                                      \
        z[i] = zi;                                                                          \
        wi = wi + mu * zi;                                                                  \
    }                                                                                       \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;
#define BPGRAD_BODY(MOM)                                                                    \
    const REAL d = g[i] + l2 * w[i];                                                        \
    REAL wi;                                                                                \
    if (MOM) {                                                                              \
        const REAL vi = mu * v[i] - A * d;                                                  \
        v[i] = vi;                                                                          \
        wi = w[i] + vi;                                                                     \
    } else {                                                                                \
        wi = w[i] - A * d;                                                                  \
    }                                                                                       \
    w[i] = wi;                                                                              \
    s += (double)wi * (double)wi;
#endif

KHOT static double KN(dfw)(size_t n, void *wv, const void *gv, void *zv, double a, double b, double c, double mud)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict z = zv;
    const REAL A = (REAL)a, B = (REAL)b, C = (REAL)c, mu = (REAL)mud;
    double s = 0.0;
    if (z) KLOOP_SUM(n, DFW_BODY(1));
    else KLOOP_SUM(n, DFW_BODY(0));
    return s;
}

KHOT static double KN(decayed_sumsq)(size_t n, const void *gv, const void *wv, double wd)
{
    const REAL *restrict g = gv;
    const REAL *restrict w = wv;
    const REAL l2 = (REAL)wd;
    double s = 0.0;
    KLOOP_SUM(n,
        const REAL d = g[i] + l2 * w[i];
        s += (double)d * (double)d;
    );
    return s;
}

KHOT static double KN(bpgrad)(size_t n, void *wv, const void *gv, void *vv, double a, double wd, double mud)
{
    REAL *restrict w = wv;
    const REAL *restrict g = gv;
    REAL *restrict v = vv;
    const REAL A = (REAL)a, l2 = (REAL)wd, mu = (REAL)mud;
    double s = 0.0;
    if (v) KLOOP_SUM(n, BPGRAD_BODY(1));
    else KLOOP_SUM(n, BPGRAD_BODY(0));
    return s;
}
