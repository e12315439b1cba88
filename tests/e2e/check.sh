#!/usr/bin/env bash
# xpatch check against ground truth: the real loaders (glibc's ld.so --list
# and musl's ldso --list, under qemu-user for foreign targets) on retargeted
# fixtures of every architecture, one test per loader rule, lddtree where it
# disagrees, and hostile roots that must not lead outside the root.
#
#   check.sh XPATCH FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1
FX=$2
W=$(mktemp -d /tmp/xpatch-check.XXXXXX)
trap 'rm -rf "$W"' EXIT
LDDTREE=(/usr/bin/python3 /usr/bin/lddtree)

list_of() {  # TARGET PROG [LOADER] -> what the real loader lists
  # glibc: ldd's trace mode, which lists missing libraries as "not found"
  # (--list stops at the first); musl: --list, which stops at the first.
  # The variable goes to the guest only (qemu -E), not to qemu's own loader.
  local q L=${3:-$(tuple_loader "$1")}
  q=$(qemu_for "$1")
  if [ "${1%-musl}" != "$1" ]; then
    env -u QEMU_LD_PREFIX $q "$L" --list "$2" 2>&1 || true
  elif [ -n "$q" ]; then
    env -u QEMU_LD_PREFIX "$q" -E LD_TRACE_LOADED_OBJECTS=1 "$L" "$2" 2>&1 || true
  else
    LD_TRACE_LOADED_OBJECTS=1 "$L" "$2" 2>&1 || true
  fi
}
agree() {  # WHAT TARGET PROG [LOADER]: xpatch check's tree == the real loader's
  local what=$1
  list_of "$2" "$3" "${4:-}" >"$W/list.txt"
  "$XPATCH" check --json / "$3" >"$W/check.json" || true
  if python3 "$HERE/loader_oracle.py" "$W/list.txt" "$W/check.json" >"$W/oracle.txt"; then ok "$what"
  else bad "$what"; cat "$W/list.txt" "$W/oracle.txt"; fi
}
codes() {  # PROG -> the finding codes xpatch check reports, sorted
  "$XPATCH" check --json / "$1" | python3 -c '
import json, sys
print(" ".join(sorted({f["code"] for l in sys.stdin for f in json.loads(l).get("findings", [])})))'
}
via() {  # PROG NEEDED -> how xpatch resolved it
  "$XPATCH" check --json / "$1" | python3 -c '
import json, sys
for l in sys.stdin:
    for e in json.loads(l).get("resolved", []):
        if e["needed"] == sys.argv[1]: print(e["via"]); sys.exit()' "$2"
}

# ---- every architecture: a retargeted program, as its loader loads it ----
for T in x86_64 i686 aarch64 armhf riscv64 ppc64le s390x powerpc x86_64-musl aarch64-musl; do
  D=$W/$T && mkdir -p "$D"
  L=$(tuple_loader "$T")
  cp "$FX/$T/app-pie" "$FX/$T/libfoo.so" "$D/"
  "$XPATCH" --interp "$L" --runpath "$(dirname "$L"):$D" "$D/app-pie"
  agree "$T: check --tree matches $(basename "$L") --list" "$T" "$D/app-pie"
  cp "$FX/$T/app-norunpath" "$D/app-lost"
  "$XPATCH" --interp "$L" "$D/app-lost"
  check "$T: a program whose library is not on any search path fails check (exit 1)" \
    bash -c "! '$XPATCH' check -q / '$D/app-lost' >/dev/null"
  check "$T: ... with code needed-missing" test "$(codes "$D/app-lost")" = needed-missing
  [ "${T%-musl}" = "$T" ] && agree "$T: the missing library is missing for ld.so --list too" "$T" "$D/app-lost"
done

# ---- one test per rule, against the real loader ----
# A chain app -> libfoo.so -> libbar.so, built with xpatch itself.
chain() {  # TARGET DIR: libfoo.so (needs libbar.so) and libbar.so in DIR/a
  mkdir -p "$2/a"
  cp "$FX/$1/libfoo.so" "$2/a/libfoo.so"
  cp "$FX/$1/libfoo.so" "$2/a/libbar.so"
  "$XPATCH" --soname libbar.so "$2/a/libbar.so"
  "$XPATCH" --add-needed libbar.so "$2/a/libfoo.so"
}
foreign_of() { case $1 in x86_64|x86_64-musl) echo aarch64 ;; *) echo x86_64 ;; esac; }

