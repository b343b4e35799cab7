/* seed_svhn.c - writes small SVHN-format MATLAB files, the seed corpus of fuzz_svhn:
 *   fuzz_seed_svhn DIR  ->  DIR/one-plain.mat (MAT 5, uncompressed, 1 image, y double) and
 *   DIR/two-zlib.mat (MAT 5, compressed, 2 images, y uint8).
 * Written with libmatio, as MATLAB's save would; the images are smooth gradients so that the
 * compressed file stays small. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <matio.h>

static int write_one(const char *dir, const char *name, size_t n, int compress, int y_uint8)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *x = malloc(n * 3072);
    double yd[2] = { 10, 3 };
    uint8_t yu[2] = { 1, 10 };
    if (!x) return 1;
    for (size_t i = 0; i < n * 3072; i++) x[i] = (uint8_t)((i % 32) * 8 + (i / 1024) % 3);
    mat_t *m = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    int rc = 1;
    if (m) {
        size_t dx[4] = { 32, 32, 3, n }, dy[2] = { n, 1 };
        const enum matio_compression c = compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE;
        matvar_t *vx = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, dx, x, 0);
        matvar_t *vy = y_uint8 ? Mat_VarCreate("y", MAT_C_UINT8, MAT_T_UINT8, 2, dy, yu, 0)
                               : Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dy, yd, 0);
        rc = !vx || !vy || Mat_VarWrite(m, vx, c) || Mat_VarWrite(m, vy, c);
        Mat_VarFree(vx);
        Mat_VarFree(vy);
        Mat_Close(m);
    }
    free(x);
    if (rc) fprintf(stderr, "fuzz_seed_svhn: cannot write %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seed_svhn DIR\n");
        return 2;
    }
    return write_one(argv[1], "one-plain.mat", 1, 0, 0) || write_one(argv[1], "two-zlib.mat", 2, 1, 1);
}
