// xpatch patchelf ARGS... (and xpatch run under the name `patchelf`):
// patchelf 0.18's command line with patchelf's meaning, over libpatch's
// planner, so that scripts written for patchelf (Nix's autoPatchelfHook,
// auditwheel, conda-build, meson-python, spack) switch without a change.
//
// Per file, in patchelf's order: print what was asked (from the input, as
// patchelf prints it), turn the edits into one EditSet, plan, verify the
// planned output against the input (libpatch/rewrite/verify.h), and write
// atomically. The first error stops the run, as in patchelf; its files
// after it are left alone. Where xpatch differs from patchelf, README.md
// ("Replacing patchelf") says why.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/output.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/tables.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/verify_output.h"

namespace xpatch::cli {
namespace {

// patchelf's version whose command line this follows; scripts check it
// (auditwheel requires 0.14 or later).
constexpr const char* kPatchelfVersion = "0.18.0";

constexpr const char* kHelp = R"(usage: {} [OPTIONS] FILE...
patchelf's command line, carried out by xpatch (the program header table
never moves, so outputs run under qemu-user; every output is verified
against its input before it is written).

  --set-interpreter PATH        set PT_INTERP (also --interpreter)
  --print-interpreter           print PT_INTERP
  --set-rpath DIRS              set DT_RUNPATH (a DT_RPATH becomes DT_RUNPATH)
  --add-rpath DIRS              append DIRS to the runpath (or rpath) in force
  --remove-rpath                remove DT_RUNPATH and DT_RPATH
  --shrink-rpath                keep only directories holding a needed library
  --allowed-rpath-prefixes P    with --shrink-rpath: also drop absolute
                                directories that start with none of P (P:P...)
  --force-rpath                 write DT_RPATH instead of DT_RUNPATH
  --print-rpath                 print DT_RUNPATH, else DT_RPATH
  --add-needed LIB              add a DT_NEEDED (repeatable)
  --remove-needed LIB           remove a DT_NEEDED (repeatable)
  --replace-needed OLD NEW      rename a DT_NEEDED and its symbol versions' library
  --print-needed                print each DT_NEEDED
  --set-soname NAME             set DT_SONAME (shared objects only)
  --print-soname                print DT_SONAME
  --no-default-lib              set DF_1_NODEFLIB: no default library directories
  --add-debug-tag               add a DT_DEBUG entry
  --set-os-abi ABI              set EI_OSABI (sysv, linux, freebsd, ...)
  --print-os-abi                print EI_OSABI
  --clear-symbol-version SYM    make SYM's dynamic symbols unversioned
  --set-execstack               mark the stack executable (PT_GNU_STACK)
  --clear-execstack             mark the stack not executable
  --print-execstack             print "execstack: X", "-" or "?"
  --rename-dynamic-symbols MAP  accepted, refused: the hash tables would
                                have to be rebuilt
  --page-size SIZE              accepted; xpatch uses the architecture's
  --no-sort                     accepted; headers are never reordered
  --output FILE                 write the result to FILE (one input file)
  --debug                       say what is planned for each file (stderr;
                                also when PATCHELF_DEBUG is set)
  --version, --help
A value written @FILE is read from FILE. Exit status: 0 on success, 2 on
any error (the file is left as it was).
)";

[[noreturn]] void usage_error(const std::string& why) { throw Error{Error::Kind::Unsupported, why}; }

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error{Error::Kind::Io, fmt::format("{}: cannot open: {}", path, std::strerror(errno))};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// patchelf's colon splitting: empty entries kept, but not a trailing one.
std::vector<std::string> split_colons(std::string_view s) {
  std::vector<std::string> parts;
  for (std::size_t pos; (pos = s.find(':')) != std::string_view::npos; s.remove_prefix(pos + 1))
    parts.emplace_back(s.substr(0, pos));
  if (!s.empty()) parts.emplace_back(s);
  return parts;
}

