// retarget::plan_file on synthetic files: which files are ours, what the
// interpreter and runpath become, where dependencies are found, and what is
// left alone. The e2e suite (retarget.sh, the demo) runs the results.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <malloc.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "elf_builder.h"
#include "libpatch/retarget/retarget.h"

namespace xpatch {
namespace {

using retarget::Verdict;
using test::build_elf;
using test::Spec;

struct Parsed {
  std::vector<std::byte> bytes;
  elf::ElfFile f;
};

Parsed parse(const Spec& s) {
  auto img = build_elf<elf::Elf64LE>(s);
  auto f = elf::read_elf(img.bytes, "test");
  EXPECT_TRUE(f.ok()) << (f.ok() ? "" : f.error().message);
  return {img.bytes, *f};
}

Spec program(std::vector<std::string> needed, std::optional<std::string> runpath = {}) {
  Spec s;
  s.machine = EM_AARCH64;
  s.interp = "/lib/ld-linux-aarch64.so.1";
  s.needed = std::move(needed);
  s.runpath = std::move(runpath);
  return s;
}
Spec library(const std::string& soname, std::uint16_t machine = EM_AARCH64) {
  Spec s;
  s.machine = machine;
  s.interp.reset();
  s.flags_1 = 0;
  s.needed = {"libc.so.6"};
  s.runpath.reset();
  s.soname = soname;
  return s;
}

retarget::Config config(const std::string& tuple, std::vector<std::string> ignore = {}) {
  auto c = retarget::make_config(tuple, {}, {}, std::move(ignore));
  EXPECT_TRUE(c.ok());
  return *c;
}

TEST(Retarget, TuplesNameTheirLibcAndPrefixesAreAbsolute) {
  EXPECT_FALSE(retarget::make_config("aarch64", {}, {}, {}).ok());
  EXPECT_FALSE(retarget::make_config("aarch64-linux-gnu", std::string("usr/x"), {}, {}).ok());
  EXPECT_FALSE(retarget::make_config("aarch64-linux-gnu", {}, std::string("ld.so"), {}).ok());
  EXPECT_EQ(config("aarch64-linux-musl").libc, elf::Libc::Musl);
  EXPECT_EQ(config("arm-linux-gnueabihf").prefix, "/usr/arm-linux-gnueabihf");
}

// The target table decides what --tuple names: an alias a user types is the
// canonical tuple (once, x86-64-linux-gnu matched no file and retarget did
// nothing, exit 0), and a tuple it does not know is an error.
TEST(Retarget, TupleAliasesAreTheCanonicalTuple) {
  retarget::Config c = config("x86-64-linux-gnu");
  EXPECT_EQ(c.tuple, "x86_64-linux-gnu");
  EXPECT_EQ(c.prefix, "/usr/x86_64-linux-gnu");
  EXPECT_EQ(config("arm64-linux-musl").tuple, "aarch64-linux-musl");
  EXPECT_FALSE(retarget::make_config("vax-linux-gnu", {}, {}, {}).ok());
  Spec s = program({"libc.so.6"});
  s.machine = EM_X86_64;
  s.interp = "/lib64/ld-linux-x86-64.so.2";
  retarget::LibraryIndex idx;
  Spec libc = library("libc.so.6", EM_X86_64);
  idx.add("/usr/x86_64-linux-gnu/lib/libc.so.6", parse(libc).f);
  auto plan = retarget::plan_file(parse(s).f, "/usr/x86_64-linux-gnu/bin/app", c, idx);
  EXPECT_EQ(plan.verdict, Verdict::Retarget) << plan.reason;
  EXPECT_EQ(plan.interp, "/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2");
}

// The e_flags ABI counts, as it does for check: a soft-float riscv64 program
// cannot load riscv64-linux-gnu's (lp64d) libc, nor an ELFv1 ppc64le one
// the ELFv2 libc.
TEST(Retarget, AnEFlagsAbiMismatchIsAnotherTarget) {
  auto other = [](std::uint16_t machine, std::uint32_t flags, const char* interp, const char* tuple) {
    Spec s = program({"libc.so.6"});
    s.machine = machine;
    s.flags = flags;
    s.interp = interp;
    return retarget::plan_file(parse(s).f, std::string("/usr/") + tuple + "/bin/app", config(tuple), {});
  };
  auto soft = other(EM_RISCV, EF_RISCV_RVC, "/lib/ld-linux-riscv64-lp64.so.1", "riscv64-linux-gnu");
  EXPECT_EQ(soft.verdict, Verdict::OtherTarget) << soft.reason;
  auto v1 = other(EM_PPC64, 1, "/lib64/ld64.so.2", "powerpc64le-linux-gnu");
  EXPECT_EQ(v1.verdict, Verdict::OtherTarget) << v1.reason;
  auto hard = other(EM_RISCV, EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE, "/lib/ld-linux-riscv64-lp64d.so.1",
                    "riscv64-linux-gnu");
  EXPECT_EQ(hard.verdict, Verdict::Unresolved) << hard.reason;  // ours: only libc.so.6 is missing
}

TEST(Retarget, InterpreterIsTheTuplesLoaderAndDependenciesAddTheirDirectories) {
  retarget::LibraryIndex idx;
  idx.add("/usr/aarch64-linux-gnu/lib/libc.so.6", parse(library("libc.so.6")).f);
  idx.add("/opt/vendor/lib/libvendor.so.2", parse(library("libvendor.so.2")).f);
  auto p = parse(program({"libvendor.so.2", "libc.so.6", "ld-linux-aarch64.so.1"}, std::string("/old:$ORIGIN/../lib")));
  auto plan = retarget::plan_file(p.f, "/usr/aarch64-linux-gnu/bin/app", config("aarch64-linux-gnu"), idx);
  EXPECT_EQ(plan.verdict, Verdict::Retarget) << plan.reason;
  EXPECT_EQ(plan.interp, "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1");
  // The $ORIGIN entry kept ahead (what is bundled keeps loading), the
  // prefix's lib dir, the vendor dir found; /old dropped.
  EXPECT_EQ(plan.runpath, "$ORIGIN/../lib:/usr/aarch64-linux-gnu/lib:/opt/vendor/lib");
  EXPECT_EQ(plan.found["libvendor.so.2"], "/opt/vendor/lib");
  EXPECT_EQ(plan.found["libc.so.6"], "/usr/aarch64-linux-gnu/lib");
  EXPECT_EQ(plan.found["ld-linux-aarch64.so.1"], "the loader");
  ASSERT_TRUE(plan.edits.interpreter);
  ASSERT_TRUE(plan.edits.runpath);
}

TEST(Retarget, OriginEntriesThatFindADependencyAddNothing) {
  retarget::LibraryIndex idx;
  idx.add("/usr/aarch64-linux-gnu/lib/libc.so.6", parse(library("libc.so.6")).f);
  idx.add("/usr/aarch64-linux-gnu/lib/app/libpriv.so", parse(library("libpriv.so")).f);
  auto p = parse(program({"libpriv.so", "libc.so.6"}, std::string("$ORIGIN/../lib/app")));
  auto plan = retarget::plan_file(p.f, "/usr/aarch64-linux-gnu/bin/app", config("aarch64-linux-gnu"), idx);
  EXPECT_EQ(plan.runpath, "$ORIGIN/../lib/app:/usr/aarch64-linux-gnu/lib");
  EXPECT_EQ(plan.found["libpriv.so"], "/usr/aarch64-linux-gnu/lib/app");
}

TEST(Retarget, WrongArchitectureLibrariesDoNotCount) {
  retarget::LibraryIndex idx;
  idx.add("/usr/aarch64-linux-gnu/lib/libc.so.6", parse(library("libc.so.6")).f);
  idx.add("/opt/x86/libvendor.so.2", parse(library("libvendor.so.2", EM_X86_64)).f);
  auto p = parse(program({"libvendor.so.2", "libc.so.6"}));
  auto plan = retarget::plan_file(p.f, "/usr/aarch64-linux-gnu/bin/app", config("aarch64-linux-gnu"), idx);
  EXPECT_EQ(plan.verdict, Verdict::Unresolved);
  EXPECT_EQ(plan.unresolved, std::vector<std::string>{"libvendor.so.2"});
  EXPECT_TRUE(plan.edits.empty()) << "a file left as it was has no edits";
}

TEST(Retarget, IgnoreMissingGlobsLetAFileThrough) {
  retarget::LibraryIndex idx;
  idx.add("/usr/aarch64-linux-gnu/lib/libc.so.6", parse(library("libc.so.6")).f);
  auto p = parse(program({"libGL.so.1", "libc.so.6"}));
  auto plan =
      retarget::plan_file(p.f, "/usr/aarch64-linux-gnu/bin/app", config("aarch64-linux-gnu", {"libGL.so*"}), idx);
  EXPECT_EQ(plan.verdict, Verdict::Retarget) << plan.reason;
  EXPECT_EQ(plan.ignored, std::vector<std::string>{"libGL.so.1"});
}

TEST(Retarget, OtherTargetsStaticFilesAndFilesAlreadyRightAreSkipped) {
  retarget::LibraryIndex idx;
  idx.add("/usr/aarch64-linux-gnu/lib/libc.so.6", parse(library("libc.so.6")).f);
  auto p = parse(program({"libc.so.6"}));
  // A glibc aarch64 program is not aarch64-linux-musl, nor riscv64-linux-gnu.
  EXPECT_EQ(retarget::plan_file(p.f, "/x/app", config("aarch64-linux-musl"), idx).verdict, Verdict::OtherTarget);
  EXPECT_EQ(retarget::plan_file(p.f, "/x/app", config("riscv64-linux-gnu"), idx).verdict, Verdict::OtherTarget);
  // Already right.
  Spec s = program({"libc.so.6"}, std::string("/usr/aarch64-linux-gnu/lib"));
  s.interp = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1";
  auto right = parse(s);
  EXPECT_EQ(retarget::plan_file(right.f, "/x/app", config("aarch64-linux-gnu"), idx).verdict, Verdict::AlreadyRight);
  // The same with a DT_RPATH beside it: the RPATH goes.
  s.rpath = "/old";
  auto with_rpath = parse(s);
  auto plan = retarget::plan_file(with_rpath.f, "/x/app", config("aarch64-linux-gnu"), idx);
  EXPECT_EQ(plan.verdict, Verdict::Retarget);
  EXPECT_TRUE(plan.edits.remove_runpath);
  // A file that needs nothing (the loader itself) keeps its search path.
  Spec loader = library("ld-linux-aarch64.so.1");
  loader.needed.clear();
  auto ld = parse(loader);
  EXPECT_EQ(retarget::plan_file(ld.f, "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1", config("aarch64-linux-gnu"),
                                idx)
                .verdict,
            Verdict::AlreadyRight);
}

TEST(Retarget, MuslReservedNamesAreTheLoader) {
  retarget::LibraryIndex idx;
  Spec s;
  s.machine = EM_AARCH64;
  s.interp = "/lib/ld-musl-aarch64.so.1";
  s.needed = {"libc.so", "libpthread.so.0"};
  s.runpath.reset();
  auto p = parse(s);
  auto plan = retarget::plan_file(p.f, "/usr/aarch64-linux-musl/bin/app", config("aarch64-linux-musl"), idx);
  EXPECT_EQ(plan.verdict, Verdict::Retarget) << plan.reason;
  EXPECT_EQ(plan.interp, "/usr/aarch64-linux-musl/lib/ld-musl-aarch64.so.1");
  EXPECT_EQ(plan.found["libc.so"], "the loader");
  EXPECT_EQ(plan.found["libpthread.so.0"], "the loader");
}

}  // namespace
}  // namespace xpatch

