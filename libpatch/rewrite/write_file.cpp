#include "libpatch/rewrite/write_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
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
  if (len < 0) return errno == ENOTSUP ? Status{} : Status(io(dest, "cannot list extended attributes", errno));
  if (len == 0) return {};  // none: the usual case, one system call
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
  // Only a symlink needs resolving: any other name is renamed over as it
  // is given, through the same directories. realpath costs a getcwd and a
  // readlink per component (four system calls for /tmp/d/f), lstat one.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISLNK(st.st_mode)) return path;
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

// What rename may replace: a regular file or nothing. Anything else at
// `dest` (a device, FIFO, socket, directory or symlink) is named in the
// refusal; nothing is written into it either.
Status replaceable(const std::string& dest) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return io(dest, "cannot stat the destination", errno);
  }
  const char* what = S_ISREG(st.st_mode)    ? nullptr
                     : S_ISCHR(st.st_mode)  ? "a character device"
                     : S_ISBLK(st.st_mode)  ? "a block device"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                     : S_ISDIR(st.st_mode)  ? "a directory"
                     : S_ISLNK(st.st_mode)  ? "a symbolic link"
                                            : "not a regular file";
  if (!what) return {};
  return Error{Error::Kind::Io, dest + ": is " + what +
                                    "; only a regular file or a new name is replaced (by rename), so nothing was written"};
}

// Owner first (it clears set-id bits and capabilities), then mode, then
// extended attributes, from `st`/`from` onto `to`. Not being root only
// matters if the owner differs: then the new file would be ours, not its
// owner's, and that is refused unless forced.
Status copy_metadata(int from, const struct stat& st, int to, const std::string& dest, bool force_owner) {
  if (::fchown(to, st.st_uid, st.st_gid) != 0) {
    if (errno != EPERM) return io(dest, "cannot keep owner", errno);
    struct stat now {};
    if (::fstat(to, &now) != 0) return io(dest, "cannot keep owner", errno);
    if ((now.st_uid != st.st_uid || now.st_gid != st.st_gid) && !force_owner)
      return Error{Error::Kind::Io,
                   dest + ": owned by uid " + std::to_string(st.st_uid) + " gid " + std::to_string(st.st_gid) +
                       ", and uid " + std::to_string(::geteuid()) +
                       " cannot give the new file that owner (it would become uid " + std::to_string(now.st_uid) +
                       " gid " + std::to_string(now.st_gid) + "), so nothing was written; --force replaces it anyway"};
  }
  if (::fchmod(to, st.st_mode & 07777) != 0) return io(dest, "cannot keep mode", errno);
  return copy_xattrs(from, to, dest);
}

int copy_range(int src, int fd, std::uint64_t from, std::uint64_t to);

}  // namespace

WriteBatch::WriteBatch(WriteOptions options) : opt_(options) {}

// Room for the staged descriptors beside what the caller holds open. Asked
// when a second file is staged: one file is always room (a one-file call
// makes one system call fewer).
void WriteBatch::size_by_descriptor_limit() {
  max_staged_ = 256;
  struct rlimit nofile {};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0) return;
  if (nofile.rlim_cur == RLIM_INFINITY) max_staged_ = 4096;
  else if (nofile.rlim_cur > 64 + 16) max_staged_ = std::min<std::size_t>(static_cast<std::size_t>(nofile.rlim_cur - 64), 4096);
  else max_staged_ = std::max<std::size_t>(1, static_cast<std::size_t>(nofile.rlim_cur / 4));
}

WriteBatch::~WriteBatch() {
  for (Staged& s : staged_) {  // never committed: nothing replaced
    ::close(s.fd);
    if (!s.tmp.empty()) ::unlink(s.tmp.c_str());
  }
}

