#!/usr/bin/env bash
# test_sweep.sh - `alig sweep` end to end on a convex problem: 2 methods x 3 rates x 2 seeds.
#   1. --jobs 2 gives the summary of --jobs 1 byte for byte (wall time column aside);
#   2. each cell's numbers are those of the same `alig solve` run by hand (an independent run);
#   3. the status rules on known cells: SGD with lr 3 ends above 1000 x its start (diverged),
#      with lr 1000 stops on a NaN/inf (non-finite);
#   4. rerunning a finished sweep runs nothing; a sweep killed with kill -9 mid-way, then
#      restarted, ends with the summary of the uninterrupted one, and its cells died with it;
#   5. usage errors (one line, exit 2), protocol errors with file:line, --plot outputs;
#   6. the thread count of the cells: each cell runs with OMP_NUM_THREADS = --threads-per-cell
#      (a train cell records the count it used), and the count is part of a cell's identity: a
#      cell run with another count is run again.
NAME=test_sweep.sh
PREFIX=(sweep)
. "$(dirname "$0")/lib/harness.sh"

BASE="solve --problem smooth --iters 200"
GRID=(--base "$BASE" --method alig --args "--solver alig" --axis eta=0.1,1,inf
      --method sgd --args "--solver sgd" --axis lr=0.01,3,1000 --seeds 1,2 --quiet)

# summary without its last column (wall_s: the only column that depends on timing)
nowall() { sed 's/,[^,]*$//' "$1"; }

# ---- 1. jobs 1 vs jobs 2
run 0 "${GRID[@]}" --out "$TMP/j1" --jobs 1
run 0 "${GRID[@]}" --out "$TMP/j2" --jobs 2
check "summary has a header and 12 rows" [ "$(wc -l <"$TMP/j1/summary.csv")" -eq 13 ]
check "--jobs 2 summary equals --jobs 1 (wall time aside)" cmp -s <(nowall "$TMP/j1/summary.csv") <(nowall "$TMP/j2/summary.csv")
check "wall_s is a positive number in every row" \
    awk -F, 'NR > 1 && !($NF > 0) { bad = 1 } END { exit bad }' "$TMP/j1/summary.csv"
check "the rows are in grid order" cmp -s <(cut -d, -f1 "$TMP/j1/summary.csv") - <<'EOF'
cell
alig__eta=0.1__s1
alig__eta=0.1__s2
alig__eta=1__s1
alig__eta=1__s2
alig__eta=inf__s1
alig__eta=inf__s2
sgd__lr=0.01__s1
sgd__lr=0.01__s2
sgd__lr=3__s1
sgd__lr=3__s2
sgd__lr=1000__s1
sgd__lr=1000__s2
EOF

# ---- 2. a cell against the same run by hand
(cd "$TMP" && "$ALIG" solve --problem smooth --iters 200 --solver alig --eta 1 --seed 2 --out hand.csv >/dev/null)
check "cell alig eta=1 seed 2: run.csv equals a hand run" cmp -s "$TMP/hand.csv" "$TMP/j2/cells/alig__eta=1__s2/run.csv"
row=$(grep '^alig__eta=1__s2,' "$TMP/j2/summary.csv")
first=$(sed -n 2p "$TMP/hand.csv" | cut -d, -f3)
last=$(tail -1 "$TMP/hand.csv" | cut -d, -f3)
best=$(tail -n +2 "$TMP/hand.csv" | cut -d, -f3 | sort -g | head -1)
avg_last=$(tail -1 "$TMP/hand.csv" | cut -d, -f4)
# columns: cell,method,eta,lr,seed,status,exit,steps,obj_first,obj_last,obj_best,metric,metric_last,...
same() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0 && a != "") }'; }   # equal as doubles
check "obj_first = f_gap of row 0 ($first)" same "$(cut -d, -f9 <<<"$row")" "$first"
check "obj_last = the last f_gap ($last)" same "$(cut -d, -f10 <<<"$row")" "$last"
check "obj_best = the smallest f_gap ($best)" same "$(cut -d, -f11 <<<"$row")" "$best"
check "metric_last = the last avg_gap ($avg_last)" same "$(cut -d, -f13 <<<"$row")" "$avg_last"
check "steps = 200, status ok, exit 0" [ "$(cut -d, -f5-8 <<<"$row")" = "2,ok,0,200" ]
check "config.json holds the cell's command line" \
    grep -qF '"argv": ["solve", "--problem", "smooth", "--iters", "200", "--solver", "alig", "--eta", "1", "--seed", "2", "--out", "run.csv"]' \
    "$TMP/j2/cells/alig__eta=1__s2/config.json"

