#include "libpatch/resolve/layer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace xpatch::resolve {

int open_layer_file(const LayerFd& bytes, std::uint64_t offset, std::uint64_t size) {
  const int src = bytes.get();
  struct stat st {};
  if (::fstat(src, &st) != 0) return -errno;
  const auto src_size = static_cast<std::uint64_t>(st.st_size);
  if (offset == 0 && src_size == size) {
    const int fd = ::fcntl(src, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
  }
  std::uint64_t end = 0;
  if (__builtin_add_overflow(offset, size, &end) || size > static_cast<std::uint64_t>(INT64_MAX)) return -EOVERFLOW;
  end = std::min(end, src_size);  // past the descriptor's end: never written, a hole
  const int fd = ::memfd_create("xpatch-layer-file", MFD_CLOEXEC);
  if (fd < 0) return -errno;
  auto fail = [fd](int err) {
    ::close(fd);
    return -err;
  };
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return fail(errno);
  char buf[65536];
  // The data extents of [offset, end) (SEEK_DATA/SEEK_HOLE only report;
  // the reads are preads, so the shared file position does not matter).
  for (std::uint64_t at = offset; at < end;) {
    const off_t data = ::lseek(src, static_cast<off_t>(at), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data after `at`
      return fail(errno);
    }
    if (static_cast<std::uint64_t>(data) >= end) break;
    const off_t hole = ::lseek(src, data, SEEK_HOLE);
    if (hole < 0) return fail(errno);
    const std::uint64_t stop = std::min(static_cast<std::uint64_t>(hole), end);
    for (std::uint64_t p = static_cast<std::uint64_t>(data); p < stop;) {
      const ssize_t r = ::pread(src, buf, std::min<std::uint64_t>(sizeof buf, stop - p), static_cast<off_t>(p));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return fail(r < 0 ? errno : EIO);
      for (ssize_t done = 0; done < r;) {
        const ssize_t w = ::pwrite(fd, buf + done, static_cast<std::size_t>(r - done),
                                   static_cast<off_t>(p - offset) + done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return fail(w < 0 ? errno : EIO);
        done += w;
      }
      p += static_cast<std::uint64_t>(r);
    }
    at = stop;
  }
  return fd;
}

}  // namespace xpatch::resolve
