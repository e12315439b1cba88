#!/usr/bin/env bash
# Staging for a package builder: a small CMake project (a program and its
# C++ library in a private directory) cross-built for riscv64, installed
# with DESTDIR, staged with `xpatch-hook stage`, copied into a root that
# holds riscv64's glibc and libstdc++, and run there chrooted under
# qemu-riscv64 with no -L. Staging into a root that is not set up names the
# missing step and writes nothing; --setup does it.
#
#   stage.sh XPATCH BUILD_DIR
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/pm_lib.sh"
set +e
export XPATCH=$(realpath "$1")
need_root
need_cmd riscv64-linux-gnu-g++ qemu-riscv64 cmake readelf
T=riscv64-linux-gnu
HOOK=$(cd "$HERE/../../scripts/hooks" && pwd)/xpatch-hook
W=$(mktemp -d /tmp/xpatch-stage.XXXXXX)
trap 'rm -rf "$W"' EXIT

# ---- the project ----
S=$W/src; mkdir -p "$S"
cat >"$S/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(greet CXX)
add_library(greet SHARED greet.cpp)
add_executable(hello main.cpp)
target_link_libraries(hello PRIVATE greet)
install(TARGETS hello RUNTIME DESTINATION bin)
install(TARGETS greet LIBRARY DESTINATION lib/greet)
CM
cat >"$S/greet.cpp" <<'CPP'
#include <sstream>
#include <string>
std::string greet(const std::string& who) { std::ostringstream o; o << "hello, " << who; return o.str(); }
CPP
cat >"$S/main.cpp" <<'CPP'
#include <iostream>
#include <string>
std::string greet(const std::string& who);
int main() { std::cout << greet("riscv64") << std::endl; }
CPP
t0=$SECONDS
cmake -S "$S" -B "$W/b" -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=riscv64 \
  -DCMAKE_CXX_COMPILER=riscv64-linux-gnu-g++ -DCMAKE_INSTALL_PREFIX=/usr/$T >"$W/cmake.log" 2>&1 &&
  cmake --build "$W/b" >>"$W/cmake.log" 2>&1 && DESTDIR=$W/destdir cmake --install "$W/b" >>"$W/cmake.log" 2>&1
check "the riscv64 project built and installed into DESTDIR ($((SECONDS - t0)) s)" test -x "$W/destdir/usr/$T/bin/hello" ||
  { cat "$W/cmake.log"; finish; exit; }
D=$W/destdir
SUM=$(sha256sum <"$D/usr/$T/bin/hello")

# ---- the root: riscv64's glibc and libstdc++, as their packages install them, and qemu ----
R=$W/root; mkdir -p "$R/usr/$T/lib" "$R/tmp"
for f in ld-linux-riscv64-lp64d.so.1 libc.so.6 libm.so.6 libstdc++.so.6 libgcc_s.so.1; do cp -L "/usr/$T/lib/$f" "$R/usr/$T/lib/"; done
copy_cmds "$R" qemu-riscv64

out=$(XPATCH_ROOT=$R "$HOOK" stage "$D" 2>&1); rc=$?
check "stage into a root not set up: exit 1 ($rc)" test "$rc" = 1
check "stage: names the step: $(head -n 1 <<<"$out")" grep -qF "run \`xpatch setup --tuple $T --root $R --write\` (or pass --setup)" <<<"$out"
check "stage: nothing written" test "$(sha256sum <"$D/usr/$T/bin/hello")" = "$SUM"
out=$(XPATCH_ROOT=$R "$HOOK" stage --setup "$D" 2>&1); rc=$?
echo "$out" | sed 's/^/    | /'
check "stage --setup: exit 0 ($rc)" test "$rc" = 0
if grep -q -- --package <<<"$("$XPATCH" check --help 2>&1)"; then
  check "stage: the staged tree checked over the root, nothing broken (check --package)" \
    grep -q "check --package $D in $R: checked .* 0 errors introduced" <<<"$out"
else
  skip "the staged tree's verdict: $XPATCH has no check --package"
fi
check "stage: the program's runpath names where libgreet will be installed" \
  grep -q "/usr/$T/lib/greet" <(readelf -dW "$D/usr/$T/bin/hello")
cp -a "$D/usr" "$R/"
o=$(env -u QEMU_LD_PREFIX chroot "$R" /usr/bin/qemu-riscv64 /usr/$T/bin/hello 2>&1)
check "copied into the root, it runs chrooted under qemu-riscv64, no -L: $o" test "$o" = "hello, riscv64"
"$XPATCH" check "$R" "/usr/$T" >"$W/check.out" 2>&1; rc=$?
check "xpatch check of the root: clean ($rc)" test "$rc" = 0 || tail -n 5 "$W/check.out"
finish
