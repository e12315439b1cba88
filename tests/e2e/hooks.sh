#!/usr/bin/env bash
# The package-manager hooks in scripts/hooks, driven the way each manager
# drives them: pacman's NeedsTargets list (paths relative to the root, one
# per line, working directory /), apt's DPkg::Pre-Install-Pkgs stream in
# protocol versions 1, 2 and 3 over real .deb files built with dpkg-deb,
# then DPkg::Post-Invoke with no input, and a builder's DESTDIR. Each
# package's program must then run chrooted in the root under qemu-user
# without -L; it cannot before. The apt configuration is parsed by apt itself.
#
#   hooks.sh XPATCH FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
set +e
export XPATCH=$(realpath "$1")
FX=$(realpath "$2")
HOOKS=$(cd "$HERE/../../scripts/hooks" && pwd)
HOOK=$HOOKS/xpatch-hook
W=$(mktemp -d /tmp/xpatch-hooks.XXXXXX)
trap 'rm -rf "$W"' EXIT
needs_root "chroot"
T=aarch64-linux-musl

new_root() {  # DIR: qemu-aarch64 with its host libs, and aarch64 musl in /usr/<tuple>/lib
  local R=$1
  mkdir -p "$R/usr/bin" "$R/lib64" "$R/usr/$T/lib"
  ln -s usr/lib "$R/lib"
  cp "$(command -v qemu-aarch64)" "$R/usr/bin/"
  ldd "$(command -v qemu-aarch64)" | awk '/=> \//{print $3}' | while read -r lib; do
    dest=$R$(realpath -s "$lib" | sed 's|^/lib/|/usr/lib/|'); mkdir -p "$(dirname "$dest")"; cp "$(realpath "$lib")" "$dest"
  done
  cp "$(realpath /lib64/ld-linux-x86-64.so.2)" "$R/lib64/ld-linux-x86-64.so.2"
  cp /usr/lib/aarch64-linux-musl/libc.so "$R/usr/$T/lib/libc.so"
  ln -s libc.so "$R/usr/$T/lib/ld-musl-aarch64.so.1"
}
# A package: the program as built (/lib/ld-musl-aarch64.so.1, no runpath)
# and its library in a private directory that only a runpath can reach.
PKG=$W/pkg
mkdir -p "$PKG/usr/$T/bin" "$PKG/usr/$T/lib/hello" "$PKG/usr/$T/share/doc/hello"
cp "$FX/aarch64-musl/app-norunpath" "$PKG/usr/$T/bin/hello"
cp "$FX/aarch64-musl/libfoo.so" "$PKG/usr/$T/lib/hello/libfoo.so"
echo "hello, documented" >"$PKG/usr/$T/share/doc/hello/README"
TARGETS=$(cd "$PKG" && find usr -type f | sort)
runs() {  # ROOT: the program's output, chrooted, under qemu-aarch64
  env -u QEMU_LD_PREFIX chroot "$1" /usr/bin/qemu-aarch64 /usr/$T/bin/hello 2>&1
}
SUM0=$(sha256sum <"$PKG/usr/$T/bin/hello")

# ---- pacman: PreTransaction (files not there yet), unpack, PostTransaction ----
R=$W/pacman; new_root "$R"
out=$(cd / && printf '%s\n' $TARGETS | XPATCH_ROOT=$R "$HOOK" pre 2>&1); rc=$?
check "pacman pre: exit 0 ($rc)" test "$rc" = 0
check "pacman pre: the tuple's root set up (loader link, path file)" \
  test -L "$R/usr/lib/ld-musl-aarch64.so.1" -a -f "$R/usr/$T/etc/ld-musl-aarch64.path"
