#!/usr/bin/env bash
# test_sweep_presets.sh - the paper's protocols in experiments/protocols at both scales, the --scale
# and --set mechanisms, and the arithmetic of `alig sweep --estimate`:
#   1. every preset parses at --scale full and --scale reduced, and the dry run lists as many cells
#      as counted by hand below from each file's grid;
#   2. scale errors (none chosen, unknown, on a protocol without scales, without --protocol) and
#      unset variables are usage errors naming the file and line, and create nothing;
#   3. --set substitutes ${NAME} and makes an existing relative path absolute;
#   4. --estimate with an assumed rate (--estimate-rate) prints the images and the wall time that a
#      hand computation gives: equal cells, and Figure 4's unequal ones against a list schedule
#      simulated here in awk; a measured estimate on a tiny grid prints a rate for each configuration
#      and leaves no scratch directory; a failing timing run is reported with its message.
NAME=test_sweep_presets.sh
PREFIX=(sweep)
. "$(dirname "$0")/lib/harness.sh"

P="$ALIG_SOURCE_DIR/experiments/protocols"

# ---- 1. cell counts by hand (methods x axes x seeds; see each file's sections)
#   svhn full: 3 seeds x [sgd 2 wd + (adagrad, adam, amsgrad, bpgrad, dfw) 3 lr x 2 wd + (l4adam, l4mom,
#              alig) 3] = 3 x (2 + 30 + 9) = 123;  reduced: one wd each: 3 x (1 + 15 + 9) = 75
#   cifar*-wrn full: 3 seeds x 3 batches x [sgd 2 + amsgrad 6 + adamw 3 x W + yogi 6 + dfw 6 + l4adam 2
#              + l4mom 2 + alig 2], W = 3 (C10) or 4 (C100): 315 and 342;  reduced: 1 batch, one wd:
#              3 x (1 + 4 x 3 + 3 x 2) = 57
#   cifar*-densenet full: 3 seeds x 3 batches x [sgd 1 + amsgrad 3 + adamw 9 + yogi 3 + dfw 3 + 3 x 2]
#              = 225;  reduced 57 as for the WRN
#   figure4 full: 5 tasks x 4 methods x 3 rates x 1 seed = 60;  reduced: 2 tasks: 24
while read -r file full reduced; do
    for scale in full reduced; do
        want=$full; [ "$scale" = reduced ] && want=$reduced
        run 0 --protocol "$P/$file" --scale "$scale" --dry-run || continue
        check "$file --scale $scale: $want cells" grep -qx "$want cells" "$TMP/out"
        check "$file --scale $scale: $want command lines" [ "$(grep -c ': alig train ' "$TMP/out")" -eq "$want" ]
    done
done <<'EOF2'
svhn-wrn-16-4.sweep 123 75
cifar10-wrn-40-4.sweep 315 57
cifar100-wrn-40-4.sweep 342 57
cifar10-densenet-bc-40-40.sweep 225 57
cifar100-densenet-bc-40-40.sweep 225 57
figure4.sweep 60 24
EOF2
# the settings of a few cells, against the paper's protocol as the files state it
run 0 --protocol "$P/cifar10-wrn-40-4.sweep" --scale full --dry-run
check "C10-WRN full: SGD's schedule (0.1, x0.2 after 60, 120, 160; Nesterov 0.9; batch 512; wd 5e-4)" grep -qF \
    'sgd__batch=512__weight-decay=5e-4__s2: alig train --data cifar10 --data-dir ${cifar10} --val 5000 --augment on --model wrn-40-4 --dropout 0 --epochs 200 --quiet --opt sgd --lr 0.1 --momentum 0.9 --nesterov true --schedule multistep --milestones 60,120,160 --factor 0.2 --batch 512 --weight-decay 5e-4 --seed 2 --out run' "$TMP/out"
check "C10-WRN full: ALI-G with radius 100, momentum 0.9, eta 1" grep -qF \
    'alig__batch=256__eta=1__s0: alig train --data cifar10 --data-dir ${cifar10} --val 5000 --augment on --model wrn-40-4 --dropout 0 --epochs 200 --quiet --opt alig --momentum 0.9 --radius 100 --batch 256 --eta 1 --seed 0 --out run' "$TMP/out"
run 0 --protocol "$P/cifar10-wrn-40-4.sweep" --scale reduced --dry-run
check "C10-WRN reduced: SGD's drops at 1, 2, 3, batch 32 only, no batch in the name" grep -qF \
    'sgd__s0: alig train --data fashion-mnist --train-subset 2000 --val 1000 --test-subset 2000 --augment on --model wrn-10-1 --dropout 0 --epochs 4 --quiet --opt sgd --lr 0.1 --momentum 0.9 --nesterov true --schedule multistep --milestones 1,2,3 --factor 0.2 --batch 32 --weight-decay 5e-4 --seed 0 --out run' "$TMP/out"
