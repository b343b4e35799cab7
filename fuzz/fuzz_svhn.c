/* fuzz_svhn.c - libFuzzer harness of the SVHN reader (data/svhn.c, alig_svhn_read, through
 * libmatio): the input is the .mat file's bytes. Checked beyond the sanitizers: a success gives
 * n >= 1 images of 3x32x32 with labels 0..9 and 10 classes, every pixel u / 255.0f for an integer
 * u in 0..255, and no more images than the file can hold (X is N x 3072 bytes, so N <= 1032 times
 * the file size in bytes / 3072, deflate's largest expansion) nor than ALIG_SVHN_MAX_IMAGES; a
 * failure gives a message and a zeroed set. With the system's libmatio (no coverage
 * instrumentation) the fuzzer is guided by the reader's own branches only; fuzz/README.md says
 * how to link an instrumented libmatio instead (ALIG_FUZZ_MATIO). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "alig/vision.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!alig_svhn_available()) abort();   /* a build without libmatio would fuzz the stub */
    alig_image_set s;
    char err[1024];
    const alig_status st = alig_svhn_read(fuzz_file(data, size), &s, err, sizeof err);
    if (st == ALIG_SUCCESS) {
        if (s.n < 1 || s.c != 3 || s.h != 32 || s.w != 32 || s.num_classes != 10 || !(s.x || s.u) || !s.y) abort();
        if ((double)s.n * ALIG_CIFAR_PIXELS > 1032.0 * (double)size || s.n > ALIG_SVHN_MAX_IMAGES) abort();
        for (size_t i = 0; i < s.n; i++)
            if (s.y[i] < 0 || s.y[i] > 9) abort();
        for (size_t j = 0; j < s.n * ALIG_CIFAR_PIXELS; j++) {
            const float v = alig_image_set_value(&s, j), u = v * 255.0f, r = roundf(u);   /* bytes or floats */
            if (!(r >= 0.0f && r <= 255.0f) || v != r / 255.0f) abort();
        }
    } else {
        if (!err[0] || s.n || s.x || s.u || s.y) abort();
    }
    alig_image_set_free(&s);
    return 0;
}