// ---- plan_batch: a staged package planned and checked as one batch ----

namespace xpatch {
namespace {

namespace fs = std::filesystem;

test::Spec x86_program(std::vector<std::string> needed) {
  test::Spec s = program(std::move(needed));
  s.machine = EM_X86_64;
  s.interp = "/lib64/ld-linux-x86-64.so.2";
  s.runpath.reset();
  return s;
}

class BatchRoot {
 public:
  BatchRoot() {
    char t[] = "/tmp/xpatch-batch.XXXXXX";
    dir_ = ::mkdtemp(t);
    fs::create_directories(dir_ + "/root");
    fs::create_directories(dir_ + "/stage/bin");
    fs::create_directories(dir_ + "/stage/lib");
  }
  ~BatchRoot() { fs::remove_all(dir_); }
  std::string root() const { return dir_ + "/root"; }
  std::string stage() const { return dir_ + "/stage"; }
  void put(const std::string& host, test::Spec s) const {
    s.null_phdr = true;  // room for the segment a rewrite may append
    fs::create_directories(fs::path(host).parent_path());
    auto img = test::build_elf<elf::Elf64LE>(s);
    std::ofstream(host, std::ios::binary).write(reinterpret_cast<const char*>(img.bytes.data()),
                                                static_cast<std::streamsize>(img.bytes.size()));
    fs::permissions(host, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);  // as a linker writes it
  }
  // The tuple's glibc in ROOT: its loader (whose only system directory is
  // the prefix's lib) and libc.so.6.
  void glibc() const {
    const std::string lib = root() + "/usr/x86_64-linux-gnu/lib";
    test::Spec ld = library("ld-linux-x86-64.so.2", EM_X86_64);
    ld.needed = {};
    put(lib + "/ld-linux-x86-64.so.2", ld);
    std::ofstream(lib + "/ld-linux-x86-64.so.2", std::ios::binary | std::ios::app)
        << std::string(1, '\0') << "/usr/x86_64-linux-gnu/lib/" << std::string(2, '\0') << "/etc/ld.so.cache"
        << std::string(1, '\0');
    test::Spec libc = library("libc.so.6", EM_X86_64);
    libc.needed = {"ld-linux-x86-64.so.2"};
    put(lib + "/libc.so.6", libc);
  }
  // The tuple's glibc, and a staged program needing a staged libfoo.so.
  void app_and_libfoo() const {
    glibc();
    put(stage() + "/bin/app", x86_program({"libfoo.so", "libc.so.6"}));
    put(stage() + "/lib/libfoo.so", library("libfoo.so", EM_X86_64));
  }
  // Every file of the stage, installed under /usr/x86_64-linux-gnu.
  std::vector<retarget::BatchFile> files(const std::vector<std::string>& rel) const {
    std::vector<retarget::BatchFile> out;
    for (const std::string& r : rel) {
      retarget::BatchFile b;
      b.name = b.host = stage() + r;
      b.install = "/usr/x86_64-linux-gnu" + r;
      b.explicitly = true;
      out.push_back(std::move(b));
    }
    return out;
  }
  retarget::BatchResult run(std::vector<retarget::BatchFile>& files, const retarget::Config& c,
                            bool keep_writes = true) const {
    auto r = resolve::Root::open(root());
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE((*r)->add_overlay("/usr/x86_64-linux-gnu", stage()));
    return retarget::plan_batch(*r, c, files, {}, 2, {}, keep_writes);
  }

