#!/usr/bin/env bash
# What a one-file call pays at start (issue 16): the libraries a patch call
# loads are the patch path's own; package archives are read by the module
# xpatch-archive.so, loaded (with libarchive's decompressors) only by the
# command that reads an archive, from the build tree, from an install, and
# without /proc (pacman runs hooks chrooted without it).
# Usage: startup.sh XPATCH FIXTURES BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1 FX=$2 BUILD=$3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ARCHIVE_LIBS='liblzma|libzstd|liblz4|libbz2|libz\.|libarchive'

# loaded CMD...: the objects the loader loaded for CMD (LD_DEBUG=files), one per line.
loaded() { LD_DEBUG=files LD_DEBUG_OUTPUT="$W/ld" "$@" >/dev/null 2>&1; cat "$W"/ld.* | sed -n 's/.*file=\([^ ]*\).*\[0\];  needed by.*/\1/p; s/.*file=\([^ ]*\).*\[0\];  dynamically loaded by.*/\1/p' | sort -u; rm -f "$W"/ld.*; }

if readelf -d "$XPATCH" | grep -q '(NEEDED)'; then
  cp "$FX/x86_64/app-pie" "$W/app"
  libs=$(loaded "$XPATCH" --runpath /opt/a "$W/app")
  check "a patch call loads libraries (the loader's list is read: $(echo $libs))" test -n "$libs"
  check "a patch call loads none of libarchive's ($(echo "$libs" | grep -E "$ARCHIVE_LIBS" | tr '\n' ' '))" \
    bash -c "! grep -qE '$ARCHIVE_LIBS' <<<'$libs'"
  check "xpatch itself needs none of them" bash -c "! readelf -d '$XPATCH' | grep NEEDED | grep -qE '$ARCHIVE_LIBS'"
  check "the patch was made" bash -c "'$XPATCH' show -F %r '$W/app' | grep -qx /opt/a"

  # A .deb (xz, so liblzma) with one ELF file, checked over an empty root.
  mkdir -p "$W/pkg/DEBIAN" "$W/pkg/usr/bin" "$W/root"
  printf 'Package: t\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n' >"$W/pkg/DEBIAN/control"
  cp "$FX/x86_64/app-pie" "$W/pkg/usr/bin/app"
  dpkg-deb -Zxz --root-owner-group -b "$W/pkg" "$W/t.deb" >/dev/null
  set +e
  "$XPATCH" check --json --package "$W/t.deb" "$W/root" >"$W/out.json" 2>"$W/err"; rc=$?
  set -e
  check "check --package reads the .deb through the module (exit $rc: $(head -c 200 "$W/err"))" \
    bash -c "[ $rc -le 1 ] && grep -q '/usr/bin/app' '$W/out.json'"
  libs=$(loaded "$XPATCH" check --package "$W/t.deb" "$W/root")
  check "check --package loads xpatch-archive.so and liblzma" \
    bash -c "grep -q xpatch-archive.so <<<'$libs' && grep -q liblzma <<<'$libs'"

  # An install: bin/xpatch finds lib/xpatch/xpatch-archive.so.
  if cmake --install "$BUILD" --prefix "$W/inst" >/dev/null 2>&1; then
    set +e
    "$W/inst/bin/xpatch" check --json --package "$W/t.deb" "$W/root" >"$W/inst.json" 2>"$W/inst.err"; rc=$?
    set -e
    check "installed: check --package finds lib/xpatch/xpatch-archive.so (exit $rc: $(head -c 200 "$W/inst.err"))" \
      bash -c "[ $rc -le 1 ] && grep -q '/usr/bin/app' '$W/inst.json'"
    # Without /proc: the module is found from the name xpatch was started by.
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
      set +e
      unshare --mount --propagation private bash -c "mount -t tmpfs none /proc && \
        '$W/inst/bin/xpatch' check --json --package '$W/t.deb' '$W/root'" >"$W/noproc.json" 2>"$W/noproc.err"; rc=$?
      set -e
      check "without /proc: check --package still finds the module (exit $rc: $(head -c 200 "$W/noproc.err"))" \
        bash -c "[ $rc -le 1 ] && grep -q '/usr/bin/app' '$W/noproc.json'"
    else
      skip "without /proc: needs root and unshare"
    fi
  else
    skip "cmake --install failed"
  fi
  # No module: a clear error naming it, exit 2 (the patch path does not need it).
  mkdir "$W/bare"; cp "$(readlink -f "$XPATCH")" "$W/bare/xpatch"
  set +e
  "$W/bare/xpatch" check --package "$W/t.deb" "$W/root" >/dev/null 2>"$W/bare.err"; rc=$?
  set -e
  check "without the module: check --package is exit 2 naming xpatch-archive.so (exit $rc)" \
    bash -c "[ $rc = 2 ] && grep -q 'xpatch-archive.so' '$W/bare.err'"
  cp "$FX/x86_64/app-pie" "$W/app2"
  check "without the module: a patch call works" "$W/bare/xpatch" --runpath /opt/b "$W/app2"
else
  skip "a static xpatch loads no libraries"
fi
finish
