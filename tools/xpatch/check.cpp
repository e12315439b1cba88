// xpatch check: does every dependency resolve inside the root, by each
// loader's own rules? Phases: walk the root, streaming each file to the
// checkers as it is found -> check them in parallel -> print each report
// in walk order as soon as it is ready.

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <tuple>
#include <set>
#include <thread>

#include "libpatch/archive/installed.h"
#include "tools/xpatch/archive_reader.h"
#include "libpatch/check/check.h"
#include "libpatch/check/package.h"
#include "tools/xpatch/retarget_report.h"
#include "libpatch/resolve/layer_dir.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/json.h"
#include "tools/xpatch/ordered_pool.h"

namespace xpatch::cli {
namespace {

using check::FileReport;
using resolve::Finding;
using resolve::Severity;
using resolve::Tree;

Json findings_json(const std::vector<Finding>& fs) {
  Json out = Json::array();
  for (const Finding& f : fs)
    out.push_back({{"severity", resolve::severity_name(f.severity)},
                   {"code", f.code},
                   {"object", f.object},
                   {"subject", f.subject},
                   {"message", f.message}});
  return out;
}

// One object per file, docs/json.md: `file` on the host, `path` in the root.
Json file_json(const FileReport& r, const resolve::Root& root) {
  const Tree& t = r.tree;
  Json j = json_object();
  j["file"] = root.host_path(r.path);
  j["path"] = r.path;
  j["ok"] = r.errors == 0;
  j["status"] = r.errors ? "errors" : r.warnings ? "warnings" : "ok";
  j["error"] = nullptr;
  const auto& top = t.nodes.front();
  bool elf = top.obj && top.obj->ok;
  j["elf"] = elf;
  j["arch"] = elf ? Json(top.obj->arch) : Json(nullptr);
  j["static"] = elf ? Json(t.is_static) : Json(nullptr);
  j["family"] = elf && t.config ? Json(resolve::family_name(t.family)) : Json(nullptr);
  j["interpreter"] = elf ? json_or_null(top.obj->interpreter) : Json(nullptr);
  j["errors"] = r.errors;
  j["warnings"] = r.warnings;
  j["findings"] = findings_json(t.findings);
  if (const auto& c = t.config) {
    Json l{{"path", c->interp}, {"found", c->interp_found}, {"defaults", c->origin_note}};
    if (c->family == resolve::Family::Glibc) {
      l["system_dirs"] = c->system_dirs;
      l["ld_so_conf"] = c->ld_so_conf;
      l["conf_dirs"] = c->conf_dirs;
      l["ld_so_cache"] = c->cache_path;
      l["cache"] = c->cache_state;
    } else {
      l["path_file"] = c->path_file;
      l["path_file_exists"] = c->path_file_exists;
      l["search_dirs"] = c->musl_dirs;
    }
    j["loader"] = std::move(l);
  } else {
    j["loader"] = nullptr;
  }
  Json& res = j["resolved"] = Json::array();
  for (const auto& e : t.edges) {
    std::optional<std::string> path;
    if (e.to >= 0) path = t.nodes[static_cast<std::size_t>(e.to)].path;
    else if (!e.stopped_at.empty()) path = e.stopped_at;  // the file the loader opened and stopped at
    res.push_back({{"requester", t.nodes[static_cast<std::size_t>(e.from)].path},
                   {"needed", e.name},
                   {"path", json_or_null(path)},
                   {"via", e.via}});
  }
  return j;
}
std::string to_json(const FileReport& r, const resolve::Root& root) { return json_line(file_json(r, root)); }

std::string severity_text(Severity s, const Style& st) {
  switch (s) {
    case Severity::Error: return st(fg(fmt::terminal_color::red) | fmt::emphasis::bold, "error  ");
    case Severity::Warning: return st(fg(fmt::terminal_color::yellow), "warning");
    case Severity::Info: break;
  }
  return st(fmt::emphasis::faint, "info   ");
}

// What to do about a code: libpatch's table (docs/check.md shows the same).
std::string_view remedy(std::string_view code) {
  const std::string_view r = resolve::remedy(code);
  return r.empty() ? "see docs/check.md" : r;
}

// Wraps `text` to `width` columns (0: no wrapping), later lines indented by `indent`.
std::string wrap(const std::string& text, std::size_t width, std::size_t indent) {
  if (width == 0 || width <= indent + 20 || text.size() <= width) return text;
  std::string out, line;
  std::size_t limit = width;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    std::string word = text.substr(i, j - i);
    if (!line.empty() && line.size() + 1 + word.size() > limit) {
      out += line + "\n";
      line = std::string(indent, ' ');
      limit = width;
    } else if (!line.empty() && line.find_first_not_of(' ') != std::string::npos) {
      line += ' ';
    }
    line += word;
    i = j + 1;
  }
  return out + line;
}

// Lists are shortened for people: the first few, then how many more.
std::string some(const std::vector<std::string>& v, std::size_t n = 3) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < n; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > n) out += fmt::format(" and {} more", v.size() - n);
  return out;
}

