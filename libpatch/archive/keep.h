// Which bytes of an ELF file a check reads, decided from the bytes known so
// far. The package reader streams a member once (sometimes twice): it keeps
// a bounded prefix, asks plan_keep what the check needs, captures the ranges
// still ahead of the stream, and punches holes in the rest. The answer
// covers every byte elf::read_elf_fd (with `.sections = false`) and
// resolve/symbols.cpp read: the ELF header, the program header table,
// section header 0, PT_INTERP, PT_DYNAMIC, the notes, and the tables the
// dynamic section points at (strings, symbols, both hashes, versions,
// relocations), each sized as those readers size it.
#pragma once

#include <cstdint>
#include <vector>

namespace xpatch::archive {

struct Range {
  std::uint64_t off = 0, len = 0;
  std::uint64_t end() const { return off + len; }  // callers keep ranges inside a file: no overflow
};

// The ranges of one file whose bytes are known, over a descriptor that
// holds them at `base` + their offsets (the package's memfd, shared by its
// members).
class Known {
 public:
  explicit Known(int fd, std::uint64_t base = 0) : fd_(fd), base_(base) {}
  void add(std::uint64_t off, std::uint64_t len);  // merged with what is known
  bool has(std::uint64_t off, std::uint64_t len) const;
  // False when some byte of [off, off + len) is not known (or a read fails).
  bool read(std::uint64_t off, void* out, std::uint64_t len) const;
  const std::vector<Range>& ranges() const { return ranges_; }
  int fd() const { return fd_; }
  std::uint64_t base() const { return base_; }

 private:
  int fd_;
  std::uint64_t base_;
  std::vector<Range> ranges_;  // sorted, disjoint, not adjacent
};

struct KeepPlan {
  std::vector<Range> keep;  // sorted, merged, inside the file
  // False when a range depends on bytes not known yet, or a wanted range is
  // not all known (a table not yet streamed, or already passed): stream
  // on, or read the member again.
  bool complete = true;
  bool elf = true;  // false: no ELF identification (nothing to keep)
};

// `size` is the member's size. Never reads a byte that `known` lacks; a
// structure that contradicts the file keeps what was decided before it
// (the checker then reports it as malformed from the same bytes).
KeepPlan plan_keep(const Known& known, std::uint64_t size);

// Ranges merged into sorted, disjoint ones.
std::vector<Range> merge(std::vector<Range> r);

}  // namespace xpatch::archive
