#!/usr/bin/env bash
# test_train.sh - `alig train`: usage errors (exit 2, one stderr line naming the flag), runtime
# failures (exit 1), the per-epoch logs (log.csv columns, log.jsonl keys, one record per epoch),
# the checkpoint, --resume continuing exactly (the resumed run's records equal the uninterrupted
# run's to 17 digits, timings aside), a non-finite loss stopping the run with the last checkpoint
# intact (proved by resuming from it), a diverging solver (non-finite, and a finite explosion the
# divergence check stops), quiet output off a terminal, the --profile tables (profile.csv,
# profile_nodes.csv, the stderr table; also with --resume), ranges of --threads/--batch/--seed,
# polyak refused on mini-batches, milestones after the run's end, a constant input channel named,
# and no run directory left by a failed start. Crashes and refused resumes: test_train_crash.sh.
# Data: small synthetic IDX files written here (a class-dependent bright patch plus noise); the
# real Fashion-MNIST files are used in one short run when installed (required with
# ALIG_REQUIRE_FMNIST=1, otherwise reported as NOT RUN and not counted).
set -u

NAME=test_train.sh
PREFIX=(train)
. "$(dirname "$0")/lib/harness.sh"

# runtime_error NEEDLE ARGS... : exit 1, the last stderr line contains NEEDLE.
runtime_error() {
    local needle=$1; shift
    run 1 "$@" || return
    check "alig train $*: stderr names '$needle': $(cat "$TMP/err")" grep -qF -- "$needle" "$TMP/err"
}

no_tmp_files() { ! ls -A "$1" | grep -q '\.tmp\.'; }
# strip_times FILE : log.csv without the timing columns (seconds, train_seconds, eval_seconds, images_per_s)
strip_times() { cut -d, -f1-10,14,16- "$1"; }

# ---------------------------------------------------------------- synthetic IDX data
# N images of 1x12x12 bytes: noise in [0, 60) plus 150 on a 4x4 patch whose row band is the class
# (3 classes); big-endian IDX headers (0x803 images, 0x801 labels).
make_idx() { # make_idx N SEED IMAGES LABELS
    perl -e '
        my ($n, $seed, $img, $lab) = @ARGV;
        srand($seed);
        open(my $I, ">", $img) or die; binmode $I;
        open(my $L, ">", $lab) or die; binmode $L;
        print $I pack("N4", 0x803, $n, 12, 12);
        print $L pack("N2", 0x801, $n);
        for my $i (1 .. $n) {
            my $c = int(rand(3));
            print $L pack("C", $c);
            for my $r (0 .. 11) {
                for my $s (0 .. 11) {
                    my $v = int(rand(60));
                    $v += 150 if int($r / 4) == $c && $s >= 4 && $s < 8;
                    print $I pack("C", $v);
                }
            }
        }' "$@"
}
make_idx 400 1 "$TMP/tr-img" "$TMP/tr-lab"
make_idx 90 2 "$TMP/te-img" "$TMP/te-lab"
FILES=(--train-images "$TMP/tr-img" --train-labels "$TMP/tr-lab" --test-images "$TMP/te-img" --test-labels "$TMP/te-lab")
DATA=("${FILES[@]}" --val 40)

# ---------------------------------------------------------------- help
run 0 --help && check "--help lists --resume" grep -q -- "--resume" "$TMP/out"
check "--help lists the solvers" grep -q "^  alig" "$TMP/out"

# ---------------------------------------------------------------- usage errors
O="$TMP/u"
usage_error "--model" "${DATA[@]}" --opt alig --epochs 1 --out "$O"
usage_error "resnet" "${DATA[@]}" --model resnet --opt alig --epochs 1 --out "$O"
usage_error "--opt" "${DATA[@]}" --model mlp --epochs 1 --out "$O"
usage_error "--opt: unknown solver 'nope'" "${DATA[@]}" --model mlp --opt nope --epochs 1 --out "$O"
usage_error "--epochs" "${DATA[@]}" --model mlp --opt alig --epochs 0 --out "$O"
usage_error "--epochs" "${DATA[@]}" --model mlp --opt alig --out "$O"
usage_error "--out" "${DATA[@]}" --model mlp --opt alig --epochs 1
usage_error "--batch" "${DATA[@]}" --model mlp --opt alig --epochs 1 --batch 12x --out "$O"
usage_error "--lr" "${DATA[@]}" --model mlp --opt alig --lr 0.1 --epochs 1 --out "$O"
usage_error "eta" "${DATA[@]}" --model mlp --opt alig --eta -1 --epochs 1 --out "$O"
usage_error "synonyms" "${DATA[@]}" --model mlp --opt alig --solver alig --epochs 1 --out "$O"
usage_error "--dropout" "${DATA[@]}" --model cnn --dropout 0.5 --opt alig --epochs 1 --out "$O"
usage_error "--dropout" "${DATA[@]}" --model wrn-10-1 --dropout 1 --opt alig --epochs 1 --out "$O"
usage_error "--radius" "${DATA[@]}" --model mlp --opt alig --radius 0 --epochs 1 --out "$O"
usage_error "--threads" "${DATA[@]}" --model mlp --opt alig --threads 0 --epochs 1 --out "$O"
# ranges through the shared helpers (cli_util.h): too large is said so, an overflow too
usage_error "--threads: '1025' is too large (at most 1024)" "${DATA[@]}" --model mlp --opt alig --threads 1025 --epochs 1 --out "$O"
usage_error "--batch: '2147483648' is too large" "${DATA[@]}" --model mlp --opt alig --batch 2147483648 --epochs 1 --out "$O"
usage_error "--seed: '18446744073709551616' overflows" "${DATA[@]}" --model mlp --opt alig --seed 18446744073709551616 \
    --epochs 1 --out "$O"