 private:
  std::string dir_;
};

const retarget::BatchFile& named(const std::vector<retarget::BatchFile>& v, const std::string& end) {
  for (const auto& b : v)
    if (b.name.ends_with(end)) return b;
  ADD_FAILURE() << "no file " << end;
  return v.front();
}

TEST(RetargetBatch, StagedProgramAndLibraryPassTheCheckTogether) {
  BatchRoot t;
  t.app_and_libfoo();
  auto files = t.files({"/bin/app", "/lib/libfoo.so"});
  auto r = t.run(files, config("x86_64-linux-gnu"));
  EXPECT_TRUE(r.loader_present);
  EXPECT_EQ(r.loader, "/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2");
  const auto& app = named(files, "/bin/app");
  ASSERT_FALSE(app.error) << app.error->message;
  EXPECT_EQ(app.plan.verdict, Verdict::Retarget);
  EXPECT_FALSE(app.refused) << (app.problems.empty() ? "" : app.problems.front().message);
  EXPECT_TRUE(app.writable());
  EXPECT_EQ(app.plan.interp, "/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2");
  EXPECT_EQ(app.install, "/usr/x86_64-linux-gnu/bin/app");  // canonical
  EXPECT_TRUE(named(files, "/lib/libfoo.so").writable());
}

// A batch that drops its planned bytes (as the CLI's does, so that it
// holds none) gets the same writes back for each file, planned again; a
// file changed since its check gets an error instead: nothing unchecked is
// ever written.
TEST(RetargetBatch, DroppedWritesArePlannedAgainAndAChangedFileIsRefused) {
  BatchRoot t;
  t.app_and_libfoo();
  auto kept = t.files({"/bin/app", "/lib/libfoo.so"});
  t.run(kept, config("x86_64-linux-gnu"));
  auto files = t.files({"/bin/app", "/lib/libfoo.so"});
  t.run(files, config("x86_64-linux-gnu"), /*keep_writes=*/false);
  for (std::size_t i = 0; i < files.size(); ++i) {
    ASSERT_TRUE(files[i].writable() && kept[i].writable()) << files[i].name;
    EXPECT_TRUE(files[i].rewrite->writes.empty());
    EXPECT_FALSE(kept[i].rewrite->writes.empty());
    EXPECT_EQ(files[i].rewrite->growth(), kept[i].rewrite->growth());
    auto again = retarget::planned_writes(files[i]);
    ASSERT_TRUE(again.ok()) << again.error().message;
    ASSERT_EQ(again->writes.size(), kept[i].rewrite->writes.size());
    for (std::size_t w = 0; w < again->writes.size(); ++w) {
      EXPECT_EQ(again->writes[w].offset, kept[i].rewrite->writes[w].offset);
      EXPECT_EQ(again->writes[w].bytes, kept[i].rewrite->writes[w].bytes);
    }
  }
  // The program changed after its check (one more DT_NEEDED): refused.
  t.put(t.stage() + "/bin/app", x86_program({"libfoo.so", "libm.so.6", "libc.so.6"}));
  auto changed = retarget::planned_writes(named(files, "/bin/app"));
  ASSERT_FALSE(changed.ok());
  EXPECT_NE(changed.error().message.find("changed since it was checked"), std::string::npos)
      << changed.error().message;
}

TEST(RetargetBatch, AFileWhoseTreeCannotLoadIsRefusedAndSoAreItsUsers) {
  BatchRoot t;
  t.glibc();
  // libbad.so in the prefix needs a library that is nowhere: the index finds
  // libbad.so, so the plans go through, but the loader rules see the gap.
  t.put(t.root() + "/usr/x86_64-linux-gnu/lib/libbad.so", [] {
    test::Spec s = library("libbad.so", EM_X86_64);
    s.needed = {"libgone.so", "libc.so.6"};
    return s;
  }());
  t.put(t.stage() + "/lib/libmid.so", [] {
    test::Spec s = library("libmid.so", EM_X86_64);
    s.needed = {"libbad.so", "libc.so.6"};
    return s;
  }());
  t.put(t.stage() + "/bin/user", x86_program({"libmid.so", "libc.so.6"}));
  t.put(t.stage() + "/bin/fine", x86_program({"libc.so.6"}));
  auto files = t.files({"/bin/fine", "/bin/user", "/lib/libmid.so"});
  t.run(files, config("x86_64-linux-gnu"));
  const auto& mid = named(files, "/lib/libmid.so");
  EXPECT_EQ(mid.plan.verdict, Verdict::Retarget);
  EXPECT_TRUE(mid.refused);
  ASSERT_FALSE(mid.problems.empty());
  EXPECT_EQ(mid.problems.front().code, resolve::code::kNeededMissing);
  EXPECT_EQ(mid.problems.front().subject, "libgone.so");
  EXPECT_FALSE(mid.writable());
  EXPECT_EQ(named(files, "/bin/user").plan.verdict, Verdict::Retarget);
  EXPECT_TRUE(named(files, "/bin/user").refused);
  EXPECT_TRUE(named(files, "/bin/fine").writable());
}

TEST(RetargetBatch, IgnoreMissingLetsAFileThroughTheCheck) {
  BatchRoot t;
  t.glibc();
  t.put(t.stage() + "/bin/app", x86_program({"libGL.so.1", "libc.so.6"}));
  auto strict = t.files({"/bin/app"});
  t.run(strict, config("x86_64-linux-gnu"));
  EXPECT_EQ(strict.front().plan.verdict, Verdict::Unresolved);
  EXPECT_FALSE(strict.front().writable());
  auto lenient = t.files({"/bin/app"});
  t.run(lenient, config("x86_64-linux-gnu", {"libGL.so*"}));
  EXPECT_EQ(lenient.front().plan.verdict, Verdict::Retarget);
  EXPECT_FALSE(lenient.front().refused);
  EXPECT_TRUE(lenient.front().writable());
}

TEST(RetargetBatch, WithoutTheTuplesLibcTheLoaderIsMissing) {
  BatchRoot t;  // no glibc in ROOT
  t.put(t.stage() + "/bin/app", x86_program({"libc.so.6"}));
  auto files = t.files({"/bin/app"});
  auto r = t.run(files, config("x86_64-linux-gnu"));
  EXPECT_FALSE(r.loader_present);
  EXPECT_EQ(files.front().plan.verdict, Verdict::Unresolved);
}

TEST(RetargetBatch, AStageWhereTheRootHasNoDirectoryYet) {
  BatchRoot t;
  t.glibc();
  t.put(t.stage() + "/bin/app", x86_program({"libc.so.6"}));
  auto r = resolve::Root::open(t.root());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*r)->add_overlay("/opt/vendor/x", t.stage()));  // ROOT has no /opt
  std::vector<retarget::BatchFile> files(1);
  files[0].name = files[0].host = t.stage() + "/bin/app";
  files[0].install = "/opt/vendor/x/bin/app";
  retarget::plan_batch(*r, config("x86_64-linux-gnu"), files, {"/opt/vendor/x"}, 1);
  ASSERT_FALSE(files[0].error) << files[0].error->message;
  EXPECT_TRUE(files[0].writable());
  EXPECT_EQ(files[0].install, "/opt/vendor/x/bin/app");
}

