/* test_grid.c - the grid engine of `alig sweep` (analysis/grid.c): enumeration and naming, value
 * ranges, the protocol parser and its file:line errors, result classification, the summary table
 * and the resume bookkeeping.
 *
 * Expected values are written out by hand (cell orders, names, range values, summary lines), and
 * the enumeration is also checked against a second implementation: plain nested loops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CUnit/Basic.h>

#include "alig/grid.h"

static char tmpdir[256];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Build the grid of the enumeration tests:
 *   base solve --problem smooth; common batch=1,10; method a (--solver alig) eta=0.1,1,10;
 *   method b (--solver sgd) lr=1e-3:1e-1:log:3; seeds 0,1. */
static alig_grid *make_grid(void)
{
    alig_grid *g;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "solve --problem smooth", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, (size_t)-1, "batch", "1,10", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "a", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_args(g, 0, "--solver alig", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, 0, "eta", "0.1,1,10", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "b", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_args(g, 1, "--solver sgd", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, 1, "lr", "1e-3:1e-1:log:3", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_seeds(g, "0,1", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(alig_grid_validate(g, err, sizeof err), ALIG_SUCCESS);
    return g;
}

static void test_enumeration(void)
{
    alig_grid *g = make_grid();
    /* a: 2 batch x 3 eta x 2 seeds = 12; b: 2 x 3 x 2 = 12 */
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), 24);
    /* second implementation: nested loops in the documented order (seed fastest, last axis next) */
    const char *meth[2] = { "a", "b" };
    const char *batch[2] = { "1", "10" };
    const char *rate[2][3] = { { "eta=0.1", "eta=1", "eta=10" }, { "lr=0.001", "lr=0.01", "lr=0.1" } };
    size_t i = 0;
    for (size_t m = 0; m < 2; m++)
        for (size_t b = 0; b < 2; b++)
            for (size_t r = 0; r < 3; r++)
                for (size_t s = 0; s < 2; s++, i++) {
                    char want[128], got[ALIG_GRID_MAX_NAME];
                    snprintf(want, sizeof want, "%s__batch=%s__%s__s%zu", meth[m], batch[b], rate[m][r], s);
                    CU_ASSERT_EQUAL(alig_grid_cell_name(g, i, got, sizeof got), ALIG_SUCCESS);
                    CU_ASSERT_STRING_EQUAL(got, want);
                    alig_grid_cell c;
                    CU_ASSERT_EQUAL(alig_grid_cell_at(g, i, &c), ALIG_SUCCESS);
                    CU_ASSERT_EQUAL(c.method, m);
                    CU_ASSERT_EQUAL(c.seed, s);
                    CU_ASSERT_EQUAL(c.n_axes, 2);
                    CU_ASSERT_EQUAL(c.value[0], b);
                    CU_ASSERT_EQUAL(c.value[1], r);
                }
    alig_grid_cell c;
    CU_ASSERT_EQUAL(alig_grid_cell_at(g, 24, &c), ALIG_EINVAL);
    char small[8];
    CU_ASSERT_EQUAL(alig_grid_cell_name(g, 0, small, sizeof small), ALIG_EBADLEN);

    /* cell 13 = b, batch 1, lr 0.001, seed 1: the full command line, by hand */
    char **argv;
    size_t argc;
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_argv(g, 13, &argv, &argc), ALIG_SUCCESS);
    const char *want[] = { "solve", "--problem", "smooth", "--solver", "sgd", "--batch", "1", "--lr", "0.001",
                           "--seed", "1", "--out", "run.csv", NULL };
    CU_ASSERT_EQUAL(argc, 13);
    for (size_t k = 0; k < 13 && k < argc; k++) CU_ASSERT_STRING_EQUAL(argv[k], want[k]);
    CU_ASSERT_PTR_NULL(argv[argc]);
    alig_grid_argv_free(argv);

    char *cfg;
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_config(g, 13, &cfg), ALIG_SUCCESS);
    CU_ASSERT_STRING_EQUAL(cfg, "{\n  \"cell\": \"b__batch=1__lr=0.001__s1\",\n  \"index\": 13,\n  \"method\": \"b\",\n"
                                "  \"axes\": {\"batch\": \"1\", \"lr\": \"0.001\"},\n  \"seed\": 1,\n  \"argv\": [\"solve\", "
                                "\"--problem\", \"smooth\", \"--solver\", \"sgd\", \"--batch\", \"1\", \"--lr\", \"0.001\", "
                                "\"--seed\", \"1\", \"--out\", \"run.csv\"]\n}\n");
    free(cfg);
    alig_grid_free(g);

    /* no methods, one-valued axes stay out of names; train cells write into run/ */
    char err[256];
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "train --model cnn --epochs 1", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, (size_t)-1, "opt", "sgd,adam", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, (size_t)-1, "batch", "32", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(alig_grid_validate(g, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), 2);    /* no seeds: the run's own default seed */
    char name[ALIG_GRID_MAX_NAME];
    alig_grid_cell_name(g, 1, name, sizeof name);
    CU_ASSERT_STRING_EQUAL(name, "opt=adam");
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_argv(g, 1, &argv, &argc), ALIG_SUCCESS);
    const char *want_t[] = { "train", "--model", "cnn", "--epochs", "1", "--opt", "adam", "--batch", "32", "--out", "run" };
    CU_ASSERT_EQUAL(argc, 11);
    for (size_t k = 0; k < 11 && k < argc; k++) CU_ASSERT_STRING_EQUAL(argv[k], want_t[k]);
    alig_grid_argv_free(argv);
    alig_grid_free(g);
    /* nothing varies: one cell named "run" */
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text("base = solve --problem smooth\n", "t", &g, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), 1);
    alig_grid_cell_name(g, 0, name, sizeof name);
    CU_ASSERT_STRING_EQUAL(name, "run");
    alig_grid_free(g);
}

static void check_values(const char *spec, size_t n, const char *const *want)
{
    alig_grid *g;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    alig_status st = alig_grid_add_axis(g, (size_t)-1, "lr", spec, err, sizeof err);
    CU_ASSERT_EQUAL(st, ALIG_SUCCESS);
    if (st) printf("\n  %s: %s\n", spec, err);
    else {
        CU_ASSERT_EQUAL(g->common[0].n, n);
        for (size_t k = 0; k < n && k < g->common[0].n; k++) CU_ASSERT_STRING_EQUAL(g->common[0].values[k], want[k]);
    }
    alig_grid_free(g);
}

