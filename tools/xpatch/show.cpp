// xpatch show: report what a loader needs to know about each ELF file.
//
// Phases: walk, streaming each file to the workers as it is found -> parse
// them in parallel, each into its finished output text -> print in walk
// order. Output order never depends on thread timing.

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <utility>

#include "libpatch/elf/model.h"
#include "libpatch/elf/target.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/ordered_pool.h"
#include "tools/xpatch/json.h"

namespace xpatch::cli {
namespace {

using elf::ElfFile;

std::string or_hex(std::string_view name, std::uint64_t v) {
  return name.empty() ? fmt::format("{:#x}", v) : std::string(name);
}

// The ELF keys of a show object, every one present (null when the file
// could not be read), in the order docs/json.md lists them.
constexpr const char* kElfKeys[] = {"class", "endian", "osabi", "abiversion", "type", "type_name", "machine",
                                    "machine_name", "flags", "entry", "phoff", "shoff", "phnum", "shnum",
                                    "interpreter", "needed", "runpath", "rpath", "soname", "dt_flags", "dt_flags_1",
                                    "dt_flags_names", "dt_flags_1_names", "segments", "dynamic", "target"};

// One line of JSON Lines, schema in docs/json.md.
std::string to_json(const ElfFile& f) {
  const elf::Header& h = f.header;
  elf::Target t = elf::describe_target(f);
  Json j = json_object();
  j.get_ref<Json::object_t&>().reserve(32);  // one allocation for the keys: show is a hot path
  j["file"] = f.path;
  j["ok"] = true;
  j["status"] = "ok";
  j["error"] = nullptr;
  j["class"] = h.elf_class;
  j["endian"] = h.big_endian ? "big" : "little";
  j["osabi"] = h.osabi;
  j["abiversion"] = h.abiversion;
  j["type"] = h.type;
  j["type_name"] = or_hex(elf::elf_type_name(h.type), h.type);
  j["machine"] = h.machine;
  j["machine_name"] = elf::machine_name(h.machine);
  j["flags"] = h.flags;
  j["entry"] = h.entry;
  j["phoff"] = h.phoff;
  j["shoff"] = h.shoff;
  j["phnum"] = h.phnum;
  j["shnum"] = h.shnum;
  j["interpreter"] = json_or_null(f.interpreter);
  j["needed"] = f.needed;
  j["runpath"] = json_or_null(f.runpath);
  j["rpath"] = json_or_null(f.rpath);
  j["soname"] = json_or_null(f.soname);
  j["dt_flags"] = f.dt_flags;
  j["dt_flags_1"] = f.dt_flags_1;
  j["dt_flags_names"] = elf::dt_flags_names(f.dt_flags);
  j["dt_flags_1_names"] = elf::dt_flags_1_names(f.dt_flags_1);
  Json& segs = j["segments"] = Json::array();
  segs.get_ref<Json::array_t&>().reserve(f.segments.size());
  for (const elf::Segment& s : f.segments)
    segs.push_back({{"type", s.type}, {"type_name", or_hex(elf::segment_type_name(s.type), s.type)},
                    {"flags", s.flags}, {"offset", s.offset}, {"vaddr", s.vaddr}, {"paddr", s.paddr},
                    {"filesz", s.filesz}, {"memsz", s.memsz}, {"align", s.align}});
  Json& dyn = j["dynamic"] = Json::array();
  dyn.get_ref<Json::array_t&>().reserve(f.dynamic.size());
  for (const elf::DynEntry& d : f.dynamic)
    dyn.push_back({{"tag", d.tag}, {"tag_name", or_hex(elf::dynamic_tag_name(d.tag), d.tag)}, {"value", d.value}});
  j["target"] = {{"arch", t.arch},
                 {"abi", t.abi},
                 {"libc", elf::libc_name(t.libc)},
                 {"tuple", json_or_null(t.tuple)},
                 {"loader", json_or_null(t.loader)}};
  return json_line(j);
}

std::string error_json(const std::string& path, const Error& e) {
  Json j = json_object();
  j["file"] = path;
  j["ok"] = false;
  j["status"] = kind_name(e.kind);
  j["error"] = json_error(e);
  for (const char* k : kElfKeys) j[k] = nullptr;
  return json_line(j);
}

template <typename S>  // std::string or std::string_view
std::string join(const std::vector<S>& v, std::string_view sep) {
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

// --format: one line per file, like scanelf -F. A value the file does not
// have prints as "-", so every line has the same number of fields.
std::string to_line(const ElfFile& f, const std::string& format) {
  elf::Target t = elf::describe_target(f);
  auto opt = [](const std::optional<std::string>& v) { return v ? *v : std::string("-"); };
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 == format.size()) {
      out += format[i];
      continue;
    }
    switch (format[++i]) {
      case 'F': out += f.path; break;
      case 'f': out += f.path.substr(f.path.rfind('/') + 1); break;
      case 'i': out += opt(f.interpreter); break;
      case 'n': out += f.needed.empty() ? "-" : join(f.needed, ","); break;
      case 'r': out += opt(f.runpath ? f.runpath : f.rpath); break;
      case 'S': out += opt(f.soname); break;
      case 'a': out += t.arch; break;
      case 't': out += opt(t.tuple); break;
      case 'l': out += elf::libc_name(t.libc); break;
      case 'o': out += or_hex(elf::elf_type_name(f.header.type), f.header.type); break;
      case 'M': out += fmt::format("ELF{}", f.header.elf_class); break;
      default: out += '%'; break;  // "%%"; run_show refused every other directive
    }
  }
  return out + "\n";
}

struct Outcome {
  std::string out;    // text for stdout
  std::string error;  // message for stderr
  int code = kOk;
};

// A file to show: as walked, and the descriptor the walk opened it with
// (relative to its directory, while the walk held that open), or -1.
struct Job {
  Walked w;
  int fd = -1;
  Job(Walked walked) : w(std::move(walked)) {
    if (w.dirfd >= 0) fd = std::max(-1, resolve::open_walked_at(w.dirfd, w.name));
    w.dirfd = -1;
    w.name = nullptr;
  }
  Job(Job&& o) noexcept : w(std::move(o.w)), fd(std::exchange(o.fd, -1)) {}
  Job& operator=(Job&&) = delete;
  ~Job() {
    if (fd >= 0) ::close(fd);
  }
};

Outcome show_one(Job& job, const ShowOptions& opt, const Style& st) {
  const Walked& w = job.w;
  // show never looks at sections, so their headers are bounds-checked only.
  // A walked file is opened without following links; a named one was
  // stat'ed by the walk, so a device or FIFO is never opened.
  auto f = [&]() -> Expected<elf::ElfFile> {
    if (!w.regular) return elf::read_elf_file(w.path, {.sections = false});  // says what it is, unopened
    // Not opened by the walk (or that failed): by path, which says why.
    int fd = job.fd >= 0 ? std::exchange(job.fd, -1) : resolve::open_walked_file(w.path, w.explicitly);
    if (fd < 0) return Error{Error::Kind::Io, w.path + ": cannot open: " + std::strerror(-fd)};
    auto file = OpenFile::adopt(fd, w.path);
    if (!file) return file.error();
    // Most files a walk meets are not ELF: their magic is all they cost.
    if (!w.explicitly && !file->has_elf_magic()) return Error{Error::Kind::NotElf, {}};
    return elf::read_elf_open(*file, w.path, {.sections = false});
  }();
  if (f) return {opt.json ? to_json(*f) : !opt.format.empty() ? to_line(*f, opt.format) : to_text(*f, st) + "\n", {}, kOk};
  const Error& e = f.error();
  // Inside a directory walk, files that are not ELF are simply not ours.
  if (e.kind == Error::Kind::NotElf && !w.explicitly) return {};
  int code = e.kind == Error::Kind::NotElf ? kProblem : kError;
  std::string out = opt.json ? error_json(w.path, e) : std::string();
  if (opt.quiet && e.kind == Error::Kind::NotElf) return {out, {}, code};  // -q: said by the exit code only
  return {out, e.message, code};
}

}  // namespace

