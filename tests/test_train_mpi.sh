#!/usr/bin/env bash
# test_train_mpi.sh - data-parallel `mpirun -np K alig train` on loopback against one process:
#   - K = 1 under mpirun is bit for bit the run without mpirun (logs and weights);
#   - the CNN (no batch norm) at K = 2 (batch 31: slices of 15 and 16) follows the one-process run
#     within float rounding: every step both runs compute the same per-sample gradients and differ
#     only in how the batch sum is split and ordered (one float sum of 31 terms, against two float
#     sums of 15 and 16 added in double), and the float update rounds x to half an ulp; so the
#     weights may drift apart by a few float roundings per step, and we allow 4 roughly per step
#     (|Δx| <= 4·S·u·max|x|, u = 2^-24, S steps); a slicing or weighting mistake moves a weight by
#     a fraction of a step (lr·|g|, about 1e-3 here), far above. The losses agree to 1e-6 relative;
#   - epoch mode (one epoch of 12 batches of 31, the last one short: 19 = slices of 9 and 10): the
#     record's training loss, validation and test losses within 1e-6 of one process, the
#     accuracies (counts summed over the ranks; evaluation runs whole on every rank) equal;
#   - resume: K = 2 stopped at step 3 and resumed with K = 2 is bit for bit the uninterrupted K = 2
#     run; resumed with K = 1 it stays within the tolerance above of both;
#   - batch norm is per rank's share: the WRN's first loss at K = 2 (batch 16) equals the mean of
#     the first losses of the two halves trained in one process with batch 8 (an SGD step of 1e-30
#     leaves the weights as they were), and differs from the full batch's by far more than rounding;
#   - refusals: --profile with 2 ranks, and batch norm with a rank share of 1 sample;
#   - `mpirun -np 2 alig sweep` of `alig train` cells: each cell runs alone, not as a rank of the
#     sweep's job (its summary equals a local sweep's).
# Exits 77 (ctest: not run) when this alig was built without MPI or mpirun is missing.
set -u
NAME=test_train_mpi.sh
PREFIX=(train)
. "$(dirname "$0")/lib/harness.sh"

if ! "$ALIG" sweep --help | grep -q "MPI: built with MPI"; then
    echo "$NAME: NOT RUN: this alig was built without MPI (install libopenmpi-dev, openmpi-bin and reconfigure)"
    exit 77
fi
if ! command -v mpirun >/dev/null 2>&1; then
    echo "$NAME: NOT RUN: mpirun not found (install openmpi-bin)"
    exit 77
fi
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
# Sanitizer builds: leak checking off for the processes mpirun starts (OpenMPI's unloaded components
# leave allocations LeakSanitizer cannot attribute; see test_sweep_mpi.sh). The one-process runs
# below keep it on, and they run the same training code.
MPIENV=()
if [ -n "${ALIG_SANITIZE_FLAGS:-}" ]; then
    MPIENV=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
fi
export OMPI_MCA_btl=self,vader,tcp

# 1x12x12 images, 3 classes: a bright 4x4 patch whose row band is the class, plus noise (as test_train.sh)
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
      --val 40 --threads 1 --quiet)

mpi() { # mpi K EXPECTED_RC ARGS... : mpirun -np K alig train ARGS
    local k=$1 want=$2; shift 2
    "${MPIENV[@]}" "${MPIRUN[@]}" -np "$k" "$ALIG" train "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$?
    check "mpirun -np $k alig train $*: exit $want (got $rc; $(tail -c 300 "$TMP/err"))" [ "$rc" -eq "$want" ]
}

