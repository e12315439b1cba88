#!/usr/bin/env bash
# The real ld.so.cache: caches written by the real ldconfig (the host's, in
# its three formats, and arm64's own under qemu-user), read by xpatch check
# and by the real loader, which must agree. Needs root (ldconfig -r chroots).
#
#   ld_so_cache.sh XPATCH FIXTURES_DIR host|arm64 [WORK_DIR]
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1
FX=$2
PART=$3
CACHE_DIR=${4:-/tmp}
W=$(mktemp -d /tmp/xpatch-cache.XXXXXX)
trap 'rm -rf "$W"' EXIT
[ "$(id -u)" = 0 ] || { echo "ld_so_cache.sh: needs root (ldconfig -r chroots); skipped"; exit 77; }

codes() {  # ROOT PROG -> finding codes, sorted
  "$XPATCH" check --json "$1" "$2" | python3 -c '
import json, sys
print(" ".join(sorted({f["code"] for l in sys.stdin for f in json.loads(l).get("findings", [])})))'
}
via() {  # ROOT PROG NEEDED -> how xpatch resolved it
  "$XPATCH" check --json "$1" "$2" | python3 -c '
import json, sys
for l in sys.stdin:
    for e in json.loads(l).get("resolved", []):
        if e["needed"] == sys.argv[1]: print(e["via"], e.get("path")); sys.exit()' "$3"
}

# A root: the loader and libc, a program needing libfoo.so, which sits only
# in /opt/lib, which /etc/ld.so.conf lists.
make_root() {  # DIR TARGET LOADER_IN_ROOT LIBC_DIR
  local R=$1 T=$2 L=$3 C=$4 src; src=$(tuple_loader "$T")
  mkdir -p "$R/etc" "$R/opt/lib" "$R$(dirname "$L")" "$R$C"
  cp "$(realpath "$src")" "$R$L"
  cp "$(realpath "$(dirname "$src")/libc.so.6")" "$R$C/libc.so.6"
  cp "$FX/$T/libfoo.so" "$R/opt/lib/libfoo.so"
  cp "$FX/$T/app-norunpath" "$R/app"
  "$XPATCH" --interp "$L" "$R/app"
  echo /opt/lib >"$R/etc/ld.so.conf"
}
# ROOT TARGET LOADER ERE (--list stops at the first missing library: "cannot open")
real_has() { real_list "$1" "$2" "$3" | grep -qE "$4"; }
real_list() {  # ROOT TARGET LOADER: what the real loader says, with ROOT as /
  local q; q=$(qemu_for "$2")
  if [ -n "$q" ]; then env -u QEMU_LD_PREFIX "$q" -L "$1" "$1$3" --list /app 2>&1 || true
  else chroot "$1" "$3" --list /app 2>&1 || true; fi
}

