#!/usr/bin/env bash
# test_vision_cli.sh - `alig train --data cifar10|cifar100|svhn --data-dir DIR` with the flags that go
# with it (--augment, --labels, --svhn-extra): usage errors (exit 2, one stderr line naming the
# flag), damaged or missing files (exit 1 naming the file), a DenseNet-BC run on a small CIFAR-10
# directory written here in the binary format, config.json, --resume with augmentation equal to the
# uninterrupted run (timings aside), augmentation changing the training records, CIFAR-100's coarse
# labels. The SVHN reader itself is covered by tests/test_vision_data.c.
set -u

NAME=test_vision_cli.sh
PREFIX=(train)
. "$(dirname "$0")/lib/harness.sh"

runtime_error() {
    local needle=$1; shift
    run 1 "$@" || return
    check "alig train $*: stderr names '$needle': $(cat "$TMP/err")" grep -qF -- "$needle" "$TMP/err"
}
strip_times() { cut -d, -f1-10,14,16 "$1"; }
logs_differ() { ! cmp -s <(strip_times "$1") <(strip_times "$2"); }

# make_cifar FILE N SEED LABEL_BYTES: N records; class c (of 10, or coarse c/5 of 20 and fine c*10
# of 100) puts a bright band on rows 3c..3c+2 of the red plane, plus noise.
make_cifar() {
    perl -e '
        my ($f, $n, $seed, $lb) = @ARGV;
        srand($seed);
        open(my $F, ">", $f) or die; binmode $F;
        for my $i (1 .. $n) {
            my $c = int(rand(10));
            print $F ($lb == 1 ? pack("C", $c) : pack("CC", $c * 2, $c * 10));
            for my $j (0 .. 3071) {
                my $v = int(rand(80));
                $v += 150 if $j < 1024 && int(int($j / 32) / 3) == $c;
                print $F pack("C", $v);
            }
        }' "$@"
}
C10="$TMP/c10"; mkdir -p "$C10"
for i in 1 2 3 4 5; do make_cifar "$C10/data_batch_$i.bin" 40 "$i" 1; done
make_cifar "$C10/test_batch.bin" 30 9 1
C100="$TMP/c100"; mkdir -p "$C100"
make_cifar "$C100/train.bin" 120 11 2
make_cifar "$C100/test.bin" 20 12 2
RUN=(--model densenet-bc-10-2 --opt sgd --lr 0.05 --momentum 0.9 --batch 20 --val 40 --threads 1 --quiet)

# ---------------------------------------------------------------- usage errors
O="$TMP/u"
usage_error "--data-dir" --data cifar10 "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--data-dir" --data-dir "$C10" "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--augment" --data cifar10 --data-dir "$C10" --augment maybe "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--labels" --data cifar10 --data-dir "$C10" --labels coarse "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--labels" --data cifar100 --data-dir "$C100" --labels medium "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--svhn-extra" --data cifar10 --data-dir "$C10" --svhn-extra off "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--svhn-extra" --data svhn --data-dir "$C10" --svhn-extra maybe "${RUN[@]}" --epochs 1 --out "$O"
usage_error "--data-dir" --task repeat-copy --data-dir "$C10" --model dnc --opt sgd --steps 1 --out "$O"
usage_error "densenet-bc-41-2" --data cifar10 --data-dir "$C10" --model densenet-bc-41-2 --opt sgd --epochs 1 --out "$O"
usage_error "--dropout" --data cifar10 --data-dir "$C10" --model densenet-bc-10-2 --dropout 0.2 --opt sgd --epochs 1 --out "$O"

# ---------------------------------------------------------------- missing and damaged files
runtime_error "nowhere: cannot access the data directory" --data cifar10 --data-dir "$TMP/nowhere" "${RUN[@]}" --epochs 1 --out "$O"
runtime_error "svhn/train_32x32.mat" --data svhn --data-dir "$TMP/svhn" "${RUN[@]}" --epochs 1 --out "$O"
BAD="$TMP/bad"; cp -r "$C10" "$BAD"
head -c 5000 "$C10/data_batch_4.bin" > "$BAD/data_batch_4.bin"
runtime_error "data_batch_4.bin: 5000 bytes is not a whole" --data cifar10 --data-dir "$BAD" "${RUN[@]}" --epochs 1 --out "$O"
check "no run directory content after a data error" [ ! -e "$O/checkpoint.bin" ]

# ---------------------------------------------------------------- a run, config.json, resume
A="$TMP/a"; B="$TMP/b"; N="$TMP/n"
run 0 --data cifar10 --data-dir "$C10" "${RUN[@]}" --epochs 2 --out "$A"
check "2 records" [ "$(wc -l <"$A/log.jsonl")" -eq 2 ]
check "config.json: augmentation on by default for cifar10" grep -q '"augment": true, "data_dir": "' "$A/config.json"
check "config.json: 160 training, 40 validation, 30 test images, 3x32x32" \
    grep -q '"shape": \[3, 32, 32\], "train_samples": 160, "val_samples": 40, "test_samples": 30' "$A/config.json"
check "config.json: densenet-bc-10-2 with 786 parameters" grep -q '"name": "densenet-bc-10-2", "params": 786' "$A/config.json"
check "config.json parses as JSON" perl -MJSON::PP -e 'local $/; open F, $ARGV[0]; decode_json(<F>)' "$A/config.json"
run 0 --data cifar10 --data-dir "$C10" "${RUN[@]}" --epochs 1 --out "$B"
run 0 --resume "$B" --epochs 2 --quiet
check "resumed log = uninterrupted log with augmentation (timings aside)" \
    cmp -s <(strip_times "$A/log.csv") <(strip_times "$B/log.csv")
run 0 --data cifar10 --data-dir "$C10" --augment off "${RUN[@]}" --epochs 2 --out "$N"
check "config.json: --augment off" grep -q '"augment": false' "$N/config.json"
check "augmentation changes the training records" logs_differ "$A/log.csv" "$N/log.csv"

# ---------------------------------------------------------------- CIFAR-100 labels
run 0 --data cifar100 --data-dir "$C100" --labels coarse "${RUN[@]}" --epochs 1 --out "$TMP/c"
check "cifar100 --labels coarse: 20 classes" grep -q '"labels": "coarse"' "$TMP/c/config.json"
check "cifar100 --labels coarse: the model has 20 outputs" grep -q '"classes": 20' "$TMP/c/config.json"
run 0 --data cifar100 --data-dir "$C100" "${RUN[@]}" --epochs 1 --out "$TMP/f"
check "cifar100: fine labels by default, 100 classes" grep -q '"labels": "fine"' "$TMP/f/config.json"
check "cifar100: the model has 100 outputs" grep -q '"classes": 100' "$TMP/f/config.json"

finish
