#include "libpatch/resolve/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace xpatch::resolve {
namespace {

// The kernel's own filesystems: opening a file in them has side effects
// (arming a watchdog, blocking on a pipe, reading a device) and none holds
// a program. autofs is here too: entering it mounts something.
bool is_pseudo_fs(long magic) {
  switch (static_cast<std::uint32_t>(magic)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case BPF_FS_MAGIC:
    case PSTOREFS_MAGIC:
    case EFIVARFS_MAGIC:
    case BINFMTFS_MAGIC:
    case SELINUX_MAGIC:
    case SMACK_MAGIC:
    case NSFS_MAGIC:
    case AUTOFS_SUPER_MAGIC:
    case 0x62656570:  // configfs
    case 0x65735543:  // fusectl
    case 0x19800202:  // mqueue
      return true;
    default: return false;
  }
}

// Where the kernel's views live below a root; a chroot or container root
// mounts them there, and devtmpfs cannot be told from tmpfs by its magic.
bool is_kernel_dir(std::string_view name) {
  return name == "proc" || name == "sys" || name == "dev" || name == "run";
}

struct Name {
  std::uint32_t off;  // into Level::names
  std::uint16_t len;
  unsigned char type;  // d_type
};

// One directory's entries, read whole before descending, so each level
// holds one descriptor and buffers that are reused for every directory at
// that depth (no allocation per entry).
struct Level {
  std::vector<char> names;
  std::vector<Name> entries;
};

constexpr int kMaxDepth = 256;  // deeper than any real tree; a bind-mount cycle ends here

class Walker {
 public:
  Walker(const WalkOptions& o, const std::function<void(const WalkEntry&)>& v) : opt_(o), visit_(v) {
    levels_.resize(kMaxDepth);  // never reallocated: a level's buffers stay put while deeper ones fill
  }

  void top(int fd, std::string path) {
    struct stat st {};
    struct statfs sf {};
    if (::fstat(fd, &st) != 0 || ::fstatfs(fd, &sf) != 0) {
      unreadable(path, errno);
      ::close(fd);
      return;
    }
    if (is_pseudo_fs(sf.f_type)) {  // `show /proc`: nothing of ours there
      ::close(fd);
      return;
    }
    dev_ = st.st_dev;
    path_ = std::move(path);
    while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
    dir(fd, 0);
  }

 private:
  void unreadable(std::string_view p, int err) { visit_({WalkEntry::Kind::Unreadable, p, err}); }

  // Reads every entry of `fd` into `lv`; false (errno set) on a read error.
  bool read_all(int fd, Level& lv) {
    lv.names.clear();
    lv.entries.clear();
    for (;;) {
      ssize_t n = ::getdents64(fd, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      if (n == 0) return true;
      for (ssize_t at = 0; at < n;) {
        auto* d = reinterpret_cast<const dirent64*>(buf_.data() + at);
        at += d->d_reclen;
        const char* nm = d->d_name;
        if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
        std::size_t len = std::strlen(nm);
        lv.entries.push_back({static_cast<std::uint32_t>(lv.names.size()), static_cast<std::uint16_t>(len), d->d_type});
        lv.names.insert(lv.names.end(), nm, nm + len + 1);
      }
    }
  }

  void dir(int fd, int depth) {
    Level& lv = levels_[static_cast<std::size_t>(depth)];
    if (!read_all(fd, lv)) {
      unreadable(path_, errno);
      ::close(fd);
      return;
    }
    auto name_of = [&](const Name& e) { return std::string_view(lv.names.data() + e.off, e.len); };
    std::sort(lv.entries.begin(), lv.entries.end(),
              [&](const Name& a, const Name& b) { return name_of(a) < name_of(b); });
    const char* base = lv.names.data();
    const std::size_t keep = path_.size();
    for (std::size_t i = 0; i < lv.entries.size(); ++i) {
      const Name e = lv.entries[i];
      const char* nm = base + e.off;
      unsigned char type = e.type;
      if (type == DT_UNKNOWN) {  // some filesystems do not fill d_type
        struct stat st {};
        if (::fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone since
        type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_CHR;
      }
      if (type != DT_REG && type != DT_DIR && type != DT_LNK) continue;  // devices, FIFOs, sockets
      if (type == DT_DIR && depth == 0 && opt_.top_is_root && is_kernel_dir({nm, e.len})) continue;
      path_.append(path_ == "/" ? "" : "/").append(nm, e.len);
      if (type == DT_REG) visit_({WalkEntry::Kind::File, path_, 0, fd, nm});
      else if (type == DT_LNK) visit_({WalkEntry::Kind::Link, path_, 0});
      else if (depth + 1 < kMaxDepth) subdir(fd, nm, depth);
      path_.resize(keep);
    }
    ::close(fd);
  }

  // fstatat first, so a mount point is judged before anything in it is
  // opened (O_PATH opens nothing: it only names the directory for statfs).
  void subdir(int parent, const char* nm, int depth) {
    struct stat st {};
    if (::fstatat(parent, nm, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) return;  // replaced since
    if (st.st_dev != dev_) {  // a mount point: another filesystem
      if (!opt_.cross_filesystems) return;
      int p = ::openat(parent, nm, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      struct statfs sf {};
      bool pseudo = p < 0 || ::fstatfs(p, &sf) != 0 || is_pseudo_fs(sf.f_type);
      if (p >= 0) ::close(p);
      if (pseudo) return;
    }
    int fd = ::openat(parent, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) unreadable(path_, errno);  // else: replaced since
      return;
    }
    struct stat now {};
    if (::fstat(fd, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {  // swapped under us
      ::close(fd);
      return;
    }
    dir(fd, depth + 1);
  }

  const WalkOptions& opt_;
  const std::function<void(const WalkEntry&)>& visit_;
  std::vector<char> buf_ = std::vector<char>(64 * 1024);
  std::vector<Level> levels_;
  std::string path_;
  dev_t dev_ = 0;
};

}  // namespace

void walk_dir(int dirfd, std::string path, const WalkOptions& options,
              const std::function<void(const WalkEntry&)>& visit) {
  Walker(options, visit).top(dirfd, std::move(path));
}

int open_walk_top(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int open_walked_file(const std::string& path, bool named) {
  int fd = ::open(path.c_str(), O_RDONLY | (named ? 0 : O_NOFOLLOW) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int open_walked_at(int dirfd, const char* name) {
  int fd = ::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

}  // namespace xpatch::resolve
