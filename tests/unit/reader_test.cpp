// The reader, on synthetic images of all four variants: values read back,
// and every kind of damage becomes an error naming the structure.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "libpatch/elf/bytes.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "tests/unit/elf_builder.h"

namespace xpatch {
namespace {

using elf::read_elf;
using test::build_elf;
using test::Spec;

// Images that end where their PT_LOAD ends, so every truncation cuts it.
Spec base() {
  Spec s;
  s.trailer = 0;
  return s;
}

template <typename E>
class ReaderTest : public ::testing::Test {};
using Variants = ::testing::Types<elf::Elf32LE, elf::Elf32BE, elf::Elf64LE, elf::Elf64BE>;
TYPED_TEST_SUITE(ReaderTest, Variants);
using namespace elf;  // NOLINT: Ehdr<E>, Dyn<E> in tests

TYPED_TEST(ReaderTest, ReadsBackWhatWasBuilt) {
  Spec s = base();
  s.rpath = "/old";
  s.soname = "libme.so.2";
  auto img = build_elf<TypeParam>(s);
  auto f = read_elf(img.bytes, "t");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->header.elf_class, TypeParam::is64 ? 64u : 32u);
  EXPECT_EQ(f->header.big_endian, TypeParam::endian == std::endian::big);
  EXPECT_EQ(f->header.machine, EM_X86_64);
  EXPECT_EQ(f->interpreter, "/lib/ld-test.so.1");
  EXPECT_EQ(f->needed, (std::vector<std::string_view>{"libfoo.so.1", "libc.so.6"}));
  EXPECT_EQ(f->runpath, "$ORIGIN/../lib");
  EXPECT_EQ(f->rpath, "/old");
  EXPECT_EQ(f->soname, "libme.so.2");
  EXPECT_EQ(f->dt_flags_1, DF_1_PIE);
  EXPECT_TRUE(f->is_pie());
  EXPECT_EQ(f->segments.size(), 4u);
  EXPECT_EQ(f->dynamic_slots, f->dynamic.size() + 2);  // terminator + one spare
  EXPECT_EQ(f->dynamic_offset, img.dynamic_off);
  EXPECT_EQ(f->dynstr_offset, img.dynstr_off);
}

// 60,000 DT_NEEDED entries naming one long string: the model keeps views
// into one copy of the bytes they cover, so it costs what the file does
// (copies were 60,000 x 4 KB here, and 4 GB with a 64 KiB name).
TYPED_TEST(ReaderTest, RepeatedNeededEntriesShareOneCopy) {
  Spec s = base();
  s.needed = {"lib" + std::string(4000, 'x') + ".so"};
  s.needed_repeat = 60000;
  auto img = build_elf<TypeParam>(s);
  auto f = read_elf(img.bytes, "t");
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->needed.size(), 60000u);
  EXPECT_EQ(f->needed.back(), s.needed[0]);
  for (std::string_view n : f->needed) ASSERT_EQ(n.data(), f->needed[0].data());
  ASSERT_TRUE(f->strings);
  EXPECT_LE(f->strings->size(), img.bytes.size());
  elf::ElfFile copy = *f;  // copies share the characters
  f = elf::read_elf(std::span<const std::byte>(), "gone");
  EXPECT_EQ(copy.needed.back(), s.needed[0]);
}

// A DT_NEEDED name of PATH_MAX bytes or more can never be opened by any
// loader: an error naming the entry, not 60,000 copies of 64 KiB.
TYPED_TEST(ReaderTest, NeededNameLongerThanPathMaxIsRejected) {
  Spec s = base();
  s.needed = {std::string(65535, 'a')};
  s.needed_repeat = 60000;
  auto img = build_elf<TypeParam>(s);
  auto f = read_elf(img.bytes, "t");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, Error::Kind::Malformed);
  EXPECT_NE(f.error().message.find("t: DT_NEEDED (dynamic entry 0): a name of 65535 bytes"), std::string::npos)
      << f.error().message;
  EXPECT_NE(f.error().message.find("PATH_MAX (4096)"), std::string::npos) << f.error().message;
}

