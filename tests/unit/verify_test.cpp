// The verifier must be able to say no. Each test plans a correct edit,
// applies it, then damages the output by hand the way a planner mistake
// would (a vn_file still naming the replaced library, an interpreter write
// over a build-id note, a zeroed .dynsym, a dynamic entry changed unasked, a
// string offset out of range), and expects the damage to be reported. The
// undamaged outputs must pass, so a verifier that always says no fails too.
//
// Synthetic images cover the four ELF variants; the cross-compiled fixtures
// (XPATCH_FIXTURES, all ten targets) bring real sections, symbol versions and
// notes.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/unit/fixture_files.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/tables.h"
#include "libpatch/rewrite/verify.h"
#include "tests/unit/elf_builder.h"

namespace xpatch {
namespace {

using rewrite::Discrepancy;
using rewrite::EditSet;
using Kind = Discrepancy::Kind;

struct Patched {
  elf::ElfFile in;
  std::vector<std::byte> in_bytes, out;
};

Patched plan_and_apply(std::vector<std::byte> in, const EditSet& e) {
  auto f = elf::read_elf(in, "in");
  EXPECT_TRUE(f.ok()) << f.error().message;
  auto p = rewrite::plan_rewrite(*f, in, e);
  if (!p) {
    ADD_FAILURE() << p.error().message;
    return {std::move(*f), std::move(in), {}};
  }
  auto out = rewrite::apply(*p, in);
  return {std::move(*f), std::move(in), std::move(out)};
}

std::vector<Discrepancy> verify(const Patched& p, const EditSet& e) {
  return rewrite::verify_rewrite(p.in, p.in_bytes, p.out, e);
}

std::string dump(const std::vector<Discrepancy>& d) {
  std::string s;
  for (const auto& x : d) s += fmt::format("[{}] {}: {}\n", rewrite::discrepancy_kind_name(x.kind), x.structure, x.message);
  return s;
}

bool has(const std::vector<Discrepancy>& d, Kind k) {
  return std::any_of(d.begin(), d.end(), [&](const Discrepancy& x) { return x.kind == k; });
}

elf::ElfFile reread(const std::vector<std::byte>& b) {
  auto f = elf::read_elf(b, "out");
  EXPECT_TRUE(f.ok()) << f.error().message;
  return f.ok() ? std::move(*f) : elf::ElfFile{};
}

// Writes a native integer of the file's width and byte order.
template <typename T, typename E>
void put(std::vector<std::byte>& b, std::uint64_t off, std::uint64_t v) {
  elf::Int<T, E::endian> x(static_cast<T>(v));
  std::memcpy(b.data() + off, &x, sizeof x);
}

// ---- synthetic images, four variants ------------------------------------

// With a PT_NULL entry: edits that need a new segment have one.
test::Spec roomy() {
  test::Spec s;
  s.null_phdr = true;
  return s;
}

template <typename E>
class VerifySynthetic : public ::testing::Test {};
using Variants = ::testing::Types<elf::Elf32LE, elf::Elf32BE, elf::Elf64LE, elf::Elf64BE>;
TYPED_TEST_SUITE(VerifySynthetic, Variants);

TYPED_TEST(VerifySynthetic, CorrectOutputsPass) {
  test::Spec s = roomy();
  std::vector<EditSet> edits(5);
  edits[0].runpath = "/usr/lib/x";
  edits[1].interpreter = "/lib/ld.so";
  edits[2].add_needed = {"libextra.so.3"};
  edits[3].soname = "libnew.so.1";
  edits[3].replace_needed = {{"libfoo.so.1", "libbar.so.2"}};
  edits[4].remove_runpath = true;
  edits[4].interpreter = "/a/much/longer/path/to/the/loader/than/there/was/room/for/ld.so.1";
  for (const EditSet& e : edits) {
    auto p = plan_and_apply(test::build_elf<TypeParam>(s).bytes, e);
    auto d = verify(p, e);
    EXPECT_TRUE(d.empty()) << dump(d);
  }
}

TYPED_TEST(VerifySynthetic, DynamicEntryChangedUnaskedIsReported) {
  EditSet e;
  e.runpath = "/usr/lib/x";
  auto p = plan_and_apply(test::build_elf<TypeParam>(roomy()).bytes, e);
  elf::ElfFile out = reread(p.out);
  // DT_FLAGS_1 loses DF_1_PIE: no edit asked for that.
  for (std::size_t i = 0; i < out.dynamic.size(); ++i)
    if (out.dynamic[i].tag == DT_FLAGS_1)
      put<typename TypeParam::Native, TypeParam>(p.out, out.dynamic_offset + i * sizeof(elf::Dyn<TypeParam>) +
                                                             sizeof(typename TypeParam::Addr), 0);
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::DynamicEntry)) << dump(d);
}

