// The rewrite planner. Phases, in order:
//   1. desired state: the dynamic entries and interpreter after the edits;
//   2. strings: reuse what DT_STRTAB already holds, collect what is new;
//   3. decide what no longer fits in place and must be appended;
//   4. room in the program header table, when a new PT_LOAD is needed;
//   5. layout of the appended data (at this point every offset is fixed);
//   6. encode the changed structures as byte writes.
// Nothing is written here: the result is a Plan, which apply() (output.cpp) copies out.

#include "libpatch/rewrite/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "libpatch/elf/target.h"
#include "libpatch/rewrite/structure_map.h"
#include "libpatch/rewrite/header_edits.h"

namespace xpatch::rewrite {
namespace {

using elf::Dyn;
using elf::DynEntry;
using elf::Ehdr;
using elf::Phdr;
using elf::Shdr;
using elf::Sym;
using elf::Verneed;
using elf::ElfFile;
using elf::Segment;

constexpr unsigned kSpareDynSlots = 4;  // room for later edits without moving again

// v rounded up to a multiple of a (0, 1 or a power of two, as load_alignment
// proves); nullopt when that wraps.
std::optional<std::uint64_t> align_up(std::uint64_t v, std::uint64_t a) {
  std::uint64_t r = 0;
  if (a <= 1) return v;
  if (__builtin_add_overflow(v, a - 1, &r)) return std::nullopt;
  return r / a * a;
}

// The largest page size the architecture's kernels may use: a PT_LOAD must
// be congruent modulo it, or the loader has to pad or refuses.
std::uint64_t max_page_size(std::uint16_t machine) {
  switch (machine) {
    case EM_AARCH64: case EM_PPC64: case EM_PPC: case EM_MIPS: case EM_ARM: case EM_LOONGARCH: return 0x10000;
    case EM_SPARCV9: return 0x100000;
    default: return 0x1000;
  }
}

// A desired dynamic entry: string-valued ones carry the string until layout
// assigns its DT_STRTAB offset.
struct Want {
  std::uint64_t tag = 0, value = 0;
  std::optional<std::string> str;
  bool str_changed = false;
  std::optional<std::size_t> slot;  // the entry's index in the input's array (none: a new entry)
};

// A .gnu.version_r entry whose file name a --replace-needed renames: the
// loader matches vn_file against the loaded libraries' names, and aborts
// when none matches.
struct VnFile {
  std::uint64_t field = 0;  // file offset of vn_file
  std::string from, to;
  std::uint64_t value = 0;  // the new DT_STRTAB offset
};

// A piece of the file that only program headers, section headers or a
// dynamic pointer refer to, so it can move if the pointers follow.
struct Movable {
  std::uint64_t offset = 0, size = 0, align = 1;
  Layout::Item item{};
  std::uint64_t new_offset = 0, new_vaddr = 0;
};

[[noreturn]] void refuse(const ElfFile& f, std::string_view structure, const std::string& why) {
  throw ErrorException{{Error::Kind::Unsupported, fmt::format("{}: {}: {}", f.path, structure, why)}};
}

[[noreturn]] void malformed(const ElfFile& f, std::string_view structure, const std::string& why) {
  throw ErrorException{{Error::Kind::Malformed, fmt::format("{}: {}: {}", f.path, structure, why)}};
}

template <typename E>
class Planner {
 public:
  Planner(const ElfFile& f, std::span<const std::byte> in, const EditSet& e)
      : f_(f), in_(in), e_(e), map_(f, in, {sizeof(Ehdr<E>), sizeof(Phdr<E>), sizeof(Shdr<E>), sizeof(Dyn<E>)}) {}

  Plan run() {
    plan_.old_size = plan_.new_size = in_.size();
    desired_state();
    assign_strings();
    decide_appends();
    if (appends()) {
      make_phdr_room();
      layout_appended();
    }
    encode();
    check_writes();
    return std::move(plan_);
  }

  // The planned writes, asked of the map: each lands only where a rewrite
  // may write (never in the section names, DT_VERSYM or DT_VERDEF, which no
  // edit changes), and no two overlap. Either would mean that the file's
  // headers describe overlapping structures (a damaged file), and a write
  // would silently destroy another structure.
  void check_writes() const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> r;
    r.reserve(plan_.writes.size());
    for (const Write& w : plan_.writes) {
      const std::uint64_t end = w.offset + w.bytes.size();
      for (const Structure* o : map_.owners(w.offset, end))
        if (StructureMap::never_written(o->kind))
          malformed(f_, map_.label(*o),
                    fmt::format("the table at offset {:#x} ({:#x} bytes) overlaps a structure the rewrite changes, at "
                                "offset {:#x}",
                                o->begin, o->end - o->begin, w.offset));
      r.emplace_back(w.offset, end);
    }
    std::sort(r.begin(), r.end());
    for (std::size_t i = 1; i < r.size(); ++i)
      if (r[i].first < r[i - 1].second)
        malformed(f_, "layout",
                  fmt::format("structures to rewrite overlap at offset {:#x}: the headers describe overlapping "
                              "sections or segments", r[i].first));
  }

 private:
  using Native = typename E::Native;
  static constexpr std::uint64_t kWord = sizeof(Native);
  static constexpr std::uint64_t kAddressLimit = E::is64 ? ~std::uint64_t{0} : 0xffffffffu;

  const ElfFile& f_;
  std::span<const std::byte> in_;
  const EditSet& e_;
  const StructureMap map_;  // every structure's byte range, built once
  Plan plan_;
  Layout& layout_ = plan_.layout;

  std::vector<Want> want_;
  std::vector<VnFile> vn_files_;
  std::optional<std::string> new_interp_;
  std::string new_strings_;                        // appended to DT_STRTAB
  std::map<std::string, std::uint64_t> new_str_at_; // offset of each new string within new_strings_

  // Decisions.
  bool interp_append_ = false, strings_append_ = false;
  // An existing PT_LOAD that grows to hold the appended data, so no program
  // header is added: one with file padding after it (the gap before the next
  // segment), or the last one when it ends the file (our own, from an
  // earlier run). Otherwise a new PT_LOAD is added.
  std::optional<std::size_t> host_;
  std::vector<Movable> moved_;

  // Final layout.
  std::uint64_t seg_off_ = 0, seg_vaddr_ = 0, seg_end_ = 0;
  std::uint64_t table_off_ = 0, table_vaddr_ = 0;  // a moved program header table
  std::uint64_t interp_slot_ = 0;  // bytes writable in place at PT_INTERP's offset
  std::uint64_t interp_off_ = 0, interp_vaddr_ = 0, interp_size_ = 0;
  std::uint64_t dyn_off_ = 0, dyn_vaddr_ = 0, dyn_slots_ = 0;
  std::uint64_t str_off_ = 0, str_vaddr_ = 0, str_size_ = 0;

  bool appends() const { return layout_.data != Layout::Data::InPlace; }

  // A planner mistake (a bug here, not in the file): nothing is written.
  [[noreturn]] void internal(const std::string& why) const {
    throw ErrorException{{Error::Kind::Internal, fmt::format("{}: planner: {}", f_.path, why)}};
  }
  std::uint64_t checked_align_up(std::uint64_t v, std::uint64_t a) const {
    auto r = align_up(v, a);
    if (!r) internal(fmt::format("aligning {:#x} to {:#x} wraps", v, a));
    return *r;
  }

