// The structure map against readelf's view of the cross-compiled fixtures
// (XPATCH_FIXTURES, all ten targets): each dynamic table the map finds
// through the dynamic array (symbols, hashes, versions) is exactly the
// section readelf lists for it, the notes tile each note section, and the
// map finds the same tables when the file has no section headers at all
// (the symbol table as far as the hash tables tell).

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/fixture_files.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/structure_map.h"

namespace xpatch {
namespace {

using rewrite::Structure;
using rewrite::StructureKind;
using rewrite::StructureMap;

struct Range {
  std::uint64_t begin = 0, end = 0;
  bool operator==(const Range&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Range& r) {
  return os << std::hex << "[0x" << r.begin << ", 0x" << r.end << ")";
}

// readelf -SW: section type -> the file ranges of the sections of that type.
std::multimap<std::string, Range> readelf_sections(const std::string& path) {
  std::multimap<std::string, Range> out;
  const std::string cmd = "readelf -SW '" + path + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  // "  [ 1] .interp  PROGBITS  0000000000000318 000318 00001c ..."; not
  // std::regex: GCC 12 warns (maybe-uninitialized) inside <regex> under ASan.
  auto hex = [](const std::string& t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isxdigit(c); });
  };
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p)) {
    const char* lb = std::strchr(buf, '[');
    const char* rb = lb ? std::strchr(lb, ']') : nullptr;
    if (!rb) continue;
    std::istringstream index(std::string(lb + 1, rb));
    unsigned n = 0;
    if (!(index >> n) || n == 0) continue;
    std::istringstream rest(rb + 1);
    std::string name, type, addr, off, size;
    if (!(rest >> name >> type >> addr >> off >> size) || !hex(off) || !hex(size)) continue;
    const std::uint64_t o = std::stoull(off, nullptr, 16), z = std::stoull(size, nullptr, 16);
    out.emplace(type, Range{o, o + z});
  }
  ::pclose(p);
  return out;
}

StructureMap map_of(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  return elf::dispatch(f.header.variant, [&](auto e) {
    using E = decltype(e);
    return StructureMap(f, bytes,
                        {sizeof(elf::Ehdr<E>), sizeof(elf::Phdr<E>), sizeof(elf::Shdr<E>), sizeof(elf::Dyn<E>)});
  });
}

// The map's entries of `kind`, merged where they touch: a table of many
// entries (versions, notes) as the ranges it covers.
std::vector<Range> covered(const StructureMap& m, StructureKind kind) {
  std::vector<Range> out;
  for (const Structure& s : m.all()) {
    if (s.kind != kind) continue;
    if (!out.empty() && out.back().end == s.begin) out.back().end = s.end;
    else out.push_back({s.begin, s.end});
  }
  return out;
}

std::vector<std::string> fixture_files() {
  std::vector<std::string> out;
  const char* dir = std::getenv("XPATCH_FIXTURES");
  if (!dir) return out;
  for (const char* t : test::kFixtureTargets)
    for (const char* f : {"app-pie", "app-nopie", "app-ver", "libver.so.1", "libsym.so"})
      if (std::filesystem::exists(std::string(dir) + "/" + t + "/" + f))
        out.push_back(std::string(dir) + "/" + t + "/" + f);
  return out;
}

class StructureMapFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(StructureMapFixture, DynamicTablesAreReadelfsSections) {
  const std::vector<std::byte> bytes = test::read_file(GetParam());
  auto f = elf::read_elf(bytes, GetParam());
  ASSERT_TRUE(f.ok()) << f.error().message;
  const StructureMap map = map_of(*f, bytes);
  const auto sections = readelf_sections(GetParam());
  ASSERT_FALSE(sections.empty()) << "readelf -SW " << GetParam();

