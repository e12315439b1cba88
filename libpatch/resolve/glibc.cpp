// glibc's ld.so: configuration read from the loader binary and ld.so.conf,
// _dl_dst_substitute's tokens, _dl_map_object's search order and
// open_verify's verdicts (elf/dl-load.c). docs/check.md, "glibc".
#include <elf.h>
#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "libpatch/resolve/rules.h"

namespace xpatch::resolve {
namespace {

// glibc's is_dst: "$NAME" or "${NAME}", NAME not followed by [A-Za-z0-9_].
std::size_t dst_len(std::string_view s, std::string_view name) {
  if (s.size() < 2 || s[0] != '$') return 0;
  if (s[1] == '{') {
    if (s.substr(2, name.size()) == name && s.size() > 2 + name.size() && s[2 + name.size()] == '}')
      return name.size() + 3;
    return 0;
  }
  if (s.substr(1, name.size()) != name) return 0;
  if (s.size() > 1 + name.size()) {
    char c = s[1 + name.size()];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') return 0;
  }
  return name.size() + 1;
}

// AT_PLATFORM and the glibc-hwcaps levels: the target table's (libpatch/elf/target.h).
std::string platform_of(const Object& o) { return std::string(elf::platform(o.machine, o.elf_class, o.big_endian)); }
std::vector<std::string> hwcaps_of(const Object& o) { return elf::hwcaps(o.machine, o.elf_class, o.big_endian); }

// glibc's ld.so carries its search defaults as strings: the system
// directories as consecutive NUL-terminated "/.../" strings, and the path of
// its cache. Reading them from the loader in the root beats any table.
void scan_glibc_loader(std::string_view bytes, LoaderConfig& c, std::string& cache) {
  auto is_dir_string = [](std::string_view s) {
    if (s.size() < 2 || s.front() != '/' || s.back() != '/') return false;
    return std::all_of(s.begin(), s.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
  };
  for (std::size_t i = 0; i < bytes.size() && c.system_dirs.empty();) {
    std::size_t nul = bytes.find('\0', i);
    if (nul == std::string_view::npos) break;
    std::vector<std::string> run;
    std::size_t j = i;
    for (;;) {
      std::size_t e = bytes.find('\0', j);
      if (e == std::string_view::npos || !is_dir_string(bytes.substr(j, e - j))) break;
      run.emplace_back(bytes.substr(j, e - j));
      j = e + 1;
    }
    if (run.size() >= 2) c.system_dirs = run;
    i = run.empty() ? nul + 1 : j;
  }
  for (std::size_t at = bytes.find("ld.so.cache"); at != std::string_view::npos;
       at = bytes.find("ld.so.cache", at + 1)) {
    std::size_t end = at + 11;
    if (end >= bytes.size() || bytes[end] != '\0') continue;
    std::size_t start = bytes.rfind('\0', at);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view s = bytes.substr(start, end - start);
    if (s.starts_with('/')) {
      cache = std::string(s);
      break;
    }
  }
}

// ld.so.conf: one directory per line, '#' comments, "include GLOB" (relative
// to the file's directory), "hwcap" lines ignored. Globs may use wildcards in
// their last component, as every distribution's "ld.so.conf.d/*.conf" does.
void parse_ld_so_conf(const Root& root, const std::string& file, std::vector<std::string>& dirs,
                      std::set<std::string>& seen, int depth) {
  if (depth > 8) return;
  Lookup l = root.resolve(file);
  if (!l.found() || l.is_dir || !seen.insert(l.path).second) return;
  std::string text;
  if (root.read_file(l.path, text, 1 << 20) != 0) return;
  for (std::string_view line : split_list(text, "\n", false)) {
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.starts_with("include") && line.size() > 7 && std::isblank(static_cast<unsigned char>(line[7]))) {
      std::string_view pat = line.substr(8);
      while (!pat.empty() && std::isblank(static_cast<unsigned char>(pat.front()))) pat.remove_prefix(1);
      std::string pattern = pat.starts_with('/') ? std::string(pat) : join(dirname_of(file), pat);
      std::string dir = dirname_of(pattern), glob = basename_of(pattern);
      Lookup d = root.resolve(dir);
      if (!d.found() || !d.is_dir) continue;
      for (const Root::Entry& e : root.list_dir(d.path))
        if (::fnmatch(glob.c_str(), e.name.c_str(), FNM_PERIOD) == 0)
          parse_ld_so_conf(root, join(d.path, e.name), dirs, seen, depth + 1);
      continue;
    }
    if (line.starts_with("hwcap") && line.size() > 5 && std::isblank(static_cast<unsigned char>(line[5]))) continue;
    std::string d(line);
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  }
}

class GlibcRules final : public LoaderRules {
 public:
  Family family() const noexcept override { return Family::Glibc; }

