// plan_keep: the byte ranges of an ELF file that the checker reads, found by
// walking the same structures the same way elf/reader.cpp and
// resolve/symbols.cpp do (their bounds, their first-or-last tag rules), but
// over bytes that may not all be known yet.
#include "libpatch/archive/keep.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "libpatch/elf/format.h"
#include "libpatch/resolve/symbols.h"

namespace xpatch::archive {

std::vector<Range> merge(std::vector<Range> r) {
  std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.off < b.off; });
  std::vector<Range> out;
  for (const Range& x : r) {
    if (x.len == 0) continue;
    if (!out.empty() && x.off <= out.back().end()) {
      out.back().len = std::max(out.back().end(), x.end()) - out.back().off;
    } else {
      out.push_back(x);
    }
  }
  return out;
}

void Known::add(std::uint64_t off, std::uint64_t len) {
  if (len == 0) return;
  ranges_.push_back({off, len});
  ranges_ = merge(std::move(ranges_));
}

bool Known::has(std::uint64_t off, std::uint64_t len) const {
  if (len == 0) return true;
  std::uint64_t end = 0;
  if (__builtin_add_overflow(off, len, &end)) return false;
  // The last range starting at or before `off` must reach `end` (ranges are merged).
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), off, [](std::uint64_t o, const Range& r) { return o < r.off; });
  if (it == ranges_.begin()) return false;
  --it;
  return it->end() >= end;
}

