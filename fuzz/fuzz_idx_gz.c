/* fuzz_idx_gz.c - libFuzzer harness of the IDX reader's gzip path: the input (after its first
 * byte) is gzip-compressed here, then the compressed stream is cut short by input[0] bytes
 * (0 = intact; 1..8 hit the trailer's CRC-32 and length, more cut into the deflate data), so the
 * fuzzer explores IDX content behind an intact or truncated gzip layer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "alig/data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const size_t cut = data[0];
    data++;
    size--;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();   /* 15+16: gzip */
    const size_t cap = deflateBound(&z, (uLong)size) + 64;
    unsigned char *gz = malloc(cap);
    if (!gz) abort();
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    size_t glen = cap - z.avail_out;
    deflateEnd(&z);
    glen = cut < glen ? glen - cut : 0;

    alig_idx x;
    char err[1024];
    alig_status st = alig_idx_read(fuzz_file(gz, glen), &x, err, sizeof err);
    free(gz);
    if (st == ALIG_SUCCESS) {
        if (cut != 0) abort();   /* a truncated stream must never be accepted */
        if (x.count != size - 4 - 4 * (size_t)x.ndim || memcmp(x.data, data + 4 + 4 * x.ndim, x.count)) abort();
    } else if (!err[0]) {
        abort();
    }
    alig_idx_free(&x);
    return 0;
}
