// The output of a rewrite against its input, structure by structure (see
// verify.h). Phases:
//   1. read the output back; its dynamic view against what the edits asked;
//   2. the ELF header and the program headers, entry by entry;
//   3. every section: unchanged, or changed only as its edit allows;
//   4. every changed byte: explained by a structure that a rewrite owns,
//      else named with the section or segment it belongs to;
//   5. the dynamic array, the dynamic symbols, the version requirements and
//      the notes, entry by entry.
// The checks are independent of how the planner chose its layout: they say
// what must hold of any output, so a planner mistake shows up as a
// discrepancy instead of a broken file.

#include "libpatch/rewrite/verify.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "libpatch/elf/target.h"
#include "libpatch/rewrite/tables.h"

namespace xpatch::rewrite {

const char* discrepancy_kind_name(Discrepancy::Kind k) noexcept {
  switch (k) {
    case Discrepancy::Kind::Unreadable: return "unreadable";
    case Discrepancy::Kind::Bytes: return "bytes";
    case Discrepancy::Kind::Segment: return "segment";
    case Discrepancy::Kind::DynamicEntry: return "dynamic-entry";
    case Discrepancy::Kind::VersionNeed: return "version-need";
    case Discrepancy::Kind::SymbolName: return "symbol-name";
    case Discrepancy::Kind::Note: return "note";
    case Discrepancy::Kind::View: break;
  }
  return "view";
}

Expected<DynamicView> read_dynamic_view(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  DynamicView v{f.interpreter, f.runpath, f.rpath, f.soname, {f.needed.begin(), f.needed.end()}, {}};
  auto needs = read_version_needs(f, bytes);
  if (!needs) return needs.error();
  for (const VersionNeedEntry& e : *needs) {
    VersionNeed n;
    auto file = dynamic_string(f, bytes, e.file);
    if (!file)
      return Error{Error::Kind::Malformed,
                   fmt::format("{}: DT_VERNEED: vn_file {:#x} at offset {:#x} is outside DT_STRTAB (DT_STRSZ {:#x})",
                               f.path, e.file, e.offset, f.dynstr_size)};
    n.file = *file;
    for (const VersionNeedAux& a : e.aux) {
      auto name = dynamic_string(f, bytes, a.name);
      if (!name)
        return Error{Error::Kind::Malformed,
                     fmt::format("{}: DT_VERNEED: a version of {} has vna_name {:#x} outside DT_STRTAB (DT_STRSZ {:#x})",
                                 f.path, n.file, a.name, f.dynstr_size)};
      n.versions.push_back(*name);
    }
    v.version_needs.push_back(std::move(n));
  }
  return v;
}

namespace {

using Kind = Discrepancy::Kind;

std::string show(const std::optional<std::string>& s) { return s ? fmt::format("\"{}\"", *s) : std::string("absent"); }
std::string show(const std::vector<std::string>& v) { return fmt::format("[{}]", fmt::join(v, ", ")); }
std::string show(const std::vector<VersionNeed>& v) {
  std::vector<std::string> parts;
  for (const VersionNeed& n : v) parts.push_back(fmt::format("{} ({})", n.file, fmt::join(n.versions, " ")));
  return show(parts);
}

std::string tag_label(std::uint64_t tag) {
  std::string_view n = elf::dynamic_tag_name(tag);
  return n.empty() ? fmt::format("dynamic tag {:#x}", tag) : fmt::format("DT_{}", n);
}

std::string join_dirs(const std::vector<std::string>& dirs) { return fmt::format("{}", fmt::join(dirs, ":")); }

// ---- 1. the dynamic view the edits ask for ----------------------------

void check_view(std::vector<Discrepancy>& d, const DynamicView& before, const DynamicView& after, const EditSet& e) {
  auto differs = [&](std::string structure, const auto& want, const auto& got) {
    if (want == got) return;
    d.push_back({Kind::View, std::move(structure), fmt::format("reads back as {}, the edits ask for {}", show(got),
                                                               show(want))});
  };
  differs("PT_INTERP", e.interpreter ? e.interpreter : before.interpreter, after.interpreter);
  differs("DT_SONAME", e.soname ? e.soname : before.soname, after.soname);

  // Needed libraries, in load order: removals, then replacements, then
  // additions after the existing ones (a library already needed stays once).
  std::vector<std::string> needed = before.needed;
  for (const std::string& lib : e.remove_needed) std::erase(needed, lib);
  for (const auto& [from, to] : e.replace_needed) std::replace(needed.begin(), needed.end(), from, to);
  for (const std::string& lib : e.add_needed)
    if (std::find(needed.begin(), needed.end(), lib) == needed.end()) needed.push_back(lib);
  differs("DT_NEEDED", needed, after.needed);

  // The search path. A DT_RPATH beside a DT_RUNPATH is void for glibc and
  // musl, so dropping it when a runpath is set changes nothing; the other
  // way round, a DT_RPATH that was asked for is void while a DT_RUNPATH stays.
  std::optional<std::string> runpath = before.runpath, rpath = before.rpath;
  bool rpath_may_go = false;
  if (e.remove_runpath) {
    if (!e.runpath && e.add_runpath.empty()) runpath.reset();
    if (!e.rpath) rpath.reset();
  }
  if (e.runpath) {
    runpath = e.runpath;
    rpath_may_go = true;
  }
  if (e.rpath) {
    rpath = e.rpath;
    if (!e.runpath) runpath.reset();
  }
  if (!e.add_runpath.empty()) {
    std::optional<std::string>& in_force = runpath ? runpath : rpath ? rpath : runpath;
    std::vector<std::string> dirs;
    const std::string cur = in_force.value_or("");
    for (std::size_t a = 0; a <= cur.size();) {
      std::size_t b = std::min(cur.find(':', a), cur.size());
      if (b > a) dirs.push_back(cur.substr(a, b - a));
      a = b + 1;
    }
    for (const std::string& dir : e.add_runpath)
      if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
    in_force = join_dirs(dirs);
  }
  if (e.rpath && !e.runpath && after.runpath)
    d.push_back({Kind::View, "DT_RPATH",
                 fmt::format("set to \"{}\", but DT_RUNPATH \"{}\" stays, and glibc and musl ignore DT_RPATH while "
                             "DT_RUNPATH is present",
                             *e.rpath, *after.runpath)});
  else
    differs("DT_RUNPATH", runpath, after.runpath);
  if (!(rpath_may_go && !after.rpath && after.runpath)) differs("DT_RPATH", rpath, after.rpath);

  // Version requirements follow their library's new name.
  std::vector<VersionNeed> needs = before.version_needs;
  for (VersionNeed& n : needs)
    for (const auto& [from, to] : e.replace_needed)
      if (n.file == from) n.file = to;
  differs("DT_VERNEED", needs, after.version_needs);

  // glibc's loader asserts that each one names a loaded object
  // (dl-version.c: "needed != NULL"), and aborts the program otherwise.
  // An entry that named no DT_NEEDED in the input already is not the
  // rewrite's doing; nor is one whose library the user removed, which
  // another library may still load (removed_but_versioned: a warning).
  auto listed = [](const DynamicView& v, const std::string& lib) {
    return std::find(v.needed.begin(), v.needed.end(), lib) != v.needed.end();
  };
  for (const VersionNeed& n : after.version_needs) {
    bool broken_before = !listed(before, n.file) && std::any_of(before.version_needs.begin(), before.version_needs.end(),
                                                                [&](const VersionNeed& b) { return b.file == n.file; });
    bool removed = std::find(e.remove_needed.begin(), e.remove_needed.end(), n.file) != e.remove_needed.end();
    if (!listed(after, n.file) && !broken_before && !removed)
      d.push_back({Kind::VersionNeed, "DT_VERNEED",
                   fmt::format("an entry names {}, which is not a DT_NEEDED {}: glibc's loader aborts the program "
                               "(dl-version.c: needed != NULL)",
                               n.file, show(after.needed))});
  }
}

// ---- 2.-5. the structures -----------------------------------------------

struct Range {
  std::uint64_t from = 0, to = 0;
};

template <typename E>
class Verifier {
 public:
  Verifier(const elf::ElfFile& in, std::span<const std::byte> ib, const elf::ElfFile& out,
           std::span<const std::byte> ob, const EditSet& e, std::vector<Discrepancy>& d)
      : in_(in), ib_(ib), out_(out), ob_(ob), e_(e), d_(d) {}

