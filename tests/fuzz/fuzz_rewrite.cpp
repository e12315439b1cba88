// libFuzzer target: the reader, and the planner + writer patching into
// memory with an edit set chosen by the input. Properties checked:
//  - reading never crashes, whatever the bytes;
//  - a plan applies, and its output reads back with the requested values
//    (anything else is a planner bug, reported by abort());
//  - the verifier runs on every output without crashing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/verify.h"

using namespace xpatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // The first byte chooses the edits; the rest is the file.
  const std::uint8_t choice = data[0];
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  auto f = elf::read_elf(bytes, "fuzz");
  if (!f) return 0;
  (void)f->is_pie();

  rewrite::EditSet e;
  static const char* kInterp[] = {"/lib/ld.so", "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"};
  static const char* kPath[] = {"$ORIGIN", "/usr/x86_64-linux-gnu/lib:/opt/some/longer/runpath/entry"};
  if (choice & 1) e.interpreter = kInterp[(choice >> 1) & 1];
  if (choice & 4) e.runpath = kPath[(choice >> 3) & 1];
  if (choice & 16) e.add_needed = {"libfuzz-extra.so.1"};
  if (choice & 32) e.soname = "libfuzz.so.9";
  if (choice & 64) e.remove_runpath = !(choice & 4);
  if (choice & 128) e.rpath = "/old/rpath";
  if (e.empty()) return 0;

  auto plan = rewrite::plan_rewrite(*f, bytes, e);
  if (!plan) return 0;  // refused with a message: fine
  std::vector<std::byte> out = rewrite::apply(*plan, bytes);
  auto back = elf::read_elf(out, "fuzz-out");
  if (!back) {
    std::fprintf(stderr, "output does not read back: %s\n", back.error().message.c_str());
    std::abort();
  }
  // The verifier reads both sides through the same kind of hostile
  // headers: it may find discrepancies, never crash.
  (void)rewrite::verify_rewrite(*f, bytes, out, e);
  auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "output lost the edit: %s\n", what);
      std::abort();
    }
  };
  if (e.interpreter) expect(back->interpreter == e.interpreter, "interpreter");
  if (e.runpath) expect(back->runpath == e.runpath, "runpath");
  if (e.soname) expect(back->soname == e.soname, "soname");
  if (e.rpath) expect(back->rpath == e.rpath, "rpath");
  for (const auto& lib : e.add_needed)
    expect(std::find(back->needed.begin(), back->needed.end(), lib) != back->needed.end(), "add-needed");
  // Planning the same edits again must be a no-op.
  auto again = rewrite::plan_rewrite(*back, out, e);
  if (again && again->changes()) {
    std::fprintf(stderr, "second identical patch still changes %zu ranges\n", again->writes.size());
    std::abort();
  }
  return 0;
}