# Polyak's step is a full-batch oracle: refused on mini-batches (360 training samples here), naming
# the batch that would make it one
usage_error "--batch 360 (the whole training split)" "${DATA[@]}" --model mlp --opt polyak --batch 32 --epochs 1 --out "$O"
usage_error "full-batch oracle" --task repeat-copy --model dnc --opt polyak --steps 5 --out "$O"
# milestones after the run's end would never apply (epochs in epoch mode, steps in step mode)
usage_error "milestone 4 comes after the run's last epoch (--epochs 3)" "${DATA[@]}" --model mlp --opt sgd \
    --schedule multistep --milestones 2,4 --epochs 3 --out "$O"
usage_error "milestone 30 comes after the run's last step (--steps 20)" "${DATA[@]}" --model mlp --opt sgd \
    --schedule multistep --milestones 30 --steps 20 --out "$O"
usage_error "go together" --train-images "$TMP/tr-img" --model mlp --opt alig --epochs 1 --out "$O"
usage_error "--bogus" "${DATA[@]}" --model mlp --opt alig --epochs 1 --out "$O" --bogus
usage_error "smaller than the 400 training samples" "${FILES[@]}" --val 400 --model mlp --opt alig --epochs 1 --out "$O"
usage_error "--batch" "${DATA[@]}" --batch 1000 --model mlp --opt alig --epochs 1 --out "$O"
# the CNN needs at least 10x10 inputs after its two valid convolutions and pools: 12x12 fits, wrn
# depth must be 6m+4
usage_error "6m + 4" "${DATA[@]}" --model wrn-11-1 --opt alig --epochs 1 --out "$O"
usage_error "batch norm" "${DATA[@]}" --model wrn-10-1 --opt alig --batch 359 --epochs 1 --out "$O"
usage_error "--model" --resume "$TMP/nowhere" --model mlp
usage_error "--classes" --data fashion-mnist --classes 10 --model mlp --opt alig --epochs 1 --out "$O"
usage_error "--classes" "${DATA[@]}" --classes 1 --model mlp --opt alig --epochs 1 --out "$O"
check "no run directory left by usage errors" [ ! -e "$O" ]

# ---------------------------------------------------------------- runtime errors
runtime_error "$TMP/missing" --train-images "$TMP/missing" --train-labels "$TMP/tr-lab" --test-images "$TMP/te-img" \
    --test-labels "$TMP/te-lab" --model mlp --opt alig --epochs 1 --out "$O"
check "a missing data file: no run directory created" [ ! -e "$O" ]
# a constant input channel cannot be standardised: the message names the channel and the file (exit 1: the data's fault)
perl -e 'open(my $I, ">", $ARGV[0]); binmode $I; print $I pack("N4", 0x803, 50, 12, 12), chr(7) x (50 * 144)' "$TMP/const-img"
perl -e 'open(my $L, ">", $ARGV[0]); binmode $L; print $L pack("N2", 0x801, 50), map { chr($_ % 3) } 1 .. 50' "$TMP/const-lab"
runtime_error "$TMP/const-img: channel 0 of the 40 training images (after the validation split) is constant" \
    --train-images "$TMP/const-img" --train-labels "$TMP/const-lab" --test-images "$TMP/te-img" \
    --test-labels "$TMP/te-lab" --val 10 --model mlp --opt alig --epochs 1 --out "$O"
check "a constant channel: no run directory created" [ ! -e "$O" ]
runtime_error "checkpoint.bin" --resume "$TMP/nowhere"
# the synthetic labels are 0..2: --classes 2 refuses the training labels file, naming it
runtime_error "$TMP/tr-lab" "${DATA[@]}" --classes 2 --model mlp --opt alig --epochs 1 --out "$O"
check "--classes 2: the message names the out-of-range label: $(cat "$TMP/err")" grep -q "out of range" "$TMP/err"
# the class count is printed; --classes 5 gives a 5-way classifier (mlp-16 on 1x12x12: 144·16 + 16 + 16·5 + 5 parameters)
if run 0 "${DATA[@]}" --model mlp-16 --opt alig --batch 50 --max-batches 1 --epochs 1 --out "$TMP/c3"; then
    check "classes inferred from the labels: $(head -1 "$TMP/out")" grep -q "params=2371 .* classes=3 " "$TMP/out"
