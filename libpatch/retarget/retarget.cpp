#include "libpatch/retarget/retarget.h"

#include <elf.h>
#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>

#include "libpatch/resolve/loader.h"
#include "libpatch/elf/paths.h"

namespace xpatch::retarget {
namespace {

using paths::basename_of;
using paths::dirname_of;
using paths::join;
using paths::normalize;

std::vector<std::string> split_colon(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i <= s.size();) {
    std::size_t j = s.find(':', i);
    if (j == std::string::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool has_origin(const std::string& e) {
  return e.find("$ORIGIN") != std::string::npos || e.find("${ORIGIN}") != std::string::npos;
}

std::string expand_origin(std::string e, const std::string& origin) {
  for (const char* tok : {"${ORIGIN}", "$ORIGIN"})
    for (std::size_t at; (at = e.find(tok)) != std::string::npos;) e.replace(at, std::string_view(tok).size(), origin);
  return normalize(e);
}

bool same_arch(const LibraryIndex::Lib& l, const elf::ElfFile& f) {
  return l.machine == f.header.machine && l.elf_class == f.header.elf_class && l.big_endian == f.header.big_endian;
}

}  // namespace

std::string_view verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::Retarget: return "retarget";
    case Verdict::AlreadyRight: return "already-right";
    case Verdict::OtherTarget: return "other-target";
    case Verdict::Static: return "static";
    case Verdict::Unresolved: return "unresolved";
  }
  return "?";
}

Expected<Config> make_config(std::string tuple, std::optional<std::string> prefix, std::optional<std::string> interp,
                             std::vector<std::string> ignore_missing) {
  Config c;
  // The target table decides, as for setup: aliases (x86-64, arm64, ...)
  // give the canonical tuple, and an unknown tuple is an error, not a run
  // that matches no file.
  auto info = elf::parse_tuple(tuple);
  if (!info)
    return Error{Error::Kind::Unsupported,
                 fmt::format("--tuple {}: not a tuple this tool knows (ARCH-linux-gnu[ABI] or ARCH-linux-musl[ABI], "
                             "for example aarch64-linux-musl, arm-linux-gnueabihf)",
                             tuple)};
  c.info = *info;
  c.libc = info->libc;
  c.tuple = info->tuple;
  c.prefix = prefix.value_or("/usr/" + c.tuple);
  if (!c.prefix.starts_with('/'))
    return Error{Error::Kind::Unsupported, fmt::format("--prefix {}: must be an absolute path inside the root", c.prefix)};
  c.prefix = normalize(c.prefix);
  if (interp && !interp->starts_with('/'))
    return Error{Error::Kind::Unsupported, fmt::format("--interp {}: must be an absolute path", *interp)};
  c.interp = std::move(interp);
  c.ignore_missing = std::move(ignore_missing);
  return c;
}

void LibraryIndex::add(const std::string& install_path, const elf::ElfFile& f) {
  if (f.header.type != ET_DYN || !f.is_dynamic()) return;
  Lib l{normalize(dirname_of(install_path)), f.header.machine, f.header.elf_class, f.header.big_endian};
  auto put = [&](const std::string& name) {
    auto& v = libs_[name];
    if (std::none_of(v.begin(), v.end(), [&](const Lib& x) { return x.dir == l.dir && same_arch(x, f); }))
      v.push_back(l);
  };
  put(basename_of(install_path));
  if (f.soname && !f.soname->empty() && f.soname->find('/') == std::string::npos) put(*f.soname);
}

void LibraryIndex::add_tree(const resolve::Root& root, const std::string& dir, int depth) {
  if (depth < 0) return;
  resolve::Lookup d = root.resolve(dir);
  if (!d.found() || !d.is_dir) return;
  for (const auto& e : root.list_dir(d.path)) {
    std::string p = join(d.path, e.name);
    if (e.kind == resolve::Root::Kind::Dir) {
      add_tree(root, p, depth - 1);
      continue;
    }
    if (e.kind != resolve::Root::Kind::File && e.kind != resolve::Root::Kind::Link) continue;
    if (e.name.find(".so") == std::string::npos) continue;  // shared objects only: no need to open the rest
    resolve::Lookup l = root.resolve(p);  // a link is indexed by its own name, in its own directory
    if (!l.found() || l.is_dir) continue;
    int fd = root.open_file(l.path);
    if (fd < 0) continue;
    auto f = elf::read_elf_fd(fd, l.path, {.sections = false});
    if (f) add(p, *f);
  }
}

std::vector<std::string> LibraryIndex::dirs_for(const std::string& name, const elf::ElfFile& of) const {
  std::vector<std::string> out;
  if (auto it = libs_.find(name); it != libs_.end())
    for (const Lib& l : it->second)
      if (same_arch(l, of)) out.push_back(l.dir);
  return out;
}

bool LibraryIndex::has(const std::string& dir, const std::string& name, const elf::ElfFile& of) const {
  auto it = libs_.find(name);
  if (it == libs_.end()) return false;
  std::string d = normalize(dir);
  return std::any_of(it->second.begin(), it->second.end(), [&](const Lib& l) { return l.dir == d && same_arch(l, of); });
}

FilePlan plan_file(const elf::ElfFile& f, const std::string& install_path, const Config& c, const LibraryIndex& idx) {
  FilePlan p;
  if (f.header.type != ET_EXEC && f.header.type != ET_DYN) {
    p.verdict = Verdict::OtherTarget;
    p.reason = fmt::format("e_type {}: not a program or shared library", elf::elf_type_name(f.header.type));
    return p;
  }
  if (!f.is_dynamic()) {
    p.verdict = Verdict::Static;
    p.reason = "statically linked: no loader, nothing to retarget";
    return p;
  }
  const elf::Target t = elf::describe_target(f);
  const elf::Libc other = c.libc == elf::Libc::Glibc ? elf::Libc::Musl : elf::Libc::Glibc;
  // Machine, class, byte order and the e_flags ABI (an armel program is not
  // arm-linux-gnueabihf's, a soft-float riscv64 one not riscv64-linux-gnu's).
  if (!elf::built_for(c.info, f) || t.libc == other) {
    p.verdict = Verdict::OtherTarget;
    p.reason = t.tuple ? fmt::format("built for {}, not {}", *t.tuple, c.tuple)
                       : fmt::format("{} ({}), not {}", t.arch, t.abi.empty() ? elf::libc_name(t.libc) : t.abi, c.tuple);
    return p;
  }
  const std::string loader = c.info.loader;
  const std::string libdir = c.prefix == "/" ? "/lib" : c.prefix + "/lib";
  if (f.interpreter) p.interp = c.interp.value_or(join(libdir, loader));
  const std::string origin = normalize(dirname_of(install_path));

  // Keep the $ORIGIN entries of the search path in force.
  std::vector<std::string> entries{libdir};
  const std::optional<std::string>& old = f.runpath ? f.runpath : f.rpath;
  std::vector<std::string> origin_entries;
  if (old)
    for (const std::string& e : split_colon(*old))
      if (has_origin(e)) origin_entries.push_back(e);
  entries.insert(entries.end(), origin_entries.begin(), origin_entries.end());

  for (const std::string_view needed : f.needed) {
    const std::string name(needed);
    const bool by_loader = c.libc == elf::Libc::Musl ? resolve::musl_reserved_name(name) || name == loader
                                                      : name == loader;
    if (by_loader) {
      p.found[name] = "the loader";
      continue;
    }
    if (idx.has(libdir, name, f)) {
      p.found[name] = libdir;
      continue;
    }
    auto via_origin = std::find_if(origin_entries.begin(), origin_entries.end(),
                                   [&](const std::string& e) { return idx.has(expand_origin(e, origin), name, f); });
    if (via_origin != origin_entries.end()) {
      p.found[name] = expand_origin(*via_origin, origin);
      continue;
    }
    auto dirs = idx.dirs_for(name, f);
    if (!dirs.empty()) {
      p.found[name] = dirs.front();
      entries.push_back(dirs.front());
      continue;
    }
    if (std::any_of(c.ignore_missing.begin(), c.ignore_missing.end(),
                    [&](const std::string& g) { return ::fnmatch(g.c_str(), name.c_str(), 0) == 0; }))
      p.ignored.push_back(name);
    else
      p.unresolved.push_back(name);
  }
  std::vector<std::string> unique;
  for (const std::string& e : entries)
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  p.runpath = fmt::format("{}", fmt::join(unique, ":"));

  if (!p.unresolved.empty()) {
    p.verdict = Verdict::Unresolved;
    p.reason = fmt::format("DT_NEEDED {} found neither under {} nor in the staged files (--ignore-missing GLOB to accept)",
                           fmt::join(p.unresolved, ", "), c.prefix);
    return p;
  }
  if (f.interpreter && *f.interpreter != p.interp) p.edits.interpreter = p.interp;
  // A file that needs nothing (a loader, a plugin without dependencies)
  // searches nothing: its search path is left as it is.
  if (f.needed.empty()) {
    p.runpath = f.runpath.value_or("");
  } else {
    if (f.runpath != p.runpath) p.edits.runpath = p.runpath;
    if (f.rpath) p.edits.remove_runpath = true;  // RPATH goes; the RUNPATH set here stays
  }
  if (p.edits.empty()) {
    p.verdict = Verdict::AlreadyRight;
    p.reason = f.needed.empty() ? "no DT_NEEDED, and no interpreter to change" : "interpreter and runpath are already right";
  }
  return p;
}

}  // namespace xpatch::retarget
