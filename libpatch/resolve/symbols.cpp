#include "libpatch/resolve/symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "libpatch/elf/bytes.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/paths.h"

namespace xpatch::resolve {

// s390x and Alpha use 8-byte DT_HASH words (their Elf_Symndx is 64-bit).
unsigned dt_hash_word_size(std::uint16_t machine, unsigned elf_class) noexcept {
  return (machine == EM_S390 && elf_class == 64) || machine == EM_ALPHA ? 8 : 4;
}

void DynTags::add(std::uint64_t t, std::uint64_t value) {
  if (t < DT_NUM) {
    if (!tag[t]) tag[t] = value;
    return;
  }
  switch (t) {
    case DT_GNU_HASH: gnu_hash = value; break;
    case DT_VERSYM: versym = value; break;
    case DT_VERNEED: verneed = value; break;
    case DT_VERNEEDNUM: verneednum = value; break;
    case DT_VERDEF: verdef = value; break;
    case DT_VERDEFNUM: verdefnum = value; break;
    case DT_FLAGS_1: flags_1 = value; break;
    case DT_RELACOUNT: relacount = value; break;
    case DT_RELCOUNT: relcount = value; break;
    default: break;
  }
}

std::vector<DynRelocs> dynamic_relocs(std::span<const std::optional<std::uint64_t>> tag, std::uint64_t relacount,
                                      std::uint64_t relcount, bool is64) {
  auto at = [&](std::size_t t) { return t < tag.size() ? tag[t] : std::nullopt; };
  const bool pltrela = at(DT_PLTREL).value_or(is64 ? DT_RELA : DT_REL) == DT_RELA;
  std::uint64_t rela_size = at(DT_RELASZ).value_or(0), rel_size = at(DT_RELSZ).value_or(0);
  const std::uint64_t plt_size = at(DT_PLTRELSZ).value_or(0);
  if (at(DT_JMPREL)) {
    std::uint64_t& sz = pltrela ? rela_size : rel_size;
    const std::optional<std::uint64_t> start = pltrela ? at(DT_RELA) : at(DT_REL);
    std::uint64_t end = 0;
    if (start && !__builtin_add_overflow(*start, sz, &end) && end == *at(DT_JMPREL) + plt_size && sz >= plt_size &&
        *start <= *at(DT_JMPREL))
      sz -= plt_size;
  }
  std::vector<DynRelocs> out;
  if (at(DT_RELA) && rela_size) out.push_back({*at(DT_RELA), rela_size, relacount, true, false, "DT_RELA"});
  if (at(DT_REL) && rel_size) out.push_back({*at(DT_REL), rel_size, relcount, false, false, "DT_REL"});
  if (at(DT_JMPREL) && plt_size) out.push_back({*at(DT_JMPREL), plt_size, 0, pltrela, true, "DT_JMPREL"});
  return out;
}

const DynSymbols::Version* DynSymbols::version(std::uint16_t index) const noexcept {
  if (index >= version_at.size() || version_at[index] == 0) return nullptr;
  return &versions[version_at[index] - 1u];
}

namespace {

using elf::Bytes;
using elf::fail;

}  // namespace

// The open objects a tree's lookups keep for later trees: at most
// kObjects, and at most kBytes of table bytes in all (an object whose reads
// grew past kBytes / 4 is not kept).
struct OpenCache {
  static constexpr std::size_t kObjects = 64;
  static constexpr std::uint64_t kBytes = 8u << 20;
  std::vector<std::shared_ptr<OpenObject>> objects;  // least recently used first

