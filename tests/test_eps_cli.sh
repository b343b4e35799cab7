#!/usr/bin/env bash
# test_eps_cli.sh - `alig train --eps-report`: the ε report's log columns (after lr, in log.csv and
# log.jsonl), their order (q50 <= q90 <= q99 <= q99.9 <= max, the mean below the max), the stdout
# line agreeing with log.csv, nan without the flag, the setting kept by --resume and changed by
# --resume --eps-report off, config.json, one stdout line per epoch without the report (no stray
# step-window line), and the usage errors (a bad value; step mode).
# Data: small synthetic IDX files written here.
set -u

NAME=test_eps_cli.sh
PREFIX=(train)
. "$(dirname "$0")/lib/harness.sh"

# N images 1x12x12: noise plus a bright patch whose row band is the class (3 classes).
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
make_idx 300 1 "$TMP/tr-img" "$TMP/tr-lab"
make_idx 60 2 "$TMP/te-img" "$TMP/te-lab"
DATA=(--train-images "$TMP/tr-img" --train-labels "$TMP/tr-lab" --test-images "$TMP/te-img" --test-labels "$TMP/te-lab"
      --val 40)
COMMON=("${DATA[@]}" --model mlp-16 --opt alig --eta 0.1 --batch 32 --seed 3 --threads 1)

# col NAME FILE : the 1-based column of NAME in the CSV header of FILE
col() { head -1 "$2" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }

run 0 --help && check "--help lists --eps-report" grep -q -- "--eps-report on|off" "$TMP/out"

A="$TMP/a"
if run 0 "${COMMON[@]}" --epochs 2 --eps-report on --out "$A"; then
    check "header ends with the ε columns: $(head -1 "$A/log.csv")" \
        grep -q ',steps,lr,train_eval_loss,train_eval_acc,eps_max,eps_q50,eps_q90,eps_q99,eps_q999,eps_seconds$' "$A/log.csv"
    check "two records" [ "$(wc -l <"$A/log.csv")" -eq 3 ]
    m=$(col train_eval_loss "$A/log.csv")
    check "ordered: 0 <= q50 <= q90 <= q99 <= q99.9 <= max, mean <= max, acc in [0,1], finite" \
        awk -F, -v m="$m" 'NR > 1 && !($(m+3) >= 0 && $(m+3) <= $(m+4) && $(m+4) <= $(m+5) && $(m+5) <= $(m+6) &&
            $(m+6) <= $(m+2) && $m <= $(m+2) && $(m+1) >= 0 && $(m+1) <= 1 && $(m+2) != "nan" && $(m+7) >= 0) { exit 1 }' \
        "$A/log.csv"
    check "one eps line per epoch on stdout" [ "$(grep -c '^epoch [12]/2 eps: ' "$TMP/out")" -eq 2 ]
    # the stdout line shows log.csv's values to 4 significant digits
    want=$(awk -F, -v m="$m" 'NR == 3 { printf "train_eval_loss=%.4g train_eval_acc=%.4f max=%.4g q50=%.4g q90=%.4g q99=%.4g q99.9=%.4g", $m, $(m+1), $(m+2), $(m+3), $(m+4), $(m+5), $(m+6) }' "$A/log.csv")
    check "stdout eps line = log.csv ($want)" grep -qF "epoch 2/2 eps: $want " "$TMP/out"
    check "log.jsonl: every record has the ε keys" \
        [ "$(grep -c '"train_eval_loss":[0-9].*"eps_max":[0-9].*"eps_q999":[0-9].*"eps_seconds":[0-9]' "$A/log.jsonl")" -eq 2 ]
    check "config.json: eps_report true" grep -q '"eps_report": true' "$A/config.json"
    # --resume keeps the report on; --eps-report off switches it off
    run 0 --resume "$A" --epochs 3 && check "resume keeps --eps-report: $(tail -1 "$A/log.csv")" \
        awk -F, -v m="$m" 'NR == 4 { exit !($(m+2) != "nan" && $(m+2) >= $(m+3)) }' "$A/log.csv"
    run 0 --resume "$A" --epochs 4 --eps-report off && check "resume --eps-report off: nan: $(tail -1 "$A/log.csv")" \
        awk -F, -v m="$m" 'NR == 5 { exit !($m == "nan" && $(m+2) == "nan" && $(m+7) == "nan") }' "$A/log.csv"
    check "no eps line when off" [ "$(grep -c ' eps: ' "$TMP/out")" -eq 0 ]
    check "epoch mode, report off: one line per epoch on stdout and no step-window line" \
        [ "$(grep -c '^epoch 4/4 train_loss=' "$TMP/out")" -eq 1 -a "$(grep -c '^step ' "$TMP/out")" -eq 0 ]
fi

B="$TMP/b"
if run 0 "${COMMON[@]}" --epochs 1 --out "$B"; then
    check "off by default: nan columns" awk -F, 'NR == 2 { for (i = NF - 7; i <= NF; i++) if ($i != "nan") exit 1 }' "$B/log.csv"
    check "off by default: config.json eps_report false" grep -q '"eps_report": false' "$B/config.json"
fi

usage_error "--eps-report" "${COMMON[@]}" --epochs 1 --eps-report yes --out "$TMP/u"
usage_error "--eps-report goes with --epochs" "${COMMON[@]}" --steps 3 --eps-report on --out "$TMP/u"
usage_error "--eps-report goes with --epochs" --task repeat-copy --model dnc --opt alig --steps 3 --eps-report on --out "$TMP/u"
finish
