// Crash-safe output: a temporary file in the destination's directory,
// fsync'd, then renamed over the destination. A reader sees the old bytes or
// the new bytes, never a mix; on any error the destination is untouched.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "libpatch/elf/error.h"

namespace xpatch::rewrite {

// The file a path names, following symlinks, so that patching a symlink
// patches its target and leaves the link itself in place.
Expected<std::string> resolve_destination(const std::string& path);

// Writes `data` to `dest` atomically. Mode, owner and extended attributes
// (security.capability included) are copied from `metadata_from`, usually
// the original file. Hard links: the new file is a new inode, so other names
// of the old inode keep the old bytes (as with sed -i and rpm).
std::optional<Error> write_atomically(const std::string& dest, std::span<const std::byte> data,
                                      const std::string& metadata_from);

}  // namespace xpatch::rewrite