# ckdiff A B : "n differing max|dx| max|x| nbuf differing_buf" of the x and buffers of two checkpoint.bin
# files (layout in docs/training.md: magic, version, byte order, model name, description, x, buffers)
ckdiff() {
    perl -e '
        sub rd { open(my $F, "<", $_[0]) or die "$_[0]: $!"; binmode $F; local $/; my $d = <$F>;
                 my $o = 16 + 64; $o += 8 + unpack("Q", substr($d, $o, 8));
                 my $xb = unpack("Q", substr($d, $o, 8)); my @x = unpack("f*", substr($d, $o + 8, $xb)); $o += 8 + $xb;
                 my $bb = unpack("Q", substr($d, $o, 8)); my @b = unpack("f*", substr($d, $o + 8, $bb));
                 return (\@x, \@b); }
        my ($xa, $ba) = rd($ARGV[0]); my ($xb, $bb) = rd($ARGV[1]);
        die "sizes differ\n" if @$xa != @$xb || @$ba != @$bb;
        my ($nd, $dx, $mx, $nb) = (0, 0, 0, 0);
        for my $i (0 .. $#$xa) {
            my $d = abs($xa->[$i] - $xb->[$i]);
            $nd++ if $xa->[$i] != $xb->[$i]; $dx = $d if $d > $dx; $mx = abs($xa->[$i]) if abs($xa->[$i]) > $mx;
        }
        for my $i (0 .. $#$ba) { $nb++ if $ba->[$i] != $bb->[$i] }
        printf "%d %d %.6e %.6e %d %d\n", scalar(@$xa), $nd, $dx, $mx, scalar(@$ba), $nb;' "$1" "$2"
}
# within_float A B STEPS : max|x_A - x_B| <= 4·STEPS·2^-24·max|x_A|
within_float() {
    local d
    d=$(ckdiff "$1" "$2") || return 1
    echo "$NAME: $1 vs $2: n, differing, max|dx|, max|x|, nbuf, differing buffers: $d"
    echo "$d" | awk -v s="$3" '{ exit !($3 <= 4 * s * 2^-24 * $4) }'
}
identical() { local d; d=$(ckdiff "$1" "$2") && echo "$d" | awk '{ exit !($2 == 0 && $6 == 0) }'; }
nowall() { cut -d, -f1-8 "$1"; }      # step-mode log.csv without seconds and steps_per_s
col3() { sed -n "$((1 + $2))p" "$1" | cut -d, -f3; }     # loss_mean of record $2
not() { ! "$@"; }
rel_le() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t * (a < 0 ? -a : a)) }'; }

CNN=("${DATA[@]}" --model cnn --opt sgd --lr 0.05 --batch 31 --log-every 1 --checkpoint-every 3)

# ---------------------------------------------------------------- K = 1 under mpirun: bit for bit
run 0 "${CNN[@]}" --steps 6 --out "$TMP/c1"
mpi 1 0 "${CNN[@]}" --steps 6 --out "$TMP/c1m"
check "np 1: log equals the run without mpirun" cmp -s <(nowall "$TMP/c1/log.csv") <(nowall "$TMP/c1m/log.csv")
check "np 1: weights equal the run without mpirun" identical "$TMP/c1/checkpoint.bin" "$TMP/c1m/checkpoint.bin"
check "np 1: config.json says 1 rank" grep -q '"ranks": 1' "$TMP/c1m/config.json"

# ---------------------------------------------------------------- K = 2 against one process
mpi 2 0 "${CNN[@]}" --steps 6 --out "$TMP/c2"
check "np 2: config.json says 2 ranks" grep -q '"ranks": 2' "$TMP/c2/config.json"
check "np 2: weights within float rounding of one process after 6 steps" \
    within_float "$TMP/c1/checkpoint.bin" "$TMP/c2/checkpoint.bin" 6
check "np 2: not bit for bit (else this test could not tell a reduction from none)" not identical "$TMP/c1/checkpoint.bin" "$TMP/c2/checkpoint.bin"
for s in 1 2 3 4 5 6; do
    a=$(col3 "$TMP/c1/log.csv" $s) b=$(col3 "$TMP/c2/log.csv" $s)
    check "np 2: loss of step $s ($b) within 1e-6 of one process ($a)" rel_le "$a" "$b" 1e-6
done
check "np 2: one log record per step" [ "$(wc -l <"$TMP/c2/log.csv")" -eq 7 ]

# ---------------------------------------------------------------- epoch mode, short last batch
EP=("${DATA[@]}" --model cnn --opt sgd --lr 0.05 --batch 31 --epochs 1)
run 0 "${EP[@]}" --out "$TMP/e1"
mpi 2 0 "${EP[@]}" --out "$TMP/e2"
# epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,...,images(14),...,steps(16)
for c in 2 4 6; do
    a=$(sed -n 2p "$TMP/e1/log.csv" | cut -d, -f$c) b=$(sed -n 2p "$TMP/e2/log.csv" | cut -d, -f$c)
    check "epoch np 2: column $c ($b) within 1e-6 of one process ($a)" rel_le "$a" "$b" 1e-6
done
check "epoch np 2: accuracies, images and steps equal one process's" \
    cmp -s <(sed -n 2p "$TMP/e1/log.csv" | cut -d, -f3,5,7,14,16) <(sed -n 2p "$TMP/e2/log.csv" | cut -d, -f3,5,7,14,16)
