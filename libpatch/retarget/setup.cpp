#include "libpatch/retarget/setup.h"

#include "libpatch/elf/paths.h"
#include "libpatch/resolve/rules.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace xpatch::retarget {

namespace {

using resolve::Lookup;
using resolve::Root;

using paths::basename_of;
using paths::dirname_of;
using paths::join;

std::string first_line(const std::string& s) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > 80 ? l.substr(0, 77) + "..." : l;
}

bool is_dir(const Root& root, const std::string& path) {
  Lookup l = root.resolve(path);
  return l.found() && l.is_dir;
}

// A descriptor for the directory at `canonical` (a resolve() result), or -errno.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// What the symlink NAME in the directory at `dir` (canonical) says; empty
// when it is not a symlink or cannot be read.
std::string link_text(const Root& root, const std::string& dir, const std::string& name) {
  Fd d(root.open_file(dir));
  if (d.fd < 0) return {};
  std::array<char, 4096> buf{};
  ssize_t n = ::readlinkat(d.fd, name.c_str(), buf.data(), buf.size());
  return n > 0 && static_cast<std::size_t>(n) < buf.size() ? std::string(buf.data(), static_cast<std::size_t>(n))
                                                           : std::string();
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
    if ((here.found() && want.found() && here.path == want.path) ||
        (kind == Root::Kind::Link && link_text(root, parent.path, basename_of(item.path)) == item.content)) {
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
  else if (kind == Root::Kind::Special)
    item.existing = "a device, FIFO or socket";
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

namespace {

Error io_error(const std::string& host, const std::string& what, int err) {
  return Error{Error::Kind::Io, fmt::format("{}: {}: {}", host, what, std::strerror(err))};
}

// Opens the directory `dir` (absolute, in the root) for writing entries,
// creating what is missing of it: the deepest existing ancestor is opened
// through the root's confinement; below it, each directory is made and
// opened without following links. The directories made go to `made`.
Expected<Fd> open_dir_creating(const Root& root, const std::string& dir, std::vector<Made>* made) {
  const std::string host = root.host_path(dir);
  const std::vector<std::string> parts = resolve::split_list(dir, "/", false);
  std::size_t have = parts.size();
  Lookup base;
  for (;; --have) {
    std::string pre = "/";
    for (std::size_t i = 0; i < have; ++i) pre = join(pre, parts[i]);
    base = root.resolve(pre);
    if (base.found() || have == 0) break;
  }
  if (!base.found() || !base.is_dir) return io_error(host, "a parent is not a directory", ENOTDIR);
  Fd fd(root.open_file(base.path));
  if (fd.fd < 0) return io_error(host, "cannot open " + base.path, -fd.fd);
  std::string at = base.path;
  for (std::size_t i = have; i < parts.size(); ++i) {
    at = join(at, parts[i]);
    const bool new_dir = ::mkdirat(fd.fd, parts[i].c_str(), 0755) == 0;
    if (!new_dir && errno != EEXIST) return io_error(host, "mkdir " + parts[i], errno);
    Fd next(::openat(fd.fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.fd < 0 && (errno == ELOOP || errno == ENOTDIR))
      return Error{Error::Kind::Io,
                   fmt::format("{}: cannot create it: {} is not a directory in the root (a file, or a symlink to "
                               "nothing inside the root)",
                               host, root.host_path(at))};
    if (next.fd < 0) return io_error(host, "open " + parts[i], errno);
    if (new_dir && made) made->push_back({Made::Kind::Dir, at, {}});
    fd = std::move(next);
  }
  return fd;
}

// Writes NAME in the directory `dir` through a temporary name, fsync'd, then
// renamed: over an existing file with `replace`, else never over anything.
int write_at(int dir, const std::string& name, const std::string& content, bool replace) {
  const std::string tmp = fmt::format(".{}.xpatch-{}-{}", name, ::getpid(), g_tmp_counter++);
  int out = ::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (out < 0) return errno;
  std::size_t done = 0;
  int err = 0;
  while (done < content.size() && err == 0) {
    ssize_t n = ::write(out, content.data() + done, content.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fsync(out) != 0) err = errno;
  if (::close(out) != 0 && err == 0) err = errno;
  if (err == 0 && ::renameat2(dir, tmp.c_str(), dir, name.c_str(), replace ? 0 : RENAME_NOREPLACE) != 0) err = errno;
  if (err != 0) ::unlinkat(dir, tmp.c_str(), 0);
  return err;
}

constexpr std::string_view kManifestDir = "/var/lib/xpatch/setup";

std::string_view kind_word(Made::Kind k) {
  return k == Made::Kind::Dir ? "dir" : k == Made::Kind::File ? "file" : "link";
}

std::string unhex(std::string_view h, bool& ok) {
  std::string out;
  ok = h.size() % 2 == 0;
  auto nib = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    ok = false;
    return 0;
  };
  for (std::size_t i = 0; ok && i + 1 < h.size(); i += 2)
    out += static_cast<char>(nib(h[i]) * 16 + nib(h[i + 1]));
  return out;
}

std::string manifest_text(const std::vector<Made>& entries) {
  std::string out;
  for (const Made& m : entries) {
    std::string h;
    for (unsigned char c : m.content) h += fmt::format("{:02x}", c);
    out += fmt::format("{}\t{}\t{}\n", kind_word(m.kind), m.path, h);
  }
  return out;
}

// Replaces the manifest with `entries`, making its directories (and listing
// those it made) as needed.
Status write_manifest(const Root& root, std::string_view tuple, std::vector<Made> entries) {
  std::vector<Made> dirs;
  auto fd = open_dir_creating(root, std::string(kManifestDir), &dirs);
  if (!fd) return fd.error();
  entries.insert(entries.end(), dirs.begin(), dirs.end());
  if (int err = write_at(fd->fd, std::string(tuple), manifest_text(entries), true))
    return io_error(root.host_path(manifest_path(tuple)), "write", err);
  ::fsync(fd->fd);
  return {};
}

bool is_below(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

}  // namespace

Status create_item(const Root& root, const SetupItem& item, std::vector<Made>* made) {
  if (item.state != SetupItem::State::Missing) return {};
  const std::string host = root.host_path(item.path);
  auto fd = open_dir_creating(root, dirname_of(item.path), made);
  if (!fd) return fd.error();
  const std::string name = basename_of(item.path);
  if (item.symlink) {
    if (::symlinkat(item.content.c_str(), fd->fd, name.c_str()) != 0) return io_error(host, "symlink", errno);
  } else if (int err = write_at(fd->fd, name, item.content, false)) {  // never replaces: a file that appeared meanwhile stays
    return io_error(host, "write", err);
  }
  ::fsync(fd->fd);
  if (made) made->push_back({item.symlink ? Made::Kind::Link : Made::Kind::File, item.path, item.content});
  return {};
}

std::string manifest_path(std::string_view tuple) { return fmt::format("{}/{}", kManifestDir, tuple); }

Expected<std::vector<Made>> read_manifest(const Root& root, std::string_view tuple) {
  const std::string path = manifest_path(tuple);
  std::vector<Made> out;
  Lookup l = root.resolve(path);
  if (l.status == Lookup::Status::Missing) return out;
  std::string text;
  int rc = l.found() && !l.is_dir ? root.read_file(l.path, text, 1 << 20) : -EISDIR;
  if (rc != 0) return io_error(root.host_path(path), "read", l.found() ? -rc : ENOENT);
  std::size_t line = 0;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    const std::string_view row(text.data() + at, nl - at);
    at = nl + 1;
    ++line;
    const auto t1 = row.find('\t'), t2 = t1 == std::string_view::npos ? t1 : row.find('\t', t1 + 1);
    bool ok = t2 != std::string_view::npos;
    Made m{Made::Kind::Dir, {}, {}};
    if (ok) {
      const std::string_view kind = row.substr(0, t1);
      m.path = std::string(row.substr(t1 + 1, t2 - t1 - 1));
      m.content = unhex(row.substr(t2 + 1), ok);
      if (kind == "file") m.kind = Made::Kind::File;
      else if (kind == "link") m.kind = Made::Kind::Link;
      else ok &= kind == "dir";
      ok &= m.path.starts_with('/') && m.path.find('\t') == std::string::npos;
    }
    if (!ok)
      return Error{Error::Kind::Malformed,
                   fmt::format("{}: line {}: not a setup manifest entry (KIND<TAB>PATH<TAB>HEX, KIND dir, file or "
                               "link): \"{}\"",
                               root.host_path(path), line, first_line(std::string(row)))};
    out.push_back(std::move(m));
  }
  return out;
}

Status record_made(const Root& root, std::string_view tuple, const std::vector<Made>& made) {
  if (made.empty()) return {};
  auto entries = read_manifest(root, tuple);
  if (!entries) return entries.error();
  for (const Made& m : made) {
    std::erase_if(*entries, [&](const Made& e) { return e.path == m.path; });
    entries->push_back(m);
  }
  return write_manifest(root, tuple, std::move(*entries));
}

Expected<Removal> remove_setup(const Root& root, std::string_view tuple) {
  auto entries = read_manifest(root, tuple);
  if (!entries) return entries.error();
  const std::string manifest = manifest_path(tuple);
  auto of_manifest = [&](const Made& m) { return m.kind == Made::Kind::Dir && is_below(manifest, m.path); };
  Removal r;
  std::vector<Made> left;  // newest first
  for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
    const Made& m = *it;
    if (of_manifest(m)) continue;
    Lookup parent = root.resolve(dirname_of(m.path));
    Fd dir(parent.found() && parent.is_dir ? root.open_file(parent.path) : -ENOENT);
    const std::string name = basename_of(m.path);
    struct stat st{};
    if (dir.fd < 0 || ::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone already
    std::string why;
    if (m.kind == Made::Kind::Dir) {
      if (::unlinkat(dir.fd, name.c_str(), AT_REMOVEDIR) != 0) {
        left.push_back(m);  // not empty: someone else's files live there too
        continue;
      }
    } else if (m.kind == Made::Kind::Link) {
      if (!S_ISLNK(st.st_mode) || link_text(root, parent.path, name) != m.content)
        why = fmt::format("changed since setup made it (a link to {})", m.content);
    } else {
      std::string now;
      const bool same = S_ISREG(st.st_mode) && root.read_file(join(parent.path, name), now, 1 << 20) == 0 &&
                        now == m.content;
      if (!same) why = "changed since setup made it";
    }
    if (why.empty() && m.kind != Made::Kind::Dir && ::unlinkat(dir.fd, name.c_str(), 0) != 0)
      why = fmt::format("cannot remove it: {}", std::strerror(errno));
    if (!why.empty()) {
      r.kept.emplace_back(m.path, why);
      left.push_back(m);
      continue;
    }
    r.removed.push_back(m.path);
  }
  // What stays listed: what was kept, and the directories that hold it.
  std::vector<Made> keep;
  for (const Made& m : *entries) {
    if (of_manifest(m)) continue;
    const bool stays = std::any_of(left.begin(), left.end(), [&](const Made& l) { return l.path == m.path; });
    const bool holds = std::any_of(r.kept.begin(), r.kept.end(), [&](const auto& k) { return is_below(k.first, m.path); });
    if (stays && (m.kind != Made::Kind::Dir || holds)) keep.push_back(m);
  }
  if (entries->empty()) return r;
  if (!keep.empty()) {
    for (const Made& m : *entries)
      if (of_manifest(m)) keep.push_back(m);
    if (auto e = write_manifest(root, tuple, std::move(keep)); !e) return e.error();
    return r;
  }
  // Nothing left: the manifest goes, then its directories if empty.
  Lookup dir = root.resolve(std::string(kManifestDir));
  Fd d(dir.found() ? root.open_file(dir.path) : -ENOENT);
  if (d.fd < 0 || ::unlinkat(d.fd, std::string(tuple).c_str(), 0) != 0)
    return io_error(root.host_path(manifest), "remove", d.fd < 0 ? -d.fd : errno);
  for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
    if (!of_manifest(*it)) continue;
    Lookup parent = root.resolve(dirname_of(it->path));
    Fd p(parent.found() ? root.open_file(parent.path) : -ENOENT);
    if (p.fd >= 0) ::unlinkat(p.fd, basename_of(it->path).c_str(), AT_REMOVEDIR);
  }
  return r;
}

}  // namespace xpatch::retarget