template <typename Fill>
Status WriteBatch::stage(const std::string& dest, const std::string& metadata_from, Fill&& fill) {
  if (auto ok = replaceable(dest); !ok) return ok;
  if (staged_.size() == 1 && max_staged_ == kUnknown) size_by_descriptor_limit();
  struct stat st {};
  int src = ::open(metadata_from.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (src < 0 || ::fstat(src, &st) != 0) {
    int err = errno;
    if (src >= 0) ::close(src);
    return io(metadata_from, "cannot read file attributes", err);
  }
  Staged s;
  s.dest = dest;
  s.fd = ::open(dirname_of(dest).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (s.fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {  // no O_TMPFILE here
    std::string tmpl = temp_prefix(dest) + "XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    s.fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (s.fd >= 0) s.tmp = name.data();
  }
  if (s.fd < 0) {
    int err = errno;
    ::close(src);
    return io(dest, "cannot create a temporary file in " + dirname_of(dest), err);
  }
  Status e;
  if (int err = fill(s.fd, src)) e = io(dest, "cannot write", err);
  if (e) e = copy_metadata(src, st, s.fd, dest, opt_.force_owner);
  struct stat tst {};
  if (e && ::fstat(s.fd, &tst) != 0) e = io(dest, "cannot write", errno);
  ::close(src);
  if (!e) {
    ::close(s.fd);
    if (!s.tmp.empty()) ::unlink(s.tmp.c_str());
    return e;
  }
  s.dev = tst.st_dev;
  staged_bytes_ += static_cast<std::uint64_t>(tst.st_size);
  staged_.push_back(std::move(s));
  return {};
}

namespace {
// Where the unnamed file cannot be named (no /proc, and AT_EMPTY_PATH
// needs CAP_DAC_READ_SEARCH before Linux 6.10): its bytes and metadata go
// into a named temp file, which is synced on its own. Returns 0 or an errno.
int name_by_copy(int fd, const std::string& dest, std::string& name, bool durable) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno;
  std::string tmpl = temp_prefix(dest) + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int out = ::mkostemp(buf.data(), O_CLOEXEC);
  if (out < 0) return errno;
  name = buf.data();
  int err = copy_range(fd, out, 0, static_cast<std::uint64_t>(st.st_size));
  if (!err && !copy_metadata(fd, st, out, dest, true)) err = EPERM;  // the owner was already checked
  if (!err && durable && ::fsync(out) != 0) err = errno;
  if (::close(out) != 0 && !err) err = errno;
  return err;
}
}  // namespace

namespace {
// Whether the filesystem holding `fd` journals its metadata in order, so
// that one journal commit after the renames makes every file of the batch
// durable: ext4 with a journal. There a transaction commits only after the
// ones before it, with a cache flush ahead of its commit record, and a
// file's blocks, size and the unwritten-to-written conversion of its
// extents are logged when its data is written back, before
// sync_file_range's wait returns. So data written and waited for before
// the rename, then the commit of the rename's transaction (the directory's
// fsync), leave after a power cut either no rename (the old file) or the
// rename with everything before it (the new file). Elsewhere (ext4 without
// a journal, XFS, btrfs, ...: not proven here) each file is synced before
// its rename, as fsync's contract promises everywhere.
// ext4 says whether it has a journal in /sys/fs/ext4/DEV/journal_task
// (the journal thread's pid, or "<none>"); DEV is the block device's name,
// found from st_dev through /sys/dev/block/MAJOR:MINOR.
bool ordered_journal(int fd, dev_t st_dev) {
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0 || fs.f_type != EXT4_SUPER_MAGIC) return false;
  const std::string dev = "/sys/dev/block/" + std::to_string(major(st_dev)) + ":" + std::to_string(minor(st_dev));
  char link[PATH_MAX];
  ssize_t n = ::readlink(dev.c_str(), link, sizeof link);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link) return false;
  const std::string task = "/sys/fs/ext4/" + paths::basename_of(std::string_view(link, static_cast<std::size_t>(n))) +
                           "/journal_task";
  int j = ::open(task.c_str(), O_RDONLY | O_CLOEXEC);
  if (j < 0) return false;
  char c = 0;
  const bool journal = ::read(j, &c, 1) == 1 && c >= '1' && c <= '9';
  ::close(j);
  return journal;
}
}  // namespace

