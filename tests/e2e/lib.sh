# Shared helpers for the end-to-end tests (sourced).
set -euo pipefail
PASS=0
FAIL=0
SKIP=0
ok()   { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
# A case that cannot run here (not root, a tool missing): counted, and the
# whole script then exits 77, which CTest reports as skipped (SKIP_RETURN_CODE),
# never as passed.
skip() { SKIP=$((SKIP + 1)); echo "skip - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# The whole script needs root (chroot, mounts): exit 77 (skipped) otherwise.
needs_root() {
  if [ "$(id -u)" != 0 ]; then echo "skip - $(basename "$0"): $1 needs root"; exit 77; fi
}
# For the package tests (W, FORM set): deb NAME [PACKAGE VERSION [ARCH
# MULTIARCH]] builds $W/NAME.deb (the package NAME, version 1, arm64 unless
# given; a Multi-Arch field when given) from the
# tree $W/NAME/ (its DEBIAN/control made here) and unpacks it into
# $W/NAME.stage; pkgarg NAME is what --package gets: the .deb (FORM=deb) or
# the unpacked tree.
deb() {
  mkdir -p "$W/$1/DEBIAN"
  printf 'Package: %s\nVersion: %s\nArchitecture: %s\n%bMaintainer: t <t@t>\nDescription: test\n' "${2:-$1}" "${3:-1}" \
    "${4:-arm64}" "${5:+Multi-Arch: $5\n}" >"$W/$1/DEBIAN/control"
  dpkg-deb --root-owner-group -Zxz --build "$W/$1" "$W/$1.deb" >/dev/null
  rm -rf "$W/$1.stage" && mkdir "$W/$1.stage" && dpkg-deb -x "$W/$1.deb" "$W/$1.stage"
}
pkgarg() { if [ "$FORM" = deb ]; then echo "$W/$1.deb"; else echo "$W/$1.stage"; fi; }
finish() {
  echo "$PASS passed, $FAIL failed, $SKIP skipped"
  [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ] || return 1
  if [ "$SKIP" -gt 0 ]; then return 77; fi
}
# strace ARGS...: LeakSanitizer cannot run under ptrace, so in an ASan build
# a traced command runs without leak detection (untraced runs keep it).
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"; }
# The loader of Debian's cross libc, in the tuple layout /usr/<triplet>/lib,
# and how to run a binary of that target without -L.
tuple_loader() {  # TARGET -> prints absolute loader path in the tuple layout
  case $1 in
    x86_64) echo /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ;;  # host: multiarch dir
    x86_64-musl) echo /usr/lib/x86_64-linux-musl/libc.so ;;
    aarch64-musl) echo /usr/lib/aarch64-linux-musl/libc.so ;;
    i686) echo /usr/i686-linux-gnu/lib/ld-linux.so.2 ;;
    aarch64) echo /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ;;
    armhf) echo /usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3 ;;
    riscv64) echo /usr/riscv64-linux-gnu/lib/ld-linux-riscv64-lp64d.so.1 ;;
    ppc64le) echo /usr/powerpc64le-linux-gnu/lib/ld64.so.2 ;;
    s390x) echo /usr/s390x-linux-gnu/lib/ld64.so.1 ;;
    powerpc) echo /usr/powerpc-linux-gnu/lib/ld.so.1 ;;
    *) echo "unknown target $1" >&2; return 1 ;;
  esac
}
qemu_for() {
  case $1 in
    x86_64|x86_64-musl) echo "" ;;
    i686) echo qemu-i386 ;;
    aarch64|aarch64-musl) echo qemu-aarch64 ;;
    armhf) echo qemu-arm ;;
    riscv64) echo qemu-riscv64 ;;
    ppc64le) echo qemu-ppc64le ;;
    s390x) echo qemu-s390x ;;
    powerpc) echo qemu-ppc ;;
  esac
}
# Runs a target binary with no -L and no QEMU_LD_PREFIX: only what the file
# itself says (PT_INTERP, DT_RUNPATH) can make it work.
run_target() {  # TARGET BINARY
  local q; q=$(qemu_for "$1")
  if [ -n "$q" ]; then env -u QEMU_LD_PREFIX "$q" "$2"; else "$2"; fi
}
