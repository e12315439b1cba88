#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tools/xpatch/cli.h"

namespace xpatch::cli {
namespace {

void walk_dir(const std::string& dir, const std::function<void(Walked)>& visit,
              const std::function<void(const std::string&)>& on_error) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    on_error(dir + ": cannot read directory: " + std::strerror(errno));
    return;
  }
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    entries.emplace_back(e->d_name, e->d_type);
  }
  ::closedir(d);
  std::sort(entries.begin(), entries.end());
  std::string prefix = dir.ends_with('/') ? dir : dir + "/";
  for (auto& [name, type] : entries) {
    std::string path = prefix + name;
    if (type == DT_UNKNOWN) {  // some filesystems do not fill d_type
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) continue;
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    if (type == DT_DIR) walk_dir(path, visit, on_error);
    else if (type == DT_REG) visit({path, false});
    // Symlinks, FIFOs, sockets and devices inside a walk are skipped:
    // following links would visit files twice or leave the tree.
  }
}

}  // namespace

void walk(const std::vector<std::string>& args, const std::function<void(Walked)>& visit,
          const std::function<void(const std::string&)>& on_error) {
  for (const std::string& a : args) {
    struct stat st {};
    if (::stat(a.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) walk_dir(a, visit, on_error);
    else visit({a, true});  // errors (missing, FIFO, ...) are the visitor's to report
  }
}

}  // namespace xpatch::cli
