// A staged directory (a package unpacked, not yet installed) as a Layer:
// what `check --package DIR` lays over ROOT, the same way an archive's
// members are laid (resolve/layer.h), so that the check does not know
// which it was given.
#pragma once

#include <string>

#include "libpatch/elf/error.h"
#include "libpatch/resolve/layer.h"

namespace xpatch::resolve {

// Walks `dir` with the one walk (resolve::walk_dir; it stays on one
// filesystem and never follows a link): each regular file becomes a File
// entry holding its open descriptor, each symlink a Symlink entry with its
// text; the paths are taken with `dir` as `/`. Fails (Kind::Io, naming the
// directory or file) when `dir` is not a readable directory or a file in it
// cannot be opened (EMFILE: more files than descriptors allowed).
Expected<Layer> layer_from_directory(const std::string& dir);

}  // namespace xpatch::resolve