// EI_OSABI names, as patchelf prints and accepts them.
struct OsAbi {
  std::uint8_t value;
  const char* printed;
  std::vector<std::string> accepted;
};
const std::vector<OsAbi>& os_abis() {
  static const std::vector<OsAbi> t = {
      {0, "System V", {"system v", "system-v", "sysv"}}, {1, "HP-UX", {"hp-ux"}},
      {2, "NetBSD", {"netbsd"}},                          {3, "Linux", {"linux", "gnu"}},
      {4, "GNU Hurd", {"gnu hurd", "gnu-hurd", "hurd"}},  {6, "Solaris", {"solaris"}},
      {7, "AIX", {"aix"}},                                {8, "IRIX", {"irix"}},
      {9, "FreeBSD", {"freebsd"}},                        {10, "Tru64", {"tru64"}},
      {12, "OpenBSD", {"openbsd"}},                       {13, "OpenVMS", {"openvms"}},
  };
  return t;
}

struct Args {
  std::vector<std::string> files;
  std::optional<std::string> interpreter, soname, os_abi, output, new_rpath;
  bool set_rpath = false, add_rpath = false, remove_rpath = false, shrink_rpath = false, force_rpath = false;
  std::vector<std::string> allowed_prefixes;
  std::set<std::string> add_needed, remove_needed, clear_symbol_version;  // patchelf keeps sets: sorted, once each
  std::map<std::string, std::string> replace_needed;
  bool print_interpreter = false, print_os_abi = false, print_soname = false, print_rpath = false,
       print_needed = false, print_execstack = false, set_execstack = false, clear_execstack = false;
  bool no_default_lib = false, add_debug_tag = false, debug = false;
  std::optional<std::string> rename_map;
  bool help = false, version = false;
};

// The map file of --rename-dynamic-symbols, checked as patchelf checks it.
void check_rename_map(const std::string& path) {
  std::istringstream in(read_whole(path));
  std::set<std::string> seen;
  std::size_t n = 1;
  for (std::string line, from, to; std::getline(in, line); ++n) {
    std::istringstream words(line);
    if (!(words >> from)) break;
    if (!(words >> to)) usage_error(fmt::format("{}:{}: the line has no second name", path, n));
    if (!seen.insert(from).second) usage_error(fmt::format("{}:{}: '{}' appears twice", path, n, from));
    if (from.find('@') != std::string::npos || to.find('@') != std::string::npos)
      usage_error(fmt::format("{}:{}: a name carries a version (@): {} {}", path, n, from, to));
  }
}