for T in x86_64 aarch64 x86_64-musl aarch64-musl; do
  L=$(tuple_loader "$T")
  LIBDIR=$(dirname "$L")
  musl=false; [ "${T%-musl}" != "$T" ] && musl=true

  # DT_RUNPATH applies to its own object only (glibc); musl uses every ancestor's.
  D=$W/rule-runpath-$T && chain "$T" "$D"
  cp "$FX/$T/app-norunpath" "$D/app"
  "$XPATCH" --interp "$L" --runpath "$LIBDIR:$D/a" "$D/app"
  agree "$T: DT_RUNPATH of the program and a library's dependency" "$T" "$D/app"
  if $musl; then
    check "$T: musl searches the program's DT_RUNPATH for a library's dependency" \
      test "$(via "$D/app" libbar.so)" = "RUNPATH of $D/app"
  else
    check "$T: glibc does not inherit DT_RUNPATH: libbar.so is missing" test "$(codes "$D/app")" = needed-missing
    check "$T: lddtree disagrees with ld.so here: it finds libbar.so (docs/check.md)" \
      bash -c "'${LDDTREE[0]}' '${LDDTREE[1]}' -l '$D/app' 2>/dev/null | grep -q '$D/a/libbar.so'"
  fi

  # DT_RPATH is inherited along the chain of loaders (glibc) when there is no DT_RUNPATH.
  D=$W/rule-rpath-$T && chain "$T" "$D"
  cp "$FX/$T/app-norunpath" "$D/app"
  "$XPATCH" --interp "$L" --rpath "$LIBDIR:$D/a" "$D/app"
  agree "$T: DT_RPATH of the program serves a library's dependency" "$T" "$D/app"
  $musl || check "$T: ... and xpatch says it came from the program's RPATH" \
    test "$(via "$D/app" libbar.so)" = "RPATH of $D/app"

  # DT_RPATH is ignored when DT_RUNPATH is present (glibc).
  if ! $musl; then
    D=$W/rule-both-$T && chain "$T" "$D"
    cp "$FX/$T/app-norunpath" "$D/app"
    # xpatch never writes both tags (the loader would ignore one), so the
    # DT_RPATH is made from a DT_SONAME entry by changing its tag.
    "$XPATCH" --interp "$L" --runpath "$LIBDIR" --soname "$D/a" "$D/app"
    python3 - "$D/app" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], 'rb').read())
e = '<' if d[5] == 1 else '>'
w, ph = ('Q', (0x20, 0x36, 0x38, 8)) if d[4] == 2 else ('I', (0x1c, 0x2a, 0x2c, 4))
phoff, = struct.unpack_from(e + w, d, ph[0])
phentsize, phnum = struct.unpack_from(e + 'HH', d, ph[1])
for i in range(phnum):
    p = phoff + i * phentsize
    if struct.unpack_from(e + 'I', d, p)[0] == 2:  # PT_DYNAMIC
        off, = struct.unpack_from(e + w, d, p + ph[3])
        while (tag := struct.unpack_from(e + w, d, off)[0]) != 0:
            if tag == 14: struct.pack_into(e + w, d, off, 15)  # DT_SONAME -> DT_RPATH
            off += 2 * struct.calcsize(w)
