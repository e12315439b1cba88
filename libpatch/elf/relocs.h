// What each dynamic relocation type asks of the loader, per machine: the one
// table of these facts (the symbol check in resolve/symbols asks it).
//
// Sources: each architecture's psABI and glibc's sysdeps/<arch>/dl-machine.h
// (elf_machine_rel[a], elf_machine_type_class, elf_machine_lazy_rel); musl's
// arch/<arch>/reloc.h (REL_PLT, REL_COPY, REL_DTPMOD, ...).
#pragma once

#include <cstdint>
#include <string_view>

namespace xpatch::elf {

enum class RelocKind {
  NoSymbol,  // R_*_NONE, RELATIVE, IRELATIVE: the loader looks no symbol up
  JumpSlot,  // a PLT slot: glibc binds it at the first call unless the object asks for BIND_NOW
  Copy,      // the executable gets a copy of the definition's bytes (st_size of the reference)
  Tls,       // module id, offsets, descriptors: resolved when the object is relocated
  Other,     // GLOB_DAT, absolute and the like: resolved when the object is relocated
};

struct RelocTable {
  bool known = false;  // this machine's table exists
  // MIPS binds its GOT through DT_MIPS_GOTSYM and DT_MIPS_SYMTABNO, not through
  // relocations: the undefined-symbol check cannot follow it from relocations.
  bool symbols_by_relocation = true;
};

// The table entry for e_machine (and class: x32 and x86-64 share EM_X86_64).
RelocTable reloc_table(std::uint16_t machine) noexcept;

// The kind of relocation `type` on `machine`. An unknown machine gives Other
// for every type except 0 (R_*_NONE is 0 everywhere).
RelocKind reloc_kind(std::uint16_t machine, std::uint32_t type) noexcept;

std::string_view reloc_kind_name(RelocKind k) noexcept;

}  // namespace xpatch::elf
