// xpatch: retarget foreign-architecture ELF binaries into a shared multi-arch
// root. This file only wires the command line to libpatch; each subcommand
// is a function in its own file.

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <new>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/xpatch/cli.h"
#include "tools/xpatch/out_of_memory.h"

namespace {

constexpr const char* kExitCodes = R"(Exit codes:
  0  success (also when nothing needed to change)
  1  a file had a problem that is not an error (show: named, but not ELF)
  2  usage error, I/O error, malformed ELF, or an edit that cannot apply;
     the file is left byte-for-byte unchanged)";

constexpr const char* kPatchHelp = R"(
Rewriting (the default command):
  xpatch --interp /usr/aarch64-linux-musl/lib/ld-musl-aarch64.so.1 app
  xpatch --runpath '/usr/aarch64-linux-gnu/lib:$ORIGIN/../lib' app
  xpatch --replace-needed libssl.so.1.1=libssl.so.3 --dry-run app
  xpatch --interp /lib/ld-linux.so.3 -o app.patched app

All edits in one call are planned together. Values that fit are written in
place (zero growth); the rest is appended in one new segment. The program
header table stays where load base + e_phoff finds it, so output keeps
working under qemu-user. Files are
replaced atomically (temp file, synced, renamed; --no-sync skips the syncs),
keeping mode, owner and
extended attributes; a symlink argument patches its target; other hard links
to the file keep the old contents. Patching twice with the same values
changes nothing.

Reporting:
  xpatch show app                      interpreter, needed, runpath, tuple
  xpatch show --json /usr/lib | jq .   one JSON object per file per line

Verifying:
  xpatch check ROOT                    every DT_NEEDED resolves inside ROOT?
  xpatch check --tree ROOT /usr/bin/x  the tree, as the program's own loader sees it

Moving packages into the shared root:
  xpatch retarget --tuple aarch64-linux-musl --root ROOT DIR   interpreter + runpath, checked
  xpatch setup --tuple aarch64-linux-musl --root ROOT --write   binfmt line, search path, links
)";

int run(int argc, char** argv);
// --color auto|always|never: a plain word, checked here, so that the help
// shows the three words and nothing of the parser's internals.
void add_color(CLI::App* app, xpatch::cli::ColorMode& mode) {
  using xpatch::cli::ColorMode;
  app->add_option_function<std::string>(
         "--color",
         [&mode](const std::string& v) {
           mode = v == "always" ? ColorMode::Always : v == "never" ? ColorMode::Never : ColorMode::Auto;
         },
         "colour: auto (on a terminal, unless NO_COLOR is set), always or never")
      ->type_name("auto|always|never")
      ->check(CLI::Validator(
          [](const std::string& v) {
            return v == "auto" || v == "always" || v == "never"
                       ? std::string()
                       : "--color takes auto, always or never, not \"" + v + "\"";
          },
          ""));
}

// Optimal string alignment distance: typos, one swap counting as one.
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// The closest of `names` to `word`, if it is close enough to be a typo.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& names) {
  std::optional<std::string> best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& n : names) {
    std::size_t d = distance(word, n);
    if (d < best_d) best_d = d, best = n;
  }
  return best;
}

// Every option name of `app`, spelled as on the command line.
std::vector<std::string> option_names(const CLI::App* app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app->get_options()) {
    for (const auto& n : o->get_lnames()) out.push_back("--" + n);
    for (const auto& n : o->get_snames()) out.push_back("-" + n);
  }
  return out;
}

// `--name=` with nothing after the `=` means an empty value, as `--name ""`
// does. CLI11 would instead take the next argument as the value, so
// `xpatch --runpath= a b` set b's runpath to "a" and left a alone. Splits
// each such argument of an option that takes a value (of `app` or any of
// its subcommands) in two; after `--` nothing is an option.
std::vector<std::string> split_empty_values(const CLI::App& app, int argc, char** argv) {
  auto takes_value = [&](std::string_view name) {
    auto in = [&](const CLI::App* a) {
      for (const CLI::Option* o : a->get_options())
        if (o->get_expected_min() > 0 && !o->get_positional())
          for (const auto& n : o->get_lnames())
            if (n == name) return true;
      return false;
    };
    if (in(&app)) return true;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      if (in(sub)) return true;
    return false;
  };
  std::vector<std::string> out(argv, argv + argc);
  for (std::size_t i = 1; i < out.size(); ++i) {
    const std::string& a = out[i];
    if (a == "--") break;
    if (a.size() > 3 && a.starts_with("--") && a.back() == '=' && a.find('=') == a.size() - 1 &&
        takes_value(std::string_view(a).substr(2, a.size() - 3))) {
      out[i].pop_back();
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::string());
      ++i;
    }
  }
  return out;
}