# ---- 3. status rules, checked against hand runs
(cd "$TMP" && "$ALIG" solve --problem smooth --iters 200 --solver sgd --lr 3 --seed 1 --out div.csv >/dev/null 2>"$TMP/div.err")
check "hand run: sgd lr 3 explodes and says it diverged" grep -q 'sgd diverged: ' "$TMP/div.err"
check "hand run: sgd lr 3 writes nothing" [ ! -e "$TMP/div.csv" ]
check "sgd lr=3 is 'diverged' with exit 1" grep -q '^sgd__lr=3__s1,sgd,,3,1,diverged,1,' "$TMP/j1/summary.csv"
(cd "$TMP" && "$ALIG" solve --problem smooth --iters 200 --solver sgd --lr 1000 --seed 1 --out nan.csv >/dev/null 2>&1)
check "hand run: sgd lr 1000 exits 1 and writes nothing" [ ! -e "$TMP/nan.csv" ]
check "sgd lr=1000 is 'non-finite' with exit 1" grep -q '^sgd__lr=1000__s1,sgd,,1000,1,non-finite,1,nan,' "$TMP/j1/summary.csv"
check "its note is the run's message" grep -q 'sgd__lr=1000__s1.*diverged at step' "$TMP/j1/summary.csv"
check "alig rows are ok" [ "$(grep -c '^alig__.*,ok,0,200,' "$TMP/j1/summary.csv")" -eq 6 ]

# ---- 4a. a second run of a finished sweep runs nothing
ls -l --time-style=+%s.%N "$TMP"/j1/cells/*/result.json >"$TMP/before"
cp "$TMP/j1/summary.csv" "$TMP/summary.before"
run 0 "${GRID[@]}" --out "$TMP/j1" --jobs 2
ls -l --time-style=+%s.%N "$TMP"/j1/cells/*/result.json >"$TMP/after"
check "rerun: no cell ran again" cmp -s "$TMP/before" "$TMP/after"
check "rerun: summary unchanged, wall time included" cmp -s "$TMP/summary.before" "$TMP/j1/summary.csv"

# ---- 4b. kill -9 mid-sweep, restart
"$ALIG" sweep "${GRID[@]}" --out "$TMP/k" --jobs 2 >/dev/null 2>&1 &
pid=$!
disown "$pid"     # no "Killed" notice from bash
for _ in $(seq 1 400); do
    n=$(ls "$TMP"/k/cells/*/result.json 2>/dev/null | wc -l)
    [ "$n" -ge 2 ] && break
    sleep 0.02
done
kill -9 "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
finished=$(ls "$TMP"/k/cells/*/result.json 2>/dev/null | wc -l)
check "kill -9 landed mid-sweep ($finished of 12 cells finished)" [ "$finished" -ge 1 ] && [ "$finished" -lt 12 ]
sleep 0.2
orphans=0
for p in /proc/[0-9]*; do
    case "$(readlink "$p/cwd" 2>/dev/null)" in "$TMP/k"*) orphans=$((orphans + 1)) ;; esac
done
check "no cell outlived the killed sweep ($orphans left)" [ "$orphans" -eq 0 ]
run 0 "${GRID[@]}" --out "$TMP/k" --jobs 2
check "killed + restarted summary equals the uninterrupted one" \
    cmp -s <(nowall "$TMP/j1/summary.csv") <(nowall "$TMP/k/summary.csv")
# a cell whose run was cut (config, partial output, no result) is rerun from scratch
rm "$TMP/k/cells/alig__eta=inf__s1/result.json"
echo "partial" >"$TMP/k/cells/alig__eta=inf__s1/run.csv"
run 0 "${GRID[@]}" --out "$TMP/k" --jobs 1
check "a cut cell is rerun, same summary" cmp -s <(nowall "$TMP/j1/summary.csv") <(nowall "$TMP/k/summary.csv")
check "a cut cell's run.csv is whole again" cmp -s "$TMP/j1/cells/alig__eta=inf__s1/run.csv" "$TMP/k/cells/alig__eta=inf__s1/run.csv"

