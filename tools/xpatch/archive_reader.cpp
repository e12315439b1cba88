#include "tools/xpatch/archive_reader.h"

#include <dlfcn.h>

#include "tools/xpatch/cli.h"
#include "tools/xpatch/module.h"

namespace xpatch::cli {

Expected<resolve::Layer> read_package_archive(const std::string& path, const archive::Limits& limits) {
#ifdef XPATCH_STATIC
  return archive::read_package(path, limits);
#else
  static std::string why;
  static const ArchiveEntry entry = [] {
    void* h = load_module("xpatch-archive.so", &why);
    auto e = h ? reinterpret_cast<ArchiveEntry>(::dlsym(h, kArchiveEntry)) : ArchiveEntry{nullptr};
    if (h && !e) why = std::string("xpatch-archive.so has no ") + kArchiveEntry;
    return e;
  }();
  if (!entry) return Error{Error::Kind::Io, path + ": cannot read package archives: " + why};
  Expected<resolve::Layer> out = Error{Error::Kind::Internal, path + ": xpatch-archive.so gave no answer"};
  entry(kVersion, path, limits, out);
  return out;
#endif
}

}  // namespace xpatch::cli
