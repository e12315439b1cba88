#!/usr/bin/env bash
# check --package --retarget-preview against retarget itself. Each case
# builds .debs with dpkg-deb from the aarch64 fixtures, asks check --package
# --retarget-preview --json what retarget would change once they are
# installed, then unpacks the same .debs (dpkg-deb -x) and asks `retarget
# --dry-run --json` of the unpacked copy, staged at /usr/<tuple> over the
# same root: the two must agree file by file (status, interpreter and
# runpath before and after, where each DT_NEEDED was found, what is
# unresolved, why, the growth). Cases: a package whose programs and library
# need retargeting, one that needs nothing (already retargeted), one whose
# program needs a library found nowhere, and two packages at once.
# FORM: `deb` gives the archives, `dir` the unpacked trees.
#
#   retarget_preview.sh XPATCH FIXTURES_DIR deb|dir
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1
FX=$2
FORM=${3:-deb}
F=$FX/aarch64
TU=aarch64-linux-gnu
P=/usr/$TU
L=$P/lib/ld-linux-aarch64.so.1
[ -e "$F/app-norunpath" ] || { echo "skip - retarget_preview.sh: no aarch64 fixtures in $FX"; exit 77; }
[ -e "$L" ] || { echo "skip - retarget_preview.sh: $L is not installed (libc6-arm64-cross)"; exit 77; }
command -v dpkg-deb >/dev/null || { echo "skip - retarget_preview.sh: dpkg-deb is not installed"; exit 77; }
W=$(mktemp -d /tmp/xpatch-rtpreview.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT

# The root: the tuple's glibc, and a libfoo.so already retargeted.
R=$W/root
mkdir -p "$R$P/lib"
cp -L "$L" "$P/lib/libc.so.6" "$R$P/lib/"
cp "$F/libfoo.so" "$R$P/lib/libfoo.so"
"$XPATCH" --runpath $P/lib "$R$P/lib/libfoo.so"


# 1. needs: programs with the default loader and no runpath, a private
#    library they find under lib/priv, a README.
mkdir -p "$W/needs$P/bin" "$W/needs$P/lib/priv" "$W/needs$P/share/doc"
cp "$F/app-norunpath" "$W/needs$P/bin/app"
cp "$F/app-ver" "$W/needs$P/bin/app-ver"
cp "$F/libver.so.1" "$W/needs$P/lib/priv/"
echo hello >"$W/needs$P/share/doc/README"
deb needs
# 2. nothing: a program already retargeted.
mkdir -p "$W/nothing$P/bin"
cp "$F/app-norunpath" "$W/nothing$P/bin/app-right"
"$XPATCH" --interp $L --runpath $P/lib "$W/nothing$P/bin/app-right"
deb nothing
# 3. missing: a program needing a library found nowhere.
mkdir -p "$W/missing$P/bin"
cp "$F/app-ver" "$W/missing$P/bin/app-lost"
deb missing

# preview CASE PKG...: the preview against retarget --dry-run of the unpacked copy.
preview() {
  local c=$1 p args=()
  shift
  rm -rf "$W/$c.unpacked" && mkdir -p "$W/$c.unpacked"
  for p in "$@"; do
    args+=(--package "$(pkgarg "$p")")
    dpkg-deb -x "$W/$p.deb" "$W/$c.unpacked"
  done
  "$XPATCH" check "${args[@]}" --retarget-preview --json "$R" >"$W/$c.json" || true
  "$XPATCH" check "${args[@]}" --retarget-preview "$R" >"$W/$c.txt" 2>&1 || true
  "$XPATCH" retarget --dry-run --json --tuple $TU --root "$R" --stage "$W/$c.unpacked$P=$P" "$W/$c.unpacked$P" \
    >"$W/$c.oracle.json" || true
  if python3 - "$W/$c.json" "$W/$c.oracle.json" >"$W/$c.diff" <<'EOF'
import json, sys
keys = ["status", "ok", "reason", "problems", "interpreter", "new_interpreter", "runpath", "new_runpath", "rpath",
        "found", "unresolved", "ignored", "growth", "error"]
lines = [json.loads(l) for l in open(sys.argv[1])]
ours = {o["path"]: o for o in lines if o.get("preview")}
theirs = {o["path"]: o for o in map(json.loads, open(sys.argv[2])) if "path" in o}
bad = 0
if not ours:
    print("no preview objects"); bad += 1
if set(ours) != set(theirs):
    print("files differ:", sorted(set(ours) ^ set(theirs))); bad += 1
for p in sorted(set(ours) & set(theirs)):
    for k in keys:
        a, b = ours[p].get(k), theirs[p].get(k)
        if k == "error" and a and b:
            a, b = a["kind"], b["kind"]  # the messages name the file as each was given
        if a != b:
            print(f"{p}: {k}: preview {a!r}, retarget {b!r}"); bad += 1
# The summary's counts are retarget's.
summ = [o for o in lines if "summary" in o][-1]["summary"]["retarget_preview"]
rs = [o for o in map(json.loads, open(sys.argv[2])) if "summary" in o][-1]["summary"]
mine = [s for s in summ if s["tuple"] == rs["tuple"]]
if len(mine) != 1 or any(mine[0][k] != rs[k] for k in
        ("loader", "loader_present", "retargeted", "already_right", "skipped", "left_as_they_were", "errors")):
    print("summary differs:", summ, rs); bad += 1
sys.exit(1 if bad else 0)
EOF
  then
    ok "$c: the preview is what retarget --dry-run says of the unpacked copy"
  else
    bad "$c: the preview differs from retarget --dry-run of the unpacked copy"
    cat "$W/$c.diff"
  fi
}
# status CASE PATH STATUS: one file's preview status.
status() {
  check "$1: $2 would be '$3'" python3 -c '
import json, sys
st = [o["status"] for o in map(json.loads, open(sys.argv[1])) if o.get("preview") and o["path"] == sys.argv[2]]
sys.exit(0 if st == [sys.argv[3]] else 1)' "$W/$1.json" "$2" "$3"
}

preview needs needs
status needs $P/bin/app retarget
status needs $P/bin/app-ver retarget
status needs $P/lib/priv/libver.so.1 retarget
check "needs: app gets the tuple's loader and runpath" python3 -c '
import json, sys
o = [o for o in map(json.loads, open(sys.argv[1])) if o.get("preview") and o["path"].endswith("/bin/app")][0]
sys.exit(0 if o["new_interpreter"] == sys.argv[2] and o["new_runpath"] == sys.argv[3] else 1)' "$W/needs.json" $L $P/lib
check "needs: app-ver finds libver.so.1 in the package's lib/priv" \
  grep -q "needs libver.so.1 *found in $P/lib/priv" "$W/needs.txt"
check "needs: the README is not a retarget target" bash -c "! grep -q README '$W/needs.json'"
check "needs: the human output says what would change" \
  bash -c "grep -q 'PT_INTERP   /lib/ld-linux-aarch64.so.1 -> $L' '$W/needs.txt' && grep -q 'retarget preview for $TU: 3 would be retargeted' '$W/needs.txt'"

preview nothing nothing
status nothing $P/bin/app-right already-right
check "nothing: the human output says nothing would change" \
  grep -q "retarget preview for $TU: 0 would be retargeted, 1 already right" "$W/nothing.txt"

preview missing missing
status missing $P/bin/app-lost unresolved

preview both needs nothing
status both $P/bin/app retarget
status both $P/bin/app-right already-right

# Nothing was written: the archives and the trees are as built.
check "nothing written: the unpacked tree's program is as built" cmp "$F/app-norunpath" "$W/needs.stage$P/bin/app"

# Without --retarget-preview, no preview; without --package, a usage error.
"$XPATCH" check --package "$(pkgarg needs)" --json "$R" >"$W/plain.json" || true
check "without --retarget-preview: no preview objects" bash -c "! grep -q '\"preview\"' '$W/plain.json'"
rc=0; "$XPATCH" check --retarget-preview "$R" >/dev/null 2>&1 || rc=$?
check "--retarget-preview without --package: exit 2 (got $rc)" test "$rc" = 2

finish
