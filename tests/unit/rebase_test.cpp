// Symbol rebasing on every target: a rewrite that moves sections (the
// dynamic string table copied to a new segment, the items after the program
// header table moved out of its way: .interp, notes, .gnu.hash, .dynsym)
// must keep every symbol's name and section, and move its value with its
// section. Read back twice: with libpatch's reader (DT_SYMTAB, as the loader
// reaches it) and with LIEF (.dynsym and .symtab, an independent reader; it
// only reads here). Running the moved files under qemu is e2e.patch's part.
//
// XPATCH_FIXTURES names the fixtures directory; without it the test exits 77.

#include <LIEF/ELF.hpp>
#include <LIEF/logging.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "libpatch/elf/format.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/tables.h"
#include "tests/unit/fixture_files.h"

namespace xpatch {
namespace {

namespace fs = std::filesystem;

const char* fixtures() { return std::getenv("XPATCH_FIXTURES"); }

// One symbol as a reader sees it: the value relative to its section's
// address when it is defined in a section with an address (what must not
// change), else the value itself.
struct Sym {
  std::string name;
  std::uint16_t shndx = 0;
  std::uint64_t rel = 0;
  bool operator==(const Sym&) const = default;
};

std::uint64_t section_addr(const std::vector<std::uint64_t>& addrs, std::uint16_t shndx) {
  return shndx != 0 && shndx < SHN_LORESERVE && shndx < addrs.size() ? addrs[shndx] : 0;
}

// libpatch: DT_SYMTAB's entries, named through DT_STRTAB.
std::vector<Sym> reader_symbols(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  std::vector<std::uint64_t> addrs;
  for (const elf::Section& s : f.sections) addrs.push_back(s.addr);
  auto syms = rewrite::read_dynamic_symbols(f, bytes);
  EXPECT_TRUE(syms.ok()) << f.path << ": " << (syms.ok() ? "" : syms.error().message);
  std::vector<Sym> out;
  if (!syms.ok()) return out;
  for (const rewrite::DynSymbol& s : *syms)
    out.push_back({rewrite::dynamic_string(f, bytes, s.name).value_or("<no name>"), s.shndx,
                   s.value - section_addr(addrs, s.shndx)});
  return out;
}

// LIEF: .dynsym and .symtab.
struct LiefSymbols {
  std::vector<Sym> dynamic, statics;
};
LiefSymbols lief_symbols(std::span<const std::byte> bytes, const std::string& name) {
  std::vector<std::uint8_t> data(bytes.size());
  std::memcpy(data.data(), bytes.data(), bytes.size());
  LiefSymbols out;
  std::unique_ptr<LIEF::ELF::Binary> b;
  try {
    b = LIEF::ELF::Parser::parse(data, name);
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": LIEF cannot read it: " << e.what();
    return out;
  }
  std::vector<std::uint64_t> addrs;
  for (const LIEF::ELF::Section& s : b->sections()) addrs.push_back(s.virtual_address());
  for (const LIEF::ELF::Symbol& s : b->dynamic_symbols())
    out.dynamic.push_back({s.name(), s.shndx(), s.value() - section_addr(addrs, s.shndx())});
  for (const LIEF::ELF::Symbol& s : b->static_symbols())
    out.statics.push_back({s.name(), s.shndx(), s.value() - section_addr(addrs, s.shndx())});
  return out;
}

void expect_same(const std::vector<Sym>& a, const std::vector<Sym>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what << ": symbol count";
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(a[i] == b[i]) << what << ": symbol " << i << " " << a[i].name << " (section " << a[i].shndx
                              << ", +" << std::hex << a[i].rel << ") became " << b[i].name << " (section " << std::dec
                              << b[i].shndx << ", +" << std::hex << b[i].rel << ")";
}

// How many symbols of `tab` kept their value but are defined in a section
// whose address changed between `in` and `out`: each had to be rebased.
std::size_t rebased(const LIEF::ELF::Binary& in, const LIEF::ELF::Binary& out) {
  std::vector<std::uint64_t> a, b;
  for (const LIEF::ELF::Section& s : in.sections()) a.push_back(s.virtual_address());
  for (const LIEF::ELF::Section& s : out.sections()) b.push_back(s.virtual_address());
  std::size_t n = 0;
  for (const LIEF::ELF::Symbol& s : in.static_symbols())
    if (s.shndx() && s.shndx() < SHN_LORESERVE && s.shndx() < a.size() && s.shndx() < b.size() &&
        a[s.shndx()] != b[s.shndx()])
      ++n;
  for (const LIEF::ELF::Symbol& s : in.dynamic_symbols())
    if (s.shndx() && s.shndx() < SHN_LORESERVE && s.shndx() < a.size() && s.shndx() < b.size() &&
        a[s.shndx()] != b[s.shndx()])
      ++n;
  return n;
}

std::unique_ptr<LIEF::ELF::Binary> lief_parse(std::span<const std::byte> bytes, const std::string& name) {
  std::vector<std::uint8_t> data(bytes.size());
  std::memcpy(data.data(), bytes.data(), bytes.size());
  return LIEF::ELF::Parser::parse(data, name);
}

class Rebase : public ::testing::TestWithParam<const char*> {};
INSTANTIATE_TEST_SUITE_P(Targets, Rebase, ::testing::ValuesIn(test::kFixtureTargets), [](const auto& p) {
  std::string n(p.param);
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

// Each target: every fixture program and library, with a long DT_NEEDED
// (the string table must move) and a runpath longer than the padding of
// 64 KiB pages (a new PT_LOAD: the program header table needs room, and
// what follows it moves).
TEST_P(Rebase, SymbolsFollowTheirSections) {
  const fs::path dir = fs::path(fixtures()) / GetParam();
  std::size_t files = 0, strtab_moved = 0, dynsym_moved = 0, symbols_rebased = 0;
  for (const char* name : {"app-pie", "app-nopie", "app-rpath", "app-ver", "app-sym-now", "libfoo.so", "libfoo-small.so", "libver.so.1",
                           "libsym.so", "libsym-lost.so"}) {
    const fs::path p = dir / name;
    if (!fs::exists(p)) continue;
    const std::vector<std::byte> in = test::read_file(p.string());
    auto f = elf::read_elf(in, p.string());
    ASSERT_TRUE(f.ok()) << f.error().message;
    rewrite::EditSet e;
    e.add_needed = {"lib" + std::string(300, 'n') + ".so.1"};
    e.runpath = "/usr/some-tuple/lib:" + std::string(70000, 'r');
    auto plan = rewrite::plan_rewrite(*f, in, e);
    ASSERT_TRUE(plan.ok()) << p << ": " << plan.error().message;
    const std::vector<std::byte> out = rewrite::apply(*plan, in);
    auto back = elf::read_elf(out, p.string() + " (rewritten)");
    ASSERT_TRUE(back.ok()) << back.error().message;
    ++files;
    if (back->dynstr_offset != f->dynstr_offset) ++strtab_moved;
    const auto& moved = plan->layout.moved;
    if (std::find(moved.begin(), moved.end(), rewrite::Layout::Item::DynSym) != moved.end()) ++dynsym_moved;

    expect_same(reader_symbols(*f, in), reader_symbols(*back, out), p.string() + " DT_SYMTAB (libpatch)");
    const LiefSymbols a = lief_symbols(in, p.string()), b = lief_symbols(out, p.string() + " (rewritten)");
    expect_same(a.dynamic, b.dynamic, p.string() + " .dynsym (LIEF)");
    expect_same(a.statics, b.statics, p.string() + " .symtab (LIEF)");
    auto li = lief_parse(in, p.string()), lo = lief_parse(out, p.string());
    symbols_rebased += rebased(*li, *lo);
  }
  ASSERT_GT(files, 0u) << "no fixture in " << dir;
  // What makes the comparison above worth anything: the tables moved, and
  // symbols whose section moved were there to rebase.
  EXPECT_EQ(strtab_moved, files) << GetParam() << ": DT_STRTAB did not move in every file";
  EXPECT_GT(dynsym_moved, 0u) << GetParam() << ": .dynsym moved in no file";
  // x86_64's linker writes no section symbols, so no symbol of its fixtures
  // lies in a section that moves: e2e.patch.x86_64 proves rebasing there,
  // on a library with symbols pointed into .gnu.hash and .dynsym.
  if (!std::string(GetParam()).starts_with("x86_64")) {
    EXPECT_GT(symbols_rebased, 0u) << GetParam() << ": no symbol was defined in a section that moved";
  }
}

// The tables that move out of the program header table's way are bounded
// by the dynamic array (DT_HASH's nchain, DT_GNU_HASH's chains), as the
// loader reads them: a file whose section headers are gone (sstrip) plans
// the same moves, and one whose section header says another size than the
// loader reads is refused, naming both.
rewrite::EditSet table_room_edit() {
  rewrite::EditSet e;
  e.runpath = "/usr/some-tuple/lib:" + std::string(70000, 'r');
  return e;
}

TEST_P(Rebase, WithoutSectionHeadersTheSameTablesMove) {
  const std::string path = (fs::path(fixtures()) / GetParam() / "libfoo-small.so").string();
  std::vector<std::byte> in = test::read_file(path);
  auto f = elf::read_elf(in, path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto with = rewrite::plan_rewrite(*f, in, table_room_edit());
  ASSERT_TRUE(with.ok()) << with.error().message;
  ASSERT_EQ(with->layout.table_room, rewrite::Layout::TableRoom::ItemsMoved);
  test::drop_section_headers(in, f->header.variant);
  auto g = elf::read_elf(in, path + " (no section headers)");
  ASSERT_TRUE(g.ok()) << g.error().message;
  ASSERT_TRUE(g->sections.empty());
  auto without = rewrite::plan_rewrite(*g, in, table_room_edit());
  ASSERT_TRUE(without.ok()) << without.error().message;
  EXPECT_EQ(without->layout.table_room, rewrite::Layout::TableRoom::ItemsMoved);
  EXPECT_EQ(without->layout.moved, with->layout.moved);
  // The output still reads, its symbols where DT_SYMTAB now points.
  const std::vector<std::byte> out = rewrite::apply(*without, in);
  auto back = elf::read_elf(out, path + " (rewritten)");
  ASSERT_TRUE(back.ok()) << back.error().message;
  expect_same(reader_symbols(*g, in), reader_symbols(*back, out), path + " DT_SYMTAB without section headers");
}

TEST_P(Rebase, ASectionHeaderThatContradictsTheDynamicTablesIsRefused) {
  const std::string path = (fs::path(fixtures()) / GetParam() / "libfoo-small.so").string();
  std::vector<std::byte> in = test::read_file(path);
  auto f = elf::read_elf(in, path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  std::size_t dynsym = 0;
  for (std::size_t i = 0; i < f->sections.size(); ++i)
    if (f->sections[i].type == SHT_DYNSYM) dynsym = i;
  ASSERT_NE(dynsym, 0u);
  elf::dispatch(f->header.variant, [&](auto v) {
    using E = decltype(v);
    elf::Shdr<E> sh;
    const std::uint64_t at = f->header.shoff + dynsym * sizeof sh;
    std::memcpy(&sh, in.data() + at, sizeof sh);
    sh.sh_size = sh.sh_size + 4 * sizeof(elf::Sym<E>);  // four symbols the hash table does not count
    std::memcpy(in.data() + at, &sh, sizeof sh);
  });
  auto g = elf::read_elf(in, path);
  ASSERT_TRUE(g.ok()) << g.error().message;
  auto plan = rewrite::plan_rewrite(*g, in, table_room_edit());
  ASSERT_FALSE(plan.ok()) << path << ": planned over a .dynsym whose sh_size contradicts DT_HASH";
  EXPECT_EQ(plan.error().kind, Error::Kind::Malformed);
  const std::string& m = plan.error().message;
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find(".dynsym"), std::string::npos) << m;
  EXPECT_NE(m.find("sh_size"), std::string::npos) << m;
  EXPECT_NE(m.find("DT_HASH"), std::string::npos) << m;
}

// Two symbol tables over the same bytes (a damaged file: a second
// SHT_SYMTAB header on .symtab's entries from the second on): the symbols
// defined in a moved section would each be rebased twice, by two writes to
// one entry. The
// planned writes must not overlap, so the plan is refused as a layout no
// rewrite can keep; the file with one table plans fine.
TEST(RebaseAarch64, TwoSymbolTablesOverTheSameBytesAreRefused) {
  // aarch64: its linker writes section symbols, .interp's among them, and .interp moves.
  const std::string path = (fs::path(fixtures()) / "aarch64" / "app-pie").string();
  std::vector<std::byte> in = test::read_file(path);
  auto f = elf::read_elf(in, path);
  ASSERT_TRUE(f.ok()) << f.error().message;
  std::size_t symtab = 0, comment = 0;
  for (std::size_t i = 0; i < f->sections.size(); ++i) {
    if (f->sections[i].type == SHT_SYMTAB) symtab = i;
    if (f->sections[i].name == ".comment") comment = i;
  }
  ASSERT_NE(symtab, 0u);
  ASSERT_NE(comment, 0u);
  const elf::Section& t = f->sections[symtab];
  auto once = rewrite::plan_rewrite(*f, in, table_room_edit());
  ASSERT_TRUE(once.ok()) << once.error().message;
  ASSERT_TRUE(std::any_of(once->writes.begin(), once->writes.end(),
                          [&](const rewrite::Write& w) { return w.offset >= t.offset && w.offset < t.offset + t.size; }))
      << "no .symtab entry rebased: the test proves nothing";

  using E = elf::Elf64LE;  // aarch64
  elf::Shdr<E> sh;
  std::memcpy(&sh, in.data() + f->header.shoff + symtab * sizeof sh, sizeof sh);
  sh.sh_name = std::uint32_t{0};
  sh.sh_offset = sh.sh_offset + sizeof(elf::Sym<E>);  // the same entries from the second on: another table
  sh.sh_size = sh.sh_size - sizeof(elf::Sym<E>);
  std::memcpy(in.data() + f->header.shoff + comment * sizeof sh, &sh, sizeof sh);
  auto g = elf::read_elf(in, path);
  ASSERT_TRUE(g.ok()) << g.error().message;
  auto twice = rewrite::plan_rewrite(*g, in, table_room_edit());
  ASSERT_FALSE(twice.ok()) << "planned " << twice->writes.size() << " writes";
  EXPECT_EQ(twice.error().kind, Error::Kind::Malformed);
  EXPECT_EQ(twice.error().message.rfind(path + ": layout: ", 0), 0u) << twice.error().message;
}

}  // namespace
}  // namespace xpatch

// Without fixtures there is nothing to read: skip (77).
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!xpatch::fixtures() || !std::filesystem::exists(std::filesystem::path(xpatch::fixtures()) / "x86_64")) {
    std::printf("skip - XPATCH_FIXTURES names no fixtures directory\n");
    return 77;
  }
  LIEF::Logger::disable();
  return RUN_ALL_TESTS();
}
