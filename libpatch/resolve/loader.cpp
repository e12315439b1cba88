#include "libpatch/resolve/loader.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "libpatch/elf/model.h"
#include "libpatch/resolve/rules.h"
#include "libpatch/elf/paths.h"

namespace xpatch::resolve {

// Splits a search list. glibc splits DT_RPATH/DT_RUNPATH on ':' and keeps
// empty entries (the working directory); musl splits on ':' and '\n' and
// skips empty ones.
std::vector<std::string> split_list(std::string_view s, std::string_view seps, bool keep_empty) {
  const auto parts = paths::split(s, seps, keep_empty);
  return {parts.begin(), parts.end()};
}

// The target table's facts for an object (libpatch/elf/target.h).
bool abi_compatible(std::uint16_t machine, std::uint32_t fa, std::uint32_t fb) {
  return elf::abi_compatible(machine, fa, fb);
}
std::string multiarch(const Object& o) { return o.tuple ? elf::multiarch(*o.tuple) : std::string(); }

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
  o.osabi = f.header.osabi;
  o.abiversion = f.header.abiversion;
  o.ident_version = f.header.ident_version;
  o.ident_padding = f.header.ident_padding;
  o.version = f.header.version;
  for (const elf::Segment& s : f.segments) {
    if (s.type == PT_LOAD) {
      ++o.load_segments;
      // Linux's smallest page: what is not congruent modulo 4096 is not
      // modulo any page size a kernel uses.
      if (!o.misaligned_load && ((s.vaddr - s.offset) & 4095) != 0) o.misaligned_load = {s.vaddr, s.offset};
    } else if (s.type == PT_DYNAMIC) {
      o.pt_dynamic = s.filesz != 0;
      o.dynamic_vaddr = s.vaddr;
    }
  }
}

}  // namespace

std::shared_ptr<const Object> Resolver::object(const std::string& canonical) {
  return computed_once(mu_, objects_, canonical, [&] { return parse(canonical, root_->open_file(canonical)); });
}

std::shared_ptr<const Object> Resolver::walked_object(const std::string& canonical,
                                                      std::shared_ptr<OpenObject>* keep, OpenFile* opened) {
  std::shared_future<std::shared_ptr<const Object>> fut;
  {
    std::lock_guard lk(mu_);
    if (auto it = objects_.find(canonical); it != objects_.end()) fut = it->second;
  }
  if (fut.valid()) return fut.get();
  // Not kept: a tree that loads it later parses it again, once. The walk
  // comes to /usr/bin before /usr/lib, so most libraries are loaded (and
  // kept) before they are walked.
  if (opened) return parse_open(canonical, std::move(*opened), keep);
  return parse(canonical, root_->open_walked(canonical), keep);
}

// Parses the file open as `fd` (or -errno) into an Object. `fd` is closed,
// or with `keep` left open in *keep, with the parse, when the file is ELF.
std::shared_ptr<const Object> Resolver::parse(const std::string& canonical, int fd,
                                              std::shared_ptr<OpenObject>* keep) const {
  if (fd >= 0) return parse_open(canonical, OpenFile::adopt(fd, canonical), keep);
  auto o = std::make_shared<Object>();
  o->path = canonical;
  if (fd == -ENXIO) {  // a device, FIFO or socket: Root refuses to open it
    o->error_code = code::kNotElf;
    o->error_message = fmt::format("{}: not a regular file (a FIFO, socket or device)", canonical);
  } else {
    o->error_code = code::kUnreadable;
    o->error_message = fmt::format("{}: cannot open: {}", canonical, std::strerror(-fd));
  }
  return o;
}

// Parses an open file (or the error opening it) into an Object; with
// `keep`, an ELF file is left open and parsed in *keep.
std::shared_ptr<const Object> Resolver::parse_open(const std::string& canonical, Expected<OpenFile> file,
                                                   std::shared_ptr<OpenObject>* keep) const {
  auto o = std::make_shared<Object>();
  o->path = canonical;
  std::shared_ptr<OpenObject> open;
  Expected<elf::ElfFile> r = file ? (open = std::make_shared<OpenObject>(canonical, std::move(*file), 16384),
                                     elf::read_elf_from(open->bytes, {.sections = false}))
                                  : Expected<elf::ElfFile>(file.error());
  if (!r) {
    o->error_code = r.error().kind == Error::Kind::NotElf ? code::kNotElf
                    : r.error().kind == Error::Kind::Io   ? code::kUnreadable
                                                          : code::kMalformed;
    o->error_message = r.error().message;
  } else {
    fill_object(*o, *r);
    o->executable = (open->file.mode() & 0111) != 0;
    if (keep) {
      open->parsed = std::move(*r);
      *keep = std::move(open);
    }
  }
  return o;
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
  return computed_once(mu_, configs_, key, [&] { return make_config(family, interp, top); });
}