// e_shstrndx SHN_XINDEX: the index of the section name table is in section
// header 0's sh_link (gABI). Without that resolution the names would be
// refused (0xffff is no section) or read from the wrong table.
TYPED_TEST(ReaderTest, ShstrndxEscapeIsResolvedThroughSectionZero) {
  using E = TypeParam;
  using N = typename E::Native;
  auto img = build_elf<E>(base());
  std::vector<std::byte>& b = img.bytes;
  const std::string names("\0.shstrtab\0.other\0", 18);
  const std::uint64_t names_off = b.size();
  for (char c : names) b.push_back(static_cast<std::byte>(c));
  while (b.size() % 8) b.push_back(std::byte{0});
  const std::uint64_t shoff = b.size();
  Shdr<E> sh[3]{};
  sh[0].sh_link = 2;  // where SHN_XINDEX sends the reader
  sh[1].sh_name = 11;  // ".other"
  sh[1].sh_type = SHT_PROGBITS;
  sh[2].sh_name = 1;  // ".shstrtab"
  sh[2].sh_type = SHT_STRTAB;
  sh[2].sh_offset = static_cast<N>(names_off);
  sh[2].sh_size = static_cast<N>(names.size());
  const auto* raw = reinterpret_cast<const std::byte*>(sh);
  b.insert(b.end(), raw, raw + sizeof sh);
  Ehdr<E> eh;
  std::memcpy(&eh, b.data(), sizeof eh);
  eh.e_shoff = static_cast<N>(shoff);
  eh.e_shnum = 3;
  eh.e_shentsize = sizeof(Shdr<E>);
  eh.e_shstrndx = SHN_XINDEX;
  std::memcpy(b.data(), &eh, sizeof eh);

  auto f = read_elf(b, "t");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->header.shstrndx, 2u);
  ASSERT_EQ(f->sections.size(), 3u);
  EXPECT_EQ(f->sections[1].name, ".other");
  EXPECT_EQ(f->sections[2].name, ".shstrtab");
}

// Every prefix of a valid file must give a clean error, never a crash or a
// read past the buffer (the sanitizer build makes the latter fatal).
TYPED_TEST(ReaderTest, EveryTruncationIsAnError) {
  auto img = build_elf<TypeParam>(base());
  for (std::size_t n = 0; n < img.bytes.size(); ++n) {
    std::vector<std::byte> cut(img.bytes.begin(), img.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto f = read_elf(cut, "cut");
    ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_TRUE(f.error().kind == Error::Kind::Malformed || f.error().kind == Error::Kind::NotElf);
    EXPECT_EQ(f.error().message.rfind("cut: ", 0), 0u) << f.error().message;
  }
}

TYPED_TEST(ReaderTest, ProgramHeaderOffsetThatWrapsIsRejected) {
  using E = TypeParam;
  auto img = build_elf<E>(base());
  Ehdr<E> eh;
  std::memcpy(&eh, img.bytes.data(), sizeof eh);
  eh.e_phoff = static_cast<typename E::Native>(~typename E::Native{0} - 8);
  std::memcpy(img.bytes.data(), &eh, sizeof eh);
  auto f = read_elf(img.bytes, "wrap");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, Error::Kind::Malformed);
  EXPECT_NE(f.error().message.find("program header table"), std::string::npos) << f.error().message;
}

TYPED_TEST(ReaderTest, DynamicWithoutNullIsRejected) {
  using E = TypeParam;
  Spec s = base();
  s.spare_nulls = 0;
  auto img = build_elf<E>(s);
  // Overwrite the only DT_NULL with a harmless DT_DEBUG.
  Dyn<E> d;
  d.d_tag = DT_DEBUG;
  d.d_val = 0;
  std::memcpy(img.bytes.data() + img.bytes.size() - sizeof d, &d, sizeof d);
  auto f = read_elf(img.bytes, "nonull");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("no DT_NULL"), std::string::npos) << f.error().message;
}

TYPED_TEST(ReaderTest, StringWithoutNulIsRejected) {
  using E = TypeParam;
  Spec s = base();
  s.runpath.reset();
  s.needed = {"libz.so"};
  auto img = build_elf<E>(s);
  // Shrink DT_STRSZ by one so the last string loses its terminator.
  auto f0 = read_elf(img.bytes, "ok");
  ASSERT_TRUE(f0.ok());
  for (std::size_t i = 0; i < f0->dynamic.size(); ++i) {
    if (f0->dynamic[i].tag != DT_STRSZ) continue;
    Dyn<E> d;
    d.d_tag = DT_STRSZ;
    d.d_val = static_cast<typename E::Native>(f0->dynamic[i].value - 1);
    std::memcpy(img.bytes.data() + img.dynamic_off + i * sizeof d, &d, sizeof d);
  }
  auto f = read_elf(img.bytes, "nonul");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("DT_NEEDED"), std::string::npos) << f.error().message;
  EXPECT_NE(f.error().message.find("no terminating NUL"), std::string::npos) << f.error().message;
}

