// What `xpatch check` reports: a severity and a stable code per problem.
// Codes are part of the interface (scripts match on them); docs/check.md
// lists each with what it means and what to do.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xpatch::resolve {

enum class Severity { Info, Warning, Error };
constexpr std::string_view severity_name(Severity s) noexcept {
  return s == Severity::Error ? "error" : s == Severity::Warning ? "warning" : "info";
}

struct Finding {
  Severity severity = Severity::Error;
  std::string code;     // "needed-missing", ...
  std::string object;   // the object (in-root path) the finding is about
  std::string subject;  // the DT_NEEDED name, runpath entry, interpreter or link concerned
  std::string message;  // one line, names the file, the structure and the value
};

// The ignore policy of `--ignore-missing GLOB` (check and retarget): a
// DT_NEEDED found nowhere, or only on the host, whose name matches one of
// the fnmatch(3) globs, was left out on purpose.
bool name_ignored(const std::string& name, const std::vector<std::string>& globs);
bool ignored_missing(const Finding& f, const std::vector<std::string>& globs);

// The codes, in one place.
namespace code {
inline constexpr const char* kNeededMissing = "needed-missing";        // error
inline constexpr const char* kNeededHostOnly = "needed-host-only";     // error: found only outside ROOT
inline constexpr const char* kNeededWrongArch = "needed-wrong-arch";   // error: musl would map a foreign file
inline constexpr const char* kNeededInvalid = "needed-invalid";        // error: the first candidate is not a loadable ELF
inline constexpr const char* kWrongArchSkipped = "wrong-arch-skipped"; // warning: glibc skipped a candidate
inline constexpr const char* kHwcapsOnly = "hwcaps-only";              // warning: only in glibc-hwcaps/<level>
inline constexpr const char* kInterpMissing = "interp-missing";        // error
inline constexpr const char* kInterpWrongArch = "interp-wrong-arch";   // error
inline constexpr const char* kInterpRelative = "interp-relative";      // error: resolved against the working directory
inline constexpr const char* kInterpNotExecutable = "interp-not-executable";  // error: the kernel will not execute it
inline constexpr const char* kRunpathRelative = "runpath-relative";    // warning
inline constexpr const char* kRunpathEmpty = "runpath-empty";          // warning
inline constexpr const char* kRunpathMissing = "runpath-missing";      // warning: the directory does not exist
inline constexpr const char* kRunpathOutside = "runpath-outside-root"; // warning: climbs above ROOT
inline constexpr const char* kRunpathIgnored = "runpath-ignored";      // warning: musl drops it ($LIB, $PLATFORM)
inline constexpr const char* kSymlinkEscape = "symlink-escape";        // warning: a link's target climbs above ROOT
inline constexpr const char* kSymlinkLoop = "symlink-loop";            // error
inline constexpr const char* kUnreadable = "unreadable";               // error
inline constexpr const char* kMalformed = "malformed";                 // error
inline constexpr const char* kNotElf = "not-elf";                      // warning: a named file that is not ELF
inline constexpr const char* kNoLoader = "no-loader";                  // warning: a library whose loader is not in ROOT
inline constexpr const char* kCacheStale = "cache-stale";              // warning: ld.so.cache is older than the files
inline constexpr const char* kFamilyUnknown = "family-unknown";        // info: no libc dependency; glibc rules used
inline constexpr const char* kVersionMissing = "version-missing";            // error: a DT_VERNEED version no loaded object defines
inline constexpr const char* kVersionMissingWeak = "version-missing-weak";    // warning: the same, VER_FLG_WEAK
inline constexpr const char* kVersionFileUnloaded = "version-file-unloaded";  // error: DT_VERNEED names an object not loaded
inline constexpr const char* kSymbolMissing = "symbol-missing";              // error (warning for a library on its own)
inline constexpr const char* kSymbolMissingLazy = "symbol-missing-lazy";     // warning: a lazy PLT slot fails at its first call
inline constexpr const char* kCopySizeChanged = "copy-size-changed";         // warning: a COPY relocation of another size
}  // namespace code

// What to do about each code, one line: the CLI's `fix:` lines and
// `--explain`, and docs/check.md's "what to do" column (a unit test keeps
// the two equal).
struct Remedy {
  std::string_view code, text;
};
std::span<const Remedy> remedies() noexcept;
// The remedy of `code`; "" for a code this table does not know.
std::string_view remedy(std::string_view code) noexcept;

}  // namespace xpatch::resolve