std::optional<Fit> unparsed_fit(const Object& o, std::string* why) {
  if (o.ok) return std::nullopt;
  *why = o.error_message;
  return o.error_code == code::kUnreadable ? Fit::Unreadable : Fit::Invalid;
}
std::string arch_mismatch(const Object& o, const Object& top) {
  return fmt::format("{} is {}, not {}", o.path, o.arch, top.arch);
}
bool same_machine(const Object& o, const Object& top) {
  return o.machine == top.machine && abi_compatible(top.machine, top.flags, o.flags);
}

const LoaderRules& rules_for(Family f) {
  switch (f) {
    case Family::Glibc: return glibc_rules();
    case Family::Musl: return musl_rules();
  }
  return glibc_rules();
}

std::vector<Candidate> LoaderRules::candidates(const LoaderConfig&, const SearchDir& d, const std::string& name) const {
  return {{join(d.dir, name), d.via, {}}};
}

std::shared_ptr<LoaderConfig> Resolver::make_config(Family family, const std::string& interp, const Object& top) {
  auto c = std::make_shared<LoaderConfig>();
  c->family = family;
  c->interp = interp;
  Lookup l = interp.starts_with('/') ? root_->resolve(interp) : Lookup{};
  c->interp_found = l.found() && !l.is_dir;
  rules_for(family).configure(*root_, interp, top, *c);
  return c;
}

// ---------------------------------------------------------------------------
// One tree: breadth-first, as both loaders load. The family's rules
// (rules.h) decide the search; the walk and the findings are shared.

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

  void run(const std::string& path, bool walked, bool keep_open, OpenFile* opened = nullptr);

 private:
  // A loaded object joins the tree; its index. `names`: what it answers to
  // (the name it was opened by, and its DT_SONAME when the loader records it).
  int add_node(std::string path, std::string opened_as, std::shared_ptr<const Object> obj, int loader,
               std::vector<std::string> names) {
    TreeNode n;
    n.path = std::move(path);
    n.opened_as = std::move(opened_as);
    n.obj = std::move(obj);
    n.loader = loader;
    n.names = std::move(names);
    t_.nodes.push_back(std::move(n));
    return static_cast<int>(t_.nodes.size()) - 1;
  }
  static std::vector<std::string> name_and_soname(const std::string& name, const Object& o) {
    std::vector<std::string> v{name};
    if (o.soname) v.push_back(*o.soname);
    return v;
  }

  struct Found {
    std::string opened_as, canonical, via;
    std::shared_ptr<const Object> obj;
  };
  // Why a search ended without a file: the finding it becomes.
  struct Stop {
    const char* code = nullptr;  // null: not stopped
    std::string reason;
    std::string at;          // the file it stopped at, if one was opened
    bool end_list = false;   // only this search list ends (glibc, a loop at the name)
  };

  const Object& top() const { return *t_.nodes[0].obj; }
  LoadState state() const { return LoadState{t_, *cfg_, interp_, libc_node_}; }
  Fit fit(const Object& o, std::string* why) const;
  bool host_candidate_fits(const std::string& path) const;
  void note_lookup(const Lookup& l, const std::string& object, Severity loop = Severity::Error);
  void check_search_list(int node);
  void check_interp();
  std::string find_library_loader();

  std::optional<Found> try_path(int req, const std::string& cand, const std::string& via, Stop& stop);
  TreeEdge resolve_needed(int req, const std::string& name);
  void note_cache(int req, const std::string& name, const std::vector<Candidate>& cands);
  std::string ldconfig_hint() const;
  TreeEdge finish(int req, const std::string& name, std::optional<Found> f, const std::vector<std::string>& tried,
                  const Stop& stop);

  Resolver& r_;
  const Root& root_;
  Tree& t_;
  const LoaderRules* rules_ = &glibc_rules();
  std::string interp_;
  int libc_node_ = -1;  // a library checked on its own: the libc its program would have loaded
  const LoaderConfig* cfg_ = nullptr;
};

