#!/usr/bin/env bash
# `check /` on the live test machine (issue 12 section 4): it ends, reports
# nothing under /proc, /sys, /dev or /run, calls no file `unreadable`, exits
# 1 exactly when it reports errors, and the host's own loader (ld.so
# traced as ldd -r traces) agrees that each host (x86_64 glibc) file it calls broken is
# broken: on a machine where nothing is broken it exits 0.
# Usage: live_check.sh XPATCH
. "$(dirname "$0")/lib.sh"
XPATCH=$1
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (to read every file of /)"; exit 77; fi
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
[ -x /lib64/ld-linux-x86-64.so.2 ] || { echo "SKIP: not an x86_64 glibc host"; exit 77; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

# Untraced: tracing every open of a whole live system takes longer than
# the test may; live_walk.sh watches opens in a planted root with a real
# /proc mounted in it. Nothing under the
# kernel's directories is reported, no file is `unreadable` (as root every
# file is readable; files removed while the walk ran are not errors), and
# the host's own loader agrees that each host file check calls broken is
# broken.
LIVE=$W/live.json
rc=0
# Under a 4 GiB address-space limit: a shared machine's temp files can hold
# anything (other tests' hostile ELF files), and this must not take it down.
# (Not under ASan, whose shadow memory cannot start within such a limit.)
(if [ -z "${ASAN_OPTIONS:-}" ]; then ulimit -v 4194304; fi
 exec timeout 1500 nice "$XPATCH" check --json /) > "$LIVE" 2> "$W/live.err" || rc=$?
check "check /: finished (exit $rc)$( [ -s "$W/live.err" ] && echo ": $(head -c 300 "$W/live.err")")" test "$rc" = 0 -o "$rc" = 1
kernel_files=$(jq -r 'select(.file != null) | .file' "$LIVE" | grep -cE '^/(proc|sys|dev|run)/' || true)
check "check /: nothing reported under /proc, /sys, /dev, /run ($kernel_files)" test "$kernel_files" = 0
unreadable=$(jq -r 'select(.findings != null) | .findings[] | select(.code == "unreadable") | .message' "$LIVE" | head -5)
check "check /: no unreadable file${unreadable:+: $unreadable}" test -z "$unreadable"
# Host files with an error: the real system must fail too. An
# interpreter that is missing is the kernel's verdict (execve opens
# PT_INTERP; ld.so --list would ignore it); the rest is ld.so --list's.
LDSO=/lib64/ld-linux-x86-64.so.2
jq -r 'select(.ok == false and .arch == "x86_64, ELF64" and .family == "glibc")
       | [.file, .interpreter // "", ([.findings[].code] | index("interp-missing") != null)] | @tsv' "$LIVE" > "$W/broken" || true
disagree=0 judged=0
while IFS=$'\t' read -r f interp interp_missing; do
  [ -f "$f" ] || continue
  judged=$((judged + 1))
  if [ "$interp_missing" = true ]; then
    [ -e "$interp" ] && { disagree=$((disagree + 1)); echo "  $f: its interpreter $interp exists"; }
    continue
  fi
  # Traced as ldd -r traces (the loader given the file, LD_WARN and
  # LD_BIND_NOW set; --list alone reports no symbols): versions and symbols too.
  out=$(timeout 10 env LD_TRACE_LOADED_OBJECTS=1 LD_WARN=yes LD_BIND_NOW=yes "$LDSO" "$f" 2>&1) &&
    ! grep -qE "not found|undefined symbol" <<<"$out" && {
    disagree=$((disagree + 1)); echo "  the real loader loads $f"; }
done < "$W/broken"
check "check /: the real loader agrees on each of $judged host files with an error ($disagree disagree)" test "$disagree" = 0
errors=$(jq -r 'select(.summary != null) | .summary.errors' "$LIVE" 2>/dev/null | tail -1)
check "check /: exit 1 exactly when it reports errors (exit $rc, ${errors:-?} errors)" \
  test "$([ "${errors:-0}" -gt 0 ] && echo 1 || echo 0)" = "$rc"
echo "# check /: $(wc -l < "$W/broken") host files with errors, each confirmed by $LDSO traced as ldd -r; summary: $(tail -1 "$LIVE")"
finish
