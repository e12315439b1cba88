// Every structure of an ELF file by its byte range, built once per file,
// so each rewrite decision asks one map "what owns [a, b)?" instead of
// repeating its own overlap checks. Building it rejects the contradictions
// no layout can honour (header tables over each other or over the ELF
// header, dynamic tables that cannot be bounded). The dynamic tables are
// found the way the loader finds them, through the dynamic array, so a
// file without section headers has them too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libpatch/elf/model.h"

namespace xpatch::rewrite {

enum class StructureKind {
  ElfHeader,
  ProgramHeaders,  // the table at e_phoff
  SectionHeaders,  // the table at e_shoff, section header 0 included
  Segment,         // a program header's file image (index = its entry)
  Section,         // a section's file bytes (index = its header)
  DynamicArray,    // PT_DYNAMIC's entries and the spare DT_NULL slots a rewrite may use
  DynamicStrings,  // DT_STRTAB
  DynamicSymbols,  // DT_SYMTAB's entries: as many as .dynsym has; without section headers, as many as
                   // DT_HASH's nchain, or DT_GNU_HASH's hashed symbols (undefined ones may follow)
  SymbolHash,      // DT_HASH
  GnuHash,         // DT_GNU_HASH
  VersionSymbols,  // DT_VERSYM
  VersionNeeds,    // one DT_VERNEED entry or auxiliary entry (index = its place in the walk)
  VersionDefs,     // one DT_VERDEF entry or auxiliary entry (index = its place in the walk)
  Note,            // one note of a PT_NOTE (index = the program header)
  SectionNames,    // the section name table (e_shstrndx; index = the section)
};

struct Structure {
  std::uint64_t begin = 0, end = 0;  // file offsets, [begin, end), never empty
  StructureKind kind{};
  std::uint32_t index = 0;  // program or section header index, where there is one
  std::uint32_t type = 0;   // p_type or sh_type, where there is one
};

class StructureMap {
 public:
  // On-disk sizes of the file variant's headers.
  struct Sizes {
    std::uint64_t ehdr = 0, phdr = 0, shdr = 0, dyn = 0;
  };

  // Throws ErrorException (Malformed) on contradictions between the ELF
  // header and the two header tables, and on dynamic tables (symbols,
  // hashes, versions) that cannot be bounded inside the file.
  StructureMap(const elf::ElfFile& f, std::span<const std::byte> bytes, Sizes sizes);

  const std::vector<Structure>& all() const noexcept { return items_; }

  // The structures with a byte in [a, b), in file order.
  std::vector<const Structure*> owners(std::uint64_t a, std::uint64_t b) const;

  // The first structure of `kind` with a byte in [a, b), or nullptr.
  const Structure* find(StructureKind kind, std::uint64_t a, std::uint64_t b) const;

  // Whether nothing owns [a, b): free bytes a segment may grow over.
  bool unowned(std::uint64_t a, std::uint64_t b) const { return find_any(a, b) == nullptr; }
  const Structure* find_any(std::uint64_t a, std::uint64_t b) const;

  // A table the dynamic array points at (symbols, hashes, versions) or a
  // note: like a section, but found without section headers.
  static bool is_table(StructureKind k) noexcept;
  // A structure no edit ever rewrites, moves or clears (the section names,
  // DT_VERSYM, DT_VERDEF): a planned write into one means that it overlaps
  // a structure that is rewritten, in a damaged file.
  static bool never_written(StructureKind k) noexcept;

  // The section header table's size in bytes: a nonzero e_shoff always has
  // section header 0 there, even with e_shnum 0 (it then holds the count).
  std::uint64_t section_header_table_size() const noexcept { return sh_size_; }

  // "section header 5 (.dynsym)", "program header 2 (PT_NOTE)", ... for messages.
  std::string label(const Structure& s) const;

 private:
  const elf::ElfFile& f_;
  std::vector<Structure> items_;  // sorted by begin
  std::uint64_t sh_size_ = 0;
};

}  // namespace xpatch::rewrite
