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

# Symbols follow the sections they are defined in, also when the symbol
# table itself moves: a library without notes or PT_INTERP, whose .gnu.hash
# and .dynsym must make room for the grown program header table, with two
# symbols made to point into those two sections (host compiler only).
if [ "$T" = x86_64 ]; then
  printf 'int foo_value(void) { return 42; }\nint bar_value(void) { return 7; }\n' > "$W/no.c"
  gcc -O1 -fPIC -shared -Wl,--build-id=none -Wl,-soname,libno.so "$W/no.c" -o "$W/libno.so"
  python3 - "$W/libno.so" <<'PY'
import struct, sys
p = sys.argv[1]; d = bytearray(open(p, 'rb').read())
shoff, = struct.unpack_from('<Q', d, 0x28); shnum, = struct.unpack_from('<H', d, 0x3c)
sec = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * 64) for i in range(shnum)]
dynsym = next(i for i, s in enumerate(sec) if s[1] == 11)
ghash = next(i for i, s in enumerate(sec) if s[1] == 0x6ffffff6)
strtab = sec[sec[dynsym][6]][4]
for k in range(sec[dynsym][5] // 24):
    o = sec[dynsym][4] + k * 24
    name = d[strtab + struct.unpack_from('<I', d, o)[0]:].split(b'\0')[0]
    if name == b'bar_value': struct.pack_into('<HQ', d, o + 6, dynsym, sec[dynsym][3] + 0x18)
    if name == b'foo_value': struct.pack_into('<HQ', d, o + 6, ghash, sec[ghash][3] + 8)
open(p, 'wb').write(d)
PY
  cp "$W/libno.so" "$W/libno-orig.so"
  long=$(printf '/opt/a/long/runpath/entry/%03d:' $(seq 1 200))
  "$XPATCH" --runpath "${long%:}" --verify "$W/libno.so" > "$W/libno.plan"
  # symbol name -> its offset inside its section, from readelf alone
  sym_offsets() {
    python3 - "$1" <<'PY'
import re, subprocess, sys
secs = {}
for l in subprocess.run(['readelf', '-SW', sys.argv[1]], capture_output=True, text=True).stdout.splitlines():
    m = re.match(r'\s*\[\s*(\d+)\]\s+\S+\s+\S+\s+([0-9a-f]+)\s', l)
    if m: secs[m.group(1)] = int(m.group(2), 16)
for l in subprocess.run(['readelf', '-W', '--dyn-syms', sys.argv[1]], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if len(f) >= 8 and f[6] in secs: print(f[7], f[6], int(f[1], 16) - secs[f[6]])
PY
  }
  dynsym_at() { readelf -SW "$1" | sed -n 's/.* \.dynsym  *DYNSYM  *[0-9a-f]*  *\([0-9a-f]*\) .*/\1/p'; }
  check "$T: the symbol table moved to the new segment ($(dynsym_at "$W/libno-orig.so") -> $(dynsym_at "$W/libno.so"))" \
    test -n "$(dynsym_at "$W/libno.so")" -a "$(dynsym_at "$W/libno.so")" != "$(dynsym_at "$W/libno-orig.so")"
  check "$T: every dynamic symbol keeps its offset in its section (readelf)" \
    test "$(sym_offsets "$W/libno.so")" = "$(sym_offsets "$W/libno-orig.so")" -a -n "$(sym_offsets "$W/libno.so" | grep bar_value)"
fi

# The independent reader agrees with libpatch on every output.
if [ -n "$LIEFDIFF" ]; then
  check "$T: LIEF and libpatch agree on every patched file" \
    env XPATCH_DIFF_PATHS="$W" "$LIEFDIFF" --gtest_brief=1
fi

finish