fi
if run 0 "${DATA[@]}" --classes 5 --model mlp-16 --opt alig --batch 50 --max-batches 1 --epochs 1 --out "$TMP/c5"; then
    check "--classes 5: $(head -1 "$TMP/out")" grep -q "params=2405 .* classes=5 " "$TMP/out"
fi

# ---------------------------------------------------------------- a run: logs, checkpoint, quiet off a terminal
A="$TMP/a"
COMMON=("${DATA[@]}" --opt alig --eta 0.1 --momentum 0.9 --batch 32 --max-batches 4 --seed 3 --threads 2)
if run 0 "${COMMON[@]}" --model wrn-10-1 --dropout 0.2 --epochs 3 --out "$A"; then
    check "run: nothing on stderr off a terminal (no progress line): $(head -c 200 "$TMP/err")" [ ! -s "$TMP/err" ]
    check "run: one header line and one line per epoch on stdout" [ "$(grep -c '^epoch ' "$TMP/out")" -eq 3 ]
    check "run: log.csv, log.jsonl, checkpoint.bin exist" test -s "$A/log.csv" -a -s "$A/log.jsonl" -a -s "$A/checkpoint.bin"
    check "run: no temporary files left" no_tmp_files "$A"
    want="epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,step_mean,step_unclipped_mean,clipped_frac,seconds,train_seconds,eval_seconds,images,images_per_s,steps,lr,train_eval_loss,train_eval_acc,eps_max,eps_q50,eps_q90,eps_q99,eps_q999,eps_seconds"
    check "log.csv header: $(head -1 "$A/log.csv")" [ "$(head -1 "$A/log.csv")" = "$want" ]
    check "log.csv: 3 records" [ "$(wc -l <"$A/log.csv")" -eq 4 ]
    check "log.jsonl: 3 records" [ "$(wc -l <"$A/log.jsonl")" -eq 3 ]
    for key in epoch train_loss train_acc val_loss val_acc test_loss test_acc step_mean step_unclipped_mean \
               clipped_frac seconds images_per_s images steps lr; do
        check "log.jsonl: every record has \"$key\"" [ "$(grep -c "\"$key\":" "$A/log.jsonl")" -eq 3 ]
    done
    check "log.jsonl: one JSON object per line" awk '!/^\{.*\}$/ { exit 1 }' "$A/log.jsonl"
    # 4 batches of 32 per epoch: images 128, steps 4, 8, 12; accuracies in [0, 1]; images/s > 0
    check "log.csv: images and steps per epoch" awk -F, 'NR > 1 && ($14 != 128 || $16 != 4 * (NR - 1)) { exit 1 }' "$A/log.csv"
    check "log.csv: accuracies in [0,1], finite losses, positive speed" awk -F, 'NR > 1 && !($3 >= 0 && $3 <= 1 && \
        $5 >= 0 && $5 <= 1 && $7 >= 0 && $7 <= 1 && $2 > 0 && $4 > 0 && $6 > 0 && $15 > 0) { exit 1 }' "$A/log.csv"
    # ALI-G with eta 0.1: every step size within (0, 0.1]
    check "log.csv: ALI-G step mean in (0, eta]" awk -F, 'NR > 1 && !($8 > 0 && $8 <= 0.1) { exit 1 }' "$A/log.csv"
    check "the patch task is learnt: train loss decreases" awk -F, 'NR == 2 { a = $2 } NR == 4 { exit !($2 < a) }' "$A/log.csv"
fi
# an existing run is not overwritten
usage_error "already holds a run" "${COMMON[@]}" --model mlp --epochs 1 --out "$A"

# ---------------------------------------------------------------- --resume == uninterrupted
B="$TMP/b"
if run 0 "${COMMON[@]}" --model wrn-10-1 --dropout 0.2 --epochs 1 --out "$B" --quiet; then
    check "--quiet: nothing on stdout" [ ! -s "$TMP/out" ]
    # without --threads the run's own value (2) is reused: exactness needs the same thread count
    # (a build without OpenMP always runs on 1 thread)
    want_threads=2; [ "${ALIG_OPENMP:-ON}" = OFF ] && want_threads=1
    run 0 --resume "$B" --epochs 3 && check "resume says so, with the run's $want_threads thread(s)" grep -q "threads=$want_threads .*(resumed)" "$TMP/out"
    check "resumed log = uninterrupted log (timings aside)" cmp -s <(strip_times "$A/log.csv") <(strip_times "$B/log.csv")
    check "resumed log.jsonl has 3 records" [ "$(wc -l <"$B/log.jsonl")" -eq 3 ]
    run 0 --resume "$B" --epochs 3 && check "resume of a finished run: nothing to do" grep -q "nothing to do" "$TMP/out"
fi
usage_error "--resume" --resume "$B" --epochs 4 --batch 16

