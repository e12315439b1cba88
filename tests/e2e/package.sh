#!/usr/bin/env bash
# xpatch check --package against a real install. Each case builds a .deb
# with dpkg-deb from the aarch64 fixtures, asks check --package what
# installing it into a small root (Debian's cross glibc) would do, then
# installs it for real (dpkg-deb -x into a copy of the root) and asks:
#  - the real loader under qemu-user (ld.so's trace with LD_BIND_NOW=1
#    LD_WARN=1, and the program itself; symbols_oracle.py compares) about
#    every program check --package reported, in the installed copy;
#  - `check` of the installed copy, which must give the same findings for
#    the same files, each "introduced" exactly when ROOT's file did not have
#    it (package_oracle.py).
# The upgrade cases install for real with dpkg --root (INSTALL=dpkg), which
# removes the files the installed version had and the new one lacks.
# One x86_64 case adds a library directory through ld.so.conf.d: there the
# install runs the host's ldconfig -r, as the package manager would, and
# the loader runs chrooted.
# FORM says what --package is given: `dir` the package unpacked (a staged
# tree), `deb` the archive itself (libpatch/archive reads it).
#
#   package.sh XPATCH FIXTURES_DIR dir|deb
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1
FX=$2
FORM=${3:-dir}
T=aarch64
F=$FX/$T
[ -e "$F/libsym-lost.so" ] || { echo "package.sh: $FX has no symbol fixtures (run fixtures.build)"; exit 77; }
for tool in dpkg-deb qemu-aarch64; do
  command -v $tool >/dev/null || { echo "skip - package.sh: $tool is not installed"; exit 77; }
