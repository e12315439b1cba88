// check --package's archive reader (libpatch/archive: libarchive and its
// decompressors, liblzma, libzstd, liblz4, libbz2 and zlib). A shared
// xpatch loads it as the module xpatch-archive.so when an archive is first
// read, so every other command starts without those five libraries (issue
// 16: a one-file patch call paid for them at every start); a static build
// links it in. The module and the program come from one build: the entry
// point takes the program's version and refuses another.
#pragma once

#include <string>

#include "libpatch/archive/package.h"

namespace xpatch::cli {

Expected<resolve::Layer> read_package_archive(const std::string& path, const archive::Limits& limits);

// The module's one entry point (archive_module.cpp), by this name.
inline constexpr const char* kArchiveEntry = "xpatch_archive_read";
using ArchiveEntry = void (*)(const char* version, const std::string& path, const archive::Limits& limits,
                              Expected<resolve::Layer>& out);

}  // namespace xpatch::cli
