// Loader rules on synthetic roots: one test per rule of docs/check.md, each
// written so that breaking the rule fails it. The e2e suite (check.sh)
// checks the same rules against the real loaders under qemu-user.

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "elf_builder.h"
#include "libpatch/check/check.h"
#include "libpatch/archive/installed.h"
#include "libpatch/check/package.h"
#include "libpatch/resolve/finding.h"
#include "libpatch/resolve/ld_so_cache.h"
#include "libpatch/resolve/loader.h"
#include "libpatch/resolve/root.h"

namespace xpatch {
namespace {

namespace fs = std::filesystem;
using resolve::Lookup;
using resolve::Resolver;
using resolve::Root;
using resolve::Tree;
using test::build_elf;
using test::Spec;

constexpr const char* kGlibcLd = "/lib64/ld-linux-x86-64.so.2";

class TempRoot {
 public:
  TempRoot() {
    char t[] = "/tmp/xpatch-root.XXXXXX";
    dir_ = ::mkdtemp(t);
  }
  ~TempRoot() { fs::remove_all(dir_); }
  const std::string& dir() const { return dir_; }
  std::string host(const std::string& p) const { return dir_ + p; }

  void text(const std::string& p, const std::string& s) const {
    fs::create_directories(fs::path(host(p)).parent_path());
    std::ofstream(host(p), std::ios::binary) << s;
  }
  void link(const std::string& p, const std::string& target) const {
    fs::create_directories(fs::path(host(p)).parent_path());
    fs::create_symlink(target, host(p));
  }
  void mkdir(const std::string& p) const { fs::create_directories(host(p)); }
  void elf(const std::string& p, const Spec& s, const std::string& trailer = "") const {
    auto img = build_elf<elf::Elf64LE>(s);
    std::string bytes(reinterpret_cast<const char*>(img.bytes.data()), img.bytes.size());
    text(p, bytes + trailer);
  }
  // A program: glibc's x86_64 loader unless told otherwise.
  void program(const std::string& p, std::vector<std::string> needed, std::optional<std::string> runpath = {},
               std::optional<std::string> rpath = {}, const char* interp = kGlibcLd) const {
    Spec s;
    s.interp = interp;
    s.needed = std::move(needed);
    s.runpath = std::move(runpath);
    s.rpath = std::move(rpath);
    elf(p, s);
  }
  void library(const std::string& p, std::vector<std::string> needed = {"libc.so.6"},
               std::optional<std::string> runpath = {}, std::optional<std::string> soname = {},
               std::uint16_t machine = EM_X86_64) const {
    Spec s;
    s.interp.reset();
    s.flags_1 = 0;
    s.needed = std::move(needed);
    s.runpath = std::move(runpath);
    s.soname = std::move(soname);
    s.machine = machine;
    elf(p, s);
  }
  // A glibc loader whose built-in directories are `dirs` (as glibc's ld.so
  // carries them: consecutive NUL-terminated "/dir/" strings).
  void glibc_loader(const std::string& p, const std::vector<std::string>& dirs,
                    const std::string& cache = "/etc/ld.so.cache") const {
    std::string strings(1, '\0');
    for (const auto& d : dirs) strings += d + "/" + std::string(1, '\0');
    strings += std::string(1, '\0') + cache + std::string(1, '\0');
    library(p, {}, {}, std::string("ld-linux-x86-64.so.2"));
    std::ofstream(host(p), std::ios::binary | std::ios::app) << strings;
  }
  // The usual base: a loader with Debian's directories and libc in them.
  void debian_base() const {
    glibc_loader("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                 {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"});
    link("/lib64/ld-linux-x86-64.so.2", "../usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    link("/lib", "usr/lib");
    library("/usr/lib/x86_64-linux-gnu/libc.so.6", {"ld-linux-x86-64.so.2"}, {}, std::string("libc.so.6"));
  }

  Tree tree(const std::string& p) const {
    auto root = Root::open(dir_);
    EXPECT_TRUE(root.ok());
    Resolver r(*root);
    return r.resolve(p);
  }

 private:
  std::string dir_;
};

// An ld.so.cache as ldconfig lays it out (glibc's dl-cache.h): the new
// format, or with `compat` the old format with the new one inside it.
struct CacheSpec {
  std::string name, path;
  std::int32_t flags = 0x303;  // FLAG_X8664_LIB64 | FLAG_ELF_LIBC6
  std::string hwcaps = {};     // a glibc-hwcaps entry for this subdirectory
};
std::string cache_bytes(const std::vector<CacheSpec>& es, bool compat = false, bool big = false) {
  std::string f;
  auto put = [&](std::size_t at, std::uint64_t v, int n) {
    if (f.size() < at + static_cast<std::size_t>(n)) f.resize(at + static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      f[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * (big ? n - 1 - i : i)));
  };
  const std::size_t n = es.size();
  std::size_t old_end = 0, at = 0;
  if (compat) {
    f = std::string("ld.so-1.7.0") + std::string(1, '\0');
    put(12, n, 4);
    old_end = 16 + n * 12;
    at = (old_end + 7) & ~std::size_t{7};
    f.resize(at);
  }
  f += "glibc-ld.so.cache1.1";
  put(at + 20, n, 4);
  f.resize(at + 48 + n * 24);
  f[at + 28] = big ? 3 : 2;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t key = f.size();
    f += es[i].name + std::string(1, '\0');
    std::size_t value = f.size();
    f += es[i].path + std::string(1, '\0');
    std::size_t e = at + 48 + i * 24;
    put(e, static_cast<std::uint32_t>(es[i].flags), 4);
    put(e + 4, key - at, 4);
    put(e + 8, value - at, 4);
    if (compat) {
      put(16 + i * 12, static_cast<std::uint32_t>(es[i].flags), 4);
      put(16 + i * 12 + 4, key - old_end, 4);
      put(16 + i * 12 + 8, value - old_end, 4);
    }
  }
  // glibc-hwcaps entries: their names in the strings, an array of their
  // offsets (from the file's start), and the extension directory.
  std::vector<std::size_t> names;
  for (std::size_t i = 0; i < n; ++i)
    if (!es[i].hwcaps.empty()) {
      put(at + 48 + i * 24 + 16, (1ull << 62) | names.size(), 8);
      names.push_back(f.size());
      f += es[i].hwcaps + std::string(1, '\0');
    }
  put(at + 24, f.size() - at - 48 - n * 24, 4);
  if (!names.empty()) {
    while (f.size() % 4) f += '\0';
    const std::size_t array = f.size();
    for (std::size_t k = 0; k < names.size(); ++k) put(array + 4 * k, names[k], 4);
    const std::size_t ext = f.size();
    put(ext, 0xeaa42174u, 4);
    put(ext + 4, 1, 4);
    put(ext + 8, 1, 4);  // cache_extension_tag_glibc_hwcaps
    put(ext + 12, 0, 4);
    put(ext + 16, array, 4);
    put(ext + 20, 4 * names.size(), 4);
    put(at + 32, ext, 4);
  }
  return f;
}

// The path `needed` (requested by any object) resolved to, "" if missing.
std::string resolved(const Tree& t, const std::string& needed) {
  for (const auto& e : t.edges)
    if (e.name == needed) return e.to < 0 ? "" : t.nodes[static_cast<std::size_t>(e.to)].path;
  return "<no edge>";
}
std::string via(const Tree& t, const std::string& needed) {
  for (const auto& e : t.edges)
    if (e.name == needed) return e.via;
  return "<no edge>";
}
bool has(const Tree& t, const std::string& code) {
  return std::any_of(t.findings.begin(), t.findings.end(), [&](const auto& f) { return f.code == code; });
}
std::string codes(const Tree& t) {
  std::string s;
  for (const auto& f : t.findings) s += f.code + " ";
  return s;
}

// ---- root confinement ----

TEST(Root, AbsoluteLinksAreReRootedAndDotDotStopsAtTheRoot) {
  TempRoot r;
  r.text("/etc/passwd", "root-local");
  r.link("/usr/lib/abs", "/etc/passwd");
  r.link("/usr/lib/up", "../../../../../../etc/passwd");
  auto root = Root::open(r.dir());
  ASSERT_TRUE(root.ok());
  Lookup a = (*root)->resolve("/usr/lib/abs");
  EXPECT_TRUE(a.found());
  EXPECT_EQ(a.path, "/etc/passwd");
  EXPECT_TRUE(a.escaping_link.empty());
  Lookup u = (*root)->resolve("/usr/lib/up");
  EXPECT_TRUE(u.found());
  EXPECT_EQ(u.path, "/etc/passwd");
  EXPECT_EQ(u.escaping_link, "/usr/lib/up");
  Lookup d = (*root)->resolve("/../../etc/passwd");
  EXPECT_TRUE(d.climbed);
  EXPECT_EQ(d.path, "/etc/passwd");
  // Opening the canonical path reads the root's file, never the host's.
  std::string text;
  ASSERT_EQ((*root)->read_file(a.path, text, 1024), 0);
  EXPECT_EQ(text, "root-local");
}

TEST(Root, AStagedTreeLiesOverTheRootAsIfInstalled) {
  TempRoot r, stage;
  r.debian_base();
  r.text("/usr/t/lib/only-in-root", "r");
  r.text("/usr/t/lib/both", "root");
  stage.text("/lib/both", "stage");
  stage.text("/lib/only-staged", "s");
  stage.link("/lib/abs", "/usr/t/lib/only-in-root");  // an absolute link, as installed
  auto root = Root::open(r.dir());
  ASSERT_TRUE(root.ok());
  // Status: true on success, like Expected<T> (never an optional<Error>).
  ASSERT_TRUE((*root)->add_overlay("/usr/t", stage.dir()));
  Status missing = (*root)->add_overlay("/usr/u", stage.dir() + "/no-such-dir");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, Error::Kind::Io);
  std::string text;
  ASSERT_EQ((*root)->read_file("/usr/t/lib/both", text, 100), 0);
  EXPECT_EQ(text, "stage");
  EXPECT_TRUE((*root)->resolve("/usr/t/lib/only-staged").found());
  EXPECT_TRUE((*root)->resolve("/usr/t/lib/only-in-root").found());
  EXPECT_EQ((*root)->resolve("/usr/t/lib/abs").path, "/usr/t/lib/only-in-root");
  EXPECT_FALSE((*root)->resolve("/usr/t/lib/nothing").found());
  std::vector<std::string> names;
  for (const auto& e : (*root)->list_dir("/usr/t/lib")) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"abs", "both", "only-in-root", "only-staged"}));
  EXPECT_EQ((*root)->host_path("/usr/t/lib/both"), stage.dir() + "/lib/both");
  EXPECT_EQ((*root)->host_path("/usr/t/lib/only-in-root"), r.dir() + "/usr/t/lib/only-in-root");
}