done
W=$(mktemp -d /tmp/xpatch-package.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
X=/usr/aarch64-linux-gnu/lib
L=$X/ld-linux-aarch64.so.1
RP=$X:/opt/xpt/lib1:/opt/xpt/lib2
FAMILY=glibc
INSTALL=extract  # how verdict installs: dpkg-deb -x, or dpkg --root -i (an upgrade removes files)

prog() {  # FIXTURE DEST [RUNPATH]: a fixture program in the root's layout
  mkdir -p "$(dirname "$2")"
  cp "$F/$1" "$2"
  "$XPATCH" --interp $L --runpath "${3:-$RP}" "$2"
}
base_root() {  # DIR [LIBSYM]: cross glibc, LIBSYM (libsym.so) in lib2, an unrelated broken program
  mkdir -p "$1$X" "$1/opt/xpt/lib1" "$1/opt/xpt/lib2" "$1/opt/xpt/bin"
  cp -L $L $X/libc.so.6 "$1$X/"
  cp "$F/${2:-libsym.so}" "$1/opt/xpt/lib2/libsym.so"
  prog app-ver "$1/opt/xpt/bin/unrelated"  # needs libver.so.1, which is nowhere
}

install_deb() {  # ROOT DEB: as INSTALL says
  if [ "$INSTALL" = dpkg ]; then
    dpkg --root="$1" --force-architecture -i "$2" >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log"; return 1; }
  else
    dpkg-deb -x "$2" "$1"
  fi
}

# verdict CASE ROOT EXIT PKG...: check --package's exit status, then the
# install judged by the loader and by check of the installed copy.
verdict() {
  local c=$1 root=$2 want=$3 rc=0 p args=() paths=() old=()
  shift 3
  for p in "$@"; do args+=(--package "$(pkgarg "$p")"); done
  "$XPATCH" check "${args[@]}" "$root" >"$W/$c.txt" 2>&1 || rc=$?
  check "$c: check --package exits $want (got $rc)" test "$rc" = "$want"
  rc=0
  "$XPATCH" check "${args[@]}" --json "$root" >"$W/$c.json" || rc=$?
  check "$c: --json exits the same" test "$rc" = "$want"
  # The real install.
  cp -a "$root" "$W/$c.copy"
  for p in "$@"; do install_deb "$W/$c.copy" "$W/$p.deb"; done
  mapfile -t paths < <(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "path" in r and r["elf"]: print(r["path"])' "$W/$c.json")
  for p in "${paths[@]}"; do [ -e "$root$p" ] && old+=("$p"); done
  "$XPATCH" check --json "$W/$c.copy" "${paths[@]}" >"$W/$c.after.json" || true
  : >"$W/$c.before.json"
  [ ${#old[@]} -eq 0 ] || "$XPATCH" check --json "$root" "${old[@]}" >"$W/$c.before.json" || true
  if python3 "$HERE/package_oracle.py" "$W/$c.json" "$W/$c.after.json" "$W/$c.before.json" >"$W/$c.oracle"; then
    ok "$c: the verdict is check's of the installed copy, introduced = not there before"
  else
    bad "$c: the verdict differs from the installed copy's"
    cat "$W/$c.oracle" "$W/$c.txt"
  fi
  # The real loader, on every program reported (libraries have no loader run).
  for p in "${paths[@]}"; do
    python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); sys.exit(0 if r["interpreter"] else 1)' \
      <(grep "\"path\":\"$p\"" "$W/$c.after.json") || continue
    local run=0
    : >"$W/trace"
    [ "$FAMILY" = musl ] || env -u QEMU_LD_PREFIX qemu-aarch64 -L "$W/$c.copy" -E LD_TRACE_LOADED_OBJECTS=1 \
      -E LD_BIND_NOW=1 -E LD_WARN=1 "$W/$c.copy$L" "$p" >"$W/trace" 2>&1 || true
    env -u QEMU_LD_PREFIX qemu-aarch64 -L "$W/$c.copy" -E LD_WARN=1 "$W/$c.copy$p" >"$W/run" 2>&1 || run=$?
    grep "\"path\":\"$p\"" "$W/$c.after.json" >"$W/one.json"
    if grep -q ' => not found' "$W/trace"; then
      # A library not found: ld.so names the missing sonames (and then every
      # symbol they would have defined); check names the sonames.
      if python3 -c '
import json, re, sys
trace, run, rc, one = open(sys.argv[1]).read(), open(sys.argv[2]).read(), int(sys.argv[3]), json.load(open(sys.argv[4]))
missing = set(re.findall(r"^\s*(\S+) => not found", trace, re.M))
ours = {f["subject"] for f in one["findings"] if f["code"] == "needed-missing"}
sys.exit(0 if missing == ours and rc != 0 and "cannot open shared object" in run else 1)' \
        "$W/trace" "$W/run" "$run" "$W/one.json"; then
        ok "$c: $p: the loader agrees after the install (a soname not found)"
      else
        bad "$c: $p: the loader disagrees on the sonames not found"
        cat "$W/trace" "$W/run" "$W/one.json"
      fi
    elif python3 "$HERE/symbols_oracle.py" "$FAMILY" "$W/trace" "$W/run" "$run" "$W/one.json" >"$W/sym.txt"; then
      ok "$c: $p: the loader agrees after the install"
    else
      bad "$c: $p: the loader disagrees"
      cat "$W/trace" "$W/run" "$W/sym.txt"
    fi
  done
}

# 1. A clean package: a new program that finds what it needs.
base_root "$W/r1"
prog app-sym-now "$W/clean/opt/xpt/bin/app-new"
deb clean
verdict clean "$W/r1" 0 clean
check "clean: the unrelated broken program is not checked (only what the package touches)" \
  python3 -c 'import json,sys; s=[json.loads(l) for l in open(sys.argv[1])][-1]["summary"]; sys.exit(s["affected_files"])' \
  "$W/clean.json"
check "clean: no finding mentions it" bash -c "! grep -q unrelated '$W/clean.json'"

# 2. A program needing a soname the root lacks.
prog app-ver "$W/missing/opt/xpt/bin/app-ver"
deb missing
verdict missing "$W/r1" 1 missing
check "missing: says needed-missing libver.so.1, broken by the install" \
  bash -c "grep -q 'libver.so.1: needed-missing' '$W/missing.txt' && grep -q 'broken by this install' '$W/missing.txt'"

# 3. A program needing a symbol version the root's library lacks.
base_root "$W/r3" libsym-lost.so
prog app-sym-ver "$W/version/opt/xpt/bin/app-sym-ver"
deb version
verdict version "$W/r3" 1 version
check "version: version-missing, by the package" bash -c "grep -q 'version-missing' '$W/version.txt' && grep -q '(by [^)]*version' '$W/version.txt'"

# 4. Reverse breakage: the package replaces libsym.so with one that lost
#    a version and two functions that installed programs need.
base_root "$W/r4"
prog app-sym-now "$W/r4/opt/xpt/bin/app-sym-now"
prog app-sym-ver "$W/r4/opt/xpt/bin/app-sym-ver"
mkdir -p "$W/replace/opt/xpt/lib2" && cp "$F/libsym-lost.so" "$W/replace/opt/xpt/lib2/libsym.so"
deb replace
verdict replace "$W/r4" 1 replace
check "replace: names the installed program and the package" \
  bash -c "grep -q '/opt/xpt/bin/app-sym-now' '$W/replace.txt' && grep -q 'symbol-missing' '$W/replace.txt' && grep -q '(by [^)]*replace' '$W/replace.txt'"
check "replace: --json marks it introduced by replace" python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if "path" in l]
f = [f for r in rs if r.get("path") == "/opt/xpt/bin/app-sym-now" for f in r["findings"] if f["code"] == "symbol-missing"]
sys.exit(not f or not all(x["introduced"] and x["packages"] == [sys.argv[2]] for x in f))' "$W/replace.json" "$(pkgarg replace)"

# 5. Shadowing: the lost library lands in lib1, searched before lib2.
mkdir -p "$W/shadow/opt/xpt/lib1" && cp "$F/libsym-lost.so" "$W/shadow/opt/xpt/lib1/libsym.so"
deb shadow
verdict shadow "$W/r4" 1 shadow
check "shadow: names the installed program" bash -c "grep -q '/opt/xpt/bin/app-sym-now' '$W/shadow.txt'"

# 6. A symlink farm: the program through a link, its library through a
#    versioned name and a directory link, all inside the package.
mkdir -p "$W/farm/opt/xpt/lib3" "$W/farm/opt/xpt/bin"
cp "$F/libsym.so" "$W/farm/opt/xpt/lib3/libsym.so.1.0"
ln -s libsym.so.1.0 "$W/farm/opt/xpt/lib3/libsym.so"
ln -s lib3 "$W/farm/opt/xpt/libdir"
prog app-sym-now "$W/farm/opt/xpt/libexec/farm-real" "$X:/opt/xpt/libdir"
ln -s ../libexec/farm-real "$W/farm/opt/xpt/bin/farm"
deb farm
base_root "$W/r6"
verdict farm "$W/r6" 0 farm
rm "$W/r6/opt/xpt/lib2/libsym.so"  # the farm's own copy is what the program loads
verdict farm-alone "$W/r6" 0 farm

# 7. Already broken before: the package reinstalls the lost library under
#    a program it already broke. Not this install's fault: exit 0, and 1
#    with --strict.
base_root "$W/r7" libsym-lost.so
prog app-sym-ver "$W/r7/opt/xpt/bin/app-sym-ver"
mkdir -p "$W/same/opt/xpt/lib2" && cp "$F/libsym-lost.so" "$W/same/opt/xpt/lib2/libsym.so"
deb same
verdict same "$W/r7" 0 same
check "same: says already broken before" bash -c "grep -q 'already broken before' '$W/same.txt' && ! grep -q 'broken by this install' '$W/same.txt'"
rc=0; "$XPATCH" check --strict --package "$(pkgarg same)" "$W/r7" >/dev/null || rc=$?
check "same: --strict exits 1 (got $rc)" test $rc = 1

# 8. Packages in order: the second undoes what the first breaks.
mkdir -p "$W/fix/opt/xpt/lib1" && cp "$F/libsym.so" "$W/fix/opt/xpt/lib1/libsym.so"
deb fix
verdict ordered "$W/r4" 0 shadow fix
verdict reversed "$W/r4" 1 fix shadow

# 8a. Upgrades (the .deb form: its control names the package). ROOT has
#     libdemo 1 installed by dpkg (libfoo.so and libver.so.1) and a program
#     needing libver.so.1; libdemo 2 ships only libfoo.so, so dpkg removes
#     libver.so.1 on the upgrade and the program no longer loads.
if [ "$FORM" = deb ]; then
  INSTALL=dpkg
  upgrade_root() {  # DIR DBDIR...: the cross glibc, app-ver (needs libver.so.1), a package manager's empty database
    local r=$1 d; shift
    mkdir -p "$r$X"
    for d; do mkdir -p "$r/$d"; done
    cp -L $L $X/libc.so.6 "$r$X/"
    prog app-ver "$r/opt/xpt/bin/app-ver"
  }
  dpkg_root() { upgrade_root "$1" var/lib/dpkg/info var/lib/dpkg/updates && touch "$1/var/lib/dpkg/status"; }
  R12=$W/r12
  dpkg_root "$R12"
  mkdir -p "$W/demo1/opt/xpt/lib2" "$W/demo2/opt/xpt/lib2" "$W/demo3/opt/xpt/lib2"
  cp "$F/libfoo.so" "$F/libver.so.1" "$W/demo1/opt/xpt/lib2/"
  cp "$F/libfoo.so" "$W/demo2/opt/xpt/lib2/"
  cp "$F/libfoo.so" "$F/libver.so.1" "$W/demo3/opt/xpt/lib2/"
  deb demo1 libdemo 1
  deb demo2 libdemo 2
  deb demo3 libdemo 3
  install_deb "$R12" "$W/demo1.deb"
  check "upgrade: app-ver loads with libdemo 1 installed" \
    env -u QEMU_LD_PREFIX qemu-aarch64 -L "$R12" "$R12/opt/xpt/bin/app-ver"
  verdict upgrade "$R12" 1 demo2
  check "upgrade: says needed-missing libver.so.1 for app-ver, broken by the install of libdemo" \
    bash -c "grep -q 'libver.so.1: needed-missing' '$W/upgrade.txt' && grep -q '/opt/xpt/bin/app-ver' '$W/upgrade.txt' &&
             grep -q 'broken by this install' '$W/upgrade.txt' && grep -q '(by libdemo)' '$W/upgrade.txt'"
  check "upgrade: dpkg removed libver.so.1" test ! -e "$W/upgrade.copy/opt/xpt/lib2/libver.so.1"
  rc=0; env -u QEMU_LD_PREFIX qemu-aarch64 -L "$W/upgrade.copy" "$W/upgrade.copy/opt/xpt/bin/app-ver" >"$W/run" 2>&1 || rc=$?
  check "upgrade: after dpkg's upgrade app-ver does not load (libver.so.1 not found), as check --package said" \
    bash -c "test $rc != 0 && grep -q 'libver.so.1: cannot open shared object file' '$W/run' &&
             grep -q '\"path\":\"/opt/xpt/bin/app-ver\"' '$W/upgrade.json'"
  check "upgrade: --json names the list dpkg keeps and what the upgrade removes" python3 -c '
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])][-1]["summary"]
p = s["packages"][0]
sys.exit(not (p["package"] == "libdemo" and p["installed"] == "/var/lib/dpkg/info/libdemo.list"
              and p["removes"] == ["/opt/xpt/lib2/libver.so.1"]))' "$W/upgrade.json"
  rc=0; "$XPATCH" check --strict --package "$W/demo2.deb" "$R12" >/dev/null || rc=$?
  check "upgrade: --strict exits 1 too (got $rc)" test $rc = 1
  verdict upgrade-keeps "$R12" 0 demo3
  INSTALL=extract

  # A Multi-Arch: same package (dpkg's list is NAME:ARCH.list) whose arm64
  # and armhf instances share libver.so.1: upgrading the arm64 one to a
  # version without it deletes it although the armhf instance still lists
  # it (dpkg then refuses to configure the version skew, after unpacking).
  R14=$W/r14
  dpkg_root "$R14"
  for a in arm64 armhf; do dpkg --root="$R14" --add-architecture $a; done
  mkdir -p "$W/ma1/opt/xpt/lib2" "$W/ma1h/opt/xpt/lib2" "$W/ma2/opt/xpt/lib2"
  cp "$F/libver.so.1" "$W/ma1/opt/xpt/lib2/"
  cp "$F/libver.so.1" "$W/ma1h/opt/xpt/lib2/"
  cp "$F/libfoo.so" "$W/ma2/opt/xpt/lib2/"
  deb ma1 libma 1 arm64 same
  deb ma1h libma 1 armhf same
  deb ma2 libma 2 arm64 same
  dpkg --root="$R14" -i "$W/ma1.deb" "$W/ma1h.deb" >"$W/dpkg.log" 2>&1 || cat "$W/dpkg.log"
  check "multi-arch: dpkg lists libma's instances as libma:arm64.list and libma:armhf.list" \
    test -e "$R14/var/lib/dpkg/info/libma:arm64.list" -a -e "$R14/var/lib/dpkg/info/libma:armhf.list"
  rc=0; "$XPATCH" check --package "$W/ma2.deb" "$R14" >"$W/ma.txt" 2>&1 || rc=$?
  check "multi-arch: check --package exits 1 (got $rc), libver.so.1 needed-missing by libma" \
    bash -c "test $rc = 1 && grep -q 'libver.so.1: needed-missing' '$W/ma.txt' && grep -q '(by libma)' '$W/ma.txt' &&
             grep -q 'libma:arm64.list' '$W/ma.txt'"
  cp -a "$R14" "$W/ma.copy"
  dpkg --root="$W/ma.copy" -i "$W/ma2.deb" >"$W/dpkg.log" 2>&1 || true
  rc=0; env -u QEMU_LD_PREFIX qemu-aarch64 -L "$W/ma.copy" "$W/ma.copy/opt/xpt/bin/app-ver" >"$W/run" 2>&1 || rc=$?
  check "multi-arch: dpkg deleted the shared libver.so.1 and app-ver does not load" \
    bash -c "test ! -e '$W/ma.copy/opt/xpt/lib2/libver.so.1' && test $rc != 0 &&
             grep -q 'libver.so.1: cannot open shared object file' '$W/run'"

  # 8b. The same upgrade with the real pacman: .pkg.tar.zst packages (bsdtar,
  #     a .PKGINFO and .MTREE), libdemo 1 installed with pacman -r ROOT -U.
  if command -v pacman >/dev/null && command -v bsdtar >/dev/null; then
    printf '[options]\nArchitecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\n' >"$W/pacman.conf"
    pm() {  # ROOT ARGS...
      local R=$1; shift
      pacman --config "$W/pacman.conf" -r "$R" --dbpath "$R/var/lib/pacman" --cachedir "$R/var/cache/pacman/pkg" \
        --logfile "$R/var/log/pacman.log" --hookdir "$R/etc/pacman.d/hooks" --noconfirm "$@" >"$W/pacman.log" 2>&1 ||
        { cat "$W/pacman.log"; return 1; }
    }
    mkpkg() {  # DIR VERSION: $W/DIR.pkg.tar.zst, the package libdemo
      printf 'pkgname = libdemo\npkgbase = libdemo\npkgver = %s-1\npkgdesc = t\nbuilddate = 1\npackager = t\nsize = 1\narch = any\n' \
        "$2" >"$W/$1/.PKGINFO"
      (cd "$W/$1" && LANG=C bsdtar -cf - --format=mtree \
         --options='!all,use-set,type,uid,gid,mode,time,size,md5,sha256,link' .PKGINFO opt | gzip -c >.MTREE &&
       bsdtar --zstd -cf "$W/$1.pkg.tar.zst" .PKGINFO .MTREE opt)
    }
    rm -rf "$W/demo1/DEBIAN" "$W/demo2/DEBIAN"
    mkpkg demo1 1
    mkpkg demo2 2
    R13=$W/r13
    upgrade_root "$R13" var/lib/pacman var/cache/pacman/pkg var/log
    pm "$R13" -U "$W/demo1.pkg.tar.zst"
    check "pacman upgrade: app-ver loads with libdemo 1 installed" \
      env -u QEMU_LD_PREFIX qemu-aarch64 -L "$R13" "$R13/opt/xpt/bin/app-ver"
    rc=0; "$XPATCH" check --package "$W/demo2.pkg.tar.zst" "$R13" >"$W/pupgrade.txt" 2>&1 || rc=$?
    check "pacman upgrade: check --package exits 1 (got $rc)" test $rc = 1
    check "pacman upgrade: says needed-missing libver.so.1 for app-ver, by libdemo" \
      bash -c "grep -q 'libver.so.1: needed-missing' '$W/pupgrade.txt' && grep -q '/opt/xpt/bin/app-ver' '$W/pupgrade.txt' &&
               grep -q '(by libdemo)' '$W/pupgrade.txt' && grep -q 'local/libdemo-1-1/files' '$W/pupgrade.txt'"
    cp -a "$R13" "$W/pupgrade.copy"
    pm "$W/pupgrade.copy" -U "$W/demo2.pkg.tar.zst"
    rc=0; env -u QEMU_LD_PREFIX qemu-aarch64 -L "$W/pupgrade.copy" "$W/pupgrade.copy/opt/xpt/bin/app-ver" >"$W/run" 2>&1 || rc=$?
    check "pacman upgrade: after pacman's upgrade app-ver does not load (libver.so.1 not found)" \
      bash -c "test $rc != 0 && grep -q 'libver.so.1: cannot open shared object file' '$W/run'"
    rc=0; "$XPATCH" check "$W/pupgrade.copy" /opt/xpt/bin/app-ver >"$W/pupgrade.after" 2>&1 || rc=$?
    check "pacman upgrade: check of the upgraded root says the same (exit $rc)" \
      bash -c "test $rc = 1 && grep -q 'libver.so.1: needed-missing' '$W/pupgrade.after'"
  else
    skip "pacman upgrade: pacman or bsdtar is not installed"
  fi
