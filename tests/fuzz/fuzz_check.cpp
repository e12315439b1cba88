// libFuzzer target: `xpatch check` (libpatch/resolve + libpatch/check) over
// a small root built from the input in a temporary directory.
//
// Input: records, each a header byte H, a 24-bit little-endian length N and
// N bytes of data (cut short at the end of the input). H & 31 picks a path
// from kPaths, H >> 5 what to put there:
//   0, 4-7  a regular file holding the data (ELF bytes, ld.so.conf text, a
//           musl path file, ...)
//   1       a symbolic link whose target is the data (absolute, relative,
//           "..", loops: anything but NUL)
//   2       a directory
//   3       a symbolic link to another entry of kPaths (data[0] picks it)
// The root lies next to a directory "outside" holding a plausible libc, the
// bait a link climbing with ".." would find.
//
// The harness itself builds the root with *at() calls and O_NOFOLLOW, so a
// hostile link never makes it write outside.
// Properties checked: nothing crashes, leaks or overflows; every path the
// check reports as resolved is canonical (absolute, no ".", "..", "//" or
// symlink in it) and inside the root.
#include <fcntl.h>
#include <limits.h>
#include <sys/types.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "libpatch/check/check.h"

using namespace xpatch;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPaths[32] = {
    "/bin/app",
    "/usr/bin/app",
    "/lib/libfoo.so",
    "/usr/lib/libfoo.so",
    "/lib/libc.so.6",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d/a.conf",
    "/etc/ld-musl-x86_64.path",
    "/etc/ld-musl-aarch64.path",
    "/usr/x86_64-linux-gnu/lib/libfoo.so",
    "/opt/lib/libfoo.so",
    "/lib",
    "/usr/lib",
    "/usr",
    "/etc",
    "/opt/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so",
    "/lib/libc.so",
    "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
    "/usr/aarch64-linux-gnu/lib/libc.so.6",
    "/usr/aarch64-linux-gnu/lib/libfoo.so",
    "/usr/aarch64-linux-musl/lib/libc.so",
    "/usr/aarch64-linux-musl/etc/ld-musl-aarch64.path",
    "/lib/ld-linux-armhf.so.3",
    "/etc/ld.so.cache",
    "/lib/ld-linux-riscv64-lp64d.so.1",
};

const std::string& base_dir() {
  // Made once per process and never freed: the exit handler still needs it.
  static const std::string* dir = [] {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (t ? t : "/tmp")) +
                       "/xpatch-fuzz-check.XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    std::error_code ec;
    fs::create_directories(tmpl + "/outside/lib", ec);
    // Bait for a resolver that follows ".." above the root.
    if (std::FILE* f = std::fopen((tmpl + "/outside/lib/libc.so.6").c_str(), "w")) {
      std::fputs("\177ELF outside the root", f);
      std::fclose(f);
    }
    auto* d = new std::string(tmpl);
    std::atexit([] {
      std::error_code e;
      fs::remove_all(*dir, e);
    });
    return d;
  }();
  return *dir;
}

bool canonical_inside(const std::string& root_real, const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  if (p != "/" && p.back() == '/') return false;
  if (p.find("//") != std::string::npos || p.find("/./") != std::string::npos ||
      p.find("/../") != std::string::npos || p.ends_with("/..") || p.ends_with("/."))
    return false;
  std::string host = root_real + (p == "/" ? "" : p);
  char buf[PATH_MAX];
  if (!::realpath(host.c_str(), buf)) return true;  // missing: nothing was opened there
  // An existing canonical path has no symlink in it: the host agrees on it.
  return std::string_view(buf) == host;
}

void fail(const char* what, const std::string& p) {
  std::fprintf(stderr, "%s: %s\n", what, p.c_str());
  std::abort();
}

}  // namespace

// The directory holding `path` (one of kPaths), made where missing, opened
// below `rootfd` without following any symlink: the root is hostile by
// design, and a link like lib -> /usr/lib must not make the harness write
// to the host. Returns -1 when a component is a link or a file; `last` gets
// the final component.
int open_parent(int rootfd, std::string_view path, std::string& last) {
  int fd = ::dup(rootfd);
  std::size_t i = 1;
  while (fd >= 0) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) {
      last = std::string(path.substr(i));
      return fd;
    }
    const std::string comp(path.substr(i, j - i));
    (void)::mkdirat(fd, comp.c_str(), 0755);
    int next = ::openat(fd, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(fd);
    fd = next;
    i = j + 1;
  }
  return -1;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& base = base_dir();
  const std::string root_dir = base + "/root";
  std::error_code ec;
  fs::remove_all(root_dir, ec);
  fs::create_directory(root_dir, ec);
  const int rootfd = ::open(root_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) std::abort();

  std::size_t i = 0;
  int records = 0;
  while (i + 4 <= size && records++ < 16) {
    const std::uint8_t h = data[i];
    std::size_t n = data[i + 1] | std::size_t{data[i + 2]} << 8 | std::size_t{data[i + 3]} << 16;
    i += 4;
    n = std::min(n, size - i);
    std::string_view d(reinterpret_cast<const char*>(data + i), n);
    i += n;
    std::string last;
    const int dir = open_parent(rootfd, kPaths[h & 31], last);
    if (dir < 0) continue;
    switch (h >> 5) {
      case 1: {
        std::string target(d.substr(0, 256));
        std::erase(target, '\0');
        if (target.empty()) target = ".";
        (void)::symlinkat(target.c_str(), dir, last.c_str());
        break;
      }
      case 2: (void)::mkdirat(dir, last.c_str(), 0755); break;
      case 3: (void)::symlinkat(kPaths[(d.empty() ? 0 : d[0]) & 31], dir, last.c_str()); break;
      default: {
        int fd = ::openat(dir, last.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0755);
        if (fd < 0) break;
        std::size_t off = 0;
        while (off < d.size()) {
          ssize_t w = ::write(fd, d.data() + off, d.size() - off);
          if (w <= 0) break;
          off += static_cast<std::size_t>(w);
        }
        ::close(fd);
      }
    }
    ::close(dir);
  }
  ::close(rootfd);

  auto root = resolve::Root::open(root_dir);
  if (!root) fail("cannot open the root", root.error().message);
  char buf[PATH_MAX];
  if (!::realpath(root_dir.c_str(), buf)) std::abort();
  const std::string root_real = buf;

  for (const char* q : kPaths) {
    resolve::Lookup l = (*root)->resolve(q);
    if (l.found() && !canonical_inside(root_real, l.path)) fail("lookup leaves the root or is not canonical", l.path);
  }
  resolve::Resolver resolver(*root);
  resolve::SymbolChecker symbols(**root);  // the symbol check too, as `check` runs it
  check::Collected in = check::collect(**root, {});
  in.files.push_back({"/bin/app", true});
  in.files.push_back({"/lib/../../outside/lib/libc.so.6", true});
  for (const check::Input& f : in.files) {
    check::FileReport r = check::check_file(resolver, f, &symbols);
    for (const resolve::TreeNode& node : r.tree.nodes) {
      if (node.obj && node.obj->ok && !canonical_inside(root_real, node.path))
        fail("resolved outside the root or not canonical", node.path);
    }
    for (const resolve::TreeEdge& e : r.tree.edges)
      if (e.to >= static_cast<int>(r.tree.nodes.size()) || e.from < 0 ||
          e.from >= static_cast<int>(r.tree.nodes.size()))
        fail("edge to a node that is not there", e.name);
  }
  return 0;
}
