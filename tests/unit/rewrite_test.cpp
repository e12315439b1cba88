// The planner, on synthetic images of all four variants: each strategy,
// read back through the reader, plus refusals and idempotence.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "tests/unit/elf_builder.h"

namespace xpatch {
namespace {

using rewrite::EditSet;
using rewrite::Layout;
using test::Spec;

template <typename E>
class RewriteTest : public ::testing::Test {};
using Variants = ::testing::Types<elf::Elf32LE, elf::Elf32BE, elf::Elf64LE, elf::Elf64BE>;
TYPED_TEST_SUITE(RewriteTest, Variants);

struct Outcome {
  rewrite::Plan plan;
  std::vector<std::byte> bytes;
  elf::ElfFile file;
};

Outcome patch(const std::vector<std::byte>& in, const EditSet& e) {
  auto f = elf::read_elf(in, "in");
  EXPECT_TRUE(f.ok()) << f.error().message;
  auto p = rewrite::plan_rewrite(*f, in, e);
  EXPECT_TRUE(p.ok()) << p.error().message;
  auto out = rewrite::apply(*p, in);
  auto back = elf::read_elf(out, "out");
  EXPECT_TRUE(back.ok()) << back.error().message;
  return {std::move(*p), std::move(out), std::move(*back)};
}

bool has_step(const rewrite::Plan& p, std::string_view what, std::string_view strategy) {
  for (const auto& s : p.steps)
    if (s.what == what && s.strategy == strategy) return true;
  return false;
}

// Invariants every output must keep, whatever the strategy.
void expect_sane_layout(const elf::ElfFile& f) {
  const elf::Segment* phdr = f.find_segment(PT_PHDR);
  ASSERT_NE(phdr, nullptr);
  EXPECT_EQ(phdr->offset, f.header.phoff) << "PT_PHDR must describe the table at e_phoff";
  EXPECT_EQ(phdr->filesz, f.header.phnum * f.header.phentsize);
  const elf::Segment* first = nullptr;
  std::uint64_t last_vaddr = 0;
  for (const auto& s : f.segments) {
    if (s.type != PT_LOAD) continue;
    if (!first) first = &s;
    EXPECT_GE(s.vaddr, last_vaddr) << "PT_LOAD entries must stay sorted by p_vaddr";
    last_vaddr = s.vaddr;
    if (s.align > 1) {
      EXPECT_EQ(s.vaddr % s.align, s.offset % s.align) << "PT_LOAD not congruent";
    }
  }
  ASSERT_NE(first, nullptr);
  EXPECT_LE(first->offset, f.header.phoff);
  EXPECT_LE(f.header.phoff + phdr->filesz, first->offset + first->filesz) << "table must stay in the first PT_LOAD";
}

TYPED_TEST(RewriteTest, ShorterInterpreterIsWrittenInPlace) {
  auto img = test::build_elf<TypeParam>(Spec());
  EditSet e;
  e.interpreter = "/lib/ld.so";
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.growth(), 0);
  EXPECT_TRUE(has_step(r.plan, "PT_INTERP", "in place"));
  EXPECT_EQ(r.plan.layout.data, Layout::Data::InPlace);
  EXPECT_TRUE(r.plan.layout.interp_in_place);
  EXPECT_EQ(r.plan.layout.table_room, Layout::TableRoom::NotNeeded);
  EXPECT_EQ(r.file.interpreter, "/lib/ld.so");
  EXPECT_EQ(r.file.needed, (std::vector<std::string_view>{"libfoo.so.1", "libc.so.6"}));
  expect_sane_layout(r.file);
}

TYPED_TEST(RewriteTest, ExistingStringIsReused) {
  auto img = test::build_elf<TypeParam>(Spec());
  EditSet e;
  e.runpath = "libc.so.6";  // already in DT_STRTAB
  e.soname = "so.6";        // a suffix of it
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.growth(), 0);
  EXPECT_TRUE(has_step(r.plan, "DT_RUNPATH", "reuse string"));
  EXPECT_EQ(r.file.runpath, "libc.so.6");
  EXPECT_EQ(r.file.soname, "so.6");  // took the spare DT_NULL slot
}

