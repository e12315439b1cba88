// The seam between the shared breadth-first walk (loader.cpp) and one
// loader family's rules (glibc.cpp, musl.cpp). A family answers four
// questions: its configuration (read from the loader in the root), token
// expansion, search order, and what a candidate file means (take it, skip
// it, or stop the search). Adding a loader (Bionic, uClibc) means adding a
// file that implements LoaderRules and one line in rules_for().
// Internal to libpatch/resolve.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libpatch/elf/paths.h"
#include "libpatch/resolve/loader.h"

namespace xpatch::resolve {

// Lexical path helpers: the one set (an empty dir is the working directory).
using paths::basename_of;
using paths::dirname_of;
using paths::join;
// Splits a search list on any of `seps`, keeping empty entries or not.
std::vector<std::string> split_list(std::string_view s, std::string_view seps, bool keep_empty);

// Per-architecture facts the loaders need (kept small: they belong to the
// target table).
bool abi_compatible(std::uint16_t machine, std::uint32_t fa, std::uint32_t fb);
std::string multiarch(const Object& o);  // Debian's multiarch directory name, "" unknown

// What the rules see of the tree being built.
struct LoadState {
  const Tree& tree;
  const LoaderConfig& config;
  const std::string& interp;  // the loader path in force
  int libc_node = -1;         // a library checked on its own: the libc its program would have
  // $ORIGIN of a node: the program's real directory; a library's is the
  // directory of the path it was opened by.
  std::string origin(int node) const {
    return node == 0 ? dirname_of(tree.nodes[0].path) : dirname_of(tree.nodes[static_cast<std::size_t>(node)].opened_as);
  }
  const TreeNode& node(int i) const { return tree.nodes[static_cast<std::size_t>(i)]; }
};

struct SearchDir {
  std::string dir, via;  // via: "RUNPATH", "RPATH of /x", "ld.so.cache", "system directory", ...
  bool cache = false;    // glibc's ld.so.cache step (no directory): candidates come from the cache
  bool nodeflib = false; // ... without entries in system directories (DF_1_NODEFLIB)
  int list = 0;          // which search list it belongs to (glibc's open_path ends one list at a time)
};

// One path to try for a name in a search directory.
struct Candidate {
  std::string path, via;
  std::string hwcaps_level;  // non-empty: found only under glibc-hwcaps/<level>
};

// How a candidate the search reached compares with what the program needs.
enum class Fit {
  Ok,
  Unreadable,    // cannot be opened
  Invalid,       // not ELF, damaged, not a loadable type, or a header or segment the loader refuses
  Foreign,       // another class, machine or float ABI
  ByteOrder,     // the other byte order (same machine)
  Executable,    // ET_EXEC
  Directory,     // a directory with the library's name: it opens, then cannot be read
  Loop,          // a symlink loop at the library's name
  DirLoop,       // a symlink loop in the directory it is looked for in
};

// The parts of a classification every family shares: a file that could not
// be opened or parsed (Unreadable, Invalid; nullopt when it was), and the
// words for a candidate of another architecture.
std::optional<Fit> unparsed_fit(const Object& o, std::string* why);
std::string arch_mismatch(const Object& o, const Object& top);
bool same_machine(const Object& o, const Object& top);  // e_machine, and an ABI the loader accepts

// What the loader does with a candidate.
// EndList: give up this search list (the next one is still searched).
enum class Action { Take, Skip, SkipWarn, EndList, StopInvalid, StopForeign };

class LoaderRules {
 public:
  virtual ~LoaderRules() = default;
  virtual Family family() const noexcept = 0;

  // Configuration: the loader's defaults, read from the root.
  virtual void configure(const Root& root, const std::string& interp, const Object& top, LoaderConfig& c) const = 0;
  // The loader's file name for the top object's architecture ("" unknown).
  virtual const std::string& loader_name(const Object& top) const = 0;
  // The library every process of this family has loaded before any other
  // (glibc: libc.so.6, beside the loader), given to a library checked on
  // its own; "" none.
  virtual std::string implicit_library() const { return {}; }

  // Token expansion: a search list, split into entries; one entry
  // expanded, or nullopt when the loader drops it.
  virtual std::vector<std::string> split(std::string_view list) const = 0;
  virtual std::optional<std::string> expand(std::string_view entry, const std::string& origin,
                                            const LoaderConfig& c) const = 0;
  // The whole list is ignored (musl, a token other than $ORIGIN).
  virtual bool ignores_list(std::string_view) const { return false; }
  // An empty entry is searched as the working directory (glibc).
  virtual bool empty_entry_is_cwd() const { return false; }

  // A name the loader answers without a search (already loaded, or the
  // loader itself): the edge, else nullopt.
  virtual std::optional<TreeEdge> already_loaded(const LoadState& s, int req, const std::string& name) const = 0;
  // A name with a '/': the path opened, or nullopt when the name cannot
  // be opened at all (relative, a token without a value).
  virtual std::optional<std::string> direct_path(const LoadState& s, int req, const std::string& name) const = 0;
  // A name the loader refuses before searching (musl: over 255 bytes).
  virtual bool refuses_name(const std::string&) const { return false; }
  // Search order for a name without a '/'.
  virtual std::vector<SearchDir> search_order(const LoadState& s, int req) const = 0;
  // The paths tried in one directory, in order.
  virtual std::vector<Candidate> candidates(const LoaderConfig& c, const SearchDir& d, const std::string& name) const;

  // What a candidate is to this loader, checked in the loader's own order
  // (`top` is the program); `why` says it in the loader's words.
  virtual Fit classify(const Object& o, const Object& top, std::string* why) const = 0;
  // Candidate acceptance.
  virtual Action accept(Fit fit, const std::string& via) const = 0;
};

const LoaderRules& glibc_rules();
const LoaderRules& musl_rules();
const LoaderRules& rules_for(Family f);

}  // namespace xpatch::resolve
