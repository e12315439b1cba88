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

# --rpath on a program with DT_RUNPATH: the DT_RUNPATH goes (the loader would
# ignore a DT_RPATH beside it), and the program runs from the new path.
cp "$SRC/app-pie" "$W/rp-over-runpath"
"$XPATCH" --interp "$LOADER" --rpath "$LIBDIR:$W" --verify "$W/rp-over-runpath"
check "$T: --rpath over DT_RUNPATH leaves no DT_RUNPATH" \
  bash -c "readelf -dW '$W/rp-over-runpath' | grep -q 'Library rpath: \[$LIBDIR:$W\]' && ! readelf -dW '$W/rp-over-runpath' | grep -q RUNPATH"
mkdir -p "$W/rp-only" && cp "$SRC/app-pie" "$W/rp-only/app"  # $ORIGIN would find nothing here
"$XPATCH" --interp "$LOADER" --rpath "$LIBDIR:$W" "$W/rp-only/app"
check "$T: --rpath over DT_RUNPATH runs" test "$(run_target "$T" "$W/rp-only/app" 2>&1)" = "$EXPECT"
# ... and --runpath over DT_RPATH converts it back.
cp "$SRC/app-rpath" "$W/rp-only/app2"
"$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W" "$W/rp-only/app2"
check "$T: --runpath over DT_RPATH leaves no DT_RPATH" bash -c "! readelf -dW '$W/rp-only/app2' | grep -q 'Library rpath'"
check "$T: --runpath over DT_RPATH runs" test "$(run_target "$T" "$W/rp-only/app2" 2>&1)" = "$EXPECT"

# --replace-needed to a renamed copy, alone in its own directory.
mkdir "$W/renamed" && cp "$SRC/libfoo.so" "$W/renamed/libbar.so"
cp "$SRC/app-pie" "$W/renamed-app"
"$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W/renamed" --replace-needed libfoo.so=libbar.so --verify "$W/renamed-app"
check "$T: --replace-needed to a renamed copy runs" test "$(run_target "$T" "$W/renamed-app" 2>&1)" = "$EXPECT"
check "$T: readelf lists libbar.so, not libfoo.so" \
  bash -c "readelf -dW '$W/renamed-app' | grep -q 'Shared library: \[libbar.so\]' && ! readelf -dW '$W/renamed-app' | grep -q libfoo"

# --replace-needed of a library with symbol versions: .gnu.version_r names the
# library too (vn_file), and glibc's loader aborts when no DT_NEEDED matches
# it (dl-version.c: Assertion 'needed != NULL'). musl ignores versions.
mkdir "$W/ver" && cp "$SRC/libver.so.1" "$W/ver/libver2.so.2"
"$XPATCH" --soname libver2.so.2 --verify "$W/ver/libver2.so.2"
cp "$SRC/app-ver" "$W/ver/app"
"$XPATCH" --interp "$LOADER" --runpath "$LIBDIR:$W/ver" --replace-needed libver.so.1=libver2.so.2 --verify "$W/ver/app"
check "$T: --replace-needed of a versioned library runs" test "$(run_target "$T" "$W/ver/app" 2>&1)" = "$EXPECT"
check "$T: readelf -V: .gnu.version_r names libver2.so.2, not libver.so.1" \
  bash -c "readelf -VW '$W/ver/app' | grep -q 'File: libver2.so.2' && ! readelf -VW '$W/ver/app' | grep -q 'File: libver.so.1'"

# No room for one more program header (no PT_NULL; the notes after .interp
# made unmovable with a p_align of 128) and too much data for the padding:
# the table moves to the new segment, at the address that load base +
# e_phoff gives (qemu-user and kernels before 5.18 compute AT_PHDR so).
cp "$SRC/app-pie" "$W/tight"
python3 - "$W/tight" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
e = '<' if d[5] == 1 else '>'
w, ph = ('Q', (0x20, 0x36, 0x30)) if d[4] == 2 else ('I', (0x1c, 0x2a, 0x1c))
phoff, = struct.unpack_from(e + w, d, ph[0])
phentsize, phnum = struct.unpack_from(e + 'HH', d, ph[1])
for i in range(phnum):
    p = phoff + i * phentsize
    if struct.unpack_from(e + 'I', d, p)[0] == 4:  # PT_NOTE
        struct.pack_into(e + w, d, p + ph[2], 128)
open(sys.argv[1], 'wb').write(d)
PY
phoff() { readelf -hW "$1" | sed -n 's/.*Start of program headers: *\([0-9]*\).*/\1/p'; }
big=$LIBDIR:$W:$(for i in $(seq 1 4000); do printf '/nonexistent/dir%04d:' "$i"; done)
"$XPATCH" --interp "$LOADER" --runpath "${big%:}" --verify "$W/tight"
case $T in
  *-musl) ;;  # musl's programs have no notes there: .interp and the hash tables move instead
  *) check "$T: no room after the table: it moved ($(phoff "$SRC/app-pie") -> $(phoff "$W/tight"))" \
       test "$(phoff "$W/tight")" != "$(phoff "$SRC/app-pie")" ;;
