// xpatch setup --tuple T [--root ROOT] [--write]: what a shared root needs
// for a tuple besides its binaries (binfmt_misc line, loader search path,
// loader links), each with its state in ROOT; --write creates the missing
// ones and never replaces anything.

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>

#include "libpatch/elf/format.h"
#include "libpatch/resolve/root.h"
#include "libpatch/retarget/setup.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/json.h"

namespace xpatch::cli {
namespace {

using retarget::SetupItem;

// The host's ELF identity, from this very program's header.
void host_identity(retarget::SetupRequest& req) {
  std::array<unsigned char, 20> h{};
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  bool ok = ::read(fd, h.data(), h.size()) == static_cast<ssize_t>(h.size());
  ::close(fd);
  if (!ok) return;
  req.host_class = h[4] == 2 ? 64 : 32;
  req.host_big_endian = h[5] == 2;
  req.host_machine = static_cast<std::uint16_t>(req.host_big_endian ? (h[18] << 8) | h[19] : (h[19] << 8) | h[18]);
}

std::string shown(const SetupItem& it) {
  return it.symlink ? fmt::format("{} -> {}", it.path, it.content) : it.path;
}

// --remove: what the manifest says setup made, taken back where unchanged.
int run_remove(const resolve::Root& root, const SetupOptions& opt) {
  auto r = retarget::remove_setup(root, opt.tuple);
  if (!r) {
    print_error(r.error().message);
    return kError;
  }
  // One line (or JSON object) per path: removed, or kept and why.
  auto report = [&](const std::string& p, std::string_view status, const std::string* why) {
    if (!opt.json) {
      fmt::print("  [{}]{}{}{}\n", status, status == "kept" ? "    " : " ", p, why ? ": " + *why + " (left alone)" : "");
      return;
    }
    Json j = json_object();
    j["path"] = p;
    j["status"] = status;
    j["why"] = why ? Json(*why) : Json(nullptr);
    print_json(j);
  };
  for (const std::string& p : r->removed) report(p, "removed", nullptr);
  for (const auto& [p, why] : r->kept) report(p, "kept", &why);
  if (opt.json) {
    Json j = json_object();
    j["summary"] = {{"tuple", opt.tuple}, {"removed", r->removed.size()}, {"kept", r->kept.size()}};
    print_json(j);
  }
  else
    fmt::print("{} removed, {} kept{}.\n", r->removed.size(), r->kept.size(),
               r->removed.empty() && r->kept.empty()
                   ? fmt::format(" (no manifest {} in {}: setup --write made nothing here)",
                                 retarget::manifest_path(opt.tuple), opt.root)
                   : "");
  return r->kept.empty() ? kOk : kProblem;
}

}  // namespace

int run_setup(const SetupOptions& opt) {
  auto root = resolve::Root::open(opt.root);
  if (!root) {
    print_error(root.error().message);
    return kError;
  }
  if (opt.remove) return run_remove(**root, opt);
  retarget::SetupRequest req{opt.tuple, opt.prefix, opt.qemu};
  host_identity(req);
  auto plan = retarget::plan_setup(**root, req);
  if (!plan) {
    print_error(plan.error().message);
    return kError;
  }
  const Style st = style_for(stdout, opt.json ? ColorMode::Never : opt.color);
  if (!opt.json) {
    fmt::print("{} for {} in {} (prefix {})\n", st(fmt::emphasis::bold, "setup"), plan->tuple, opt.root, plan->prefix);
    fmt::print("  loader {} {}\n", plan->loader,
               plan->loader_present ? "(in the root)"
                                    : st(fg(fmt::terminal_color::yellow),
                                         "(NOT in the root yet: install the tuple's libc there first)"));
    if (plan->native) fmt::print("  binfmt: none needed, this machine runs {} code itself\n", plan->info.arch);
  }
  unsigned missing = 0, present = 0, differs = 0, created = 0, failed = 0;
  bool wrote_binfmt = false;
  std::vector<retarget::Made> made;  // for the manifest, so that --remove can take it back
  for (SetupItem& it : plan->items) {
    std::string state(retarget::state_name(it.state));
    std::string error;
    if (it.state == SetupItem::State::Missing) {
      ++missing;
      if (opt.write) {
        if (auto made_it = retarget::create_item(**root, it, &made); !made_it) {
          error = made_it.error().message;
          state = "failed";
          ++failed;
        } else {
          state = "created";
          ++created;
          wrote_binfmt |= it.what == SetupItem::What::Binfmt;
        }
      }
    } else if (it.state == SetupItem::State::Present) {
      ++present;
    } else {
      ++differs;
    }
    if (opt.json) {
      Json j = json_object();
      j["file"] = (*root)->host_path(it.path);
      j["path"] = it.path;
      j["ok"] = state == "present" || state == "created";
      j["status"] = state;
      j["error"] = error.empty() ? Json(nullptr) : json_error({Error::Kind::Io, error});
      j["what"] = retarget::what_name(it.what);
      j["kind"] = it.symlink ? "symlink" : "file";
      j["target"] = it.symlink ? Json(it.content) : Json(nullptr);
      j["content"] = it.symlink ? Json(nullptr) : Json(it.content);
      j["why"] = it.why;
      j["existing"] = it.existing.empty() ? Json(nullptr) : Json(it.existing);
      print_json(j);
      continue;
    }
    auto color = state == "present" || state == "created" ? fg(fmt::terminal_color::green)
                 : state == "missing"                     ? fg(fmt::terminal_color::yellow)
                                                          : fg(fmt::terminal_color::red);
    fmt::print("\n  {:<9} {:<12} {}\n", st(color, "[" + state + "]"), retarget::what_name(it.what), shown(it));
    if (!it.symlink) {
      std::string body = it.content;
      while (!body.empty() && body.back() == '\n') body.pop_back();
      for (std::size_t at = 0; at <= body.size();) {
        std::size_t nl = body.find('\n', at);
        if (nl == std::string::npos) nl = body.size();
        fmt::print("              | {}\n", body.substr(at, nl - at));
        at = nl + 1;
      }
    }
    fmt::print("              {}\n", st(fmt::emphasis::faint, it.why));
    if (!it.existing.empty()) fmt::print("              there: {} (left alone)\n", it.existing);
    if (!error.empty()) print_error(error);
  }
  if (auto recorded = retarget::record_made(**root, plan->tuple, made); !recorded) {
    print_error(recorded.error().message);
    ++failed;
  }
  const bool complete = differs == 0 && failed == 0 && (opt.write || missing == 0);
  if (opt.json) {
    Json j = json_object();
    j["summary"] = {{"tuple", plan->tuple},       {"prefix", plan->prefix},   {"loader", plan->loader},
                    {"loader_present", plan->loader_present},               {"native", plan->native},
                    {"missing", missing - created}, {"created", created},     {"present", present},
                    {"differs", differs},         {"failed", failed},         {"complete", complete}};
    print_json(j);
  } else {
    fmt::print("\n{} present, {} differ{}", present, differs,
               opt.write ? fmt::format(", {} created, {} failed", created, failed) : fmt::format(", {} missing", missing));
    if (!opt.write && missing) fmt::print(". Nothing written: add --write to create the missing ones");
    fmt::print(".\n");
    if (differs) fmt::print("What differs was left alone: move it away, or retarget the programs that need it.\n");
    if (wrote_binfmt && (*root)->is_host_root())
      fmt::print("To register qemu now: systemctl restart systemd-binfmt (or write the line to "
                 "/proc/sys/fs/binfmt_misc/register).\n");
  }
  if (failed) return kError;
  return complete ? kOk : kProblem;
}

}  // namespace xpatch::cli
