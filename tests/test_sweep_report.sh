#!/usr/bin/env bash
# test_sweep_report.sh - `alig sweep --table DIR` and `alig sweep --curves DIR [--smooth K]` on a
# tiny real sweep (16 cells of `alig train --model mlp-8`, 3 epochs on small synthetic IDX files,
# about 2 s with --jobs 2): the chosen setting, the test accuracy's mean and sample sd, the ε
# means, the smoothed curves, all recomputed here by a second implementation (perl, from the
# cells' log.jsonl and summary.csv); a setting with a non-finite cell excluded and counted; a
# deleted log excluding its setting; no usable setting at all (exit 1, nothing written); usage
# errors (exit 2, one line). The library side, with hand-computed values: test_grid_report.c.
set -u

NAME=test_sweep_report.sh
PREFIX=(sweep)
. "$(dirname "$0")/lib/harness.sh"

# ---------------------------------------------------------------- data and the sweep
# N images of 1x12x12: noise in [0, 100) plus 25 on a 4x4 patch whose row band is the class (3
# classes), faint enough that the settings differ in accuracy.
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
                    my $v = int(rand(100));
                    $v += 25 if int($r / 4) == $c && $s >= 4 && $s < 8;
                    print $I pack("C", $v);
                }
            }
        }' "$@"
}
make_idx 200 1 "$TMP/tr-img" "$TMP/tr-lab"
make_idx 60 2 "$TMP/te-img" "$TMP/te-lab"
DATA="--train-images $TMP/tr-img --train-labels $TMP/tr-lab --test-images $TMP/te-img --test-labels $TMP/te-lab --val 40"
S="$TMP/s"
# two panels (t1, t2); t2.sgd at lr = 1e6 goes non-finite on both seeds
run 0 --base "train $DATA --model mlp-8 --epochs 3 --batch 20 --eps-report on --quiet" \
    --method t1.sgd --args "--opt sgd" --axis lr=0.01,0.3 \
    --method t1.adam --args "--opt adam" --axis lr=0.001,0.01 \
    --method t2.alig --args "--opt alig" --axis eta=0.1,1 \
    --method t2.sgd --args "--opt sgd" --axis lr=0.1,1e6 \
    --seeds 0-1 --jobs 2 --quiet --out "$S"
check "lr = 1e6 went non-finite (the excluded setting of this test)" \
    grep -q '^t2.sgd__lr=1e6__s0,.*,non-finite,' "$S/summary.csv"

