// The cross-compiled fixtures for tests that read real files: the ten
// targets' directories under XPATCH_FIXTURES, and a whole file's bytes.
#pragma once

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "libpatch/elf/format.h"

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

// A stripped file's header: e_shoff, e_shnum and e_shstrndx zeroed, so a
// reader must find every table through the dynamic array.
inline void drop_section_headers(std::vector<std::byte>& bytes, elf::Variant v) {
  elf::dispatch(v, [&](auto e) {
    using E = decltype(e);
    elf::Ehdr<E> h;
    std::memcpy(&h, bytes.data(), sizeof h);
    h.e_shoff = 0;
    h.e_shnum = 0;
    h.e_shstrndx = 0;
    std::memcpy(bytes.data(), &h, sizeof h);
  });
}

}  // namespace xpatch::test
