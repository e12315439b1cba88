// The LIEF side of --verify, built as a module that xpatch loads only when
// --verify is given: linking LIEF into xpatch itself costs every run its
// static initialisers (~6 ms), which hooks calling xpatch per file would pay.
//
// C ABI: xpatch_lief_describe(data, size) returns a malloc'ed text that the
// caller frees: "ok\n" then the interpreter line, the DT_RUNPATH line, and
// one line per DT_NEEDED; or "error: <message>\n".

#include <LIEF/ELF.hpp>
#include <LIEF/logging.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" __attribute__((visibility("default"))) char* xpatch_lief_describe(const unsigned char* data,
                                                                              std::size_t size) {
  std::string out;
  try {
    LIEF::Logger::disable();
    std::vector<std::uint8_t> raw(data, data + size);
    std::unique_ptr<LIEF::ELF::Binary> b = LIEF::ELF::Parser::parse(raw, "verify");
    if (!b) {
      out = "error: LIEF cannot parse the output\n";
    } else {
      out = "ok\n";
      out += (b->has_interpreter() ? b->interpreter() : std::string()) + "\n";
      std::string runpath, needed;
      for (const LIEF::ELF::DynamicEntry& d : b->dynamic_entries()) {
        if (auto* lib = dynamic_cast<const LIEF::ELF::DynamicEntryLibrary*>(&d)) needed += lib->name() + "\n";
        if (auto* rp = dynamic_cast<const LIEF::ELF::DynamicEntryRunPath*>(&d)) runpath = rp->runpath();
      }
      out += runpath + "\n" + needed;
    }
  } catch (const std::exception& e) {
    out = std::string("error: LIEF cannot parse the output: ") + e.what() + "\n";
  }
  char* r = static_cast<char*>(std::malloc(out.size() + 1));
  if (r) std::memcpy(r, out.c_str(), out.size() + 1);
  return r;
}
