/* eps.c - the ε report's arithmetic (include/alig/train.h): exact nearest-rank quantiles of
 * per-sample losses. The ranks are formed in integers (⌈k·n / 10000⌉) so that 99.9 % of 1000
 * samples is rank 999 exactly, with no floating-point product to round the wrong way. */
#include <math.h>
#include <stdlib.h>

#include "alig/train.h"

/* Ascending, NaNs after every number (and equal to each other). */
static int cmp_nan_last(const void *pa, const void *pb)
{
    const double a = *(const double *)pa, b = *(const double *)pb;
    const int na = isnan(a) != 0, nb = isnan(b) != 0;
    if (na || nb) return na - nb;
    return (a > b) - (a < b);
}

double alig_train_quantile(const double *sorted, size_t n, unsigned per_10000)
{
    if (!sorted || n == 0 || per_10000 > 10000) return NAN;
    /* r = ⌈k·n / 10000⌉ without overflow: n = 10000·a + c, k·n = 10000·k·a + k·c */
    const size_t a = n / 10000, c = n % 10000;
    size_t r = (size_t)per_10000 * a + ((size_t)per_10000 * c + 9999) / 10000;
    if (r < 1) r = 1;
    return sorted[r - 1];
}

alig_status alig_train_eps_summary(double *losses, size_t n, alig_train_eps *out)
{
    if (!losses || !out || n == 0) return ALIG_EINVAL;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += losses[i];
    qsort(losses, n, sizeof *losses, cmp_nan_last);
    out->mean = sum / (double)n;
    out->max = losses[n - 1];
    out->q50 = alig_train_quantile(losses, n, 5000);
    out->q90 = alig_train_quantile(losses, n, 9000);
    out->q99 = alig_train_quantile(losses, n, 9900);
    out->q999 = alig_train_quantile(losses, n, 9990);
    return ALIG_SUCCESS;
}