run 0 --protocol "$P/cifar100-densenet-bc-40-40.sweep" --scale full --dry-run
check "C100-DN full: ALI-G radius 75" grep -q '^alig__.*--radius 75 ' "$TMP/out"
run 0 --protocol "$P/cifar10-densenet-bc-40-40.sweep" --scale full --dry-run
check "C10-DN full: ALI-G radius 80 (the paper's)" grep -q '^alig__.*--radius 80 ' "$TMP/out"
run 0 --protocol "$P/figure4.sweep" --scale full --dry-run
check "Figure 4: no weight decay, no radius, no schedule, no dropout in any cell" \
    bash -c "! grep -qE -- '--weight-decay|--radius|--schedule|--dropout 0\.' '$TMP/out'"
check "Figure 4: the SVHN panel trains WRN-16-4 for 160 epochs" grep -q '^svhn-wrn\.alig__eta=1__s0: .*--model wrn-16-4 --batch 128 --epochs 160 ' "$TMP/out"

# ---- 2. errors
line=$(grep -n '^scales' "$P/svhn-wrn-16-4.sweep" | cut -d: -f1)
usage_error "$P/svhn-wrn-16-4.sweep:$line: this protocol has scales full, reduced: choose one" \
    --protocol "$P/svhn-wrn-16-4.sweep" --dry-run
usage_error "$P/svhn-wrn-16-4.sweep:$line: unknown scale 'medium' (this protocol's scales: full, reduced)" \
    --protocol "$P/svhn-wrn-16-4.sweep" --scale medium --out "$TMP/u"
usage_error "has no scales" --protocol "$P/convex-smoke.sweep" --scale full --out "$TMP/u"
usage_error "--scale goes with --protocol" --base "solve --problem smooth" --scale full --out "$TMP/u"
line=$(grep -n '^base = train --data cifar10' "$P/cifar10-wrn-40-4.sweep" | cut -d: -f1)
usage_error "$P/cifar10-wrn-40-4.sweep:$line: \${cifar10} is not set (alig sweep --set cifar10=VALUE)" \
    --protocol "$P/cifar10-wrn-40-4.sweep" --scale full --out "$TMP/u"
usage_error "--set cifar10: expected NAME=VALUE" --protocol "$P/cifar10-wrn-40-4.sweep" --scale full --set cifar10 --dry-run
usage_error "--estimate runs no cell" --protocol "$P/figure4.sweep" --scale reduced --estimate --out "$TMP/u"
usage_error "--estimate-rate goes with --estimate" --protocol "$P/figure4.sweep" --scale reduced --estimate-rate 5 --dry-run
usage_error "--estimate-steps goes with --estimate" --protocol "$P/figure4.sweep" --scale reduced --estimate-steps 2 --dry-run
usage_error "an estimate is for train grids" --protocol "$P/convex-smoke.sweep" --estimate
printf 'scales = a\nbase = solve --problem smooth\n[scale b]\nseeds = 1\n' >"$TMP/bad.sweep"
usage_error "$TMP/bad.sweep:3: unknown scale 'b'" --protocol "$TMP/bad.sweep" --scale a --out "$TMP/u"
check "no directory was created by a usage error" [ ! -e "$TMP/u" ]

# ---- 3. --set: the value replaces ${NAME}; a relative path that exists is made absolute
mkdir -p "$TMP/c10"
(cd "$TMP" && "$ALIG" sweep --protocol "$P/cifar10-wrn-40-4.sweep" --scale full --set cifar10=c10 --dry-run) \
    >"$TMP/out" 2>"$TMP/err"
check "--set cifar10=c10 (relative): cells read --data-dir $TMP/c10" \
    [ "$(grep -c -- "--data-dir $TMP/c10 " "$TMP/out")" -eq 315 ]

# ---- 4. estimate arithmetic with an assumed rate
cell_seconds() { sed -n 's/^total: .* images, \([0-9][0-9.e+]*\) cell-seconds.*/\1/p' "$TMP/out"; }
wall_seconds() { sed -n 's/^wall: \([0-9][0-9.e+]*\) s at .*/\1/p' "$TMP/out"; }
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-9 * (b < 0 ? -b : b) + 1e-9) }'; }
# C10-WRN reduced: 57 equal cells of 4 epochs x 2,000 images = 8,000 images, 8 s each at 1000 images/s;
# on 2 slots the first slot runs cells 0, 2, ..., 56: 29 cells, 232 s
run 0 --protocol "$P/cifar10-wrn-40-4.sweep" --scale reduced --estimate --estimate-rate 1000 --jobs 2
check "reduced C10-WRN: total 57 cells, 456000 images, 456 cell-seconds" \
    grep -qE '^total: 57 cells, 456000 images, 456 cell-seconds' "$TMP/out"