open(sys.argv[1], 'wb').write(d)
PY
    check "$T: ... a program with DT_RPATH beside DT_RUNPATH" bash -c "readelf -dW '$D/app' | grep -q 'Library rpath: \[$D/a\]'"
    agree "$T: DT_RPATH is ignored beside DT_RUNPATH" "$T" "$D/app"
    check "$T: ... so libfoo.so is missing" test "$(codes "$D/app")" = needed-missing
  fi

  # $ORIGIN in a library's own runpath is that library's directory.
  D=$W/rule-origin-$T && chain "$T" "$D"
  mkdir -p "$D/b" && mv "$D/a/libbar.so" "$D/b/"
  "$XPATCH" --runpath '$ORIGIN/../b' "$D/a/libfoo.so"
  cp "$FX/$T/app-norunpath" "$D/app"
  "$XPATCH" --interp "$L" --runpath "$LIBDIR:$D/a" "$D/app"
  agree "$T: \$ORIGIN in a library's DT_RUNPATH" "$T" "$D/app"
  check "$T: ... is clean for xpatch check" test -z "$(codes "$D/app")"

  # A candidate of another architecture: glibc skips it, musl takes it.
  D=$W/rule-arch-$T && mkdir -p "$D/x" "$D/a"
  cp "$FX/$(foreign_of "$T")/libfoo.so" "$D/x/libfoo.so"
  cp "$FX/$T/libfoo.so" "$D/a/libfoo.so"
  cp "$FX/$T/app-norunpath" "$D/app"
  "$XPATCH" --interp "$L" --runpath "$LIBDIR:$D/x:$D/a" "$D/app"
  if $musl; then
    check "$T: musl would map the foreign libfoo.so: needed-wrong-arch" \
      test "$(codes "$D/app")" = needed-wrong-arch
    check "$T: ... and the real musl loader does fail on it" \
      bash -c "! env -u QEMU_LD_PREFIX $(qemu_for "$T") '$D/app' >/dev/null 2>&1"
    check "$T: ... and --json names the file musl opened as the path" \
      bash -c "'$XPATCH' check --json / '$D/app' | grep -qF '\"needed\":\"libfoo.so\",\"path\":\"$D/x/libfoo.so\"'"
  else
    agree "$T: glibc skips a wrong-architecture candidate" "$T" "$D/app"
    check "$T: ... reported as wrong-arch-skipped" test "$(codes "$D/app")" = wrong-arch-skipped
  fi

  # A directory named like the library, first on the path: both loaders
  # open it and fail to read it (glibc "cannot read file data", musl "Is a directory").
  D=$W/rule-dir-$T && mkdir -p "$D/d/libfoo.so" "$D/a"
  cp "$FX/$T/libfoo.so" "$D/a/libfoo.so"
  cp "$FX/$T/app-norunpath" "$D/app"
  "$XPATCH" --interp "$L" --runpath "$LIBDIR:$D/d:$D/a" "$D/app"
  list_of "$T" "$D/app" >"$W/dir.txt"
  check "$T: a directory at the library's name stops the real loader: $(grep -oE 'cannot read file data[^\n]*|Is a directory' "$W/dir.txt" | head -1)" \
    grep -qE 'cannot read file data|Is a directory' "$W/dir.txt"
  check "$T: ... and xpatch check says needed-invalid" test "$(codes "$D/app")" = needed-invalid

  # A DT_RUNPATH directory that loops is a missing one (glibc loads the
  # program); a loop at the library's name ends glibc's list, stops musl.
  D=$W/rule-loop-$T && mkdir -p "$D/a" "$D/l"
  ln -s loopB "$D/loopA" && ln -s loopA "$D/loopB" && ln -s libfoo.so "$D/l/libfoo.so"
  cp "$FX/$T/libfoo.so" "$D/a/libfoo.so"
  cp "$FX/$T/app-norunpath" "$D/app" && cp "$FX/$T/app-norunpath" "$D/app-name"
  "$XPATCH" --interp "$L" --runpath "$LIBDIR:$D/loopA:$D/a" "$D/app"
  "$XPATCH" --interp "$L" --runpath "$LIBDIR:$D/l:$D/a" "$D/app-name"
  if $musl; then
    check "$T: a looping directory: the real musl loader stops" bash -c "! env -u QEMU_LD_PREFIX $(qemu_for "$T") '$D/app' >/dev/null 2>&1"
    check "$T: ... xpatch says needed-invalid, with the reason" \
      bash -c "'$XPATCH' check -v / '$D/app' | grep -q 'needed-invalid.*too many levels of symbolic links'"
    check "$T: a loop at the name: the real musl loader stops" bash -c "! env -u QEMU_LD_PREFIX $(qemu_for "$T") '$D/app-name' >/dev/null 2>&1"
    check "$T: ... xpatch says needed-invalid, with the reason" \
      bash -c "'$XPATCH' check -v / '$D/app-name' | grep -q 'needed-invalid.*too many levels of symbolic links'"
  else
    agree "$T: a looping DT_RUNPATH directory is skipped" "$T" "$D/app"
    check "$T: ... and is no error for xpatch check (exit 0)" "$XPATCH" check -q / "$D/app"
    agree "$T: a loop at the library's name ends the DT_RUNPATH list" "$T" "$D/app-name"
    check "$T: ... libfoo.so is missing for xpatch check" test "$(codes "$D/app-name")" = "needed-missing symlink-loop"
  fi
done

# ---- musl: ld-musl-ARCH.path beside the loader's prefix ----
for T in x86_64-musl aarch64-musl; do
  arch=${T%-musl}
  D=$W/rule-pathfile-$T && mkdir -p "$D/m/lib" "$D/m/etc" "$D/c"
  ln -s "$(tuple_loader "$T")" "$D/m/lib/ld-musl-$arch.so.1"
  cp "$FX/$T/libfoo.so" "$D/c/"
  cp "$FX/$T/app-norunpath" "$D/app"
  "$XPATCH" --interp "$D/m/lib/ld-musl-$arch.so.1" "$D/app"
  printf '%s\n' "$D/c" >"$D/m/etc/ld-musl-$arch.path"
  agree "$T: musl reads <prefix>/etc/ld-musl-$arch.path" "$T" "$D/app" "$D/m/lib/ld-musl-$arch.so.1"
  check "$T: ... and xpatch says so" test "$(via "$D/app" libfoo.so)" = "ld-musl path file"
  rm "$D/m/etc/ld-musl-$arch.path"
  check "$T: without the path file, musl's default path does not find it" test "$(codes "$D/app")" = needed-missing
  check "$T: ... and neither does the real loader" \
    bash -c "! env -u QEMU_LD_PREFIX $(qemu_for "$T") '$D/app' >/dev/null 2>&1"