static void check_bad_values(const char *name, const char *spec, const char *needle)
{
    alig_grid *g;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, (size_t)-1, name, spec, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, needle));
    if (!strstr(err, needle)) printf("\n  '%s': message '%s' lacks '%s'\n", spec, err, needle);
    alig_grid_free(g);
}

static void test_ranges(void)
{
    /* decades: 10^(-4 + 5 i / 5) */
    const char *dec[] = { "0.0001", "0.001", "0.01", "0.1", "1", "10" };
    check_values("1e-4:1e1:log:6", 6, dec);
    /* 0 + i/4 */
    const char *lin[] = { "0", "0.25", "0.5", "0.75", "1" };
    check_values("0:1:lin:5", 5, lin);
    /* the L4 grid of Figure 3: 0.05 + 0.05 i, i = 0..18 */
    const char *l4[] = { "0.05", "0.1", "0.15", "0.2", "0.25", "0.3", "0.35", "0.4", "0.45", "0.5",
                         "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95" };
    check_values("0.05:0.95:lin:19", 19, l4);
    /* half decades 10^(-1 + i/2): 0.1, 0.316228, 1 ; a list mixing ranges and values */
    const char *mix[] = { "0.1", "0.316228", "1", "inf", "3" };
    check_values("0.1:1:log:3, inf ,3", 5, mix);
    const char *one[] = { "2" };
    check_values("2:8:log:1", 1, one);

    check_bad_values("lr", "0:1:log:3", "finite ends > 0");
    check_bad_values("lr", "1:2:cubic:3", "not a range");
    check_bad_values("lr", "1:2:log:0", "1 <= N");
    check_bad_values("lr", "1,,2", "empty value");
    check_bad_values("lr", "0.1,1,0.1", "appears twice");
    check_bad_values("lr", "1e-1:1e1:log:3,1", "appears twice");   /* the range gives 1 too */
    check_bad_values("lr", "a=b", "bad value");
    check_bad_values("Lr", "1", "flag name");
    check_bad_values("--lr", "1", "flag name");
}

