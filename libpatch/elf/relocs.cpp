#include "libpatch/elf/relocs.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <initializer_list>

namespace xpatch::elf {
namespace {

// One row per machine. Types not listed are Other (a load-time lookup).
struct Row {
  std::uint16_t machine;
  std::initializer_list<std::uint32_t> no_symbol, jump_slot, copy, tls;
  bool symbols_by_relocation = true;
};

// One line per machine, columns in the order of Row. Numbers without a
// name in bookworm's <elf.h> carry their psABI name in a comment.
// clang-format off
const Row kRows[] = {
    {EM_X86_64, {R_X86_64_NONE, R_X86_64_RELATIVE, R_X86_64_RELATIVE64, R_X86_64_IRELATIVE}, {R_X86_64_JUMP_SLOT}, {R_X86_64_COPY}, {R_X86_64_DTPMOD64, R_X86_64_DTPOFF64, R_X86_64_TPOFF64, R_X86_64_DTPOFF32, R_X86_64_TPOFF32, R_X86_64_TLSDESC}},
    {EM_386, {R_386_NONE, R_386_RELATIVE, R_386_IRELATIVE}, {R_386_JMP_SLOT}, {R_386_COPY}, {R_386_TLS_TPOFF, R_386_TLS_DTPMOD32, R_386_TLS_DTPOFF32, R_386_TLS_TPOFF32, R_386_TLS_DESC}},
    {EM_AARCH64, {R_AARCH64_NONE, 256 /* R_AARCH64_NONE, old value */, R_AARCH64_RELATIVE, R_AARCH64_IRELATIVE}, {R_AARCH64_JUMP_SLOT}, {R_AARCH64_COPY}, {R_AARCH64_TLS_DTPMOD, R_AARCH64_TLS_DTPREL, R_AARCH64_TLS_TPREL, R_AARCH64_TLSDESC}},
    {EM_ARM, {R_ARM_NONE, R_ARM_RELATIVE, R_ARM_IRELATIVE}, {R_ARM_JUMP_SLOT}, {R_ARM_COPY}, {R_ARM_TLS_DTPMOD32, R_ARM_TLS_DTPOFF32, R_ARM_TLS_TPOFF32, R_ARM_TLS_DESC}},
    {EM_RISCV, {R_RISCV_NONE, R_RISCV_RELATIVE, 58 /* R_RISCV_IRELATIVE */}, {R_RISCV_JUMP_SLOT}, {R_RISCV_COPY}, {R_RISCV_TLS_DTPMOD32, R_RISCV_TLS_DTPMOD64, R_RISCV_TLS_DTPREL32, R_RISCV_TLS_DTPREL64, R_RISCV_TLS_TPREL32, R_RISCV_TLS_TPREL64, 12 /* R_RISCV_TLSDESC */}},
    {EM_PPC64, {R_PPC64_NONE, R_PPC64_RELATIVE, R_PPC64_IRELATIVE}, {R_PPC64_JMP_SLOT}, {R_PPC64_COPY}, {R_PPC64_DTPMOD64, R_PPC64_TPREL64, R_PPC64_DTPREL64}},
    {EM_PPC, {R_PPC_NONE, R_PPC_RELATIVE, R_PPC_IRELATIVE}, {R_PPC_JMP_SLOT}, {R_PPC_COPY}, {R_PPC_DTPMOD32, R_PPC_TPREL32, R_PPC_DTPREL32}},
    {EM_S390, {R_390_NONE, R_390_RELATIVE, R_390_IRELATIVE}, {R_390_JMP_SLOT}, {R_390_COPY}, {R_390_TLS_DTPMOD, R_390_TLS_DTPOFF, R_390_TLS_TPOFF}},
    {EM_LOONGARCH, {R_LARCH_NONE, R_LARCH_RELATIVE, R_LARCH_IRELATIVE}, {R_LARCH_JUMP_SLOT}, {R_LARCH_COPY}, {R_LARCH_TLS_DTPMOD32, R_LARCH_TLS_DTPMOD64, R_LARCH_TLS_DTPREL32, R_LARCH_TLS_DTPREL64, R_LARCH_TLS_TPREL32, R_LARCH_TLS_TPREL64, 13 /* R_LARCH_TLS_DESC32 */, 14 /* R_LARCH_TLS_DESC64 */}},
    {EM_SPARC, {R_SPARC_NONE, R_SPARC_RELATIVE, R_SPARC_IRELATIVE}, {R_SPARC_JMP_SLOT}, {R_SPARC_COPY}, {R_SPARC_TLS_DTPMOD32, R_SPARC_TLS_DTPOFF32, R_SPARC_TLS_TPOFF32}},
    {EM_SPARCV9, {R_SPARC_NONE, R_SPARC_RELATIVE, R_SPARC_IRELATIVE}, {R_SPARC_JMP_SLOT}, {R_SPARC_COPY}, {R_SPARC_TLS_DTPMOD64, R_SPARC_TLS_DTPOFF64, R_SPARC_TLS_TPOFF64}},
    {EM_68K, {R_68K_NONE, R_68K_RELATIVE}, {R_68K_JMP_SLOT}, {R_68K_COPY}, {R_68K_TLS_DTPMOD32, R_68K_TLS_DTPREL32, R_68K_TLS_TPREL32}},
    {EM_SH, {R_SH_NONE, R_SH_RELATIVE}, {R_SH_JMP_SLOT}, {R_SH_COPY}, {R_SH_TLS_DTPMOD32, R_SH_TLS_DTPOFF32, R_SH_TLS_TPOFF32}},
    {EM_ALPHA, {R_ALPHA_NONE, R_ALPHA_RELATIVE}, {R_ALPHA_JMP_SLOT}, {R_ALPHA_COPY}, {R_ALPHA_DTPMOD64, R_ALPHA_DTPREL64, R_ALPHA_TPREL64}},
    {EM_PARISC, {R_PARISC_NONE}, {R_PARISC_IPLT}, {R_PARISC_COPY}, {R_PARISC_TLS_DTPMOD32, R_PARISC_TLS_DTPMOD64, R_PARISC_TLS_DTPOFF32, R_PARISC_TLS_DTPOFF64, R_PARISC_TLS_TPREL32, R_PARISC_TLS_TPREL64}},
    {EM_MIPS, {R_MIPS_NONE}, {R_MIPS_JUMP_SLOT}, {R_MIPS_COPY}, {R_MIPS_TLS_DTPMOD32, R_MIPS_TLS_DTPMOD64, R_MIPS_TLS_DTPREL32, R_MIPS_TLS_DTPREL64, R_MIPS_TLS_TPREL32, R_MIPS_TLS_TPREL64}, false},
};
// clang-format on

const Row* row_for(std::uint16_t machine) {
  for (const Row& r : kRows)
    if (r.machine == machine) return &r;
  return nullptr;
}

bool has(std::initializer_list<std::uint32_t> l, std::uint32_t t) { return std::find(l.begin(), l.end(), t) != l.end(); }

}  // namespace

RelocTable reloc_table(std::uint16_t machine) noexcept {
  const Row* r = row_for(machine);
  if (!r) return {};
  return {true, r->symbols_by_relocation};
}

RelocKind reloc_kind(std::uint16_t machine, std::uint32_t type) noexcept {
  const Row* r = row_for(machine);
  if (!r) return type == 0 ? RelocKind::NoSymbol : RelocKind::Other;
  if (has(r->no_symbol, type)) return RelocKind::NoSymbol;
  if (has(r->jump_slot, type)) return RelocKind::JumpSlot;
  if (has(r->copy, type)) return RelocKind::Copy;
  if (has(r->tls, type)) return RelocKind::Tls;
  return RelocKind::Other;
}

std::string_view reloc_kind_name(RelocKind k) noexcept {
  switch (k) {
    case RelocKind::NoSymbol: return "no symbol";
    case RelocKind::JumpSlot: return "JUMP_SLOT";
    case RelocKind::Copy: return "COPY";
    case RelocKind::Tls: return "TLS";
    case RelocKind::Other: break;
  }
  return "load-time";
}

}  // namespace xpatch::elf
