// Loader models: how glibc's ld.so and musl's ldso find each DT_NEEDED,
// emulated inside a Root. Sources: glibc elf/dl-load.c (_dl_map_object,
// open_verify, cache_rpath, get-dynamic-info.h), elf/dl-cache.c; musl
// ldso/dynlink.c (load_library, path_open, fixup_rpath, map_library).
// docs/check.md lists every rule with a test.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "libpatch/elf/bytes.h"
#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "libpatch/resolve/finding.h"
#include "libpatch/resolve/ld_so_cache.h"
#include "libpatch/resolve/root.h"

namespace xpatch::resolve {

enum class Family { Glibc, Musl };
constexpr const char* family_name(Family f) noexcept { return f == Family::Glibc ? "glibc" : "musl"; }

// What a loader needs to know about one object: a slim copy of the parse,
// kept for the whole run (each file is parsed once).
struct Object {
  std::string path;  // canonical, in the root
  bool ok = false;
  std::string error_code;     // finding code when !ok (malformed, unreadable, not-elf)
  std::string error_message;  // when !ok
  std::uint16_t type = 0, machine = 0;
  std::uint32_t flags = 0;  // e_flags: the float ABI and such live here
  unsigned elf_class = 0;
  bool big_endian = false;
  bool dynamic = false;
  std::optional<std::string> interpreter, runpath, rpath, soname;
  std::vector<std::string> needed;
  std::uint64_t flags_1 = 0;
  elf::Libc libc = elf::Libc::Unknown;
  std::optional<std::string> tuple;
  std::string arch;  // "aarch64", "arm (eabi5 hard-float)", for messages
  std::string glibc_loader, musl_loader;  // loader file names for this arch/ABI ("" unknown)
};

// One loader's defaults, read from the loader itself where possible.
struct LoaderConfig {
  Family family = Family::Glibc;
  std::string interp;          // the loader path (PT_INTERP, or the one found for a library)
  bool interp_found = false;   // exists in the root
  std::string origin_note;     // where the defaults came from, for --tree and --json
  // glibc
  std::vector<std::string> system_dirs;  // "/lib/x86_64-linux-gnu", ...
  std::string lib_dst, platform;         // $LIB, $PLATFORM
  std::string ld_so_conf;                // the conf beside the loader's ld.so.cache
  std::vector<std::string> conf_dirs;    // its directories, includes expanded, in order (cache-stale)
  std::string cache_path;                // the loader's ld.so.cache, read from the loader
  std::string cache_state;               // "absent", "ignored: ...", or the format and entry count
  std::string cache_error;               // the reader's message when it is damaged (a `malformed` finding)
  // Its entries this architecture's loader uses, by name, in file order.
  std::unordered_map<std::string, std::vector<CacheEntry>> cache;
  std::vector<std::string> hwcaps;       // glibc-hwcaps subdirectories this arch knows
  // musl
  std::string path_file;          // prefix/etc/ld-musl-ARCH.path
  bool path_file_exists = false;
  std::vector<std::string> musl_dirs;  // its entries, or /lib:/usr/local/lib:/usr/lib
  // check --package: the same loader reads the same defaults with and without the packages.
  bool operator==(const LoaderConfig&) const = default;
};

// A file open for reading through the root: its descriptor, the chunks
// read so far (elf::Bytes, `block` bytes at a time) and, for the top file
// of a tree, its parse. The resolver hands the top file to the symbol
// check this way, which then reads its tables without opening or parsing
// it again; the check keeps the libraries most trees look into open.
struct OpenObject {
  OpenObject(std::string canonical, OpenFile f, std::uint64_t block, std::uint64_t first = 0)
      : name(std::move(canonical)), file(std::move(f)), bytes(file.fd(), file.size(), name, block, first) {}
  OpenObject(const OpenObject&) = delete;
  OpenObject& operator=(const OpenObject&) = delete;
  const std::string name;
  OpenFile file;
  elf::Bytes bytes;  // refers to `name`: an OpenObject never moves
  std::optional<elf::ElfFile> parsed;
};

// A value computed once per key by the first thread that asks, while the
// others wait for it (the resolver's loader configurations, the symbol
// check's tables): `make` runs outside the lock.
template <typename T, typename Make>
T computed_once(std::mutex& mu, std::unordered_map<std::string, std::shared_future<T>>& cache, const std::string& key,
                Make&& make) {
  std::promise<T> promise;
  std::shared_future<T> fut;
  {
    std::lock_guard lk(mu);
    if (auto it = cache.find(key); it != cache.end()) fut = it->second;
    else cache.emplace(key, promise.get_future().share());
  }
  if (fut.valid()) return fut.get();
  T v = make();
  promise.set_value(v);
  return v;
}

struct TreeNode {
  std::string path;       // canonical path
  std::string opened_as;  // the path the loader opened (dir/name); $ORIGIN of a library comes from it
  std::shared_ptr<const Object> obj;
  int loader = -1;        // the node that needed it first (glibc l_loader, musl needed_by)
  std::vector<std::string> names;  // names it answers to (glibc: DT_NEEDED names and soname)
  std::string shortname;  // musl: basename it was found under by a search
};

struct TreeEdge {
  int from = 0;
  std::string name;   // the DT_NEEDED string
  int to = -1;        // node, or -1 when missing
  std::string via;    // "RUNPATH", "RPATH of /x", "ld.so.cache", "system dir", "loaded", "loader", ...
  std::string stopped_at;  // to == -1: the file the loader opened and stopped at (invalid, foreign)
};

struct Tree {
  Family family = Family::Glibc;
  std::shared_ptr<const LoaderConfig> config;  // null for static files
  std::vector<TreeNode> nodes;  // [0] is the top object; the loader, when found, is [1]
  int interp_node = -1;
  std::vector<TreeEdge> edges;  // in load (breadth-first) order
  std::vector<Finding> findings;
  bool is_static = false;
  // The top file, still open and parsed (resolve_walked with keep_open),
  // for the symbol check of this tree; release it after (it holds a
  // descriptor and its read chunks).
  std::shared_ptr<OpenObject> top_open;
};

class Resolver {
 public:
  explicit Resolver(std::shared_ptr<Root> root) : root_(std::move(root)) {}

