// xpatch [edits] FILE...: rewrite interpreter, runpath, needed and soname.
//
// Per file: map -> parse -> plan (all edits together) -> [--dry-run: print
// the plan] -> apply into memory -> [--verify: compare with the input,
// structure by structure, and read with LIEF] -> write atomically. A file
// is either fully patched or untouched.

#include <fmt/format.h>

#include <new>

#include <nlohmann/json.hpp>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/verify_output.h"

namespace xpatch::cli {
namespace {

using nlohmann::ordered_json;

ordered_json plan_json(const std::string& file, const rewrite::Plan& p) {
  ordered_json steps = ordered_json::array();
  for (const auto& s : p.steps) steps.push_back({{"what", s.what}, {"strategy", s.strategy}, {"detail", s.detail}});
  return {{"file", file}, {"changed", p.changes()}, {"old_size", p.old_size}, {"new_size", p.new_size},
          {"growth", p.growth()}, {"steps", steps}};
}

int patch_one(const std::string& path, const PatchOptions& opt, const Style& st) {
  auto fail = [&](const Error& e) {
    print_error(e.message);
    if (opt.json)
      fmt::print("{}\n", ordered_json{{"file", path}, {"ok", false},
                                      {"error", {{"kind", kind_name(e.kind)}, {"message", e.message}}}}
                             .dump());
    return kError;  // for a rewrite every failure is an error: nothing was written
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
  if (opt.verify) {
    // Check the exact bytes that will be written, with both readers.
    std::vector<std::byte> out;
    try {
      out = rewrite::apply(*plan, map->bytes());
    } catch (const std::bad_alloc&) {
      return fail({Error::Kind::Io, fmt::format("{}: --verify: the output ({} bytes) does not fit in memory", path,
                                                plan->new_size)});
    }
    if (auto found = verify_output(*f, map->bytes(), out, opt.edits); !found.empty())
      return fail({Error::Kind::Malformed, verify_message(path, found)});
  }
  if (auto wrote = rewrite::write_plan_atomically(dest, *src, *plan, !opt.no_sync); !wrote) return fail(wrote.error());
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
