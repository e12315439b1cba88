// The symbol check: will the loader find every version and every symbol an
// object of a load set asks for? Rules from glibc's elf/dl-version.c
// (_dl_check_map_versions, match_symbol), elf/dl-lookup.c (do_lookup_x,
// check_match), elf/dl-reloc.c (RESOLVE_MAP, DT_BIND_NOW) and musl's
// ldso/dynlink.c (find_sym, do_relocs). docs/check.md lists each rule.
//
// Everything is read through PT_DYNAMIC (section headers may be stripped).
// A definition is looked up the way the loader looks it up, through the
// defining object's own DT_GNU_HASH (else DT_HASH), with pread on its file
// (a library's tables in one read, shared by the trees while recently used):
// no set of every symbol is ever built. Per object only compact facts are
// kept for the run (table offsets, version names, the symbols its
// relocations ask for); a program's own facts are not kept at all.
#pragma once

#include <elf.h>

#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "libpatch/elf/relocs.h"
#include "libpatch/resolve/finding.h"
#include "libpatch/resolve/loader.h"

namespace xpatch::resolve {

// What one object's dynamic section says about symbols, read once.
struct DynSymbols {
  std::string error;  // non-empty: a malformed table (the message names it)
  unsigned elf_class = 0;
  bool big_endian = false;
  std::uint16_t machine = 0;
  bool bind_now = false;  // DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW
  bool symbolic = false;  // DT_SYMBOLIC or DF_SYMBOLIC

  // Lookup tables, as file offsets already checked against the file; each
  // *_limit is how many bytes of the mapped image follow the offset.
  std::uint64_t symtab = 0, symtab_limit = 0;
  std::uint64_t strtab = 0, strsz = 0;
  std::uint64_t versym = 0, versym_limit = 0;  // versym 0: no DT_VERSYM
  bool has_versym = false;
  bool gnu_hash = false;
  std::uint64_t hash = 0, hash_limit = 0;  // 0: no hash table (nothing can be found here)
  bool has_hash = false;
  // The hash table's header, read once (not at every lookup): DT_GNU_HASH's
  // nbuckets, symoffset, bloom size (in words) and bloom shift; DT_HASH's
  // nbucket (in `nbuckets`) and nchain.
  std::uint64_t nbuckets = 0, nchain = 0;
  std::uint32_t symoffset = 0, bloom_size = 0, bloom_shift = 0;

  // Version index -> name, for the object's own DT_VERDEF (base excluded)
  // and its DT_VERNEED entries (vna_other).
  struct Version {
    std::uint16_t index = 0;
    bool is_def = false;
    bool hidden = false;  // vna_other & 0x8000
    std::string name;
    std::uint32_t need = 0;  // !is_def: its entry in `needs`
  };
  std::vector<Version> versions;
  std::vector<std::uint16_t> version_at;  // index -> position in `versions` + 1 (0: none)
  bool has_verdef = false;

  struct Need {
    std::string file;  // vn_file
    struct Aux {
      std::string name;
      bool weak = false;  // VER_FLG_WEAK
    };
    std::vector<Aux> versions;
  };
  std::vector<Need> needs;

  // The undefined symbols its relocations look up (and its COPY
  // relocations), one entry per symbol, with the strongest use.
  struct Ref {
    std::string_view name;     // in `ref_names`
    std::string_view version;  // a name in `versions`; "" when unversioned
    bool version_hidden = false;
    elf::RelocKind kind = elf::RelocKind::Other;
    bool lazy = false;  // every use is a JUMP_SLOT in DT_JMPREL
    std::uint64_t size = 0;  // st_size of the reference (COPY)
    // The name's DT_GNU_HASH hash, computed once: a reference is looked up
    // in several objects, in many trees. (The DT_HASH one is computed once
    // per lookup round where an object has only DT_HASH: few have.)
    std::uint32_t gnu_hash = 0;
    // The `needs` entry of its version (-1: none): the file the linker
    // found the definition in, the object asked first (a hint only: the
    // loader searches the whole scope, and so does the check).
    std::int32_t need = -1;
  };
  std::vector<Ref> refs;
  std::vector<char> ref_names;  // the refs' names, one allocation for all (a vector: moving keeps the views valid)
  bool refs_checked = true;  // false where relocations do not name the symbols (MIPS)

  const Version* version(std::uint16_t index) const noexcept;

