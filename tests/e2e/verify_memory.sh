#!/usr/bin/env bash
# --verify's memory on a library with a large .bss: LIEF 0.9 reserves
# sh_offset + sh_size bytes for every section, SHT_NOBITS too (up to 100 MB
# each), so an 80 MiB .bss cost 80 MiB of zeros per verified file (retarget
# verifies every file: libtsan's 50 MiB .bss was most of its peak, issue
# 16). The output is still read by both readers (e2e.verify: still refused
# when LIEF disagrees).
# Usage: verify_memory.sh XPATCH
. "$(dirname "$0")/lib.sh"
XPATCH=$(realpath "$1")
command -v cc >/dev/null || { echo "skip - no host C compiler"; exit 77; }
[ -x /usr/bin/time ] || { echo "skip - /usr/bin/time (Debian package 'time') is missing"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
printf 'static char big[80 << 20];\nchar *p(void) { return big; }\n' > "$W/big.c"
cc -shared -fPIC -o "$W/libbig.so" "$W/big.c"
largest_memsz() {  # FILE: the largest p_memsz of its PT_LOAD entries, in bytes
  readelf -lW "$1" | awk '$1 == "LOAD" {print $6}' | while read -r h; do printf '%d\n' "$h"; done | sort -n | tail -1
}
memsz=$(largest_memsz "$W/libbig.so")
check "the library's largest PT_LOAD is over 80 MiB in memory ($memsz bytes)" test "$memsz" -ge $((80 << 20))
rc=0
/usr/bin/time -f %M -o "$W/rss" "$XPATCH" --verify --runpath /opt/big/lib -o "$W/out.so" "$W/libbig.so" || rc=$?
rss=$(tail -1 "$W/rss")
check "--verify patched it (exit $rc)" test "$rc" = 0
check "and read the output back with LIEF in less than 64 MiB ($rss KiB peak RSS)" test "$rss" -lt 65536
check "the output says what was asked (readelf)" bash -c "readelf -dW '$W/out.so' | grep -q 'Library runpath: \[/opt/big/lib\]'"
check "the output keeps the .bss (readelf: the same largest PT_LOAD memory size)" \
  test "$(largest_memsz "$W/out.so")" = "$memsz"
finish