# ---------------------------------------------------------------- non-finite loss: stop, checkpoint intact
C="$TMP/c"
runtime_error "non-finite loss" "${COMMON[@]}" --model wrn-10-1 --dropout 0.2 --epochs 3 --out "$C" --inject-nan-at 6
check "non-finite: one stderr line" [ "$(wc -l <"$TMP/err")" -eq 1 ]
check "non-finite: message names the epoch and the checkpoint" grep -q "epoch 2, batch 2 .*checkpoint.bin (epoch 1) left intact" "$TMP/err"
check "non-finite: log.csv keeps the completed epoch only" [ "$(wc -l <"$C/log.csv")" -eq 2 ]
check "non-finite: no temporary files" no_tmp_files "$C"
# the checkpoint left behind is the one of epoch 1: resuming from it reproduces the uninterrupted run
if run 0 --resume "$C" --epochs 3 --threads 2 --quiet; then
    check "resume after the failure = uninterrupted run" cmp -s <(strip_times "$A/log.csv") <(strip_times "$C/log.csv")
fi
# a real divergence (SGD with an absurd rate) before any checkpoint
D="$TMP/d"
runtime_error "non-finite" "${DATA[@]}" --model mlp --opt sgd --lr 1e30 --batch 32 --max-batches 4 --epochs 2 --out "$D"
check "divergence: no checkpoint, no log" test ! -e "$D/checkpoint.bin" -a ! -e "$D/log.csv"

# a finite explosion: SGD with lr 3 and momentum 0.9 on the cross-entropy; the run stops at the first
# epoch whose training loss exceeds 1e6 times epoch 1's, says so and exits 1, its log and checkpoint
# written; the log itself shows the ratio
DV="$TMP/dv"
runtime_error "exploding" "${DATA[@]}" --model mlp-16 --opt sgd --lr 3 --momentum 0.9 --batch 32 --max-batches 4 \
    --threads 1 --epochs 8 --out "$DV"
check "divergence: the message names the epoch and epoch 1's loss: $(cat "$TMP/err")" \
    grep -q "diverged: the training loss of epoch [0-9]* is .* times epoch 1's" "$TMP/err"
check "divergence: the last logged loss is > 1e6 x the first, the ones before are not: $(cut -d, -f2 "$DV/log.csv" | tr '\n' ' ')" \
    awk -F, 'NR == 2 { f = $2 } NR > 2 && $2 > 1e6 * f { n++; at = NR } END { exit !(n == 1 && at == NR && NR < 9) }' \
    "$DV/log.csv"
check "divergence: the checkpoint of the stopping epoch is written" [ -s "$DV/checkpoint.bin" ]

# ---------------------------------------------------------------- other models and solvers run
run 0 "${DATA[@]}" --model cnn --opt sgd --lr 0.05 --momentum 0.9 --batch 50 --max-batches 2 --epochs 1 --out "$TMP/e" --quiet
run 0 "${DATA[@]}" --model mlp-16 --opt alig-inf --batch 64 --epochs 1 --out "$TMP/f" --quiet --radius 10
check "mlp-16, full epoch of 360 samples: 6 batches, the last one short" \
    awk -F, 'NR == 2 { exit !($14 == 360 && $16 == 6) }' "$TMP/f/log.csv"

# ---------------------------------------------------------------- sgd milestones are epochs
# --milestones 1,2 --factor 0.5 --lr 0.04: SGD's step (= its learning rate) is 0.04 in epoch 1,
# 0.02 in epoch 2, 0.01 in epoch 3, whatever the number of batches per epoch (3 here); a run stopped
# after epoch 1 (killed by the testing hook once its first checkpoint is in place) and resumed to 3
# repeats the uninterrupted one (the milestones are not converted twice)
M=(--model mlp-16 --opt sgd --lr 0.04 --momentum 0.9 --schedule multistep --milestones 1,2 --factor 0.5
   --reset-momentum 1 --batch 50 --max-batches 3 --threads 1 --quiet)
if run 0 "${DATA[@]}" "${M[@]}" --epochs 3 --out "$TMP/ms"; then
    check "milestones in epochs: step_mean 0.04, 0.02, 0.01: $(cut -d, -f1,8 "$TMP/ms/log.csv" | tr '\n' ' ')" \
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "step_mean") c = i }
                 NR > 1 { want = 0.04 / 2 ^ (NR - 2); if (c == 0 || ($c - want) ^ 2 > 1e-18) bad = 1 }
                 END { exit bad || NR != 4 }' "$TMP/ms/log.csv"
    if ALIG_TRAIN_CRASH_AT=checkpoint-renamed:1 run 137 "${DATA[@]}" "${M[@]}" --epochs 3 --out "$TMP/ms1" 2>/dev/null &&
        run 0 --resume "$TMP/ms1" --epochs 3 --quiet; then
        check "milestones: resumed across the drops = uninterrupted run" \
            cmp -s <(strip_times "$TMP/ms/log.csv") <(strip_times "$TMP/ms1/log.csv")
    fi
fi
# a fractional milestone: 2.2 epochs of 45 batches (360 samples, batch 8) is step 99 (2.2 × 45 is
# 99.00000000000001 in double), so epoch 3 takes 9 steps at 0.04 and 36 at 0.02: mean 0.024
if run 0 "${DATA[@]}" --model mlp-16 --opt sgd --lr 0.04 --schedule multistep --milestones 2.2 --factor 0.5 \
    --batch 8 --epochs 3 --threads 1 --quiet --out "$TMP/msf"; then
    check "milestone 2.2 epochs = step 99: $(cut -d, -f1,8 "$TMP/msf/log.csv" | tr '\n' ' ')" \
        awk -F, 'NR > 1 { want = NR < 4 ? 0.04 : 0.024; if (($8 - want) ^ 2 > 1e-20) bad = 1 } END { exit bad || NR != 4 }' \
        "$TMP/msf/log.csv"
