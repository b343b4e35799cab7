/* plot.h - run gnuplot as a subprocess (CLI side only; the library never plots).
 *
 * Figures are produced by writing a gnuplot script (plus data files) and running
 * `gnuplot SCRIPT`. A script usually draws one figure twice, once per terminal:
 *
 *     set terminal svg size 800,500 ...       ; set output 'x.svg.tmp' ; plot ...
 *     set terminal <alig_plot_png_terminal()> ; set output 'x.png.tmp' ; replot
 *
 * and the caller renames the .tmp outputs into place (atomic outputs).
 * alig_plot_render() does exactly that around a script "body" that only plots.
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

/** Draw one figure to `<out_stem>.svg` and `<out_stem>.png`.
 *  `body` is gnuplot text that sets titles/axes and ends with a plot command;
 *  it must not set the terminal or output. `width`,`height` are pixels (0: 800x500).
 *  Writes `<out_stem>.gp` (the full script, kept for reproducibility), runs it
 *  writing to .tmp files, then renames both into place. */
int alig_plot_render(const char *out_stem, const char *body, int width, int height,
                     char *err, size_t errlen);

#endif
