// retarget::setup's ownership of what it creates: the manifest that
// `setup --write` keeps, `setup --remove` taking back only what is unchanged,
// and its own links left dangling (the tuple's libc removed) seen as present.
// e2e.setup and the package-manager tests run the results.

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "libpatch/retarget/setup.h"

namespace xpatch {
namespace {

namespace fs = std::filesystem;
using retarget::Made;
using retarget::SetupItem;

struct TempRoot {
  fs::path dir;
  TempRoot() {
    std::string t = (fs::temp_directory_path() / "xpatch-setup-test.XXXXXX").string();
    dir = ::mkdtemp(t.data());
  }
  ~TempRoot() { fs::remove_all(dir); }
  void file(const std::string& rel, const std::string& text) const {
    fs::create_directories((dir / rel).parent_path());
    std::ofstream(dir / rel) << text;
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(dir / rel);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  bool has(const std::string& rel) const { return fs::symlink_status(dir / rel).type() != fs::file_type::not_found; }
  std::shared_ptr<resolve::Root> open() const {
    auto r = resolve::Root::open(dir.string());
    EXPECT_TRUE(r.ok());
    return *r;
  }
};

constexpr const char* kTuple = "aarch64-linux-gnu";
constexpr const char* kLoader = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1";

retarget::SetupPlan plan(const resolve::Root& root) {
  retarget::SetupRequest req{kTuple, {}, std::string("/usr/bin/qemu-aarch64")};
  req.host_machine = EM_X86_64;
  req.host_class = 64;
  auto p = retarget::plan_setup(root, req);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message);
  return *p;
}

// setup --write, as the CLI does it: create each missing item, record what was made.
std::vector<Made> write_all(const resolve::Root& root) {
  std::vector<Made> made;
  for (const SetupItem& it : plan(root).items) {
    auto st = retarget::create_item(root, it, &made);
    EXPECT_TRUE(st) << st.error().message;
  }
  EXPECT_TRUE(retarget::record_made(root, kTuple, made));
  return made;
}

const SetupItem& item(const retarget::SetupPlan& p, SetupItem::What w) {
  for (const SetupItem& it : p.items)
    if (it.what == w) return it;
  ADD_FAILURE() << "no item " << retarget::what_name(w);
  return p.items.front();
}

TEST(SetupManifest, RecordsEveryDirectoryFileAndLinkMade) {
  TempRoot t;
  t.file(std::string(kLoader).substr(1), "loader");
  ::mkdir((t.dir / "etc").c_str(), 0755);  // there before: not setup's
  auto made = write_all(*t.open());
  auto back = retarget::read_manifest(*t.open(), kTuple);
  ASSERT_TRUE(back.ok()) << back.error().message;
  // The manifest's own directories come last, as they were made last.
  std::vector<std::string> paths;
  for (const Made& m : *back) paths.push_back(m.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"/etc/binfmt.d", "/etc/binfmt.d/qemu-aarch64.conf", "/lib",
                                             "/lib/ld-linux-aarch64.so.1", "/usr/lib", "/usr/lib/aarch64-linux-gnu",
                                             "/etc/ld.so.conf.d", "/etc/ld.so.conf.d/aarch64-linux-gnu.conf",
                                             "/var", "/var/lib", "/var/lib/xpatch", "/var/lib/xpatch/setup"}));
  EXPECT_EQ((*back)[1].kind, Made::Kind::File);
  EXPECT_EQ((*back)[1].content, t.read("etc/binfmt.d/qemu-aarch64.conf"));
  EXPECT_EQ((*back)[3], (Made{Made::Kind::Link, "/lib/ld-linux-aarch64.so.1", kLoader}));
  EXPECT_EQ((*back)[0].kind, Made::Kind::Dir);
  // A second --write makes nothing and the manifest stays as it was.
  std::string before = t.read("var/lib/xpatch/setup/aarch64-linux-gnu");
  EXPECT_TRUE(write_all(*t.open()).empty());
  EXPECT_EQ(t.read("var/lib/xpatch/setup/aarch64-linux-gnu"), before);
}