static void test_seeds_and_names(void)
{
    alig_grid *g;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_seeds(g, "3-5,9", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(g->n_seeds, 4);
    CU_ASSERT(g->seeds[0] == 3 && g->seeds[1] == 4 && g->seeds[2] == 5 && g->seeds[3] == 9);
    CU_ASSERT_EQUAL(alig_grid_set_seeds(g, "1,1", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "twice"));
    CU_ASSERT_EQUAL(alig_grid_set_seeds(g, "5-3", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_grid_set_seeds(g, "x", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_EQUAL(g->n_seeds, 4);    /* unchanged by the failures */
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "rates --x", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'rates'"));
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "solve --out x.csv", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--out"));
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "a b", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "x", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_method(g, "x", err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_EQUAL(alig_grid_validate(g, err, sizeof err), ALIG_EINVAL);     /* no base */
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "solve --problem smooth --lr 1", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, 0, "lr", "1,2", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_validate(g, err, sizeof err), ALIG_EINVAL);     /* --lr in the base */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "axis lr: --lr is already in the base command"));
    alig_grid_free(g);

    /* values that differ only in characters a file name cannot hold collide */
    CU_ASSERT_EQUAL_FATAL(alig_grid_alloc(&g), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_set_base(g, "solve", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_add_axis(g, (size_t)-1, "data", "a/b,a_b", err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_validate(g, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "two cells are named 'data=a_b'"));
    alig_grid_free(g);
}

/* parse `text` and expect failure with a message starting "p.sweep:LINE:" and holding needle */
static void bad_protocol(const char *text, int line, const char *needle)
{
    alig_grid *g = (alig_grid *)1;
    char err[512] = "", prefix[64];
    alig_status st = alig_grid_parse_text(text, "p.sweep", &g, err, sizeof err);
    CU_ASSERT(st == ALIG_EFORMAT || st == ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(g);
    if (line > 0) snprintf(prefix, sizeof prefix, "p.sweep:%d: ", line);
    else snprintf(prefix, sizeof prefix, "p.sweep: ");
    const int ok = !strncmp(err, prefix, strlen(prefix)) && strstr(err, needle);
    CU_ASSERT(ok);
    if (!ok) printf("\n  got '%s', wanted '%s...%s'\n", err, prefix, needle);
}

static const char *const good_protocol =
    "# a comment\n"
    "base = solve --problem smooth --iters 50   # trailing comment\n"
    "seeds = 1, 2\n"
    "rate = eta, lr\n"
    "diverge_factor = 100\n"
    "\n"
    "[common]\n"
    "batch = 1, 5\n"
    "[method alig]\n"
    "args = --solver alig\n"
    "eta = 1e-2:1e2:log:5, inf\n"
    "[ method sgd ]\n"
    "args = --solver sgd\n"
    "lr = 0.01, 0.1\n";

static void test_protocol(void)
{
    alig_grid *g;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text(good_protocol, "p.sweep", &g, err, sizeof err), ALIG_SUCCESS);
    /* alig: 2 batch x 6 eta x 2 seeds = 24; sgd: 2 x 2 x 2 = 8 */
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), 32);
    CU_ASSERT_EQUAL(g->n_methods, 2);
    CU_ASSERT_STRING_EQUAL(g->methods[1].name, "sgd");
    CU_ASSERT_DOUBLE_EQUAL(g->diverge_factor, 100, 0);
    CU_ASSERT_EQUAL(g->n_rate, 2);
    CU_ASSERT_STRING_EQUAL(g->methods[0].axes[0].values[5], "inf");
    char name[ALIG_GRID_MAX_NAME];
    alig_grid_cell_name(g, 11, name, sizeof name);     /* alig, batch 1, eta inf, seed 2 */
    CU_ASSERT_STRING_EQUAL(name, "alig__batch=1__eta=inf__s2");

    /* round trip through the canonical text: the same cells, the same command lines */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_EQUAL(alig_grid_write_protocol(g, f), ALIG_SUCCESS);
    fclose(f);
    alig_grid *h;
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text(text, "canonical", &h, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_n_cells(h), alig_grid_n_cells(g));
    for (size_t i = 0; i < alig_grid_n_cells(g); i++) {
        char *a, *b;
        alig_grid_cell_config(g, i, &a);
        alig_grid_cell_config(h, i, &b);
        CU_ASSERT_STRING_EQUAL(a, b);
        free(a);
        free(b);
    }
    CU_ASSERT_DOUBLE_EQUAL(h->diverge_factor, 100, 0);
    free(text);
    alig_grid_free(h);
    alig_grid_free(g);

    /* errors name the file and the line */
    bad_protocol("base = solve\nseeds = 1\nfoo = 3\n", 3, "unknown key 'foo'");
    bad_protocol("base = solve\nbase = train\n", 2, "'base' is given twice");
    bad_protocol("base = solve\n[methods x]\n", 2, "unknown section [methods x]");
    bad_protocol("base = solve\n[method x\n", 2, "section header");
    bad_protocol("base = solve\n[method x]\nlr = 1\n[method x]\n", 4, "method 'x' is given twice");
    bad_protocol("base = solve\n\n[method x]\nlr 1\n", 4, "expected 'key = value'");
    bad_protocol("base = solve\n[method x]\nlr =\n", 3, "lr: missing value");
    bad_protocol("base = solve\n[method x]\nlr = 0:1:log:3\n", 3, "axis lr");
    bad_protocol("base = solve\n[method x]\nargs = --solver a\nargs = --solver b\n", 4, "'args' is given twice");
    bad_protocol("base = solve\n[method x]\nLR = 1\n", 3, "flag name");
    bad_protocol("base = solve\nseeds = 1,x\n", 2, "seeds");
    bad_protocol("base = solve\ndiverge_factor = 0.5\n", 2, "diverge_factor");
    bad_protocol("base = fly\n", 1, "'fly' is not a command");
    bad_protocol("seeds = 1\n# no base\n", 2, "missing key 'base'");
    bad_protocol("base = solve\n[method x]\nlr = 1\n[common]\nbatch = 1\n", 4, "[common] must come before");
    bad_protocol("base = solve --lr 1\n[method x]\nlr = 1,2\n", 0, "axis lr: --lr is already in the base command");
    bad_protocol("base = solve\n[common]\nlr = 1\n[method x]\nlr = 2\n", 5, "axis lr is given twice");
    bad_protocol("base = solve\nseeds = 1\n[common]\nseed = 1,2\n", 0, "seed flag");

    /* fuzz_protocol's finding: an axis of many values is one long line of the canonical text
     * (sweep.protocol, which `alig sweep --plot` reads back); the parser refused lines beyond 4095
     * bytes (1019 values did it). The largest axis, 4096 values (a 45 KB line), parses back. */
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text("base = solve --problem smooth --iters 5\n[method a]\n"
                                               "args = --solver sgd\nlr = 1e-8:1:log:4096\n", "long.sweep", &g, err,
                                               sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), 4096);
    char lpath[512];
    snprintf(lpath, sizeof lpath, "%s/long.protocol", tmpdir);
    f = fopen(lpath, "w");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(alig_grid_write_protocol(g, f), ALIG_SUCCESS);
    CU_ASSERT_FATAL(fclose(f) == 0);
    struct stat sb;
    CU_ASSERT(stat(lpath, &sb) == 0 && sb.st_size > 4096 * 8);
    err[0] = 0;
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_file(lpath, &h, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_n_cells(h), 4096);
    int same = 1;
    for (size_t i = 0; i < 4096; i++) {
        char *a, *b;
        alig_grid_cell_config(g, i, &a);
        alig_grid_cell_config(h, i, &b);
        same &= a && b && !strcmp(a, b);
        free(a);
        free(b);
    }
    CU_ASSERT(same);
    CU_ASSERT_STRING_EQUAL(h->methods[0].axes[0].values[4095], "1");
    alig_grid_free(h);
    alig_grid_free(g);
    /* a line beyond the stated limit is still an error naming it */
    const size_t big = ((size_t)1 << 20) + 16;
    char *huge = malloc(big + 1);
    CU_ASSERT_FATAL(huge != NULL);
    memcpy(huge, "base = solve ", 13);
    memset(huge + 13, 'x', big - 13);
    huge[big] = 0;
    CU_ASSERT_EQUAL(alig_grid_parse_text(huge, "huge.sweep", &g, err, sizeof err), ALIG_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "huge.sweep:1: line longer than 1048575 bytes"));
    free(huge);

    /* a protocol file is read whole, up to ALIG_GRID_MAX_FILE bytes: one of exactly that size (comment
     * lines after the base line) parses, one byte more is refused by name, and an endless stream
     * (/dev/zero) stops at the limit too instead of filling memory */
    snprintf(lpath, sizeof lpath, "%s/big.sweep", tmpdir);
    f = fopen(lpath, "w");
    CU_ASSERT_FATAL(f != NULL);
    const char *head = "base = solve --problem smooth --iters 5\n[method a]\nargs = --solver sgd\nlr = 1\n";
    fputs(head, f);
    size_t left = ALIG_GRID_MAX_FILE - strlen(head);
    char cline[1024];
    memset(cline, 'c', sizeof cline);
    cline[0] = '#';
    cline[sizeof cline - 1] = '\n';
    for (; left >= sizeof cline; left -= sizeof cline) fwrite(cline, 1, sizeof cline, f);
    cline[left - 1] = '\n';
    fwrite(cline, 1, left, f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_FATAL(stat(lpath, &sb) == 0 && (size_t)sb.st_size == ALIG_GRID_MAX_FILE);
    CU_ASSERT_EQUAL(alig_grid_parse_file(lpath, &h, err, sizeof err), ALIG_SUCCESS);
    if (h) CU_ASSERT_EQUAL(alig_grid_n_cells(h), 1);
    alig_grid_free(h);
    f = fopen(lpath, "a");
    CU_ASSERT_FATAL(f != NULL);
    fputc('\n', f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_EQUAL(alig_grid_parse_file(lpath, &h, err, sizeof err), ALIG_EBADLEN);
    CU_ASSERT_PTR_NULL(h);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "big.sweep: larger than 16 MiB"));
    unlink(lpath);
    CU_ASSERT_EQUAL(alig_grid_parse_file("/dev/zero", &h, err, sizeof err), ALIG_EBADLEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/dev/zero: larger than 16 MiB"));

    /* a file that does not exist: EIO naming it */
    CU_ASSERT_EQUAL(alig_grid_parse_file("/nonexistent/p.sweep", &g, err, sizeof err), ALIG_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/p.sweep"));
}

/* a cell directory with the given run.csv */
static void solve_dir(const char *csv)
{
    char path[512];
    snprintf(path, sizeof path, "%s/cell", tmpdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/cell/run.csv", tmpdir);
    if (csv) put(path, csv);
    else unlink(path);
}

static void test_classify(void)
{
    alig_grid *g;
    char err[256], dir[512];
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text("base = solve\n", "t", &g, err, sizeof err), ALIG_SUCCESS);
    snprintf(dir, sizeof dir, "%s/cell", tmpdir);
    alig_grid_result r;
    const char *hdr = "iter,loss,f_gap,avg_gap,dist2,step,step_unclipped\n";
    char csv[1024];

    /* f_gap 1, 0.5, 0.25, 0.375 -> first 1, last 0.375, best 0.25; avg_gap last 0.6, best (min) 0.5 */
    snprintf(csv, sizeof csv, "%s0,nan,1,1,4,nan,nan\n1,2,0.5,0.75,3,0.1,0.1\n2,1,0.25,0.5,2,0.1,0.1\n"
             "3,1,0.375,0.6,2,0.1,0.1\n", hdr);
    solve_dir(csv);
    CU_ASSERT_EQUAL(alig_grid_classify(g, dir, 0, "", 1.5, &r), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_first, 1, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_last, 0.375, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_best, 0.25, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.steps, 3, 0);
    CU_ASSERT_STRING_EQUAL(r.metric, "avg_gap");
    CU_ASSERT_DOUBLE_EQUAL(r.metric_last, 0.6, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.metric_best, 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.wall_s, 1.5, 0);

    /* the divergence rule: last > 1000 x first; 1000 x exactly is still ok */
    snprintf(csv, sizeof csv, "%s0,nan,2,2,4,nan,nan\n1,2,2000.5,0.75,3,0.1,0.1\n", hdr);
    solve_dir(csv);
    alig_grid_classify(g, dir, 0, "", 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_DIVERGED);
    snprintf(csv, sizeof csv, "%s0,nan,2,2,4,nan,nan\n1,2,2000,0.75,3,0.1,0.1\n", hdr);
    solve_dir(csv);
    alig_grid_classify(g, dir, 0, "", 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_OK);
    /* a non-finite final value written by a run that exited 0 */
    snprintf(csv, sizeof csv, "%s0,nan,2,2,4,nan,nan\n1,2,inf,0.75,3,0.1,0.1\n", hdr);
    solve_dir(csv);
    alig_grid_classify(g, dir, 0, "", 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_NONFINITE);
    CU_ASSERT(isinf(r.obj_last));
    CU_ASSERT_DOUBLE_EQUAL(r.obj_best, 2, 0);
    /* the run stopped on a NaN: exit 1, its message, no CSV */
    solve_dir(NULL);
    alig_grid_classify(g, dir, 1, "alig solve: sgd diverged at step 7 of 100 (non-finite value (NaN or infinity) in a "
                                  "loss, gradient or iterate); no output written\n", 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_NONFINITE);
    CU_ASSERT_EQUAL(r.exit_code, 1);
    CU_ASSERT(isnan(r.obj_last));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.note, "diverged at step 7"));
    /* a usage error: failed, first stderr line as the note */
    alig_grid_classify(g, dir, 2, "alig solve: unknown flag --bogus\nsecond line\n", 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_FAILED);
    CU_ASSERT_STRING_EQUAL(r.note, "alig solve: unknown flag --bogus");
    alig_grid_classify(g, dir, 128 + 9, "", 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_FAILED);
    CU_ASSERT_STRING_EQUAL(r.note, "killed by signal 9");
    /* exit 0 but nothing to read */
    alig_grid_classify(g, dir, 0, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.note, "run.csv is missing"));
    solve_dir("iter,loss\n0,1\n");
    alig_grid_classify(g, dir, 0, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.note, "no f_gap column"));
    alig_grid_free(g);

    /* train: log.jsonl, objective train_loss (or loss), metric val_acc with the largest as best */
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text("base = train --model cnn\n", "t", &g, err, sizeof err), ALIG_SUCCESS);
    char path[600];
    snprintf(path, sizeof path, "%s/cell/run", tmpdir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/cell/run/log.jsonl", tmpdir);
    put(path, "{\"epoch\": 1, \"train_loss\": 2.5, \"val_acc\": 0.6, \"steps\": 10, \"note\": \"a,b\"}\n"
              "{\"epoch\": 2, \"train_loss\": 1.25, \"val_acc\": 0.8, \"steps\": 20, \"nested\": {\"x\": [1, 2]}}\n"
              "{\"epoch\": 3, \"train_loss\": 1.5, \"val_acc\": 0.7, \"steps\": 30}\n"
              "{\"epoch\": 4, \"train_lo\n");     /* a line cut short by a crash: skipped */
    alig_grid_classify(g, dir, 0, "", 2, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_first, 2.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_last, 1.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_best, 1.25, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.steps, 30, 0);
    CU_ASSERT_STRING_EQUAL(r.metric, "val_acc");
    CU_ASSERT_DOUBLE_EQUAL(r.metric_last, 0.7, 0);
    CU_ASSERT_DOUBLE_EQUAL(r.metric_best, 0.8, 0);
    /* step-mode logs with a mean loss under another key */
    put(path, "{\"step\": 100, \"loss\": 0.5}\n{\"step\": 200, \"loss\": null}\n");
    alig_grid_classify(g, dir, 0, "", 2, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_NONFINITE);
    CU_ASSERT_DOUBLE_EQUAL(r.steps, 200, 0);
    CU_ASSERT_STRING_EQUAL(r.metric, "");
    /* the training loop's message on a NaN, exit 1, with the epochs logged so far */
    put(path, "{\"epoch\": 1, \"train_loss\": 2.5}\n");
    alig_grid_classify(g, dir, 1, "alig train: non-finite loss at epoch 2, batch 3 (step 13, loss nan); stopped\n", 2, &r);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_NONFINITE);
    CU_ASSERT_DOUBLE_EQUAL(r.obj_last, 2.5, 0);
    alig_grid_free(g);
}

