#!/usr/bin/env bash
# The hooks under the real apt and dpkg, in a minimal bookworm root made by
# debootstrap --variant=minbase from the Debian mirror this machine's apt
# uses (the debs are cached under the build directory for this run only and
# removed at the end). xpatch goes in with its own install rules, the hooks
# are enabled with `xpatch-hook enable apt`, then the real apt-get, chrooted
# into the root, installs libc6-arm64-cross, libstdc++6-arm64-cross and a
# .deb built here with dpkg-deb that holds an aarch64 C++ program under
# usr/aarch64-linux-gnu/bin. The program must run with
# `chroot ROOT qemu-aarch64 /usr/aarch64-linux-gnu/bin/prog`, no -L;
# `xpatch check` of the tuple must be clean; `apt-get purge` must leave
# nothing of setup's behind. Then `dpkg -i` with `xpatch-hook enable dpkg`,
# and apt with both on: retargeted once, not twice.
# XPATCH_DEB=xpatch_VERSION_ARCH.deb (scripts/package): xpatch goes into the
# root as that package, with apt-get, instead of through its install rules.
# No network (the mirror cannot be reached): exit 77.
#
#   apt.sh XPATCH BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/pm_lib.sh"
set +e
XPATCH=$(realpath "$1"); B=$(realpath "$2")
need_root
need_cmd debootstrap apt-get dpkg-deb aarch64-linux-gnu-g++ qemu-aarch64 readelf
T=aarch64-linux-gnu
MIRROR=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null | grep -m1 '/debian/$')
MIRROR=${MIRROR:-http://deb.debian.org/debian/}
CACHE=$B/pm-cache.$$
W=$(mktemp -d /tmp/xpatch-apt.XXXXXX)
R=$W/root
cleanup() {
  for m in proc dev; do mountpoint -q "$R/$m" && umount -l "$R/$m"; done
  rm -rf "$W" "$CACHE"
}
trap cleanup EXIT
mkdir -p "$CACHE/debs" "$CACHE/debootstrap"

# ---- the root ----
t0=$SECONDS
if ! timeout 10 bash -c "exec 3<>/dev/tcp/$(echo "$MIRROR" | sed 's|^[a-z]*://||; s|[/:].*||')/80" 2>/dev/null; then
  skip_all "the Debian mirror ($MIRROR) cannot be reached"
fi
debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" bookworm "$R" "$MIRROR" >"$W/debootstrap.log" 2>&1 ||
  { tail -n 20 "$W/debootstrap.log"; grep -q "Failed getting release file\|Couldn't download\|Temporary failure" "$W/debootstrap.log" &&
      skip_all "debootstrap could not download from $MIRROR"; bad "debootstrap failed"; finish; exit; }
ok "debootstrap --variant=minbase bookworm from $MIRROR ($((SECONDS - t0)) s)"
mount --bind /dev "$R/dev"; mount -t proc proc "$R/proc"
(cd "$CACHE/debs" && apt-get download libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross >/dev/null 2>&1) ||
  skip_all "apt-get download of the arm64 cross libraries failed"
copy_cmds "$R" qemu-aarch64
in_root() { chroot "$R" env -u QEMU_LD_PREFIX -u XPATCH DEBIAN_FRONTEND=noninteractive "$@" 2>&1; }
if [ -n "${XPATCH_DEB:-}" ]; then
  # xpatch's own .deb (scripts/package), through the real apt: its Depends
  # (libfmt, LIEF, ...) come from the mirror, as for a user.
  cp "$XPATCH_DEB" "$R/tmp/$(basename "$XPATCH_DEB")"
  t0=$SECONDS
  out=$(in_root apt-get update && in_root apt-get install -y "/tmp/$(basename "$XPATCH_DEB")"); rc=$?
  check "apt-get install of xpatch's own $(basename "$XPATCH_DEB"): exit 0 ($rc, $((SECONDS - t0)) s)" test "$rc" = 0 ||
    echo "$out" | tail -n 20
  v=$(in_root xpatch --version)
  check "the packaged xpatch runs in the root: $v" grep -q "^xpatch " <<<"$v"
  check "dpkg -L xpatch: the program, xpatch-hook and the apt hook file" \
    test "$(in_root dpkg -L xpatch | grep -cE '^/usr/bin/xpatch$|^/usr/bin/xpatch-hook$|^/usr/share/xpatch/hooks/apt/80xpatch$')" = 3
else
  install_xpatch "$R" "$B"
fi

# ---- the package: an aarch64 C++ program, built as a cross compiler builds it ----
P=$W/pkg; mkdir -p "$P/DEBIAN" "$P/usr/$T/bin"
build_cxx_prog "$W/prog"; cp "$W/prog" "$P/usr/$T/bin/prog"
printf 'Package: prog-arm64\nVersion: 1.0\nArchitecture: all\nMaintainer: xpatch <dev@xpatch.invalid>\nDepends: libc6-arm64-cross, libstdc++6-arm64-cross\nDescription: an aarch64 C++ program for the xpatch tests\n' >"$P/DEBIAN/control"
dpkg-deb --root-owner-group -b "$P" "$CACHE/debs/prog-arm64_1.0_all.deb" >/dev/null
# and one that must be refused: its program needs libgone.so.1, which no package has
G=$W/gone; mkdir -p "$G/DEBIAN" "$G/usr/$T/bin"
echo 'int gone(void) { return 0; }' >"$W/gone.c"; echo 'int gone(void); int main(void) { return gone(); }' >"$W/ng.c"
aarch64-linux-gnu-gcc -shared -fPIC -Wl,-soname,libgone.so.1 -o "$W/libgone.so.1" "$W/gone.c" &&
  aarch64-linux-gnu-gcc -o "$G/usr/$T/bin/needs-gone" "$W/ng.c" "$W/libgone.so.1"
printf 'Package: needs-gone-arm64\nVersion: 1.0\nArchitecture: all\nMaintainer: xpatch <dev@xpatch.invalid>\nDepends: libc6-arm64-cross\nDescription: an aarch64 program whose library is in no package\n' >"$G/DEBIAN/control"
dpkg-deb --root-owner-group -b "$G" "$CACHE/debs/needs-gone-arm64_1.0_all.deb" >/dev/null
mkdir -p "$R/tmp/debs"; cp "$CACHE"/debs/*.deb "$R/tmp/debs/"
deb() { echo /tmp/debs/$(cd "$R/tmp/debs" && ls "$1"_*.deb); }   # NAME -> its path inside the root
SUM_PROG=$(sha256sum <"$W/prog")

out=$(in_root xpatch-hook enable apt); rc=$?
check "xpatch-hook enable apt in the root: exit 0 ($rc: $out)" test "$rc" = 0
check "apt itself reads the hook: apt-config dump shows Pre-Install-Pkgs" \
  grep -qF '/usr/bin/xpatch-hook pre' <<<"$(in_root apt-config dump)"

# ---- the pre-install verdict: refused before dpkg unpacks anything ----
if grep -q -- --package <<<"$(in_root xpatch check --help)"; then
  out=$(in_root apt-get install -y "$(deb needs-gone-arm64)" "$(deb libc6-arm64-cross)"); rc=$?
  echo "$out" | grep -E "xpatch-hook|^E:" | sed 's/^/    | /'
  check "apt-get install of a program whose library no package has: refused ($rc)" test "$rc" != 0
  check "the verdict names the package, the file and libgone.so.1" \
    test -n "$(grep "REFUSED: installing .*needs-gone-arm64_1.0_all.deb" <<<"$out")" -a \
         -n "$(grep libgone.so.1 <<<"$out" | grep -F "/usr/$T/bin/needs-gone")"
  check "refused: nothing unpacked (neither package is installed, no file)" \
    test ! -e "$R/usr/$T/bin/needs-gone" -a ! -e "$R/usr/$T/lib/libc.so.6" -a \
         -z "$(in_root dpkg-query -W -f='${Status}\n' needs-gone-arm64 libc6-arm64-cross | grep ' installed')"
else
  skip "the pre-install verdict: xpatch has no check --package"
fi

# ---- apt-get install ----
t0=$SECONDS
out=$(in_root apt-get install -y "$(deb prog-arm64)" "$(deb libc6-arm64-cross)" \
  "$(deb libstdc++6-arm64-cross)" "$(deb libgcc-s1-arm64-cross)"); rc=$?
echo "$out" | grep -E "xpatch-hook|^E:|Setting up" | sed 's/^/    | /'
check "apt-get install through the hooks: exit 0 ($rc, $((SECONDS - t0)) s)" test "$rc" = 0
check "apt: the pre hook set the tuple up" grep -q "xpatch-hook: setup $T in /: .*created" <<<"$out"
grep -q -- --package <<<"$(in_root xpatch check --help)" &&
  check "apt: the verdict passed the clean packages" grep -q "xpatch-hook: check --package in /: checked .* 0 errors introduced" <<<"$out"
check "apt: Post-Invoke retargeted the files" grep -q "xpatch-hook: retarget $T in /: retargeted" <<<"$out"
check "apt: the program's interpreter is the tuple's" \
  grep -q "interpreter: /usr/$T/lib/ld-linux-aarch64.so.1" <(readelf -lW "$R/usr/$T/bin/prog")
o=$(in_root qemu-aarch64 /usr/$T/bin/prog)
check "chroot ROOT qemu-aarch64 /usr/$T/bin/prog, no -L: $o" test "$o" = "xpatch c++ ok"
"$XPATCH" check "$R" "/usr/$T" >"$W/check.out" 2>&1; rc=$?
check "xpatch check of /usr/$T: clean ($rc)" test "$rc" = 0 || tail -n 5 "$W/check.out"
check "apt: the pending list was consumed" test ! -e "$R/var/lib/xpatch/pending"
v=$(in_root dpkg --verify libc6-arm64-cross prog-arm64)
check "dpkg --verify names the files the hooks rewrote (README says why)" grep -q "/usr/$T/bin/prog" <<<"$v"

# ---- apt-get purge: nothing of setup's left ----
out=$(in_root apt-get purge -y prog-arm64 libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross); rc=$?
echo "$out" | grep -E "xpatch-hook|^E:" | sed 's/^/    | /'
check "apt-get purge: exit 0 ($rc)" test "$rc" = 0
left=$(cd "$R" && ls -d etc/binfmt.d/qemu-aarch64.conf etc/ld.so.conf.d/$T.conf usr/lib/ld-linux-aarch64.so.1 \
  usr/lib/$T var/lib/xpatch usr/$T 2>/dev/null)
check "after purge nothing of xpatch's is left (${left:-none})" test -z "$left"

# ---- dpkg -i: no apt hook runs; dpkg's post-invoke does the work ----
out=$(in_root xpatch-hook enable dpkg); rc=$?
check "xpatch-hook enable dpkg: exit 0 ($rc)" test "$rc" = 0
out=$(in_root dpkg -i "$(deb libc6-arm64-cross)" "$(deb libgcc-s1-arm64-cross)" \
  "$(deb libstdc++6-arm64-cross)" "$(deb prog-arm64)"); rc=$?
echo "$out" | grep -E "xpatch-hook" | sed 's/^/    | /'
check "dpkg -i: exit 0 ($rc)" test "$rc" = 0
o=$(in_root qemu-aarch64 /usr/$T/bin/prog)
check "dpkg -i: the program runs chrooted, no -L: $o" test "$o" = "xpatch c++ ok"
check "dpkg -i: retargeted (interpreter is the tuple's)" \
  grep -q "interpreter: /usr/$T/lib/ld-linux-aarch64.so.1" <(readelf -lW "$R/usr/$T/bin/prog")

# ---- apt with both hooks on: retargeted once ----
in_root dpkg --purge prog-arm64 >/dev/null
out=$(in_root apt-get install -y "$(deb prog-arm64)"); rc=$?
echo "$out" | grep -E "xpatch-hook" | sed 's/^/    | /'
n=$(grep -c "xpatch-hook: retarget $T in /: retargeted [1-9]" <<<"$out")
check "apt with the apt and dpkg hooks on: exit 0, retargeted once, not twice ($rc, $n)" test "$rc" = 0 -a "$n" = 1
o=$(in_root qemu-aarch64 /usr/$T/bin/prog)
check "apt + dpkg hooks: the program runs: $o" test "$o" = "xpatch c++ ok"
out=$(in_root dpkg --purge prog-arm64 libstdc++6-arm64-cross libgcc-s1-arm64-cross libc6-arm64-cross); rc=$?
left=$(cd "$R" && ls -d etc/binfmt.d/qemu-aarch64.conf usr/lib/$T usr/$T var/lib/xpatch/setup 2>/dev/null)
check "dpkg --purge: setup's files gone too (${left:-none})" test "$rc" = 0 -a -z "$left"
finish