  // The whole dependency tree of the object at `path` (in the root), as its
  // own loader would load it. Thread-safe; objects and loader defaults are
  // shared between calls.
  Tree resolve(const std::string& path);
  // The same for a file a walk found: `canonical` is a regular file's
  // canonical path, so it is not looked up, and its own parse is not kept
  // for later trees (unless one was already), so memory grows with the
  // libraries loaded, not with the files walked.
  // With `keep_open`, the top file stays open in Tree::top_open. `opened`:
  // the file, already open and confirmed regular by the caller.
  Tree resolve_walked(const std::string& canonical, bool keep_open = false, OpenFile* opened = nullptr);

  // Parses (once) the file at a canonical path.
  std::shared_ptr<const Object> object(const std::string& canonical);
  // The same for a file a walk found (see resolve_walked): not kept.
  // With `keep`, a file parsed now is left open and parsed in *keep.
  std::shared_ptr<const Object> walked_object(const std::string& canonical,
                                              std::shared_ptr<OpenObject>* keep = nullptr, OpenFile* opened = nullptr);
  // From now on, the file at `canonical` reads as `f` (a rewrite not yet
  // written, checked before it is committed). Call before resolving it.
  void assume(const std::string& canonical, const elf::ElfFile& f);
  const Root& root() const noexcept { return *root_; }

  // The defaults of one loader (read once per run): `interp` is its path,
  // `top` an object it loads (for the architecture's fallbacks).
  std::shared_ptr<const LoaderConfig> loader_config(Family family, const std::string& interp, const Object& top);

 private:
  std::shared_ptr<const Object> parse(const std::string& canonical, int fd,
                                      std::shared_ptr<OpenObject>* keep = nullptr) const;
  std::shared_ptr<const Object> parse_open(const std::string& canonical, Expected<OpenFile> file,
                                           std::shared_ptr<OpenObject>* keep) const;
  std::shared_ptr<LoaderConfig> make_config(Family family, const std::string& interp, const Object& top);

  std::shared_ptr<Root> root_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_future<std::shared_ptr<const Object>>> objects_;
  std::unordered_map<std::string, std::shared_future<std::shared_ptr<const LoaderConfig>>> configs_;
};

// musl: names the loader satisfies itself ("libc.so", "libpthread.so.0", ...).
bool musl_reserved_name(std::string_view name) noexcept;

}  // namespace xpatch::resolve
