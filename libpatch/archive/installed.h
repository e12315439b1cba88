// What a root's package manager has installed of a package about to be
// installed again: the installed version's file list, read from the
// manager's own database in the root, so that an upgrade's deletions are
// part of the layered view (Layer::removed). An upgrade deletes every file
// of the installed version that the new one does not ship (dpkg keeps
// obsolete conffiles and directories still in use; pacman and apk keep
// nothing). The databases are untrusted input: reads are bounded, every
// path is confined to the root (Root), and a line that is not a path is
// skipped and counted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "libpatch/resolve/layer.h"
#include "libpatch/resolve/root.h"

namespace xpatch::archive {

struct Installed {
  std::string record;               // what was read, in the root: "/var/lib/dpkg/info/libdemo.list"; empty: no installed version found
  std::vector<std::string> removed; // its files that the layer does not ship (absolute, as the database lists them), sorted
  std::string note;                 // why nothing was read, when a record exists but could not be (unreadable, too large)
  unsigned skipped_lines = 0;       // lines that were not a path inside the root
};

// The installed version of `layer`'s package (Layer::package, ::manager,
// ::architecture) in `root`, and what installing `layer` would remove. No
// package name, no manager it reads (rpm), or no record: nothing removed.
Installed installed_version(const resolve::Root& root, const resolve::Layer& layer);

// The parsers, each over one database file's text (exposed for the tests).
// The absolute paths a list names; `skipped` counts lines that are not one.
// dpkg's info/NAME.list: one absolute path a line ("/." is the root).
std::vector<std::string> parse_dpkg_list(std::string_view text, unsigned& skipped);
// dpkg's info/NAME.conffiles: "/etc/x" or "/etc/x remove-on-upgrade".
std::vector<std::string> parse_dpkg_conffiles(std::string_view text, unsigned& skipped);
// pacman's local/NAME-VER-REL/files: the %FILES% section, paths relative
// to the root, directories ending in '/' (left out).
std::vector<std::string> parse_pacman_files(std::string_view text, unsigned& skipped);
// pacman's local/NAME-VER-REL/desc: the %NAME% value.
std::string parse_pacman_name(std::string_view desc);
// apk's lib/apk/db/installed: the package `name`'s block (P:), its files
// (R: under the last F: directory). Empty when no block names it.
std::vector<std::string> parse_apk_installed(std::string_view text, std::string_view name, unsigned& skipped,
                                             bool* found = nullptr);

}  // namespace xpatch::archive