TEST(Root, LoopsEndWithLoop) {
  TempRoot r;
  r.link("/a", "b");
  r.link("/b", "/a");
  auto root = Root::open(r.dir());
  EXPECT_EQ((*root)->resolve("/a/x").status, Lookup::Status::Loop);
}

TEST(Root, OpenRefusesALinkPlantedAfterResolution) {
  TempRoot r;
  r.text("/lib/libx.so", "x");
  auto root = Root::open(r.dir());
  Lookup l = (*root)->resolve("/lib/libx.so");
  ASSERT_TRUE(l.found());
  fs::remove(r.host("/lib/libx.so"));
  fs::create_symlink("/etc/hostname", r.host("/lib/libx.so"));  // swapped for a link to the host
  EXPECT_LT((*root)->open_file(l.path), 0);
}

// ---- glibc ----

TEST(Glibc, SystemDirectoriesAreReadFromTheLoader) {
  TempRoot r;
  r.glibc_loader("/lib/ld-linux-x86-64.so.2", {"/opt/sys", "/usr/sys"});
  r.program("/bin/app", {"libz.so.1"}, {}, {}, "/lib/ld-linux-x86-64.so.2");
  r.library("/usr/sys/libz.so.1", {});
  r.library("/usr/lib/x86_64-linux-gnu/libz.so.1", {});  // Debian's default: not this loader's
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libz.so.1"), "/usr/sys/libz.so.1") << codes(t);
  EXPECT_EQ(via(t, "libz.so.1"), "system directory");
}

TEST(Glibc, WithoutAReadableLoaderDebianDirectoriesAreUsed) {
  TempRoot r;
  r.program("/bin/app", {"libz.so.1", "libc.so.6"});
  r.library("/usr/lib/x86_64-linux-gnu/libz.so.1", {});
  Tree t = r.tree("/bin/app");
  EXPECT_TRUE(has(t, "interp-missing"));
  EXPECT_EQ(resolved(t, "libz.so.1"), "/usr/lib/x86_64-linux-gnu/libz.so.1");
}

TEST(Glibc, RunpathIsNotInheritedButRpathIs) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/a/libfoo.so", {"libbar.so", "libc.so.6"});
  r.library("/opt/a/libbar.so", {"libc.so.6"});
  r.program("/bin/runpath", {"libfoo.so", "libc.so.6"}, std::string("/opt/a"));
  Tree t = r.tree("/bin/runpath");
  EXPECT_EQ(resolved(t, "libfoo.so"), "/opt/a/libfoo.so");
  EXPECT_EQ(resolved(t, "libbar.so"), "") << "DT_RUNPATH must not serve a library's dependency";
  EXPECT_TRUE(has(t, "needed-missing"));

  r.program("/bin/rpath", {"libfoo.so", "libc.so.6"}, {}, std::string("/opt/a"));
  Tree u = r.tree("/bin/rpath");
  EXPECT_EQ(resolved(u, "libbar.so"), "/opt/a/libbar.so");
  EXPECT_EQ(via(u, "libbar.so"), "RPATH of /bin/rpath");
}

TEST(Glibc, RpathIsVoidBesideRunpathAndTheRequestersRunpathStopsTheChain) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/a/libfoo.so", {"libc.so.6"});
  r.program("/bin/both", {"libfoo.so", "libc.so.6"}, std::string("/nowhere"), std::string("/opt/a"));
  EXPECT_EQ(resolved(r.tree("/bin/both"), "libfoo.so"), "");
  // libmid has a DT_RUNPATH: the program's DT_RPATH no longer applies to its needs.
  r.library("/opt/b/libmid.so", {"libfoo.so"}, std::string("/nowhere"));
  r.program("/bin/chain", {"libmid.so", "libc.so.6"}, {}, std::string("/opt/b:/opt/a"));
  Tree t = r.tree("/bin/chain");
  EXPECT_EQ(resolved(t, "libmid.so"), "/opt/b/libmid.so");
  EXPECT_EQ(resolved(t, "libfoo.so"), "");
}

TEST(Glibc, LdSoConfWithIncludeGlobsIsTheCache) {
  TempRoot r;
  r.debian_base();
  r.text("/etc/ld.so.conf", "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/opt/first\n");
  r.text("/etc/ld.so.conf.d/a.conf", "/opt/second  \n");
  r.text("/etc/ld.so.conf.d/b.conf", "include nested/*.conf\n");
  r.text("/etc/ld.so.conf.d/nested/x.conf", "/opt/third\n");
  r.text("/etc/ld.so.conf.d/ignored.txt", "/opt/never\n");
  r.library("/opt/never/libn.so", {});
  r.library("/opt/third/libt.so", {});
  r.library("/opt/second/libs.so", {});
  r.library("/opt/first/libs.so", {});  // after second in the conf order
  r.program("/bin/app", {"libs.so", "libt.so", "libn.so", "libc.so.6"});
  // No cache file: no cache step, as ld.so.conf alone is nothing to the
  // loader; what the conf lists is what `ldconfig` would cache (stale).
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libs.so"), "");
  EXPECT_EQ(resolved(t, "libt.so"), "");
  auto stale = [&](const std::string& name) {
    return std::any_of(t.findings.begin(), t.findings.end(),
                       [&](const auto& f) { return f.code == "cache-stale" && f.subject == name; });
  };
  EXPECT_TRUE(stale("libs.so")) << codes(t);
  EXPECT_TRUE(stale("libt.so"));
  EXPECT_FALSE(stale("libn.so")) << "ignored.txt is not included";
  EXPECT_EQ(t.config->cache_state, "absent");
  EXPECT_EQ(t.config->conf_dirs, (std::vector<std::string>{"/opt/second", "/opt/third", "/opt/first"}));
}

TEST(Glibc, TheRealCacheIsTheCacheStep) {
  for (bool compat : {false, true}) {
    TempRoot r;
    r.debian_base();
    r.text("/etc/ld.so.conf", "/opt/first\n/opt/second\n");
    r.library("/opt/second/libs.so", {});
    r.library("/opt/first/libs.so", {});
    r.library("/opt/first/libgone.so", {});
    r.library("/opt/second/libgone.so", {});
    r.library("/opt/first/libnew.so", {});
    r.text("/etc/ld.so.cache", cache_bytes({{"libgone.so", "/opt/gone/libgone.so"},
                                            {"libs.so", "/opt/second/libs.so", 0xa03},  // aarch64's: not ours
                                            {"libs.so", "/opt/second/libs.so"}},
                                           compat));
    r.program("/bin/app", {"libs.so", "libgone.so", "libnew.so", "libc.so.6"});
    Tree t = r.tree("/bin/app");
    EXPECT_EQ(resolved(t, "libs.so"), "/opt/second/libs.so") << "the cache says second, not the conf's first";
    EXPECT_EQ(via(t, "libs.so"), "ld.so.cache");
    EXPECT_EQ(resolved(t, "libgone.so"), "") << "a cached path that is gone is not found (and no conf dir is searched)";
    EXPECT_EQ(resolved(t, "libnew.so"), "");
    int stale = 0;
    for (const auto& f : t.findings) stale += f.code == "cache-stale";
    EXPECT_EQ(stale, 2) << codes(t);
    EXPECT_FALSE(has(t, "malformed"));
    EXPECT_NE(t.config->cache_state.find(compat ? "with glibc-ld.so.cache1.1 inside" : "glibc-ld.so.cache1.1, 2 entries"),
              std::string::npos)
        << t.config->cache_state;
  }
}

