#include "libpatch/rewrite/structure_map.h"

#include <fmt/format.h>

#include <algorithm>

#include "libpatch/rewrite/tables.h"

namespace xpatch::rewrite {
namespace {

[[noreturn]] void malformed(const elf::ElfFile& f, std::string_view structure, const std::string& why) {
  throw ErrorException{{Error::Kind::Malformed, fmt::format("{}: {}: {}", f.path, structure, why)}};
}

}  // namespace

StructureMap::StructureMap(const elf::ElfFile& f, std::span<const std::byte> bytes, Sizes z) : f_(f) {
  const elf::Header& h = f.header;
  // The reader bounds-checked every range below against the file size, so
  // none of these sums wraps.
  sh_size_ = (h.shoff ? std::max<std::uint64_t>(h.shnum, 1) : h.shnum) * z.shdr;
  const std::uint64_t ph_size = std::uint64_t{h.phnum} * z.phdr;

  // The ELF header and the two tables lie apart: a rewrite updates program
  // headers and section headers, and a write to one would silently change
  // the other.
  if (ph_size && h.phoff < z.ehdr)
    malformed(f, "program header table",
              fmt::format("e_phoff {:#x} lies inside the ELF header ({:#x} bytes)", h.phoff, z.ehdr));
  if (sh_size_ && h.shoff < z.ehdr)
    malformed(f, "section header table",
              fmt::format("e_shoff {:#x} lies inside the ELF header ({:#x} bytes)", h.shoff, z.ehdr));
  if (ph_size && sh_size_ && h.shoff < h.phoff + ph_size && h.phoff < h.shoff + sh_size_)
    malformed(f, "section header table",
              fmt::format("e_shoff {:#x} ({} entries) overlaps the program header table at {:#x} ({} entries)",
                          h.shoff, sh_size_ / z.shdr, h.phoff, h.phnum));

  auto add = [&](std::uint64_t begin, std::uint64_t size, StructureKind kind, std::uint32_t index = 0,
                 std::uint32_t type = 0) {
    if (size) items_.push_back({begin, begin + size, kind, index, type});
  };
  add(0, std::min<std::uint64_t>(z.ehdr, f.file_size), StructureKind::ElfHeader);
  add(h.phoff, ph_size, StructureKind::ProgramHeaders);
  add(h.shoff, sh_size_, StructureKind::SectionHeaders);
  for (std::uint32_t i = 0; i < f.segments.size(); ++i)
    add(f.segments[i].offset, f.segments[i].filesz, StructureKind::Segment, i, f.segments[i].type);
  for (std::uint32_t i = 0; i < f.sections.size(); ++i) {
    const elf::Section& s = f.sections[i];
    if (s.type != SHT_NULL && s.type != SHT_NOBITS) add(s.offset, s.size, StructureKind::Section, i, s.type);
  }
  add(f.dynamic_offset, f.dynamic_slots * z.dyn, StructureKind::DynamicArray);  // even an empty array
  add(f.dynstr_offset, f.dynstr_size, StructureKind::DynamicStrings);
  if (h.shstrndx != SHN_UNDEF && h.shstrndx < f.sections.size() && f.sections[h.shstrndx].type != SHT_NOBITS)
    add(f.sections[h.shstrndx].offset, f.sections[h.shstrndx].size, StructureKind::SectionNames, h.shstrndx,
        f.sections[h.shstrndx].type);

  // The tables the dynamic array points at, bounded the way the loader
  // reads them.
  auto tables = dynamic_tables(f, bytes);
  if (!tables.ok()) throw ErrorException{tables.error()};
  // Section headers only cross-check those bounds: a stripped file has
  // none, and one whose section says less than the loader reads (or
  // another symbol count) is refused rather than half moved.
  for (std::uint32_t i = 0; i < f.sections.size(); ++i) {
    const elf::Section& s = f.sections[i];
    const TableRange* t = s.type == SHT_DYNSYM    ? &tables->symbols
                          : s.type == SHT_HASH     ? &tables->hash
                          : s.type == SHT_GNU_HASH ? &tables->gnu_hash
                                                   : nullptr;
    // A hash table's section may hold padding after the table; one too
    // short for it, or a .dynsym of another count, contradicts the loader.
    // A section at the table's address but another offset would have the
    // planner rewrite (rebase) entries at the wrong bytes.
    if (auto at = t && t->size ? f.vaddr_to_offset(s.addr, 1) : std::nullopt;
        at && *at == t->offset && s.offset != t->offset)
      malformed(f, fmt::format("section header {} ({})", i, s.name),
                fmt::format("sh_offset {:#x} contradicts its sh_addr {:#x}, which the dynamic array's table is at "
                            "(file offset {:#x})",
                            s.offset, s.addr, t->offset));
    // Symbols are rebased in DT_SYMTAB's table and in each symbol table a
    // section header gives; two of them over the same bytes from different
    // starts would each rewrite the other's fields.
    if ((s.type == SHT_DYNSYM || s.type == SHT_SYMTAB) && tables->symbols.size && s.size &&
        s.offset != tables->symbols.offset && s.offset < tables->symbols.offset + tables->symbols.size &&
        tables->symbols.offset < s.offset + s.size)
      malformed(f, fmt::format("section header {} ({})", i, s.name),
                fmt::format("the symbol table at sh_offset {:#x} ({:#x} bytes) overlaps DT_SYMTAB's at offset {:#x} "
                            "from another start",
                            s.offset, s.size, tables->symbols.offset));
    if (t && t->size && s.offset == t->offset && (s.type == SHT_DYNSYM ? s.size != t->size : s.size < t->size))
      malformed(f, fmt::format("section header {} ({})", i, s.name),
                fmt::format("sh_size {:#x} contradicts the dynamic array's {} ({:#x} bytes at offset {:#x})", s.size,
                            s.type == SHT_DYNSYM ? (tables->hash.size ? "DT_SYMTAB, counted by DT_HASH's nchain"
                                                                      : "DT_SYMTAB, counted by DT_GNU_HASH's chains")
                            : s.type == SHT_HASH ? "DT_HASH"
                                                 : "DT_GNU_HASH",
                            t->size, t->offset));
  }
  // The loader reads these tables where the dynamic array says; one over
  // the ELF header or the program header table (which a rewrite updates)
  // would change under the loader's feet: a contradiction, refused.
  auto clear_of_headers = [&](const TableRange& t, std::string_view what) {
    if (!t.size) return;
    auto over = [&](std::uint64_t b, std::uint64_t n) { return n && t.offset < b + n && b < t.offset + t.size; };
    if (over(0, z.ehdr) || over(h.phoff, ph_size))
      malformed(f, what,
                fmt::format("the table at offset {:#x} ({:#x} bytes) overlaps the {} at {:#x}", t.offset, t.size,
                            over(0, z.ehdr) ? "ELF header" : "program header table", over(0, z.ehdr) ? 0 : h.phoff));
  };
  clear_of_headers(tables->symbols, "DT_SYMTAB");
  clear_of_headers(tables->hash, "DT_HASH");
  clear_of_headers(tables->gnu_hash, "DT_GNU_HASH");
  clear_of_headers(tables->versym, "DT_VERSYM");
  for (const TableRange& t : tables->version_needs) clear_of_headers(t, "DT_VERNEED");
  for (const TableRange& t : tables->version_defs) clear_of_headers(t, "DT_VERDEF");
  // The dynamic array itself, its DT_NULL included (the loader reads it and
  // writes DT_DEBUG into it): a new program header would rewrite its entries.
  if (f.find_segment(PT_DYNAMIC))
    clear_of_headers({f.dynamic_offset, std::max<std::uint64_t>(f.dynamic_slots, 1) * z.dyn}, "PT_DYNAMIC");
  add(tables->symbols.offset, tables->symbols.size, StructureKind::DynamicSymbols);
  add(tables->hash.offset, tables->hash.size, StructureKind::SymbolHash);
  add(tables->gnu_hash.offset, tables->gnu_hash.size, StructureKind::GnuHash);
  add(tables->versym.offset, tables->versym.size, StructureKind::VersionSymbols);
  for (std::uint32_t i = 0; i < tables->version_needs.size(); ++i)
    add(tables->version_needs[i].offset, tables->version_needs[i].size, StructureKind::VersionNeeds, i);
  for (std::uint32_t i = 0; i < tables->version_defs.size(); ++i)
    add(tables->version_defs[i].offset, tables->version_defs[i].size, StructureKind::VersionDefs, i);
  for (const TableRange& n : tables->notes) {
    std::uint32_t seg = 0;  // the PT_NOTE that holds it
    for (std::uint32_t i = 0; i < f.segments.size(); ++i)
      if (f.segments[i].type == PT_NOTE && n.offset >= f.segments[i].offset &&
          n.offset - f.segments[i].offset < f.segments[i].filesz)
        seg = i;
    add(n.offset, n.size, StructureKind::Note, seg, PT_NOTE);
  }
  std::stable_sort(items_.begin(), items_.end(), [](const Structure& a, const Structure& b) { return a.begin < b.begin; });
}

std::vector<const Structure*> StructureMap::owners(std::uint64_t a, std::uint64_t b) const {
  std::vector<const Structure*> r;
  for (const Structure& s : items_) {
    if (s.begin >= b) break;
    if (a < s.end && s.begin < b) r.push_back(&s);
  }
  return r;
}

const Structure* StructureMap::find(StructureKind kind, std::uint64_t a, std::uint64_t b) const {
  for (const Structure& s : items_) {
    if (s.begin >= b) break;
    if (s.kind == kind && a < s.end && s.begin < b) return &s;
  }
  return nullptr;
}

const Structure* StructureMap::find_any(std::uint64_t a, std::uint64_t b) const {
  for (const Structure& s : items_) {
    if (s.begin >= b) break;
    if (a < s.end) return &s;
  }
  return nullptr;
}

bool StructureMap::is_table(StructureKind k) noexcept {
  switch (k) {
    case StructureKind::DynamicSymbols:
    case StructureKind::SymbolHash:
    case StructureKind::GnuHash:
    case StructureKind::VersionSymbols:
    case StructureKind::VersionNeeds:
    case StructureKind::VersionDefs:
    case StructureKind::Note: return true;
    default: return false;
  }
}

bool StructureMap::never_written(StructureKind k) noexcept {
  return k == StructureKind::SectionNames || k == StructureKind::VersionSymbols || k == StructureKind::VersionDefs;
}

std::string StructureMap::label(const Structure& s) const {
  switch (s.kind) {
    case StructureKind::ElfHeader: return "the ELF header";
    case StructureKind::ProgramHeaders: return "the program header table";
    case StructureKind::SectionHeaders: return "the section header table";
    case StructureKind::Segment: return fmt::format("program header {} (type {:#x})", s.index, s.type);
    case StructureKind::Section:
      return fmt::format("section header {} ({})", s.index, s.index < f_.sections.size() ? f_.sections[s.index].name : "");
    case StructureKind::DynamicArray: return "the dynamic array";
    case StructureKind::DynamicSymbols: return "the dynamic symbol table (DT_SYMTAB)";
    case StructureKind::SymbolHash: return "the symbol hash table (DT_HASH)";
    case StructureKind::GnuHash: return "the GNU symbol hash table (DT_GNU_HASH)";
    case StructureKind::VersionSymbols: return "the symbol versions (DT_VERSYM)";
    case StructureKind::VersionNeeds: return fmt::format("version need entry {} (DT_VERNEED)", s.index);
    case StructureKind::VersionDefs: return fmt::format("version definition entry {} (DT_VERDEF)", s.index);
    case StructureKind::Note: return fmt::format("a note of program header {} (PT_NOTE)", s.index);
    case StructureKind::SectionNames:
      return fmt::format("section header {} (the section names)", s.index);
    case StructureKind::DynamicStrings: break;
  }
  return "the dynamic string table";
}

}  // namespace xpatch::rewrite
