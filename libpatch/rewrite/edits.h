// What the user asked to change, as plain data. Planning turns an EditSet
// and a parsed file into a Plan; nothing here touches bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xpatch::rewrite {

struct EditSet {
  std::optional<std::string> interpreter;                 // --interp
  std::optional<std::string> runpath;                     // --runpath: set DT_RUNPATH
  std::vector<std::string> add_runpath;                   // --add-runpath: append dirs to the search path in force
  bool remove_runpath = false;                            // --remove-runpath: drop DT_RUNPATH and DT_RPATH (but not one set here)
  std::optional<std::string> rpath;                       // --rpath: set DT_RPATH
  std::vector<std::pair<std::string, std::string>> replace_needed;  // --replace-needed OLD=NEW
  std::vector<std::string> add_needed;                    // --add-needed
  std::vector<std::string> remove_needed;                 // --remove-needed
  std::optional<std::string> soname;                      // --soname

  // Set by the patchelf front end (tools/xpatch/patchelf.cpp), with patchelf's meaning.
  bool no_default_lib = false;               // --no-default-lib: DF_1_NODEFLIB in DT_FLAGS_1
  bool add_debug_tag = false;                // --add-debug-tag: a DT_DEBUG entry, if there is none
  // Fixed-size fields, written in place (header_edits.h).
  std::optional<std::uint8_t> osabi;         // --set-os-abi: e_ident[EI_OSABI]
  std::optional<bool> execstack;             // --set-execstack / --clear-execstack: PF_X of PT_GNU_STACK
  std::vector<std::string> clear_symbol_version;  // --clear-symbol-version: its .gnu.version entries become 1 (global)

  bool empty() const {
    return !interpreter && !runpath && add_runpath.empty() && !remove_runpath && !rpath && replace_needed.empty() &&
           add_needed.empty() && remove_needed.empty() && !soname && !no_default_lib && !add_debug_tag && !osabi &&
           !execstack && clear_symbol_version.empty();
  }
};

}  // namespace xpatch::rewrite
