// Edits of fixed-size fields that never move anything, planned as in-place
// writes on top of the other edits' plan: e_ident[EI_OSABI], PF_X of
// PT_GNU_STACK, and the .gnu.version entries of named dynamic symbols
// (EditSet::osabi, execstack, clear_symbol_version). They are read from the
// planned output, since the program header table may have gained an entry.
#pragma once

#include <cstddef>
#include <span>

#include "libpatch/elf/error.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/edits.h"
#include "libpatch/rewrite/plan.h"

namespace xpatch::rewrite {

// `plan` with the header edits' writes and steps appended. Errors:
// Unsupported when PT_GNU_STACK must be added and no PT_NULL entry can
// become it (the table never moves); Malformed when the fields overlap what
// the plan rewrites.
Expected<Plan> add_header_edits(const elf::ElfFile& f, std::span<const std::byte> bytes, const EditSet& e, Plan plan);

}  // namespace xpatch::rewrite
