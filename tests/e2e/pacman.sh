#!/usr/bin/env bash
# The hooks under the real pacman (Debian's pacman-package-manager): packages
# built with makepkg, installed with `pacman -r ROOT -U`, the hooks enabled
# in ROOT with `xpatch-hook enable pacman` and run by pacman chrooted into
# ROOT, the way it runs every hook. The aarch64 C++ program must then run
# chrooted under qemu-aarch64 with no -L; a failing pre hook must abort the
# transaction with its reason on screen (setup in the way, no /dev in the
# root); a missing library leaves the program as built unless hooks.conf
# names it in ignore-missing; removing the packages takes setup's files back.
# XPATCH_PKG=xpatch-VERSION-1-ARCH.pkg.tar.zst (scripts/package pacman):
# xpatch goes into the root as that package, through pacman, instead of
# through its install rules, so the hooks run from the package.
#
#   pacman.sh XPATCH BUILD_DIR FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/pm_lib.sh"
set +e
XPATCH=$(realpath "$1"); B=$(realpath "$2"); FX=$(realpath "$3")
need_root
need_cmd pacman makepkg fakeroot aarch64-linux-gnu-g++ qemu-aarch64 setpriv readelf
T=aarch64-linux-gnu
W=$(mktemp -d /tmp/xpatch-pacman.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"

# ---- packages, built by makepkg as an unprivileged user ----
mkpkg() {  # NAME FILES_DIR: $W/pkgs/NAME-1-1-any.pkg.tar.zst
  local d=$W/build/$1
  mkdir -p "$d" "$W/pkgs"
  cp -a "$2" "$d/files"
  cat >"$d/PKGBUILD" <<PKG
pkgname=$1
pkgver=1
pkgrel=1
pkgdesc='xpatch test package'
arch=('any')
license=('custom')
options=('!strip' '!debug' '!emptydirs')
package() { cp -a "\$startdir/files/." "\$pkgdir/"; }
PKG
  chown -R nobody "$d"; chmod 777 "$W/pkgs"
  (cd "$d" && setpriv --reuid=nobody --regid=nogroup --clear-groups \
     env HOME="$d" PKGDEST="$W/pkgs" PKGEXT=.pkg.tar.zst makepkg --nodeps --noconfirm --force >"$d/log" 2>&1) ||
    { cat "$d/log"; return 1; }
}
L=$W/files/libc/usr/$T/lib; mkdir -p "$L"
for f in ld-linux-aarch64.so.1 libc.so.6 libm.so.6 libstdc++.so.6 libgcc_s.so.1; do cp -L "/usr/$T/lib/$f" "$L/"; done
mkdir -p "$W/files/hello/usr/$T/bin" "$W/files/needs-foo/usr/$T/bin"
build_cxx_prog "$W/files/hello/usr/$T/bin/hello"; rm -f "$W/files/hello/usr/$T/bin/hello.cpp"
cp "$FX/aarch64/app-norunpath" "$W/files/needs-foo/usr/$T/bin/app"   # needs libfoo.so, not shipped
SUM_APP=$(sha256sum <"$W/files/needs-foo/usr/$T/bin/app")
t0=$SECONDS
for p in libc hello needs-foo; do mkpkg aarch64-$p "$W/files/$p" || { bad "makepkg aarch64-$p"; finish; exit; }; done
ok "makepkg built 3 packages ($((SECONDS - t0)) s)"
PKG_LIBC=$W/pkgs/aarch64-libc-1-1-any.pkg.tar.zst
PKG_HELLO=$W/pkgs/aarch64-hello-1-1-any.pkg.tar.zst
PKG_FOO=$W/pkgs/aarch64-needs-foo-1-1-any.pkg.tar.zst

# ---- a root for pacman -r: its database, /dev, /tmp, what the hooks run ----
cat >"$W/pacman.conf" <<'CONF'
[options]
Architecture = auto
SigLevel = Never
LocalFileSigLevel = Never
CONF
new_root() { rm -rf "$1"; cp -a "$TPL" "$1"; }
pm() {  # ROOT ARGS...: the real pacman on ROOT, hooks from ROOT's hook directory
  local R=$1; shift
  pacman --config "$W/pacman.conf" -r "$R" --dbpath "$R/var/lib/pacman" --cachedir "$R/var/cache/pacman/pkg" \
    --logfile "$R/var/log/pacman.log" --hookdir "$R/etc/pacman.d/hooks" --noconfirm "$@" 2>&1
}
TPL=$W/template
mkdir -p "$TPL/var/lib/pacman" "$TPL/var/cache/pacman/pkg" "$TPL/var/log" "$TPL/etc" "$TPL/dev" "$TPL/tmp" "$TPL/run"
chmod 1777 "$TPL/tmp"; mknod -m 666 "$TPL/dev/null" c 1 3
hook_tools "$TPL"
if [ -n "${XPATCH_PKG:-}" ]; then
  # xpatch's own Arch package (scripts/package pacman), through the real
  # pacman; -dd: the root has no Arch packages for bash, fmt and lief, so
  # the host's libraries are copied in beside it.
  out=$(pm "$TPL" -Udd "$(realpath "$XPATCH_PKG")"); rc=$?
  check "xpatch's own package installed with pacman -U ($rc: $(basename "$XPATCH_PKG"))" test "$rc" = 0 || echo "$out"
  xpatch_libs "$TPL"
  v=$(chroot "$TPL" /usr/bin/xpatch --version 2>&1)
  check "the packaged xpatch runs in the root: $v" grep -q "^xpatch " <<<"$v"
  check "pacman -Ql xpatch: the program, xpatch-hook and the pacman hooks" \
    test "$(pm "$TPL" -Qlq xpatch | grep -cE '/usr/bin/xpatch$|/usr/bin/xpatch-hook$|/usr/share/xpatch/hooks/pacman/xpatch-setup.hook$')" = 3
else
  install_xpatch "$TPL" "$B"
fi
out=$(chroot "$TPL" xpatch-hook enable pacman 2>&1); rc=$?
check "xpatch-hook enable pacman, chrooted: exit 0 ($rc: $out)" test "$rc" = 0
check "enable: relative links in etc/pacman.d/hooks to the shipped files" \
  test "$(readlink "$TPL/etc/pacman.d/hooks/xpatch-setup.hook")" = ../../../usr/share/xpatch/hooks/pacman/xpatch-setup.hook -a \
       -f "$TPL/etc/pacman.d/hooks/xpatch-retarget.hook"
out=$(chroot "$TPL" xpatch-hook status 2>&1)
check "status: pacman enabled, apt and dpkg not" test "$out" = $'apt: disabled\ndpkg: disabled\npacman: enabled'
C=$W/toggle; cp -a "$TPL" "$C"
for m in apt dpkg; do "$C/usr/bin/xpatch-hook" enable $m --root "$C" 2>/dev/null; done
check "enable apt and dpkg from the host with --root" \
  test "$(readlink "$C/etc/apt/apt.conf.d/80xpatch")" = ../../../usr/share/xpatch/hooks/apt/80xpatch -a \
       -f "$C/etc/dpkg/dpkg.cfg.d/xpatch" -a -f "$C/var/lib/xpatch/dpkg-stamp"
echo "// mine" >"$C/etc/apt/apt.conf.d/99mine"
"$C/usr/bin/xpatch-hook" disable all --root "$C" 2>/dev/null; rc=$?
check "disable all: exit 0, every link gone, nothing else ($rc)" \
  test "$rc" = 0 -a ! -e "$C/etc/apt/apt.conf.d/80xpatch" -a ! -e "$C/etc/dpkg/dpkg.cfg.d/xpatch" -a \
       ! -e "$C/etc/pacman.d/hooks/xpatch-setup.hook" -a ! -e "$C/var/lib/xpatch" -a -f "$C/etc/apt/apt.conf.d/99mine"
# pacman -U from ROOT's CacheDir: the pre hook, chrooted, finds the archives
# there for its verdict (a file outside the root leaves it nothing to read).
pmu() {  # ROOT PKG...
  local R=$1 p; shift
  local -a in_cache=()
  for p in "$@"; do cp "$p" "$R/var/cache/pacman/pkg/"; in_cache+=("$R/var/cache/pacman/pkg/${p##*/}"); done
  pm "$R" -U "${in_cache[@]}"
}
runs() { env -u QEMU_LD_PREFIX chroot "$1" /usr/bin/qemu-aarch64 "$2" 2>&1; }
VERDICT=0; grep -q -- --package <<<"$("$XPATCH" check --help 2>&1)" && VERDICT=1

# ---- installed through pacman: set up before, retargeted after, runs ----
R=$W/ok; new_root "$R"
t0=$SECONDS
out=$(pmu "$R" "$PKG_LIBC" "$PKG_HELLO"); rc=$?
echo "$out" | sed 's/^/    | /'
check "pacman -U libc + hello: exit 0 ($rc, $((SECONDS - t0)) s)" test "$rc" = 0
check "pacman ran the pre hook chrooted: setup's summary on screen" grep -q "xpatch-hook: setup $T in /: .*created" <<<"$out"
if [ $VERDICT = 1 ]; then
  check "pre hook: the verdict on the archives found in the cache, clean" \
    grep -q "xpatch-hook: check --package in /: checked .* 0 errors introduced" <<<"$out"
fi
check "pre hook: setup's files and its manifest in the root" \
  test -f "$R/etc/binfmt.d/qemu-aarch64.conf" -a -L "$R/usr/lib/$T" -a -f "$R/var/lib/xpatch/setup/$T"
check "post hook: the program's interpreter is the tuple's" \
  grep -q "interpreter: /usr/$T/lib/ld-linux-aarch64.so.1" <(readelf -lW "$R/usr/$T/bin/hello")
o=$(runs "$R" "/usr/$T/bin/hello")
check "the C++ program runs chrooted under qemu-aarch64, no -L: $o" test "$o" = "xpatch c++ ok"
"$XPATCH" check "$R" "/usr/$T" >"$W/check.out" 2>&1; rc=$?
check "xpatch check of /usr/$T in the root: clean ($rc)" test "$rc" = 0
out=$(pm "$R" -R aarch64-hello aarch64-libc); rc=$?
echo "$out" | sed 's/^/    | /'
check "pacman -R: exit 0 ($rc)" test "$rc" = 0
left=$(cd "$R" && ls -d etc/binfmt.d/qemu-aarch64.conf etc/ld.so.conf.d lib/ld-linux-aarch64.so.1 usr/lib/$T var/lib/xpatch 2>/dev/null)
check "after removal nothing of setup's is left (${left:-none})" test -z "$left"

# ---- an inherited XPATCH that does not exist in the root ----
R=$W/env; new_root "$R"
out=$(XPATCH=/nonexistent/xpatch pmu "$R" "$PKG_LIBC" "$PKG_HELLO"); rc=$?
check "XPATCH=/nonexistent in pacman's environment: exit 0 ($rc)" test "$rc" = 0
check "XPATCH=/nonexistent: said, and xpatch from PATH used" grep -q "XPATCH=/nonexistent/xpatch does not exist here" <<<"$out"
o=$(runs "$R" "/usr/$T/bin/hello"); check "XPATCH=/nonexistent: the program runs: $o" test "$o" = "xpatch c++ ok"

# ---- a pre hook whose setup fails aborts the transaction, with the reason ----
R=$W/setup-fails; new_root "$R"
mkdir -p "$R/etc/binfmt.d"; echo ":qemu-aarch64:M::other:" >"$R/etc/binfmt.d/qemu-aarch64.conf"
out=$(pmu "$R" "$PKG_LIBC" "$PKG_HELLO"); rc=$?
echo "$out" | sed 's/^/    | /'
check "setup in the way: pacman fails ($rc)" test "$rc" != 0
check "setup in the way: setup's own line on screen" grep -q "there: a file that says \":qemu-aarch64:M::other:\" (left alone)" <<<"$out"
check "setup in the way: pacman aborted the transaction (nothing installed)" \
  test ! -e "$R/usr/$T/bin/hello" -a -z "$(ls "$R/var/lib/pacman/local" 2>/dev/null | grep aarch64)"

# ---- no /dev in the root: one clear message, aborted ----
R=$W/nodev; new_root "$R"; rm -rf "$R/dev"
out=$(pmu "$R" "$PKG_LIBC" "$PKG_HELLO"); rc=$?
echo "$out" | sed 's/^/    | /'
check "no /dev: pacman fails ($rc)" test "$rc" != 0
check "no /dev: the hook says what is missing" grep -q "xpatch-hook: cannot run in .*missing /dev" <<<"$out"
check "no /dev: nothing installed" test ! -e "$R/usr/$T/bin/hello"

# ---- a library found nowhere: refused before unpacking, naming it ----
if [ $VERDICT = 1 ]; then
  R=$W/refused; new_root "$R"
  out=$(pmu "$R" "$PKG_LIBC" "$PKG_FOO"); rc=$?
  echo "$out" | sed 's/^/    | /'
  check "libfoo missing: pacman refuses the transaction ($rc)" test "$rc" != 0
  check "libfoo missing: the verdict names the package, the file and libfoo.so" \
    test -n "$(grep "REFUSED: installing .*aarch64-needs-foo-1-1-any.pkg.tar.zst" <<<"$out")" -a \
         -n "$(grep libfoo.so <<<"$out" | grep -F "/usr/$T/bin/app")"
  check "libfoo missing: nothing unpacked, nothing in pacman's database" \
    test ! -e "$R/usr/$T/bin/app" -a -z "$(ls "$R/var/lib/pacman/local" | grep aarch64)"
  R=$W/not-cached; new_root "$R"
  out=$(pm "$R" -U "$PKG_LIBC" "$PKG_HELLO"); rc=$?
  check "pacman -U of archives outside the root's cache: refused, saying so ($rc)" \
    test "$rc" != 0 -a -n "$(grep "aarch64-hello: no archive in /var/cache/pacman/pkg" <<<"$out")"
else
  skip "the pre-install verdict: $XPATCH has no check --package"
fi
# ---- without the verdict (check = no): left as built by the post hook, and named ----
R=$W/missing; new_root "$R"
mkdir -p "$R/etc/xpatch"; echo "check = no" >"$R/etc/xpatch/hooks.conf"
out=$(pmu "$R" "$PKG_LIBC" "$PKG_FOO"); rc=$?
echo "$out" | sed 's/^/    | /'
check "libfoo missing: the post hook's failure is on screen, naming libfoo.so" grep -q "libfoo.so" <<<"$out"
check "libfoo missing: the hook says it failed" grep -q "xpatch-hook: retarget $T in /: FAILED" <<<"$out"
check "libfoo missing: the program is byte-for-byte as built" test "$(sha256sum <"$R/usr/$T/bin/app")" = "$SUM_APP"
R=$W/ignore; new_root "$R"
mkdir -p "$R/etc/xpatch"; printf '# test\ntuples = %s\nignore-missing = libfoo.so*\n' "$T" >"$R/etc/xpatch/hooks.conf"
out=$(pmu "$R" "$PKG_LIBC" "$PKG_FOO"); rc=$?
echo "$out" | sed 's/^/    | /'
check "ignore-missing from hooks.conf: exit 0, no failure ($rc)" test "$rc" = 0 -a -z "$(grep FAILED <<<"$out")"
check "ignore-missing: the program was retargeted" \
  grep -q "interpreter: /usr/$T/lib/ld-linux-aarch64.so.1" <(readelf -lW "$R/usr/$T/bin/app")
R=$W/badconf; new_root "$R"
mkdir -p "$R/etc/xpatch"; printf 'ignore_missing = x\n' >"$R/etc/xpatch/hooks.conf"
out=$(pmu "$R" "$PKG_LIBC" "$PKG_HELLO"); rc=$?
check "a bad hooks.conf aborts, naming the file and line ($rc)" \
  test "$rc" != 0 -a -n "$(grep -F "/etc/xpatch/hooks.conf: line 1" <<<"$out")" -a ! -e "$R/usr/$T/bin/hello"
finish