  void run() {
    check_header();
    check_segments();
    check_sections();
    check_changed_bytes();
    check_dynamic();
    check_symbols();
    check_version_needs();
    check_notes();
  }

 private:
  const elf::ElfFile& in_;
  std::span<const std::byte> ib_;
  const elf::ElfFile& out_;
  std::span<const std::byte> ob_;
  const EditSet& e_;
  std::vector<Discrepancy>& d_;
  std::vector<Range> allowed_;  // bytes a rewrite may change; what changed there is checked structure by structure

  void add(Kind k, std::string structure, std::string message) {
    d_.push_back({k, std::move(structure), std::move(message)});
  }
  bool same(std::uint64_t in_off, std::uint64_t out_off, std::uint64_t size) const {
    return in_off <= ib_.size() && size <= ib_.size() - in_off && out_off <= ob_.size() &&
           size <= ob_.size() - out_off && std::memcmp(ib_.data() + in_off, ob_.data() + out_off, size) == 0;
  }
  std::string section_label(std::size_t i) const {
    const std::string& n = in_.sections[i].name;
    return n.empty() ? fmt::format("section {}", i) : n;
  }

  // ---- 2. headers -----------------------------------------------------

  void check_header() {
    auto a = *reinterpret_cast<const elf::Ehdr<E>*>(ib_.data());  // both parsed: at least an ELF header long
    auto b = *reinterpret_cast<const elf::Ehdr<E>*>(ob_.data());
    if (e_.osabi && b.e_ident[EI_OSABI] != *e_.osabi)
      add(Kind::Bytes, "ELF header", fmt::format("EI_OSABI is {}, the edits ask for {}", b.e_ident[EI_OSABI], *e_.osabi));
    b.e_phnum = a.e_phnum;  // grows with a new PT_LOAD; the segments are checked below
    if (b.e_phoff != a.e_phoff && table_mapped_where_qemu_looks()) b.e_phoff = a.e_phoff;  // the planner's TableMoved
    if (e_.osabi) b.e_ident[EI_OSABI] = a.e_ident[EI_OSABI];
    if (std::memcmp(&a, &b, sizeof a) != 0)
      add(Kind::Bytes, "ELF header", "fields other than e_phnum changed, which no edit changes");
    allowed_.push_back({0, sizeof a});
  }