  std::shared_ptr<OpenObject> take(const std::string& path) {
    for (auto it = objects.begin(); it != objects.end(); ++it)
      if ((*it)->name == path) {
        auto o = std::move(*it);
        objects.erase(it);
        return o;
      }
    return nullptr;
  }
  void put(std::shared_ptr<OpenObject> o) {
    if (o->bytes.cached_bytes() > kBytes / 4) return;
    objects.push_back(std::move(o));
    std::uint64_t total = 0;
    for (const auto& x : objects) total += x->bytes.cached_bytes();
    while (objects.size() > kObjects || total > kBytes) {
      total -= objects.front()->bytes.cached_bytes();
      objects.erase(objects.begin());
    }
  }
};

namespace {

// Opens `canonical` in the root into `out` and, with `parsed`, parses its
// headers. Read 16 KiB at a time, for lookups too: they go round the hash
// table, the symbols, their names and versions, and fewer, larger chunks
// cost fewer reads and shorter chunk searches than 4 KiB ones (callgrind
// on a copy of /usr: 2% fewer instructions, 8% fewer preads). The
// descriptor stays open in `out` for the table reads that follow.
std::optional<Error> open_object(const Root& root, const std::string& canonical, std::shared_ptr<OpenObject>& out,
                                 elf::ElfFile* parsed) {
  int fd = root.open_file(canonical);
  if (fd < 0) return Error{Error::Kind::Io, fmt::format("{}: cannot open: {}", canonical, std::strerror(-fd))};
  auto f = OpenFile::adopt(fd, canonical);
  if (!f) return f.error();
  out = std::make_shared<OpenObject>(canonical, std::move(*f), 16384);
  if (parsed) {
    auto p = elf::read_elf_from(out->bytes, {.sections = false});
    if (!p) return p.error();
    *parsed = std::move(*p);
  }
  return std::nullopt;
}

// The file range [first, second) a lookup in `d` reads: its hash table,
// symbols, names and versions. The symbol count is DT_HASH's nchain, or
// for DT_GNU_HASH how many symbols fit before the next table (linkers put
// .dynsym right before .dynstr or the hash table). nullopt when that cannot
// be told, or the range is large or mostly other bytes. Only what is read
// at once depends on it: a lookup outside it reads the file, as before.
std::optional<std::pair<std::uint64_t, std::uint64_t>> table_span(const DynSymbols& d) {
  constexpr std::uint64_t kMax = 16u << 20;
  if (!d.has_hash || d.strsz == 0) return std::nullopt;
  const std::uint64_t symsize = d.elf_class == 64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
  const std::uint64_t word = d.elf_class == 64 ? 8 : 4;
  std::uint64_t nsyms = d.nchain;
  if (d.gnu_hash) {
    std::uint64_t next = ~std::uint64_t{0};
    for (std::uint64_t t : {d.strtab, d.hash, d.has_versym ? d.versym : 0})
      if (t > d.symtab) next = std::min(next, t);
    if (next == ~std::uint64_t{0}) return std::nullopt;
    nsyms = (next - d.symtab) / symsize;
  }
  if (nsyms > kMax) return std::nullopt;  // so the products below cannot overflow
  std::uint64_t hash_len = 0;
  if (d.gnu_hash)
    hash_len = 16 + std::uint64_t{d.bloom_size} * word + std::min<std::uint64_t>(d.nbuckets, kMax) * 4 +
               (nsyms > d.symoffset ? nsyms - d.symoffset : 0) * 4;
  else
    hash_len = (2 + std::min<std::uint64_t>(d.nbuckets, kMax) + nsyms) * dt_hash_word_size(d.machine, d.elf_class);
  struct Part {
    std::uint64_t off, len;
  };
  const Part parts[] = {{d.hash, std::min(hash_len, d.hash_limit)},
                        {d.symtab, std::min(nsyms * symsize, d.symtab_limit)},
                        {d.strtab, d.strsz},
                        {d.versym, d.has_versym ? std::min(nsyms * 2, d.versym_limit) : 0}};
  std::uint64_t lo = ~std::uint64_t{0}, hi = 0, useful = 0;
  for (const Part& p : parts) {
    if (p.len == 0) continue;
    lo = std::min(lo, p.off);
    hi = std::max(hi, p.off + p.len);  // each lies inside a PT_LOAD's file image (the reader checked)
    useful += p.len;
  }
  if (hi <= lo || hi - lo > kMax || hi - lo > useful + useful / 4 + 65536) return std::nullopt;
  return std::make_pair(lo, hi);
}

std::uint32_t gnu_hash(std::string_view s) {
  std::uint32_t h = 5381;
  for (unsigned char c : s) h = h * 33 + c;
  return h;
}
std::uint32_t sysv_hash(std::string_view s) {
  std::uint32_t h = 0;
  for (unsigned char c : s) {
    h = (h << 4) + c;
    std::uint32_t g = h & 0xf0000000;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  return h;
}

unsigned sysv_word(std::uint16_t machine, unsigned elf_class) { return dt_hash_word_size(machine, elf_class); }

// The symbol at `idx` of DT_SYMTAB, and its DT_VERSYM entry (0 without
// one), each checked against the bytes its PT_LOAD maps. `who` says which
// structure gave the index, for the message.
template <typename E>
const elf::Sym<E>& sym_at(const Bytes& in, const DynSymbols& d, std::uint64_t idx, std::string_view who) {
  std::uint64_t at = 0;
  if (__builtin_mul_overflow(idx, sizeof(elf::Sym<E>), &at) || d.symtab_limit < sizeof(elf::Sym<E>) ||
      at > d.symtab_limit - sizeof(elf::Sym<E>))
    fail(in.name(), who, fmt::format("symbol index {} is outside DT_SYMTAB", idx));
  return in.template at<elf::Sym<E>>(d.symtab + at, "DT_SYMTAB");
}
template <typename E>
std::uint16_t versym_at(const Bytes& in, const DynSymbols& d, std::uint64_t idx) {
  if (!d.has_versym) return 0;
  if (d.versym_limit < 2 || idx > (d.versym_limit - 2) / 2)
    fail(in.name(), "DT_VERSYM", fmt::format("symbol index {} is outside the table", idx));
  return in.template at<typename E::Half>(d.versym + idx * 2, "DT_VERSYM");
}

// ---------------------------------------------------------------------------
// Reading one object's facts.

template <typename E>
class Reader {
 public:
  Reader(const Bytes& in, const elf::ElfFile& f, DynSymbols& d) : in_(in), f_(f), d_(d) {}

  void run() {
    DynTags dt;
    for (const elf::DynEntry& e : f_.dynamic) dt.add(e.tag, e.value);
    const auto& tag = dt.tag;
    const auto &gnu_hash = dt.gnu_hash, &versym = dt.versym, &verneed = dt.verneed, &verneednum = dt.verneednum,
               &verdef = dt.verdef, &verdefnum = dt.verdefnum, &flags_1 = dt.flags_1, &relacount = dt.relacount,
               &relcount = dt.relcount;
    const std::uint64_t flags = tag[DT_FLAGS].value_or(0);
    d_.bind_now = tag[DT_BIND_NOW] || (flags & DF_BIND_NOW) || (flags_1.value_or(0) & DF_1_NOW);
    d_.symbolic = tag[DT_SYMBOLIC] || (flags & DF_SYMBOLIC);
    if (!tag[DT_SYMTAB]) return;  // nothing to look up, nothing to define

    d_.strtab = f_.dynstr_offset;
    d_.strsz = f_.dynstr_size;
    d_.symtab = map(*tag[DT_SYMTAB], sizeof(elf::Sym<E>), "DT_SYMTAB", &d_.symtab_limit);
    if (tag[DT_SYMENT] && *tag[DT_SYMENT] != sizeof(elf::Sym<E>))
      fail(f_.path, "DT_SYMENT", fmt::format("is {}, expected {}", *tag[DT_SYMENT], sizeof(elf::Sym<E>)));
    if (gnu_hash) {
      d_.gnu_hash = true;
      d_.has_hash = true;
      d_.hash = map(*gnu_hash, 16, "DT_GNU_HASH", &d_.hash_limit);
      d_.nbuckets = in_.template at<typename E::Word>(d_.hash, "DT_GNU_HASH nbuckets");
      d_.symoffset = in_.template at<typename E::Word>(d_.hash + 4, "DT_GNU_HASH symoffset");
      d_.bloom_size = in_.template at<typename E::Word>(d_.hash + 8, "DT_GNU_HASH bloom_size");
      d_.bloom_shift = in_.template at<typename E::Word>(d_.hash + 12, "DT_GNU_HASH bloom_shift");
    } else if (tag[DT_HASH]) {
      d_.has_hash = true;
      const unsigned w = sysv_word(f_.header.machine, E::is64 ? 64 : 32);
      d_.hash = map(*tag[DT_HASH], 2 * w, "DT_HASH", &d_.hash_limit);
      if (w == 4) {
        d_.nbuckets = in_.template at<typename E::Word>(d_.hash, "DT_HASH nbucket");
        d_.nchain = in_.template at<typename E::Word>(d_.hash + 4, "DT_HASH nchain");
      } else {
        d_.nbuckets = in_.template at<typename E::Addr>(d_.hash, "DT_HASH nbucket");
        d_.nchain = in_.template at<typename E::Addr>(d_.hash + 8, "DT_HASH nchain");
      }
    }
    if (versym) {
      d_.has_versym = true;
      d_.versym = map(*versym, 2, "DT_VERSYM", &d_.versym_limit);
    }
    if (verdef) read_verdef(*verdef, verdefnum.value_or(0));
    if (verneed) read_verneed(*verneed, verneednum.value_or(0));
    // Index -> version, the first of each index (indexes are below 0x8000).
    for (std::size_t k = 0; k < d_.versions.size(); ++k) {
      const std::uint16_t index = d_.versions[k].index;
      if (index >= d_.version_at.size()) d_.version_at.resize(index + 1u, 0);
      if (d_.version_at[index] == 0 && k < 0xffff) d_.version_at[index] = static_cast<std::uint16_t>(k + 1);
    }

    if (!elf::reloc_table(f_.header.machine).symbols_by_relocation) {
      d_.refs_checked = false;
      return;
    }
    for (const DynRelocs& r : dynamic_relocs(tag, relacount.value_or(0), relcount.value_or(0), E::is64)) {
      if (r.rela) read_relocs<elf::Rela<E>>(r.vaddr, r.size, r.skip, r.plt, r.what);
      else read_relocs<elf::Rel<E>>(r.vaddr, r.size, r.skip, r.plt, r.what);
    }
    finish_refs();
  }

 private:
  const Bytes& in_;
  const elf::ElfFile& f_;
  DynSymbols& d_;

  // The uses of each symbol, in table order: one per relocation that names
  // a symbol, merged per symbol by `merge` (a sort, not a map: far fewer
  // instructions per relocation, 8 bytes each) at the end and whenever the
  // vector doubled, so it stays within twice the symbols used (and 64 Ki).
  struct Use {
    std::uint32_t sym;
    elf::RelocKind kind;  // the first that is not a JUMP_SLOT, else JUMP_SLOT
    bool lazy;            // every use is a lazy PLT slot
    bool copy;            // one use is a COPY
  };
  std::vector<Use> uses_;
  std::size_t merge_at_ = 1u << 16;

  void merge() {
    std::stable_sort(uses_.begin(), uses_.end(), [](const Use& a, const Use& b) { return a.sym < b.sym; });
    std::size_t out = 0;
    for (std::size_t i = 0; i < uses_.size(); ++i) {
      const Use& x = uses_[i];
      if (out == 0 || uses_[out - 1].sym != x.sym) {
        uses_[out++] = x;
        continue;
      }
      Use& u = uses_[out - 1];
      u.lazy = u.lazy && x.lazy;
      u.copy = u.copy || x.copy;
      if (u.kind == elf::RelocKind::JumpSlot) u.kind = x.kind;
    }
    uses_.resize(out);
    merge_at_ = std::max(merge_at_, 2 * out);
  }

  // A dynamic-table address -> file offset inside one PT_LOAD's file image,
  // with how many bytes of that image follow it (at least `need`).
  std::uint64_t map(std::uint64_t vaddr, std::uint64_t need, std::string_view what, std::uint64_t* limit) {
    for (const elf::Segment& s : f_.segments) {
      if (s.type != PT_LOAD || vaddr < s.vaddr) continue;
      std::uint64_t rel = vaddr - s.vaddr;
      if (rel > s.filesz || s.filesz - rel < need) continue;
      *limit = s.filesz - rel;
      return s.offset + rel;  // offset + filesz was validated by the reader
    }
    fail(f_.path, what,
         fmt::format("address {:#x} ({} bytes) is not inside the file image of any PT_LOAD", vaddr, need));
  }

  std::string str(std::uint64_t index, std::string_view what) const {
    return in_.cstr(d_.strtab, d_.strsz, index, what);
  }

  void read_verdef(std::uint64_t vaddr, std::uint64_t count) {
    std::uint64_t limit = 0;
    std::uint64_t off = map(vaddr, sizeof(elf::Verdef<E>), "DT_VERDEF", &limit);
    const std::uint64_t end = off + limit;
    d_.has_verdef = true;
    for (std::uint64_t i = 0; i < count; ++i) {
      if (off > end || end - off < sizeof(elf::Verdef<E>))
        fail(f_.path, "DT_VERDEF", fmt::format("entry {} at offset {:#x} is outside its segment", i, off));
      const auto& vd = in_.template at<elf::Verdef<E>>(off, "DT_VERDEF");
      if (vd.vd_cnt != 0 && !(vd.vd_flags & VER_FLG_BASE)) {
        std::uint64_t aux = off + vd.vd_aux;
        if (aux < off || aux > end || end - aux < sizeof(elf::Verdaux<E>))
          fail(f_.path, "DT_VERDEF", fmt::format("entry {}: vd_aux {:#x} is outside its segment", i, vd.vd_aux));
        const auto& va = in_.template at<elf::Verdaux<E>>(aux, "DT_VERDEF verdaux");
        d_.versions.push_back({static_cast<std::uint16_t>(vd.vd_ndx & 0x7fff), true, false, str(va.vda_name, "vda_name")});
      }
      if (vd.vd_next == 0) break;
      off += vd.vd_next;  // forward only: the walk ends
    }
  }

  void read_verneed(std::uint64_t vaddr, std::uint64_t count) {
    std::uint64_t limit = 0;
    std::uint64_t off = map(vaddr, sizeof(elf::Verneed<E>), "DT_VERNEED", &limit);
    const std::uint64_t end = off + limit;
    for (std::uint64_t i = 0; i < count; ++i) {
      if (off > end || end - off < sizeof(elf::Verneed<E>))
        fail(f_.path, "DT_VERNEED", fmt::format("entry {} at offset {:#x} is outside its segment", i, off));
      const auto& vn = in_.template at<elf::Verneed<E>>(off, "DT_VERNEED");
      DynSymbols::Need need;
      need.file = str(vn.vn_file, "vn_file");
      std::uint64_t aux = off + vn.vn_aux;
      for (std::uint32_t j = 0; j < vn.vn_cnt; ++j) {
        if (aux < off || aux > end || end - aux < sizeof(elf::Vernaux<E>))
          fail(f_.path, "DT_VERNEED", fmt::format("{}: vernaux {} is outside its segment", need.file, j));
        const auto& va = in_.template at<elf::Vernaux<E>>(aux, "DT_VERNEED vernaux");
        std::string name = str(va.vna_name, "vna_name");
        need.versions.push_back({name, (va.vna_flags & VER_FLG_WEAK) != 0});
        d_.versions.push_back({static_cast<std::uint16_t>(va.vna_other & 0x7fff), false, (va.vna_other & 0x8000) != 0,
                               std::move(name), static_cast<std::uint32_t>(d_.needs.size())});
        if (va.vna_next == 0) break;
        aux += va.vna_next;
      }
      d_.needs.push_back(std::move(need));
      if (vn.vn_next == 0) break;
      off += vn.vn_next;
    }
  }

  template <typename R>
  void read_relocs(std::uint64_t vaddr, std::uint64_t size, std::uint64_t skip, bool plt, std::string_view what) {
    std::uint64_t limit = 0;
    std::uint64_t off = map(vaddr, size, what, &limit);
    const std::uint64_t n = size / sizeof(R);
    // The first DT_REL(A)COUNT entries are relative (the loader applies
    // them without a symbol), as the linker sorts them. The rest is read
    // 4 MiB at a time (one read each), and walked in place.
    static_assert(alignof(R) == 1, "entries are read in place from the file's bytes");
    constexpr std::uint64_t kWindow = (4u << 20) / sizeof(R);
    // Relocations of one type come in runs: the table is asked once a run.
    std::uint32_t last_type = 0;
    elf::RelocKind last_kind = elf::reloc_kind(f_.header.machine, 0);
    for (std::uint64_t from = std::min(skip, n); from < n; from += kWindow) {
      const std::uint64_t count = std::min(kWindow, n - from);
      const R* r = reinterpret_cast<const R*>(in_.view(off + from * sizeof(R), count * sizeof(R), what).data());
      for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint64_t info = r[i].r_info;
        const std::uint32_t sym = R::sym(info);
        if (sym == 0) continue;
        if (const std::uint32_t type = R::type(info); type != last_type) {
          last_type = type;
          last_kind = elf::reloc_kind(f_.header.machine, type);
        }
        if (last_kind == elf::RelocKind::NoSymbol) continue;
        uses_.push_back({sym, last_kind, plt && last_kind == elf::RelocKind::JumpSlot,
                         last_kind == elf::RelocKind::Copy});
        if (uses_.size() >= merge_at_) merge();
      }
    }
  }

  void finish_refs() {
    merge();
    std::vector<std::pair<std::size_t, std::size_t>> name_at;  // each ref's name in d_.ref_names, viewed once that is complete
    for (const Use& u : uses_) {
      const std::uint32_t idx = u.sym;
      const auto& s = sym_at<E>(in_, d_, idx, "relocation");
      const unsigned bind = ELF64_ST_BIND(s.st_info);
      const unsigned vis = ELF64_ST_VISIBILITY(s.st_other);
      // RESOLVE_MAP: a local or hidden reference binds to the object itself.
      if (bind == STB_LOCAL || vis == STV_HIDDEN || vis == STV_INTERNAL) continue;
      // A defined reference is found at least in the object itself; only a
      // COPY reference must be found elsewhere (the executable is skipped).
      if (s.st_shndx != SHN_UNDEF && !u.copy) continue;
      // A weak undefined reference that nothing defines is 0, not an error.
      if (s.st_shndx == SHN_UNDEF && bind == STB_WEAK) continue;
      DynSymbols::Ref ref;
      const std::string_view name = in_.cstr_view(d_.strtab, d_.strsz, s.st_name, "symbol name");
      name_at.emplace_back(d_.ref_names.size(), name.size());
      d_.ref_names.insert(d_.ref_names.end(), name.begin(), name.end());
      ref.gnu_hash = gnu_hash(name);
      ref.kind = u.copy ? elf::RelocKind::Copy : u.kind;
      ref.lazy = u.lazy && !u.copy;
      ref.size = s.st_size;
      if (d_.has_versym) {
        std::uint16_t v = versym_at<E>(in_, d_, idx);
        // glibc (RESOLVE_MAP) asks for a version only when it has a hash,
        // i.e. not for VER_NDX_LOCAL/GLOBAL or a base definition.
        if (const DynSymbols::Version* ver = d_.version(v & 0x7fff)) {
          ref.version = ver->name;
          ref.version_hidden = ver->hidden;
          if (!ver->is_def) ref.need = static_cast<std::int32_t>(ver->need);
        }
      }
      d_.refs.push_back(ref);
    }
    for (std::size_t k = 0; k < d_.refs.size(); ++k)
      d_.refs[k].name = std::string_view(d_.ref_names.data() + name_at[k].first, name_at[k].second);
  }
};

// ---------------------------------------------------------------------------
// Looking one symbol up in one object.

struct Want {
  std::string_view name;
  std::string_view version;  // "" unversioned
  bool version_hidden = false;
  bool plt = false;  // a JUMP_SLOT: an undefined symbol with a PLT address is no definition (glibc)
  std::uint32_t gnu_hash = 0;  // of `name`
  mutable std::optional<std::uint32_t> sysv_hash;  // of `name`, once an object with only DT_HASH asks
};

struct Hit {
  bool found = false;
  std::uint64_t size = 0;
};

template <typename E>
class Lookup {
 public:
  Lookup(const Bytes& in, const DynSymbols& d, Family fam) : in_(in), d_(d), fam_(fam) {}

