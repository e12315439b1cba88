// Shared pieces of the xpatch command line: exit codes, terminal styling,
// and the file walk. Each subcommand lives in its own file.
#pragma once

#include <fmt/color.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "libpatch/resolve/walk.h"
#include "libpatch/rewrite/edits.h"

namespace xpatch::cli {

inline constexpr const char* kVersion = "0.1.0";

// Documented in --help and README.md; scripts depend on them.
enum Exit : int {
  kOk = 0,       // everything named was handled
  kProblem = 1,  // a file had a problem that is not an error (e.g. named but not ELF)
  kError = 2,    // usage, I/O, or malformed ELF: nothing was changed
};

// Styling for one stream: colour only when it is a terminal and NO_COLOR is
// unset, unless --color says otherwise.
struct Style {
  bool color = false;
  std::string operator()(fmt::text_style st, std::string_view s) const;
};
enum class ColorMode { Auto, Always, Never };
Style style_for(std::FILE* stream, ColorMode mode);

// Prints "xpatch: message" to stderr, the message in red on a terminal.
void print_error(const std::string& message);
// Prints "xpatch: warning: message" to stderr, in yellow on a terminal.
void print_warning(const std::string& message);

// Paths from standard input, one per line (CR LF too) or NUL-separated, as
// package managers and find -print0 pass them; empty items are dropped.
std::vector<std::string> read_stdin_list(bool null_sep);

// Visits the files named by `args`: anything not a directory is visited as
// named (not opened here); a directory is walked with the one walk
// (resolve::walk_dir: regular files only, links not followed, one
// filesystem unless `options` say otherwise; `/` and `root` count as roots,
// so their proc, sys, dev and run are left out). `explicitly` tells the
// visitor whether the user named the file; a walked file is opened with
// resolve::open_walked_file. Problems reading a directory go to on_error.
struct Walked {
  std::string path;
  bool explicitly;
  bool regular = true;  // a walked file, or a name stat() found to be a regular file
  // A walked file's directory, open during the visit, and its name there
  // (resolve::open_walked_at); -1 and null after it.
  int dirfd = -1;
  const char* name = nullptr;
};
void walk(const std::vector<std::string>& args, const resolve::WalkOptions& options,
          const std::function<void(Walked)>& visit, const std::function<void(const std::string&)>& on_error,
          const std::string& root = "/");

// Worker threads for `files` files: `requested` (-j; 0: one per core), but
// one per 32 files at most, so a short list runs on the calling thread and
// starts no thread at all. SIZE_MAX: not known (a walk streamed into
// ordered_stream, which starts them only once enough files have come).
unsigned workers_for(std::size_t files, unsigned requested);

struct ShowOptions {
  std::vector<std::string> paths;
  bool from_stdin = false, null_sep = false;
  std::string format;  // --format (scanelf -F style); -1 sets a default one
  bool oneline = false, quiet = false;
  bool json = false;
  ColorMode color = ColorMode::Auto;
  unsigned jobs = 0;  // 0: one per core
  resolve::WalkOptions walk;
};
int run_show(const ShowOptions& opt);

struct CheckOptions {
  std::string root;
  std::vector<std::string> paths;  // inside the root (check::in_root_path); empty: the whole root
  std::vector<std::string> ignore_missing;  // DT_NEEDED globs whose absence is not an error
  std::string explain;                      // --explain CODE: print the code's remedy and stop
  bool from_stdin = false, null_sep = false;
  bool json = false, tree = false, list = false, quiet = false, verbose = false;
  bool symbols = true;  // --no-symbols: only find the files, do not check versions and symbols
  ColorMode color = ColorMode::Auto;
  unsigned jobs = 0;
  resolve::WalkOptions walk;
  std::vector<std::string> packages;  // --package: archives or staged trees laid over ROOT, in order
  bool strict = false;                // --package --strict: errors already there count too
  bool retarget_preview = false;      // --package --retarget-preview: what retarget would change once installed
};
int run_check(const CheckOptions& opt);

struct PatchOptions {
  std::vector<std::string> files;
  rewrite::EditSet edits;
  std::string output;  // -o: write here instead of in place (one input only)
  bool dry_run = false, verify = false, json = false, verbose = false;
  bool no_sync = false;  // --no-sync: skip fsync (staging trees that a crash would rebuild anyway)
  bool force = false;    // --force: apply an edit whose result cannot run; replace a file whose owner cannot be kept
  ColorMode color = ColorMode::Auto;
};
int run_patch(const PatchOptions& opt);

struct RetargetOptions {
  std::string tuple, root = "/";
  std::optional<std::string> prefix, interp;
  std::vector<std::string> ignore_missing;
  std::vector<std::string> stages;  // DIR=/usr/<tuple>: DIR's files will be installed there
  std::vector<std::string> paths;
  bool from_stdin = false, null_sep = false;
  bool dry_run = false, json = false, quiet = false, verbose = false, no_sync = false;
  bool verify = true;  // --verify (the default) / --no-verify
  // --verify given: LIEF's half is required too; by default it runs only where
  // the LIEF module is installed (not in a static build or a bare chroot).
  bool verify_lief_required = false;
  ColorMode color = ColorMode::Auto;
  unsigned jobs = 0;  // 0: one per core
  resolve::WalkOptions walk;
};
int run_retarget(const RetargetOptions& opt);

// patchelf's command line with patchelf's meaning (patchelf.cpp): for
// `xpatch patchelf ARGS` and for this binary run as `patchelf`.
int run_patchelf(const std::string& name, const std::vector<std::string>& args);

struct SetupOptions {
  std::string tuple, root = "/";
  std::optional<std::string> prefix, qemu;
  bool write = false, remove = false, json = false;
  ColorMode color = ColorMode::Auto;
};
int run_setup(const SetupOptions& opt);

}  // namespace xpatch::cli