  void step(std::string what, std::string strategy, std::string detail) {
    plan_.steps.push_back({std::move(what), std::move(strategy), std::move(detail)});
  }
  void write(std::uint64_t off, std::vector<std::byte> bytes) {
    // Skip writes that would not change anything, so an unchanged file
    // produces no plan and is never rewritten.
    if (bytes.empty()) return;
    if (off + bytes.size() <= in_.size() && std::memcmp(in_.data() + off, bytes.data(), bytes.size()) == 0) return;
    plan_.writes.push_back({off, std::move(bytes)});
  }
  std::string dynstr(std::uint64_t off) const {
    // The reader proved every string entry NUL-terminated inside DT_STRSZ;
    // the bound here keeps that an invariant rather than an assumption.
    if (off >= f_.dynstr_size) malformed(f_, "DT_STRTAB", fmt::format("string index {:#x} out of range", off));
    const char* p = reinterpret_cast<const char*>(in_.data() + f_.dynstr_offset + off);
    return std::string(p, ::strnlen(p, f_.dynstr_size - off));
  }
  std::uint64_t vaddr_of(std::uint64_t off) const {
    for (const Segment& s : f_.segments)
      if (s.type == PT_LOAD && off >= s.offset && off - s.offset < s.filesz) return s.vaddr + (off - s.offset);
    return 0;
  }

  // ---- 1. desired state -------------------------------------------------

  auto find_tag(std::uint64_t tag) {
    return std::find_if(want_.begin(), want_.end(), [&](const Want& w) { return w.tag == tag; });
  }
  // New string entries go after the last DT_NEEDED (or first), keeping the
  // loader's search order for existing libraries.
  void insert_string(std::uint64_t tag, const std::string& s) {
    auto pos = want_.begin();
    for (auto it = want_.begin(); it != want_.end(); ++it)
      if (it->tag == DT_NEEDED) pos = it + 1;
    want_.insert(pos, Want{tag, 0, s, true, std::nullopt});
  }
  void set_string(std::uint64_t tag, const std::string& s) {
    auto it = find_tag(tag);
    if (it == want_.end()) {
      insert_string(tag, s);
      step(elf::string_tag_label(tag), "add", fmt::format("new entry \"{}\"", s));
    } else if (it->str != s) {
      step(elf::string_tag_label(tag), "set", fmt::format("\"{}\" -> \"{}\"", *it->str, s));
      it->str = s;
      it->str_changed = true;
    }
  }

  // Sets the search path as `tag` and drops the other tag, which the loader
  // would ignore beside DT_RUNPATH or which would shadow the new one. An
  // entry of the other tag alone is converted where it stands, keeping the
  // order of the dynamic array.
  void set_search_path(std::uint64_t tag, const std::string& s) {
    const std::uint64_t other = tag == DT_RUNPATH ? DT_RPATH : DT_RUNPATH;
    auto mine = find_tag(tag), theirs = find_tag(other);
    if (mine == want_.end() && theirs != want_.end()) {
      step(elf::string_tag_label(tag), "convert",
           fmt::format("{} \"{}\" becomes {} \"{}\"", elf::string_tag_label(other), *theirs->str,
                       elf::string_tag_label(tag), s));
      theirs->tag = tag;
      theirs->str = s;
      theirs->str_changed = true;
    } else {
      set_string(tag, s);
    }
    if (std::erase_if(want_, [&](const Want& w) { return w.tag == other; }))
      step(elf::string_tag_label(other), "remove",
           fmt::format("the search path in force is now {}", elf::string_tag_label(tag)));
  }

  // .gnu.version_r entries naming a replaced library follow the DT_NEEDED:
  // glibc's loader checks each against the loaded objects' names
  // (dl-version.c). Also when the DT_NEEDED was replaced by an earlier run
  // that left vn_file behind.
  void rename_version_needs() {
    std::optional<std::uint64_t> at, count;
    for (const DynEntry& d : f_.dynamic) {
      if (d.tag == DT_VERNEED) at = d.value;
      if (d.tag == DT_VERNEEDNUM) count = d.value;
    }
    if (!at || !count) return;
    auto off = f_.vaddr_to_offset(*at, sizeof(Verneed<E>));
    if (!off)
      malformed(f_, "DT_VERNEED",
                fmt::format("address {:#x} is not inside the file image of any PT_LOAD", *at));
    // Every entry is at least its own size apart, so the file bounds the walk.
    for (std::uint64_t i = 0; i < *count && i < in_.size() / sizeof(Verneed<E>); ++i) {
      std::uint64_t end = 0;
      if (__builtin_add_overflow(*off, sizeof(Verneed<E>), &end) || end > in_.size())
        malformed(f_, "DT_VERNEED", fmt::format("entry {} at offset {:#x} goes past the end of the file", i, *off));
      Verneed<E> vn;
      std::memcpy(&vn, in_.data() + *off, sizeof vn);
      const std::string name = dynstr(vn.vn_file);
      for (const auto& [from, to] : e_.replace_needed)
        if (name == from && from != to) {
          vn_files_.push_back({*off + offsetof(Verneed<E>, vn_file), from, to, 0});
          step("DT_VERNEED", "set", fmt::format("vn_file \"{}\" -> \"{}\"", from, to));
          break;
        }
      if (vn.vn_next == 0) break;
      if (__builtin_add_overflow(*off, std::uint64_t{vn.vn_next}, &*off))
        malformed(f_, "DT_VERNEED", fmt::format("vn_next {:#x} of entry {} wraps", std::uint64_t{vn.vn_next}, i));
    }
  }

  // A name left empty (`--add-needed=`) names no file: the loader would
  // look for "" and fail. An empty search path is a path (it clears it).
  // An executable rather than a library: ET_EXEC, or a PIE (DF_1_PIE).
  bool is_executable() const {
    if (f_.header.type == ET_EXEC) return true;
    for (const DynEntry& d : f_.dynamic)
      if (d.tag == DT_FLAGS_1) return (d.value & DF_1_PIE) != 0;
    return false;
  }

  void refuse_empty_names() {
    auto empty = [&](bool is_empty, std::string_view structure, std::string_view what) {
      if (is_empty) refuse(f_, structure, fmt::format("an empty {} was given: it names nothing", what));
    };
    empty(e_.interpreter && e_.interpreter->empty(), "PT_INTERP", "interpreter");
    empty(e_.soname && e_.soname->empty(), "DT_SONAME", "soname");
    for (const std::string& n : e_.add_needed) empty(n.empty(), "DT_NEEDED", "library name to add");
    for (const std::string& n : e_.remove_needed) empty(n.empty(), "DT_NEEDED", "library name to remove");
    for (const auto& [from, to] : e_.replace_needed)
      empty(from.empty() || to.empty(), "DT_NEEDED", "library name to replace (OLD=NEW)");
  }