static void test_result_text(void)
{
    alig_grid_result r = { .done = 1, .status = ALIG_GRID_DIVERGED, .exit_code = 0, .steps = 100, .obj_first = 0.1,
                           .obj_last = 1e300, .obj_best = NAN, .metric = "avg_gap", .metric_last = -INFINITY,
                           .metric_best = 1.0 / 3.0, .wall_s = 0.25, .note = "say \"hi\", then\\go" };
    char buf[2048];
    CU_ASSERT_EQUAL_FATAL(alig_grid_result_format(&r, buf, sizeof buf), ALIG_SUCCESS);
    alig_grid_result s;
    CU_ASSERT_EQUAL_FATAL(alig_grid_result_parse(buf, &s), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(s.status, ALIG_GRID_DIVERGED);
    CU_ASSERT_EQUAL(s.done, 1);
    CU_ASSERT(s.obj_last == 1e300 && s.obj_first == 0.1 && s.steps == 100 && s.metric_best == 1.0 / 3.0);
    CU_ASSERT(isnan(s.obj_best));
    CU_ASSERT(isnan(s.metric_last));     /* non-finite values are JSON null: read back as NaN */
    CU_ASSERT_STRING_EQUAL(s.note, r.note);
    CU_ASSERT_STRING_EQUAL(s.metric, "avg_gap");
    CU_ASSERT_EQUAL(alig_grid_result_format(&r, buf, 16), ALIG_EBADLEN);
    CU_ASSERT_EQUAL(alig_grid_result_parse("{\"status\": \"ok\"}", &s), ALIG_EFORMAT);     /* keys missing */
    CU_ASSERT_EQUAL(alig_grid_result_parse("{\"status\": \"fine\"", &s), ALIG_EFORMAT);

    /* fuzz_sweep_result's finding: a note of control characters (raw, or escaped as \u001f) was
     * kept as read, and its JSON form (6 bytes per character) no longer fitted the 1024 bytes
     * alig_grid_result_format promises. They become spaces, as in the notes taken from stderr. */
    static const char head[] = "{\"status\": \"failed\", \"exit\": 137, \"steps\": null, \"obj_first\": null, "
                               "\"obj_last\": null, \"obj_best\": null, \"metric\": \"\", \"metric_last\": null, "
                               "\"metric_best\": null, \"wall_s\": 3.5, \"note\": \"";
    char text[2048], spaces[160];
    memset(spaces, ' ', 159);
    spaces[159] = 0;
    for (int escaped = 0; escaped < 2; escaped++) {
        size_t n = strlen(head);
        memcpy(text, head, n);
        for (int k = 0; k < 159; k++) n += (size_t)snprintf(text + n, sizeof text - n, escaped ? "\\u001f" : "\x1f");
        snprintf(text + n, sizeof text - n, "\"}");
        CU_ASSERT_EQUAL_FATAL(alig_grid_result_parse(text, &s), ALIG_SUCCESS);
        CU_ASSERT_STRING_EQUAL(s.note, spaces);
        char out[1024];
        CU_ASSERT_EQUAL_FATAL(alig_grid_result_format(&s, out, sizeof out), ALIG_SUCCESS);
        alig_grid_result t;
        CU_ASSERT_EQUAL_FATAL(alig_grid_result_parse(out, &t), ALIG_SUCCESS);
        CU_ASSERT_STRING_EQUAL(t.note, spaces);
        CU_ASSERT(t.exit_code == 137 && t.status == ALIG_GRID_FAILED && t.wall_s == 3.5);
    }
    /* a number the writer cannot have written (it stores non-finite values as null) */
    static const char *const num[] = { "1e999", "-1e999", "0.5" };
    for (int k = 0; k < 3; k++) {
        snprintf(text, sizeof text, "{\"status\": \"ok\", \"exit\": 0, \"steps\": 2, \"obj_first\": 1, \"obj_last\": %s, "
                 "\"obj_best\": 0.5, \"metric\": \"\", \"metric_last\": null, \"metric_best\": null, \"note\": \"\", "
                 "\"wall_s\": 1}", num[k]);
        CU_ASSERT_EQUAL(alig_grid_result_parse(text, &s), k < 2 ? ALIG_EFORMAT : ALIG_SUCCESS);
    }
    CU_ASSERT_EQUAL(s.obj_last, 0.5);
}

static void test_summary_and_resume(void)
{
    alig_grid *g = make_grid();
    const size_t n = alig_grid_n_cells(g);
    alig_grid_result *res = calloc(n, sizeof *res);
    /* cells 1 (a, batch 1, eta 0.1, seed 1) and 13 (b, batch 1, lr 0.001, seed 1), recorded in reverse */
    res[13] = (alig_grid_result){ .done = 1, .status = ALIG_GRID_NONFINITE, .exit_code = 1, .steps = NAN,
                                  .obj_first = NAN, .obj_last = NAN, .obj_best = NAN, .metric_last = NAN,
                                  .metric_best = NAN, .wall_s = 0.5, .note = "x, \"y\"" };
    res[1] = (alig_grid_result){ .done = 1, .status = ALIG_GRID_OK, .steps = 50, .obj_first = 0.5, .obj_last = 0.125,
                                 .obj_best = 0.125, .metric = "avg_gap", .metric_last = 0.25, .metric_best = 0.25,
                                 .wall_s = 1.0 / 3.0 };
    char path[512];
    snprintf(path, sizeof path, "%s/summary.csv", tmpdir);
    CU_ASSERT_EQUAL_FATAL(alig_grid_summary_write(g, res, path), ALIG_SUCCESS);
    char *text = slurp(path);
    CU_ASSERT_STRING_EQUAL(text,
                           "cell,method,batch,eta,lr,seed,status,exit,steps,obj_first,obj_last,obj_best,metric,"
                           "metric_last,metric_best,note,wall_s\n"
                           "a__batch=1__eta=0.1__s1,a,1,0.1,,1,ok,0,50,0.5,0.125,0.125,avg_gap,0.25,0.25,,0.333\n"
                           "b__batch=1__lr=0.001__s1,b,1,,0.001,1,non-finite,1,nan,nan,nan,nan,,nan,nan,\"x, \"\"y\"\"\",0.500\n");
    free(text);
    snprintf(path, sizeof path, "%s/summary.csv.tmp", tmpdir);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);     /* no temporary left behind */

    /* resume bookkeeping in tmpdir/sw */
    char dir[512], cell[4400], file[4600];
    snprintf(dir, sizeof dir, "%s/sw", tmpdir);
    int fin = -1;
    alig_grid_result r;
    CU_ASSERT_EQUAL(alig_grid_cell_finished(g, dir, 13, &fin, &r), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(fin, 0);                         /* nothing there yet */
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_prepare(g, dir, 13, cell, sizeof cell, NULL, 0), ALIG_SUCCESS);
    snprintf(file, sizeof file, "%s/sw/cells/b__batch=1__lr=0.001__s1", tmpdir);
    CU_ASSERT_STRING_EQUAL(cell, file);
    snprintf(file, sizeof file, "%s/config.json", cell);
    char *cfg = slurp(file), *want;
    alig_grid_cell_config(g, 13, &want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_STRING_EQUAL(cfg, want);
    free(cfg);
    free(want);
    alig_grid_cell_finished(g, dir, 13, &fin, &r);
    CU_ASSERT_EQUAL(fin, 0);                         /* config but no result: a run that was cut short */
    CU_ASSERT_EQUAL(alig_grid_cell_store(g, dir, 13, &res[13]), ALIG_SUCCESS);
    alig_grid_cell_finished(g, dir, 13, &fin, &r);
    CU_ASSERT_EQUAL(fin, 1);
    CU_ASSERT_EQUAL(r.status, ALIG_GRID_NONFINITE);
    CU_ASSERT_STRING_EQUAL(r.note, res[13].note);
    /* a result.json cut short does not count */
    snprintf(file, sizeof file, "%s/result.json", cell);
    put(file, "{\n  \"status\": \"ok\",\n");
    alig_grid_cell_finished(g, dir, 13, &fin, &r);
    CU_ASSERT_EQUAL(fin, 0);
    CU_ASSERT_EQUAL(alig_grid_cell_store(g, dir, 13, &res[13]), ALIG_SUCCESS);
    /* the same cell name under another command line (a changed base) is not finished */
    alig_grid *h;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text("base = solve --problem smooth --iters 7\nseeds = 0,1\n[common]\n"
                                               "batch = 1,10\n[method a]\nargs = --solver alig\neta = 0.1,1,10\n"
                                               "[method b]\nargs = --solver sgd\nlr = 1e-3:1e-1:log:3\n",
                                               "h", &h, err, sizeof err), ALIG_SUCCESS);
    char nh[ALIG_GRID_MAX_NAME];
    alig_grid_cell_name(h, 13, nh, sizeof nh);
    CU_ASSERT_STRING_EQUAL(nh, "b__batch=1__lr=0.001__s1");
    alig_grid_cell_finished(h, dir, 13, &fin, &r);
    CU_ASSERT_EQUAL(fin, 0);
    alig_grid_free(h);
    /* prepare again: the earlier attempt's files are gone, the config is back */
    snprintf(file, sizeof file, "%s/run.csv", cell);
    put(file, "partial");
    snprintf(file, sizeof file, "%s/run.csv.tmp.abc123", cell);
    put(file, "partial");
    CU_ASSERT_EQUAL(alig_grid_cell_prepare(g, dir, 13, cell, sizeof cell, NULL, 0), ALIG_SUCCESS);
    CU_ASSERT_NOT_EQUAL(access(file, F_OK), 0);
    snprintf(file, sizeof file, "%s/run.csv", cell);
    CU_ASSERT_NOT_EQUAL(access(file, F_OK), 0);
    snprintf(file, sizeof file, "%s/result.json", cell);
    CU_ASSERT_NOT_EQUAL(access(file, F_OK), 0);
    alig_grid_cell_finished(g, dir, 13, &fin, &r);
    CU_ASSERT_EQUAL(fin, 0);
    free(res);
    alig_grid_free(g);
}

