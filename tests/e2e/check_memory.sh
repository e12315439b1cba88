#!/usr/bin/env bash
# Peak memory of `check` and `show` stays flat as the root grows (issue 16,
# "Bounded memory"): the walk streams each file to the workers instead of
# collecting every path first, and Root's lookup cache is bounded. A root
# of one copy of a tree (16,384 small files that are not ELF in 64
# directories, 4,096 symlinks to them, which check resolves, and a few
# fixture programs and libraries) against a root of 8 copies: peak RSS (GNU
# time %M) may grow by at most 4 MiB (a list of every path grew by 17-25
# MiB here, the unbounded lookup cache by more), and each copy's 4 ELF
# files must be reported, so every file is seen.
# Usage: check_memory.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time (Debian package 'time') missing"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# One copy: the tree every root is made of.
T=$W/tree
mkdir -p "$T/bin" "$T/lib"
python3 - "$T" <<'EOF'
import os, sys
t = sys.argv[1]
for d in range(64):
    p = os.path.join(t, "share", f"directory-with-a-long-name-{d:03}")
    os.makedirs(p)
    for f in range(256):
        with open(os.path.join(p, f"a-data-file-with-a-long-name-as-in-usr-share-{f:04}.txt"), "w") as o:
            o.write("not ELF\n")
        if f < 64:  # links: check resolves each (a loop? climbing out?) through Root's lookup cache
            os.symlink(f"a-data-file-with-a-long-name-as-in-usr-share-{f:04}.txt", os.path.join(p, f"link-{f:04}"))
EOF
cp "$FX/x86_64/app-pie" "$T/bin/app"
cp "$FX/x86_64/libfoo.so" "$FX/x86_64/libsym.so" "$T/lib/"
cp "$FX/x86_64/libfoo.so" "$T/bin/"  # found through the program's $ORIGIN

root_of() {  # K: a root of K copies (hard links), with the host's loader
  local r=$W/root.$1 i
  mkdir -p "$r/lib64" "$r/usr"
  cp -aL /lib64/ld-linux-x86-64.so.2 "$r/lib64/"
  for ((i = 0; i < $1; i++)); do cp -al "$T" "$r/usr/copy$i"; done
  echo "$r"
}
# CMD...: prints peak RSS in KiB and the number of JSON lines CMD printed.
measure() {
  /usr/bin/time -f %M -o "$W/rss" "$@" > "$W/out" 2>/dev/null || true
  echo "$(tail -1 "$W/rss") $(wc -l < "$W/out")"
}

R1=$(root_of 1) R8=$(root_of 8)
for cmd in "check --json --no-symbols" "check --json" "show --json"; do
  read -r rss1 n1 < <(measure "$XPATCH" $cmd "$R1")
  read -r rss8 n8 < <(measure "$XPATCH" $cmd "$R8")
  echo "$cmd: 1 copy $rss1 KiB ($n1 lines), 8 copies $rss8 KiB ($n8 lines)"
  check "$cmd: the 4 ELF files of each of 7 more copies seen ($n1 -> $n8 lines)" test $((n8 - n1)) -eq 28
  check "$cmd: peak RSS at 8x the files within 4 MiB of 1x ($rss1 -> $rss8 KiB)" test $((rss8 - rss1)) -le 4096
  if [ "${cmd%% *}" = check ]; then  # the copies are alike: 8 times the findings, whatever the cache forgot
    cp "$W/out" "$W/out.8"
    measure "$XPATCH" $cmd "$R1" > /dev/null
    counts() { jq -r 'select(.summary) | "\(.summary.errors) \(.summary.warnings) \(.summary.files)"' "$1"; }
    read -r e1 w1 f1 < <(counts "$W/out")
    read -r e8 w8 f8 < <(counts "$W/out.8")
    check "$cmd: 8 copies, 8 times the errors and warnings ($e1/$w1 -> $e8/$w8)" \
      test "$e8" -eq $((8 * e1)) -a "$w8" -eq $((8 * w1)) -a "$e1" -gt 0
  fi
done
finish