  Hit find(const Want& w) {
    if (!d_.has_hash) return {};
    if (d_.gnu_hash) return find_gnu(w);
    return find_sysv(w);
  }

 private:
  const Bytes& in_;
  const DynSymbols& d_;
  Family fam_;
  // glibc: unversioned lookups accept one non-hidden versioned definition.
  int num_versions_ = 0;
  std::uint64_t versioned_size_ = 0;

  std::uint32_t word(std::uint64_t at, std::string_view what) const {
    if (d_.hash_limit < 4 || at > d_.hash_limit - 4)
      fail(in_.name(), what, fmt::format("index {:#x} is outside the table", at));
    return in_.template at<typename E::Word>(d_.hash + at, what);
  }
  std::uint64_t sysv(std::uint64_t i, unsigned w) const {
    if (w == 4) return word(i * 4, "DT_HASH");
    if (d_.hash_limit < 8 || i * 8 > d_.hash_limit - 8) fail(in_.name(), "DT_HASH", "index outside the table");
    return in_.template at<typename E::Addr>(d_.hash + i * 8, "DT_HASH");
  }

  // 1: this symbol decides the lookup in this object (found), 0: go on
  // along the chain, -1: this object has no definition (skip to the next).
  int check(std::uint64_t idx, const Want& w, Hit& hit) {
    const auto& s = sym_at<E>(in_, d_, idx, "hash table");
    if (!in_.str_equals(d_.strtab, d_.strsz, s.st_name, w.name, "symbol name")) return 0;
    const std::uint16_t vs = versym_at<E>(in_, d_, idx);
    const unsigned type = ELF64_ST_TYPE(s.st_info), bind = ELF64_ST_BIND(s.st_info);
    if (fam_ == Family::Musl) {
      // musl find_sym: the first entry of that name that is not a hidden
      // version; then value, type and binding decide, else the next object.
      if (vs & 0x8000) return 0;
      const bool ok_type = type == STT_NOTYPE || type == STT_OBJECT || type == STT_FUNC || type == STT_COMMON ||
                           type == STT_TLS;
      const bool ok_bind = bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE;
      if (s.st_shndx == SHN_UNDEF && (w.plt || type == STT_TLS)) return -1;
      if (s.st_value == 0 && type != STT_TLS) return -1;
      if (!ok_type || !ok_bind) return -1;
      hit = {true, s.st_size};
      return 1;
    }
    // glibc check_match.
    if ((s.st_value == 0 && s.st_shndx != SHN_ABS && type != STT_TLS) || (w.plt && s.st_shndx == SHN_UNDEF)) return 0;
    constexpr unsigned kAllowed = 1u << STT_NOTYPE | 1u << STT_OBJECT | 1u << STT_FUNC | 1u << STT_COMMON |
                                  1u << STT_TLS | 1u << STT_GNU_IFUNC;
    if (type > 31 || !((1u << type) & kAllowed)) return 0;
    if (d_.has_versym) {
      const std::uint16_t ndx = vs & 0x7fff;
      const DynSymbols::Version* def = d_.version(ndx);
      const bool def_versioned = def && def->is_def;  // base and 0/1 have no hash
      if (!w.version.empty()) {
        const bool same = def_versioned && def->name == w.version;
        if (!same && (w.version_hidden || def_versioned || (vs & 0x8000))) return 0;
      } else if (ndx >= 3) {
        if (!(vs & 0x8000) && num_versions_++ == 0) versioned_size_ = s.st_size;
        return 0;
      }
    }
    // do_lookup_x after a match: hidden/internal or local decide "not here".
    const unsigned vis = ELF64_ST_VISIBILITY(s.st_other);
    if (vis == STV_HIDDEN || vis == STV_INTERNAL) return -1;
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) return -1;
    hit = {true, s.st_size};
    return 1;
  }

