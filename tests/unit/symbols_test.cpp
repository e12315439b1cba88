// The symbol check, rule by rule, on a root made of real files: the host's
// x86_64 loader and libc, and the cross-compiled symbol fixtures (programs
// linked against libsym.so, given libsym.so or libsym-lost.so). The same
// cases run under the real loaders in tests/e2e/symbols.sh; here each rule
// is pinned to its finding, and damaged tables must give `malformed`.
// XPATCH_FIXTURES names the fixtures directory.

#include <gtest/gtest.h>

#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "libpatch/elf/model.h"
#include "libpatch/elf/relocs.h"
#include "libpatch/resolve/symbols.h"

namespace xpatch {
namespace {

namespace fs = std::filesystem;
using elf::RelocKind;

TEST(Relocs, EachFixtureMachinesKinds) {
  struct Case {
    std::uint16_t machine;
    std::uint32_t jump_slot, copy, relative, glob_dat, tls;
  };
  const Case cases[] = {
      {EM_X86_64, R_X86_64_JUMP_SLOT, R_X86_64_COPY, R_X86_64_RELATIVE, R_X86_64_GLOB_DAT, R_X86_64_TPOFF64},
      {EM_386, R_386_JMP_SLOT, R_386_COPY, R_386_RELATIVE, R_386_GLOB_DAT, R_386_TLS_TPOFF},
      {EM_AARCH64, R_AARCH64_JUMP_SLOT, R_AARCH64_COPY, R_AARCH64_RELATIVE, R_AARCH64_GLOB_DAT, R_AARCH64_TLSDESC},
      {EM_ARM, R_ARM_JUMP_SLOT, R_ARM_COPY, R_ARM_RELATIVE, R_ARM_GLOB_DAT, R_ARM_TLS_TPOFF32},
      {EM_RISCV, R_RISCV_JUMP_SLOT, R_RISCV_COPY, R_RISCV_RELATIVE, R_RISCV_64, R_RISCV_TLS_TPREL64},
      {EM_PPC64, R_PPC64_JMP_SLOT, R_PPC64_COPY, R_PPC64_RELATIVE, R_PPC64_GLOB_DAT, R_PPC64_DTPMOD64},
      {EM_PPC, R_PPC_JMP_SLOT, R_PPC_COPY, R_PPC_RELATIVE, R_PPC_GLOB_DAT, R_PPC_TPREL32},
      {EM_S390, R_390_JMP_SLOT, R_390_COPY, R_390_RELATIVE, R_390_GLOB_DAT, R_390_TLS_TPOFF},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.machine);
    EXPECT_TRUE(elf::reloc_table(c.machine).known);
    EXPECT_EQ(elf::reloc_kind(c.machine, c.jump_slot), RelocKind::JumpSlot);
    EXPECT_EQ(elf::reloc_kind(c.machine, c.copy), RelocKind::Copy);
    EXPECT_EQ(elf::reloc_kind(c.machine, c.relative), RelocKind::NoSymbol);
    EXPECT_EQ(elf::reloc_kind(c.machine, 0), RelocKind::NoSymbol);
    EXPECT_EQ(elf::reloc_kind(c.machine, c.glob_dat), RelocKind::Other);
    EXPECT_EQ(elf::reloc_kind(c.machine, c.tls), RelocKind::Tls);
  }
  EXPECT_EQ(elf::reloc_kind(EM_X86_64, R_X86_64_IRELATIVE), RelocKind::NoSymbol);
  EXPECT_FALSE(elf::reloc_table(EM_MIPS).symbols_by_relocation);
  EXPECT_FALSE(elf::reloc_table(EM_NONE).known);
  EXPECT_EQ(elf::reloc_kind(EM_NONE, 7), RelocKind::Other);
}

// A root with the host's glibc (x86_64) and the x86_64 symbol fixtures.
class SymbolRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* fx = std::getenv("XPATCH_FIXTURES");
    if (!fx || !fs::exists(fs::path(fx) / "x86_64/libsym-lost.so"))
      GTEST_SKIP() << "XPATCH_FIXTURES has no symbol fixtures";
    if (!fs::exists("/lib64/ld-linux-x86-64.so.2") || !fs::exists("/lib/x86_64-linux-gnu/libc.so.6"))
      GTEST_SKIP() << "no x86_64 glibc on this host";
    fx_ = fs::path(fx) / "x86_64";
    char t[] = "/tmp/xpatch-symroot.XXXXXX";
    dir_ = ::mkdtemp(t);
    put(fs::canonical("/lib64/ld-linux-x86-64.so.2"), "/lib64/ld-linux-x86-64.so.2");
    put("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6");
    for (const char* a : {"now", "lazy", "ver", "verweak", "copy", "uniq"})
      put(fx_ / (std::string("app-sym-") + a), std::string("/bin/app-sym-") + a);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void put(const fs::path& from, const std::string& to) {
    fs::create_directories(fs::path(dir_ + to).parent_path());
    fs::copy_file(from, dir_ + to, fs::copy_options::overwrite_existing);
  }
  void library(bool lost) { put(fx_ / (lost ? "libsym-lost.so" : "libsym.so"), "/usr/lib/x86_64-linux-gnu/libsym.so"); }

