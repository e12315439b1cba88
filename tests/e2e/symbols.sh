#!/usr/bin/env bash
# xpatch check's symbol rules against the real loaders, on the ten fixture
# targets: programs linked against libsym.so are run against libsym-lost.so
# (a version node, two functions gone, an array grown), and against
# libsym.so itself; libsib-needs.so's symbol comes from a sibling (the
# program, another library) or from nothing, and such programs are checked
# together in one run, in both orders. glibc: ld.so's trace mode with LD_BIND_NOW=1 LD_WARN=1
# (what ldd -r does) and the program itself; musl: the program itself.
# symbols_oracle.py compares the verdicts; docs/check.md has the rules.
#
#   symbols.sh XPATCH FIXTURES_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
XPATCH=$1
FX=$2
W=$(mktemp -d /tmp/xpatch-symbols.XXXXXX)
trap 'rm -rf "$W"' EXIT
[ -e "$FX/x86_64/libsym-lost.so" ] || { echo "symbols.sh: $FX has no symbol fixtures (run fixtures.build)"; exit 77; }

agree() {  # WHAT TARGET PROG [RUN_JSON]: check --json agrees with the real loader
  # (RUN_JSON: PROG's report is taken from that run of several files)
  local what=$1 t=$2 p=$3 run_json=${4:-} q L fam=glibc rc=0
  q=$(qemu_for "$t")
  L=$(tuple_loader "$t")
  [ "${t%-musl}" != "$t" ] && fam=musl
  if [ $fam = glibc ]; then
    if [ -n "$q" ]; then
      env -u QEMU_LD_PREFIX "$q" -E LD_TRACE_LOADED_OBJECTS=1 -E LD_BIND_NOW=1 -E LD_WARN=1 "$L" "$p" >"$W/trace" 2>&1 || true
      env -u QEMU_LD_PREFIX "$q" -E LD_WARN=1 "$p" >"$W/run" 2>&1 || rc=$?
    else
      LD_TRACE_LOADED_OBJECTS=1 LD_BIND_NOW=1 LD_WARN=1 "$L" "$p" >"$W/trace" 2>&1 || true
      LD_WARN=1 "$p" >"$W/run" 2>&1 || rc=$?
    fi
  else
    : >"$W/trace"
    run_target "$t" "$p" >"$W/run" 2>&1 || rc=$?
  fi
  if [ -n "$run_json" ]; then
    python3 -c 'import json, sys
for l in open(sys.argv[1]):
    if json.loads(l).get("file") == sys.argv[2]: print(l, end="")' "$run_json" "$p" >"$W/check.json"
    [ -s "$W/check.json" ] || { bad "$what: no report for $p"; return; }
  else
    "$XPATCH" check --json / "$p" >"$W/check.json" || true
  fi
  if python3 "$HERE/symbols_oracle.py" $fam "$W/trace" "$W/run" "$rc" "$W/check.json" >"$W/oracle.txt"; then ok "$what"
  else bad "$what"; cat "$W/trace" "$W/run" "$W/oracle.txt"; grep -o '"code":"[^"]*","object":"[^"]*","subject":"[^"]*"' "$W/check.json" || true; fi
}
codes() {  # PROG -> the finding codes check reports, sorted
  "$XPATCH" check --json / "$1" | python3 -c '
import json, sys
print(" ".join(sorted({f["code"] for l in sys.stdin for f in json.loads(l).get("findings", [])})))'
}
APPS="now lazy ver verweak copy uniq"