  Hit end_of_object() {
    // "exactly one versioned symbol while looking for an unversioned one"
    if (fam_ == Family::Glibc && num_versions_ == 1) return {true, versioned_size_};
    return {};
  }

  Hit find_gnu(const Want& w) {
    const std::uint64_t nbuckets = d_.nbuckets;
    const std::uint32_t symoffset = d_.symoffset, bloom_size = d_.bloom_size, shift = d_.bloom_shift;
    if (nbuckets == 0) return {};
    const std::uint32_t h = w.gnu_hash;
    constexpr unsigned kBits = E::is64 ? 64 : 32;
    const std::uint64_t bloom_at = 16;
    if (bloom_size != 0) {
      // glibc and musl both mask the index with bloom_size - 1 (a power of two).
      const std::uint64_t i = (h / kBits) & (bloom_size - 1);
      const std::uint64_t at = bloom_at + i * (kBits / 8);
      if (at > d_.hash_limit || d_.hash_limit - at < kBits / 8)
        fail(in_.name(), "DT_GNU_HASH", fmt::format("bloom word {} is outside the table", i));
      const std::uint64_t bits = in_.template at<typename E::Addr>(d_.hash + at, "DT_GNU_HASH bloom");
      if (!((bits >> (h % kBits)) & (bits >> ((h >> shift) % kBits)) & 1)) return {};
    }
    const std::uint64_t buckets_at = bloom_at + std::uint64_t{bloom_size} * (kBits / 8);
    std::uint32_t idx = word(buckets_at + std::uint64_t{h % nbuckets} * 4, "DT_GNU_HASH bucket");
    if (idx == 0) return {};
    if (idx < symoffset) fail(in_.name(), "DT_GNU_HASH", fmt::format("bucket {} is below symoffset {}", idx, symoffset));
    const std::uint64_t chain_at = buckets_at + std::uint64_t{nbuckets} * 4;
    for (std::uint64_t i = idx;; ++i) {
      const std::uint32_t ch = word(chain_at + (i - symoffset) * 4, "DT_GNU_HASH chain");
      if (((ch ^ h) >> 1) == 0) {
        Hit hit;
        int r = check(i, w, hit);
        if (r == 1) return hit;
        if (r == -1) return {};
      }
      if (ch & 1) break;  // the chain's end; `word` bounds the walk by the table
    }
    return end_of_object();
  }

