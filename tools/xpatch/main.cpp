// xpatch: retarget foreign-architecture ELF binaries into a shared multi-arch
// root. This file only wires the command line to libpatch; each subcommand
// is a function in its own file.

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>

#include "tools/xpatch/cli.h"

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
replaced atomically (temp file + fsync + rename; --no-sync skips the fsync),
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

}  // namespace

int main(int argc, char** argv) {
  using namespace xpatch::cli;
  // Past a file size limit, write() must fail with EFBIG so the error is
  // reported and the original kept, instead of the process dying.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"xpatch: report, rewrite and verify the loader settings of ELF binaries of any architecture.",
               "xpatch"};
  app.footer(std::string(kPatchHelp) + "\n" + kExitCodes);
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "xpatch 0.1.0");

  std::map<std::string, ColorMode> color_map{
      {"auto", ColorMode::Auto}, {"always", ColorMode::Always}, {"never", ColorMode::Never}};

  // ---- rewriting: options on the top-level command ----
  PatchOptions patch;
  auto& e = patch.edits;
  app.add_option("files", patch.files, "ELF files to rewrite");
  app.add_option("--interp,--set-interpreter", e.interpreter, "set PT_INTERP, the program's loader")->type_name("PATH");
  auto* rp = app.add_option("--runpath,--set-runpath", e.runpath, "set DT_RUNPATH (colon-separated), converting a DT_RPATH")->type_name("DIRS");
  auto* arp = app.add_option("--add-runpath", e.add_runpath,
                             "append to the search path in force (DT_RUNPATH, else DT_RPATH), keeping its tag; repeatable, skips duplicates")
                  ->type_name("DIRS")
                  ->delimiter(':')
                  ->allow_extra_args(false);
  auto* rmrp = app.add_flag("--remove-runpath", e.remove_runpath, "remove DT_RUNPATH and DT_RPATH");
  app.add_option("--rpath,--set-rpath", e.rpath, "set DT_RPATH, converting a DT_RUNPATH (legacy; inherited by dependencies in glibc)")
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
  app.add_option("-o,--output", patch.output, "write the result to OUT instead of in place (one input file)")
      ->type_name("OUT");
  app.add_flag("-n,--dry-run", patch.dry_run, "print the plan (strategy per edit, growth) and write nothing");
  app.add_flag("--no-sync", patch.no_sync,
               "skip fsync: faster, still atomic for readers, but not guaranteed on disk after a crash");
  app.add_flag("--verify", patch.verify, "re-read the output with libpatch and LIEF before writing it");
  app.add_flag("--json", patch.json, "print the plan of each file as a JSON object per line");
  app.add_flag("-v,--verbose", patch.verbose, "say what was done to each file");
  app.add_option("--color", patch.color, "auto (colour on a terminal), always or never")
      ->transform(CLI::CheckedTransformer(color_map, CLI::ignore_case));
  rmrp->excludes(rp)->excludes(arp);
  rp->excludes(arp);

  // ---- show ----
  ShowOptions show;
  CLI::App* show_cmd = app.add_subcommand(
      "show", "Print interpreter, needed libraries, runpath/rpath, soname, architecture and GNU tuple.");
  show_cmd->footer(std::string("\nDirectories are walked recursively; files in them that are not ELF are\n"
                               "skipped. A file named explicitly that is not ELF is reported (exit 1).\n"
                               "--json prints one object per file per line; see docs/json.md.\n\n") +
                   kExitCodes);
  show_cmd->add_option("paths", show.paths, "ELF files or directories")->required();
  show_cmd->add_flag("--json", show.json, "one JSON object per file (JSON Lines)");
  show_cmd->add_option("--color", show.color, "auto (colour on a terminal), always or never")
      ->transform(CLI::CheckedTransformer(color_map, CLI::ignore_case));
  show_cmd->add_option("-j,--jobs", show.jobs, "parallel readers (default: one per core)");

  // ---- check ----
  CheckOptions check;
  CLI::App* check_cmd = app.add_subcommand(
      "check", "Prove that every dependency resolves inside ROOT, following each loader's own search rules.");
  check_cmd->footer(R"(
ROOT is treated as /: absolute symlinks are re-rooted, '..' stops at ROOT,
and no file outside ROOT is opened (openat2 RESOLVE_IN_ROOT). Each program is
resolved the way its own loader would: glibc (DT_RPATH chain, DT_RUNPATH,
ld.so.cache emulated from ROOT's ld.so.conf, the loader's built-in directories,
DF_1_NODEFLIB, $ORIGIN/$LIB/$PLATFORM, wrong-architecture candidates skipped)
or musl (reserved libc names, every ancestor's runpath, only $ORIGIN,
<prefix>/etc/ld-musl-ARCH.path). Libraries are checked with their libc's rules.

Examples:
  xpatch check /srv/multiarch-root
  xpatch check --tree /srv/root /usr/aarch64-linux-musl/bin/app
  find pkg/ -type f -print0 | sed -z 's|^pkg||' | xpatch check --stdin -0 /srv/root
  xpatch check --json /srv/root | jq 'select(.ok == false)'

Finding codes and what to do about each: docs/check.md.

Exit codes:
  0  no finding of error severity (warnings may remain)
  1  at least one error: something would fail to load
  2  usage or I/O error (ROOT cannot be opened))");
  check_cmd->add_option("root", check.root, "the root directory, taken as /")->required();
  check_cmd->add_option("paths", check.paths, "files or directories inside ROOT (default: all of ROOT)");
  check_cmd->add_flag("--stdin", check.from_stdin, "also read paths inside ROOT from standard input, one per line");
  check_cmd->add_flag("-0,--null", check.null_sep, "with --stdin: paths are NUL-separated (find -print0)");
  check_cmd->add_flag("--json", check.json, "one JSON object per file (JSON Lines), then a summary object");
  check_cmd->add_flag("--tree", check.tree, "print each file's resolution tree: what each DT_NEEDED resolved to and why");
  check_cmd->add_flag("-q,--quiet", check.quiet, "print only errors and the summary");
  check_cmd->add_option("--color", check.color, "auto (colour on a terminal), always or never")
      ->transform(CLI::CheckedTransformer(color_map, CLI::ignore_case));
  check_cmd->add_option("-j,--jobs", check.jobs, "parallel workers (default: one per core)");

  // ---- retarget ----
  RetargetOptions rt;
  CLI::App* rt_cmd = app.add_subcommand(
      "retarget", "Move a package's binaries into the /usr/<tuple> layout: interpreter, runpath, then a check.");
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
  rt_cmd->add_option("--tuple", rt.tuple, "the GNU tuple: aarch64-linux-musl, arm-linux-gnueabihf, ...")->required();
  rt_cmd->add_option("--root", rt.root, "the shared root, taken as / (default: /)");
  rt_cmd->add_option("--prefix", rt.prefix, "where the tuple lives in ROOT (default: /usr/<tuple>)");
  rt_cmd->add_option("--interp", rt.interp, "the interpreter to set (default: PREFIX/lib/<the tuple's loader>)");
  rt_cmd->add_option("--stage", rt.stages, "DIR=/path/in/root: DIR's files will be installed there (repeatable)")
      ->allow_extra_args(false);
  rt_cmd->add_option("--ignore-missing", rt.ignore_missing, "a DT_NEEDED glob that may stay unresolved (repeatable)")
      ->allow_extra_args(false);
  rt_cmd->add_option("paths", rt.paths, "ELF files or directories");
  rt_cmd->add_flag("--stdin", rt.from_stdin,
                   "also read paths from standard input, one per line (a package's file list: files there that "
                   "are not ELF are skipped, as in a directory)");
  rt_cmd->add_flag("-0,--null", rt.null_sep, "with --stdin: paths are NUL-separated (find -print0)");
  rt_cmd->add_flag("-n,--dry-run", rt.dry_run, "show the plan per file (and verify it); write nothing");
  rt_cmd->add_flag("--json", rt.json, "one JSON object per file (JSON Lines), then a summary object");
  rt_cmd->add_flag("-q,--quiet", rt.quiet, "print only files that change or fail, and the summary");
  rt_cmd->add_flag("--no-sync", rt.no_sync, "skip fsync (staging trees that a crash would rebuild anyway)");
  rt_cmd->add_option("--color", rt.color, "auto (colour on a terminal), always or never")
      ->transform(CLI::CheckedTransformer(color_map, CLI::ignore_case));

  // ---- setup ----
  SetupOptions su;
  CLI::App* su_cmd = app.add_subcommand(
      "setup", "Show, or with --write create, what ROOT needs to run TUPLE's programs: binfmt, search path, loader links.");
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
  1  something is missing (without --write), or differs and was left alone
  2  usage or I/O error (ROOT cannot be opened, a write failed))");
  su_cmd->add_option("--tuple", su.tuple, "the GNU tuple: aarch64-linux-musl, arm-linux-gnueabihf, ...")->required();
  su_cmd->add_option("--root", su.root, "the shared root, taken as / (default: /)");
  su_cmd->add_option("--prefix", su.prefix, "where the tuple lives in ROOT (default: /usr/<tuple>)");
  su_cmd->add_option("--qemu", su.qemu,
                     "the interpreter for the binfmt line (default: /usr/bin/qemu-ARCH-static or qemu-ARCH in ROOT)");
  su_cmd->add_flag("-w,--write", su.write, "create the missing items (never replaces anything)");
  su_cmd->add_flag("--json", su.json, "one JSON object per item (JSON Lines), then a summary object");
  su_cmd->add_option("--color", su.color, "auto (colour on a terminal), always or never")
      ->transform(CLI::CheckedTransformer(color_map, CLI::ignore_case));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    int rc = app.exit(err);
    return rc == 0 ? kOk : kError;
  }
  if (*show_cmd) return run_show(show);
  if (*check_cmd) return run_check(check);
  if (*rt_cmd) return run_retarget(rt);
  if (*su_cmd) return run_setup(su);
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
  return run_patch(patch);
}
