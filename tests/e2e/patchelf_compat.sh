#!/usr/bin/env bash
# The patchelf front end (`xpatch patchelf`, or xpatch run as `patchelf`),
# written from patchelf's documented behaviour (its --help and man page):
#  - every --print-* flag prints byte for byte what the real patchelf
#    (0.14.3, from scripts/setup) prints, on every fixture of every target,
#    and fails where it fails;
#  - each editing flag has patchelf's meaning, read back by readelf and by
#    the real patchelf; set-then-print round trips;
#  - outputs run under qemu-user; exit codes; @FILE, --output, the symlink.
# Usage: patchelf_compat.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
command -v patchelf >/dev/null || { echo "patchelf is not installed"; exit 77; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
ln -s "$(readlink -f "$XPATCH")" "$W/patchelf"
PE="$W/patchelf"   # xpatch, under patchelf's name
TARGETS="x86_64 i686 aarch64 armhf riscv64 ppc64le s390x powerpc x86_64-musl aarch64-musl"
EXPECT="xpatch-fixture: foo=42"

# 1. The print flags, byte for byte, and the same success or failure.
same=0 differ=""
for t in $TARGETS; do
  for f in app-pie app-nopie app-norunpath app-rpath libfoo.so; do
    for flag in --print-interpreter --print-rpath --print-needed --print-soname; do
      a=$(patchelf "$flag" "$FX/$t/$f" 2>/dev/null; echo "ok=$([ $? = 0 ] && echo y || echo n)")
      b=$("$PE" "$flag" "$FX/$t/$f" 2>/dev/null; echo "ok=$([ $? = 0 ] && echo y || echo n)")
      if [ "$a" = "$b" ]; then same=$((same + 1)); else differ="$differ $t/$f$flag"; fi
    done
  done
done
check "print flags agree with patchelf byte for byte on $same runs (10 targets, 5 files, 4 flags)${differ:+; differ:$differ}" \
  test -z "$differ" -a "$same" = 200
# All four at once, in patchelf's order.
check "several print flags in one call print in patchelf's order" test \
  "$(patchelf --print-soname --print-needed --print-rpath --print-interpreter "$FX/x86_64/app-pie")" = \
  "$("$PE" --print-soname --print-needed --print-rpath --print-interpreter "$FX/x86_64/app-pie")"
check "xpatch patchelf ARGS is the same front end" test \
  "$("$XPATCH" patchelf --print-needed "$FX/aarch64/app-pie")" = "$(patchelf --print-needed "$FX/aarch64/app-pie")"

# 2. Editing flags, per target: retargeted with patchelf's flags, the
# program runs under qemu-user without -L; real patchelf reads back what
# was set.
for t in $TARGETS; do
  LOADER=$(tuple_loader "$t"); LIBDIR=$(dirname "$LOADER")
  mkdir -p "$W/$t"; cp "$FX/$t/libfoo.so" "$FX/$t/app-rpath" "$FX/$t/app-pie" "$W/$t/"
  "$PE" --set-interpreter "$LOADER" --set-rpath "$LIBDIR:$W/$t" "$W/$t/app-rpath"
  check "$t: --set-interpreter --set-rpath: runs under qemu-user" test "$(run_target "$t" "$W/$t/app-rpath" 2>&1)" = "$EXPECT"
  check "$t: patchelf reads back the interpreter" test "$(patchelf --print-interpreter "$W/$t/app-rpath")" = "$LOADER"
  check "$t: patchelf reads back the rpath" test "$(patchelf --print-rpath "$W/$t/app-rpath")" = "$LIBDIR:$W/$t"
  check "$t: --set-rpath converted DT_RPATH to DT_RUNPATH" \
    bash -c "readelf -dW '$W/$t/app-rpath' | grep -q 'Library runpath: \[$LIBDIR:$W/$t\]' && ! readelf -dW '$W/$t/app-rpath' | grep -q '(RPATH)'"
  "$PE" --set-soname libfoo-renamed.so "$W/$t/libfoo.so"
  check "$t: --set-soname round trip" test "$(patchelf --print-soname "$W/$t/libfoo.so")" = libfoo-renamed.so
  "$PE" --set-interpreter "$LOADER" --force-rpath --set-rpath "$LIBDIR:$W/$t" --no-default-lib "$W/$t/app-pie"
  check "$t: --force-rpath --set-rpath --no-default-lib: runs under qemu-user" \
    test "$(run_target "$t" "$W/$t/app-pie" 2>&1)" = "$EXPECT"
done

# 3. Each flag's meaning, read back with readelf (x86_64, then the BE ones).
A=$W/flags; mkdir -p "$A"; cp "$FX/x86_64/"* "$A/"
dyn() { readelf -dW "$1"; }
"$PE" --force-rpath --set-rpath /opt/a "$A/app-pie"
check "--force-rpath --set-rpath writes DT_RPATH only (DT_RUNPATH converted)" \
  bash -c "dyn() { readelf -dW \"\$1\"; }; dyn '$A/app-pie' | grep -q 'Library rpath: \[/opt/a\]' && ! dyn '$A/app-pie' | grep -q RUNPATH"
"$PE" --add-rpath /opt/b "$A/app-pie"
check "--add-rpath appends with a colon (and converts to DT_RUNPATH)" \
  bash -c "readelf -dW '$A/app-pie' | grep -q 'Library runpath: \[/opt/a:/opt/b\]' && ! readelf -dW '$A/app-pie' | grep -q '(RPATH)'"
"$PE" --remove-rpath "$A/app-pie"
check "--remove-rpath removes both tags" bash -c "! readelf -dW '$A/app-pie' | grep -Eq 'RPATH|RUNPATH'"
check "--print-rpath without one prints an empty line, like patchelf" test "$("$PE" --print-rpath "$A/app-pie" | od -c | head -1)" = "$(printf '\n' | od -c | head -1)"
mkdir -p "$A/libs" "$A/empty"; cp "$FX/x86_64/libfoo.so" "$A/libs/"; cp "$FX/aarch64/libfoo.so" "$A/empty/"
"$PE" --set-rpath "/nonexistent:$A/empty:$A/libs:\$ORIGIN/x" "$A/app-norunpath"
"$PE" --shrink-rpath "$A/app-norunpath"
check "--shrink-rpath keeps the directory holding a needed library of the right machine, and \$ORIGIN entries" \
  test "$(patchelf --print-rpath "$A/app-norunpath")" = "$A/libs:\$ORIGIN/x"
"$PE" --set-rpath "/nonexistent:$A/libs:\$ORIGIN/x" "$A/app-nopie"
"$PE" --shrink-rpath --allowed-rpath-prefixes /usr:/opt "$A/app-nopie"
check "--allowed-rpath-prefixes drops absolute directories without an allowed prefix" \
  test "$(patchelf --print-rpath "$A/app-nopie")" = "\$ORIGIN/x"
"$PE" --add-needed libm.so.6 --add-needed libdl.so.2 --remove-needed libfoo.so "$A/app-rpath"
check "--add-needed (twice) and --remove-needed" \
  test "$(patchelf --print-needed "$A/app-rpath" | sort | tr '\n' ' ')" = "libc.so.6 libdl.so.2 libm.so.6 "
sum=$(sha256sum < "$A/app-rpath")
"$PE" --replace-needed libnotthere.so libx.so "$A/app-rpath"; rc=$?
check "--replace-needed of a library that is not needed: exit 0, nothing written (as patchelf)" \
  test "$rc" = 0 -a "$(sha256sum < "$A/app-rpath")" = "$sum"
"$PE" --replace-needed libm.so.6 libm-alt.so.6 "$A/app-rpath"
check "--replace-needed OLD NEW" bash -c "patchelf --print-needed '$A/app-rpath' | grep -qx libm-alt.so.6"
"$PE" --add-debug-tag "$A/libfoo.so"
check "--add-debug-tag adds DT_DEBUG" bash -c "readelf -dW '$A/libfoo.so' | grep -q '(DEBUG)'"
"$PE" --no-default-lib "$A/libfoo.so"
check "--no-default-lib sets DF_1_NODEFLIB" bash -c "readelf -dW '$A/libfoo.so' | grep FLAGS_1 | grep -q NODEFLIB"
"$PE" --set-os-abi FreeBSD "$A/libfoo.so"
check "--set-os-abi FreeBSD, then --print-os-abi" test "$("$PE" --print-os-abi "$A/libfoo.so")" = FreeBSD
check "readelf agrees on EI_OSABI" bash -c "readelf -h '$A/libfoo.so' | grep -q 'OS/ABI:.*FreeBSD'"
check "--print-os-abi of System V" test "$("$PE" --print-os-abi "$FX/x86_64/app-pie")" = "System V"
cp "$FX/x86_64/app-pie" "$A/abi97"; printf '\141' | dd of="$A/abi97" bs=1 seek=7 conv=notrunc status=none
check "--print-os-abi of a value without a name prints it in hex, as patchelf does" test "$("$PE" --print-os-abi "$A/abi97")" = 0x61
"$PE" --set-execstack "$A/libfoo.so"
check "--set-execstack: PT_GNU_STACK is RWE, --print-execstack says X" \
  bash -c "readelf -lW '$A/libfoo.so' | grep GNU_STACK | grep -q RWE && [ \"\$('$PE' --print-execstack '$A/libfoo.so')\" = 'execstack: X' ]"
"$PE" --clear-execstack "$A/libfoo.so"
check "--clear-execstack: PT_GNU_STACK is RW, --print-execstack says -" \
  bash -c "readelf -lW '$A/libfoo.so' | grep GNU_STACK | grep -q 'RW ' && [ \"\$('$PE' --print-execstack '$A/libfoo.so')\" = 'execstack: -' ]"
mkdir "$A/v"; cp "$FX/x86_64/app-pie" "$FX/x86_64/libfoo.so" "$A/v/"
"$PE" --clear-symbol-version printf "$A/v/app-pie"
check "--clear-symbol-version printf: readelf shows printf unversioned, the others kept" \
  bash -c "readelf -W --dyn-syms '$A/v/app-pie' | grep -qw 'printf\$' && readelf -W --dyn-syms '$A/v/app-pie' | grep -q '__libc_start_main@GLIBC'"
check "... and the program still runs" test "$("$A/v/app-pie" 2>&1)" = "$EXPECT"
check "an unchanged run writes nothing (same inode)" bash -c \
  "i=\$(stat -c %i '$A/v/app-pie'); '$PE' --set-os-abi sysv '$A/v/app-pie' && [ \$(stat -c %i '$A/v/app-pie') = \$i ]"

# 4. @FILE, --output, exit codes, refusals.
printf '/opt/from/a/file' > "$W/rpath.txt"
cp "$FX/x86_64/app-pie" "$A/atfile"; "$PE" --set-rpath @"$W/rpath.txt" "$A/atfile"
check "@FILE: the value is read from the file" test "$(patchelf --print-rpath "$A/atfile")" = /opt/from/a/file
sum=$(sha256sum < "$FX/x86_64/app-pie")
"$PE" --set-soname out.so --output "$A/out" "$FX/x86_64/app-pie"
check "--output writes elsewhere and leaves the input alone" \
  test "$(patchelf --print-soname "$A/out")" = out.so -a "$(sha256sum < "$FX/x86_64/app-pie")" = "$sum"
"$PE" --output "$A/copy" "$FX/x86_64/app-pie"
check "--output with no edit writes a copy, as patchelf does" cmp -s "$A/copy" "$FX/x86_64/app-pie"
printf 'foo_value bar_value\n' > "$W/map"; cp "$FX/x86_64/libfoo.so" "$A/ren"; sum=$(sha256sum < "$A/ren")
set +e
"$PE" --rename-dynamic-symbols "$W/map" "$A/ren" 2>"$W/err"; rc=$?
check "--rename-dynamic-symbols: exit 2, file unchanged, the message names an alternative ($(head -c 80 "$W/err"))" \
  bash -c "[ $rc = 2 ] && [ '$(sha256sum < "$A/ren")' = '$sum' ] && grep -q objcopy '$W/err'"
cp "$FX/x86_64/libfoo.so" "$A/nostack"
python3 - "$A/nostack" <<'PY'
import struct, sys
p = sys.argv[1]; d = bytearray(open(p, 'rb').read())
phoff, = struct.unpack_from('<Q', d, 0x20); phnum, = struct.unpack_from('<H', d, 0x38)
for i in range(phnum):
    if struct.unpack_from('<I', d, phoff + 56 * i)[0] == 0x6474e551:  # PT_GNU_STACK -> PT_NOTE-free type 0x6474e5ff
        struct.pack_into('<I', d, phoff + 56 * i, 0x6474e5ff)
open(p, 'wb').write(d)
PY
sum=$(sha256sum < "$A/nostack")
"$PE" --clear-execstack "$A/nostack" 2>"$W/err"; rc=$?
check "--clear-execstack without PT_GNU_STACK or a PT_NULL: exit 2, unchanged, says why ($(head -c 80 "$W/err"))" \
  bash -c "[ $rc = 2 ] && [ '$(sha256sum < "$A/nostack")' = '$sum' ] && grep -q 'noexecstack' '$W/err'"
"$PE" --print-interpreter "$FX/x86_64/libfoo.so" >"$W/out" 2>/dev/null; rc=$?
check "--print-interpreter of a library fails (exit $rc) and prints nothing" test "$rc" = 2 -a ! -s "$W/out"
"$PE" --set-interpreter /x "$A/missing-file" 2>/dev/null; rc=$?
check "a missing file: exit 2" test "$rc" = 2
"$PE" --set-rpath 2>/dev/null; rc=$?
check "a missing argument: exit 2" test "$rc" = 2
"$PE" 2>/dev/null; rc=$?
check "no arguments: exit 2" test "$rc" = 2
"$PE" --help 2>"$W/help"; rc=$?
check "--help: exit 0, lists every flag of patchelf 0.18" bash -c "[ $rc = 0 ] && for f in set-interpreter print-interpreter set-rpath add-rpath remove-rpath shrink-rpath allowed-rpath-prefixes print-rpath force-rpath add-needed remove-needed replace-needed print-needed no-default-lib set-soname print-soname set-os-abi print-os-abi clear-symbol-version add-debug-tag print-execstack set-execstack clear-execstack rename-dynamic-symbols page-size output debug version; do grep -q -- \"--\$f\" '$W/help' || exit 1; done"
set -e
check "--version names a patchelf version scripts accept (auditwheel wants >= 0.14)" \
  bash -c "'$PE' --version | grep -Eq '^patchelf 0\.18'"
check "--page-size and --debug are accepted" bash -c "'$PE' --page-size 65536 --debug --set-soname dbg.so '$A/libfoo.so' 2>&1 | grep -q DT_SONAME"

finish
