// Target description: tuple, ABI details and loader name from e_machine,
// e_flags, class, byte order and the interpreter.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "tests/unit/elf_builder.h"

namespace xpatch {
namespace {

template <typename E>
elf::Target describe(std::uint16_t machine, std::uint32_t flags, std::optional<std::string> interp,
                     std::vector<std::string> needed = {"libc.so.6"}) {
  test::Spec s;
  s.machine = machine;
  s.flags = flags;
  s.interp = std::move(interp);
  s.needed = std::move(needed);
  auto img = test::build_elf<E>(s);
  auto f = elf::read_elf(img.bytes, "t");
  EXPECT_TRUE(f.ok());
  return elf::describe_target(*f);
}

struct Case {
  const char* what;
  elf::Target got;
  const char* tuple;
  const char* abi;
  const char* loader;
};

TEST(Target, TuplesAbiAndLoaders) {
  using namespace elf;
  const Case cases[] = {
      {"x86_64 glibc", describe<Elf64LE>(EM_X86_64, 0, "/lib64/ld-linux-x86-64.so.2"), "x86_64-linux-gnu", "",
       "ld-linux-x86-64.so.2"},
      {"x86_64 musl", describe<Elf64LE>(EM_X86_64, 0, "/lib/ld-musl-x86_64.so.1", {"libc.so"}), "x86_64-linux-musl",
       "", "ld-musl-x86_64.so.1"},
      {"i686", describe<Elf32LE>(EM_386, 0, "/lib/ld-linux.so.2"), "i686-linux-gnu", "", "ld-linux.so.2"},
      {"aarch64 musl", describe<Elf64LE>(EM_AARCH64, 0, "/lib/ld-musl-aarch64.so.1"), "aarch64-linux-musl", "",
       "ld-musl-aarch64.so.1"},
      {"armhf", describe<Elf32LE>(EM_ARM, 0x05000400, "/lib/ld-linux-armhf.so.3"), "arm-linux-gnueabihf",
       "eabi5 hard-float", "ld-linux-armhf.so.3"},
      {"armel", describe<Elf32LE>(EM_ARM, 0x05000200, "/lib/ld-linux.so.3"), "arm-linux-gnueabi",
       "eabi5 soft-float", "ld-linux.so.3"},
      {"armhf musl", describe<Elf32LE>(EM_ARM, 0x05000400, "/lib/ld-musl-armhf.so.1"), "arm-linux-musleabihf",
       "eabi5 hard-float", "ld-musl-armhf.so.1"},
      {"riscv64 lp64d", describe<Elf64LE>(EM_RISCV, EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE, "/lib/ld-linux-riscv64-lp64d.so.1"),
       "riscv64-linux-gnu", "lp64d rvc", "ld-linux-riscv64-lp64d.so.1"},
      {"riscv64 soft", describe<Elf64LE>(EM_RISCV, 0, "/lib/ld-musl-riscv64-sf.so.1"), "riscv64-linux-musl", "lp64",
       "ld-musl-riscv64-sf.so.1"},
      {"ppc64le", describe<Elf64LE>(EM_PPC64, 2, "/lib64/ld64.so.2"), "powerpc64le-linux-gnu", "elfv2", "ld64.so.2"},
      {"ppc64 v1", describe<Elf64BE>(EM_PPC64, 1, "/lib64/ld64.so.1"), "powerpc64-linux-gnu", "elfv1", "ld64.so.1"},
      {"ppc64 be unspecified", describe<Elf64BE>(EM_PPC64, 0, "/lib64/ld64.so.1"), "powerpc64-linux-gnu", "elfv1",
       "ld64.so.1"},
      {"powerpc", describe<Elf32BE>(EM_PPC, 0, "/lib/ld.so.1"), "powerpc-linux-gnu", "", "ld.so.1"},
      {"s390x", describe<Elf64BE>(EM_S390, 0, "/lib/ld64.so.1"), "s390x-linux-gnu", "", "ld64.so.1"},
      {"mips64el n64", describe<Elf64LE>(EM_MIPS, 0, "/lib64/ld.so.1"), "mips64el-linux-gnuabi64", "n64", "ld.so.1"},
      {"mips n32", describe<Elf32BE>(EM_MIPS, EF_MIPS_ABI2, "/lib32/ld.so.1"), "mips64-linux-gnuabin32", "n32",
       "ld.so.1"},
      {"mipsel o32", describe<Elf32LE>(EM_MIPS, 0, "/lib/ld.so.1"), "mipsel-linux-gnu", "o32", "ld.so.1"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(c.got.tuple) << c.what;
    EXPECT_EQ(*c.got.tuple, c.tuple) << c.what;
    EXPECT_EQ(c.got.abi, c.abi) << c.what;
    ASSERT_TRUE(c.got.loader) << c.what;
    EXPECT_EQ(*c.got.loader, c.loader) << c.what;
  }
}

// parse_tuple() (from a tuple alone, for `setup`) must agree with what
// describe_target() derives from a binary of that tuple.
template <typename E>
void expect_tuple_agrees(std::uint16_t machine, std::uint32_t flags, const char* interp, const char* libc_dep) {
  test::Spec s;
  s.machine = machine;
  s.flags = flags;
  s.interp = interp;
  s.needed = {libc_dep};
  auto img = test::build_elf<E>(s);
  auto f = elf::read_elf(img.bytes, "t");
  ASSERT_TRUE(f.ok());
  elf::Target t = elf::describe_target(*f);
  ASSERT_TRUE(t.tuple) << interp;
  auto info = elf::parse_tuple(*t.tuple);
  ASSERT_TRUE(info) << *t.tuple;
  EXPECT_EQ(info->machine, f->header.machine) << *t.tuple;
  EXPECT_EQ(info->elf_class, f->header.elf_class) << *t.tuple;
  EXPECT_EQ(info->big_endian, f->header.big_endian) << *t.tuple;
  EXPECT_EQ(info->libc, t.libc) << *t.tuple;
  EXPECT_EQ(info->loader, t.loader.value_or("?")) << *t.tuple;
  // The conventional PT_INTERP is the table's loader_dir + loader.
  EXPECT_EQ(info->loader_dir + "/" + info->loader, std::string(interp)) << *t.tuple;
  // The same tuple back, and the file is the tuple's, e_flags ABI included.
  EXPECT_EQ(info->tuple, *t.tuple);
  EXPECT_TRUE(elf::built_for(*info, *f)) << *t.tuple;
}

TEST(Target, ParseTupleAgreesWithBinaries) {
  using namespace elf;
  expect_tuple_agrees<Elf64LE>(EM_X86_64, 0, "/lib64/ld-linux-x86-64.so.2", "libc.so.6");
  expect_tuple_agrees<Elf64LE>(EM_X86_64, 0, "/lib/ld-musl-x86_64.so.1", "libc.so");
  expect_tuple_agrees<Elf32LE>(EM_386, 0, "/lib/ld-linux.so.2", "libc.so.6");
  expect_tuple_agrees<Elf64LE>(EM_AARCH64, 0, "/lib/ld-linux-aarch64.so.1", "libc.so.6");
  expect_tuple_agrees<Elf64LE>(EM_AARCH64, 0, "/lib/ld-musl-aarch64.so.1", "libc.so");
  expect_tuple_agrees<Elf64BE>(EM_AARCH64, 0, "/lib/ld-linux-aarch64_be.so.1", "libc.so.6");
  expect_tuple_agrees<Elf32LE>(EM_ARM, 0x05000400, "/lib/ld-linux-armhf.so.3", "libc.so.6");
  expect_tuple_agrees<Elf32LE>(EM_ARM, 0x05000200, "/lib/ld-linux.so.3", "libc.so.6");
  expect_tuple_agrees<Elf32LE>(EM_ARM, 0x05000400, "/lib/ld-musl-armhf.so.1", "libc.so");
  expect_tuple_agrees<Elf32LE>(EM_ARM, 0x05000200, "/lib/ld-musl-arm.so.1", "libc.so");
  expect_tuple_agrees<Elf64LE>(EM_RISCV, EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE, "/lib/ld-linux-riscv64-lp64d.so.1",
                               "libc.so.6");
  expect_tuple_agrees<Elf64LE>(EM_RISCV, EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE, "/lib/ld-musl-riscv64.so.1",
                               "libc.so");
  expect_tuple_agrees<Elf64LE>(EM_PPC64, 2, "/lib64/ld64.so.2", "libc.so.6");
  expect_tuple_agrees<Elf64BE>(EM_PPC64, 1, "/lib64/ld64.so.1", "libc.so.6");
  expect_tuple_agrees<Elf32BE>(EM_PPC, 0, "/lib/ld.so.1", "libc.so.6");
  expect_tuple_agrees<Elf64BE>(EM_S390, 0, "/lib/ld64.so.1", "libc.so.6");
  expect_tuple_agrees<Elf64BE>(EM_S390, 0, "/lib/ld-musl-s390x.so.1", "libc.so");
  expect_tuple_agrees<Elf64LE>(EM_MIPS, 0, "/lib64/ld.so.1", "libc.so.6");
  expect_tuple_agrees<Elf32LE>(EM_MIPS, 0, "/lib/ld.so.1", "libc.so.6");
  expect_tuple_agrees<Elf64LE>(EM_LOONGARCH, 0, "/lib64/ld-linux-loongarch-lp64d.so.1", "libc.so.6");
}

// Every row of the one table round-trips: a tuple names a machine, class,
// byte order, e_flags ABI and libc; a binary with those (and the tuple's
// loader as PT_INTERP) is described as that same tuple, with that loader.
TEST(Target, EveryTupleRoundTrips) {
  const std::vector<std::string> tuples = elf::known_tuples();
  ASSERT_GE(tuples.size(), 30u);
  for (const std::string& tuple : tuples) {
    SCOPED_TRACE(tuple);
    const auto info = elf::parse_tuple(tuple);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->tuple, tuple);
    EXPECT_FALSE(info->qemu.empty());
    ASSERT_TRUE(info->libc == elf::Libc::Glibc || info->libc == elf::Libc::Musl);
    test::Spec s;
    s.machine = info->machine;
    s.flags = info->abi_flags;
    s.interp = info->loader_dir + "/" + info->loader;
    s.needed = {info->libc == elf::Libc::Musl ? "libc.so" : "libc.so.6"};
    const elf::Variant v = info->elf_class == 64 ? (info->big_endian ? elf::Variant::k64BE : elf::Variant::k64LE)
                                                 : (info->big_endian ? elf::Variant::k32BE : elf::Variant::k32LE);
    const auto img = elf::dispatch(v, [&](auto e) { return test::build_elf<decltype(e)>(s); });
    auto f = elf::read_elf(img.bytes, "t");
    ASSERT_TRUE(f.ok());
    const elf::Target t = elf::describe_target(*f);
    EXPECT_EQ(t.libc, info->libc);
    EXPECT_EQ(t.tuple.value_or("?"), tuple);
    EXPECT_EQ(t.loader.value_or("?"), info->loader);
    EXPECT_TRUE(elf::built_for(*info, *f));
    EXPECT_EQ(elf::loader_fits(*f, *s.interp), elf::LoaderFit::Fits);
  }
}

TEST(Target, ParseTupleRefusesWhatItCannotTell) {
  EXPECT_FALSE(elf::parse_tuple("mips64-linux-gnuabin32"));  // n32: e_flags, beyond what binfmt's magic sees
  EXPECT_FALSE(elf::parse_tuple("x86_64-pc-windows-msvc"));
  EXPECT_FALSE(elf::parse_tuple("aarch64-linux"));
  EXPECT_FALSE(elf::parse_tuple("aarch64-linux-android"));
  EXPECT_FALSE(elf::parse_tuple(""));
  auto vendor = elf::parse_tuple("aarch64-unknown-linux-musl");
  ASSERT_TRUE(vendor);
  EXPECT_EQ(vendor->loader, "ld-musl-aarch64.so.1");
  auto i686 = elf::parse_tuple("i686-linux-gnu");
  ASSERT_TRUE(i686);
  EXPECT_EQ(i686->multiarch, "i386-linux-gnu");  // Debian's name for the directory
  EXPECT_EQ(i686->qemu, "i386");
}

// EI_OSABI: a file branded for another system (FreeBSD, 9) has no Linux
// tuple, whatever its machine; SYSV, GNU and (on ARM) ARM_AEABI do.
TEST(Target, AnotherSystemsOsAbiIsNoLinuxTuple) {
  auto with_osabi = [](std::uint16_t machine, std::uint32_t flags, unsigned char osabi) {
    test::Spec s;
    s.machine = machine;
    s.flags = flags;
    s.interp = machine == EM_ARM ? "/lib/ld-linux-armhf.so.3" : "/lib64/ld-linux-x86-64.so.2";
    auto img = test::build_elf<elf::Elf32LE>(s);
    if (machine != EM_ARM) img = test::build_elf<elf::Elf64LE>(s);
    img.bytes[EI_OSABI] = std::byte{osabi};
    auto f = elf::read_elf(img.bytes, "t");
    EXPECT_TRUE(f.ok());
    return elf::describe_target(*f).tuple;
  };
  EXPECT_EQ(with_osabi(EM_X86_64, 0, ELFOSABI_SYSV), "x86_64-linux-gnu");
  EXPECT_EQ(with_osabi(EM_X86_64, 0, ELFOSABI_GNU), "x86_64-linux-gnu");
  EXPECT_EQ(with_osabi(EM_X86_64, 0, ELFOSABI_FREEBSD), std::nullopt);
  EXPECT_EQ(with_osabi(EM_ARM, 0x05000400, ELFOSABI_ARM_AEABI), "arm-linux-gnueabihf");
  EXPECT_EQ(with_osabi(EM_ARM, 0x05000400, ELFOSABI_FREEBSD), std::nullopt);
}

TEST(Target, LibcFamily) {
  using namespace elf;
  EXPECT_EQ(describe<Elf64LE>(EM_X86_64, 0, std::nullopt, {"libc.so.6"}).libc, Libc::Glibc);  // a glibc library
  EXPECT_EQ(describe<Elf64LE>(EM_X86_64, 0, std::nullopt, {"libc.so"}).libc, Libc::Musl);     // a musl library
  EXPECT_EQ(describe<Elf64LE>(EM_X86_64, 0, std::nullopt, {"libfoo.so"}).libc, Libc::Unknown);
  auto t = describe<Elf64LE>(EM_X86_64, 0, std::nullopt, {});  // static-pie: no interpreter, no needed, DF_1_PIE
  EXPECT_EQ(t.libc, Libc::Static);
  EXPECT_FALSE(t.tuple);
}

TEST(Target, FlagNamesFollowReadelf) {
  EXPECT_EQ(elf::dt_flags_1_names(DF_1_NOW | DF_1_PIE), (std::vector<std::string>{"NOW", "PIE"}));
  EXPECT_EQ(elf::dt_flags_names(DF_BIND_NOW | 0x100), (std::vector<std::string>{"BIND_NOW", "0x100"}));
}

// The aliases users type name the canonical tuple; the rest is refused.
TEST(Target, TupleAliasesParse) {
  const std::pair<const char*, const char*> aliases[] = {
      {"x86-64-linux-gnu", "x86_64-linux-gnu"},     {"amd64-linux-gnu", "x86_64-linux-gnu"},
      {"x86_64-pc-linux-gnu", "x86_64-linux-gnu"},  {"i386-linux-gnu", "i686-linux-gnu"},
      {"arm64-linux-musl", "aarch64-linux-musl"},   {"aarch64-unknown-linux-gnu", "aarch64-linux-gnu"},
      {"armv7l-linux-gnueabihf", "arm-linux-gnueabihf"}, {"ppc64el-linux-gnu", "powerpc64le-linux-gnu"},
      {"ppc64le-linux-musl", "powerpc64le-linux-musl"},  {"ppc-linux-gnu", "powerpc-linux-gnu"},
  };
  for (auto [alias, canonical] : aliases) {
    auto t = elf::parse_tuple(alias);
    ASSERT_TRUE(t) << alias;
    EXPECT_EQ(t->tuple, canonical) << alias;
    EXPECT_EQ(elf::parse_tuple(canonical)->tuple, canonical);
  }
  EXPECT_EQ(elf::parse_tuple("i386-linux-gnu")->multiarch, "i386-linux-gnu");
  for (const char* bad : {"x86-64", "vax-linux-gnu", "x86_64-linux-android", "x86-64-linux", ""})
    EXPECT_FALSE(elf::parse_tuple(bad)) << bad;
}

// Debian's musl loader is /usr/lib/<triplet>/libc.so: a program with that
// PT_INTERP is musl to show as it is to check (once "libc unknown").
TEST(Target, MuslLibcSoAsInterpreterIsMusl) {
  using namespace elf;
  Target t = describe<Elf64LE>(EM_X86_64, 0, "/usr/lib/x86_64-linux-musl/libc.so", {"libc.so"});
  EXPECT_EQ(t.libc, Libc::Musl);
  EXPECT_EQ(t.tuple.value_or(""), "x86_64-linux-musl");
  EXPECT_EQ(libc_of(std::string("/usr/lib/x86_64-linux-musl/libc.so"), {}), Libc::Musl);
  EXPECT_EQ(libc_of(std::string("/lib/ld-linux-aarch64.so.1"), {"libc.so.6"}), Libc::Glibc);
  EXPECT_EQ(libc_of(std::nullopt, {"libc.so"}), Libc::Musl);
  EXPECT_EQ(libc_of(std::nullopt, {"libz.so.1"}), Libc::Unknown);
}

// binfmt_misc bytes through Ehdr<E>: what the kernel compares, in each byte
// order (aarch64 and s390x as registered by Debian's qemu-user-binfmt).
TEST(Target, BinfmtMagicAndMask) {
  auto hex = [](const std::vector<unsigned char>& v) {
    std::string s;
    for (unsigned char c : v) s += fmt::format("{:02x}", c);
    return s;
  };
  auto a64 = elf::binfmt_bytes(*elf::parse_tuple("aarch64-linux-gnu"));
  EXPECT_EQ(hex(a64.magic), "7f454c460201010000000000000000000200b700");
  EXPECT_EQ(hex(a64.mask), "ffffffffffffff00fffffffffffffffffeffffff");
  auto s390x = elf::binfmt_bytes(*elf::parse_tuple("s390x-linux-gnu"));
  EXPECT_EQ(hex(s390x.magic), "7f454c4602020100000000000000000000020016");
  EXPECT_EQ(hex(s390x.mask), "ffffffffffffff00fffffffffffffffffffeffff");
}

// ABI compatibility, from e_flags: what check and retarget both ask.
TEST(Target, AbiCompatibility) {
  using namespace elf;
  EXPECT_FALSE(abi_compatible(EM_ARM, EF_ARM_ABI_FLOAT_HARD, EF_ARM_ABI_FLOAT_SOFT));
  EXPECT_TRUE(abi_compatible(EM_ARM, EF_ARM_ABI_FLOAT_HARD, 0));  // unspecified: either
  EXPECT_FALSE(abi_compatible(EM_RISCV, EF_RISCV_FLOAT_ABI_DOUBLE, 0));
  EXPECT_FALSE(abi_compatible(EM_PPC64, 1, 2));
  EXPECT_TRUE(abi_compatible(EM_PPC64, 0, 2));
  EXPECT_FALSE(abi_compatible(EM_MIPS, EF_MIPS_ABI2, 0));
  EXPECT_TRUE(abi_compatible(EM_X86_64, 1, 2));
}

}  // namespace
}  // namespace xpatch

