// The one walk of a directory tree, shared by show, check and retarget.
// It is safe on a live system: it opens only directories (and leaves files
// to the caller, who opens them with open_walked_file), never follows a
// symlink, never meets a device, FIFO or socket with more than the d_type
// of its directory entry, and stays out of the kernel's pseudo filesystems
// (/proc, /sys, /dev, /run below a root; anything that is procfs, sysfs,
// devtmpfs, ... by statfs magic) and, unless asked, out of other
// filesystems (st_dev), as `find -xdev` does.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace xpatch::resolve {

struct WalkOptions {
  // Descend into directories on another filesystem than the top's
  // (--cross-filesystems). Pseudo filesystems are never entered.
  bool cross_filesystems = false;
  // The top is a root (check's ROOT, retarget's --root, or `/`): its
  // proc, sys, dev and run are the kernel's, not files to look at.
  bool top_is_root = false;
};

struct WalkEntry {
  enum class Kind : unsigned char {
    File,        // a regular file (by d_type, or fstatat where the filesystem gives none)
    Link,        // a symbolic link: not followed
    Unreadable,  // a directory that could not be opened or read (`error` says why)
  };
  Kind kind;
  std::string_view path;  // the top's path + "/" + the names below it; valid during the call
  int error = 0;
  // File: the directory it is in, open during the call, and its name there
  // (NUL-terminated), for open_walked_at.
  int dirfd = -1;
  const char* name = nullptr;
};

// Walks the directory open as `dirfd` (the walk takes it over and closes
// it), naming its entries `path` + "/" + name. Depth-first, each directory
// in byte order of names; directories are read with getdents64 in bulk and
// nothing is stat'ed that d_type already says. Devices, FIFOs and sockets
// are skipped without a word; so are mount points it does not enter.
void walk_dir(int dirfd, std::string path, const WalkOptions& options,
              const std::function<void(const WalkEntry&)>& visit);

// Opens a directory named by the user for walk_dir (a symlink at the top
// is followed: the user named it). Returns the descriptor or -errno
// (-ENOTDIR when it is not a directory).
int open_walk_top(const std::string& path);

// Opens a regular file that walk_dir reported, for reading: O_NOFOLLOW (a
// name swapped for a link since is refused), O_NONBLOCK and O_NOCTTY (one
// swapped for a FIFO or a terminal neither blocks nor becomes ours). The
// caller confirms with fstat that it is still a regular file (OpenFile
// does). `named`: a name the user gave and stat() found regular: its
// symlinks are followed. Returns the descriptor or -errno.
int open_walked_file(const std::string& path, bool named = false);
// The same for a File entry during walk_dir's visit, relative to its
// directory: the kernel looks up one name, not the whole path again.
int open_walked_at(int dirfd, const char* name);

}  // namespace xpatch::resolve