Args parse(const std::vector<std::string>& argv) {
  Args a;
  a.debug = std::getenv("PATCHELF_DEBUG") != nullptr;  // as patchelf reads it
  std::size_t i = 0;
  auto value = [&](const std::string& opt) -> std::string {
    if (++i >= argv.size()) usage_error(fmt::format("{} needs an argument", opt));
    const std::string& v = argv[i];
    return !v.empty() && v[0] == '@' ? read_whole(v.substr(1)) : v;  // patchelf's @FILE values
  };
  for (; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--set-interpreter" || arg == "--interpreter") a.interpreter = value(arg);
    else if (arg == "--page-size") {
      std::string v = value(arg);
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (n <= 0 || end == v.c_str()) usage_error(fmt::format("--page-size takes a positive number, got \"{}\"", v));
    } else if (arg == "--print-interpreter") a.print_interpreter = true;
    else if (arg == "--print-os-abi") a.print_os_abi = true;
    else if (arg == "--set-os-abi") a.os_abi = value(arg);
    else if (arg == "--print-soname") a.print_soname = true;
    else if (arg == "--set-soname") a.soname = value(arg);
    else if (arg == "--remove-rpath") a.remove_rpath = true;
    else if (arg == "--shrink-rpath") a.shrink_rpath = true;
    else if (arg == "--allowed-rpath-prefixes") {
      if (++i >= argv.size()) usage_error("--allowed-rpath-prefixes needs an argument");
      a.allowed_prefixes = split_colons(argv[i]);
    } else if (arg == "--set-rpath") {
      a.set_rpath = true;
      a.new_rpath = value(arg);
    } else if (arg == "--add-rpath") {
      a.add_rpath = true;
      a.new_rpath = value(arg);
    } else if (arg == "--print-rpath") a.print_rpath = true;
    else if (arg == "--force-rpath") a.force_rpath = true;
    else if (arg == "--print-needed") a.print_needed = true;
    else if (arg == "--no-sort") {
    } else if (arg == "--add-needed") a.add_needed.insert(value(arg));
    else if (arg == "--remove-needed") a.remove_needed.insert(value(arg));
    else if (arg == "--replace-needed") {
      if (i + 2 >= argv.size()) usage_error("--replace-needed needs two arguments: OLD NEW");
      a.replace_needed[argv[i + 1]] = argv[i + 2];
      i += 2;
    } else if (arg == "--clear-symbol-version") a.clear_symbol_version.insert(value(arg));
    else if (arg == "--print-execstack") a.print_execstack = true;
    else if (arg == "--clear-execstack") a.clear_execstack = true;
    else if (arg == "--set-execstack") a.set_execstack = true;
    else if (arg == "--output") a.output = value(arg);
    else if (arg == "--debug") a.debug = true;
    else if (arg == "--no-default-lib") a.no_default_lib = true;
    else if (arg == "--add-debug-tag") a.add_debug_tag = true;
    else if (arg == "--rename-dynamic-symbols") {
      if (++i >= argv.size()) usage_error("--rename-dynamic-symbols needs an argument");
      check_rename_map(argv[i]);
      a.rename_map = argv[i];
    } else if (arg == "--help" || arg == "-h") {
      a.help = true;
      return a;
    } else if (arg == "--version") {
      a.version = true;
      return a;
    } else if (arg.size() > 1 && arg[0] == '-') usage_error(fmt::format("unknown option {}", arg));
    else a.files.push_back(arg);
  }
  if (a.files.empty()) usage_error("missing filename");
  if (a.output && a.files.size() != 1) usage_error("--output takes exactly one input file");
  if (a.set_rpath && a.add_rpath) usage_error("--set-rpath and --add-rpath cannot be combined");
  return a;
}

// What patchelf reads from the dynamic array: the last entry of each kind,
// and the runpath in force (DT_RUNPATH, else DT_RPATH).
struct Dynamic {
  std::optional<std::string> soname, search_path;
  bool has_rpath = false, has_runpath = false;
  std::vector<std::string> needed;
};
Dynamic read_dynamic(const elf::ElfFile& f, std::span<const std::byte> bytes) {
  Dynamic d;
  std::optional<std::string> rpath, runpath;
  for (const elf::DynEntry& e : f.dynamic) {
    if (!elf::is_string_tag(e.tag)) continue;
    std::string s = rewrite::dynamic_string(f, bytes, e.value).value_or("");  // the reader proved each in range
    switch (e.tag) {
      case DT_NEEDED: d.needed.push_back(s); break;
      case DT_SONAME: d.soname = s; break;
      case DT_RPATH: d.has_rpath = true; rpath = s; break;
      default: d.has_runpath = true; runpath = s; break;
    }
  }
  d.search_path = runpath ? runpath : rpath;
  return d;
}