namespace xpatch {
namespace {

// The loader a --interp names, judged against the file (risky edits, issue 18).
TEST(Target, LoaderFitsByName) {
  using namespace elf;
  // A file with its own loader (which tells its libc), or none (a library:
  // its libc dependency tells).
  auto fits = [](std::uint16_t machine, std::uint32_t flags, std::vector<std::string> needed, const char* interp) {
    test::Spec s;
    s.machine = machine;
    s.flags = flags;
    s.interp.reset();
    s.flags_1 = 0;
    s.needed = std::move(needed);
    auto img = test::build_elf<Elf64LE>(s);
    auto f = read_elf(img.bytes, "t");
    EXPECT_TRUE(f.ok());
    return loader_fits(*f, interp);
  };
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so.6"}, "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"), LoaderFit::Fits);
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so.6"}, "/lib/ld-musl-aarch64.so.1"), LoaderFit::OtherLibc);
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so.6"}, "/usr/lib/aarch64-linux-musl/libc.so"), LoaderFit::OtherLibc);
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so.6"}, "/lib/ld-linux-armhf.so.3"), LoaderFit::OtherArch);
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so"}, "/lib/ld-musl-aarch64.so.1"), LoaderFit::Fits);
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so"}, "/lib/ld-musl-x86_64.so.1"), LoaderFit::OtherArch);
  EXPECT_EQ(fits(EM_AARCH64, 0, {"libc.so"}, "/lib/ld-linux-aarch64.so.1"), LoaderFit::OtherLibc);
  EXPECT_EQ(fits(EM_X86_64, 0, {"libc.so.6"}, "/opt/private/my-loader"), LoaderFit::Unknown);
  EXPECT_EQ(fits(EM_X86_64, 0, {"libfoo.so"}, "/lib/ld-musl-x86_64.so.1"), LoaderFit::Fits);  // libc unknown
}

}  // namespace
}  // namespace xpatch
