/* checked.h - size products that cannot wrap, for sizes that come from user input or file headers
 * (shared by problems/, analysis/, nets/data.c and the CLI; internal, not installed).
 * Each returns 1 and stores the product when it fits in size_t, 0 (and leaves *out alone) when
 * it would overflow. */
#ifndef ALIG_CHECKED_H
#define ALIG_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int alig_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

static inline int alig_size_mul3(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    return alig_size_mul(a, b, &ab) && alig_size_mul(ab, c, out);
}

static inline int alig_size_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

#endif