check "reduced C10-WRN: wall 232 s at --jobs 2" grep -qE '^wall: 232 s at --jobs 2 ' "$TMP/out"
check "reduced C10-WRN: evaluation 57 x 4 x (1000 + 2000) = 684000 images not counted" \
    grep -qE '^not counted: the evaluation after each epoch, 684000 images' "$TMP/out"
check "reduced C10-WRN: one configuration row" \
    grep -qE '^ +1000 +57 +456000 +0\.1267 +input=1x28x28 classes=10 model=wrn-10-1 batch=32 dropout=0 augment=on$' "$TMP/out"
# SVHN full: 160 epochs x (73,257 - 6,000 + 531,131) images per cell, 123 equal cells, 5000 images/s, 4 slots:
# 31 cells on the first slot
cell=$((160 * (73257 - 6000 + 531131)))
run 0 --protocol "$P/svhn-wrn-16-4.sweep" --scale full --estimate --estimate-rate 5000 --jobs 4
check "SVHN full: $((123 * cell)) images" grep -qE "^total: 123 cells, $((123 * cell)) images" "$TMP/out"
check "SVHN full: cell-seconds = 123 x $cell / 5000" close "$(cell_seconds)" "$(awk -v c=$cell 'BEGIN { printf "%.17g", 123 * c / 5000 }')"
check "SVHN full: wall = 31 x $cell / 5000 at --jobs 4" close "$(wall_seconds)" "$(awk -v c=$cell 'BEGIN { printf "%.17g", 31 * c / 5000 }')"
# Figure 4 full: unequal cells in file order (12 per task: SVHN 160 x 598,388; CIFAR WRN 200 x 45,000
# twice; CIFAR DenseNet 300 x 45,000 twice), at 100 images/s on 3 slots, scheduled here in awk
run 0 --protocol "$P/figure4.sweep" --scale full --estimate --estimate-rate 100 --jobs 3
want=$(awk 'BEGIN {
    split("95742080 9000000 9000000 13500000 13500000", img, " ")
    for (t = 1; t <= 5; t++) for (k = 0; k < 12; k++) { n++; s[n] = img[t] / 100; tot += img[t] }
    for (i = 1; i <= n; i++) { m = 1; for (j = 2; j <= 3; j++) if (f[j] < f[m]) m = j; f[m] += s[i]; if (f[m] > w) w = f[m] }
    printf "%.0f %.17g", tot, w }')
check "Figure 4 full: total images ${want% *}" grep -qE "^total: 60 cells, ${want% *} images" "$TMP/out"
check "Figure 4 full: wall ${want#* } s at --jobs 3 (list schedule by hand)" close "$(wall_seconds)" "${want#* }"
check "Figure 4 full: five configurations" [ "$(grep -c 'input=3x32x32' "$TMP/out")" -eq 5 ]

# ---- a measured estimate (tiny MLPs, one timed step each) and a failing timing run
mkdir -p "$TMP/t"
TMPDIR="$TMP/t" run 0 --base "train --model mlp-16 --opt sgd --epochs 2 --val 100" --axis batch=16,32 --estimate --estimate-steps 1
check "measured: two configuration rows with a rate > 0" \
    [ "$(awk '$NF ~ /^augment=/ && $1 + 0 > 0' "$TMP/out" | wc -l)" -eq 2 ]
check "measured: says it measured" grep -q '^images/s: measured now on this machine' "$TMP/out"
check "measured: no scratch directory left" [ -z "$(ls -A "$TMP/t")" ]
# SGD with the presets' schedules: milestones past the timing run's steps, a plateau schedule (epochs
# only) would be refused by alig train; the timing run leaves schedules out
TMPDIR="$TMP/t" run 0 --base "train --model mlp-16 --opt sgd --epochs 200 --val 100" \
    --method ms --args "--schedule multistep --milestones 60,120,160 --factor 0.2" --axis batch=16 \
    --method pl --args "--schedule plateau --factor 0.5 --patience 2" --axis batch=32 \
    --estimate --estimate-steps 1
check "measured with schedules: a rate > 0 for both configurations" \
    [ "$(awk '$NF ~ /^augment=/ && $1 + 0 > 0' "$TMP/out" | wc -l)" -eq 2 ]
TMPDIR="$TMP/t" run 1 --base "train --model no-such-net --opt sgd --epochs 1" --estimate
check "a failing timing run is reported with its message" grep -q 'the timing run of .*model=no-such-net.* failed: alig train: ' "$TMP/err"
check "failing timing run: no scratch directory left" [ -z "$(ls -A "$TMP/t")" ]

finish