  // A moved program header table must be where qemu-user and kernels before
  // 5.18 compute AT_PHDR: the lowest PT_LOAD's p_vaddr - p_offset + e_phoff
  // (wrapping as they do), mapped by some PT_LOAD from that very offset.
  bool table_mapped_where_qemu_looks() const {
    const elf::Header& h = out_.header;
    const elf::Segment* first = nullptr;
    for (const elf::Segment& s : out_.segments)
      if (s.type == PT_LOAD && (!first || s.vaddr < first->vaddr)) first = &s;
    if (!first) return false;
    const std::uint64_t size = std::uint64_t{h.phnum} * sizeof(elf::Phdr<E>);
    return out_.vaddr_to_offset(first->vaddr - first->offset + h.phoff, size) == h.phoff;
  }

  // The k-th segment of each type in the input is the k-th of that type in
  // the output: a rewrite adds one PT_LOAD at most, and may turn a PT_NULL
  // into it (or into PT_GNU_STACK).
  void check_segments() {
    std::map<std::uint32_t, std::vector<const elf::Segment*>> a, b;
    for (const auto& s : in_.segments) a[s.type].push_back(&s);
    for (const auto& s : out_.segments) b[s.type].push_back(&s);
    for (const auto& [type, list] : b) {
      std::size_t had = a.count(type) ? a[type].size() : 0, extra = list.size() > had ? list.size() - had : 0;
      std::size_t may = type == PT_LOAD ? 1 : type == PT_GNU_STACK && e_.execstack && had == 0 ? 1 : 0;
      if (extra > may)
        add(Kind::Segment, segment_label(type), fmt::format("{} new entries, which no edit adds", extra));
    }
    for (const auto& [type, list] : a) {
      const auto& outs = b[type];
      for (std::size_t k = 0; k < list.size(); ++k) {
        if (k >= outs.size()) {
          if (type != PT_NULL) add(Kind::Segment, segment_label(type), fmt::format("entry {} is gone", k));
          continue;
        }
        check_segment(*list[k], *outs[k]);
      }
    }
    const std::uint64_t n = std::max(in_.header.phnum, out_.header.phnum);
    allowed_.push_back({in_.header.phoff, in_.header.phoff + n * sizeof(elf::Phdr<E>)});
  }

  std::string segment_label(std::uint32_t type) const {
    std::string_view n = elf::segment_type_name(type);
    return n.empty() ? fmt::format("segment type {:#x}", type) : fmt::format("PT_{}", n);
  }

  void check_segment(const elf::Segment& s, const elf::Segment& o) {
    const std::string label = segment_label(s.type);
    auto unchanged_fields = [&](bool with_flags) {
      return s.offset == o.offset && s.vaddr == o.vaddr && s.paddr == o.paddr && s.filesz == o.filesz &&
             s.memsz == o.memsz && s.align == o.align && (!with_flags || s.flags == o.flags);
    };
    switch (s.type) {
      case PT_LOAD: {
        // It may grow (padding after it, or the segment we appended
        // before), and become writable to hold a moved dynamic array.
        const bool grown = o.filesz >= s.filesz && o.memsz == o.filesz && s.memsz == s.filesz;
        const bool flags_ok = o.flags == s.flags || o.flags == (s.flags | PF_W);
        if (s.offset != o.offset || s.vaddr != o.vaddr || s.align != o.align || !flags_ok ||
            !(unchanged_fields(false) || grown))
          add(Kind::Segment, label,
              fmt::format("the segment at offset {:#x} vaddr {:#x} ({:#x} bytes) became offset {:#x} vaddr {:#x} ({:#x} "
                          "bytes, flags {:#x} -> {:#x})",
                          s.offset, s.vaddr, s.filesz, o.offset, o.vaddr, o.filesz, s.flags, o.flags));
        return;
      }
      case PT_PHDR:
        if (o.offset != out_.header.phoff || o.filesz != out_.header.phnum * sizeof(elf::Phdr<E>) ||
            (o.vaddr != s.vaddr && !(out_.header.phoff != in_.header.phoff && table_mapped_where_qemu_looks() &&
                                     out_.vaddr_to_offset(o.vaddr, o.filesz) == o.offset)))
          add(Kind::Segment, label, "does not describe the program header table at e_phoff");
        return;
      case PT_DYNAMIC:  // may move and grow; its entries are compared below
        return;
      case PT_INTERP:
        if (e_.interpreter) return;  // the view says whether it reads back right
        [[fallthrough]];
      case PT_NOTE:
      case PT_GNU_PROPERTY:
        // Small items after the program header table may move to make it
        // room: they keep their size, flags and bytes, and stay mapped
        // (glibc reads notes and PT_INTERP from memory).
        if (s.filesz != o.filesz || s.memsz != o.memsz || s.flags != o.flags || s.align != o.align ||
            (o.offset != s.offset && out_.vaddr_to_offset(o.vaddr, o.filesz) != o.offset))
          add(Kind::Segment, label,
              fmt::format("at offset {:#x} ({:#x} bytes) became {:#x} bytes at {:#x}", s.offset, s.filesz, o.filesz,
                          o.offset));
        else if (!same(s.offset, o.offset, s.filesz))
          add(Kind::Bytes, label,
              fmt::format("the {:#x} bytes at offset {:#x} are not the same at {:#x}", s.filesz, s.offset, o.offset));
        if (o.offset != s.offset) allowed_.push_back({s.offset, s.offset + s.filesz});  // the old place, cleared
        return;
      case PT_GNU_STACK:
        if (e_.execstack && ((o.flags & PF_X) != 0) != *e_.execstack)
          add(Kind::Segment, label, fmt::format("flags {:#x}, the edits ask for {} stack", o.flags,
                                                *e_.execstack ? "an executable" : "a non-executable"));
        if (!unchanged_fields(!e_.execstack))
          add(Kind::Segment, label, "changed in a field other than p_flags");
        return;
      default:
        if (!unchanged_fields(true)) add(Kind::Segment, label, fmt::format("at offset {:#x} changed", s.offset));
    }
  }

