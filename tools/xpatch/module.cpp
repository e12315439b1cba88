#include "tools/xpatch/module.h"

#include <dlfcn.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <climits>

namespace xpatch::cli {

void* load_module(const char* name, std::string* why) {
#ifdef XPATCH_STATIC
  if (why) *why = "this xpatch is a static build (XPATCH_STATIC): it cannot load modules";
  (void)name;
  return nullptr;
#else
  // The program's own path: /proc/self/exe, else (a chroot without /proc,
  // as pacman runs its hooks) the name it was started by (AT_EXECFN).
  char self[PATH_MAX] = {};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string exe = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : std::string();
  if (exe.empty())
    if (const char* fn = reinterpret_cast<const char*>(::getauxval(AT_EXECFN))) exe = fn;
  const std::string dir = exe.find('/') == std::string::npos ? std::string(".") : exe.substr(0, exe.rfind('/'));
  std::string errors;
  for (const std::string& p : {dir + "/" + name, dir + "/../lib/xpatch/" + name}) {
    if (::access(p.c_str(), F_OK) != 0) continue;
    if (void* h = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    if (const char* e = ::dlerror()) errors += std::string(errors.empty() ? "" : "; ") + e;
  }
  if (why)
    *why = errors.empty() ? std::string(name) + " is not installed next to xpatch (nor in " + dir + "/../lib/xpatch)"
                          : std::string(name) + " does not load: " + errors;
  return nullptr;
#endif
}

}  // namespace xpatch::cli
