#!/usr/bin/env bash
# --verify against the broken outputs of issue 17, through the CLI. For each
# case the promise is: either --verify refuses (exit 2, the file byte for
# byte as it was), or the output is right, judged by readelf and the loader,
# never a broken file with exit 0. Each check says which branch was taken:
# with main's planner of 2026-11-29 every case is refused.
# Usage: verify.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

# outcome FILE CMD...: runs the edit with --verify; prints refused / written / broken-refusal
outcome() {
  local f=$1; shift
  local before; before=$(sha256sum < "$f")
  set +e; "$XPATCH" "$@" --verify "$f" 2>"$W/err"; local rc=$?; set -e
  if [ "$rc" = 2 ] && [ "$(sha256sum < "$f")" = "$before" ] && grep -q -- '--verify' "$W/err"; then echo refused
  elif [ "$rc" = 0 ]; then echo written
  else echo "exit $rc: $(cat "$W/err")"; fi
}

# 1. --replace-needed of a library with symbol versions: glibc's loader
# asserts that every DT_VERNEED entry names a DT_NEEDED.
for t in x86_64 i686 aarch64 armhf riscv64 ppc64le s390x powerpc; do
  cp "$FX/$t/app-pie" "$W/vn-$t"
  r=$(outcome "$W/vn-$t" --replace-needed libc.so.6=libc-alt.so.6)
  files=$(readelf -VW "$W/vn-$t" | sed -n 's/.*File: \([^ ]*\).*/\1/p')
  needed=$(readelf -dW "$W/vn-$t" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
  ok=yes; for f in $files; do echo "$needed" | grep -qx "$f" || ok=no; done
  check "$t: --replace-needed of a versioned library: $r; every DT_VERNEED file is a DT_NEEDED: $ok" \
    test "$r" = refused -o \( "$r" = written -a "$ok" = yes \)
done

# 2. PT_INTERP's range reaching over other sections (a linker script can
# place the build-id note there; or .gnu.hash and .dynsym): a shorter
# interpreter must be written into .interp only, never over them.
widen_interp() {  # FILE SECTION: PT_INTERP covers everything up to SECTION's end
  python3 - "$1" "$2" <<'PY'
import struct, sys
p, want = sys.argv[1], sys.argv[2].encode(); d = bytearray(open(p, 'rb').read())
phoff, = struct.unpack_from('<Q', d, 0x20); phnum, = struct.unpack_from('<H', d, 0x38)
shoff, = struct.unpack_from('<Q', d, 0x28); shnum, = struct.unpack_from('<H', d, 0x3c); shstr, = struct.unpack_from('<H', d, 0x3e)
names = struct.unpack_from('<IIQQQQIIQQ', d, shoff + shstr * 64)[4]
end = None
for i in range(shnum):
    s = struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * 64)
    if d[names + s[0]:].split(b'\0')[0] == want: end = s[4] + s[5]
for i in range(phnum):
    o = phoff + 56 * i
    if struct.unpack_from('<I', d, o)[0] == 3:  # PT_INTERP
        off, = struct.unpack_from('<Q', d, o + 8)
        struct.pack_into('<QQ', d, o + 32, end - off, end - off)
open(p, 'wb').write(d)
PY
}
cp "$FX/x86_64/app-pie" "$W/note"; widen_interp "$W/note" .note.gnu.build-id
id_before=$(readelf -n "$W/note" | grep 'Build ID')
r=$(outcome "$W/note" --interp /lib64/ld-linux-x86-64.so.2x)
check "a build-id note inside PT_INTERP: $r; the build ID reads back unchanged" \
  test "$r" = refused -o \( "$r" = written -a "$(readelf -n "$W/note" | grep 'Build ID')" = "$id_before" \)
check "the build ID was readable before (the case is real)" test -n "$id_before"
cp "$FX/x86_64/app-pie" "$W/syms"; widen_interp "$W/syms" .dynsym
syms_before=$(readelf -W --dyn-syms "$W/syms" | tail -n +4)
r=$(outcome "$W/syms" --interp /lib64/ld-linux-x86-64.so.2x)
check ".gnu.hash and .dynsym inside PT_INTERP: $r; the dynamic symbols read back unchanged" \
  test "$r" = refused -o \( "$r" = written -a "$(readelf -W --dyn-syms "$W/syms" | tail -n +4)" = "$syms_before" \)

# 3. --rpath on a file with DT_RUNPATH: glibc ignores DT_RPATH while
# DT_RUNPATH is present.
cp "$FX/x86_64/app-pie" "$W/tags"
r=$(outcome "$W/tags" --rpath /opt/x)
check "--rpath beside a DT_RUNPATH: $r; no DT_RUNPATH is left beside the new DT_RPATH" \
  test "$r" = refused -o \( "$r" = written -a -z "$(readelf -dW "$W/tags" | grep RUNPATH)" \)

# 4. And a correct edit passes, with LIEF's read agreeing (both halves ran).
cp "$FX/aarch64/app-pie" "$W/fine"
r=$(outcome "$W/fine" --interp /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 --runpath /usr/aarch64-linux-gnu/lib:$W)
check "a correct edit is written ($r)" test "$r" = written
# 5. The LIEF half can say no: xpatch loads xpatch-lief.so from its own
# directory; a stand-in that reads another interpreter must fail --verify.
if command -v gcc >/dev/null; then
  mkdir "$W/bin"; cp "$(readlink -f "$XPATCH")" "$W/bin/xpatch"
  cat > "$W/fake.c" <<'C'
#include <stdlib.h>
#include <string.h>
char* xpatch_lief_describe(const unsigned char* d, size_t n) {
  (void)d; (void)n;
  return strdup("ok\ninterp\t/lib/not-what-was-written.so\n");
}
C
  gcc -shared -fPIC -o "$W/bin/xpatch-lief.so" "$W/fake.c"
  cp "$FX/x86_64/app-pie" "$W/lief"; sum=$(sha256sum < "$W/lief")
  set +e; "$W/bin/xpatch" --interp /lib/ld.so --verify "$W/lief" 2>"$W/err"; rc=$?; set -e
  check "a LIEF read that disagrees fails --verify (exit $rc: $(head -c 120 "$W/err")), file unchanged" \
    bash -c "[ $rc = 2 ] && grep -q 'LIEF reads' '$W/err' && [ \"\$(sha256sum < '$W/lief')\" = '$sum' ]"
fi
finish
