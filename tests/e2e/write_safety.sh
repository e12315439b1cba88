#!/usr/bin/env bash
# How files are written: atomically, keeping mode, owner and extended
# attributes, through symlinks, with hard links and running executables
# handled as documented, and nothing written on error, -o or --dry-run.
# Usage: write_safety.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
W=$(mktemp -d); trap 'kill $RUNNING 2>/dev/null || true; umount "$W/tmpfs" 2>/dev/null || true; rm -rf "$W"' EXIT
RUNNING=
SRC=$FX/x86_64/app-pie
sum() { sha256sum < "$1" | cut -d' ' -f1; }

# Symlink argument: the target is patched, the link stays a link.
cp "$SRC" "$W/real"; ln -s real "$W/link"
"$XPATCH" --runpath /opt/via-link "$W/link"
check "symlink: link still a symlink" test -L "$W/link"
check "symlink: target patched" grep -q "Library runpath: \[/opt/via-link\]" <(readelf -dW "$W/real")

# Mode, owner and extended attributes survive (owner needs root).
cp "$SRC" "$W/meta"
if [ "$(id -u)" = 0 ]; then chown 12345:54321 "$W/meta"; fi
chmod 4751 "$W/meta"  # after chown, which clears set-id bits
setfattr -n user.xpatch -v kept "$W/meta"
if [ "$(id -u)" = 0 ] && command -v setcap >/dev/null; then setcap cap_net_raw+ep "$W/meta"; fi
before_caps=$(getcap "$W/meta" 2>/dev/null || true)
"$XPATCH" --runpath /opt/meta "$W/meta"
check "mode kept ($(stat -c %a "$W/meta"))" test "$(stat -c %a "$W/meta")" = 4751
if [ "$(id -u)" = 0 ]; then
  check "owner kept ($(stat -c %u:%g "$W/meta"))" test "$(stat -c %u:%g "$W/meta")" = 12345:54321
else
  skip "owner kept: needs root to chown"
fi
check "user.xpatch xattr kept" test "$(getfattr --only-values -n user.xpatch "$W/meta" 2>/dev/null)" = kept
if [ -n "$before_caps" ]; then
  check "security.capability kept ($(getcap "$W/meta"))" test "$(getcap "$W/meta")" = "$before_caps"
else
  skip "security.capability kept: needs root and setcap"
fi

# Hard links: the name given gets the new bytes, other names keep the old.
cp "$SRC" "$W/hard1"; ln "$W/hard1" "$W/hard2"; old=$(sum "$W/hard2")
"$XPATCH" --runpath /opt/hard "$W/hard1"
check "hard link: patched name changed" test "$(sum "$W/hard1")" != "$old"
check "hard link: other name keeps the old bytes" test "$(sum "$W/hard2")" = "$old"

# A running executable can be patched (the kernel holds the old inode).
cp "$SRC" "$W/busy"; cp "$FX/x86_64/libfoo.so" "$W/"
cat > "$W/busy.c" <<'C'
#include <unistd.h>
int main(void) { sleep(30); return 0; }
C
gcc -o "$W/busy" "$W/busy.c"
"$W/busy" & RUNNING=$!
sleep 0.2
set +e; "$XPATCH" --runpath /opt/busy "$W/busy"; rc=$?; set -e
check "running executable: patched (exit $rc)" test "$rc" = 0
check "running executable: new runpath reads back" grep -q "/opt/busy" <(readelf -dW "$W/busy")
kill "$RUNNING" 2>/dev/null || true; RUNNING=