fi

# ---------------------------------------------------------------- --profile
# per-op table: header, a conv2d row (the CNN has 2 conv nodes), the zeroing row, shares summing to 1,
# rows sorted by total, total = forward + backward; per-node table: one row per node, and its sums
# per op equal the per-op rows; the table on stderr; stdout unchanged
P="$TMP/p"
if run 0 "${DATA[@]}" --model cnn --opt sgd --lr 0.05 --batch 50 --max-batches 3 --epochs 1 --threads 1 --out "$P" \
    --profile; then
    check "--profile: profile.csv and profile_nodes.csv written, no temporary files" \
        test -s "$P/profile.csv" -a -s "$P/profile_nodes.csv" -a -s "$P/log.csv"
    check "--profile: no temporary files" no_tmp_files "$P"
    check "profile.csv header: $(head -1 "$P/profile.csv")" \
        [ "$(head -1 "$P/profile.csv")" = "op,nodes,forward_ms_per_batch,backward_ms_per_batch,total_ms_per_batch,share" ]
    check "profile.csv: conv2d row with 2 nodes and positive forward and backward times" \
        awk -F, '$1 == "conv2d" && $2 == 2 && $3 > 0 && $4 > 0 { f = 1 } END { exit !f }' "$P/profile.csv"
    check "profile.csv: zero_grad row with zero forward, positive backward" \
        awk -F, '$1 == "zero_grad" && $3 == 0 && $4 > 0 { f = 1 } END { exit !f }' "$P/profile.csv"
    check "profile.csv: no leaf rows, each op once" \
        awk -F, 'NR > 1 && ($1 == "input" || $1 == "param" || seen[$1]++) { exit 1 }' "$P/profile.csv"
    check "profile.csv: shares sum to 1: $(awk -F, 'NR > 1 { s += $6 } END { print s }' "$P/profile.csv")" \
        awk -F, 'NR > 1 { s += $6 } END { d = s - 1; exit !(d < 1e-9 && d > -1e-9) }' "$P/profile.csv"
    check "profile.csv: total = forward + backward, sorted by total, descending" \
        awk -F, 'NR > 1 { d = $5 - $3 - $4; if (d > 1e-9 * $5 + 1e-12 || -d > 1e-9 * $5 + 1e-12) exit 1;
                 if (NR > 2 && $5 > last) exit 1; last = $5 }' "$P/profile.csv"
    # the CNN graph: input, labels, 10 parameters, 2 conv, 3 relu, 2 pool, flatten, 2 matmul, 2 bias_add, loss
    check "profile_nodes.csv: header and 23 nodes" \
        [ "$(head -1 "$P/profile_nodes.csv")" = "node,op,shape,forward_ms_per_batch,backward_ms_per_batch" -a \
          "$(wc -l <"$P/profile_nodes.csv")" -eq 24 ]
    check "profile_nodes.csv: first conv2d output is 50x32x10x10" grep -q '^4,conv2d,50x32x10x10,' "$P/profile_nodes.csv"
    check "profile_nodes.csv: leaves have zero time" awk -F, '($2 == "param" || $2 == "input") && ($4 != 0 || $5 != 0) { exit 1 }' \
        "$P/profile_nodes.csv"
    check "profile_nodes.csv summed per op = profile.csv" awk -F, '
        FNR == 1 { next }
        FILENAME == ARGV[1] { f[$2] += $4; b[$2] += $5; n[$2]++; next }
        $1 != "zero_grad" { if (n[$1] != $2) exit 1;
                            d = f[$1] - $3; e = b[$1] - $4; t = 1e-9 * ($5 + 1e-9);
                            if (d > t || -d > t || e > t || -e > t) exit 1; m++ }
        END { exit !(m >= 6) }' "$P/profile_nodes.csv" "$P/profile.csv"
    check "--profile: the table on stderr names conv2d and the warm-up batch" \
        grep -q "^  conv2d .*%$" "$TMP/err"
    check "--profile: stderr says the first batch is left out" grep -q "2 batches, the first one left out as warm-up" "$TMP/err"
    check "--profile: stdout still has the epoch line only" [ "$(grep -c '^epoch ' "$TMP/out")" -eq 1 ]
fi
# one full batch in all: nothing to leave out, and the table says so; --quiet: no table, files written
run 0 "${DATA[@]}" --model mlp-16 --opt sgd --lr 0.05 --batch 50 --max-batches 1 --epochs 1 --out "$TMP/p1" --profile &&
    check "--profile, one batch: warm-up included and said so" grep -q "1 batch (no warm-up batch left out" "$TMP/err"