  // ---- 3. sections ------------------------------------------------------

  const elf::Segment* interp_segment() const { return in_.find_segment(PT_INTERP); }
  bool is_interp_section(const elf::Section& s) const {
    const elf::Segment* p = interp_segment();
    return p && s.type == SHT_PROGBITS && s.offset == p->offset && s.size;
  }
  bool is_dynstr(const elf::Section& s) const {
    return s.type == SHT_STRTAB && in_.dynstr_size && s.offset == in_.dynstr_offset && s.addr == in_.dynstr_vaddr;
  }
  bool is_dynamic_array(const elf::Section& s) const {
    return s.type == SHT_DYNAMIC && in_.is_dynamic() && s.offset == in_.dynamic_offset;
  }
  std::optional<std::uint64_t> dyn(const elf::ElfFile& f, std::uint64_t tag) const {
    for (const auto& d : f.dynamic)
      if (d.tag == tag) return d.value;
    return std::nullopt;
  }

  void check_sections() {
    if (in_.sections.size() != out_.sections.size()) {
      add(Kind::Bytes, "section header table",
          fmt::format("{} sections became {}", in_.sections.size(), out_.sections.size()));
      return;
    }
    if (in_.header.shoff) allowed_.push_back({in_.header.shoff, in_.header.shoff + std::max<std::uint64_t>(in_.header.shnum, 1) * sizeof(elf::Shdr<E>)});
    for (std::size_t i = 0; i < in_.sections.size(); ++i) {
      const elf::Section& s = in_.sections[i];
      const elf::Section& o = out_.sections[i];
      const std::string label = section_label(i);
      if (s.name != o.name || s.type != o.type || s.flags != o.flags || s.link != o.link || s.info != o.info ||
          s.addralign != o.addralign || s.entsize != o.entsize) {
        add(Kind::Bytes, label, "its section header changed in a field no rewrite changes");
        continue;
      }
      if (s.type == SHT_NULL || s.type == SHT_NOBITS || s.size == 0) continue;
      const bool moved = o.offset != s.offset;
      if (moved) allowed_.push_back({s.offset, s.offset + s.size});  // the old place may be cleared
      if (is_dynamic_array(s)) continue;  // entry by entry, below
      if (is_dynstr(s)) {
        // Copied or extended, never rewritten: existing offsets stay valid.
        if (o.size < s.size || !same(s.offset, o.offset, s.size))
          add(Kind::Bytes, label, fmt::format("the {:#x} bytes of the dynamic string table are not kept at the start of "
                                              "its new place ({:#x}, {:#x} bytes)",
                                              s.size, o.offset, o.size));
        continue;
      }
      if (is_interp_section(s) && e_.interpreter) {
        allowed_.push_back({s.offset, s.offset + s.size});
        check_interp_slot(label, o);
        continue;
      }
      if ((s.type == SHT_SYMTAB || s.type == SHT_DYNSYM) && s.entsize == sizeof(elf::Sym<E>)) {
        allowed_.push_back({s.offset, s.offset + s.size});
        if (s.size != o.size) add(Kind::Bytes, label, fmt::format("size {:#x} became {:#x}", s.size, o.size));
        else if (s.type == SHT_SYMTAB) check_symbol_table(label, s.offset, o.offset, s.size / sizeof(elf::Sym<E>), {});
        continue;  // .dynsym: with the dynamic symbols, below
      }
      if (s.type == SHT_GNU_verneed && dyn(in_, DT_VERNEED) == s.addr) {
        allowed_.push_back({s.offset, s.offset + s.size});  // field by field, below
        if (s.size != o.size || s.offset != o.offset) add(Kind::Bytes, label, "moved or resized");
        continue;
      }
      if (s.type == SHT_GNU_versym && !e_.clear_symbol_version.empty()) {
        allowed_.push_back({s.offset, s.offset + s.size});
        check_versym(label, s, o);
        continue;
      }
      if (s.size != o.size)
        add(Kind::Bytes, label, fmt::format("size {:#x} became {:#x}, which no edit changes", s.size, o.size));
      else if (!same(s.offset, o.offset, s.size))
        add(Kind::Bytes, label,
            moved ? fmt::format("moved from {:#x} to {:#x}, but its bytes are not the same there", s.offset, o.offset)
                  : fmt::format("its bytes at {:#x} changed, which no edit changes", s.offset));
    }
  }

