/* augment.c - random crop with padding and horizontal flip (include/alig/vision.h).
 *
 * The draws are counter-based, like the data order and the dropout masks: sample j of batch k
 * under seed s gets a SplitMix64 value of a mix of (s, k, j), so batch k of a resumed run is
 * augmented exactly as in an uninterrupted one, whatever the thread count. */
#include <string.h>

#include "alig/vision.h"
#include "../nets/splitmix.h"

#define AUG_TAG UINT64_C(0x61756734)   /* "aug4": keeps this stream apart from the others of a seed */

alig_augment_draw alig_augment_draws(uint64_t seed, uint64_t k, uint64_t j, int pad)
{
    const uint64_t z =
        alig_splitmix(alig_splitmix(alig_splitmix(seed ^ AUG_TAG) ^ k) ^ (j * UINT64_C(0xD1B54A32D192ED03)));
    const uint64_t m = pad > 0 ? (uint64_t)(2 * pad + 1) : 1;
    alig_augment_draw d;
    /* two 21-bit fractions scaled to 0 .. 2·pad (multiply-shift), one bit for the flip */
    d.dy = (int)(((z & 0x1FFFFF) * m) >> 21);
    d.dx = (int)((((z >> 21) & 0x1FFFFF) * m) >> 21);
    d.flip = (int)((z >> 63) & 1);
    return d;
}

alig_status alig_augment_image(const float *in, float *out, int C, int H, int W, int pad, const float *fill,
                               alig_augment_draw d)
{
    if (!in || !out || !fill || C < 1 || H < 1 || W < 1 || pad < 0) return ALIG_EINVAL;
    if (d.dy < 0 || d.dx < 0 || d.dy > 2 * pad || d.dx > 2 * pad) return ALIG_EINVAL;
    const int oy = d.dy - pad, ox = d.dx - pad;  /* source pixel of output (r, s') is (r + oy, s' + ox) */
    /* the output columns whose source column lies inside the image: s' in [s0, s1) */
    const int s0 = ox < 0 ? -ox : 0, s1 = W - ox < W ? W - ox : W;
    for (int c = 0; c < C; c++) {
        const float *src = in + (size_t)c * H * W;
        float *dst = out + (size_t)c * H * W;
        const float f = fill[c];
        for (int r = 0; r < H; r++) {
            float *o = dst + (size_t)r * W;
            const int sr = r + oy;
            if (sr < 0 || sr >= H || s0 >= s1) {
                for (int s = 0; s < W; s++) o[s] = f;
                continue;
            }
            const float *row = src + (size_t)sr * W;
            if (!d.flip) {
                for (int s = 0; s < s0; s++) o[s] = f;
                memcpy(o + s0, row + s0 + ox, (size_t)(s1 - s0) * sizeof *o);
                for (int s = s1; s < W; s++) o[s] = f;
            } else {
                /* o[s] = unflipped[W − 1 − s] */
                for (int s = 0; s < W; s++) {
                    const int sp = W - 1 - s;
                    o[s] = sp >= s0 && sp < s1 ? row[sp + ox] : f;
                }
            }
        }
    }
    return ALIG_SUCCESS;
}

alig_status alig_augment_image_bytes(const uint8_t *in, const float *lut, float *out, int C, int H, int W, int pad,
                                     const float *fill, alig_augment_draw d)
{
    if (!in || !lut || !out || !fill || C < 1 || H < 1 || W < 1 || pad < 0) return ALIG_EINVAL;
    if (d.dy < 0 || d.dx < 0 || d.dy > 2 * pad || d.dx > 2 * pad) return ALIG_EINVAL;
    const int oy = d.dy - pad, ox = d.dx - pad;  /* as alig_augment_image */
    const int s0 = ox < 0 ? -ox : 0, s1 = W - ox < W ? W - ox : W;
    for (int c = 0; c < C; c++) {
        const uint8_t *src = in + (size_t)c * H * W;
        const float *t = lut + 256 * (size_t)c;
        float *dst = out + (size_t)c * H * W;
        const float f = fill[c];
        for (int r = 0; r < H; r++) {
            float *o = dst + (size_t)r * W;
            const int sr = r + oy;
            if (sr < 0 || sr >= H || s0 >= s1) {
                for (int s = 0; s < W; s++) o[s] = f;
                continue;
            }
            const uint8_t *row = src + (size_t)sr * W;
            if (!d.flip) {
                for (int s = 0; s < s0; s++) o[s] = f;
                for (int s = s0; s < s1; s++) o[s] = t[row[s + ox]];
                for (int s = s1; s < W; s++) o[s] = f;
            } else {
                for (int s = 0; s < W; s++) {
                    const int sp = W - 1 - s;
                    o[s] = sp >= s0 && sp < s1 ? t[row[sp + ox]] : f;
                }
            }
        }
    }
    return ALIG_SUCCESS;
}
