// The real ld.so.cache, read the way glibc's loader reads it
// (elf/dl-cache.c: _dl_maybe_load_ldsocache, search_cache; layouts in
// sysdeps/generic/dl-cache.h). Three layouts: the new format
// ("glibc-ld.so.cache1.1" at offset 0), the old format ("ld.so-1.7.0")
// alone, and the old format with the new one inside it. Every offset, count
// and string is bounds-checked against the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libpatch/elf/error.h"

namespace xpatch::resolve {

struct CacheEntry {
  std::int32_t flags = 0;  // FLAG_ELF_LIBC6 | the architecture's FLAG_*_LIB64, ...
  std::string name;        // the key: a soname
  std::string path;        // the value: where ldconfig found it
  std::string hwcaps;      // a glibc-hwcaps subdirectory entry ("x86-64-v3"); "" for a plain one
  bool legacy_hwcap = false;  // a pre-2.37 hwcap/platform entry: glibc 2.37+ skips it
  bool operator==(const CacheEntry&) const = default;
};

struct LdSoCache {
  enum class Format { New, OldWithNew, Old };
  Format format = Format::New;
  // Non-empty when this loader ignores the file although it parses: the
  // new header says another byte order ("big-endian").
  std::string ignored;
  // Non-empty when some entries point outside the file: the loader skips
  // them and uses the rest (the message names the first).
  std::string damage;
  std::vector<CacheEntry> entries;  // in file order: ldconfig sorts them by name
};

constexpr const char* cache_format_name(LdSoCache::Format f) noexcept {
  return f == LdSoCache::Format::New ? "glibc-ld.so.cache1.1"
         : f == LdSoCache::Format::Old ? "ld.so-1.7.0"
                                       : "ld.so-1.7.0 with glibc-ld.so.cache1.1 inside";
}

// Parses the bytes of a cache file as a loader of the given byte order
// does. `file` names it in messages. A file the loader would not load is
// Error::Kind::Malformed, naming the structure and the value.
Expected<LdSoCache> parse_ld_so_cache(std::string_view bytes, bool big_endian, const std::string& file);

// _dl_cache_check_flags: whether the loader for this architecture
// (e_machine, ELF class, e_flags) uses an entry with these flags.
bool cache_flags_match(std::int32_t flags, std::uint16_t machine, unsigned elf_class, std::uint32_t e_flags) noexcept;

}  // namespace xpatch::resolve