TYPED_TEST(RewriteTest, LongInterpreterUsesASparePtNull) {
  Spec s;
  s.null_phdr = true;
  auto img = test::build_elf<TypeParam>(s);
  EditSet e;
  e.interpreter = "/usr/aarch64-linux-gnu/lib/a-much-longer-loader-name.so.1";
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.layout.data, Layout::Data::NewLoad);
  EXPECT_EQ(r.plan.layout.table_room, Layout::TableRoom::PtNullReused);
  EXPECT_FALSE(r.plan.layout.interp_in_place);
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_EQ(r.file.header.phnum, 5u);  // PT_NULL became the PT_LOAD
  EXPECT_GT(r.plan.growth(), 0);
  EXPECT_LT(r.plan.growth(), 128);
  expect_sane_layout(r.file);
}

TYPED_TEST(RewriteTest, TableGrowsByMovingWhatFollowsIt) {
  Spec s;
  s.note_bytes = 64;
  auto img = test::build_elf<TypeParam>(s);
  EditSet e;
  e.interpreter = "/usr/aarch64-linux-gnu/lib/a-much-longer-loader-name.so.1";
  e.runpath = "/usr/aarch64-linux-gnu/lib:/opt/new/runpath";
  e.add_needed = {"libextra.so"};
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.layout.data, Layout::Data::NewLoad);
  EXPECT_EQ(r.plan.layout.table_room, Layout::TableRoom::ItemsMoved);
  EXPECT_EQ(r.plan.layout.moved, (std::vector<Layout::Item>{Layout::Item::Interp, Layout::Item::Note}));
  EXPECT_EQ(r.file.header.phnum, 6u);
  EXPECT_EQ(r.file.header.phoff, img.phoff) << "the table never moves";
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_EQ(r.file.runpath, e.runpath);
  EXPECT_EQ(r.file.needed, (std::vector<std::string_view>{"libfoo.so.1", "libc.so.6", "libextra.so"}));
  // The note moved with its contents.
  const elf::Segment* note = r.file.find_segment(PT_NOTE);
  ASSERT_NE(note, nullptr);
  EXPECT_EQ(note->filesz, 64u);
  EXPECT_EQ(r.bytes[note->offset], std::byte{0x4e});
  EXPECT_EQ(r.file.vaddr_to_offset(note->vaddr, note->filesz), note->offset) << "moved note must stay mapped";
  expect_sane_layout(r.file);

  // Same edits again: nothing to do.
  auto f2 = elf::read_elf(r.bytes, "again");
  ASSERT_TRUE(f2.ok());
  auto p2 = rewrite::plan_rewrite(*f2, r.bytes, e);
  ASSERT_TRUE(p2.ok());
  EXPECT_FALSE(p2->changes());
}

TYPED_TEST(RewriteTest, ALastLoadThatEndsTheFileGrows) {
  Spec s;
  s.trailer = 0;  // the RW PT_LOAD ends the file, as our own appended segment does
  auto img = test::build_elf<TypeParam>(s);
  EditSet e;
  e.interpreter = "/usr/aarch64-linux-gnu/lib/a-much-longer-loader-name.so.1";
  e.add_needed = {"libextra.so"};
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.layout.data, Layout::Data::GrowLast);
  EXPECT_EQ(r.plan.layout.table_room, Layout::TableRoom::NotNeeded);
  EXPECT_FALSE(r.plan.layout.strings_extended);
  EXPECT_EQ(r.file.header.phnum, 4u);
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_EQ(r.file.needed.back(), "libextra.so");
  expect_sane_layout(r.file);
}

TYPED_TEST(RewriteTest, PaddingAfterASegmentTakesTheNewDataWithoutGrowth) {
  Spec s;
  s.padded_second_load = true;
  auto img = test::build_elf<TypeParam>(s);
  EditSet e;
  e.interpreter = "/usr/aarch64-linux-gnu/lib/a-much-longer-loader-name.so.1";
  e.runpath = "/usr/aarch64-linux-gnu/lib:/opt/new/runpath";
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.layout.data, Layout::Data::Padding);
  EXPECT_EQ(r.plan.growth(), 0);
  EXPECT_EQ(r.file.header.phnum, 5u) << "no program header added";
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_EQ(r.file.runpath, e.runpath);
  EXPECT_EQ(r.file.segments[2].filesz, r.file.segments[2].memsz);
  EXPECT_LE(r.file.segments[2].offset + r.file.segments[2].filesz, r.file.segments[3].offset)
      << "the grown segment must stop before the next";
  expect_sane_layout(r.file);
}

