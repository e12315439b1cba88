// The dynamic tables that refer to what a rewrite changes, read the way the
// loader reaches them (through the dynamic array, not section headers) and
// bounds-checked: the dynamic symbols, the version requirements, the notes.
// The verifier compares them between input and output; the in-place header
// edits find their entries with them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/elf/model.h"

namespace xpatch::rewrite {

struct DynSymbol {
  std::uint64_t offset = 0;  // file offset of the entry
  std::uint64_t name = 0, value = 0, size = 0;
  std::uint8_t info = 0, other = 0;
  std::uint16_t shndx = 0;
};

// DT_SYMTAB's entries. The count comes from the SHT_DYNSYM section at that
// address, else DT_HASH's nchain, else the chains of DT_GNU_HASH. Empty when
// there is no DT_SYMTAB.
Expected<std::vector<DynSymbol>> read_dynamic_symbols(const elf::ElfFile& f, std::span<const std::byte> bytes);

struct VersionNeedAux {
  std::uint32_t hash = 0;
  std::uint16_t flags = 0, other = 0;
  std::uint64_t name = 0;  // DT_STRTAB offset
};
struct VersionNeedEntry {
  std::uint64_t offset = 0;  // file offset of the Verneed entry
  std::uint16_t version = 0;
  std::uint64_t file = 0;  // DT_STRTAB offset: the library (a DT_NEEDED) the versions come from
  std::vector<VersionNeedAux> aux;
  std::vector<std::uint64_t> aux_offsets;  // file offset of each auxiliary entry
};

// DT_VERNEED's DT_VERNEEDNUM entries, with their auxiliary entries. Empty
// when there is no DT_VERNEED.
Expected<std::vector<VersionNeedEntry>> read_version_needs(const elf::ElfFile& f, std::span<const std::byte> bytes);

// Where the tables the dynamic array points at lie in the file, as the
// loader reaches them (what the structure map records). A size of 0: the
// file has no such table.
struct TableRange {
  std::uint64_t offset = 0, size = 0;
};
struct DynamicTables {
  TableRange symbols;   // DT_SYMTAB: as many entries as read_dynamic_symbols reads
  TableRange hash;      // DT_HASH: nbucket, nchain, buckets, chains
  TableRange gnu_hash;  // DT_GNU_HASH: header, bloom filter, buckets, chains to the last symbol
  TableRange versym;    // DT_VERSYM: one half-word per symbol
  std::vector<TableRange> version_needs;  // each DT_VERNEED entry and each of its auxiliary entries
  std::vector<TableRange> version_defs;   // each DT_VERDEF entry and each of its auxiliary entries
  std::vector<TableRange> notes;          // each note of each PT_NOTE, with its padding
};
Expected<DynamicTables> dynamic_tables(const elf::ElfFile& f, std::span<const std::byte> bytes);

struct Note {
  std::uint32_t type = 0;
  std::string name;
  std::vector<std::byte> desc;
  bool operator==(const Note&) const = default;
};

// The notes that tile [offset, offset + size), each padded to `align` (4,
// or 8 for 8-byte-aligned note segments). Malformed when they do not tile it.
Expected<std::vector<Note>> read_notes(const elf::ElfFile& f, std::span<const std::byte> bytes, std::uint64_t offset,
                                       std::uint64_t size, std::uint64_t align);

// A NUL-terminated string at DT_STRTAB offset `index`, or nothing when it
// lies outside DT_STRSZ or has no NUL inside it.
std::optional<std::string> dynamic_string(const elf::ElfFile& f, std::span<const std::byte> bytes, std::uint64_t index);

}  // namespace xpatch::rewrite
