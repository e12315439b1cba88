// The plain model of an ELF file that everything above the reader works on.
// All integers are native and 64-bit wide, whatever the file's variant; the
// file offsets of the structures are kept so a writer can find them again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/elf/format.h"
#include "libpatch/elf/mapped_file.h"

namespace xpatch::elf {

struct Header {
  Variant variant{};
  unsigned elf_class = 0;  // 32 or 64
  bool big_endian = false;
  std::uint8_t osabi = 0, abiversion = 0;
  std::uint8_t ident_version = 0;  // EI_VERSION
  bool ident_padding = false;      // a nonzero byte in e_ident[EI_PAD..] (glibc refuses it)
  std::uint16_t type = 0, machine = 0;
  std::uint32_t version = 0, flags = 0;
  std::uint64_t entry = 0, phoff = 0, shoff = 0;
  std::uint16_t ehsize = 0, phentsize = 0, shentsize = 0;
  // Real counts: PN_XNUM and SHN_UNDEF/SHN_XINDEX escapes already resolved.
  std::uint32_t phnum = 0, shnum = 0, shstrndx = 0;
};

struct Segment {
  std::uint32_t type = 0, flags = 0;
  std::uint64_t offset = 0, vaddr = 0, paddr = 0, filesz = 0, memsz = 0, align = 0;
};

struct Section {
  std::string name;
  std::uint32_t type = 0, link = 0, info = 0;
  std::uint64_t flags = 0, addr = 0, offset = 0, size = 0, addralign = 0, entsize = 0;
};

struct DynEntry {
  std::uint64_t tag = 0, value = 0;
};

struct ElfFile {
  std::string path;
  std::uint64_t file_size = 0;
  Header header;
  std::vector<Segment> segments;
  std::vector<Section> sections;

  // The dynamic array, up to and excluding the first DT_NULL.
  std::vector<DynEntry> dynamic;
  std::uint64_t dynamic_offset = 0;  // file offset of PT_DYNAMIC's array
  // Entries a rewrite may use in place: the array, its DT_NULL terminator
  // and the run of DT_NULL entries right after it (never more than fits in
  // PT_DYNAMIC; whatever follows the run is not ours to overwrite).
  std::uint64_t dynamic_slots = 0;

  // DT_STRTAB, resolved through PT_LOAD to a file range.
  std::uint64_t dynstr_vaddr = 0, dynstr_offset = 0, dynstr_size = 0;

  std::optional<std::string> interpreter, runpath, rpath, soname;
  // DT_NEEDED names, in order: views into `strings` (one copy of the part of
  // DT_STRTAB they cover, shared by copies of this ElfFile), so repeated
  // entries naming the same bytes cost nothing more. Whoever builds an
  // ElfFile by hand keeps the viewed characters alive.
  std::vector<std::string_view> needed;
  std::shared_ptr<const std::string> strings;
  std::uint64_t dt_flags = 0, dt_flags_1 = 0;

  bool is_dynamic() const noexcept { return !dynamic.empty(); }
  bool is_pie() const noexcept;
  const Segment* find_segment(std::uint32_t type) const noexcept;
  // The file offset holding [vaddr, vaddr+size) of some PT_LOAD's file image.
  std::optional<std::uint64_t> vaddr_to_offset(std::uint64_t vaddr, std::uint64_t size) const noexcept;
};

// The dynamic entries whose value is an offset into DT_STRTAB, the ones a
// loader's search depends on, and their names for messages.
constexpr bool is_string_tag(std::uint64_t tag) noexcept {
  return tag == DT_NEEDED || tag == DT_RPATH || tag == DT_RUNPATH || tag == DT_SONAME;
}
constexpr const char* string_tag_label(std::uint64_t tag) noexcept {
  switch (tag) {
    case DT_NEEDED: return "DT_NEEDED";
    case DT_RPATH: return "DT_RPATH";
    case DT_RUNPATH: return "DT_RUNPATH";
    case DT_SONAME: return "DT_SONAME";
    default: return "dynamic entry";
  }
}

struct ReadOptions {
  // Parse each section header (and its name). Without it only the section
  // header table's bounds are checked and `sections` stays empty: reports
  // that never use sections skip touching those pages.
  bool sections = true;
};

// Parses `bytes` (usually a MappedFile) and validates every offset, size and
// count against the buffer before use. `name` is used in error messages.
Expected<ElfFile> read_elf(std::span<const std::byte> bytes, const std::string& name, ReadOptions opt = {});

// Opens, maps and parses a file. Kind::NotElf when the magic is missing.
Expected<ElfFile> read_elf_file(const std::string& path, ReadOptions opt = {});

// Parses an already open file; takes ownership of `fd` (closed on return).
// `name` is used in messages.
Expected<ElfFile> read_elf_fd(int fd, const std::string& name, ReadOptions opt = {});
// Parses a file opened (and confirmed regular) by the caller; it stays open.
Expected<ElfFile> read_elf_open(const OpenFile& f, const std::string& name, ReadOptions opt = {});

// Parses through a window the caller keeps (elf/bytes.h), so the bytes read
// for the headers serve the caller's own reads after it.
class Bytes;
Expected<ElfFile> read_elf_from(const Bytes& in, ReadOptions opt = {});

}  // namespace xpatch::elf
