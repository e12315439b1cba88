// Bounds-checked readers of the dynamic tables (see tables.h). Every offset
// and count comes from the file, so each is checked with overflow-safe
// arithmetic against the buffer before it is used, and every count is
// capped by what the buffer could hold.

#include "libpatch/rewrite/tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace xpatch::rewrite {
namespace {

[[noreturn]] void malformed(const elf::ElfFile& f, std::string_view structure, const std::string& why) {
  throw ErrorException{{Error::Kind::Malformed, fmt::format("{}: {}: {}", f.path, structure, why)}};
}

std::optional<std::uint64_t> dyn_value(const elf::ElfFile& f, std::uint64_t tag) {
  for (const elf::DynEntry& d : f.dynamic)
    if (d.tag == tag) return d.value;
  return std::nullopt;
}

template <typename E>
class Tables {
 public:
  Tables(const elf::ElfFile& f, std::span<const std::byte> b) : f_(f), b_(b) {}

  template <typename T>
  T at(std::uint64_t off, std::string_view what) const {
    std::uint64_t end = 0;
    if (__builtin_add_overflow(off, sizeof(T), &end) || end > b_.size())
      malformed(f_, what, fmt::format("{} bytes at offset {:#x} go past the end of the file (size {:#x})", sizeof(T),
                                      off, b_.size()));
    T v;
    std::memcpy(&v, b_.data() + off, sizeof v);
    return v;
  }
  std::uint64_t offset_of(std::uint64_t vaddr, std::uint64_t size, std::string_view what) const {
    auto off = f_.vaddr_to_offset(vaddr, size);
    if (!off)
      malformed(f_, what, fmt::format("address {:#x} ({:#x} bytes) is not inside the file image of any PT_LOAD", vaddr,
                                      size));
    return *off;
  }
  static std::uint64_t add(const elf::ElfFile& f, std::uint64_t a, std::uint64_t b, std::string_view what) {
    std::uint64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) malformed(f, what, fmt::format("offset {:#x} + {:#x} overflows", a, b));
    return r;
  }

  // As the loader counts them: DT_HASH's nchain, else the end of
  // DT_GNU_HASH's last chain. Symbols no hash covers may follow the hashed
  // ones (a relocation names them by index), and only a SHT_DYNSYM section
  // at DT_SYMTAB says so: it may add to DT_GNU_HASH's count, never take
  // from it (the structure map reports a section that disagrees). Without
  // either hash, the section alone.
  std::uint64_t symbol_count(std::uint64_t symtab) const {
    const std::uint64_t section = dynsym_section_count(symtab);
    if (auto hash = dyn_value(f_, DT_HASH)) {
      // s390x (64-bit) is the one Linux target whose SysV hash words are 8 bytes.
      if (f_.header.machine == EM_S390 && E::is64)
        return at<typename E::Addr>(offset_of(*hash + 8, 8, "DT_HASH"), "DT_HASH");
      return at<typename E::Word>(offset_of(*hash + 4, 4, "DT_HASH"), "DT_HASH");
    }
    if (auto gnu = dyn_value(f_, DT_GNU_HASH)) return std::max(gnu_hash(*gnu).symbols, section);
    return section;
  }
  std::uint64_t dynsym_section_count(std::uint64_t symtab) const {
    for (const elf::Section& s : f_.sections)
      if (s.type == SHT_DYNSYM && s.addr == symtab && s.size) return s.size / sizeof(elf::Sym<E>);
    return 0;
  }

  // DT_GNU_HASH's layout: its size in bytes, and the number of symbols it
  // covers (the end of the last chain; symoffset when every bucket is empty).
  struct GnuHash {
    std::uint64_t offset = 0, size = 0, symbols = 0;
  };
  GnuHash gnu_hash(std::uint64_t vaddr) const {
    const std::uint64_t h = offset_of(vaddr, 16, "DT_GNU_HASH");
    const std::uint64_t nbuckets = at<typename E::Word>(h, "DT_GNU_HASH");
    const std::uint64_t symoffset = at<typename E::Word>(h + 4, "DT_GNU_HASH");
    const std::uint64_t bloom = at<typename E::Word>(h + 8, "DT_GNU_HASH");
    const std::uint64_t buckets = h + 16 + bloom * sizeof(typename E::Addr);  // 32-bit counts: no overflow
    if (nbuckets > b_.size() / 4) malformed(f_, "DT_GNU_HASH", fmt::format("{} buckets", nbuckets));
    std::uint64_t last = 0;
    for (std::uint64_t i = 0; i < nbuckets; ++i)
      last = std::max<std::uint64_t>(last, at<typename E::Word>(buckets + 4 * i, "DT_GNU_HASH bucket"));
    const std::uint64_t chains = buckets + 4 * nbuckets;
    if (last < symoffset) return {h, chains - h, symoffset};
    for (std::uint64_t i = last;; ++i) {
      if (i - symoffset > b_.size() / 4) malformed(f_, "DT_GNU_HASH", "a hash chain without an end");
      if (at<typename E::Word>(chains + 4 * (i - symoffset), "DT_GNU_HASH chain") & 1)
        return {h, chains + 4 * (i + 1 - symoffset) - h, i + 1};
    }
  }