// The message without its leading "OBJECT: ", and a searched list without
// repeats ("searched /a/x, /a/x, /b/x" -> "searched /a/x, /b/x").
std::string without_repeats(std::string m) {
  auto at = m.find(" searched ");
  if (at == std::string::npos) return m;
  at += 10;
  std::vector<std::string> seen;
  for (std::size_t i = at; i <= m.size();) {
    std::size_t j = m.find(", ", i);
    if (j == std::string::npos) j = m.size();
    std::string item = m.substr(i, j - i);
    if (std::find(seen.begin(), seen.end(), item) == seen.end()) seen.push_back(std::move(item));
    i = j + 2;
  }
  return m.substr(0, at) + fmt::format("{}", fmt::join(seen, ", "));
}
std::string detail_of(const Finding& f) {
  std::string m = f.message;
  if (m.starts_with(f.object + ": ")) m.erase(0, f.object.size() + 2);
  return without_repeats(std::move(m));
}

// A library missing though a file of that name sits beside the requester:
// say why the loader did not look there, and what makes it look.
std::string beside_hint(const resolve::Root& root, const Finding& f, const std::string& top) {
  if (f.code != resolve::code::kNeededMissing || f.subject.find('/') != std::string::npos) return {};
  const auto slash = f.object.rfind('/');
  const std::string dir = slash == 0 || slash == std::string::npos ? "/" : f.object.substr(0, slash);
  if (!root.resolve((dir == "/" ? "" : dir) + "/" + f.subject).found()) return {};
  const std::string name = f.object.substr(slash + 1);
  return fmt::format(" (a {} is beside it in {}, but the loader does not search a file's own directory{}, and {} has "
                     "no $ORIGIN entry; xpatch --add-runpath '$ORIGIN' {} makes it look)",
                     f.subject, dir, f.object == top ? "" : " (and DT_RUNPATH is not inherited from the program)", name,
                     name);
}

// Findings grouped by cause, for the default text output: one cause (a code
// and what it is about) with every file it affects, each distinct detail
// (such as a searched list) said once.
struct Group {
  Severity severity;
  std::string code, subject;
  std::vector<std::string> files;                                      // tops, in order
  std::vector<std::pair<std::string, std::vector<std::string>>> details;  // detail -> objects
};
class Groups {
 public:
  void add(const std::string& top, const Finding& f, const std::string& hint = {}) {
    auto key = std::make_tuple(f.severity, f.code, f.subject);
    auto [it, fresh] = index_.try_emplace(key, groups_.size());
    if (fresh) groups_.push_back({f.severity, f.code, f.subject, {}, {}});
    Group& g = groups_[it->second];
    if (g.files.empty() || g.files.back() != top) g.files.push_back(top);
    std::string d = detail_of(f) + hint;
    auto dit = std::find_if(g.details.begin(), g.details.end(), [&](const auto& p) { return p.first == d; });
    if (dit == g.details.end()) g.details.push_back({d, {f.object}});
    else if (dit->second.back() != f.object) dit->second.push_back(f.object);
  }
  std::string text(const Style& st, bool quiet, std::size_t width) const {
    std::vector<const Group*> order;
    for (const Group& g : groups_)
      if (!(quiet && g.severity != Severity::Error) && g.severity != Severity::Info) order.push_back(&g);
    std::stable_sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
      if (a->severity != b->severity) return a->severity > b->severity;
      return a->files.size() > b->files.size();
    });
    std::string out;
    for (const Group* g : order) {
      std::string head = fmt::format("{}: {}, in {} file{}: {}", g->subject, g->code, g->files.size(),
                                     g->files.size() == 1 ? "" : "s", some(g->files));
      out += fmt::format("{} {}\n", severity_text(g->severity, st), wrap(head, width ? width - 8 : 0, 10));
      for (const auto& [d, objs] : g->details) {
        std::string line = g->details.size() > 1 ? fmt::format("{} ({}: {})", d, objs.size() == 1 ? "in" : fmt::format("in {}", objs.size()), some(objs, 2)) : d;
        out += "        " + wrap(line, width ? width - 8 : 0, 10) + "\n";
      }
      out += "        " + st(fmt::emphasis::faint, wrap("fix: " + std::string(remedy(g->code)), width ? width - 8 : 0, 10)) + "\n";
    }
    return out;
  }

 private:
  std::map<std::tuple<Severity, std::string, std::string>, std::size_t> index_;
  std::vector<Group> groups_;
};

