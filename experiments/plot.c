/* plot.c - gnuplot subprocess runner (see plot.h).
 *
 * fork + execvp instead of popen/system: no shell, so paths with spaces or quotes
 * need no escaping, and the exit status of gnuplot itself (127 = not found) is
 * seen directly. gnuplot's stderr is read through a pipe so that its first error
 * line can be reported. */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_FAILED 127

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a ? a : "", b ? b : "");
}

/* Run gnuplot with argv (argv[0] = "gnuplot"); capture up to cap-1 bytes of stderr
 * into buf. Returns the wait status, or -1 if fork/pipe failed. */
static int spawn_gnuplot(char *const argv[], char *buf, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(EXEC_FAILED);
    }
    close(fds[1]);
    size_t used = 0;
    char scratch[512];
    for (;;) {
        ssize_t r = read(fds[0], scratch, sizeof scratch);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r && used + 1 < cap; i++)
            buf[used++] = scratch[i];
    }
    if (cap)
        buf[used < cap ? used : cap - 1] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

/* The line of gnuplot's stderr that names the error: gnuplot writes `"file" line N: message`,
 * possibly after warnings of the same form; prefer the last such line that is not a warning,
 * else the last such line, else the first non-blank line. */
static void first_error_line(const char *text, char *line, size_t cap)
{
    const char *first = NULL, *located = NULL, *error = NULL;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > 0) {
            if (!first) first = p;
            const char *hit = strstr(p, " line ");
            if (hit && hit < p + n) {
                located = p;
                const char *w = strstr(p, "warning:");
                if (!w || w >= p + n) error = p;
            }
        }
        p += n;
        if (*p == '\n') p++;
    }
    const char *pick = error ? error : located ? located : first;
    if (!pick) {
        snprintf(line, cap, "(no message)");
        return;
    }
    size_t n = strcspn(pick, "\n");
    if (n >= cap) n = cap - 1;
    memcpy(line, pick, n);
    line[n] = '\0';
}

int alig_plot_available(void)
{
    char *const argv[] = {"gnuplot", "--version", NULL};
    char buf[256];
    int st = spawn_gnuplot(argv, buf, sizeof buf);
    return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

const char *alig_plot_png_terminal(void)
{
    static const char *cached = NULL;
    if (!cached) {
        char *const argv[] = {"gnuplot", "-e", "set terminal pngcairo", NULL};
        char buf[512];
        int st = spawn_gnuplot(argv, buf, sizeof buf);
        /* gnuplot exits 0 even on some errors in -e; check stderr too. */
        int ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "unknown") == NULL &&
                 strstr(buf, "rror") == NULL;
        cached = ok ? "pngcairo" : "png";
    }
    return cached;
}

int alig_plot_run(const char *script_path, char *err, size_t errlen)
{
    if (!script_path) {
        set_err(err, errlen, "gnuplot: no script given%s%s", NULL, NULL);
        return -1;
    }
    char *const argv[] = {"gnuplot", (char *)script_path, NULL};
    char buf[4096];
    int st = spawn_gnuplot(argv, buf, sizeof buf);
    if (st < 0) {
        set_err(err, errlen, "cannot start gnuplot: %s%s", strerror(errno), NULL);
        return -1;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == EXEC_FAILED && strstr(buf, "gnuplot") == NULL) {
        set_err(err, errlen, "gnuplot not found on PATH (install gnuplot, e.g. apt-get install gnuplot-nox)%s%s",
                NULL, NULL);
        return -1;
    }
    if (WIFSIGNALED(st)) {
        char sig[32];
        snprintf(sig, sizeof sig, "%d", WTERMSIG(st));
        set_err(err, errlen, "gnuplot crashed on %s (killed by signal %s)", script_path, sig);
        return -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char line[512];
        first_error_line(buf, line, sizeof line);
        set_err(err, errlen, "gnuplot failed on %s: %s", script_path, line);
        return -1;
    }
    return 0;
}

/* Write a whole string to path; 0 or -1. */
static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok ? 0 : -1;
}

