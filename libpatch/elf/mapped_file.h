// A read-only memory map of a file. Only the pages that the reader touches
// are faulted in, so a 4 GiB file costs no more to inspect than a small one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "libpatch/elf/error.h"

namespace xpatch {

// An open regular file: the checks every reader needs before touching bytes
// (exists, not a directory, FIFO or device), done once.
class OpenFile {
 public:
  static Expected<OpenFile> open(const std::string& path);
  // Takes ownership of an open descriptor (closed on every path) and makes
  // the same checks; `path` is for messages.
  static Expected<OpenFile> adopt(int fd, const std::string& path);
  OpenFile(OpenFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), size_(o.size_), mode_(o.mode_) {}
  OpenFile& operator=(OpenFile&&) = delete;
  OpenFile(const OpenFile&) = delete;
  ~OpenFile();
  int fd() const noexcept { return fd_; }
  std::size_t size() const noexcept { return size_; }
  std::uint32_t mode() const noexcept { return mode_; }  // st_mode, from the same fstat
  // Whether the file starts with the ELF magic: one pread of its first 4
  // bytes into the stack, nothing allocated. Most files a walk meets are
  // not ELF, and this is all they cost. A read error says true: the
  // reader then reports it.
  bool has_elf_magic() const noexcept;

 private:
  OpenFile(int fd, std::size_t size) : fd_(fd), size_(size) {}
  int fd_ = -1;
  std::size_t size_ = 0;
  std::uint32_t mode_ = 0;
};

class MappedFile {
 public:
  // Opens `path` (following symlinks), refuses anything but a regular file,
  // and maps it. A file shorter than the ELF ident, or with other magic,
  // gives NotElf without being mapped.
  static Expected<MappedFile> open(const std::string& path);
  // The same over a file already open (a package member's descriptor, say):
  // the magic check and the map; `f` may be closed afterwards.
  static Expected<MappedFile> map(const OpenFile& f, const std::string& path);

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
