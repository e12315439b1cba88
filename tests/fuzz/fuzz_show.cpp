// libFuzzer target: the reader and everything `xpatch show` computes from
// its result (tools/xpatch/show.cpp): the target description, the names of
// types, machines, segments, tags and flag bits, PIE-ness, and the mapping of
// DT_STRTAB through PT_LOAD. Same input format as fuzz_rewrite: the first
// byte chooses (here: with or without per-section parsing), the rest is the
// file, so the two targets share seeds and regression inputs.
// Properties checked: nothing crashes, leaks or overflows, whatever the
// bytes; a file that reads with sections reads the same without them.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"

using namespace xpatch;

namespace {

std::size_t sink = 0;  // keeps the results alive without printing them

void use(std::string_view s) { sink += s.size(); }

void describe(const elf::ElfFile& f) {
  const elf::Header& h = f.header;
  use(elf::elf_type_name(h.type));
  use(elf::machine_name(h.machine));
  (void)f.is_pie();
  (void)f.is_dynamic();
  for (const elf::Segment& s : f.segments) {
    use(elf::segment_type_name(s.type));
    (void)f.vaddr_to_offset(s.vaddr, s.filesz);
  }
  for (const elf::DynEntry& d : f.dynamic) use(elf::dynamic_tag_name(d.tag));
  for (const auto& s : elf::dt_flags_names(f.dt_flags)) use(s);
  for (const auto& s : elf::dt_flags_1_names(f.dt_flags_1)) use(s);
  for (std::uint32_t t : {PT_INTERP, PT_DYNAMIC, PT_LOAD, PT_PHDR, PT_NOTE}) (void)f.find_segment(t);
  (void)f.vaddr_to_offset(f.dynstr_vaddr, f.dynstr_size);
  elf::Target t = elf::describe_target(f);
  use(t.arch);
  use(t.abi);
  use(elf::libc_name(t.libc));
  if (t.tuple) use(*t.tuple);
  if (t.loader) use(*t.loader);
  for (elf::Libc l : {elf::Libc::Glibc, elf::Libc::Musl, elf::Libc::Static, elf::Libc::Unknown}) {
    if (auto tu = elf::tuple_for(f, l)) use(*tu);
    if (auto lo = elf::loader_name(f, l)) use(*lo);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool sections = data[0] & 1;
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  auto f = elf::read_elf(bytes, "fuzz", {.sections = sections});
  if (!f) {
    use(f.error().message);
    return 0;
  }
  describe(*f);
  if (sections) {
    // show reads without sections: a file that reads with them must read
    // without them too, to the same values.
    auto g = elf::read_elf(bytes, "fuzz", {.sections = false});
    if (!g || g->interpreter != f->interpreter || g->needed != f->needed || g->runpath != f->runpath ||
        g->rpath != f->rpath || g->soname != f->soname || g->segments.size() != f->segments.size()) {
      std::fprintf(stderr, "reading without sections differs from reading with them\n");
      std::abort();
    }
  }
  return 0;
}
