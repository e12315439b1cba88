#!/usr/bin/env bash
# xpatch setup: in a shared root, programs that were NOT retargeted (PT_INTERP
# /lib/<loader>, no runpath) fail to start; after `setup --write` they run,
# chrooted, under qemu-user without -L, and `xpatch check` agrees. The binfmt
# line matches exactly the fixtures of its architecture. Nothing is replaced,
# a second run changes nothing, and nothing is written outside the root.
#
#   setup.sh XPATCH FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
set +e  # exit codes are what these tests look at
XPATCH=$(realpath "$1")
FX=$(realpath "$2")
W=$(mktemp -d /tmp/xpatch-setup.XXXXXX)
trap 'rm -rf "$W"' EXIT
digest() { (cd "$1" && find . -printf '%p %y %l %s\n' | sort && find . -type f -exec sha256sum {} + | sort) | sha256sum; }
run_in() {  # ROOT CMD...: chrooted, without QEMU_LD_PREFIX
  env -u QEMU_LD_PREFIX chroot "$@" 2>&1
}
needs_root "chroot"

# ---- a shared root: qemu with the host libs it needs, four tuples' libcs ----
R=$W/root
mkdir -p "$R/usr/bin" "$R/lib64" "$R/etc"
ln -s usr/lib "$R/lib"
for q in qemu-aarch64 qemu-riscv64; do
  cp "$(command -v $q)" "$R/usr/bin/"
  ldd "$(command -v $q)" | awk '/=> \//{print $3}' | while read -r lib; do
    dest=$R$(realpath -s "$lib" | sed 's|^/lib/|/usr/lib/|'); mkdir -p "$(dirname "$dest")"; [ -e "$dest" ] || cp "$(realpath "$lib")" "$dest"
  done
done
cp "$(realpath /lib64/ld-linux-x86-64.so.2)" "$R/lib64/ld-linux-x86-64.so.2"
for t in aarch64-linux-gnu riscv64-linux-gnu; do mkdir -p "$R/usr/$t"; cp -a "/usr/$t/lib" "$R/usr/$t/lib"; done
for a in aarch64 x86_64; do
  mkdir -p "$R/usr/$a-linux-musl/lib"
  cp "/usr/lib/$a-linux-musl/libc.so" "$R/usr/$a-linux-musl/lib/libc.so"
  ln -s libc.so "$R/usr/$a-linux-musl/lib/ld-musl-$a.so.1"
done
declare -A TUPLE=([aarch64]=aarch64-linux-gnu [riscv64]=riscv64-linux-gnu
                  [aarch64-musl]=aarch64-linux-musl [x86_64-musl]=x86_64-linux-musl)
declare -A QEMU=([aarch64]=/usr/bin/qemu-aarch64 [riscv64]=/usr/bin/qemu-riscv64
                 [aarch64-musl]=/usr/bin/qemu-aarch64 [x86_64-musl]=)
TS="aarch64 riscv64 aarch64-musl x86_64-musl"
for t in $TS; do
  P=/usr/${TUPLE[$t]}
  mkdir -p "$R/opt/$t"
  cp "$FX/$t/app-norunpath" "$R/opt/$t/app"        # as built: /lib/<loader>, no runpath
  cp "$FX/$t/libfoo.so" "$R$P/lib/libfoo.so"        # its library, in the tuple's lib dir
  # only the interpreter moved: the loader in PREFIX/lib must find libfoo by its own config
  cp "$FX/$t/app-norunpath" "$R/opt/$t/app-interp"
  L=$("$XPATCH" setup --tuple "${TUPLE[$t]}" --root "$R" --json | python3 -c 'import json,sys; print([json.loads(l) for l in sys.stdin][-1]["summary"]["loader"])')
  "$XPATCH" --interp "$L" "$R/opt/$t/app-interp"
done

# ---- before: the programs cannot start, and check says so ----
for t in $TS; do
  for p in app app-interp; do
    out=$(run_in "$R" ${QEMU[$t]} /opt/$t/$p)
    check "before: $t $p does not run ($(head -1 <<<"$out" | cut -c1-70))" test "$out" != "xpatch-fixture: foo=42"
  done
done
"$XPATCH" check -q --color never "$R" /opt >"$W/check-before.txt"; rc=$?
check "before: check exits 1 ($rc)" test "$rc" = 1
check "before: check names the missing loader of the aarch64 musl app" \
  grep -qE '/opt/aarch64-musl/app\b' "$W/check-before.txt"

