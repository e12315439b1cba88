#!/usr/bin/env bash
# xpatch retarget: a staged package retargeted and then run under qemu-user
# without -L (the host / is the shared root: Debian's cross libcs live in
# /usr/<triplet>/lib); what is left alone stays byte-for-byte as it was.
#
#   retarget.sh XPATCH FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
set +e  # exit codes are what these tests look at
XPATCH=$1
FX=$2
W=$(mktemp -d /tmp/xpatch-retarget.XXXXXX)
trap 'rm -rf "$W"' EXIT
json_field() {  # FILE-JSONL NAME FIELD: FIELD of the object whose file ends in NAME
  python3 -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("file", "").endswith(sys.argv[2]): print(o.get(sys.argv[3])); break' "$@"
}

# ---- a staged package per glibc tuple: retarget with --stage, install, run ----
for T in aarch64 riscv64 armhf; do
  L=$(tuple_loader "$T"); P=${L%/lib/*}; tuple=${P#/usr/}
  S=$W/stage-$T
  mkdir -p "$S/bin" "$S/lib/priv"
  cp "$FX/$T/app-norunpath" "$S/bin/app"
  cp "$FX/$T/libfoo.so" "$S/lib/priv/libfoo.so"
  cp "$FX/x86_64/app-pie" "$S/bin/host-app"        # another architecture: skipped
  printf '#!/bin/sh\necho hi\n' >"$S/bin/script"      # not ELF: not ours
  cp "$S/bin/host-app" "$W/host-app.orig"
  "$XPATCH" retarget --tuple "$tuple" --stage "$S=$P" --json "$S" >"$W/out-$T.json"
  rc=$?
  check "$T: retarget --stage exits 0" test "$rc" = 0
  check "$T: the program is retargeted" test "$(json_field "$W/out-$T.json" /bin/app status)" = retarget
  check "$T: its interpreter is the tuple's loader" bash -c "readelf -lW '$S/bin/app' | grep -qF '[Requesting program interpreter: $L]'"
  check "$T: its runpath has the prefix's lib dir and the staged dir where libfoo.so was found" \
    bash -c "readelf -dW '$S/bin/app' | grep -qF 'Library runpath: [$P/lib:$P/lib/priv]'"
  check "$T: the x86_64 program is skipped and unchanged" \
    bash -c "test '$(json_field "$W/out-$T.json" host-app status)' = other-target && cmp -s '$S/bin/host-app' '$W/host-app.orig'"
  eu-elflint --gnu-ld "$FX/$T/app-norunpath" 2>&1 | sed 's|^[^:]*: ||' | sort -u >"$W/lint-before"
  eu-elflint --gnu-ld "$S/bin/app" 2>&1 | sed 's|^[^:]*: ||' | sort -u >"$W/lint-after"
  check "$T: eu-elflint finds nothing new in the output" test -z "$(comm -13 "$W/lint-before" "$W/lint-after")"
  # The host / is the root, and its /usr cannot take the staged library; the
  # run uses the same output with the stage's directory in its runpath (the
  # demo runs the real layout, chrooted).
  cp "$S/bin/app" "$W/run-$T" && "$XPATCH" --runpath "$P/lib:$S/lib/priv" "$W/run-$T"
  check "$T: the retargeted program runs under $(qemu_for "$T") without -L" \
    test "$(run_target "$T" "$W/run-$T" 2>&1)" = "xpatch-fixture: foo=42"
  check "$T: running retarget again changes nothing (already right)" \
    bash -c "'$XPATCH' retarget --tuple '$tuple' --stage '$S=$P' --json '$S/bin/app' | grep -q '\"status\":\"already-right\"'"
done

# ---- left as it was: unresolved, dry-run, malformed ----
T=aarch64; L=$(tuple_loader $T); P=${L%/lib/*}; tuple=${P#/usr/}
S=$W/lost && mkdir -p "$S/bin"
cp "$FX/$T/app-norunpath" "$S/bin/app"; cp "$S/bin/app" "$W/lost.orig"
"$XPATCH" retarget --tuple "$tuple" --stage "$S=$P" "$S" >"$W/lost.txt" 2>&1; rc=$?
check "a program whose libfoo.so is nowhere: exit 1" test "$rc" = 1
check "... said in words" grep -q 'unresolved (left as it was): DT_NEEDED libfoo.so found neither' "$W/lost.txt"
check "... and the file is byte-for-byte unchanged" cmp -s "$S/bin/app" "$W/lost.orig"
"$XPATCH" retarget --tuple "$tuple" --stage "$S=$P" --ignore-missing 'libfoo*' "$S" >/dev/null 2>&1; rc=$?
check "--ignore-missing lets it through, and the check (which would fail on libfoo.so) is told so" test "$rc" = 0
cp "$W/lost.orig" "$S/bin/app"
S=$W/dry && mkdir -p "$S/bin" "$S/lib" && cp "$FX/$T/app-norunpath" "$S/bin/app" && cp "$FX/$T/libfoo.so" "$S/lib/"
cp "$S/bin/app" "$W/dry.orig"
"$XPATCH" retarget --tuple "$tuple" --stage "$S=$P" --dry-run "$S" >"$W/dry.txt"; rc=$?
check "--dry-run: exit 0, the plan printed" bash -c "test $rc = 0 && grep -q 'would retarget' '$W/dry.txt' && grep -q 'needs libfoo.so' '$W/dry.txt'"
check "--dry-run: nothing written" cmp -s "$S/bin/app" "$W/dry.orig"
S=$W/bad && mkdir -p "$S/bin" && head -c 100 "$FX/$T/app-norunpath" >"$S/bin/app" && cp "$S/bin/app" "$W/bad.orig"
"$XPATCH" retarget --tuple "$tuple" --stage "$S=$P" "$S/bin/app" >/dev/null 2>"$W/bad.err"; rc=$?
check "a truncated file: exit 2, named in the message" bash -c "test $rc = 2 && grep -q '$S/bin/app' '$W/bad.err'"
check "... unchanged" cmp -s "$S/bin/app" "$W/bad.orig"
"$XPATCH" retarget --tuple aarch64 "$S" >/dev/null 2>"$W/usage.err"; rc=$?
check "a tuple without a libc: exit 2 with the expected form" bash -c "test $rc = 2 && grep -q 'ARCH-linux-gnu' '$W/usage.err'"
"$XPATCH" retarget --tuple "$tuple" --root "$W/bad" "$FX/$T/app-norunpath" >/dev/null 2>"$W/out.err"; rc=$?
check "a file outside the root and every stage: exit 2, asked where it would be installed" \
  bash -c "test $rc = 2 && grep -q 'where would it be installed' '$W/out.err'"

# ---- a bundled private library stays the one that loads (reviewer, 2026-11-30) ----
# A program whose DT_RPATH $ORIGIN/../lib finds its own libfoo.so (foo=7) was
# retargeted to RUNPATH /usr/<tuple>/lib:$ORIGIN/../lib, so the root's
# libfoo.so (foo=42) loaded instead: "retargeted", exit 0, another program.
R=$W/bundled && B=$R/usr/x86_64-linux-gnu && mkdir -p "$B/lib" "$B/app/bin" "$B/app/lib"
cp "$FX/x86_64/libfoo.so" /lib/x86_64-linux-gnu/libc.so.6 "$B/lib/"
cp "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$B/lib/ld-linux-x86-64.so.2"
printf '#include <stdio.h>\nint foo_value(void){return 7;}\nvoid foo_hello(const char*w){printf("private %%s\\n",w);}\n' >"$W/priv.c"
gcc -shared -fPIC -Wl,-soname,libfoo.so -o "$B/app/lib/libfoo.so" "$W/priv.c"
cp "$FX/x86_64/app-norunpath" "$B/app/bin/prog"
"$XPATCH" --rpath '$ORIGIN/../lib' "$B/app/bin/prog"
"$XPATCH" retarget --tuple x86_64-linux-gnu --root "$R" --json "$B/app/bin" >"$W/bundled.json"; rc=$?
check "bundled library: retarget exits 0" test "$rc" = 0
check "bundled library: \$ORIGIN/../lib stays ahead of the tuple's lib dir in the runpath" \
  bash -c "readelf -dW '$B/app/bin/prog' | grep -qF 'Library runpath: [\$ORIGIN/../lib:/usr/x86_64-linux-gnu/lib]'"
check "bundled library: check resolves libfoo.so to the bundled copy" \
  bash -c "'$XPATCH' check --tree '$R' /usr/x86_64-linux-gnu/app/bin/prog | grep -q 'libfoo.so => /usr/x86_64-linux-gnu/app/lib/libfoo.so'"
# The chroot has no /proc, where glibc finds a program's $ORIGIN
# (/proc/self/exe); LD_ORIGIN_PATH is its fallback.
if [ "$(id -u)" = 0 ]; then
  check "bundled library: the retargeted program still prints foo=7 (chroot, the real loader)" \
    test "$(LD_ORIGIN_PATH=/usr/x86_64-linux-gnu/app/bin chroot "$R" /usr/x86_64-linux-gnu/app/bin/prog 2>&1)" = "xpatch-fixture: foo=7"
else
  skip "bundled library: running it needs chroot (root)"
fi

# ---- the check refuses: a planned file that its loader could not load ----
# The glibc x86_64 loader in this root is a stub that is not ELF, so every
# x86_64 program planned here fails the check; nothing may be written.
R=$W/refuse && mkdir -p "$R/usr/x86_64-linux-gnu/lib" "$R/usr/x86_64-linux-gnu/bin"
cp "$FX/x86_64/app-norunpath" "$R/usr/x86_64-linux-gnu/bin/app"; cp "$R/usr/x86_64-linux-gnu/bin/app" "$W/refuse.orig"
cp "$FX/x86_64/libfoo.so" "$R/usr/x86_64-linux-gnu/lib/"
cp /lib/x86_64-linux-gnu/libc.so.6 "$R/usr/x86_64-linux-gnu/lib/"
echo 'not a loader' >"$R/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2"
"$XPATCH" retarget --tuple x86_64-linux-gnu --root "$R" "$R/usr/x86_64-linux-gnu/bin" >"$W/refuse.txt" 2>&1; rc=$?
check "a plan the check refuses: exit 1, 'refused'" bash -c "test $rc = 1 && grep -q 'refused: the check failed' '$W/refuse.txt'"
check "... with the finding" grep -q 'interp-missing' "$W/refuse.txt"
check "... and the program is byte-for-byte unchanged" cmp -s "$R/usr/x86_64-linux-gnu/bin/app" "$W/refuse.orig"
finish