  void desired_state() {
    refuse_empty_names();
    for (std::size_t i = 0; i < f_.dynamic.size(); ++i) {
      const DynEntry& d = f_.dynamic[i];
      Want w{d.tag, d.value, std::nullopt, false, i};
      if (elf::is_string_tag(d.tag)) w.str = dynstr(d.value);
      want_.push_back(std::move(w));
    }
    bool dyn_edits = !(e_.runpath == std::nullopt && e_.add_runpath.empty() && !e_.remove_runpath && !e_.rpath &&
                       e_.replace_needed.empty() && e_.add_needed.empty() && e_.remove_needed.empty() && !e_.soname);
    if (dyn_edits && f_.dynamic.empty()) {
      // The loader reads the dynamic array through PT_DYNAMIC only: a
      // .dynamic section without it is not used, whatever it holds.
      const bool unused_section = std::any_of(f_.sections.begin(), f_.sections.end(),
                                              [](const elf::Section& s) { return s.type == SHT_DYNAMIC; });
      refuse(f_, "PT_DYNAMIC",
             unused_section ? "there is none; the .dynamic section is not used, as the loader reads only PT_DYNAMIC, "
                              "so the file has no needed libraries, runpath or soname to change"
                            : "the file has no dynamic section (statically linked), so it has no "
                              "needed libraries, runpath or soname to change");
    }
    if (dyn_edits && !f_.interpreter && is_executable()) {
      // A static PIE: no loader runs before it, and it relocates itself, so
      // nothing would read a needed library or a search path written here
      // (and such a program crashed once it had them).
      const bool soname_only = e_.soname && e_.runpath == std::nullopt && e_.add_runpath.empty() &&
                               !e_.remove_runpath && !e_.rpath && e_.replace_needed.empty() && e_.add_needed.empty() &&
                               e_.remove_needed.empty();
      if (!soname_only)
        refuse(f_, "PT_INTERP",
               "there is none: the file is a statically linked program (a static PIE) that relocates itself, so no "
               "loader would read needed libraries or a search path written into it");
    }

    for (const std::string& lib : e_.remove_needed) {
      auto n = std::erase_if(want_, [&](const Want& w) { return w.tag == DT_NEEDED && w.str == lib; });
      if (n) step("DT_NEEDED", "remove", fmt::format("\"{}\"", lib));
    }
    for (const auto& edit : e_.replace_needed) {
      const std::string& from = edit.first;  // not a structured binding: lambdas capture these
      const std::string& to = edit.second;
      // Every entry of that name (as patchelf): renaming only the first of
      // two would rename the second on the next run.
      bool found = false;
      for (Want& w : want_)
        if (w.tag == DT_NEEDED && w.str == from) {
          w.str = to;
          w.str_changed = found = true;
        }
      if (found) {
        step("DT_NEEDED", "set", fmt::format("\"{}\" -> \"{}\"", from, to));
      } else if (std::none_of(want_.begin(), want_.end(), [&](const Want& w) { return w.tag == DT_NEEDED && w.str == to; })) {
        refuse(f_, "DT_NEEDED", fmt::format("\"{}\" is not a needed library, so it cannot be replaced", from));
      }  // else: already replaced by an earlier run
    }
    if (!e_.replace_needed.empty()) rename_version_needs();
    for (const std::string& lib : e_.add_needed) {
      if (std::any_of(want_.begin(), want_.end(), [&](const Want& w) { return w.tag == DT_NEEDED && w.str == lib; }))
        continue;
      insert_string(DT_NEEDED, lib);
      step("DT_NEEDED", "add", fmt::format("\"{}\"", lib));
    }
    if (e_.runpath && e_.rpath)
      refuse(f_, "DT_RUNPATH/DT_RPATH",
             fmt::format("both \"{}\" (runpath) and \"{}\" (rpath) were given, but a loader uses only one search "
                         "path: DT_RUNPATH when present, and then ignores DT_RPATH",
                         *e_.runpath, *e_.rpath));
    // The tag a path set or extended here is written as (edits.h).
    const std::uint64_t path_tag = e_.force_rpath ? DT_RPATH : DT_RUNPATH;
    const bool path_edit = e_.runpath || !e_.add_runpath.empty();
    if (e_.remove_runpath) {
      // A search path set in the same call is kept: the result must not
      // depend on the order of the options, and a second run must be a no-op.
      const bool keep_runpath = path_edit && path_tag == DT_RUNPATH;
      const bool keep_rpath = e_.rpath.has_value() || (path_edit && path_tag == DT_RPATH);
      auto n = std::erase_if(want_, [&](const Want& w) {
        return (w.tag == DT_RUNPATH && !keep_runpath) || (w.tag == DT_RPATH && !keep_rpath);
      });
      if (n) step("DT_RUNPATH/DT_RPATH", "remove", "");
    }
    if (e_.runpath) set_search_path(path_tag, *e_.runpath);
    if (e_.rpath) set_search_path(DT_RPATH, *e_.rpath);
    if (!e_.add_runpath.empty()) {
      // Extend the list the loader actually uses: DT_RUNPATH wins over DT_RPATH.
      const std::uint64_t in_force = find_tag(DT_RUNPATH) != want_.end() ? DT_RUNPATH
                                     : find_tag(DT_RPATH) != want_.end() ? DT_RPATH
                                                                        : DT_RUNPATH;
      const std::uint64_t tag = e_.force_rpath ? DT_RPATH : in_force;
      auto it = find_tag(in_force);
      std::string cur = it != want_.end() ? *it->str : "";
      std::vector<std::string> dirs;
      for (std::size_t a = 0; a <= cur.size();) {
        std::size_t b = cur.find(':', a);
        if (b == std::string::npos) b = cur.size();
        if (b > a) dirs.push_back(cur.substr(a, b - a));
        a = b + 1;
      }
      for (const std::string& d : e_.add_runpath)
        if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
      std::string joined;
      for (const auto& d : dirs) joined += (joined.empty() ? "" : ":") + d;
      if (it == want_.end() || joined != cur || tag != in_force) set_search_path(tag, joined);
    }
    if (e_.soname) set_string(DT_SONAME, *e_.soname);

    // patchelf front end: --no-default-lib and --add-debug-tag, as patchelf does them.
    if ((e_.no_default_lib || e_.add_debug_tag) && f_.dynamic.empty())
      refuse(f_, "PT_DYNAMIC", "the file has no dynamic section (statically linked): no DT_FLAGS_1 or DT_DEBUG to set");
    if (e_.no_default_lib) {
      auto it = find_tag(DT_FLAGS_1);
      const bool had = it != want_.end(), set = had && (it->value & DF_1_NODEFLIB);
      if (had) it->value |= DF_1_NODEFLIB;
      else want_.push_back(Want{DT_FLAGS_1, DF_1_NODEFLIB, std::nullopt, false, std::nullopt});
      if (!set) step("DT_FLAGS_1", had ? "set" : "add", "DF_1_NODEFLIB");
    }
    if (e_.add_debug_tag && find_tag(DT_DEBUG) == want_.end()) {
      want_.push_back(Want{DT_DEBUG, 0, std::nullopt, false, std::nullopt});
      step("DT_DEBUG", "add", "a DT_DEBUG entry for debuggers");
    }

    if (e_.interpreter) {
      if (!f_.interpreter)
        refuse(f_, "PT_INTERP", "the file has no interpreter (a static binary or a shared library); "
                                "--interp applies only to dynamically linked programs");
      if (*f_.interpreter != *e_.interpreter) {
        new_interp_ = e_.interpreter;
        step("PT_INTERP", "set", fmt::format("\"{}\" -> \"{}\"", *f_.interpreter, *e_.interpreter));
      }
    }
  }

  // ---- 2. strings -------------------------------------------------------

  std::optional<std::uint64_t> find_in_dynstr(const std::string& s) const {
    std::string_view table(reinterpret_cast<const char*>(in_.data() + f_.dynstr_offset), f_.dynstr_size);
    std::string needle = s;
    needle.push_back('\0');
    auto p = table.find(needle);
    if (p == std::string_view::npos) return std::nullopt;
    return p;
  }

  // The DT_STRTAB offset of `s` in the output: where the table already
  // holds it (whole or as a suffix), else after the existing table, where
  // the new strings go whether it is extended or copied.
  std::uint64_t string_offset(const std::string& s, bool* reused = nullptr) {
    if (auto at = find_in_dynstr(s)) {
      if (reused) *reused = true;
      return *at;
    }
    if (!new_str_at_.count(s)) {
      new_str_at_[s] = new_strings_.size();
      new_strings_ += s;
      new_strings_.push_back('\0');
    }
    return f_.dynstr_size + new_str_at_.at(s);
  }