// No PT_NULL and too little after the table to move: the table moves to
// the new segment, which keeps the first PT_LOAD's p_vaddr - p_offset, so
// that AT_PHDR as qemu-user and kernels before 5.18 compute it (that
// difference plus e_phoff) is the table's address, which PT_PHDR names.
TYPED_TEST(RewriteTest, NoRoomMovesTheTableWhereLoadBasePlusPhoffFindsIt) {
  auto img = test::build_elf<TypeParam>(Spec());  // interp only (18 bytes) follows the table
  EditSet e;
  e.interpreter = "/usr/aarch64-linux-gnu/lib/a-much-longer-loader-name.so.1";
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.plan.layout.table_room, Layout::TableRoom::TableMoved);
  EXPECT_EQ(r.plan.layout.data, Layout::Data::NewLoad);
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_EQ(r.file.header.phnum, 5u);
  EXPECT_NE(r.file.header.phoff, img.phoff);
  const elf::Segment* phdr = r.file.find_segment(PT_PHDR);
  ASSERT_NE(phdr, nullptr);
  const elf::Segment& first = r.file.segments[2];
  ASSERT_EQ(first.type, std::uint32_t{PT_LOAD});
  EXPECT_EQ(phdr->offset, r.file.header.phoff);
  EXPECT_EQ(phdr->vaddr, first.vaddr - first.offset + r.file.header.phoff) << "AT_PHDR must be the table's address";
  EXPECT_EQ(phdr->filesz, 5u * sizeof(elf::Phdr<TypeParam>));
  EXPECT_EQ(r.file.vaddr_to_offset(phdr->vaddr, phdr->filesz), r.file.header.phoff) << "the table must be mapped";
  std::uint64_t lowest = ~std::uint64_t{0};
  for (const auto& s : r.file.segments)
    if (s.type == PT_LOAD) lowest = std::min(lowest, s.vaddr - s.offset);
  EXPECT_EQ(lowest, first.vaddr - first.offset) << "qemu-user takes the smallest p_vaddr - p_offset";

  // A bss of 1 GiB would mean as much padding: refused, saying why.
  auto big = img;
  elf::Phdr<TypeParam> p;
  const std::size_t at = img.phoff + 2 * sizeof p;
  std::memcpy(&p, big.bytes.data() + at, sizeof p);
  p.p_memsz = static_cast<typename TypeParam::Native>(std::uint64_t{p.p_memsz} + (1u << 30));
  std::memcpy(big.bytes.data() + at, &p, sizeof p);
  auto f = elf::read_elf(big.bytes, "tight");
  ASSERT_TRUE(f.ok()) << f.error().message;
  auto refused = rewrite::plan_rewrite(*f, big.bytes, e);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, Error::Kind::Unsupported);
  EXPECT_NE(refused.error().message.find("tight: program header table: no room for one more entry"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("bytes of padding"), std::string::npos) << refused.error().message;
}

TYPED_TEST(RewriteTest, AlternatingValuesStaysBounded) {
  Spec s;
  s.note_bytes = 64;
  auto img = test::build_elf<TypeParam>(s);
  std::vector<std::byte> cur = img.bytes;
  std::size_t size_after_two = 0;
  for (int i = 0; i < 20; ++i) {
    EditSet e;
    e.interpreter = i % 2 ? "/usr/x/lib/loader-one.so.1" : "/usr/x/lib/the-other-longer-loader.so.1";
    e.runpath = i % 2 ? "/a" : "/b/c/d/e/f/g/h";
    cur = patch(cur, e).bytes;
    if (i == 1) size_after_two = cur.size();
  }
  EXPECT_EQ(cur.size(), size_after_two);
}

TYPED_TEST(RewriteTest, EditsThatCannotApplyAreRefused) {
  Spec s;
  s.interp.reset();
  s.flags_1 = 0;  // a library, not a static PIE (whose dynamic edits are refused first)
  auto img = test::build_elf<TypeParam>(s);
  auto f = elf::read_elf(img.bytes, "lib");
  ASSERT_TRUE(f.ok());
  EditSet e;
  e.interpreter = "/lib/ld.so";
  auto p = rewrite::plan_rewrite(*f, img.bytes, e);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("lib: PT_INTERP"), std::string::npos);
  EditSet r;
  r.replace_needed = {{"libnope.so", "libx.so"}};
  p = rewrite::plan_rewrite(*f, img.bytes, r);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message.find("libnope.so"), std::string::npos);
}

