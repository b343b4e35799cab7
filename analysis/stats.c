/* stats.c - confidence intervals and weighted line fits over GSL (gsl_stats, gsl_cdf, gsl_fit). */
#include <math.h>
#include <stddef.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_statistics_double.h>

#include "alig/analysis.h"

alig_status alig_stats_ci(const double *x, size_t n, double level, alig_ci *out)
{
    if (!x || !out || !(level > 0.0 && level < 1.0)) return ALIG_EINVAL;
    if (n < 2) return ALIG_EBADLEN;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return ALIG_ENONFINITE;
    const double mean = gsl_stats_mean(x, 1, n);
    const double sd = gsl_stats_sd_m(x, 1, n, mean);          /* divisor n − 1 */
    const double se = sd / sqrt((double)n);
    const double t = gsl_cdf_tdist_Pinv(0.5 + level / 2.0, (double)(n - 1));
    *out = (alig_ci){ .n = n, .mean = mean, .sd = sd, .se = se, .lo = mean - t * se, .hi = mean + t * se };
    return ALIG_SUCCESS;
}

alig_status alig_fit_wline(const double *x, const double *y, const double *w, size_t n, alig_fit *out)
{
    if (!x || !y || !out) return ALIG_EINVAL;
    if (n < 3) return ALIG_EBADLEN;
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || (w && !isfinite(w[i]))) return ALIG_ENONFINITE;
        if (w && !(w[i] > 0.0)) return ALIG_EINVAL;
        if (x[i] != x[0]) distinct = 1;
    }
    if (!distinct) return ALIG_EINVAL;
    double c0, c1, cov00, cov01, cov11, chisq;
    if (w)
        gsl_fit_wlinear(x, 1, w, 1, y, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &chisq);
    else {
        /* Unit weights: gsl_fit_linear scales its covariance by the residual variance, which
         * is the same inflation as below, so compute the unscaled form for consistency. */
        double sw = (double)n, sx = 0, sy = 0;
        for (size_t i = 0; i < n; i++) { sx += x[i]; sy += y[i]; }
        const double mx = sx / sw, my = sy / sw;
        double sxx = 0, sxy = 0;
        for (size_t i = 0; i < n; i++) { sxx += (x[i] - mx) * (x[i] - mx); sxy += (x[i] - mx) * (y[i] - my); }
        c1 = sxy / sxx;
        c0 = my - c1 * mx;
        cov11 = 1.0 / sxx;
        cov00 = 1.0 / sw + mx * mx / sxx;
        cov01 = -mx / sxx;
        chisq = 0;
        for (size_t i = 0; i < n; i++) { double r = y[i] - c0 - c1 * x[i]; chisq += r * r; }
    }
    (void)cov01;
    const double infl = fmax(1.0, chisq / (double)(n - 2));
    *out = (alig_fit){ .n = n, .intercept = c0, .slope = c1, .intercept_se = sqrt(cov00 * infl),
                       .slope_se = sqrt(cov11 * infl), .chisq = chisq };
    return ALIG_SUCCESS;
}
