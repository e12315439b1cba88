// The three ways a plan becomes bytes agree byte for byte: apply() (a copy
// in memory), OutputImage (the writes over copy-on-write pages of the input:
// what --verify and retarget read) and the file write_plan_atomically
// writes (a kernel copy of the input, then the writes). Checked on every
// fixture of the ten targets with edits that take each layout (in place,
// padding, a new segment), and on plans that shrink, grow and write past
// their end; a sparse 1 GiB input is read without becoming resident.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "libpatch/elf/model.h"
#include "libpatch/rewrite/output.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"

namespace xpatch {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  if (!c.empty()) std::memcpy(b.data(), c.data(), c.size());
  return b;
}

void write_file(const std::string& p, const std::vector<std::byte>& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<std::byte> bytes(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/xpatch-output-test.XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The image of `plan` over the file at `path`, as a vector.
std::vector<std::byte> image_of(const rewrite::Plan& plan, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  auto img = rewrite::OutputImage::map(plan, fd, path);
  ::close(fd);  // the mapping outlives the descriptor
  EXPECT_TRUE(img.ok()) << (img.ok() ? "" : img.error().message);
  if (!img) return {};
  return {img->bytes().begin(), img->bytes().end()};
}

// apply(), the image and the written file, for `plan` on the bytes `in`.
void expect_three_agree(const std::vector<std::byte>& in, const rewrite::Plan& plan, const std::string& what) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string src = dir.path() + "/in", dst = dir.path() + "/out";
  write_file(src, in);
  const std::vector<std::byte> applied = rewrite::apply(plan, in);
  EXPECT_TRUE(image_of(plan, src) == applied) << what << ": the output image differs from apply()";
  auto wrote = rewrite::write_plan_atomically(dst, src, plan, {.durable = false, .reread = false});
  ASSERT_TRUE(wrote.ok()) << what << ": " << wrote.error().message;
  EXPECT_TRUE(read_file(dst) == applied) << what << ": the written file differs from apply()";
  EXPECT_TRUE(read_file(src) == in) << what << ": the input changed";
}

TEST(OutputImage, AgreesWithApplyOnPlansThatGrowShrinkAndWritePastTheEnd) {
  std::vector<std::byte> in(10000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::byte>(i * 7 + 1);
  rewrite::Plan grow;  // a new segment at the end, past a zero gap
  grow.old_size = in.size();
  grow.new_size = 12000;
  grow.writes = {{10, bytes("abc")}, {11000, bytes("appended")}, {4095, bytes("xy")}};
  expect_three_agree(in, grow, "grow");

  rewrite::Plan same;  // in place, a write across a page boundary, an empty write
  same.old_size = same.new_size = in.size();
  same.writes = {{4090, bytes("across-the-page")}, {0, {}}, {9990, bytes("0123456789")}};
  expect_three_agree(in, same, "in place");

  rewrite::Plan shrink;  // the input's bytes past new_size are gone, not kept
  shrink.old_size = in.size();
  shrink.new_size = 5000;
  shrink.writes = {{100, bytes("head")}};
  expect_three_agree(in, shrink, "shrink");

  rewrite::Plan shrink_then_write = shrink;  // a write past new_size: zeros between, as apply() resizes
  shrink_then_write.writes.push_back({7000, bytes("tail")});
  const std::vector<std::byte> out = rewrite::apply(shrink_then_write, in);
  ASSERT_EQ(out.size(), 7004u);
  EXPECT_EQ(out[6999], std::byte{0});
  EXPECT_EQ(out[5000], std::byte{0});
  EXPECT_EQ(out[4999], in[4999]);
  expect_three_agree(in, shrink_then_write, "shrink, then a write past the end");

  rewrite::Plan empty;  // an empty input that a plan fills
  empty.new_size = 3;
  empty.writes = {{0, bytes("new")}};
  expect_three_agree({}, empty, "empty");
}

// A sparse 1 GiB input: the image costs the pages the writes touch, not the
// file's size (retarget reads thousands of outputs through images).
TEST(OutputImage, ASparseGigabyteStaysUnread) {
  TempDir dir;
  const std::string path = dir.path() + "/sparse";
  constexpr std::uint64_t kSize = std::uint64_t{1} << 30;
  {
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "ELF", 3, 1), 3);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kSize)), 0);
    ::close(fd);
  }
  rewrite::Plan plan;
  plan.old_size = kSize;
  plan.new_size = kSize + 8;
  plan.writes = {{0, bytes("X")}, {kSize, bytes("appended")}};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto img = rewrite::OutputImage::map(plan, fd, path);
  ::close(fd);
  ASSERT_TRUE(img.ok()) << img.error().message;
  const auto b = img->bytes();
  ASSERT_EQ(b.size(), kSize + 8);
  EXPECT_EQ(std::memcmp(b.data(), "XELF", 4), 0);
  EXPECT_EQ(b[kSize / 2], std::byte{0});
  EXPECT_EQ(std::memcmp(b.data() + kSize, "appended", 8), 0);
  // The input is untouched: copy-on-write.
  char first = '?';
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::pread(fd, &first, 1, 0), 1);
  ::close(fd);
  EXPECT_EQ(first, '\0');
}

