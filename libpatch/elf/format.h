// The four ELF variants (32/64 x little/big endian) as one traits type, and
// the on-disk structures over it. Constants come from <elf.h>.
//
// Only the reader and the writer are templates over E; everything else works
// on the plain model in model.h. The variant is chosen once, in dispatch().
#pragma once

#include <elf.h>

#include <bit>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "libpatch/elf/integers.h"

namespace xpatch::elf {

template <bool Is64, std::endian Endian>
struct ElfTraits {
  static constexpr bool is64 = Is64;
  static constexpr std::endian endian = Endian;
  using Half = Int<std::uint16_t, Endian>;
  using Word = Int<std::uint32_t, Endian>;
  // Addr, Off and the size-like fields (Elf32_Word / Elf64_Xword) share one width.
  using Native = std::conditional_t<Is64, std::uint64_t, std::uint32_t>;
  using Addr = Int<Native, Endian>;
};

using Elf32LE = ElfTraits<false, std::endian::little>;
using Elf32BE = ElfTraits<false, std::endian::big>;
using Elf64LE = ElfTraits<true, std::endian::little>;
using Elf64BE = ElfTraits<true, std::endian::big>;

template <typename E>
struct Ehdr {
  unsigned char e_ident[EI_NIDENT];
  typename E::Half e_type;
  typename E::Half e_machine;
  typename E::Word e_version;
  typename E::Addr e_entry;
  typename E::Addr e_phoff;
  typename E::Addr e_shoff;
  typename E::Word e_flags;
  typename E::Half e_ehsize;
  typename E::Half e_phentsize;
  typename E::Half e_phnum;
  typename E::Half e_shentsize;
  typename E::Half e_shnum;
  typename E::Half e_shstrndx;
};

// The one structure whose field order differs between the classes.
template <typename E>
struct Phdr;

template <typename E>
  requires(!E::is64)
struct Phdr<E> {
  typename E::Word p_type;
  typename E::Addr p_offset;
  typename E::Addr p_vaddr;
  typename E::Addr p_paddr;
  typename E::Addr p_filesz;
  typename E::Addr p_memsz;
  typename E::Word p_flags;
  typename E::Addr p_align;
};

template <typename E>
  requires(E::is64)
struct Phdr<E> {
  typename E::Word p_type;
  typename E::Word p_flags;
  typename E::Addr p_offset;
  typename E::Addr p_vaddr;
  typename E::Addr p_paddr;
  typename E::Addr p_filesz;
  typename E::Addr p_memsz;
  typename E::Addr p_align;
};

template <typename E>
struct Shdr {
  typename E::Word sh_name;
  typename E::Word sh_type;
  typename E::Addr sh_flags;
  typename E::Addr sh_addr;
  typename E::Addr sh_offset;
  typename E::Addr sh_size;
  typename E::Word sh_link;
  typename E::Word sh_info;
  typename E::Addr sh_addralign;
  typename E::Addr sh_entsize;
};

template <typename E>
struct Dyn {
  typename E::Addr d_tag;
  typename E::Addr d_val;
};

template <typename E>
struct Sym;

template <typename E>
  requires(!E::is64)
struct Sym<E> {
  typename E::Word st_name;
  typename E::Addr st_value;
  typename E::Addr st_size;
  unsigned char st_info;
  unsigned char st_other;
  typename E::Half st_shndx;
};

template <typename E>
  requires(E::is64)
struct Sym<E> {
  typename E::Word st_name;
  unsigned char st_info;
  unsigned char st_other;
  typename E::Half st_shndx;
  typename E::Addr st_value;
  typename E::Addr st_size;
};

// Relocations: r_info packs the symbol index and the type, split
// differently by class (ELF32_R_SYM/TYPE vs ELF64_R_SYM/TYPE).
template <typename E>
struct Rel {
  typename E::Addr r_offset;
  typename E::Addr r_info;
  static constexpr std::uint32_t sym(std::uint64_t info) noexcept {
    return static_cast<std::uint32_t>(E::is64 ? info >> 32 : info >> 8);
  }
  static constexpr std::uint32_t type(std::uint64_t info) noexcept {
    return static_cast<std::uint32_t>(E::is64 ? info & 0xffffffff : info & 0xff);
  }
};
template <typename E>
struct Rela : Rel<E> {
  typename E::Addr r_addend;
};

// Symbol versioning (GNU): the same layout in both classes.
template <typename E>
struct Verneed {
  typename E::Half vn_version, vn_cnt;
  typename E::Word vn_file, vn_aux, vn_next;
};
template <typename E>
struct Vernaux {
  typename E::Word vna_hash;
  typename E::Half vna_flags, vna_other;
  typename E::Word vna_name, vna_next;
};
template <typename E>
struct Verdef {
  typename E::Half vd_version, vd_flags, vd_ndx, vd_cnt;
  typename E::Word vd_hash, vd_aux, vd_next;
};
template <typename E>
struct Verdaux {
  typename E::Word vda_name, vda_next;
};

// A note's header: the same layout in both classes.
template <typename E>
struct Nhdr {
  typename E::Word n_namesz;
  typename E::Word n_descsz;
  typename E::Word n_type;
};

// Each overlay has the size of <elf.h>'s struct in all four variants.
template <template <typename> class T, typename C32, typename C64>
constexpr bool same_size() {
  return sizeof(T<Elf32LE>) == sizeof(C32) && sizeof(T<Elf32BE>) == sizeof(C32) && sizeof(T<Elf64LE>) == sizeof(C64) &&
         sizeof(T<Elf64BE>) == sizeof(C64);
}
static_assert(same_size<Ehdr, Elf32_Ehdr, Elf64_Ehdr>() && same_size<Phdr, Elf32_Phdr, Elf64_Phdr>() &&
              same_size<Shdr, Elf32_Shdr, Elf64_Shdr>() && same_size<Dyn, Elf32_Dyn, Elf64_Dyn>() &&
              same_size<Sym, Elf32_Sym, Elf64_Sym>() && same_size<Rel, Elf32_Rel, Elf64_Rel>() &&
              same_size<Rela, Elf32_Rela, Elf64_Rela>() && same_size<Verneed, Elf32_Verneed, Elf64_Verneed>() &&
              same_size<Vernaux, Elf32_Vernaux, Elf64_Vernaux>() && same_size<Verdef, Elf32_Verdef, Elf64_Verdef>() &&
              same_size<Verdaux, Elf32_Verdaux, Elf64_Verdaux>() && same_size<Nhdr, Elf32_Nhdr, Elf64_Nhdr>());

enum class Variant { k32LE, k32BE, k64LE, k64BE };

// The single place where the ELF variant becomes a type. Everything reached
// from `fn` is instantiated for all four variants.
template <typename Fn>
decltype(auto) dispatch(Variant v, Fn&& fn) {
  switch (v) {
    case Variant::k32LE: return std::forward<Fn>(fn)(Elf32LE{});
    case Variant::k32BE: return std::forward<Fn>(fn)(Elf32BE{});
    case Variant::k64LE: return std::forward<Fn>(fn)(Elf64LE{});
    case Variant::k64BE: break;
  }
  return std::forward<Fn>(fn)(Elf64BE{});
}

}  // namespace xpatch::elf