// Arguments the parser did not take: "unknown option `--jsn`; did you mean
// `--json`?". Returns false when there were any.
bool report_unknown(const CLI::App* app, const std::string& where) {
  bool clean = true;
  for (const std::string& arg : app->remaining()) {
    if (arg == "--") continue;  // the end of options, kept in the list by CLI11
    std::string word = arg.substr(0, arg.find('='));
    std::string msg;
    if (word == "--set-rpath" && where.empty()) {
      msg = "unknown option `--set-rpath`: patchelf's --set-rpath writes DT_RUNPATH, which is xpatch's --runpath "
            "(xpatch's --rpath writes the legacy DT_RPATH)";
    } else if (word.starts_with("-")) {
      msg = fmt::format("unknown option `{}`{}", word, where.empty() ? "" : " for " + where);
      if (auto s = closest(word, option_names(app))) msg += fmt::format("; did you mean `{}`?", *s);
    } else {
      msg = fmt::format("unexpected argument `{}`{}", arg, where.empty() ? "" : " for " + where);
    }
    xpatch::cli::print_error(msg + fmt::format(" (xpatch {}--help)", where.empty() ? "" : where + " "));
    clean = false;
  }
  return clean;
}

}  // namespace

// Whatever escapes a command (std::bad_alloc from an allocation the input
// provoked, std::system_error from a thread that could not start) is an
// error like any other: exit 2 with a message, not std::terminate's abort.
// No fmt here: formatting could allocate again.
// Freeing memory allocates too: nlohmann::json's destructor flattens a tree
// into a std::vector, and an allocation failing inside a destructor is
// std::terminate (show --json under `ulimit -v 18000` aborted so, in a
// worker, the first failure being there). So a reserve is set aside
// first, in two halves (out_of_memory.h): the first failure frees one and
// lets the allocation retry, and the work stops at its next safe point; a
// second failure frees the other and throws, so what is destroyed on the
// way out has room.
namespace {
// Each half is more than the 1 MiB glibc's malloc maps at least when it
// cannot grow its heap (MMAP_AS_MORECORE_SIZE): a smaller one would not let
// the retry succeed.
constexpr std::size_t kHalf = (std::size_t{1} << 20) + (std::size_t{64} << 10);
std::atomic<char*> g_reserve{nullptr};  // 2 * kHalf of address space, never touched
std::atomic<int> g_halves_left{2};
void out_of_memory() {
  char* r = g_reserve.load();
  const int left = g_halves_left.fetch_sub(1);  // whichever threads fail, each half is freed once
  if (r && left == 2) {
    xpatch::cli::g_memory_short = true;
    ::munmap(r, kHalf);
    return;  // operator new tries again
  }
  if (r && left == 1) ::munmap(r + kHalf, kHalf);
  throw std::bad_alloc();
}
}  // namespace

int main(int argc, char** argv) {
  if (void* r = ::mmap(nullptr, 2 * kHalf, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); r != MAP_FAILED)
    g_reserve = static_cast<char*>(r);
  std::set_new_handler(out_of_memory);
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fputs("xpatch: out of memory (std::bad_alloc)\n", stderr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xpatch: internal error: %s\n", e.what());
  } catch (...) {
    std::fputs("xpatch: internal error: an unknown exception\n", stderr);
  }
  return xpatch::cli::kError;
}