  // The new interpreter, NUL-padded to the end of its slot.
  void check_interp_slot(const std::string& label, const elf::Section& o) {
    const std::string& want = *e_.interpreter;
    if (o.size < want.size() + 1 || o.offset > ob_.size() || o.size > ob_.size() - o.offset) {
      add(Kind::Bytes, label, fmt::format("{:#x} bytes cannot hold \"{}\"", o.size, want));
      return;
    }
    const std::byte* p = ob_.data() + o.offset;
    bool ok = std::memcmp(p, want.data(), want.size()) == 0 &&
              std::all_of(p + want.size(), p + o.size, [](std::byte c) { return c == std::byte{0}; });
    if (!ok) add(Kind::Bytes, label, fmt::format("does not hold \"{}\" padded with NULs", want));
  }

  // The input's symbols, field by field; a symbol's value follows its
  // section when that section moved.
  void check_symbol_table(const std::string& label, std::uint64_t in_off, std::uint64_t out_off, std::uint64_t count,
                          const std::function<std::string(std::uint64_t)>& name_of) {
    unsigned reported = 0;
    for (std::uint64_t k = 0; k < count && reported < 3; ++k) {
      const std::uint64_t a_at = in_off + k * sizeof(elf::Sym<E>), b_at = out_off + k * sizeof(elf::Sym<E>);
      if (b_at + sizeof(elf::Sym<E>) > ob_.size() || a_at + sizeof(elf::Sym<E>) > ib_.size()) {
        add(Kind::Bytes, label, fmt::format("symbol {} lies past the end of the file", k));
        return;
      }
      elf::Sym<E> a, b;
      std::memcpy(&a, ib_.data() + a_at, sizeof a);
      std::memcpy(&b, ob_.data() + b_at, sizeof b);
      std::uint64_t delta = 0;
      if (a.st_shndx != SHN_UNDEF && a.st_shndx < SHN_LORESERVE && a.st_shndx < in_.sections.size() &&
          in_.sections.size() == out_.sections.size())
        delta = out_.sections[a.st_shndx].addr - in_.sections[a.st_shndx].addr;
      const std::uint64_t want_value = static_cast<typename E::Native>(std::uint64_t{a.st_value} + delta);
      if (a.st_name != b.st_name || a.st_info != b.st_info || a.st_other != b.st_other || a.st_shndx != b.st_shndx ||
          a.st_size != b.st_size || b.st_value != want_value) {
        std::string name = name_of ? name_of(a.st_name) : std::string();
        add(Kind::Bytes, label,
            fmt::format("symbol {}{} changed (st_name {:#x} -> {:#x}, st_value {:#x} -> {:#x}, st_shndx {} -> {})", k,
                        name.empty() ? "" : fmt::format(" ({})", name), std::uint64_t{a.st_name},
                        std::uint64_t{b.st_name}, std::uint64_t{a.st_value}, std::uint64_t{b.st_value},
                        std::uint64_t{a.st_shndx}, std::uint64_t{b.st_shndx}));
        ++reported;
      }
    }
  }

  // .gnu.version: unchanged, except the entries of the symbols whose
  // version was cleared, which become 1 (global).
  void check_versym(const std::string& label, const elf::Section& s, const elf::Section& o) {
    auto syms = read_dynamic_symbols(in_, ib_);
    if (!syms) return;  // the input's own problem; the dynamic symbols are checked below
    if (s.size != o.size || s.offset != o.offset) {
      add(Kind::Bytes, label, "moved or resized");
      return;
    }
    for (std::uint64_t k = 0; k * 2 + 2 <= s.size; ++k) {
      typename E::Half a, b;
      std::memcpy(&a, ib_.data() + s.offset + 2 * k, 2);
      std::memcpy(&b, ob_.data() + o.offset + 2 * k, 2);
      std::optional<std::string> name;
      if (k < syms->size()) name = dynamic_string(in_, ib_, (*syms)[k].name);
      const bool cleared = name && std::find(e_.clear_symbol_version.begin(), e_.clear_symbol_version.end(), *name) !=
                                       e_.clear_symbol_version.end();
      if (std::uint16_t{b} != (cleared ? 1 : std::uint16_t{a})) {
        add(Kind::Bytes, label, fmt::format("entry {} ({}) is {}, expected {}", k, name.value_or("?"),
                                            std::uint16_t{b}, cleared ? 1 : std::uint16_t{a}));
        return;
      }
    }
  }

