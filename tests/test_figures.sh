#!/usr/bin/env bash
# test_figures.sh - the documentation figures are readable without the text:
#   1. rates: the gnuplot script of a class figure labels both axes with the plotted quantity, draws
#      every case's measured mean (or names it in the legend of a curve it coincides with, read back
#      from the data file), gives every bound a legend entry "bound D..", and draws 95% bands;
#   2. rates fit summary: horizontal case labels (no rotated tics), fit and theorem in the legend;
#   3. oscillation: the cycling runs are named as cycling and drawn in an inset; the legend of the
#      first panel sits outside the plot;
#   4. sweep --plot: a 1x1 grid draws (gnuplot used to crash), a sweep without --seeds does not
#      claim "0 seeds", an axis that names one number twice ("1,1.0") is refused at construction;
#   5. `alig figures --only rates` prints one summary line, not the rates table.
NAME=test_figures.sh
. "$(dirname "$0")/lib/harness.sh"

have_gnuplot=0
command -v gnuplot >/dev/null 2>&1 && have_gnuplot=1

# body SCRIPT : the plot body of a script written by alig (the text between the first two
# `set output` lines; alig_plot_render writes it once per terminal).
body() { awk '/^set output/ { n++; next } n == 1' "$1"; }

# ---------------------------------------------------------------- 1. rates class figure
PREFIX=(rates)
run 0 --problem smooth --horizon 300 --seeds 4 --seeds-cap 8 --out "$TMP/r" || { finish; exit 1; }
gp="$TMP/r/rates_smooth.gp" dat="$TMP/r/rates_smooth.dat"
check "rates_smooth.gp written" [ -s "$gp" ]
if [ $have_gnuplot -eq 1 ]; then
    check "rates_smooth.png written" [ -s "$TMP/r/rates_smooth.png" ]
    body "$gp" >"$TMP/body.gp"
else
    awk '/^set output/ { n++; next } n >= 1' "$gp" >"$TMP/body.gp"   # no gnuplot: the script has one body
