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

// The one target table. Each row is one ABI: how its binaries look (machine,
// class, byte order, and the e_flags bits that pick the row), its tuple
// (ARCH-linux-{gnu,musl}ENV), and its loaders. describe_target() takes the
// first row a file matches; parse_tuple() the first row with `qemu` (a
// tuple setup can install) whose tuple matches, so a row without qemu is
// only ever a classification (MIPS n32, ppc64le ELFv1, ...).
struct Row {
  std::string arch;            // the tuple's first part: aarch64, arm, riscv64, powerpc64le, ...
  std::string env;             // after gnu/musl: "", "eabihf", "abi64", "x32", "_ilp32", "abin32"
  std::uint16_t machine = 0;
  unsigned elf_class = 0;      // 32 or 64
  bool big_endian = false;
  std::uint32_t flags_mask = 0, flags_value = 0;  // (e_flags & mask) == value picks this row
  std::string abi;             // for humans: "hard-float", "lp64d", "elfv2", "n32"
  std::string glibc_ld;        // glibc's loader file name
  std::string loader_dir;      // where glibc's toolchain puts it (musl's: /lib)
  std::string musl_arch;       // ARCH of ld-musl-ARCH.so.1; "" when musl has no port
  std::string qemu;            // qemu-user's name; "" for a row parse_tuple() does not offer
  std::uint32_t abi_flags = 0; // the e_flags ABI the tuple's binaries carry (abi_compatible)
};

