#include "libpatch/check/check.h"

#include <fmt/format.h>

#include <elf.h>
#include <sys/stat.h>

#include <cerrno>

#include <cstring>

#include "libpatch/resolve/walk.h"

namespace xpatch::check {
namespace {

// Walks a directory of the root with the one walk (regular files and
// directories only; links are judged, not followed).
void walk(const resolve::Root& root, const std::string& dir, Collected& out, resolve::WalkOptions opt) {
  opt.top_is_root = dir == "/";
  int fd = root.open_file(dir);
  if (fd < 0) {
    out.findings.push_back({Severity::Error, resolve::code::kUnreadable, dir, dir,
                            fmt::format("{}: cannot read directory: {}", dir, std::strerror(-fd))});
    return;
  }
  resolve::walk_dir(fd, dir, opt, [&](const resolve::WalkEntry& e) {
    std::string p(e.path);
    switch (e.kind) {
      case resolve::WalkEntry::Kind::File:
        root.remember_file(p);
        out.files.push_back({std::move(p), false});
        break;
      case resolve::WalkEntry::Kind::Link: {
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
      case resolve::WalkEntry::Kind::Unreadable:
        out.findings.push_back({Severity::Error, resolve::code::kUnreadable, p, p,
                                fmt::format("{}: cannot read directory: {}", p, std::strerror(e.error))});
        break;
    }
  });
}

}  // namespace

Collected collect(const resolve::Root& root, const std::vector<std::string>& paths,
                  const resolve::WalkOptions& walk_options) {
  Collected out;
  if (paths.empty()) {
    walk(root, "/", out, walk_options);
    return out;
  }
  for (std::string p : paths) {
    // A host path under the root ("ROOT/usr/bin/x") means the file inside it.
    const std::string& r = root.dir();
    if (r != "/" && p.size() > r.size() && p.starts_with(r) && p[r.size()] == '/') p.erase(0, r.size());
    resolve::Lookup l = root.resolve(p);
    if (l.found() && l.is_dir) walk(root, l.path, out, walk_options);
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
  // A file the walk met that is gone now (a live system's temp files) was
  // removed while we walked: not a finding.
  struct stat st {};
  if (r.errors && !in.explicitly && ::lstat(resolver.root().host_path(in.path).c_str(), &st) != 0 && errno == ENOENT)
    r.skipped = true;
  return r;
}

}  // namespace xpatch::check
