#include "libpatch/retarget/retarget.h"

#include <elf.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/parallel.h"
#include "libpatch/resolve/loader.h"
#include "libpatch/resolve/rules.h"
#include "libpatch/elf/paths.h"
#include "libpatch/rewrite/output.h"

namespace xpatch::retarget {
namespace {

using paths::basename_of;
using paths::dirname_of;
using paths::join;
using paths::normalize;

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
  // Only the libraries found are looked up again (below), so the listing
  // leaves no record of the rest in the root's cache: a tree is mostly
  // headers and data, and a record each made retarget's memory grow with it.
  for (const auto& e : root.list_dir(d.path, /*remember=*/false)) {
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

  // Keep the $ORIGIN entries of the search path in force, ahead of the
  // tuple's lib dir: they find the libraries bundled with the file, which
  // loaded before the retarget and must load after it (a root's copy of the
  // same name behind them would otherwise take their place).
  const std::optional<std::string>& old = f.runpath ? f.runpath : f.rpath;
  std::vector<std::string> origin_entries;
  if (old)
    for (const std::string& e : resolve::split_list(*old, ":", true))
      if (has_origin(e)) origin_entries.push_back(e);
  std::vector<std::string> entries = origin_entries;
  entries.push_back(libdir);

  for (const std::string_view needed : f.needed) {
    const std::string name(needed);
    const bool by_loader = c.libc == elf::Libc::Musl ? resolve::musl_reserved_name(name) || name == loader
                                                      : name == loader;
    if (by_loader) {
      p.found[name] = "the loader";
      continue;
    }
    auto via_origin = std::find_if(origin_entries.begin(), origin_entries.end(),
                                   [&](const std::string& e) { return idx.has(expand_origin(e, origin), name, f); });
    if (via_origin != origin_entries.end()) {
      p.found[name] = expand_origin(*via_origin, origin);
      continue;
    }
    if (idx.has(libdir, name, f)) {
      p.found[name] = libdir;
      continue;
    }
    auto dirs = idx.dirs_for(name, f);
    if (!dirs.empty()) {
      p.found[name] = dirs.front();
      entries.push_back(dirs.front());
      continue;
    }
    if (resolve::name_ignored(name, c.ignore_missing))
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

// ---- plan_batch ----

namespace xpatch::retarget {
namespace {

// The file's bytes: BatchFile::open's descriptor, else the host path.
Expected<OpenFile> open_input(const BatchFile& b) {
  if (!b.open) return OpenFile::open(b.host);
  const int fd = b.open();
  if (fd < 0) return Error{Error::Kind::Io, fmt::format("{}: cannot open: {}", b.name, std::strerror(-fd))};
  return OpenFile::adopt(fd, b.name);
}
Expected<MappedFile> map_input(const BatchFile& b) {
  auto in = open_input(b);
  if (!in) return in.error();
  return MappedFile::map(*in, b.open ? b.name : b.host);
}

// Step 1 for one file: read and parse it. The batch keeps only what the
// plans, the index, the loader check and the report need: no section
// headers (the planner reads them again with the file, in step 2), so a
// batch of many files holds a few hundred bytes each.
void read_one(BatchFile& b) {
  if (b.error) return;  // the caller already knows it cannot be read
  auto map = map_input(b);
  auto f = map ? elf::read_elf(map->bytes(), b.name, {.sections = false}) : Expected<elf::ElfFile>(map.error());
  if (f) {
    b.elf.emplace(std::move(*f));
  } else if (f.error().kind == Error::Kind::NotElf && !b.explicitly) {
    b.not_elf = true;
  } else {
    b.error = f.error();
  }
}

// What the checked writes were: FNV-1a over each write's offset, size and
// bytes, and the output's size.
std::uint64_t digest_of(const rewrite::Plan& p) {
  std::uint64_t h = 0xcbf29ce484222325u;
  auto mix = [&](const void* data, std::size_t n) {
    for (const auto* c = static_cast<const unsigned char*>(data); n--; ++c) h = (h ^ *c) * 0x100000001b3u;
  };
  for (const rewrite::Write& w : p.writes) {
    const std::uint64_t head[2] = {w.offset, w.bytes.size()};
    mix(head, sizeof head);
    mix(w.bytes.data(), w.bytes.size());
  }
  mix(&p.new_size, sizeof p.new_size);
  return h;
}

// The file's full read (section headers included: the planner needs them)
// and its plan. `map` keeps the bytes alive.
Expected<rewrite::Plan> plan_writes(const BatchFile& b, const MappedFile& map, std::optional<elf::ElfFile>& full) {
  auto f = elf::read_elf(map.bytes(), b.name);
  if (!f) return f.error();
  full.emplace(std::move(*f));
  return rewrite::plan_rewrite(*full, map.bytes(), b.plan.edits);
}

// Step 2 for one file: plan it, read the planned output back (and verify
// it), and tell the resolver to see the output in its place. What stays is
// the plan: its (offset, bytes) writes, never an image of the output, and
// not even those unless `keep_writes` (planned_writes).
void plan_one(BatchFile& b, const Config& c, const LibraryIndex& idx, resolve::Resolver& resolver,
              const Verifier& verify, bool keep_writes) {
  b.plan = plan_file(*b.elf, b.install, c, idx);
  if (b.plan.verdict != Verdict::Retarget) return;
  // The mapping lives only while this file is planned, so resident memory
  // stays at one file per worker, not the batch.
  auto input = open_input(b);
  auto map = input ? MappedFile::map(*input, b.open ? b.name : b.host) : Expected<MappedFile>(input.error());
  if (!input) {
    b.error = input.error();
    return;
  }
  std::optional<elf::ElfFile> full;
  auto rw = plan_writes(b, *map, full);
  if (!rw) {
    b.error = rw.error();
    return;
  }
  // The planned output, read through copy-on-write pages over the input:
  // only the pages the writes touch are copied, whatever the file's size.
  auto out = rewrite::OutputImage::map(*rw, input->fd(), b.name);
  if (!out) {
    b.error = out.error();
    return;
  }
  auto back = elf::read_elf(out->bytes(), b.name + " (planned output)", {.sections = false});
  if (!back) {
    b.error = Error{back.error().kind, "the planned output does not read back: " + back.error().message};
    return;
  }
  if (verify)
    if (auto why = verify(*full, map->bytes(), out->bytes(), b.plan.edits)) {
      b.error = Error{Error::Kind::Malformed, std::move(*why)};
      return;
    }
  resolve::Lookup l = resolver.root().resolve(b.install);
  if (!l.found()) {
    b.error = Error{Error::Kind::Io, fmt::format("{}: {} is not in the root", b.name, b.install)};
    return;
  }
  b.install = l.path;
  b.digest = digest_of(*rw);
  if (!keep_writes) rw->writes = {};
  b.rewrite.emplace(std::move(*rw));
  resolver.assume(b.install, *back);
}

}  // namespace

BatchResult plan_batch(const std::shared_ptr<resolve::Root>& root, const Config& c, std::vector<BatchFile>& files,
                       const std::vector<std::string>& extra_dirs, unsigned jobs, const Verifier& verify,
                       bool keep_writes) {
  BatchResult result;
  const auto info = elf::parse_tuple(c.tuple);
  result.loader = c.interp.value_or(join(c.prefix == "/" ? "/lib" : c.prefix + "/lib", info ? info->loader : ""));
  result.loader_present = info && root->resolve(result.loader).found();

  // 1. Read; index what a dependency may be found in.
  parallel_for(files.size(), jobs, [&](std::size_t i) { read_one(files[i]); });
  for (BatchFile& b : files)
    if (b.elf && b.install.empty())
      b.error = Error{Error::Kind::Io,
                      fmt::format("{}: neither inside the root {} nor under a --stage directory: where would it be installed?",
                                  b.name, root->dir())};
  LibraryIndex index;
  for (const BatchFile& b : files)
    if (b.elf && !b.error) index.add(b.install, *b.elf);
  index.add_tree(*root, c.prefix);
  for (const std::string& d : extra_dirs)
    if (d != c.prefix) index.add_tree(*root, d);

  // 2. Plans, read back through the output images; the resolver sees each
  //    planned output in its file's place.
  resolve::Resolver resolver(root);
  parallel_for(files.size(), jobs, [&](std::size_t i) {
    if (files[i].elf && !files[i].error) plan_one(files[i], c, index, resolver, verify, keep_writes);
  });
  std::vector<std::size_t> planned;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (files[i].rewrite && !files[i].error) planned.push_back(i);

  // 3. Check every planned file as if written. A refusal puts the original
  // back in view, which may change what its users resolve to: repeat. Each
  // round checks in parallel; refusals are applied between rounds.
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<std::vector<resolve::Finding>> problems(planned.size());
    parallel_for(planned.size(), jobs, [&](std::size_t k) {
      BatchFile& b = files[planned[k]];
      if (b.refused) return;
      for (resolve::Finding& f : resolver.resolve(b.install).findings)
        if (f.severity == resolve::Severity::Error && !resolve::ignored_missing(f, c.ignore_missing))
          problems[k].push_back(std::move(f));
    });
    for (std::size_t k = 0; k < planned.size(); ++k) {
      if (problems[k].empty()) continue;
      BatchFile& b = files[planned[k]];
      b.refused = true;
      b.problems = std::move(problems[k]);
      resolver.assume(b.install, *b.elf);
      changed = true;
    }
  }
  return result;
}

Expected<rewrite::Plan> planned_writes(const BatchFile& b) {
  auto map = MappedFile::open(b.host);
  if (!map) return map.error();
  std::optional<elf::ElfFile> full;
  auto rw = plan_writes(b, *map, full);
  if (!rw) return rw.error();
  if (digest_of(*rw) != b.digest)
    return Error{Error::Kind::Io, fmt::format("{}: changed since it was checked (its planned writes differ), so "
                                              "nothing was written; run retarget again",
                                              b.name)};
  return rw;
}

}  // namespace xpatch::retarget
