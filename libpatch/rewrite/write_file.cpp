#include "libpatch/rewrite/write_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace xpatch::rewrite {
namespace {

Error io(const std::string& path, const std::string& what, int err) {
  return {Error::Kind::Io, path + ": " + what + ": " + std::strerror(err)};
}

std::string dir_of(const std::string& p) {
  auto slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

// Copies every extended attribute; security.capability must be set after
// fchown, which clears it.
std::optional<Error> copy_xattrs(int from, int to, const std::string& dest) {
  ssize_t len = ::flistxattr(from, nullptr, 0);
  if (len < 0) return errno == ENOTSUP ? std::nullopt : std::optional(io(dest, "cannot list extended attributes", errno));
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
  return std::nullopt;
}

}  // namespace

Expected<std::string> resolve_destination(const std::string& path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) return io(path, "cannot resolve path", errno);
  return std::string(buf);
}

std::optional<Error> write_atomically(const std::string& dest, std::span<const std::byte> data,
                                      const std::string& metadata_from) {
  struct stat st {};
  int src = ::open(metadata_from.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (src < 0 || ::fstat(src, &st) != 0) {
    int err = errno;
    if (src >= 0) ::close(src);
    return io(metadata_from, "cannot read file attributes", err);
  }

  std::string base = dest.substr(dest.rfind('/') == std::string::npos ? 0 : dest.rfind('/') + 1);
  std::string tmpl = dir_of(dest) + "/." + base + ".xpatch-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    ::close(src);
    return io(dest, "cannot create a temporary file in " + dir_of(dest), err);
  }
  std::string tmp(name.data());
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::close(src);
    ::unlink(tmp.c_str());
    return io(dest, what, err);
  };

  for (std::size_t done = 0; done < data.size();) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return fail("cannot write", w < 0 ? errno : ENOSPC);
    done += static_cast<std::size_t>(w);
  }
  // Owner first (it clears set-id bits and capabilities), then mode, then
  // extended attributes. Not being root only matters if the owner differs.
  if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) return fail("cannot keep owner", errno);
  if (::fchmod(fd, st.st_mode & 07777) != 0) return fail("cannot keep mode", errno);
  if (auto e = copy_xattrs(src, fd, dest)) {
    ::close(fd);
    ::close(src);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::fsync(fd) != 0) return fail("cannot sync", errno);
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
  int dfd = ::open(dir_of(dest).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return std::nullopt;
}

}  // namespace xpatch::rewrite
