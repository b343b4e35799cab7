/* fuzz_protocol.c - libFuzzer harness of the sweep protocol parser (analysis/grid.c,
 * alig_grid_parse_text, which alig_grid_parse_file and `alig sweep --protocol` use): the input is
 * the protocol file's text (cut at its first NUL byte, as the file reader refuses NUL bytes). An input
 * whose first byte is '!' is parsed, from its second byte on, as `alig sweep --scale reduced --set
 * lr=1e-3 --set dir=/data` would parse it (scale sections and ${NAME} substitution); any other input
 * as a protocol without options.
 * Checked beyond the sanitizers:
 *   - a failure comes with a message "fuzz.sweep:..." and no grid;
 *   - a success gives 1 .. ALIG_GRID_MAX_CELLS cells; for each cell checked (all of them up to 64,
 *     else the first and last 32) the name is non-empty, shorter than ALIG_GRID_MAX_NAME and made
 *     of [A-Za-z0-9._+=-], the argument vector starts with the base command and ends with
 *     "--out run.csv" (solve) or "--out run" (train), and config.json is produced;
 *   - the canonical text alig_grid_write_protocol writes parses back to the same grid: the same
 *     cell count and, cell by cell, the same name, argument vector and config.json. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alig/grid.h"

static void check_cell(const alig_grid *g, size_t i)
{
    char name[ALIG_GRID_MAX_NAME];
    if (alig_grid_cell_name(g, i, name, sizeof name) || !name[0] || strlen(name) >= ALIG_GRID_MAX_NAME) abort();
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("._+=-", *p)))
            abort();
    char **argv;
    size_t argc;
    if (alig_grid_cell_argv(g, i, &argv, &argc) || argc < g->n_base + 2 || argv[argc]) abort();
    for (size_t k = 0; k < g->n_base; k++)
        if (strcmp(argv[k], g->base[k])) abort();
    if (strcmp(argv[argc - 2], "--out") || strcmp(argv[argc - 1], g->kind == ALIG_GRID_SOLVE ? "run.csv" : "run"))
        abort();
    alig_grid_argv_free(argv);
    char *json;
    if (alig_grid_cell_config(g, i, &json) || !json) abort();
    free(json);
}

/* the two grids have the same cell i: name, argv and config.json */
static void same_cell(const alig_grid *a, const alig_grid *b, size_t i)
{
    char na[ALIG_GRID_MAX_NAME], nb[ALIG_GRID_MAX_NAME];
    if (alig_grid_cell_name(a, i, na, sizeof na) || alig_grid_cell_name(b, i, nb, sizeof nb) || strcmp(na, nb)) abort();
    char *ja, *jb;
    if (alig_grid_cell_config(a, i, &ja) || alig_grid_cell_config(b, i, &jb)) abort();
    if (strcmp(ja, jb)) abort();   /* config.json holds the argv */
    free(ja);
    free(jb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    alig_grid *g = NULL;
    char err[1024] = "";
    static const char *const names[] = {"lr", "dir"}, *const values[] = {"1e-3", "/data"};
    const alig_grid_parse_opts opts = {.scale = "reduced", .n_vars = 2, .var_names = names, .var_values = values};
    const int with_opts = size > 0 && data[0] == '!';
    alig_status st = alig_grid_parse_text_ex(text + with_opts, "fuzz.sweep", with_opts ? &opts : NULL, &g, err,
                                             sizeof err);
    free(text);
    if (st) {
        if (g || strncmp(err, "fuzz.sweep:", 11)) abort();
        return 0;
    }
    const size_t n = alig_grid_n_cells(g);
    if (!g || n < 1 || n > ALIG_GRID_MAX_CELLS) abort();
    const size_t lo = n <= 64 ? n : 32, hi = n <= 64 ? n : n - 32;
    for (size_t i = 0; i < lo; i++) check_cell(g, i);
    for (size_t i = hi; i < n; i++) check_cell(g, i);
    /* round trip through the canonical text */
    char *canon = NULL;
    size_t clen = 0;
    FILE *f = open_memstream(&canon, &clen);
    if (!f) abort();
    if (alig_grid_write_protocol(g, f)) abort();
    if (fclose(f)) abort();
    alig_grid *h = NULL;
    char err2[1024] = "";
    if (alig_grid_parse_text(canon, "canonical", &h, err2, sizeof err2)) {
        fprintf(stderr, "canonical text does not parse back: %s\n---\n%s---\n", err2, canon);
        abort();
    }
    if (alig_grid_n_cells(h) != n || h->kind != g->kind || h->diverge_factor != g->diverge_factor) abort();
    for (size_t i = 0; i < lo; i++) same_cell(g, h, i);
    for (size_t i = hi; i < n; i++) same_cell(g, h, i);
    free(canon);
    alig_grid_free(h);
    alig_grid_free(g);
    return 0;
}