/* ------------------------------------------------------------------ scales and variables */

static const char *const scaled_protocol =
    "scales = big, small\n"                              /* 1 */
    "seeds = 0-2\n"
    "base = train --model m --epochs 100\n"
    "[scale small]\n"
    "base = train --model s --epochs 2\n"                /* 5 */
    "seeds = 0\n"
    "threads_per_cell = 2\n"
    "[common]\n"
    "batch = 64, 128\n"
    "[method a]\n"                                       /* 10 */
    "args = --opt sgd --milestones 50,75 --data-dir ${dir}\n"
    "lr = 1e-3, 1e-2, 1e-1\n"
    "weight-decay = 1e-4, 5e-4\n"
    "[method b]\n"
    "args = --opt alig\n"                                /* 15 */
    "eta = 0.1, 1\n"
    "[scale small: common]\n"
    "batch = 32\n"
    "[scale small: method a]\n"
    "args = --opt sgd --milestones 1 --data-dir ${dir}\n" /* 20 */
    "lr = 1e-2\n"
    "momentum = 0, 0.9\n"
    "[scale big: method only-big]\n"
    "args = --opt adam\n"
    "lr = 1e-4, 1e-3\n";                                 /* 25 */

/* parse `text` at `scale` (with variable dir=/d unless no_vars) and expect failure "p.sweep:LINE: ...needle" */
static void bad_scaled(const char *text, const char *scale, int line, const char *needle)
{
    const char *names[] = { "dir" }, *values[] = { "/d" };
    alig_grid_parse_opts o = { .scale = scale, .n_vars = 1, .var_names = names, .var_values = values };
    alig_grid *g = (alig_grid *)1;
    char err[512] = "", prefix[64];
    alig_status st = alig_grid_parse_text_ex(text, "p.sweep", &o, &g, err, sizeof err);
    CU_ASSERT(st == ALIG_EFORMAT || st == ALIG_EINVAL);
    CU_ASSERT_PTR_NULL(g);
    if (line > 0) snprintf(prefix, sizeof prefix, "p.sweep:%d: ", line);
    else snprintf(prefix, sizeof prefix, "p.sweep: ");
    const int ok = !strncmp(err, prefix, strlen(prefix)) && strstr(err, needle);
    CU_ASSERT(ok);
    if (!ok) printf("\n  got '%s', wanted '%s...%s'\n", err, prefix, needle);
}

