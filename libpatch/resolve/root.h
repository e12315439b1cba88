// A directory treated as `/`: every lookup is confined to it, the way the
// kernel's openat2(RESOLVE_IN_ROOT) confines one. Absolute symlinks are
// re-rooted, `..` stops at the root, loops end after 40 links. Lookups are
// cached (positive and negative), so a whole-root check pays for each path
// component once. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/resolve/layer.h"

namespace xpatch::resolve {

struct Lookup {
  enum class Status {
    Found,       // `path` names an existing file (not a symlink unless asked)
    Missing,     // a component does not exist
    NotDir,      // a component before the last is not a directory
    Loop,        // more than 40 symlinks
    Denied,      // a directory could not be searched (EACCES) or another error
  };
  Status status = Status::Missing;
  std::string path;         // canonical, absolute, inside the root ("/usr/lib/libc.so.6")
  bool climbed = false;     // a `..` (from the path or a symlink) tried to leave the root
  std::string escaping_link;  // the first symlink whose target climbs above the root
  bool is_dir = false;      // the result is a directory
  int error = 0;            // errno for Denied
  bool found() const noexcept { return status == Status::Found; }
};

class Root {
 public:
  // Opens `dir` as the root. Fails (Kind::Io) unless it is a directory.
  static Expected<std::shared_ptr<Root>> open(const std::string& dir);
  ~Root();
  Root(const Root&) = delete;

  // Lays the host directory `stage` over the root at `at` (canonical, e.g.
  // "/usr/aarch64-linux-musl"): a path there is looked up in `stage` first,
  // then in the root, as if the staged files were already installed.
  // Symlinks inside the stage resolve as they will once installed. Call
  // before any lookup. Fails (Kind::Io) unless `stage` is a directory.
  xpatch::Status add_overlay(const std::string& at, const std::string& stage);

  // Lays a package's files over the root, as installing it would (later
  // layers over earlier ones, entries in order): its files, symlinks and
  // directories, and the directories above them, shadow the root's paths
  // for resolve(), kind(), list_dir(), open_file() (a dup of the entry's
  // descriptor) and read_file(). As dpkg does, a directory of the package
  // where the root already has a directory, or a symlink to one, is the
  // root's: the files below it land where that symlink leads. Nothing is
  // written. Call before any lookup from another thread. Fails (Kind::Io,
  // naming the layer's origin and the path) on a path that is not absolute
  // and canonical, or whose parent is a file in the root.
  // Then each of Layer::removed (an upgrade's deletions) is hidden, as a
  // whiteout: the path the root has there, found through its directory
  // symlinks, unless it is a directory or a layer puts a path there (dpkg
  // keeps a file the new version ships at the same place, even under
  // another name). A later layer's entry shows through it.
  xpatch::Status add_layer(const Layer& layer);
  // What the layers put where, each installed path once (the top layer's
  // entry), sorted by path.
  struct LayeredPath {
    std::string path;  // canonical, in the root, after the root's directory symlinks
    LayerEntry::Kind kind;
    std::size_t layer;  // index in the order add_layer was called
  };
  std::vector<LayeredPath> layered_paths() const;
  // How many lookups the calling thread has had answered by a layer (a
  // layered path stat'ed, a layered file opened; a directory listing
  // meets its layered entries that way), over every Root. When this does
  // not move while a tree is resolved, no lookup of the tree met a layer:
  // without the layers each gets the same answer (check --package).
  static std::uint64_t layer_answers() noexcept;
  // The layer that provides a canonical path, if one does.
  std::optional<std::size_t> layer_of(std::string_view canonical) const;
  // The layer whose install deletes a canonical path, if one does.
  std::optional<std::size_t> removed_by(std::string_view canonical) const;
  std::size_t layer_count() const noexcept { return layers_.size(); }
  // A layer's origin (the archive or directory) and package name ("" unknown).
  const std::string& layer_origin(std::size_t i) const { return layers_.at(i).first; }
  const std::string& layer_package(std::size_t i) const { return layers_.at(i).second; }
  Root& operator=(const Root&) = delete;

  // Resolves `path` (absolute, or relative to `/`) inside the root, following
  // every symlink including the last one.
  Lookup resolve(std::string_view path) const;

