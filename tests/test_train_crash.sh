#!/usr/bin/env bash
# test_train_crash.sh - `alig train` survives kill -9 anywhere, and a resume checks what it continues.
#
# 1. Crash safety. A run is killed (SIGKILL, through the testing hook ALIG_TRAIN_CRASH_AT=POINT:K,
#    which makes the process kill itself the K-th time it reaches POINT) during a step, in the middle
#    of a log record, between log.csv and log.jsonl, halfway through writing a checkpoint, with the
#    checkpoint written but not renamed, and just after the rename; then resumed each time, and
#    finally run to its end. The expectation is the uninterrupted run: the training state in the
#    final checkpoint (weights, batch-norm buffers, the dropout stream, the solver state, the
#    counters) bit for bit, the logs byte for byte (timing columns aside), each record once, no torn
#    line, no temporary file. Epoch mode (a WRN with dropout) and step mode (the DNC on repeat-copy),
#    plus a few kills at arbitrary moments (timed) and a resume from a version-1 checkpoint.
# 2. A resume refuses, with one line naming the checkpoint file and what is wrong (exit 1), and
#    changes nothing: a settings block with a missing, unknown or repeated key or a bad value (edited
#    with tests/lib/ckpt.py, which recomputes the CRC, so the check behind the CRC is what is tested),
#    counters that disagree with the logs, logs that are not those of the checkpoint, and a
#    checkpoint copied from another run. A block without the keys older builds did not write yet
#    (loss, the vision keys, ranks, eps_report) resumes, exactly as the full block does.
set -u

NAME=test_train_crash.sh
PREFIX=(train)
. "$(dirname "$0")/lib/harness.sh"
CK=(python3 -S "$(dirname "$0")/lib/ckpt.py")     # -S: the standard library only, a faster start

