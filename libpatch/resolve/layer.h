// Files laid over a root without being written to it: the contents of
// packages about to be installed, seen as they will be once installed.
// resolve::Root takes a Layer as one more overlay (Root::add_layer); the
// archive reader (libpatch/archive) and a staged directory both produce one,
// so the resolver, the symbol check and the findings do not know where the
// files come from.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace xpatch::resolve {

// An owned descriptor, shared by every entry that names the same bytes (a
// hard link in an archive is a second entry on the same descriptor).
class LayerFd {
 public:
  explicit LayerFd(int fd) noexcept : fd_(fd) {}
  LayerFd(const LayerFd&) = delete;
  LayerFd& operator=(const LayerFd&) = delete;
  ~LayerFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

struct LayerEntry {
  enum class Kind : unsigned char { File, Dir, Symlink };
  std::string path;  // canonical, absolute, inside the root: "/usr/lib/libz.so.1"
  Kind kind = Kind::File;
  std::string target;  // Symlink: the link's text, as stored in the package
  // File: pread on it gives the file's bytes at their offsets. For an ELF
  // member of an archive this is a memfd that holds only the ranges a check
  // reads (the rest are holes); null for a member that is not ELF, which is
  // then reported as a file that is not ELF.
  std::shared_ptr<const LayerFd> bytes;
  std::uint64_t size = 0;  // the installed file's size
  std::uint32_t mode = 0;  // permission bits
};

struct Layer {
  std::string origin;                // what messages name: "/var/cache/apt/archives/x_1_arm64.deb"
  std::string package;               // the package's name where the archive says it; else empty
  std::vector<LayerEntry> entries;   // in archive order; a later entry for a path replaces an earlier one
};

}  // namespace xpatch::resolve
