#!/usr/bin/env bash
# End to end, for one target: retarget the fixture programs to the tuple
# layout's loader and lib dir, then run them under qemu-user with no -L.
# Usage: patch.sh XPATCH FIXTURES TARGET [LIEF_DIFFERENTIAL]
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2 T=$3 LIEFDIFF=${4:-}
SRC=$FX/$T
[ -x "$SRC/app-pie" ] || { echo "missing fixtures in $SRC"; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
LOADER=$(tuple_loader "$T")
LIBDIR=$(dirname "$LOADER")
EXPECT="xpatch-fixture: foo=42"
cp "$SRC/libfoo.so" "$W/"

for prog in app-pie app-nopie app-norunpath app-rpath; do
  cp "$SRC/$prog" "$W/$prog"
  orig=$(readelf -lW "$W/$prog" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  if [ -n "$(qemu_for "$T")" ] && [ ! -e "$orig" ]; then
    # Unpatched, the program asks for a loader this host does not have.
    out=$(run_target "$T" "$W/$prog" 2>&1 || true)
    check "$T $prog: does not run unpatched without -L" test "$out" != "$EXPECT"
  fi
  "$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W" --verify "$W/$prog"
  out=$(run_target "$T" "$W/$prog" 2>&1 || true)
  check "$T $prog: runs after --interp/--runpath (got: $out)" test "$out" = "$EXPECT"

  # Oracles: readelf sees the new values, elflint finds nothing new.
  interp=$(readelf -lW "$W/$prog" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
  check "$T $prog: readelf reads the new PT_INTERP" test "$interp" = "$LOADER"
  check "$T $prog: readelf reads the new DT_RUNPATH" \
    grep -qF "Library runpath: [$LIBDIR:$W]" <(readelf -dW "$W/$prog")
  new_lint=$(comm -13 <(eu-elflint --gnu-ld "$SRC/$prog" 2>&1 | sed "s|$SRC/||" | sort -u) \
                      <(eu-elflint --gnu-ld "$W/$prog" 2>&1 | sed "s|$W/||" | sort -u))
  check "$T $prog: eu-elflint reports nothing new${new_lint:+ ($new_lint)}" test -z "$new_lint"

  # Same values again: not a byte changes, and the file is not rewritten.
  sum=$(sha256sum < "$W/$prog"); ino=$(stat -c %i "$W/$prog")
  "$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W" "$W/$prog"
  check "$T $prog: patching twice is a no-op" test "$(sha256sum < "$W/$prog")" = "$sum" -a "$(stat -c %i "$W/$prog")" = "$ino"
done

# Growth stays bounded when alternating between two values.
cp "$SRC/app-pie" "$W/alt"
for i in $(seq 1 50); do
  "$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W" "$W/alt"
  "$XPATCH" --interp "$W/long/../$(basename "$LOADER")" --runpath "$W:$LIBDIR:/opt/a/much/longer/runpath/entry" "$W/alt"
  [ "$i" = 2 ] && size2=$(stat -c %s "$W/alt")
done
check "$T alternating 50 times keeps the size ($(stat -c %s "$W/alt") vs $size2 after 2 rounds)" \
  test "$(stat -c %s "$W/alt")" -le "$size2"
"$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W" "$W/alt"
check "$T alternated file still runs" test "$(run_target "$T" "$W/alt" 2>&1)" = "$EXPECT"

# Long values: a 200-character interpreter path and a 4 KiB runpath.
long=$W/$(printf 'd%.0s' $(seq 1 60))/$(printf 'e%.0s' $(seq 1 60))
base=${LOADER##*/}
long=${long}/$(printf 'f%.0s' $(seq 1 $((200 - ${#long} - 1 - ${#base} - 1))))
mkdir -p "$long" && ln -s "$LOADER" "$long/${LOADER##*/}"
interp200=$long/${LOADER##*/}
rp=$(for i in $(seq 1 200); do printf '/nonexistent/dir%03d:' "$i"; done)$LIBDIR:$W
cp "$SRC/app-pie" "$W/long-app"
"$XPATCH" --interp "$interp200" --runpath "$rp" --verify "$W/long-app"
check "$T: interpreter of ${#interp200} chars and runpath of ${#rp} chars run" \
  test "$(run_target "$T" "$W/long-app" 2>&1)" = "$EXPECT"

# DT_RPATH instead of DT_RUNPATH.
cp "$SRC/app-norunpath" "$W/rpath-app"
"$XPATCH" --interp "$LOADER" --rpath "$LIBDIR:$W" --verify "$W/rpath-app"
check "$T: DT_RPATH run" test "$(run_target "$T" "$W/rpath-app" 2>&1)" = "$EXPECT"
check "$T: DT_RPATH set, no DT_RUNPATH" bash -c "readelf -dW '$W/rpath-app' | grep -q 'Library rpath: \[$LIBDIR:$W\]' && ! readelf -dW '$W/rpath-app' | grep -q RUNPATH"

# --replace-needed to a renamed copy, alone in its own directory.
mkdir "$W/renamed" && cp "$SRC/libfoo.so" "$W/renamed/libbar.so"
cp "$SRC/app-pie" "$W/renamed-app"
"$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W/renamed" --replace-needed libfoo.so=libbar.so --verify "$W/renamed-app"
check "$T: --replace-needed to a renamed copy runs" test "$(run_target "$T" "$W/renamed-app" 2>&1)" = "$EXPECT"
check "$T: readelf lists libbar.so, not libfoo.so" \
  bash -c "readelf -dW '$W/renamed-app' | grep -q 'Shared library: \[libbar.so\]' && ! readelf -dW '$W/renamed-app' | grep -q libfoo"

# Errors leave the file byte-for-byte unchanged, exit 2, and say why.
cp "$SRC/libfoo.so" "$W/lib-copy"; sum=$(sha256sum < "$W/lib-copy")
set +e; msg=$("$XPATCH" --interp "$LOADER" "$W/lib-copy" 2>&1); rc=$?; set -e
check "$T: --interp on a shared library: exit 2 ($rc), file named, unchanged" \
  test "$rc" = 2 -a "$(sha256sum < "$W/lib-copy")" = "$sum" -a -n "$(echo "$msg" | grep -F "$W/lib-copy" | grep PT_INTERP)"

# The independent reader agrees with libpatch on every output.
if [ -n "$LIEFDIFF" ]; then
  check "$T: LIEF and libpatch agree on every patched file" \
    env XPATCH_DIFF_PATHS="$W" "$LIEFDIFF" --gtest_brief=1
fi

finish