// --shrink-rpath: an absolute directory stays only if it holds a needed
// library (one not already found in an earlier directory) of the file's
// machine; other entries ($ORIGIN/...) stay. Checked on the host, as
// patchelf does.
std::string shrink(const std::string& path, const std::vector<std::string>& needed, const Args& a, std::uint16_t machine,
                   bool debug) {
  std::vector<bool> found(needed.size());
  std::vector<std::string> keep;
  for (const std::string& dir : split_colons(path)) {
    if (!dir.empty() && dir[0] != '/') {
      keep.push_back(dir);
      continue;
    }
    if (!a.allowed_prefixes.empty() &&
        std::none_of(a.allowed_prefixes.begin(), a.allowed_prefixes.end(),
                     [&](const std::string& p) { return dir.compare(0, p.size(), p) == 0; })) {
      if (debug) fmt::print(stderr, "removing directory '{}': no allowed prefix\n", dir);
      continue;
    }
    bool any = false;
    for (std::size_t j = 0; j < needed.size(); ++j) {
      if (found[j]) continue;
      auto lib = elf::read_elf_file(dir + "/" + needed[j], {.sections = false});
      if (lib && lib->header.machine == machine) found[j] = any = true;
    }
    if (any) keep.push_back(dir);
    else if (debug) fmt::print(stderr, "removing directory '{}': no needed library in it\n", dir);
  }
  std::string out;
  for (std::size_t k = 0; k < keep.size(); ++k) out += (k ? ":" : "") + keep[k];
  return out;
}

// The edits patchelf would make to this file, as one EditSet.
rewrite::EditSet edits_for(const Args& a, const elf::ElfFile& f, const Dynamic& d) {
  rewrite::EditSet e;
  e.interpreter = a.interpreter;
  if (a.soname && f.header.type == ET_DYN) e.soname = a.soname;  // patchelf leaves other files alone
  if (a.os_abi) {
    std::string want;
    for (char c : *a.os_abi)
      want += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    want.erase(0, want.find_first_not_of(" \t\n\r\f\v"));
    want.erase(want.find_last_not_of(" \t\n\r\f\v") + 1);
    for (const OsAbi& o : os_abis())
      if (std::find(o.accepted.begin(), o.accepted.end(), want) != o.accepted.end()) e.osabi = o.value;
    if (!e.osabi) usage_error(fmt::format("--set-os-abi: unknown OS ABI \"{}\"", *a.os_abi));
  }
  // The runpath: one of shrink, remove, set, add, in patchelf's precedence.
  // Without --force-rpath the result is DT_RUNPATH (a DT_RPATH is
  // converted), with it DT_RPATH (a DT_RUNPATH is converted).
  std::optional<std::string> path;
  if (a.shrink_rpath) {
    if (d.search_path) path = shrink(*d.search_path, d.needed, a, f.header.machine, a.debug);
  } else if (a.remove_rpath) {
    if (d.search_path) e.remove_runpath = true;
  } else if (a.set_rpath) {
    path = a.new_rpath;
  } else if (a.add_rpath) {
    path = d.search_path.value_or("");
    if (!path->empty()) *path += ":";
    *path += *a.new_rpath;
  }
  if (path) {
    (a.force_rpath ? e.rpath : e.runpath) = *path;
    e.remove_runpath = true;  // drops the other tag; the one set here is kept
  }
  e.remove_needed.assign(a.remove_needed.begin(), a.remove_needed.end());
  for (const auto& [from, to] : a.replace_needed)  // a library that is not needed is left alone, as patchelf does
    if (from != to && std::find(d.needed.begin(), d.needed.end(), from) != d.needed.end())
      e.replace_needed.emplace_back(from, to);
  e.add_needed.assign(a.add_needed.begin(), a.add_needed.end());
  e.clear_symbol_version.assign(a.clear_symbol_version.begin(), a.clear_symbol_version.end());
  if (!a.print_execstack && (a.clear_execstack || a.set_execstack)) e.execstack = !a.clear_execstack;
  e.no_default_lib = a.no_default_lib;
  e.add_debug_tag = a.add_debug_tag;
  return e;
}