cp -a "$PKG/usr" "$R/"                                   # what pacman unpacks
o=$(runs "$R"); check "pacman: before the post hook the program fails ($(head -c 70 <<<"$o"))" test "$o" != "xpatch-fixture: foo=42"
out=$(cd / && printf '%s\n' $TARGETS | XPATCH_ROOT=$R "$HOOK" post 2>&1); rc=$?
check "pacman post: exit 0 ($rc)" test "$rc" = 0
o=$(runs "$R"); check "pacman: the program runs after the post hook: $o" test "$o" = "xpatch-fixture: foo=42"
check "pacman: interpreter is the tuple's" grep -q "interpreter: /usr/$T/lib/ld-musl-aarch64.so.1" <(readelf -lW "$R/usr/$T/bin/hello")
check "pacman: the README is untouched" test "$(cat "$R/usr/$T/share/doc/hello/README")" = "hello, documented"
out=$(cd / && printf '%s\n' $TARGETS | XPATCH_ROOT=$R "$HOOK" post 2>&1); rc=$?
check "pacman post again: exit 0, file unchanged by a second run ($rc)" test "$rc" = 0
check "pacman hook files: valid alpm-hooks(5) keys, AbortOnFail only before" python3 - "$HOOKS"/pacman/*.hook <<'PY'
import sys
allowed = {"Trigger": {"Operation", "Type", "Target"},
           "Action": {"Description", "When", "Exec", "Depends", "AbortOnFail", "NeedsTargets"}}
for path in sys.argv[1:]:
    sec, keys = None, {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            sec = line.strip("[]"); assert sec in allowed, (path, sec); continue
        k = line.split("=", 1)[0].strip()
        assert k in allowed[sec], (path, k)
        keys.setdefault(k, []).append(line.split("=", 1)[1].strip() if "=" in line else True)
    assert keys["When"][0] in ("PreTransaction", "PostTransaction"), path
    assert "NeedsTargets" in keys and "Path" in keys["Type"] and set(keys["Type"]) <= {"Path", "Package"}, path
    assert "AbortOnFail" not in keys or keys["When"][0] == "PreTransaction", path
    assert keys["Exec"][0].startswith("/usr/bin/xpatch-hook "), path
PY

# ---- apt: Pre-Install-Pkgs in protocols 1, 2, 3, dpkg unpacks, Post-Invoke ----
mkdir -p "$PKG/DEBIAN"
printf 'Package: hello-aarch64-musl\nVersion: 1.0-1\nArchitecture: all\nMaintainer: xpatch <dev@xpatch.invalid>\nDescription: test\n' \
  >"$PKG/DEBIAN/control"
DEB=$W/hello_1.0-1_all.deb
dpkg-deb --root-owner-group -b "$PKG" "$DEB" >/dev/null 2>&1 || dpkg-deb -b "$PKG" "$DEB" >/dev/null
rm -rf "$PKG/DEBIAN"
check "apt: dpkg-deb built the package" test -s "$DEB"
stream() {  # VERSION -> what apt writes on the hook's stdin for: install hello, configure it, remove other
  case $1 in
    1) echo "$DEB" ;;
    2) printf 'VERSION 2\nAPT::Architecture=amd64\nDPkg::Tools::Options::%s::Version=2\n\n' "$HOOK"
       printf 'hello-aarch64-musl - < 1.0-1 %s\n' "$DEB"
       printf 'hello-aarch64-musl - < 1.0-1 **CONFIGURE**\n'
       printf 'other 2.0 > - **REMOVE**\n' ;;
    3) printf 'VERSION 3\nAPT::Architecture=amd64\nAPT::Architectures::=amd64\nAPT::Architectures::=arm64\n\n'
       printf 'hello-aarch64-musl - - none < 1.0-1 all none %s\n' "$DEB"
       printf 'hello-aarch64-musl - - none < 1.0-1 all none **CONFIGURE**\n'
       printf 'other 2.0 amd64 same > - - none **REMOVE**\n' ;;
  esac
}
for v in 1 2 3; do
  R=$W/apt$v; new_root "$R"
  out=$(stream $v | XPATCH_ROOT=$R "$HOOK" pre 2>&1); rc=$?
  check "apt v$v pre: exit 0 ($rc)" test "$rc" = 0
  check "apt v$v pre: pending lists the package's files" test "$(sort "$R/var/lib/xpatch/pending" 2>/dev/null)" = "$(printf '/%s\n' $TARGETS)"
  check "apt v$v pre: the tuple's root set up" test -L "$R/usr/lib/ld-musl-aarch64.so.1"
  dpkg-deb -x "$DEB" "$R"                                # what dpkg unpacks
  o=$(runs "$R"); check "apt v$v: before Post-Invoke the program fails" test "$o" != "xpatch-fixture: foo=42"
  out=$(XPATCH_ROOT=$R sh -c "$HOOK post </dev/null" 2>&1); rc=$?   # apt runs Post-Invoke through sh -c
  check "apt v$v post: exit 0 ($rc)" test "$rc" = 0
  o=$(runs "$R"); check "apt v$v: the program runs after Post-Invoke: $o" test "$o" = "xpatch-fixture: foo=42"
  check "apt v$v post: pending list consumed" test ! -e "$R/var/lib/xpatch/pending"
done
out=$(XPATCH_ROOT=$R sh -c "$HOOK post </dev/null" 2>&1); rc=$?
check "apt post with nothing pending: exit 0, and says so, not silent ($rc: $out)" \
  test "$rc" = 0 -a -n "$(grep -F "post: no files under usr/<tuple>/ to retarget" <<<"$out")"
# ---- the pre-install verdict: a package that would not load is refused before dpkg unpacks ----
if grep -q -- --package <<<"$("$XPATCH" check --help 2>&1)"; then   # (no pipe: grep -q would cut it)
  B=$W/broken-pkg; mkdir -p "$B/DEBIAN" "$B/usr/$T/bin"
  cp "$FX/aarch64-musl/app-norunpath" "$B/usr/$T/bin/needs-foo"     # needs libfoo.so, shipped by nobody
  printf 'Package: needs-foo\nVersion: 1\nArchitecture: all\nMaintainer: xpatch <dev@xpatch.invalid>\nDescription: test\n' \
    >"$B/DEBIAN/control"
  BDEB=$W/needs-foo_1_all.deb
  dpkg-deb --root-owner-group -b "$B" "$BDEB" >/dev/null 2>&1 || dpkg-deb -b "$B" "$BDEB" >/dev/null
  R=$W/apt-refused; new_root "$R"
  out=$({ printf 'VERSION 3\nAPT::Architecture=amd64\n\n'
          printf 'needs-foo - - none < 1 all none %s\n' "$BDEB"; } | XPATCH_ROOT=$R "$HOOK" pre 2>&1); rc=$?
  check "apt v3 pre, a package whose program needs a library nobody has: exit 1 ($rc)" test "$rc" = 1
  check "apt pre verdict: names the package, the file and the soname" \
    test -n "$(grep "REFUSED: installing needs-foo_1_all.deb" <<<"$out")" -a \
         -n "$(grep "libfoo.so" <<<"$out" | grep -F "/usr/$T/bin/needs-foo")"
  check "apt pre verdict: nothing left pending for the post hook" test ! -e "$R/var/lib/xpatch/pending"
  R=$W/apt-refused-ignored; new_root "$R"
  mkdir -p "$R/etc/xpatch"; echo "ignore-missing = libfoo.so" >"$R/etc/xpatch/hooks.conf"
  out=$(echo "$BDEB" | XPATCH_ROOT=$R "$HOOK" pre 2>&1); rc=$?
  check "apt pre verdict with ignore-missing = libfoo.so in hooks.conf: exit 0 ($rc)" test "$rc" = 0
  echo "check = no" >"$R/etc/xpatch/hooks.conf"
  out=$(echo "$BDEB" | XPATCH_ROOT=$R "$HOOK" pre 2>&1); rc=$?
  check "check = no: exit 0, and said ($rc)" test "$rc" = 0 -a -n "$(grep -F "without the pre-install verdict" <<<"$out")"
else
  skip "the pre-install verdict: $XPATCH has no check --package"
fi

R=$W/apt-missing; new_root "$R"
printf '%s\n' /nonexistent/x.deb | XPATCH_ROOT=$R "$HOOK" pre >/dev/null 2>"$W/err"; rc=$?
check "apt pre: a .deb that is not there: exit 2, named ($rc)" test "$rc" = 2 -a -n "$(grep -F /nonexistent/x.deb "$W/err")"
if command -v apt-config >/dev/null; then
  conf=$(apt-config -c "$HOOKS/apt/80xpatch" dump 2>&1)
  check "apt-config parses 80xpatch: Pre-Install-Pkgs" grep -qF 'DPkg::Pre-Install-Pkgs:: "/usr/bin/xpatch-hook pre";' <<<"$conf"
  check "apt-config parses 80xpatch: protocol version 3 for the hook" \
    grep -qF 'DPkg::Tools::Options::/usr/bin/xpatch-hook::Version "3";' <<<"$conf"
  check "apt-config parses 80xpatch: Post-Invoke" grep -qF 'DPkg::Post-Invoke:: "/usr/bin/xpatch-hook post </dev/null";' <<<"$conf"
else
  skip "apt-config parses 80xpatch: apt-config is not installed"
fi

# ---- a builder's DESTDIR, then installed ----
D=$W/destdir; cp -a "$PKG" "$D"
R=$W/stage; new_root "$R"
SUM_STAGED=$(sha256sum <"$D/usr/$T/bin/hello")
XPATCH_ROOT=$R "$HOOK" stage "$D" >"$W/stage.out" 2>&1; rc=$?
check "stage, root not set up: exit 1 ($rc)" test "$rc" = 1
check "stage, root not set up: names the step" grep -qF "run \`xpatch setup --tuple $T --root $R --write\` (or pass --setup)" "$W/stage.out"
check "stage, root not set up: nothing written" test "$(sha256sum <"$D/usr/$T/bin/hello")" = "$SUM_STAGED"
XPATCH_ROOT=$R "$HOOK" stage --setup "$D" >"$W/stage.out" 2>&1; rc=$?
check "stage --setup: exit 0 ($rc)" test "$rc" = 0
check "stage --setup: the root was set up" test -L "$R/usr/lib/ld-musl-aarch64.so.1"
check "stage: runpath points where the library will be installed" \
  grep -q "/usr/$T/lib/hello" <(readelf -dW "$D/usr/$T/bin/hello")
cp -a "$D/usr" "$R/"
o=$(runs "$R"); check "stage: installed, the program runs: $o" test "$o" = "xpatch-fixture: foo=42"

# ---- a staged library that drops a symbol a program in the root binds: refused ----
if grep -q -- --package <<<"$("$XPATCH" check --help 2>&1)"; then   # (no pipe: grep -q would cut it)
  check "stage: the staged tree checked over the root (check --package)" \
    grep -q "check --package $W/destdir in $R: checked" "$W/stage.out"
  R=$W/stage-reverse; new_root "$R"
  mkdir -p "$R/usr/$T/bin"; cp "$FX/aarch64-musl/libsym.so" "$R/usr/$T/lib/libsym.so"
  cp "$FX/aarch64-musl/app-sym-now" "$R/usr/$T/bin/symapp"
  "$XPATCH" setup --tuple $T --root "$R" --write >/dev/null 2>&1
  "$XPATCH" retarget --tuple $T --root "$R" "$R/usr/$T/bin/symapp" >/dev/null 2>&1
  D=$W/destdir-lost; mkdir -p "$D/usr/$T/lib"; cp "$FX/aarch64-musl/libsym-lost.so" "$D/usr/$T/lib/libsym.so"
  XPATCH_ROOT=$R "$HOOK" stage "$D" >"$W/lost.out" 2>&1; rc=$?
  check "stage, a libsym.so without sym_now over a root whose program binds it: exit 1 ($rc)" test "$rc" = 1
  check "stage verdict: names the root's program and the symbol" \
    grep -q "sym_now: symbol-missing, in 1 file: /usr/$T/bin/symapp" "$W/lost.out"
else
  skip "the staged tree's verdict: $XPATCH has no check --package"
fi

# ---- a library found nowhere: exit 1, the program left as it was ----
D=$W/destdir-broken; cp -a "$PKG" "$D"; rm "$D/usr/$T/lib/hello/libfoo.so"
printf '%s\0' "usr/$T/bin/hello" >"$W/list0"
R=$W/broken; new_root "$R"; cp -a "$D/usr" "$R/"
XPATCH_ROOT=$R "$HOOK" post -0 <"$W/list0" >"$W/broken.out" 2>&1; rc=$?
check "post -0, libfoo missing: exit 1 ($rc)" test "$rc" = 1
check "post, libfoo missing: the program is byte-for-byte as built" test "$(sha256sum <"$R/usr/$T/bin/hello")" = "$SUM0"
check "post, libfoo missing: the message names libfoo.so" grep -q "libfoo.so" "$W/broken.out"

finish
