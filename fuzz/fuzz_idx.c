/* fuzz_idx.c - libFuzzer harness of the IDX reader (nets/data.c, alig_idx_read): the input is the
 * file's bytes, read as a plain IDX file (or as gzip when it starts with the gzip magic). Checked
 * beyond the sanitizers: success gives 1..ALIG_IDX_MAX_DIMS dimensions whose product is `count`,
 * at most ALIG_IDX_MAX_BYTES; a failure gives a message. */
#include <stdint.h>
#include <stdlib.h>

#include "alig/data.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    alig_idx x;
    char err[1024];
    alig_status st = alig_idx_read(fuzz_file(data, size), &x, err, sizeof err);
    if (st == ALIG_SUCCESS) {
        size_t prod = 1;
        if (x.ndim < 1 || x.ndim > ALIG_IDX_MAX_DIMS || !x.data) abort();
        for (unsigned d = 0; d < x.ndim; d++) prod *= x.dims[d];
        if (prod != x.count || x.count > ALIG_IDX_MAX_BYTES) abort();
        volatile uint8_t sink = x.data[x.count - 1];   /* the whole buffer is there (ASan) */
        (void)sink;
    } else if (!err[0]) {
        abort();
    }
    alig_idx_free(&x);
    return 0;
}
