#!/usr/bin/env bash
# Bad input, whichever command: a clear message naming the file, exit 2,
# never a crash, and the file byte-for-byte unchanged.
# Usage: malformed.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

# Every command runs bounded: an address-space limit far above what xpatch
# needs (it runs in 64 MiB) but far below a 5 GiB file, and a timeout.
# An AddressSanitizer build reserves terabytes of address space for its
# shadow memory and cannot start under any such limit: there, only the
# timeout bounds a command, and the cases about the limit itself are skipped.
VMEM_KB=${VMEM_KB:-1048576}  # 1 GiB
SANITIZED=0
case $(readelf -dW "$XPATCH" 2>/dev/null) in *libasan.so*) SANITIZED=1 ;; esac  # not a pipe: pipefail and grep -q
bounded() {  # [VMEM_KB=N] CMD...: exit 124 on timeout, >128 on a signal
  if [ "$SANITIZED" = 1 ]; then timeout -s KILL 60 "$@"; return; fi
  bash -c 'ulimit -v "$1"; shift; exec timeout -s KILL 20 "$@"' _ "${VMEM_KB}" "$@"
}
limited() {  # CMD...: only where an address-space limit can be set
  if [ "$SANITIZED" = 1 ]; then echo "n/a  - (ASan build: no address-space limit; the plain build runs it) ${*:2:1}"; return 0; fi
  "$@"
}
digest() {
  # Over 1 GiB (the sparse 5 GiB files): reading it all takes too long; any
  # write changes the mtime (in place) or the inode (rename), and the first
  # and last MiB are where the headers and an appended segment would be.
  if [ -f "$1" ] && [ "$(stat -c %s "$1")" -gt $((1 << 30)) ]; then
    stat -c '%s %i %y' "$1"; head -c 1M "$1" | sha256sum; tail -c 1M "$1" | sha256sum
  elif [ -f "$1" ] && [ ! -L "$1" ]; then sha256sum < "$1"
  elif [ -c "$1" ] || [ -b "$1" ]; then stat -c '%F %t:%T' "$1"
  else stat -c '%F %s %Y' "$1" 2>/dev/null || echo none; fi
}
expect_error() {  # [WANT=ERE] LABEL FILE CMD...: exit 2, stderr names FILE (and matches WANT), FILE unchanged
  local label=$1 file=$2; shift 2
  local before after rc msg
  before=$(digest "$file")
  set +e; msg=$(bounded "$@" 2>&1 >/dev/null); rc=$?; set -e
  after=$(digest "$file")
  if [ "$rc" = 2 ] && [ "$before" = "$after" ] && grep -qF -- "$file" <<<"$msg" &&
     { [ -z "${WANT:-}" ] || grep -qE -- "$WANT" <<<"$msg"; }; then
    ok "$label: exit 2, unchanged: ${msg%%$'\n'*}"
  else
    bad "$label: exit $rc (want 2), changed=$([ "$before" = "$after" ] && echo no || echo YES), message: $msg${WANT:+ (want /$WANT/)}"
  fi
}
expect_rc() {  # LABEL WANT-RC FILE CMD...: exit WANT-RC (no crash), FILE unchanged; output in $OUT
  local label=$1 want=$2 file=$3; shift 3
  local before after rc
  before=$(digest "$file")
  set +e; OUT=$(bounded "$@" 2>&1); rc=$?; set -e
  after=$(digest "$file")
  if [ "$rc" = "$want" ] && [ "$before" = "$after" ]; then
    ok "$label: exit $rc, unchanged"
  else
    bad "$label: exit $rc (want $want), changed=$([ "$before" = "$after" ] && echo no || echo YES), output: ${OUT:0:400}"
  fi
}
expect_finding() {  # [WANT=ERE] LABEL ROOT IN-ROOT CODE WANT-RC: check names IN-ROOT with CODE (its message matching WANT), exit WANT-RC, unchanged
  local label=$1 root=$2 inroot=$3 code=$4 want=$5
  expect_rc "$label" "$want" "$root$inroot" "$XPATCH" check --json "$root" "$inroot"
  check "$label: finding $code for $inroot" grep -qF "\"code\":\"$code\",\"object\":\"$inroot\"" <<<"$OUT"
  if [ -n "${WANT:-}" ]; then
    check "$label: the finding's message names the structure and the value (/$WANT/)" \
      grep -E -- "\"code\":\"$code\",\"object\":\"$inroot\".*\"message\":\"[^\"]*$WANT" <<<"$OUT"
  fi
}
# retarget takes files inside its root.
RT=$W/rt && mkdir -p "$RT/usr/lib"
TUPLE=(retarget --tuple x86_64-linux-gnu --root "$RT")

