#include "libpatch/check/package.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>
#include <tuple>

#include "libpatch/elf/bytes.h"
#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/parallel.h"
#include "libpatch/elf/paths.h"
#include "libpatch/elf/target.h"
#include "libpatch/resolve/ld_so_cache.h"
#include "libpatch/resolve/walk.h"

namespace xpatch::check {
namespace {

using paths::basename_of;

// Whether the packages change what `path` loads: its tree (no symbols yet)
// with the packages loads one of their files, or its findings differ from
// the tree without them. A name the index matched is only a candidate: a
// library of another tuple's directory shares its soname with the host's,
// but no host program searches there.
// Whether the loader of a tree with the packages reads the same
// configuration without them: compared once per configuration (a root
// has a few; an ld.so.cache can have thousands of entries).
class SameConfig {
 public:
  bool operator()(resolve::Resolver& before, const resolve::Tree& t) {
    const resolve::LoaderConfig* a = t.config.get();
    {
      std::lock_guard lk(mu_);
      if (auto it = known_.find(a); it != known_.end()) return it->second;
    }
    const resolve::Object* top = t.nodes.front().obj.get();
    const bool same = top && *before.loader_config(t.family, a->interp, *top) == *a;
    std::lock_guard lk(mu_);
    known_[a] = same;
    return same;
  }

