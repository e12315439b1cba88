// What the user asked to change, as plain data. Planning turns an EditSet
// and a parsed file into a Plan; nothing here touches bytes.
//
// Search paths. A loader uses one search path per file: DT_RUNPATH when
// present (glibc and musl then ignore DT_RPATH), else DT_RPATH. So a path
// set here is always the one in force, and never written beside the other
// tag, where the loader would not read it:
//  - runpath sets DT_RUNPATH and drops DT_RPATH (as patchelf --set-rpath);
//  - rpath sets DT_RPATH and drops DT_RUNPATH (as patchelf --force-rpath);
//  - add_runpath appends to the path in force and keeps its tag;
//  - force_rpath writes the path of runpath/add_runpath as DT_RPATH,
//    converting a DT_RUNPATH (patchelf's --force-rpath with --set-rpath or
//    --add-rpath);
//  - runpath and rpath together are refused: only one can be in force.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xpatch::rewrite {

struct EditSet {
  std::optional<std::string> interpreter;                 // --interp
  std::optional<std::string> runpath;                     // --runpath: set DT_RUNPATH, drop DT_RPATH
  std::vector<std::string> add_runpath;                   // --add-runpath: append dirs to the search path in force
  bool remove_runpath = false;                            // --remove-runpath: drop DT_RUNPATH and DT_RPATH (but not one set here)
  std::optional<std::string> rpath;                       // --rpath: set DT_RPATH, drop DT_RUNPATH
  bool force_rpath = false;                               // runpath/add_runpath write DT_RPATH, converting DT_RUNPATH
  std::vector<std::pair<std::string, std::string>> replace_needed;  // --replace-needed OLD=NEW (also .gnu.version_r's vn_file)
  std::vector<std::string> add_needed;                    // --add-needed
  std::vector<std::string> remove_needed;                 // --remove-needed
  std::optional<std::string> soname;                      // --soname

  // force_rpath alone changes nothing: it only says how a path is written.
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