TYPED_TEST(VerifySynthetic, WrongInterpreterAndNeededAreReported) {
  EditSet e;
  e.interpreter = "/lib/ld.so";
  e.add_needed = {"libz.so.1"};
  auto p = plan_and_apply(test::build_elf<TypeParam>(roomy()).bytes, e);
  EditSet asked = e;
  asked.interpreter = "/lib/other.so";  // verified against edits the output does not carry out
  asked.add_needed = {"libq.so.1"};
  auto d = verify(p, asked);
  EXPECT_EQ(std::count_if(d.begin(), d.end(), [](const Discrepancy& x) { return x.kind == Kind::View; }), 2) << dump(d);
}

TYPED_TEST(VerifySynthetic, StringOffsetOutOfRangeIsReported) {
  EditSet e;
  e.soname = "libnew.so.1";
  auto p = plan_and_apply(test::build_elf<TypeParam>(roomy()).bytes, e);
  elf::ElfFile out = reread(p.out);
  for (std::size_t i = 0; i < out.dynamic.size(); ++i)
    if (out.dynamic[i].tag == DT_SONAME)
      put<typename TypeParam::Native, TypeParam>(p.out, out.dynamic_offset + i * sizeof(elf::Dyn<TypeParam>) +
                                                             sizeof(typename TypeParam::Addr), out.dynstr_size + 40);
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::Unreadable)) << dump(d);
}

// A PT_INTERP whose range also covers a note, in a file without section
// headers: the slot is the string and its NUL padding, never the note. Any
// output that damaged the note must be refused; whether the planner refuses,
// writes around the note or writes over it, verify must tell the truth.
TYPED_TEST(VerifySynthetic, InterpreterSlotOverANoteIsNeverApproved) {
  test::Spec s;
  s.interp = "/lib/ld-test.so.1";  // 18 bytes with its NUL
  s.note_bytes = 16;
  auto img = test::build_elf<TypeParam>(s);
  auto f = elf::read_elf(img.bytes, "in");
  ASSERT_TRUE(f.ok());
  const elf::Segment* note = f->find_segment(PT_NOTE);
  ASSERT_NE(note, nullptr);
  // Widen PT_INTERP over the note (program header 1 in the builder's order).
  const std::uint64_t ph = img.phoff + 1 * sizeof(elf::Phdr<TypeParam>);
  elf::Phdr<TypeParam> p;
  std::memcpy(&p, img.bytes.data() + ph, sizeof p);
  ASSERT_EQ(std::uint32_t{p.p_type}, std::uint32_t{PT_INTERP});
  p.p_filesz = p.p_memsz = static_cast<typename TypeParam::Native>(note->offset + note->filesz - img.interp_off);
  std::memcpy(img.bytes.data() + ph, &p, sizeof p);

  EditSet e;
  e.interpreter = "/lib/ld.so";
  auto in = elf::read_elf(img.bytes, "in");
  ASSERT_TRUE(in.ok()) << in.error().message;
  auto plan = rewrite::plan_rewrite(*in, img.bytes, e);
  if (!plan) GTEST_SKIP() << "the planner refuses: " << plan.error().message;
  auto out = rewrite::apply(*plan, img.bytes);
  auto d = rewrite::verify_rewrite(*in, img.bytes, out, e);
  const bool note_kept = std::memcmp(out.data() + note->offset, img.bytes.data() + note->offset, note->filesz) == 0;
  if (!note_kept) EXPECT_TRUE(has(d, Kind::Bytes)) << "the note was overwritten and verify approved it\n" << dump(d);
  else EXPECT_TRUE(d.empty()) << dump(d);
  // The same damage done by hand to a correct output is reported too.
  std::vector<std::byte> damaged = out;
  std::fill_n(damaged.begin() + static_cast<std::ptrdiff_t>(note->offset), note->filesz, std::byte{0});
  auto d2 = rewrite::verify_rewrite(*in, img.bytes, damaged, e);
  EXPECT_TRUE(has(d2, Kind::Bytes)) << dump(d2);
}