  Hit find_sysv(const Want& w) {
    const unsigned wsz = sysv_word(d_.machine, d_.elf_class);
    const std::uint64_t nbucket = d_.nbuckets, nchain = d_.nchain;
    if (nbucket == 0) return {};
    if (!w.sysv_hash) w.sysv_hash = sysv_hash(w.name);
    std::uint64_t idx = sysv(2 + *w.sysv_hash % nbucket, wsz);
    // Each step must stay below nchain; a cycle is cut after nchain steps.
    for (std::uint64_t steps = 0; idx != STN_UNDEF && steps <= nchain; ++steps) {
      if (idx >= nchain) fail(in_.name(), "DT_HASH", fmt::format("chain index {} is not below nchain {}", idx, nchain));
      Hit hit;
      int r = check(idx, w, hit);
      if (r == 1) return hit;
      if (r == -1) return {};
      idx = sysv(2 + nbucket + idx, wsz);
    }
    return end_of_object();
  }
};

template <typename E>
Hit find_symbol(const Bytes& in, const DynSymbols& d, Family family, const Want& w) {
  return Lookup<E>(in, d, family).find(w);
}

// An object's facts from its parse and its bytes.
std::shared_ptr<const DynSymbols> read_symbols(const elf::ElfFile& f, const Bytes& in) {
  auto d = std::make_shared<DynSymbols>();
  d->elf_class = f.header.elf_class;
  d->big_endian = f.header.big_endian;
  d->machine = f.header.machine;
  try {
    elf::dispatch(f.header.variant, [&](auto e) { Reader<decltype(e)>(in, f, *d).run(); });
  } catch (ErrorException& e) {
    d->error = e.error.message;
  }
  return d;
}

// Opens and reads an object's facts; `o` keeps the file open for lookups after.
std::shared_ptr<const DynSymbols> read_symbols(const Root& root, const std::string& canonical,
                                               std::shared_ptr<OpenObject>& o) {
  elf::ElfFile f;
  if (auto err = open_object(root, canonical, o, &f)) {
    auto d = std::make_shared<DynSymbols>();
    d->error = err->message;
    return d;
  }
  return read_symbols(f, o->bytes);
}

// ---------------------------------------------------------------------------
// One tree.

class TreeCheck {
 public:
  TreeCheck(SymbolChecker& sc, const Root& root, Tree& t) : sc_(sc), root_(root), t_(t), cache_(sc.borrow_cache()) {}
  ~TreeCheck() {
    const bool program = t_.nodes[0].obj && t_.nodes[0].obj->interpreter.has_value();
    for (std::size_t i = program ? 1 : 0; i < open_.size(); ++i)
      if (open_[i]) cache_->put(std::move(open_[i]));
    sc_.return_cache(std::move(cache_));
  }
  TreeCheck(const TreeCheck&) = delete;

