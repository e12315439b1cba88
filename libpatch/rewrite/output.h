// The planned output as bytes to read (for --verify and retarget's check),
// without a copy of the file: the input mapped privately, copy-on-write,
// with the plan's writes laid over it. Only the pages the writes touch are
// copied (a few KiB for a retarget); the rest are the page cache's pages of
// the input, shared, and given back when the image is unmapped. So a batch
// holds only its plans' (offset, bytes) lists, and reading one output
// costs memory for its changed pages, not its size (issue 16).
//
// The bytes are exactly apply()'s (plan.h): the input up to new_size, zeros
// after it, then every write in order. The file writer (write_file.h) lays
// the same writes over a kernel copy of the input, so all three agree.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "libpatch/elf/error.h"
#include "libpatch/rewrite/plan.h"

namespace xpatch::rewrite {

class OutputImage {
 public:
  // `fd`: the input, open for reading, at least plan.old_size bytes long
  // (the caller mapped or read it to plan). `name` is for messages. Errors
  // (Io): the address space for the image cannot be had (ulimit -v), or
  // the file cannot be mapped.
  static Expected<OutputImage> map(const Plan& plan, int fd, const std::string& name);

  OutputImage(OutputImage&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(o.size_), mapped_(std::exchange(o.mapped_, 0)) {}
  OutputImage& operator=(OutputImage&&) = delete;
  OutputImage(const OutputImage&) = delete;
  ~OutputImage();

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

 private:
  OutputImage(std::byte* data, std::size_t size, std::size_t mapped) : data_(data), size_(size), mapped_(mapped) {}
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;    // the output's size
  std::size_t mapped_ = 0;  // the address range reserved, whole pages
};

}  // namespace xpatch::rewrite