  // ---- 4. every changed byte has an owner that may change ---------------

  void check_changed_bytes() {
    if (in_.is_dynamic())
      allowed_.push_back({in_.dynamic_offset, in_.dynamic_offset + in_.dynamic_slots * sizeof(elf::Dyn<E>)});
    // The interpreter's slot where no .interp section says where it ends:
    // the string and the NULs after it, up to the next section, never the
    // rest of the segment.
    const bool interp_section = std::any_of(in_.sections.begin(), in_.sections.end(),
                                            [&](const elf::Section& s) { return is_interp_section(s); });
    if (const elf::Segment* p = interp_segment(); p && e_.interpreter && !interp_section && p->filesz) {
      std::uint64_t limit = p->offset + p->filesz;
      for (const elf::Section& s : in_.sections)
        if (s.type != SHT_NULL && s.type != SHT_NOBITS && s.size && s.offset > p->offset) limit = std::min(limit, s.offset);
      std::uint64_t end = p->offset + std::min<std::uint64_t>(limit - p->offset, in_.interpreter ? in_.interpreter->size() + 1 : 0);
      while (end < limit && ib_[end] == std::byte{0}) ++end;
      allowed_.push_back({p->offset, end});
    }
    std::sort(allowed_.begin(), allowed_.end(), [](const Range& a, const Range& b) { return a.from < b.from; });

    const std::uint64_t n = std::min<std::uint64_t>(ib_.size(), ob_.size());
    constexpr std::uint64_t kBlock = 4096;
    std::size_t next_allowed = 0;
    std::optional<Range> run;
    unsigned reported = 0;
    auto flush = [&] {
      if (run && reported++ < 4) report_run(*run);
      run.reset();
    };
    for (std::uint64_t block = 0; block < n; block += kBlock) {
      const std::uint64_t len = std::min(kBlock, n - block);
      if (std::memcmp(ib_.data() + block, ob_.data() + block, len) == 0) continue;
      for (std::uint64_t x = block; x < block + len; ++x) {
        if (ib_[x] == ob_[x]) continue;
        while (next_allowed < allowed_.size() && allowed_[next_allowed].to <= x) ++next_allowed;
        bool ok = false;
        for (std::size_t k = next_allowed; k < allowed_.size() && allowed_[k].from <= x; ++k)
          if (x < allowed_[k].to) ok = true;
        if (ok || !owned(x)) continue;
        if (run && run->to == x) run->to = x + 1;
        else {
          flush();
          run = Range{x, x + 1};
        }
      }
    }
    flush();
  }

  // Bytes inside a section or a segment's file image belong to something;
  // the rest (padding between segments, what lies past them) is free.
  bool owned(std::uint64_t x) const {
    for (const auto& s : in_.sections)
      if (s.type != SHT_NULL && s.type != SHT_NOBITS && x >= s.offset && x - s.offset < s.size) return true;
    for (const auto& s : in_.segments)
      if (x >= s.offset && x - s.offset < s.filesz) return true;
    return false;
  }

  void report_run(const Range& r) {
    std::vector<std::string> owners;
    for (std::size_t i = 0; i < in_.sections.size(); ++i) {
      const auto& s = in_.sections[i];
      if (s.type != SHT_NULL && s.type != SHT_NOBITS && s.offset < r.to && r.from < s.offset + s.size)
        owners.push_back(section_label(i));
    }
    if (owners.empty())
      for (const auto& s : in_.segments)
        if (s.type != PT_LOAD && s.offset < r.to && r.from < s.offset + s.filesz)
          owners.push_back(segment_label(s.type));
    if (owners.empty()) owners.push_back("PT_LOAD");
    add(Kind::Bytes, owners.front(),
        fmt::format("{} bytes at offset {:#x} changed, inside {}, which no edit changes", r.to - r.from, r.from,
                    fmt::join(owners, ", ")));
  }

  // ---- 5. tables, entry by entry ----------------------------------------