  // The byte ranges of the tables the dynamic array points at.
  DynamicTables ranges() const {
    DynamicTables t;
    const std::uint64_t nsyms = dyn_value(f_, DT_SYMTAB) ? symbol_count(*dyn_value(f_, DT_SYMTAB)) : 0;
    if (nsyms > b_.size() / sizeof(elf::Sym<E>)) malformed(f_, "DT_SYMTAB", fmt::format("{} symbols", nsyms));
    if (auto v = dyn_value(f_, DT_SYMTAB); v && nsyms)
      t.symbols = {offset_of(*v, nsyms * sizeof(elf::Sym<E>), "DT_SYMTAB"), nsyms * sizeof(elf::Sym<E>)};
    if (auto v = dyn_value(f_, DT_HASH)) {
      // nbucket, nchain, then the buckets and chains, all of one word size.
      const std::uint64_t word = f_.header.machine == EM_S390 && E::is64 ? 8 : 4;
      const std::uint64_t h = offset_of(*v, 2 * word, "DT_HASH");
      auto count = [&](std::uint64_t o) -> std::uint64_t {
        return word == 8 ? std::uint64_t{at<typename E::Addr>(o, "DT_HASH")} : std::uint64_t{at<typename E::Word>(o, "DT_HASH")};
      };
      const std::uint64_t nbucket = count(h), nchain = count(h + word);
      if (nbucket > b_.size() / word || nchain > b_.size() / word)
        malformed(f_, "DT_HASH", fmt::format("nbucket {} and nchain {} do not fit the file", nbucket, nchain));
      const std::uint64_t size = (2 + nbucket + nchain) * word;
      t.hash = {offset_of(*v, size, "DT_HASH"), size};
    }
    if (auto v = dyn_value(f_, DT_GNU_HASH)) {
      const GnuHash g = gnu_hash(*v);
      t.gnu_hash = {g.offset, g.size};
    }
    if (auto v = dyn_value(f_, DT_VERSYM); v && nsyms) t.versym = {offset_of(*v, nsyms * 2, "DT_VERSYM"), nsyms * 2};
    for (const VersionNeedEntry& e : version_needs()) {
      t.version_needs.push_back({e.offset, sizeof(elf::Verneed<E>)});
      for (std::uint64_t a : e.aux_offsets) t.version_needs.push_back({a, sizeof(elf::Vernaux<E>)});
    }
    if (auto v = dyn_value(f_, DT_VERDEF)) {
      const std::uint64_t num = dyn_value(f_, DT_VERDEFNUM).value_or(0);
      if (num > b_.size() / sizeof(elf::Verdef<E>)) malformed(f_, "DT_VERDEFNUM", fmt::format("{} entries", num));
      std::uint64_t o = num ? offset_of(*v, sizeof(elf::Verdef<E>), "DT_VERDEF") : 0;
      for (std::uint64_t i = 0; i < num; ++i) {
        auto vd = at<elf::Verdef<E>>(o, "DT_VERDEF");
        t.version_defs.push_back({o, sizeof vd});
        if (vd.vd_cnt > b_.size() / sizeof(elf::Verdaux<E>))
          malformed(f_, "DT_VERDEF", fmt::format("vd_cnt {} of entry {}", std::uint64_t{vd.vd_cnt}, i));
        std::uint64_t a = add(f_, o, vd.vd_aux, "DT_VERDEF vd_aux");
        for (std::uint64_t j = 0; j < vd.vd_cnt; ++j) {
          auto aux = at<elf::Verdaux<E>>(a, "DT_VERDEF auxiliary entry");
          t.version_defs.push_back({a, sizeof aux});
          if (aux.vda_next == 0) break;
          a = add(f_, a, aux.vda_next, "DT_VERDEF vda_next");
        }
        if (vd.vd_next == 0) {
          if (i + 1 < num)
            malformed(f_, "DT_VERDEF", fmt::format("the list ends after {} of {} entries (DT_VERDEFNUM)", i + 1, num));
          break;
        }
        o = add(f_, o, vd.vd_next, "DT_VERDEF vd_next");
      }
    }
    // Each note of each PT_NOTE, as far as they tile it (the segment owns
    // the bytes either way; a note that does not parse ends the list).
    for (const elf::Segment& seg : f_.segments) {
      if (seg.type != PT_NOTE || !seg.filesz) continue;
      try {
        walk_notes(seg.offset, seg.filesz, seg.align, [&](std::uint64_t o, std::uint64_t n, auto&&...) {
          t.notes.push_back({o, n});
        });
      } catch (const ErrorException&) {
      }
    }
    return t;
  }

