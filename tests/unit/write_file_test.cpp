// write_plan_atomically on a sparse file: the data and the plan's writes
// arrive, holes stay holes (a 5 GiB sparse file must not be written out
// densely), and the temp file is gone.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tests/unit/elf_builder.h"

namespace xpatch {
namespace {

std::vector<std::byte> bytes(const std::string& s) {
  std::vector<std::byte> b;
  for (char c : s) b.push_back(static_cast<std::byte>(c));
  return b;
}

std::string read_at(int fd, off_t at, std::size_t n) {
  std::string s(n, '?');
  EXPECT_EQ(::pread(fd, s.data(), n, at), static_cast<ssize_t>(n));
  return s;
}

TEST(WriteFile, SparseFileKeepsItsHolesAndData) {
  char tmpl[] = "/tmp/xpatch-write-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, path = dir + "/sparse";
  constexpr off_t kSize = off_t{1} << 30;     // 1 GiB, nearly all hole
  constexpr off_t kFar = (off_t{1} << 29) + 4096;  // data in the middle
  {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    std::string a(8192, 'A'), b(4096, 'B');
    ASSERT_EQ(::pwrite(fd, a.data(), a.size(), 0), static_cast<ssize_t>(a.size()));
    ASSERT_EQ(::pwrite(fd, b.data(), b.size(), kFar), static_cast<ssize_t>(b.size()));
    ASSERT_EQ(::ftruncate(fd, kSize), 0);
    ::close(fd);
  }
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  const bool fs_has_holes = before.st_blocks * 512 < kSize / 2;

  rewrite::Plan plan;
  plan.old_size = static_cast<std::uint64_t>(kSize);
  plan.new_size = static_cast<std::uint64_t>(kSize) + 16;
  plan.writes.push_back({16, bytes("xyz")});
  plan.writes.push_back({static_cast<std::uint64_t>(kSize), bytes("appended-bytes!!")});
  auto err = rewrite::write_plan_atomically(path, path, plan, {.durable = false, .reread = false});  // not ELF
  ASSERT_TRUE(err) << err.error().message;

  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, kSize + 16);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(read_at(fd, 0, 16), std::string(16, 'A'));
  EXPECT_EQ(read_at(fd, 16, 3), "xyz");
  EXPECT_EQ(read_at(fd, 19, 8192 - 19), std::string(8192 - 19, 'A'));
  EXPECT_EQ(read_at(fd, 8192, 64), std::string(64, '\0'));
  EXPECT_EQ(read_at(fd, kFar - 8, 8), std::string(8, '\0'));
  EXPECT_EQ(read_at(fd, kFar, 4096), std::string(4096, 'B'));
  EXPECT_EQ(read_at(fd, kFar + 4096, 64), std::string(64, '\0'));
  EXPECT_EQ(read_at(fd, kSize, 16), "appended-bytes!!");
  ::close(fd);
  if (fs_has_holes) {  // the copy kept the holes: no more than a little over the data
    EXPECT_LT(after.st_blocks * 512, 16 << 20) << "the hole was written out as zeros";
  }

  int entries = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) entries += e->d_name[0] != '.' || std::string(e->d_name).starts_with(".sparse");
    ::closedir(d);
  }
  EXPECT_EQ(entries, 1) << "a temp file was left next to the file";
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

// A plan whose output would not read back (as a planner mistake on a
// damaged file would make) replaces nothing: the file keeps its bytes, no
// temp file is left, and the error says why. The same file with a harmless
// plan is written.
TEST(WriteFile, AnOutputThatWouldNotReadBackReplacesNothing) {
  char tmpl[] = "/tmp/xpatch-write-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, path = dir + "/app";
  auto img = test::build_elf<elf::Elf64LE>(test::Spec{});
  {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0755);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, img.bytes.data(), img.bytes.size()), static_cast<ssize_t>(img.bytes.size()));
    ::close(fd);
  }
  auto contents = [&] {
    std::string s(img.bytes.size() + 64, '\0');
    int fd = ::open(path.c_str(), O_RDONLY);
    s.resize(static_cast<std::size_t>(std::max<ssize_t>(0, ::read(fd, s.data(), s.size()))));
    ::close(fd);
    return s;
  };
  const std::string before = contents();

  rewrite::Plan bad;
  bad.old_size = bad.new_size = img.bytes.size();
  bad.writes.push_back({offsetof(elf::Ehdr<elf::Elf64LE>, e_phoff), bytes(std::string(8, '\xff'))});
  auto err = rewrite::write_plan_atomically(path, path, bad, {.durable = false});
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().kind, Error::Kind::Malformed);
  EXPECT_NE(err.error().message.find("would not read back"), std::string::npos) << err.error().message;
  EXPECT_NE(err.error().message.find("program header table"), std::string::npos) << err.error().message;
  EXPECT_EQ(contents(), before);

  rewrite::Plan good;
  good.old_size = good.new_size = img.bytes.size();
  good.writes.push_back({img.interp_off + 1, bytes("L")});  // /Lib/ld-test.so.1
  err = rewrite::write_plan_atomically(path, path, good, {.durable = false});
  EXPECT_TRUE(err) << err.error().message;
  EXPECT_NE(contents(), before);

  int entries = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) entries += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
    ::closedir(d);
  }
  EXPECT_EQ(entries, 1) << "a temp file was left next to the file";
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace xpatch
