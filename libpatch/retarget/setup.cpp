#include "libpatch/retarget/setup.h"

#include "libpatch/elf/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xpatch::retarget {

namespace {

using resolve::Lookup;
using resolve::Root;

using paths::basename_of;
using paths::dirname_of;
using paths::join;

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < path.size()) {
    std::size_t slash = path.find('/', at);
    if (slash == std::string::npos) slash = path.size();
    if (slash > at) out.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  return out;
}

std::string first_line(const std::string& s) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > 80 ? l.substr(0, 77) + "..." : l;
}

bool is_dir(const Root& root, const std::string& path) {
  Lookup l = root.resolve(path);
  return l.found() && l.is_dir;
}

// Fills in state and existing from what the root holds at item.path.
void assess(const Root& root, SetupItem& item) {
  Lookup parent = root.resolve(dirname_of(item.path));
  if (!parent.found()) {
    if (parent.status == Lookup::Status::Missing) return;  // Missing: the directories get created
    item.state = SetupItem::State::Differs;
    item.existing = fmt::format("{} cannot be used as a directory", dirname_of(item.path));
    return;
  }
  if (!parent.is_dir) {
    item.state = SetupItem::State::Differs;
    item.existing = fmt::format("{} is not a directory", parent.path);
    return;
  }
  const std::string at = join(parent.path, basename_of(item.path));
  const Root::Kind kind = root.kind(at);
  if (kind == Root::Kind::Absent) return;
  Lookup here = root.resolve(at);
  item.state = SetupItem::State::Differs;
  if (item.symlink) {
    Lookup want = root.resolve(item.content);
    if (here.found() && want.found() && here.path == want.path) {
      item.state = SetupItem::State::Present;
      return;
    }
  } else if (here.found() && !here.is_dir) {
    std::string text;
    int rc = root.read_file(here.path, text, 1 << 20);
    if (rc == 0 && text == item.content) {
      item.state = SetupItem::State::Present;
      return;
    }
    if (rc == 0) {
      item.existing = text.empty() ? "an empty file" : fmt::format("a file that says \"{}\"", first_line(text));
      return;
    }
  }
  if (kind == Root::Kind::Link)
    item.existing = here.found() ? fmt::format("a symlink to {}", here.path) : "a symlink to nothing";
  else if (kind == Root::Kind::Dir)
    item.existing = "a directory";
  else
    item.existing = "a file";
}

std::string hex(const std::vector<unsigned char>& bytes) {
  std::string s;
  for (unsigned char b : bytes) s += fmt::format("\\x{:02x}", b);
  return s;
}

std::atomic<unsigned> g_tmp_counter{0};

}  // namespace

std::string_view what_name(SetupItem::What w) noexcept {
  switch (w) {
    case SetupItem::What::Binfmt: return "binfmt";
    case SetupItem::What::SearchPath: return "search-path";
    case SetupItem::What::LibDirLink: return "libdir-link";
    case SetupItem::What::LoaderLink: return "loader-link";
  }
  return "?";
}

std::string_view state_name(SetupItem::State s) noexcept {
  switch (s) {
    case SetupItem::State::Missing: return "missing";
    case SetupItem::State::Present: return "present";
    case SetupItem::State::Differs: return "differs";
  }
  return "?";
}

std::string binfmt_line(const elf::TupleInfo& t, const std::string& qemu) {
  const elf::BinfmtBytes b = elf::binfmt_bytes(t);
  return fmt::format(":qemu-{}:M::{}:{}:{}:F", t.qemu, hex(b.magic), hex(b.mask), qemu);
}