fi

# 9. ld.so.conf.d and the cache (x86_64, the host's ldconfig): a package
#    adding a library directory with a conf file. After a real install the
#    package manager runs ldconfig; check assumes it (docs/check.md).
if command -v ldconfig >/dev/null && [ -e "$FX/x86_64/libfoo.so" ]; then
  H=$(tuple_loader x86_64)
  R9=$W/r9
  mkdir -p "$R9/etc/ld.so.conf.d" "$R9/lib64" "$R9/lib/x86_64-linux-gnu" "$R9/opt/bin"
  cp "$(realpath "$H")" "$R9/lib64/ld-linux-x86-64.so.2"
  cp "$(realpath /lib/x86_64-linux-gnu/libc.so.6)" "$R9/lib/x86_64-linux-gnu/libc.so.6"
  echo 'include /etc/ld.so.conf.d/*.conf' >"$R9/etc/ld.so.conf"
  ldconfig -r "$R9"
  mkdir -p "$W/conf/etc/ld.so.conf.d" "$W/conf/opt/xlib" "$W/conf/opt/bin"
  echo /opt/xlib >"$W/conf/etc/ld.so.conf.d/xlib.conf"
  cp "$FX/x86_64/libfoo.so" "$W/conf/opt/xlib/libfoo.so"
  cp "$FX/x86_64/app-norunpath" "$W/conf/opt/bin/app"
  deb conf
  rc=0; "$XPATCH" check --package "$(pkgarg conf)" "$R9" >"$W/conf.txt" 2>&1 || rc=$?
  check "conf: check --package finds libfoo.so through the conf file and the cache ldconfig will write (exit $rc)" \
    test $rc = 0
  "$XPATCH" check --package "$(pkgarg conf)" --json "$R9" >"$W/conf.json" || true
  check "conf: ... via ld.so.cache" grep -q '"needed":"libfoo.so","path":"/opt/xlib/libfoo.so","via":"ld.so.cache"' "$W/conf.json"
  cp -a "$R9" "$W/conf.copy"
  dpkg-deb -x "$W/conf.deb" "$W/conf.copy"
  ldconfig -r "$W/conf.copy"  # what dpkg's libc-bin trigger does
  out=$(chroot "$W/conf.copy" /lib64/ld-linux-x86-64.so.2 --list /opt/bin/app 2>&1 || true)
  check "conf: the real loader, after the install and ldconfig, loads /opt/xlib/libfoo.so" \
    grep -q '/opt/xlib/libfoo.so' <<<"$out"