// A static PIE (no PT_INTERP, DF_1_PIE) relocates itself: no loader reads
// a needed library or a search path written into it (one with a runpath
// added crashed), so those edits are refused; a soname is harmless.
TYPED_TEST(RewriteTest, AStaticPieGetsNoNeededLibraryOrSearchPath) {
  Spec s;
  s.interp.reset();
  auto img = test::build_elf<TypeParam>(s);
  auto f = elf::read_elf(img.bytes, "sp");
  ASSERT_TRUE(f.ok());
  EditSet runpath, rpath, needed;
  runpath.runpath = "/x";
  rpath.rpath = "/x";
  needed.add_needed = {"libm.so.6"};
  for (const EditSet& e : {runpath, rpath, needed}) {
    auto p = rewrite::plan_rewrite(*f, img.bytes, e);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().kind, Error::Kind::Unsupported);
    EXPECT_EQ(p.error().message.rfind("sp: PT_INTERP: there is none", 0), 0u) << p.error().message;
  }
  EditSet soname;
  soname.soname = "libsp.so";
  EXPECT_TRUE(rewrite::plan_rewrite(*f, img.bytes, soname).ok());
}

// A name left empty (`--add-needed=`) names nothing; an empty runpath is a
// runpath (it clears the search path).
TYPED_TEST(RewriteTest, AnEmptyNameIsRefusedAndAnEmptyRunpathIsNot) {
  Spec s;
  auto img = test::build_elf<TypeParam>(s);
  auto f = elf::read_elf(img.bytes, "app");
  ASSERT_TRUE(f.ok());
  auto refused_at = [&](const EditSet& e, const std::string& where) {
    auto p = rewrite::plan_rewrite(*f, img.bytes, e);
    return !p.ok() && p.error().message.rfind(where, 0) == 0;
  };
  EditSet needed, soname, interp, path;
  needed.add_needed = {""};
  soname.soname = "";
  interp.interpreter = "";
  path.runpath = "";
  EXPECT_TRUE(refused_at(needed, "app: DT_NEEDED: an empty"));
  EXPECT_TRUE(refused_at(soname, "app: DT_SONAME: an empty"));
  EXPECT_TRUE(refused_at(interp, "app: PT_INTERP: an empty"));
  EXPECT_TRUE(rewrite::plan_rewrite(*f, img.bytes, path).ok());
}

TYPED_TEST(RewriteTest, RemoveAndReplaceNeeded) {
  auto img = test::build_elf<TypeParam>(Spec());
  EditSet e;
  e.replace_needed = {{"libfoo.so.1", "libc.so.6"}};  // points at an existing string
  e.remove_needed = {"libc.so.6"};
  e.remove_runpath = true;
  auto r = patch(img.bytes, e);
  // remove runs first, then replace: libfoo.so.1 -> libc.so.6
  EXPECT_EQ(r.file.needed, (std::vector<std::string_view>{"libc.so.6"}));
  EXPECT_FALSE(r.file.runpath);
  EXPECT_EQ(r.plan.growth(), 0);
}

// A loader uses DT_RUNPATH when present and then ignores DT_RPATH, so a path
// set as one tag drops the other (edits.h): never a path the loader skips.
TYPED_TEST(RewriteTest, RpathReplacesARunpath) {
  Spec s;  // DT_RUNPATH $ORIGIN/../lib
  s.null_phdr = true;
  auto img = test::build_elf<TypeParam>(s);
  EditSet e;
  e.rpath = "/opt/lib";
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.file.rpath, "/opt/lib");
  EXPECT_FALSE(r.file.runpath) << "DT_RUNPATH beside the new DT_RPATH would make the loader ignore it";
  EXPECT_TRUE(has_step(r.plan, "DT_RPATH", "convert"));
  EXPECT_EQ(r.file.needed, (std::vector<std::string_view>{"libfoo.so.1", "libc.so.6"}));
}

// A file whose search path is DT_RPATH "/old", with a spare PT_NULL.
Spec with_rpath() {
  Spec s;
  s.runpath.reset();
  s.rpath = "/old";
  s.null_phdr = true;
  return s;
}

TYPED_TEST(RewriteTest, RunpathReplacesAnRpath) {
  auto img = test::build_elf<TypeParam>(with_rpath());
  EditSet e;
  e.runpath = "/new";
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.file.runpath, "/new");
  EXPECT_FALSE(r.file.rpath);
}

