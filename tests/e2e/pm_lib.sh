# Helpers for the tests with the real package managers (sourced after lib.sh).
# A test that cannot run here exits 77 (CTest's SKIP_RETURN_CODE).
skip_all() { echo "SKIP: $*"; exit 77; }   # the whole test cannot run here (lib.sh's skip counts one case)
need_root() { [ "$(id -u)" = 0 ] || skip_all "needs root (chroot, package managers writing a root)"; }
need_cmd() { local c; for c in "$@"; do command -v "$c" >/dev/null || skip_all "$c is not installed (scripts/setup installs it)"; done; }

# copy_cmds ROOT CMD...: each program (found on PATH) and the shared
# libraries it loads, at the same paths in ROOT, with the host's loader.
copy_cmds() {
  local R=$1 c p lib; shift
  for c in "$@"; do
    p=$(command -v "$c") || { echo "copy_cmds: no $c" >&2; return 1; }
    mkdir -p "$R$(dirname "$p")"; cp -L "$p" "$R$p"
    while read -r lib; do
      [ -e "$R$lib" ] && continue
      mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"
    done < <(ldd "$p" 2>/dev/null | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}')
  done
  # merged /usr: /lib64, /lib and /bin as the host has them
  for l in lib64 lib bin sbin; do
    [ -L "/$l" ] && [ ! -e "$R/$l" ] && ln -s "$(readlink "/$l")" "$R/$l"
  done
  return 0
}

# install_xpatch ROOT BUILD: xpatch's own install rules into ROOT
# (DESTDIR=ROOT cmake --install BUILD --prefix /usr), and the libraries the
# xpatch program loads that ROOT lacks.
install_xpatch() {
  local R=$1 B=$2
  DESTDIR=$R cmake --install "$B" --prefix /usr >/dev/null
  xpatch_libs "$R"
}
# xpatch_libs ROOT: the host's copies of the libraries ROOT/usr/bin/xpatch
# and its modules (the archive reader's decompressors) load that ROOT lacks
# (an Arch package built here links Debian's libfmt).
xpatch_libs() {
  local R=$1 lib
  while read -r lib; do
    [ -e "$R$lib" ] || { mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; }
  done < <(for f in "$R/usr/bin/xpatch" "$R"/usr/lib/xpatch/*.so; do [ -e "$f" ] && ldd "$f"; done |
           awk '/=> \//{print $3}' | sort -u)
}

# hook_tools ROOT: what xpatch-hook needs to run chrooted in ROOT, and qemu-aarch64.
hook_tools() {
  copy_cmds "$1" env bash sort tr cat mktemp find rm mkdir cp sed dirname basename tail head grep cut readlink ln touch mv rmdir \
    tar dpkg-deb bsdtar qemu-aarch64
}

# An aarch64 C++ program, as a cross compiler builds it: PT_INTERP
# /lib/ld-linux-aarch64.so.1, no runpath, libstdc++ from the tuple's lib.
build_cxx_prog() {  # OUT
  cat >"$1.cpp" <<'CPP'
#include <iostream>
#include <string>
#include <vector>
int main() {
  std::vector<std::string> words{"xpatch", "c++", "ok"};
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  std::cout << out << std::endl;
}
CPP
  aarch64-linux-gnu-g++ -O1 -o "$1" "$1.cpp"
}