namespace {

int run(int argc, char** argv) {
  using namespace xpatch::cli;
  // Past a file size limit, write() must fail with EFBIG so the error is
  // reported and the original kept, instead of the process dying.
  std::signal(SIGXFSZ, SIG_IGN);
  // patchelf's command line: `xpatch patchelf ARGS`, or this binary run as `patchelf` (a symlink).
  if (std::string_view self = argv[0]; self.substr(self.rfind('/') + 1) == "patchelf")
    return run_patchelf("patchelf", {argv + 1, argv + argc});
  if (argc > 1 && std::string_view(argv[1]) == "patchelf") return run_patchelf("xpatch patchelf", {argv + 2, argv + argc});
  CLI::App app{"xpatch: report, rewrite and verify the loader settings of ELF binaries of any architecture.",
               "xpatch"};
  app.footer(std::string(kPatchHelp) + "\n" + kExitCodes);
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("xpatch ") + kVersion);

  // Unknown options are collected, not thrown, so that each gets a
  // "did you mean" (report_unknown).
  app.allow_extras();

  // ---- rewriting: options on the top-level command ----
  PatchOptions patch;
  auto& e = patch.edits;
  app.add_option("files", patch.files, "ELF files to rewrite")->type_name("FILE");
  app.add_option("--interp,--set-interpreter", e.interpreter, "set PT_INTERP, the program's loader")->type_name("PATH");
  auto* rp = app.add_option("--runpath,--set-runpath", e.runpath, "set DT_RUNPATH (colon-separated), converting a DT_RPATH")->type_name("DIRS");
  auto* arp = app.add_option("--add-runpath", e.add_runpath,
                             "append to the search path in force (DT_RUNPATH, else DT_RPATH), keeping its tag; repeatable, skips duplicates")
                  ->type_name("DIRS")
                  ->delimiter(':')
                  ->allow_extra_args(false);
  auto* rmrp = app.add_flag("--remove-runpath", e.remove_runpath, "remove DT_RUNPATH and DT_RPATH");
  app.add_option("--rpath", e.rpath, "set DT_RPATH, converting a DT_RUNPATH (legacy; inherited by dependencies in glibc)")
      ->type_name("DIRS");
  std::vector<std::string> replace_raw;
  app.add_option("--replace-needed", replace_raw, "replace DT_NEEDED OLD with NEW; repeatable")
      ->type_name("OLD=NEW")
      ->delimiter(',')
      ->allow_extra_args(false);
  app.add_option("--add-needed", e.add_needed, "add a DT_NEEDED library; repeatable")
      ->type_name("LIB")
      ->allow_extra_args(false);
  app.add_option("--remove-needed", e.remove_needed, "remove a DT_NEEDED library; repeatable")
      ->type_name("LIB")
      ->allow_extra_args(false);
  app.add_option("--soname,--set-soname", e.soname, "set DT_SONAME")->type_name("NAME");
  app.add_option("-o,--output", patch.output,
                 "write the result to OUT instead of in place (one input file); OUT must be a regular file or a new name")
      ->type_name("OUT");
  app.add_flag("-n,--dry-run", patch.dry_run, "print the plan (strategy per edit, growth) and write nothing");
  app.add_flag("--no-sync", patch.no_sync,
               "skip the syncs: faster, still atomic for readers, but not guaranteed on disk after a crash");
  app.add_flag("--verify", patch.verify, "re-read the output with libpatch and LIEF before writing it");
  app.add_flag("--json", patch.json, "print the plan of each file as a JSON object per line");
  app.add_flag("-v,--verbose", patch.verbose, "say what was done to each file");
  app.add_flag("-f,--force", patch.force,
               "apply an edit whose result cannot run (a loader of another architecture or libc), or replace a "
               "file whose owner cannot be kept");
  add_color(&app, patch.color);

  // The one walk's choice (resolve::WalkOptions), the same in show, check and retarget.
  auto walk_flags = [](CLI::App* cmd, xpatch::resolve::WalkOptions& w) {
    cmd->add_flag("--cross-filesystems", w.cross_filesystems,
                  "descend into other filesystems too (never /proc, /sys or the like)");
    cmd->add_flag_callback("--one-file-system", [&w] { w.cross_filesystems = false; },
                           "stay on each directory's own filesystem, as find -xdev (the default)");
  };

