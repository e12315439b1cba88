// In-place edits of fixed-size fields (see header_edits.h). Each reads the
// field as the plan leaves it, and adds a write only when it changes.

#include "libpatch/rewrite/header_edits.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "libpatch/rewrite/tables.h"

namespace xpatch::rewrite {
namespace {

[[noreturn]] void refuse(Error::Kind k, const elf::ElfFile& f, std::string_view structure, const std::string& why) {
  throw ErrorException{{k, fmt::format("{}: {}: {}", f.path, structure, why)}};
}

// The output's bytes [off, off + size): the input with the plan's writes
// applied in order (past the input's end, zeros), without copying the file.
std::vector<std::byte> planned(const Plan& plan, std::span<const std::byte> in, std::uint64_t off, std::uint64_t size) {
  std::vector<std::byte> b(size);
  if (off < in.size()) {
    const std::uint64_t n = std::min<std::uint64_t>(size, in.size() - off);
    std::memcpy(b.data(), in.data() + off, n);
  }
  for (const Write& w : plan.writes) {
    const std::uint64_t from = std::max(off, w.offset), to = std::min(off + size, w.offset + w.bytes.size());
    if (from < to) std::memcpy(b.data() + (from - off), w.bytes.data() + (from - w.offset), to - from);
  }
  return b;
}

bool touched(const Plan& plan, std::uint64_t off, std::uint64_t size) {
  return std::any_of(plan.writes.begin(), plan.writes.end(), [&](const Write& w) {
    return w.offset < off + size && off < w.offset + w.bytes.size();
  });
}

template <typename E>
void add_edits(const elf::ElfFile& f, std::span<const std::byte> in, const EditSet& e, Plan& plan) {
  auto write = [&](std::uint64_t off, const void* p, std::size_t n) {
    std::vector<std::byte> b(n);
    std::memcpy(b.data(), p, n);
    plan.writes.push_back({off, std::move(b)});
  };

  if (e.osabi) {
    const std::uint8_t now = static_cast<std::uint8_t>(planned(plan, in, EI_OSABI, 1)[0]);
    if (now != *e.osabi) {
      write(EI_OSABI, &*e.osabi, 1);
      plan.steps.push_back({"EI_OSABI", "in place", fmt::format("{} -> {}", now, *e.osabi)});
    }
  }

  if (e.execstack) {
    // The table as planned: e_phnum may have grown by the new PT_LOAD.
    auto eh_bytes = planned(plan, in, 0, sizeof(elf::Ehdr<E>));
    elf::Ehdr<E> eh;
    std::memcpy(&eh, eh_bytes.data(), sizeof eh);
    const std::uint64_t n = eh.e_phnum == PN_XNUM ? f.header.phnum : std::uint64_t{eh.e_phnum};
    auto table = planned(plan, in, f.header.phoff, n * sizeof(elf::Phdr<E>));
    std::optional<std::uint64_t> stack, null;
    for (std::uint64_t i = 0; i < n; ++i) {
      elf::Phdr<E> p;
      std::memcpy(&p, table.data() + i * sizeof p, sizeof p);
      if (p.p_type == PT_GNU_STACK && !stack) stack = i;
      if (p.p_type == PT_NULL && !null) null = i;
    }
    const char* what = *e.execstack ? "executable" : "not executable";
    if (stack) {
      elf::Phdr<E> p;
      std::memcpy(&p, table.data() + *stack * sizeof p, sizeof p);
      const std::uint32_t flags = *e.execstack ? (p.p_flags | PF_X) : (p.p_flags & ~std::uint32_t{PF_X});
      if (flags != p.p_flags) {
        p.p_flags = flags;
        write(f.header.phoff + *stack * sizeof p, &p, sizeof p);
        plan.steps.push_back({"PT_GNU_STACK", "in place", fmt::format("the stack becomes {}", what)});
      }
    } else if (null) {
      elf::Phdr<E> p{};
      p.p_type = PT_GNU_STACK;
      p.p_flags = PF_R | PF_W | (*e.execstack ? PF_X : 0u);
      p.p_align = 16;
      write(f.header.phoff + *null * sizeof p, &p, sizeof p);
      plan.steps.push_back({"PT_GNU_STACK", "reuse", fmt::format("a PT_NULL entry says the stack is {}", what)});
    } else {
      refuse(Error::Kind::Unsupported, f, "program header table",
             fmt::format("has no PT_GNU_STACK entry and no PT_NULL entry to turn into one, and it never moves "
                         "(qemu-user finds it at load base + e_phoff); relink with -z {}",
                         *e.execstack ? "execstack" : "noexecstack"));
    }
  }

  if (!e.clear_symbol_version.empty()) {
    auto syms = read_dynamic_symbols(f, in);
    if (!syms) throw ErrorException{syms.error()};
    std::optional<std::uint64_t> versym;
    for (const elf::DynEntry& d : f.dynamic)
      if (d.tag == DT_VERSYM) versym = d.value;
    if (!versym) {
      plan.steps.push_back({"DT_VERSYM", "unchanged", "no symbol versions: nothing to clear"});
      return;
    }
    auto base = f.vaddr_to_offset(*versym, syms->size() * 2);
    if (!base)
      refuse(Error::Kind::Malformed, f, "DT_VERSYM",
             fmt::format("address {:#x} with {} entries is not inside the file image of any PT_LOAD", *versym,
                         syms->size()));
    for (std::size_t k = 0; k < syms->size(); ++k) {
      auto name = dynamic_string(f, in, (*syms)[k].name);
      if (!name || std::find(e.clear_symbol_version.begin(), e.clear_symbol_version.end(), *name) ==
                       e.clear_symbol_version.end())
        continue;
      const std::uint64_t at = *base + 2 * k;
      if (touched(plan, at, 2))
        refuse(Error::Kind::Malformed, f, "DT_VERSYM",
               fmt::format("entry {} at offset {:#x} overlaps a structure the rewrite changes", k, at));
      typename E::Half v;
      std::memcpy(&v, in.data() + at, 2);
      if (v == 1) continue;
      v = 1;
      write(at, &v, 2);
      plan.steps.push_back({"DT_VERSYM", "in place", fmt::format("symbol {} ({}): version cleared", k, *name)});
    }
  }
}

}  // namespace

Expected<Plan> add_header_edits(const elf::ElfFile& f, std::span<const std::byte> bytes, const EditSet& e, Plan plan) {
  try {
    elf::dispatch(f.header.variant, [&](auto v) { add_edits<decltype(v)>(f, bytes, e, plan); });
  } catch (ErrorException& x) {
    return std::move(x.error);
  }
  return plan;
}

}  // namespace xpatch::rewrite
