#include "libpatch/resolve/ld_so_cache.h"

#include <elf.h>

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "libpatch/elf/integers.h"

namespace xpatch::resolve {
namespace {

using elf::Int;

constexpr std::string_view kMagicOld = "ld.so-1.7.0";            // struct cache_file
constexpr std::string_view kMagicNew = "glibc-ld.so.cache1.1";   // struct cache_file_new
constexpr std::uint32_t kExtensionMagic = 0xeaa42174u;           // (uint32_t) -358342284
constexpr std::uint64_t kHwcapExtension = 1ull << 62;            // DL_CACHE_HWCAP_EXTENSION
constexpr std::uint64_t kIsaLevelMask = (1u << 10) - 1;          // DL_CACHE_HWCAP_ISA_LEVEL_MASK
constexpr std::uint32_t kTagGlibcHwcaps = 1;                     // cache_extension_tag_glibc_hwcaps

// The file structures (dl-cache.h), overlaid on the bytes.
template <std::endian E>
struct Layout {
  struct FileOld {  // struct cache_file: 11 magic bytes, padding, nlibs
    char magic[12];
    Int<std::uint32_t, E> nlibs;
  };
  struct EntryOld {  // struct file_entry
    Int<std::uint32_t, E> flags, key, value;
  };
  struct FileNew {  // struct cache_file_new
    char magic[20];
    Int<std::uint32_t, E> nlibs, len_strings;
    std::uint8_t flags;
    std::uint8_t padding[3];
    Int<std::uint32_t, E> extension_offset;
    Int<std::uint32_t, E> unused[3];
  };
  struct EntryNew {  // struct file_entry_new
    Int<std::uint32_t, E> flags, key, value, osversion;
    Int<std::uint64_t, E> hwcap;
  };
  struct Extension {  // struct cache_extension
    Int<std::uint32_t, E> magic, count;
  };
  struct Section {  // struct cache_extension_section
    Int<std::uint32_t, E> tag, flags, offset, size;
  };
  static_assert(sizeof(FileOld) == 16 && sizeof(EntryOld) == 12);
  static_assert(sizeof(FileNew) == 48 && sizeof(EntryNew) == 24);
  static_assert(sizeof(Extension) == 8 && sizeof(Section) == 16);
};

template <std::endian E>
class Parser {
  using L = Layout<E>;

 public:
  Parser(std::string_view b, const std::string& file) : b_(b), file_(file) {}

  Expected<LdSoCache> run() {
    LdSoCache c;
    const std::size_t size = b_.size();
    std::size_t new_at = 0;
    bool has_new = false;
    // A new header of the other byte order: its counts read wrong, so the
    // loader drops the file (a cache for another architecture, not damage).
    if (size > sizeof(typename L::FileNew) && b_.starts_with(kMagicNew)) {
      const unsigned char flags = static_cast<unsigned char>(b_[28]);
      if (flags != 0 && (flags & 3u) != (E == std::endian::big ? 3u : 2u)) {
        c.ignored = endian_note(flags);
        return c;
      }
    }
    // The three layouts, in the order _dl_maybe_load_ldsocache tries them.
    if (size > sizeof(typename L::FileNew) && b_.starts_with(kMagicNew) &&
        (size - sizeof(typename L::FileNew)) / sizeof(typename L::EntryNew) >= at<typename L::FileNew>(0).nlibs) {
      c.format = LdSoCache::Format::New;
      has_new = true;
    } else if (size > sizeof(typename L::FileOld) && b_.starts_with(kMagicOld) &&
               (size - sizeof(typename L::FileOld)) / sizeof(typename L::EntryOld) >=
                   at<typename L::FileOld>(0).nlibs) {
      c.format = LdSoCache::Format::Old;
      const std::uint64_t n = at<typename L::FileOld>(0).nlibs;
      // ALIGN_CACHE: the new header, 8-aligned, after the old entries.
      new_at = static_cast<std::size_t>((sizeof(typename L::FileOld) + n * sizeof(typename L::EntryOld) + 7) & ~7ull);
      if (new_at <= size && size - new_at >= sizeof(typename L::FileNew) && b_.substr(new_at).starts_with(kMagicNew)) {
        c.format = LdSoCache::Format::OldWithNew;
        has_new = true;
      }
    } else if (b_.starts_with(kMagicNew) || b_.starts_with(kMagicOld)) {
      return bad(fmt::format("the header's entry count does not fit in the file's {} bytes", size));
    } else {
      return bad(fmt::format("no \"{}\" or \"{}\" magic", kMagicNew, kMagicOld));
    }
    if (has_new) {
      const auto& h = at<typename L::FileNew>(new_at);
      // cache_file_new_matches_endian: 0 unknown, 2 little, 3 big, 1 invalid.
      const unsigned endian = h.flags & 3u;
      const unsigned want = E == std::endian::big ? 3u : 2u;
      if (h.flags != 0 && endian != want) {
        c.ignored = endian_note(h.flags);
        return c;
      }
      if (auto e = load_extensions(h); !e.empty()) return bad(e);
      read_new(h, new_at, c);
    } else {
      read_old(c);
    }
    if (!damage_.empty()) c.damage = bad(damage_).message;
    return c;
  }

