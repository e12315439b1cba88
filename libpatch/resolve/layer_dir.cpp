#include "libpatch/resolve/layer_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "libpatch/resolve/walk.h"

namespace xpatch::resolve {

Expected<Layer> layer_from_directory(const std::string& dir) {
  std::string top = dir;
  while (top.size() > 1 && top.back() == '/') top.pop_back();
  int fd = open_walk_top(top);
  if (fd < 0) return Error{Error::Kind::Io, fmt::format("{}: cannot read the package directory: {}", top, std::strerror(-fd))};
  Layer layer;
  layer.origin = top;
  std::optional<Error> failed;
  walk_dir(fd, top, {}, [&](const WalkEntry& e) {
    if (failed) return;
    const std::string host(e.path);
    LayerEntry out;
    out.path = host.substr(top.size());
    if (e.kind == WalkEntry::Kind::Unreadable) {
      failed = Error{Error::Kind::Io, fmt::format("{}: cannot read directory: {}", host, std::strerror(e.error))};
      return;
    }
    struct stat st {};
    if (e.kind == WalkEntry::Kind::Link) {
      std::vector<char> buf(PATH_MAX + 1);
      ssize_t n = ::readlink(host.c_str(), buf.data(), buf.size());
      if (n < 0 || static_cast<std::size_t>(n) >= buf.size()) {
        failed = Error{Error::Kind::Io, fmt::format("{}: cannot read the link: {}", host,
                                                    n < 0 ? std::strerror(errno) : "target too long")};
        return;
      }
      out.kind = LayerEntry::Kind::Symlink;
      out.target.assign(buf.data(), static_cast<std::size_t>(n));
    } else {
      int f = open_walked_file(host);
      if (f < 0 || ::fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int err = f < 0 ? -f : errno ? errno : EINVAL;
        if (f >= 0) ::close(f);
        failed = Error{Error::Kind::Io, fmt::format("{}: cannot open: {}", host, std::strerror(err))};
        return;
      }
      out.kind = LayerEntry::Kind::File;
      out.bytes = std::make_shared<const LayerFd>(f);
      out.size = static_cast<std::uint64_t>(st.st_size);
      out.mode = st.st_mode & 07777;
    }
    layer.entries.push_back(std::move(out));
  });
  if (failed) return *failed;
  return layer;
}

}  // namespace xpatch::resolve
