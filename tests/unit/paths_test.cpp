// paths.h: the one dirname/basename/join/normalize, on the edge cases where
// the five helpers it replaced disagreed ("." against "/" for a bare name,
// "/name" against "name" for an empty directory, doubled slashes).

#include <gtest/gtest.h>

#include "libpatch/elf/paths.h"

namespace xpatch {
namespace {

TEST(Paths, Dirname) {
  EXPECT_EQ(paths::dirname_of("/usr/lib/libc.so.6"), "/usr/lib");
  EXPECT_EQ(paths::dirname_of("/libc.so.6"), "/");
  EXPECT_EQ(paths::dirname_of("libc.so.6"), ".");
  EXPECT_EQ(paths::dirname_of(""), ".");
  EXPECT_EQ(paths::dirname_of("/"), "/");
  EXPECT_EQ(paths::dirname_of("//"), "/");
  EXPECT_EQ(paths::dirname_of("/usr/lib/"), "/usr");
  EXPECT_EQ(paths::dirname_of("a//b"), "a");
  EXPECT_EQ(paths::dirname_of("lib/x.so"), "lib");
}

TEST(Paths, Basename) {
  EXPECT_EQ(paths::basename_of("/usr/lib/libc.so.6"), "libc.so.6");
  EXPECT_EQ(paths::basename_of("libc.so.6"), "libc.so.6");
  EXPECT_EQ(paths::basename_of("/usr/lib/"), "lib");
  EXPECT_EQ(paths::basename_of("/"), "/");
  EXPECT_EQ(paths::basename_of(""), "");
}

TEST(Paths, Join) {
  EXPECT_EQ(paths::join("/", "x"), "/x");
  EXPECT_EQ(paths::join("/usr/lib", "x.so"), "/usr/lib/x.so");
  EXPECT_EQ(paths::join("/usr/lib/", "x.so"), "/usr/lib/x.so");
  EXPECT_EQ(paths::join("", "x.so"), "x.so");  // glibc: an empty entry is the working directory
  EXPECT_EQ(paths::join("lib", "x.so"), "lib/x.so");
}

TEST(Paths, Normalize) {
  EXPECT_EQ(paths::normalize("/usr/t/bin/../lib/"), "/usr/t/lib");
  EXPECT_EQ(paths::normalize("/../../etc"), "/etc");
  EXPECT_EQ(paths::normalize("//usr//./lib"), "/usr/lib");
  EXPECT_EQ(paths::normalize(""), "/");
  EXPECT_EQ(paths::normalize("/"), "/");
  EXPECT_EQ(paths::normalize("usr/lib"), "/usr/lib");
  EXPECT_EQ(paths::normalize("/a/b/.."), "/a");
}

}  // namespace
}  // namespace xpatch
