// The one target table: what a binary was built for (architecture, ABI
// details, libc family, and the GNU tuple and loader name that follow from
// them), what a tuple names (parse_tuple, with the aliases users type), ABI
// compatibility from e_flags, each loader's multiarch directory, platform
// and hwcaps, and the binfmt_misc bytes. show, check, retarget and setup
// all ask here, so they cannot disagree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libpatch/elf/model.h"

namespace xpatch::elf {

enum class Libc { Glibc, Musl, Static, Unknown };
std::string_view libc_name(Libc l) noexcept;

struct Target {
  std::string arch;   // GNU tuple's first part: aarch64, arm, riscv64, powerpc64le, i686, ...
  std::string abi;    // ABI details, e.g. "eabi5 hard-float", "lp64d rvc", "elfv2", "n32"
  Libc libc = Libc::Unknown;
  std::optional<std::string> tuple;   // e.g. arm-linux-gnueabihf, aarch64-linux-musl
  std::optional<std::string> loader;  // the conventional loader file name for that tuple
};

Target describe_target(const ElfFile& f);

// The GNU tuple for this file's architecture and ABI with `libc` (Glibc or
// Musl): "arm-linux-gnueabihf", "aarch64-linux-musl"; nullopt when unknown,
// or when EI_OSABI names another system than Linux.
std::optional<std::string> tuple_for(const ElfFile& f, Libc libc);
// EI_OSABI values of a Linux file: SYSV (0) or GNU (3), and on ARM also
// ARM_AEABI (64); glibc's ld.so takes no other (VALID_ELF_OSABI).
bool linux_osabi(std::uint16_t machine, std::uint8_t osabi) noexcept;

// The libc family from the interpreter (glibc's ld-linux*, ld64.so*, ld.so*;
// musl's ld-musl-* and Debian's /usr/lib/<triplet>/libc.so) or, without one
// or besides it, a libc dependency (libc.so.6; musl's libc.so). A program
// linked against musl's libc.so is musl whatever its interpreter's name.
Libc libc_of(const std::optional<std::string>& interpreter, const std::vector<std::string_view>& needed);

// Loader file name (no directory) for an architecture and libc, as written
// into PT_INTERP by that libc's toolchain; nullopt when we do not know it.
std::optional<std::string> loader_name(const ElfFile& f, Libc libc);

// Whether a loader path (a PT_INTERP value) can run `f`, by its file name:
// Fits (the loader of f's architecture and libc), OtherLibc (musl's loader
// on a glibc file or the reverse), OtherArch (a loader name of another
// architecture or ABI: ld-linux-armhf.so.3 on aarch64), Unknown (a name
// this table does not know: a private loader, say).
enum class LoaderFit { Fits, OtherLibc, OtherArch, Unknown };
LoaderFit loader_fits(const ElfFile& f, std::string_view interp);

// What a GNU tuple names, without any file: the ELF identity of its
// binaries, its libc, the loader its toolchain writes into PT_INTERP, and
// the qemu-user program that runs it. The same table as describe_target()
// (a unit test checks the two agree).
struct TupleInfo {
  std::string arch;              // "aarch64", "arm", "i686", ...
  Libc libc = Libc::Unknown;     // Glibc or Musl
  std::uint16_t machine = 0;     // e_machine
  unsigned elf_class = 0;        // 32 or 64
  bool big_endian = false;
  std::string loader;            // file name: ld-linux-aarch64.so.1, ld-musl-armhf.so.1
  std::string loader_dir;        // where the toolchain puts it: "/lib" or "/lib64"
  std::string musl_arch;         // ARCH of ld-musl-ARCH.so.1 (musl only)
  std::string multiarch;         // Debian's multiarch directory name (glibc only): i386-linux-gnu
  std::string qemu;              // qemu-user's name for it: qemu-<qemu>
  std::string tuple;             // the canonical name: "x86_64-linux-gnu" for "x86-64-linux-gnu" or "amd64-linux-gnu"
  std::uint32_t abi_flags = 0;   // the e_flags ABI bits its binaries carry (abi_compatible): EABI float, RISC-V float ABI, ...
};
// nullopt for a tuple this table does not know (or whose binaries the ELF
// header alone cannot tell apart, like MIPS n32). The architecture may be
// given as users type it: x86-64 or amd64 (x86_64), i386..i686, arm64
// (aarch64), armhf/armel/armv7* (arm), ppc64el/ppc64le (powerpc64le), ppc64,
// ppc; the environment as gnu*/musl*, e.g. "arm64-linux-musl".
std::optional<TupleInfo> parse_tuple(std::string_view tuple);

// Every canonical tuple parse_tuple() knows, glibc's and musl's (the table's
// rows that qemu-user runs).
std::vector<std::string> known_tuples();

// Whether objects with e_flags `a` and `b` of `machine` can be loaded
// together, as the loaders decide: ARM EABI hard- against soft-float (when
// both say), RISC-V float ABI, MIPS n32 against o32, PowerPC64 ELFv1
// against ELFv2 (when both say).
bool abi_compatible(std::uint16_t machine, std::uint32_t a, std::uint32_t b) noexcept;

// A file's ELF identity is the tuple's: machine, class, byte order, and an
// e_flags ABI compatible with the tuple's (the libc is a separate question).
bool built_for(const TupleInfo& t, const ElfFile& f) noexcept;

// Debian's multiarch directory name for a tuple ("i386-linux-gnu" for
// i686-linux-gnu; musl tuples map to their gnu one); "" for none.
std::string multiarch(std::string_view tuple);
// AT_PLATFORM as the kernel (and qemu-user) report it, for $PLATFORM; ""
// when there is none (glibc then drops the entries that use it).
std::string_view platform(std::uint16_t machine, unsigned elf_class, bool big_endian) noexcept;
// glibc-hwcaps subdirectories glibc's loader tries, best first.
std::vector<std::string> hwcaps(std::uint16_t machine, unsigned elf_class, bool big_endian);

// The binfmt_misc magic and mask (16 bytes of e_ident, e_type and e_machine,
// written through Ehdr<E> in the tuple's byte order): EI_OSABI is masked out,
// and e_type's mask drops bit 0, so ET_EXEC and ET_DYN both match.
struct BinfmtBytes {
  std::vector<unsigned char> magic, mask;
};
BinfmtBytes binfmt_bytes(const TupleInfo& t);

std::string_view machine_name(std::uint16_t e_machine) noexcept;
std::string_view segment_type_name(std::uint32_t p_type) noexcept;  // "" when unknown
std::string_view dynamic_tag_name(std::uint64_t d_tag) noexcept;    // "" when unknown
std::string_view elf_type_name(std::uint16_t e_type) noexcept;      // "" when unknown
// Bits by the names readelf uses; unknown bits as hex.
std::vector<std::string> dt_flags_names(std::uint64_t flags);    // BIND_NOW, STATIC_TLS, ...
std::vector<std::string> dt_flags_1_names(std::uint64_t flags);  // NOW, PIE, ...

}  // namespace xpatch::elf