# ---- the plan: exit 1, nothing written ----
d0=$(digest "$R")
"$XPATCH" setup --tuple aarch64-linux-musl --root "$R" --color never >"$W/plan.txt"; rc=$?
check "plan: exit 1 while items are missing ($rc)" test "$rc" = 1
check "plan: says nothing was written" grep -q "Nothing written" "$W/plan.txt"
check "plan: four items, each with a why line" test "$(grep -c '^  \[missing\]' "$W/plan.txt")" = 4
check "plan: the root is unchanged" test "$(digest "$R")" = "$d0"

# ---- --write, per tuple ----
for t in $TS; do
  "$XPATCH" setup --tuple "${TUPLE[$t]}" --root "$R" --write --json >"$W/write-$t.json"; rc=$?
  check "write ${TUPLE[$t]}: exit 0 ($rc)" test "$rc" = 0
  check "write ${TUPLE[$t]}: every item created or present" python3 -c '
import json, sys
items = [json.loads(l) for l in open(sys.argv[1])]
s = items.pop()["summary"]
ok = items and all(i["status"] in ("created", "present") for i in items) and s["complete"] and s["loader_present"]
sys.exit(0 if ok else 1)' "$W/write-$t.json"
done
check "write: binfmt entries only for foreign tuples" test -f "$R/etc/binfmt.d/qemu-aarch64.conf" -a -f "$R/etc/binfmt.d/qemu-riscv64.conf" -a ! -e "$R/etc/binfmt.d/qemu-x86_64.conf"
check "write: musl path file in the prefix" test "$(cat "$R/usr/aarch64-linux-musl/etc/ld-musl-aarch64.path")" = /usr/aarch64-linux-musl/lib
check "write: loader link" test "$(readlink "$R/usr/lib/ld-linux-aarch64.so.1")" = /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
check "write: no temporary file left" test -z "$(find "$R" -name '.*.xpatch-*')"

# ---- after: every program runs, the real loaders agree with check ----
for t in $TS; do
  for p in app app-interp; do
    out=$(run_in "$R" ${QEMU[$t]} /opt/$t/$p)
    check "after: $t $p runs chrooted${QEMU[$t]:+ under ${QEMU[$t]##*/}}: $out" test "$out" = "xpatch-fixture: foo=42"
  done
done
"$XPATCH" check -q --color never "$R" /opt >"$W/check-after.txt"; rc=$?
check "after: check exits 0 ($rc: $(tail -1 "$W/check-after.txt"))" test "$rc" = 0

# ---- again: all present, exit 0, nothing changes ----
d1=$(digest "$R")
for t in $TS; do
  "$XPATCH" setup --tuple "${TUPLE[$t]}" --root "$R" --write --color never >"$W/again.txt"; rc=$?
  check "again ${TUPLE[$t]}: exit 0, nothing missing ($rc)" test "$rc" = 0 -a "$(grep -c '^  \[present\]' "$W/again.txt")" -gt 0 -a "$(grep -c '^  \[created\]' "$W/again.txt")" = 0
done
check "again: the root is unchanged" test "$(digest "$R")" = "$d1"

# ---- what is there is never replaced ----
C=$W/conflict
mkdir -p "$C/lib" "$C/usr/aarch64-linux-musl/lib" "$C/etc"
cp "/usr/lib/aarch64-linux-musl/libc.so" "$C/usr/aarch64-linux-musl/lib/ld-musl-aarch64.so.1"
echo "someone else's loader" >"$C/lib/ld-musl-aarch64.so.1"
echo /elsewhere >"$C/usr/aarch64-linux-musl/etc-file"
dc=$(digest "$C")
"$XPATCH" setup --tuple aarch64-linux-musl --root "$C" --write --json >"$W/conflict.json"; rc=$?
check "conflict: exit 1 ($rc)" test "$rc" = 1
check "conflict: the loader link differs, with what is there" python3 -c '
import json, sys
items = [json.loads(l) for l in open(sys.argv[1])][:-1]
link = [i for i in items if i["what"] == "loader-link"][0]
sys.exit(0 if link["status"] == "differs" and "file" in link["existing"] else 1)' "$W/conflict.json"
check "conflict: the other loader's file is untouched" test "$(cat "$C/lib/ld-musl-aarch64.so.1")" = "someone else's loader"
check "conflict: /etc/ld-musl-aarch64.path not written (the /lib loader is not ours)" test ! -e "$C/etc/ld-musl-aarch64.path"
check "conflict: the prefix's path file was created" test -f "$C/usr/aarch64-linux-musl/etc/ld-musl-aarch64.path"