  // The tree of `p`, resolved and checked for symbols in a fresh run.
  resolve::Tree checked(const std::string& p) {
    auto root = resolve::Root::open(dir_);
    EXPECT_TRUE(root.ok());
    resolve::Resolver r(*root);
    resolve::SymbolChecker sc(**root);
    resolve::Tree t = r.resolve(p);
    sc.check(t);
    return t;
  }

  // The findings of the symbol check, as "code code ..." (sorted).
  std::string codes(const std::string& p) {
    resolve::Tree t = checked(p);
    std::vector<std::string> cs;
    for (const auto& f : t.findings) cs.push_back(f.code);
    std::sort(cs.begin(), cs.end());
    std::string s;
    for (const auto& c : cs) s += (s.empty() ? "" : " ") + c;
    return s;
  }

  // Overwrites `n` bytes at `off` of the root's file `p`.
  void poke(const std::string& p, std::uint64_t off, const void* v, std::size_t n) {
    std::fstream f(dir_ + p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(off));
    f.write(static_cast<const char*>(v), static_cast<std::streamsize>(n));
  }

  // libfoo.so at `at` in the root, its "printf" renamed "prjntf" (nothing
  // defines that), resolved and checked on its own.
  resolve::Tree libfoo_without_printf(const std::string& at) {
    put(fx_ / "libfoo.so", at);
    auto f = elf::read_elf_file(dir_ + at);
    EXPECT_TRUE(f.ok());
    if (!f) return {};
    std::ifstream in(dir_ + at, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::string_view strtab(bytes.data() + f->dynstr_offset, f->dynstr_size);
    auto name = strtab.find(std::string_view("\0printf\0", 8));
    EXPECT_NE(name, std::string_view::npos);
    if (name != std::string_view::npos) poke(at, f->dynstr_offset + name + 3, "j", 1);
    return checked(at);
  }

  fs::path fx_;
  std::string dir_;
};

TEST_F(SymbolRoot, WithTheLibraryTheyWereLinkedAgainstEveryProgramIsClean) {
  library(false);
  for (const char* a : {"now", "lazy", "ver", "verweak", "copy", "uniq"})
    EXPECT_EQ(codes(std::string("/bin/app-sym-") + a), "") << a;
}

TEST_F(SymbolRoot, EachRuleGivesItsFinding) {
  library(true);
  EXPECT_EQ(codes("/bin/app-sym-now"), "symbol-missing");           // -z now: at load
  EXPECT_EQ(codes("/bin/app-sym-lazy"), "symbol-missing-lazy");     // lazy PLT: at the first call
  EXPECT_EQ(codes("/bin/app-sym-ver"), "symbol-missing-lazy version-missing");
  EXPECT_EQ(codes("/bin/app-sym-verweak"), "version-missing-weak");  // VER_FLG_WEAK
  EXPECT_EQ(codes("/bin/app-sym-copy"), "copy-size-changed");        // the program's copy is skipped
  EXPECT_EQ(codes("/bin/app-sym-uniq"), "");                         // STB_GNU_UNIQUE, protected
}

TEST_F(SymbolRoot, ALibraryOnItsOwnIsJudgedByItsClosureWithWarnings) {
  // libfoo.so calls printf; renamed, nothing in its closure defines it, but
  // the program that loads the library might: a warning, not an error.
  put(fx_ / "libfoo.so", "/usr/lib/x86_64-linux-gnu/libfoo.so");
  EXPECT_EQ(codes("/usr/lib/x86_64-linux-gnu/libfoo.so"), "");
  resolve::Tree t = libfoo_without_printf("/usr/lib/x86_64-linux-gnu/libfoo.so");
  ASSERT_EQ(t.findings.size(), 1u);
  EXPECT_EQ(t.findings[0].code, "symbol-missing");
  EXPECT_EQ(t.findings[0].severity, resolve::Severity::Warning);
  EXPECT_NE(t.findings[0].message.find("prjntf"), std::string::npos);
}

// A plugin (a perl, python or postgres module) is loaded by its host with
// dlopen and a path; glibc resolves its symbols in the global scope, which
// starts with the host program, so symbols its own closure lacks are
// normal. Only a library a DT_NEEDED search can find (in a directory the
// loader searches by default) may be loaded by a program that lacks them.
TEST_F(SymbolRoot, APluginOutsideTheLoadersDirectoriesGetsInfoNotAWarning) {
  resolve::Tree t = libfoo_without_printf("/usr/lib/x86_64-linux-gnu/perl5/auto/Foo/Foo.so");
  ASSERT_EQ(t.findings.size(), 1u);
  EXPECT_EQ(t.findings[0].code, "symbol-missing");
  EXPECT_EQ(t.findings[0].severity, resolve::Severity::Info);
  EXPECT_NE(t.findings[0].message.find("prjntf"), std::string::npos);
}

// libsib-needs.so calls sib_foo, which a sibling in the global scope
// defines: app-sib-self itself, or libsib-def.so in app-sib-lib. The
// library's closure (itself, libc, the loader) is the same in app-sib-none,
// which has no definition: checked after the others in one run (one
// SymbolChecker), it must still get symbol-missing (ld.so: "undefined
// symbol: sib_foo"), whatever came before.
TEST_F(SymbolRoot, AClosureResolvedBySiblingIsNotResolvedWithoutIt) {
  if (!fs::exists(fx_ / "app-sib-none")) GTEST_SKIP() << "the fixtures have no app-sib-none (run fixtures.build)";
  for (const char* f : {"libsib-needs.so", "libsib-def.so"}) put(fx_ / f, std::string("/usr/lib/x86_64-linux-gnu/") + f);
  for (const char* a : {"self", "lib", "none"}) put(fx_ / (std::string("app-sib-") + a), std::string("/bin/app-sib-") + a);
  for (const char* sibling : {"self", "lib"}) {
    SCOPED_TRACE(sibling);
    auto root = resolve::Root::open(dir_);
    ASSERT_TRUE(root.ok());
    resolve::Resolver r(*root);
    resolve::SymbolChecker sc(**root);
    resolve::Tree with = r.resolve(std::string("/bin/app-sib-") + sibling);
    sc.check(with);
    EXPECT_TRUE(with.findings.empty());
    resolve::Tree without = r.resolve("/bin/app-sib-none");
    sc.check(without);
    ASSERT_EQ(without.findings.size(), 1u);
    EXPECT_EQ(without.findings[0].code, "symbol-missing");
    EXPECT_EQ(without.findings[0].severity, resolve::Severity::Error);
    EXPECT_EQ(without.findings[0].object, "/usr/lib/x86_64-linux-gnu/libsib-needs.so");
    EXPECT_EQ(without.findings[0].subject, "sib_foo");
  }
  EXPECT_EQ(codes("/bin/app-sib-none"), "symbol-missing");  // and on its own, in a fresh run
}

TEST_F(SymbolRoot, AVersionNeedNamingAFileNotLoadedIsAnError) {
  library(false);
  auto f = elf::read_elf_file(dir_ + "/bin/app-sym-ver");
  ASSERT_TRUE(f.ok());
  std::uint64_t verneed = 0;
  for (const auto& d : f->dynamic)
    if (d.tag == DT_VERNEED) verneed = d.value;
  auto off = f->vaddr_to_offset(verneed, sizeof(Elf64_Verneed));
  ASSERT_TRUE(off);
  // vn_file of the first entry -> "GLIBC_2.2.5", a string no object is loaded by.
  std::ifstream in(dir_ + "/bin/app-sym-ver", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::string_view strtab(bytes.data() + f->dynstr_offset, f->dynstr_size);
  auto at = strtab.find(std::string_view("GLIBC_2.2.5\0", 12));
  ASSERT_NE(at, std::string_view::npos);
  std::uint32_t name = static_cast<std::uint32_t>(at);
  poke("/bin/app-sym-ver", *off + offsetof(Elf64_Verneed, vn_file), &name, 4);
  EXPECT_EQ(codes("/bin/app-sym-ver"), "version-file-unloaded");
}

TEST_F(SymbolRoot, DamagedTablesAreMalformedNotACrash) {
  library(false);
  auto f = elf::read_elf_file(dir_ + "/bin/app-sym-ver");
  ASSERT_TRUE(f.ok());
  for (std::int64_t tag : {DT_VERNEED, DT_SYMTAB, DT_JMPREL, DT_GNU_HASH, DT_VERSYM}) {
    SCOPED_TRACE(tag);
    put(fx_ / "app-sym-ver", "/bin/app-sym-ver");
    for (std::size_t i = 0; i < f->dynamic.size(); ++i) {
      if (f->dynamic[i].tag != static_cast<std::uint64_t>(tag)) continue;
      std::uint64_t bad = 0xfffffffffff0;
      poke("/bin/app-sym-ver", f->dynamic_offset + i * sizeof(Elf64_Dyn) + 8, &bad, 8);
    }
    EXPECT_EQ(codes("/bin/app-sym-ver"), "malformed");
  }
  // A symbol index past DT_SYMTAB's segment in a relocation.
  put(fx_ / "app-sym-ver", "/bin/app-sym-ver");
  std::uint64_t jmprel = 0;
  for (const auto& d : f->dynamic)
    if (d.tag == DT_JMPREL) jmprel = d.value;
  auto off = f->vaddr_to_offset(jmprel, sizeof(Elf64_Rela));
  ASSERT_TRUE(off);
  std::uint64_t info = ELF64_R_INFO(0x7fffffffu, R_X86_64_JUMP_SLOT);
  poke("/bin/app-sym-ver", *off + offsetof(Elf64_Rela, r_info), &info, 8);
  EXPECT_EQ(codes("/bin/app-sym-ver"), "malformed");
}

}  // namespace
}  // namespace xpatch
