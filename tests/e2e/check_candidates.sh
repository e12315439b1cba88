#!/usr/bin/env bash
# xpatch check against the real loaders on candidate libraries they refuse
# after opening them (glibc's open_verify and _dl_map_object_from_fd, musl's
# map_library), and on an interpreter the kernel will not execute. Each case
# is a copy of libfoo.so, mutated, first on the program's DT_RUNPATH, with
# the good libfoo.so after it; the oracle is the program run under qemu-user
# (natively for x86_64): the loader refuses it exactly when `check` reports
# an error, and for glibc check's message carries the loader's own words.
#
#   check_candidates.sh XPATCH FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1
FX=$2
W=$(mktemp -d /tmp/xpatch-candidates.XXXXXX)
trap 'rm -rf "$W"' EXIT

# mutate FILE WHAT: one header or program header change, in the file's own
# class and byte order.
mutate() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
p, what = sys.argv[1], sys.argv[2]
d = bytearray(open(p, 'rb').read())
e = '<' if d[5] == 1 else '>'
is64 = d[4] == 2
w = e + ('Q' if is64 else 'I')
phoff = struct.unpack_from(w, d, 0x20 if is64 else 0x1c)[0]
phentsize, phnum = struct.unpack_from(e + 'HH', d, 0x36 if is64 else 0x2a)
types = [struct.unpack_from(e + 'I', d, phoff + i * phentsize)[0] for i in range(phnum)]
if what == 'osabi': d[7] = 9                # ELFOSABI_FREEBSD
elif what == 'abiversion': d[8] = 7
elif what == 'identversion': d[6] = 2
elif what == 'padding': d[12] = 1
elif what == 'eversion': struct.pack_into(e + 'I', d, 0x14, 2)
elif what == 'phnum0': struct.pack_into(e + 'H', d, 0x38 if is64 else 0x2c, 0)
elif what == 'nodynamic':                    # PT_DYNAMIC becomes an OS-specific type
    struct.pack_into(e + 'I', d, phoff + types.index(2) * phentsize, 0x6474e650)
elif what == 'misaligned':                   # the last PT_LOAD's p_vaddr moves by 16 bytes
    last = max(i for i, t in enumerate(types) if t == 1)
    at = phoff + last * phentsize + (16 if is64 else 8)
    struct.pack_into(w, d, at, struct.unpack_from(w, d, at)[0] + 16)
else: sys.exit('unknown mutation ' + what)
open(p, 'wb').write(d)
PY
}
# What the real loader does with the program: "loads" or "refuses: MESSAGE".
real_verdict() {  # TARGET PROG
  local out rc=0
  out=$(run_target "$1" "$2" 2>&1) || rc=$?
  if [ "$rc" = 0 ] && printf '%s' "$out" | grep -q 'foo=42'; then echo loads
  else echo "refuses: $(printf '%s' "$out" | head -1)"; fi
}
# What check says: "loads" (exit 0) or "refuses: CODES MESSAGES" (exit 1).
check_verdict() {  # PROG
  local rc=0
  "$XPATCH" check --json / "$1" >"$W/c.json" || rc=$?
  if [ "$rc" = 0 ]; then echo loads; return; fi
  echo "refuses: $(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    for f in json.loads(l).get("findings", []):
        if f["severity"] == "error": print(f["code"], f["message"])' "$W/c.json" | tr '\n' ' ')"
}
# glibc's words for each mutation (elf/dl-load.c, 2.36).
glibc_words() {
  case $1 in
    osabi) echo 'ELF file OS ABI invalid' ;;
    abiversion) echo 'ELF file ABI version invalid' ;;
    identversion) echo 'ELF file version ident does not match current one' ;;
    padding) echo 'nonzero padding in e_ident' ;;
    eversion) echo 'ELF file version does not match current one' ;;
    misaligned) echo 'ELF load command address/offset not page-aligned' ;;
    nodynamic) echo 'object file has no dynamic section' ;;
    phnum0) echo 'object file has no loadable segments' ;;
    pie) echo 'cannot dynamically load position-independent executable' ;;
    byteorder) echo 'ELF file data encoding not' ;;
    foreign-eversion) echo 'ELF file version does not match current one' ;;
  esac
}
same_order() {  # a fixture target of another machine, the same class and byte order
  case $1 in
    x86_64|riscv64|ppc64le|x86_64-musl) echo aarch64 ;;
    aarch64|aarch64-musl) echo x86_64 ;;
    s390x) echo ppc64le ;;  # not the same byte order: there is no other 64-bit big-endian fixture
    i686) echo armhf ;;
    armhf) echo i686 ;;
    powerpc) echo armhf ;;  # the same: no other 32-bit big-endian fixture
  esac
}
other_order() {  # a fixture target of the same class and the other byte order
  case $1 in
    x86_64|aarch64|riscv64|ppc64le|x86_64-musl|aarch64-musl) echo s390x ;;
    s390x) echo aarch64 ;;
    i686|armhf) echo powerpc ;;
    powerpc) echo i686 ;;
  esac
}

