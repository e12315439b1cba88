#include "libpatch/elf/target.h"

#include "libpatch/elf/paths.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <vector>
#include <utility>

namespace xpatch::elf {

std::string_view libc_name(Libc l) noexcept {
  switch (l) {
    case Libc::Glibc: return "glibc";
    case Libc::Musl: return "musl";
    case Libc::Static: return "static";
    case Libc::Unknown: break;
  }
  return "unknown";
}

namespace {

// The architecture part of a tuple as users type it -> the canonical one;
// "" when unknown.
std::string_view canonical_arch(std::string_view a) {
  if (a == "x86-64" || a == "amd64") return "x86_64";
  if (a == "i386" || a == "i486" || a == "i586") return "i686";
  if (a == "arm64") return "aarch64";
  if (a == "ppc64el" || a == "ppc64le") return "powerpc64le";
  if (a == "ppc64") return "powerpc64";
  if (a == "ppc") return "powerpc";
  if (a.starts_with("armeb")) return "armeb";
  if (a.starts_with("arm")) return "arm";  // armv7l, armhf, armel, armv5te, ...
  return a;
}


bool musl_name(std::string_view n) {
  return n == "libc.so" || n.starts_with("libc.musl-") || n.starts_with("ld-musl-");
}
bool glibc_name(std::string_view n) {
  return n == "libc.so.6" || n.starts_with("ld-linux") || n == "ld64.so.1" || n == "ld64.so.2";
}

// The libc family of a file; no interpreter and no dynamic section (or a
// static-pie without DT_NEEDED) means static.
Libc detect_libc(const ElfFile& f) {
  if (Libc l = libc_of(f.interpreter, f.needed); l != Libc::Unknown || f.interpreter) return l;
  if (f.header.type == ET_EXEC && f.needed.empty()) return Libc::Static;
  if (f.header.type == ET_DYN && f.needed.empty() && (f.dt_flags_1 & DF_1_PIE)) return Libc::Static;  // static-pie
  return Libc::Unknown;
}

struct Arch {
  std::string name;      // tuple's first part
  std::string abi;       // details for humans
  std::string gnu_sfx;   // after "linux-gnu" / "linux-musl": eabihf, abi64, ...
  std::string glibc_ld;  // loader file names
  std::string musl_arch; // ld-musl-$ARCH.so.1
};

Arch classify(const ElfFile& f) {
  const Header& h = f.header;
  const bool be = h.big_endian, is64 = h.elf_class == 64;
  const std::uint32_t fl = h.flags;
  switch (h.machine) {
    case EM_X86_64:
      if (!is64) return {"x86_64", "x32", "x32", "ld-linux-x32.so.2", "x32"};
      return {"x86_64", "", "", "ld-linux-x86-64.so.2", "x86_64"};
    case EM_386: return {"i686", "", "", "ld-linux.so.2", "i386"};
    case EM_AARCH64: {
      std::string n = be ? "aarch64_be" : "aarch64";
      if (!is64) return {n, "ilp32", "_ilp32", "ld-linux-" + n + "_ilp32.so.1", n + "_ilp32"};
      return {n, "", "", "ld-linux-" + n + ".so.1", n};
    }
    case EM_ARM: {
      // EABI version in the top byte; float ABI bits only mean something for EABI5.
      unsigned eabi = (fl & EF_ARM_EABIMASK) >> 24;
      bool hard = (fl & EF_ARM_ABI_FLOAT_HARD) != 0;
      std::string n = be ? "armeb" : "arm";
      std::string abi = fmt::format("eabi{} {}-float", eabi, hard ? "hard" : "soft");
      return {n, abi, hard ? "eabihf" : "eabi", hard ? "ld-linux-armhf.so.3" : "ld-linux.so.3",
              n + (hard ? "hf" : "")};
    }
    case EM_RISCV: {
      static constexpr std::array<const char*, 4> fabi = {"", "f", "d", "q"};
      std::string base = is64 ? "lp64" : "ilp32";
      if (fl & EF_RISCV_RVE) base = is64 ? "lp64e" : "ilp32e";
      std::string abi = base + fabi[(fl & EF_RISCV_FLOAT_ABI) >> 1];
      std::string n = is64 ? "riscv64" : "riscv32";
      std::string musl = n + ((fl & EF_RISCV_FLOAT_ABI) == EF_RISCV_FLOAT_ABI_SOFT ? "-sf" : "");
      return {n, abi + ((fl & EF_RISCV_RVC) ? " rvc" : ""), "", "ld-linux-" + n + "-" + abi + ".so.1", musl};
    }
    case EM_PPC64: {
      // e_flags & 3: 1 = ELFv1 (function descriptors), 2 = ELFv2; 0 means
      // unspecified and follows the endianness' default.
      unsigned v = fl & 3;
      if (v == 0) v = be ? 1 : 2;
      std::string n = be ? "powerpc64" : "powerpc64le";
      return {n, v == 1 ? "elfv1" : "elfv2", "", v == 1 ? "ld64.so.1" : "ld64.so.2", n};
    }
    case EM_PPC: return {be ? "powerpc" : "powerpcle", "", "", "ld.so.1", be ? "powerpc" : "powerpcle"};
    case EM_S390: return {is64 ? "s390x" : "s390", "", "", is64 ? "ld64.so.1" : "ld.so.1", is64 ? "s390x" : "s390"};
    case EM_MIPS: {
      std::string el = be ? "" : "el";
      if (is64) return {"mips64" + el, "n64", "abi64", "ld.so.1", "mips64" + el};
      if (fl & EF_MIPS_ABI2) return {"mips64" + el, "n32", "abin32", "ld.so.1", "mipsn32" + el};
      return {"mips" + el, "o32", "", "ld.so.1", "mips" + el};
    }
    case EM_LOONGARCH: return {is64 ? "loongarch64" : "loongarch32", "", "", "ld-linux-loongarch-lp64d.so.1", "loongarch64"};
    case EM_SPARCV9: return {"sparc64", "", "", "ld-linux.so.2", "sparc64"};
    case EM_SPARC: return {"sparc", "", "", "ld-linux.so.2", "sparc"};
    case EM_68K: return {"m68k", "", "", "ld.so.1", "m68k"};
    case EM_SH: return {be ? "sh4eb" : "sh4", "", "", "ld-linux.so.2", be ? "sheb" : "sh"};
    case EM_PARISC: return {"hppa", "", "", "ld.so.1", ""};
    case EM_ALPHA: return {"alpha", "", "", "ld-linux.so.2", ""};
    default: return {};
  }
}

}  // namespace

Libc libc_of(const std::optional<std::string>& interpreter, const std::vector<std::string_view>& needed) {
  const bool needs_musl = std::any_of(needed.begin(), needed.end(), musl_name);
  if (interpreter) {
    const std::string base = paths::basename_of(*interpreter);
    if (musl_name(base) || needs_musl) return Libc::Musl;
    if (base.starts_with("ld-linux") || base.starts_with("ld64.so") || base.starts_with("ld.so")) return Libc::Glibc;
    return Libc::Unknown;
  }
  if (needs_musl) return Libc::Musl;
  if (std::any_of(needed.begin(), needed.end(), glibc_name)) return Libc::Glibc;
  return Libc::Unknown;
}

std::optional<std::string> loader_name(const ElfFile& f, Libc libc) {
  Arch a = classify(f);
  if (a.name.empty()) return std::nullopt;
  if (libc == Libc::Glibc && !a.glibc_ld.empty()) return a.glibc_ld;
  if (libc == Libc::Musl && !a.musl_arch.empty()) return "ld-musl-" + a.musl_arch + ".so.1";
  return std::nullopt;
}

std::optional<std::string> tuple_for(const ElfFile& f, Libc libc) {
  Arch a = classify(f);
  if (a.name.empty() || (libc != Libc::Glibc && libc != Libc::Musl)) return std::nullopt;
  std::string env = libc == Libc::Glibc ? "gnu" : "musl";
  std::string sfx = a.gnu_sfx;
  if (sfx.starts_with('_')) {  // ILP32 suffixes the environment: aarch64-linux-gnu_ilp32
    env += sfx;
    sfx.clear();
  }
  return fmt::format("{}-linux-{}{}", a.name, env, sfx);
}

Target describe_target(const ElfFile& f) {
  Target t;
  Arch a = classify(f);
  t.arch = a.name.empty() ? fmt::format("machine-{}", f.header.machine) : a.name;
  t.abi = a.abi;
  t.libc = detect_libc(f);
  t.tuple = tuple_for(f, t.libc);
  if (t.tuple) t.loader = loader_name(f, t.libc);
  return t;
}

LoaderFit loader_fits(const ElfFile& f, std::string_view interp) {
  const std::string_view base = interp.substr(interp.rfind('/') + 1);
  const Libc libc = describe_target(f).libc;
  const bool known = libc == Libc::Glibc || libc == Libc::Musl;  // else only the architecture can be told
  const Libc other = libc == Libc::Musl ? Libc::Glibc : Libc::Musl;
  if (base == loader_name(f, known ? libc : Libc::Glibc)) return LoaderFit::Fits;
  if (base == loader_name(f, other)) return known ? LoaderFit::OtherLibc : LoaderFit::Fits;
  // Debian's musl loader is libc.so; every musl loader name starts ld-musl-.
  const bool musl_name = base == "libc.so" || base.starts_with("libc.musl-") || base.starts_with("ld-musl-");
  if (musl_name && base.starts_with("ld-musl-")) return LoaderFit::OtherArch;  // not this architecture's
  if (musl_name) return libc == Libc::Glibc ? LoaderFit::OtherLibc : LoaderFit::Fits;
  // A glibc loader the table knows, of some other architecture or ABI; a
  // name it does not know may be anything (a vendor's loader): Unknown.
  static constexpr std::string_view kGlibcTuples[] = {
      "x86_64-linux-gnu",    "x86_64-linux-gnux32",   "i686-linux-gnu",      "aarch64-linux-gnu",
      "aarch64_be-linux-gnu", "arm-linux-gnueabihf",  "arm-linux-gnueabi",   "riscv64-linux-gnu",
      "riscv32-linux-gnu",   "powerpc64le-linux-gnu", "powerpc64-linux-gnu", "powerpc-linux-gnu",
      "s390x-linux-gnu",     "mips64el-linux-gnuabi64", "mipsel-linux-gnu",  "loongarch64-linux-gnu",
      "m68k-linux-gnu",      "sh4-linux-gnu"};
  for (std::string_view t : kGlibcTuples)
    if (auto info = parse_tuple(t); info && info->loader == base) return LoaderFit::OtherArch;
  return LoaderFit::Unknown;
}

std::optional<TupleInfo> parse_tuple(std::string_view tuple) {
  // ARCH[-VENDOR]-linux-ENV
  std::vector<std::string_view> parts = paths::split(tuple, "-", true);
  // "x86-64" is one part with a dash: joined back before the split counts.
  if (parts.size() >= 2 && parts[0] == "x86" && parts[1] == "64") {
    parts.erase(parts.begin() + 1);
    parts[0] = "x86-64";
  }
  if (parts.size() < 3 || parts.size() > 4 || parts[parts.size() - 2] != "linux") return std::nullopt;
  const std::string_view arch = canonical_arch(parts.front()), env = parts.back();
  if (arch.empty()) return std::nullopt;
  TupleInfo t;
  t.arch = std::string(arch);
  if (env.starts_with("gnu")) t.libc = Libc::Glibc;
  else if (env.starts_with("musl")) t.libc = Libc::Musl;
  else return std::nullopt;
  const std::string_view abi = env.substr(t.libc == Libc::Glibc ? 3 : 4);  // "", "eabihf", "abi64", "_ilp32"
  const bool glibc = t.libc == Libc::Glibc;
  auto set = [&](std::uint16_t m, unsigned cls, bool be, std::string glibc_ld, std::string dir, std::string musl,
                 std::string qemu) {
    t.machine = m;
    t.elf_class = cls;
    t.big_endian = be;
    t.loader_dir = glibc ? std::move(dir) : "/lib";
    t.musl_arch = glibc ? "" : musl;
    t.loader = glibc ? std::move(glibc_ld) : "ld-musl-" + musl + ".so.1";
    t.qemu = std::move(qemu);
  };
  if (arch == "x86_64" && abi.empty()) set(EM_X86_64, 64, false, "ld-linux-x86-64.so.2", "/lib64", "x86_64", "x86_64");
  else if (arch == "x86_64" && abi == "x32") set(EM_X86_64, 32, false, "ld-linux-x32.so.2", "/libx32", "x32", "x86_64");
  else if ((arch == "i386" || arch == "i486" || arch == "i586" || arch == "i686") && abi.empty())
    set(EM_386, 32, false, "ld-linux.so.2", "/lib", "i386", "i386");
  else if ((arch == "aarch64" || arch == "aarch64_be") && abi.empty())
    set(EM_AARCH64, 64, arch == "aarch64_be", fmt::format("ld-linux-{}.so.1", arch), "/lib", std::string(arch),
        std::string(arch));
  else if ((arch.starts_with("arm") && !arch.starts_with("armeb")) && (abi == "eabihf" || abi == "eabi"))
    set(EM_ARM, 32, false, abi == "eabihf" ? "ld-linux-armhf.so.3" : "ld-linux.so.3", "/lib",
        abi == "eabihf" ? "armhf" : "arm", "arm");
  else if (arch.starts_with("armeb") && (abi == "eabihf" || abi == "eabi"))
    set(EM_ARM, 32, true, abi == "eabihf" ? "ld-linux-armhf.so.3" : "ld-linux.so.3", "/lib",
        abi == "eabihf" ? "armebhf" : "armeb", "armeb");
  else if (arch == "riscv64" && abi.empty())
    set(EM_RISCV, 64, false, "ld-linux-riscv64-lp64d.so.1", "/lib", "riscv64", "riscv64");
  else if (arch == "riscv32" && abi.empty())
    set(EM_RISCV, 32, false, "ld-linux-riscv32-ilp32d.so.1", "/lib", "riscv32", "riscv32");
  else if (arch == "powerpc64le" && abi.empty())
    set(EM_PPC64, 64, false, "ld64.so.2", "/lib64", "powerpc64le", "ppc64le");
  else if (arch == "powerpc64" && abi.empty())
    set(EM_PPC64, 64, true, "ld64.so.1", "/lib64", "powerpc64", "ppc64");
  else if (arch == "powerpc" && abi.empty()) set(EM_PPC, 32, true, "ld.so.1", "/lib", "powerpc", "ppc");
  else if (arch == "s390x" && abi.empty()) set(EM_S390, 64, true, "ld64.so.1", "/lib", "s390x", "s390x");
  else if ((arch == "mips64" || arch == "mips64el") && abi == "abi64")
    set(EM_MIPS, 64, arch == "mips64", "ld.so.1", "/lib64", std::string(arch), std::string(arch));
  else if ((arch == "mips" || arch == "mipsel") && abi.empty())
    set(EM_MIPS, 32, arch == "mips", "ld.so.1", "/lib", std::string(arch), std::string(arch));
  else if (arch == "loongarch64" && abi.empty())
    set(EM_LOONGARCH, 64, false, "ld-linux-loongarch-lp64d.so.1", "/lib64", "loongarch64", "loongarch64");
  else if (arch == "m68k" && abi.empty()) set(EM_68K, 32, true, "ld.so.1", "/lib", "m68k", "m68k");
  else if ((arch == "sh4" || arch == "sh4eb") && abi.empty())
    set(EM_SH, 32, arch == "sh4eb", "ld-linux.so.2", "/lib", arch == "sh4eb" ? "sheb" : "sh", std::string(arch));
  else
    return std::nullopt;
  t.tuple = fmt::format("{}-linux-{}", arch, env);
  if (glibc) t.multiarch = multiarch(t.tuple);
  // The e_flags ABI its binaries carry, for abi_compatible().
  if (t.machine == EM_ARM) t.abi_flags = abi == "eabihf" ? EF_ARM_ABI_FLOAT_HARD : EF_ARM_ABI_FLOAT_SOFT;
  if (t.machine == EM_RISCV) t.abi_flags = EF_RISCV_FLOAT_ABI_DOUBLE;
  if (t.machine == EM_PPC64) t.abi_flags = t.big_endian ? 1 : 2;
  return t;
}

bool abi_compatible(std::uint16_t machine, std::uint32_t fa, std::uint32_t fb) noexcept {
  switch (machine) {
    case EM_ARM: {
      constexpr std::uint32_t kFloat = EF_ARM_ABI_FLOAT_HARD | EF_ARM_ABI_FLOAT_SOFT;
      return !((fa & kFloat) && (fb & kFloat) && (fa & kFloat) != (fb & kFloat));
    }
    case EM_RISCV: return (fa & EF_RISCV_FLOAT_ABI) == (fb & EF_RISCV_FLOAT_ABI);
    case EM_MIPS: return (fa & EF_MIPS_ABI2) == (fb & EF_MIPS_ABI2);
    case EM_PPC64: return !((fa & 3) && (fb & 3) && (fa & 3) != (fb & 3));
    default: return true;
  }
}

bool built_for(const TupleInfo& t, const ElfFile& f) noexcept {
  const Header& h = f.header;
  return h.machine == t.machine && h.elf_class == t.elf_class && h.big_endian == t.big_endian &&
         abi_compatible(h.machine, t.abi_flags, h.flags);
}

std::string multiarch(std::string_view tuple) {
  std::string t(tuple);
  if (t.starts_with("i686-")) t.replace(0, 4, "i386");
  if (t.ends_with("-linux-musl")) t.replace(t.size() - 4, 4, "gnu");
  return t;
}

std::string_view platform(std::uint16_t machine, unsigned elf_class, bool big_endian) noexcept {
  switch (machine) {
    case EM_X86_64: return elf_class == 64 ? "x86_64" : "";
    case EM_386: return "i686";
    case EM_AARCH64: return big_endian ? "aarch64_be" : "aarch64";
    case EM_ARM: return big_endian ? "v7b" : "v7l";
    default: return "";  // riscv and others have none
  }
}

std::vector<std::string> hwcaps(std::uint16_t machine, unsigned elf_class, bool big_endian) {
  switch (machine) {
    case EM_X86_64: return elf_class == 64 ? std::vector<std::string>{"x86-64-v4", "x86-64-v3", "x86-64-v2"}
                                           : std::vector<std::string>{};
    case EM_PPC64: return big_endian ? std::vector<std::string>{} : std::vector<std::string>{"power10", "power9"};
    case EM_S390: return {"z16", "z15", "z14", "z13"};
    default: return {};
  }
}

BinfmtBytes binfmt_bytes(const TupleInfo& t) {
  const Variant v = t.elf_class == 64 ? (t.big_endian ? Variant::k64BE : Variant::k64LE)
                                      : (t.big_endian ? Variant::k32BE : Variant::k32LE);
  return dispatch(v, [&](auto e) {
    using E = decltype(e);
    Ehdr<E> magic{}, mask{};
    std::memcpy(magic.e_ident, ELFMAG, SELFMAG);
    magic.e_ident[EI_CLASS] = E::is64 ? ELFCLASS64 : ELFCLASS32;
    magic.e_ident[EI_DATA] = E::endian == std::endian::big ? ELFDATA2MSB : ELFDATA2LSB;
    magic.e_ident[EI_VERSION] = EV_CURRENT;
    magic.e_type = ET_EXEC;
    magic.e_machine = t.machine;
    // Every e_ident byte must match but EI_OSABI (GNU/Linux binaries say 3,
    // others 0); e_type without bit 0 (ET_EXEC 2, ET_DYN 3); e_machine.
    std::memset(mask.e_ident, 0xff, sizeof mask.e_ident);
    mask.e_ident[EI_OSABI] = 0;
    mask.e_type = 0xfffe;
    mask.e_machine = 0xffff;
    constexpr std::size_t n = offsetof(Ehdr<E>, e_version);
    BinfmtBytes b;
    b.magic.resize(n);
    b.mask.resize(n);
    std::memcpy(b.magic.data(), &magic, n);
    std::memcpy(b.mask.data(), &mask, n);
    return b;
  });
}

std::string_view machine_name(std::uint16_t m) noexcept {
  switch (m) {
    case EM_NONE: return "None";
    case EM_SPARC: return "Sparc";
    case EM_386: return "Intel 80386";
    case EM_68K: return "MC68000";
    case EM_MIPS: return "MIPS R3000";
    case EM_PARISC: return "HPPA";
    case EM_PPC: return "PowerPC";
    case EM_PPC64: return "PowerPC64";
    case EM_S390: return "IBM S/390";
    case EM_ARM: return "ARM";
    case EM_SH: return "Renesas / SuperH SH";
    case EM_SPARCV9: return "Sparc v9";
    case EM_X86_64: return "Advanced Micro Devices X86-64";
    case EM_AARCH64: return "AArch64";
    case EM_RISCV: return "RISC-V";
    case EM_LOONGARCH: return "LoongArch";
    case EM_ALPHA: return "Alpha";
    default: return "unknown";
  }
}

std::string_view elf_type_name(std::uint16_t t) noexcept {
  switch (t) {
    case ET_NONE: return "NONE";
    case ET_REL: return "REL";
    case ET_EXEC: return "EXEC";
    case ET_DYN: return "DYN";
    case ET_CORE: return "CORE";
    default: return "";
  }
}

std::string_view segment_type_name(std::uint32_t t) noexcept {
  switch (t) {
    case PT_NULL: return "NULL";
    case PT_LOAD: return "LOAD";
    case PT_DYNAMIC: return "DYNAMIC";
    case PT_INTERP: return "INTERP";
    case PT_NOTE: return "NOTE";
    case PT_SHLIB: return "SHLIB";
    case PT_PHDR: return "PHDR";
    case PT_TLS: return "TLS";
    case PT_GNU_EH_FRAME: return "GNU_EH_FRAME";
    case PT_GNU_STACK: return "GNU_STACK";
    case PT_GNU_RELRO: return "GNU_RELRO";
    case PT_GNU_PROPERTY: return "GNU_PROPERTY";
    default: return "";
  }
}

std::string_view dynamic_tag_name(std::uint64_t t) noexcept {
  switch (t) {
    case DT_NULL: return "NULL";
    case DT_NEEDED: return "NEEDED";
    case DT_PLTRELSZ: return "PLTRELSZ";
    case DT_PLTGOT: return "PLTGOT";
    case DT_HASH: return "HASH";
    case DT_STRTAB: return "STRTAB";
    case DT_SYMTAB: return "SYMTAB";
    case DT_RELA: return "RELA";
    case DT_RELASZ: return "RELASZ";
    case DT_RELAENT: return "RELAENT";
    case DT_STRSZ: return "STRSZ";
    case DT_SYMENT: return "SYMENT";
    case DT_INIT: return "INIT";
    case DT_FINI: return "FINI";
    case DT_SONAME: return "SONAME";
    case DT_RPATH: return "RPATH";
    case DT_SYMBOLIC: return "SYMBOLIC";
    case DT_REL: return "REL";
    case DT_RELSZ: return "RELSZ";
    case DT_RELENT: return "RELENT";
    case DT_PLTREL: return "PLTREL";
    case DT_DEBUG: return "DEBUG";
    case DT_TEXTREL: return "TEXTREL";
    case DT_JMPREL: return "JMPREL";
    case DT_BIND_NOW: return "BIND_NOW";
    case DT_INIT_ARRAY: return "INIT_ARRAY";
    case DT_FINI_ARRAY: return "FINI_ARRAY";
    case DT_INIT_ARRAYSZ: return "INIT_ARRAYSZ";
    case DT_FINI_ARRAYSZ: return "FINI_ARRAYSZ";
    case DT_RUNPATH: return "RUNPATH";
    case DT_FLAGS: return "FLAGS";
    case DT_PREINIT_ARRAY: return "PREINIT_ARRAY";
    case DT_PREINIT_ARRAYSZ: return "PREINIT_ARRAYSZ";
    case DT_SYMTAB_SHNDX: return "SYMTAB_SHNDX";
    case DT_RELRSZ: return "RELRSZ";
    case DT_RELR: return "RELR";
    case DT_RELRENT: return "RELRENT";
    case DT_GNU_HASH: return "GNU_HASH";
    case DT_VERSYM: return "VERSYM";
    case DT_RELACOUNT: return "RELACOUNT";
    case DT_RELCOUNT: return "RELCOUNT";
    case DT_FLAGS_1: return "FLAGS_1";
    case DT_VERDEF: return "VERDEF";
    case DT_VERDEFNUM: return "VERDEFNUM";
    case DT_VERNEED: return "VERNEED";
    case DT_VERNEEDNUM: return "VERNEEDNUM";
    default: return "";
  }
}

namespace {
using FlagTable = std::initializer_list<std::pair<std::uint64_t, const char*>>;
std::vector<std::string> names_of(std::uint64_t flags, FlagTable table) {
  std::vector<std::string> out;
  for (auto [bit, name] : table)
    if (flags & bit) {
      out.emplace_back(name);
      flags &= ~bit;
    }
  for (std::uint64_t bit = 1; flags; bit <<= 1)
    if (flags & bit) {
      out.push_back(fmt::format("{:#x}", bit));
      flags &= ~bit;
    }
  return out;
}
}  // namespace

std::vector<std::string> dt_flags_names(std::uint64_t flags) {
  return names_of(flags, {{DF_ORIGIN, "ORIGIN"},
                          {DF_SYMBOLIC, "SYMBOLIC"},
                          {DF_TEXTREL, "TEXTREL"},
                          {DF_BIND_NOW, "BIND_NOW"},
                          {DF_STATIC_TLS, "STATIC_TLS"}});
}

std::vector<std::string> dt_flags_1_names(std::uint64_t flags) {
  static constexpr const char* names[] = {
      "NOW",        "GLOBAL",     "GROUP",      "NODELETE", "LOADFLTR", "INITFIRST", "NOOPEN",     "ORIGIN",
      "DIRECT",     "TRANS",      "INTERPOSE",  "NODEFLIB", "NODUMP",   "CONFALT",   "ENDFILTEE",  "DISPRELDNE",
      "DISPRELPND", "NODIRECT",   "IGNMULDEF",  "NOKSYMS",  "NOHDR",    "EDITED",    "NORELOC",    "SYMINTPOSE",
      "GLOBAUDIT",  "SINGLETON",  "STUB",       "PIE",      "KMOD",     "WEAKFILTER", "NOCOMMON"};
  std::vector<std::string> out;
  for (unsigned i = 0; i < 64; ++i) {
    std::uint64_t bit = std::uint64_t{1} << i;
    if (!(flags & bit)) continue;
    out.push_back(i < std::size(names) ? std::string(names[i]) : fmt::format("{:#x}", bit));
  }
  return out;
}

}  // namespace xpatch::elf
