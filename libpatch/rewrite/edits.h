// What the user asked to change, as plain data. Planning turns an EditSet
// and a parsed file into a Plan; nothing here touches bytes.
#pragma once

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

  bool empty() const {
    return !interpreter && !runpath && add_runpath.empty() && !remove_runpath && !rpath && replace_needed.empty() &&
           add_needed.empty() && remove_needed.empty() && !soname;
  }
};

}  // namespace xpatch::rewrite