// --tree: what each DT_NEEDED resolved to, each object expanded once; a
// reference to an object already shown (libc, the loader) is one short line.
void tree_text(const Tree& t, int node, int depth, std::set<int>& expanded, std::string& out, const Style& st) {
  if (!expanded.insert(node).second) return;
  std::string indent(static_cast<std::size_t>(depth) * 4 + 4, ' ');
  std::vector<std::string> again;
  for (const auto& e : t.edges) {
    if (e.from != node) continue;
    if (e.to < 0) {
      out += fmt::format("{}{} => {}\n", indent, e.name, st(fg(fmt::terminal_color::red), "not found (" + e.via + ")"));
      continue;
    }
    const auto& n = t.nodes[static_cast<std::size_t>(e.to)];
    bool first = !expanded.count(e.to) && n.loader == node;
    if (!first && (expanded.count(e.to) || e.to == t.interp_node || e.via == "loaded" || e.via == "loader")) {
      again.push_back(e.name);
      continue;
    }
    out += fmt::format("{}{} => {} {}\n", indent, e.name, n.path, st(fmt::emphasis::faint, "[" + e.via + "]"));
    if (first) tree_text(t, e.to, depth + 1, expanded, out, st);
  }
  if (!again.empty())
    out += fmt::format("{}{}\n", indent, st(fmt::emphasis::faint, fmt::format("also {} (above)", fmt::join(again, ", "))));
}

// --list: like lddtree -l, every file the program loads, once, one per line.
std::string list_text(const FileReport& r) {
  const Tree& t = r.tree;
  std::string out = r.path + "\n";
  for (std::size_t i = 1; i < t.nodes.size(); ++i) out += t.nodes[i].path + "\n";
  for (const auto& e : t.edges)
    if (e.to < 0) out += fmt::format("{} => not found ({})\n", e.name, e.via);
  return out;
}

// -v and --tree: the report of one file.
std::string to_text(const FileReport& r, const resolve::Root& root, const CheckOptions& opt, const Style& st,
                    std::size_t width) {
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
    if (t.interp_node >= 0) {
      out += fmt::format("    {} {}\n", t.nodes[static_cast<std::size_t>(t.interp_node)].path,
                         st(fmt::emphasis::faint, "[interpreter]"));
      expanded.insert(t.interp_node);
    }
    tree_text(t, 0, 0, expanded, out, st);
  }
  std::vector<std::string> codes;  // each code's remedy once per file, after its findings
  for (const Finding& f : t.findings) {
    if (opt.quiet && f.severity != Severity::Error) continue;
    if (f.severity == Severity::Info && !opt.tree) continue;
    out += fmt::format("  {} {:<20} {}\n", severity_text(f.severity, st), f.code,
                       wrap(without_repeats(f.message) + beside_hint(root, f, t.nodes.front().path),
                            width ? width - 31 : 0, 31));
    if (f.severity != Severity::Info && std::find(codes.begin(), codes.end(), f.code) == codes.end())
      codes.push_back(f.code);
  }
  for (const std::string& c : codes)
    out += "  " + st(fmt::emphasis::faint, wrap(fmt::format("fix ({}): {}", c, remedy(c)), width ? width - 2 : 0, 4)) +
           "\n";
  return out;
}