else
  skip "conf: no ldconfig or x86_64 fixtures"
fi

# 10. musl: the reverse breakage again, judged by running the program (musl
#     binds every symbol at load).
if [ -e "$FX/aarch64-musl/libsym-lost.so" ] && [ -e "$(tuple_loader aarch64-musl)" ]; then
  FAMILY=musl F=$FX/aarch64-musl L=$(tuple_loader aarch64-musl) X=/usr/lib/aarch64-linux-musl RP=/opt/xpt/lib1:/opt/xpt/lib2
  R10=$W/r10
  mkdir -p "$R10$X" "$R10/opt/xpt/lib1" "$R10/opt/xpt/lib2"
  cp -L "$L" "$R10$L"
  cp "$F/libsym.so" "$R10/opt/xpt/lib2/libsym.so"
  prog app-sym-now "$R10/opt/xpt/bin/app-sym-now"
  mkdir -p "$W/mreplace/opt/xpt/lib2" && cp "$F/libsym-lost.so" "$W/mreplace/opt/xpt/lib2/libsym.so"
  deb mreplace
  verdict musl-replace "$R10" 1 mreplace
  check "musl-replace: names the installed program" grep -q '/opt/xpt/bin/app-sym-now' "$W/musl-replace.txt"
  mkdir -p "$W/mclean/opt/xpt/bin" && prog app-sym-now "$W/mclean/opt/xpt/bin/app-new"
  deb mclean
  verdict musl-clean "$R10" 0 mclean
else
  skip "musl: no aarch64-musl fixtures or loader"
fi

# 11. A package that cannot be read: exit 2, naming it; ROOT unchanged.
before=$(cd "$W/r1" && find . -printf '%p %s %T@\n' | sort | md5sum)
rc=0; "$XPATCH" check --package "$W/no-such.deb" "$W/r1" >"$W/bad.txt" 2>&1 || rc=$?
check "a missing package: exit 2 (got $rc), naming it" bash -c "test $rc = 2 && grep -q no-such.deb '$W/bad.txt'"
echo "not an archive" >"$W/junk.deb"
head -c 100 "$W/clean.deb" >"$W/truncated.deb"
for j in junk truncated; do
  rc=0; "$XPATCH" check --package "$W/$j.deb" "$W/r1" >"$W/bad.txt" 2>&1 || rc=$?
  check "a $j archive: exit 2 (got $rc), naming it" bash -c "test $rc = 2 && grep -q '$j.deb' '$W/bad.txt'"
done
check "ROOT is unchanged" test "$before" = "$(cd "$W/r1" && find . -printf '%p %s %T@\n' | sort | md5sum)"

finish