if run 0 "${DATA[@]}" --model mlp-16 --opt sgd --lr 0.05 --batch 50 --max-batches 2 --epochs 1 --out "$TMP/p2" --quiet; then
    # --profile is not a setting of the run: accepted with --resume, and only for that invocation
    run 0 --resume "$TMP/p2" --epochs 2 --profile --quiet &&
        check "--resume --profile --quiet: profile.csv written, nothing on stderr" \
            test -s "$TMP/p2/profile.csv" -a ! -s "$TMP/err"
    check "--resume --profile: matmul row" grep -q "^matmul,2," "$TMP/p2/profile.csv"
fi
run 0 --help && check "--help lists --profile" grep -q -- "--profile" "$TMP/out"

# ---------------------------------------------------------------- step mode, --clip-norm, config.json, tasks
S=(--model mlp-16 --opt sgd --lr 0.05 --batch 32 --log-every 10 --checkpoint-every 7 --clip-norm 0.5 --threads 1 --quiet)
if run 0 "${DATA[@]}" "${S[@]}" --steps 25 --out "$TMP/s1"; then
    check "step mode: log.csv header" [ "$(head -1 "$TMP/s1/log.csv")" = \
        "step,window_steps,loss_mean,step_mean,step_unclipped_mean,clipped_frac,zero_grad,clip_events,seconds,steps_per_s" ]
    check "step mode: windows end at 10, 20 and a short one at 25" \
        [ "$(cut -d, -f1,2 "$TMP/s1/log.csv" | tail -3 | tr '\n' ' ')" = "10,10 20,10 25,5 " ]
    check "step mode: log.jsonl has 3 records" [ "$(wc -l <"$TMP/s1/log.jsonl")" -eq 3 ]
    check "config.json: every section, clip_norm 0.5, steps 25" grep -q '"clip_norm": 0.5, ' "$TMP/s1/config.json"
    check "config.json: solver parameters with defaults" grep -q '"name": "sgd", .*"momentum": 0' "$TMP/s1/config.json"
    check "config.json: parses as JSON" perl -MJSON::PP -e 'local $/; open F, $ARGV[0]; decode_json(<F>)' "$TMP/s1/config.json"
    # resumed from step 14 (a checkpoint in the middle of a window) = uninterrupted, timings aside
    if run 0 "${DATA[@]}" "${S[@]}" --steps 14 --out "$TMP/s2" && run 0 --resume "$TMP/s2" --steps 25 --quiet; then
        check "step mode: resumed mid-window = uninterrupted" \
            cmp -s <(cut -d, -f1-8 "$TMP/s1/log.csv") <(cut -d, -f1-8 "$TMP/s2/log.csv")
    fi
fi
usage_error "--steps" --resume "$TMP/a" --steps 10
usage_error "exclude each other" "${DATA[@]}" --model mlp --opt alig --epochs 1 --steps 5 --out "$O"
usage_error "--log-every" "${DATA[@]}" --model mlp --opt alig --epochs 1 --log-every 5 --out "$O"
usage_error "--clip-norm" "${DATA[@]}" --model mlp --opt alig --steps 5 --clip-norm 0 --out "$O"
usage_error "--task" --task copy --model mlp --opt alig --steps 5 --out "$O"
usage_error "repeat-copy" --task repeat-copy --model mlp --opt alig --steps 5 --out "$O"
usage_error "give --steps" --task repeat-copy --model mlp --opt alig --epochs 5 --out "$O"
usage_error "sequence" "${DATA[@]}" --model dnc --opt alig --eta 1 --steps 5 --out "$O"
usage_error "dnc-H-N-W-R" --task repeat-copy --model dnc-64-16 --opt alig --eta 1 --steps 5 --out "$O"
# the DNC on repeat-copy: 30 steps of ALI-G (eta 1, delta 0 as in the paper), windows of 10, a checkpoint
# every 7 steps; resumed from step 14 (inside a window) = uninterrupted; the config names the model
D=(--task repeat-copy --model dnc-16-8-8-2 --opt alig --eta 1 --delta 0 --log-every 10 --checkpoint-every 7 --seed 3
   --threads 1 --quiet)
if run 0 "${D[@]}" --steps 30 --out "$TMP/d1"; then
    check "dnc: three windows of 10" [ "$(cut -d, -f1,2 "$TMP/d1/log.csv" | tail -3 | tr '\n' ' ')" = "10,10 20,10 30,10 " ]
    check "dnc: config.json names the model and its size" \
        grep -q '"family": "dnc", "params": [0-9]*, "hidden": 16, "memory_slots": 8, "word": 8, "read_heads": 2' \
        "$TMP/d1/config.json"
    check "dnc: window losses finite and positive: $(cut -d, -f3 "$TMP/d1/log.csv" | tail -3 | tr '\n' ' ')" \
        awk -F, 'NR > 1 && !($3 > 0 && $3 < 1e3) { exit 1 }' "$TMP/d1/log.csv"
    if run 0 "${D[@]}" --steps 14 --out "$TMP/d2" && run 0 --resume "$TMP/d2" --steps 30 --quiet; then
        check "dnc: resumed mid-window = uninterrupted" \
            cmp -s <(cut -d, -f1-8 "$TMP/d1/log.csv") <(cut -d, -f1-8 "$TMP/d2/log.csv")
    fi
