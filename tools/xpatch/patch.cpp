// xpatch [edits] FILE...: rewrite interpreter, runpath, needed and soname.
//
// Per file: map -> parse -> plan (all edits together) -> [--dry-run: print
// the plan] -> apply into memory -> [--verify: re-read with libpatch and
// LIEF] -> write atomically. A file is either fully patched or untouched.

#include <LIEF/ELF.hpp>
#include <LIEF/logging.hpp>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"

namespace xpatch::cli {
namespace {

using nlohmann::ordered_json;

// What the output must read back as, for --verify.
std::optional<std::string> check_readback(const elf::ElfFile& out, const rewrite::EditSet& e) {
  auto has = [&](const std::string& lib) { return std::find(out.needed.begin(), out.needed.end(), lib) != out.needed.end(); };
  if (e.interpreter && out.interpreter != e.interpreter)
    return fmt::format("PT_INTERP reads back as \"{}\"", out.interpreter.value_or(""));
  if (e.runpath && out.runpath != e.runpath)
    return fmt::format("DT_RUNPATH reads back as \"{}\"", out.runpath.value_or(""));
  if (e.rpath && out.rpath != e.rpath) return fmt::format("DT_RPATH reads back as \"{}\"", out.rpath.value_or(""));
  if (e.soname && out.soname != e.soname) return fmt::format("DT_SONAME reads back as \"{}\"", out.soname.value_or(""));
  if (e.remove_runpath && (out.runpath || out.rpath)) return std::string("DT_RUNPATH/DT_RPATH still present");
  for (const auto& lib : e.add_needed)
    if (!has(lib)) return fmt::format("DT_NEEDED \"{}\" missing", lib);
  for (const auto& lib : e.remove_needed)
    if (has(lib)) return fmt::format("DT_NEEDED \"{}\" still present", lib);
  for (const auto& [from, to] : e.replace_needed)
    if (!has(to) || (from != to && has(from))) return fmt::format("DT_NEEDED \"{}\" not replaced by \"{}\"", from, to);
  return std::nullopt;
}

// The independent second reader: LIEF parses the output bytes.
std::optional<std::string> lief_readback(const std::vector<std::byte>& bytes, const elf::ElfFile& ours) {
  LIEF::Logger::disable();
  std::vector<std::uint8_t> raw(bytes.size());
  std::memcpy(raw.data(), bytes.data(), bytes.size());
  std::unique_ptr<LIEF::ELF::Binary> b;
  try {
    b = LIEF::ELF::Parser::parse(raw, "verify");
  } catch (const std::exception& e) {
    return fmt::format("LIEF cannot parse the output: {}", e.what());
  }
  if (!b) return std::string("LIEF cannot parse the output");
  std::optional<std::string> interp;
  if (b->has_interpreter()) interp = b->interpreter();
  if (interp != ours.interpreter) return fmt::format("LIEF reads PT_INTERP as \"{}\"", interp.value_or(""));
  std::vector<std::string> needed;
  for (const LIEF::ELF::DynamicEntry& d : b->dynamic_entries()) {
    if (auto* lib = dynamic_cast<const LIEF::ELF::DynamicEntryLibrary*>(&d)) needed.push_back(lib->name());
    if (auto* rp = dynamic_cast<const LIEF::ELF::DynamicEntryRunPath*>(&d))
      if (rp->runpath() != ours.runpath.value_or("")) return fmt::format("LIEF reads DT_RUNPATH as \"{}\"", rp->runpath());
  }
  if (needed != ours.needed) return std::string("LIEF reads a different DT_NEEDED list");
  return std::nullopt;
}

ordered_json plan_json(const std::string& file, const rewrite::Plan& p) {
  ordered_json steps = ordered_json::array();
  for (const auto& s : p.steps) steps.push_back({{"what", s.what}, {"strategy", s.strategy}, {"detail", s.detail}});
  return {{"file", file}, {"changed", p.changes()}, {"old_size", p.old_size}, {"new_size", p.new_size},
          {"growth", p.growth()}, {"steps", steps}};
}

struct Result {
  int code = kOk;
};

int patch_one(const std::string& path, const PatchOptions& opt, const Style& st) {
  auto fail = [&](const Error& e) {
    print_error(e.message);
    if (opt.json)
      fmt::print("{}\n", ordered_json{{"file", path}, {"ok", false},
                                      {"error", {{"kind", kind_name(e.kind)}, {"message", e.message}}}}
                             .dump());
    return e.kind == Error::Kind::NotElf ? kError : kError;
  };
  auto src = rewrite::resolve_destination(path);
  if (!src) return fail(src.error());
  auto map = MappedFile::open(*src);
  if (!map) return fail(map.error());
  auto f = elf::read_elf(map->bytes(), path);
  if (!f) return fail(f.error());
  auto plan = rewrite::plan_rewrite(*f, map->bytes(), opt.edits);
  if (!plan) return fail(plan.error());

  if (opt.dry_run) {
    if (opt.json) {
      fmt::print("{}\n", plan_json(path, *plan).dump());
      return kOk;
    }
    fmt::print("{}: {}\n", st(fmt::emphasis::bold, path),
               plan->changes() ? fmt::format("would change, {:+} bytes ({} -> {})", plan->growth(), plan->old_size,
                                             plan->new_size)
                               : std::string("nothing to change"));
    for (const auto& s : plan->steps)
      fmt::print("  {:<22} {:<14} {}\n", s.what, st(fg(fmt::terminal_color::cyan), s.strategy), s.detail);
    return kOk;
  }

  std::string dest = opt.output.empty() ? *src : opt.output;
  if (!plan->changes() && opt.output.empty()) {
    if (opt.json) fmt::print("{}\n", plan_json(path, *plan).dump());
    return kOk;  // nothing written: same bytes, same inode, same mtime
  }
  std::vector<std::byte> out = rewrite::apply(*plan, map->bytes());

  if (opt.verify) {
    auto back = elf::read_elf(out, path + " (output)");
    if (!back) return fail({Error::Kind::Malformed, "--verify: libpatch cannot re-read the output: " + back.error().message});
    if (auto why = check_readback(*back, opt.edits)) return fail({Error::Kind::Malformed, path + ": --verify: " + *why});
    if (auto why = lief_readback(out, *back)) return fail({Error::Kind::Malformed, path + ": --verify: " + *why});
  }
  if (auto err = rewrite::write_atomically(dest, out, *src)) return fail(*err);
  if (opt.json) fmt::print("{}\n", plan_json(path, *plan).dump());
  else if (opt.verbose)
    fmt::print("{}: patched, {:+} bytes\n", path, plan->growth());
  return kOk;
}

}  // namespace

int run_patch(const PatchOptions& opt) {
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  if (!opt.output.empty() && opt.files.size() != 1) {
    print_error("-o/--output takes exactly one input file");
    return kError;
  }
  if (opt.edits.empty()) {
    print_error("nothing to do: give at least one edit (--interp, --runpath, --add-needed, ...); see xpatch --help");
    return kError;
  }
  int code = kOk;
  for (const std::string& f : opt.files) code = std::max(code, patch_one(f, opt, st));
  return code;
}

}  // namespace xpatch::cli