TEST(OutputImage, AFileThatShrankSincePlanningIsRefused) {
  TempDir dir;
  const std::string path = dir.path() + "/f";
  write_file(path, std::vector<std::byte>(100));
  rewrite::Plan plan;
  plan.old_size = plan.new_size = 200;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto img = rewrite::OutputImage::map(plan, fd, path);
  ::close(fd);
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.error().message.find("shrank"), std::string::npos) << img.error().message;
}

// ---- every fixture of the ten targets ------------------------------------

std::vector<std::string> fixture_files() {
  std::vector<std::string> out;
  const char* dir = std::getenv("XPATCH_FIXTURES");
  if (!dir) return out;
  for (const char* t : {"x86_64", "i686", "aarch64", "armhf", "riscv64", "ppc64le", "s390x", "powerpc",
                        "x86_64-musl", "aarch64-musl"})
    for (const char* f : {"app-pie", "app-nopie", "app-rpath", "app-ver", "libfoo.so", "libver.so.1"})
      if (fs::exists(fs::path(dir) / t / f)) out.push_back((fs::path(dir) / t / f).string());
  return out;
}

class OutputFixture : public ::testing::TestWithParam<std::string> {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OutputFixture);  // without XPATCH_FIXTURES
INSTANTIATE_TEST_SUITE_P(Targets, OutputFixture, ::testing::ValuesIn(fixture_files()), [](const auto& param_info) {
  fs::path p(param_info.param);
  std::string n = p.parent_path().filename().string() + "_" + p.filename().string();
  for (char& c : n)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

TEST_P(OutputFixture, ApplyImageAndWrittenFileAgree) {
  const std::vector<std::byte> in = read_file(GetParam());
  auto f = elf::read_elf(in, GetParam());
  ASSERT_TRUE(f.ok()) << f.error().message;
  std::vector<rewrite::EditSet> edits(5);
  edits[0].runpath = "/usr/lib/x";  // fits in place or in the padding
  edits[1].runpath = "/usr/aarch64-linux-gnu/lib:" + std::string(600, 'r');  // a new segment
  edits[2].add_needed = {"libextra.so.3"};
  edits[2].soname = "libnew.so.1";
  edits[3].replace_needed = {{"libc.so.6", "libc.so.7"}};
  edits[3].remove_runpath = true;
  edits[4].runpath = "/opt/a:/opt/b";
  if (f->interpreter) edits[4].interpreter = "/usr/some-tuple/lib/a-loader-with-a-long-name.so.1";
  int planned = 0;
  for (std::size_t k = 0; k < edits.size(); ++k) {
    auto plan = rewrite::plan_rewrite(*f, in, edits[k]);
    if (!plan) continue;  // an edit this file cannot take (refused, named): nothing to compare
    ++planned;
    expect_three_agree(in, *plan, GetParam() + " edit set " + std::to_string(k));
  }
  EXPECT_GT(planned, 0) << "no edit set could be planned";
}

}  // namespace
}  // namespace xpatch
