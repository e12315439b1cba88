// The LIEF side of --verify, built as a module that xpatch loads only when
// --verify is given: linking LIEF into xpatch itself costs every run its
// static initialisers (~6 ms), which hooks calling xpatch per file would pay.
// LIEF only reads here (LIEF 0.9's writer breaks binaries).
//
// C ABI: xpatch_lief_describe(data, size) returns a malloc'ed text that the
// caller frees: "ok\n", then one "KEY\tVALUE\n" line per value, where KEY is
// interp, runpath, rpath, soname (each at most once), needed (one per
// DT_NEEDED, in order), verneed (a DT_VERNEED entry's library) and version
// (one of that entry's version names, after its verneed line); or
// "error: <message>\n". A newline inside a value is written as "\n" escaped
// ("\\n"), a backslash as "\\\\".

#include <LIEF/ELF.hpp>
#include <LIEF/logging.hpp>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string line(const char* key, const std::string& value) {
  std::string v;
  for (char c : value) {
    if (c == '\\') v += "\\\\";
    else if (c == '\n') v += "\\n";
    else v += c;
  }
  return std::string(key) + "\t" + v + "\n";
}

std::string describe(const LIEF::ELF::Binary& b) {
  std::string out = "ok\n";
  if (b.has_interpreter()) out += line("interp", b.interpreter());
  bool runpath = false, rpath = false, soname = false;  // the first of each is in force, as libpatch reads it
  for (const LIEF::ELF::DynamicEntry& d : b.dynamic_entries()) {
    if (auto* lib = dynamic_cast<const LIEF::ELF::DynamicEntryLibrary*>(&d)) out += line("needed", lib->name());
    if (auto* rp = dynamic_cast<const LIEF::ELF::DynamicEntryRunPath*>(&d); rp && !runpath) {
      out += line("runpath", rp->runpath());
      runpath = true;
    }
    if (auto* r = dynamic_cast<const LIEF::ELF::DynamicEntryRpath*>(&d); r && !rpath) {
      out += line("rpath", r->rpath());
      rpath = true;
    }
    if (auto* so = dynamic_cast<const LIEF::ELF::DynamicSharedObject*>(&d); so && !soname) {
      out += line("soname", so->name());
      soname = true;
    }
  }
  for (const LIEF::ELF::SymbolVersionRequirement& req : b.symbols_version_requirement()) {
    out += line("verneed", req.name());
    for (const LIEF::ELF::SymbolVersionAuxRequirement& aux : req.auxiliary_symbols()) out += line("version", aux.name());
  }
  return out;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) char* xpatch_lief_describe(const unsigned char* data,
                                                                              std::size_t size) {
  std::string out;
  try {
    LIEF::Logger::disable();
    std::vector<std::uint8_t> raw(data, data + size);
    std::unique_ptr<LIEF::ELF::Binary> b = LIEF::ELF::Parser::parse(raw, "verify");
    out = b ? describe(*b) : "error: LIEF cannot parse the output\n";
  } catch (const std::exception& e) {
    out = std::string("error: LIEF cannot parse the output: ") + e.what() + "\n";
  }
  char* r = static_cast<char*>(std::malloc(out.size() + 1));
  if (r) std::memcpy(r, out.c_str(), out.size() + 1);
  return r;
}