fi
# a run started without --threads records the count it resolved; a resume under another
# OMP_NUM_THREADS keeps it (the DNC's sums depend on the thread count within rounding)
DT=(--task repeat-copy --model dnc-16-8-8-2 --opt alig --eta 1 --log-every 10 --checkpoint-every 13 --seed 3 --quiet)
if OMP_NUM_THREADS=1 run 0 "${DT[@]}" --steps 20 --out "$TMP/t1" && OMP_NUM_THREADS=1 run 0 "${DT[@]}" --steps 13 \
    --out "$TMP/t2" && OMP_NUM_THREADS=2 run 0 --resume "$TMP/t2" --steps 20 --quiet; then
    check "resume under another OMP_NUM_THREADS keeps the run's thread count" \
        cmp -s <(cut -d, -f1-8 "$TMP/t1/log.csv") <(cut -d, -f1-8 "$TMP/t2/log.csv")
    check "config.json of the resumed run: threads 1" grep -q '"threads": 1,' "$TMP/t2/config.json"
fi
# the same with a solver that has state (L4Adam: moving averages, L_min, its step counter)
D4=(--task repeat-copy --model dnc-16-8-8-2 --opt l4adam --alpha 0.15 --log-every 10 --checkpoint-every 7 --seed 3
    --threads 1 --quiet)
if run 0 "${D4[@]}" --steps 30 --out "$TMP/d3" && run 0 "${D4[@]}" --steps 14 --out "$TMP/d4" &&
    run 0 --resume "$TMP/d4" --steps 30 --quiet; then
    check "dnc + l4adam: resumed mid-window = uninterrupted" \
        cmp -s <(cut -d, -f1-8 "$TMP/d3/log.csv") <(cut -d, -f1-8 "$TMP/d4/log.csv")
    check "dnc + l4adam: the runs differ from ALI-G's (the solver really changed)" \
        bash -c "! cmp -s <(cut -d, -f3 '$TMP/d1/log.csv') <(cut -d, -f3 '$TMP/d3/log.csv')"
fi
# a NaN in step mode: exit 1, the log holds the finished window and the open one up to the last finite step
runtime_error "non-finite loss at step 15" "${DATA[@]}" "${S[@]}" --steps 25 --out "$TMP/s3" --inject-nan-at 15
check "step mode non-finite: windows at 10 and 14 logged" \
    [ "$(cut -d, -f1,2 "$TMP/s3/log.csv" | tail -2 | tr '\n' ' ')" = "10,10 14,4 " ]
check "step mode non-finite: the message names the step-14 checkpoint" grep -q "(step 14) left intact" "$TMP/err"

# ---------------------------------------------------------------- --loss, DFW, BPGrad, the plateau schedule
usage_error "--loss" "${DATA[@]}" --model mlp --opt alig --loss svm --epochs 1 --out "$O"
usage_error "--loss hinge" "${DATA[@]}" --model mlp --opt dfw --epochs 1 --out "$O"
usage_error "--epochs" "${DATA[@]}" --model mlp --opt sgd --schedule plateau --steps 5 --out "$O"
usage_error "--loss" --task repeat-copy --model dnc --opt alig --loss hinge --steps 5 --out "$O"
usage_error "patience" "${DATA[@]}" --model mlp --opt sgd --schedule plateau --patience 1.5 --epochs 1 --out "$O"
check "no run directory left by the loss and schedule usage errors" [ ! -e "$O/checkpoint.bin" ]
H=("${DATA[@]}" --model mlp-16 --opt dfw --loss smooth-hinge --eta 0.5 --momentum 0.9 --weight-decay 1e-4 --batch 32
   --max-batches 4 --seed 3 --threads 2)
if run 0 "${H[@]}" --epochs 3 --out "$TMP/h"; then
    check "--loss smooth-hinge in config.json (task and model): $(grep -o '"loss": "[a-z-]*"' "$TMP/h/config.json" | tr '\n' ' ')" \
        [ "$(grep -o '"loss": "smooth-hinge"' "$TMP/h/config.json" | wc -l)" -eq 2 ]
    # (the patch task is interpolated within an epoch or two: a zero hinge loss gives a zero step)
    check "dfw: step sizes in [0, eta], positive in epoch 1; hinge losses finite and >= 0" awk -F, 'NR > 1 && \
        !($8 >= 0 && $8 <= 0.5 && $2 >= 0 && $4 >= 0 && $6 >= 0 && $17 >= 0 && $17 <= 0.5) { exit 1 }
        NR == 2 && !($8 > 0) { exit 1 }' "$TMP/h/log.csv"
    check "dfw on the smoothed hinge learns the patch task" awk -F, 'NR == 2 { a = $2 } NR == 4 { exit !($2 < a) }' "$TMP/h/log.csv"
    # the loss travels in the checkpoint: a resumed run repeats the uninterrupted one
    if run 0 "${H[@]}" --epochs 1 --out "$TMP/h1" && run 0 --resume "$TMP/h1" --epochs 3; then
        check "dfw + smooth-hinge: resumed log = uninterrupted log" cmp -s <(strip_times "$TMP/h/log.csv") \
            <(strip_times "$TMP/h1/log.csv")
        check "the resumed run's config.json keeps the loss" grep -q '"loss": "smooth-hinge"' "$TMP/h1/config.json"
    fi