// search_cache: glibc-hwcaps entries come first and win on a CPU with the
// level; without one, the plain entry. A library cached only for a level
// loads only on such CPUs (hwcaps-only).
TEST(Glibc, CacheHwcapsEntries) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/h/glibc-hwcaps/x86-64-v3/libh.so", {});
  r.library("/opt/p/glibc-hwcaps/x86-64-v3/libp.so", {});
  r.library("/opt/p/libp.so", {});
  r.text("/etc/ld.so.cache", cache_bytes({{"libh.so", "/opt/h/glibc-hwcaps/x86-64-v3/libh.so", 0x303, "x86-64-v3"},
                                          {"libp.so", "/opt/p/glibc-hwcaps/x86-64-v3/libp.so", 0x303, "x86-64-v3"},
                                          {"libp.so", "/opt/p/libp.so"}}));
  r.program("/bin/app", {"libh.so", "libp.so", "libc.so.6"});
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libh.so"), "/opt/h/glibc-hwcaps/x86-64-v3/libh.so");
  EXPECT_EQ(via(t, "libh.so"), "ld.so.cache, glibc-hwcaps/x86-64-v3");
  EXPECT_EQ(resolved(t, "libp.so"), "/opt/p/libp.so");
  int hw = 0;
  for (const auto& f : t.findings) hw += f.code == "hwcaps-only";
  EXPECT_EQ(hw, 1) << codes(t);
  EXPECT_FALSE(has(t, "malformed")) << codes(t);
}

TEST(Glibc, DamagedCacheIsMalformedAndSkipped) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/a/liba.so", {});
  const std::string good = cache_bytes({{"liba.so", "/opt/a/liba.so"}});
  r.program("/bin/app", {"liba.so", "libc.so.6"});
  r.text("/etc/ld.so.cache", good);
  EXPECT_EQ(resolved(r.tree("/bin/app"), "liba.so"), "/opt/a/liba.so");
  for (std::size_t cut = 0; cut < good.size(); ++cut) {  // every truncation
    r.text("/etc/ld.so.cache", good.substr(0, cut));
    Tree t = r.tree("/bin/app");
    EXPECT_EQ(resolved(t, "liba.so"), "") << cut;
    EXPECT_EQ(resolved(t, "libc.so.6"), "/usr/lib/x86_64-linux-gnu/libc.so.6") << "the search goes on";
    const bool named_entry_lost = cut > 48 + 24;  // the header and entry parse; the strings are cut
    EXPECT_TRUE(has(t, "malformed") || !named_entry_lost) << cut << " " << codes(t);
  }
  r.text("/etc/ld.so.cache", "garbage, not a cache at all\n");
  Tree t = r.tree("/bin/app");
  EXPECT_TRUE(has(t, "malformed"));
  EXPECT_EQ(t.config->cache_state, "malformed");
  // Another byte order: the loader ignores the file (not malformed).
  r.text("/etc/ld.so.cache", cache_bytes({{"liba.so", "/opt/a/liba.so"}}, false, true));
  t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "liba.so"), "");
  EXPECT_FALSE(has(t, "malformed"));
  EXPECT_EQ(t.config->cache_state, "ignored: it is big-endian");
}

TEST(LdSoCache, BothByteOrdersAndFlagsPerArchitecture) {
  for (bool big : {false, true}) {
    auto c = resolve::parse_ld_so_cache(cache_bytes({{"libx.so.1", "/l/libx.so.1", 0x403}}, true, big), big, "c");
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->entries.size(), 1u);
    EXPECT_EQ(c->entries[0].name, "libx.so.1");
    EXPECT_EQ(c->entries[0].path, "/l/libx.so.1");
    EXPECT_TRUE(resolve::cache_flags_match(c->entries[0].flags, EM_S390, 64, 0));
    EXPECT_FALSE(resolve::cache_flags_match(c->entries[0].flags, EM_S390, 32, 0));
  }
  EXPECT_TRUE(resolve::cache_flags_match(0x303, EM_X86_64, 64, 0));
  EXPECT_FALSE(resolve::cache_flags_match(0x303, EM_AARCH64, 64, 0));
  EXPECT_TRUE(resolve::cache_flags_match(0xa03, EM_AARCH64, 64, 0));
  EXPECT_TRUE(resolve::cache_flags_match(0x903, EM_ARM, 32, EF_ARM_ABI_FLOAT_HARD));
  EXPECT_FALSE(resolve::cache_flags_match(0xb03, EM_ARM, 32, EF_ARM_ABI_FLOAT_HARD));
  EXPECT_TRUE(resolve::cache_flags_match(0x3, EM_ARM, 32, EF_ARM_ABI_FLOAT_HARD)) << "unmarked entries";
  EXPECT_TRUE(resolve::cache_flags_match(0x1003, EM_RISCV, 64, EF_RISCV_FLOAT_ABI_DOUBLE));
  EXPECT_TRUE(resolve::cache_flags_match(0x3, EM_386, 32, 0));
  EXPECT_FALSE(resolve::cache_flags_match(0x303, EM_386, 32, 0));
  // An entry whose strings lie outside the file: the rest is kept, and named.
  std::string f = cache_bytes({{"liba.so", "/a/liba.so"}, {"libb.so", "/b/libb.so"}});
  f[48 + 24 + 4 + 3] = '\x7f';  // the second entry's key, far past the end
  auto c = resolve::parse_ld_so_cache(f, false, "/etc/ld.so.cache");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->entries.size(), 1u);
  EXPECT_NE(c->damage.find("/etc/ld.so.cache: ld.so.cache: entry 1"), std::string::npos) << c->damage;
}

TEST(Glibc, NodeflibSkipsSystemDirectoriesAndTheirCacheEntries) {
  TempRoot r;
  r.debian_base();
  r.text("/etc/ld.so.conf", "/usr/lib/x86_64-linux-gnu\n/opt/conf\n");
  r.library("/opt/conf/libc2.so", {});
  r.text("/etc/ld.so.cache", cache_bytes({{"libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"},
                                          {"libc2.so", "/opt/conf/libc2.so"}}));
  Spec s;
  s.interp = kGlibcLd;
  s.needed = {"libc2.so", "libc.so.6"};
  s.runpath.reset();
  s.flags_1 = DF_1_NODEFLIB | DF_1_PIE;
  r.elf("/bin/app", s);
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libc2.so"), "/opt/conf/libc2.so");
  EXPECT_EQ(resolved(t, "libc.so.6"), "") << "libc.so.6 is only in a system directory";
  s.flags_1 = DF_1_PIE;
  r.elf("/bin/app2", s);
  EXPECT_EQ(resolved(r.tree("/bin/app2"), "libc.so.6"), "/usr/lib/x86_64-linux-gnu/libc.so.6");
}

TEST(Glibc, DynamicStringTokens) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/app/lib/liba.so", {});
  r.library("/opt/lib/x86_64-linux-gnu/libb.so", {});
  r.library("/opt/plat/x86_64/libc3.so", {});
  r.program("/opt/app/bin/app", {"liba.so", "libb.so", "libc3.so", "libc.so.6"},
            std::string("$ORIGIN/../lib:/opt/$LIB:/opt/plat/${PLATFORM}"));
  Tree t = r.tree("/opt/app/bin/app");
  EXPECT_EQ(resolved(t, "liba.so"), "/opt/app/lib/liba.so");
  EXPECT_EQ(resolved(t, "libb.so"), "/opt/lib/x86_64-linux-gnu/libb.so");
  EXPECT_EQ(resolved(t, "libc3.so"), "/opt/plat/x86_64/libc3.so");
}

TEST(Glibc, TheProgramsOriginIsItsRealDirectoryALibrarysIsThePathItWasOpenedBy) {
  TempRoot r;
  r.debian_base();
  r.library("/real/bin/../lib/libp.so", {});
  r.program("/real/bin/app", {"libp.so", "libl.so", "libc.so.6"}, std::string("$ORIGIN/../lib:/links"));
  r.link("/usr/bin/app", "/real/bin/app");
  // libl.so is found through /links (a link to /real/lib2); its $ORIGIN is /links.
  r.link("/links", "/real/lib2");
  r.library("/real/lib2/libl.so", {"libo.so"}, std::string("$ORIGIN/sub"));
  r.library("/real/lib2/sub/libo.so", {});  // reached as /links/sub
  Tree t = r.tree("/usr/bin/app");
  EXPECT_EQ(resolved(t, "libp.so"), "/real/lib/libp.so");
  EXPECT_EQ(resolved(t, "libo.so"), "/real/lib2/sub/libo.so") << codes(t);
}

TEST(Glibc, LoadedObjectsMatchByNameOrSoname) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/a/libreal.so.1", {"libc.so.6"}, {}, std::string("libalias.so.1"));
  r.library("/opt/a/libuser.so", {"libalias.so.1"});
  r.program("/bin/app", {"libreal.so.1", "libuser.so", "libc.so.6"}, std::string("/opt/a"));
  Tree t = r.tree("/bin/app");
  // libuser.so has no runpath: libalias.so.1 is found only because the
  // loaded libreal.so.1 carries that soname.
  EXPECT_EQ(resolved(t, "libalias.so.1"), "/opt/a/libreal.so.1");
  EXPECT_EQ(via(t, "libalias.so.1"), "loaded");
}

TEST(Glibc, WrongArchitectureCandidatesAreSkippedAndReported) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/x/libfoo.so", {}, {}, {}, EM_AARCH64);
  r.library("/opt/a/libfoo.so", {});
  r.program("/bin/app", {"libfoo.so", "libc.so.6"}, std::string("/opt/x:/opt/a"));
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libfoo.so"), "/opt/a/libfoo.so");
  EXPECT_TRUE(has(t, "wrong-arch-skipped"));
}

