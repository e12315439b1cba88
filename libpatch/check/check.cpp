#include "libpatch/check/check.h"

#include "libpatch/elf/paths.h"

#include <fmt/format.h>

#include <elf.h>
#include <sys/stat.h>

#include <cerrno>

#include <cstring>
#include <climits>
#include <cstdlib>
#include <sys/stat.h>

#include "libpatch/resolve/walk.h"

namespace xpatch::check {
namespace {

// Walks a directory of the root with the one walk (regular files and
// directories only; links are judged, not followed).
void walk(const resolve::Root& root, const std::string& dir, resolve::WalkOptions opt, const CollectVisitor& visit) {
  opt.top_is_root = dir == "/";
  int fd = root.open_file(dir);
  if (fd < 0) {
    visit({}, Finding{Severity::Error, resolve::code::kUnreadable, dir, dir,
                      fmt::format("{}: cannot read directory: {}", dir, std::strerror(-fd))});
    return;
  }
  std::string path;  // one buffer for every file's path: most are not ELF and need no copy of their own
  resolve::walk_dir(fd, dir, opt, [&](const resolve::WalkEntry& e) {
    switch (e.kind) {
      case resolve::WalkEntry::Kind::File: {
        path.assign(e.path);
        // A root with packages laid over it: check_file opens through them.
        const int file_fd = root.layer_count() ? -1 : resolve::open_walked_at(e.dirfd, e.name);
        if (file_fd < 0) {  // (EMFILE too): check_file opens it, or reports why not
          visit(Input{path, false, nullptr}, std::nullopt);
          break;
        }
        auto f = OpenFile::adopt(file_fd, path);
        if (!f && f.error().kind == Error::Kind::NotElf) break;  // too short, or no longer a regular file
        if (f && !f->has_elf_magic()) break;
        visit(Input{path, false, f ? std::make_shared<OpenFile>(std::move(*f)) : nullptr}, std::nullopt);
        break;
      }
      case resolve::WalkEntry::Kind::Link: {
        std::string p(e.path);
        resolve::Lookup l = root.resolve(p);
        if (l.status == resolve::Lookup::Status::Loop)
          visit({}, Finding{Severity::Warning, resolve::code::kSymlinkLoop, p, p,
                            fmt::format("{}: too many levels of symbolic links (a loop)", p)});
        else if (!l.escaping_link.empty())
          visit({}, Finding{Severity::Warning, resolve::code::kSymlinkEscape, p, l.escaping_link,
                            fmt::format("{}: symbolic link climbs above the root; resolved as if the root were /",
                                        l.escaping_link)});
        break;
      }
      case resolve::WalkEntry::Kind::Unreadable: {
        std::string p(e.path);
        visit({}, Finding{Severity::Error, resolve::code::kUnreadable, p, p,
                          fmt::format("{}: cannot read directory: {}", p, std::strerror(e.error))});
        break;
      }
    }
  });
}

// The host directory `p` names, with symlinks resolved ("" when none).
std::string real_dir(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

}  // namespace

std::string in_root_path(const resolve::Root& root, const std::string& p) {
  // A file that exists on this host under ROOT, however ROOT and the path
  // are spelled (./root and root/bin/x, or an absolute host path): the
  // parent directory is resolved on the host, the last component is kept,
  // so a link there is still followed inside ROOT, not on the host.
  const std::string root_real = real_dir(root.dir());
  const auto slash = p.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
  const std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  struct stat st {};
  if (!root_real.empty() && root_real != "/" && ::lstat(p.c_str(), &st) == 0) {
    std::string dir = real_dir(parent);
    if (base != "." && base != ".." && !base.empty()) dir = dir == "/" ? "/" + base : dir + "/" + base;
    else dir = real_dir(p);
    if (dir == root_real) return "/";
    if (dir.size() > root_real.size() && dir.starts_with(root_real) && dir[root_real.size()] == '/')
      return dir.substr(root_real.size());
  }
  // Otherwise a path inside ROOT; a relative one is relative to ROOT.
  return p.starts_with('/') ? p : "/" + p;
}

void collect(const resolve::Root& root, const std::vector<std::string>& paths,
             const resolve::WalkOptions& walk_options, const CollectVisitor& visit) {
  if (paths.empty()) {
    walk(root, "/", walk_options, visit);
    return;
  }
  for (const std::string& given : paths) {
    const std::string p = in_root_path(root, given);
    resolve::Lookup l = root.resolve(p);
    if (l.found() && l.is_dir) walk(root, l.path, walk_options, visit);
    else visit(Input{p.starts_with('/') ? p : "/" + p, true}, std::nullopt);  // errors are check_file's to report
  }
}

Collected collect(const resolve::Root& root, const std::vector<std::string>& paths,
                  const resolve::WalkOptions& walk_options) {
  Collected out;
  collect(root, paths, walk_options, [&](Input in, std::optional<Finding> f) {
    if (f) out.findings.push_back(std::move(*f));
    else out.files.push_back(std::move(in));
  });
  return out;
}

void count(const std::vector<Finding>& fs, unsigned& errors, unsigned& warnings, unsigned& infos) {
  for (const Finding& f : fs) {
    if (f.severity == Severity::Error) ++errors;
    else if (f.severity == Severity::Warning) ++warnings;
    else ++infos;
  }
}

void ignore_missing(FileReport& r, const std::vector<std::string>& globs) {
  if (globs.empty()) return;
  r.ignored += static_cast<unsigned>(
      std::erase_if(r.tree.findings, [&](const Finding& f) { return resolve::ignored_missing(f, globs); }));
  r.errors = r.warnings = r.infos = 0;
  count(r.tree.findings, r.errors, r.warnings, r.infos);
}

FileReport check_file(resolve::Resolver& resolver, const Input& in, resolve::SymbolChecker* symbols) {
  FileReport r;
  r.path = in.path;
  std::optional<OpenFile> opened;
  if (in.file && in.file->fd() >= 0) {  // the walk's
    opened.emplace(std::move(*in.file));
  } else if (!in.explicitly && !resolver.root().layer_of(in.path)) {
    // Most files a walk meets are not ELF (66,000 of 68,900 in a copy of
    // /usr): each costs one open, one fstat (a regular file still), one
    // pread of its magic and nothing built. Any other outcome (an error, a
    // FIFO swapped in) is the resolver's to report, as for an ELF file,
    // which it parses from this descriptor.
    const int fd = resolver.root().open_walked(in.path);
    if (fd >= 0) {
      auto f = OpenFile::adopt(fd, in.path);
      if (f && !f->has_elf_magic()) r.skipped = true;
      else if (!f && f.error().kind == Error::Kind::NotElf) r.skipped = true;  // too short, or not a regular file
      else if (f) opened.emplace(std::move(*f));
      if (r.skipped) return r;
    }
  }
  r.tree = in.explicitly ? resolver.resolve(in.path)
                         : resolver.resolve_walked(in.path, symbols != nullptr, opened ? &*opened : nullptr);
  const auto& top = r.tree.nodes.front();
  if (top.obj && !top.obj->ok && top.obj->error_code == resolve::code::kNotElf && !in.explicitly) {
    r.skipped = true;
    return r;
  }
  if (top.obj && top.obj->ok && top.obj->type != ET_EXEC && top.obj->type != ET_DYN) {  // ET_REL, ET_CORE: nothing loads them
    r.skipped = !in.explicitly;
  }
  if (symbols && !r.skipped) symbols->check(r.tree);
  r.tree.top_open.reset();  // a descriptor and its chunks: not kept while the report waits its turn
  count(r.tree.findings, r.errors, r.warnings, r.infos);
  // A file the walk met that is gone now (a live system's temp files) was
  // removed while we walked: not a finding.
  struct stat st {};
  // (A package's file, laid over the root, has no host path to look at.)
  if (r.errors && !in.explicitly && !resolver.root().layer_of(in.path) &&
      ::lstat(resolver.root().host_path(in.path).c_str(), &st) != 0 && errno == ENOENT)
    r.skipped = true;
  return r;
}

}  // namespace xpatch::check
