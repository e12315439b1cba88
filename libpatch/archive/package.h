// A package archive read as a resolve::Layer, without unpacking it: .deb
// (ar holding control.tar.* and data.tar.*), .pkg.tar.{zst,xz,gz}, Alpine
// .apk (concatenated gzip'd tar streams) and .rpm (its cpio payload), told
// apart by their content, not their names (libarchive). ELF members keep
// only the bytes a check reads (archive/keep.h) in one memfd per package,
// each member at its own offset (LayerEntry::offset), the rest holes; other
// files keep their size and no bytes. Nothing is written to disk.
#pragma once

#include <cstdint>
#include <string>

#include "libpatch/elf/error.h"
#include "libpatch/resolve/layer.h"

namespace xpatch::archive {

// Bounds against a hostile archive. Exceeding one is an Error (Malformed)
// naming the archive, the member and the value: time and memory stay
// bounded whatever the archive declares.
struct Limits {
  std::uint64_t max_members = 1'000'000;           // entries of the payload
  std::uint64_t max_member_size = 16ull << 30;     // one member's declared size
  std::uint64_t prefix = 8ull << 20;               // bytes of an ELF member held while it streams
  std::uint64_t max_kept_member = 64ull << 20;     // bytes an ELF member keeps (its tables)
  std::uint64_t max_kept_total = 256ull << 20;     // bytes every member keeps together
  std::uint64_t max_expansion = 1000;              // unpacked bytes per archive byte (a zip bomb)
  std::uint64_t expansion_floor = 64ull << 20;     // unpacked bytes always allowed (small archives)
  unsigned max_passes = 5;                         // reads of the archive for tables behind the stream
  std::uint64_t max_metadata = 1ull << 20;         // a control file / .PKGINFO
  // Keep every byte of the ELF members, not only what a check reads:
  // retarget's planner reads whole files (check --retarget-preview).
  // max_kept_member and max_kept_total still bound them.
  bool whole_elf = false;
};

// What the reader did, for benchmarks and tests.
struct ReadStats {
  unsigned passes = 0;              // reads of the archive (1 unless a member's tables lay behind its prefix)
  std::uint64_t kept_bytes = 0;     // bytes held in memfds at the end
  std::uint64_t peak_kept_bytes = 0;
  std::uint64_t elf_members = 0;
};

Expected<resolve::Layer> read_package(const std::string& path, const Limits& limits = {}, ReadStats* stats = nullptr);

}  // namespace xpatch::archive
