#!/usr/bin/env bash
# The one walk is safe on a live system (issue 12 section 4): a root that
# holds a FIFO, a character device, a socket, a device at a library's name
# and a mounted /proc is walked by show, check, retarget and setup, and
# patched by name, with no hang (timeout) and no open of a device, FIFO,
# socket or /proc file (strace). `check /` of the machine itself is
# live_check.sh.
# Usage: live_walk.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (mknod, mount -t proc)"; exit 77; fi
for t in strace timeout mknod mkfifo python3 jq; do
  command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
W=$(mktemp -d); R=$W/root
trap 'umount "$R/proc" 2>/dev/null || true; umount "$R/mnt" 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$R"/usr/bin "$R"/usr/lib "$R"/proc "$R"/dev "$R"/run "$R"/mnt "$R"/etc/binfmt.d
cp "$FX/x86_64/app-pie" "$R/usr/bin/app"            # needs libfoo.so (runpath $ORIGIN) and libc.so.6
mkfifo "$R/usr/lib/fifo.so"                          # opening it (O_RDONLY) would block for ever
mknod "$R/usr/bin/libfoo.so" c 1 3                   # a device where the program's library should be
mknod "$R/usr/lib/chardev.so" c 1 3
mknod "$R/dev/null" c 1 3
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$R/usr/lib/sock.so"
mkfifo "$R/etc/binfmt.d/qemu-aarch64.conf"           # where setup looks
mount -t proc proc "$R/proc"
mount -t tmpfs tmpfs "$R/mnt" && cp "$FX/x86_64/app-pie" "$R/mnt/other-fs-app"

# CMD...: run traced with a timeout; fails on a hang or on any open of a
# planted node or of /proc below the root.
watch() {
  local what=$1; shift
  local log=$W/trace.log rc=0
  timeout 60 strace -f -qq -e trace=open,openat,openat2 -o "$log" "$@" > "$W/out" 2>&1 || rc=$?
  check "$what: no hang (exit $rc)" test "$rc" != 124
  local opened
  opened=$(grep -E 'fifo\.so|chardev\.so|sock\.so|libfoo\.so|qemu-aarch64\.conf|/dev/null"|"null"|"proc"|proc/' "$log" \
             | grep -v ENOENT | grep -v "\"/proc/self/" | head -3 || true)
  check "$what: no device, FIFO, socket or /proc file opened${opened:+: $opened}" test -z "$opened"
}
watch "show ROOT" "$XPATCH" show "$R"
watch "show --json ROOT" "$XPATCH" show --json "$R"
check "show ROOT: the program is shown, the other filesystem is not" \
  bash -c "grep -q usr/bin/app '$W/out' && ! grep -q other-fs-app '$W/out'"
watch "show DEVICE (named)" "$XPATCH" show "$R/usr/lib/chardev.so"
watch "show FIFO (named)" "$XPATCH" show "$R/usr/lib/fifo.so"
watch "patch DEVICE (named)" "$XPATCH" --runpath /x "$R/usr/lib/chardev.so"
check "patch DEVICE: still the device" test -c "$R/usr/lib/chardev.so"
watch "check ROOT" "$XPATCH" check "$R"
watch "check --json ROOT" "$XPATCH" check --json "$R"
check "check ROOT: nothing reported under /proc or /dev" bash -c "! grep -qE '\"/(proc|dev)/' '$W/out'"
check "check ROOT: the program is checked" grep -q '"/usr/bin/app"' "$W/out"
watch "check ROOT /usr" "$XPATCH" check "$R" /usr
watch "check --cross-filesystems ROOT" "$XPATCH" check --cross-filesystems --json "$R"
check "check --cross-filesystems ROOT: the other filesystem is checked" grep -q other-fs-app "$W/out"
watch "retarget --dry-run" "$XPATCH" retarget --tuple x86_64-linux-gnu --root "$R" --dry-run "$R"
watch "setup" "$XPATCH" setup --tuple aarch64-linux-gnu --root "$R"
check "setup: names the FIFO in the way" grep -q "FIFO" "$W/out"

finish