 private:
  template <typename T>
  const T& at(std::size_t off) const {  // callers have checked off + sizeof(T) <= size
    return *reinterpret_cast<const T*>(b_.data() + off);
  }
  static std::string endian_note(unsigned flags) {
    return (flags & 3u) == 1 ? "its header marks it invalid"
                             : fmt::format("it is {}-endian", (flags & 3u) == 3 ? "big" : "little");
  }
  Error bad(const std::string& what) const { return Error{Error::Kind::Malformed, fmt::format("{}: ld.so.cache: {}", file_, what)}; }

  // A NUL-terminated string at base + index, inside the file.
  bool string_at(std::size_t base, std::uint64_t index, std::string& out) const {
    if (base > b_.size() || index >= b_.size() - base) return false;
    std::size_t from = base + static_cast<std::size_t>(index);
    std::size_t nul = b_.find('\0', from);
    if (nul == std::string_view::npos) return false;
    out.assign(b_.data() + from, nul - from);
    return true;
  }

  // cache_extension_load: a damaged extension directory makes the whole
  // cache unusable. Offsets are from the start of the file.
  std::string load_extensions(const typename L::FileNew& h) {
    const std::uint64_t off = h.extension_offset, size = b_.size();
    if (off == 0) return {};
    if (off % 4 != 0) return fmt::format("extension_offset {:#x} is not a multiple of 4", off);
    if (off + sizeof(typename L::Extension) > size)
      return fmt::format("extension_offset {:#x} is past the end of the file ({} bytes)", off, size);
    const auto& ext = at<typename L::Extension>(static_cast<std::size_t>(off));
    if (ext.magic != kExtensionMagic) return fmt::format("extension magic {:#x}, not {:#x}", std::uint32_t{ext.magic}, kExtensionMagic);
    const std::uint64_t table = off + sizeof(typename L::Extension);
    if (std::uint64_t{ext.count} * sizeof(typename L::Section) > size - table)
      return fmt::format("{} extension sections do not fit in the file", std::uint32_t{ext.count});
    for (std::uint32_t i = 0; i < ext.count; ++i) {
      const auto& s = at<typename L::Section>(static_cast<std::size_t>(table + std::uint64_t{i} * sizeof(typename L::Section)));
      if (std::uint64_t{s.offset} + s.size > size)
        return fmt::format("extension section {} ({:#x}+{:#x}) is past the end of the file", i, std::uint32_t{s.offset},
                           std::uint32_t{s.size});
      // cache_extension_verify: the hwcaps array must be non-empty and 4-aligned.
      if (s.tag == kTagGlibcHwcaps && s.size != 0 && s.offset % 4 == 0 && s.size % 4 == 0) {
        hwcaps_off_ = s.offset;
        hwcaps_count_ = s.size / 4;
      }
    }
    return {};
  }