fi
if run 0 "${DATA[@]}" --model mlp-16 --opt bpgrad --eta 0.01 --momentum 0.9 --loss hinge --batch 32 --max-batches 4 \
    --epochs 2 --out "$TMP/bp"; then
    check "bpgrad + hinge: two finite records" awk -F, 'NR > 1 && !($2 >= 0 && $4 >= 0 && $17 >= 0) { n++ } END { exit n || NR != 3 }' \
        "$TMP/bp/log.csv"
fi
# the ALI-G paper's remark, end to end: on the hinge without regularisation DFW is ALI-G with delta = eps/eta;
# for eta a power of two the two runs agree bit for bit (float32 nets, momentum 0.9)
X=("${DATA[@]}" --model mlp-16 --loss hinge --momentum 0.9 --batch 16 --max-batches 6 --seed 4 --threads 2 --epochs 2)
if run 0 "${X[@]}" --opt alig --eta 0.5 --delta 2e-5 --out "$TMP/xa" && run 0 "${X[@]}" --opt dfw --eta 0.5 --out "$TMP/xd"; then
    check "hinge, no decay: alig (eta 0.5, delta 2e-5) and dfw (eta 0.5) logs agree" \
        cmp -s <(strip_times "$TMP/xa/log.csv") <(strip_times "$TMP/xd/log.csv")
    check "hinge, no decay: the first epoch took steps" awk -F, 'NR == 2 { exit !($8 > 0) }' "$TMP/xd/log.csv"
fi
# the plateau schedule: the lr column follows the rule applied to the logged validation accuracies
# (a new best keeps the rate, anything else multiplies it by 0.5; every epoch ends with x0.9)
PL=("${DATA[@]}" --model mlp-16 --opt sgd --lr 0.05 --schedule plateau --factor 0.5 --patience 1 --epoch-decay 0.9
    --batch 32 --max-batches 4 --seed 5 --threads 2)
if run 0 "${PL[@]}" --epochs 6 --out "$TMP/pl"; then
    check "plateau: lr per epoch = the rule on val_acc: $(cut -d, -f5,17 "$TMP/pl/log.csv" | tr '\n' ' ')" \
        awk -F, 'NR == 1 { lr = 0.05; best = -1; next }
                 { if (($17 - lr) > 1e-12 * lr || (lr - $17) > 1e-12 * lr) exit 1
                   if ($5 > best) best = $5; else { lr *= 0.5; drops++ }
                   lr *= 0.9 }
                 END { exit !(drops > 0 && NR == 7) }' "$TMP/pl/log.csv"
    check "plateau: sgd's step_mean equals the lr column" awk -F, 'NR > 1 && ($8 - $17 > 1e-15 || $17 - $8 > 1e-15) { exit 1 }' \
        "$TMP/pl/log.csv"
    if run 0 "${PL[@]}" --epochs 2 --out "$TMP/pl1" && run 0 --resume "$TMP/pl1" --epochs 6; then
        check "plateau: resumed log = uninterrupted log (the schedule's state is in the checkpoint)" \
            cmp -s <(strip_times "$TMP/pl/log.csv") <(strip_times "$TMP/pl1/log.csv")
    fi
fi

# ---------------------------------------------------------------- module edges
# the nets and the data know nothing of solvers or of the loop: only train/ composes them
if [ -n "${ALIG_SOURCE_DIR:-}" ] && [ -d "$ALIG_SOURCE_DIR/nets" ]; then
    edges=$(cd "$ALIG_SOURCE_DIR" && grep -l 'alig/solver\.h\|alig/train\.h' nets/* data/* include/alig/ad.h \
            include/alig/nn.h include/alig/model.h include/alig/task.h include/alig/data.h 2>/dev/null)
    check "nets/ and data/ include neither solver.h nor train.h: ${edges:-none}" [ -z "$edges" ]
fi

# ---------------------------------------------------------------- real Fashion-MNIST (short)
FM=/usr/share/datasets/fashion-mnist
if [ -d "$FM" ]; then
    G="$TMP/g"
    if run 0 --data fashion-mnist --model cnn --opt alig --eta 0.1 --momentum 0.9 --batch 64 --max-batches 3 \
        --train-subset 1000 --val 500 --test-subset 500 --epochs 1 --out "$G"; then
        check "fashion-mnist: header names 55000-sample split subset and 500 val" grep -q "train=1000 val=500 test=500" "$TMP/out"
        check "fashion-mnist: one record" [ "$(wc -l <"$G/log.csv")" -eq 2 ]
    fi
elif [ "${ALIG_REQUIRE_FMNIST:-0}" = 1 ]; then
    bad "Fashion-MNIST required (ALIG_REQUIRE_FMNIST=1) but $FM is missing"
else
    echo "test_train.sh: NOT RUN: fashion-mnist run ($FM not found; run scripts/install-deps)"
fi

finish