  std::vector<DynSymbol> symbols() const {
    std::vector<DynSymbol> out;
    auto symtab = dyn_value(f_, DT_SYMTAB);
    if (!symtab) return out;
    const std::uint64_t n = symbol_count(*symtab);
    if (n > b_.size() / sizeof(elf::Sym<E>)) malformed(f_, "DT_SYMTAB", fmt::format("{} symbols", n));
    const std::uint64_t off = n ? offset_of(*symtab, n * sizeof(elf::Sym<E>), "DT_SYMTAB") : 0;
    out.reserve(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t o = off + i * sizeof(elf::Sym<E>);
      auto s = at<elf::Sym<E>>(o, "DT_SYMTAB");
      out.push_back({o, s.st_name, s.st_value, s.st_size, s.st_info, s.st_other, s.st_shndx});
    }
    return out;
  }

  std::vector<VersionNeedEntry> version_needs() const {
    std::vector<VersionNeedEntry> out;
    auto verneed = dyn_value(f_, DT_VERNEED);
    if (!verneed) return out;
    const std::uint64_t num = dyn_value(f_, DT_VERNEEDNUM).value_or(0);
    if (num > b_.size() / sizeof(elf::Verneed<E>)) malformed(f_, "DT_VERNEEDNUM", fmt::format("{} entries", num));
    std::uint64_t at_off = num ? offset_of(*verneed, sizeof(elf::Verneed<E>), "DT_VERNEED") : 0;
    for (std::uint64_t i = 0; i < num; ++i) {
      auto vn = at<elf::Verneed<E>>(at_off, "DT_VERNEED");
      VersionNeedEntry e{at_off, vn.vn_version, vn.vn_file, {}, {}};
      std::uint64_t a = add(f_, at_off, vn.vn_aux, "DT_VERNEED vn_aux");
      if (vn.vn_cnt > b_.size() / sizeof(elf::Vernaux<E>))
        malformed(f_, "DT_VERNEED", fmt::format("vn_cnt {}", std::uint64_t{vn.vn_cnt}));
      for (std::uint64_t j = 0; j < vn.vn_cnt; ++j) {
        auto aux = at<elf::Vernaux<E>>(a, "DT_VERNEED auxiliary entry");
        e.aux.push_back({aux.vna_hash, aux.vna_flags, aux.vna_other, aux.vna_name});
        e.aux_offsets.push_back(a);
        if (j + 1 < vn.vn_cnt && aux.vna_next == 0)
          malformed(f_, "DT_VERNEED", fmt::format("entry {} ends its auxiliary list after {} of {}", i, j + 1,
                                                  std::uint64_t{vn.vn_cnt}));
        a = add(f_, a, aux.vna_next, "DT_VERNEED vna_next");
      }
      out.push_back(std::move(e));
      if (i + 1 < num && vn.vn_next == 0)
        malformed(f_, "DT_VERNEED", fmt::format("the list ends after {} of {} entries (DT_VERNEEDNUM)", i + 1, num));
      at_off = add(f_, at_off, vn.vn_next, "DT_VERNEED vn_next");
    }
    return out;
  }

