// xpatch retarget --tuple T PATH...: move a package's binaries into the
// /usr/<tuple> layout. Phases:
//   1. collect the ELF files under PATH and where each will live in ROOT
//      (in place, or under a --stage DIR=/usr/<tuple> overlay);
//   2. index the shared libraries: those files, the prefix in ROOT, the stages;
//   3. plan each file (retarget/), apply the plan in memory;
//   4. check every planned result with the loader rules, as if written
//      (resolve/), until no refusal changes another file's verdict;
//   5. write the verified ones atomically; the rest stay as they were.

#include <fmt/format.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <map>
#include <memory>
#include <new>

#include <nlohmann/json.hpp>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/resolve/loader.h"
#include "libpatch/resolve/root.h"
#include "libpatch/retarget/retarget.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"

namespace xpatch::cli {
namespace {

using nlohmann::ordered_json;
using retarget::Verdict;

struct Item {
  std::string path;          // as named (host)
  std::string real;          // the file written (symlinks followed), host
  std::string install;       // where it lives in ROOT, canonical
  bool explicitly = false;
  std::optional<MappedFile> map;
  std::optional<elf::ElfFile> elf;
  retarget::FilePlan plan;
  std::optional<rewrite::Plan> rw;
  std::optional<elf::ElfFile> after;  // the planned output, parsed
  bool refused = false;               // planned, but the check found errors
  std::vector<std::string> problems;  // why it was refused
  bool written = false;
  bool drop = false;                  // not ELF, met in a walk
  std::string error;                  // an I/O or format error (exit 2)
};

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

bool under(const std::string& path, const std::string& dir, std::string& rest) {
  if (dir == "/") {
    rest = path;
    return true;
  }
  if (path == dir) {
    rest.assign(1, '/');  // not rest = "/": GCC 12's -Wrestrict misfires on it at -O2 and above
    return true;
  }
  if (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/') {
    rest = path.substr(dir.size());
    return true;
  }
  return false;
}

struct Stage {
  std::string dir;  // host, real
  std::string at;   // in ROOT
};

bool ignorable(const resolve::Finding& f, const retarget::Config& c) {
  if (f.severity != resolve::Severity::Error) return true;
  if (f.code != resolve::code::kNeededMissing && f.code != resolve::code::kNeededHostOnly) return false;
  return std::any_of(c.ignore_missing.begin(), c.ignore_missing.end(),
                     [&](const std::string& g) { return ::fnmatch(g.c_str(), f.subject.c_str(), 0) == 0; });
}

ordered_json item_json(const Item& it) {
  ordered_json j{{"file", it.path}, {"install_path", it.install}};
  if (!it.error.empty()) {
    j["verdict"] = "error";
    j["reason"] = it.error;
    return j;
  }
  const auto& p = it.plan;
  std::string verdict(retarget::verdict_name(p.verdict));
  if (it.refused) verdict = "refused";
  j["verdict"] = verdict;
  j["written"] = it.written;
  if (!p.reason.empty()) j["reason"] = p.reason;
  if (it.refused) j["problems"] = it.problems;
  if (p.verdict == Verdict::Retarget || p.verdict == Verdict::AlreadyRight || p.verdict == Verdict::Unresolved) {
    if (it.elf->interpreter) j["interp"] = {{"old", *it.elf->interpreter}, {"new", p.interp}};
    j["runpath"] = {{"old", it.elf->runpath ? ordered_json(*it.elf->runpath) : ordered_json(nullptr)},
                    {"new", p.runpath}};
    if (it.elf->rpath) j["rpath_removed"] = *it.elf->rpath;
    ordered_json found = ordered_json::object();
    for (const auto& [k, v] : p.found) found[k] = v;
    j["found"] = found;
    j["unresolved"] = p.unresolved;
    j["ignored"] = p.ignored;
  }
  if (it.rw) j["growth"] = it.rw->growth();
  return j;
}

void print_item(const Item& it, const RetargetOptions& opt, const Style& st) {
  if (opt.json) {
    fmt::print("{}\n", item_json(it).dump());
    return;
  }
  if (!it.error.empty()) return;  // already on stderr
  const auto& p = it.plan;
  auto name = st(fmt::emphasis::bold, it.path);
  if (it.refused) {
    fmt::print("{}: {} (left as it was)\n", name, st(fg(fmt::terminal_color::red), "refused: the check failed"));
    for (const auto& why : it.problems) fmt::print("  {}\n", why);
    return;
  }
  switch (p.verdict) {
    case Verdict::Retarget: {
      std::string what = opt.dry_run ? "would retarget" : "retargeted";
      fmt::print("{}: {}{}\n", name, st(fg(fmt::terminal_color::green), what),
                 it.rw ? fmt::format(", {:+} bytes", it.rw->growth()) : std::string());
      if (opt.dry_run || !opt.quiet) {
        if (p.edits.interpreter)
          fmt::print("  PT_INTERP   {} -> {}\n", it.elf->interpreter.value_or(""), *p.edits.interpreter);
        if (p.edits.runpath) fmt::print("  DT_RUNPATH  {} -> {}\n", it.elf->runpath.value_or("(none)"), *p.edits.runpath);
        if (p.edits.remove_runpath) fmt::print("  DT_RPATH    {} -> (removed)\n", it.elf->rpath.value_or(""));
      }
      if (opt.dry_run) {
        for (const auto& [lib, where] : p.found) fmt::print("  needs {:<24} found in {}\n", lib, where);
        for (const auto& lib : p.ignored) fmt::print("  needs {:<24} {}\n", lib, "missing, ignored (--ignore-missing)");
        if (it.rw)
          for (const auto& s : it.rw->steps)
            fmt::print("  {:<22} {:<14} {}\n", s.what, st(fg(fmt::terminal_color::cyan), s.strategy), s.detail);
      }
      return;
    }
    case Verdict::Unresolved:
      fmt::print("{}: {} (left as it was): {}\n", name, st(fg(fmt::terminal_color::red), "unresolved"), p.reason);
      return;
    case Verdict::AlreadyRight:
    case Verdict::OtherTarget:
    case Verdict::Static:
      if (!opt.quiet)
        fmt::print("{}: {}: {}\n", name, st(fg(fmt::terminal_color::yellow), "skipped"), p.reason);
      return;
  }
}

}  // namespace

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
  const std::string root_real = real_path(opt.root);