int run_show(const ShowOptions& options) {
  ShowOptions opt = options;
  if (opt.oneline && opt.format.empty()) opt.format = "%F %t %i %r %n";
  // A directive to_line does not know is a typo: said once, before any file.
  for (std::size_t i = 0; i + 1 < opt.format.size(); ++i)
    if (opt.format[i] == '%' && std::string_view("FfinrSatloM%").find(opt.format[++i]) == std::string_view::npos) {
      print_error(fmt::format("show --format: unknown directive %{} in \"{}\" (known: %F %f %i %n %r %S %a %t %l %o %M %%)",
                              opt.format[i], opt.format));
      return kError;
    }
  if (opt.from_stdin) {
    auto more = read_stdin_list(opt.null_sep);
    opt.paths.insert(opt.paths.end(), more.begin(), more.end());
  }
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  int code = kOk;
  // The walk streams its files to the workers as it reads directories;
  // each is parsed into its finished text and printed in walk order.
  ordered_stream<Job, Outcome>(
      workers_for(SIZE_MAX, opt.jobs), kStreamWindow,
      [&](auto push) {
        walk(opt.paths, opt.walk, [&](Walked w) { push(Job(std::move(w))); }, [&](const std::string& msg) {
          print_error(msg);
          code = kError;
        });
      },
      [&](Job&& job) { return show_one(job, opt, st); },
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
