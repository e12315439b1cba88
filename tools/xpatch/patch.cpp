// xpatch [edits] FILE...: rewrite interpreter, runpath, needed and soname.
//
// Per file: map -> parse -> plan (all edits together) -> [--dry-run: print
// the plan] -> apply into memory -> [--verify: re-read with libpatch and
// LIEF] -> write atomically. A file is either fully patched or untouched.

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <new>

#include <nlohmann/json.hpp>

#include "libpatch/elf/mapped_file.h"
#include "libpatch/elf/model.h"
#include "libpatch/rewrite/plan.h"
#include "libpatch/rewrite/write_file.h"
#include "tools/xpatch/cli.h"

namespace xpatch::cli {
namespace {

using nlohmann::ordered_json;

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

ordered_json plan_json(const std::string& file, const rewrite::Plan& p) {
  ordered_json steps = ordered_json::array();
  for (const auto& s : p.steps) steps.push_back({{"what", s.what}, {"strategy", s.strategy}, {"detail", s.detail}});
  return {{"file", file}, {"changed", p.changes()}, {"old_size", p.old_size}, {"new_size", p.new_size},
          {"growth", p.growth()}, {"steps", steps}};
}

// A file staged in the batch: what to print once it is in place.
struct Pending {
  std::string path, dest, done;  // `done`: the JSON plan or the verbose line
};

int patch_one(const std::string& path, const PatchOptions& opt, const Style& st, rewrite::WriteBatch& batch,
              std::vector<Pending>& pending) {
  auto fail = [&](const Error& e) {
    print_error(e.message);
    if (opt.json)
      fmt::print("{}\n", ordered_json{{"file", path}, {"ok", false},
                                      {"error", {{"kind", kind_name(e.kind)}, {"message", e.message}}}}
                             .dump());
    return kError;  // for a rewrite every failure is an error: nothing was written
  };
  auto src = rewrite::resolve_destination(path);
  if (!src) return fail(src.error());
  auto map = MappedFile::open(*src);
  if (!map) return fail(map.error());
  auto f = elf::read_elf(map->bytes(), path);
  if (!f) return fail(f.error());
  auto plan = rewrite::plan_rewrite(*f, map->bytes(), opt.edits);
  if (!plan) return fail(plan.error());

  if (opt.dry_run) {
    if (opt.json) {
      fmt::print("{}\n", plan_json(path, *plan).dump());
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
    if (opt.json) fmt::print("{}\n", plan_json(path, *plan).dump());
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
  // Written unnamed and read back now; made durable and renamed into place
  // with the rest of the batch (run_patch).
  if (auto err = batch.add(dest, *src, *plan)) return fail(*err);
  pending.push_back({path, dest,
                     opt.json      ? plan_json(path, *plan).dump() + "\n"
                     : opt.verbose ? fmt::format("{}: patched, {:+} bytes\n", path, plan->growth())
                                   : std::string()});
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
  // One batch: every file written and read back unnamed, then all made
  // durable together (one syncfs per filesystem), then each renamed.
  int code = kOk;
  rewrite::WriteBatch batch({.durable = !opt.no_sync, .force_owner = opt.force});
  std::vector<Pending> pending;
  auto commit = [&] {
    auto errors = batch.commit();
    for (const Pending& p : pending) {
      auto e = std::find_if(errors.begin(), errors.end(), [&](const auto& x) { return x.first == p.dest; });
      if (e == errors.end()) {
        std::fwrite(p.done.data(), 1, p.done.size(), stdout);
        continue;
      }
      print_error(e->second.message);
      if (opt.json)
        fmt::print("{}\n", ordered_json{{"file", p.path}, {"ok", false},
                                        {"error", {{"kind", kind_name(e->second.kind)}, {"message", e->second.message}}}}
                               .dump());
      code = kError;
    }
    pending.clear();
  };
  for (const std::string& f : opt.files) {
    code = std::max(code, patch_one(f, opt, st, batch, pending));
    if (batch.full()) commit();
  }
  commit();
  return code;
}

}  // namespace xpatch::cli
