#include "libpatch/rewrite/write_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <utility>
#include <vector>

#include "libpatch/elf/model.h"
#include "libpatch/elf/paths.h"

namespace xpatch::rewrite {
namespace {

Error io(const std::string& path, const std::string& what, int err) {
  return {Error::Kind::Io, path + ": " + what + ": " + std::strerror(err)};
}

using paths::dirname_of;

// Copies every extended attribute; security.capability must be set after
// fchown, which clears it.
Status copy_xattrs(int from, int to, const std::string& dest) {
  ssize_t len = ::flistxattr(from, nullptr, 0);
  if (len < 0) return errno == ENOTSUP ? Status{} : Status{io(dest, "cannot list extended attributes", errno)};
  std::vector<char> names(static_cast<std::size_t>(len));
  len = ::flistxattr(from, names.data(), names.size());
  if (len < 0) return io(dest, "cannot list extended attributes", errno);
  for (const char* n = names.data(); n < names.data() + len; n += std::strlen(n) + 1) {
    ssize_t vlen = ::fgetxattr(from, n, nullptr, 0);
    if (vlen < 0) return io(dest, std::string("cannot read extended attribute ") + n, errno);
    std::vector<char> value(static_cast<std::size_t>(vlen));
    vlen = ::fgetxattr(from, n, value.data(), value.size());
    if (vlen < 0) return io(dest, std::string("cannot read extended attribute ") + n, errno);
    if (::fsetxattr(to, n, value.data(), static_cast<std::size_t>(vlen), 0) != 0)
      return io(dest, std::string("cannot keep extended attribute ") + n, errno);
  }
  return {};
}

}  // namespace

Expected<std::string> resolve_destination(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) return io(path, "cannot resolve path", errno);
  return std::string(buf);
}

namespace {
// Temporary files are hidden names next to `dest`, .NAME.xpatch-XXXXXX, so
// a leftover one says which file it belongs to.
std::string temp_prefix(const std::string& dest) {
  return dirname_of(dest) + "/." + dest.substr(dest.rfind('/') == std::string::npos ? 0 : dest.rfind('/') + 1) +
         ".xpatch-";
}

// A random temporary name for `dest` (not created: linkat makes it).
std::string temp_name(const std::string& dest) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char r[6] = {};
  if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r))
    for (unsigned i = 0; i < sizeof r; ++i) r[i] = static_cast<unsigned char>(::random());
  std::string name = temp_prefix(dest);
  for (unsigned char c : r) name += kChars[c % (sizeof kChars - 1)];
  return name;
}

// Gives the unnamed file `fd` a fresh temporary name next to `dest`, set
// in `name` only once it exists. Returns 0, or an errno (ENOENT when
// neither /proc nor AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH before
// Linux 6.10, can name it).
int link_unnamed(int fd, const std::string& dest, std::string& name) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string candidate = temp_name(dest);
    int rc = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, candidate.c_str(), AT_SYMLINK_FOLLOW);
    if (rc != 0 && errno == ENOENT) rc = ::linkat(fd, "", AT_FDCWD, candidate.c_str(), AT_EMPTY_PATH);
    if (rc == 0) {
      name = std::move(candidate);
      return 0;
    }
    if (errno != EEXIST) return errno;
  }
  return EEXIST;
}

// Creates a temp file next to `dest`, lets `fill` write the contents (it
// gets the temp fd and an fd of `metadata_from`; returns 0 or an errno),
// copies owner, mode and xattrs, syncs, and renames it over `dest`.
//
// The temp file is unnamed (O_TMPFILE) while it is written, and gets its
// temporary name only once it is complete, just before the rename: a crash
// or a signal during the write leaves nothing behind. Where the filesystem
// has no O_TMPFILE, or the file cannot be named afterwards, it is a named
// temp file from the start.
template <typename Fill>
Status replace_file(const std::string& dest, const std::string& metadata_from, bool durable, Fill&& fill) {
  struct stat st {};
  int src = ::open(metadata_from.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (src < 0 || ::fstat(src, &st) != 0) {
    int err = errno;
    if (src >= 0) ::close(src);
    return io(metadata_from, "cannot read file attributes", err);
  }

  for (bool unnamed : {true, false}) {
    int fd = -1;
    std::string tmp;
    if (unnamed) {
      fd = ::open(dirname_of(dest).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) continue;  // no O_TMPFILE here
    } else {
      std::string tmpl = temp_prefix(dest) + "XXXXXX";
      std::vector<char> name(tmpl.begin(), tmpl.end());
      name.push_back('\0');
      fd = ::mkostemp(name.data(), O_CLOEXEC);
      tmp = name.data();
    }
    if (fd < 0) {
      int err = errno;
      ::close(src);
      return io(dest, "cannot create a temporary file in " + dirname_of(dest), err);
    }
    auto discard = [&] {
      ::close(fd);
      ::close(src);
      if (!tmp.empty()) ::unlink(tmp.c_str());
    };
    auto fail = [&](const std::string& what, int err) {
      discard();
      return io(dest, what, err);
    };

    if (int err = fill(fd, src)) return fail("cannot write", err);
    // Owner first (it clears set-id bits and capabilities), then mode, then
    // extended attributes. Not being root only matters if the owner differs.
    if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) return fail("cannot keep owner", errno);
    if (::fchmod(fd, st.st_mode & 07777) != 0) return fail("cannot keep mode", errno);
    if (auto kept = copy_xattrs(src, fd, dest); !kept) {
      discard();
      return kept;
    }
    if (durable && ::fsync(fd) != 0) return fail("cannot sync", errno);
    if (unnamed) {
      int err = link_unnamed(fd, dest, tmp);
      if (err == ENOENT) {  // cannot be named: start again with a named one
        ::close(fd);
        continue;
      }
      if (err) return fail("cannot name the temporary file in " + dirname_of(dest), err);
    }
    if (::close(fd) != 0) {
      int err = errno;
      ::close(src);
      ::unlink(tmp.c_str());
      return io(dest, "cannot write", err);
    }
    ::close(src);
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return io(dest, "cannot replace", err);
    }
    // Make the rename itself durable.
    int dfd = durable ? ::open(dirname_of(dest).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return {};
  }
  ::close(src);  // not reached: the second (named) pass always returns
  return io(dest, "cannot create a temporary file in " + dirname_of(dest), ENOTSUP);
}

