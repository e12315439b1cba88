// What --verify runs: a planned output compared with its input, structure
// by structure, before anything is written. Every check answers with
// discrepancies (data, never printed); an empty list means the output keeps
// every structure it should keep and says what the edits asked for:
//  - every section's bytes are unchanged unless an edit changes that
//    section (a section that moved is compared at its new place); changed
//    bytes outside the structures a rewrite owns (headers, the dynamic array,
//    the interpreter slot, ...) are named with what owns them;
//  - every dynamic entry is unchanged unless an edit asked for the change;
//  - every DT_VERNEED entry names a DT_NEEDED library, and differs from the
//    input only where --replace-needed renamed its library;
//  - every dynamic symbol's name lies inside DT_STRTAB;
//  - notes parse, and are the input's notes;
//  - the dynamic view read back (interpreter, runpath, rpath, needed,
//    soname, version requirements) is what the edits asked for.
// A second reader's view of the output (LIEF's, in the CLI) is compared with
// compare_views().
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/edits.h"

namespace xpatch::rewrite {

struct Discrepancy {
  enum class Kind {
    Unreadable,    // the output does not parse, or one of its tables cannot be walked
    Bytes,         // bytes changed that belong to a structure no edit changes
    Segment,       // a program header changed that no edit changes
    DynamicEntry,  // a dynamic entry changed, appeared or vanished that no edit asked for
    VersionNeed,   // a version requirement names no DT_NEEDED, or changed unasked
    SymbolName,    // a dynamic symbol's name lies outside DT_STRTAB
    Note,          // a note no longer parses, or is not the input's
    View,          // interpreter, runpath, rpath, needed, soname or version requirements are not what was asked
  };
  Kind kind;
  std::string structure;  // ".note.gnu.build-id", "DT_FLAGS_1", "PT_INTERP", ...
  std::string message;    // what is wrong, with the values (no file name)
};
const char* discrepancy_kind_name(Discrepancy::Kind k) noexcept;

// The values of a file that the loader's search depends on and the edits
// change.
struct VersionNeed {
  std::string file;
  std::vector<std::string> versions;
  bool operator==(const VersionNeed&) const = default;
};
struct DynamicView {
  std::optional<std::string> interpreter, runpath, rpath, soname;
  std::vector<std::string> needed;
  std::vector<VersionNeed> version_needs;
  bool operator==(const DynamicView&) const = default;
};
Expected<DynamicView> read_dynamic_view(const elf::ElfFile& f, std::span<const std::byte> bytes);

// The libraries `edits` removes from DT_NEEDED that DT_VERNEED still names.
// glibc's loader aborts such a program (dl-version.c: "needed != NULL")
// unless another object it loads loads that library, which only the root
// can tell (`check`: version-file-unloaded); musl ignores versions.
std::vector<std::string> removed_but_versioned(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                               const EditSet& edits);

// `out_bytes` is the planned output of `edits` on `in` (apply()).
std::vector<Discrepancy> verify_rewrite(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                        std::span<const std::byte> out_bytes, const EditSet& edits);

// Where another reader (`who`) sees the output differently from libpatch.
std::vector<Discrepancy> compare_views(const DynamicView& ours, const DynamicView& theirs, std::string_view who);

}  // namespace xpatch::rewrite