  // Each subcommand gets its options only when its name is on the command
  // line: building all of them cost a one-file patch call more CPU than the
  // patch itself (1.1 M of its 3.5 M instructions, callgrind; issue 16).
  // `xpatch --help` lists the subcommands without their options anyway.
  // A subcommand that is not named is not built at all (null), unless help
  // is asked for, which lists them: four Apps cost a patch call 78 k of
  // its 2.6 M instructions.
  auto named = [&](std::string_view sub) { return std::find(argv + 1, argv + argc, sub) != argv + argc; };
  const bool help = named("--help") || named("-h");
  auto subcommand = [&](const char* name, const char* what) {
    return named(name) || help ? app.add_subcommand(name, what) : nullptr;
  };
  auto ran = [](const CLI::App* sub) { return sub && *sub; };
  // Bound by options below, so they live as long as the parse.
  std::vector<std::string> check_args, su_args;
  bool rt_write = false, su_dry = false;  // the defaults; accepted so that retarget and setup take the same spellings

  // ---- show ----
  ShowOptions show;
  CLI::App* show_cmd = subcommand(
      "show", "Print interpreter, needed libraries, runpath/rpath, soname, architecture and GNU tuple.");
  if (named("show")) {  // and so show_cmd is not null
    show_cmd->footer(std::string("\nDirectories are walked recursively; files in them that are not ELF are\n"
                                 "skipped. A file named explicitly that is not ELF is reported (exit 1).\n"
                                 "--json prints one object per file per line; see docs/json.md.\n\n") +
                     kExitCodes);
    show_cmd->add_option("paths", show.paths, "ELF files or directories")->type_name("PATH");
    show_cmd->add_flag("--stdin", show.from_stdin, "also read paths from standard input, one per line");
    show_cmd->add_flag("-0,--null", show.null_sep, "with --stdin: paths are NUL-separated (find -print0)");
    show_cmd->add_flag("--json", show.json, "one JSON object per file (JSON Lines)");
    show_cmd
        ->add_option("-F,--format", show.format,
                     "one line per file, like scanelf -F: %F path, %f file name, %i interpreter, %n needed, "
                     "%r runpath (else rpath), %S soname, %a arch, %t tuple, %l libc, %o type, %M class, %%")
        ->type_name("FORMAT");
    show_cmd->add_flag("-1,--oneline", show.oneline, "one line per file: --format '%F %t %i %r %n'");
    show_cmd->add_flag("-q,--quiet", show.quiet, "say nothing about named files that are not ELF (exit 1 still)");
    add_color(show_cmd, show.color);
    show_cmd->add_option("-j,--jobs", show.jobs, "parallel readers (default: one per core)")->type_name("N");
    walk_flags(show_cmd, show.walk);
  }