  // Every entry stays, in order and with its value, unless an edit asked:
  // string entries are the view's business; tables that moved carry their
  // new address; --no-default-lib and --add-debug-tag add or change one.
  void check_dynamic() {
    std::vector<elf::DynEntry> a, b;
    for (const auto& x : in_.dynamic)
      if (!elf::is_string_tag(x.tag)) a.push_back(x);
    for (const auto& x : out_.dynamic)
      if (!elf::is_string_tag(x.tag)) b.push_back(x);
    auto has = [](const std::vector<elf::DynEntry>& v, std::uint64_t tag) {
      return std::any_of(v.begin(), v.end(), [&](const elf::DynEntry& x) { return x.tag == tag; });
    };
    auto take_added = [&](std::uint64_t tag, bool asked, std::uint64_t want) {
      if (!asked || has(a, tag)) return;
      auto it = std::find_if(b.begin(), b.end(), [&](const elf::DynEntry& x) { return x.tag == tag; });
      if (it == b.end()) return;  // missing: reported as a view of what was asked, below
      if (it->value != want)
        add(Kind::DynamicEntry, tag_label(tag), fmt::format("added with value {:#x}, expected {:#x}", it->value, want));
      b.erase(it);
    };
    take_added(DT_FLAGS_1, e_.no_default_lib, DF_1_NODEFLIB);
    take_added(DT_DEBUG, e_.add_debug_tag, 0);
    if (e_.no_default_lib && !has(out_.dynamic, DT_FLAGS_1))
      add(Kind::DynamicEntry, "DT_FLAGS_1", "missing, but --no-default-lib asks for DF_1_NODEFLIB");
    if (e_.add_debug_tag && !has(out_.dynamic, DT_DEBUG))
      add(Kind::DynamicEntry, "DT_DEBUG", "missing, but --add-debug-tag asks for one");

    unsigned reported = 0;
    std::size_t i = 0, j = 0;
    for (; i < a.size() && j < b.size() && reported < 4; ++i, ++j) {
      if (a[i].tag != b[j].tag) {
        add(Kind::DynamicEntry, tag_label(a[i].tag),
            fmt::format("entry {} became {}, which no edit asked for", i, tag_label(b[j].tag)));
        ++reported;
        break;  // the rest is shifted: one report says it
      }
      if (!value_ok(a[i], b[j])) {
        add(Kind::DynamicEntry, tag_label(a[i].tag),
            fmt::format("value {:#x} became {:#x}, which no edit asked for", a[i].value, b[j].value));
        ++reported;
      }
    }
    if (reported == 0 && i < a.size())
      add(Kind::DynamicEntry, tag_label(a[i].tag), fmt::format("and {} entries after it are gone", a.size() - i - 1));
    else if (reported == 0 && j < b.size())
      add(Kind::DynamicEntry, tag_label(b[j].tag), "added, which no edit asked for");
  }

  bool value_ok(const elf::DynEntry& a, const elf::DynEntry& b) const {
    if (a.value == b.value) return true;
    switch (a.tag) {
      case DT_STRTAB:  // a copy that starts with the old table (checked here, with or without sections)
      case DT_STRSZ:
        return out_.dynstr_size >= in_.dynstr_size && same(in_.dynstr_offset, out_.dynstr_offset, in_.dynstr_size);
      case DT_SYMTAB:
      case DT_HASH:
      case DT_GNU_HASH:
        // Moved with its section (to make room for the program headers).
        for (std::size_t k = 0; k < in_.sections.size() && in_.sections.size() == out_.sections.size(); ++k)
          if (in_.sections[k].addr == a.value && in_.sections[k].size && out_.sections[k].addr == b.value) return true;
        return false;
      case DT_FLAGS_1:
        return e_.no_default_lib && b.value == (a.value | DF_1_NODEFLIB);
      default:
        // MIPS: relative to the entry's own address, which moves with the array.
        return a.tag == 0x70000035 && in_.header.machine == EM_MIPS;
    }
  }

  // A table read from both sides, when both read and hold as many entries.
  // An input that does not read is its own problem: nothing the rewrite can
  // be blamed for. An output that does not read, or holds another count, is
  // reported as `what`.
  template <typename T>
  std::optional<std::pair<T, T>> read_both(Expected<T> a, Expected<T> b, const char* what, Kind count_kind,
                                           const char* entries) {
    if (!a) return std::nullopt;
    if (!b) {
      add(Kind::Unreadable, what, b.error().message);
      return std::nullopt;
    }
    if (a->size() != b->size()) {
      add(count_kind, what, fmt::format("{} {} became {}", a->size(), entries, b->size()));
      return std::nullopt;
    }
    return std::pair<T, T>{std::move(*a), std::move(*b)};
  }

  void check_symbols() {
    auto both = read_both(read_dynamic_symbols(in_, ib_), read_dynamic_symbols(out_, ob_), "DT_SYMTAB", Kind::Bytes,
                          "dynamic symbols");
    if (!both) return;
    auto* a = &both->first;
    auto* b = &both->second;
    unsigned reported = 0;
    for (std::size_t k = 0; k < b->size() && reported < 3; ++k) {
      if (!dynamic_string(in_, ib_, (*a)[k].name)) continue;  // already outside in the input
      if (!dynamic_string(out_, ob_, (*b)[k].name)) {
        add(Kind::SymbolName, "DT_SYMTAB",
            fmt::format("symbol {}: st_name {:#x} is outside DT_STRTAB (DT_STRSZ {:#x})", k, (*b)[k].name,
                        out_.dynstr_size));
        ++reported;
      }
    }
    if (a->empty()) return;
    auto name_of = [&](std::uint64_t idx) { return dynamic_string(in_, ib_, idx).value_or(""); };
    check_symbol_table("DT_SYMTAB", (*a)[0].offset, (*b)[0].offset, a->size(), name_of);
  }