# -o writes elsewhere and leaves the input alone; --dry-run writes nothing.
cp "$SRC" "$W/in"; s=$(sum "$W/in"); m=$(stat -c %Y.%i "$W/in")
"$XPATCH" --runpath /opt/out -o "$W/out" "$W/in"
check "-o: input unchanged" test "$(sum "$W/in")" = "$s"
check "-o: output patched" grep -q "/opt/out" <(readelf -dW "$W/out")
"$XPATCH" --runpath /opt/dry --dry-run "$W/in" > "$W/plan.txt"
check "--dry-run: input unchanged" test "$(sum "$W/in")" = "$s" -a "$(stat -c %Y.%i "$W/in")" = "$m"
check "--dry-run: plan names the strategy and growth" grep -qE "DT_RUNPATH.*(add|set)" "$W/plan.txt"
"$XPATCH" --runpath /opt/dry --dry-run --json "$W/in" > "$W/plan.json"
check "--dry-run --json: valid JSON with growth" python3 -c "import json,sys; d=json.load(open('$W/plan.json')); sys.exit(0 if d['changed'] and d['growth'] >= 0 else 1)"

# --no-sync still replaces the file atomically with the new bytes.
cp "$SRC" "$W/nosync"; s=$(sum "$W/nosync")
"$XPATCH" --runpath /opt/nosync --no-sync "$W/nosync"
check "--no-sync: patched" grep -q "/opt/nosync" <(readelf -dW "$W/nosync")

# How the new file is made, watched with strace: unnamed (O_TMPFILE) while
# it is written and named only just before the rename, so a crash or a
# signal mid-write leaves nothing. Without /proc it is named through
# AT_EMPTY_PATH; on a filesystem without O_TMPFILE (a shim makes it refuse,
# as vfat would) it is a named temp file from the start.
trace() {  # LOG CMD...: the write's system calls, from xpatch or its children
  traced -f -qq -e trace=open,openat,linkat,rename,renameat,renameat2 -o "$1" "${@:2}"
}
cp "$SRC" "$W/tmpf"
trace "$W/t1" "$XPATCH" --runpath /opt/tmpfile "$W/tmpf"
check "unnamed temp: written through O_TMPFILE in the file's directory" grep -qF "\"$W\", O_RDWR|O_CLOEXEC|O_TMPFILE" "$W/t1"
check "unnamed temp: named through /proc/self/fd once complete" grep -qE "linkat\(AT_FDCWD, \"/proc/self/fd/[0-9]+\", AT_FDCWD, \"$W/\.tmpf\.xpatch-[A-Za-z0-9]{6}\", AT_SYMLINK_FOLLOW\) = 0" "$W/t1"
check "unnamed temp: then renamed over the file" grep -qE "rename\(\"$W/\.tmpf\.xpatch-[A-Za-z0-9]{6}\", \"$W/tmpf\"\) = 0" "$W/t1"
check "unnamed temp: no named temp file was created" test -z "$(grep -E 'O_CREAT.*xpatch-|xpatch-.*O_CREAT' "$W/t1")"
check "unnamed temp: patched" grep -q "/opt/tmpfile" <(readelf -dW "$W/tmpf")
# (An ASan build cannot run without /proc: its runtime reads its options there.)
case $(readelf -dW "$XPATCH" 2>/dev/null) in *libasan.so*) asan=1 ;; *) asan=0 ;; esac
if [ "$asan" = 1 ]; then
  echo "n/a  - no /proc: the ASan runtime needs /proc (the plain build runs it)"
