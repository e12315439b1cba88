// What a binary was built for: architecture, ABI details, libc family, and
// the GNU tuple and loader name that follow from them.
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
// Musl): "arm-linux-gnueabihf", "aarch64-linux-musl"; nullopt when unknown.
std::optional<std::string> tuple_for(const ElfFile& f, Libc libc);

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
};
// nullopt for a tuple this table does not know (or whose binaries the ELF
// header alone cannot tell apart, like MIPS n32).
std::optional<TupleInfo> parse_tuple(std::string_view tuple);

std::string_view machine_name(std::uint16_t e_machine) noexcept;
std::string_view segment_type_name(std::uint32_t p_type) noexcept;  // "" when unknown
std::string_view dynamic_tag_name(std::uint64_t d_tag) noexcept;    // "" when unknown
std::string_view elf_type_name(std::uint16_t e_type) noexcept;      // "" when unknown
// Bits by the names readelf uses; unknown bits as hex.
std::vector<std::string> dt_flags_names(std::uint64_t flags);    // BIND_NOW, STATIC_TLS, ...
std::vector<std::string> dt_flags_1_names(std::uint64_t flags);  // NOW, PIE, ...

}  // namespace xpatch::elf