  void check_version_needs() {
    auto both = read_both(read_version_needs(in_, ib_), read_version_needs(out_, ob_), "DT_VERNEED",
                          Kind::VersionNeed, "entries");
    if (!both) return;
    auto* a = &both->first;
    auto* b = &both->second;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const VersionNeedEntry &x = (*a)[i], &y = (*b)[i];
      bool same_aux = x.aux.size() == y.aux.size();
      for (std::size_t k = 0; same_aux && k < x.aux.size(); ++k)
        same_aux = x.aux[k].hash == y.aux[k].hash && x.aux[k].flags == y.aux[k].flags &&
                   x.aux[k].other == y.aux[k].other &&
                   dynamic_string(in_, ib_, x.aux[k].name) == dynamic_string(out_, ob_, y.aux[k].name);
      if (x.version != y.version || !same_aux)
        add(Kind::VersionNeed, "DT_VERNEED",
            fmt::format("entry {} ({}) changed in a field other than vn_file", i,
                        dynamic_string(in_, ib_, x.file).value_or("?")));
      if (!dynamic_string(out_, ob_, y.file))
        add(Kind::VersionNeed, "DT_VERNEED",
            fmt::format("entry {}: vn_file {:#x} is outside DT_STRTAB (DT_STRSZ {:#x})", i, y.file, out_.dynstr_size));
    }
  }

  // Notes that parsed in the input still parse, and are the same notes.
  void check_notes() {
    auto compare = [&](const std::string& label, std::uint64_t a_off, std::uint64_t b_off, std::uint64_t a_size,
                       std::uint64_t b_size, std::uint64_t align) {
      auto a = read_notes(in_, ib_, a_off, a_size, align);
      if (!a) return;
      auto b = read_notes(out_, ob_, b_off, b_size, align);
      if (!b) add(Kind::Note, label, b.error().message);
      else if (*a != *b) add(Kind::Note, label, fmt::format("the notes at {:#x} are not the input's notes", b_off));
    };
    std::vector<const elf::Segment*> a, b;
    for (const auto& s : in_.segments)
      if (s.type == PT_NOTE) a.push_back(&s);
    for (const auto& s : out_.segments)
      if (s.type == PT_NOTE) b.push_back(&s);
    for (std::size_t k = 0; k < a.size() && k < b.size(); ++k)
      compare("PT_NOTE", a[k]->offset, b[k]->offset, a[k]->filesz, b[k]->filesz, a[k]->align);
    if (in_.sections.size() != out_.sections.size()) return;
    for (std::size_t i = 0; i < in_.sections.size(); ++i)
      if (in_.sections[i].type == SHT_NOTE)
        compare(section_label(i), in_.sections[i].offset, out_.sections[i].offset, in_.sections[i].size,
                out_.sections[i].size, in_.sections[i].addralign);
  }
};

}  // namespace

std::vector<Discrepancy> verify_rewrite(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                        std::span<const std::byte> out_bytes, const EditSet& edits) {
  std::vector<Discrepancy> d;
  auto out = elf::read_elf(out_bytes, in.path + " (output)");
  if (!out) {
    d.push_back({Kind::Unreadable, "output", out.error().message});
    return d;
  }
  if (out->header.variant != in.header.variant) {
    d.push_back({Kind::Bytes, "ELF header", "the output is another ELF variant"});
    return d;
  }
  auto before = read_dynamic_view(in, in_bytes);
  auto after = read_dynamic_view(*out, out_bytes);
  if (!after) d.push_back({Kind::Unreadable, "dynamic view", after.error().message});
  else if (before) check_view(d, *before, *after, edits);
  elf::dispatch(in.header.variant,
                [&](auto e) { Verifier<decltype(e)>(in, in_bytes, *out, out_bytes, edits, d).run(); });
  return d;
}

std::vector<Discrepancy> compare_views(const DynamicView& ours, const DynamicView& theirs, std::string_view who) {
  std::vector<Discrepancy> d;
  auto differs = [&](std::string structure, const auto& a, const auto& b) {
    if (a != b)
      d.push_back({Kind::View, std::move(structure), fmt::format("{} reads {}, libpatch reads {}", who, show(b), show(a))});
  };
  differs("PT_INTERP", ours.interpreter, theirs.interpreter);
  differs("DT_RUNPATH", ours.runpath, theirs.runpath);
  differs("DT_RPATH", ours.rpath, theirs.rpath);
  differs("DT_SONAME", ours.soname, theirs.soname);
  differs("DT_NEEDED", ours.needed, theirs.needed);
  differs("DT_VERNEED", ours.version_needs, theirs.version_needs);
  return d;
}

std::vector<std::string> removed_but_versioned(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                               const EditSet& edits) {
  std::vector<std::string> out;
  if (edits.remove_needed.empty()) return out;
  auto view = read_dynamic_view(in, in_bytes);
  if (!view) return out;  // the planner has refused such a file already
  for (const VersionNeed& n : view->version_needs)
    if (std::find(edits.remove_needed.begin(), edits.remove_needed.end(), n.file) != edits.remove_needed.end() &&
        std::find(out.begin(), out.end(), n.file) == out.end())
      out.push_back(n.file);
  return out;
}

}  // namespace xpatch::rewrite