  // Opens the file at a canonical path from resolve(), read-only. With
  // openat2 (Linux 5.6+) the kernel refuses any path that leaves the root or
  // meets a symlink; without it, each component is opened with O_NOFOLLOW.
  // Returns the descriptor or -errno. A device, FIFO or socket is never
  // opened (-ENXIO): opening one can block or act (a watchdog arms).
  int open_file(const std::string& canonical) const;
  // A file the walk found regular (by its directory entry) at a canonical
  // path: opened without the cached lstat, so nothing is remembered per
  // file and memory does not grow with the root. O_NONBLOCK|O_NOCTTY, and
  // the caller's fstat (OpenFile::adopt), refuse whatever replaced it since.
  int open_walked(const std::string& canonical) const;

  // What a canonical path is, without following a final symlink. Special:
  // a device, FIFO or socket.
  enum class Kind { Absent, Dir, File, Link, Special, Error };
  Kind kind(const std::string& canonical) const;

  // The host path of a canonical path, for messages ("<root>/usr/lib/x").
  std::string host_path(std::string_view canonical) const;
  const std::string& dir() const noexcept { return dir_; }
  bool is_host_root() const noexcept { return host_root_; }
  bool uses_openat2() const noexcept;

  // Reads a whole small file at a canonical path (at most `limit` bytes;
  // longer files are an error, E2BIG). Returns -errno on failure.
  int read_file(const std::string& canonical, std::string& out, std::size_t limit) const;
  // The entries of a directory at a canonical path, sorted by name, each
  // with its kind (from the directory itself where the file system says,
  // else from lstat); empty when it cannot be read. What it learns is kept
  // for later lookups, unless `remember` is false: a walk that looks for a
  // few names among many (retarget's library index in a tree of headers)
  // would otherwise keep a record of every file it passed.
  struct Entry {
    std::string name;
    Kind kind;
  };
  std::vector<Entry> list_dir(const std::string& canonical, bool remember = true) const;
  // Records what a walk learned from its directory entries (a regular file
  // at `canonical`), so that looking it up later costs no fstatat.
  void remember_file(std::string canonical) const;

 private:
  Root(std::string dir, int fd, bool host_root) : dir_(std::move(dir)), fd_(fd), host_root_(host_root) {}
  struct Node {
    enum Type : unsigned char { Absent, Dir, File, Link, Special, Error } type = Absent;
    int error = 0;
    std::string target;  // for Link
  };
  Node stat_node(const std::string& canonical) const;  // cached lstat + readlink

  // Where a canonical path lives: the directory fd and the relative path in
  // it; `fallback` says the root below an overlay still applies.
  struct Place {
    int fd;
    std::string rel;
    int under_fd = -1;  // the root's fd when `fd` is an overlay's
    std::string under_rel;
  };
  Place place(std::string_view canonical) const;
  // The names under `canonical` that lead down to an overlay's mount point.
  std::vector<std::string> overlay_child(std::string_view canonical) const;
  int open_in(int fd, const std::string& rel) const;
  struct Overlay {
    std::string at;  // canonical, no trailing slash
    std::string stage;
    int fd = -1;
  };
  std::vector<Overlay> overlays_;
  // add_layer's entries: canonical path -> what the layers put there.
  struct LayerNode {
    Node::Type type = Node::File;
    std::string target;  // Link
    std::shared_ptr<const LayerFd> bytes;  // File; null: not ELF, reads as empty
    std::uint64_t offset = 0, size = 0;    // File: where in `bytes` (LayerEntry)
    std::size_t layer = 0;
    LayerEntry::Kind kind = LayerEntry::Kind::File;
  };
  std::unordered_map<std::string, LayerNode> layered_;
  std::unordered_map<std::string, std::vector<std::string>> layer_children_;  // dir -> names the layers add
  std::vector<std::pair<std::string, std::string>> layers_;  // origin, package
  void put_layered(const std::string& path, LayerNode node);

  std::string dir_;
  int fd_ = -1;
  bool host_root_ = false;
  mutable std::shared_mutex mu_;  // lookups share it; a new entry takes it alone
  mutable std::unordered_map<std::string, Node> nodes_;
};

}  // namespace xpatch::resolve