  // One section of each type, and the map's table is exactly it.
  const std::pair<const char*, StructureKind> tables[] = {
      {"DYNSYM", StructureKind::DynamicSymbols}, {"HASH", StructureKind::SymbolHash},
      {"GNU_HASH", StructureKind::GnuHash},      {"VERSYM", StructureKind::VersionSymbols},
      {"VERNEED", StructureKind::VersionNeeds},  {"VERDEF", StructureKind::VersionDefs},
  };
  unsigned seen = 0;
  for (const auto& [type, kind] : tables) {
    std::vector<Range> want;
    for (auto [it, end] = sections.equal_range(type); it != end; ++it) want.push_back(it->second);
    EXPECT_EQ(covered(map, kind), want) << type;
    seen += !want.empty();
  }
  EXPECT_GE(seen, 3u) << "a dynamic fixture has at least .dynsym, a hash table and .gnu.version";

  // The notes tile each note section.
  const std::vector<Range> notes = covered(map, StructureKind::Note);
  for (auto [it, end] = sections.equal_range("NOTE"); it != end; ++it) {
    const Range sec = it->second;
    const bool tiled = std::any_of(notes.begin(), notes.end(),
                                   [&](const Range& r) { return r.begin <= sec.begin && sec.end <= r.end; });
    EXPECT_TRUE(tiled) << "note section " << sec;
  }
  std::uint64_t in_notes = 0;
  for (const Structure& s : map.all()) in_notes += s.kind == StructureKind::Note;
  EXPECT_GE(in_notes, sections.count("NOTE"));
}

// The loader needs no section headers, and neither does the map: with
// e_shoff, e_shnum and e_shstrndx zeroed, it finds the same tables.
TEST_P(StructureMapFixture, WithoutSectionHeadersTheSameTables) {
  std::vector<std::byte> bytes = test::read_file(GetParam());
  auto f = elf::read_elf(bytes, GetParam());
  ASSERT_TRUE(f.ok()) << f.error().message;
  const StructureMap with = map_of(*f, bytes);
  test::drop_section_headers(bytes, f->header.variant);
  auto g = elf::read_elf(bytes, GetParam());
  ASSERT_TRUE(g.ok()) << g.error().message;
  ASSERT_TRUE(g->sections.empty());
  const StructureMap without = map_of(*g, bytes);
  for (StructureKind k : {StructureKind::SymbolHash, StructureKind::GnuHash, StructureKind::VersionNeeds,
                          StructureKind::VersionDefs, StructureKind::Note, StructureKind::DynamicArray,
                          StructureKind::DynamicStrings})
    EXPECT_EQ(covered(without, k), covered(with, k)) << static_cast<int>(k);
  // The symbol count then comes from the hash tables: DT_HASH's nchain is
  // every symbol, DT_GNU_HASH covers only the hashed ones (a program's
  // undefined symbols may lie past them), so the table starts at the same
  // place and may end earlier.
  for (StructureKind k : {StructureKind::DynamicSymbols, StructureKind::VersionSymbols}) {
    const std::vector<Range> a = covered(without, k), b = covered(with, k);
    ASSERT_EQ(a.size(), b.size()) << static_cast<int>(k);
    if (a.empty()) continue;
    EXPECT_EQ(a[0].begin, b[0].begin) << static_cast<int>(k);
    EXPECT_LE(a[0].end, b[0].end) << static_cast<int>(k);
    if (!covered(with, StructureKind::SymbolHash).empty()) {
      EXPECT_EQ(a, b) << static_cast<int>(k);
    }
  }
  EXPECT_TRUE(covered(without, StructureKind::SectionNames).empty());
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StructureMapFixture);  // without XPATCH_FIXTURES: see main
INSTANTIATE_TEST_SUITE_P(Fixtures, StructureMapFixture, ::testing::ValuesIn(fixture_files()), [](const auto& p) {
  const std::filesystem::path path(p.param);
  std::string n = path.parent_path().filename().string() + "_" + path.filename().string();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

}  // namespace
}  // namespace xpatch

// Without fixtures (or readelf) there is nothing to compare: skip (77), so
// CTest shows it instead of passing.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!std::getenv("XPATCH_FIXTURES") || xpatch::fixture_files().empty()) {
    std::fprintf(stderr, "structure_map_test: XPATCH_FIXTURES is not set or holds no fixtures\n");
    return 77;
  }
  if (std::system("readelf --version >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "structure_map_test: readelf is not installed\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
