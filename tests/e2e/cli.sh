#!/usr/bin/env bash
# The command line as a user meets it (issue 18): JSON that is always valid
# UTF-8, the same options and words across subcommands, parser messages
# without CLI11 artifacts, did-you-mean, risky edits that warn.
# Usage: cli.sh XPATCH FIXTURES
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1 FX=$2
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# valid_jsonl FILE: every line is JSON whose bytes are strict UTF-8.
valid_jsonl() {
  python3 -c '
import json, sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")  # strict: raises on any invalid byte
lines = [l for l in text.split("\n") if l]
for l in lines: json.loads(l)
sys.exit(0 if lines else 1)' "$1"
}

# ---- JSON: one path, valid UTF-8 whatever the bytes (issue 15 item 5) ----
cp "$FX/x86_64/app-pie" "$W/app"
LATIN1=$'\xe9t\xe9'  # "été" in Latin-1: not UTF-8
cp "$FX/x86_64/app-pie" "$W/$LATIN1"
set +e
"$XPATCH" --json --runpath /opt/x "$W/$LATIN1" >"$W/latin1.json" 2>"$W/latin1.err"; rc=$?
set -e
check "patch --json on a Latin-1 file name: exit 0, no abort (rc $rc)" test "$rc" = 0
check "patch --json on a Latin-1 file name: valid UTF-8 JSON" valid_jsonl "$W/latin1.json"
check "patch --json on a Latin-1 file name: the bytes become U+FFFD" grep -q $'\xef\xbf\xbdt\xef\xbf\xbd' "$W/latin1.json"
"$XPATCH" show --json "$W/$LATIN1" >"$W/show-latin1.json" || true
check "show --json on a Latin-1 file name: valid UTF-8 JSON" valid_jsonl "$W/show-latin1.json"

"$XPATCH" --add-needed $'lib\xff.so' --runpath $'/opt/\xfe' "$W/app"
"$XPATCH" show --json "$W/app" >"$W/ff.json" || true
check "show --json: byte 0xff in a DT_NEEDED and 0xfe in DT_RUNPATH give valid UTF-8 JSON" valid_jsonl "$W/ff.json"
mkdir -p "$W/root/bin"
cp "$W/app" "$W/root/bin/app"
"$XPATCH" check --json "$W/root" >"$W/check-ff.json" || true
check "check --json: byte 0xff in a DT_NEEDED gives valid UTF-8 JSON" valid_jsonl "$W/check-ff.json"

# expect CODE PATTERN CMD...: exit CODE and PATTERN (grep -E) in stdout+stderr.
expect() {
  local code=$1 pat=$2; shift 2
  local out rc
  set +e; out=$("$@" 2>&1); rc=$?; set -e
  if [ "$rc" = "$code" ] && grep -Eq -- "$pat" <<<"$out"; then return 0; fi
  echo "  got exit $rc: $(head -c 600 <<<"$out")"
  return 1
}

# ---- parser artifacts and typos (item 6) ----
for sub in "" show check retarget setup; do
  help=$("$XPATCH" $sub --help 2>&1)
  check "help ${sub:-(patch)}: no CLI11 artifact (ENUM, 'value in {', '->' maps)" \
    bash -c '! grep -Eq "ENUM|value in \{|OR \{|[a-z]->[0-9]|\{1,0,2\}|Excludes:|Needs:| TEXT( |$)" <<<"$1"' _ "$help"
  check "help ${sub:-(patch)}: --color auto|always|never" grep -q -- "--color auto|always|never" <<<"$help"
done
check "--color=2 is refused" expect 2 "auto, always or never" "$XPATCH" show --color=2 "$FX/x86_64/app-pie"
check "--color never is accepted" expect 0 "interpreter" "$XPATCH" show --color never "$FX/x86_64/app-pie"
check "did you mean: --jsn -> --json (show)" \
  expect 2 '^xpatch: unknown option `--jsn` for show; did you mean `--json`\?' "$XPATCH" show --jsn "$FX/x86_64/app-pie"
check "did you mean: --jsn -> --json (patch)" \
  expect 2 'unknown option `--jsn`; did you mean `--json`\?' "$XPATCH" --jsn --runpath /x "$W/app"
check "did you mean: --ignore-mising -> --ignore-missing (check)" \
  expect 2 'did you mean `--ignore-missing`' "$XPATCH" check --ignore-mising 'x' /