  void assign_strings() {
    const bool has_strtab =
        std::any_of(f_.dynamic.begin(), f_.dynamic.end(), [](const DynEntry& d) { return d.tag == DT_STRTAB; });
    for (Want& w : want_) {
      if (!w.str_changed) continue;
      if (!has_strtab)
        refuse(f_, "PT_DYNAMIC", fmt::format("has no DT_STRTAB, so there is no string table to hold \"{}\"", *w.str));
      bool reused = false;
      w.value = string_offset(*w.str, &reused);
      if (reused)
        step(elf::string_tag_label(w.tag), "reuse string",
             fmt::format("\"{}\" already in DT_STRTAB at {:#x}", *w.str, w.value));
    }
    for (VnFile& v : vn_files_) {
      v.value = string_offset(v.to);
      if (v.value > 0xffffffffu)
        refuse(f_, "DT_VERNEED", fmt::format("vn_file cannot hold the string offset {:#x}", v.value));
    }
  }

  // ---- 3. what must be appended ---------------------------------------

  // Refuses to write in place over the ELF header, a header table or
  // another structure the rewrite relies on: one that overlaps them is
  // malformed, and writing would destroy the file. `ours` is the kind of
  // structure the write is meant for (the dynamic array, a version need, a
  // symbol table), besides the sections and segments that hold it.
  void require_clear_of_headers(std::uint64_t off, std::uint64_t size, std::string_view what,
                                std::optional<StructureKind> ours = std::nullopt) const {
    if (!size) return;
    for (const Structure* o : map_.owners(off, off + size)) {
      if (o->kind == StructureKind::Segment || o->kind == StructureKind::Section || o->kind == ours) continue;
      malformed(f_, what, fmt::format("{:#x} bytes at offset {:#x} overlap {}", size, off, map_.label(*o)));
    }
  }

  // The section that holds the interpreter string: the one at PT_INTERP's
  // offset with file bytes (.interp).
  const elf::Section* interp_section(const Segment& s) const {
    for (const elf::Section& sec : f_.sections)
      if (sec.type == SHT_PROGBITS && sec.size && sec.offset == s.offset) return &sec;
    return nullptr;
  }

  // The bytes a new interpreter may take in place: the .interp section's
  // when section headers describe it, else the old string, its NUL and the
  // NULs after it; never past PT_INTERP, and never into bytes another
  // section or segment owns (a linker script can put notes, or a damaged
  // file its symbol tables, inside the PT_INTERP range).
  std::uint64_t interp_slot(const Segment& s) const {
    const std::uint64_t seg_end = s.offset + s.filesz;  // validated by the reader
    std::uint64_t end = s.offset + f_.interpreter->size() + 1;
    const elf::Section* own = interp_section(s);
    if (own) {
      end = std::min(seg_end, own->offset + own->size);  // within the file: validated by the reader
    } else {
      while (end < seg_end && in_[end] == std::byte{0}) ++end;
    }
    for (const Structure* o : map_.owners(s.offset, end)) {
      const bool other =
          (o->kind == StructureKind::Section && &f_.sections[o->index] != own) || StructureMap::is_table(o->kind) ||
          (o->kind == StructureKind::Segment && o->type != PT_LOAD && o->type != PT_INTERP && o->type != PT_PHDR);
      if (other) end = std::min(end, std::max(s.offset, o->begin));
    }
    return end - s.offset;
  }

  void decide_appends() {
    if (!f_.dynamic.empty())
      require_clear_of_headers(f_.dynamic_offset, f_.dynamic_slots * sizeof(Dyn<E>), "PT_DYNAMIC",
                               StructureKind::DynamicArray);
    for (const VnFile& v : vn_files_) require_clear_of_headers(v.field, 4, "DT_VERNEED", StructureKind::VersionNeeds);
    if (new_interp_) {
      const Segment* s = f_.find_segment(PT_INTERP);
      interp_slot_ = interp_slot(*s);
      require_clear_of_headers(s->offset, interp_slot_, "PT_INTERP");
      interp_append_ = new_interp_->size() + 1 > interp_slot_;
      layout_.interp_in_place = !interp_append_;
      if (!interp_append_)
        step("PT_INTERP", "in place", fmt::format("fits the {}-byte slot at {:#x}", interp_slot_, s->offset));
    }
    strings_append_ = !new_strings_.empty();
    layout_.dynamic_moved = want_.size() + 1 > f_.dynamic_slots && !f_.dynamic.empty();
    if (!interp_append_ && !strings_append_ && !layout_.dynamic_moved) return;
    layout_.data = Layout::Data::NewLoad;  // unless an existing PT_LOAD can grow, below

    std::vector<std::size_t> loads;
    for (std::size_t i = 0; i < f_.segments.size(); ++i)
      if (f_.segments[i].type == PT_LOAD && (f_.segments[i].filesz || f_.segments[i].memsz)) loads.push_back(i);
    if (loads.empty()) refuse(f_, "program headers", "no PT_LOAD segment that maps anything");
    std::sort(loads.begin(), loads.end(),
              [&](std::size_t a, std::size_t b) { return f_.segments[a].vaddr < f_.segments[b].vaddr; });

    // Zero growth: the file padding after a read-only PT_LOAD without bss,
    // up to the next segment, is free space the segment can grow into (a
    // read-only one first; then text, as in layouts without separate code).
    // Not for a moved dynamic array, which the loader writes to. The pages
    // that matter are the ones the binary was linked for (its p_align): the
    // grown segment must not reach the next segment's page at that size.
    (void)load_alignment();  // validates every p_align
    std::uint64_t a = 0x1000;
    for (std::size_t i : loads) a = std::max(a, f_.segments[i].align);
    for (std::uint32_t x : {0u, std::uint32_t{PF_X}}) {
      for (std::size_t k = 0; k + 1 < loads.size() && !host_ && !layout_.dynamic_moved; ++k) {
        const Segment& s = f_.segments[loads[k]];
        const Segment& next = f_.segments[loads[k + 1]];
        if (s.memsz != s.filesz || (s.flags & PF_W) || (s.flags & PF_X) != x || !(s.flags & PF_R)) continue;
        const std::uint64_t start = s.offset + s.filesz, vstart = s.vaddr + s.filesz;
        const bool in_place = f_.dynstr_offset + f_.dynstr_size == start;
        const std::uint64_t need = (interp_append_ ? new_interp_->size() + 1 : 0) +
                                   (strings_append_ ? (in_place ? 0 : f_.dynstr_size) + new_strings_.size() : 0);
        const std::uint64_t vlimit = next.vaddr / a * a;
        std::uint64_t end = 0, vend = 0;
        if (__builtin_add_overflow(start, need, &end) || __builtin_add_overflow(vstart, need, &vend) ||
            next.offset < end || vlimit < vend || !region_free(start, end))
          continue;
        host_ = loads[k];
        layout_.data = Layout::Data::Padding;
      }
    }
    // Our own segment from an earlier run (or any read-only or RW PT_LOAD
    // without bss that ends the file) can simply grow.
    const std::size_t last = loads.back();
    const Segment& l = f_.segments[last];
    if (!host_ && l.offset + l.filesz == in_.size() && l.memsz == l.filesz && (l.flags & PF_R) && !(l.flags & PF_X)) {
      host_ = last;
      layout_.data = Layout::Data::GrowLast;
    }
    if (host_) {
      const Segment& h = f_.segments[*host_];
      layout_.strings_extended = strings_append_ && f_.dynstr_offset + f_.dynstr_size == h.offset + h.filesz;
    }
  }

  // The largest PT_LOAD alignment, at least the architecture's page size.
  // The gABI requires p_align to be 0, 1 or a power of two; anything else
  // is a damaged header that no layout can honour.
  std::uint64_t load_alignment() const {
    std::uint64_t a = max_page_size(f_.header.machine);
    for (const Segment& s : f_.segments) {
      if (s.type != PT_LOAD) continue;
      if (s.align > 1 && (s.align & (s.align - 1)) != 0)
        malformed(f_, "PT_LOAD", fmt::format("p_align {:#x} is not a power of two", s.align));
      a = std::max(a, s.align);
    }
    return a;
  }