std::size_t terminal_width() {
  if (::isatty(STDOUT_FILENO) != 1) return 0;
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

// A package given to --package: a directory is a staged tree, anything
// else a package archive (libpatch/archive, through xpatch-archive.so).
Expected<resolve::Layer> read_layer(const std::string& path, const archive::Limits& limits) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    // One descriptor per file of the tree: allow as many as the hard limit.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    return resolve::layer_from_directory(path);
  }
  return read_package_archive(path, limits);
}

// --retarget-preview: per tuple, each package file as `retarget --dry-run`
// shows it (check::retarget_preview plans them as retarget would, over the
// root with the packages); JSON: each file's retarget object with
// "preview": true, and the counts per tuple for the summary.
Json print_retarget_preview(const std::shared_ptr<resolve::Root>& after, const CheckOptions& opt, const Style& st) {
  Json summaries = Json::array();
  const unsigned jobs = opt.jobs ? opt.jobs : std::max(1u, std::thread::hardware_concurrency());
  for (const check::RetargetPreview& pv :
       check::retarget_preview(after, opt.ignore_missing, jobs, retarget_verifier(false))) {
    RetargetTally tally;
    const bool libc_missing = !pv.batch.loader_present;
    if (!opt.json)
      fmt::print("{}\n", st(fmt::emphasis::bold, fmt::format("once installed, `xpatch retarget --tuple {}` would do "
                                                             "this to the packages' files under {}:",
                                                             pv.config.tuple, pv.config.prefix)));
    for (const retarget::BatchFile& b : pv.files) {
      tally.add(b);
      if (opt.json) {
        Json j = retarget_file_json(b);
        j["preview"] = true;
        print_json(j);
      } else if (b.error) {
        fmt::print("{}: {}: {}\n", st(fmt::emphasis::bold, b.name), st(fg(fmt::terminal_color::red), "error"),
                   b.error->message);
      } else {
        print_retarget_plan(b, st, libc_missing);
      }
    }
    if (!opt.json)
      fmt::print("retarget preview for {}: {} would be retargeted, {} already right, {} skipped, {} left as they "
                 "were, {} error{}\n",
                 pv.config.tuple, tally.done, tally.right, tally.skipped, tally.left, tally.errors,
                 tally.errors == 1 ? "" : "s");
    summaries.push_back({{"tuple", pv.config.tuple},
                         {"loader", pv.batch.loader},
                         {"loader_present", pv.batch.loader_present},
                         {"retargeted", tally.done},
                         {"already_right", tally.right},
                         {"skipped", tally.skipped},
                         {"left_as_they_were", tally.left},
                         {"errors", tally.errors}});
  }
  if (!opt.json && summaries.empty())
    fmt::print("retarget preview: no package installs files under /usr/<tuple>/: retarget would change nothing\n");
  return summaries;
}

// "pkg (origin)" for each package a finding comes from.
std::string packages_text(const resolve::Root& root, const std::vector<std::size_t>& layers) {
  std::vector<std::string> names;
  for (std::size_t i : layers)
    names.push_back(root.layer_package(i).empty() ? root.layer_origin(i) : root.layer_package(i));
  return names.empty() ? std::string("the packages") : fmt::format("{}", fmt::join(names, ", "));
}