runtime_error() {
    local needle=$1; shift
    run 1 "$@" || return
    check "alig train $*: stderr names '$needle': $(cat "$TMP/err")" grep -qF -- "$needle" "$TMP/err"
}
no_tmp_files() { ! ls -A "$1" | grep -q '\.tmp\.'; }
has_tmp_file() { ls -A "$1" | grep -q '^checkpoint\.bin\.tmp\.'; }
# crash POINT:K ARGS... : the run must end killed by SIGKILL at that point (exit 137)
crash() { local at=$1; shift; ALIG_TRAIN_CRASH_AT=$at run 137 "$@" 2>/dev/null; }
epochs_done() { "${CK[@]}" get "$1/checkpoint.bin" epochs_done; }
steps_done() { "${CK[@]}" get "$1/checkpoint.bin" steps_done; }
lines() { grep -c '' "$1"; }     # lines, a last one without its newline included
ends_in_newline() { [ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" = 0a ]; }
torn() { ! ends_in_newline "$1"; }
# the logs without their timing columns / keys
csv_epoch() { cut -d, -f1-10,14,16- "$1"; }
csv_step() { cut -d, -f1-8 "$1"; }
jsonl_stable() { sed -E 's/"(seconds|train_seconds|eval_seconds|images_per_s|steps_per_s)":[^,}]*//g' "$1"; }

# same_run REF DIR MODE WHAT : DIR ended as the uninterrupted REF
same_run() {
    local ref=$1 x=$2 mode=$3 what=$4
    check "$what: log.csv = uninterrupted (timings aside)" cmp -s <("csv_$mode" "$ref/log.csv") <("csv_$mode" "$x/log.csv")
    check "$what: log.jsonl = uninterrupted (timings aside)" cmp -s <(jsonl_stable "$ref/log.jsonl") <(jsonl_stable "$x/log.jsonl")
    check "$what: the training state in checkpoint.bin = uninterrupted, bit for bit" \
        [ "$("${CK[@]}" state "$ref/checkpoint.bin")" = "$("${CK[@]}" state "$x/checkpoint.bin")" ]
    check "$what: each record once (first column strictly increasing), every line complete" \
        awk -F, 'NR > 2 && !($1 > last) { exit 1 } { last = $1 }' "$x/log.csv"
    check "$what: log files end in a newline" ends_in_newline "$x/log.csv" -a ends_in_newline "$x/log.jsonl"
    check "$what: no temporary file left" no_tmp_files "$x"
}

# ---------------------------------------------------------------- synthetic IDX data (as test_train.sh)
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
DATA=(--train-images "$TMP/tr-img" --train-labels "$TMP/tr-lab" --test-images "$TMP/te-img" --test-labels "$TMP/te-lab"
      --val 40)

# ================================================================ 1. epoch mode, kills at named points
# WRN-10-1 with dropout: batch-norm buffers and a random stream travel in the checkpoint; 5 epochs of 4 steps
E=("${DATA[@]}" --model wrn-10-1 --dropout 0.2 --opt alig --eta 0.1 --momentum 0.9 --batch 32 --max-batches 4 --seed 3
   --threads 1 --quiet)
R="$TMP/ref"
X="$TMP/x"
run 0 "${E[@]}" --epochs 5 --out "$R"
check "reference: 5 records" [ "$(lines "$R/log.csv")" -eq 6 -a "$(lines "$R/log.jsonl")" -eq 5 ]

# (a) during step 3, before any checkpoint: nothing to resume; a new start in the same directory is allowed
crash step:3 "${E[@]}" --epochs 5 --out "$X"
check "killed at step 3: no checkpoint, no log" test ! -e "$X/checkpoint.bin" -a ! -e "$X/log.csv"
# (b) a new start, killed halfway through writing the second checkpoint (epoch 2): the record of
#     epoch 2 is in the logs already (logs first, then the checkpoint that counts them)
crash checkpoint-partial:2 "${E[@]}" --epochs 5 --out "$X"
check "killed inside checkpoint 2: a partial temporary file is left" has_tmp_file "$X"
check "killed inside checkpoint 2: checkpoint.bin is epoch 1's" [ "$(epochs_done "$X")" = 1 ]
check "killed inside checkpoint 2: log.csv holds epochs 1 and 2" [ "$(lines "$X/log.csv")" -eq 3 ]
# (c) resumed: the stale temporary file goes, the logs are cut back to epoch 1; epoch 2 is logged
#     again, and the process dies halfway through epoch 3's record
crash log-partial:2 --resume "$X"
check "resume removed the stale temporary file" no_tmp_files "$X"
check "killed inside a record: log.csv holds epochs 1, 2 and a torn line" [ "$(lines "$X/log.csv")" -eq 4 ]
check "killed inside a record: no newline at the end of log.csv" torn "$X/log.csv"
check "killed inside a record: checkpoint.bin is epoch 2's" [ "$(epochs_done "$X")" = 2 ]
# (d) killed with checkpoint 3 complete in its temporary file, not renamed
crash checkpoint-written:1 --resume "$X"
check "killed before the rename: checkpoint.bin is still epoch 2's, a temporary file is left" \
    [ "$(epochs_done "$X")" = 2 ] && check "killed before the rename: temporary file" has_tmp_file "$X"
# (e) killed between log.csv and log.jsonl (epoch 3's record in one of them only)
crash log-csv:1 --resume "$X"
check "killed between the logs: log.csv 3 records, log.jsonl 2" \
    [ "$(lines "$X/log.csv")" -eq 4 -a "$(lines "$X/log.jsonl")" -eq 2 ]
# (f) killed during epoch 4 (this process's 6th step: epoch 3 takes steps 1-4)
crash step:6 --resume "$X"
check "killed in epoch 4: checkpoint.bin is epoch 3's" [ "$(epochs_done "$X")" = 3 ]
# (g) killed just after checkpoint 4 is in place
crash checkpoint-renamed:1 --resume "$X"
check "killed after the rename: checkpoint.bin is epoch 4's" [ "$(epochs_done "$X")" = 4 ]
state4=$("${CK[@]}" state "$X/checkpoint.bin")
# (h) to the end
run 0 --resume "$X"
same_run "$R" "$X" epoch "epoch mode, 7 kills"
check "the state comparison tells states apart (epoch 4's differs from epoch 5's)" \
    [ "$state4" != "$("${CK[@]}" state "$X/checkpoint.bin")" ]

# ---------------------------------------------------------------- kills at arbitrary moments
# whatever the moment (data loading, a step, an evaluation, a write), resuming (or restarting
# when no checkpoint exists yet) ends as the uninterrupted run
Y="$TMP/y"
for delay in 0.2 0.35 0.5 0.65 0.8; do
    if [ -e "$Y/checkpoint.bin" ]; then args=(--resume "$Y"); else args=("${E[@]}" --epochs 5 --out "$Y"); fi
    (timeout --foreground -s KILL "$delay" "$ALIG" train "${args[@]}" >/dev/null 2>&1) 2>/dev/null
done
if [ -e "$Y/checkpoint.bin" ]; then run 0 --resume "$Y"; else run 0 "${E[@]}" --epochs 5 --out "$Y"; fi
same_run "$R" "$Y" epoch "epoch mode, 5 timed kills"

# ---------------------------------------------------------------- a version-1 checkpoint (logs inside)
# an older build's format: the logs travel in the checkpoint and are rewritten from it on resume
V="$TMP/v1"
crash checkpoint-renamed:2 "${E[@]}" --epochs 5 --out "$V"
"${CK[@]}" to-v1 "$V/checkpoint.bin" "$V/log.csv" "$V/log.jsonl"
check "converted to version 1" [ "$("${CK[@]}" get "$V/checkpoint.bin" version)" = 1 ]
printf '3,torn' >>"$V/log.csv"     # a record cut by a crash after the checkpoint
run 0 --resume "$V"
same_run "$R" "$V" epoch "resumed from a version-1 checkpoint"
check "the next checkpoint is version 2" [ "$("${CK[@]}" get "$V/checkpoint.bin" version)" = 2 ]

# an older build's log, without the 8 columns of the ε report: the resume pads its rows with nan and
# rewrites it, and must record the rewritten log in the checkpoint at once: killed at its first
# step, the run resumes again (the checkpoint's CRC describes the padded log) and ends as the reference
U="$TMP/upg"
crash checkpoint-renamed:2 "${E[@]}" --epochs 5 --out "$U"
rev "$U/log.csv" | cut -d, -f9- | rev >"$TMP/old.csv"
check "older log: 8 columns fewer" [ "$(head -1 "$TMP/old.csv" | tr ',' '\n' | grep -c '')" -eq \
                                      "$(( $(head -1 "$U/log.csv" | tr ',' '\n' | grep -c '') - 8 ))" ]
"${CK[@]}" put "$U/checkpoint.bin" csv_bytes "$(stat -c %s "$TMP/old.csv")"
"${CK[@]}" to-v1 "$U/checkpoint.bin" "$TMP/old.csv" "$U/log.jsonl"
cp "$TMP/old.csv" "$U/log.csv"
crash step:1 --resume "$U"
check "older log, killed after the resume rewrote it: the log has the new header" \
    cmp -s <(head -1 "$U/log.csv") <(head -1 "$R/log.csv")
run 0 --resume "$U"
same_run "$R" "$U" epoch "an older build's log: resumed, killed at once, resumed"

# ================================================================ 2. step mode (the DNC on repeat-copy)
# 25 steps, windows of 4 (the last, short one at 25), checkpoints every 6 and at the end
S=(--task repeat-copy --model dnc-16-8-8-2 --opt alig --eta 1 --delta 0 --log-every 4 --checkpoint-every 6 --seed 3
   --threads 1 --quiet)
SR="$TMP/sr"
SX="$TMP/sx"
run 0 "${S[@]}" --steps 25 --out "$SR"
check "step reference: windows at 4, ..., 24 and 25" [ "$(lines "$SR/log.csv")" -eq 8 ]
crash checkpoint-written:2 "${S[@]}" --steps 25 --out "$SX"      # checkpoint 12 not renamed
check "step mode, killed before the rename of checkpoint 12: checkpoint.bin is step 6's" [ "$(steps_done "$SX")" = 6 ]
crash log-partial:2 --resume "$SX"                                 # window 12's record torn
check "step mode, killed inside a record: no newline at the end of log.csv" torn "$SX/log.csv"
crash step:11 --resume "$SX"                                       # step 6 + 11 = 17, after checkpoint 12
check "step mode, killed at step 17: checkpoint.bin is step 12's" [ "$(steps_done "$SX")" = 12 ]
crash log-csv:2 --resume "$SX"                                     # windows 16, 20: 20 in log.csv only
check "step mode, killed between the logs: checkpoint.bin is step 18's" [ "$(steps_done "$SX")" = 18 ]
crash checkpoint-partial:1 --resume "$SX"                          # checkpoint 24 half written
run 0 --resume "$SX"
same_run "$SR" "$SX" step "step mode, 5 kills"

# ================================================================ 3. what a resume refuses
K="$TMP/k"
KK="$TMP/kk"
KO="$TMP/ko"
M=("${DATA[@]}" --model mlp-16 --opt sgd --lr 0.05 --momentum 0.9 --batch 32 --max-batches 4 --threads 1 --quiet)
run 0 "${M[@]}" --epochs 2 --out "$K"
run 0 "${M[@]}" --epochs 2 --seed 7 --out "$KO"      # another run: another seed, same everything else
"${CK[@]}" settings "$K/checkpoint.bin" >"$TMP/settings"
fresh() { rm -rf "$KK"; cp -r "$K" "$KK"; }
digest() { cat "$KK/checkpoint.bin" "$KK/log.csv" "$KK/log.jsonl" "$KK/config.json" 2>/dev/null | cksum; }
settings_sed() { sed "$1" "$TMP/settings" | "${CK[@]}" put-settings "$KK/checkpoint.bin"; }
# refused NEEDLE : --resume of $KK fails (exit 1, one line naming the checkpoint file and NEEDLE), nothing changes
refused() {
    local needle=$1 before
    before=$(digest)
    runtime_error "$needle" --resume "$KK" --epochs 3 || return
    check "refused ($needle): one stderr line, nothing on stdout" [ "$(lines "$TMP/err")" -eq 1 -a ! -s "$TMP/out" ]
    check "refused ($needle): the message names $KK/checkpoint.bin" grep -qF "$KK/checkpoint.bin" "$TMP/err"
    check "refused ($needle): nothing in the run directory changed" [ "$before" = "$(digest)" ]
}
# control: the helper's rewrite (same block, new CRC) is accepted, so what follows tests the checks
fresh
settings_sed 's/^x//'
run 0 --resume "$KK" --epochs 3
check "control: an unedited (re-sealed) checkpoint resumes to 3 records" [ "$(lines "$KK/log.csv")" -eq 4 ]

fresh; settings_sed '/^batch=/d';                           refused "missing key 'batch'"
# the keys added after the block's first version are absent from older builds' checkpoints: their
# defaults apply (this run has them: ce, no vision data, 1 rank, no ε report) and the resume is exact
fresh; settings_sed '/^\(loss\|data_dir\|augment\|coarse\|no_extra\|ranks\|eps_report\)=/d'
rm -rf "$TMP/kf"; cp -r "$K" "$TMP/kf"
run 0 --resume "$KK" --epochs 3 && run 0 --resume "$TMP/kf" --epochs 3 &&
    check "a block without the later keys resumes, as the full block does" \
        [ "$("${CK[@]}" state "$KK/checkpoint.bin")" = "$("${CK[@]}" state "$TMP/kf/checkpoint.bin")" ]
fresh; settings_sed '$a colour=blue';                       refused "unknown key 'colour'"
fresh; settings_sed '$a batch=32';                          refused "key 'batch' given twice"
fresh; settings_sed 's/^batch=.*/batch=0/';                 refused "key 'batch': '0'"
fresh; settings_sed 's/^batch=.*/batch=32x/';               refused "key 'batch': '32x'"
fresh; settings_sed 's/^batch=.*/batch= 32/';               refused "key 'batch': ' 32'"
fresh; settings_sed 's/^threads=.*/threads=1025/';          refused "key 'threads'"
# threads=0 (older builds: the OpenMP default, resolved on resume) is accepted
fresh; settings_sed 's/^threads=.*/threads=0/'
run 0 --resume "$KK" --epochs 3 && check "threads=0 resumes to 3 records" [ "$(lines "$KK/log.csv")" -eq 4 ]
fresh; settings_sed 's/^dropout=.*/dropout=0x1p-1/';        refused "key 'dropout'"
fresh; settings_sed 's/^dropout=.*/dropout=1/';             refused "key 'dropout'"
fresh; settings_sed 's/^clip_norm=.*/clip_norm=-1/';        refused "key 'clip_norm'"
fresh; settings_sed 's/^augment=.*/augment=2/';             refused "key 'augment'"
fresh; settings_sed 's/^loss=.*/loss=svm/';                 refused "key 'loss'"
fresh; settings_sed 's/^task=.*/task=copy/';                refused "key 'task'"
fresh; settings_sed 's/^model=.*/model=resnet/';            refused "key 'model'"
fresh; settings_sed 's/^opt=.*/opt=adam/';                  refused "key 'opt'"
fresh; settings_sed 's/^epochs=.*/epochs=0/';               refused "'epochs' and 'steps'"
fresh; settings_sed 's/^seed=.*/seed=-1/';                  refused "key 'seed'"
fresh; settings_sed '1s/.*/alig-train 9/';                  refused "alig-train 2"
# the loop state against the logs it continues
fresh; "${CK[@]}" put "$KK/checkpoint.bin" epochs_done 1;   refused "epochs_done (1)"
fresh; "${CK[@]}" put "$KK/checkpoint.bin" steps_done 7;    refused "steps_done (7)"
fresh; "${CK[@]}" put "$KK/checkpoint.bin" csv_bytes 100;   refused "log.csv differs"
fresh; sed -i '2s/^1,0/1,9/' "$KK/log.csv";                 refused "log.csv differs"
fresh; rm "$KK/log.csv";                                    refused "log.csv is missing"
fresh; truncate -s 10 "$KK/log.jsonl";                      refused "fewer than"
# a checkpoint from another run (another seed): alone, or with that run's logs
fresh; cp "$KO/checkpoint.bin" "$KK/";                      refused "copied from another run"
fresh; cp "$KO/checkpoint.bin" "$KO/log.csv" "$KO/log.jsonl" "$KK/"; refused "config.json describes another run"
check "another run: the message names the member that differs" grep -qF '"task" member' "$TMP/err"
# ... but a whole run directory copied elsewhere is that run, and resumes
fresh; cp "$KO"/* "$KK/"
run 0 --resume "$KK" --epochs 3 && check "a whole run copied: resumes" [ "$(lines "$KK/log.csv")" -eq 4 ]
# step mode: the open window against steps_done
rm -rf "$KK"; cp -r "$SR" "$KK"
"${CK[@]}" put "$KK/checkpoint.bin" win_steps 3
before=$(digest)
runtime_error "steps_done (25) disagrees" --resume "$KK" --steps 30
check "step mode, edited open window: nothing changed" [ "$before" = "$(digest)" ]

# ---------------------------------------------------------------- one process per run directory
if command -v flock >/dev/null; then
    fresh
    flock -n "$KK" "$ALIG" train --resume "$KK" --epochs 3 >"$TMP/out" 2>"$TMP/err"
    rc=$?
    check "a run directory held by another process: exit 1 (got $rc)" [ "$rc" -eq 1 ]
    check "held directory: says so: $(cat "$TMP/err")" grep -q "another process is training in this directory" "$TMP/err"
    check "held directory: nothing changed" [ "$(lines "$KK/log.csv")" -eq 3 ]
else
    echo "$NAME: NOT RUN: the directory lock (flock(1) missing)"
fi

finish
