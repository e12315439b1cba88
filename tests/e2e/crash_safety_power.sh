#!/usr/bin/env bash
# Power loss, not only a kill: on a journaled ext4 filesystem in a loop
# device, the filesystem is shut down without flushing its journal
# (EXT4_IOC_SHUTDOWN with EXT4_GOING_FLAGS_NOLOGFLUSH, as xfstests' godown
# does), then mounted again (the journal replayed): what was not committed
# is gone, as after a power cut. The loop device's own writes are never
# lost, so this proves the filesystem-level order (data before the rename
# that names it), not the disk's cache flushes.
#   1. a durable call that returned has its new bytes after the cut, single
#      file and batch; with --no-sync they are lost (the cut is real);
#   2. a cut at a random moment leaves every file its old or its new bytes;
#   3. one durable call costs one journal commit, single file or batch
#      (/proc/fs/jbd2/DEV/info counts them, /proc/fs/ext4/DEV/fc_info the
#      fast commits).
# Needs root, a loop device, mkfs.ext4 and python3 (the ioctl): else 77.
# Usage: crash_safety_power.sh XPATCH FIXTURES [ROUNDS [default|fast_commit]]
#   (fast_commit: the filesystem made with mkfs.ext4 -O fast_commit, whose
#   fsync logs only the changed inodes between full commits)
. "$(dirname "$0")/lib.sh"
XPATCH=$(realpath "$1") FX=$2 ROUNDS=${3:-16} FEATURES=${4:-default}
needs_root "a loop-mounted filesystem"
for t in losetup mkfs.ext4 python3 mount umount; do
  command -v "$t" >/dev/null || { echo "skip - $t is missing"; exit 77; }
done
W=$(mktemp -d) M= L=
cleanup() {
  [ -n "$M" ] && umount "$M" 2>/dev/null
  [ -n "$L" ] && losetup -d "$L" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
truncate -s 96M "$W/img"
mkfs.ext4 -q -F $([ "$FEATURES" = default ] || echo "-O $FEATURES") "$W/img"
L=$(losetup -f --show "$W/img" 2>/dev/null) || { echo "skip - no loop device here"; exit 77; }
M=$W/mnt && mkdir "$M"
mount "$L" "$M" || { echo "skip - cannot mount a loop device here"; exit 77; }
JBD=/proc/fs/jbd2/$(basename "$L")-8/info
[ -r "$JBD" ] || { echo "skip - no jbd2 statistics for $L"; exit 77; }

cut_power() {  # [DELAY_MS CMD...]: the filesystem stops (after CMD ran DELAY_MS, then CMD is killed); its
  # uncommitted journal is dropped. One Python process starts CMD and times the cut, so the delay is CMD's.
  python3 -c 'import fcntl, os, signal, struct, subprocess, sys, time
p = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if len(sys.argv) > 3 else None
if p: time.sleep(int(sys.argv[2]) / 1000)
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587d, struct.pack("I", 2))  # EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH
if p: p.kill(); p.wait()' "$M" "$@"
}
remount() { umount "$M" && mount "$L" "$M"; }
FC=/proc/fs/ext4/$(basename "$L")/fc_info
commits() {  # full journal commits plus fast commits, so far
  echo $(($(awk 'NR == 1 {print $1}' "$JBD") + $(awk '$2 == "commits" {print $1; exit}' "$FC" 2>/dev/null || echo 0)))
}

# ---- the file set: programs and libraries of several architectures ----
mapfile -t src < <(find "$FX" -mindepth 2 -maxdepth 2 -type f \( -name 'app-pie' -o -name 'libfoo.so' \) \
                     ! -path '*/yaml/*' | sort)
