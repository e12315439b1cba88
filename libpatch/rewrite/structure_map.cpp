#include "libpatch/rewrite/structure_map.h"

#include <fmt/format.h>

#include <algorithm>

namespace xpatch::rewrite {
namespace {

[[noreturn]] void malformed(const elf::ElfFile& f, std::string_view structure, const std::string& why) {
  throw ErrorException{{Error::Kind::Malformed, fmt::format("{}: {}: {}", f.path, structure, why)}};
}

}  // namespace

StructureMap::StructureMap(const elf::ElfFile& f, Sizes z) : f_(f) {
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

std::string StructureMap::label(const Structure& s) const {
  switch (s.kind) {
    case StructureKind::ElfHeader: return "the ELF header";
    case StructureKind::ProgramHeaders: return "the program header table";
    case StructureKind::SectionHeaders: return "the section header table";
    case StructureKind::Segment: return fmt::format("program header {} (type {:#x})", s.index, s.type);
    case StructureKind::Section:
      return fmt::format("section header {} ({})", s.index, s.index < f_.sections.size() ? f_.sections[s.index].name : "");
    case StructureKind::DynamicArray: return "the dynamic array";
    case StructureKind::DynamicStrings: break;
  }
  return "the dynamic string table";
}

}  // namespace xpatch::rewrite
