// `xpatch check --package`: what installing packages would do to a root.
// The packages are Layers laid over a second Root (Root::add_layer); this
// picks the files whose load set can change (the packages' own, and the
// root's that need what the packages add or replace, found through a
// reverse-dependency index of one walk of the root), and tells, per
// finding of a file checked with the layers, whether it was there before.
// Nothing here prints.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libpatch/check/check.h"
#include "libpatch/retarget/retarget.h"

namespace xpatch::check {

// Which files of a root need which names: one walk (resolve::walk_dir)
// reading DT_NEEDED, DT_SONAME and PT_INTERP of each ELF file.
class ReverseIndex {
 public:
  // `resolver` is over the root as it is (no layers). Only the names are
  // kept: memory grows with the ELF files' DT_NEEDED, not with the root.
  static ReverseIndex build(resolve::Resolver& resolver, const resolve::WalkOptions& walk = {});
  std::size_t files() const noexcept { return elf_files_; }

  // The root's files whose load set can change once `after`'s layers are
  // installed, sorted, without the layers' own paths: every file needing
  // (by DT_NEEDED's last component) a name a layer adds, replaces or
  // removes (an upgrade's deletion, Layer::removed): a path's basename, the
  // DT_SONAME there before, the name of any symlink of the root leading to
  // it before or after, the key of any ld.so.cache entry whose path the
  // layers change; then, transitively, every file
  // needing a name of one of those; and every program whose PT_INTERP
  // leads to a layer's path.
  // The candidates are checked on `jobs` threads.
  std::vector<std::string> affected(resolve::Resolver& before, resolve::Resolver& after, unsigned jobs = 1) const;

 private:
  std::size_t elf_files_ = 0;
  std::map<std::string, std::vector<std::string>> needers_;        // needed name -> files
  std::map<std::string, std::vector<std::string>> interp_users_;   // PT_INTERP -> programs
  std::map<std::string, std::vector<std::string>> link_names_;     // canonical target -> names of links to it
  std::map<std::string, std::string> sonames_;                      // file -> DT_SONAME
  std::vector<std::string> links_;   // every symlink of the root
  std::vector<std::string> caches_;  // every file of the root starting as an ld.so.cache does
};

// The files a package check looks at: the layers' regular files (each at
// its installed path) and the affected files of the root.
struct PackageTargets {
  std::vector<Input> package_files;
  std::vector<Input> affected;
  std::size_t indexed = 0;  // ELF files the index read
};
PackageTargets package_targets(resolve::Resolver& before, resolve::Resolver& after,
                               const resolve::WalkOptions& walk = {});
// The same with the index already built over `before`'s root (it needs no
// layer, so a caller can build it while the packages are read).
PackageTargets package_targets(resolve::Resolver& before, resolve::Resolver& after, const ReverseIndex& ix,
                               unsigned jobs = 1);

// One finding of a file checked with the layers, judged against the same
// file checked without them: the same code, object and subject there means
// it was already broken; otherwise the install introduces it.
struct Judged {
  Finding finding;
  bool introduced = false;
  std::vector<std::size_t> layers;  // the packages it comes from (Root::layer_of), for an introduced one
};
struct Verdict {
  FileReport after;  // the file checked with the layers
  std::vector<Judged> findings;  // after's findings, judged
  std::optional<std::size_t> layer;  // the package the file comes from; none: the root's
  unsigned introduced_errors = 0, before_errors = 0;
};
// Checks `in` without the layers (`before`; a package's new file has no
// "before") and with them (`after`), each with its symbol checker when
// given, drops the findings `ignore` globs name (--ignore-missing), and
// judges each finding. Thread-safe, as check_file is.
Verdict judge_file(resolve::Resolver& before, resolve::Resolver& after, const Input& in,
                   resolve::SymbolChecker* symbols_before, resolve::SymbolChecker* symbols_after,
                   const std::vector<std::string>& ignore = {});

// --retarget-preview: what `xpatch retarget` (the hooks' post-install step)
// would do to the packages' files once they are installed. One batch per
// tuple whose prefix (/usr/<tuple>, the tuple's canonical name) the layers
// put files under: those files, at their installed paths, read from the
// layers' descriptors, planned and checked by retarget::plan_batch against
// `after` (the root with the layers), exactly as retarget would plan them
// in the installed root. Nothing is written. A layer read from an archive
// must hold its ELF members whole (archive::Limits::whole_elf): the
// planner reads every byte of a file.
struct RetargetPreview {
  retarget::Config config;
  retarget::BatchResult batch;
  std::vector<retarget::BatchFile> files;  // sorted by installed path; files that are not ELF left out
};
std::vector<RetargetPreview> retarget_preview(const std::shared_ptr<resolve::Root>& after,
                                              const std::vector<std::string>& ignore_missing, unsigned jobs,
                                              const retarget::Verifier& verify = {});

}  // namespace xpatch::check