  // True when nothing in the file uses [from, to): the map knows no owner
  // of it (section, segment, header table, dynamic table, note); and, with
  // no section headers to prove it, the bytes are all zero (padding).
  bool region_free(std::uint64_t from, std::uint64_t to) const {
    if (to > in_.size() || !map_.unowned(from, to)) return false;
    if (f_.sections.empty())
      return std::all_of(in_.begin() + static_cast<std::ptrdiff_t>(from), in_.begin() + static_cast<std::ptrdiff_t>(to),
                         [](std::byte b) { return b == std::byte{0}; });
    return true;
  }

  // ---- 4. room for one more program header ------------------------------

  void make_phdr_room() {
    if (host_) return;
    if (f_.header.phnum + 1 >= PN_XNUM)
      refuse(f_, "program header table", fmt::format("already has {} entries", f_.header.phnum));
    for (const Segment& s : f_.segments)
      if (s.type == PT_NULL) {
        layout_.table_room = Layout::TableRoom::PtNullReused;
        step("program header table", "reuse", "a PT_NULL entry becomes the new PT_LOAD");
        return;
      }

    // The table grows, and PT_PHDR with it: it must describe the table.
    if (const Segment* ph = f_.find_segment(PT_PHDR); ph && ph->offset != f_.header.phoff)
      malformed(f_, "PT_PHDR",
                fmt::format("p_offset {:#x} is not e_phoff {:#x}: it does not describe the program header table",
                            ph->offset, f_.header.phoff));
    const std::uint64_t table_end = f_.header.phoff + std::uint64_t{f_.header.phnum} * sizeof(Phdr<E>);
    const std::uint64_t need = table_end + sizeof(Phdr<E>);

    // Candidates: PT_INTERP and note contents, the symbol hash tables and
    // the dynamic symbol table.
    std::vector<Movable> cand;
    for (const Segment& s : f_.segments) {
      if ((s.type == PT_INTERP || s.type == PT_NOTE) && s.filesz)
        cand.push_back({s.offset, s.filesz, std::max<std::uint64_t>(1, s.align),
                        s.type == PT_INTERP ? Layout::Item::Interp : Layout::Item::Note});
    }
    // Tables that only their dynamic entry points at (symbols are used by
    // index everywhere else), bounded as the loader reads them: the
    // structure map's ranges from DT_HASH's nchain and DT_GNU_HASH's chains,
    // so a file without section headers can move them too.
    for (const Structure& st : map_.all()) {
      const Layout::Item item = st.kind == StructureKind::GnuHash      ? Layout::Item::GnuHash
                                : st.kind == StructureKind::SymbolHash ? Layout::Item::Hash
                                                                       : Layout::Item::DynSym;
      if (st.kind != StructureKind::GnuHash && st.kind != StructureKind::SymbolHash &&
          st.kind != StructureKind::DynamicSymbols)
        continue;
      // Natural alignment: the entries' widest field (a GNU hash's bloom
      // words, a symbol's value, s390x's 8-byte hash words).
      std::uint64_t align = item == Layout::Item::Hash && !(f_.header.machine == EM_S390 && E::is64) ? 4 : kWord;
      // A section there gives the alignment, and the padding after a hash
      // table that it holds moves along (the structure map refuses one
      // shorter than the table).
      std::uint64_t size = st.end - st.begin;
      for (const elf::Section& sec : f_.sections)
        if (sec.offset == st.begin && sec.size && sec.type != SHT_NOBITS) {
          align = std::max<std::uint64_t>(align, sec.addralign);
          size = std::max(size, sec.size);
        }
      cand.push_back({st.begin, size, align, item});
    }
    // An item with an odd alignment (not a small power of two), or one that
    // overlaps any structure but its own (the dynamic array, the string
    // table, a header table, another dynamic table), is a damaged header,
    // not something to move.
    auto overlaps = [](const Movable& m, std::uint64_t off, std::uint64_t size) {
      return size && m.offset < off + size && off < m.offset + m.size;
    };
    auto foreign_owner = [&](const Movable& m) {
      const StructureKind own = m.item == Layout::Item::Note      ? StructureKind::Note
                                : m.item == Layout::Item::GnuHash ? StructureKind::GnuHash
                                : m.item == Layout::Item::Hash    ? StructureKind::SymbolHash
                                : m.item == Layout::Item::DynSym  ? StructureKind::DynamicSymbols
                                                                  : StructureKind::Segment;
      for (const Structure* o : map_.owners(m.offset, m.offset + m.size))
        if (o->kind != StructureKind::Segment && o->kind != StructureKind::Section && o->kind != own) return true;
      return false;
    };
    std::erase_if(cand, [&](const Movable& m) {
      return m.align > 64 || (m.align & (m.align - 1)) != 0 || foreign_owner(m) ||
             std::any_of(f_.segments.begin(), f_.segments.end(), [&](const Segment& seg) {
               // Another segment reaching into the item only partly would be
               // left pointing at moved-out bytes.
               return seg.type != PT_LOAD && seg.type != PT_PHDR && overlaps(m, seg.offset, seg.filesz) &&
                      !(seg.offset >= m.offset && seg.offset + seg.filesz <= m.offset + m.size);
             });
    });
    std::sort(cand.begin(), cand.end(), [](const Movable& a, const Movable& b) { return a.offset < b.offset; });

    // Take items in file order from the end of the table, allowing only
    // alignment padding between them, until the entry fits.
    // Bytes that nothing owns (an interpreter's old slot, padding) may be
    // taken too: no section or segment but the PT_LOAD that maps the table
    // covers them and, with no section headers to prove it, they are zero.
    const Segment* home = nullptr;
    for (const Segment& seg : f_.segments)
      if (seg.type == PT_LOAD && seg.offset <= f_.header.phoff && f_.header.phoff - seg.offset < seg.filesz) home = &seg;
    auto unowned = [&](std::uint64_t from, std::uint64_t to) {
      if (!home || to > home->offset + home->filesz) return false;
      for (const Structure* o : map_.owners(from, to))
        if (o->kind != StructureKind::Segment || o->type != PT_LOAD) return false;
      return !f_.sections.empty() ||
             std::all_of(in_.begin() + static_cast<std::ptrdiff_t>(from), in_.begin() + static_cast<std::ptrdiff_t>(to),
                         [](std::byte b) { return b == std::byte{0}; });
    };
    std::uint64_t cursor = table_end;
    std::vector<Movable> take;
    for (const Movable& m : cand) {
      if (cursor >= need) break;
      if (m.offset < cursor) {  // nested in an item already taken (PT_GNU_PROPERTY-like overlap)
        if (!take.empty() && m.offset >= take.back().offset) cursor = std::max(cursor, m.offset + m.size);
        continue;
      }
      if (m.offset - cursor >= std::max<std::uint64_t>(m.align, 8) && !unowned(cursor, m.offset))
        break;  // something else lies between
      if (unowned(cursor, need)) break;  // free bytes are enough: this item stays
      take.push_back(m);
      cursor = m.offset + m.size;
    }
    if (cursor < need && unowned(cursor, need)) cursor = need;
    if (cursor < need)
      return move_table(fmt::format("there is no PT_NULL entry, and the {:#x} bytes after the table at {:#x} that "
                                    "can move (interpreter, notes, hash tables) are too few",
                                    cursor - table_end, table_end));
    // With section headers we can prove that nothing else lives in the
    // freed range; without them, only padding was allowed above.
    for (const elf::Section& sec : f_.sections) {
      if (sec.type == SHT_NOBITS || sec.type == SHT_NULL || !sec.size || !(sec.flags & SHF_ALLOC)) continue;
      if (sec.offset >= cursor || sec.offset + sec.size <= table_end) continue;
      bool covered = std::any_of(take.begin(), take.end(), [&](const Movable& m) {
        return sec.offset >= m.offset && sec.offset + sec.size <= m.offset + m.size;
      });
      if (!covered)
        return move_table(fmt::format("section {} at {:#x} follows the table and cannot move", sec.name, sec.offset));
    }
    moved_ = std::move(take);
    std::string names;
    for (const Movable& m : moved_) {
      names += (names.empty() ? "" : ", ") + std::string(item_name(m.item));
      layout_.moved.push_back(m.item);
    }
    layout_.table_room = moved_.empty() ? Layout::TableRoom::FreeBytes : Layout::TableRoom::ItemsMoved;
    step("program header table", "grow in place",
         moved_.empty()
             ? fmt::format("over {:#x} bytes after the table at {:#x} that nothing owns", cursor - table_end, table_end)
             : fmt::format("{} move to the new segment, freeing {:#x} bytes after the table at {:#x}", names,
                           cursor - table_end, table_end));
  }

