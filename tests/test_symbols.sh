#!/usr/bin/env bash
# test_symbols.sh - libalig.so exports exactly the public API: the dynamic symbols it defines
# (nm -D) against the functions and variables declared in include/alig/*.h, both ways.
#   - every exported symbol is declared in a public header (no internal alig_nk_*, alig_pr_*, ...);
#   - every function and extern variable a public header declares is exported (declared, not
#     defined, would be a link error for users).
# The header side is parsed here with its own reader (perl, on the raw text: comments, string
# literals and preprocessor lines removed), independent of cmake/alig_exports.cmake, which
# generates the linker's list with the C preprocessor.
NAME=test_symbols.sh
source "$(dirname "$0")/lib/harness.sh"

LIB="${ALIG_BINARY_DIR:-}/libalig.so"
if [ ! -e "$LIB" ]; then
    bad "no shared library at '$LIB' (ALIG_BINARY_DIR must name the build directory)"
    finish
    exit 1
fi
command -v nm >/dev/null || { bad "nm not found (binutils)"; finish; exit 1; }
command -v perl >/dev/null || { bad "perl not found"; finish; exit 1; }

# exported: defined dynamic symbols (T text, D/B/R data), without the linker's own markers
nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sed 's/@.*//' |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u >"$TMP/exported"

# declared: functions "name(" and "extern ... name;" / "name[];" in the public headers
perl -0777 -ne '
    s{/\*.*?\*/}{ }gs;                       # block comments
    s{//[^\n]*}{}g;                          # line comments
    s{\\\n}{ }g;                             # macro continuation lines
    s{^[ \t]*#[^\n]*}{}mg;                   # preprocessor lines (macros, includes, guards)
    s{"(?:[^"\\]|\\.)*"}{""}g;               # string literals (extern "C")
    s{\(\s*\*\s*\w+\s*\)}{FNPTR}g;           # "T (*name)(...)": a pointer type or member
    print "$1\n" while /\b(alig_\w+)\s*\(/g;
    print "$1\n" while /\bextern\b[^;{}()]*?\b(alig_\w+)\s*(?:\[[^\]]*\])?\s*;/g;
' "$ALIG_SOURCE_DIR"/include/alig/*.h | sort -u >"$TMP/declared"

n_exp=$(wc -l <"$TMP/exported")
n_dec=$(wc -l <"$TMP/declared")
echo "$NAME: $n_exp exported, $n_dec declared in include/alig/*.h"
check "the header parser finds the public API (>= 100 names, got $n_dec)" [ "$n_dec" -ge 100 ]
check "alig_strerror is declared" grep -qx alig_strerror "$TMP/declared"
check "alig_solver_alig (an extern variable) is declared" grep -qx alig_solver_alig "$TMP/declared"

extra=$(comm -23 "$TMP/exported" "$TMP/declared")
missing=$(comm -13 "$TMP/exported" "$TMP/declared")
check "libalig.so exports only declared symbols; not declared: $(echo $extra | head -c 600)" [ -z "$extra" ]
check "every declared symbol is exported; missing: $(echo $missing | head -c 600)" [ -z "$missing" ]
check "no internal symbol exported (alig_nk_, alig_pr_, alig_type_)" \
    bash -c "! grep -qE '^alig_(nk|pr|type)_' '$TMP/exported'"
finish