TYPED_TEST(RewriteTest, AddRunpathKeepsTheTagInForceUnlessForced) {
  auto img = test::build_elf<TypeParam>(with_rpath());
  EditSet e;
  e.add_runpath = {"/y"};
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.file.rpath, "/old:/y");
  EXPECT_FALSE(r.file.runpath);

  Spec s2;  // DT_RUNPATH
  s2.null_phdr = true;
  auto img2 = test::build_elf<TypeParam>(s2);
  e.force_rpath = true;
  auto r2 = patch(img2.bytes, e);
  EXPECT_EQ(r2.file.rpath, "$ORIGIN/../lib:/y");
  EXPECT_FALSE(r2.file.runpath);
  EditSet set;
  set.runpath = "/z";
  set.force_rpath = true;
  auto r3 = patch(img2.bytes, set);
  EXPECT_EQ(r3.file.rpath, "/z");
  EXPECT_FALSE(r3.file.runpath);
}

TYPED_TEST(RewriteTest, RunpathAndRpathTogetherAreRefused) {
  auto img = test::build_elf<TypeParam>(Spec());
  auto f = elf::read_elf(img.bytes, "both");
  ASSERT_TRUE(f.ok());
  EditSet e;
  e.runpath = "/a";
  e.rpath = "/b";
  auto p = rewrite::plan_rewrite(*f, img.bytes, e);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind, Error::Kind::Unsupported);
}

// A p_align of 2^31 (ELF32) or 2^63 (ELF64) on a PT_LOAD high in the address
// space: the next boundary above it is past the class's address space. The
// plan is refused; it never wraps into a wrong one (--dry-run prints plans
// before anything re-reads the output).
TYPED_TEST(RewriteTest, HugeAlignmentNeverWrapsTheNewSegment) {
  Spec s;
  s.padded_second_load = true;
  s.null_phdr = true;
  auto img = test::build_elf<TypeParam>(s);
  using Native = typename TypeParam::Native;
  const std::uint64_t half = std::uint64_t{1} << (TypeParam::is64 ? 63 : 31);
  elf::Phdr<TypeParam> p;
  const std::size_t at = img.phoff + 3 * sizeof p;  // PT_PHDR, PT_INTERP, PT_LOAD, then the second PT_LOAD
  std::memcpy(&p, img.bytes.data() + at, sizeof p);
  ASSERT_EQ(std::uint32_t{p.p_type}, std::uint32_t{PT_LOAD});
  p.p_vaddr = p.p_paddr = static_cast<Native>(half + std::uint64_t{p.p_offset});
  p.p_align = static_cast<Native>(half);
  std::memcpy(img.bytes.data() + at, &p, sizeof p);
  auto f = elf::read_elf(img.bytes, "huge");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EditSet e;
  e.runpath = std::string(8192, 'r');  // more than the padding: a new PT_LOAD
  auto plan = rewrite::plan_rewrite(*f, img.bytes, e);
  ASSERT_FALSE(plan.ok()) << "planned a segment at "
                          << (plan.ok() ? std::to_string(plan->new_size) : std::string()) << " bytes";
  EXPECT_EQ(plan.error().kind, Error::Kind::Unsupported);
  EXPECT_NE(plan.error().message.find("no address space left"), std::string::npos) << plan.error().message;
}

// .gnu.version_r names needed files too: --replace-needed renames them with
// the DT_NEEDED (glibc's loader aborts when one names no loaded object).
TYPED_TEST(RewriteTest, ReplaceNeededRenamesTheVersionNeed) {
  Spec s;
  s.version_need = "libfoo.so.1";
  auto img = test::build_elf<TypeParam>(s);
  EditSet e;
  e.replace_needed = {{"libfoo.so.1", "libc.so.6"}};  // an existing string: in place
  auto r = patch(img.bytes, e);
  EXPECT_EQ(r.file.needed, (std::vector<std::string_view>{"libc.so.6", "libc.so.6"}));
  EXPECT_TRUE(has_step(r.plan, "DT_VERNEED", "set"));
  elf::Verneed<TypeParam> vn;
  std::memcpy(&vn, r.bytes.data() + img.verneed_off, sizeof vn);
  const char* name = reinterpret_cast<const char*>(r.bytes.data() + img.dynstr_off + std::uint32_t{vn.vn_file});
  EXPECT_STREQ(name, "libc.so.6");
}