  // No room where the table is: it moves to the start of the new segment,
  // mapped so that AT_PHDR as qemu-user and kernels before 5.18 compute it
  // (the first PT_LOAD's p_vaddr - p_offset, plus e_phoff; qemu takes the
  // smallest p_vaddr - p_offset of all) still finds it. The new PT_LOAD
  // gets that same p_vaddr - p_offset, so its file offset must lie where
  // that address is above every segment: the file is padded up to it.
  // Refused, saying why, when no such layout exists or the padding is large.
  void move_table(const std::string& no_room) {
    const Segment* first = nullptr;
    for (const Segment& s : f_.segments)
      if (s.type == PT_LOAD) {
        first = &s;
        break;
      }
    auto cannot = [&](const std::string& why) {
      refuse(f_, "program header table", fmt::format("no room for one more entry: {}; and it cannot move: {}", no_room, why));
    };
    if (!first || first->vaddr < first->offset) cannot("the first PT_LOAD maps no file offset 0 (p_vaddr < p_offset)");
    const std::uint64_t delta = first->vaddr - first->offset, a = load_alignment();
    if (delta % a) cannot(fmt::format("the first PT_LOAD's p_vaddr - p_offset {:#x} is not a multiple of {:#x}", delta, a));
    std::uint64_t top = 0, end = 0;
    for (const Segment& s : f_.segments) {
      if (s.type == PT_LOAD && (s.vaddr < s.offset || s.vaddr - s.offset < delta))
        cannot(fmt::format("a PT_LOAD at p_vaddr {:#x} maps below the first one, so qemu-user and the kernel would "
                           "disagree on where the table is", s.vaddr));
      if (__builtin_add_overflow(s.vaddr, s.memsz, &end)) cannot("a segment wraps the address space");
      top = std::max(top, end);
    }
    const auto page_top = align_up(top, a);
    if (!page_top || *page_top > kAddressLimit) cannot("no address space left above the segments");
    const std::uint64_t at = std::max(checked_align_up(in_.size(), kWord), *page_top > delta ? *page_top - delta : 0);
    constexpr std::uint64_t kMaxPadding = 16 << 20;
    if (at - in_.size() > kMaxPadding)
      cannot(fmt::format("the file would need {:#x} bytes of padding to reach offset {:#x}", at - in_.size(), at));
    if (delta > kAddressLimit - at) cannot("no address space left above the segments");
    table_off_ = at;
    table_vaddr_ = at + delta;
    layout_.table_room = Layout::TableRoom::TableMoved;
    step("program header table", "move",
         fmt::format("{}: moves to offset {:#x} (vaddr {:#x}) at the start of the new segment, where load base + "
                     "e_phoff still finds it; the file is padded by {:#x} bytes",
                     no_room, at, at + delta, at - in_.size()));
  }

  // ---- 5. layout -------------------------------------------------------

  void layout_appended() {
    std::uint64_t off;
    if (host_) {
      const Segment& h = f_.segments[*host_];
      seg_off_ = h.offset;
      seg_vaddr_ = h.vaddr;
      off = h.offset + h.filesz;
    } else {
      std::uint64_t a = load_alignment(), top = 0, end = 0;
      for (const Segment& s : f_.segments) {
        if (__builtin_add_overflow(s.vaddr, s.memsz, &end)) end = ~std::uint64_t{0};
        top = std::max(top, end);
      }
      seg_off_ = off = checked_align_up(in_.size(), 16);
      // The new segment starts on the first boundary of the largest
      // alignment above every segment, and must fit the class's address
      // space (a p_align of 2^31 or 2^63 high up leaves no room).
      const auto base = align_up(top, a);
      if (!base || *base > kAddressLimit || seg_off_ % a > kAddressLimit - *base)
        refuse(f_, "program headers",
               fmt::format("segments reach {:#x}: no address space left above them for a new PT_LOAD aligned to {:#x}",
                           top, a));
      seg_vaddr_ = *base + seg_off_ % a;
    }
    if (layout_.table_room == Layout::TableRoom::TableMoved) {
      // The table, one entry longer, opens the new segment.
      seg_off_ = off = table_off_;
      seg_vaddr_ = table_vaddr_;
      off += (std::uint64_t{f_.header.phnum} + 1) * sizeof(Phdr<E>);
    }
    auto place = [&](std::uint64_t size, std::uint64_t align) {
      off = checked_align_up(off, align);
      std::uint64_t at = off;
      if (__builtin_add_overflow(off, size, &off)) internal("an appended item's end wraps the file offset");
      return at;
    };
    auto vaddr = [&](std::uint64_t o) { return seg_vaddr_ + (o - seg_off_); };

    if (layout_.strings_extended) {
      // DT_STRTAB ends the growing segment: new strings extend it where it
      // stands, so they take the bytes right after it, before anything else.
      str_off_ = f_.dynstr_offset;
      str_vaddr_ = f_.dynstr_vaddr;
      str_size_ = f_.dynstr_size + new_strings_.size();
      place(new_strings_.size(), 1);
      step("DT_STRTAB", "extend",
           fmt::format("{} new bytes at the end of the table, which ends its segment", new_strings_.size()));
    }
    for (Movable& m : moved_) {
      if (m.item == Layout::Item::Interp && new_interp_) continue;  // placed with the new interpreter below
      m.new_offset = place(m.size, m.align);
      m.new_vaddr = vaddr(m.new_offset);
    }
    if (new_interp_ && (interp_append_ || moved_interp())) {
      // A moved slot keeps its size, so later shorter values fit in place.
      interp_size_ = std::max<std::uint64_t>(new_interp_->size() + 1, interp_slot_);
      if (interp_append_) interp_size_ = new_interp_->size() + 1;
      interp_off_ = place(interp_size_, 1);
      interp_vaddr_ = vaddr(interp_off_);
      for (Movable& m : moved_)
        if (m.item == Layout::Item::Interp) {
          m.new_offset = interp_off_;
          m.new_vaddr = interp_vaddr_;
        }
      step("PT_INTERP", "append", fmt::format("{} bytes at {:#x} (vaddr {:#x})", interp_size_, interp_off_, interp_vaddr_));
    }
    if (layout_.dynamic_moved) {
      dyn_slots_ = want_.size() + 1 + kSpareDynSlots;
      dyn_off_ = place(dyn_slots_ * sizeof(Dyn<E>), kWord);
      dyn_vaddr_ = vaddr(dyn_off_);
      step("PT_DYNAMIC", "append",
           fmt::format("{} entries no longer fit the {} slots; new array of {} slots at {:#x}", want_.size() + 1,
                       f_.dynamic_slots, dyn_slots_, dyn_off_));
    }
    if (strings_append_ && !layout_.strings_extended) {
      str_off_ = place(f_.dynstr_size + new_strings_.size(), 1);
      str_vaddr_ = vaddr(str_off_);
      str_size_ = f_.dynstr_size + new_strings_.size();
      step("DT_STRTAB", "append",
           fmt::format("copy of {:#x} bytes plus {} new bytes at {:#x}", f_.dynstr_size, new_strings_.size(), str_off_));
    }
    seg_end_ = off;
    if (seg_end_ - seg_off_ > kAddressLimit - seg_vaddr_)
      refuse(f_, "program headers",
             fmt::format("a segment at {:#x} of {:#x} bytes does not fit the address space", seg_vaddr_,
                         seg_end_ - seg_off_));
    plan_.new_size = std::max<std::uint64_t>(in_.size(), seg_end_);
    if (layout_.data == Layout::Data::Padding)
      step("PT_LOAD", "extend",
           fmt::format("segment at {:#x} grows into the padding after it, to {:#x}: the file does not grow",
                       seg_off_, seg_end_));
    else if (host_)
      step("PT_LOAD", "extend", fmt::format("the last segment grows to end at {:#x}", seg_end_));
    else
      step("PT_LOAD", "add", fmt::format("offset {:#x} vaddr {:#x} size {:#x}, flags {}", seg_off_, seg_vaddr_,
                                         seg_end_ - seg_off_, layout_.dynamic_moved ? "RW" : "R"));
  }

