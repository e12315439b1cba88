// musl's ldso: the path file beside the loader, fixup_rpath's $ORIGIN,
// load_library's search order and path_open/map_library's verdicts
// (ldso/dynlink.c). docs/check.md, "musl".
#include <elf.h>

#include <cerrno>

#include <fmt/format.h>

#include "libpatch/resolve/rules.h"

namespace xpatch::resolve {

bool musl_reserved_name(std::string_view name) noexcept {
  if (!name.starts_with("lib")) return false;
  name.remove_prefix(3);
  for (std::string_view r : {"c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet."})
    if (name.starts_with(r)) return true;
  return false;
}

namespace {

class MuslRules final : public LoaderRules {
 public:
  Family family() const noexcept override { return Family::Musl; }

  // prefix/etc/ld-musl-ARCH.path, where prefix is the loader's path up to
  // its second-to-last slash; ARCH is in the loader's file name.
  void configure(const Root& root, const std::string& interp, const Object& top, LoaderConfig& c) const override {
    std::string base = basename_of(interp);
    std::string arch;
    if (base.starts_with("ld-musl-") && base.ends_with(".so.1")) arch = base.substr(8, base.size() - 13);
    else if (top.musl_loader.size() > 13) arch = top.musl_loader.substr(8, top.musl_loader.size() - 13);
    std::string prefix;
    if (interp.starts_with('/')) {
      std::size_t last = interp.rfind('/');
      std::size_t second = last == 0 ? 0 : interp.rfind('/', last - 1);
      prefix = interp.substr(0, second == std::string::npos ? 0 : second);
    }
    c.path_file = prefix + "/etc/ld-musl-" + arch + ".path";
    std::string text;
    Lookup pf = root.resolve(c.path_file);
    int rc = pf.found() ? root.read_file(pf.path, text, 1 << 20) : -ENOENT;
    if (pf.status == Lookup::Status::Loop) rc = -ELOOP;
    if (rc == 0) {
      c.path_file_exists = true;
      c.musl_dirs = split_list(text, ":\n", false);
      c.origin_note = "search path read from " + c.path_file;
    } else if (rc == -ENOENT || rc == -ENOTDIR) {
      c.musl_dirs = {"/lib", "/usr/local/lib", "/usr/lib"};
      c.origin_note = c.path_file + " is absent: musl's default /lib:/usr/local/lib:/usr/lib";
    } else {
      c.origin_note = c.path_file + " exists but cannot be read: musl searches no system directory";
    }
  }

  const std::string& loader_name(const Object& top) const override { return top.musl_loader; }

  std::vector<std::string> split(std::string_view list) const override { return split_list(list, ":\n", false); }

  // fixup_rpath: only $ORIGIN / ${ORIGIN}; any other '$' drops the whole list.
  std::optional<std::string> expand(std::string_view s, const std::string& origin,
                                    const LoaderConfig&) const override {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
      if (s[i] == '$') {
        std::string_view rest = s.substr(i);
        if (rest.starts_with("${ORIGIN}")) {
          out += origin;
          i += 9;
          continue;
        }
        if (rest.starts_with("$ORIGIN")) {
          out += origin;
          i += 7;
          continue;
        }
        return std::nullopt;
      }
      out += s[i++];
    }
    return out;
  }
  bool ignores_list(std::string_view list) const override { return !expand(list, "/", LoaderConfig{}).has_value(); }

  // The loader answers its reserved names and its own path; a name is
  // already loaded when a search found a file under that base name.
  std::optional<TreeEdge> already_loaded(const LoadState& s, int req, const std::string& name) const override {
    if (name.empty()) return std::nullopt;
    if (musl_reserved_name(name) || name == s.interp) return TreeEdge{req, name, s.tree.interp_node, "loader", {}};
    if (name.find('/') != std::string::npos) return std::nullopt;
    for (std::size_t j = 0; j < s.tree.nodes.size(); ++j)
      if (s.tree.nodes[j].shortname == name) return TreeEdge{req, name, static_cast<int>(j), "loaded", {}};
    return std::nullopt;
  }

  // A name with a '/' is opened as it is, without token expansion.
  std::optional<std::string> direct_path(const LoadState&, int, const std::string& name) const override {
    return name;
  }
  bool refuses_name(const std::string& name) const override { return name.empty() || name.size() > 255; }

  // The search list of the requester and every ancestor up to the program
  // (DT_RUNPATH if present, else DT_RPATH), then the path file's directories.
  std::vector<SearchDir> search_order(const LoadState& s, int req) const override {
    std::vector<SearchDir> dirs;
    for (int l = req; l >= 0; l = s.node(l).loader) {
      const Object& o = *s.node(l).obj;
      const std::optional<std::string>& list = o.runpath ? o.runpath : o.rpath;
      if (!list) continue;
      auto exp = expand(*list, s.origin(l), s.config);
      if (!exp) continue;
      std::string via = (o.runpath ? std::string("RUNPATH") : std::string("RPATH")) +
                        (l == req ? "" : " of " + s.node(l).path);
      for (const std::string& d : split(*exp)) dirs.push_back({d, via});
    }
    for (const std::string& d : s.config.musl_dirs)
      dirs.push_back({d, s.config.path_file_exists ? "ld-musl path file" : "musl default"});
    return dirs;
  }

  // map_library (ldso/dynlink.c) reads e_type and the program headers,
  // nothing else of the header (not even the magic): ET_DYN or ET_EXEC, a
  // PT_DYNAMIC at a nonzero address ("Exec format error" otherwise), a
  // PT_LOAD to map. The machine is not checked: a foreign file is mapped
  // and fails after (Foreign, ByteOrder: the search stops either way).
  Fit classify(const Object& o, const Object& top, std::string* why) const override {
    if (auto f = unparsed_fit(o, why)) return *f;
    if (o.elf_class != top.elf_class || !same_machine(o, top) || o.big_endian != top.big_endian) {
      *why = arch_mismatch(o, top);
      return o.elf_class != top.elf_class || !same_machine(o, top) ? Fit::Foreign : Fit::ByteOrder;
    }
    if (o.type != ET_DYN && o.type != ET_EXEC) {
      *why = fmt::format("{}: e_type {}, not ET_DYN or ET_EXEC: Exec format error", o.path, o.type);
      return Fit::Invalid;
    }
    if (o.dynamic_vaddr == 0) {
      *why = fmt::format("{}: no PT_DYNAMIC: Exec format error", o.path);
      return Fit::Invalid;
    }
    if (o.load_segments == 0) {
      *why = fmt::format("{}: no PT_LOAD: musl cannot map it", o.path);
      return Fit::Invalid;
    }
    if (o.type == ET_EXEC) {
      *why = fmt::format("{}: ET_EXEC", o.path);
      return Fit::Executable;
    }
    return Fit::Ok;
  }

  // musl maps the first file that opens: it never checks e_machine, and
  // any error but "not there" ends the search.
  Action accept(Fit fit, const std::string&) const override {
    switch (fit) {
      case Fit::Ok:
      case Fit::Executable: return Action::Take;
      case Fit::Unreadable: return Action::Skip;
      case Fit::Foreign:
      case Fit::ByteOrder: return Action::StopForeign;
      // Any other error ends the search: a directory opens, then read()
      // fails ("Is a directory"); ELOOP ends path_open's search; an invalid
      // file is mapped and refused.
      default: return Action::StopInvalid;
    }
  }
};

}  // namespace

const LoaderRules& musl_rules() { static const MuslRules rules; return rules; }

}  // namespace xpatch::resolve