std::vector<std::pair<std::string, Error>> WriteBatch::commit() {
  std::vector<std::pair<std::string, Error>> errors;
  std::vector<Staged> todo = std::move(staged_);
  staged_.clear();
  staged_bytes_ = 0;
  auto drop = [&](Staged& s, Error e) {
    ::close(s.fd);
    s.fd = -1;
    if (!s.tmp.empty()) ::unlink(s.tmp.c_str());
    errors.emplace_back(s.dest, std::move(e));
  };
  // Per filesystem (st_dev): whether it journals in order, and the
  // directory renamed into last there.
  struct Fs {
    unsigned long dev;
    bool ordered;
    std::string last_dir;
  };
  std::vector<Fs> filesystems;
  auto fs_of = [&](const Staged& s) -> Fs& {
    auto it = std::find_if(filesystems.begin(), filesystems.end(), [&](const Fs& f) { return f.dev == s.dev; });
    return it != filesystems.end() ? *it : filesystems.emplace_back(Fs{s.dev, ordered_journal(s.fd, static_cast<dev_t>(s.dev)), {}});
  };
  // 1. The data on disk before any file is named. On an ordered journal
  //    each file's data is written out (writeback started for all, then
  //    waited for): no journal commit yet. Elsewhere one file is fsync'd,
  //    and a batch costs one syncfs per filesystem (it returns the
  //    writeback errors of the files on it).
  if (opt_.durable) {
    constexpr unsigned kWriteOut = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    for (Staged& s : todo)
      if (fs_of(s).ordered) ::sync_file_range(s.fd, 0, 0, SYNC_FILE_RANGE_WRITE);  // errors: in the wait below
    std::vector<std::pair<unsigned long, int>> synced;  // per unordered filesystem: 0 or the errno
    for (Staged& s : todo) {
      if (fs_of(s).ordered) {
        if (::sync_file_range(s.fd, 0, 0, kWriteOut) != 0) drop(s, io(s.dest, "cannot write out", errno));
        continue;
      }
      auto it = std::find_if(synced.begin(), synced.end(), [&](const auto& d) { return d.first == s.dev; });
      if (it == synced.end()) {
        int rc = todo.size() == 1 ? ::fsync(s.fd) : ::syncfs(s.fd);
        synced.emplace_back(s.dev, rc == 0 ? 0 : errno);
        it = synced.end() - 1;
      }
      if (it->second) drop(s, io(s.dest, "cannot sync", it->second));
    }
  }
  // 2. Each file gets its temporary name, then replaces its destination.
  std::vector<std::pair<std::string, unsigned long>> dirs;  // each directory renamed into, and its st_dev
  std::vector<std::pair<std::string, std::string>> renamed;  // (directory, destination)
  for (Staged& s : todo) {
    if (s.fd < 0) continue;
    if (s.tmp.empty()) {
      int err = link_unnamed(s.fd, s.dest, s.tmp);
      if (err == ENOENT) err = name_by_copy(s.fd, s.dest, s.tmp, opt_.durable);
      if (err) {
        drop(s, io(s.dest, "cannot name the temporary file in " + dirname_of(s.dest), err));
        continue;
      }
    }
    if (::close(s.fd) != 0) {
      s.fd = -1;
      int err = errno;
      ::unlink(s.tmp.c_str());
      errors.emplace_back(s.dest, io(s.dest, "cannot write", err));
      continue;
    }
    s.fd = -1;
    if (::rename(s.tmp.c_str(), s.dest.c_str()) != 0) {
      int err = errno;
      ::unlink(s.tmp.c_str());
      errors.emplace_back(s.dest, io(s.dest, "cannot replace", err));
      continue;
    }
    renamed.emplace_back(dirname_of(s.dest), s.dest);
    if (opt_.durable) fs_of(s).last_dir = renamed.back().first;
    if (std::none_of(dirs.begin(), dirs.end(), [&](const auto& d) { return d.first == renamed.back().first; }))
      dirs.emplace_back(renamed.back().first, s.dev);
  }
  // 3. The renames themselves durable: each directory's fsync; on an
  //    ordered journal only the last one's, whose commit carries every
  //    earlier transaction on that filesystem with it (one commit per
  //    batch). A directory that cannot be synced: its files are in place
  //    but may not survive a crash, and say so.
  if (!opt_.durable) return errors;
  for (const auto& [d, dev] : dirs) {
    auto fs = std::find_if(filesystems.begin(), filesystems.end(), [&](const Fs& f) { return f.dev == dev; });
    if (fs != filesystems.end() && fs->ordered && fs->last_dir != d) continue;
    int dfd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = dfd < 0 || ::fsync(dfd) != 0 ? errno : 0;
    if (dfd >= 0) ::close(dfd);
    if (err)
      for (const auto& [dir, dest] : renamed)
        if (dir == d) errors.emplace_back(dest, io(dest, "replaced, but its directory cannot be synced, so it may not "
                                                      "survive a crash", err));
  }
  return errors;
}

namespace {
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

Status WriteBatch::add(const std::string& dest, const std::string& source, const Plan& plan) {
  const bool reread = opt_.reread;
  std::optional<Error> unreadable;
  auto result = stage(dest, source, [&](int fd, int src) -> int {
    // The unchanged bytes are copied by the kernel (no trip through user
    // space; a reflink where the filesystem has them), then the plan's few
    // writes land on top. Only the data ranges are copied (SEEK_DATA /
    // SEEK_HOLE): holes stay holes, so a sparse file costs what its data
    // does, not its size.
    std::uint64_t keep = std::min(plan.old_size, plan.new_size);
    // A small file is copied in one call: looking for holes in it costs
    // four lseeks to save nothing.
    constexpr std::uint64_t kLookForHoles = std::uint64_t{1} << 20;
    if (keep <= kLookForHoles)
      if (int err = copy_range(src, fd, 0, keep)) return err;
    for (std::uint64_t pos = keep <= kLookForHoles ? keep : 0; pos < keep;) {
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
    // Copied in one call, the file already has its size unless it grows.
    if (!(keep <= kLookForHoles && plan.new_size == keep))
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

Status write_plan_atomically(const std::string& dest, const std::string& source, const Plan& plan,
                             const WriteOptions& opt) {
  WriteBatch one(opt);
  if (auto added = one.add(dest, source, plan); !added) return added;
  auto errors = one.commit();
  if (errors.empty()) return {};
  return errors.front().second;
}

}  // namespace xpatch::rewrite
