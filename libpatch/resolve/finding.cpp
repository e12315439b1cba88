#include "libpatch/resolve/finding.h"

#include <fnmatch.h>

#include <algorithm>

namespace xpatch::resolve {

namespace {
using namespace code;
constexpr Remedy kRemedies[] = {
    {kNeededMissing,
     "install the library in ROOT, or add its directory to the requester's runpath (xpatch --add-runpath DIR; "
     "DT_RUNPATH is not inherited, so a library needs its own, or $ORIGIN); left out on purpose: --ignore-missing GLOB"},
    {kNeededHostOnly, "copy or install the library into ROOT: the host's copy is not there when ROOT is /"},
    {kNeededInvalid, "replace the first file found (a linker script, another byte order, not ET_DYN) or put the real "
                     "library earlier on the search path"},
    {kNeededWrongArch, "musl takes the first file it finds: remove the foreign file from the search path, or put "
                       "the right one earlier (xpatch --runpath)"},
    {kInterpMissing, "install the tuple's libc in ROOT, or point PT_INTERP at the loader there (xpatch retarget, "
                     "or xpatch --interp PATH)"},
    {kInterpWrongArch, "set PT_INTERP to the loader of the file's own architecture (xpatch retarget --tuple ...)"},
    {kInterpRelative, "set an absolute PT_INTERP (xpatch --interp /usr/TUPLE/lib/LOADER)"},
    {kInterpNotExecutable, "make the loader executable (chmod 755), as its package installs it"},
    {kSymlinkLoop, "fix or remove the link"},
    {kUnreadable, "make it readable (permissions), or leave it out of the paths checked"},
    {kMalformed, "the file is damaged: reinstall it from its package (a damaged ld.so.cache: run the tuple's "
                   "ldconfig -r ROOT)"},
    {kVersionMissing, "install the library version the program was built against (a newer package), or rebuild "
                      "the program against ROOT's library"},
    {kVersionMissingWeak, "nothing needed (ld.so goes on); install the newer library to be sure"},
    {kVersionFileUnloaded, "make .gnu.version_r name a library in DT_NEEDED (xpatch --replace-needed rewrites "
                           "both), or restore the old DT_NEEDED name"},
    {kSymbolMissing, "install the library version that defines the symbol, or rebuild against ROOT's libraries"},
    {kSymbolMissingLazy, "as for symbol-missing: the program runs until its first call of the symbol"},
    {kCopySizeChanged, "rebuild the program against ROOT's library: the copied object is truncated"},
    {kCacheStale, "run the ldconfig the message names, so that ld.so.cache matches the libraries"},
    {kWrongArchSkipped, "harmless, but slower: remove the foreign library from that directory"},
    {kHwcapsOnly, "install a baseline copy outside glibc-hwcaps/ unless every CPU it runs on has that level"},
    {kRunpathEmpty, "remove the empty entry (a stray ':'): xpatch --runpath with the entries you mean"},
    {kRunpathRelative, "use $ORIGIN/... or an absolute directory (xpatch --runpath)"},
    {kRunpathMissing, "create the directory in ROOT, or drop the entry (xpatch --runpath)"},
    {kRunpathOutside, "use a directory inside ROOT: $ORIGIN/.. must not climb above /"},
    {kRunpathIgnored, "musl ignores the whole list: use only $ORIGIN and absolute directories"},
    {kSymlinkEscape, "make the link relative, or absolute inside ROOT"},
    {kNotElf, "nothing to do, or name only ELF files"},
    {kNoLoader, "install the libc of the library's architecture in ROOT (xpatch setup shows what is missing)"},
    {kFamilyUnknown, "nothing to do: a file with no libc dependency"},
};
}  // namespace

std::span<const Remedy> remedies() noexcept { return kRemedies; }

std::string_view remedy(std::string_view c) noexcept {
  for (const Remedy& r : kRemedies)
    if (r.code == c) return r.text;
  return {};
}

bool name_ignored(const std::string& name, const std::vector<std::string>& globs) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return ::fnmatch(g.c_str(), name.c_str(), 0) == 0; });
}

bool ignored_missing(const Finding& f, const std::vector<std::string>& globs) {
  return (f.code == code::kNeededMissing || f.code == code::kNeededHostOnly) && name_ignored(f.subject, globs);
}

}  // namespace xpatch::resolve