  void run() {
    const bool program = t_.nodes[0].obj && t_.nodes[0].obj->interpreter.has_value();
    syms_.resize(t_.nodes.size());
    open_.resize(t_.nodes.size());
    for (std::size_t i = 0; i < t_.nodes.size(); ++i) {
      const TreeNode& n = t_.nodes[i];
      // The top file is read for its own check only (and stays open for
      // lookups in it), unless a tree already loaded it; the libraries it
      // loads are read once and kept.
      if (i == 0 && !(syms_[0] = sc_.symbols_if_read(n.path))) {
        if (t_.top_open && t_.top_open->parsed) {  // the resolver's parse, still open
          open_[0] = t_.top_open;
          syms_[0] = read_symbols(*open_[0]->parsed, open_[0]->bytes);
        } else {
          syms_[0] = read_symbols(root_, n.path, open_[0]);
        }
      } else if (i != 0) {
        syms_[i] = sc_.symbols(n.path);
      }
      if (!syms_[i]->error.empty()) {
        add(Severity::Error, code::kMalformed, n.path, n.path, syms_[i]->error);
        return;
      }
    }
    if (t_.family == Family::Glibc) check_versions();
    check_symbols(program);
  }

 private:
  SymbolChecker& sc_;
  const Root& root_;
  Tree& t_;
  std::vector<std::shared_ptr<const DynSymbols>> syms_;
  std::vector<std::shared_ptr<OpenObject>> open_;  // per node, opened on first lookup
  std::unique_ptr<OpenCache> cache_;
  std::size_t last_definer_ = 0;
  std::vector<std::vector<std::size_t>> loads_;  // node -> the nodes its DT_NEEDED reached

  void add(Severity s, const char* c, const std::string& object, std::string subject, std::string message) {
    t_.findings.push_back({s, c, object, std::move(subject), std::move(message)});
  }

  // glibc _dl_name_match_p: the names an object was loaded under (each
  // DT_NEEDED string that reached it, the path it was opened by) and, for
  // the loader, its soname.
  int find_loaded(const std::string& file) const {
    for (const TreeEdge& e : t_.edges)
      if (e.to >= 0 && e.name == file) return e.to;
    for (std::size_t j = 0; j < t_.nodes.size(); ++j) {
      const TreeNode& n = t_.nodes[j];
      if (n.opened_as == file) return static_cast<int>(j);
      if (static_cast<int>(j) == t_.interp_node &&
          std::find(n.names.begin(), n.names.end(), file) != n.names.end())
        return static_cast<int>(j);
    }
    return -1;
  }

  void check_versions() {
    for (std::size_t i = 0; i < t_.nodes.size(); ++i) {
      if (static_cast<int>(i) == t_.interp_node) continue;  // the loader checks itself
      const TreeNode& n = t_.nodes[i];
      for (const DynSymbols::Need& need : syms_[i]->needs) {
        int j = find_loaded(need.file);
        if (j < 0) {
          add(Severity::Error, code::kVersionFileUnloaded, n.path, need.file,
              fmt::format("{}: DT_VERNEED names {}, which is not loaded (glibc's ld.so stops on an assertion in "
                          "_dl_check_map_versions)",
                          n.path, need.file));
          continue;
        }
        const DynSymbols& def = *syms_[static_cast<std::size_t>(j)];
        // match_symbol: an object without DT_VERDEF satisfies every need
        // (ld.so only mentions it when verbose).
        if (!def.has_verdef) continue;
        const std::string& lib = t_.nodes[static_cast<std::size_t>(j)].path;
        for (const DynSymbols::Need::Aux& v : need.versions) {
          bool found = std::any_of(def.versions.begin(), def.versions.end(),
                                   [&](const DynSymbols::Version& d) { return d.is_def && d.name == v.name; });
          if (found) continue;
          if (v.weak)
            add(Severity::Warning, code::kVersionMissingWeak, n.path, v.name,
                fmt::format("{}: weak version '{}' not found (required by {})", lib, v.name, n.path));
          else
            add(Severity::Error, code::kVersionMissing, n.path, v.name,
                fmt::format("{}: version '{}' not found (required by {})", lib, v.name, n.path));
        }
      }
    }
  }

  template <typename E>
  Hit lookup_in(std::size_t j, const Want& w) {
    if (!open_[j]) open_[j] = cache_->take(t_.nodes[j].path);
    if (!open_[j]) {
      if (auto err = open_object(root_, t_.nodes[j].path, open_[j], nullptr)) throw ErrorException{*err};
      if (j != 0) sc_.share_tables(*open_[j], *syms_[j]);
    }
    return Lookup<E>(open_[j]->bytes, *syms_[j], t_.family).find(w);
  }