int write_all(int fd, const std::byte* p, std::size_t n, std::uint64_t at) {
  for (std::size_t done = 0; done < n;) {
    ssize_t w = ::pwrite(fd, p + done, n - done, static_cast<off_t>(at + done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : ENOSPC;
    done += static_cast<std::size_t>(w);
  }
  return 0;
}

// Copies bytes [from, to) of `src` to the same offsets of `fd`.
int copy_range(int src, int fd, std::uint64_t from, std::uint64_t to) {
  loff_t in = static_cast<loff_t>(from), out = static_cast<loff_t>(from);
  while (static_cast<std::uint64_t>(in) < to) {
    ssize_t n = ::copy_file_range(src, &in, fd, &out, to - static_cast<std::uint64_t>(in), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) continue;
    if (n == 0) return EIO;  // the source shrank under us
    if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return errno;
    // No in-kernel copy here: copy through a buffer from where we are.
    std::vector<std::byte> buf(1 << 20);
    while (static_cast<std::uint64_t>(in) < to) {
      ssize_t r = ::pread(src, buf.data(), std::min<std::uint64_t>(buf.size(), to - in), in);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return r < 0 ? errno : EIO;
      if (int err = write_all(fd, buf.data(), static_cast<std::size_t>(r), static_cast<std::uint64_t>(in))) return err;
      in += r;
    }
  }
  return 0;
}
}  // namespace

Status write_plan_atomically(const std::string& dest, const std::string& source, const Plan& plan, bool durable,
                             bool reread) {
  std::optional<Error> unreadable;  // set by the read-back, reported instead of the errno it returns
  auto result = replace_file(dest, source, durable, [&](int fd, int src) -> int {
    // The unchanged bytes are copied by the kernel (no trip through user
    // space; a reflink where the filesystem has them), then the plan's few
    // writes land on top. Only the data ranges are copied (SEEK_DATA /
    // SEEK_HOLE): holes stay holes, so a sparse file costs what its data
    // does, not its size.
    std::uint64_t keep = std::min(plan.old_size, plan.new_size);
    for (std::uint64_t pos = 0; pos < keep;) {
      off_t data = ::lseek(src, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // only a hole is left
      off_t hole = data < 0 ? -1 : ::lseek(src, data, SEEK_HOLE);
      if (data < 0 || hole < 0) data = static_cast<off_t>(pos), hole = static_cast<off_t>(keep);  // no hole support
      std::uint64_t end = std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), keep);
      if (static_cast<std::uint64_t>(data) >= end) break;
      if (int err = copy_range(src, fd, static_cast<std::uint64_t>(data), end)) return err;
      pos = end;
    }
    struct stat now {};
    if (::fstat(src, &now) != 0) return errno;
    if (static_cast<std::uint64_t>(now.st_size) < keep) return EIO;  // the source shrank under us
    if (::ftruncate(fd, static_cast<off_t>(plan.new_size)) != 0) return errno;
    for (const Write& w : plan.writes)
      if (int err = write_all(fd, w.bytes.data(), w.bytes.size(), w.offset)) return err;
    // The complete new file, still unnamed, read back as a reader would
    // (headers, tables and strings; not the unchanged bulk): a planner
    // mistake on a damaged file ends here, before anything is replaced.
    if (reread) {
      int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (dup < 0) return errno;
      if (auto back = elf::read_elf_fd(dup, dest + " (rewritten)"); !back) {
        unreadable = Error{Error::Kind::Malformed,
                           dest + ": the rewritten file would not read back, so nothing was written: " +
                               back.error().message};
        return EBADMSG;
      }
    }
    return 0;
  });
  if (unreadable) return *unreadable;
  return result;
}

}  // namespace xpatch::rewrite
