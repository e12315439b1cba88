// The CLI's side of the one walk (libpatch/resolve/walk.h): named files are
// visited as named, named directories are walked.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "tools/xpatch/cli.h"

namespace xpatch::cli {

void walk(const std::vector<std::string>& args, const resolve::WalkOptions& options,
          const std::function<void(Walked)>& visit, const std::function<void(const std::string&)>& on_error,
          const std::string& root) {
  struct stat slash {}, top_root {};
  const bool have_slash = ::stat("/", &slash) == 0, have_root = ::stat(root.c_str(), &top_root) == 0;
  for (const std::string& a : args) {
    struct stat st {};
    if (::stat(a.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      // Errors (missing, FIFO, device, ...) are the visitor's to report, without opening it.
      visit({a, true, S_ISREG(st.st_mode)});
      continue;
    }
    auto same = [&](bool have, const struct stat& r) { return have && r.st_dev == st.st_dev && r.st_ino == st.st_ino; };
    resolve::WalkOptions o = options;
    o.top_is_root = o.top_is_root || same(have_slash, slash) || same(have_root, top_root);
    int fd = resolve::open_walk_top(a);
    if (fd < 0) {
      on_error(a + ": cannot read directory: " + std::strerror(-fd));
      continue;
    }
    resolve::walk_dir(fd, a, o, [&](const resolve::WalkEntry& e) {
      if (e.kind == resolve::WalkEntry::Kind::File) visit({std::string(e.path), false, true, e.dirfd, e.name});
      else if (e.kind == resolve::WalkEntry::Kind::Unreadable)
        on_error(std::string(e.path) + ": cannot read directory: " + std::strerror(e.error));
      // Symlinks inside a walk are not followed: that would visit files
      // twice or leave the tree.
    });
  }
}

unsigned workers_for(std::size_t files, unsigned requested) {
  unsigned want = requested ? requested : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::clamp<std::size_t>(files / 32, 1, want));
}

}  // namespace xpatch::cli