// An interpreter that leaves its slot (here into the padding) frees it:
// the slot is cleared, and a later new PT_LOAD's program header grows the
// table over it instead of being refused for the stale bytes there.
TYPED_TEST(RewriteTest, AnOldInterpreterSlotMakesRoomForTheTable) {
  for (bool long_slot : {false, true}) {
    Spec s;
    s.padded_second_load = true;
    s.note_bytes = 64;
    if (long_slot) s.interp = "/lib/" + std::string(60, 'l') + "/ld.so";  // a slot larger than a program header
    auto img = test::build_elf<TypeParam>(s);
    EditSet first;
    first.interpreter = "/usr/aarch64-linux-gnu/lib/an-even-much-longer-loader-name-than-before.so.1";
    auto r1 = patch(img.bytes, first);
    ASSERT_EQ(r1.plan.layout.data, Layout::Data::Padding);
    EXPECT_EQ(r1.bytes[img.interp_off], std::byte{0}) << "the old slot is cleared";
    EditSet second;
    second.runpath = std::string(8192, 'r');
    auto r2 = patch(r1.bytes, second);
    EXPECT_EQ(r2.plan.layout.data, Layout::Data::NewLoad);
    if (long_slot) {
      EXPECT_EQ(r2.plan.layout.table_room, Layout::TableRoom::FreeBytes);
      EXPECT_TRUE(r2.plan.layout.moved.empty());
    } else {
      EXPECT_EQ(r2.plan.layout.table_room, Layout::TableRoom::ItemsMoved);
      EXPECT_EQ(r2.plan.layout.moved, (std::vector<Layout::Item>{Layout::Item::Note}));
    }
    EXPECT_EQ(r2.file.runpath, second.runpath);
    EXPECT_EQ(r2.file.interpreter, first.interpreter);
    expect_sane_layout(r2.file);
  }
}

// The ELF header's fields, changed in an image (a damaged file).
template <typename E, typename F>
void edit_header(std::vector<std::byte>& b, F change) {
  elf::Ehdr<E> h;
  std::memcpy(&h, b.data(), sizeof h);
  change(h);
  std::memcpy(b.data(), &h, sizeof h);
}

// An image with no PT_INTERP and a spare PT_NULL last (entry 3, after
// PT_PHDR, PT_LOAD and PT_DYNAMIC), where a new PT_LOAD's header goes.
template <typename E>
test::Image with_pt_null_after_the_dynamic() {
  Spec s;
  s.interp.reset();
  s.flags_1 = 0;  // a library, not a static PIE (whose dynamic edits are refused first)
  s.null_phdr = true;
  return test::build_elf<E>(s);
}
template <typename E>
std::uint64_t pt_null_offset(const test::Image& img) {
  return img.phoff + 3 * sizeof(elf::Phdr<E>);
}

// The error planning a new DT_NEEDED (a new string: a new PT_LOAD, in the
// PT_NULL) into a damaged image must give; none if it plans.
template <typename E>
std::optional<Error> refusal_of_a_new_load(const std::vector<std::byte>& bytes) {
  auto f = elf::read_elf(bytes, "in");
  EXPECT_TRUE(f.ok()) << f.error().message;
  if (!f.ok()) return f.error();
  EditSet e;
  e.add_needed = {"libextra.so"};
  auto p = rewrite::plan_rewrite(*f, bytes, e);
  if (p.ok()) return std::nullopt;
  return p.error();
}

// A section header table over the program header table (here section
// header 0 on the spare PT_NULL, with no PT_INTERP after the table to
// notice it): a new PT_LOAD written there would silently
// change the section headers. The structure map refuses it.
TYPED_TEST(RewriteTest, ASectionHeaderTableOverTheProgramHeadersIsRefused) {
  auto img = with_pt_null_after_the_dynamic<TypeParam>();
  edit_header<TypeParam>(img.bytes, [&](elf::Ehdr<TypeParam>& h) {
    h.e_shoff = static_cast<typename TypeParam::Native>(pt_null_offset<TypeParam>(img));
    h.e_shentsize = sizeof(elf::Shdr<TypeParam>);
    h.e_shnum = 0;  // the count in section header 0's sh_size: 0, read from the zero PT_NULL
  });
  const auto err = refusal_of_a_new_load<TypeParam>(img.bytes);
  ASSERT_TRUE(err) << "planned over the section headers";
  EXPECT_EQ(err->kind, Error::Kind::Malformed);
  EXPECT_EQ(err->message.rfind("in: section header table: ", 0), 0u) << err->message;
}

