#include "libpatch/archive/installed.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "libpatch/elf/paths.h"

namespace xpatch::archive {
namespace {

// A database file is read whole, up to this size (dpkg's lists are a few
// hundred KiB; apk's one database of a full system a few MiB).
constexpr std::size_t kMaxDatabaseFile = 64u << 20;

// "/usr/lib/x" (or "usr/lib/x" with `relative`) -> "/usr/lib/x",
// normalized; nullopt for the root itself, a '..' component, or a line
// that is not a path.
std::optional<std::string> confined(std::string_view p, bool relative) {
  while (!p.empty() && (p.back() == '\r')) p.remove_suffix(1);
  if (p.empty() || p.find('\0') != std::string_view::npos) return std::nullopt;
  if (relative == p.starts_with('/')) return std::nullopt;
  for (std::string_view c : paths::split(p, "/", false))
    if (c == "..") return std::nullopt;
  std::string n = paths::normalize(relative ? paths::join("/", p) : std::string(p));
  if (n == "/") return std::nullopt;
  return n;
}

// A package name as the managers allow it: no '/', not "." or "..", so it
// cannot lead a database path elsewhere.
bool plain_name(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos &&
         n.find('\0') == std::string_view::npos;
}

struct Read {
  bool exists = false;
  std::string text;
  std::string note;
};
Read read_db(const resolve::Root& root, const std::string& path) {
  Read r;
  resolve::Lookup l = root.resolve(path);
  if (!l.found() || l.is_dir) return r;
  r.exists = true;
  if (int rc = root.read_file(l.path, r.text, kMaxDatabaseFile); rc != 0) {
    r.note = rc == -E2BIG ? fmt::format("{}: larger than {} bytes: not read", path, kMaxDatabaseFile)
                          : fmt::format("{}: cannot read: {}", path, std::strerror(-rc));
    r.text.clear();
  }
  return r;
}

}  // namespace

std::vector<std::string> parse_dpkg_list(std::string_view text, unsigned& skipped) {
  std::vector<std::string> out;
  for (std::string_view line : paths::split(text, "\n", false)) {
    if (line == "/.") continue;
    if (auto p = confined(line, false)) out.push_back(std::move(*p));
    else ++skipped;
  }
  return out;
}

std::vector<std::string> parse_dpkg_conffiles(std::string_view text, unsigned& skipped) {
  std::vector<std::string> out;
  for (std::string_view line : paths::split(text, "\n", false)) {
    line = line.substr(0, line.find(' '));  // "/etc/x remove-on-upgrade"
    if (auto p = confined(line, false)) out.push_back(std::move(*p));
    else ++skipped;
  }
  return out;
}

std::vector<std::string> parse_pacman_files(std::string_view text, unsigned& skipped) {
  std::vector<std::string> out;
  bool in_files = false;
  for (std::string_view line : paths::split(text, "\n", true)) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with('%') && line.ends_with('%') && line.size() > 1) {
      in_files = line == "%FILES%";
      continue;
    }
    if (!in_files || line.empty() || line.ends_with('/')) continue;  // directories end in '/'
    if (auto p = confined(line, true)) out.push_back(std::move(*p));
    else ++skipped;
  }
  return out;
}

std::string parse_pacman_name(std::string_view desc) {
  bool next = false;
  for (std::string_view line : paths::split(desc, "\n", true)) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (next) return std::string(line);
    next = line == "%NAME%";
  }
  return {};
}

std::vector<std::string> parse_apk_installed(std::string_view text, std::string_view name, unsigned& skipped,
                                             bool* found) {
  std::vector<std::string> out;
  bool mine = false;
  std::string dir;
  if (found) *found = false;
  for (std::string_view line : paths::split(text, "\n", true)) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) {  // a blank line ends a package's block
      if (mine) break;
      dir.clear();
      continue;
    }
    if (line.size() < 2 || line[1] != ':') continue;
    const std::string_view value = line.substr(2);
    switch (line[0]) {
      case 'P':
        mine = value == name;
        if (mine && found) *found = true;
        break;
      case 'F':
        if (mine) dir = std::string(value);
        break;
      case 'R':
        if (!mine) break;
        if (value.find('/') != std::string_view::npos) {
          ++skipped;
          break;
        }
        if (auto p = confined(paths::join(dir, value), true))
          out.push_back(std::move(*p));
        else
          ++skipped;
        break;
      default: break;
    }
  }
  return out;
}