TEST(RetargetBatch, FilesThatAreNotElfAreDroppedFromAWalkButNamedOnesAreErrors) {
  BatchRoot t;
  t.glibc();
  std::ofstream(t.stage() + "/bin/script") << "#!/bin/sh\n";
  auto files = t.files({"/bin/script", "/bin/script"});
  files[0].explicitly = false;
  t.run(files, config("x86_64-linux-gnu"));
  EXPECT_TRUE(files[0].not_elf);
  EXPECT_FALSE(files[0].error);
  EXPECT_FALSE(files[1].not_elf);
  ASSERT_TRUE(files[1].error);
  EXPECT_EQ(files[1].error->kind, Error::Kind::NotElf);
}

}  // namespace
}  // namespace xpatch

// ---- memory: what the library index keeps of a tree ----

namespace xpatch {
namespace {

// Heap bytes in use now (glibc's count): what is kept, not what was freed
// and not yet given back.
std::size_t heap_in_use() { return ::mallinfo2().uordblks; }

// The index looks for shared objects in every directory under the prefix,
// but a tree is mostly other files (a cross toolchain's include/ holds
// thousands of headers): the walk must not keep a record of each of them
// in the root's lookup cache, or retarget's memory grows with the tree
// (issue 16: 45 MiB of a 78 MiB peak at 16 copies of the cross trees).
TEST(RetargetIndex, WalkingATreeKeepsNothingPerFileThatIsNotALibrary) {
  BatchRoot t;
  const std::string inc = t.root() + "/usr/x86_64-linux-gnu/include/";
  fs::create_directories(inc);
  const std::string pad(180, 'h');
  constexpr int kFiles = 20000;
  for (int i = 0; i < kFiles; ++i) std::ofstream(inc + std::to_string(i) + pad + ".h");
  t.glibc();
  auto root = resolve::Root::open(t.root());
  ASSERT_TRUE(root.ok());
  retarget::LibraryIndex idx;
  const std::size_t before = heap_in_use();
  idx.add_tree(**root, "/usr/x86_64-linux-gnu");
  const std::size_t grown = heap_in_use() - std::min(before, heap_in_use());
  EXPECT_EQ(idx.size(), 2u);  // ld-linux-x86-64.so.2 and libc.so.6 (by file name; sonames the same)
  // About 200 bytes of name per header: 4 MiB if each were kept.
  EXPECT_LT(grown, std::size_t{1} << 20) << grown << " bytes kept after indexing " << kFiles << " headers";
}

}  // namespace
}  // namespace xpatch