bool Known::read(std::uint64_t off, void* out, std::uint64_t len) const {
  if (!has(off, len)) return false;
  auto* p = static_cast<char*>(out);
  for (std::uint64_t done = 0; done < len;) {
    ssize_t r = ::pread(fd_, p + done, len - done, static_cast<off_t>(base_ + off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<std::uint64_t>(r);
  }
  return true;
}

namespace {

template <typename E>
class Planner {
 public:
  Planner(const Known& k, std::uint64_t size, KeepPlan& p) : k_(k), size_(size), p_(p) {}

  void run() {
    elf::Ehdr<E> eh;
    if (!get(0, eh)) return;
    const std::uint64_t shoff = eh.e_shoff;
    std::uint64_t phnum = eh.e_phnum;
    if (shoff != 0) {
      if (eh.e_shentsize != sizeof(elf::Shdr<E>)) return;  // the reader stops here
      elf::Shdr<E> sh0;
      if (!get(shoff, sh0)) return;
      if (phnum == PN_XNUM) phnum = sh0.sh_info;
    }
    if (phnum == 0) return;
    if (eh.e_phentsize != sizeof(elf::Phdr<E>)) return;
    const std::uint64_t phoff = eh.e_phoff;
    if (!fits(phoff, phnum * sizeof(elf::Phdr<E>))) return;
    want(phoff, phnum * sizeof(elf::Phdr<E>));
    phdrs_.resize(phnum);
    if (!k_.read(phoff, phdrs_.data(), phnum * sizeof(elf::Phdr<E>))) {
      p_.complete = false;
      return;
    }
    const elf::Phdr<E>* dynamic = nullptr;
    for (const auto& ph : phdrs_) {
      const std::uint32_t type = ph.p_type;
      if (type == PT_INTERP || type == PT_NOTE || type == PT_GNU_PROPERTY || (type == PT_DYNAMIC && !dynamic))
        want(ph.p_offset, ph.p_filesz);
      if (type == PT_DYNAMIC && !dynamic) dynamic = &ph;
    }
    if (!dynamic || dynamic->p_filesz == 0 || !fits(dynamic->p_offset, dynamic->p_filesz)) return;
    read_dynamic(dynamic->p_offset, dynamic->p_filesz);
  }

 private:
  const Known& k_;
  std::uint64_t size_;
  KeepPlan& p_;
  std::vector<elf::Phdr<E>> phdrs_;

  bool fits(std::uint64_t off, std::uint64_t len) const {
    std::uint64_t end = 0;
    return !__builtin_add_overflow(off, len, &end) && end <= size_;
  }
  // Keeps [off, off + len), clipped to the file.
  void want(std::uint64_t off, std::uint64_t len) {
    if (off >= size_ || len == 0) return;
    p_.keep.push_back({off, std::min(len, size_ - off)});
  }
  template <typename T>
  bool get(std::uint64_t off, T& out) {
    if (!fits(off, sizeof(T))) return false;
    want(off, sizeof(T));
    if (k_.read(off, &out, sizeof(T))) return true;
    p_.complete = false;
    return false;
  }
  // A whole table, wanted and read; false (incomplete) when not all known.
  bool get_bytes(std::uint64_t off, std::uint64_t len, std::vector<unsigned char>& out) {
    want(off, len);
    out.resize(len);
    if (k_.read(off, out.data(), len)) return true;
    p_.complete = false;
    return false;
  }

  // resolve/symbols.cpp's map(): the first PT_LOAD whose file image holds
  // `need` bytes at `vaddr`; `limit` is how many bytes of it follow.
  std::optional<std::uint64_t> map(std::uint64_t vaddr, std::uint64_t need, std::uint64_t& limit) const {
    for (const auto& s : phdrs_) {
      const std::uint64_t sv = s.p_vaddr, sf = s.p_filesz, so = s.p_offset;
      if (s.p_type != PT_LOAD || vaddr < sv) continue;
      const std::uint64_t rel = vaddr - sv;
      if (rel > sf || sf - rel < need) continue;
      if (!fits(so, sf)) return std::nullopt;  // the reader refuses such a segment
      limit = sf - rel;
      return so + rel;
    }
    return std::nullopt;
  }
  // elf::ElfFile::vaddr_to_offset (the reader's DT_STRTAB mapping).
  std::optional<std::uint64_t> vaddr_to_offset(std::uint64_t vaddr, std::uint64_t size) const {
    for (const auto& s : phdrs_) {
      const std::uint64_t sv = s.p_vaddr, sf = s.p_filesz, so = s.p_offset;
      if (s.p_type != PT_LOAD || vaddr < sv) continue;
      std::uint64_t rel = vaddr - sv, end = 0;
      if (__builtin_add_overflow(rel, size, &end) || end > sf) continue;
      if (!fits(so, sf)) return std::nullopt;
      return so + rel;
    }
    return std::nullopt;
  }

  void read_dynamic(std::uint64_t off, std::uint64_t filesz) {
    std::vector<unsigned char> raw;
    if (!get_bytes(off, filesz, raw)) return;
    // The entries up to the first DT_NULL (the reader's model), taken as
    // the symbol check takes them (resolve::DynTags).
    resolve::DynTags dt;
    bool terminated = false;
    for (std::uint64_t i = 0; i + sizeof(elf::Dyn<E>) <= filesz; i += sizeof(elf::Dyn<E>)) {
      elf::Dyn<E> d;
      std::memcpy(static_cast<void*>(&d), raw.data() + i, sizeof d);
      if (std::uint64_t{d.d_tag} == DT_NULL) {
        terminated = true;
        break;
      }
      dt.add(d.d_tag, d.d_val);
    }
    if (!terminated) return;  // malformed: the reader stops here
    const auto& tag = dt.tag;
    const auto &gnu_hash = dt.gnu_hash, &versym = dt.versym, &verneed = dt.verneed, &verneednum = dt.verneednum,
               &verdef = dt.verdef, &verdefnum = dt.verdefnum, &relacount = dt.relacount, &relcount = dt.relcount;

    // Strings: what the reader checks, and every name the symbol check reads.
    if (tag[DT_STRTAB] && tag[DT_STRSZ]) {
      if (auto o = vaddr_to_offset(*tag[DT_STRTAB], *tag[DT_STRSZ])) want(*o, *tag[DT_STRSZ]);
    }
    if (!tag[DT_SYMTAB]) return;  // symbols.cpp reads nothing more
    std::uint64_t symtab_limit = 0;
    const auto symtab = map(*tag[DT_SYMTAB], sizeof(elf::Sym<E>), symtab_limit);
    if (!symtab) return;

    // How many symbols a lookup or a relocation can name: the hash
    // table's reach, and the largest index a relocation uses.
    std::uint64_t nsyms = 0;
    if (gnu_hash) {
      nsyms = gnu_hash_reach(*gnu_hash);
    } else if (tag[DT_HASH]) {
      nsyms = sysv_hash_reach(*tag[DT_HASH]);
    }
    // The relocation tables symbols.cpp reads, past their relative entries.
    for (const auto& r : resolve::dynamic_relocs(tag, relacount.value_or(0), relcount.value_or(0), E::is64)) {
      const std::uint64_t top = r.rela ? relocs<elf::Rela<E>>(r.vaddr, r.size, r.skip)
                                       : relocs<elf::Rel<E>>(r.vaddr, r.size, r.skip);
      nsyms = std::max(nsyms, top);
    }
    // The symbols and their version indexes, as far as their segment goes.
    const std::uint64_t sym_bytes = std::min(symtab_limit / sizeof(elf::Sym<E>), nsyms) * sizeof(elf::Sym<E>);
    want(*symtab, sym_bytes);
    if (versym) {
      std::uint64_t limit = 0;
      if (auto o = map(*versym, 2, limit)) want(*o, std::min(limit / 2, nsyms) * 2);
    }
    if (verdef) read_verdef(*verdef, verdefnum.value_or(0));
    if (verneed) read_verneed(*verneed, verneednum.value_or(0));
  }

  // DT_GNU_HASH: header, bloom words, buckets, and the chains up to the end
  // of the last bucket's chain; returns the symbol count that covers.
  std::uint64_t gnu_hash_reach(std::uint64_t vaddr) {
    std::uint64_t limit = 0;
    const auto off = map(vaddr, 16, limit);
    if (!off) return 0;
    typename E::Word head[4];
    if (!get(*off, head)) return 0;
    auto word = [](const unsigned char* p) {
      typename E::Word w;
      std::memcpy(static_cast<void*>(&w), p, 4);
      return std::uint32_t{w};
    };
    const std::uint64_t nbuckets = head[0], symoffset = head[1], bloom_size = head[2];
    const std::uint64_t buckets_at = 16 + bloom_size * (E::is64 ? 8 : 4);
    if (buckets_at > limit) {
      want(*off, limit);
      return 0;
    }
    const std::uint64_t nb = std::min(nbuckets, (limit - buckets_at) / 4);
    want(*off, buckets_at);
    std::vector<unsigned char> buckets;
    if (!get_bytes(*off + buckets_at, nb * 4, buckets)) return 0;
    std::uint64_t top = 0;
    for (std::uint64_t i = 0; i < nb; ++i) {
      top = std::max<std::uint64_t>(top, word(buckets.data() + i * 4));
    }
    if (top < symoffset) return symoffset;
    // Walk the last chain to its end bit, bounded by the segment: every
    // chain before it ends before it, so that is where the chains end.
    const std::uint64_t chain_at = buckets_at + nbuckets * 4;
    if (chain_at > limit) return top + 1;
    std::uint64_t end = top;
    for (std::uint64_t i = top;; ++i) {
      const std::uint64_t at = chain_at + (i - symoffset) * 4;
      if (at > limit || limit - at < 4) {  // no end bit: a lookup may read up to the limit
        end = i;
        break;
      }
      typename E::Word ch;
      if (!get(*off + at, ch)) {
        want(*off + at, limit - at);  // capture the rest while it streams past
        end = i + 1;
        break;
      }
      if (std::uint32_t{ch} & 1) {
        end = i + 1;
        break;
      }
    }
    want(*off + chain_at, std::min((end - symoffset) * 4, limit - chain_at));
    return end;
  }

  // DT_HASH: nbucket, nchain, the buckets and the chains; nchain symbols.
  std::uint64_t sysv_hash_reach(std::uint64_t vaddr) {
    const unsigned w = resolve::dt_hash_word_size(machine(), E::is64 ? 64 : 32);
    std::uint64_t limit = 0;
    const auto off = map(vaddr, 2ull * w, limit);
    if (!off) return 0;
    std::uint64_t nbucket = 0, nchain = 0;
    if (w == 8) {
      typename E::Addr h[2];
      if (!get(*off, h)) return 0;
      nbucket = h[0], nchain = h[1];
    } else {
      typename E::Word h[2];
      if (!get(*off, h)) return 0;
      nbucket = h[0], nchain = h[1];
    }
    std::uint64_t words = 0, bytes = 0;
    if (__builtin_add_overflow(nbucket, nchain, &words) || __builtin_add_overflow(words, 2, &words) ||
        __builtin_mul_overflow(words, w, &bytes) || bytes > limit)
      bytes = limit;
    want(*off, bytes);
    return nchain;
  }

  // The relocation entries symbols.cpp reads; returns the largest symbol
  // index they name, plus one.
  template <typename R>
  std::uint64_t relocs(std::uint64_t vaddr, std::uint64_t size, std::uint64_t skip) {
    std::uint64_t limit = 0;
    const auto off = map(vaddr, size, limit);
    if (!off) return 0;
    const std::uint64_t n = size / sizeof(R), first = std::min(skip, n);
    std::uint64_t top = 0;
    // In slices, so a large table is never copied whole.
    constexpr std::uint64_t kSlice = 4096;
    std::vector<unsigned char> buf;
    for (std::uint64_t i = first; i < n; i += kSlice) {
      const std::uint64_t m = std::min(kSlice, n - i);
      if (!get_bytes(*off + i * sizeof(R), m * sizeof(R), buf)) {
        want(*off + i * sizeof(R), (n - i) * sizeof(R));
        return top;
      }
      for (std::uint64_t j = 0; j < m; ++j) {
        R r;
        std::memcpy(static_cast<void*>(&r), buf.data() + j * sizeof(R), sizeof(R));
        top = std::max<std::uint64_t>(top, std::uint64_t{R::sym(r.r_info)} + 1);
      }
    }
    return top;
  }

  // A version table (DT_VERDEF or DT_VERNEED) as symbols.cpp walks it:
  // `count` entries chained by their next field, each inside the segment
  // the address maps into; `each(off, entry, end)` for every entry read,
  // until it returns false.
  template <typename Entry, typename Each>
  void walk_versions(std::uint64_t vaddr, std::uint64_t count, Each each) {
    std::uint64_t limit = 0;
    auto o = map(vaddr, sizeof(Entry), limit);
    if (!o) return;
    std::uint64_t off = *o;
    const std::uint64_t end = off + limit;
    for (std::uint64_t i = 0; i < count; ++i) {
      if (off > end || end - off < sizeof(Entry)) return;
      Entry e;
      if (!get(off, e) || !each(off, e, end)) return;
      const std::uint64_t next = next_entry(e);
      if (next == 0) return;
      off += next;
    }
  }
  static std::uint64_t next_entry(const elf::Verdef<E>& vd) { return vd.vd_next; }
  static std::uint64_t next_entry(const elf::Verneed<E>& vn) { return vn.vn_next; }

  void read_verdef(std::uint64_t vaddr, std::uint64_t count) {
    walk_versions<elf::Verdef<E>>(vaddr, count, [&](std::uint64_t off, const elf::Verdef<E>& vd, std::uint64_t end) {
      if (vd.vd_cnt == 0 || (vd.vd_flags & VER_FLG_BASE)) return true;
      const std::uint64_t aux = off + vd.vd_aux;
      if (aux < off || aux > end || end - aux < sizeof(elf::Verdaux<E>)) return false;
      want(aux, sizeof(elf::Verdaux<E>));
      return true;
    });
  }

  void read_verneed(std::uint64_t vaddr, std::uint64_t count) {
    walk_versions<elf::Verneed<E>>(vaddr, count, [&](std::uint64_t off, const elf::Verneed<E>& vn, std::uint64_t end) {
      std::uint64_t aux = off + vn.vn_aux;
      for (std::uint32_t j = 0; j < vn.vn_cnt; ++j) {
        if (aux < off || aux > end || end - aux < sizeof(elf::Vernaux<E>)) return false;
        elf::Vernaux<E> va;
        if (!get(aux, va)) return false;
        if (va.vna_next == 0) break;
        aux += va.vna_next;
      }
      return true;
    });
  }

  std::uint16_t machine() const {
    elf::Ehdr<E> eh;
    k_.read(0, &eh, sizeof eh);  // known: run() read it first
    return eh.e_machine;
  }
};

}  // namespace

KeepPlan plan_keep(const Known& known, std::uint64_t size) {
  KeepPlan p;
  unsigned char ident[EI_NIDENT];
  if (size < EI_NIDENT) {
    p.elf = false;
    return p;
  }
  if (!known.read(0, ident, EI_NIDENT)) {
    p.complete = false;
    p.keep.push_back({0, EI_NIDENT});
    return p;
  }
  const unsigned cls = ident[EI_CLASS], data = ident[EI_DATA];
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0) {
    p.elf = false;
    return p;
  }
  p.keep.push_back({0, EI_NIDENT});
  if ((cls != ELFCLASS32 && cls != ELFCLASS64) || (data != ELFDATA2LSB && data != ELFDATA2MSB)) return p;
  const elf::Variant v = cls == ELFCLASS32 ? (data == ELFDATA2LSB ? elf::Variant::k32LE : elf::Variant::k32BE)
                                           : (data == ELFDATA2LSB ? elf::Variant::k64LE : elf::Variant::k64BE);
  elf::dispatch(v, [&](auto e) { Planner<decltype(e)>(known, size, p).run(); });
  p.keep = merge(std::move(p.keep));
  // Complete: nothing more to learn, and every range it wants is held.
  for (const Range& r : p.keep) p.complete = p.complete && known.has(r.off, r.len);
  return p;
}

}  // namespace xpatch::archive