  void read_new(const typename L::FileNew& h, std::size_t base, LdSoCache& c) {
    const std::size_t first = base + sizeof(typename L::FileNew);
    const std::uint32_t n = h.nlibs;
    if (n > (b_.size() - first) / sizeof(typename L::EntryNew)) {
      damage_ = fmt::format("the new header's {} entries do not fit in the file", n);
      return;
    }
    c.entries.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto& e = at<typename L::EntryNew>(first + std::size_t{i} * sizeof(typename L::EntryNew));
      CacheEntry ce;
      // String indices of the new format count from the new header.
      if (!read_entry(e, base, i, ce)) continue;
      const std::uint64_t hw = e.hwcap;
      if (((hw >> 32) & ~kIsaLevelMask) == (kHwcapExtension >> 32)) {
        // A glibc-hwcaps entry: the low 32 bits index the hwcaps section,
        // whose elements are string offsets from the start of the file.
        const std::uint32_t idx = static_cast<std::uint32_t>(hw);
        std::string level;
        if (idx >= hwcaps_count_ ||
            !string_at(0, (at<Int<std::uint32_t, E>>(static_cast<std::size_t>(hwcaps_off_) + std::size_t{idx} * 4)), level))
          continue;  // the loader gives it priority 0: never used
        ce.hwcaps = std::move(level);
      } else if (hw != 0) {
        ce.legacy_hwcap = true;
      }
      c.entries.push_back(std::move(ce));
    }
  }

  void read_old(LdSoCache& c) {
    const std::uint32_t n = at<typename L::FileOld>(0).nlibs;
    const std::size_t strings = sizeof(typename L::FileOld) + std::size_t{n} * sizeof(typename L::EntryOld);
    c.entries.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto& e = at<typename L::EntryOld>(sizeof(typename L::FileOld) + std::size_t{i} * sizeof(typename L::EntryOld));
      CacheEntry ce;
      if (read_entry(e, strings, i, ce)) c.entries.push_back(std::move(ce));
    }
  }

  // An entry's flags, name and path, its strings counted from `strings`
  // (either format's entry); false, with a note, when they are not strings.
  template <typename Entry>
  bool read_entry(const Entry& e, std::size_t strings, std::uint32_t i, CacheEntry& ce) {
    ce.flags = static_cast<std::int32_t>(std::uint32_t{e.flags});
    if (string_at(strings, e.key, ce.name) && string_at(strings, e.value, ce.path)) return true;
    note(fmt::format("entry {}: key {:#x} or value {:#x} is not a string in the file", i, std::uint32_t{e.key},
                     std::uint32_t{e.value}));
    return false;
  }

  void note(std::string s) {
    if (damage_.empty()) damage_ = std::move(s);
  }

  std::string_view b_;
  const std::string& file_;
  std::uint64_t hwcaps_off_ = 0;
  std::uint32_t hwcaps_count_ = 0;
  std::string damage_;
};

}  // namespace

Expected<LdSoCache> parse_ld_so_cache(std::string_view bytes, bool big_endian, const std::string& file) {
  return big_endian ? Parser<std::endian::big>(bytes, file).run() : Parser<std::endian::little>(bytes, file).run();
}

bool cache_flags_match(std::int32_t flags, std::uint16_t machine, unsigned elf_class, std::uint32_t e_flags) noexcept {
  constexpr std::int32_t kLibc6 = 0x0003;  // FLAG_ELF_LIBC6
  auto exact = [&](std::int32_t arch_flag) { return flags == (arch_flag | kLibc6); };
  const bool is64 = elf_class == 64;
  switch (machine) {
    case EM_X86_64: return exact(is64 ? 0x0300 : 0x0800);  // FLAG_X8664_LIB64, FLAG_X8664_LIBX32
    case EM_AARCH64: return is64 && exact(0x0a00);          // FLAG_AARCH64_LIB64
    case EM_PPC64: return exact(0x0500);                    // FLAG_POWERPC_LIB64
    case EM_SPARCV9: return exact(0x0100);                  // FLAG_SPARC_LIB64
    case EM_IA_64: return exact(0x0200);                    // FLAG_IA64_LIB64
    case EM_S390:
      if (is64) return exact(0x0400);  // FLAG_S390_LIB64
      break;
    case EM_RISCV:  // FLAG_RISCV_FLOAT_ABI_DOUBLE, FLAG_RISCV_FLOAT_ABI_SOFT
      return exact((e_flags & EF_RISCV_FLOAT_ABI) == EF_RISCV_FLOAT_ABI_DOUBLE ? 0x1000 : 0x0f00);
    case EM_ARM:  // FLAG_ARM_LIBHF or FLAG_ARM_LIBSF, or an unmarked libc6 entry
      return flags == kLibc6 || exact((e_flags & EF_ARM_ABI_FLOAT_HARD) ? 0x0900 : 0x0b00);
    default: break;
  }
  return flags == 1 || flags == kLibc6;  // the generic _dl_cache_check_flags
}

}  // namespace xpatch::resolve