TEST(Glibc, FoundOutsideTheRootOnlyInADirectoryOfItsOwnArchitecture) {
  TempRoot r, host;  // `host` stands for the machine outside the root; it is never opened
  r.debian_base();
  host.library("/x86_64-linux-gnu/libfoo.so", {});
  host.library("/aarch64-linux-gnu/libfoo.so", {}, {}, {}, EM_AARCH64);
  r.program("/bin/own", {"libfoo.so", "libc.so.6"}, host.host("/x86_64-linux-gnu"));
  r.program("/bin/other", {"libfoo.so", "libc.so.6"}, host.host("/aarch64-linux-gnu"));
  Tree t = r.tree("/bin/own");
  EXPECT_EQ(via(t, "libfoo.so"), "host-only");
  EXPECT_TRUE(has(t, "needed-host-only")) << codes(t);
  // A library in another architecture's multiarch directory does not serve
  // this x86_64 program: it is missing, not "found on the host".
  Tree u = r.tree("/bin/other");
  EXPECT_EQ(via(u, "libfoo.so"), "missing");
  EXPECT_TRUE(has(u, "needed-missing")) << codes(u);
  EXPECT_FALSE(has(u, "needed-host-only")) << codes(u);
}

TEST(Glibc, AFileThatIsNotElfStopsTheSearch) {
  TempRoot r;
  r.debian_base();
  r.text("/opt/x/libfoo.so", "INPUT ( libfoo.so.1 )\n");  // a linker script
  r.library("/opt/a/libfoo.so", {});
  r.program("/bin/app", {"libfoo.so", "libc.so.6"}, std::string("/opt/x:/opt/a"));
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libfoo.so"), "");
  EXPECT_TRUE(has(t, "needed-invalid")) << codes(t);
}

TEST(Glibc, HwcapsOnlyIsAWarning) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/a/glibc-hwcaps/x86-64-v3/libfast.so", {});
  r.program("/bin/app", {"libfast.so", "libc.so.6"}, std::string("/opt/a"));
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libfast.so"), "/opt/a/glibc-hwcaps/x86-64-v3/libfast.so");
  EXPECT_TRUE(has(t, "hwcaps-only"));
}

TEST(Glibc, RunpathEntriesAreChecked) {
  TempRoot r;
  r.debian_base();
  r.program("/bin/app", {"libc.so.6"}, std::string("/missing::rel/dir:$ORIGIN/../../../.."));
  Tree t = r.tree("/bin/app");
  EXPECT_TRUE(has(t, "runpath-missing")) << codes(t);
  EXPECT_TRUE(has(t, "runpath-empty"));
  EXPECT_TRUE(has(t, "runpath-relative"));
  EXPECT_TRUE(has(t, "runpath-outside-root"));
}

TEST(Glibc, ALibraryOnItsOwnUsesTheLoaderFoundForItsTuple) {
  TempRoot r;
  r.glibc_loader("/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2",
                 {"/usr/x86_64-linux-gnu/lib", "/usr/x86_64-linux-gnu/lib64"});
  r.library("/usr/x86_64-linux-gnu/lib/libc.so.6", {});
  r.library("/usr/x86_64-linux-gnu/lib/libz.so.1", {"libc.so.6"});
  Tree t = r.tree("/usr/x86_64-linux-gnu/lib/libz.so.1");
  EXPECT_EQ(t.config->interp, "/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2");
  EXPECT_EQ(resolved(t, "libc.so.6"), "/usr/x86_64-linux-gnu/lib/libc.so.6") << codes(t);
  EXPECT_EQ(via(t, "libc.so.6"), "the program's libc, beside the loader");
  // The loader, checked on its own, is its own loader: no warning, no self-edge.
  Tree l = r.tree("/usr/x86_64-linux-gnu/lib/ld-linux-x86-64.so.2");
  EXPECT_FALSE(has(l, "no-loader")) << codes(l);
  EXPECT_EQ(l.nodes.size(), 1u);
}