std::vector<Row> make_table() {
  constexpr bool LE = false, BE = true;
  std::vector<Row> t = {
      {"x86_64", "", EM_X86_64, 64, LE, 0, 0, "", "ld-linux-x86-64.so.2", "/lib64", "x86_64", "x86_64", 0},
      {"x86_64", "x32", EM_X86_64, 32, LE, 0, 0, "x32", "ld-linux-x32.so.2", "/libx32", "x32", "x86_64", 0},
      {"i686", "", EM_386, 32, LE, 0, 0, "", "ld-linux.so.2", "/lib", "i386", "i386", 0},
      {"aarch64", "", EM_AARCH64, 64, LE, 0, 0, "", "ld-linux-aarch64.so.1", "/lib", "aarch64", "aarch64", 0},
      {"aarch64_be", "", EM_AARCH64, 64, BE, 0, 0, "", "ld-linux-aarch64_be.so.1", "/lib", "aarch64_be", "aarch64_be", 0},
      {"aarch64", "_ilp32", EM_AARCH64, 32, LE, 0, 0, "ilp32", "ld-linux-aarch64_ilp32.so.1", "/lib", "aarch64_ilp32", "", 0},
      {"aarch64_be", "_ilp32", EM_AARCH64, 32, BE, 0, 0, "ilp32", "ld-linux-aarch64_be_ilp32.so.1", "/lib",
       "aarch64_be_ilp32", "", 0},
      // EABI5's float ABI bit; the EABI version itself is a detail (abi_text).
      {"arm", "eabihf", EM_ARM, 32, LE, EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_HARD, "hard-float",
       "ld-linux-armhf.so.3", "/lib", "armhf", "arm", EF_ARM_ABI_FLOAT_HARD},
      {"arm", "eabi", EM_ARM, 32, LE, EF_ARM_ABI_FLOAT_HARD, 0, "soft-float", "ld-linux.so.3", "/lib", "arm", "arm",
       EF_ARM_ABI_FLOAT_SOFT},
      {"armeb", "eabihf", EM_ARM, 32, BE, EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_HARD, "hard-float",
       "ld-linux-armhf.so.3", "/lib", "armebhf", "armeb", EF_ARM_ABI_FLOAT_HARD},
      {"armeb", "eabi", EM_ARM, 32, BE, EF_ARM_ABI_FLOAT_HARD, 0, "soft-float", "ld-linux.so.3", "/lib", "armeb",
       "armeb", EF_ARM_ABI_FLOAT_SOFT},
  };
  // RISC-V: the float ABI (and RV32E/RV64E) name the loader; lp64d first,
  // the tuple's own ABI. Musl names only soft float (-sf).
  for (unsigned cls : {64u, 32u}) {
    const std::string n = cls == 64 ? "riscv64" : "riscv32";
    for (std::uint32_t fabi : {EF_RISCV_FLOAT_ABI_DOUBLE, EF_RISCV_FLOAT_ABI_SOFT, EF_RISCV_FLOAT_ABI_SINGLE,
                               EF_RISCV_FLOAT_ABI_QUAD})
      for (std::uint32_t rve : {0u, std::uint32_t{EF_RISCV_RVE}}) {
        static constexpr std::array<const char*, 4> suffix = {"", "f", "d", "q"};
        const std::string abi = std::string(cls == 64 ? "lp64" : "ilp32") + (rve ? "e" : "") + suffix[fabi >> 1];
        const bool tuple = fabi == EF_RISCV_FLOAT_ABI_DOUBLE && !rve;
        t.push_back({n, "", EM_RISCV, cls, LE, EF_RISCV_FLOAT_ABI | EF_RISCV_RVE, fabi | rve, abi,
                     "ld-linux-" + n + "-" + abi + ".so.1", "/lib",
                     n + (fabi == EF_RISCV_FLOAT_ABI_SOFT ? "-sf" : ""), tuple ? n : "", fabi});
      }
  }
  // PowerPC64: e_flags & 3 is 1 for ELFv1, 2 for ELFv2, 0 for the byte
  // order's default (ELFv1 big-endian, ELFv2 little-endian).
  const std::vector<Row> rest = {
      {"powerpc64le", "", EM_PPC64, 64, LE, 3, 1, "elfv1", "ld64.so.1", "/lib64", "powerpc64le", "", 1},
      {"powerpc64le", "", EM_PPC64, 64, LE, 0, 0, "elfv2", "ld64.so.2", "/lib64", "powerpc64le", "ppc64le", 2},
      {"powerpc64", "", EM_PPC64, 64, BE, 3, 0, "elfv1", "ld64.so.1", "/lib64", "powerpc64", "ppc64", 1},
      {"powerpc64", "", EM_PPC64, 64, BE, 3, 1, "elfv1", "ld64.so.1", "/lib64", "powerpc64", "", 1},
      {"powerpc64", "", EM_PPC64, 64, BE, 0, 0, "elfv2", "ld64.so.2", "/lib64", "powerpc64", "", 2},
      {"powerpc", "", EM_PPC, 32, BE, 0, 0, "", "ld.so.1", "/lib", "powerpc", "ppc", 0},
      {"powerpcle", "", EM_PPC, 32, LE, 0, 0, "", "ld.so.1", "/lib", "powerpcle", "", 0},
      {"s390x", "", EM_S390, 64, BE, 0, 0, "", "ld64.so.1", "/lib", "s390x", "s390x", 0},
      {"s390", "", EM_S390, 32, BE, 0, 0, "", "ld.so.1", "/lib", "s390", "", 0},
      {"mips64", "abi64", EM_MIPS, 64, BE, 0, 0, "n64", "ld.so.1", "/lib64", "mips64", "mips64", 0},
      {"mips64el", "abi64", EM_MIPS, 64, LE, 0, 0, "n64", "ld.so.1", "/lib64", "mips64el", "mips64el", 0},
      {"mips64", "abin32", EM_MIPS, 32, BE, EF_MIPS_ABI2, EF_MIPS_ABI2, "n32", "ld.so.1", "/lib32", "mipsn32", "", 0},
      {"mips64el", "abin32", EM_MIPS, 32, LE, EF_MIPS_ABI2, EF_MIPS_ABI2, "n32", "ld.so.1", "/lib32", "mipsn32el", "",
       0},
      {"mips", "", EM_MIPS, 32, BE, 0, 0, "o32", "ld.so.1", "/lib", "mips", "mips", 0},
      {"mipsel", "", EM_MIPS, 32, LE, 0, 0, "o32", "ld.so.1", "/lib", "mipsel", "mipsel", 0},
      {"loongarch64", "", EM_LOONGARCH, 64, LE, 0, 0, "", "ld-linux-loongarch-lp64d.so.1", "/lib64", "loongarch64",
       "loongarch64", 0},
      {"sparc64", "", EM_SPARCV9, 64, BE, 0, 0, "", "ld-linux.so.2", "/lib64", "sparc64", "", 0},
      {"sparc", "", EM_SPARC, 32, BE, 0, 0, "", "ld-linux.so.2", "/lib", "sparc", "", 0},
      {"m68k", "", EM_68K, 32, BE, 0, 0, "", "ld.so.1", "/lib", "m68k", "m68k", 0},
      {"sh4", "", EM_SH, 32, LE, 0, 0, "", "ld-linux.so.2", "/lib", "sh", "sh4", 0},
      {"sh4eb", "", EM_SH, 32, BE, 0, 0, "", "ld-linux.so.2", "/lib", "sheb", "sh4eb", 0},
      {"hppa", "", EM_PARISC, 32, BE, 0, 0, "", "ld.so.1", "/lib", "", "", 0},
      {"alpha", "", EM_ALPHA, 64, LE, 0, 0, "", "ld-linux.so.2", "/lib", "", "", 0},
  };
  t.insert(t.end(), rest.begin(), rest.end());
  return t;
}

