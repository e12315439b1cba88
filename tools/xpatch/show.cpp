// xpatch show: report what a loader needs to know about each ELF file.
//
// Phases: collect the files (walk) -> parse them in parallel, each into its
// finished output text -> print in input order. Output order never depends
// on thread timing.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "tools/xpatch/cli.h"

namespace xpatch::cli {
namespace {

using nlohmann::ordered_json;
using elf::ElfFile;

std::string or_hex(std::string_view name, std::uint64_t v) {
  return name.empty() ? fmt::format("{:#x}", v) : std::string(name);
}

ordered_json to_json(const ElfFile& f) {
  const elf::Header& h = f.header;
  elf::Target t = elf::describe_target(f);
  ordered_json j;
  j["file"] = f.path;
  j["ok"] = true;
  j["class"] = h.elf_class;
  j["endian"] = h.big_endian ? "big" : "little";
  j["osabi"] = h.osabi;
  j["abiversion"] = h.abiversion;
  j["type"] = h.type;
  j["type_name"] = or_hex(elf::elf_type_name(h.type), h.type);
  j["machine"] = h.machine;
  j["machine_name"] = elf::machine_name(h.machine);
  j["flags"] = h.flags;
  j["entry"] = h.entry;
  j["phoff"] = h.phoff;
  j["shoff"] = h.shoff;
  j["phnum"] = h.phnum;
  j["shnum"] = h.shnum;
  j["interpreter"] = f.interpreter ? ordered_json(*f.interpreter) : ordered_json(nullptr);
  j["needed"] = f.needed;
  j["runpath"] = f.runpath ? ordered_json(*f.runpath) : ordered_json(nullptr);
  j["rpath"] = f.rpath ? ordered_json(*f.rpath) : ordered_json(nullptr);
  j["soname"] = f.soname ? ordered_json(*f.soname) : ordered_json(nullptr);
  j["dt_flags"] = f.dt_flags;
  j["dt_flags_1"] = f.dt_flags_1;
  j["dt_flags_names"] = elf::dt_flags_names(f.dt_flags);
  j["dt_flags_1_names"] = elf::dt_flags_1_names(f.dt_flags_1);
  auto& segs = j["segments"] = ordered_json::array();
  for (const elf::Segment& s : f.segments)
    segs.push_back({{"type", s.type},
                    {"type_name", or_hex(elf::segment_type_name(s.type), s.type)},
                    {"flags", s.flags},
                    {"offset", s.offset},
                    {"vaddr", s.vaddr},
                    {"paddr", s.paddr},
                    {"filesz", s.filesz},
                    {"memsz", s.memsz},
                    {"align", s.align}});
  auto& dyn = j["dynamic"] = ordered_json::array();
  for (const elf::DynEntry& d : f.dynamic)
    dyn.push_back({{"tag", d.tag}, {"tag_name", or_hex(elf::dynamic_tag_name(d.tag), d.tag)}, {"value", d.value}});
  j["target"] = {{"arch", t.arch},
                 {"abi", t.abi},
                 {"libc", elf::libc_name(t.libc)},
                 {"tuple", t.tuple ? ordered_json(*t.tuple) : ordered_json(nullptr)},
                 {"loader", t.loader ? ordered_json(*t.loader) : ordered_json(nullptr)}};
  return j;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string to_text(const ElfFile& f, const Style& st) {
  const elf::Header& h = f.header;
  elf::Target t = elf::describe_target(f);
  auto dim = fmt::emphasis::faint;
  auto opt = [&](const std::optional<std::string>& v) { return v ? *v : st(dim, "-"); };
  std::string kind = h.type == ET_DYN ? (f.is_pie() ? "PIE executable" : "shared object")
                     : h.type == ET_EXEC ? "executable"
                                         : or_hex(elf::elf_type_name(h.type), h.type);
  std::string out = fmt::format("{}: ELF{} {}-endian {}, {}\n", st(fmt::emphasis::bold, f.path), h.elf_class,
                                h.big_endian ? "big" : "little", kind, elf::machine_name(h.machine));
  auto row = [&](std::string_view k, const std::string& v) { out += fmt::format("  {:<12} {}\n", k, v); };
  row("arch", t.abi.empty() ? t.arch : fmt::format("{} ({})", t.arch, t.abi));
  row("libc", std::string(elf::libc_name(t.libc)));
  row("tuple", t.tuple ? st(fg(fmt::terminal_color::cyan), *t.tuple) : st(dim, "-"));
  row("interpreter", opt(f.interpreter));
  row("needed", f.needed.empty() ? st(dim, "-") : join(f.needed, ", "));
  row("runpath", opt(f.runpath));
  row("rpath", opt(f.rpath));
  row("soname", opt(f.soname));
  std::vector<std::string> flags = elf::dt_flags_names(f.dt_flags);
  for (auto& s : elf::dt_flags_1_names(f.dt_flags_1)) flags.push_back("1:" + s);
  row("flags", flags.empty() ? st(dim, "-") : join(flags, " "));
  return out;
}

struct Outcome {
  std::string out;    // text for stdout
  std::string error;  // message for stderr
  int code = kOk;
};

Outcome show_one(const Walked& w, const ShowOptions& opt, const Style& st) {
  auto f = elf::read_elf_file(w.path);
  if (f) return {opt.json ? to_json(*f).dump() + "\n" : to_text(*f, st) + (opt.json ? "" : "\n"), {}, kOk};
  const Error& e = f.error();
  // Inside a directory walk, files that are not ELF are simply not ours.
  if (e.kind == Error::Kind::NotElf && !w.explicitly) return {};
  int code = e.kind == Error::Kind::NotElf ? kProblem : kError;
  std::string out;
  if (opt.json)
    out = ordered_json{{"file", w.path}, {"ok", false}, {"error", {{"kind", kind_name(e.kind)}, {"message", e.message}}}}
              .dump() + "\n";
  return {out, e.message, code};
}

}  // namespace

int run_show(const ShowOptions& opt) {
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  int code = kOk;
  std::vector<Walked> files;
  walk(opt.paths, [&](Walked w) { files.push_back(std::move(w)); },
       [&](const std::string& msg) {
         print_error(msg);
         code = kError;
       });

  // Parse in batches so memory stays bounded on huge trees; each worker takes
  // the next index, and results are printed in order once a batch is done.
  unsigned jobs = opt.jobs ? opt.jobs : std::max(1u, std::thread::hardware_concurrency());
  constexpr std::size_t kBatch = 512;
  std::vector<Outcome> results;
  for (std::size_t base = 0; base < files.size(); base += kBatch) {
    std::size_t n = std::min(kBatch, files.size() - base);
    results.assign(n, {});
    std::atomic<std::size_t> next{0};
    auto work = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) results[i] = show_one(files[base + i], opt, st);
    };
    std::vector<std::jthread> pool;
    for (unsigned k = 1; k < std::min<std::size_t>(jobs, n); ++k) pool.emplace_back(work);
    work();
    pool.clear();
    for (const Outcome& r : results) {
      std::fwrite(r.out.data(), 1, r.out.size(), stdout);
      if (!r.error.empty()) print_error(r.error);
      code = std::max(code, r.code);
    }
  }
  std::fflush(stdout);
  return code;
}

}  // namespace xpatch::cli