TEST(Glibc, ALibraryOnItsOwnStillMissesWhatOnlyARunpathWouldFind) {
  TempRoot r;
  r.glibc_loader("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
                 {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"});
  r.library("/usr/aarch64-linux-gnu/lib/libc.so.6", {}, {}, {}, EM_AARCH64);
  r.library("/usr/aarch64-linux-gnu/lib/libbar.so", {"libc.so.6"}, {}, {}, EM_AARCH64);
  r.library("/usr/aarch64-linux-gnu/lib/libfoo.so", {"libbar.so", "libc.so.6"}, {}, {}, EM_AARCH64);
  Tree t = r.tree("/usr/aarch64-linux-gnu/lib/libfoo.so");
  EXPECT_EQ(t.config->interp, "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1");
  EXPECT_EQ(resolved(t, "libc.so.6"), "/usr/aarch64-linux-gnu/lib/libc.so.6");
  EXPECT_EQ(resolved(t, "libbar.so"), "") << "glibc would not search the tuple directory for it";
}

// ---- musl ----

constexpr const char* kMuslLd = "/lib/ld-musl-x86_64.so.1";

void musl_base(const TempRoot& r) {
  r.library("/lib/ld-musl-x86_64.so.1", {});
}

TEST(Musl, ReservedNamesAreTheLoaderItself) {
  TempRoot r;
  musl_base(r);
  r.program("/bin/app", {"libc.so", "libpthread.so.0", "libm.so.6", "libdl.so.2", "librt.so.1", "libutil.so.1",
                         "libxnet.so", "libc.musl-x86_64.so.1", kMuslLd},
            {}, {}, kMuslLd);
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(t.family, resolve::Family::Musl);
  for (const auto& e : t.edges) EXPECT_EQ(e.via, "loader") << e.name;
  EXPECT_TRUE(t.findings.empty()) << codes(t);
  EXPECT_FALSE(resolve::musl_reserved_name("libcrypto.so"));
  EXPECT_FALSE(resolve::musl_reserved_name("libmagic.so"));
}

TEST(Musl, EveryAncestorsRunpathApplies) {
  TempRoot r;
  musl_base(r);
  r.library("/opt/a/libfoo.so", {"libbar.so", "libc.so"});
  r.library("/opt/b/libbar.so", {"libc.so"});
  r.program("/bin/app", {"libfoo.so", "libc.so"}, std::string("/opt/a:/opt/b"), {}, kMuslLd);
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libbar.so"), "/opt/b/libbar.so");
  EXPECT_EQ(via(t, "libbar.so"), "RUNPATH of /bin/app");
}

TEST(Musl, OnlyOriginIsExpandedAndAnyOtherTokenDropsTheList) {
  TempRoot r;
  musl_base(r);
  r.library("/opt/app/lib/liba.so", {});
  r.library("/opt/lib/x86_64-linux-gnu/libb.so", {});
  r.program("/opt/app/bin/one", {"liba.so"}, std::string("${ORIGIN}/../lib"), {}, kMuslLd);
  EXPECT_EQ(resolved(r.tree("/opt/app/bin/one"), "liba.so"), "/opt/app/lib/liba.so");
  r.program("/opt/app/bin/two", {"liba.so"}, std::string("$ORIGIN/../lib:/opt/$LIB"), {}, kMuslLd);
  Tree t = r.tree("/opt/app/bin/two");
  EXPECT_EQ(resolved(t, "liba.so"), "");
  EXPECT_TRUE(has(t, "runpath-ignored"));
}

TEST(Musl, PathFileBesideTheLoadersPrefixOrTheDefault) {
  TempRoot r;
  r.library("/usr/x86_64-linux-musl/lib/ld-musl-x86_64.so.1", {});
  r.library("/usr/local/lib/libdef.so", {});
  r.library("/opt/p/libp.so", {});
  const char* ld = "/usr/x86_64-linux-musl/lib/ld-musl-x86_64.so.1";
  r.program("/bin/app", {"libdef.so", "libp.so"}, {}, {}, ld);
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libdef.so"), "/usr/local/lib/libdef.so");  // /lib:/usr/local/lib:/usr/lib
  EXPECT_EQ(resolved(t, "libp.so"), "");
  r.text("/usr/x86_64-linux-musl/etc/ld-musl-x86_64.path", "/opt/p\n/usr/x86_64-linux-musl/lib\n");
  TempRoot& rr = r;
  Tree u = rr.tree("/bin/app");
  EXPECT_EQ(resolved(u, "libp.so"), "/opt/p/libp.so");
  EXPECT_EQ(resolved(u, "libdef.so"), "") << "the path file replaces the default";
  EXPECT_EQ(u.config->path_file, "/usr/x86_64-linux-musl/etc/ld-musl-x86_64.path");
}

TEST(Musl, TheFirstFileFoundIsTakenWhateverItsArchitecture) {
  TempRoot r;
  musl_base(r);
  r.library("/opt/x/libfoo.so", {}, {}, {}, EM_AARCH64);
  r.library("/opt/a/libfoo.so", {});
  r.program("/bin/app", {"libfoo.so"}, std::string("/opt/x:/opt/a"), {}, kMuslLd);
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libfoo.so"), "");
  EXPECT_TRUE(has(t, "needed-wrong-arch")) << codes(t);
  // The path in --json is the file musl opened.
  ASSERT_EQ(t.edges.size(), 1u);
  EXPECT_EQ(t.edges[0].stopped_at, "/opt/x/libfoo.so");
}

// A symlink loop stops musl, with a reason (path_open: any error but
// ENOENT/ENOTDIR/EACCES/ENAMETOOLONG ends the search).
TEST(Musl, ALoopStopsTheSearchWithAReason) {
  TempRoot r;
  musl_base(r);
  r.library("/opt/a/libfoo.so", {});
  r.link("/opt/l/libfoo.so", "libfoo.so");
  r.program("/bin/loop", {"libfoo.so"}, std::string("/opt/l:/opt/a"), {}, kMuslLd);
  Tree u = r.tree("/bin/loop");
  EXPECT_EQ(resolved(u, "libfoo.so"), "");
  bool reason = false;
  for (const auto& f : u.findings)
    if (f.code == "needed-invalid") reason = f.message.find("symbolic links") != std::string::npos;
  EXPECT_TRUE(reason) << codes(u);
}

// open_verify: a directory at the name opens, then cannot be read (glibc:
// "cannot read file data: Error 21"; musl: "Is a directory"): an error.
TEST(Glibc, ADirectoryAtTheNameStopsBothLoaders) {
  for (bool musl : {false, true}) {
    TempRoot r;
    if (musl) musl_base(r);
    else r.debian_base();
    r.mkdir("/opt/d/libfoo.so");
    r.library("/opt/a/libfoo.so", {});
    r.program("/bin/app", {"libfoo.so"}, std::string("/opt/d:/opt/a"), {}, musl ? kMuslLd : kGlibcLd);
    Tree t = r.tree("/bin/app");
    EXPECT_EQ(resolved(t, "libfoo.so"), "") << musl;
    EXPECT_TRUE(has(t, "needed-invalid")) << musl << " " << codes(t);
    EXPECT_EQ(t.edges[0].stopped_at, "/opt/d/libfoo.so");
  }
}

// open_path: a runpath directory that loops is a directory that does not
// exist (skipped); a loop at the library's name ends that search list.
TEST(Glibc, ALoopingDirectoryIsMissingALoopAtTheNameEndsTheList) {
  TempRoot r;
  r.debian_base();
  r.link("/loopA", "loopB");
  r.link("/loopB", "loopA");
  r.library("/opt/a/libfoo.so", {});
  r.program("/bin/app", {"libfoo.so"}, std::string("/loopA:/opt/a"));
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libfoo.so"), "/opt/a/libfoo.so");
  for (const auto& f : t.findings) EXPECT_NE(f.severity, resolve::Severity::Error) << f.code << ": " << f.message;
  r.link("/opt/l/libfoo.so", "libfoo.so");
  r.program("/bin/name", {"libfoo.so"}, std::string("/opt/l:/opt/a"));
  EXPECT_EQ(resolved(r.tree("/bin/name"), "libfoo.so"), "") << "the RUNPATH list ends at the loop";
  r.library("/usr/lib/x86_64-linux-gnu/libfoo.so", {});
  Tree u = r.tree("/bin/name");
  EXPECT_EQ(resolved(u, "libfoo.so"), "/usr/lib/x86_64-linux-gnu/libfoo.so") << "the next list still counts";
  EXPECT_EQ(via(u, "libfoo.so"), "system directory");
}

TEST(Musl, EmptyEntriesAreSkippedNotTheWorkingDirectory) {
  TempRoot r;
  musl_base(r);
  r.library("/opt/a/libfoo.so", {});
  r.program("/bin/app", {"libfoo.so"}, std::string("::/opt/a"), {}, kMuslLd);
  Tree t = r.tree("/bin/app");
  EXPECT_EQ(resolved(t, "libfoo.so"), "/opt/a/libfoo.so");
  EXPECT_FALSE(has(t, "runpath-empty"));
}

// ---- the interpreter, and whole-root collection ----

TEST(Interp, MissingWrongArchitectureAndRelative) {
  TempRoot r;
  r.library("/lib/ld-linux-aarch64.so.1", {}, {}, {}, EM_AARCH64);
  r.program("/bin/missing", {"libc.so.6"}, {}, {}, "/lib/ld-nope.so.1");
  r.program("/bin/foreign", {"libc.so.6"}, {}, {}, "/lib/ld-linux-aarch64.so.1");
  r.program("/bin/relative", {"libc.so.6"}, {}, {}, "lib/ld.so");
  EXPECT_TRUE(has(r.tree("/bin/missing"), "interp-missing"));
  EXPECT_TRUE(has(r.tree("/bin/foreign"), "interp-wrong-arch"));
  EXPECT_TRUE(has(r.tree("/bin/relative"), "interp-relative"));
}

TEST(Collect, WalksTheRootReportsLinkLoopsAndEscapesAndSkipsNonElf) {
  TempRoot r;
  r.debian_base();
  r.program("/usr/bin/app", {"libc.so.6", "libgone.so"});
  r.text("/usr/share/doc/readme", "text");
  r.link("/usr/lib/loop", "loop");
  r.link("/usr/lib/out", "../../../..");
  auto root = Root::open(r.dir());
  auto in = check::collect(**root, {});
  std::string found;
  for (const auto& f : in.findings) found += f.code + ":" + f.object + " ";
  EXPECT_NE(found.find("symlink-loop:/usr/lib/loop"), std::string::npos) << found;
  EXPECT_NE(found.find("symlink-escape:/usr/lib/out"), std::string::npos) << found;
  Resolver res(*root);
  unsigned errors = 0, elf = 0;
  for (const auto& f : in.files) {
    auto rep = check::check_file(res, f);
    if (rep.skipped) continue;
    ++elf;
    errors += rep.errors;
  }
  EXPECT_EQ(elf, 3u);     // ld.so, libc.so.6, app; not the readme
  EXPECT_EQ(errors, 1u);  // libgone.so
}

// ---- packages laid over a root (check --package) ----

// A layer entry holding `bytes` in a memfd, as the archive reader gives them.
resolve::LayerEntry layer_file(const std::string& path, const std::string& bytes) {
  int fd = ::memfd_create("test-layer", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  resolve::LayerEntry e;
  e.path = path;
  e.bytes = std::make_shared<const resolve::LayerFd>(fd);
  e.size = bytes.size();
  return e;
}
resolve::LayerEntry layer_link(const std::string& path, const std::string& target) {
  resolve::LayerEntry e;
  e.path = path;
  e.kind = resolve::LayerEntry::Kind::Symlink;
  e.target = target;
  return e;
}
// The bytes TempRoot would write for an ELF file.
std::string elf_bytes(const Spec& s) {
  auto img = build_elf<elf::Elf64LE>(s);
  return std::string(reinterpret_cast<const char*>(img.bytes.data()), img.bytes.size());
}
Spec library_spec(std::vector<std::string> needed, std::optional<std::string> soname) {
  Spec s;
  s.interp.reset();
  s.flags_1 = 0;
  s.needed = std::move(needed);
  s.soname = std::move(soname);
  s.runpath.reset();
  return s;
}

TEST(Root, APackageLayerLiesOverTheRootAsIfInstalled) {
  TempRoot r;
  r.debian_base();  // /lib -> usr/lib, as on a merged-/usr system
  r.text("/usr/lib/x86_64-linux-gnu/libold.so", "root");
  r.text("/usr/lib/x86_64-linux-gnu/keep", "root");
  auto root = Root::open(r.dir());
  ASSERT_TRUE(root.ok());
  resolve::Layer l;
  l.origin = "/cache/p_1_amd64.deb";
  l.package = "p";
  resolve::LayerEntry dir;
  dir.path = "/lib";
  dir.kind = resolve::LayerEntry::Kind::Dir;
  l.entries.push_back(dir);                                                  // the root's link stays
  l.entries.push_back(layer_file("/lib/x86_64-linux-gnu/libold.so", "new"));  // lands through /lib -> usr/lib
  l.entries.push_back(layer_file("/opt/p/lib/libz.so.1.2", "z"));              // /opt, /opt/p, /opt/p/lib are made
  l.entries.push_back(layer_link("/opt/p/lib/libz.so.1", "libz.so.1.2"));
  resolve::LayerEntry not_elf;
  not_elf.path = "/opt/p/README";
  l.entries.push_back(not_elf);
  ASSERT_TRUE((*root)->add_layer(l));
  const Root& R = **root;
  EXPECT_EQ(R.kind("/lib"), Root::Kind::Link);
  std::string text;
  ASSERT_EQ(R.read_file("/usr/lib/x86_64-linux-gnu/libold.so", text, 100), 0);
  EXPECT_EQ(text, "new");
  EXPECT_EQ(R.resolve("/lib/x86_64-linux-gnu/libold.so").path, "/usr/lib/x86_64-linux-gnu/libold.so");
  EXPECT_EQ(R.resolve("/opt/p/lib/libz.so.1").path, "/opt/p/lib/libz.so.1.2");
  EXPECT_EQ(R.kind("/opt/p"), Root::Kind::Dir);
  EXPECT_EQ(R.kind("/opt/p/lib/libz.so.1"), Root::Kind::Link);
  ASSERT_EQ(R.read_file("/opt/p/lib/libz.so.1.2", text, 100), 0);
  EXPECT_EQ(text, "z");
  ASSERT_EQ(R.read_file("/opt/p/lib/libz.so.1.2", text, 100), 0) << "a second read: the shared offset is not moved";
  EXPECT_EQ(text, "z");
  ASSERT_EQ(R.read_file("/opt/p/README", text, 100), 0);
  EXPECT_EQ(text, "") << "a member that is not ELF reads as an empty file";
  std::vector<std::string> names;
  for (const auto& e : R.list_dir("/usr/lib/x86_64-linux-gnu")) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"keep", "ld-linux-x86-64.so.2", "libc.so.6", "libold.so"}));
  names.clear();
  for (const auto& e : R.list_dir("/")) names.push_back(e.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "opt"), names.end());
  std::vector<std::string> placed;
  for (const auto& p : R.layered_paths())
    if (p.kind != resolve::LayerEntry::Kind::Dir) placed.push_back(p.path);
  EXPECT_EQ(placed, (std::vector<std::string>{"/opt/p/README", "/opt/p/lib/libz.so.1", "/opt/p/lib/libz.so.1.2",
                                              "/usr/lib/x86_64-linux-gnu/libold.so"}));
  EXPECT_EQ(R.layer_of("/usr/lib/x86_64-linux-gnu/libold.so"), std::optional<std::size_t>(0));
  EXPECT_FALSE(R.layer_of("/usr/lib/x86_64-linux-gnu/keep"));
  EXPECT_EQ(R.host_path("/opt/p/lib/libz.so.1.2"), "/cache/p_1_amd64.deb:/opt/p/lib/libz.so.1.2");
  // Nothing was written.
  EXPECT_FALSE(fs::exists(r.host("/opt")));
  std::ifstream in(r.host("/usr/lib/x86_64-linux-gnu/libold.so"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "root");
  // A later layer over an earlier one.
  resolve::Layer l2;
  l2.origin = "q.deb";
  l2.entries.push_back(layer_file("/opt/p/lib/libz.so.1.2", "z2"));
  ASSERT_TRUE((*root)->add_layer(l2));
  ASSERT_EQ(R.read_file("/opt/p/lib/libz.so.1.2", text, 100), 0);
  EXPECT_EQ(text, "z2");
  EXPECT_EQ(R.layer_of("/opt/p/lib/libz.so.1.2"), std::optional<std::size_t>(1));
  // Paths that cannot be installed.
  for (const char* bad : {"opt/x", "/opt/../etc/x", "/usr/lib/x86_64-linux-gnu/keep/x"}) {
    resolve::Layer b;
    b.origin = "bad.deb";
    b.entries.push_back(layer_file(bad, "x"));
    Status st = (*root)->add_layer(b);
    ASSERT_FALSE(st) << bad;
    EXPECT_NE(st.error().message.find("bad.deb"), std::string::npos) << st.error().message;
  }
}