/* the command line of cell i, space-joined */
static void cell_line(const alig_grid *g, size_t i, char *buf, size_t len)
{
    char **argv;
    size_t argc, used = 0;
    buf[0] = 0;
    if (alig_grid_cell_argv(g, i, &argv, &argc)) return;
    for (size_t k = 0; k < argc && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? " " : "", argv[k]);
    alig_grid_argv_free(argv);
}

static void test_scales(void)
{
    const char *names[] = { "dir" }, *values[] = { "/data/x" };
    alig_grid_parse_opts o = { .scale = "big", .n_vars = 1, .var_names = names, .var_values = values };
    alig_grid *g;
    char err[512] = "", line[1024], name[ALIG_GRID_MAX_NAME];
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text_ex(scaled_protocol, "p.sweep", &o, &g, err, sizeof err), ALIG_SUCCESS);
    /* big: a = 2 batch x 3 lr x 2 wd, b = 2 x 2, only-big = 2 x 2; all x 3 seeds */
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), (12 + 4 + 4) * 3);
    CU_ASSERT_EQUAL(g->n_methods, 3);
    CU_ASSERT_STRING_EQUAL(g->methods[2].name, "only-big");
    CU_ASSERT_EQUAL(g->threads, 1);
    cell_line(g, 0, line, sizeof line);
    CU_ASSERT_STRING_EQUAL(line, "train --model m --epochs 100 --opt sgd --milestones 50,75 --data-dir /data/x "
                                 "--batch 64 --lr 1e-3 --weight-decay 1e-4 --seed 0 --out run");
    alig_grid_free(g);

    o.scale = "small";
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text_ex(scaled_protocol, "p.sweep", &o, &g, err, sizeof err), ALIG_SUCCESS);
    /* small: a = 1 batch x 1 lr x 2 wd x 2 momentum (new axis, after the unscoped ones), b = 1 x 2; one seed */
    CU_ASSERT_EQUAL(alig_grid_n_cells(g), 4 + 2);
    CU_ASSERT_EQUAL(g->n_methods, 2);
    CU_ASSERT_EQUAL(g->threads, 2);
    cell_line(g, 1, line, sizeof line);
    CU_ASSERT_STRING_EQUAL(line, "train --model s --epochs 2 --opt sgd --milestones 1 --data-dir /data/x --batch 32 "
                                 "--lr 1e-2 --weight-decay 1e-4 --momentum 0.9 --seed 0 --out run");
    alig_grid_cell_name(g, 1, name, sizeof name);
    CU_ASSERT_STRING_EQUAL(name, "a__weight-decay=1e-4__momentum=0.9__s0");
    /* threads_per_cell != 1 is part of the cell's identity; the canonical text keeps it */
    char *json;
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_config(g, 1, &json), ALIG_SUCCESS);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"threads_per_cell\": 2,"));
    free(json);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_EQUAL(alig_grid_write_protocol(g, f), ALIG_SUCCESS);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "threads_per_cell = 2\n"));
    alig_grid *h;
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text(text, "canonical", &h, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_n_cells(h), alig_grid_n_cells(g));
    for (size_t i = 0; i < alig_grid_n_cells(g); i++) {
        char *a, *b;
        alig_grid_cell_config(g, i, &a);
        alig_grid_cell_config(h, i, &b);
        CU_ASSERT_STRING_EQUAL(a, b);
        free(a);
        free(b);
    }
    alig_grid_free(h);
    free(text);
    alig_grid_free(g);

    /* a thread override; with 1 thread config.json has no threads member (the text of earlier versions) */
    o.threads = 1;
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text_ex(scaled_protocol, "p.sweep", &o, &g, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(g->threads, 1);
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_config(g, 0, &json), ALIG_SUCCESS);
    CU_ASSERT_PTR_NULL(strstr(json, "threads"));
    free(json);
    alig_grid_free(g);
    o.threads = 0;

    /* an unset variable: an error naming its line, or kept as written when allowed */
    o.n_vars = 0;
    CU_ASSERT_EQUAL(alig_grid_parse_text_ex(scaled_protocol, "p.sweep", &o, &g, err, sizeof err), ALIG_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "p.sweep:20: ${dir} is not set"));
    o.allow_unset = 1;
    CU_ASSERT_EQUAL_FATAL(alig_grid_parse_text_ex(scaled_protocol, "p.sweep", &o, &g, err, sizeof err), ALIG_SUCCESS);
    cell_line(g, 0, line, sizeof line);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "--data-dir ${dir} "));
    alig_grid_free(g);

    /* scale errors name the file and the line */
    bad_scaled(scaled_protocol, NULL, 1, "this protocol has scales big, small: choose one");
    bad_scaled(scaled_protocol, "huge", 1, "unknown scale 'huge' (this protocol's scales: big, small)");
    bad_scaled("base = solve\n", "big", 0, "has no scales");
    bad_scaled("base = solve\n[scale big]\nseeds = 1\n", "big", 2, "declare the protocol's scales first");
    bad_scaled("scales = a\nbase = solve\n[scale b]\nseeds = 1\n", "a", 3, "unknown scale 'b'");
    bad_scaled("scales = a\nbase = solve\n[scale b: method x]\nlr = 1\n", "a", 3, "unknown scale 'b'");
    bad_scaled("scales = a\nbase = solve\n[scale a]\nscales = b\n", "a", 4, "'scales' belongs at the top");
    bad_scaled("scales = a\nbase = solve\n[scale a]\nseeds = 1\n[scale a]\n", "a", 5, "[scale a] appears twice");
    bad_scaled("scales = a\nbase = solve\n[scale a: method x]\nlr = 1\n[scale a: method x]\n", "a", 5,
               "[scale a: method x] appears twice");
    bad_scaled("scales = a\nbase = solve\n[scale a]\nfoo = 1\n", "a", 4, "unknown key 'foo'");
    bad_scaled("scales = a, a\nbase = solve\n", "a", 1, "'a' appears twice");
    bad_scaled("scales = a\nscales = b\nbase = solve\n", "a", 2, "'scales' is given twice");
    bad_scaled("scales = a, b\nseeds = 1\n[scale a]\nbase = solve\n", "b", 4, "missing key 'base'");
    /* an error inside a scale section is reported at its own line when that scale is built */
    bad_scaled("scales = a, b\nbase = solve\n[method x]\nlr = 1\n[scale b: method x]\nlr = 0:1:log:3\n", "b", 6,
               "axis lr");
    bad_scaled("scales = a\nbase = solve\n[scale a]\nthreads_per_cell = 0\n", "a", 4, "threads_per_cell");
    bad_scaled("scales = a\nbase = solve --x ${bad name}\n", "a", 2, "a variable is ${NAME}");
    /* the other scale builds: its error does not block scale a */
    CU_ASSERT_EQUAL(alig_grid_parse_text_ex("scales = a, b\nbase = solve\n[method x]\nlr = 1\n[scale b: method x]\n"
                                            "lr = 0:1:log:3\n", "p.sweep",
                                            &(alig_grid_parse_opts){ .scale = "a" }, &g, err, sizeof err),
                    ALIG_SUCCESS);
    alig_grid_free(g);
}