  // Is `w` defined somewhere in the scope? Whether a definition exists
  // does not depend on the order, so `hint` (the object its version names)
  // or else the object that defined the last symbol (most come from libc)
  // is asked first, and with `closure` the objects of that closure before
  // the others: a definition found there is found in every scope that
  // holds the closure. `in_order` (COPY, whose size warning names the first
  // definition) keeps the scope's order.
  std::optional<std::pair<std::size_t, Hit>> lookup(const Want& w, bool skip_program, bool in_order,
                                                    const std::vector<char>* closure, int hint) {
    const std::size_t n = t_.nodes.size();
    const std::size_t first = in_order ? 0 : hint >= 0 ? static_cast<std::size_t>(hint) : last_definer_;
    for (int pass = in_order || !closure ? 1 : 0; pass < 2; ++pass)
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t j = k == 0 ? first : (k <= first ? k - 1 : k);
        if (skip_program && j == 0) continue;
        if (pass == 0 && !(*closure)[j]) continue;                        // the closure first,
        if (pass == 1 && closure && !in_order && (*closure)[j]) continue;  // then the others
        const DynSymbols& d = *syms_[j];
        if (!d.has_hash) continue;
        elf::Variant v = d.elf_class == 64 ? (d.big_endian ? elf::Variant::k64BE : elf::Variant::k64LE)
                                           : (d.big_endian ? elf::Variant::k32BE : elf::Variant::k32LE);
        Hit h = elf::dispatch(v, [&](auto e) { return lookup_in<decltype(e)>(j, w); });
        if (h.found) {
          last_definer_ = j;
          return std::make_pair(j, h);
        }
      }
    return std::nullopt;
  }

  void check_symbols(bool program) {
    const bool musl = t_.family == Family::Musl;
    for (std::size_t i = 0; i < t_.nodes.size(); ++i) {
      if (static_cast<int>(i) == t_.interp_node) continue;  // the loader relocates itself
      const TreeNode& n = t_.nodes[i];
      const DynSymbols& d = *syms_[i];
      if (d.refs.empty()) continue;
      // Closures are remembered for loaded libraries only: a library
      // checked on its own is checked once, and its key would grow the set
      // with every file. But a library on its own whose closure an earlier
      // tree found resolved has nothing to report.
      std::string key;
      std::vector<char> closure;  // node -> in the closure of node i
      if (i != 0 || !program) {
        key = closure_key(i, closure);
        if (sc_.closure_resolved(key)) continue;
      }
      // Whether every definition came from the closure: one from outside it
      // (the program, a library the program loads before) is no promise for
      // another scope that holds the same closure without that sibling.
      bool inside = true;
      // Each DT_VERNEED entry's object: where a versioned reference is
      // looked for first.
      std::vector<int> need_node(d.needs.size());
      for (std::size_t k = 0; k < d.needs.size(); ++k) need_node[k] = find_loaded(d.needs[k].file);
      const std::size_t findings_before = t_.findings.size();
      std::vector<std::string> unresolved;  // a library on its own: one warning for all
      for (const DynSymbols::Ref& r : d.refs) {
        const Want w{r.name,           musl ? std::string_view() : std::string_view(r.version),
                     r.version_hidden, r.kind == elf::RelocKind::JumpSlot,
                     r.gnu_hash,       std::nullopt};
        const bool copy = r.kind == elf::RelocKind::Copy;
        std::optional<std::pair<std::size_t, Hit>> hit;
        try {
          hit = lookup(w, copy && program, copy, closure.empty() ? nullptr : &closure,
                       r.need >= 0 && static_cast<std::size_t>(r.need) < need_node.size() ? need_node[r.need] : -1);
        } catch (ErrorException& e) {
          add(Severity::Error, code::kMalformed, n.path, n.path, e.error.message);
          return;
        }
        if (hit) {
          const auto& [j, h] = *hit;
          if (!closure.empty() && !closure[j]) inside = false;
          // glibc _dl_relocate_object (COPY): "has different size".
          if (copy && !musl && h.size != r.size)
            add(Severity::Warning, code::kCopySizeChanged, n.path, std::string(r.name),
                fmt::format("{}: Symbol '{}' has different size in shared object {} ({} bytes, {} copied), "
                            "consider re-linking",
                            n.path, r.name, t_.nodes[j].path, h.size, r.size));
          continue;
        }
        const std::string shown = r.version.empty() || musl ? std::string(r.name) : fmt::format("{}@{}", r.name, r.version);
        if (!program) {
          unresolved.push_back(shown);
          continue;
        }
        if (r.lazy && !d.bind_now && !musl) {
          add(Severity::Warning, code::kSymbolMissingLazy, n.path, shown,
              fmt::format("{}: undefined symbol: {} (lazy JUMP_SLOT: the program stops at its first call)", n.path,
                          shown));
        } else {
          add(Severity::Error, code::kSymbolMissing, n.path, shown,
              fmt::format("{}: undefined symbol: {} ({} relocation{}: {} stops at load)", n.path, shown,
                          elf::reloc_kind_name(r.kind),
                          r.kind == elf::RelocKind::JumpSlot ? (musl ? ", musl binds at load" : ", BIND_NOW") : "",
                          family_name(t_.family)));
        }
      }
      if (!unresolved.empty()) {
        constexpr std::size_t kShown = 8;
        std::string list = fmt::format("{}", fmt::join(unresolved.begin(),
                                                       unresolved.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                                unresolved.size(), kShown)),
                                                       ", "));
        if (unresolved.size() > kShown) list += fmt::format(", ... ({} more)", unresolved.size() - kShown);
        const bool searched = found_by_search();
        add(searched ? Severity::Warning : Severity::Info, code::kSymbolMissing, n.path, unresolved.front(),
            fmt::format("{}: {} symbol{} not defined in its own dependencies; the program that loads it must define "
                        "{}{}: {}",
                        n.path, unresolved.size(), unresolved.size() == 1 ? " is" : "s are",
                        unresolved.size() == 1 ? "it" : "them",
                        searched ? "" : " (a plugin: it is outside the directories the loader searches, so a host "
                                        "program loads it by path, and its symbols come first)",
                        list));
      }
      if (i != 0 && inside && unresolved.empty() && t_.findings.size() == findings_before)
        sc_.set_closure_resolved(std::move(key));
    }
  }

  // Could a DT_NEEDED search find the top file, so that any program may
  // load it? Only in a directory its loader searches by default (glibc:
  // its system directories and ld.so.conf's, which its cache holds; musl:
  // its path file's or default list). Elsewhere it is a plugin, opened by
  // path with dlopen by its host program, whose own symbols come first in
  // the global scope glibc resolves it in (elf/dl-open.c, dl-lookup.c): a
  // Python, Perl or PostgreSQL module calls into its host by design.
  bool found_by_search() const {
    if (!t_.config) return true;
    const LoaderConfig& c = *t_.config;
    const std::string dir = paths::dirname_of(t_.nodes[0].path);
    for (const auto* dirs : {&c.system_dirs, &c.conf_dirs, &c.musl_dirs})
      for (const std::string& d : *dirs) {
        const auto l = root_.resolve(d);
        if (l.found() && l.path == dir) return true;
      }
    return false;
  }

  // The objects node `i` brings into any scope: itself, what it loads
  // (breadth-first over the tree's edges) and the loader, as a key (their
  // paths) and as `in` (node -> in the closure).
  std::string closure_key(std::size_t i, std::vector<char>& in) {
    if (loads_.empty()) {
      loads_.resize(t_.nodes.size());
      for (const TreeEdge& e : t_.edges)
        if (e.to >= 0) loads_[static_cast<std::size_t>(e.from)].push_back(static_cast<std::size_t>(e.to));
    }
    std::vector<char> seen(t_.nodes.size(), 0);
    std::vector<std::size_t> queue{i};
    seen[i] = 1;
    if (t_.interp_node >= 0 && !seen[static_cast<std::size_t>(t_.interp_node)]) {
      seen[static_cast<std::size_t>(t_.interp_node)] = 1;
      queue.push_back(static_cast<std::size_t>(t_.interp_node));
    }
    for (std::size_t q = 0; q < queue.size(); ++q)
      for (std::size_t to : loads_[queue[q]])
        if (!seen[to]) {
          seen[to] = 1;
          queue.push_back(to);
        }
    in = std::move(seen);
    std::vector<std::string_view> paths;
    for (std::size_t q = 1; q < queue.size(); ++q) paths.push_back(t_.nodes[queue[q]].path);
    std::sort(paths.begin(), paths.end());
    std::string key = std::string(family_name(t_.family)) + '\n' + t_.nodes[i].path;
    for (std::string_view p : paths) (key += '\n') += p;
    return key;
  }
};

}  // namespace

