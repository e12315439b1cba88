#include "libpatch/resolve/loader.h"

#include <elf.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <set>

#include <fmt/format.h>

#include "libpatch/elf/model.h"
#include "libpatch/elf/paths.h"

namespace xpatch::resolve {
namespace {

using paths::basename_of;
using paths::dirname_of;
using paths::join;

// Splits a search list. glibc splits DT_RPATH/DT_RUNPATH on ':' and keeps
// empty entries (the working directory); musl splits on ':' and '\n' and
// skips empty ones.
std::vector<std::string> split_list(std::string_view s, std::string_view seps, bool keep_empty) {
  std::vector<std::string> out;
  std::size_t i = 0;
  for (;;) {
    std::size_t j = s.find_first_of(seps, i);
    std::string_view part = s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    if (keep_empty || !part.empty()) out.emplace_back(part);
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

// glibc's is_dst: "$NAME" or "${NAME}", NAME not followed by [A-Za-z0-9_].
std::size_t dst_len(std::string_view s, std::string_view name) {
  if (s.size() < 2 || s[0] != '$') return 0;
  if (s[1] == '{') {
    if (s.substr(2, name.size()) == name && s.size() > 2 + name.size() && s[2 + name.size()] == '}')
      return name.size() + 3;
    return 0;
  }
  if (s.substr(1, name.size()) != name) return 0;
  if (s.size() > 1 + name.size()) {
    char c = s[1 + name.size()];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') return 0;
  }
  return name.size() + 1;
}

// glibc _dl_dst_substitute: known tokens replaced, unknown '$' kept.
// A known token without a value (no $PLATFORM on this arch) drops the entry.
std::optional<std::string> glibc_expand(std::string_view s, const std::string& origin, const LoaderConfig& c) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '$') {
      std::string_view rest = s.substr(i);
      if (std::size_t n = dst_len(rest, "ORIGIN")) {
        out += origin;
        i += n;
        continue;
      }
      if (std::size_t n = dst_len(rest, "PLATFORM")) {
        if (c.platform.empty()) return std::nullopt;
        out += c.platform;
        i += n;
        continue;
      }
      if (std::size_t n = dst_len(rest, "LIB")) {
        out += c.lib_dst;
        i += n;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

// musl fixup_rpath: only $ORIGIN / ${ORIGIN}; any other '$' drops the whole list.
std::optional<std::string> musl_expand(std::string_view s, const std::string& origin) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '$') {
      std::string_view rest = s.substr(i);
      if (rest.starts_with("${ORIGIN}")) {
        out += origin;
        i += 9;
        continue;
      }
      if (rest.starts_with("$ORIGIN")) {
        out += origin;
        i += 7;
        continue;
      }
      return std::nullopt;
    }
    out += s[i++];
  }
  return out;
}

// The target table's facts for an object (libpatch/elf/target.h).
bool abi_compatible(std::uint16_t machine, std::uint32_t fa, std::uint32_t fb) {
  return elf::abi_compatible(machine, fa, fb);
}
std::string multiarch(const Object& o) { return o.tuple ? elf::multiarch(*o.tuple) : std::string(); }
std::string platform_of(const Object& o) { return std::string(elf::platform(o.machine, o.elf_class, o.big_endian)); }
std::vector<std::string> hwcaps_of(const Object& o) { return elf::hwcaps(o.machine, o.elf_class, o.big_endian); }

// glibc's ld.so carries its search defaults as strings: the system
// directories as consecutive NUL-terminated "/.../" strings, and the path of
// its cache. Reading them from the loader in the root beats any table.
void scan_glibc_loader(std::string_view bytes, LoaderConfig& c, std::string& cache) {
  auto is_dir_string = [](std::string_view s) {
    if (s.size() < 2 || s.front() != '/' || s.back() != '/') return false;
    return std::all_of(s.begin(), s.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
  };
  for (std::size_t i = 0; i < bytes.size() && c.system_dirs.empty();) {
    std::size_t nul = bytes.find('\0', i);
    if (nul == std::string_view::npos) break;
    std::vector<std::string> run;
    std::size_t j = i;
    for (;;) {
      std::size_t e = bytes.find('\0', j);
      if (e == std::string_view::npos || !is_dir_string(bytes.substr(j, e - j))) break;
      run.emplace_back(bytes.substr(j, e - j));
      j = e + 1;
    }
    if (run.size() >= 2) c.system_dirs = run;
    i = run.empty() ? nul + 1 : j;
  }
  for (std::size_t at = bytes.find("ld.so.cache"); at != std::string_view::npos;
       at = bytes.find("ld.so.cache", at + 1)) {
    std::size_t end = at + 11;
    if (end >= bytes.size() || bytes[end] != '\0') continue;
    std::size_t start = bytes.rfind('\0', at);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view s = bytes.substr(start, end - start);
    if (s.starts_with('/')) {
      cache = std::string(s);
      break;
    }
  }
}

}  // namespace

bool musl_reserved_name(std::string_view name) noexcept {
  if (!name.starts_with("lib")) return false;
  name.remove_prefix(3);
  for (std::string_view r : {"c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."})
    if (name.starts_with(r)) return true;
  return false;
}

namespace {

void fill_object(Object& o, const elf::ElfFile& f) {
  o.ok = true;
  o.type = f.header.type;
  o.machine = f.header.machine;
  o.flags = f.header.flags;
  o.elf_class = f.header.elf_class;
  o.big_endian = f.header.big_endian;
  o.dynamic = f.is_dynamic();
  o.interpreter = f.interpreter;
  o.runpath = f.runpath;
  o.rpath = f.rpath;
  o.soname = f.soname;
  o.needed.assign(f.needed.begin(), f.needed.end());
  o.flags_1 = f.dt_flags_1;
  elf::Target t = elf::describe_target(f);
  o.libc = t.libc;
  o.tuple = t.tuple;
  o.arch = t.abi.empty() ? t.arch : fmt::format("{} ({})", t.arch, t.abi);
  o.arch += fmt::format(", ELF{}{}", f.header.elf_class, f.header.big_endian ? " big-endian" : "");
  o.glibc_loader = elf::loader_name(f, elf::Libc::Glibc).value_or("");
  o.musl_loader = elf::loader_name(f, elf::Libc::Musl).value_or("");
}

}  // namespace

std::shared_ptr<const Object> Resolver::object(const std::string& canonical) {
  std::promise<std::shared_ptr<const Object>> promise;
  std::shared_future<std::shared_ptr<const Object>> fut;
  {
    std::lock_guard lk(mu_);
    if (auto it = objects_.find(canonical); it != objects_.end()) {
      fut = it->second;
    } else {
      objects_.emplace(canonical, promise.get_future().share());
    }
  }
  if (fut.valid()) return fut.get();
  auto o = std::make_shared<Object>();
  o->path = canonical;
  int fd = root_->open_file(canonical);
  if (fd < 0) {
    o->error_code = code::kUnreadable;
    o->error_message = fmt::format("{}: cannot open: {}", canonical, std::strerror(-fd));
  } else {
    auto r = elf::read_elf_fd(fd, canonical, {.sections = false});
    if (!r) {
      o->error_code = r.error().kind == Error::Kind::NotElf    ? code::kNotElf
                      : r.error().kind == Error::Kind::Io      ? code::kUnreadable
                                                               : code::kMalformed;
      o->error_message = r.error().message;
    } else {
      fill_object(*o, *r);
    }
  }
  std::shared_ptr<const Object> done = o;
  promise.set_value(done);
  return done;
}

void Resolver::assume(const std::string& canonical, const elf::ElfFile& f) {
  auto o = std::make_shared<Object>();
  o->path = canonical;
  fill_object(*o, f);
  std::promise<std::shared_ptr<const Object>> promise;
  promise.set_value(std::move(o));
  std::lock_guard lk(mu_);
  objects_.insert_or_assign(canonical, promise.get_future().share());
}

std::shared_ptr<const LoaderConfig> Resolver::loader_config(Family family, const std::string& interp,
                                                            const Object& top) {
  std::string key = fmt::format("{}|{}|{}|{}|{}", family_name(family), interp, top.machine, top.elf_class,
                                top.tuple.value_or(""));
  std::promise<std::shared_ptr<const LoaderConfig>> promise;
  std::shared_future<std::shared_ptr<const LoaderConfig>> fut;
  {
    std::lock_guard lk(mu_);
    if (auto it = configs_.find(key); it != configs_.end()) fut = it->second;
    else configs_.emplace(key, promise.get_future().share());
  }
  if (fut.valid()) return fut.get();
  std::shared_ptr<const LoaderConfig> c = make_config(family, interp, top);
  promise.set_value(c);
  return c;
}

namespace {

// ld.so.conf: one directory per line, '#' comments, "include GLOB" (relative
// to the file's directory), "hwcap" lines ignored. Globs may use wildcards in
// their last component, as every distribution's "ld.so.conf.d/*.conf" does.
void parse_ld_so_conf(const Root& root, const std::string& file, std::vector<std::string>& dirs,
                      std::set<std::string>& seen, int depth) {
  if (depth > 8) return;
  Lookup l = root.resolve(file);
  if (!l.found() || l.is_dir || !seen.insert(l.path).second) return;
  std::string text;
  if (root.read_file(l.path, text, 1 << 20) != 0) return;
  for (std::string_view line : split_list(text, "\n", false)) {
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.starts_with("include") && line.size() > 7 && std::isblank(static_cast<unsigned char>(line[7]))) {
      std::string_view pat = line.substr(8);
      while (!pat.empty() && std::isblank(static_cast<unsigned char>(pat.front()))) pat.remove_prefix(1);
      std::string pattern = pat.starts_with('/') ? std::string(pat) : join(dirname_of(file), pat);
      std::string dir = dirname_of(pattern), glob = basename_of(pattern);
      Lookup d = root.resolve(dir);
      if (!d.found() || !d.is_dir) continue;
      for (const Root::Entry& e : root.list_dir(d.path))
        if (::fnmatch(glob.c_str(), e.name.c_str(), FNM_PERIOD) == 0)
          parse_ld_so_conf(root, join(d.path, e.name), dirs, seen, depth + 1);
      continue;
    }
    if (line.starts_with("hwcap") && line.size() > 5 && std::isblank(static_cast<unsigned char>(line[5]))) continue;
    std::string d(line);
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
}

}  // namespace

std::shared_ptr<LoaderConfig> Resolver::make_config(Family family, const std::string& interp, const Object& top) {
  auto c = std::make_shared<LoaderConfig>();
  c->family = family;
  c->interp = interp;
  Lookup l = interp.starts_with('/') ? root_->resolve(interp) : Lookup{};
  c->interp_found = l.found() && !l.is_dir;
  if (family == Family::Glibc) {
    c->platform = platform_of(top);
    c->hwcaps = hwcaps_of(top);
    std::string cache;
    std::string bytes;
    if (c->interp_found && root_->read_file(l.path, bytes, 64u << 20) == 0) {
      scan_glibc_loader(bytes, *c, cache);
      if (!c->system_dirs.empty()) c->origin_note = "system directories and cache path read from " + l.path;
    }
    if (c->system_dirs.empty()) {
      std::string ma = multiarch(top);
      if (!ma.empty()) c->system_dirs = {"/lib/" + ma, "/usr/lib/" + ma};
      c->system_dirs.insert(c->system_dirs.end(), {"/lib", "/usr/lib"});
      c->origin_note = "Debian's defaults (the loader could not be read)";
    }
    for (std::string& d : c->system_dirs)
      while (d.size() > 1 && d.back() == '/') d.pop_back();
    // $LIB is the first system directory without its leading slash
    // ("lib/x86_64-linux-gnu" on Debian, "lib64" on Fedora).
    c->lib_dst = c->system_dirs.front().substr(1);
    if (cache.empty()) cache = "/etc/ld.so.cache";
    c->ld_so_conf = cache.substr(0, cache.size() - 5) + "conf";
    std::set<std::string> seen;
    parse_ld_so_conf(*root_, c->ld_so_conf, c->conf_dirs, seen, 0);
    return c;
  }
  // musl: prefix/etc/ld-musl-ARCH.path, where prefix is the loader's path
  // up to its second-to-last slash; ARCH is in the loader's file name.
  std::string base = basename_of(interp);
  std::string arch;
  if (base.starts_with("ld-musl-") && base.ends_with(".so.1")) arch = base.substr(8, base.size() - 13);
  else if (top.musl_loader.size() > 13) arch = top.musl_loader.substr(8, top.musl_loader.size() - 13);
  std::string prefix;
  if (interp.starts_with('/')) {
    std::size_t last = interp.rfind('/');
    std::size_t second = last == 0 ? 0 : interp.rfind('/', last - 1);
    prefix = interp.substr(0, second == std::string::npos ? 0 : second);
  }
  c->path_file = prefix + "/etc/ld-musl-" + arch + ".path";
  std::string text;
  Lookup pf = root_->resolve(c->path_file);
  int rc = pf.found() ? root_->read_file(pf.path, text, 1 << 20) : -ENOENT;
  if (pf.status == Lookup::Status::Loop) rc = -ELOOP;
  if (rc == 0) {
    c->path_file_exists = true;
    c->musl_dirs = split_list(text, ":\n", false);
    c->origin_note = "search path read from " + c->path_file;
  } else if (rc == -ENOENT || rc == -ENOTDIR) {
    c->musl_dirs = {"/lib", "/usr/local/lib", "/usr/lib"};
    c->origin_note = c->path_file + " is absent: musl's default /lib:/usr/local/lib:/usr/lib";
  } else {
    c->origin_note = c->path_file + " exists but cannot be read: musl searches no system directory";
  }
  return c;
}

// ---------------------------------------------------------------------------
// One tree: breadth-first, as both loaders load.

namespace {

class TreeBuilder {
 public:
  TreeBuilder(Resolver& r, const Root& root, Tree& t) : r_(r), root_(root), t_(t) {}