check "did you mean: shwo -> show" expect 2 'unknown subcommand `shwo`; did you mean `show`\?' "$XPATCH" shwo "$W/app"
check "xpatch FILE with no edit says what to do" expect 2 "no edit given for .*xpatch show" "$XPATCH" "$W/app"
check "-- ends the options (not an unknown option)" expect 0 "" "$XPATCH" --runpath /opt/x -- "$W/app"
check "--set-rpath is not an alias of --rpath in the main CLI" expect 2 "set-rpath.*--runpath" "$XPATCH" --set-rpath /x "$W/app"

# ---- options that match across subcommands (item 5) ----
check "setup takes ROOT as an argument and --dry-run" \
  expect 1 "missing" "$XPATCH" setup --tuple aarch64-linux-musl --dry-run "$W"
check "check takes --root" expect 0 "checked 1 ELF file" "$XPATCH" check --root / "$FX/x86_64/libfoo.so"
printf '#!/bin/sh\n' >"$W/notelf"
check "show --stdin -0 -q --format (scanelf -F style)" bash -c "
  printf '%s\0%s\0' '$FX/x86_64/app-pie' '$W/notelf' | \"\$0\" show --stdin -0 -q --format '%f|%a|%i|%n' >'$W/fmt.out' 2>'$W/fmt.err'
  test \$? = 1 && test ! -s '$W/fmt.err' && grep -qx 'app-pie|x86_64|/lib64/ld-linux-x86-64.so.2|libfoo.so,libc.so.6' '$W/fmt.out'" "$XPATCH"
check "show -1: one line per file" bash -c "test \$(\"\$0\" show -1 '$FX/x86_64' | wc -l) = \$(ls '$FX/x86_64' | grep -v env | wc -l)" "$XPATCH"
check "retarget takes -j and --write" expect 0 "skipped" \
  "$XPATCH" retarget --tuple aarch64-linux-gnu --root / -j 2 --write "$FX/x86_64/app-pie"
check "retarget --dry-run and --write together are refused" expect 2 "exclude each other" \
  "$XPATCH" retarget --tuple aarch64-linux-gnu --root / --dry-run --write "$FX/x86_64/app-pie"

# ---- check: paths however ROOT is spelled (item 7) ----
mkdir -p "$W/c/root/bin"
cp "$FX/x86_64/libfoo.so" "$W/c/root/bin/libfoo.so"
cd "$W/c"  # not a subshell: the counts must survive
check "check ./root root/bin/libfoo.so" expect 1 "checked 1 ELF file" "$XPATCH" check ./root root/bin/libfoo.so
check "check root /abs/root/bin/libfoo.so" expect 1 "checked 1 ELF file" "$XPATCH" check root "$W/c/root/bin/libfoo.so"
check "check root /bin/libfoo.so (in-root path)" expect 1 "checked 1 ELF file" "$XPATCH" check root /bin/libfoo.so
check "check root bin/libfoo.so (relative to ROOT)" expect 1 "checked 1 ELF file" "$XPATCH" check root bin/libfoo.so
check "a missing file is an error, not counted as checked" expect 1 "checked 0 ELF files" "$XPATCH" check root /bin/nothing
cd - >/dev/null

# ---- check: findings grouped by cause, with a remedy (item 3, 4) ----
mkdir -p "$W/g"
for n in a b c; do cp "$FX/x86_64/app-norunpath" "$W/g/$n"; done
expect 1 . "$XPATCH" check / "$W/g" >/dev/null
"$XPATCH" check / "$W/g" >"$W/grouped.txt" 2>&1 || true
check "check: one cause, one group: libfoo.so in 3 files" grep -q "libfoo.so: needed-missing, in 3 files" "$W/grouped.txt"
check "check: the group is said once" test "$(grep -c 'libfoo.so' "$W/grouped.txt")" -le 2
check "check: each group says what to do" grep -q "fix: install the library in ROOT" "$W/grouped.txt"
mkdir -p "$W/b"
cp "$FX/x86_64/app-norunpath" "$FX/x86_64/libfoo.so" "$W/b/"
check "check: a library beside the program that the loader does not search says why" \
  expect 1 "a libfoo.so is beside it in .*does not search a file's own directory.*--add-runpath '\\\$ORIGIN'" "$XPATCH" check / "$W/b/app-norunpath"
codes=$(sed -n 's/^| `\([a-z-]*\)` | \(error\|warning\|info\).*/\1/p' "$HERE/../../docs/check.md")
check "docs/check.md lists the finding codes" test "$(wc -w <<<"$codes")" -ge 20
for c in $codes; do
  check "check --explain $c: a remedy of its own" expect 0 "^$c: " "$XPATCH" check --explain "$c"
