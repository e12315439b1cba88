// xpatch [edits] FILE...: rewrite interpreter, runpath, needed and soname.
//
// Per file: map -> parse -> plan (all edits together) -> [--dry-run: print
// the plan] -> apply into memory -> [--verify: re-read with libpatch and
// LIEF] -> write atomically. A file is either fully patched or untouched.

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <new>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/json.h"

namespace xpatch::cli {
namespace {

// What the output must read back as, for --verify.
std::optional<std::string> check_readback(const elf::ElfFile& out, const rewrite::EditSet& e) {
  auto has = [&](const std::string& lib) { return std::find(out.needed.begin(), out.needed.end(), lib) != out.needed.end(); };
  if (e.interpreter && out.interpreter != e.interpreter)
    return fmt::format("PT_INTERP reads back as \"{}\"", out.interpreter.value_or(""));
  if (e.runpath && out.runpath != e.runpath)
    return fmt::format("DT_RUNPATH reads back as \"{}\"", out.runpath.value_or(""));
  if (e.rpath && out.rpath != e.rpath) return fmt::format("DT_RPATH reads back as \"{}\"", out.rpath.value_or(""));
  if (e.soname && out.soname != e.soname) return fmt::format("DT_SONAME reads back as \"{}\"", out.soname.value_or(""));
  if (e.remove_runpath && (out.runpath || out.rpath)) return std::string("DT_RUNPATH/DT_RPATH still present");
  for (const auto& lib : e.add_needed)
    if (!has(lib)) return fmt::format("DT_NEEDED \"{}\" missing", lib);
  for (const auto& lib : e.remove_needed)
    if (has(lib)) return fmt::format("DT_NEEDED \"{}\" still present", lib);
  for (const auto& [from, to] : e.replace_needed)
    if (!has(to) || (from != to && has(from))) return fmt::format("DT_NEEDED \"{}\" not replaced by \"{}\"", from, to);
  return std::nullopt;
}

// The independent second reader: LIEF parses the output bytes, through the
// module next to the executable (see lief_module.cpp).
std::optional<std::string> lief_readback(const std::vector<std::byte>& bytes, const elf::ElfFile& ours) {
  using Describe = char* (*)(const unsigned char*, std::size_t);
  static Describe describe = [] {
    char self[PATH_MAX] = {};
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : std::string(".");
    dir = dir.substr(0, dir.rfind('/'));
    for (const std::string& p : {dir + "/xpatch-lief.so", dir + "/../lib/xpatch/xpatch-lief.so"})
      if (void* h = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL))
        return reinterpret_cast<Describe>(::dlsym(h, "xpatch_lief_describe"));
    return Describe{nullptr};
  }();
  if (!describe) return std::string("the LIEF module (xpatch-lief.so) is not installed next to xpatch");
  char* raw = describe(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  if (!raw) return std::string("out of memory");
  std::string text(raw);
  std::free(raw);
  std::vector<std::string> lines;
  for (std::size_t a = 0, b; a < text.size(); a = b + 1) {
    b = text.find('\n', a);
    lines.push_back(text.substr(a, b - a));
  }
  if (lines.empty() || lines[0] != "ok") return lines.empty() ? "LIEF gave no answer" : lines[0];
  if (lines.size() < 3) return std::string("LIEF gave a short answer");
  if (lines[1] != ours.interpreter.value_or("")) return fmt::format("LIEF reads PT_INTERP as \"{}\"", lines[1]);
  if (lines[2] != ours.runpath.value_or("")) return fmt::format("LIEF reads DT_RUNPATH as \"{}\"", lines[2]);
  std::vector<std::string> needed(lines.begin() + 3, lines.end());
  if (needed != ours.needed) return std::string("LIEF reads a different DT_NEEDED list");
  return std::nullopt;
}

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

int patch_one(const std::string& path, const PatchOptions& opt, const Style& st) {
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
    // Check the exact bytes that will be written, with both readers.
    std::vector<std::byte> out;
    try {
      out = rewrite::apply(*plan, map->bytes());
    } catch (const std::bad_alloc&) {
      return fail({Error::Kind::Io, fmt::format("{}: --verify: the output ({} bytes) does not fit in memory", path,
                                                plan->new_size)});
    }
    auto back = elf::read_elf(out, path + " (output)");
    if (!back) return fail({Error::Kind::Malformed, "--verify: libpatch cannot re-read the output: " + back.error().message});
    if (auto why = check_readback(*back, opt.edits)) return fail({Error::Kind::Malformed, path + ": --verify: " + *why});
    if (auto why = lief_readback(out, *back)) return fail({Error::Kind::Malformed, path + ": --verify: " + *why});
  }
  if (auto err = rewrite::write_plan_atomically(dest, *src, *plan, !opt.no_sync)) return fail(*err);
  if (opt.json) print_json(plan_json(path, &*plan, nullptr, opt.dry_run));
  else if (opt.verbose)
    fmt::print("{}: patched, {:+} bytes\n", path, plan->growth());
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
  int code = kOk;
  for (const std::string& f : opt.files) code = std::max(code, patch_one(f, opt, st));
  return code;
}

}  // namespace xpatch::cli
