// A read-only memory map of a file. Only the pages that the reader touches
// are faulted in, so a 4 GiB file costs no more to inspect than a small one.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "libpatch/elf/error.h"

namespace xpatch {

class MappedFile {
 public:
  // Opens `path` (following symlinks), refuses anything but a regular file,
  // and maps it. A file shorter than the ELF ident, or with other magic,
  // gives NotElf without being mapped.
  static Expected<MappedFile> open(const std::string& path);

  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  const std::string& path() const noexcept { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace xpatch
