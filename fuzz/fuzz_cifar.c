/* fuzz_cifar.c - libFuzzer harness of the CIFAR binary reader (data/cifar.c, alig_cifar_read).
 * Byte 0 of the input picks the format (mod 3): 0 CIFAR-10 (1 label byte, 10 classes),
 * 1 CIFAR-100 coarse (2 label bytes, the first, 20 classes), 2 CIFAR-100 fine (the second, 100
 * classes); the rest is the file's bytes. Checked beyond the sanitizers, against a second reading
 * of the same bytes written here: the reader succeeds exactly when the file is a non-empty whole
 * number of records whose labels are all in range, and then returns every label and every pixel
 * (u / 255.0f) as they are in the file; a failure comes with a message naming the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alig/vision.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const struct { int label_bytes, label_index; unsigned classes, other_lim; } modes[3] = {
        { 1, 0, 10, 0 }, { 2, 0, 20, 100 }, { 2, 1, 100, 20 } };
    const int m = data[0] % 3;
    const uint8_t *f = data + 1;
    const size_t len = size - 1, rec = (size_t)modes[m].label_bytes + ALIG_CIFAR_PIXELS;
    /* what the file holds, read independently */
    int valid = len > 0 && len % rec == 0;
    for (size_t i = 0; valid && i < len / rec; i++) {
        const uint8_t *r = f + i * rec;
        if (r[modes[m].label_index] >= modes[m].classes) valid = 0;
        if (modes[m].label_bytes == 2 && r[1 - modes[m].label_index] >= modes[m].other_lim) valid = 0;
    }
    const char *path = fuzz_file(f, len);
    alig_image_set s;
    char err[1024];
    const alig_status st = alig_cifar_read(path, modes[m].label_bytes, modes[m].label_index, modes[m].classes, &s,
                                           err, sizeof err);
    if ((st == ALIG_SUCCESS) != valid) abort();
    if (st == ALIG_SUCCESS) {
        if (s.n != len / rec || s.c != 3 || s.h != 32 || s.w != 32 || s.num_classes != modes[m].classes) abort();
        for (size_t i = 0; i < s.n; i++) {
            const uint8_t *r = f + i * rec;
            if (s.y[i] != (int32_t)r[modes[m].label_index]) abort();
            for (size_t j = 0; j < ALIG_CIFAR_PIXELS; j++)
                if (alig_image_set_value(&s, i * ALIG_CIFAR_PIXELS + j) != (float)r[modes[m].label_bytes + j] / 255.0f)
                    abort();   /* the set keeps bytes or floats */
        }
    } else {
        if (st != ALIG_EFORMAT || strncmp(err, path, strlen(path)) != 0) abort();   /* "<path>: what" */
        if (s.n || s.x || s.u || s.y) abort();                                      /* zeroed on failure */
    }
    alig_image_set_free(&s);
    return 0;
}
