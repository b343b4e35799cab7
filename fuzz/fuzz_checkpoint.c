/* fuzz_checkpoint.c - libFuzzer harness of the training-checkpoint reader through its public
 * function alig_nn_checkpoint_read. A checkpoint ends with a CRC-32 of everything before it; a
 * fuzzer would almost never get past that check, so the harness rewrites the last 4 bytes with
 * the correct CRC before handing the file over (the CRC comparison itself is one line). Checked
 * beyond the sanitizers: a success gives a model specification that alig_nn_spec_check accepts,
 * and a failure gives a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "alig/nn.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= 4) {
        uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(size - 4));
        memcpy(buf + size - 4, &c, 4);   /* the writer stores it in host byte order */
    }
    alig_nn_checkpoint ck;
    char err[512];
    alig_status st = alig_nn_checkpoint_read(fuzz_file(buf, size), &ck, err, sizeof err);
    free(buf);
    if (st == ALIG_SUCCESS) {
        if (alig_nn_spec_check(&ck.spec) != ALIG_SUCCESS) abort();
        volatile float sink = 0;
        for (size_t i = 0; i < ck.n; i++) sink += ck.x[i];   /* the arrays are as long as stated (ASan) */
        for (size_t i = 0; i < ck.nbuf; i++) sink += ck.buf[i];
        (void)sink;
    } else if (!err[0]) {
        abort();
    }
    alig_nn_checkpoint_free(&ck);
    return 0;
}