done
check "check --explain of an unknown code: a usage error, exit 2" expect 2 "no finding code .no-such-code.*docs/check.md" \
  "$XPATCH" check --explain no-such-code
check "show -F with an unknown directive: a usage error naming it, exit 2" expect 2 "unknown directive %x" \
  "$XPATCH" show -F '%F %x' "$FX/x86_64/app-pie"
check "show -F '%F %%': a literal percent" expect 0 "app-pie %$" "$XPATCH" show -F '%F %%' "$FX/x86_64/app-pie"
check "check --help: no CLI11 default shown for --no-symbols" bash -c '! "$0" check --help | grep -q "no-symbols{"' "$XPATCH"
check "check -v: per file" test "$("$XPATCH" check -v / "$W/g" | grep -c 'error *needed-missing')" = 3
check "check -v: the remedy once per code" test "$("$XPATCH" check -v / "$W/g/a" | grep -c '^  fix (needed-missing): install')" = 1
check "check -v: a searched list names each candidate once" bash -c "
  out=\$(\"\$0\" check -v / '$W/g/a' | grep 'error *needed-missing') || exit 1
  ! tr ' ' '\n' <<<\"\$out\" | grep '^/' | sed 's/,\$//' | sort | uniq -d | grep -q ." "$XPATCH"
check "check -q: only errors and the summary" bash -c "! \"\$0\" check -q / '$W/g' | grep -q '^warning'" "$XPATCH"
check "check --ignore-missing: exit 0, counted as ignored" \
  expect 0 "3 ignored" "$XPATCH" check --ignore-missing 'libfoo*' / "$W/g"
check "check --list: every file loaded, once per line (like lddtree -l)" bash -c "
  \"\$0\" check --list / '$FX/x86_64/libfoo.so' | grep -q '^/.*/libc.so.6\$'" "$XPATCH"
mkdir -p "$W/t/usr/lib"
cp "$FX/x86_64/app-pie" "$W/t/app"
check "check --tree: libc is listed once, not under every node" bash -c "
  test \$(\"\$0\" check --tree / '$W/t/app' | grep -c 'libc.so.6 =>') -le 1" "$XPATCH"

# ---- retarget: stages where ROOT has nothing yet; one cause said once (item 2, 3) ----
if [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
  mkdir -p "$W/st/bin"
  cp "$FX/aarch64/app-pie" "$FX/aarch64/libfoo.so" "$W/st/bin/"
  check "retarget --stage DIR=/opt/x where ROOT has no /opt/x" expect 0 "retarget 2 files|would retarget 2 files" \
    "$XPATCH" retarget --tuple aarch64-linux-gnu --root / --stage "$W/st=/opt/xpatch-no-such-dir/x" --dry-run "$W/st"
else
  echo "skip - no aarch64 cross glibc on this host"
fi
mkdir -p "$W/empty-root" "$W/st2/bin"
for n in a b c d; do cp "$FX/aarch64/app-norunpath" "$W/st2/bin/$n"; done
cp "$FX/aarch64/libfoo.so" "$W/st2/bin/"
"$XPATCH" retarget --tuple aarch64-linux-gnu --root "$W/empty-root" --stage "$W/st2=/usr/aarch64-linux-gnu" \
  --dry-run "$W/st2" >"$W/nolibc.txt" 2>&1 || true
check "retarget without the tuple's libc: the cause once" grep -q "no aarch64 glibc in" "$W/nolibc.txt"
check "retarget without the tuple's libc: not one line per file" test "$(grep -c 'libc.so.6' "$W/nolibc.txt")" -le 1

# ---- risky edits (item 9) ----
cp "$FX/aarch64/app-pie" "$W/risky"
cp "$W/risky" "$W/risky.orig"
check "a relative --interp warns" expect 0 "warning: .*relative" "$XPATCH" --interp lib/ld-linux-aarch64.so.1 "$W/risky"
cp "$W/risky.orig" "$W/risky"
check "a musl loader on a glibc binary is refused" expect 2 "other libc's loader.*cannot run.*--force" \
  "$XPATCH" --interp /lib/ld-musl-aarch64.so.1 "$W/risky"
check "... and the file is unchanged" cmp -s "$W/risky" "$W/risky.orig"
check "an armhf loader on an aarch64 binary is refused" expect 2 "another architecture.*cannot run" \
  "$XPATCH" --interp /lib/ld-linux-armhf.so.3 "$W/risky"
check "... and the file is unchanged" cmp -s "$W/risky" "$W/risky.orig"
check "--force writes it, with a warning" expect 0 "warning: .*--force" \
  "$XPATCH" --force --interp /lib/ld-linux-armhf.so.3 "$W/risky"
check "the right loader is accepted silently" bash -c "cp '$W/risky.orig' '$W/risky'; test -z \"\$(\"\$0\" --interp /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 '$W/risky' 2>&1)\"" "$XPATCH"

# ---- an empty value is a value (reviewer, 2026-11-30) ----
# `--runpath=` set the NEXT file's runpath to the previous file's name, and
# `--add-needed=` made one file need another: CLI11 took the next argument as
# the value. An empty runpath is a value (it clears the path); an empty
# library name, soname or interpreter names nothing and is refused.
cp "$FX/x86_64/app-pie" "$W/ea"; cp "$FX/x86_64/app-pie" "$W/eb"
check "--runpath= A B: exit 0" "$XPATCH" --runpath= "$W/ea" "$W/eb"
for f in ea eb; do
  check "--runpath= A B: $f gets an empty runpath, not a file name" \
    bash -c "readelf -d '$W/$f' | grep -q 'Library runpath: \[\]$'"
done
cp "$FX/x86_64/app-pie" "$W/ea"; cp "$FX/x86_64/app-pie" "$W/eb"; cp "$W/eb" "$W/eb.orig"
check "--add-needed= A B is refused, naming DT_NEEDED" expect 2 "DT_NEEDED: an empty library name" \
  "$XPATCH" --add-needed= "$W/ea" "$W/eb"
check "... and B is unchanged" cmp -s "$W/eb" "$W/eb.orig"
check "--add-needed '' is refused too" expect 2 "DT_NEEDED: an empty library name" "$XPATCH" --add-needed '' "$W/eb"
check "--soname= is refused" expect 2 "DT_SONAME: an empty soname" "$XPATCH" --soname= "$W/eb"
check "--interp= is refused" expect 2 "PT_INTERP: an empty interpreter" "$XPATCH" --interp= "$W/eb"
check "--replace-needed libc.so.6= is refused" expect 2 "OLD=NEW" \
  "$XPATCH" --replace-needed libc.so.6= "$W/eb"
check "... and B is still unchanged" cmp -s "$W/eb" "$W/eb.orig"
check "show --json= (a flag) still works" expect 0 '"schema"' "$XPATCH" show --json= "$W/eb"

# ---- a removed DT_NEEDED that DT_VERNEED still names (reviewer, 2026-11-30) ----
# glibc aborts ("needed != NULL") only when no loaded object is that library:
# --verify refused removing libc.so.6, which libver.so.1 still loads (it
# runs), and without --verify removing libver.so.1 said nothing (it aborts).
mkdir -p "$W/vn" && cp "$FX/x86_64/app-ver" "$FX/x86_64/libver.so.1" "$W/vn/"
cp "$W/vn/app-ver" "$W/vn/a1"
check "--remove-needed libc.so.6 --verify: exit 0, with a warning naming it" \
  expect 0 "warning: .*DT_VERNEED still names libc.so.6" "$XPATCH" --remove-needed libc.so.6 --verify --runpath '$ORIGIN' "$W/vn/a1"
check "... and the program runs (libver.so.1 loads libc.so.6)" test "$("$W/vn/a1" 2>&1)" = "xpatch-fixture: foo=42"
cp "$W/vn/app-ver" "$W/vn/a2"
check "--remove-needed libver.so.1: a warning naming it" \
  expect 0 "warning: .*DT_VERNEED still names libver.so.1" "$XPATCH" --remove-needed libver.so.1 --runpath '$ORIGIN' "$W/vn/a2"
check "... which the real loader bears out: the program aborts" bash -c '! "$0" >/dev/null 2>&1' "$W/vn/a2"

# ---- a static PIE has no loader to read a search path (reviewer, 2026-11-30) ----
# With a runpath added it passed --verify and check, then crashed (SIGSEGV).
if printf 'int main(void){return 0;}\n' >"$W/sp.c" && gcc -static-pie -o "$W/sp" "$W/sp.c" 2>/dev/null; then
  cp "$W/sp" "$W/sp.orig"
  for opt in "--runpath /nowhere" "--rpath /nowhere" "--add-needed libm.so.6"; do
    check "static PIE: $opt is refused, naming PT_INTERP" expect 2 "PT_INTERP: there is none.*static PIE" \
      "$XPATCH" $opt "$W/sp"
  done
  check "... and the static PIE is unchanged and still runs" bash -c "cmp -s '$W/sp' '$W/sp.orig' && '$W/sp'"
else
  skip "static PIE cases: gcc -static-pie cannot link here"
fi

finish
