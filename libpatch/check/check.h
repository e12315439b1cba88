// `xpatch check`: which files to look at in a root, and the report for each.
// The loader rules live in resolve/; this layer picks the files, runs a tree
// per file and counts findings. Nothing here prints.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libpatch/resolve/loader.h"
#include "libpatch/resolve/symbols.h"
#include "libpatch/resolve/walk.h"

namespace xpatch::check {

using resolve::Finding;
using resolve::Severity;

struct Input {
  Input(std::string p = {}, bool named = false, std::shared_ptr<OpenFile> f = nullptr)
      : path(std::move(p)), explicitly(named), file(std::move(f)) {}
  std::string path;         // in-root path
  // Named by the user (a file that is not ELF is then reported, and the
  // path is looked up in the root); false: a walk found it, a regular file
  // at a canonical path (resolve::Resolver::resolve_walked).
  bool explicitly = false;
  // A walked file the walk opened already (by its directory: one name
  // looked up) and found to start with the ELF magic; check_file takes the
  // descriptor over. Null: check_file opens the path.
  std::shared_ptr<OpenFile> file;
};

struct Collected {
  std::vector<Input> files;
  std::vector<Finding> findings;  // about the walk itself: looping or escaping links, unreadable directories
};

// The files to check: every regular file under the root when `paths` is
// empty; otherwise each path, taken inside the root (a directory is walked;
// a host path under the root is taken as the file inside it).
// Symlinks met in a walk are not followed; each is checked for loops and
// escapes instead. The walk is resolve::walk_dir: regular files only, never
// a device, FIFO or socket, not /proc, /sys, /dev or /run below the root,
// one filesystem unless `walk_options` say otherwise.
Collected collect(const resolve::Root& root, const std::vector<std::string>& paths,
                  const resolve::WalkOptions& walk_options = {});
// The same, streamed: each file (finding empty) or finding about the walk
// (input empty) is handed to `visit` as the walk meets it, in walk order,
// so nothing is collected and memory does not grow with the root. A walked
// file is opened by the walk, relative to its directory, and handed on
// open only when it starts with the ELF magic (most files a walk meets are
// not ELF: they cost one open, fstat, 4-byte read and close, and no more);
// one that cannot be opened is handed on by path, for check_file to report.
using CollectVisitor = std::function<void(Input, std::optional<Finding>)>;
void collect(const resolve::Root& root, const std::vector<std::string>& paths,
             const resolve::WalkOptions& walk_options, const CollectVisitor& visit);

// A path given on the command line, as a path inside ROOT: an existing host
// file or directory under ROOT (relative to the working directory or
// absolute, however ROOT is spelled) is that file in ROOT; otherwise an
// absolute path is already inside ROOT and a relative one is taken from
// ROOT (docs/check.md).
std::string in_root_path(const resolve::Root& root, const std::string& p);

struct FileReport {
  std::string path;
  bool skipped = false;  // not ELF, not named: not ours
  resolve::Tree tree;
  unsigned errors = 0, warnings = 0, infos = 0;
  unsigned ignored = 0;  // findings dropped by ignore_missing
};

// Thread-safe: the resolver shares parsed objects between calls. With
// `symbols`, versions and undefined symbols are checked too.
FileReport check_file(resolve::Resolver& resolver, const Input& in, resolve::SymbolChecker* symbols = nullptr);

// `--ignore-missing GLOB`: drops the needed-missing and needed-host-only
// findings whose DT_NEEDED matches a glob (resolve::ignored_missing), and
// counts again.
void ignore_missing(FileReport& r, const std::vector<std::string>& globs);

void count(const std::vector<Finding>& fs, unsigned& errors, unsigned& warnings, unsigned& infos);

}  // namespace xpatch::check
