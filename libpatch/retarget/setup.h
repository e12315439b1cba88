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
    Present,  // already what it would be (same bytes, or a link to the same file)
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
Status create_item(const resolve::Root& root, const SetupItem& item);

}  // namespace xpatch::retarget