// check --package: the packages laid over a second view of ROOT; their
// files and the root's files whose load set they change are checked in
// both views, and each finding judged (check::judge_file).
int run_check_packages(const CheckOptions& opt) {
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  const std::size_t width = opt.json ? 0 : terminal_width();
  auto before_root = resolve::Root::open(opt.root);
  auto after_root = resolve::Root::open(opt.root);
  if (!before_root || !after_root) {
    print_error((before_root ? after_root : before_root).error().message);
    return kError;
  }
  // The reverse-dependency index reads only ROOT as it is: it is built
  // while the packages are read and decompressed (two independent halves,
  // about equal on a large package), unless one worker was asked for.
  resolve::Resolver before(*before_root);
  auto build_index = [&] { return check::ReverseIndex::build(before, opt.walk); };
  std::future<check::ReverseIndex> index;
  if (opt.jobs != 1) index = std::async(std::launch::async, build_index);
  std::vector<archive::Installed> installed;  // per package: the version it upgrades, from ROOT's database
  for (const std::string& p : opt.packages) {
    archive::Limits limits;
    limits.whole_elf = opt.retarget_preview;  // the planner reads whole files
    auto layer = read_layer(p, limits);
    if (!layer) {
      print_error(layer.error().message);
      return kError;
    }
    // An upgrade deletes the installed version's files that this one lacks.
    installed.push_back(archive::installed_version(**before_root, *layer));
    layer->removed = installed.back().removed;
    if (auto s = (*after_root)->add_layer(*layer); !s) {
      print_error(s.error().message);
      return kError;
    }
  }
  resolve::Resolver after(*after_root);
  resolve::SymbolChecker sym_before(**before_root), sym_after(**after_root);
  const unsigned jobs = opt.jobs ? opt.jobs : std::max(1u, std::thread::hardware_concurrency());
  check::PackageTargets targets =
      check::package_targets(before, after, index.valid() ? index.get() : build_index(), jobs);
  std::vector<check::Input> inputs = targets.package_files;
  inputs.insert(inputs.end(), targets.affected.begin(), targets.affected.end());

  Groups introduced, already;
  unsigned files = 0, pkg_files = 0, new_errors = 0, old_errors = 0, warnings = 0, bad_files = 0, ignored = 0;
  const resolve::Root& aroot = **after_root;
  ordered_pool<check::Verdict>(
      inputs.size(), workers_for(inputs.size(), opt.jobs), 1024,
      [&](std::size_t i) {
        return check::judge_file(before, after, inputs[i], opt.symbols ? &sym_before : nullptr,
                                 opt.symbols ? &sym_after : nullptr, opt.ignore_missing);
      },
      [&](check::Verdict&& v) {
        const FileReport& r = v.after;
        if (r.skipped) return;
        const auto& top = r.tree.nodes.front();
        if (top.obj && top.obj->ok) {
          ++files;
          if (v.layer) ++pkg_files;
        }
        new_errors += v.introduced_errors;
        old_errors += v.before_errors;
        warnings += r.warnings;
        ignored += r.ignored;
        if (v.introduced_errors || (opt.strict && r.errors)) ++bad_files;
        if (opt.json) {
          Json j = file_json(r, aroot);
          j["package"] = v.layer ? Json(aroot.layer_origin(*v.layer)) : Json(nullptr);
          Json& fs = j["findings"];
          for (std::size_t k = 0; k < v.findings.size(); ++k) {
            fs[k]["introduced"] = v.findings[k].introduced;
            Json by = Json::array();
            for (std::size_t l : v.findings[k].layers) by.push_back(aroot.layer_origin(l));
            fs[k]["packages"] = std::move(by);
          }
          print_json(j);
          return;
        }
        for (const check::Judged& f : v.findings) {
          if (f.introduced) introduced.add(r.path, f.finding, fmt::format(" (by {})", packages_text(aroot, f.layers)));
          else already.add(r.path, f.finding, beside_hint(aroot, f.finding, r.path));
        }
      },
      [](std::size_t) {});
  const bool failed = new_errors || (opt.strict && old_errors);
  // What each upgrade deletes, as the layered view hides it.
  std::vector<std::vector<std::string>> removes(aroot.layer_count());
  for (const resolve::Root::LayeredPath& p : aroot.layered_paths())
    if (p.kind == resolve::LayerEntry::Kind::Removed) removes[p.layer].push_back(p.path);
  if (opt.json) {
    Json j = json_object();
    Json pkgs = Json::array();
    for (std::size_t i = 0; i < aroot.layer_count(); ++i) {
      const archive::Installed& in = installed[i];
      pkgs.push_back({{"origin", aroot.layer_origin(i)},
                      {"package", json_or_null(aroot.layer_package(i).empty() ? std::optional<std::string>()
                                                                              : aroot.layer_package(i))},
                      {"installed", json_or_null(in.record.empty() ? std::optional<std::string>() : in.record)},
                      {"removes", removes[i]},
                      {"installed_note", json_or_null(in.note.empty() ? std::optional<std::string>() : in.note)}});
    }
    j["summary"] = {{"root", opt.root},
                    {"files", files},
                    {"files_with_errors", bad_files},
                    {"errors", new_errors + old_errors},
                    {"warnings", warnings},
                    {"ignored", ignored},
                    {"packages", std::move(pkgs)},
                    {"package_files", targets.package_files.size()},
                    {"affected_files", targets.affected.size()},
                    {"indexed_files", targets.indexed},
                    {"introduced_errors", new_errors},
                    {"errors_before", old_errors}};
    if (opt.retarget_preview) j["summary"]["retarget_preview"] = print_retarget_preview(*after_root, opt, st);
    print_json(j);
    std::fflush(stdout);
    return failed ? kProblem : kOk;
  }
  for (std::size_t i = 0; i < aroot.layer_count(); ++i) {
    if (!installed[i].note.empty()) fmt::print("note: {}: no files removed\n", installed[i].note);
    if (!removes[i].empty() && !opt.quiet)
      fmt::print("{} upgrades the version {} lists: the install removes {}\n", packages_text(aroot, {i}),
                 installed[i].record, fmt::join(removes[i], ", "));
  }
  std::string out = introduced.text(st, opt.quiet, width);
  if (!out.empty()) fmt::print("{}\n{}", st(fmt::emphasis::bold, "broken by this install:"), out);
  std::string old = already.text(st, opt.quiet, width);
  if (!old.empty()) fmt::print("{}\n{}", st(fmt::emphasis::bold, "already broken before (not counted without --strict):"), old);
  if (opt.retarget_preview) print_retarget_preview(*after_root, opt, st);
  auto summary = fmt::format(
      "checked {} ELF file{} of the package{} and {} of {} affected in {} (of {} indexed): {} error{} introduced, {} "
      "already there, {} warning{}",
      pkg_files, pkg_files == 1 ? "" : "s", aroot.layer_count() == 1 ? "" : "s", files - pkg_files,
      targets.affected.size(), opt.root, targets.indexed, new_errors, new_errors == 1 ? "" : "s", old_errors, warnings,
      warnings == 1 ? "" : "s");
  fmt::print("{}\n", failed ? st(fg(fmt::terminal_color::red), summary) : st(fg(fmt::terminal_color::green), summary));
  std::fflush(stdout);
  return failed ? kProblem : kOk;
}

}  // namespace

