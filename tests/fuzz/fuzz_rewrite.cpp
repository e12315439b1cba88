// libFuzzer target: the reader, and the planner + writer patching into
// memory with an edit set chosen by the input. Properties checked:
//  - reading never crashes, whatever the bytes;
//  - a plan applies, and its output reads back with the requested values
//    (anything else is a planner bug, reported by abort());
//  - every edit is exercised (the choice byte, and the file's last byte);
//  - no write lands in another structure: every section that is not one a
//    rewrite changes (the string table, the dynamic array, .interp, version
//    needs, symbol tables) keeps its bytes, wherever it now lies; every
//    dynamic entry no edit asked for keeps its value; the tables the
//    dynamic array points at keep their bytes, wherever they now lie, and
//    each dynamic symbol its fields (its value moved with its section);
//  - the verifier runs on every output without crashing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/tables.h"
#include "libpatch/rewrite/verify.h"

using namespace xpatch;

namespace {

bool overlaps(std::uint64_t a, std::uint64_t n, std::uint64_t b, std::uint64_t m) { return n && m && a < b + m && b < a + n; }

// Sections the rewrite does not change keep their bytes (at their new place
// when they moved with the program header table's room); dynamic entries no
// edit touches keep their values.
void unchanged_outside_edits(const elf::ElfFile& in, std::span<const std::byte> ib, const elf::ElfFile& out,
                             std::span<const std::byte> ob, const rewrite::Plan& plan) {
  if (in.sections.size() != out.sections.size()) {
    std::fprintf(stderr, "section count changed: %zu -> %zu\n", in.sections.size(), out.sections.size());
    std::abort();
  }
  // What a rewrite rewrites: the headers, the dynamic array and strings,
  // the interpreter, and (through symbol rebasing) the symbol tables.
  const std::uint64_t ph = in.header.phoff, phn = std::uint64_t{out.header.phnum} * out.header.phentsize;
  const std::uint64_t sh = in.header.shoff, shn = (std::uint64_t{in.header.shnum} + 1) * 64;
  // With items moved out of the table's way, their old bytes are cleared:
  // a section reaching into one only partly (damaged headers) stays behind.
  auto partly_in_moved_item = [&](const elf::Section& a) {
    if (plan.layout.table_room != rewrite::Layout::TableRoom::ItemsMoved) return false;
    auto partly = [&](std::uint64_t o, std::uint64_t n) {
      return overlaps(a.offset, a.size, o, n) && !(a.offset >= o && a.offset + a.size <= o + n);
    };
    for (const auto& seg : in.segments)
      if ((seg.type == PT_NOTE || seg.type == PT_INTERP) && partly(seg.offset, seg.filesz)) return true;
    for (const auto& sec : in.sections)
      if ((sec.type == SHT_GNU_HASH || sec.type == SHT_HASH || sec.type == SHT_DYNSYM || sec.type == SHT_NOTE) &&
          partly(sec.offset, sec.size))
        return true;
    return false;
  };
  auto rewritten_type = [](std::uint32_t t) {
    return t == SHT_DYNAMIC || t == SHT_DYNSYM || t == SHT_SYMTAB || t == SHT_GNU_verneed || t == SHT_STRTAB;
  };
  // A section reaching into one a rewrite changes (damaged headers: .data
  // over .symtab, whose rebased symbols are rewritten) shares its bytes.
  // So does one over a table the dynamic array points at that a rewrite
  // changes, whatever its section header's type says (DT_VERNEED's vn_file,
  // DT_SYMTAB's rebased symbols).
  auto tables = rewrite::dynamic_tables(in, ib);
  auto in_rewritten_section = [&](const elf::Section& a) {
    for (const auto& o : in.sections)
      if (&o != &a && rewritten_type(o.type) && overlaps(a.offset, a.size, o.offset, o.size)) return true;
    if (tables) {
      if (overlaps(a.offset, a.size, tables->symbols.offset, tables->symbols.size)) return true;
      for (const auto& r : tables->version_needs)
        if (overlaps(a.offset, a.size, r.offset, r.size)) return true;
    }
    return false;
  };
  const elf::Segment* interp = in.find_segment(PT_INTERP);
  const elf::Segment* dyn = in.find_segment(PT_DYNAMIC);
  for (std::size_t i = 0; i < in.sections.size(); ++i) {
    const elf::Section& a = in.sections[i];
    const elf::Section& b = out.sections[i];
    if (a.type == SHT_NULL || a.type == SHT_NOBITS || !a.size) continue;
    if (rewritten_type(a.type) || in_rewritten_section(a)) continue;
    if (overlaps(a.offset, a.size, 0, 64) || overlaps(a.offset, a.size, ph, phn) || overlaps(a.offset, a.size, sh, shn) ||
        (interp && overlaps(a.offset, a.size, interp->offset, interp->filesz)) ||
        (dyn && overlaps(a.offset, a.size, dyn->offset, dyn->filesz)) ||
        overlaps(a.offset, a.size, in.dynstr_offset, in.dynstr_size) || partly_in_moved_item(a))
      continue;  // shares bytes with a structure that is rewritten (damaged headers, or .interp)
    if (b.size != a.size || b.offset + b.size > ob.size() ||
        std::memcmp(ib.data() + a.offset, ob.data() + b.offset, a.size) != 0) {
      std::fprintf(stderr, "section %zu (%s) at %#llx changed: a write landed in bytes it owns\n", i, a.name.c_str(),
                   static_cast<unsigned long long>(a.offset));
      std::abort();
    }
  }
  // Dynamic entries: those no edit asked for keep their values, in order
  // (addresses of tables that moved aside).
  auto kept = [](std::uint64_t tag) {
    return !elf::is_string_tag(tag) && tag != DT_STRTAB && tag != DT_STRSZ && tag != DT_SYMTAB && tag != DT_HASH &&
           tag != DT_GNU_HASH && tag != DT_MIPS_RLD_MAP_REL;
  };
  std::vector<elf::DynEntry> before, after;
  for (const auto& d : in.dynamic) if (kept(d.tag)) before.push_back(d);
  for (const auto& d : out.dynamic) if (kept(d.tag)) after.push_back(d);
  bool same = before.size() == after.size();
  for (std::size_t i = 0; same && i < before.size(); ++i)
    same = before[i].tag == after[i].tag && before[i].value == after[i].value;
  if (!same) {
    std::fprintf(stderr, "a dynamic entry no edit asked for changed (%zu entries before, %zu after)\n", before.size(),
                 after.size());
    std::abort();
  }
}

// The tables the dynamic array points at keep their bytes wherever they now
// lie (a moved .gnu.hash is only useful if DT_GNU_HASH follows it), and
// each dynamic symbol keeps its fields, its value moved with its section.
void dynamic_tables_kept(const elf::ElfFile& in, std::span<const std::byte> ib, const elf::ElfFile& out,
                         std::span<const std::byte> ob) {
  auto a = rewrite::dynamic_tables(in, ib);
  if (!a) return;  // the input's tables do not bound: nothing to compare
  auto b = rewrite::dynamic_tables(out, ob);
  auto fail = [](const char* what) {
    std::fprintf(stderr, "%s\n", what);
    std::abort();
  };
  if (!b) {
    std::fprintf(stderr, "output's dynamic tables: %s\n", b.error().message.c_str());
    fail("the output's dynamic tables no longer read");
  }
  auto same_bytes = [&](const rewrite::TableRange& x, const rewrite::TableRange& y, const char* what) {
    if (x.size != y.size || std::memcmp(ib.data() + x.offset, ob.data() + y.offset, x.size) != 0) fail(what);
  };
  same_bytes(a->hash, b->hash, "DT_HASH's table changed");
  same_bytes(a->gnu_hash, b->gnu_hash, "DT_GNU_HASH's table changed");
  same_bytes(a->versym, b->versym, "DT_VERSYM's table changed");
  auto sa = rewrite::read_dynamic_symbols(in, ib), sb = rewrite::read_dynamic_symbols(out, ob);
  if (!sa) return;
  if (!sb || sa->size() != sb->size()) fail("DT_SYMTAB's symbols changed in number");
  auto moved = [](const elf::ElfFile& f, std::uint16_t shndx) -> std::uint64_t {
    return shndx != SHN_UNDEF && shndx < SHN_LORESERVE && shndx < f.sections.size() ? f.sections[shndx].addr : 0;
  };
  for (std::size_t i = 0; i < sa->size(); ++i) {
    const rewrite::DynSymbol &x = (*sa)[i], &y = (*sb)[i];
    if (x.name != y.name || x.size != y.size || x.info != y.info || x.other != y.other || x.shndx != y.shndx ||
        x.value - moved(in, x.shndx) != y.value - moved(out, y.shndx))
      fail("a dynamic symbol changed (or its value did not follow its section)");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // The first byte chooses the edits; the rest is the file.
  const std::uint8_t choice = data[0];
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  auto f = elf::read_elf(bytes, "fuzz");
  if (!f) return 0;
  (void)f->is_pie();

  rewrite::EditSet e;
  static const char* kInterp[] = {"/lib/ld.so", "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"};
  static const char* kPath[] = {"$ORIGIN", "/usr/x86_64-linux-gnu/lib:/opt/some/longer/runpath/entry"};
  if (choice & 1) e.interpreter = kInterp[(choice >> 1) & 1];
  if (choice & 4) e.runpath = kPath[(choice >> 3) & 1];
  if (choice & 16) e.add_needed = {"libfuzz-extra.so.1"};
  if (choice & 32) e.soname = "libfuzz.so.9";
  if (choice & 64) e.remove_runpath = !(choice & 4);
  if (choice & 128) {
    if (e.runpath) e.force_rpath = true;  // runpath and rpath together are refused
    else e.rpath = "/old/rpath";
  }
  // More edits from the file's last byte (padding or section headers, usually).
  const std::uint8_t more = data[size - 1];
  // Names longer than a 4 KiB page's padding (each below PATH_MAX): a new
  // PT_LOAD, so the program header table needs room and the items after it
  // move.
  if (more & 16)
    for (char c : {'l', 'm'}) e.add_needed.push_back("lib" + std::string(3000, c) + ".so");
  // Renaming a name this edit set also adds would rename the added entry on
  // a second run: not an idempotent edit set, so not asked.
  if ((more & 1) && !f->needed.empty() &&
      std::find(e.add_needed.begin(), e.add_needed.end(), f->needed.front()) == e.add_needed.end())
    e.replace_needed = {{std::string(f->needed.front()), "libfuzz-renamed.so.2"}};
  // Likewise removing a name it also adds: a second run removes the entry
  // the first one added and appends it again, after the other added ones.
  if ((more & 2) && !f->needed.empty() &&
      std::find(e.add_needed.begin(), e.add_needed.end(), f->needed.back()) == e.add_needed.end())
    e.remove_needed = {std::string(f->needed.back())};
  if ((more & 4) && !e.remove_runpath) e.add_runpath = {"/fuzz/added"};
  if (more & 8) e.force_rpath = true;
  if (e.empty()) return 0;

  auto plan = rewrite::plan_rewrite(*f, bytes, e);
  if (!plan) return 0;  // refused with a message: fine
  std::vector<std::byte> out = rewrite::apply(*plan, bytes);
  auto back = elf::read_elf(out, "fuzz-out");
  if (!back) {
    std::fprintf(stderr, "output does not read back: %s\n", back.error().message.c_str());
    std::abort();
  }
  // The verifier reads both sides through the same kind of hostile
  // headers: it may find discrepancies, never crash.
  (void)rewrite::verify_rewrite(*f, bytes, out, e);
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "output lost the edit: %s\n", what);
      std::abort();
    }
  };
  if (e.interpreter) expect(back->interpreter == e.interpreter, "interpreter");
  // A path set here, then extended by add_runpath with what it lacks (edits.h).
  auto dirs_of = [](std::string_view p) {
    std::vector<std::string> v;
    for (std::size_t a = 0; a <= p.size();) {
      std::size_t b = std::min(p.find(':', a), p.size());
      if (b > a) v.emplace_back(p.substr(a, b - a));
      a = b + 1;
    }
    return v;
  };
  auto with_added = [&](std::string p) {
    std::vector<std::string> have = dirs_of(p);
    for (const auto& d : e.add_runpath)
      if (std::find(have.begin(), have.end(), d) == have.end()) p += (p.empty() ? "" : ":") + d;
    return p;
  };
  if (e.runpath) expect((e.force_rpath ? back->rpath : back->runpath) == with_added(*e.runpath), "runpath");
  if (e.runpath || e.rpath) expect(!(back->runpath && back->rpath), "one search path tag");
  if (e.soname) expect(back->soname == e.soname, "soname");
  if (e.rpath) expect(back->rpath == with_added(*e.rpath), "rpath");
  if (!e.runpath && !e.rpath && !e.add_runpath.empty()) {
    const auto& in_force = back->runpath ? back->runpath : back->rpath;
    std::vector<std::string> have = in_force ? dirs_of(*in_force) : std::vector<std::string>{};
    for (const auto& d : e.add_runpath)
      expect(std::find(have.begin(), have.end(), d) != have.end(), "add-runpath");
  }
  for (const auto& lib : e.add_needed)
    expect(std::find(back->needed.begin(), back->needed.end(), lib) != back->needed.end(), "add-needed");
  unchanged_outside_edits(*f, bytes, *back, out, *plan);
  dynamic_tables_kept(*f, bytes, *back, out);
  // Planning the same edits again must be a no-op.
  auto again = rewrite::plan_rewrite(*back, out, e);
  if (again && again->changes()) {
    std::fprintf(stderr, "second identical patch still changes %zu ranges\n", again->writes.size());
    std::abort();
  }
  return 0;
}