# SYMBOLS_TARGETS: a subset, to try a broken rule quickly.
for T in ${SYMBOLS_TARGETS:-x86_64 i686 aarch64 armhf riscv64 ppc64le s390x powerpc x86_64-musl aarch64-musl}; do
  L=$(tuple_loader "$T")
  musl=false; [ "${T%-musl}" != "$T" ] && musl=true
  for v in good lost; do
    D=$W/$T/$v && mkdir -p "$D"
    if [ $v = good ]; then cp "$FX/$T/libsym.so" "$D/libsym.so"; else cp "$FX/$T/libsym-lost.so" "$D/libsym.so"; fi
    for a in $APPS; do
      cp "$FX/$T/app-sym-$a" "$D/"
      "$XPATCH" --interp "$L" --runpath "$(dirname "$L"):$D" "$D/app-sym-$a"
    done
  done
  G=$W/$T/good X=$W/$T/lost
  for a in $APPS; do
    agree "$T: app-sym-$a with libsym.so: check agrees with the loader" "$T" "$G/app-sym-$a"
    agree "$T: app-sym-$a with libsym-lost.so: check agrees with the loader" "$T" "$X/app-sym-$a"
  done
  check "$T: every program is clean with the library it was linked against" \
    test -z "$(for a in $APPS; do codes "$G/app-sym-$a"; done)"
  # One expectation per rule, so a broken rule fails here even where the
  # loader could not run.
  check "$T: -z now, a lost function: symbol-missing" test "$(codes "$X/app-sym-now")" = symbol-missing
  if $musl; then
    check "$T: lazy PLT, a lost function: musl binds at load (symbol-missing)" \
      test "$(codes "$X/app-sym-lazy")" = symbol-missing
    check "$T: a lost version node: musl has no versions (symbol-missing for the function)" \
      test "$(codes "$X/app-sym-ver")" = symbol-missing
    check "$T: a weak version need: nothing (the reference is weak)" test -z "$(codes "$X/app-sym-verweak")"
    check "$T: a COPY relocation of another size: musl copies without a word" test -z "$(codes "$X/app-sym-copy")"
  else
    check "$T: lazy PLT, a lost function: symbol-missing-lazy only" \
      test "$(codes "$X/app-sym-lazy")" = symbol-missing-lazy
    check "$T: a lost version node: version-missing" \
      bash -c "'$XPATCH' check --json / '$X/app-sym-ver' | grep -q '\"code\":\"version-missing\"'"
    check "$T: a weak version need: version-missing-weak only" \
      test "$(codes "$X/app-sym-verweak")" = version-missing-weak
    if readelf -rW "$X/app-sym-copy" | grep -q '_COPY .*sym_data'; then
      check "$T: a COPY relocation of another size: copy-size-changed" \
        test "$(codes "$X/app-sym-copy")" = copy-size-changed
    else  # ppc64le reaches the data through its TOC: no COPY relocation
      check "$T: no COPY relocation, nothing to warn about" test -z "$(codes "$X/app-sym-copy")"
    fi
  fi
  check "$T: STB_GNU_UNIQUE and protected definitions are found" test -z "$(codes "$X/app-sym-uniq")"
  check "$T: --no-symbols: only the files are checked" \
    bash -c "'$XPATCH' check --no-symbols -q / '$X/app-sym-now' >/dev/null"

  # A library whose symbol a sibling defines. Its closure (itself, libc,
  # the loader) is the same in every program that loads it, but a program
  # without the sibling must still get symbol-missing: one run checks the
  # programs in order (-j1), the one without the sibling after each of the
  # others, then first.
  if [ ! -e "$FX/$T/app-sib-none" ]; then skip "$T: $FX has no libsib fixtures (run fixtures.build)"; continue; fi
  S=$W/$T/sib && mkdir -p "$S"
  cp "$FX/$T/libsib-needs.so" "$FX/$T/libsib-def.so" "$S/"
  for a in self lib none; do
    cp "$FX/$T/app-sib-$a" "$S/"
    "$XPATCH" --interp "$L" --runpath "$(dirname "$L"):$S" "$S/app-sib-$a"
  done
  for order in "self none" "lib none" "none lib self"; do
    progs=(); for a in $order; do progs+=("$S/app-sib-$a"); done
    "$XPATCH" check --json -j1 / "${progs[@]}" >"$W/run.json" || true
    for a in $order; do
      agree "$T: app-sib-$a checked in the order $order: check agrees with the loader" "$T" "$S/app-sib-$a" "$W/run.json"
    done
    check "$T: order $order: the program without the sibling: symbol-missing for sib_foo" \
      bash -c "grep '\"file\":\"$S/app-sib-none\"' '$W/run.json' | grep -q '\"code\":\"symbol-missing\",\"object\":\"$S/libsib-needs.so\",\"subject\":\"sib_foo\"'"
  done
done
finish
