// The plan's output, as bytes: apply() (a copy, for tests and fuzzing) and
// OutputImage (copy-on-write over the input, for the CLI). Both are the
// input's first min(old, new_size) bytes, zeros up to the output's end, and
// the writes in order on top: one definition of that, here.

#include "libpatch/rewrite/output.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>

namespace xpatch::rewrite {
namespace {

// The output's size: new_size, or past it where a write reaches further.
std::uint64_t output_size(const Plan& plan) {
  std::uint64_t size = plan.new_size;
  for (const Write& w : plan.writes) size = std::max<std::uint64_t>(size, w.offset + w.bytes.size());
  return size;
}

// The plan's writes, in order, over `out` (output_size(plan) bytes).
void lay_writes(const Plan& plan, std::byte* out) {
  for (const Write& w : plan.writes)
    if (!w.bytes.empty()) std::memcpy(out + w.offset, w.bytes.data(), w.bytes.size());
}

// The planner's writes lie inside the file it laid out; one that does not
// (offset + size wraps) is a planner bug, refused here rather than written.
bool writes_fit(const Plan& plan) {
  std::uint64_t end = 0;
  return std::all_of(plan.writes.begin(), plan.writes.end(), [&](const Write& w) {
    return !__builtin_add_overflow(w.offset, w.bytes.size(), &end) && end <= (std::uint64_t{1} << 62);
  });
}

}  // namespace

std::vector<std::byte> apply(const Plan& plan, std::span<const std::byte> input) {
  if (!writes_fit(plan)) throw std::bad_alloc();
  const std::uint64_t size = output_size(plan), keep = std::min<std::uint64_t>(input.size(), plan.new_size);
  std::vector<std::byte> out(static_cast<std::size_t>(size));
  if (keep != 0) std::memcpy(out.data(), input.data(), static_cast<std::size_t>(keep));  // an empty input's data() may be null
  lay_writes(plan, out.data());
  return out;
}

Expected<OutputImage> OutputImage::map(const Plan& plan, int fd, const std::string& name) {
  auto fail = [&](const std::string& what, int err) {
    return Error{Error::Kind::Io, name + ": " + what + ": " + std::strerror(err)};
  };
  if (!writes_fit(plan))
    return Error{Error::Kind::Internal, name + ": the plan writes past any possible end of the file"};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail("cannot stat", errno);
  if (static_cast<std::uint64_t>(st.st_size) < plan.old_size)
    return Error{Error::Kind::Io, name + ": the file shrank since it was planned"};
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  auto whole_pages = [&](std::uint64_t n) { return (n + page - 1) / page * page; };
  const std::uint64_t size = output_size(plan), keep = std::min(plan.old_size, plan.new_size);
  const std::uint64_t mapped = whole_pages(std::max<std::uint64_t>(size, 1));
  if (mapped > SIZE_MAX / 2) return fail("the output is too large to map", EFBIG);
  // Zero pages for the whole output (never backed unless written), then the
  // input's pages over its start. Past the file's end, its last page reads
  // as zeros, as apply()'s resize gives.
  void* base = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return fail("cannot reserve the address space to check the output", errno);
  OutputImage image(static_cast<std::byte*>(base), static_cast<std::size_t>(size), static_cast<std::size_t>(mapped));
  if (keep > 0 &&
      ::mmap(base, whole_pages(keep), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED)
    return fail("cannot map", errno);
  // A shrinking file that a write then extends: the input's bytes after
  // new_size in its last page are zeros in the output.
  if (keep < plan.old_size && size > keep)
    std::memset(image.data_ + keep, 0, static_cast<std::size_t>(std::min(whole_pages(keep), size) - keep));
  lay_writes(plan, image.data_);
  return image;
}

OutputImage::~OutputImage() {
  if (data_) ::munmap(data_, mapped_);
}

}  // namespace xpatch::rewrite
