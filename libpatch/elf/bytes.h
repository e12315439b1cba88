// A bounds-checked window on a file's bytes, over memory or over a file
// descriptor: the reader's, and the symbol check's for the tables it reads
// lazily. A failed check throws ErrorException (Malformed, or Io when a read
// fails); the public entry points turn it into an Error value.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "libpatch/elf/error.h"

namespace xpatch::elf {

// Reads exactly `len` bytes at `off` (pread, again after EINTR and short
// reads): 0, or the errno (-1 when the file ends first).
inline int read_exact(int fd, std::byte* out, std::uint64_t len, std::uint64_t off) {
  for (std::uint64_t done = 0; done < len;) {
    ssize_t r = ::pread(fd, out + done, len - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return -1;
    done += static_cast<std::uint64_t>(r);
  }
  return 0;
}

[[noreturn]] inline void fail(const std::string& file, std::string_view structure, const std::string& what) {
  throw ErrorException{{Error::Kind::Malformed, fmt::format("{}: {}: {}", file, structure, what)}};
}

// A bounds-checked window on the file, over memory or over a file
// descriptor. Over a descriptor, only the ranges the parser asks for are
// read (pread into cached chunks): reporting on thousands of files then
// costs a few reads each, with no mmap, page faults or munmap, and threads
// do not contend on the address space.
class Bytes {
 public:
  Bytes(std::span<const std::byte> b, const std::string& name) : mem_(b), size_(b.size()), name_(name) {}
  // `block`: the read unit (a power of two). Large for a sequential parse,
  // small for random lookups in symbol tables.
  // `first`: the size of the first read (a power of two, at most `block`),
  // smaller where most files are not ELF and only the magic is looked at:
  // the kernel copies every byte a read asks for.
  Bytes(int fd, std::uint64_t size, const std::string& name, std::uint64_t block = 16384, std::uint64_t first = 0)
      : fd_(fd), size_(size), block_(block), first_(first ? first : block), name_(name) {}
  std::uint64_t size() const { return size_; }
  // Bytes held in read chunks and the shared window (0 over memory): what a
  // cache of windows bounds.
  std::uint64_t cached_bytes() const { return cached_ + shared_size_; }
  // Serves [off, off + size) from `data`, bytes of this file already read
  // (one read of a library's symbol tables, shared by every thread's
  // lookups): a fetch inside it reads nothing; outside it, as before.
  void share(std::uint64_t off, std::shared_ptr<const std::byte[]> data, std::uint64_t size) {
    shared_off_ = off;
    shared_size_ = size;
    shared_ = std::move(data);
  }
  bool has_shared() const noexcept { return shared_ != nullptr; }
  const std::string& name() const { return name_; }

  // Throws unless [off, off + count * each) lies inside the file. `what`
  // names the structure: a string, or a callable that builds one, so hot
  // loops pay for the message only when the check fails.
  // The check is inline and the message out of line: symbol lookups make
  // millions of these checks.
  template <typename What>
  void require(std::uint64_t off, std::uint64_t count, std::uint64_t each, const What& what) const {
    std::uint64_t len = 0, end = 0;
    if (!__builtin_mul_overflow(count, each, &len) && !__builtin_add_overflow(off, len, &end) && end <= size_)
        [[likely]]
      return;
    require_failed(off, count, each, what);
  }

 private:
  template <typename What>
  [[noreturn, gnu::cold, gnu::noinline]] void require_failed(std::uint64_t off, std::uint64_t count, std::uint64_t each,
                                                             const What& what) const {
    std::uint64_t len = 0, end = 0;
    bool wraps = __builtin_mul_overflow(count, each, &len) || __builtin_add_overflow(off, len, &end);
    std::string structure;
    if constexpr (std::is_invocable_v<What>) structure = what();
    else structure = std::string(what);
    if (wraps) fail(name_, structure, fmt::format("offset {:#x} + {} x {} bytes overflows", off, count, each));
    fail(name_, structure,
         fmt::format("{:#x} bytes at offset {:#x} go past the end of the file (size {:#x})", len, off, size_));
  }

 public:
  template <typename T>
  const T& at(std::uint64_t off, std::string_view what) const {
    require(off, 1, sizeof(T), what);
    return *reinterpret_cast<const T*>(fetch(off, sizeof(T)));  // T has alignment 1
  }

  // [off, off + len) as characters, bounds-checked.
  std::string_view view(std::uint64_t off, std::uint64_t len, std::string_view what) const {
    require(off, 1, len, what);
    return {reinterpret_cast<const char*>(fetch(off, len)), static_cast<std::size_t>(len)};
  }

  // A NUL-terminated string inside [base, base + limit).
  std::string cstr(std::uint64_t base, std::uint64_t limit, std::uint64_t index, std::string_view what) const {
    return std::string(cstr_view(base, limit, index, what));
  }
  // The same, without a copy: valid while this Bytes lives.
  std::string_view cstr_view(std::uint64_t base, std::uint64_t limit, std::uint64_t index,
                             std::string_view what) const {
    if (index >= limit)
      fail(name_, what, fmt::format("string index {:#x} is outside the table of size {:#x}", index, limit));
    require(base, 1, limit, what);
    // Look a little way ahead first: names are short and tables can be large.
    const std::uint64_t remaining = limit - index;
    for (std::uint64_t want = std::min<std::uint64_t>(remaining, 256);; want = std::min(remaining, want * 16)) {
      const char* p = reinterpret_cast<const char*>(fetch(base + index, want));
      if (const void* nul = std::memchr(p, 0, want)) return std::string_view(p, static_cast<const char*>(nul));
      if (want == remaining) break;
    }
    fail(name_, what,
         fmt::format("string at index {:#x} has no terminating NUL before the table ends at {:#x}", index, limit));
  }

  // Whether the string at `index` of [base, base + limit) is `want`,
  // without building it: symbol lookups compare many names.
  bool str_equals(std::uint64_t base, std::uint64_t limit, std::uint64_t index, std::string_view want,
                  std::string_view what) const {
    if (index >= limit)
      fail(name_, what, fmt::format("string index {:#x} is outside the table of size {:#x}", index, limit));
    require(base, 1, limit, what);
    const std::uint64_t n = std::min<std::uint64_t>(limit - index, want.size() + 1);
    const char* p = reinterpret_cast<const char*>(fetch(base + index, n));
    return n == want.size() + 1 && std::memcmp(p, want.data(), want.size()) == 0 && p[want.size()] == '\0';
  }

 private:
  struct Chunk {
    std::uint64_t off, size;
    std::unique_ptr<std::byte[]> data;  // not zeroed first: pread fills it (zeroing was 17% of show's instructions)
  };
  std::span<const std::byte> mem_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t block_ = 16384;
  std::uint64_t first_ = 16384;
  const std::string& name_;
  mutable std::deque<Chunk> chunks_;  // a deque: references into chunks stay valid
  mutable std::vector<const Chunk*> by_offset_;  // the chunks sorted by `off`, for lookups
  mutable std::uint64_t largest_ = 0;            // the largest chunk: how far back a search looks
  mutable const Chunk* recent_[4] = {};  // most recent first
  mutable std::uint64_t cached_ = 0;
  std::shared_ptr<const std::byte[]> shared_;  // share()'s window
  std::uint64_t shared_off_ = 0, shared_size_ = 0;

  void remember(const Chunk* c) const {
    std::copy_backward(recent_, recent_ + 3, recent_ + 4);
    recent_[0] = c;
  }

  // Bytes [off, off + len), already bounds-checked by the caller.
  const std::byte* fetch(std::uint64_t off, std::uint64_t len) const {
    if (fd_ < 0) return mem_.data() + off;
    if (shared_ && off >= shared_off_ && off - shared_off_ <= shared_size_ && len <= shared_size_ - (off - shared_off_))
      return shared_.get() + (off - shared_off_);
    if (const Chunk* c = recent_[0]; c && off >= c->off && off + len <= c->off + c->size)
      return c->data.get() + (off - c->off);
    return fetch_slow(off, len);
  }
  // fetch() past the shared window and the chunk used last.
  [[gnu::noinline]] const std::byte* fetch_slow(std::uint64_t off, std::uint64_t len) const {
    // The chunks used last: a symbol lookup goes round the hash table, the
    // symbols, their names and versions, one chunk each.
    for (const Chunk* c : recent_)
      if (c && off >= c->off && off + len <= c->off + c->size) return c->data.get() + (off - c->off);
    // The chunks that start at or before `off`, nearest first (a symbol
    // lookup's window can hold hundreds of them).
    auto after = std::upper_bound(by_offset_.begin(), by_offset_.end(), off,
                                  [](std::uint64_t o, const Chunk* c) { return o < c->off; });
    for (auto it = after; it != by_offset_.begin();) {
      const Chunk& c = **--it;
      if (off - c.off >= largest_) break;
      if (off + len <= c.off + c.size) {
        remember(&c);
        return c.data.get() + (off - c.off);
      }
    }
    const std::uint64_t unit = chunks_.empty() ? first_ : block_;
    std::uint64_t from = off / unit * unit;
    std::uint64_t to = std::min(size_, (off + len + unit - 1) / unit * unit);
    // Read first, then keep: a failed read leaves no chunk of garbage behind.
    std::unique_ptr<std::byte[]> data(new std::byte[to - from]);
    if (int err = read_exact(fd_, data.get(), to - from, from))
      throw ErrorException{{Error::Kind::Io, fmt::format("{}: cannot read {:#x} bytes at offset {:#x}: {}", name_,
                                                         to - from, from,
                                                         err > 0 ? std::strerror(err) : "file shrank")}};
    Chunk& c = chunks_.emplace_back(Chunk{from, to - from, std::move(data)});
    by_offset_.insert(std::upper_bound(by_offset_.begin(), by_offset_.end(), from,
                                       [](std::uint64_t o, const Chunk* x) { return o < x->off; }),
                      &c);
    largest_ = std::max(largest_, c.size);
    remember(&c);
    cached_ += c.size;
    return c.data.get() + (off - c.off);
  }
};

}  // namespace xpatch::elf
