// What a shared root needs so that a tuple's programs run in it, besides the
// programs themselves: the binfmt_misc registration for qemu-user, the
// library search path its loader reads, and the loader links that programs
// not retargeted ask for. Planned as data (each item with its state in the
// root), then created item by item, never replacing what is there.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/elf/target.h"
#include "libpatch/resolve/root.h"

namespace xpatch::retarget {

struct SetupItem {
  enum class What {
    Binfmt,      // /etc/binfmt.d/qemu-ARCH.conf: the registration line (systemd-binfmt's format)
    SearchPath,  // musl's ld-musl-ARCH.path, glibc's ld.so.conf.d entry
    LibDirLink,  // glibc: the loader's built-in multiarch directory -> PREFIX/lib
    LoaderLink,  // /lib/<loader> -> PREFIX/lib/<loader>
  };
  enum class State {
    Missing,  // nothing there yet
    Present,  // already what it would be (same bytes, or a link to the same file or with the same
              // target text: a link of ours left dangling when the tuple's libc went is still right)
    Differs,  // something else is there: left alone
  };
  What what;
  std::string path;     // absolute, in the root
  bool symlink = false;
  std::string content;  // the file's bytes, or the symlink's target
  std::string why;      // one line for humans
  State state = State::Missing;
  std::string existing; // for Differs: what is there, in words
};
std::string_view what_name(SetupItem::What w) noexcept;   // "binfmt", "search-path", ...
std::string_view state_name(SetupItem::State s) noexcept; // "missing", "present", "differs"

struct SetupPlan {
  elf::TupleInfo info;
  std::string tuple, prefix;
  std::string loader;          // PREFIX/lib/<loader>
  bool loader_present = false; // found in the root (following links)
  bool native = false;         // the host runs this tuple's code itself: no binfmt entry
  std::string qemu;            // the interpreter the binfmt line names
  std::vector<SetupItem> items;
};

struct SetupRequest {
  std::string tuple;
  std::optional<std::string> prefix;  // default /usr/<tuple>
  std::optional<std::string> qemu;    // default: qemu-<arch>[-static] found in the root's /usr/bin, else /usr/bin/qemu-<arch>
  std::uint16_t host_machine = 0;     // e_machine of the host, to leave out native tuples' binfmt
  unsigned host_class = 0;
  bool host_big_endian = false;
};

// Unsupported for a tuple the table does not know, or a relative prefix.
Expected<SetupPlan> plan_setup(const resolve::Root& root, const SetupRequest& req);

// The binfmt_misc line (":NAME:M::MAGIC:MASK:INTERPRETER:F") for a tuple:
// matches its ELF class, byte order and e_machine, ET_EXEC and ET_DYN, any
// EI_OSABI.
std::string binfmt_line(const elf::TupleInfo& t, const std::string& qemu);

// Creates one Missing item inside the root: parent directories as needed,
// a file written to a temporary name and renamed without replacing, or a
// symlink. Every step is confined to the root. Does nothing for other states.
// `made`, when given, gets what was created: each new directory (canonical
// path, outermost first), then the item itself.
struct Made {
  enum class Kind { Dir, File, Link };
  Kind kind;
  std::string path;     // absolute in the root
  std::string content;  // the file's bytes or the link's target; empty for a directory
  bool operator==(const Made&) const = default;
};
Status create_item(const resolve::Root& root, const SetupItem& item, std::vector<Made>* made = nullptr);

// The manifest: what `setup --write` created for a tuple, kept in the root at
// manifest_path(tuple), one line per entry ("dir|file|link TAB PATH TAB
// HEX(content)"), so that remove_setup takes back exactly that and nothing
// that was there before or changed since.
std::string manifest_path(std::string_view tuple);
// The entries, in the order they were made; empty when there is no manifest.
// Malformed (naming the line) when a line is not an entry.
Expected<std::vector<Made>> read_manifest(const resolve::Root& root, std::string_view tuple);
// Adds entries to the tuple's manifest (creating it and its directories,
// which it records as well); an entry for a path already listed replaces it.
Status record_made(const resolve::Root& root, std::string_view tuple, const std::vector<Made>& made);

struct Removal {
  std::vector<std::string> removed;                       // paths, as removed
  std::vector<std::pair<std::string, std::string>> kept;  // path, why (changed since made)
};
// Removes what the manifest lists, newest first: a file only while it holds
// the bytes setup wrote, a link only while it points where setup pointed it,
// a directory only when empty (a non-empty one is left without comment: other
// packages use /etc/binfmt.d too). The manifest keeps the entries left behind
// for a reason and goes (with its own empty directories) when none are.
// A tuple without a manifest removes nothing. The root must not have been
// looked up since it changed (open a new Root).
Expected<Removal> remove_setup(const resolve::Root& root, std::string_view tuple);

}  // namespace xpatch::retarget