elif [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
  trace "$W/t2" unshare -m sh -c 'mount -t tmpfs none /proc && exec "$@"' _ "$XPATCH" --runpath /opt/noproc "$W/tmpf"
  check "no /proc: named through AT_EMPTY_PATH instead" grep -qE "linkat\([0-9]+, \"\", AT_FDCWD, \"$W/\.tmpf\.xpatch-[A-Za-z0-9]{6}\", AT_EMPTY_PATH\) = 0" "$W/t2"
  check "no /proc: patched" grep -q "/opt/noproc" <(readelf -dW "$W/tmpf")
else
  skip "no /proc: needs root and unshare -m"
fi
cat > "$W/no_tmpfile.c" <<'C'
/* Makes open(O_TMPFILE) fail as on a filesystem without it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
static int refuse(const char* sym, const char* path, int flags, va_list ap) {
  mode_t mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
  if ((flags & O_TMPFILE) == O_TMPFILE) { errno = EOPNOTSUPP; return -1; }
  return ((int (*)(const char*, int, ...))dlsym(RTLD_NEXT, sym))(path, flags, mode);
}
int open(const char* p, int f, ...) { va_list ap; va_start(ap, f); int r = refuse("open", p, f, ap); va_end(ap); return r; }
int open64(const char* p, int f, ...) { va_list ap; va_start(ap, f); int r = refuse("open64", p, f, ap); va_end(ap); return r; }
C
gcc -shared -fPIC -o "$W/no_tmpfile.so" "$W/no_tmpfile.c" -ldl
trace "$W/t3" env LD_PRELOAD="$W/no_tmpfile.so" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:verify_asan_link_order=0" \
  "$XPATCH" --runpath /opt/notmpfile "$W/tmpf"
check "no O_TMPFILE: a named temp file, created exclusively" grep -qE "\"$W/\.tmpf\.xpatch-[A-Za-z0-9]{6}\", O_RDWR\|O_CREAT\|O_EXCL" "$W/t3"
check "no O_TMPFILE: then renamed over the file" grep -qE "rename\(\"$W/\.tmpf\.xpatch-[A-Za-z0-9]{6}\", \"$W/tmpf\"\) = 0" "$W/t3"
check "no O_TMPFILE: patched" grep -q "/opt/notmpfile" <(readelf -dW "$W/tmpf")
rm -f "$W/t1" "$W/t2" "$W/t3"

# No temporary files are left behind, whatever happened above.
check "no temporary files left" test -z "$(find "$W" -name '.*.xpatch-*')"

# Errors write nothing: a read-only directory (as an unprivileged user, since
# root ignores permissions) and a full disk (ulimit -f).
mkdir "$W/ro"; cp "$SRC" "$W/ro/app"; chmod 0755 "$W/ro/app"; s=$(sum "$W/ro/app")
chmod 0555 "$W/ro"; chmod o+rx "$W"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  set +e; msg=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$XPATCH" --runpath /opt/ro "$W/ro/app" 2>&1); rc=$?; set -e
  check "read-only directory: exit 2, unchanged, says why ($msg)" \
    test "$rc" = 2 -a "$(sum "$W/ro/app")" = "$s" -a -n "$(echo "$msg" | grep -F "$W/ro/app")"
else
  skip "read-only directory: needs root and setpriv to run as an unprivileged user"
fi
chmod 0755 "$W/ro"
cp "$SRC" "$W/full"; s=$(sum "$W/full")
set +e; msg=$(bash -c "ulimit -f 4; exec '$XPATCH' --runpath /opt/full '$W/full'" 2>&1); rc=$?; set -e
check "file size limit: exit 2, unchanged ($msg)" test "$rc" = 2 -a "$(sum "$W/full")" = "$s"
check "file size limit: no temporary file left" test -z "$(find "$W" -name '.full.xpatch-*')"

# A full disk: a small tmpfs, filled so that the patched copy cannot be
# written (root only, and only where mount works).
T=$W/tmpfs && mkdir "$T"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m xpatch-full "$T" 2>/dev/null; then
  cp "$SRC" "$T/app"; s=$(sum "$T/app")
  dd if=/dev/zero of="$T/filler" bs=4k 2>/dev/null || true  # until ENOSPC
  free=$(df --output=avail -B1 "$T" | tail -1)
  check "tmpfs: full ($free bytes left, the file is $(stat -c %s "$T/app"))" test "$free" -lt "$(stat -c %s "$T/app")"
  set +e; msg=$("$XPATCH" --runpath /opt/full "$T/app" 2>&1); rc=$?; set -e
  check "full disk: exit 2 ($rc), says why ($msg)" test "$rc" = 2 -a -n "$(grep -F "$T/app" <<<"$msg")"
  check "full disk: original unchanged" test "$(sum "$T/app")" = "$s"
  check "full disk: no temporary file left" test -z "$(find "$T" -name '.*.xpatch-*')"
  rm -f "$T/filler"
  "$XPATCH" --runpath /opt/full "$T/app"
  check "full disk: with room again, the same command patches" grep -q "/opt/full" <(readelf -dW "$T/app")
  umount "$T"
else
  skip "full disk on a small tmpfs: needs root and mount -t tmpfs"
fi

# -o onto anything but a regular file or a new name is refused (exit 2),
# naming what is there; nothing there is replaced or written into. As
# root, -o /dev/null would otherwise have replaced /dev/null.
if [ "$(id -u)" = 0 ]; then
  cp "$SRC" "$W/in2"
  mknod "$W/null-node" c 1 3; mkfifo "$W/fifo-out"; mkdir "$W/dir-out"
  for node in null-node:character fifo-out:FIFO dir-out:directory; do
    n=${node%%:*} what=${node#*:}
    set +e; msg=$(timeout 20 "$XPATCH" --runpath /opt/dev -o "$W/$n" "$W/in2" 2>&1); rc=$?; set -e
    check "-o onto a $what: exit 2 ($rc), says so ($msg)" test "$rc" = 2 -a -n "$(grep -F "$W/$n" <<<"$msg" | grep -i "$what")"
  done
  check "-o onto a device: still the device node" test -c "$W/null-node"
  check "-o onto a FIFO: still the FIFO" test -p "$W/fifo-out"
  check "-o onto a device/FIFO: no temporary file left" test -z "$(find "$W" -name '.null-node.xpatch-*' -o -name '.fifo-out.xpatch-*')"
fi

# The owner promise: as another user (nobody), a root-owned 0444 file in a
# world-writable directory without the sticky bit could be replaced by
# rename, and would become nobody's. Refused (exit 2, saying why) unless
# --force.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  mkdir "$W/open"; chmod 0777 "$W/open"; chmod o+rx "$W"
  cp "$SRC" "$W/open/rootfile"; chown 0:0 "$W/open/rootfile"; chmod 0444 "$W/open/rootfile"; s=$(sum "$W/open/rootfile")
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$XPATCH" "$@"; }
  set +e; msg=$(as_nobody --runpath /opt/owner "$W/open/rootfile" 2>&1); rc=$?; set -e
  check "owner cannot be kept: exit 2 ($rc), says why ($msg)" test "$rc" = 2 -a -n "$(grep -F "$W/open/rootfile" <<<"$msg" | grep -i owner)"
  check "owner cannot be kept: file unchanged, still root's" test "$(sum "$W/open/rootfile")" = "$s" -a "$(stat -c %u:%g "$W/open/rootfile")" = 0:0
  check "owner cannot be kept: no temporary file left" test -z "$(find "$W/open" -name '.*.xpatch-*')"
  set +e; as_nobody --force --runpath /opt/owner "$W/open/rootfile"; rc=$?; set -e
  check "owner cannot be kept, --force: replaced ($rc), now nobody's" \
    test "$rc" = 0 -a "$(stat -c %u "$W/open/rootfile")" = 65534
  check "owner cannot be kept, --force: patched" grep -q "/opt/owner" <(readelf -dW "$W/open/rootfile")
  # nobody's own file in the same directory: the owner is kept, no --force needed.
  cp "$SRC" "$W/open/mine"; chown 65534:65534 "$W/open/mine"
  set +e; as_nobody --runpath /opt/mine "$W/open/mine"; rc=$?; set -e
  check "own file: patched without --force ($rc)" test "$rc" = 0 -a "$(stat -c %u:%g "$W/open/mine")" = 65534:65534
fi

finish