  void add(Severity sev, const char* code, const std::string& object, const std::string& subject,
           std::string message) {
    for (const Finding& f : t_.findings)
      if (f.code == code && f.object == object && f.subject == subject) return;
    t_.findings.push_back({sev, code, object, subject, std::move(message)});
  }

  void run(const std::string& path);

 private:
  enum class Fit { Ok, Unreadable, Invalid, Foreign };
  struct Found {
    std::string opened_as, canonical, via;
    std::shared_ptr<const Object> obj;
  };

  const Object& top() const { return *t_.nodes[0].obj; }
  std::string origin(int i) const {
    // The main program's $ORIGIN comes from /proc/self/exe (symlinks
    // resolved); a library's from the path the loader opened it by.
    return i == 0 ? dirname_of(t_.nodes[0].path) : dirname_of(t_.nodes[static_cast<std::size_t>(i)].opened_as);
  }
  Fit fit(const Object& o, std::string* why) const;
  bool host_candidate_fits(const std::string& path) const;
  void note_lookup(const Lookup& l, const std::string& object);
  void check_search_list(int node);
  void check_interp();
  std::string find_library_loader();

  std::optional<Found> try_path(int req, const std::string& cand, const std::string& via, bool& stop);
  TreeEdge resolve_glibc(int req, const std::string& name);
  TreeEdge resolve_musl(int req, const std::string& name);
  TreeEdge finish(int req, const std::string& name, std::optional<Found> f, const std::vector<std::string>& tried,
                  bool stopped);