for T in x86_64 i686 aarch64 armhf riscv64 ppc64le s390x powerpc x86_64-musl aarch64-musl; do
  L=$(tuple_loader "$T")
  musl=false; [ "${T%-musl}" != "$T" ] && musl=true
  # foreign-*: a library of another machine (same class, same byte order)
  # with the mutation: Debian's ld.so skips it unless open_verify checks
  # the field before the machine (e_version).
  for m in osabi abiversion identversion padding eversion misaligned nodynamic phnum0 pie byteorder \
           foreign-osabi foreign-eversion; do
    D=$W/$T-$m && mkdir -p "$D/m" "$D/a"
    cp "$FX/$T/libfoo.so" "$D/a/libfoo.so"
    case $m in
      pie) cp "$FX/$T/app-pie" "$D/m/libfoo.so" ;;
      byteorder) cp "$FX/$(other_order "$T")/libfoo.so" "$D/m/libfoo.so" ;;
      foreign-*) cp "$FX/$(same_order "$T")/libfoo.so" "$D/m/libfoo.so" && mutate "$D/m/libfoo.so" "${m#foreign-}" ;;
      *) cp "$FX/$T/libfoo.so" "$D/m/libfoo.so" && mutate "$D/m/libfoo.so" "$m" ;;
    esac
    cp "$FX/$T/app-norunpath" "$D/app"
    "$XPATCH" --interp "$L" --runpath "$(dirname "$L"):$D/m:$D/a" "$D/app"
    real=$(real_verdict "$T" "$D/app")
    ours=$(check_verdict "$D/app")
    check "$T, $m first on the path: check agrees with the real loader (${real:0:110})" \
      test "${real%%:*}" = "${ours%%:*}"
    if ! $musl && [ "${real%%:*}" = refuses ]; then
      words=$(glibc_words "$m")
      check "$T, $m: the loader says \"$words\" ..." grep -qF "$words" <<<"$real"
      check "$T, $m: ... and so does check (needed-invalid)" grep -qF "needed-invalid" <<<"$ours"
      check "$T, $m: ... in the loader's words" grep -qF "$words" <<<"$ours"
    fi
    [ "${real%%:*}" = "${ours%%:*}" ] || echo "    real: $real"$'\n'"    check: $ours"
  done
done

# ---- an interpreter without execute permission: the kernel refuses the
# program (execve: EACCES, exit 126 from the shell), root or not ----
for T in x86_64 x86_64-musl aarch64; do
  L=$(tuple_loader "$T")
  D=$W/noexec-$T && mkdir -p "$D"
  cp "$L" "$D/ld.so" && chmod 0644 "$D/ld.so"
  cp "$FX/$T/app-pie" "$FX/$T/libfoo.so" "$D/"
  "$XPATCH" --interp "$D/ld.so" --runpath "$(dirname "$L"):$D" "$D/app-pie"
  if [ -z "$(qemu_for "$T")" ]; then
    rc=0; "$D/app-pie" >/dev/null 2>&1 || rc=$?
    check "$T: the kernel refuses a program whose PT_INTERP is not executable (exit $rc)" test "$rc" = 126
  fi
  check "$T: ... and check says interp-not-executable" \
    bash -c "'$XPATCH' check --json / '$D/app-pie' | grep -q '\"code\":\"interp-not-executable\"'"
  chmod 0755 "$D/ld.so"
  check "$T: with the execute bit back, check is clean" bash -c "'$XPATCH' check -q / '$D/app-pie' >/dev/null"
done
finish
