// retarget::plan_file on synthetic files: which files are ours, what the
// interpreter and runpath become, where dependencies are found, and what is
// left alone. The e2e suite (retarget.sh, the demo) runs the results.

#include <gtest/gtest.h>

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
  // The prefix's lib dir, the $ORIGIN entry kept, the vendor dir found; /old dropped.
  EXPECT_EQ(plan.runpath, "/usr/aarch64-linux-gnu/lib:$ORIGIN/../lib:/opt/vendor/lib");
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
  EXPECT_EQ(plan.runpath, "/usr/aarch64-linux-gnu/lib:$ORIGIN/../lib/app");
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
