/* plot.h - run gnuplot as a subprocess (CLI side only; the library never plots).
 *
 * Figures are produced by writing a gnuplot script (plus data files) and running
 * `gnuplot SCRIPT`. A script usually draws one figure twice, once per terminal:
 *
 *     set terminal svg size 800,500 ...       ; set output 'x.svg.tmp' ; BODY
 *     set terminal <alig_plot_png_terminal()> ; set output 'x.png.tmp' ; BODY
 *
 * and the caller renames the .tmp outputs into place (atomic outputs).
 * alig_plot_render() does exactly that around a script BODY that only plots
 * (the body is emitted twice, so it may use `set multiplot`).
 *
 * All functions return 0 on success and -1 on failure; on failure, `err`
 * (if non-NULL) receives one line: gnuplot missing, gnuplot's own first
 * error line, or the system call that failed. Not thread-safe (caches the
 * PNG terminal choice in a static). */
#ifndef ALIG_PLOT_H
#define ALIG_PLOT_H

#include <stddef.h>

/** 1 if `gnuplot` can be executed from PATH, else 0. */
int alig_plot_available(void);

/** "pngcairo" if this gnuplot has it, else "png". Never NULL. */
const char *alig_plot_png_terminal(void);

/** Run `gnuplot script_path` (working directory unchanged), stdout discarded,
 *  stderr captured. Fails if gnuplot is missing, exits non-zero, or is killed. */
int alig_plot_run(const char *script_path, char *err, size_t errlen);

/** Write `s` as a gnuplot single-quoted string literal into buf (quotes included; an
 *  embedded ' is doubled), e.g. for file names inside a plot body. Returns -1 if it does
 *  not fit (buf then holds ""), else 0. */
int alig_plot_quote(char *buf, size_t len, const char *s);

/** Draw one figure to `<out_stem>.svg` and `<out_stem>.png`.
 *  `body` is gnuplot text that sets titles/axes and plots (multiplot allowed); it must
 *  not set the terminal or output. It runs twice in one gnuplot session, so it should
 *  set (or unset) every option it relies on. Data files are read relative to the
 *  current working directory (pass absolute paths or paths relative to it). `width`,`height` are pixels (0: 800x500).
 *  Writes `<out_stem>.gp` (the full script, kept for reproducibility), runs it
 *  writing to .tmp files, then renames both into place. */
int alig_plot_render(const char *out_stem, const char *body, int width, int height,
                     char *err, size_t errlen);

#endif