  Resolver& r_;
  const Root& root_;
  Tree& t_;
  std::string interp_;
  int libc_node_ = -1;  // a library checked on its own: the libc its program would have loaded
  const LoaderConfig* cfg_ = nullptr;
  std::string stop_reason_;
};

TreeBuilder::Fit TreeBuilder::fit(const Object& o, std::string* why) const {
  const Object& m = top();
  if (!o.ok) {
    *why = o.error_message;
    return o.error_code == code::kUnreadable ? Fit::Unreadable : Fit::Invalid;
  }
  if (o.elf_class != m.elf_class || o.machine != m.machine || !abi_compatible(m.machine, m.flags, o.flags)) {
    *why = fmt::format("{} is {}, not {}", o.path, o.arch, m.arch);
    return Fit::Foreign;
  }
  if (o.big_endian != m.big_endian) {
    *why = fmt::format("{} is {}, not {}", o.path, o.arch, m.arch);
    return t_.family == Family::Glibc ? Fit::Invalid : Fit::Foreign;  // glibc: "ELF file data encoding" is fatal
  }
  if (o.type != ET_DYN && !(t_.family == Family::Musl && o.type == ET_EXEC)) {
    *why = fmt::format("{} has e_type {}, not ET_DYN", o.path, o.type);
    return Fit::Invalid;
  }
  return Fit::Ok;
}

// Could the file at this path on the host be the dependency, so that it is
// "found outside the root" rather than missing? The check never opens a file
// outside the root, so this goes by name: the file must exist, and no
// directory on its way may be named for another architecture's tuple
// (/lib/x86_64-linux-gnu/libc.so.6 does not serve an aarch64 program).
bool TreeBuilder::host_candidate_fits(const std::string& path) const {
  if (::access(path.c_str(), F_OK) != 0) return false;
  const Object& m = top();
  std::string own = m.tuple.value_or(""), own_ma = multiarch(m);
  for (std::string_view rest = path; !rest.empty();) {
    std::size_t slash = rest.find('/');
    std::string_view c = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (c.find("-linux-") != std::string_view::npos && c != own && c != own_ma) return false;
  }
  return true;
}

void TreeBuilder::note_lookup(const Lookup& l, const std::string& object) {
  if (!l.escaping_link.empty())
    add(Severity::Warning, code::kSymlinkEscape, object, l.escaping_link,
        fmt::format("{}: symbolic link climbs above the root; it was resolved as if the root were /",
                    l.escaping_link));
  if (l.status == Lookup::Status::Loop)
    add(Severity::Error, code::kSymlinkLoop, object, l.path,
        fmt::format("{}: too many levels of symbolic links (a loop)", l.path));
}

// Runpath entries of one object, checked once when it joins the tree.
void TreeBuilder::check_search_list(int node) {
  const TreeNode& n = t_.nodes[static_cast<std::size_t>(node)];
  const Object& o = *n.obj;
  const bool is_runpath = o.runpath.has_value();
  const std::optional<std::string>& list = is_runpath ? o.runpath : o.rpath;
  if (!list) return;
  const char* tag = is_runpath ? "DT_RUNPATH" : "DT_RPATH";
  if (t_.family == Family::Musl && !musl_expand(*list, "/").has_value()) {
    add(Severity::Warning, code::kRunpathIgnored, n.path, *list,
        fmt::format("{}: {} \"{}\": musl ignores the whole list because it uses a token other than $ORIGIN",
                    n.path, tag, *list));
    return;
  }
  for (const std::string& entry : split_list(*list, t_.family == Family::Glibc ? ":" : ":\n", true)) {
    if (entry.empty()) {
      if (t_.family == Family::Glibc)
        add(Severity::Warning, code::kRunpathEmpty, n.path, *list,
            fmt::format("{}: {} \"{}\" has an empty entry, which glibc searches as the working directory", n.path,
                        tag, *list));
      continue;
    }
    std::optional<std::string> exp = t_.family == Family::Glibc ? glibc_expand(entry, origin(node), *cfg_)
                                                                : musl_expand(entry, origin(node));
    if (!exp) continue;
    if (!exp->starts_with('/')) {
      add(Severity::Warning, code::kRunpathRelative, n.path, entry,
          fmt::format("{}: {} entry \"{}\" is relative: it is searched from the working directory, not the file",
                      n.path, tag, entry));
      continue;
    }
    Lookup l = root_.resolve(*exp);
    note_lookup(l, n.path);
    if (l.climbed)
      add(Severity::Warning, code::kRunpathOutside, n.path, entry,
          fmt::format("{}: {} entry \"{}\" ({}) climbs above the root", n.path, tag, entry, *exp));
    else if (!l.found() || !l.is_dir)
      add(Severity::Warning, code::kRunpathMissing, n.path, entry,
          fmt::format("{}: {} entry \"{}\" ({}) is not a directory in the root", n.path, tag, entry, *exp));
  }
}

std::string TreeBuilder::find_library_loader() {
  const Object& m = top();
  const std::string& name = t_.family == Family::Glibc ? m.glibc_loader : m.musl_loader;
  if (name.empty()) return {};
  // The loader itself, checked on its own, is its own loader.
  if (basename_of(m.path) == name || m.soname == name) return t_.nodes[0].path;
  std::vector<std::string> dirs;
  if (m.tuple) dirs.push_back("/usr/" + *m.tuple + "/lib");
  dirs.insert(dirs.end(), {"/lib", "/lib64", "/usr/lib"});
  if (std::string ma = multiarch(m); !ma.empty()) dirs.push_back("/lib/" + ma);
  for (const std::string& d : dirs) {
    Lookup l = root_.resolve(join(d, name));
    if (l.found() && !l.is_dir) return join(d, name);
  }
  add(Severity::Warning, code::kNoLoader, m.path, name,
      fmt::format("{}: no {} loader {} in the root (looked in {}); default directories are a guess", m.path,
                  family_name(t_.family), name, fmt::join(dirs, ", ")));
  return "/lib/" + name;
}

void TreeBuilder::check_interp() {
  const Object& m = top();
  const std::string& p = *m.interpreter;
  if (!p.starts_with('/')) {
    add(Severity::Error, code::kInterpRelative, m.path, p,
        fmt::format("{}: PT_INTERP \"{}\" is relative: the kernel resolves it from the working directory", m.path,
                    p));
    return;
  }
  Lookup l = root_.resolve(p);
  note_lookup(l, m.path);
  if (!l.found() || l.is_dir) {
    std::string where = !root_.is_host_root() && ::access(p.c_str(), F_OK) == 0 ? " (it exists on the host, outside the root)" : "";
    add(Severity::Error, code::kInterpMissing, m.path, p,
        fmt::format("{}: PT_INTERP {} does not exist in the root{}", m.path, p, where));
    return;
  }
  auto lo = r_.object(l.path);
  if (!lo->ok) {
    add(Severity::Error, code::kInterpMissing, m.path, p,
        fmt::format("{}: PT_INTERP {}: {}", m.path, p, lo->error_message));
    return;
  }
  if (lo->machine != m.machine || lo->elf_class != m.elf_class || lo->big_endian != m.big_endian ||
      !abi_compatible(m.machine, m.flags, lo->flags)) {
    add(Severity::Error, code::kInterpWrongArch, m.path, p,
        fmt::format("{}: PT_INTERP {} is {}, but the program is {}", m.path, p, lo->arch, m.arch));
    return;
  }
  TreeNode n;
  n.path = l.path;
  n.opened_as = p;
  n.obj = lo;
  n.loader = 0;
  n.names = {p};
  if (lo->soname) n.names.push_back(*lo->soname);
  t_.nodes.push_back(std::move(n));
  t_.interp_node = static_cast<int>(t_.nodes.size()) - 1;
}

std::optional<TreeBuilder::Found> TreeBuilder::try_path(int req, const std::string& cand, const std::string& via,
                                                        bool& stop) {
  const std::string& object = t_.nodes[static_cast<std::size_t>(req)].path;
  Lookup l = root_.resolve(cand);
  note_lookup(l, object);
  if (l.status == Lookup::Status::Loop) {
    // glibc moves on; musl stops searching on any error but "not there".
    if (t_.family == Family::Musl) stop = true;
    return std::nullopt;
  }
  if (l.status == Lookup::Status::Denied) {
    add(Severity::Error, code::kUnreadable, object, l.path,
        fmt::format("{}: cannot search: {}", l.path, std::strerror(l.error)));
    return std::nullopt;
  }
  if (!l.found() || l.is_dir) return std::nullopt;
  auto o = r_.object(l.path);
  std::string why;
  switch (fit(*o, &why)) {
    case Fit::Ok: return Found{cand, l.path, via, o};
    case Fit::Unreadable:
      add(Severity::Error, code::kUnreadable, object, l.path, why);
      return std::nullopt;
    case Fit::Invalid:
      stop = true;
      stop_reason_ = fmt::format("{} would stop at {} ({})", family_name(t_.family), cand, why);
      return std::nullopt;
    case Fit::Foreign:
      if (t_.family == Family::Musl) {  // musl maps what it opens; it never checks e_machine
        stop = true;
        stop_reason_ = fmt::format("musl would load {}, which does not fit: {}", cand, why);
        return std::nullopt;
      }
      // ld.so.cache keeps entries per architecture: a foreign file there is
      // never even tried, so it is not worth a warning.
      if (via != "ld.so.cache")
        add(Severity::Warning, code::kWrongArchSkipped, object, l.path,
            fmt::format("{}: glibc skips {} ({}) and searches on", object, cand, why));
      return std::nullopt;
  }
  return std::nullopt;
}

TreeEdge TreeBuilder::finish(int req, const std::string& name, std::optional<Found> f,
                             const std::vector<std::string>& tried, bool stopped) {
  TreeEdge e{req, name, -1, {}};
  const std::string& object = t_.nodes[static_cast<std::size_t>(req)].path;
  if (!f) {
    if (stopped) {
      e.via = "invalid";
      add(Severity::Error, t_.family == Family::Musl && stop_reason_.starts_with("musl would load")
                               ? code::kNeededWrongArch
                               : code::kNeededInvalid,
          object, name, fmt::format("{}: DT_NEEDED {}: {}", object, name, stop_reason_));
      return e;
    }
    e.via = "missing";
    if (!root_.is_host_root()) {
      for (const std::string& cand : tried) {
        if (cand.starts_with('/') && host_candidate_fits(cand)) {
          add(Severity::Error, code::kNeededHostOnly, object, name,
              fmt::format("{}: DT_NEEDED {} is found only outside the root, at {} on the host", object, name, cand));
          e.via = "host-only";
          return e;
        }
      }
    }
    add(Severity::Error, code::kNeededMissing, object, name,
        fmt::format("{}: DT_NEEDED {} not found; {} searched {}", object, name, family_name(t_.family),
                    tried.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(tried, ", "))));
    return e;
  }
  e.via = f->via;
  for (std::size_t j = 0; j < t_.nodes.size(); ++j) {
    if (t_.nodes[j].path == f->canonical) {  // the same file (dev/ino) is loaded once
      e.to = static_cast<int>(j);
      if (std::find(t_.nodes[j].names.begin(), t_.nodes[j].names.end(), name) == t_.nodes[j].names.end())
        t_.nodes[j].names.push_back(name);
      return e;
    }
  }
  TreeNode n;
  n.path = f->canonical;
  n.opened_as = f->opened_as;
  n.obj = f->obj;
  n.loader = req;
  n.names = {name};
  if (f->obj->soname) n.names.push_back(*f->obj->soname);
  if (name.find('/') == std::string::npos) n.shortname = basename_of(f->opened_as);
  t_.nodes.push_back(std::move(n));
  e.to = static_cast<int>(t_.nodes.size()) - 1;
  check_search_list(e.to);
  return e;
}

TreeEdge TreeBuilder::resolve_glibc(int req, const std::string& name) {
  std::vector<std::string> tried;
  bool stop = false;
  stop_reason_.clear();
  if (name.find('/') != std::string::npos) {
    auto p = glibc_expand(name, origin(req), *cfg_);
    if (!p || !p->starts_with('/')) return finish(req, name, std::nullopt, tried, false);
    tried.push_back(*p);
    return finish(req, name, try_path(req, *p, "path in DT_NEEDED", stop), tried, stop);
  }
  for (std::size_t j = 0; j < t_.nodes.size(); ++j) {
    const auto& names = t_.nodes[j].names;
    if (std::find(names.begin(), names.end(), name) != names.end())
      return TreeEdge{req, name, static_cast<int>(j),
                      j == static_cast<std::size_t>(t_.interp_node) ? "loader"
                      : j == static_cast<std::size_t>(libc_node_)   ? "the program's libc, beside the loader"
                                                                    : "loaded"};
  }
  struct Dir {
    std::string dir, via;
  };
  std::vector<Dir> dirs;
  const Object& ro = *t_.nodes[static_cast<std::size_t>(req)].obj;
  if (!ro.runpath) {
    // DT_RPATH of the requester, then of whoever loaded it, up to the
    // program; an object's DT_RPATH is void when it also has DT_RUNPATH.
    for (int l = req; l >= 0; l = t_.nodes[static_cast<std::size_t>(l)].loader) {
      const Object& o = *t_.nodes[static_cast<std::size_t>(l)].obj;
      if (!o.rpath || o.runpath) continue;
      std::string via = l == req ? "RPATH" : "RPATH of " + t_.nodes[static_cast<std::size_t>(l)].path;
      for (const std::string& entry : split_list(*o.rpath, ":", true))
        if (auto d = glibc_expand(entry, origin(l), *cfg_)) dirs.push_back({*d, via});
    }
  } else {
    for (const std::string& entry : split_list(*ro.runpath, ":", true))
      if (auto d = glibc_expand(entry, origin(req), *cfg_)) dirs.push_back({*d, "RUNPATH"});
  }
  const bool nodeflib = (ro.flags_1 & DF_1_NODEFLIB) != 0;
  auto in_system = [&](const std::string& d) {
    return std::find(cfg_->system_dirs.begin(), cfg_->system_dirs.end(), d) != cfg_->system_dirs.end();
  };
  for (const std::string& d : cfg_->conf_dirs)
    if (!nodeflib || !in_system(d)) dirs.push_back({d, "ld.so.cache"});
  if (!nodeflib)
    for (const std::string& d : cfg_->system_dirs) dirs.push_back({d, "system directory"});

  for (const Dir& d : dirs) {
    std::string cand = join(d.dir, name);
    tried.push_back(cand);
    if (auto f = try_path(req, cand, d.via, stop)) return finish(req, name, f, tried, false);
    if (stop) return finish(req, name, std::nullopt, tried, true);
    for (const std::string& level : cfg_->hwcaps) {  // found only under glibc-hwcaps/<level>
      std::string hw = join(join(join(d.dir, "glibc-hwcaps"), level), name);
      Lookup l = root_.resolve(hw);
      if (!l.found() || l.is_dir) continue;
      if (auto f = try_path(req, hw, d.via + ", glibc-hwcaps/" + level, stop)) {
        add(Severity::Warning, code::kHwcapsOnly, t_.nodes[static_cast<std::size_t>(req)].path, name,
            fmt::format("{}: DT_NEEDED {} is found only in {}, which glibc searches only on CPUs with {}",
                        t_.nodes[static_cast<std::size_t>(req)].path, name, hw, level));
        return finish(req, name, f, tried, false);
      }
    }
  }
  return finish(req, name, std::nullopt, tried, false);
}

TreeEdge TreeBuilder::resolve_musl(int req, const std::string& name) {
  std::vector<std::string> tried;
  bool stop = false;
  stop_reason_.clear();
  if (name.empty()) return finish(req, name, std::nullopt, tried, false);
  if (musl_reserved_name(name) || name == interp_)
    return TreeEdge{req, name, t_.interp_node, "loader"};
  if (name.find('/') != std::string::npos) {
    tried.push_back(name);
    if (!name.starts_with('/')) return finish(req, name, std::nullopt, tried, false);
    return finish(req, name, try_path(req, name, "path in DT_NEEDED", stop), tried, stop);
  }
  for (std::size_t j = 0; j < t_.nodes.size(); ++j)
    if (t_.nodes[j].shortname == name) return TreeEdge{req, name, static_cast<int>(j), "loaded"};
  if (name.size() > 255) return finish(req, name, std::nullopt, tried, false);
  // The requester's search list, then every ancestor's, up to the program.
  for (int l = req; l >= 0; l = t_.nodes[static_cast<std::size_t>(l)].loader) {
    const Object& o = *t_.nodes[static_cast<std::size_t>(l)].obj;
    const std::optional<std::string>& list = o.runpath ? o.runpath : o.rpath;
    if (!list) continue;
    auto exp = musl_expand(*list, origin(l));
    if (!exp) continue;
    std::string via = (o.runpath ? std::string("RUNPATH") : std::string("RPATH")) +
                      (l == req ? "" : " of " + t_.nodes[static_cast<std::size_t>(l)].path);
    for (const std::string& d : split_list(*exp, ":\n", false)) {
      std::string cand = join(d, name);
      tried.push_back(cand);
      if (auto f = try_path(req, cand, via, stop)) return finish(req, name, f, tried, false);
      if (stop) return finish(req, name, std::nullopt, tried, true);
    }
  }
  for (const std::string& d : cfg_->musl_dirs) {
    std::string cand = join(d, name);
    tried.push_back(cand);
    if (auto f = try_path(req, cand, cfg_->path_file_exists ? "ld-musl path file" : "musl default", stop))
      return finish(req, name, f, tried, false);
    if (stop) return finish(req, name, std::nullopt, tried, true);
  }
  return finish(req, name, std::nullopt, tried, false);
}

void TreeBuilder::run(const std::string& path) {
  Lookup l = root_.resolve(path);
  note_lookup(l, path);
  TreeNode top;
  top.path = l.found() ? l.path : path;
  top.opened_as = top.path;
  if (!l.found() || l.is_dir) {
    top.obj = std::make_shared<Object>();
    t_.nodes.push_back(std::move(top));
    if (l.status != Lookup::Status::Loop)
      add(Severity::Error, code::kUnreadable, path, path,
          fmt::format("{}: {}", path, l.is_dir ? "is a directory" : "no such file in the root"));
    return;
  }
  top.obj = r_.object(top.path);
  const Object& m = *top.obj;
  t_.nodes.push_back(std::move(top));
  if (!m.ok) {
    add(m.error_code == code::kNotElf ? Severity::Warning : Severity::Error, m.error_code.c_str(), m.path, m.path,
        m.error_message);
    return;
  }
  if (!m.dynamic || (m.type != ET_DYN && m.type != ET_EXEC)) {
    t_.is_static = true;
    return;
  }
  // The family, as the target table says (elf::libc_of: the interpreter's
  // name, else the libc it needs; Debian's musl loader is
  // /usr/lib/<triplet>/libc.so). An unknown interpreter gets glibc's rules.
  t_.family = m.libc == elf::Libc::Musl ? Family::Musl : Family::Glibc;
  if (!m.interpreter) {
    if (m.libc != elf::Libc::Musl && m.libc != elf::Libc::Glibc)
      add(Severity::Info, code::kFamilyUnknown, m.path, "",
          fmt::format("{}: no interpreter and no libc among its DT_NEEDED; glibc's rules are used", m.path));
  }
  if (m.soname) t_.nodes[0].names.push_back(*m.soname);
  if (m.interpreter) {
    interp_ = *m.interpreter;
    check_interp();
  } else {
    interp_ = find_library_loader();
    if (!interp_.empty() && interp_ != t_.nodes[0].path) {
      Lookup il = root_.resolve(interp_);
      if (il.found() && !il.is_dir) {
        TreeNode n;
        n.path = il.path;
        n.opened_as = interp_;
        n.obj = r_.object(il.path);
        n.loader = 0;
        n.names = {interp_};
        if (n.obj->soname) n.names.push_back(*n.obj->soname);
        t_.nodes.push_back(std::move(n));
        t_.interp_node = static_cast<int>(t_.nodes.size()) - 1;
        // Every glibc process has libc.so.6 loaded by the time a library
        // is: a library checked on its own is given the libc beside its
        // loader, as the program that loads it would have.
        if (t_.family == Family::Glibc) {
          std::string libc = join(dirname_of(interp_), "libc.so.6");
          Lookup cl = root_.resolve(libc);
          std::string why;
          if (cl.found() && !cl.is_dir) {
            auto co = r_.object(cl.path);
            if (fit(*co, &why) == Fit::Ok) {
              TreeNode c;
              c.path = cl.path;
              c.opened_as = libc;
              c.obj = co;
              c.loader = 0;
              c.names = {"libc.so.6"};
              t_.nodes.push_back(std::move(c));
              libc_node_ = static_cast<int>(t_.nodes.size()) - 1;
            }
          }
        }
      }
    }
  }
  t_.config = r_.loader_config(t_.family, interp_, m);
  cfg_ = t_.config.get();
  check_search_list(0);
  for (std::size_t i = 0; i < t_.nodes.size(); ++i) {
    if (static_cast<int>(i) == t_.interp_node || static_cast<int>(i) == libc_node_)
      continue;  // the loader's (and the program's libc's) needs are met before ours
    std::vector<std::string> needed = t_.nodes[i].obj->needed;  // nodes may grow (and move) below
    for (const std::string& name : needed)
      t_.edges.push_back(t_.family == Family::Glibc ? resolve_glibc(static_cast<int>(i), name)
                                                    : resolve_musl(static_cast<int>(i), name));
  }
}

}  // namespace

Tree Resolver::resolve(const std::string& path) {
  Tree t;
  TreeBuilder(*this, *root_, t).run(path);
  return t;
}

}  // namespace xpatch::resolve