  DynSymbols() = default;
  DynSymbols(const DynSymbols&) = delete;  // refs view into its own vectors
  DynSymbols& operator=(const DynSymbols&) = delete;
  DynSymbols(DynSymbols&&) = default;
  DynSymbols& operator=(DynSymbols&&) = default;
};

// The size of a DT_HASH word: 8 on s390x (64-bit) and Alpha, else 4.
unsigned dt_hash_word_size(std::uint16_t machine, unsigned elf_class) noexcept;

// The dynamic entries the symbol check reads (fed in order, up to the first
// DT_NULL): a tag below DT_NUM counts at its first entry, the others at
// their last. One home for symbols.cpp's reader and the package reader's
// plan of what to keep (archive/keep.cpp), which must find the same tables.
struct DynTags {
  std::optional<std::uint64_t> tag[DT_NUM];
  std::optional<std::uint64_t> gnu_hash, versym, verneed, verneednum, verdef, verdefnum, flags_1, relacount, relcount;
  void add(std::uint64_t t, std::uint64_t value);
};

// The relocation tables whose symbols the loader looks up, as glibc's
// _ELF_DYNAMIC_DO_RELOC takes them: a DT_JMPREL inside the end of
// DT_REL(A) is counted once, as PLT; the first DT_REL(A)COUNT entries are
// relative (applied without a symbol: `skip`). `tag` holds the first value
// of each dynamic tag below DT_NUM.
struct DynRelocs {
  std::uint64_t vaddr = 0, size = 0, skip = 0;
  bool rela = false, plt = false;
  const char* what = "";  // "DT_RELA", "DT_REL", "DT_JMPREL"
};
std::vector<DynRelocs> dynamic_relocs(std::span<const std::optional<std::uint64_t>> tag, std::uint64_t relacount,
                                      std::uint64_t relcount, bool is64);

// Thread-safe; shared by every tree of a run.
struct OpenCache;

class SymbolChecker {
 public:
  explicit SymbolChecker(const Root& root);
  ~SymbolChecker();
  SymbolChecker(const SymbolChecker&) = delete;
  SymbolChecker& operator=(const SymbolChecker&) = delete;

  // Appends the version and symbol findings of a resolved tree to
  // `t.findings`. A tree that already has an error is left alone: the
  // loader stops before it checks versions or relocates.
  void check(Tree& t);

  // A library's facts, read once per run (a program's are read by its own
  // check and not kept).
  std::shared_ptr<const DynSymbols> symbols(const std::string& canonical);
  // The facts of a library read before (null when none were): the top file
  // of a tree is read for its own check and kept only when a later tree
  // loads it, so memory grows with the libraries loaded, not with the
  // files checked.
  std::shared_ptr<const DynSymbols> symbols_if_read(const std::string& canonical);

  // Looks each (name, version) up in the object at `canonical` as
  // `family`'s loader would, through the object's own hash table (the
  // lookup the check makes): st_size where it defines the symbol, nullopt
  // where it does not; an error names a malformed table. (The package
  // reader's differential test asks it for every symbol of a library.)
  Expected<std::vector<std::optional<std::uint64_t>>> lookup(
      const std::string& canonical, const std::vector<std::pair<std::string, std::string>>& wants, Family family);

  // Gives `o` (a library opened for lookups) its symbol tables from one
  // read shared by every tree: the hash table, symbols, names and versions,
  // which linkers put side by side, read whole once (and kept while recently
  // used), not 16 KiB at a time by each tree. Nothing when their extent
  // cannot be told or holds much else: lookups then read as before.
  void share_tables(OpenObject& o, const DynSymbols& d);

  // Lends a cache of open files to one tree's check (see caches_).
  std::unique_ptr<OpenCache> borrow_cache();
  void return_cache(std::unique_ptr<OpenCache> c);

  // A library whose every reference was found among the objects of its own
  // closure (itself, what it loads, the loader) finds them in any scope
  // that holds that closure: such closures are remembered, so a library
  // loaded by a thousand programs is looked through once. One definition
  // found outside the closure (the program, a sibling library) and the
  // closure is not remembered: another program may lack that sibling.
  bool closure_resolved(const std::string& key);
  void set_closure_resolved(std::string key);

 private:
  const Root& root_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_future<std::shared_ptr<const DynSymbols>>> cache_;
  std::unordered_set<std::string> resolved_closures_;

  // share_tables' reads, least recently used last, at most kTableBytes in all.
  struct TableImage {
    std::string path;
    std::shared_ptr<const std::byte[]> data;
    std::uint64_t size = 0;
  };
  std::list<TableImage> tables_;
  std::unordered_map<std::string, std::list<TableImage>::iterator> table_index_;
  std::uint64_t table_bytes_ = 0;

  // Open files with the table bytes read so far, for the objects most
  // trees look into (libc, the loader): one bounded cache per running
  // check, lent to one tree at a time.
  std::vector<std::unique_ptr<OpenCache>> caches_;
};

}  // namespace xpatch::resolve