check "epoch np 2: 12 steps, 360 images" [ "$(sed -n 2p "$TMP/e2/log.csv" | cut -d, -f14,16)" = "360,12" ]

# ---------------------------------------------------------------- resume
mpi 2 0 "${CNN[@]}" --steps 3 --out "$TMP/r22"
mpi 2 0 --resume "$TMP/r22" --steps 6 --quiet
check "resume 2 -> 2: log equals the uninterrupted np 2 run" cmp -s <(nowall "$TMP/c2/log.csv") <(nowall "$TMP/r22/log.csv")
check "resume 2 -> 2: weights equal the uninterrupted np 2 run" identical "$TMP/c2/checkpoint.bin" "$TMP/r22/checkpoint.bin"
mpi 2 0 "${CNN[@]}" --steps 3 --out "$TMP/r21"
run 0 --resume "$TMP/r21" --steps 6
check "resume 2 -> 1: says the rank count changed" grep -q "checkpointed with 2 ranks and continues with 1" "$TMP/out"
check "resume 2 -> 1: within float rounding of one process" within_float "$TMP/c1/checkpoint.bin" "$TMP/r21/checkpoint.bin" 6
check "resume 2 -> 1: within float rounding of np 2" within_float "$TMP/c2/checkpoint.bin" "$TMP/r21/checkpoint.bin" 6

# ---------------------------------------------------------------- batch norm: per rank's share
WRN=("${DATA[@]}" --model wrn-10-1 --opt sgd --lr 1e-30)
run 0 "${WRN[@]}" --batch 16 --steps 1 --log-every 1 --out "$TMP/w1"
mpi 2 0 "${WRN[@]}" --batch 16 --steps 1 --log-every 1 --out "$TMP/w2"
run 0 "${WRN[@]}" --batch 8 --steps 2 --log-every 2 --out "$TMP/wh"
full=$(col3 "$TMP/w1/log.csv" 1) shared=$(col3 "$TMP/w2/log.csv" 1) halves=$(col3 "$TMP/wh/log.csv" 1)
echo "$NAME: WRN first loss: batch 16 in one process $full, np 2 $shared, mean of the two halves of 8 $halves"
check "BN np 2: first loss ($shared) = mean of the halves' losses ($halves)" rel_le "$halves" "$shared" 1e-12
check "BN np 2: first loss ($shared) differs from the full batch's ($full)" not rel_le "$full" "$shared" 1e-3

# ---------------------------------------------------------------- refusals
mpi 2 2 "${CNN[@]}" --steps 2 --profile --out "$TMP/p"
check "np 2 --profile: refused, naming --profile" grep -q -- "--profile under mpirun with 2 ranks" "$TMP/err"
check "np 2 --profile: a usage error, not an abort" not grep -q MPI_ABORT "$TMP/err"
check "np 2 --profile: nothing written" [ -z "$(ls -A "$TMP/p" 2>/dev/null)" ]
mpi 2 2 "${WRN[@]}" --batch 3 --steps 1 --out "$TMP/b"
check "np 2 batch 3 with batch norm: refused, naming --batch" grep -q -- "--batch 3: .*fewer than the 2 samples batch norm needs" "$TMP/err"

# ---------------------------------------------------------------- train cells of a sweep under mpirun
GRID=(--base "train ${DATA[*]} --model mlp-8 --batch 16 --steps 3 --log-every 1" --method sgd --args "--opt sgd"
      --axis lr=0.05,0.1 --quiet)
PREFIX=(sweep)
run 0 "${GRID[@]}" --out "$TMP/sw1"
"${MPIENV[@]}" "${MPIRUN[@]}" -np 2 "$ALIG" sweep "${GRID[@]}" --out "$TMP/sw2" >"$TMP/out" 2>"$TMP/err" </dev/null
rc=$?
check "np 2 sweep of train cells: exit 0 (got $rc; $(tail -c 300 "$TMP/err"))" [ "$rc" -eq 0 ]
check "np 2 sweep of train cells: summary equals the local sweep's" \
    cmp -s <(sed 's/,[^,]*$//' "$TMP/sw1/summary.csv") <(sed 's/,[^,]*$//' "$TMP/sw2/summary.csv")
check "np 2 sweep of train cells: both ok" [ "$(grep -c ',ok,' "$TMP/sw2/summary.csv")" -eq 2 ]

finish
