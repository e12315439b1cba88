// xpatch-archive.so: libpatch/archive (with libarchive and its
// decompressors) as a module that xpatch loads only to read a package
// archive (tools/xpatch/archive_reader.h says why). It holds its own copy
// of the libpatch code the reader uses; only the entry point is exported.

#include <cstring>
#include <exception>
#include <new>

#include "tools/xpatch/archive_reader.h"
#include "tools/xpatch/cli.h"

extern "C" __attribute__((visibility("default"))) void xpatch_archive_read(
    const char* version, const std::string& path, const xpatch::archive::Limits& limits,
    xpatch::Expected<xpatch::resolve::Layer>& out) {
  using xpatch::Error;
  // Another build's module may lay out these types differently: refuse it
  // before touching them.
  if (std::strcmp(version, xpatch::cli::kVersion) != 0) {
    out = Error{Error::Kind::Io, path + ": xpatch-archive.so is from xpatch " + xpatch::cli::kVersion +
                                     ", this xpatch is " + version + ": install both from one build"};
    return;
  }
  try {
    out = xpatch::archive::read_package(path, limits);
  } catch (const std::bad_alloc&) {
    out = Error{Error::Kind::Io, path + ": out of memory reading the archive"};
  } catch (const std::exception& e) {
    out = Error{Error::Kind::Internal, path + ": " + e.what()};
  }
}