// One file: prints, then the edits. Throws Error on the first problem.
void patch_file(const std::string& path, const Args& a) {
  auto src = rewrite::resolve_destination(path);
  if (!src) throw src.error();
  auto map = MappedFile::open(*src);
  if (!map) throw map.error();
  auto f = elf::read_elf(map->bytes(), path);
  if (!f) throw f.error();
  const Dynamic d = read_dynamic(*f, map->bytes());
  auto need_dynamic = [&](const char* what) {
    if (!f->is_dynamic())
      throw Error{Error::Kind::Unsupported,
                  fmt::format("{}: {}: the file has no dynamic section (statically linked)", path, what)};
  };

  // Prints come from the input, in patchelf's order.
  if (a.print_interpreter) {
    if (!f->interpreter)
      throw Error{Error::Kind::Unsupported,
                  fmt::format("{}: --print-interpreter: no PT_INTERP (a static program or a shared library)", path)};
    fmt::print("{}\n", *f->interpreter);
  }
  if (a.print_os_abi) {
    auto it = std::find_if(os_abis().begin(), os_abis().end(), [&](const OsAbi& o) { return o.value == f->header.osabi; });
    if (it != os_abis().end()) fmt::print("{}\n", it->printed);
    else fmt::print("0x{:02X}\n", f->header.osabi);
  }
  if (a.print_soname && f->header.type == ET_DYN) {
    need_dynamic("--print-soname");
    if (d.soname && !d.soname->empty()) fmt::print("{}\n", *d.soname);
  }
  if (a.print_rpath) {
    need_dynamic("--print-rpath");
    fmt::print("{}\n", d.search_path.value_or(""));
  }
  if (a.print_execstack) {
    const elf::Segment* s = f->find_segment(PT_GNU_STACK);
    fmt::print("execstack: {}\n", !s ? '?' : (s->flags & PF_X) ? 'X' : '-');
  }
  if (a.print_needed) {
    need_dynamic("--print-needed");
    for (const std::string& n : d.needed) fmt::print("{}\n", n);
  }
  std::fflush(stdout);

  if (a.rename_map)
    throw Error{Error::Kind::Unsupported,
                fmt::format("{}: --rename-dynamic-symbols: renaming a dynamic symbol changes its hash, so DT_HASH and "
                            "DT_GNU_HASH would have to be rebuilt and would no longer fit in place; xpatch does not "
                            "do that. Rename the symbols where they are defined (objcopy --redefine-syms on the "
                            "objects, then relink), or use a version script",
                            path)};

  const rewrite::EditSet e = edits_for(a, *f, d);
  auto plan = rewrite::plan_rewrite(*f, map->bytes(), e);
  if (!plan) throw plan.error();
  if (a.debug)
    for (const auto& s : plan->steps) fmt::print(stderr, "{}: {} {}: {}\n", path, s.what, s.strategy, s.detail);
  const std::string dest = a.output.value_or(*src);
  if (!plan->changes() && !a.output) return;  // nothing to write, as patchelf does not rewrite an unchanged file
  if (plan->changes()) {
    auto input = OpenFile::open(*src);
    auto out = input ? rewrite::OutputImage::map(*plan, input->fd(), path) : Expected<rewrite::OutputImage>(input.error());
    if (!out) throw out.error();
    if (auto found = verify_output(*f, map->bytes(), out->bytes(), e, false); !found.empty())
      throw Error{Error::Kind::Malformed, verify_message(path, found)};
  }
  if (auto wrote = rewrite::write_plan_atomically(dest, *src, *plan); !wrote) throw wrote.error();
}

}  // namespace

int run_patchelf(const std::string& name, const std::vector<std::string>& args) {
  if (args.empty()) {
    fmt::print(stderr, fmt::runtime(std::string(kHelp)), name);
    return kError;
  }
  try {
    const Args a = parse(args);
    if (a.help) {
      std::fputs(fmt::format(fmt::runtime(std::string(kHelp)), name).c_str(), stderr);
      return kOk;
    }
    if (a.version) {
      fmt::print("patchelf {} (xpatch {})\n", kPatchelfVersion, kVersion);
      return kOk;
    }
    for (const std::string& file : a.files) patch_file(file, a);
  } catch (const Error& e) {
    print_error(e.message);
    return kError;
  }
  return kOk;
}

}  // namespace xpatch::cli
