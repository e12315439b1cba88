#include "libpatch/resolve/finding.h"

#include <fnmatch.h>

#include <algorithm>

namespace xpatch::resolve {

bool name_ignored(const std::string& name, const std::vector<std::string>& globs) {
  return std::any_of(globs.begin(), globs.end(),
                     [&](const std::string& g) { return ::fnmatch(g.c_str(), name.c_str(), 0) == 0; });
}

bool ignored_missing(const Finding& f, const std::vector<std::string>& globs) {
  return (f.code == code::kNeededMissing || f.code == code::kNeededHostOnly) && name_ignored(f.subject, globs);
}

}  // namespace xpatch::resolve