Installed installed_version(const resolve::Root& root, const resolve::Layer& layer) {
  Installed in;
  if (!plain_name(layer.package)) return in;
  std::vector<std::string> files;
  std::set<std::string> kept;  // what the manager keeps although the new version lacks it
  auto note = [&](const Read& r) {
    if (!r.note.empty()) in.note = r.note;
  };
  switch (layer.manager) {
    case resolve::Manager::Dpkg: {
      // dpkg names a package's files info/NAME:ARCH.list when it is
      // Multi-Arch: same, else info/NAME.list (its database format 1).
      const std::string info = "/var/lib/dpkg/info/" + layer.package;
      std::vector<std::string> stems;
      if (plain_name(layer.architecture)) stems.push_back(info + ":" + layer.architecture);
      stems.push_back(info);
      for (const std::string& stem : stems) {
        Read r = read_db(root, stem + ".list");
        if (!r.exists) continue;
        in.record = stem + ".list";
        note(r);
        files = parse_dpkg_list(r.text, in.skipped_lines);
        // Obsolete conffiles stay on an upgrade (dpkg-query shows them "obsolete").
        Read c = read_db(root, stem + ".conffiles");
        note(c);
        for (std::string& p : parse_dpkg_conffiles(c.text, in.skipped_lines)) kept.insert(std::move(p));
        break;
      }
      break;
    }
    case resolve::Manager::Pacman:
    case resolve::Manager::Apk:
    case resolve::Manager::Pkginfo: {
      if (layer.manager != resolve::Manager::Apk) {
        // local/NAME-VER-REL/: pkgver and pkgrel hold no '-', a name may.
        const std::string local = "/var/lib/pacman/local";
        resolve::Lookup l = root.resolve(local);
        if (l.found() && l.is_dir)
          for (const resolve::Root::Entry& e : root.list_dir(l.path, false)) {
            if (e.kind != resolve::Root::Kind::Dir || !e.name.starts_with(layer.package + "-")) continue;
            const std::string_view rest = std::string_view(e.name).substr(layer.package.size() + 1);
            if (std::count(rest.begin(), rest.end(), '-') != 1) continue;
            Read desc = read_db(root, l.path + "/" + e.name + "/desc");
            if (parse_pacman_name(desc.text) != layer.package) continue;
            in.record = local + "/" + e.name + "/files";
            Read r = read_db(root, l.path + "/" + e.name + "/files");
            note(r);
            files = parse_pacman_files(r.text, in.skipped_lines);
            break;
          }
      }
      if (in.record.empty() && layer.manager != resolve::Manager::Pacman) {
        Read r = read_db(root, "/lib/apk/db/installed");
        note(r);
        bool found = false;
        files = parse_apk_installed(r.text, layer.package, in.skipped_lines, &found);
        if (found) in.record = "/lib/apk/db/installed";
      }
      break;
    }
    case resolve::Manager::None:
    case resolve::Manager::Rpm: break;  // rpm's database is not read
  }
  std::set<std::string> shipped;
  for (const resolve::LayerEntry& e : layer.entries) shipped.insert(e.path);
  for (std::string& f : files)
    if (!shipped.count(f) && !kept.count(f)) in.removed.push_back(std::move(f));
  std::sort(in.removed.begin(), in.removed.end());
  in.removed.erase(std::unique(in.removed.begin(), in.removed.end()), in.removed.end());
  return in;
}

}  // namespace xpatch::archive