// The second reader's view: any field that differs is reported, naming it.
TEST(CompareViews, EachFieldThatDiffersIsReported) {
  rewrite::DynamicView a{"/lib/ld.so", "/r", std::nullopt, "libx.so.1", {"libc.so.6"}, {{"libc.so.6", {"GLIBC_2.17"}}}};
  EXPECT_TRUE(rewrite::compare_views(a, a, "LIEF").empty());
  auto b = a;
  b.interpreter = "/lib/other.so";
  b.rpath = "/r";
  b.version_needs[0].file = "libd.so";
  auto d = rewrite::compare_views(a, b, "LIEF");
  ASSERT_EQ(d.size(), 3u) << dump(d);
  EXPECT_EQ(d[0].structure, "PT_INTERP");
  EXPECT_EQ(d[1].structure, "DT_RPATH");
  EXPECT_EQ(d[2].structure, "DT_VERNEED");
  EXPECT_NE(d[0].message.find("LIEF reads \"/lib/other.so\""), std::string::npos) << d[0].message;
}

// ---- the cross-compiled fixtures of every target -------------------------

std::vector<std::string> fixture_programs() {
  std::vector<std::string> out;
  const char* dir = std::getenv("XPATCH_FIXTURES");
  if (!dir) return out;
  for (const char* t : test::kFixtureTargets)
    out.push_back(std::string(dir) + "/" + t + "/app-pie");
  return out;
}

const elf::Section* section(const elf::ElfFile& f, std::string_view name) {
  for (const auto& s : f.sections)
    if (s.name == name) return &s;
  return nullptr;
}

class VerifyFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::getenv("XPATCH_FIXTURES")) GTEST_SKIP() << "XPATCH_FIXTURES is not set";
    ASSERT_TRUE(std::filesystem::exists(GetParam())) << GetParam();
    bytes_ = test::read_file(GetParam());
  }
  std::vector<std::byte> bytes_;
};

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VerifyFixture);  // without XPATCH_FIXTURES
INSTANTIATE_TEST_SUITE_P(Targets, VerifyFixture, ::testing::ValuesIn(fixture_programs()),
                         [](const auto& target) {
                           std::string n = std::filesystem::path(target.param).parent_path().filename().string();
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST_P(VerifyFixture, CorrectRunpathAndInterpreterPass) {
  EditSet e;
  e.runpath = "/usr/lib/a:/usr/lib/b";
  e.interpreter = "/lib/ld.so";
  auto p = plan_and_apply(bytes_, e);
  auto d = verify(p, e);
  EXPECT_TRUE(d.empty()) << dump(d);
}

// glibc's loader aborts a program whose DT_VERNEED names a library that is
// not a DT_NEEDED (dl-version.c: "needed != NULL").
TEST_P(VerifyFixture, VersionNeedNamingTheReplacedLibraryIsReported) {
  auto in = elf::read_elf(bytes_, "in");
  ASSERT_TRUE(in.ok());
  auto needs = rewrite::read_version_needs(*in, bytes_);
  ASSERT_TRUE(needs.ok()) << needs.error().message;
  std::optional<std::string> lib;
  for (const auto& n : *needs) lib = rewrite::dynamic_string(*in, bytes_, n.file);
  if (!lib) GTEST_SKIP() << "no symbol versions (musl)";
  EditSet e;
  e.replace_needed = {{*lib, "libreplaced.so.9"}};
  auto p = plan_and_apply(bytes_, e);
  // Put the old name back into every entry that names it or its replacement.
  elf::ElfFile out = reread(p.out);
  auto out_needs = rewrite::read_version_needs(out, p.out);
  ASSERT_TRUE(out_needs.ok());
  std::optional<std::uint64_t> old_at;
  for (const auto& n : *needs)
    if (rewrite::dynamic_string(*in, bytes_, n.file) == lib) old_at = n.file;  // the input's offset, valid in the copy
  ASSERT_TRUE(old_at);
  for (const auto& n : *out_needs) {
    auto name = rewrite::dynamic_string(out, p.out, n.file);
    if (name == lib || name == "libreplaced.so.9") {
      elf::dispatch(out.header.variant, [&](auto v) {
        using E = decltype(v);
        put<std::uint32_t, E>(p.out, n.offset + offsetof(elf::Verneed<E>, vn_file), *old_at);
      });
    }
  }
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::VersionNeed)) << dump(d);
  EXPECT_TRUE(has(d, Kind::View)) << dump(d);
}