# What each bad fixture's message must say besides the file: the structure
# and the bad value (an extended regular expression). A new bad-* fixture
# needs its line here.
declare -A MESSAGE=(
  [bad-dynamic-past-eof]='program header 2 \(PT_DYNAMIC, p_offset 0x400, p_filesz 0x100000\)'
  [bad-interp-past-eof]='program header 0 \(PT_INTERP, p_offset 0x200, p_filesz 0x100000\)'
  [bad-load-overlap]='program header 2: PT_LOAD at p_vaddr 0x1300 overlaps'
  [bad-no-dt-null]='PT_DYNAMIC: no DT_NULL terminator among its 4 entries'
  [bad-phnum-65535]='ELF header: e_phnum is PN_XNUM \(65535\)'
  [bad-phoff-past-eof]='program header table \(e_phoff 0x100000, e_phnum 3\)'
  [bad-phoff-wrap]='program header table \(e_phoff 0xfffffffffffffff0, e_phnum 3\)'
  [bad-shoff-past-eof]='section header table \(e_shoff 0x100000, e_shnum 6\): 0x180 bytes at offset 0x100000'
  [bad-strtab-no-nul]='DT_RUNPATH: string at index 0xb has no terminating NUL'
  [bad-strtab-outside-load]='DT_STRTAB: address 0x90000 with DT_STRSZ 0x14'
)
shopt -s nullglob
bads=("$FX"/yaml/bad-*)
[ ${#bads[@]} -gt 0 ] || { bad "no bad-* fixtures under $FX/yaml"; finish; exit 1; }
for f in "${bads[@]}"; do
  n=$(basename "$f"); cp "$f" "$RT/usr/lib/$n"; g=$RT/usr/lib/$n
  want=${MESSAGE[$n]:-}
  check "$n: malformed.sh says what its message must name" test -n "$want"
  WANT=$want expect_error "show $n" "$g" "$XPATCH" show "$g"
  WANT=$want expect_error "show --json $n" "$g" "$XPATCH" show --json "$g"
  WANT=$want expect_error "patch $n" "$g" "$XPATCH" --interp /lib/ld-x.so.1 --runpath /opt/lib "$g"
  WANT=$want expect_error "retarget $n" "$g" "$XPATCH" "${TUPLE[@]}" "$g"
  WANT=$want expect_finding "check $n" "$RT" "/usr/lib/$n" malformed 1
done
# e_phnum PN_XNUM with the real count in section header 0's sh_info: the
# kernel (fs/binfmt_elf.c takes e_phnum as it is) and qemu-user refuse to
# run it, ld.so would not load it; so xpatch calls it malformed.
xnum() {  # SRC DST: e_phnum = 0xffff, section 0's sh_info = the old count
  python3 - "$1" "$2" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
is64 = b[4] == 2; e = "<" if b[5] == 1 else ">"
shoff = struct.unpack_from(e + ("Q" if is64 else "I"), b, 0x28 if is64 else 0x20)[0]
at = 0x38 if is64 else 0x2c
struct.pack_into(e + "I", b, shoff + (0x2c if is64 else 0x1c), struct.unpack_from(e + "H", b, at)[0])
struct.pack_into(e + "H", b, at, 0xffff)
open(sys.argv[2], "wb").write(b)
PY
  chmod +x "$2"
}
xnum "$FX/x86_64/app-pie" "$RT/usr/lib/phnum-xnum"; g=$RT/usr/lib/phnum-xnum
check "PN_XNUM: the kernel refuses to run it" bash -c "! '$g' >/dev/null 2>&1"
xnum "$FX/aarch64/app-pie" "$W/phnum-xnum-a64"
check "PN_XNUM: qemu-aarch64 refuses to run it" bash -c "! env -u QEMU_LD_PREFIX qemu-aarch64 '$W/phnum-xnum-a64' >/dev/null 2>&1"
WANT="ELF header: e_phnum is PN_XNUM \(65535\)" expect_error "show PN_XNUM" "$g" "$XPATCH" show "$g"
check "show PN_XNUM: the message names e_phnum and sh_info" \
  bash -c "'$XPATCH' show '$g' 2>&1 | grep -q \"ELF header: e_phnum is PN_XNUM (65535), the count (13) in section header 0's sh_info\""
WANT="e_phnum is PN_XNUM \(65535\)" expect_error "patch PN_XNUM" "$g" "$XPATCH" --runpath /opt/lib "$g"
WANT="e_phnum is PN_XNUM \(65535\)" expect_finding "check PN_XNUM" "$RT" /usr/lib/phnum-xnum malformed 1
rm -f "$g"
for f in "$FX"/yaml/valid-*; do
  set +e; "$XPATCH" show "$f" >/dev/null 2>&1; rc=$?; set -e
  check "show $(basename "$f"): exit 0" test "$rc" = 0
done

# Edits that cannot apply to a valid file.
cp "$FX/x86_64/app-static" "$W/static"
expect_error "--interp on a static binary" "$W/static" "$XPATCH" --interp /lib/ld-x.so.1 "$W/static"
expect_error "--runpath on a static binary" "$W/static" "$XPATCH" --runpath /opt/lib "$W/static"
cp "$FX/x86_64/libfoo.so" "$W/lib.so"
expect_error "--replace-needed of a library that is not needed" "$W/lib.so" "$XPATCH" --replace-needed libnope.so=libx.so "$W/lib.so"
check "show: a static binary is reported as static" grep -q '"libc":"static"' <("$XPATCH" show --json "$W/static")

# Files that are not ELF at all.
: > "$W/empty"
expect_error "patch empty file" "$W/empty" "$XPATCH" --interp /x "$W/empty"
printf '#!/bin/sh\necho hi\n' > "$W/script"
expect_error "patch a script" "$W/script" "$XPATCH" --interp /x "$W/script"
mkfifo "$W/fifo"
expect_error "patch a FIFO" "$W/fifo" "$XPATCH" --interp /x "$W/fifo"
mkdir "$W/dir"
expect_error "patch a directory" "$W/dir" "$XPATCH" --interp /x "$W/dir"
expect_error "patch a missing file" "$W/missing" "$XPATCH" --interp /x "$W/missing"
set +e; msg=$("$XPATCH" show "$W/script" 2>&1 >/dev/null); rc=$?; set -e
check "show on a named non-ELF file: exit 1 and a message" test "$rc" = 1 -a -n "$msg"
mkdir "$W/text" && cp "$W/script" "$W/empty" "$W/text/"
set +e; out=$("$XPATCH" show "$W/text" 2>&1); rc=$?; set -e
check "show on a directory of non-ELF files: skipped silently (exit 0, no output)" test "$rc" = 0 -a -z "$out"

# Every class of bad file, by every command: show, patch, check, retarget.
# show on a named file that is not ELF says so with exit 1 (documented);
# check reports a finding; patch and retarget give exit 2 naming the file.
C=$RT/usr/lib
: > "$C/zero"
mkfifo "$C/pipe"
mkdir "$C/adir"
ln -s loop-b "$C/loop-a"; ln -s loop-a "$C/loop-b"
for n in zero pipe; do
  expect_rc "show 0-byte/FIFO $n: exit 1 (not ELF)" 1 "$C/$n" "$XPATCH" show "$C/$n"
  check "show $n: the message names the file" grep -qF "$C/$n" <<<"$OUT"
  expect_error "patch $n" "$C/$n" "$XPATCH" --runpath /opt/lib "$C/$n"
  limited expect_error "retarget $n (1 GiB limit: cannot map)" "$C/$n" "$XPATCH" "${TUPLE[@]}" "$C/$n"
  expect_finding "check $n" "$RT" "/usr/lib/$n" not-elf 0
done
# A character device named explicitly: never opened for writing, never read to EOF.
expect_rc "show /dev/null: exit 1 (not ELF)" 1 /dev/null "$XPATCH" show /dev/null
check "show /dev/null: the message names it" grep -qF "/dev/null: not a regular file" <<<"$OUT"
expect_error "patch /dev/null" /dev/null "$XPATCH" --runpath /opt/lib /dev/null
expect_error "retarget /dev/null" /dev/null "$XPATCH" retarget --tuple x86_64-linux-gnu --root / /dev/null
expect_finding "check / /dev/null" / /dev/null not-elf 0
# A directory: show, check and retarget walk it (empty: nothing to do); patch refuses.
expect_error "patch a directory" "$C/adir" "$XPATCH" --runpath /opt/lib "$C/adir"
expect_rc "show an empty directory" 0 "$C/adir" "$XPATCH" show "$C/adir"
expect_rc "retarget an empty directory" 0 "$C/adir" "$XPATCH" "${TUPLE[@]}" "$C/adir"
check "retarget an empty directory: nothing retargeted" grep -q "retargeted 0 files" <<<"$OUT"
expect_rc "check an empty directory" 0 "$C/adir" "$XPATCH" check "$RT" /usr/lib/adir
# A symlink loop.
expect_error "show a symlink loop" "$C/loop-a" "$XPATCH" show "$C/loop-a"
expect_error "patch a symlink loop" "$C/loop-a" "$XPATCH" --runpath /opt/lib "$C/loop-a"
expect_error "retarget a symlink loop" "$C/loop-a" "$XPATCH" "${TUPLE[@]}" "$C/loop-a"
expect_finding "check a symlink loop" "$RT" /usr/lib/loop-a symlink-loop 1
rm "$C/loop-a" "$C/loop-b" "$C/zero"; rm -r "$C/adir"; rm "$C/pipe"
# An unreadable file, as an unprivileged user (root ignores permissions).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  cp "$FX/x86_64/libfoo.so" "$C/secret.so"; chmod 0200 "$C/secret.so"
  chmod o+x "$W" "$RT" "$RT/usr" "$C"; chmod o+r "$RT" "$RT/usr" "$C"
  NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  expect_error "show an unreadable file (as nobody)" "$C/secret.so" "${NOBODY[@]}" "$XPATCH" show "$C/secret.so"
  expect_error "patch an unreadable file (as nobody)" "$C/secret.so" "${NOBODY[@]}" "$XPATCH" --runpath /opt/lib "$C/secret.so"
  expect_error "retarget an unreadable file (as nobody)" "$C/secret.so" "${NOBODY[@]}" "$XPATCH" "${TUPLE[@]}" "$C/secret.so"
  expect_rc "check an unreadable file (as nobody): exit 1" 1 "$C/secret.so" "${NOBODY[@]}" "$XPATCH" check --json "$RT" /usr/lib/secret.so
  check "check an unreadable file: finding unreadable" grep -qF '"code":"unreadable","object":"/usr/lib/secret.so"' <<<"$OUT"
  rm -f "$C/secret.so"
else
  skip "unreadable file: needs root and setpriv to run as an unprivileged user"
fi

# 60,000 DT_NEEDED entries (about 1 MB) all naming one 64 KiB string: once
# 4 GB of copies and an abort (exit 134). No loader can open a name of
# PATH_MAX bytes or more: an error naming DT_NEEDED, within the 1 GiB limit.
python3 - "$RT/usr/lib/many-needed.so" <<'PY'
import struct, sys
n, name = 60000, b"a" * 65535
strtab = b"\0" + name + b"\0"
hdr, ph = 64, 56
strtab_off = hdr + 2 * ph
dyn_off = (strtab_off + len(strtab) + 7) // 8 * 8
base = 0x10000
dyn = [(1, 1)] * n + [(5, base + strtab_off), (10, len(strtab)), (0, 0)]
size = dyn_off + 16 * len(dyn)
out = bytearray(struct.pack("<4sBBBB8xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 3, 62, 1, base, hdr, 0, 0,
                            hdr, ph, 2, 64, 0, 0))
out += struct.pack("<IIQQQQQQ", 1, 6, 0, base, base, size, size, 0x1000)
out += struct.pack("<IIQQQQQQ", 2, 6, dyn_off, base + dyn_off, base + dyn_off, size - dyn_off, size - dyn_off, 8)
out += strtab
out += bytes(dyn_off - len(out))
for tag, val in dyn:
    out += struct.pack("<qQ", tag, val)
open(sys.argv[1], "wb").write(out)
PY
g=$RT/usr/lib/many-needed.so
for cmd in "show" "show --json"; do
  expect_error "$cmd: 60,000 DT_NEEDED naming one 64 KiB string" "$g" "$XPATCH" $cmd "$g"
  check "$cmd: 60,000 DT_NEEDED: the message names DT_NEEDED and PATH_MAX" grep -q "DT_NEEDED.*PATH_MAX" <<<"$(bounded "$XPATCH" $cmd "$g" 2>&1 >/dev/null)"
done
WANT="DT_NEEDED.*PATH_MAX" expect_error "patch: 60,000 DT_NEEDED naming one 64 KiB string" "$g" "$XPATCH" --runpath /opt/lib "$g"
WANT="DT_NEEDED.*PATH_MAX" expect_error "retarget: 60,000 DT_NEEDED naming one 64 KiB string" "$g" "$XPATCH" "${TUPLE[@]}" "$g"
WANT="DT_NEEDED.*PATH_MAX" expect_finding "check: 60,000 DT_NEEDED naming one 64 KiB string" "$RT" /usr/lib/many-needed.so malformed 1
rm -f "$g"

# Memory and threads that run out (tight address-space limits): an
# exception that escapes (std::bad_alloc, std::system_error from a thread
# that cannot start) is exit 2 with an "xpatch:" message, or the work goes on
# with fewer threads; never an abort (exit 134: 18500 KiB aborted in
# nlohmann::json's destructor, which allocates, until main() kept a reserve;
# 20000 and, with fewer libraries mapped, 17500-18000 KiB aborted there too,
# the first failure being inside that destructor: now it is given half the
# reserve and the work stops at the next item, none of 69 limits from 9000
# to 26000 aborts).
# Exit 127 is the system loader failing to map xpatch's own libraries,
# before xpatch runs.
memory_limits() {
  local v rc msg ran=0 aborted=""
  for v in 7000 8000 10000 12000 14000 16000 17000 17500 18000 18500 19000 20000 22000 24000; do
    for cmd in "show --json /usr/bin" "check --json /usr/lib /usr/lib/x86_64-linux-gnu/libc.so.6"; do
      set +e; msg=$(bash -c 'ulimit -v "$1"; shift; exec timeout -s KILL 60 "$@"' _ "$v" "$XPATCH" $cmd 2>&1 >/dev/null); rc=$?; set -e
      case $rc in
        0|1) ran=$((ran + 1)) ;;
        2) ran=$((ran + 1)); grep -q '^xpatch: ' <<<"$msg" || aborted+=" [$v KiB, $cmd: exit 2 without an xpatch: message: ${msg:0:200}]" ;;
        127) ;;
        *) aborted+=" [$v KiB, $cmd: exit $rc: ${msg:0:200}]" ;;
      esac
    done
  done
  check "tight address-space limits: $ran runs of xpatch, each exit 0, 1 or 2 with a message${aborted:- (none aborted)}" \
    test -z "$aborted" -a "$ran" -gt 0
}
limited memory_limits "tight address-space limits"