/* ------------------------------------------------------------------ compute estimates */

static alig_grid *train_grid(const char *base, const char *axis, const char *values)
{
    alig_grid *g;
    char err[256];
    if (alig_grid_alloc(&g)) return NULL;
    CU_ASSERT_EQUAL(alig_grid_set_base(g, base, err, sizeof err), ALIG_SUCCESS);
    if (axis) CU_ASSERT_EQUAL(alig_grid_add_axis(g, (size_t)-1, axis, values, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_EQUAL(alig_grid_validate(g, err, sizeof err), ALIG_SUCCESS);
    return g;
}

static void test_estimate(void)
{
    alig_grid_work w;
    char err[256];
    /* CIFAR-10: 50,000 - 5,000 validation = 45,000 per epoch, 3 epochs; evaluation 3 x (5,000 + 10,000) */
    alig_grid *g = train_grid("train --data cifar10 --data-dir d --model wrn-16-4 --epochs 3", "batch", "128,1000");
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_work(g, 1, &w, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w.train_size, 45000, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.images, 135000, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.eval_images, 45000, 0);
    CU_ASSERT_EQUAL(w.batch, 1000);
    CU_ASSERT_STRING_EQUAL(w.config, "input=3x32x32 classes=10 model=wrn-16-4 batch=1000 dropout=0 augment=on");
    alig_grid_free(g);
    /* SVHN: 73,257 - 6,000 + 531,131 extra = 598,388; without extra 67,257; test 26,032 */
    g = train_grid("train --data svhn --data-dir d --model wrn-16-4 --dropout 0.4 --epochs 2", "svhn-extra", "on,off");
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_work(g, 0, &w, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w.images, 2.0 * 598388, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.eval_images, 2.0 * (6000 + 26032), 0);
    CU_ASSERT_STRING_EQUAL(w.config, "input=3x32x32 classes=10 model=wrn-16-4 batch=128 dropout=0.4 augment=off");
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_work(g, 1, &w, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w.images, 2.0 * 67257, 0);
    alig_grid_free(g);
    /* Fashion-MNIST: 60,000 - 1,000 = 59,000, first 3,000 of them, 4 epochs; --max-batches 7 x 100 = 700 per epoch */
    g = train_grid("train --model wrn-10-1 --val 1000 --train-subset 3000 --test-subset 2000 --epochs 4 --batch 100",
                   "max-batches", "7,1000");
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_work(g, 0, &w, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w.per_epoch, 700, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.images, 2800, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.eval_images, 4.0 * 3000, 0);
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_work(g, 1, &w, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w.images, 12000, 0);
    CU_ASSERT_STRING_EQUAL(w.config, "input=1x28x28 classes=10 model=wrn-10-1 batch=100 dropout=0 augment=off");
    alig_grid_free(g);
    /* step mode: steps x batch; CIFAR-100 coarse labels: 20 classes */
    g = train_grid("train --data cifar100 --data-dir d --labels coarse --model cnn --steps 50 --batch 64", NULL, NULL);
    CU_ASSERT_EQUAL_FATAL(alig_grid_cell_work(g, 0, &w, err, sizeof err), ALIG_SUCCESS);
    CU_ASSERT_DOUBLE_EQUAL(w.images, 3200, 0);
    CU_ASSERT_DOUBLE_EQUAL(w.eval_images, 0, 0);
    CU_ASSERT_EQUAL(w.classes, 20);
    alig_grid_free(g);
    /* what cannot be counted */
    static const struct { const char *base, *needle; } bad[] = {
        { "solve --problem smooth", "train grids" },
        { "train --task repeat-copy --model dnc --steps 10", "repeat-copy" },
        { "train --data /some/dir --model cnn --epochs 1", "--data /some/dir" },
        { "train --train-images a --train-labels b --test-images c --test-labels d --model cnn --epochs 1", "IDX" },
        { "train --model cnn", "--epochs" },
        { "train --epochs 2", "--model" },
        { "train --model cnn --epochs 1 --val 60000", "no training image" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        g = train_grid(bad[k].base, NULL, NULL);
        err[0] = 0;
        CU_ASSERT_EQUAL(alig_grid_cell_work(g, 0, &w, err, sizeof err), ALIG_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[k].needle));
        if (!strstr(err, bad[k].needle)) printf("\n  %s: '%s' lacks '%s'\n", bad[k].base, err, bad[k].needle);
        alig_grid_free(g);
    }

    /* the schedule of a sweep, by hand: times 3, 1, 2, 2 on 2 slots: cell 0 on slot 0 (0-3), cell 1 on
     * slot 1 (0-1), cell 2 on slot 1 (1-3), cell 3 on slot 0, free first among the two free at 3 (3-5) */
    const double t[] = { 3, 1, 2, 2 };
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(t, 4, 2), 5, 0);
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(t, 4, 1), 8, 0);      /* one slot: the sum */
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(t, 4, 4), 3, 0);      /* a slot each: the longest */
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(t, 4, 100), 3, 0);
    /* 1, 1, 1, 5 on 3 slots: the long cell starts at 1, ends at 6 (the order matters: 5 first would end at 5) */
    const double u[] = { 1, 1, 1, 5 }, v[] = { 5, 1, 1, 1 };
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(u, 4, 3), 6, 0);
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(v, 4, 3), 5, 0);
    CU_ASSERT_DOUBLE_EQUAL(alig_grid_schedule(t, 0, 2), 0, 0);
    CU_ASSERT(isnan(alig_grid_schedule(t, 4, 0)));
    const double neg[] = { 1, -1 };
    CU_ASSERT(isnan(alig_grid_schedule(neg, 2, 1)));
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/alig_test_grid.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("grid", NULL, NULL);
    if (!s || !CU_add_test(s, "enumeration, names, argv, config", test_enumeration) ||
        !CU_add_test(s, "value lists and ranges", test_ranges) ||
        !CU_add_test(s, "seeds, base and name checks", test_seeds_and_names) ||
        !CU_add_test(s, "protocol files: parse, round trip, errors with file:line", test_protocol) ||
        !CU_add_test(s, "protocol scales, variables, threads per cell", test_scales) ||
        !CU_add_test(s, "compute estimate: images per cell, schedule", test_estimate) ||
        !CU_add_test(s, "classification of finished runs", test_classify) ||
        !CU_add_test(s, "result.json round trip", test_result_text) ||
        !CU_add_test(s, "summary table and resume bookkeeping", test_summary_and_resume)) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return fails ? 1 : 0;
}