  // --stage DIR=/usr/<tuple> (or just DIR, for the prefix).
  std::vector<Stage> stages;
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
  }

  std::vector<std::string> paths = opt.paths;
  const std::size_t named = paths.size();  // the rest came on stdin
  if (opt.from_stdin) {
    auto more = read_stdin_list(opt.null_sep);
    paths.insert(paths.end(), more.begin(), more.end());
  }
  if (paths.empty()) {
    print_error("retarget: no files given (PATH..., or --stdin)");
    return kError;
  }

  // 1. The files, and where each will live.
  int code = kOk;
  std::vector<Item> items;
  // A list on stdin is a package's file list, documentation and scripts
  // included: like a directory walk, its files that are not ELF are skipped.
  const std::vector<std::string> lists[2] = {{paths.begin(), paths.begin() + static_cast<std::ptrdiff_t>(named)},
                                             {paths.begin() + static_cast<std::ptrdiff_t>(named), paths.end()}};
  for (int from_stdin = 0; from_stdin < 2; ++from_stdin)
    walk(lists[from_stdin],
         [&](Walked w) {
           Item& it = items.emplace_back();
           it.path = std::move(w.path);
           it.explicitly = w.explicitly && !from_stdin;
         },
         [&](const std::string& msg) {
           print_error(msg);
           code = kError;
         });
  retarget::LibraryIndex index;
  for (Item& it : items) {
    auto dest = rewrite::resolve_destination(it.path);
    if (!dest) {
      it.error = dest.error().message;
      continue;
    }
    it.real = real_path(*dest);
    auto map = MappedFile::open(it.real.empty() ? *dest : it.real);
    if (!map) {
      if (map.error().kind == Error::Kind::NotElf && !it.explicitly) it.drop = true;  // found in a walk: not ours
      else it.error = map.error().message;
      continue;
    }
    auto f = elf::read_elf(map->bytes(), it.path);
    if (!f) {
      if (f.error().kind == Error::Kind::NotElf && !it.explicitly) it.drop = true;  // found in a walk: not ours
      else it.error = f.error().message;
      continue;
    }
    std::string rest;
    bool placed = false;
    for (const Stage& s : stages)
      if (under(it.real, s.dir, rest)) {
        it.install = s.at == "/" ? rest : (rest == "/" ? s.at : s.at + rest);
        placed = true;
        break;
      }
    if (!placed && under(it.real, root_real, rest)) {
      it.install = rest;
      placed = true;
    }
    if (!placed) {
      it.error = fmt::format("{}: neither inside the root {} nor under a --stage directory: where would it be installed?",
                             it.path, opt.root);
      continue;
    }
    it.map.emplace(std::move(*map));
    it.elf.emplace(std::move(*f));
    index.add(it.install, *it.elf);
  }
  // Files that are not ELF, found in a walk, are not ours: drop them quietly.
  std::erase_if(items, [](const Item& it) { return it.drop; });

  // 2. What is already in the root, and in the stages.
  index.add_tree(**root, cfg->prefix);
  for (const Stage& s : stages)
    if (s.at != cfg->prefix) index.add_tree(**root, s.at);

  // 3. Plans, applied in memory.
  resolve::Resolver resolver(*root);
  std::map<std::string, Item*> by_install;
  for (Item& it : items) {
    // The mapping is not needed past planning (the write copies from the
    // file): unmapping here keeps resident memory at one file, not all.
    struct Unmap {
      Item& it;
      ~Unmap() { it.map.reset(); }
    } unmap{it};
    if (!it.error.empty()) continue;
    it.plan = retarget::plan_file(*it.elf, it.install, *cfg, index);
    if (it.plan.verdict != Verdict::Retarget) continue;
    auto rw = rewrite::plan_rewrite(*it.elf, it.map->bytes(), it.plan.edits);
    if (!rw) {
      it.error = rw.error().message;
      continue;
    }
    it.rw.emplace(std::move(*rw));
    // The check reads the planned output from memory: a copy of the whole
    // file, which may not fit (a sparse file of many GiB, ulimit -v).
    std::vector<std::byte> out;
    try {
      out = rewrite::apply(*it.rw, it.map->bytes());
    } catch (const std::bad_alloc&) {
      it.error = fmt::format("{}: the planned output ({} bytes) does not fit in memory for the check", it.path,
                             it.rw->new_size);
      continue;
    }
    auto back = elf::read_elf(out, it.path + " (planned output)");
    if (!back) {
      it.error = "the planned output does not read back: " + back.error().message;
      continue;
    }
    resolve::Lookup l = (*root)->resolve(it.install);
    if (!l.found()) {
      it.error = fmt::format("{}: {} is not in the root", it.path, it.install);
      continue;
    }
    it.install = l.path;
    it.after.emplace(std::move(*back));
    resolver.assume(l.path, *it.after);
    by_install[l.path] = &it;
  }

  // 4. Check every planned file as if written; a refusal puts the original
  // back in view, which may change what its users resolve to: repeat.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto& [install, it] : by_install) {
      if (it->refused) continue;
      resolve::Tree t = resolver.resolve(install);
      std::vector<std::string> problems;
      for (const auto& f : t.findings)
        if (!ignorable(f, *cfg)) problems.push_back(fmt::format("{} {}", f.code, f.message));
      if (!problems.empty()) {
        it->refused = true;
        it->problems = std::move(problems);
        resolver.assume(install, *it->elf);
        changed = true;
      }
    }
  }

  // 5. Write what was verified; report every file.
  unsigned n_done = 0, n_right = 0, n_skipped = 0, n_left = 0, n_errors = 0;
  for (Item& it : items) {
    if (it.error.empty() && it.plan.verdict == Verdict::Retarget && !it.refused && !opt.dry_run) {
      if (auto wrote = rewrite::write_plan_atomically(it.real, it.real, *it.rw, !opt.no_sync); !wrote)
        it.error = wrote.error().message;
      else
        it.written = true;
    }
    if (!it.error.empty()) {
      print_error(it.error);
      ++n_errors;
      code = kError;
    } else if (it.refused || it.plan.verdict == Verdict::Unresolved) {
      ++n_left;
      code = std::max(code, static_cast<int>(kProblem));
    } else if (it.plan.verdict == Verdict::Retarget) {
      ++n_done;
    } else if (it.plan.verdict == Verdict::AlreadyRight) {
      ++n_right;
    } else {
      ++n_skipped;
    }
    print_item(it, opt, st);
  }
  std::string verb = opt.dry_run ? "would retarget" : "retargeted";
  if (opt.json) {
    fmt::print("{}\n", ordered_json{{"summary",
                                     {{"tuple", cfg->tuple},
                                      {"root", opt.root},
                                      {"dry_run", opt.dry_run},
                                      {"retargeted", n_done},
                                      {"already_right", n_right},
                                      {"skipped", n_skipped},
                                      {"left_as_they_were", n_left},
                                      {"errors", n_errors}}}}
                           .dump());
  } else {
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
