/* fuzz_libsvm.c - libFuzzer harness of the LIBSVM reader (problems/libsvm.c) through its public
 * function alig_dataset_read_libsvm. The input is the file's bytes (plain text, or gzip since the
 * reader goes through zlib). Invariants checked beyond the sanitizers: success gives n >= 1,
 * dim >= 1, finite values no larger than the stated bound, and a failure gives a message. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alig/problem.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    alig_dataset *d = NULL;
    size_t line = 0;
    alig_status st = alig_dataset_read_libsvm(fuzz_file(data, size), &d, &line);
    if (st == ALIG_SUCCESS) {
        if (!d || d->n == 0 || d->dim == 0 || d->n * d->dim > ALIG_LIBSVM_MAX_ENTRIES) abort();
        for (size_t i = 0; i < d->n * d->dim; i++)
            if (!(fabs(d->x[i]) <= ALIG_LIBSVM_MAX_ABS)) abort();
        for (size_t i = 0; i < d->n; i++)
            if (!(fabs(d->y[i]) <= ALIG_LIBSVM_MAX_ABS)) abort();
    } else {
        const char *why = alig_problem_last_error();
        if (d || !why || !why[0]) abort();   /* every failure says why */
    }
    alig_dataset_free(d);
    return 0;
}