done

# ---- the interpreter ----
D=$W/interp && mkdir -p "$D"
cp "$FX/aarch64/app-pie" "$D/missing" && "$XPATCH" --interp /nonexistent/ld-linux-aarch64.so.1 "$D/missing"
check "a missing interpreter: interp-missing" test "$(codes "$D/missing" | tr ' ' '\n' | grep -c interp-missing)" = 1
cp "$FX/aarch64/app-pie" "$D/foreign" && "$XPATCH" --force --interp "$(tuple_loader riscv64)" "$D/foreign" 2>/dev/null
check "an interpreter of another architecture: interp-wrong-arch" \
  bash -c "'$XPATCH' check --json / '$D/foreign' | grep -q '\"code\":\"interp-wrong-arch\"'"

# ---- hostile roots: nothing outside ROOT is opened ----
R=$W/hostile/root C=$W/hostile/canary
mkdir -p "$R/usr/lib" "$R/lib" "$R/bin" "$R/etc" "$C/lib"
cp "$FX/x86_64/libfoo.so" "$C/lib/libfoo.so"              # the canary: a perfect match, outside ROOT
cp "$FX/x86_64/app-norunpath" "$R/bin/app"
"$XPATCH" --interp /lib/ld-linux-x86-64.so.2 --runpath "/usr/lib:/lib/up:/lib/abs:/lib/loop:$C/lib" "$R/bin/app"
ln -s ../../../../../../../../canary/lib "$R/lib/up"       # climbs far above ROOT
ln -s "$C/lib" "$R/lib/abs"                                # an absolute host path: re-rooted
ln -s loop2 "$R/lib/loop" && ln -s loop "$R/lib/loop2"      # a loop
ln -s /etc "$R/usr/lib/etc-link"                            # to the root's own /etc
: >"$R/lib/ld-linux-x86-64.so.2"
rc=0
traced -f -qq -e trace=open,openat,openat2,execve -o "$W/trace" "$XPATCH" check --json "$R" >"$W/hostile.json" || rc=$?
check "hostile root: check ends with exit 1 (findings), not a crash ($rc)" test "$rc" = 1
check "hostile root: libfoo.so, only in the canary, is reported as found only outside ROOT" \
  grep -q '"code":"needed-host-only","object":"/bin/app","subject":"libfoo.so"' "$W/hostile.json"
check "hostile root: the climbing link is reported" grep -q '"code":"symlink-escape"' "$W/hostile.json"
check "hostile root: the loop is reported" grep -q '"code":"symlink-loop"' "$W/hostile.json"
check "hostile root: libfoo.so outside ROOT is not used" bash -c "! grep -q '\"path\":\"[^\"]*canary' '$W/hostile.json'"
check "hostile root: no open() named a path outside ROOT (strace)" \
  bash -c "! grep -E 'open(at2?)?\\(' '$W/trace' | grep -v ENOENT | grep -F '$C'"
check "hostile root: the only absolute opens are the root itself and system files" \
  bash -c "! grep -E 'openat2?\\(AT_FDCWD, \"/' '$W/trace' | grep -vE '\"($R|/etc/ld.so.cache|/lib|/usr/lib|/proc|/sys|/dev)'"
# retarget in the same root: the perfect match outside ROOT must not be found,
# read or written; the program stays as it was (exit 1, libfoo.so unresolved).
canary_sum=$(sha256sum <"$C/lib/libfoo.so"); app_sum=$(sha256sum <"$R/bin/app")
rc=0
traced -f -qq -e trace=open,openat,openat2,execve,rename,renameat,renameat2 -o "$W/trace-rt" \
  "$XPATCH" retarget --tuple x86_64-linux-gnu --root "$R" "$R/bin/app" >"$W/hostile-rt.txt" 2>&1 || rc=$?
check "hostile root, retarget: exit 1, libfoo.so unresolved ($rc)" test "$rc" = 1 -a -n "$(grep -F libfoo.so "$W/hostile-rt.txt")"
check "hostile root, retarget: the program is byte-for-byte as it was" test "$(sha256sum <"$R/bin/app")" = "$app_sum"
check "hostile root, retarget: the canary is untouched" test "$(sha256sum <"$C/lib/libfoo.so")" = "$canary_sum"
check "hostile root, retarget: no open() or rename() named a path outside ROOT (strace)" \
  bash -c "! grep -E '(open(at2?)?|rename(at2?)?)\\(' '$W/trace-rt' | grep -v ENOENT | grep -F '$C'"
check "hostile root: lddtree -R, by contrast, follows the absolute link to the canary (docs/check.md)" \
  bash -c "'${LDDTREE[0]}' '${LDDTREE[1]}' -R '$R' /bin/app 2>/dev/null | grep -q 'lib/abs/libfoo.so'"
finish
