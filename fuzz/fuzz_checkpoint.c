/* fuzz_checkpoint.c - libFuzzer harness of the training-checkpoint reader through its public
 * function alig_train_checkpoint_read (train/, the file `alig train --resume` reads). A
 * checkpoint ends with a CRC-32 of everything before it; a fuzzer would almost never get past
 * that check, so the harness rewrites the last 4 bytes with the correct CRC before handing the
 * file over (the CRC comparison itself is one line). Checked beyond the sanitizers: a success
 * gives format version 1 or 2, NUL-terminated names and arrays as long as their stated sizes
 * (every byte is read, so ASan sees a short one; the logs travel in the file in version 1 only),
 * and a failure gives a message and a zeroed struct. Seeds: two of each version (v1-*: an older
 * build's, with the logs inside). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "alig/train.h"
#include "fuzz_util.h"

static void touch(const void *p, size_t bytes)
{
    volatile unsigned char sink = 0;
    const unsigned char *c = p;
    for (size_t i = 0; i < bytes; i++) sink ^= c[i];
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= 4) {
        uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(size - 4));
        memcpy(buf + size - 4, &c, 4);   /* the writer stores it in host byte order */
    }
    alig_train_checkpoint ck;
    char err[512];
    alig_status st = alig_train_checkpoint_read(fuzz_file(buf, size), &ck, err, sizeof err);
    free(buf);
    if (st == ALIG_SUCCESS) {
        if (!memchr(ck.model, 0, sizeof ck.model) || !memchr(ck.solver, 0, sizeof ck.solver)) abort();
        if (ck.version != 1 && ck.version != 2) abort();
        const int logs_inside = ck.version == 1;
        if ((ck.n && !ck.x) || (ck.nbuf && !ck.buf) || (ck.params_bytes && !ck.params) ||
            (ck.state_bytes && !ck.state) || (ck.user_bytes && !ck.user) ||
            (logs_inside && ((ck.csv_bytes && !ck.csv) || (ck.jsonl_bytes && !ck.jsonl))) ||
            (!logs_inside && (ck.csv || ck.jsonl)))
            abort();
        touch(ck.x, ck.n * sizeof *ck.x);
        touch(ck.buf, ck.nbuf * sizeof *ck.buf);
        touch(ck.params, ck.params_bytes);
        touch(ck.state, ck.state_bytes);
        if (logs_inside) {
            touch(ck.csv, ck.csv_bytes);
            touch(ck.jsonl, ck.jsonl_bytes);
        }
        touch(ck.user, ck.user_bytes);
        if (ck.model_desc) touch(ck.model_desc, strlen(ck.model_desc) + 1);
    } else {
        static const alig_train_checkpoint zero;
        if (!err[0] || memcmp(&ck, &zero, sizeof ck)) abort();
    }
    alig_train_checkpoint_free(&ck);
    return 0;
}
