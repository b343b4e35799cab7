#!/usr/bin/env bash
# Install the build into a temporary prefix, then build a small program out of tree against
# it twice (CMake find_package(alig) -> alig::alig, and pkg-config) and run both.
set -u
: "${ALIG_BINARY_DIR:?}" "${ALIG_SOURCE_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { echo "ok   - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }
flags="${ALIG_SANITIZE_FLAGS:-}"

if cmake --install "$ALIG_BINARY_DIR" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
  ok "cmake --install"
else
  bad "cmake --install"; cat "$tmp/install.log"
fi
libdir=$(dirname "$(find "$tmp/prefix" -name 'libalig.so' | head -1)")
[ -f "$tmp/prefix/include/alig/alig.h" ] && ok "headers installed" || bad "headers installed"
[ -f "$libdir/libalig.a" ] && ok "static library installed" || bad "static library installed"
[ -f "$libdir/pkgconfig/alig.pc" ] && ok "pkg-config file installed" || bad "pkg-config file installed"

# 1. CMake package
if cmake -S "$ALIG_SOURCE_DIR/tests/install" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
     -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >"$tmp/cm.log" 2>&1 \
   && cmake --build "$tmp/cm" >>"$tmp/cm.log" 2>&1; then
  ok "find_package(alig) consumer builds"
  if out=$("$tmp/cm/consumer" 2>&1); then ok "find_package consumer runs: $out"; else bad "find_package consumer runs: $out"; fi
else
  bad "find_package(alig) consumer builds"; cat "$tmp/cm.log"
fi

# 2. pkg-config, shared library
export PKG_CONFIG_PATH="$libdir/pkgconfig"
if cc $flags -std=c11 $(pkg-config --cflags alig) "$ALIG_SOURCE_DIR/tests/install/consumer.c" -o "$tmp/pc" \
     $(pkg-config --libs alig) -Wl,-rpath,"$libdir" >"$tmp/pc.log" 2>&1; then
  ok "pkg-config consumer builds"
  if out=$("$tmp/pc" 2>&1); then ok "pkg-config consumer runs: $out"; else bad "pkg-config consumer runs: $out"; fi
else
  bad "pkg-config consumer builds"; cat "$tmp/pc.log"
fi

# 3. pkg-config, static library
if cc $flags -std=c11 $(pkg-config --cflags alig) "$ALIG_SOURCE_DIR/tests/install/consumer.c" -o "$tmp/pcs" \
     "$libdir/libalig.a" $(pkg-config --libs-only-other --libs-only-L --static alig | sed 's/-lalig//') \
     $(pkg-config --static --libs-only-l alig | sed 's/-lalig//') >"$tmp/pcs.log" 2>&1; then
  ok "static consumer builds"
  if out=$("$tmp/pcs" 2>&1); then ok "static consumer runs: $out"; else bad "static consumer runs: $out"; fi
else
  bad "static consumer builds"; cat "$tmp/pcs.log"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