# ---------------------------------------------------------------- the second implementation
# expect.pl RULE DIR [K]: per method, in grid order (summary.csv), the settings (a cell name less
# its __sN) whose every seed is ok with the rule's values finite in the final log record; the best
# mean (val: largest val_acc, loss: smallest train_loss; ties: the first); prints for --table
# "method,cell,n_seeds,val_mean,test_mean,test_sd,eps_max_mean,eps_q50_mean,n_failed" and for
# --curves "method,cell,epoch,raw,smoothed" per epoch (trailing mean over K epochs).
cat >"$TMP/expect.pl" <<'EOF'
use strict; use warnings;
my ($rule, $dir, $k) = @ARGV;
open(my $S, "<", "$dir/summary.csv") or die "summary.csv: $!";
my @h = split /,/, scalar <$S>; chomp @h;
my %col; @col{@h} = (0 .. $#h);
my (@methods, %settings, %cells, %status);
while (<$S>) {
    chomp; my @f = split /,/;
    my ($cell, $m) = ($f[$col{cell}], $f[$col{method}]);
    (my $set = $cell) =~ s/__s\d+$//;
    push @methods, $m unless grep { $_ eq $m } @methods;
    push @{$settings{$m}}, $set unless grep { $_ eq $set } @{$settings{$m} || []};
    push @{$cells{$set}}, $cell;
    $status{$cell} = $f[$col{status}];
}
sub records { # all epoch records of a cell: list of hashes (null: undef)
    my ($cell) = @_;
    open(my $L, "<", "$dir/cells/$cell/run/log.jsonl") or return;
    my @r;
    while (my $line = <$L>) {
        my %h; $h{$1} = $2 eq "null" ? undef : $2 + 0 while $line =~ /"(\w+)":(null|-?[0-9.eE+-]+)/g;
        push @r, \%h if exists $h{epoch};
    }
    return @r;
}
sub mean { my $s = 0; $s += $_ for @_; return $s / @_; }
foreach my $m (@methods) {
    my ($best, $bset, $failed) = (undef, undef, 0);
    foreach my $set (@{$settings{$m}}) {
        my @v; my $ok = 1;
        foreach my $c (@{$cells{$set}}) {
            my @r = records($c);
            if ($status{$c} ne "ok" || !@r) { $ok = 0; last; }
            my $x = $rule eq "val" ? $r[-1]{val_acc} : $r[-1]{train_loss};
            if (!defined $x || ($rule eq "val" && !defined $r[-1]{test_acc})) { $ok = 0; last; }
            push @v, $x;
        }
        if (!$ok) { $failed++; next; }
        my $s = mean(@v);
        if (!defined $best || ($rule eq "val" ? $s > $best : $s < $best)) { ($best, $bset) = ($s, $set); }
    }
    next unless defined $bset;
    my @c = @{$cells{$bset}};
    my @recs = map { [records($_)] } @c;
    if ($rule eq "val") {
        my @t = map { $_->[-1]{test_acc} } @recs;
        my $mt = mean(@t); my $q = 0; $q += ($_ - $mt) ** 2 for @t;
        my $sd = @t > 1 ? sqrt($q / (@t - 1)) : "nan";
        printf "%s,%s,%d,%.17g,%.17g,%.17g,%.17g,%.17g,%d\n", $m, $c[0], scalar @c,
            mean(map { $_->[-1]{val_acc} } @recs), $mt, $sd,
            mean(map { $_->[-1]{eps_max} } @recs), mean(map { $_->[-1]{eps_q50} } @recs), $failed;
    } else {
        my $n = scalar @{$recs[0]};
        my @raw = map { my $e = $_; mean(map { $_->[$e]{train_loss} } @recs) } (0 .. $n - 1);
        for my $e (0 .. $n - 1) {
            my $lo = $e - $k + 1 < 0 ? 0 : $e - $k + 1;
            printf "%s,%s,%d,%.17g,%.17g\n", $m, $c[0], $e + 1, $raw[$e], mean(@raw[$lo .. $e]);
        }
    }
}
EOF
# near FILE_A FILE_B: the same lines, numbers equal to a relative 1e-12
near() {
    perl -e '
        open(my $A, "<", $ARGV[0]) or die; open(my $B, "<", $ARGV[1]) or die;
        my @a = <$A>; my @b = <$B>;
        exit 1 if @a != @b || !@a;
        for my $i (0 .. $#a) {
            chomp(my $x = $a[$i]); chomp(my $y = $b[$i]);
            my @x = split /,/, $x, -1; my @y = split /,/, $y, -1;
            exit 1 if @x != @y;
            for my $j (0 .. $#x) {
                next if $x[$j] eq $y[$j];
                exit 1 unless $x[$j] =~ /^-?[0-9.eE+-]+$/ && $y[$j] =~ /^-?[0-9.eE+-]+$/;
                exit 1 if abs($x[$j] - $y[$j]) > 1e-12 * (abs($x[$j]) + abs($y[$j]) + 1e-300);
            }
        }' "$1" "$2"
}

# ---------------------------------------------------------------- --table
run 0 --table "$S"
check "--table prints table.md" cmp -s "$TMP/out" "$S/table.md"
check "table.csv header" grep -qx "method,setting,cell,n_seeds,val_acc_mean,test_acc_mean,test_acc_sd,eps_max_mean,eps_q50_mean,n_eps,n_settings,n_failed,n_unfinished,note" "$S/table.csv"
check "no temporary files left" bash -c "! ls -A '$S' | grep -q '\.tmp'"
perl "$TMP/expect.pl" val "$S" >"$TMP/want_table"
# table.csv's columns in the order of expect.pl: method, cell, n_seeds, val, test mean, test sd, eps, n_failed
awk -F, 'NR > 1 { print $1 "," $3 "," $4 "," $5 "," $6 "," $7 "," $8 "," $9 "," $12 }' "$S/table.csv" >"$TMP/got_table"
check "--table: the chosen settings, means and sds match a second implementation: $(paste -d'|' "$TMP/want_table" "$TMP/got_table" | head -c 900)" \
    near "$TMP/want_table" "$TMP/got_table"
check "4 methods in the table" [ "$(wc -l <"$TMP/got_table")" -eq 4 ]
check "t2.sgd: its lr = 1e6 setting excluded as failed, and said why" \
    grep -q '^t2.sgd,lr=0.1,t2.sgd__lr=0.1__s0,2,.*,2,1,0,"cell t2.sgd__lr=1e6__s0: non-finite' "$S/table.csv"
check "table.md counts the excluded setting" grep -q "^Excluded settings: 1 of 8 (1 failed" "$S/table.md"
check "table.md shows mean ± sd in %" grep -qE '^\| t1.sgd \| [0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2} \| lr = ' "$S/table.md"

# ---------------------------------------------------------------- --curves
run 0 --curves "$S" --smooth 2
for f in curves.md figures/curves.svg figures/curves.png figures/curves.gp figures/curves.dat; do
    check "--curves wrote $f" [ -s "$S/$f" ]
done
check "--curves prints curves.md" bash -c "head -n \$(wc -l <'$S/curves.md') '$TMP/out' | cmp -s - '$S/curves.md'"
perl "$TMP/expect.pl" loss "$S" 2 >"$TMP/want_curves"
# curves.dat: "# index N: method M, setting ..." then "epoch raw smoothed" rows
awk '/^# index/ { m = $5; sub(",", "", m); next } /^#/ || NF == 0 { next } { print m "," $1 "," $2 "," $3 }' \
    "$S/figures/curves.dat" >"$TMP/got_curves"
cut -d, -f1,3- "$TMP/want_curves" >"$TMP/want_curves2"
check "--curves: chosen settings, per-epoch means and the 2-epoch moving average match a second implementation: $(paste -d'|' "$TMP/want_curves2" "$TMP/got_curves" | head -c 900)" \
    near "$TMP/want_curves2" "$TMP/got_curves"
check "12 curve points (4 methods x 3 epochs)" [ "$(wc -l <"$TMP/got_curves")" -eq 12 ]
# the chosen cell of each method in curves.dat's comments is expect.pl's
while IFS=, read -r m cell _; do
    set_="${cell#"$m"__}"; set_="${set_%__s0}"
    check "curves.dat names $m's setting $set_" grep -q "^# index [0-9]*: method $m, setting $set_," "$S/figures/curves.dat"
done < <(awk -F, '$3 == 1' "$TMP/want_curves")
check "the figure: epoch axis" grep -q ">epoch<" "$S/figures/curves.svg"
check "the figure: log-scale objective axis" grep -q "training objective (mean loss, log scale)" "$S/figures/curves.svg"
check "the figure: one panel per task" bash -c "grep -q '>t1<' '$S/figures/curves.svg' && grep -q '>t2<' '$S/figures/curves.svg'"
check "the figure: legends name method and setting (η for eta)" \
    bash -c "grep -q 'sgd, lr = ' '$S/figures/curves.svg' && grep -q 'alig, η = ' '$S/figures/curves.svg'"
check "curves.md states the smoothing" grep -q "K = 2 epochs" "$S/curves.md"
run 0 --curves "$S"
check "--smooth defaults to 5" grep -q "K = 5 epochs" "$S/curves.md"

# ---------------------------------------------------------------- a missing log
chosen=$(awk -F, '$1 == "t1.sgd" { print $2 }' "$TMP/want_table")
rm "$S/cells/$chosen/run/log.jsonl"
run 0 --table "$S"
check "a deleted log excludes its setting: t1.sgd now has 1 failed setting, named" \
    grep -q "^t1.sgd,.*,2,1,0,\"\\{0,1\\}cell $chosen: run/log.jsonl: " "$S/table.csv"
check "... and the other setting is chosen" bash -c "! grep -q '^t1.sgd,[^,]*,$chosen,' '$S/table.csv'"
perl "$TMP/expect.pl" val "$S" >"$TMP/want_table"
awk -F, 'NR > 1 { print $1 "," $3 "," $4 "," $5 "," $6 "," $7 "," $8 "," $9 "," $12 }' "$S/table.csv" >"$TMP/got_table"
check "--table after the deletion matches the second implementation" near "$TMP/want_table" "$TMP/got_table"

# ---------------------------------------------------------------- no usable setting: exit 1, nothing written
F="$TMP/f"
run 0 --base "train $DATA --model mlp-8 --epochs 1 --batch 20 --quiet" --method sgd --args "--opt sgd" \
    --axis lr=1e6,1e7 --seeds 0 --quiet --out "$F"
run 1 --table "$F"
check "no usable setting: the message says so and counts" \
    grep -q "no method has a usable setting (2 settings: 2 failed, 0 unfinished; first: cell sgd__lr=1e6__s0: non-finite" "$TMP/err"
check "no usable setting: nothing written" bash -c "[ ! -e '$F/table.md' ] && [ ! -e '$F/table.csv' ] && ! ls -A '$F' | grep -q tmp"
run 1 --curves "$F"
check "--curves with no usable setting: no figure" [ ! -e "$F/figures/curves.svg" ]

# ---------------------------------------------------------------- usage errors
usage_error "--smooth K goes with --curves" --table "$S" --smooth 3
usage_error "--smooth" --curves "$S" --smooth 0
usage_error "--smooth" --curves "$S" --smooth x
usage_error "give it alone" --table "$S" --out "$TMP/x"
usage_error "give it alone" --curves "$S" --jobs 2
usage_error "give one" --table "$S" --curves "$S"
usage_error "nowhere" --table "$TMP/nowhere"
P="$TMP/p"
run 0 --base "solve --problem smooth --solver sgd --iters 5" --out "$P" --quiet
usage_error "a solve sweep has no epochs" --table "$P"
usage_error "a solve sweep has no epochs" --curves "$P"

finish