Expected<SetupPlan> plan_setup(const Root& root, const SetupRequest& req) {
  auto info = elf::parse_tuple(req.tuple);
  if (!info)
    return Error{Error::Kind::Unsupported,
                 fmt::format("--tuple {}: not a tuple this tool knows (ARCH-linux-gnu[ABI] or ARCH-linux-musl[ABI] for "
                             "x86_64, i686, aarch64, arm, riscv64, powerpc64le, s390x, mips, ..., e.g. "
                             "aarch64-linux-musl, arm-linux-gnueabihf)",
                             req.tuple)};
  SetupPlan p;
  p.info = *info;
  p.tuple = info->tuple;  // canonical: arm64-linux-musl is aarch64-linux-musl
  p.prefix = req.prefix.value_or("/usr/" + p.tuple);
  while (p.prefix.size() > 1 && p.prefix.back() == '/') p.prefix.pop_back();
  if (!p.prefix.starts_with('/') || p.prefix == "/")
    return Error{Error::Kind::Unsupported, fmt::format("--prefix {}: must be an absolute directory below /", p.prefix)};
  const elf::TupleInfo& t = p.info;
  const std::string lib = p.prefix + "/lib";
  p.loader = lib + "/" + t.loader;
  Lookup ld = root.resolve(p.loader);
  p.loader_present = ld.found() && !ld.is_dir;
  p.native = (req.host_machine == t.machine && req.host_class == t.elf_class && req.host_big_endian == t.big_endian) ||
             (req.host_machine == EM_X86_64 && t.machine == EM_386);

  if (req.qemu) {
    p.qemu = *req.qemu;
  } else {
    p.qemu = "/usr/bin/qemu-" + t.qemu;
    for (const std::string& name : {"qemu-" + t.qemu + "-static", "qemu-" + t.qemu}) {
      Lookup q = root.resolve("/usr/bin/" + name);
      if (q.found() && !q.is_dir) {
        p.qemu = "/usr/bin/" + name;
        break;
      }
    }
  }

  auto add = [&](SetupItem::What what, std::string path, bool symlink, std::string content, std::string why) {
    SetupItem item{what, std::move(path), symlink, std::move(content), std::move(why), SetupItem::State::Missing, {}};
    assess(root, item);
    p.items.push_back(std::move(item));
    return p.items.back().state;
  };

  if (!p.native)
    add(SetupItem::What::Binfmt, "/etc/binfmt.d/qemu-" + t.qemu + ".conf", false, binfmt_line(t, p.qemu) + "\n",
        fmt::format("the kernel runs {}-bit {} {} programs through {}; F: it opens qemu once, at registration, so "
                    "chroots and containers need no copy (systemd-binfmt loads this file at boot)",
                    t.elf_class, t.big_endian ? "big-endian" : "little-endian", t.arch, p.qemu));

  // The loader link first: whether /lib/<loader> is ours decides whether
  // the global search-path file may be written.
  SetupItem::State link = add(
      SetupItem::What::LoaderLink, t.loader_dir + "/" + t.loader, true, p.loader,
      fmt::format("programs not retargeted ask for {}/{} (their PT_INTERP); this sends them to the tuple's loader",
                  t.loader_dir, t.loader));

  if (t.libc == elf::Libc::Musl) {
    std::string dirs = lib + "\n";
    for (const std::string& d : {p.prefix + "/usr/lib", p.prefix + "/usr/local/lib"})
      if (is_dir(root, d)) dirs += d + "\n";
    const std::string file = "ld-musl-" + t.musl_arch + ".path";
    add(SetupItem::What::SearchPath, p.prefix + "/etc/" + file, false, dirs,
        fmt::format("musl's loader at {} searches these directories instead of /lib:/usr/local/lib:/usr/lib "
                    "(it reads <its path minus /lib/NAME>/etc/{})",
                    p.loader, file));
    if (link != SetupItem::State::Differs)
      add(SetupItem::What::SearchPath, "/etc/" + file, false, dirs,
          fmt::format("the same for programs whose PT_INTERP is {}/{}: musl reads /etc/{} for them",
                      t.loader_dir, t.loader, file));
  } else {
    add(SetupItem::What::LibDirLink, "/usr/lib/" + t.multiarch, true, lib,
        fmt::format("/usr/lib/{} is built into glibc's {} loader as a system directory: found with no "
                    "ld.so.cache and no runpath",
                    t.multiarch, t.arch));
    add(SetupItem::What::SearchPath, "/etc/ld.so.conf.d/" + p.tuple + ".conf", false, lib + "\n",
        fmt::format("for the tuple's own ldconfig building /etc/ld.so.cache (the host's ldconfig skips {} libraries)",
                    t.arch));
  }
  return p;
}

Status create_item(const Root& root, const SetupItem& item) {
  if (item.state != SetupItem::State::Missing) return {};
  const std::string host = root.host_path(item.path);
  auto fail = [&](std::string what, int err) {
    return Error{Error::Kind::Io, fmt::format("{}: {}: {}", host, what, std::strerror(err))};
  };
  // The deepest existing ancestor, opened through the root's confinement;
  // below it, each directory is made and opened without following links.
  const std::vector<std::string> parts = components(dirname_of(item.path));
  std::size_t have = parts.size();
  Lookup base;
  for (;; --have) {
    std::string pre = "/";
    for (std::size_t i = 0; i < have; ++i) pre = join(pre, parts[i]);
    base = root.resolve(pre);
    if (base.found() || have == 0) break;
  }
  if (!base.found() || !base.is_dir) return fail("a parent is not a directory", ENOTDIR);
  int fd = root.open_file(base.path);
  if (fd < 0) return fail("cannot open " + base.path, -fd);
  struct Closer {
    int& fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  for (std::size_t i = have; i < parts.size(); ++i) {
    if (::mkdirat(fd, parts[i].c_str(), 0755) != 0 && errno != EEXIST) return fail("mkdir " + parts[i], errno);
    int next = ::openat(fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      std::string at = "/";
      for (std::size_t j = 0; j <= i; ++j) at = join(at, parts[j]);
      return Error{Error::Kind::Io,
                   fmt::format("{}: cannot create it: {} is not a directory in the root (a file, or a symlink to "
                               "nothing inside the root)",
                               host, root.host_path(at))};
    }
    if (next < 0) return fail("open " + parts[i], errno);
    ::close(fd);
    fd = next;
  }
  const std::string name = basename_of(item.path);
  if (item.symlink) {
    if (::symlinkat(item.content.c_str(), fd, name.c_str()) != 0) return fail("symlink", errno);
  } else {
    const std::string tmp = fmt::format(".{}.xpatch-{}-{}", name, ::getpid(), g_tmp_counter++);
    int out = ::openat(fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (out < 0) return fail("create " + tmp, errno);
    std::size_t done = 0;
    int err = 0;
    while (done < item.content.size() && err == 0) {
      ssize_t n = ::write(out, item.content.data() + done, item.content.size() - done);
      if (n < 0 && errno != EINTR) err = errno;
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    if (err == 0 && ::fsync(out) != 0) err = errno;
    if (::close(out) != 0 && err == 0) err = errno;
    // Never replaces: a file that appeared meanwhile stays.
    if (err == 0 && ::renameat2(fd, tmp.c_str(), fd, name.c_str(), RENAME_NOREPLACE) != 0) err = errno;
    if (err != 0) {
      ::unlinkat(fd, tmp.c_str(), 0);
      return fail("write", err);
    }
  }
  ::fsync(fd);
  return {};
}

}  // namespace xpatch::retarget