# ---- confined: /etc as an absolute symlink out of the root ----
H=$W/hostile; OUT=$W/outside
mkdir -p "$H$OUT" "$OUT"
ln -s "$OUT" "$H/etc"      # leads to $H$OUT once re-rooted; to the host's $OUT if followed naively
ln -s "$OUT" "$H/lib"
"$XPATCH" setup --tuple aarch64-linux-musl --root "$H" --write --qemu /usr/bin/qemu-aarch64 >/dev/null; rc=$?
check "hostile: exit 0 ($rc)" test "$rc" = 0
check "hostile: nothing written outside the root ($(find "$OUT" -mindepth 1 | wc -l) entries)" test -z "$(find "$OUT" -mindepth 1)"
check "hostile: written inside, where the links lead when re-rooted" \
  test -f "$H$OUT/binfmt.d/qemu-aarch64.conf" -a -L "$H$OUT/ld-musl-aarch64.so.1"
H2=$W/hostile2
mkdir -p "$H2"
ln -s "$OUT" "$H2/etc"     # dangling once re-rooted
"$XPATCH" setup --tuple aarch64-linux-musl --root "$H2" --write >/dev/null 2>"$W/err2.txt"; rc=$?
check "hostile, dangling /etc: exit 2, the path named ($rc: $(head -1 "$W/err2.txt"))" \
  test "$rc" = 2 -a -n "$(grep -F "$H2/etc" "$W/err2.txt")"
check "hostile, dangling /etc: nothing written outside the root" test -z "$(find "$OUT" -mindepth 1)"

# ---- the binfmt line matches exactly its architecture's fixtures ----
"$XPATCH" setup --tuple x86_64-linux-gnu --json --root "$W/empty-root" >/dev/null 2>&1; rc=$?
check "no root: exit 2 ($rc)" test "$rc" = 2
"$XPATCH" setup --tuple sparc-sun-solaris --root "$R" >/dev/null 2>"$W/err.txt"; rc=$?
check "unknown tuple: exit 2 with the tuple named ($rc)" test "$rc" = 2 -a -n "$(grep -F sparc-sun-solaris "$W/err.txt")"
mkdir -p "$W/empty"
for tuple in aarch64-linux-gnu arm-linux-gnueabihf riscv64-linux-gnu powerpc64le-linux-gnu s390x-linux-gnu \
             powerpc-linux-gnu aarch64-linux-musl; do
  "$XPATCH" setup --tuple "$tuple" --root "$W/empty" --json | head -1
done >"$W/binfmt.json"
check "binfmt: each line matches its own architecture's fixtures and no other" python3 - "$W/binfmt.json" "$FX" <<'PY'
import json, os, sys, re
lines = [json.loads(l) for l in open(sys.argv[1])]
def unescape(s):
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", s))
arch_dirs = {"qemu-aarch64": {"aarch64", "aarch64-musl"}, "qemu-arm": {"armhf"}, "qemu-riscv64": {"riscv64"},
             "qemu-ppc64le": {"ppc64le"}, "qemu-s390x": {"s390x"}, "qemu-ppc": {"powerpc"}}
fx = sys.argv[2]
bad = 0
for o in lines:
    assert o["what"] == "binfmt", o
    name, typ, off, magic, mask, interp, flags = o["content"].strip().split(":")[1:]
    magic, mask = unescape(magic), unescape(mask)
    assert typ == "M" and flags == "F" and len(magic) == len(mask) == 20, o["content"]
    for d in sorted(os.listdir(fx)):
        p = os.path.join(fx, d)
        if not os.path.isdir(p) or d == "yaml":
            continue
        for f in sorted(os.listdir(p)):
            if f.endswith(".env"):
                continue
            head = open(os.path.join(p, f), "rb").read(20)
            hit = len(head) == 20 and all((h & m) == g for h, m, g in zip(head, mask, magic))
            if hit != (d in arch_dirs[name]):
                print(f"{name}: {d}/{f}: match={hit}")
                bad += 1
sys.exit(1 if bad else 0)
PY

finish
