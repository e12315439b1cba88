// Retargeting: which edits move a foreign binary into the /usr/<tuple>
// layout (its tuple's loader as PT_INTERP; a DT_RUNPATH of the prefix's lib
// dir, its $ORIGIN entries, and the directories where its DT_NEEDED were
// actually found). Planning only: the caller writes, after checking the
// planned result with the loader rules of resolve/. Nothing here prints.
#pragma once

#include <cstdint>
#include <map>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "libpatch/rewrite/edits.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/resolve/finding.h"
#include "libpatch/resolve/root.h"

namespace xpatch::retarget {

struct Config {
  std::string tuple;                   // "aarch64-linux-musl", canonical (from the target table)
  elf::TupleInfo info;                 // what the table says about it
  elf::Libc libc = elf::Libc::Glibc;   // from the tuple: *-musl* is musl, *-gnu* glibc (info.libc)
  std::string prefix;                  // "/usr/<tuple>" unless given
  std::optional<std::string> interp;   // --interp: instead of prefix/lib/<loader>
  std::vector<std::string> ignore_missing;  // globs (fnmatch) of DT_NEEDED names that may stay unresolved
};

// Validates the tuple with the target table (an Unsupported error for one it
// does not know, or a prefix that is not absolute).
Expected<Config> make_config(std::string tuple, std::optional<std::string> prefix,
                             std::optional<std::string> interp, std::vector<std::string> ignore_missing);

// The shared libraries that a dependency may be found in: the staged files
// and the libraries already in the root, by the path they have (or will
// have) once installed. Keyed by file name and by soname.
class LibraryIndex {
 public:
  struct Lib {
    std::string dir;  // install directory, canonical
    std::uint16_t machine = 0;
    unsigned elf_class = 0;
    bool big_endian = false;
  };
  void add(const std::string& install_path, const elf::ElfFile& f);
  // Every shared object under `dir` in the root (recursively, at most
  // `depth` levels), read through the root's confinement.
  void add_tree(const resolve::Root& root, const std::string& dir, int depth = 6);
  // Directories holding `name` for the architecture of `of`, in the order added.
  std::vector<std::string> dirs_for(const std::string& name, const elf::ElfFile& of) const;
  bool has(const std::string& dir, const std::string& name, const elf::ElfFile& of) const;
  std::size_t size() const { return libs_.size(); }

 private:
  std::map<std::string, std::vector<Lib>> libs_;
};

enum class Verdict {
  Retarget,      // edits planned
  AlreadyRight,  // interpreter and runpath are already what they would be
  OtherTarget,   // another architecture or libc: skipped
  Static,        // no dynamic section: nothing to retarget
  Unresolved,    // some DT_NEEDED found nowhere: left as it is
};
std::string_view verdict_name(Verdict v) noexcept;

struct FilePlan {
  Verdict verdict = Verdict::Retarget;
  std::string reason;        // for every verdict but Retarget, in words
  rewrite::EditSet edits;    // Retarget only
  std::string interp;        // the interpreter it gets ("" for a library)
  std::string runpath;       // the DT_RUNPATH it gets
  std::map<std::string, std::string> found;  // DT_NEEDED -> where (dir, or "the loader")
  std::vector<std::string> unresolved;       // DT_NEEDED found nowhere
  std::vector<std::string> ignored;          // ... but matching --ignore-missing
};

// Plans one file that will live at `install_path` (canonical, in the root).
FilePlan plan_file(const elf::ElfFile& f, const std::string& install_path, const Config& c, const LibraryIndex& idx);

// ---- A batch: every file of a package, planned and checked together ----

// One file of a batch. The caller fills the first four fields (and may set
// `error` for a file it could not even name); plan_batch fills the rest.
struct BatchFile {
  std::string name;         // as named (messages)
  std::string host;         // the file read, and later written (symlinks followed)
  std::string install;      // where it lives in ROOT ("": nowhere, an error); made canonical
  bool explicitly = false;  // named by the user: a file that is not ELF is an error, not a skip
  // When set, the file's bytes are read from the descriptor this returns
  // (owned by the caller of open; -errno on failure) instead of from `host`:
  // a package's member that is not on disk (check --retarget-preview).
  std::function<int()> open;

  bool not_elf = false;                 // met in a walk or a list, not ELF: not ours
  std::optional<Error> error;           // I/O, malformed, or a plan that cannot apply
  std::optional<elf::ElfFile> elf;      // the input, parsed
  FilePlan plan;                        // meaningful when elf is set and error is not
  std::optional<rewrite::Plan> rewrite; // Verdict::Retarget only: the plan; its writes dropped unless
                                        // plan_batch keeps them (planned_writes gives them back)
  std::uint64_t digest = 0;             // of the writes that were checked
  bool refused = false;                 // planned, but the loader rules found errors in the result
  std::vector<resolve::Finding> problems;  // why (the blocking findings)
  // Verdict::Retarget, not refused, no error: the caller may write it.
  bool writable() const noexcept { return !error && !refused && plan.verdict == Verdict::Retarget && rewrite; }
};

struct BatchResult {
  std::string loader;           // the interpreter files of the tuple get, in ROOT
  bool loader_present = false;  // ... and whether it is there (in ROOT or a stage)
};

// Plans every file and checks the planned results with each file's loader
// rules, as if all were written:
//   1. read each file; index the shared libraries among them, under PREFIX
//      in ROOT and under `extra_dirs` (the stages' places);
//   2. plan each file (plan_file) and its rewrite, apply it in memory and
//      read the output back; the resolver assumes it is installed;
//   3. resolve every planned file; one with an error finding that
//      Config::ignore_missing does not cover is refused, its original put
//      back in view, and the others are checked again, until no refusal
//      changes another file's verdict.
// `jobs` workers plan and check in parallel (0: one). Nothing is written.
// `verify`, when set, judges each planned output against its input before
// the loader check (the CLI's --verify: rewrite::verify and LIEF's read); a
// message it returns makes that file an error, left as it was.
// Unless `keep_writes`, each file's planned bytes are dropped once it is
// checked (its steps and sizes stay): a batch then holds no output bytes,
// whatever its size (issue 16: a new DT_STRTAB is a copy of the old one,
// 35 KiB a file on average in the cross trees), and the writer asks
// planned_writes for them, one file at a time.
using Verifier = std::function<std::optional<std::string>(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                                          std::span<const std::byte> out, const rewrite::EditSet& edits)>;
BatchResult plan_batch(const std::shared_ptr<resolve::Root>& root, const Config& c, std::vector<BatchFile>& files,
                       const std::vector<std::string>& extra_dirs, unsigned jobs, const Verifier& verify = {},
                       bool keep_writes = true);

// The writes plan_batch checked for `b` (writable()), planned again from
// the file as it is now. An error (Io) when they differ from the ones
// checked (the file changed since): nothing unchecked is ever written.
Expected<rewrite::Plan> planned_writes(const BatchFile& b);

}  // namespace xpatch::retarget