TYPED_TEST(ReaderTest, StrtabOutsideEveryLoadIsRejected) {
  using E = TypeParam;
  auto img = build_elf<E>(base());
  auto f0 = read_elf(img.bytes, "ok");
  ASSERT_TRUE(f0.ok());
  for (std::size_t i = 0; i < f0->dynamic.size(); ++i) {
    if (f0->dynamic[i].tag != DT_STRTAB) continue;
    Dyn<E> d;
    d.d_tag = DT_STRTAB;
    d.d_val = 0x7000000;
    std::memcpy(img.bytes.data() + img.dynamic_off + i * sizeof d, &d, sizeof d);
  }
  auto f = read_elf(img.bytes, "strtab");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("DT_STRTAB: address 0x7000000"), std::string::npos) << f.error().message;
}

TYPED_TEST(ReaderTest, PnXnumWithoutSectionZeroIsRejected) {
  using E = TypeParam;
  auto img = build_elf<E>(base());
  Ehdr<E> eh;
  std::memcpy(&eh, img.bytes.data(), sizeof eh);
  eh.e_phnum = PN_XNUM;
  std::memcpy(img.bytes.data(), &eh, sizeof eh);
  auto f = read_elf(img.bytes, "xnum");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("PN_XNUM"), std::string::npos) << f.error().message;
}

// PN_XNUM with the real count in section header 0: the kernel, qemu-user
// and ld.so read e_phnum as it is, so only a core file may use the escape.
TYPED_TEST(ReaderTest, PnXnumIsMalformedExceptInACoreFile) {
  using E = TypeParam;
  auto img = build_elf<E>(base());
  // A section header table of one entry (section 0) at the end, holding the count.
  while (img.bytes.size() % 8) img.bytes.push_back(std::byte{0});
  const std::size_t shoff = img.bytes.size();
  img.bytes.resize(shoff + sizeof(Shdr<E>));
  Ehdr<E> eh;
  std::memcpy(&eh, img.bytes.data(), sizeof eh);
  const std::uint16_t phnum = eh.e_phnum;
  eh.e_shoff = static_cast<typename E::Native>(shoff);
  eh.e_shnum = 1;
  eh.e_shentsize = sizeof(Shdr<E>);
  Shdr<E> sh0;
  std::memset(&sh0, 0, sizeof sh0);
  sh0.sh_info = phnum;
  std::memcpy(img.bytes.data() + shoff, &sh0, sizeof sh0);
  std::memcpy(img.bytes.data(), &eh, sizeof eh);
  ASSERT_TRUE(read_elf(img.bytes, "good").ok());
  eh.e_phnum = PN_XNUM;
  std::memcpy(img.bytes.data(), &eh, sizeof eh);
  auto f = read_elf(img.bytes, "xnum");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, Error::Kind::Malformed);
  EXPECT_NE(f.error().message.find(fmt::format("xnum: ELF header: e_phnum is PN_XNUM (65535), the count ({})", phnum)),
            std::string::npos)
      << f.error().message;
  eh.e_type = ET_CORE;
  std::memcpy(img.bytes.data(), &eh, sizeof eh);
  auto core = read_elf(img.bytes, "core");
  ASSERT_TRUE(core.ok()) << core.error().message;
  EXPECT_EQ(core->header.phnum, phnum);
}

