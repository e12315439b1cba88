// `xpatch check`: which files to look at in a root, and the report for each.
// The loader rules live in resolve/; this layer picks the files, runs a tree
// per file and counts findings. Nothing here prints.
#pragma once

#include <string>
#include <vector>

#include "libpatch/resolve/loader.h"
#include "libpatch/resolve/walk.h"

namespace xpatch::check {

using resolve::Finding;
using resolve::Severity;

struct Input {
  std::string path;         // in-root path
  bool explicitly = false;  // named by the user (a file that is not ELF is then reported)
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

struct FileReport {
  std::string path;
  bool skipped = false;  // not ELF, not named: not ours
  resolve::Tree tree;
  unsigned errors = 0, warnings = 0, infos = 0;
};

// Thread-safe: the resolver shares parsed objects between calls.
FileReport check_file(resolve::Resolver& resolver, const Input& in);

void count(const std::vector<Finding>& fs, unsigned& errors, unsigned& warnings, unsigned& infos);

}  // namespace xpatch::check
