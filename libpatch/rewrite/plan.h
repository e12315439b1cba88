// A rewrite planned as data: which strategy each edit takes, what moves
// where, and the exact bytes to write. apply() (or write_plan_atomically)
// only copies bytes.
//
// Layout contract (see docs/internals.md):
//  - values that fit are written in place (PT_INTERP slot, spare DT_NULL
//    slots, strings already present in DT_STRTAB, suffixes included);
//  - the rest goes into the file padding after a read-only PT_LOAD without
//    bss, which grows into it (no growth, no new program header), or into a
//    last PT_LOAD that ends the file, or else to the end of the file in one
//    new PT_LOAD above every other segment, its p_vaddr congruent to p_offset
//    modulo the largest alignment, so no padding pages are needed;
//  - the program header table stays where qemu-user (and kernels before
//    5.18) look for it: AT_PHDR = load base + e_phoff. When it needs one more
//    entry, a PT_NULL entry is reused, or the small movable items right after
//    it (.interp, notes, .gnu.hash/.hash, .dynsym) move to the new segment,
//    or free bytes after it are taken; else the table moves to the start of
//    the new segment, which is mapped with the first PT_LOAD's
//    p_vaddr - p_offset, so load base + the new e_phoff is its address.
//  - a file whose structures overlap in ways that make the writes collide is
//    refused as malformed; nothing is written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "libpatch/elf/error.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/edits.h"

namespace xpatch::rewrite {

// One line of the plan, for --dry-run and --json.
struct Step {
  std::string what;      // "PT_INTERP", "DT_RUNPATH", "program header table", ...
  std::string strategy;  // "in place", "reuse string", "append", "move", "remove", "unchanged"
  std::string detail;    // human explanation with offsets
};

// The layout decisions as values: tests assert on these; Steps only
// explain them for --dry-run.
struct Layout {
  // Where the data that does not fit in place goes.
  enum class Data {
    InPlace,   // everything fits where it is: no segment grows or is added
    Padding,   // a PT_LOAD grows into the file padding after it: the file does not grow
    GrowLast,  // the last PT_LOAD, which ends the file, grows
    NewLoad,   // a new PT_LOAD at the end of the file
  };
  // How the program header table holds the entry of a new PT_LOAD.
  enum class TableRoom {
    NotNeeded,     // no new PT_LOAD
    PtNullReused,  // a PT_NULL entry becomes it
    ItemsMoved,    // the small items right after the table move to the new segment
    FreeBytes,     // it grows over bytes right after it that nothing owns (an old interpreter slot)
    TableMoved,    // no room: it moves to the new segment, at the address load base + e_phoff gives
  };
  // The items that can move out of the table's way.
  enum class Item { Interp, Note, GnuHash, Hash, DynSym };

  Data data = Data::InPlace;
  TableRoom table_room = TableRoom::NotNeeded;
  std::vector<Item> moved;        // with ItemsMoved, in file order
  bool interp_in_place = false;   // a new interpreter took PT_INTERP's own slot
  bool strings_extended = false;  // DT_STRTAB ends the growing segment and grows where it stands
  bool dynamic_moved = false;     // the dynamic array no longer fits its slots and moved
};

const char* item_name(Layout::Item item) noexcept;  // "PT_INTERP", "PT_NOTE", "DT_GNU_HASH", ...

// A byte range of the output, written verbatim.
struct Write {
  std::uint64_t offset = 0;
  std::vector<std::byte> bytes;
};

struct Plan {
  Layout layout;
  std::vector<Step> steps;
  std::vector<Write> writes;  // applied in order over a copy of the input
  std::uint64_t old_size = 0, new_size = 0;
  bool changes() const { return !writes.empty() || new_size != old_size; }
  std::int64_t growth() const { return static_cast<std::int64_t>(new_size - old_size); }
};

// Plans all edits together into one new layout. Errors: Unsupported when an
// edit cannot apply to this file (e.g. --interp on a static binary), with a
// message naming the file and the reason.
Expected<Plan> plan_rewrite(const elf::ElfFile& file, std::span<const std::byte> bytes, const EditSet& edits);

// The output bytes: the input, resized to new_size, with every write applied.
std::vector<std::byte> apply(const Plan& plan, std::span<const std::byte> input);

}  // namespace xpatch::rewrite