std::shared_ptr<const DynSymbols> SymbolChecker::symbols(const std::string& canonical) {
  return computed_once(mu_, cache_, canonical, [&] {
    std::shared_ptr<OpenObject> o;
    return read_symbols(root_, canonical, o);
  });
}

std::shared_ptr<const DynSymbols> SymbolChecker::symbols_if_read(const std::string& canonical) {
  std::shared_future<std::shared_ptr<const DynSymbols>> fut;
  {
    std::lock_guard lk(mu_);
    if (auto it = cache_.find(canonical); it != cache_.end()) fut = it->second;
  }
  return fut.valid() ? fut.get() : nullptr;
}

SymbolChecker::SymbolChecker(const Root& root) : root_(root) {}
SymbolChecker::~SymbolChecker() = default;

void SymbolChecker::share_tables(OpenObject& o, const DynSymbols& d) {
  constexpr std::uint64_t kTableBytes = 16u << 20;
  const auto span = table_span(d);
  if (!span || span->second > o.file.size()) return;
  const std::uint64_t size = span->second - span->first;
  std::shared_ptr<const std::byte[]> data;
  {
    std::lock_guard lk(mu_);
    if (auto it = table_index_.find(o.name); it != table_index_.end()) {
      tables_.splice(tables_.begin(), tables_, it->second);
      data = it->second->data;
    }
  }
  if (!data) {
    std::shared_ptr<std::byte[]> buf(new std::byte[size]);
    if (elf::read_exact(o.file.fd(), buf.get(), size, span->first)) return;  // the lookups read (and report) as before
    data = std::move(buf);
    std::lock_guard lk(mu_);
    if (!table_index_.count(o.name)) {
      tables_.push_front({o.name, data, size});
      table_index_.emplace(o.name, tables_.begin());
      table_bytes_ += size;
      while (table_bytes_ > kTableBytes && tables_.size() > 1) {
        table_bytes_ -= tables_.back().size;
        table_index_.erase(tables_.back().path);
        tables_.pop_back();
      }
    }
  }
  o.bytes.share(span->first, std::move(data), size);
}

std::unique_ptr<OpenCache> SymbolChecker::borrow_cache() {
  std::lock_guard lk(mu_);
  if (caches_.empty()) return std::make_unique<OpenCache>();
  auto c = std::move(caches_.back());
  caches_.pop_back();
  return c;
}

void SymbolChecker::return_cache(std::unique_ptr<OpenCache> c) {
  std::lock_guard lk(mu_);
  caches_.push_back(std::move(c));
}

bool SymbolChecker::closure_resolved(const std::string& key) {
  std::lock_guard lk(mu_);
  return resolved_closures_.count(key) != 0;
}

void SymbolChecker::set_closure_resolved(std::string key) {
  std::lock_guard lk(mu_);
  resolved_closures_.insert(std::move(key));
}

Expected<std::vector<std::optional<std::uint64_t>>> SymbolChecker::lookup(
    const std::string& canonical, const std::vector<std::pair<std::string, std::string>>& wants, Family family) {
  auto d = symbols(canonical);
  if (!d->error.empty()) return Error{Error::Kind::Malformed, d->error};
  try {
    std::shared_ptr<OpenObject> o;
    if (auto err = open_object(root_, canonical, o, nullptr)) return *err;
    const elf::Variant v = d->elf_class == 64 ? (d->big_endian ? elf::Variant::k64BE : elf::Variant::k64LE)
                                              : (d->big_endian ? elf::Variant::k32BE : elf::Variant::k32LE);
    std::vector<std::optional<std::uint64_t>> out;
    for (const auto& [name, version] : wants) {
      const Want w{name, version, false, false, gnu_hash(name), std::nullopt};
      const Hit h = elf::dispatch(v, [&](auto e) { return find_symbol<decltype(e)>(o->bytes, *d, family, w); });
      out.push_back(h.found ? std::optional<std::uint64_t>(h.size) : std::nullopt);
    }
    return out;
  } catch (ErrorException& e) {
    return std::move(e.error);
  }
}

void SymbolChecker::check(Tree& t) {
  if (t.is_static || !t.config || t.nodes.empty()) return;
  for (const Finding& f : t.findings)
    if (f.severity == Severity::Error) return;
  TreeCheck(*this, root_, t).run();
}

}  // namespace xpatch::resolve
