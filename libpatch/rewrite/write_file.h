// Crash-safe output: an unnamed temporary file (O_TMPFILE) in the
// destination's directory, fsync'd, named, then renamed over the
// destination. A reader sees the old bytes or
// the new bytes, never a mix; on any error the destination is untouched.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "libpatch/elf/error.h"
#include "libpatch/rewrite/plan.h"

namespace xpatch::rewrite {

// The file a path names, following symlinks, so that patching a symlink
// patches its target and leaves the link itself in place.
Expected<std::string> resolve_destination(const std::string& path);

// Writes `plan` applied to the file `source` to `dest`, atomically: a temp
// file in dest's directory, then rename. The unchanged bytes are copied by
// the kernel (copy_file_range) and only the plan's writes go through user
// space. Mode, owner and extended attributes (security.capability
// included) are copied from `source`. Hard links: the new file is a new
// inode, so other names of the old inode keep the old bytes (as with sed -i
// and rpm). With `durable` (the default) the file and its directory are
// fsync'd, so a crash or power loss leaves old or new bytes; without it the
// rename is still atomic for other processes, but the new bytes may not be
// on disk yet when the call returns. With `reread` (the default) the new
// file is read back with the libpatch reader before it replaces `dest`; if
// it does not read back (a planner mistake on a damaged file), nothing is
// replaced and the error (Malformed) says why.
Status write_plan_atomically(const std::string& dest, const std::string& source, const Plan& plan,
                             bool durable = true, bool reread = true);

}  // namespace xpatch::rewrite