# ---- 4c. a second sweep on a directory in use is refused (the lock is an fcntl lock, as Python's lockf)
/usr/bin/python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.lockf(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(60)' \
    "$TMP/j1/.lock" >"$TMP/lockpy" &
lockpid=$!
for _ in $(seq 1 500); do grep -q locked "$TMP/lockpy" && break; sleep 0.01; done
run 1 "${GRID[@]}" --out "$TMP/j1" && check "a locked directory is refused" grep -q "another sweep is running" "$TMP/err"
kill "$lockpid"
wait "$lockpid" 2>/dev/null

# ---- 5. errors
usage_error "missing --base" --out "$TMP/u"
usage_error "expected NAME=VALUES" --base "$BASE" --axis lr --out "$TMP/u"
usage_error "not a range" --base "$BASE" --axis lr=1:2:cubic:3 --out "$TMP/u"
usage_error "is already in the base command" --base "$BASE --solver sgd --lr 1" --axis lr=1,2 --out "$TMP/u"
usage_error "'rates' is not a command a sweep can run" --base "rates" --out "$TMP/u"
usage_error "--out" --base "solve --out x.csv" --out "$TMP/u"
usage_error "--args goes after --method" --base "$BASE" --args "--solver sgd" --out "$TMP/u"
usage_error "unknown argument '--bogus'" --base "$BASE" --bogus --out "$TMP/u"
usage_error "missing --out DIR" --base "$BASE"
printf 'base = solve --problem smooth\n[method a]\nargs = --solver alig\nlr = 1\nfoo\n' >"$TMP/bad.sweep"
usage_error "$TMP/bad.sweep:5: expected 'key = value'" --protocol "$TMP/bad.sweep" --out "$TMP/u"
usage_error "cannot be combined" --protocol "$TMP/bad.sweep" --axis lr=1 --out "$TMP/u"
check "no directory was created by a usage error" [ ! -e "$TMP/u" ]
run 2 --plot "$TMP/nothing-here" && check "--plot of a missing sweep names it" grep -q "nothing-here" "$TMP/err"
# a base with a bad flag: every cell fails, the sweep says so and exits 1
run 1 --base "solve --problem smooth --iters 5 --bogus 1" --axis batch=1,2 --out "$TMP/f" --quiet
check "failed cells are reported" grep -q "2 of 2 cells failed" "$TMP/err"
check "failed rows carry the run's message" grep -q ',failed,2,.*bogus' "$TMP/f/summary.csv"

# dry run lists the cells and their commands
run 0 "${GRID[@]}" --dry-run
check "dry run: 12 cells" grep -q '^12 cells$' "$TMP/out"
check "dry run: a command line" grep -qF 'sgd__lr=3__s2: alig solve --problem smooth --iters 200 --solver sgd --lr 3 --seed 2 --out run.csv' "$TMP/out"

# ---- the same sweep from the protocol file in experiments/protocols
run 0 --protocol "$ALIG_SOURCE_DIR/experiments/protocols/convex-smoke.sweep" --out "$TMP/p" --jobs 2 --quiet
check "protocol convex-smoke: summary equals the command-line grid" \
    cmp -s <(nowall "$TMP/j1/summary.csv") <(nowall "$TMP/p/summary.csv")

# ---- figures and table
run 0 --plot "$TMP/j1"
for f in summary.md figures/heatmap.svg figures/heatmap.png figures/objective.svg figures/objective.png; do
    check "--plot wrote $f" [ -s "$TMP/j1/$f" ]
done
# medians over 2 seeds by hand: (a + b) / 2 of the two alig eta=1 final gaps, printed with %.3g
m=$(grep -E '^alig__eta=1__s[12],' "$TMP/j1/summary.csv" | cut -d, -f10 | awk '{ s += $1 } END { printf "%.3g", s / 2 }')
check "summary.md: alig at eta=1 shows the median $m" grep -qE "^\| alig \|.*\| $m \|" "$TMP/j1/summary.md"
check "summary.md: sgd shows div and NaN" grep -qE '^\| sgd \|.*\| div \| NaN \|' "$TMP/j1/summary.md"
check "heatmap labels the axis with η" grep -q 'η' "$TMP/j1/figures/heatmap.gp"
# alig's η and sgd's lr are different axes: one table and one panel each, and no column of one in
# the other's table (the lr table has no 1e5 column, the η table no 1e-3 ... of sgd's)
check "summary.md: one table per step-size axis" \
    sh -c "grep -q '^## η' '$TMP/j1/summary.md' && grep -q '^## learning rate' '$TMP/j1/summary.md'"
check "summary.md: the η table holds alig only" \
    sh -c "sed -n '/^## η/,/^## /p' '$TMP/j1/summary.md' | grep -q '^| alig |' && ! sed -n '/^## η/,/^## /p' '$TMP/j1/summary.md' | grep -q '^| sgd |'"
check "heatmap: one panel per axis" test "$(grep -c '^set xlabel' "$TMP/j1/figures/heatmap.gp")" -ge 4
# a method without a rate axis beside one with: its own panel in the heatmap, no panel (nothing to put
# on a log axis) in the objective figure, and --plot still succeeds; alone, an empty frame says so
run 0 --base "solve --problem smooth --iters 20" --method fixed --args "--solver alig --eta 1" \
    --method sgd --args "--solver sgd" --axis lr=0.01,0.1 --seeds 1 --out "$TMP/mix" --quiet
run 0 --plot "$TMP/mix"
check "--plot: a method without a rate axis beside one with" [ -s "$TMP/mix/figures/objective.png" ]
check "summary.md: the row without a rate axis gives its value as best" grep -qE '^\| fixed \| [0-9.e-]+ \| [0-9.e-]+ \|$' "$TMP/mix/summary.md"
run 0 --base "solve --problem smooth --iters 20" --method fixed --args "--solver alig --eta 1" --seeds 1 --out "$TMP/norate" --quiet
run 0 --plot "$TMP/norate"
check "--plot: no rate axis at all: an empty objective frame that says so" grep -q 'no step-size axis' "$TMP/norate/figures/objective.gp"

# ---- 6. threads per cell
check "1 thread per cell: config.json has no threads member (the text of earlier sweeps)" \
    bash -c "! grep -q threads '$TMP/j1/cells/alig__eta=1__s2/config.json'"
check "1 thread per cell: sweep.protocol says so" grep -qx 'threads_per_cell = 1' "$TMP/j1/sweep.protocol"
cp -r "$TMP/j1" "$TMP/t2"
ls -l --time-style=+%s.%N "$TMP"/t2/cells/*/result.json >"$TMP/before"
run 0 "${GRID[@]}" --out "$TMP/t2" --jobs 2 --threads-per-cell 2
ls -l --time-style=+%s.%N "$TMP"/t2/cells/*/result.json >"$TMP/after"
check "another thread count: every cell ran again" \
    [ "$(diff "$TMP/before" "$TMP/after" | grep -c '^>')" -eq 12 ]
check "2 threads per cell: config.json records them" \
    grep -q '"threads_per_cell": 2,' "$TMP/t2/cells/alig__eta=1__s2/config.json"
check "2 threads per cell: sweep.protocol records them" grep -qx 'threads_per_cell = 2' "$TMP/t2/sweep.protocol"
check "2 threads per cell: same results (a solve run is sequential)" \
    cmp -s <(nowall "$TMP/j1/summary.csv") <(nowall "$TMP/t2/summary.csv")
run 0 --plot "$TMP/t2"
check "--plot of a 2-thread sweep finds its 12 cells" grep -q '^plotted 12 of 12 cells' "$TMP/out"
# a train cell sees OMP_NUM_THREADS = T whatever the sweep's own environment holds
want=2; [ "${ALIG_OPENMP:-ON}" = OFF ] && want=1
OMP_NUM_THREADS=7 run 0 --base "train --model mlp-8 --opt sgd --epochs 1 --batch 50 --train-subset 100 --val 100 --test-subset 100" \
    --out "$TMP/tt" --threads-per-cell 2 --quiet
check "a train cell ran with $want threads (OMP_NUM_THREADS from the sweep, not 7)" \
    grep -q "\"threads\": $want," "$TMP/tt/cells/run/run/config.json"

finish
