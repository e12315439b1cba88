// Modules xpatch loads on demand (dlopen), so that what only one command
// needs costs the others nothing at start: xpatch-lief.so (--verify's LIEF
// read) and xpatch-archive.so (check --package's archive reader, with
// libarchive and its decompressors). Each is looked for next to the
// program (the build tree) and in ../lib/xpatch (an install).
#pragma once

#include <string>

namespace xpatch::cli {

// The module's handle, or null (with the reason in `why`) when it is not
// installed or does not load. A static build has none: it cannot dlopen.
void* load_module(const char* name, std::string* why = nullptr);

}  // namespace xpatch::cli