  // ---- check ----
  CheckOptions check;
  CLI::App* check_cmd = subcommand(
      "check", "Prove that every dependency resolves inside ROOT, following each loader's own search rules.");
  if (named("check")) {  // and so check_cmd is not null
    check_cmd->footer(R"(
ROOT is treated as /: absolute symlinks are re-rooted, '..' stops at ROOT,
and no file outside ROOT is opened (openat2 RESOLVE_IN_ROOT). Each program is
resolved the way its own loader would: glibc (DT_RPATH chain, DT_RUNPATH,
ROOT's own /etc/ld.so.cache (none there: no cache step), the loader's built-in directories,
DF_1_NODEFLIB, $ORIGIN/$LIB/$PLATFORM, wrong-architecture candidates skipped)
or musl (reserved libc names, every ancestor's runpath, only $ORIGIN,
<prefix>/etc/ld-musl-ARCH.path). Libraries are checked with their libc's rules.
Then, unless --no-symbols: every symbol version (glibc DT_VERNEED) and every
symbol a relocation needs must be defined in the load set, as the loader
looks them up (a lazy PLT slot that would fail at its first call: a warning).

Findings are grouped by cause ("libjvm.so: needed-missing, in 21 files"), each
with a line saying what to do; -v lists them per file. A PATH that exists on
this host under ROOT (./root/bin/x, /srv/root/bin/x) is that file in ROOT;
otherwise /bin/x is inside ROOT, and bin/x is relative to ROOT.

Examples:
  xpatch check /srv/multiarch-root
  xpatch check --ignore-missing 'libGL.so*' -q /srv/root
  xpatch check --tree /srv/root /usr/aarch64-linux-musl/bin/app
  find pkg/ -type f -print0 | sed -z 's|^pkg||' | xpatch check --stdin -0 /srv/root
  xpatch check --json /srv/root | jq 'select(.ok == false)'
  xpatch check --package ./foo_1.2_arm64.deb --package ./libfoo2_1.2_arm64.deb /srv/root
  xpatch check --package staging/ /srv/root     # a staged tree, laid over /
  xpatch check --package ./foo_1.2_arm64.deb --retarget-preview /srv/root   # and what retarget would change

Before an install, --package PKG (repeatable; an archive, or a directory
taken as / and laid over ROOT) says what installing the packages, in order,
would do, without writing anything: each ELF file of the packages is checked
at its installed path, and so is every file of ROOT whose load set includes
a file they add or replace (found through an index of who needs which
soname, not by checking all of ROOT). Each file is checked without and with
the packages: a finding only in the second is "broken by this install" and
names its package; one in both is "already broken before".

Finding codes and what to do about each: docs/check.md.

Exit codes:
  0  no finding of error severity (warnings may remain); with --package: no
     error introduced by the packages
  1  at least one error: something would fail to load; with --package: an
     error the packages introduce (--strict: or one already there)
  2  usage or I/O error (ROOT cannot be opened, a package cannot be read))");
    check_cmd->add_option("--root", check.root, "the root directory, taken as / (or the first argument)")
        ->type_name("ROOT");
    check_cmd
        ->add_option("args", check_args,
                     "ROOT (unless --root), then files or directories in it (default: all of ROOT): host paths "
                     "under ROOT, or paths inside ROOT")
        ->type_name("PATH");
    check_cmd->add_flag("--stdin", check.from_stdin, "also read paths inside ROOT from standard input, one per line");
    check_cmd->add_flag("-0,--null", check.null_sep, "with --stdin: paths are NUL-separated (find -print0)");
    check_cmd->add_flag("--json", check.json, "one JSON object per file (JSON Lines), then a summary object");
    check_cmd->add_flag("--tree", check.tree,
                        "print each file's resolution tree: what each DT_NEEDED resolved to and why");
    check_cmd->add_flag("-l,--list", check.list,
                        "print each file and every file it loads, one per line (like lddtree -l)");
    check_cmd->add_flag("-v,--verbose", check.verbose, "findings per file, instead of grouped by cause");
    check_cmd->add_flag("-q,--quiet", check.quiet, "print only errors (grouped) and the summary");
    check_cmd
        ->add_option("--ignore-missing", check.ignore_missing,
                     "a DT_NEEDED glob that may stay unresolved: not an error (repeatable)")
        ->type_name("GLOB")
        ->allow_extra_args(false);
    check_cmd->add_option("--explain", check.explain, "what to do about a finding code (docs/check.md), then stop")
        ->type_name("CODE");
    add_color(check_cmd, check.color);
    check_cmd->add_option("-j,--jobs", check.jobs, "parallel workers (default: one per core)")->type_name("N");
    check_cmd->add_flag_callback("--no-symbols", [&check] { check.symbols = false; },
                                 "only resolve DT_NEEDED: skip the symbol-version and undefined-symbol checks");
    check_cmd
        ->add_option("--package", check.packages,
                     "a package about to be installed (archive, or staged directory taken as /): check what "
                     "installing it over ROOT would break (repeatable, in install order)")
        ->type_name("PKG")
        ->allow_extra_args(false);
    check_cmd->add_flag("--strict", check.strict, "with --package: exit 1 also for errors that were there before");
    check_cmd->add_flag("--retarget-preview", check.retarget_preview,
                        "with --package: also show what `retarget` would change in the packages' files under "
                        "/usr/<tuple>/ once installed (as --dry-run would; nothing is written; the exit status "
                        "stays the verdict's)");
    walk_flags(check_cmd, check.walk);
  }

