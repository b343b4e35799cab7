#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build the libFuzzer harnesses (fuzz/, the `fuzz` CMake preset) if needed and
# run each one for SECONDS (default 60), one at a time, single process (-jobs=1 style: one worker).
# Prints, per harness: executions, executions per second, corpus size, and findings (crash,
# sanitizer report, leak, timeout, out-of-memory: libFuzzer writes each reproducer to
# build/fuzz/findings/<harness>/). Exit status: 0 when no harness found anything, 1 otherwise,
# 2 when a tool is missing.
#
# Needs Debian's clang (clang-14 ships libFuzzer in libclang-rt-14-dev / libclang-common-14-dev);
# this script only checks for it and says what to install: `make check` does not need clang.
# The growing corpus lives in build/fuzz/corpus/<harness>/ (seeded from fuzz/corpus/<harness>/,
# which is never modified); set ALIG_FUZZ_ONLY="libsvm idx" to run a subset.
set -uo pipefail
SECONDS_EACH=${1:-60}
if ! [[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || [ "$SECONDS_EACH" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be an integer >= 1 (got '$SECONDS_EACH')" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
HARNESSES=(${ALIG_FUZZ_ONLY:-libsvm idx idx_gz checkpoint cifar svhn protocol sweep_result})

# --- tools
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang not found: install it with 'sudo apt-get install clang' (Debian 12: clang 14)" >&2
  exit 2
fi
fuzzer_lib=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)
if [ ! -f "$fuzzer_lib" ]; then
  fuzzer_lib=$(find /usr/lib/llvm-*/lib/clang -name 'libclang_rt.fuzzer-*.a' 2>/dev/null | head -1)
fi
if [ -z "$fuzzer_lib" ] || [ ! -f "$fuzzer_lib" ]; then
  echo "fuzz.sh: libFuzzer runtime not found: install 'libclang-rt-14-dev' (or libclang-common-14-dev)" >&2
  exit 2
fi
echo "fuzz.sh: clang $(clang -dumpversion), libFuzzer $(basename "$fuzzer_lib")"

# --- build (incremental)
if ! cmake --preset fuzz >/dev/null || ! cmake --build --preset fuzz -j "${JOBS:-2}" >/dev/null; then
  echo "fuzz.sh: build failed: run 'cmake --preset fuzz && cmake --build --preset fuzz' to see why" >&2
  exit 2
fi
B=build/fuzz

# --- run
total_findings=0
printf '%-12s %12s %10s %8s %9s  %s\n' harness executions exec/s corpus findings reproducers
for h in "${HARNESSES[@]}"; do
  exe=$B/fuzz/fuzz_$h
  if [ "$h" = svhn ] && [ ! -x "$exe" ] && [ -z "${ALIG_FUZZ_ONLY:-}" ]; then
    printf '%-12s %12s %10s %8s %9s  %s\n' "$h" - - - - "not built (no libmatio: the SVHN reader is not compiled)"
    continue
  fi
  [ -x "$exe" ] || { echo "fuzz.sh: no harness '$h' ($exe)" >&2; exit 2; }
  corpus=$B/corpus/$h
  findings=$B/findings/$h
  mkdir -p "$corpus" "$findings"
  log=$B/fuzz_$h.log
  # -rss_limit_mb / -malloc_limit_mb: any allocation beyond 2 GiB is a finding (the readers state
  # lower bounds); -timeout: an input taking more than 10 s is a finding (a hang).
  "$exe" "$corpus" "fuzz/corpus/$h" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2560 \
    -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
    >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  n_corpus=$(find "$corpus" -type f | wc -l)
  n_found=$(find "$findings" -type f | wc -l)
  [ $rc -ne 0 ] && [ "$n_found" -eq 0 ] && n_found=1   # died without an artifact: still a finding
  total_findings=$((total_findings + n_found))
  printf '%-12s %12s %10s %8s %9s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$n_corpus" "$n_found" \
    "$( [ "$n_found" -gt 0 ] && echo "$findings/ (log: $log)" || echo -)"
done
[ $total_findings -eq 0 ]
