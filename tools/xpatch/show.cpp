// xpatch show: report what a loader needs to know about each ELF file.
//
// Phases: collect the files (walk) -> parse them in parallel, each into its
// finished output text -> print in input order. Output order never depends
// on thread timing.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/ordered_pool.h"
#include "tools/xpatch/json_writer.h"

namespace xpatch::cli {
namespace {

using elf::ElfFile;

std::string or_hex(std::string_view name, std::uint64_t v) {
  return name.empty() ? fmt::format("{:#x}", v) : std::string(name);
}

// One line of JSON Lines, schema in docs/json.md.
std::string to_json(const ElfFile& f) {
  const elf::Header& h = f.header;
  elf::Target t = elf::describe_target(f);
  std::string out;
  out.reserve(1024);
  JsonWriter j(out);
  j.begin_object();
  j.field("file", f.path).field("ok", true);
  j.field("class", h.elf_class).field("endian", h.big_endian ? "big" : "little");
  j.field("osabi", unsigned{h.osabi}).field("abiversion", unsigned{h.abiversion});
  j.field("type", unsigned{h.type}).field("type_name", or_hex(elf::elf_type_name(h.type), h.type));
  j.field("machine", unsigned{h.machine}).field("machine_name", elf::machine_name(h.machine));
  j.field("flags", h.flags).field("entry", h.entry).field("phoff", h.phoff).field("shoff", h.shoff);
  j.field("phnum", h.phnum).field("shnum", h.shnum);
  j.field("interpreter", f.interpreter).field("needed", f.needed);
  j.field("runpath", f.runpath).field("rpath", f.rpath).field("soname", f.soname);
  j.field("dt_flags", f.dt_flags).field("dt_flags_1", f.dt_flags_1);
  j.field("dt_flags_names", elf::dt_flags_names(f.dt_flags));
  j.field("dt_flags_1_names", elf::dt_flags_1_names(f.dt_flags_1));
  j.key("segments").begin_array();
  for (const elf::Segment& s : f.segments) {
    j.begin_object();
    j.field("type", s.type).field("type_name", or_hex(elf::segment_type_name(s.type), s.type));
    j.field("flags", s.flags).field("offset", s.offset).field("vaddr", s.vaddr).field("paddr", s.paddr);
    j.field("filesz", s.filesz).field("memsz", s.memsz).field("align", s.align);
    j.end_object();
  }
  j.end_array();
  j.key("dynamic").begin_array();
  for (const elf::DynEntry& d : f.dynamic) {
    j.begin_object();
    j.field("tag", d.tag).field("tag_name", or_hex(elf::dynamic_tag_name(d.tag), d.tag)).field("value", d.value);
    j.end_object();
  }
  j.end_array();
  j.key("target").begin_object();
  j.field("arch", t.arch).field("abi", t.abi).field("libc", elf::libc_name(t.libc));
  j.field("tuple", t.tuple).field("loader", t.loader);
  j.end_object();
  j.end_object();
  out += '\n';
  return out;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string to_text(const ElfFile& f, const Style& st) {
  const elf::Header& h = f.header;
  elf::Target t = elf::describe_target(f);
  auto dim = fmt::emphasis::faint;
  auto opt = [&](const std::optional<std::string>& v) { return v ? *v : st(dim, "-"); };
  std::string kind = h.type == ET_DYN ? (f.is_pie() ? "PIE executable" : "shared object")
                     : h.type == ET_EXEC ? "executable"
                                         : or_hex(elf::elf_type_name(h.type), h.type);
  std::string out = fmt::format("{}: ELF{} {}-endian {}, {}\n", st(fmt::emphasis::bold, f.path), h.elf_class,
                                h.big_endian ? "big" : "little", kind, elf::machine_name(h.machine));
  auto row = [&](std::string_view k, const std::string& v) { out += fmt::format("  {:<12} {}\n", k, v); };
  row("arch", t.abi.empty() ? t.arch : fmt::format("{} ({})", t.arch, t.abi));
  row("libc", std::string(elf::libc_name(t.libc)));
  row("tuple", t.tuple ? st(fg(fmt::terminal_color::cyan), *t.tuple) : st(dim, "-"));
  row("interpreter", opt(f.interpreter));
  row("needed", f.needed.empty() ? st(dim, "-") : join(f.needed, ", "));
  row("runpath", opt(f.runpath));
  row("rpath", opt(f.rpath));
  row("soname", opt(f.soname));
  std::vector<std::string> flags = elf::dt_flags_names(f.dt_flags);
  for (auto& s : elf::dt_flags_1_names(f.dt_flags_1)) flags.push_back("1:" + s);
  row("flags", flags.empty() ? st(dim, "-") : join(flags, " "));
  return out;
}

struct Outcome {
  std::string out;    // text for stdout
  std::string error;  // message for stderr
  int code = kOk;
};

Outcome show_one(const Walked& w, const ShowOptions& opt, const Style& st) {
  // show never looks at sections, so their headers are bounds-checked only.
  // A walked file is opened without following links; a named one was
  // stat'ed by the walk, so a device or FIFO is never opened.
  auto f = [&]() -> Expected<elf::ElfFile> {
    if (!w.regular) return elf::read_elf_file(w.path, {.sections = false});  // says what it is, unopened
    int fd = resolve::open_walked_file(w.path, w.explicitly);
    if (fd < 0) return Error{Error::Kind::Io, w.path + ": cannot open: " + std::strerror(-fd)};
    return elf::read_elf_fd(fd, w.path, {.sections = false});
  }();
  if (f) return {opt.json ? to_json(*f) : to_text(*f, st) + "\n", {}, kOk};
  const Error& e = f.error();
  // Inside a directory walk, files that are not ELF are simply not ours.
  if (e.kind == Error::Kind::NotElf && !w.explicitly) return {};
  int code = e.kind == Error::Kind::NotElf ? kProblem : kError;
  std::string out;
  if (opt.json) {
    JsonWriter j(out);
    j.begin_object().field("file", w.path).field("ok", false);
    j.key("error").begin_object().field("kind", kind_name(e.kind)).field("message", e.message).end_object();
    j.end_object();
    out += '\n';
  }
  return {out, e.message, code};
}

}  // namespace

int run_show(const ShowOptions& opt) {
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  int code = kOk;
  std::vector<Walked> files;
  walk(opt.paths, opt.walk, [&](Walked w) { files.push_back(std::move(w)); },
       [&](const std::string& msg) {
         print_error(msg);
         code = kError;
       });

  // Parsed in parallel, printed in input order; memory stays bounded.
  unsigned jobs = workers_for(files.size(), opt.jobs);
  ordered_pool<Outcome>(
      files.size(), jobs, 1024, [&](std::size_t i) { return show_one(files[i], opt, st); },
      [&](Outcome&& r) {
        std::fwrite(r.out.data(), 1, r.out.size(), stdout);
        if (!r.error.empty()) print_error(r.error);
        code = std::max(code, r.code);
      },
      [](std::size_t) {});
  std::fflush(stdout);
  return code;
}

}  // namespace xpatch::cli
