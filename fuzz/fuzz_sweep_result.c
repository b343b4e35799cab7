/* fuzz_sweep_result.c - libFuzzer harness of the reader of a sweep cell's result.json
 * (analysis/grid.c, alig_grid_result_parse; `alig sweep` reads these files when it resumes): the
 * input is the file's text, cut at its first NUL byte. Checked beyond the sanitizers: a success
 * gives a known status, an exit code in -1000..1000, NUL-terminated metric and note strings, and a
 * result that alig_grid_result_format writes into the documented 1024 bytes and that parses back
 * to the same result (numbers bit for bit, NaN as NaN). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alig/grid.h"

static int same_num(double a, double b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    alig_grid_result r;
    memset(&r, 0x5a, sizeof r);
    alig_status st = alig_grid_result_parse(text, &r);
    free(text);
    if (st) {
        if (st != ALIG_EFORMAT) abort();
        return 0;
    }
    if (!r.done || r.status < ALIG_GRID_OK || r.status > ALIG_GRID_FAILED || r.exit_code < -1000 || r.exit_code > 1000)
        abort();
    if (!memchr(r.metric, 0, sizeof r.metric) || !memchr(r.note, 0, sizeof r.note)) abort();
    char buf[1024];
    if (alig_grid_result_format(&r, buf, sizeof buf)) abort();
    alig_grid_result b;
    if (alig_grid_result_parse(buf, &b)) abort();
    if (b.status != r.status || b.exit_code != r.exit_code || strcmp(b.metric, r.metric) || strcmp(b.note, r.note))
        abort();
    const double na[] = { r.steps, r.obj_first, r.obj_last, r.obj_best, r.metric_last, r.metric_best, r.wall_s };
    const double nb[] = { b.steps, b.obj_first, b.obj_last, b.obj_best, b.metric_last, b.metric_best, b.wall_s };
    for (size_t k = 0; k < sizeof na / sizeof na[0]; k++)
        if (!same_num(na[k], nb[k])) abort();
    return 0;
}
