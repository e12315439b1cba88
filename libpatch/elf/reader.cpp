// The ELF reader: every integer from the file is checked, with overflow-safe
// arithmetic, before it becomes a pointer. A failed check throws
// ErrorException, which read_elf() turns into an Error value.

#include <fmt/format.h>

#include <algorithm>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <limits>
#include <type_traits>
#include <vector>

#include "libpatch/elf/bytes.h"
#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"

namespace xpatch::elf {
namespace {

// Linux's PATH_MAX: open() refuses a path of this many bytes or more.
constexpr std::uint64_t kPathMax = 4096;

template <typename E>
ElfFile parse(const Bytes& in, Variant variant, ReadOptions opt) {
  ElfFile f;
  f.path = in.name();
  f.file_size = in.size();
  const auto& eh = in.template at<Ehdr<E>>(0, "ELF header");

  Header& h = f.header;
  h.variant = variant;
  h.elf_class = E::is64 ? 64 : 32;
  h.big_endian = E::endian == std::endian::big;
  h.osabi = eh.e_ident[EI_OSABI];
  h.abiversion = eh.e_ident[EI_ABIVERSION];
  h.ident_version = eh.e_ident[EI_VERSION];
  for (std::size_t i = EI_PAD; i < EI_NIDENT; ++i) h.ident_padding |= eh.e_ident[i] != 0;
  h.type = eh.e_type;
  h.machine = eh.e_machine;
  h.version = eh.e_version;
  h.flags = eh.e_flags;
  h.entry = eh.e_entry;
  h.phoff = eh.e_phoff;
  h.shoff = eh.e_shoff;
  h.ehsize = eh.e_ehsize;
  h.phentsize = eh.e_phentsize;
  h.shentsize = eh.e_shentsize;
  h.phnum = eh.e_phnum;
  h.shnum = eh.e_shnum;
  h.shstrndx = eh.e_shstrndx;

  // Section header 0 carries the real counts when the header fields overflow
  // (PN_XNUM, SHN_UNDEF with a nonzero e_shoff, SHN_XINDEX). It is read
  // only then: it usually ends the file, and reading it would cost a
  // second read per file (the table's bounds are checked below).
  const Shdr<E>* sh0 = nullptr;
  if (h.shoff != 0 && h.shentsize != sizeof(Shdr<E>))
    fail(in.name(), "ELF header", fmt::format("e_shentsize is {}, expected {}", h.shentsize, sizeof(Shdr<E>)));
  if (h.shoff != 0 && (h.shnum == 0 || h.shstrndx == SHN_XINDEX || eh.e_phnum == PN_XNUM)) {
    in.require(h.shoff, 1, sizeof(Shdr<E>), [&] { return fmt::format("section header table (e_shoff {:#x})", h.shoff); });
    sh0 = &in.template at<Shdr<E>>(h.shoff, "section header table (e_shoff)");
    if (h.shnum == 0) {
      std::uint64_t n = sh0->sh_size;
      if (n > 0xffffffff) fail(in.name(), "section header 0", fmt::format("section count (sh_size) {:#x} is absurd", n));
      h.shnum = static_cast<std::uint32_t>(n);
    }
    if (h.shstrndx == SHN_XINDEX) h.shstrndx = sh0->sh_link;
  }
  if (eh.e_phnum == PN_XNUM) {
    if (!sh0)
      fail(in.name(), "ELF header", "e_phnum is PN_XNUM (65535) but there is no section header 0 to hold the count");
    // Only core files use the escape: the kernel (fs/binfmt_elf.c takes
    // e_phnum as it is, at most 64 KiB of headers), qemu-user and ld.so
    // never read sh_info, so such a program or library cannot load.
    if (h.type != ET_CORE)
      fail(in.name(), "ELF header",
           fmt::format("e_phnum is PN_XNUM (65535), the count ({}) in section header 0's sh_info: the kernel, "
                       "qemu-user and ld.so do not read it, so this file cannot be loaded",
                       std::uint32_t{sh0->sh_info}));
    h.phnum = sh0->sh_info;
  }

  // Program headers.
  if (h.phnum != 0) {
    if (h.phentsize != sizeof(Phdr<E>))
      fail(in.name(), "ELF header", fmt::format("e_phentsize is {}, expected {}", h.phentsize, sizeof(Phdr<E>)));
    in.require(h.phoff, h.phnum, sizeof(Phdr<E>),
               [&] { return fmt::format("program header table (e_phoff {:#x}, e_phnum {})", h.phoff, h.phnum); });
    f.segments.reserve(h.phnum);
    for (std::uint32_t i = 0; i < h.phnum; ++i) {
      const auto& p = in.template at<Phdr<E>>(h.phoff + std::uint64_t{i} * sizeof(Phdr<E>), "program header");
      Segment s{p.p_type, p.p_flags, p.p_offset, p.p_vaddr, p.p_paddr, p.p_filesz, p.p_memsz, p.p_align};
      // The gABI allows one of each; a loader would use the first and a
      // rewrite could not keep both consistent.
      if ((s.type == PT_INTERP || s.type == PT_DYNAMIC || s.type == PT_PHDR) && f.find_segment(s.type))
        fail(in.name(), fmt::format("program header {}", i),
             fmt::format("a second {}", s.type == PT_INTERP ? "PT_INTERP" : s.type == PT_DYNAMIC ? "PT_DYNAMIC" : "PT_PHDR"));
      if (s.filesz != 0)
        in.require(s.offset, 1, s.filesz, [&] {
          const std::string_view type = segment_type_name(s.type);
          return fmt::format("program header {} ({}, p_offset {:#x}, p_filesz {:#x})", i,
                             type.empty() ? fmt::format("p_type {:#x}", s.type) : fmt::format("PT_{}", type), s.offset,
                             s.filesz);
        });
      f.segments.push_back(s);
    }
    // PT_LOAD segments come in ascending p_vaddr and do not overlap (gABI).
    // Loaders size the whole mapping from the first and the last one and map
    // each in turn: out of order or overlapping, one would cover another.
    // Only for what a loader maps as a dynamic object (PT_DYNAMIC or
    // PT_INTERP), which is also all a rewrite touches: a kernel image
    // (vmlinux) puts its per-CPU segment at p_vaddr 0, after the others.
    // An empty PT_LOAD (no file or memory size) covers no address.
    const bool dynamic = f.find_segment(PT_DYNAMIC) || f.find_segment(PT_INTERP);
    const Segment* prev = nullptr;
    for (std::uint32_t i = 0; dynamic && i < f.segments.size(); ++i) {
      const Segment& s = f.segments[i];
      if (s.type != PT_LOAD || (s.filesz == 0 && s.memsz == 0)) continue;  // an empty one covers no address
      if (s.memsz > std::numeric_limits<std::uint64_t>::max() - s.vaddr ||
          (!E::is64 && s.vaddr + s.memsz > 0x100000000))
        fail(in.name(), fmt::format("program header {}", i),
             fmt::format("PT_LOAD p_vaddr {:#x} + p_memsz {:#x} wraps around the address space", s.vaddr, s.memsz));
      if (prev && s.vaddr < prev->vaddr + prev->memsz)
        fail(in.name(), fmt::format("program header {}", i),
             fmt::format("PT_LOAD at p_vaddr {:#x} {} the previous PT_LOAD ({:#x}..{:#x})", s.vaddr,
                         s.vaddr < prev->vaddr ? "comes before" : "overlaps", prev->vaddr, prev->vaddr + prev->memsz));
      prev = &s;
    }
  }

  // Section headers, with names when the name table is usable.
  if (h.shnum != 0) {
    in.require(h.shoff, h.shnum, sizeof(Shdr<E>),
               [&] { return fmt::format("section header table (e_shoff {:#x}, e_shnum {})", h.shoff, h.shnum); });
  }
  if (h.shnum != 0 && opt.sections) {
    f.sections.reserve(h.shnum);
    for (std::uint32_t i = 0; i < h.shnum; ++i) {
      const auto& s = in.template at<Shdr<E>>(h.shoff + std::uint64_t{i} * sizeof(Shdr<E>), "section header");
      Section sec;
      sec.type = s.sh_type;
      sec.flags = s.sh_flags;
      sec.addr = s.sh_addr;
      sec.offset = s.sh_offset;
      sec.size = s.sh_size;
      sec.link = s.sh_link;
      sec.info = s.sh_info;
      sec.addralign = s.sh_addralign;
      sec.entsize = s.sh_entsize;
      if (sec.type != SHT_NOBITS && sec.type != SHT_NULL && sec.size != 0)
        in.require(sec.offset, 1, sec.size, [&] {
          return fmt::format("section header {} (sh_offset {:#x}, sh_size {:#x})", i, sec.offset, sec.size);
        });
      f.sections.push_back(std::move(sec));
    }
    if (h.shstrndx != SHN_UNDEF) {
      if (h.shstrndx >= f.sections.size())
        fail(in.name(), "ELF header", fmt::format("e_shstrndx {} is not below the section count {}", h.shstrndx,
                                                  f.sections.size()));
      const Section& names = f.sections[h.shstrndx];
      for (std::uint32_t i = 0; i < h.shnum; ++i) {
        std::uint32_t idx = in.template at<Shdr<E>>(h.shoff + std::uint64_t{i} * sizeof(Shdr<E>), "section header").sh_name;
        if (i == 0 && idx == 0) continue;
        f.sections[i].name = in.cstr(names.offset, names.size, idx, "section name table (e_shstrndx)");
      }
    }
  }

  // PT_INTERP: the loader path, NUL-terminated inside the segment. A
  // segment with no file bytes (as in separate debug files) says nothing.
  if (const Segment* s = f.find_segment(PT_INTERP); s && s->filesz != 0)
    f.interpreter = in.cstr(s->offset, s->filesz, 0, "PT_INTERP");

  // PT_DYNAMIC: read up to DT_NULL, which must be inside the segment.
  if (const Segment* s = f.find_segment(PT_DYNAMIC); s && s->filesz != 0) {
    f.dynamic_offset = s->offset;
    const std::uint64_t fit = s->filesz / sizeof(Dyn<E>);
    auto tag_at = [&](std::uint64_t i) -> std::uint64_t {
      return in.template at<Dyn<E>>(s->offset + i * sizeof(Dyn<E>), "PT_DYNAMIC").d_tag;
    };
    std::uint64_t i = 0;
    for (; i < fit && tag_at(i) != DT_NULL; ++i) {
      const auto& d = in.template at<Dyn<E>>(s->offset + i * sizeof(Dyn<E>), "PT_DYNAMIC");
      f.dynamic.push_back({d.d_tag, d.d_val});
    }
    if (i == fit)
      fail(in.name(), "PT_DYNAMIC",
           fmt::format("no DT_NULL terminator among its {} entries at offset {:#x}", fit, s->offset));
    while (i < fit && tag_at(i) == DT_NULL) ++i;
    f.dynamic_slots = i;

    std::optional<std::uint64_t> strtab, strsz;
    for (const DynEntry& d : f.dynamic) {
      if (d.tag == DT_STRTAB) strtab = d.value;
      if (d.tag == DT_STRSZ) strsz = d.value;
      if (d.tag == DT_FLAGS) f.dt_flags = d.value;
      if (d.tag == DT_FLAGS_1) f.dt_flags_1 = d.value;
    }
    bool uses_strings =
        std::any_of(f.dynamic.begin(), f.dynamic.end(), [](const DynEntry& d) { return is_string_tag(d.tag); });
    if (strtab) {
      if (!strsz) fail(in.name(), "PT_DYNAMIC", "DT_STRTAB is present but DT_STRSZ is missing");
      auto off = f.vaddr_to_offset(*strtab, *strsz);
      if (!off)
        fail(in.name(), "DT_STRTAB",
             fmt::format("address {:#x} with DT_STRSZ {:#x} is not inside the file image of any PT_LOAD", *strtab,
                         *strsz));
      in.require(*off, 1, *strsz, "DT_STRTAB");
      f.dynstr_vaddr = *strtab;
      f.dynstr_offset = *off;
      f.dynstr_size = *strsz;
    } else if (uses_strings) {
      fail(in.name(), "PT_DYNAMIC", "names libraries or paths but has no DT_STRTAB");
    }
    // Every entry is validated, without a copy; the first of each kind is
    // the one in force. DT_NEEDED names are views into one copy of the part
    // of DT_STRTAB they cover: however many entries name the same bytes, the
    // model costs what the file does (ElfFile::strings).
    struct Ref {
      std::uint64_t off, len;
    };
    std::vector<Ref> needed;
    std::uint64_t lo = f.dynstr_size, hi = 0;
    for (std::size_t k = 0; k < f.dynamic.size(); ++k) {
      const DynEntry& d = f.dynamic[k];
      if (!is_string_tag(d.tag)) continue;
      std::string_view v = in.cstr_view(f.dynstr_offset, f.dynstr_size, d.value, string_tag_label(d.tag));
      switch (d.tag) {
        case DT_NEEDED:
          // The loader opens the name as a path (alone or after a search
          // directory): the kernel refuses PATH_MAX bytes or more, so no
          // loader can ever open it.
          if (v.size() >= kPathMax)
            fail(in.name(), fmt::format("DT_NEEDED (dynamic entry {})", k),
                 fmt::format("a name of {} bytes at DT_STRTAB offset {:#x}; no loader can open a path of PATH_MAX "
                             "({}) bytes or more",
                             v.size(), d.value, kPathMax));
          needed.push_back({d.value, v.size()});
          lo = std::min(lo, d.value);
          hi = std::max(hi, d.value + v.size());  // inside DT_STRSZ: cannot overflow
          break;
        case DT_RPATH: if (!f.rpath) f.rpath = std::string(v); break;
        case DT_RUNPATH: if (!f.runpath) f.runpath = std::string(v); break;
        case DT_SONAME: if (!f.soname) f.soname = std::string(v); break;
        default: break;
      }
    }
    if (!needed.empty()) {
      auto copy = std::make_shared<const std::string>(in.view(f.dynstr_offset + lo, hi - lo, "DT_STRTAB"));
      f.needed.reserve(needed.size());
      for (const Ref& r : needed) f.needed.emplace_back(copy->data() + (r.off - lo), r.len);
      f.strings = std::move(copy);
    }
  }
  return f;
}

}  // namespace

bool ElfFile::is_pie() const noexcept {
  return header.type == ET_DYN && ((dt_flags_1 & DF_1_PIE) != 0 || find_segment(PT_INTERP) != nullptr);
}

const Segment* ElfFile::find_segment(std::uint32_t type) const noexcept {
  for (const Segment& s : segments)
    if (s.type == type) return &s;
  return nullptr;
}

std::optional<std::uint64_t> ElfFile::vaddr_to_offset(std::uint64_t vaddr, std::uint64_t size) const noexcept {
  for (const Segment& s : segments) {
    if (s.type != PT_LOAD || vaddr < s.vaddr) continue;
    std::uint64_t rel = vaddr - s.vaddr, end = 0;
    if (__builtin_add_overflow(rel, size, &end) || end > s.filesz) continue;
    return s.offset + rel;  // cannot overflow: offset + filesz was validated
  }
  return std::nullopt;
}

Expected<ElfFile> read_elf_from(const Bytes& in, ReadOptions opt) {
  try {
    const std::string& name = in.name();
    if (in.size() < EI_NIDENT)
      return Error{Error::Kind::NotElf, name + ": not an ELF file (shorter than an ELF identification)"};
    auto ident = reinterpret_cast<const unsigned char*>(&in.template at<std::array<std::byte, EI_NIDENT>>(0, "ELF identification"));
    if (std::memcmp(ident, ELFMAG, SELFMAG) != 0)
      return Error{Error::Kind::NotElf, name + ": not an ELF file (no \\x7fELF magic)"};
    unsigned cls = ident[EI_CLASS], data = ident[EI_DATA];
    if (cls != ELFCLASS32 && cls != ELFCLASS64)
      fail(name, "ELF header", fmt::format("EI_CLASS is {}, neither ELFCLASS32 (1) nor ELFCLASS64 (2)", cls));
    if (data != ELFDATA2LSB && data != ELFDATA2MSB)
      fail(name, "ELF header", fmt::format("EI_DATA is {}, neither ELFDATA2LSB (1) nor ELFDATA2MSB (2)", data));
    Variant v = cls == ELFCLASS32 ? (data == ELFDATA2LSB ? Variant::k32LE : Variant::k32BE)
                                  : (data == ELFDATA2LSB ? Variant::k64LE : Variant::k64BE);
    return dispatch(v, [&](auto e) { return parse<decltype(e)>(in, v, opt); });
  } catch (ErrorException& e) {
    return std::move(e.error);
  }
}

Expected<ElfFile> read_elf(std::span<const std::byte> bytes, const std::string& name, ReadOptions opt) {
  return read_elf_from(Bytes(bytes, name), opt);
}

Expected<ElfFile> read_elf_file(const std::string& path, ReadOptions opt) {
  auto f = OpenFile::open(path);
  if (!f) return f.error();
  return read_elf_from(Bytes(f->fd(), f->size(), path), opt);
}

Expected<ElfFile> read_elf_fd(int fd, const std::string& name, ReadOptions opt) {
  auto f = OpenFile::adopt(fd, name);
  if (!f) return f.error();
  return read_elf_open(*f, name, opt);
}

Expected<ElfFile> read_elf_open(const OpenFile& f, const std::string& name, ReadOptions opt) {
  return read_elf_from(Bytes(f.fd(), f.size(), name), opt);
}

}  // namespace xpatch::elf