esac
check "$T: ... and the program runs" test "$(run_target "$T" "$W/tight" 2>&1)" = "$EXPECT"
if [ "$T" = x86_64 ] && command -v qemu-x86_64 >/dev/null; then
  check "$T: ... also under qemu-x86_64 (AT_PHDR = load base + e_phoff)" \
    test "$(env -u QEMU_LD_PREFIX qemu-x86_64 "$W/tight" 2>&1)" = "$EXPECT"
fi

# Errors leave the file byte-for-byte unchanged, exit 2, and say why.
cp "$SRC/libfoo.so" "$W/lib-copy"; sum=$(sha256sum < "$W/lib-copy")
set +e; msg=$("$XPATCH" --interp "$LOADER" "$W/lib-copy" 2>&1); rc=$?; set -e
check "$T: --interp on a shared library: exit 2 ($rc), file named, unchanged" \
  test "$rc" = 2 -a "$(sha256sum < "$W/lib-copy")" = "$sum" -a -n "$(echo "$msg" | grep -F "$W/lib-copy" | grep PT_INTERP)"

# Symbol name -> its section and offset inside it, from readelf alone; the
# address of .dynsym.
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

# Every target: libfoo-small.so (DT_HASH, no notes) given a runpath longer
# than any page's padding moves .hash and .dynsym out of the grown program
# header table's way; its symbols keep their sections and offsets (readelf),
# and the program binds foo_value through the moved tables under the real
# loader (LD_BIND_NOW=1).
cp "$SRC/libfoo-small.so" "$W/libfoo.so"
big=$(printf '/nonexistent/dir%05d:' $(seq 1 4500))
"$XPATCH" --runpath "${big%:}" --verify "$W/libfoo.so"
check "$T: libfoo-small.so's .dynsym moved to the new segment ($(dynsym_at "$SRC/libfoo-small.so") -> $(dynsym_at "$W/libfoo.so"))" \
  test -n "$(dynsym_at "$W/libfoo.so")" -a "$(dynsym_at "$W/libfoo.so")" != "$(dynsym_at "$SRC/libfoo-small.so")"
check "$T: ... every dynamic symbol keeps its section and offset in it (readelf)" \
  test "$(sym_offsets "$W/libfoo.so")" = "$(sym_offsets "$SRC/libfoo-small.so")" -a -n "$(sym_offsets "$W/libfoo.so" | grep foo_value)"
out=$(LD_BIND_NOW=1 run_target "$T" "$W/app-pie" 2>&1 || true)
check "$T: ... and app-pie binds foo_value through them (got: $out)" test "$out" = "$EXPECT"
cp "$SRC/libfoo.so" "$W/libfoo.so"

# Symbols follow the sections they are defined in, also when the symbol
# table itself moves: a library without notes or PT_INTERP, whose .gnu.hash
# and .dynsym must make room for the grown program header table, with two
# symbols made to point into those two sections (host compiler only).
if [ "$T" = x86_64 ]; then
  printf 'int foo_value(void) { return 42; }\nint bar_value(void) { return 7; }\nint baz_value(void) { return 5; }\n' > "$W/no.c"
  gcc -O1 -fPIC -shared -Wl,--build-id=none -Wl,-soname,libno.so "$W/no.c" -o "$W/libno.so"
  printf 'int baz_value(void);\nint main(void) { return baz_value() == 5 ? 0 : 1; }\n' > "$W/no-main.c"
  gcc "$W/no-main.c" -L"$W" -lno -o "$W/no-main"
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
  check "$T: the symbol table moved to the new segment ($(dynsym_at "$W/libno-orig.so") -> $(dynsym_at "$W/libno.so"))" \
    test -n "$(dynsym_at "$W/libno.so")" -a "$(dynsym_at "$W/libno.so")" != "$(dynsym_at "$W/libno-orig.so")"
  check "$T: every dynamic symbol keeps its offset in its section (readelf)" \
    test "$(sym_offsets "$W/libno.so")" = "$(sym_offsets "$W/libno-orig.so")" -a -n "$(sym_offsets "$W/libno.so" | grep bar_value)"
  # The real loader looks baz_value up through the moved .gnu.hash and
  # .dynsym (every symbol bound at load), and eu-elflint finds nothing new.
  check "$T: a program binds a symbol of the library through its moved hash and symbol tables" \
    env LD_BIND_NOW=1 LD_LIBRARY_PATH="$W" "$W/no-main"
  new_lint=$(comm -13 <(eu-elflint --gnu-ld "$W/libno-orig.so" 2>&1 | sed "s|$W/||;s|libno-orig|libno|" | sort -u) \
                      <(eu-elflint --gnu-ld "$W/libno.so" 2>&1 | sed "s|$W/||" | sort -u))
  check "$T: eu-elflint reports nothing new on the library whose symbol table moved${new_lint:+ ($new_lint)}" test -z "$new_lint"
fi

# --interp in place writes only the interpreter's own slot (issue 17).
if [ "$T" = x86_64 ]; then
  # PT_INTERP made to reach over .note.gnu.property, .note.gnu.build-id and
  # .note.ABI-tag (as a linker script placing them in it would; the ABI
  # tag's last byte is the NUL the kernel requires at the end of PT_INTERP).
  cp "$SRC/app-pie" "$W/interp-notes"
  python3 - "$W/interp-notes" <<'PY'
