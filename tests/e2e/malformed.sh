#!/usr/bin/env bash
# Bad input, whichever command: a clear message naming the file, exit 2,
# never a crash, and the file byte-for-byte unchanged.
# Usage: malformed.sh XPATCH FIXTURES
. "$(dirname "$0")/lib.sh"
XPATCH=$1 FX=$2
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT

expect_error() {  # LABEL FILE CMD...: exit 2, stderr names FILE, FILE unchanged
  local label=$1 file=$2; shift 2
  local before after rc msg
  digest() { if [ -f "$1" ] && [ ! -L "$1" ]; then sha256sum < "$1"; else stat -c '%F %s %Y' "$1" 2>/dev/null || echo none; fi; }
  before=$(digest "$file")
  set +e; msg=$(timeout 20 "$@" 2>&1 >/dev/null); rc=$?; set -e
  after=$(digest "$file")
  if [ "$rc" = 2 ] && [ "$before" = "$after" ] && grep -qF -- "$file" <<<"$msg"; then
    ok "$label: exit 2, unchanged: ${msg%%$'\n'*}"
  else
    bad "$label: exit $rc (want 2), changed=$([ "$before" = "$after" ] && echo no || echo YES), message: $msg"
  fi
}

shopt -s nullglob
bads=("$FX"/yaml/bad-*)
[ ${#bads[@]} -gt 0 ] || { bad "no bad-* fixtures under $FX/yaml"; finish; exit 1; }
for f in "${bads[@]}"; do
  cp "$f" "$W/$(basename "$f")"; g=$W/$(basename "$f")
  expect_error "show $(basename "$f")" "$g" "$XPATCH" show "$g"
  expect_error "show --json $(basename "$f")" "$g" "$XPATCH" show --json "$g"
  expect_error "patch $(basename "$f")" "$g" "$XPATCH" --interp /lib/ld-x.so.1 --runpath /opt/lib "$g"
done
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
