// Builds small, valid dynamic ELF images in memory for any of the four
// variants, so reader (and later rewrite) tests can be written once and run
// for ELF32/64 x LE/BE. Layout, all inside one PT_LOAD mapped at kBase + off:
//   Ehdr | Phdr[PHDR, INTERP, LOAD, DYNAMIC] | interp\0 | .dynstr | .dynamic
#pragma once

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "libpatch/elf/format.h"

namespace xpatch::test {

using namespace xpatch::elf;  // NOLINT: test helper

struct Spec {
  std::uint16_t machine = EM_X86_64;
  std::uint16_t type = ET_DYN;
  std::uint32_t flags = 0;
  std::optional<std::string> interp = "/lib/ld-test.so.1";
  std::vector<std::string> needed = {"libfoo.so.1", "libc.so.6"};
  unsigned needed_repeat = 1;  // each DT_NEEDED entry this many times, all naming the same string
  std::optional<std::string> runpath = "$ORIGIN/../lib";
  std::optional<std::string> rpath;
  std::optional<std::string> soname;
  std::uint64_t flags_1 = DF_1_PIE;
  unsigned spare_nulls = 1;  // DT_NULL slots after the terminator
  bool null_phdr = false;    // a PT_NULL program header (a spare slot)
  unsigned note_bytes = 0;   // a PT_NOTE of this size right after the interpreter
  unsigned trailer = 16;     // bytes after the PT_LOAD (as a section header table would be)
  bool padded_second_load = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> extra_dynamic;  // more entries, before DT_STRTAB
  std::optional<std::string> version_need;  // a .gnu.version_r entry (no versions) naming this file  // read-only first PT_LOAD, zero padding, then a small RW PT_LOAD at the next page
};

struct Image {
  std::vector<std::byte> bytes;
  std::uint64_t phoff = 0, dynstr_off = 0, dynamic_off = 0, interp_off = 0, verneed_off = 0;
};

template <typename E>
Image build_elf(const Spec& s) {
  constexpr std::uint64_t kBase = 0x10000;
  Image img;
  std::vector<std::byte>& b = img.bytes;
  // insert, not resize + memcpy: GCC 12 at -O2 and above (Release) warns
  // that the resize's fill could exceed the object size (-Wstringop-overflow).
  auto append = [&](const void* p, std::size_t n) {
    std::size_t at = b.size();
    const auto* bytes = static_cast<const std::byte*>(p);
    b.insert(b.end(), bytes, bytes + n);
    return at;
  };
  auto pad = [&](std::size_t align) { b.resize((b.size() + align - 1) / align * align); };

  const unsigned nph =
      3 + (s.interp ? 1 : 0) + (s.null_phdr ? 1 : 0) + (s.note_bytes ? 1 : 0) + (s.padded_second_load ? 1 : 0);
  b.resize(sizeof(Ehdr<E>) + nph * sizeof(Phdr<E>));
  img.phoff = sizeof(Ehdr<E>);

  if (s.interp) img.interp_off = append(s.interp->c_str(), s.interp->size() + 1);
  std::uint64_t note_off = 0;
  if (s.note_bytes) {
    pad(4);
    note_off = b.size();
    b.resize(b.size() + s.note_bytes, std::byte{0x4e});
  }

  std::string dynstr(1, '\0');
  auto add_str = [&](const std::string& str) {
    std::uint64_t at = dynstr.size();
    dynstr += str;
    dynstr += '\0';
    return at;
  };
  std::vector<std::pair<std::uint64_t, std::uint64_t>> dyn;
  for (const auto& n : s.needed) {
    const std::uint64_t at = add_str(n);
    for (unsigned r = 0; r < s.needed_repeat; ++r) dyn.emplace_back(DT_NEEDED, at);
  }
  if (s.soname) dyn.emplace_back(DT_SONAME, add_str(*s.soname));
  if (s.rpath) dyn.emplace_back(DT_RPATH, add_str(*s.rpath));
  if (s.runpath) dyn.emplace_back(DT_RUNPATH, add_str(*s.runpath));
  const std::uint64_t vn_file = s.version_need ? add_str(*s.version_need) : 0;
  img.dynstr_off = append(dynstr.data(), dynstr.size());
  if (s.version_need) {
    pad(4);
    Verneed<E> vn{};
    vn.vn_version = 1;
    vn.vn_file = static_cast<std::uint32_t>(vn_file);
    img.verneed_off = append(&vn, sizeof vn);
    dyn.emplace_back(DT_VERNEED, kBase + img.verneed_off);
    dyn.emplace_back(DT_VERNEEDNUM, 1);
  }
  dyn.insert(dyn.end(), s.extra_dynamic.begin(), s.extra_dynamic.end());
  dyn.emplace_back(DT_STRTAB, kBase + img.dynstr_off);
  dyn.emplace_back(DT_STRSZ, dynstr.size());
  if (s.flags_1) dyn.emplace_back(DT_FLAGS_1, s.flags_1);
  for (unsigned i = 0; i <= s.spare_nulls; ++i) dyn.emplace_back(DT_NULL, 0);

  pad(E::is64 ? 8 : 4);
  img.dynamic_off = b.size();
  for (auto [tag, val] : dyn) {
    Dyn<E> d;
    d.d_tag = static_cast<typename E::Native>(tag);
    d.d_val = static_cast<typename E::Native>(val);
    append(&d, sizeof d);
  }
  const std::uint64_t end = b.size();
  std::uint64_t second = 0;
  if (s.padded_second_load) {
    second = (end + 0xfff) / 0x1000 * 0x1000;
    b.resize(second + 16, std::byte{0x11});
    std::fill(b.begin() + static_cast<std::ptrdiff_t>(end), b.begin() + static_cast<std::ptrdiff_t>(second),
              std::byte{0});
  }
  b.resize(b.size() + s.trailer, std::byte{0x5a});

  Ehdr<E> eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = E::is64 ? ELFCLASS64 : ELFCLASS32;
  eh.e_ident[EI_DATA] = E::endian == std::endian::little ? ELFDATA2LSB : ELFDATA2MSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = s.type;
  eh.e_machine = s.machine;
  eh.e_version = EV_CURRENT;
  eh.e_entry = kBase;
  eh.e_phoff = static_cast<typename E::Native>(img.phoff);
  eh.e_flags = s.flags;
  eh.e_ehsize = sizeof(Ehdr<E>);
  eh.e_phentsize = sizeof(Phdr<E>);
  eh.e_phnum = static_cast<std::uint16_t>(nph);
  std::memcpy(b.data(), &eh, sizeof eh);

  auto ph = [&](unsigned i, std::uint32_t type, std::uint32_t flags, std::uint64_t off, std::uint64_t size,
                std::uint64_t align) {
    Phdr<E> p{};
    p.p_type = type;
    p.p_flags = flags;
    p.p_offset = static_cast<typename E::Native>(off);
    p.p_vaddr = p.p_paddr = static_cast<typename E::Native>(kBase + off);
    p.p_filesz = p.p_memsz = static_cast<typename E::Native>(size);
    p.p_align = static_cast<typename E::Native>(align);
    std::memcpy(b.data() + img.phoff + i * sizeof(Phdr<E>), &p, sizeof p);
  };
  unsigned i = 0;
  ph(i++, PT_PHDR, PF_R, img.phoff, nph * sizeof(Phdr<E>), 8);
  if (s.interp) ph(i++, PT_INTERP, PF_R, img.interp_off, s.interp->size() + 1, 1);
  // p_vaddr == p_offset + kBase keeps the load congruent for any page size.
  ph(i++, PT_LOAD, s.padded_second_load ? PF_R : PF_R | PF_W, 0, end, 0x1000);
  if (s.padded_second_load) ph(i++, PT_LOAD, PF_R | PF_W, second, 16, 0x1000);
  ph(i++, PT_DYNAMIC, PF_R | PF_W, img.dynamic_off, end - img.dynamic_off, 8);
  if (s.note_bytes) ph(i++, PT_NOTE, PF_R, note_off, s.note_bytes, 4);
  if (s.null_phdr) ph(i++, PT_NULL, 0, 0, 0, 0);
  return img;
}

}  // namespace xpatch::test
