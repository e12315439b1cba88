// xpatch [edits] FILE...: rewrite interpreter, runpath, needed and soname.
//
// Per file: map -> parse -> plan (all edits together) -> [--dry-run: print
// the plan] -> [--verify: the output image (the writes over copy-on-write
// pages of the input) compared with the input, structure by structure, and
// read with LIEF] -> write atomically. A file
// is either fully patched or untouched.

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "libpatch/rewrite/output.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/verify_output.h"
#include "tools/xpatch/json.h"

namespace xpatch::cli {
namespace {

// One object per file, docs/json.md. `plan` is null when the file failed.
Json plan_json(const std::string& file, const rewrite::Plan* p, const Error* err, bool dry_run) {
  Json j = json_object();
  j["file"] = file;
  j["ok"] = err == nullptr;
  j["status"] = err ? "error" : !p->changes() ? "unchanged" : dry_run ? "would-change" : "changed";
  j["error"] = err ? json_error(*err) : Json(nullptr);
  j["changed"] = p ? Json(p->changes()) : Json(nullptr);
  j["old_size"] = p ? Json(p->old_size) : Json(nullptr);
  j["new_size"] = p ? Json(p->new_size) : Json(nullptr);
  j["growth"] = p ? Json(p->growth()) : Json(nullptr);
  Json steps = Json::array();
  if (p)
    for (const auto& s : p->steps) steps.push_back({{"what", s.what}, {"strategy", s.strategy}, {"detail", s.detail}});
  j["steps"] = std::move(steps);
  return j;
}

// A file staged in the batch: what to print once it is in place.
struct Pending {
  std::string path, dest, done;  // `done`: the JSON plan or the verbose line
};

int patch_one(const std::string& path, const PatchOptions& opt, const Style& st, rewrite::WriteBatch& batch,
              std::vector<Pending>& pending) {
  auto fail = [&](const Error& e) {
    print_error(e.message);
    if (opt.json) print_json(plan_json(path, nullptr, &e, opt.dry_run));
    return kError;  // for a rewrite every failure is an error: nothing was written
  };
  auto src = rewrite::resolve_destination(path);
  if (!src) return fail(src.error());
  auto map = MappedFile::open(*src);
  if (!map) return fail(map.error());
  auto f = elf::read_elf(map->bytes(), path);
  if (!f) return fail(f.error());
  // Risky interpreters: a relative one works only from one directory; one of
  // another libc or architecture (the target table decides) cannot run.
  if (const auto& interp = opt.edits.interpreter) {
    if (!interp->starts_with('/'))
      print_warning(fmt::format("{}: PT_INTERP \"{}\" is relative: the kernel resolves it from the working directory "
                                "at each start (check reports interp-relative); give an absolute path",
                                path, *interp));
    const elf::LoaderFit fit = elf::loader_fits(*f, *interp);
    if (fit == elf::LoaderFit::OtherLibc || fit == elf::LoaderFit::OtherArch) {
      const elf::Target t = elf::describe_target(*f);
      std::string why = fmt::format(
          "{}: PT_INTERP \"{}\" is {}, but the file is {} {} (its loader is {}): the result cannot run", path, *interp,
          fit == elf::LoaderFit::OtherLibc ? "the other libc's loader" : "the loader of another architecture",
          t.arch, elf::libc_name(t.libc), elf::loader_name(*f, t.libc == elf::Libc::Musl ? elf::Libc::Musl : elf::Libc::Glibc).value_or("unknown"));
      if (!opt.force) return fail({Error::Kind::Unsupported, why + "; --force to write it anyway"});
      print_warning(why + " (--force)");
    }
  }
  auto plan = rewrite::plan_rewrite(*f, map->bytes(), opt.edits);
  if (!plan) return fail(plan.error());
  for (const std::string& lib : rewrite::removed_but_versioned(*f, map->bytes(), opt.edits))
    print_warning(fmt::format("{}: DT_VERNEED still names {} (symbol versions from it): glibc's loader aborts the "
                              "program unless another library it loads needs {} ('xpatch check ROOT FILE' tells)",
                              path, lib, lib));

  if (opt.dry_run) {
    if (opt.json) {
      print_json(plan_json(path, &*plan, nullptr, opt.dry_run));
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
    if (opt.json) print_json(plan_json(path, &*plan, nullptr, opt.dry_run));
    return kOk;  // nothing written: same bytes, same inode, same mtime
  }
  if (opt.verify) {
    // Check the exact bytes that will be written, with both readers: the
    // plan's writes over copy-on-write pages of the input, not a copy.
    auto input = OpenFile::open(*src);
    auto out = input ? rewrite::OutputImage::map(*plan, input->fd(), path) : Expected<rewrite::OutputImage>(input.error());
    if (!out) return fail(out.error());
    if (auto found = verify_output(*f, map->bytes(), out->bytes(), opt.edits); !found.empty())
      return fail({Error::Kind::Malformed, verify_message(path, found)});
  }
  // Written unnamed and read back now; made durable and renamed into place
  // with the rest of the batch (run_patch).
  if (auto added = batch.add(dest, *src, *plan); !added) return fail(added.error());
  pending.push_back({path, dest,
                     opt.json      ? json_line(plan_json(path, &*plan, nullptr, opt.dry_run))
                     : opt.verbose ? fmt::format("{}: patched, {:+} bytes\n", path, plan->growth())
                                   : std::string()});
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
  // One batch: every file written and read back unnamed, then all made
  // durable together (one syncfs per filesystem), then each renamed.
  int code = kOk;
  rewrite::WriteBatch batch({.durable = !opt.no_sync, .force_owner = opt.force});
  std::vector<Pending> pending;
  auto commit = [&] {
    auto errors = batch.commit();
    for (const Pending& p : pending) {
      auto e = std::find_if(errors.begin(), errors.end(), [&](const auto& x) { return x.first == p.dest; });
      if (e == errors.end()) {
        std::fwrite(p.done.data(), 1, p.done.size(), stdout);
        continue;
      }
      print_error(e->second.message);
      if (opt.json) print_json(plan_json(p.path, nullptr, &e->second, opt.dry_run));
      code = kError;
    }
    pending.clear();
  };
  for (const std::string& f : opt.files) {
    code = std::max(code, patch_one(f, opt, st, batch, pending));
    if (batch.full()) commit();
  }
  commit();
  return code;
}

}  // namespace xpatch::cli