TEST_P(VerifyFixture, InterpreterWrittenOverTheBuildIdIsReported) {
  EditSet e;
  e.interpreter = "/lib/ld.so";
  auto p = plan_and_apply(bytes_, e);
  elf::ElfFile out = reread(p.out);
  const elf::Section* id = section(out, ".note.gnu.build-id");
  if (!id) GTEST_SKIP() << "no build-id note";
  std::memcpy(p.out.data() + id->offset + 12, "/lib/ld.so", 11);  // over the name "GNU" and the start of the id
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::Bytes)) << dump(d);
  EXPECT_TRUE(has(d, Kind::Note)) << dump(d);
}

TEST_P(VerifyFixture, ZeroedDynsymIsReported) {
  EditSet e;
  e.runpath = "/usr/lib/x";
  auto p = plan_and_apply(bytes_, e);
  elf::ElfFile out = reread(p.out);
  const elf::Section* s = section(out, ".dynsym");
  ASSERT_NE(s, nullptr);
  std::fill_n(p.out.begin() + static_cast<std::ptrdiff_t>(s->offset), s->size, std::byte{0});
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::Bytes)) << dump(d);
}

TEST_P(VerifyFixture, DynamicEntryChangedUnaskedIsReported) {
  EditSet e;
  e.add_needed = {"libm.so.6"};
  auto p = plan_and_apply(bytes_, e);
  elf::ElfFile out = reread(p.out);
  bool changed = false;
  for (std::size_t i = 0; i < out.dynamic.size() && !changed; ++i) {
    const auto tag = out.dynamic[i].tag;
    if (tag != DT_INIT && tag != DT_FINI && tag != DT_PLTGOT && tag != DT_FLAGS_1) continue;
    elf::dispatch(out.header.variant, [&](auto v) {
      using E = decltype(v);
      put<typename E::Native, E>(p.out, out.dynamic_offset + i * sizeof(elf::Dyn<E>) + sizeof(typename E::Addr),
                                 out.dynamic[i].value ^ 0x10);
    });
    changed = true;
  }
  ASSERT_TRUE(changed);
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::DynamicEntry)) << dump(d);
}

TEST_P(VerifyFixture, SymbolNameOutOfRangeIsReported) {
  EditSet e;
  e.soname = "libapp.so.1";
  auto p = plan_and_apply(bytes_, e);
  elf::ElfFile out = reread(p.out);
  auto syms = rewrite::read_dynamic_symbols(out, p.out);
  ASSERT_TRUE(syms.ok() && syms->size() > 1);
  elf::dispatch(out.header.variant, [&](auto v) {
    using E = decltype(v);
    put<std::uint32_t, E>(p.out, (*syms)[1].offset, out.dynstr_size + 0x100);
  });
  auto d = verify(p, e);
  EXPECT_TRUE(has(d, Kind::SymbolName)) << dump(d);
}

}  // namespace
}  // namespace xpatch
