# harness.sh - shared by the CLI shell tests (sourced, not a test itself).
# Before sourcing, set NAME (the test's name) and optionally PREFIX=(subcommand) so that
# `run` calls "alig PREFIX... ARGS". Provides: $ALIG, $TMP (removed on exit), ok, bad, check,
# run, usage_error, json_num, finish.
ALIG=${ALIG_CLI:-}
if [ -z "$ALIG" ] || [ ! -x "$ALIG" ]; then
    echo "$NAME: ALIG_CLI must name the alig binary (got '${ALIG}')" >&2
    exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/alig_${NAME%.sh}.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -n "${PREFIX+x}" ] || PREFIX=()

PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION CONDITION-COMMAND...
    local what=$1; shift
    if "$@"; then ok; else bad "$what"; fi
}

# run EXPECTED_RC ARGS... : runs alig (stdin not a terminal), keeps stdout/stderr in $TMP/out,
# $TMP/err, checks the exit code.
run() {
    local want=$1; shift
    "$ALIG" "${PREFIX[@]}" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        bad "alig ${PREFIX[*]} $* -> exit $rc, expected $want; stderr: $(head -c 400 "$TMP/err")"
        return 1
    fi
    ok
    return 0
}

# usage_error NEEDLE ARGS... : exit 2, exactly one stderr line containing NEEDLE, nothing on stdout.
usage_error() {
    local needle=$1; shift
    run 2 "$@" || return
    local lines
    lines=$(wc -l <"$TMP/err")
    check "alig ${PREFIX[*]} $*: one stderr line (got $lines)" [ "$lines" -eq 1 ]
    check "alig ${PREFIX[*]} $*: stderr names '$needle': $(cat "$TMP/err")" grep -qF -- "$needle" "$TMP/err"
    check "alig ${PREFIX[*]} $*: nothing on stdout" [ ! -s "$TMP/out" ]
}

# json_num KEY FILE : the value of "KEY": in one-key-per-line JSON.
json_num() { sed -n "s/^ *\"$1\": *\\([^,]*\\),\\{0,1\\}\$/\\1/p" "$2"; }

# finish : the closing line; fails if any check failed or none ran.
finish() {
    echo "$NAME: $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
}