// After an install the package manager runs ldconfig: a library a package
// adds to a directory ld.so.conf lists is in the cache; where the cache
// already names another file for the name, that entry stands.
TEST(Glibc, APackagesLibrariesInLdSoConfDirectoriesCountAsCached) {
  TempRoot r;
  r.debian_base();
  r.text("/etc/ld.so.conf", "/opt/first\n/opt/second\n");
  r.library("/opt/second/libs.so", {});
  r.text("/etc/ld.so.cache", cache_bytes({{"libs.so", "/opt/second/libs.so"}}));
  r.program("/bin/app", {"libs.so", "libnew.so", "libc.so.6"});
  auto root = Root::open(r.dir());
  resolve::Layer l;
  l.origin = "new.deb";
  l.entries.push_back(layer_file("/opt/first/libnew.so", elf_bytes(library_spec({}, {}))));
  l.entries.push_back(layer_file("/opt/first/libs.so", elf_bytes(library_spec({}, {}))));
  l.entries.push_back(layer_file("/opt/other/libnew.so", elf_bytes(library_spec({}, {}))));
  {
    Resolver before(*root);
    Tree t = before.resolve("/bin/app");
    EXPECT_EQ(resolved(t, "libnew.so"), "");
  }
  ASSERT_TRUE((*root)->add_layer(l));
  Resolver after(*root);
  Tree t = after.resolve("/bin/app");
  EXPECT_EQ(resolved(t, "libnew.so"), "/opt/first/libnew.so") << codes(t);
  EXPECT_EQ(via(t, "libnew.so"), "ld.so.cache");
  EXPECT_EQ(resolved(t, "libs.so"), "/opt/second/libs.so");
  EXPECT_FALSE(has(t, "cache-stale")) << codes(t);
}

// The reverse-dependency index and the verdict: a package that replaces a
// library breaks the programs that need it, directly or through another
// library; a program already broken stays "before"; one that needs nothing
// the package touches is not checked at all.
TEST(PackageCheck, ReplacedLibraryBreaksItsNeedersAndOnlyThem) {
  TempRoot r;
  r.debian_base();
  r.library("/usr/lib/x86_64-linux-gnu/libfoo.so.1", {"libc.so.6"}, {}, std::string("libfoo.so.1"));
  r.link("/usr/lib/x86_64-linux-gnu/libfoo.so", "libfoo.so.1");
  r.library("/usr/lib/x86_64-linux-gnu/libbar.so", {"libfoo.so.1", "libc.so.6"}, {}, std::string("libbar.so"));
  r.program("/usr/bin/direct", {"libfoo.so.1", "libc.so.6", "libgone.so"});
  r.program("/usr/bin/through", {"libbar.so", "libc.so.6"});
  r.program("/usr/bin/bylink", {"libfoo.so", "libc.so.6"});
  r.program("/usr/bin/unrelated", {"libc.so.6"});
  auto broot = Root::open(r.dir());
  auto aroot = Root::open(r.dir());
  resolve::Layer l;
  l.origin = "foo.deb";
  l.package = "libfoo1";
  l.entries.push_back(layer_file("/usr/lib/x86_64-linux-gnu/libfoo.so.1",
                                 elf_bytes(library_spec({"libmissing.so", "libc.so.6"}, std::string("libfoo.so.1")))));
  l.entries.push_back(layer_file("/usr/bin/newprog", [] {
    Spec s;
    s.interp = kGlibcLd;
    s.runpath.reset();
    s.needed = {"libc.so.6", "libnotthere.so"};
    return elf_bytes(s);
  }()));
  ASSERT_TRUE((*aroot)->add_layer(l));
  Resolver before(*broot), after(*aroot);
  check::PackageTargets t = check::package_targets(before, after);
  std::vector<std::string> pkg, aff;
  for (const auto& i : t.package_files) pkg.push_back(i.path);
  for (const auto& i : t.affected) aff.push_back(i.path);
  EXPECT_EQ(pkg, (std::vector<std::string>{"/usr/bin/newprog", "/usr/lib/x86_64-linux-gnu/libfoo.so.1"}));
  EXPECT_EQ(aff, (std::vector<std::string>{"/usr/bin/bylink", "/usr/bin/direct", "/usr/bin/through",
                                           "/usr/lib/x86_64-linux-gnu/libbar.so"}));
  EXPECT_EQ(t.indexed, 8u);
  auto verdict = [&](const std::string& p) { return check::judge_file(before, after, {p, false}, nullptr, nullptr); };
  check::Verdict d = verdict("/usr/bin/direct");
  std::string all;
  for (const auto& j : d.findings) all += j.finding.code + ":" + j.finding.subject + " ";
  EXPECT_EQ(all, "needed-missing:libgone.so needed-missing:libmissing.so ");
  for (const auto& j : d.findings) {
    if (j.finding.code != "needed-missing") {
      EXPECT_FALSE(j.introduced) << j.finding.code;
    } else if (j.finding.subject == "libgone.so") {
      EXPECT_FALSE(j.introduced);
    } else {
      EXPECT_EQ(j.finding.subject, "libmissing.so");
      EXPECT_TRUE(j.introduced);
      EXPECT_EQ(j.layers, (std::vector<std::size_t>{0}));
    }
  }
  EXPECT_EQ(d.introduced_errors, 1u);
  EXPECT_EQ(d.before_errors, 1u);
  EXPECT_FALSE(d.layer);
  EXPECT_EQ(verdict("/usr/bin/through").introduced_errors, 1u);
  check::Verdict n = verdict("/usr/bin/newprog");
  EXPECT_EQ(n.layer, std::optional<std::size_t>(0));
  EXPECT_EQ(n.introduced_errors, 1u) << "a new file has no before";
  // With --ignore-missing, the same finding is gone on both sides.
  check::Verdict ig = check::judge_file(before, after, {"/usr/bin/direct", false}, nullptr, nullptr, {"libmissing.so"});
  EXPECT_EQ(ig.introduced_errors, 0u);
}

