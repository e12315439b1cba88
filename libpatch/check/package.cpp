#include "libpatch/check/package.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "libpatch/elf/bytes.h"
#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/paths.h"
#include "libpatch/elf/target.h"
#include "libpatch/resolve/walk.h"

namespace xpatch::check {
namespace {

using paths::basename_of;

// Whether the packages change what `path` loads: its tree (no symbols yet)
// with the packages loads one of their files, or its findings differ from
// the tree without them. A name the index matched is only a candidate: a
// library of another tuple's directory shares its soname with the host's,
// but no host program searches there.
bool load_set_changes(resolve::Resolver& before, resolve::Resolver& after, const std::string& path) {
  const FileReport a = check_file(after, {path, false}, nullptr);
  for (const resolve::TreeNode& n : a.tree.nodes)
    if (after.root().layer_of(n.path)) return true;
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
  std::vector<std::string> links;
  resolve::walk_dir(top, "/", opt, [&](const resolve::WalkEntry& e) {
    const std::string path(e.path);
    if (e.kind == resolve::WalkEntry::Kind::Link) links.push_back(path);
    if (e.kind != resolve::WalkEntry::Kind::File) return;
    const int fd = root.open_file(path);
    if (fd < 0) return;
    auto file = OpenFile::adopt(fd, path);
    if (!file) return;
    // Most files of a root are not ELF: their magic is all they cost, as
    // in the resolver's walk. Then headers, PT_INTERP, the dynamic section.
    if (!file->has_elf_magic()) return;
    auto f = elf::read_elf_from(elf::Bytes(file->fd(), file->size(), path), {.sections = false});
    if (!f) return;
    ++ix.elf_files_;
    for (std::string_view n : f->needed) ix.needers_[basename_of(n)].push_back(path);
    if (f->interpreter) ix.interp_users_[std::string(*f->interpreter)].push_back(path);
    if (f->soname) ix.sonames_[path] = std::string(*f->soname);
  });
  for (const std::string& link : links) {  // the names links give to files
    resolve::Lookup l = root.resolve(link);
    if (l.found() && !l.is_dir) ix.link_names_[l.path].push_back(basename_of(link));
  }
  return ix;
}

std::vector<std::string> ReverseIndex::affected(resolve::Resolver& before, resolve::Resolver& after) const {
  const resolve::Root& broot = before.root();
  const resolve::Root& aroot = after.root();
  std::set<std::string> names, out, done_names, interp_changed;
  std::vector<std::string> todo;  // files whose names to follow
  auto add_names_of = [&](const std::string& path) {  // a file's names in the root as it is
    names.insert(basename_of(path));
    if (auto it = sonames_.find(path); it != sonames_.end()) names.insert(it->second);
    if (auto it = link_names_.find(path); it != link_names_.end()) names.insert(it->second.begin(), it->second.end());
  };
  for (const resolve::Root::LayeredPath& p : aroot.layered_paths()) {
    if (p.kind == resolve::LayerEntry::Kind::Dir) continue;
    names.insert(basename_of(p.path));
    if (p.kind == resolve::LayerEntry::Kind::File) {
      if (auto o = after.object(p.path); o->ok && o->soname) names.insert(*o->soname);
    }
    // What was there before (a replaced or removed file, or the file a replaced link led to).
    resolve::Lookup l = broot.resolve(p.path);
    if (l.found() && !l.is_dir) add_names_of(l.path);
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
  std::vector<std::string> v;
  for (const std::string& f : out)
    if (!aroot.layer_of(f) && (interp_changed.count(f) || load_set_changes(before, after, f))) v.push_back(f);
  return v;
}

PackageTargets package_targets(resolve::Resolver& before, resolve::Resolver& after, const resolve::WalkOptions& walk) {
  return package_targets(before, after, ReverseIndex::build(before, walk));
}

PackageTargets package_targets(resolve::Resolver& before, resolve::Resolver& after, const ReverseIndex& ix) {
  PackageTargets t;
  for (const resolve::Root::LayeredPath& p : after.root().layered_paths())
    if (p.kind == resolve::LayerEntry::Kind::File) t.package_files.push_back({p.path, false});
  t.indexed = ix.files();
  for (std::string& f : ix.affected(before, after)) t.affected.push_back({std::move(f), false});
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