  bool moved_interp() const {
    return std::any_of(moved_.begin(), moved_.end(), [](const Movable& m) { return m.item == Layout::Item::Interp; });
  }
  const Movable* moved_at(std::uint64_t offset) const {
    for (const Movable& m : moved_)
      if (offset >= m.offset && offset < m.offset + m.size) return &m;
    return nullptr;
  }

  // ---- 6. encode -------------------------------------------------------

  template <typename T>
  static std::vector<std::byte> bytes_of(const T& v) {
    std::vector<std::byte> b(sizeof v);
    std::memcpy(b.data(), &v, sizeof v);
    return b;
  }
  static Native n(std::uint64_t v) { return static_cast<Native>(v); }

  void encode() {
    // Moved items: copy their bytes (the interpreter is written below).
    for (const Movable& m : moved_) {
      if (m.item == Layout::Item::Interp && new_interp_) continue;
      write(m.new_offset, {in_.begin() + static_cast<std::ptrdiff_t>(m.offset),
                           in_.begin() + static_cast<std::ptrdiff_t>(m.offset + m.size)});
    }

    // Interpreter. A slot it leaves is cleared: nothing else owns those
    // bytes, and the program header table may later grow over them.
    if (new_interp_ && interp_append_ && !moved_interp()) {
      const Segment* s = f_.find_segment(PT_INTERP);
      write(s->offset, std::vector<std::byte>(interp_slot_));
    }
    if (new_interp_) {
      const Segment* s = f_.find_segment(PT_INTERP);
      std::uint64_t at = interp_off_ ? interp_off_ : s->offset;
      std::uint64_t slot = interp_off_ ? interp_size_ : interp_slot_;
      std::vector<std::byte> b(slot);
      std::memcpy(b.data(), new_interp_->data(), new_interp_->size());
      write(at, std::move(b));
    }

    // Strings.
    if (strings_append_) {
      std::vector<std::byte> b;
      if (!layout_.strings_extended)
        b.assign(in_.begin() + static_cast<std::ptrdiff_t>(f_.dynstr_offset),
                 in_.begin() + static_cast<std::ptrdiff_t>(f_.dynstr_offset + f_.dynstr_size));
      auto p = reinterpret_cast<const std::byte*>(new_strings_.data());
      b.insert(b.end(), p, p + new_strings_.size());
      write(layout_.strings_extended ? f_.dynstr_offset + f_.dynstr_size : str_off_, std::move(b));
    }

    // Dynamic array.
    if (!f_.dynamic.empty()) encode_dynamic();

    // Version needs that name a replaced library.
    for (const VnFile& v : vn_files_) {
      typename E::Word w;
      w = static_cast<std::uint32_t>(v.value);
      write(v.field, bytes_of(w));
    }

    encode_program_headers();
    encode_section_headers();
  }

  void encode_dynamic() {
    const std::uint64_t old_dyn_vaddr = f_.find_segment(PT_DYNAMIC)->vaddr;
    const std::uint64_t new_dyn_vaddr = layout_.dynamic_moved ? dyn_vaddr_ : old_dyn_vaddr;
    std::vector<std::byte> b;
    std::uint64_t slots = layout_.dynamic_moved ? dyn_slots_ : f_.dynamic_slots;
    for (std::size_t i = 0; i < want_.size(); ++i) {
      Want w = want_[i];
      if (strings_append_ && w.tag == DT_STRTAB) w.value = str_vaddr_;
      if (strings_append_ && w.tag == DT_STRSZ) w.value = str_size_;
      if (w.tag == DT_GNU_HASH || w.tag == DT_HASH || w.tag == DT_SYMTAB)
        if (auto off = f_.vaddr_to_offset(w.value, 1))
          if (const Movable* m = moved_at(*off)) w.value = m->new_vaddr + (*off - m->offset);
      // MIPS: the value is relative to the entry's own address, which
      // changes when the array moves or an entry is added before it.
      if (w.tag == DT_MIPS_RLD_MAP_REL && f_.header.machine == EM_MIPS && w.slot)
        w.value = w.value + (old_dyn_vaddr + *w.slot * sizeof(Dyn<E>)) - (new_dyn_vaddr + i * sizeof(Dyn<E>));
      Dyn<E> d;
      d.d_tag = n(w.tag);
      d.d_val = n(w.value);
      auto e = bytes_of(d);
      b.insert(b.end(), e.begin(), e.end());
    }
    b.resize(slots * sizeof(Dyn<E>));  // DT_NULL terminator and spare slots are zero
    if (!layout_.dynamic_moved) {
      // In place: keep whatever followed our entries if the array shrank
      // into spare DT_NULLs; zero bytes are DT_NULL, so this is exact.
      write(f_.dynamic_offset, std::move(b));
    } else {
      write(dyn_off_, std::move(b));
    }
  }