  void configure(const Root& root, const std::string& interp, const Object& top, LoaderConfig& c) const override {
    Lookup l = interp.starts_with('/') ? root.resolve(interp) : Lookup{};
    c.platform = platform_of(top);
    c.hwcaps = hwcaps_of(top);
    std::string cache;
    std::string bytes;
    if (c.interp_found && root.read_file(l.path, bytes, 64u << 20) == 0) {
      scan_glibc_loader(bytes, c, cache);
      if (!c.system_dirs.empty()) c.origin_note = "system directories and cache path read from " + l.path;
    }
    if (c.system_dirs.empty()) {
      std::string ma = multiarch(top);
      if (!ma.empty()) c.system_dirs = {"/lib/" + ma, "/usr/lib/" + ma};
      c.system_dirs.insert(c.system_dirs.end(), {"/lib", "/usr/lib"});
      c.origin_note = "Debian's defaults (the loader could not be read)";
    }
    for (std::string& d : c.system_dirs)
      while (d.size() > 1 && d.back() == '/') d.pop_back();
    // $LIB is the first system directory without its leading slash
    // ("lib/x86_64-linux-gnu" on Debian, "lib64" on Fedora).
    c.lib_dst = c.system_dirs.front().substr(1);
    if (cache.empty()) cache = "/etc/ld.so.cache";
    c.ld_so_conf = cache.substr(0, cache.size() - 5) + "conf";
    std::set<std::string> seen;
    parse_ld_so_conf(root, c.ld_so_conf, c.conf_dirs, seen, 0);
    read_cache(root, cache, top, c);
    cache_layers(root, c);
  }

  // A package manager runs ldconfig after an install (dpkg's libc-bin
  // trigger, pacman's hook), so a root that keeps a cache has one that
  // knows the libraries a package adds to a directory ld.so.conf lists:
  // each such file or symlink of a layer (Root::add_layer) counts as a
  // cache entry under its name, unless the cache already has one for that
  // name (that entry stands). A root without a cache gets none.
  static void cache_layers(const Root& root, LoaderConfig& c) {
    if (root.layer_count() == 0 || c.cache_state.find(" entries ") == std::string::npos) return;
    for (const Root::LayeredPath& p : root.layered_paths()) {
      if (p.kind == LayerEntry::Kind::Dir || p.kind == LayerEntry::Kind::Removed) continue;
      const std::string dir = dirname_of(p.path), name = basename_of(p.path);
      if (name.find(".so") == std::string::npos || c.cache.count(name) ||
          std::find(c.conf_dirs.begin(), c.conf_dirs.end(), dir) == c.conf_dirs.end())
        continue;
      c.cache[name].push_back({0, name, p.path, {}, false});
    }
  }

  // The real cache file: no file, no cache step; a file that does not
  // parse is reported and skipped, as the loader skips it.
  static void read_cache(const Root& root, const std::string& path, const Object& top, LoaderConfig& c) {
    c.cache_path = path;
    Lookup l = root.resolve(path);
    if (!l.found() || l.is_dir) {
      c.cache_state = "absent";
      return;
    }
    std::string bytes;
    if (int rc = root.read_file(l.path, bytes, 64u << 20); rc != 0) {
      c.cache_state = "unreadable";
      c.cache_error = fmt::format("{}: ld.so.cache: cannot read: {}", l.path, std::strerror(-rc));
      return;
    }
    auto parsed = parse_ld_so_cache(bytes, top.big_endian, l.path);
    if (!parsed) {
      c.cache_state = "malformed";
      c.cache_error = parsed.error().message;
      return;
    }
    if (!parsed->ignored.empty()) {
      c.cache_state = "ignored: " + parsed->ignored;
      return;
    }
    c.cache_error = parsed->damage;
    std::size_t used = 0;
    for (CacheEntry& e : parsed->entries) {
      if (e.legacy_hwcap || !cache_flags_match(e.flags, top.machine, top.elf_class, top.flags)) continue;
      c.cache[e.name].push_back(std::move(e));
      ++used;
    }
    c.cache_state = fmt::format("{}, {} entries for this architecture", cache_format_name(parsed->format), used);
  }

  const std::string& loader_name(const Object& top) const override { return top.glibc_loader; }
  std::string implicit_library() const override { return "libc.so.6"; }

  std::vector<std::string> split(std::string_view list) const override { return split_list(list, ":", true); }
  bool empty_entry_is_cwd() const override { return true; }

  // _dl_dst_substitute: known tokens replaced, unknown '$' kept. A known
  // token without a value (no $PLATFORM on this arch) drops the entry.
  std::optional<std::string> expand(std::string_view s, const std::string& origin,
                                    const LoaderConfig& c) const override {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      if (s[i] == '$') {
        std::string_view rest = s.substr(i);
        if (std::size_t n = dst_len(rest, "ORIGIN")) {
          out += origin;
          i += n;
          continue;
        }
        if (std::size_t n = dst_len(rest, "PLATFORM")) {
          if (c.platform.empty()) return std::nullopt;
          out += c.platform;
          i += n;
          continue;
        }
        if (std::size_t n = dst_len(rest, "LIB")) {
          out += c.lib_dst;
          i += n;
          continue;
        }
      }
      out += s[i++];
    }
    return out;
  }