[ ${#src[@]} -gt 0 ] || { bad "no fixtures under $FX"; finish; exit 1; }
mkdir "$W/orig" "$W/new"
names=()
for s in "${src[@]}"; do
  n=$(basename "$(dirname "$s")")-$(basename "$s"); cp "$s" "$W/orig/$n"; names+=("$n")
done
RP=/usr/lib/xpatch-power-test
cp "$W/orig/"* "$W/new/" && (cd "$W/new" && "$XPATCH" --no-sync --runpath "$RP" -- "${names[@]}")
NFILES=${#names[@]}
# Each file: "old", "new" or "other" (missing, empty, or neither).
state_of() {  # NAME
  if cmp -s "$M/d/$1" "$W/orig/$1"; then echo old
  elif cmp -s "$M/d/$1" "$W/new/$1"; then echo new
  else echo other; fi
}
count() {  # WHAT: how many files are in that state
  local n=0 f
  for f in "${names[@]}"; do [ "$(state_of "$f")" = "$1" ] && n=$((n + 1)); done
  echo "$n"
}
fresh() { rm -rf "$M/d" && mkdir "$M/d" && cp "$W/orig/"* "$M/d/" && sync -f "$M"; }

# ---- 1. returned means durable; without sync the cut loses it ----
for how in single batch; do
  for sync in durable --no-sync; do
    fresh
    if [ "$how" = single ]; then set -- "${names[0]}"; else set -- "${names[@]}"; fi
    (cd "$M/d" && "$XPATCH" $([ "$sync" = durable ] || echo --no-sync) --runpath "$RP" -- "$@")
    cut_power
    remount
    n_new=0
    for f in "$@"; do [ "$(state_of "$f")" = new ] && n_new=$((n_new + 1)); done
    if [ "$sync" = durable ]; then
      check "$how ($#): every file durable once the call returned ($n_new of $# new after the cut)" test "$n_new" = "$#"
    else
      check "$how ($#) --no-sync: the cut loses what was not synced ($n_new of $# new; the control)" test "$n_new" -lt "$#"
    fi
  done
done

# ---- 2. a cut at a random moment: every file old or new ----
# The delay is drawn below the time of a whole batch, so cuts land before,
# among and after the renames.
fresh
t0=$(date +%s%N)
(cd "$M/d" && "$XPATCH" --runpath "$RP" -- "${names[@]}")
SPAN=$((($(date +%s%N) - t0) / 1000000 + 5))
echo "# a durable batch of $NFILES files: $SPAN ms; cuts after 0..$SPAN ms"
tot_old=0 tot_new=0 tot_other=0 mixed=0
for ((r = 1; r <= ROUNDS; r++)); do
  fresh
  delay=$((RANDOM % (SPAN + 1)))
  (cd "$M/d" && cut_power "$delay" "$XPATCH" --runpath "$RP" -- "${names[@]}")
  remount
  o=$(count old) nw=$(count new)
  other=$((NFILES - o - nw))
  [ "$o" -gt 0 ] && [ "$nw" -gt 0 ] && mixed=$((mixed + 1))
  printf '# round %2d: cut after %3d ms: old %2d new %2d other %d\n' "$r" "$delay" "$o" "$nw" "$other"
  tot_old=$((tot_old + o)) tot_new=$((tot_new + nw)) tot_other=$((tot_other + other))
done
echo "# $ROUNDS cuts: old $tot_old, new $tot_new, other $tot_other, rounds mixed $mixed"
check "after every cut each file is its old or its new bytes ($tot_old old, $tot_new new, $tot_other other)" \
  test "$tot_other" = 0
check "the cuts landed both before and after the commit (some old: $tot_old, some new: $tot_new)" \
  test "$tot_old" -gt 0 -a "$tot_new" -gt 0

# ---- 3. journal commits per durable call ----
# A periodic commit (every 5 s) may land inside a call: the fewest of five.
min_commits() {  # FILES...: the fewest journal commits of five durable calls on them
  local best=99 c0 c1 i
  for i in 1 2 3 4 5; do
    fresh
    c0=$(commits)
    (cd "$M/d" && "$XPATCH" --runpath "$RP.$i" -- "$@")
    c1=$(commits)
    [ $((c1 - c0)) -lt "$best" ] && best=$((c1 - c0))
  done
  echo "$best"
}
one=$(min_commits "${names[0]}")
all=$(min_commits "${names[@]}")
check "one durable call on one file: one journal commit ($one)" test "$one" = 1
check "one durable call on $NFILES files: one journal commit ($all)" test "$all" = 1
finish
