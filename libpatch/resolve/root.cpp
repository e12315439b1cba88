#include "libpatch/resolve/root.h"

#include "libpatch/elf/paths.h"

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <unordered_set>
#include <vector>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

namespace xpatch::resolve {
namespace {

constexpr int kMaxLinks = 40;  // the kernel's limit (MAXSYMLINKS)

// The lookup cache is a cache, not a record: past this many entries it
// starts again, so memory stays flat however many paths a run looks up
// (check's peak RSS grew 12 -> 18 MiB from 1 to 48 copies of a library
// tree with no bound, 3.7 MiB of it with 32,768 entries; flat with 4,096).
// What is looked up often (the system directories, libc) is back after
// one lstat each.
constexpr std::size_t kMaxCachedNodes = 1 << 12;
template <typename Map>
void make_room(Map& m) {
  if (m.size() >= kMaxCachedNodes) m.clear();
}

// -1 unknown, 0 no, 1 yes.
std::atomic<int> g_have_openat2{-1};

std::string rel(std::string_view canonical) {  // "/usr/lib" -> "usr/lib", "/" -> "."
  while (!canonical.empty() && canonical.front() == '/') canonical.remove_prefix(1);
  return canonical.empty() ? std::string(".") : std::string(canonical);
}

void split_into(std::string_view path, std::deque<std::string>& out, bool front) {
  const std::vector<std::string_view> parts = paths::split(path, "/", false);
  if (front) out.insert(out.begin(), parts.begin(), parts.end());
  else out.insert(out.end(), parts.begin(), parts.end());
}

}  // namespace

Expected<std::shared_ptr<Root>> Root::open(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Error{Error::Kind::Io, dir + ": cannot open the root directory: " + std::strerror(errno)};
  char buf[PATH_MAX];
  bool host = ::realpath(dir.c_str(), buf) && std::string_view(buf) == "/";
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return std::shared_ptr<Root>(new Root(d, fd, host));
}

Root::~Root() {
  if (fd_ >= 0) ::close(fd_);
  for (const Overlay& o : overlays_) ::close(o.fd);
}

xpatch::Status Root::add_overlay(const std::string& at, const std::string& stage) {
  int fd = ::open(stage.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{Error::Kind::Io, stage + ": cannot open the staging directory: " + std::strerror(errno)};
  std::string a = "/" + rel(at);
  if (a == "/.") a = "/";
  while (a.size() > 1 && a.back() == '/') a.pop_back();
  overlays_.push_back({a, stage, fd});
  std::unique_lock lk(mu_);
  nodes_.clear();
  return {};
}

void Root::put_layered(const std::string& path, LayerNode node) {
  const auto slash = path.rfind('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  std::vector<std::string>& names = layer_children_[parent];
  std::string name = path.substr(slash + 1);
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(std::move(name));
  layered_[path] = std::move(node);
}

xpatch::Status Root::add_layer(const Layer& layer) {
  const std::size_t index = layers_.size();
  layers_.emplace_back(layer.origin, layer.package);
  for (const LayerEntry& e : layer.entries) {
    auto bad = [&](std::string_view why) {
      return Error{Error::Kind::Io, fmt::format("{}: member {}: {}", layer.origin, e.path, why)};
    };
    if (!e.path.starts_with('/')) return bad("not an absolute path");
    std::vector<std::string_view> parts = paths::split(e.path, "/", false);
    if (parts.empty()) continue;  // "/" itself: the root's
    for (std::string_view c : parts)
      if (c == "." || c == "..") return bad("a '.' or '..' component");
    // The parent as installing would find it: through the root's (and
    // earlier layers') directory symlinks; directories that do not exist
    // yet are made, as tar and dpkg make them.
    std::string parent;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) parent += "/" + std::string(parts[i]);
    std::string at = "/";
    if (!parent.empty()) {
      Lookup l = resolve(parent);
      if (l.status == Lookup::Status::Missing) {
        for (std::string_view c : paths::split(l.path, "/", false)) {
          at = at == "/" ? "/" + std::string(c) : at + "/" + std::string(c);
          if (stat_node(at).type == Node::Absent) put_layered(at, {Node::Dir, {}, nullptr, 0, 0, index, LayerEntry::Kind::Dir});
        }
      } else if (l.found() && l.is_dir) {
        at = l.path;
      } else {
        return bad(fmt::format("its directory {} is {}", parent,
                               l.found() ? "a file" : l.status == Lookup::Status::Loop ? "a symlink loop" : "not a directory"));
      }
    }
    const std::string path = (at == "/" ? "" : at) + "/" + std::string(parts.back());
    switch (e.kind) {
      case LayerEntry::Kind::Dir: {
        const Node::Type t = stat_node(path).type;
        Lookup l = t == Node::Link ? resolve(path) : Lookup{};
        if (t == Node::Dir || (l.found() && l.is_dir)) break;  // the root's directory (or link to one) stays
        put_layered(path, {Node::Dir, {}, nullptr, 0, 0, index, LayerEntry::Kind::Dir});
        break;
      }
      case LayerEntry::Kind::Symlink:
        put_layered(path, {Node::Link, e.target, nullptr, 0, 0, index, LayerEntry::Kind::Symlink});
        break;
      case LayerEntry::Kind::File:
        put_layered(path, {Node::File, {}, e.bytes, e.offset, e.size, index, LayerEntry::Kind::File});
        break;
      case LayerEntry::Kind::Removed: return bad("a removal among the entries");
    }
  }
  for (const std::string& p : layer.removed) {  // whiteouts
    if (!p.starts_with('/')) continue;
    Lookup l = resolve(paths::dirname_of(p));
    if (!l.found() || !l.is_dir) continue;  // nothing there to delete
    const std::string path = paths::join(l.path, paths::basename_of(p));
    if (auto it = layered_.find(path); it != layered_.end() && it->second.type != Node::Absent) continue;
    const Node::Type t = stat_node(path).type;
    if (t == Node::Absent || t == Node::Dir || t == Node::Error) continue;
    put_layered(path, {Node::Absent, {}, nullptr, 0, 0, index, LayerEntry::Kind::Removed});
  }
  return {};
}

std::vector<Root::LayeredPath> Root::layered_paths() const {
  std::vector<LayeredPath> out;
  out.reserve(layered_.size());
  for (const auto& [path, n] : layered_) out.push_back({path, n.kind, n.layer});
  std::sort(out.begin(), out.end(), [](const LayeredPath& a, const LayeredPath& b) { return a.path < b.path; });
  return out;
}

std::optional<std::size_t> Root::layer_of(std::string_view canonical) const {
  if (layered_.empty()) return std::nullopt;
  auto it = layered_.find(std::string(canonical));
  if (it == layered_.end() || it->second.type == Node::Dir || it->second.type == Node::Absent) return std::nullopt;
  return it->second.layer;
}

std::optional<std::size_t> Root::removed_by(std::string_view canonical) const {
  if (layered_.empty()) return std::nullopt;
  auto it = layered_.find(std::string(canonical));
  if (it == layered_.end() || it->second.type != Node::Absent) return std::nullopt;
  return it->second.layer;
}

Root::Place Root::place(std::string_view canonical) const {
  for (const Overlay& o : overlays_) {
    bool under = o.at == "/" || canonical == o.at ||
                 (canonical.starts_with(o.at) && canonical.size() > o.at.size() && canonical[o.at.size()] == '/');
    if (under) {
      std::string_view rest = o.at == "/" ? canonical : canonical.substr(o.at.size());
      return {o.fd, rel(rest), fd_, rel(canonical)};
    }
  }
  return {fd_, rel(canonical), -1, {}};
}

std::vector<std::string> Root::overlay_child(std::string_view canonical) const {
  std::vector<std::string> out;
  const std::string prefix = canonical == "/" ? "/" : std::string(canonical) + "/";
  for (const Overlay& o : overlays_) {
    if (o.at.size() <= prefix.size() || !o.at.starts_with(prefix)) continue;
    std::string_view rest = std::string_view(o.at).substr(prefix.size());
    out.emplace_back(rest.substr(0, rest.find('/')));
  }
  return out;
}

std::string Root::host_path(std::string_view canonical) const {
  if (auto i = layer_of(canonical)) return layers_[*i].first + ":" + std::string(canonical);  // "pkg.deb:/usr/lib/x"
  for (const Overlay& o : overlays_) {
    if (canonical == o.at || (canonical.starts_with(o.at) && canonical.size() > o.at.size() &&
                              (o.at == "/" || canonical[o.at.size()] == '/'))) {
      struct stat st {};
      Place pl = place(canonical);
      if (::fstatat(pl.fd, pl.rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        return o.stage + (o.at == "/" ? std::string(canonical) : std::string(canonical.substr(o.at.size())));
    }
  }
  if (host_root_ || dir_ == "/") return std::string(canonical);
  return dir_ + std::string(canonical);
}

bool Root::uses_openat2() const noexcept { return g_have_openat2.load() != 0; }

namespace {
thread_local std::uint64_t t_layer_answers = 0;  // Root::layer_answers
}  // namespace

std::uint64_t Root::layer_answers() noexcept { return t_layer_answers; }

Root::Node Root::stat_node(const std::string& canonical) const {
  if (!layered_.empty())
    if (auto it = layered_.find(canonical); it != layered_.end()) {
      ++t_layer_answers;
      return Node{it->second.type, 0, it->second.target};
    }
  {
    std::shared_lock lk(mu_);
    if (auto it = nodes_.find(canonical); it != nodes_.end()) return it->second;
  }
  Node n;
  struct stat st {};
  Place pl = place(canonical);
  int dfd = pl.fd;
  std::string r = pl.rel;
  int rc = ::fstatat(dfd, r.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  if (rc != 0 && (errno == ENOENT || errno == ENOTDIR) && pl.under_fd >= 0) {  // not staged: the root's
    dfd = pl.under_fd;
    r = pl.under_rel;
    rc = ::fstatat(dfd, r.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  }
  if (rc != 0) {
    n.type = (errno == ENOENT || errno == ENOTDIR) ? Node::Absent : Node::Error;
    n.error = errno;
  } else if (S_ISLNK(st.st_mode)) {
    std::vector<char> buf(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
    for (;;) {
      ssize_t len = ::readlinkat(dfd, r.c_str(), buf.data(), buf.size());
      if (len < 0) {
        n.type = Node::Error;
        n.error = errno;
        break;
      }
      if (static_cast<std::size_t>(len) < buf.size()) {
        n.type = Node::Link;
        n.target.assign(buf.data(), static_cast<std::size_t>(len));
        break;
      }
      buf.resize(buf.size() * 2);
    }
  } else {
    n.type = S_ISDIR(st.st_mode) ? Node::Dir : S_ISREG(st.st_mode) ? Node::File : Node::Special;
  }
  // A stage may sit where ROOT has nothing yet (--stage pkg=/opt/x with no
  // /opt in ROOT): the directories above it exist, virtually.
  if (n.type == Node::Absent && !overlay_child(canonical).empty()) n.type = Node::Dir;
  std::unique_lock lk(mu_);
  make_room(nodes_);
  return nodes_.emplace(canonical, std::move(n)).first->second;
}

Lookup Root::resolve(std::string_view path) const {
  Lookup out;
  std::deque<std::string> todo;
  split_into(path, todo, false);
  std::vector<std::string> done;  // canonical components so far
  int links = 0;
  auto joined = [&](const std::string* extra) {
    std::string s;
    for (const std::string& c : done) s += "/" + c;
    if (extra) s += "/" + *extra;
    return s.empty() ? std::string("/") : s;
  };
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (done.empty()) out.climbed = true;
      else done.pop_back();
      continue;
    }
    std::string here = joined(&c);
    Node n = stat_node(here);
    switch (n.type) {
      case Node::Absent:
        out.status = Lookup::Status::Missing;
        out.path = here;
        for (const std::string& rest : todo) out.path += "/" + rest;
        return out;
      case Node::Error:
        out.status = Lookup::Status::Denied;
        out.error = n.error;
        out.path = here;
        return out;
      case Node::Link: {
        if (++links > kMaxLinks) {
          out.status = Lookup::Status::Loop;
          out.path = here;
          return out;
        }
        // Does this link's target, read from where the link sits, climb above the root?
        if (out.escaping_link.empty()) {
          long depth = n.target.starts_with('/') ? 0 : static_cast<long>(done.size());
          std::deque<std::string> t;
          split_into(n.target, t, false);
          for (const std::string& tc : t) {
            if (tc == "..") {
              if (--depth < 0) {
                out.escaping_link = here;
                break;
              }
            } else if (tc != ".") {
              ++depth;
            }
          }
        }
        if (n.target.starts_with('/')) done.clear();
        split_into(n.target, todo, true);
        continue;
      }
      case Node::File:
      case Node::Special:  // found; open_file refuses to open it
        if (!todo.empty()) {
          out.status = Lookup::Status::NotDir;
          out.path = here;
          return out;
        }
        done.push_back(std::move(c));
        break;
      case Node::Dir:
        done.push_back(std::move(c));
        break;
    }
  }
  out.path = joined(nullptr);
  out.is_dir = out.path == "/" || stat_node(out.path).type == Node::Dir;
  out.status = Lookup::Status::Found;
  return out;
}

int Root::open_file(const std::string& canonical) const {
  if (!layered_.empty())
    if (auto it = layered_.find(canonical); it != layered_.end() && it->second.type == Node::File) {
      // A package's file: a descriptor of its bytes alone (readers use
      // pread: a duplicate shares the file position), or, for a member that
      // is not ELF, an empty file.
      const LayerNode& n = it->second;
      ++t_layer_answers;
      if (n.bytes) return open_layer_file(*n.bytes, n.offset, n.size);
      const int fd = ::memfd_create("xpatch-layer-not-elf", MFD_CLOEXEC);
      return fd < 0 ? -errno : fd;
    }
  if (stat_node(canonical).type == Node::Special) return -ENXIO;  // fstatat first, as the walk does
  return open_walked(canonical);
}

int Root::open_walked(const std::string& canonical) const {
  if (!layered_.empty()) {
    if (auto it = layered_.find(canonical); it != layered_.end()) {
      // A package's file is not on the disk: open_file reads it from its layer.
      if (it->second.type == Node::File) return open_file(canonical);
      // An upgrade deletes it (Layer::removed): the disk's file is not there once installed.
      if (it->second.type == Node::Absent) return -ENOENT;
    }
  }
  Place pl = place(canonical);
  int fd = open_in(pl.fd, pl.rel);
  if ((fd == -ENOENT || fd == -ENOTDIR) && pl.under_fd >= 0) fd = open_in(pl.under_fd, pl.under_rel);
  return fd;
}

int Root::open_in(int base, const std::string& r) const {
  if (g_have_openat2.load() != 0) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
    long fd = ::syscall(SYS_openat2, base, r.c_str(), &how, sizeof how);
    if (fd >= 0) {
      g_have_openat2.store(1);
      return static_cast<int>(fd);
    }
    if (errno != ENOSYS && errno != EPERM) return -errno;  // EPERM: a seccomp filter without openat2
    g_have_openat2.store(0);
  }
  // Fallback: walk the canonical path one component at a time, never
  // following a symlink, so a path swapped for a link cannot lead out.
  int dir = ::fcntl(base, F_DUPFD_CLOEXEC, 0);
  if (dir < 0) return -errno;
  std::deque<std::string> parts;
  split_into(r == "." ? std::string_view{} : std::string_view(r), parts, false);
  while (!parts.empty()) {
    std::string c = std::move(parts.front());
    parts.pop_front();
    if (c == "..") {
      ::close(dir);
      return -EXDEV;
    }
    int flags = parts.empty() ? (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)
                              : (O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int next = ::openat(dir, c.c_str(), flags);
    int err = errno;
    ::close(dir);
    if (next < 0) return -err;
    dir = next;
  }
  return dir;
}

}  // namespace xpatch::resolve

namespace xpatch::resolve {

int Root::read_file(const std::string& canonical, std::string& out, std::size_t limit) const {
  int fd = open_file(canonical);
  if (fd < 0) return fd;
  out.clear();
  char buf[65536];
  off_t at = 0;  // pread: a layer's descriptor is shared, and so is its offset
  for (;;) {
    ssize_t r = ::pread(fd, buf, sizeof buf, at);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      return -err;
    }
    if (r == 0) break;
    if (out.size() + static_cast<std::size_t>(r) > limit) {
      ::close(fd);
      return -E2BIG;
    }
    out.append(buf, static_cast<std::size_t>(r));
    at += r;
  }
  ::close(fd);
  return 0;
}

void Root::remember_file(std::string canonical) const {
  std::unique_lock lk(mu_);
  make_room(nodes_);
  nodes_.try_emplace(std::move(canonical), Node{Node::File, 0, {}});
}

std::vector<Root::Entry> Root::list_dir(const std::string& canonical, bool remember) const {
  std::vector<Entry> out;
  // Under an overlay: the staged directory's entries, then the root's that
  // it does not hide.
  Place pl = place(canonical);
  std::vector<int> fds;
  for (auto [base, r] : {std::pair{pl.fd, pl.rel}, std::pair{pl.under_fd, pl.under_rel}}) {
    if (base < 0) continue;
    int fd = open_in(base, r);
    if (fd >= 0) fds.push_back(fd);
  }
  std::vector<std::pair<std::string, Node::Type>> learned;
  std::unordered_set<std::string> staged;
  const std::string prefix = canonical == "/" ? "/" : canonical + "/";
  for (std::size_t layer = 0; layer < fds.size(); ++layer) {
    DIR* d = ::fdopendir(fds[layer]);
    if (!d) {
      ::close(fds[layer]);
      continue;
    }
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      if (layer > 0 && staged.count(e->d_name)) continue;
      if (layer == 0 && fds.size() > 1) staged.insert(e->d_name);
      Kind k;
      switch (e->d_type) {
        case DT_REG: k = Kind::File; break;
        case DT_DIR: k = Kind::Dir; break;
        case DT_LNK: k = Kind::Link; break;  // its target is read when it is followed
        case DT_UNKNOWN: k = kind(prefix + e->d_name); break;
        default: k = Kind::Special; break;  // FIFOs, devices, sockets: never opened
      }
      if (remember && (e->d_type == DT_REG || e->d_type == DT_DIR))
        learned.emplace_back(prefix + e->d_name, e->d_type == DT_DIR ? Node::Dir : Node::File);
      out.push_back({e->d_name, k});
    }
    ::closedir(d);
  }
  if (auto it = layer_children_.find(canonical); it != layer_children_.end())
    for (const std::string& name : it->second) {  // a package's entries shadow the root's
      std::erase_if(out, [&](const Entry& e) { return e.name == name; });
      if (const Kind k = kind(prefix + name); k != Kind::Absent) out.push_back({name, k});  // a whiteout: gone
    }
  for (std::string& name : overlay_child(canonical))  // the way down to a stage
    if (std::none_of(out.begin(), out.end(), [&](const Entry& e) { return e.name == name; }))
      out.push_back({std::move(name), Kind::Dir});
  {
    std::unique_lock lk(mu_);
    for (auto& [path, type] : learned) {
      make_room(nodes_);
      nodes_.try_emplace(std::move(path), Node{type, 0, {}});
    }
  }
  std::sort(out.begin(), out.end(), [](const Entry& x, const Entry& y) { return x.name < y.name; });
  return out;
}

}  // namespace xpatch::resolve

namespace xpatch::resolve {
Root::Kind Root::kind(const std::string& canonical) const {
  switch (stat_node(canonical).type) {
    case Node::Absent: return Kind::Absent;
    case Node::Dir: return Kind::Dir;
    case Node::File: return Kind::File;
    case Node::Link: return Kind::Link;
    case Node::Special: return Kind::Special;
    case Node::Error: break;
  }
  return Kind::Error;
}
}  // namespace xpatch::resolve