if [ "$PART" = host ]; then
  T=x86_64 R=$W/root L=/lib64/ld-linux-x86-64.so.2
  make_root "$R" $T $L /lib/x86_64-linux-gnu

  # No cache file: no cache step, whatever ld.so.conf lists.
  check "no cache: the real loader does not find libfoo.so" real_has "$R" $T $L 'libfoo.so(: cannot open| => not found)'
  check "no cache: xpatch says needed-missing, and cache-stale with the ldconfig to run" \
    test "$(codes "$R" /app)" = "cache-stale needed-missing"
  check "... the warning names ldconfig -r ROOT" \
    bash -c "'$XPATCH' check -v '$R' /app | grep -q 'ldconfig -r $R'"

  for fmt in new compat old; do
    ldconfig -r "$R" -c $fmt
    real=$(real_list "$R" $T $L | grep 'libfoo.so =>' || true)
    check "ldconfig -c $fmt: the real loader finds /opt/lib/libfoo.so ($real)" \
      bash -c "echo '$real' | grep -q '=> /opt/lib/libfoo.so'"
    check "ldconfig -c $fmt: xpatch finds it via the cache" test "$(via "$R" /app libfoo.so)" = "ld.so.cache /opt/lib/libfoo.so"
    check "ldconfig -c $fmt: and is clean" test -z "$(codes "$R" /app)"
  done

  # A cache older than the files: the library moved after ldconfig ran.
  mkdir -p "$R/opt/new" && mv "$R/opt/lib/libfoo.so" "$R/opt/new/" && echo /opt/new >"$R/etc/ld.so.conf"
  check "stale cache: the real loader does not find libfoo.so" real_has "$R" $T $L 'libfoo.so(: cannot open| => not found)'
  check "stale cache: xpatch says cache-stale and needed-missing" test "$(codes "$R" /app)" = "cache-stale needed-missing"
  ldconfig -r "$R"
  check "after ldconfig: clean again" test -z "$(codes "$R" /app)"

  # A damaged cache: the loader ignores it and searches on; xpatch says malformed.
  head -c 40 "$R/etc/ld.so.cache" >"$W/cut" && cp "$W/cut" "$R/etc/ld.so.cache"
  check "damaged cache: the real loader ignores it, searches on and misses libfoo.so" \
    real_has "$R" $T $L 'libfoo.so(: cannot open| => not found)'
  check "damaged cache: xpatch reports it malformed, libfoo.so missing" \
    test "$(codes "$R" /app)" = "malformed needed-missing"
  check "... naming the file" bash -c "'$XPATCH' check -v '$R' /app | grep -q '/etc/ld.so.cache: ld.so.cache:'"

  # The host's own /etc/ld.so.cache: a program without a runpath finds libc through it.
  check "the host's /etc/ld.so.cache: /bin/true's libc.so.6 comes from the cache" \
    test "$(via / /bin/true libc.so.6 | cut -d' ' -f1)" = ld.so.cache
  host_libc=$(via / /bin/true libc.so.6 | cut -d' ' -f2)
  ldd_libc=$(ldd /bin/true | awk '$1 == "libc.so.6" {print $3}')
  check "... and ldd agrees on the file ($host_libc, $ldd_libc)" test "$(realpath "$ldd_libc")" = "$host_libc"
  finish
  exit
fi

# ---- arm64: a cache built by arm64's own ldconfig, run under qemu-user ----
T=aarch64 R=$W/root L=/lib/ld-linux-aarch64.so.1
LDC=$CACHE_DIR/ldconfig-arm64/sbin/ldconfig
if [ ! -x "$LDC" ]; then
  mkdir -p "$CACHE_DIR/ldconfig-arm64"
  (cd "$CACHE_DIR" && apt-get download libc-bin:arm64 >/dev/null 2>&1 && dpkg-deb -x libc-bin_*_arm64.deb ldconfig-arm64) || true
fi
[ -x "$LDC" ] || { echo "ld_so_cache.sh: no arm64 ldconfig (apt-get download libc-bin:arm64 failed); skipped"; exit 77; }
command -v qemu-aarch64 >/dev/null || { echo "no qemu-aarch64; skipped"; exit 77; }
make_root "$R" $T $L /lib/aarch64-linux-gnu

ldconfig -r "$R"
check "the host's ldconfig leaves arm64 libraries out: the real loader does not find libfoo.so" \
  real_has "$R" $T $L 'libfoo.so(: cannot open| => not found)'
check "... xpatch agrees (needed-missing), and cache-stale names arm64's ldconfig under qemu" \
  test "$(codes "$R" /app)" = "cache-stale needed-missing"
check "... the hint names qemu-aarch64" bash -c "'$XPATCH' check -v '$R' /app | grep -q 'qemu-aarch64'"

env -u QEMU_LD_PREFIX qemu-aarch64 "$LDC" -r "$R"
check "arm64's ldconfig cached it (flags libc6,AArch64)" bash -c "ldconfig -p -C '$R/etc/ld.so.cache' | grep -q 'libfoo.so (libc6,AArch64) => /opt/lib/libfoo.so'"
real=$(real_list "$R" $T $L | grep 'libfoo.so =>' || true)
check "the real arm64 loader finds it through the cache ($real)" bash -c "echo '$real' | grep -q '=> /opt/lib/libfoo.so'"
check "xpatch finds it via the cache" test "$(via "$R" /app libfoo.so)" = "ld.so.cache /opt/lib/libfoo.so"
check "... and is clean" test -z "$(codes "$R" /app)"
finish
