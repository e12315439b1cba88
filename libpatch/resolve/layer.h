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
  // Removed: a path the install deletes (Layer::removed), as
  // Root::layered_paths reports it; never an entry of Layer::entries.
  enum class Kind : unsigned char { File, Dir, Symlink, Removed };
  std::string path;  // canonical, absolute, inside the root: "/usr/lib/libz.so.1"
  Kind kind = Kind::File;
  std::string target;  // Symlink: the link's text, as stored in the package
  // File: the descriptor that holds the file's bytes, from `offset` on
  // (open_layer_file gives one that starts at the file's byte 0). A staged
  // directory's file is its own descriptor, at 0. An archive's ELF members
  // share one sparse memfd, each at its own offset, holding only the ranges
  // a check reads (the rest are holes): the descriptors a package needs do
  // not grow with its members. Null for a member that is not ELF, which is
  // then reported as a file that is not ELF.
  std::shared_ptr<const LayerFd> bytes;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;  // the installed file's size
  std::uint32_t mode = 0;  // permission bits
};

// A new descriptor (the caller's to close; -errno on failure) whose bytes
// from 0 are the `size` bytes of `bytes` at `offset`: a duplicate when they
// are the whole descriptor, else a memfd holding a copy of the range's data
// (its holes stay holes, so a copy costs the bytes kept, not the file's size).
int open_layer_file(const LayerFd& bytes, std::uint64_t offset, std::uint64_t size);

// Whose database records an installed version of the package (its
// metadata tells): dpkg's (.deb), pacman's or apk's (.PKGINFO; Pkginfo
// when the archive does not say which of the two), rpm's (not read).
enum class Manager : unsigned char { None, Dpkg, Pacman, Apk, Pkginfo, Rpm };

struct Layer {
  std::string origin;                // what messages name: "/var/cache/apt/archives/x_1_arm64.deb"
  std::string package;               // the package's name where the archive says it; else empty
  std::string architecture;          // as its metadata says it ("arm64", "aarch64", "all"); else empty
  Manager manager = Manager::None;
  std::vector<LayerEntry> entries;   // in archive order; a later entry for a path replaces an earlier one
  // Paths the install deletes: the installed version's files, as its
  // package manager's database lists them (archive/installed.h), that this
  // version may no longer ship. Root::add_layer hides each one that no
  // layer puts back at the same place and that is not a directory.
  std::vector<std::string> removed;
};

}  // namespace xpatch::resolve
