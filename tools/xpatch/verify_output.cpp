#include "tools/xpatch/verify_output.h"

#include <dlfcn.h>
#include <malloc.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "libpatch/elf/format.h"
#include "tools/xpatch/module.h"

namespace xpatch::cli {
namespace {

using rewrite::Discrepancy;

using Describe = char* (*)(const unsigned char*, std::size_t);

// The module's entry point, loaded once; null when it is not installed.
Describe lief_describe() {
  static Describe describe = [] {
    void* h = load_module("xpatch-lief.so");
    return h ? reinterpret_cast<Describe>(::dlsym(h, "xpatch_lief_describe")) : Describe{nullptr};
  }();
  return describe;
}

// LIEF 0.9 reserves sh_offset + sh_size bytes for every section, those
// without bits (SHT_NOBITS) too, up to 100 MB each, and fills them with
// zeros: 50 MiB for libtsan's .bss, for each file verified (retarget
// verifies every file; issue 16). So LIEF reads a copy whose SHT_NOBITS
// sections have size 0: no byte the file holds changes place or value, and
// nothing LIEF is asked (PT_INTERP, the dynamic section, its strings, the
// version needs) can lie in a section without bits. `f` is the output as
// libpatch read it (the section header table is inside the bytes). Empty
// when there is nothing to change: LIEF then reads the bytes themselves.
std::vector<std::byte> without_nobits_sizes(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  std::vector<std::byte> copy;
  elf::dispatch(f.header.variant, [&](auto variant) {
    using Shdr = elf::Shdr<decltype(variant)>;
    for (std::size_t i = 0; i < f.sections.size(); ++i) {
      if (f.sections[i].type != SHT_NOBITS || f.sections[i].size == 0) continue;
      if (copy.empty()) copy.assign(bytes.begin(), bytes.end());
      const std::uint64_t at = f.header.shoff + i * sizeof(Shdr);
      Shdr sh;
      std::memcpy(&sh, copy.data() + at, sizeof sh);
      sh.sh_size = 0;
      std::memcpy(copy.data() + at, &sh, sizeof sh);
    }
  });
  return copy;
}

// The module's text (see lief_module.cpp) as a view, or why there is none.
Expected<rewrite::DynamicView> lief_view(std::span<const std::byte> bytes) {
  Describe describe = lief_describe();
  auto fail = [](std::string why) { return Error{Error::Kind::Io, std::move(why)}; };
#ifdef XPATCH_STATIC
  if (!describe)
    return fail("this xpatch is a static build (XPATCH_STATIC): it cannot load the LIEF module that --verify needs; "
                "use a shared build for --verify");
#else
  if (!describe) return fail("the LIEF module (xpatch-lief.so) is not installed next to xpatch");
#endif
  // One parse at a time: LIEF keeps global state (its logger), and each
  // parse copies the whole file and builds every symbol and relocation, so
  // retarget's workers running it together would hold that many copies.
  static std::mutex one_at_a_time;
  char* raw = nullptr;
  {
    std::lock_guard lock(one_at_a_time);
    raw = describe(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
#ifdef __GLIBC__
    // What LIEF freed goes back to the system now: left in the calling
    // thread's arena, it would stay resident for the rest of a batch, once
    // per worker (retarget's peak RSS: 128 MiB for 38 files without this).
    ::malloc_trim(0);
#endif
  }
  if (!raw) return fail("out of memory");
  std::string text(raw);
  std::free(raw);
  rewrite::DynamicView v;
  bool first = true;
  for (std::size_t a = 0, b; a < text.size(); a = b + 1) {
    b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    std::string l = text.substr(a, b - a);
    if (first) {
      if (l != "ok") return fail(l.empty() ? "LIEF gave no answer" : l);
      first = false;
      continue;
    }
    auto tab = l.find('\t');
    if (tab == std::string::npos) return fail("LIEF gave a line without a key: " + l);
    std::string key = l.substr(0, tab), value;
    for (std::size_t i = tab + 1; i < l.size(); ++i) {
      if (l[i] == '\\' && i + 1 < l.size()) value += l[++i] == 'n' ? '\n' : l[i];
      else value += l[i];
    }
    if (key == "interp") v.interpreter = value;
    else if (key == "runpath") v.runpath = value;
    else if (key == "rpath") v.rpath = value;
    else if (key == "soname") v.soname = value;
    else if (key == "needed") v.needed.push_back(value);
    else if (key == "verneed") v.version_needs.push_back({value, {}});
    else if (key == "version" && !v.version_needs.empty()) v.version_needs.back().versions.push_back(value);
    else return fail("LIEF gave an unknown line: " + l);
  }
  if (first) return fail("LIEF gave no answer");
  return v;
}

}  // namespace

std::vector<Discrepancy> verify_output(const elf::ElfFile& in, std::span<const std::byte> in_bytes,
                                       std::span<const std::byte> out_bytes, const rewrite::EditSet& edits,
                                       bool with_lief) {
  auto found = rewrite::verify_rewrite(in, in_bytes, out_bytes, edits);
  if (!found.empty() || !with_lief) return found;
  auto out = elf::read_elf(out_bytes, in.path + " (output)");
  auto ours = out ? rewrite::read_dynamic_view(*out, out_bytes) : Expected<rewrite::DynamicView>(out.error());
  if (!ours) return {{Discrepancy::Kind::Unreadable, "output", ours.error().message}};
  const std::vector<std::byte> trimmed = without_nobits_sizes(*out, out_bytes);
  auto theirs = lief_view(trimmed.empty() ? out_bytes : std::span<const std::byte>(trimmed));
  if (!theirs) return {{Discrepancy::Kind::Unreadable, "LIEF", theirs.error().message}};
  return rewrite::compare_views(*ours, *theirs, "LIEF");
}

bool lief_module_available() { return lief_describe() != nullptr; }

std::string verify_message(const std::string& path, const std::vector<Discrepancy>& found) {
  std::string m = path + ": --verify:";
  for (std::size_t i = 0; i < found.size(); ++i)
    m += fmt::format("{} {}: {}", i ? ";" : "", found[i].structure, found[i].message);
  return m;
}

}  // namespace xpatch::cli
