// xpatch retarget --tuple T PATH...: move a package's binaries into the
// /usr/<tuple> layout. The batch (plan, check as if written, refuse until
// stable) is retarget::plan_batch; this file only gathers the files, says
// where each will live, writes what passed and reports. Phases:
//   1. the stages (--stage DIR=/usr/<tuple>) become overlays of ROOT;
//   2. collect the files under PATH and where each will live in ROOT;
//   3. plan_batch;
//   4. write the files that passed, atomically; the rest stay as they were;
//   5. report each file, then the summary.

#include <fmt/format.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <thread>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/target.h"
#include "libpatch/resolve/loader.h"
#include "libpatch/resolve/root.h"
#include "libpatch/retarget/retarget.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/verify_output.h"
#include "tools/xpatch/json.h"
#include "tools/xpatch/retarget_report.h"

namespace xpatch::cli {
namespace {

using retarget::BatchFile;
using retarget::Verdict;

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

// `path` under `dir` (both real host paths): the rest, "/" for dir itself.
std::optional<std::string> under(const std::string& path, const std::string& dir) {
  if (dir == "/") return path;
  if (path == dir) return std::string("/");
  if (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/') return path.substr(dir.size());
  return std::nullopt;
}

struct Stage {
  std::string dir;  // host, real
  std::string at;   // in ROOT
};

// Where a file will live in ROOT: under a stage's place, or where it is in
// ROOT; "" when neither.
std::string install_path(const std::string& real, const std::vector<Stage>& stages, const std::string& root_real) {
  for (const Stage& s : stages)
    if (auto rest = under(real, s.dir)) return s.at == "/" ? *rest : (*rest == "/" ? s.at : s.at + *rest);
  return under(real, root_real).value_or("");
}

std::string status_of(const BatchFile& b) {
  if (b.error) return "error";
  if (b.refused) return "refused";
  return std::string(retarget::verdict_name(b.plan.verdict));
}

// One object per file, docs/json.md.
Json item_json(const BatchFile& b, bool written) {
  const auto& p = b.plan;
  const bool planned = b.elf && !b.error;
  const bool edits = planned && (p.verdict == Verdict::Retarget || p.verdict == Verdict::AlreadyRight ||
                                 p.verdict == Verdict::Unresolved);
  Json j = json_object();
  j["file"] = b.name;
  j["path"] = b.install.empty() ? Json(nullptr) : Json(b.install);
  const std::string status = status_of(b);
  j["ok"] = status == "retarget" || status == "already-right" || status == "other-target" || status == "static";
  j["status"] = status;
  j["error"] = b.error ? json_error(*b.error) : Json(nullptr);
  j["written"] = written;
  j["reason"] = planned && !p.reason.empty() ? Json(p.reason) : Json(nullptr);
  Json problems = Json::array();
  for (const auto& f : b.problems) problems.push_back(fmt::format("{} {}", f.code, f.message));
  j["problems"] = std::move(problems);
  j["interpreter"] = b.elf ? json_or_null(b.elf->interpreter) : Json(nullptr);
  j["new_interpreter"] = edits && b.elf->interpreter ? Json(p.interp) : Json(nullptr);
  j["runpath"] = b.elf ? json_or_null(b.elf->runpath) : Json(nullptr);
  j["new_runpath"] = edits ? Json(p.runpath) : Json(nullptr);
  j["rpath"] = b.elf ? json_or_null(b.elf->rpath) : Json(nullptr);
  Json found = Json::object();
  for (const auto& [k, v] : p.found) found[k] = v;
  j["found"] = std::move(found);
  j["unresolved"] = p.unresolved;
  j["ignored"] = p.ignored;
  j["growth"] = b.rewrite ? Json(b.rewrite->growth()) : Json(nullptr);
  return j;
}

void print_text(const BatchFile& b, const RetargetOptions& opt, const Style& st, bool libc_missing) {
  if (b.error) return;  // already on stderr
  const auto& p = b.plan;
  auto name = st(fmt::emphasis::bold, b.name);
  if (b.refused) {
    fmt::print("{}: {} (left as it was)\n", name, st(fg(fmt::terminal_color::red), "refused: the check failed"));
    for (const auto& f : b.problems) fmt::print("  {} {}\n", f.code, f.message);
    return;
  }
  switch (p.verdict) {
    case Verdict::Retarget: {
      std::string what = opt.dry_run ? "would retarget" : "retargeted";
      fmt::print("{}: {}{}\n", name, st(fg(fmt::terminal_color::green), what),
                 b.rewrite ? fmt::format(", {:+} bytes", b.rewrite->growth()) : std::string());
      if (opt.dry_run || !opt.quiet) {
        if (p.edits.interpreter)
          fmt::print("  PT_INTERP   {} -> {}\n", b.elf->interpreter.value_or(""), *p.edits.interpreter);
        if (p.edits.runpath) fmt::print("  DT_RUNPATH  {} -> {}\n", b.elf->runpath.value_or("(none)"), *p.edits.runpath);
        if (p.edits.remove_runpath) fmt::print("  DT_RPATH    {} -> (removed)\n", b.elf->rpath.value_or(""));
      }
      if (opt.dry_run) {
        for (const auto& [lib, where] : p.found) fmt::print("  needs {:<24} found in {}\n", lib, where);
        for (const auto& lib : p.ignored) fmt::print("  needs {:<24} {}\n", lib, "missing, ignored (--ignore-missing)");
        if (b.rewrite)
          for (const auto& s : b.rewrite->steps)
            fmt::print("  {:<22} {:<14} {}\n", s.what, st(fg(fmt::terminal_color::cyan), s.strategy), s.detail);
      }
      return;
    }
    case Verdict::Unresolved:
      // Without the tuple's libc, a file that misses only what the libc
      // provides (libc, libm, libpthread, ... and the loader) is unresolved
      // for that one reason, said once before the summary; -v lists them.
      if (libc_missing && !opt.verbose &&
          std::all_of(p.unresolved.begin(), p.unresolved.end(), [&](const std::string& n) {
            return resolve::musl_reserved_name(n) || n == elf::loader_name(*b.elf, elf::Libc::Glibc);
          }))
        return;
      fmt::print("{}: {} (left as it was): {}\n", name, st(fg(fmt::terminal_color::red), "unresolved"), p.reason);
      return;
    case Verdict::AlreadyRight:
    case Verdict::OtherTarget:
    case Verdict::Static:
      if (!opt.quiet) fmt::print("{}: {}: {}\n", name, st(fg(fmt::terminal_color::yellow), "skipped"), p.reason);
      return;
  }
}

}  // namespace

void RetargetTally::add(const BatchFile& b) {
  if (b.error) ++errors;
  else if (b.refused || b.plan.verdict == Verdict::Unresolved) ++left;
  else if (b.plan.verdict == Verdict::Retarget) ++done;
  else if (b.plan.verdict == Verdict::AlreadyRight) ++right;
  else ++skipped;
}

retarget::Verifier retarget_verifier(bool lief_required) {
  return [with_lief = lief_required || lief_module_available()](
             const elf::ElfFile& in, std::span<const std::byte> in_bytes, std::span<const std::byte> out,
             const rewrite::EditSet& edits) -> std::optional<std::string> {
    auto found = verify_output(in, in_bytes, out, edits, with_lief);
    if (found.empty()) return std::nullopt;
    return verify_message(in.path, found);
  };
}

Json retarget_file_json(const BatchFile& b) { return item_json(b, false); }

void print_retarget_plan(const BatchFile& b, const Style& st, bool libc_missing) {
  RetargetOptions dry;
  dry.dry_run = true;
  print_text(b, dry, st, libc_missing);
}

int run_retarget(const RetargetOptions& opt) {
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  auto cfg = retarget::make_config(opt.tuple, opt.prefix, opt.interp, opt.ignore_missing);
  if (!cfg) {
    print_error(cfg.error().message);
    return kError;
  }
  auto root = resolve::Root::open(opt.root);
  if (!root) {
    print_error(root.error().message);
    return kError;
  }

  // 1. --stage DIR=/usr/<tuple> (or just DIR, for the prefix).
  std::vector<Stage> stages;
  std::vector<std::string> stage_places;
  for (const std::string& s : opt.stages) {
    auto eq = s.find('=');
    std::string dir = s.substr(0, eq), at = eq == std::string::npos ? cfg->prefix : s.substr(eq + 1);
    if (dir.empty() || !at.starts_with('/')) {
      print_error(fmt::format("--stage {}: give DIR=/absolute/path/in/root, for example stage/usr=/usr/{}", s,
                              cfg->tuple));
      return kError;
    }
    if (auto added = (*root)->add_overlay(at, dir); !added) {
      print_error(added.error().message);
      return kError;
    }
    stages.push_back({real_path(dir), at});
    stage_places.push_back(at);
  }

  // 2. The files, and where each will live. A list on stdin is a package's
  // file list, documentation and scripts included: like a directory walk,
  // its files that are not ELF are skipped.
  std::vector<std::string> listed;
  if (opt.from_stdin) listed = read_stdin_list(opt.null_sep);
  if (opt.paths.empty() && listed.empty()) {
    print_error("retarget: no files given (PATH..., or --stdin)");
    return kError;
  }
  int code = kOk;
  const std::string root_real = real_path(opt.root);
  std::vector<BatchFile> files;
  auto add = [&](Walked w, bool from_stdin) {
    // A file met in a walk or a list that is not ELF is not ours: left out
    // here, before it costs a BatchFile (a cross toolchain's tree is mostly
    // headers: tens of thousands of them at 1.2 KiB each). Named files go
    // on, to be reported.
    if (!w.explicitly || from_stdin)
      if (auto m = MappedFile::open(w.path); !m && m.error().kind == Error::Kind::NotElf) return;
    BatchFile& b = files.emplace_back();
    b.name = std::move(w.path);
    b.explicitly = w.explicitly && !from_stdin;
    auto dest = rewrite::resolve_destination(b.name);
    if (!dest) {
      b.error = dest.error();
      return;
    }
    b.host = real_path(*dest);
    if (b.host.empty()) b.host = *dest;
    b.install = install_path(b.host, stages, root_real);
  };
  auto walk_error = [&](const std::string& msg) {
    print_error(msg);
    code = kError;
  };
  walk(opt.paths, opt.walk, [&](Walked w) { add(std::move(w), false); }, walk_error, opt.root);
  walk(listed, opt.walk, [&](Walked w) { add(std::move(w), true); }, walk_error, opt.root);

  // 3. Plan and check the batch.
  const unsigned jobs = opt.jobs ? opt.jobs : std::max(1u, std::thread::hardware_concurrency());
  const retarget::BatchResult batch = retarget::plan_batch(
      *root, *cfg, files, stage_places, jobs,
      opt.verify ? retarget_verifier(opt.verify_lief_required) : retarget::Verifier{},
      /*keep_writes=*/false);
  std::erase_if(files, [](const BatchFile& b) { return b.not_elf; });  // not ELF after all (changed since the walk)

  const auto info = elf::parse_tuple(cfg->tuple);
  const bool libc_missing = !batch.loader_present && !opt.interp;

  // 4. Write what was verified, as one batch: each file written unnamed and
  //    read back, all made durable together, then each renamed into place.
  std::vector<char> written(files.size(), 0);
  {
    rewrite::WriteBatch writes({.durable = !opt.no_sync});
    std::vector<std::size_t> staged;
    auto commit = [&] {
      auto errors = writes.commit();
      for (std::size_t i : staged) {
        auto e = std::find_if(errors.begin(), errors.end(), [&](const auto& x) { return x.first == files[i].host; });
        if (e != errors.end()) files[i].error = e->second;
        else written[i] = 1;
      }
      staged.clear();
    };
    for (std::size_t i = 0; i < files.size(); ++i) {
      BatchFile& b = files[i];
      if (!b.writable() || opt.dry_run) continue;
      // The checked writes, planned again one file at a time (the batch
      // holds none) and released once the file is staged.
      auto plan = retarget::planned_writes(b);
      auto added = plan ? writes.add(b.host, b.host, *plan) : Status(plan.error());
      if (!added) b.error = added.error();
      else staged.push_back(i);
      if (writes.full()) commit();
    }
    commit();
  }

  // 5. Report every file.
  RetargetTally tally;
  for (std::size_t i = 0; i < files.size(); ++i) {
    BatchFile& b = files[i];
    tally.add(b);
    if (b.error) {
      print_error(b.error->message);
      code = kError;
    } else if (b.refused || b.plan.verdict == Verdict::Unresolved) {
      code = std::max(code, static_cast<int>(kProblem));
    }
    if (opt.json) print_json(item_json(b, written[i] != 0));
    else print_text(b, opt, st, libc_missing);
  }
  const unsigned n_done = tally.done, n_right = tally.right, n_skipped = tally.skipped, n_left = tally.left,
                 n_errors = tally.errors;
  std::string verb = opt.dry_run ? "would retarget" : "retargeted";
  if (opt.json) {
    Json j = json_object();
    j["summary"] = {{"tuple", cfg->tuple},       {"root", opt.root},           {"dry_run", opt.dry_run},
                    {"loader", batch.loader},    {"loader_present", batch.loader_present},
                    {"retargeted", n_done},      {"already_right", n_right},   {"skipped", n_skipped},
                    {"left_as_they_were", n_left}, {"errors", n_errors}};
    print_json(j);
  } else {
    if (libc_missing && n_left)
      fmt::print("{}\n", st(fg(fmt::terminal_color::red),
                            fmt::format("no {} {} in {}: {} is missing, so {} file{} could not be resolved. Install the "
                                        "tuple's libc under {} in ROOT (with ROOT /, Debian's libc6-*-cross package "
                                        "for the architecture), or check `xpatch setup --tuple {} --root {}`{}",
                                        info ? info->arch : cfg->tuple, elf::libc_name(cfg->libc), opt.root,
                                        batch.loader, n_left, n_left == 1 ? "" : "s", cfg->prefix, cfg->tuple,
                                        opt.root, opt.verbose ? "" : " (-v lists them)")));
    auto summary = fmt::format("{} {} file{} for {}; {} already right, {} skipped, {} left as they were, {} error{}",
                               verb, n_done, n_done == 1 ? "" : "s", cfg->tuple, n_right, n_skipped, n_left, n_errors,
                               n_errors == 1 ? "" : "s");
    fmt::print("{}\n", n_left || n_errors ? st(fg(fmt::terminal_color::red), summary)
                                          : st(fg(fmt::terminal_color::green), summary));
  }
  std::fflush(stdout);
  return code;
}

}  // namespace xpatch::cli