  // Calls fn(offset, size, header, name offset, descriptor offset,
  // descriptor end) for each note that tiles [offset, offset + size).
  template <typename Fn>
  void walk_notes(std::uint64_t offset, std::uint64_t size, std::uint64_t align, Fn&& fn) const {
    const std::uint64_t pad = align == 8 ? 8 : 4;
    const std::uint64_t end = add(f_, offset, size, "notes");
    if (end > b_.size()) malformed(f_, "notes", fmt::format("{:#x} bytes at {:#x} go past the end of the file", size, offset));
    auto up = [&](std::uint64_t v) { return add(f_, v, pad - 1, "notes") / pad * pad; };
    for (std::uint64_t p = offset; p < end;) {
      if (end - p < sizeof(elf::Nhdr<E>))
        malformed(f_, "notes", fmt::format("{} bytes at {:#x} are too few for a note header", end - p, p));
      auto h = at<elf::Nhdr<E>>(p, "notes");
      const std::uint64_t name_at = p + sizeof(elf::Nhdr<E>);
      const std::uint64_t desc_at = up(add(f_, name_at, h.n_namesz, "note name"));
      const std::uint64_t desc_end = add(f_, desc_at, h.n_descsz, "note descriptor");
      if (desc_at > end || desc_end > end)
        malformed(f_, "notes", fmt::format("the note at {:#x} (n_namesz {}, n_descsz {}) goes past the end at {:#x}", p,
                                           std::uint64_t{h.n_namesz}, std::uint64_t{h.n_descsz}, end));
      const std::uint64_t next = std::min(up(desc_end), end);
      fn(p, next - p, h, name_at, desc_at, desc_end);
      p = next;
    }
  }

  std::vector<Note> notes(std::uint64_t offset, std::uint64_t size, std::uint64_t align) const {
    std::vector<Note> out;
    walk_notes(offset, size, align,
               [&](std::uint64_t, std::uint64_t, const elf::Nhdr<E>& h, std::uint64_t name_at, std::uint64_t desc_at,
                   std::uint64_t desc_end) {
                 Note n;
                 n.type = h.n_type;
                 const char* name = reinterpret_cast<const char*>(b_.data() + name_at);
                 n.name.assign(name, ::strnlen(name, h.n_namesz));
                 n.desc.assign(b_.begin() + static_cast<std::ptrdiff_t>(desc_at),
                               b_.begin() + static_cast<std::ptrdiff_t>(desc_end));
                 out.push_back(std::move(n));
               });
    return out;
  }

 private:
  const elf::ElfFile& f_;
  std::span<const std::byte> b_;
};

template <typename T, typename Fn>
Expected<T> guarded(const elf::ElfFile& f, Fn&& fn) {
  try {
    return elf::dispatch(f.header.variant, std::forward<Fn>(fn));
  } catch (ErrorException& e) {
    return std::move(e.error);
  }
}

}  // namespace

Expected<std::vector<DynSymbol>> read_dynamic_symbols(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  return guarded<std::vector<DynSymbol>>(f, [&](auto e) { return Tables<decltype(e)>(f, bytes).symbols(); });
}

Expected<std::vector<VersionNeedEntry>> read_version_needs(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  return guarded<std::vector<VersionNeedEntry>>(f, [&](auto e) { return Tables<decltype(e)>(f, bytes).version_needs(); });
}

Expected<std::vector<Note>> read_notes(const elf::ElfFile& f, std::span<const std::byte> bytes, std::uint64_t offset,
                                       std::uint64_t size, std::uint64_t align) {
  return guarded<std::vector<Note>>(
      f, [&](auto e) { return Tables<decltype(e)>(f, bytes).notes(offset, size, align); });
}

Expected<DynamicTables> dynamic_tables(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  return guarded<DynamicTables>(f, [&](auto e) { return Tables<decltype(e)>(f, bytes).ranges(); });
}

std::optional<std::string> dynamic_string(const elf::ElfFile& f, std::span<const std::byte> bytes, std::uint64_t index) {
  if (index >= f.dynstr_size || f.dynstr_offset > bytes.size() || f.dynstr_size > bytes.size() - f.dynstr_offset)
    return std::nullopt;
  const char* p = reinterpret_cast<const char*>(bytes.data() + f.dynstr_offset + index);
  const std::size_t n = ::strnlen(p, f.dynstr_size - index);
  if (n == f.dynstr_size - index) return std::nullopt;
  return std::string(p, n);
}

}  // namespace xpatch::rewrite