// An upgrade's deletions (Layer::removed) are whiteouts in the layered
// view: the root's file is gone for every lookup, unless the new version
// ships a file at the same place (here through the /lib -> usr/lib link,
// as dpkg keeps a file the new version unpacked over it), or it is a
// directory, or a later layer puts it back.
TEST(Root, AnUpgradesRemovedFilesAreWhiteouts) {
  TempRoot r;
  r.debian_base();  // /lib -> usr/lib
  const std::string d = "/usr/lib/x86_64-linux-gnu";
  r.text(d + "/libver.so.1", "old ver");
  r.link(d + "/libver.so", "libver.so.1");
  r.text(d + "/libfoo.so", "old foo");
  r.text(d + "/keep", "root");
  auto root = Root::open(r.dir());
  ASSERT_TRUE(root.ok());
  resolve::Layer l;
  l.origin = "demo_2.deb";
  l.package = "libdemo";
  l.entries.push_back(layer_file("/lib/x86_64-linux-gnu/libfoo.so", "new foo"));
  l.removed = {"/usr/lib/x86_64-linux-gnu/libfoo.so",  // shipped again, at the same place: stays
               "/lib/x86_64-linux-gnu/libver.so.1",   // found through the link
               d + "/libver.so",                      // a symlink: the link itself goes
               d,                                     // a directory: stays
               "/opt/none/x", "relative/x"};          // nothing there; not a path
  ASSERT_TRUE((*root)->add_layer(l));
  const Root& R = **root;
  std::string text;
  EXPECT_EQ(R.resolve(d + "/libver.so.1").status, resolve::Lookup::Status::Missing);
  EXPECT_EQ(R.kind(d + "/libver.so.1"), Root::Kind::Absent);
  EXPECT_EQ(R.kind(d + "/libver.so"), Root::Kind::Absent);
  EXPECT_EQ(R.read_file(d + "/libver.so.1", text, 100), -ENOENT);
  EXPECT_EQ(R.open_file(d + "/libver.so.1"), -ENOENT);
  EXPECT_EQ(R.open_walked(d + "/libver.so.1"), -ENOENT);
  ASSERT_EQ(R.read_file(d + "/libfoo.so", text, 100), 0);
  EXPECT_EQ(text, "new foo");
  ASSERT_EQ(R.read_file(d + "/keep", text, 100), 0);
  EXPECT_EQ(R.kind(d), Root::Kind::Dir);
  std::vector<std::string> names;
  for (const auto& e : R.list_dir(d)) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"keep", "ld-linux-x86-64.so.2", "libc.so.6", "libfoo.so"}));
  std::vector<std::string> removed;
  for (const auto& p : R.layered_paths())
    if (p.kind == resolve::LayerEntry::Kind::Removed) removed.push_back(p.path);
  EXPECT_EQ(removed, (std::vector<std::string>{d + "/libver.so", d + "/libver.so.1"}));
  EXPECT_EQ(R.removed_by(d + "/libver.so.1"), std::optional<std::size_t>(0));
  EXPECT_FALSE(R.removed_by(d + "/libfoo.so"));
  EXPECT_FALSE(R.layer_of(d + "/libver.so.1")) << "a whiteout provides nothing";
  // Nothing was written.
  EXPECT_TRUE(fs::exists(r.host(d + "/libver.so.1")));
  // A later package puts it back.
  resolve::Layer l2;
  l2.origin = "other.deb";
  l2.entries.push_back(layer_file(d + "/libver.so.1", "ver again"));
  ASSERT_TRUE((*root)->add_layer(l2));
  ASSERT_EQ(R.read_file(d + "/libver.so.1", text, 100), 0);
  EXPECT_EQ(text, "ver again");
  EXPECT_FALSE(R.removed_by(d + "/libver.so.1"));
}

// The reproduction: an upgrade that drops libver.so.1 breaks the
// program that needs it, and the verdict says the package did it.
TEST(PackageCheck, AnUpgradeThatDropsALibraryBreaksItsNeeders) {
  TempRoot r;
  r.debian_base();
  const std::string d = "/usr/lib/x86_64-linux-gnu";
  r.library(d + "/libver.so.1", {"libc.so.6"}, {}, std::string("libver.so.1"));
  r.library(d + "/libfoo.so", {"libc.so.6"}, {}, std::string("libfoo.so"));
  r.program("/usr/bin/app-ver", {"libver.so.1", "libc.so.6"});
  r.program("/usr/bin/unrelated", {"libc.so.6"});
  r.text("/var/lib/dpkg/info/libdemo.list", "/.\n/usr\n/usr/lib\n" + d + "\n" + d + "/libfoo.so\n" + d +
                                                  "/libver.so.1\n");
  auto broot = Root::open(r.dir());
  auto aroot = Root::open(r.dir());
  resolve::Layer l;
  l.origin = "libdemo_2.deb";
  l.package = "libdemo";
  l.architecture = "amd64";
  l.manager = resolve::Manager::Dpkg;
  l.entries.push_back(layer_file(d + "/libfoo.so", elf_bytes(library_spec({"libc.so.6"}, std::string("libfoo.so")))));
  archive::Installed in = archive::installed_version(**broot, l);
  EXPECT_EQ(in.record, "/var/lib/dpkg/info/libdemo.list");
  EXPECT_EQ(in.removed, (std::vector<std::string>{"/usr", "/usr/lib", d, d + "/libver.so.1"}))
      << "directories are the root's business: add_layer keeps them";
  l.removed = in.removed;
  ASSERT_TRUE((*aroot)->add_layer(l));
  Resolver before(*broot), after(*aroot);
  std::vector<std::string> aff;
  for (const auto& i : check::package_targets(before, after).affected) aff.push_back(i.path);
  EXPECT_EQ(aff, (std::vector<std::string>{"/usr/bin/app-ver"}));
  check::Verdict v = check::judge_file(before, after, {"/usr/bin/app-ver", false}, nullptr, nullptr);
  ASSERT_EQ(v.findings.size(), 1u);
  EXPECT_EQ(v.findings[0].finding.code, "needed-missing");
  EXPECT_EQ(v.findings[0].finding.subject, "libver.so.1");
  EXPECT_TRUE(v.findings[0].introduced);
  EXPECT_EQ(v.findings[0].layers, (std::vector<std::size_t>{0})) << "the package whose upgrade deletes it";
  EXPECT_EQ(v.introduced_errors, 1u);
}

// Which database record is the installed version, per manager, and what
// of it an upgrade keeps.
TEST(Installed, FindsTheInstalledVersionsFileList) {
  TempRoot r;
  r.text("/var/lib/dpkg/info/ma:arm64.list", "/.\n/opt/ma/a\n/opt/ma/b\n/etc/ma.conf\n");
  r.text("/var/lib/dpkg/info/ma:arm64.conffiles", "/etc/ma.conf remove-on-upgrade\n");
  r.text("/var/lib/dpkg/info/ma:armhf.list", "/opt/ma/armhf\n");
  r.text("/var/lib/dpkg/info/plain.list", "/opt/plain/x\n../../etc/passwd\n/opt/../../etc/shadow\nnot a path\n");
  r.text("/var/lib/pacman/local/lib-demo-1.0-2/desc", "%NAME%\nlib-demo\n\n%VERSION%\n1.0-2\n");
  r.text("/var/lib/pacman/local/lib-demo-1.0-2/files",
         "%FILES%\nusr/\nusr/lib/\nusr/lib/libver.so.1\nusr/lib/libfoo.so\n\n%BACKUP%\netc/x\tabc\n");
  r.text("/var/lib/pacman/local/lib-demo-extra-1-1/desc", "%NAME%\nlib-demo-extra\n");
  r.text("/var/lib/pacman/local/lib-demo-extra-1-1/files", "%FILES%\nusr/lib/extra.so\n");
  r.text("/lib/apk/db/installed", "C:Q1x\nP:other\nF:usr/lib\nR:libother.so\n\nP:demo\nV:1-r0\nF:usr/lib\n"
                                  "R:libver.so.1\nR:libfoo.so\nF:etc\nR:demo.conf\nR:../x\n\nP:after\nR:y\n");
  auto root = Root::open(r.dir());
  ASSERT_TRUE(root.ok());
  auto removed = [&](std::string name, std::string arch, resolve::Manager m, std::vector<std::string> ships = {}) {
    resolve::Layer l;
    l.package = std::move(name);
    l.architecture = std::move(arch);
    l.manager = m;
    for (std::string& p : ships) l.entries.push_back(layer_file(p, "x"));
    return archive::installed_version(**root, l);
  };
  // dpkg: NAME:ARCH.list for a Multi-Arch: same package, its conffiles kept.
  archive::Installed ma = removed("ma", "arm64", resolve::Manager::Dpkg, {"/opt/ma/a"});
  EXPECT_EQ(ma.record, "/var/lib/dpkg/info/ma:arm64.list");
  EXPECT_EQ(ma.removed, (std::vector<std::string>{"/opt/ma/b"}));
  EXPECT_TRUE(removed("ma", "riscv64", resolve::Manager::Dpkg).record.empty()) << "another instance is not ours";
  archive::Installed plain = removed("plain", "arm64", resolve::Manager::Dpkg);
  EXPECT_EQ(plain.record, "/var/lib/dpkg/info/plain.list");
  EXPECT_EQ(plain.removed, (std::vector<std::string>{"/opt/plain/x"}));
  EXPECT_EQ(plain.skipped_lines, 3u) << "a relative line, a path climbing out, a line that is not a path";
  EXPECT_TRUE(removed("../info/plain", "", resolve::Manager::Dpkg).record.empty()) << "a name that is a path";
  EXPECT_TRUE(removed("plain", "", resolve::Manager::Rpm).removed.empty()) << "rpm's database is not read";
  // pacman: local/NAME-VER-REL, the name confirmed by desc; directories left out.
  archive::Installed pac = removed("lib-demo", "aarch64", resolve::Manager::Pacman, {"/usr/lib/libfoo.so"});
  EXPECT_EQ(pac.record, "/var/lib/pacman/local/lib-demo-1.0-2/files");
  EXPECT_EQ(pac.removed, (std::vector<std::string>{"/usr/lib/libver.so.1"}));
  // apk: the package's block of the one database.
  archive::Installed apk = removed("demo", "aarch64", resolve::Manager::Apk, {"/usr/lib/libfoo.so"});
  EXPECT_EQ(apk.record, "/lib/apk/db/installed");
  EXPECT_EQ(apk.removed, (std::vector<std::string>{"/etc/demo.conf", "/usr/lib/libver.so.1"}));
  EXPECT_EQ(apk.skipped_lines, 1u);
  // A .PKGINFO that does not say which: pacman's database, then apk's.
  EXPECT_EQ(removed("demo", "", resolve::Manager::Pkginfo).record, "/lib/apk/db/installed");
  EXPECT_EQ(removed("lib-demo", "", resolve::Manager::Pkginfo).record, "/var/lib/pacman/local/lib-demo-1.0-2/files");
  EXPECT_TRUE(removed("nothing", "", resolve::Manager::Pkginfo).record.empty());
  // A list that cannot be read (a FIFO is never opened): no deletion, and why.
  ASSERT_EQ(::mkfifo(r.host("/var/lib/dpkg/info/fifo.list").c_str(), 0644), 0);
  archive::Installed fifo = removed("fifo", "", resolve::Manager::Dpkg);
  EXPECT_EQ(fifo.record, "/var/lib/dpkg/info/fifo.list");
  EXPECT_TRUE(fifo.removed.empty());
  EXPECT_NE(fifo.note.find("fifo.list: cannot read"), std::string::npos) << fifo.note;
}