// The section name table over the spare PT_NULL (a damaged file): the new
// PT_LOAD's program header would be written into the section names, which
// no edit changes. The planned writes are checked against them.
TYPED_TEST(RewriteTest, AWriteIntoTheSectionNamesIsRefused) {
  using Shdr = elf::Shdr<TypeParam>;
  auto img = with_pt_null_after_the_dynamic<TypeParam>();
  const std::uint64_t shoff = img.bytes.size();
  Shdr sh[2] = {};
  sh[1].sh_type = std::uint32_t{SHT_STRTAB};
  sh[1].sh_offset = static_cast<typename TypeParam::Native>(pt_null_offset<TypeParam>(img));
  sh[1].sh_size = static_cast<typename TypeParam::Native>(sizeof(elf::Phdr<TypeParam>));
  const auto* raw = reinterpret_cast<const std::byte*>(sh);
  img.bytes.insert(img.bytes.end(), raw, raw + sizeof sh);
  edit_header<TypeParam>(img.bytes, [&](elf::Ehdr<TypeParam>& h) {
    h.e_shoff = static_cast<typename TypeParam::Native>(shoff);
    h.e_shentsize = sizeof(Shdr);
    h.e_shnum = 2;
    h.e_shstrndx = 1;
  });
  const auto err = refusal_of_a_new_load<TypeParam>(img.bytes);
  ASSERT_TRUE(err) << "planned into the section names";
  EXPECT_EQ(err->kind, Error::Kind::Malformed);
  EXPECT_EQ(err->message.rfind("in: section header 1 (the section names): ", 0), 0u) << err->message;
}

// Padding after a PT_LOAD is free only where nothing owns it: a section
// header table there (all zero, so the bytes alone look like padding)
// keeps the new data out, and its bytes stay as they were.
TYPED_TEST(RewriteTest, APaddingThatHoldsTheSectionHeadersIsNotTaken) {
  Spec s;
  s.padded_second_load = true;
  auto img = test::build_elf<TypeParam>(s);
  auto in = elf::read_elf(img.bytes, "in");
  ASSERT_TRUE(in.ok()) << in.error().message;
  const elf::Segment& first = in->segments[2];
  ASSERT_EQ(first.type, std::uint32_t{PT_LOAD});
  const std::uint64_t shoff = first.offset + first.filesz;  // the padding's start
  edit_header<TypeParam>(img.bytes, [&](elf::Ehdr<TypeParam>& h) {
    h.e_shoff = static_cast<typename TypeParam::Native>(shoff);
    h.e_shentsize = sizeof(elf::Shdr<TypeParam>);
    h.e_shnum = 1;  // section header 0 only: all zero, as in the padding
  });
  EditSet e;
  e.interpreter = "/usr/aarch64-linux-gnu/lib/a-much-longer-loader-name.so.1";
  e.runpath = "/usr/aarch64-linux-gnu/lib:/opt/new/runpath";
  auto r = patch(img.bytes, e);
  EXPECT_NE(r.plan.layout.data, Layout::Data::Padding);
  EXPECT_EQ(r.file.header.shoff, shoff);
  ASSERT_GE(r.bytes.size(), shoff + sizeof(elf::Shdr<TypeParam>));
  EXPECT_TRUE(std::equal(img.bytes.begin() + static_cast<std::ptrdiff_t>(shoff),
                         img.bytes.begin() + static_cast<std::ptrdiff_t>(shoff + sizeof(elf::Shdr<TypeParam>)),
                         r.bytes.begin() + static_cast<std::ptrdiff_t>(shoff)))
      << "section header 0 was overwritten";
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_EQ(r.file.runpath, e.runpath);
}

// A table inside PT_INTERP's range (a damaged file; without section
// headers the slot is the string's NULs): DT_SYMTAB right after the
// string, its null symbol all zero. The in-place slot stops at the table,
// so a longer interpreter moves out and the symbol table stays intact.
TYPED_TEST(RewriteTest, ATableInsidePtInterpLimitsTheInPlaceSlot) {
  using Sym = elf::Sym<TypeParam>;
  constexpr std::uint64_t kBase = 0x10000, kAt = 24;  // the table's offset from the string
  Spec s;
  s.null_phdr = true;
  // "/lib/ld-test.so.1", NULs to kAt, the null symbol, then DT_HASH's four words.
  s.interp = std::string("/lib/ld-test.so.1") + std::string(kAt - 17 + sizeof(Sym), '\0') + std::string(16, 'h');
  const std::uint64_t interp_off = test::build_elf<TypeParam>(s).interp_off;
  const std::uint64_t sym_off = interp_off + kAt, hash_off = sym_off + sizeof(Sym);
  s.extra_dynamic = {{DT_SYMTAB, kBase + sym_off}, {DT_SYMENT, sizeof(Sym)}, {DT_HASH, kBase + hash_off}};
  auto img = test::build_elf<TypeParam>(s);
  ASSERT_EQ(img.interp_off, interp_off);
  typename TypeParam::Word hash[4];
  hash[0] = 1u;  // nbucket
  hash[1] = 1u;  // nchain: the null symbol only
  hash[2] = 0u;
  hash[3] = 0u;
  std::memcpy(img.bytes.data() + hash_off, hash, sizeof hash);

  EditSet e;
  e.interpreter = "/lib/a-loader-longer-than-24.so";  // fits the NULs up to DT_HASH, not up to DT_SYMTAB
  ASSERT_GT(e.interpreter->size() + 1, kAt);
  ASSERT_LE(e.interpreter->size() + 1, kAt + sizeof(Sym));
  auto r = patch(img.bytes, e);
  EXPECT_FALSE(r.plan.layout.interp_in_place);
  EXPECT_EQ(r.file.interpreter, e.interpreter);
  EXPECT_TRUE(std::equal(img.bytes.begin() + static_cast<std::ptrdiff_t>(sym_off),
                         img.bytes.begin() + static_cast<std::ptrdiff_t>(hash_off + sizeof hash),
                         r.bytes.begin() + static_cast<std::ptrdiff_t>(sym_off)))
      << "the symbol and hash tables changed";
}