  // ---- retarget ----
  RetargetOptions rt;
  CLI::App* rt_cmd = subcommand(
      "retarget", "Move a package's binaries into the /usr/<tuple> layout: interpreter, runpath, then a check.");
  if (named("retarget")) {  // and so rt_cmd is not null
    rt_cmd->footer(R"(
For every ELF file of TUPLE's architecture and libc under PATH:
  - PT_INTERP becomes PREFIX/lib/<the tuple's loader> (ld-musl-aarch64.so.1,
    ld-linux-armhf.so.3, ...; --interp overrides it);
  - DT_RUNPATH becomes PREFIX/lib, the $ORIGIN entries it had, and every
    directory where one of its DT_NEEDED was actually found: among the files
    given, the staged files, and PREFIX in ROOT. DT_RPATH is removed.
Files of another architecture or libc, static files and files that are
already right are skipped, with the reason. Every planned file is then
checked with its loader's rules (as `xpatch check` does) as if it were
already written, and only then written, atomically. A file with a DT_NEEDED
found nowhere, or that fails the check, is left byte-for-byte as it was.

PATH is inside ROOT (default /), or under a staging directory: with
--stage stage/usr/aarch64-linux-musl=/usr/aarch64-linux-musl the files there
count as installed at that place in ROOT, for the search and the check.

Examples:
  xpatch retarget --tuple aarch64-linux-musl --root /srv/root /srv/root/usr/aarch64-linux-musl
  xpatch retarget --tuple aarch64-linux-gnu --root /srv/root --dry-run /srv/root/opt/vendor
  xpatch retarget --tuple riscv64-linux-gnu --root /srv/root          --stage pkg/usr=/usr/riscv64-linux-gnu pkg/usr
  find pkg -type f -print0 | xpatch retarget --tuple x86_64-linux-musl --root / --stdin -0

Exit codes:
  0  every file of the tuple is retargeted and verified, or already right
  1  some file was left as it was: a DT_NEEDED found nowhere, or the check failed
  2  usage or I/O error, or a malformed ELF file (named in the message))");
    rt_cmd->add_option("--tuple", rt.tuple, "the GNU tuple: aarch64-linux-musl, arm-linux-gnueabihf, ...")
        ->type_name("TUPLE")
        ->required();
    rt_cmd->add_option("--root", rt.root, "the shared root, taken as / (default: /)")->type_name("ROOT");
    rt_cmd->add_option("--prefix", rt.prefix, "where the tuple lives in ROOT (default: /usr/<tuple>)")
        ->type_name("PREFIX");
    rt_cmd->add_option("--interp", rt.interp, "the interpreter to set (default: PREFIX/lib/<the tuple's loader>)")
        ->type_name("PATH");
    rt_cmd->add_option("--stage", rt.stages, "DIR's files will be installed at /path/in/root (repeatable)")
        ->type_name("DIR=/path/in/root")
        ->allow_extra_args(false);
    rt_cmd->add_option("--ignore-missing", rt.ignore_missing, "a DT_NEEDED glob that may stay unresolved (repeatable)")
        ->type_name("GLOB")
        ->allow_extra_args(false);
    rt_cmd->add_option("paths", rt.paths, "ELF files or directories")->type_name("PATH");
    rt_cmd->add_flag("--stdin", rt.from_stdin,
                     "also read paths from standard input, one per line (a package's file list: files there that "
                     "are not ELF are skipped, as in a directory)");
    rt_cmd->add_flag("-0,--null", rt.null_sep, "with --stdin: paths are NUL-separated (find -print0)");
    rt_cmd->add_flag("-n,--dry-run", rt.dry_run, "show the plan per file (and verify it); write nothing");
    rt_cmd->add_flag("-w,--write", rt_write, "write the files that pass the check (the default)");
    rt_cmd->add_flag("--json", rt.json, "one JSON object per file (JSON Lines), then a summary object");
    rt_cmd->add_flag("-q,--quiet", rt.quiet, "print only files that change or fail, and the summary");
    rt_cmd->add_flag("-v,--verbose", rt.verbose, "also list each file left unresolved for a cause already said once");
    rt_cmd->add_option("-j,--jobs", rt.jobs, "parallel workers (default: one per core)")->type_name("N");
    rt_cmd->add_flag("--no-sync", rt.no_sync, "skip the syncs (staging trees that a crash would rebuild anyway)");
    rt_cmd->add_flag("--verify,!--no-verify", rt.verify,
                     "compare each planned output with its input, structure by structure, before writing (the "
                     "default; with LIEF's read where its module is installed; --verify requires LIEF's read too; "
                     "--no-verify skips both)");
    add_color(rt_cmd, rt.color);
    walk_flags(rt_cmd, rt.walk);
  }

  // ---- setup ----
  SetupOptions su;
  CLI::App* su_cmd = subcommand(
      "setup", "Show, or with --write create, what ROOT needs to run TUPLE's programs: binfmt, search path, loader links.");
  if (named("setup")) {  // and so su_cmd is not null
    su_cmd->footer(R"(
Each item is one file or symlink in ROOT, printed with its state (missing,
present, or differs: something else is there, which is never replaced) and
one line saying what it is for:
  binfmt       /etc/binfmt.d/qemu-ARCH.conf: the binfmt_misc line that runs the
               tuple's programs through qemu-user, with the F flag (qemu is
               opened at registration, so chroots need no copy of it). Left
               out for the host's own architecture.
  loader-link  /lib/<loader> -> PREFIX/lib/<loader>: for programs that were
               not retargeted and still ask for the usual loader path.
  search-path  musl: PREFIX/etc/ld-musl-ARCH.path (read by the loader in
               PREFIX/lib) and /etc/ld-musl-ARCH.path (read by the one behind
               the /lib link, only when that link is ours).
               glibc: /etc/ld.so.conf.d/TUPLE.conf, for the tuple's own ldconfig.
  libdir-link  glibc: /usr/lib/<multiarch> -> PREFIX/lib, a directory built into
               the loader, so libraries are found without a cache or runpath.
Retargeted programs (xpatch retarget) need none of this but the binfmt line.

Examples:
  xpatch setup --tuple aarch64-linux-musl --root /srv/root
  xpatch setup --tuple arm-linux-gnueabihf --root /srv/root --write
  xpatch setup --tuple riscv64-linux-gnu --json | jq 'select(.state == "missing")'

Exit codes:
  0  everything is in place (after --write: everything missing was created)
  1  something is missing (without --write), or differs and was left alone;
     --remove: something setup made was changed since, and kept
  2  usage or I/O error (ROOT cannot be opened, a write failed))");
    su_cmd->add_option("--tuple", su.tuple, "the GNU tuple: aarch64-linux-musl, arm-linux-gnueabihf, ...")
        ->type_name("TUPLE")
        ->required();
    su_cmd->add_option("--root", su.root, "the shared root, taken as / (default: /; or the argument)")
        ->type_name("ROOT");
    su_cmd->add_option("root", su_args, "ROOT, as --root")->type_name("ROOT");
    su_cmd->add_option("--prefix", su.prefix, "where the tuple lives in ROOT (default: /usr/<tuple>)")
        ->type_name("PREFIX");
    su_cmd
        ->add_option("--qemu", su.qemu,
                     "the interpreter for the binfmt line (default: /usr/bin/qemu-ARCH-static or qemu-ARCH in ROOT)")
        ->type_name("PATH");
    su_cmd->add_flag("-w,--write", su.write, "create the missing items (never replaces anything)");
    su_cmd->add_flag("--remove", su.remove,
                     "remove what --write made here (listed in ROOT/var/lib/xpatch/setup/TUPLE), where unchanged");
    su_cmd->add_flag("-n,--dry-run", su_dry, "show the items and their state; write nothing (the default)");
    su_cmd->add_flag("--json", su.json, "one JSON object per item (JSON Lines), then a summary object");
    add_color(su_cmd, su.color);
  }

  std::vector<std::string> args = split_empty_values(app, argc, argv);
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  } catch (const CLI::ParseError& err) {
    if (err.get_exit_code() == 0) return app.exit(err);  // --help, --version
    print_error(fmt::format("{} (xpatch --help)", err.what()));
    return kError;
  }
  for (const CLI::App* sub : {show_cmd, check_cmd, rt_cmd, su_cmd})
    if (ran(sub) && !report_unknown(sub, sub->get_name())) return kError;
  if (!report_unknown(&app, "")) return kError;
  // Options that exclude each other, said in words (CLI11's excludes() would
  // print "Excludes: ..." into every help line).
  auto exclusive = [](std::initializer_list<std::pair<const CLI::Option*, const char*>> opts) {
    std::vector<std::string> given;
    for (const auto& [o, name] : opts)
      if (o->count()) given.push_back(name);
    if (given.size() < 2) return true;
    print_error(fmt::format("{} exclude each other: give one", fmt::join(given, " and ")));
    return false;
  };
  if (!exclusive({{rp, "--runpath"}, {arp, "--add-runpath"}, {rmrp, "--remove-runpath"}}) ||
      (ran(rt_cmd) &&
       !exclusive({{rt_cmd->get_option("--dry-run"), "--dry-run"}, {rt_cmd->get_option("--write"), "--write"}})) ||
      (ran(su_cmd) &&
       (!exclusive({{su_cmd->get_option("--dry-run"), "--dry-run"}, {su_cmd->get_option("--write"), "--write"}}) ||
        !exclusive({{su_cmd->get_option("--remove"), "--remove"}, {su_cmd->get_option("--write"), "--write"}}))))
    return kError;
  for (const CLI::App* sub : {show_cmd, check_cmd, rt_cmd})
    if (ran(sub) && !exclusive({{sub->get_option("--cross-filesystems"), "--cross-filesystems"},
                    {sub->get_option("--one-file-system"), "--one-file-system"}}))
      return kError;
  rt.verify_lief_required = ran(rt_cmd) && rt.verify && rt_cmd->get_option("--verify")->count() > 0;
  if (ran(show_cmd)) {
    if (show.paths.empty() && !show.from_stdin) {
      print_error("show: no files given (FILE|DIR..., or --stdin)");
      return kError;
    }
    return run_show(show);
  }
  if (ran(check_cmd)) {
    // ROOT is --root, or else the first argument.
    if (check.root.empty() && !check_args.empty()) {
      check.root = check_args.front();
      check_args.erase(check_args.begin());
    }
    if (check.root.empty() && check.explain.empty()) {
      print_error("check: no ROOT given (xpatch check ROOT [PATH...], or --root ROOT)");
      return kError;
    }
    check.paths = std::move(check_args);
    if (!check.packages.empty() && (!check.paths.empty() || check.from_stdin || check.tree || check.list)) {
      print_error("check --package: checks the packages' files and what they affect; no PATH, --stdin, --tree or --list");
      return kError;
    }
    if (check.retarget_preview && check.packages.empty()) {
      print_error("check --retarget-preview: only with --package (it previews the retarget of the packages' files)");
      return kError;
    }
    if (check.strict && check.packages.empty()) {
      print_error("check --strict: only with --package (without it, every error counts)");
      return kError;
    }
    return run_check(check);
  }
  if (ran(rt_cmd)) return run_retarget(rt);
  if (ran(su_cmd)) {
    if (su_args.size() > 1) {
      print_error(fmt::format("setup takes one ROOT, got {} ({})", su_args.size(), fmt::join(su_args, " ")));
      return kError;
    }
    if (!su_args.empty()) {
      if (su.root != "/" && su.root != su_args.front()) {
        print_error("setup: ROOT given twice, as --root and as an argument");
        return kError;
      }
      su.root = su_args.front();
    }
    return run_setup(su);
  }
  for (const std::string& r : replace_raw) {
    auto eq = r.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == r.size()) {
      fmt::print(stderr, "xpatch: --replace-needed takes OLD=NEW, got \"{}\"\n", r);
      return kError;
    }
    e.replace_needed.emplace_back(r.substr(0, eq), r.substr(eq + 1));
  }
  if (patch.files.empty()) {
    fmt::print(stderr, "{}\nxpatch: no files given; run 'xpatch --help' for how to use it\n",
               "Usage: xpatch [EDITS] FILE...   or   xpatch show FILE|DIR...   or   xpatch check ROOT");
    return kError;
  }
  if (e.empty()) {
    // `xpatch shwo app` (a subcommand misspelt) or `xpatch app` (no edit).
    const std::string& first = patch.files.front();
    if (::access(first.c_str(), F_OK) != 0)
      if (auto s = closest(first, {"show", "check", "retarget", "setup"})) {
        print_error(fmt::format("unknown subcommand `{}`; did you mean `{}`?", first, *s));
        return kError;
      }
    print_error(fmt::format(
        "no edit given for {}: to see what it holds, xpatch show {}; to change it, add an edit (--interp, "
        "--runpath, --add-needed, ...: xpatch --help)",
        first, first));
    return kError;
  }
  return run_patch(patch);
}

}  // namespace
