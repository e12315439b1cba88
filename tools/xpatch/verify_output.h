// --verify in the CLI: libpatch's structure-by-structure comparison of the
// planned output with its input (libpatch/rewrite/verify.h), then LIEF's
// independent read of the same bytes, through the xpatch-lief.so module.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "libpatch/elf/model.h"
#include "libpatch/rewrite/verify.h"

namespace xpatch::cli {

// Empty when the output may be written.
std::vector<rewrite::Discrepancy> verify_output(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                                std::span<const std::byte> out_bytes, const rewrite::EditSet& edits,
                                                bool with_lief = true);

// Whether the LIEF module can be loaded (a static build, or an install
// without it, has none).
bool lief_module_available();

// One message for all of them: "FILE: --verify: STRUCTURE: what; ...".
std::string verify_message(const std::string& path, const std::vector<rewrite::Discrepancy>& found);

}  // namespace xpatch::cli
