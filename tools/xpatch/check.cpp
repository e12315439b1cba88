// xpatch check: does every dependency resolve inside the root, by each
// loader's own rules? Phases: collect the files -> check them in parallel
// -> print each report in input order as soon as it is ready.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <iterator>
#include <set>
#include <thread>

#include "libpatch/check/check.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/json_writer.h"
#include "tools/xpatch/ordered_pool.h"

namespace xpatch::cli {
namespace {

using check::FileReport;
using resolve::Finding;
using resolve::Severity;
using resolve::Tree;

void findings_json(JsonWriter& j, const std::vector<Finding>& fs) {
  j.key("findings").begin_array();
  for (const Finding& f : fs) {
    j.begin_object();
    j.field("severity", resolve::severity_name(f.severity)).field("code", f.code);
    j.field("object", f.object).field("subject", f.subject).field("message", f.message);
    j.end_object();
  }
  j.end_array();
}

std::string to_json(const FileReport& r) {
  const Tree& t = r.tree;
  std::string out;
  JsonWriter j(out);
  j.begin_object();
  j.field("file", r.path).field("ok", r.errors == 0);
  const auto& top = t.nodes.front();
  bool elf = top.obj && top.obj->ok;
  j.field("elf", elf);
  if (elf) {
    j.field("arch", top.obj->arch).field("static", t.is_static);
    j.field("family", t.config ? std::string(resolve::family_name(t.family)) : std::string());
    j.field("interpreter", top.obj->interpreter);
  }
  j.field("errors", std::uint64_t{r.errors}).field("warnings", std::uint64_t{r.warnings});
  findings_json(j, t.findings);
  if (const auto& c = t.config) {
    j.key("loader").begin_object();
    j.field("path", c->interp).field("found", c->interp_found).field("defaults", c->origin_note);
    if (c->family == resolve::Family::Glibc) {
      j.field("system_dirs", c->system_dirs).field("ld_so_conf", c->ld_so_conf).field("conf_dirs", c->conf_dirs);
    } else {
      j.field("path_file", c->path_file).field("path_file_exists", c->path_file_exists);
      j.field("search_dirs", c->musl_dirs);
    }
    j.end_object();
  }
  j.key("resolved").begin_array();
  for (const auto& e : t.edges) {
    j.begin_object();
    j.field("requester", t.nodes[static_cast<std::size_t>(e.from)].path).field("needed", e.name);
    std::optional<std::string> path;
    if (e.to >= 0) path = t.nodes[static_cast<std::size_t>(e.to)].path;
    j.field("path", path).field("via", e.via);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  out += '\n';
  return out;
}

std::string severity_text(Severity s, const Style& st) {
  switch (s) {
    case Severity::Error: return st(fg(fmt::terminal_color::red) | fmt::emphasis::bold, "error  ");
    case Severity::Warning: return st(fg(fmt::terminal_color::yellow), "warning");
    case Severity::Info: break;
  }
  return st(fmt::emphasis::faint, "info   ");
}

void tree_text(const Tree& t, int node, int depth, std::set<int>& expanded, std::string& out, const Style& st) {
  if (!expanded.insert(node).second) return;
  for (const auto& e : t.edges) {
    if (e.from != node) continue;
    std::string indent(static_cast<std::size_t>(depth) * 4 + 4, ' ');
    if (e.to < 0) {
      out += fmt::format("{}{} => {}\n", indent, e.name, st(fg(fmt::terminal_color::red), "not found (" + e.via + ")"));
      continue;
    }
    const auto& n = t.nodes[static_cast<std::size_t>(e.to)];
    bool first = !expanded.count(e.to) && n.loader == node;
    out += fmt::format("{}{} => {} {}\n", indent, e.name, n.path, st(fmt::emphasis::faint, "[" + e.via + "]"));
    if (first) tree_text(t, e.to, depth + 1, expanded, out, st);
  }
}

std::string to_text(const FileReport& r, const CheckOptions& opt, const Style& st) {
  const Tree& t = r.tree;
  // Info findings (family-unknown) are for --tree and --json; alone they do
  // not make a file worth a line.
  if (r.errors == 0 && r.warnings == 0 && !opt.tree) return {};
  if (opt.quiet && r.errors == 0) return {};
  std::string out = st(fmt::emphasis::bold, r.path);
  const auto& top = t.nodes.front();
  if (top.obj && top.obj->ok) {
    std::string what = top.obj->arch;
    if (t.is_static) what += ", static";
    else if (t.config) what += fmt::format(", {}, loader {}", resolve::family_name(t.family), t.config->interp);
    // fmt, not "(" + what + ")": GCC 12's -Wrestrict misfires on
    // operator+(const char*, std::string&&) at -O2 and above.
    out += fmt::format(" {}", st(fmt::emphasis::faint, fmt::format("({})", what)));
  }
  out += '\n';
  if (opt.tree) {
    std::set<int> expanded;
    if (t.interp_node >= 0)
      out += fmt::format("    {} {}\n", t.nodes[static_cast<std::size_t>(t.interp_node)].path,
                         st(fmt::emphasis::faint, "[interpreter]"));
    tree_text(t, 0, 0, expanded, out, st);
  }
  for (const Finding& f : t.findings) {
    if (opt.quiet && f.severity != Severity::Error) continue;
    if (f.severity == Severity::Info && !opt.tree) continue;
    out += fmt::format("  {} {:<20} {}\n", severity_text(f.severity, st), f.code, f.message);
  }
  return out;
}


}  // namespace

int run_check(const CheckOptions& opt) {
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  auto root = resolve::Root::open(opt.root);
  if (!root) {
    print_error(root.error().message);
    return kError;
  }
  std::vector<std::string> paths = opt.paths;
  if (opt.from_stdin) {
    auto more = read_stdin_list(opt.null_sep);
    paths.insert(paths.end(), more.begin(), more.end());
    if (paths.empty()) {
      print_error("check --stdin: no paths on standard input");
      return kError;
    }
  }
  resolve::Resolver resolver(*root);
  check::Collected in = check::collect(**root, paths);

  unsigned errors = 0, warnings = 0, infos = 0, files = 0, bad_files = 0;
  check::count(in.findings, errors, warnings, infos);
  for (const Finding& f : in.findings) {
    if (opt.quiet && f.severity != Severity::Error) continue;
    if (opt.json) {
      std::string out;
      JsonWriter j(out);
      j.begin_object().field("file", f.object).field("walk", true);
      findings_json(j, {f});
      j.end_object();
      fmt::print("{}\n", out);
    } else {
      fmt::print("{}\n  {} {:<20} {}\n", st(fmt::emphasis::bold, f.object), severity_text(f.severity, st), f.code,
                 f.message);
    }
  }

  const bool progress = !opt.json && ::isatty(STDERR_FILENO) == 1;
  const auto start = std::chrono::steady_clock::now();
  bool progress_shown = false;
  auto clear_progress = [&] {
    if (progress_shown) fmt::print(stderr, "\r\033[K");
    progress_shown = false;
  };
  unsigned jobs = opt.jobs ? opt.jobs : std::max(1u, std::thread::hardware_concurrency());
  ordered_pool<FileReport>(
      in.files.size(), jobs, 1024, [&](std::size_t i) { return check::check_file(resolver, in.files[i]); },
      [&](FileReport&& r) {
        if (r.skipped) return;
        ++files;
        errors += r.errors;
        warnings += r.warnings;
        infos += r.infos;
        if (r.errors) ++bad_files;
        std::string out = opt.json ? to_json(r) : to_text(r, opt, st);
        if (out.empty()) return;
        clear_progress();
        std::fwrite(out.data(), 1, out.size(), stdout);
      },
      [&](std::size_t done) {
        if (progress && std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) {
          std::fflush(stdout);
          fmt::print(stderr, "\r\033[Kxpatch check: {}/{} files", done, in.files.size());
          progress_shown = true;
        }
      });
  clear_progress();
  if (opt.json) {
    std::string out;
    JsonWriter j(out);
    j.begin_object().key("summary").begin_object();
    j.field("root", opt.root).field("files", std::uint64_t{files}).field("files_with_errors", std::uint64_t{bad_files});
    j.field("errors", std::uint64_t{errors}).field("warnings", std::uint64_t{warnings});
    j.end_object().end_object();
    fmt::print("{}\n", out);
  } else {
    auto summary = fmt::format("checked {} ELF file{} in {}: {} error{} in {} file{}, {} warning{}", files,
                               files == 1 ? "" : "s", opt.root, errors, errors == 1 ? "" : "s", bad_files,
                               bad_files == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
    fmt::print("{}\n", errors ? st(fg(fmt::terminal_color::red), summary) : st(fg(fmt::terminal_color::green), summary));
  }
  std::fflush(stdout);
  return errors ? kProblem : kOk;
}

}  // namespace xpatch::cli
