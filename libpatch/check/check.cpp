#include "libpatch/check/check.h"

#include "libpatch/elf/paths.h"

#include <fmt/format.h>

#include <elf.h>

#include <cstring>

namespace xpatch::check {
namespace {

using paths::join;

void walk(const resolve::Root& root, const std::string& dir, Collected& out, int depth) {
  using Kind = resolve::Root::Kind;
  if (depth > 256) return;  // deeper than any real tree; a bind-mount cycle would end here
  for (const resolve::Root::Entry& e : root.list_dir(dir)) {
    std::string p = join(dir, e.name);
    switch (e.kind) {
      case Kind::Dir: walk(root, p, out, depth + 1); break;
      case Kind::File: out.files.push_back({p, false}); break;
      case Kind::Link: {
        resolve::Lookup l = root.resolve(p);
        if (l.status == resolve::Lookup::Status::Loop)
          out.findings.push_back({Severity::Warning, resolve::code::kSymlinkLoop, p, p,
                                  fmt::format("{}: too many levels of symbolic links (a loop)", p)});
        else if (!l.escaping_link.empty())
          out.findings.push_back({Severity::Warning, resolve::code::kSymlinkEscape, p, l.escaping_link,
                                  fmt::format("{}: symbolic link climbs above the root; resolved as if the root were /",
                                              l.escaping_link)});
        break;
      }
      case Kind::Error:
        out.findings.push_back({Severity::Error, resolve::code::kUnreadable, p, p, fmt::format("{}: cannot stat", p)});
        break;
      case Kind::Absent: break;  // removed while we walked
    }
  }
}

}  // namespace

Collected collect(const resolve::Root& root, const std::vector<std::string>& paths) {
  Collected out;
  if (paths.empty()) {
    walk(root, "/", out, 0);
    return out;
  }
  for (std::string p : paths) {
    // A host path under the root ("ROOT/usr/bin/x") means the file inside it.
    const std::string& r = root.dir();
    if (r != "/" && p.size() > r.size() && p.starts_with(r) && p[r.size()] == '/') p.erase(0, r.size());
    resolve::Lookup l = root.resolve(p);
    if (l.found() && l.is_dir) walk(root, l.path, out, 0);
    else out.files.push_back({p.starts_with('/') ? p : "/" + p, true});  // errors are check_file's to report
  }
  return out;
}

void count(const std::vector<Finding>& fs, unsigned& errors, unsigned& warnings, unsigned& infos) {
  for (const Finding& f : fs) {
    if (f.severity == Severity::Error) ++errors;
    else if (f.severity == Severity::Warning) ++warnings;
    else ++infos;
  }
}

FileReport check_file(resolve::Resolver& resolver, const Input& in) {
  FileReport r;
  r.path = in.path;
  r.tree = resolver.resolve(in.path);
  const auto& top = r.tree.nodes.front();
  if (top.obj && !top.obj->ok && top.obj->error_code == resolve::code::kNotElf && !in.explicitly) {
    r.skipped = true;
    return r;
  }
  if (top.obj && top.obj->ok && top.obj->type != ET_EXEC && top.obj->type != ET_DYN) {  // ET_REL, ET_CORE: nothing loads them
    r.skipped = !in.explicitly;
  }
  count(r.tree.findings, r.errors, r.warnings, r.infos);
  return r;
}

}  // namespace xpatch::check