const std::vector<Row>& table() {
  static const std::vector<Row> t = make_table();
  return t;
}

// The row a file was built for; nullptr for an architecture the table
// does not know.
const Row* row_of(const Header& h) {
  for (const Row& r : table())
    if (r.machine == h.machine && r.elf_class == h.elf_class && r.big_endian == h.big_endian &&
        (h.flags & r.flags_mask) == r.flags_value)
      return &r;
  return nullptr;
}

// The ABI for humans: the row's, with the e_flags details that do not
// change the tuple (ARM's EABI version, RISC-V's compressed instructions).
std::string abi_text(const Row& r, std::uint32_t flags) {
  if (r.machine == EM_ARM) return fmt::format("eabi{} {}", (flags & EF_ARM_EABIMASK) >> 24, r.abi);
  if (r.machine == EM_RISCV && (flags & EF_RISCV_RVC)) return r.abi + " rvc";
  return r.abi;
}

std::string tuple_name(const Row& r, Libc libc) {
  return fmt::format("{}-linux-{}{}", r.arch, libc == Libc::Musl ? "musl" : "gnu", r.env);
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
  const Row* r = row_of(f.header);
  if (!r) return std::nullopt;
  if (libc == Libc::Glibc && !r->glibc_ld.empty()) return r->glibc_ld;
  if (libc == Libc::Musl && !r->musl_arch.empty()) return "ld-musl-" + r->musl_arch + ".so.1";
  return std::nullopt;
}

bool linux_osabi(std::uint16_t machine, std::uint8_t osabi) noexcept {
  return osabi == ELFOSABI_SYSV || osabi == ELFOSABI_GNU || (machine == EM_ARM && osabi == ELFOSABI_ARM_AEABI);
}

std::optional<std::string> tuple_for(const ElfFile& f, Libc libc) {
  const Row* r = row_of(f.header);
  if (!r || (libc != Libc::Glibc && libc != Libc::Musl)) return std::nullopt;
  if (!linux_osabi(f.header.machine, f.header.osabi)) return std::nullopt;  // a FreeBSD (9) file is no Linux tuple's
  return tuple_name(*r, libc);
}

Target describe_target(const ElfFile& f) {
  Target t;
  const Row* r = row_of(f.header);
  t.arch = r ? r->arch : fmt::format("machine-{}", f.header.machine);
  t.abi = r ? abi_text(*r, f.header.flags) : "";
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
  for (const Row& r : table())
    if (r.glibc_ld == base) return LoaderFit::OtherArch;
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
  const auto row = std::find_if(table().begin(), table().end(), [&](const Row& r) {
    return !r.qemu.empty() && r.arch == arch && r.env == abi && (glibc || !r.musl_arch.empty());
  });
  if (row == table().end()) return std::nullopt;
  t.machine = row->machine;
  t.elf_class = row->elf_class;
  t.big_endian = row->big_endian;
  t.loader_dir = glibc ? row->loader_dir : "/lib";
  t.musl_arch = glibc ? "" : row->musl_arch;
  t.loader = glibc ? row->glibc_ld : "ld-musl-" + row->musl_arch + ".so.1";
  t.qemu = row->qemu;
  t.abi_flags = row->abi_flags;
  t.tuple = fmt::format("{}-linux-{}", arch, env);
  if (glibc) t.multiarch = multiarch(t.tuple);
  return t;
}

std::vector<std::string> known_tuples() {
  std::vector<std::string> out;
  for (const Row& r : table()) {
    if (r.qemu.empty()) continue;
    for (Libc l : {Libc::Glibc, Libc::Musl})
      if (l == Libc::Glibc || !r.musl_arch.empty())
        if (std::string n = tuple_name(r, l); std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
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