# Over 4 GiB: sparse files of 5 GiB. Under the 1 GiB limit the file cannot be
# mapped (show reads with pread and needs no map): a clear exit 2.
big() {  # FIXTURE DEST [FIELD VALUE]: a 5 GiB sparse copy, optionally with e_phoff/e_shoff set
  cp "$FX/$1" "$2"; truncate -s 5G "$2"
  [ $# -gt 2 ] || return 0
  python3 - "$2" "$3" "$4" <<'PY'
import struct, sys
path, field, value = sys.argv[1], sys.argv[2], int(sys.argv[3], 0)
with open(path, "r+b") as f:
    h = f.read(64); is64 = h[4] == 2; e = "<" if h[5] == 1 else ">"
    at, fmt = {("phoff", True): (0x20, "Q"), ("shoff", True): (0x28, "Q"),
               ("phoff", False): (0x1c, "I"), ("shoff", False): (0x20, "I")}[(field, is64)]
    f.seek(at); f.write(struct.pack(e + fmt, value))
PY
}
big x86_64/app-pie "$C/big"
expect_rc "show a 5 GiB sparse ELF file" 0 "$C/big" "$XPATCH" show "$C/big"
check "show a 5 GiB sparse ELF file: read" grep -q 'runpath *\$ORIGIN' <<<"$OUT"
limited expect_error "patch a 5 GiB file under a 1 GiB address-space limit" "$C/big" "$XPATCH" --runpath /opt/lib "$C/big"
limited expect_error "retarget a 5 GiB file under a 1 GiB address-space limit" "$C/big" "$XPATCH" "${TUPLE[@]}" "$C/big"
expect_finding "check a 5 GiB sparse ELF file" "$RT" /usr/lib/big interp-missing 1
for spec in "x86_64 phoff 0xfffffff8" "x86_64 shoff 0xffffffc0" "i686 phoff 0xfffffff0" "i686 shoff 0xfffffff0"; do
  set -- $spec; n=big-$1-$2; big "$1/app-pie" "$C/$n" "$2" "$3"
  # The headers lie in the hole (zeros): a file with no segments, or no sections.
  expect_rc "show $n (e_$2 $3 in a 5 GiB file)" 0 "$C/$n" "$XPATCH" show "$C/$n"
  expect_error "patch $n" "$C/$n" "$XPATCH" --runpath /opt/lib "$C/$n"
  VMEM_KB=8388608 expect_error "patch $n (8 GiB limit: mapped, then refused)" "$C/$n" "$XPATCH" --runpath /opt/lib "$C/$n"
  limited expect_error "retarget $n (1 GiB limit: cannot map)" "$C/$n" "$XPATCH" "${TUPLE[@]}" "$C/$n"
  want=0; [ "$2" = phoff ] || want=1  # no segments: static, nothing to resolve; else the loader is missing
  expect_rc "check $n" "$want" "$C/$n" "$XPATCH" check --json "$RT" "/usr/lib/$n"
  rm -f "$C/$n"
done
# With room for the map (8 GiB) but not for a second mapping: patch writes
# only the data ranges (fast, still sparse); retarget, which maps the input
# and its output image side by side to check it, says they do not fit
# instead of aborting.
R2=$W/rt2 && mkdir -p "$R2/usr/x86_64-linux-gnu/lib" "$R2/usr/x86_64-linux-gnu/bin"
cp "$FX/x86_64/libfoo.so" "$(readlink -f /lib/x86_64-linux-gnu/libc.so.6)" "$R2/usr/x86_64-linux-gnu/lib/"
[ -e "$R2/usr/x86_64-linux-gnu/lib/libc.so.6" ] || mv "$R2/usr/x86_64-linux-gnu/lib/"libc[.-]* "$R2/usr/x86_64-linux-gnu/lib/libc.so.6"
mv "$C/big" "$R2/usr/x86_64-linux-gnu/bin/app"; B=$R2/usr/x86_64-linux-gnu/bin/app
VMEM_KB=8388608 limited expect_error "retarget a 5 GiB file (8 GiB limit)" "$B" \
  "$XPATCH" retarget --tuple x86_64-linux-gnu --root "$R2" "$B"
long=/opt/$(printf 'long-%04d/' $(seq 1 800))lib  # over any padding: an appended segment at 5 GiB
start=$SECONDS
set +e; VMEM_KB=8388608 bounded "$XPATCH" --runpath "$long" "$B"; rc=$?; set -e
check "patch a 5 GiB sparse file (8 GiB limit): exit $rc, in $((SECONDS - start)) s" test "$rc" = 0
check "... the runpath reads back" grep -qF "runpath      $long" <("$XPATCH" show "$B")
check "... the file grew past 5 GiB ($(stat -c %s "$B"))" test "$(stat -c %s "$B")" -gt $((5 << 30))
check "... and stays sparse ($(du -k "$B" | cut -f1) KiB on disk)" test "$(du -k "$B" | cut -f1)" -lt 65536
check "no temporary files left by any of the above" test -z "$(find "$W" -name '.*.xpatch-*')"
rm -rf "$R2"

# check: every bad file in a root is a finding (malformed, not-elf, unreadable),
# the run ends with exit 1, not a crash, and no file changes.
R=$W/root && mkdir -p "$R/usr/lib" "$R/bin"
for f in "${bads[@]}"; do cp "$f" "$R/usr/lib/$(basename "$f")"; done
: > "$R/usr/lib/libempty.so"; mkfifo "$R/usr/lib/libfifo.so"
cp "$FX/x86_64/app-pie" "$R/bin/app"
"$XPATCH" --runpath /usr/lib --add-needed libempty.so --add-needed libfifo.so "$R/bin/app"
for f in "${bads[@]}"; do "$XPATCH" --add-needed "$(basename "$f")" "$R/bin/app"; done
before=$(cd "$R" && find . -type f -exec sha256sum {} + | sort)
set +e; timeout 60 "$XPATCH" check --json "$R" > "$W/check.json" 2>"$W/check.err"; rc=$?; set -e
after=$(cd "$R" && find . -type f -exec sha256sum {} + | sort)
check "check on a root of bad files: exit 1 (findings), no crash" test "$rc" = 1
check "check: the root is byte-for-byte unchanged" test "$before" = "$after"
for f in "${bads[@]}"; do
  check "check reports $(basename "$f") as malformed" \
    grep -q "\"code\":\"malformed\",\"object\":\"/usr/lib/$(basename "$f")\"" "$W/check.json"
done
check "check: a needed library that is an empty file stops glibc's search (needed-invalid)" \
  grep -q '"code":"needed-invalid","object":"/bin/app","subject":"libempty.so"' "$W/check.json"
check "check: a FIFO on the search path neither hangs nor loads" \
  grep -q '"subject":"libfifo.so"' "$W/check.json"
set +e; "$XPATCH" check "$W/nonexistent" >/dev/null 2>"$W/err"; rc=$?; set -e
check "check on a missing root: exit 2 naming it" bash -c "test $rc = 2 && grep -qF '$W/nonexistent' '$W/err'"

# Usage errors.
set +e; "$XPATCH" --bogus-flag x >/dev/null 2>&1; rc=$?; set -e
check "unknown option: exit 2" test "$rc" = 2
set +e; "$XPATCH" --replace-needed nonsense x >/dev/null 2>&1; rc=$?; set -e
check "--replace-needed without '=': exit 2" test "$rc" = 2

finish