// The files of a Debian-like root with one program, /usr/bin/app (needing
// libc.so.6), that installing a package of the one file `e` affects.
std::vector<std::string> affected_in(const TempRoot& r, const std::vector<resolve::LayerEntry>& entries);
std::vector<std::string> affected_by_one_file(const resolve::LayerEntry& e) {
  TempRoot r;
  r.debian_base();
  r.program("/usr/bin/app", {"libc.so.6"});
  return affected_in(r, {e});
}
// The files of the root `r` that installing the package of `entries` affects.
std::vector<std::string> affected_in(const TempRoot& r, const std::vector<resolve::LayerEntry>& entries) {
  auto broot = Root::open(r.dir());
  auto aroot = Root::open(r.dir());
  resolve::Layer l;
  l.origin = "p.deb";
  l.entries = entries;
  EXPECT_TRUE((*aroot)->add_layer(l));
  Resolver before(*broot), after(*aroot);
  std::vector<std::string> aff;
  for (const auto& i : check::package_targets(before, after).affected) aff.push_back(i.path);
  // The same on four threads, with resolvers that have read nothing yet.
  Resolver before4(*broot), after4(*aroot);
  EXPECT_EQ(check::ReverseIndex::build(before4).affected(before4, after4, 4), aff) << "on four threads";
  return aff;
}

// A package that replaces the loader changes every program that names it.
TEST(PackageCheck, AReplacedLoaderAffectsItsPrograms) {
  auto aff = affected_by_one_file(layer_file("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "not a loader"));
  EXPECT_NE(std::find(aff.begin(), aff.end(), "/usr/bin/app"), aff.end());
}

// A library the package puts where no program of the root looks (another
// tuple's directory) changes no load set, whatever its name: the index's
// name match is only a candidate until the program's tree loads a file of
// the package.
TEST(PackageCheck, ALibraryNoProgramSearchesAffectsNothing) {
  auto aff = affected_by_one_file(
      layer_file("/usr/aarch64-linux-gnu/lib/libc.so.6", elf_bytes(library_spec({}, std::string("libc.so.6")))));
  EXPECT_TRUE(aff.empty()) << aff.front();
}

// A package's file is read from its layer by whichever resolver asks
// first: check_file of a layered path (as the package check gives it: a
// canonical path, not named by the user) on a resolver that has parsed
// nothing yet (before: it was read only when an earlier lookup had
// parsed it through the layer; without one, from the disk: "cannot open").
TEST(PackageCheck, APackageFileIsReadFromItsLayerByAFreshResolver) {
  TempRoot r;
  r.debian_base();
  auto aroot = Root::open(r.dir());
  resolve::Layer l;
  l.origin = "p.deb";
  Spec s;
  s.interp = kGlibcLd;
  s.needed = {"libc.so.6"};
  l.entries.push_back(layer_file("/usr/bin/newprog", elf_bytes(s)));
  ASSERT_TRUE((*aroot)->add_layer(l));
  Resolver after(*aroot);
  check::FileReport rep = check::check_file(after, {"/usr/bin/newprog", false}, nullptr);
  ASSERT_FALSE(rep.skipped);
  ASSERT_TRUE(rep.tree.nodes.front().obj);
  EXPECT_TRUE(rep.tree.nodes.front().obj->ok);
  EXPECT_EQ(rep.errors, 0u);
}

// The names a search can now find a package's library by, beyond its
// path's basename: a link of the root left dangling until the package
// installs its target (named after the library's soname, as ldconfig
// names links), and an ld.so.cache entry (keyed by the soname) naming the
// path the package installs. The needers of those names are affected;
// the soname alone does not make a file a candidate (a copy of libc.so.6
// in a directory nobody searches changes nothing).
TEST(PackageCheck, ADanglingLinkOfTheRootFilledByThePackageAffectsItsNeeders) {
  TempRoot r;
  r.debian_base();
  r.link("/usr/lib/x86_64-linux-gnu/libdang.so.1", "libdang.so.1.0");  // dangling before
  r.program("/usr/bin/app", {"libdang.so.1", "libc.so.6"});
  auto aff = affected_in(r, {layer_file("/usr/lib/x86_64-linux-gnu/libdang.so.1.0",
                                        elf_bytes(library_spec({"libc.so.6"}, std::string("libdang.so.1"))))});
  EXPECT_EQ(aff, (std::vector<std::string>{"/usr/bin/app"}));
}

TEST(PackageCheck, ACacheEntryNamingAPathThePackageInstallsAffectsItsNeeders) {
  for (bool compat : {false, true}) {  // the new layout, and the old one with the new inside
    TempRoot r;
    r.debian_base();
    r.text("/etc/ld.so.conf", "/opt/c\n");
    r.text("/etc/ld.so.cache", cache_bytes({{"libcached.so.1", "/opt/c/libcached.so.1.0"}}, compat));  // stale before
    r.program("/usr/bin/app", {"libcached.so.1", "libc.so.6"});
    auto aff = affected_in(r, {layer_file("/opt/c/libcached.so.1.0",
                                          elf_bytes(library_spec({"libc.so.6"}, std::string("libcached.so.1"))))});
    EXPECT_EQ(aff, (std::vector<std::string>{"/usr/bin/app"})) << (compat ? "old layout" : "new layout");
  }
}

// A package that changes a loader's configuration (an ld.so.conf.d file)
// changes the trees of every candidate that loader serves, though only
// the first tree read the configuration through the layer: the second
// program's tree meets no layer, and is still compared without them.
TEST(PackageCheck, AConfigurationThePackageChangesAffectsEveryCandidateItServes) {
  TempRoot r;
  r.debian_base();
  r.text("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n");
  r.text("/etc/ld.so.cache", cache_bytes({{"libother.so", "/usr/lib/x86_64-linux-gnu/libother.so"}}));
  r.library("/usr/lib/x86_64-linux-gnu/libother.so", {});
  r.library("/opt/f/libfoo.so", {});
  r.program("/usr/bin/a", {"libbar.so", "libfoo.so", "libc.so.6"});
  r.program("/usr/bin/b", {"libbar.so", "libfoo.so", "libc.so.6"});
  auto aff = affected_in(r, {layer_file("/etc/ld.so.conf.d/f.conf", "/opt/f\n"),
                             // a candidate by name, found by no search
                             layer_file("/opt/b/libbar.so", elf_bytes(library_spec({}, {})))});
  EXPECT_EQ(aff, (std::vector<std::string>{"/usr/bin/a", "/usr/bin/b"}));
}

// A library of the package that a search meets and skips (another
// architecture, in a directory searched first) loads nothing new, but
// the program's findings change (wrong-arch-skipped): it is affected.
TEST(PackageCheck, ALibraryASearchMeetsAndSkipsAffectsTheProgram) {
  TempRoot r;
  r.debian_base();
  r.library("/opt/a/libfoo.so", {});
  r.program("/usr/bin/app", {"libfoo.so", "libc.so.6"}, std::string("/opt/x:/opt/a"));
  Spec arm = library_spec({}, {});
  arm.machine = EM_AARCH64;
  EXPECT_EQ(affected_in(r, {layer_file("/opt/x/libfoo.so", elf_bytes(arm))}),
            (std::vector<std::string>{"/usr/bin/app"}));
}

// docs/check.md's table of finding codes shows libpatch's remedies: every
// code has a row, every row a code, and its "what to do" column is the
// remedy's text (backticks aside).
TEST(Finding, DocsTableIsTheRemedyTable) {
  std::ifstream in(std::string(XPATCH_SOURCE_DIR) + "/docs/check.md");
  ASSERT_TRUE(in) << "docs/check.md";
  std::map<std::string, std::string> docs;  // code -> "what to do"
  bool in_table = false;  // the rows under the header "| code | severity | meaning | what to do |"
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("| code | severity |")) in_table = true;
    else if (!line.starts_with("|")) in_table = false;
    if (!in_table || !line.starts_with("| `") || !line.ends_with(" |")) continue;
    const std::size_t code_end = line.find("` |");
    const std::size_t last = line.rfind(" | ", line.size() - 3);
    if (code_end == std::string::npos || last == std::string::npos) continue;
    std::string todo = line.substr(last + 3, line.size() - 2 - (last + 3));
    std::erase(todo, '`');
    docs.emplace(line.substr(3, code_end - 3), todo);
  }
  ASSERT_GE(resolve::remedies().size(), 20u);
  for (const resolve::Remedy& r : resolve::remedies()) {
    auto it = docs.find(std::string(r.code));
    ASSERT_NE(it, docs.end()) << r.code << " has no row in docs/check.md";
    EXPECT_EQ(it->second, r.text) << r.code;
    EXPECT_EQ(resolve::remedy(r.code), r.text);
    docs.erase(it);
  }
  for (const auto& [code, todo] : docs) ADD_FAILURE() << "docs/check.md lists " << code << ", which has no remedy";
  EXPECT_EQ(resolve::remedy("no-such-code"), "");
}

}  // namespace
}  // namespace xpatch