import struct, sys
p = sys.argv[1]; d = bytearray(open(p, 'rb').read())
phoff, shoff = struct.unpack_from('<QQ', d, 0x20)
phnum, = struct.unpack_from('<H', d, 0x38); shnum, shstrndx = struct.unpack_from('<HH', d, 0x3c)
sec = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * 64) for i in range(shnum)]
names = sec[shstrndx][4]
name = lambda s: d[names + s[0]:].split(b'\0')[0]
tag = next(s for s in sec if name(s) == b'.note.ABI-tag')
for i in range(phnum):
    o = phoff + i * 56
    if struct.unpack_from('<I', d, o)[0] == 3:  # PT_INTERP
        start, = struct.unpack_from('<Q', d, o + 8)
        assert d[tag[4] + tag[5] - 1] == 0
        struct.pack_into('<QQ', d, o + 32, tag[4] + tag[5] - start, tag[4] + tag[5] - start)
open(p, 'wb').write(d)
PY
  notes() { readelf -x .note.gnu.property -x .note.gnu.build-id -x .note.ABI-tag "$1" | grep '^  0x'; }
  before=$(notes "$W/interp-notes")
  check "$T: PT_INTERP covers the notes (readelf)" \
    bash -c "readelf -lW '$W/interp-notes' | grep -Eq '^ +[0-9]+ +\.interp \.note\.gnu\.property \.note\.gnu\.build-id \.note\.ABI-tag \$'"
  check "$T: ... and the program still runs" test "$(run_target "$T" "$W/interp-notes" 2>&1)" = "$EXPECT"
  ln -s /lib64/ld-linux-x86-64.so.2 "$W/ld"  # shorter than the old value: in place
  "$XPATCH" --interp "$W/ld" --verify "$W/interp-notes"
  check "$T: --interp in place keeps the notes inside PT_INTERP byte for byte" test "$(notes "$W/interp-notes")" = "$before"
  check "$T: ... and runs" test "$(run_target "$T" "$W/interp-notes" 2>&1)" = "$EXPECT"
  "$XPATCH" --interp "$LOADER" --verify "$W/interp-notes"  # longer than .interp: elsewhere
  check "$T: a longer --interp leaves the notes byte for byte" test "$(notes "$W/interp-notes")" = "$before"
  check "$T: ... and runs" test "$(run_target "$T" "$W/interp-notes" 2>&1)" = "$EXPECT"

  # No .interp section: .gnu.hash and .dynsym share the PT_INTERP range.
  Y=$FX/yaml/valid-interp-range-shared
  tabs() { readelf -x .gnu.hash -x .dynsym "$1" | grep '^  0x'; }
  for v in /lib/ld-y.so /a/much/longer/interpreter/than/the/slot.so; do
    cp "$Y" "$W/shared-range"
    "$XPATCH" --interp "$v" --verify "$W/shared-range"
    check "$T: --interp $v over a PT_INTERP shared with .gnu.hash/.dynsym leaves them byte for byte" \
      test "$(tabs "$W/shared-range")" = "$(tabs "$Y")"
    check "$T: ... and reads back" test "$("$XPATCH" show --json "$W/shared-range" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interpreter"])')" = "$v"
  done

  # An empty PT_LOAD covers no address: show and patching accept the file.
  Y=$FX/yaml/valid-empty-load
  check "$T: show accepts an empty PT_LOAD at p_vaddr 0 after the others" "$XPATCH" show "$Y"
  cp "$Y" "$W/empty-load"
  check "$T: ... and so does patching" "$XPATCH" --runpath /opt/a/longer/runpath/than/before --interp /lib/ld-z.so --verify "$W/empty-load"
  check "$T: ... which reads back" bash -c "readelf -dW '$W/empty-load' | grep -q 'runpath: \[/opt/a/longer/runpath/than/before\]'"

  # A .dynamic section without PT_DYNAMIC: the loader reads only PT_DYNAMIC,
  # so the file has no dynamic array; its interpreter can still change.
  Y=$FX/yaml/valid-dynamic-section-without-pt-dynamic
  cp "$Y" "$W/no-pt-dynamic"
  check "$T: --interp on a file with .dynamic but no PT_DYNAMIC" "$XPATCH" --interp /lib/ld-z.so --verify "$W/no-pt-dynamic"
  set +e; msg=$("$XPATCH" --runpath /x "$W/no-pt-dynamic" 2>&1); rc=$?; set -e
  check "$T: --runpath there: exit 2 ($rc) saying the .dynamic section is not used ($msg)" \
    bash -c "test $rc = 2 && grep -q 'PT_DYNAMIC: there is none; the .dynamic section is not used' <<< '$msg'"
fi

# The independent reader agrees with libpatch on every output.
if [ -n "$LIEFDIFF" ]; then
  check "$T: LIEF and libpatch agree on every patched file" \
    env XPATCH_DIFF_PATHS="$W" "$LIEFDIFF" --gtest_brief=1
fi

finish