  void encode_program_headers() {
    std::vector<Segment> segs = f_.segments;
    for (Segment& s : segs) {
      if (s.type == PT_INTERP && (interp_off_ || moved_interp())) {
        std::uint64_t off = interp_off_;
        if (!off) off = moved_at(s.offset)->new_offset;
        s.offset = off;
        s.vaddr = s.paddr = interp_off_ ? interp_vaddr_ : moved_at(f_.find_segment(PT_INTERP)->offset)->new_vaddr;
        if (interp_off_) s.filesz = s.memsz = interp_size_;
      } else if (s.type == PT_DYNAMIC && layout_.dynamic_moved) {
        s.offset = dyn_off_;
        s.vaddr = s.paddr = dyn_vaddr_;
        s.filesz = s.memsz = dyn_slots_ * sizeof(Dyn<E>);
      } else if (s.type != PT_LOAD && s.type != PT_PHDR && s.filesz) {
        if (const Movable* m = moved_at(s.offset)) {  // notes and GNU_PROPERTY
          s.vaddr = s.paddr = m->new_vaddr + (s.offset - m->offset);
          s.offset = m->new_offset + (s.offset - m->offset);
        }
      }
    }
    if (appends() && host_) {
      Segment& h = segs[*host_];
      h.filesz = h.memsz = seg_end_ - h.offset;
      if (layout_.dynamic_moved) h.flags |= PF_W;
    } else if (appends()) {
      Segment load{PT_LOAD, PF_R | (layout_.dynamic_moved ? PF_W : 0u), seg_off_, seg_vaddr_, seg_vaddr_, seg_end_ - seg_off_, seg_end_ - seg_off_, 0};
      load.align = load_alignment();
      if (layout_.table_room == Layout::TableRoom::PtNullReused) segs.erase(std::find_if(segs.begin(), segs.end(), [](const Segment& s) { return s.type == PT_NULL; }));
      // After the last PT_LOAD, so loadable entries stay sorted by p_vaddr.
      std::size_t last = 0;
      for (std::size_t i = 0; i < segs.size(); ++i)
        if (segs[i].type == PT_LOAD) last = i;
      segs.insert(segs.begin() + static_cast<std::ptrdiff_t>(last + 1), load);
      if (layout_.table_room != Layout::TableRoom::PtNullReused)
        for (Segment& s : segs)
          if (s.type == PT_PHDR) s.filesz = s.memsz = segs.size() * sizeof(Phdr<E>);
      if (layout_.table_room == Layout::TableRoom::TableMoved)
        for (Segment& s : segs)
          if (s.type == PT_PHDR) {
            s.offset = table_off_;
            s.vaddr = s.paddr = table_vaddr_;
          }
    }

    std::vector<std::byte> table;
    for (const Segment& s : segs) {
      Phdr<E> p{};
      p.p_type = s.type;
      p.p_flags = s.flags;
      p.p_offset = n(s.offset);
      p.p_vaddr = n(s.vaddr);
      p.p_paddr = n(s.paddr);
      p.p_filesz = n(s.filesz);
      p.p_memsz = n(s.memsz);
      p.p_align = n(s.align);
      auto e = bytes_of(p);
      table.insert(table.end(), e.begin(), e.end());
    }
    const std::uint64_t table_end = f_.header.phoff + table.size();
    if (layout_.table_room == Layout::TableRoom::TableMoved) {
      typename E::Addr phoff;
      phoff = n(table_off_);
      write(offsetof(Ehdr<E>, e_phoff), bytes_of(phoff));
      write(table_off_, std::move(table));
    } else {
      write(f_.header.phoff, std::move(table));
    }
    // Clear what is left of the moved items' old places, after the table.
    for (const Movable& m : moved_) {
      std::uint64_t from = std::max(m.offset, table_end), to = m.offset + m.size;
      if (from < to) write(from, std::vector<std::byte>(to - from));
    }
    if (segs.size() != f_.segments.size()) {
      typename E::Half phnum = static_cast<std::uint16_t>(segs.size());
      write(offsetof(Ehdr<E>, e_phnum), bytes_of(phnum));
    }
  }

  void encode_section_headers() {
    std::map<std::size_t, std::uint64_t> moved_by;  // section index -> address delta (mod 2^64)
    for (std::size_t i = 0; i < f_.sections.size(); ++i) {
      const elf::Section& sec = f_.sections[i];
      if (sec.type == SHT_NULL) continue;
      std::uint64_t off = sec.offset, addr = sec.addr, size = sec.size;
      if (strings_append_ && sec.type == SHT_STRTAB && sec.offset == f_.dynstr_offset && sec.addr == f_.dynstr_vaddr) {
        off = str_off_;
        addr = str_vaddr_;
        size = str_size_;
      } else if (layout_.dynamic_moved && sec.type == SHT_DYNAMIC && sec.offset == f_.dynamic_offset) {
        off = dyn_off_;
        addr = dyn_vaddr_;
        size = dyn_slots_ * sizeof(Dyn<E>);
      } else if (interp_off_ && f_.find_segment(PT_INTERP) && sec.offset == f_.find_segment(PT_INTERP)->offset &&
                 sec.type == SHT_PROGBITS) {
        off = interp_off_;
        addr = interp_vaddr_;
        size = interp_size_;
      } else if (const Movable* m = sec.size ? moved_at(sec.offset) : nullptr;
                 m && (sec.type == SHT_NOBITS || sec.size <= m->offset + m->size - sec.offset)) {
        // Only a section wholly inside the moved piece follows it; one that
        // reaches past it (contradictory headers) keeps its place.
        addr = m->new_vaddr + (sec.offset - m->offset);
        off = m->new_offset + (sec.offset - m->offset);
      }
      if (off == sec.offset && addr == sec.addr && size == sec.size) continue;
      if (addr != sec.addr) moved_by[i] = addr - sec.addr;
      Shdr<E> sh;
      std::memcpy(&sh, in_.data() + f_.header.shoff + i * sizeof(Shdr<E>), sizeof sh);
      sh.sh_offset = n(off);
      sh.sh_addr = n(addr);
      sh.sh_size = n(size);
      write(f_.header.shoff + i * sizeof(Shdr<E>), bytes_of(sh));
    }
    if (!moved_by.empty()) encode_symbols(moved_by);
  }

  // Symbols defined in a section that moved (section symbols, __abi_tag,
  // _DYNAMIC) follow it, so symbol tables stay consistent with the layout:
  // the section headers' symbol tables, and DT_SYMTAB's, which the loader
  // reads even where no SHT_DYNSYM header describes it (each distinct table
  // once). A symbol in a table that itself moved (.dynsym) is updated in
  // the copy; one in a table over the headers (a damaged file) is refused.
  void encode_symbols(const std::map<std::size_t, std::uint64_t>& moved_by) {
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> tables;  // [offset, size) -> its name
    for (const Structure& s : map_.all())
      if (s.kind == StructureKind::DynamicSymbols) tables.emplace(std::pair{s.begin, s.end - s.begin}, "DT_SYMTAB");
    for (std::size_t t = 0; t < f_.sections.size(); ++t) {
      const elf::Section& tab = f_.sections[t];
      if ((tab.type != SHT_SYMTAB && tab.type != SHT_DYNSYM) || tab.entsize != sizeof(Sym<E>)) continue;
      tables.emplace(std::pair{tab.offset, tab.size}, fmt::format("section header {} (symbol table)", t));
    }
    for (const auto& [range, what] : tables) {
      for (std::uint64_t k = 0; k < range.second / sizeof(Sym<E>); ++k) {
        std::uint64_t at = range.first + k * sizeof(Sym<E>);
        Sym<E> sym;
        std::memcpy(&sym, in_.data() + at, sizeof sym);
        auto it = moved_by.find(sym.st_shndx);
        if (it == moved_by.end() || sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE) continue;
        sym.st_value = n(sym.st_value + it->second);
        if (const Movable* m = moved_at(at); m && at + sizeof sym <= m->offset + m->size) {
          auto copy = std::find_if(plan_.writes.begin(), plan_.writes.end(), [&](const Write& w) {
            return w.offset == m->new_offset && w.bytes.size() == m->size;
          });
          if (copy == plan_.writes.end())
            internal(fmt::format("{}: a symbol table inside a moved item that was not copied", what));
          std::memcpy(copy->bytes.data() + (at - m->offset), &sym, sizeof sym);
          continue;
        }
        require_clear_of_headers(at, sizeof sym, what, StructureKind::DynamicSymbols);
        write(at, bytes_of(sym));
      }
    }
  }
};

}  // namespace

const char* item_name(Layout::Item item) noexcept {
  switch (item) {
    case Layout::Item::Interp: return "PT_INTERP";
    case Layout::Item::Note: return "PT_NOTE";
    case Layout::Item::GnuHash: return "DT_GNU_HASH";
    case Layout::Item::Hash: return "DT_HASH";
    case Layout::Item::DynSym: break;
  }
  return "DT_SYMTAB";
}

Expected<Plan> plan_rewrite(const ElfFile& file, std::span<const std::byte> bytes, const EditSet& edits) {
  try {
    Plan plan = elf::dispatch(file.header.variant, [&](auto e) { return Planner<decltype(e)>(file, bytes, edits).run(); });
    return add_header_edits(file, bytes, edits, std::move(plan));  // fixed-size fields, in place (header_edits.h)
  } catch (ErrorException& e) {
    return std::move(e.error);
  }
}

}  // namespace xpatch::rewrite
