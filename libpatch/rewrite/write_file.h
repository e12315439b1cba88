// Crash-safe output: an unnamed temporary file (O_TMPFILE) in the
// destination's directory, its data on disk, named, then renamed over the
// destination, the rename made durable. A reader sees the old bytes or
// the new bytes, never a mix; on any error the destination is untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/rewrite/plan.h"

namespace xpatch::rewrite {

// The file a path names, following symlinks, so that patching a symlink
// patches its target and leaves the link itself in place.
Expected<std::string> resolve_destination(const std::string& path);

struct WriteOptions {
  // The new bytes on disk before the rename, and the rename on disk before the call returns (--no-sync turns it off).
  bool durable = true;
  // Read the new file back with the libpatch reader before it replaces anything.
  bool reread = true;
  // Replace `dest` even when its owner cannot be kept (--force): a user
  // who may rename in the directory but cannot chown would otherwise
  // silently become the owner of another user's file.
  bool force_owner = false;
};

// Writes `plan` applied to the file `source` to `dest`, atomically: a temp
// file in dest's directory, then rename. The unchanged bytes are copied by
// the kernel (copy_file_range) and only the plan's writes go through user
// space. Mode, owner and extended attributes (security.capability
// included) are copied from `source`. Hard links: the new file is a new
// inode, so other names of the old inode keep the old bytes (as with sed -i
// and rpm). With `durable` (the default) the data is on disk before the
// rename and the rename before the call returns (as in WriteBatch::commit
// below), so a crash or power loss leaves old or new bytes; without it the
// rename is still atomic for other processes, but the new bytes may not be
// on disk yet when the call returns. With `reread` (the default) the new
// file is read back with the libpatch reader before it replaces `dest`; if
// it does not read back (a planner mistake on a damaged file), nothing is
// replaced and the error (Malformed) says why.
//
// Only a regular file, or a missing name, is ever replaced: `dest` being a
// device, FIFO, socket, directory or symlink is refused (Kind::Io) before
// anything is written, so `-o /dev/null` never replaces /dev/null. When the
// owner (uid and gid) cannot be kept, the write is refused (Kind::Io) unless
// `force_owner`.
Status write_plan_atomically(const std::string& dest, const std::string& source, const Plan& plan,
                             const WriteOptions& options = {});

// The same for many files, durable together (issue: a per-file fsync made
// batches 7x slower than patchelf):
//   add():    each new file is written unnamed (O_TMPFILE), given the
//             source's owner, mode and xattrs, and read back, as above;
//             nothing is named or replaced yet;
//   commit(): the data of all of them reaches the disk before any is
//             named, then each is named and renamed over its
//             destination, then the renames are made durable. On ext4
//             with a journal (metadata committed in order): each file's
//             data written out and waited for (sync_file_range), and one
//             directory fsync after the last rename, whose journal commit
//             carries every earlier change: one commit per batch, one file
//             or many. Elsewhere: one syncfs per filesystem (a batch of
//             one: fsync) before the renames, each directory fsync'd after.
// Every file is still all-or-nothing: until its rename it has no name, so
// a crash or kill at any point leaves each destination old or new.
// Each staged file holds a descriptor and its bytes on disk: commit when
// full(), that is when the staged files reach what the descriptor limit
// leaves room for (RLIMIT_NOFILE's soft limit less 64, at most 4096; 960
// with Debian's default), or 1 GiB. So a batch of hundreds of files is one
// commit. Files not committed when the batch is destroyed are discarded.
class WriteBatch {
 public:
  static constexpr std::uint64_t kMaxStagedBytes = std::uint64_t{1} << 30;
  explicit WriteBatch(WriteOptions options = {});
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // Errors here (and the file is not staged): as write_plan_atomically's.
  Status add(const std::string& dest, const std::string& source, const Plan& plan);
  // Returns the files that failed (destination, error); the rest replaced their destination.
  std::vector<std::pair<std::string, Error>> commit();
  std::size_t size() const noexcept { return staged_.size(); }
  bool full() const noexcept { return staged_.size() >= max_staged_ || staged_bytes_ >= kMaxStagedBytes; }

 private:
  struct Staged {  // written in full, not yet in place
    std::string dest;
    int fd = -1;
    std::string tmp;  // set once the file has a name (at once where there is no O_TMPFILE)
    unsigned long dev = 0;  // st_dev: one syncfs per filesystem
  };
  template <typename Fill>
  Status stage(const std::string& dest, const std::string& metadata_from, Fill&& fill);
  void size_by_descriptor_limit();
  static constexpr std::size_t kUnknown = ~std::size_t{0};  // until a second file is staged
  WriteOptions opt_;
  std::vector<Staged> staged_;
  std::size_t max_staged_ = kUnknown;
  std::uint64_t staged_bytes_ = 0;
};

}  // namespace xpatch::rewrite
