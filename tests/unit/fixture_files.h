// The cross-compiled fixtures for tests that read real files: the ten
// targets' directories under XPATCH_FIXTURES, and a whole file's bytes.
#pragma once

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace xpatch::test {

inline constexpr const char* kFixtureTargets[] = {"x86_64", "i686",    "aarch64",     "armhf",       "riscv64",
                                                  "ppc64le", "s390x", "powerpc", "x86_64-musl", "aarch64-musl"};

inline std::vector<std::byte> read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

}  // namespace xpatch::test