int alig_plot_quote(char *buf, size_t len, const char *s)
{
    if (!buf || len == 0) return -1;
    size_t k = 0;
    if (!s || len < 3) goto overflow;
    buf[k++] = '\'';
    for (; *s; s++) {
        size_t need = (*s == '\'') ? 2 : 1;
        if (k + need + 2 > len) goto overflow;
        if (*s == '\'') buf[k++] = '\'';
        buf[k++] = *s;
    }
    buf[k++] = '\'';
    buf[k] = '\0';
    return 0;
overflow:
    buf[0] = '\0';
    return -1;
}

/* gnuplot single-quoted string: only ' needs doubling. */
static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

int alig_plot_render(const char *out_stem, const char *body, int width, int height,
                     char *err, size_t errlen)
{
    if (!out_stem || !body) {
        set_err(err, errlen, "gnuplot: missing output name or plot body%s%s", NULL, NULL);
        return -1;
    }
    if (width <= 0 || height <= 0) {
        width = 800;
        height = 500;
    }
    size_t n = strlen(out_stem) + 16;
    char *gp = malloc(n), *gptmp = malloc(n), *svg = malloc(n), *svgtmp = malloc(n), *png = malloc(n),
         *pngtmp = malloc(n);
    char *text = NULL;
    size_t textlen = 0;
    int rc = -1;
    if (!gp || !gptmp || !svg || !svgtmp || !png || !pngtmp) {
        set_err(err, errlen, "out of memory%s%s", NULL, NULL);
        goto fail;
    }
    snprintf(gp, n, "%s.gp", out_stem);
    snprintf(gptmp, n, "%s.gp.tmp", out_stem);
    snprintf(svg, n, "%s.svg", out_stem);
    snprintf(svgtmp, n, "%s.svg.tmp", out_stem);
    snprintf(png, n, "%s.png", out_stem);
    snprintf(pngtmp, n, "%s.png.tmp", out_stem);

    FILE *m = open_memstream(&text, &textlen);
    if (!m) {
        set_err(err, errlen, "cannot build gnuplot script: %s%s", strerror(errno), NULL);
        goto fail;
    }
    fprintf(m, "# generated by alig; run: gnuplot %s\n", gp);
    fprintf(m, "set terminal svg size %d,%d dynamic enhanced font 'Helvetica,13' background rgb 'white'\n",
            width, height);
    fputs("set output ", m);
    gp_quote(m, svgtmp);
    fputs("\n", m);
    fputs(body, m);
    fputs("\nset output\n", m);
    const char *pngterm = alig_plot_png_terminal();
    if (strcmp(pngterm, "pngcairo") == 0)
        fprintf(m, "set terminal pngcairo size %d,%d enhanced font 'Helvetica,11' background rgb 'white'\n",
                width, height);
    else
        fprintf(m, "set terminal png size %d,%d enhanced background rgb 'white'\n", width, height);
    fputs("set output ", m);
    gp_quote(m, pngtmp);
    fputs("\n", m);
    fputs(body, m);   /* drawn again rather than `replot`, which cannot redo a multiplot */
    fputs("\nset output\n", m);
    if (fclose(m) != 0 || !text) {
        set_err(err, errlen, "cannot build gnuplot script%s%s", NULL, NULL);
        goto fail;
    }
    if (write_text(gptmp, text) != 0 || rename(gptmp, gp) != 0) {
        set_err(err, errlen, "cannot write %s: %s", gp, strerror(errno));
        remove(gptmp);
        goto fail;
    }
    if (alig_plot_run(gp, err, errlen) != 0) {
        remove(svgtmp);
        remove(pngtmp);
        goto fail;
    }
    if (rename(svgtmp, svg) != 0 || rename(pngtmp, png) != 0) {
        set_err(err, errlen, "cannot rename gnuplot output to %s: %s", svg, strerror(errno));
        remove(svgtmp);
        remove(pngtmp);
        goto fail;
    }
    rc = 0;
fail:
    free(text);
    free(gp);
    free(gptmp);
    free(svg);
    free(svgtmp);
    free(png);
    free(pngtmp);
    return rc;
}