int run_check(const CheckOptions& opt) {
  if (!opt.packages.empty() && opt.explain.empty()) return run_check_packages(opt);
  if (!opt.explain.empty()) {  // --explain CODE: the remedy, without a root
    const std::string_view r = remedy(opt.explain);
    if (r == remedy("")) {  // a word the user typed that names no code: a usage error
      print_error(fmt::format("check --explain: no finding code \"{}\"; the codes are listed in docs/check.md",
                              opt.explain));
      return kError;
    }
    fmt::print("{}: {}\n", opt.explain, r);
    return kOk;
  }
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  const std::size_t width = opt.json ? 0 : terminal_width();
  // Without -v, --tree or --list, findings are grouped by cause and printed
  // after the walk; otherwise each file's report as soon as it is ready.
  const bool grouped = !opt.json && !opt.tree && !opt.list && !opt.verbose;
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
  resolve::SymbolChecker symbols(**root);

  Groups groups;
  unsigned errors = 0, warnings = 0, infos = 0, files = 0, bad_files = 0, ignored = 0;
  // A finding about the walk itself (a looping or escaping link, a
  // directory that cannot be read), in walk order among the files.
  auto walk_finding = [&](const Finding& f) {
    check::count({f}, errors, warnings, infos);
    if (opt.quiet && f.severity != Severity::Error) return;
    if (opt.json) {
      Json j = json_object();
      j["file"] = (*root)->host_path(f.object);
      j["path"] = f.object;
      j["walk"] = true;
      j["findings"] = findings_json({f});
      print_json(j);
    } else if (grouped) {
      groups.add(f.object, f);
    } else {
      fmt::print("{}\n  {} {:<20} {}\n", st(fmt::emphasis::bold, f.object), severity_text(f.severity, st), f.code,
                 f.message);
    }
  };

  const bool progress = !opt.json && ::isatty(STDERR_FILENO) == 1;
  const auto start = std::chrono::steady_clock::now();
  bool progress_shown = false;
  auto clear_progress = [&] {
    if (progress_shown) fmt::print(stderr, "\r\033[K");
    progress_shown = false;
  };
  // The walk streams its files into the checkers as it reads directories
  // (nothing is collected first, so memory does not grow with the root),
  // and each report is printed in walk order as soon as it is ready.
  struct Job {
    check::Input in;
    std::optional<Finding> walk;
  };
  // A report is formatted by the worker that made it (--json, -v, --tree,
  // --list): the text is the worker's work, in parallel, and its tree is
  // freed where it was built; the calling thread prints in order and counts.
  // Grouped output needs the findings themselves, after the walk.
  struct Done {
    FileReport report;
    std::optional<Finding> walk;
    std::string out;      // formatted by the worker (!grouped)
    bool elf_ok = false;  // the top file was read as ELF (counted as checked)
  };
  ordered_stream<Job, Done>(
      workers_for(SIZE_MAX, opt.jobs), kStreamWindow,
      [&](auto push) {
        check::collect(**root, paths, opt.walk,
                       [&](check::Input in, std::optional<Finding> f) { push(Job{std::move(in), std::move(f)}); });
      },
      [&](Job&& job) {
        if (job.walk) return Done{{}, std::move(job.walk), {}, false};
        Done d{check::check_file(resolver, job.in, opt.symbols ? &symbols : nullptr), std::nullopt, {}, false};
        FileReport& r = d.report;
        check::ignore_missing(r, opt.ignore_missing);
        if (r.skipped) return d;
        const auto& top = r.tree.nodes.front();
        d.elf_ok = top.obj && top.obj->ok;
        if (!grouped) {
          d.out = opt.json ? to_json(r, **root) : opt.list ? list_text(r) : to_text(r, **root, opt, st, width);
          r.tree = {};
        }
        return d;
      },
      [&](Done&& d) {
        if (d.walk) return walk_finding(*d.walk);
        FileReport& r = d.report;
        if (r.skipped) return;
        if (d.elf_ok) ++files;  // a missing or unreadable file was not checked
        errors += r.errors;
        warnings += r.warnings;
        infos += r.infos;
        ignored += r.ignored;
        if (r.errors) ++bad_files;
        if (grouped) {
          for (const Finding& f : r.tree.findings) groups.add(r.path, f, beside_hint(**root, f, r.tree.nodes.front().path));
          return;
        }
        if (d.out.empty()) return;
        clear_progress();
        std::fwrite(d.out.data(), 1, d.out.size(), stdout);
      },
      [&](std::size_t done) {
        if (progress && std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) {
          std::fflush(stdout);
          fmt::print(stderr, "\r\033[Kxpatch check: {} files", done);
          progress_shown = true;
        }
      });
  clear_progress();
  if (opt.json) {
    Json j = json_object();
    j["summary"] = {{"root", opt.root},     {"files", files},       {"files_with_errors", bad_files},
                    {"errors", errors},     {"warnings", warnings}, {"ignored", ignored}};
    print_json(j);
  } else {
    if (grouped) {
      std::string out = groups.text(st, opt.quiet, width);
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    auto summary = fmt::format("checked {} ELF file{} in {}: {} error{} in {} file{}, {} warning{}", files,
                               files == 1 ? "" : "s", opt.root, errors, errors == 1 ? "" : "s", bad_files,
                               bad_files == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
    if (ignored) summary += fmt::format(", {} ignored (--ignore-missing)", ignored);
    fmt::print("{}\n", errors ? st(fg(fmt::terminal_color::red), summary) : st(fg(fmt::terminal_color::green), summary));
  }
  std::fflush(stdout);
  return errors ? kProblem : kOk;
}

}  // namespace xpatch::cli