// DT_MIPS_RLD_MAP_REL holds the distance from its own entry to the debug
// map pointer, so it must follow its entry: when an added DT_NEEDED shifts
// it down a slot in place, and when the whole array moves.
TYPED_TEST(RewriteTest, MipsRldMapRelKeepsPointingAtItsTarget) {
  Spec s;
  s.machine = EM_MIPS;
  s.extra_dynamic = {{DT_MIPS_RLD_MAP_REL, 0x1230}};
  s.spare_nulls = 2;
  auto img = test::build_elf<TypeParam>(s);
  // The address the entry points at: its own address plus its value.
  auto target = [](const elf::ElfFile& f) -> std::uint64_t {
    const elf::Segment* dyn = f.find_segment(PT_DYNAMIC);
    for (std::size_t i = 0; i < f.dynamic.size(); ++i)
      if (f.dynamic[i].tag == DT_MIPS_RLD_MAP_REL)  // in the class's address arithmetic, as the loader adds
        return (dyn->vaddr + i * sizeof(elf::Dyn<TypeParam>) + f.dynamic[i].value) &
               (TypeParam::is64 ? ~std::uint64_t{0} : 0xffffffffu);
    ADD_FAILURE() << "no DT_MIPS_RLD_MAP_REL";
    return 0;
  };
  auto in = elf::read_elf(img.bytes, "in");
  ASSERT_TRUE(in.ok());
  const std::uint64_t want = target(*in);

  EditSet one;
  one.add_needed = {"libm.so.6"};  // one spare slot: in place, the entry one slot down
  auto r = patch(img.bytes, one);
  EXPECT_FALSE(r.plan.layout.dynamic_moved);
  EXPECT_EQ(target(r.file), want);

  EditSet many;
  many.add_needed = {"libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1"};  // the array moves
  r = patch(img.bytes, many);
  EXPECT_TRUE(r.plan.layout.dynamic_moved);
  EXPECT_EQ(target(r.file), want);

  // On another machine the tag means nothing (a value like any other).
  s.machine = EM_X86_64;
  img = test::build_elf<TypeParam>(s);
  r = patch(img.bytes, many);
  for (const auto& d : r.file.dynamic) {
    if (d.tag == DT_MIPS_RLD_MAP_REL) {
      EXPECT_EQ(d.value, 0x1230u);
    }
  }
}

// A moved dynamic array keeps spare DT_NULL slots, so the next edit that
// adds an entry fits where the array now is instead of moving it again.
TYPED_TEST(RewriteTest, AMovedDynamicArrayHasRoomForTheNextEntry) {
  Spec s;
  s.spare_nulls = 0;
  auto img = test::build_elf<TypeParam>(s);
  EditSet first;
  first.add_needed = {"libm.so.6"};
  auto r = patch(img.bytes, first);
  ASSERT_TRUE(r.plan.layout.dynamic_moved);
  EditSet next;
  next.add_needed = {"libdl.so.2"};
  auto again = patch(r.bytes, next);
  EXPECT_FALSE(again.plan.layout.dynamic_moved);
  EXPECT_EQ(again.file.needed, (std::vector<std::string_view>{"libfoo.so.1", "libc.so.6", "libm.so.6", "libdl.so.2"}));
}

}  // namespace
}  // namespace xpatch