 private:
  std::mutex mu_;
  std::map<const resolve::LoaderConfig*, bool> known_;  // the after resolver keeps each alive
};

// Most candidates of a large package are proven unchanged without the
// second tree: when no lookup of the tree with the packages met a layer
// (Root::layer_answers) and its loader reads the same configuration
// without them, every lookup gets the same answer without them, so the
// tree is the same.
bool load_set_changes(resolve::Resolver& before, resolve::Resolver& after, const std::string& path,
                      SameConfig& same_config) {
  const std::uint64_t answered = resolve::Root::layer_answers();
  const FileReport a = check_file(after, {path, false}, nullptr);
  for (const resolve::TreeNode& n : a.tree.nodes)
    if (after.root().layer_of(n.path)) return true;
  if (resolve::Root::layer_answers() == answered && !a.tree.nodes.empty()) {
    if (!a.tree.config) return false;  // no loader: nothing searched
    if (same_config(before, a.tree)) return false;
  }
  const FileReport b = check_file(before, {path, false}, nullptr);
  auto keys = [](const FileReport& r) {
    std::set<std::tuple<std::string, std::string, std::string>> k;
    for (const Finding& f : r.tree.findings) k.insert({f.code, f.object, f.subject});
    return k;
  };
  return keys(a) != keys(b);
}

}  // namespace

ReverseIndex ReverseIndex::build(resolve::Resolver& resolver, const resolve::WalkOptions& walk) {
  ReverseIndex ix;
  const resolve::Root& root = resolver.root();
  // The one walk, file by file: nothing is kept of a file but its names
  // (the resolver's cache would keep every file of the root).
  resolve::WalkOptions opt = walk;
  opt.top_is_root = true;
  const int top = root.open_file("/");
  if (top < 0) return ix;
  resolve::walk_dir(top, "/", opt, [&](const resolve::WalkEntry& e) {
    const std::string_view path = e.path;
    if (e.kind == resolve::WalkEntry::Kind::Link) ix.links_.emplace_back(path);
    if (e.kind != resolve::WalkEntry::Kind::File) return;
    // Opened relative to the directory the walk holds open (the kernel
    // looks up one name, not the whole path again) and without Root's
    // cached lstat (nothing is remembered per file): the walk never
    // follows a symlink, so this stays inside the root. Most files of a
    // root are not ELF: an open, a read of their first 4 bytes into the
    // stack and a close are all they cost.
    const int fd = resolve::open_walked_at(e.dirfd, e.name);
    if (fd < 0) return;
    static constexpr std::string_view kCacheNew = "glibc-ld.so.cache1.1", kCacheOld = "ld.so-1.7.0";
    char head[kCacheNew.size()];
    ssize_t n;
    do n = ::pread(fd, head, sizeof head, 0);
    while (n < 0 && errno == EINTR);
    const std::string_view got(head, static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    if (!got.starts_with(std::string_view(ELFMAG, SELFMAG))) {
      // glibc's ld.so.cache, in either layout, for affected().
      if (got.starts_with(kCacheNew) || got.starts_with(kCacheOld)) ix.caches_.emplace_back(path);
      ::close(fd);
      return;
    }
    auto file = OpenFile::adopt(fd, std::string(path));  // fstat: still a regular file, its size
    if (!file) return;
    // Headers, PT_INTERP, the dynamic section.
    auto f = elf::read_elf_from(elf::Bytes(file->fd(), file->size(), std::string(path)), {.sections = false});
    if (!f) return;
    ++ix.elf_files_;
    for (std::string_view nd : f->needed) ix.needers_[basename_of(nd)].emplace_back(path);
    if (f->interpreter) ix.interp_users_[std::string(*f->interpreter)].emplace_back(path);
    if (f->soname) ix.sonames_[std::string(path)] = std::string(*f->soname);
  });
  for (const std::string& link : ix.links_) {  // the names links give to files
    resolve::Lookup l = root.resolve(link);
    if (l.found() && !l.is_dir) ix.link_names_[l.path].push_back(basename_of(link));
  }
  return ix;
}

std::vector<std::string> ReverseIndex::affected(resolve::Resolver& before, resolve::Resolver& after, unsigned jobs) const {
  const resolve::Root& broot = before.root();
  const resolve::Root& aroot = after.root();
  std::set<std::string> names, out, done_names, interp_changed;
  std::vector<std::string> todo;  // files whose names to follow
  auto add_names_of = [&](const std::string& path) {  // a file's names in the root as it is
    names.insert(basename_of(path));
    if (auto it = sonames_.find(path); it != sonames_.end()) names.insert(it->second);
    if (auto it = link_names_.find(path); it != link_names_.end()) names.insert(it->second.begin(), it->second.end());
  };
  // A search finds a file by the name of the entry it looks up (the
  // layers' paths' basenames; the names of the root's links, below), an
  // ld.so.cache entry by its key (below), a loaded library by its
  // DT_SONAME only once another name loaded it (glibc): the layers' files'
  // own sonames are not names to look for.
  for (const resolve::Root::LayeredPath& p : aroot.layered_paths()) {
    if (p.kind == resolve::LayerEntry::Kind::Dir) continue;
    names.insert(basename_of(p.path));
    // What was there before (a replaced or removed file, or the file a replaced link led to).
    resolve::Lookup l = broot.resolve(p.path);
    if (l.found() && !l.is_dir) add_names_of(l.path);
  }
  // A path whose lookup the layers change: it leads elsewhere, or into a
  // layer, or now exists (a link of the root left dangling until a
  // package installs its target).
  auto changed = [&](const std::string& path) {
    resolve::Lookup b = broot.resolve(path), a = aroot.resolve(path);
    return a.status != b.status || a.path != b.path || (a.found() && aroot.layer_of(a.path));
  };
  for (const std::string& link : links_)
    if (changed(link)) names.insert(basename_of(link));
  for (const std::string& cache : caches_) {  // every cache file of the root, whichever loader reads it
    std::string bytes;
    if (broot.read_file(cache, bytes, 64u << 20) != 0) continue;
    for (bool big_endian : {false, true}) {
      auto c = resolve::parse_ld_so_cache(bytes, big_endian, cache);
      if (!c) continue;
      for (const resolve::CacheEntry& e : c->entries)
        if (changed(e.path)) names.insert(e.name);
    }
  }
  for (const auto& [interp, users] : interp_users_) {
    resolve::Lookup b = broot.resolve(interp), a = aroot.resolve(interp);
    if (b.path != a.path || aroot.layer_of(a.path)) {
      out.insert(users.begin(), users.end());
      interp_changed.insert(users.begin(), users.end());
    }
    if (aroot.layer_of(a.path)) add_names_of(a.path);
  }
  for (;;) {
    std::vector<std::string> fresh;
    for (const std::string& n : names) {
      if (!done_names.insert(n).second) continue;
      if (auto it = needers_.find(n); it != needers_.end())
        for (const std::string& f : it->second)
          if (out.insert(f).second) fresh.push_back(f);
    }
    if (fresh.empty()) break;
    for (const std::string& f : fresh) add_names_of(f);
  }
  // Each candidate on its own (check_file and the resolvers are
  // thread-safe; Root::layer_answers counts per thread), in order.
  std::vector<std::string> cand;
  for (const std::string& f : out)
    if (!aroot.layer_of(f)) cand.push_back(f);
  std::vector<char> changes(cand.size(), 0);
  SameConfig same_config;
  parallel_for(cand.size(), jobs, [&](std::size_t i) {
    changes[i] = interp_changed.count(cand[i]) || load_set_changes(before, after, cand[i], same_config);
  });
  std::vector<std::string> v;
  for (std::size_t i = 0; i < cand.size(); ++i)
    if (changes[i]) v.push_back(std::move(cand[i]));
  return v;
}

PackageTargets package_targets(resolve::Resolver& before, resolve::Resolver& after, const resolve::WalkOptions& walk) {
  return package_targets(before, after, ReverseIndex::build(before, walk));
}

PackageTargets package_targets(resolve::Resolver& before, resolve::Resolver& after, const ReverseIndex& ix,
                               unsigned jobs) {
  PackageTargets t;
  for (const resolve::Root::LayeredPath& p : after.root().layered_paths())
    if (p.kind == resolve::LayerEntry::Kind::File) t.package_files.push_back({p.path, false});
  t.indexed = ix.files();
  for (std::string& f : ix.affected(before, after, jobs)) t.affected.push_back({std::move(f), false});
  return t;
}

Verdict judge_file(resolve::Resolver& before, resolve::Resolver& after, const Input& in,
                   resolve::SymbolChecker* symbols_before, resolve::SymbolChecker* symbols_after,
                   const std::vector<std::string>& ignore) {
  const resolve::Root& aroot = after.root();
  Verdict v;
  v.after = check_file(after, in, symbols_after);
  ignore_missing(v.after, ignore);
  v.layer = aroot.layer_of(in.path);
  if (v.after.skipped) return v;
  std::set<std::tuple<std::string, std::string, std::string>> was;
  // The packages in this file's load set, for a finding about a file of
  // none: those that put a file there, and those whose install deletes a
  // file it loaded before.
  std::vector<std::size_t> in_load_set;
  auto note_layer = [&](std::optional<std::size_t> i) {
    if (i && std::find(in_load_set.begin(), in_load_set.end(), *i) == in_load_set.end()) in_load_set.push_back(*i);
  };
  resolve::Lookup l = before.root().resolve(in.path);
  if (l.found() && !l.is_dir) {  // a new file of a package has no "before"
    FileReport b = check_file(before, in, symbols_before);
    ignore_missing(b, ignore);
    for (const Finding& f : b.tree.findings) was.insert({f.code, f.object, f.subject});
    for (const resolve::TreeNode& n : b.tree.nodes) note_layer(aroot.removed_by(n.path));
  }
  for (const resolve::TreeNode& n : v.after.tree.nodes) note_layer(aroot.layer_of(n.path));
  std::sort(in_load_set.begin(), in_load_set.end());
  for (const Finding& f : v.after.tree.findings) {
    Judged j{f, !was.count({f.code, f.object, f.subject}), {}};
    if (j.introduced) {
      if (auto i = aroot.layer_of(f.object)) j.layers = {*i};
      else j.layers = in_load_set;
    }
    if (f.severity == Severity::Error) ++(j.introduced ? v.introduced_errors : v.before_errors);
    v.findings.push_back(std::move(j));
  }
  return v;
}

std::vector<RetargetPreview> retarget_preview(const std::shared_ptr<resolve::Root>& after,
                                              const std::vector<std::string>& ignore_missing, unsigned jobs,
                                              const retarget::Verifier& verify) {
  // The layers' regular files under /usr/<tuple>/, by tuple (the hooks'
  // rule for which files retarget gets).
  std::map<std::string, std::vector<std::string>> by_tuple;
  for (const resolve::Root::LayeredPath& p : after->layered_paths()) {
    if (p.kind != resolve::LayerEntry::Kind::File || !p.path.starts_with("/usr/")) continue;
    const std::string_view rest = std::string_view(p.path).substr(5);
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) continue;
    const std::string dir(rest.substr(0, slash));
    if (auto info = elf::parse_tuple(dir); info && info->tuple == dir) by_tuple[dir].push_back(p.path);
  }
  std::vector<RetargetPreview> out;
  for (auto& [tuple, paths] : by_tuple) {
    auto cfg = retarget::make_config(tuple, std::nullopt, std::nullopt, ignore_missing);
    if (!cfg) continue;  // parse_tuple knew it: make_config does too
    RetargetPreview& pv = out.emplace_back();
    pv.config = std::move(*cfg);
    std::sort(paths.begin(), paths.end());
    for (const std::string& path : paths) {
      retarget::BatchFile& b = pv.files.emplace_back();
      b.name = after->host_path(path);  // "pkg.deb:/usr/<tuple>/bin/x"
      b.install = path;
      b.open = [after, path] { return after->open_file(path); };
    }
    pv.batch = retarget::plan_batch(after, pv.config, pv.files, {}, jobs, verify);
    std::erase_if(pv.files, [](const retarget::BatchFile& b) { return b.not_elf; });
  }
  return out;
}

}  // namespace xpatch::check