  // A name matches an object loaded under that name or with that soname;
  // the interpreter is loaded first.
  std::optional<TreeEdge> already_loaded(const LoadState& s, int req, const std::string& name) const override {
    if (name.find('/') != std::string::npos) return std::nullopt;
    for (std::size_t j = 0; j < s.tree.nodes.size(); ++j) {
      const auto& names = s.tree.nodes[j].names;
      if (std::find(names.begin(), names.end(), name) != names.end())
        return TreeEdge{req, name, static_cast<int>(j),
                        j == static_cast<std::size_t>(s.tree.interp_node) ? "loader"
                        : j == static_cast<std::size_t>(s.libc_node)      ? "the program's libc, beside the loader"
                                                                          : "loaded",
                        {}};
    }
    return std::nullopt;
  }

  std::optional<std::string> direct_path(const LoadState& s, int req, const std::string& name) const override {
    auto p = expand(name, s.origin(req), s.config);
    if (!p || !p->starts_with('/')) return std::nullopt;
    return p;
  }

  // DT_RPATH chain (unless the requester has DT_RUNPATH), DT_RUNPATH, the
  // cache, the system directories (both skipped in part with DF_1_NODEFLIB).
  std::vector<SearchDir> search_order(const LoadState& s, int req) const override {
    std::vector<SearchDir> dirs;
    const Object& ro = *s.node(req).obj;
    if (!ro.runpath) {
      // DT_RPATH of the requester, then of whoever loaded it, up to the
      // program; an object's DT_RPATH is void when it also has DT_RUNPATH.
      int list = 0;
      for (int l = req; l >= 0; l = s.node(l).loader) {
        const Object& o = *s.node(l).obj;
        if (!o.rpath || o.runpath) continue;
        std::string via = l == req ? "RPATH" : "RPATH of " + s.node(l).path;
        ++list;  // each object's DT_RPATH is searched as its own list
        for (const std::string& entry : split(*o.rpath))
          if (auto d = expand(entry, s.origin(l), s.config)) dirs.push_back({*d, via, false, false, list});
      }
    } else {
      for (const std::string& entry : split(*ro.runpath))
        if (auto d = expand(entry, s.origin(req), s.config)) dirs.push_back({*d, "RUNPATH", false, false, -1});
    }
    const bool nodeflib = (ro.flags_1 & DF_1_NODEFLIB) != 0;
    const auto& sys = s.config.system_dirs;
    if (!s.config.cache_path.empty()) dirs.push_back({{}, "ld.so.cache", true, nodeflib, -2});
    if (!nodeflib)
      for (const std::string& d : sys) dirs.push_back({d, "system directory", false, false, -3});
    return dirs;
  }

  // The directory itself, then (found only there) glibc-hwcaps/<level>.
  // The cache step: the entries for the name, plain ones first (glibc
  // prefers a glibc-hwcaps entry only on a CPU that has the level).
  std::vector<Candidate> candidates(const LoaderConfig& c, const SearchDir& d,
                                    const std::string& name) const override {
    if (d.cache) {
      std::vector<Candidate> out;
      auto it = c.cache.find(name);
      if (it == c.cache.end()) return out;
      const auto& sys = c.system_dirs;
      for (int pass = 0; pass < 2; ++pass)
        for (const CacheEntry& e : it->second) {
          if (e.hwcaps.empty() != (pass == 0)) continue;
          // DF_1_NODEFLIB: no cache entry from a system directory.
          if (d.nodeflib && std::find(sys.begin(), sys.end(), dirname_of(e.path)) != sys.end()) continue;
          out.push_back({e.path, e.hwcaps.empty() ? d.via : d.via + ", glibc-hwcaps/" + e.hwcaps, e.hwcaps});
          if (pass == 0) return out;  // the first plain entry is the loader's answer
        }
      return out;
    }
    std::vector<Candidate> out{{join(d.dir, name), d.via, {}}};
    for (const std::string& level : c.hwcaps)
      out.push_back({join(join(join(d.dir, "glibc-hwcaps"), level), name), d.via + ", glibc-hwcaps/" + level, level});
    return out;
  }

  // open_verify: another class, machine or ABI is skipped; other byte
  // order, not ELF, not ET_DYN or a directory ("cannot read file data")
  // stops the search. open_path: a directory that cannot be stat'ed (a
  // loop) does not exist, so it is skipped; any other error than ENOENT or
  // EACCES in an existing directory (a loop at the name) ends that list.
  Action accept(Fit fit, const std::string& via) const override {
    switch (fit) {
      case Fit::Ok: return Action::Take;
      case Fit::Unreadable:
      case Fit::DirLoop: return Action::Skip;
      case Fit::Loop: return Action::EndList;
      case Fit::Foreign:
        // ld.so.cache keeps entries per architecture: a foreign file there
        // is never even tried, so it is not worth a warning.
        return via == "ld.so.cache" ? Action::Skip : Action::SkipWarn;
      case Fit::ByteOrder:
      case Fit::Directory:
      case Fit::Executable:
      case Fit::Invalid: return Action::StopInvalid;
    }
    return Action::StopInvalid;
  }
};

}  // namespace

const LoaderRules& glibc_rules() { static const GlibcRules rules; return rules; }

}  // namespace xpatch::resolve