Fit TreeBuilder::fit(const Object& o, std::string* why) const { return rules_->classify(o, top(), why); }

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

void TreeBuilder::note_lookup(const Lookup& l, const std::string& object, Severity loop) {
  if (!l.escaping_link.empty())
    add(Severity::Warning, code::kSymlinkEscape, object, l.escaping_link,
        fmt::format("{}: symbolic link climbs above the root; it was resolved as if the root were /",
                    l.escaping_link));
  if (l.status == Lookup::Status::Loop)
    add(loop, code::kSymlinkLoop, object, l.path, fmt::format("{}: too many levels of symbolic links (a loop)", l.path));
}

// Runpath entries of one object, checked once when it joins the tree.
void TreeBuilder::check_search_list(int node) {
  const TreeNode& n = t_.nodes[static_cast<std::size_t>(node)];
  const Object& o = *n.obj;
  const bool is_runpath = o.runpath.has_value();
  const std::optional<std::string>& list = is_runpath ? o.runpath : o.rpath;
  if (!list) return;
  const char* tag = is_runpath ? "DT_RUNPATH" : "DT_RPATH";
  if (rules_->ignores_list(*list)) {
    add(Severity::Warning, code::kRunpathIgnored, n.path, *list,
        fmt::format("{}: {} \"{}\": musl ignores the whole list because it uses a token other than $ORIGIN",
                    n.path, tag, *list));
    return;
  }
  for (const std::string& entry : rules_->split(*list)) {
    if (entry.empty()) {
      if (rules_->empty_entry_is_cwd())
        add(Severity::Warning, code::kRunpathEmpty, n.path, *list,
            fmt::format("{}: {} \"{}\" has an empty entry, which glibc searches as the working directory", n.path,
                        tag, *list));
      continue;
    }
    std::optional<std::string> exp = rules_->expand(entry, state().origin(node), *cfg_);
    if (!exp) continue;
    if (!exp->starts_with('/')) {
      add(Severity::Warning, code::kRunpathRelative, n.path, entry,
          fmt::format("{}: {} entry \"{}\" is relative: it is searched from the working directory, not the file",
                      n.path, tag, entry));
      continue;
    }
    Lookup l = root_.resolve(*exp);
    note_lookup(l, n.path, Severity::Warning);  // a looping entry is a missing one
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
  const std::string& name = rules_->loader_name(m);
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
  // The kernel opens the interpreter for execution (fs/binfmt_elf.c,
  // open_exec): no execute bit, and execve fails with EACCES, even for
  // root. (qemu-user opens it with a plain open(), so under binfmt_misc a
  // foreign program still runs; on its own hardware it does not.)
  if (!lo->executable)
    add(Severity::Error, code::kInterpNotExecutable, m.path, p,
        fmt::format("{}: PT_INTERP {} has no execute permission: the kernel refuses to run the program (execve: "
                    "Permission denied)",
                    m.path, p));
  t_.interp_node = add_node(l.path, p, lo, 0, name_and_soname(p, *lo));
}

std::optional<TreeBuilder::Found> TreeBuilder::try_path(int req, const std::string& cand, const std::string& via,
                                                        Stop& stop) {
  const std::string& object = t_.nodes[static_cast<std::size_t>(req)].path;
  Lookup l = root_.resolve(cand);
  note_lookup(l, object, Severity::Warning);  // what the loop means is the family's to say
  Fit f = Fit::Ok;
  std::string why;
  std::shared_ptr<const Object> o;
  if (l.status == Lookup::Status::Loop) {
    f = root_.resolve(dirname_of(cand)).status == Lookup::Status::Loop ? Fit::DirLoop : Fit::Loop;
    why = fmt::format("{}: too many levels of symbolic links", f == Fit::DirLoop ? dirname_of(cand) : cand);
  } else if (l.status == Lookup::Status::Denied) {
    add(Severity::Error, code::kUnreadable, object, l.path,
        fmt::format("{}: cannot search: {}", l.path, std::strerror(l.error)));
    return std::nullopt;
  } else if (!l.found()) {
    return std::nullopt;
  } else if (l.is_dir) {
    f = Fit::Directory;
    why = fmt::format("{} is a directory: it opens, then cannot be read (EISDIR)", l.path);
  } else {
    o = r_.object(l.path);
    f = fit(*o, &why);
  }
  switch (rules_->accept(f, via)) {
    case Action::Take: return Found{cand, l.path, via, o};
    case Action::Skip:
      if (f == Fit::Unreadable) add(Severity::Error, code::kUnreadable, object, l.path, why);
      return std::nullopt;
    case Action::SkipWarn:
      add(Severity::Warning, code::kWrongArchSkipped, object, l.path,
          fmt::format("{}: {} skips {} ({}) and searches on", object, family_name(t_.family), cand, why));
      return std::nullopt;
    case Action::EndList:
      stop.end_list = true;
      return std::nullopt;
    case Action::StopInvalid:
      stop.code = code::kNeededInvalid;
      stop.reason = fmt::format("{} would stop at {} ({})", family_name(t_.family), cand, why);
      if (f != Fit::Loop && f != Fit::DirLoop) stop.at = l.path;
      return std::nullopt;
    case Action::StopForeign:
      stop.code = code::kNeededWrongArch;
      stop.reason = fmt::format("{} would load {}, which does not fit: {}", family_name(t_.family), cand, why);
      stop.at = l.path;
      return std::nullopt;
  }
  return std::nullopt;
}

TreeEdge TreeBuilder::finish(int req, const std::string& name, std::optional<Found> f,
                             const std::vector<std::string>& tried, const Stop& stop) {
  TreeEdge e{req, name, -1, {}, {}};
  const std::string& object = t_.nodes[static_cast<std::size_t>(req)].path;
  if (!f) {
    if (stop.code) {
      e.via = "invalid";
      e.stopped_at = stop.at;
      add(Severity::Error, stop.code, object, name, fmt::format("{}: DT_NEEDED {}: {}", object, name, stop.reason));
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
  e.to = add_node(f->canonical, f->opened_as, f->obj, req, name_and_soname(name, *f->obj));
  if (name.find('/') == std::string::npos) t_.nodes.back().shortname = basename_of(f->opened_as);
  check_search_list(e.to);
  return e;
}

// The command that rebuilds the root's cache for this architecture: the
// host's ldconfig for its own architecture, else the root's own under
// qemu-user.
std::string TreeBuilder::ldconfig_hint() const {
  const Object& m = top();
  // The host's machine, asked once (this runs for every cache-stale finding).
  static const std::string host = [] {
    struct utsname u {};
    return ::uname(&u) == 0 ? std::string(u.machine) : std::string();
  }();
  std::string arch;
  std::optional<elf::TupleInfo> info = m.tuple ? elf::parse_tuple(*m.tuple) : std::nullopt;
  if (info) arch = info->arch;
  if (!host.empty() && (arch == host || (arch == "i686" && host == "x86_64")))
    return fmt::format("ldconfig -r {}", root_.dir());
  return fmt::format("the root's own {} ldconfig, e.g. qemu-{} {}/sbin/ldconfig -r {}", arch.empty() ? m.arch : arch,
                     info ? info->qemu : std::string("ARCH"), root_.dir(), root_.dir());
}

// The ld.so.cache step (glibc): a damaged cache is reported; a cache that
// lacks a library of a directory ld.so.conf lists, or names a file that is
// gone, is older than the files (cache-stale).
void TreeBuilder::note_cache(int req, const std::string& name, const std::vector<Candidate>& cands) {
  const std::string& object = t_.nodes[static_cast<std::size_t>(req)].path;
  if (!cfg_->cache_error.empty())
    add(Severity::Error, code::kMalformed, cfg_->cache_path, cfg_->cache_path, cfg_->cache_error);
  for (const Candidate& c : cands) {
    Lookup l = root_.resolve(c.path);
    if (l.status == Lookup::Status::Missing || l.status == Lookup::Status::NotDir)
      add(Severity::Warning, code::kCacheStale, object, name,
          fmt::format("{}: DT_NEEDED {}: {} names {}, which is not in the root: the cache is older than the files; "
                      "run {}",
                      object, name, cfg_->cache_path, c.path, ldconfig_hint()));
  }
  const bool absent = cfg_->cache_state == "absent", read = cfg_->cache_state.find(" entries ") != std::string::npos;
  if (!cands.empty() || !(absent || read)) return;
  for (const std::string& d : cfg_->conf_dirs) {
    Lookup l = root_.resolve(join(d, name));
    std::string why;
    if (!l.found() || l.is_dir || fit(*r_.object(l.path), &why) != Fit::Ok) continue;
    add(Severity::Warning, code::kCacheStale, object, name,
        fmt::format("{}: DT_NEEDED {} is in {}, which {} lists, but {} {}: run {}", object, name, d, cfg_->ld_so_conf,
                    cfg_->cache_path, absent ? "does not exist" : "lacks it", ldconfig_hint()));
    return;
  }
}

// One DT_NEEDED: already loaded, a path, or a search in the family's order.
TreeEdge TreeBuilder::resolve_needed(int req, const std::string& name) {
  std::vector<std::string> tried;
  Stop stop;
  const LoadState s = state();
  if (auto e = rules_->already_loaded(s, req, name)) return *e;
  if (name.find('/') != std::string::npos) {
    auto p = rules_->direct_path(s, req, name);
    if (p) tried.push_back(*p);
    if (!p || !p->starts_with('/')) return finish(req, name, std::nullopt, tried, stop);
    auto f = try_path(req, *p, "path in DT_NEEDED", stop);
    return finish(req, name, std::move(f), tried, stop);
  }
  if (rules_->refuses_name(name)) return finish(req, name, std::nullopt, tried, stop);
  std::optional<int> ended;  // a search list given up
  for (const SearchDir& d : rules_->search_order(s, req)) {
    if (ended && d.list == *ended) continue;
    const std::vector<Candidate> cands = rules_->candidates(*cfg_, d, name);
    if (d.cache) note_cache(req, name, cands);
    for (const Candidate& c : cands) {
      if (c.hwcaps_level.empty()) {
        tried.push_back(c.path);
      } else {  // counted only when the file is there
        Lookup l = root_.resolve(c.path);
        if (!l.found() || l.is_dir) continue;
      }
      auto f = try_path(req, c.path, c.via, stop);
      if (f && !c.hwcaps_level.empty()) {
        const std::string& object = t_.nodes[static_cast<std::size_t>(req)].path;
        add(Severity::Warning, code::kHwcapsOnly, object, name,
            fmt::format("{}: DT_NEEDED {} is found only in {}, which glibc searches only on CPUs with {}", object,
                        name, c.path, c.hwcaps_level));
      }
      if (f || stop.code) return finish(req, name, std::move(f), tried, stop);
      if (stop.end_list) {
        ended = d.list;
        stop.end_list = false;
        break;
      }
    }
  }
  return finish(req, name, std::nullopt, tried, stop);
}

void TreeBuilder::run(const std::string& path, bool walked, bool keep_open, OpenFile* opened) {
  Lookup l;
  if (walked) {  // a regular file at a canonical path: nothing to look up
    l.status = Lookup::Status::Found;
    l.path = path;
  } else {
    l = root_.resolve(path);
    note_lookup(l, path);
  }
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
  top.obj = walked ? r_.walked_object(top.path, keep_open ? &t_.top_open : nullptr, opened) : r_.object(top.path);
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
  rules_ = &rules_for(t_.family);
  if (m.soname) t_.nodes[0].names.push_back(*m.soname);
  if (m.interpreter) {
    interp_ = *m.interpreter;
    check_interp();
  } else {
    interp_ = find_library_loader();
    if (!interp_.empty() && interp_ != t_.nodes[0].path) {
      Lookup il = root_.resolve(interp_);
      if (il.found() && !il.is_dir) {
        auto io = r_.object(il.path);
        t_.interp_node = add_node(il.path, interp_, io, 0, name_and_soname(interp_, *io));
        // Every glibc process has libc.so.6 loaded by the time a library
        // is: a library checked on its own is given the libc beside its
        // loader, as the program that loads it would have.
        if (std::string implicit = rules_->implicit_library(); !implicit.empty()) {
          std::string libc = join(dirname_of(interp_), implicit);
          Lookup cl = root_.resolve(libc);
          std::string why;
          if (cl.found() && !cl.is_dir) {
            auto co = r_.object(cl.path);
            if (fit(*co, &why) == Fit::Ok) {
              libc_node_ = add_node(cl.path, libc, co, 0, {implicit});
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
      t_.edges.push_back(resolve_needed(static_cast<int>(i), name));
  }
}

}  // namespace

Tree Resolver::resolve(const std::string& path) {
  Tree t;
  TreeBuilder(*this, *root_, t).run(path, false, false);
  return t;
}

Tree Resolver::resolve_walked(const std::string& canonical, bool keep_open, OpenFile* opened) {
  Tree t;
  TreeBuilder(*this, *root_, t).run(canonical, true, keep_open, opened);
  return t;
}

}  // namespace xpatch::resolve