fi
check "x axis labelled with the iterations" grep -q "^set xlabel 'iterations T" "$TMP/body.gp"
check "y axis names the plotted quantity E f(w̄_T) − f^⋆" grep -q '^set ylabel "E f(w̄_T) − f^⋆' "$TMP/body.gp"
check "the eta values are written with the symbol η" grep -q 'title "η = ' "$TMP/body.gp"
check "no ASCII eta= / d= legend" sh -c "! grep -q \"title 'eta=\" '$TMP/body.gp'"
check "95% bands drawn (filledcurves between the lo and hi columns)" grep -q 'using 1:(\$3>0?\$3:[^)]*):4 with filledcurves' "$TMP/body.gp"
# every bound clause (column 5) carries a legend entry naming the bound
nb=$(grep -c 'using 1:5 with lines' "$TMP/body.gp")
nbt=$(grep 'using 1:5 with lines' "$TMP/body.gp" | grep -c 'title "bound D2')
check "bounds drawn ($nb) and each has a 'bound D2' legend entry ($nbt)" [ "$nb" -gt 0 ] && [ "$nb" -eq "$nbt" ]
check "no measured curve without a legend entry" sh -c "! grep 'using 1:(\$2>0' '$TMP/body.gp' | grep -q notitle"
# The data file: 3 panels (eps = 0, small, large) x blocks. A block that is not drawn must coincide
# (within 1% at every checkpoint) with a drawn block of the same panel, whose legend says "identical".
grep -o 'index [0-9]* using 1:(\$2>0' "$TMP/body.gp" | awk '{ print $2 }' | sort -n >"$TMP/drawn"
awk -v drawn="$TMP/drawn" -v gpbody="$TMP/body.gp" '
    BEGIN {
        while ((getline l < drawn) > 0) isdrawn[l] = 1
        while ((getline l < gpbody) > 0)
            if (l ~ /identical/ && match(l, /index [0-9]+ using 1:\(\$2>0/)) {
                split(substr(l, RSTART, RLENGTH), w, " "); ident[w[2]] = 1
            }
    }
    /^# block/ { b = $3 + 0; sub(":", "", b); split($4, parts, "/"); panel[b] = parts[2]; nb = b + 1; row = 0; next }
    NF == 5 { mean[b, row++] = $2; rows = row }
    END {
        bad = 0
        for (b = 0; b < nb; b++) {
            if (b in isdrawn) continue
            found = 0
            for (d in isdrawn) {
                if (panel[d] != panel[b]) continue
                same = 1
                for (r = 0; r < rows; r++) {
                    x = mean[b, r]; y = mean[d, r]; s = (x > y ? x : y); if (s < 0) s = -s
                    diff = x - y; if (diff < 0) diff = -diff
                    if (diff > 0.01 * s) same = 0
                }
                if (same && (d in ident)) found = 1
            }
            if (!found) { print "block " b " (" panel[b] ") is neither drawn nor named identical"; bad = 1 }
        }
        if (nb < 12) { print "expected 12 or more blocks, got " nb; bad = 1 }
        exit bad
    }' "$dat" >"$TMP/cover.txt"
check "every case is drawn or named as identical to a drawn one: $(cat "$TMP/cover.txt")" [ ! -s "$TMP/cover.txt" ]

# ---------------------------------------------------------------- 2. fit summary
fits="$TMP/r/rates_fits.gp"
if [ $have_gnuplot -eq 1 ]; then
    body "$fits" >"$TMP/fits.gp"
    check "fit figure: no rotated labels" sh -c "! grep -q rotate '$TMP/fits.gp'"
    check "fit figure: cases as horizontal y labels" grep -q 'ytic(5)' "$TMP/fits.gp"
    check "fit figure: legend names the fit and the theorem" sh -c "grep -q \"title 'fitted rate\" '$TMP/fits.gp' && grep -q \"theorem's rate\" '$TMP/fits.gp'"
    check "fit figure: x axis labelled" grep -q '^set xlabel "log-log slope' "$TMP/fits.gp"
    # one row per fitted case: the rows of the data file equal the fitted cases of rates.csv
    nfit=$(awk -F, 'NR > 1 && $17 != "" && $17 != "nan" && $19 != "" && $19 != "nan"' "$TMP/r/rates.csv" | wc -l)
    nrow=$(grep -c '^[0-9]' "$TMP/r/rates_fits.dat")
    check "fit figure: one row per fitted case ($nrow rows, $nfit fitted cases)" [ "$nrow" -eq "$nfit" ]
fi

# ---------------------------------------------------------------- 3. oscillation
if [ $have_gnuplot -eq 1 ]; then
    PREFIX=(oscillation)
    run 0 --eta-max 260 --quiet --out "$TMP/o"
    body "$TMP/o/oscillation_trajectories.gp" >"$TMP/traj.gp"
    check "trajectories: the cycling runs are named as cycling" [ "$(grep -c '(cycles)' "$TMP/traj.gp")" -eq 3 ]
    check "trajectories: an inset separates the cycling runs" grep -q "^set title 'zoom: the cycling runs" "$TMP/traj.gp"
    check "trajectories: first legend outside the plot" grep -q '^set key outside below' "$TMP/traj.gp"
fi

# ---------------------------------------------------------------- 4. sweep --plot
PREFIX=(sweep)
BASE="solve --problem smooth --iters 30 --solver sgd"
run 0 --base "$BASE" --axis lr=0.1 --out "$TMP/s1" --quiet
if [ $have_gnuplot -eq 1 ]; then
    run 0 --plot "$TMP/s1"
    check "1x1 grid: heatmap drawn" [ -s "$TMP/s1/figures/heatmap.png" ]
    check "no --seeds: the title does not claim 0 seeds" sh -c "! grep -q 'over 0 seeds' '$TMP/s1/figures/heatmap.gp'"
    check "no --seeds: the title says one run per cell" grep -q 'one run per cell' "$TMP/s1/figures/heatmap.gp"
fi
usage_error "'1' and '1.0' are the same number" --base "$BASE" --axis lr=1,1.0 --out "$TMP/s2"
usage_error "'0.1' and '1e-1' are the same number" --base "$BASE" --axis lr=0.1:1:log:2,1e-1 --out "$TMP/s3"
check "refused grid: nothing written" [ ! -e "$TMP/s2" ]
printf 'base = %s\n[method sgd]\nlr = 1, 1.0\n' "$BASE" >"$TMP/dup.sweep"
run 2 --protocol "$TMP/dup.sweep" --out "$TMP/s4"
check "protocol file with 1 and 1.0: names the values" grep -q "same number" "$TMP/err"
run 0 --base "$BASE" --axis lr=1,10 --out "$TMP/s5" --quiet   # distinct numbers still accepted

# ---------------------------------------------------------------- 5. alig figures summary
if [ $have_gnuplot -eq 1 ]; then
    PREFIX=(figures)
    run 0 --only rates --out "$TMP/f"
    check "figures: one line per generator plus the closing line ($(wc -l <"$TMP/out") lines)" [ "$(wc -l <"$TMP/out")" -eq 2 ]
    check "figures: says how many bounds held" grep -q 'applicable bounds held' "$TMP/out"
    check "figures: says what it wrote" grep -q 'wrote 8 files' "$TMP/out"
    check "figures: no rates table" sh -c "! grep -q 'iterations to accuracy' '$TMP/out'"
    check "figures: the files are there" [ "$(ls "$TMP/f" | grep -c '^rates_.*\.\(svg\|png\)$')" -eq 8 ]
fi

finish