TEST(SetupManifest, RemoveTakesBackOnlyWhatIsUnchanged) {
  TempRoot t;
  t.file(std::string(kLoader).substr(1), "loader");
  t.file("etc/hostname", "box\n");  // /etc was there before
  write_all(*t.open());
  t.file("etc/ld.so.conf.d/aarch64-linux-gnu.conf", "/somewhere/else\n");  // edited by the admin
  t.file("etc/binfmt.d/other.conf", ":other:M::x::/bin/true:\n");          // another package's file
  auto r = retarget::remove_setup(*t.open(), kTuple);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->kept.size(), 1u);
  EXPECT_EQ(r->kept[0].first, "/etc/ld.so.conf.d/aarch64-linux-gnu.conf");
  EXPECT_NE(r->kept[0].second.find("changed"), std::string::npos) << r->kept[0].second;
  EXPECT_FALSE(t.has("etc/binfmt.d/qemu-aarch64.conf"));
  EXPECT_TRUE(t.has("etc/binfmt.d/other.conf"));  // and so its directory stays
  EXPECT_FALSE(t.has("lib/ld-linux-aarch64.so.1"));
  EXPECT_FALSE(t.has("lib"));  // setup made /lib: empty now, so gone
  EXPECT_FALSE(t.has("usr/lib/aarch64-linux-gnu"));
  EXPECT_TRUE(t.has("etc/hostname"));
  EXPECT_EQ(t.read("etc/ld.so.conf.d/aarch64-linux-gnu.conf"), "/somewhere/else\n");
  // The manifest keeps only what was left behind (and the directories it needs).
  auto back = retarget::read_manifest(*t.open(), kTuple);
  ASSERT_TRUE(back.ok());
  bool listed = false;
  for (const Made& m : *back) listed |= m.path == "/etc/ld.so.conf.d/aarch64-linux-gnu.conf";
  EXPECT_TRUE(listed);
  // Put back as setup wrote it, a second remove takes the rest, the manifest too.
  t.file("etc/ld.so.conf.d/aarch64-linux-gnu.conf", "/usr/aarch64-linux-gnu/lib\n");
  r = retarget::remove_setup(*t.open(), kTuple);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kept.empty());
  EXPECT_FALSE(t.has("etc/ld.so.conf.d"));
  EXPECT_FALSE(t.has("var"));
  EXPECT_TRUE(t.has("usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"));  // never setup's
}

TEST(SetupManifest, ALinkRetargetedByHandIsKept) {
  TempRoot t;
  t.file(std::string(kLoader).substr(1), "loader");
  write_all(*t.open());
  fs::remove(t.dir / "lib/ld-linux-aarch64.so.1");
  fs::create_symlink("/opt/ld.so", t.dir / "lib/ld-linux-aarch64.so.1");
  auto r = retarget::remove_setup(*t.open(), kTuple);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kept.size(), 1u);
  EXPECT_EQ(r->kept[0].first, "/lib/ld-linux-aarch64.so.1");
  EXPECT_EQ(fs::read_symlink(t.dir / "lib/ld-linux-aarch64.so.1"), "/opt/ld.so");
}

TEST(SetupManifest, NoManifestRemovesNothing) {
  TempRoot t;
  t.file("etc/binfmt.d/qemu-aarch64.conf", "mine\n");
  auto r = retarget::remove_setup(*t.open(), kTuple);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->removed.empty());
  EXPECT_EQ(t.read("etc/binfmt.d/qemu-aarch64.conf"), "mine\n");
}

TEST(SetupManifest, AMalformedLineIsNamed) {
  TempRoot t;
  t.file("var/lib/xpatch/setup/aarch64-linux-gnu", "file\t/etc/x\t41\nsocket\t/etc/y\t\n");
  auto m = retarget::read_manifest(*t.open(), kTuple);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("line 2"), std::string::npos) << m.error().message;
  t.file("var/lib/xpatch/setup/aarch64-linux-gnu", "file\t/etc/x\t4z\n");
  EXPECT_FALSE(retarget::read_manifest(*t.open(), kTuple).ok());
  auto r = retarget::remove_setup(*t.open(), kTuple);
  EXPECT_FALSE(r.ok());  // nothing removed on a manifest it cannot read
}

// The tuple's libc purged: setup's own links dangle. They are still exactly
// what setup would make, so they are present, not "differs"; a dangling link
// to somewhere else still differs.
TEST(SetupLinks, OwnDanglingLinksArePresent) {
  TempRoot t;
  fs::create_directories(t.dir / "lib");
  fs::create_directories(t.dir / "usr/lib");
  fs::create_symlink(kLoader, t.dir / "lib/ld-linux-aarch64.so.1");
  fs::create_symlink("/usr/aarch64-linux-gnu/lib", t.dir / "usr/lib/aarch64-linux-gnu");
  auto p = plan(*t.open());
  EXPECT_EQ(item(p, SetupItem::What::LoaderLink).state, SetupItem::State::Present);
  EXPECT_EQ(item(p, SetupItem::What::LibDirLink).state, SetupItem::State::Present);
  fs::remove(t.dir / "lib/ld-linux-aarch64.so.1");
  fs::create_symlink("/opt/nothing", t.dir / "lib/ld-linux-aarch64.so.1");
  EXPECT_EQ(item(plan(*t.open()), SetupItem::What::LoaderLink).state, SetupItem::State::Differs);
}

}  // namespace
}  // namespace xpatch