// Two PT_LOADs: moving the second one's p_vaddr into the first, below it,
// or to where its end wraps makes the file one no loader can map.
TYPED_TEST(ReaderTest, OverlappingOrUnorderedLoadsAreRejected) {
  using E = TypeParam;
  Spec s = base();
  s.padded_second_load = true;
  auto img = build_elf<E>(s);
  auto f0 = read_elf(img.bytes, "ok");
  ASSERT_TRUE(f0.ok()) << f0.error().message;
  std::size_t second = 0;
  for (std::size_t i = 0, loads = 0; i < f0->segments.size(); ++i)
    if (f0->segments[i].type == PT_LOAD && ++loads == 2) second = i;
  ASSERT_NE(second, 0u);
  const auto& first = *f0->find_segment(PT_LOAD);
  struct Case {
    std::uint64_t vaddr;
    const char* says;
  } cases[] = {
      {first.vaddr + first.memsz - 1, "overlaps the previous PT_LOAD"},
      {first.vaddr - 0x1000, "comes before the previous PT_LOAD"},
      {static_cast<std::uint64_t>(~typename E::Native{0}) - 4, "wraps around the address space"},
  };
  for (const Case& c : cases) {
    auto bytes = img.bytes;
    Phdr<E> p;
    std::memcpy(&p, bytes.data() + img.phoff + second * sizeof p, sizeof p);
    p.p_vaddr = static_cast<typename E::Native>(c.vaddr);
    std::memcpy(bytes.data() + img.phoff + second * sizeof p, &p, sizeof p);
    auto f = read_elf(bytes, "loads");
    ASSERT_FALSE(f.ok()) << c.says;
    EXPECT_EQ(f.error().kind, Error::Kind::Malformed);
    EXPECT_NE(f.error().message.find(fmt::format("program header {}", second)), std::string::npos)
        << f.error().message;
    EXPECT_NE(f.error().message.find(c.says), std::string::npos) << f.error().message;
  }
  // Adjacent, not overlapping: the second starts exactly where the first ends.
  auto bytes = img.bytes;
  Phdr<E> p;
  std::memcpy(&p, bytes.data() + img.phoff + second * sizeof p, sizeof p);
  p.p_vaddr = static_cast<typename E::Native>(first.vaddr + first.memsz);
  std::memcpy(bytes.data() + img.phoff + second * sizeof p, &p, sizeof p);
  auto f = read_elf(bytes, "adjacent");
  EXPECT_TRUE(f.ok()) << f.error().message;
  // Out of order in a file no loader maps as a dynamic object (a kernel
  // image has its per-CPU segment at p_vaddr 0, after the others): read.
  p.p_vaddr = static_cast<typename E::Native>(first.vaddr - 0x1000);
  std::memcpy(bytes.data() + img.phoff + second * sizeof p, &p, sizeof p);
  for (std::size_t i = 0; i < f0->segments.size(); ++i) {
    if (f0->segments[i].type != PT_DYNAMIC && f0->segments[i].type != PT_INTERP) continue;
    std::memcpy(&p, bytes.data() + img.phoff + i * sizeof p, sizeof p);
    p.p_type = PT_NULL;
    std::memcpy(bytes.data() + img.phoff + i * sizeof p, &p, sizeof p);
  }
  auto k = read_elf(bytes, "kernel-like");
  EXPECT_TRUE(k.ok()) << k.error().message;
}

TEST(Reader, RejectsBadClassAndData) {
  auto img = build_elf<elf::Elf64LE>(base());
  img.bytes[EI_CLASS] = std::byte{7};
  auto f = read_elf(img.bytes, "cls");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("EI_CLASS is 7"), std::string::npos);
  img.bytes[EI_CLASS] = std::byte{ELFCLASS64};
  img.bytes[EI_DATA] = std::byte{0};
  f = read_elf(img.bytes, "data");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("EI_DATA is 0"), std::string::npos);
}

TEST(Reader, NotElf) {
  std::vector<std::byte> junk(100, std::byte{'#'});
  auto f = read_elf(junk, "junk");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, Error::Kind::NotElf);
}

// Bytes over a descriptor with a shared window (the symbol check's table
// images): a fetch wholly inside the window reads it, one that reaches past
// either end reads the file. The window holds other bytes than the file
// here, so each answer says where it came from.
TEST(Bytes, SharedWindowServesOnlyWhatItHolds) {
  char name[] = "/tmp/xpatch-bytes-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ::unlink(name);
  std::string file(100000, 'f');
  ASSERT_EQ(::pwrite(fd, file.data(), file.size(), 0), static_cast<ssize_t>(file.size()));
  const std::string label = "window-test";
  elf::Bytes b(fd, file.size(), label, 4096);
  std::shared_ptr<std::byte[]> w(new std::byte[1000]);
  std::memset(w.get(), 'w', 1000);
  b.share(50000, w, 1000);
  EXPECT_EQ(b.cached_bytes(), 1000u);
  EXPECT_EQ(b.view(50000, 1000, "all of it"), std::string(1000, 'w'));
  EXPECT_EQ(b.view(50999, 1, "its last byte"), "w");
  EXPECT_EQ(b.view(49999, 2, "from before it"), "ff");
  EXPECT_EQ(b.view(50999, 2, "past its end"), "ff");
  EXPECT_EQ(b.view(60000, 4, "elsewhere"), "ffff");
  ::close(fd);
}

// Expected and Status: ok() and the bool conversion say the same thing (code
// uses both).
TEST(Expected, OkAndBoolAgree) {
  Expected<int> good(7);
  EXPECT_TRUE(good.ok());
  EXPECT_TRUE(static_cast<bool>(good));
  Expected<int> bad(Error{Error::Kind::Malformed, "f: structure: value"});
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.error().message, "f: structure: value");
  // Status (Expected<void>), what an operation returning nothing gives.
  Status done;
  EXPECT_TRUE(done.ok());
  EXPECT_TRUE(static_cast<bool>(done));
  Status failed(Error{Error::Kind::Io, "f: write: No space left on device"});
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(static_cast<bool>(failed));
}

}  // namespace
}  // namespace xpatch
